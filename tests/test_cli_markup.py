"""Text from files reaches the terminal as text: file and layer names that look like rich
markup are printed as they are, and the rule id in brackets after an error stays visible."""

from __future__ import annotations

import os
import subprocess
import sys

import geopandas as gpd
import shapely

MARKUP = "[bold red]x"  # no closing tag: a file name cannot hold "/"


def _gridgeo(*args: str, cwd) -> subprocess.CompletedProcess:
    env = os.environ | {"GRIDGEO_LANG": "en", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "gridgeo.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def test_error_keeps_file_name_and_rule_id(tmp_path):
    r = _gridgeo("inspect", f"{MARKUP}.gpkg", cwd=tmp_path)
    assert r.returncode != 0
    assert f"{MARKUP}.gpkg" in r.stderr, r.stderr
    assert "[file.not_found]" in r.stderr, r.stderr


def test_file_and_field_names_are_printed_as_text(tmp_path):
    path = tmp_path / f"{MARKUP}.gpkg"
    field = "[link=http://example.invalid]名称[/link]"
    gdf = gpd.GeoDataFrame(
        {field: ["a"]},
        geometry=[shapely.LineString([(0, 0), (100, 0)])],
        crs=32650,
    )
    gdf.to_file(path, layer="roads")
    r = _gridgeo("inspect", str(path), cwd=tmp_path)
    out = r.stdout + r.stderr
    assert field in out and f"{MARKUP}.gpkg" in out, out
