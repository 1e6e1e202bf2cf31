"""Statistical helpers of the audit: intervals, classifier-error correction, MMD, multiple testing.

Interval conventions (documented in the README and the report's method section):

* Families of intervals are **simultaneous** at the stated level by Bonferroni: the K levels of one
  attribute, the pairs of a correlation table, the other attributes of one latent walk. A claim
  such as "every interval of an unbiased generator covers zero" then holds jointly with ≥ 95 %
  probability rather than level by level.
* Bootstrap intervals are normal intervals ``estimate ± z·se`` with ``se`` the bootstrap standard
  deviation. Percentile intervals would need tens of thousands of resamples for Bonferroni tails
  (α/K of 200 draws is less than one draw); the normal form is stable at B = 200.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats


def z_value(level: float, family: int = 1) -> float:
    """Two-sided normal quantile for a ``level`` interval, Bonferroni-adjusted over ``family`` intervals."""
    alpha = (1.0 - level) / max(1, family)
    return float(stats.norm.ppf(1.0 - alpha / 2.0))


def wilson_intervals(counts: np.ndarray, n: int, level: float = 0.95, family: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score intervals of binomial proportions ``counts / n`` (simultaneous over ``family``).

    Written out rather than via ``scipy.stats.binomtest(...).proportion_ci`` because that is one
    call per count and has no family adjustment; the formula is the same.
    """
    counts = np.asarray(counts, dtype=np.float64)
    z = z_value(level, family)
    p = counts / n
    denom = 1.0 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def normal_interval(estimate: np.ndarray, boot: np.ndarray, level: float = 0.95, family: int = 1,
                    lo_clip: float | None = None, hi_clip: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``estimate ± z·sd(boot)`` along axis 0 of ``boot`` (B × ...), optionally clipped."""
    se = _nanstd(boot)
    z = z_value(level, family)
    lo, hi = estimate - z * se, estimate + z * se
    if lo_clip is not None or hi_clip is not None:
        lo, hi = np.clip(lo, lo_clip, hi_clip), np.clip(hi, lo_clip, hi_clip)
    return lo, hi


def _nanstd(boot: np.ndarray) -> np.ndarray:
    """Bootstrap standard deviation along axis 0; all-NaN columns (undefined statistics) give NaN quietly."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanstd(boot, axis=0, ddof=1)


def normal_p_value(estimate: np.ndarray, boot: np.ndarray) -> np.ndarray:
    """Two-sided p-value of ``estimate = 0`` from the bootstrap standard error (Wald form)."""
    se = _nanstd(boot)
    with np.errstate(divide="ignore", invalid="ignore"):
        zstat = np.where(se > 0, np.abs(estimate) / se, np.where(np.abs(estimate) > 0, np.inf, 0.0))
    return 2.0 * stats.norm.sf(zstat)


def bh_adjust(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (``scipy.stats.false_discovery_control``); NaN kept."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(np.clip(p[ok], 0.0, 1.0), method="bh")
    return out


def correct_proportions(p_hat: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """True-class proportions from predicted ones, given ``confusion[i, j] = P(pred j | true i)``.

    Solves ``confusionᵀ p = p_hat`` (quantification's adjusted classify-and-count, multiclass) by
    non-negative least squares with a heavily weighted sum-to-one row, so the answer is a proper
    distribution even when the plain inverse would go negative.
    """
    k = len(p_hat)
    weight = 10.0
    a = np.vstack([confusion.T, weight * np.ones((1, k))])
    b = np.concatenate([p_hat, [weight]])
    p, _ = optimize.nnls(a, b)
    total = p.sum()
    return p / total if total > 0 else np.full(k, 1.0 / k)


def row_normalise(counts: np.ndarray) -> np.ndarray:
    """Confusion counts → ``P(pred | true)``; a true class with no examples gets the identity row."""
    counts = np.asarray(counts, dtype=np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    eye = np.eye(counts.shape[0])
    return np.where(rows > 0, counts / np.where(rows > 0, rows, 1), eye)


def mmd2_test(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, max_n: int = 500,
              permutations: int = 200) -> tuple[float, float]:
    """Unbiased MMD² with a Gaussian kernel (median-heuristic bandwidth) and its permutation p-value.

    Hand-written: neither SciPy nor scikit-learn has a two-sample MMD test (Morpho-MNIST's diversity
    test uses this statistic). Samples are capped at ``max_n`` per side so the kernel matrix stays
    small; values are standardised by the pooled scale first.
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    if len(x) > max_n:
        x = x[rng.choice(len(x), max_n, replace=False)]
    if len(y) > max_n:
        y = y[rng.choice(len(y), max_n, replace=False)]
    z = np.vstack([x, y])
    scale = z.std(axis=0)
    z = (z - z.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    med = np.median(d2[np.triu_indices(len(z), 1)])
    kernel = np.exp(-d2 / (med if med > 0 else 1.0))
    n = len(x)

    def statistic(idx: np.ndarray) -> float:
        kk = kernel[np.ix_(idx, idx)]
        kxx, kyy, kxy = kk[:n, :n], kk[n:, n:], kk[:n, n:]
        m = len(idx) - n
        return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                     - 2 * kxy.mean())

    base = np.arange(len(z))
    observed = statistic(base)
    null = np.array([statistic(rng.permutation(base)) for _ in range(permutations)])
    return observed, float((1 + (null >= observed).sum()) / (1 + permutations))


def weighted_corr(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Pearson correlation matrices of ``values`` (n × d) under each row of ``weights`` (B × n).

    Bootstrap by multinomial weights: one einsum over all resamples instead of B copies of the data.
    Constant columns give NaN correlations.
    """
    w = weights / weights.sum(axis=1, keepdims=True)
    mean = w @ values  # B × d
    second = np.einsum("bn,ni,nj->bij", w, values, values, optimize=True)
    cov = second - mean[:, :, None] * mean[:, None, :]
    sd = np.sqrt(np.clip(np.einsum("bii->bi", cov), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        return cov / (sd[:, :, None] * sd[:, None, :])


def multinomial_weights(n: int, b: int, rng: np.random.Generator) -> np.ndarray:
    """``b`` bootstrap resamples of ``n`` rows as count weights (B × n), as the metric intervals draw them."""
    from gan_eval.intervals import draw_counts

    return draw_counts(n, b, rng).astype(np.float64)
