"""Paired comparison of two generators against the same reference features.

Both generators are scored against one extraction of the real side. Intervals for the difference
B − A come from one bootstrap in which the *reference* is resampled identically for both (the
comparison is paired through it) and each generator's samples are resampled independently, so
the shared reference noise cancels in the difference instead of widening it. Verdicts use the
metric's direction: an interval that excludes 0 means B is better or worse; otherwise there is no
significant difference at that level.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_eval.files import write_text_atomic
from gan_eval.api import (
    DEFAULT_EXTRACTOR,
    DEFAULT_SEED,
    _open_side,
    _prepare,
    _public_meta,
    _side_features,
    _versions,
    extract_reference,
)
from gan_eval.cache import FeatureCache
from gan_eval.errors import GanEvalError
from gan_eval.extractors import FeatureExtractor
from gan_eval.intervals import (
    DEFAULT_BOOTSTRAP,
    Replicates,
    Resample,
    _one_thread_when_small,
    basic_interval,
    draw_counts,
    metric_replicates,
    validate,
)
from gan_eval.metrics import (
    MetricContext,
    MetricOptions,
    compute_metrics,
    get_metrics,
    metric_direction,
)
from gan_eval.sources import SourceOptions

COMPARE_SCHEMA = "gan-eval/compare/1"


@dataclass
class Difference:
    """B − A for one metric key, its interval, and the verdict for B."""

    a: float
    b: float
    value: float
    interval: list[float]
    verdict: str  # "better", "worse", "no significant difference", or "differs" (no direction)


@dataclass
class ComparisonResult:
    names: tuple[str, str]
    differences: dict[str, Difference]
    ci_a: dict[str, list[float]]
    ci_b: dict[str, list[float]]
    level: float
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": COMPARE_SCHEMA,
            "a": {"gen": self.names[0], "metrics": {k: d.a for k, d in self.differences.items()}, "ci": self.ci_a},
            "b": {"gen": self.names[1], "metrics": {k: d.b for k, d in self.differences.items()}, "ci": self.ci_b},
            "difference": {k: {"b_minus_a": d.value, "ci": d.interval, "verdict_for_b": d.verdict}
                           for k, d in self.differences.items()},
            "ci_info": {"level": self.level, "method": "paired bootstrap (shared reference resample)"},
            "provenance": self.provenance,
        }

    def to_json(self, path: str | Path | None = None) -> str:
        import json

        text = json.dumps(self.to_dict(), indent=2) + "\n"
        if path is not None:
            write_text_atomic(path, text)
        return text


def verdict(direction: int | None, interval: list[float]) -> str:
    """The verdict for B given the interval of B − A and whether higher is better (+1) or worse (−1)."""
    lo, hi = interval
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= 0 <= hi:
        return "no significant difference"
    if direction is None:
        return "differs"
    higher = lo > 0
    return "better" if higher == (direction > 0) else "worse"


def compare(
    gen_a: Any,
    gen_b: Any,
    real: Any,
    metrics: Sequence[str] | str = ("fid", "pr", "dc"),
    *,
    level: float = 0.95,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    extractor: str | FeatureExtractor = DEFAULT_EXTRACTOR,
    weights: str | None = None,
    num_samples: int | None = None,
    num_real: int | None = None,
    batch_size: int = 64,
    device: str | torch.device = "auto",
    seed: int = DEFAULT_SEED,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    trust_pickle: bool = False,
    options: MetricOptions | None = None,
    progress: bool | None = None,
) -> ComparisonResult:
    """Score ``gen_a`` and ``gen_b`` against one extraction of ``real``; the difference B − A per metric.

    Metrics that need no reference (IS) are compared too, with only the generated sides resampled.
    """
    started = time.perf_counter()
    validate(level, bootstrap)
    specs = get_metrics(metrics)
    if any(s.name in ("fid_inf", "is_inf") for s in specs):
        raise GanEvalError("compare supports fid, is, kid, pr and dc; FID∞/IS∞ intervals do not come from a bootstrap")
    options = options or MetricOptions()
    options.seed = seed
    fe = _prepare(extractor, weights, device)
    source_options = SourceOptions(trust_pickle=trust_pickle, device=fe.device)
    sides = [_open_side(g, "gen", num_samples, source_options) for g in (gen_a, gen_b)]  # validate before work
    if any(s.needs_logits for s in specs) and not fe.has_logits:
        raise GanEvalError(f"the Inception Score needs class logits, which extractor {fe.name!r} does not give")
    reference = extract_reference(real, extractor=fe, num_real=num_real, batch_size=batch_size, seed=seed,
                                  cache=cache, cache_dir=cache_dir, progress=progress)
    feature_cache = FeatureCache(cache_dir) if cache else None
    sets = [_side_features(s, fe, need_features=True, cache=feature_cache, batch_size=batch_size, seed=seed,
                           progress=progress) for s in sides]
    contexts = [MetricContext(s, reference, options) for s in sets]
    points = [compute_metrics(specs, ctx) for ctx in contexts]

    rng = np.random.default_rng(seed)
    as_tensor = lambda counts: torch.from_numpy(counts).to(fe.device, torch.float64)
    real_counts = as_tensor(draw_counts(reference.n, bootstrap, rng))
    resamples = [Resample(as_tensor(draw_counts(s.n, bootstrap, rng)), real_counts) for s in sets]
    with _one_thread_when_small(reference.stats.dim, fe.device):
        reps = [metric_replicates(specs, ctx, rs) for ctx, rs in zip(contexts, resamples)]

    differences: dict[str, Difference] = {}
    for key, rep_a in reps[0].items():
        rep_b = reps[1][key]
        diff = Replicates(rep_b.values - rep_a.values, rep_b.centre - rep_a.centre)
        value = points[1][key] - points[0][key]
        interval = basic_interval(value, diff, level)
        differences[key] = Difference(points[0][key], points[1][key], value, interval,
                                      verdict(metric_direction(key), interval))
    ci = [{k: basic_interval(points[i][k], r, level) for k, r in reps[i].items()} for i in range(2)]
    names = tuple(str(s.source.description) if s.source is not None else str(s.spec) for s in sides)
    provenance = {
        **fe.describe(), "device": str(fe.device), "seed": seed, "bootstrap": bootstrap,
        "n_gen": [s.n for s in sets], "n_real": reference.n,
        "gen": [_public_meta(s.meta) for s in sets], "real": _public_meta(reference.meta),
        "metric_options": {"pr_k": options.pr_k, "dc_k": options.dc_k, "is_splits": options.is_splits},
        "versions": _versions(), "wall_time_s": round(time.perf_counter() - started, 3),
    }
    return ComparisonResult(names, differences, ci[0], ci[1], level, provenance)


def format_comparison(result: ComparisonResult) -> str:
    """Terminal table: A, B, B − A with its interval, and the verdict for B."""
    from gan_eval.reports.table import _format_value, _label

    width = max([len(_label(k)) for k in result.differences] + [6])
    head = f"{'metric':<{width}}  {'A':>12}  {'B':>12}  {'B - A':>12}  {result.level:.0%} interval of B - A      verdict for B"
    lines = [f"A: {result.names[0]}", f"B: {result.names[1]}", "", head, "-" * len(head)]
    for key, d in result.differences.items():
        span = f"[{_format_value(d.interval[0])}, {_format_value(d.interval[1])}]"
        lines.append(f"{_label(key):<{width}}  {_format_value(d.a):>12}  {_format_value(d.b):>12}  "
                     f"{_format_value(d.value):>12}  {span:<27}  {d.verdict}")
    p = result.provenance
    lines += ["", f"reference: {p['real'].get('source')} (N={p['n_real']}), shared by both; generated N={p['n_gen']}",
              f"extractor: {p.get('extractor')}; {p['bootstrap']} paired bootstrap resamples (seed {p['seed']})"]
    return "\n".join(lines)
