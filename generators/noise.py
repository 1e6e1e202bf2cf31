"""Seeded latent noise: standard normal and truncated normal, from a ``torch.Generator`` only.

The course draws truncated noise with ``scipy.stats.truncnorm`` from NumPy's global RNG, which
makes FID runs irreproducible. Here every draw comes from the caller's generator on the CPU, so the
same seed gives the same latents on any device.
"""

from __future__ import annotations

import torch


def normal(n: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(n, dim, generator=generator)


#: Below this threshold rejection would loop for a very long time (acceptance ≈ 0.8·threshold per
#: draw: about 10⁷ rounds at 10⁻⁶), so the truncated normal is drawn by inverting its CDF instead.
MIN_REJECTION_THRESHOLD = 0.05


def truncated_normal(n: int, dim: int, threshold: float, generator: torch.Generator) -> torch.Tensor:
    """N(0, 1) restricted to ``[-threshold, threshold]``, exactly (never by clamping).

    For the usual thresholds (≥ :data:`MIN_REJECTION_THRESHOLD`) the entries outside are resampled
    (rejection; loops stay short). Smaller thresholds draw u uniform on [Φ(−t), Φ(t)] and return
    Φ⁻¹(u) in float64, so any positive threshold ends in one pass instead of hanging.
    """
    if not threshold > 0 or threshold != threshold:
        raise ValueError(f"truncation threshold must be positive, got {threshold}")
    if threshold < MIN_REJECTION_THRESHOLD:
        t = torch.tensor(float(threshold), dtype=torch.float64)
        lo = torch.special.ndtr(-t)
        u = lo + (1 - 2 * lo) * torch.rand(n, dim, generator=generator, dtype=torch.float64)
        return torch.special.ndtri(u).clamp_(-t, t).float()
    z = torch.randn(n, dim, generator=generator)
    outside = z.abs() > threshold
    while outside.any():
        z[outside] = torch.randn(int(outside.sum()), generator=generator)
        outside = z.abs() > threshold
    return z
