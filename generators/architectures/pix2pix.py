"""The GANs course's Pix2Pix U-Net generator (C3W2B), with the blocks its PatchGAN discriminator reuses.

Topology (course ``UNet``): a 1×1 ``upfeature`` conv to ``hidden_channels``; ``depth`` contracting
blocks (``Conv3×3 p1 → BN → [Dropout] → LeakyReLU(0.2)`` twice, then ``MaxPool 2``; channels double
each block, dropout in the first three); ``depth`` expanding blocks (bilinear ×2 upsample with
``align_corners=True`` → ``Conv2×2`` → centre-crop the skip and concatenate → ``Conv3×3 p1 → BN → ReLU``
→ ``Conv2×2 p1 → BN → ReLU``); a 1×1 ``downfeature`` conv to ``out_channels``; ``Sigmoid``. Output and
input are in [0, 1] (the course feeds ``ToTensor()`` images).

Course quirk, kept on purpose so course weights load and behave the same: each block owns ONE
``BatchNorm2d`` (``batchnorm``) applied after both of its convs, so its running statistics are
updated twice per forward and the two convs share one affine scale/shift.

Module names follow the course (``upfeature.conv``, ``contract1 … contractD`` with ``conv1``,
``conv2``, ``batchnorm``; ``expand0 … expand{D-1}`` with ``conv1``, ``conv2``, ``conv3``,
``batchnorm``; ``downfeature.conv``), so a course ``{"gen": state_dict}`` (e.g. ``pix2pix_15000.pth``)
imports directly with depth 6.

The input side must be divisible by ``2**depth``: max-pooling floors odd sizes and the crop then
silently shrinks the output, so other sizes are rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from gan_eval.generators.registry import register_arch, require_positive_ints
from torch import nn

from gan_eval.errors import GanEvalError

DROPOUT_BLOCKS = 3  # the course puts dropout in the first three contracting blocks


def crop(image: torch.Tensor, new_shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """Centre-crop ``image`` (N×C×H×W) to ``new_shape``'s H and W, with the course's offsets."""
    top = image.shape[2] // 2 - new_shape[2] // 2
    left = image.shape[3] // 2 - new_shape[3] // 2
    return image[:, :, top:top + new_shape[2], left:left + new_shape[3]]


class FeatureMapBlock(nn.Module):
    """A 1×1 convolution changing the channel count (course ``FeatureMapBlock``)."""

    def __init__(self, input_channels: int, output_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(input_channels, output_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class _NormActBlock(nn.Module):
    """Shared tail of the U-Net blocks: ``[BN] → [Dropout] → activation``, one BN reused by every conv
    of the block (course quirk). Attribute names are the course's, so state-dict keys match it."""

    def __init__(self, channels: int, activation: nn.Module, use_dropout: bool, use_bn: bool) -> None:
        super().__init__()
        self.activation = activation
        self.use_bn = use_bn
        if use_bn:
            self.batchnorm = nn.BatchNorm2d(channels)
        self.use_dropout = use_dropout
        if use_dropout:
            self.dropout = nn.Dropout()

    def _post(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_bn:
            x = self.batchnorm(x)
        if self.use_dropout:
            x = self.dropout(x)
        return self.activation(x)


class ContractingBlock(_NormActBlock):
    """Two ``Conv3×3 → [BN] → [Dropout] → LeakyReLU(0.2)`` then ``MaxPool 2``; doubles the channels."""

    def __init__(self, input_channels: int, use_dropout: bool = False, use_bn: bool = True) -> None:
        super().__init__(input_channels * 2, nn.LeakyReLU(0.2), use_dropout, use_bn)
        self.conv1 = nn.Conv2d(input_channels, input_channels * 2, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(input_channels * 2, input_channels * 2, kernel_size=3, padding=1)
        self.maxpool = nn.MaxPool2d(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._post(self.conv1(x))
        x = self._post(self.conv2(x))
        return self.maxpool(x)


class ExpandingBlock(_NormActBlock):
    """Upsample ×2, ``Conv2×2``, concat the cropped skip, ``Conv3×3`` and ``Conv2×2 p1`` (BN, ReLU); halves channels.

    Spatially: s → 2s → 2s−1 (conv1, skip cropped to match) → 2s−1 (conv2) → 2s (conv3, padding 1).
    """

    def __init__(self, input_channels: int, use_dropout: bool = False, use_bn: bool = True) -> None:
        super().__init__(input_channels // 2, nn.ReLU(), use_dropout, use_bn)
        self.upsample = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.conv1 = nn.Conv2d(input_channels, input_channels // 2, kernel_size=2)
        self.conv2 = nn.Conv2d(input_channels, input_channels // 2, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(input_channels // 2, input_channels // 2, kernel_size=2, padding=1)

    def forward(self, x: torch.Tensor, skip_con_x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.upsample(x))
        x = torch.cat([x, crop(skip_con_x, x.shape)], dim=1)
        x = self._post(self.conv2(x))
        return self._post(self.conv3(x))


def check_unet_size(img_size: int, depth: int) -> None:
    """Raise a ValueError unless ``img_size`` is a positive multiple of ``2**depth``."""
    step = 2 ** depth
    if img_size < step or img_size % step:
        lower, upper = (img_size // step) * step, (img_size // step + 1) * step
        hint = f"{lower} or {upper}" if lower else f"{upper}"
        raise ValueError(f"img_size {img_size} is not divisible by 2**depth = {step} (depth {depth}); "
                         f"use e.g. {hint}, or a smaller depth")


@dataclass
class Pix2PixUNetConfig:
    """Constructor arguments (course defaults: RGB → RGB, hidden 32, depth 6, 256×256)."""

    in_channels: int = 3
    out_channels: int = 3
    hidden_channels: int = 32
    depth: int = 6
    img_size: int = 256

    def __post_init__(self) -> None:
        require_positive_ints(self, "in_channels", "out_channels", "hidden_channels", "depth", "img_size")
        check_unet_size(self.img_size, self.depth)


@register_arch("pix2pix_unet", version=1, config_cls=Pix2PixUNetConfig, kind="image2image",
               tiny={"hidden_channels": 2, "depth": 2, "img_size": 28})
class Pix2PixUNet(nn.Module):
    """Course Pix2Pix U-Net (C3W2B): skip-connected encoder/decoder, sigmoid output in [0, 1]."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, hidden_channels: int = 32, depth: int = 6,
                 img_size: int = 256) -> None:
        super().__init__()
        Pix2PixUNetConfig(in_channels, out_channels, hidden_channels, depth, img_size)  # validates
        self.z_dim = 0
        self.num_classes = 0
        self.in_channels = in_channels
        self.depth = depth
        self.out_shape: tuple[int, int, int] = (out_channels, img_size, img_size)
        self.output_range: tuple[float, float] = (0.0, 1.0)
        self.upfeature = FeatureMapBlock(in_channels, hidden_channels)
        for i in range(1, depth + 1):
            setattr(self, f"contract{i}", ContractingBlock(hidden_channels * 2 ** (i - 1), use_dropout=i <= DROPOUT_BLOCKS))
        for i in range(depth):
            setattr(self, f"expand{i}", ExpandingBlock(hidden_channels * 2 ** (depth - i)))
        self.downfeature = FeatureMapBlock(hidden_channels, out_channels)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise GanEvalError(f"pix2pix_unet expects N×{self.in_channels}×H×W input, got {tuple(x.shape)}")
        step = 2 ** self.depth
        if x.shape[2] % step or x.shape[3] % step:
            raise GanEvalError(f"pix2pix_unet (depth {self.depth}) needs height and width divisible by {step}, "
                               f"got {x.shape[2]}×{x.shape[3]}; resize the images first")
        skips = [self.upfeature(x)]
        for i in range(1, self.depth + 1):
            skips.append(getattr(self, f"contract{i}")(skips[-1]))
        y = skips.pop()
        for i in range(self.depth):
            y = getattr(self, f"expand{i}")(y, skips.pop())
        return self.sigmoid(self.downfeature(y))

    @staticmethod
    def infer_config(state_dict: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Channels and depth from tensor shapes; img_size is 256 when that is legal, else 2**depth."""
        up = state_dict.get("upfeature.conv.weight")
        down = state_dict.get("downfeature.conv.weight")
        if up is None or down is None:
            return {}
        depth = sum(1 for k in state_dict if k.startswith("contract") and k.endswith(".conv1.weight"))
        depth = max(depth, 1)
        return {"in_channels": int(up.shape[1]), "hidden_channels": int(up.shape[0]),
                "out_channels": int(down.shape[0]), "depth": depth,
                "img_size": 256 if 256 % 2 ** depth == 0 else 2 ** depth}
