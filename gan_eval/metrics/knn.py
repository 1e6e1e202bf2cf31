"""k-nearest-neighbour metrics in tiles: precision/recall (Kynkäänniemi et al. 2019) and
density/coverage (Naeem et al. 2020).

Distances are computed tile by tile (``tile`` × ``tile`` at most) on the features' device, so peak
memory is O(tile² + N·k), never O(N²): 50,000 × 50,000 runs in a few hundred MB.

Conventions (stated in every result): precision/recall use k = 3 and a sample is inside a ball when
its distance is ``<=`` the radius (torch-fidelity, StyleGAN); density/coverage use k = 5 and ``<``
(the authors' ``prdc`` code). Radii are distances to the k-th nearest *other* sample of the same set.

:data:`PR` and :data:`DC` are the two metrics' records. Their interval replicates score each kept
sample (inside the other side's manifold / balls holding it) and weight it by the jackknife's 0/1
weights, all from one distance pass (:func:`knn_replicates_fixed_radii`): each sample keeps its
full-sample radius, except that density gives a real ball whose k nearest neighbours lose a member
in a replicate that replicate's longer radius. The same pass keeps the few (generated, real) pairs
whose distance lies between a ball's full-sample radius and its longest replicate radius, and each
replicate's density is corrected from those pairs alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING


from gan_eval.errors import GanEvalError
from gan_eval.metrics.base import (
    MetricContext,
    MetricKey,
    MetricOption,
    MetricSpec,
    Replicates,
    Resample,
)

if TYPE_CHECKING:
    import torch

    from gan_eval.statistics import FeatureSet

DEFAULT_TILE = 4096


def _tiles(n: int, tile: int) -> Iterator[slice]:
    for start in range(0, n, tile):
        yield slice(start, min(start + tile, n))


def _distances(a: torch.Tensor, b: torch.Tensor, a_sq: torch.Tensor, b_sq: torch.Tensor) -> torch.Tensor:
    # ‖a−b‖² = ‖a‖² + ‖b‖² − 2abᵀ: one matmul per tile (what torch.cdist does for large inputs), with
    # the squared norms computed once per set instead of once per tile.
    return (a_sq[:, None] + b_sq[None, :] - 2 * (a @ b.T)).clamp_min_(0).sqrt_()


def _sq_norms(x: torch.Tensor) -> torch.Tensor:
    return (x * x).sum(dim=1)


def knn_neighbours(x: torch.Tensor, count: int, tile: int = DEFAULT_TILE) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances and indices of each row's ``count`` nearest rows, self first (at distance 0), ascending."""
    import torch

    n = x.shape[0]
    count = min(count, n)
    sq = _sq_norms(x)
    values = torch.empty(n, count, dtype=x.dtype, device=x.device)
    indices = torch.empty(n, count, dtype=torch.long, device=x.device)
    for rows in _tiles(n, tile):
        best_d = best_i = None  # running `count` smallest distances per row (self included, at distance 0)
        for cols in _tiles(n, tile):
            d = _distances(x[rows], x[cols], sq[rows], sq[cols])
            if cols.start <= rows.start < cols.stop or rows.start <= cols.start < rows.stop:
                overlap = torch.arange(max(rows.start, cols.start), min(rows.stop, cols.stop), device=x.device)
                d[overlap - rows.start, overlap - cols.start] = -1.0  # self sorts first, set to 0 below
            col_index = torch.arange(cols.start, cols.stop, device=x.device).expand(d.shape[0], -1)
            if best_d is not None:
                d, col_index = torch.cat([best_d, d], dim=1), torch.cat([best_i, col_index], dim=1)
            best_d, order = d.topk(min(count, d.shape[1]), dim=1, largest=False)
            best_i = col_index.gather(1, order)
        values[rows], indices[rows] = best_d.clamp_min(0), best_i
    return values, indices


def knn_radii(x: torch.Tensor, k: int, tile: int = DEFAULT_TILE) -> torch.Tensor:
    """Distance from each row of ``x`` to its k-th nearest other row (self excluded)."""
    n = x.shape[0]
    if n <= k:
        raise ValueError(f"need more than k={k} samples for k-NN radii, got {n}")
    return knn_neighbours(x, k + 1, tile)[0][:, k]


#: Columns of the shared neighbour table: enough for density's replicates (4k + 9 at k = 5) and any
#: k ≤ 31, so one distance pass per side serves every k-NN metric, point value and replicate.
SHARED_NEIGHBOURS = 32


def neighbour_table(fs: FeatureSet, count: int, tile: int = DEFAULT_TILE) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`knn_neighbours` of a side's features with at least ``count`` columns, computed once per feature set.

    Precision/recall and density/coverage, their point values and their replicates all start from the
    nearest neighbours of the same features; a run asking for both with intervals made four passes
    over the real set's N² distances, and ``compare`` repeated them for each generator against the
    same reference. The table is kept in ``fs.derived`` with the tensor it was computed from.
    """
    n = fs.features.shape[0]
    cached = fs.derived.get("neighbours")
    if cached is not None and cached[0] is fs.features and cached[1][0].shape[1] >= min(count, n):
        return cached[1]
    table = knn_neighbours(fs.features, max(count, SHARED_NEIGHBOURS), tile)
    fs.derived["neighbours"] = (fs.features, table)
    return table


def side_radii(fs: FeatureSet, k: int, tile: int = DEFAULT_TILE) -> torch.Tensor:
    """:func:`knn_radii` of a side's features, read from its :func:`neighbour_table`."""
    if fs.features.shape[0] <= k:
        raise ValueError(f"need more than k={k} samples for k-NN radii, got {fs.features.shape[0]}")
    return neighbour_table(fs, k + 1, tile)[0][:, k]


def radii_among(table: tuple[torch.Tensor, torch.Tensor], present: torch.Tensor, k: int) -> torch.Tensor | None:
    """k-NN radii of the rows with ``present`` set, counting only present rows as neighbours.

    ``table`` is :func:`knn_neighbours` of the full set; a bootstrap resample keeps about 63 % of the
    rows, so a list of 4k + 8 neighbours almost always holds k present ones. Returns None when some
    row's list runs out (the caller then recomputes exactly).
    """
    import torch

    values, indices = table
    rows = torch.nonzero(present).squeeze(1)
    hits = present[indices[rows, 1:]]
    seen = hits.cumsum(dim=1)
    if bool((seen[:, -1] < k).any()):
        return None
    position = (seen >= k).to(torch.uint8).argmax(dim=1, keepdim=True)
    return values[rows, 1:].gather(1, position).squeeze(1)


def _reduce_pairs(
    queries: torch.Tensor,
    refs: torch.Tensor,
    tile: int,
    on_tile: Callable[[slice, slice, torch.Tensor], None],
) -> None:
    q_sq, r_sq = _sq_norms(queries), _sq_norms(refs)
    for rows in _tiles(queries.shape[0], tile):
        for cols in _tiles(refs.shape[0], tile):
            on_tile(rows, cols, _distances(queries[rows], refs[cols], q_sq[rows], r_sq[cols]))


def inside_any(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, tile: int = DEFAULT_TILE) -> torch.Tensor:
    """Per query: is it within distance ``<=`` the radius of at least one centre (bool vector)."""
    import torch

    inside = torch.zeros(queries.shape[0], dtype=torch.bool, device=queries.device)

    def on_tile(rows: slice, cols: slice, d: torch.Tensor) -> None:
        inside[rows] |= (d <= radii[None, cols]).any(dim=1)

    _reduce_pairs(queries, centres, tile, on_tile)
    return inside


def fraction_inside(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, tile: int = DEFAULT_TILE) -> float:
    """Share of ``queries`` within distance ``<=`` the radius of at least one centre."""
    return float(inside_any(queries, centres, radii, tile).double().mean())


def precision_recall_per_sample(
    features_gen: torch.Tensor, features_real: torch.Tensor, k: int = 3, tile: int = DEFAULT_TILE,
    gen_radii: torch.Tensor | None = None, real_radii: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per generated sample: inside the real manifold; per real sample: inside the generated one.

    Precision and recall are the means of these; intervals resample them (passing radii they
    already know).
    """
    real_radii = knn_radii(features_real, k, tile) if real_radii is None else real_radii
    gen_radii = knn_radii(features_gen, k, tile) if gen_radii is None else gen_radii
    return inside_any(features_gen, features_real, real_radii, tile), inside_any(features_real, features_gen, gen_radii, tile)


def precision_recall(features_gen: torch.Tensor, features_real: torch.Tensor, k: int = 3, tile: int = DEFAULT_TILE,
                     gen_radii: torch.Tensor | None = None, real_radii: torch.Tensor | None = None) -> tuple[float, float]:
    """Improved precision (generated inside the real manifold) and recall (real inside the generated one)."""
    gen_inside, real_inside = precision_recall_per_sample(features_gen, features_real, k, tile, gen_radii, real_radii)
    return float(gen_inside.double().mean()), float(real_inside.double().mean())


def density_coverage_per_sample(
    features_gen: torch.Tensor, features_real: torch.Tensor, k: int = 5, tile: int = DEFAULT_TILE,
    real_weights: torch.Tensor | None = None, real_radii: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per generated sample: how many real balls hold it (float64); per real sample: is its ball covered.

    Density is ``counts.mean() / k`` and coverage ``covered.mean()``. ``real_weights`` counts each real
    ball that many times (a bootstrap resample drawing a point twice).
    """
    import torch

    real_radii = knn_radii(features_real, k, tile) if real_radii is None else real_radii
    counts = torch.zeros(features_gen.shape[0], dtype=torch.float64, device=features_gen.device)
    nearest_gen = torch.full((features_real.shape[0],), float("inf"), dtype=features_real.dtype, device=features_real.device)

    def on_tile(rows: slice, cols: slice, d: torch.Tensor) -> None:
        inside = d < real_radii[None, cols]
        if real_weights is None:
            counts[rows] += inside.sum(dim=1, dtype=torch.float64)
        else:
            counts[rows] += inside.to(torch.float64) @ real_weights[cols].to(torch.float64)
        nearest_gen[cols] = torch.minimum(nearest_gen[cols], d.min(dim=0).values)

    _reduce_pairs(features_gen, features_real, tile, on_tile)
    return counts, nearest_gen < real_radii


def density_coverage(features_gen: torch.Tensor, features_real: torch.Tensor, k: int = 5, tile: int = DEFAULT_TILE,
                     real_radii: torch.Tensor | None = None) -> tuple[float, float]:
    """Density (mean count of real balls holding a generated sample, / k) and coverage (real balls holding any)."""
    counts, covered = density_coverage_per_sample(features_gen, features_real, k, tile, real_radii=real_radii)
    return float(counts.sum()) / (k * features_gen.shape[0]), float(covered.double().mean())


# --- the two metrics ----------------------------------------------------------------------------

def _check_sizes(ctx: MetricContext, k: int, name: str) -> None:
    for side, fs in (("generated", ctx.gen), ("real", ctx.real)):
        if fs.features.shape[0] <= k:
            raise GanEvalError(f"{name} need more than k={k} {side} samples, got {fs.features.shape[0]}")


def compute_pr(ctx: MetricContext) -> dict[str, float]:
    """Precision and recall with k = ``pr_k``."""
    _check_sizes(ctx, ctx.options.pr_k, "precision/recall")
    k, tile, device = ctx.options.pr_k, ctx.options.tile, ctx.gen.features.device
    precision, recall = precision_recall(ctx.gen.features, ctx.real.features.to(device), k, tile,
                                         side_radii(ctx.gen, k, tile), side_radii(ctx.real, k, tile).to(device))
    return {"precision": precision, "recall": recall}


def compute_dc(ctx: MetricContext) -> dict[str, float]:
    """Density and coverage with k = ``dc_k``."""
    _check_sizes(ctx, ctx.options.dc_k, "density/coverage")
    k, tile, device = ctx.options.dc_k, ctx.options.tile, ctx.gen.features.device
    density, coverage = density_coverage(ctx.gen.features, ctx.real.features.to(device), k, tile,
                                         side_radii(ctx.real, k, tile).to(device))
    return {"density": density, "coverage": coverage}


# --- interval replicates ------------------------------------------------------------------------

def knn_replicates_fixed_radii(gen: FeatureSet, real: FeatureSet, wg: torch.Tensor, wr: torch.Tensor, k: int,
                               tile: int, kind: str) -> dict[str, Replicates]:
    """Precision/recall (``kind="pr"``) or density/coverage (``"dc"``) of every replicate from one distance pass.

    Each sample carries its full-sample k-NN radius, and a replicate re-weights samples (the
    jackknife's 0/1 weights drop a group of each side). Per tile, the 0/1 matrices "inside this real
    ball" / "inside this generated ball" are multiplied by the ``n × G`` weight matrices, so every
    replicate's counts come out of the same distances: O(N²·(d + G)) in all, instead of one distance
    pass per replicate. Density's radius correction (:func:`_density_radius_correction`) takes its
    pairs from the same pass. The centre is left to the caller (NaN).
    """
    import torch

    xg = gen.features
    xr = real.features.to(xg.device)
    dtype = torch.float32 if xg.dtype != torch.float64 else torch.float64
    wg_t = wg.T.to(xg.device, dtype)  # n_gen × G
    wr_t = wr.T.to(xg.device, dtype)
    # Density re-tests the balls whose k-NN lose a member, from a longer neighbour list; the radii are its column k.
    table = neighbour_table(real, 4 * k + 9, tile)
    table = (table[0].to(xg.device), table[1].to(xg.device))
    real_radii = table[0][:, k]
    gen_radii = side_radii(gen, k, tile) if kind == "pr" else None
    by_gen = torch.zeros(xg.shape[0], wg_t.shape[1], dtype=dtype, device=xg.device)  # real balls holding gen i
    by_real = torch.zeros(xr.shape[0], wg_t.shape[1], dtype=dtype, device=xg.device)  # gen balls / gen near real j
    if kind == "dc":
        new_radii = _replicate_radii(xr, wr.to(xg.device), real_radii, k, tile, table)
        annulus = _Annulus(torch.minimum(real_radii, new_radii.min(dim=0).values),
                           torch.maximum(real_radii, new_radii.max(dim=0).values), ANNULUS_PAIR_CAP)

    def on_tile(rows: slice, cols: slice, d: torch.Tensor) -> None:
        if kind == "pr":
            by_gen[rows] += (d <= real_radii[None, cols]).to(dtype) @ wr_t[cols]
            by_real[cols] += (d <= gen_radii[rows, None]).to(dtype).T @ wg_t[rows]
        else:
            inside = (d < real_radii[None, cols]).to(dtype)
            by_gen[rows] += inside @ wr_t[cols]
            by_real[cols] += inside.T @ wg_t[rows]
            annulus.add(rows, cols, d)

    _reduce_pairs(xg, xr, tile, on_tile)
    if kind == "dc":
        _density_radius_correction(xg, xr, wr.to(xg.device), real_radii, new_radii, annulus, tile, by_gen)
    mass_g, mass_r = wg_t.sum(dim=0), wr_t.sum(dim=0)
    if kind == "pr":
        first = (wg_t * (by_gen > 0)).sum(dim=0) / mass_g
        second = (wr_t * (by_real > 0)).sum(dim=0) / mass_r
        keys = ("precision", "recall")
    else:
        first = (wg_t * by_gen).sum(dim=0) / (k * mass_g)
        second = (wr_t * (by_real > 0)).sum(dim=0) / mass_r
        keys = ("density", "coverage")
    return {key: Replicates(v.double().cpu().numpy(), float("nan")) for key, v in zip(keys, (first, second))}


#: Most (generated, real, distance) triples that density's radius correction keeps (12 bytes each
#: in float32, 600 MB at the cap); past it the correction re-tests the changed balls once per replicate.
ANNULUS_PAIR_CAP = 50_000_000


def _replicate_radii(xr: torch.Tensor, wr: torch.Tensor, radii: torch.Tensor, k: int, tile: int,
                     table: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """``G × n_real``: each real ball's k-NN radius among the real samples each replicate keeps.

    From the neighbour list ``table`` (:func:`radii_among`), or the kept rows' exact :func:`knn_radii`
    when the list runs out; a ball the replicate leaves out keeps its full-sample radius (it weighs 0).
    """
    import torch

    out = radii.expand(wr.shape[0], -1).clone()
    for b in range(wr.shape[0]):
        kept = wr[b] > 0
        new = radii_among(table, kept, k)
        rows = torch.nonzero(kept).squeeze(1)
        if new is None:
            new = knn_radii(xr[rows], k, tile)
        out[b, rows] = new
    return out


class _Annulus:
    """The (generated i, real j, distance) triples with ``lower[j] <= d < upper[j]``, gathered tile by tile.

    Stops gathering (``overflow``) once there would be more than ``cap`` of them.
    """

    def __init__(self, lower: torch.Tensor, upper: torch.Tensor, cap: int) -> None:
        self.lower, self.upper, self.cap = lower, upper, cap
        self.active = bool((lower < upper).any())
        self.parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self.count, self.overflow = 0, False

    def add(self, rows: slice, cols: slice, d: torch.Tensor) -> None:
        import torch

        if not self.active or self.overflow:
            return
        hit = (d >= self.lower[None, cols]) & (d < self.upper[None, cols])
        gi, rj = torch.nonzero(hit, as_tuple=True)
        if gi.numel() == 0:
            return
        self.count += gi.numel()
        if self.count > self.cap:
            self.overflow, self.parts = True, []
            return
        self.parts.append(((gi + rows.start).to(torch.int32), (rj + cols.start).to(torch.int32), d[gi, rj]))

    def triples(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        import torch

        if not self.parts:
            return None
        gi, rj, d = (torch.cat(p) for p in zip(*self.parts))
        self.parts = []
        return gi, rj, d


def _density_radius_correction(xg: torch.Tensor, xr: torch.Tensor, wr: torch.Tensor, radii: torch.Tensor,
                               new_radii: torch.Tensor, annulus: _Annulus, tile: int, by_gen: torch.Tensor) -> None:
    """Density counts of each replicate with the real radii *it* would have (``by_gen`` updated in place).

    Density depends on the radii much more than precision or coverage do (measured at d = 64,
    N = 320: with fixed radii its interval covered 86–90 % instead of 95 %). A replicate that drops
    a group lengthens the radius of every kept real sample whose k nearest neighbours lose a member
    (about 1 − (1 − 1/G)^k of them); ``new_radii`` (:func:`_replicate_radii`) holds every replicate's
    radii. Only a pair whose distance lies between ball j's full-sample radius and its replicate
    radius changes its indicator ``d < radius``, so the main pass gathered the pairs in
    [min over replicates, max over replicates) of ball j (``annulus``) and each replicate's correction
    is a scatter over them. Had they been too many, the balls that change in each replicate are
    re-tested against every generated sample, one distance pass per replicate.
    """
    import torch

    dtype = by_gen.dtype
    if not annulus.overflow:
        triples = annulus.triples()
        if triples is None:
            return
        gi, rj, d = triples
        before = (d < radii[rj]).to(dtype)
        for b in range(wr.shape[0]):
            delta = (d < new_radii[b, rj]).to(dtype) - before
            by_gen[:, b].index_add_(0, gi, delta * wr[b, rj].to(dtype))
        return
    g_sq = _sq_norms(xg)
    for b in range(wr.shape[0]):
        rows = torch.nonzero(wr[b] > 0).squeeze(1)
        new = new_radii[b, rows]
        moved = new != radii[rows]
        changed, new_radius = rows[moved], new[moved]
        for cols in _tiles(changed.numel(), tile):
            part = changed[cols]
            d = _distances(xg, xr[part], g_sq, _sq_norms(xr[part]))
            delta = (d < new_radius[cols][None, :]).to(dtype) - (d < radii[part][None, :]).to(dtype)
            by_gen[:, b] += delta @ wr[b, part].to(dtype)


def _check_kept(rs: Resample, k: int, name: str) -> None:
    """A replicate must keep more than k samples on each side (a one-line error for tiny runs with --ci)."""
    for side, w in (("generated", rs.gen), ("real", rs.real)):
        kept = int((w > 0).sum(dim=1).min()) if w is not None else k + 1
        if kept <= k:
            raise GanEvalError(f"{name} intervals need more than k={k} {side} samples left after the jackknife "
                               f"leaves out a group, got {kept}: use more samples, or drop {name} from the metrics "
                               "when asking for intervals")


#: Where the fixed-radius jackknife was measured to under-state the k-NN metrics' spread: at N = 10,000,
#: d = 2048 (iso) its sd was 0.53–0.75 of the true one; at N = 2,000 it was 0.79–1.12 (benchmarks/README.md, §7).
NARROW_FROM_N, NARROW_FROM_DIM = 5_000, 512


def warn_when_narrow(n: int, dim: int, name: str) -> None:
    """Warn that k-NN intervals are likely too narrow at large N in high dimension (measured, not yet fixed)."""
    import warnings

    if n >= NARROW_FROM_N and dim >= NARROW_FROM_DIM:
        warnings.warn(f"{name} intervals at N={n}, d={dim} are likely too narrow: at N=10,000, d=2048 the "
                      f"jackknife's spread was 0.53-0.75 of the true one (fixed k-NN radii); read them as a "
                      f"lower bound")


def resample_pr(ctx: MetricContext, rs: Resample) -> dict[str, Replicates]:
    _check_kept(rs, ctx.options.pr_k, "precision/recall")
    warn_when_narrow(min(ctx.gen.n, ctx.real.n), ctx.gen.features.shape[1], "precision/recall")
    return knn_replicates_fixed_radii(ctx.gen, ctx.real, rs.gen, rs.real, ctx.options.pr_k, ctx.options.tile, "pr")


def resample_dc(ctx: MetricContext, rs: Resample) -> dict[str, Replicates]:
    _check_kept(rs, ctx.options.dc_k, "density/coverage")
    warn_when_narrow(min(ctx.gen.n, ctx.real.n), ctx.gen.features.shape[1], "density/coverage")
    return knn_replicates_fixed_radii(ctx.gen, ctx.real, rs.gen, rs.real, ctx.options.dc_k, ctx.options.tile, "dc")


#: Shared by the k-NN metrics and KID.
TILE_OPTION = MetricOption("tile", DEFAULT_TILE, "rows per distance/kernel tile (bounds memory)")
_KNN_NOTE = ("delete-a-group jackknife, both sides; each sample keeps its full-sample k-NN radius (density: "
             "radii corrected where a neighbour is left out); point ± t·sd")

PR = MetricSpec(
    name="pr",
    keys=(MetricKey("precision", "Precision", direction=1, range=(0.0, 1.0), short="Prec"),
          MetricKey("recall", "Recall", direction=1, range=(0.0, 1.0), short="Rec")),
    compute=compute_pr,
    needs=("features",),
    options=(MetricOption("pr_k", 3, "k of precision/recall"), TILE_OPTION),
    convention="Kynkaanniemi 2019, k=3, inside when distance <= radius",
    resample=resample_pr,
    interval_note=_KNN_NOTE,
)

DC = MetricSpec(
    name="dc",
    keys=(MetricKey("density", "Density", direction=1, range=(0.0, math.inf), short="Dens"),
          MetricKey("coverage", "Coverage", direction=1, range=(0.0, 1.0), short="Cov")),
    compute=compute_dc,
    needs=("features",),
    options=(MetricOption("dc_k", 5, "k of density/coverage"), TILE_OPTION),
    convention="Naeem 2020, k=5, inside when distance < radius",
    resample=resample_dc,
    interval_note=_KNN_NOTE,
)
