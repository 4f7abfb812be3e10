"""Cheap anonymous load (issue 14, item 8): rate limits per client, token guessing, /health,
transformers and past snapshots off the event loop, no constraint names in errors."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from gridgeo.service import create_app
from gridgeo.service.settings import ServiceSettings
from gridgeo.settings import Settings

pytestmark = pytest.mark.db

TOKEN = "limits-admin-token-0123456789"


def _app(db_url, **kw):
    return create_app(
        Settings(database_url=db_url),
        ServiceSettings(admin_token=TOKEN, listen=False, token_cache_s=0.0, **kw),
    )


def test_anonymous_requests_are_rate_limited_per_client(db_url):
    app = _app(db_url, rate_limit_per_s=1.0, rate_limit_burst=5)
    with TestClient(app) as c:
        t0 = time.monotonic()
        answers = [c.get("/conformance") for _ in range(8)]
        refilled = int(time.monotonic() - t0)  # 1 request per second comes back meanwhile
        codes = [a.status_code for a in answers]
        assert codes[:5] == [200] * 5  # the burst
        assert 5 <= codes.count(200) <= 5 + refilled and 429 in codes
        r = next(a for a in answers if a.status_code == 429)
        assert int(r.headers["retry-after"]) >= 1
        assert "too many requests" in r.json()["detail"]
        # a caller with a token is not slowed by the anonymous bucket
        ok = c.get("/conformance", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200
        time.sleep(1.1)
        assert c.get("/conformance").status_code == 200  # the bucket refills


def test_token_guessing_is_stopped_after_a_few_failures(db_url):
    app = _app(db_url, auth_failures_per_min=6, auth_failures_burst=3)
    with TestClient(app) as c:
        guesses = [
            c.get("/health", headers={"Authorization": f"Bearer guess-{i}"}).status_code
            for i in range(10)
        ]
        assert guesses[:3] == [401] * 3 and set(guesses[3:]) == {429}
        # even the right token waits: the address is guessing
        assert c.get("/health", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 429
        # anonymous reading goes on
        assert c.get("/health").status_code == 200


def test_health_tells_anonymous_callers_no_versions(db_url):
    with TestClient(_app(db_url)) as c:
        assert c.get("/health").json() == {"status": "ok"}
        full = c.get("/health", headers={"Authorization": f"Bearer {TOKEN}"}).json()
        assert {"gridgeo", "postgresql", "postgis"} <= set(full)


def test_errors_carry_no_constraint_names(db_url):
    """A check or not-null violation becomes a 400 naming the column, not the constraint."""
    import psycopg

    from gridgeo.errors import InputError
    from gridgeo.service.deps import db_errors

    for statement in (
        "INSERT INTO service.category (code, name) VALUES ('BAD CODE', 'x')",
        "INSERT INTO service.category (code, name) VALUES ('ok_code', NULL)",
        "INSERT INTO registry.user_token (token_sha256, user_id, created_by) "
        "VALUES ('nothex', 1, 'test')",
        "INSERT INTO registry.divisions (code, name, level) VALUES ('x1', 'x', 'planet')",
    ):
        with (
            psycopg.connect(db_url) as conn,
            pytest.raises(InputError) as err,
            db_errors("adding"),
        ):
            conn.execute(statement)
        text = str(err.value)
        assert "constraint" not in text and "_check" not in text and "_key" not in text, text
        assert err.value.problems[0].field in ("code", "name", "token_sha256", "level"), text


def test_new_crs_is_built_off_the_event_loop(db_url, monkeypatch):
    """A CRS never seen before is prepared in the thread pool, not on the event loop."""
    import functools
    import threading

    from gridgeo.locate import points

    seen: list[str] = []
    real = points._plan.__wrapped__

    @functools.lru_cache(maxsize=64)
    def spy(crs, srid):
        seen.append(threading.current_thread().name)
        return real(crs, srid)

    monkeypatch.setattr(points, "_plan", spy)
    with TestClient(_app(db_url)) as c:
        loop_thread = c.portal.call(lambda: threading.current_thread().name)
        r = c.get("/locate", params={"lon": 500000, "lat": 2800000, "crs": "EPSG:32650"})
        assert r.status_code == 200, r.text
    assert seen and loop_thread not in seen


def test_background_threads_hold_the_interpreter_briefly_while_serving(db_url):
    """A snapshot reload or tile pre-render thread may keep the request thread waiting for
    the interpreter at most GRIDGEO_GIL_SWITCH_MS at a time (Python's 5 ms otherwise), while
    the service runs; the process's own setting comes back when it stops."""
    import sys

    from pydantic import ValidationError

    before = sys.getswitchinterval()
    with TestClient(_app(db_url)) as c:
        assert c.get("/health").status_code in (200, 503)
        assert sys.getswitchinterval() == pytest.approx(0.001)
    assert sys.getswitchinterval() == pytest.approx(before)
    with TestClient(_app(db_url, gil_switch_ms=0.5)):
        assert sys.getswitchinterval() == pytest.approx(0.0005)
    assert sys.getswitchinterval() == pytest.approx(before)
    with pytest.raises(ValidationError):
        ServiceSettings(gil_switch_ms=0)
