"""Road cleaning: raw road lines → a noded network of centrelines that can close blocks.

Real road layers do not polygonise cleanly: lines stop a metre short of the road they
meet, are clipped at the edge of the extract, are digitised twice, or run as two
carriageways. This module fixes what can be fixed on the lines themselves:

* explode multi-lines, drop empty and zero-length parts and exact duplicates;
* snap coordinates to a small grid (``precision``) so shared nodes really coincide;
* extend each dangling end along its last segment by up to ``extend_m`` and connect it
  to the first road it reaches (or to the nearest road within ``snap_m``);
* node the result (every crossing becomes a vertex).

Dual carriageways and elevated roads stay as parallel lines here; the thin strips they
enclose are split down their middle by :func:`gridgeo.partition.blocks.merge_slivers`.
"""

from __future__ import annotations

import logging

import numpy as np
import shapely
from shapely import LineString

from gridgeo.partition.twocores import elementwise

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
    if extensions:
        allg = np.concatenate([noded, np.array(extensions, dtype=object)])
        allg = elementwise(shapely.set_precision, allg, grid_size=precision)
        noded = node_lines(allg)
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


def node_lines(lines) -> np.ndarray:
    """Node line parts (every crossing a vertex); falls back to 1 µm snap-rounding if GEOS fails."""
    arr = shapely.get_parts(np.asarray(lines, dtype=object))
    # collapsed parts (all vertices equal, e.g. after snapping) can crash GEOS noding
    arr = arr[~shapely.is_empty(arr)]
    arr = arr[np.isin(shapely.get_type_id(arr), [1, 2])]
    arr = arr[shapely.length(arr) > 0]
    if len(arr) == 0:
        return arr
    arr = elementwise(shapely.remove_repeated_points, arr, tolerance=0.0)
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
        k, inter = k[ok], inter[ok]
        dist = elementwise(shapely.distance, shapely.points(end[k]), inter)
        xy, at = shapely.get_coordinates(inter, return_index=True)
        gap = np.hypot(*(xy - end[k[at]]).T)
        # the coordinates of ``inter[g]`` are ``xy[first[g]:first[g + 1]]`` (``at`` ascends)
        first = np.searchsorted(at, np.arange(len(inter) + 1))
        for kk, _, g in _first_best(k, dist):
            a = first[g]
            target[kk] = xy[a + int(np.argmin(gap[a : first[g + 1]]))]
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
