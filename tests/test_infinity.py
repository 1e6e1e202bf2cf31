"""FID∞ / IS∞: the extrapolation removes the finite-N bias that a closed form lets us measure."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm

import gan_eval
from gan_eval.errors import GanEvalError
from gan_eval.metrics.fid import frechet_distance
from gan_eval.metrics.inception_score import inception_score
from gan_eval.metrics.infinity import fid_infinity, is_infinity, smallest_fid_subset, subset_sizes
from gan_eval.statistics import FeatureStats


def test_fid_infinity_is_closer_to_the_closed_form_than_fid_at_the_smallest_n():
    d, n = 32, 2000
    rng = np.random.default_rng(0)
    a = rng.normal(size=(d, d)) / np.sqrt(d)
    s1, s2 = a @ a.T + 0.2 * np.eye(d), np.eye(d)
    m2 = np.full(d, 0.05)
    truth = float((m2**2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(sqrtm(s1 @ s2)).real)
    # The reference is known exactly (as with a large real set): its moments are the population's.
    real = FeatureStats.from_moments(m2, s2, 10**6)
    err_inf, err_small = [], []
    for seed in range(4):
        r = np.random.default_rng(100 + seed)
        x = torch.from_numpy(r.normal(size=(n, d)) @ np.linalg.cholesky(s1).T)
        fit = fid_infinity(x, real, seed=seed)
        err_inf.append(fit.value - truth)
        small = FeatureStats.from_features(x[: fit.sizes[0]])
        err_small.append(frechet_distance(small.mean, small.cov, real.mean, real.cov)[0] - truth)
        assert fit.interval[0] < fit.value < fit.interval[1] and fit.slope > 0  # bias grows with 1/N
    assert abs(np.mean(err_inf)) < abs(np.mean(err_small)) / 4, (np.mean(err_inf), np.mean(err_small))
    assert abs(np.mean(err_inf)) < 0.02 * truth


def test_is_infinity_approaches_the_population_score():
    # 100 classes and confident predictions: the plug-in marginal p(y) from N samples biases IS downwards
    # by roughly (C-1)/2N in the log, which the 1/N fit removes.
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(100, 100)) * 4

    def draw(m):
        return torch.from_numpy(centres[rng.integers(0, 100, m)] + rng.normal(size=(m, 100)))

    population = inception_score(draw(100_000), splits=1, shuffle=False)[0]
    fits = [is_infinity(draw(1000), seed=s) for s in range(4)]
    err_inf = np.mean([f.value for f in fits]) - population
    err_small = np.mean([f.values[0] for f in fits]) - population
    assert err_small < 0 and abs(err_inf) < abs(err_small) / 3, (err_inf, err_small)


def test_is_infinity_interval_adds_the_jackknife_of_its_own_intercept():
    # Recomputed directly: the same subsets less each deleted group, each line fitted against the sizes kept.
    from scipy import stats

    from gan_eval.metrics.resampling import jackknife_variance, make_resample

    logits = torch.from_numpy(np.random.default_rng(3).normal(size=(300, 9)) * 2)
    fit, bare = is_infinity(logits, seed=4, points=6, groups=5), is_infinity(logits, seed=4, points=6, groups=0)
    assert fit.value == bare.value and fit.sizes == bare.sizes
    weights = make_resample(300, None, 5, 4, logits.device).gen
    generator = torch.Generator().manual_seed(4)
    subsets = [torch.randperm(300, generator=generator)[:size] for size in fit.sizes]
    intercepts = []
    for g in range(5):
        kept = [index[weights[g, index] > 0] for index in subsets]
        scores = [inception_score(logits[index], splits=1, shuffle=False)[0] for index in kept]
        intercepts.append(stats.linregress([1 / len(index) for index in kept], scores).intercept)
    t = stats.t.ppf(0.975, len(fit.sizes) - 2)
    se_fit = (bare.interval[1] - bare.interval[0]) / (2 * t)
    half = t * math.sqrt(se_fit**2 + jackknife_variance(np.array(intercepts)))
    assert fit.interval == pytest.approx([fit.value - half, fit.value + half], rel=1e-9)
    assert half > 1.5 * (bare.interval[1] - bare.interval[0]) / 2  # the data's variance is not negligible


def test_subset_sizes_and_too_few_samples():
    assert subset_sizes(100, 5) == [20, 40, 60, 80, 100]
    with pytest.raises(GanEvalError):
        subset_sizes(3, 15)


def test_fid_subsets_keep_more_samples_than_dimensions_on_both_sides():
    assert smallest_fid_subset(1000, 99) == 100 and smallest_fid_subset(1000, 99, 2000) == 100
    assert smallest_fid_subset(1000, 99, 500) == 200  # the real side, subsampled at half the size, needs 100
    assert smallest_fid_subset(200, 99) == 100
    with pytest.raises(GanEvalError, match=r"at least 200 samples per side for 99-dimensional features \(got 199"):
        smallest_fid_subset(199, 99)
    with pytest.raises(GanEvalError, match="got 300 generated, 100 real"):
        smallest_fid_subset(300, 99, 100)


def test_fid_infinity_is_unbiased_for_the_population_when_n_is_close_to_d():
    # N = 2.5 d: the paper's smallest subset (N/5) would hold fewer samples than dimensions, where FID is
    # far from linear in 1/N (its intercept then overshot this population FID by 0.44 ± 0.08); subsets
    # of more than d samples bring the mean error to 0.00 ± 0.06 over these 20 data sets.
    d, n, shift = 48, 120, 0.2
    truth = d * shift**2  # both sides N(·, 0.25 I)
    errors = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        gen = torch.from_numpy(rng.normal(size=(n, d)) * 0.5 + shift)
        real = torch.from_numpy(rng.normal(size=(n, d)) * 0.5)
        fit = fid_infinity(gen, FeatureStats.from_features(real), seed=seed, features_real=real)
        assert fit.sizes[0] == d + 1 and fit.sizes[-1] == n
        errors.append(fit.value - truth)
    assert abs(np.mean(errors)) < 3 * np.std(errors) / np.sqrt(len(errors)), (np.mean(errors), np.std(errors))
    assert abs(np.mean(errors)) < 0.05 * truth


def test_fid_inf_refuses_fewer_than_twice_d_samples():
    rng = np.random.default_rng(0)
    gen, real = rng.normal(size=(60, 32)), rng.normal(size=(60, 32))
    with pytest.raises(GanEvalError, match="FID∞ needs at least 66 samples per side"):
        gan_eval.evaluate_features(gen, real, "fid_inf")
    with pytest.raises(GanEvalError, match="got 100 generated, 60 real"):
        gan_eval.evaluate_features(rng.normal(size=(100, 32)), real, "fid_inf")
    result = gan_eval.evaluate_features(rng.normal(size=(66, 32)), rng.normal(size=(66, 32)), "fid_inf")
    assert math.isfinite(result["fid_inf"]) and result.details["fid_inf"]["sizes"][0] == 33


def test_evaluate_reports_fid_inf_with_its_interval():
    result = gan_eval.evaluate("builtin:mnist-train", "builtin:mnist-heldout", "fid_inf,is_inf", extractor="digits",
                               num_samples=600, num_real=600, progress=False)
    assert set(result.ci) == {"fid_inf", "is_inf"}
    for key in ("fid_inf", "is_inf"):
        lo, hi = result.ci[key]
        assert lo < result[key] < hi
    assert len(result.details["fid_inf"]["sizes"]) == 15 and result.to_dict()["ci_info"]["level"] == 0.95
