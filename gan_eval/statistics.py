"""Feature statistics: streaming float64 moments, plus the raw features when a metric needs them.

Moments are kept as sums (``Σx``, ``XᵀX``, ``n``) so memory does not grow with N and shards from
several processes merge exactly by addition (:meth:`FeatureStats.merge`). Files written by
:func:`save_stats` are plain ``.npz`` (no pickle) with ``mu``/``sigma`` keys, so pytorch-fid and
TTUR can read them too.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_eval.errors import GanEvalError
from gan_eval.files import atomic_path

STATS_FORMAT = "gan-eval-stats"
STATS_FORMAT_VERSION = 1


@dataclass
class FeatureStats:
    """Running first and second moments of features, in float64 on ``device``."""

    dim: int
    device: torch.device = torch.device("cpu")
    n: int = 0
    sum: torch.Tensor = field(init=False)
    sum_outer: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        self.sum = torch.zeros(self.dim, dtype=torch.float64, device=self.device)
        self.sum_outer = torch.zeros(self.dim, self.dim, dtype=torch.float64, device=self.device)

    def update(self, features: torch.Tensor) -> None:
        """Add a batch ``B×dim`` of features."""
        x = features.to(device=self.device, dtype=torch.float64)
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"features of shape {tuple(x.shape)} do not match dimension {self.dim}")
        self.n += x.shape[0]
        self.sum += x.sum(dim=0)
        self.sum_outer.addmm_(x.T, x)

    def merge(self, other: "FeatureStats") -> "FeatureStats":
        """Add another shard's sums (exact: the sums are plain float64 additions)."""
        if other.dim != self.dim:
            raise ValueError("cannot merge statistics of different dimensions")
        self.n += other.n
        self.sum += other.sum.to(self.device)
        self.sum_outer += other.sum_outer.to(self.device)
        return self

    @property
    def mean(self) -> torch.Tensor:
        return self.sum / self.n

    @property
    def cov(self) -> torch.Tensor:
        """Unbiased covariance (divisor N−1), as numpy's ``np.cov`` and torch-fidelity use."""
        if self.n < 2:
            raise GanEvalError("at least 2 samples are needed for a covariance")
        mu = self.mean
        return (self.sum_outer - self.n * torch.outer(mu, mu)) / (self.n - 1)

    @classmethod
    def from_features(cls, features: torch.Tensor, device: torch.device | None = None) -> "FeatureStats":
        stats = cls(features.shape[1], device or features.device)
        stats.update(features)
        return stats

    @classmethod
    def from_moments(cls, mu: np.ndarray, sigma: np.ndarray, n: int, device: torch.device | str = "cpu") -> "FeatureStats":
        """Rebuild sums from a mean and an N−1 covariance (for files that hold only ``mu``/``sigma``)."""
        mu_t = torch.as_tensor(np.asarray(mu, dtype=np.float64), device=device)
        sigma_t = torch.as_tensor(np.asarray(sigma, dtype=np.float64), device=device)
        stats = cls(mu_t.shape[0], torch.device(device))
        stats.n = int(n)
        stats.sum = mu_t * n
        stats.sum_outer = sigma_t * (n - 1) + n * torch.outer(mu_t, mu_t)
        return stats


@dataclass
class FeatureSet:
    """What one side contributes: moments always, raw features and logits when a metric needs them."""

    stats: FeatureStats
    features: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.stats.n


def save_stats(path: str | os.PathLike, feature_set: FeatureSet, meta: dict[str, Any]) -> None:
    """Write a reference statistics file atomically (``.npz``; keys ``mu``, ``sigma``, ``n``, sums, meta)."""
    stats = feature_set.stats
    arrays: dict[str, np.ndarray] = {
        "mu": stats.mean.cpu().numpy(),
        "sigma": stats.cov.cpu().numpy(),
        "n": np.array(stats.n, dtype=np.int64),
        "sum": stats.sum.cpu().numpy(),
        "sum_outer": stats.sum_outer.cpu().numpy(),
        "meta": np.array(json.dumps({"format": STATS_FORMAT, "format_version": STATS_FORMAT_VERSION, **meta})),
    }
    if feature_set.features is not None:
        arrays["features"] = feature_set.features.cpu().numpy()
    if feature_set.logits is not None:
        arrays["logits"] = feature_set.logits.cpu().numpy()
    path = Path(path)
    if path.suffix != ".npz":
        raise GanEvalError(f"statistics files end in .npz (got {path.name})")
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def is_stats_file(path: Any) -> bool:
    """True for an ``.npz`` holding ``mu`` and ``sigma`` (ours, pytorch-fid's or TTUR's)."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).endswith(".npz") or not Path(path).is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            return "mu" in data.files and "sigma" in data.files
    except (ValueError, OSError):
        return False


def load_stats(path: str | os.PathLike, device: torch.device | str = "cpu") -> FeatureSet:
    """Read a statistics file (never with pickle). Foreign files with only ``mu``/``sigma`` are accepted for FID."""
    try:
        with np.load(path, allow_pickle=False) as data:
            files = set(data.files)
            meta = json.loads(str(data["meta"])) if "meta" in files else {}
            if "sum" in files and "sum_outer" in files:
                stats = FeatureStats(int(data["sum"].shape[0]), torch.device(device))
                stats.n = int(data["n"])
                stats.sum = torch.as_tensor(data["sum"], device=device)
                stats.sum_outer = torch.as_tensor(data["sum_outer"], device=device)
            else:
                # Without a sample count (pytorch-fid/TTUR files) any n >= 2 reproduces mu and sigma exactly.
                if "n" not in files:
                    meta["n_unknown"] = True
                n = int(data["n"]) if "n" in files else 2
                stats = FeatureStats.from_moments(data["mu"], data["sigma"], n, device)
            features = torch.as_tensor(data["features"]) if "features" in files else None
            logits = torch.as_tensor(data["logits"]) if "logits" in files else None
    except (ValueError, OSError, KeyError, json.JSONDecodeError) as exc:
        raise GanEvalError(f"cannot read statistics file {path}: {str(exc).splitlines()[0]}") from None
    meta.setdefault("source", f"statistics file {path}")
    return FeatureSet(stats, features, logits, meta)
