"""Feature statistics: streaming float64 moments, plus the raw features when a metric needs them.

Moments are kept as sums (``Σx``, ``XᵀX``, ``n``) so memory does not grow with N and shards from
several processes merge exactly by addition (:meth:`FeatureStats.merge`). Files written by
:func:`save_stats` are plain ``.npz`` (no pickle) with ``mu``/``sigma`` keys, so pytorch-fid and
TTUR can read them too.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
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
    #: Results computed from ``features`` that several metrics share (the k-NN table of
    #: :func:`gan_eval.metrics.knn.neighbour_table`), each stored with the tensor it was computed from.
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n(self) -> int:
        return self.stats.n


class FeatureAccumulator:
    """Streams extractor outputs into what the metrics need, and nothing more.

    Float64 sums always (constant memory in N); raw features and logits only when kept. With
    ``keep_features=None`` features are kept while there are no more samples than dimensions (FID is
    then computed exactly from them) and dropped as soon as N exceeds the dimension, so memory stays
    bounded by ``dim × dim`` whatever N is.
    """

    def __init__(self, dim: int, device: torch.device, *, keep_features: bool | None = True,
                 keep_logits: bool = True) -> None:
        self.dim, self.device = dim, torch.device(device)
        self.keep_features, self.keep_logits = keep_features, keep_logits
        self.reset()

    def reset(self) -> None:
        from gan_eval.distributed import current_shard

        self.stats = FeatureStats(self.dim, self.device)
        self._features: list[torch.Tensor] | None = [] if self.keep_features is not False else None
        self._logits: list[torch.Tensor] | None = [] if self.keep_logits else None
        # Global batch index of each kept chunk: the k-th batch added on rank r of W is batch r + k·W
        # (how sources shard, see gan_eval.distributed), so chunks from every rank merge in order.
        self.shard = current_shard()
        self._indices: list[int] = []

    @property
    def n(self) -> int:
        return self.stats.n

    @property
    def held_rows(self) -> int:
        """Rows of raw features held (0 when only the sums are kept)."""
        return sum(f.shape[0] for f in self._features) if self._features else 0

    def update(self, out: dict[str, torch.Tensor]) -> None:
        """Add one batch of extractor output (``{"features": B×dim, "logits": B×K}``).

        Under ``torch.distributed`` the k-th batch added on rank r of W is global batch ``r + k·W``.
        """
        if not self._indices and self.stats.n == 0:
            from gan_eval.distributed import current_shard

            self.shard = current_shard()  # a group initialised after this accumulator was made
        self._indices.append(self.shard.rank + len(self._indices) * self.shard.world)
        self.stats.update(out["features"])
        if self._features is not None:
            if self.keep_features is None and self.stats.n > self.dim:
                self._features = None  # past d samples FID no longer needs them
            else:
                self._features.append(out["features"])
        if self._logits is not None and "logits" in out:
            self._logits.append(out["logits"])

    def feature_set(self, meta: dict[str, Any] | None = None, *, merge: bool = True) -> FeatureSet:
        """A :class:`FeatureSet` of everything added so far (the sums are copied, so adding may go on).

        Under ``torch.distributed`` (and ``merge``) every rank must call this: the float64 sums are
        all-reduced and kept features/logits gathered in global batch order, so every rank gets the
        set one process would have built. ``merge=False`` gives this rank's part only.
        """
        stats = FeatureStats(self.dim, self.device).merge(self.stats)
        from gan_eval.distributed import current_shard

        if merge and current_shard().world > 1:
            return self._merged(stats, meta)
        features = torch.cat(self._features) if self._features else None
        logits = torch.cat(self._logits) if self._logits else None
        return FeatureSet(stats, features, logits, dict(meta or {}, n=stats.n))

    def _merged(self, stats: FeatureStats, meta: dict[str, Any] | None) -> FeatureSet:
        """All ranks' sums (all-reduce) and kept chunks (gathered by global batch index)."""
        from gan_eval.distributed import all_gather_object, all_reduce_sum, gather_batches

        held = all_gather_object((stats.n, self._features is not None, self._logits is not None))
        stats.n = sum(n for n, _, _ in held)
        all_reduce_sum(stats.sum)
        all_reduce_sum(stats.sum_outer)
        # keep_features=None keeps features only while N <= dim: decided on the global N, as one process would.
        keep = all(f for _, f, _ in held) and (self.keep_features is not None or stats.n <= self.dim)
        features = logits = None
        if keep:
            features = gather_batches(list(zip(self._indices, self._features or [])), self.device)
        if all(lg for _, _, lg in held):
            logits = gather_batches(list(zip(self._indices, self._logits or [])), self.device)
        return FeatureSet(stats, features, logits, dict(meta or {}, n=stats.n))


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


#: Errors numpy, zipfile and zlib raise for a damaged or foreign ``.npz`` (a truncated zip is not an OSError).
NPZ_READ_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile,
                                                    zlib.error, NotImplementedError)

#: Metadata keys with a fixed JSON type: a file whose metadata breaks them is refused, not half-used.
META_TYPES: dict[str, tuple[type, ...]] = {
    "format": (str,), "format_version": (int,), "extractor": (str,), "weights_sha256": (str, type(None)),
    "feature_dim": (int,), "n": (int,), "source": (str,), "kind": (str,),
}


def is_stats_file(path: Any) -> bool:
    """True for an ``.npz`` holding ``mu`` and ``sigma`` (ours, pytorch-fid's or TTUR's)."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).endswith(".npz") or not Path(path).is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            return "mu" in data.files and "sigma" in data.files
    except (*NPZ_READ_ERRORS, AttributeError):  # AttributeError: an .npy under an .npz name is no context manager
        return False


def feature_arrays_problem(arrays: dict[str, np.ndarray]) -> str | None:
    """What is wrong with the arrays of a statistics file or cache entry, or None when they are sound.

    Checks what the metrics rely on: numeric, finite values; ``sum`` of length d, ``sum_outer`` and
    ``sigma`` d×d, ``mu`` of length d, ``features`` N×d and ``logits`` N×K with N = ``n``, ``n`` a whole
    number of at least 1, and ``mu``/``sigma`` agreeing with the sums when both are present. Shared by
    :func:`load_stats` (which raises) and the feature cache (which recomputes), so both refuse the same things.
    """
    for name in ("n", "mu", "sigma", "sum", "sum_outer", "features", "logits"):
        if name not in arrays:
            continue
        a = arrays[name]
        if a.dtype.kind not in "iuf":
            return f"{name} has dtype {a.dtype}, not numbers"
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            return f"{name} holds non-finite values (NaN or infinity)"
    n = None
    if "n" in arrays:
        if arrays["n"].shape != () or arrays["n"].dtype.kind not in "iu" or int(arrays["n"]) < 1:
            return f"n must be one whole number of at least 1 (got shape {arrays['n'].shape}, dtype {arrays['n'].dtype})"
        n = int(arrays["n"])
    dim = None
    for name, ndim in (("sum", 1), ("mu", 1)):
        if name in arrays:
            shape = arrays[name].shape
            if len(shape) != ndim or shape[0] < 1:
                return f"{name} has shape {shape}, not (d,)"
            if dim is not None and shape[0] != dim:
                return f"{name} has shape {shape} but the other arrays have dimension {dim}"
            dim = shape[0]
    for name in ("sum_outer", "sigma"):
        if name in arrays and (dim is None or arrays[name].shape != (dim, dim)):
            return f"{name} has shape {arrays[name].shape}, not {(dim, dim) if dim else '(d, d)'}"
    if ("sum" in arrays) != ("sum_outer" in arrays) or ("sum" in arrays and n is None):
        return "the sums are incomplete (sum, sum_outer and n go together)"
    rows = None
    for name in ("features", "logits"):
        if name not in arrays:
            continue
        shape = arrays[name].shape
        if len(shape) != 2 or (name == "features" and shape[1] != dim):
            return f"{name} has shape {shape}, not (N, {dim if name == 'features' else 'K'})"
        if n is not None and shape[0] != n:
            return f"{name} has {shape[0]} rows but n is {n}"
        if rows is not None and shape[0] != rows:
            return f"features has {rows} rows but logits has {shape[0]}"
        rows = shape[0]
    if "sum" in arrays and "mu" in arrays and "sigma" in arrays and n is not None and n >= 2:
        total, outer = arrays["sum"].astype(np.float64), arrays["sum_outer"].astype(np.float64)
        mu = total / n
        sigma = (outer - n * np.outer(mu, mu)) / (n - 1)
        scale = max(1.0, float(np.abs(outer).max()) / (n - 1))
        if not (np.allclose(arrays["mu"], mu, rtol=1e-5, atol=1e-6 * max(1.0, float(np.abs(mu).max())))
                and np.allclose(arrays["sigma"], sigma, rtol=1e-5, atol=1e-6 * scale)):
            return "mu and sigma do not match sum, sum_outer and n"
    return None


def meta_problem(meta: Any, dim: int, n: int | None) -> str | None:
    """What is wrong with a statistics file's metadata (a JSON object with typed known keys), or None."""
    if not isinstance(meta, dict):
        return f"its metadata is a JSON {type(meta).__name__}, not an object"
    for key, types in META_TYPES.items():
        value = meta.get(key)
        if key in meta and (not isinstance(value, types) or isinstance(value, bool)):
            expected = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            return f"metadata {key!r} is {json.dumps(value)[:40]}, not {expected}"
    if "feature_dim" in meta and meta["feature_dim"] != dim:
        return f"metadata says feature_dim {meta['feature_dim']} but the arrays have dimension {dim}"
    if "n" in meta and n is not None and meta["n"] != n:
        return f"metadata says n {meta['n']} but the arrays hold {n}"
    return None


def load_stats(path: str | os.PathLike, device: torch.device | str = "cpu") -> FeatureSet:
    """Read and check a statistics file (never with pickle).

    Foreign files with only ``mu``/``sigma`` (pytorch-fid, TTUR) are accepted for FID. Anything a
    metric could not trust (non-finite values, wrong shapes, sums that disagree with ``mu``/``sigma``,
    metadata that is not a JSON object of the documented types) is a one-line :class:`GanEvalError`
    naming the file, never a traceback and never a NaN score.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except AttributeError:  # np.load returned a plain array: an .npy, not an .npz archive
        raise GanEvalError(f"cannot read statistics file {path}: it is not an .npz archive") from None
    except NPZ_READ_ERRORS as exc:
        raise GanEvalError(f"cannot read statistics file {path}: {(str(exc).splitlines() or [type(exc).__name__])[0]}") from None
    meta: Any = {}
    if "meta" in arrays:
        if arrays["meta"].dtype.kind != "U" or arrays["meta"].shape != ():
            raise GanEvalError(f"statistics file {path} is invalid: meta is not a JSON string; recompute it")
        try:
            meta = json.loads(str(arrays["meta"]))
        except json.JSONDecodeError as exc:
            raise GanEvalError(f"statistics file {path} is invalid: meta is not valid JSON ({exc})") from None
    for name in ("mu", "sigma"):
        if name not in arrays:
            raise GanEvalError(f"statistics file {path} is invalid: it has no {name!r} array")
    problem = feature_arrays_problem(arrays)
    if problem is None:
        dim = arrays["mu"].shape[0]
        problem = meta_problem(meta, dim, int(arrays["n"]) if "n" in arrays else None)
    if problem is not None:
        raise GanEvalError(f"statistics file {path} is invalid: {problem}; recompute it with `gan-eval stats`")
    if "sum" in arrays:
        stats = FeatureStats(int(arrays["sum"].shape[0]), torch.device(device))
        stats.n = int(arrays["n"])
        stats.sum = torch.as_tensor(arrays["sum"], dtype=torch.float64, device=device)
        stats.sum_outer = torch.as_tensor(arrays["sum_outer"], dtype=torch.float64, device=device)
    else:
        # Without a sample count (pytorch-fid/TTUR files) any n >= 2 reproduces mu and sigma exactly.
        if "n" not in arrays:
            meta["n_unknown"] = True
        n = int(arrays["n"]) if "n" in arrays else 2
        if n < 2:
            raise GanEvalError(f"statistics file {path} is invalid: n is {n}; a covariance needs at least 2 samples")
        stats = FeatureStats.from_moments(arrays["mu"], arrays["sigma"], n, device)
    features = torch.as_tensor(arrays["features"]) if "features" in arrays else None
    logits = torch.as_tensor(arrays["logits"]) if "logits" in arrays else None
    meta.setdefault("source", f"statistics file {path}")
    return FeatureSet(stats, features, logits, meta)
