"""Source → features: one forward pass per side, moments streamed, raw features kept when needed."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

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


PROGRESS_INTERVAL_S = 10.0
"""Seconds between progress lines when stderr is not a terminal (``GAN_EVAL_PROGRESS_INTERVAL`` overrides)."""


def progress_enabled(progress: bool | None) -> bool:
    """Progress bars default to on only when stderr is a terminal."""
    return sys.stderr.isatty() if progress is None else progress


def progress_interval() -> float:
    """:data:`PROGRESS_INTERVAL_S`, or ``GAN_EVAL_PROGRESS_INTERVAL`` (seconds) when set to a number."""
    try:
        return max(0.0, float(os.environ["GAN_EVAL_PROGRESS_INTERVAL"]))
    except (KeyError, ValueError):
        return PROGRESS_INTERVAL_S


def format_duration(seconds: float) -> str:
    """``1h02m``, ``1m33s`` or ``42s``: short enough for a log line."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class ProgressLines:
    """Progress for logs (stderr not a terminal): one line at most every ``interval`` seconds.

    ``gan-eval: gen: builtin:dcgan: 1200/10000 images, 95 img/s, ~1m33s left``. A CI log or a
    redirected run is not silent for minutes, and is not flooded with tqdm's carriage returns either.
    Nothing is printed before the first interval has passed, so short runs stay quiet. ``unit`` names
    what is counted (``images``; ``steps`` for training).
    """

    def __init__(self, total: int, label: str, interval: float | None = None, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic, unit: str = "images") -> None:
        self.total, self.label, self.done, self.unit = total, label, 0, unit
        self.interval = progress_interval() if interval is None else interval
        self.stream, self.clock = stream, clock
        self.started = self.last = clock()

    def update(self, n: int) -> None:
        """Count ``n`` more images; print a line when the interval has passed since the last one."""
        self.done += n
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            print(self.line(now), file=self.stream or sys.stderr, flush=True)

    def line(self, now: float) -> str:
        """The progress line at time ``now``: counts, rate and (once a rate is known) time left."""
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        per_second = f"{rate:.0f} img/s" if self.unit == "images" else f"{rate:.3g} {self.unit}/s"
        text = f"gan-eval: {self.label}: {self.done}/{self.total} {self.unit}, {per_second}"
        if rate > 0 and self.total > self.done:
            text += f", ~{format_duration((self.total - self.done) / rate)} left"
        return text


def progress_lines(total: int, label: str, progress: bool | None, unit: str = "images") -> ProgressLines | None:
    """:class:`ProgressLines` for a long loop when stderr is not a terminal and progress is not off
    (``--quiet``); None otherwise (a terminal gets a bar, or nothing, from the caller)."""
    if progress is False or sys.stderr.isatty():
        return None
    return ProgressLines(total, label, unit=unit)


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
    lines = progress_lines(num_samples, label or source.description, progress)  # a log gets a line every 10 s, not a bar
    with tqdm(total=num_samples, disable=not progress_enabled(progress) or lines is not None,
              desc=label or source.description, unit="img", leave=False, file=sys.stderr) as bar:
        pin = torch.device(extractor.device).type == "cuda"
        shard = current_shard()
        for batch in iter_own_batches(source, num_samples, batch_size, seed, shard, workers=workers, pin_memory=pin):
            if on_batch is not None:
                on_batch(batch)
            acc.update(extractor(batch))
            bar.update(batch.shape[0])
            if lines is not None:
                lines.update(batch.shape[0])
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
