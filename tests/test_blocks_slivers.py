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


def test_one_pass_is_deterministic(raw_blocks):
    a, b = _tidy(tidy_blocks, raw_blocks), _tidy(tidy_blocks, raw_blocks)
    for (_, x), (_, y) in zip(a, b, strict=True):
        assert [g.wkb for g in x.geoms] == [g.wkb for g in y.geoms]
        assert [g.wkb for g in x.medians] == [g.wkb for g in y.medians]
