"""Representation: how often the generator produces each attribute level, against a reference.

Categorical and binary attributes: level counts with ``minlength`` (a level never generated still
counts, unlike the reference FD code that drops absent classes), simultaneous Wilson intervals of the
raw proportions, proportions corrected for the extractor's error by inverting its confusion matrix
(measured on labelled real data) with bootstrap intervals that resample both the generated sample
and the validation counts, and distances to the reference — L2 fairness discrepancy (Choi et al.
2020), total variation, KL, Jensen–Shannon, a χ² test — plus an Aequitas-style parity band on the
level ratios. Continuous attributes: Wasserstein-1 (also in units of the reference's standard
deviation), Kolmogorov–Smirnov and an MMD permutation test (Morpho-MNIST's diversity test).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

from gan_eval.attributes.base import AttributeSpec
from gan_eval.audit.stats import (
    bh_adjust,
    correct_proportions,
    mmd2_test,
    normal_interval,
    row_normalise,
    wilson_intervals,
)

KL_PSEUDOCOUNT = 0.5  # Jeffreys prior on the reference so KL stays finite when a reference level is empty


@dataclass
class Representation:
    """Tables of the representation section (lists of row dicts, one per CSV row)."""

    marginals: list[dict[str, Any]] = field(default_factory=list)
    distances: list[dict[str, Any]] = field(default_factory=list)
    continuous: list[dict[str, Any]] = field(default_factory=list)
    validity: list[dict[str, Any]] = field(default_factory=list)
    confusions: dict[str, np.ndarray] = field(default_factory=dict)


def _distances(p: np.ndarray, q: np.ndarray, n_ref: float) -> tuple[float, float, float, float]:
    diff = p - q
    q_s = (q * n_ref + KL_PSEUDOCOUNT) / (n_ref + KL_PSEUDOCOUNT * len(q)) if n_ref > 0 else q
    kl = float(stats.entropy(p, q_s)) if np.all(q_s > 0) else float("inf")
    js = float(jensenshannon(p, q, base=2)) if (p.sum() > 0 and q.sum() > 0) else float("nan")
    return float(np.linalg.norm(diff)), float(0.5 * np.abs(diff).sum()), kl, js


def categorical(spec: AttributeSpec, gen_codes: np.ndarray, real_codes: np.ndarray | None,
                confusion_counts: np.ndarray | None, target: Mapping[str, float] | None, *, bootstrap: int,
                level: float, parity_tau: float, rng: np.random.Generator) -> tuple[list[dict], dict]:
    """Marginal rows and one distance row for a categorical or binary attribute."""
    k = len(spec.levels)
    n = len(gen_codes)
    counts = np.bincount(gen_codes, minlength=k)[:k]
    p_raw = counts / n
    raw_lo, raw_hi = wilson_intervals(counts, n, level, family=k)
    conf = row_normalise(confusion_counts) if confusion_counts is not None else None
    val_rows = confusion_counts.sum(axis=1).astype(np.int64) if confusion_counts is not None else None

    def fix(p: np.ndarray, c: np.ndarray | None) -> np.ndarray:
        return correct_proportions(p, c) if c is not None else p

    p_gen = fix(p_raw, conf)
    if target is not None:
        ref_kind = "target"
        q_raw = np.array([float(target.get(lv, 0.0)) for lv in spec.levels])
        q = q_raw / q_raw.sum()
        n_ref = 0
        real_counts = None
    elif real_codes is not None:
        ref_kind = "real"
        n_ref = len(real_codes)
        real_counts = np.bincount(real_codes, minlength=k)[:k]
        q = fix(real_counts / n_ref, conf)
    else:
        ref_kind = "uniform"
        q = np.full(k, 1.0 / k)
        n_ref = 0
        real_counts = None

    boot_gen = np.empty((bootstrap, k))
    boot_ref = np.empty((bootstrap, k))
    for b in range(bootstrap):
        c_b = None
        if conf is not None:
            c_b = np.vstack([rng.multinomial(m, conf[i]) / m if m > 0 else conf[i] for i, m in enumerate(val_rows)])
        boot_gen[b] = fix(rng.multinomial(n, p_raw) / n, c_b)
        boot_ref[b] = fix(rng.multinomial(n_ref, real_counts / n_ref) / n_ref, c_b) if real_counts is not None else q
    corr_lo, corr_hi = normal_interval(p_gen, boot_gen, level, family=k, lo_clip=0.0, hi_clip=1.0)
    # A level with zero count never reappears in a multinomial resample, so its bootstrap interval
    # collapses to [0, 0]; keep at least the raw Wilson upper bound (≈ the rule of three) there.
    corr_hi = np.where(counts == 0, np.maximum(corr_hi, raw_hi), corr_hi)
    diff = p_gen - q
    diff_lo, diff_hi = normal_interval(diff, boot_gen - boot_ref, level, family=k)
    rows = []
    for i, lv in enumerate(spec.levels):
        ratio = p_gen[i] / q[i] if q[i] > 0 else (float("inf") if p_gen[i] > 0 else float("nan"))
        rows.append({
            "attribute": spec.name, "level": lv, "n_generated": n, "count": int(counts[i]),
            "p_generated": p_raw[i], "p_generated_lo": raw_lo[i], "p_generated_hi": raw_hi[i],
            "p_corrected": p_gen[i] if conf is not None else np.nan,
            "p_corrected_lo": corr_lo[i] if conf is not None else np.nan,
            "p_corrected_hi": corr_hi[i] if conf is not None else np.nan,
            "p_reference": q[i], "reference": ref_kind,
            "diff": diff[i], "diff_lo": diff_lo[i], "diff_hi": diff_hi[i],
            "ratio": ratio, "in_parity_band": bool(parity_tau <= ratio <= 1.0 / parity_tau) if np.isfinite(ratio) else False,
        })
    l2, tv, kl, js = _distances(p_gen, q, n_ref)
    boot_d = np.array([_distances(g, r, n_ref) for g, r in zip(boot_gen, boot_ref)])
    boot_d[~np.isfinite(boot_d)] = np.nan
    est = np.array([l2, tv, kl, js])
    lo, hi = normal_interval(est, boot_d, level, lo_clip=0.0)
    if real_counts is not None:
        table = np.vstack([counts, real_counts])
        table = table[:, table.sum(axis=0) > 0]
        chi2, p_value = (stats.chi2_contingency(table)[:2] if table.shape[1] > 1 else (0.0, 1.0))
    else:
        expected = q * n
        if np.any((expected == 0) & (counts > 0)):
            chi2, p_value = float("inf"), 0.0
        else:
            keep = expected > 0
            chi2, p_value = stats.chisquare(counts[keep], expected[keep] * counts[keep].sum() / expected[keep].sum())
    dist = {
        "attribute": spec.name, "kind": spec.kind, "K": k, "reference": ref_kind, "n_generated": n,
        "n_reference": int(n_ref), "corrected": conf is not None,
        "l2_fd": l2, "l2_fd_lo": lo[0], "l2_fd_hi": hi[0], "tv": tv, "tv_lo": lo[1], "tv_hi": hi[1],
        "kl": kl, "kl_lo": lo[2], "kl_hi": hi[2], "js": js, "chi2": float(chi2), "chi2_p": float(p_value),
        "levels_never_generated": int((counts == 0).sum()),
        "levels_outside_parity": int(sum(not r["in_parity_band"] for r in rows)),
    }
    return rows, dist


def continuous(spec: AttributeSpec, gen: np.ndarray, real: np.ndarray, *, bootstrap: int, level: float,
               rng: np.random.Generator) -> dict[str, Any]:
    """One comparison row for a continuous attribute (generated vs real values)."""
    w1 = float(stats.wasserstein_distance(gen, real))
    boot = np.array([stats.wasserstein_distance(rng.choice(gen, len(gen)), rng.choice(real, len(real)))
                     for _ in range(bootstrap)])
    lo, hi = normal_interval(np.array(w1), boot, level, lo_clip=0.0)
    sd = float(np.std(real, ddof=1)) if len(real) > 1 else 0.0
    ks = stats.ks_2samp(gen, real)
    mmd2, mmd_p = mmd2_test(gen, real, rng, max_n=300, permutations=200)
    scale = sd if sd > 0 else 1.0
    return {
        "attribute": spec.name, "unit": spec.unit, "n_generated": len(gen), "n_reference": len(real),
        "mean_generated": float(np.mean(gen)), "mean_reference": float(np.mean(real)),
        "std_generated": float(np.std(gen, ddof=1)), "std_reference": sd,
        "wasserstein": w1, "wasserstein_lo": float(lo), "wasserstein_hi": float(hi),
        "w1_std": w1 / scale, "w1_std_lo": float(lo) / scale, "w1_std_hi": float(hi) / scale,
        "ks": float(ks.statistic), "ks_p": float(ks.pvalue), "mmd2": mmd2, "mmd_p": mmd_p,
    }


def validity_rows(spec: AttributeSpec, counts: np.ndarray, source: str) -> list[dict[str, Any]]:
    """Per-level recall/precision of the extractor on labelled real data (extractor validity table)."""
    rows = []
    total = counts.sum()
    for i, lv in enumerate(spec.levels):
        support = counts[i].sum()
        predicted = counts[:, i].sum()
        rows.append({"attribute": spec.name, "level": lv, "support": int(support),
                     "recall": counts[i, i] / support if support else np.nan,
                     "precision": counts[i, i] / predicted if predicted else np.nan,
                     "accuracy": np.trace(counts) / total if total else np.nan, "source": source})
    return rows


def run(specs: list[AttributeSpec], gen: dict[str, np.ndarray], real: dict[str, np.ndarray] | None,
        confusions: dict[str, np.ndarray], confusion_source: dict[str, str],
        targets: Mapping[str, Mapping[str, float]] | None, *, bootstrap: int, level: float, parity_tau: float,
        rng: np.random.Generator) -> Representation:
    """Every attribute's representation rows."""
    out = Representation(confusions=dict(confusions))
    for spec in specs:
        if spec.kind == "continuous":
            if real is not None:
                out.continuous.append(continuous(spec, gen[spec.name], real[spec.name], bootstrap=bootstrap,
                                                 level=level, rng=rng))
            continue
        conf = confusions.get(spec.name)
        if conf is not None:
            out.validity.extend(validity_rows(spec, conf, confusion_source.get(spec.name, "")))
        rows, dist = categorical(spec, gen[spec.name], None if real is None else real[spec.name], conf,
                                 (targets or {}).get(spec.name), bootstrap=bootstrap, level=level,
                                 parity_tau=parity_tau, rng=rng)
        out.marginals.extend(rows)
        out.distances.append(dist)
    if out.continuous:
        for row, p in zip(out.continuous, bh_adjust(np.array([r["ks_p"] for r in out.continuous]))):
            row["ks_p_adj"] = float(p)
    return out
