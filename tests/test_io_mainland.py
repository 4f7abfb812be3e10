"""Real mainland inputs (issue 22): per-layer CRS, Chinese count fields, spatial outliers.

Built from the synthetic district (a 1 km community near 114° E, 27° N) written as a
county would have it: community polygons in WGS 84 GeoJSON, compounds as a BD-09 CSV
with Chinese headers.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from gridgeo.cli.inspect import inspect_file
from gridgeo.cli.main import app
from gridgeo.crs import wgs84_to_bd09
from gridgeo.errors import InputError
from gridgeo.io.fields import resolve_count_fields
from gridgeo.io.layer_crs import read_input, split_crs_spec
from gridgeo.io.outliers import outlier_problems
from gridgeo.testing import CRS, district

runner = CliRunner()


def _compounds_csv(path, hh: gpd.GeoDataFrame, count_header: str | None = "户数") -> None:
    """The household points as a BD-09 CSV with Chinese headers (as a web map exports it)."""
    wgs = hh.to_crs(4326)
    lon, lat = wgs84_to_bd09(wgs.geometry.x.to_numpy(), wgs.geometry.y.to_numpy())
    table = {"小区名称": [f"小区{i}" for i in range(len(hh))], "经度": lon, "纬度": lat}
    if count_header:
        table[count_header] = hh["households"].to_numpy()
    pd.DataFrame(table).to_csv(path, index=False, encoding="utf-8")


@pytest.fixture
def county(tmp_path):
    comm, roads, hh = district(n_households=2400, per_point=12)
    comm.to_crs(4326).to_file(tmp_path / "streets.geojson")
    roads.to_crs(4326).to_file(tmp_path / "roads.geojson")
    return tmp_path, comm, hh


def _partition(tmp_path, households: str, *extra: str):
    out = tmp_path / "grids.gpkg"
    res = runner.invoke(
        app,
        [
            "partition",
            "--communities", str(tmp_path / "streets.geojson"),
            "--roads", str(tmp_path / "roads.geojson"),
            "--households", households,
            "--out", str(out),
            *extra,
        ],
    )  # fmt: skip
    return res, out


def test_crs_applies_only_to_the_csv_and_grids_lie_exactly_over_the_polygons(county):
    tmp_path, comm, hh = county
    _compounds_csv(tmp_path / "compounds.csv", hh)
    res, out = _partition(tmp_path, str(tmp_path / "compounds.csv"), "--crs", "bd09")
    assert res.exit_code == 0, res.output
    grids = gpd.read_file(out, layer="grids").to_crs(CRS)
    union = shapely.union_all(grids.geometry.to_numpy())
    community = comm.geometry.iloc[0]
    # the grids cover the community polygon to within 1 m everywhere (no 1.3 km shift)
    assert shapely.hausdorff_distance(union.boundary, community.boundary) < 1.0
    assert abs(union.area - community.area) < 1.0 * community.length
    # every BD-09 point came back to its WGS 84 place, so every household is in a grid
    assert grids["households"].sum() == hh["households"].sum()
    pts = read_input(tmp_path / "compounds.csv", crs="bd09").to_crs(CRS)
    moved = shapely.distance(pts.geometry.to_numpy(), hh.geometry.to_numpy())
    assert moved.max() < 1.0


def test_declared_crs_is_kept_and_only_an_explicit_layer_option_replaces_it(
    county, caplog, monkeypatch
):
    tmp_path, _, _ = county
    geojson = tmp_path / "streets.geojson"
    plain = read_input(geojson)
    kept = read_input(geojson, crs="bd09", what="communities")
    assert kept.attrs["crs_from"] == "declared"
    assert kept.geometry.iloc[0].equals_exact(plain.geometry.iloc[0], 1e-12)
    with caplog.at_level("WARNING"):
        moved = read_input(f"{geojson}@bd09", what="communities")
    assert moved.attrs["crs_from"] == "@CRS" and moved.attrs["crs_replaced"].startswith("EPSG:4326")
    assert "replaced by bd09 as @CRS says" in caplog.text
    shift = gpd.GeoSeries(
        [plain.geometry.iloc[0].centroid, moved.geometry.iloc[0].centroid], crs=4326
    )
    d = shift.to_crs(CRS).iloc[0].distance(shift.to_crs(CRS).iloc[1])
    assert 500 < d < 1500  # BD-09 read onto WGS 84 polygons: the ~1 km shift, on purpose
    same = read_input(geojson, layer_crs="bd09", what="communities")
    assert same.attrs["crs_from"] == "--communities-crs"
    with pytest.raises(InputError, match="two different CRSs") as err:
        read_input(f"{geojson}@gcj02", layer_crs="bd09", what="communities")
    assert [p.rule for p in err.value.problems] == ["crs.conflict"]
    monkeypatch.setenv("GRIDGEO_LANG", "zh_CN")
    with pytest.raises(InputError, match="两个不同的坐标系") as err:
        read_input(f"{geojson}@gcj02", layer_crs="bd09", what="communities")
    assert "为 " in str(err.value.problems[0])


def test_split_crs_spec():
    assert split_crs_spec("a.csv@bd09") == ("a.csv", "bd09")
    assert split_crs_spec("d.gpkg:roads@EPSG:4528") == ("d.gpkg:roads", "EPSG:4528")
    assert split_crs_spec("d.gpkg:roads") == ("d.gpkg:roads", None)


def test_households_crs_option_moves_a_declared_layer(county):
    tmp_path, _comm, hh = county
    wgs = hh.to_crs(4326)
    lon, lat = wgs84_to_bd09(wgs.geometry.x.to_numpy(), wgs.geometry.y.to_numpy())
    # a GeoJSON holding BD-09 coordinates (it claims WGS 84, as every GeoJSON does)
    gpd.GeoDataFrame(
        {"户数": hh["households"].to_numpy()}, geometry=shapely.points(lon, lat), crs=4326
    ).to_file(tmp_path / "bd.geojson")
    res, out = _partition(tmp_path, str(tmp_path / "bd.geojson"), "--households-crs", "bd09")
    assert res.exit_code == 0, res.output
    assert gpd.read_file(out, layer="grids")["households"].sum() == hh["households"].sum()


@pytest.mark.parametrize("header", ["户数", "总户数"])
def test_chinese_count_header_gives_the_right_counts(county, header):
    tmp_path, _, hh = county
    _compounds_csv(tmp_path / "c.csv", hh, header)
    res, out = _partition(tmp_path, f"{tmp_path / 'c.csv'}@bd09")
    assert res.exit_code == 0, res.output
    grids = gpd.read_file(out, layer="grids")
    assert (
        grids["households"].sum() == hh["households"].sum()
    )  # not one per point counted as 200 households
    assert f"field “{header}” read as households" in res.output
    assert "no household count field" not in res.output


def test_named_count_field_and_missing_field(county):
    tmp_path, _, hh = county
    _compounds_csv(tmp_path / "c.csv", hh, "登记户数量")
    res, out = _partition(
        tmp_path, f"{tmp_path / 'c.csv'}@bd09", "--households-field", "登记户数量"
    )
    assert res.exit_code == 0, res.output
    assert gpd.read_file(out, layer="grids")["households"].sum() == hh["households"].sum()
    res, _ = _partition(tmp_path, f"{tmp_path / 'c.csv'}@bd09", "--households-field", "户")
    assert res.exit_code == 2
    assert "names “户”, which is not a field of the layer" in res.output
    assert "登记户数量" in res.output


def test_layer_without_count_field_warns_loudly_with_the_fields_and_a_suggestion(
    county, monkeypatch
):
    tmp_path, _, hh = county
    _compounds_csv(tmp_path / "c.csv", hh, "住房套数")
    res, _ = _partition(tmp_path, f"{tmp_path / 'c.csv'}@bd09")
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "no household count field found, every point will count as one household" in text
    assert "Fields present: 小区名称、经度、纬度、住房套数" in text
    assert "most likely “住房套数”: add --households-field 住房套数" in text
    res, _ = _partition(tmp_path, f"{tmp_path / 'c.csv'}@bd09", "--households-field", "1")
    assert res.exit_code == 0 and "no household count field" not in res.output
    monkeypatch.setenv("GRIDGEO_LANG", "zh_CN")  # the same warning in Chinese
    res, _ = _partition(tmp_path, f"{tmp_path / 'c.csv'}@bd09")
    text = " ".join(res.output.split())
    assert "未找到户数字段，每个点都将按一户计算" in text
    assert "现有字段：小区名称、经度、纬度、住房套数" in text
    assert "最可能的是“住房套数”：请加 --households-field 住房套数" in text


def test_count_aliases_in_the_python_api():
    gdf = gpd.GeoDataFrame(
        {"常住人口": [30, 60], "户籍户数": [10, 20], "小区": ["甲", "乙"]},
        geometry=shapely.points([(0, 0), (1, 1)]),
        crs=4326,
    )
    out, problems = resolve_count_fields(gdf)
    assert out["households"].tolist() == [10, 20]
    assert out["population"].tolist() == [30, 60]
    assert out["compound_id"].tolist() == ["甲", "乙"]
    assert {p.rule for p in problems} == {"field.alias"}


def _beijing_with_hainan(tmp_path):
    rng = np.random.default_rng(1)
    lon = 116.40 + rng.normal(0, 0.05, 40)
    lat = 39.90 + rng.normal(0, 0.05, 40)
    lon[17], lat[17] = 109.51, 18.70  # Sanya
    path = tmp_path / "beijing.csv"
    pd.DataFrame({"小区名称": [f"小区{i}" for i in range(40)], "经度": lon, "纬度": lat,
                  "户数": 500}).to_csv(path, index=False)  # fmt: skip
    return path


def test_a_hainan_point_in_a_beijing_file_is_flagged_with_its_row(tmp_path, monkeypatch):
    path = _beijing_with_hainan(tmp_path)
    reports = inspect_file(path, crs="wgs84")
    found = [p for p in reports[0].problems if p.rule == "outlier.far_from_layer"]
    assert [p.row for p in found] == [17]
    assert " km " in found[0].message and "far from the rest of the layer" in found[0].message
    res = runner.invoke(app, ["inspect", str(path), "--crs", "wgs84"])
    assert "outlier.far_from_layer" in res.output
    assert "no problems found" not in res.output
    monkeypatch.setenv("GRIDGEO_LANG", "zh_CN")
    zh = [p for p in inspect_file(path, crs="wgs84")[0].problems if p.rule == found[0].rule]
    assert "公里" in zh[0].message and "远离本图层其余要素" in zh[0].message


def test_points_far_outside_the_communities_are_flagged():
    comm, _, hh = district(n_households=600, per_point=20)
    far = hh.copy()
    far.loc[far.index[3], "geometry"] = shapely.Point(
        comm.total_bounds[2] + 5000, comm.total_bounds[3]
    )
    found = outlier_problems(far, communities=comm, outside_m=1000)
    assert [(p.row, p.rule) for p in found] == [(3, "outlier.outside_communities")]
    assert outlier_problems(hh, communities=comm) == []
