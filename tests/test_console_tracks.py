"""The console's day map of a grid worker (``trackday.html``) in headless Chromium: the track
in and out of the own grid over the grids, covered roads, figures as text, nothing foreign."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import httpx
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from live_server import live_server
from sqlalchemy import create_engine, text
from test_tracks_registry import DAY

from gridgeo.database.connect import sqlalchemy_url
from gridgeo.registry.history import grids_at
from gridgeo.registry.tracks import import_file
from gridgeo.testing import seed_registry

pytestmark = [pytest.mark.db, pytest.mark.browser]
ADMIN = "trackday-console-admin"
WORKER = '<img src=x onerror="window.__xss=1">'  # a worker id is shown as text, never HTML


def _walk(path, grids):
    """1 fix / 10 s: 20 minutes on a 40 m square inside grid 0, then out across its border."""
    g = grids.geometry.iloc[0]
    c = shapely.get_coordinates(g.point_on_surface())[0]
    s = np.arange(0, 1201, 10.0)
    off = s % 160
    side = (off // 40).astype(int)
    u = off % 40
    dx = np.choose(side, [u - 20, 20 + 0 * u, 20 - u, -20 + 0 * u])
    dy = np.choose(side, [-20 + 0 * u, u - 20, 20 + 0 * u, 20 - u])
    ring = shapely.get_exterior_ring(shapely.get_parts(g)[0])
    far = shapely.get_coordinates(ring.interpolate(0.3, normalized=True))[0]
    out = c + 1.6 * (far - c)  # past the border, away from the centre
    steps = np.linspace(0, 1, 31)[1:]
    x = np.r_[c[0] + dx, c[0] + dx[-1] + steps * (out[0] - c[0] - dx[-1])]
    y = np.r_[c[1] + dy, c[1] + dy[-1] + steps * (out[1] - c[1] - dy[-1])]
    s = np.r_[s, s[-1] + 10 * np.arange(1, 31)]
    tr = pyproj.Transformer.from_crs(grids.crs, 4326, always_xy=True)
    lon, lat = tr.transform(x, y)
    t0 = pd.Timestamp(DAY).tz_localize("Asia/Shanghai") + pd.Timedelta(hours=9)
    times = (t0 + pd.to_timedelta(s, unit="s")).strftime("%Y-%m-%d %H:%M:%S")
    pd.DataFrame({"网格员编号": WORKER, "时间": times, "经度": lon, "纬度": lat}).to_csv(
        path, index=False
    )
    return path


@pytest.fixture(scope="module")
def server(db_url, tmp_path_factory):
    from gridgeo.service import create_app
    from gridgeo.service.settings import ServiceSettings
    from gridgeo.settings import Settings

    seed_registry(db_url, 2, 2)
    grids = grids_at(db_url)
    eng = create_engine(sqlalchemy_url(db_url))
    with eng.begin() as conn:
        sid = conn.execute(
            text(
                "INSERT INTO registry.staff (person_name, is_sample) VALUES ('示例网格员', true) "
                "RETURNING staff_id"
            )
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO registry.staff_assignment (staff_id, grid_code, role, valid_from) "
                "VALUES (:s, :g, 'full_time', '2020-01-01')"
            ),
            {"s": sid, "g": grids["grid_code"].iloc[0]},
        )
    eng.dispose()
    tmp = tmp_path_factory.mktemp("trackday")
    csv = _walk(tmp / "walk.csv", grids)
    # the worker id of the file is the staff id: rewrite it so the assignment matches
    frame = pd.read_csv(csv)
    frame["网格员编号"] = str(sid)
    frame.to_csv(csv, index=False)
    assert import_file(db_url, csv, by="test")["created"]
    app = create_app(
        Settings(database_url=db_url, home=tmp / "home"),
        ServiceSettings(admin_token=ADMIN, listen=False, token_cache_s=0.0),
    )
    with live_server(app) as base:
        yield {"base": base, "worker": str(sid), "own": grids["grid_code"].iloc[0]}


def _open(browser, server, query: str, token: str = ADMIN):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    ctx.add_init_script(f"sessionStorage.setItem('gridgeo.token', {json.dumps(token)})")
    page = ctx.new_page()
    page.requests, page.errors = [], []
    page.on("request", lambda req: page.requests.append(req.url))
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto(f"{server['base']}/console/trackday.html{query}")
    # the first day asked for may compile the track kernels (a fresh clone has no numba cache):
    # on a loaded 2-core machine that took over 20 s
    page.wait_for_selector("body[data-ready=true]", timeout=90_000)
    return ctx, page


def test_day_map_draws_track_in_and_out_over_the_grids(browser, server):
    ctx, page = _open(browser, server, f"?worker={server['worker']}&date={DAY.isoformat()}")
    try:
        assert page.errors == []
        assert [u for u in page.requests if urlsplit(u).hostname != "127.0.0.1"] == []
        counts = page.evaluate(
            "() => Object.fromEntries(Object.entries(window.gridgeo.layers)"
            ".map(([k, l]) => [k, l.getLayers().length]))"
        )
        assert counts["grid"] >= 2 and counts["track"] >= 2
        colours = page.evaluate(
            "() => window.gridgeo.layers.track.getLayers()"
            ".map((l) => [l.feature.properties.in_own, l.options.color])"
        )
        assert {tuple(c) for c in colours} == {(True, "#1a9641"), (False, "#d7191c")}
        own = page.evaluate(
            "() => window.gridgeo.layers.grid.getLayers().filter((l) => l.feature.properties.own)"
            ".map((l) => l.feature.properties.grid_code)"
        )
        assert own == [server["own"]]
        facts = page.locator("#facts").inner_text()
        assert server["worker"] in facts and DAY.isoformat() in facts
        inside, outside = re.findall(r"([0-9.]+) 小时", facts)[:2]
        assert float(inside) >= 0.33 and 0 < float(outside) < float(inside)  # 20 min on the square
        r = httpx.get(f"{server['base']}/console/trackday.html")
        assert r.status_code == 200 and "<script>" not in r.text  # no inline script
    finally:
        ctx.close()


def test_day_map_errors_are_shown_as_text(browser, server):
    ctx, page = _open(browser, server, f"?worker={WORKER}&date={DAY.isoformat()}")
    try:
        err = page.locator("#error")
        assert err.is_visible() and "404" in err.inner_text()
        assert page.evaluate("() => window.__xss") is None
        assert page.errors == []
    finally:
        ctx.close()
    ctx, page = _open(browser, server, f"?worker={server['worker']}&date={DAY.isoformat()}", "x")
    try:
        assert "401" in page.locator("#error").inner_text()
    finally:
        ctx.close()
