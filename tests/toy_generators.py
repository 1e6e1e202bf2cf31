"""Tiny generator objects for tests, importable as ``toy_generators:NAME``."""

from __future__ import annotations

import torch

from gan_eval.mnist import load_mnist


class ResampleDigits:
    """Returns held-out digits picked at random, as floats in [-1, 1] with one channel."""

    output_range = (-1.0, 1.0)

    def __init__(self) -> None:
        self.images = torch.from_numpy(load_mnist("heldout")[0].copy()).float() / 127.5 - 1

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        idx = torch.randint(0, self.images.shape[0], (n,), generator=generator)
        return self.images[idx, None]


class NaNGenerator:
    output_range = (0.0, 1.0)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        out = torch.rand(n, 3, 8, 8, generator=generator)
        out[0, 0, 0, 0] = float("nan")
        return out


def resample_digits() -> ResampleDigits:
    return ResampleDigits()


def nan_generator() -> NaNGenerator:
    return NaNGenerator()
