"""FID against closed forms and an independent reference; streaming moments; rank-deficient fallback."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from gan_eval.metrics.fid import (
    frechet_distance,
    trace_sqrt_product,
    trace_sqrt_product_from_features,
)
from gan_eval.statistics import FeatureStats


def _random_spd(rng: np.random.Generator, d: int, rank: int | None = None) -> np.ndarray:
    a = rng.standard_normal((d, rank or 2 * d))
    return a @ a.T / a.shape[1]


def _scipy_fid(mu1, s1, mu2, s2) -> float:
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_matches_scipy_sqrtm_reference():
    rng = np.random.default_rng(0)
    d = 64
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    s1, s2 = _random_spd(rng, d), _random_spd(rng, d)
    value, detail = frechet_distance(*(torch.from_numpy(x) for x in (mu1, s1, mu2, s2)))
    assert detail["method"] == "cholesky"
    assert value == pytest.approx(_scipy_fid(mu1, s1, mu2, s2), rel=1e-9)


def test_closed_form_for_commuting_gaussians():
    # Diagonal covariances commute: tr√(Σ₁Σ₂) = Σ√(a_i b_i), so FID = ‖Δμ‖² + Σ(√a_i − √b_i)².
    a = torch.tensor([1.0, 4.0, 9.0, 0.25], dtype=torch.float64)
    b = torch.tensor([4.0, 1.0, 9.0, 1.0], dtype=torch.float64)
    mu1 = torch.tensor([0.0, 1.0, 2.0, 3.0], dtype=torch.float64)
    mu2 = torch.tensor([1.0, 1.0, 0.0, 3.0], dtype=torch.float64)
    expected = float(((mu1 - mu2) ** 2).sum() + ((a.sqrt() - b.sqrt()) ** 2).sum())  # 5 + (1 + 1 + 0 + 0.25)
    value, _ = frechet_distance(mu1, torch.diag(a), mu2, torch.diag(b))
    assert expected == pytest.approx(7.25)
    assert value == pytest.approx(expected, rel=1e-12)


def test_sampled_gaussians_converge_to_closed_form():
    rng = np.random.default_rng(1)
    d, n = 8, 200_000
    s1, s2 = _random_spd(rng, d), _random_spd(rng, d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    x = rng.multivariate_normal(mu1, s1, size=n)
    y = rng.multivariate_normal(mu2, s2, size=n)
    sx, sy = FeatureStats.from_features(torch.from_numpy(x)), FeatureStats.from_features(torch.from_numpy(y))
    value, _ = frechet_distance(sx.mean, sx.cov, sy.mean, sy.cov)
    truth = _scipy_fid(mu1, s1, mu2, s2)
    assert value == pytest.approx(truth, rel=0.02)


def test_identical_sets_give_zero_never_negative():
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.standard_normal((500, 32)) * 3 + 5).float()
    stats = FeatureStats.from_features(x)
    value, detail = frechet_distance(stats.mean, stats.cov, stats.mean, stats.cov)
    assert 0.0 <= value < 1e-8
    # the same holds on the rank-deficient path
    small = x[:20]
    s = FeatureStats.from_features(small)
    value, detail = frechet_distance(s.mean, s.cov, s.mean, s.cov, small, small)
    assert detail["method"] == "nuclear-norm"
    assert 0.0 <= value < 1e-8


def test_streaming_moments_equal_numpy_and_merge_exactly():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1000, 16)) * 2 + 1
    whole = FeatureStats.from_features(torch.from_numpy(x))
    shards = FeatureStats(16)
    for part in np.array_split(x, 7):
        shards.merge(FeatureStats.from_features(torch.from_numpy(part)))
    np.testing.assert_allclose(whole.mean.numpy(), x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(whole.cov.numpy(), np.cov(x, rowvar=False), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(shards.cov.numpy(), whole.cov.numpy(), rtol=1e-12, atol=1e-12)
    assert shards.n == whole.n == 1000


def test_singular_covariances_fall_back_and_agree():
    rng = np.random.default_rng(4)
    d = 64
    x = torch.from_numpy(rng.standard_normal((20, d)))
    y = torch.from_numpy(rng.standard_normal((30, d)) + 0.5)
    sx, sy = FeatureStats.from_features(x), FeatureStats.from_features(y)
    exact = float(trace_sqrt_product_from_features(x, y))
    via_stats, method = trace_sqrt_product(sx.cov, sy.cov)
    assert method == "eigh"  # Σ₁ has rank 19 < 64: Cholesky fails and the eigh route takes over
    assert float(via_stats) == pytest.approx(exact, rel=1e-6)
    # general eigenvalue route (torch-fidelity's) as an independent check
    eig = np.linalg.eigvals(sx.cov.numpy() @ sy.cov.numpy()).astype(complex)
    assert exact == pytest.approx(float(np.sqrt(eig).real.sum()), rel=1e-6)
    value, detail = frechet_distance(sx.mean, sx.cov, sy.mean, sy.cov, x, y)
    assert detail["method"] == "nuclear-norm" and value > 0


def test_one_singular_covariance_factors_the_other():
    # Σ₁ from 20 samples in 64 dimensions is singular, Σ₂ from 400 is not: tr √(Σ₁Σ₂) = tr √(Σ₂Σ₁), so
    # the Cholesky route factors Σ₂ instead of falling back to an eigendecomposition of Σ₁.
    rng = np.random.default_rng(5)
    x = torch.from_numpy(rng.standard_normal((20, 64)))
    y = torch.from_numpy(rng.standard_normal((400, 64)) * 0.7 + 0.2)
    sx, sy = FeatureStats.from_features(x), FeatureStats.from_features(y)
    value, method = trace_sqrt_product(sx.cov, sy.cov)
    assert method == "cholesky"
    # Σ₁'s 45 zero eigenvalues come out as ±ε‖Σ‖ and add √ε-sized terms: agreement to 1e-7, not 1e-12.
    assert float(value) == pytest.approx(float(trace_sqrt_product_from_features(x, y)), rel=1e-7)
    assert float(trace_sqrt_product(sy.cov, sx.cov)[0]) == pytest.approx(float(value), rel=1e-12)
