"""The strips' Delaunay triangulation (partition/delaunay.py): Triangle and GEOS give the
same triangles, in one canonical order, on the shapes the split meets (samples along two
sides of a road strip, points on a flat arc whose hull has slivers, random points), and the
partition is the same with either."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gridgeo.partition import delaunay, partition
from gridgeo.testing import dual_carriageway_city

needs_triangle = pytest.mark.skipif(
    delaunay._triangle is None, reason="the optional triangle package is not installed"
)


def _strip(rng, n: int) -> np.ndarray:
    """Samples every 2 m along both sides of a 12 m road, jittered by 10 µm (as the split's)."""
    x = np.repeat(np.arange(n // 2) * 2.0, 2)
    y = np.tile([0.0, 12.0], n // 2)
    return np.column_stack([x, y]) + rng.uniform(-1e-5, 1e-5, (len(x), 2)) + [4e5, 3.2e6]


def _arc(rng, n: int) -> np.ndarray:
    """Points on a flat arc of a 1 km circle: the hull is a chain of slivers."""
    a = np.sort(rng.uniform(0.0, rng.uniform(0.1, 3.0), n))
    xy = 1000.0 * np.column_stack([np.cos(a), np.sin(a)])
    return xy + rng.uniform(-1e-5, 1e-5, (n, 2)) + 5e5


def _cloud(rng, n: int) -> np.ndarray:
    return rng.uniform(0.0, 100.0, (n, 2)) + np.array([4e5, 3.2e6])


@needs_triangle
@pytest.mark.parametrize("shape", [_strip, _arc, _cloud])
@pytest.mark.parametrize("seed", range(8))
def test_triangle_and_geos_give_the_same_triangles(shape, seed):
    rng = np.random.default_rng(seed)
    xy = shape(rng, int(rng.integers(5, 600)))
    got = delaunay.triangles(xy, engine="triangle")
    want = delaunay.triangles(xy, engine="geos")
    assert got is not None
    assert np.array_equal(got, want)


@pytest.mark.parametrize("engine", ["triangle", "geos"])
def test_rows_are_canonical(engine):
    """Each row counter-clockwise from its lowest index, rows ascending; every triangle's
    circle holds no other point (Delaunay), and together they cover the hull."""
    if engine == "triangle" and delaunay._triangle is None:
        pytest.skip("the optional triangle package is not installed")
    xy = _cloud(np.random.default_rng(3), 300)
    s = delaunay.triangles(xy, engine=engine)
    assert np.all(s[:, 0] < s[:, 1]) and np.all(s[:, 0] < s[:, 2])
    p = xy[s] - xy.mean(axis=0)
    cross = (p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1]) - (p[:, 1, 1] - p[:, 0, 1]) * (
        p[:, 2, 0] - p[:, 0, 0]
    )
    assert np.all(cross > 0)
    assert np.array_equal(s, s[np.lexsort(s.T[::-1])])
    polys = shapely.polygons(xy[s])
    hull = shapely.convex_hull(shapely.multipoints(xy))
    assert shapely.area(polys).sum() == pytest.approx(hull.area, rel=1e-9)
    # the circle through each triangle's corners holds no other point
    a, b = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    d = 2.0 * (a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])
    a2, b2 = (a**2).sum(axis=1), (b**2).sum(axis=1)
    cc = (
        p[:, 0]
        + np.column_stack([b[:, 1] * a2 - a[:, 1] * b2, a[:, 0] * b2 - b[:, 0] * a2]) / d[:, None]
    )
    r2 = ((p[:, 0] - cc) ** 2).sum(axis=1)
    q = xy - xy.mean(axis=0)
    inside = ((q[None, :, :] - cc[:, None, :]) ** 2).sum(axis=2) < r2[:, None] * (1 - 1e-9)
    assert len(s) > 500 and not inside.any()


@pytest.mark.parametrize("engine", ["triangle", "geos"])
def test_no_triangle(engine):
    """Fewer than three points, or all on one line: no triangle (``None``)."""
    if engine == "triangle" and delaunay._triangle is None:
        pytest.skip("the optional triangle package is not installed")
    assert delaunay.triangles(np.array([[0.0, 0.0], [1.0, 0.0]]), engine=engine) is None
    line = np.column_stack([np.arange(5.0), np.arange(5.0)])
    assert delaunay.triangles(line, engine=engine) is None


def test_equal_points_go_to_geos(monkeypatch):
    """Equal points: GEOS decides which of them is kept (Triangle would keep another), so the
    default takes GEOS's way for those points, with or without Triangle."""
    xy = _cloud(np.random.default_rng(1), 50)
    xy = np.vstack([xy, xy[7]])
    want = delaunay.triangles(xy, engine="geos")
    assert delaunay.triangles(xy) is not None
    assert np.array_equal(delaunay.triangles(xy), want)
    monkeypatch.setattr(delaunay, "_triangle", None)
    assert np.array_equal(delaunay.triangles(xy), want)


@needs_triangle
def test_partition_is_the_same_with_or_without_triangle(monkeypatch):
    """The grids of a small dual-carriageway city (borders down the middle of its divided
    roads: the split this triangulation serves) are the same, bit for bit, whichever
    triangulates."""
    comm, roads, hh = dual_carriageway_city(2, 1, size=600.0, n_households=6000, seed=3)
    fast = partition(comm, roads, hh).grids
    monkeypatch.setattr(delaunay, "_triangle", None)
    slow = partition(comm, roads, hh).grids
    assert len(fast) > 4
    assert list(fast.geometry.to_wkb()) == list(slow.geometry.to_wkb())
    assert fast.drop(columns="geometry").equals(slow.drop(columns="geometry"))
