"""The feature-extractor contract and its validated registry.

An extractor turns a batch of ``uint8`` images ``N×3×H×W`` into a dict of float tensors: always
``"features"`` (``N×feature_dim``, used by FID, KID, precision/recall, density/coverage) and, when it
has a classifier head, ``"logits"`` (used by the Inception Score) — both from one forward pass.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Callable

import torch

from gan_eval.errors import GanEvalError


class FeatureExtractor(ABC):
    """Base class of all feature extractors.

    Subclasses set the class attributes and implement :meth:`extract`. ``weights_sha256`` and
    ``preprocessing`` go into provenance and cache keys, so two extractors that differ in either
    never share cached features.
    """

    name: str = ""
    feature_dim: int = 0
    has_logits: bool = False
    preprocessing: str = ""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.weights_sha256 = ""
        self.weights_origin = ""

    @abstractmethod
    def extract(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features of a ``uint8`` batch ``N×3×H×W`` already on ``self.device``."""

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"extractor expects uint8 N×3×H×W images, got {images.dtype} {tuple(images.shape)}")
        with torch.inference_mode():
            return self.extract(images.to(self.device, non_blocking=True))

    def describe(self) -> dict[str, object]:
        """Provenance fields of this extractor."""
        return {
            "extractor": self.name,
            "feature_dim": self.feature_dim,
            "weights_sha256": self.weights_sha256,
            "weights_origin": self.weights_origin,
            "preprocessing": self.preprocessing,
        }


ExtractorFactory = Callable[..., FeatureExtractor]
_REGISTRY: dict[str, ExtractorFactory] = {}
_NAME = re.compile(r"^[a-z0-9][a-z0-9\-_.]*$")


def register_extractor(name: str) -> Callable[[ExtractorFactory], ExtractorFactory]:
    """Register a factory ``f(weights: str | None, device: torch.device) -> FeatureExtractor`` under ``name``."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"invalid extractor name {name!r}: use lower-case letters, digits, '-', '_', '.'")

    def decorator(factory: ExtractorFactory) -> ExtractorFactory:
        if name in _REGISTRY:
            raise ValueError(f"extractor {name!r} is already registered")
        if not callable(factory):
            raise TypeError(f"extractor factory for {name!r} is not callable")
        _REGISTRY[name] = factory
        return factory

    return decorator


def available_extractors() -> list[str]:
    """Names that ``--extractor`` accepts."""
    return sorted(_REGISTRY)


def create_extractor(name: str, weights: str | None = None, device: torch.device | str = "cpu") -> FeatureExtractor:
    """Build the extractor registered as ``name`` on ``device``."""
    if name not in _REGISTRY:
        raise GanEvalError(f"unknown extractor {name!r}; available: {', '.join(available_extractors())}")
    return _REGISTRY[name](weights=weights, device=torch.device(device))
