"""Patrol tracks: fixes → per-grid daily statistics (gridgeo vs geopandas sjoin + groupby), COPY.

Run: ``.venv/bin/python benchmarks/bench_tracks.py --points 10000000`` (``--skip
stats,sjoin,copy``; ``--compare-points N`` gives geopandas a subset, scaled in the ratio;
the COPY figure alone: ``--points 1000000 --skip stats``).

Data: a generated district of ``--side``² jittered grids (300 m, EPSG:3826) and
``--workers`` grid workers, each assigned one grid, walking a smooth random walk at
about 1.2 m/s with one fix per second, starting in their grid and free to leave it.

* **gridgeo**: :func:`gridgeo.tracks.patrol_days` — clean (sort check, duplicates,
  speeds), project, locate every fix with the in-memory index, split each leg at the
  grid borders it crosses, sum time and distance per worker, day and grid, own grid,
  the 2-hour rule. *Attribution* is the locate + leg-splitting step alone.
* **geopandas**: what a user would write: points → ``sjoin(grids, predicate="within")``
  → each leg's time to the grid of its start fix → ``groupby(worker, day, grid).sum()``.
  Cheaper in kind (no border splitting, no cleaning), so the ratio flatters geopandas.
* **COPY**: whole :func:`gridgeo.registry.tracks.import_tracks` calls (raw and cleaned
  fixes into the month partitions; reading and cleaning the file are not timed) into a
  scratch database ``gridgeo_bench_tracks``, next to the same calls of the previous
  ``import_tracks`` (commit ``b07b9e7``, loaded from git) in the same run: a month new to
  the store, a month already holding data, and the re-import no-op. Fixes of the input
  per second of the call (each fix is written twice: raw and cleaned).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyproj

from gridgeo.testing import jittered_tiling
from gridgeo.tracks import GridSnapshot, TrackPoints, clean_tracks, patrol_days
from gridgeo.tracks.attribute import attribute_legs

CRS = 3826
T0 = pd.Timestamp("2026-11-02 08:00", tz="Asia/Shanghai").value / 1e9


def district(side: int):
    import geopandas as gpd

    codes, geoms = jittered_tiling(side, side, seed=1)
    codes = np.array(
        [
            f"110101001{int(i):03d}{j:03d}"
            for i, j in zip(
                np.arange(codes.size) // 1000, np.arange(codes.size) % 1000, strict=True
            )
        ],
        dtype=object,
    )
    return gpd.GeoDataFrame({"grid_code": codes}, geometry=list(geoms), crs=CRS)


def walks(grids, workers: int, seconds: int, seed: int = 0) -> tuple[TrackPoints, pd.DataFrame]:
    """``workers × seconds`` fixes (1 Hz), WGS 84, and the worker → grid assignments."""
    rng = np.random.default_rng(seed)
    home = np.arange(workers) % len(grids)
    start = np.asarray([g.centroid.coords[0] for g in grids.geometry.values[home]])
    turn = rng.normal(0, 0.08, (workers, seconds)).cumsum(axis=1)
    heading = turn + rng.uniform(0, 2 * np.pi, (workers, 1))
    speed = 1.2
    x = start[:, :1] + np.cumsum(speed * np.cos(heading), axis=1)
    y = start[:, 1:] + np.cumsum(speed * np.sin(heading), axis=1)
    tr = pyproj.Transformer.from_crs(CRS, 4326, always_xy=True)
    lon, lat = tr.transform(x.ravel(), y.ravel())
    n = workers * seconds
    t = np.tile(T0 + np.arange(seconds, dtype=np.float64), workers)
    names = np.array([f"W{w:05d}" for w in range(workers)], dtype=object)
    pts = TrackPoints(
        np.repeat(names, seconds),
        t,
        np.asarray(lon),
        np.asarray(lat),
        np.full(n, 5.0),
        np.full(n, np.nan),
        np.arange(n),
        "bench",
    )
    asg = pd.DataFrame(
        {
            "worker": names,
            "grid_code": grids["grid_code"].to_numpy()[home],
            "valid_from": "2026-01-01",
            "valid_to": None,
        }
    )
    return pts, asg


CPU = {}  # process CPU seconds (all threads) of the last timed call, by function name


def timed(fn, *args, **kw):
    t, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kw)
    CPU[fn.__name__] = time.process_time() - c
    return time.perf_counter() - t, out


def run_gridgeo(pts, snap, asg):
    dt, res = timed(patrol_days, pts, snap, asg, profile="gansu")
    cleaned = res.cleaned
    p = cleaned.points
    t_proj, (x, y) = timed(snap.project, p.lon, p.lat)
    t_attr, legs = timed(
        attribute_legs, x, y, p.t, cleaned.segment_ok(), snap.index, borders=snap.borders
    )
    return dt, t_proj, t_attr, res, legs


def run_sjoin(pts, grids, n: int):
    import geopandas as gpd

    sub = slice(0, n)
    t = time.perf_counter()
    g = gpd.GeoDataFrame(
        {"worker": pts.worker[sub], "t": pts.t[sub]},
        geometry=gpd.points_from_xy(pts.lon[sub], pts.lat[sub]),
        crs=4326,
    ).to_crs(CRS)
    j = gpd.sjoin(g, grids[["grid_code", "geometry"]], how="left", predicate="within")
    j = j[~j.index.duplicated()]
    j["dt"] = j.groupby("worker")["t"].diff().shift(-1).where(lambda s: s <= 300, 0.0)
    j["day"] = pd.to_datetime(j["t"], unit="s", utc=True).dt.tz_convert("Asia/Shanghai").dt.date
    out = j.groupby(["worker", "day", "grid_code"], dropna=False)["dt"].sum()
    return time.perf_counter() - t, out


PREVIOUS = "b07b9e7"  # the import path before COPY straight into the month partitions


def previous_import():
    """``import_tracks`` as of commit :data:`PREVIOUS` (COPY through the parents), from git."""
    import subprocess
    import types

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = subprocess.run(
        ["git", "-C", root, "show", f"{PREVIOUS}:gridgeo/registry/tracks.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    mod = types.ModuleType(f"gridgeo.registry._tracks_{PREVIOUS}")
    exec(compile(src, mod.__name__, "exec"), mod.__dict__)
    return mod.import_tracks


def server_cpu() -> float | None:
    """CPU seconds used so far by the private PostGIS (postmaster, its live children and the
    children it reaped), or ``None`` when the database is not the private instance here."""
    from gridgeo.database import PrivateInstance
    from gridgeo.settings import get_settings

    settings = get_settings()
    pid = None if settings.database_url else PrivateInstance(settings).status().pid
    if pid is None:
        return None
    ticks = 0
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as fh:
                f = fh.read().rsplit(")", 1)[1].split()
        except (OSError, ValueError):
            continue
        if entry == str(pid):
            ticks += sum(int(v) for v in f[11:15])  # utime, stime, cutime, cstime
        elif f[1] == str(pid):
            ticks += int(f[11]) + int(f[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def run_copy(pts, n: int, reps: int = 2) -> list[tuple[str, str, float, float, float | None]]:
    """Time whole ``import_tracks`` calls, the previous and the current way, same run.

    Per way and repetition, on a fresh database (from one migrated template): file A into a
    month new to the store, file B (the same walks a day later: the month already holds
    data) and file A again (the no-op). Reading and cleaning are outside the timing, as
    before. Returns ``(way, case, wall s, client CPU s, server CPU s or None)`` rows.
    """
    sys.path.insert(0, os.path.dirname(__file__))
    from bench_registry import create_db, drop_db, server_url

    from gridgeo.registry.tracks import import_tracks

    server = server_url()
    tpl = "gridgeo_bench_tracks_tpl"
    create_db(server, tpl)
    a = pts.take(np.arange(n))
    b = TrackPoints(a.worker, a.t + 86400, a.lon, a.lat, a.accuracy, a.speed, a.row, "bench")
    clean_a, clean_b = clean_tracks(a), clean_tracks(b)
    ways = {"previous": previous_import(), "current": import_tracks}
    out = []
    try:
        for _ in range(reps):
            for way, fn in ways.items():
                url = create_db(server, "gridgeo_bench_tracks", template=tpl)
                try:
                    for case, p, c, h in (
                        ("new month", a, clean_a, "a"),
                        ("month with data", b, clean_b, "b"),
                        ("re-import (no-op)", a, clean_a, "a"),
                    ):
                        s0 = server_cpu()
                        dt, _ = timed(fn, url, p, c, sha256=h * 64, name=case, crs="wgs84", by="b")
                        s1 = server_cpu()
                        srv = None if s0 is None or s1 is None else s1 - s0
                        out.append((way, case, dt, CPU[fn.__name__], srv))
                finally:
                    drop_db(server, "gridgeo_bench_tracks")
    finally:
        drop_db(server, tpl)
    return out


def report_copy(rows, n: int) -> None:
    """Best of the repetitions per way and case, fixes/s and the ratio current / previous."""
    best = {}
    for way, case, dt, cpu, srv in rows:
        if (way, case) not in best or dt < best[way, case][0]:
            best[way, case] = (dt, cpu, srv)

    def cpu(c: float, s: float | None) -> str:
        return f"CPU client {c:.2f} s" + ("" if s is None else f" + server {s:.2f} s")

    for case in dict.fromkeys(r[1] for r in rows):
        (tp, cp, sp), (tc, cc, sc) = best["previous", case], best["current", case]
        if "no-op" in case:
            print(f"{case}: current {tc * 1e3:.1f} ms, previous {tp * 1e3:.1f} ms")
            continue
        print(
            f"COPY ingest of {n:,} fixes (raw + cleaned), {case}: current {tc:.2f} s = "
            f"{n / tc / 1e3:.0f} k fixes/s ({cpu(cc, sc)}) | previous ({PREVIOUS}) "
            f"{tp:.2f} s = {n / tp / 1e3:.0f} k fixes/s ({cpu(cp, sp)}) | {tp / tc:.2f}× faster"
        )


def machine() -> str:
    import numba

    load = os.getloadavg()
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, numba threads "
        f"{numba.get_num_threads()}, load average {load[0]:.1f}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=10_000_000)
    ap.add_argument("--workers", type=int, default=1000)
    ap.add_argument("--side", type=int, default=40, help="side² grids (default 1,600)")
    ap.add_argument("--compare-points", type=int, default=2_000_000)
    ap.add_argument("--copy-points", type=int, default=1_000_000)
    ap.add_argument("--copy-reps", type=int, default=3, help="repetitions (best is shown)")
    ap.add_argument("--skip", default="", help="comma list of: stats, sjoin, copy")
    a = ap.parse_args(argv)
    skip = set(filter(None, a.skip.split(",")))
    print(machine())
    grids = district(a.side)
    seconds = a.points // a.workers
    t_gen, (pts, asg) = timed(walks, grids, a.workers, seconds)
    n = len(pts)
    print(
        f"{len(grids)} grids, {a.workers} workers × {seconds} s at 1 Hz = {n:,} fixes "
        f"(generated in {t_gen:.1f} s)"
    )
    if "stats" in skip:
        skip.add("sjoin")  # its ratio is against the statistics
    else:
        t_snap, snap = timed(GridSnapshot.from_frame, grids)
        cores = os.cpu_count() or 1
        patrol_days(pts.take(np.arange(20_000)), snap, asg)  # compile the numba kernels first
        total, t_proj, t_attr, res, legs = run_gridgeo(pts, snap, asg)
        print(f"grid index: {t_snap:.2f} s")
        c_total, c_attr = CPU["patrol_days"], CPU["attribute_legs"]
        print(
            f"gridgeo per-grid daily statistics: {total:.2f} s wall ({n / total / 1e6:.2f} M fixes/s),"
            f" {c_total:.2f} s CPU"
        )
        print(
            f"  attribution (locate + split legs at borders): {t_attr:.2f} s = "
            f"{n / t_attr / 1e6:.2f} M fixes/s, {n / t_attr / cores / 1e6:.2f} M/s per core; "
            f"CPU {c_attr:.2f} s = {n / c_attr / 1e6:.2f} M fixes per CPU-second; "
            f"{len(legs):,} leg parts, {int((legs.f0 > 0).sum()):,} split at borders; "
            f"projection {t_proj:.2f} s ({CPU['project']:.2f} s CPU)"
        )
        print(
            f"  {len(res.days):,} worker-days, {len(res.per_grid):,} worker-day-grid rows, "
            f"{int(res.days['meets_rule'].sum()):,} meet the 2-hour rule"
        )
    if "sjoin" not in skip:
        m = min(a.compare_points, n)
        c = time.process_time()
        t_sj, _ = run_sjoin(pts, grids, m)
        c_sj = time.process_time() - c
        scaled, c_scaled = t_sj * n / m, c_sj * n / m
        print(
            f"geopandas sjoin + groupby on {m:,} fixes: {t_sj:.2f} s, {c_sj:.2f} s CPU "
            f"(scaled to {n:,}: {scaled:.1f} s) → gridgeo {scaled / total:.1f}× faster "
            f"(CPU: {c_scaled / c_total:.1f}×)"
        )
    if "copy" not in skip:
        m = min(a.copy_points, n)
        report_copy(run_copy(pts, m, a.copy_reps), m)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
