"""The role × route × division matrix of the map service, over every route in its OpenAPI.

People (tests/test_service.py ``PEOPLE``): the public without and with a token, a
dispatcher, the county editor of the grids' county 110101 and of its neighbour 110102
(same city), the city reviewer of city 1101 and of the neighbouring city 1102 (same
province), a province reviewer, the district-centre reviewer of 110101 and of 110201,
and an administrator. Every route the service documents must be in ``ROUTES``.
"""

from __future__ import annotations

import itertools

import psycopg
import pytest
import test_service
from test_service import ADMIN, PEOPLE, TO_WGS, _grids, _inner_point

from gridgeo.registry import matters

pytestmark = pytest.mark.db

world = test_service.world

ROLES = [None, *(key for key, _role, _div in PEOPLE), "admin"]
ANYONE = set(ROLES)
STAFF = ANYONE - {None, "public"}
#: may edit coverage of the grids of county 110101 (whole divisions by the hierarchy)
OWN_SCOPE = {"county_editor", "city_reviewer", "province_reviewer", "centre_reviewer", "admin"}
ADMIN_ONLY = {"admin"}
#: may read change sets (any division: the route filters or refuses per change set)
READS_CHANGES = STAFF - {"dispatcher"}
#: may upload, file and withdraw (the county check comes from the registry)
DRAFTS = {"county_editor", "other_county", "admin"}
#: may accept and return a filed change set
REVIEWS = {
    "city_reviewer",
    "other_city",
    "province_reviewer",
    "centre_reviewer",
    "other_centre",
    "admin",
}


def _h(world, role):
    if role is None:
        return {}
    token = ADMIN if role == "admin" else world["tokens"][role]
    return {"Authorization": f"Bearer {token}"}


def _coverage_row(world) -> int:
    """A fresh coverage row on a grid of county 110101 (seeded in the registry: over the API,
    coverage is a change set, tests/test_service.py ``accept_coverage``)."""
    with psycopg.connect(world["url"]) as conn:
        rows = matters.add_coverage(
            conn,
            department_id=world["deps"][0]["department_id"],
            category="noise",
            grid_codes=world["codes"][:1],
        )
    return rows[0]["coverage_id"]


def _changeset(world) -> int:
    """The newest change set of county 110101 (listed by the admin)."""
    r = world["client"].get("/changes", headers=_h(world, "admin"))
    assert r.status_code == 200, r.text
    return next(c["changeset_id"] for c in r.json() if c["county_code"] == "110101")


def _point(world):
    return TO_WGS.transform(*_inner_point(_grids(world["url"])[0][1]))


_counter = itertools.count()
#: may read the cases located in county 110101 (incidents.read within the division)
READS_CASES = OWN_SCOPE | {"dispatcher"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _case(w, *, fresh: bool = False) -> int:
    """A case reported in a grid of county 110101 (a fresh one per call when ``fresh``)."""
    if fresh or "case_id" not in w:
        lon, lat = _point(w)
        r = w["client"].post("/incidents", json={"lon": lon, "lat": lat, "category": "noise"})
        assert r.status_code == 201, r.text
        if not fresh:
            w["case_id"] = r.json()["case_id"]
        return r.json()["case_id"]
    return w["case_id"]


#: read change sets (of the counties in their division) / draft and file / review
READS_CHANGES = OWN_SCOPE | {"other_county", "other_city", "other_centre"}
EDITS_CHANGES = {"county_editor", "other_county", "admin"}
REVIEWS_CHANGES = {
    "city_reviewer",
    "other_city",
    "province_reviewer",
    "centre_reviewer",
    "other_centre",
    "admin",
}


def _cs(w) -> int:
    """An accepted change set of county 110101 (the world's reshape)."""
    if "changeset_id" not in w:
        r = w["client"].get("/changes", headers=_h(w, "admin"))
        assert r.status_code == 200, r.text
        w["changeset_id"] = r.json()[0]["changeset_id"]
    return w["changeset_id"]


def _photo(w) -> tuple[int, int]:
    """A photo of :func:`_case` (added by the admin once)."""
    if "photo_id" not in w:
        r = w["client"].post(f"/incidents/{_case(w)}/photos", content=PNG, headers=_h(w, "admin"))
        assert r.status_code == 201, r.text
        w["photo_id"] = r.json()["photo_id"]
    return _case(w), w["photo_id"]


def _unchanged(world) -> dict:
    """The editor's draft body of a community as it is (drafts nothing)."""
    code = world["codes"][0][:12]
    plan = world["client"].get(f"/edit/communities/{code}", headers=_h(world, "admin")).json()
    return {
        "owner": [f["properties"]["grid"] for f in plan["blocks"]["features"]],
        "grids": [{k: g[k] for k in ("key", "code", "name", "grid_type")} for g in plan["grids"]],
    }


#: (method, OpenAPI path) → (request builder, roles allowed, success statuses)
ROUTES = {
    ("GET", "/health"): (lambda w, r: ("/health", {}), ANYONE, {200}),
    ("GET", "/locate"): (
        lambda w, r: ("/locate", {"params": dict(zip(("lon", "lat"), _point(w), strict=True))}),
        ANYONE,
        {200},
    ),
    ("POST", "/locate/batch"): (
        lambda w, r: (
            "/locate/batch",
            {
                "content": "lon,lat\n{},{}\n".format(*_point(w)),
                "headers": {"Content-Type": "text/csv"},
            },
        ),
        STAFF - {"public"},
        {200},
    ),
    ("GET", "/categories"): (lambda w, r: ("/categories", {}), ANYONE, {200}),
    ("POST", "/categories"): (
        lambda w, r: ("/categories", {"json": {"code": f"m{next(_counter)}", "name": f"事项{r}"}}),
        ADMIN_ONLY,
        {201},
    ),
    ("PATCH", "/categories/{code}"): (
        lambda w, r: ("/categories/noise", {"json": {"description": "矩阵"}}),
        ADMIN_ONLY,
        {200},
    ),
    ("DELETE", "/categories/{code}"): (
        lambda w, r: ("/categories/no_such_matter", {}),
        ADMIN_ONLY,
        {404},
    ),
    ("GET", "/departments"): (lambda w, r: ("/departments", {}), ANYONE, {200}),
    ("POST", "/departments"): (
        lambda w, r: ("/departments", {"json": {"name": f"矩阵部门{next(_counter)}"}}),
        ADMIN_ONLY,
        {201},
    ),
    ("GET", "/departments/{department_id}"): (
        lambda w, r: (f"/departments/{w['deps'][0]['department_id']}", {}),
        ANYONE,
        {200},
    ),
    ("PATCH", "/departments/{department_id}"): (
        lambda w, r: (f"/departments/{w['deps'][0]['department_id']}", {"json": {"phone": "1"}}),
        ADMIN_ONLY,
        {200},
    ),
    ("DELETE", "/departments/{department_id}"): (
        lambda w, r: ("/departments/999999", {}),
        ADMIN_ONLY,
        {404},
    ),
    ("GET", "/coverage"): (lambda w, r: ("/coverage", {}), ANYONE, {200}),
    ("POST", "/coverage"): (
        lambda w, r: (
            "/coverage",
            {
                "json": {
                    "department_id": w["deps"][0]["department_id"],
                    "category": "noise",
                    "grid_codes": w["codes"][:2],
                }
            },
        ),
        {"county_editor", "admin"},  # drafts a change set; reviewers accept, never draft
        {202},
    ),
    ("DELETE", "/coverage/{coverage_id}"): (
        lambda w, r: (f"/coverage/{_coverage_row(w)}", {}),
        {"county_editor", "admin"},  # drafts a change set ending the row, like POST /coverage
        {202},
    ),
    ("GET", "/conformance"): (lambda w, r: ("/conformance", {}), ANYONE, {200}),
    ("GET", "/collections"): (lambda w, r: ("/collections", {}), ANYONE, {200}),
    ("GET", "/collections/{collection_id}"): (
        lambda w, r: ("/collections/grids", {}),
        ANYONE,
        {200},
    ),
    ("GET", "/collections/{collection_id}/items"): (
        lambda w, r: ("/collections/grids/items", {}),
        ANYONE,
        {200},
    ),
    ("GET", "/collections/{collection_id}/items/{feature_id}"): (
        lambda w, r: (f"/collections/grids/items/{w['codes'][0]}", {}),
        ANYONE,
        {200},
    ),
    ("GET", "/tiles/{z}/{x}/{y}.mvt"): (lambda w, r: ("/tiles/0/0/0.mvt", {}), ANYONE, {200}),
    ("GET", "/admin/tokens"): (lambda w, r: ("/admin/tokens", {}), ADMIN_ONLY, {200}),
    ("POST", "/admin/tokens"): (
        lambda w, r: (
            "/admin/tokens",
            {"json": {"user": f"矩阵调度员{next(_counter)}", "role": "dispatcher"}},
        ),
        ADMIN_ONLY,
        {201},
    ),
    ("DELETE", "/admin/tokens/{token_id}"): (
        lambda w, r: ("/admin/tokens/999999", {}),
        ADMIN_ONLY,
        {404},
    ),
    ("GET", "/admin/index"): (lambda w, r: ("/admin/index", {}), ADMIN_ONLY, {200}),
    ("GET", "/admin/metrics"): (lambda w, r: ("/admin/metrics", {}), ADMIN_ONLY, {200}),
    # the filing workflow (issue 13): acts on a change set that does not exist → 404
    ("POST", "/changes"): (
        lambda w, r: (
            "/changes",
            {"params": {"county": "110101", "filename": "grids.txt"}, "content": b"x"},
        ),
        {"county_editor", "admin"},  # other_county: 403 for county 110101
        {400},  # the role and the county pass; the format is refused
    ),
    ("GET", "/changes"): (lambda w, r: ("/changes", {}), READS_CHANGES, {200}),
    ("GET", "/changes/{changeset_id}"): (
        lambda w, r: (f"/changes/{_cs(w)}", {}),
        OWN_SCOPE,
        {200},
    ),
    ("GET", "/changes/{changeset_id}/diff"): (
        lambda w, r: (f"/changes/{_cs(w)}/diff", {}),
        OWN_SCOPE,
        {200},
    ),
    ("GET", "/changes/{changeset_id}/grids"): (
        lambda w, r: (f"/changes/{_cs(w)}/grids", {}),
        OWN_SCOPE,
        {200},
    ),
    ("GET", "/changes/{changeset_id}/package"): (
        lambda w, r: (f"/changes/{_cs(w)}/package", {}),
        OWN_SCOPE,
        {200},
    ),
    ("POST", "/changes/{changeset_id}/file"): (
        lambda w, r: ("/changes/999999/file", {"json": {}}),
        EDITS_CHANGES,
        {404},
    ),
    ("POST", "/changes/{changeset_id}/withdraw"): (
        lambda w, r: ("/changes/999999/withdraw", {"json": {"reason": "矩阵"}}),
        EDITS_CHANGES,
        {404},
    ),
    ("POST", "/changes/{changeset_id}/accept"): (
        lambda w, r: ("/changes/999999/accept", {"json": {"reason": "矩阵"}}),
        REVIEWS_CHANGES,
        {404},
    ),
    ("POST", "/changes/{changeset_id}/return"): (
        lambda w, r: ("/changes/999999/return", {"json": {"reason": "矩阵"}}),
        REVIEWS_CHANGES,
        {404},
    ),
    ("GET", "/notifications"): (lambda w, r: ("/notifications", {}), STAFF, {200}),
    ("POST", "/notifications/{notification_id}/read"): (
        lambda w, r: ("/notifications/999999/read", {}),
        STAFF,
        {404},
    ),
    # staffing and matter lists (issue 15)
    ("GET", "/categories/{code}/history"): (
        lambda w, r: ("/categories/noise/history", {}),
        ANYONE,
        {200},
    ),
    ("GET", "/matters/dispatch-check"): (
        lambda w, r: ("/matters/dispatch-check", {"params": {"category": "noise"}}),
        STAFF,
        {200},
    ),
    ("GET", "/route"): (
        lambda w, r: ("/route", {"params": {"category": "noise", "grid_code": w["codes"][0]}}),
        STAFF,
        {200},
    ),
    ("GET", "/staff/check"): (lambda w, r: ("/staff/check", {}), STAFF, {200}),
    ("GET", "/staff/roster"): (lambda w, r: ("/staff/roster", {}), STAFF, {200}),
    # incidents (issue 16): anyone reports and evaluates; staff read the cases of their
    # division; dispatchers and admins act; notices are for department users only
    ("POST", "/incidents"): (
        lambda w, r: ("/incidents", {"json": dict(zip(("lon", "lat"), _point(w), strict=True))}),
        ANYONE,
        {201},
    ),
    ("GET", "/incidents"): (lambda w, r: ("/incidents", {}), STAFF, {200}),
    ("GET", "/incidents/notifications"): (
        lambda w, r: ("/incidents/notifications", {}),
        set(),
        {200},
    ),
    ("GET", "/incidents/stats"): (lambda w, r: ("/incidents/stats", {}), STAFF, {200}),
    ("GET", "/incidents/{case_id}"): (
        lambda w, r: (f"/incidents/{_case(w)}", {}),
        READS_CASES,
        {200},
    ),
    ("POST", "/incidents/{case_id}/actions/{action}"): (
        lambda w, r: (f"/incidents/{_case(w, fresh=True)}/actions/accept", {"json": {}}),
        {"dispatcher", "admin"},
        {200},
    ),
    ("POST", "/incidents/{case_id}/photos"): (
        lambda w, r: (f"/incidents/{_case(w)}/photos", {"content": PNG}),
        {"dispatcher", "admin"},
        {201},
    ),
    ("GET", "/incidents/{case_id}/photos/{photo_id}"): (
        lambda w, r: ("/incidents/{}/photos/{}".format(*_photo(w)), {}),
        READS_CASES,
        {200},
    ),
    ("POST", "/admin/refresh"): (lambda w, r: ("/admin/refresh", {}), ADMIN_ONLY, {200}),
    # patrol tracks (routes_tracks._allow, before the body is read): county editors and
    # admins upload (an empty body is then the 400); county editors, reviewers and admins
    # read the statistics (filtered to their division, never refused for it)
    ("POST", "/tracks"): (
        lambda w, r: ("/tracks", {"params": {"filename": "t.csv"}, "content": b""}),
        {"county_editor", "other_county", "admin"},
        {400},
    ),
    ("GET", "/tracks/summary"): (
        lambda w, r: ("/tracks/summary", {"params": {"from": "2026-11-02", "to": "2026-11-08"}}),
        {
            "county_editor",
            "other_county",
            "city_reviewer",
            "other_city",
            "province_reviewer",
            "centre_reviewer",
            "other_centre",
            "admin",
        },
        {200},
    ),
    # a worker's day map: the readers of the statistics; no fixes stored here, so 404
    ("GET", "/tracks/day"): (
        lambda w, r: ("/tracks/day", {"params": {"worker": "W1", "date": "2026-11-02"}}),
        {
            "county_editor",
            "other_county",
            "city_reviewer",
            "other_city",
            "province_reviewer",
            "centre_reviewer",
            "other_centre",
            "admin",
        },
        {404},
    ),
    # the grid editor: county editors of their own county, admins
    ("GET", "/edit/communities"): (
        lambda w, r: ("/edit/communities", {}),
        {"county_editor", "other_county", "admin"},
        {200},
    ),
    ("GET", "/edit/communities/{code}"): (
        lambda w, r: (f"/edit/communities/{w['codes'][0][:12]}", {}),
        {"county_editor", "admin"},
        {200},
    ),
    ("POST", "/edit/communities/{code}/draft"): (
        lambda w, r: (f"/edit/communities/{w['codes'][0][:12]}/draft", {"json": _unchanged(w)}),
        {"county_editor", "admin"},
        {200},
    ),
}


def test_every_documented_route_is_in_the_matrix(world):
    documented = {
        (method.upper(), path)
        for path, ops in world["client"].app.openapi()["paths"].items()
        for method in ops
    }
    assert documented == set(ROUTES), "add the new routes to ROUTES with their roles"


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "no-token")
@pytest.mark.parametrize("route", list(ROUTES), ids=lambda k: f"{k[0]} {k[1]}")
def test_role_route_division_matrix(world, route, role):
    build, allowed, ok = ROUTES[route]
    path, kwargs = build(world, role)
    kwargs["headers"] = {**kwargs.get("headers", {}), **_h(world, role)}
    r = world["client"].request(route[0], path, **kwargs)
    if role in allowed:
        assert r.status_code in ok, r.text
    else:
        assert r.status_code == (401 if role is None else 403), r.text
        assert r.json()["detail"]  # the reason is given


#: who sees household and population counts of the grids of county 110101
SEES_COUNTS = OWN_SCOPE


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "no-token")
def test_household_counts_only_within_the_division(world, role):
    c, code = world["client"], world["codes"][0]
    items = c.get("/collections/grids/items", headers=_h(world, role)).json()["features"]
    one = c.get(f"/collections/grids/items/{code}", headers=_h(world, role)).json()
    shown = {"households" in f["properties"] for f in items} | {"households" in one["properties"]}
    assert shown == {role in SEES_COUNTS}


#: who may edit coverage at all; a polygon is refused even for them
EDITS_COVERAGE = STAFF - {"dispatcher"}


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "no-token")
def test_polygon_coverage_is_refused_for_every_role(world, role):
    """Departments never draw their own area: in or out of the division, reviewer or
    admin, a coverage polygon is a 4xx and nothing is stored (docs/rules.md "Who serves
    which grid")."""
    c = world["client"]
    before = c.get("/coverage", headers=_h(world, "admin")).json()
    lon, lat = _point(world)
    d = 0.0002
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat - d]]
    r = c.post(
        "/coverage",
        json={
            "department_id": world["deps"][1]["department_id"],
            "category": "noise",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        },
        headers=_h(world, role),
    )
    if role in EDITS_COVERAGE:
        assert r.status_code == 400, r.text
        assert [(p["rule"], p["field"]) for p in r.json()["problems"]] == [
            ("coverage.polygon", "geometry")
        ]
    else:  # may not edit coverage at all
        assert r.status_code == (401 if role is None else 403), r.text
    assert c.get("/coverage", headers=_h(world, "admin")).json() == before


def test_revoked_and_expired_tokens_are_401_with_reason(world):
    from datetime import UTC, datetime, timedelta

    from gridgeo.registry import audit_log

    c, h = world["client"], _h(world, "admin")
    made = c.post(
        "/admin/tokens",
        json={"user": "临时调度员", "role": "dispatcher", "name": "临时"},
        headers=h,
    ).json()
    assert made["name"] == "临时" and made["user"] == "临时调度员"
    listed = {t["token_id"]: t for t in c.get("/admin/tokens", headers=h).json()}
    assert listed[made["token_id"]]["name"] == "临时"
    assert c.delete(f"/admin/tokens/{made['token_id']}", headers=h).status_code == 204
    r = c.get("/locate?lon=121&lat=25", headers={"Authorization": f"Bearer {made['token']}"})
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert r.headers["WWW-Authenticate"] == "Bearer"
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    made = c.post(
        "/admin/tokens",
        json={"user": "临时调度员", "name": "一秒", "expires_at": soon},
        headers=h,
    ).json()
    import time

    time.sleep(1.2)
    r = c.get("/locate?lon=121&lat=25", headers={"Authorization": f"Bearer {made['token']}"})
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    refused = audit_log(world["url"]).query("action == 'token_refused'")
    assert list(refused["actor"]) == ["临时调度员", "临时调度员"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"user": "x6", "role": "county_editor", "division_code": "6"}, "is not in the registry"),
        (
            {"user": "x7", "role": "county_editor", "division_code": "1101"},
            "must be of level county",
        ),
        (
            {"user": "x8", "role": "city_reviewer", "division_code": "110101"},
            "must be of level city",
        ),
        ({"user": "x9", "role": "county_editor"}, "needs a division"),
    ],
)
def test_tokens_only_for_real_divisions_of_the_right_level(world, body, message):
    r = world["client"].post("/admin/tokens", json=body, headers=_h(world, "admin"))
    assert r.status_code == 400 and message in r.json()["detail"]
    assert [(p["rule"], p["field"]) for p in r.json()["problems"]] == [
        ("user.division", "division_code")
    ]


def test_cli_and_api_share_users_and_tokens(world):
    from gridgeo.registry import authenticate, issue_token

    c = world["client"]
    # a token made as `gridgeo tokens create` does works on the API …
    made = issue_token(world["url"], "共用调度员", name="命令行", by="test", role="dispatcher")
    batch = c.post(
        "/locate/batch",
        content="lon,lat\n{},{}\n".format(*_point(world)),
        headers={"Content-Type": "text/csv", "Authorization": f"Bearer {made.token}"},
    )
    assert batch.status_code == 200, batch.text
    # … and one made through the API authenticates the same user for the CLI
    api = c.post(
        "/admin/tokens",
        json={"user": "county_editor", "name": "第二把"},
        headers=_h(world, "admin"),
    ).json()
    who = authenticate(world["url"], api["token"])
    assert (who.name, who.role, who.division_code) == ("county_editor", "county_editor", "110101")
