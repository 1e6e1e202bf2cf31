"""Truncation sweeps: the fidelity–diversity trade-off of one generator, one row per ψ.

Truncation pulls latents toward the mode: samples get more typical (precision up, FID often down
at first) and less varied (recall and coverage down). A sweep makes that trade-off visible by
evaluating the same generator at several truncation values against the same reference.

How it is computed, and why:

* The real side is extracted **once** (:func:`gan_eval.api.extract_reference`, through the cache)
  and passed to every :func:`gan_eval.evaluate` call as ``real=``, so a sweep costs one reference
  pass plus one generated pass per ψ, and every row is compared with bit-identical features.
* The feature extractor is built once and shared by every row.
* Every ψ uses the **same seed**, so the rows see the same noise draws, truncated differently: for
  ``w_avg_lerp`` exactly the same z (only the pull toward the average w changes); for
  ``z_truncnorm`` the same draws, with the entries beyond the threshold resampled (rejection keeps
  the exact truncated normal), so the rows differ only where truncation acts. Differences between
  rows are therefore the effect of truncation, not of resampling noise.
* Every ψ is validated before any work (the model must support truncation; a ``z_truncnorm``
  threshold must be > 0; ``none``/``off`` means no truncation), so a bad list fails in a second.

ψ means, by the checkpoint's truncation kind (``spec.truncation``):

* ``w_avg_lerp`` (StyleGAN, StyleGAN2): ``w' = w_avg + ψ·(w − w_avg)``; 1 is no truncation, 0 the
  average image.
* ``z_truncnorm`` (DCGAN family): z is drawn from N(0, 1) truncated to ``[−ψ, ψ]``; smaller is
  stronger, ``none`` is the plain normal (ψ → ∞; note that ψ = 1 already truncates strongly).
"""

from __future__ import annotations

import inspect
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from gan_eval.files import sha256_file
from gan_eval.errors import GanEvalError

#: Version tag of ``sweep.json``.
SWEEP_SCHEMA = "gan-eval/sweep/1"
#: Words accepted in a ψ list for "no truncation".
NO_TRUNCATION = ("none", "off")
DEFAULT_METRICS = ("fid", "pr", "dc")
#: What ψ means, by truncation kind (written into the JSON and the HTML page).
PSI_MEANING = {
    "w_avg_lerp": "w' = w_avg + psi * (w - w_avg): 1 = no truncation, 0 = the average image",
    "z_truncnorm": "z ~ N(0, 1) truncated to [-psi, psi] (threshold > 0; smaller = stronger; none = untruncated)",
}


@dataclass
class SweepRow:
    """One ψ: its metric values, their intervals (when asked for), a sample strip and timing."""

    psi: float | None  # None: no truncation
    metrics: dict[str, float]
    ci: dict[str, list[float]] = field(default_factory=dict)
    strip: torch.Tensor | None = None  # uint8 N×3×H×W, the first images of the same seed
    n_gen: int = 0
    wall_time_s: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """ψ as text: ``0.5`` or ``none``."""
        return format_psi(self.psi)


@dataclass
class SweepResult:
    """Per-ψ rows (in the order given), the truncation kind, and the provenance shared by all rows."""

    rows: list[SweepRow]
    truncation_kind: str
    metric_names: list[str]
    provenance: dict[str, Any]
    ci_level: float | None = None

    @property
    def metric_keys(self) -> list[str]:
        """Metric value keys present in every row (``fid``, ``precision``, ``is_mean``, …), in row order."""
        keys: list[str] = []
        for row in self.rows:
            keys += [k for k in row.metrics if k not in keys]
        return keys

    def row(self, psi: float | None) -> SweepRow:
        for row in self.rows:
            if row.psi == psi:
                return row
        raise KeyError(psi)


def format_psi(psi: float | None) -> str:
    """ψ as it appears in tables and file names: ``0.5``, ``1``, ``-0.25`` or ``none``."""
    return "none" if psi is None else f"{psi:g}"


def parse_psis(values: str | Iterable[Any]) -> list[float | None]:
    """``"0.2,0.5,none"`` (or a list of numbers/words) → ``[0.2, 0.5, None]``; syntax only, no kind checks.

    Duplicates are refused (two rows would be the same run and their strips the same file).
    """
    items = [v.strip() for v in values.split(",")] if isinstance(values, str) else list(values)
    if not items or all(isinstance(v, str) and not v for v in items):
        raise GanEvalError("--psi needs at least one value, e.g. --psi 0.2,0.5,1.0")
    psis: list[float | None] = []
    for item in items:
        if item is None or (isinstance(item, str) and item.lower() in NO_TRUNCATION):
            psi: float | None = None
        else:
            try:
                psi = float(item)
            except (TypeError, ValueError):
                raise GanEvalError(f"--psi: {item!r} is not a number (or 'none'/'off' for no truncation)") from None
            if not math.isfinite(psi):
                raise GanEvalError(f"--psi: {item!r} is not a finite number")
        if psi in psis:
            raise GanEvalError(f"--psi lists {format_psi(psi)} twice")
        psis.append(psi)
    return psis


def _check_psis(psis: Sequence[float | None], kind: str, name: str) -> None:
    for psi in psis:
        if psi is not None and kind == "z_truncnorm" and not psi > 0:
            raise GanEvalError(f"--psi {format_psi(psi)} is invalid for {name}: it truncates z (z_truncnorm), and the "
                               f"truncated-normal threshold must be > 0 (use 'none' for no truncation)")


def _open_truncatable(gen: Any, device: torch.device, trust_pickle: bool) -> tuple[Any, str]:
    """Open ``gen`` once and return its :class:`gan_eval.generators.model.GeneratorHandle` and description.

    Only generator checkpoints (and objects wrapping one) know how to truncate; any other source
    would silently ignore ψ, so it is refused here.
    """
    from gan_eval.sources import (
        CHECKPOINT_SUFFIXES,
        GeneratorSource,
        SourceOptions,
        bundled_generator_path,
        open_source,
    )
    from gan_eval.generators.checkpoint import load_generator
    from gan_eval.generators.model import GeneratorHandle

    path = None
    if isinstance(gen, str) and gen.startswith("builtin:"):
        path = bundled_generator_path(gen.split(":", 1)[1])
    elif isinstance(gen, (str, os.PathLike)) and Path(gen).suffix.lower() in CHECKPOINT_SUFFIXES and Path(gen).is_file():
        path = Path(gen)
    if path is not None:  # load directly: open_source would ask image-to-image models for --source
        model: Any = load_generator(path, device=device, trust_pickle=trust_pickle)
        description = f"{model.spec.name} {path.name}"
    else:
        source = open_source(gen, SourceOptions(trust_pickle=trust_pickle, device=device))
        model = getattr(source, "model", None) if isinstance(source, GeneratorSource) else None
        description = source.description
    if not isinstance(model, GeneratorHandle):
        raise GanEvalError(f"{description} is not a generator checkpoint, so it cannot be truncated; a sweep "
                           f"needs a gan-eval checkpoint (.safetensors, builtin:NAME) of a model with truncation")
    if model.kind == "image2image":
        raise GanEvalError(f"{description} is an image-to-image model; it has no latent to truncate")
    if model.spec.truncation is None:
        raise GanEvalError(f"{description}: {model.spec.name} does not support truncation")
    if model.truncation is not None or model.label is not None:
        raise GanEvalError(f"{description} already fixes truncation or class; pass the bare checkpoint")
    return model, description


def _evaluate_supports_ci() -> bool:
    from gan_eval import api

    return "ci" in inspect.signature(api.evaluate).parameters


def sweep(
    gen: Any,
    real: Any,
    psis: str | Iterable[Any],
    metrics: Sequence[str] | str | None = None,
    *,
    extractor: Any = None,
    weights: str | None = None,
    num_samples: int | None = None,
    num_real: int | None = None,
    batch_size: int = 64,
    device: str | torch.device = "auto",
    seed: int | None = None,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    trust_pickle: bool = False,
    ci: float | None = None,
    bootstrap: int | None = None,
    progress: bool | None = None,
    strip: int = 8,
    options: Any = None,
) -> SweepResult:
    """Evaluate generator checkpoint ``gen`` against ``real`` at every truncation value in ``psis``.

    ``psis``: numbers and/or ``"none"``/``"off"`` (a list, or a comma-separated string). ``metrics``
    defaults to FID, precision/recall and density/coverage, plus IS when the extractor gives class
    logits. ``ci``/``bootstrap`` ask :func:`gan_eval.evaluate` for intervals (when it supports them).
    ``strip`` sample images per ψ are kept for the report (same seed, so the same latents). Every
    argument is checked before the reference is extracted; see the module docstring for semantics.
    """
    from gan_eval import api
    from gan_eval.pipeline import resolve_device
    from gan_eval.sources import GeneratorSource
    from gan_eval.generators.model import GeneratorHandle

    started = time.perf_counter()
    seed = api.DEFAULT_SEED if seed is None else int(seed)
    psi_list = parse_psis(psis)
    if not isinstance(strip, int) or strip < 0:
        raise GanEvalError(f"--strip must be a non-negative integer, got {strip!r}")
    ci_kwargs: dict[str, Any] = {}
    if ci is None and bootstrap is not None:
        raise GanEvalError("--bootstrap needs --ci LEVEL")
    if ci is not None:
        if not _evaluate_supports_ci():
            raise GanEvalError("this gan-eval cannot compute confidence intervals yet (evaluate() has no ci=)")
        if not 0 < ci < 1:
            raise GanEvalError(f"--ci {ci} must lie strictly between 0 and 1 (e.g. 0.95)")
        ci_kwargs["ci"] = ci
        if bootstrap is not None:
            ci_kwargs["bootstrap"] = bootstrap
    run_device = resolve_device(device)
    handle, description = _open_truncatable(gen, run_device, trust_pickle)
    kind = handle.spec.truncation
    _check_psis(psi_list, kind, handle.spec.name)
    # One handle per ψ, all sharing the loaded module; GeneratorHandle re-checks each value.
    handles = [GeneratorHandle(handle.module, handle.spec, handle.config, handle.meta, truncation=psi)
               for psi in psi_list]

    fe = api._prepare(extractor or api.DEFAULT_EXTRACTOR, weights, run_device)
    if metrics is None:
        metrics = [*DEFAULT_METRICS, *(["is"] if fe.has_logits else [])]
    metric_list = [m.strip() for m in metrics.split(",")] if isinstance(metrics, str) else list(metrics)
    from gan_eval.metrics import get_metrics

    get_metrics(metric_list)  # unknown names fail before any extraction
    if "is" in metric_list and not fe.has_logits:
        raise GanEvalError(f"the Inception Score needs class logits, which extractor {fe.name!r} does not give")

    reference = api.extract_reference(real, extractor=fe, num_real=num_real, batch_size=batch_size, seed=seed,
                                      cache=cache, cache_dir=cache_dir, progress=progress)
    rows: list[SweepRow] = []
    first: Any = None
    for psi, psi_handle in zip(psi_list, handles):
        label = f"{description} (psi={format_psi(psi)})"
        result = api.evaluate(GeneratorSource(psi_handle, label), real=reference, metrics=metric_list,
                              extractor=fe, num_samples=num_samples, batch_size=batch_size, seed=seed,
                              cache=cache, cache_dir=cache_dir, progress=progress, options=options, **ci_kwargs)
        first = first or result
        # The strip uses the evaluation's seed: across rows it shows the same latents, truncated differently.
        images = (api.sample_images(GeneratorSource(psi_handle, label), max(strip, 2), seed=seed,
                                    device=run_device)[:strip] if strip else None)
        rows.append(SweepRow(psi, dict(result.metrics), {k: list(v) for k, v in result.ci.items()}, images,
                             result.provenance["n_gen"], result.provenance["wall_time_s"], list(result.warnings)))

    p = first.provenance
    gen_path = Path(gen) if isinstance(gen, (str, os.PathLike)) and Path(gen).is_file() else None
    if isinstance(gen, str) and gen.startswith("builtin:"):
        from gan_eval.sources import bundled_generator_path

        gen_path = bundled_generator_path(gen.split(":", 1)[1])
    provenance = {
        "gen": str(gen) if isinstance(gen, (str, os.PathLike)) else description,
        "gen_description": description,
        "gen_sha256": sha256_file(gen_path) if gen_path is not None else None,
        "arch": handle.spec.name,
        "arch_version": handle.spec.version,
        "truncation_kind": kind,
        "psi_meaning": PSI_MEANING[kind],
        "same_seed_per_psi": True,
        **{k: p.get(k) for k in ("extractor", "feature_dim", "weights_sha256", "weights_origin", "official_weights",
                                 "device", "seed", "n_gen", "n_real", "real", "metric_options", "versions")},
        "metrics": metric_list,
        "strip_size": strip,
        "ci": ({"level": ci, **({"bootstrap": bootstrap} if bootstrap is not None else {})} if ci is not None else None),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(time.perf_counter() - started, 3),
    }
    return SweepResult(rows, kind, metric_list, provenance, ci)
