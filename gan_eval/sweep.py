"""Truncation sweeps: the fidelity–diversity trade-off of one generator, one row per ψ.

Truncation pulls latents toward the mode: samples get more typical (precision up, FID often down
at first) and less varied (recall and coverage down). A sweep makes that trade-off visible by
evaluating the same generator at several truncation values against the same reference.

How it is computed, and why:

* The real side is opened and extracted **once** (a :class:`gan_eval.side.Side`, through the cache)
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

import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from gan_eval.errors import GanEvalError
from gan_eval.files import sha256_file
from gan_eval.options import Options
from gan_eval.result import now

if TYPE_CHECKING:
    from gan_eval.sources import OpenedGenerator

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


def _open_truncatable(gen: Any, device: torch.device, trust_pickle: bool) -> OpenedGenerator:
    """Open ``gen`` once and return it (model, description, checkpoint file), checked for truncation.

    Only generators that speak the truncation protocol (:class:`gan_eval.models.TruncatableGenerator`:
    gan-eval checkpoints, ``builtin:NAME``, or an object of your own) know how to truncate; any other
    source would silently ignore ψ, so it is refused here. Image-to-image models are opened without
    their ``--source`` so that the refusal can say why.
    """
    from gan_eval.models import (
        generator_kind,
        generator_name,
        is_truncatable_object,
        truncation_kind,
    )
    from gan_eval.sources import SourceOptions, open_generator

    opened = open_generator(gen, SourceOptions(trust_pickle=trust_pickle, device=device))
    description = opened.description if opened is not None else str(gen)
    if opened is None or not is_truncatable_object(opened.model):
        raise GanEvalError(f"{description} is not a generator checkpoint, so it cannot be truncated; a sweep "
                           f"needs a gan-eval checkpoint (.safetensors, builtin:NAME) of a model with truncation")
    model = opened.model
    if generator_kind(model) == "image2image":
        raise GanEvalError(f"{description} is an image-to-image model; it has no latent to truncate")
    if truncation_kind(model) is None:
        raise GanEvalError(f"{description}: {generator_name(model)} does not support truncation")
    if getattr(model, "truncation", None) is not None or getattr(model, "label", None) is not None:
        raise GanEvalError(f"{description} already fixes truncation or class; pass the bare checkpoint")
    return opened


def sweep(
    gen: Any,
    real: Any,
    psis: str | Iterable[Any],
    metrics: Sequence[str] | str | None = None,
    options: Options | None = None,
    *,
    strip: int = 8,
    metric_options: Any = None,
    **shared: Any,
) -> SweepResult:
    """Evaluate generator checkpoint ``gen`` against ``real`` at every truncation value in ``psis``.

    ``psis``: numbers and/or ``"none"``/``"off"`` (a list, or a comma-separated string). ``metrics``
    defaults to FID, precision/recall and density/coverage, plus IS when the extractor gives class
    logits. ``options`` as for :func:`gan_eval.evaluate` (or the same names as keywords); ``options.ci``
    adds intervals to every row.
    ``strip`` sample images per ψ are kept for the report (same seed, so the same latents). Every
    argument is checked before the reference is extracted; see the module docstring for semantics.
    """
    from gan_eval import api
    from gan_eval.models import generator_name, truncation_kind
    from gan_eval.pipeline import resolve_device
    from gan_eval.side import Side, open_cache, open_extractor
    from gan_eval.sources import GeneratorSource, SourceOptions

    opts, rest = Options.split(options, dict(shared))
    if rest:
        raise TypeError(f"sweep() got unexpected keyword argument(s): {', '.join(sorted(rest))}")
    started = time.perf_counter()
    ci, bootstrap = opts.ci, opts.bootstrap
    psi_list = parse_psis(psis)
    if not isinstance(strip, int) or strip < 0:
        raise GanEvalError(f"--strip must be a non-negative integer, got {strip!r}")
    run_device = resolve_device(opts.device)
    opened = _open_truncatable(gen, run_device, opts.trust_pickle)
    handle, description = opened.model, opened.description
    kind = truncation_kind(handle)
    _check_psis(psi_list, kind, generator_name(handle))
    # One copy per ψ, all sharing the loaded weights; with_truncation re-checks each value.
    handles = [handle.with_truncation(psi) for psi in psi_list]

    fe = open_extractor(opts.but(device=run_device))
    if metrics is None:
        metrics = [*DEFAULT_METRICS, *(["is"] if fe.has_logits else [])]
    metric_list = [m.strip() for m in metrics.split(",")] if isinstance(metrics, str) else list(metrics)
    from gan_eval.metrics import get_metrics

    get_metrics(metric_list)  # unknown names fail before any extraction
    if "is" in metric_list and not fe.has_logits:
        raise GanEvalError(f"the Inception Score needs class logits, which extractor {fe.name!r} does not give")

    real_side = Side.open(real, "real", opts.num_real, SourceOptions(skip_bad_files=opts.skip_bad_files))
    real_side.features(fe, need_features=True, cache=open_cache(opts), options=opts)  # once, for every row
    row_options = opts.but(extractor=fe, num_real=None)
    rows: list[SweepRow] = []
    first: Any = None
    for psi, psi_handle in zip(psi_list, handles):
        label = f"{description} (psi={format_psi(psi)})"
        result = api.evaluate(GeneratorSource(psi_handle, label), real_side, metric_list, row_options,
                              metric_options=metric_options)
        first = first or result
        # The strip uses the evaluation's seed: across rows it shows the same latents, truncated differently.
        images = (api.sample_images(GeneratorSource(psi_handle, label), max(strip, 2), row_options.but(
            device=run_device))[:strip] if strip else None)
        rows.append(SweepRow(psi, dict(result.metrics), {k: list(v) for k, v in result.ci.items()}, images,
                             result.provenance["n_gen"], result.provenance["wall_time_s"], list(result.warnings)))

    p = first.provenance
    gen_path = opened.path  # the checkpoint file (a bundled one for builtin:NAME), hashed below
    provenance = {
        "gen": str(gen) if isinstance(gen, (str, os.PathLike)) else description,
        "gen_description": description,
        "gen_sha256": sha256_file(gen_path) if gen_path is not None else None,
        "arch": generator_name(handle),
        "arch_version": getattr(handle, "arch_version", None),
        "truncation_kind": kind,
        "psi_meaning": PSI_MEANING[kind],
        "same_seed_per_psi": True,
        **{k: p.get(k) for k in ("extractor", "feature_dim", "weights_sha256", "weights_origin", "official_weights",
                                 "device", "seed", "world_size", "n_gen", "n_real", "real", "metric_options", "versions")},
        "metrics": metric_list,
        "strip_size": strip,
        "ci": {"level": ci, "bootstrap": bootstrap} if ci is not None else None,
        "created": now(),
        "wall_time_s": round(time.perf_counter() - started, 3),
    }
    return SweepResult(rows, kind, metric_list, provenance, ci)
