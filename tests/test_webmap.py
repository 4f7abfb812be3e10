"""The browser console (/console/) in headless Chromium against the real service and PostGIS.

The district is real: seven Da'an villages partitioned with the default profile and
accepted into a fresh registry, with the demo's sample grid workers and departments.
The service runs in uvicorn on a free 127.0.0.1 port; Chromium is Debian's
(``/usr/bin/chromium``) driven by Playwright. No test skips: without the browser the
tests fail saying what is missing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from live_server import live_server

from gridgeo.crs import wgs84_to_bd09, wgs84_to_gcj02
from gridgeo.demo.build import build_district
from gridgeo.demo.people import demo_people
from gridgeo.demo.sample import sample_departments, sample_staff
from gridgeo.io import read_layer
from gridgeo.partition import partition
from gridgeo.registry import Principal, accept_changeset, file_changeset, load_grids
from gridgeo.registry.bindings import bind_profile
from gridgeo.service import create_app, routes_webmap
from gridgeo.service.routes_webmap import router as webmap_router
from gridgeo.service.settings import ServiceSettings
from gridgeo.settings import Settings

pytestmark = pytest.mark.db

ADMIN = "webmap-admin-token"
COUNTY, CITY, CODES = "63000030", "63000", r"\d{11}"
SCREENSHOT = Path("/tmp/webmap.png")


@pytest.fixture(scope="module")
def district(db_url):
    """Seven neighbouring Da'an villages, partitioned and accepted, with sample contacts."""
    from gridgeo.demo.pipeline import register_sample_contacts

    built = build_district("daan")  # data/build/daan.gpkg: reused while up to date
    communities = read_layer(built.path, "communities")
    first = communities.geometry.iloc[0]
    chosen = communities[communities.geometry.intersects(first.buffer(5))]
    households = read_layer(built.path, "households")
    roads = read_layer(built.path, "roads")
    result = partition(
        chosen,
        roads.clip(chosen.total_bounds),
        households[households["community_code"].isin(chosen["code"])],
        profile="yongzhou",
        code_pattern=CODES,
    )
    editor, reviewer = demo_people(db_url, county=COUNTY, city=CITY)
    loaded = load_grids(
        db_url,
        result.grids,
        county=COUNTY,
        actor=editor,
        communities=chosen,
        profile="yongzhou",
        code_pattern=CODES,
    )
    bind_profile(
        db_url,
        COUNTY,
        "yongzhou",
        actor=Principal("admin", "admin"),
        code_pattern=CODES,
        receiver_code=CITY,
    )
    file_changeset(
        db_url, loaded.changeset_id, actor=editor, force=True, force_reason="示例数据 (test)"
    )
    accept_changeset(db_url, loaded.changeset_id, actor=reviewer)
    staff = sample_staff(result.grids)
    register_sample_contacts(db_url, staff, sample_departments(), county=COUNTY, city=CITY)
    grids = result.grids.to_crs(4326)
    return {
        "grids": grids,
        "communities": chosen,
        "staff": staff,
        "departments": sample_departments(),
    }


@pytest.fixture(scope="module")
def server(db_url, district):
    """The real app (with the console router) in uvicorn on a free 127.0.0.1 port."""
    app = create_app(
        Settings(database_url=db_url),
        ServiceSettings(admin_token=ADMIN, listen=False, token_cache_s=0.0),
    )
    app.include_router(webmap_router)
    with live_server(app) as base:
        # a category in the matter list that no department covers
        r = httpx.post(
            f"{base}/categories",
            json={"code": "stray_animals", "name": "流浪动物", "is_sample": True},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        assert r.status_code == 201, r.text
        yield base


@dataclass
class Console:
    """A console page with everything it requested and every error it logged."""

    page: object
    base: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def foreign(self) -> list[str]:
        """Requests to anything but 127.0.0.1 (data: and blob: URLs are no requests)."""
        out = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob"):
                continue
            if parts.hostname != "127.0.0.1":
                out.append(url)
        return out


@pytest.fixture
def console(browser, server, monkeypatch):
    monkeypatch.delenv("GRIDGEO_LANG", raising=False)  # the browser's language (zh-CN) decides
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    con = Console(page, server)
    page.on("request", lambda req: con.requests.append(req.url))
    page.on("console", lambda msg: msg.type == "error" and con.errors.append(msg.text))
    page.on("pageerror", lambda exc: con.errors.append(f"uncaught: {exc}"))
    page.goto(f"{server}/")
    page.wait_for_selector("body[data-ready=true]", timeout=20_000)
    yield con
    context.close()


def _inside(grid_geom) -> tuple[float, float]:
    """A WGS 84 point well inside a grid (about 20 m from its border)."""
    inner = grid_geom.buffer(-0.0002)
    p = (inner if not inner.is_empty else grid_geom).representative_point()
    return p.x, p.y


def _click(con: Console, lon: float, lat: float) -> None:
    """Centre the map on a point and click it there, as a user would."""
    con.page.evaluate("([lat, lon]) => window.gridgeo.map.setView([lat, lon], 17)", [lat, lon])
    box = con.page.locator("#map").bounding_box()
    con.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def _type(con: Console, lon: str, lat: str, crs: str = "wgs84") -> None:
    con.page.fill("#lon", lon)
    con.page.fill("#lat", lat)
    con.page.select_option("#crs", crs)
    con.page.click("#locate-btn")


# -- the browser ------------------------------------------------------------------------


@pytest.mark.browser
def test_page_loads_offline_with_no_console_errors(console, district):
    page = console.page
    assert page.url == f"{console.base}/console/"
    assert page.evaluate("window.L.version") == "1.9.4"
    n = len(district["grids"])
    assert page.locator("#status").inner_text().startswith(f"{n} 个网格 · 7 个社区")
    assert page.locator("#error").is_hidden()
    assert console.errors == []
    assert console.foreign() == []
    assert any(u.endswith("/collections/grids/items?limit=2000") for u in console.requests)


@pytest.mark.browser
def test_grid_polygons_and_community_borders_are_drawn(console, district):
    page = console.page
    # all the test grids are urban: one blue polygon per grid
    assert page.locator('#map path[fill="#2563eb"]').count() == len(district["grids"])
    assert page.locator('#map path[stroke="#7c2d12"]').count() == len(district["communities"])


@pytest.mark.browser
def test_chinese_labels_are_in_the_page(console, district):
    page = console.page
    # grid labels are hidden below zoom 16: read them from the DOM, then zoom in
    names = set(page.eval_on_selector_all(".grid-label", "els => els.map(e => e.textContent)"))
    assert names == set(district["grids"]["grid_name"])
    assert "德安里第1网格" in names
    communities = set(
        page.eval_on_selector_all(".community-label", "els => els.map(e => e.textContent)")
    )
    assert communities == set(district["communities"]["name"])
    page.evaluate("window.gridgeo.map.setZoom(16)")
    page.wait_for_function("document.querySelector('#map').classList.contains('show-grid-labels')")
    labels = page.locator(".grid-label:visible").all_inner_texts()
    assert labels and all(re.fullmatch(r".+里第\d+[网網]格", t) for t in labels)
    options = page.locator("#category option").all_inner_texts()
    assert "流浪动物 (stray_animals)" in options
    deps = district["departments"]
    assert {
        f"{n} ({c})" for n, c in zip(deps["category"], deps["category_code"], strict=True)
    } <= set(options)


@pytest.mark.browser
def test_click_inside_a_grid_shows_grid_worker_department_and_highlight(console, district):
    page = console.page
    grids = district["grids"]
    row = grids.iloc[len(grids) // 2]
    lon, lat = _inside(row.geometry)
    page.select_option("#category", "sanitation")
    _click(console, lon, lat)
    page.wait_for_selector("#grid-code")
    assert page.inner_text("#grid-code") == row.grid_code
    assert page.inner_text("#grid-name") == row.grid_name
    staff = district["staff"]
    mine = staff[staff["grid_code"] == row.grid_code]
    workers = page.inner_text("#workers")
    heads = page.inner_text("#heads")
    for person in mine.itertuples():
        assert person.name in (heads if person.role == "head" else workers)
        assert person.phone in (heads if person.role == "head" else workers)
    dep = district["departments"].set_index("category").loc["环境卫生"]
    assert dep["department"] in page.inner_text("#department")
    assert dep["phone"] in page.inner_text("#department")
    assert page.inner_text("#near-border").endswith(("靠近边界，请核实", "不靠近边界"))
    # the located grid is highlighted, and only it
    assert page.locator('#map path[stroke="#ea580c"]').count() == 1
    assert float(page.input_value("#lon")) == pytest.approx(lon, abs=1e-4)
    assert page.locator("#error").is_hidden()
    assert console.errors == []
    assert console.foreign() == []


@pytest.mark.browser
@pytest.mark.parametrize("crs", ["wgs84", "cgcs2000", "gcj02", "bd09"])
def test_typed_point_in_each_crs_finds_its_grid(console, district, crs):
    page = console.page
    row = district["grids"].iloc[3]
    lon, lat = _inside(row.geometry)
    if crs == "gcj02":
        lon, lat = wgs84_to_gcj02(lon, lat)
    elif crs == "bd09":
        lon, lat = wgs84_to_bd09(lon, lat)
    _type(console, f"{lon:.7f}", f"{lat:.7f}", crs)
    page.wait_for_selector("#grid-code")
    assert page.inner_text("#grid-code") == row.grid_code
    assert page.inner_text("#department") == "未选择事项类别"


@pytest.mark.browser
def test_category_without_department_says_so(console, district):
    page = console.page
    row = district["grids"].iloc[0]
    page.select_option("#category", "stray_animals")
    _type(console, *(f"{v:.7f}" for v in _inside(row.geometry)))
    page.wait_for_selector("#grid-code")
    # the console and the reasons it shows speak the service's language (Chinese here)
    assert "此处没有部门负责事项类别 'stray_animals'" in page.inner_text("#department")


@pytest.mark.browser
def test_point_outside_every_grid_shows_the_reason(console):
    page = console.page
    _type(console, "121.0", "25.0")
    page.wait_for_selector("#outside")
    assert page.inner_text("#reason") == "该点不在当时有效的任何网格内"
    assert page.locator('#map path[stroke="#ea580c"]').count() == 0
    assert console.errors == []


@pytest.mark.browser
def test_malformed_lon_shows_the_api_error(console):
    page = console.page
    _type(console, "121.5x", "25.03")
    page.wait_for_selector("#error:not([hidden])")
    text = page.inner_text("#error")
    assert "HTTP 422" in text
    assert "lon: Input should be a valid number" in text
    assert '"121.5x"' not in text  # the API never echoes input back
    assert page.inner_text("#result") == ""
    # a later good answer clears the error
    _type(console, "121.0", "25.0")
    page.wait_for_selector("#outside")
    assert page.locator("#error").is_hidden()


@pytest.mark.browser
def test_screenshot(console, district):
    """One screenshot of a located grid with labels, for a human to look at."""
    page = console.page
    row = district["grids"].iloc[len(district["grids"]) // 2]
    page.select_option("#category", "sanitation")
    _click(console, *_inside(row.geometry))
    page.wait_for_selector("#grid-code")
    page.evaluate("window.gridgeo.map.setZoom(16)")
    page.wait_for_timeout(400)  # let the zoom animation end before the picture
    page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 20_000
    assert console.foreign() == []


# -- the routes ----------------------------------------------------------------------------


def test_root_redirects_to_the_console(server):
    r = httpx.get(f"{server}/", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == "/console/"
    r = httpx.get(f"{server}/console", follow_redirects=True)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "网格定位" in r.text


@pytest.mark.parametrize(
    ("path", "media"),
    [
        ("/console/app.js", "text/javascript"),
        ("/console/style.css", "text/css"),
        ("/console/vendor/leaflet/leaflet.css", "text/css"),
        ("/console/vendor/leaflet/images/layers.png", "image/png"),
    ],
)
def test_console_files_are_served(server, path, media):
    r = httpx.get(f"{server}{path}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(media)


def test_vendored_leaflet_is_served_unchanged(server):
    r = httpx.get(f"{server}/console/vendor/leaflet/leaflet.js")
    assert r.status_code == 200
    # the sha256 recorded in gridgeo/maps/static/README.md
    assert (
        hashlib.sha256(r.content).hexdigest()
        == "db49d009c841f5ca34a888c96511ae936fd9f5533e90d8b2c4d57596f4e5641a"
    )


@pytest.mark.parametrize(
    "path", ["/console/README.md", "/console/..%2Fpyproject.toml", "/console/vendor/leaflet/x.js"]
)
def test_other_files_are_not_served(server, path):
    r = httpx.get(f"{server}{path}")
    assert r.status_code == 404
    assert "[project]" not in r.text


def test_console_files_missing_is_a_clear_404(server, monkeypatch, tmp_path):
    monkeypatch.setattr(routes_webmap, "project_root", lambda: tmp_path)
    r = httpx.get(f"{server}/console/")
    assert r.status_code == 404
    assert r.json()["detail"].startswith(f"the web console file {tmp_path}/webmap/index.html")
    monkeypatch.setattr(routes_webmap, "project_root", lambda: None)  # an installed copy
    r = httpx.get(f"{server}/console/app.js")
    assert r.status_code == 200, "the package ships the console (gridgeo/_webmap)"
    monkeypatch.setattr(routes_webmap, "SHIPPED_WEBMAP", tmp_path / "gone")
    r = httpx.get(f"{server}/console/app.js")
    assert r.status_code == 404
    assert "neither the checkout's webmap/ nor the package's _webmap/" in r.json()["detail"]
