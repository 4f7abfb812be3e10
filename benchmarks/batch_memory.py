"""The server's memory under one very large ``POST /locate/batch`` per format (by hand, not in
``make bench``: 50 M points need ~4 GB of bodies and ~14 GB of answers streamed to /dev/null).

Starts the service as ``bench_service.py`` does, posts each body from a file with ``curl -T``
(streamed, not read into curl's memory) and samples the server's ``RssAnon`` (its own heap) and
``RssFile`` (mapped files: the spooled body's pages, page cache) every 50 ms.

    PYTHONPATH=. GRIDGEO_HOME=$PWD/.gridgeo .venv/bin/python benchmarks/batch_memory.py \\
        --points 50000000 --formats arrow,parquet,csv

``--baseline DIR --alternate N``: a second server runs the checkout in DIR and the same
body goes to each server in turn (ABBA…), N times each, so both meet the same load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import bench_service as b


def _memory(pid: int) -> dict[str, float]:
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "RssAnon:", "RssFile:")):
                out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


def _cpu(pid: int) -> float:
    """The process's CPU seconds so far (user + system, every thread)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=50_000_000)
    ap.add_argument("--formats", default="arrow,parquet,csv")
    ap.add_argument("--tmp", default=None, help="folder of the body files (default: the system's)")
    ap.add_argument(
        "--spy",
        default=None,
        help="py-spy executable: record the server during each request (collapsed stacks "
        "<format>.spy.txt in the current folder)",
    )
    ap.add_argument(
        "--timeline",
        action="store_true",
        help="serve bench_service.py's timeline app: print where each request's time goes",
    )
    ap.add_argument("--baseline", type=Path, default=None, help="another checkout, alternated")
    ap.add_argument("--alternate", type=int, default=1, help="requests per server and format")
    args = ap.parse_args()
    url = b._database(71, 0)
    bounds = b._bounds(url)
    token = "bench-" + os.urandom(8).hex()
    env = b._service_env(url, token)
    env["GRIDGEO_BATCH_MAX_POINTS"] = str(args.points)
    env["GRIDGEO_BATCH_MAX_BYTES"] = str(16 << 30)
    roots = [("this version", b.ROOT)] + ([("baseline", args.baseline)] if args.baseline else [])
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        app = "gridgeo.service.app:create_app"
        if args.timeline:
            Path(tmp, "bench_timeline_app.py").write_text(b.TIMELINE_APP)
            app = "bench_timeline_app:create_app"
        servers = []
        for i, (name, root) in enumerate(roots):
            log = Path(tmp, f"stderr{i}.txt") if args.timeline else None
            err = stack.enter_context(log.open("w")) if log else None
            paths = f"{root}:{tmp}" if args.timeline else str(root)
            srv = b.Server(
                app, env | {"PYTHONPATH": paths}, factory=True, cwd=root, pin=False, stderr=err
            )
            stack.callback(srv.stop)
            servers.append((name, srv, log))
        return _run(args, servers, bounds, token)


def _run(args: argparse.Namespace, servers: list, bounds, token: str) -> int:
    """The requests of :func:`main`: each format's body to each server in turn."""
    lon, lat = b._points(bounds, 1000, 1)
    for _name, srv, _log in servers:
        srv.wait(f"/locate?lon={lon[0]}&lat={lat[0]}")
        b._warm(srv.base, token, b._bodies(lon, lat), lon, lat)
    lon, lat = b._points(bounds, args.points, 3)
    bodies = b._bodies(lon, lat)
    del lon, lat
    print(f"{args.points:,} points per request; {b._load()}")
    for fmt in args.formats.split(","):
        body, ctype = bodies[fmt]
        with tempfile.NamedTemporaryFile(prefix="gridgeo-mem-", dir=args.tmp) as fh:
            fh.write(body)
            fh.flush()
            order = list(range(len(servers)))
            for rep in range(args.alternate):
                for k in order if rep % 2 == 0 else order[::-1]:
                    name, srv, log = servers[k]
                    seen = len(_timelines(log))
                    line = _request(args, srv, fh.name, ctype, token, fmt)
                    print(
                        f"{name:12s} {fmt:8s} {len(body) / 1e6:7.0f} MB in, {line}; {b._load()}",
                        flush=True,
                    )
                    got: list[str] = []
                    for _try in range(50 if log else 0):  # printed once the last byte is sent
                        got = _timelines(log)[seen:]
                        if got:
                            break
                        time.sleep(0.1)
                    if got:
                        b._print_timeline(json.loads(got[-1][len("TIMELINE ") :]))
    return 0


def _timelines(log: Path | None) -> list[str]:
    """The timeline lines the server wrote so far (none without ``--timeline``)."""
    if log is None:
        return []
    return [ln for ln in log.read_text().splitlines() if ln.startswith("TIMELINE ")]


def _request(
    args: argparse.Namespace, srv: b.Server, path: str, ctype: str, token: str, fmt: str
) -> str:
    """Post the body in ``path`` to ``srv`` with curl; its time, CPU and memory as text."""
    start = _memory(srv.proc.pid)
    peak = dict(start)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            for k, v in _memory(srv.proc.pid).items():
                peak[k] = max(peak[k], v)

    threading.Thread(target=sample, daemon=True).start()
    spy = None
    if args.spy:
        cmd = [args.spy, "record", "-p", str(srv.proc.pid), "-t", "-r", "50", "-f", "raw"]
        cmd += ["-o", f"{fmt}.spy.txt", "--nonblocking"]
        spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
    cpu = _cpu(srv.proc.pid)
    cmd = ["curl", "-s", "-o", "/dev/null", "-T", path, "-X", "POST"]
    cmd += ["-H", "Expect:", "-H", f"Content-Type: {ctype}"]
    cmd += ["-H", f"Authorization: Bearer {token}"]
    cmd += ["-w", "%{http_code} %{size_download} %{time_total}", srv.base + "/locate/batch"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    code, size, secs = out.split()
    cpu = _cpu(srv.proc.pid) - cpu
    stop.set()
    if spy is not None:
        spy.send_signal(2)  # SIGINT: py-spy writes its stacks
        spy.wait()
    time.sleep(2)
    after = _memory(srv.proc.pid)
    return (
        f"HTTP {code}, {int(size) / 1e6:7.0f} MB out, {float(secs):6.1f} s "
        f"({args.points / float(secs) / 1e6:.2f} M/s), server CPU {cpu:.1f} s; anonymous "
        f"{start['RssAnon']:.0f} MB, peak +{peak['RssAnon'] - start['RssAnon']:.0f} MB; "
        f"mapped files peak {peak['RssFile']:.0f} MB, 2 s after {after['RssFile']:.0f} MB"
    )


if __name__ == "__main__":
    raise SystemExit(main())
