"""Fréchet distance between two Gaussians fitted to features (FID when the features are Inception's).

FID = ‖μ₁−μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr √(Σ₁Σ₂). The trace of the square root is computed from a
symmetric problem: with Σ₁ = LLᵀ (Cholesky), the eigenvalues of Σ₁Σ₂ are those of LᵀΣ₂L, which is
symmetric positive semi-definite, so one ``eigvalsh`` gives real, non-negative eigenvalues (clamped
at 0 against rounding). That is several times faster than the general ``eigvals`` torch-fidelity uses,
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

    With Σ₁ = LLᵀ the eigenvalues of Σ₁Σ₂ are those of LᵀΣ₂L. On the CPU, LAPACK's ``dsygst`` forms
    LᵀΣ₂L in one blocked pass (the reduction step of the generalised symmetric eigenproblem, about
    half the work of two general products) and ``syevd`` reads only its lower triangle; on other
    devices the same algebra runs with torch. Falls back to an eigendecomposition of Σ₁ when it is
    singular.
    """
    if sigma1.device.type == "cpu":
        eigenvalues = _cpu_reduced_eigvalsh(sigma1.numpy(), sigma2.numpy())
        if eigenvalues is not None:
            return torch.from_numpy(eigenvalues).clamp_min(0).sqrt().sum(), "cholesky"
        factor = _sqrt_psd(sigma1)
        method = "eigh"
    else:
        factor, info = torch.linalg.cholesky_ex(sigma1)
        method = "cholesky"
        if int(info) != 0:
            factor, method = _sqrt_psd(sigma1), "eigh"
    inner = factor.T @ sigma2 @ factor
    eigenvalues = torch.linalg.eigvalsh((inner + inner.T) / 2)
    return eigenvalues.clamp_min(0).sqrt().sum(), method


def _cpu_reduced_eigvalsh(sigma1, sigma2):  # numpy float64 arrays -> numpy array | None
    """Eigenvalues of LᵀΣ₂L (Σ₁ = LLᵀ) via LAPACK ``dpotrf`` + ``dsygst`` + ``syevd``; None if Σ₁ is singular."""
    import scipy.linalg
    from scipy.linalg import lapack

    factor, info = lapack.dpotrf(sigma1, lower=1, clean=1)
    if info != 0:
        return None
    reduced, info = lapack.dsygst(sigma2, factor, itype=2, lower=1)
    if info != 0:
        return None
    return scipy.linalg.eigvalsh(reduced, lower=True, driver="evd", overwrite_a=True, check_finite=False)


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
