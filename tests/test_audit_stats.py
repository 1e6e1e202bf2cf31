"""Audit statistics against planted ground truth: the course's covariance check, interval coverage,
classifier-error correction, absent classes, thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from gan_eval.attributes import AttributeSpec
from gan_eval.audit import Thresholds, top_covariances
from gan_eval.audit import representation as rep
from gan_eval.audit.stats import correct_proportions, row_normalise
from gan_eval.errors import GanEvalError

COURSE_COV = np.array([[10, 2, -0.5, -5], [2, 11, 5, 4], [-0.5, 5, 10, 2], [-5, 4, 2, 11]], dtype=float)


def test_course_4d_covariance_check():
    """GANs course C2W2 unit test (notes a.2 step 10): 60×128 draws of a 4-D Gaussian, tolerance 0.5."""
    rng = np.random.default_rng(0)
    changes = rng.multivariate_normal(np.zeros(4), COURSE_COV, size=60 * 128).reshape(60, 128, 4)
    idx, cov = top_covariances(changes, 1)
    assert list(idx) == [2, 3, 0] and np.allclose(cov, [5, 4, 2], atol=0.5)
    idx, cov = top_covariances(changes, 0)
    assert list(idx) == [3, 1, 2] and np.allclose(cov, [-5, 2, -0.5], atol=0.5)  # the negative sign survives
    idx, _ = top_covariances(changes, 2, top_n=2)
    assert list(idx) == [1, 3]
    idx, cov = top_covariances(changes, 3, top_n=2)
    assert list(idx) == [0, 1] and np.allclose(cov, [-5, 4], atol=0.5)


SPEC = AttributeSpec("digit", "categorical", tuple(str(i) for i in range(10)))
P_TRUE = np.array([0.09, 0.27, 0.09, 0.09, 0.09, 0.09, 0.09, 0.0, 0.09, 0.10])


def test_raw_intervals_cover_known_proportions_jointly():
    """Simultaneous 95 % Wilson intervals: all 10 levels covered at once in ≥ 90 % of 100 seeds."""
    covered = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        codes = rng.choice(10, size=1000, p=P_TRUE)
        rows, _ = rep.categorical(SPEC, codes, None, None, None, bootstrap=20, level=0.95, parity_tau=0.8, rng=rng)
        covered += all(r["p_generated_lo"] <= p <= r["p_generated_hi"] for r, p in zip(rows, P_TRUE))
    assert covered >= 90, covered


def test_confusion_correction_removes_classifier_bias_with_coverage():
    """Noisy oracle: labels corrupted by a known confusion matrix. Naive proportions are biased toward
    the mixing; corrected ones are unbiased and their simultaneous intervals cover the truth."""
    k = 10
    conf = np.full((k, k), 0.15 / (k - 1))
    np.fill_diagonal(conf, 0.85)
    covered, naive_err, corrected_err = 0, [], []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        true = rng.choice(k, size=3000, p=P_TRUE)
        pred = np.array([rng.choice(k, p=conf[t]) for t in true])
        val_true = np.repeat(np.arange(k), 300)
        val_pred = np.array([rng.choice(k, p=conf[t]) for t in val_true])
        counts = np.bincount(val_true * k + val_pred, minlength=k * k).reshape(k, k)
        rows, _ = rep.categorical(SPEC, pred, None, counts, None, bootstrap=100, level=0.95, parity_tau=0.8, rng=rng)
        p_corr = np.array([r["p_corrected"] for r in rows])
        p_raw = np.array([r["p_generated"] for r in rows])
        naive_err.append(p_raw[1] - P_TRUE[1])
        corrected_err.append(p_corr[1] - P_TRUE[1])
        covered += all(r["p_corrected_lo"] - 1e-9 <= p <= r["p_corrected_hi"] + 1e-9 for r, p in zip(rows, P_TRUE))
    assert np.mean(naive_err) < -0.025  # mixing pulls the common class toward the others
    assert abs(np.mean(corrected_err)) < 0.01
    assert covered >= 34, covered  # ≥ 85 % of 40 seeds (nominal ≥ 95 %)


def test_perfect_confusion_is_identity_and_absent_class_counts():
    p = np.array([0.5, 0.5, 0.0])
    assert np.allclose(correct_proportions(p, np.eye(3)), p)
    assert np.allclose(row_normalise(np.zeros((2, 2))), np.eye(2))
    spec = AttributeSpec("c", "categorical", ("a", "b", "c"))
    codes = np.array([0] * 50 + [1] * 50)  # level "c" never generated
    rows, dist = rep.categorical(spec, codes, None, None, None, bootstrap=20, level=0.95, parity_tau=0.8,
                                 rng=np.random.default_rng(0))
    assert [r["count"] for r in rows] == [50, 50, 0]
    # L2 to uniform includes the missing class's (0 − 1/3) term: sqrt(2·(1/6)² + (1/3)²)
    assert dist["l2_fd"] == pytest.approx(np.sqrt(2 * (1 / 6) ** 2 + (1 / 3) ** 2))
    assert dist["tv"] == pytest.approx(1 / 3) and dist["levels_never_generated"] == 1


def test_thresholds_override_and_validation():
    assert Thresholds.from_overrides({"tv_fail": "0.3"}).tv_fail == 0.3
    with pytest.raises(GanEvalError, match="unknown threshold"):
        Thresholds.from_overrides({"tv_fial": 0.3})
    with pytest.raises(GanEvalError, match="parity_tau"):
        Thresholds.from_overrides({"parity_tau": 2})
