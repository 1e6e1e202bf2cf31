"""The Python API, a small public face: ``evaluate``, ``evaluate_features``, ``compute_statistics``, ``extract_reference``, ``sample_images``.

``evaluate(gen, real, metrics)`` opens each side once (:class:`~gan_eval.side.Side`: statistics file or
image source), extracts features once per side (the real side through the cache), computes every
requested metric from the metric records, and returns an :class:`~gan_eval.result.EvaluationResult`
with values, intervals and provenance. Every function takes one :class:`~gan_eval.options.Options`
(seed, batch size, device, sample counts, intervals, cache...) or the same names as keywords.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gan_eval.errors import GanEvalError
from gan_eval.options import DEFAULT_EXTRACTOR, DEFAULT_SEED, Options  # noqa: F401  (re-exported defaults)
from gan_eval.result import (  # noqa: F401
    RESULT_SCHEMA,
    EvaluationResult,
    build_provenance,
    public_side_meta,
)
from gan_eval.side import Side, open_cache, open_extractor

if TYPE_CHECKING:
    import torch

    from gan_eval.metrics import MetricOptions
    from gan_eval.statistics import FeatureSet


def _no_extra(function: str, rest: dict[str, Any]) -> None:
    if rest:
        raise TypeError(f"{function}() got unexpected keyword argument(s): {', '.join(sorted(rest))}")


def evaluate(
    gen: Any,
    real: Any = None,
    metrics: Sequence[str] | str = ("fid",),
    options: Options | None = None,
    *,
    metric_options: MetricOptions | None = None,
    value_range: tuple[float, float] | None = None,
    truncation: float | None = None,
    label: int | None = None,
    source: Any = None,
    paired: bool = False,
    **shared: Any,
) -> EvaluationResult:
    """Evaluate generated images against real ones.

    ``gen``/``real``: a directory, ``.npz``/``.npy`` file, ``builtin:NAME``, ``package.module:function``,
    a uint8 tensor/array, a DataLoader, an object with ``sample(n, generator)``, or an opened
    :class:`~gan_eval.side.Side`; ``real`` may also be a statistics file from :func:`compute_statistics`.
    ``value_range`` declares the range of float in-memory images (e.g. ``(-1, 1)``). ``metrics``: any
    registered metric (``gan_eval.metrics.available_metrics()``).

    ``options`` (or the same names as keywords: ``extractor``, ``weights``, ``num_samples``, ``num_real``,
    ``batch_size``, ``device``, ``seed``, ``ci``, ``bootstrap``, ``cache``, ``cache_dir``,
    ``skip_bad_files``, ``trust_pickle``, ``progress``, ``workers``; defaults in :data:`gan_eval.options.SHARED`).
    ``num_samples`` caps the generated side (default: all of a finite source, 10,000 from a generator);
    ``num_real`` caps the real side (default: all). ``ci`` (e.g. 0.95) adds bootstrap intervals to
    ``result.ci`` from the same features, with ``bootstrap`` resamples seeded by ``seed``.
    ``metric_options`` sets metric-specific knobs (KID subsets, k of the k-NN metrics...).

    Generator checkpoints (``gen="model.safetensors"``) take ``truncation`` (ψ toward the average w, or
    the truncated-normal threshold, by the model's kind) and ``label`` (one class of a conditional
    model). Image-to-image checkpoints translate ``source`` (a directory or array of inputs); with
    ``paired=True`` the i-th translated image is also compared with the i-th real image (L1, PSNR,
    SSIM in ``result.metrics``).
    """
    started = time.perf_counter()
    from gan_eval.evaluator import Evaluator
    from gan_eval.metrics import MetricOptions, get_metrics
    from gan_eval.pipeline import resolve_device
    from gan_eval.sources import SourceOptions

    opts, rest = Options.split(options, dict(shared))
    _no_extra("evaluate", rest)
    specs = get_metrics(metrics)
    if paired:
        specs += [s for s in get_metrics("l1,psnr,ssim") if s not in specs]
    elif any(s.needs_paired for s in specs):
        raise GanEvalError(f"{', '.join(s.name for s in specs if s.needs_paired)} compare each translated image with "
                           f"its target: pass an image-to-image model, --source, --real and --paired")
    needs_real = any(s.needs_real for s in specs)
    if needs_real and real is None:
        raise GanEvalError(f"{', '.join(s.name for s in specs if s.needs_real)} need a real reference (--real)")
    if paired and (source is None or real is None):
        raise GanEvalError("paired metrics need an image-to-image model, --source and --real")
    from gan_eval.distributed import world_size

    if paired and world_size() > 1:
        raise GanEvalError("--paired runs in one process only (its per-image metrics are not sharded yet); "
                           "run it without torchrun")
    extractor_device = getattr(opts.extractor, "device", None)
    source_options = SourceOptions(skip_bad_files=opts.skip_bad_files, trust_pickle=opts.trust_pickle,
                                   value_range=value_range, truncation=truncation, label=label, translate=source,
                                   device=extractor_device if extractor_device is not None else resolve_device(opts.device))
    caught: list[str] = []
    # Metrics of the generator itself (PPL) sample its latent space; the others see images.
    latent_specs = [s for s in specs if s.needs_latent]
    image_specs = [s for s in specs if not s.needs_latent]
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        # Validate both sides before loading the network or extracting anything.
        model = _latent_model(gen, latent_specs, source_options) if latent_specs else None
        result = None
        if image_specs:
            real_side = Side.open(real, "real", opts.num_real, source_options) if needs_real else None
            gen_side = Side.open(gen, "gen", opts.num_samples, source_options)
            cap = (metric_options or MetricOptions()).psnr_cap
            pairing = _Pairing(real_side, opts.batch_size, opts.seed, cap) if paired else None
            evaluator = Evaluator([s.name for s in image_specs], real=real_side, options=opts,
                                  metric_options=metric_options, pairs=pairing)
            evaluator.add_side(gen_side, on_batch=pairing.update if pairing else None)
            result = evaluator.compute()
        if latent_specs:
            latent = _evaluate_latent(model, latent_specs, opts, metric_options, source_options.device)
            result = latent if result is None else _merge_latent(result, latent)
        caught = list(dict.fromkeys(str(w.message) for w in recorded))
    for message in caught:
        warnings.warn(message, stacklevel=2)
    result.warnings = caught
    result.provenance["warnings"] = caught
    result.provenance["wall_time_s"] = round(time.perf_counter() - started, 3)
    return result


def evaluate_features(
    gen_features: Any,
    real_features: Any = None,
    metrics: Sequence[str] | str = ("fid",),
    options: Options | None = None,
    *,
    gen_logits: Any = None,
    metric_options: MetricOptions | None = None,
    **shared: Any,
) -> EvaluationResult:
    """Metrics (and intervals with ``ci``) from feature arrays the caller already has, e.g. from their own encoder.

    ``gen_features``/``real_features``: ``N×d`` numpy arrays or torch tensors (the same d, finite, N ≥ 2
    per side). ``gen_logits`` (``N×C``) is needed by the Inception Score (``is``, ``is_inf``). ``options``
    (or the same names as keywords): ``ci``, ``bootstrap``, ``seed`` and ``device`` (``auto``: a tensor
    stays on its device, an array goes to CUDA when present) matter here. Returns the same
    :class:`~gan_eval.result.EvaluationResult` as :func:`evaluate`, computed by the same metric records
    and interval code; its provenance says the features were supplied (no extractor).
    """
    started = time.perf_counter()
    from gan_eval.intervals import metric_intervals
    from gan_eval.metrics import MetricContext, MetricOptions, compute_metrics, get_metrics, metric_provenance

    opts, rest = Options.split(options, dict(shared))
    _no_extra("evaluate_features", rest)
    specs = get_metrics(metrics)
    if any(s.needs_paired for s in specs):
        raise GanEvalError(f"{', '.join(s.name for s in specs if s.needs_paired)} compare images, not features: "
                           f"use gan_eval.evaluate with --paired")
    needs_real = [s.name for s in specs if s.needs_real]
    if needs_real and real_features is None:
        raise GanEvalError(f"{', '.join(needs_real)} need real features (real_features=...)")
    needs_logits = [s.name for s in specs if s.needs_logits]
    if needs_logits and gen_logits is None:
        raise GanEvalError(f"{', '.join(needs_logits)} need the classifier's logits of the generated samples "
                           f"(gen_logits=...)")
    gen = _feature_tensor(gen_features, "gen_features", opts.device)
    real = _feature_tensor(real_features, "real_features", gen.device) if real_features is not None else None
    if real is not None and real.shape[1] != gen.shape[1]:
        raise GanEvalError(f"feature dimensions differ: gen_features has {gen.shape[1]}, real_features {real.shape[1]}")
    logits = _feature_tensor(gen_logits, "gen_logits", gen.device) if gen_logits is not None else None
    if logits is not None and logits.shape[0] != gen.shape[0]:
        raise GanEvalError(f"gen_logits has {logits.shape[0]} rows but gen_features has {gen.shape[0]}")
    gen_set = _supplied_set(gen, logits, "gen_features")
    real_set = _supplied_set(real, None, "real_features") if real is not None else None
    run_options = (metric_options or MetricOptions()).for_run(opts.seed, opts.ci)
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        ctx = MetricContext(gen_set, real_set, run_options)
        values = compute_metrics(specs, ctx)
        intervals, ci_info = metric_intervals(specs, ctx, values, opts.ci, opts.bootstrap, opts.seed)
        caught = list(dict.fromkeys(str(w.message) for w in recorded))
    for message in caught:
        warnings.warn(message, stacklevel=2)
    provenance = build_provenance(seed=opts.seed, gen_set=gen_set, real_set=real_set, extractor=None,
                                  feature_dim=gen.shape[1], weights_sha256=None, device=str(gen.device),
                                  features="supplied by the caller (gan_eval.evaluate_features): no extractor",
                                  metric_options=metric_provenance(ctx, values),
                                  fid_method=ctx.details.get("fid", {}).get("method"), started=started,
                                  warnings=caught)
    provenance["extractor"] = None
    return EvaluationResult(values, provenance, ctx.details, caught, intervals, ci_info)


def _feature_tensor(value: Any, name: str, device: Any) -> torch.Tensor:
    """A 2-D finite float tensor on ``device`` (``auto``: a tensor's own device; CUDA for arrays when present)."""
    import numpy as np
    import torch

    from gan_eval.pipeline import resolve_device

    if isinstance(value, torch.Tensor):
        target = value.device if device == "auto" else resolve_device(device)
        tensor = value.detach()
    else:
        try:
            array = np.asarray(value)
        except (TypeError, ValueError) as error:
            raise GanEvalError(f"{name} must be a numpy array or torch tensor: {error}") from None
        if array.dtype.kind not in "biuf":
            raise GanEvalError(f"{name} must hold numbers, got dtype {array.dtype}")
        target = resolve_device(device)
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.dim() != 2:
        raise GanEvalError(f"{name} must be 2-D (N×d), got shape {tuple(tensor.shape)}")
    if not tensor.is_floating_point() or tensor.element_size() < 4:  # integers, float16, bfloat16
        tensor = tensor.to(torch.float32)
    if tensor.shape[0] < 2 or tensor.shape[1] < 1:
        raise GanEvalError(f"{name} needs at least 2 rows and 1 column, got shape {tuple(tensor.shape)}")
    if not bool(torch.isfinite(tensor).all()):
        raise GanEvalError(f"{name} holds NaN or infinite values")
    return tensor.to(target)


def _supplied_set(features: torch.Tensor, logits: torch.Tensor | None, name: str) -> FeatureSet:
    from gan_eval.statistics import FeatureSet, FeatureStats

    meta = {"source": name, "kind": "features", "n": features.shape[0]}
    return FeatureSet(FeatureStats.from_features(features), features, logits, meta)


def _latent_model(gen: Any, specs: list[Any], source_options: Any) -> Any:
    """The generator object behind ``gen`` for metrics that sample its latent space; images are a one-line error."""
    from gan_eval.sources import open_generator

    opened = open_generator(gen, source_options)
    if opened is None:
        raise GanEvalError(f"{', '.join(s.name for s in specs)} needs a generator with a latent space (a checkpoint, "
                           f"builtin:NAME or package.module:function), not images: {gen}")
    return opened.model


def _evaluate_latent(model: Any, specs: list[Any], opts: Options, metric_options: MetricOptions | None,
                     device: Any) -> EvaluationResult:
    """The latent-space metrics (PPL) of ``model``: ``num_samples`` paths (default 10,000), with intervals."""
    import torch

    from gan_eval.intervals import metric_intervals
    from gan_eval.metrics import (
        MetricContext,
        MetricOptions,
        compute_metrics,
        metric_provenance,
    )
    from gan_eval.models import generator_name
    from gan_eval.sources import DEFAULT_GENERATOR_SAMPLES
    from gan_eval.statistics import FeatureSet, FeatureStats

    started = time.perf_counter()
    n = opts.num_samples or DEFAULT_GENERATOR_SAMPLES
    device = torch.device(device)
    # No features: the set only carries the sample count (bootstrap counts are drawn per latent path).
    stats = FeatureStats(1, device)
    stats.n = n
    gen_set = FeatureSet(stats, None, None, {"source": generator_name(model), "kind": "generator latents", "n": n})
    ctx = MetricContext(gen_set, None, (metric_options or MetricOptions()).for_run(opts.seed, opts.ci), model=model)
    ctx.details["ppl"] = {"num_samples": n, "batch_size": opts.batch_size, "device": str(device)}
    values = compute_metrics(specs, ctx)
    intervals, ci_info = metric_intervals(specs, ctx, values, opts.ci, opts.bootstrap, opts.seed)
    weights = ctx.details.get("ppl", {}).get("weights", {})
    provenance = build_provenance(seed=opts.seed, gen_set=gen_set, extractor=None, started=started,
                                  metric_options=metric_provenance(ctx, values), ppl=weights)
    provenance.update({"extractor": "lpips-vgg16", "weights_sha256": weights.get("lpips_weights_sha256"),
                       "weights_origin": weights.get("lpips_weights_origin"), "device": str(device)})
    return EvaluationResult(values, provenance, ctx.details, [], intervals, ci_info)


def _merge_latent(result: EvaluationResult, latent: EvaluationResult) -> EvaluationResult:
    """``result`` (image metrics) with the latent metrics' values, intervals, details and provenance added."""
    result.metrics.update(latent.metrics)
    result.ci.update(latent.ci)
    if latent.ci_info:
        resampled = {**result.ci_info.get("resampled", {}), **latent.ci_info.get("resampled", {})}
        target = {**result.ci_info.get("target", {}), **latent.ci_info.get("target", {})}
        result.ci_info = {**latent.ci_info, **result.ci_info, "resampled": resampled, "target": target}
    result.details.update(latent.details)
    result.provenance["ppl"] = latent.provenance.get("ppl")
    result.provenance.setdefault("metric_options", {}).update(latent.provenance.get("metric_options", {}))
    return result


def compute_statistics(real: Any, output: str | Path, options: Options | None = None, *, fid_only: bool = False,
                       **shared: Any) -> dict[str, Any]:
    """Extract reference features once and write them to ``output`` (``.npz``); returns the file's metadata.

    The file holds ``mu``/``sigma`` (pytorch-fid compatible), the float64 sums, and unless
    ``fid_only`` the features and logits, so KID, precision/recall and density/coverage can use it.
    ``num_samples`` (or ``num_real``) caps the images read.
    """
    from gan_eval.sources import SourceOptions
    from gan_eval.statistics import save_stats

    opts, rest = Options.split(options, dict(shared))
    _no_extra("compute_statistics", rest)
    side = Side.open(real, "real", opts.num_samples if opts.num_samples is not None else opts.num_real,
                     SourceOptions(skip_bad_files=opts.skip_bad_files))
    if side.is_statistics:
        raise GanEvalError(f"{real} is already a statistics file")
    fe = open_extractor(opts)
    feature_set = side.features(fe, need_features=not fid_only, cache=open_cache(opts), options=opts)
    if fid_only:
        feature_set.features = feature_set.logits = None
    meta = build_provenance(extractor=fe, **public_side_meta(feature_set.meta))
    from gan_eval.distributed import is_writer

    if is_writer():  # under torchrun every rank holds the merged set; rank 0 writes it
        save_stats(output, feature_set, meta)
    return meta


def extract_reference(real: Any, options: Options | None = None, **shared: Any) -> FeatureSet:
    """Extract the real side once, keeping its features, for several :func:`evaluate` calls (``real=`` it).

    A statistics file is loaded and checked instead. (Workflows that hold the reference themselves
    open a :class:`~gan_eval.side.Side` and call its ``features()``; this is the same, as one call.)
    """
    from gan_eval.sources import SourceOptions

    opts, rest = Options.split(options, dict(shared))
    _no_extra("extract_reference", rest)
    side = Side.open(real, "real", opts.num_real, SourceOptions(skip_bad_files=opts.skip_bad_files))
    fe = open_extractor(opts)
    feature_set = side.features(fe, need_features=True, cache=open_cache(opts), options=opts)
    feature_set.meta.update({"extractor": fe.name, "weights_sha256": fe.weights_sha256, "resize": fe.describe()["resize"]})
    return feature_set


def sample_images(gen: Any, num: int, options: Options | None = None, *, truncation: float | None = None,
                  label: int | None = None, source: Any = None, **shared: Any) -> torch.Tensor:
    """``num`` images from any generated-side spec as uint8 ``N×3×H×W``; the same seed gives the same images.

    Uses ``options``' seed, device (``auto``: CUDA when present), batch size and trust_pickle.
    """
    import torch

    from gan_eval.pipeline import resolve_device
    from gan_eval.sources import SourceOptions, open_source

    opts, rest = Options.split(options, dict(shared))
    _no_extra("sample_images", rest)
    source_options = SourceOptions(trust_pickle=opts.trust_pickle, truncation=truncation, label=label, translate=source,
                                   device=resolve_device(opts.device))
    images_source = open_source(gen, source_options)
    n = images_source.resolve_num_samples(num)
    return torch.cat([b.cpu() for b in images_source.iter_batches(n, opts.batch_size, opts.seed)])


class _Pairing:
    """Feeds generated batches and the matching real images (same order) to the paired metrics."""

    def __init__(self, real_side: Side, batch_size: int, seed: int, psnr_cap: float) -> None:
        from gan_eval.metrics.paired import PairedImageMetrics

        if real_side.source is None:
            raise GanEvalError("paired metrics need real images, not a statistics file")
        self.metrics = PairedImageMetrics(psnr_cap)
        self.real = real_side.source.iter_batches(real_side.num_samples, batch_size, seed)
        self.pending: list[Any] = []
        self.seen = 0

    def update(self, generated: torch.Tensor) -> None:
        import torch

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


