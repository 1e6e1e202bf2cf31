"""Names a user controls come out escaped in every report (issue 11).

Attribute names (the header of a classifier's labels CSV), checkpoint and folder names and gate rule
names carrying HTML (``<script>``, quotes, ``&``), spreadsheet formulas (``=HYPERLINK(…)``, ``+``, ``-``,
``@``) or terminal control sequences are rendered as text: escaped in HTML and Markdown, well-formed in
JUnit XML, prefixed with ``'`` in CSV cells, stripped of control characters in terminal tables, and
kept verbatim (as data) in JSON.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from conftest import write_digits

from gan_eval import cli

SCRIPT = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://evil.example","x")'
QUOTES = "\"'&"
NASTY_ATTRIBUTES = [SCRIPT, FORMULA, QUOTES, "+1+cmd", "-2-cmd", "@SUM(A1)", "cost $x^2$"]
ANSI = "\x1b[31mred\x1b[0m"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Elements(HTMLParser):
    """Counts start tags, so an injected ``<script>`` is found however the page is laid out."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def _parse_html(text: str) -> _Elements:
    parser = _Elements()
    parser.feed(text)
    return parser


def _assert_csv_safe(text: str, where: str) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(text)))
    for row in rows:
        for cell in row:
            if cell.startswith(FORMULA_START):
                float(cell)  # only a number may start with + or -; anything else is a formula: fails here
    assert rows, where
    return rows


def _strict_json(text: str) -> object:
    """Parse as standard JSON: NaN and Infinity (which Python writes by default) are not JSON."""
    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def _invoke(*args) -> object:
    result = CliRunner().invoke(cli.main, [str(a) for a in args])
    assert result.exit_code == 0, result.stderr[-2000:]
    return result


def _classifier(path: Path, names: list[str]) -> Path:
    """An (untrained) attribute classifier whose attributes carry the given names."""
    from safetensors.torch import save_file

    from gan_eval.attributes.classifier import FORMAT, AttributeClassifier

    torch.manual_seed(0)
    model = AttributeClassifier(len(names), 1, 4, 64)
    meta = {"format": FORMAT, "format_version": "1", "mode": "multilabel", "attributes": json.dumps(names),
            "config": json.dumps({"channels": 1, "hidden_dim": 4, "image_size": 64})}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata=meta)
    return path


@pytest.mark.slow
def test_audit_html_csv_and_json_escape_attribute_and_source_names(tmp_path):
    gen = write_digits(tmp_path / SCRIPT / FORMULA.replace("/", "_"), "train", 40)  # the folder name is in the report
    classifier = _classifier(tmp_path / "attrs.safetensors", NASTY_ATTRIBUTES)
    out = tmp_path / "audit"
    _invoke("audit", "--gen", gen, "--real", "builtin:mnist-heldout", "--num-real", "60", "--attributes", "digits",
            "--classifier", classifier, "--no-walks", "--bootstrap", "20", "-o", out, "--quiet")

    html = (out / "report.html").read_text()
    page = _parse_html(html)
    assert "script" not in page.tags and SCRIPT not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert QUOTES not in html and "&amp;" in html
    shown = "".join(page.text)  # what a reader sees: the names, as text
    for name in NASTY_ATTRIBUTES:
        assert name in shown, name
    assert str(gen).replace(str(tmp_path), "") in shown.replace(str(tmp_path), "")

    for table in sorted(out.glob("*.csv")):
        _assert_csv_safe(table.read_text(), table.name)
    marginals = (out / "marginals.csv").read_text()
    assert "'" + FORMULA in marginals.replace('""', '"') and "'@SUM(A1)" in marginals

    summary = _strict_json((out / "summary.json").read_text())  # valid JSON, names kept as data
    dumped = json.dumps(summary, ensure_ascii=False)
    assert all(json.dumps(name, ensure_ascii=False)[1:-1] in dumped for name in NASTY_ATTRIBUTES)


def _gate_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    run = {"schema": "gan-eval/result/1", "metrics": {"fid": 3.0, "precision": 0.5}, "ci": {"fid": [2.5, 3.5]},
           "ci_info": {"level": 0.95}, "provenance": {"extractor": "digits", "gen": {"source": SCRIPT}}}
    (tmp_path / "run.json").write_text(json.dumps(run))
    (tmp_path / "base.json").write_text(json.dumps(run))
    names = [SCRIPT, FORMULA, QUOTES, ANSI, "a | b\nc", "**bold** [link](http://evil.example) `code`"]
    rules = "".join(f'[[rule]]\nmetric = "fid"\nmax = {25 if i % 2 else 1}\nname = {json.dumps(n)}\n'
                    for i, n in enumerate(names))
    (tmp_path / "rules.toml").write_text(rules)
    return tmp_path / "run.json", tmp_path / "base.json", tmp_path / "rules.toml"


def test_gate_markdown_junit_and_table_escape_rule_names(tmp_path):
    run, base, rules = _gate_files(tmp_path)
    result = CliRunner().invoke(cli.main, ["gate", str(run), "--baseline", str(base), "--rules", str(rules),
                                           "--junit", str(tmp_path / "j.xml"), "--markdown", str(tmp_path / "s.md")])
    assert result.exit_code == 1, result.stderr  # the max = 1 rules fail
    table = result.stdout
    assert "\x1b" not in table and "red" in table  # no terminal escape sequence, the name still readable

    md = (tmp_path / "s.md").read_text()
    assert "<script>" not in md and "&lt;script>alert(1)&lt;/script>" in md  # a < opening no tag stays: "<= 25"
    assert "**bold**" not in md and "[link](" not in md and "`code`" not in md  # no Markdown formatting from a name
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 6 and all(line.count(" | ") == 5 for line in rows)  # a | or newline cannot break a row

    root = ET.parse(tmp_path / "j.xml").getroot()  # well-formed, and the names read back as they were given
    names = [case.get("name") for case in root.iter("testcase")]
    assert f"rule 1: {SCRIPT}" in names and f"rule 3: {QUOTES}" in names and f"rule 2: {FORMULA}" in names
    assert any(n.startswith("rule 4: ") and "red" in n and "\x1b" not in n for n in names)


def test_result_and_comparison_tables_strip_control_characters(tmp_path):
    from gan_eval.compare import ComparisonResult, Difference
    from gan_eval.reports.table import format_comparison, format_result_table
    from gan_eval.result import EvaluationResult

    result = EvaluationResult(metrics={"fid": 1.5}, provenance={"gen": {"source": f"{SCRIPT} {ANSI}"},
                                                                "real": {"source": ANSI}, "n_gen": 2, "n_real": 2})
    table = format_result_table(result)
    assert "\x1b" not in table and SCRIPT in table and "red" in table  # a terminal shows text: no HTML escaping
    json.loads(json.dumps(result.to_dict()))

    diff = Difference(a=1.0, b=2.0, value=1.0, interval=[0.5, 1.5], verdict="worse")
    comparison = ComparisonResult(names=(f"{FORMULA}\x07", ANSI), differences={"fid": diff}, ci_a={}, ci_b={},
                                  level=0.95, provenance={"real": {"source": "x"}, "n_real": 2, "n_gen": 2,
                                                          "extractor": "digits", "bootstrap": 10, "seed": 0})
    text = format_comparison(comparison)
    assert "\x1b" not in text and "\x07" not in text and FORMULA in text
    doc = _strict_json(comparison.to_json())
    assert doc["a"]["gen"] == f"{FORMULA}\x07" and doc["b"]["gen"] == ANSI  # JSON keeps the data exactly


def test_sweep_report_escapes_the_checkpoint_name(tmp_path):
    from gan_eval.reports.sweep_report import format_sweep_table, write_sweep
    from gan_eval.sweep import SweepResult, SweepRow

    name = f"{SCRIPT}{FORMULA}{QUOTES}.safetensors"
    rows = [SweepRow(psi=psi, metrics={"fid": 2.0 + i, "precision": 0.5}, strip=torch.zeros(2, 3, 8, 8, dtype=torch.uint8),
                     n_gen=10, wall_time_s=0.1) for i, psi in enumerate([0.5, None])]
    result = SweepResult(rows=rows, truncation_kind="z_truncnorm", metric_names=["fid", "pr"],
                         provenance={"gen": name, "arch": f"dcgan {ANSI}", "real": {"source": FORMULA}, "n_gen": 10,
                                     "n_real": 10, "extractor": "digits", "seed": 0})
    write_sweep(result, tmp_path / "sweep")
    html = (tmp_path / "sweep" / "index.html").read_text()
    assert "script" not in _parse_html(html).tags and SCRIPT not in html and "&lt;script&gt;" in html
    assert name in "".join(_parse_html(html).text)
    _assert_csv_safe((tmp_path / "sweep" / "sweep.csv").read_text(), "sweep.csv")
    doc = _strict_json((tmp_path / "sweep" / "sweep.json").read_text())
    assert doc["provenance"]["gen"] == name
    ET.fromstring((tmp_path / "sweep" / "sweep.svg").read_text())  # the plot's SVG stays well-formed
    assert "\x1b" not in format_sweep_table(result)
