"""End-to-end API behaviour with the bundled digits extractor: batch independence, stats files, JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

import gan_eval
from gan_eval.errors import GanEvalError

ALL_KEYS = ["fid", "is_mean", "is_std", "kid_mean", "kid_std", "precision", "recall", "density", "coverage"]
OPTIONS = dict(extractor="digits", num_samples=400, num_real=400, cache=False)


def _all(**kw):
    return gan_eval.evaluate("builtin:mnist-train", "builtin:mnist-heldout", "fid,is,kid,pr,dc",
                             metric_options=gan_eval.metrics.MetricOptions(kid_subset_size=200), **{**OPTIONS, **kw})


def test_results_do_not_depend_on_batch_size():
    a, b = _all(batch_size=7), _all(batch_size=128)
    for key in ALL_KEYS:
        assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-7), key


def test_real_digits_score_as_close_and_shuffled_pixels_as_far():
    good = _all()
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (400, 28, 28), dtype=np.uint8)
    bad = gan_eval.evaluate(noise, "builtin:mnist-heldout", "fid,is,pr", extractor="digits", num_real=400, cache=False)
    assert good["fid"] < bad["fid"] / 10
    assert good["precision"] > 0.6 and bad["precision"] < 0.05
    assert good["is_mean"] > 8.0  # ten well-separated classes; the closed-form maximum is 10


def test_json_schema_has_only_requested_metrics(tmp_path):
    result = gan_eval.evaluate("builtin:mnist-train", "builtin:mnist-heldout", ["fid", "pr"], **OPTIONS)
    path = tmp_path / "out.json"
    result.to_json(path)
    doc = json.loads(path.read_text())
    assert set(doc) == {"schema", "metrics", "provenance"} and doc["schema"] == "gan-eval/result/1"
    assert list(doc["metrics"]) == ["fid", "precision", "recall"]
    p = doc["provenance"]
    for key in ("extractor", "weights_sha256", "preprocessing", "n_gen", "n_real", "seed", "device", "versions",
                "wall_time_s", "metric_options"):
        assert key in p, key
    assert p["n_gen"] == p["n_real"] == 400 and p["extractor"] == "digits" and len(p["weights_sha256"]) == 64
    assert set(p["versions"]) >= {"gan_eval", "torch", "torch_fidelity"}


def test_stats_file_reused_as_real(tmp_path):
    path = tmp_path / "ref.npz"
    meta = gan_eval.compute_statistics("builtin:mnist-heldout", path, extractor="digits", num_samples=400, cache=False)
    assert meta["n"] == 400
    direct = gan_eval.evaluate("builtin:mnist-train", "builtin:mnist-heldout", ["fid", "kid", "pr"],
                               metric_options=gan_eval.metrics.MetricOptions(kid_subset_size=200), **OPTIONS)
    via_file = gan_eval.evaluate("builtin:mnist-train", str(path), ["fid", "kid", "pr"],
                                 metric_options=gan_eval.metrics.MetricOptions(kid_subset_size=200), **OPTIONS)
    for key in direct.metrics:
        assert via_file[key] == pytest.approx(direct[key], rel=1e-9), key
    with np.load(path) as data:  # pytorch-fid/TTUR readers find their keys
        assert data["mu"].shape == (128,) and data["sigma"].shape == (128, 128)


def test_fid_only_stats_refuse_feature_metrics_and_other_extractors(tmp_path, inception_weights):
    path = tmp_path / "ref.npz"
    gan_eval.compute_statistics("builtin:mnist-heldout", path, extractor="digits", num_samples=300, fid_only=True,
                                cache=False)
    assert gan_eval.evaluate("builtin:mnist-train", str(path), ["fid"], **OPTIONS)["fid"] > 0
    with pytest.raises(GanEvalError, match="only mean and covariance"):
        gan_eval.evaluate("builtin:mnist-train", str(path), ["kid"], **OPTIONS)
    with pytest.raises(GanEvalError, match="extractor 'digits'"):
        gan_eval.evaluate("builtin:mnist-train", str(path), ["fid"], extractor="inception-v3-compat",
                          weights=inception_weights, num_samples=4, cache=False)


def test_rank_deficiency_warns_but_computes():
    with pytest.warns(UserWarning, match="rank-deficient"):
        result = gan_eval.evaluate("builtin:mnist-train", "builtin:mnist-heldout", ["fid"], extractor="digits",
                                   num_samples=50, num_real=60, cache=False)
    assert result["fid"] > 0 and result.provenance["fid_method"] == "nuclear-norm"


def test_metric_and_extractor_names_are_validated():
    with pytest.raises(GanEvalError, match="unknown metric"):
        gan_eval.evaluate("builtin:mnist-train", "builtin:mnist-heldout", "fid,swd", **OPTIONS)
    with pytest.raises(GanEvalError, match="unknown extractor"):
        gan_eval.evaluate("builtin:mnist-train", "builtin:mnist-heldout", "fid", extractor="vgg", cache=False)
    with pytest.raises(GanEvalError, match="need a real reference"):
        gan_eval.evaluate("builtin:mnist-train", None, "fid", **OPTIONS)
