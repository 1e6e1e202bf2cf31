"""Writing a truncation sweep: CSV and JSON tables, a PNG/SVG plot, sample strips, one HTML page.

``write_sweep(result, out_dir)`` produces::

    out_dir/sweep.csv          one row per ψ (columns below)
    out_dir/sweep.json         the same numbers, the truncation kind and ψ's meaning, provenance
    out_dir/sweep.png, .svg    precision vs recall (points labelled by ψ) | FID (and IS) vs ψ
    out_dir/strips/psi_<ψ>.png one sample strip per ψ (same seed, so the same latents)
    out_dir/index.html         self-contained: table, plot, strips and provenance inlined
                               (data: URIs, inline CSS, no scripts, no external URLs)

CSV columns: ``psi`` (the value, or ``none``), then every metric value in the result
(``fid``, ``precision``, ``recall``, ``density``, ``coverage``, ``is_mean``, ``is_std``, ``kid_mean``,
``kid_std``, as computed), then ``<metric>_ci_lo``/``<metric>_ci_hi`` when intervals were computed,
then ``n_gen`` and ``wall_time_s``. Floats are written at full precision.

Everything is rendered in memory first; only then is each file written atomically, so a failure
while rendering leaves no file behind and a reader never sees a half-written file.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
from gan_eval.reports.images import image_grid

from gan_eval.errors import GanEvalError
from gan_eval.files import atomic_path, csv_safe_frame, write_text_atomic
from gan_eval.reports.text import terminal_safe
from gan_eval.metrics import metric_direction, metric_label, metric_short_label
from gan_eval.result import SWEEP_SCHEMA
from gan_eval.sweep import PSI_MEANING, SweepResult, format_psi

_STRIP_NAME = re.compile(r"^psi_.+\.png$")


def strip_filename(psi: float | None) -> str:
    """``strips/`` file name of a ψ: ``psi_0.5.png``, ``psi_none.png``."""
    return f"psi_{format_psi(psi)}.png"


def sweep_columns(result: SweepResult) -> list[str]:
    """The CSV columns, in order (see the module docstring)."""
    keys = result.metric_keys
    ci_keys = [k for k in keys if any(k in row.ci for row in result.rows)]
    return ["psi", *keys, *[f"{k}_ci_{end}" for k in ci_keys for end in ("lo", "hi")], "n_gen", "wall_time_s"]


def sweep_records(result: SweepResult) -> list[dict[str, Any]]:
    """One flat dict per ψ with exactly :func:`sweep_columns` (missing values are ``None``)."""
    records = []
    for row in result.rows:
        record: dict[str, Any] = {"psi": format_psi(row.psi) if row.psi is None else row.psi}
        record.update({k: row.metrics.get(k) for k in result.metric_keys})
        for key, (lo, hi) in row.ci.items():
            record[f"{key}_ci_lo"], record[f"{key}_ci_hi"] = lo, hi
        record.update(n_gen=row.n_gen, wall_time_s=row.wall_time_s)
        records.append({c: record.get(c) for c in sweep_columns(result)})
    return records


def sweep_csv(result: SweepResult) -> str:
    import pandas as pd

    frame = pd.DataFrame(sweep_records(result), columns=sweep_columns(result))
    return csv_safe_frame(frame).to_csv(index=False, lineterminator="\n")


def sweep_document(result: SweepResult) -> dict[str, Any]:
    """The ``sweep.json`` document."""
    return {
        "schema": SWEEP_SCHEMA,
        "truncation": {"kind": result.truncation_kind, "meaning": PSI_MEANING[result.truncation_kind]},
        "ci_level": result.ci_level,
        "columns": sweep_columns(result),
        "rows": [
            {"psi": row.psi, "label": row.label, "metrics": dict(row.metrics),
             **({"ci": {k: list(v) for k, v in row.ci.items()}} if row.ci else {}),
             "n_gen": row.n_gen, "wall_time_s": row.wall_time_s, "strip": f"strips/{strip_filename(row.psi)}"
             if row.strip is not None else None, "warnings": row.warnings}
            for row in result.rows
        ],
        "provenance": result.provenance,
    }


def format_sweep_table(result: SweepResult) -> str:
    """The terminal table: one line per ψ, then the truncation kind and the reference."""
    keys = [k for k in result.metric_keys if k not in ("is_std", "kid_std")]
    header = f"{'psi':>6}  " + "  ".join(f"{metric_short_label(k):>9}" for k in keys) + f"  {'time s':>7}"
    lines = [header, "-" * len(header)]
    for row in result.rows:
        cells = []
        for key in keys:
            value = row.metrics.get(key)
            text = "—" if value is None else (f"{value:.4f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.2e}")
            if key in row.ci:
                text += "*"
            cells.append(f"{text:>9}")
        lines.append(f"{row.label:>6}  " + "  ".join(cells) + f"  {row.wall_time_s:>7.2f}")
    p = result.provenance
    lines.append("")
    lines.append(f"truncation: {result.truncation_kind} ({PSI_MEANING[result.truncation_kind]}); same seed for every psi")
    lines.append(f"generated: {terminal_safe(p.get('gen'))} (N={p.get('n_gen')} per psi); "
                 f"real: {terminal_safe((p.get('real') or {}).get('source'))} "
                 f"(N={p.get('n_real')}, extracted once)")
    lines.append(f"extractor: {p.get('extractor')} (weights sha256 {(p.get('weights_sha256') or '')[:12]}…); "
                 f"device {p.get('device')}; seed {p.get('seed')}")
    if result.ci_level is not None:
        lines.append(f"* interval at level {result.ci_level} in sweep.csv/sweep.json")
    return "\n".join(lines)


# --- plot ----------------------------------------------------------------------------------------


def _x_positions(result: SweepResult) -> tuple[list[float], list[str]]:
    """Numeric x for "metric vs ψ": ψ itself; ``none`` one step right of the largest ψ."""
    finite = sorted(r.psi for r in result.rows if r.psi is not None)
    step = (finite[-1] - finite[0]) / max(len(finite) - 1, 1) if len(finite) > 1 else 1.0
    none_x = (finite[-1] + (step or 1.0)) if finite else 0.0
    xs = [none_x if r.psi is None else float(r.psi) for r in result.rows]
    return xs, [r.label for r in result.rows]


def _errors(result: SweepResult, key: str, order: list[int]) -> np.ndarray | None:
    if not all(key in result.rows[i].ci for i in order):
        return None
    values = [result.rows[i].metrics[key] for i in order]
    bounds = [result.rows[i].ci[key] for i in order]
    return np.array([[max(v - lo, 0.0) for v, (lo, _) in zip(values, bounds)],
                     [max(hi - v, 0.0) for v, (_, hi) in zip(values, bounds)]])


def render_plot(result: SweepResult) -> tuple[bytes, str]:
    """(PNG bytes, SVG text) of the two-panel fidelity–diversity figure."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    from gan_eval.reports.text import literal_figure_text

    keys = result.metric_keys
    has_pr = "precision" in keys and "recall" in keys
    curves = [k for k in ("fid", "is_mean", "kid_mean") if k in keys]
    panels = int(has_pr) + len(curves)
    if panels == 0:
        raise GanEvalError("nothing to plot: the sweep has neither precision/recall nor FID, IS or KID")
    fig = Figure(figsize=(4.6 * panels, 4.0), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    xs, labels = _x_positions(result)
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    panel = 0
    if has_pr:
        ax = axes[panel]
        panel += 1
        rec = [result.rows[i].metrics["recall"] for i in order]
        prec = [result.rows[i].metrics["precision"] for i in order]
        ax.errorbar(rec, prec, xerr=_errors(result, "recall", order), yerr=_errors(result, "precision", order),
                    marker="o", color="tab:blue", capsize=3, linewidth=1)
        for r, p, i in zip(rec, prec, order):
            ax.annotate(f"ψ={labels[i]}", (r, p), textcoords="offset points", xytext=(5, 5), fontsize=8)
        ax.set(xlabel="recall (diversity)", ylabel="precision (fidelity)", title="precision vs recall",
               xlim=(-0.05, 1.05), ylim=(-0.05, 1.05))
        ax.grid(alpha=0.3)
    for key in curves:
        name = metric_label(key).split(" (")[0]  # "Inception Score (mean)" -> "Inception Score"
        better = " (lower is better)" if metric_direction(key) == -1 else ""
        ax = axes[panel]
        panel += 1
        ax.errorbar([xs[i] for i in order], [result.rows[i].metrics[key] for i in order],
                    yerr=_errors(result, key, order), marker="o", color="tab:red" if key == "fid" else "tab:green",
                    capsize=3, linewidth=1)
        ax.set_xticks([xs[i] for i in order], [labels[i] for i in order])
        ax.set(xlabel=f"ψ ({result.truncation_kind})", ylabel=name + better, title=f"{name} vs ψ")
        ax.grid(alpha=0.3)
    fig.suptitle(f"Truncation sweep: {result.provenance.get('arch', '')}, {result.provenance.get('extractor', '')} "
                 f"features, N={result.provenance.get('n_gen')}", fontsize=10)
    literal_figure_text(fig)  # the architecture and names are the user's: shown as written, legal in SVG
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=110)
    svg = io.StringIO()
    fig.savefig(svg, format="svg", metadata={"Date": None})
    return png.getvalue(), svg.getvalue()


def _png_bytes(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array).save(buffer, format="PNG")
    return buffer.getvalue()


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# --- HTML ----------------------------------------------------------------------------------------

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Truncation sweep: {{ gen }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
.strip { display: flex; align-items: center; gap: 1em; margin: 0.4em 0; }
.strip span { width: 6em; text-align: right; font-weight: bold; }
.strip img { image-rendering: pixelated; height: 64px; }
img.plot { max-width: 100%; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; font-size: 0.9em; }
dt { font-weight: bold; } dd { margin: 0; word-break: break-all; }
</style>
</head>
<body>
<h1>Truncation sweep</h1>
<p>Generator <code>{{ gen }}</code> ({{ arch }}) against <code>{{ real }}</code>, {{ extractor }} features,
N = {{ n_gen }} generated images per ψ and {{ n_real }} real images (extracted once).
Truncation kind <code>{{ kind }}</code>: {{ meaning }}. Every ψ uses the same seed ({{ seed }}),
so rows and strips show the same latents truncated differently.</p>
<h2>Metrics</h2>
<table>
<tr>{% for c in header %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in table %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</table>
{% if ci_level %}<p>Intervals at level {{ ci_level }} shown as [lo, hi].</p>{% endif %}
<p>Precision/recall: Kynkäänniemi et al. 2019 (k = {{ pr_k }}); density/coverage: Naeem et al. 2020 (k = {{ dc_k }}).</p>
<h2>Fidelity–diversity</h2>
<img class="plot" alt="precision vs recall and metrics vs psi" src="{{ plot_uri }}">
<h2>Samples</h2>
{% for s in strips %}<div class="strip"><span>ψ = {{ s.label }}</span><img alt="samples at psi {{ s.label }}" src="{{ s.uri }}"></div>
{% endfor %}
<h2>Provenance</h2>
<dl>
{% for key, value in provenance %}<dt>{{ key }}</dt><dd>{{ value }}</dd>
{% endfor %}</dl>
</body>
</html>
"""


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.3e}"
    return str(value)


def render_html(result: SweepResult, plot_png: bytes, strip_pngs: dict[str, bytes]) -> str:
    """The self-contained page (jinja2 with autoescape: every user-given string is escaped)."""
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    keys = result.metric_keys
    header = ["ψ", *[metric_short_label(k) for k in keys], "time (s)"]
    table = []
    for row in result.rows:
        cells = [row.label]
        for key in keys:
            text = _cell(row.metrics.get(key))
            if key in row.ci:
                lo, hi = row.ci[key]
                text += f" [{_cell(lo)}, {_cell(hi)}]"
            cells.append(text)
        cells.append(f"{row.wall_time_s:.2f}")
        table.append(cells)
    p = result.provenance
    strips = [{"label": row.label, "uri": _data_uri(strip_pngs[row.label])} for row in result.rows
              if row.label in strip_pngs]
    flat = [(k, json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else str(v)) for k, v in p.items()]
    options = p.get("metric_options") or {}
    return env.from_string(_TEMPLATE).render(
        gen=p.get("gen"), arch=p.get("arch"), real=(p.get("real") or {}).get("source"), extractor=p.get("extractor"),
        n_gen=p.get("n_gen"), n_real=p.get("n_real"), kind=result.truncation_kind,
        meaning=PSI_MEANING[result.truncation_kind], seed=p.get("seed"), header=header, table=table,
        ci_level=result.ci_level, pr_k=options.get("pr_k"), dc_k=options.get("dc_k"), plot_uri=_data_uri(plot_png),
        strips=strips, provenance=flat,
    )


def write_sweep(result: SweepResult, out_dir: str | Path) -> dict[str, Path]:
    """Render every output in memory, then write each file atomically; returns name → path.

    Stale ``strips/psi_*.png`` from an earlier sweep into the same folder are removed, so the folder
    describes exactly this sweep.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise GanEvalError(f"{out} exists and is not a folder")
    if not result.rows:
        raise GanEvalError("the sweep has no rows")
    for value in (v for row in result.rows for v in row.metrics.values()):
        if not isinstance(value, (int, float)) or math.isnan(value):
            raise GanEvalError(f"the sweep holds a non-numeric metric value {value!r}")
    csv_text = sweep_csv(result)
    json_text = json.dumps(sweep_document(result), indent=2, ensure_ascii=False) + "\n"
    plot_png, plot_svg = render_plot(result)
    strip_pngs = {row.label: _png_bytes(image_grid(row.strip, nrow=row.strip.shape[0]))
                  for row in result.rows if row.strip is not None and row.strip.shape[0] > 0}
    html = render_html(result, plot_png, strip_pngs)

    written: dict[str, Path] = {}
    texts = {"sweep.csv": csv_text, "sweep.json": json_text, "sweep.svg": plot_svg}
    blobs = {"sweep.png": plot_png, **{f"strips/{strip_filename(row.psi)}": strip_pngs[row.label]
                                       for row in result.rows if row.label in strip_pngs}}
    for name, text in texts.items():
        write_text_atomic(out / name, text)
        written[name] = out / name
    for name, blob in blobs.items():
        with atomic_path(out / name, suffix=".png") as tmp:
            tmp.write_bytes(blob)
        written[name] = out / name
    strips_dir = out / "strips"
    if strips_dir.is_dir():
        for stale in strips_dir.iterdir():
            if _STRIP_NAME.match(stale.name) and f"strips/{stale.name}" not in written:
                stale.unlink()
    write_text_atomic(out / "index.html", html)  # last: the page appears only when everything it describes exists
    written["index.html"] = out / "index.html"
    return written
