"""The case loop over HTTP: report in GCJ-02, roles before bodies, 409s, list filters, photos."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from incident_world import lonlat, outside_lonlat, seed_world

from gridgeo.crs import wgs84_to_bd09, wgs84_to_gcj02
from gridgeo.service import create_app
from gridgeo.service.settings import ServiceSettings
from gridgeo.settings import Settings

pytestmark = pytest.mark.db
ADMIN = "incident-admin-token"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(scope="module")
def api(db_url, tmp_path_factory):
    world = seed_world(db_url)
    home = tmp_path_factory.mktemp("home")
    app = create_app(
        Settings(database_url=db_url, home=home),
        ServiceSettings(admin_token=ADMIN, token_cache_s=0.0, listen=False),
    )
    with TestClient(app) as client:
        h = {"Authorization": f"Bearer {ADMIN}"}
        tokens = {"admin": ADMIN}
        first, last = world["codes"][0], world["codes"][-1]
        for key, role, extra in (
            ("dispatcher", "dispatcher", {}),
            ("department", "department", {"department_id": world["deps"]["cg"]}),
            ("grid_worker", "grid_worker", {"division_code": world["community"][first]}),
            ("county_editor", "county_editor", {"division_code": "110101"}),
            (
                "other_department",
                "department",
                {"department_id": world["deps"]["hb"], "division_code": "110101"},
            ),
            ("other_worker", "grid_worker", {"division_code": world["community"][last]}),
        ):
            r = client.post(
                "/admin/tokens",
                json={"user": f"案件{key}", "role": role, "name": key, **extra},
                headers=h,
            )
            assert r.status_code == 201, r.text
            tokens[key] = r.json()["token"]
        yield world | {"client": client, "tokens": tokens, "home": home}


def H(api, role):
    return {"Authorization": f"Bearer {api['tokens'][role]}"} if role else {}


@pytest.fixture(scope="module")
def history(api):
    """What the list, statistics and notification tests read, made here so that they hold in
    any order: three sanitation reports in grid 5, and a case in grid 0 through the whole loop
    (dispatched to cg, returned, designated, handled, verified, archived, evaluated 5)."""
    c, cg = api["client"], api["deps"]["cg"]
    lon, lat = lonlat(api["grids"][5][1])
    for _ in range(3):
        r = c.post("/incidents", json={"lon": lon, "lat": lat, "category": "sanitation"})
        assert r.status_code == 201, r.text
    lon, lat = lonlat(api["grids"][0][1])
    r = c.post("/incidents", json={"lon": lon, "lat": lat, "category": "sanitation"})
    assert r.status_code == 201, r.text
    cid, key = r.json()["case_id"], r.json()["evaluation_key"]
    for role, action, body in (
        ("dispatcher", "accept", {}),
        ("dispatcher", "dispatch", {"department": cg}),
        ("department", "return", {"reason": "非本部门职责"}),
        ("dispatcher", "designate", {"department": cg}),
        ("department", "handle", {"feedback": "已清理"}),
        ("grid_worker", "verify_pass", {}),
        ("dispatcher", "archive", {}),
        (None, "evaluate", {"satisfaction": 5, "evaluation_key": key}),  # the reporter
    ):
        r = c.post(f"/incidents/{cid}/actions/{action}", json=body, headers=H(api, role))
        assert r.status_code == 200, (action, r.text)
    return api


@pytest.mark.parametrize("crs", ["wgs84", "gcj02", "bd09"])
def test_public_report_in_any_crs_is_located(api, crs):
    code, geom = api["grids"][5]
    lon, lat = lonlat(geom)
    if crs == "gcj02":
        lon, lat = wgs84_to_gcj02(lon, lat)
    elif crs == "bd09":
        lon, lat = wgs84_to_bd09(lon, lat)
    r = api["client"].post(
        "/incidents",
        json={
            "lon": lon,
            "lat": lat,
            "crs": crs,
            "category": "sanitation",
            "description": "<b>垃圾</b>",
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["grid_code"] == code and body["state"] == "reported"
    assert "locate_answer" not in body  # the public sees its receipt, not contacts


def test_bad_reports_are_400_naming_the_field(api):
    c = api["client"]
    r = c.post("/incidents", json={"lon": "x", "lat": 23})
    assert r.status_code == 400 and r.json()["problems"][0]["field"] == "lon"
    r = c.post("/incidents", json={"lon": 120, "lat": 23, "crs": "nonsense"})
    assert r.status_code == 400
    r = c.post("/incidents", content=b"{not json")
    assert r.status_code == 400
    r = c.post("/incidents", content=b"{" + b" " * 70_000 + b"}")
    assert r.status_code == 413


def test_outside_grid_is_kept_and_queued(api):
    lon, lat = outside_lonlat(api["grids"])
    r = api["client"].post("/incidents", json={"lon": lon, "lat": lat, "category": "sanitation"})
    assert r.status_code == 201 and r.json()["queue_reason"] == "outside_grid"
    r = api["client"].get("/incidents", params={"queued": True}, headers=H(api, "dispatcher"))
    assert r.json()["total"] >= 1
    assert r.json()["items"][0]["queue_name"] == "不在任何网格内"


def test_roles_are_checked_before_the_body_and_409_names_the_state(api):
    c = api["client"]
    lon, lat = lonlat(api["grids"][0][1])
    reported = c.post("/incidents", json={"lon": lon, "lat": lat, "category": "sanitation"}).json()
    cid, key = reported["case_id"], reported["evaluation_key"]
    assert key  # the reporter's evaluation key, handed out once
    # role refused before a (huge) body is read
    r = c.post(f"/incidents/{cid}/actions/accept", content=b"x" * 200_000)
    assert r.status_code == 401
    r = c.post(
        f"/incidents/{cid}/actions/accept", content=b"x" * 200_000, headers=H(api, "department")
    )
    assert r.status_code == 403
    assert c.get(f"/incidents/{cid}").status_code == 401
    r = c.post(
        f"/incidents/{cid}/actions/dispatch",
        json={"department": api["deps"]["cg"]},
        headers=H(api, "dispatcher"),
    )
    assert r.status_code == 409
    assert "reported" in r.json()["detail"] and "incident.dispatch" in r.json()["detail"]
    r = c.post(f"/incidents/{cid}/actions/accept", json={}, headers=H(api, "dispatcher"))
    assert r.status_code == 200 and r.json()["state"] == "accepted"
    assert "dispatch" in r.json()["actions"]
    r = c.post(
        f"/incidents/{cid}/actions/dispatch",
        json={"department": 999999},
        headers=H(api, "dispatcher"),
    )
    assert r.status_code == 400
    r = c.post(
        f"/incidents/{cid}/actions/dispatch",
        json={"department": api["deps"]["cg"]},
        headers=H(api, "dispatcher"),
    )
    assert r.status_code == 200 and r.json()["due_at"]
    # another department may not act on it
    r = c.post(
        f"/incidents/{cid}/actions/handle",
        json={"feedback": "x"},
        headers=H(api, "other_department"),
    )
    assert r.status_code == 403
    r = c.post(
        f"/incidents/{cid}/actions/return",
        json={"reason": "非本部门职责"},
        headers=H(api, "department"),
    )
    assert r.status_code == 200 and r.json()["state"] == "returned"
    r = c.post(
        f"/incidents/{cid}/actions/designate",
        json={"department": api["deps"]["cg"]},
        headers=H(api, "dispatcher"),
    )
    assert r.json()["designated"] is True and "return" not in r.json()["actions"]
    r = c.post(
        f"/incidents/{cid}/actions/return", json={"reason": "again"}, headers=H(api, "department")
    )
    assert r.status_code == 409 and "designated" in r.json()["detail"]
    r = c.post(f"/incidents/{cid}/photos", content=PNG, headers=H(api, "department"))
    assert r.status_code == 201, r.text
    pid = r.json()["photo_id"]
    assert (api["home"] / "incidents" / "photos").is_dir()
    r = c.post(f"/incidents/{cid}/photos", content=b"GIF89a....", headers=H(api, "department"))
    assert r.status_code == 400
    r = c.post(
        f"/incidents/{cid}/actions/handle",
        json={"feedback": "已清理", "photos": [pid]},
        headers=H(api, "department"),
    )
    assert r.status_code == 200 and r.json()["state"] == "handled"
    for role, action, body in (
        ("grid_worker", "verify_pass", {}),
        ("dispatcher", "archive", {}),
    ):
        r = c.post(f"/incidents/{cid}/actions/{action}", json=body, headers=H(api, role))
        assert r.status_code == 200, r.text
    # the rating is the reporter's: without their key, or with another's, it is refused
    for body in ({"satisfaction": 1}, {"satisfaction": 1, "evaluation_key": "guess"}):
        r = c.post(f"/incidents/{cid}/actions/evaluate", json=body)
        assert r.status_code == 403 and "evaluation_key" in r.json()["detail"]
    r = c.post(
        f"/incidents/{cid}/actions/evaluate", json={"satisfaction": 5, "evaluation_key": key}
    )
    assert r.status_code == 200, r.text
    r = c.get(f"/incidents/{cid}", headers=H(api, "dispatcher"))
    case = r.json()
    assert case["state"] == "evaluated" and case["satisfaction"] == 5
    assert case["events"][-1]["body"]["by"] == "reporter"
    assert key not in json.dumps(case, ensure_ascii=False)  # the key is never shown again
    assert [e["action"] for e in case["events"]] == [
        "report",
        "accept",
        "dispatch",
        "return",
        "designate",
        "handle",
        "verify_pass",
        "archive",
        "evaluate",
    ]
    assert case["photos"][0]["sha256"] and "path" not in case["photos"][0]
    r = c.get(f"/incidents/{cid}/photos/{pid}", headers=H(api, "dispatcher"))
    assert r.status_code == 200 and r.content == PNG
    assert c.get(f"/incidents/{cid}", headers=H(api, "other_department")).status_code == 403


def test_list_filters(history):
    api = history
    c = api["client"]
    r = c.get("/incidents", params={"state": "evaluated"}, headers=H(api, "dispatcher"))
    assert r.status_code == 200 and all(i["state"] == "evaluated" for i in r.json()["items"])
    r = c.get(
        "/incidents",
        params={"category": "sanitation", "grid": api["codes"][5]},
        headers=H(api, "county_editor"),
    )
    assert r.status_code == 200 and r.json()["total"] >= 3
    assert (
        c.get("/incidents", params={"state": "nonsense"}, headers=H(api, "dispatcher")).status_code
        == 422
    )
    r = c.get("/incidents", params={"overdue": True}, headers=H(api, "dispatcher"))
    assert r.status_code == 200
    mine = c.get("/incidents", headers=H(api, "department")).json()
    assert all(api["deps"]["cg"] in i["departments"] for i in mine["items"])


def test_stats_json_csv_xlsx(history):
    api = history
    c = api["client"]
    assert c.get("/incidents/stats").status_code == 401
    r = c.get("/incidents/stats", params={"by": "department"}, headers=H(api, "dispatcher"))
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    cg = next(x for x in rows if x["department_id"] == api["deps"]["cg"])
    assert cg["evaluated"] >= 1 and cg["rebound_rate"] > 0 and cg["satisfaction_rate"] == 1.0
    r = c.get(
        "/incidents/stats",
        params={"by": "grid,category", "period": "week", "format": "csv"},
        headers=H(api, "dispatcher"),
    )
    assert r.status_code == 200 and "grid_code" in r.content.decode("utf-8-sig").splitlines()[0]
    r = c.get(
        "/incidents/stats", params={"by": "street", "format": "xlsx"}, headers=H(api, "dispatcher")
    )
    assert r.status_code == 200 and r.content[:2] == b"PK"
    assert (
        c.get("/incidents/stats", params={"by": "planet"}, headers=H(api, "dispatcher")).status_code
        == 400
    )


def test_values_the_database_refuses_are_400_not_5xx(api):
    c = api["client"]
    lon, lat = lonlat(api["grids"][0][1])
    r = c.post("/incidents", json={"lon": lon, "lat": lat, "description": "a\u0000b"})
    assert r.status_code == 400, r.text
    huge = 2**70
    assert c.get(f"/incidents/{huge}", headers=H(api, "dispatcher")).status_code == 404
    r = c.post(f"/incidents/{huge}/actions/accept", json={}, headers=H(api, "dispatcher"))
    assert r.status_code == 404
    assert c.get("/incidents/999999", headers=H(api, "dispatcher")).status_code == 404
    r = c.post("/incidents/1/actions/fly", json={}, headers=H(api, "dispatcher"))
    assert r.status_code == 400


def test_department_notifications(history):
    api = history
    c = api["client"]
    r = c.get("/incidents/notifications", headers=H(api, "department"))
    assert r.status_code == 200
    kinds = {n["kind"] for n in r.json()}
    assert {"dispatch", "designate"} <= kinds
    assert c.get("/incidents/notifications", headers=H(api, "dispatcher")).status_code == 403
    assert c.get("/incidents/notifications").status_code == 401


def test_grid_workers_and_departments_reach_their_own_cases_only(api):
    """A grid worker's division is a community; a department user reaches its department's."""
    c = api["client"]
    first, last = api["grids"][0], api["grids"][-1]
    assert api["community"][first[0]] != api["community"][last[0]]
    lon, lat = lonlat(first[1])
    cid = c.post("/incidents", json={"lon": lon, "lat": lat, "category": "sanitation"}).json()[
        "case_id"
    ]
    assert c.get(f"/incidents/{cid}", headers=H(api, "grid_worker")).status_code == 200
    r = c.get(f"/incidents/{cid}", headers=H(api, "other_worker"))
    assert r.status_code == 403 and api["community"][first[0]] in r.json()["detail"]
    mine = c.get("/incidents", headers=H(api, "other_worker")).json()["items"]
    assert all(i["community_code"] == api["community"][last[0]] for i in mine)
    ours = c.get("/incidents", headers=H(api, "grid_worker")).json()["items"]
    assert cid in {i["case_id"] for i in ours}
    # a department user names a registered department; nobody else has one
    h = {"Authorization": f"Bearer {ADMIN}"}
    for body in (
        {"user": "无部门", "role": "department"},
        {"user": "假部门", "role": "department", "department_id": 999999},
        {"user": "调度带部门", "role": "dispatcher", "department_id": api["deps"]["cg"]},
        {"user": "社区外网格员", "role": "grid_worker", "division_code": "110101"},
    ):
        r = c.post("/admin/tokens", json=body, headers=h)
        assert r.status_code == 400, (body, r.text)
