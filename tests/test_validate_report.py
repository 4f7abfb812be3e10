"""The validator's outputs (JSON, offline HTML, GeoPackage) and the ``gridgeo validate`` CLI."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import pyogrio
import pytest
from shapely.geometry import LineString, box
from test_validate import CRS, X, Y, case
from typer.testing import CliRunner

from gridgeo.cli.main import app
from gridgeo.validate import validate

EXTERNAL = re.compile(
    r"<script[^>]*\bsrc\s*=\s*[\"']?\s*(https?:)?//|<link[^>]*\bhref\s*=\s*[\"']?\s*(https?:)?//",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def broken():
    """Two grids with a gap, an off-road border and a bad code: errors and a warning."""
    grids, comms, hh = case(
        geoms=[box(X, Y, X + 500, Y + 600), box(X + 500, Y, X + 990, Y + 600)],
        codes=("431102001001001", "43110200100102"),
    )
    roads = gpd.GeoDataFrame(
        geometry=[LineString([(X + 700, Y - 50), (X + 700, Y + 650)])], crs=CRS
    )
    return grids, comms, hh, roads


@pytest.fixture(scope="module")
def report(broken):
    grids, comms, hh, roads = broken
    return validate(grids, comms, hh, roads, profile="yongzhou")


def test_json_report(report, tmp_path):
    path = tmp_path / "r.json"
    report.to_json(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["summary"]["errors"] == report.errors > 0
    assert data["summary"]["in_band"]["share"] == 1.0
    rules = {i["rule"] for i in data["issues"]}
    assert {"coverage.gap", "code.format", "roads.border_share"} <= rules
    gap = next(i for i in data["issues"] if i["rule"] == "coverage.gap")
    lon, lat = gap["geometry"]["coordinates"][0][0]
    assert 113.9 < lon < 114.1 and 27 < lat < 27.2  # GeoJSON in WGS 84
    assert gap["grid_codes"] == ["43110200100102"]
    assert len(data["grids"]) == 2 and data["grids"][0]["households"] == 400


def test_html_report_is_offline_with_one_map_and_a_closeup_per_problem(report, tmp_path):
    path = report.to_html(tmp_path / "r.html")
    html = path.read_text(encoding="utf-8")
    assert not EXTERNAL.search(html), EXTERNAL.search(html).group(0)
    assert "Leaflet 1.9.4" in html  # inlined, not linked
    assert html.count('class="folium-map"') == 1  # one map of the grids, shared
    assert html.count('class="closeup"') == len(report.issues)
    for message in report.issues["message"]:
        assert message.replace("'", "&#x27;") in html
    assert "in-band share" in html and "100.0%" in html
    # each close-up sits inside its problem's card (not piled up at the end)
    first = html.index('class="closeup"')
    assert html.index('id="issue-1"') < first < html.index('id="issue-2"')
    assert path.stat().st_mode & 0o077 == 0o044  # readable by others, like any output


def test_clean_report_still_shows_the_grids(tmp_path):
    result = validate(*case(), profile="yongzhou")
    assert result.exit_code == 0
    html = result.to_html(tmp_path / "clean.html").read_text(encoding="utf-8")
    assert html.count('class="folium-map"') == 1 and "431102001001001" in html


def test_report_headings_follow_the_language(report, tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDGEO_LANG", "zh_CN")
    html = report.to_html(tmp_path / "zh.html").read_text(encoding="utf-8")
    assert "网格校验报告" in html and "网格总图" in html and "未满足的规则" in html
    assert " CST" in html and "UTC" not in html  # written in Asia/Shanghai time


def test_report_of_many_problems_stays_small(tmp_path):
    """Every grid with a bad code: the geometry is embedded once, not once per problem."""
    from shapely.geometry import box

    n = 60
    geoms = [box(X + 100 * i, Y, X + 100 * (i + 1), Y + 600) for i in range(n)]
    grids, comms, hh = case(
        geoms=geoms, codes=tuple(f"bad{i}" for i in range(n)), counts=(400,) * n
    )
    result = validate(grids, comms, hh, profile="yongzhou")
    assert len(result.issues) >= n
    path = result.to_html(tmp_path / "many.html")
    assert path.stat().st_size < 1_000_000
    assert path.read_text(encoding="utf-8").count('class="closeup"') >= n


def test_html_report_shows_attribute_text_literally(tmp_path):
    grids, comms, hh = case(codes=("431102001001001", "{{ 7*7 }}<b>"))
    html = validate(grids, comms, hh, profile="yongzhou").to_html(tmp_path / "r.html")
    text = html.read_text(encoding="utf-8")
    assert "{{ 7*7 }}&lt;b&gt;" in text and "49&lt;b&gt;" not in text
    assert "{{ 7*7 }}\\u003cb>" in text  # in the data block, "<" can never close the script


def test_html_report_caps_the_number_of_closeups(report, tmp_path):
    html = report.to_html(tmp_path / "r.html", max_maps=1).read_text(encoding="utf-8")
    assert html.count('class="closeup"') == 1
    assert "Close-ups are drawn for the first 1 problems" in html


def test_geopackage_layers_open_with_one_geometry_type_each(report, tmp_path):
    path = report.to_geopackage(tmp_path / "problems.gpkg")
    layers = dict(pyogrio.list_layers(path))
    assert layers == {"problems": "MultiPolygon", "problems_lines": "MultiLineString"}
    polys = gpd.read_file(path, layer="problems")
    lines = gpd.read_file(path, layer="problems_lines")
    assert len(polys) + len(lines) == len(report.issues)
    assert set(lines["rule"]) == {"roads.border_share"}
    assert polys.crs.equals(CRS)
    assert {"rule", "severity", "grid_codes", "message"} <= set(polys.columns)


def test_clean_grids_have_exit_code_zero():
    assert validate(*case(), profile="yongzhou").exit_code == 0


# --------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def files(broken, tmp_path_factory):
    folder = tmp_path_factory.mktemp("validate_cli")
    grids, comms, hh, roads = broken
    district = folder / "district.gpkg"
    comms.to_file(district, layer="communities")
    hh.to_file(district, layer="households")
    roads.to_file(district, layer="roads")
    grids.to_file(folder / "grids.gpkg", layer="grids")
    good, _, _ = case()
    good.to_file(folder / "good.gpkg", layer="grids")
    comms.drop(columns="code").to_file(folder / "nocode.gpkg", layer="communities")
    return folder


def _run(*args):
    result = CliRunner().invoke(app, ["validate", *map(str, args)])
    result.text = " ".join(result.output.split())  # rich wraps long lines
    return result


def test_cli_exit_1_and_writes_every_report(files):
    outs = [files / "out.json", files / "out.html", files / "out.gpkg"]
    result = _run(
        files / "grids.gpkg",
        "--communities",
        f"{files / 'district.gpkg'}:communities",
        "--households",
        f"{files / 'district.gpkg'}:households",
        "--roads",
        f"{files / 'district.gpkg'}:roads",
        "--profile",
        "yongzhou",
        *[a for out in outs for a in ("--report", out)],
    )
    assert result.exit_code == 1, result.text
    assert "coverage.gap" in result.text and "in-band share 100.0%" in result.text
    assert all(out.exists() for out in outs)


def test_cli_exit_0_on_clean_grids(files):
    result = _run(
        files / "good.gpkg",
        "--communities",
        f"{files / 'district.gpkg'}:communities",
        "--households",
        f"{files / 'district.gpkg'}:households",
    )
    assert result.exit_code == 0, result.text
    assert "0 errors" in result.text


def test_cli_code_pattern_changes_the_verdict(files):
    args = [
        files / "good.gpkg",
        "--communities",
        f"{files / 'district.gpkg'}:communities",
    ]
    assert _run(*args).exit_code == 0
    result = _run(*args, "--code-pattern", r"\d{11}")
    assert result.exit_code == 1 and "code.format" in result.text


@pytest.mark.parametrize(
    ("communities", "expect"),
    [
        ("missing.gpkg:communities", "file not found"),
        ("nocode.gpkg", "'code' field"),
    ],
)
def test_cli_exit_2_on_unusable_input(files, communities, expect):
    result = _run(files / "good.gpkg", "--communities", files / communities)
    assert result.exit_code == 2, result.text
    assert expect in result.text


def test_cli_rejects_an_unknown_report_format_before_working(files):
    result = _run(
        files / "good.gpkg",
        "--communities",
        f"{files / 'district.gpkg'}:communities",
        "--report",
        files / "out.pdf",
    )
    assert result.exit_code == 2 and ".json, .html or .gpkg" in result.text


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk"])
def test_cli_staff_table_csv(files, encoding):
    staff = files / f"staff_{encoding}.csv"
    staff.write_text(
        "grid_code,grid_name,grid_worker,grid_worker_phone,grid_head,grid_head_phone,supervision_phone\n"
        "431102001001001,一网格,张三,13800000001,王五,13800000003,0746-12345\n"
        "431102001001002,二网格,李四,13800000002,王五,,0746-12345\n",
        encoding=encoding,
    )
    result = _run(
        files / "good.gpkg",
        "--communities",
        f"{files / 'district.gpkg'}:communities",
        "--staff",
        staff,
    )
    assert result.exit_code == 1, result.text
    assert "posting.missing" in result.text
    assert "grid 431102001001002 lacks grid_head_phone" in result.text


@pytest.mark.browser
def test_html_report_maps_render_offline_in_chromium(report, tmp_path, browser):
    """Open the report from disk in headless Chromium: every map draws, nothing is fetched."""
    path = report.to_html(tmp_path / "r.html")
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    n_maps = page.locator(".folium-map.leaflet-container").count()
    n_shapes = page.locator(".leaflet-overlay-pane path").count()
    n_drawn = page.locator("svg.closeup path.problem").count()
    context.close()
    assert not errors, errors
    fetched = [u for u in requests if not u.startswith(("file:", "data:", "blob:"))]
    assert not fetched, f"the report fetched {fetched}"
    assert n_maps == 1, "one initialised Leaflet map of the grids"
    assert n_shapes >= len(report.issues), "the map draws the grids and the problems"
    assert n_drawn == sum(not g.is_empty for g in report.issues.geometry), "a close-up each"
