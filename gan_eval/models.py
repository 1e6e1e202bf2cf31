"""The generator protocol: what the core's workflows need from a generator, and nothing more.

The core (sources, sweep, per-class, audit walks) never imports the generators package; it talks to
any object through these small protocols. gan-eval's checkpoint handle (``GeneratorHandle`` in the
generators package's ``model`` module) implements all of them; a model of your own needs only the
parts a workflow uses:

- :class:`Generator` — ``sample(n, generator)`` and ``output_range``: enough for ``evaluate``;
- :class:`ConditionalGenerator` — ``num_classes`` (≥ 2), an optional fixed ``label`` and
  ``sample(n, generator, labels=None)``: per-class metrics;
- :class:`TruncatableGenerator` — ``truncation_kind`` (``"w_avg_lerp"`` or ``"z_truncnorm"``, None
  when it cannot truncate), the current ``truncation`` ψ and ``with_truncation(psi)`` returning a
  copy at ψ: truncation sweeps;
- :class:`LatentGenerator` — ``latents(n, generator)`` and a differentiable ``decode(z, labels=None)``:
  the audit's latent walks, PPL in z space;
- :class:`MappedGenerator` — ``map_w(z)`` and ``synthesize(w)``: PPL in w space.

A generator's ``kind`` is one of :data:`GENERATOR_KINDS`; image-to-image models (``translate(images)``)
have no latent to sample, truncate or walk. The helpers below read these capabilities with sensible
defaults for objects that declare only part of the protocol, so the checks live in one place.
Light on purpose: torch is imported only for type checking.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch

#: What a generator is: sampled from noise, sampled from noise and a class, or applied to images.
GENERATOR_KINDS = ("unconditional", "conditional", "image2image")
#: How ψ acts: ``w_avg + ψ·(w − w_avg)`` in w-space, or z drawn from N(0, 1) truncated to ``[−ψ, ψ]``.
TRUNCATION_KINDS = ("w_avg_lerp", "z_truncnorm")


@runtime_checkable
class Generator(Protocol):
    """``sample(n, generator)``: ``n`` images ``n×C×H×W`` (C = 1 or 3), ``uint8`` or float in
    ``output_range`` (for example ``(-1, 1)``), drawing all randomness from ``generator``."""

    output_range: tuple[float, float]

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor: ...


@runtime_checkable
class ConditionalGenerator(Protocol):
    """A class-conditional generator: ``labels`` (class indices) fix each sample's class; without
    them the model draws classes itself (its fixed ``label``, or uniformly at random)."""

    num_classes: int
    label: int | None

    def sample(self, n: int, generator: torch.Generator, labels: torch.Tensor | None = None) -> torch.Tensor: ...


@runtime_checkable
class TruncatableGenerator(Protocol):
    """A generator that can trade diversity for fidelity with a truncation value ψ."""

    truncation_kind: str | None
    truncation: float | None

    def with_truncation(self, psi: float | None) -> TruncatableGenerator:
        """A copy sampling at ψ (``None``: untruncated), sharing the weights; an invalid ψ is a ``GanEvalError``."""


@runtime_checkable
class LatentGenerator(Protocol):
    """Latent access: seeded codes and a differentiable decoder (``labels`` only for conditional models)."""

    output_range: tuple[float, float]

    def latents(self, n: int, generator: torch.Generator) -> torch.Tensor: ...

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor: ...


@runtime_checkable
class MappedGenerator(Protocol):
    """A StyleGAN-like generator with a w space: ``map_w`` (z → w) and ``synthesize`` (w → images in
    ``output_range``); ``decode(z)`` equals ``synthesize(map_w(z))``. PPL in w space needs it."""

    def map_w(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor: ...

    def synthesize(self, w: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor: ...


def has_mapping(model: Any) -> bool:
    """True when ``model`` exposes a w space (:class:`MappedGenerator`; a ``has_mapping`` attribute may say no)."""
    return (bool(getattr(model, "has_mapping", True)) and callable(getattr(model, "map_w", None))
            and callable(getattr(model, "synthesize", None)))


def num_classes(model: Any) -> int:
    """The number of classes a model generates (0 for an unconditional model or any other object)."""
    return int(getattr(model, "num_classes", 0) or 0)


def generator_kind(model: Any) -> str:
    """The model's ``kind`` when it declares one of :data:`GENERATOR_KINDS`, else inferred from its classes."""
    kind = getattr(model, "kind", None)
    if kind in GENERATOR_KINDS:
        return kind
    return "conditional" if num_classes(model) > 0 else "unconditional"


def generator_name(model: Any) -> str:
    """A short name for messages: the architecture (``arch``) when the model has one, else its type."""
    return str(getattr(model, "arch", None) or type(model).__name__)


def truncation_kind(model: Any) -> str | None:
    """How the model truncates (one of :data:`TRUNCATION_KINDS`), or None when it cannot."""
    if not callable(getattr(model, "with_truncation", None)):
        return None
    kind = getattr(model, "truncation_kind", None)
    return kind if kind in TRUNCATION_KINDS else None


def is_truncatable_object(model: Any) -> bool:
    """True when ``model`` speaks the truncation protocol at all (even if this one cannot truncate)."""
    return callable(getattr(model, "with_truncation", None)) and hasattr(model, "truncation_kind")


def has_latents(model: Any) -> bool:
    """True when latent walks can run on ``model``: ``latents`` and ``decode``, and not image-to-image."""
    return (generator_kind(model) != "image2image" and callable(getattr(model, "latents", None))
            and callable(getattr(model, "decode", None)))


def draw_labels(model: Any, n: int, generator: torch.Generator) -> torch.Tensor | None:
    """The classes of ``n`` samples of a conditional model: its fixed ``label`` for all, else uniform
    draws from ``generator``; None for an unconditional model (no draw, so the stream is untouched)."""
    import torch

    classes = num_classes(model)
    if classes == 0:
        return None
    label = getattr(model, "label", None)
    if label is not None:
        return torch.full((n,), int(label), dtype=torch.long)
    return torch.randint(0, classes, (n,), generator=generator)
