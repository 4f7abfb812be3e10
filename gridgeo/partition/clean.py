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
from collections import Counter

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
    """Segments that connect dangling line ends to the nearest road they point at."""
    if extend_m <= 0 and snap_m <= 0:
        return []
    coords = [shapely.get_coordinates(g) for g in lines]
    ends = Counter()
    for c in coords:
        ends[tuple(np.round(c[0], 3))] += 1
        ends[tuple(np.round(c[-1], 3))] += 1
    tree = shapely.STRtree(lines)
    out: list[LineString] = []
    for i, c in enumerate(coords):
        if len(c) < 2:
            continue
        for end, prev in ((c[-1], c[-2]), (c[0], c[1])):
            if ends[tuple(np.round(end, 3))] != 1:
                continue
            d = end - prev
            norm = float(np.hypot(*d))
            if norm == 0:
                continue
            d = d / norm
            target = None
            if extend_m > 0:
                ray = LineString([end + d * precision * 2, end + d * extend_m])
                hits = tree.query(ray, predicate="intersects")
                best = None
                for j in hits:
                    if j == i:
                        continue
                    inter = shapely.intersection(ray, lines[j])
                    if inter.is_empty:
                        continue
                    dist = shapely.distance(shapely.points(end), inter)
                    if best is None or dist < best[0]:
                        pts = shapely.get_coordinates(inter)
                        k = int(np.argmin(np.hypot(*(pts - end).T)))
                        best = (dist, pts[k])
                if best is not None:
                    target = best[1]
            if target is None and snap_m > 0:
                p = shapely.points(end)
                hits = tree.query(p, predicate="dwithin", distance=snap_m)
                best = None
                for j in hits:
                    if j == i:
                        continue
                    dist = shapely.distance(p, lines[j])
                    if dist <= precision:
                        continue
                    if best is None or dist < best[0]:
                        q = shapely.line_interpolate_point(
                            lines[j], shapely.line_locate_point(lines[j], p)
                        )
                        best = (dist, shapely.get_coordinates(q)[0])
                if best is not None:
                    target = best[1]
            if target is not None:
                out.append(LineString([end, target]))
    return out
