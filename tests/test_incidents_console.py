"""The case console in headless Chromium: list with filters, case page, actions per role."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import httpx
import pytest
from incident_world import lonlat, seed_world
from live_server import live_server
from playwright.sync_api import expect

from gridgeo.service import create_app
from gridgeo.service.settings import ServiceSettings
from gridgeo.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.browser]
ADMIN = "incident-console-admin"
XSS = '<img src=x onerror="window.__xss=1">'


@pytest.fixture(scope="module")
def server(db_url, tmp_path_factory):
    world = seed_world(db_url)
    app = create_app(
        Settings(database_url=db_url, home=tmp_path_factory.mktemp("home")),
        ServiceSettings(admin_token=ADMIN, listen=False, token_cache_s=0.0),
    )
    with live_server(app) as base:
        h = {"Authorization": f"Bearer {ADMIN}"}
        tokens = {}
        for role, extra in (
            ("dispatcher", {}),
            ("department", {"department_id": world["deps"]["cg"]}),
            ("grid_worker", {"division_code": world["community"][world["codes"][0]]}),
        ):
            r = httpx.post(
                f"{base}/admin/tokens",
                json={"user": f"控制台{role}", "role": role, "name": role, **extra},
                headers=h,
            )
            assert r.status_code == 201, r.text
            tokens[role] = r.json()["token"]
        ids = []
        for i, (_code, geom) in enumerate(world["grids"][:3]):
            lon, lat = lonlat(geom)
            r = httpx.post(
                f"{base}/incidents",
                json={
                    "lon": lon,
                    "lat": lat,
                    "category": "sanitation",
                    "description": XSS if i == 0 else "占道经营",
                },
            )
            ids.append(r.json()["case_id"])
        # a fourth case, in its own grid, taken through the loop up to the archive: the
        # callback rating's test rates it (made here so that every test holds in any order)
        lon, lat = lonlat(world["grids"][3][1])
        archived = httpx.post(
            f"{base}/incidents", json={"lon": lon, "lat": lat, "category": "sanitation"}
        ).json()["case_id"]
        dep = world["deps"]["cg"]
        for role, action, body in (
            ("dispatcher", "accept", {}),
            ("dispatcher", "dispatch", {"department": [dep], "lead": dep}),
            ("department", "handle", {"feedback": "已处理"}),
            ("grid_worker", "verify_pass", {}),
            ("dispatcher", "archive", {}),
        ):
            r = httpx.post(
                f"{base}/incidents/{archived}/actions/{action}",
                json=body,
                headers={"Authorization": f"Bearer {tokens[role]}"},
            )
            assert r.status_code == 200, r.text
        yield {"base": base, "tokens": tokens, "ids": ids, "world": world, "archived": archived}


@pytest.fixture
def page_as(browser, server):
    contexts = []

    def open_(role: str, path: str):
        ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
        ctx.add_init_script(
            f"sessionStorage.setItem('gridgeo.token', {json.dumps(server['tokens'][role])})"
        )
        contexts.append(ctx)
        page = ctx.new_page()
        page.requests, page.errors = [], []
        page.on("request", lambda req: page.requests.append(req.url))
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.goto(f"{server['base']}/console/{path}")
        page.wait_for_selector("body[data-ready=true]", timeout=20_000)
        return page

    yield open_
    for ctx in contexts:
        ctx.close()


def _offline(page) -> list[str]:
    return [
        u
        for u in page.requests
        if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname != "127.0.0.1"
    ]


def test_case_list_filters_and_charts(page_as, server):
    page = page_as("dispatcher", "cases.html")
    rows = page.locator("#cases tbody tr")
    assert rows.count() == 4
    assert page.locator("#status").inner_text() == "共 4 件，显示 4 件"
    assert page.locator("#chart-weeks svg circle").count() >= 1
    assert page.locator("#chart-departments svg rect").count() >= 1
    # heat map: every grid drawn, the four grids with a case darker than the rest
    cells = page.locator("#heatmap path.leaflet-interactive")
    assert cells.count() == len(server["world"]["grids"])
    counts = sorted(int(c.get_attribute("data-cases")) for c in cells.all())
    assert counts[-4:] == [1, 1, 1, 1] and sum(counts) == 4
    page.select_option("#state", "accepted")
    page.click("#search")
    expect(page.locator("#status")).to_have_text(re.compile(r"^共 0 件"))
    assert not page.errors and not _offline(page)


def test_case_page_flow_per_role_and_text_not_html(page_as, server):
    cid = server["ids"][0]
    page = page_as("dispatcher", f"case.html?id={cid}")
    assert page.locator("#case-state").inner_text() == "已上报"
    assert XSS in page.locator("#facts").inner_text()  # shown as text
    assert page.evaluate("window.__xss") is None
    assert page.locator("#case-map path.leaflet-interactive").count() >= 2  # grid + point
    assert [b.inner_text() for b in page.locator("#actions button").all()] == ["立案", "不予立案"]
    page.click("#actions button[data-action=accept]")
    page.wait_for_selector("body[data-state=accepted]")
    page.fill("#department", str(server["world"]["deps"]["cg"]))
    page.click("#actions button[data-action=dispatch]")
    page.wait_for_selector("body[data-state=dispatched]")
    assert page.locator("#timeline li").count() == 3
    # an error from the service (supervise without a reason: 400) is shown, not swallowed
    page.click("#actions button[data-action=supervise]")
    page.wait_for_selector("#error:not([hidden])")
    assert "reason" in page.locator("#error").inner_text()

    dep = page_as("department", f"case.html?id={cid}")
    assert sorted(b.get_attribute("data-action") for b in dep.locator("#actions button").all()) == [
        "explain",
        "handle",
        "return",
    ]
    dep.fill("#feedback", "已清理完毕")
    dep.click("#actions button[data-action=handle]")
    dep.wait_for_selector("body[data-state=handled]")
    assert "已清理完毕" in dep.locator("#timeline").inner_text()
    assert not page.errors and not dep.errors and not _offline(page) and not _offline(dep)


def test_dispatcher_records_a_callback_rating(page_as, server):
    """The centre rates on the reporter's behalf only by naming the callback channel."""
    base, tok, cid = server["base"], server["tokens"], server["archived"]
    page = page_as("dispatcher", f"case.html?id={cid}")
    assert page.locator("#case-state").inner_text() == "已归档"
    page.fill("#satisfaction", "4")
    page.click("#actions button[data-action=evaluate]")  # no channel: refused, shown
    page.wait_for_selector("#error:not([hidden])")
    assert "callback" in page.locator("#error").inner_text()
    page.select_option("#callback", "phone")
    page.click("#actions button[data-action=evaluate]")
    page.wait_for_selector("body[data-state=evaluated]")
    case = httpx.get(
        f"{base}/incidents/{cid}", headers={"Authorization": f"Bearer {tok['dispatcher']}"}
    ).json()
    assert case["satisfaction"] == 4
    assert case["events"][-1]["body"]["by"] == "callback"
    assert case["events"][-1]["body"]["callback"] == "phone"
    assert not page.errors and not _offline(page)
