"""Content-addressed cache of reference features.

The key hashes the source's content (file bytes or array bytes), the number of samples, the
extractor's name, weights SHA-256 and preprocessing, and the gan-eval version: a changed image, other
weights or a new release all miss. Entries are ``.npz`` files written atomically and read with
``allow_pickle=False``. Location: ``$GAN_EVAL_CACHE_DIR``, else ``$XDG_CACHE_HOME/gan-eval``, else
``~/.cache/gan-eval``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from gan_eval.files import atomic_path
from gan_eval.statistics import FeatureSet, FeatureStats

CACHE_FORMAT_VERSION = 1


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


class FeatureCache:
    """Reads and writes :class:`FeatureSet` entries under ``root``."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def path(self, key: str) -> Path:
        return self.root / "features" / f"{key}.npz"

    def load(self, key: str, device: torch.device) -> FeatureSet | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                stats = FeatureStats(int(data["sum"].shape[0]), device)
                stats.n = int(data["n"])
                stats.sum = torch.as_tensor(data["sum"], device=device)
                stats.sum_outer = torch.as_tensor(data["sum_outer"], device=device)
                features = torch.as_tensor(data["features"]) if "features" in data.files else None
                logits = torch.as_tensor(data["logits"]) if "logits" in data.files else None
        except (OSError, ValueError, KeyError):
            return None  # a damaged entry is a miss; it is overwritten below
        return FeatureSet(stats, features, logits)

    def save(self, key: str, feature_set: FeatureSet) -> Path:
        arrays = {
            "n": np.array(feature_set.stats.n, dtype=np.int64),
            "sum": feature_set.stats.sum.cpu().numpy(),
            "sum_outer": feature_set.stats.sum_outer.cpu().numpy(),
        }
        if feature_set.features is not None:
            arrays["features"] = feature_set.features.cpu().numpy()
        if feature_set.logits is not None:
            arrays["logits"] = feature_set.logits.cpu().numpy()
        path = self.path(key)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
        return path
