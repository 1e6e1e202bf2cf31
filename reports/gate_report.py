"""Renderings of a gate report (:class:`gan_eval.gate.GateReport`): terminal table, Markdown, JUnit XML.

``write_gate_reports`` writes the JUnit and Markdown files atomically; the gate's judgement and its
error policy live in :mod:`gan_eval.gate`, which imports nothing from here.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

from gan_eval.files import write_text_atomic, xml_legal
from gan_eval.gate import ERROR, FAIL, PASS, WARN, GateError, GateReport, RuleResult
from gan_eval.reports.text import markdown_safe, terminal_safe


def format_table(report: GateReport) -> str:
    """Plain-text table for the terminal: one line per rule, then the overall status."""
    rows = [("status", "rule", "value", "bound", "baseline", "detail")]
    for r in report.results:
        rows.append((r.status, terminal_safe(r.rule.title), _value_text(r), r.bound or "-",
                     "-" if r.baseline_value is None else _interval_text(r.baseline_value, r.baseline_interval),
                     terminal_safe(r.message)))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:5], widths)) + "  " + row[5] for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * 6)
    for note in report.notes:
        lines.append(f"note: {terminal_safe(note)}")
    if report.error:
        lines.append(f"error: {terminal_safe(report.error)}")
    counts = report.counts()
    lines.append(f"gate: {report.status} ({counts[PASS]} passed, {counts[WARN]} warned, {counts[FAIL]} failed"
                 + (f", {counts[ERROR]} could not be evaluated" if counts[ERROR] else "") + ")")
    return "\n".join(lines)


def to_markdown(report: GateReport) -> str:
    """A Markdown summary (for ``$GITHUB_STEP_SUMMARY`` or a merge-request comment)."""
    icon = {PASS: "✅", WARN: "⚠️", FAIL: "❌", ERROR: "⛔"}
    counts = report.counts()
    out = [f"### gan-eval gate: {icon[report.status]} {report.status}", ""]
    if report.error:
        out += [f"The gate could not be evaluated: {_md(report.error)}", ""]
    else:
        out.append(f"{counts[PASS]} passed, {counts[WARN]} warned, {counts[FAIL]} failed"
                   + (f", {counts[ERROR]} could not be evaluated" if counts[ERROR] else ""))
        out += ["", "| status | rule | value | bound | baseline | detail |", "|---|---|---|---|---|---|"]
        for r in report.results:
            base = "–" if r.baseline_value is None else _interval_text(r.baseline_value, r.baseline_interval)
            out.append(f"| {icon[r.status]} {r.status} | {_md(r.rule.title)} | {_md(_value_text(r))} | "
                       f"{_md(r.bound or '–')} | {_md(base)} | {_md(r.message)} |")
    if report.notes:
        out += [""] + [f"- note: {_md(n)}" for n in report.notes]
    return "\n".join(out) + "\n"


def to_junit_xml(report: GateReport) -> str:
    """JUnit XML: one ``<testsuite name="gan-eval gate">`` with one ``<testcase>`` per rule.

    FAIL -> ``<failure>``; ERROR (rule or whole gate not evaluable) -> ``<error>``. WARN -> a
    ``<skipped>`` element with the warning as its message, plus the detail in ``<system-out>``: a
    warning must stay visible without failing the job, and the common readers (Jenkins' JUnit plugin,
    GitLab test reports, GitHub test-reporter/publish actions) all count skipped cases separately from
    failures and never turn the build red for them, whereas a plain passing case with ``<system-out>``
    would disappear in their summaries. Characters XML forbids (control characters in a rule name)
    become U+FFFD, so every reader can parse the file.
    """
    counts = report.counts()
    tests = len(report.results) if report.error is None else 1
    errors = counts[ERROR] + (1 if report.error is not None else 0)
    root = ET.Element("testsuites", name="gan-eval", tests=str(tests), failures=str(counts[FAIL]),
                      errors=str(errors), skipped=str(counts[WARN]))
    suite = ET.SubElement(root, "testsuite", name="gan-eval gate", tests=str(tests), failures=str(counts[FAIL]),
                          errors=str(errors), skipped=str(counts[WARN]),
                          timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    if report.error is not None:
        case = ET.SubElement(suite, "testcase", classname="gan-eval.gate", name="gate inputs")
        ET.SubElement(case, "error", message=report.error, type="GateError").text = report.error
    for r in report.results:
        case = ET.SubElement(suite, "testcase", classname="gan-eval.gate", name=f"rule {r.rule.number}: {r.rule.title}")
        detail = (f"value {_value_text(r)}; bound {r.bound or '-'}"
                  + (f"; baseline {_interval_text(r.baseline_value, r.baseline_interval)}" if r.baseline_value is not None else "")
                  + f"\n{r.message}")
        if r.status == FAIL:
            ET.SubElement(case, "failure", message=r.message, type="FAIL").text = detail
        elif r.status == ERROR:
            ET.SubElement(case, "error", message=r.message, type="ERROR").text = detail
        elif r.status == WARN:
            ET.SubElement(case, "skipped", message=f"WARN: {r.message}")
            ET.SubElement(case, "system-out").text = detail
        else:
            ET.SubElement(case, "system-out").text = detail
    if report.notes:
        ET.SubElement(suite, "system-out").text = "\n".join(report.notes)
    ET.indent(root)
    # ElementTree escapes markup but writes control characters as they are (not well-formed XML).
    return xml_legal(ET.tostring(root, encoding="unicode", xml_declaration=True)) + "\n"


def write_gate_reports(report: GateReport, junit_path: str | os.PathLike | None = None,
                       markdown_path: str | os.PathLike | None = None) -> None:
    """Write the JUnit XML and Markdown renderings (each when its path is given), atomically."""
    for path, render in ((junit_path, to_junit_xml), (markdown_path, to_markdown)):
        if path:
            try:
                write_text_atomic(path, render(report))
            except OSError as exc:
                raise GateError(f"cannot write {path}: {exc}") from None


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.6g}"


def _interval_text(value: float, interval: tuple[float, float] | None) -> str:
    return _fmt(value) + (f" [{_fmt(interval[0])}, {_fmt(interval[1])}]" if interval else "")


def _value_text(r: RuleResult) -> str:
    return "missing" if r.value is None else _interval_text(r.value, r.interval)


def _md(text: str) -> str:
    return markdown_safe(text)
