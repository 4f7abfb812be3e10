"""The roads cleaned in two halves at once (``clean.clean_roads_for``) give each community the
lines the cleaning of all roads gives it, bit for bit; where a half cannot vouch for that the
community takes the lines of all roads cleaned at once."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gridgeo.partition import clean
from gridgeo.partition.carriageways import collapse_carriageways
from gridgeo.partition.twocores import both_cores
from gridgeo.testing import dual_carriageway_city


def _wkb(lines) -> list[bytes]:
    return list(shapely.to_wkb(np.asarray(lines, dtype=object)))


@pytest.fixture(scope="module")
def city():
    return dual_carriageway_city(4, 2, size=600.0, n_households=8000, seed=2)


@pytest.mark.parametrize("median", [False, True])
def test_halves_give_each_community_the_lines_of_the_whole_cleaning(city, median, monkeypatch):
    monkeypatch.setattr(clean, "HALVES_MIN_COORDS", 0)  # a small city: split all the same
    comm, roads, hh = city
    geoms = roads.geometry.to_numpy()
    if median:  # the carriageways on their centreline: few dangles, lines run far
        geoms = collapse_carriageways(roads, keep_xy=shapely.get_coordinates(hh.geometry))
    areas = comm.geometry.to_numpy()
    with both_cores():
        got = clean.clean_roads_for(geoms, areas)
    assert len(got.halves) == 2 and got.whole is None  # two halves, nothing redone
    side = clean._side(areas, got.axis, got.cut)
    assert 0 < side.sum() < len(areas)
    want = clean.lines_meeting(clean.clean_roads(geoms), areas)
    for mine, theirs in zip(got.meeting(areas), want, strict=True):
        assert len(mine) > 0
        assert _wkb(mine) == _wkb(theirs)
    # each half cleaned fewer lines than all (the margin adds a little to each)
    assert all(len(lines) < len(clean.clean_roads(geoms)) for _, lines in got.halves)


def test_one_piece_without_both_cores_or_for_few_roads(city, monkeypatch):
    comm, roads, _ = city
    geoms, areas = roads.geometry.to_numpy(), comm.geometry.to_numpy()
    alone = clean.clean_roads_for(geoms, areas)
    assert not alone.halves and _wkb(alone.whole) == _wkb(clean.clean_roads(geoms))
    monkeypatch.setattr(clean, "HALVES_MIN_COORDS", 10**9)
    with both_cores():
        assert not clean.clean_roads_for(geoms, areas).halves
    with both_cores():  # one area: nothing to split
        assert not clean.clean_roads_for(geoms, areas[:1]).halves


def test_a_piece_reaching_beyond_the_margin_takes_the_whole_cleaning(monkeypatch):
    # two communities side by side; a road starts in the left one and meets no other road
    # before x = 800: its first piece reaches past what the left half's box vouches for
    # (its edge 200 m beyond the community, less 25 m), so the left community takes the
    # lines of all roads cleaned at once
    monkeypatch.setattr(clean, "HALVES_MIN_COORDS", 0)
    left, right = shapely.box(0, 0, 500, 500), shapely.box(500, 0, 1000, 500)
    grid = [shapely.LineString([(x, 0), (x, 500)]) for x in (100, 200, 300, 400, 800, 900)]
    grid += [shapely.LineString([(0, y), (450, y)]) for y in (100, 300)]
    grid += [shapely.LineString([(750, y), (1000, y)]) for y in (100, 300)]
    far = shapely.LineString([(420, 250), (980, 250)])
    roads = np.array([*grid, far], dtype=object)
    areas = np.array([left, right], dtype=object)
    with both_cores():
        got = clean.clean_roads_for(roads, areas)
    assert len(got.halves) == 2 and got.whole is None
    want = clean.lines_meeting(clean.clean_roads(roads), areas)
    for mine, theirs in zip(got.meeting(areas), want, strict=True):
        assert _wkb(mine) == _wkb(theirs)
    assert got.whole is not None  # made for the left community


def _rounded_pieces_and_links(geoms, precision=0.01):
    lines = clean._as_lines(geoms)
    lines = shapely.get_parts(shapely.set_precision(lines, precision))
    lines = lines[shapely.length(lines) > precision]
    noded = clean.node_lines(lines)
    noded = noded[shapely.length(noded) > precision]
    links = np.array(
        clean._connect_dangles(noded, snap_m=2.0, extend_m=10.0, precision=precision),
        dtype=object,
    )
    both = shapely.set_precision(np.concatenate([noded, links]), precision)
    return both[: len(noded)], both[len(noded) :]


def _same_set(a, b) -> bool:
    def canon(x):
        return sorted(set(shapely.to_wkb(shapely.normalize(np.asarray(x, dtype=object)))))

    return canon(a) == canon(b)


@pytest.mark.parametrize("median", [False, True])
def test_noding_again_only_the_links_and_what_they_meet_gives_the_noding_of_all(
    city, median, monkeypatch
):
    _, roads, hh = city
    geoms = roads.geometry.to_numpy()
    if median:
        geoms = collapse_carriageways(roads, keep_xy=shapely.get_coordinates(hh.geometry))
    pieces, links = _rounded_pieces_and_links(geoms)
    want = clean.node_lines(np.concatenate([pieces, links]))
    sizes, real = [], clean._node
    monkeypatch.setattr(clean, "_node", lambda a: sizes.append(len(a)) or real(a))
    got = clean.node_again(pieces, links)
    assert _same_set(got, want)
    # the pieces no link meets were not noded again
    assert sizes and max(sizes) < len(pieces) + len(links)
    # and, as GEOS's noding leaves lines, they carry no 1 cm grid for later overlays to
    # round their results to (the faces' clip did, and the blocks changed)
    assert (shapely.get_precision(pieces) == 0.01).all()
    assert (shapely.get_precision(got) == 0).all() and (shapely.get_precision(want) == 0).all()


def test_noding_again_all_where_the_rounding_made_a_piece_meet_another_inside():
    # b's end lies 1 mm above a; rounded to the 1 cm grid it lands on a's inside: a must be
    # split there, which only noding all of them does
    a = shapely.LineString([(0.0, 0.0), (10.0, 0.004)])
    b = shapely.LineString([(5.0, 0.003), (5.0, 1.0)])
    c = shapely.LineString([(20.0, 0.0), (20.0, 5.0)])
    link = shapely.LineString([(20.0, 5.0), (25.0, 5.0)])
    pieces = shapely.set_precision(np.array([a, b, c], dtype=object), 0.01)
    links = shapely.set_precision(np.array([link], dtype=object), 0.01)
    assert not shapely.is_simple(shapely.multilinestrings(pieces))
    got = clean.node_again(pieces, links)
    assert _same_set(got, clean.node_lines(np.concatenate([pieces, links])))
    assert len(got) == 5  # a in two, b, c, the link
