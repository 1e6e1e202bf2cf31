"""Fréchet distance between two Gaussians fitted to features (FID when the features are Inception's).

FID = ‖μ₁−μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr √(Σ₁Σ₂). The trace of the square root is computed from a
symmetric problem: with Cholesky factors Σ₁ = L₁L₁ᵀ, Σ₂ = L₂L₂ᵀ, the eigenvalues of Σ₁Σ₂ are those of
CᵀC with C = L₂ᵀL₁, which is symmetric positive semi-definite, so one ``eigvalsh`` gives real,
non-negative eigenvalues (clamped at 0 against rounding). That is several times faster than the general ``eigvals`` torch-fidelity uses,
never complex, and gives the same value. When Σ₁ is singular (fewer samples than dimensions) the
Cholesky step is replaced by an eigendecomposition, or — when the raw features are at hand — by the
exact nuclear-norm form tr √(Σ₁Σ₂) = ‖X̃Ỹᵀ‖_* with X̃ = (X−μ₁)/√(n₁−1).
"""

from __future__ import annotations

import warnings

import torch

NEGATIVE_TOLERANCE = 1e-6  # relative to tr Σ₁ + tr Σ₂; below it a negative FID is rounding noise


def _sqrt_psd(sigma: torch.Tensor) -> torch.Tensor:
    eigenvalues, eigenvectors = torch.linalg.eigh(sigma)
    return (eigenvectors * eigenvalues.clamp_min(0).sqrt()) @ eigenvectors.T


def trace_sqrt_product(sigma1: torch.Tensor, sigma2: torch.Tensor) -> tuple[torch.Tensor, str]:
    """tr √(Σ₁Σ₂) for symmetric PSD matrices, and the method used (``cholesky`` or ``eigh``).

    With Σ₁ = L₁L₁ᵀ and Σ₂ = L₂L₂ᵀ, the eigenvalues of Σ₁Σ₂ are those of CᵀC with C = L₂ᵀL₁, a
    symmetric PSD matrix: two Cholesky factors, one product, one rank-k update and one symmetric
    eigenvalue solve. On the CPU the rank-k update uses BLAS ``syrk`` through SciPy (half the work of
    a general product, which torch does not offer).
    """
    factor1, info1 = torch.linalg.cholesky_ex(sigma1)
    factor2, info2 = torch.linalg.cholesky_ex(sigma2)
    if int(info1) != 0 or int(info2) != 0:
        root = _sqrt_psd(sigma1)
        inner = root @ sigma2 @ root
        eigenvalues = torch.linalg.eigvalsh((inner + inner.T) / 2)
        return eigenvalues.clamp_min(0).sqrt().sum(), "eigh"
    product = factor2.T @ factor1
    if product.device.type == "cpu" and product.dtype == torch.float64:
        eigenvalues = torch.from_numpy(_cpu_gram_eigvalsh(product.numpy()))
    else:
        eigenvalues = torch.linalg.eigvalsh(product.T @ product)
    return eigenvalues.clamp_min(0).sqrt().sum(), "cholesky"


def _cpu_gram_eigvalsh(c) -> "numpy.ndarray":  # noqa: F821
    """Eigenvalues of CᵀC: ``dsyrk`` fills one triangle, LAPACK's divide and conquer reads only it."""
    import scipy.linalg
    from scipy.linalg import blas

    gram = blas.dsyrk(1.0, c, trans=1, lower=0)
    return scipy.linalg.eigvalsh(gram, lower=False, driver="evd", overwrite_a=True, check_finite=False)


def trace_sqrt_product_from_features(features1: torch.Tensor, features2: torch.Tensor) -> torch.Tensor:
    """tr √(Σ₁Σ₂) exactly from centred features: the sum of singular values of X̃Ỹᵀ (cheap when n ≪ d)."""
    x = features1.to(torch.float64)
    y = features2.to(torch.float64)
    x = (x - x.mean(dim=0)) / (x.shape[0] - 1) ** 0.5
    y = (y - y.mean(dim=0)) / (y.shape[0] - 1) ** 0.5
    return torch.linalg.svdvals(x @ y.T).sum()


def frechet_distance(
    mu1: torch.Tensor,
    sigma1: torch.Tensor,
    mu2: torch.Tensor,
    sigma2: torch.Tensor,
    features1: torch.Tensor | None = None,
    features2: torch.Tensor | None = None,
) -> tuple[float, dict[str, object]]:
    """The Fréchet distance and details (``method``, ``clamped``). Inputs are promoted to float64.

    Pass the raw features too when either side has no more samples than dimensions: the trace term
    is then computed exactly from them instead of from the singular covariances.
    """
    mu1, sigma1, mu2, sigma2 = (t.to(torch.float64) for t in (mu1, sigma1, mu2, sigma2))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.shape[0],) * 2:
        raise ValueError(f"mismatched statistics: μ {tuple(mu1.shape)} vs {tuple(mu2.shape)}, "
                         f"Σ {tuple(sigma1.shape)} vs {tuple(sigma2.shape)}")
    dim = mu1.shape[0]
    rank_deficient = features1 is not None and features2 is not None and min(features1.shape[0], features2.shape[0]) <= dim
    if rank_deficient:
        trace_sqrt, method = trace_sqrt_product_from_features(features1, features2.to(features1.device)), "nuclear-norm"
    else:
        trace_sqrt, method = trace_sqrt_product(sigma1, sigma2)
    diff = mu1 - mu2
    traces = torch.trace(sigma1) + torch.trace(sigma2)
    value = float(diff.dot(diff) + traces - 2 * trace_sqrt)
    clamped = False
    if value < 0:
        if value < -NEGATIVE_TOLERANCE * max(float(traces), 1e-30):
            warnings.warn(f"Fréchet distance came out at {value:.3e}, larger in magnitude than rounding explains; "
                          f"reported as 0")
        value, clamped = 0.0, True
    return value, {"method": method, "clamped_negative": clamped}
