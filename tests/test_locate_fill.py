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
