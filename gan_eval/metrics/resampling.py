"""How replicates are drawn: the delete-a-group jackknife's weights (and the bootstrap counts the
audit and per-class workflows still draw), as 0/1 or count weights per sample.

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


def jackknife_variance(values: np.ndarray) -> float:
    """``(G−1)/G · Σ (θ_(g) − θ̄)²`` of the delete-a-group replicates (NaN for fewer than 2, or any not finite)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2 or not np.isfinite(values).all():
        return float("nan")
    g = values.size
    return float((g - 1) / g * ((values - values.mean()) ** 2).sum())
