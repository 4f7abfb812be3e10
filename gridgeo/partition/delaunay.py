"""Delaunay triangles of 2-D points as rows of three point indices.

One home for the triangulation the road strips' split draws its Voronoi edges from
(:func:`gridgeo.partition.medial.split_region`). J. R. Shewchuk's Triangle (the optional
``triangle`` package) is used when it is installed: exact predicates, and 4–5× less CPU than
GEOS for the few thousand samples of a community (0.09 s against 0.38–0.50 s for the 30 calls
of the generated city, ``benchmarks/bench_partition.py``). Without it GEOS
(:func:`shapely.delaunay_triangles`, which forces a convex boundary as Triangle has) is used.
Both give the same triangles (the tests compare them); the rows come in one canonical order,
so what is drawn from them does not depend on which one ran.
"""

from __future__ import annotations

import numpy as np
import shapely

try:  # optional: free for institutional use, not for commercial redistribution (README)
    import triangle as _triangle
except ImportError:  # pragma: no cover - exercised by forcing the GEOS path in tests
    _triangle = None


def triangles(
    xy: np.ndarray, *, engine: str | None = None, labels: np.ndarray | None = None
) -> np.ndarray | None:
    """The Delaunay triangles of ``xy``.

    Parameters
    ----------
    xy
        ``(n, 2)`` float coordinates.
    engine
        ``"triangle"`` or ``"geos"``; default Triangle when installed, else GEOS. Where
        points are equal GEOS decides (it keeps one of them, Triangle another).
    labels
        A label per point: only the triangles whose corners do not all share one label
        are kept (the only ones a Voronoi edge between two labels comes from).

    Returns
    -------
    numpy.ndarray or None
        ``(t, 3)`` int64 point indices, each row counter-clockwise starting at its lowest
        index, rows in ascending order; ``None`` when there is no triangle (fewer than three
        points, all on one line) or GEOS returned a corner that is none of the points.
    """
    xy = np.ascontiguousarray(xy, dtype=np.float64)
    if engine is None:
        engine = "triangle" if _triangle is not None else "geos"
    s = _by_triangle(xy) if engine == "triangle" else geos_triangles(xy)
    if s is not None and engine == "triangle" and not _all_used(s, len(xy)):
        s = geos_triangles(xy)  # equal points: Triangle left one out
    if s is None or len(s) == 0:
        return None
    if labels is not None:
        lab = labels[s]
        s = s[(lab[:, 0] != lab[:, 1]) | (lab[:, 0] != lab[:, 2])]
    return canonical(s, len(xy))


def canonical(s: np.ndarray, n_points: int | None = None) -> np.ndarray:
    """Rows of ``s`` (counter-clockwise index triples of ``n_points`` points) each rotated
    to start at its lowest index, then sorted."""
    r = np.argmin(s, axis=1)
    s = np.take_along_axis(s, (r[:, None] + np.arange(3)) % 3, axis=1)
    n = int(s.max(initial=0)) + 1 if n_points is None else n_points
    if n < 2**21:  # the three indices as one int64 key: one sort
        return s[np.argsort((s[:, 0] * n + s[:, 1]) * n + s[:, 2])]
    return s[np.lexsort(s.T[::-1])]


def _all_used(s: np.ndarray, n: int) -> bool:
    """Every point is a corner (a Delaunay triangulation of three points or more, not all on
    one line, has each of them as a vertex, unless it equals another)."""
    return bool(np.bincount(s.ravel(), minlength=n).all())


def _by_triangle(xy: np.ndarray) -> np.ndarray | None:
    if len(xy) < 3:
        return None
    out = _triangle.triangulate({"vertices": xy}, "Qz").get("triangles")  # Q: quiet
    return None if out is None else out.astype(np.int64)


def geos_triangles(xy: np.ndarray) -> np.ndarray | None:
    """GEOS's triangles of ``xy`` as ``(t, 3)`` point indices, in GEOS's order (the per-strip
    split's, :func:`gridgeo.partition.medial.split_medial`); ``None`` when there is none or
    GEOS returned a corner that is none of the points.

    Each point carries its index as its Z, which GEOS keeps on the corners: no look-up of
    the corners among the points, unless the Z is lost (:func:`point_index`)."""
    n = len(xy)
    tri = shapely.delaunay_triangles(
        shapely.linestrings(np.column_stack([xy, np.arange(n, dtype=np.float64)]))
    )
    corners = shapely.get_coordinates(tri, include_z=True)
    if len(corners) == 0:
        return None
    corners = corners.reshape(-1, 4, 3)[:, :3].reshape(-1, 3)
    z = corners[:, 2]
    if np.all((z >= 0) & (z < n)):
        idx = z.astype(np.int64)
        if not np.array_equal(xy[idx], corners[:, :2]):
            return None
    else:  # a GEOS that drops the Z: the corners looked up among the points
        idx = point_index(xy, np.ascontiguousarray(corners[:, :2]))
        if idx is None:
            return None
    return idx.reshape(-1, 3)


def point_index(xy: np.ndarray, at: np.ndarray) -> np.ndarray | None:
    """The index of the point of ``xy`` equal to each point of ``at``, or ``None`` when one
    is none of them. Looked up by x alone (one float sort) when no two points share an x
    (the jittered samples), else by x and y as one complex key (equal points: one of them)."""
    x = xy[:, 0]
    order = np.argsort(x)
    xs = x[order]
    if np.any(xs[1:] == xs[:-1]):
        key = x + 1j * xy[:, 1]
        order = np.argsort(key)
        ck = at[:, 0] + 1j * at[:, 1]
        idx = order[np.clip(np.searchsorted(key[order], ck), 0, len(xy) - 1)]
        return idx if np.array_equal(key[idx], ck) else None
    idx = order[np.clip(np.searchsorted(xs, at[:, 0]), 0, len(xy) - 1)]
    return idx if np.array_equal(xy[idx], at) else None
