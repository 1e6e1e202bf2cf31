"""Paired comparison of two generators on one reference: verdicts on planted differences."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_cli import run

from gan_eval.compare import compare, verdict
from gan_eval.errors import GanEvalError
from gan_eval.mnist import load_mnist

COMMON = {"extractor": "digits", "num_real": 600, "bootstrap": 60, "progress": False}


def _digits(start: int, n: int, noise: float = 0.0) -> np.ndarray:
    images = load_mnist("train")[0][start:start + n].astype(np.float64)
    if noise:
        images = images + np.random.default_rng(0).normal(0, noise, images.shape)
    return np.clip(images, 0, 255).astype(np.uint8)


def test_verdict_follows_the_metric_direction():
    assert verdict(-1, [0.5, 2.0]) == "worse" and verdict(-1, [-2.0, -0.5]) == "better"
    assert verdict(1, [0.5, 2.0]) == "better" and verdict(1, [-2.0, -0.5]) == "worse"
    assert verdict(1, [-0.1, 0.2]) == "no significant difference" and verdict(None, [1, 2]) == "differs"


def test_planted_degradation_is_worse_and_equal_halves_do_not_differ():
    clean_a, clean_b = _digits(0, 400), _digits(400, 400)
    noisy = _digits(800, 400, noise=60)
    same = compare(clean_a, clean_b, "builtin:mnist-heldout", "fid,pr", **COMMON)
    for key, d in same.differences.items():
        assert d.verdict == "no significant difference", (key, d)
        assert d.interval[0] < 0 < d.interval[1]
    worse = compare(clean_a, noisy, "builtin:mnist-heldout", "fid,pr,dc", **COMMON)
    assert worse.differences["fid"].verdict == "worse" and worse.differences["fid"].interval[0] > 0
    assert worse.differences["precision"].verdict == "worse"
    assert worse.provenance["n_real"] == 600 and worse.provenance["n_gen"] == [400, 400]


def test_same_seed_same_intervals():
    a = compare(_digits(0, 300), _digits(300, 300, noise=30), "builtin:mnist-heldout", "fid", **COMMON)
    b = compare(_digits(0, 300), _digits(300, 300, noise=30), "builtin:mnist-heldout", "fid", **COMMON)
    assert a.differences["fid"].interval == b.differences["fid"].interval


def test_fid_inf_is_refused():
    with pytest.raises(GanEvalError, match=r"not fid_inf \(FID∞.*a paired comparison needs resampling replicates"):
        compare(_digits(0, 50), _digits(50, 50), "builtin:mnist-heldout", "fid_inf", **COMMON)


def test_cli_compare_writes_json(tmp_path):
    out = tmp_path / "cmp.json"
    proc = run("compare", "--gen", "builtin:dcgan", "--gen", "builtin:gan", "--real", "builtin:mnist-heldout",
               "--extractor", "digits", "-n", "300", "--num-real", "600", "--bootstrap", "40", "-m", "fid,pr",
               "--json", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["schema"] == "gan-eval/compare/1" and doc["difference"]["fid"]["verdict_for_b"] == "worse"
    assert doc["difference"]["fid"]["b_minus_a"] == pytest.approx(doc["b"]["metrics"]["fid"] - doc["a"]["metrics"]["fid"])
    assert "worse" in proc.stdout
    bad = run("compare", "--gen", "builtin:dcgan", "--real", "builtin:mnist-heldout", "--extractor", "digits")
    assert bad.returncode == 1 and "exactly two --gen" in bad.stderr
