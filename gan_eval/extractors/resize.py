"""How images reach an extractor's input size: the one place that resizes (``--resize tf1|clean``).

- ``tf1``: TensorFlow 1.x bilinear interpolation without antialiasing, torch-fidelity's
  ``interpolate_bilinear_2d_like_tensorflow1x`` (what TTUR, torch-fidelity and most published FIDs use).
- ``clean``: clean-fid's "clean" resizing (Parmar et al., 2022): PIL bicubic with antialiasing, on each
  channel as a float32 image (PIL mode ``F``) made from the uint8 pixels, never re-quantised, clipped to
  [0, 255]. It equals ``cleanfid.resize.make_resizer("PIL", False, "bicubic", (size, size))`` pixel for
  pixel (tests/test_resize.py); it is written here, a few lines over PIL, so that clean-fid stays a
  test dependency only.

:func:`resize_images` is the contract every extractor uses (through
:meth:`~gan_eval.extractors.FeatureExtractor.resize`): ``uint8`` ``N×3×H×W`` in, ``float32``
``N×3×size×size`` in [0, 255] out, on the input's device. Light: torch, numpy and PIL are imported
inside the functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gan_eval.errors import GanEvalError

if TYPE_CHECKING:
    import torch

#: The resize modes ``--resize`` accepts; the first is the default (``gan_eval.options.SHARED``).
RESIZE_MODES = ("tf1", "clean")

#: How each mode is named in an extractor's ``preprocessing`` string (and so in cache keys and provenance).
RESIZE_LABELS = {"tf1": "tf1-bilinear", "clean": "clean-pil-bicubic-antialias-f32"}


def check_resize_mode(mode: str) -> str:
    """``mode`` when it is one of :data:`RESIZE_MODES`, else a one-line :class:`GanEvalError`."""
    if mode not in RESIZE_MODES:
        raise GanEvalError(f"--resize must be one of {', '.join(RESIZE_MODES)}, got {mode!r}")
    return mode


def resize_images(images: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """``uint8`` ``N×3×H×W`` images resized to ``size×size`` by ``mode``, as float32 in [0, 255], same device."""
    import torch

    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"resize expects uint8 N×3×H×W images, got {images.dtype} {tuple(images.shape)}")
    check_resize_mode(mode)
    if mode == "clean":
        return resize_clean(images, size)
    from torch_fidelity.interpolate_compat_tensorflow import (
        interpolate_bilinear_2d_like_tensorflow1x,
    )

    return interpolate_bilinear_2d_like_tensorflow1x(images.float(), size=(size, size), align_corners=False)


def resize_clean(images: torch.Tensor, size: int) -> torch.Tensor:
    """clean-fid's resize: each channel a PIL ``F`` image, bicubic (antialiased) to ``size``, clipped to [0, 255].

    PIL runs on the CPU, one image channel at a time; the result returns to the input's device.
    """
    import numpy as np
    import torch
    from PIL import Image

    pixels = images.detach().cpu().numpy()
    out = np.empty((pixels.shape[0], 3, size, size), dtype=np.float32)
    for i in range(pixels.shape[0]):
        for c in range(3):
            channel = Image.fromarray(pixels[i, c].astype(np.float32))  # float32 2-D: PIL mode "F"
            out[i, c] = np.asarray(channel.resize((size, size), resample=Image.BICUBIC)).clip(0, 255)
    return torch.from_numpy(out).to(images.device)
