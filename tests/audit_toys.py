"""Synthetic generators with planted ground truth for the audit tests (importable as ``audit_toys:NAME``)."""

from __future__ import annotations

import numpy as np
import torch

from gan_eval.attributes import AttributeExtractor, AttributeSpec

# Known class proportions: 1 is three times as common as the others, 7 is never generated.
BIASED_P = np.array([0.09, 0.27, 0.09, 0.09, 0.09, 0.09, 0.09, 0.0, 0.09, 0.10])


class ProportionalDigits:
    """Real held-out digits drawn with class proportions ``p`` (a resampling generator)."""

    output_range = (-1.0, 1.0)

    def __init__(self, p: np.ndarray = BIASED_P) -> None:
        from gan_eval.mnist import load_mnist

        images, labels = load_mnist("heldout")
        self.p = torch.as_tensor(p / p.sum(), dtype=torch.float64)
        self.by_class = [torch.from_numpy(images[labels == c].copy()).float() / 127.5 - 1 for c in range(10)]

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        classes = torch.multinomial(self.p, n, replacement=True, generator=generator)
        out = torch.empty(n, 1, 28, 28)
        for c in range(10):
            idx = (classes == c).nonzero().flatten()
            if len(idx):
                pick = torch.randint(0, len(self.by_class[c]), (len(idx),), generator=generator)
                out[idx, 0] = self.by_class[c][pick]
        return out


def biased_digits() -> ProportionalDigits:
    return ProportionalDigits()


class BlockToy:
    """z (4-D) → an 8×8 image of four 4×4 blocks with intensities sigmoid(a_i).

    Planted: a0 = z0 + 0.5·z2·z3 and a1 = 0.8·z0 + 0.6·z1, so the latent direction z0 drives blocks
    0 and 1 together; a2 = z2 and a3 = z3 are not coupled to block 0. The interaction term makes a
    gradient walk on b0 move z2 and z3 too, with a sign that differs between images, so blocks 2 and
    3 do change along the walk while their average slope is zero.
    """

    output_range = (0.0, 1.0)

    def latents(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, 4, generator=generator)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        a = torch.stack([z[:, 0] + 0.5 * z[:, 2] * z[:, 3], 0.8 * z[:, 0] + 0.6 * z[:, 1], z[:, 2], z[:, 3]], dim=1)
        v = torch.sigmoid(a)
        img = v[:, :, None, None].expand(-1, -1, 4, 4)  # n × 4 × 4 × 4
        top = torch.cat([img[:, 0], img[:, 1]], dim=2)
        bottom = torch.cat([img[:, 2], img[:, 3]], dim=2)
        return torch.cat([top, bottom], dim=1)[:, None]

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.decode(self.latents(n, generator))


class BlockAttributes(AttributeExtractor):
    """Mean intensity of each block (continuous, b0…b3); differentiable unless told otherwise."""

    name = "blocks"

    def __init__(self, differentiable: bool = True) -> None:
        super().__init__()
        self.differentiable = differentiable
        self.score_names = ["b0", "b1", "b2", "b3"]
        self.attributes = [AttributeSpec(s, "continuous", unit="intensity") for s in self.score_names]

    def score_images(self, images: torch.Tensor) -> torch.Tensor:
        g = images.float().mean(dim=1)
        blocks = [g[:, :4, :4], g[:, :4, 4:], g[:, 4:, :4], g[:, 4:, 4:]]
        return torch.stack([b.mean(dim=(1, 2)) for b in blocks], dim=1) * 10.0  # 0–10 scale
