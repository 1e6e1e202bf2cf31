"""The GANs course's first generator (C1W1): a fully connected MLP with a sigmoid output in [0, 1].

Layout follows the course class so that its ``{"gen": state_dict}`` files import unchanged: four
``Linear → BatchNorm1d → ReLU`` blocks widening z → h → 2h → 4h → 8h, then ``Linear(8h, C·H·W)`` and
``Sigmoid`` (keys ``gen.0.0.weight`` … ``gen.4.weight``). The course returns flat 784-vectors; here
the output is reshaped to ``N×C×H×W`` so every generator shares one image contract.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from gan_eval.generators.registry import register_arch, require_positive_ints
from torch import nn


@dataclass
class MlpGanConfig:
    """Constructor arguments (defaults: the course's training run, z_dim 64, hidden 128, MNIST)."""

    z_dim: int = 64
    hidden_dim: int = 128
    im_chan: int = 1
    img_size: int = 28

    def __post_init__(self) -> None:
        require_positive_ints(self, "z_dim", "hidden_dim", "im_chan", "img_size")


def _block(in_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.BatchNorm1d(out_dim), nn.ReLU(inplace=True))


@register_arch("mlp_gan", version=1, config_cls=MlpGanConfig, kind="unconditional", truncation="z_truncnorm",
               tiny={"hidden_dim": 8, "z_dim": 8})
class MlpGenerator(nn.Module):
    """C1W1 MLP generator: z → h → 2h → 4h → 8h → C·H·W, sigmoid output in [0, 1]."""

    def __init__(self, z_dim: int = 64, hidden_dim: int = 128, im_chan: int = 1, img_size: int = 28) -> None:
        super().__init__()
        MlpGanConfig(z_dim, hidden_dim, im_chan, img_size)  # validates
        self.z_dim = z_dim
        self.num_classes = 0
        self.out_shape: tuple[int, int, int] = (im_chan, img_size, img_size)
        self.output_range: tuple[float, float] = (0.0, 1.0)
        h = hidden_dim
        self.gen = nn.Sequential(
            _block(z_dim, h),
            _block(h, 2 * h),
            _block(2 * h, 4 * h),
            _block(4 * h, 8 * h),
            nn.Linear(8 * h, im_chan * img_size * img_size),
            nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.gen(z).view(z.shape[0], *self.out_shape)

    @staticmethod
    def infer_config(state_dict: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Config from tensor shapes; the flat output size is read as 1×S×S if square, else 3×S×S."""
        first = state_dict["gen.0.0.weight"]  # Linear weight: out × in
        out_dim = int(state_dict["gen.4.weight"].shape[0])
        config: dict[str, Any] = {"z_dim": int(first.shape[1]), "hidden_dim": int(first.shape[0])}
        for chan in (1, 3):
            side = math.isqrt(out_dim // chan)
            if out_dim % chan == 0 and side * side * chan == out_dim:
                config.update(im_chan=chan, img_size=side)
                break
        return config
