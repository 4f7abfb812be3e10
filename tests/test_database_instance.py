"""A private PostGIS instance of this module's own (a temporary GRIDGEO_HOME).

- it asks for passwords (SCRAM), and the service connects as the application login;
- the service survives ``kill -9`` of the postmaster: once the database is back, /locate
  answers from the registry as it is now (a change made without NOTIFY shows up with no
  POST /admin/refresh: the listener re-snapshots on reconnecting), and a request that
  takes a pooled connection gets a live one, not a 503.
"""

from __future__ import annotations

import os
import signal
import time

import psycopg
import pytest
from fastapi.testclient import TestClient

from gridgeo.database.connect import app_database_url
from gridgeo.database.instance import APP_LOGIN, PrivateInstance
from gridgeo.database.lifecycle import ensure_ready
from gridgeo.service import create_app
from gridgeo.service.settings import ServiceSettings
from gridgeo.settings import Settings
from gridgeo.testing import seed_registry

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("gridgeo-home"), pg_dbname="gridgeo")
    inst = PrivateInstance(settings)
    ready = ensure_ready(settings)
    seed_registry(ready.url, 2, 2, seed=5)
    yield settings, inst, ready
    inst.reset()


def _grid_point(url: str) -> tuple[str, float, float]:
    with psycopg.connect(url) as conn:
        code, x, y = conn.execute(
            "SELECT grid_code, ST_X(p), ST_Y(p) FROM (SELECT grid_code, "
            "ST_Transform(ST_PointOnSurface(geom), 4326) AS p FROM registry.grids_at(now()) "
            "ORDER BY grid_code LIMIT 1) s"
        ).fetchone()
    return code, x, y


def test_passwords_are_required_and_the_app_logs_in_as_itself(instance):
    settings, inst, ready = instance
    port = inst.port
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(f"postgresql://{settings.pg_user}@127.0.0.1:{port}/gridgeo").close()
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(f"postgresql://{settings.pg_user}:wrong@127.0.0.1:{port}/gridgeo").close()
    assert ready.app_url == app_database_url(settings)
    with psycopg.connect(ready.app_url) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == APP_LOGIN
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE registry.audit_log DISABLE TRIGGER ALL")
    mode = inst.state_file.stat().st_mode & 0o777
    assert mode == 0o600  # the passwords' file


def _kill_and_restart(inst: PrivateInstance) -> None:
    pid = inst.status().pid
    assert pid
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while inst.status().running and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # the backends notice their postmaster is gone and exit
    for attempt in range(20):
        try:
            inst.start()
            return
        except Exception:  # shared memory of the killed server still in use
            if attempt == 19:
                raise
            time.sleep(0.5)


def test_after_kill_9_locate_answers_from_the_new_registry(instance):
    settings, inst, ready = instance
    code, lon, lat = _grid_point(ready.url)
    listening = create_app(settings, ServiceSettings(admin_token="a" * 20, listen=True))
    quiet = create_app(settings, ServiceSettings(admin_token="a" * 20, listen=False))
    with TestClient(listening) as a, TestClient(quiet) as b:
        state = listening.state.registry_state
        assert state.listening.wait(10)
        first = a.get("/locate", params={"lon": lon, "lat": lat}).json()
        assert first["grid"]["code"] == code
        # a change the service cannot hear about: no trigger, so no NOTIFY
        with psycopg.connect(ready.url) as conn:
            conn.execute("SET session_replication_role = replica")
            sid = conn.execute(
                "INSERT INTO registry.staff (person_name, phone, is_sample) "
                "VALUES ('重启后网格员', '100-0000-7777', true) RETURNING staff_id"
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO registry.staff_assignment (staff_id, grid_code, role, posted, "
                "valid_from) VALUES (%s, %s, 'full_time', true, '2000-01-01')",
                (sid, code),
            )
        time.sleep(1.0)
        stale = a.get("/locate", params={"lon": lon, "lat": lat}).json()
        assert "重启后网格员" not in {c["name"] for c in stale["contacts"]}

        reconnects = state.reconnects
        _kill_and_restart(inst)
        up = time.monotonic()
        # a request that needs a pooled connection gets a live one at once
        r = b.get("/collections/grids/items", params={"limit": 1})
        assert r.status_code == 200, r.text
        # the listener reconnects and re-snapshots by itself
        while time.monotonic() - up < 15:
            got = a.get("/locate", params={"lon": lon, "lat": lat})
            assert got.status_code == 200, got.text
            if "重启后网格员" in {c["name"] for c in got.json()["contacts"]}:
                break
            time.sleep(0.1)
        else:
            pytest.fail("/locate still answers from the registry of before the restart")
        assert time.monotonic() - up < 10
        assert state.reconnects > reconnects
        assert a.get("/health").status_code == 200
