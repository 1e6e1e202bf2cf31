"""Joint structure: which attributes co-occur in generated images, compared with real ones.

Attributes become *columns*: one 0/1 indicator per level of a categorical attribute, the 0/1 value of
a binary attribute, the value of a continuous one. We compare the Pearson correlation of every pair of
columns (from different attributes) between generated and real samples, with bootstrap intervals of
the difference (both samples resampled; simultaneous over all pairs), and the **bias amplification**
of events — ``P_gen(B | A) − P_real(B | A)`` — where an event is a level of a categorical/binary
attribute or "above the real median" for a continuous one (Wang & Russakovsky 2021's directional
amplification, applied to a generator instead of a classifier).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gan_eval.attributes.base import AttributeSpec
from gan_eval.audit.stats import (
    bh_adjust,
    multinomial_weights,
    normal_interval,
    normal_p_value,
    weighted_corr,
)


@dataclass
class Joint:
    correlations: list[dict[str, Any]] = field(default_factory=list)
    bias_amplification: list[dict[str, Any]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    corr_generated: np.ndarray | None = None
    corr_reference: np.ndarray | None = None


def columns(specs: list[AttributeSpec], decoded: dict[str, np.ndarray]) -> tuple[list[str], list[str], np.ndarray]:
    """(column names, owning attribute per column, n × d values)."""
    names, owners, cols = [], [], []
    for spec in specs:
        v = decoded[spec.name]
        if spec.kind == "categorical":
            for i, lv in enumerate(spec.levels):
                names.append(f"{spec.name}={lv}")
                owners.append(spec.name)
                cols.append((v == i).astype(np.float64))
        else:
            names.append(spec.name)
            owners.append(spec.name)
            cols.append(np.asarray(v, dtype=np.float64))
    return names, owners, np.stack(cols, axis=1)


def events(specs: list[AttributeSpec], decoded: dict[str, np.ndarray], medians: dict[str, float]) -> tuple[list[str], list[str], np.ndarray]:
    """0/1 event indicators: each categorical level, binary positive, continuous above the real median."""
    names, owners, cols = [], [], []
    for spec in specs:
        v = decoded[spec.name]
        if spec.kind == "categorical":
            for i, lv in enumerate(spec.levels):
                names.append(f"{spec.name}={lv}")
                owners.append(spec.name)
                cols.append(v == i)
        elif spec.kind == "binary":
            names.append(f"{spec.name}=1")
            owners.append(spec.name)
            cols.append(v == 1)
        else:
            names.append(f"{spec.name}>median")
            owners.append(spec.name)
            cols.append(v > medians[spec.name])
    return names, owners, np.stack(cols, axis=1).astype(np.float64)


def _conditional(ev: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``P(B | A)`` matrices (B × a × b) under bootstrap weights; NaN where A never occurs."""
    co = np.einsum("bn,ni,nj->bij", weights, ev, ev, optimize=True)
    base = np.einsum("bii->bi", co)
    with np.errstate(divide="ignore", invalid="ignore"):
        return co / base[:, :, None]


def run(specs: list[AttributeSpec], gen: dict[str, np.ndarray], real: dict[str, np.ndarray], *, bootstrap: int,
        level: float, rng: np.random.Generator) -> Joint:
    names, owners, xg = columns(specs, gen)
    _, _, xr = columns(specs, real)
    out = Joint(columns=names)
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names)) if owners[i] != owners[j]]
    if not pairs:
        return out
    ones_g = np.ones((1, len(xg)))
    ones_r = np.ones((1, len(xr)))
    cg = weighted_corr(xg, ones_g)[0]
    cr = weighted_corr(xr, ones_r)[0]
    out.corr_generated, out.corr_reference = cg, cr
    bg = weighted_corr(xg, multinomial_weights(len(xg), bootstrap, rng))
    br = weighted_corr(xr, multinomial_weights(len(xr), bootstrap, rng))
    ii, jj = np.array(pairs).T
    est_g, est_r = cg[ii, jj], cr[ii, jj]
    boot_g, boot_r = bg[:, ii, jj], br[:, ii, jj]
    m = len(pairs)
    g_lo, g_hi = normal_interval(est_g, boot_g, level, family=m, lo_clip=-1, hi_clip=1)
    r_lo, r_hi = normal_interval(est_r, boot_r, level, family=m, lo_clip=-1, hi_clip=1)
    delta = est_g - est_r
    d_lo, d_hi = normal_interval(delta, boot_g - boot_r, level, family=m)
    p_adj = bh_adjust(normal_p_value(delta, boot_g - boot_r))
    for t, (i, j) in enumerate(pairs):
        out.correlations.append({
            "attr_a": names[i], "attr_b": names[j], "corr_generated": est_g[t], "corr_generated_lo": g_lo[t],
            "corr_generated_hi": g_hi[t], "corr_reference": est_r[t], "corr_reference_lo": r_lo[t],
            "corr_reference_hi": r_hi[t], "corr_delta": delta[t], "corr_delta_lo": d_lo[t], "corr_delta_hi": d_hi[t],
            "p_value_adj": p_adj[t],
        })
    # bias amplification over events from different attributes
    medians = {s.name: float(np.median(real[s.name])) for s in specs if s.kind == "continuous"}
    en, eo, eg = events(specs, gen, medians)
    _, _, er = events(specs, real, medians)
    ep = [(a, b) for a in range(len(en)) for b in range(len(en)) if eo[a] != eo[b]]
    if ep:
        pg = _conditional(eg, np.ones((1, len(eg))))[0]
        pr = _conditional(er, np.ones((1, len(er))))[0]
        bpg = _conditional(eg, multinomial_weights(len(eg), bootstrap, rng))
        bpr = _conditional(er, multinomial_weights(len(er), bootstrap, rng))
        aa, bb = np.array(ep).T
        amp = pg[aa, bb] - pr[aa, bb]
        a_lo, a_hi = normal_interval(amp, bpg[:, aa, bb] - bpr[:, aa, bb], level, family=len(ep))
        n_a_g, n_a_r = eg.sum(axis=0), er.sum(axis=0)
        for t, (a, b) in enumerate(ep):
            out.bias_amplification.append({
                "given": en[a], "event": en[b], "p_generated": pg[a, b], "p_reference": pr[a, b],
                "bias_amp": amp[t], "bias_amp_lo": a_lo[t], "bias_amp_hi": a_hi[t],
                "n_given_generated": int(n_a_g[a]), "n_given_reference": int(n_a_r[a]),
            })
    return out
