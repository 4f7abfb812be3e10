"""Road cleaning: raw road lines → a noded network of centrelines that can close blocks.

Real road layers do not polygonise cleanly: lines stop a metre short of the road they
meet, are clipped at the edge of the extract, are digitised twice, or run as two
carriageways. This module fixes what can be fixed on the lines themselves:

* explode multi-lines, drop empty and zero-length parts and exact duplicates;
* snap coordinates to a small grid (``precision``) so shared nodes really coincide;
* extend each dangling end along its last segment by up to ``extend_m`` and connect it
  to the first road it reaches (or to the nearest road within ``snap_m``);
* node the result (every crossing becomes a vertex).

:func:`clean_roads_for` cleans the roads of two halves of the communities at once, on two
threads, and hands each community the lines the cleaning of all roads would give it.

Dual carriageways and elevated roads stay as parallel lines here; the thin strips they
enclose are split down their middle by :func:`gridgeo.partition.blocks.merge_slivers`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely import LineString

from gridgeo.partition.twocores import elementwise, on_both_cores, two_at_once

log = logging.getLogger(__name__)


def _as_lines(geoms) -> np.ndarray:
    arr = np.asarray(geoms, dtype=object)
    arr = arr[~shapely.is_missing(arr)]
    parts = shapely.get_parts(arr)
    # polygons given as roads: use their outlines
    poly = shapely.get_type_id(parts) == 3
    if poly.any():
        parts = np.concatenate([parts[~poly], shapely.get_parts(shapely.boundary(parts[poly]))])
        parts = shapely.get_parts(shapely.line_merge(parts)) if len(parts) else parts
    parts = parts[shapely.get_type_id(parts) == 1] if len(parts) else parts
    return parts


def clean_roads(
    roads,
    *,
    precision: float = 0.01,
    snap_m: float = 2.0,
    extend_m: float = 10.0,
) -> np.ndarray:
    """Clean road lines (metric CRS) into a noded array of LineStrings.

    Parameters
    ----------
    roads
        Road geometries (array-like of LineString/MultiLineString), in metres.
    precision
        Coordinates are snapped to this grid (metres).
    snap_m
        A dangling end within this distance of another road is connected to it.
    extend_m
        A dangling end is extended along its direction by up to this many metres
        when that reaches another road.

    Returns
    -------
    numpy.ndarray
        Noded LineStrings, sorted deterministically.
    """
    lines = _as_lines(roads)
    if len(lines) == 0:
        return np.array([], dtype=object)
    lines = shapely.set_precision(lines, precision)
    lines = lines[~shapely.is_empty(lines)]
    lines = shapely.get_parts(lines)
    lines = lines[shapely.length(lines) > precision]
    if len(lines) == 0:
        return np.array([], dtype=object)
    noded = node_lines(lines)
    noded = noded[shapely.length(noded) > precision]
    extensions = _connect_dangles(noded, snap_m=snap_m, extend_m=extend_m, precision=precision)
    # rounded and noded again even without an extension: what happens to a line then
    # depends on the lines near it alone (:func:`clean_roads_for` cleans halves apart)
    allg = np.concatenate([noded, np.array(extensions, dtype=object)])
    allg = elementwise(shapely.set_precision, allg, grid_size=precision)
    noded = node_again(allg[: len(noded)], allg[len(noded) :])
    noded = noded[shapely.length(noded) > precision]
    # deterministic order (by WKB of the normalised line) and no duplicates
    norm = elementwise(shapely.normalize, noded)
    _, first = np.unique(elementwise(shapely.to_wkb, norm), return_index=True)
    out = norm[first]
    log.info(
        "cleaned %d road parts into %d noded segments (%d dangles connected)",
        len(lines),
        len(out),
        len(extensions),
    )
    return out


#: a half's box reaches this far beyond its areas (m) (:func:`clean_roads_for`)
HALF_MARGIN_M = 200.0
#: fewer road vertices than this are cleaned in one piece: two threads would cost more
HALVES_MIN_COORDS = 10_000


def clean_roads_for(
    roads,
    areas,
    *,
    precision: float = 0.01,
    snap_m: float = 2.0,
    extend_m: float = 10.0,
) -> CleanedRoads:
    """The roads cleaned (:func:`clean_roads`) for ``areas``: in two halves at once where that
    gives the same lines.

    Inside :func:`~gridgeo.partition.twocores.both_cores` and with enough roads, the areas
    are split in two halves across their longer extent (as many road vertices each side); each
    half's roads (the lines meeting the box of its areas widened by :data:`HALF_MARGIN_M`)
    are cleaned on their own thread. What the cleaning does to a line depends only on the
    lines within a few metres of it (a crossing, a dangling end's ray of ``extend_m``, a
    snap of ``snap_m``), so a piece that lies well inside the box (``2 × (extend_m +
    snap_m) + 1`` m from its edge) is the piece the cleaning of all roads makes:
    :meth:`CleanedRoads.meeting` hands an area the lines of its half where each of them
    does, else the lines of all roads cleaned at once (a road without a crossing from the
    area to beyond the margin). One case is not the same: where GEOS cannot node all the
    roads at once (it then snap-rounds them to 1 µm, :func:`node_lines`) but can node a
    half's, the half's noding stands.

    Parameters
    ----------
    roads
        Road geometries (metres), as :func:`clean_roads` takes them.
    areas
        The areas the lines are for (the communities, metres).
    precision, snap_m, extend_m
        As in :func:`clean_roads`.

    Returns
    -------
    CleanedRoads
    """
    roads = np.asarray(roads, dtype=object)
    areas = np.asarray(areas, dtype=object)
    kw = {"precision": precision, "snap_m": snap_m, "extend_m": extend_m}
    out = CleanedRoads(roads, kw)
    split = _halves(roads, areas) if on_both_cores() else None
    if split is None:
        out.whole = clean_roads(roads, **kw)
        return out
    out.axis, out.cut, boxes, picks = split
    lines = two_at_once(clean_roads, roads[picks[0]], roads[picks[1]], **kw)
    out.halves = list(zip(boxes, lines, strict=True))
    return out


@dataclass
class CleanedRoads:
    """Cleaned road lines (:func:`clean_roads_for`): of all roads (``whole``), or of two
    halves, each with the box its lines are the whole cleaning's lines in."""

    roads: np.ndarray
    options: dict
    whole: np.ndarray | None = None
    halves: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    axis: int = 0
    cut: float = 0.0

    @property
    def inset(self) -> float:
        """How far inside a half's box its lines are the whole cleaning's (m): a dangle's
        ray and snap reach, twice, and a metre."""
        return 2.0 * (self.options["extend_m"] + self.options["snap_m"]) + 1.0

    def all_lines(self) -> np.ndarray:
        """The cleaning of all roads at once (made on first use)."""
        if self.whole is None:
            self.whole = clean_roads(self.roads, **self.options)
        return self.whole

    def meeting(self, geoms: np.ndarray) -> list[np.ndarray]:
        """For each of ``geoms``, the cleaned lines that meet it, in the order of the
        cleaning of all roads: from its half where they lie well inside that half's box,
        else from the cleaning of all roads."""
        geoms = np.asarray(geoms, dtype=object)
        if not self.halves:
            return lines_meeting(self.all_lines(), geoms)
        out: list = [None] * len(geoms)
        side = _side(geoms, self.axis, self.cut)
        redo = []
        for k, (box, lines) in enumerate(self.halves):
            at = np.flatnonzero(side == k)
            inner = box + np.array([1.0, 1.0, -1.0, -1.0]) * self.inset
            for i, mine in zip(at.tolist(), lines_meeting(lines, geoms[at]), strict=True):
                b = np.vstack([shapely.bounds(geoms[i])[None], shapely.bounds(mine)])
                inside = (b[:, :2] >= inner[:2]).all() and (b[:, 2:] <= inner[2:]).all()
                if inside:
                    out[i] = mine
                else:
                    redo.append(i)
        if redo:
            log.info("%d areas take the roads cleaned all at once", len(redo))
            for i, mine in zip(redo, lines_meeting(self.all_lines(), geoms[redo]), strict=True):
                out[i] = mine
        return out


def lines_meeting(lines: np.ndarray, geoms: np.ndarray) -> list[np.ndarray]:
    """For each of ``geoms``, the ``lines`` that meet it, in input order."""
    if not len(lines):
        return [np.array([], dtype=object) for _ in geoms]
    gi, li = shapely.STRtree(lines).query(geoms, predicate="intersects")
    order = np.lexsort((li, gi))
    gi, li = gi[order], li[order]
    cut = np.searchsorted(gi, np.arange(len(geoms) + 1))
    return [lines[li[cut[k] : cut[k + 1]]] for k in range(len(geoms))]


def _side(geoms: np.ndarray, axis: int, cut: float) -> np.ndarray:
    """0 or 1 for each of ``geoms``: its box's middle before ``cut`` along ``axis``, or not."""
    b = shapely.bounds(geoms)
    return ((b[:, axis] + b[:, axis + 2]) / 2.0 >= cut).astype(int)


def _halves(roads: np.ndarray, areas: np.ndarray):
    """``(axis, cut, boxes, picks)``: the areas split in two across their longer extent,
    as many road vertices each side; each half's box (its areas' box widened by
    :data:`HALF_MARGIN_M`) and the roads meeting it. ``None`` for too few roads or
    areas, or a half without an area."""
    ok = ~shapely.is_missing(roads)
    coords = shapely.get_num_coordinates(roads[ok])
    if len(areas) < 2 or int(coords.sum()) < HALVES_MIN_COORDS:
        return None
    ab = shapely.bounds(areas)
    if np.isnan(ab).any():
        return None
    axis = int((ab[:, 3].max() - ab[:, 1].min()) > (ab[:, 2].max() - ab[:, 0].min()))
    # as many road vertices each side (what the cleaning's time goes with)
    rb = shapely.bounds(roads[ok])
    mid = (rb[:, axis] + rb[:, axis + 2]) / 2.0
    o = np.argsort(mid, kind="stable")
    weight = np.cumsum(coords[o])
    cut = float(mid[o][np.searchsorted(weight, weight[-1] / 2.0)])
    side = _side(areas, axis, cut)
    if side.all() or not side.any():
        return None
    tree = shapely.STRtree(roads)
    boxes, picks = [], []
    for k in (0, 1):
        b = ab[side == k]
        box = np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()])
        box += np.array([-1.0, -1.0, 1.0, 1.0]) * HALF_MARGIN_M
        boxes.append(box)
        picks.append(np.sort(tree.query(shapely.box(*box), predicate="intersects")))
    return axis, cut, boxes, picks


def node_again(pieces, links) -> np.ndarray:
    """The lines :func:`node_lines` makes of ``pieces`` (the pieces of one noding, rounded
    since) and ``links`` (new lines, the dangles' links), noding only what needs it.

    Where the rounding left the pieces noded — they meet only at their ends, which GEOS's
    simplicity test of them as one multi-line checks — only the links and the pieces they
    meet are noded again (in their order: the crossings are computed as in the noding of
    all); the other pieces are as that noding leaves them. Else all are noded. The same
    set of lines either way (:func:`clean_roads` orders them); on the city as drawn about
    three quarters of the time, with the divided roads on their median (few links) a fifth.
    """
    done = _nodable(pieces)
    new = _nodable(links)
    if len(done) == 0 or not shapely.is_simple(shapely.multilinestrings(done)):
        return _node(np.concatenate([done, new]))
    _, met = shapely.STRtree(done).query(new, predicate="intersects")
    met = np.unique(met)
    rest = np.ones(len(done), dtype=bool)
    rest[met] = False
    # the rounded pieces carry the 1 cm grid as their precision model, which later
    # overlays (the faces' clip) would round their results to; GEOS's noding returns
    # lines without one, and so must these: grid size 0 (floating), coordinates unchanged
    kept = elementwise(shapely.set_precision, done[rest], grid_size=0.0)
    return np.concatenate([kept, _node(np.concatenate([done[met], new]))])


def _nodable(lines) -> np.ndarray:
    """The line parts GEOS can node: non-empty lines of positive length, repeated points
    removed."""
    arr = shapely.get_parts(np.asarray(lines, dtype=object))
    # collapsed parts (all vertices equal, e.g. after snapping) can crash GEOS noding
    arr = arr[~shapely.is_empty(arr)]
    arr = arr[np.isin(shapely.get_type_id(arr), [1, 2])]
    arr = arr[shapely.length(arr) > 0]
    if len(arr) == 0:
        return arr
    return elementwise(shapely.remove_repeated_points, arr, tolerance=0.0)


def node_lines(lines) -> np.ndarray:
    """Node line parts (every crossing a vertex); falls back to 1 µm snap-rounding if GEOS fails."""
    return _node(_nodable(lines))


def _node(arr: np.ndarray) -> np.ndarray:
    """:func:`node_lines` of parts :func:`_nodable` gave."""
    if len(arr) == 0:
        return arr
    try:
        noded = shapely.node(shapely.multilinestrings(arr))
    except shapely.errors.GEOSException:
        # snap-rounding noding is robust; a 1 µm grid moves nothing that matters
        log.debug("noding failed; snap-rounding %d lines to 1 µm", len(arr))
        noded = shapely.union_all(arr, grid_size=1e-6)
    parts = shapely.get_parts(noded)
    return parts[shapely.get_type_id(parts) == 1]


def _connect_dangles(
    lines: np.ndarray, *, snap_m: float, extend_m: float, precision: float
) -> list[LineString]:
    """Segments that connect dangling line ends to the nearest road they point at.

    All dangling ends are handled at once: one STRtree query for all their rays (each
    end extended along its last segment by ``extend_m``) with one batched intersection,
    then one ``dwithin`` query for the ends no ray connects (snapped within ``snap_m``).
    """
    if (extend_m <= 0 and snap_m <= 0) or len(lines) == 0:
        return []
    lines = np.asarray(lines, dtype=object)
    line, end, d = _dangling_ends(lines)
    if len(line) == 0:
        return []
    target = np.full((len(line), 2), np.nan)
    tree = shapely.STRtree(lines)
    if extend_m > 0:
        rays = shapely.linestrings(np.stack([end + d * precision * 2, end + d * extend_m], axis=1))
        k, j = tree.query(rays, predicate="intersects")
        keep = j != line[k]
        k, j = k[keep], j[keep]
        inter = elementwise(shapely.intersection, rays[k], lines[j])
        ok = ~shapely.is_empty(inter)
        k, j, inter = k[ok], j[ok], inter[ok]
        dist = elementwise(shapely.distance, shapely.points(end[k]), inter)
        xy, at = shapely.get_coordinates(inter, return_index=True)
        gap = np.hypot(*(xy - end[k[at]]).T)
        # the coordinates of ``inter[g]`` are ``xy[first[g]:first[g + 1]]`` (``at`` ascends)
        first = np.searchsorted(at, np.arange(len(inter) + 1))
        kk, g = _first_best(k, dist, shapely.bounds(lines[j]))
        if len(g):
            # the coordinate of each chosen intersection nearest to its end (the first of
            # equal ones): its gap's minimum over the intersection's coordinates
            a, b = first[g], first[g + 1]
            owner = np.repeat(np.arange(len(g)), b - a)
            pos = np.arange(len(owner)) + np.repeat(a - np.cumsum(b - a) + (b - a), b - a)
            o = np.lexsort((pos, gap[pos], owner))
            best = pos[o[np.searchsorted(owner[o], np.arange(len(g)))]]
            target[kk] = xy[best]
    todo = np.flatnonzero(np.isnan(target[:, 0]))
    if snap_m > 0 and len(todo):
        pts = shapely.points(end[todo])
        k, j = tree.query(pts, predicate="dwithin", distance=snap_m)
        keep = j != line[todo[k]]
        k, j = k[keep], j[keep]
        dist = shapely.distance(pts[k], lines[j])
        ok = dist > precision
        k, j, dist = k[ok], j[ok], dist[ok]
        kk, g = _first_best(k, dist, shapely.bounds(lines[j]))
        if len(g):
            near = lines[j[g]]
            q = shapely.line_interpolate_point(near, shapely.line_locate_point(near, pts[kk]))
            target[todo[kk]] = shapely.get_coordinates(q)
    found = np.flatnonzero(~np.isnan(target[:, 0]))
    return list(shapely.linestrings(np.stack([end[found], target[found]], axis=1)))


def _first_best(k: np.ndarray, dist: np.ndarray, tie: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query index in ``k``: ``(query indices, positions)`` of the smallest distance;
    among equal distances the smallest row of ``tie`` (the candidate lines' bounds: the
    same choice whatever the lines' order, so a half of the roads cleaned alone joins a
    dangle to the line the whole cleaning joins it to), then the first in query order."""
    if len(k) == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    order = np.lexsort((np.arange(len(k)), *np.asarray(tie).T[::-1], dist, k))
    k_sorted = k[order]
    first = np.flatnonzero(np.r_[True, k_sorted[1:] != k_sorted[:-1]])
    return k_sorted[first], order[first]


def _dangling_ends(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(line index, end point, unit direction)`` of every end no other line end shares,
    in line order, the last end of a line before its first."""
    xy, at = shapely.get_coordinates(lines, return_index=True)
    start = np.searchsorted(at, np.arange(len(lines)))
    stop = np.r_[start[1:], len(xy)] - 1
    n = stop - start + 1
    ok = n >= 2
    idx = np.flatnonzero(ok)
    # for each line: (last, second last) then (first, second)
    line = np.repeat(idx, 2)
    end_i = np.column_stack([stop[idx], start[idx]]).ravel()
    prev_i = np.column_stack([stop[idx] - 1, start[idx] + 1]).ravel()
    keys = np.round(np.vstack([xy[start[ok]], xy[stop[ok]]]), 3)
    mine = np.round(xy[end_i], 3)
    pos = _row_groups(np.vstack([keys, mine]))
    cnt_by_key = np.bincount(pos[: len(keys)], minlength=pos.max() + 1)
    single = cnt_by_key[pos[len(keys) :]] == 1
    end, prev = xy[end_i], xy[prev_i]
    d = end - prev
    norm = np.hypot(*d.T)
    keep = single & (norm > 0)
    d = d[keep] / norm[keep, None]
    return line[keep], end[keep], d


def _row_groups(xy: np.ndarray) -> np.ndarray:
    """For each row of ``xy`` (n × 2), the rank of its value among the distinct rows (equal
    rows, compared as numbers, share it): :func:`numpy.unique`'s ``return_inverse`` with
    ``axis=0``, without its sort of the rows as one structured key."""
    order = np.lexsort((xy[:, 1], xy[:, 0]))
    s = xy[order]
    new = np.r_[True, np.any(s[1:] != s[:-1], axis=1)] if len(s) else np.zeros(0, dtype=bool)
    pos = np.empty(len(xy), dtype=np.intp)
    pos[order] = np.cumsum(new) - 1
    return pos
