"""Quality gates for CI: judge a result JSON against thresholds and a baseline (``gan-eval gate``).

A *run* and a *baseline* are result documents written by ``gan-eval evaluate --json`` (schema
``gan-eval/result/1``). A *rules file* (TOML) holds ``[[rule]]`` tables::

    [[rule]]
    metric = "fid"            # a result key; aliases such as "is" -> "is_mean", "kid" -> "kid_mean"
    max = 25                  # absolute bounds: max and/or min
    [[rule]]
    metric = "fid"
    max_regression = 0.05     # relative to the baseline value (0.05 = 5 % worse allowed)
    max_regression_abs = 0.5  # or an absolute worsening allowed (both may be given; each is checked)
    judge = "interval"        # "point" (default) or "interval"
    severity = "warn"         # "fail" (default) or "warn"
    name = "FID vs main"      # optional; shown in the table and as the JUnit test name

Judging, for a metric with value ``v`` in the run, interval ``[lo, hi]`` (``ci`` in the run), and for
regressions the baseline value ``b`` with interval ``[blo, bhi]``; tolerance ``t = r·|b|`` for
``max_regression = r`` or ``t = a`` for ``max_regression_abs = a``. "Worse" follows the metric's
direction (:func:`gan_eval.metrics.metric_direction`): lower is better for FID/KID, higher for IS,
precision, recall, density, coverage.

``judge = "point"``
    ``max``: fails when ``v > max``. ``min``: fails when ``v < min``.
    Regression, lower is better: fails when ``v > b + t``; higher is better: fails when ``v < b - t``.
``judge = "interval"`` (fails only when the run is worse with the interval's confidence)
    ``max``: fails when ``lo > max``. ``min``: fails when ``hi < min``.
    Regression, lower is better: fails when ``lo > bhi + t``; higher is better: fails when
    ``hi < blo - t``; i.e. the two intervals separate in the bad direction by more than the tolerance.
    A baseline without an interval for the metric counts as the point ``[b, b]`` (said in the message).
    A run without an interval for the metric is judged on the point instead (said in the message).

A failed check gives FAIL, or WARN when the rule's ``severity = "warn"``; a rule with several bounds
takes its worst check. A NaN value fails every check (a broken model must not pass by accident).

Without a rules file, :func:`default_rules` makes one regression rule per directed metric present
in both files: judged on the intervals with zero tolerance where both files carry an interval for
it (fail when the intervals do not overlap in the bad direction), else on the point with 5 %.

Exit codes (:attr:`GateReport.exit_code`): 0 every rule passed (WARN included), 1 a FAIL-severity
rule failed, 2 the gate could not be evaluated (:class:`GateError`: missing or unreadable file, bad
TOML, schema mismatch, a metric missing from a file, a regression rule without a baseline, or run and
baseline with incompatible provenance: another extractor, weights, preprocessing, metric options,
sample counts or reference data).
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (a dependency there)
    import tomli as tomllib

from gan_eval.errors import GanEvalError
from gan_eval.files import sha256_file, write_text_atomic
from gan_eval.metrics import (
    available_metrics,
    canonical_key,
    find_key,
    get_metrics,
    metric_direction,
)
from gan_eval.result import RESULT_SCHEMA

PASS, WARN, FAIL, ERROR = "PASS", "WARN", "FAIL", "ERROR"
_RANK = {PASS: 0, WARN: 1, FAIL: 2, ERROR: 3}
#: Relative tolerance of the default rules for metrics without an interval in both files.
DEFAULT_MAX_REGRESSION = 0.05
#: Schema tags the gate accepts. Other documents with the same shape (``metrics``, optional ``ci``,
#: ``provenance``) may add theirs, e.g. ``gate.ACCEPTED_SCHEMAS.add("gan-eval/audit/1")``.
ACCEPTED_SCHEMAS: set[str] = {RESULT_SCHEMA}
_RULE_KEYS = {"metric", "min", "max", "max_regression", "max_regression_abs", "judge", "severity", "name"}


class GateError(GanEvalError):
    """The gate could not be evaluated (bad input, not a quality verdict): exit code 2."""

    exit_code = 2


@dataclass(frozen=True)
class Rule:
    """One ``[[rule]]``: bounds on one metric. ``number`` is its 1-based position in the rules file."""

    metric: str
    min: float | None = None
    max: float | None = None
    max_regression: float | None = None
    max_regression_abs: float | None = None
    judge: str = "point"
    severity: str = "fail"
    name: str | None = None
    number: int = 0

    @property
    def needs_baseline(self) -> bool:
        return self.max_regression is not None or self.max_regression_abs is not None

    @property
    def title(self) -> str:
        """The rule's name, or a description built from its bounds (``fid <= 25``)."""
        if self.name:
            return self.name
        parts = []
        if self.min is not None:
            parts.append(f">= {_fmt(self.min)}")
        if self.max is not None:
            parts.append(f"<= {_fmt(self.max)}")
        if self.max_regression == 0:
            parts.append("not worse than baseline")
        elif self.max_regression is not None:
            parts.append(f"regression <= {self.max_regression * 100:.4g}%")
        if self.max_regression_abs is not None:
            parts.append(f"regression <= {_fmt(self.max_regression_abs)}")
        suffix = f" [{self.judge}]" if self.judge != "point" else ""
        return f"{self.metric} {', '.join(parts)}{suffix}"


@dataclass
class CheckResult:
    """One bound of a rule: ``kind`` is min/max/max_regression/max_regression_abs; ``limit`` is on the
    metric's scale and ``compared`` the number held against it (the point or an interval bound)."""

    kind: str
    op: str  # "<=" or ">=": compared op limit must hold
    limit: float
    compared: float
    judged_on: str
    passed: bool
    message: str


@dataclass
class RuleResult:
    """The verdict on one rule. ``status`` is PASS, WARN, FAIL or ERROR (the rule could not be judged)."""

    rule: Rule
    status: str
    metric: str
    value: float | None
    bound: str
    baseline_value: float | None = None
    interval: tuple[float, float] | None = None
    baseline_interval: tuple[float, float] | None = None
    message: str = ""
    checks: list[CheckResult] = field(default_factory=list)


@dataclass
class GateReport:
    """All rule verdicts; ``notes`` lists harmless provenance differences (seed, versions)."""

    results: list[RuleResult]
    notes: list[str] = field(default_factory=list)
    error: str | None = None  # set when the gate as a whole could not be evaluated
    #: the unexpected exception behind ``error``, if one was (``gan-eval --debug`` shows its traceback)
    cause: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def status(self) -> str:
        if self.error is not None:
            return ERROR
        return max((r.status for r in self.results), key=_RANK.__getitem__, default=PASS)

    @property
    def exit_code(self) -> int:
        return {PASS: 0, WARN: 0, FAIL: 1, ERROR: 2}[self.status]

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in (PASS, WARN, FAIL, ERROR)}
        for r in self.results:
            out[r.status] += 1
        return out


def error_report(message: str, cause: BaseException | None = None) -> GateReport:
    """A report for a gate that could not be evaluated, so CI still gets a JUnit file saying why."""
    return GateReport(results=[], error=message, cause=cause)


def run(run_path: str | os.PathLike, baseline_path: str | os.PathLike | None = None,
        rules_path: str | os.PathLike | None = None) -> GateReport:
    """The whole ``gan-eval gate`` judgement: load the files and judge them, never raising.

    The gate's error policy lives here. Whatever stops the gate from being evaluated -- a
    :class:`GateError` (missing file, bad rules, schema mismatch, incompatible provenance) or an
    unexpected exception (kept as ``report.cause``) -- becomes an error report (``status`` ERROR,
    exit code 2), never a failed rule (1): CI must tell "the model got worse" from "the check could
    not run". Render it with :mod:`gan_eval.reports.gate_report` (terminal table, JUnit XML, Markdown),
    which writes the report files in every case, so CI shows why.
    """
    try:
        run_doc = load_result(run_path)
        base_doc = load_result(baseline_path) if baseline_path else None
        rules = load_rules(rules_path) if rules_path else None
        report = run_gate(run_doc, base_doc, rules)
    except GanEvalError as exc:
        report = error_report(str(exc))
    except Exception as exc:  # noqa: BLE001 - a crash must read as "not evaluated" (2), never as a failed rule (1)
        report = error_report(f"internal error: {type(exc).__name__}: {exc}", cause=exc)
    return report


# --------------------------------------------------------------------------- loading


def load_result(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a result (or baseline) JSON document; raises :class:`GateError`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GateError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GateError(f"{p}: cannot read ({exc})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GateError(f"{p}: not valid JSON ({exc})") from None
    except RecursionError:
        raise GateError(f"{p}: not a gan-eval result (nested too deeply to read)") from None
    validate_result(doc, str(p))
    return doc


def validate_result(doc: Any, where: str = "result") -> None:
    """Check the schema tag and the shapes of ``metrics``, ``ci`` and ``provenance``."""
    if not isinstance(doc, dict):
        raise GateError(f"{where}: not a gan-eval result (expected a JSON object)")
    schema = doc.get("schema")
    if schema not in ACCEPTED_SCHEMAS:
        found = "no schema tag" if schema is None else f"schema {schema!r}"
        expected = " or ".join(repr(s) for s in sorted(ACCEPTED_SCHEMAS))
        raise GateError(f"{where}: {found}, expected {expected} (write it with `gan-eval evaluate --json` "
                        f"from this version)")
    metrics = doc.get("metrics")
    if not isinstance(metrics, dict) or not all(_is_number(v) for v in metrics.values()):
        raise GateError(f"{where}: 'metrics' must map metric names to numbers")
    ci = doc.get("ci", {})
    if not isinstance(ci, dict):
        raise GateError(f"{where}: 'ci' must map metric names to [lo, hi]")
    for key, bounds in ci.items():
        if (not isinstance(bounds, list) or len(bounds) != 2 or not all(_is_number(b) for b in bounds)
                or bounds[0] > bounds[1]):
            raise GateError(f"{where}: ci[{key!r}] must be [lo, hi] with lo <= hi, got {bounds!r}")
    if not isinstance(doc.get("provenance"), dict):
        raise GateError(f"{where}: 'provenance' is missing")


def load_rules(path: str | os.PathLike) -> list[Rule]:
    """Parse and validate a TOML rules file (``[[rule]]`` tables); raises :class:`GateError`."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise GateError(f"{p}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise GateError(f"{p}: invalid TOML ({exc})") from None
    except RecursionError:
        raise GateError(f"{p}: invalid TOML (nested too deeply to read)") from None
    except OSError as exc:
        raise GateError(f"{p}: cannot read ({exc})") from None
    return parse_rules(data, str(p))


def parse_rules(data: dict[str, Any], where: str = "rules") -> list[Rule]:
    """Validate already-parsed TOML data ``{"rule": [{...}, ...]}`` into rules."""
    extra = set(data) - {"rule"}
    if extra:
        raise GateError(f"{where}: unknown top-level key(s) {', '.join(sorted(extra))}; rules are [[rule]] tables")
    tables = data.get("rule")
    if not isinstance(tables, list) or not tables:
        raise GateError(f"{where}: no [[rule]] tables")
    return [_parse_rule(t, i, where) for i, t in enumerate(tables, 1)]


def _parse_rule(table: Any, number: int, where: str) -> Rule:
    at = f"{where}: rule {number}"
    if not isinstance(table, dict):
        raise GateError(f"{at}: must be a table")
    unknown = set(table) - _RULE_KEYS
    if unknown:
        raise GateError(f"{at}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_RULE_KEYS))}")
    metric = table.get("metric")
    if not isinstance(metric, str) or not metric.strip():
        raise GateError(f"{at}: 'metric' is required (a result key such as \"fid\")")
    metric = canonical_metric(metric.strip())
    bounds: dict[str, float | None] = {}
    for key in ("min", "max", "max_regression", "max_regression_abs"):
        value = table.get(key)
        if value is not None:
            try:
                as_float = float(value) if _is_number(value) else math.nan
            except OverflowError:  # an integer beyond float's range
                as_float = math.inf
            if not math.isfinite(as_float):
                shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
                raise GateError(f"{at}: {key} must be a finite number, got {shown}")
        if value is not None and key.startswith("max_regression") and value < 0:
            raise GateError(f"{at}: {key} must be >= 0, got {value}")
        bounds[key] = None if value is None else float(value)
    if all(v is None for v in bounds.values()):
        raise GateError(f"{at}: give at least one of min, max, max_regression, max_regression_abs")
    if bounds["min"] is not None and bounds["max"] is not None and bounds["min"] > bounds["max"]:
        raise GateError(f"{at}: min {bounds['min']} is above max {bounds['max']}")
    if (bounds["max_regression"] is not None or bounds["max_regression_abs"] is not None) and metric_direction(metric) is None:
        raise GateError(f"{at}: {metric} has no better direction, so it cannot regress; use min/max")
    judge = table.get("judge", "point")
    if judge not in ("point", "interval"):
        raise GateError(f"{at}: judge must be \"point\" or \"interval\", got {judge!r}")
    severity = table.get("severity", "fail")
    if severity not in ("fail", "warn"):
        raise GateError(f"{at}: severity must be \"fail\" or \"warn\", got {severity!r}")
    name = table.get("name")
    if name is not None and not isinstance(name, str):
        raise GateError(f"{at}: name must be a string")
    return Rule(metric=metric, judge=judge, severity=severity, name=name, number=number, **bounds)


def canonical_metric(name: str) -> str:
    """The result key for a name a user may write (``is`` -> ``is_mean``; the aliases in the metric records)."""
    return canonical_key(name)


# --------------------------------------------------------------------------- provenance

#: Provenance fields that change metric values: run and baseline must agree on them.
_MUST_MATCH = (
    ("extractor", "extractor"),
    ("weights_sha256", "extractor weights (sha256)"),
    ("feature_dim", "feature dimension"),
    ("preprocessing", "preprocessing"),
    ("n_gen", "number of generated samples (FID and k-NN metrics depend on N)"),
    ("n_real", "number of real samples"),
)
#: Fields whose difference is reported but harmless for a comparison.
_MAY_DIFFER = ("seed", "device")


_REPLACE_HINT = "evaluate both the same way, or replace the baseline with `gan-eval baseline update --force`"


def check_compatible(run: dict[str, Any], baseline: dict[str, Any], hint: str = _REPLACE_HINT) -> list[str]:
    """Refuse (:class:`GateError`) a baseline whose numbers are not comparable with the run's.

    Compared when both sides record them: extractor, weights sha256, feature dimension,
    preprocessing, sample counts, every shared ``metric_options`` entry (k of the k-NN metrics, KID
    subsets, IS splits, ...), the reference data's content hash and the interval level/method.
    Returns notes on differences that do not invalidate the comparison (seed, device, versions) and on
    fields only one side records.
    """
    a, b = run.get("provenance", {}), baseline.get("provenance", {})
    problems: list[str] = []
    notes: list[str] = []

    def compare(key: str, label: str, x: Any, y: Any) -> None:
        if x is None and y is None:
            return
        if x is None or y is None:
            notes.append(f"{label} is recorded only in the {'baseline' if x is None else 'run'}; not verified")
        elif x != y:
            problems.append(f"{label}: run {_short(x)}, baseline {_short(y)}")

    compare("schema", "schema", run.get("schema"), baseline.get("schema"))
    for key, label in _MUST_MATCH:
        compare(key, label, a.get(key), b.get(key))
    opts_a, opts_b = a.get("metric_options") or {}, b.get("metric_options") or {}
    for key in sorted(set(opts_a) | set(opts_b)):
        compare(key, f"metric option {key}", opts_a.get(key), opts_b.get(key))
    real_a, real_b = a.get("real") or {}, b.get("real") or {}
    compare("content_sha256", "reference data (content sha256)", real_a.get("content_sha256"), real_b.get("content_sha256"))
    if run.get("ci") and baseline.get("ci"):
        info_a, info_b = run.get("ci_info") or {}, baseline.get("ci_info") or {}
        for key in ("level", "method"):
            compare(key, f"interval {key}", info_a.get(key), info_b.get(key))
    if problems:
        raise GateError("run and baseline are not comparable: " + "; ".join(problems) + f" ({hint})")
    for key in _MAY_DIFFER:
        if a.get(key) != b.get(key):
            notes.append(f"{key} differs: run {_short(a.get(key))}, baseline {_short(b.get(key))}")
    va, vb = a.get("versions") or {}, b.get("versions") or {}
    changed = [f"{k} {vb.get(k)} -> {va.get(k)}" for k in sorted(set(va) | set(vb)) if va.get(k) != vb.get(k)]
    if changed:
        notes.append("versions differ: " + ", ".join(changed))
    return notes


# --------------------------------------------------------------------------- rules and judging


def default_rules(run: dict[str, Any], baseline: dict[str, Any]) -> list[Rule]:
    """One regression rule per metric with a direction present in both files.

    The direction is the metric record's (:func:`gan_eval.metrics.metric_direction`), so a plug-in
    metric is gated like a built-in. Where both files carry an interval for the metric: ``judge="interval"`` with zero tolerance (fail
    when the intervals do not overlap in the bad direction); elsewhere ``judge="point"`` with
    ``max_regression = 0.05``.
    """
    rules = []
    for key in run.get("metrics", {}):
        if metric_direction(key) is None or key not in baseline.get("metrics", {}):
            continue
        both = key in (run.get("ci") or {}) and key in (baseline.get("ci") or {})
        rules.append(Rule(metric=key, max_regression=0.0 if both else DEFAULT_MAX_REGRESSION,
                          judge="interval" if both else "point", number=len(rules) + 1))
    return rules


def run_gate(run: dict[str, Any], baseline: dict[str, Any] | None, rules: list[Rule] | None = None) -> GateReport:
    """Judge ``run`` (and ``baseline``, when given) against ``rules`` (default: :func:`default_rules`).

    Raises :class:`GateError` when the documents are invalid or incompatible, when a regression
    rule has no baseline, or when there is nothing to check. A metric missing from a file makes that
    rule ERROR (report status ERROR, exit code 2) while the other rules are still judged.
    """
    validate_result(run, "run")
    notes: list[str] = []
    if baseline is not None:
        validate_result(baseline, "baseline")
        notes = check_compatible(run, baseline)
    if rules is None:
        if baseline is None:
            raise GateError("nothing to check: give a rules file (--rules) or a baseline (--baseline)")
        rules = default_rules(run, baseline)
        if not rules:
            raise GateError("run and baseline share no metric with a better direction; nothing to compare")
    if not rules:
        raise GateError("no rules to check")
    if baseline is None:
        needing = [str(r.number or r.title) for r in rules if r.needs_baseline]
        if needing:
            raise GateError(f"rule(s) {', '.join(needing)} compare with a baseline (max_regression); pass --baseline")
    return GateReport([judge_rule(rule, run, baseline) for rule in rules], notes)


def judge_rule(rule: Rule, run: dict[str, Any], baseline: dict[str, Any] | None) -> RuleResult:
    """Apply one rule (see the module docstring for the exact semantics)."""
    metric = rule.metric
    metrics = run["metrics"]
    result = RuleResult(rule=rule, status=ERROR, metric=metric, value=None, bound="")
    if metric not in metrics:
        result.message = _missing_metric_message(metric, metrics, "run")
        return result
    value = float(metrics[metric])
    result.value = value
    ci = (run.get("ci") or {}).get(metric)
    result.interval = (float(ci[0]), float(ci[1])) if ci else None
    fallback = ""
    use_interval = rule.judge == "interval" and result.interval is not None
    if rule.judge == "interval" and result.interval is None:
        fallback = "judge=interval but the run has no interval for this metric: judged on the point"
    b = None
    bci = None
    if rule.needs_baseline:
        if baseline is None:
            raise GateError(f"rule {rule.number or rule.title} compares with a baseline (max_regression); pass --baseline")
        if metric not in baseline["metrics"]:
            result.message = _missing_metric_message(metric, baseline["metrics"], "baseline")
            return result
        if metric_direction(metric) is None:
            result.message = f"{metric} has no better direction, so it cannot regress; use min/max"
            return result
        b = float(baseline["metrics"][metric])
        if not math.isfinite(b):
            result.message = f"the baseline's {metric} is {b}; it cannot serve as a reference (update the baseline)"
            return result
        result.baseline_value = b
        bci_raw = (baseline.get("ci") or {}).get(metric)
        bci = (float(bci_raw[0]), float(bci_raw[1])) if bci_raw else None
        result.baseline_interval = bci

    lo, hi = result.interval if use_interval else (value, value)
    checks: list[CheckResult] = []
    on_lo = "interval lower bound" if use_interval else "value"
    on_hi = "interval upper bound" if use_interval else "value"
    if rule.max is not None:
        checks.append(_check("max", "<=", rule.max, lo, on_lo, _fmt(rule.max)))
    if rule.min is not None:
        checks.append(_check("min", ">=", rule.min, hi, on_hi, _fmt(rule.min)))
    if rule.needs_baseline:
        direction = metric_direction(metric)
        base_note = " (the baseline has no interval: its point is used)" if use_interval and bci is None else ""
        with_bci = use_interval and bci is not None
        blo, bhi = bci if with_bci else (b, b)
        for kind, tol in (("max_regression", rule.max_regression), ("max_regression_abs", rule.max_regression_abs)):
            if tol is None:
                continue
            allowed = tol * abs(b) if kind == "max_regression" else tol
            tol_text = f"{tol:.4g}×|{_fmt(b)}|" if kind == "max_regression" else _fmt(tol)
            if direction < 0:  # lower is better: worse means larger
                limit = bhi + allowed
                ref = "baseline upper bound" if with_bci else "baseline"
                expr = f"{ref} {_fmt(bhi)} + {tol_text} = {_fmt(limit)}{base_note}"
                checks.append(_check(kind, "<=", limit, lo, on_lo, expr))
            else:
                limit = blo - allowed
                ref = "baseline lower bound" if with_bci else "baseline"
                expr = f"{ref} {_fmt(blo)} - {tol_text} = {_fmt(limit)}{base_note}"
                checks.append(_check(kind, ">=", limit, hi, on_hi, expr))
    result.checks = checks
    result.bound = "; ".join(_bound_text(c) for c in checks)
    failed = [c for c in checks if not c.passed]
    if math.isnan(value):
        result.status = FAIL if rule.severity == "fail" else WARN
        result.message = f"{metric} is NaN"
    elif failed:
        result.status = FAIL if rule.severity == "fail" else WARN
        result.message = "; ".join(c.message for c in failed)
    else:
        result.status = PASS
        result.message = "; ".join(c.message for c in checks)
    if fallback:
        result.message = f"{result.message} ({fallback})"
    return result


def _check(kind: str, op: str, limit: float, compared: float, judged_on: str, limit_text: str) -> CheckResult:
    """Check ``compared op limit``; the message states the relation that holds (``value 30 > 25``)."""
    passed = compared <= limit if op == "<=" else compared >= limit  # False for NaN
    shown = op if passed else {"<=": ">", ">=": "<"}[op]
    return CheckResult(kind, op, limit, compared, judged_on, passed, f"{judged_on} {_fmt(compared)} {shown} {limit_text}")


def _bound_text(check: CheckResult) -> str:
    return f"{check.op} {_fmt(check.limit)}"


def _missing_metric_message(metric: str, metrics: dict[str, Any], which: str) -> str:
    available = ", ".join(metrics) or "none"
    if metric in available_metrics():
        keys = ", ".join(get_metrics([metric])[0].key_names)
        return f"{metric!r} is a metric name, not a result key; the rule must name one of: {keys}"
    if find_key(metric) is not None:
        return f"{metric} is not in the {which} (it has: {available}); evaluate it with --metrics"
    return f"unknown metric {metric!r}: not in the {which} (it has: {available})"


# --------------------------------------------------------------------------- baseline


def update_baseline(run_path: str | os.PathLike, output: str | os.PathLike, force: bool = False) -> dict[str, Any]:
    """Copy a validated run to ``output`` as the new baseline (atomic write) and return the document.

    Adds ``"baseline": {"updated", "from", "from_sha256", "commit"?, "replaced_sha256"?}`` recording
    when and from where it was made (``commit`` from ``$GITHUB_SHA`` / ``$CI_COMMIT_SHA`` when set).
    An existing baseline whose provenance is incompatible with the run (another extractor, weights,
    sample counts, ...) or that is not a valid result is kept and :class:`GateError` raised, unless
    ``force``: replacing it silently would make every later gate compare against different numbers.
    """
    doc = load_result(run_path)
    out = Path(output)
    origin: dict[str, Any] = {
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "from": str(Path(run_path).resolve()),
        "from_sha256": sha256_file(run_path),
    }
    commit = os.environ.get("GITHUB_SHA") or os.environ.get("CI_COMMIT_SHA")
    if commit:
        origin["commit"] = commit
    if out.exists():
        if not force:
            try:
                previous = load_result(out)
            except GateError as exc:
                raise GateError(f"{out} exists and is not a valid baseline ({exc}); pass --force to replace it") from None
            try:
                check_compatible(doc, previous, hint="pass --force to replace it anyway")
            except GateError as exc:
                raise GateError(f"refusing to replace {out}: {exc}") from None
        origin["replaced_sha256"] = sha256_file(out)
    doc = {**doc, "baseline": origin}
    try:
        write_text_atomic(out, json.dumps(doc, indent=2) + "\n")
    except OSError as exc:  # the gate's convention: a baseline that cannot be written is exit 2
        raise GateError(str(exc)) from None
    return doc


# --------------------------------------------------------------------------- helpers


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.6g}"


def _short(x: Any) -> str:
    text = str(x)
    return text[:12] + "…" if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else repr(x)

