"""Training data for the reference recipes: ``builtin:mnist*`` or a user directory, as float tensors.

Image-to-image tasks are derived from MNIST so that Pix2Pix and CycleGAN train offline:
``edges`` pairs each digit (A) with its edge map (B, morphological gradient); ``thickness`` pairs a
thin digit (A, eroded) with a thick one (B, dilated). Unpaired training (CycleGAN) draws A and B
from disjoint halves so no pair is ever seen together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from gan_eval.errors import GanEvalError
from gan_eval.sources import open_source

TASKS = ("edges", "thickness")


@dataclass
class ImageData:
    """Images as float ``N×C×H×W`` in ``value_range``, optional labels, optional paired targets."""

    images: torch.Tensor
    labels: torch.Tensor | None = None
    targets: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.images.shape[0]


def _to_range(uint8: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    lo, hi = value_range
    return uint8.float() / 255.0 * (hi - lo) + lo


def load_images(spec: str, value_range: tuple[float, float], channels: int = 1, limit: int | None = None,
                size: int | None = None) -> ImageData:
    """Training images from ``builtin:mnist*`` (with labels) or any gan-eval source (no labels)."""
    if spec.startswith("builtin:mnist"):
        from gan_eval.mnist import load_mnist

        split = {"builtin:mnist": "all", "builtin:mnist-train": "train", "builtin:mnist-heldout": "heldout"}.get(spec)
        if split is None:
            raise GanEvalError(f"unknown training data {spec!r}")
        images, labels = load_mnist(split)
        x = torch.from_numpy(np.array(images[:limit]))[:, None]
        y = torch.from_numpy(np.array(labels[:limit])).long()
    else:
        source = open_source(spec)
        n = source.resolve_num_samples(limit)
        x = torch.cat(list(source.iter_batches(n, 256, 0)))
        y = None
    if channels == 1:
        x = x[:, :1] if x.shape[1] == 3 else x
    elif x.shape[1] == 1:
        x = x.expand(-1, channels, -1, -1)
    if size is not None and x.shape[-1] != size:
        x = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        x = x.round().clamp(0, 255).to(torch.uint8)
    return ImageData(_to_range(x, value_range).contiguous(), y)


def _max_pool(x: torch.Tensor, k: int = 3) -> torch.Tensor:
    return F.max_pool2d(x, k, stride=1, padding=k // 2)


def derive_pair(images_uint8: torch.Tensor, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, B) uint8 images for an MNIST-derived image-to-image task."""
    x = images_uint8.float()
    if task == "edges":
        edges = _max_pool(x) + _max_pool(-x)  # dilation − erosion: morphological gradient
        return images_uint8, edges.clamp(0, 255).to(torch.uint8)
    if task == "thickness":
        thin = -_max_pool(-x)  # erosion
        thick = _max_pool(x)  # dilation
        return thin.clamp(0, 255).to(torch.uint8), thick.clamp(0, 255).to(torch.uint8)
    raise GanEvalError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")


def load_pairs(spec: str, task: str | None, value_range: tuple[float, float], paired: bool = True,
               target_spec: str | None = None, limit: int | None = None, size: int | None = None,
               channels: int = 1) -> ImageData:
    """Source images with their targets: derived from MNIST by ``task``, or two directories in sorted order.

    With ``paired=False`` (CycleGAN), A and B come from disjoint halves of the data.
    """
    if target_spec is not None:
        a = load_images(spec, value_range, channels=channels, limit=limit, size=size)
        b = load_images(target_spec, value_range, channels=channels, limit=limit, size=size)
        n = min(len(a), len(b))
        return ImageData(a.images[:n], targets=b.images[:n])
    if task is None:
        raise GanEvalError("image-to-image training needs --task (edges, thickness) or --target DIR")
    raw = load_images(spec, (0.0, 255.0), channels=channels, limit=limit).images.round().to(torch.uint8)
    a, b = derive_pair(raw, task)
    if not paired:
        half = a.shape[0] // 2
        a, b = a[:half], b[half: 2 * half]
    if size is not None and a.shape[-1] != size:
        a = F.interpolate(a.float(), size=(size, size), mode="bilinear", antialias=True).round().clamp(0, 255).to(torch.uint8)
        b = F.interpolate(b.float(), size=(size, size), mode="bilinear", antialias=True).round().clamp(0, 255).to(torch.uint8)
    return ImageData(_to_range(a, value_range), targets=_to_range(b, value_range))
