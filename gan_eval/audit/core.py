"""``gan_eval.audit(...)``: the bias and covariance audit of a generator, end to end.

Flow (one direction): generated and real images → attribute scores (every extractor, once per
image) → representation, joint structure and latent walks → findings and a verdict → an
:class:`AuditResult`, data only. Rendering lives in the reports package:
``write_audit(result, dir)`` in the reports package's ``audit_html`` writes ``report.html``, the CSV tables and
``summary.json``. Everything is validated and computed before the first file is written.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gan_eval.attributes.base import AttributeSet, create_attribute_set
from gan_eval.audit import joint as joint_mod
from gan_eval.audit import representation as rep_mod
from gan_eval.audit.verdict import (
    FAIL,
    PASS,
    WARN,
    Thresholds,
    finding,
    findings,
    verdict,
)
from gan_eval.audit.walks import Walk, latent_model, run_walk
from gan_eval.errors import GanEvalError
from gan_eval.options import Options
from gan_eval.result import AUDIT_SCHEMA, RESULT_SCHEMA, build_provenance
from gan_eval.side import Side
from gan_eval.sources import GeneratorSource, SourceOptions

if TYPE_CHECKING:
    import pandas as pd

# summary.json is also a result document (RESULT_SCHEMA), so `gan-eval gate` rules apply to it.
#: Generated images an audit draws when ``num_samples`` is not given.
DEFAULT_AUDIT_SAMPLES = 2000
TABLES = ("marginals", "distances", "continuous", "validity", "correlations", "bias_amplification", "walks", "findings")


@dataclass
class AuditResult:
    """Everything an audit found. ``summary`` is what ``summary.json`` holds; ``tables`` the CSVs.

    Data only: the reports package's ``audit_html`` renders it (``render_audit_html``, ``write_audit``).
    """

    summary: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    representation: rep_mod.Representation
    joint: joint_mod.Joint | None
    walks: list[Walk]
    attributes: AttributeSet
    gallery: dict[str, torch.Tensor] = field(default_factory=dict)
    gen_decoded: dict[str, np.ndarray] = field(default_factory=dict)
    real_decoded: dict[str, np.ndarray] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return self.summary["verdict"]

    @property
    def findings(self) -> list[dict[str, Any]]:
        return self.summary["findings"]

    def to_dict(self) -> dict[str, Any]:
        """The ``summary.json`` document as plain JSON (numpy scalars to Python, NaN/inf to null)."""
        return _jsonable(self.summary)


def _jsonable(x: Any) -> Any:
    """Plain JSON: numpy scalars to Python, NaN/inf to null (strict JSON has no NaN)."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def _key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")


def _load_reference(reference: Any) -> tuple[str, dict[str, dict[str, float]] | None]:
    """``"real"``, ``"uniform"``, a mapping ``{attribute: {level: p}}`` or a JSON file holding one."""
    if reference in ("real", "uniform", None):
        return reference or "real", None
    if isinstance(reference, (str, os.PathLike)):
        path = Path(reference)
        if not path.is_file():
            raise GanEvalError(f"--reference must be real, uniform or a JSON file of target proportions; {path} does not exist")
        try:
            reference = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise GanEvalError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(reference, Mapping) or not all(isinstance(v, Mapping) for v in reference.values()):
        raise GanEvalError('target proportions must map attribute -> {level: proportion}, e.g. {"digit": {"0": 0.1, ...}}')
    targets: dict[str, dict[str, float]] = {}
    for attr, levels in reference.items():
        try:
            values = {str(k): float(v) for k, v in levels.items()}
        except (TypeError, ValueError):
            raise GanEvalError(f"target proportions for {attr!r} must be numbers") from None
        if any(v < 0 or not math.isfinite(v) for v in values.values()) or sum(values.values()) <= 0:
            raise GanEvalError(f"target proportions for {attr!r} must be ≥ 0 and not all 0")
        targets[str(attr)] = values
    return "target", targets


def _collect(source: Any, n: int, batch_size: int, seed: int, workers: int = 0,
             progress: bool | None = None) -> torch.Tensor:
    from gan_eval.pipeline import progress_lines

    lines = progress_lines(n, f"audit: {source.description}", progress)
    batches = []
    for batch in source.iter_batches(n, batch_size, seed, workers=workers):
        batches.append(batch.cpu())
        if lines is not None:
            lines.update(batch.shape[0])
    return torch.cat(batches)[:n] if batches else torch.zeros(0, 3, 1, 1, dtype=torch.uint8)


def _measure(attrs: AttributeSet, images: torch.Tensor, batch_size: int, label: str,
             progress: bool | None = None) -> np.ndarray:
    """``attrs.measure(images)``, in slices of whole batches (the same batches, so the same scores) so that
    a log gets a progress line every 10 s."""
    from gan_eval.pipeline import progress_lines

    lines = progress_lines(images.shape[0], label, progress)
    if lines is None:
        return attrs.measure(images, batch_size)
    step = max(1, batch_size) * 4
    parts = []
    for start in range(0, images.shape[0], step):
        parts.append(attrs.measure(images[start:start + step], batch_size))
        lines.update(min(step, images.shape[0] - start))
    return np.concatenate(parts, axis=0)


def audit(gen: Any, real: Any = None, attributes: str | list[str] = "digits,morphometry",
          options: Options | None = None, *,
          classifier: str | None = None, reference: Any = "real", walk_targets: list[str] | str | None = None,
          walks: bool = True, walk_images: int = 64, walk_steps: int = 8, walk_step_size: float = 0.25,
          walk_mode: str = "auto", thresholds: Mapping[str, Any] | Thresholds | None = None,
          rules: str | os.PathLike | None = None, truncation: float | None = None, label: int | None = None,
          validation: tuple[str | os.PathLike, str | os.PathLike] | None = None,
          log: Callable[[str], None] | None = None, **shared: Any) -> AuditResult:
    """Audit generator ``gen`` for representation bias and attribute entanglement.

    ``gen``/``real`` take the same specs as :func:`gan_eval.evaluate` (checkpoints, ``builtin:NAME``,
    directories, arrays, ``package.module:function``). ``attributes`` names attribute extractors
    (``digits``, ``morphometry``, ``classifier:PATH``, plug-ins); ``classifier`` adds one. The
    reference distribution is ``"real"`` (the same extractors on ``real``), ``"uniform"`` or target
    proportions ``{attribute: {level: p}}`` (or a JSON file of them). ``walk_targets`` are score
    names to walk along (default: the level with the largest representation gap in gradient mode
    and the most shifted continuous attribute in boundary mode). ``thresholds`` override
    :class:`Thresholds`; ``rules`` is a ``gan-eval gate`` TOML file judged on ``summary["metrics"]``.
    ``validation`` is ``(image_dir, labels_csv)`` of labelled real images: their confusion matrices
    replace the extractors' own for the attributes the CSV names (needed to correct proportions of a
    classifier that carries no held-out counts, such as the course's imported one).

    ``options`` (or the same names as keywords) as for :func:`gan_eval.evaluate`: ``num_samples``
    (default: all of a finite source, :data:`DEFAULT_AUDIT_SAMPLES` from a generator), ``num_real``, ``seed``, ``batch_size``, ``bootstrap``,
    ``device``, ``trust_pickle``; ``ci`` is the interval level (default 0.95: an audit always has intervals).
    """
    opts, rest = Options.split(options, dict(shared))
    if rest:
        raise TypeError(f"audit() got unexpected keyword argument(s): {', '.join(sorted(rest))}")
    num_real, seed, batch_size, bootstrap = opts.num_real, opts.seed, opts.batch_size, opts.bootstrap
    level = opts.ci if opts.ci is not None else 0.95
    device, trust_pickle = opts.device, opts.trust_pickle
    started = time.time()
    say = log or (lambda _msg: None)
    # --- validate everything before any heavy work or any file --------------------------------------
    thr = thresholds if isinstance(thresholds, Thresholds) else Thresholds.from_overrides(dict(thresholds or {}))
    if walk_mode not in ("auto", "gradient", "boundary"):
        raise GanEvalError("walk mode must be auto, gradient or boundary")
    if walk_steps < 1 or walk_images < 4 or not walk_step_size > 0:
        raise GanEvalError("walks need ≥ 1 step, ≥ 4 images and a positive step size")
    gate_rules = _load_gate_rules(rules) if rules else None
    ref_kind, targets = _load_reference(reference)
    specs = [s.strip() for s in attributes.split(",")] if isinstance(attributes, str) else list(attributes)
    specs = [s for s in specs if s]
    if classifier:
        specs.append(f"classifier:{classifier}")
    from gan_eval.pipeline import resolve_device

    dev = resolve_device(device)
    attrs = create_attribute_set(specs, dev)
    if targets:
        known = {a.name: a for a in attrs.attributes}
        for attr, levels in targets.items():
            if attr not in known or known[attr].kind == "continuous":
                raise GanEvalError(f"target proportions given for {attr!r}, which is not a categorical attribute here")
            extra = set(levels) - set(known[attr].levels)
            if extra:
                raise GanEvalError(f"target proportions for {attr!r} name unknown level(s) {', '.join(sorted(extra))}")
    if validation is not None:
        _read_validation_labels(attrs, *validation)  # checked now; measured after the cheap checks
    if isinstance(walk_targets, str):
        walk_targets = [t.strip() for t in walk_targets.split(",") if t.strip()]
    for t in walk_targets or []:
        if t not in attrs.score_names:
            raise GanEvalError(f"walk target {t!r} is not a score; available: {', '.join(attrs.score_names)}")
    options = SourceOptions(trust_pickle=trust_pickle, truncation=truncation, label=label, device=dev)
    gen_side = Side.open(gen, "gen", opts.num_samples, options)  # None: all of a finite source
    if opts.num_samples is None and gen_side.source.length is None:
        gen_side.num_samples = DEFAULT_AUDIT_SAMPLES  # a generator: the audit's own default
    gen_source, n_gen = gen_side.source, gen_side.num_samples
    real_side = Side.open(real, "real", num_real, SourceOptions(trust_pickle=trust_pickle)) if real is not None else None
    if real_side is not None and real_side.is_statistics:
        raise GanEvalError(f"{real} is a statistics file; the audit measures attributes on real images")
    real_source = real_side.source if real_side is not None else None
    if real_source is None and ref_kind == "real":
        ref_kind = "uniform"
    n_real = real_side.num_samples if real_side is not None else 0
    model = latent_model(gen_source.model) if isinstance(gen_source, GeneratorSource) else None

    # --- measure --------------------------------------------------------------------------------------
    say(f"sampling {n_gen} generated images from {gen_source.description}")
    gen_images = _collect(gen_source, n_gen, batch_size, seed, opts.workers, opts.progress)
    say(f"measuring {len(attrs.score_names)} attribute scores")
    gen_scores = _measure(attrs, gen_images, batch_size, "audit: scoring generated images", opts.progress)
    gen_decoded = attrs.decode(gen_scores)
    real_images = real_decoded = None
    if real_source is not None:
        say(f"reading {n_real} real images from {real_source.description}")
        real_images = _collect(real_source, n_real, batch_size, seed, opts.workers, opts.progress)
        real_decoded = attrs.decode(_measure(attrs, real_images, batch_size, "audit: scoring real images", opts.progress))
    confusions: dict[str, np.ndarray] = {}
    conf_source: dict[str, str] = {}
    notes: list[str] = []
    user_counts, user_desc = _validation_counts(attrs, validation, batch_size) if validation else ({}, "")
    for ex in attrs.extractors:
        counts, source_desc = ex.confusion_counts()
        own = {a.name for a in ex.attributes}
        if own & set(user_counts):  # labelled data given for this audit take precedence
            counts, source_desc = {k: v for k, v in user_counts.items() if k in own}, user_desc
        confusions.update(counts)
        for a in ex.attributes:
            if a.kind != "continuous":
                if a.name in counts:
                    conf_source[a.name] = source_desc
                else:
                    notes.append(f"{a.name}: no labelled data ({source_desc}); proportions are not corrected for "
                                 f"the extractor's error")
    rng = np.random.default_rng(seed)
    say("representation")
    rep = rep_mod.run(attrs.attributes, gen_decoded, real_decoded if ref_kind != "uniform" else None, confusions,
                      conf_source, targets if ref_kind == "target" else None, bootstrap=bootstrap, level=level,
                      parity_tau=thr.parity_tau, rng=rng)
    if real_decoded is not None and ref_kind == "uniform":
        # continuous attributes always compare with the real images when there are some
        rep.continuous = rep_mod.run([a for a in attrs.attributes if a.kind == "continuous"], gen_decoded,
                                     real_decoded, {}, {}, None, bootstrap=bootstrap, level=level,
                                     parity_tau=thr.parity_tau, rng=rng).continuous
    jnt = None
    if real_decoded is not None:
        say("joint structure")
        jnt = joint_mod.run(attrs.attributes, gen_decoded, real_decoded, bootstrap=bootstrap, level=level, rng=rng)
    else:
        notes.append("no real images: joint structure is not compared")

    # --- latent walks ---------------------------------------------------------------------------------
    walk_results: list[Walk] = []
    if walks and model is None:
        notes.append(f"latent walks skipped: {gen_source.description} exposes no latent codes "
                     f"(a generator checkpoint, or an object with latents(n, generator) and decode(z), is needed)")
    elif walks:
        chosen = walk_targets or _auto_targets(attrs, rep)
        if not chosen:
            notes.append("latent walks skipped: no default target (no categorical level or real-vs-generated "
                         "continuous comparison to pick one from); name one with --target")
        for t in chosen:
            say(f"latent walk along {t}")
            walk_results.append(run_walk(model, attrs, t, mode=walk_mode, n_images=walk_images, steps=walk_steps,
                                         step_size=walk_step_size, bootstrap=bootstrap, level=level, seed=seed,
                                         progress=opts.progress))

    # --- verdict --------------------------------------------------------------------------------------
    items = findings(rep, jnt, walk_results, thr)
    metrics, ci = _metrics(rep, jnt, walk_results)
    provenance = build_provenance(
        gen=str(gen) if isinstance(gen, (str, os.PathLike)) else type(gen).__name__,
        gen_description=gen_source.description,
        real=None if real is None else str(real) if isinstance(real, (str, os.PathLike)) else type(real).__name__,
        n_gen=n_gen, n_real=n_real, seed=seed, bootstrap=bootstrap, level=level,
        reference=ref_kind, attribute_extractors=[ex.describe() for ex in attrs.extractors],
        walks={"images": walk_images, "steps": walk_steps, "step_size": walk_step_size, "mode": walk_mode},
        thresholds={f: getattr(thr, f) for f in thr.__dataclass_fields__}, device=str(dev),
    )
    if gate_rules is not None:
        items = _apply_gate(gate_rules, metrics, ci, provenance, items)
    provenance["wall_time_s"] = round(time.time() - started, 2)
    summary = {
        "schema": RESULT_SCHEMA, "audit_schema": AUDIT_SCHEMA, "verdict": verdict(items), "findings": items,
        "metrics": metrics, "ci": ci, "notes": notes, "provenance": provenance,
    }
    tables = _tables(rep, jnt, walk_results, items)
    gallery = {"generated": gen_images[:64], **({"real": real_images[:64]} if real_images is not None else {})}
    gallery.update(_per_level_gallery(attrs, gen_decoded, gen_images))
    return AuditResult(summary, tables, rep, jnt, walk_results, attrs, gallery, gen_decoded, real_decoded, notes)


def _auto_targets(attrs: AttributeSet, rep: rep_mod.Representation) -> list[str]:
    """Default walk targets: the most mis-represented level of a differentiable attribute (gradient
    mode) and the most shifted continuous attribute (boundary mode), when they exist."""
    out = []
    diff_attrs = {a.name: a for ex in attrs.extractors if ex.differentiable for a in ex.attributes}
    rows = [r for r in rep.marginals if r["attribute"] in diff_attrs]
    if rows:
        worst = max(rows, key=lambda r: abs(r["diff"]))
        spec = diff_attrs[worst["attribute"]]
        name = spec.name if spec.kind == "binary" else f"{spec.name}={worst['level']}"
        if name in attrs.score_names:
            out.append(name)
    cont = [r for r in rep.continuous if r["attribute"] in attrs.score_names]
    if cont:
        out.append(max(cont, key=lambda r: r["w1_std"])["attribute"])
    return out


def _metrics(rep: rep_mod.Representation, jnt: joint_mod.Joint | None, walks: list[Walk]) -> tuple[dict, dict]:
    metrics: dict[str, float] = {}
    ci: dict[str, list[float]] = {}

    def put(name: str, value: Any, lo: Any = None, hi: Any = None) -> None:
        if value is None or not math.isfinite(float(value)):
            return
        metrics[name] = float(value)
        if lo is not None and hi is not None and math.isfinite(float(lo)) and math.isfinite(float(hi)):
            ci[name] = [float(min(lo, value)), float(max(hi, value))]

    for d in rep.distances:
        a = _key(d["attribute"])
        put(f"tv_{a}", d["tv"], d["tv_lo"], d["tv_hi"])
        put(f"l2_fd_{a}", d["l2_fd"], d["l2_fd_lo"], d["l2_fd_hi"])
        put(f"kl_{a}", d["kl"], d["kl_lo"], d["kl_hi"])
        put(f"js_{a}", d["js"])
        put(f"chi2_p_{a}", d["chi2_p"])
        put(f"levels_never_generated_{a}", d["levels_never_generated"])
        put(f"levels_outside_parity_{a}", d["levels_outside_parity"])
    seen: set[str] = set()
    for r in rep.validity:
        a = _key(r["attribute"])
        if a not in seen:
            seen.add(a)
            put(f"validation_accuracy_{a}", r["accuracy"])
    for c in rep.continuous:
        a = _key(c["attribute"])
        put(f"w1_{a}", c["wasserstein"], c["wasserstein_lo"], c["wasserstein_hi"])
        put(f"w1_std_{a}", c["w1_std"], c["w1_std_lo"], c["w1_std_hi"])
        put(f"ks_{a}", c["ks"])
        put(f"mmd2_{a}", c["mmd2"])
    if jnt is not None and jnt.correlations:
        put("max_abs_corr_diff", max(abs(r["corr_delta"]) for r in jnt.correlations))
    if jnt is not None and jnt.bias_amplification:
        vals = [abs(r["bias_amp"]) for r in jnt.bias_amplification if math.isfinite(r["bias_amp"])]
        if vals:
            put("max_abs_bias_amp", max(vals))
    for w in walks:
        others = [r for r in w.rows if not r["same_attribute"]] or w.rows
        if others:
            top = max(others, key=lambda r: abs(r["corr"]) if math.isfinite(r["corr"]) else 0.0)
            put(f"walk_max_abs_corr_{_key(w.target)}", abs(top["corr"]))
        if "svm_val_accuracy" in w.info:
            put(f"walk_svm_accuracy_{_key(w.target)}", w.info["svm_val_accuracy"])
    return metrics, ci


def _tables(rep: rep_mod.Representation, jnt: joint_mod.Joint | None, walks: list[Walk],
            items: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    import pandas as pd  # imported here so `import gan_eval` stays light

    cols = {
        "marginals": ["attribute", "level", "p_generated", "p_generated_lo", "p_generated_hi", "p_reference", "reference",
                      "p_corrected", "p_corrected_lo", "p_corrected_hi", "count", "n_generated", "diff", "diff_lo",
                      "diff_hi", "ratio", "in_parity_band"],
        "distances": ["attribute", "kind", "K", "reference", "n_generated", "n_reference", "corrected", "l2_fd", "l2_fd_lo",
                      "l2_fd_hi", "tv", "tv_lo", "tv_hi", "kl", "kl_lo", "kl_hi", "js", "chi2", "chi2_p",
                      "levels_never_generated", "levels_outside_parity"],
        "continuous": ["attribute", "unit", "n_generated", "n_reference", "mean_generated", "mean_reference",
                       "std_generated", "std_reference", "wasserstein", "wasserstein_lo", "wasserstein_hi", "w1_std",
                       "w1_std_lo", "w1_std_hi", "ks", "ks_p", "ks_p_adj", "mmd2", "mmd_p"],
        "validity": ["attribute", "level", "support", "recall", "precision", "accuracy", "source"],
        "correlations": ["attr_a", "attr_b", "corr_generated", "corr_generated_lo", "corr_generated_hi", "corr_reference",
                         "corr_reference_lo", "corr_reference_hi", "corr_delta", "corr_delta_lo", "corr_delta_hi",
                         "p_value_adj"],
        "bias_amplification": ["given", "event", "p_generated", "p_reference", "bias_amp", "bias_amp_lo", "bias_amp_hi",
                               "n_given_generated", "n_given_reference"],
        "walks": ["target", "other", "mode", "same_attribute", "n_images", "n_steps", "step_size", "cov", "cov_lo",
                  "cov_hi", "corr", "corr_lo", "corr_hi", "slope", "slope_lo", "slope_hi", "p_value_adj", "rank"],
        "findings": ["id", "status", "section", "message", "metric", "value", "lo", "hi", "threshold"],
    }
    rows = {
        "marginals": rep.marginals, "distances": rep.distances, "continuous": rep.continuous, "validity": rep.validity,
        "correlations": jnt.correlations if jnt else [], "bias_amplification": jnt.bias_amplification if jnt else [],
        "walks": [r for w in walks for r in w.rows], "findings": items,
    }
    return {name: pd.DataFrame(rows[name], columns=cols[name]) for name in TABLES}


def _per_level_gallery(attrs: AttributeSet, decoded: dict[str, np.ndarray], images: torch.Tensor,
                       per_level: int = 8) -> dict[str, torch.Tensor]:
    out = {}
    for spec in attrs.attributes:
        if spec.kind == "continuous":
            continue
        codes = decoded[spec.name]
        for i, lv in enumerate(spec.levels):
            idx = np.flatnonzero(codes == i)[:per_level]
            out[f"{spec.name}={lv}"] = images[torch.from_numpy(idx)] if len(idx) else images[:0]
        break  # the first categorical attribute only: enough for a gallery, bounded page size
    return out


def _load_gate_rules(path: str | os.PathLike) -> list[Any]:
    try:
        from gan_eval.gate import load_rules
    except ImportError:  # pragma: no cover - gate ships with this package
        raise GanEvalError("--rules needs gan_eval.gate, which is not available in this installation") from None
    rules = load_rules(path)
    needing = [r.title for r in rules if r.needs_baseline]
    if needing:
        raise GanEvalError(f"audit rules are judged without a baseline; remove max_regression from: {', '.join(needing)}")
    return rules


def _apply_gate(rules: list[Any], metrics: dict, ci: dict, provenance: dict, items: list[dict]) -> list[dict]:
    """Judge ``gan-eval gate`` rules on the audit's metrics; FAIL/WARN become findings (ERROR → FAIL)."""
    from gan_eval.gate import run_gate

    report = run_gate({"schema": RESULT_SCHEMA, "metrics": metrics, "ci": ci, "provenance": provenance}, None, rules)
    out = list(items)
    for r in report.results:
        status = {"PASS": PASS, "WARN": WARN, "FAIL": FAIL}.get(r.status, FAIL)
        out.append(finding(f"gate.{r.rule.number}", status, "gate",
                           f"Gate rule {r.rule.title}: {r.status}. {r.message}", r.metric, r.value,
                           *(r.interval or (None, None))))
    rank = {FAIL: 2, WARN: 1}
    out.sort(key=lambda f: -rank.get(f["status"], 0))
    return out


def _read_validation_labels(attrs: AttributeSet, data: str | os.PathLike,
                            labels_csv: str | os.PathLike) -> tuple[list[Path], dict[str, np.ndarray]]:
    """Read a labels CSV for audit-time validation: a file column, then columns named like attributes.

    Binary attributes take 0/1 (−1 read as 0); categorical ones take level names (e.g. ``3`` for
    ``digit``). Unknown columns are an error, so a typo cannot silently disable the correction.
    """
    from gan_eval.attributes.classifier import read_labels_table

    if not Path(data).is_dir() or not Path(labels_csv).is_file():
        raise GanEvalError(f"validation needs an image directory and a labels CSV; got {data} and {labels_csv}")
    header, file_col, rows, files = read_labels_table(data, labels_csv, "--val-labels")
    specs = {a.name: a for a in attrs.attributes if a.kind != "continuous"}
    cols = [i for i in range(len(header)) if i != file_col]
    unknown = [header[i] for i in cols if header[i] not in specs]
    if unknown:
        raise GanEvalError(f"{labels_csv}: column(s) {', '.join(unknown)} name no categorical/binary attribute "
                           f"here ({', '.join(specs) or 'none'})")
    labels = {header[i]: np.zeros(len(rows), dtype=np.int64) for i in cols}
    for r, row in enumerate(rows):
        for i in cols:
            spec, cell = specs[header[i]], row[i].strip()
            if spec.kind == "binary" and cell == "-1":
                cell = "0"
            if cell not in spec.levels:
                raise GanEvalError(f"{labels_csv} line {r + 2}, column {header[i]!r}: {cell!r} is not one of "
                                   f"{', '.join(spec.levels)}")
            labels[header[i]][r] = spec.levels.index(cell)
    return files, labels


def _validation_counts(attrs: AttributeSet, validation: tuple[str | os.PathLike, str | os.PathLike],
                       batch_size: int) -> tuple[dict[str, np.ndarray], str]:
    """Confusion counts of every labelled attribute on the user's validation images."""
    from gan_eval.sources import DirectorySource

    files, labels = _read_validation_labels(attrs, *validation)
    source = DirectorySource(validation[0])
    by_rel = {f.rel: f for f in source.files}
    try:
        source.files = [by_rel[p.relative_to(Path(validation[0])).as_posix()] for p in files]
    except (KeyError, ValueError) as exc:
        raise GanEvalError(f"validation label file names {exc}, which is not an image under {validation[0]}") from None
    images = _collect(source, len(files), batch_size, 0)
    decoded = attrs.decode(attrs.measure(images, batch_size))
    specs = {a.name: a for a in attrs.attributes}
    out = {}
    for name, true in labels.items():
        k = len(specs[name].levels)
        out[name] = np.bincount(true * k + decoded[name], minlength=k * k).reshape(k, k)
    return out, f"labelled validation images {validation[0]} ({len(files)} images, given for this audit)"
