"""The Python API: everything the CLI does is one call here.

``evaluate(gen, real, metrics)`` extracts features once per side (the real side through the
cache), computes every requested metric from them, and returns an :class:`EvaluationResult` with
values and provenance. ``compute_statistics(real, path)`` precomputes a reference file reusable as
``real=``.
"""

from __future__ import annotations

import json
import platform
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from gan_eval import __version__
from gan_eval.files import write_text_atomic
from gan_eval.cache import FeatureCache
from gan_eval.errors import GanEvalError
from gan_eval.extractors import FeatureExtractor, create_extractor
from gan_eval.intervals import DEFAULT_BOOTSTRAP, bootstrap_intervals
from gan_eval.intervals import validate as validate_bootstrap
from gan_eval.metrics import MetricContext, MetricOptions, compute_metrics, get_metrics
from gan_eval.pipeline import extract_features_cached, resolve_device
from gan_eval.sources import Source, SourceOptions, open_source
from gan_eval.statistics import (
    FeatureSet,
    FeatureStats,
    is_stats_file,
    load_stats,
    save_stats,
)

from gan_eval.options import DEFAULT_EXTRACTOR, DEFAULT_SEED  # noqa: E402
from gan_eval.result import RESULT_SCHEMA, EvaluationResult  # noqa: E402,F401


def _versions() -> dict[str, str]:
    try:
        from importlib.metadata import version

        tfi = version("torch-fidelity")
    except Exception:  # noqa: BLE001 - provenance must never fail the run
        tfi = "unknown"
    return {"gan_eval": __version__, "torch": torch.__version__, "torch_fidelity": tfi, "python": platform.python_version()}


def _check_stats_compatible(feature_set: FeatureSet, extractor: FeatureExtractor, path: Any) -> None:
    meta = feature_set.meta
    if "extractor" not in meta:
        warnings.warn(f"{path} carries no provenance (not written by gan-eval); assuming it used {extractor.name} "
                      f"with the same weights")
        if feature_set.stats.dim != extractor.feature_dim:
            raise GanEvalError(f"{path} has {feature_set.stats.dim}-dimensional statistics but {extractor.name} "
                               f"gives {extractor.feature_dim}")
        return
    if meta["extractor"] != extractor.name:
        raise GanEvalError(f"{path} was computed with extractor {meta['extractor']!r}, not {extractor.name!r}; "
                           f"pass --extractor {meta['extractor']} or recompute the statistics")
    if meta.get("weights_sha256") and meta["weights_sha256"] != extractor.weights_sha256:
        raise GanEvalError(f"{path} was computed with other {extractor.name} weights (sha256 "
                           f"{meta['weights_sha256'][:12]}…, now {extractor.weights_sha256[:12]}…); recompute it")


@dataclass
class _OpenedSide:
    """A side validated before any expensive work: a source with its sample count, or a statistics file."""

    role: str
    spec: Any
    source: Source | None = None
    num_samples: int = 0
    stats: FeatureSet | None = None


def _open_side(spec: Any, role: str, num_samples: int | None, source_options: SourceOptions) -> _OpenedSide:
    if isinstance(spec, FeatureSet):
        if role != "real":
            raise GanEvalError("only the real side can be given as already extracted features")
        if num_samples is not None:
            warnings.warn("--num-real does not subsample already extracted features; all of them are used")
        return _OpenedSide(role, spec.meta.get("source", "extracted features"), stats=spec)
    if is_stats_file(spec):
        if role != "real":
            raise GanEvalError(f"{spec} is a statistics file; only the real side can be precomputed statistics")
        feature_set = load_stats(spec)
        if num_samples is not None:
            warnings.warn("--num-real does not subsample a statistics file; all of its samples are used")
        feature_set.meta.setdefault("n", feature_set.stats.n)
        feature_set.meta["kind"] = "statistics"
        return _OpenedSide(role, spec, stats=feature_set)
    source = open_source(spec, source_options)
    return _OpenedSide(role, spec, source=source, num_samples=source.resolve_num_samples(num_samples))


def _side_features(
    side: _OpenedSide,
    extractor: FeatureExtractor,
    need_features: bool,
    cache: FeatureCache | None,
    batch_size: int,
    seed: int,
    progress: bool | None,
    on_batch: Any = None,
) -> FeatureSet:
    if side.stats is not None:
        feature_set = side.stats
        _check_stats_compatible(feature_set, extractor, side.spec)
        if need_features and feature_set.features is None:
            raise GanEvalError(f"{side.spec} holds only mean and covariance; KID, precision/recall and "
                               f"density/coverage need features (recompute with `gan-eval stats` without --fid-only)")
        stats = feature_set.stats
        moved = FeatureStats(stats.dim, extractor.device).merge(stats)
        return FeatureSet(moved, _to(feature_set.features, extractor.device), _to(feature_set.logits, extractor.device),
                          feature_set.meta)
    # With no more samples than dimensions FID is computed exactly from the features (nuclear norm),
    # so keep them; they are small then.
    keep = need_features or side.num_samples <= extractor.feature_dim
    return extract_features_cached(
        side.source, extractor, side.num_samples, cache if side.role == "real" else None,
        batch_size=batch_size, seed=seed, keep_features=keep, progress=progress,
        label=f"{side.role}: {side.source.description}", on_batch=on_batch,
    )


class _Pairing:
    """Feeds generated batches and the matching real images (same order) to the paired metrics."""

    def __init__(self, real_side: _OpenedSide, batch_size: int, seed: int) -> None:
        from gan_eval.metrics.paired import PairedImageMetrics

        if real_side.source is None:
            raise GanEvalError("paired metrics need real images, not a statistics file")
        self.metrics = PairedImageMetrics()
        self.real = real_side.source.iter_batches(real_side.num_samples, batch_size, seed)
        self.pending: list[torch.Tensor] = []
        self.seen = 0

    def update(self, generated: torch.Tensor) -> None:
        while sum(b.shape[0] for b in self.pending) < generated.shape[0]:
            batch = next(self.real, None)
            if batch is None:
                raise GanEvalError(f"--paired: the real side has fewer images than the {self.seen + generated.shape[0]} "
                                   f"translated ones")
            self.pending.append(batch)
        real = torch.cat(self.pending)
        self.pending = [real[generated.shape[0]:]] if real.shape[0] > generated.shape[0] else []
        self.metrics.update(generated, real[: generated.shape[0]])
        self.seen += generated.shape[0]

    def compute(self) -> dict[str, float]:
        return self.metrics.compute()


def _to(tensor: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if tensor is None else tensor.to(device)


def _prepare(extractor: str | FeatureExtractor, weights: str | None, device: str | torch.device) -> FeatureExtractor:
    if isinstance(extractor, FeatureExtractor):
        return extractor
    return create_extractor(extractor, weights=weights, device=resolve_device(device))


def evaluate(
    gen: Any,
    real: Any = None,
    metrics: Sequence[str] | str = ("fid",),
    *,
    extractor: str | FeatureExtractor = DEFAULT_EXTRACTOR,
    weights: str | None = None,
    num_samples: int | None = None,
    num_real: int | None = None,
    batch_size: int = 64,
    device: str | torch.device = "auto",
    seed: int = DEFAULT_SEED,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    skip_bad_files: bool = False,
    trust_pickle: bool = False,
    value_range: tuple[float, float] | None = None,
    options: MetricOptions | None = None,
    progress: bool | None = None,
    truncation: float | None = None,
    label: int | None = None,
    source: Any = None,
    paired: bool = False,
    ci: float | None = None,
    bootstrap: int = DEFAULT_BOOTSTRAP,
) -> EvaluationResult:
    """Evaluate generated images against real ones.

    ``gen``/``real``: a directory, ``.npz``/``.npy`` file, ``builtin:NAME``, ``package.module:function``,
    a uint8 tensor/array, a DataLoader, or an object with ``sample(n, generator)``; ``real`` may also
    be a statistics file from :func:`compute_statistics`. ``value_range`` declares the range of float
    in-memory images (e.g. ``(-1, 1)``). ``metrics``: any of ``fid, is, kid, pr, dc``.
    ``num_samples`` caps the generated side (default: all of a finite source, 10,000 from a
    generator); ``num_real`` caps the real side (default: all).

    Generator checkpoints (``gen="model.safetensors"``) take ``truncation`` (ψ toward the average w, or
    the truncated-normal threshold, by the model's kind) and ``label`` (one class of a conditional
    model). Image-to-image checkpoints translate ``source`` (a directory or array of inputs); with
    ``paired=True`` the i-th translated image is also compared with the i-th real image (L1, PSNR,
    SSIM in ``result.metrics``).

    ``ci`` (e.g. 0.95) adds bootstrap intervals to ``result.ci`` from the same features, with
    ``bootstrap`` resamples seeded by ``seed`` (see :mod:`gan_eval.intervals`).
    """
    started = time.perf_counter()
    specs = get_metrics(metrics)
    options = options or MetricOptions(seed=seed)
    options.seed = seed
    if ci is not None:
        options.infinity_level = ci
    needs_real = any(s.needs_real for s in specs)
    if needs_real and real is None:
        raise GanEvalError(f"{', '.join(s.name for s in specs if s.needs_real)} need a real reference (--real)")
    needs_logits = any(s.needs_logits for s in specs)
    need_features = any(s.needs_features for s in specs)
    if ci is not None:
        validate_bootstrap(ci, bootstrap)
    source_options = SourceOptions(skip_bad_files=skip_bad_files, trust_pickle=trust_pickle, value_range=value_range,
                                   truncation=truncation, label=label, translate=source,
                                   device=resolve_device(device) if not isinstance(extractor, FeatureExtractor) else extractor.device)
    if paired and (source is None or real is None):
        raise GanEvalError("paired metrics need an image-to-image model, --source and --real")
    feature_cache = FeatureCache(cache_dir) if cache else None
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        # Validate both sides before loading the network or extracting anything.
        real_side = _open_side(real, "real", num_real, source_options) if needs_real else None
        gen_side = _open_side(gen, "gen", num_samples, source_options)
        fe = _prepare(extractor, weights, device)
        if needs_logits and not fe.has_logits:
            raise GanEvalError(f"the Inception Score needs class logits, which extractor {fe.name!r} does not give")
        common = {"extractor": fe, "cache": feature_cache, "batch_size": batch_size, "seed": seed, "progress": progress}
        # Intervals resample the real features when there are any; a mean/covariance-only statistics
        # file is held fixed instead (said in ci_info).
        real_needs = need_features or (ci is not None and real_side is not None and real_side.stats is None)
        real_set = _side_features(real_side, need_features=real_needs, **common) if real_side else None
        pairing = _Pairing(real_side, batch_size, seed) if paired else None
        gen_set = _side_features(gen_side, need_features=need_features or needs_logits or ci is not None,
                                 on_batch=pairing.update if pairing else None, **common)
        ctx = MetricContext(gen_set, real_set, options)
        values = compute_metrics(specs, ctx)
        intervals, ci_info = bootstrap_intervals(specs, ctx, values, ci, bootstrap, seed) if ci is not None else ({}, {})
        for key in ("fid_inf", "is_inf"):  # their intervals come from the 1/N fit, with or without --ci
            if key in ctx.details:
                intervals[key] = ctx.details[key]["interval"]
                ci_info = {"level": options.infinity_level, **ci_info}
                ci_info.setdefault("resampled", {})[key] = "interval of the linear fit's intercept (t distribution)"
        if pairing is not None:
            values.update(pairing.compute())
        caught = list(dict.fromkeys(str(w.message) for w in recorded))
    for message in caught:
        warnings.warn(message, stacklevel=2)
    provenance = {
        **fe.describe(),
        "official_weights": getattr(fe, "official_weights", None),
        "device": str(fe.device),
        "seed": seed,
        "n_gen": gen_set.n,
        "n_real": real_set.n if real_set is not None else None,
        "gen": _public_meta(gen_set.meta),
        "real": _public_meta(real_set.meta) if real_set is not None else None,
        "metric_options": {
            "is_splits": options.is_splits, "kid_subsets": options.kid_subsets,
            "kid_subset_size": ctx.details.get("kid", {}).get("subset_size", options.kid_subset_size),
            "pr_k": options.pr_k, "pr_inside": "<=", "dc_k": options.dc_k, "dc_inside": "<",
            **({"infinity_points": options.infinity_points} if "fid_inf" in values or "is_inf" in values else {}),
            "covariance_divisor": "N-1",
        },
        "fid_method": ctx.details.get("fid", {}).get("method"),
        "versions": _versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(time.perf_counter() - started, 3),
        "warnings": caught,
    }
    return EvaluationResult(values, provenance, ctx.details, caught, intervals, ci_info)


def _public_meta(meta: dict[str, Any]) -> dict[str, Any]:
    keys = ("source", "kind", "n", "cache", "content_sha256", "conversions", "skipped_files", "extract_seconds")
    return {k: meta[k] for k in keys if k in meta}


def compute_statistics(
    real: Any,
    output: str | Path,
    *,
    extractor: str | FeatureExtractor = DEFAULT_EXTRACTOR,
    weights: str | None = None,
    num_samples: int | None = None,
    batch_size: int = 64,
    device: str | torch.device = "auto",
    seed: int = DEFAULT_SEED,
    fid_only: bool = False,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    skip_bad_files: bool = False,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Extract reference features once and write them to ``output`` (``.npz``); returns the file's metadata.

    The file holds ``mu``/``sigma`` (pytorch-fid compatible), the float64 sums, and unless
    ``fid_only`` the features and logits, so KID, precision/recall and density/coverage can use it.
    """
    side = _open_side(real, "real", num_samples, SourceOptions(skip_bad_files=skip_bad_files))
    if side.stats is not None:
        raise GanEvalError(f"{real} is already a statistics file")
    fe = _prepare(extractor, weights, device)
    feature_cache = FeatureCache(cache_dir) if cache else None
    feature_set = _side_features(side, fe, need_features=not fid_only, cache=feature_cache, batch_size=batch_size,
                                 seed=seed, progress=progress)
    if fid_only:
        feature_set.features = feature_set.logits = None
    meta = {**fe.describe(), **_public_meta(feature_set.meta), "versions": _versions(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    save_stats(output, feature_set, meta)
    return meta


def extract_reference(
    real: Any,
    *,
    extractor: str | FeatureExtractor = DEFAULT_EXTRACTOR,
    weights: str | None = None,
    num_real: int | None = None,
    batch_size: int = 64,
    device: str | torch.device = "auto",
    seed: int = DEFAULT_SEED,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    skip_bad_files: bool = False,
    progress: bool | None = None,
) -> FeatureSet:
    """Extract the real side once, keeping its features, for several :func:`evaluate` calls (``real=`` it).

    Sweeps and comparisons use this so the reference is read and embedded only once. A statistics
    file is loaded and checked instead.
    """
    side = _open_side(real, "real", num_real, SourceOptions(skip_bad_files=skip_bad_files))
    fe = _prepare(extractor, weights, device)
    feature_set = _side_features(side, fe, need_features=True, cache=FeatureCache(cache_dir) if cache else None,
                                 batch_size=batch_size, seed=seed, progress=progress)
    feature_set.meta.update({"extractor": fe.name, "weights_sha256": fe.weights_sha256})
    return feature_set


def sample_images(
    gen: Any,
    num: int,
    *,
    seed: int = 0,
    truncation: float | None = None,
    label: int | None = None,
    source: Any = None,
    device: str | torch.device = "cpu",
    trust_pickle: bool = False,
    batch_size: int = 64,
) -> torch.Tensor:
    """``num`` images from any generated-side spec as uint8 ``N×3×H×W``; the same seed gives the same images."""
    options = SourceOptions(trust_pickle=trust_pickle, truncation=truncation, label=label, translate=source,
                            device=resolve_device(device))
    images_source = open_source(gen, options)
    n = images_source.resolve_num_samples(num)
    return torch.cat(list(images_source.iter_batches(n, batch_size, seed)))
