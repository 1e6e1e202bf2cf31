"""The audit end to end in Python, on generators with planted ground truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from audit_toys import BIASED_P, BlockAttributes, BlockToy, ProportionalDigits
from gan_eval.reports.audit_html import write_audit
from toy_generators import ResampleDigits

import gan_eval
from gan_eval.attributes import (
    AttributeSet,
    register_attribute_extractor,
    unregister_attribute_extractor,
)
from gan_eval.audit.walks import latent_model, run_walk
from gan_eval.errors import GanEvalError
from gan_eval.mnist import load_mnist

MARGINAL_COLUMNS = ["attribute", "level", "p_generated", "p_generated_lo", "p_generated_hi", "p_reference"]


@pytest.fixture(scope="module")
def biased_audit():
    return gan_eval.audit(ProportionalDigits(), "builtin:mnist-heldout", "digits", num_samples=2000, num_real=1000,
                          bootstrap=200, seed=1)


def test_resampling_generator_proportions_within_intervals(biased_audit, tmp_path):
    m = biased_audit.tables["marginals"]
    assert list(m["level"]) == [str(i) for i in range(10)]  # every level, including the never-generated 7
    inside = (m["p_corrected_lo"] <= BIASED_P) & (BIASED_P <= m["p_corrected_hi"])
    assert inside.all(), m[["level", "p_corrected", "p_corrected_lo", "p_corrected_hi"]]
    assert m.loc[7, "p_corrected"] < 0.01 and m.loc[1, "p_corrected"] == pytest.approx(0.27, abs=0.03)
    assert biased_audit.verdict == "FAIL"
    ids = {f["id"]: f for f in biased_audit.findings}
    assert ids["representation.digit"]["status"] == "FAIL"  # TV ≈ 0.17 with its lower bound above 0.15
    assert ids["representation.digit.1.parity"]["status"] == "WARN"
    assert biased_audit.summary["metrics"]["tv_digit"] == pytest.approx(0.5 * np.abs(BIASED_P - 0.1).sum(), abs=0.03)
    out = write_audit(biased_audit, tmp_path / "audit")
    csv = pd.read_csv(out / "marginals.csv")
    assert list(csv.columns[:6]) == MARGINAL_COLUMNS  # the required columns, first and in order
    assert len(csv) == 10
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"] == "FAIL" and summary["findings"]
    from gan_eval.gate import validate_result

    validate_result(summary)  # summary.json is a valid result document for `gan-eval gate`
    assert summary["ci"]["tv_digit"][0] <= summary["metrics"]["tv_digit"] <= summary["ci"]["tv_digit"][1]


def test_gate_rules_fail_the_audit(biased_audit, tmp_path):
    rules = tmp_path / "gates.toml"
    rules.write_text('[[rule]]\nmetric = "tv_digit"\nmax = 0.05\njudge = "interval"\n'
                     '[[rule]]\nmetric = "validation_accuracy_digit"\nmin = 0.95\n')
    result = gan_eval.audit(ProportionalDigits(), "builtin:mnist-heldout", "digits", num_samples=300, num_real=300,
                            bootstrap=50, thresholds={"tv_fail": 1.0, "tv_warn": 1.0, "parity_tau": 0.01}, rules=rules)
    gate = [f for f in result.findings if f["section"] == "gate"]
    assert [f["status"] for f in gate] == ["FAIL", "PASS"] and result.verdict == "FAIL"
    bad = tmp_path / "regression.toml"
    bad.write_text('[[rule]]\nmetric = "tv_digit"\nmax_regression = 0.1\n')
    with pytest.raises(GanEvalError, match="regress"):  # regression rules need a baseline an audit lacks
        gan_eval.audit(ProportionalDigits(), "builtin:mnist-heldout", "digits", rules=bad)


def test_unbiased_generator_intervals_cover_zero():
    """Held-out digits resampled uniformly vs a random 1000 of the other half of MNIST: the same distribution.

    (A random subset, not the first 1000: MNIST's test set is ordered by writer population, and the
    audit rightly flags the first 1000 as thinner-stroked than the whole.)"""
    real = load_mnist("train")[0][np.random.default_rng(0).choice(5000, 1000, replace=False)]
    result = gan_eval.audit(ResampleDigits(), real, "digits,morphometry", num_samples=1000, bootstrap=200, seed=3)
    m = result.tables["marginals"]
    assert ((m["diff_lo"] <= 0) & (m["diff_hi"] >= 0)).all(), m[["level", "diff", "diff_lo", "diff_hi"]]
    c = result.tables["correlations"]
    assert len(c) == 10 * 6 + 15
    assert ((c["corr_delta_lo"] <= 0) & (c["corr_delta_hi"] >= 0)).all(), c.sort_values("corr_delta").iloc[[0, -1]]
    assert result.verdict == "PASS", [f["message"] for f in result.findings if f["status"] != "PASS"]
    assert any("no latent codes" in n for n in result.notes) and not result.walks


@pytest.mark.parametrize("differentiable", [True, False], ids=["gradient", "boundary"])
def test_walk_ranks_the_coupled_pair_first(differentiable):
    """BlockToy: latent z0 drives b0 and b1 together; b2, b3 do not depend on it."""
    attrs = AttributeSet([BlockAttributes(differentiable)])
    walk = run_walk(latent_model(BlockToy()), attrs, "b0", n_images=48, steps=6, step_size=0.3, n_fit=600,
                    bootstrap=200, seed=0)
    assert walk.mode == ("gradient" if differentiable else "boundary")
    rows = {r["other"]: r for r in walk.rows}
    assert walk.rows[0]["other"] == "b1" and walk.rows[0]["rank"] == 1
    assert 0.3 < rows["b1"]["slope"] < 1.2 and rows["b1"]["slope_lo"] > 0 and rows["b1"]["p_value_adj"] < 0.01
    for other in ("b2", "b3"):
        if differentiable:  # they move (interaction term) but are not coupled: intervals cover zero
            assert np.abs(walk.changes[:, :, attrs.score_names.index(other)]).max() > 0.05
            assert rows[other]["slope_lo"] <= 0 <= rows[other]["slope_hi"], rows[other]
            assert rows[other]["cov_lo"] <= 0 <= rows[other]["cov_hi"]
        else:  # a fixed SVM direction: its small off-axis components move b2/b3 a little, deterministically
            assert abs(rows[other]["slope"]) < 0.1 * rows["b1"]["slope"], rows[other]
    assert walk.info["target_change_plus"] > 0 > walk.info["target_change_minus"]
    assert walk.changes.shape == (12, 48, 4) and walk.strip.shape[:2] == (4, 13)
    if not differentiable:
        assert walk.info["svm_val_accuracy"] > 0.75  # ≈ 0.85 is the best a linear boundary can do here


def test_invalid_input_fails_before_work(tmp_path):
    with pytest.raises(GanEvalError, match="unknown threshold"):
        gan_eval.audit("builtin:dcgan", "builtin:mnist-heldout", thresholds={"nope": 1})
    with pytest.raises(GanEvalError, match="walk target 'digit=11'"):
        gan_eval.audit("builtin:dcgan", "builtin:mnist-heldout", walk_targets="digit=11")
    with pytest.raises(GanEvalError, match="not a categorical attribute"):
        gan_eval.audit("builtin:dcgan", None, "digits", reference={"thickness": {"a": 1}})
    with pytest.raises(GanEvalError, match="does not exist"):
        gan_eval.audit(str(tmp_path / "missing.safetensors"), None, "digits")


def test_cli_errors_are_one_line_and_write_nothing(tmp_path):
    from test_cli import run

    out = tmp_path / "never"
    for args, message in ((["--threshold", "tv_fial=1"], "unknown threshold"),
                          (["--attributes", "digits,nope"], "unknown attribute extractor 'nope'")):
        proc = run("audit", "--gen", "builtin:dcgan", "--real", "builtin:mnist-heldout", "-o", str(out), *args)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1 and message in lines[0], proc.stderr
        assert not out.exists()
    (tmp_path / "file").write_text("x")
    proc = run("audit", "--gen", "builtin:dcgan", "-o", str(tmp_path / "file"))
    assert proc.returncode == 2 and "is a file" in proc.stderr  # a usage error (click), before any work


def test_same_seed_same_audit():
    """Every random draw (sampling, bootstrap, walks, SVM) is seeded: a rerun gives identical numbers."""
    register_attribute_extractor("blocks-seed")(lambda arg, device: BlockAttributes(differentiable=False))
    try:
        real = BlockToy().sample(200, torch.Generator().manual_seed(5))
        runs = [gan_eval.audit(BlockToy(), (real * 255).round().byte(), "blocks-seed", num_samples=200, bootstrap=30,
                               walk_images=8, walk_steps=2, seed=7) for _ in range(2)]
    finally:
        unregister_attribute_extractor("blocks-seed")
    assert runs[0].summary["metrics"] == runs[1].summary["metrics"] and runs[0].summary["ci"] == runs[1].summary["ci"]
    assert runs[0].tables["walks"].equals(runs[1].tables["walks"])


def test_audit_time_validation_labels_replace_the_extractors_confusion(tmp_path):
    import csv

    from gan_eval.testing import write_digits

    data = write_digits(tmp_path / "val", "heldout", 300)
    labels = load_mnist("heldout")[1][:300]
    with open(tmp_path / "labels.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "digit"])
        writer.writerows([f"{i:04d}.png", int(lab)] for i, lab in enumerate(labels))
    result = gan_eval.audit(ProportionalDigits(), None, "digits", num_samples=300, bootstrap=30,
                            validation=(data, tmp_path / "labels.csv"))
    conf = result.representation.confusions["digit"]
    assert conf.sum() == 300 and np.trace(conf) >= 290
    assert "given for this audit" in result.tables["validity"]["source"].iloc[0]
    (tmp_path / "bad.csv").write_text("file,Male\n0000.png,1\n")
    with pytest.raises(GanEvalError, match="Male name no categorical/binary attribute"):
        gan_eval.audit(ProportionalDigits(), None, "digits", validation=(data, tmp_path / "bad.csv"))
