"""Content-addressed cache of reference features.

The key hashes the source's content (file bytes or array bytes), the number of samples, the
extractor's name, weights SHA-256 and preprocessing (which names the ``--resize`` mode), and the
gan-eval version: a changed image, other weights, another resize mode or a new release all miss. Entries are ``.npz`` files written atomically and read with
``allow_pickle=False``.

A cache must not lie: each entry also stores the key it was made for and a SHA-256 digest of its
arrays. An entry that is unreadable or truncated, was made for another key (say, swapped with another
image set's), does not match its digest, or holds wrong shapes or non-finite values is never used: it
gives one warning and counts as a miss, so the caller recomputes and rewrites it. Location: ``$GAN_EVAL_CACHE_DIR``, else ``$XDG_CACHE_HOME/gan-eval``, else
``~/.cache/gan-eval``.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_eval.files import atomic_path
from gan_eval.statistics import (
    NPZ_READ_ERRORS,
    FeatureSet,
    FeatureStats,
    feature_arrays_problem,
)

CACHE_FORMAT_VERSION = 2  # 2: entries carry their key and a content digest

#: Arrays of an entry that are not content (and so not covered by the digest).
INTEGRITY_KEYS = ("key", "digest")


class DamagedEntryError(Exception):
    """A cache entry that must not be used; the message says why (it becomes a warning, then a recompute)."""


def default_cache_dir() -> Path:
    if os.environ.get("GAN_EVAL_CACHE_DIR"):
        return Path(os.environ["GAN_EVAL_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gan-eval"


def cache_key(content_hash: str, num_samples: int, extractor_desc: dict, version: str) -> str:
    """A SHA-256 over everything that determines the features."""
    payload = {
        "format": CACHE_FORMAT_VERSION,
        "content": content_hash,
        "num_samples": num_samples,
        "extractor": extractor_desc.get("extractor"),
        "weights_sha256": extractor_desc.get("weights_sha256"),
        "preprocessing": extractor_desc.get("preprocessing"),
        "gan_eval": version,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def content_digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over an entry's arrays: each name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        if name in INTEGRITY_KEYS:
            continue
        array = np.ascontiguousarray(arrays[name])
        digest.update(json.dumps([name, array.dtype.str, list(array.shape)]).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def entry_problem(arrays: dict[str, np.ndarray], key: str) -> str | None:
    """Why the arrays read from an entry must not be used for ``key``, or None when they are sound."""
    for name in INTEGRITY_KEYS:
        if name not in arrays or arrays[name].dtype.kind != "U" or arrays[name].shape != ():
            return f"no {name} recorded"
    if str(arrays["key"]) != key:
        return f"it was made for key {str(arrays['key'])[:12]}…, not {key[:12]}…"
    if str(arrays["digest"]) != content_digest(arrays):
        return "its content does not match its digest"
    missing = [name for name in ("n", "sum", "sum_outer") if name not in arrays]
    if missing:
        return f"no {', '.join(missing)}"
    return feature_arrays_problem(arrays)


class FeatureCache:
    """Reads and writes :class:`FeatureSet` entries under ``root``."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def path(self, key: str) -> Path:
        return self.root / "features" / f"{key}.npz"

    def load(self, key: str, device: torch.device) -> FeatureSet | None:
        """The entry for ``key``, or None (a miss) when there is none or it is damaged (one warning then)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            arrays = self.read_arrays(path)
            problem = entry_problem(arrays, key)
        except DamagedEntryError as exc:
            problem = str(exc)
        if problem is not None:
            warnings.warn(f"cache entry {path} is damaged ({problem}); recomputing", stacklevel=2)
            return None
        stats = FeatureStats(int(arrays["sum"].shape[0]), device)
        stats.n = int(arrays["n"])
        stats.sum = torch.as_tensor(arrays["sum"], dtype=torch.float64, device=device)
        stats.sum_outer = torch.as_tensor(arrays["sum_outer"], dtype=torch.float64, device=device)
        features = torch.as_tensor(arrays["features"]) if "features" in arrays else None
        logits = torch.as_tensor(arrays["logits"]) if "logits" in arrays else None
        return FeatureSet(stats, features, logits)

    @staticmethod
    def read_arrays(path: Path) -> dict[str, np.ndarray]:
        """Every array of the entry at ``path``, read in full (so a truncated member fails here, not later)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except AttributeError:  # np.load gave a plain array: not an .npz archive
            raise DamagedEntryError("not an .npz archive") from None
        except (*NPZ_READ_ERRORS, RuntimeError) as exc:
            raise DamagedEntryError(f"unreadable: {(str(exc).splitlines() or [type(exc).__name__])[0]}") from None

    def save(self, key: str, feature_set: FeatureSet) -> Path:
        """Write the entry for ``key`` atomically, with its key and content digest."""
        arrays: dict[str, Any] = {
            "n": np.array(feature_set.stats.n, dtype=np.int64),
            "sum": feature_set.stats.sum.cpu().numpy(),
            "sum_outer": feature_set.stats.sum_outer.cpu().numpy(),
        }
        if feature_set.features is not None:
            arrays["features"] = feature_set.features.cpu().numpy()
        if feature_set.logits is not None:
            arrays["logits"] = feature_set.logits.cpu().numpy()
        arrays["key"] = np.array(key)
        arrays["digest"] = np.array(content_digest(arrays))
        path = self.path(key)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
        return path
