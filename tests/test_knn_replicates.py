"""The k-NN metrics' interval replicates are the metrics of each half-sample's kept samples, with the
half's own k-NN radii: the one-pass algorithm (full-sample counts corrected from the annulus triples)
is checked against computing each replicate from scratch, ties and overflow included."""

import numpy as np
import pytest
import torch

from gan_eval.metrics import knn
from gan_eval.metrics.knn import ANNULUS_PAIR_CAP, density_coverage, knn_radii, knn_replicates, precision_recall
from gan_eval.metrics.resampling import (
    half_fraction,
    half_sample_dof,
    half_sample_design,
    half_sample_variance,
    half_samples,
    make_resample,
    replicate_variance,
)
from gan_eval.statistics import FeatureSet, FeatureStats


def _feature_set(x: np.ndarray, dtype=torch.float32) -> FeatureSet:
    t = torch.from_numpy(np.asarray(x)).to(dtype)
    return FeatureSet(FeatureStats.from_features(t.double()), t)


def _from_scratch(g: FeatureSet, r: FeatureSet, wg: torch.Tensor, wr: torch.Tensor, k: int, kind: str):
    out = {}
    for b in range(wg.shape[0]):
        xg, xr = g.features[wg[b] > 0], r.features[wr[b] > 0]
        if kind == "pr":
            values = precision_recall(xg, xr, k, tile=4096)
            keys = ("precision", "recall")
        else:
            values = density_coverage(xg, xr, k, tile=4096)
            keys = ("density", "coverage")
        for key, value in zip(keys, values):
            out.setdefault(key, []).append(value)
    return {key: np.array(v) for key, v in out.items()}


def _check(g, r, groups, seed, tile, exact=True):
    rs = make_resample(g.n, r.n, groups, seed, torch.device("cpu"))
    wg, wr = half_samples(rs.gen), half_samples(rs.real)
    for kind, k in (("pr", 3), ("dc", 5)):
        fast = knn_replicates(g, r, wg, wr, k, tile, kind)
        slow = _from_scratch(g, r, wg, wr, k, kind)
        for key, values in slow.items():
            if exact:
                np.testing.assert_array_equal(fast[key].numpy(), values, err_msg=f"{kind} {key}")
            else:
                np.testing.assert_allclose(fast[key].numpy(), values, rtol=0, atol=1e-12, err_msg=f"{kind} {key}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("tile", [64, 4096])
def test_gaussian_replicates_equal_the_metrics_of_each_half(dtype, tile):
    rng = np.random.default_rng(1)
    g = _feature_set(rng.normal(size=(300, 16)) * 1.1 + 0.1, dtype)
    r = _feature_set(rng.normal(size=(250, 16)), dtype)
    _check(g, r, 10, 0, tile)


@pytest.mark.parametrize("shape", [(200, 333, 8, 11), (123, 301, 32, 20), (400, 150, 4, 10)])
def test_other_shapes_and_an_odd_group_count(shape):
    n_gen, n_real, d, groups = shape
    rng = np.random.default_rng(n_gen + n_real)
    g = _feature_set(rng.normal(size=(n_gen, d)))
    r = _feature_set(rng.normal(size=(n_real, d)) * 0.9)
    _check(g, r, groups, 4, 64)


def test_ties_on_an_integer_grid_with_duplicated_rows():
    # Integer coordinates: every squared distance is an exact integer, so many distances equal radii
    # exactly and ``<=`` (precision/recall) and ``<`` (density/coverage) decide.
    rng = np.random.default_rng(5)
    real = rng.integers(0, 4, size=(220, 3))
    real = np.concatenate([real, real[:40]])
    gen = np.concatenate([rng.integers(0, 4, size=(150, 3)), real[rng.integers(0, len(real), 100)]])
    g, r = _feature_set(gen, torch.float64), _feature_set(real, torch.float64)
    d = torch.cdist(g.features, r.features)
    assert bool((d == knn_radii(r.features, 5)[None, :]).any())  # the case this test is about
    for tile in (64, 4096):
        _check(g, r, 10, 3, tile)


def test_a_neighbour_list_running_out_is_completed_exactly(monkeypatch):
    # Only 4 neighbours listed: a half keeping fewer than k of a row's list computes that row's radius
    # against every kept sample.
    monkeypatch.setattr(knn, "SHARED_NEIGHBOURS", 4)
    rng = np.random.default_rng(7)
    g = _feature_set(rng.normal(size=(120, 6)))
    r = _feature_set(rng.normal(size=(110, 6)) + 0.2)
    _check(g, r, 10, 2, 32)


@pytest.mark.parametrize("cap", [0, 40])
def test_too_many_triples_compute_each_replicate_directly(monkeypatch, cap):
    monkeypatch.setattr(knn, "ANNULUS_PAIR_CAP", cap)
    called = []
    original = knn._replicates_directly
    monkeypatch.setattr(knn, "_replicates_directly", lambda *a: called.append(1) or original(*a))
    rng = np.random.default_rng(2)
    g = _feature_set(rng.normal(size=(150, 8)))
    r = _feature_set(rng.normal(size=(140, 8)))
    _check(g, r, 10, 0, 64)
    assert len(called) == 2  # once for precision/recall, once for density/coverage


def test_half_sample_design_splits_the_groups_into_disjoint_halves():
    for groups, splits in ((10, 10), (11, 11), (20, 19), (16, 15), (12, 11)):
        rows = half_sample_design(groups)
        assert rows.shape == (2 * splits, groups)
        assert (rows.sum(axis=1) == groups // 2).all()
        assert (rows[0::2] * rows[1::2]).sum() == 0  # each pair disjoint
        assert len({frozenset((tuple(a), tuple(b))) for a, b in zip(rows[0::2], rows[1::2])}) == splits  # distinct
        if groups % 4 == 0:  # balanced: every two groups share a half in the same number of splits
            together = rows[0::2].T @ rows[0::2] + rows[1::2].T @ rows[1::2]
            off = together[~np.eye(groups, dtype=bool)]
            assert (off == off[0]).all()
    np.testing.assert_array_equal(half_sample_design(20), half_sample_design(20))  # same for every generator
    assert half_fraction(11) == pytest.approx(5 / 11)


def test_half_samples_are_unions_of_the_jackknife_groups():
    rs = make_resample(103, None, 10, 0, torch.device("cpu"))
    labels = rs.gen.argmin(dim=0).numpy()
    halves = half_samples(rs.gen).numpy()
    for row in halves:
        kept_groups = set(labels[row > 0])
        assert (row[np.isin(labels, list(kept_groups))] == 1).all()
    with pytest.raises(ValueError, match="jackknife weights"):
        half_samples(torch.ones(5, 20, dtype=torch.float64))


@pytest.mark.parametrize("groups, dof", [(20, 19), (10, 5)])
def test_half_sample_variance_of_a_mean_is_its_variance_at_n(groups, dof):
    # The mean of N unit-variance values: Var = 1/N, estimated without bias from half-sample means, with
    # the spread of a chi-square on the stated degrees of freedom (balanced design: G − 1).
    rng = np.random.default_rng(0)
    n, estimates = 400, []
    for _ in range(1000):
        x = rng.standard_normal(n)
        rs = make_resample(n, None, groups, int(rng.integers(1 << 30)), torch.device("cpu"))
        halves = half_samples(rs.gen).numpy()
        means = (halves * x).sum(axis=1) / halves.sum(axis=1)
        estimates.append(half_sample_variance(means, half_fraction(groups)) * n)
    assert half_sample_dof(groups) == dof
    assert np.mean(estimates) == pytest.approx(1.0, abs=0.05)
    measured_dof = 2 / np.var(estimates)
    assert 0.75 * dof < measured_dof < 1.3 * dof
    assert np.isnan(half_sample_variance(np.array([1.0, 2.0, 3.0]), 0.5))


def test_the_interval_takes_the_larger_of_the_jackknife_and_half_sample_variances():
    jackknife = np.array([1.0, 1.2, 0.8, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0, 1.0])  # G = 10
    halves = np.array([1.5, 0.5, 0.7, 1.3] + [1.0, 1.0] * 8)  # 10 pairs (random design: 5 dof)
    jk = (9 / 10) * ((jackknife - jackknife.mean()) ** 2).sum()
    hv = np.mean(np.array([1.0, 0.6] + [0.0] * 8) ** 2) * 0.5 / 2
    assert replicate_variance(np.concatenate([jackknife, halves]), 10) == (pytest.approx(max(jk, hv)), 9 if jk > hv else 5)
    assert replicate_variance(np.concatenate([jackknife * 10, halves]), 10) == (pytest.approx(100 * jk), 9)
    assert replicate_variance(jackknife, None) == (pytest.approx(jk), 9)
    assert np.isnan(replicate_variance(np.concatenate([jackknife, [np.nan] * 20]), 10)[0])


@pytest.mark.parametrize("cap", [ANNULUS_PAIR_CAP, 0])
def test_rows_without_own_radii_keep_the_full_sample_radii_except_for_density(monkeypatch, cap):
    monkeypatch.setattr(knn, "ANNULUS_PAIR_CAP", cap)
    rng = np.random.default_rng(9)
    g, r = _feature_set(rng.normal(size=(150, 5)) * 1.1), _feature_set(rng.normal(size=(140, 5)))
    rs = make_resample(150, 140, 10, 0, torch.device("cpu"))
    own = torch.tensor([False] * 10)
    pr = knn_replicates(g, r, rs.gen, rs.real, 3, 64, "pr", own)
    dc = knn_replicates(g, r, rs.gen, rs.real, 5, 64, "dc", own)
    gen3, real3, real5 = knn_radii(g.features, 3), knn_radii(r.features, 3), knn_radii(r.features, 5)
    for b in range(10):
        kg, kr = rs.gen[b] > 0, rs.real[b] > 0
        p, rc = precision_recall(g.features[kg], r.features[kr], 3, gen_radii=gen3[kg], real_radii=real3[kr])
        d = density_coverage(g.features[kg], r.features[kr], 5)[0]  # the kept samples' own radii
        c = density_coverage(g.features[kg], r.features[kr], 5, real_radii=real5[kr])[1]
        assert (pr["precision"][b], pr["recall"][b], dc["density"][b], dc["coverage"][b]) == (p, rc, d, c), b
