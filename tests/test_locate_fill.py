"""GridIndex.locate_fill (one compiled pass per batch) gives what locate + border_distance give."""

from __future__ import annotations

import numpy as np
import pytest

from gridgeo.locate import GridIndex
from gridgeo.testing import jittered_tiling, sample_points


@pytest.fixture(scope="module")
def tiling():
    codes, geoms = jittered_tiling(12, 9, seed=3)
    return GridIndex.build(codes, geoms), codes, geoms


@pytest.mark.parametrize("n", [1, 9, 700, 30_000])  # serial below 20,000 points, parallel above
def test_locate_fill_equals_locate_and_border_distance(tiling, n):
    index, codes, geoms = tiling
    x, y = sample_points(codes, geoms, n, seed=n, share_on_vertices=0.1, share_on_edges=0.1)
    if n > 5:
        x[3] = np.nan  # NaN lies in no grid
        y[4] = np.inf
    want = index.locate(x, y)
    hit = want >= 0
    d = index.border_distance(x, y, want)
    for dtype in (np.int16, np.int32):
        got = index.locate_fill(x, y, distance=True, near=20.0, dtype=dtype)
        assert got.grid.dtype == dtype
        assert got.inside == int(hit.sum())
        np.testing.assert_array_equal(got.hit(), hit)
        np.testing.assert_array_equal(got.positions(), want)
        np.testing.assert_array_equal(got.grid[~hit], 0)
        # the same number numpy's round gives, to the bit
        np.testing.assert_array_equal(got.distance[hit], np.round(d[hit], 3))
        near = np.unpackbits(got.near, count=n, bitorder="little").view(bool)
        np.testing.assert_array_equal(near, hit & (d <= 20.0))


def test_locate_fill_without_distance_leaves_zeros(tiling):
    index, codes, geoms = tiling
    x, y = sample_points(codes, geoms, 25_000, seed=5)
    got = index.locate_fill(x, y, distance=False)
    np.testing.assert_array_equal(got.positions(), index.locate(x, y))
    assert not got.distance.any()
    assert not got.near.any()


def test_locate_fill_bitmap_padding_is_zero(tiling):
    index, codes, geoms = tiling
    x, y = sample_points(codes, geoms, 21_003, seed=6, margin=0.0)
    got = index.locate_fill(x, y, near=1e9)
    assert got.valid.size == (21_003 + 7) // 8
    assert got.valid[-1] >> 3 == 0 and got.near[-1] >> 3 == 0


def test_empty_index_locates_nothing():
    index = GridIndex.build([], [])
    got = index.locate_fill(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    assert got.inside == 0
    np.testing.assert_array_equal(got.positions(), [-1, -1])


def _snapshot(codes, geoms, departments=()):
    from gridgeo.testing import tiling_snapshot

    return tiling_snapshot(codes, geoms, name="<b>{code}</b>", department_rows=departments)


@pytest.mark.parametrize("n", [0, 3, 25_000])
@pytest.mark.parametrize("category", [None, "noise"])
def test_batch_answer_is_in_the_stream_schema_and_valid(tiling, n, category):
    import pyproj

    from gridgeo.locate.answer import batch_schema, locate_batch

    _index, codes, geoms = tiling
    snap = _snapshot(codes, geoms, [(7, "roads", "110", False)])
    x, y = sample_points(codes, geoms, n, seed=9, margin=0.1)
    lon, lat = pyproj.Transformer.from_crs(3826, 4326, always_xy=True).transform(x, y)
    t = locate_batch(snap, np.asarray(lon), np.asarray(lat), category=category)
    assert t.schema == batch_schema(snap)  # nothing to cast before streaming
    t.validate(full=True)
    if n:
        from gridgeo.locate.points import to_srid

        px, py = to_srid(np.asarray(lon), np.asarray(lat), "wgs84", 3826)
        g = snap.index.locate(px, py)
        hit = g >= 0
        want_codes = np.where(hit, snap.index.codes[np.maximum(g, 0)], None)
        assert t.column("grid_code").to_pylist() == want_codes.tolist()
        d = snap.index.border_distance(px, py, g)
        got_d = t.column("distance_to_border_m").to_numpy(zero_copy_only=False)
        np.testing.assert_array_equal(got_d[hit], np.round(d[hit], 3))
        assert t.column("distance_to_border_m").null_count == int((~hit).sum())
        reasons = t.column("reason").to_pylist()
        assert all((r is None) == h for r, h in zip(reasons, hit, strict=True)) or category
        assert t.column("department").null_count == n


def test_locate_fill_in_a_worker_thread_gives_the_same(tiling):
    """Worker threads take the one-thread kernel (the service locates chunks side by side)."""
    from concurrent.futures import ThreadPoolExecutor

    index, codes, geoms = tiling
    x, y = sample_points(codes, geoms, 30_000, seed=11, share_on_vertices=0.1)
    here = index.locate_fill(x, y, near=20.0, dtype=np.int16)
    with ThreadPoolExecutor(2) as pool:
        there = [f.result() for f in [pool.submit(index.locate_fill, x, y, near=20.0,
                                                  dtype=np.int16) for _ in range(2)]]  # fmt: skip
    for got in there:
        assert got.inside == here.inside
        np.testing.assert_array_equal(got.grid, here.grid)
        np.testing.assert_array_equal(got.valid, here.valid)
        np.testing.assert_array_equal(got.distance, here.distance)
        np.testing.assert_array_equal(got.near, here.near)


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_locate_fill_on_both_sides_of_the_parallel_threshold(tiling, extra):
    """One point under, at and over the size where the fill switches from the one-thread
    input-order kernel to the cell-order ones: every point filled, on the main thread
    (parallel passes) and in a worker thread (the one-thread block, no reference counts)."""
    from concurrent.futures import ThreadPoolExecutor

    from gridgeo.locate import index as index_module

    index, codes, geoms = tiling
    n = index_module._PARALLEL_FROM + extra
    x, y = sample_points(codes, geoms, n, seed=20 + extra, share_on_edges=0.1)
    want = index.locate(x, y)
    hit = want >= 0
    d = index.border_distance(x, y, want)
    with ThreadPoolExecutor(1) as pool:
        there = pool.submit(index.locate_fill, x, y, near=20.0).result()
    for got in (index.locate_fill(x, y, near=20.0), there):
        np.testing.assert_array_equal(got.positions(), want)
        np.testing.assert_array_equal(got.distance[hit], np.round(d[hit], 3))
        np.testing.assert_array_equal(got.distance[~hit], 0.0)


def test_cell_sort_orders_by_cell_and_copies_the_coordinates(tiling):
    """The fill reads the points in the cell order ``cell_sort`` gives: the same order as
    ``cell_order`` (every point once, by coarse cell, outside the table first), with
    the coordinates copied in it."""
    from gridgeo.locate import _kernels as kern

    index, codes, geoms = tiling
    x, y = sample_points(codes, geoms, 5_000, seed=11, margin=0.2)
    x[7] = np.nan
    args = (index._x0, index._y0, 1.0 / index.cell_size, index._nx, index._ny)
    for shift in (0, 3):
        perm, sx, sy = kern.cell_sort(x, y, *args, shift)
        np.testing.assert_array_equal(perm, kern.cell_order(x, y, *args, shift))
        np.testing.assert_array_equal(np.sort(perm), np.arange(x.size))
        np.testing.assert_array_equal(sx, x[perm])  # NaN at the same place, bits alike
        np.testing.assert_array_equal(sy, y[perm])
        fx = (x[perm] - index._x0) * args[2]  # the kernel's arithmetic
        fy = (y[perm] - index._y0) * args[2]
        inside = (fx >= 0) & (fy >= 0) & (fx < index._nx) & (fy < index._ny)
        assert not np.any(np.diff(inside.astype(int)) < 0)  # outside the table first
        cell = (np.floor(fy[inside]) * index._nx + np.floor(fx[inside])).astype(int) >> shift
        assert np.all(np.diff(cell) >= 0)


@pytest.mark.parametrize("few", [0, 24, 10_000])
def test_locate_fill_distance_over_grids_of_any_edge_count(few):
    """The fill's distance over a grid's edges laid out field by field (four at a time,
    then the rest one by one) gives the number ``border_distance`` gives, for grids of
    16 to ~100 edges, one with a hole, whether the grid's edges are all measured (``few``
    large) or its distance cell's candidates are (``few`` 0)."""
    from concurrent.futures import ThreadPoolExecutor

    import shapely

    codes, geoms = jittered_tiling(6, 5, seed=7)
    # more and more edges per side: every remainder of four, and grids of many edges
    geoms = np.array(
        [shapely.segmentize(g, 300.0 / (1 + i % 9) ** 1.3) for i, g in enumerate(geoms)],
        dtype=object,
    )
    c = shapely.centroid(geoms[8])
    geoms[8] = shapely.difference(geoms[8], shapely.buffer(c, 40.0, quad_segs=3))
    index = GridIndex.build(codes, geoms, few_edges=few)
    counts = np.diff(index._edges[0])
    assert counts.max() > 100 and len(set(counts % 4)) == 4
    x, y = sample_points(codes, geoms, 24_000, seed=few, share_on_vertices=0.1,
                         share_on_edges=0.1)  # fmt: skip
    want = index.locate(x, y)
    hit = want >= 0
    d = index.border_distance(x, y, want)
    with ThreadPoolExecutor(1) as pool:
        there = pool.submit(index.locate_fill, x, y, near=5.0).result()
    for got in (index.locate_fill(x, y, near=5.0), there, index.locate_fill(x[:999], y[:999])):
        m = got.n
        np.testing.assert_array_equal(got.positions(), want[:m])
        np.testing.assert_array_equal(got.distance[hit[:m]], np.round(d[:m][hit[:m]], 3))
    near = np.unpackbits(there.near, count=x.size, bitorder="little").view(bool)
    np.testing.assert_array_equal(near, hit & (d <= 5.0))
