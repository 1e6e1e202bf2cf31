"""One side of an evaluation — generated or reference — opened once and extracted once.

A :class:`Side` is the evaluation model every workflow consumes (``evaluate``, ``compare``, ``sweep``,
per-class, ``audit``, the benchmarks):

- :meth:`Side.open` decides, once, whether a spec is a statistics file (or already extracted
  features) or an image source, and validates it before any network is loaded;
- :meth:`Side.features` extracts it once (the reference through the content-addressed cache) and
  keeps the :class:`~gan_eval.statistics.FeatureSet`, so a reference shared by several generators or ψ
  values is embedded once;
- its cache key and provenance come from the one extraction path it calls
  (:func:`gan_eval.pipeline.extract_features_cached`) and its feature set's metadata.

``open_extractor`` builds the feature extractor from :class:`~gan_eval.options.Options` once per run.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gan_eval.errors import GanEvalError
from gan_eval.options import Options

if TYPE_CHECKING:
    import torch

    from gan_eval.cache import FeatureCache
    from gan_eval.extractors import FeatureExtractor
    from gan_eval.sources import Source, SourceOptions
    from gan_eval.statistics import FeatureSet

ROLES = ("gen", "real")


def open_extractor(options: Options) -> FeatureExtractor:
    """The extractor named by ``options.extractor`` on ``options.device``, resizing by ``options.resize`` (an
    extractor object is used as is, with its own resize mode)."""
    from gan_eval.extractors import FeatureExtractor, create_extractor
    from gan_eval.pipeline import resolve_device

    if isinstance(options.extractor, FeatureExtractor):
        return options.extractor
    return create_extractor(options.extractor, weights=options.weights, device=resolve_device(options.device),
                            resize=options.resize)


def open_cache(options: Options) -> FeatureCache | None:
    """The reference feature cache, or None with ``cache=False``."""
    from gan_eval.cache import FeatureCache

    return FeatureCache(options.cache_dir) if options.cache else None


@dataclass
class Side:
    """A generated or reference side: an image source with its sample count, or precomputed statistics."""

    role: str
    spec: Any
    source: Source | None = None
    num_samples: int = 0
    stats: FeatureSet | None = None
    _extracted: dict[tuple[str, str], FeatureSet] = field(default_factory=dict, repr=False)

    # -- opening --------------------------------------------------------------------------------
    @classmethod
    def open(cls, spec: Any, role: str, num_samples: int | None = None,
             source_options: SourceOptions | None = None) -> Side:
        """Open ``spec`` for ``role`` ("gen" or "real"), deciding once: statistics or images.

        A :class:`Side` is returned as it is; a :class:`~gan_eval.statistics.FeatureSet` or a statistics
        file is accepted only on the real side; anything else goes to the source resolvers.
        """
        from gan_eval.sources import SourceOptions, open_source
        from gan_eval.statistics import FeatureSet, is_stats_file, load_stats

        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        if isinstance(spec, Side):
            return spec
        if isinstance(spec, FeatureSet):
            if role != "real":
                raise GanEvalError("only the real side can be given as already extracted features")
            if num_samples is not None:
                warnings.warn("--num-real does not subsample already extracted features; all of them are used")
            return cls(role, spec.meta.get("source", "extracted features"), stats=spec)
        if is_stats_file(spec):
            if role != "real":
                raise GanEvalError(f"{spec} is a statistics file; only the real side can be precomputed statistics")
            feature_set = load_stats(spec)
            if num_samples is not None:
                warnings.warn("--num-real does not subsample a statistics file; all of its samples are used")
            feature_set.meta.setdefault("n", feature_set.stats.n)
            feature_set.meta["kind"] = "statistics"
            return cls(role, spec, stats=feature_set)
        source = open_source(spec, source_options or SourceOptions())
        return cls(role, spec, source=source, num_samples=source.resolve_num_samples(num_samples))

    # -- facts ----------------------------------------------------------------------------------
    @property
    def is_statistics(self) -> bool:
        """True when this side is precomputed statistics (no images to read)."""
        return self.stats is not None

    @property
    def description(self) -> str:
        return str(self.source.description) if self.source is not None else str(self.spec)

    def check_extractor_name(self, extractor: Any, resize: str | None = None) -> None:
        """Refuse, before any network is loaded, statistics made with another named extractor (or ``resize`` mode).

        ``extractor`` is a name or an extractor object (objects are checked later, with their weights).
        """
        if self.stats is None or not isinstance(extractor, str):
            return
        made_with = self.stats.meta.get("extractor")
        if made_with and made_with != extractor:
            raise GanEvalError(f"{self.spec} was made with extractor {made_with!r}, not {extractor!r}; "
                               f"pass --extractor {made_with} (or recompute the statistics)")
        if made_with and resize is not None:
            check_resize(self.stats.meta, resize, self.spec)

    # -- extraction -----------------------------------------------------------------------------
    def features(self, extractor: FeatureExtractor, *, need_features: bool, cache: FeatureCache | None,
                 options: Options, on_batch: Any = None) -> FeatureSet:
        """Extract (once) and return this side's features under ``extractor``.

        ``need_features`` keeps the raw features (KID, k-NN metrics, intervals) as well as the float64
        moments. Only the real side goes through ``cache``. A statistics side is checked against the
        extractor and moved to its device.
        """
        if self.stats is not None:
            return self._from_statistics(extractor, need_features)
        memo = (extractor.name, str(extractor.weights_sha256), extractor.describe()["preprocessing"])
        done = self._extracted.get(memo)
        if done is not None and (done.features is not None or not need_features) and on_batch is None:
            return done
        from gan_eval.pipeline import extract_features_cached

        # With no more samples than dimensions FID is computed exactly from the features (nuclear norm),
        # so keep them; they are small then.
        keep = need_features or self.num_samples <= extractor.feature_dim
        feature_set = extract_features_cached(
            self.source, extractor, self.num_samples, cache if self.role == "real" else None,
            batch_size=options.batch_size, workers=options.workers, seed=options.seed, keep_features=keep,
            progress=options.progress,
            label=f"{self.role}: {self.source.description}", on_batch=on_batch,
        )
        feature_set.meta.update({"extractor": extractor.name, "weights_sha256": extractor.weights_sha256,
                                 "resize": extractor.describe()["resize"]})
        self._extracted[memo] = feature_set
        return feature_set

    def _from_statistics(self, extractor: FeatureExtractor, need_features: bool) -> FeatureSet:
        from gan_eval.statistics import FeatureSet, FeatureStats

        feature_set = self.stats
        check_compatible(feature_set.meta, feature_set.stats.dim, extractor, self.spec)
        if need_features and feature_set.features is None:
            raise GanEvalError(f"{self.spec} holds only mean and covariance; KID, precision/recall and "
                               f"density/coverage need features (recompute with `gan-eval stats` without --fid-only)")
        moved = FeatureStats(feature_set.stats.dim, extractor.device).merge(feature_set.stats)
        return FeatureSet(moved, _to(feature_set.features, extractor.device), _to(feature_set.logits, extractor.device),
                          feature_set.meta)


def check_compatible(meta: dict[str, Any], dim: int, extractor: FeatureExtractor, path: Any) -> None:
    """Refuse statistics made with another extractor or other weights; warn when they carry no provenance."""
    if "extractor" not in meta:
        warnings.warn(f"{path} carries no provenance (not written by gan-eval); assuming it used {extractor.name} "
                      f"with the same weights")
        if dim != extractor.feature_dim:
            raise GanEvalError(f"{path} has {dim}-dimensional statistics but {extractor.name} "
                               f"gives {extractor.feature_dim}")
        return
    if meta["extractor"] != extractor.name:
        raise GanEvalError(f"{path} was computed with extractor {meta['extractor']!r}, not {extractor.name!r}; "
                           f"pass --extractor {meta['extractor']} or recompute the statistics")
    if meta.get("weights_sha256") and meta["weights_sha256"] != extractor.weights_sha256:
        raise GanEvalError(f"{path} was computed with other {extractor.name} weights (sha256 "
                           f"{meta['weights_sha256'][:12]}…, now {extractor.weights_sha256[:12]}…); recompute it")
    check_resize(meta, extractor.describe()["resize"], path)


def check_resize(meta: dict[str, Any], resize: str, path: Any) -> None:
    """Refuse statistics resized by another ``--resize`` mode (files from before the option: the default, ``tf1``)."""
    from gan_eval.extractors.resize import RESIZE_MODES

    made_with = meta.get("resize") or RESIZE_MODES[0]
    if made_with != resize:
        raise GanEvalError(f"{path} was computed with --resize {made_with}, not {resize}; "
                           f"pass --resize {made_with} or recompute the statistics")


def _to(tensor: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if tensor is None else tensor.to(device)
