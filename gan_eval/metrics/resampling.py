"""How replicates are drawn: the delete-a-group jackknife's weights, the complementary half-samples
made of its groups (the k-NN metrics), and the bootstrap counts the audit and per-class workflows
still draw, as 0/1 or count weights per sample; and how their variance is read.

Below both :mod:`gan_eval.intervals` (which turns replicates into intervals) and the metric modules
that draw replicates of their own (FID∞ widens its fit's interval by FID's jackknife variance), so
neither has to import the other. Light: numpy; torch only inside :func:`make_resample`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gan_eval.metrics.base import Resample

if TYPE_CHECKING:
    import torch

#: Fewest jackknife groups (t with 9 degrees of freedom).
MIN_GROUPS = 10
#: Resampling work per jackknife group: ``--bootstrap B`` gives B / GROUP_WORK groups.
GROUP_WORK = 10


def draw_counts(n: int, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """``replicates × n`` bootstrap counts: how often each of n samples is drawn in each resample of size n
    (used by the audit's and the conditional workflow's own bootstraps)."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=replicates)


def group_count(replicates: int, *sizes: int | None) -> int:
    """Jackknife groups for ``--bootstrap replicates``: replicates / 10, at least :data:`MIN_GROUPS`, at most N."""
    groups = max(MIN_GROUPS, round(replicates / GROUP_WORK))
    return max(2, min([groups, *(n for n in sizes if n)]))


def group_labels(n: int, groups: int, rng: np.random.Generator) -> np.ndarray:
    """A random assignment of n samples to ``groups`` groups of (almost) equal size."""
    return rng.permutation(n) % groups


def delete_group_weights(labels: np.ndarray, groups: int) -> np.ndarray:
    """``groups × n`` 0/1 weights: row g keeps every sample except those of group g."""
    return (labels[None, :] != np.arange(groups)[:, None]).astype(np.float64)


def make_resample(n_gen: int, n_real: int | None, groups: int, seed: int, device: torch.device,
                  rng: np.random.Generator | None = None) -> Resample:
    """Delete-a-group jackknife weights for both sides (generated first, from one generator seeded by ``seed``).

    Row g drops group g of each side; a side held fixed (``n_real`` None) gets None.
    """
    import torch

    rng = rng or np.random.default_rng(seed)
    as_tensor = lambda w: torch.from_numpy(w).to(device, torch.float64)  # noqa: E731
    gen = as_tensor(delete_group_weights(group_labels(n_gen, groups, rng), groups))
    real = as_tensor(delete_group_weights(group_labels(n_real, groups, rng), groups)) if n_real else None
    return Resample(gen, real)


def _hadamard(order: int) -> np.ndarray | None:
    """A Hadamard matrix of ``order`` (±1, orthogonal rows) with an all-ones first row, or None.

    Sylvester's construction for powers of two, Paley's (I) for q + 1 with q a prime ≡ 3 (mod 4): 4,
    8, 12, 20 (the default 20 groups), 24, 32, 44, 48, 60, … scipy has only Sylvester's.
    """
    if order >= 2 and order & (order - 1) == 0:
        from scipy.linalg import hadamard

        return hadamard(order).astype(np.float64)
    q = order - 1
    if q < 3 or q % 4 != 3 or any(q % f == 0 for f in range(2, int(q ** 0.5) + 1)):
        return None
    residues = {(x * x) % q for x in range(1, q)}
    chi = np.array([0.0] + [1.0 if x in residues else -1.0 for x in range(1, q)])
    jacobsthal = chi[(np.arange(q)[None, :] - np.arange(q)[:, None]) % q]
    h = np.eye(order)
    h[0, 1:], h[1:, 0] = 1.0, -1.0
    h[1:, 1:] += jacobsthal
    return h * h[0][None, :]  # flip columns so the first row is all ones


def half_sample_design(groups: int) -> np.ndarray:
    """``2·H × groups`` 0/1 rows: H splits of the groups into two halves (rows 2s and 2s+1).

    With a Hadamard matrix of order ``groups`` (20, the default, and most multiples of 4) its H =
    groups − 1 non-constant rows give balanced half-samples (McCarthy 1969): every pair of groups is
    together equally often, and for a mean the variance has groups − 1 degrees of freedom, as the
    jackknife's. Otherwise H = groups distinct random splits into ``groups // 2`` each (one group sits
    out of each split when the count is odd); their variance has about half as many.

    Fixed by the group count alone, so every generator compared against one reference gets the same
    real halves (paired differences) and the same features and seed give the same intervals.
    """
    half = groups // 2
    hadamard = _hadamard(groups)
    if hadamard is not None:
        signs = hadamard[1:]
        rows = np.empty((2 * signs.shape[0], groups))
        rows[0::2], rows[1::2] = signs > 0, signs < 0
        return rows
    rng = np.random.default_rng([groups, 13])
    rows = np.zeros((2 * groups, groups))
    seen: set[frozenset[frozenset[int]]] = set()
    s = attempts = 0
    while s < groups:
        order = rng.permutation(groups)
        split = frozenset((frozenset(order[:half].tolist()), frozenset(order[half:2 * half].tolist())))
        attempts += 1
        if split in seen and attempts < 100 * groups:
            continue
        seen.add(split)
        rows[2 * s, order[:half]] = 1.0
        rows[2 * s + 1, order[half:2 * half]] = 1.0
        s += 1
    return rows


def half_fraction(groups: int) -> float:
    """Share of each side a half-sample of :func:`half_sample_design` keeps."""
    return (groups // 2) / groups


def half_samples(weights: torch.Tensor) -> torch.Tensor:
    """Complementary half-samples (``2·G × n`` 0/1) of a side's delete-a-group jackknife weights (``G × n``).

    For statistics that are not smooth functions of the sample, such as the k-NN metrics whose radii
    are extreme order statistics, the delete-a-group jackknife (d = N/G) under-states the spread; the
    delete-d jackknife stays consistent when d is a fixed share of N (Shao & Wu 1989), and with
    d = N/2 a replicate is a half-sample. The halves are unions of the jackknife's groups, so the
    random assignment (and its seed) is the jackknife's.
    """
    import torch

    labels = weights.argmin(dim=0)  # the row where a sample is left out is its group
    if not bool(((weights == 0).sum(dim=0) == 1).all() and ((weights == 0) | (weights == 1)).all()):
        raise ValueError("half-samples are built from delete-a-group jackknife weights (0/1, one 0 per sample)")
    design = torch.from_numpy(half_sample_design(weights.shape[0])).to(weights.device, weights.dtype)
    return design[:, labels]


def half_sample_variance(values: np.ndarray, fraction: float) -> float:
    """Variance at N from complementary half-sample pairs: mean of (θ_a − θ_b)² · f / 2.

    A statistic whose variance is c/m at m samples per side gives Var(θ_a − θ_b) = 2c/(f·N) for two
    disjoint halves of f·N each, and c/N is what the interval needs (the balanced half-samples of
    McCarthy 1969). NaN for fewer than one pair or any value not finite.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2 or values.size % 2 or not np.isfinite(values).all():
        return float("nan")
    a, b = values[0::2], values[1::2]
    return float(np.mean((a - b) ** 2) * fraction / 2)


def half_sample_dof(groups: int) -> int:
    """Degrees of freedom of :func:`half_sample_variance` over :func:`half_sample_design`'s splits:
    groups − 1 for a balanced (Hadamard) design, about half of the splits for random ones (measured for
    a mean: 19.6 with 20 groups, 5.1 with 10)."""
    return groups - 1 if _hadamard(groups) is not None else max(1, groups // 2)


def replicate_variance(values: np.ndarray, half_sample_groups: int | None) -> tuple[float, int]:
    """``(variance, degrees of freedom)`` of replicates.

    Without ``half_sample_groups``: the delete-a-group jackknife's (G − 1 dof). With it (G): the first
    G values are the jackknife's and the rest complementary half-samples of its groups in pairs; the
    larger of :func:`jackknife_variance` and :func:`half_sample_variance` (with its dof) is returned.
    Each under-states the spread where the other does not: the jackknife where a statistic hangs on
    order statistics that deleting 1/G of a sample barely moves (k-NN radii at large N in high
    dimension), half-samples where the variance falls more slowly than 1/N between N/2 and N (small N).
    """
    values = np.asarray(values)
    if half_sample_groups is None:
        return jackknife_variance(values), values.size - 1
    groups = half_sample_groups
    jackknife = jackknife_variance(values[:groups])
    halves = half_sample_variance(values[groups:], half_fraction(groups))
    if not (np.isfinite(jackknife) and np.isfinite(halves)):
        return float("nan"), groups - 1
    return (halves, half_sample_dof(groups)) if halves > jackknife else (jackknife, groups - 1)


def jackknife_variance(values: np.ndarray) -> float:
    """``(G−1)/G · Σ (θ_(g) − θ̄)²`` of the delete-a-group replicates (NaN for fewer than 2, or any not finite)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2 or not np.isfinite(values).all():
        return float("nan")
    g = values.size
    return float((g - 1) / g * ((values - values.mean()) ** 2).sum())
