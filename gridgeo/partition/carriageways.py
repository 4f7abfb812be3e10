"""Dual carriageways as one road: the two one-way halves of a divided road → its centreline.

For a divided road the road's centreline is its median: grids bounded by road
centrelines put their border there. OpenStreetMap draws such a road as two one-way
ways (``oneway=yes``) with the same ``name``, digitised in opposite directions; left
as they are, the strip between them becomes a thin face that
:func:`gridgeo.partition.blocks.merge_slivers` has to split down its middle, which
costs most of a city's run. :func:`collapse_carriageways` replaces each such pair by
the midline of their overlap before the roads are cleaned.

Only attributes decide what is a pair; geometry only confirms it. Two pieces pair when
they belong to one-way ways of the same non-empty ``name`` and the same ``highway``
level, run in opposite directions, are parallel within ``max_angle_deg``, ``min_gap``
to ``max_gap`` apart, overlap along a run of at least ``min_run_m`` and have no
household point between them. Bridges and tunnels (``bridge`` / ``tunnel`` set) are
never paired: an elevated road over a ground road is two roads. A roads layer without
``oneway`` and ``name`` columns is returned unchanged, so parallel roads and outlines
of statistical areas are never merged by their geometry alone.

Where a pair is replaced, the ends of roads that met either carriageway and would now
dangle are joined to the centreline, so the collapse adds no dangling ends.
"""

from __future__ import annotations

import logging

import numpy as np
import shapely
from shapely import LineString
from shapely.ops import substring

from gridgeo.partition.twocores import Background, elementwise, on_both_cores, two_at_once

log = logging.getLogger(__name__)

FORWARD = {"yes", "true", "1"}
REVERSE = {"-1", "reverse"}
_NO = {"", "no", "false", "0", "none", "nan"}


def _text(col) -> np.ndarray:
    """A column as stripped strings ('' for missing values)."""
    vals = np.asarray(col, dtype=object)
    return np.array(["" if v is None or v != v else str(v).strip() for v in vals], dtype=object)


def _eligible(roads) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mask, key, reverse)`` of the roads that may be one half of a divided road.

    ``key`` groups ways that may pair (same name and highway level); ``reverse`` marks
    ways digitised against their direction of travel (``oneway=-1``).
    """
    n = len(roads)
    oneway = np.char.lower(_text(roads["oneway"]).astype(str))
    name = _text(roads["name"])
    level = _text(roads["highway"]) if "highway" in roads else np.full(n, "", dtype=object)
    ok = np.isin(oneway, list(FORWARD | REVERSE)) & (name != "")
    for col in ("bridge", "tunnel"):
        if col in roads:
            ok &= np.isin(np.char.lower(_text(roads[col]).astype(str)), list(_NO))
    ok &= ~shapely.is_missing(roads.geometry.to_numpy())
    key = np.array([f"{a}\x00{b}" for a, b in zip(name, level, strict=True)], dtype=object)
    return ok, key, np.isin(oneway, list(REVERSE))


def collapse_carriageways(
    roads,
    *,
    keep_xy: np.ndarray | None = None,
    precision: float = 0.01,
    min_gap: float = 3.0,
    max_gap: float = 40.0,
    max_angle_deg: float = 10.0,
    step: float = 10.0,
    min_run_m: float = 20.0,
    snap_m: float = 2.0,
) -> np.ndarray:
    """Road geometries with each pair of carriageways of a divided road on its centreline.

    Parameters
    ----------
    roads
        Road GeoDataFrame in metres, with ``oneway`` and ``name`` (and optionally
        ``highway``, ``bridge``, ``tunnel``) columns as in OpenStreetMap.
    keep_xy
        Household points (``(n, 2)`` array) no collapse may cross, or None.
    precision
        Coordinate grid of the road cleaning (metres).
    min_gap, max_gap, max_angle_deg, step, min_run_m
        Distance between the carriageways, how parallel they must be, the length of the
        pieces compared and the shortest overlap replaced.
    snap_m
        Ends of other roads this close to a replaced carriageway are joined to the
        centreline when they would dangle.

    Returns
    -------
    numpy.ndarray
        Road geometries for :func:`gridgeo.partition.clean.clean_roads`: exactly
        ``roads.geometry`` when nothing pairs or the columns are missing.
    """
    geoms = roads.geometry.to_numpy()
    found = _pairs(roads, keep_xy, precision, min_gap, max_gap, max_angle_deg, step, min_run_m)
    if found is None:
        return geoms
    ok, chains, parts, part_chain, seg, part, mid, drop = found
    # the pieces' ends after the move and the centreline pieces, made once for every step
    moved = seg.moved(part, mid)
    k = np.flatnonzero(mid)
    with _Centre(k, moved[0][k], moved[1][k]) as centre:
        touched = np.zeros(len(chains), dtype=bool)
        touched[seg.line[mid | drop]] = True
        others = np.concatenate([geoms[~ok], parts[~touched[part_chain]]])
        others = others[~shapely.is_missing(others)]
        others = _unfold(elementwise(shapely.set_precision, others, grid_size=precision))

        def assemble(at=None, xy=None) -> np.ndarray:
            rebuilt, line = seg.rebuild(moved, drop, at, xy)
            # the rebuilt parts come in line order, so the touched lines' parts keep that order
            kept = elementwise(shapely.set_precision, rebuilt[touched[line]], grid_size=precision)
            return np.concatenate([others, kept])

        out = assemble()
        ends, at, target, cut = _join_ends(
            out, seg, mid | drop, centre, snap_m=snap_m, max_gap=max_gap
        )
        if len(ends) or cut:
            # the centreline gets a vertex where each link or cut road meets it: they node
            # exactly
            at = np.r_[at, [c[3] for c in cut]].astype(int)
            target = np.vstack([target, *[c[2][None] for c in cut]])
            links = shapely.linestrings(np.stack([ends, target[: len(ends)]], axis=1))
            out = np.concatenate([_apply_cuts(assemble(at, target), cut, centre, max_gap), links])
            out = elementwise(shapely.set_precision, out, grid_size=precision)
    log.info(
        "dual carriageways: %d of %d one-way pieces onto centrelines, %d ends joined",
        int(mid.sum()),
        len(mid),
        len(ends),
    )
    return out[~shapely.is_empty(out)]


def divided_road_centrelines(
    roads,
    *,
    keep_xy: np.ndarray | None = None,
    precision: float = 0.01,
    min_gap: float = 3.0,
    max_gap: float = 40.0,
    max_angle_deg: float = 10.0,
    step: float = 10.0,
    min_run_m: float = 20.0,
) -> np.ndarray:
    """The centrelines :func:`collapse_carriageways` puts divided roads on, and nothing else.

    Same pairing rules and parameters as :func:`collapse_carriageways` (no ends joined):
    the middle of each pair of carriageways, as lines. Used to measure a grid border on
    the middle of a divided road as on the road, whether or not the grids were built
    with the collapse.

    Returns
    -------
    numpy.ndarray
        LineStrings (empty when nothing pairs or the ``oneway``/``name`` columns are
        missing).
    """
    found = _pairs(roads, keep_xy, precision, min_gap, max_gap, max_angle_deg, step, min_run_m)
    if found is None:
        return np.array([], dtype=object)
    seg, part, mid = found[4], found[5], found[6]
    s, e = seg.moved(part, mid)
    centre = shapely.linestrings(np.stack([s[mid], e[mid]], axis=1))
    merged = shapely.get_parts(shapely.line_merge(shapely.union_all(centre)))
    return merged[shapely.get_type_id(merged) == 1]


def _pairs(roads, keep_xy, precision, min_gap, max_gap, max_angle_deg, step, min_run_m):
    """The pairing of :func:`collapse_carriageways`, or None when nothing pairs.

    Returns ``(ok, chains, parts, part_chain, seg, part, mid, drop)``: the eligible ways,
    their chains and single parts, the pieces of the chains, each piece's partner and
    the pieces moved onto the centreline and dropped.
    """
    if "oneway" not in roads or "name" not in roads or len(roads) < 2:
        return None
    ok, key, rev = _eligible(roads)
    if ok.sum() < 2:
        return None
    geoms = roads.geometry.to_numpy()
    chains, chain_key, parts, part_chain = _chains(geoms[ok], key[ok], rev[ok], precision)
    seg = _Pieces(shapely.segmentize(chains, step), chain_key)

    def partners(pieces: _Pieces) -> np.ndarray:
        got = pieces.partners(max_gap=max_gap, min_gap=min_gap, max_angle_deg=max_angle_deg)
        if keep_xy is not None and len(keep_xy) and (got >= 0).any():
            got[pieces.crossing(got, keep_xy)] = -1
        return got

    part = _by_key_halves(seg, partners)
    mid, drop = seg.middles(part, min_run_m)
    if not mid.any():
        return None
    return ok, chains, parts, part_chain, seg, part, mid, drop


#: fewer pieces than this are paired on one thread
HALVES_MIN_PIECES = 20_000


def _by_key_halves(seg: _Pieces, partners) -> np.ndarray:
    """``partners(seg)`` (each piece's partner or -1), on two threads inside
    :func:`~gridgeo.partition.twocores.both_cores`: pieces pair only within their key (name
    and level), so the keys are split in two sets of about as many pieces, each set's
    pieces paired on its own thread (in their order: a tie goes the same way) and the
    partners put back in the whole's numbering."""
    if not on_both_cores() or len(seg.len) < HALVES_MIN_PIECES:
        return partners(seg)
    keys, inv, count = np.unique(seg.key, return_inverse=True, return_counts=True)
    if len(keys) < 2:
        return partners(seg)
    # the largest keys first, each to the lighter set
    side, load = np.zeros(len(keys), dtype=int), [0, 0]
    for k in np.argsort(-count, kind="stable").tolist():
        side[k] = int(load[1] < load[0])
        load[side[k]] += int(count[k])
    at = [np.flatnonzero(side[inv] == h) for h in (0, 1)]
    both = two_at_once(lambda idx: partners(seg.subset(idx)), at[0], at[1])
    out = np.full(len(seg.len), -1)
    for idx, got in zip(at, both, strict=True):
        out[idx] = np.where(got >= 0, idx[np.maximum(got, 0)], -1)
    return out


def _chains(geoms, key, rev, precision):
    """One-way ways in travel direction, merged per key into chains.

    Returns ``(chains, chain_key, parts, part_chain)``: the merged chains with their
    key index, and the single ways with the chain each lies on.
    """
    parts, at = shapely.get_parts(shapely.set_precision(geoms, precision), return_index=True)
    good = (shapely.get_type_id(parts) == 1) & (shapely.length(parts) > precision)
    parts, at = parts[good], at[good]
    parts = np.where(rev[at], shapely.reverse(parts), parts)
    keys, kidx = np.unique(key[at], return_inverse=True)
    chains, chain_key, part_chain = [], [], np.full(len(parts), -1)
    for k in range(len(keys)):
        sel = np.flatnonzero(kidx == k)
        merged = shapely.get_parts(shapely.line_merge(shapely.multilinestrings(parts[sel]), True))
        merged = merged[shapely.get_type_id(merged) == 1]
        tree = shapely.STRtree(merged)
        probe = shapely.line_interpolate_point(parts[sel], 0.5, normalized=True)
        i, j = tree.query(probe, predicate="dwithin", distance=precision)
        first = np.unique(i, return_index=True)[1]
        part_chain[sel[i[first]]] = len(chains) + j[first]
        chains.extend(merged)
        chain_key.extend([k] * len(merged))
    # a way no chain claims (should not happen) stays as it is
    lone = part_chain < 0
    if lone.any():
        part_chain[lone] = np.arange(len(chains), len(chains) + lone.sum())
        chains.extend(parts[lone])
        chain_key.extend([-1 - i for i in range(int(lone.sum()))])
    return np.array(chains, dtype=object), np.array(chain_key), parts, part_chain


class _Centre:
    """The centreline pieces (the middle pieces ``k`` moved to ``ms`` → ``me``) as lines,
    with one STRtree of them for every query.

    ``with _Centre(...) as centre:`` builds the lines and their tree on a thread of their
    own inside :func:`~gridgeo.partition.twocores.both_cores` (while the caller rebuilds
    the roads and looks for the ends to join, which need neither); ``lines`` and ``tree``
    wait for it. Leaving the block waits for the thread too.
    """

    def __init__(self, k: np.ndarray, ms: np.ndarray, me: np.ndarray) -> None:
        self.k, self.ms, self.me = k, ms, me
        self._job: Background | None = None
        self._built: tuple[np.ndarray, shapely.STRtree] | None = None

    def _build(self) -> tuple[np.ndarray, shapely.STRtree]:
        lines = shapely.linestrings(np.stack([self.ms, self.me], axis=1))
        return lines, shapely.STRtree(lines)

    def __enter__(self) -> _Centre:
        if on_both_cores():
            self._job = Background(self._build).__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._job is not None:
            self._job.__exit__(exc_type, exc, tb)

    def _get(self) -> tuple[np.ndarray, shapely.STRtree]:
        if self._built is None:
            self._built = self._job.wait() if self._job is not None else self._build()
        return self._built

    @property
    def lines(self) -> np.ndarray:
        return self._get()[0]

    @property
    def tree(self) -> shapely.STRtree:
        return self._get()[1]


def _near_pieces(seg, paired: np.ndarray, pts: np.ndarray, xy: np.ndarray, snap_m: float):
    """Indices into ``pts`` of the points within ``snap_m`` of a ``paired`` piece (GEOS's
    test, as an STRtree of every paired piece would give), testing only the pieces whose
    middle lies within ``snap_m`` plus half the longest piece of a point."""
    from scipy.spatial import cKDTree

    p = np.flatnonzero(paired)
    if len(p) == 0 or len(xy) == 0:
        return np.zeros(0, dtype=int)
    mids = (seg.s[p] + seg.e[p]) / 2
    reach = (snap_m + float(seg.len[p].max()) / 2) * (1 + 1e-9) + 1e-9
    cand = np.unique(
        cKDTree(xy).sparse_distance_matrix(cKDTree(mids), reach, output_type="ndarray")["j"]
    )
    if len(cand) == 0:
        return np.zeros(0, dtype=int)
    c = p[np.sort(cand)]
    old = shapely.linestrings(np.stack([seg.s[c], seg.e[c]], axis=1))
    return np.unique(shapely.STRtree(old).query(pts, predicate="dwithin", distance=snap_m)[0])


def _join_ends(lines, seg, paired, centre: _Centre, *, snap_m: float, max_gap: float):
    """Road ends left dangling near a replaced carriageway and where they join the centreline.

    A road that crosses the centreline on its way to the old carriageway is cut where it
    crosses (no stub left beyond the centreline); any other end is linked to the nearest
    point of the centreline within ``max_gap``. ``paired``: the pieces moved or dropped.
    Returns ``(ends, piece, target, cut)``: the linked end points, the middle piece each
    joins and the point on it, and the cuts as ``(line index, at its start, point, piece)``.
    """
    none = (np.zeros((0, 2)), np.zeros(0, dtype=int), np.zeros((0, 2)), [])
    k, ms, me = centre.k, centre.ms, centre.me
    ends = np.vstack([shapely.get_coordinates(shapely.get_point(lines, i)) for i in (0, -1)])
    owner = np.r_[np.arange(len(lines)), np.arange(len(lines))]
    pts = shapely.points(ends)
    near_old = _near_pieces(seg, paired, pts, ends, snap_m)
    if len(near_old) == 0:
        return none
    i, j = shapely.STRtree(lines).query(pts[near_old], predicate="dwithin", distance=1e-6)
    touching = np.unique(i[j != owner[near_old[i]]])
    cand = near_old[np.setdiff1d(np.arange(len(near_old)), touching)]
    if len(cand) == 0:
        return none
    cut, cand = _crossings(lines, ends, owner, cand, centre, k, max_gap)
    if len(cand) == 0:
        return (*none[:3], cut)
    c_i, c_j = centre.tree.query_nearest(pts[cand], max_distance=max_gap, all_matches=False)
    a, b = ms[c_j], me[c_j]
    d = b - a
    t = np.clip(((ends[cand[c_i]] - a) * d).sum(axis=1) / (d * d).sum(axis=1), 0.0, 1.0)
    target = a + d * t[:, None]
    far = np.hypot(*(target - ends[cand[c_i]]).T) > 1e-6
    return ends[cand[c_i]][far], k[c_j][far], target[far], cut


def _crossings(lines, ends, owner, cand, centre: _Centre, k, max_gap: float):
    """For candidate ends whose road crosses the centreline within ``max_gap`` of the end:
    the cuts there (see :func:`_join_ends`); and the candidates left to link."""
    own = lines[owner[cand]]
    ci, cj = centre.tree.query(own, predicate="intersects")
    inter = shapely.intersection(own[ci], centre.lines[cj])
    point = np.isin(shapely.get_type_id(inter), [0, 4])
    ci, cj, inter = ci[point], cj[point], inter[point]
    xy, at = shapely.get_coordinates(inter, return_index=True)
    ci, cj = ci[at], cj[at]
    dist = np.hypot(*(xy - ends[cand[ci]]).T)
    ok = (dist <= max_gap) & (dist > 1e-6)
    ci, cj, xy, dist = ci[ok], cj[ok], xy[ok], dist[ok]
    order = np.lexsort((dist, ci))
    ci, cj, xy = ci[order], cj[order], xy[order]
    first = np.r_[True, ci[1:] != ci[:-1]] if len(ci) else np.zeros(0, dtype=bool)
    n = len(owner) // 2
    cut = [
        (int(owner[cand[c]]), bool(cand[c] < n), xy[f], int(k[cj[f]]))
        for f, c in zip(np.flatnonzero(first), ci[first], strict=True)
    ]
    return cut, np.setdiff1d(cand, cand[ci[first]])


def _unfold(lines: np.ndarray) -> np.ndarray:
    """Lines drawn there and back (A → B → A, as clipped extracts have them) as A → B, so
    their far end is an end again."""
    lines = lines.copy()
    for i in np.flatnonzero(shapely.is_closed(lines) & (shapely.get_type_id(lines) == 1)):
        c = shapely.get_coordinates(lines[i])
        if len(c) >= 3 and len(c) % 2 == 1 and np.array_equal(c, c[::-1]):
            lines[i] = LineString(c[: len(c) // 2 + 1])
    return lines


def _apply_cuts(out: np.ndarray, cut: list, centre: _Centre, max_gap: float) -> np.ndarray:
    """Lines shortened to end exactly at their cut points.

    A line cut at both ends with nothing left between the cuts lies between the two
    carriageways (a link across the median, or one drawn there and back): it is dropped
    when every vertex of it lies within ``max_gap`` of the centreline, else kept.
    """
    out = out.copy()
    by_line: dict[int, dict[bool, np.ndarray]] = {}
    for li, at_start, xy, _ in cut:
        by_line.setdefault(li, {})[at_start] = xy
    tree = centre.tree
    for li, ends in by_line.items():
        g = out[li]
        pos = {k: float(shapely.line_locate_point(g, shapely.points(v))) for k, v in ends.items()}
        lo, hi = pos.get(True, 0.0), pos.get(False, g.length)
        if hi - lo <= 1e-6:
            vert = shapely.points(shapely.get_coordinates(g))
            near = np.unique(tree.query(vert, predicate="dwithin", distance=max_gap)[0])
            if len(ends) == 2 and len(near) == len(vert):
                out[li] = None
            continue
        c = shapely.get_coordinates(substring(g, lo, hi))
        if len(c) < 2:
            continue
        if True in ends:
            c[0] = ends[True]
        if False in ends:
            c[-1] = ends[False]
        out[li] = LineString(c)
    return out[~shapely.is_missing(out)]


class _Pieces:
    """The straight pieces of a set of lines, in line order, with their geometry."""

    def __init__(self, lines: np.ndarray, key: np.ndarray) -> None:
        xy, at = shapely.get_coordinates(lines, return_index=True)
        same = at[1:] == at[:-1]
        self.s, self.e, self.line = xy[:-1][same], xy[1:][same], at[:-1][same]
        d = self.e - self.s
        self.len = np.hypot(*d.T)
        ok = self.len > 0
        self.s, self.e, self.line, self.len = self.s[ok], self.e[ok], self.line[ok], self.len[ok]
        self.d = (self.e - self.s) / self.len[:, None]
        self._dx, self._dy = self.d[:, 0].copy(), self.d[:, 1].copy()
        self.key = np.asarray(key)[self.line]

    def subset(self, idx: np.ndarray) -> _Pieces:
        """The pieces ``idx`` (in their order) as pieces of their own."""
        out = object.__new__(_Pieces)
        for name in ("s", "e", "line", "len", "d", "_dx", "_dy", "key"):
            setattr(out, name, getattr(self, name)[idx])
        return out

    def partners(self, *, max_gap: float, min_gap: float, max_angle_deg: float) -> np.ndarray:
        """Index of each piece's nearest opposite-direction partner of the same key, or -1."""
        out = np.full(len(self.len), -1)
        if len(self.len) < 2:
            return out
        mids = (self.s + self.e) / 2
        # a partner's foot lies on it at most max_gap off: its middle is at most this far
        reach = float(np.hypot(max_gap, self.len.max() / 2)) + 1e-6
        a, b = self._opposite_near(mids, reach, max_angle_deg)
        # x and y as separate arrays: the same two-term sums as ``(u * v).sum(axis=1)``
        # without numpy's slow reduction over rows of two
        dx, dy = self._dx, self._dy
        mx, my = mids[:, 0].copy(), mids[:, 1].copy()
        sx, sy = self.s[:, 0].copy(), self.s[:, 1].copy()
        # the foot test first: it keeps about one candidate in eight (the partner's piece
        # under the middle, not its neighbours), so the other tests read fewer pairs
        dxb, dyb = dx[b], dy[b]
        rx, ry = mx[a] - sx[b], my[a] - sy[b]
        t = rx * dxb + ry * dyb
        dist = np.abs(rx * dyb - ry * dxb)
        ok = (t >= 0) & (t <= self.len[b]) & (dist >= min_gap) & (dist <= max_gap)
        a, b, dist = a[ok], b[ok], dist[ok]
        ok = (self.line[a] != self.line[b]) & (self.key[a] == self.key[b])
        ok &= dx[a] * dx[b] + dy[a] * dy[b] <= -np.cos(np.radians(max_angle_deg))
        a, b, dist = a[ok], b[ok], dist[ok]
        order = np.lexsort((b, dist, a))
        a, b = a[order], b[order]
        first = np.r_[True, a[1:] != a[:-1]] if len(a) else np.zeros(0, dtype=bool)
        out[a[first]] = b[first]
        return out

    def _opposite_near(
        self, mids: np.ndarray, reach: float, max_angle_deg: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pairs of pieces with middles within ``reach`` and roughly opposite directions
        (direction bins of ``2 × max_angle_deg``; the exact angle is checked after).

        Candidates only (a k-d tree per direction bin, ``reach`` plus a hair): every pair
        is tested exactly by :meth:`partners`, so the order and a few extra pairs do not
        matter.
        """
        from scipy.spatial import cKDTree  # here: importing the partitioner need not load it

        width = 2 * max(max_angle_deg, 1.0)
        n_bins = int(np.ceil(360 / width))
        ang = np.degrees(np.arctan2(self.d[:, 1], self.d[:, 0])) % 360
        bins = np.minimum((ang // (360 / n_bins)).astype(int), n_bins - 1)
        # each bin's pieces in index order (a stable sort by bin: one pass, not one per bin)
        by_bin = np.argsort(bins, kind="stable")
        cut = np.searchsorted(bins[by_bin], np.arange(n_bins + 1))
        members = [by_bin[cut[b] : cut[b + 1]] for b in range(n_bins)]
        trees = [cKDTree(mids[m]) if len(m) else None for m in members]
        half = n_bins // 2
        wanted = {
            (b, int(c))
            for b in range(n_bins)
            for c in np.unique([(b + half + o) % n_bins for o in range(-1, 2)])
            if trees[b] is not None and trees[int(c)] is not None
        }
        out_a, out_b = [], []
        for b, c in sorted(wanted):
            if (c, b) in wanted and c < b:
                continue  # found with (c, b): a pair of bins opposite both ways is searched once
            hit = trees[b].sparse_distance_matrix(
                trees[c], reach * (1 + 1e-9) + 1e-9, output_type="ndarray"
            )
            i, j = members[b][hit["i"]], members[c][hit["j"]]
            out_a.append(i)
            out_b.append(j)
            if (c, b) in wanted and c != b:
                out_a.append(j)
                out_b.append(i)
        if not out_a:
            return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
        return np.concatenate(out_a), np.concatenate(out_b)

    def middles(self, part: np.ndarray, min_run_m: float) -> tuple[np.ndarray, np.ndarray]:
        """``(mid, drop)``: pieces moved onto the centreline (of the lower-index line of a
        pair, on runs of at least ``min_run_m``) and the partner pieces they replace."""
        mid = part >= 0
        mid[mid] = self.line[mid] < self.line[part[mid]]
        mid &= self.run_length(mid) >= min_run_m
        drop = (part >= 0) & ~mid
        drop[drop] = mid[part[drop]] & (self.line[part[part[drop]]] == self.line[drop])
        drop[drop] &= part[part[drop]] >= 0
        return mid, drop

    def project(self, xy: np.ndarray, onto: np.ndarray) -> np.ndarray:
        """``xy`` projected onto the (extended) pieces ``onto``."""
        s, dx, dy = self.s[onto], self._dx[onto], self._dy[onto]
        t = (xy[:, 0] - s[:, 0]) * dx + (xy[:, 1] - s[:, 1]) * dy
        return np.stack([s[:, 0] + dx * t, s[:, 1] + dy * t], axis=1)

    def crossing(self, part: np.ndarray, keep_xy: np.ndarray) -> np.ndarray:
        """Paired pieces whose band to their partner holds a point of ``keep_xy``."""
        k = np.flatnonzero(part >= 0)
        quads = np.stack(
            [
                self.s[k],
                self.e[k],
                self.project(self.e[k], part[k]),
                self.project(self.s[k], part[k]),
            ],
            axis=1,
        )
        # candidates: the points in each band's box (k-d trees for the circles round the
        # boxes, no point geometries made for the many points nowhere near a band); then
        # GEOS's test
        out = np.zeros(len(part), dtype=bool)
        if len(k) == 0 or len(keep_xy) == 0:
            return out
        from scipy.spatial import cKDTree

        # the boxes corner by corner (numpy's min over an axis of four is slow; same values)
        c = [quads[:, i] for i in range(4)]
        lo = np.minimum(np.minimum(c[0], c[1]), np.minimum(c[2], c[3]))
        hi = np.maximum(np.maximum(c[0], c[1]), np.maximum(c[2], c[3]))
        reach = float(np.hypot(*(hi - lo).T).max()) / 2 * (1 + 1e-9) + 1e-9
        pairs = cKDTree((lo + hi) / 2).sparse_distance_matrix(
            cKDTree(keep_xy), reach, output_type="ndarray"
        )
        qi, pj = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
        inbox = np.all((keep_xy[pj] >= lo[qi]) & (keep_xy[pj] <= hi[qi]), axis=1)
        qi, pj = qi[inbox], pj[inbox]
        hit = shapely.intersects(shapely.polygons(quads[qi]), shapely.points(keep_xy[pj]))
        out[k[np.unique(qi[hit])]] = True
        return out

    def run_length(self, flag: np.ndarray) -> np.ndarray:
        """For each piece, the length of the run of equally flagged pieces of its line it is in."""
        brk = np.r_[True, (flag[1:] != flag[:-1]) | (self.line[1:] != self.line[:-1])]
        run = np.cumsum(brk) - 1
        return np.bincount(run, weights=self.len)[run]

    def moved(self, part: np.ndarray, mid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Start and end of every piece, the middle pieces moved halfway to their partners
        (where two middle pieces of a line meet, both to the mean of their two positions)."""
        s, e = self.s.copy(), self.e.copy()
        k = np.flatnonzero(mid)
        s[k] = (s[k] + self.project(s[k], part[k])) / 2
        e[k] = (e[k] + self.project(e[k], part[k])) / 2
        j = np.flatnonzero(mid[:-1] & mid[1:] & (self.line[:-1] == self.line[1:]))
        j = j[np.all(self.e[j] == self.s[j + 1], axis=1)]
        e[j] = s[j + 1] = (e[j] + s[j + 1]) / 2
        return s, e

    def rebuild(
        self,
        moved: tuple[np.ndarray, np.ndarray],
        drop: np.ndarray,
        extra_at: np.ndarray | None = None,
        extra_xy: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Lines again from the pieces' ends ``moved`` (see :meth:`moved`: middle pieces
        halfway to their partner), with the vertices ``extra_xy`` added on pieces
        ``extra_at`` and the ``drop`` pieces cut out.

        Returns ``(parts, line)``: the LineStrings, each run of kept pieces of a line one
        part, in piece order (so by line index), and the line each belongs to.
        """
        s, e = moved
        n = len(s)
        at = np.zeros(0, dtype=int) if extra_at is None else np.asarray(extra_at, dtype=int)
        xy_x = np.zeros((0, 2)) if extra_xy is None else np.asarray(extra_xy, dtype=float)
        d = e[at] - s[at]
        t = ((xy_x - s[at]) * d).sum(axis=1) / np.maximum((d * d).sum(axis=1), 1e-18)
        idx = np.r_[np.arange(n), np.arange(n), at]
        order = np.lexsort((np.r_[np.zeros(n), np.ones(n), np.clip(t, 1e-9, 1 - 1e-9)], idx))
        idx, xy = idx[order], np.vstack([s, e, xy_x])[order]
        brk = np.r_[True, (self.line[1:] != self.line[:-1]) | drop[1:] | drop[:-1]]
        starts = np.flatnonzero(brk)
        bounds = np.searchsorted(idx, np.r_[starts, n])
        # each vertex's run; a vertex is kept when it is its run's first or differs from
        # the vertex before it (a repeated vertex, e.g. a piece's end and the next's start)
        run = np.repeat(np.arange(len(starts)), np.diff(bounds))
        first = np.zeros(len(xy), dtype=bool)
        first[bounds[:-1][bounds[:-1] < len(xy)]] = True
        step = np.r_[True, np.any(np.abs(np.diff(xy, axis=0)) > 1e-9, axis=1)]
        keep = (first | step) & ~drop[starts][run]
        count = np.bincount(run[keep], minlength=len(starts))
        keep &= count[run] >= 2
        good = np.flatnonzero(count >= 2)
        good = good[~drop[starts[good]]]
        if len(good) == 0:
            return np.array([], dtype=object), np.zeros(0, dtype=int)
        parts = shapely.linestrings(xy[keep], indices=np.searchsorted(good, run[keep]))
        return parts, self.line[starts[good]]
