"""``gridgeo locate``: the CLI twin of /locate/batch, against the real PostGIS."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import psycopg
import pyproj
import pytest
from typer.testing import CliRunner

from gridgeo.cli.main import app
from gridgeo.settings import get_settings
from gridgeo.testing import seed_registry

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def registry(db_url):
    _comm, grids, _cs = seed_registry(db_url, 5, 4, seed=4)
    return db_url, grids


@pytest.fixture
def env(registry, monkeypatch):
    monkeypatch.setenv("GRIDGEO_DATABASE_URL", registry[0])
    get_settings.cache_clear()
    yield registry
    get_settings.cache_clear()


def _points(grids, n=300, seed=0):
    b = grids.total_bounds
    rng = np.random.default_rng(seed)
    x = rng.uniform(b[0] - 100, b[2] + 100, n)
    y = rng.uniform(b[1] - 100, b[3] + 100, n)
    lon, lat = pyproj.Transformer.from_crs(3826, 4326, always_xy=True).transform(x, y)
    return x, y, np.asarray(lon), np.asarray(lat)


@pytest.mark.parametrize("suffix", ["csv", "geojson", "arrow"])
def test_locate_cli_matches_postgis(env, tmp_path, suffix):
    url, grids = env
    x, _y, lon, lat = _points(grids)
    src = tmp_path / "points.csv"
    pd.DataFrame({"id": [f"r{i}" for i in range(len(x))], "lon": lon, "lat": lat}).to_csv(
        src, index=False, float_format="%.17g"
    )
    out = tmp_path / f"located.{suffix}"
    res = CliRunner().invoke(app, ["locate", str(src), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "located" in res.output
    if suffix == "csv":
        got = pd.read_csv(out, dtype={"grid_code": str})["grid_code"]
        got = [None if pd.isna(c) else c for c in got]
    elif suffix == "geojson":
        got = [f["properties"]["grid_code"] for f in json.loads(out.read_text())["features"]]
    else:
        import pyarrow.ipc as ipc

        got = ipc.open_stream(out.read_bytes()).read_all().column("grid_code").to_pylist()
    tx, ty = pyproj.Transformer.from_crs(4326, 3826, always_xy=True).transform(lon, lat)
    with psycopg.connect(url) as conn:
        want = [
            (
                r[0]
                if (
                    r := conn.execute(
                        "SELECT grid_code FROM registry.current_grid WHERE ST_Covers(geom, "
                        'ST_SetSRID(ST_MakePoint(%s, %s), 3826)) ORDER BY grid_code COLLATE "C" LIMIT 1',
                        (float(a), float(b)),
                    ).fetchone()
                )
                else None
            )
            for a, b in zip(tx, ty, strict=True)
        ]
    assert got == want
    assert any(w is None for w in want) and any(w is not None for w in want)


def test_locate_cli_bad_file_exits_2_naming_rows(env, tmp_path):
    src = tmp_path / "bad.csv"
    src.write_text("lon,lat\n121.5,x\n121.5,25.0\n")
    res = CliRunner().invoke(app, ["locate", str(src), "--out", str(tmp_path / "o.csv")])
    assert res.exit_code == 2
    assert "row 0" in res.output and "lat" in res.output
    assert not (tmp_path / "o.csv").exists()


def test_locate_cli_unknown_output_format(env, tmp_path):
    src = tmp_path / "p.csv"
    src.write_text("lon,lat\n121.5,25.0\n")
    res = CliRunner().invoke(app, ["locate", str(src), "--out", str(tmp_path / "o.xlsx")])
    assert res.exit_code == 2 and "cannot tell the format" in res.output


@pytest.mark.parametrize(("given", "code"), [(None, 0), ("EPSG:3826", 0), ("wgs84", 2)])
def test_locate_cli_reads_a_geoparquet_in_its_own_crs(env, tmp_path, given, code):
    """A GeoParquet of points in the county's projected CRS (its ``geo`` metadata says so) is
    located as given; a --crs that contradicts the file stops with the reason."""
    import geopandas as gpd

    _url, grids = env
    x, y, lon, lat = _points(grids, n=60, seed=3)
    src = tmp_path / "points.parquet"
    gpd.GeoDataFrame(
        {"id": [f"p{i}" for i in range(len(x))]}, geometry=gpd.points_from_xy(x, y), crs=3826
    ).to_parquet(src)
    lonlat = tmp_path / "points.csv"
    pd.DataFrame({"id": [f"p{i}" for i in range(len(x))], "lon": lon, "lat": lat}).to_csv(
        lonlat, index=False, float_format="%.17g"
    )
    args = ["locate", str(src), "--out", str(tmp_path / "a.csv")]
    res = CliRunner().invoke(app, args + (["--crs", given] if given else []))
    assert res.exit_code == code, res.output
    if code:
        assert "crs='wgs84'" in res.output and not (tmp_path / "a.csv").exists()
        return
    res = CliRunner().invoke(app, ["locate", str(lonlat), "--out", str(tmp_path / "b.csv")])
    assert res.exit_code == 0, res.output
    a = pd.read_csv(tmp_path / "a.csv", dtype={"grid_code": str, "id": str})
    b = pd.read_csv(tmp_path / "b.csv", dtype={"grid_code": str, "id": str})
    assert a["id"].tolist() == b["id"].tolist()
    assert a["grid_code"].fillna("-").tolist() == b["grid_code"].fillna("-").tolist()
    assert a["grid_code"].notna().sum() > 10
    # a GeoParquet answer says what its points' coordinates are: the file's own CRS
    res = CliRunner().invoke(app, ["locate", str(src), "--out", str(tmp_path / "c.parquet")])
    assert res.exit_code == 0, res.output
    c = gpd.read_parquet(tmp_path / "c.parquet")
    assert c.crs.to_epsg() == 3826
    assert np.allclose(c.geometry.x, x) and np.allclose(c.geometry.y, y)
