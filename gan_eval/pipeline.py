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
from gan_eval.statistics import FeatureAccumulator, FeatureSet


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
    accumulator: FeatureAccumulator | None = None,
    workers: int = 0,
) -> FeatureSet:
    """Run ``extractor`` over ``num_samples`` images of ``source`` once.

    Moments accumulate in float64 on the extractor's device; features and logits are kept on the
    same device only when ``keep_features`` (KID, precision/recall, density/coverage, IS, caching).
    ``on_batch`` sees every uint8 batch (paired image metrics use it, so images are made only once).
    ``accumulator`` streams into an existing :class:`~gan_eval.statistics.FeatureAccumulator` (an
    :class:`~gan_eval.evaluator.Evaluator`'s) instead of a new one; ``keep_features`` is then its own.
    ``workers`` processes decode image folders while the forward pass runs (0: in this process); on
    CUDA their batches come in page-locked memory, so the copy to the GPU is asynchronous.

    Under ``torch.distributed`` (:mod:`gan_eval.distributed`) each rank extracts only its own batches
    and every rank returns the merged set (sums all-reduced, features gathered in global batch order),
    equal to one process's; sample counts, conversions and skipped files in ``meta`` are totals over the
    ranks. With ``accumulator`` the returned set is this rank's part: the accumulator's owner merges.
    """
    from gan_eval.distributed import all_gather_object, current_shard
    from gan_eval.sources import iter_own_batches

    if batch_size < 1:
        raise GanEvalError("--batch-size must be at least 1")
    acc = accumulator if accumulator is not None else FeatureAccumulator(
        extractor.feature_dim, extractor.device, keep_features=keep_features, keep_logits=keep_features)
    before = acc.n
    # Counts a source had before this pass (an array's, from its construction) are the same on every
    # rank; only what this pass adds is summed over the ranks.
    conversions_before, skipped_before = dict(source.conversions), len(source.skipped_files)
    started = time.perf_counter()
    with tqdm(total=num_samples, disable=not progress_enabled(progress), desc=label or source.description,
              unit="img", leave=False, file=sys.stderr) as bar:
        pin = torch.device(extractor.device).type == "cuda"
        shard = current_shard()
        for batch in iter_own_batches(source, num_samples, batch_size, seed, shard, workers=workers, pin_memory=pin):
            if on_batch is not None:
                on_batch(batch)
            acc.update(extractor(batch))
            bar.update(batch.shape[0])
    added = {k: v - conversions_before.get(k, 0) for k, v in source.conversions.items()}
    parts = all_gather_object((acc.n - before, added, len(source.skipped_files) - skipped_before, acc.n))
    read = sum(p[0] for p in parts)
    if read < 2:
        raise GanEvalError(f"{source.description} gave {read} readable image(s); at least 2 are needed")
    conversions = dict(conversions_before)
    for _, counts, _, _ in parts:
        for key, count in counts.items():
            conversions[key] = conversions.get(key, 0) + count
    meta: dict[str, Any] = {
        "source": source.description,
        "kind": source.kind,
        "n": sum(p[3] for p in parts),
        "conversions": conversions,
        "skipped_files": skipped_before + sum(p[2] for p in parts),
        "extract_seconds": round(time.perf_counter() - started, 3),
    }
    return acc.feature_set(meta, merge=accumulator is None)


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
    from gan_eval.distributed import agree, is_writer

    key = cache_key(content, num_samples, extractor.describe(), __version__)
    hit = cache.load(key, extractor.device)
    if not agree(hit is not None):
        hit = None  # several processes: a hit counts only when every rank hits (no rank extracts alone)
    if hit is not None:
        hit.meta.update({"source": source.description, "kind": source.kind, "n": hit.n, "cache": "hit",
                         "content_sha256": content})
        return hit
    kwargs["keep_features"] = True  # cache entries always hold features, so any later metric can hit
    feature_set = extract_features(source, extractor, num_samples, **kwargs)
    if not feature_set.meta.get("skipped_files") and is_writer():  # a partial read is not the content we hashed
        cache.save(key, feature_set)  # rank 0 only: the other processes never write
    feature_set.meta.update({"cache": "miss", "content_sha256": content})
    return feature_set
