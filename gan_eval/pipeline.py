"""Source → features: one forward pass per side, moments streamed, raw features kept when needed."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

import torch
from tqdm import tqdm

from gan_eval import __version__
from gan_eval.cache import FeatureCache, cache_key
from gan_eval.errors import GanEvalError
from gan_eval.extractors.base import FeatureExtractor
from gan_eval.sources import Source
from gan_eval.statistics import FeatureSet, FeatureStats


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is an error, not a silent CPU run."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise GanEvalError("--device cuda was requested but no CUDA GPU is available (use --device cpu or auto)")
    try:
        return torch.device(device)
    except RuntimeError:
        raise GanEvalError(f"invalid device {device!r}; use auto, cpu or cuda[:N]") from None


def progress_enabled(progress: bool | None) -> bool:
    """Progress bars default to on only when stderr is a terminal."""
    return sys.stderr.isatty() if progress is None else progress


def extract_features(
    source: Source,
    extractor: FeatureExtractor,
    num_samples: int,
    batch_size: int = 64,
    seed: int = 2020,
    keep_features: bool = True,
    progress: bool | None = None,
    label: str = "",
    on_batch: Callable[[torch.Tensor], None] | None = None,
) -> FeatureSet:
    """Run ``extractor`` over ``num_samples`` images of ``source`` once.

    Moments accumulate in float64 on the extractor's device; features and logits are kept on the
    same device only when ``keep_features`` (KID, precision/recall, density/coverage, IS, caching).
    ``on_batch`` sees every uint8 batch (paired image metrics use it, so images are made only once).
    """
    if batch_size < 1:
        raise GanEvalError("--batch-size must be at least 1")
    device = extractor.device
    stats = FeatureStats(extractor.feature_dim, device)
    features: list[torch.Tensor] = []
    logits: list[torch.Tensor] = []
    started = time.perf_counter()
    with tqdm(total=num_samples, disable=not progress_enabled(progress), desc=label or source.description,
              unit="img", leave=False, file=sys.stderr) as bar:
        for batch in source.iter_batches(num_samples, batch_size, seed):
            if on_batch is not None:
                on_batch(batch)
            out = extractor(batch)
            stats.update(out["features"])
            if keep_features:
                features.append(out["features"])
                if "logits" in out:
                    logits.append(out["logits"])
            bar.update(batch.shape[0])
    if stats.n < 2:
        raise GanEvalError(f"{source.description} gave {stats.n} readable image(s); at least 2 are needed")
    meta: dict[str, Any] = {
        "source": source.description,
        "kind": source.kind,
        "n": stats.n,
        "conversions": dict(source.conversions),
        "skipped_files": len(source.skipped_files),
        "extract_seconds": round(time.perf_counter() - started, 3),
    }
    return FeatureSet(
        stats,
        torch.cat(features) if features else None,
        torch.cat(logits) if logits else None,
        meta,
    )


def extract_features_cached(
    source: Source,
    extractor: FeatureExtractor,
    num_samples: int,
    cache: FeatureCache | None,
    **kwargs: Any,
) -> FeatureSet:
    """:func:`extract_features` through the content-addressed cache (when the source can be hashed)."""
    content = source.content_hash() if cache is not None else None
    if content is None:
        feature_set = extract_features(source, extractor, num_samples, **kwargs)
        feature_set.meta["cache"] = "off" if cache is None else "not cacheable"
        return feature_set
    key = cache_key(content, num_samples, extractor.describe(), __version__)
    hit = cache.load(key, extractor.device)
    if hit is not None:
        hit.meta.update({"source": source.description, "kind": source.kind, "n": hit.n, "cache": "hit",
                         "content_sha256": content})
        return hit
    kwargs["keep_features"] = True  # cache entries always hold features, so any later metric can hit
    feature_set = extract_features(source, extractor, num_samples, **kwargs)
    if not source.skipped_files:  # a partial read is not the content we hashed
        cache.save(key, feature_set)
    feature_set.meta.update({"cache": "miss", "content_sha256": content})
    return feature_set
