"""The public grid pages: written by `publish_site`, served at /public/, opened in Chromium.

Two real Da'an communities in a fresh registry (tests/boards_seed.py). The site is
served by the real app in uvicorn on 127.0.0.1; every request the browser makes is
recorded and must stay on the machine.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import shapely
from boards_seed import COUNTY, SUPERVISION, seed_registry
from live_server import live_server

from gridgeo.crs import wgs84_to_gcj02
from gridgeo.publish import Basemap, publish_site
from gridgeo.publish.site import _community_page
from gridgeo.registry.posting import BoardFacts, board_facts, communities
from gridgeo.service import create_app
from gridgeo.service.settings import ServiceSettings
from gridgeo.settings import Settings

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def seeded(db_url, tmp_path_factory):
    return seed_registry(db_url, tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="module")
def site(db_url, seeded, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("public")
    publish_site(db_url, out, base_url="http://127.0.0.1/public", size="A4")
    return out


@pytest.fixture(scope="module")
def server(db_url, site):
    app = create_app(
        Settings(database_url=db_url, public_dir=site),
        ServiceSettings(listen=False, token_cache_s=0.0),
    )
    with live_server(app) as base:
        yield base


def test_site_has_an_index_a_page_a_board_and_local_assets_only(db_url, site):
    codes = list(communities(db_url, COUNTY)["code"])
    index = (site / "index.html").read_text()
    for code in codes:
        assert f'href="c/{code}.html"' in index
        assert (site / "c" / f"{code}.html").is_file()
        assert (site / "boards" / f"board_{code}.pdf").stat().st_size > 10_000
    assert (site / "assets" / "leaflet" / "leaflet.js").is_file()
    for page in site.rglob("*.html"):
        html = page.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"inline script in {page}"
        assert not re.search(r"""(src|href)=["'](https?:)?//""", html), f"external asset in {page}"
    for data in (site / "data").glob("*.json"):
        text = data.read_text()
        assert "households" not in text and "population" not in text


def test_names_are_escaped_in_the_pages(db_url, seeded):
    f = board_facts(db_url, [communities(db_url, COUNTY)["code"].iloc[0]])[0]
    evil = '<img src=x onerror="alert(1)">'
    grids = f.grids.copy()
    grids.loc[0, "grid_name"] = evil
    bad = BoardFacts(**{**f.__dict__, "community_name": evil, "grids": grids})
    html = _community_page(bad, {}, True, "2026-11-29")
    assert evil not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def test_gcj02_basemap_shifts_the_overlay(db_url, seeded, tmp_path):
    code = communities(db_url, COUNTY)["code"].iloc[0]
    plain, shifted = tmp_path / "plain", tmp_path / "gcj"
    publish_site(db_url, plain, prefix=code, boards=False)
    publish_site(
        db_url,
        shifted,
        prefix=code,
        boards=False,
        basemap=Basemap("gcj02", "http://tiles.intranet/{z}/{x}/{y}.png", "GCJ-02"),
    )
    a = json.loads((plain / "data" / f"{code}.json").read_text())
    b = json.loads((shifted / "data" / f"{code}.json").read_text())
    assert (
        b["crs"] == "GCJ-02"
        and json.loads((shifted / "config.json").read_text())["basemap"] == "gcj02"
    )
    lon, lat = shapely.get_coordinates(shapely.geometry.shape(a["features"][0]["geometry"]))[0]
    glon, glat = shapely.get_coordinates(shapely.geometry.shape(b["features"][0]["geometry"]))[0]
    elon, elat = wgs84_to_gcj02(lon, lat)
    assert (glon, glat) == pytest.approx((elon, elat), abs=2e-6)
    # the shift is hundreds of metres: the reason for shifting
    assert shapely.Point(lon, lat).distance(shapely.Point(glon, glat)) > 0.002


def test_service_serves_the_site_and_nothing_else(server):
    assert httpx.get(f"{server}/public/").status_code == 200
    assert "网格公示" in httpx.get(f"{server}/public/index.html").text
    for bad in (
        "/public/../../etc/passwd",
        "/public/%2e%2e/%2e%2e/etc/passwd",
        "/public/c/nope.html",
        "/public/%00",
        "/public/" + "a" * 5000,
        "/public/c/%2e%2e/%2e%2e/pyproject.toml",
    ):
        r = httpx.get(f"{server}{bad}")
        assert r.status_code == 404, (bad, r.status_code)


@pytest.mark.browser
def test_every_community_page_loads_offline_with_grids_and_contacts(
    browser, server, db_url, seeded
):
    codes = list(communities(db_url, COUNTY)["code"])
    facts = {f.community_code: f for f in board_facts(db_url, codes)}
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="zh-CN")
    page = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda req: requests.append(req.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.goto(f"{server}/public/")
    links = page.locator("a[href^='c/']")
    assert links.count() == len(codes)
    for code in codes:
        f = facts[code]
        page.goto(f"{server}/public/c/{code}.html")
        page.wait_for_selector(f"#map[data-ready='{len(f.grids)}']", timeout=20_000)
        assert page.locator(".leaflet-tooltip.grid-label").count() == len(f.grids)
        assert page.locator(".leaflet-overlay-pane path").count() == len(f.grids)
        body = page.locator("body").inner_text()
        assert SUPERVISION in body
        for name in f.grids["grid_name"]:
            assert name in body
        for c in f.contacts.itertuples():
            assert c.person_name in body and c.phone in body
        assert "户" not in body and "人口" not in body
        # a popup shows the posted contacts of the grid clicked
        page.locator(".leaflet-overlay-pane path").first.click(force=True)
        popup = page.locator(".leaflet-popup-content").inner_text()
        assert "网格长" in popup and re.search(r"100-0000-\d{4}", popup)
        board = page.locator("a.board").get_attribute("href")
        assert httpx.get(f"{server}/public/c/{board}").status_code == 200
    assert errors == []
    foreign = [
        u
        for u in requests
        if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname != "127.0.0.1"
    ]
    assert foreign == []
    page.screenshot(path=str(Path("/tmp/public_page.png")))
    context.close()
