"""The attribute-extractor contract and its registry.

An attribute extractor maps images to *scores* — one float column per score (classifier logits,
pixel measurements) — and decodes those scores into *attributes*: categorical (one code per image,
e.g. the digit class = argmax of 10 logits), binary (logit > 0) or continuous (a measurement). The
audit compares attributes between generated and real images (representation, joint structure) and
walks the generator's latent space along a score column (latent-walk audit). Scores are what a walk
moves; attributes are what a representation table counts.

Each extractor declares ``differentiable``: when true, :meth:`AttributeExtractor.score_images` is a
torch function of the pixels whose gradient reaches the generator's latent codes (gradient-mode
walks); otherwise the audit uses boundary mode (a linear SVM in latent space).

The registry is a :class:`gan_eval.registry.Registry` (kind ``attribute extractor``, entry-point
group ``gan_eval.attributes``). Plug-ins register a factory with :func:`register_attribute_extractor`,
or ship it in a package under that group: the entry point names either the factory itself or a
``register()`` function taking no arguments; it is listed by name without being imported, loaded
when its name is asked for, and a plug-in that fails to load is a warning. The built-ins are
registered as ``"module:function"`` strings, so listing the names imports no torch (this module
imports torch only inside the functions that run it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gan_eval.errors import GanEvalError
from gan_eval.registry import Registry

if TYPE_CHECKING:
    import torch

KINDS = ("categorical", "binary", "continuous")
ENTRY_POINT_GROUP = "gan_eval.attributes"


@dataclass(frozen=True)
class AttributeSpec:
    """One attribute: its name, kind, levels (categorical/binary) and unit (continuous)."""

    name: str
    kind: str
    levels: tuple[str, ...] = ()
    unit: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"attribute {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "categorical" and len(self.levels) < 2:
            raise ValueError(f"categorical attribute {self.name!r} needs at least 2 levels")
        if self.kind == "binary" and len(self.levels) != 2:
            object.__setattr__(self, "levels", ("0", "1"))


@dataclass
class ValidationSet:
    """Labelled real images for measuring an extractor's confusion matrices.

    ``labels`` maps a categorical/binary attribute name to integer true codes (one per image).
    """

    images: torch.Tensor  # uint8 N×3×H×W
    labels: dict[str, np.ndarray]
    description: str = ""


class AttributeExtractor(ABC):
    """Base class of attribute extractors.

    Subclasses set ``name``, ``differentiable``, ``attributes`` and ``score_names`` and implement
    :meth:`score_images` (and :meth:`decode` when scores are not the attributes themselves).
    """

    name: str = ""
    differentiable: bool = False

    def __init__(self) -> None:
        self.attributes: list[AttributeSpec] = []
        self.score_names: list[str] = []
        self.score_groups: dict[str, str] = {}  # score column -> attribute it belongs to
        self.weights_sha256: str = ""

    @abstractmethod
    def score_images(self, images: torch.Tensor) -> torch.Tensor:
        """Scores ``N×len(score_names)`` of float images ``N×3×H×W`` in ``[0, 1]``.

        Differentiable extractors must keep this a torch function of ``images`` (no ``.numpy()``,
        no ``no_grad``) so gradients reach the latent codes.
        """

    def decode(self, scores: np.ndarray) -> dict[str, np.ndarray]:
        """Attributes from scores: int codes for categorical/binary, floats for continuous.

        Default: every score column is the continuous attribute of the same name.
        """
        return {spec.name: scores[:, self.score_names.index(spec.name)].astype(np.float64) for spec in self.attributes}

    def validation(self) -> ValidationSet | None:
        """Labelled real images to measure this extractor's error on, if it has any."""
        return None

    def confusion_counts(self) -> tuple[dict[str, np.ndarray], str]:
        """Per categorical/binary attribute, counts ``K×K`` (row = true level, column = predicted).

        Used to correct generated proportions for the extractor's own error. The default measures
        them on :meth:`validation`; extractors that stored them at training time override this.
        Returns ``({}, reason)`` when nothing labelled is available.
        """
        val = self.validation()
        if val is None:
            return {}, "no labelled validation data"
        decoded = self.decode(self.measure(val.images))
        out: dict[str, np.ndarray] = {}
        for spec in self.attributes:
            if spec.name in val.labels and spec.kind != "continuous":
                k = len(spec.levels)
                true = np.asarray(val.labels[spec.name], dtype=np.int64)
                pred = np.asarray(decoded[spec.name], dtype=np.int64)
                out[spec.name] = np.bincount(true * k + pred, minlength=k * k).reshape(k, k)
        return out, val.description

    def measure(self, images: torch.Tensor, batch_size: int = 256) -> np.ndarray:
        """Scores (float64 ``N×D``) of ``uint8`` ``N×3×H×W`` images, without gradients."""
        import torch

        out = []
        with torch.no_grad():
            for start in range(0, images.shape[0], batch_size):
                batch = images[start : start + batch_size].float() / 255.0
                out.append(self.score_images(batch).detach().cpu().double().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.score_names)))

    def describe(self) -> dict[str, object]:
        """Provenance of this extractor."""
        return {"name": self.name, "differentiable": self.differentiable, "weights_sha256": self.weights_sha256,
                "attributes": [a.name for a in self.attributes], "scores": list(self.score_names)}


AttributeFactory = Callable[..., AttributeExtractor]


def _check_factory(name: str, factory: Any) -> None:
    if not callable(factory):
        raise TypeError(f"attribute extractor factory for {name!r} is not callable")


#: Every attribute extractor by name: ``factory(arg: str | None, device: torch.device) -> AttributeExtractor``.
ATTRIBUTES: Registry[AttributeFactory] = Registry("attribute extractor", group=ENTRY_POINT_GROUP,
                                                  validate=_check_factory)
ATTRIBUTES.register("classifier", "gan_eval.attributes.classifier:create")
ATTRIBUTES.register("digits", "gan_eval.attributes.digits:create")
ATTRIBUTES.register("morphometry", "gan_eval.attributes.morphometry:create")


def register_attribute_extractor(name: str) -> Callable[[AttributeFactory], AttributeFactory]:
    """Register ``factory(arg: str | None, device: torch.device) -> AttributeExtractor`` under ``name``.

    ``arg`` is the text after ``name:`` in a spec (``classifier:attrs.safetensors``), else ``None``.
    """
    return ATTRIBUTES.register(name)


def unregister_attribute_extractor(name: str) -> None:
    """Remove a registration (tests and interactive use)."""
    ATTRIBUTES.unregister(name)


def available_attribute_extractors() -> list[str]:
    """Registered names plus installed plug-ins (imports none of them)."""
    return ATTRIBUTES.names()


def create_attribute_extractor(spec: str, device: torch.device | str = "cpu") -> AttributeExtractor:
    """Build one extractor from ``NAME`` or ``NAME:ARG`` (e.g. ``classifier:attrs.safetensors``)."""
    import torch

    name, _, arg = spec.partition(":")
    name = name.strip()
    extractor = ATTRIBUTES.get(name)(arg or None, torch.device(device))
    if not isinstance(extractor, AttributeExtractor):
        raise GanEvalError(f"attribute extractor {name!r} did not return an AttributeExtractor")
    _validate(extractor)
    return extractor


def _validate(extractor: AttributeExtractor) -> None:
    if not extractor.score_names or not extractor.attributes:
        raise GanEvalError(f"attribute extractor {extractor.name!r} declares no scores or attributes")
    if len(set(extractor.score_names)) != len(extractor.score_names):
        raise GanEvalError(f"attribute extractor {extractor.name!r} has duplicate score names")


@dataclass
class AttributeSet:
    """Several extractors side by side, with unique score and attribute names."""

    extractors: list[AttributeExtractor] = field(default_factory=list)

    def __post_init__(self) -> None:
        scores: set[str] = set()
        names: set[str] = set()
        for ex in self.extractors:
            for s in ex.score_names:
                if s in scores:
                    raise GanEvalError(f"score {s!r} is produced by two attribute extractors; rename one")
                scores.add(s)
            for a in ex.attributes:
                if a.name in names:
                    raise GanEvalError(f"attribute {a.name!r} is produced by two attribute extractors; rename one")
                names.add(a.name)

    @property
    def score_names(self) -> list[str]:
        return [s for ex in self.extractors for s in ex.score_names]

    @property
    def attributes(self) -> list[AttributeSpec]:
        return [a for ex in self.extractors for a in ex.attributes]

    def score_group(self, score: str) -> str:
        """The attribute a score column belongs to (its own name when it is not grouped)."""
        for ex in self.extractors:
            if score in ex.score_names:
                return ex.score_groups.get(score, score)
        raise KeyError(score)

    def extractor_of(self, score: str) -> AttributeExtractor:
        for ex in self.extractors:
            if score in ex.score_names:
                return ex
        raise GanEvalError(f"unknown score {score!r}; available: {', '.join(self.score_names)}")

    def measure(self, images: torch.Tensor, batch_size: int = 256) -> np.ndarray:
        """All score columns of ``uint8`` images, side by side."""
        return np.concatenate([ex.measure(images, batch_size) for ex in self.extractors], axis=1)

    def decode(self, scores: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        col = 0
        for ex in self.extractors:
            width = len(ex.score_names)
            out.update(ex.decode(scores[:, col : col + width]))
            col += width
        return out


def create_attribute_set(specs: str | list[str], device: torch.device | str = "cpu") -> AttributeSet:
    """Parse ``"digits,morphometry"`` (or a list) into an :class:`AttributeSet`."""
    if isinstance(specs, str):
        specs = [s.strip() for s in specs.split(",") if s.strip()]
    if not specs:
        raise GanEvalError("no attribute extractors given (e.g. --attributes digits,morphometry)")
    return AttributeSet([create_attribute_extractor(s, device) for s in specs])
