"""Plain-text tables for the terminal: an evaluation result and a paired comparison.

Labels come from the metric records (:func:`gan_eval.metrics.metric_label`), so a new metric, a
plug-in's included, is labelled where it is defined.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gan_eval.metrics import metric_label
from gan_eval.reports.text import terminal_safe

if TYPE_CHECKING:
    from gan_eval.compare import ComparisonResult


def format_value(value: float) -> str:
    """A metric value for a table: 6 decimals, scientific below 1e-3, 6 significant digits from 1000."""
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.4e}"
    return f"{value:.6g}" if abs(value) >= 1000 else f"{value:.6f}"


def format_result_table(result: Any) -> str:
    """Metrics with labels, then the provenance a reader needs to compare numbers (N, extractor, seed)."""
    metrics: dict[str, float] = result.metrics
    p: dict[str, Any] = result.provenance
    intervals: dict[str, list[float]] = getattr(result, "ci", None) or {}
    width = max(len(metric_label(k)) for k in metrics) if metrics else 10
    if intervals:
        level = (getattr(result, "ci_info", None) or {}).get("level", 0.95)
        head = f"{'metric':<{width}}  {'value':<12}  {level:.0%} interval"
        lines = [head, f"{'-' * width}  {'-' * 12}  {'-' * 26}"]
        for k, v in metrics.items():
            lo_hi = intervals.get(k)
            span = f"[{format_value(lo_hi[0])}, {format_value(lo_hi[1])}]" if lo_hi else ""
            lines.append(f"{metric_label(k):<{width}}  {format_value(v):<12}  {span}".rstrip())
    else:
        lines = [f"{'metric':<{width}}  value", f"{'-' * width}  {'-' * 12}"]
        lines += [f"{metric_label(k):<{width}}  {format_value(v)}" for k, v in metrics.items()]
    real = p.get("real") or {}
    gen = p.get("gen") or {}
    lines.append("")
    lines.append(f"generated: {terminal_safe(gen.get('source', '?'))} (N={p.get('n_gen')})")
    if real:
        cache = f", cache {real['cache']}" if real.get("cache") else ""
        lines.append(f"real:      {terminal_safe(real.get('source', '?'))} (N={p.get('n_real')}{cache})")
    weights = (p.get("weights_sha256") or "")[:12]
    lines.append(f"extractor: {p.get('extractor')} (weights sha256 {weights}…, {p.get('weights_origin')}); "
                 f"device {p.get('device')}; seed {p.get('seed')}")
    opts = p.get("metric_options", {})
    notes = []
    if "precision" in metrics:
        notes.append(f"P/R k={opts.get('pr_k')} ({opts.get('pr_inside')})")
    if "density" in metrics:
        notes.append(f"D/C k={opts.get('dc_k')} ({opts.get('dc_inside')})")
    if "kid_mean" in metrics:
        notes.append(f"KID {opts.get('kid_subsets')}×{opts.get('kid_subset_size')}")
    if "is_mean" in metrics:
        notes.append(f"IS {opts.get('is_splits')} splits")
    if notes:
        lines.append("conventions: " + "; ".join(notes))
    info = getattr(result, "ci_info", {}) or {}
    if intervals and info.get("groups"):
        lines.append(f"intervals: {info.get('method')}, {info.get('groups')} groups per side, from the extracted "
                     f"features (seed {info.get('seed')}); each targets the mean of its estimator at this N "
                     f"(FID∞/IS∞: the population value); see `ci_info` in --json")
    if "fid_inf" in metrics or "is_inf" in metrics:
        lines.append("FID∞/IS∞: linear fit against 1/N over random subsets (Chong & Forsyth 2020); interval from the "
                     "fit (FID∞ with real features: widened by FID's jackknife variance)")
    return "\n".join(lines)


def format_comparison(result: ComparisonResult) -> str:
    """Terminal table of a paired comparison: A, B, B − A with its interval, and the verdict for B."""
    width = max([len(metric_label(k)) for k in result.differences] + [6])
    head = f"{'metric':<{width}}  {'A':>12}  {'B':>12}  {'B - A':>12}  {result.level:.0%} interval of B - A      verdict for B"
    lines = [f"A: {terminal_safe(result.names[0])}", f"B: {terminal_safe(result.names[1])}", "", head, "-" * len(head)]
    for key, d in result.differences.items():
        span = f"[{format_value(d.interval[0])}, {format_value(d.interval[1])}]"
        lines.append(f"{metric_label(key):<{width}}  {format_value(d.a):>12}  {format_value(d.b):>12}  "
                     f"{format_value(d.value):>12}  {span:<27}  {d.verdict}")
    p = result.provenance
    lines += ["", f"reference: {terminal_safe(p['real'].get('source'))} (N={p['n_real']}), shared by both; "
                  f"generated N={p['n_gen']}",
              f"extractor: {p.get('extractor')}; intervals: paired delete-a-group jackknife, the reference's groups "
              f"shared by A and B (--bootstrap {p['bootstrap']}, seed {p['seed']})"]
    return "\n".join(lines)
