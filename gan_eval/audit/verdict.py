"""Findings and the overall verdict (PASS / WARN / FAIL), from documented, overridable thresholds.

Every check is judged on an interval bound where there is one (Evidently/Aequitas practice): a FAIL
needs the whole interval beyond the threshold, so sampling noise alone does not fail an audit.
Latent-walk entanglement is reported as INFO: moving one attribute moves others in almost every
generator, and which couplings are acceptable is the user's call (gate them with ``--rules`` on
``walk_max_abs_corr_<target>``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from gan_eval.errors import GanEvalError

PASS, WARN, FAIL, INFO = "PASS", "WARN", "FAIL", "INFO"
_RANK = {PASS: 0, INFO: 0, WARN: 1, FAIL: 2}


@dataclass(frozen=True)
class Thresholds:
    """Default audit thresholds (override any with ``--threshold NAME=VALUE`` or ``thresholds={...}``)."""

    tv_warn: float = 0.05  # WARN when the TV distance's lower bound exceeds this
    tv_fail: float = 0.15  # FAIL when the TV distance's lower bound exceeds this
    parity_tau: float = 0.8  # a level is in the parity band when τ ≤ p_generated / p_reference ≤ 1/τ
    missing_level_min_reference: float = 0.02  # FAIL when a level this common in the reference is never generated
    w1_std_warn: float = 0.1  # continuous: WARN when W1 / sd_reference lower bound exceeds this (and KS significant)
    w1_std_fail: float = 0.5  # continuous: FAIL when W1 / sd_reference lower bound exceeds this
    corr_delta_warn: float = 0.2  # joint: WARN when |corr_generated − corr_reference| lower bound exceeds this
    corr_delta_fail: float = 0.5  # joint: FAIL when that lower bound exceeds this
    bias_amp_warn: float = 0.2  # joint: WARN when |P_gen(B|A) − P_real(B|A)| lower bound exceeds this
    min_validation_accuracy: float = 0.9  # WARN when an extractor's accuracy on labelled data is below this
    alpha: float = 0.05  # significance level for the tests (after Benjamini–Hochberg)

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any] | None) -> Thresholds:
        """Defaults with ``overrides`` applied; unknown names and non-numbers are errors."""
        if not overrides:
            return cls()
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise GanEvalError(f"unknown threshold(s) {', '.join(unknown)}; valid: {', '.join(sorted(fields))}")
        values = {}
        for k, v in overrides.items():
            try:
                values[k] = float(v)
            except (TypeError, ValueError):
                raise GanEvalError(f"threshold {k} must be a number, got {v!r}") from None
            if not math.isfinite(values[k]) or values[k] < 0:
                raise GanEvalError(f"threshold {k} must be a finite number ≥ 0, got {v!r}")
        if "parity_tau" in values and not 0 < values["parity_tau"] <= 1:
            raise GanEvalError("threshold parity_tau must be in (0, 1]")
        if "alpha" in values and not 0 < values["alpha"] < 1:
            raise GanEvalError("threshold alpha must be in (0, 1)")
        return dataclasses.replace(cls(), **values)


def finding(fid: str, status: str, section: str, message: str, metric: str | None = None,
            value: float | None = None, lo: float | None = None, hi: float | None = None,
            threshold: float | None = None) -> dict[str, Any]:
    return {"id": fid, "status": status, "section": section, "message": message, "metric": metric,
            "value": value, "lo": lo, "hi": hi, "threshold": threshold}


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def findings(representation: Any, joint: Any, walks: list[Any], thr: Thresholds) -> list[dict[str, Any]]:
    """Plain-language findings, most severe first."""
    out: list[dict[str, Any]] = []
    acc: dict[str, float] = {}
    for row in representation.validity:
        acc[row["attribute"]] = row["accuracy"]
    for attr, a in acc.items():
        if a < thr.min_validation_accuracy:
            out.append(finding(f"validity.{attr}", WARN, "validity",
                               f"The {attr} extractor is only {_pct(a)} accurate on labelled real data "
                               f"(threshold {_pct(thr.min_validation_accuracy)}); its measurements are unreliable.",
                               f"validation_accuracy_{attr}", a, threshold=thr.min_validation_accuracy))
    by_attr: dict[str, list[dict]] = {}
    for row in representation.marginals:
        by_attr.setdefault(row["attribute"], []).append(row)
    for dist in representation.distances:
        attr = dist["attribute"]
        ref = dist["reference"]
        rows = by_attr[attr]
        status = FAIL if dist["tv_lo"] > thr.tv_fail else WARN if dist["tv_lo"] > thr.tv_warn else PASS
        worst = max(rows, key=lambda r: abs(r["diff"]))
        p_key = "p_corrected" if dist["corrected"] else "p_generated"
        msg = (f"{attr}: total variation from the {ref} distribution is {dist['tv']:.3f} "
               f"(95 % CI {dist['tv_lo']:.3f}–{dist['tv_hi']:.3f}). Largest gap: level {worst['level']} is "
               f"{_pct(worst[p_key])} of generated images vs {_pct(worst['p_reference'])} in the {ref} reference.")
        out.append(finding(f"representation.{attr}", status, "representation", msg, f"tv_{attr}", dist["tv"],
                           dist["tv_lo"], dist["tv_hi"], thr.tv_fail if status == FAIL else thr.tv_warn))
        for r in rows:
            if r["count"] == 0 and r["p_reference"] >= thr.missing_level_min_reference:
                out.append(finding(f"representation.{attr}.{r['level']}.missing", FAIL, "representation",
                                   f"{attr} = {r['level']} is never generated ({r['n_generated']} samples) although it "
                                   f"is {_pct(r['p_reference'])} of the {ref} reference.",
                                   None, 0.0, threshold=thr.missing_level_min_reference))
            elif not r["in_parity_band"] and (r["diff_lo"] > 0 or r["diff_hi"] < 0):
                word = "over" if r["diff"] > 0 else "under"
                out.append(finding(f"representation.{attr}.{r['level']}.parity", WARN, "representation",
                                   f"{attr} = {r['level']} is {word}-represented: {_pct(r[p_key])} of generated images "
                                   f"vs {_pct(r['p_reference'])} ({ref}); ratio {r['ratio']:.2f} is outside the parity band "
                                   f"[{thr.parity_tau:.2f}, {1 / thr.parity_tau:.2f}] and the difference's interval "
                                   f"excludes 0.", None, r["ratio"], threshold=thr.parity_tau))
    for row in representation.continuous:
        attr = row["attribute"]
        significant = row.get("ks_p_adj", row["ks_p"]) < thr.alpha
        status = (FAIL if row["w1_std_lo"] > thr.w1_std_fail else
                  WARN if (row["w1_std_lo"] > thr.w1_std_warn and significant) else PASS)
        direction = "higher" if row["mean_generated"] > row["mean_reference"] else "lower"
        out.append(finding(f"representation.{attr}", status, "representation",
                           f"{attr}: generated mean {row['mean_generated']:.3g} {row['unit']} (sd {row['std_generated']:.3g}) vs real "
                           f"{row['mean_reference']:.3g} (sd {row['std_reference']:.3g}; {direction} mean); Wasserstein-1 = {row['w1_std']:.2f} real standard "
                           f"deviations (95 % CI {row['w1_std_lo']:.2f}–{row['w1_std_hi']:.2f}), KS adjusted "
                           f"p = {row.get('ks_p_adj', row['ks_p']):.2g}.",
                           f"w1_std_{attr}", row["w1_std"], row["w1_std_lo"], row["w1_std_hi"],
                           thr.w1_std_fail if status == FAIL else thr.w1_std_warn))
    if joint is not None and joint.correlations:
        worst = max(joint.correlations, key=lambda r: min(abs(r["corr_delta_lo"]), abs(r["corr_delta_hi"]))
                    if r["corr_delta_lo"] * r["corr_delta_hi"] > 0 else -1.0)
        lo_abs = (min(abs(worst["corr_delta_lo"]), abs(worst["corr_delta_hi"]))
                  if worst["corr_delta_lo"] * worst["corr_delta_hi"] > 0 else 0.0)
        status = FAIL if lo_abs > thr.corr_delta_fail else WARN if lo_abs > thr.corr_delta_warn else PASS
        out.append(finding("joint.correlation", status, "joint",
                           f"Largest change in co-occurrence: corr({worst['attr_a']}, {worst['attr_b']}) is "
                           f"{worst['corr_generated']:+.2f} in generated vs {worst['corr_reference']:+.2f} in real images "
                           f"(difference {worst['corr_delta']:+.2f}, simultaneous 95 % CI "
                           f"{worst['corr_delta_lo']:+.2f} to {worst['corr_delta_hi']:+.2f}).",
                           "max_abs_corr_diff", abs(worst["corr_delta"]), threshold=thr.corr_delta_warn))
    if joint is not None and joint.bias_amplification:
        valid = [r for r in joint.bias_amplification if math.isfinite(r["bias_amp"]) and math.isfinite(r["bias_amp_lo"])]
        if valid:
            def bound(r: dict) -> float:
                return min(abs(r["bias_amp_lo"]), abs(r["bias_amp_hi"])) if r["bias_amp_lo"] * r["bias_amp_hi"] > 0 else 0.0

            worst = max(valid, key=bound)
            status = WARN if bound(worst) > thr.bias_amp_warn else PASS
            out.append(finding("joint.bias_amplification", status, "joint",
                               f"Largest bias amplification: P({worst['event']} | {worst['given']}) is "
                               f"{_pct(worst['p_generated'])} in generated vs {_pct(worst['p_reference'])} in real images "
                               f"({worst['bias_amp']:+.2f}, CI {worst['bias_amp_lo']:+.2f} to {worst['bias_amp_hi']:+.2f}).",
                               "max_abs_bias_amp", abs(worst["bias_amp"]), threshold=thr.bias_amp_warn))
    for walk in walks:
        others = [r for r in walk.rows if not r["same_attribute"]] or walk.rows
        if not others:
            continue
        top = others[0]
        sig = [r for r in others if r["p_value_adj"] < thr.alpha]
        out.append(finding(f"walk.{walk.target}", INFO, "walks",
                           f"Walking the latent codes along {walk.target} ({walk.mode} mode) moves {top['other']} most "
                           f"(slope {top['slope']:+.3g} per unit of {walk.target}, correlation {top['corr']:+.2f}, CI "
                           f"{top['corr_lo']:+.2f} to {top['corr_hi']:+.2f}); {len(sig)} of {len(others)} other "
                           f"attributes change significantly (BH-adjusted p < {thr.alpha}).",
                           f"walk_max_abs_corr_{walk.target}", abs(top["corr"])))
    out.sort(key=lambda f: -_RANK[f["status"]])
    return out


def verdict(items: list[dict[str, Any]]) -> str:
    """The worst status among the findings (INFO counts as PASS)."""
    worst = max((f["status"] for f in items), key=lambda s: _RANK[s], default=PASS)
    return PASS if worst == INFO else worst
