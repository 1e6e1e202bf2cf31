"""A plain-text table of an evaluation result, for the terminal."""

from __future__ import annotations

from typing import Any

LABELS = {
    "fid": "FID",
    "is_mean": "Inception Score (mean)",
    "is_std": "Inception Score (std over splits)",
    "kid_mean": "KID (mean)",
    "kid_std": "KID (std over subsets)",
    "precision": "Precision",
    "recall": "Recall",
    "density": "Density",
    "coverage": "Coverage",
    "l1": "L1 to paired target ([0,1] scale)",
    "psnr": "PSNR to paired target (dB)",
    "ssim": "SSIM to paired target",
    "fid_inf": "FID∞ (extrapolated to infinite N)",
    "is_inf": "IS∞ (extrapolated to infinite N)",
}


def _label(key: str) -> str:
    for prefix, text in (("fid_class_mean", "intra-class FID (mean over classes)"), ("fid_class_", "FID of class "),
                         ("class_accuracy_", "conditioning accuracy, class "), ("class_share_", "share read as class ")):
        if key.startswith(prefix):
            return text + key[len(prefix):]
    return LABELS.get(key, {"class_balance_tv": "class balance: TV distance from uniform"}.get(key, key))


def _format_value(value: float) -> str:
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.4e}"
    return f"{value:.6g}" if abs(value) >= 1000 else f"{value:.6f}"


def format_result_table(result: Any) -> str:
    """Metrics with labels, then the provenance a reader needs to compare numbers (N, extractor, seed)."""
    metrics: dict[str, float] = result.metrics
    p: dict[str, Any] = result.provenance
    intervals: dict[str, list[float]] = getattr(result, "ci", None) or {}
    width = max(len(_label(k)) for k in metrics) if metrics else 10
    if intervals:
        level = (getattr(result, "ci_info", None) or {}).get("level", 0.95)
        head = f"{'metric':<{width}}  {'value':<12}  {level:.0%} interval"
        lines = [head, f"{'-' * width}  {'-' * 12}  {'-' * 26}"]
        for k, v in metrics.items():
            lo_hi = intervals.get(k)
            span = f"[{_format_value(lo_hi[0])}, {_format_value(lo_hi[1])}]" if lo_hi else ""
            lines.append(f"{_label(k):<{width}}  {_format_value(v):<12}  {span}".rstrip())
    else:
        lines = [f"{'metric':<{width}}  value", f"{'-' * width}  {'-' * 12}"]
        lines += [f"{_label(k):<{width}}  {_format_value(v)}" for k, v in metrics.items()]
    real = p.get("real") or {}
    gen = p.get("gen") or {}
    lines.append("")
    lines.append(f"generated: {gen.get('source', '?')} (N={p.get('n_gen')})")
    if real:
        cache = f", cache {real['cache']}" if real.get("cache") else ""
        lines.append(f"real:      {real.get('source', '?')} (N={p.get('n_real')}{cache})")
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
    if intervals and info.get("replicates"):
        lines.append(f"intervals: {info.get('replicates')} bootstrap resamples of the extracted features "
                     f"(seed {info.get('seed')}); see `ci_info` in --json")
    if "fid_inf" in metrics or "is_inf" in metrics:
        lines.append("FID∞/IS∞: linear fit against 1/N over random subsets (Chong & Forsyth 2020); interval from the fit")
    return "\n".join(lines)
