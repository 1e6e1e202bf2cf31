"""Bootstrap confidence intervals for every metric, from features already extracted (no second pass).

Each bootstrap replicate draws, with replacement, as many samples as each side has; a replicate is a
vector of *counts* per sample, so moments, kernel sums and per-sample scores are re-weighted rather
than copied. How each metric uses the counts:

- **FID**: both sides resampled; weighted mean and covariance (or, with no more samples than
  dimensions, the weighted centred features and the nuclear-norm trace). A statistics file without
  features is held fixed (stated in ``ci_info``).
- **KID**: both sides resampled; the unbiased MMD² of the whole sets, re-weighted, from kernel tiles
  computed once for all replicates (never an N×N matrix).
- **IS**: the generated logits resampled, same splits.
- **precision, density**: per generated sample (inside the real manifold / balls holding it),
  resampled over generated samples; **recall, coverage**: per real sample, resampled over real
  samples. The k-NN radii of the other side are held at their full-sample values: duplicated
  points would otherwise shrink radii to zero.

The interval is the *basic* (reverse-percentile) bootstrap interval,
``[θ̂ − (q_hi − θ*), θ̂ − (q_lo − θ*)]`` with θ* the full-sample statistic the replicates scatter
around. Bootstrapped FID is biased upwards by resampling exactly as FID is by finite N, and the
basic interval reflects that bias back; the plain percentile interval covers the true FID far less
often (tests/test_intervals.py measures both).

Written by hand rather than with ``scipy.stats.bootstrap`` because comparisons need the *same*
resampling of the reference for two generators, and the count-weighted formulas avoid copying
features B times; the quantiles come from numpy.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from gan_eval.errors import GanEvalError
from gan_eval.metrics import MetricContext, MetricSpec
from gan_eval.metrics.fid import NEGATIVE_TOLERANCE, trace_sqrt_product
from gan_eval.metrics.inception_score import inception_score
from gan_eval.metrics.knn import (
    DEFAULT_TILE,
    density_coverage_per_sample,
    knn_neighbours,
    knn_radii,
    precision_recall_per_sample,
    radii_among,
)
from gan_eval.statistics import FeatureSet

DEFAULT_BOOTSTRAP = 200
MIN_BOOTSTRAP = 20


@dataclass
class Replicates:
    """Bootstrap replicates of one metric key and the statistic they scatter around.

    ``centre`` is the full-sample statistic for metrics whose bootstrap bias mirrors the estimator's
    (FID, KID, IS), and the replicates' own mean for the k-NN metrics, whose resamples have fewer
    distinct points than the sample and so a bias the estimator does not have.
    """

    values: np.ndarray  # (B,)
    centre: float


def draw_counts(n: int, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """``replicates × n`` counts: how often each of n samples is drawn in each resample of size n."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=replicates)


def validate(level: float, replicates: int) -> None:
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
    alpha = (1 - level) / 2
    q_lo, q_hi = np.quantile(reps.values[np.isfinite(reps.values)], [alpha, 1 - alpha])
    return [float(q_lo), float(q_hi)]


# --- weighted statistics ---------------------------------------------------------------------------

def _weighted_moments(x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and N−1 covariance of ``x`` (centred, float64) with integer counts ``w`` summing to n."""
    n = float(w.sum())
    mu = (w @ x) / n
    cov = (x.T @ (x * w[:, None]) - n * torch.outer(mu, mu)) / (n - 1)
    return mu, (cov + cov.T) / 2


def _weighted_centred(x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, X̃) with X̃ᵀX̃ the weighted N−1 covariance; rows never drawn are dropped."""
    n = float(w.sum())
    mu = (w @ x) / n
    keep = w > 0
    return mu, (x[keep] - mu) * (w[keep] / (n - 1)).sqrt()[:, None]


def _fid_from(mu1, cov1, mu2, cov2, xt1=None, xt2=None) -> float:
    diff = mu1 - mu2
    if xt1 is not None:
        trace_sqrt = torch.linalg.svdvals(xt1 @ xt2.T).sum()
        traces = (xt1 * xt1).sum() + (xt2 * xt2).sum()
    else:
        trace_sqrt, _ = trace_sqrt_product(cov1, cov2)
        traces = torch.trace(cov1) + torch.trace(cov2)
    value = float(diff.dot(diff) + traces - 2 * trace_sqrt)
    return max(value, 0.0) if value > -NEGATIVE_TOLERANCE * max(float(traces), 1e-30) else value


def _side_for_fid(fs: FeatureSet, device: torch.device) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """(centred float64 features or None, full mean, full covariance) on ``device``."""
    mu = fs.stats.mean.to(device, torch.float64)
    cov = fs.stats.cov.to(device, torch.float64)
    if fs.features is None:
        return None, mu, cov
    return fs.features.to(device, torch.float64) - mu, mu, cov


def fid_replicates(gen: FeatureSet, real: FeatureSet, wg: torch.Tensor | None, wr: torch.Tensor | None) -> dict[str, Replicates]:
    """FID of each resample (rows of ``wg``/``wr``; None holds that side fixed)."""
    device = gen.stats.device
    xg, mu_g, cov_g = _side_for_fid(gen, device)
    xr, mu_r, cov_r = _side_for_fid(real, device)
    dim = mu_g.shape[0]
    nuclear = xg is not None and xr is not None and min(gen.n, real.n) <= dim
    values = []
    for b in range(wg.shape[0] if wg is not None else wr.shape[0]):
        sides = []
        for x, mu, cov, w in ((xg, mu_g, cov_g, wg), (xr, mu_r, cov_r, wr)):
            if w is None or x is None:
                sides.append((mu, cov, None if x is None else x / math.sqrt(x.shape[0] - 1)))
            elif nuclear:
                m, xt = _weighted_centred(x, w[b])
                sides.append((m + mu, None, xt))
            else:
                m, c = _weighted_moments(x, w[b])
                sides.append((m + mu, c, None))
        (m1, c1, t1), (m2, c2, t2) = sides
        values.append(_fid_from(m1, c1, m2, c2, t1, t2) if nuclear else _fid_from(m1, c1, m2, c2))
    if nuclear:
        centre = _fid_from(mu_g, None, mu_r, None, xg / math.sqrt(gen.n - 1), xr / math.sqrt(real.n - 1))
    else:
        centre = _fid_from(mu_g, cov_g, mu_r, cov_r)
    return {"fid": Replicates(np.asarray(values), centre)}


def _kernel(x: torch.Tensor, y: torch.Tensor, gamma: float) -> torch.Tensor:
    return (x @ y.T * gamma + 1.0) ** 3


def _weighted_pair_sums(x: torch.Tensor, y: torch.Tensor, wx: torch.Tensor, wy: torch.Tensor, gamma: float,
                        same: bool, tile: int) -> torch.Tensor:
    """Σ_ij wx_i k(x_i, y_j) wy_j per column of weights (B columns), excluding i = j when ``same``."""
    total = torch.zeros(wx.shape[1], dtype=torch.float64, device=x.device)
    for rs in range(0, x.shape[0], tile):
        rows = slice(rs, min(rs + tile, x.shape[0]))
        for cs in range(0, y.shape[0], tile):
            cols = slice(cs, min(cs + tile, y.shape[0]))
            k = _kernel(x[rows], y[cols], gamma)
            total += ((k @ wy[cols]) * wx[rows]).sum(dim=0)
    if same:
        diag = ((x * x).sum(dim=1) * gamma + 1.0) ** 3
        total -= (diag[:, None] * wx * wy).sum(dim=0)
    return total


def kid_replicates(gen: FeatureSet, real: FeatureSet, wg: torch.Tensor, wr: torch.Tensor, tile: int = DEFAULT_TILE) -> dict[str, Replicates]:
    """Unbiased MMD² (KID's kernel) of the whole sets per resample; column 0 is the full sample."""
    x = gen.features.to(torch.float64)
    y = real.features.to(x.device, torch.float64)
    gamma = 1.0 / x.shape[1]
    ones_g = torch.ones(x.shape[0], 1, dtype=torch.float64, device=x.device)
    ones_r = torch.ones(y.shape[0], 1, dtype=torch.float64, device=x.device)
    wgx = torch.cat([ones_g, wg.T], dim=1)
    wry = torch.cat([ones_r, wr.T], dim=1)
    # Pairs of the same original sample are excluded; the pair count shrinks accordingly.
    pairs_x = wgx.sum(0) ** 2 - (wgx * wgx).sum(0)
    pairs_y = wry.sum(0) ** 2 - (wry * wry).sum(0)
    kxx = _weighted_pair_sums(x, x, wgx, wgx, gamma, True, tile) / pairs_x
    kyy = _weighted_pair_sums(y, y, wry, wry, gamma, True, tile) / pairs_y
    kxy = _weighted_pair_sums(x, y, wgx, wry, gamma, False, tile) / (x.shape[0] * y.shape[0])
    mmd = (kxx + kyy - 2 * kxy).cpu().numpy()
    return {"kid_mean": Replicates(mmd[1:], float(mmd[0]))}


def is_replicates(gen: FeatureSet, wg: torch.Tensor, splits: int, seed: int) -> dict[str, Replicates]:
    logits = gen.logits
    values = []
    for b in range(wg.shape[0]):
        index = torch.repeat_interleave(torch.arange(logits.shape[0], device=logits.device), wg[b].long())
        values.append(inception_score(logits[index], splits, seed)[0])
    return {"is_mean": Replicates(np.asarray(values), inception_score(logits, splits, seed)[0])}


def _distinct(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    index = torch.nonzero(w > 0).squeeze(1)
    return index, w[index]


def knn_replicates(gen: FeatureSet, real: FeatureSet, wg: torch.Tensor, wr: torch.Tensor, k: int, tile: int,
                   kind: str) -> dict[str, Replicates]:
    """Precision/recall (``kind="pr"``) or density/coverage (``"dc"``) of each resample.

    Every replicate recomputes the k-NN radii on the *distinct* samples it drew (a duplicate would
    otherwise be its own nearest neighbour at distance 0) and weights each sample by its count, so
    both sides' sampling variability enters the interval.
    """
    xg = gen.features
    xr = real.features.to(xg.device)
    keys = ("precision", "recall") if kind == "pr" else ("density", "coverage")
    values: dict[str, list[float]] = {key: [] for key in keys}
    # Neighbour lists of the full sets, computed once: each resample's radii are read from them.
    tables = {side: knn_neighbours(x, 4 * k + 9, tile) for side, x in (("gen", xg), ("real", xr))}

    def radii(side: str, counts: torch.Tensor, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        found = radii_among(tables[side], counts > 0, k)
        return found if found is not None else knn_radii(x[index], k, tile)

    for b in range(wg.shape[0]):
        ig, cg = _distinct(wg[b])
        ir, cr = _distinct(wr[b])
        real_radii = radii("real", wr[b], xr, ir)
        if kind == "pr":
            gen_inside, real_inside = precision_recall_per_sample(xg[ig], xr[ir], k, tile,
                                                                  radii("gen", wg[b], xg, ig), real_radii)
            values["precision"].append(float(cg @ gen_inside.double()) / gen.n)
            values["recall"].append(float(cr @ real_inside.double()) / real.n)
        else:
            counts, covered = density_coverage_per_sample(xg[ig], xr[ir], k, tile, real_radii=real_radii)
            values["density"].append(float(cg @ counts) / (k * gen.n))
            values["coverage"].append(float(cr @ covered.double()) / real.n)
    # Centred on the replicates' mean (see Replicates).
    return {key: Replicates(np.asarray(values[key]), float(np.mean(values[key]))) for key in keys}


@dataclass
class Resample:
    """Counts for each side (``B × n``, float64 on the features' device); None holds a side fixed."""

    gen: torch.Tensor | None
    real: torch.Tensor | None


def make_resample(n_gen: int, n_real: int | None, replicates: int, seed: int, device: torch.device,
                  rng: np.random.Generator | None = None) -> Resample:
    rng = rng or np.random.default_rng(seed)
    gen = torch.from_numpy(draw_counts(n_gen, replicates, rng)).to(device, torch.float64)
    real = torch.from_numpy(draw_counts(n_real, replicates, rng)).to(device, torch.float64) if n_real else None
    return Resample(gen, real)


ReplicateFn = Callable[[MetricContext, Resample], dict[str, Replicates]]


def _fid(ctx: MetricContext, rs: Resample) -> dict[str, Replicates]:
    real_w = rs.real if ctx.real.features is not None else None
    return fid_replicates(ctx.gen, ctx.real, rs.gen, real_w)


def _kid(ctx: MetricContext, rs: Resample) -> dict[str, Replicates]:
    return kid_replicates(ctx.gen, ctx.real, rs.gen, rs.real, min(ctx.options.tile, 2048))


def _is(ctx: MetricContext, rs: Resample) -> dict[str, Replicates]:
    return is_replicates(ctx.gen, rs.gen, ctx.options.is_splits, ctx.options.seed)


def _pr(ctx: MetricContext, rs: Resample) -> dict[str, Replicates]:
    return knn_replicates(ctx.gen, ctx.real, rs.gen, rs.real, ctx.options.pr_k, ctx.options.tile, "pr")


def _dc(ctx: MetricContext, rs: Resample) -> dict[str, Replicates]:
    return knn_replicates(ctx.gen, ctx.real, rs.gen, rs.real, ctx.options.dc_k, ctx.options.tile, "dc")


#: Metric name → how to bootstrap it. Metrics not listed get no interval (and say so).
REPLICATORS: dict[str, ReplicateFn] = {"fid": _fid, "kid": _kid, "is": _is, "pr": _pr, "dc": _dc}


@contextlib.contextmanager
def _one_thread_when_small(dim: int, device: torch.device) -> Iterator[None]:
    """Run small linear algebra on one thread.

    Hundreds of d ≤ 512 problems in a row are dominated by BLAS/OpenMP thread hand-offs: on a busy
    2-core machine a 128×128 eigendecomposition took 0.1–1 s with two threads and 1 ms with one.
    """
    if dim > 512 or device.type != "cpu":
        yield
        return
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(before)


def metric_replicates(specs: list[MetricSpec], ctx: MetricContext, resample: Resample) -> dict[str, Replicates]:
    """Replicates of every bootstrappable key of ``specs``."""
    out: dict[str, Replicates] = {}
    with _one_thread_when_small(ctx.gen.stats.dim, ctx.gen.stats.device):
        for spec in specs:
            fn = REPLICATORS.get(spec.name)
            if fn is not None:
                out.update(fn(ctx, resample))
    return out


def bootstrap_intervals(
    specs: list[MetricSpec],
    ctx: MetricContext,
    point: dict[str, float],
    level: float,
    replicates: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> tuple[dict[str, list[float]], dict[str, object]]:
    """``({key: [lo, hi]}, info)`` for every metric in ``specs`` that can be bootstrapped.

    ``seed`` fixes the resampling, so the same features and seed give the same intervals.
    """
    validate(level, replicates)
    real_n = ctx.real.n if ctx.real is not None and ctx.real.features is not None else None
    resample = make_resample(ctx.gen.n, real_n, replicates, seed, ctx.gen.stats.device)
    reps = metric_replicates(specs, ctx, resample)
    ci = {key: _clip(key, basic_interval(point[key], r, level)) for key, r in reps.items() if key in point}
    info: dict[str, object] = {"level": level, "method": "bootstrap", "replicates": replicates, "seed": seed,
                               "resampled": _resampled_sides(ctx)}
    skipped = [s.name for s in specs if s.name not in REPLICATORS]
    if skipped:
        info["no_interval"] = skipped
    if "fid" in ci and "fid" in reps and math.isfinite(ci["fid"][0]):
        bias = float(np.mean(reps["fid"].values)) - reps["fid"].centre
        half = (ci["fid"][1] - ci["fid"][0]) / 2
        if bias > half:
            warnings.warn(f"FID at N={ctx.gen.n} is dominated by its finite-sample bias (about {bias:.3g}, more than "
                          f"the interval's half-width {half:.3g}): too few samples for a stable estimate; compare "
                          f"runs only at equal N, or report fid_inf")
    return ci, info


#: Ranges a metric cannot leave; interval ends are clipped to them. The basic interval of a FID near 0
#: can reach below 0 (and can lie below the biased point estimate: that is the bias correction).
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "fid": (0.0, math.inf), "is_mean": (1.0, math.inf), "precision": (0.0, 1.0), "recall": (0.0, 1.0),
    "density": (0.0, math.inf), "coverage": (0.0, 1.0),
}


def _clip(key: str, bounds: list[float]) -> list[float]:
    low, high = METRIC_RANGES.get(key, (-math.inf, math.inf))
    return [min(max(b, low), high) for b in bounds]


def _resampled_sides(ctx: MetricContext) -> dict[str, str]:
    real = "resampled" if ctx.real is not None and ctx.real.features is not None else "fixed (statistics only)"
    knn = "both sides resampled; radii recomputed on the distinct samples drawn; centred on the replicates' mean"
    return {"fid": f"generated resampled, real {real}; basic interval", "kid_mean": "both sides resampled; basic interval",
            "is_mean": "generated resampled; basic interval", "precision": knn, "recall": knn, "density": knn,
            "coverage": knn}
