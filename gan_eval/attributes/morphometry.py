"""``morphometry``: stroke measurements computed from the image itself, after Morpho-MNIST.

Castro et al. (2019, ``dccastro/Morpho-MNIST``) measure a digit by upsampling it ×4, binarising at
half its intensity range, and reading the skeleton and distance map. We follow that recipe with two
speed substitutions (so 10,000 digits take seconds on a CPU): linear ``scipy.ndimage.zoom`` for the
cubic pyramid expansion, and ``skimage.morphology.skeletonize`` plus a Euclidean distance transform
for ``medial_axis`` (same skeleton-and-distance idea, ~20× faster). All values are in pixels of
the original image (slant in radians):

* ``area``: foreground pixels / scale²;
* ``length``: skeleton path length (right/down links 1, diagonal links √2) / scale;
* ``thickness``: 2 × mean distance-map value on the skeleton / scale;
* ``slant``: ``arctan(−μ11/μ02)`` from central moments of the upsampled binarised image;
* ``width``/``height``: 1 %–99 % mass quantiles of the shear-corrected horizontal and of the
  vertical profile of the binarised image (robust to faint background noise in generated images).

Not differentiable (skeletons and thresholds have no useful gradient): latent walks on these use
boundary mode.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from gan_eval.attributes.base import (
    AttributeExtractor,
    AttributeSpec,
)

CPU = torch.device("cpu")

SCALE = 4
NAMES = ("thickness", "slant", "width", "height", "area", "length")
UNITS = {"thickness": "px", "slant": "rad", "width": "px", "height": "px", "area": "px²", "length": "px"}
# The 3×3 link mask of Morpho-MNIST's length: counts each right, down and diagonal neighbour once.
_LINKS = np.array([[0, 0, 0], [0, 0, 1], [np.sqrt(2), 1, np.sqrt(2)]])


def measure_digit(grey: np.ndarray, scale: int = SCALE) -> tuple[float, ...]:
    """Morphometrics of one grey image (float, any range; foreground bright)."""
    from skimage.morphology import skeletonize

    up = ndimage.zoom(grey.astype(np.float64), scale, order=1)
    lo, hi = float(up.min()), float(up.max())
    if hi - lo < 1e-8:
        return (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    binary = up > lo + 0.5 * (hi - lo)
    skeleton = skeletonize(binary)
    dist = ndimage.distance_transform_edt(binary)
    area = binary.sum() / scale**2
    sk = skeleton.astype(np.float64)
    length = float((ndimage.correlate(sk, _LINKS, mode="constant") * sk).sum()) / scale
    thickness = 2.0 * float(dist[skeleton].mean()) / scale if skeleton.any() else 0.0
    # Moments and extents from the binarised image: background noise in generated images (a few grey
    # levels everywhere) would otherwise stretch the mass quantiles to the image border. Only the
    # foreground pixels' coordinates are needed (all weights are 1).
    ys, xs = np.nonzero(binary)
    ys, xs = ys.astype(np.float64), xs.astype(np.float64)
    cy, cx = ys.mean(), xs.mean()
    mu11 = ((xs - cx) * (ys - cy)).mean()
    mu02 = ((ys - cy) ** 2).mean()
    shear = mu11 / mu02 if mu02 > 1e-12 else 0.0
    slant = float(np.arctan(-shear))
    width = _span(xs - shear * (ys - cy)) / scale
    height = _span(ys) / scale
    return (thickness, slant, width, height, float(area), length)


def _span(coords: np.ndarray, lo: float = 0.01, hi: float = 0.99) -> float:
    """Distance between the 1 % and 99 % quantiles of the foreground's coordinates (+1 pixel)."""
    q_lo, q_hi = np.quantile(coords, [lo, hi], method="inverted_cdf")
    return float(q_hi - q_lo + 1.0)


class Morphometry(AttributeExtractor):
    """Six continuous stroke measurements per image; not differentiable."""

    name = "morphometry"
    differentiable = False

    def __init__(self) -> None:
        super().__init__()
        self.attributes = [AttributeSpec(n, "continuous", unit=UNITS[n]) for n in NAMES]
        self.score_names = list(NAMES)
        self.weights_sha256 = "none (pixel measurement)"

    def score_images(self, images: torch.Tensor) -> torch.Tensor:
        grey = images.detach().float().mean(dim=1).cpu().numpy()
        return torch.tensor(np.array([measure_digit(g) for g in grey]), dtype=torch.float64).reshape(-1, len(NAMES))


def create(arg: str | None = None, device: torch.device = CPU) -> AttributeExtractor:
    """The registry's factory for ``morphometry`` (registered by name in :mod:`gan_eval.attributes.base`)."""
    return Morphometry()
