"""Road cleaning: raw road lines → a noded network of centrelines that can close blocks.

Real road layers do not polygonise cleanly: lines stop a metre short of the road they
meet, are clipped at the edge of the extract, are digitised twice, or run as two
carriageways. This module fixes what can be fixed on the lines themselves:

* explode multi-lines, drop empty and zero-length parts and exact duplicates;
* snap coordinates to a small grid (``precision``) so shared nodes really coincide;
* extend each dangling end along its last segment by up to ``extend_m`` and connect it
  to the first road it reaches (or to the nearest road within ``snap_m``);
* node the result (every crossing becomes a vertex).

* move dual carriageways onto one centreline where they run parallel with no household
  between them (:func:`collapse_carriageways`), so the median strips never become faces.

What stays parallel (elevated roads over others, carriageways with homes between them,
short or diverging pairs) encloses thin strips that
:func:`gridgeo.partition.blocks.merge_slivers` splits down their middle.
"""

from __future__ import annotations

import logging

import numpy as np
import shapely
from shapely import LineString

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
    carriageway_gap_m: float = 0.0,
    keep_xy: np.ndarray | None = None,
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
    carriageway_gap_m, keep_xy
        Dual carriageways up to this far apart become one centreline where no point of
        ``keep_xy`` lies between them (:func:`collapse_carriageways`; 0: never).

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
    if carriageway_gap_m > 0:
        lines = collapse_carriageways(lines, max_gap=carriageway_gap_m, keep_xy=keep_xy)
        lines = shapely.set_precision(lines, precision)
        lines = lines[~shapely.is_empty(lines) & (shapely.length(lines) > precision)]
    noded = node_lines(lines)
    noded = noded[shapely.length(noded) > precision]
    extensions = _connect_dangles(noded, snap_m=snap_m, extend_m=extend_m, precision=precision)
    if extensions:
        allg = np.concatenate([noded, np.array(extensions, dtype=object)])
        allg = shapely.set_precision(allg, precision)
        noded = node_lines(allg)
        noded = noded[shapely.length(noded) > precision]
    # deterministic order and no duplicates
    norm = shapely.normalize(noded)
    wkb = shapely.to_wkb(norm)
    _, first = np.unique(wkb, return_index=True)
    out = norm[np.sort(first)]
    keys = np.array([shapely.to_wkb(g) for g in out], dtype=object)
    out = out[np.argsort(keys, kind="stable")]
    log.info(
        "cleaned %d road parts into %d noded segments (%d dangles connected)",
        len(lines),
        len(out),
        len(extensions),
    )
    return out


def node_lines(lines) -> np.ndarray:
    """Node line parts (every crossing a vertex); falls back to 1 µm snap-rounding if GEOS fails."""
    arr = shapely.get_parts(np.asarray(lines, dtype=object))
    # collapsed parts (all vertices equal, e.g. after snapping) can crash GEOS noding
    arr = arr[~shapely.is_empty(arr)]
    arr = arr[np.isin(shapely.get_type_id(arr), [1, 2])]
    arr = arr[shapely.length(arr) > 0]
    if len(arr) == 0:
        return arr
    arr = shapely.remove_repeated_points(arr, 0.0)
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
        inter = shapely.intersection(rays[k], lines[j])
        ok = ~shapely.is_empty(inter)
        k, inter = k[ok], inter[ok]
        dist = shapely.distance(shapely.points(end[k]), inter)
        xy, at = shapely.get_coordinates(inter, return_index=True)
        gap = np.hypot(*(xy - end[k[at]]).T)
        for kk, _, g in _first_best(k, dist):
            sel = np.flatnonzero(at == g)
            target[kk] = xy[sel[int(np.argmin(gap[sel]))]]
    todo = np.flatnonzero(np.isnan(target[:, 0]))
    if snap_m > 0 and len(todo):
        pts = shapely.points(end[todo])
        k, j = tree.query(pts, predicate="dwithin", distance=snap_m)
        keep = j != line[todo[k]]
        k, j = k[keep], j[keep]
        dist = shapely.distance(pts[k], lines[j])
        ok = dist > precision
        k, j, dist = k[ok], j[ok], dist[ok]
        for kk, _, g in _first_best(k, dist):
            q = shapely.line_interpolate_point(
                lines[j[g]], shapely.line_locate_point(lines[j[g]], pts[kk])
            )
            target[todo[kk]] = shapely.get_coordinates(q)[0]
    found = np.flatnonzero(~np.isnan(target[:, 0]))
    return list(shapely.linestrings(np.stack([end[found], target[found]], axis=1)))


def _first_best(k: np.ndarray, dist: np.ndarray):
    """For each query index in ``k`` (grouped), ``(index, distance, position)`` of the first
    smallest distance in query order."""
    if len(k) == 0:
        return []
    order = np.lexsort((np.arange(len(k)), dist, k))
    k_sorted = k[order]
    first = np.flatnonzero(np.r_[True, k_sorted[1:] != k_sorted[:-1]])
    return [(int(k_sorted[f]), float(dist[order[f]]), int(order[f])) for f in first]


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
    _, pos = np.unique(np.vstack([keys, mine]), axis=0, return_inverse=True)
    pos = pos.ravel()
    cnt_by_key = np.zeros(pos.max() + 1, dtype=int)
    np.add.at(cnt_by_key, pos[: len(keys)], 1)
    single = cnt_by_key[pos[len(keys) :]] == 1
    end, prev = xy[end_i], xy[prev_i]
    d = end - prev
    norm = np.hypot(*d.T)
    keep = single & (norm > 0)
    d = d[keep] / norm[keep, None]
    return line[keep], end[keep], d


def collapse_carriageways(
    lines,
    *,
    max_gap: float,
    keep_xy: np.ndarray | None = None,
    min_gap: float = 1.0,
    max_angle_deg: float = 10.0,
    step: float = 10.0,
    min_run_m: float = 20.0,
) -> np.ndarray:
    """Replace the two carriageways of a dual road by one centreline where they run parallel.

    Lines are cut into pieces of at most ``step`` metres. A piece pairs with the nearest
    piece of another line that is parallel (within ``max_angle_deg``), ``min_gap`` to
    ``max_gap`` away and overlapping it (its middle projects onto the other piece), and
    whose band to it holds no point of ``keep_xy`` (households: a strip with homes is a
    block, never a road). On runs of at least ``min_run_m`` of such pieces the line of
    the lower index is moved onto the middle between both, and the other line's pieces
    paired with those are dropped. What stays unpaired is kept as it was (the thin
    strips it leaves are split by :func:`gridgeo.partition.blocks.merge_slivers`).

    Parameters
    ----------
    lines
        Road LineStrings in metres (not yet noded).
    max_gap
        Widest gap between the carriageways (metres).
    keep_xy
        Points no collapse may cross (``(n, 2)`` array), or None.
    min_gap, max_angle_deg, step, min_run_m
        Closer lines are left to the noding; the angle, piece length and shortest run.

    Returns
    -------
    numpy.ndarray
        LineStrings, in the order of their lines.
    """
    lines = np.asarray(lines, dtype=object)
    if len(lines) < 2 or max_gap <= min_gap:
        return lines
    seg = _Pieces(shapely.segmentize(lines, step))
    part = seg.partners(max_gap=max_gap, min_gap=min_gap, max_angle_deg=max_angle_deg)
    if keep_xy is not None and len(keep_xy):
        part[seg.crossing(part, keep_xy)] = -1
    mid = part >= 0
    mid[mid] = seg.line[mid] < seg.line[part[mid]]
    mid &= seg.run_length(mid) >= min_run_m
    # the other line's pieces go only where the piece they pair with became a middle
    drop = (part >= 0) & ~mid
    drop[drop] = mid[part[drop]] & (seg.line[part[part[drop]]] == seg.line[drop])
    drop[drop] &= part[part[drop]] >= 0
    if not mid.any():
        return lines
    touched = np.zeros(len(lines), dtype=bool)
    touched[seg.line[mid | drop]] = True
    rebuilt = seg.rebuild(part, mid, drop)
    parts = [rebuilt.get(i, []) if touched[i] else [g] for i, g in enumerate(lines)]
    out = np.array([g for p in parts for g in p], dtype=object)
    log.info("collapsed dual carriageways: %d of %d pieces onto centrelines", mid.sum(), len(mid))
    return out


class _Pieces:
    """The straight pieces of a set of lines, in line order, with their geometry."""

    def __init__(self, lines: np.ndarray) -> None:
        xy, at = shapely.get_coordinates(lines, return_index=True)
        same = at[1:] == at[:-1]
        self.n_lines = len(lines)
        self.s, self.e, self.line = xy[:-1][same], xy[1:][same], at[:-1][same]
        d = self.e - self.s
        self.len = np.hypot(*d.T)
        ok = self.len > 0
        self.s, self.e, self.line, self.len = self.s[ok], self.e[ok], self.line[ok], self.len[ok]
        self.d = (self.e - self.s) / self.len[:, None]

    def partners(self, *, max_gap: float, min_gap: float, max_angle_deg: float) -> np.ndarray:
        """Index of each piece's partner on another line, or -1."""
        from scipy.spatial import cKDTree

        mids = (self.s + self.e) / 2
        # candidates: pieces whose middles are within reach (a piece is at most ``step`` long)
        ab = cKDTree(mids).query_pairs(max_gap + self.len.max() / 2, output_type="ndarray")
        a, b = np.r_[ab[:, 0], ab[:, 1]], np.r_[ab[:, 1], ab[:, 0]]
        ok = self.line[a] != self.line[b]
        ok &= np.abs((self.d[a] * self.d[b]).sum(axis=1)) >= np.cos(np.radians(max_angle_deg))
        rel = mids[a] - self.s[b]
        t = (rel * self.d[b]).sum(axis=1)
        dist = np.abs(rel[:, 0] * self.d[b, 1] - rel[:, 1] * self.d[b, 0])
        ok &= (t >= 0) & (t <= self.len[b]) & (dist >= min_gap) & (dist <= max_gap)
        a, b, dist = a[ok], b[ok], dist[ok]
        out = np.full(len(self.len), -1)
        order = np.lexsort((b, dist, a))
        a, b = a[order], b[order]
        first = np.r_[True, a[1:] != a[:-1]] if len(a) else np.zeros(0, dtype=bool)
        out[a[first]] = b[first]
        return out

    def project(self, xy: np.ndarray, onto: np.ndarray) -> np.ndarray:
        """``xy`` projected onto the (extended) pieces ``onto``."""
        t = ((xy - self.s[onto]) * self.d[onto]).sum(axis=1)
        return self.s[onto] + self.d[onto] * t[:, None]

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
        polys = shapely.polygons(quads)
        hit = shapely.STRtree(shapely.points(keep_xy)).query(polys, predicate="intersects")[0]
        out = np.zeros(len(part), dtype=bool)
        out[k[np.unique(hit)]] = True
        return out

    def run_length(self, flag: np.ndarray) -> np.ndarray:
        """For each piece, the length of the run of equally flagged pieces of its line it is in."""
        brk = np.r_[True, (flag[1:] != flag[:-1]) | (self.line[1:] != self.line[:-1])]
        run = np.cumsum(brk) - 1
        total = np.bincount(run, weights=self.len)
        return total[run]

    def rebuild(self, part: np.ndarray, mid: np.ndarray, drop: np.ndarray) -> dict[int, list]:
        """Lines again (their parts by line index): middle pieces moved halfway to their
        partner, dropped pieces cut out."""
        s, e = self.s.copy(), self.e.copy()
        k = np.flatnonzero(mid)
        s[k] = (s[k] + self.project(s[k], part[k])) / 2
        e[k] = (e[k] + self.project(e[k], part[k])) / 2
        out: dict[int, list] = {}
        brk = np.r_[True, (self.line[1:] != self.line[:-1]) | drop[1:] | drop[:-1]]
        starts = np.flatnonzero(brk)
        for a, b in zip(starts, np.r_[starts[1:], len(s)], strict=True):
            if drop[a]:
                continue
            pts = np.vstack([np.column_stack([s[a:b], e[a:b]]).reshape(-1, 2)])
            keep = np.r_[True, np.any(np.abs(np.diff(pts, axis=0)) > 1e-9, axis=1)]
            pts = pts[keep]
            if len(pts) >= 2:
                out.setdefault(int(self.line[a]), []).append(LineString(pts))
        return out
