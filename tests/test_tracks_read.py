"""Reading track files: formats, CRSs, Chinese headers and bad rows (file + row reported)."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridgeo.crs import wgs84_to_bd09, wgs84_to_gcj02
from gridgeo.errors import InputError
from gridgeo.tracks import read_tracks

LON = np.array([103.8300, 103.8310, 103.8320])
LAT = np.array([36.0600, 36.0605, 36.0610])
TIMES = ["2026-11-02 08:00:00", "2026-11-02 08:00:10", "2026-11-02 08:00:20"]
T0 = pd.Timestamp("2026-11-02 00:00:00Z").value / 1e9  # 08:00 in Beijing


def write_csv(path, lon, lat, extra=None):
    df = pd.DataFrame({"网格员编号": ["G001"] * 3, "时间": TIMES, "经度": lon, "纬度": lat})
    for k, v in (extra or {}).items():
        df[k] = v
    df.to_csv(path, index=False)
    return path


def test_csv_with_chinese_headers_is_china_time(tmp_path):
    pts = read_tracks(write_csv(tmp_path / "t.csv", LON, LAT))
    assert list(pts.worker) == ["G001"] * 3
    assert list(pts.t - T0) == [0, 10, 20]
    np.testing.assert_allclose(pts.lon, LON, atol=1e-12)
    assert pts.problems == []


@pytest.mark.parametrize("crs,conv", [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_phone_app_crs_comes_back_to_wgs84(tmp_path, crs, conv):
    lon, lat = conv(LON, LAT)
    pts = read_tracks(write_csv(tmp_path / "t.csv", lon, lat), crs=crs)
    # within 1 cm of where the worker was
    assert np.abs(pts.lon - LON).max() < 1e-7 and np.abs(pts.lat - LAT).max() < 1e-7


def test_xlsx_and_worker_field(tmp_path):
    df = pd.DataFrame({"工号X": ["G7"] * 3, "时间": TIMES, "经度": LON, "纬度": LAT})
    df.to_excel(tmp_path / "t.xlsx", index=False)
    pts = read_tracks(tmp_path / "t.xlsx", worker_field="工号X")
    assert list(pts.worker) == ["G7"] * 3 and len(pts) == 3


def test_corrupted_rows_are_reported_and_good_rows_kept(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text(
        "网格员编号,时间,经度,纬度\n"
        "G001,2026-11-02 08:00:00,103.83,36.06\n"
        "G001,不是时间,103.83,36.06\n"
        "G001,2026-11-02 08:00:20,abc,36.06\n"
        ",2026-11-02 08:00:30,103.83,36.06\n"
        "G001,2026-11-02 08:00:40,103.83,360\n"
        "G001,2026-11-02 08:00:50,103.831,36.06\n",
        encoding="utf-8",
    )
    pts = read_tracks(p)
    assert list(pts.row) == [0, 5]
    found = {(pr.row, pr.field) for pr in pts.problems}
    assert found == {(1, "时间"), (2, "经度"), (3, "网格员编号"), (4, "纬度")}
    assert all(pr.file == str(p) for pr in pts.problems)


def test_mixed_crs_rows_are_reported(tmp_path):
    p = write_csv(tmp_path / "m.csv", LON, LAT, {"坐标系": ["wgs84", "wgs84", "gcj02"]})
    pts = read_tracks(p)
    assert len(pts) == 2
    [prob] = pts.problems
    assert (prob.row, prob.field, prob.rule) == (2, "坐标系", "tracks.mixed_crs")


def test_gpx_without_time_stamps(tmp_path):
    p = tmp_path / "w.gpx"
    p.write_text(
        '<?xml version="1.0"?><gpx version="1.1" creator="t" '
        'xmlns="http://www.topografix.com/GPX/1/1"><trk><name>G002</name><trkseg>'
        '<trkpt lat="36.06" lon="103.83"><time>2026-11-02T00:00:00Z</time></trkpt>'
        '<trkpt lat="36.0601" lon="103.8301"></trkpt>'
        '<trkpt lat="36.0602" lon="103.8302"><time>2026-11-02T00:00:20Z</time></trkpt>'
        "</trkseg></trk></gpx>",
        encoding="utf-8",
    )
    pts = read_tracks(p)
    assert list(pts.worker) == ["G002", "G002"] and list(pts.t - T0) == [0, 20]
    [prob] = pts.problems
    assert (prob.file, prob.row, prob.rule) == (str(p), 1, "tracks.time")

    p.write_text(
        p.read_text()
        .replace("<time>2026-11-02T00:00:00Z</time>", "")
        .replace("<time>2026-11-02T00:00:20Z</time>", "")
    )
    with pytest.raises(InputError, match="no usable GPS fix") as err:
        read_tracks(p)
    assert len(err.value.problems) == 3


def test_geojson_and_geoparquet(tmp_path):
    feats = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [x, y]},
            "properties": {"worker": "G3", "time": t},
        }
        for x, y, t in zip(LON, LAT, TIMES, strict=True)
    ]
    feats[1]["geometry"] = None
    (tmp_path / "t.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": feats})
    )
    pts = read_tracks(tmp_path / "t.geojson")
    assert list(pts.row) == [0, 2] and pts.problems[0].row == 1

    gdf = gpd.GeoDataFrame(
        {"worker": ["G4"] * 3, "time": pd.to_datetime(TIMES)},
        geometry=shapely.points(LON, LAT),
        crs=4490,
    )
    gdf.to_parquet(tmp_path / "t.parquet")
    pts = read_tracks(tmp_path / "t.parquet")
    assert list(pts.t - T0) == [0, 10, 20] and list(pts.worker) == ["G4"] * 3


@pytest.mark.parametrize("name", ["nowhere.gpx", "nowhere.csv", "nowhere.parquet"])
def test_a_missing_track_file_is_named_not_a_traceback(tmp_path, name):
    from typer.testing import CliRunner

    from gridgeo.cli.main import app

    with pytest.raises(InputError) as err:
        read_tracks(tmp_path / name)
    assert err.value.problems[0].rule == "file.not_found" and name in str(err.value)
    res = CliRunner().invoke(
        app,
        ["tracks", "import", str(tmp_path / name)],
        env={"GRIDGEO_DATABASE_URL": "postgresql://127.0.0.1:1/none"},
    )
    assert res.exit_code != 0 and "Traceback" not in res.output and name in res.output, res.output
