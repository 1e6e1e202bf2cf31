"""Inception Score: exp(E_x KL(p(y|x) ‖ p(y))) over splits, torch-fidelity's recipe.

The samples are shuffled with ``np.random.RandomState(seed).permutation`` (as torch-fidelity does)
and cut into ``splits`` contiguous chunks; mean and population std (ddof 0) of the per-chunk scores.

:data:`SPEC` is the metric's record (``is_mean``, higher is better, at least 1; ``is_std`` over
splits). It needs the classifier's logits of the generated side and no reference. Its interval
replicates re-weight the generated samples and keep every sample in the split the seed put it in,
so a replicate changes the data, not the random split.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from gan_eval.errors import GanEvalError
from gan_eval.metrics.base import (
    MetricContext,
    MetricKey,
    MetricOption,
    MetricSpec,
    Replicates,
    Resample,
)

if TYPE_CHECKING:
    import torch

    from gan_eval.statistics import FeatureSet


def inception_score(logits: torch.Tensor, splits: int = 10, seed: int = 2020, shuffle: bool = True) -> tuple[float, float]:
    """``(mean, std)`` of the Inception Score of ``N×C`` logits."""
    import torch

    n = logits.shape[0]
    if n < splits:
        raise ValueError(f"Inception Score needs at least {splits} samples for {splits} splits, got {n}")
    if shuffle:
        logits = logits[torch.as_tensor(np.random.RandomState(seed).permutation(n), device=logits.device)]
    logits = logits.to(torch.float64)
    p = logits.softmax(dim=1)
    log_p = logits.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        p_chunk, log_p_chunk = p[lo:hi], log_p[lo:hi]
        log_q = p_chunk.mean(dim=0, keepdim=True).log()
        scores.append(float((p_chunk * (log_p_chunk - log_q)).sum(dim=1).mean().exp()))
    return float(np.mean(scores)), float(np.std(scores))


def compute(ctx: MetricContext) -> dict[str, float]:
    """IS mean and std over ``is_splits`` splits of the generated logits."""
    if ctx.gen.n < ctx.options.is_splits:
        raise GanEvalError(f"Inception Score needs at least {ctx.options.is_splits} samples (one per split); got {ctx.gen.n}")
    mean, std = inception_score(ctx.gen.logits, ctx.options.is_splits, ctx.options.seed)
    return {"is_mean": mean, "is_std": std}


def split_score_replicates(logits: torch.Tensor, weights: torch.Tensor, splits: int, seed: int) -> torch.Tensor:
    """IS of each replicate (rows of ``weights``, ``G × n``) of ``N×C`` logits, every sample in the split of the full run.

    Per split, p(y) and the mean KL divergence are weighted by the replicate's weights; all
    replicates at once (one ``G × n_split`` product per split). Returns the ``G`` scores (float64).
    """
    import torch

    n = logits.shape[0]
    order = torch.as_tensor(np.random.RandomState(seed).permutation(n), device=logits.device)
    logits = logits[order].to(torch.float64)
    w = weights[:, order].to(logits.device, torch.float64)
    p, log_p = logits.softmax(dim=1), logits.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        part = slice(i * n // splits, (i + 1) * n // splits)
        ws, ps = w[:, part], p[part]
        mass = ws.sum(dim=1, keepdim=True)
        log_q = ((ws @ ps) / mass).log()  # G × C
        kl = (ps * log_p[part]).sum(dim=1)[None, :] - log_q @ ps.T  # G × n_split
        scores.append(((ws * kl).sum(dim=1, keepdim=True) / mass).exp())
    return torch.cat(scores, dim=1).mean(dim=1)


def is_replicates(gen: FeatureSet, wg: torch.Tensor, splits: int, seed: int) -> dict[str, Replicates]:
    """IS of each replicate (rows of weights ``wg``) of the generated side (:func:`split_score_replicates`)."""
    values = split_score_replicates(gen.logits, wg, splits, seed)
    return {"is_mean": Replicates(values.cpu().numpy(), float("nan"))}


def resample(ctx: MetricContext, rs: Resample) -> dict[str, Replicates]:
    """The generated side resampled (there is no reference)."""
    return is_replicates(ctx.gen, rs.gen, ctx.options.is_splits, ctx.options.seed)


SPEC = MetricSpec(
    name="is",
    keys=(MetricKey("is_mean", "Inception Score (mean)", direction=1, range=(1.0, math.inf), short="IS"),
          MetricKey("is_std", "Inception Score (std over splits)", range=(0.0, math.inf), short="IS std")),
    compute=compute,
    needs=("logits",),
    needs_real=False,
    options=(MetricOption("is_splits", 10, "Inception Score splits"),),
    aliases=("is",),
    convention="10 splits, softmax of unbiased logits, std ddof 0",
    resample=resample,
    interval_note="delete-a-group jackknife of the generated samples (splits fixed); point ± t·sd",
)
