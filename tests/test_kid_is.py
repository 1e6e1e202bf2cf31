"""KID and Inception Score against closed forms and direct formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gan_eval.metrics.inception_score import inception_score
from gan_eval.metrics.kid import kernel_inception_distance, mmd2_unbiased


def test_mmd2_unbiased_matches_double_loop():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((12, 5)), rng.standard_normal((12, 5)) + 0.3
    k = lambda a, b: (a @ b / 5 + 1) ** 3
    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    assert mmd2_unbiased(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kid_is_unbiased_near_zero_for_same_distribution_and_positive_otherwise():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(400, 16, generator=g), torch.randn(400, 16, generator=g)
    same, _, _ = kernel_inception_distance(a, b, subsets=50, subset_size=200, seed=1)
    shifted, _, _ = kernel_inception_distance(a + 1.0, b, subsets=50, subset_size=200, seed=1)
    assert shifted > 0.1
    assert abs(same) < 0.05 * shifted


def test_kid_subset_larger_than_n_shrinks_with_warning():
    x = torch.randn(30, 4, generator=torch.Generator().manual_seed(0))
    with pytest.warns(UserWarning, match="larger than the samples"):
        _, _, used = kernel_inception_distance(x, x + 1, subsets=5, subset_size=1000)
    assert used == 30


def test_kid_is_reproducible_from_seed():
    x = torch.randn(100, 4, generator=torch.Generator().manual_seed(0))
    assert kernel_inception_distance(x, x + 0.2, 10, 50, seed=3) == kernel_inception_distance(x, x + 0.2, 10, 50, seed=3)
    assert kernel_inception_distance(x, x + 0.2, 10, 50, seed=3) != kernel_inception_distance(x, x + 0.2, 10, 50, seed=4)


def test_inception_score_closed_forms():
    # Confident predictions spread evenly over C classes give IS = C; identical predictions give 1.
    classes = 10
    logits = torch.full((1000, classes), -50.0)
    logits[torch.arange(1000), torch.arange(1000) % classes] = 50.0
    mean, std = inception_score(logits, splits=10, shuffle=False)
    assert mean == pytest.approx(classes, rel=1e-9) and std < 1e-9
    mean, _ = inception_score(torch.randn(1, classes).repeat(100, 1), splits=10)
    assert mean == pytest.approx(1.0, abs=1e-12)
    # exp(mutual information) for a two-class mixture with known entropies
    p = torch.tensor([[0.9, 0.1], [0.1, 0.9]], dtype=torch.float64).repeat(50, 1)
    expected = math.exp(math.log(2) - (-(0.9 * math.log(0.9) + 0.1 * math.log(0.1))))
    assert inception_score(p.log(), splits=1)[0] == pytest.approx(expected, rel=1e-9)


def test_kid_from_the_whole_kernel_equals_kid_from_each_subset(monkeypatch):
    # Small sets read every subset's sums from one kernel matrix; large ones compute each subset's.
    import gan_eval.metrics.kid as kid

    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.standard_normal((150, 12)))
    y = torch.from_numpy(rng.standard_normal((130, 12)) * 1.1 + 0.1)
    whole = kernel_inception_distance(x, y, subsets=20, subset_size=100, seed=7)
    monkeypatch.setattr(kid, "WHOLE_KERNEL_BYTES", 0)
    each = kernel_inception_distance(x, y, subsets=20, subset_size=100, seed=7)
    assert whole[2] == each[2] == 100
    assert whole[0] == pytest.approx(each[0], rel=1e-12) and whole[1] == pytest.approx(each[1], rel=1e-10)
    assert whole[0] != 0 and whole[1] > 0
