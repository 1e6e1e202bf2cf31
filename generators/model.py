"""A loaded generator: an architecture module plus its I/O contract, sampled reproducibly.

:class:`GeneratorHandle` is what ``--gen ckpt`` turns into. It implements every part of the core's
generator protocol (:mod:`gan_eval.models`): sampling (``sample(n, generator)``, ``output_range``),
class-conditional sampling (``num_classes``, ``label``, ``sample(..., labels=)``), truncation
(``truncation_kind``, ``truncation``, ``with_truncation(psi)``) and latent access (``latents``,
``decode``) — plus ``translate`` for image-to-image models. Noise and random labels are drawn on the
CPU from the caller's ``torch.Generator`` and the module runs in eval mode, so a seed gives
bit-identical images on CPU.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from gan_eval.generators import noise
from gan_eval.generators.registry import ArchSpec

from gan_eval.errors import GanEvalError
from gan_eval.models import draw_labels


class GeneratorHandle:
    """An eval-mode generator module with its metadata."""

    def __init__(self, module: torch.nn.Module, spec: ArchSpec, config: dict[str, Any], meta: dict[str, Any] | None = None,
                 truncation: float | None = None, label: int | None = None) -> None:
        self.module = module.eval()
        self.spec = spec
        self.config = config
        self.meta = meta or {}
        self.truncation = truncation
        self.label = label
        self.output_range: tuple[float, float] = tuple(module.output_range)  # type: ignore[assignment]
        self.kind = spec.kind
        self.z_dim = int(getattr(module, "z_dim", 0))
        self.num_classes = int(getattr(module, "num_classes", 0))
        if label is not None and not (0 <= label < self.num_classes):
            raise GanEvalError(f"--class {label} is out of range: {spec.name} has {self.num_classes} classes"
                               if self.num_classes else f"--class given but {spec.name} is not conditional")
        if truncation is not None:
            if spec.truncation is None:
                raise GanEvalError(f"{spec.name} does not support truncation")
            if not math.isfinite(truncation) or (spec.truncation == "z_truncnorm" and truncation <= 0):
                raise GanEvalError(f"--truncation {truncation} is invalid for {spec.name}: "
                                   + ("the truncated-normal threshold must be > 0" if spec.truncation == "z_truncnorm"
                                      else "ψ must be a finite number (0 = average w, 1 = no truncation)"))

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    @property
    def arch(self) -> str:
        """The architecture's registry name (``dcgan``, ``stylegan2``, …)."""
        return self.spec.name

    @property
    def arch_version(self) -> int:
        return self.spec.version

    @property
    def truncation_kind(self) -> str | None:
        """``w_avg_lerp``, ``z_truncnorm`` or None (this architecture cannot truncate)."""
        return self.spec.truncation

    def with_truncation(self, psi: float | None) -> GeneratorHandle:
        """A handle sampling at ψ that shares this one's module, metadata and class (ψ is checked)."""
        return GeneratorHandle(self.module, self.spec, self.config, self.meta, truncation=psi, label=self.label)

    def latents(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if self.spec.truncation == "z_truncnorm" and self.truncation is not None:
            return noise.truncated_normal(n, self.z_dim, self.truncation, generator)
        return noise.normal(n, self.z_dim, generator)

    def labels(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The classes of ``n`` samples: the fixed ``label``, or uniform draws from ``generator``."""
        return draw_labels(self, n, generator)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Latents (and, for conditional models, class indices) to images in ``output_range``.

        Differentiable (the audit's latent walks follow gradients through it); w-space truncation
        applies as in :meth:`sample`.
        """
        kwargs: dict[str, Any] = {}
        if self.spec.truncation == "w_avg_lerp" and self.truncation is not None:
            kwargs["truncation"] = self.truncation
        if labels is not None:
            kwargs["labels"] = F.one_hot(labels.to(self.device), self.num_classes).float()
        return self.module(z.to(self.device), **kwargs)

    @property
    def has_mapping(self) -> bool:
        """True when the architecture has a mapping network z → w and a synthesis network w → images (StyleGAN)."""
        return callable(getattr(self.module, "map_w", None)) and callable(getattr(self.module, "synthesize", None))

    def map_w(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z → w through the mapping network (w-space truncation ψ applied as in :meth:`sample`)."""
        if not self.has_mapping:
            raise GanEvalError(f"{self.spec.name} has no mapping network (no w space)")
        psi = self.truncation if self.spec.truncation == "w_avg_lerp" else None
        return self.module.map_w(z.to(self.device), psi)

    def synthesize(self, w: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """w → images in ``output_range`` (differentiable, like :meth:`decode`)."""
        if not self.has_mapping:
            raise GanEvalError(f"{self.spec.name} has no mapping network (no w space)")
        return self.module.synthesize(w.to(self.device))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` images ``N×C×H×W`` in ``output_range``."""
        if self.kind == "image2image":
            raise GanEvalError(f"{self.spec.name} translates images: pass --source DIR (images to translate)")
        z = self.latents(n, generator)
        if self.kind == "conditional" and labels is None:
            labels = self.labels(n, generator)
        return self.decode(z, labels if self.kind == "conditional" else None)

    @torch.no_grad()
    def translate(self, images_uint8: torch.Tensor) -> torch.Tensor:
        """Image-to-image: uint8 ``N×C×H×W`` source images → output in ``output_range``."""
        if self.kind != "image2image":
            raise GanEvalError(f"{self.spec.name} is not an image-to-image model")
        lo, hi = self.output_range
        x = images_uint8.to(self.device).float() / 255.0 * (hi - lo) + lo
        in_channels = int(getattr(self.module, "in_channels", x.shape[1]))
        if x.shape[1] != in_channels:
            x = x[:, :1] if in_channels == 1 else x[:, :1].expand(-1, in_channels, -1, -1)
        return self.module(x)
