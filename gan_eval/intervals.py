"""Bootstrap confidence intervals for every metric, from features already extracted (no second pass).

This module is the generic machinery: resample counts, the basic interval, level validation, and
the loop over the metric records. How each metric is resampled lives in its own module (the
record's ``resample``, see :mod:`gan_eval.metrics.base`); what each does is stated in ``ci_info``.

Each bootstrap replicate draws, with replacement, as many samples as each side has; a replicate is a
vector of *counts* per sample, so moments, kernel sums and per-sample scores are re-weighted rather
than copied. How the built-in metrics use the counts:

- **FID**: both sides resampled; weighted mean and covariance (or, with no more samples than
  dimensions, the weighted centred features and the nuclear-norm trace). A statistics file without
  features is held fixed (stated in ``ci_info``).
- **KID**: both sides resampled; the unbiased MMD² of the whole sets, re-weighted, from kernel tiles
  computed once for all replicates (never an N×N matrix).
- **IS**: the generated logits resampled, same splits.
- **precision, density**: per generated sample (inside the real manifold / balls holding it),
  resampled over generated samples; **recall, coverage**: per real sample, resampled over real
  samples. Each resample's k-NN radii are recomputed on the distinct samples it drew.
- **FID∞, IS∞** give their own interval (the fit's), with or without ``--ci``.

The interval is the *basic* (reverse-percentile) bootstrap interval,
``[θ̂ − (q_hi − θ*), θ̂ − (q_lo − θ*)]`` with θ* the full-sample statistic the replicates scatter
around. Bootstrapped FID is biased upwards by resampling exactly as FID is by finite N, and the
basic interval reflects that bias back; the plain percentile interval covers the true FID far less
often (tests/test_intervals.py measures both). Interval ends are clipped to the key's range.

Written by hand rather than with ``scipy.stats.bootstrap`` because comparisons need the *same*
resampling of the reference for two generators, and the count-weighted formulas avoid copying
features B times; the quantiles come from numpy. Imports no torch until a resample is drawn.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from gan_eval.errors import GanEvalError
from gan_eval.metrics.base import Replicates, Resample
from gan_eval.options import DEFAULT_BOOTSTRAP, MIN_BOOTSTRAP

if TYPE_CHECKING:
    import torch

    from gan_eval.metrics.base import MetricContext, MetricSpec

__all__ = ["DEFAULT_BOOTSTRAP", "MIN_BOOTSTRAP", "Replicates", "Resample", "basic_interval", "bootstrap_intervals",
           "clip_to_range", "draw_counts", "make_resample", "metric_intervals", "metric_replicates",
           "one_thread_when_small", "own_intervals", "percentile_interval", "validate"]


def draw_counts(n: int, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """``replicates × n`` counts: how often each of n samples is drawn in each resample of size n."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=replicates)


def make_resample(n_gen: int, n_real: int | None, replicates: int, seed: int, device: torch.device,
                  rng: np.random.Generator | None = None) -> Resample:
    """Counts for both sides (the generated side first, from one generator seeded by ``seed``)."""
    import torch

    rng = rng or np.random.default_rng(seed)
    gen = torch.from_numpy(draw_counts(n_gen, replicates, rng)).to(device, torch.float64)
    real = torch.from_numpy(draw_counts(n_real, replicates, rng)).to(device, torch.float64) if n_real else None
    return Resample(gen, real)


def validate(level: float, replicates: int) -> None:
    """Refuse a level outside [0.5, 1) and fewer than :data:`MIN_BOOTSTRAP` resamples."""
    if not 0.5 <= level < 1:
        raise GanEvalError(f"--ci must be a confidence level between 0.5 and 1 (e.g. 0.95), got {level}")
    if replicates < MIN_BOOTSTRAP:
        raise GanEvalError(f"--bootstrap must be at least {MIN_BOOTSTRAP} resamples, got {replicates}")


def basic_interval(point: float, reps: Replicates, level: float) -> list[float]:
    """Reverse-percentile interval around ``point`` (see the module docstring)."""
    alpha = (1 - level) / 2
    values = reps.values[np.isfinite(reps.values)]
    if values.size < 2:
        return [float("nan"), float("nan")]
    q_lo, q_hi = np.quantile(values, [alpha, 1 - alpha])
    return [float(point - (q_hi - reps.centre)), float(point - (q_lo - reps.centre))]


def percentile_interval(reps: Replicates, level: float) -> list[float]:
    """The plain percentile interval (for comparison only: it covers a biased statistic badly)."""
    alpha = (1 - level) / 2
    q_lo, q_hi = np.quantile(reps.values[np.isfinite(reps.values)], [alpha, 1 - alpha])
    return [float(q_lo), float(q_hi)]


def clip_to_range(bounds: list[float], value_range: tuple[float, float] = (-math.inf, math.inf)) -> list[float]:
    """Interval ends clipped to the values a metric can take (the basic interval of a FID near 0 can
    reach below 0, and can lie below the biased point estimate: that is the bias correction)."""
    low, high = value_range
    return [min(max(b, low), high) for b in bounds]


@contextlib.contextmanager
def one_thread_when_small(dim: int, device: torch.device) -> Iterator[None]:
    """Run small linear algebra on one thread.

    Hundreds of d ≤ 512 problems in a row are dominated by BLAS/OpenMP thread hand-offs: on a busy
    2-core machine a 128×128 eigendecomposition took 0.1–1 s with two threads and 1 ms with one.
    """
    if dim > 512 or device.type != "cpu":
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(before)


def metric_replicates(specs: list[MetricSpec], ctx: MetricContext, resample: Resample) -> dict[str, Replicates]:
    """Replicates of every key of ``specs`` whose record can be resampled."""
    out: dict[str, Replicates] = {}
    with one_thread_when_small(ctx.gen.stats.dim, ctx.gen.stats.device):
        for spec in specs:
            if spec.resample is not None:
                out.update(spec.resample(ctx, resample))
    return out


def _key_range(specs: list[MetricSpec], key: str) -> tuple[float, float]:
    for spec in specs:
        found = spec.find_key(key)
        if found is not None:
            return found.range
    return (-math.inf, math.inf)


def bootstrap_intervals(
    specs: list[MetricSpec],
    ctx: MetricContext,
    point: dict[str, float],
    level: float,
    replicates: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> tuple[dict[str, list[float]], dict[str, object]]:
    """``({key: [lo, hi]}, info)`` for every metric in ``specs`` that can be bootstrapped.

    ``seed`` fixes the resampling, so the same features and seed give the same intervals. ``info``
    says how (level, replicates, seed, how each key was resampled) and which metrics got none.
    """
    validate(level, replicates)
    real_n = ctx.real.n if ctx.real is not None and ctx.real.features is not None else None
    resample = make_resample(ctx.gen.n, real_n, replicates, seed, ctx.gen.stats.device)
    reps = metric_replicates(specs, ctx, resample)
    ci = {key: clip_to_range(basic_interval(point[key], r, level), _key_range(specs, key))
          for key, r in reps.items() if key in point}
    resampled = {key: spec.describe_interval(ctx) for spec in specs if spec.resample is not None
                 for key in spec.key_names if key in reps}
    info: dict[str, object] = {"level": level, "method": "bootstrap", "replicates": replicates, "seed": seed,
                               "resampled": resampled}
    skipped = [s.name for s in specs if s.resample is None]
    if skipped:
        info["no_interval"] = skipped
    for spec in specs:
        if spec.check_interval is not None:
            spec.check_interval(ctx, reps, ci)
    return ci, info


def own_intervals(specs: list[MetricSpec], ctx: MetricContext) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Intervals the metrics give themselves (FID∞/IS∞: the fit's), after :func:`gan_eval.metrics.compute_metrics`.

    Returns ``({key: [lo, hi]}, info)`` with ``info`` holding their ``level`` and how each was made.
    """
    ci: dict[str, list[float]] = {}
    info: dict[str, Any] = {}
    for spec in specs:
        if spec.own_interval is None:
            continue
        intervals, level = spec.own_interval(ctx)
        if intervals:
            ci.update(intervals)
            info.setdefault("level", level)
            info.setdefault("resampled", {}).update({key: spec.describe_interval(ctx) for key in intervals})
    return ci, info


def metric_intervals(
    specs: list[MetricSpec],
    ctx: MetricContext,
    point: dict[str, float],
    level: float | None,
    replicates: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Every interval of a run: bootstrap intervals when ``level`` is given, plus the metrics' own.

    The one call a workflow makes after :func:`gan_eval.metrics.compute_metrics`. Without ``level``
    only the own intervals (FID∞/IS∞) are returned, at their own level.
    """
    ci, info = bootstrap_intervals(specs, ctx, point, level, replicates, seed) if level is not None else ({}, {})
    own, own_info = own_intervals(specs, ctx)
    if own:
        ci.update(own)
        info = {"level": own_info["level"], **info}
        info.setdefault("resampled", {}).update(own_info["resampled"])
        if "no_interval" in info:
            rest = [name for name in info["no_interval"] if not any(s.name == name and s.own_interval for s in specs)]
            if rest:
                info["no_interval"] = rest
            else:
                del info["no_interval"]
    return ci, info
