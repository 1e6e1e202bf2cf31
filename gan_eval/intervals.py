"""Confidence intervals for every metric, from features already extracted (no second pass).

This module is the generic machinery: the resampling design, the interval, level validation, and
the loop over the metric records. How each metric is re-evaluated on a replicate lives in its own
module (the record's ``resample``, see :mod:`gan_eval.metrics.base`); what each does is stated in
``ci_info``.

**Target.** For ``fid``, ``kid_mean``, ``is_mean``, ``ppl``, precision, recall, density and coverage the
interval covers the *mean of the estimator at the run's N*: the spread of the number over fresh
samples of the same size, what someone comparing runs at equal N needs. No bias correction toward
a population value is attempted (FID's finite-sample bias at d ≈ N is far larger than its spread,
and the basic bootstrap's reflection of it is what broke at Inception scale). FID∞/IS∞ give their
own interval, whose target is the population value.

**Method: the delete-a-group jackknife** (Efron & Stein 1981; Shao & Wu 1989, *Ann. Statist.* 17,
the delete-d jackknife; for two samples Arvesen 1969). Each side's samples are split at random into
G groups; replicate g drops group g of *both* sides and re-evaluates the metric on the rest, so a
replicate is a 0/1 weight per sample (a :class:`Resample`, the same shape the count-weighted
formulas always took). The variance is ``(G−1)/G · Σ_g (θ_(g) − θ̄)²`` and the interval
``θ̂ ± t_{G−1} · sd``. Unlike a bootstrap resample, a replicate never duplicates a sample, so at d ≈ N
the covariance keeps its rank and the k-NN radii keep their meaning (the bootstrap's spread of FID
was 2.4× the true spread at d = 128, N = 640, and 5–8× when resampling groups). The group
structure makes FID cheap: a replicate's moments are the full sums minus one group's, so the cost
is G small eigenvalue problems, not G covariance passes. ``--bootstrap B`` sets the amount of
resampling work: G = B/10 groups (at least :data:`MIN_GROUPS`).

**k-NN metrics: the larger of two variances.** Precision, recall, density and coverage hang on k-NN
radii, extreme order statistics that deleting 1/G of a sample barely moves; the jackknife's sd came out
at 0.53–0.75 of the true spread at N = 10,000, d = 2048. Their replicates add complementary
half-samples, unions of the same groups (the delete-d jackknife with d = N/2, consistent for
non-smooth statistics: Shao & Wu 1989), each half with its own radii, in the balanced pairs of a
Hadamard design when one of order G exists (McCarthy 1969; G = 20 by default): variance
mean((θ_a − θ_b)²)·f/2 for halves holding a share f of each side, G − 1 degrees of freedom (about G/2
for the random splits used otherwise). Half-samples alone under-cover at small N (81–87 % at d = 32,
N = 48–96), where the jackknife is conservative, so the interval takes the larger of the two.

Known limit (Efron–Stein): the jackknife variance counts a statistic's *second-order* (degenerate)
part about twice. For FID with equal covariances at d ≈ N that part dominates and the interval is
conservative (coverage near 99 % instead of 95 %); where the first-order part dominates (different
means or covariances, N ≫ d) it is close to nominal. benchmarks/README.md gives measured coverage.

Written by hand rather than with ``scipy.stats.bootstrap`` because comparisons need the *same*
replicates of the reference for two generators, and the group sums avoid copying features; the t
quantile comes from scipy. Imports no torch until a resample is drawn.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from gan_eval.errors import GanEvalError
from gan_eval.metrics.base import Replicates, Resample
from gan_eval.metrics.resampling import (
    GROUP_WORK,
    MIN_GROUPS,
    delete_group_weights,
    draw_counts,
    group_count,
    group_labels,
    jackknife_variance,
    make_resample,
    replicate_variance,
)
from gan_eval.options import DEFAULT_BOOTSTRAP, MIN_BOOTSTRAP

if TYPE_CHECKING:
    import torch

    from gan_eval.metrics.base import MetricContext, MetricSpec

# The resampling design lives in gan_eval.metrics.resampling (below the metrics that also draw
# replicates); it is re-exported here, where workflows look for it.
__all__ = ["DEFAULT_BOOTSTRAP", "GROUP_WORK", "MIN_BOOTSTRAP", "MIN_GROUPS", "Replicates", "Resample", "basic_interval",
           "bootstrap_intervals", "clip_to_range", "delete_group_weights", "draw_counts", "group_count",
           "group_labels", "jackknife_interval",
           "jackknife_variance", "make_resample", "metric_intervals", "metric_replicates", "one_thread_when_small",
           "own_intervals", "percentile_interval", "validate"]

#: What the resampled intervals cover (``ci_info["target"]``); FID∞/IS∞ state their own.
TARGET_AT_N = "mean of the estimator at N={n}"
TARGET_POPULATION = "population value (N -> infinity)"


def jackknife_interval(point: float, reps: Replicates, level: float) -> list[float]:
    """``point ± t_dof · sd``, sd² the replicates' variance (:func:`replicate_variance`: the jackknife's
    or half-samples') plus their ``extra_variance``."""
    from scipy import stats as scipy_stats

    variance, dof = replicate_variance(reps.values, reps.half_sample_groups)
    variance += reps.extra_variance
    if not math.isfinite(variance) or not math.isfinite(point) or dof < 1:
        return [float("nan"), float("nan")]
    half = float(scipy_stats.t.ppf(0.5 + level / 2, dof)) * math.sqrt(max(variance, 0.0))
    return [point - half, point + half]


def validate(level: float, replicates: int) -> None:
    """Refuse a level outside [0.5, 1) and fewer than :data:`MIN_BOOTSTRAP` resamples."""
    if not 0.5 <= level < 1:
        raise GanEvalError(f"--ci must be a confidence level between 0.5 and 1 (e.g. 0.95), got {level}")
    if replicates < MIN_BOOTSTRAP:
        raise GanEvalError(f"--bootstrap must be at least {MIN_BOOTSTRAP} resamples, got {replicates}")


def basic_interval(point: float, reps: Replicates, level: float) -> list[float]:
    """Reverse-percentile bootstrap interval around ``point`` (for bootstrap replicates: the conditional workflow)."""
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
    """Interval ends clipped to the values a metric can take (a FID near 0 ± its spread can reach below 0)."""
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
    """``({key: [lo, hi]}, info)`` for every metric in ``specs`` that can be resampled (delete-a-group jackknife).

    ``seed`` fixes the groups, so the same features and seed give the same intervals. ``info`` says
    how (level, method, groups, seed, how each key was resampled, what each interval covers) and
    which metrics got none.
    """
    validate(level, replicates)
    real_n = ctx.real.n if ctx.real is not None and ctx.real.features is not None else None
    groups = group_count(replicates, ctx.gen.n, real_n)
    resample = make_resample(ctx.gen.n, real_n, groups, seed, ctx.gen.stats.device)
    reps = metric_replicates(specs, ctx, resample)
    for key, r in reps.items():
        if key in point and not math.isfinite(r.centre):
            r.centre = point[key]
    ci = {key: clip_to_range(jackknife_interval(point[key], r, level), _key_range(specs, key))
          for key, r in reps.items() if key in point}
    resampled = {key: spec.describe_interval(ctx) for spec in specs if spec.resample is not None
                 for key in spec.key_names if key in reps}
    info: dict[str, object] = {"level": level, "method": "delete-a-group jackknife", "groups": groups,
                               "replicates": replicates, "seed": seed, "resampled": resampled,
                               "target": {key: TARGET_AT_N.format(n=ctx.gen.n) for key in ci}}
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
            info.setdefault("target", {}).update({key: TARGET_POPULATION for key in intervals})
    return ci, info


def metric_intervals(
    specs: list[MetricSpec],
    ctx: MetricContext,
    point: dict[str, float],
    level: float | None,
    replicates: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Every interval of a run: jackknife intervals when ``level`` is given, plus the metrics' own.

    The one call a workflow makes after :func:`gan_eval.metrics.compute_metrics`. Without ``level``
    only the own intervals (FID∞/IS∞) are returned, at their own level.
    """
    ci, info = bootstrap_intervals(specs, ctx, point, level, replicates, seed) if level is not None else ({}, {})
    own, own_info = own_intervals(specs, ctx)
    if own:
        ci.update(own)
        info = {"level": own_info["level"], **info}
        info.setdefault("resampled", {}).update(own_info["resampled"])
        info.setdefault("target", {}).update(own_info["target"])
        if "no_interval" in info:
            rest = [name for name in info["no_interval"] if not any(s.name == name and s.own_interval for s in specs)]
            if rest:
                info["no_interval"] = rest
            else:
                del info["no_interval"]
    return ci, info
