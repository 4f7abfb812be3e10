"""The built wheel is self-contained: installed outside the checkout it starts its own PostGIS,
migrates (migrations ship as package data), partitions and loads grids, and serves the web
console (shipped too). Slow (≈ 1–2 min): builds the wheel with pip and starts a server.

How: ``pip wheel --no-deps`` builds ``gridgeo-*.whl``; ``pip install --no-deps --target SITE``
unpacks it; the commands then run with ``PYTHONPATH=SITE`` from a temporary folder (the
dependencies come from the running interpreter's environment), with their own GRIDGEO_HOME.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from gridgeo.testing import district

pytestmark = [pytest.mark.slow, pytest.mark.db]

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("wheel")
    wheels, site, run, home = (base / n for n in ("wheels", "site", "run", "home"))
    run.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(ROOT)], check=True)
    [wheel] = wheels.glob("gridgeo-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDGEO_")}
    env |= {"PYTHONPATH": str(site), "GRIDGEO_HOME": str(home), "COLUMNS": "200"}
    env |= {"GRIDGEO_LANG": "en"}  # the messages asserted are the English ones
    yield {"wheel": wheel, "site": site, "run": run, "env": env}
    subprocess.run(
        [sys.executable, "-m", "gridgeo.cli.main", "db", "reset", "--yes"],
        cwd=run,
        env=env,
        capture_output=True,
        timeout=120,
    )


def _gg(inst, *args: str) -> str:
    res = subprocess.run(
        [sys.executable, "-m", "gridgeo.cli.main", *args],
        cwd=inst["run"],
        env=inst["env"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_wheel_holds_migrations_and_console(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    shipped = {n.rsplit("/", 1)[-1] for n in names if n.startswith("gridgeo/_sql/migrations/")}
    assert shipped == {p.name for p in (ROOT / "sql" / "migrations").glob("*.sql")}
    assert {f"gridgeo/_webmap/{f}" for f in ("index.html", "app.js", "style.css")} <= names
    assert any(n.startswith("gridgeo/maps/static/leaflet-") for n in names)


def test_installed_copy_runs_outside_the_checkout(installed, tmp_path):
    where = _gg(installed, "--version")
    assert where.startswith("gridgeo ")
    found = subprocess.run(
        [sys.executable, "-c", "import gridgeo; print(gridgeo.__file__)"],
        cwd=installed["run"],
        env=installed["env"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert found.startswith(str(installed["site"])), found

    up = _gg(installed, "db", "up")
    assert "0051_drop_service_tile" in up  # every migration, read from the package

    src = tmp_path / "district.gpkg"
    comm, roads, hh = district(n_households=1200)
    comm.to_file(src, layer="communities")
    roads.to_file(src, layer="roads")
    hh.to_file(src, layer="households")
    grids = tmp_path / "grids.gpkg"
    _gg(installed, "partition", str(src), "--out", str(grids))
    # the database owner (no token) bootstraps the administrator, who registers the county
    made = _gg(installed, "tokens", "create", "--user", "管理员", "--role", "admin")
    token = made.strip().splitlines()[-1].strip()
    _gg(installed, "divisions", "add", "430102", "芙蓉区", "--level", "county", "--token", token)
    out = _gg(
        installed,
        "load",
        str(grids),
        "--county",
        "430102",
        "--communities",
        f"{src}:communities",
        "--token",
        token,
    )
    assert "draft change set 1" in out

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gridgeo.cli.main", "serve", "--port", str(port)],
        cwd=installed["run"],
        env=installed["env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                page = httpx.get(f"{base}/console/", timeout=5)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read().decode()
                assert time.monotonic() < deadline, "the server did not start in 90 s"
                time.sleep(0.5)
        assert page.status_code == 200 and "<html" in page.text.lower()
        script = httpx.get(f"{base}/console/app.js", timeout=5)
        assert script.status_code == 200 and len(script.content) > 1000
        leaflet = httpx.get(f"{base}/console/vendor/leaflet/leaflet.js", timeout=5)
        assert leaflet.status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
