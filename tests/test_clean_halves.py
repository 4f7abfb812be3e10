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
