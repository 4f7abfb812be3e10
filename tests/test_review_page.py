"""The city's review page (webmap/review.html) in headless Chromium on real Da'an data:
a reviewer accepts one filed change set and returns another with a reason."""

from __future__ import annotations

import httpx
import pytest
from live_server import live_server
from playwright.sync_api import expect
from test_filing import _households, _merge_first_two
from test_registry import COUNTY, EDITOR, FIRST, _load, _register, communities_of, grids_of

from gridgeo.registry import audit_log, file_changeset, get_changeset, grids_at
from gridgeo.registry.divisions import register_division
from gridgeo.registry.households import load_households
from gridgeo.service import create_app
from gridgeo.service.settings import ServiceSettings
from gridgeo.settings import Settings

ADMIN = "review-admin-token"
FORCED = "封闭小区，暂无法沿道路拆分"


@pytest.fixture(scope="module")
def filed(db_url):
    """Da'an registered; two filed change sets: a forced merge (700+ households) and a rename."""
    grids, communities = grids_of(3), communities_of(3)
    _register(db_url, grids, communities)
    load_households(db_url, _households(), county=COUNTY, actor=EDITOR)
    merged, total = _merge_first_two(grids)
    a = _load(db_url, merged, None, title="合并网格")
    file_changeset(db_url, a.changeset_id, actor=EDITOR, force=True, force_reason=FORCED)
    last = sorted(set(grids["community_code"]))[-1]
    layer = grids[grids["community_code"] == last].copy()
    layer.loc[layer.index[0], "grid_name"] = "<b>改名</b>网格"  # shown as text, never as HTML
    b = _load(db_url, layer, None, title="网格改名")
    file_changeset(db_url, b.changeset_id, actor=EDITOR, force=True, force_reason=FIRST)
    return {
        "merge": a.changeset_id,
        "rename": b.changeset_id,
        "total": total,
        "new": set(a.new_codes),
        "retired": set(a.retired_codes),
        "renamed": str(layer["grid_code"].iloc[0]),
    }


@pytest.fixture(scope="module")
def server(db_url, filed):
    # a token's division must be registered (registry.user_token → registry.divisions)
    register_division(db_url, "63000", "台北市", level="city")
    register_division(db_url, COUNTY, "大安区", level="county", parent_code="63000")
    app = create_app(
        Settings(database_url=db_url),
        ServiceSettings(admin_token=ADMIN, listen=False, token_cache_s=0.0),
    )
    with live_server(app) as base:
        r = httpx.post(
            f"{base}/admin/tokens",
            json={
                "user": "市网格中心审核员",
                "role": "city_reviewer",
                "division_code": "63000",
                "name": "审核页面",
            },
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        assert r.status_code == 201, r.text
        yield base, r.json()["token"]


@pytest.mark.browser
def test_reviewer_accepts_one_and_returns_another(browser, server, filed, db_url):
    base, token = server
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.on("request", lambda req: requests.append(req.url))
    page.goto(f"{base}/console/review.html")
    page.fill("#token", token)
    page.click("#load-btn")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#list button").count() == 2

    # the forced merge: its breaks and reason come first, with the recounted households
    page.click(f"#list button[data-changeset='{filed['merge']}']")
    page.wait_for_selector(f"#detail[data-changeset='{filed['merge']}']")
    assert page.locator("#forced").is_visible()
    assert page.locator("#forced-reason").inner_text() == FORCED
    forced = page.locator("#forced-list").inner_text()
    assert "validate.size.above_ceiling" in forced and str(filed["total"]) in forced
    box_forced = page.locator("#forced").bounding_box()
    assert box_forced["y"] < page.locator("#map-before").bounding_box()["y"]
    diff = page.locator("#diff").inner_text()
    assert "retired" in diff and "new" in diff and str(filed["total"]) in diff
    assert "size.above_ceiling" in page.locator("#findings").inner_text()
    assert page.locator("#map-before path.leaflet-interactive").count() == 2
    assert page.locator("#map-after path.leaflet-interactive").count() == 1
    page.click("#accept-btn")
    expect(page.locator("#list button")).to_have_count(1)

    # the rename: its name is shown as text, and it goes back with a reason
    page.click(f"#list button[data-changeset='{filed['rename']}']")
    page.wait_for_selector(f"#detail[data-changeset='{filed['rename']}']")
    # hover by event, not by pointer: the centre of a concave grid's box may lie outside it
    page.locator("#map-after path.leaflet-interactive").first.dispatch_event("mouseover")
    expect(page.locator("#map-after .leaflet-tooltip").first).to_be_visible()
    assert page.locator(".leaflet-tooltip b").count() == 0
    page.click("#return-btn")  # without a reason: refused on the page
    assert "理由" in page.locator("#error").inner_text()
    page.fill("#return-reason", "网格名称应为“第N网格”")
    page.click("#return-btn")
    expect(page.locator("#list button")).to_have_count(0)
    assert errors == []
    assert all(u.startswith(base) or u.startswith("data:") for u in requests)
    context.close()

    # the database holds exactly that
    merge, rename = get_changeset(db_url, filed["merge"]), get_changeset(db_url, filed["rename"])
    assert (merge.status, merge.decided_by) == ("accepted", "市网格中心审核员")
    assert (rename.status, rename.decision_reason) == ("returned", "网格名称应为“第N网格”")
    assert rename.decided_by == "市网格中心审核员"
    now = grids_at(db_url).set_index("grid_code")
    assert filed["new"] <= set(now.index) and not filed["retired"] & set(now.index)
    assert now.loc[filed["renamed"], "grid_name"] != "<b>改名</b>网格"  # returned: unchanged
    assert audit_log(db_url, changeset_id=filed["rename"])["action"].iloc[-1] == "return"
