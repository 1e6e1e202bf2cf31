"""Precision/recall and density/coverage against direct O(N²) definitions; tiling bounds memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_eval.metrics import knn


def _reference(fake: np.ndarray, real: np.ndarray, k_pr: int = 3, k_dc: int = 5) -> dict[str, float]:
    """Obviously-correct definitions with full distance matrices."""
    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    d_rr, d_ff, d_fr = dist(real, real), dist(fake, fake), dist(fake, real)
    radius = lambda d, k: np.sort(d, axis=1)[:, k]  # column 0 is the point itself
    r_real3, r_fake3, r_real5 = radius(d_rr, k_pr), radius(d_ff, k_pr), radius(d_rr, k_dc)
    precision = np.mean([(d_fr[i] <= r_real3).any() for i in range(len(fake))])
    recall = np.mean([(d_fr[:, j] <= r_fake3).any() for j in range(len(real))])
    density = (d_fr < r_real5[None, :]).sum() / (k_dc * len(fake))
    coverage = np.mean(d_fr.min(axis=0) < r_real5)
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


@pytest.mark.parametrize("tile", [7, 64, 4096])
def test_matches_direct_definitions(tile):
    rng = np.random.default_rng(0)
    real = rng.standard_normal((150, 10))
    fake = rng.standard_normal((120, 10)) * 1.3 + 0.4
    ref = _reference(fake, real)
    f, r = torch.from_numpy(fake), torch.from_numpy(real)
    precision, recall = knn.precision_recall(f, r, k=3, tile=tile)
    density, coverage = knn.density_coverage(f, r, k=5, tile=tile)
    assert precision == pytest.approx(ref["precision"], abs=1e-12)
    assert recall == pytest.approx(ref["recall"], abs=1e-12)
    assert density == pytest.approx(ref["density"], abs=1e-12)
    assert coverage == pytest.approx(ref["coverage"], abs=1e-12)
    assert 0 < precision < 1 and 0 < recall < 1  # the case is not degenerate


def test_identical_sets_are_perfect():
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((200, 6)))
    assert knn.precision_recall(x, x, tile=50) == (1.0, 1.0)
    assert knn.density_coverage(x, x, tile=50)[1] == 1.0


def test_disjoint_sets_score_zero():
    rng = np.random.default_rng(2)
    real = torch.from_numpy(rng.standard_normal((100, 4)))
    fake = real + 100.0
    assert knn.precision_recall(fake, real) == (0.0, 0.0)
    assert knn.density_coverage(fake, real) == (0.0, 0.0)


def test_distance_tiles_never_exceed_tile_squared(monkeypatch):
    seen = []
    original = knn._distances

    def spy(a, b, a_sq, b_sq):
        seen.append(a.shape[0] * b.shape[0])
        return original(a, b, a_sq, b_sq)

    monkeypatch.setattr(knn, "_distances", spy)
    x = torch.randn(1000, 8, generator=torch.Generator().manual_seed(0))
    knn.precision_recall(x, x + 0.1, tile=128)
    knn.density_coverage(x, x + 0.1, tile=128)
    assert max(seen) <= 128 * 128  # peak distance memory is one tile, never N×N


def test_radii_exclude_self():
    x = torch.tensor([[0.0], [1.0], [3.0], [6.0]], dtype=torch.float64)
    assert knn.knn_radii(x, k=1, tile=2).tolist() == [1.0, 1.0, 2.0, 3.0]
    with pytest.raises(ValueError):
        knn.knn_radii(x, k=4)


def test_radii_among_a_subset_equal_exact_radii_of_its_rows():
    from gan_eval.metrics.knn import knn_neighbours, radii_among

    g = torch.Generator().manual_seed(0)
    x = torch.randn(700, 6, generator=g, dtype=torch.float64)
    table = knn_neighbours(x, 4 * 5 + 9, tile=128)  # several tiles
    assert torch.equal(table[1][:, 0], torch.arange(700)) and float(table[0][:, 0].abs().max()) == 0.0
    for seed, share in ((0, 0.5), (1, 0.632), (2, 0.05)):  # at 5 % most lists run out: those rows are exact
        present = torch.rand(700, generator=torch.Generator().manual_seed(seed)) < share
        fast = radii_among(table, present, 5, x, tile=16)
        exact = knn.knn_radii(x[present], 5, tile=128)
        assert torch.allclose(fast, exact, rtol=0, atol=1e-12), share


def test_one_neighbour_pass_per_side_serves_points_and_replicates(monkeypatch):
    # precision/recall + density/coverage with intervals used to sort each set's N² distances four times.
    import gan_eval

    rng = np.random.default_rng(11)
    fake, real = rng.standard_normal((300, 8)).astype(np.float32), rng.standard_normal((280, 8)).astype(np.float32)
    expected = _reference(fake, real)
    passes = []
    original = knn.knn_neighbours
    monkeypatch.setattr(knn, "knn_neighbours",
                        lambda x, count, tile=knn.DEFAULT_TILE: passes.append(x.shape[0]) or original(x, count, tile))
    result = gan_eval.evaluate_features(fake, real, "pr,dc", ci=0.95, bootstrap=100, seed=0)
    assert sorted(passes) == [280, 300]
    for key, value in expected.items():
        assert result.metrics[key] == pytest.approx(value, abs=1e-12), key
        lo, hi = result.ci[key]
        assert lo < value < hi, key
