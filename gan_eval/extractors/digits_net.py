"""DigitNet: a small convolutional feature network for MNIST-like 28×28 grayscale digits.

Why: Inception-based metrics (FID, IS, KID, ...) are computed in a feature space learned on
ImageNet photographs, which says little about handwritten digits. For MNIST-like generators this
project ships its own tiny classifier, trained offline on the bundled MNIST test set's ``train``
split (see :mod:`gan_eval.mnist` and :mod:`gan_eval.extractors.train_digits`), and uses its
penultimate activations as the "digits" feature space and its logits for class-based scores.

What: three 3×3 conv blocks (32, 64, 128 channels, BatchNorm + ReLU, 2×2 max-pool after the first
two), global average pooling to a 128-dim feature vector, and a linear 10-way classifier head.
About 95k parameters (~380 KB in float32), so the weights can be shipped inside the package.

Input is a float tensor ``N×1×28×28`` with values in ``[0, 1]`` (white digit on black, as MNIST).
"""

from __future__ import annotations

import torch
from torch import nn

FEATURE_DIM = 128
NUM_CLASSES = 10


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class DigitNet(nn.Module):
    """Digit classifier whose pooled last-conv activations serve as a 128-dim feature space."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _conv_block(1, 32),
            nn.MaxPool2d(2),  # 28 -> 14
            _conv_block(32, 64),
            nn.MaxPool2d(2),  # 14 -> 7
            _conv_block(64, FEATURE_DIM),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map ``N×1×28×28`` images in ``[0, 1]`` to ``(features N×128, logits N×10)``."""
        features = self.features(x)
        logits = self.classifier(features)
        return features, logits
