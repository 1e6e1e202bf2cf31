"""The feature-extractor contract and its validated registry.

An extractor turns a batch of ``uint8`` images ``N×3×H×W`` into a dict of float tensors: always
``"features"`` (``N×feature_dim``, used by FID, KID, precision/recall, density/coverage) and, when it
has a classifier head, ``"logits"`` (used by the Inception Score) — both from one forward pass.

The registry is a :class:`gan_eval.registry.Registry` (kind ``extractor``, entry-point group
``gan_eval.extractors``). The built-ins are registered as ``"module:function"`` strings, so listing
the names (``--extractor`` choices, ``--help``) imports neither torch nor torch-fidelity; a factory is
imported when its extractor is built. This module imports torch only inside the methods that run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Callable

from gan_eval.registry import Registry

if TYPE_CHECKING:
    import torch


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
        import torch

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


def _check_factory(name: str, factory: Any) -> None:
    if not callable(factory):
        raise TypeError(f"extractor factory for {name!r} is not callable")


#: Every extractor by name: ``factory(weights: str | None, device: torch.device) -> FeatureExtractor``.
EXTRACTORS: Registry[ExtractorFactory] = Registry("extractor", group="gan_eval.extractors", validate=_check_factory)
EXTRACTORS.register("digits", "gan_eval.extractors.digits:create")
EXTRACTORS.register("inception-v3-compat", "gan_eval.extractors.inception:create")


def register_extractor(name: str) -> Callable[[ExtractorFactory], ExtractorFactory]:
    """Register a factory ``f(weights: str | None, device: torch.device) -> FeatureExtractor`` under ``name``."""
    return EXTRACTORS.register(name)


def available_extractors() -> list[str]:
    """Names that ``--extractor`` accepts (built-ins and installed plug-ins; imports none of them)."""
    return EXTRACTORS.names()


def create_extractor(name: str, weights: str | None = None, device: torch.device | str = "cpu") -> FeatureExtractor:
    """Build the extractor registered as ``name`` on ``device`` (an unknown name is a GanEvalError)."""
    factory = EXTRACTORS.get(name)
    import torch

    return factory(weights=weights, device=torch.device(device))
