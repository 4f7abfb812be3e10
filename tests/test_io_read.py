"""gridgeo.io.read_layer: formats, layers, encodings, tables with lon/lat, CRS handling."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from gridgeo.crs import gcj02_to_wgs84
from gridgeo.errors import CRSError, InputError
from gridgeo.io import list_layers, read_layer, split_layer_spec

NAMES = ["云南中路居委会", "龙泉园路居委会", "贵州路居委会"]


@pytest.fixture
def communities() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": ["310101002001", "310101002002", "310101002003"], "name": NAMES},
        geometry=[
            shapely.box(121.46 + i * 0.004, 31.22, 121.464 + i * 0.004, 31.224) for i in range(3)
        ],
        crs=4490,
    )


def _write(gdf, path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pyogrio.write_dataframe(gdf, path, **kw)


def _rule(exc: InputError) -> list[str | None]:
    return [p.rule for p in exc.problems]


# --- layer specs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "path", "layer"),
    [
        ("data/x.gpkg:communities", "data/x.gpkg", "communities"),
        ("data/x.gpkg", "data/x.gpkg", None),
        ("/abs/x.gpkg:路网", "/abs/x.gpkg", "路网"),
        ("C:\\data\\x.gpkg", "C:\\data\\x.gpkg", None),
        ("C:\\data\\x.gpkg:roads", "C:\\data\\x.gpkg", "roads"),
        (Path("odd:name.gpkg"), "odd:name.gpkg", None),
    ],
)
def test_split_layer_spec(spec, path, layer):
    assert split_layer_spec(spec) == (Path(path), layer)


def test_split_layer_spec_prefers_an_existing_file_with_a_colon(tmp_path):
    odd = tmp_path / "a:b.csv"
    odd.write_text("lon,lat\n121,31\n")
    assert split_layer_spec(str(odd)) == (odd, None)


# --- GeoPackage ----------------------------------------------------------------------


def test_gpkg_layer_by_argument_and_by_spec(tmp_path, communities):
    path = tmp_path / "town.gpkg"
    _write(communities, path, layer="communities")
    _write(communities.iloc[:1], path, layer="other")
    a = read_layer(path, "communities")
    b = read_layer(f"{path}:communities")
    assert len(a) == len(b) == 3
    assert a.attrs["source"] == f"{path}:communities"
    assert a.attrs["layer"] == "communities"
    assert a["name"].tolist() == NAMES
    assert a.crs.to_epsg() == 4490
    assert a.index.tolist() == [1, 2, 3]  # GeoPackage fids
    assert list_layers(path) == [("communities", "Polygon"), ("other", "Polygon")]


def test_gpkg_with_several_layers_needs_a_layer(tmp_path, communities):
    path = tmp_path / "town.gpkg"
    _write(communities, path, layer="communities")
    _write(communities, path, layer="roads_wrong")
    with pytest.raises(InputError) as err:
        read_layer(path)
    assert _rule(err.value) == ["layer.ambiguous"]
    assert "communities, roads_wrong" in str(err.value)
    with pytest.raises(InputError) as err:
        read_layer(path, "housholds")
    assert _rule(err.value) == ["layer.not_found"]
    assert "communities" in err.value.problems[0].message


def test_two_different_layers_requested(tmp_path, communities):
    path = tmp_path / "t.gpkg"
    _write(communities, path, layer="communities")
    with pytest.raises(InputError, match="two different layers"):
        read_layer(f"{path}:communities", "roads")


def test_missing_file(tmp_path):
    with pytest.raises(InputError) as err:
        read_layer(tmp_path / "nope.gpkg")
    assert _rule(err.value) == ["file.not_found"]
    assert err.value.problems[0].file.endswith("nope.gpkg")


def test_unreadable_file(tmp_path):
    bad = tmp_path / "bad.geojson"
    bad.write_text("{ not json")
    with pytest.raises(InputError) as err:
        read_layer(bad)
    assert _rule(err.value) == ["file.unreadable"]


# --- Shapefile encodings --------------------------------------------------------------


@pytest.mark.parametrize(
    ("write_encoding", "cpg", "expected_encoding"),
    [
        ("UTF-8", "keep", "UTF-8"),
        ("UTF-8", None, "UTF-8"),  # no .cpg: detected from the bytes
        ("GBK", None, "GB18030"),  # no .cpg: the usual old-desktop-GIS case
        ("GBK", "keep", "GB18030"),  # .cpg says GBK
        ("GBK", "936", "GB18030"),
        ("GBK", "UTF-8", "GB18030"),  # .cpg lies: the bytes win, with a warning
        ("GB18030", None, "GB18030"),
    ],
)
def test_shapefile_text_is_never_mojibake(
    tmp_path, communities, write_encoding, cpg, expected_encoding
):
    gdf = communities.rename(columns={"name": "名称"})
    path = tmp_path / "c.shp"
    _write(gdf, path, encoding=write_encoding)
    cpg_path = path.with_suffix(".cpg")
    if cpg is None:
        cpg_path.unlink(missing_ok=True)
    elif cpg != "keep":
        cpg_path.write_text(cpg)
    out = read_layer(path)
    assert out["名称"].tolist() == NAMES
    assert out.attrs["encoding"] == expected_encoding
    rules = [p.rule for p in out.attrs["read_problems"]]
    assert rules == (["encoding.guess"] if cpg == "UTF-8" and write_encoding == "GBK" else [])


def test_shapefile_explicit_encoding(tmp_path, communities):
    path = tmp_path / "c.shp"
    _write(communities, path, encoding="GBK")
    path.with_suffix(".cpg").unlink()
    assert read_layer(path, encoding="gbk")["name"].tolist() == NAMES


def test_shapefile_without_prj_needs_crs(tmp_path, communities):
    path = tmp_path / "c.shp"
    _write(communities, path)
    path.with_suffix(".prj").unlink()
    with pytest.raises(CRSError) as err:
        read_layer(path)
    assert _rule(err.value) == ["crs.missing"]
    assert "crs=" in str(err.value)
    out = read_layer(path, crs="cgcs2000")
    assert out.crs.to_epsg() == 4490


# --- CRS options -----------------------------------------------------------------------


def test_crs_gcj02_converts_to_wgs84(tmp_path, communities):
    path = tmp_path / "web.geojson"
    _write(communities.set_crs(4326, allow_override=True), path, driver="GeoJSON")
    out = read_layer(path, crs="gcj02")
    assert out.crs.to_epsg() == 4326
    assert out.attrs["source_crs"] == "gcj02"
    got = shapely.get_coordinates(out.geometry.values)
    src = shapely.get_coordinates(communities.geometry.values)
    ex, ey = gcj02_to_wgs84(src[:, 0], src[:, 1])
    np.testing.assert_allclose(got[:, 0], ex, atol=1e-12)
    np.testing.assert_allclose(got[:, 1], ey, atol=1e-12)


def test_crs_override_of_geographic_file_crs(tmp_path, communities):
    path = tmp_path / "c.geojson"
    _write(communities.to_crs(4326), path, driver="GeoJSON", layer_options={"RFC7946": "YES"})
    assert read_layer(path).crs.to_epsg() == 4326  # RFC 7946 GeoJSON is WGS 84
    assert read_layer(path, crs="cgcs2000").crs.to_epsg() == 4490


def test_crs_conflicting_with_projected_file_is_an_error(tmp_path, communities):
    path = tmp_path / "c.gpkg"
    _write(communities.to_crs(4528), path)
    with pytest.raises(CRSError) as err:
        read_layer(path, crs="cgcs2000")
    assert _rule(err.value) == ["crs.conflict"]
    with pytest.raises(CRSError):
        read_layer(path, crs="gcj02")
    assert read_layer(path, crs="EPSG:4528").crs.to_epsg() == 4528


def test_unknown_crs_string(tmp_path, communities):
    path = tmp_path / "c.gpkg"
    _write(communities, path)
    with pytest.raises(CRSError, match="unknown CRS"):
        read_layer(path, crs="huoxing")


# --- CSV / Excel tables ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("xname", "yname"),
    [
        ("lon", "lat"),
        ("lng", "lat"),
        ("longitude", "latitude"),
        ("LON", "LAT"),
        ("Lng", "Lat"),
        ("x", "y"),
        ("经度", "纬度"),
    ],
)
def test_csv_coordinate_column_names(tmp_path, xname, yname):
    path = tmp_path / "pts.csv"
    path.write_text(f"name,{xname},{yname}\n甲,121.47,31.23\n乙,121.48,31.24\n", encoding="utf-8")
    out = read_layer(path, crs="wgs84")
    assert out.geometry.x.tolist() == [121.47, 121.48]
    assert out.geometry.y.tolist() == [31.23, 31.24]
    assert out["name"].tolist() == ["甲", "乙"]


@pytest.mark.parametrize(
    ("encoding", "sep"),
    [("utf-8", ","), ("utf-8-sig", ","), ("gbk", ","), ("gb18030", "\t"), ("utf-8", ";")],
)
def test_csv_encodings_and_delimiters(tmp_path, encoding, sep):
    rows = [
        ["名称", "经度", "纬度", "户数", "社区代码"],
        ["东城社区", "121.47", "31.23", "12", "310101002001"],
    ]
    path = tmp_path / "t.csv"
    path.write_bytes("".join(sep.join(r) + "\n" for r in rows).encode(encoding))
    out = read_layer(path, crs="wgs84")
    assert out["名称"].tolist() == ["东城社区"]
    assert out["户数"].tolist() == [12]
    assert out["社区代码"].tolist() == ["310101002001"]  # codes stay text
    assert out.geometry.x.tolist() == [121.47]


def test_csv_needs_crs_and_gcj02_is_converted(tmp_path):
    path = tmp_path / "phone.csv"
    path.write_text("lng,lat\n121.48,31.23\n", encoding="utf-8")
    with pytest.raises(CRSError) as err:
        read_layer(path)
    assert _rule(err.value) == ["crs.missing"]
    assert "gcj02" in str(err.value)
    out = read_layer(path, crs="gcj02")
    ex, ey = gcj02_to_wgs84(121.48, 31.23)
    assert out.geometry.x.iloc[0] == pytest.approx(ex, abs=1e-12)
    assert out.geometry.y.iloc[0] == pytest.approx(ey, abs=1e-12)


def test_csv_full_width_digits_and_degree_signs(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("经度,纬度\n１２１.４７°,31.23°\n", encoding="utf-8")
    out = read_layer(path, crs="wgs84")
    assert out.geometry.x.iloc[0] == pytest.approx(121.47)


def test_csv_keeps_leading_zero_identifiers(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,lon,lat\n007,121.47,31.23\n010,121.48,31.24\n", encoding="utf-8")
    assert read_layer(path, crs="wgs84")["id"].tolist() == ["007", "010"]


def test_csv_without_coordinate_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("名称,地址\n甲,南京东路1号\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_layer(path, crs="wgs84")
    assert _rule(err.value) == ["table.no_coordinates"]
    assert "名称, 地址" in str(err.value)


def test_excel_sheets(tmp_path):
    path = tmp_path / "t.xlsx"
    df = pd.DataFrame({"名称": ["甲"], "经度": [121.47], "纬度": [31.23], "代码": ["310101002001"]})
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        df.to_excel(xl, sheet_name="住户", index=False)
        pd.DataFrame({"说明": ["x"]}).to_excel(xl, sheet_name="说明", index=False)
    with pytest.raises(InputError) as err:
        read_layer(path, crs="wgs84")
    assert _rule(err.value) == ["layer.ambiguous"]
    out = read_layer(f"{path}:住户", crs="wgs84")
    assert out["名称"].tolist() == ["甲"]
    assert out["代码"].tolist() == ["310101002001"]
    assert out.geometry.x.iloc[0] == 121.47
    assert out.attrs["source"] == f"{path}:住户"
    assert [n for n, _ in list_layers(path)] == ["住户", "说明"]


# --- Parquet / FlatGeobuf ---------------------------------------------------------------


def test_geoparquet_and_plain_parquet(tmp_path, communities):
    gp = tmp_path / "c.parquet"
    communities.to_parquet(gp)
    out = read_layer(gp)
    assert out.crs.to_epsg() == 4490 and out["name"].tolist() == NAMES
    plain = tmp_path / "p.parquet"
    pd.DataFrame({"lon": [121.47], "lat": [31.23], "名称": ["甲"]}).to_parquet(plain)
    with pytest.raises(CRSError):
        read_layer(plain)
    out = read_layer(plain, crs="wgs84")
    assert out.geometry.x.iloc[0] == 121.47 and out["名称"].iloc[0] == "甲"


def test_flatgeobuf(tmp_path, communities):
    path = tmp_path / "c.fgb"
    _write(communities, path)
    out = read_layer(path)
    # (written with a spatial index, so the order may differ)
    assert sorted(out["name"]) == sorted(NAMES) and out.crs.to_epsg() == 4490
    assert out.attrs["source"] == str(path)


def test_real_roads_file(shared_data):
    roads = read_layer(shared_data / "huangpu" / "shanghai_huangpu_core_roads_osm.gpkg")
    assert len(roads) == 796 and roads.crs.to_epsg() == 4326
    assert roads.attrs["source"].endswith(".gpkg:roads")


@pytest.mark.parametrize("folder", ["", "边界/"])
def test_zipped_shapefile_gbk_at_root_or_in_a_folder(tmp_path, communities, folder):
    _write(communities, tmp_path / "c.shp", encoding="GBK")
    (tmp_path / "c.cpg").unlink()
    archive = tmp_path / "c.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for ext in ("shp", "shx", "dbf", "prj"):
            zf.write(tmp_path / f"c.{ext}", f"{folder}c.{ext}")
    out = read_layer(archive)
    assert out["name"].tolist() == NAMES
    assert out.crs.to_epsg() == 4490
    assert list_layers(archive) == [("c", "Polygon")]


def test_zipped_geopackage(tmp_path, communities):
    _write(communities, tmp_path / "t.gpkg", layer="communities")
    archive = tmp_path / "t.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(tmp_path / "t.gpkg", "export/t.gpkg")
    assert read_layer(archive)["name"].tolist() == NAMES


def test_only_spatial_layer_is_picked_next_to_an_attribute_table(tmp_path, communities):
    path = tmp_path / "qgis.gpkg"
    _write(communities, path, layer="communities")
    _write(pd.DataFrame({"styleName": ["默认"]}), path, layer="layer_styles")
    out = read_layer(path)
    assert out.attrs["layer"] == "communities"
    assert out.attrs["source"] == f"{path}:communities"
    with pytest.raises(InputError) as err:
        read_layer(path, "layer_styles")
    assert _rule(err.value) == ["geometry.none"]


def test_geojson_with_metres_despite_claiming_wgs84(tmp_path, communities):
    metres = tmp_path / "old_export.geojson"
    _write(communities.to_crs(4528).set_crs(4326, allow_override=True), metres, driver="GeoJSON")
    out = read_layer(metres, crs="EPSG:4528")  # the numbers are metres: the claim is wrong
    assert out.crs.to_epsg() == 4528
    assert out.total_bounds[0] > 40_000_000
    degrees = tmp_path / "lonlat.geojson"
    _write(communities.to_crs(4326), degrees, driver="GeoJSON")
    with pytest.raises(CRSError) as err:
        read_layer(degrees, crs="EPSG:4528")  # plausible lon/lat: a projected crs= conflicts
    assert _rule(err.value) == ["crs.conflict"]


def test_old_excel_is_refused_with_advice(tmp_path):
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0" + b"\x00" * 100)
    with pytest.raises(InputError) as err:
        read_layer(path, crs="wgs84")
    assert _rule(err.value) == ["file.format"]
    assert ".xlsx" in str(err.value)
