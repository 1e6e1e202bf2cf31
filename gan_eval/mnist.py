"""The bundled MNIST test set (``builtin:mnist``), read from the package's own IDX files.

The training set is not shipped, so the 10,000 test digits are split deterministically by index
parity: even indices train this project's networks (``mnist-train``), odd indices are the held-out
reference (``mnist-heldout``). Every consumer must use this module so the split stays one split.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from importlib import resources

import numpy as np

SPLITS = ("all", "train", "heldout")
_IMAGES = "t10k-images-idx3-ubyte.gz"
_LABELS = "t10k-labels-idx1-ubyte.gz"


def _read_idx(name: str) -> np.ndarray:
    # The IDX format is a 4-byte magic (dtype code, ndim), ndim big-endian sizes, then raw bytes.
    data = gzip.decompress(resources.files("gan_eval.assets.mnist").joinpath(name).read_bytes())
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


@lru_cache(maxsize=None)
def _load_all() -> tuple[np.ndarray, np.ndarray]:
    images, labels = _read_idx(_IMAGES), _read_idx(_LABELS)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def load_mnist(split: str = "all") -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images N×28×28 uint8, labels N uint8)`` of one split (read-only arrays).

    ``all`` is the whole test set; ``train`` its even indices; ``heldout`` its odd indices.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown MNIST split {split!r}; choose one of {', '.join(SPLITS)}")
    images, labels = _load_all()
    if split == "all":
        return images, labels
    start = 0 if split == "train" else 1
    return images[start::2], labels[start::2]
