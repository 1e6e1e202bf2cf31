"""Density's per-replicate radius correction from the annulus pairs of the main pass equals the old
per-replicate re-test of the changed balls (kept here as the reference), exactly."""

import numpy as np
import pytest
import torch

from gan_eval.metrics import knn
from gan_eval.metrics.knn import knn_replicates_fixed_radii
from gan_eval.metrics.resampling import make_resample
from gan_eval.statistics import FeatureSet, FeatureStats


def _feature_set(x: np.ndarray, dtype=torch.float32) -> FeatureSet:
    t = torch.from_numpy(np.asarray(x)).to(dtype)
    return FeatureSet(FeatureStats.from_features(t.double()), t)


def _old_dc_replicates(gen: FeatureSet, real: FeatureSet, wg: torch.Tensor, wr: torch.Tensor, k: int, tile: int):
    """The previous algorithm: main pass with full-sample radii, then one distance pass per replicate
    from every generated sample to the balls whose radius changes in it."""
    xg = gen.features
    xr = real.features.to(xg.device)
    dtype = torch.float32 if xg.dtype != torch.float64 else torch.float64
    wg_t, wr_t = wg.T.to(xg.device, dtype), wr.T.to(xg.device, dtype)
    table = knn.knn_neighbours(xr, 4 * k + 9, tile)
    radii = table[0][:, k]
    by_gen = torch.zeros(xg.shape[0], wg_t.shape[1], dtype=dtype)
    by_real = torch.zeros(xr.shape[0], wg_t.shape[1], dtype=dtype)

    def on_tile(rows, cols, d):
        inside = (d < radii[None, cols]).to(dtype)
        by_gen[rows] += inside @ wr_t[cols]
        by_real[cols] += inside.T @ wg_t[rows]

    knn._reduce_pairs(xg, xr, tile, on_tile)
    g_sq = knn._sq_norms(xg)
    for b in range(wr.shape[0]):
        kept = wr[b] > 0
        new = knn.radii_among(table, kept, k)
        rows = torch.nonzero(kept).squeeze(1)
        if new is None:
            new = knn.knn_radii(xr[rows], k, tile)
        changed = rows[new != radii[rows]]
        if changed.numel() == 0:
            continue
        new_radius = new[new != radii[rows]]
        for cols in knn._tiles(changed.numel(), tile):
            part = changed[cols]
            d = knn._distances(xg, xr[part], g_sq, knn._sq_norms(xr[part]))
            delta = (d < new_radius[cols][None, :]).to(dtype) - (d < radii[part][None, :]).to(dtype)
            by_gen[:, b] += delta @ wr[b, part].to(dtype)
    mass_g, mass_r = wg_t.sum(dim=0), wr_t.sum(dim=0)
    density = (wg_t * by_gen).sum(dim=0) / (k * mass_g)
    coverage = (wr_t * (by_real > 0)).sum(dim=0) / mass_r
    return density.double().numpy(), coverage.double().numpy()


def _spy(monkeypatch):
    """Records each call's annulus (its size and whether it overflowed)."""
    seen = []
    original = knn._density_radius_correction

    def spy(xg, xr, wr, radii, new_radii, annulus, tile, by_gen):
        seen.append(annulus)
        return original(xg, xr, wr, radii, new_radii, annulus, tile, by_gen)

    monkeypatch.setattr(knn, "_density_radius_correction", spy)
    return seen


def _check_same(g, r, wg, wr, k, tile):
    new = knn_replicates_fixed_radii(g, r, wg, wr, k, tile, "dc")
    density, coverage = _old_dc_replicates(g, r, wg, wr, k, tile)
    np.testing.assert_array_equal(new["density"].values, density)
    np.testing.assert_array_equal(new["coverage"].values, coverage)
    return new


def _unequal_weights(n: int, sizes_p, rng) -> torch.Tensor:
    labels = rng.choice(len(sizes_p), size=n, p=sizes_p)
    return torch.from_numpy((labels[None, :] != np.arange(len(sizes_p))[:, None]).astype(np.float64))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("tile", [64, 4096])
def test_gaussian_replicates_equal_the_old_correction(monkeypatch, dtype, tile):
    seen = _spy(monkeypatch)
    rng = np.random.default_rng(1)
    g = _feature_set(rng.normal(size=(300, 16)) * 1.1 + 0.1, dtype)
    r = _feature_set(rng.normal(size=(250, 16)), dtype)
    rs = make_resample(300, 250, 10, 0, torch.device("cpu"))
    _check_same(g, r, rs.gen, rs.real, 5, tile)
    assert seen and not seen[0].overflow and seen[0].count > 0


@pytest.mark.parametrize("shape", [(200, 333, 8, 3, 7), (123, 301, 32, 5, 20), (400, 150, 4, 7, 5)])
def test_other_shapes_and_unequal_groups(shape):
    n_gen, n_real, d, k, groups = shape
    rng = np.random.default_rng(n_gen + n_real)
    g = _feature_set(rng.normal(size=(n_gen, d)))
    r = _feature_set(rng.normal(size=(n_real, d)) * 0.9)
    p = rng.dirichlet(np.ones(groups) * 0.7)  # very unequal group sizes
    wg, wr = _unequal_weights(n_gen, p, rng), _unequal_weights(n_real, p[::-1], rng)
    _check_same(g, r, wg, wr, k, 64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ties_on_an_integer_grid_with_duplicated_rows(dtype):
    # Integer coordinates: every squared distance is an exact integer, so many distances equal radii
    # exactly (whatever the tiling) and the strict ``<`` decides.
    rng = np.random.default_rng(5)
    real = rng.integers(0, 4, size=(220, 3))
    real = np.concatenate([real, real[:40]])  # duplicated real rows (radius 0 balls for some)
    gen = np.concatenate([rng.integers(0, 4, size=(150, 3)), real[rng.integers(0, len(real), 100)]])
    g, r = _feature_set(gen, dtype), _feature_set(real, dtype)
    radii = knn.knn_radii(r.features, 5)
    d = torch.cdist(g.features.double(), r.features.double())
    assert bool((d == radii.double()[None, :]).any())  # the case this test is about
    rs = make_resample(len(gen), len(real), 10, 3, torch.device("cpu"))
    for tile in (64, 4096):
        _check_same(g, r, rs.gen, rs.real, 5, tile)


def test_neighbour_list_running_out_falls_back_to_exact_radii(monkeypatch):
    # A tight cluster of 40 real samples: a replicate keeping only 4 of them leaves each kept one with
    # fewer than k kept among its 4k + 9 listed neighbours, so its radii are recomputed exactly.
    rng = np.random.default_rng(7)
    real = np.concatenate([rng.normal(size=(40, 6)) * 0.01, rng.normal(size=(160, 6)) + 3])
    gen = np.concatenate([rng.normal(size=(60, 6)) * 0.02, rng.normal(size=(140, 6)) + 3])
    g, r = _feature_set(gen), _feature_set(real)
    rs = make_resample(200, 200, 5, 2, torch.device("cpu"))
    wr = rs.real.clone()
    wr[0, 4:40] = 0.0
    table = knn.knn_neighbours(r.features, 4 * 5 + 9, 64)
    assert knn.radii_among(table, wr[0] > 0, 5) is None
    _check_same(g, r, rs.gen, wr, 5, 64)


def test_bootstrap_count_weights():
    rng = np.random.default_rng(11)
    g, r = _feature_set(rng.normal(size=(180, 10))), _feature_set(rng.normal(size=(170, 10)))
    wg = torch.from_numpy(rng.multinomial(180, np.ones(180) / 180, size=6).astype(np.float64))
    wr = torch.from_numpy(rng.multinomial(170, np.ones(170) / 170, size=6).astype(np.float64))
    _check_same(g, r, wg, wr, 5, 64)


@pytest.mark.parametrize("cap", [0, 25])
def test_too_many_pairs_fall_back_to_the_per_replicate_re_test(monkeypatch, cap):
    seen = _spy(monkeypatch)
    monkeypatch.setattr(knn, "ANNULUS_PAIR_CAP", cap)
    rng = np.random.default_rng(2)
    g = _feature_set(rng.normal(size=(300, 16)))
    r = _feature_set(rng.normal(size=(250, 16)))
    rs = make_resample(300, 250, 10, 0, torch.device("cpu"))
    _check_same(g, r, rs.gen, rs.real, 5, 64)
    assert seen[0].overflow and seen[0].parts == []


def test_no_change_no_pairs():
    # Weights that drop nothing: no radius changes, nothing is gathered, density is the full-sample one.
    rng = np.random.default_rng(4)
    g, r = _feature_set(rng.normal(size=(90, 4))), _feature_set(rng.normal(size=(80, 4)))
    wg, wr = torch.ones(3, 90, dtype=torch.float64), torch.ones(3, 80, dtype=torch.float64)
    out = _check_same(g, r, wg, wr, 5, 64)
    dens, _ = knn.density_coverage(g.features, r.features, 5)
    assert out["density"].values == pytest.approx([dens] * 3, rel=1e-6)
