"""``digits``: a small CNN trained by this project on half of the bundled MNIST test set.

It makes every metric meaningful with no download: 128 pooled features for FID/KID/PR/DC and 10
class logits for the Inception Score. Weights ship in the package (``assets/digits.safetensors``);
``python -m gan_eval.extractors.train_digits`` retrains them bit for bit.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F

from gan_eval.errors import GanEvalError
from gan_eval.extractors.base import FeatureExtractor
from gan_eval.extractors.digits_net import FEATURE_DIM, NUM_CLASSES, DigitNet
from gan_eval.files import sha256_file
from gan_eval.weights import load_state_dict

INPUT_SIZE = 28


def bundled_digits_weights() -> str:
    """Path of the shipped digits weights."""
    return str(resources.files("gan_eval.assets").joinpath("digits.safetensors"))


class DigitsExtractor(FeatureExtractor):
    """Grey level = channel mean, antialiased bilinear resize to 28×28 when needed, ``x/255``."""

    name = "digits"
    feature_dim = FEATURE_DIM
    has_logits = True
    preprocessing = "grey=mean(rgb),antialiased-bilinear-28,x/255"
    num_classes = NUM_CLASSES

    def __init__(self, weights: str | None, device: torch.device) -> None:
        super().__init__(device)
        path = weights or bundled_digits_weights()
        if not Path(path).is_file():
            raise GanEvalError(f"digits weights file {path} does not exist")
        self.weights_sha256 = sha256_file(path)
        self.weights_origin = "--weights" if weights else "bundled"
        self.model = DigitNet()
        state = load_state_dict(path)
        mismatch = state_mismatch(self.model.state_dict(), state)
        if mismatch:
            raise GanEvalError(f"digits weights file {path} does not hold DigitNet's tensors ({mismatch}); "
                               f"pass a file written by `python -m gan_eval.extractors.train_digits`, or no --weights")
        self.model.load_state_dict(state, strict=True)
        self.model.to(device).eval().requires_grad_(False)

    def extract(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = images.float().mean(dim=1, keepdim=True) / 255.0
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True, align_corners=False)
        features, logits = self.model(x)
        return {"features": features.float(), "logits": logits.float()}


def state_mismatch(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], limit: int = 3) -> str:
    """How ``found`` differs from ``expected`` in one short line (missing, unexpected, wrong shapes); "" when it fits."""
    def names(keys: list[str]) -> str:
        return ", ".join(keys[:limit]) + (f" and {len(keys) - limit} more" if len(keys) > limit else "")

    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shapes = [f"{k} {list(found[k].shape)} instead of {list(expected[k].shape)}"
              for k in sorted(set(expected) & set(found)) if found[k].shape != expected[k].shape]
    parts = [f"{label}: {names(keys)}" for label, keys in (("missing", missing), ("unexpected", unexpected),
                                                           ("wrong shape", shapes)) if keys]
    return "; ".join(parts)


def create(weights: str | None = None, device: torch.device = torch.device("cpu")) -> FeatureExtractor:
    """The registry's factory for ``digits`` (registered by name in :mod:`gan_eval.extractors.base`)."""
    return DigitsExtractor(weights, device)
