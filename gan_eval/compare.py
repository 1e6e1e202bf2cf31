"""Paired comparison of two generators against the same reference features.

Both generators are scored against one extraction of the real side. Intervals for the difference
B − A come from one delete-a-group jackknife (see :mod:`gan_eval.intervals`) in which the
*reference* is split into the same groups for both (replicate g drops reference group g for A and
for B: the comparison is paired through it) and each generator's samples are grouped independently,
so the shared reference noise cancels in the difference instead of widening it. Verdicts use the
metric's direction: an interval that excludes 0 means B is better or worse; otherwise there is no
significant difference at that level.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_eval.errors import GanEvalError
from gan_eval.files import write_text_atomic
from gan_eval.intervals import (
    Replicates,
    Resample,
    delete_group_weights,
    group_count,
    group_labels,
    jackknife_interval,
    metric_replicates,
    one_thread_when_small,
)
from gan_eval.metrics import (
    MetricContext,
    MetricOptions,
    available_metrics,
    compute_metrics,
    get_metrics,
    metric_direction,
    metric_label,
)
from gan_eval.options import Options
from gan_eval.result import COMPARE_SCHEMA, build_provenance, public_side_meta
from gan_eval.side import Side, open_cache, open_extractor
from gan_eval.sources import SourceOptions


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
            "ci_info": {"level": self.level, "method": "paired delete-a-group jackknife (shared reference groups)",
                        "target": "difference of the estimators' means at these N"},
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
    options: Options | None = None,
    *,
    metric_options: MetricOptions | None = None,
    **shared: Any,
) -> ComparisonResult:
    """Score ``gen_a`` and ``gen_b`` against one extraction of ``real``; the difference B − A per metric.

    Metrics that need no reference (IS) are compared too, with only the generated sides resampled.
    ``options.ci`` is the interval level (default 0.95: a comparison always has intervals) and
    ``options.bootstrap`` the resampling work (``bootstrap / 10`` jackknife groups); the other options as
    for :func:`gan_eval.evaluate`.
    """
    opts, rest = Options.split(options, dict(shared))
    if rest:
        raise TypeError(f"compare() got unexpected keyword argument(s): {', '.join(sorted(rest))}")
    opts = opts if opts.ci is not None else opts.but(ci=0.95)
    level, bootstrap, seed = opts.ci, opts.bootstrap, opts.seed
    started = time.perf_counter()
    specs = get_metrics(metrics)
    refused = [s for s in specs if not s.comparable]  # the record says whether paired replicates support it
    if refused:
        supported = [name for name in available_metrics() if get_metrics([name])[0].comparable]
        raise GanEvalError(f"compare supports {', '.join(supported)}; not "
                           f"{', '.join(f'{s.name} ({metric_label(s.keys[0].key)})' for s in refused)}: "
                           f"a paired comparison needs resampling replicates, which these metrics do not have")
    options = replace(metric_options or MetricOptions(), seed=seed)
    fe = open_extractor(opts)
    source_options = SourceOptions(trust_pickle=opts.trust_pickle, device=fe.device)
    sides = [Side.open(g, "gen", opts.num_samples, source_options) for g in (gen_a, gen_b)]  # validate before work
    if any(s.needs_logits for s in specs) and not fe.has_logits:
        raise GanEvalError(f"the Inception Score needs class logits, which extractor {fe.name!r} does not give")
    cache = open_cache(opts)
    reference = Side.open(real, "real", opts.num_real, SourceOptions(skip_bad_files=opts.skip_bad_files)).features(
        fe, need_features=True, cache=cache, options=opts)
    sets = [s.features(fe, need_features=True, cache=cache, options=opts) for s in sides]
    contexts = [MetricContext(s, reference, options) for s in sets]
    points = [compute_metrics(specs, ctx) for ctx in contexts]

    rng = np.random.default_rng(seed)
    groups = group_count(bootstrap, reference.n, *(s.n for s in sets))
    as_tensor = lambda w: torch.from_numpy(w).to(fe.device, torch.float64)  # noqa: E731
    real_weights = as_tensor(delete_group_weights(group_labels(reference.n, groups, rng), groups))
    resamples = [Resample(as_tensor(delete_group_weights(group_labels(s.n, groups, rng), groups)), real_weights)
                 for s in sets]
    with one_thread_when_small(reference.stats.dim, fe.device):
        reps = [metric_replicates(specs, ctx, rs) for ctx, rs in zip(contexts, resamples)]

    differences: dict[str, Difference] = {}
    for key, rep_a in reps[0].items():
        rep_b = reps[1][key]
        diff = Replicates(rep_b.values - rep_a.values, float("nan"), rep_a.extra_variance + rep_b.extra_variance,
                          rep_a.half_sample_groups)
        value = points[1][key] - points[0][key]
        interval = jackknife_interval(value, diff, level)
        differences[key] = Difference(points[0][key], points[1][key], value, interval,
                                      verdict(metric_direction(key), interval))
    ci = [{k: jackknife_interval(points[i][k], r, level) for k, r in reps[i].items()} for i in range(2)]
    names = tuple(s.description for s in sides)
    provenance = build_provenance(extractor=fe, seed=seed, bootstrap=bootstrap, n_gen=[s.n for s in sets],
                                  n_real=reference.n, gen=[public_side_meta(s.meta) for s in sets],
                                  real=public_side_meta(reference.meta),
                                  metric_options={"pr_k": options.pr_k, "dc_k": options.dc_k, "is_splits": options.is_splits},
                                  started=started)
    return ComparisonResult(names, differences, ci[0], ci[1], level, provenance)
