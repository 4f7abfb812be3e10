"""Hostile names in the registry: shown as text in the console, the reports and the maps.

A synthetic district whose grids and communities carry HTML and script as names is
accepted into a fresh registry; the console runs in headless Chromium against the
real service. Nothing may execute (``window.__pwned`` stays unset, no dialog opens)
and the names must show literally. The service sends a CSP with no inline script.
"""

from __future__ import annotations

import httpx
import pytest
from live_server import live_server

from gridgeo.maps.offline import add_geodataframe, offline_map, render_offline
from gridgeo.registry import Principal, accept_changeset, file_changeset, load_grids
from gridgeo.registry.bindings import bind_profile
from gridgeo.service import create_app
from gridgeo.service.settings import ServiceSettings
from gridgeo.settings import Settings
from gridgeo.testing import synthetic_district

pytestmark = pytest.mark.db

HOSTILE = [
    "<img src=x onerror=window.__pwned=1>",
    "<script>window.__pwned=2</script>",
    '"><svg onload=window.__pwned=3>',
    "<b>粗体</b>网格",
]


@pytest.fixture(scope="module")
def hostile(db_url):
    communities, grids = synthetic_district(2, 2, seed=3, county="110101", crs="EPSG:3826")
    grids = grids.copy()
    grids["grid_name"] = [HOSTILE[i % len(HOSTILE)] for i in range(len(grids))]
    communities = communities.copy()
    communities["name"] = [HOSTILE[(i + 1) % len(HOSTILE)] for i in range(len(communities))]
    admin = Principal("xss-test", "admin")
    reviewer = Principal("xss-test reviewer", "admin")  # four eyes
    res = load_grids(
        db_url, grids, county="110101", actor=admin, communities=communities, code_pattern=r"\d{12}"
    )
    bind_profile(db_url, "110101", "yongzhou", actor=admin, code_pattern=r"\d{12}")
    file_changeset(db_url, res.changeset_id, actor=admin, force=True, force_reason="test data")
    accept_changeset(db_url, res.changeset_id, actor=reviewer)
    return grids, communities


@pytest.fixture(scope="module")
def server(db_url, hostile):
    app = create_app(
        Settings(database_url=db_url), ServiceSettings(admin_token="x" * 20, listen=False)
    )
    with live_server(app) as base:
        yield base


@pytest.mark.browser
def test_hostile_names_show_as_text_and_nothing_runs(browser, server, hostile):
    grids, communities = hostile
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{server}/")
    page.wait_for_selector("body[data-ready=true]", timeout=20_000)
    page.wait_for_timeout(300)  # let any injected onerror/onload fire
    assert page.evaluate("window.__pwned") is None
    assert dialogs == []
    shown = page.eval_on_selector_all(".grid-label", "els => els.map(e => e.textContent)")
    assert sorted(shown) == sorted(grids["grid_name"])
    labels = page.eval_on_selector_all(".community-label", "els => els.map(e => e.textContent)")
    assert sorted(labels) == sorted(communities["name"])
    # no element was made from a name: the tooltips hold only text
    assert page.locator("#map img[src=x], #map svg[onload], #map script, #map b").count() == 0
    # a located point shows the hostile grid name as text too
    g = grids.to_crs(4326).iloc[0]
    p = g.geometry.representative_point()
    page.fill("#lon", f"{p.x:.7f}")
    page.fill("#lat", f"{p.y:.7f}")
    page.click("#locate-btn")
    page.wait_for_selector("#grid-name")
    assert page.inner_text("#grid-name") == g.grid_name
    assert page.evaluate("window.__pwned") is None
    context.close()


def test_every_response_has_security_headers(server):
    for path in ("/console/", "/console/app.js", "/health", "/collections/grids/items", "/nope"):
        r = httpx.get(f"{server}{path}")
        csp = r.headers["content-security-policy"]
        assert "script-src 'self';" in csp, path
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
    index = httpx.get(f"{server}/console/").text
    assert "<script>" not in index  # the console has no inline script


def test_offline_map_tooltips_escape_names(hostile, tmp_path):
    grids, _ = hostile
    m = offline_map(grids)
    add_geodataframe(m, grids, tooltip=["grid_name"])
    html = render_offline(m)
    for name in HOSTILE:
        assert name not in html  # only its escaped form is in the page
    # folium writes the JSON with "&" as \\u0026: the value is "&lt;img …&gt;"
    assert "\\u0026lt;img src=x onerror=window.__pwned=1\\u0026gt;" in html


def test_filing_package_shows_hostile_names_as_text(db_url, hostile, tmp_path):
    """summary.html and map.html of a filing package escape names (tags never survive)."""
    import zipfile

    import psycopg

    from gridgeo.registry.export import export_changeset

    with psycopg.connect(db_url) as conn:
        cs = conn.execute("SELECT max(changeset_id) FROM registry.changeset").fetchone()[0]
    out = export_changeset(db_url, cs, tmp_path / "filing.zip")
    with zipfile.ZipFile(out) as zf:
        pages = {n: zf.read(n).decode("utf-8") for n in zf.namelist() if n.endswith(".html")}
    assert "summary.html" in pages
    for name, page in pages.items():
        for hostile_name in HOSTILE:
            assert hostile_name not in page, (name, hostile_name)
