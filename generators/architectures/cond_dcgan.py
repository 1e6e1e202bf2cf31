"""The GANs course's conditional DCGAN generator (C1W4A): class one-hot concatenated to the latent.

The course feeds ``Generator(input_dim=z_dim + n_classes)`` the concatenation of the noise and the
one-hot label, then runs the 28×28 DCGAN stack (tanh output in [-1, 1]). Here ``forward(z, labels)``
takes the two parts separately and concatenates them in the course order (noise first), so course
``{"gen": state_dict}`` files import unchanged (keys ``gen.N.M.*``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from gan_eval.generators.architectures.dcgan import build_gen_layers, infer_gen_dims
from gan_eval.generators.registry import register_arch, require_positive_ints
from torch import nn


@dataclass
class CondDcganConfig:
    """Constructor arguments (course defaults: z 64, 10 classes, 1 channel, hidden 64)."""

    z_dim: int = 64
    num_classes: int = 10
    im_chan: int = 1
    hidden_dim: int = 64

    def __post_init__(self) -> None:
        require_positive_ints(self, "z_dim", "num_classes", "im_chan", "hidden_dim")


@register_arch("cond_dcgan", version=1, config_cls=CondDcganConfig, kind="conditional", truncation="z_truncnorm",
               tiny={"hidden_dim": 4, "z_dim": 8})
class CondDcganGenerator(nn.Module):
    """Course conditional DCGAN generator: input z ⊕ one-hot(class), 28×28, tanh output in [-1, 1]."""

    def __init__(self, z_dim: int = 64, num_classes: int = 10, im_chan: int = 1, hidden_dim: int = 64) -> None:
        super().__init__()
        CondDcganConfig(z_dim, num_classes, im_chan, hidden_dim)  # validates
        self.z_dim = z_dim
        self.num_classes = num_classes
        self.out_shape: tuple[int, int, int] = (im_chan, 28, 28)
        self.output_range: tuple[float, float] = (-1.0, 1.0)
        self.gen = build_gen_layers(z_dim + num_classes, im_chan, hidden_dim, 28)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``z``: N×z_dim; ``labels``: N×num_classes one-hot (float)."""
        x = torch.cat([z.float(), labels.to(z.dtype)], dim=1)
        return self.gen(x.view(x.shape[0], -1, 1, 1))

    @staticmethod
    def infer_config(state_dict: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Config from tensor shapes. The first layer only fixes z_dim + num_classes, so the course's
        10 classes are assumed; pass an explicit config for other class counts."""
        dims = infer_gen_dims(state_dict)
        if dims.pop("img_size", 28) != 28:
            return {}  # not a 28×28 layout: let the strict loader report the difference
        config: dict[str, Any] = {k: v for k, v in dims.items() if k in ("im_chan", "hidden_dim")}
        if "input_dim" in dims and dims["input_dim"] > 10:
            config.update(num_classes=10, z_dim=dims["input_dim"] - 10)
        return config
