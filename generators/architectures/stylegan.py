"""MicroStyleGAN (GANs course C2W3), completed so it can be trained, saved and evaluated.

Course structure, kept with the course's module names (``map.mapping.*``, ``starting_constant``,
``blockN.conv``, ``blockN.inject_noise.weight``, ``blockN.adain.style_{scale,shift}_transform``,
``blockN_to_image``): a 3-layer mapping network z → w, a learned constant 4×4 input, generator
blocks ``[bilinear ×2] → Conv3×3 → InjectNoise → LReLU(0.2) → AdaIN(w)``, and progressive growing:
1×1 to-RGB convs on the last two resolutions blended as ``α·rgb_big + (1−α)·upsample(rgb_small)``.

Additions over the course (the course network is components-only and untrained):

* ``num_blocks`` generalises the fixed 3 blocks (4→8→16); the output size is ``4·2^(num_blocks−1)``.
* The output passes through ``tanh`` so it is bounded in (-1, 1); the course output is unbounded.
* ``alpha`` is a buffer (initialised from the config): a recipe may fade it towards 1 and the
  checkpoint then records the value it was saved with, so a mid-growth checkpoint regenerates
  identically. The config field is the starting value.
* StyleGAN's w-space truncation: a ``w_avg`` buffer tracked as an EMA (β = 0.995) of the batch mean
  of w during training-mode forward passes, and ``forward(z, truncation=ψ)`` computing
  ``w_avg + ψ·(w − w_avg)``.
* Initialisation (no state-dict change): He-normal mapping layers and AdaIN styles starting at
  scale 1 / shift 0. With PyTorch's default init, w has std ≈ 0.1 and training collapses to a
  single image within a few hundred steps.
* Noise modes as in the official code: ``random`` (training default), ``const`` (eval default:
  one fixed noise image per layer, stored as a buffer so sampling is reproducible and survives
  save/load bit-identically) and ``none``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from gan_eval.generators.registry import register_arch, require_positive_ints
from torch import nn

NOISE_MODES = ("random", "const", "none")
W_AVG_BETA = 0.995
_NOISE_SEED = 20240601  # fixed seed for the eval-time constant noise buffers (overwritten by a loaded state dict)


def layer_noise(x: torch.Tensor, const: torch.Tensor, mode: str, generator: torch.Generator | None) -> torch.Tensor | None:
    """Per-pixel noise ``N×1×H×W`` for one layer, or ``None`` for ``mode="none"``.

    ``random`` draws from ``generator`` on the CPU (then moves to ``x``'s device) when given, so a
    recipe can make training noise come from its seeded generator; otherwise from torch's global RNG.
    """
    n, _, h, w = x.shape
    if mode == "const":
        return const.to(x.dtype).expand(n, 1, h, w)
    if mode == "random":
        if generator is not None:
            return torch.randn(n, 1, h, w, generator=generator).to(device=x.device, dtype=x.dtype)
        return torch.randn(n, 1, h, w, device=x.device, dtype=x.dtype)
    if mode == "none":
        return None
    raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {mode!r}")


def const_noise(size: int, index: int) -> torch.Tensor:
    """The deterministic initial constant noise image (1×1×size×size) of layer ``index``."""
    return torch.randn(1, 1, size, size, generator=torch.Generator().manual_seed(_NOISE_SEED + index))


@torch.no_grad()
def update_w_avg(w_avg: torch.Tensor, w: torch.Tensor, beta: float = W_AVG_BETA) -> None:
    """In place: ``w_avg ← β·w_avg + (1−β)·mean(w)`` (the official tracking of the average w)."""
    w_avg.copy_(w.detach().mean(dim=0).to(w_avg.dtype).lerp(w_avg, beta))


def truncate_w(w: torch.Tensor, w_avg: torch.Tensor, psi: float | None) -> torch.Tensor:
    """``w_avg + ψ·(w − w_avg)``; ψ = None or 1 returns ``w`` itself (bit-identical), ψ = 0 gives ``w_avg``."""
    if psi is None or psi == 1:
        return w
    # torch.lerp is exact at both ends: weight 0 → start (w_avg), weight 1 → end (w).
    return torch.lerp(w_avg.to(w.dtype).expand_as(w), w, float(psi))


@dataclass
class StyleGANConfig:
    """MicroStyleGAN config; defaults are the course's test configuration."""

    z_dim: int = 128
    map_hidden_dim: int = 1024
    w_dim: int = 496
    in_chan: int = 512
    hidden_chan: int = 256
    out_chan: int = 3
    kernel_size: int = 3
    num_blocks: int = 3  # 4 → 8 → 16
    alpha: float = 0.2  # initial fade-in weight of the newest resolution (1.0 = fully grown)

    def __post_init__(self) -> None:
        require_positive_ints(self, "z_dim", "map_hidden_dim", "w_dim", "in_chan", "hidden_chan", "out_chan", "kernel_size")
        if self.kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd (same-size convolutions), got {self.kernel_size}")
        if not isinstance(self.num_blocks, int) or self.num_blocks < 2:
            raise ValueError(f"num_blocks must be an integer ≥ 2 (two resolutions to blend), got {self.num_blocks!r}")
        if not 0.0 <= float(self.alpha) <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")


class MappingLayers(nn.Module):
    """Course mapping network: ``Linear → ReLU → Linear → ReLU → Linear`` (z → w)."""

    def __init__(self, z_dim: int, hidden_dim: int, w_dim: int) -> None:
        super().__init__()
        self.mapping = nn.Sequential(
            nn.Linear(z_dim, hidden_dim), nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim), nn.ReLU(),
            nn.Linear(hidden_dim, w_dim),
        )

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.mapping(noise)


class InjectNoise(nn.Module):
    """Adds ``weight·noise`` with a learnable per-channel weight (course init: randn)."""

    def __init__(self, channels: int, size: int, index: int = 0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(channels)[None, :, None, None])
        self.register_buffer("noise_const", const_noise(size, index))

    def forward(self, image: torch.Tensor, noise_mode: str = "random",
                noise_generator: torch.Generator | None = None) -> torch.Tensor:
        noise = layer_noise(image, self.noise_const, noise_mode, noise_generator)
        return image if noise is None else image + self.weight * noise


class AdaIN(nn.Module):
    """Instance norm, then a per-sample scale and shift, each ``Linear(w_dim, C)`` of w."""

    def __init__(self, channels: int, w_dim: int) -> None:
        super().__init__()
        self.instance_norm = nn.InstanceNorm2d(channels)
        self.style_scale_transform = nn.Linear(w_dim, channels)
        self.style_shift_transform = nn.Linear(w_dim, channels)

    def forward(self, image: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        normalized = self.instance_norm(image)
        scale = self.style_scale_transform(w)[:, :, None, None]
        shift = self.style_shift_transform(w)[:, :, None, None]
        return scale * normalized + shift


class MicroStyleGANGeneratorBlock(nn.Module):
    """``[Upsample(bilinear)] → Conv → InjectNoise → LReLU(0.2) → AdaIN(w)`` at ``starting_size``."""

    def __init__(self, in_chan: int, out_chan: int, w_dim: int, kernel_size: int, starting_size: int,
                 use_upsample: bool = True, index: int = 0) -> None:
        super().__init__()
        self.use_upsample = use_upsample
        if use_upsample:
            self.upsample = nn.Upsample((starting_size, starting_size), mode="bilinear", align_corners=False)
        self.conv = nn.Conv2d(in_chan, out_chan, kernel_size, padding=kernel_size // 2)
        self.inject_noise = InjectNoise(out_chan, starting_size, index)
        self.adain = AdaIN(out_chan, w_dim)
        self.activation = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random",
                noise_generator: torch.Generator | None = None) -> torch.Tensor:
        if self.use_upsample:
            x = self.upsample(x)
        x = self.conv(x)
        x = self.inject_noise(x, noise_mode, noise_generator)
        x = self.activation(x)
        return self.adain(x, w)


@register_arch("stylegan", version=1, config_cls=StyleGANConfig, kind="unconditional", truncation="w_avg_lerp",
               tiny={"z_dim": 16, "map_hidden_dim": 32, "w_dim": 16, "in_chan": 16, "hidden_chan": 16, "num_blocks": 3})
class MicroStyleGANGenerator(nn.Module):
    """MicroStyleGAN (course C2W3) with progressive-growing α-blend, w-truncation and tanh output."""

    def __init__(self, z_dim: int = 128, map_hidden_dim: int = 1024, w_dim: int = 496, in_chan: int = 512,
                 hidden_chan: int = 256, out_chan: int = 3, kernel_size: int = 3, num_blocks: int = 3,
                 alpha: float = 0.2) -> None:
        super().__init__()
        StyleGANConfig(z_dim, map_hidden_dim, w_dim, in_chan, hidden_chan, out_chan, kernel_size, num_blocks, alpha)
        self.z_dim = z_dim
        self.w_dim = w_dim
        self.num_classes = 0
        self.num_blocks = num_blocks
        size = 4 * 2 ** (num_blocks - 1)
        self.out_shape: tuple[int, int, int] = (out_chan, size, size)
        self.output_range: tuple[float, float] = (-1.0, 1.0)
        self.map = MappingLayers(z_dim, map_hidden_dim, w_dim)
        self.starting_constant = nn.Parameter(torch.randn(1, in_chan, 4, 4))
        for i in range(num_blocks):
            block = MicroStyleGANGeneratorBlock(in_chan if i == 0 else hidden_chan, hidden_chan, w_dim, kernel_size,
                                                4 * 2 ** i, use_upsample=i > 0, index=i)
            self.add_module(f"block{i}", block)
        # To-RGB convs for the last two resolutions, named like the course's block1/2_to_image.
        self.add_module(f"block{num_blocks - 2}_to_image", nn.Conv2d(hidden_chan, out_chan, kernel_size=1))
        self.add_module(f"block{num_blocks - 1}_to_image", nn.Conv2d(hidden_chan, out_chan, kernel_size=1))
        self.register_buffer("alpha", torch.tensor(float(alpha)))
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self._init_styles()

    @torch.no_grad()
    def _init_styles(self) -> None:
        # PyTorch's default Linear init shrinks the signal ~2.5× per layer, so the course network
        # starts with w of std ≈ 0.1 and styles that barely depend on z, and training collapses to
        # one image. Use StyleGAN's scales instead: He-normal mapping layers (unit-variance w) and
        # AdaIN styles that start at scale 1, shift 0 (as StyleGAN1's style bias init).
        for layer in self.map.mapping:
            if isinstance(layer, nn.Linear):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                nn.init.zeros_(layer.bias)
        for i in range(self.num_blocks):
            adain = getattr(self, f"block{i}").adain
            for transform, bias in ((adain.style_scale_transform, 1.0), (adain.style_shift_transform, 0.0)):
                nn.init.normal_(transform.weight, std=1.0 / transform.in_features ** 0.5)
                nn.init.constant_(transform.bias, bias)

    @staticmethod
    def infer_config(state_dict: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Config from tensor shapes (course-named keys)."""
        blocks = {int(m.group(1)) for k in state_dict if (m := re.match(r"^block(\d+)\.conv\.weight$", k))}
        num_blocks = max(blocks) + 1
        conv0 = state_dict["block0.conv.weight"]
        config: dict[str, Any] = {
            "z_dim": int(state_dict["map.mapping.0.weight"].shape[1]),
            "map_hidden_dim": int(state_dict["map.mapping.0.weight"].shape[0]),
            "w_dim": int(state_dict["map.mapping.4.weight"].shape[0]),
            "in_chan": int(state_dict["starting_constant"].shape[1]),
            "hidden_chan": int(conv0.shape[0]),
            "kernel_size": int(conv0.shape[-1]),
            "out_chan": int(state_dict[f"block{num_blocks - 1}_to_image.weight"].shape[0]),
            "num_blocks": num_blocks,
        }
        if "alpha" in state_dict:
            config["alpha"] = float(f"{float(state_dict['alpha']):.7g}")  # float32 → its short decimal
        return config

    def set_alpha(self, alpha: float) -> None:
        """Set the fade-in weight of the newest resolution (stored in the state dict)."""
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.alpha.fill_(float(alpha))

    def map_w(self, z: torch.Tensor, truncation: float | None = None) -> torch.Tensor:
        """z → w; tracks ``w_avg`` in training mode, then applies w-space truncation ψ."""
        w = self.map(z)
        if self.training:
            update_w_avg(self.w_avg, w)
        return truncate_w(w, self.w_avg, truncation)

    def forward(self, z: torch.Tensor, truncation: float | None = None, noise_mode: str | None = None,
                noise_generator: torch.Generator | None = None, return_intermediate: bool = False):
        """Images ``N×C×H×W`` in (-1, 1).

        ``noise_mode`` defaults to ``random`` in training mode and ``const`` in eval mode. With
        ``return_intermediate=True`` also returns the two pre-tanh paths (course order):
        ``(output, upsampled small RGB, big RGB)``, where ``output = tanh(α·big + (1−α)·small)``.
        """
        return self.synthesize(self.map_w(z, truncation), noise_mode, noise_generator, return_intermediate)

    def synthesize(self, w: torch.Tensor, noise_mode: str | None = None, noise_generator: torch.Generator | None = None,
                   return_intermediate: bool = False):
        """w → images (the synthesis network alone; :meth:`forward` is ``synthesize(map_w(z))``)."""
        mode = noise_mode or ("random" if self.training else "const")
        x = self.starting_constant.expand(w.shape[0], -1, -1, -1)
        small = None
        for i in range(self.num_blocks):
            x = getattr(self, f"block{i}")(x, w, mode, noise_generator)
            if i == self.num_blocks - 2:
                small = getattr(self, f"block{i}_to_image")(x)
        big = getattr(self, f"block{self.num_blocks - 1}_to_image")(x)
        small_up = F.interpolate(small, size=big.shape[-2:], mode="bilinear", align_corners=False)
        alpha = self.alpha.to(big.dtype)
        out = torch.tanh(alpha * big + (1 - alpha) * small_up)
        if return_intermediate:
            return out, small_up, big
        return out
