"""The road share of a border down the middle of a divided road, in both partition modes.

A divided road (two one-way carriageways of one name, 12 m apart: the middle is 6 m from
either, more than the 5 m road tolerance) cuts a community in two halves of 400
households each, so the one grid border runs along the road. With the carriageways as
drawn the empty strip between them is split down its middle; with
``quality.divided_roads_on_median`` the carriageways become that middle line. Either way
the border is on the road's centreline: the partitioner's road share and the validator's
count it as on a road, and both also report the share against the road lines as drawn
alone, where it is off road.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString

from gridgeo.partition import partition
from gridgeo.partition.carriageways import divided_road_centrelines
from gridgeo.rules import load_profile
from gridgeo.testing import CRS
from gridgeo.validate import validate

GAP = 12.0
X0, Y0 = 500000.0, 3000000.0  # in China: the inputs are checked
ORIGIN = np.array([X0, Y0])


def _roads(**extra) -> gpd.GeoDataFrame:
    east = LineString([(-30, 0), (150, 0), (330, 0)])
    west = LineString([(330, GAP), (150, GAP), (-30, GAP)])
    cols = {"name": ["长安路", "长安路"], "highway": ["primary"] * 2, "oneway": ["yes"] * 2}
    cols.update(extra)
    geoms = shapely.transform([east, west], lambda xy: xy + ORIGIN)
    return gpd.GeoDataFrame({**cols, "geometry": geoms}, crs=CRS)


def _world():
    comm = gpd.GeoDataFrame(
        {"code": ["110101001001"], "name": ["长安"]},
        geometry=[shapely.box(X0, Y0 - 150, X0 + 300, Y0 + 150 + GAP)],
        crs=CRS,
    )
    rng = np.random.default_rng(1)
    south = rng.uniform([10, -140], [290, -10], size=(40, 2))
    north = rng.uniform([10, GAP + 10], [290, GAP + 140], size=(40, 2))
    hh = gpd.GeoDataFrame(
        {"households": np.full(80, 10)},
        geometry=shapely.points(np.vstack([south, north]) + ORIGIN),
        crs=CRS,
    )
    return comm, hh


def test_centrelines_are_the_middle_of_the_pairs_only():
    middle = divided_road_centrelines(_roads())
    xy = shapely.get_coordinates(middle) - ORIGIN
    assert len(middle) >= 1 and np.allclose(xy[:, 1], GAP / 2, atol=0.01)
    assert shapely.length(middle).sum() == pytest.approx(360, abs=1)
    assert len(divided_road_centrelines(_roads(oneway=["no", "no"]))) == 0
    assert len(divided_road_centrelines(_roads().drop(columns=["name"]))) == 0
    # a household between the carriageways keeps them two roads, as in the partitioner
    homes = np.array([[X0 + 150.0, Y0 + GAP / 2]])
    kept = divided_road_centrelines(_roads(), keep_xy=homes)
    assert len(kept) == 2 and shapely.length(kept).sum() == pytest.approx(340, abs=1)


@pytest.mark.parametrize("median", [False, True])
def test_border_on_the_middle_of_a_divided_road_is_on_the_road_in_both_modes(median):
    comm, hh = _world()
    roads = _roads()
    prof = load_profile(None).with_divided_roads_on_median(median)
    res = partition(comm, roads, hh, profile=prof)
    m = res.metrics
    assert m["grids"] == 2
    # the one border runs down the middle of the road, 6 m from either carriageway
    a, b = res.grids.geometry.to_numpy()
    border = shapely.intersection(a.boundary, b.boundary)
    assert border.length == pytest.approx(300, abs=1)
    assert np.allclose(shapely.get_coordinates(border)[:, 1] - Y0, GAP / 2, atol=0.5)
    assert m["road_border_share"] == pytest.approx(1.0, abs=0.01)
    assert m["road_border_share_drawn"] == pytest.approx(0.0, abs=0.01)

    road = validate(res.grids, comm, hh, roads, profile=prof).summary["road_border"]
    assert road["share"] == pytest.approx(1.0, abs=0.02)
    assert road["share_drawn"] == pytest.approx(0.0, abs=0.02)
    assert road["divided_road_middles_m"] == pytest.approx(360, abs=1)


def test_validator_without_the_attributes_measures_the_lines_as_drawn():
    comm, hh = _world()
    roads = _roads()
    res = partition(comm, roads, hh)
    plain = roads.drop(columns=["oneway", "name"])
    rep = validate(res.grids, comm, hh, plain)
    road = rep.summary["road_border"]
    assert road["share"] == pytest.approx(0.0, abs=0.02)
    assert road["share"] == road["share_drawn"] and road["divided_road_middles_m"] == 0.0
    warned = rep.issues[rep.issues["rule"] == "roads.border_share"]
    assert len(warned) == 2
    assert all("middle of a divided road" in t for t in warned["message"])
    # with the attributes the same grids are on the road: no warning
    rep = validate(res.grids, comm, hh, roads)
    assert not (rep.issues["rule"] == "roads.border_share").any()


def test_validate_command_says_how_much_of_the_share_is_on_road_middles(tmp_path):
    from typer.testing import CliRunner

    from gridgeo.cli.main import app

    comm, hh = _world()
    roads = _roads()
    res = partition(comm, roads, hh)
    gpkg = tmp_path / "d.gpkg"
    res.grids.to_file(gpkg, layer="grids")
    comm.to_file(gpkg, layer="communities")
    hh.to_file(gpkg, layer="households")
    roads.to_file(gpkg, layer="roads")
    r = CliRunner().invoke(
        app,
        [
            "validate",
            f"{gpkg}:grids",
            "--communities",
            f"{gpkg}:communities",
            "--households",
            f"{gpkg}:households",
            "--roads",
            f"{gpkg}:roads",
        ],
        env={"GRIDGEO_LANG": "en", "COLUMNS": "200"},
    )
    assert "internal border on roads: 100.0%" in r.output, r.output
    assert "of which on the lines as drawn: 0.0%" in r.output, r.output
