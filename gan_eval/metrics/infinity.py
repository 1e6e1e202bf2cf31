"""FID∞ and IS∞ (Chong & Forsyth, "Effectively Unbiased FID and Inception Score and where to find them", 2020).

FID and IS computed from N samples are biased, and the bias is (to first order) linear in 1/N. Both
are therefore computed on random subsets of the generated samples at several sizes N₁ < … < N_k ≤ N,
a straight line is fitted to value against 1/N, and its intercept (1/N → 0) is the estimate for an
infinite sample. FID's subsets hold more samples than dimensions (:func:`smallest_fid_subset`): below
that FID is far from linear in 1/N, and FID∞ refuses fewer than 2(d + 1) samples per side. When the
real features are at hand the real side is subsampled at the same fraction, so the intercept's target
is the population FID (both sides' bias is ∝ 1/N); from a statistics file the real side is used in
full, as in the paper, and keeps its own bias.

The interval is the fit's: intercept ± t(k−2) × standard error of the intercept
(``scipy.stats.linregress``), widened by the data's sampling variance (:func:`widen_by_sampling_variance`):
for FID∞ with the real features at hand FID's at N, for IS∞ the jackknife of its own intercept. Nested subsets make the points correlated, so each size draws its own
subset.

:data:`FID_INF` and :data:`IS_INF` are the two metrics' records. They give their own interval (the
fit's, at ``infinity_level``, which follows ``--ci``), so they are not bootstrapped and paired
comparison does not support them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gan_eval.errors import GanEvalError
from gan_eval.metrics.base import (
    MetricContext,
    MetricKey,
    MetricOption,
    MetricSpec,
    OwnInterval,
)
from gan_eval.metrics.fid import frechet_distance
from gan_eval.metrics.inception_score import inception_score, split_score_replicates
from gan_eval.metrics.resampling import MIN_GROUPS, jackknife_variance, make_resample

if TYPE_CHECKING:
    import torch

    from gan_eval.statistics import FeatureStats

DEFAULT_POINTS = 15
DEFAULT_MIN_FRACTION = 0.2  # smallest subset as a share of N (the paper: 5k of 50k = 0.1)
#: FID∞ needs N ≥ MIN_SPAN · (d + 1): subsets from d + 1 to N span a factor MIN_SPAN in 1/N.
MIN_SPAN = 2.0


@dataclass
class InfinityFit:
    """The extrapolated value, its interval, and the points it was fitted to."""

    value: float
    interval: list[float]
    sizes: list[int]
    values: list[float]
    slope: float
    r_squared: float

    def to_dict(self) -> dict[str, object]:
        return {"value": self.value, "interval": self.interval, "sizes": self.sizes, "values": self.values,
                "slope": self.slope, "r_squared": self.r_squared}


def subset_sizes(n: int, points: int = DEFAULT_POINTS, min_fraction: float = DEFAULT_MIN_FRACTION,
                 floor: int = 2) -> list[int]:
    """``points`` sizes from max(floor, min_fraction·n) to n, evenly spaced (as in the paper)."""
    low = max(floor, math.ceil(min_fraction * n))
    if n - low + 1 < 3:
        raise GanEvalError(f"FID∞/IS∞ need subsets of at least 3 different sizes; {n} samples are too few")
    return sorted({round(float(s)) for s in np.linspace(low, n, min(points, n - low + 1))})


def smallest_fid_subset(n: int, dim: int, n_real: int | None = None) -> int:
    """The smallest generated subset FID∞ may fit: one whose covariances (both sides') are of full rank.

    FID is close to linear in 1/N only while N > d: at d = 256 the paper's smallest subset (N/5) put
    the population FID outside the interval in 10–12 % of draws at N = 1,000 and in 61–100 % at N = 640,
    while fitting subsets of more than d samples covered it at N = 640 as at 2,500
    (benchmarks/README.md §7). Chong & Forsyth's 5,000 of 50,000 at d = 2048 are in that regime. Raises
    :class:`GanEvalError` when either side has fewer than :data:`MIN_SPAN` · (d + 1) samples: the fit
    would have too little span in 1/N to extrapolate from.
    """
    need = math.ceil(MIN_SPAN * (dim + 1))
    if min(n, n_real or n) < need:
        raise GanEvalError(
            f"FID∞ needs at least {need} samples per side for {dim}-dimensional features (got {n} generated"
            f"{f', {n_real} real' if n_real else ''}): it extrapolates FID of subsets larger than d against 1/N, "
            f"and below d samples FID is not linear in 1/N (report fid, compared at equal N, instead)")
    # With the real side subsampled at the same fraction its subsets must exceed d as well.
    return math.ceil((dim + 1) * max(1.0, n / n_real if n_real else 1.0))


def _fit(sizes: list[int], values: list[float], level: float) -> InfinityFit:
    from scipy import stats as scipy_stats

    x = 1.0 / np.asarray(sizes, dtype=np.float64)
    fit = scipy_stats.linregress(x, np.asarray(values))
    t = scipy_stats.t.ppf(0.5 + level / 2, len(sizes) - 2)
    half = float(t * fit.intercept_stderr)
    return InfinityFit(float(fit.intercept), [float(fit.intercept) - half, float(fit.intercept) + half],
                       list(sizes), [float(v) for v in values], float(fit.slope), float(fit.rvalue**2))


def fid_infinity(
    features_gen: torch.Tensor,
    real: FeatureStats,
    *,
    points: int = DEFAULT_POINTS,
    min_fraction: float = DEFAULT_MIN_FRACTION,
    seed: int = 0,
    level: float = 0.95,
    features_real: torch.Tensor | None = None,
) -> InfinityFit:
    """FID∞ of ``features_gen`` against the real side.

    With ``features_real`` the real side is subsampled too, at the same fraction as the generated
    side, so both sides' finite-sample bias vanishes at the intercept and its target is the
    population FID; with statistics only (the paper's recipe) the real side is used in full and its
    own bias (about tr Σ_real / N_real) stays in the intercept.
    """
    import torch

    from gan_eval.statistics import FeatureStats

    n, dim = features_gen.shape
    floor = smallest_fid_subset(n, dim, None if features_real is None else features_real.shape[0])
    sizes = subset_sizes(n, points, min_fraction, floor=floor)
    generator = torch.Generator().manual_seed(seed)
    mu_r = real.mean.to(features_gen.device)
    cov_r = real.cov.to(features_gen.device)
    values = []
    for size in sizes:
        index = torch.randperm(n, generator=generator)[:size].to(features_gen.device)
        subset = FeatureStats.from_features(features_gen[index])
        if features_real is not None:
            n_real = features_real.shape[0]
            real_index = torch.randperm(n_real, generator=generator)[:round(size * n_real / n)]
            real_subset = FeatureStats.from_features(
                features_real[real_index.to(features_real.device)].to(features_gen.device))
            mu_r, cov_r = real_subset.mean, real_subset.cov
        values.append(frechet_distance(subset.mean, subset.cov, mu_r, cov_r)[0])
    return _fit(sizes, values, level)


def is_infinity(
    logits: torch.Tensor,
    *,
    points: int = DEFAULT_POINTS,
    min_fraction: float = DEFAULT_MIN_FRACTION,
    seed: int = 0,
    level: float = 0.95,
    groups: int = MIN_GROUPS,
) -> InfinityFit:
    """IS∞ of ``logits``; each subset's score is the one-split Inception Score (the paper's estimator).

    With ``groups`` ≥ 2 the interval also holds the data's sampling variance: a delete-a-group jackknife
    of the intercept itself, every replicate refitted on the same subsets less the deleted group (the
    fit's standard error sees only the subsets' scatter about the line; alone it covered the population
    IS in 38–73 % of draws at N = 2,000–10,000, benchmarks/README.md §7). IS's replicates are cheap
    (``groups`` weighted sums per subset); FID∞'s would be ``groups`` eigenvalue problems per subset, so
    FID∞ uses FID's variance at N instead (:func:`compute_fid_inf`).
    """
    import torch

    n = logits.shape[0]
    sizes = subset_sizes(n, points, min_fraction, floor=2)
    generator = torch.Generator().manual_seed(seed)
    groups = min(groups, n)
    weights = make_resample(n, None, groups, seed, logits.device).gen if groups >= 2 else None
    values, replicates, kept = [], [], []
    for size in sizes:
        index = torch.randperm(n, generator=generator)[:size].to(logits.device)
        values.append(inception_score(logits[index], splits=1, shuffle=False)[0])
        if weights is not None:
            replicates.append(split_score_replicates(logits[index], weights[:, index], 1, 0).cpu().numpy())
            kept.append(weights[:, index].sum(dim=1).cpu().numpy())
    fit = _fit(sizes, values, level)
    if weights is None:
        return fit
    # Each replicate's line is fitted against the sizes its subsets kept after the deletion.
    replicates_by_group, x_by_group = np.stack(replicates, axis=1), 1.0 / np.stack(kept, axis=1)
    intercepts = [np.polynomial.polynomial.polyfit(x, y, 1)[0] for x, y in zip(x_by_group, replicates_by_group)]
    return widen_by_sampling_variance(fit, jackknife_variance(np.array(intercepts)), level)


# --- the two metrics ----------------------------------------------------------------------------

def widen_by_sampling_variance(fit: InfinityFit, variance: float, level: float) -> InfinityFit:
    """The fit's interval widened by the data's sampling variance: half-width t·√(se_fit² + variance).

    The 15 subset values share the same samples, so the fit's standard error sees only their scatter
    about the line, not how the whole data set varies (at d = 64, N = 320 the fit's sd was 0.06 where
    FID∞ varied by 0.10 between data sets). To first order FID∞ varies with the data as FID at N does,
    so that variance (a delete-a-group jackknife of FID) is added.
    """
    from scipy import stats as scipy_stats

    t = float(scipy_stats.t.ppf(0.5 + level / 2, len(fit.sizes) - 2))
    se_fit = (fit.interval[1] - fit.interval[0]) / (2 * t)
    half = t * math.sqrt(se_fit**2 + max(variance, 0.0))
    fit.interval = [fit.value - half, fit.value + half]
    return fit


def compute_fid_inf(ctx: MetricContext) -> dict[str, float]:
    """FID∞ of the generated features against the real side; the fit goes to ``details``.

    With the real features at hand the interval adds FID's sampling variance at N (see
    :func:`widen_by_sampling_variance`), from :data:`~gan_eval.metrics.resampling.MIN_GROUPS` jackknife groups.
    """
    if ctx.real.stats.dim != ctx.gen.features.shape[1]:
        raise GanEvalError("feature dimensions differ between the generated and real sides (different extractors?)")
    fit = fid_infinity(ctx.gen.features, ctx.real.stats, points=ctx.options.infinity_points, seed=ctx.options.seed,
                       level=ctx.options.infinity_level, features_real=ctx.real.features)
    if ctx.real.features is not None:
        from gan_eval.metrics.fid import fid_replicates

        groups = min(MIN_GROUPS, ctx.gen.n, ctx.real.n)
        rs = make_resample(ctx.gen.n, ctx.real.n, groups, ctx.options.seed, ctx.gen.stats.device)
        variance = jackknife_variance(fid_replicates(ctx.gen, ctx.real, rs.gen, rs.real)["fid"].values)
        fit = widen_by_sampling_variance(fit, variance, ctx.options.infinity_level)
    ctx.details["fid_inf"] = fit.to_dict()
    return {"fid_inf": fit.value}


def compute_is_inf(ctx: MetricContext) -> dict[str, float]:
    """IS∞ of the generated logits, its interval widened by its own jackknife variance; the fit goes to ``details``."""
    fit = is_infinity(ctx.gen.logits, points=ctx.options.infinity_points, seed=ctx.options.seed,
                      level=ctx.options.infinity_level, groups=MIN_GROUPS)
    ctx.details["is_inf"] = fit.to_dict()
    return {"is_inf": fit.value}


def fit_interval(key: str) -> OwnInterval:
    """The record's own interval: the fit's, read from ``details[key]`` at the level it was fitted at."""
    def own(ctx: MetricContext) -> tuple[dict[str, list[float]], float]:
        if key not in ctx.details:
            return {}, ctx.options.infinity_level
        return {key: ctx.details[key]["interval"]}, ctx.options.infinity_level

    return own


_OPTIONS = (MetricOption("infinity_points", DEFAULT_POINTS, "FID∞/IS∞: subset sizes fitted against 1/N"),
            MetricOption("infinity_level", 0.95, "FID∞/IS∞: level of the fit's interval", follows_ci=True))
_NOTE = ("interval of the linear fit's intercept (t distribution), widened by a jackknife sampling variance: "
         "FID's at N (when the real features are at hand), IS∞'s own")

FID_INF = MetricSpec(
    name="fid_inf",
    # an extrapolation: the estimate itself may fall below 0
    keys=(MetricKey("fid_inf", "FID∞ (extrapolated to infinite N)", direction=-1),),
    compute=compute_fid_inf,
    needs=("features",),
    options=_OPTIONS,
    aliases=("fid_infinity",),
    convention="Chong & Forsyth 2020: FID of 15 random subsets (max(20% of N, d+1) to N) fitted linearly against 1/N, "
               "intercept (with real features, both sides subsampled); interval from the fit, widened by FID's "
               "jackknife variance when real features are at hand",
    interval_note=_NOTE,
    own_interval=fit_interval("fid_inf"),
)

IS_INF = MetricSpec(
    name="is_inf",
    keys=(MetricKey("is_inf", "IS∞ (extrapolated to infinite N)", direction=1),),
    compute=compute_is_inf,
    needs=("logits",),
    needs_real=False,
    options=_OPTIONS,
    aliases=("is_infinity",),
    convention="Chong & Forsyth 2020: one-split IS of 15 subsets fitted against 1/N; interval from the fit, widened "
               "by the intercept's jackknife variance (10 groups, subsets fixed)",
    interval_note=_NOTE,
    own_interval=fit_interval("is_inf"),
)
