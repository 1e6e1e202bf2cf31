"""`gan-eval gate` and `gan-eval baseline update`: verdicts, exit codes, reports, provenance checks."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import cli_env

from gan_eval import gate
from gan_eval.reports import gate_report
from gan_eval.files import sha256_file

REPO = Path(__file__).resolve().parents[1]

PROVENANCE: dict[str, Any] = {
    "extractor": "digits",
    "feature_dim": 128,
    "weights_sha256": "80bd1a2ddd421854d86ab16a2341bfdb4f7a31bf64a53def5585653ea47dd5b7",
    "preprocessing": "grey=mean(rgb),antialiased-bilinear-28,x/255",
    "seed": 2020,
    "n_gen": 500,
    "n_real": 5000,
    "real": {"source": "builtin:mnist-heldout", "content_sha256": "f413def7" + "0" * 56},
    "metric_options": {"is_splits": 10, "kid_subsets": 100, "kid_subset_size": 500, "pr_k": 3, "dc_k": 5},
    "versions": {"gan_eval": "0.1.0"},
}


def result(metrics: dict[str, float], ci: dict[str, list[float]] | None = None, **provenance: Any) -> dict[str, Any]:
    """A result document as `gan-eval evaluate --json` writes it."""
    doc: dict[str, Any] = {"schema": "gan-eval/result/1", "metrics": dict(metrics)}
    if ci:
        doc["ci"] = ci
        doc["ci_info"] = {"level": 0.95, "method": "bootstrap"}
    prov = copy.deepcopy(PROVENANCE)
    prov.update(provenance)
    doc["provenance"] = prov
    return doc


def write(path: Path, doc: Any) -> str:
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc, encoding="utf-8")
    return str(path)


def rules(*tables: dict[str, Any]) -> list[gate.Rule]:
    return gate.parse_rules({"rule": list(tables)})


def invoke(*args: str) -> Any:
    from gan_eval import cli

    return CliRunner().invoke(cli.main, list(args))


RULES_TOML = """
[[rule]]
metric = "fid"
max = 25                 # absolute bound
[[rule]]
metric = "precision"
min = 0.6
[[rule]]
metric = "fid"
max_regression = 0.05    # relative to the baseline
judge = "interval"
severity = "warn"
"""


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """run.json (fid 10, precision 0.7), baseline.json (fid 9.8), gates.toml (the issue's rules)."""
    return {
        "run": write(tmp_path / "run.json", result({"fid": 10.0, "precision": 0.7, "is_std": 0.2})),
        "baseline": write(tmp_path / "baseline.json", result({"fid": 9.8, "precision": 0.72})),
        "rules": write(tmp_path / "gates.toml", RULES_TOML),
        "dir": str(tmp_path),
    }


# ---------------------------------------------------------------- exit codes through the CLI


def test_all_rules_pass_exit_0(files: dict[str, str]) -> None:
    out = invoke("gate", files["run"], "--baseline", files["baseline"], "--rules", files["rules"])
    assert out.exit_code == 0, out.output
    assert "gate: PASS (3 passed, 0 warned, 0 failed)" in out.output
    # 10 <= 9.8 + 0.05 * 9.8 = 10.29
    assert "baseline 9.8 + 0.05×|9.8| = 10.29" in out.output


def test_failing_rule_exit_1(files: dict[str, str], tmp_path: Path) -> None:
    run = write(tmp_path / "bad.json", result({"fid": 30.0, "precision": 0.7}))
    out = invoke("gate", run, "--baseline", files["baseline"], "--rules", files["rules"])
    assert out.exit_code == 1, out.output
    assert "value 30 > 25" in out.output
    assert "gate: FAIL (1 passed, 1 warned, 1 failed)" in out.output  # the 5 % regression rule only warns


def test_warn_rule_exit_0(files: dict[str, str], tmp_path: Path) -> None:
    run = write(tmp_path / "worse.json", result({"fid": 10.5, "precision": 0.7}))  # > 10.29, < 25
    out = invoke("gate", run, "--baseline", files["baseline"], "--rules", files["rules"])
    assert out.exit_code == 0, out.output
    assert "gate: WARN (2 passed, 1 warned, 0 failed)" in out.output
    assert "value 10.5 > baseline 9.8 + 0.05×|9.8| = 10.29" in out.output


@pytest.mark.parametrize("case, expected", [
    ("missing run", "no such file"),
    ("missing baseline", "no such file"),
    ("bad toml", "invalid TOML"),
    ("unknown key", "rule 2: unknown key(s) maximum"),
    ("schema", "schema 'gan-eval/result/0', expected 'gan-eval/result/1'"),
    ("no schema", "no schema tag"),
    ("extractor", "extractor: run 'digits', baseline 'inception-v3-compat'"),
    ("weights", "extractor weights (sha256): run 80bd1a2ddd42…, baseline 000000000000…"),
    ("pr_k", "metric option pr_k: run 3, baseline 5"),
    ("n_gen", "number of generated samples"),
    ("metric missing", "kid_mean is not in the run"),
    ("unknown metric", "unknown metric 'fdi'"),
    ("regression without baseline", "rule(s) 3 compare with a baseline"),
    ("metric name not key", "'pr' is a metric name, not a result key; the rule must name one of: precision, recall"),
])
def test_gate_not_evaluable_exit_2(files: dict[str, str], tmp_path: Path, case: str, expected: str) -> None:
    run, baseline, rules_path = files["run"], files["baseline"], files["rules"]
    base_doc = json.loads(Path(baseline).read_text())
    if case == "missing run":
        run = str(tmp_path / "nope.json")
    elif case == "missing baseline":
        baseline = str(tmp_path / "nope.json")
    elif case == "bad toml":
        rules_path = write(tmp_path / "bad.toml", "[[rule]\nmetric = fid")
    elif case == "unknown key":
        rules_path = write(tmp_path / "k.toml", '[[rule]]\nmetric="fid"\nmax=1\n[[rule]]\nmetric="fid"\nmaximum=2\n')
    elif case == "schema":
        base_doc["schema"] = "gan-eval/result/0"
        baseline = write(tmp_path / "b0.json", base_doc)
    elif case == "no schema":
        run = write(tmp_path / "old.json", {"metrics": {"fid": 1.0}, "provenance": {}})
    elif case in ("extractor", "weights", "pr_k", "n_gen"):
        prov = base_doc["provenance"]
        if case == "extractor":
            prov["extractor"] = "inception-v3-compat"
        elif case == "weights":
            prov["weights_sha256"] = "0" * 64
        elif case == "pr_k":
            prov["metric_options"]["pr_k"] = 5
        else:
            prov["n_gen"] = 1000
        baseline = write(tmp_path / "other.json", base_doc)
    elif case in ("metric missing", "unknown metric", "metric name not key"):
        metric = {"metric missing": "kid", "unknown metric": "fdi", "metric name not key": "pr"}[case]
        rules_path = write(tmp_path / "m.toml", f'[[rule]]\nmetric="fid"\nmax=25\n[[rule]]\nmetric="{metric}"\nmax=1\n')
    elif case == "regression without baseline":
        baseline = None
    args = ["gate", run, "--rules", rules_path, "--junit", str(tmp_path / "r.xml")]
    if baseline:
        args += ["--baseline", baseline]
    out = invoke(*args)
    assert out.exit_code == 2, out.output
    assert expected in out.output
    # CI still gets a JUnit file that says why, with an error (not a failure) in it.
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    assert int(suite.get("errors")) >= 1 and int(suite.get("failures")) == 0
    assert len(suite.findall("testcase/error")) == int(suite.get("errors"))


def test_missing_metric_still_judges_other_rules(files: dict[str, str], tmp_path: Path) -> None:
    report = gate.run_gate(json.loads(Path(files["run"]).read_text()), None,
                           rules({"metric": "fid", "max": 5}, {"metric": "kid", "max": 1}))
    assert [r.status for r in report.results] == ["FAIL", "ERROR"]
    assert report.status == "ERROR" and report.exit_code == 2


def test_no_rules_no_baseline_is_an_error(files: dict[str, str]) -> None:
    out = invoke("gate", files["run"])
    assert out.exit_code == 2
    assert "nothing to check" in out.output


# ---------------------------------------------------------------- rules file validation


def test_rules_parse_aliases_and_defaults(files: dict[str, str]) -> None:
    parsed = gate.load_rules(files["rules"])
    assert [(r.metric, r.max, r.min, r.max_regression, r.judge, r.severity) for r in parsed] == [
        ("fid", 25.0, None, None, "point", "fail"),
        ("precision", None, 0.6, None, "point", "fail"),
        ("fid", None, None, 0.05, "interval", "warn"),
    ]
    assert rules({"metric": "is", "min": 2})[0].metric == "is_mean"


@pytest.mark.parametrize("table, expected", [
    ({"max": 1}, "rule 1: 'metric' is required"),
    ({"metric": "fid"}, "give at least one of"),
    ({"metric": "fid", "max": "25"}, "max must be a finite number"),
    ({"metric": "fid", "max_regression": -0.1}, "max_regression must be >= 0"),
    ({"metric": "fid", "min": 3, "max": 2}, "min 3.0 is above max 2.0"),
    ({"metric": "fid", "max": 1, "judge": "bound"}, "judge must be"),
    ({"metric": "fid", "max": 1, "severity": "error"}, "severity must be"),
    ({"metric": "is_std", "max_regression": 0.1}, "is_std has no better direction"),
])
def test_invalid_rules_are_refused(table: dict[str, Any], expected: str) -> None:
    with pytest.raises(gate.GateError) as info:
        rules(table)
    assert expected in str(info.value)
    assert info.value.exit_code == 2


# ---------------------------------------------------------------- judge semantics


def test_absolute_bound_point_vs_interval() -> None:
    """fid 27 [23, 31] against max 25: the point is above, but the run is not surely above."""
    run = result({"fid": 27.0}, ci={"fid": [23.0, 31.0]})
    point = gate.run_gate(run, None, rules({"metric": "fid", "max": 25}))
    interval = gate.run_gate(run, None, rules({"metric": "fid", "max": 25, "judge": "interval"}))
    assert point.status == "FAIL" and point.results[0].message == "value 27 > 25"
    assert interval.status == "PASS" and interval.results[0].message == "interval lower bound 23 <= 25"
    surely = gate.run_gate(result({"fid": 29.0}, ci={"fid": [26.0, 32.0]}), None,
                           rules({"metric": "fid", "max": 25, "judge": "interval"}))
    assert surely.status == "FAIL" and surely.results[0].checks[0].compared == 26.0
    # min uses the upper bound: precision 0.55 [0.50, 0.61] is not surely below 0.6
    low = result({"precision": 0.55}, ci={"precision": [0.50, 0.61]})
    assert gate.run_gate(low, None, rules({"metric": "precision", "min": 0.6, "judge": "interval"})).status == "PASS"
    assert gate.run_gate(low, None, rules({"metric": "precision", "min": 0.6})).status == "FAIL"


def test_regression_point_vs_interval_lower_is_better() -> None:
    baseline = result({"fid": 10.0}, ci={"fid": [9.0, 11.0]})
    rule_point = rules({"metric": "fid", "max_regression": 0.05})
    rule_interval = rules({"metric": "fid", "max_regression": 0.05, "judge": "interval"})
    overlapping = result({"fid": 11.0}, ci={"fid": [10.0, 12.5]})
    assert gate.run_gate(overlapping, baseline, rule_point).status == "FAIL"  # 11 > 10.5
    verdict = gate.run_gate(overlapping, baseline, rule_interval).results[0]
    assert verdict.status == "PASS"  # 10 <= 11 + 0.5
    assert verdict.checks[0].limit == pytest.approx(11.5)
    separated = result({"fid": 13.0}, ci={"fid": [11.6, 14.0]})
    verdict = gate.run_gate(separated, baseline, rule_interval).results[0]
    assert verdict.status == "FAIL"
    assert verdict.message == "interval lower bound 11.6 > baseline upper bound 11 + 0.05×|10| = 11.5"


def test_regression_point_vs_interval_higher_is_better() -> None:
    baseline = result({"precision": 0.70}, ci={"precision": [0.68, 0.72]})
    run = result({"precision": 0.64}, ci={"precision": [0.60, 0.67]})
    point = gate.run_gate(run, baseline, rules({"metric": "precision", "max_regression": 0.05}))
    interval = gate.run_gate(run, baseline, rules({"metric": "precision", "max_regression": 0.05, "judge": "interval"}))
    assert point.status == "FAIL" and point.results[0].checks[0].limit == pytest.approx(0.665)
    assert interval.status == "PASS" and interval.results[0].checks[0].limit == pytest.approx(0.645)
    absolute = gate.run_gate(run, baseline, rules({"metric": "precision", "max_regression_abs": 0.01, "judge": "interval"}))
    assert absolute.status == "PASS"  # 0.67 >= 0.68 - 0.01
    stricter = gate.run_gate(run, baseline, rules({"metric": "precision", "max_regression_abs": 0.005, "judge": "interval"}))
    assert stricter.status == "FAIL"  # 0.67 < 0.675


def test_interval_judge_without_run_interval_falls_back_to_point() -> None:
    verdict = gate.run_gate(result({"fid": 27.0}), None, rules({"metric": "fid", "max": 25, "judge": "interval"})).results[0]
    assert verdict.status == "FAIL"
    assert "judged on the point" in verdict.message
    baseline_point = gate.run_gate(result({"fid": 10.4}, ci={"fid": [10.3, 10.6]}), result({"fid": 10.0}),
                                   rules({"metric": "fid", "max_regression": 0.0, "judge": "interval"})).results[0]
    assert baseline_point.status == "FAIL" and "the baseline has no interval" in baseline_point.message


def test_nan_value_fails() -> None:
    report = gate.run_gate(result({"fid": float("nan")}), None, rules({"metric": "fid", "max": 25}))
    assert report.status == "FAIL" and report.exit_code == 1


def test_default_rules_without_intervals_use_5_percent() -> None:
    baseline = result({"fid": 10.0, "precision": 0.70, "recall": 0.5, "is_std": 0.3})
    made = gate.default_rules(result({"fid": 10.4, "precision": 0.70, "is_std": 0.9}), baseline)
    assert [(r.metric, r.judge, r.max_regression) for r in made] == [("fid", "point", 0.05), ("precision", "point", 0.05)]
    assert gate.run_gate(result({"fid": 10.4, "precision": 0.70}), baseline).status == "PASS"  # 10.4 <= 10.5
    assert gate.run_gate(result({"fid": 10.6, "precision": 0.70}), baseline).exit_code == 1  # 10.6 > 10.5
    assert gate.run_gate(result({"fid": 10.0, "precision": 0.66}), baseline).exit_code == 1  # 0.66 < 0.665


def test_default_rules_with_intervals_fail_only_when_they_separate() -> None:
    baseline = result({"fid": 9.5, "precision": 0.70}, ci={"fid": [9.0, 10.1]})
    made = gate.default_rules(result({"fid": 10.5, "precision": 0.70}, ci={"fid": [10.0, 11.0]}), baseline)
    assert [(r.metric, r.judge, r.max_regression) for r in made] == [("fid", "interval", 0.0), ("precision", "point", 0.05)]
    assert [r.title for r in made] == ["fid not worse than baseline [interval]", "precision regression <= 5%"]
    overlap = gate.run_gate(result({"fid": 10.5, "precision": 0.70}, ci={"fid": [10.0, 11.0]}), baseline)
    assert overlap.status == "PASS"  # 10.0 <= 10.1, although the point is 10.5 % worse
    apart = gate.run_gate(result({"fid": 10.8, "precision": 0.70}, ci={"fid": [10.2, 11.3]}), baseline)
    assert apart.status == "FAIL" and apart.results[0].checks[0].compared == 10.2


def test_harmless_differences_are_notes(files: dict[str, str]) -> None:
    run = result({"fid": 10.0}, seed=7, versions={"gan_eval": "0.2.0"})
    report = gate.run_gate(run, result({"fid": 10.0}))
    assert report.status == "PASS"
    assert "seed differs: run 7, baseline 2020" in report.notes
    assert "versions differ: gan_eval 0.1.0 -> 0.2.0" in report.notes


# ---------------------------------------------------------------- reports


def _mixed_report() -> gate.GateReport:
    run = result({"fid": 30.0, "precision": 0.55, "recall": 0.5})
    return gate.run_gate(run, result({"fid": 29.0, "precision": 0.6, "recall": 0.5}), rules(
        {"metric": "fid", "max": 25},                                   # FAIL
        {"metric": "precision", "min": 0.6, "severity": "warn"},        # WARN
        {"metric": "recall", "max_regression": 0.05, "name": "recall vs main"},  # PASS
        {"metric": "precision", "max_regression": 0.05},                # FAIL: 0.55 < 0.57
    ))


def test_junit_xml_one_testcase_per_rule() -> None:
    report = _mixed_report()
    root = ET.fromstring(gate_report.to_junit_xml(report))
    suites = root.findall("testsuite")
    assert len(suites) == 1 and suites[0].get("name") == "gan-eval gate"
    cases = suites[0].findall("testcase")
    assert len(cases) == 4
    assert [c.get("name") for c in cases] == ["rule 1: fid <= 25", "rule 2: precision >= 0.6", "rule 3: recall vs main",
                                             "rule 4: precision regression <= 5%"]
    assert suites[0].get("tests") == "4" and suites[0].get("failures") == "2" and suites[0].get("skipped") == "1"
    assert [c.find("failure") is not None for c in cases] == [True, False, False, True]
    assert cases[0].find("failure").get("message") == "value 30 > 25"
    assert cases[1].find("skipped").get("message").startswith("WARN: value 0.55 < 0.6")


def test_markdown_lists_every_rule() -> None:
    text = gate_report.to_markdown(_mixed_report())
    assert text.startswith("### gan-eval gate: ❌ FAIL")
    assert "2 passed" not in text and "1 passed, 1 warned, 2 failed" in text
    for title in ("fid <= 25", "precision >= 0.6", "recall vs main", "precision regression <= 5%"):
        assert f"| {title} |" in text
    assert text.count("\n| ") == 5  # header + 4 rules


def test_cli_writes_junit_and_markdown(files: dict[str, str], tmp_path: Path) -> None:
    junit, md = tmp_path / "out" / "report.xml", tmp_path / "summary.md"
    out = invoke("gate", files["run"], "--baseline", files["baseline"], "--rules", files["rules"],
                 "--junit", str(junit), "--markdown", str(md))
    assert out.exit_code == 0, out.output
    assert len(ET.parse(junit).getroot().find("testsuite").findall("testcase")) == 3
    assert "| fid <= 25 |" in md.read_text()


# ---------------------------------------------------------------- baseline update


def test_baseline_update_round_trip_and_refusal(files: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "ci" / "baseline.json"
    out = invoke("baseline", "update", files["run"], "-o", str(target))
    assert out.exit_code == 0, out.output
    doc = json.loads(target.read_text())
    assert doc["metrics"] == {"fid": 10.0, "precision": 0.7, "is_std": 0.2}
    assert doc["schema"] == "gan-eval/result/1"
    assert doc["baseline"]["from_sha256"] == sha256_file(files["run"])
    assert doc["baseline"]["from"] == str(Path(files["run"]).resolve())
    # the baseline gates its own run: nothing got worse
    assert invoke("gate", files["run"], "--baseline", str(target)).exit_code == 0

    # a compatible newer run replaces it and records what it replaced
    before = sha256_file(target)
    newer = write(tmp_path / "newer.json", result({"fid": 9.0, "precision": 0.71}, seed=3))
    assert invoke("baseline", "update", newer, "-o", str(target)).exit_code == 0
    doc = json.loads(target.read_text())
    assert doc["metrics"]["fid"] == 9.0 and doc["baseline"]["replaced_sha256"] == before

    # another extractor: refused, file untouched; --force replaces it
    other = write(tmp_path / "other.json", result({"fid": 50.0}, extractor="inception-v3-compat", feature_dim=2048))
    kept = target.read_bytes()
    out = invoke("baseline", "update", other, "-o", str(target))
    assert out.exit_code == 2
    assert "refusing to replace" in out.output and "pass --force" in out.output
    assert target.read_bytes() == kept
    assert invoke("baseline", "update", other, "-o", str(target), "--force").exit_code == 0
    assert json.loads(target.read_text())["metrics"] == {"fid": 50.0}


def test_baseline_update_refuses_invalid_run(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.json", {"schema": "gan-eval/result/1", "metrics": {"fid": "low"}, "provenance": {}})
    out = invoke("baseline", "update", bad, "-o", str(tmp_path / "b.json"))
    assert out.exit_code == 2 and "'metrics' must map metric names to numbers" in out.output
    assert not (tmp_path / "b.json").exists()


# ---------------------------------------------------------------- end to end


def _console(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    exe = shutil.which("gan-eval")
    command = [exe, *args] if exe else [sys.executable, "-m", "gan_eval", *args]
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=300, env=env, cwd=REPO)


def test_end_to_end_evaluate_baseline_gate(tmp_path: Path) -> None:
    """A real digits evaluation, made the baseline, then gated as a CI job would."""
    env = cli_env()
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env["PYTHONPATH"]])
    run_json = tmp_path / "run.json"
    done = _console("evaluate", "--gen", "builtin:mnist-train", "--real", "builtin:mnist-heldout", "--extractor", "digits",
                    "-n", "200", "--num-real", "200", "--metrics", "fid,pr", "--json", str(run_json), "-q", env=env)
    assert done.returncode == 0, done.stderr
    metrics = json.loads(run_json.read_text())["metrics"]
    assert 0 < metrics["fid"] < 25 and 0 < metrics["precision"] <= 1  # real digits vs real digits

    baseline = tmp_path / "baseline.json"
    assert invoke("baseline", "update", str(run_json), "-o", str(baseline)).exit_code == 0  # in-process: saves a torch import
    toml = tmp_path / "gates.toml"
    toml.write_text(RULES_TOML.replace("min = 0.6", "min = 0.3"))
    junit = tmp_path / "report.xml"
    done = _console("gate", str(run_json), "--baseline", str(baseline), "--rules", str(toml), "--junit", str(junit), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gate: PASS (3 passed, 0 warned, 0 failed)" in done.stdout
    assert len(ET.parse(junit).getroot().find("testsuite").findall("testcase")) == 3

    # a bound the run cannot meet fails with exit 1 and a JUnit failure
    toml.write_text(f'[[rule]]\nmetric = "fid"\nmax = {metrics["fid"] / 2}\n')
    done = _console("gate", str(run_json), "--rules", str(toml), "--junit", str(junit), env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert ET.parse(junit).getroot().find("testsuite").get("failures") == "1"
