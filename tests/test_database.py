"""The private PostGIS instance and the `gridgeo db` commands, against real servers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from gridgeo.database import PrivateInstance
from gridgeo.settings import Settings

pytestmark = pytest.mark.db  # every test here starts, stops or asks a PostGIS

GG = [sys.executable, "-m", "gridgeo.cli.main"]


def run_gg(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("GRIDGEO_")}
    full |= {"GRIDGEO_LANG": "en"} | env  # the messages asserted are the English ones
    return subprocess.run([*GG, *args], capture_output=True, text=True, env=full, timeout=180)


@pytest.fixture
def own_home(tmp_path: Path):
    """A separate GRIDGEO_HOME with its own instance, removed afterwards."""
    home = tmp_path / "home"
    env = {"GRIDGEO_HOME": str(home)}
    yield env
    PrivateInstance(Settings(home=home)).reset()


def test_db_up_twice_reuses_the_running_instance(own_home):
    first = run_gg(["db", "up"], own_home)
    assert first.returncode == 0, first.stderr
    assert "PostGIS 3" in first.stdout
    inst = PrivateInstance(Settings(home=Path(own_home["GRIDGEO_HOME"])))
    pid = inst.status().pid
    second = run_gg(["db", "up"], own_home)
    assert second.returncode == 0, second.stderr
    assert inst.status().pid == pid, "a second `db up` must reuse the running server"
    with psycopg.connect(inst.url()) as conn:
        assert conn.execute("SELECT postgis_lib_version()").fetchone()[0].startswith("3")
    status = run_gg(["db", "status"], own_home)
    assert status.returncode == 0 and "running" in status.stdout
    assert run_gg(["db", "down"], own_home).returncode == 0
    stopped = run_gg(["db", "status"], own_home)
    assert stopped.returncode == 1 and "stopped" in stopped.stdout


def test_db_up_with_explicit_port_taken_says_so(own_home):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        res = run_gg(["db", "up"], own_home | {"GRIDGEO_PG_PORT": str(port)})
    assert res.returncode == 3
    assert f"port {port}" in res.stderr and "already in use" in res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    inst = PrivateInstance(Settings(home=Path(own_home["GRIDGEO_HOME"])))
    assert not inst.is_initialized(), "refused before initdb: nothing written"


def test_db_up_moves_to_a_free_port_when_the_remembered_one_is_taken(own_home):
    assert run_gg(["db", "up"], own_home).returncode == 0
    inst = PrivateInstance(Settings(home=Path(own_home["GRIDGEO_HOME"])))
    old_port = inst.port
    assert run_gg(["db", "down"], own_home).returncode == 0
    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", old_port))
        blocker.listen()
        res = run_gg(["db", "up"], own_home)
    assert res.returncode == 0, res.stderr
    assert inst.port != old_port and inst.status().running


def test_db_up_recovers_after_the_server_was_killed(own_home):
    assert run_gg(["db", "up"], own_home).returncode == 0
    inst = PrivateInstance(Settings(home=Path(own_home["GRIDGEO_HOME"])))
    pid = inst.status().pid
    os.kill(pid, signal.SIGKILL)
    for _ in range(50):
        if not inst.status().running:
            break
        time.sleep(0.1)
    assert (inst.data_dir / "postmaster.pid").exists(), "a killed server leaves a stale pid file"
    res = run_gg(["db", "up"], own_home)
    assert res.returncode == 0, res.stderr
    assert inst.status().running and inst.status().pid != pid


def test_database_url_pointing_at_a_down_server_is_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: nothing answers
        env = {
            "GRIDGEO_HOME": str(tmp_path / "never"),
            "GRIDGEO_DATABASE_URL": f"postgresql://someone@127.0.0.1:{port}/gridgeo",
        }
        res = run_gg(["db", "up"], env)
    assert res.returncode == 3
    assert "cannot connect to postgresql://someone@127.0.0.1" in res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert not (tmp_path / "never" / "pg").exists(), "no server may be started when the URL is set"


def test_url_hides_nothing_and_status_reports_external(tmp_path, db_url):
    # this module's migrated database (the server's own `gridgeo` database has PostGIS only
    # once some other test has migrated it: not in every order)
    env = {"GRIDGEO_DATABASE_URL": db_url}
    res = run_gg(["db", "status"], env)
    assert res.returncode == 0, res.stderr
    assert "external server" in res.stdout and "PostGIS 3" in res.stdout
    assert run_gg(["db", "url"], env).stdout.strip() == env["GRIDGEO_DATABASE_URL"]


def test_each_module_gets_a_fresh_migrated_database(db_url, fresh_db_url):
    assert db_url != fresh_db_url
    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE scratch (id int)")
    with psycopg.connect(db_url) as conn:
        ext = conn.execute("SELECT extversion FROM pg_extension WHERE extname='postgis'").fetchone()
        assert ext is not None
        seen = conn.execute("SELECT to_regclass('public.scratch')").fetchone()[0]
        assert seen is None, "databases of different tests must not share rows or tables"


def test_migrations_drop_the_unused_tile_function(db_url):
    with psycopg.connect(db_url) as conn:
        gone = conn.execute(
            "SELECT to_regprocedure('service.tile(integer, integer, integer, boolean)')"
        ).fetchone()[0]
    assert gone is None  # 0051: tiles come from gridgeo/registry/features.py


def test_health_reports_database_versions(db_url):
    from fastapi.testclient import TestClient

    from gridgeo.service import create_app
    from gridgeo.service.settings import ServiceSettings

    app = create_app(Settings(database_url=db_url), ServiceSettings(admin_token="h" * 20))
    with TestClient(app) as client:
        body = client.get("/health", headers={"Authorization": "Bearer " + "h" * 20}).json()
        anonymous = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["postgis"].startswith("3") and body["postgresql"].startswith("15")
    # anonymous callers learn up or down, no versions of anything
    assert anonymous == {"status": "ok"}


def test_health_is_503_when_the_database_is_down(tmp_path):
    from fastapi.testclient import TestClient

    from gridgeo.service import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"postgresql://x@127.0.0.1:{s.getsockname()[1]}/x"
        with TestClient(create_app(Settings(database_url=url))) as client:
            res = client.get("/health")
    assert res.status_code == 503 and res.json()["status"] == "unavailable"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_docs_load_nothing_from_the_internet(db_url, page):
    import re

    from fastapi.testclient import TestClient

    from gridgeo.service import create_app

    with TestClient(create_app(Settings(database_url=db_url))) as client:
        html = client.get(page).text
        assert client.get("/openapi.json").status_code == 200
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets, "the docs page references its scripts"
        for asset in assets:
            assert not asset.startswith(("http://", "https://", "//")), asset
            assert client.get(asset).status_code == 200, asset
