"""The GANs course's DCGAN generator: 28×28 (C1W2, C1W3, SNGAN) or 64×64 (C1W4B / C2W1 CelebA).

The latent is viewed as ``N×z×1×1`` and grown by transposed convolutions, each followed by
``BatchNorm2d → ReLU`` except the last, which ends in ``Tanh`` (output in [-1, 1]). Layers and
module names follow the course (``self.gen`` of ``nn.Sequential`` blocks, keys ``gen.N.M.*``), so a
course ``{"gen": state_dict}`` file — e.g. ``pretrained_celeba.pth`` — imports directly:

* 28×28: z → 4h (k3 s2) → 2h (k4 s1) → h (k3 s2) → C (k4 s2); spatial 1 → 3 → 6 → 13 → 28.
* 64×64: z → 8h → 4h → 2h → h (all k3 s2) → C (k4 s2); spatial 1 → 3 → 7 → 15 → 31 → 64.

The helpers here are shared with :mod:`gan_eval.generators.architectures.cond_dcgan`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from gan_eval.generators.registry import register_arch, require_positive_ints
from torch import nn

# Hidden blocks per output size: (width multiple of hidden_dim, kernel, stride). The final block is
# always ConvTranspose2d(k4, s2) → Tanh.
LAYOUTS: dict[int, tuple[tuple[int, int, int], ...]] = {
    28: ((4, 3, 2), (2, 4, 1), (1, 3, 2)),
    64: ((8, 3, 2), (4, 3, 2), (2, 3, 2), (1, 3, 2)),
}


def check_img_size(img_size: int) -> None:
    """Raise a ValueError naming the supported sizes (the course layouts only produce 28 and 64)."""
    if img_size not in LAYOUTS:
        raise ValueError(f"img_size must be one of {', '.join(map(str, sorted(LAYOUTS)))} "
                         f"(the course DCGAN layouts), got {img_size}")


def gen_block(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 2, final: bool = False) -> nn.Sequential:
    """One course generator block: ``ConvTranspose2d → BatchNorm2d → ReLU``, or ``→ Tanh`` when final."""
    if final:
        return nn.Sequential(nn.ConvTranspose2d(in_ch, out_ch, kernel, stride), nn.Tanh())
    return nn.Sequential(nn.ConvTranspose2d(in_ch, out_ch, kernel, stride), nn.BatchNorm2d(out_ch),
                         nn.ReLU(inplace=True))


def build_gen_layers(input_dim: int, im_chan: int, hidden_dim: int, img_size: int) -> nn.Sequential:
    """The course ``self.gen`` Sequential for ``img_size`` (28 or 64)."""
    check_img_size(img_size)
    blocks = []
    channels = input_dim
    for mult, kernel, stride in LAYOUTS[img_size]:
        blocks.append(gen_block(channels, hidden_dim * mult, kernel, stride))
        channels = hidden_dim * mult
    blocks.append(gen_block(channels, im_chan, kernel=4, stride=2, final=True))
    return nn.Sequential(*blocks)


def infer_gen_dims(state_dict: dict[str, torch.Tensor]) -> dict[str, int]:
    """``input_dim``, ``hidden_dim``, ``im_chan``, ``img_size`` read off a course DCGAN state dict.

    ConvTranspose2d weights are ``in × out × k × k``; the block count tells 28 (4 blocks) from 64 (5).
    """
    blocks = sorted({int(k.split(".")[1]) for k in state_dict if k.startswith("gen.") and k.endswith(".0.weight")})
    if not blocks:
        return {}
    last = blocks[-1]
    img_size = {3: 28, 4: 64}.get(last, 28)
    dims = {"input_dim": int(state_dict["gen.0.0.weight"].shape[0]),
            "im_chan": int(state_dict[f"gen.{last}.0.weight"].shape[1]),
            "img_size": img_size}
    if last >= 1:
        dims["hidden_dim"] = int(state_dict[f"gen.{last - 1}.0.weight"].shape[1])
    return dims


@dataclass
class DcganConfig:
    """Constructor arguments (course defaults: z 64, 1 channel, hidden 64, 28×28)."""

    z_dim: int = 64
    im_chan: int = 1
    hidden_dim: int = 64
    img_size: int = 28

    def __post_init__(self) -> None:
        require_positive_ints(self, "z_dim", "im_chan", "hidden_dim")
        check_img_size(self.img_size)


@register_arch("dcgan", version=1, config_cls=DcganConfig, kind="unconditional", truncation="z_truncnorm",
               tiny={"hidden_dim": 4, "z_dim": 8})
class DcganGenerator(nn.Module):
    """Course DCGAN generator (transposed convs + BN + ReLU, tanh output in [-1, 1]), 28×28 or 64×64."""

    def __init__(self, z_dim: int = 64, im_chan: int = 1, hidden_dim: int = 64, img_size: int = 28) -> None:
        super().__init__()
        DcganConfig(z_dim, im_chan, hidden_dim, img_size)  # validates, with a clear ValueError
        self.z_dim = z_dim
        self.num_classes = 0
        self.out_shape: tuple[int, int, int] = (im_chan, img_size, img_size)
        self.output_range: tuple[float, float] = (-1.0, 1.0)
        self.gen = build_gen_layers(z_dim, im_chan, hidden_dim, img_size)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.gen(z.view(z.shape[0], self.z_dim, 1, 1))

    @staticmethod
    def infer_config(state_dict: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Config from tensor shapes (z_dim, hidden_dim, im_chan, img_size)."""
        dims = infer_gen_dims(state_dict)
        if "input_dim" in dims:
            dims["z_dim"] = dims.pop("input_dim")
        return dims
