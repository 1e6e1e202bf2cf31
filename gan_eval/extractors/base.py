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

    from gan_eval.weights import WeightsFile


class FeatureExtractor(ABC):
    """Base class of all feature extractors.

    Subclasses set the class attributes and implement :meth:`extract`. ``weights_sha256`` and
    ``preprocessing`` go into provenance and cache keys, so two extractors that differ in either
    never share cached features.

    Resizing (``--resize``): ``resize_modes`` lists the modes of :data:`~gan_eval.extractors.resize.RESIZE_MODES`
    an extractor supports, its default first; an extractor that resizes its own fixed way (``digits``)
    keeps the default ``("tf1",)`` and so refuses ``clean``. Subclasses resize through :meth:`resize`, which
    follows ``resize_mode``. A ``{resize}`` in ``preprocessing`` is replaced by the mode's label; without
    one, a mode other than the default is appended, so the mode is always part of ``preprocessing``.
    """

    name: str = ""
    feature_dim: int = 0
    has_logits: bool = False
    preprocessing: str = ""
    resize_modes: tuple[str, ...] = ("tf1",)

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.weights_sha256 = ""
        self.weights_origin = ""
        self.official_weights: bool | None = None
        self.set_resize_mode(self.resize_modes[0])

    def set_resize_mode(self, mode: str) -> None:
        """Resize by ``mode`` from now on (and say so in ``preprocessing``); an unsupported mode is a GanEvalError."""
        from gan_eval.errors import GanEvalError
        from gan_eval.extractors.resize import RESIZE_LABELS, check_resize_mode

        check_resize_mode(mode)
        if mode not in self.resize_modes:
            raise GanEvalError(f"extractor {self.name!r} does not support --resize {mode} "
                               f"(it supports: {', '.join(self.resize_modes)})")
        self.resize_mode = mode
        template = type(self).preprocessing
        if "{resize}" in template:
            self.preprocessing = template.replace("{resize}", RESIZE_LABELS[mode])
        else:
            self.preprocessing = template if mode == self.resize_modes[0] else f"{template},resize={mode}"

    def resize(self, images: torch.Tensor, size: int) -> torch.Tensor:
        """``uint8`` ``N×3×H×W`` images to float32 ``N×3×size×size`` in [0, 255] by ``resize_mode``, same device."""
        from gan_eval.extractors.resize import resize_images

        return resize_images(images, size, getattr(self, "resize_mode", self.resize_modes[0]))

    @abstractmethod
    def extract(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features of a ``uint8`` batch ``N×3×H×W`` already on ``self.device``."""

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        import torch

        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"extractor expects uint8 N×3×H×W images, got {images.dtype} {tuple(images.shape)}")
        with torch.inference_mode():
            return self.extract(images.to(self.device, non_blocking=True))

    def load_weights(self, spec: WeightsFile, weights: str | None,
                     allow_download: bool = True) -> dict[str, torch.Tensor]:
        """Resolve ``spec``'s file (flag, variable, cache, verified download), record where it came from
        and its hash for provenance, and read its tensors without unpickling."""
        from gan_eval.weights import load_state_dict, resolve_weights

        resolved = resolve_weights(spec, weights, allow_download=allow_download)
        self.weights_sha256 = resolved.provenance_sha256  # a `weights convert` copy names its source's hash
        self.weights_origin = resolved.origin
        self.official_weights = resolved.official
        return load_state_dict(resolved.path)

    def describe(self) -> dict[str, object]:
        """Provenance fields of this extractor."""
        return {
            "extractor": self.name,
            "feature_dim": self.feature_dim,
            "weights_sha256": self.weights_sha256,
            "weights_origin": self.weights_origin,
            "preprocessing": self.preprocessing,
            "resize": getattr(self, "resize_mode", self.resize_modes[0]),
        }


ExtractorFactory = Callable[..., FeatureExtractor]


def _check_factory(name: str, factory: Any) -> None:
    if not callable(factory):
        raise TypeError(f"extractor factory for {name!r} is not callable")


#: Every extractor by name: ``factory(weights: str | None, device: torch.device) -> FeatureExtractor``.
EXTRACTORS: Registry[ExtractorFactory] = Registry("extractor", group="gan_eval.extractors", validate=_check_factory)
EXTRACTORS.register("digits", "gan_eval.extractors.digits:create")
EXTRACTORS.register("inception-v3-compat", "gan_eval.extractors.inception:create")
EXTRACTORS.register("vgg16", "gan_eval.extractors.vgg16:create")
EXTRACTORS.register("clip-vit-b-32", "gan_eval.extractors.clip:create_vit_b_32")
EXTRACTORS.register("clip-vit-l-14", "gan_eval.extractors.clip:create_vit_l_14")
EXTRACTORS.register("dinov2-vit-s-14", "gan_eval.extractors.dinov2:create_vit_s_14")
EXTRACTORS.register("dinov2-vit-b-14", "gan_eval.extractors.dinov2:create_vit_b_14")
EXTRACTORS.register("dinov2-vit-l-14", "gan_eval.extractors.dinov2:create_vit_l_14")
# Their light facts (feature size, input size, weights file) for `gan-eval extractors`: extractors/catalog.py.


def register_extractor(name: str) -> Callable[[ExtractorFactory], ExtractorFactory]:
    """Register a factory ``f(weights: str | None, device: torch.device) -> FeatureExtractor`` under ``name``."""
    return EXTRACTORS.register(name)


def available_extractors() -> list[str]:
    """Names that ``--extractor`` accepts (built-ins and installed plug-ins; imports none of them)."""
    return EXTRACTORS.names()


def create_extractor(name: str, weights: str | None = None, device: torch.device | str = "cpu",
                     resize: str | None = None) -> FeatureExtractor:
    """Build the extractor registered as ``name`` on ``device`` (an unknown name is a GanEvalError).

    ``resize`` (``--resize``): one of the extractor's ``resize_modes`` (None: its default); a mode it does
    not support is a one-line GanEvalError.
    """
    factory = EXTRACTORS.get(name)
    import torch

    extractor = factory(weights=weights, device=torch.device(device))
    if resize is not None:
        extractor.set_resize_mode(resize)
    return extractor
