"""Benchmark vector tiles: cached per registry version vs rendered on every request.

Run: ``.venv/bin/python benchmarks/bench_tiles.py [--seconds 8] [--side 20]``

Seeds ``gridgeo_bench_tiles`` (``--side``² generated grids, EPSG:3826) in the private
PostGIS, then starts the service in uvicorn (one worker, 127.0.0.1, rate limit off, no
LISTEN) and drives it with ``wrk`` (``apt-get install -y wrk``; ``make bench`` installs it),
two wrk threads, at 10 and 100 connections, ``--seconds`` per run, side by side:

* **uncached** — ``GRIDGEO_TILE_CACHE_BYTES=0``: every tile rendered in PostGIS on request
  (the path before the cache, with the per-zoom simplification);
* **cold** — cache on, nothing rendered ahead, a fresh server per run, each wrk thread
  walking its own slice of a tile list longer than the run gets through: every request is
  a miss (checked: requests < tiles);
* **warm** — cache on, the district rendered ahead at start-up (zooms 13–16), the same
  tiles requested over and over.

Then (``data/build/daan.gpkg``, built from the shipped raw files when missing), the tile SQL
alone on Da'an's partition (real street-block outlines, ``gridgeo_bench_tiles_daan``):
simplified per zoom vs as stored, same tiles (z10–16), same run, ms and bytes per tile.

Prints requests/s, latency percentiles, failed requests (socket errors, non-2xx/3xx: a
503 counts) and the server process's CPU seconds per 1,000 tiles (PostgreSQL's CPU not
included). Exits 1 if any request failed. No traffic leaves the machine.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
THREADS = 2
LUA = """
local paths = {%s}
local nthreads = %d
local made = 0
function setup(thread)
  thread:set("tid", made)
  made = made + 1
end
local i = nil
request = function()
  if i == nil then i = math.floor(#paths * (tid or 0) / nthreads) end
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def _database(side: int) -> str:
    from gridgeo.database import PrivateInstance, apply_migrations
    from gridgeo.database.connect import ensure_database, with_database
    from gridgeo.settings import get_settings
    from gridgeo.testing import seed_registry

    instance = PrivateInstance(get_settings())
    instance.start()
    server = instance.url(dbname="postgres")
    ensure_database(server, "gridgeo_bench_tiles")
    url = with_database(server, "gridgeo_bench_tiles")
    apply_migrations(url)
    with psycopg.connect(url) as conn:
        n = conn.execute("SELECT count(*) FROM registry.current_grid").fetchone()[0]
    if n != side * side:
        seed_registry(url, side, side, seed=3)
    return url


def _tiles(url: str, zooms: range) -> list[str]:
    """Every tile of ``zooms`` that touches a grid's bounding box, lowest zoom first."""
    with psycopg.connect(url) as conn:
        boxes = conn.execute(
            "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (SELECT "
            "ST_Transform(ST_Envelope(geom), 4326)::box2d b FROM registry.current_grid) s"
        ).fetchall()
    out: dict[str, None] = {}
    for z in zooms:
        n = 2**z
        for w, s, e, nn in boxes:
            x0, x1 = int((w + 180) / 360 * n), int((e + 180) / 360 * n)
            y0 = int((1 - math.asinh(math.tan(math.radians(nn))) / math.pi) / 2 * n)
            y1 = int((1 - math.asinh(math.tan(math.radians(s))) / math.pi) / 2 * n)
            for x in range(x0, x1 + 1):
                for y in range(y0, y1 + 1):
                    out[f"/tiles/{z}/{x}/{y}.mvt"] = None
    return list(out)


def _daan_database(path: Path) -> str:
    """Da'an's partition loaded and accepted into ``gridgeo_bench_tiles_daan``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_registry as reg  # its Da'an partition and binding, next to this script

    from gridgeo.registry import Principal, accept_changeset, file_changeset, load_grids

    reg.DAAN = path
    server = reg.server_url()
    url = reg.create_db(server, "gridgeo_bench_tiles_daan")
    grids, communities, pattern = reg.daan_partition()
    county = "63000030"
    editor = Principal("bench-county", "county_editor", county)
    with reg.engine(url) as eng:
        res = load_grids(
            eng,
            grids,
            county=county,
            actor=editor,
            communities=communities,
            code_pattern=pattern,
            repair=True,
        )
        reg._bind(eng, county, pattern)
        file_changeset(eng, res.changeset_id, actor=editor, **reg.FORCE)
        accept_changeset(eng, res.changeset_id, actor=reg.REVIEWER)
    return url


def _simplify_side_by_side(url: str, rounds: int = 2) -> None:
    """Per-tile SQL time and size with and without the per-zoom simplification."""
    from gridgeo.registry import features
    from gridgeo.service.tilecache import tile_params

    paths = _tiles(url, range(10, 17))
    tiles = [tuple(int(v) for v in p[len("/tiles/") : -len(".mvt")].split("/")) for p in paths]
    with psycopg.connect(url) as conn:
        srid = conn.execute("SELECT registry.srid()").fetchone()[0]
        n, pts = conn.execute(
            "SELECT count(*), sum(ST_NPoints(geom)) FROM registry.current_grid"
        ).fetchone()
        print(f"Da'an partition: {n} grids, {pts} vertices; {len(tiles)} tiles z10–16, public")
        for r in range(rounds):  # alternate, so that neither gets the warmer cache
            for label, simplify in (("simplified", True), ("as stored", False)):
                t0, size = time.perf_counter(), 0
                for z, x, y in tiles:
                    params = tile_params(srid, z, x, y)
                    if params is None:
                        continue
                    params["tol"] = params["tol"] if simplify else 0.0
                    size += len(features.tile(conn, params, detail=False))
                ms = (time.perf_counter() - t0) / len(tiles) * 1000
                print(
                    f"  {label:10} round {r + 1}: {ms:6.1f} ms/tile, "
                    f"{size / len(tiles):7.0f} bytes/tile ({_load()})"
                )


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """The service in uvicorn with extra ``GRIDGEO_*`` variables."""

    def __init__(self, url: str, **env: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        environ = dict(
            os.environ,
            GRIDGEO_DATABASE_URL=url,
            GRIDGEO_LISTEN="false",
            GRIDGEO_RATE_LIMIT_PER_S="0",
            **env,
        )
        self.proc = subprocess.Popen(
            [
                sys.executable,
                *("-m", "uvicorn", "--factory", "gridgeo.service:create_app"),
                *("--host", "127.0.0.1", "--port", str(self.port)),
                *("--log-level", "warning", "--no-access-log"),
            ],
            env=environ,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the service did not start")
            time.sleep(0.2)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


def _wrk(server: Server, paths: list[str], connections: int, seconds: int) -> dict:
    script = LUA % (", ".join(f'"{p}"' for p in paths), THREADS)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    cpu0 = _cpu_seconds(server.proc.pid)
    try:
        out = subprocess.run(
            [
                *("wrk", f"-t{THREADS}", f"-c{connections}", f"-d{seconds}s", "--timeout", "15s"),
                *("--latency", "-s", fh.name, server.base),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(fh.name)
    cpu = _cpu_seconds(server.proc.pid) - cpu0
    pct = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.M))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(v) for v in sock.groups()) if sock else 0
    )
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"requests": total, "errors": errors, "rps": rps, "cpu": cpu, **pct}


def _row(name: str, conns: int, r: dict, note: str = "") -> str:
    per_k = r["cpu"] / max(r["requests"], 1) * 1000
    return (
        f"{name:9} {conns:5} {r['requests']:9} {r['rps']:8.0f}  {r.get('50', '?'):>8}"
        f"  {r.get('90', '?'):>8}  {r.get('99', '?'):>8}  {r['errors']:6}  {per_k:8.2f}  {note}"
    )


def _ms(value: str) -> float:
    """A wrk latency (``850.00us``, ``16.34ms``, ``1.47s``, ``1.2m``) in milliseconds."""
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if m is None:
        return math.inf
    return float(m[1]) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[m[2]]


def _load() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=8, help="Seconds per wrk run (6 runs).")
    ap.add_argument("--side", type=int, default=20, help="Grids per side of the district.")
    ap.add_argument(
        "--daan",
        type=Path,
        default=None,
        help="Da'an GeoPackage for the simplification side by side (default: data/build/daan.gpkg, "
        "built from the shipped raw files when missing or out of date; another path missing: "
        "skipped).",
    )
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
        return 2
    url = _database(args.side)
    warm = _tiles(url, range(13, 17))
    cold = _tiles(url, range(13, 21))
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; {args.side}² grids; warm set {len(warm)} tiles "
        f"(z13–16), cold list {len(cold)} tiles (z13–20); {args.seconds} s per run, "
        f"1 uvicorn worker, wrk -t{THREADS}"
    )
    print("path      conns  requests    req/s       p50       p90       p99  errors  cpu s/1k")
    failed = 0
    rows: list[str] = []

    def run(name: str, server: Server, paths: list[str], conns: int, note: str = "") -> dict:
        nonlocal failed
        r = _wrk(server, paths, conns, args.seconds)
        failed += r["errors"]
        if name == "cold":
            note = f"all misses: {'yes' if r['requests'] < len(paths) else 'NO'}"
        line = _row(name, conns, r, f"{note} ({_load()})")
        rows.append(line)
        print(line, flush=True)
        return r

    for conns in (10, 100):
        srv = Server(url, GRIDGEO_TILE_CACHE_BYTES="0", GRIDGEO_TILE_PRERENDER_MAX_TILES="0")
        try:
            run("uncached", srv, warm, conns)
        finally:
            srv.close()
    for conns in (10, 100):
        srv = Server(url, GRIDGEO_TILE_PRERENDER_MAX_TILES="0")
        try:
            run("cold", srv, cold, conns)
        finally:
            srv.close()
    srv = Server(
        url,
        GRIDGEO_TILE_PRERENDER_MIN_ZOOM="13",
        GRIDGEO_TILE_PRERENDER_MAX_ZOOM="16",
        GRIDGEO_TILE_PRERENDER_MAX_TILES=str(len(warm) + 100),
    )
    try:
        t0 = time.perf_counter()
        # rendered ahead at start-up: wait until the last tile of the warm set is cached
        # (one pass over the set also fills anything the district walk left out)
        with httpx.Client(base_url=srv.base) as client:
            for p in warm:
                client.get(p)
        print(f"(warm-up pass over {len(warm)} tiles: {time.perf_counter() - t0:.1f} s)")
        warm10 = run("warm", srv, warm, 10)
        run("warm", srv, warm, 100)
    finally:
        srv.close()
    met = warm10["rps"] >= 2000 and _ms(warm10.get("99", "?")) <= 50
    print(
        f"goal warm at 10 connections (>= 2,000 tiles/s, p99 <= 50 ms): "
        f"{'met' if met else 'NOT met'}; failed requests (503 included) in all runs: {failed}"
    )
    from gridgeo.demo.build import build_daan

    daan = args.daan or build_daan()  # from the shipped raw files; reused while up to date
    if daan.is_file():
        _simplify_side_by_side(_daan_database(daan))
    else:
        print(f"{daan} missing: simplification side by side skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
