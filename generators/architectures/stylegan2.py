"""A small StyleGAN2-style generator in pure PyTorch (no custom CUDA ops), after the course notebook.

What it keeps from StyleGAN2 (Karras et al. 2020; the course's optional StyleGAN2 notebook):

* mapping network: z normalised to unit second moment, then ``num_mapping_layers`` × (Linear, LReLU(0.2));
* equalised learning rate: weights stored N(0, 1) and scaled by 1/√fan_in at run time;
* a learned constant 4×4 input; per resolution ``[bilinear ×2] → modulated 3×3 conv → noise → bias,
  LReLU`` twice (once at 4×4);
* modulated/demodulated convolution done as one grouped convolution over the batch: the weight is
  scaled per input channel by a style ``Linear(w_dim, C_in)(w)`` (bias initialised to 1), then
  each output filter is divided by ``sqrt(Σ w² + 1e-8)``;
* per-layer noise with a learnable strength (initialised to 0) and the noise modes
  ``random`` / ``const`` / ``none`` (``const`` in eval mode, buffers in the checkpoint);
* skip architecture: a modulated 1×1 toRGB (no demodulation) at every resolution, summed after
  upsampling; no progressive growing;
* ``w_avg`` tracked as an EMA (β = 0.995) in training mode and w-space truncation ``w_avg + ψ(w − w_avg)``.

Simplifications (documented deviations): bilinear up-sampling instead of the FIR ``upfirdn2d``
filter, the mapping network's 0.01 learning-rate multiplier applied by the recipe through an
optimiser param group (all layers otherwise use equalised learning rate), one channel width for all
resolutions, no style mixing, and a final ``tanh`` so the output is bounded in (-1, 1) (the official
output is unbounded and clamped when saved).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from gan_eval.generators.architectures.stylegan import (
    NOISE_MODES,
    const_noise,
    layer_noise,
    truncate_w,
    update_w_avg,
)
from gan_eval.generators.registry import register_arch, require_positive_ints
from torch import nn


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     padding: int = 0) -> torch.Tensor:
    """StyleGAN2 modulated convolution as a grouped convolution.

    ``x``: N×C_in×H×W; ``weight``: C_out×C_in×k×k; ``styles``: N×C_in. Each sample gets its own
    weight ``weight·styles[n]`` (scaled per input channel); with ``demodulate`` every output filter
    is rescaled to unit L2 norm, so unit-variance inputs give roughly unit-variance outputs.
    """
    n, c_in, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    wts = weight[None] * styles[:, None, :, None, None]  # N×C_out×C_in×k×k
    if demodulate:
        wts = wts * (wts.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8).rsqrt()
    out = F.conv2d(x.reshape(1, n * c_in, h, w), wts.reshape(n * c_out, c_in, kh, kw), padding=padding, groups=n)
    return out.reshape(n, c_out, out.shape[-2], out.shape[-1])


@dataclass
class StyleGAN2Config:
    """Small StyleGAN2 config (sized for MNIST-like data)."""

    z_dim: int = 64
    w_dim: int = 64
    num_mapping_layers: int = 4
    channels: int = 64
    img_size: int = 32
    out_chan: int = 1

    def __post_init__(self) -> None:
        require_positive_ints(self, "z_dim", "w_dim", "num_mapping_layers", "channels", "out_chan")
        size = self.img_size
        if not isinstance(size, int) or size < 8 or size & (size - 1):
            raise ValueError(f"img_size must be a power of 2 and at least 8, got {size!r}")


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: N(0, 1) weights scaled by 1/√fan_in at run time.

    With Adam this makes every layer learn at the same relative speed, which the StyleGAN learning
    rates (1e-3 to 2e-3) assume. ``bias_init`` is 1 for the style affines (styles start at 1).
    """

    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = 1.0 / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.weight_gain, self.bias)


class ScaledLeakyReLU(nn.Module):
    """LeakyReLU(0.2)·√2, the variance-preserving activation used throughout StyleGAN2."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, 0.2) * math.sqrt(2)


class MappingNetwork(nn.Module):
    """z → w: normalise z to unit second moment, then ``num_layers`` × (EqualLinear, LReLU(0.2))."""

    def __init__(self, z_dim: int, w_dim: int, num_layers: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(num_layers):
            layers += [EqualLinear(z_dim if i == 0 else w_dim, w_dim), ScaledLeakyReLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        return self.net(z)


class StyledConv(nn.Module):
    """``[bilinear ×2] → modulated/demodulated 3×3 conv → + strength·noise → + bias → LReLU(0.2)·√2``."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, size: int, upsample: bool, index: int) -> None:
        super().__init__()
        self.upsample = upsample
        self.affine = EqualLinear(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", const_noise(size, index))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str, noise_generator: torch.Generator | None) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = modulated_conv2d(x, self.weight, self.affine(w), demodulate=True, padding=1)
        noise = layer_noise(x, self.noise_const, noise_mode, noise_generator)
        if noise is not None:
            x = x + noise * self.noise_strength
        return F.leaky_relu(x + self.bias[None, :, None, None], 0.2) * math.sqrt(2)


class ToRGB(nn.Module):
    """Modulated 1×1 conv without demodulation, plus bias (no activation)."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.weight_gain = 1.0 / math.sqrt(in_ch)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        return modulated_conv2d(x, self.weight, styles, demodulate=False) + self.bias[None, :, None, None]


class SynthesisBlock(nn.Module):
    """One resolution: (const at 4×4 | upsampling conv0), conv1, toRGB."""

    def __init__(self, channels: int, out_chan: int, w_dim: int, size: int, index: int) -> None:
        super().__init__()
        self.size = size
        if size == 4:
            self.const = nn.Parameter(torch.randn(channels, 4, 4))
        else:
            self.conv0 = StyledConv(channels, channels, w_dim, size, upsample=True, index=index)
        self.conv1 = StyledConv(channels, channels, w_dim, size, upsample=False, index=index + 1)
        self.torgb = ToRGB(channels, out_chan, w_dim)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, w: torch.Tensor, noise_mode: str,
                noise_generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.size == 4:
            x = self.const[None].expand(w.shape[0], -1, -1, -1)
        else:
            x = self.conv0(x, w, noise_mode, noise_generator)
        x = self.conv1(x, w, noise_mode, noise_generator)
        rgb = self.torgb(x, w)
        if img is not None:
            rgb = rgb + F.interpolate(img, scale_factor=2, mode="bilinear", align_corners=False)
        return x, rgb


@register_arch("stylegan2", version=1, config_cls=StyleGAN2Config, kind="unconditional", truncation="w_avg_lerp",
               tiny={"z_dim": 8, "w_dim": 8, "channels": 8, "img_size": 16})
class StyleGAN2Generator(nn.Module):
    """Small StyleGAN2-style generator: modulated convs, skip toRGB, w-truncation, tanh output."""

    def __init__(self, z_dim: int = 64, w_dim: int = 64, num_mapping_layers: int = 4, channels: int = 64,
                 img_size: int = 32, out_chan: int = 1) -> None:
        super().__init__()
        StyleGAN2Config(z_dim, w_dim, num_mapping_layers, channels, img_size, out_chan)
        self.z_dim = z_dim
        self.w_dim = w_dim
        self.num_classes = 0
        self.out_shape: tuple[int, int, int] = (out_chan, img_size, img_size)
        self.output_range: tuple[float, float] = (-1.0, 1.0)
        self.mapping = MappingNetwork(z_dim, w_dim, num_mapping_layers)
        blocks = {}
        size, index = 4, 0
        while size <= img_size:
            blocks[f"b{size}"] = SynthesisBlock(channels, out_chan, w_dim, size, index)
            index += 2
            size *= 2
        self.synthesis = nn.ModuleDict(blocks)
        self.register_buffer("w_avg", torch.zeros(w_dim))

    @staticmethod
    def infer_config(state_dict: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Config from tensor shapes."""
        fcs = sorted(int(m.group(1)) for k in state_dict if (m := re.match(r"^mapping\.net\.(\d+)\.weight$", k)))
        sizes = [int(m.group(1)) for k in state_dict if (m := re.match(r"^synthesis\.b(\d+)\.conv1\.weight$", k))]
        first = state_dict[f"mapping.net.{fcs[0]}.weight"]
        return {"z_dim": int(first.shape[1]), "w_dim": int(first.shape[0]), "num_mapping_layers": len(fcs),
                "channels": int(state_dict["synthesis.b4.const"].shape[0]), "img_size": max(sizes),
                "out_chan": int(state_dict["synthesis.b4.torgb.weight"].shape[0])}

    def map_w(self, z: torch.Tensor, truncation: float | None = None) -> torch.Tensor:
        """z → w; tracks ``w_avg`` in training mode, then applies w-space truncation ψ."""
        w = self.mapping(z)
        if self.training:
            update_w_avg(self.w_avg, w)
        return truncate_w(w, self.w_avg, truncation)

    def forward(self, z: torch.Tensor, truncation: float | None = None, noise_mode: str | None = None,
                noise_generator: torch.Generator | None = None) -> torch.Tensor:
        """Images ``N×C×H×W`` in (-1, 1); ``noise_mode`` defaults to ``random`` (train) / ``const`` (eval)."""
        return self.synthesize(self.map_w(z, truncation), noise_mode, noise_generator)

    def synthesize(self, w: torch.Tensor, noise_mode: str | None = None,
                   noise_generator: torch.Generator | None = None) -> torch.Tensor:
        """w → images (the synthesis network alone; :meth:`forward` is ``synthesize(map_w(z))``)."""
        mode = noise_mode or ("random" if self.training else "const")
        if mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {mode!r}")
        x = img = None
        for block in self.synthesis.values():
            x, img = block(x, img, w, mode, noise_generator)
        return torch.tanh(img)
