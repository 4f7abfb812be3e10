"""Building-level units: a 3,000-household compound split along its 12 buildings into grids in band."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import box
from typer.testing import CliRunner

from gridgeo.cli.main import app
from gridgeo.partition import partition
from gridgeo.partition.buildings import spread_over_buildings
from gridgeo.testing import CRS

runner = CliRunner()
X0, Y0 = 500000.0, 3000000.0


def _estate():
    """A 520 × 300 m community holding one compound point of 3,000 households (小区名称
    幸福家园, as a property platform lists it), a small 120-household compound, and 12
    residential slab footprints of 60 × 14 m, 18 floors, in a 3 × 4 layout."""
    comm = gpd.GeoDataFrame(
        {"code": ["430102001001"], "name": ["幸福社区"]},
        geometry=[box(X0, Y0, X0 + 520, Y0 + 300)],
        crs=CRS,
    )
    hh = gpd.GeoDataFrame(
        {"小区名称": ["幸福家园", "老街小区"], "户数": [3000, 120]},
        geometry=[shapely.Point(X0 + 200, Y0 + 150), shapely.Point(X0 + 500, Y0 + 150)],
        crs=CRS,
    )
    slabs = [
        box(X0 + 30 + 120 * i, Y0 + 30 + 65 * j, X0 + 90 + 120 * i, Y0 + 44 + 65 * j)
        for i in range(3)
        for j in range(4)
    ]
    bld = gpd.GeoDataFrame({"层数": [18] * 12}, geometry=slabs, crs=CRS)
    return comm, hh, bld


def test_spread_keeps_the_total_and_states_the_estimate():
    _comm, hh, bld = _estate()
    bld["小区名称"] = "幸福家园"  # matched by name, not by distance
    spread = spread_over_buildings(hh.to_crs(4326), bld.to_crs(4326), ceiling=500)
    units = spread.households
    assert units.crs.equals(hh.to_crs(4326).crs)
    big = units[units["building"] != ""]
    assert len(big) == 12 and big["households"].sum() == 3000
    assert big["households_estimated"].all()
    assert set(big["households"]) == {250}
    assert big["compound_id"].nunique() == 12  # each building its own unit
    small = units[units["building"] == ""]
    assert small["households"].tolist() == [120]  # below the ceiling: untouched
    (row,) = spread.report.to_dict("records")
    assert row["compound"] == "幸福家园" and row["can_split"] and row["method"] == "floor_area"
    assert "estimated from floor area" in row["advice"]


def test_a_3000_household_compound_with_12_buildings_is_split_into_grids_in_band():
    comm, hh, bld = _estate()
    hh = hh.iloc[[0]]  # the 3,000-household compound alone
    before = partition(comm, None, hh, profile="yongzhou")
    # one indivisible compound above the ceiling: the band cannot be met
    assert (before.violations["rule"] == "size.band_unattainable").any()
    spread = spread_over_buildings(hh, bld, ceiling=500)
    result = partition(comm, None, spread.households, profile="yongzhou")
    grids = result.grids
    assert grids["households"].sum() == 3000
    assert grids["households"].between(300, 500).all(), grids["households"].tolist()
    assert "size.above_ceiling" not in set(result.violations["rule"])
    # no building is cut: each footprint lies within one grid
    for slab in bld.geometry:
        inside = shapely.area(shapely.intersection(grids.geometry.to_numpy(), slab))
        assert np.sort(inside)[-1] == pytest.approx(slab.area, rel=0.05)


def test_compounds_that_still_cannot_be_split_are_reported_with_what_would_fix_them():
    _comm, hh, _bld = _estate()
    hh.loc[1, "户数"] = 900  # the old compound has no building footprints
    tower = gpd.GeoDataFrame(
        {"户数": [2000], "小区名称": ["幸福家园"]},
        geometry=[box(X0 + 180, Y0 + 140, X0 + 220, Y0 + 160)],
        crs=CRS,
    )
    spread = spread_over_buildings(hh, tower, ceiling=500)
    rep = spread.report.set_index("compound")
    assert not rep.loc["幸福家园", "can_split"] and "单元" in rep.loc["幸福家园", "advice"]
    assert rep.loc["幸福家园", "method"] == "counted"
    assert not rep.loc["老街小区", "can_split"] and "OSM" in rep.loc["老街小区", "advice"]


def test_partition_cli_with_buildings(tmp_path):
    comm, hh, bld = _estate()
    hh = hh.iloc[[0]]
    comm.to_crs(4326).to_file(tmp_path / "streets.geojson")
    wgs = hh.to_crs(4326)
    wgs.assign(经度=wgs.geometry.x, 纬度=wgs.geometry.y).drop(columns="geometry").to_csv(
        tmp_path / "compounds.csv", index=False
    )
    bld.to_crs(4326).to_file(tmp_path / "buildings.geojson")
    out, report = tmp_path / "grids.gpkg", tmp_path / "report.json"
    res = runner.invoke(
        app,
        [
            "partition",
            "--communities", str(tmp_path / "streets.geojson"),
            "--households", f"{tmp_path / 'compounds.csv'}@wgs84",
            "--buildings", str(tmp_path / "buildings.geojson"),
            "--out", str(out),
            "--report", str(report),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    grids = gpd.read_file(out, layer="grids")
    assert grids["households"].between(300, 500).all()
    doc = json.loads(report.read_text(encoding="utf-8"))
    assert doc["compounds_above_ceiling"][0]["compound"] == "幸福家园"
    assert "幸福家园" in res.output
