"""The CLI's shape: shared options declared once, registry-backed choices, the error boundary, a light start-up.

In-process (click's CliRunner) except the start-up check, which needs a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from gan_eval import cli
from gan_eval.errors import GanEvalError
from gan_eval.options import SHARED, Options

HEAVY = ("torch", "torchvision", "torch_fidelity", "scipy.stats", "sklearn", "pandas", "matplotlib", "skimage", "jinja2")


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli.main, list(args))


def commands(group: click.Group = cli.main, path: tuple[str, ...] = ()) -> list[tuple[str, click.Command]]:
    """Every command and sub-command of ``group`` as ("weights path", command)."""
    found = []
    for name, command in sorted(group.commands.items()):
        here = (*path, name)
        if isinstance(command, click.Group):
            found += commands(command, here)
        else:
            found.append((" ".join(here), command))
    return found


def squash(text: str) -> str:
    """Help text without whitespace: click wraps lines (and breaks after hyphens) where it likes."""
    return "".join(text.split())


def flags(param: click.Parameter) -> set[str]:
    return {part for opt in (*param.opts, *param.secondary_opts) for part in opt.split("/") if part}


# --------------------------------------------------------------------------- shared options


def test_every_command_declares_shared_options_from_the_table() -> None:
    shared_flags = cli.shared_flags()
    seen: dict[str, set[str]] = {name: set() for name in SHARED}
    local_seen = set()
    for path, command in commands():
        shown = invoke(*path.split(), "--help")
        assert shown.exit_code == 0, (path, shown.output)
        text = squash(shown.output)
        for param in command.params:
            if isinstance(param, cli.SharedOption):
                info = SHARED[param.shared_name]
                seen[param.shared_name].add(path)
                assert param.help == info.help, (path, param.name)
                assert param.to_value(param.default) == info.default, (path, param.name)
                expected = info.help
                if info.default is not None and info.default is not False:
                    shown_default = "cache" if param.shared_name == "cache" else info.default
                    expected += f" [default: {shown_default}"  # click may add "; x>=1]"
                assert squash(expected) in text, (path, param.name, expected)
            elif isinstance(param, click.Option):
                for flag in sorted(flags(param) & shared_flags):
                    assert (path, flag) in cli.LOCAL_FLAGS, f"`{path}` declares {flag} itself; use shared_options()"
                    local_seen.add((path, flag))
    assert local_seen == set(cli.LOCAL_FLAGS), "LOCAL_FLAGS names an option that no longer exists"
    # the drifted ones of the issue: --device was declared 7 times and --seed 6, now all from the table
    assert {"fid", "evaluate", "compare", "sweep", "audit", "sample", "train"} <= seen["seed"]
    assert {"fid", "evaluate", "compare", "stats", "sweep", "audit", "sample", "train"} <= seen["device"]
    assert {"fid", "evaluate", "compare", "stats", "sweep", "audit"} <= seen["batch_size"]
    assert all(seen.values()), [name for name, where in seen.items() if not where]


def test_one_declaration_per_shared_option() -> None:
    """The same flags, type, default and help in every command that has it."""
    declarations: dict[str, set[str]] = {}
    for _, command in commands():
        for param in command.params:
            if isinstance(param, cli.SharedOption):
                info = param.to_info_dict()
                info["type"] = {k: v for k, v in info["type"].items() if k != "choices"}  # read at run time
                declarations.setdefault(param.shared_name, set()).add(json.dumps(info, sort_keys=True, default=str))
    assert declarations and all(len(d) == 1 for d in declarations.values()), \
        {k: v for k, v in declarations.items() if len(v) > 1}


class Captured(GanEvalError):
    """Raised by a stand-in library call once it has recorded its arguments."""


def capture(monkeypatch: pytest.MonkeyPatch, target: str) -> dict[str, Any]:
    calls: dict[str, Any] = {}

    def fake(*args: Any, **kwargs: Any) -> Any:
        calls["args"], calls["kwargs"] = args, kwargs
        raise Captured("captured")

    monkeypatch.setattr(target, fake)
    return calls


def test_commands_pass_one_options_object(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = capture(monkeypatch, "gan_eval.api.evaluate")
    out = invoke("fid", "--gen", "g", "--real", "r", "--extractor", "digits", "--seed", "5", "--no-cache", "-q",
                 "--ci", "0.9", "--num-real", "300")
    assert out.exit_code == 1 and "gan-eval: error: captured" in out.output
    args, kwargs = calls["args"], calls["kwargs"]
    assert args[:3] == ("g", "r", "fid")
    assert args[3] == Options(extractor="digits", seed=5, cache=False, progress=False, ci=0.9, num_real=300)
    assert kwargs["metric_options"].kid_subsets == 100 and kwargs["paired"] is False

    calls = capture(monkeypatch, "gan_eval.api.compute_statistics")
    out = invoke("stats", "--real", "r", "-o", "s.npz", "-n", "40", "--batch-size", "8", "--device", "cpu")
    assert out.exit_code == 1
    assert calls["args"][2] == Options(num_samples=40, batch_size=8, device="cpu")
    assert calls["kwargs"] == {"fid_only": False}

    calls = capture(monkeypatch, "gan_eval.compare.compare")
    out = invoke("compare", "--gen", "a", "--gen", "b", "--real", "r", "--bootstrap", "50")
    assert out.exit_code == 1
    assert calls["args"] == ("a", "b", "r", "fid,pr,dc", Options(bootstrap=50))  # table defaults, ci None -> 0.95 there


def test_invalid_shared_values_are_refused_before_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = capture(monkeypatch, "gan_eval.api.evaluate")
    for args, message in ((["--ci", "1.5"], "--ci"), (["--bootstrap", "5"], "--bootstrap"),
                          (["--batch-size", "0"], "--batch-size"), (["--extractor", "nope"], "nope")):
        out = invoke("fid", "--gen", "g", "--real", "r", *args)
        assert out.exit_code == 2 and message in out.output, out.output  # click usage error
    assert not calls


# --------------------------------------------------------------------------- registry-backed choices


def test_plugins_appear_in_choices_and_help(monkeypatch: pytest.MonkeyPatch) -> None:
    from gan_eval.extractors import EXTRACTORS

    EXTRACTORS.register("toy-plugin", lambda weights=None, device=None: None)
    try:
        assert "toy-plugin" in invoke("fid", "--help").output
        assert "toy-plugin" in squash(invoke("evaluate", "--help").output)  # --extractor and --classifier
        listed = [line.split()[0] for line in invoke("extractors").output.splitlines()[1:]]  # after the header
        assert listed == sorted(EXTRACTORS.names())
        calls = capture(monkeypatch, "gan_eval.api.evaluate")
        out = invoke("fid", "--gen", "g", "--real", "r", "--extractor", "toy-plugin")
        assert out.exit_code == 1 and calls["args"][3].extractor == "toy-plugin"
    finally:
        EXTRACTORS.unregister("toy-plugin")
    assert "toy-plugin" not in invoke("fid", "--help").output

    import gan_eval.attributes
    import gan_eval.metrics

    monkeypatch.setattr(gan_eval.metrics, "available_metrics", lambda: ["fid", "toy_metric"])
    monkeypatch.setattr(gan_eval.attributes, "available_attribute_extractors", lambda: ["classifier", "toy_attr"])
    assert "from:fid,toy_metric." in squash(invoke("evaluate", "--help").output)
    assert "toy_metric." in squash(invoke("sweep", "--help").output)
    assert "comma-separated:classifier:PATH,toy_attr." in squash(invoke("audit", "--help").output)


# --------------------------------------------------------------------------- the error boundary


@pytest.fixture
def run_json(tmp_path: Path) -> Path:
    doc = {"schema": "gan-eval/result/1", "metrics": {"fid": 10.0},
           "provenance": {"extractor": "digits", "n_gen": 10, "n_real": 10}}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(doc))
    (tmp_path / "rules.toml").write_text('[[rule]]\nmetric = "fid"\nmax = 25\n')
    return path


def test_internal_error_is_one_line_and_exit_3(monkeypatch: pytest.MonkeyPatch, run_json: Path) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise ZeroDivisionError("boom\nsecond line")

    monkeypatch.setattr("gan_eval.gate.update_baseline", boom)
    out = invoke("baseline", "update", str(run_json), "-o", str(run_json.with_name("b.json")))
    assert out.exit_code == 3
    assert out.stderr.strip() == ("gan-eval: internal error: ZeroDivisionError: boom second line "
                                  "(a bug; please report it; rerun with --debug for the traceback)")
    assert "Traceback" not in out.output

    out = invoke("--debug", "baseline", "update", str(run_json), "-o", str(run_json.with_name("b.json")))
    assert out.exit_code == 3
    assert "Traceback (most recent call last)" in out.stderr and "in boom" in out.stderr
    assert out.stderr.strip().splitlines()[-1] == \
        "gan-eval: internal error: ZeroDivisionError: boom second line (a bug; please report it)"


def test_user_errors_keep_their_exit_code(monkeypatch: pytest.MonkeyPatch, run_json: Path, tmp_path: Path) -> None:
    out = invoke("baseline", "update", str(tmp_path / "missing.json"), "-o", str(tmp_path / "b.json"))
    assert out.exit_code == 2 and out.stderr.strip().splitlines() == [f"gan-eval: error: {tmp_path / 'missing.json'}: no such file"]

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise GanEvalError("you asked for something impossible")

    monkeypatch.setattr("gan_eval.gate.update_baseline", refuse)
    out = invoke("baseline", "update", str(run_json), "-o", str(tmp_path / "b.json"))
    assert out.exit_code == 1 and out.stderr == "gan-eval: error: you asked for something impossible\n"
    out = invoke("--debug", "baseline", "update", str(run_json), "-o", str(tmp_path / "b.json"))
    assert out.exit_code == 1 and "Traceback" in out.stderr and "in refuse" in out.stderr


def test_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch, run_json: Path) -> None:
    def interrupt(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("gan_eval.gate.update_baseline", interrupt)
    out = invoke("baseline", "update", str(run_json), "-o", str(run_json.with_name("b.json")))
    assert out.exit_code == 130 and out.stderr == "gan-eval: interrupted; nothing was written\n"


def test_gate_crash_is_not_evaluated_exit_2_with_junit(monkeypatch: pytest.MonkeyPatch, run_json: Path) -> None:
    """The gate's policy (gate.run): a crash reads as "could not be evaluated", never as a failed rule."""
    from gan_eval import gate

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("judging exploded")

    monkeypatch.setattr(gate, "run_gate", crash)
    junit = run_json.with_name("r.xml")
    args = ["gate", str(run_json), "--rules", str(run_json.with_name("rules.toml")), "--junit", str(junit)]
    out = invoke(*args)
    assert out.exit_code == 2
    assert out.stderr.strip() == "gan-eval: error: internal error: RuntimeError: judging exploded"
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("errors") == "1" and suite.get("failures") == "0"
    out = invoke("--debug", *args)
    assert out.exit_code == 2 and "Traceback" in out.stderr and "in crash" in out.stderr


def test_gate_run_owns_loading_and_judging_and_reports_render_it(run_json: Path, tmp_path: Path) -> None:
    from gan_eval import gate
    from gan_eval.reports.gate_report import write_gate_reports

    md = tmp_path / "summary.md"
    report = gate.run(run_json, None, run_json.with_name("rules.toml"))
    write_gate_reports(report, markdown_path=md)
    assert report.error is None and report.exit_code == 0 and [r.status for r in report.results] == ["PASS"]
    assert "| fid <= 25 |" in md.read_text()

    junit = tmp_path / "r.xml"
    report = gate.run(tmp_path / "nope.json")
    write_gate_reports(report, junit_path=junit)
    assert report.exit_code == 2 and "no such file" in report.error and report.cause is None
    assert ET.parse(junit).getroot().find("testsuite/testcase/error") is not None
    with pytest.raises(gate.GateError, match="cannot write"):
        write_gate_reports(report, junit_path=tmp_path / "rules.toml" / "x.xml")


# --------------------------------------------------------------------------- start-up


def test_help_gate_and_baseline_never_import_heavy_libraries(run_json: Path, tmp_path: Path) -> None:
    """A fresh interpreter: every --help, `gate` and `baseline update` leave torch & co. unloaded."""
    script = textwrap.dedent(f"""
        import json, sys
        from click.testing import CliRunner
        from gan_eval import cli

        def walk(group, path=()):
            for name, command in group.commands.items():
                yield (*path, name)
                if hasattr(command, "commands"):
                    yield from walk(command, (*path, name))

        runner = CliRunner()
        codes = {{}}
        for path in [(), *walk(cli.main)]:
            codes[" ".join(path) or "gan-eval"] = runner.invoke(cli.main, [*path, "--help"]).exit_code
        run, rules = {str(run_json)!r}, {str(run_json.with_name("rules.toml"))!r}
        codes["gate"] = runner.invoke(cli.main, ["gate", run, "--rules", rules]).exit_code
        codes["baseline update"] = runner.invoke(cli.main, ["baseline", "update", run, "-o", {str(tmp_path / "b.json")!r}]).exit_code
        heavy = sorted(m for m in {list(HEAVY)!r} if m in sys.modules)
        print(json.dumps({{"codes": codes, "heavy": heavy}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["codes"]["gate"] == 0 and report["codes"]["baseline update"] == 0, report
    assert set(report["codes"].values()) == {0} and len(report["codes"]) > 15, report
    assert report["heavy"] == [], f"imported by --help / gate / baseline: {report['heavy']}"
