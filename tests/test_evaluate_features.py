"""gan_eval.evaluate_features: metrics and intervals from feature arrays the caller already has."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm

import gan_eval
from gan_eval.errors import GanEvalError


def _pair(n: int = 200, d: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * 1.1 + 0.2, rng.normal(size=(n, d))


def test_fid_equals_the_closed_form_of_the_sample_moments_and_kid_pr_match_the_evaluator_path():
    gen, real = _pair()
    result = gan_eval.evaluate_features(gen, real, ["fid", "kid", "pr", "dc"])
    m1, m2, s1, s2 = gen.mean(0), real.mean(0), np.cov(gen.T), np.cov(real.T)
    expected = ((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(sqrtm(s1 @ s2)).real
    assert result["fid"] == pytest.approx(expected, rel=1e-8)
    # The same records compute the other metrics: compare with their functions on the same tensors.
    from gan_eval.metrics.knn import density_coverage, precision_recall

    g, r = torch.from_numpy(gen), torch.from_numpy(real)
    assert (result["precision"], result["recall"]) == precision_recall(g, r)
    assert (result["density"], result["coverage"]) == density_coverage(g, r)
    assert result.provenance["extractor"] is None and "supplied" in result.provenance["features"]
    assert result.provenance["n_gen"] == 200 and result.provenance["feature_dim"] == 12
    assert result.ci == {}


def test_intervals_state_their_target_and_contain_the_point():
    from gan_eval.metrics import MetricOptions

    gen, real = _pair(300)
    few = MetricOptions(kid_subsets=5)  # at N <= 1000 every KID subset is the whole set
    result = gan_eval.evaluate_features(torch.from_numpy(gen).float(), real.astype(np.float32), "fid,kid,pr",
                                        ci=0.9, bootstrap=100, seed=3, metric_options=few)
    assert set(result.ci) == {"fid", "kid_mean", "precision", "recall"}
    for key, (lo, hi) in result.ci.items():
        assert lo < result[key] < hi, key
    assert result.ci_info["groups"] == 10 and result.ci_info["target"]["fid"] == "mean of the estimator at N=300"
    again = gan_eval.evaluate_features(gen.astype(np.float32), real.astype(np.float32), "fid,kid,pr", ci=0.9,
                                       bootstrap=100, seed=3, metric_options=few)
    assert again.ci == result.ci


def test_inception_score_takes_gen_logits_and_fid_inf_states_a_population_target():
    rng = np.random.default_rng(1)
    gen, real = _pair(400, 4)
    logits = rng.normal(size=(400, 10)) * 3
    result = gan_eval.evaluate_features(gen, real, ["is", "fid_inf"], gen_logits=logits, ci=0.95, bootstrap=100)
    from gan_eval.metrics.inception_score import inception_score

    assert result["is_mean"] == pytest.approx(inception_score(torch.from_numpy(logits), 10, result.provenance["seed"])[0])
    assert result.ci_info["target"]["fid_inf"].startswith("population")
    assert result.ci_info["target"]["is_mean"].startswith("mean of the estimator")


def test_integer_features_are_accepted_and_a_tensor_stays_on_its_device():
    gen, real = _pair()
    result = gan_eval.evaluate_features((gen * 10).astype(np.int64), (real * 10).astype(np.int64), "fid")
    assert result["fid"] > 0 and result.provenance["device"] == "cpu"


def test_half_precision_features_are_computed_in_float32():
    # KID's kernel products and the k-NN distances run in the features' precision: float16 would
    # round x·y to 3 digits, so half-precision input is promoted first.
    gen, real = _pair()
    full = gan_eval.evaluate_features(gen.astype(np.float32), real.astype(np.float32), "kid,pr")
    half = gan_eval.evaluate_features(gen.astype(np.float16), real.astype(np.float16), "kid,pr")
    rounded = gan_eval.evaluate_features(gen.astype(np.float16).astype(np.float32),
                                         real.astype(np.float16).astype(np.float32), "kid,pr")
    assert half.metrics == rounded.metrics
    assert half["kid_mean"] == pytest.approx(full["kid_mean"], rel=1e-2)


@pytest.mark.parametrize("args, kwargs, message", [
    ((np.zeros(10), np.zeros((10, 2))), {}, "must be 2-D"),
    ((np.zeros((10, 3)), np.zeros((10, 2))), {}, "feature dimensions differ"),
    ((np.full((10, 2), np.nan), np.zeros((10, 2))), {}, "NaN or infinite"),
    ((np.zeros((1, 2)), np.zeros((10, 2))), {}, "at least 2 rows"),
    ((np.zeros((10, 2)), None), {}, "need real features"),
    ((np.zeros((10, 2)), np.zeros((10, 2))), {"metrics": "fidd"}, "unknown metric"),
    ((np.zeros((10, 2)), np.zeros((10, 2))), {"metrics": "is"}, "gen_logits"),
    ((np.zeros((10, 2)), np.zeros((10, 2))), {"metrics": "is", "gen_logits": np.zeros((9, 3))}, "9 rows"),
    ((np.zeros((10, 2)), np.zeros((10, 2))), {"metrics": "psnr"}, "compare images"),
    ((np.array([["a", "b"]] * 3), np.zeros((3, 2))), {}, "must hold numbers"),
    ((np.zeros((10, 2)), np.zeros((10, 2))), {"ci": 1.5}, "--ci"),
    ((np.eye(3), np.eye(3)), {"metrics": "pr"}, "more than k=3 generated samples, got 3"),
    ((np.eye(5), np.eye(5)), {"metrics": "dc"}, "more than k=5 generated samples, got 5"),
    # 10 samples in 10 jackknife groups: a half-sample keeps 5 = k, too few for density's radii
    ((np.eye(10), np.eye(10)), {"metrics": "dc", "ci": 0.95}, "k=5 generated samples in each half-sample, got 5"),
])
def test_bad_inputs_are_one_line_errors(args, kwargs, message):
    with pytest.raises(GanEvalError, match=message) as caught:
        gan_eval.evaluate_features(*args, **kwargs)
    assert "\n" not in str(caught.value)


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="evaluate_features"):
        gan_eval.evaluate_features(np.zeros((10, 2)), np.zeros((10, 2)), extractorr="x")
