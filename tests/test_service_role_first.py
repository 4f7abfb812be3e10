"""The service checks a token's role before it reads a request body, files coverage as a
change set, reads public paths as the read-only database role, and counts only wrong
tokens as failed ones."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import test_service
from fastapi.testclient import TestClient
from test_service import ADMIN, auth

from gridgeo.service import create_app
from gridgeo.service.settings import ServiceSettings
from gridgeo.settings import Settings

pytestmark = pytest.mark.db

world = test_service.world


def _post_partly(app, path: str, token: str, declared: int) -> tuple[int, int]:
    """POST ``path`` declaring ``declared`` bytes but offering only the first 64 KiB chunk.

    Returns the status and how many times the server asked for the body.
    """
    asks = 0

    async def receive():
        nonlocal asks
        asks += 1
        if asks == 1:
            return {"type": "http.request", "body": b'{"name": "' + b"x" * 65536, "more_body": True}
        await asyncio.sleep(3600)  # the rest never comes: a server that waits for it hangs
        return {"type": "http.disconnect"}

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(declared).encode()),
        ],
        "client": ("192.0.2.7", 50000),
        "server": ("testserver", 80),
    }
    # a loop of its own in a thread of its own: a browser test's loop may be running here
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, asyncio.wait_for(app(scope, receive, send), timeout=60)).result()
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], asks


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/categories", "dispatcher"),
        ("/departments", "county_editor"),
        ("/coverage", "public"),
        ("/admin/tokens", "city_reviewer"),
    ],
)
def test_wrong_role_gets_403_before_the_body_is_read(world, path, role):
    app = world["client"].app
    status, asks = _post_partly(app, path, world["tokens"][role], declared=1_500_000)
    assert status == 403
    assert asks == 0  # not a byte of the body was asked for


def test_right_role_reads_the_body(world):
    # the control: the admin's request is let through and its body read (then found cut)
    r = world["client"].post(
        "/categories",
        content=b'{"code": ',
        headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
    )
    assert r.status_code in (400, 422), r.text


def test_coverage_is_a_change_set_filed_and_accepted_by_another_person(world):
    c = world["client"]
    dep = world["deps"][1]
    grid = world["codes"][3]
    editor, reviewer = auth(world, "county_editor"), auth(world, "city_reviewer")

    def listed() -> bool:
        rows = c.get("/coverage", params={"category": "noise", "grid_code": grid}).json()
        return any(r["department_id"] == dep["department_id"] for r in rows)

    body = {"department_id": dep["department_id"], "category": "noise", "grid_codes": [grid]}
    r = c.post("/coverage", json=body, headers=editor)
    assert r.status_code == 202, r.text
    draft = r.json()
    assert draft["status"] == "draft" and draft["county_code"] == "110101"
    assert draft["items"] == 1 and draft["next"] == f"/changes/{draft['changeset_id']}/file"
    assert not listed()  # a draft writes no coverage
    cs = draft["changeset_id"]
    items = c.get(f"/changes/{cs}", headers=editor).json()
    assert "reassign_department" in str(items)
    assert c.post(f"/changes/{cs}/file", json={}, headers=editor).status_code == 200
    assert not listed()  # nor does a filing
    # a county editor files, it never accepts: that is the city's (another person)
    assert c.post(f"/changes/{cs}/accept", json={}, headers=editor).status_code == 403
    r = c.post(f"/changes/{cs}/accept", json={}, headers=reviewer)
    assert r.status_code == 200, r.text
    assert listed()


def test_ending_coverage_is_a_change_set_too(world):
    c = world["client"]
    dep = world["deps"][1]
    grid = world["codes"][4]
    editor, reviewer = auth(world, "county_editor"), auth(world, "city_reviewer")
    test_service.accept_coverage(
        c,
        {"department_id": dep["department_id"], "category": "noise", "grid_codes": [grid]},
        editor,
        reviewer,
    )

    def rows(**at) -> list[dict]:
        got = c.get("/coverage", params={"category": "noise", "grid_code": grid, **at}).json()
        return [r for r in got if r["department_id"] == dep["department_id"]]

    (row,) = rows()
    # reviewers accept endings, they do not draft them
    assert c.delete(f"/coverage/{row['coverage_id']}", headers=reviewer).status_code == 403
    r = c.delete(f"/coverage/{row['coverage_id']}", headers=editor)
    assert r.status_code == 202, r.text
    cs = r.json()["changeset_id"]
    assert r.json()["next"] == f"/changes/{cs}/file" and r.json()["items"] == 1
    assert rows(), "a draft ends nothing"
    items = c.get(f"/changes/{cs}", headers=editor).json()
    assert "end_department" in str(items)
    assert c.post(f"/changes/{cs}/file", json={}, headers=editor).status_code == 200
    assert rows(), "nor does a filing"
    diff = c.get(f"/changes/{cs}/diff", headers=editor)
    assert diff.status_code == 200, diff.text
    # who answers before → after: nobody after the ending
    (moved,) = [m for m in diff.json()["reassignments"] if m["grid_code"] == grid]
    assert moved["before"] == dep["name"] and moved["after"] is None
    r = c.post(f"/changes/{cs}/accept", json={}, headers=reviewer)
    assert r.status_code == 200, r.text
    assert rows() == []
    # kept as history: the row is there at a time before the acceptance
    assert rows(at=row["valid_from"]) and rows(at=row["valid_from"])[0]["valid_to"] is not None
    # the department hears of it (通报相关部门)
    notes = c.get("/notifications", params={"department": dep["name"]}, headers=reviewer)
    assert notes.status_code == 200, notes.text
    assert any(n["changeset_id"] == cs and grid in n["grid_codes"] for n in notes.json())
    # ending it again: already ended
    assert c.delete(f"/coverage/{row['coverage_id']}", headers=editor).status_code == 409


def test_reviewers_accept_coverage_but_do_not_draft_it(world):
    body = {
        "department_id": world["deps"][0]["department_id"],
        "category": "noise",
        "grid_codes": world["codes"][:1],
    }
    r = world["client"].post("/coverage", json=body, headers=auth(world, "city_reviewer"))
    assert r.status_code == 403, r.text


def test_public_reads_use_a_read_only_session(world):
    app = world["client"].app
    assert world["client"].get("/coverage").status_code == 200
    assert world["client"].get("/departments").status_code == 200
    with app.state.read_pool.connection(timeout=10) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "gridgeo_read"
        assert conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO service.category (code, name) VALUES ('w', 'w')")
    with app.state.read_pool.connection(timeout=10) as conn:
        # and not only read-only: the role lacks the privilege, and tokens are out of sight
        conn.execute("SET TRANSACTION READ WRITE")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO service.category (code, name) VALUES ('w', 'w')")
    with (
        app.state.read_pool.connection(timeout=10) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("SELECT * FROM registry.user_token")


def test_public_features_read_through_the_read_only_pool(world):
    """The anonymous feature routes take their sessions from the read-only pool, a caller
    with a token from the application role's; both answer the same public outline."""
    from types import SimpleNamespace

    from gridgeo.service.deps import pool_for

    app = world["client"].app
    req = SimpleNamespace(app=app)
    assert pool_for(req, SimpleNamespace(authenticated=False)) is app.state.read_pool
    assert pool_for(req, SimpleNamespace(authenticated=True)) is app.state.pool
    before = app.state.read_pool.get_stats().get("requests_num", 0)
    r = world["client"].get("/collections/grids/items", params={"limit": 5})
    assert r.status_code == 200 and r.json()["features"], r.text
    assert "households" not in r.json()["features"][0]["properties"]
    assert app.state.read_pool.get_stats().get("requests_num", 0) > before


def test_anonymous_401s_do_not_count_as_failed_tokens(db_url):
    app = create_app(
        Settings(database_url=db_url),
        ServiceSettings(admin_token=ADMIN, listen=False, token_cache_s=0.0, auth_failures_burst=3),
    )
    with TestClient(app) as c:
        refused = [c.post("/categories", json={}).status_code for _ in range(10)]
        assert set(refused) == {401}  # needs a token: no guess
        ok = c.get("/health", headers={"Authorization": f"Bearer {ADMIN}"})
        assert ok.status_code == 200, ok.text
        guesses = [
            c.get("/health", headers={"Authorization": f"Bearer guess-{i}"}).status_code
            for i in range(5)
        ]
        assert guesses[:3] == [401] * 3 and 429 in guesses
