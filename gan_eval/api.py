"""The Python API, a small public face: ``evaluate``, ``compute_statistics``, ``extract_reference``, ``sample_images``.

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
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        # Validate both sides before loading the network or extracting anything.
        real_side = Side.open(real, "real", opts.num_real, source_options) if needs_real else None
        gen_side = Side.open(gen, "gen", opts.num_samples, source_options)
        cap = (metric_options or MetricOptions()).psnr_cap
        pairing = _Pairing(real_side, opts.batch_size, opts.seed, cap) if paired else None
        evaluator = Evaluator([s.name for s in specs], real=real_side, options=opts, metric_options=metric_options,
                              pairs=pairing)
        evaluator.add_side(gen_side, on_batch=pairing.update if pairing else None)
        result = evaluator.compute()
        caught = list(dict.fromkeys(str(w.message) for w in recorded))
    for message in caught:
        warnings.warn(message, stacklevel=2)
    result.warnings = caught
    result.provenance["warnings"] = caught
    result.provenance["wall_time_s"] = round(time.perf_counter() - started, 3)
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
    feature_set.meta.update({"extractor": fe.name, "weights_sha256": fe.weights_sha256})
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


