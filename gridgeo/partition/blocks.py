"""Blocks: polygonise the road network inside one community, assign households, tidy slivers.

A block is a face of the planar graph formed by the community outline, the road
centrelines inside it and any extra outlines (closed compounds, villager groups).
The faces tile the community exactly, so any union of blocks is seamless and every
border between blocks lies on a road or on one of those outlines.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import shapely

from gridgeo.partition.aggregate import Graph
from gridgeo.partition.medial import polygonal, split_medial, split_medial_many, split_region

log = logging.getLogger(__name__)

ONE_PASS = True  # all slivers of a community in one pass (merge_slivers_once)
ONE_PASS_SEGMENT_M = 8.0  # sampling step of the one pass (m)
ONE_PASS_SIMPLIFY_M = 0.5  # tolerance on its road middles (m): the sampling's zigzag
ONE_PASS_SIDE_BY_SIDE = (
    0.25  # above this share of the strips' outline side by side: sliver by sliver
)
ONE_PASS_WHOLE = True  # slivers merge_slivers gives whole to one block: whole here too
ONE_PASS_ZIGZAG_M = 0.3  # the sampling's zigzag on a strip's middle kept below this (m)
ONE_PASS_ZIGZAG_SHARE = 0.1  # ... and below this share of the strip's width
# the blocks take the faces' vertices and join them by a coverage union (_join_faces); off:
# the faces snapped onto the blocks and joined by a plain union, where a face a few nm off
# its block came out loose and went to the block it shared most border with
JOIN_BY_COVERAGE = True


@dataclass
class Blocks:
    """Block polygons of one community with the household points each holds."""

    geoms: list  # shapely Polygons
    members: list[np.ndarray]  # indices into the community's household arrays
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))
    medians: list = field(default_factory=list)  # centre lines found in split road strips

    def recompute(self, hh: np.ndarray) -> None:
        self.weights = member_sums(hh, self.members)


def member_sums(hh: np.ndarray, members: list) -> np.ndarray:
    """``hh[m].sum()`` of each index array ``m`` of ``members`` (0 for an empty one).

    Parameters
    ----------
    hh
        Weights of the points.
    members
        Index arrays into ``hh``.

    Returns
    -------
    numpy.ndarray
        One float per member. With whole-number weights (household and resident counts)
        the sums are exact, so one ``bincount`` gives numpy's sums bit for bit; other
        weights are summed member by member, as numpy does.
    """
    n = len(members)
    lens = np.fromiter(map(len, members), dtype=np.int64, count=n)
    if n == 0 or lens.sum() == 0:
        return np.zeros(n)
    vals = hh[np.concatenate(members).astype(np.intp, copy=False)]
    if np.all(vals == np.floor(vals)) and float(np.abs(vals).sum()) < 2.0**52:
        return np.bincount(np.repeat(np.arange(n), lens), weights=vals, minlength=n)
    return np.array([float(hh[m].sum()) if len(m) else 0.0 for m in members])


def faces(
    area,
    lines,
    *,
    extra_lines=(),
    snap_m: float = 2.0,
    extend_m: float = 10.0,
    snap_boundary_m: float = 0.05,
) -> np.ndarray:
    """Faces of ``area``'s outline noded with ``lines`` (clipped to it), inside ``area``.

    Parameters
    ----------
    area
        Polygon or MultiPolygon (metres).
    lines
        Road centrelines (array of LineStrings); only their parts inside ``area`` count.
    extra_lines
        More outlines to cut along (compound or villager-group borders).
    snap_m, extend_m
        Dangling ends are joined to the nearest line or outline within ``snap_m``, or
        extended by up to ``extend_m`` to meet one (see :func:`clean.clean_roads`).
    snap_boundary_m
        Line vertices this close to the outline are snapped onto it first.

    Returns
    -------
    numpy.ndarray
        Polygons tiling ``area``, in a deterministic order.
    """
    from gridgeo.partition.clean import _connect_dangles, node_lines

    bnd = shapely.boundary(area)
    pieces = [bnd]
    cand = np.asarray(list(lines) + list(extra_lines), dtype=object)
    if len(cand):
        tree = shapely.STRtree(cand)
        idx = np.sort(tree.query(area, predicate="intersects"))
        if len(idx):
            # a line inside the area is its own clip: only the others are overlaid
            shapely.prepare(area)
            clipped = cand[idx].copy()
            out = ~shapely.contains_properly(area, clipped)
            clipped[out] = shapely.intersection(clipped[out], area)
            parts = shapely.get_parts(clipped)
            parts = parts[np.isin(shapely.get_type_id(parts), [1, 2])]
            if len(parts) and snap_boundary_m > 0:
                parts = shapely.snap(parts, bnd, snap_boundary_m)
            pieces.extend(parts.tolist())
    noded = node_lines(pieces)
    if len(pieces) > 1:
        ext = _connect_dangles(noded, snap_m=snap_m, extend_m=extend_m, precision=0.001)
        if ext:
            noded = node_lines(np.concatenate([noded, np.array(ext, dtype=object)]))
    polys = shapely.get_parts(shapely.polygonize(noded))
    if len(polys) == 0:
        return (
            np.array([area], dtype=object)
            if area.geom_type == "Polygon"
            else shapely.get_parts(area)
        )
    # hair-thin faces between near-coincident lines (area below 1 cm²) are dropped: merged
    # into a block they would hang off it as a zero-width corridor that fakes contiguity
    polys = polys[shapely.area(polys) > 0.01]
    inside = shapely.covered_by(shapely.point_on_surface(polys), area)
    polys = polys[inside]
    polys = _with_gaps_repaired(area, polys)
    cen = shapely.get_coordinates(shapely.centroid(polys))
    order = np.lexsort((np.round(cen[:, 0], 3), -np.round(cen[:, 1], 3)))
    return polys[order]


def _with_gaps_repaired(area, polys: np.ndarray) -> np.ndarray:
    """``polys`` with the parts of ``area`` they leave uncovered (faces polygonize could not
    close: invalid rings from numerical noding) and invalid faces made valid (parts above
    1 cm² kept). Valid faces that leave less than 1 cm² uncovered can leave no such part:
    the union is skipped then."""
    valid = shapely.is_valid(polys)
    if valid.all() and shapely.area(area) - float(shapely.area(polys).sum()) < 0.01:
        return polys
    gap = shapely.difference(area, shapely.union_all(polys))
    if not gap.is_empty:
        extra = shapely.get_parts(gap)
        extra = extra[(shapely.get_type_id(extra) == 3) & (shapely.area(extra) > 0.01)]
        if len(extra):
            polys = np.concatenate([polys, extra])
            valid = shapely.is_valid(polys)
    if not valid.all():
        fixed = shapely.get_parts(shapely.make_valid(polys[~valid]))
        fixed = fixed[(shapely.get_type_id(fixed) == 3) & (shapely.area(fixed) > 0.01)]
        polys = np.concatenate([polys[valid], fixed])
    return polys


def assign_points(polys, xy: np.ndarray) -> np.ndarray:
    """Index of the polygon holding each point (first by index on shared borders; nearest if none)."""
    n = len(xy)
    out = np.full(n, -1, dtype=int)
    if n == 0 or len(polys) == 0:
        return out
    pts = shapely.points(xy)
    tree = shapely.STRtree(polys)
    pi, gi = tree.query(pts, predicate="intersects")
    order = np.lexsort((gi, pi))
    pi, gi = pi[order], gi[order]
    first = np.unique(pi, return_index=True)[1]
    out[pi[first]] = gi[first]
    missing = np.flatnonzero(out < 0)
    if len(missing):
        near = tree.nearest(pts[missing])
        out[missing] = near
    return out


def adjacency(polys, *, min_shared: float = 0.5) -> Graph:
    """Adjacency of polygons sharing at least ``min_shared`` metres of border.

    Faces of one polygonization share their borders vertex for vertex: the shared length
    of a pair is then the length of the segments both hold (:func:`_segment_lengths`, one
    numpy pass). A pair where one polygon has an edge that does not match its neighbours'
    (GEOS's coverage check) is measured by GEOS (intersection of the two boundaries), as
    every pair used to be.
    """
    polys = np.asarray(polys, dtype=object)
    n = len(polys)
    if n < 2:
        return Graph(n, np.zeros((0, 2), dtype=int), np.zeros(0))
    tree = shapely.STRtree(polys)
    # with a positive minimum, pairs whose boxes meet suffice (GEOS's intersects test of
    # every pair costs more than measuring them): apart ones hold no common segment, and a
    # pair GEOS measures gets an empty intersection
    a, b = tree.query(polys, predicate=None if min_shared > 0 else "intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if len(a) == 0:
        return Graph(n, np.zeros((0, 2), dtype=int), np.zeros(0))
    lengths, exact = _segment_lengths(polys, a, b)
    if not exact.all():
        bnd = shapely.boundary(polys[np.union1d(a[~exact], b[~exact])])
        at = {int(k): bnd[x] for x, k in enumerate(np.union1d(a[~exact], b[~exact]))}
        lengths[~exact] = shapely.length(
            shapely.intersection(
                np.array([at[k] for k in a[~exact].tolist()], dtype=object),
                np.array([at[k] for k in b[~exact].tolist()], dtype=object),
            )
        )
    ok = lengths >= min_shared
    return Graph(n, np.column_stack([a[ok], b[ok]]).astype(int), lengths[ok])


def _segment_lengths(
    polys: np.ndarray, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Border length each pair ``(a[k], b[k])`` shares as segments both hold (same end
    points), and whether that is the whole shared border (neither polygon has an edge that
    :func:`shapely.coverage_invalid_edges` reports)."""
    n = len(polys)
    parts, part_of = shapely.get_parts(polys, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    xy, at = shapely.get_coordinates(rings, return_index=True)
    step = np.flatnonzero(at[1:] == at[:-1])
    p, q, own = xy[step], xy[step + 1], part_of[ring_of[at[step]]]
    ln = np.hypot(q[:, 0] - p[:, 0], q[:, 1] - p[:, 1])
    live = ln > 0
    p, q, own, ln = p[live], q[live], own[live], ln[live]
    swap = (p[:, 0] > q[:, 0]) | ((p[:, 0] == q[:, 0]) & (p[:, 1] > q[:, 1]))
    key = np.where(swap[:, None], np.hstack([q, p]), np.hstack([p, q]))
    o = np.lexsort(key.T[::-1])
    key, own, ln = key[o], own[o], ln[o]
    start = np.r_[True, np.any(key[1:] != key[:-1], axis=1)]
    grp = np.cumsum(start) - 1
    count = np.bincount(grp)[grp]
    dirty = np.zeros(n, dtype=bool)
    dirty[own[count > 2]] = True
    # segments held by two polygons: their length goes to the pair
    two = np.flatnonzero(start & (count == 2))
    i, j = np.minimum(own[two], own[two + 1]), np.maximum(own[two], own[two + 1])
    mine = i != j
    pk = a.astype(np.int64) * n + b
    po = np.argsort(pk)
    sk = (i.astype(np.int64) * n + j)[mine]
    pos = np.clip(np.searchsorted(pk[po], sk), 0, len(pk) - 1)
    found = pk[po][pos] == sk
    pair_len = np.bincount(po[pos[found]], weights=ln[two][mine][found], minlength=len(a))
    # a polygon with an edge that does not match its neighbour's vertex for vertex (a
    # border drawn with other vertices on its two sides, a T-junction, an overlap): GEOS's
    # coverage check names it, and its pairs are measured the old way
    try:
        dirty |= ~shapely.is_empty(shapely.coverage_invalid_edges(polys))
    except shapely.errors.GEOSException:
        dirty[:] = True
    exact = ~(dirty[a] | dirty[b])
    return pair_len, exact


def poly_union(a, b):
    """Union of two polygonal geometries, polygonal.

    Where the two are apart by float noise only (an edge of ``b`` lies along an edge of
    ``a`` with its ends a few nm off it, as a part clipped from a road strip does) the
    plain union keeps them as two parts; ``a`` then takes ``b``'s vertices within 1 µm
    (:func:`shapely.snap`) and the union is done again.
    """
    out = polygonal(shapely.union(a, b))
    if out.geom_type == "MultiPolygon" and shapely.distance(a, b) < 1e-6:
        again = polygonal(shapely.union(shapely.snap(a, b, 1e-6), b))
        if again.is_valid and shapely.get_num_geometries(again) < shapely.get_num_geometries(out):
            return again
    return out


def _width(poly) -> float:
    per = poly.length
    return 2.0 * poly.area / per if per > 0 else 0.0


def _pp(poly) -> float:
    per = poly.length
    return 4 * np.pi * poly.area / per**2 if per > 0 else 0.0


def _sliver_kinds(
    geoms: np.ndarray, members: list, weights: np.ndarray, *, min_area: float, median_width: float
) -> list[str | None]:
    """``"tiny"``, ``"thin"`` or ``None`` for each block (only empty blocks are slivers)."""
    area, per = shapely.area(geoms), shapely.length(geoms)
    with np.errstate(divide="ignore", invalid="ignore"):
        width = np.where(per > 0, 2.0 * area / per, 0.0)
        pp = np.where(per > 0, 4 * np.pi * area / per**2, 0.0)
    empty = (weights <= 0) & np.array([len(m) == 0 for m in members], dtype=bool)
    kinds: list[str | None] = [None] * len(geoms)
    for i in np.flatnonzero(empty):
        if area[i] < min_area:
            kinds[i] = "tiny"
        elif width[i] < median_width and pp[i] < 0.3:
            kinds[i] = "thin"
    return kinds


class _Shared:
    """Borders every sliver shares with its neighbours, in one batch over the original blocks.

    ``near[i]`` lists the blocks within 1 cm of sliver ``i`` (one STRtree query for all
    slivers); ``border[i]`` maps each to their shared border (one batched intersection).
    Valid for a sliver as long as none of those neighbours was merged away before it.
    """

    def __init__(self, geoms: np.ndarray, slivers: np.ndarray) -> None:
        self.tree = shapely.STRtree(geoms)
        si, j = self.tree.query(geoms[slivers], predicate="dwithin", distance=0.01)
        i = slivers[si]
        keep = i != j
        i, j = i[keep], j[keep]
        bnd = shapely.boundary(geoms)
        shared = shapely.intersection(bnd[i], bnd[j])
        length = shapely.length(shared)
        self.near: dict[int, list[int]] = {int(k): [] for k in slivers}
        self.border: dict[int, dict[int, tuple[float, object]]] = {int(k): {} for k in slivers}
        for a, b, ln, sh in zip(i.tolist(), j.tolist(), length.tolist(), shared, strict=True):
            self.near[a].append(b)
            self.border[a][b] = (ln, sh)


class _Merger:
    """State of one :func:`merge_slivers` pass: unions are deferred and done once per block."""

    def __init__(self, geoms: list, kinds: list) -> None:
        self.geoms = geoms
        self.kinds = kinds
        self.alive = [True] * len(geoms)
        self.owners: dict[int, list[int]] = {}
        self.pending: dict[int, list] = {}
        self.touched: set[int] = set()
        self.presplit: dict[int, tuple] = {}

    def presplit_all(self, shared: _Shared, order: list[int], segment_m: float) -> None:
        """The medial split of every thin sliver as the batch figures see it (its split
        neighbours and borders as :meth:`neighbours` gives them while none has changed),
        all strips in one :func:`split_medial_many`; :meth:`split` uses an answer where
        the sliver's turn brings the same strip and borders."""
        tasks, keys = [], []
        for i in order:
            if self.kinds[i] != "thin":
                continue
            border = shared.border[i]
            nbrs = [j for j in sorted(set(shared.near[i])) if border[j][0] >= 0.5]
            solid = [j for j in nbrs if not self.kinds[j]] or nbrs
            if len(solid) > 1:
                tasks.append((self.geoms[i], [(j, border[j][1]) for j in solid]))
                keys.append(i)
        answers = split_medial_many(tasks, segment_m) if tasks else []
        self.presplit = {i: (*t, a) for i, t, a in zip(keys, tasks, answers, strict=True)}

    def split(self, i: int, borders: list, segment_m: float) -> tuple[dict, list] | None:
        """:func:`split_medial` of sliver ``i`` with ``borders``: the batch answer where
        the strip and its borders are those it was given (same coordinates), else anew."""
        pre = self.presplit.pop(i, None)
        if pre is not None and pre[0] is self.geoms[i]:
            old = pre[1]
            if [j for j, _ in old] == [j for j, _ in borders] and all(
                a is b or shapely.equals_exact(a, b, 0.0)
                for (_, a), (_, b) in zip(old, borders, strict=True)
            ):
                return pre[2]
        return split_medial(self.geoms[i], borders, segment_m)

    def give(self, j: int, piece) -> None:
        self.pending.setdefault(j, []).append(piece)
        self.touched.add(j)

    def flush(self, idx) -> None:
        for j in idx:
            # one union per piece, in the order given (as the loop did): a union_all of a
            # block with its pieces can leave sub-m² parts that only touch the rest
            for piece in self.pending.pop(j, ()):
                self.geoms[j] = poly_union(self.geoms[j], piece)

    def neighbours(self, i: int, shared: _Shared) -> tuple[list, dict]:
        """``(shared border, index)`` of the live neighbours of ``i`` and the border
        geometries: the batch figures while they still hold for ``i``, else the current ones."""
        near = shared.near[i]
        if i not in self.touched and not any(j in self.owners for j in near):
            tiny = self.kinds[i] == "tiny"
            nbrs = [
                (shared.border[i][j][0], j)
                for j in sorted(set(near))
                if shared.border[i][j][0] >= 0.5 or (tiny and shared.border[i][j][0] > 0)
            ]
            if nbrs or not tiny:
                return nbrs, {j: shared.border[i][j][1] for _, j in nbrs}
        # a neighbour was merged away before: the current geometries decide, as in a loop
        # (an untouched sliver has the geometry the batch query saw: its hits stand)
        if i in self.touched:
            self.flush([i])
            hits = shared.tree.query(self.geoms[i], predicate="dwithin", distance=0.01)
            near = [int(j) for j in hits if j != i]
        cand = _resolve(near, self.owners)
        self.flush(cand)
        # a border between two blocks neither of which has changed is the batch's
        known = {} if i in self.touched else shared.border[i]
        known = {j: v for j, v in known.items() if j not in self.touched}
        return _sliver_neighbours(i, self.geoms[i], cand, self.geoms, self.alive, self.kinds, known)


def _sliver_neighbours(
    i, g, cand, geoms, alive, kinds, known: dict
) -> tuple[list[tuple[float, int]], dict]:
    """Live neighbours of sliver ``i`` among ``cand`` (current geometries) as
    ``(shared border, index)`` and the shared borders (``known[j]`` where given, else one
    batched intersection); a tiny sliver touching none falls back to its nearest block
    (and no border)."""
    live = [j for j in sorted(set(cand)) if j != i and alive[j]]
    tiny = kinds[i] == "tiny"
    todo = [j for j in live if j not in known]
    new = shapely.intersection(
        g.boundary, shapely.boundary(np.array([geoms[j] for j in todo], dtype=object))
    )
    got = dict(zip(todo, zip(shapely.length(new).tolist(), new, strict=True), strict=True))
    got.update(known)
    nbrs, borders = [], {}
    for j in live:
        ln, sh = got[j]
        if ln >= 0.5 or (tiny and ln > 0):
            nbrs.append((ln, j))
            borders[j] = sh
    if not nbrs and tiny:
        near = [j for j in sorted(set(cand)) if j != i]
        if near:
            dist = shapely.distance(g, np.array([geoms[j] for j in near], dtype=object))
            nbrs = [(0.0, near[int(np.argmin(dist))])]
    return nbrs, borders


def merge_slivers(
    blocks: Blocks,
    hh: np.ndarray,
    xy: np.ndarray,
    *,
    min_area: float,
    median_width: float,
    segment_m: float = 2.0,
) -> Blocks:
    """Absorb household-free slivers into neighbouring blocks.

    Tiny faces (``area < min_area``) join the neighbour with the longest shared border.
    Thin elongated empty strips (mean width ``< median_width`` and Polsby–Popper
    ``< 0.3``: the median between dual carriageways, a slip road's triangle) are split
    among their neighbours along their medial line, so the border runs down the middle
    of the road; that line is recorded in ``blocks.medians``.

    Slivers are taken smallest first. Their neighbours and shared borders come from one
    STRtree query and one batched intersection over all slivers; a sliver next to one
    merged before it is looked at again with the current geometries. The thin slivers are
    split up front in one batch (:func:`split_medial_many`) from those borders; a sliver's
    turn takes that answer where it brings the same strip and borders. The pieces each
    block receives are unioned with it once, at the end.
    """
    geoms_arr = np.array(blocks.geoms, dtype=object)
    weights = member_sums(hh, blocks.members)
    kinds = _sliver_kinds(
        geoms_arr, blocks.members, weights, min_area=min_area, median_width=median_width
    )
    area = shapely.area(geoms_arr)
    order = sorted((i for i, k in enumerate(kinds) if k), key=lambda i: (area[i], i))
    if not order:
        return blocks
    shared = _Shared(geoms_arr, np.array(order, dtype=int))
    mg = _Merger(list(blocks.geoms), kinds)
    mg.presplit_all(shared, order, segment_m)
    medians = list(blocks.medians)
    for i in order:
        nbrs, borders = mg.neighbours(i, shared)
        if nbrs:
            medians.extend(_absorb(mg, i, nbrs, borders, segment_m))
    mg.flush(list(mg.pending))
    out_geoms = [g for i, g in enumerate(mg.geoms) if mg.alive[i]]
    out_members = [m for i, m in enumerate(blocks.members) if mg.alive[i]]
    if len(medians) > len(blocks.medians):
        new = shapely.line_merge(shapely.union_all(medians[len(blocks.medians) :]))
        medians = list(blocks.medians) + [
            p for p in shapely.get_parts(new) if p.geom_type == "LineString"
        ]
    return explode(Blocks(out_geoms, out_members, medians=medians), hh, xy)


def _absorb(mg: _Merger, i: int, nbrs: list, borders: dict, segment_m: float) -> list:
    """Give sliver ``i`` to its neighbours (whole, or split down its middle); its medial lines."""
    kinds, g = mg.kinds, mg.geoms[i]
    solid = [x for x in nbrs if not kinds[x[1]]] or nbrs
    pieces = None
    if kinds[i] != "tiny" and len(solid) > 1:
        split = mg.split(i, [(j, borders[j]) for _, j in solid], segment_m)
        pieces, lines = split if split is not None else (None, [])
    mg.alive[i] = False
    if pieces is None:
        _, j = max(solid, key=lambda x: (x[0], -x[1]))
        mg.give(j, g)
        mg.owners[i] = [j]
        return []
    for j, piece in pieces.items():
        mg.give(j, piece)
    mg.owners[i] = sorted(pieces)
    return lines


def tidy_blocks(
    blocks: Blocks,
    hh: np.ndarray,
    xy: np.ndarray,
    *,
    min_area: float,
    median_width: float,
    passes: int = 3,
) -> Blocks:
    """Give the household-free slivers to the blocks around them until nothing changes.

    Each pass is :func:`merge_slivers_once` (all slivers of the community in one Voronoi
    split of the road area) where it vouches for its answer and the strips do not lie side
    by side, else :func:`merge_slivers` (sliver by sliver, smallest first; parallel strips
    merge pairwise per pass), that pass and the later ones. A pass changes nothing more
    once no sliver is left (a block grown thin may make a new one).
    """
    one = ONE_PASS
    for _ in range(passes):
        before = len(blocks.geoms)
        once = None
        if one:
            once = merge_slivers_once(blocks, hh, xy, min_area=min_area, median_width=median_width)
        if once is not None:
            blocks = explode(once, hh, xy)
        else:
            # the later passes go the same way (one pass over what the merge left would
            # cut the strips it would have split in a later turn differently)
            one = False
            blocks = merge_slivers(blocks, hh, xy, min_area=min_area, median_width=median_width)
        if len(blocks.geoms) == before:
            break
    return blocks


def _resolve(cand, owners: dict[int, list[int]]) -> list[int]:
    out: list[int] = []
    stack = list(cand)
    seen: set[int] = set()
    while stack:
        j = stack.pop()
        if j in seen:
            continue
        seen.add(j)
        if j in owners:
            stack.extend(owners[j])
        else:
            out.append(j)
    return out


def explode(blocks: Blocks, hh: np.ndarray, xy: np.ndarray | None = None) -> Blocks:
    """Split multi-part blocks into single polygons, each keeping the households it covers."""
    geoms, members = [], []
    arr = np.array(blocks.geoms, dtype=object)
    # one Polygon each is the common case: only the multi-part blocks are looked at one by one
    single = shapely.get_type_id(arr) == 3
    single[single] = shapely.area(arr[single]) > 0
    for g, m, one in zip(blocks.geoms, blocks.members, single.tolist(), strict=True):
        if one:
            geoms.append(g)
            members.append(m)
            continue
        parts = shapely.get_parts(g)
        parts = parts[shapely.area(parts) > 0]
        if len(parts) <= 1:
            geoms.append(parts[0] if len(parts) else g)
            members.append(m)
            continue
        if len(m) and xy is not None:
            where = assign_points(parts, xy[m])
        else:
            where = np.full(len(m), int(np.argmax(shapely.area(parts))))
        for k, p in enumerate(parts):
            geoms.append(p)
            members.append(np.asarray(m)[where == k] if len(m) else np.asarray(m))
    res = Blocks(geoms, members, medians=list(blocks.medians))
    res.recompute(hh)
    return res


def _shared_segments(polys: np.ndarray) -> tuple[np.ndarray, ...]:
    """Ring segments held by exactly two of ``polys`` (same end points): start, end and the
    two owners of each, in a deterministic order (the faces of one polygonization share
    their borders vertex for vertex)."""
    parts, part_of = shapely.get_parts(polys, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    xy, at = shapely.get_coordinates(rings, return_index=True)
    step = np.flatnonzero(at[1:] == at[:-1])
    p, q, own = xy[step], xy[step + 1], part_of[ring_of[at[step]]]
    live = np.any(p != q, axis=1)
    p, q, own = p[live], q[live], own[live]
    swap = (p[:, 0] > q[:, 0]) | ((p[:, 0] == q[:, 0]) & (p[:, 1] > q[:, 1]))
    key = np.where(swap[:, None], np.hstack([q, p]), np.hstack([p, q]))
    o = np.lexsort(key.T[::-1])
    key, own = key[o], own[o]
    start = np.r_[True, np.any(key[1:] != key[:-1], axis=1)]
    grp = np.cumsum(start) - 1
    count = np.bincount(grp)[grp]
    two = np.flatnonzero(start & (count == 2))
    return key[two, :2], key[two, 2:], own[two], own[two + 1]


def _sample_steps(
    geoms: np.ndarray, strip: np.ndarray, step: float, thin: np.ndarray
) -> np.ndarray | float:
    """The sampling step along each border segment of ``strip``: ``step``, or less on a
    ``thin`` strip whose width ``w`` (2 × area / perimeter) would let the Voronoi middle
    zigzag more than :data:`ONE_PASS_ZIGZAG_M`, or than :data:`ONE_PASS_ZIGZAG_SHARE` of
    its width (samples ``s`` apart on its two sides,
    offset by half a step, bend the middle by up to ``s² / (8 w)``); a strip too thin for
    that (the zigzag crosses it whole, adding little length) keeps ``step``, and so does a
    tiny sliver (a square where roads cross: its 2 × area / perimeter is not a width)."""
    if ONE_PASS_ZIGZAG_M <= 0:
        return step
    u, inv = np.unique(strip, return_inverse=True)
    a, per = shapely.area(geoms[u]), shapely.length(geoms[u])
    w = np.where(per > 0, 2.0 * a / np.maximum(per, 1e-12), 0.0)
    z = np.minimum(ONE_PASS_ZIGZAG_M, ONE_PASS_ZIGZAG_SHARE * w)
    s = np.sqrt(8.0 * z * w)
    s = np.where((s > 2.0 * w) | ~thin[u], step, np.minimum(s, step))
    return s[inv]


def _border_samples(
    p: np.ndarray, q: np.ndarray, lab: np.ndarray, segment_m: float, corner_m: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Points every ``segment_m`` or less along segments ``p``–``q`` (both ends included),
    each with its segment's label; a point repeated (to the mm) kept once. A point where
    two labels meet (a corner where a road between two blocks reaches the strip) is moved
    ``corner_m`` into each of its segments instead: the two labels' parts then meet at the
    corner, not up to half a step beside it."""
    ln = np.hypot(*(q - p).T)
    n = np.maximum(np.ceil(ln / segment_m).astype(np.int64), 1)
    seg = np.repeat(np.arange(len(p)), n + 1)
    k = np.arange(len(seg)) - np.repeat(np.cumsum(n + 1) - (n + 1), n + 1)
    f = (k / np.repeat(n, n + 1))[:, None]
    xy = p[seg] + (q[seg] - p[seg]) * f
    labels = lab[seg]
    r = np.round(xy, 3)
    o = np.lexsort((labels, r[:, 1], r[:, 0]))
    new = np.r_[True, np.any(r[o][1:] != r[o][:-1], axis=1)]
    grp = np.cumsum(new) - 1
    mixed = np.zeros(len(xy), dtype=bool)
    lo = np.minimum.reduceat(labels[o], np.flatnonzero(new))
    hi = np.maximum.reduceat(labels[o], np.flatnonzero(new))
    mixed[o] = (lo != hi)[grp]
    end = mixed & ((k == 0) | (k == np.repeat(n, n + 1)))
    step = np.minimum(corner_m, ln[seg[end]] / 4.0)[:, None]
    away = np.where((k[end] == 0)[:, None], q[seg[end]] - p[seg[end]], p[seg[end]] - q[seg[end]])
    xy[end] += away / np.maximum(ln[seg[end]], 1e-12)[:, None] * step
    r = np.round(xy, 3)
    o = np.lexsort((labels, r[:, 1], r[:, 0]))
    first = np.sort(o[np.r_[True, np.any(r[o][1:] != r[o][:-1], axis=1)]])
    return xy[first], labels[first]


def merge_slivers_once(
    blocks: Blocks,
    hh: np.ndarray,
    xy: np.ndarray,
    *,
    min_area: float,
    median_width: float,
    segment_m: float | None = None,
) -> Blocks | None:
    """All household-free slivers of a community given to their neighbours in one pass.

    The slivers :func:`merge_slivers` would give whole to one block (tiny ones, thin ones
    with one block around them) go to it whole (:func:`_whole_slivers`). The others
    together are the road area; each point of it goes to the neighbouring block nearest to
    it (the borders between the slivers and the other blocks sampled every ``segment_m``,
    closer on strips too narrow for that step; one Voronoi split of the whole area:
    :func:`medial.split_region`), so every border runs down the middle of the road,
    through the squares where roads cross too. A block and the faces it receives are
    joined once.

    Parameters
    ----------
    blocks, hh, xy
        The community's blocks, household counts and household points.
    min_area, median_width
        What makes a household-free block a sliver (as in :func:`merge_slivers`).
    segment_m
        Sampling step along the borders (default :data:`ONE_PASS_SEGMENT_M`).

    Returns
    -------
    Blocks or None
        The blocks without slivers; ``None`` where this way cannot vouch for its answer
        (the faces do not tile the area, a block would fall apart) or where the strips lie
        side by side (more than :data:`ONE_PASS_SIDE_BY_SIDE` of their outline on strips
        touching another: :func:`_side_by_side`): :func:`merge_slivers` decides then.
    """
    geoms = np.array(blocks.geoms, dtype=object)
    weights = member_sums(hh, blocks.members)
    kinds = _sliver_kinds(
        geoms, blocks.members, weights, min_area=min_area, median_width=median_width
    )
    sl = np.array([k is not None for k in kinds], dtype=bool)
    if not sl.any():
        return blocks
    if sl.all():
        return None
    p, q, a, b = _shared_segments(geoms)
    if _side_by_side(geoms, kinds, a, b, np.hypot(*(q - p).T)) > ONE_PASS_SIDE_BY_SIDE:
        return None
    root = _whole_slivers(geoms, kinds, a, b, np.hypot(*(q - p).T)) if ONE_PASS_WHOLE else None
    if root is None:
        root = np.arange(len(geoms))
    # the region: slivers not given whole to a block; the rest joins its block as a face
    free = sl & sl[root]
    whole = sl & ~sl[root]
    fcs, flab, lines = geoms[whole], root[whole], []
    if free.any():
        thin = np.array([k == "thin" for k in kinds], dtype=bool)
        got = _split_free(geoms, free & thin, free, root, p, q, a, b, segment_m)
        if got is None:
            return None
        fcs, flab = np.concatenate([got[0], fcs]), np.concatenate([got[1], flab])
        lines = got[2]
    out = _join_faces(geoms, sl, fcs, flab)
    if out is None:
        return None
    members = [m for m, s in zip(blocks.members, sl.tolist(), strict=True) if not s]
    medians = list(blocks.medians)
    if lines:
        merged = shapely.line_merge(shapely.multilinestrings(lines))
        medians += [g for g in shapely.get_parts(merged) if g.geom_type == "LineString"]
    res = Blocks(out, members, medians=medians)
    res.recompute(hh)
    return res


def _split_free(
    geoms: np.ndarray,
    thin: np.ndarray,
    free: np.ndarray,
    root: np.ndarray,
    p: np.ndarray,
    q: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    segment_m: float | None,
) -> tuple[np.ndarray, np.ndarray, list] | None:
    """The slivers ``free`` (the road area left to split) cut among the blocks around them:
    faces, the block each goes to, lines between them (:func:`medial.split_region`), from
    the shared segments ``p``–``q`` of blocks ``a`` and ``b`` (a sliver given whole to a
    block, ``root``, counts as that block; the ``thin`` ones sampled as their width asks);
    ``None`` where that way cannot vouch for it."""
    cross = free[a] != free[b]
    p, q, a, b = p[cross], q[cross], a[cross], b[cross]
    solid = root[np.where(free[a], b, a)]
    strip = np.where(free[a], a, b)
    # a neighbour shares at least 0.5 m with a strip, as in merge_slivers
    n = len(geoms)
    pair = strip.astype(np.int64) * n + solid
    _, inv = np.unique(pair, return_inverse=True)
    tot = np.bincount(inv, weights=np.hypot(*(q - p).T))
    ok = tot[inv] >= 0.5
    if not ok.any():
        return None
    step = ONE_PASS_SEGMENT_M if segment_m is None else segment_m
    step = _sample_steps(geoms, strip[ok], step, thin)
    sxy, slab = _border_samples(p[ok], q[ok], solid[ok], step)
    region = _strips_union(geoms[free])
    if region is None:
        return None
    return split_region(region, sxy, slab, simplify_m=ONE_PASS_SIMPLIFY_M)


def _side_by_side(
    geoms: np.ndarray, kinds: list, a: np.ndarray, b: np.ndarray, ln: np.ndarray
) -> float:
    """The share of the thin slivers' outline (perimeter) on those that share 0.5 m of
    border or more with another thin sliver (strips side by side: elevated and ground
    carriageways drawn as separate lines); ``a``, ``b``, ``ln``: the shared segments'
    owners and lengths."""
    thin = np.array([k == "thin" for k in kinds], dtype=bool)
    if not thin.any():
        return 0.0
    both = thin[a] & thin[b] & (a != b)
    n = len(geoms)
    key = np.minimum(a[both], b[both]).astype(np.int64) * n + np.maximum(a[both], b[both])
    pairs, inv = np.unique(key, return_inverse=True)
    near = pairs[np.bincount(inv, weights=ln[both], minlength=len(pairs)) >= 0.5]
    touch = np.zeros(n, dtype=bool)
    touch[near // n] = True
    touch[near % n] = True
    per = shapely.length(geoms)
    return float(per[touch].sum() / per[thin].sum())


def _whole_slivers(
    geoms: np.ndarray, kinds: list, a: np.ndarray, b: np.ndarray, ln: np.ndarray
) -> np.ndarray:
    """The block each sliver goes to whole, as :func:`merge_slivers` decides it (the sliver
    itself where it is left to the split), from the borders the ring segments give.

    Smallest first, a sliver joins the neighbour it shares most border with (a block that
    is not a sliver where it touches one): a tiny one always, a thin one when one such
    neighbour is around it (0.5 m of border or more) and no sliver split before it. The
    borders of a sliver given whole count as its neighbour's from then on.
    """
    n = len(geoms)
    nb: list[dict[int, float]] = [{} for _ in range(n)]
    for i, j, x in zip(a.tolist(), b.tolist(), ln.tolist(), strict=True):
        if i != j and (kinds[i] or kinds[j]):
            nb[i][j] = nb[i].get(j, 0.0) + x
            nb[j][i] = nb[j].get(i, 0.0) + x
    root = np.arange(n)
    area = shapely.area(geoms)
    order = sorted((i for i, k in enumerate(kinds) if k), key=lambda i: (area[i], i))
    split: set[int] = set()
    for i in order:
        near = [(x, j) for j, x in nb[i].items() if x > 0]
        if kinds[i] == "thin":
            near = [c for c in near if c[0] >= 0.5]
        solid = [c for c in near if not kinds[c[1]]] or near
        # a sliver split before this one leaves blocks unknown here: this one is split too
        if kinds[i] == "thin" and (len(solid) > 1 or any(c[1] in split for c in near)):
            split.add(i)
            continue
        pick = max(solid, key=lambda c: (c[0], -c[1])) if solid else None
        if pick is None:
            continue
        j = pick[1]
        root[i] = j
        for h, x in nb[i].items():
            del nb[h][i]
            if h != j:
                nb[j][h] = nb[j].get(h, 0.0) + x
                nb[h][j] = nb[h].get(j, 0.0) + x
        nb[i] = {}
    # a sliver joined to a sliver goes where that one goes
    for _ in range(n):
        nxt = root[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    return root


def _strips_union(strips: np.ndarray):
    """The union of the strips (faces sharing their edges: a coverage union), valid, or ``None``."""
    try:
        out = shapely.coverage_union_all(strips)
    except shapely.errors.GEOSException:
        out = None
    if out is None or not out.is_valid or out.geom_type not in ("Polygon", "MultiPolygon"):
        out = polygonal(shapely.union_all(strips))
    return out if out.is_valid and not out.is_empty else None


def _join_faces(
    geoms: np.ndarray, sl: np.ndarray, fcs: np.ndarray, flab: np.ndarray
) -> list | None:
    """Each block other than the strips with the faces it receives (one polygon each), or
    ``None`` when a block would not stay one polygon. A face that does not reach its
    block (through the block's other faces) goes to the block or face it shares most
    border with (a corner of two labels, a border sampled on one side only)."""
    # the faces' edges along a block were noded with the middle lines: where a middle line
    # meets a block's edge the faces have a vertex a few nm off it, which the block takes
    # (:func:`_snapped`); block and faces then share their borders vertex for vertex and
    # join by a coverage union, and the joined blocks do too
    if JOIN_BY_COVERAGE:
        geoms = geoms.copy()
        geoms[~sl] = _snapped(geoms[~sl], fcs)
    else:
        # as before: the faces snapped onto their block's vertices (1 µm), a plain union
        fcs = shapely.snap(fcs, geoms[flab], 1e-6)
    flab = flab.copy()
    done: dict[int, object] = {}
    todo = set(np.unique(flab).tolist())
    for _ in range(4):
        loose = []
        labs = sorted(todo)
        ats = [np.flatnonzero(flab == j) for j in labs]
        for j, at, u in zip(labs, ats, _unions(geoms[labs], [fcs[at] for at in ats]), strict=True):
            g, off = _join(geoms[j], fcs[at], u)
            done[j] = g
            loose.extend(at[off].tolist())
        if not loose:
            break
        todo = set(flab[loose].tolist())
        todo |= _relabel(geoms, sl, fcs, flab, loose)
    else:
        return None
    return [done.get(j, geoms[j]) for j in np.flatnonzero(~sl).tolist()]


def _relabel(geoms, sl, fcs, flab, loose: list) -> set:
    """Faces ``loose`` to the label of the block, or face that reaches its block, they share
    most border with (another label than theirs); the labels that gained a face."""
    solid = np.flatnonzero(~sl)
    held = np.ones(len(fcs), dtype=bool)
    held[loose] = False  # only faces that reach their block pass a face on
    pool = np.concatenate([geoms[solid], fcs[held]])
    plab = np.concatenate([solid, flab[held]])
    tree = shapely.STRtree(pool)
    changed = set()
    for k in loose:
        near = tree.query(fcs[k], predicate="dwithin", distance=1e-6)
        near = near[plab[near] != flab[k]]
        if len(near) == 0:
            continue
        shared = shapely.length(shapely.intersection(fcs[k].boundary, shapely.boundary(pool[near])))
        best = int(plab[near[int(np.argmax(shared))]])
        changed.add(best)
        flab[k] = best
    return changed


#: Vertices of the faces this close to a block's edge are put into the edge (m): the
#: points where the middle lines meet it, computed by the noding (float noise)
JOIN_SNAP_M = 1e-8


def _snapped(blocks: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``blocks`` with the vertices of the ``faces`` near them that lie on their edges
    (within :data:`JOIN_SNAP_M`) put into those edges (:func:`shapely.snap`); a block the
    snap would make invalid is kept as it was."""
    if len(blocks) == 0 or len(faces) == 0:
        return blocks
    # the faces whose boxes meet a block's: the snap itself moves only what lies within
    # JOIN_SNAP_M (an exact intersects test of each pair cost more than the snap it spares)
    bi, fi = shapely.STRtree(faces).query(blocks)
    if len(bi) == 0:
        return blocks
    at, idx = np.unique(bi, return_inverse=True)
    ref = shapely.multipolygons(faces[fi], indices=idx)
    snapped = shapely.snap(blocks[at], ref, JOIN_SNAP_M)
    ok = shapely.is_valid(snapped)
    out = blocks.copy()
    out[at[ok]] = snapped[ok]
    return out


def _unions(blocks: np.ndarray, faces: list) -> np.ndarray:
    """The union of each block with its faces: their coverage union (no overlay) where
    they share their borders vertex for vertex and it covers their area, else the plain
    union of the block with the faces snapped onto its vertices (1 µm). Rows are padded
    with missing geometries, which a union skips: one GEOS call for all blocks while no
    row fails."""
    rows = np.full((len(blocks), 1 + max((len(f) for f in faces), default=0)), None, dtype=object)
    rows[:, 0] = blocks
    for k, f in enumerate(faces):
        rows[k, 1 : 1 + len(f)] = f
    if not JOIN_BY_COVERAGE:
        return shapely.union_all(rows, axis=1)
    out = _coverage_rows(rows)
    total = np.nansum(shapely.area(rows), axis=1)
    bad = shapely.is_missing(out)
    live = np.flatnonzero(~bad)
    bad[live] = ~shapely.is_valid(out[live]) | (
        np.abs(shapely.area(out[live]) - total[live]) > 1e-9 * np.maximum(total[live], 1.0)
    )
    for k in np.flatnonzero(bad).tolist():
        f = shapely.snap(faces[k], blocks[k], 1e-6)
        out[k] = shapely.union_all(np.concatenate([[blocks[k]], f]))
    return out


def _coverage_rows(rows: np.ndarray) -> np.ndarray:
    """The coverage union of each row of ``rows``, None where GEOS refuses one: all rows in
    one call, and where that fails, each half again (a row or two fail in a call of dozens:
    a few calls find them, not one per row)."""
    out = np.full(len(rows), None, dtype=object)
    spans = [(0, len(rows))]
    while spans:
        a, b = spans.pop()
        try:
            out[a:b] = shapely.coverage_union_all(rows[a:b], axis=1)
        except shapely.errors.GEOSException:
            if b - a > 1:
                m = (a + b) // 2
                spans += [(m, b), (a, m)]
    return out


def _join(block, faces: np.ndarray, union) -> tuple[object, np.ndarray]:
    """``block`` with ``faces`` joined (``union``: their union, :func:`_unions`): the part
    holding the block, and which faces are not in that part."""
    g = polygonal(union)
    if g.geom_type == "Polygon":
        return g, np.zeros(len(faces), dtype=bool)
    parts = shapely.get_parts(g)
    parts = parts[shapely.area(parts) > 1e-6]
    if len(parts) == 1:
        return parts[0], np.zeros(len(faces), dtype=bool)
    main = parts[int(np.argmax(shapely.area(shapely.intersection(parts, block))))]
    inside = shapely.point_on_surface(faces)
    return main, ~shapely.covered_by(inside, main)


def single(geom):
    """``geom`` as one Polygon when it is one apart from specks below 1e-6 m²."""
    if geom.geom_type == "Polygon":
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.area > 1e-6]
    return parts[0] if len(parts) == 1 else geom
