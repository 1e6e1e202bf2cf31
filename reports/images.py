"""Writing images: a PNG grid, a uint8 ``.npz`` array, or a folder of PNG files (all atomic)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from gan_eval.errors import GanEvalError
from gan_eval.files import atomic_path


def image_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """uint8 ``N×C×H×W`` → one uint8 ``H×W×C`` grid (near-square by default)."""
    from torchvision.utils import make_grid

    nrow = nrow or max(1, math.ceil(math.sqrt(images.shape[0])))
    grid = make_grid(images.float(), nrow=nrow, padding=padding, pad_value=0)
    return grid.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def save_png(array: np.ndarray, path: str | os.PathLike) -> Path:
    from PIL import Image

    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array).save(tmp, format="PNG")
    return path


def write_images(images: torch.Tensor, output: str | os.PathLike, nrow: int | None = None) -> Path:
    """Write ``images`` by the output's form: ``*.png`` grid, ``*.npz`` array (NHWC), else a folder of PNGs."""
    output = Path(output)
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise GanEvalError("write_images expects uint8 N×C×H×W images")
    if output.suffix.lower() == ".png":
        return save_png(image_grid(images, nrow), output)
    if output.suffix.lower() == ".npz":
        with atomic_path(output, suffix=".npz") as tmp:
            np.savez(tmp, images=images.permute(0, 2, 3, 1).numpy())
        return output
    if output.suffix:
        raise GanEvalError(f"cannot write images to {output.name}: use a .png grid, a .npz array, or a folder name")
    output.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        save_png(image.permute(1, 2, 0).numpy(), output / f"{i:06d}.png")
    return output
