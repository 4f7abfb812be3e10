"""Planning change sets (pure): which proposed grids keep codes, split, merge, reshape, retire."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from gridgeo.registry.diff import plan_changes

C = "310101001001"


def _box(x0, x1, y0=0, y1=100):
    return shapely.box(x0, y0, x1, y1)


def _current(*boxes, names=None, community=C):
    n = len(boxes)
    return gpd.GeoDataFrame(
        {
            "grid_code": [f"{community}{i + 1:03d}" for i in range(n)],
            "version": [1] * n,
            "grid_name": names or [f"g{i + 1}" for i in range(n)],
            "grid_type": ["urban"] * n,
            "community_code": [community] * n,
            "households": [100] * n,
            "population": [250] * n,
        },
        geometry=list(boxes),
        crs=3857,
    )


def _proposed(*boxes, names=None, households=None, community=C):
    n = len(boxes)
    return gpd.GeoDataFrame(
        {
            "grid_name": names or [f"g{i + 1}" for i in range(n)],
            "grid_type": ["urban"] * n,
            "community_code": [community] * n,
            "households": households or [100] * n,
            "population": [250] * n,
        },
        geometry=list(boxes),
        crs=3857,
    )


THREE = (_box(0, 100), _box(100, 200), _box(200, 300))


@pytest.mark.parametrize(
    ("proposed", "expected"),
    [
        (_proposed(*THREE), []),
        (_proposed(_box(0, 100), _box(100, 200), _box(200, 300.005)), []),  # 0.5 m², within 1 m²
        (
            _proposed(*THREE, names=["g1", "renamed", "g3"]),
            [("rename", ["002"], [1], "002")],
        ),
        (
            _proposed(*THREE, households=[100, 100, 180]),
            [("amend", ["003"], [2], "003")],
        ),
        (  # 002 gives half its area to 003: both only gained or lost, both keep codes
            _proposed(_box(0, 100), _box(100, 150), _box(150, 300)),
            [("reshape", ["002"], [1], "002"), ("reshape", ["003"], [2], "003")],
        ),
        (
            _proposed(
                _box(0, 100),
                _box(100, 150),
                _box(150, 200),
                _box(200, 300),
                names=["g1", "a", "b", "g3"],
            ),
            [("split", ["002"], [1, 2], None)],
        ),
        (
            _proposed(_box(0, 200), _box(200, 300), names=["m", "g3"]),
            [("merge", ["001", "002"], [0], None)],
        ),
        (
            _proposed(_box(0, 100), _box(100, 210), _box(210, 300)),
            [("reshape", ["002"], [1], "002"), ("reshape", ["003"], [2], "003")],
        ),
        (  # 002 and 003 redrawn across (north / south halves): new codes
            _proposed(_box(0, 100), _box(100, 300, 0, 50), _box(100, 300, 50, 100)),
            [("reshape", ["002", "003"], [1, 2], None)],
        ),
        (_proposed(_box(0, 100), _box(100, 200)), [("retire", ["003"], [], None)]),
        (
            _proposed(*THREE, _box(300, 400)),
            [("create", [], [3], None)],
        ),
    ],
    ids=[
        "unchanged",
        "tiny-noise",
        "rename",
        "amend",
        "border-moves-many",
        "split",
        "merge",
        "border-moves",
        "redrawn-across",
        "retire",
        "create",
    ],
)
def test_plan(proposed, expected):
    items = plan_changes(_current(*THREE), proposed)
    got = [
        (it.action, [o.grid_code[-3:] for o in it.old], it.new, it.keep_code and it.keep_code[-3:])
        for it in items
    ]
    assert got == expected


def test_reshape_of_one_grid_keeps_its_code():
    current = _current(_box(0, 100), _box(100, 200), _box(200, 300))
    proposed = _proposed(_box(0, 100), _box(100, 200, 0, 90), _box(200, 300))
    (item,) = plan_changes(current, proposed)
    assert (item.action, item.keep_code, item.old[0].retire) == ("reshape", f"{C}002", False)


def test_slivers_do_not_link_unrelated_grids():
    current = _current(_box(0, 100), _box(100, 200))
    # grid 1 grows 0.5 m into grid 2 (50 m²: over the tolerance, under 1 % of the area)
    proposed = _proposed(_box(0, 100.5), _box(100.5, 200))
    items = plan_changes(current, proposed)
    assert [(it.action, it.keep_code[-3:]) for it in items] == [
        ("reshape", "001"),
        ("reshape", "002"),
    ]


def test_other_communities_are_not_touched():
    other = "310101001002"
    current = gpd.GeoDataFrame(
        gpd.pd.concat([_current(*THREE), _current(_box(0, 100, 200, 300), community=other)]),
        crs=3857,
    )
    items = plan_changes(current, _proposed(*THREE))
    assert items == []


def test_missing_attributes_count_as_unchanged():
    proposed = _proposed(*THREE).drop(columns=["households", "population", "grid_type"])
    proposed["grid_name"] = None
    assert plan_changes(_current(*THREE), proposed) == []
