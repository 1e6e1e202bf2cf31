"""Bootstrap intervals: coverage of the true FID on Gaussian features, reproducibility, and the
re-weighted formulas against direct computation on materialised resamples."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm
from test_cli import run

import gan_eval
from gan_eval.intervals import (
    Replicates,
    basic_interval,
    make_resample,
    metric_replicates,
)
from gan_eval.metrics import MetricContext, MetricOptions, compute_metrics, get_metrics
from gan_eval.metrics.fid import fid_replicates, frechet_distance
from gan_eval.metrics.kid import kid_replicates, mmd2_unbiased
from gan_eval.statistics import FeatureSet, FeatureStats


def _gaussians(d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d)) / np.sqrt(d)
    b = rng.normal(size=(d, d)) / np.sqrt(d)
    s1, s2 = a @ a.T + 0.5 * np.eye(d), b @ b.T + 0.5 * np.eye(d)
    m1, m2 = np.zeros(d), rng.normal(size=d) * 0.3
    truth = float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(sqrtm(s1 @ s2)).real)
    return (m1, np.linalg.cholesky(s1)), (m2, np.linalg.cholesky(s2)), truth


def _feature_set(x: np.ndarray) -> FeatureSet:
    t = torch.from_numpy(x).float()
    return FeatureSet(FeatureStats.from_features(t), t)


def _fid_interval(gen, real, n, seed, level=0.95, replicates=200):
    rng = np.random.default_rng(10_000 + seed)
    g = _feature_set(rng.normal(size=(n, gen[0].size)) @ gen[1].T + gen[0])
    r = _feature_set(rng.normal(size=(n, real[0].size)) @ real[1].T + real[0])
    ctx = MetricContext(g, r, MetricOptions())
    point = compute_metrics(get_metrics("fid"), ctx)["fid"]
    reps = metric_replicates(get_metrics("fid"), ctx, make_resample(n, n, replicates, seed, torch.device("cpu")))
    return point, basic_interval(point, reps["fid"], level)


@pytest.mark.slow
def test_fid_interval_covers_the_closed_form_truth_about_95_percent():
    # Measured with 400 trials (d=8, N=1000, B=200): 95.5 % basic, 76 % plain percentile (see README).
    gen, real, truth = _gaussians(4)
    trials = 150
    hits = sum(lo <= truth <= hi for _, (lo, hi) in (_fid_interval(gen, real, 400, s) for s in range(trials)))
    rate = hits / trials
    assert 0.90 <= rate <= 0.99, rate


def test_same_seed_same_intervals_other_seed_other_intervals():
    gen, real, _ = _gaussians(4)
    a = _fid_interval(gen, real, 300, 7, replicates=50)
    b = _fid_interval(gen, real, 300, 7, replicates=50)
    c = _fid_interval(gen, real, 300, 8, replicates=50)
    assert a == b and a[1] != c[1]


def test_fid_replicate_equals_fid_of_the_materialised_resample():
    rng = np.random.default_rng(3)
    for n in (50, 300):  # nuclear-norm path (n <= d=64) and covariance path (n > d)
        x, y = rng.normal(size=(n, 64)), rng.normal(size=(n, 64)) + 0.2
        g, r = _feature_set(x), _feature_set(y)
        rs = make_resample(n, n, 3, 0, torch.device("cpu"))
        reps = fid_replicates(g, r, rs.gen, rs.real)["fid"].values
        for b in range(3):
            xb = g.features[torch.repeat_interleave(torch.arange(n), rs.gen[b].long())]
            yb = r.features[torch.repeat_interleave(torch.arange(n), rs.real[b].long())]
            sx, sy = FeatureStats.from_features(xb), FeatureStats.from_features(yb)
            feats = (xb, yb) if n <= 64 else (None, None)
            direct, _ = frechet_distance(sx.mean, sx.cov, sy.mean, sy.cov, *feats)
            assert reps[b] == pytest.approx(direct, rel=1e-6), (n, b)


def test_kid_centre_is_the_unbiased_mmd_of_the_full_sets():
    rng = np.random.default_rng(4)
    g, r = _feature_set(rng.normal(size=(120, 16))), _feature_set(rng.normal(size=(120, 16)) + 0.3)
    rs = make_resample(120, 120, 20, 0, torch.device("cpu"))
    reps = kid_replicates(g, r, rs.gen, rs.real, tile=32)["kid_mean"]
    assert reps.centre == pytest.approx(mmd2_unbiased(g.features.double(), r.features.double()), rel=1e-9)
    assert reps.values.shape == (20,) and np.std(reps.values) > 0


def test_basic_interval_reflects_the_bootstrap_bias():
    reps = Replicates(np.linspace(11.0, 13.0, 101), centre=10.0)  # replicates sit 2 above the sample
    lo, hi = basic_interval(10.0, reps, 0.90)
    assert lo == pytest.approx(10 - (12.9 - 10)) and hi == pytest.approx(10 - (11.1 - 10))


def test_knn_intervals_hold_the_point_and_shrink_with_n():
    rng = np.random.default_rng(5)
    widths = []
    for n in (150, 600):
        g, r = _feature_set(rng.normal(size=(n, 8)) * 1.2), _feature_set(rng.normal(size=(n, 8)))
        ctx = MetricContext(g, r, MetricOptions())
        specs = get_metrics("pr,dc")
        point = compute_metrics(specs, ctx)
        reps = metric_replicates(specs, ctx, make_resample(n, n, 60, 1, torch.device("cpu")))
        for key in ("precision", "recall", "density", "coverage"):
            lo, hi = basic_interval(point[key], reps[key], 0.95)
            assert lo < point[key] < hi, (n, key)
        widths.append(np.subtract(*basic_interval(point["precision"], reps["precision"], 0.95)[::-1]))
    assert widths[1] < widths[0] * 0.8


def test_evaluate_ci_in_result_json_and_table(tmp_path):
    out = tmp_path / "run.json"
    res = run("evaluate", "--gen", "builtin:mnist-train", "--real", "builtin:mnist-heldout", "--extractor", "digits",
               "-n", "300", "--num-real", "300", "-m", "fid,pr,dc", "--ci", "0.9", "--bootstrap", "40",
               "--json", str(out), "-q")
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    assert set(doc["ci"]) == {"fid", "precision", "recall", "density", "coverage"}
    for key, (lo, hi) in doc["ci"].items():
        if key != "fid":
            assert lo <= doc["metrics"][key] <= hi, key
    # Two halves of MNIST: the true FID is ~0, the estimate at N=300 is biased upwards, and the basic
    # interval corrects that bias, so it ends below the point estimate and never below 0.
    lo, hi = doc["ci"]["fid"]
    assert 0 <= lo < hi < doc["metrics"]["fid"]
    assert doc["ci_info"]["level"] == 0.9 and doc["ci_info"]["replicates"] == 40
    assert "90% interval" in res.stdout
    again = gan_eval.evaluate("builtin:mnist-train", "builtin:mnist-heldout", "fid,pr,dc", extractor="digits",
                              num_samples=300, num_real=300, ci=0.9, bootstrap=40, progress=False)
    assert again.ci == doc["ci"]


@pytest.mark.parametrize("args, message", [(["--ci", "1.5"], "--ci"), (["--ci", "0.95", "--bootstrap", "5"], "--bootstrap")])
def test_bad_interval_options_are_refused(tmp_path, args, message):
    res = run("fid", "--gen", "builtin:mnist-train", "--real", "builtin:mnist-heldout", "--extractor", "digits",
              "-n", "50", *args)
    assert res.returncode != 0 and message in res.stderr


def test_fid_only_statistics_file_is_held_fixed(tmp_path):
    stats = tmp_path / "ref.npz"
    gan_eval.compute_statistics("builtin:mnist-heldout", stats, extractor="digits", num_samples=600, fid_only=True,
                                progress=False)
    result = gan_eval.evaluate("builtin:dcgan", str(stats), "fid", extractor="digits", num_samples=600, ci=0.95,
                               bootstrap=40, progress=False)
    lo, hi = result.ci["fid"]
    assert lo < result["fid"] < hi and "fixed" in result.ci_info["resampled"]["fid"]
