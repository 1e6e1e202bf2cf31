"""Kernel Inception Distance: unbiased MMD² with a cubic polynomial kernel, averaged over subsets.

Kernel k(x, y) = (γ xᵀy + c)³ with γ = 1/d, c = 1 (Bińkowski et al. 2018). Subsets are drawn as
torch-fidelity draws them (one ``RandomState(seed)``, ``choice`` without replacement, first side then
second, for each subset), so the same seed gives the same subsets and the same number.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch


def _polynomial_kernel(x: torch.Tensor, y: torch.Tensor, degree: int, gamma: float, coef0: float) -> torch.Tensor:
    return (x @ y.T * gamma + coef0) ** degree


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, degree: int = 3, gamma: float | None = None, coef0: float = 1.0) -> float:
    """Unbiased MMD² between two equally sized samples (diagonals of K_xx, K_yy removed; K_xy / m²)."""
    m = x.shape[0]
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    k_xx = _polynomial_kernel(x, x, degree, gamma, coef0)
    k_yy = _polynomial_kernel(y, y, degree, gamma, coef0)
    k_xy = _polynomial_kernel(x, y, degree, gamma, coef0)
    within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / (m * m))


def kernel_inception_distance(
    features_gen: torch.Tensor,
    features_real: torch.Tensor,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 2020,
) -> tuple[float, float, int]:
    """``(mean, std, subset_size used)`` of unbiased MMD² over random subsets; std is ddof 0.

    A subset larger than either side is shrunk to the smaller side, with a warning.
    """
    n_gen, n_real = features_gen.shape[0], features_real.shape[0]
    if min(n_gen, n_real) < 2:
        raise ValueError("KID needs at least 2 samples per side")
    if subset_size > min(n_gen, n_real):
        warnings.warn(f"KID subset size {subset_size} is larger than the samples ({n_gen} generated, {n_real} real); "
                      f"using {min(n_gen, n_real)}")
        subset_size = min(n_gen, n_real)
    x_all = features_gen.to(torch.float64)
    y_all = features_real.to(torch.float64)
    rng = np.random.RandomState(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        idx_x = torch.as_tensor(rng.choice(n_gen, subset_size, replace=False), device=x_all.device)
        idx_y = torch.as_tensor(rng.choice(n_real, subset_size, replace=False), device=y_all.device)
        values[i] = mmd2_unbiased(x_all[idx_x], y_all[idx_y])
    return float(values.mean()), float(values.std()), subset_size
