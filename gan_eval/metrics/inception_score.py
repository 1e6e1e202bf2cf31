"""Inception Score: exp(E_x KL(p(y|x) ‖ p(y))) over splits, torch-fidelity's recipe.

The samples are shuffled with ``np.random.RandomState(seed).permutation`` (as torch-fidelity does)
and cut into ``splits`` contiguous chunks; mean and population std (ddof 0) of the per-chunk scores.
"""

from __future__ import annotations

import numpy as np
import torch


def inception_score(logits: torch.Tensor, splits: int = 10, seed: int = 2020, shuffle: bool = True) -> tuple[float, float]:
    """``(mean, std)`` of the Inception Score of ``N×C`` logits."""
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
