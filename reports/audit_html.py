"""The audit's files: ``report.html`` (one self-contained page: inline CSS, images as data URIs, no
scripts), one CSV per table and ``summary.json`` — :func:`write_audit`.

Rendering only: every number comes from the :class:`gan_eval.audit.AuditResult`, which the audit
returns without writing anything (the core never imports this package). Plots are drawn with
matplotlib's Agg backend into PNG bytes and embedded as base64 ``data:`` URIs; the Jinja2 template
(``reports/templates/audit.html.j2``) is rendered with autoescaping on, so attribute names, file
names and messages that come from the user cannot inject markup.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gan_eval.errors import GanEvalError
from gan_eval.files import csv_safe_frame, write_text_atomic, xml_legal

if TYPE_CHECKING:  # pandas and torch are only annotations here; the audit result brings them
    import pandas as pd
    import torch

SECTIONS = ("verdict", "findings", "validity", "representation", "joint", "walks", "galleries", "method", "limitations")


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    from gan_eval.reports.text import literal_figure_text

    literal_figure_text(fig)  # attribute names are the user's: shown as written
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _grid_uri(images: torch.Tensor, nrow: int | None = None, scale: int = 2) -> str | None:
    from gan_eval.reports.images import image_grid
    from PIL import Image

    if images is None or images.shape[0] == 0:
        return None
    grid = image_grid(images, nrow=nrow)
    img = Image.fromarray(grid.squeeze(-1) if grid.shape[-1] == 1 else grid)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _fmt(x: Any) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        if math.isnan(x):
            return "–"
        if math.isinf(x):
            return "∞" if x > 0 else "−∞"
        if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
            return f"{x:.2e}"
        return f"{x:.4g}"
    return "" if x is None else str(x)


def _table(df: pd.DataFrame, limit: int | None = None) -> dict[str, Any]:
    shown = df if limit is None else df.head(limit)
    return {"columns": list(df.columns), "rows": [[_fmt(v) for v in row] for row in shown.itertuples(index=False)],
            "total": len(df), "shown": len(shown)}


def _marginal_plots(marginals: pd.DataFrame) -> list[dict[str, str]]:
    import matplotlib.pyplot as plt

    out = []
    for attr, rows in marginals.groupby("attribute", sort=False):
        corrected = rows["p_corrected"].notna().all()
        p = rows["p_corrected"] if corrected else rows["p_generated"]
        lo = rows["p_corrected_lo"] if corrected else rows["p_generated_lo"]
        hi = rows["p_corrected_hi"] if corrected else rows["p_generated_hi"]
        x = np.arange(len(rows))
        fig, ax = plt.subplots(figsize=(max(4.0, 0.55 * len(rows) + 1.5), 2.8))
        ax.bar(x, p, color="#4c78a8", label="generated" + (" (corrected)" if corrected else ""),
               yerr=np.vstack([np.clip(p - lo, 0, None), np.clip(hi - p, 0, None)]), capsize=3)
        ax.scatter(x, rows["p_reference"], color="#e45756", zorder=3, marker="D", label=f"reference ({rows['reference'].iloc[0]})")
        ax.set_xticks(x, [str(v) for v in rows["level"]])
        ax.set_ylabel("proportion")
        ax.set_title(str(attr))
        ax.legend(fontsize=8, loc="best")
        out.append({"attribute": str(attr), "uri": _png(fig)})
    return out


def _confusion_plots(confusions: dict[str, np.ndarray], specs: dict[str, Any]) -> list[dict[str, str]]:
    import matplotlib.pyplot as plt

    out = []
    for attr, counts in confusions.items():
        rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        fig, ax = plt.subplots(figsize=(3.4, 3.0))
        im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        levels = list(specs[attr].levels) if attr in specs else [str(i) for i in range(len(counts))]
        ax.set_xticks(range(len(levels)), levels, fontsize=7)
        ax.set_yticks(range(len(levels)), levels, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{attr}: P(predicted | true)", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046)
        out.append({"attribute": attr, "uri": _png(fig)})
    return out


def _continuous_plot(result: Any) -> str | None:
    import matplotlib.pyplot as plt

    names = [r["attribute"] for r in result.representation.continuous]
    if not names or result.real_decoded is None:
        return None
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.4 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        g, r = result.gen_decoded[name], result.real_decoded[name]
        lo, hi = np.nanpercentile(np.concatenate([g, r]), [0.5, 99.5])
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 40)
        ax.hist(r, bins=bins, density=True, alpha=0.5, color="#e45756", label="real")
        ax.hist(g, bins=bins, density=True, alpha=0.5, color="#4c78a8", label="generated")
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def _correlation_plot(joint: Any) -> str | None:
    import matplotlib.pyplot as plt

    if joint is None or joint.corr_generated is None:
        return None
    names = joint.columns
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.4))
    delta = joint.corr_generated - joint.corr_reference
    for ax, mat, title, cmap in ((axes[0], joint.corr_generated, "generated", "RdBu_r"),
                                 (axes[1], joint.corr_reference, "real", "RdBu_r"),
                                 (axes[2], delta, "generated − real", "PuOr_r")):
        lim = 1.0 if title != "generated − real" else max(0.2, float(np.nanmax(np.abs(delta))))
        im = ax.imshow(np.nan_to_num(mat), cmap=cmap, vmin=-lim, vmax=lim)
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
        ax.set_yticks(range(len(names)), names, fontsize=6)
        ax.set_title(f"correlation: {title}", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return _png(fig)


def _walk_plot(walk: Any, names: list[str], top: int = 3) -> str:
    """The course's regplot, done with binned means: Δtarget (x) vs Δother (y) for the top attributes."""
    import matplotlib.pyplot as plt

    t = names.index(walk.target)
    others = [r for r in walk.rows if not r["same_attribute"]][:top] or walk.rows[:top]
    fig, axes = plt.subplots(1, max(1, len(others)), figsize=(3.4 * max(1, len(others)), 2.7), squeeze=False)
    x = walk.changes[:, :, t].ravel()
    edges = np.unique(np.quantile(x, np.linspace(0, 1, 21)))
    for ax, row in zip(axes.ravel(), others):
        y = walk.changes[:, :, names.index(row["other"])].ravel()
        idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
        xm = np.array([x[idx == b].mean() for b in range(len(edges) - 1) if (idx == b).any()])
        ym = np.array([y[idx == b].mean() for b in range(len(edges) - 1) if (idx == b).any()])
        ax.scatter(x, y, s=3, alpha=0.15, color="#999999")
        ax.plot(xm, ym, "o-", color="#4c78a8", ms=3)
        xs = np.array([x.min(), x.max()])
        ax.plot(xs, row["slope"] * (xs - x.mean()) + y.mean(), color="#e45756", lw=1)
        ax.set_xlabel(f"Δ {walk.target}", fontsize=8)
        ax.set_ylabel(f"Δ {row['other']}", fontsize=8)
        ax.set_title(f"slope {row['slope']:+.3g} [{row['slope_lo']:+.3g}, {row['slope_hi']:+.3g}]", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _png(fig)


def _strip_uri(strip: torch.Tensor) -> str | None:
    if strip is None or strip.shape[0] == 0:
        return None
    frames = strip.shape[1]
    return _grid_uri(strip.reshape(-1, *strip.shape[2:]), nrow=frames, scale=2)


def render_audit_html(result: Any) -> str:
    """Render the report of an :class:`~gan_eval.audit.AuditResult` to an HTML string."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from jinja2 import Environment, select_autoescape

    template_text = resources.files("gan_eval.reports").joinpath("templates/audit.html.j2").read_text(encoding="utf-8")
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True), trim_blocks=True,
                      lstrip_blocks=True)
    template = env.from_string(template_text)
    s = result.summary
    specs = {a.name: a for a in result.attributes.attributes}
    tables = result.tables
    walks = []
    for w in result.walks:
        df = tables["walks"][tables["walks"]["target"] == w.target]
        walks.append({"target": w.target, "mode": w.mode, "info": {k: _fmt(v) for k, v in w.info.items()},
                      "table": _table(df.drop(columns=["target"]), 12), "plot": _walk_plot(w, result.attributes.score_names),
                      "strip": _strip_uri(w.strip), "steps": w.info.get("steps")})
    corr = tables["correlations"]
    if len(corr):
        corr = corr.reindex(corr["corr_delta"].abs().sort_values(ascending=False).index)
    amp = tables["bias_amplification"]
    if len(amp):
        amp = amp.reindex(amp["bias_amp"].abs().sort_values(ascending=False).index)
    galleries = [{"title": k, "uri": _grid_uri(v, nrow=8 if k in ("generated", "real") else None)}
                 for k, v in result.gallery.items()]
    prov = s["provenance"]
    context = {
        "verdict": s["verdict"], "findings": s["findings"], "notes": s.get("notes", []), "provenance": prov,
        "counts": {st: sum(f["status"] == st for f in s["findings"]) for st in ("FAIL", "WARN", "PASS", "INFO")},
        "validity": _table(tables["validity"]), "confusion_plots": _confusion_plots(result.representation.confusions, specs),
        "marginals": _table(tables["marginals"]), "marginal_plots": _marginal_plots(tables["marginals"]),
        "distances": _table(tables["distances"]), "continuous": _table(tables["continuous"]),
        "continuous_plot": _continuous_plot(result), "correlations": _table(corr, 20),
        "bias_amplification": _table(amp, 20), "correlation_plot": _correlation_plot(result.joint),
        "walks": walks, "galleries": [g for g in galleries if g["uri"]],
        "extractors": prov.get("attribute_extractors", []), "thresholds": prov.get("thresholds", {}),
        "metrics": {k: _fmt(v) for k, v in s["metrics"].items()}, "sections": SECTIONS,
    }
    return xml_legal(template.render(**context))  # a control character in an attribute name is no markup


def write_audit(result: Any, directory: str | os.PathLike) -> Path:
    """Write ``report.html``, one CSV per table and ``summary.json`` of an audit into ``directory``.

    All contents are rendered in memory first; each file is then written atomically, so a failure
    never leaves a half-written file. CSV text cells that a spreadsheet would run as a formula (``=``,
    ``+``, ``-``, ``@``, tab, CR first) get a leading ``'``; numbers are written as they are. ``summary.json`` is the result's :meth:`~gan_eval.audit.AuditResult.to_dict`
    (strict JSON: NaN and infinities become null). Returns the directory.
    """
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise GanEvalError(f"output {out} exists and is not a directory")
    html = render_audit_html(result)
    texts = {f"{name}.csv": csv_safe_frame(df).to_csv(index=False) for name, df in result.tables.items()}
    texts["summary.json"] = json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n"
    texts["report.html"] = html
    out.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        write_text_atomic(out / name, text)
    return out
