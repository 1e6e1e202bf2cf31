"""The training-loop evaluator: the same numbers as ``evaluate``, whatever the batches, memory as needed."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import gan_eval
from gan_eval.mnist import load_mnist

METRICS = "fid,is,kid,pr,dc"
N = 300
COMMON = {"extractor": "digits", "cache": False, "progress": False}


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    train, _ = load_mnist("train")
    heldout, _ = load_mnist("heldout")
    return train[:N], heldout[:N]


def _close(a: dict[str, float], b: dict[str, float], rel: float = 1e-10) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert math.isclose(a[key], b[key], rel_tol=rel, abs_tol=1e-12), (key, a[key], b[key])


def _feed(ev: gan_eval.Evaluator, images: np.ndarray, sizes: list[int], as_float: bool = False) -> None:
    tensor = torch.from_numpy(images)
    start = 0
    while start < len(images):
        for size in sizes:
            batch = tensor[start:start + size]
            if as_float:  # the training-loop case: floats in [-1, 1], N×1×H×W
                ev.update(batch.float().unsqueeze(1) / 127.5 - 1, value_range=(-1, 1))
            elif len(batch):
                ev.update(batch)
            start += size


def test_evaluator_equals_evaluate_whatever_the_batch_sizes(digits) -> None:
    gen, real = digits
    reference = gan_eval.evaluate(gen, real, METRICS, **COMMON)
    for sizes, as_float in (([7, 50, 243], False), ([1, 64], True), ([N], False)):
        ev = gan_eval.Evaluator(METRICS, real=real, **COMMON)
        _feed(ev, gen, sizes, as_float)
        result = ev.compute()
        _close(result.metrics, reference.metrics)
        assert result.provenance["n_gen"] == N and result.provenance["n_real"] == N


def test_reset_keeps_the_reference_and_a_second_compute_repeats(digits) -> None:
    gen, real = digits
    ev = gan_eval.Evaluator("fid,pr", real=real, **COMMON)
    _feed(ev, gen, [100])
    first = ev.compute()
    assert ev.compute().metrics == first.metrics  # compute does not consume anything
    ev.reset()
    assert ev.num_generated == 0
    with pytest.raises(gan_eval.GanEvalError, match="at least 2"):
        ev.compute()
    _feed(ev, gen, [33])
    assert ev.compute().metrics == first.metrics
    ev.reset(real=True)
    _feed(ev, gen, [100])
    with pytest.raises(gan_eval.GanEvalError, match="need a real reference"):
        ev.compute()


def test_streamed_reference_equals_a_given_one(digits) -> None:
    gen, real = digits
    given = gan_eval.Evaluator("fid,kid,pr,dc", real=real, **COMMON)
    streamed = gan_eval.Evaluator("fid,kid,pr,dc", **COMMON)
    _feed(given, gen, [128])
    _feed(streamed, gen, [128])
    for start in range(0, N, 90):
        streamed.update(torch.from_numpy(real[start:start + 90]), real=True)
    _close(streamed.compute().metrics, given.compute().metrics)


def test_memory_holds_only_what_the_metrics_need(digits) -> None:
    gen, real = digits
    dim = 128  # the digits network's feature size; N = 300 > dim
    fid_only = gan_eval.Evaluator("fid", real=real, **COMMON)
    _feed(fid_only, gen, [50])
    fid = fid_only.compute()["fid"]
    assert fid_only.held_feature_rows == 0  # float64 sums only: constant in N
    assert math.isclose(fid, gan_eval.evaluate(gen, real, "fid", **COMMON)["fid"], rel_tol=1e-10)
    small = gan_eval.Evaluator("fid", real=real, **COMMON)
    _feed(small, gen[:dim], [50])
    small.compute()
    assert small.held_feature_rows == dim  # N <= d: FID is computed exactly from the features
    knn = gan_eval.Evaluator("fid,pr", real=real, **COMMON)
    _feed(knn, gen, [50])
    knn.compute()
    assert knn.held_feature_rows == N


def test_intervals_match_evaluate(digits) -> None:
    gen, real = digits
    options = gan_eval.Options(ci=0.9, bootstrap=20, **COMMON)
    reference = gan_eval.evaluate(gen, real, "fid,pr", options)
    ev = gan_eval.Evaluator("fid,pr", real=real, options=options)
    _feed(ev, gen, [77])
    result = ev.compute()
    _close(result.metrics, reference.metrics)
    assert result.ci.keys() == reference.ci.keys() == {"fid", "precision", "recall"}
    for key in result.ci:
        assert np.allclose(result.ci[key], reference.ci[key], rtol=1e-10)


def test_bad_updates_are_one_line_errors(digits) -> None:
    gen, real = digits
    ev = gan_eval.Evaluator("fid", real=real, **COMMON)
    with pytest.raises(gan_eval.GanEvalError, match="value range"):
        ev.update(torch.rand(4, 1, 28, 28))
    with pytest.raises(gan_eval.GanEvalError, match="NaN"):
        ev.update(torch.full((4, 1, 28, 28), float("nan")), value_range=(0, 1))
    with pytest.raises(gan_eval.GanEvalError, match="already has a reference"):
        ev.update(torch.from_numpy(gen[:4]), real=True)
