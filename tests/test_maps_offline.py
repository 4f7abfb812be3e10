"""Offline folium maps: vendored Leaflet inlined, no CDN, no default tiles."""

from __future__ import annotations

import re

import folium
import geopandas as gpd
import pytest
from branca.element import Figure
from folium.plugins import MarkerCluster
from shapely.geometry import box

from gridgeo.maps import (
    OfflineAssetError,
    add_geodataframe,
    external_references,
    offline_map,
    render_offline,
    save_offline,
)

CRS = "EPSG:4547"  # CGCS2000 / 3-degree GK CM 114E


@pytest.fixture
def grids():
    return gpd.GeoDataFrame(
        {
            "grid_code": ["431102001001001", "431102001001002"],
            "grid_worker_phone": ["13800000001", "13800000002"],
        },
        geometry=[box(500000, 3000000, 500500, 3000600), box(500500, 3000000, 501000, 3000600)],
        crs=CRS,
    )


def scripts(html: str) -> list[str]:
    return re.findall(r"<script>(.*?)</script>", html, flags=re.S)


def test_offline_map_has_no_external_references_and_no_tiles(grids):
    m = offline_map(grids, width=400, height=300)
    add_geodataframe(m, grids, tooltip=["grid_code"])
    html = render_offline(m)
    assert external_references(html) == []
    assert not re.search(r"<(script|link)[^>]+(src|href)=", html)
    assert "Leaflet 1.9.4" in html
    assert "L.tileLayer(" not in html and "openstreetmap" not in html.lower()
    assert "sourceMappingURL" not in html
    assert "jquery" not in html.lower() and "bootstrap" not in html.lower()


def test_map_is_fitted_to_the_data_in_wgs84(grids):
    m = offline_map(grids)
    lat, lon = m.location
    assert 27.0 < lat < 27.2 and 113.9 < lon < 114.1


def test_bounds_tuple_with_crs(grids):
    m = offline_map(tuple(grids.total_bounds), crs=CRS)
    assert m.location == pytest.approx(offline_map(grids).location)


def test_only_tooltip_columns_reach_the_page(grids):
    m = offline_map(grids)
    add_geodataframe(m, grids, tooltip=["grid_code"])
    html = render_offline(m)
    assert "431102001001001" in html
    assert "13800000001" not in html  # the phone column was not asked for


def test_plain_folium_map_is_made_offline_when_saved(tmp_path):
    m = folium.Map(location=[27.1, 114.0], zoom_start=14, tiles=None)
    folium.Marker([27.1, 114.0]).add_to(m)  # Leaflet's default marker: icons inlined as data URIs
    html = save_offline(m, tmp_path / "plain.html").read_text(encoding="utf-8")
    assert external_references(html) == []
    assert "Leaflet 1.9.4" in html and "data:image/png;base64," in html


def test_explicit_intranet_tiles_are_allowed(grids):
    m = offline_map(grids, tiles="http://tiles.intranet.local/{z}/{x}/{y}.png", attr="county GIS")
    html = render_offline(m)
    assert "tiles.intranet.local" in html
    assert external_references(html) == []  # a tile URL is data, not a script


@pytest.mark.parametrize(
    ("add", "needle"),
    [
        (lambda m: MarkerCluster().add_to(m), "markercluster"),
        (
            lambda m: folium.Marker([27.1, 114.0], icon=folium.Icon(color="red")).add_to(m),
            "folium.Icon",
        ),
    ],
    ids=["plugin", "icon"],
)
def test_assets_that_are_not_vendored_fail_loudly(grids, add, needle):
    m = offline_map(grids)
    add(m)
    with pytest.raises(OfflineAssetError, match=re.escape(needle)):
        render_offline(m)


def test_several_maps_in_one_figure_inline_leaflet_once(grids):
    fig = Figure()
    for row in range(2):
        offline_map(grids.iloc[[row]], width=200, height=150).add_to(fig)
    html = render_offline(fig)
    assert html.count("Leaflet 1.9.4, a JS library") == 1
    assert html.count('class="folium-map"') == 2


def test_gdf_without_crs_is_refused(grids):
    with pytest.raises(OfflineAssetError, match="no CRS"):
        offline_map(grids.set_crs(None, allow_override=True))


def test_save_is_atomic_and_leaves_no_temp_file(grids, tmp_path):
    path = save_offline(offline_map(grids), tmp_path / "m.html")
    assert [p.name for p in tmp_path.iterdir()] == ["m.html"]
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.browser
def test_page_javascript_parses(grids, browser):
    """Every inline script compiles in Chromium's JavaScript engine (parsed, not run)."""
    m = offline_map(grids)
    add_geodataframe(m, grids, tooltip=["grid_code"])
    page = browser.new_page()
    try:
        codes = scripts(render_offline(m))
        assert codes
        for code in codes:
            error = page.evaluate(
                "src => { try { new Function(src); return null } catch (e) { return String(e) } }",
                code,
            )
            assert error is None, error
        broken = page.evaluate(
            "src => { try { new Function(src); return null } catch (e) { return String(e) } }",
            "var x = {;",
        )
        assert broken.startswith("SyntaxError")  # the check can fail
    finally:
        page.close()


def test_one_layer_styled_by_a_column(grids):
    grids = grids.assign(role=["problem", "context"])
    m = offline_map(grids)
    add_geodataframe(
        m,
        grids,
        tooltip=["grid_code"],
        style_by="role",
        styles={"problem": {"color": "#d93025"}, "context": {"color": "#999999"}},
    )
    html = render_offline(m)
    assert "#d93025" in html and "#999999" in html
    assert html.count("L.geoJson(") == 1
