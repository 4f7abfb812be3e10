"""The batched sliver merge and dangle connection against the loops they replaced.

Fixture: a small :func:`gridgeo.testing.dual_carriageway_city` (two communities crossed by
dual carriageways: many thin medians and small squares where avenues cross, local
streets stopping short of the carriageways).
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from partition_reference import connect_dangles_loop, tidy_blocks_loop

from gridgeo.partition.blocks import Blocks, _pp, _width, assign_points, faces, tidy_blocks
from gridgeo.partition.clean import _connect_dangles, clean_roads, node_lines
from gridgeo.testing import dual_carriageway_city

MIN_AREA, MEDIAN_WIDTH = 100.0, 30.0


@pytest.fixture(scope="module")
def city():
    return dual_carriageway_city(2, 1, size=600.0, n_households=6000, seed=3)


@pytest.fixture(scope="module")
def raw_blocks(city):
    comm, roads, hh = city
    lines = clean_roads(roads.geometry.to_numpy())
    xy = shapely.get_coordinates(hh.geometry.to_numpy())
    w = hh["households"].to_numpy(float)
    out = []
    for area in comm.geometry:
        inside = np.flatnonzero(shapely.covered_by(hh.geometry.to_numpy(), area))
        polys = faces(area, lines)
        where = assign_points(polys, xy[inside])
        out.append((area, polys, [inside[where == i] for i in range(len(polys))]))
    return out, w, xy


def _tidy(fn, raw_blocks):
    out, w, xy = raw_blocks
    res = []
    for area, polys, members in out:
        b = Blocks(list(polys), list(members))
        b.recompute(w)
        res.append((area, fn(b, w, xy, min_area=MIN_AREA, median_width=MEDIAN_WIDTH)))
    return res


def test_generated_city_is_deterministic_and_has_the_shape(city):
    again = dual_carriageway_city(2, 1, size=600.0, n_households=6000, seed=3)
    for a, b in zip(city, again, strict=True):
        assert (a.geometry.to_wkb() == b.geometry.to_wkb()).all()
    comm, roads, hh = city
    assert len(comm) == 2 and hh["households"].sum() > 5000
    # households stay off the roads
    tree = shapely.STRtree(roads.geometry.to_numpy())
    assert len(tree.query(hh.geometry.to_numpy(), predicate="dwithin", distance=2.9)[0]) == 0


def test_batched_sliver_merge_gives_the_blocks_of_the_loop(raw_blocks, monkeypatch):
    # the round-by-round merge (the one pass's fallback) against the loop it replaced
    import gridgeo.partition.blocks as blocks_mod

    monkeypatch.setattr(blocks_mod, "ONE_PASS", False)
    _, polys, _ = raw_blocks[0][0]
    thin = [g for g in polys if _width(g) < MEDIAN_WIDTH and _pp(g) < 0.3]
    assert len(thin) > 20  # many medians between the carriageways
    new, old = _tidy(tidy_blocks, raw_blocks), _tidy(tidy_blocks_loop, raw_blocks)
    for (area, a), (_, b) in zip(new, old, strict=True):
        ga, gb = np.array(a.geoms, dtype=object), np.array(b.geoms, dtype=object)
        # still tiles the community, no sliver left, valid single polygons
        assert shapely.union_all(ga).symmetric_difference(area).area < 1e-3
        assert shapely.is_valid(ga).all() and (shapely.get_type_id(ga) == 3).all()
        empty = np.array([len(m) == 0 for m in a.members])
        assert (shapely.area(ga[empty]) >= MIN_AREA).all()
        assert not any(_width(g) < MEDIAN_WIDTH and _pp(g) < 0.3 for g in ga[empty])
        # the same blocks as the loop: each holds the same households, the same polygon
        # (to 1 cm² of float noise), and the same road middles were found
        assert len(ga) == len(gb)
        key = lambda m: tuple(sorted(np.asarray(m).tolist()))  # noqa: E731
        ka = {key(m): g for m, g in zip(a.members, a.geoms, strict=True) if len(m)}
        kb = {key(m): g for m, g in zip(b.members, b.geoms, strict=True) if len(m)}
        assert set(ka) == set(kb)
        assert all(ka[k].symmetric_difference(kb[k]).area < 0.01 for k in ka)
        sd = shapely.area(shapely.symmetric_difference(ga, gb))
        assert (sd < 0.01).all()
        la, lb = (sum(line.length for line in x.medians) for x in (a, b))
        assert abs(la - lb) < 0.01


def test_batched_dangle_connection_equals_the_loop(city):
    _, roads, _ = city
    lines = shapely.get_parts(shapely.set_precision(roads.geometry.to_numpy(), 0.01))
    noded = node_lines(lines)
    new = _connect_dangles(noded, snap_m=2.0, extend_m=10.0, precision=0.01)
    old = connect_dangles_loop(noded, snap_m=2.0, extend_m=10.0, precision=0.01)
    assert len(new) > 50  # the local streets stop short of the carriageways
    assert [g.wkb for g in new] == [g.wkb for g in old]
    # snap only, extend only, neither
    for kw in ({"snap_m": 2.0, "extend_m": 0.0}, {"snap_m": 0.0, "extend_m": 10.0}):
        a = _connect_dangles(noded, precision=0.01, **kw)
        b = connect_dangles_loop(noded, precision=0.01, **kw)
        assert [g.wkb for g in a] == [g.wkb for g in b]
    assert _connect_dangles(noded, snap_m=0.0, extend_m=0.0, precision=0.01) == []


def test_presplit_strips_give_the_blocks_of_the_per_strip_split(raw_blocks, monkeypatch):
    # the batch answers (split_medial_many up front) are taken only where the sliver's turn
    # brings the same strip and borders: the blocks are those of splitting every strip at
    # its turn, bit for bit
    import gridgeo.partition.blocks as blocks_mod

    def digest(res):
        return [
            (
                [g.wkb for g in b.geoms],
                [np.asarray(m).tolist() for m in b.members],
                [g.wkb for g in b.medians],
            )
            for _, b in res
        ]

    used = []
    many = blocks_mod.split_medial_many
    monkeypatch.setattr(
        blocks_mod, "split_medial_many", lambda t, s: used.append(len(t)) or many(t, s)
    )
    monkeypatch.setattr(blocks_mod, "ONE_PASS", False)
    batched = digest(_tidy(tidy_blocks, raw_blocks))
    assert sum(used) > 20
    monkeypatch.setattr(blocks_mod, "split_medial_many", lambda t, s: [None] * len(t))
    monkeypatch.setattr(blocks_mod._Merger, "presplit_all", lambda *a: None)
    assert digest(_tidy(tidy_blocks, raw_blocks)) == batched


def test_one_pass_tiles_the_community_and_splits_every_strip(raw_blocks, monkeypatch):
    # all slivers of a community given to their neighbours in one Voronoi split: the blocks
    # still tile the community, no sliver is left, every block with households keeps them,
    # and the borders through the former strips are recorded as road middles
    import gridgeo.partition.blocks as blocks_mod

    calls = {}
    once = blocks_mod.merge_slivers_once

    def record(b, *a, **k):
        got = once(b, *a, **k)
        calls.setdefault(len(b.geoms), got is not None)
        return got

    monkeypatch.setattr(blocks_mod, "merge_slivers_once", record)
    new = _tidy(tidy_blocks, raw_blocks)
    out = raw_blocks[0]
    # the first pass over each community's faces takes the one-pass way (a later pass over
    # a few slivers left may fall back to the round-by-round merge)
    assert all(calls[len(polys)] for _, polys, _ in out)
    for (area, polys, members), (_, b) in zip(out, new, strict=True):
        ga = np.array(b.geoms, dtype=object)
        assert shapely.union_all(ga).symmetric_difference(area).area < 1e-3
        assert abs(shapely.area(ga).sum() - area.area) < 1e-3  # no overlaps
        assert shapely.is_valid(ga).all() and (shapely.get_type_id(ga) == 3).all()
        empty = np.array([len(m) == 0 for m in b.members])
        assert (shapely.area(ga[empty]) >= MIN_AREA).all()
        assert not any(_width(g) < MEDIAN_WIDTH and _pp(g) < 0.3 for g in ga[empty])
        key = lambda m: tuple(sorted(np.asarray(m).tolist()))  # noqa: E731
        assert {key(m) for m in b.members if len(m)} == {key(m) for m in members if len(m)}
        assert sum(line.length for line in b.medians) > 1000
        # every block border off the drawn roads is a recorded road middle
        inner = shapely.union_all(shapely.boundary(ga)).difference(area.boundary.buffer(0.01))
        off = inner.difference(shapely.union_all(b.medians).buffer(0.01))
        roads = shapely.union_all(shapely.boundary(np.asarray(polys, dtype=object)))
        assert off.difference(roads.buffer(0.01)).length < 1.0


def test_tidied_blocks_share_their_borders_vertex_for_vertex(raw_blocks):
    # where a strip's middle line meets a block's edge the block takes that vertex, so the
    # joined blocks hold their common borders alike (GEOS's coverage check finds no edge a
    # neighbour lacks) and the block graph measures them exactly, without an overlay
    new = _tidy(tidy_blocks, raw_blocks)
    dirty = total = 0
    for _, b in new:
        ga = np.array(b.geoms, dtype=object)
        dirty += int((~shapely.is_empty(shapely.coverage_invalid_edges(ga))).sum())
        total += len(ga)
    assert dirty <= total // 10
    assert any(shapely.coverage_is_valid(np.array(b.geoms, dtype=object)) for _, b in new)


def test_one_pass_is_deterministic(raw_blocks):
    a, b = _tidy(tidy_blocks, raw_blocks), _tidy(tidy_blocks, raw_blocks)
    for (_, x), (_, y) in zip(a, b, strict=True):
        assert [g.wkb for g in x.geoms] == [g.wkb for g in y.geoms]
        assert [g.wkb for g in x.medians] == [g.wkb for g in y.medians]


def _strip_between(offset: float, width: float = 1.5):
    """Two blocks with households either side of a 100 m strip ``width`` wide, its two
    edges drawn with vertices ``offset`` apart (a divided road's carriageways as drawn)."""
    xs = np.arange(0.0, 100.0 + 1e-9, 2.5)
    low = shapely.LineString(np.column_stack([xs, np.zeros_like(xs)]))
    xs2 = np.r_[0.0, np.arange(offset, 100.0, 2.5), 100.0]
    high = shapely.LineString(np.column_stack([xs2, np.full_like(xs2, width)]))
    area = shapely.box(0.0, -50.0, 100.0, 50.0 + width)
    xy = np.array([[50.0, -25.0], [50.0, 25.0 + width]])
    return (*_blocks_of(area, [low, high], xy), xy)


def _blocks_of(area, lines: list, xy: np.ndarray) -> tuple[Blocks, np.ndarray]:
    """The faces of ``area`` cut by ``lines``, each with the household points ``xy`` (one
    household each) it holds, and the households' weights."""
    polys = faces(area, np.array(lines, dtype=object))
    where = assign_points(polys, xy)
    b = Blocks(list(polys), [np.flatnonzero(where == i) for i in range(len(polys))])
    w = np.ones(len(xy))
    b.recompute(w)
    return b, w


@pytest.mark.parametrize("offset", [1.25, 0.7])
def test_one_pass_cuts_a_thin_strip_down_its_middle(offset):
    # a strip narrower than the sampling step: the samples of its two sides are offset, and
    # at 4 m apart the Voronoi middle zigzagged from edge to edge (a quarter longer than
    # the strip); sampled as its width asks, the border runs down the middle
    from gridgeo.partition.blocks import merge_slivers_once

    b, w, xy = _strip_between(offset)
    assert len(b.geoms) == 3
    got = merge_slivers_once(b, w, xy, min_area=MIN_AREA, median_width=MEDIAN_WIDTH)
    assert got is not None and len(got.geoms) == 2
    border = shapely.intersection(got.geoms[0].boundary, got.geoms[1].boundary)
    assert 100.0 <= border.length < 100.5
    assert shapely.hausdorff_distance(border, shapely.LineString([(0, 0.75), (100, 0.75)])) < 0.2


def _arc(r: float, vertex_m: float, shift: float = 0.0) -> shapely.LineString:
    """A quarter circle of radius ``r`` about the origin (a little more at both ends),
    vertices ``vertex_m`` apart along it, those inside moved ``shift`` metres along."""
    t = np.linspace(-0.1, np.pi / 2 + 0.1, int(np.ceil(r * np.pi / 2 / vertex_m)) + 1)
    t[1:-1] += shift / r
    return shapely.LineString(np.column_stack([r * np.cos(t), r * np.sin(t)]))


@pytest.mark.parametrize("width", [3.0, 10.0, 25.0])
@pytest.mark.parametrize("vertex_m", [2.0, 10.0])
def test_one_pass_cuts_a_curved_strip_near_its_middle(width, vertex_m):
    # a divided road on a 200 m curve, its carriageways' vertices offset: the border runs
    # within 0.6 m of the road's middle (the sampling's zigzag and the middle's
    # simplification, half a metre each at most), on a line of few vertices
    from gridgeo.partition.blocks import merge_slivers_once

    r = 200.0
    inner, outer = _arc(r, vertex_m), _arc(r + width, vertex_m, shift=vertex_m / 2)
    area = shapely.box(0.0, 0.0, r + width + 60.0, r + width + 60.0)
    xy = np.array([[r / 3, r / 3], [r + width + 30.0, r + width + 30.0]])
    b, w = _blocks_of(area, [inner, outer], xy)
    assert len(b.geoms) == 3
    got = merge_slivers_once(b, w, xy, min_area=MIN_AREA, median_width=MEDIAN_WIDTH)
    assert got is not None and len(got.geoms) == 2
    border = shapely.line_merge(shapely.intersection(got.geoms[0].boundary, got.geoms[1].boundary))
    middle = _arc(r + width / 2, 0.5).intersection(area)
    at = shapely.points(shapely.get_coordinates(shapely.segmentize(border, 0.5)))
    assert shapely.distance(at, middle).max() < 0.6
    assert border.length == pytest.approx(middle.length, rel=2e-3)
    assert shapely.get_num_coordinates(border) < 80


def test_one_pass_gives_tiny_slivers_whole():
    # a tiny sliver (a triangle a short road cuts off a corner) goes whole to the block it
    # shares most border with, as the sliver-by-sliver merge gives it, not cut among the
    # blocks around it
    from gridgeo.partition.blocks import merge_slivers_once

    area = shapely.box(0.0, 0.0, 100.0, 100.0)
    lines = [shapely.LineString([(50, 0), (50, 100)]), shapely.LineString([(40, 0), (50, 10)])]
    xy = np.array([[20.0, 50.0], [80.0, 50.0]])
    b, w = _blocks_of(area, lines, xy)
    assert len(b.geoms) == 3
    got = merge_slivers_once(b, w, xy, min_area=MIN_AREA, median_width=MEDIAN_WIDTH)
    assert got is not None and len(got.geoms) == 2
    left = next(g for g, m in zip(got.geoms, got.members, strict=True) if 0 in m.tolist())
    tri = shapely.Polygon([(40, 0), (50, 0), (50, 10)])
    assert left.intersection(tri).area == pytest.approx(tri.area)
    assert left.area == pytest.approx(5000.0)


def test_strips_side_by_side_are_merged_sliver_by_sliver(monkeypatch):
    # Huangpu's real roads: elevated and ground carriageways drawn as separate lines, so
    # most strips lie beside another strip; the one pass would cut them otherwise than
    # the sliver-by-sliver merge, smallest first, does: the blocks are that merge's
    import gridgeo.partition.blocks as blocks_mod
    from gridgeo.rules import load_profile
    from gridgeo.testing import huangpu_core

    q = load_profile(None).quality
    (comm, roads, hh), _ = huangpu_core(2000)
    xy = shapely.get_coordinates(hh.geometry.to_numpy())
    w = hh["households"].to_numpy(float)
    area = comm.geometry.iloc[0]
    polys = faces(area, clean_roads(roads.geometry.to_numpy()), snap_m=q.road_snap_m)
    where = assign_points(polys, xy)

    def run():
        b = Blocks(list(polys), [np.flatnonzero(where == i) for i in range(len(polys))])
        b.recompute(w)
        t = tidy_blocks(b, w, xy, min_area=q.sliver_min_area_m2, median_width=q.median_max_width_m)
        return [g.wkb for g in t.geoms], [g.wkb for g in t.medians]

    got = run()
    monkeypatch.setattr(blocks_mod, "ONE_PASS", False)
    assert run() == got


@pytest.mark.parametrize("whole", [True, False])
def test_member_sums_are_numpys_sums_bit_for_bit(whole):
    """One bincount for whole-number weights, numpy's own sums otherwise: the same bits."""
    from gridgeo.partition.blocks import member_sums

    rng = np.random.default_rng(5)
    hh = rng.integers(0, 40, 500).astype(float) if whole else rng.uniform(0, 3, 500)
    members = [rng.choice(500, k, replace=False) for k in rng.integers(0, 60, 80)]
    members += [np.array([], dtype=int), np.array([])]
    want = np.array([float(hh[m].sum()) if len(m) else 0.0 for m in members])
    assert member_sums(hh, members).tobytes() == want.tobytes()
    assert member_sums(hh, []).shape == (0,)


def test_coverage_rows_are_each_rows_own_coverage_union():
    """Rows joined in one call, the halves of a failing call again: each row's own
    coverage union, None for a row GEOS refuses (not noded alike)."""
    from shapely.geometry import Polygon, box

    from gridgeo.partition.blocks import _coverage_rows

    a = box(0, 0, 1, 1)
    good = Polygon([(1, 0), (2, 0), (2, 1), (1, 1)])
    bad = Polygon([(1, 0), (2, 0), (2, 1), (1, 1), (1, 0.5)])  # a vertex a's edge lacks
    rows = np.array([[a, good] if k % 7 else [a, bad] for k in range(30)], dtype=object)
    got = _coverage_rows(rows)
    for k, row in enumerate(rows):
        if k % 7 == 0:
            assert got[k] is None
        else:
            assert got[k].equals_exact(shapely.coverage_union_all(row), 0.0)
