"""The served locate API end to end: the ``GET /locate`` tail and ``POST /locate/batch`` per format.

Run: ``.venv/bin/python benchmarks/bench_service.py`` (needs the private PostGIS and
Debian's ``wrk``; ``make bench`` installs it). Options: ``--side 71`` (grids per side),
``--rate 1000``, ``--seconds 10``, ``--batch-points 1000000``, ``--skip tail,swap,stages,bulk,sjoin,rss``,
``--baseline DIR`` (a checkout of the previous version: its bulk CSV/Arrow/GeoParquet run too),
``--alternate N`` (with ``--baseline``: both versions up at once, N requests each, alternating,
timed once both servers' start-up tile pre-renders have ended;
``--compare``: their answers to one more request compared byte for byte),
``--client curl|httpx`` (the bulk client; curl when installed).

Tail: the service runs in one ``uvicorn`` worker pinned to core 0 (``taskset``), ``wrk``
on core 1, paced by a Lua ``delay()`` to about ``--rate`` requests/s over 20 connections
with a different point in every request (Debian has no ``wrk2``; wrk's latencies count from
each request's send, so this is a paced closed loop, not a strict open loop). The same
run against a plain uvicorn echo app (no FastAPI, a fixed 800-byte JSON answer) gives the
floor of uvicorn + loopback + wrk on this machine. Service rows: the FastAPI route, the
previous version (``--baseline``), the service while its start-up tile pre-render runs
(its PostgreSQL process at nice 19, the default, and at nice 0 as before:
``GRIDGEO_TILE_PRERENDER_NICE=0``; and with Python's interpreter switch interval of 5 ms
instead of the service's 1 ms, ``GRIDGEO_GIL_SWITCH_MS=5``) and after it finished (the steady state). Per row, from ``GET /admin/metrics`` read before and after the window:
the handler time and the event-loop lag (a 10 ms probe) of the window alone, and how long
a pre-render ran in it; from ``/proc``: server CPU per request and the time the server's
threads waited ready on a run queue (the CPU taken by other processes). The swap run
repeats the load while the registry snapshot is reloaded every second (``NOTIFY
gridgeo_registry``, as after every accepted change) and reports the slowest request,
with the service's switch interval and with 5 ms.

Bulk: one ``POST /locate/batch`` per format (CSV, Arrow IPC stream, GeoParquet in and
out), timed from the first byte sent to the last byte received by the client (``curl``,
compiled, when installed: httpx in Python costs ~0.4 s more per 100 MB read), the server
not pinned (both cores); beside it the floor (a raw ASGI app that reads the same body and
answers as many bytes: what moving the bytes costs) and geopandas reading
the same CSV / GeoParquet and ``sjoin`` with the grids (what one would do without the
service). The RSS run sends 5 M points and samples the server's resident memory.

No traffic leaves the machine. Figures go into docs/benchmarks.md ("Locate") by hand.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg

ROOT = Path(__file__).resolve().parent.parent
CONNECTIONS = 20

#: wrk script: a different point per request, paced per connection by delay().
LUA = """
local xs = {%(xs)s}
local ys = {%(ys)s}
local n = #xs
local i = 0
local pause = %(pause)f
function setup(thread) thread:set("id", tostring(math.random(1, n))) end
function init(args) i = tonumber(id) end
function request()
  i = i %% n + 1
  return wrk.format("GET", string.format("/locate?lon=%%.6f&lat=%%.6f%(extra)s", xs[i], ys[i]))
end
function delay() return pause * (0.5 + math.random()) end
function done(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d %%d %%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), latency.max,
    summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write, summary.errors.timeout))
end
"""

#: The floor: uvicorn with a raw ASGI app answering a fixed JSON body (no FastAPI).
ECHO_APP = """
BODY = b'{"located": true, "pad": "%s"}' % (b"x" * 760)

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})
"""


#: The bulk floor: uvicorn with a raw ASGI app that reads the whole body and answers
#: ``?bytes=N`` bytes in 9 MB pieces (what moving a batch's bytes costs, no work).
FLOOR_APP = """
from urllib.parse import parse_qs

PIECE = b"x" * 9_000_000

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    left = int(parse_qs(scope["query_string"].decode()).get("bytes", ["0"])[0])
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")]})
    while left > 0:
        await send({"type": "http.response.body", "body": PIECE[:left], "more_body": True})
        left -= len(PIECE)
    await send({"type": "http.response.body", "body": b""})
"""


TIMELINE_APP = r'''
"""The service with a timeline of each ``POST /locate/batch`` (monotonic ms from the
first body byte; the process's CPU ms and minor page faults so far), printed as JSON to
stderr when the answer's last byte was sent."""
import json, resource, sys, threading, time
from gridgeo.service import routes_locate as rl
from gridgeo.service.app import create_app as _create

T = threading.local()
EV = []
LOCK = threading.Lock()
T0 = [0.0]


def mark(what, **kw):
    r = resource.getrusage(resource.RUSAGE_SELF)
    kw["cpu"] = (r.ru_utime + r.ru_stime) * 1e3
    kw["minflt"] = r.ru_minflt
    with LOCK:
        EV.append((time.monotonic(), threading.current_thread().name, what, kw))


_spool = rl._spool


async def spool(request, *args):
    orig = request.stream
    first = [True]

    async def stream():
        async for part in orig():
            if first[0]:
                first[0] = False
                mark("first body byte")
            yield part
        mark("last body byte")

    request.stream = stream
    out = await _spool(request, *args)
    mark("body received")
    return out


rl._spool = spool
J = rl._BatchJob
_check, _work, _written, _stream = J.check, J._work, J._written, J.stream


def check(self):
    mark("check start")
    _check(self)
    mark("check done")


def work(self, enc, pts, first):
    t = time.monotonic()
    out = _work(self, enc, pts, first)
    mark("chunk located+prepared", ms=round((time.monotonic() - t) * 1e3, 1))
    return out


def written(self, enc, out):
    t = time.monotonic()
    b = _written(self, enc, out)
    mark("chunk written", ms=round((time.monotonic() - t) * 1e3, 1), bytes=len(b))
    return b


def stream(self):
    for b in _stream(self):
        mark("chunk handed to the event loop", bytes=len(b))
        yield b
    mark("generator done")


J.check, J._work, J._written, J.stream = check, work, written, stream
def create_app():
    app = _create()

    async def outer(scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/locate/batch":
            return await app(scope, receive, send)
        EV.clear()
        mark("request start")

        async def timed_send(msg):
            if msg["type"] == "http.response.start":
                mark("response start sent")
            await send(msg)
            if msg["type"] == "http.response.body":
                mark("body part sent", bytes=len(msg.get("body", b"")),
                     more=msg.get("more_body", False))

        await app(scope, receive, timed_send)
        mark("done")
        t0 = EV[0][0]
        print("TIMELINE " + json.dumps([(round((t - t0) * 1e3, 1), th, w, kw)
                                        for t, th, w, kw in EV]), file=sys.stderr, flush=True)

    return outer
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pin(core: int) -> list[str]:
    """``taskset -c core`` when there are two cores or more (else nothing)."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(core)]
    return []


def _database(side: int, seed: int) -> str:
    from gridgeo.database import PrivateInstance, apply_migrations
    from gridgeo.database.connect import ensure_database, with_database
    from gridgeo.settings import get_settings
    from gridgeo.testing import seed_registry

    instance = PrivateInstance(get_settings())
    instance.start()
    server = instance.url(dbname="postgres")
    name = f"gridgeo_bench_locate_{side}"
    ensure_database(server, name)
    url = with_database(server, name)
    apply_migrations(url)
    with psycopg.connect(url) as conn:
        n = conn.execute("SELECT count(*) FROM registry.current_grid").fetchone()[0]
    if n != side * side:
        t = time.perf_counter()
        seed_registry(url, side, side, seed=seed)
        print(f"seeded {side * side:,} grids in {time.perf_counter() - t:.1f} s")
    return url


def _bounds(url: str) -> tuple[float, float, float, float]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Transform("
            "ST_SetSRID(ST_Extent(geom)::geometry, registry.srid()), 4326) e "
            "FROM registry.current_grid) s"
        ).fetchone()


class Server:
    """A uvicorn process, pinned to core 0 unless ``pin=False``; ``app`` is a factory path
    or a module:attr."""

    def __init__(
        self,
        app: str,
        env: dict[str, str],
        *,
        factory: bool,
        cwd: Path,
        pin: bool = True,
        stderr: Any = None,
    ) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        cmd = [*(_pin(0) if pin else []), sys.executable, "-m", "uvicorn", app]
        cmd += ["--factory"] if factory else []
        cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--log-level", "warning", "--no-access-log"]
        self.proc = subprocess.Popen(cmd, env=env, cwd=cwd, stderr=stderr)

    def wait(self, path: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base + path, timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.3)
        raise RuntimeError(f"the server did not come up ({self.base}{path})")

    def rss_mb(self) -> float:
        pid = self.proc.pid
        # taskset execs the interpreter: the pid is uvicorn's
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wrk(
    base: str, lon: np.ndarray, lat: np.ndarray, rate: float, seconds: int, extra: str = ""
) -> dict:
    """Paced wrk run on core 1: requests, achieved rate, p50/p99/p99.9/max in ms, errors."""
    pause = CONNECTIONS / rate * 1000.0  # ms between requests of one connection (mean)
    script = LUA % {
        "xs": ",".join(f"{v:.6f}" for v in lon),
        "ys": ",".join(f"{v:.6f}" for v in lat),
        "pause": pause,
        "extra": extra,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run(
            [
                *_pin(1),
                "wrk",
                "-t2",
                f"-c{CONNECTIONS}",
                f"-d{seconds}s",
                "--timeout",
                "5s",
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
    m = re.search(r"^RESULT (.*)$", out, re.M)
    if m is None:
        raise RuntimeError(f"wrk gave no result:\n{out}")
    req, dur, p50, p99, p999, mx, errors, timeouts = (int(v) for v in m.group(1).split())
    return {
        "requests": req,
        "rps": req / (dur / 1e6),
        "p50": p50 / 1000,
        "p99": p99 / 1000,
        "p999": p999 / 1000,
        "max": mx / 1000,
        "errors": errors + timeouts,
    }


def _row(name: str, r: dict) -> None:
    print(
        f"{name:34s} {r['rps']:7.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['p999']:8.2f} "
        f"{r['max']:8.1f} {r['errors']:6d}",
        flush=True,
    )


def _header() -> None:
    print(
        f"{'run':34s} {'req/s':>7s} {'p50 ms':>8s} {'p99 ms':>8s} {'p99.9':>8s} "
        f"{'max ms':>8s} {'errors':>6s}"
    )


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f}"


def _points(bounds, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(bounds[0], bounds[2], n), rng.uniform(bounds[1], bounds[3], n)


def _service_env(url: str, token: str) -> dict[str, str]:
    return dict(
        os.environ,
        GRIDGEO_DATABASE_URL=url,
        GRIDGEO_LISTEN="true",
        GRIDGEO_ADMIN_TOKEN=token,
        GRIDGEO_RATE_LIMIT_PER_S="0",
    )


def _swapper(url: str, stop: threading.Event, every: float, count: list[int]) -> None:
    """``NOTIFY gridgeo_registry`` every ``every`` s: the service reloads its snapshot."""
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.wait(every):
            conn.execute('NOTIFY gridgeo_registry, \'{"event": "bench"}\'')
            count[0] += 1


def _metrics(base: str, token: str) -> dict:
    r = httpx.get(base + "/admin/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    r.raise_for_status()
    return r.json()


def _hist_line(name: str, h: dict) -> str:
    return (
        f"  {name:30s} n={h['count']:<7d} mean {h['mean_ms'] or 0:.3f} ms, p50 {h['p50_ms']} ms, "
        f"p99 {h['p99_ms']} ms, p99.9 {h['p99_9_ms']} ms, max {h['max_ms']} ms"
    )


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _settled(base: str, token: str, timeout: float = 300) -> float:
    """Wait until the tile pre-render of the current registry version has finished
    (the steady state); the seconds waited."""
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        gen = _generation(base, token)
        if _metrics(base, token).get("last_prerender", {}).get("generation") == gen:
            return time.monotonic() - t
        time.sleep(0.5)
    raise RuntimeError("the tile pre-render did not finish")


def _overlap(m: dict, generation: int, window: tuple[float, float]) -> float:
    """Seconds of the wrk window during which a tile pre-render ran (the last run; the
    whole window when the run of the current version had not finished by its end)."""
    run = m.get("last_prerender") or {}
    if run.get("generation") != generation:
        return window[1] - window[0]
    return max(0.0, min(run["ended"], window[1]) - max(run["started"], window[0]))


def _window(before: dict, after: dict) -> dict:
    """The histogram of what happened between two ``summary()`` readings of it."""
    counts = {
        float(edge): n - before.get("buckets_ms", {}).get(edge, 0)
        for edge, n in after.get("buckets_ms", {}).items()
    }
    total = sum(counts.values())
    out = {"count": total, "mean_ms": None}
    if total:
        sum_ms = after["mean_ms"] * after["count"] - (before["mean_ms"] or 0) * before["count"]
        out["mean_ms"] = sum_ms / total
    for q, key in ((50, "p50_ms"), (99, "p99_ms"), (99.9, "p99_9_ms"), (100, "max_ms")):
        seen, out[key] = 0, None
        for edge in sorted(counts):
            seen += counts[edge]
            if counts[edge] and seen >= q / 100 * total:
                out[key] = edge
                break
    return out


def _generation(base: str, token: str) -> int:
    r = httpx.get(base + "/admin/index", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return r.json()["generation"]


def _sched(pid: int) -> tuple[float, int]:
    """Seconds the process's threads waited on a run queue (ready but another task had
    the CPU), and their involuntary context switches (``/proc/PID/task/*``)."""
    wait, switches = 0.0, 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            wait += int((task / "schedstat").read_text().split()[1]) / 1e9
            for line in (task / "status").read_text().splitlines():
                if line.startswith("nonvoluntary_ctxt_switches:"):
                    switches += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue  # a thread that ended meanwhile
    return wait, switches


def tail(url: str, bounds, rate: float, seconds: int, seed: int, baseline: Path | None) -> None:
    """GET /locate at ``rate``: floor, the FastAPI route, the previous version, the service
    while its start-up tile pre-render runs (its PostgreSQL process at nice 19, and at nice 0) and after it finished."""
    lon, lat = _points(bounds, 20_000, seed)
    token = "bench-" + os.urandom(8).hex()
    print(
        f"\nGET /locate, paced wrk (2 threads, {CONNECTIONS} connections, core 1) against one "
        f"uvicorn worker (core 0), {seconds} s per run, target {rate:.0f} req/s; {_load()}"
    )
    _header()
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bench_echo_app.py").write_text(ECHO_APP)
        echo = Server("bench_echo_app:app", dict(os.environ), factory=False, cwd=Path(tmp))
        try:
            echo.wait("/")
            wrk(echo.base, lon, lat, rate, 2)
            c0, s0 = _cpu_s(echo.proc.pid), _sched(echo.proc.pid)
            r = wrk(echo.base, lon, lat, rate, seconds)
            s1 = _sched(echo.proc.pid)
            r["cpu"] = (_cpu_s(echo.proc.pid) - c0) / r["requests"] * 1000
            r["queued"] = (s1[0] - s0[0], s1[1] - s0[1])
            _row("floor: uvicorn echo app", r)
        finally:
            echo.stop()
    floor = r
    # (name, query suffix, environment, checkout, wait for the pre-render to finish)
    runs: list[tuple[str, str, dict, Path, bool]] = [
        ("FastAPI route, no gc.freeze", "&route=1", {"GRIDGEO_GC_FREEZE": "false"}, ROOT, True),
    ]
    if baseline is not None:
        runs.append(("previous version", "", {"PYTHONPATH": str(baseline)}, baseline, False))
    runs += [
        ("service, pre-render (nice 19)", "", {}, ROOT, False),
        ("service, pre-render at nice 0", "", {"GRIDGEO_TILE_PRERENDER_NICE": "0"}, ROOT, False),
        ("service, pre-render, switch 5 ms", "", {"GRIDGEO_GIL_SWITCH_MS": "5"}, ROOT, False),
        ("service, after pre-render", "", {}, ROOT, True),
    ]
    cpu = {"floor: uvicorn echo app": r["cpu"]}
    hists, ratios, overlaps = {}, {}, {}
    queued = {"floor: uvicorn echo app": r["queued"]}
    for name, extra, env, cwd, settle in runs:
        srv = Server(
            "gridgeo.service.app:create_app", _service_env(url, token) | env, factory=True, cwd=cwd
        )
        try:
            srv.wait(f"/locate?lon={lon[0]}&lat={lat[0]}")
            if settle:
                _settled(srv.base, token)
            wrk(srv.base, lon, lat, rate, 2, extra)  # warm-up
            m0 = _metrics(srv.base, token)
            c0, w0, s0 = _cpu_s(srv.proc.pid), time.time(), _sched(srv.proc.pid)
            r = wrk(srv.base, lon, lat, rate, seconds, extra)
            w1, s1 = time.time(), _sched(srv.proc.pid)
            cpu[name] = (_cpu_s(srv.proc.pid) - c0) / r["requests"] * 1000
            queued[name] = (s1[0] - s0[0], s1[1] - s0[1])
            _row(name, r)
            m = _metrics(srv.base, token)
            hists[name] = {
                k: _window(m0[k], m[k]) if k in m0 else m[k] for k in ("loop_lag",) if k in m
            } | {"handler": _window(m0["handler_time"]["/locate"], m["handler_time"]["/locate"])}
            hists[name] |= {k: m.get(k) for k in ("last_prerender", "gc_pauses")}
            ratios[name] = (r["p99"] / floor["p99"], r["p999"] / floor["p999"])
            overlaps[name] = _overlap(m, _generation(srv.base, token), (w0, w1))
        finally:
            srv.stop()
    print("p99 / p99.9 over the floor's, same run:")
    for name, (a, b) in ratios.items():
        print(f"  {name:34s} {a:5.2f}x {b:5.2f}x")
    print(
        "server CPU per request (user+sys of the uvicorn process / requests); time its threads"
        " waited ready on a run queue while another task had the CPU, and involuntary switches:"
    )
    for name, ms in cpu.items():
        wait, switches = queued[name]
        print(
            f"  {name:34s} {ms:.3f} ms   run-queue wait {wait * 1000:7.0f} ms, {switches} switches"
        )
    print("server-side, the measured window only (GET /admin/metrics before and after):")
    print("handler time, event-loop lag, seconds of the window with a tile pre-render running")
    for name, m in hists.items():
        print(_hist_line(name, m["handler"]))
        if "loop_lag" in m:
            print(_hist_line("  event-loop lag", m["loop_lag"]))
        if m.get("last_prerender") is not None or name.startswith("service"):
            print(f"    pre-render running {overlaps[name]:.1f} s of the {seconds} s")
        gcp = m["gc_pauses"]
        print(
            "    gc since start: "
            + ", ".join(
                f"gen {g}: {gcp[f'generation_{g}']['count']}, longest "
                f"{gcp[f'generation_{g}']['max_ms']} ms"
                for g in (0, 1, 2)
            )
        )
    print(f"({_load()})")


def swap(url: str, bounds, rate: float, seconds: int, seed: int) -> None:
    """GET /locate at ``rate`` while the snapshot is reloaded every second: the service as
    configured (the interpreter switch interval ``GRIDGEO_GIL_SWITCH_MS``, 1 ms) and with
    Python's default of 5 ms, one after the other in the same run."""
    lon, lat = _points(bounds, 20_000, seed + 1)
    token = "bench-" + os.urandom(8).hex()
    rows = []
    for label, env in (
        ("service", {}),
        ("service, switch interval 5 ms", {"GRIDGEO_GIL_SWITCH_MS": "5"}),
    ):
        srv = Server(
            "gridgeo.service.app:create_app",
            _service_env(url, token) | env,
            factory=True,
            cwd=ROOT,
        )
        try:
            srv.wait(f"/locate?lon={lon[0]}&lat={lat[0]}")
            _settled(srv.base, token)  # from the steady state: the reloads' own work only
            wrk(srv.base, lon, lat, rate, 2)
            # the server's histograms are read before and after the reloads' window: the
            # server's first requests (its start, the warm-up) are not in the figures
            m0 = _metrics(srv.base, token)
            stop = threading.Event()
            count = [0]
            t = threading.Thread(target=_swapper, args=(url, stop, 1.0, count))
            t.start()
            try:
                r = wrk(srv.base, lon, lat, rate, seconds)
            finally:
                stop.set()
                t.join()
            time.sleep(3)  # the last reload
            m = _metrics(srv.base, token)
            got = {
                "handler": _window(m0["handler_time"]["/locate"], m["handler_time"]["/locate"]),
                "reloads": _window(m0["snapshot_reloads"], m["snapshot_reloads"]),
            }
            rows.append((f"{label}, {count[0]} reloads", r, got))
        finally:
            srv.stop()
    print(f"\nthe same at {rate:.0f} req/s while the index is reloaded every second; {_load()}")
    _header()
    for name, r, _m in rows:
        _row(name, r)
    print("server-side, the reloads' window only (GET /admin/metrics before and after):")
    for name, _r, m in rows:
        print(name)
        print(_hist_line("  handler time", m["handler"]))
        print(_hist_line("  reload (load + build + swap)", m["reloads"]))


def _bodies(lon: np.ndarray, lat: np.ndarray) -> dict[str, tuple[bytes, str]]:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from gridgeo.locate.encode import _geo_metadata, wkb_points

    table = pa.table({"lon": lon, "lat": lat})
    csv = io.BytesIO()
    pacsv.write_csv(table, csv)
    arrow = io.BytesIO()
    with pa.ipc.new_stream(arrow, table.schema) as w:
        w.write_table(table, max_chunksize=500_000)
    import pyproj

    geo = pa.table({"geometry": wkb_points(lon, lat)}).replace_schema_metadata(
        {b"geo": _geo_metadata(pyproj.CRS.from_epsg(4326))}
    )
    parquet = io.BytesIO()
    pq.write_table(geo, parquet, row_group_size=500_000)
    return {
        "csv": (csv.getvalue(), "text/csv"),
        "arrow": (arrow.getvalue(), "application/vnd.apache.arrow.stream"),
        "parquet": (parquet.getvalue(), "application/vnd.apache.parquet"),
    }


#: The bulk client: ``curl`` (compiled; the body from a file, the answer to /dev/null) when
#: installed, else httpx reading 1 MiB at a time. ``--client`` chooses.
CLIENT = "curl" if shutil.which("curl") else "httpx"
#: Formats ``--alternate`` runs (``--formats``).
FORMATS = ("csv", "arrow", "parquet")


def _post(
    base: str,
    token: str,
    body: bytes,
    ctype: str,
    rss_of: Server | None = None,
    client: str | None = None,
    path: str = "/locate/batch",
    save: Path | None = None,
) -> dict:
    """One batch request; wall seconds from first byte sent to last byte received (the
    answer written to ``save`` when given, with curl)."""
    peak = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            peak[0] = max(peak[0], rss_of.rss_mb())

    if rss_of is not None:
        threading.Thread(target=sample, daemon=True).start()
    if (client or CLIENT) == "curl":
        with tempfile.NamedTemporaryFile(prefix="gridgeo-bench-") as fh:
            fh.write(body)
            fh.flush()
            out_to = str(save) if save is not None else "/dev/null"
            cmd = ["curl", "-s", "-o", out_to, "--data-binary", "@" + fh.name]
            cmd += ["-H", f"Content-Type: {ctype}", "-H", f"Authorization: Bearer {token}"]
            cmd += ["-w", "%{http_code} %{size_download} %{time_total} %{time_starttransfer}"]
            cmd += [base + path]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
        status, got, secs, first = int(out[0]), int(out[1]), float(out[2]), float(out[3])
    else:
        got = 0
        t = time.perf_counter()
        with httpx.stream(
            "POST",
            base + path,
            content=body,
            headers={"Content-Type": ctype, "Authorization": f"Bearer {token}"},
            timeout=900,
        ) as r:
            for part in r.iter_raw(1 << 20):
                got += len(part)
            status = r.status_code
        secs = time.perf_counter() - t
        first = float("nan")
    stop.set()
    return {
        "status": status,
        "seconds": secs,
        "mb_in": len(body) / 1e6,
        "mb_out": got / 1e6,
        "peak_rss_mb": peak[0],
        "starttransfer": first,
    }


#: Points of the warm-up request that takes the streamed path (more than one chunk): its
#: compiled code is loaded before the measured request (a warm-up of 1,000 points, answered
#: whole, left the first streamed request to load or compile it: seconds for CSV).
WARM = 250_000


def _warm(base: str, token: str, small: dict, lon: np.ndarray, lat: np.ndarray) -> None:
    """One small (answered whole) and one streamed request per format."""
    for body, ctype in small.values():
        _post(base, token, body, ctype)
    for body, ctype in _bodies(lon[:WARM], lat[:WARM]).values():
        _post(base, token, body, ctype)


def _warm_full(base: str, token: str, bodies: dict) -> None:
    """The measured request itself once per format, not timed: a server process's first
    large request is slower (its memory comes fresh from the kernel: at 5 M CSV points the
    check took 1.46 s, then 0.55–0.64 s; curl 5.8 s, then 3.2–3.5 s)."""
    for fmt, (body, ctype) in bodies.items():
        if fmt in FORMATS:
            _post(base, token, body, ctype)


def _geopandas(url: str, bodies: dict, n: int) -> dict[str, float]:
    """What one would do without the service: read the points, sjoin with the grids."""
    import geopandas as gpd
    import pandas as pd

    with psycopg.connect(url) as conn:
        srid = conn.execute("SELECT registry.srid()").fetchone()[0]
    grids = gpd.read_postgis(
        "SELECT grid_code, geom FROM registry.current_grid", psycopg.connect(url), geom_col="geom"
    ).set_crs(srid, allow_override=True)
    out = {}
    for fmt in ("csv", "parquet"):
        body = bodies[fmt][0]
        t = time.perf_counter()
        if fmt == "csv":
            df = pd.read_csv(io.BytesIO(body))
            pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(df.lon, df.lat), crs=4326)
        else:
            pts = gpd.read_parquet(io.BytesIO(body))
        pts = pts.to_crs(srid)
        j = gpd.sjoin(pts, grids, how="left", predicate="intersects")
        j = j[~j.index.duplicated(keep="first")]
        assert len(j) == n
        out[fmt] = time.perf_counter() - t
    return out


#: timed requests per format in :func:`bulk`
BULK_REPEATS = 5


def _floor(bodies: dict, out_bytes: dict[str, int], reps: int = 3) -> dict[str, float]:
    """Best of ``reps`` seconds to POST each body to :data:`FLOOR_APP` and read as many
    bytes as the service answered (same client, same machine): the HTTP floor."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bench_floor_app.py").write_text(FLOOR_APP)
        srv = Server(
            "bench_floor_app:app", dict(os.environ), factory=False, cwd=Path(tmp), pin=False
        )
        try:
            srv.wait("/")
            for fmt, (body, ctype) in bodies.items():
                path = f"/?bytes={out_bytes[fmt]}"
                out[fmt] = min(
                    _post(srv.base, "-", body, ctype, path=path)["seconds"] for _ in range(reps)
                )
        finally:
            srv.stop()
    return out


def bulk(
    url: str, bounds, n: int, rss_points: int, seed: int, skip: set[str], baseline: Path | None
) -> None:
    """POST /locate/batch per format, beside geopandas read + sjoin."""
    token = "bench-" + os.urandom(8).hex()
    lon, lat = _points(bounds, n, seed + 2)
    bodies = _bodies(lon, lat)
    srv = Server(
        "gridgeo.service.app:create_app",
        _service_env(url, token),
        factory=True,
        cwd=ROOT,
        pin=False,
    )
    try:
        srv.wait(f"/locate?lon={lon[0]}&lat={lat[0]}")
        small = _bodies(lon[:1000], lat[:1000])
        _warm(srv.base, token, small, lon, lat)
        _warm_full(srv.base, token, bodies)
        print(
            f"\nPOST /locate/batch, {n:,} points, the same format in and out, server not "
            f"pinned (both cores), client {CLIENT} on the same machine; {BULK_REPEATS} requests "
            f"per format taking turns after one untimed (the server's first large request takes "
            f"fresh memory from the kernel): median (best); {_load()}"
        )
        print(f"{'format':26s} {'MB in':>7s} {'MB out':>7s} {'seconds':>13s} {'M points/s':>13s}")
        runs: dict[str, list[dict]] = {fmt: [] for fmt in bodies}
        for _ in range(BULK_REPEATS):
            for fmt, (body, ctype) in bodies.items():
                r = _post(srv.base, token, body, ctype)
                assert r["status"] == 200, r
                runs[fmt].append(r)
        results = {}
        sizes = {}
        for fmt, rs in runs.items():
            secs = sorted(r["seconds"] for r in rs)
            results[fmt] = float(np.median(secs))
            sizes[fmt] = int(rs[0]["mb_out"] * 1e6)
            print(
                f"{fmt:26s} {rs[0]['mb_in']:7.1f} {rs[0]['mb_out']:7.1f} {results[fmt]:6.2f} "
                f"({secs[0]:4.2f}) {n / results[fmt] / 1e6:6.2f} ({n / secs[0] / 1e6:5.2f})",
                flush=True,
            )
        for fmt, secs in _floor(bodies, sizes).items():
            print(
                f"{'floor (bytes only) ' + fmt:26s} {'':7s} {'':7s} {secs:8.2f} "
                f"{n / secs / 1e6:11.2f}   (service {results[fmt] / secs:.1f}x the floor)",
                flush=True,
            )
        if baseline is not None:  # the previous version, same bodies
            env = _service_env(url, token) | {"PYTHONPATH": str(baseline)}
            old = Server(
                "gridgeo.service.app:create_app", env, factory=True, cwd=baseline, pin=False
            )
            try:
                old.wait(f"/locate?lon={lon[0]}&lat={lat[0]}")
                for fmt in ("csv", "arrow", "parquet"):
                    body, ctype = bodies[fmt]
                    _post(old.base, token, small[fmt][0], ctype)
                    _post(old.base, token, _bodies(lon[:WARM], lat[:WARM])[fmt][0], ctype)
                    r = _post(old.base, token, body, ctype)
                    print(
                        f"{'previous ' + fmt:26s} {r['mb_in']:7.1f} {r['mb_out']:7.1f} "
                        f"{r['seconds']:8.2f} {n / r['seconds'] / 1e6:11.2f}   "
                        f"(service {r['seconds'] / results[fmt]:.1f}x)",
                        flush=True,
                    )
            finally:
                old.stop()
        if "sjoin" not in skip:
            gp = _geopandas(url, bodies, n)
            for fmt, secs in gp.items():
                print(
                    f"{'geopandas read+sjoin ' + fmt:26s} {'':7s} {'':7s} {secs:8.2f} "
                    f"{n / secs / 1e6:11.2f}   (service {secs / results[fmt]:.1f}x)"
                )
        print(f"({_load()})")
        if "rss" not in skip:
            lon, lat = _points(bounds, rss_points, seed + 3)
            big = _bodies(lon, lat)
            base_rss = srv.rss_mb()
            print(f"\nserver memory (VmRSS sampled every 50 ms), {rss_points:,} points:")
            for fmt in ("arrow", "csv"):
                body, ctype = big[fmt]
                r = _post(srv.base, token, body, ctype, rss_of=srv)
                print(
                    f"  {fmt:6s} {r['mb_in']:7.1f} MB in, {r['mb_out']:7.1f} MB out, "
                    f"{r['seconds']:.1f} s: RSS {base_rss:.0f} MB before, peak {r['peak_rss_mb']:.0f} MB"
                )
    finally:
        srv.stop()


STAGES_CODE = r"""
import json, os, sys, threading, time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa

from gridgeo.locate import answer
from gridgeo.locate import csvout
from gridgeo.locate.encode import encoder
write_csv = getattr(csvout, "csv_buffer", csvout.csv_bytes)
from gridgeo.locate.points import PointFile, to_srid
from gridgeo.registry.snapshot import load_snapshot

url, folder, chunk = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
with psycopg.connect(url) as conn:
    snap = load_snapshot(conn)
schema = answer.batch_schema(snap) if hasattr(answer, "batch_schema") else None
if schema is None:  # before batch_schema
    from gridgeo.service.routes_locate import _BATCH_SCHEMA as schema
# the process's CPU (the check's decode threads count too); every stage runs in a worker
# thread, as the service's chunks do: the locate kernels take their one-thread path there
clock = time.process_time
fused = hasattr(snap.index, "locate_fill")


def pool_of(n):
    try:
        return csvout.BufferPool(n)
    except AttributeError:  # a version before it
        return None


def point_file(fmt):
    try:  # as the service reads a CSV body answered in CSV: its lines echoed as sent
        return PointFile(folder / ("body." + fmt), fmt, chunk=chunk, lines=fmt == "csv", spill=True)
    except TypeError:  # a version before them
        return PointFile(folder / ("body." + fmt), fmt, chunk=chunk)


def encoded(fmt, enc, start, pts, table, pool):
    # the answer of one chunk as the route makes it (its bytes, or the prepared row groups)
    if fmt == "csv":
        if hasattr(pts, "echoed"):  # the body's text as the service echoes it
            return [write_csv(table, header=start == 0, raw=pts.echoed(), pool=pool)]
        raw = None if pts.x_text is None else {"lon": pts.x_text, "lat": pts.y_text}
        return [write_csv(table, header=start == 0, raw=raw)]
    if getattr(pts, "wkb", None) is not None:  # GeoParquet: the request's points reused
        return [enc.prepare(b, pts.wkb) for b in table.to_batches()]
    if fmt == "parquet" and pool is not None:  # into reused buffers, as the route
        return [enc.prepare(b, pool=pool) for b in table.to_batches()]
    return [enc.prepare(b) for b in table.to_batches()] if hasattr(enc, "prepare") else [
        ("chunk", b) for b in table.to_batches()]


def written(fmt, enc, parts):
    if fmt == "csv":
        return
    for p in parts:
        if isinstance(p, tuple) and p and p[0] == "chunk":
            enc.chunk(p[1])
        else:
            enc.write(p)


def located(pts):
    table = answer.locate_batch(snap, pts.x, pts.y, ids=pts.ids)
    return table.cast(schema)


def stages(fmt):
    t = {}

    def tick(name, t0):
        t[name] = t.get(name, 0.0) + clock() - t0
        return clock()

    for rep in range(2):  # the first warms caches and compiled code; the second counts
        t.clear()
        c = clock()
        pf = point_file(fmt)
        pf.check()
        c = tick("read: check", c)
        enc = encoder(fmt, schema)
        pool = pool_of(6)
        parts_s = 0.0
        for start, pts in pf.chunks():
            c = tick("read: chunks", c)
            x, y = to_srid(pts.x, pts.y, "wgs84", snap.srid)
            c = tick("locate: projection", c)
            if fused:
                snap.index.locate_fill(x, y, distance=True, near=20.0)
                c = tick("locate: grid and border distance (one compiled pass)", c)
            else:
                g = snap.index.locate(x, y)
                c = tick("locate: cell lookup + border tests", c)
                snap.index.border_distance(x, y, g)
                c = tick("locate: border distance", c)
            parts_s = sum(v for k, v in t.items() if k.startswith("locate:"))
            table = answer.locate_batch(snap, pts.x, pts.y, ids=pts.ids)
            c = tick("answer: locate_batch whole", c)
            table = table.cast(schema)
            c = tick("answer: cast to the stream schema", c)
            written(fmt, enc, encoded(fmt, enc, start, pts, table, pool))
            c = tick("write " + fmt, c)
        if fmt != "csv":
            enc.close()
        tick("write " + fmt, c)
        whole = t.pop("answer: locate_batch whole")
        t["answer: columns (locate_batch less the locate stages)"] = whole - parts_s
    return t


def chunk_cpu(fmt, threads):
    # the chunks' work (locate_batch, cast, encode, write) after the check, serially or as
    # the service runs it: two worker threads and a writer thread, in order
    pf = point_file(fmt)
    pf.check()
    enc = encoder(fmt, schema)
    pool = pool_of(8)
    w0, c0 = time.perf_counter(), clock()
    if not threads:
        for start, pts in pf.chunks():
            written(fmt, enc, encoded(fmt, enc, start, pts, located(pts), pool))
    else:
        work, writer, queue = ThreadPoolExecutor(2), ThreadPoolExecutor(1), deque()

        def job(start, pts):
            return encoded(fmt, enc, start, pts, located(pts), pool)

        for start, pts in pf.chunks():
            while len(queue) >= 6:
                queue.popleft().result()
            f = work.submit(job, start, pts)
            queue.append(writer.submit(lambda f=f: written(fmt, enc, f.result())))
        while queue:
            queue.popleft().result()
        work.shutdown()
        writer.shutdown()
    if fmt != "csv":
        enc.close()
    return {"wall": time.perf_counter() - w0, "cpu": clock() - c0}


out = {}


def main():
    for fmt in ("arrow", "parquet", "csv"):
        out[fmt] = stages(fmt)
        runs = {"serial": [], "threads": []}
        for _round in range(2):
            for mode in runs:
                runs[mode].append(chunk_cpu(fmt, mode == "threads"))
        out[fmt + " chunks"] = runs


th = threading.Thread(target=main)
th.start()
th.join()
print(json.dumps(out))
"""


def stages(url: str, bounds, n: int, seed: int, baseline: Path | None) -> None:
    """Server-side CPU per stage of one batch (in process, no HTTP), per format; and the
    chunks' work serially against the service's way (two worker threads and a writer).

    Everything runs in a worker thread, as the service's chunks do (the locate kernels then
    take their one-thread path), timed by the process's CPU clock (the check's decode
    threads count too). The stages are timed apart by calling them one after the other as
    the service does; "answer: columns" is :func:`locate_batch` less its locate stages (an
    estimate: the chunk is located twice, the second time in warm caches, so it can come
    out below zero, as for CSV).
    """
    lon, lat = _points(bounds, n, seed + 2)
    bodies = _bodies(lon, lat)
    runs = [("this version", ROOT)] + ([("previous", baseline)] if baseline else [])
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, (body, _c) in bodies.items():
            Path(tmp, "body." + fmt).write_bytes(body)
        Path(tmp, "stages.py").write_text(STAGES_CODE)
        res = {}
        for name, root in runs:
            env = dict(os.environ, PYTHONPATH=str(root))
            r = subprocess.run(
                [sys.executable, str(Path(tmp, "stages.py")), url, tmp, "100000"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            res[name] = json.loads(r.stdout.strip().splitlines()[-1])
    print(
        f"\nserver-side CPU seconds per stage, {n:,} points, in process, one worker thread; {_load()}"
    )
    names = list(res)
    print(f"{'format':8s} {'stage':62s} " + " ".join(f"{nm:>13s}" for nm in names))
    for fmt in ("arrow", "parquet", "csv"):
        keys = list(res[names[0]][fmt])
        for k in keys:
            vals = " ".join(f"{res[nm][fmt].get(k, float('nan')):13.3f}" for nm in names)
            print(f"{fmt:8s} {k:62s} {vals}")
        tot = " ".join(f"{sum(res[nm][fmt].values()):13.3f}" for nm in names)
        print(f"{fmt:8s} {'total':62s} {tot}")
    print(
        "\nthe chunks' work after the check (locate_batch, cast, encode, write), serially and as "
        "the service runs it (two worker threads + a writer thread): process CPU / wall, s"
    )
    for name in names:
        for fmt in ("arrow", "parquet", "csv"):
            runs_ = res[name][fmt + " chunks"]
            cells = "  ".join(
                f"{mode} " + ", ".join(f"{x['cpu']:.2f} / {x['wall']:.2f}" for x in runs_[mode])
                for mode in ("serial", "threads")
            )
            print(f"{name:13s} {fmt:8s} {cells}")


def timeline(url: str, bounds, n: int, seed: int, baseline: Path | None) -> None:
    """Where the wall time of one batch request goes: monotonic timestamps in the server
    (:data:`TIMELINE_APP`: body bytes, check, each chunk located / written / handed to the
    event loop / sent) beside curl's own ``time_starttransfer`` and ``time_total``."""
    token = "bench-" + os.urandom(8).hex()
    lon, lat = _points(bounds, n, seed + 2)
    bodies = _bodies(lon, lat)
    small = _bodies(lon[:1000], lat[:1000])
    runs = [("this version", ROOT)] + ([("previous", baseline)] if baseline else [])
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bench_timeline_app.py").write_text(TIMELINE_APP)
        for name, root in runs:
            log = Path(tmp, "stderr.txt")
            env = _service_env(url, token) | {"PYTHONPATH": f"{root}:{tmp}"}
            with log.open("w") as err:
                srv = Server(
                    "bench_timeline_app:create_app",
                    env,
                    factory=True,
                    cwd=Path(tmp),
                    pin=False,
                    stderr=err,
                )
                try:
                    srv.wait(f"/locate?lon={lon[0]}&lat={lat[0]}")
                    _warm(srv.base, token, small, lon, lat)
                    _warm_full(srv.base, token, bodies)
                    _settled(srv.base, token)  # after the tile pre-render (see alternate)
                    for fmt, (body, ctype) in bodies.items():
                        if fmt not in FORMATS:
                            continue
                        seen = len(log.read_text().splitlines())
                        r = _post(srv.base, token, body, ctype)
                        for _try in range(50):
                            got = [
                                ln
                                for ln in log.read_text().splitlines()[seen:]
                                if ln.startswith("TIMELINE ")
                            ]
                            if got:
                                break
                            time.sleep(0.1)
                        print(
                            f"\n{name}, {fmt}, {n:,} points: curl {r['seconds']:.3f} s "
                            f"(first answer byte at {r.get('starttransfer', float('nan')):.3f} s); "
                            f"{_load()}"
                        )
                        _print_timeline(json.loads(got[-1][len("TIMELINE ") :]))
                finally:
                    srv.stop()


def _print_timeline(events: list) -> None:
    """Events of one request, repeated ones (per chunk) folded into first … last; the
    server's CPU time and minor page faults since the request's start beside each."""
    folded: dict[str, list] = {}
    cpu0 = events[0][3].get("cpu", 0.0) if events else 0.0
    flt0 = events[0][3].get("minflt", 0) if events else 0
    for ms, _thread, what, kw in events:
        folded.setdefault(what, []).append((ms, kw))
    for what, got in sorted(folded.items(), key=lambda kv: kv[1][0][0]):
        first, last = got[0][0], got[-1][0]
        extra = ""
        spans = [kw["ms"] for _m, kw in got if "ms" in kw]
        if spans:
            extra = f"  each {min(spans):.0f}–{max(spans):.0f} ms, sum {sum(spans):.0f} ms"
        when = f"{first:8.1f}" if len(got) == 1 else f"{first:8.1f} … {last:8.1f}"
        kw = got[-1][1]
        if "cpu" in kw:  # at the (last) event
            extra += f"  [CPU {kw['cpu'] - cpu0:6.0f} ms, faults {kw['minflt'] - flt0:6d}]"
        print(f"  {what:34s} x{len(got):<3d} {when} ms{extra}")


def alternate(
    url: str, bounds, n: int, seed: int, baseline: Path, reps: int, compare: bool = False
) -> None:
    """Both versions up at once, requests alternating (ABBA…); best and all times per format.

    On a shared machine the load swings between requests; alternating puts both versions
    under the same swings, which one-after-the-other (``--baseline``) does not. With
    ``compare`` (curl), one more request per format and version, the two answers
    compared byte for byte.
    """
    token = "bench-" + os.urandom(8).hex()
    lon, lat = _points(bounds, n, seed + 2)
    bodies = _bodies(lon, lat)
    small = _bodies(lon[:1000], lat[:1000])
    new = Server(
        "gridgeo.service.app:create_app",
        _service_env(url, token),
        factory=True,
        cwd=ROOT,
        pin=False,
    )
    env = _service_env(url, token) | {"PYTHONPATH": str(baseline)}
    old = Server("gridgeo.service.app:create_app", env, factory=True, cwd=baseline, pin=False)
    try:
        for srv in (new, old):
            srv.wait(f"/locate?lon={lon[0]}&lat={lat[0]}")
            _warm(srv.base, token, small, lon, lat)
            _warm_full(srv.base, token, bodies)
        # from the steady state: each server pre-renders tiles after it starts (PostgreSQL
        # and a thread of the server, ~8 s each here); requests timed during it were
        # 1.4-2 times slower, for the first ~5 requests of a run
        waited = [_settled(srv.base, token) for srv in (new, old)]
        print(
            f"\nPOST /locate/batch, {n:,} points, this version and {baseline} alternating, "
            f"client {CLIENT}, after the tile pre-renders (waited {sum(waited):.1f} s); {_load()}"
        )
        sizes: dict[str, int] = {}
        for fmt, (body, ctype) in bodies.items():
            if fmt not in FORMATS:
                continue
            times: dict[str, list[float]] = {"new": [], "old": []}
            cpu: dict[str, list[float]] = {"new": [], "old": []}
            mb = {}
            for r in range(reps):
                order = [("new", new), ("old", old)]
                for name, srv in order if r % 2 == 0 else order[::-1]:
                    c0 = _cpu_s(srv.proc.pid)
                    res = _post(srv.base, token, body, ctype)
                    assert res["status"] == 200, res
                    times[name].append(res["seconds"])
                    cpu[name].append(_cpu_s(srv.proc.pid) - c0)
                    mb[name] = res["mb_out"]
            sizes[fmt] = int(mb["new"] * 1e6)
            if compare:
                _compare_answers(fmt, new.base, old.base, token, body, ctype)
            bn, bo = min(times["new"]), min(times["old"])
            cn, co = min(cpu["new"]), min(cpu["old"])
            mn, mo = float(np.median(times["new"])), float(np.median(times["old"]))
            print(
                f"{fmt:8s} this {bn:6.2f} s ({n / bn / 1e6:.2f} M/s, {mb['new']:.0f} MB out, "
                f"server CPU {cn:.2f} s)  previous {bo:6.2f} s ({n / bo / 1e6:.2f} M/s, "
                f"{mb['old']:.0f} MB out, server CPU {co:.2f} s)  {bo / bn:.2f}x wall, "
                f"{co / cn:.2f}x CPU; medians {mn:.2f} / {mo:.2f} s ({mo / mn:.2f}x), server CPU "
                f"{np.median(cpu['new']):.2f} / {np.median(cpu['old']):.2f} s  "
                f"(all: {times['new']!r} / {times['old']!r}); {_load()}",
                flush=True,
            )
        for fmt, secs in _floor({f: bodies[f] for f in sizes}, sizes).items():
            print(
                f"{fmt:8s} floor (the same bytes in and out, no work) {secs:6.2f} s "
                f"({n / secs / 1e6:.2f} M/s); {_load()}",
                flush=True,
            )
    finally:
        new.stop()
        old.stop()


def _compare_answers(fmt: str, new: str, old: str, token: str, body: bytes, ctype: str) -> None:
    """The answers of both versions to one request, compared byte for byte (printed)."""
    import filecmp

    with tempfile.TemporaryDirectory(prefix="gridgeo-bench-") as tmp:
        a, b = Path(tmp, "this"), Path(tmp, "previous")
        _post(new, token, body, ctype, client="curl", save=a)
        _post(old, token, body, ctype, client="curl", save=b)
        same = filecmp.cmp(a, b, shallow=False)
        print(
            f"{fmt:8s} answers of both versions {'identical' if same else 'DIFFERENT'} "
            f"({a.stat().st_size:,} / {b.stat().st_size:,} bytes)",
            flush=True,
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=71, help="grids per side (71: 5,041 grids)")
    ap.add_argument("--rate", type=float, default=1000.0, help="GET /locate requests per second")
    ap.add_argument("--seconds", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--batch-points", type=int, default=1_000_000)
    ap.add_argument("--rss-points", type=int, default=5_000_000)
    ap.add_argument("--skip", default="", help="comma list of tail,swap,stages,bulk,sjoin,rss")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="a checkout of the previous version (e.g. a git worktree) to run tail and bulk "
        "against too",
    )
    ap.add_argument(
        "--alternate",
        type=int,
        default=0,
        help="with --baseline: N requests per format and version, alternating (replaces bulk)",
    )
    ap.add_argument(
        "--compare",
        action="store_true",
        help="with --alternate: both versions' answers to one more request compared byte for byte",
    )
    ap.add_argument(
        "--formats",
        default="csv,arrow,parquet",
        help="bulk formats of --alternate and --timeline (comma list of csv,arrow,parquet)",
    )
    ap.add_argument(
        "--timeline",
        action="store_true",
        help="only the timeline of one batch request per format (and --baseline's)",
    )
    ap.add_argument(
        "--client",
        choices=("curl", "httpx"),
        default=None,
        help="bulk client: curl (compiled, default when installed) or httpx (1 MiB reads)",
    )
    args = ap.parse_args()
    global CLIENT, FORMATS
    CLIENT = args.client or CLIENT
    FORMATS = tuple(filter(None, args.formats.split(",")))
    skip = set(filter(None, args.skip.split(",")))
    if shutil.which("wrk") is None and not {"tail", "swap"} <= skip:
        print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
        return 2
    url = _database(args.side, args.seed)
    bounds = _bounds(url)
    if args.timeline:
        timeline(url, bounds, args.batch_points, args.seed, args.baseline)
        return 0
    if "tail" not in skip:
        tail(url, bounds, args.rate, args.seconds, args.seed, args.baseline)
    if "swap" not in skip:
        swap(url, bounds, args.rate, args.seconds, args.seed)
    if "stages" not in skip:
        stages(url, bounds, args.batch_points, args.seed, args.baseline)
    if args.alternate and args.baseline is not None:
        alternate(
            url,
            bounds,
            args.batch_points,
            args.seed,
            args.baseline,
            args.alternate,
            args.compare,
        )
    elif "bulk" not in skip:
        bulk(url, bounds, args.batch_points, args.rss_points, args.seed, skip, args.baseline)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
