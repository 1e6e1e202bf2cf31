"""The GANs course's CycleGAN ResNet generator (C3W3), with the blocks its PatchGAN discriminator reuses.

Topology (course ``Generator``): a reflect-padded 7×7 ``upfeature`` conv to ``hidden_channels``
(no norm or activation after it — the official ResnetGenerator has norm + ReLU there); two
contracting blocks ``Conv3×3 s2 p1 (reflect) → InstanceNorm → ReLU``; ``n_res`` residual blocks
``x + IN(Conv3×3(ReLU(IN(Conv3×3(x)))))`` (reflect padding) at ``4·hidden`` channels; two expanding
blocks ``ConvTranspose3×3 s2 p1 op1 → InstanceNorm → ReLU``; a reflect-padded 7×7 ``downfeature``
conv to ``out_channels``; ``Tanh``. Input and output are in [-1, 1].

InstanceNorm is the PyTorch default (no affine parameters, no running stats), so the state dict holds
only conv weights. Module names follow the course (``upfeature.conv``, ``contract1``/``contract2``
``.conv1``, ``res0 … res{n-1}`` ``.conv1``/``.conv2``, ``expand2``/``expand3`` ``.conv1``,
``downfeature.conv``), so a course ``gen_AB`` state dict imports directly (``--key gen_AB``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from gan_eval.generators.registry import register_arch, require_positive_ints
from torch import nn

from gan_eval.errors import GanEvalError


class FeatureMapBlock(nn.Module):
    """A reflect-padded 7×7 convolution changing the channel count (course ``FeatureMapBlock``)."""

    def __init__(self, input_channels: int, output_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(input_channels, output_channels, kernel_size=7, padding=3, padding_mode="reflect")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class ContractingBlock(nn.Module):
    """``Conv(k, s2, p1, reflect) → [InstanceNorm] → ReLU | LeakyReLU(0.2)``; doubles the channels, halves H, W."""

    def __init__(self, input_channels: int, use_bn: bool = True, kernel_size: int = 3, activation: str = "relu") -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, input_channels * 2, kernel_size=kernel_size, padding=1, stride=2,
                               padding_mode="reflect")
        self.activation = nn.ReLU() if activation == "relu" else nn.LeakyReLU(0.2)
        self.use_bn = use_bn
        if use_bn:
            self.instancenorm = nn.InstanceNorm2d(input_channels * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        if self.use_bn:
            x = self.instancenorm(x)
        return self.activation(x)


class ExpandingBlock(nn.Module):
    """``ConvTranspose3×3 s2 p1 op1 → [InstanceNorm] → ReLU``; halves the channels, doubles H, W."""

    def __init__(self, input_channels: int, use_bn: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.ConvTranspose2d(input_channels, input_channels // 2, kernel_size=3, stride=2, padding=1,
                                        output_padding=1)
        self.use_bn = use_bn
        if use_bn:
            self.instancenorm = nn.InstanceNorm2d(input_channels // 2)
        self.activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        if self.use_bn:
            x = self.instancenorm(x)
        return self.activation(x)


class ResidualBlock(nn.Module):
    """``x + IN(Conv3×3(ReLU(IN(Conv3×3(x)))))`` with reflect padding; one (parameter-free) IN module, as in the course."""

    def __init__(self, input_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, input_channels, kernel_size=3, padding=1, padding_mode="reflect")
        self.conv2 = nn.Conv2d(input_channels, input_channels, kernel_size=3, padding=1, padding_mode="reflect")
        self.instancenorm = nn.InstanceNorm2d(input_channels)
        self.activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.activation(self.instancenorm(self.conv1(x)))
        return x + self.instancenorm(self.conv2(y))


@dataclass
class CycleGanResnetConfig:
    """Constructor arguments (course defaults: RGB → RGB, hidden 64, 9 residual blocks, 256×256)."""

    in_channels: int = 3
    out_channels: int = 3
    hidden_channels: int = 64
    n_res: int = 9
    img_size: int = 256

    def __post_init__(self) -> None:
        require_positive_ints(self, "in_channels", "out_channels", "hidden_channels", "img_size")
        if not isinstance(self.n_res, int) or isinstance(self.n_res, bool) or self.n_res < 0:
            raise ValueError(f"n_res must be a non-negative integer, got {self.n_res!r}")
        if self.img_size % 4 or self.img_size < 8:
            raise ValueError(f"img_size must be a multiple of 4 and at least 8 (two stride-2 stages), got {self.img_size}")


@register_arch("cyclegan_resnet", version=1, config_cls=CycleGanResnetConfig, kind="image2image",
               tiny={"hidden_channels": 4, "n_res": 2, "img_size": 28})
class CycleGanResnetGenerator(nn.Module):
    """Course CycleGAN ResNet generator (C3W3): 2 downsamples, residual blocks, 2 upsamples, tanh in [-1, 1]."""

    RES_MULT = 4

    def __init__(self, in_channels: int = 3, out_channels: int = 3, hidden_channels: int = 64, n_res: int = 9,
                 img_size: int = 256) -> None:
        super().__init__()
        CycleGanResnetConfig(in_channels, out_channels, hidden_channels, n_res, img_size)  # validates
        self.z_dim = 0
        self.num_classes = 0
        self.in_channels = in_channels
        self.n_res = n_res
        self.out_shape: tuple[int, int, int] = (out_channels, img_size, img_size)
        self.output_range: tuple[float, float] = (-1.0, 1.0)
        self.upfeature = FeatureMapBlock(in_channels, hidden_channels)
        self.contract1 = ContractingBlock(hidden_channels)
        self.contract2 = ContractingBlock(hidden_channels * 2)
        for i in range(n_res):
            setattr(self, f"res{i}", ResidualBlock(hidden_channels * self.RES_MULT))
        self.expand2 = ExpandingBlock(hidden_channels * 4)
        self.expand3 = ExpandingBlock(hidden_channels * 2)
        self.downfeature = FeatureMapBlock(hidden_channels, out_channels)
        self.tanh = nn.Tanh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise GanEvalError(f"cyclegan_resnet expects N×{self.in_channels}×H×W input, got {tuple(x.shape)}")
        if x.shape[2] % 4 or x.shape[3] % 4 or min(x.shape[2], x.shape[3]) < 8:
            raise GanEvalError(f"cyclegan_resnet needs height and width that are multiples of 4 (at least 8), "
                               f"got {x.shape[2]}×{x.shape[3]}; resize the images first")
        x = self.contract2(self.contract1(self.upfeature(x)))
        for i in range(self.n_res):
            x = getattr(self, f"res{i}")(x)
        x = self.expand3(self.expand2(x))
        return self.tanh(self.downfeature(x))

    @staticmethod
    def infer_config(state_dict: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Channels and residual-block count from tensor shapes (img_size keeps the course 256)."""
        up = state_dict.get("upfeature.conv.weight")
        down = state_dict.get("downfeature.conv.weight")
        if up is None or down is None:
            return {}
        n_res = sum(1 for k in state_dict if k.startswith("res") and k.endswith(".conv1.weight"))
        return {"in_channels": int(up.shape[1]), "hidden_channels": int(up.shape[0]),
                "out_channels": int(down.shape[0]), "n_res": n_res}
