"""Bounded load test of the served API: /locate and /tiles at 10 and 100 connections.

Starts the service in uvicorn (one worker, 127.0.0.1, a free port) over a seeded
benchmark database ``gridgeo_bench_load`` of the private instance, then runs Debian's
``wrk`` (``apt-get install -y wrk``) four times for ``--seconds`` each (default 8 s:
about 45 s in all, under the 60 s bound), cycling through points inside the grids and
the tiles over them. Prints requests/s and latency percentiles per run and exits 1 if
any request failed (socket error, non-2xx answer). No traffic leaves the machine.

The per-address rate limit of anonymous callers is switched off for the run
(``GRIDGEO_RATE_LIMIT_PER_S=0``): every connection comes from 127.0.0.1.

Run: ``.venv/bin/python benchmarks/load_service.py`` (results go into
docs/reliability.md by hand).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

LUA = """
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database(side: int) -> str:
    from gridgeo.database import PrivateInstance, apply_migrations
    from gridgeo.database.connect import ensure_database, with_database
    from gridgeo.settings import get_settings
    from gridgeo.testing import seed_registry

    instance = PrivateInstance(get_settings())
    instance.start()
    server = instance.url(dbname="postgres")
    ensure_database(server, "gridgeo_bench_load")
    url = with_database(server, "gridgeo_bench_load")
    apply_migrations(url)
    with psycopg.connect(url) as conn:
        n = conn.execute("SELECT count(*) FROM registry.current_grid").fetchone()[0]
    if n != side * side:
        seed_registry(url, side, side, seed=3)
    return url


def _targets(url: str) -> tuple[list[str], list[str]]:
    with psycopg.connect(url) as conn:
        pts = conn.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_PointOnSurface(geom), 4326) p "
            "FROM registry.current_grid ORDER BY grid_code) s"
        ).fetchall()
    locate = [f"/locate?lon={x:.6f}&lat={y:.6f}" for x, y in pts]
    tiles = set()
    for x, y in pts:
        for z in (13, 14, 15):
            n = 2**z
            tx = int((x + 180) / 360 * n)
            ty = int((1 - math.asinh(math.tan(math.radians(y))) / math.pi) / 2 * n)
            tiles.add(f"/tiles/{z}/{tx}/{ty}.mvt")
    return locate, sorted(tiles)


def _wrk(base: str, paths: list[str], connections: int, seconds: int) -> dict:
    script = LUA % ", ".join(f'"{p}"' for p in paths)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{min(4, connections)}",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                "--latency",
                "-s",
                fh.name,
                base,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(fh.name)
    pct = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(v) for v in sock.groups()) if sock else 0
    )
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"requests": total, "errors": errors, "rps": rps, **{f"p{k}": v for k, v in pct.items()}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=8, help="Seconds per wrk run (4 runs).")
    ap.add_argument("--side", type=int, default=20, help="Grids per side of the district.")
    args = ap.parse_args()
    if args.seconds * 4 > 50:
        ap.error("--seconds: the whole test must stay under 60 s (at most 12 s per run)")
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
        return 2
    url = _database(args.side)
    locate, tiles = _targets(url)
    port = _free_port()
    env = dict(
        os.environ,
        GRIDGEO_DATABASE_URL=url,
        GRIDGEO_LISTEN="false",
        GRIDGEO_RATE_LIMIT_PER_S="0",
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "gridgeo.service:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                print("the service did not start", file=sys.stderr)
                return 2
            time.sleep(0.2)
        for p in locate[:5] + tiles[:5]:  # warm up (transformers, first tiles)
            httpx.get(base + p)
        failed = 0
        print(f"{len(locate)} grids, {len(tiles)} tiles; {args.seconds} s per run, 1 worker")
        print("route    conns  requests  req/s     p50       p75       p90       p99   errors")
        for name, paths in (("/locate", locate), ("/tiles", tiles)):
            for conns in (10, 100):
                r = _wrk(base, paths, conns, args.seconds)
                failed += r["errors"]
                print(
                    f"{name:8} {conns:5} {r['requests']:9} {r['rps']:8.0f}  {r.get('p50', '?'):>8}"
                    f"  {r.get('p75', '?'):>8}  {r.get('p90', '?'):>8}  {r.get('p99', '?'):>8}"
                    f"  {r['errors']:6}"
                )
        return 1 if failed else 0
    finally:
        proc.terminate()
        proc.wait(timeout=20)


if __name__ == "__main__":
    raise SystemExit(main())
