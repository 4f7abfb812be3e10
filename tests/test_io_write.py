"""gridgeo.io.write_layers: round trips for every format, atomic writes, format rules."""

from __future__ import annotations

import json
import os

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from gridgeo.errors import CRSError, InputError
from gridgeo.io import _write as write_mod
from gridgeo.io import list_layers, read_layer, write_layers

NAMES = ["云南中路居委会", "龙泉园路居委会", "外滩（中山东一路）社区"]


def _grids(crs=4490) -> gpd.GeoDataFrame:
    ring = shapely.box(121.4601, 31.2201, 121.4639, 31.2239)
    hole = shapely.box(121.4610, 31.2210, 121.4620, 31.2220)
    geoms = [
        shapely.Polygon(ring.exterior.coords, [hole.exterior.coords]),
        shapely.MultiPolygon(
            [
                shapely.box(121.4641, 31.2201, 121.4679, 31.2219),
                shapely.box(121.4641, 31.2221, 121.4679, 31.2239),
            ]
        ),
        shapely.Polygon(
            [
                (121.468123456789, 31.22),
                (121.47234567891, 31.2201),
                (121.4711, 31.2243),
                (121.468123456789, 31.22),
            ]
        ),
    ]
    gdf = gpd.GeoDataFrame(
        {
            "grid_code": ["310101002001001", "310101002001002", "310101002002001"],
            "grid_name": NAMES,
            "households": [312, 455, 498],
            "area_m2": [1234.5, 2345.25, 3456.125],
        },
        geometry=geoms,
        crs=4326,
    )
    return gdf.to_crs(crs) if crs != 4326 else gdf


def _same_geometry(a, b, tol):
    """Same types and vertices: exactly (tol=0) or every vertex within ``tol``."""
    a = np.asarray(a, dtype=object)
    b = np.asarray(b, dtype=object)
    if list(shapely.get_type_id(a)) != list(shapely.get_type_id(b)):
        return False
    if tol == 0:
        return bool(shapely.equals_exact(shapely.normalize(a), shapely.normalize(b)).all())
    same_size = (shapely.get_num_coordinates(a) == shapely.get_num_coordinates(b)).all()
    return bool(same_size and (shapely.hausdorff_distance(a, b) <= tol).all())


FORMATS = [
    ("gpkg", {}, 4490, 0.0),
    ("shp", {}, 4490, 0.0),
    ("shp", {"encoding": "GBK"}, 4490, 0.0),
    ("geojson", {}, 4326, 1e-9),
    ("parquet", {}, 4490, 0.0),
    ("fgb", {}, 4490, 0.0),
    ("gpkg", {}, 4528, 0.0),  # Gauss–Krüger metres
    ("parquet", {}, 4528, 0.0),
]


@pytest.mark.parametrize(
    ("suffix", "kwargs", "crs", "tol"),
    FORMATS,
    ids=[f"{s}-{k.get('encoding', 'utf8')}-{c}" for s, k, c, _ in FORMATS],
)
def test_round_trip_keeps_geometry_crs_and_chinese_text(tmp_path, suffix, kwargs, crs, tol):
    src = _grids(crs)
    path = tmp_path / f"grids.{suffix}"
    write_layers(path, {"grids": src}, **kwargs)
    back = read_layer(path)
    assert back.crs.equals(src.crs)
    assert back["grid_name"].tolist() == NAMES
    assert back["grid_code"].tolist() == src["grid_code"].tolist()
    assert back["households"].tolist() == [312, 455, 498]
    np.testing.assert_allclose(back["area_m2"], src["area_m2"])
    assert _same_geometry(back.geometry.values, src.geometry.values, tol)
    # and a second round trip changes nothing
    path2 = tmp_path / f"again.{suffix}"
    write_layers(path2, {"grids": back}, **kwargs)
    again = read_layer(path2)
    assert _same_geometry(again.geometry.values, back.geometry.values, tol)
    assert again["grid_name"].tolist() == NAMES


def test_round_trip_from_csv_with_chinese_columns(tmp_path):
    csv = tmp_path / "h.csv"
    csv.write_bytes("名称,经度,纬度,户数\n甲楼,121.4712345678,31.2312345678,12\n".encode("gbk"))
    pts = read_layer(csv, crs="cgcs2000")
    for suffix in ("gpkg", "shp", "parquet", "fgb", "geojson"):
        path = tmp_path / f"h.{suffix}"
        kwargs = {"encoding": "GBK"} if suffix == "shp" else {}
        write_layers(path, {"households": pts}, **kwargs)
        back = read_layer(path)
        assert back["名称"].tolist() == ["甲楼"], suffix
        assert back.geometry.x.iloc[0] == pytest.approx(121.4712345678, abs=1e-9), suffix
        assert back.geometry.y.iloc[0] == pytest.approx(31.2312345678, abs=1e-9), suffix


def test_gpkg_holds_several_layers(tmp_path):
    grids = _grids()
    viol = gpd.GeoDataFrame(
        {"rule": ["size.band"], "reason": ["户数 120，低于 300"]},
        geometry=[grids.geometry.iloc[0]],
        crs=grids.crs,
    )
    path = tmp_path / "out.gpkg"
    write_layers(path, {"grids": grids, "violations": viol})
    assert [n for n, _ in list_layers(path)] == ["grids", "violations"]
    assert read_layer(path, "violations")["reason"].tolist() == ["户数 120，低于 300"]


def test_existing_gpkg_is_replaced_as_a_whole(tmp_path):
    path = tmp_path / "out.gpkg"
    write_layers(path, {"a": _grids(), "b": _grids()})
    write_layers(path, {"c": _grids()})
    assert [n for n, _ in list_layers(path)] == ["c"]


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    real = pyogrio.write_dataframe
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(write_mod.pyogrio, "write_dataframe", flaky)
    path = tmp_path / "out.gpkg"
    with pytest.raises(InputError) as err:
        write_layers(path, {"grids": _grids(), "violations": _grids()})
    assert err.value.problems[0].rule == "write.failed"
    assert err.value.problems[0].layer == "violations"
    assert "disk on fire" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "out.gpkg"
    write_layers(path, {"grids": _grids()})
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(write_mod.pyogrio, "write_dataframe", broken)
    with pytest.raises(InputError):
        write_layers(path, {"grids": _grids().iloc[:1]})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.gpkg"]


def test_failed_shapefile_write_leaves_nothing(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(write_mod.pyogrio, "write_dataframe", broken)
    with pytest.raises(InputError):
        write_layers(tmp_path / "g.shp", {"grids": _grids()})
    assert list(tmp_path.iterdir()) == []


def test_geojson_is_rfc7946(tmp_path):
    path = tmp_path / "g.geojson"
    src = _grids(4528)
    write_layers(path, {"grids": src})
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert "crs" not in doc  # RFC 7946: always WGS 84, no crs member
    ring = doc["features"][0]["geometry"]["coordinates"][0]
    lon, lat = ring[0]
    assert 121.4 < lon < 121.5 and 31.2 < lat < 31.3  # lon/lat order, degrees
    # exterior rings counter-clockwise
    assert shapely.LinearRing(ring).is_ccw
    assert doc["features"][0]["properties"]["grid_name"] == NAMES[0]
    back = read_layer(path)
    assert _same_geometry(back.geometry.values, src.to_crs(4326).geometry.values, 1e-9)


def test_gbk_shapefile_for_old_desktop_gis(tmp_path):
    path = tmp_path / "g.shp"
    write_layers(path, {"grids": _grids()}, encoding="GBK")
    assert path.with_suffix(".cpg").read_text().strip() == "GBK"
    dbf = path.with_suffix(".dbf").read_bytes()
    assert dbf[29] == 0x4D  # code page 936 language driver id
    assert NAMES[0].encode("gbk") in dbf
    path.with_suffix(".cpg").unlink()  # software that ignores .cpg still gets it right
    assert read_layer(path)["grid_name"].tolist() == NAMES


def test_shapefile_folder_with_several_layers(tmp_path):
    out = tmp_path / "shp"
    pts = _grids().copy()
    pts["geometry"] = pts.geometry.representative_point()
    write_layers(out, {"grids": _grids(), "labels": pts}, driver="ESRI Shapefile")
    assert sorted(p.name for p in out.glob("*.shp")) == ["grids.shp", "labels.shp"]
    assert read_layer(out / "labels.shp")["grid_name"].tolist() == NAMES


@pytest.mark.parametrize("suffix", ["geojson", "parquet", "fgb", "shp"])
def test_single_layer_formats_refuse_several_layers(tmp_path, suffix):
    with pytest.raises(InputError) as err:
        write_layers(tmp_path / f"x.{suffix}", {"a": _grids(), "b": _grids()})
    assert err.value.problems[0].rule == "write.single_layer"
    assert list(tmp_path.iterdir()) == []


def test_shapefile_refuses_mixed_geometry(tmp_path):
    gdf = _grids()
    gdf.loc[1, "geometry"] = shapely.Point(121.47, 31.23)
    with pytest.raises(InputError) as err:
        write_layers(tmp_path / "x.shp", {"grids": gdf})
    assert err.value.problems[0].rule == "write.mixed_geometry"
    write_layers(tmp_path / "x.gpkg", {"grids": gdf})  # GeoPackage takes it


def test_layer_without_crs_is_refused(tmp_path):
    with pytest.raises(CRSError):
        write_layers(tmp_path / "x.gpkg", {"grids": _grids().set_crs(None, allow_override=True)})
    assert list(tmp_path.iterdir()) == []


def test_unknown_format_and_bad_options(tmp_path):
    with pytest.raises(ValueError, match="suffix"):
        write_layers(tmp_path / "x.kml", {"a": _grids()})
    with pytest.raises(ValueError, match="driver"):
        write_layers(tmp_path / "x.gpkg", {"a": _grids()}, driver="DXF")
    with pytest.raises(ValueError, match="UTF-8"):
        write_layers(tmp_path / "x.gpkg", {"a": _grids()}, encoding="GBK")
    with pytest.raises(ValueError, match="at least one"):
        write_layers(tmp_path / "x.gpkg", {})


def test_driver_overrides_suffix(tmp_path):
    path = tmp_path / "x.data"
    write_layers(path, {"grids": _grids()}, driver="GPKG")
    assert read_layer(path, "grids")["grid_name"].tolist() == NAMES


def test_gbk_refuses_characters_it_cannot_hold_and_gb18030_keeps_them(tmp_path):
    gdf = _grids()
    gdf.loc[1, "grid_name"] = "𠀾村网格"  # CJK extension B: not in GBK
    with pytest.raises(InputError) as err:
        write_layers(tmp_path / "g.shp", {"grids": gdf}, encoding="GBK")
    (p,) = err.value.problems
    assert (p.rule, p.row, p.field) == ("write.encoding", 1, "grid_name")
    assert list(tmp_path.iterdir()) == []
    write_layers(tmp_path / "g.shp", {"grids": gdf}, encoding="GB18030")
    assert (tmp_path / "g.cpg").read_text().strip() == "GB18030"
    assert read_layer(tmp_path / "g.shp")["grid_name"].tolist()[1] == "𠀾村网格"


def test_atomic_write_keeps_the_old_file_and_no_temporary_on_failure(tmp_path):
    """gridgeo.io.atomic: the one temp-file-then-rename helper every writer uses."""
    from gridgeo.io.atomic import atomic_path, write_text_atomic

    target = tmp_path / "report.json"
    write_text_atomic(target, "旧")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("disk full")
    assert target.read_text(encoding="utf-8") == "旧"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
    write_text_atomic(target, "新")
    assert target.read_text(encoding="utf-8") == "新"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_private_atomic_write_stays_owner_only(tmp_path):
    """A file holding secrets (the private instance's passwords) is 0600 after every rewrite,
    also when it was readable by others before."""
    from gridgeo.io.atomic import write_text_atomic

    path = tmp_path / "state.json"
    write_text_atomic(path, "{}")
    os.chmod(path, 0o644)
    write_text_atomic(path, '{"password": "x"}', private=True)
    assert path.stat().st_mode & 0o777 == 0o600
    write_text_atomic(path, '{"password": "y", "port": 5433}', private=True)
    assert path.stat().st_mode & 0o777 == 0o600 and "5433" in path.read_text()
