"""Helpers for offline tests and benchmarks: a random-weight InceptionV3 file with the official layout.

The real Inception weights cannot be downloaded on offline machines. A file with the same
architecture and keys, random weights, and BatchNorm statistics calibrated on real digits (so the
features respond to image content) exercises exactly the code path the real file would — which is
what parity tests against torch-fidelity need. It says nothing about the real weights' values.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from gan_eval.extractors.inception import build_tfi_inception
from gan_eval.files import atomic_path


def build_random_inception_weights(path: str | os.PathLike, seed: int = 0, calibration_images: int = 32,
                                   batch_size: int = 16) -> str:
    """Write a seeded random InceptionV3 state dict to ``path`` (torch format, tensors only); returns the path.

    The same seed and torch version give the same file tensor for tensor.
    """
    from gan_eval.mnist import load_mnist

    torch.manual_seed(seed)
    model = build_tfi_inception(None)
    digits = torch.from_numpy(load_mnist("train")[0][:calibration_images].copy())
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for start in range(0, calibration_images, batch_size):
            model(digits[start:start + batch_size, None].expand(-1, 3, -1, -1).contiguous())
    model.eval()
    # PyTorch's default init leaves the 1008 logits nearly equal (Inception Score ≈ 1.00); scale the
    # classifier so their spread on digits is about 3, making IS parity tests meaningful.
    with torch.no_grad():
        _features, logits = model(digits[:batch_size, None].expand(-1, 3, -1, -1).contiguous())
        scale = 3.0 / float(logits.std(dim=1).mean())
        model.fc.weight.mul_(scale)
        model.fc.bias.mul_(scale)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path, suffix=".pth") as tmp:
        torch.save(state, tmp)
    return str(path)


def write_digits(folder: str | os.PathLike, split: str, count: int, start: int = 0, transform=None,
                 mode: str = "RGB") -> Path:
    """Save ``count`` bundled MNIST digits of ``split`` as PNG files (optionally transformed, in PIL ``mode``)."""
    import numpy as np
    from PIL import Image

    from gan_eval.mnist import load_mnist

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    images, _ = load_mnist(split)
    for i in range(count):
        array = images[start + i]
        if transform is not None:
            array = transform(array)
        Image.fromarray(np.ascontiguousarray(array)).convert(mode).save(folder / f"{i:04d}.png")
    return folder
