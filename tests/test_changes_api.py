"""The filing workflow over HTTP (routes_changes) on the real PostGIS and Da'an data."""

from __future__ import annotations

import contextlib
import io
import zipfile

import pytest
from fastapi.testclient import TestClient
from test_filing import _households, _merge_first_two
from test_registry import ADMIN as ADMIN_ACTOR
from test_registry import COUNTY, PATTERN, _register, communities_of, grids_of

from gridgeo.io import write_layers
from gridgeo.registry import audit_log, get_changeset, grids_at
from gridgeo.registry.bindings import bind_profile
from gridgeo.registry.divisions import register_division
from gridgeo.registry.households import load_households
from gridgeo.registry.users import Principal
from gridgeo.service import create_app
from gridgeo.service.settings import ServiceSettings
from gridgeo.settings import Settings

ADMIN = "test-admin-token"
#: the city that receives the filings, Da'an (COUNTY) and a neighbouring district
DIVISIONS = (
    ("63000", "台北市", "city", None),
    (COUNTY, "大安区", "county", "63000"),
    ("63000031", "邻区", "county", "63000"),
)


def _where(r) -> list[tuple[str | None, str | None]]:
    """(rule, field) of every problem of an HTTP 4xx answer."""
    return [(p["rule"], p["field"]) for p in r.json()["problems"]]


def _gpkg(tmp_path, name, layers) -> bytes:
    path = tmp_path / name
    write_layers(path, layers)
    return path.read_bytes()


@contextlib.contextmanager
def _service(url, tmp):
    """The service on ``url`` (divisions, bound profile) and a token per person."""
    # a token's division must be registered (registry.user_token → registry.divisions)
    for code, name, level, parent in DIVISIONS:
        register_division(url, code, name, level=level, parent_code=parent)
    bind_profile(
        url, COUNTY, "yongzhou", actor=ADMIN_ACTOR, code_pattern=PATTERN, receiver_code="63000"
    )
    app = create_app(
        Settings(database_url=url),
        ServiceSettings(admin_token=ADMIN, token_cache_s=0.0, upload_max_bytes=5_000_000),
    )
    with TestClient(app) as client:
        tokens = {"admin": ADMIN}
        for name, role, div in (
            ("editor", "county_editor", COUNTY),
            ("other", "county_editor", "63000031"),
            ("reviewer", "city_reviewer", "63000"),
            ("reviewer2", "city_reviewer", "63000"),
            ("dispatcher", "dispatcher", ""),
        ):
            r = client.post(
                "/admin/tokens",
                json={"role": role, "division_code": div, "label": name},
                headers={"Authorization": f"Bearer {ADMIN}"},
            )
            assert r.status_code == 201, r.text
            tokens[name] = r.json()["token"]
        yield client, tokens, tmp


@pytest.fixture(scope="module")
def api(db_url, tmp_path_factory):
    """The service on this module's database, whose registry holds three villages' grids
    (registered here, so that every test may run first)."""
    with _service(db_url, tmp_path_factory.mktemp("api")) as a:
        _register(db_url, grids_of(3), communities_of(3))
        yield a


@pytest.fixture
def fresh_api(fresh_db_url, tmp_path):
    """The service on an empty registry of its own (the whole workflow starts from nothing)."""
    with _service(fresh_db_url, tmp_path) as a:
        yield a


def _h(tokens, who):
    return {"Authorization": f"Bearer {tokens[who]}"}


def _upload(client, tokens, who, body, **params):
    return client.post(
        "/changes",
        params={"county": COUNTY, "filename": "grids.gpkg", **params},
        content=body,
        headers={**_h(tokens, who), "Content-Type": "application/octet-stream"},
    )


def test_whole_workflow_over_http(fresh_api, fresh_db_url):
    client, tokens, tmp = fresh_api
    db_url = fresh_db_url
    grids, communities = grids_of(3), communities_of(3)
    base = _gpkg(tmp, "base.gpkg", {"grids": grids, "communities": communities})

    # roles are checked before the body is read: no token, wrong role, wrong county
    assert client.post("/changes", params={"county": COUNTY}, content=base).status_code == 401
    assert _upload(client, tokens, "reviewer", base).status_code == 403
    r = _upload(client, tokens, "other", base)
    assert r.status_code == 403 and "63000031" in r.json()["detail"]
    refused = audit_log(db_url)
    assert refused["action"].iloc[-1] == "load_refused" and refused["actor"].iloc[-1] == "other"
    r = _upload(client, tokens, "editor", b"not a geopackage")
    assert r.status_code == 400
    assert client.get("/changes", headers=_h(tokens, "editor")).json() == []  # nothing half-written

    r = _upload(client, tokens, "editor", base, title="首次登记")
    assert r.status_code == 201, r.text
    first = r.json()["changeset_id"]
    r = client.post(f"/changes/{first}/file", headers=_h(tokens, "editor"), json={})
    assert (
        r.status_code == 400 and "validate.size." in r.text
    )  # declared sizes out of band (floor or ceiling)
    r = client.post(
        f"/changes/{first}/file",
        headers=_h(tokens, "editor"),
        json={"force": True, "force_reason": "现状网格先行登记"},
    )
    assert r.status_code == 200, r.text
    assert client.post(f"/changes/{first}/accept", headers=_h(tokens, "editor")).status_code == 403
    r = client.post(f"/changes/{first}/accept", headers=_h(tokens, "reviewer"), json={})
    assert r.status_code == 200, r.text
    assert len(grids_at(db_url)) == len(grids)

    # the acceptance scenario: a merged grid of 700+ households, recounted from points
    load_households(
        db_url, _households(), county=COUNTY, actor=Principal("e", "county_editor", COUNTY)
    )
    merged, total = _merge_first_two(grids)
    r = _upload(client, tokens, "editor", _gpkg(tmp, "merged.gpkg", {"grids": merged}))
    assert r.status_code == 201, r.text
    cs = r.json()["changeset_id"]
    r = client.post(f"/changes/{cs}/file", headers=_h(tokens, "editor"), json={})
    assert r.status_code == 400
    assert any(p["rule"] == "validate.size.above_ceiling" for p in r.json()["problems"])
    r = client.post(f"/changes/{cs}/file", headers=_h(tokens, "editor"), json={"force": True})
    assert r.status_code == 400 and "written reason" in r.json()["detail"]
    assert _where(r) == [("filing.force_reason", "force_reason")]
    r = client.post(
        f"/changes/{cs}/file",
        headers=_h(tokens, "editor"),
        json={"force": True, "force_reason": "封闭小区，暂不拆分"},
    )
    assert r.status_code == 200
    r = client.post(
        f"/changes/{cs}/file",
        headers=_h(tokens, "editor"),
        json={"force": True, "force_reason": "again"},
    )
    assert r.status_code == 409 and "only a draft" in r.json()["detail"]

    shown = client.get(f"/changes/{cs}", headers=_h(tokens, "reviewer")).json()
    assert shown["changeset"]["force_reason"] == "封闭小区，暂不拆分"
    assert any(str(total) in b["message"] for b in shown["changeset"]["forced_breaks"])
    assert client.get(f"/changes/{cs}", headers=_h(tokens, "other")).status_code == 403
    assert client.get(f"/changes/{cs}").status_code == 401
    diff = client.get(f"/changes/{cs}/diff", headers=_h(tokens, "reviewer")).json()
    assert {c["change"] for c in diff["codes"]} >= {"new", "retired"}
    geo = client.get(f"/changes/{cs}/grids", headers=_h(tokens, "reviewer")).json()
    assert len(geo["before"]["features"]) == 2 and len(geo["after"]["features"]) == 1
    pkg = client.get(f"/changes/{cs}/package", headers=_h(tokens, "reviewer"))
    assert pkg.status_code == 200
    with zipfile.ZipFile(io.BytesIO(pkg.content)) as zf:
        assert "封闭小区，暂不拆分" in zf.read("summary.html").decode()

    r = client.post(f"/changes/{cs}/return", headers=_h(tokens, "reviewer"), json={})
    assert r.status_code == 409  # a return needs a reason
    r = client.post(
        f"/changes/{cs}/return", headers=_h(tokens, "reviewer"), json={"reason": "请沿道路中线拆分"}
    )
    assert r.status_code == 200
    got = get_changeset(db_url, cs)
    assert (got.status, got.decision_reason) == ("returned", "请沿道路中线拆分")
    actions = list(audit_log(db_url, changeset_id=cs)["action"])
    assert actions.count("file_refused") == 3 and "return_refused" in actions

    r = client.post(f"/changes/{cs}/accept", headers=_h(tokens, "reviewer"), json={"x": 1})
    assert r.status_code == 400  # unknown body field

    # the household layer is restricted: no collection serves it
    ids = {c["id"] for c in client.get("/collections").json()["collections"]}
    assert not any("household" in i for i in ids)

    spec = client.get("/openapi.json").json()
    for path in ("/changes", "/changes/{changeset_id}/file", "/changes/{changeset_id}/accept"):
        assert path in spec["paths"]
    assert "application/octet-stream" in str(spec["paths"]["/changes"]["post"]["requestBody"])


def test_too_large_uploads_are_refused(api):
    client, tokens, _ = api
    r = _upload(client, tokens, "editor", b"\0" * 5_000_001)
    assert r.status_code == 413
    r = _upload(client, tokens, "editor", b"x", filename="grids.dxf")
    assert r.status_code == 400 and _where(r) == [("upload.format", "filename")]


def test_departments_read_their_notifications(api, db_url):
    client, tokens, _ = api
    assert client.get("/notifications").status_code == 401
    r = client.get("/notifications", headers=_h(tokens, "dispatcher"), params={"unread": True})
    assert r.status_code == 200 and isinstance(r.json(), list)
    assert (
        client.post("/notifications/999/read", headers=_h(tokens, "dispatcher")).status_code == 404
    )


@pytest.mark.parametrize("fmt", ["geojson", "shapefile"])
def test_geojson_and_zipped_shapefile_uploads_become_drafts(api, db_url, fmt):
    client, tokens, tmp = api
    current = grids_at(db_url)
    last = sorted(set(current["community_code"]))[-1]
    layer = current[current["community_code"] == last].copy()
    layer = layer[
        [
            "grid_code",
            "grid_name",
            "grid_type",
            "community_code",
            "households",
            "population",
            "geometry",
        ]
    ]
    layer.loc[layer.index[0], "grid_name"] = f"改名网格（{fmt}）"
    if fmt == "geojson":
        path = tmp / "rename.geojson"
        layer.to_crs(4326).to_file(path, driver="GeoJSON")
        body, name = path.read_bytes(), "rename.geojson"
    else:
        folder = tmp / "shp"
        folder.mkdir(exist_ok=True)
        layer.to_file(folder / "grids.shp", encoding="utf-8")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for f in folder.iterdir():
                zf.write(f, f.name)
        body, name = buf.getvalue(), "rename.zip"
    r = _upload(client, tokens, "editor", body, filename=name)
    assert r.status_code == 201, r.text
    assert r.json()["actions"] == {"rename": 1}
    cs = r.json()["changeset_id"]
    r = client.post(
        f"/changes/{cs}/withdraw", headers=_h(tokens, "editor"), json={"reason": "测试"}
    )
    assert r.status_code == 200 and get_changeset(db_url, cs).status == "withdrawn"


def test_four_eyes_over_http_with_three_people(api, db_url):
    """A drafts, B files, then B and A are refused the decision and C accepts — over HTTP,
    with administrators (who may both draft and review) as A and B."""
    client, tokens, tmp = api
    admin = {"Authorization": f"Bearer {ADMIN}"}
    for user in ("管理员甲", "管理员乙"):
        r = client.post(
            "/admin/tokens", json={"user": user, "role": "admin", "name": "双人审核"}, headers=admin
        )
        assert r.status_code == 201, r.text
        tokens[user] = r.json()["token"]
    current = grids_at(db_url)
    first = sorted(set(current["community_code"]))[0]
    layer = current[current["community_code"] == first].copy()
    columns = ["grid_code", "grid_name", "grid_type", "community_code", "households"]
    layer = layer[[*columns, "population", "geometry"]]
    layer.loc[layer.index[0], "grid_name"] = "双人审核网格"
    r = _upload(client, tokens, "管理员甲", _gpkg(tmp, "four-eyes.gpkg", {"grids": layer}))
    assert r.status_code == 201, r.text
    cs = r.json()["changeset_id"]
    r = client.post(
        f"/changes/{cs}/file",
        headers=_h(tokens, "管理员乙"),
        json={"force": True, "force_reason": "测试双人审核"},
    )
    assert r.status_code == 200, r.text
    for who in ("管理员乙", "管理员甲"):  # the filer, then the drafter
        r = client.post(f"/changes/{cs}/accept", headers=_h(tokens, who), json={})
        assert r.status_code == 403, r.text
        assert "four eyes" in r.json()["detail"]
    assert get_changeset(db_url, cs).status == "filed"
    r = client.post(f"/changes/{cs}/accept", headers=_h(tokens, "reviewer"), json={})
    assert r.status_code == 200, r.text
    log = audit_log(db_url, changeset_id=cs)
    assert list(log["action"]) == ["draft", "file", "accept_refused", "accept_refused", "accept"]
    assert list(log["actor"])[:4] == ["管理员甲", "管理员乙", "管理员乙", "管理员甲"]
