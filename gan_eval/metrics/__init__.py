"""Metric registry: each metric declares what it needs from the features and computes its values.

Names accepted by ``--metrics``: ``fid``, ``is``, ``kid``, ``pr``, ``dc``. A metric only reads the
:class:`~gan_eval.statistics.FeatureSet` of each side, so every metric shares one feature pass.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gan_eval.errors import GanEvalError
from gan_eval.metrics.fid import frechet_distance
from gan_eval.metrics.inception_score import inception_score
from gan_eval.metrics.kid import kernel_inception_distance
from gan_eval.metrics.knn import DEFAULT_TILE, density_coverage, precision_recall
from gan_eval.statistics import FeatureSet


@dataclass
class MetricOptions:
    """Knobs shared by all metrics; defaults follow torch-fidelity / the papers."""

    seed: int = 2020
    is_splits: int = 10
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    pr_k: int = 3
    dc_k: int = 5
    tile: int = DEFAULT_TILE
    infinity_points: int = 15  # FID∞/IS∞: subset sizes fitted against 1/N
    infinity_level: float = 0.95  # FID∞/IS∞: level of the fit's interval


@dataclass
class MetricContext:
    gen: FeatureSet
    real: FeatureSet | None
    options: MetricOptions
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric: the JSON keys it produces and what it needs."""

    name: str
    keys: tuple[str, ...]
    compute: Callable[[MetricContext], dict[str, float]]
    needs_real: bool = True
    needs_features: bool = False  # raw features (not only moments) on both sides
    needs_logits: bool = False  # classifier logits on the generated side
    convention: str = ""


_METRICS: dict[str, MetricSpec] = {}


def register_metric(spec: MetricSpec) -> MetricSpec:
    """Add a metric; names are lower-case identifiers and unique."""
    if not re.match(r"^[a-z][a-z0-9_]*$", spec.name):
        raise ValueError(f"invalid metric name {spec.name!r}")
    if spec.name in _METRICS:
        raise ValueError(f"metric {spec.name!r} is already registered")
    _METRICS[spec.name] = spec
    return spec


def available_metrics() -> list[str]:
    return list(_METRICS)


def get_metrics(names: list[str] | tuple[str, ...] | str) -> list[MetricSpec]:
    """Validate and look up metric names (a list or a comma-separated string), keeping their order."""
    if isinstance(names, str):
        names = [n for n in (part.strip().lower() for part in names.split(",")) if n]
    if not names:
        raise GanEvalError("no metric requested")
    unknown = [n for n in names if n not in _METRICS]
    if unknown:
        raise GanEvalError(f"unknown metric(s) {', '.join(unknown)}; available: {', '.join(_METRICS)}")
    return [_METRICS[n] for n in dict.fromkeys(names)]


def _fid(ctx: MetricContext) -> dict[str, float]:
    gen, real = ctx.gen, ctx.real
    dim = gen.stats.dim
    if real.stats.dim != dim:
        raise GanEvalError(f"feature dimensions differ: generated {dim}, real {real.stats.dim} (different extractors?)")
    small = min(gen.n, real.n if not real.meta.get("n_unknown") else gen.n)
    if small <= dim:
        warnings.warn(f"FID from {small} samples in {dim} dimensions: the covariance is rank-deficient and the value "
                      f"is strongly biased upwards; compare only runs with the same N (≥ {dim + 1} recommended)")
    use_features = gen.features is not None and real.features is not None and small <= dim
    value, detail = frechet_distance(
        gen.stats.mean, gen.stats.cov, real.stats.mean.to(gen.stats.device), real.stats.cov.to(gen.stats.device),
        gen.features if use_features else None, real.features if use_features else None,
    )
    ctx.details["fid"] = detail
    return {"fid": value}


def _is(ctx: MetricContext) -> dict[str, float]:
    if ctx.gen.n < ctx.options.is_splits:
        raise GanEvalError(f"Inception Score needs at least {ctx.options.is_splits} samples (one per split); got {ctx.gen.n}")
    mean, std = inception_score(ctx.gen.logits, ctx.options.is_splits, ctx.options.seed)
    return {"is_mean": mean, "is_std": std}


def _kid(ctx: MetricContext) -> dict[str, float]:
    o = ctx.options
    mean, std, used = kernel_inception_distance(ctx.gen.features, ctx.real.features.to(ctx.gen.features.device),
                                                o.kid_subsets, o.kid_subset_size, o.seed)
    ctx.details["kid"] = {"subsets": o.kid_subsets, "subset_size": used}
    return {"kid_mean": mean, "kid_std": std}


def _pr(ctx: MetricContext) -> dict[str, float]:
    precision, recall = precision_recall(ctx.gen.features, ctx.real.features.to(ctx.gen.features.device),
                                         ctx.options.pr_k, ctx.options.tile)
    return {"precision": precision, "recall": recall}


def _dc(ctx: MetricContext) -> dict[str, float]:
    density, coverage = density_coverage(ctx.gen.features, ctx.real.features.to(ctx.gen.features.device),
                                         ctx.options.dc_k, ctx.options.tile)
    return {"density": density, "coverage": coverage}


register_metric(MetricSpec("fid", ("fid",), _fid, convention="covariance divisor N-1; trace sqrt via Cholesky + eigvalsh"))
register_metric(MetricSpec("is", ("is_mean", "is_std"), _is, needs_real=False, needs_logits=True,
                           convention="10 splits, softmax of unbiased logits, std ddof 0"))
register_metric(MetricSpec("kid", ("kid_mean", "kid_std"), _kid, needs_features=True,
                           convention="unbiased MMD^2, poly kernel deg 3, gamma 1/d, coef 1, 100 subsets of min(1000, N)"))
register_metric(MetricSpec("pr", ("precision", "recall"), _pr, needs_features=True,
                           convention="Kynkaanniemi 2019, k=3, inside when distance <= radius"))
register_metric(MetricSpec("dc", ("density", "coverage"), _dc, needs_features=True,
                           convention="Naeem 2020, k=5, inside when distance < radius"))


#: +1 where larger is better, -1 where smaller is better. Gates and comparisons judge only keys with a
#: direction; spreads such as ``is_std`` have none.
METRIC_DIRECTIONS: dict[str, int] = {
    "fid": -1, "fid_inf": -1, "kid_mean": -1, "l1": -1, "class_balance_tv": -1,
    "is_mean": 1, "is_inf": 1, "precision": 1, "recall": 1, "density": 1, "coverage": 1, "psnr": 1, "ssim": 1,
}
#: Names users may write for a result key (``--metrics`` names and common spellings).
METRIC_ALIASES: dict[str, str] = {"is": "is_mean", "kid": "kid_mean", "fid_infinity": "fid_inf", "is_infinity": "is_inf"}


def metric_direction(key: str) -> int | None:
    """+1 (higher is better), -1 (lower is better) or None (not a quality score) for a result key.

    Per-class keys (``fid_class_3``, ``class_accuracy_3``) take the direction of their family; class
    shares have none (more is not better).
    """
    key = METRIC_ALIASES.get(key, key)
    if key in METRIC_DIRECTIONS:
        return METRIC_DIRECTIONS[key]
    if key.startswith("fid_class_"):
        return -1
    if key.startswith("class_accuracy_"):
        return 1
    return None


def _fid_inf(ctx: MetricContext) -> dict[str, float]:
    from gan_eval.metrics.infinity import fid_infinity

    if ctx.real.stats.dim != ctx.gen.features.shape[1]:
        raise GanEvalError("feature dimensions differ between the generated and real sides (different extractors?)")
    fit = fid_infinity(ctx.gen.features, ctx.real.stats, points=ctx.options.infinity_points, seed=ctx.options.seed,
                       level=ctx.options.infinity_level)
    ctx.details["fid_inf"] = fit.to_dict()
    return {"fid_inf": fit.value}


def _is_inf(ctx: MetricContext) -> dict[str, float]:
    from gan_eval.metrics.infinity import is_infinity

    fit = is_infinity(ctx.gen.logits, points=ctx.options.infinity_points, seed=ctx.options.seed,
                      level=ctx.options.infinity_level)
    ctx.details["is_inf"] = fit.to_dict()
    return {"is_inf": fit.value}


register_metric(MetricSpec("fid_inf", ("fid_inf",), _fid_inf, needs_features=True,
                           convention="Chong & Forsyth 2020: FID of 15 random subsets (20-100% of N) fitted "
                                      "linearly against 1/N, intercept; interval from the fit"))
register_metric(MetricSpec("is_inf", ("is_inf",), _is_inf, needs_real=False, needs_logits=True,
                           convention="Chong & Forsyth 2020: one-split IS of 15 subsets fitted against 1/N"))


def compute_metrics(specs: list[MetricSpec], ctx: MetricContext) -> dict[str, float]:
    """Run ``specs`` in order and merge their values."""
    values: dict[str, float] = {}
    for spec in specs:
        values.update(spec.compute(ctx))
    return values
