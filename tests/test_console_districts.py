"""The console with two districts registered: readable labels, a district picker, a reset
view, a language switch; nothing requested beyond 127.0.0.1 (headless Chromium)."""

from __future__ import annotations

import pytest
from live_server import live_server
from test_webmap import Console

from gridgeo.demo.build import CODE_PATTERN, build_district
from gridgeo.io import read_layer
from gridgeo.partition import partition
from gridgeo.registry import Principal, accept_changeset, file_changeset, load_grids
from gridgeo.registry.bindings import bind_profile
from gridgeo.service import create_app
from gridgeo.service.routes_webmap import router as webmap_router
from gridgeo.service.settings import ServiceSettings
from gridgeo.settings import Settings

pytestmark = pytest.mark.db

DISTRICTS = ("daan", "gongguan")


def _register(url: str, name: str) -> tuple[str, list[str]]:
    """Five neighbouring villages of a demo district, partitioned and accepted."""
    built = build_district(name)  # data/build/<name>.gpkg: reused while up to date
    communities = read_layer(built.path, "communities")
    county = str(communities["code"].iloc[0])[:8]  # the township (鄉鎮市區) of the first village
    city = county[:5]
    communities = communities[communities["code"].str.startswith(county)]
    first = communities.geometry.iloc[0]
    chosen = communities[communities.geometry.intersects(first.buffer(5))].head(5)
    households = read_layer(built.path, "households")
    result = partition(
        chosen,
        read_layer(built.path, "roads").clip(chosen.total_bounds),
        households[households["community_code"].isin(chosen["code"])],
        profile="yongzhou",
        code_pattern=CODE_PATTERN,
    )
    admin = Principal("admin", "admin")
    reviewer = Principal("reviewer", "admin")  # four eyes
    bind_profile(
        url, county, "yongzhou", actor=admin, code_pattern=CODE_PATTERN, receiver_code=city
    )
    loaded = load_grids(url, result.grids, county=county, actor=admin, communities=chosen)
    file_changeset(
        url, loaded.changeset_id, actor=admin, force=True, force_reason="示例数据 (test)"
    )
    accept_changeset(url, loaded.changeset_id, actor=reviewer)
    return county, list(chosen["code"])


@pytest.fixture(scope="module")
def server(db_url):
    codes = {name: _register(db_url, name) for name in DISTRICTS}
    app = create_app(
        Settings(database_url=db_url), ServiceSettings(listen=False, token_cache_s=0.0)
    )
    app.include_router(webmap_router)
    with live_server(app) as base:
        yield base, codes


@pytest.fixture
def console(browser, server, monkeypatch):
    base, _codes = server
    monkeypatch.delenv("GRIDGEO_LANG", raising=False)  # the browser's language (zh-CN) decides
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    con = Console(page, base)
    page.on("request", lambda req: con.requests.append(req.url))
    page.on("console", lambda msg: msg.type == "error" and con.errors.append(msg.text))
    page.on("pageerror", lambda exc: con.errors.append(f"uncaught: {exc}"))
    page.goto(f"{base}/console/")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    yield con
    context.close()


_OVERLAPS = """() => {
  const boxes = [...document.querySelectorAll('.leaflet-tooltip')]
    .filter((e) => getComputedStyle(e).display !== 'none'
                   && getComputedStyle(e).visibility !== 'hidden')
    .map((e) => e.getBoundingClientRect()).filter((b) => b.width > 0);
  let n = 0;
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i], b = boxes[j];
    if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) n++;
  }
  return [boxes.length, n];
}"""


@pytest.mark.browser
def test_two_districts_show_readable_labels_at_the_default_zoom(console):
    shown, overlaps = console.page.evaluate(_OVERLAPS)
    assert shown >= 2 and overlaps == 0
    assert console.errors == [] and console.foreign() == []


@pytest.mark.browser
def test_picker_switches_district_and_reset_comes_back(console, server):
    _base, codes = server
    page = console.page
    start = page.evaluate("window.gridgeo.map.getCenter()")
    options = page.eval_on_selector_all("#place option", "els => els.map(e => e.value)")
    assert {f"d:{county}" for county, _ in codes.values()} <= set(options)
    centres = {}
    for name, (county, villages) in codes.items():
        page.select_option("#place", f"d:{county}")
        page.wait_for_timeout(400)
        centres[name] = page.evaluate("window.gridgeo.map.getCenter()")
        inside = page.evaluate(
            "(c) => window.gridgeo.map.getBounds().contains("
            "window.gridgeo.places.get(c).layer.getBounds().getCenter())",
            villages[0],
        )
        assert inside, f"{name}: its first village is not in view"
        shown, overlaps = page.evaluate(_OVERLAPS)
        assert shown >= 1 and overlaps == 0
    assert abs(centres["daan"]["lat"] - centres["gongguan"]["lat"]) > 0.3  # Taipei vs Miaoli
    page.click("#reset")
    page.wait_for_timeout(400)
    back = page.evaluate("window.gridgeo.map.getCenter()")
    assert abs(back["lat"] - start["lat"]) < 1e-6 and abs(back["lng"] - start["lng"]) < 1e-6
    assert console.errors == [] and console.foreign() == []


@pytest.mark.browser
def test_language_switch_changes_the_console_text(console):
    page = console.page
    assert page.locator("h1").inner_text() == "网格定位"
    assert page.locator("#status").inner_text().endswith("个社区")
    page.click("#lang-switch")
    assert page.locator("h1").inner_text() == "Grid locator"
    assert page.locator("#status").inner_text().endswith("communities")
    assert page.locator("#reset").inner_text() == "Reset"
    assert page.evaluate("document.documentElement.lang") == "en"
    page.reload()  # the choice is remembered
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("h1").inner_text() == "Grid locator"
    page.click("#lang-switch")
    assert page.locator("h1").inner_text() == "网格定位"


@pytest.mark.browser
@pytest.mark.parametrize(
    ("setting", "locale", "heading"),
    [
        (None, "en-US", "Grid locator"),  # the browser's language
        ("en", "zh-CN", "Grid locator"),  # GRIDGEO_LANG beats the browser's
        ("zh_CN", "en-US", "网格定位"),
    ],
)
def test_language_follows_the_setting_then_the_browser(
    browser, server, monkeypatch, setting, locale, heading
):
    base, _codes = server
    if setting:
        monkeypatch.setenv("GRIDGEO_LANG", setting)
    else:
        monkeypatch.delenv("GRIDGEO_LANG", raising=False)
    context = browser.new_context(locale=locale)
    page = context.new_page()
    page.goto(f"{base}/console/")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    assert page.locator("h1").inner_text() == heading
    context.close()


@pytest.mark.browser
def test_screenshot(console, server, tmp_path):
    """The console with its basemap of registry outlines; GRIDGEO_SCREENSHOT_DIR keeps it
    (the README's docs/img/console.png is taken this way)."""
    import os
    from pathlib import Path

    _base, codes = server
    page = console.page
    county, _villages = codes["daan"]
    page.select_option("#place", f"d:{county}")
    page.wait_for_timeout(400)
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector("#result h2", timeout=10_000)
    folder = Path(os.environ.get("GRIDGEO_SCREENSHOT_DIR") or tmp_path)
    page.screenshot(path=str(folder / "console.png"))
    assert (folder / "console.png").stat().st_size > 10_000
    assert console.errors == [] and console.foreign() == []
