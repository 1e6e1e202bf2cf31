"""Seeded latent noise: standard normal and truncated normal, from a ``torch.Generator`` only.

The course draws truncated noise with ``scipy.stats.truncnorm`` from NumPy's global RNG, which
makes FID runs irreproducible. Here every draw comes from the caller's generator on the CPU, so the
same seed gives the same latents on any device.
"""

from __future__ import annotations

import torch


def normal(n: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(n, dim, generator=generator)


def truncated_normal(n: int, dim: int, threshold: float, generator: torch.Generator) -> torch.Tensor:
    """N(0, 1) restricted to ``[-threshold, threshold]`` by resampling the entries outside it.

    Rejection keeps the exact truncated distribution (unlike clamping). With tiny thresholds the
    acceptance rate is ≈ 0.8·threshold per draw, so loops stay short for the usual 0.2–2.
    """
    if not threshold > 0:
        raise ValueError(f"truncation threshold must be positive, got {threshold}")
    z = torch.randn(n, dim, generator=generator)
    outside = z.abs() > threshold
    while outside.any():
        z[outside] = torch.randn(int(outside.sum()), generator=generator)
        outside = z.abs() > threshold
    return z
