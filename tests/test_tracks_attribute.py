"""Leg attribution: the compiled fast path against a plain GEOS reference, and the index accessor."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gridgeo.locate.index import CellTable, GridIndex
from gridgeo.testing import jittered_tiling
from gridgeo.tracks import _kernels
from gridgeo.tracks.attribute import BorderTree, attribute_legs


@pytest.fixture(scope="module")
def tiling():
    codes, geoms = jittered_tiling(6, 5, seed=3)
    return GridIndex.build(codes, geoms), geoms


def test_cell_table_is_the_public_read_only_view_of_the_lookup(tiling):
    index, _ = tiling
    tab = index.cell_table()
    assert isinstance(tab, CellTable)
    assert tab.cells.size == tab.nx * tab.ny and tab.cell_size > 0 and tab.subdivisions >= 1
    assert not tab.cells.flags.writeable and not tab.subcells.flags.writeable
    with pytest.raises(ValueError):
        tab.cells[0] = 0
    # a cell that the table gives wholly to one grid: its centre locates to that grid
    whole = np.flatnonzero(tab.cells >= 0)
    assert whole.size
    cx = tab.x0 + (whole % tab.nx + 0.5) * tab.cell_size
    cy = tab.y0 + (whole // tab.nx + 0.5) * tab.cell_size
    np.testing.assert_array_equal(index.locate(cx, cy), tab.cells[whole])
    xs, ys, ring_off, part_off, geom_off = index.boundary_arrays()
    assert geom_off.size == len(index) + 1 and ring_off[-1] == xs.size == ys.size
    first = shapely.get_exterior_ring(index.geoms[0])
    r = part_off[geom_off[0]]
    ring = np.column_stack([xs[ring_off[r] : ring_off[r + 1]], ys[ring_off[r] : ring_off[r + 1]]])
    assert shapely.equals(shapely.linearrings(ring), first) or shapely.equals(
        shapely.linestrings(ring), shapely.linestrings(shapely.get_coordinates(first))
    )


def _reference(x, y, index):
    """Length per (leg, grid) by GEOS: each leg intersected with every grid polygon."""
    lines = shapely.linestrings(np.stack([np.c_[x[:-1], y[:-1]], np.c_[x[1:], y[1:]]], axis=1))
    out = {}
    for g, poly in enumerate(index.geoms):
        inter = shapely.intersection(lines, poly)
        for k in np.flatnonzero(shapely.length(inter) > 1e-9):
            out[(k, g)] = shapely.length(inter[k])
    return out


def test_fast_attribution_equals_geos_on_random_legs(tiling):
    index, _ = tiling
    rng = np.random.default_rng(7)
    x0, y0 = 300_000.0, 2_760_000.0
    n = 4000
    # long legs across many grids, short ones near where they start, some fixes on vertices
    xy = rng.uniform([x0 - 200, y0 - 200], [x0 + 2000, y0 + 1700], size=(n, 2))
    short = np.flatnonzero(rng.random(n) < 0.5)
    short = short[short > 0]
    xy[short] = xy[short - 1] + rng.normal(0, 15, (short.size, 2))
    xs, ys = index.boundary_arrays()[:2]
    on = rng.choice(n, 300, replace=False)
    pick = rng.choice(xs.size, on.size)
    xy[on] = np.c_[xs[pick], ys[pick]]
    x, y = xy[:, 0].copy(), xy[:, 1].copy()
    t = np.arange(n, dtype=float)
    ok = np.ones(n, dtype=bool)
    ok[-1] = False
    legs = attribute_legs(x, y, t, ok, index, borders=BorderTree(index))
    assert (legs.f0 > 0).sum() > 200 and (legs.grid < 0).any()  # many cuts, some outside
    got = {}
    for k, g, ln in zip(legs.fix, legs.grid, legs.length, strict=True):
        if g >= 0 and ln > 1e-9:
            got[(int(k), int(g))] = got.get((int(k), int(g)), 0.0) + ln
    want = _reference(x, y, index)
    assert set(got) == set(want)
    for key, v in want.items():
        assert got[key] == pytest.approx(v, abs=1e-6)
    # every leg's time is handed out once: parts of a leg cover [0, 1] exactly
    frac = np.zeros(n)
    np.add.at(frac, legs.fix, legs.f1 - legs.f0)
    np.testing.assert_allclose(frac[:-1], 1.0, atol=1e-12)
    assert (legs.t1 >= legs.t0).all()


def test_leg_along_a_shared_border_and_through_a_vertex():
    a = shapely.box(0, 0, 10, 10)
    b = shapely.box(10, 0, 20, 10)
    c = shapely.box(0, 10, 10, 20)
    index = GridIndex.build(np.array(["A", "B", "C"], dtype=object), np.array([a, b, c]))
    # along the A|B border (ties go to A), then diagonally through the shared corner (10, 10)
    x = np.array([10.0, 10.0, 5.0, 15.0])
    y = np.array([2.0, 8.0, 15.0, 5.0])
    t = np.array([0.0, 6.0, 16.0, 26.0])
    ok = np.array([True, True, True, False])
    legs = attribute_legs(x, y, t, ok, index)
    order = np.lexsort((legs.f0, legs.fix))
    fix, grid = legs.fix[order], legs.grid[order]
    t0, t1 = legs.t0[order], legs.t1[order]
    assert fix[0] == 0 and grid[0] == 0 and (t0[0], t1[0]) == (0.0, 6.0)
    rest = [
        (int(f), int(g), round(s, 9), round(e, 9))
        for f, g, s, e in zip(fix, grid, t0, t1, strict=True)
    ][1:]
    # leg 1: (10,8) → (5,15): in A until y = 10 at x = 8.571…, then C
    assert [r[1] for r in rest if r[0] == 1] == [0, 2]
    # leg 2: (5,15) → (15,5) passes the corner (10,10): C then B, cut at the middle
    assert [r[1:] for r in rest if r[0] == 2] == [(2, 16.0, 21.0), (1, 21.0, 26.0)]
    assert _kernels.CROSSES == 2
