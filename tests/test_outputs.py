"""Nothing half-written, nothing unsafe inside: output permissions, SIGTERM, GAN_EVAL_DEBUG, CSV formula
escaping, XML-legal JUnit and HTML, and progress lines when stderr is not a terminal (issue 11, points 6-7)."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from conftest import cli_env
from gan_eval.reports import gate_report

from gan_eval import cli, gate, pipeline
from gan_eval.files import (
    atomic_path,
    csv_safe_cell,
    csv_safe_frame,
    write_text_atomic,
    xml_legal,
)

# ---------------------------------------------------------------- atomic writes respect the umask


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_writes_get_the_umask_mode(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        write_text_atomic(tmp_path / "a.json", "{}")
        with atomic_path(tmp_path / "ckpt.pth", suffix=".pth") as tmp:
            torch.save({"w": torch.zeros(2)}, tmp)
        open(tmp_path / "plain.txt", "w").close()  # what a normal open() gives
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    for name in ("a.json", "ckpt.pth", "plain.txt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == expected, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "ckpt.pth", "plain.txt"]  # no temp file left


def test_failed_atomic_write_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "keep.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"] and (tmp_path / "keep.txt").read_text() == "old"


# ---------------------------------------------------------------- SIGTERM and GAN_EVAL_DEBUG


def test_sigterm_leaves_no_output_and_no_temp_file(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    env = cli_env()
    env["GAN_EVAL_PROGRESS_INTERVAL"] = "0.2"  # a progress line shows the extraction is under way
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "gan_eval", "evaluate", "--gen", "builtin:dcgan", "--real",
                                 "builtin:mnist-heldout", "--extractor", "digits", "-n", "200000", "--num-real", "500",
                                 "--metrics", "fid", "--json", str(work / "out.json")],
                                cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 120
            while " images, " not in err_path.read_text() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            assert proc.poll() is None, err_path.read_text()
            time.sleep(1.0)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    stderr = err_path.read_text()
    assert code == 143, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == "gan-eval: terminated; nothing was written"
    assert list(work.iterdir()) == []  # no out.json, no .out.json.*.tmp


def test_terminated_is_a_keyboard_interrupt() -> None:
    """Code that cleans up after Ctrl-C cleans up after SIGTERM the same way."""
    assert issubclass(cli.Terminated, KeyboardInterrupt)


@pytest.fixture
def crashing_command():
    @cli.main.command("crash-for-test", hidden=True)
    def crash() -> None:
        raise ValueError("planted bug")

    yield
    cli.main.commands.pop("crash-for-test")


@pytest.mark.parametrize("env, shown", [({}, False), ({"GAN_EVAL_DEBUG": "1"}, True), ({"GAN_EVAL_DEBUG": "0"}, False),
                                        ({"GAN_EVAL_DEBUG": "yes"}, True)])
def test_gan_eval_debug_env_shows_the_traceback(crashing_command, monkeypatch, env, shown) -> None:
    monkeypatch.delenv("GAN_EVAL_DEBUG", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(cli.main, ["crash-for-test"])
    assert result.exit_code == 3
    assert "internal error: ValueError: planted bug" in result.output
    assert ("Traceback" in result.output) is shown
    assert ("rerun with --debug" in result.output) is not shown


def test_debug_flag_still_shows_the_traceback(crashing_command, monkeypatch) -> None:
    monkeypatch.delenv("GAN_EVAL_DEBUG", raising=False)
    result = CliRunner().invoke(cli.main, ["--debug", "crash-for-test"])
    assert result.exit_code == 3 and "Traceback" in result.output


# ---------------------------------------------------------------- CSV formula cells, XML-legal text


@pytest.mark.parametrize("cell, written", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1+cmd", "'+1+cmd"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("plain", "plain"), ("a=b", "a=b"),
    ("-0.5", "-0.5"), ("+3", "+3"), ("-inf", "-inf"), (-1.5, -1.5), (-3, -3), (None, None), ("", ""),
])
def test_csv_safe_cell(cell, written) -> None:
    assert csv_safe_cell(cell) == written


def test_csv_safe_frame_escapes_text_and_keeps_numbers() -> None:
    frame = pd.DataFrame({"attribute": ["=1+2", "smile"], "value": [-1.0, 2.0], "=col": [-3, 4]})
    out = csv_safe_frame(frame)
    assert out.to_csv(index=False).splitlines() == ["attribute,value,'=col", "'=1+2,-1.0,-3", "smile,2.0,4"]
    assert frame["attribute"].tolist() == ["=1+2", "smile"]  # the caller's frame is not changed


def test_xml_legal() -> None:
    assert xml_legal("a\x00b\x07c\x1fd\ufffee\ud800") == "a\ufffdb\ufffdc\ufffdd\ufffde\ufffd"
    assert xml_legal("tab\tnl\ncr\r<&> é ∞") == "tab\tnl\ncr\r<&> é ∞"


def _result_doc(metrics: dict[str, float]) -> dict:
    return {"schema": "gan-eval/result/1", "metrics": metrics,
            "provenance": {"extractor": "digits", "seed": 2020, "versions": {"gan_eval": "0.1.0"}}}


def test_junit_xml_with_control_characters_and_markup_is_well_formed() -> None:
    name = "evil\x01<rule> & \"q\"\x1b"
    rules = gate.parse_rules({"rule": [{"metric": "fid", "max": 25, "name": name},
                                       {"metric": "fid", "max": 5, "name": "b\x0cad"}]})
    report = gate.run_gate(_result_doc({"fid": 10.0}), None, rules)
    text = gate_report.to_junit_xml(report)
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", text)
    cases = ET.fromstring(text).find("testsuite").findall("testcase")
    assert [c.get("name") for c in cases] == ["rule 1: evil\ufffd<rule> & \"q\"\ufffd", "rule 2: b\ufffdad"]
    assert cases[1].find("failure") is not None
    assert "<rule>" not in text  # escaped, not markup


# ---------------------------------------------------------------- the audit's CSV and HTML


@pytest.mark.filterwarnings("ignore:Glyph")  # matplotlib has no glyph for the control character in the plot titles
def test_audit_csv_formula_and_html_control_characters(tmp_path: Path) -> None:
    from audit_toys import BlockAttributes, BlockToy
    from gan_eval.reports.audit_html import write_audit

    import gan_eval
    from gan_eval.attributes import (
        register_attribute_extractor,
        unregister_attribute_extractor,
    )

    evil = "=HYPERLINK(\"http://evil\")\x07<b>"

    class Evil(BlockAttributes):
        def __init__(self) -> None:
            super().__init__()
            self.score_names[0] = evil
            self.attributes[0] = type(self.attributes[0])(evil, "continuous")

    register_attribute_extractor("evil-csv-test")(lambda arg, device: Evil())
    try:
        real = (BlockToy().sample(300, torch.Generator().manual_seed(1)) * 255).round().to(torch.uint8)
        result = gan_eval.audit(BlockToy(), real, "evil-csv-test", num_samples=300, bootstrap=30, walk_images=8,
                                walk_steps=2)
    finally:
        unregister_attribute_extractor("evil-csv-test")
    out = write_audit(result, tmp_path / "audit")
    found = False
    for csv_file in out.glob("*.csv"):
        frame = pd.read_csv(csv_file, keep_default_na=False)
        for column in frame.columns:
            for cell in frame[column]:
                found = found or cell == "'" + evil
                assert not (isinstance(cell, str) and cell[:1] in ("=", "@")), (csv_file.name, cell)
    assert found  # the attribute name is a cell of some table, escaped
    continuous = pd.read_csv(out / "continuous.csv")
    assert continuous["attribute"].iloc[0] == "'" + evil
    assert pd.api.types.is_integer_dtype(continuous["n_generated"])  # numbers stay numbers
    assert pd.api.types.is_float_dtype(continuous["mean_generated"])
    html = (out / "report.html").read_text(encoding="utf-8")
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", html)
    assert "\ufffd&lt;b&gt;" in html and "<b>\"" not in html


# ---------------------------------------------------------------- progress lines off a terminal


def test_progress_lines_format_and_interval() -> None:
    now = [100.0]
    stream = io.StringIO()
    lines = pipeline.ProgressLines(10000, "gen: builtin:dcgan", interval=10.0, stream=stream, clock=lambda: now[0])
    now[0] += 5
    lines.update(500)
    assert stream.getvalue() == ""  # not before the interval
    now[0] += 7.63
    lines.update(700)
    assert stream.getvalue() == "gan-eval: gen: builtin:dcgan: 1200/10000 images, 95 img/s, ~1m33s left\n"
    now[0] += 9.9
    lines.update(100)
    assert stream.getvalue().count("\n") == 1
    now[0] += 0.2
    lines.update(100)
    assert stream.getvalue().count("\n") == 2


def test_format_duration() -> None:
    assert [pipeline.format_duration(s) for s in (0, 42, 93, 3720, 59.6)] == ["0s", "42s", "1m33s", "1h02m", "1m00s"]


def _extract(progress: bool | None) -> None:
    from gan_eval.extractors import create_extractor
    from gan_eval.sources import ArraySource

    images = torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    fe = create_extractor("digits", device=torch.device("cpu"))
    pipeline.extract_features(ArraySource(images, "forty blobs"), fe, 40, batch_size=8, progress=progress,
                              label="gen: forty blobs")


@pytest.mark.parametrize("progress, shown", [(None, True), (True, True), (False, False)])
def test_extraction_prints_progress_lines_off_a_terminal(monkeypatch, capsys, progress, shown) -> None:
    monkeypatch.setattr(pipeline, "PROGRESS_INTERVAL_S", 0.0)
    monkeypatch.delenv("GAN_EVAL_PROGRESS_INTERVAL", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    _extract(progress)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("gan-eval: gen: forty blobs:")]
    if shown:
        assert len(lines) == 5, err  # one per batch with a zero interval
        assert re.fullmatch(r"gan-eval: gen: forty blobs: 8/40 images, \d+ img/s, ~\S+ left", lines[0])
        assert lines[-1].startswith("gan-eval: gen: forty blobs: 40/40 images, ")
        assert "\r" not in err  # no tqdm bar in a log
    else:
        assert err == ""


def test_progress_interval_env_override(monkeypatch) -> None:
    monkeypatch.setenv("GAN_EVAL_PROGRESS_INTERVAL", "2.5")
    assert pipeline.progress_interval() == 2.5
    monkeypatch.setenv("GAN_EVAL_PROGRESS_INTERVAL", "soon")
    assert pipeline.progress_interval() == pipeline.PROGRESS_INTERVAL_S == 10.0


def test_cli_quiet_silences_progress_lines(tmp_path: Path) -> None:
    env = cli_env()
    env["GAN_EVAL_PROGRESS_INTERVAL"] = "0"
    args = [sys.executable, "-m", "gan_eval", "fid", "--gen", "builtin:mnist-train", "--real", "builtin:mnist-heldout",
            "--extractor", "digits", "-n", "100", "--num-real", "100", "--no-cache"]
    loud = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
                          check=False)
    quiet = subprocess.run(args + ["--quiet"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
                          check=False)
    assert loud.returncode == quiet.returncode == 0, loud.stderr + quiet.stderr
    assert re.search(r"^gan-eval: gen: builtin:mnist-train: \d+/100 images, \d+ img/s", loud.stderr, re.MULTILINE), loud.stderr
    assert re.search(r"^gan-eval: real: builtin:mnist-heldout: \d+/100 images", loud.stderr, re.MULTILINE), loud.stderr
    assert " images, " not in quiet.stderr
