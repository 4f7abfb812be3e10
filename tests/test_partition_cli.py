"""``gridgeo partition``: both command forms, the report, and bad input."""

from __future__ import annotations

import json

import geopandas as gpd
import pyogrio
import pytest
from typer.testing import CliRunner

from gridgeo.cli.main import app
from gridgeo.testing import CRS, district

runner = CliRunner()


@pytest.fixture
def district_gpkg(tmp_path):
    comm, roads, hh = district()
    path = tmp_path / "district.gpkg"
    comm.to_file(path, layer="communities")
    roads.to_file(path, layer="roads")
    hh.to_file(path, layer="households")
    return path


def test_single_file_form_writes_grids_violations_and_report(district_gpkg, tmp_path):
    out = tmp_path / "grids.gpkg"
    report = tmp_path / "report.json"
    res = runner.invoke(
        app,
        [
            "partition",
            str(district_gpkg),
            "--profile",
            "yongzhou",
            "--out",
            str(out),
            "--report",
            str(report),
        ],
    )
    assert res.exit_code == 0, res.output
    layers = dict(pyogrio.list_layers(out))
    assert {"grids", "violations"} <= set(layers)
    grids = gpd.read_file(out, layer="grids")
    assert grids.crs.equals(gpd.read_file(district_gpkg, layer="communities").crs)
    assert grids["households"].between(300, 500).all()
    doc = json.loads(report.read_text(encoding="utf-8"))
    assert doc["metrics"]["in_band_share_feasible"] == 1.0
    assert "feasible community" in doc["metrics"]["definitions"]
    assert "grids" in res.output


def test_per_layer_form_with_shapefile_csv_and_geojson(tmp_path):
    comm, roads, hh = district()
    comm.to_file(tmp_path / "A.shp")
    roads.to_file(tmp_path / "B.gpkg", layer="roads")
    wgs = hh.to_crs(4326)
    wgs.assign(lon=wgs.geometry.x, lat=wgs.geometry.y).drop(columns="geometry").to_csv(
        tmp_path / "C.csv", index=False
    )
    ded = gpd.GeoDataFrame(
        {"name": ["人民公园"], "category": ["park"]},
        geometry=[comm.geometry.iloc[0].centroid.buffer(40)],
        crs=CRS,
    )
    ded.to_crs(4326).to_file(tmp_path / "D.geojson")
    out = tmp_path / "grids.gpkg"
    res = runner.invoke(
        app,
        [
            "partition",
            "--communities", str(tmp_path / "A.shp"),
            "--roads", f"{tmp_path / 'B.gpkg'}:roads",
            "--households", str(tmp_path / "C.csv"),
            "--dedicated", str(tmp_path / "D.geojson"),
            "--crs", "EPSG:4326",
            "--profile", "gansu",
            "--out", str(out),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    grids = gpd.read_file(out, layer="grids")
    assert "人民公园" in set(grids["grid_name"])
    assert grids["households"].sum() == hh["households"].sum()


def test_code_pattern_option_and_bad_code_exit_2(tmp_path):
    comm, roads, hh = district(code="63000030001")
    path = tmp_path / "d.gpkg"
    comm.to_file(path, layer="communities")
    roads.to_file(path, layer="roads")
    hh.to_file(path, layer="households")
    out = tmp_path / "g.gpkg"
    bad = runner.invoke(app, ["partition", str(path), "--out", str(out)])
    assert bad.exit_code == 2
    assert "code" in bad.output and not out.exists()
    ok = runner.invoke(
        app, ["partition", str(path), "--code-pattern", r"\d{11}", "--out", str(out)]
    )
    assert ok.exit_code == 0, ok.output


def test_missing_communities_and_unknown_profile_exit_2(tmp_path, district_gpkg):
    res = runner.invoke(app, ["partition", "--out", str(tmp_path / "g.gpkg")])
    assert res.exit_code == 2 and "communities" in res.output
    res = runner.invoke(
        app,
        [
            "partition",
            str(district_gpkg),
            "--profile",
            "nowhere",
            "--out",
            str(tmp_path / "g.gpkg"),
        ],
    )
    assert res.exit_code == 2 and "profile" in res.output


def test_profile_defaults_to_the_gridgeo_profile_setting(district_gpkg, tmp_path, monkeypatch):
    """Without --profile the setting GRIDGEO_PROFILE decides (one default, not 'yongzhou')."""
    from gridgeo.settings import get_settings

    monkeypatch.setenv("GRIDGEO_PROFILE", "gansu")
    get_settings.cache_clear()
    report = tmp_path / "report.json"
    try:
        res = runner.invoke(
            app,
            ["partition", str(district_gpkg), "--out", str(tmp_path / "g.gpkg"),
             "--report", str(report)],
        )  # fmt: skip
    finally:
        get_settings.cache_clear()
    assert res.exit_code == 0, res.output
    assert json.loads(report.read_text(encoding="utf-8"))["metrics"]["profile"] == "gansu"


def test_workers_auto_by_default_a_number_or_auto_else_exit_2(district_gpkg, tmp_path):
    out = {w: tmp_path / f"g_{w}.gpkg" for w in ("default", "1", "auto")}
    for w, path in out.items():
        extra = [] if w == "default" else ["--workers", w]
        res = runner.invoke(app, ["partition", str(district_gpkg), "--out", str(path), *extra])
        assert res.exit_code == 0, res.output
    first = gpd.read_file(out["1"], layer="grids")
    for w in ("default", "auto"):
        assert first.equals(gpd.read_file(out[w], layer="grids"))
    for bad in ("0", "many", "-2"):
        res = runner.invoke(
            app,
            ["partition", str(district_gpkg), "--out", str(tmp_path / "x.gpkg"), "--workers", bad],
        )
        assert res.exit_code == 2 and "auto" in res.output, res.output
    assert not (tmp_path / "x.gpkg").exists()
