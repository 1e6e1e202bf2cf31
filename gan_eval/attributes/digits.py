"""``digits``: the bundled digit classifier (DigitNet, 10 logits) as a categorical attribute.

Scores are the ten logits ``digit=0`` … ``digit=9``; the attribute ``digit`` is their argmax. The
network is differentiable, so latent walks can follow a digit logit's gradient (the course's
covariance audit). Its error is measured on the held-out half of the bundled MNIST test set (never
used to train it), which the audit uses to correct generated class proportions.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from gan_eval.attributes.base import (
    AttributeExtractor,
    AttributeSpec,
    ValidationSet,
)
from gan_eval.extractors.digits import DigitsExtractor

CPU = torch.device("cpu")

INPUT_SIZE = 28
_CONFUSION_CACHE: dict[tuple[str, int], tuple[dict[str, np.ndarray], str]] = {}


class DigitAttributes(AttributeExtractor):
    """Digit class (10 levels) from the bundled DigitNet; differentiable."""

    name = "digits"
    differentiable = True

    def __init__(self, weights: str | None = None, device: torch.device = CPU,
                 validation_size: int = 5000) -> None:
        super().__init__()
        inner = DigitsExtractor(weights, device)
        self.model = inner.model
        self.device = device
        self.weights_sha256 = inner.weights_sha256
        self.validation_size = validation_size
        levels = tuple(str(i) for i in range(10))
        self.attributes = [AttributeSpec("digit", "categorical", levels, description="predicted digit class")]
        self.score_names = [f"digit={i}" for i in levels]
        self.score_groups = {s: "digit" for s in self.score_names}

    def score_images(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(self.device).float().mean(dim=1, keepdim=True)
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True, align_corners=False)
        return self.model(x)[1]

    def decode(self, scores: np.ndarray) -> dict[str, np.ndarray]:
        return {"digit": scores.argmax(axis=1).astype(np.int64)}

    def confusion_counts(self) -> tuple[dict[str, np.ndarray], str]:
        # Deterministic for given weights, so measured once per process (audits in a loop, test suites).
        key = (self.weights_sha256, self.validation_size)
        if key not in _CONFUSION_CACHE:
            _CONFUSION_CACHE[key] = super().confusion_counts()
        counts, source = _CONFUSION_CACHE[key]
        return {k: v.copy() for k, v in counts.items()}, source

    def validation(self) -> ValidationSet:
        from gan_eval.mnist import load_mnist

        images, labels = load_mnist("heldout")
        n = min(self.validation_size, images.shape[0])
        tensor = torch.from_numpy(images[:n].copy())[:, None].expand(-1, 3, -1, -1).contiguous()
        return ValidationSet(tensor, {"digit": labels[:n].astype(np.int64)},
                             f"bundled MNIST held-out half ({n} labelled digits, not used in training)")


def create(arg: str | None = None, device: torch.device = CPU) -> AttributeExtractor:
    """The registry's factory for ``digits`` (registered by name in :mod:`gan_eval.attributes.base`)."""
    return DigitAttributes(arg, device)
