"""One record per metric: a metric registered from outside the package reaches every consumer, the
built-in records say what the old scattered tables said, and reading records stays light."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import gan_eval.cli
from gan_eval import gate
from gan_eval.errors import GanEvalError
from gan_eval.intervals import Replicates, Resample, metric_intervals
from gan_eval.metrics import (
    MetricContext,
    MetricKey,
    MetricOptions,
    MetricSpec,
    available_metrics,
    canonical_key,
    compute_metrics,
    get_metrics,
    metric_direction,
    metric_label,
    metric_short_label,
    register_metric,
    unregister_metric,
)
from gan_eval.statistics import FeatureSet, FeatureStats

# --- a toy metric, defined and registered here, outside the package --------------------------------


def _gap(ctx: MetricContext) -> dict[str, float]:
    """Distance between the two sides' feature means (lower is better)."""
    return {"toy_gap": float((ctx.gen.stats.mean - ctx.real.stats.mean.to(ctx.gen.stats.device)).norm())}


def _gap_replicates(ctx: MetricContext, rs: Resample) -> dict[str, Replicates]:
    xg, xr = ctx.gen.features.double(), ctx.real.features.double().to(ctx.gen.features.device)
    mean_g = rs.gen @ xg / ctx.gen.n  # one weighted mean per resample (rows of counts)
    mean_r = rs.real @ xr / ctx.real.n
    values = (mean_g - mean_r).norm(dim=1).cpu().numpy()
    return {"toy_gap": Replicates(values, float((xg.mean(0) - xr.mean(0)).norm()))}


TOY = MetricSpec(
    name="toytest/gap",
    keys=(MetricKey("toy_gap", "Toy mean gap", direction=-1, range=(0.0, math.inf), short="Gap"),),
    compute=_gap,
    needs=("features",),
    convention="Euclidean distance between the feature means",
    resample=_gap_replicates,
    interval_note="both sides resampled (toy)",
)


@pytest.fixture
def toy_metric():
    register_metric(TOY)
    try:
        yield TOY
    finally:
        unregister_metric(TOY.name)
    assert TOY.name not in available_metrics()


def test_a_metric_registered_outside_reaches_json_intervals_table_and_gate(toy_metric, tmp_path):
    out = tmp_path / "run.json"
    args = ["evaluate", "--extractor", "digits", "--gen", "builtin:mnist-train", "--real", "builtin:mnist-heldout",
            "-n", "200", "--num-real", "200", "--no-cache", "-m", f"fid,{TOY.name}", "--ci", "0.9",
            "--bootstrap", "20", "--json", str(out), "-q"]
    res = CliRunner().invoke(gan_eval.cli.main, args)
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    # evaluate --json: the value, under the record's key, after fid (the requested order)
    assert list(doc["metrics"]) == ["fid", "toy_gap"] and doc["metrics"]["toy_gap"] > 0
    # the intervals: bootstrapped by the record's resampler, described by its note
    lo, hi = doc["ci"]["toy_gap"]
    assert 0 <= lo < hi and lo <= doc["metrics"]["toy_gap"] * 1.5
    assert doc["ci_info"]["resampled"]["toy_gap"] == "both sides resampled (toy)"
    assert "no_interval" not in doc["ci_info"]
    # the terminal table: the record's label
    assert "Toy mean gap" in res.output

    # the gate: a default rule for the key, judged with the record's direction (lower is better)
    assert metric_direction("toy_gap") == -1
    rules = gate.default_rules(doc, doc)
    toy_rule = next(r for r in rules if r.metric == "toy_gap")
    assert toy_rule.judge == "interval" and toy_rule.max_regression == 0.0
    worse, better = copy.deepcopy(doc), copy.deepcopy(doc)
    for run, shift in ((worse, hi - lo + 1.0), (better, -(hi - lo) - 0.5 * lo)):
        run["metrics"]["toy_gap"] += shift
        run["ci"]["toy_gap"] = [b + shift for b in run["ci"]["toy_gap"]]
    assert gate.judge_rule(toy_rule, worse, doc).status == gate.FAIL
    assert gate.judge_rule(toy_rule, better, doc).status == gate.PASS


def test_unregistered_toy_is_gone_from_every_reader():
    assert TOY.name not in available_metrics()
    assert metric_direction("toy_gap") is None and metric_label("toy_gap") == "toy_gap"
    with pytest.raises(GanEvalError, match="unknown metric"):
        get_metrics(TOY.name)


# --- the built-in records say what the old tables said ---------------------------------------------

#: The tables that lived in metrics/__init__.py, intervals.py, reports/table.py and reports/sweep_report.py.
OLD_DIRECTIONS = {
    "fid": -1, "fid_inf": -1, "kid_mean": -1, "l1": -1, "class_balance_tv": -1,
    "is_mean": 1, "is_inf": 1, "precision": 1, "recall": 1, "density": 1, "coverage": 1, "psnr": 1, "ssim": 1,
    "is_std": None, "kid_std": None, "fid_class_3": -1, "fid_class_mean": -1, "class_accuracy_7": 1,
    "class_share_2": None, "not_a_metric": None,
}
OLD_ALIASES = {"is": "is_mean", "kid": "kid_mean", "fid_infinity": "fid_inf", "is_infinity": "is_inf"}
OLD_LABELS = {
    "fid": "FID", "is_mean": "Inception Score (mean)", "is_std": "Inception Score (std over splits)",
    "kid_mean": "KID (mean)", "kid_std": "KID (std over subsets)", "precision": "Precision", "recall": "Recall",
    "density": "Density", "coverage": "Coverage", "l1": "L1 to paired target ([0,1] scale)",
    "psnr": "PSNR to paired target (dB)", "ssim": "SSIM to paired target",
    "fid_inf": "FID∞ (extrapolated to infinite N)", "is_inf": "IS∞ (extrapolated to infinite N)",
    "fid_class_mean": "intra-class FID (mean over classes)", "fid_class_4": "FID of class 4",
    "class_accuracy_0": "conditioning accuracy, class 0", "class_share_9": "share read as class 9",
    "class_balance_tv": "class balance: TV distance from uniform", "something_else": "something_else",
}
OLD_SWEEP_LABELS = {"fid": "FID", "is_mean": "IS", "is_std": "IS std", "kid_mean": "KID", "kid_std": "KID std",
                    "precision": "Prec", "recall": "Rec", "density": "Dens", "coverage": "Cov", "fid_inf": "fid_inf"}
OLD_RANGES = {"fid": (0.0, math.inf), "is_mean": (1.0, math.inf), "precision": (0.0, 1.0), "recall": (0.0, 1.0),
              "density": (0.0, math.inf), "coverage": (0.0, 1.0), "kid_mean": (-math.inf, math.inf)}
#: name -> (keys, needs_real, needs_features, needs_logits, bootstrapped, convention)
OLD_SPECS = {
    "fid": (("fid",), True, False, False, True, "covariance divisor N-1; trace sqrt via Cholesky + eigvalsh"),
    "is": (("is_mean", "is_std"), False, False, True, True, "10 splits, softmax of unbiased logits, std ddof 0"),
    "kid": (("kid_mean", "kid_std"), True, True, False, True,
            "unbiased MMD^2, poly kernel deg 3, gamma 1/d, coef 1, 100 subsets of min(1000, N)"),
    "pr": (("precision", "recall"), True, True, False, True, "Kynkaanniemi 2019, k=3, inside when distance <= radius"),
    "dc": (("density", "coverage"), True, True, False, True, "Naeem 2020, k=5, inside when distance < radius"),
    "fid_inf": (("fid_inf",), True, True, False, False,
                "Chong & Forsyth 2020: FID of 15 random subsets (max(20% of N, d+1) to N) fitted linearly against 1/N, "
                "intercept (with real features, both sides subsampled); interval from the fit, widened by FID's "
                "jackknife variance when real features are at hand"),
    "is_inf": (("is_inf",), False, False, True, False,
               "Chong & Forsyth 2020: one-split IS of 15 subsets fitted against 1/N; interval from the fit, "
               "widened by the intercept's jackknife variance (10 groups, subsets fixed)"),
}
OLD_OPTIONS = {"seed": 2020, "is_splits": 10, "kid_subsets": 100, "kid_subset_size": 1000, "pr_k": 3, "dc_k": 5,
               "tile": 4096, "infinity_points": 15, "infinity_level": 0.95}


@pytest.mark.parametrize("key, direction", OLD_DIRECTIONS.items())
def test_directions_match_the_old_table(key, direction):
    assert metric_direction(key) == direction


def test_aliases_labels_and_short_labels_match_the_old_tables():
    for alias, key in OLD_ALIASES.items():
        assert canonical_key(alias) == key and metric_direction(alias) == metric_direction(key)
    assert canonical_key("pr") == "pr"  # a metric name with two keys is no alias
    for key, label in OLD_LABELS.items():
        assert metric_label(key) == label, key
    for key, label in OLD_SWEEP_LABELS.items():
        assert metric_short_label(key) == label, key


def test_specs_match_the_old_registrations():
    for name, (keys, real, features, logits, bootstrapped, convention) in OLD_SPECS.items():
        (spec,) = get_metrics(name)
        assert spec.key_names == keys, name
        assert (spec.needs_real, spec.needs_features, spec.needs_logits) == (real, features, logits), name
        assert (spec.resample is not None) == bootstrapped and spec.comparable == bootstrapped, name
        assert spec.convention == convention, name
    for name in ("fid_inf", "is_inf"):
        assert get_metrics(name)[0].own_interval is not None
    for key, bounds in OLD_RANGES.items():
        spec = next(s for s in get_metrics(list(OLD_SPECS)) if key in s.key_names)
        assert spec.find_key(key).range == bounds, key


def test_paired_metrics_are_registered_and_read_the_pairing():
    from gan_eval.metrics.paired import PairedImageMetrics, paired_metrics

    specs = get_metrics("l1,psnr,ssim")
    assert all(s.needs_paired and s.needs_real and not s.comparable for s in specs)
    rng = np.random.default_rng(0)
    gen, target = (rng.integers(0, 256, (3, 3, 16, 16), dtype=np.uint8) for _ in range(2))
    pairs = PairedImageMetrics()
    pairs.update(gen, target)
    fs = FeatureSet(FeatureStats.from_features(torch.zeros(2, 1)), None)
    values = compute_metrics(specs, MetricContext(fs, fs, MetricOptions(), paired=pairs))
    assert values == paired_metrics(gen, target) and list(values) == ["l1", "psnr", "ssim"]
    with pytest.raises(GanEvalError, match="--paired"):
        compute_metrics(specs[:1], MetricContext(fs, fs, MetricOptions()))


def test_metric_options_are_built_from_the_records():
    defaults = MetricOptions()
    assert {name: getattr(defaults, name) for name in OLD_OPTIONS} == OLD_OPTIONS
    assert MetricOptions(kid_subset_size=7).kid_subset_size == 7
    with pytest.raises(TypeError):
        MetricOptions(kid_subset=7)  # a typo is refused, not ignored
    run = MetricOptions(pr_k=4).for_run(seed=1, ci=0.9)
    assert (run.seed, run.pr_k, run.infinity_level, run.is_splits) == (1, 4, 0.9, 10)
    assert MetricOptions().for_run(seed=1).infinity_level == 0.95


def test_no_two_records_claim_one_key_and_families_do_not_shadow_exact_keys():
    from gan_eval.metrics import all_records

    exact = [k.key for s in all_records() for k in s.keys if not k.is_family]
    assert len(exact) == len(set(exact))
    assert metric_label("fid_class_mean") != "FID of class mean"


def test_registry_refuses_bad_records_and_names():
    with pytest.raises(ValueError, match="already registered"):
        register_metric(get_metrics("fid")[0])
    with pytest.raises(ValueError, match="invalid metric name"):
        register_metric(MetricSpec("Bad Name", (MetricKey("x", "x"),), compute=_gap))
    with pytest.raises(ValueError, match="direction"):
        MetricKey("x", "x", direction=2)
    with pytest.raises(ValueError, match="needs"):
        MetricSpec("x", (MetricKey("x", "x"),), compute=_gap, needs=("pixels",))
    with pytest.raises(ValueError, match="resampler"):
        MetricSpec("x", (MetricKey("x", "x"),), compute=_gap, comparable=True)
    with pytest.raises(GanEvalError, match="per-class"):
        get_metrics("per_class")


def test_a_metric_writing_undeclared_keys_is_a_bug():
    liar = MetricSpec("toytest/liar", (MetricKey("liar", "Liar"),), compute=lambda ctx: {"other": 1.0})
    fs = FeatureSet(FeatureStats.from_features(torch.zeros(2, 1)), None)
    with pytest.raises(ValueError, match="does not declare: other"):
        compute_metrics([liar], MetricContext(fs, fs, MetricOptions()))


def _feature_set(x: np.ndarray, logits: np.ndarray | None = None) -> FeatureSet:
    t = torch.from_numpy(x)
    return FeatureSet(FeatureStats.from_features(t), t, None if logits is None else torch.from_numpy(logits))


def test_own_intervals_come_with_or_without_a_bootstrap():
    rng = np.random.default_rng(1)
    gen, real = _feature_set(rng.normal(size=(300, 4)) + 0.3), _feature_set(rng.normal(size=(300, 4)))
    ctx = MetricContext(gen, real, MetricOptions())
    specs = get_metrics("fid,fid_inf")
    values = compute_metrics(specs, ctx)
    own, info = metric_intervals(specs, ctx, values, None)
    assert own == {"fid_inf": ctx.details["fid_inf"]["interval"]} and info["level"] == 0.95
    assert "fit" in info["resampled"]["fid_inf"]
    both, info = metric_intervals(specs, ctx, values, 0.9, 20, 0)
    assert set(both) == {"fid", "fid_inf"} and info["level"] == 0.9 and "no_interval" not in info
    assert set(info["resampled"]) == {"fid", "fid_inf"}


def test_compare_refuses_what_its_record_cannot_resample():
    from gan_eval.compare import compare

    with pytest.raises(GanEvalError, match=r"not l1 \(L1"):
        compare("builtin:mnist-train", "builtin:mnist-heldout", "builtin:mnist-heldout", "fid,l1", extractor="digits")


def test_format_comparison_reads_labels_from_the_records():
    from gan_eval.reports.table import format_comparison

    from gan_eval.compare import ComparisonResult, Difference

    result = ComparisonResult(("a", "b"), {"fid": Difference(2.0, 3.0, 1.0, [0.5, 1.5], "worse"),
                                           "class_accuracy_3": Difference(0.9, 0.8, -0.1, [-0.2, 0.0], "worse")},
                              {}, {}, 0.95, {"real": {"source": "ref"}, "n_real": 10, "n_gen": [5, 5],
                                             "extractor": "digits", "bootstrap": 20, "seed": 0})
    text = format_comparison(result)
    assert "FID " in text and "conditioning accuracy, class 3" in text and "95% interval of B - A" in text


def test_listing_and_reading_records_imports_no_torch():
    code = ("import sys, gan_eval.metrics as m, gan_eval.gate\n"
            "m.available_metrics(); m.all_records(); m.MetricOptions(); m.metric_direction('fid_class_2')\n"
            "heavy = [x for x in ('torch', 'scipy.stats', 'sklearn', 'skimage') if x in sys.modules]\n"
            "assert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
