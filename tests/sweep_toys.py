"""Toy generators whose truncation trades recall for precision by construction (sweep tests).

A sample is drawn from a 3-d latent ``w`` (``w = z``, average ``w_avg = 0``):

* ``w[0:2]`` place a Gaussian blob on a 28×28 canvas at ``13.5 + 7·tanh(w/2)`` (x, y): the image is
  a smooth function of the latent, and the ideal distribution — the **reference** — is these blobs
  for untruncated z.
* ``w[2]`` decides the generator's failure mode, as a real GAN's artefacts live in the low-density
  tails of its latent: when ``|w[2]| > garbage_radius`` the output is a checkerboard (far from
  every blob in feature space) instead of the blob.

Truncation shrinks every coordinate toward the mode, which separates the two effects:

* precision ≈ c · P(|w[2]| ≤ R): the checkerboard share falls strictly as ψ shrinks (for
  ``w_avg_lerp`` it is P(|z| > R/ψ); for ``z_truncnorm`` P(R < |z| ≤ ψ) / P(|z| ≤ ψ), zero once ψ ≤ R);
  c is the share of good blobs inside the reference manifold (≈ 0.97–1 here);
* recall is the share of reference blobs near a generated blob: the blobs' positions are the
  reference's contracted by ψ (``w_avg_lerp``) or limited to ``[−ψ, ψ]²`` (``z_truncnorm``), so the
  covered part of the reference shrinks with ψ.

The ψ grids in the tests are spaced so each step moves both quantities by ≥ 0.05 at N = 500 (two to
three binomial standard errors, on the same latents for every ψ), so they are asserted strictly.
Both registered architectures are importable as ``sweep_toys:blob_w`` / ``sweep_toys:blob_z``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from gan_eval.generators.model import GeneratorHandle
from gan_eval.generators.registry import get_arch, register_arch
from torch import nn

from gan_eval.errors import GanEvalError

SIZE = 28


@dataclass
class ToyBlobConfig:
    sigma: float = 2.5
    garbage_radius: float = 1e9


class ToyBlob(nn.Module):
    """Blob placed by ``w[0:2]``, checkerboard when ``|w[2]| > garbage_radius``; ψ lerps w toward ``w_avg``."""

    def __init__(self, sigma: float = 2.5, garbage_radius: float = 1e9) -> None:
        super().__init__()
        self.z_dim = 3
        self.num_classes = 0
        self.out_shape = (1, SIZE, SIZE)
        self.output_range = (0.0, 1.0)
        self.sigma = sigma
        self.garbage_radius = nn.Parameter(torch.tensor(float(garbage_radius)), requires_grad=False)
        self.register_buffer("w_avg", torch.zeros(3))

    def forward(self, z: torch.Tensor, truncation: float | None = None) -> torch.Tensor:
        w = z
        if truncation is not None:
            w = self.w_avg + truncation * (w - self.w_avg)
        centre = SIZE / 2 - 0.5 + 7.0 * torch.tanh(w[:, :2] / 2)  # N×2 (x, y), kept on the canvas
        grid = torch.arange(SIZE, dtype=z.dtype, device=z.device)
        dx = (grid[None, None, :] - centre[:, 0, None, None]) ** 2
        dy = (grid[None, :, None] - centre[:, 1, None, None]) ** 2
        images = torch.exp(-(dx + dy) / (2 * self.sigma ** 2))[:, None]
        checker = ((grid[:, None] // 2 + grid[None, :] // 2) % 2).to(z.dtype)
        garbage = w[:, 2].abs() > self.garbage_radius
        images[garbage] = checker
        return images


def _register(name: str, kind: str) -> None:
    try:
        get_arch(name)
    except GanEvalError:
        register_arch(name, version=1, config_cls=ToyBlobConfig, kind="unconditional", truncation=kind,
                      tiny={})(type(f"ToyBlob_{kind}", (ToyBlob,), {}))


_register("toy_blob_w", "w_avg_lerp")
_register("toy_blob_z", "z_truncnorm")


#: Garbage radius per truncation kind, matched to the ψ grids of the tests.
GARBAGE_RADIUS = {"w_avg_lerp": 0.35, "z_truncnorm": 0.6}


def handle(kind: str, ideal: bool = False) -> GeneratorHandle:
    """The toy with truncation ``kind`` (``w_avg_lerp`` or ``z_truncnorm``); ``ideal``: no garbage (the reference)."""
    spec = get_arch("toy_blob_w" if kind == "w_avg_lerp" else "toy_blob_z")
    config = {} if ideal else {"garbage_radius": GARBAGE_RADIUS[kind]}
    return GeneratorHandle(spec.build(config), spec, config)


def reference_images(n: int, seed: int = 12345) -> torch.Tensor:
    """``n`` uint8 images of the ideal, untruncated toy: the reference distribution."""
    from gan_eval import sample_images
    from gan_eval.sources import GeneratorSource

    return sample_images(GeneratorSource(handle("w_avg_lerp", ideal=True), "ideal toy"), n, seed=seed)


def blob_w() -> GeneratorHandle:
    return handle("w_avg_lerp")


def blob_z() -> GeneratorHandle:
    return handle("z_truncnorm")
