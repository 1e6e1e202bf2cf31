"""An evaluator a training loop can hold: ``update()`` with batches of images, ``compute()`` a result.

>>> ev = gan_eval.Evaluator(["fid", "pr"], extractor="digits", real="ref_digits.npz")
>>> for _ in range(20):
...     ev.update(G(torch.randn(100, z_dim, device=dev)), value_range=(-1, 1))
>>> ev.compute()["fid"]
>>> ev.reset()                       # keeps the reference side; reset(real=True) drops it too

The extractor is built and verified once per evaluator, and the reference side (``real=``: any spec
``evaluate`` takes, through the cache) is extracted once. Generated images stream into float64 sums
(constant memory in N); raw features and logits are kept only when a requested metric, or ``ci``,
needs them. :func:`gan_eval.evaluate` is this evaluator fed from a source, so both give the same numbers.

Under ``torch.distributed`` (torchrun) each rank ``update()``s its own images; the k-th batch of
``batch_size`` a rank flushes counts as global batch ``rank + k·world``, and ``compute()`` — called on
every rank — merges the ranks (see :mod:`gan_eval.distributed`), so every rank gets the same result.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gan_eval.errors import GanEvalError
from gan_eval.options import Options
from gan_eval.result import EvaluationResult, build_provenance
from gan_eval.side import Side, open_cache, open_extractor

if TYPE_CHECKING:
    from gan_eval.metrics import MetricOptions
    from gan_eval.statistics import FeatureSet


class Evaluator:
    """Streaming evaluation: ``update(images)`` any number of times, then ``compute()``.

    ``metrics``: registered metric names (a list or a comma-separated string). ``real``: the reference
    (a directory, array, ``builtin:NAME``, statistics file, :class:`~gan_eval.side.Side`...), or None to
    stream it with ``update(images, real=True)``. ``options`` (or the same names as keywords, e.g.
    ``extractor="digits"``, ``device="cuda"``, ``ci=0.95``) as for :func:`gan_eval.evaluate`;
    ``value_range`` is the default range of float images (e.g. ``(-1, 1)``); ``metric_options`` the
    metric-specific knobs. ``pairs`` is an accumulator of paired images (``update(generated, real)``,
    ``compute()``) for the paired metrics (L1, PSNR, SSIM) when ``evaluate`` drives the evaluator.
    """

    def __init__(self, metrics: Sequence[str] | str = ("fid",), *, real: Any = None, options: Options | None = None,
                 value_range: tuple[float, float] | None = None, metric_options: MetricOptions | None = None,
                 pairs: Any = None, source_options: Any = None, **shared: Any) -> None:
        from gan_eval.metrics import MetricOptions, get_metrics
        from gan_eval.sources import SourceOptions
        from gan_eval.statistics import FeatureAccumulator

        opts, rest = Options.split(options, dict(shared))
        if rest:
            raise TypeError(f"Evaluator() got unexpected keyword argument(s): {', '.join(sorted(rest))}")
        self.specs = get_metrics(metrics)
        latent = [s.name for s in self.specs if s.needs_latent]
        if latent:
            raise GanEvalError(f"{', '.join(latent)} samples a generator's latent space, not images: "
                               f"use gan_eval.evaluate(model, metrics={latent[0]!r})")
        self.options = opts
        self.value_range = value_range
        self.metric_options = (metric_options or MetricOptions()).for_run(opts.seed, opts.ci)
        self.pairs = pairs
        needs_real = [s.name for s in self.specs if s.needs_real]
        self._needs_logits = any(s.needs_logits for s in self.specs)
        self._need_features = any(s.needs_features for s in self.specs)
        self._warnings: list[str] = []
        with self._recording():
            side = None
            if real is not None:  # opened (and checked) before the network is loaded
                side = Side.open(real, "real", opts.num_real,
                                 source_options or SourceOptions(skip_bad_files=opts.skip_bad_files))
                side.check_extractor_name(opts.extractor, opts.resize)
            self.extractor = open_extractor(opts)  # built and verified once
            if self._needs_logits and not self.extractor.has_logits:
                raise GanEvalError(f"the Inception Score needs class logits, which extractor {self.extractor.name!r} "
                                   f"does not give")
            self.options = opts.but(extractor=self.extractor)
            fe = self.extractor
            keep_gen = self._need_features or self._needs_logits or opts.ci is not None
            # None: keep features only while N <= d, where FID is computed exactly from them.
            self._gen = FeatureAccumulator(fe.feature_dim, fe.device, keep_features=True if keep_gen else None,
                                           keep_logits=keep_gen)
            self._real_needs = self._need_features or opts.ci is not None
            self._streamed_real = FeatureAccumulator(fe.feature_dim, fe.device,
                                                     keep_features=True if self._real_needs else None,
                                                     keep_logits=False)
            self._gen_meta: dict[str, Any] = {"source": "Evaluator.update", "kind": "tensor"}
            self._pending: dict[bool, list[Any]] = {False: [], True: []}  # uint8 images not yet embedded
            self._reference: FeatureSet | None = None
            self._needs_real = needs_real
            if side is not None:
                # With intervals the real features are resampled when there are any; a statistics file
                # holding only mean and covariance is then held fixed (said in ci_info).
                need = self._need_features or (opts.ci is not None and not side.is_statistics)
                self._reference = side.features(fe, need_features=need, cache=open_cache(opts), options=opts)

    # -- feeding ---------------------------------------------------------------------------------
    def update(self, images: Any, real: bool = False, value_range: tuple[float, float] | None = None) -> None:
        """Add a batch of images: uint8, or float in ``value_range`` (default: the evaluator's).

        Any device and any batch size; ``N×C×H×W`` with C in 1, 3, 4 (``N×H×W`` grey too). The images
        move to the extractor's device once, and their features stay there. Images are regrouped into
        forward passes of ``options.batch_size`` (the last one runs at ``compute()``), so the features,
        and every number, are the same whatever the sizes of the batches given here.
        """
        from gan_eval.sources import to_uint8

        if real and self._reference is not None:
            raise GanEvalError("this evaluator already has a reference side (real=...); reset(real=True) to stream one")
        with self._recording():
            batch = to_uint8(images, value_range if value_range is not None else self.value_range)
            pending = self._pending[real]
            if pending and pending[0].shape[1:] != batch.shape[1:]:
                self._flush(real)  # another image size: batches hold one size
            start, size = 0, self.options.batch_size
            while start < batch.shape[0]:
                room = size - sum(p.shape[0] for p in pending)
                pending.append(batch[start:start + room].to(self.extractor.device, non_blocking=True))
                start += room
                if sum(p.shape[0] for p in pending) == size:
                    self._flush(real)

    def _flush(self, real: bool) -> None:
        import torch

        pending = self._pending[real]
        if pending:
            images = torch.cat(pending) if len(pending) > 1 else pending[0]
            pending.clear()
            (self._streamed_real if real else self._gen).update(self.extractor(images))

    def add_side(self, side: Side, on_batch: Any = None) -> None:
        """Stream all of a generated :class:`~gan_eval.side.Side` (a source, not statistics) into the evaluator.

        ``on_batch`` sees every uint8 batch (the paired metrics use it). Records the side's provenance.
        """
        from gan_eval.pipeline import extract_features

        if side.is_statistics:
            raise GanEvalError(f"{side.spec} is a statistics file; only the real side can be precomputed statistics")
        with self._recording():
            self._flush(False)
            feature_set = extract_features(
                side.source, self.extractor, side.num_samples, batch_size=self.options.batch_size,
                workers=self.options.workers, seed=self.options.seed, progress=self.options.progress,
                label=f"gen: {side.source.description}",
                on_batch=on_batch, accumulator=self._gen)
            self._gen_meta = {**{k: v for k, v in feature_set.meta.items() if k != "n"}, "cache": "off"}

    def reset(self, real: bool = False) -> None:
        """Forget the generated images; with ``real=True`` the reference side too."""
        self._gen.reset()
        self._pending[False].clear()
        self._gen_meta = {"source": "Evaluator.update", "kind": "tensor"}
        self._warnings = []
        if hasattr(self.pairs, "reset"):
            self.pairs.reset()
        if real:
            self._streamed_real.reset()
            self._pending[True].clear()
            self._reference = None

    @property
    def num_generated(self) -> int:
        """Generated images added since the last reset."""
        return self._gen.n + sum(p.shape[0] for p in self._pending[False])

    @property
    def held_feature_rows(self) -> int:
        """Rows of raw generated features held in memory (0 when the metrics need only the float64 sums)."""
        return self._gen.held_rows

    # -- result ----------------------------------------------------------------------------------
    def compute(self) -> EvaluationResult:
        """Every requested metric (and intervals with ``ci``) on what was added since the last reset."""
        from gan_eval.intervals import metric_intervals
        from gan_eval.metrics import MetricContext, compute_metrics, metric_provenance

        started = time.perf_counter()
        with self._recording():
            self._flush(False)
            self._flush(True)
            # Under torch.distributed every rank merges here (sums all-reduced, features gathered in
            # global batch order), so every rank computes the numbers of one process.
            gen_set = self._gen.feature_set(self._gen_meta)
            if gen_set.n < 2:
                raise GanEvalError(f"the evaluator holds {gen_set.n} generated image(s); at least 2 are needed")
            real_set = self._real_set()
            ctx = MetricContext(gen_set, real_set, self.metric_options, paired=self.pairs)
            values = compute_metrics(self.specs, ctx)
            o = self.options
            intervals, ci_info = metric_intervals(self.specs, ctx, values, o.ci, o.bootstrap, o.seed)
        caught = list(self._warnings)
        provenance = build_provenance(extractor=self.extractor, seed=o.seed, gen_set=gen_set, real_set=real_set,
                                      metric_options=metric_provenance(ctx, values),
                                      fid_method=ctx.details.get("fid", {}).get("method"),
                                      started=started, warnings=caught)
        return EvaluationResult(values, provenance, ctx.details, caught, intervals, ci_info)

    def _real_set(self) -> FeatureSet | None:
        if self._reference is not None:
            return self._reference
        from gan_eval.distributed import all_gather_object

        if sum(all_gather_object(self._streamed_real.n)) >= 2:  # over every rank
            return self._streamed_real.feature_set({"source": "Evaluator.update(real=True)", "kind": "tensor"})
        if self._needs_real:
            raise GanEvalError(f"{', '.join(self._needs_real)} need a real reference: pass real=... or "
                               f"update(images, real=True) with at least 2 images")
        return None

    def _recording(self) -> Any:
        """Collect warnings raised inside (deduplicated, in order) for the result, and show each once."""
        evaluator = self

        class _Recorder:
            def __enter__(self) -> None:
                self._ctx = warnings.catch_warnings(record=True)
                self._log = self._ctx.__enter__()
                warnings.simplefilter("always")

            def __exit__(self, *exc: Any) -> None:
                self._ctx.__exit__(*exc)
                for w in self._log:
                    message = str(w.message)
                    if message not in evaluator._warnings:
                        evaluator._warnings.append(message)
                        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

        return _Recorder()
