"""Paired image-to-image metrics: L1, PSNR and SSIM between generated images and their targets.

Inputs are uint8 ``N×C×H×W`` batches (torch tensors or NumPy arrays), compared on the [0, 1] scale:

* **L1** — mean absolute error over every pixel and channel.
* **PSNR** — ``10·log10(1 / MSE)`` per image (data range 1.0), averaged over images. Identical images
  have infinite PSNR; every per-image value is clipped at ``psnr_cap`` (100 dB by default), so
  identical pairs score exactly the cap and the mean stays finite. (Clipping only matters above
  ~100 dB, i.e. for images differing in a handful of pixels by one grey level.)
* **SSIM** — mean over images of ``skimage.metrics.structural_similarity`` with the settings of
  Wang et al. (2004): Gaussian window σ = 1.5 (11×11), population covariance, K1 = 0.01,
  K2 = 0.03, data range 1.0; colour images are averaged over channels. Images need sides ≥ 11.

Why per-image averages: PSNR and SSIM are defined per image pair; averaging per image (not pooling
all pixels) is how Pix2Pix-style evaluations report them.

:data:`L1`, :data:`PSNR` and :data:`SSIM` are the three metrics' records: they need paired images
(``needs=("paired",)``), which a workflow feeds to a :class:`PairedImageMetrics` while the generated
side is extracted and hands over as ``MetricContext.paired``. They have no bootstrap interval.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gan_eval.errors import GanEvalError
from gan_eval.metrics.base import (
    Compute,
    MetricContext,
    MetricKey,
    MetricOption,
    MetricSpec,
)

PSNR_CAP_DB = 100.0
SSIM_SIGMA = 1.5
SSIM_MIN_SIDE = 2 * int(3.5 * SSIM_SIGMA + 0.5) + 1  # skimage's Gaussian window side (11)


def _as_uint8_array(images: Any, name: str) -> np.ndarray:
    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    array = np.asarray(images)
    if array.dtype != np.uint8:
        raise GanEvalError(f"{name} images must be uint8 (0–255), got dtype {array.dtype}")
    if array.ndim != 4:
        raise GanEvalError(f"{name} images must be N×C×H×W, got shape {tuple(array.shape)}")
    return array


def _check_pair(gen: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    gen_a, target_a = _as_uint8_array(gen, "generated"), _as_uint8_array(target, "target")
    if gen_a.shape != target_a.shape:
        raise GanEvalError(f"paired metrics need generated and target images of the same shape: generated "
                           f"{tuple(gen_a.shape)} vs target {tuple(target_a.shape)}")
    return gen_a, target_a


def psnr_from_mse(mse: np.ndarray, cap: float = PSNR_CAP_DB) -> np.ndarray:
    """PSNR in dB for data range 1.0, clipped at ``cap`` (MSE 0 → ``cap``)."""
    mse = np.asarray(mse, dtype=np.float64)
    with np.errstate(divide="ignore"):
        psnr = np.where(mse > 0, -10.0 * np.log10(np.where(mse > 0, mse, 1.0)), np.inf)
    return np.minimum(psnr, cap)


def ssim_per_image(gen: np.ndarray, target: np.ndarray) -> np.ndarray:
    """SSIM of each pair in uint8 ``N×C×H×W`` batches (Wang et al. settings, data range 1.0)."""
    from skimage.metrics import structural_similarity

    if min(gen.shape[2], gen.shape[3]) < SSIM_MIN_SIDE:
        raise GanEvalError(f"SSIM needs images at least {SSIM_MIN_SIDE}×{SSIM_MIN_SIDE} (its Gaussian window), "
                           f"got {gen.shape[2]}×{gen.shape[3]}")
    values = np.empty(gen.shape[0], dtype=np.float64)
    for i in range(gen.shape[0]):
        values[i] = structural_similarity(gen[i].astype(np.float64) / 255.0, target[i].astype(np.float64) / 255.0,
                                          data_range=1.0, channel_axis=0, gaussian_weights=True, sigma=SSIM_SIGMA,
                                          use_sample_covariance=False)
    return values


class PairedImageMetrics:
    """Streaming L1 / PSNR / SSIM over batches of (generated, target) uint8 image pairs."""

    def __init__(self, psnr_cap: float = PSNR_CAP_DB) -> None:
        self.psnr_cap = float(psnr_cap)
        self.reset()

    def reset(self) -> None:
        self._abs_sum = 0.0
        self._values = 0
        self._psnr_sum = 0.0
        self._ssim_sum = 0.0
        self._images = 0
        self._shape: tuple[int, ...] | None = None

    @property
    def num_images(self) -> int:
        return self._images

    def update(self, gen_uint8: Any, target_uint8: Any) -> None:
        """Add one batch of pairs; shapes must match each other and earlier batches (except N)."""
        gen, target = _check_pair(gen_uint8, target_uint8)
        if self._shape is not None and gen.shape[1:] != self._shape:
            raise GanEvalError(f"paired metrics: batch images are {tuple(gen.shape[1:])}, earlier batches were "
                               f"{self._shape}")
        if gen.shape[0] == 0:
            return
        self._shape = tuple(gen.shape[1:])
        diff = (gen.astype(np.float64) - target.astype(np.float64)) / 255.0
        self._abs_sum += float(np.abs(diff).sum())
        self._values += diff.size
        mse = (diff ** 2).reshape(gen.shape[0], -1).mean(axis=1)
        self._psnr_sum += float(psnr_from_mse(mse, self.psnr_cap).sum())
        self._ssim_sum += float(ssim_per_image(gen, target).sum())
        self._images += gen.shape[0]

    def compute(self) -> dict[str, float]:
        """``{"l1", "psnr", "ssim"}`` over everything added so far."""
        if self._images == 0:
            raise GanEvalError("paired metrics: no image pairs were given")
        return {"l1": self._abs_sum / self._values, "psnr": self._psnr_sum / self._images,
                "ssim": self._ssim_sum / self._images}


def paired_metrics(gen_uint8: Any, target_uint8: Any, psnr_cap: float = PSNR_CAP_DB) -> dict[str, float]:
    """L1, PSNR and SSIM of one batch of pairs (see :class:`PairedImageMetrics`)."""
    acc = PairedImageMetrics(psnr_cap)
    acc.update(gen_uint8, target_uint8)
    return acc.compute()



# --- the three metrics --------------------------------------------------------------------------

def from_pairs(key: str) -> Compute:
    """A record's ``compute``: ``key`` of the paired accumulator the workflow filled (``ctx.paired``)."""
    def compute(ctx: MetricContext) -> dict[str, float]:
        if ctx.paired is None:
            raise GanEvalError(f"{key} compares translated images with their targets: evaluate an image-to-image "
                               f"model with --paired, --source and --real")
        return {key: float(ctx.paired.compute()[key])}

    return compute


L1 = MetricSpec(
    name="l1",
    keys=(MetricKey("l1", "L1 to paired target ([0,1] scale)", direction=-1, range=(0.0, 1.0), short="L1"),),
    compute=from_pairs("l1"),
    needs=("paired",),
    convention="mean absolute error over pixels and channels, [0,1] scale",
)

PSNR = MetricSpec(
    name="psnr",
    keys=(MetricKey("psnr", "PSNR to paired target (dB)", direction=1, range=(0.0, math.inf), short="PSNR"),),
    compute=from_pairs("psnr"),
    needs=("paired",),
    options=(MetricOption("psnr_cap", PSNR_CAP_DB, "PSNR ceiling in dB (identical images score it)"),),
    convention="per-image 10*log10(1/MSE), data range 1, clipped at 100 dB, mean over images",
)

SSIM = MetricSpec(
    name="ssim",
    keys=(MetricKey("ssim", "SSIM to paired target", direction=1, range=(-1.0, 1.0), short="SSIM"),),
    compute=from_pairs("ssim"),
    needs=("paired",),
    convention="Wang 2004: Gaussian window sigma 1.5, K1 0.01, K2 0.03, data range 1, mean over images and channels",
)
