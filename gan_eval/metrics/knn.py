"""k-nearest-neighbour metrics in tiles: precision/recall (Kynkäänniemi et al. 2019) and
density/coverage (Naeem et al. 2020).

Distances are computed tile by tile (``tile`` × ``tile`` at most) on the features' device, so peak
memory is O(tile² + N·k), never O(N²): 50,000 × 50,000 runs in a few hundred MB.

Conventions (stated in every result): precision/recall use k = 3 and a sample is inside a ball when
its distance is ``<=`` the radius (torch-fidelity, StyleGAN); density/coverage use k = 5 and ``<``
(the authors' ``prdc`` code). Radii are distances to the k-th nearest *other* sample of the same set.

:data:`PR` and :data:`DC` are the two metrics' records. Their intervals take the larger of two
variances, from replicates that all come out of one distance pass (:func:`knn_replicates`): the
delete-a-group jackknife's, each sample keeping its full-sample radius (density: the kept samples'
radii), and complementary half-samples', each half with its own radii. The radii are extreme order
statistics that deleting 1/G of a sample barely moves: the jackknife alone under-stated the metrics'
spread at N = 10,000, d = 2048, and half-samples alone at small N (benchmarks/README.md, §7).
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


#: Columns of the shared neighbour table: a half-sample keeps about 15 of its 31 other neighbours, so
#: the radii of every half (k ≤ 7 or so) and any k ≤ 31 of the full set come from one distance pass per side.
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


def radii_among(table: tuple[torch.Tensor, torch.Tensor], present: torch.Tensor, k: int, x: torch.Tensor,
                tile: int = DEFAULT_TILE) -> torch.Tensor:
    """k-NN radii of the rows of ``x`` with ``present`` set, counting only present rows as neighbours.

    ``table`` is :func:`knn_neighbours` of all of ``x``; a half-sample keeps about half of each row's
    list, so it almost always holds k present neighbours. A row whose list runs out gets its radius
    computed exactly against every present row.
    """
    import torch

    values, indices = table
    rows = torch.nonzero(present).squeeze(1)
    seen = present[indices[rows, 1:]].cumsum(dim=1)
    position = (seen >= k).to(torch.uint8).argmax(dim=1, keepdim=True)
    radii = values[rows, 1:].gather(1, position).squeeze(1)
    short = torch.nonzero(seen[:, -1] < k).squeeze(1)
    if short.numel():
        sq = _sq_norms(x)
        for part in _tiles(short.numel(), tile):
            lost = rows[short[part]]
            d = torch.cat([_distances(x[lost], x[rows[c]], sq[lost], sq[rows[c]]) for c in _tiles(rows.numel(), tile)],
                          dim=1)  # each lost row is present, so itself (at 0) comes first
            radii[short[part]] = d.topk(k + 1, dim=1, largest=False).values[:, k]
    return radii


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
    real_radii: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per generated sample: how many real balls hold it (float64); per real sample: is its ball covered.

    Density is ``counts.mean() / k`` and coverage ``covered.mean()``.
    """
    import torch

    real_radii = knn_radii(features_real, k, tile) if real_radii is None else real_radii
    counts = torch.zeros(features_gen.shape[0], dtype=torch.float64, device=features_gen.device)
    nearest_gen = torch.full((features_real.shape[0],), float("inf"), dtype=features_real.dtype, device=features_real.device)

    def on_tile(rows: slice, cols: slice, d: torch.Tensor) -> None:
        inside = d < real_radii[None, cols]
        counts[rows] += inside.sum(dim=1, dtype=torch.float64)
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

def knn_replicates(gen: FeatureSet, real: FeatureSet, wg: torch.Tensor, wr: torch.Tensor, k: int, tile: int,
                   kind: str, own_radii: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Precision/recall (``kind="pr"``) or density/coverage (``"dc"``) of the samples each replicate keeps.

    ``wg``/``wr`` are ``R × n`` 0/1 rows (:func:`resample_pr`: the jackknife's, then half-samples). A
    replicate with ``own_radii`` (a bool per row; all by default) is the metric computed afresh on its
    kept samples: every kept sample's k-NN radius counts only kept neighbours (read from the side's
    :func:`neighbour_table`). One without keeps every sample's full-sample radius, except for density,
    which always takes the kept samples' radii (with fixed radii its jackknife interval covered 86–90 %
    at d = 64, N = 320, against 92.5–97.5 % with them). All replicates come from one distance
    pass: per tile, the 0/1 "inside this ball" matrices at the full-sample radii are multiplied by the
    ``n × R`` weights, and the pass keeps the few (generated, real, distance) triples that lie between
    a ball's full-sample radius and its longest replicate radius (:class:`_Annulus`); each replicate's
    counts are then corrected from those triples alone. Past :data:`ANNULUS_PAIR_CAP` triples each
    replicate is computed directly on its kept samples instead. Returns ``{key: R values (float64)}``.
    """
    import torch

    xg = gen.features
    xr = real.features.to(xg.device)
    dtype = torch.float32 if xg.dtype != torch.float64 else torch.float64
    wg, wr = wg.to(xg.device), wr.to(xg.device)
    real_full = side_radii(real, k, tile).to(xg.device)
    own = own_radii.tolist() if own_radii is not None else [True] * wg.shape[0]
    real_new = _replicate_radii(xr, wr, own if kind == "pr" else [True] * len(own), k, tile,
                                _device_table(real, k, tile, xg.device))
    gen_full = side_radii(gen, k, tile) if kind == "pr" else None
    gen_new = _replicate_radii(xg, wg, own, k, tile, _device_table(gen, k, tile, xg.device)) if kind == "pr" else None
    closed = kind == "pr"  # precision/recall count a sample at exactly the radius as inside (``<=``)
    balls_real = _Annulus(real_full, real_new.max(dim=0).values, ANNULUS_PAIR_CAP, axis=1)
    balls_gen = _Annulus(gen_full, gen_new.max(dim=0).values, ANNULUS_PAIR_CAP, axis=0) if closed else None
    wg_t, wr_t = wg.T.to(dtype), wr.T.to(dtype)  # n × R
    by_gen = torch.zeros(xg.shape[0], wg_t.shape[1], dtype=dtype, device=xg.device)  # kept real balls holding gen i
    by_real = torch.zeros(xr.shape[0], wg_t.shape[1], dtype=dtype, device=xg.device)  # kept gen balls / gen in ball j

    def on_tile(rows: slice, cols: slice, d: torch.Tensor) -> None:
        in_real = _inside(d, real_full[None, cols], closed).to(dtype)
        by_gen[rows] += in_real @ wr_t[cols]
        in_gen = in_real if not closed else _inside(d, gen_full[rows, None], closed).to(dtype)
        by_real[cols] += in_gen.T @ wg_t[rows]
        balls_real.add(rows, cols, d)
        if balls_gen is not None:
            balls_gen.add(rows, cols, d)

    _reduce_pairs(xg, xr, tile, on_tile)
    if balls_real.overflow or (balls_gen is not None and balls_gen.overflow):
        return _replicates_directly(xg, xr, wg, wr, gen_new, real_new, real_full, own, k, tile, kind)
    _correct(balls_real, real_full, real_new, closed, wg, wr, by_gen, by_real if kind == "dc" else None, own)
    if balls_gen is not None:
        _correct(balls_gen, gen_full, gen_new, closed, wg, wr, None, by_real, own)
    mass_g, mass_r = wg_t.double().sum(dim=0), wr_t.double().sum(dim=0)
    if kind == "pr":
        return {"precision": (wg_t * (by_gen > 0)).double().sum(dim=0) / mass_g,
                "recall": (wr_t * (by_real > 0)).double().sum(dim=0) / mass_r}
    return {"density": (wg_t.double() * by_gen.double()).sum(dim=0) / (k * mass_g),
            "coverage": (wr_t * (by_real > 0)).double().sum(dim=0) / mass_r}


def _inside(d: torch.Tensor, radii: torch.Tensor, closed: bool) -> torch.Tensor:
    return d <= radii if closed else d < radii


def _device_table(fs: FeatureSet, k: int, tile: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    values, indices = neighbour_table(fs, k + 1, tile)
    return values.to(device), indices.to(device)


#: Most (generated, real, distance) triples a ball annulus keeps (12 bytes each in float32, 600 MB at
#: the cap); past it the replicates are computed directly on their kept samples.
ANNULUS_PAIR_CAP = 50_000_000


def _replicate_radii(x: torch.Tensor, w: torch.Tensor, own: list[bool], k: int, tile: int,
                     table: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """``R × n``: each sample's k-NN radius among the samples replicate b keeps (:func:`radii_among`)
    where ``own[b]``; its full-sample radius elsewhere (and where b leaves it out: it weighs 0 there)."""
    out = table[0][:, k].expand(w.shape[0], -1).clone()
    for b in range(w.shape[0]):
        if not own[b]:
            continue
        present = w[b] > 0
        out[b, present] = radii_among(table, present, k, x, tile)
    return out


class _Annulus:
    """The (generated i, real j, distance) triples with ``lower <= d <= upper`` of the ball they concern,
    gathered tile by tile: the balls are the real samples' (``axis=1``, bounds indexed by column j) or
    the generated samples' (``axis=0``, by row i).

    Stops gathering (``overflow``) once there would be more than ``cap`` of them.
    """

    def __init__(self, lower: torch.Tensor, upper: torch.Tensor, cap: int, axis: int) -> None:
        self.lower, self.upper, self.cap, self.axis = lower, upper, cap, axis
        self.active = bool((lower < upper).any())
        self.parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self.count, self.overflow = 0, False

    def add(self, rows: slice, cols: slice, d: torch.Tensor) -> None:
        import torch

        if not self.active or self.overflow:
            return
        lower, upper = ((self.lower[None, cols], self.upper[None, cols]) if self.axis == 1
                        else (self.lower[rows, None], self.upper[rows, None]))
        gi, rj = torch.nonzero((d >= lower) & (d <= upper), as_tuple=True)
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


def _correct(annulus: _Annulus, full: torch.Tensor, new: torch.Tensor, closed: bool, wg: torch.Tensor,
             wr: torch.Tensor, by_gen: torch.Tensor | None, by_real: torch.Tensor | None, real_rows: list[bool]) -> None:
    """Each replicate's counts with the radii *it* gives the balls of ``annulus`` (updated in place).

    Only a pair whose distance lies between its ball's full-sample radius and the replicate's radius
    changes its indicator, and the annulus holds every such pair. ``by_gen`` (kept real balls holding
    generated sample i) is weighted by the real side's weights, ``by_real`` (generated samples in real
    ball j, or kept generated balls holding real sample j) by the generated side's, in the rows
    ``real_rows`` allows (coverage keeps full-sample radii in the others while density moves them).
    """
    triples = annulus.triples()
    if triples is None:
        return
    gi, rj, d = triples
    ball = rj if annulus.axis == 1 else gi
    dtype = (by_gen if by_gen is not None else by_real).dtype
    before = _inside(d, full[ball], closed).to(dtype)
    for b in range(new.shape[0]):
        change = _inside(d, new[b, ball], closed).to(dtype) - before
        if not bool(change.any()):
            continue
        if by_gen is not None:
            by_gen[:, b].index_add_(0, gi, change * wr[b, rj].to(dtype))
        if by_real is not None and real_rows[b]:
            by_real[:, b].index_add_(0, rj, change * wg[b, gi].to(dtype))


def _replicates_directly(xg: torch.Tensor, xr: torch.Tensor, wg: torch.Tensor, wr: torch.Tensor,
                         gen_new: torch.Tensor | None, real_new: torch.Tensor, real_full: torch.Tensor,
                         own: list[bool], k: int, tile: int, kind: str) -> dict[str, torch.Tensor]:
    """Each replicate's metric on its kept samples, one distance pass per replicate (when the annulus
    would hold too many triples: many samples at almost the same distance, such as duplicated images)."""
    import torch

    keys = ("precision", "recall") if kind == "pr" else ("density", "coverage")
    out = {key: torch.empty(wg.shape[0], dtype=torch.float64, device=xg.device) for key in keys}
    for b in range(wg.shape[0]):
        kg, kr = wg[b] > 0, wr[b] > 0
        if kind == "pr":
            values = precision_recall(xg[kg], xr[kr], k, tile, gen_new[b, kg], real_new[b, kr])
        else:
            values = density_coverage(xg[kg], xr[kr], k, tile, real_new[b, kr])
            if not own[b]:
                values = (values[0], density_coverage(xg[kg], xr[kr], k, tile, real_full[kr])[1])
        for key, value in zip(keys, values):
            out[key][b] = value
    return out


def _check_kept(halves: dict[str, torch.Tensor], k: int, name: str) -> None:
    """Each half-sample must keep more than k samples of each side (a one-line error for tiny runs with --ci)."""
    for side, w in halves.items():
        kept = int((w > 0).sum(dim=1).min())
        if kept <= k:
            raise GanEvalError(f"{name} intervals need more than k={k} {side} samples in each half-sample, got "
                               f"{kept}: use more samples, or drop {name} from the metrics when asking for intervals")


def _resample(ctx: MetricContext, rs: Resample, k: int, kind: str, name: str) -> dict[str, Replicates]:
    """The jackknife's replicates at full-sample radii, then complementary half-samples of its groups
    with their own radii (both sides always resampled); the interval takes the larger variance."""
    import torch

    from gan_eval.metrics.resampling import half_samples

    if rs.gen is None or rs.real is None:
        raise ValueError(f"{name} replicates resample both sides")
    halves = {"generated": half_samples(rs.gen), "real": half_samples(rs.real)}
    _check_kept(halves, k, name)
    groups = rs.gen.shape[0]
    own = torch.arange(groups + halves["generated"].shape[0]) >= groups
    values = knn_replicates(ctx.gen, ctx.real, torch.cat([rs.gen, halves["generated"]]),
                            torch.cat([rs.real, halves["real"]]), k, ctx.options.tile, kind, own)
    return {key: Replicates(v.cpu().numpy(), float("nan"), half_sample_groups=groups) for key, v in values.items()}


def resample_pr(ctx: MetricContext, rs: Resample) -> dict[str, Replicates]:
    """Precision/recall of the jackknife and complementary half-samples (:func:`_resample`)."""
    return _resample(ctx, rs, ctx.options.pr_k, "pr", "precision/recall")


def resample_dc(ctx: MetricContext, rs: Resample) -> dict[str, Replicates]:
    """Density/coverage of the jackknife and complementary half-samples (:func:`_resample`)."""
    return _resample(ctx, rs, ctx.options.dc_k, "dc", "density/coverage")


#: Shared by the k-NN metrics and KID.
TILE_OPTION = MetricOption("tile", DEFAULT_TILE, "rows per distance/kernel tile (bounds memory)")
_KNN_NOTE = ("the larger of two variances, both sides: the delete-a-group jackknife at full-sample k-NN radii "
             "(density: the kept samples' radii), and complementary half-samples of its groups with their own radii "
             "(delete-d jackknife, d = N/2); point ± t·sd")

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
