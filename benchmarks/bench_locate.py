"""Batch locate throughput (gridgeo vs geopandas sjoin vs PostGIS) and /locate latency.

Run: ``.venv/bin/python benchmarks/bench_locate.py`` (needs the private PostGIS:
``gridgeo db up``). Options: ``--side 71`` (71² = 5,041 grids), ``--points 4000000``,
``--compare-points N`` (points given to sjoin and PostGIS; default all), ``--rate 500``
and ``--requests 5000`` for the latency test, ``--skip sjoin,postgis,http``.

All three batch methods answer the same question on the same points: the grid whose
``ST_Covers(geom, point)`` is true, the smallest code when several are (borders). The
script checks that their answers agree and prints mismatches.

The latency test starts ``uvicorn`` with the service on 127.0.0.1 (a free port),
seeds a benchmark database ``gridgeo_bench_locate`` through the registry API, and sends
a bounded number of ``GET /locate`` requests at a fixed rate from a local asyncio client
(open loop: latency is measured from each request's scheduled send time, so queueing
counts). No traffic leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime

import numpy as np
import shapely

from gridgeo.locate import GridIndex
from gridgeo.testing import jittered_tiling, sample_points

CRS = 3826


def _best(fn, repeat=3):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _machine() -> str:
    import numba

    load = os.getloadavg()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB, "
        f"numba threads {numba.get_num_threads()}, load average {load[0]:.1f} "
        f"(other work on the machine slows every figure), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def bench_gridgeo(codes, geoms, x, y):
    t = time.perf_counter()
    index = GridIndex.build(codes, geoms)
    build = time.perf_counter() - t
    index.locate(x[:1000], y[:1000])  # load compiled kernels
    index.locate(x[:50_000], y[:50_000])
    secs, got = _best(lambda: index.locate(x, y))
    index.border_distance(x[:50_000], y[:50_000], got[:50_000])
    dsecs, _ = _best(lambda: index.border_distance(x, y, got), repeat=1)
    st = index.stats()
    print(
        f"gridgeo index: {len(codes):,} grids built in {build:.2f} s; "
        f"{st['cells']:,} cells of {st['cell_size']:.0f} m, border sub-cells cover "
        f"{st['border_share_of_covered']:.1%} of the covered area"
    )
    return index, got, secs, dsecs


def bench_sjoin(index, x, y):
    import geopandas as gpd
    import pandas as pd

    grids = gpd.GeoDataFrame({"code": index.codes}, geometry=list(index.geoms), crs=CRS)

    def run():
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=CRS)
        j = gpd.sjoin(pts, grids, predicate="intersects", how="left")
        # tie rule: smallest code per point
        j = j.sort_values("code").loc[~j.sort_values("code").index.duplicated(keep="first")]
        codes = j.sort_index()["code"].to_numpy(dtype=object)
        return np.where(pd.isna(codes), None, codes)

    secs, codes = _best(run, repeat=1)
    return secs, codes


def bench_postgis(index, x, y):
    import psycopg

    from gridgeo.database import PrivateInstance
    from gridgeo.database.connect import ensure_database, with_database
    from gridgeo.settings import get_settings

    server = PrivateInstance(get_settings()).url(dbname="postgres")
    ensure_database(server, "gridgeo_bench_pg")
    url = with_database(server, "gridgeo_bench_pg")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        conn.execute("DROP TABLE IF EXISTS g, p")
        conn.execute("CREATE TABLE g (code text, geom geometry)")
        with conn.cursor().copy("COPY g (code, geom) FROM STDIN") as cp:
            for c, w in zip(index.codes, shapely.to_wkb(index.geoms, hex=True), strict=True):
                cp.write_row((c, w))
        conn.execute("CREATE INDEX ON g USING gist (geom)")
        conn.execute("CREATE TABLE p (id int, x float8, y float8)")
        t = time.perf_counter()
        with conn.cursor().copy("COPY p (id, x, y) FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(["int4", "float8", "float8"])
            for i, (a, b) in enumerate(zip(x.tolist(), y.tolist(), strict=True)):
                cp.write_row((i, a, b))
        conn.execute("ALTER TABLE p ADD COLUMN geom geometry")
        conn.execute("UPDATE p SET geom = ST_MakePoint(x, y)")
        conn.execute("VACUUM ANALYZE p")
        conn.execute("ANALYZE g")
        load = time.perf_counter() - t
        t = time.perf_counter()
        rows = conn.execute(
            """
            SELECT p.id, (SELECT g.code FROM g WHERE ST_Covers(g.geom, p.geom)
                           ORDER BY g.code COLLATE "C" LIMIT 1)
              FROM p
            """
        ).fetchall()
        secs = time.perf_counter() - t
    codes = np.full(len(x), None, dtype=object)
    for i, c in rows:
        codes[i] = c
    return secs, load, codes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_http(side: int, rate: float, requests: int, seed: int, batch_points: int) -> dict:
    import httpx
    import psycopg

    from gridgeo.database import PrivateInstance, apply_migrations
    from gridgeo.database.connect import ensure_database, with_database
    from gridgeo.settings import get_settings
    from gridgeo.testing import seed_registry

    server = PrivateInstance(get_settings()).url(dbname="postgres")
    name = f"gridgeo_bench_locate_{side}"
    ensure_database(server, name)
    url = with_database(server, name)
    apply_migrations(url)
    with psycopg.connect(url) as conn:
        n = conn.execute("SELECT count(*) FROM registry.current_grid").fetchone()[0]
    if n != side * side:
        t = time.perf_counter()
        seed_registry(url, side, side, seed=seed)
        print(
            f"seeded {side * side:,} grids through the registry API in "
            f"{time.perf_counter() - t:.1f} s"
        )
    with psycopg.connect(url) as conn:
        b = conn.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Transform("
            "ST_SetSRID(ST_Extent(geom)::geometry, registry.srid()), 4326) e "
            "FROM registry.current_grid) s"
        ).fetchone()
    port = _free_port()
    token = "bench-" + os.urandom(8).hex()
    # every request comes from 127.0.0.1: without this the anonymous rate limit (100/s, a
    # burst of 1,000) would answer most of them 429, and time those answers
    env = dict(
        os.environ,
        GRIDGEO_DATABASE_URL=url,
        GRIDGEO_LISTEN="true",
        GRIDGEO_ADMIN_TOKEN=token,
        GRIDGEO_RATE_LIMIT_PER_S="0",
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "gridgeo.service.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if (
                    httpx.get(
                        f"{base}/locate",
                        params={"lon": (b[0] + b[2]) / 2, "lat": (b[1] + b[3]) / 2},
                    ).status_code
                    == 200
                ):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError("the service did not come up")
        rng = np.random.default_rng(seed)
        lon = rng.uniform(b[0], b[2], requests).tolist()
        lat = rng.uniform(b[1], b[3], requests).tolist()
        try:
            import uvloop

            result = uvloop.run(_load(base, lon, lat, rate))
        except ImportError:
            result = asyncio.run(_load(base, lon, lat, rate))
        # one batch request end to end: upload CSV, locate, stream CSV back
        n = batch_points
        blon = rng.uniform(b[0], b[2], n)
        blat = rng.uniform(b[1], b[3], n)
        body = "lon,lat\n" + "\n".join(
            f"{a:.7f},{c:.7f}" for a, c in zip(blon.tolist(), blat.tolist(), strict=True)
        )
        t = time.perf_counter()
        r = httpx.post(
            f"{base}/locate/batch",
            content=body.encode(),
            timeout=600,
            headers={"Content-Type": "text/csv", "Authorization": f"Bearer {token}"},
        )
        result["batch_seconds"] = time.perf_counter() - t
        result["batch_points"] = n
        result["batch_status"] = r.status_code
        result["batch_mb"] = (len(body) + len(r.content)) / 1e6
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _load(base: str, lon, lat, rate: float, connections: int = 32) -> dict:
    """Open-loop load: request i is due at t0 + i/rate; latency counts from the due time.

    A minimal HTTP/1.1 keep-alive client on raw asyncio streams (so the client, which
    shares the machine with the server, costs little CPU); requests wait for a free
    connection from a fixed pool, and that wait counts as latency.
    """
    host, port = base.removeprefix("http://").split(":")
    n = len(lon)
    lat_ms = np.full(n, np.nan)
    status = np.zeros(n, dtype=int)
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection(host, int(port)))

    async def get(i: int) -> int:
        reader, writer = await pool.get()
        try:
            writer.write(
                f"GET /locate?lon={lon[i]!r}&lat={lat[i]!r} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            code = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            return code
        finally:
            pool.put_nowait((reader, writer))

    for i in range(min(100, n)):  # warm-up, not measured
        await get(i)
    t0 = time.perf_counter() + 0.1

    async def one(i: int) -> None:
        due = t0 + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        status[i] = await get(i)
        lat_ms[i] = (time.perf_counter() - due) * 1000

    await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.perf_counter() - t0
    while not pool.empty():
        _r, w = pool.get_nowait()
        w.close()
    ok = status == 200
    codes, counts = np.unique(status[~ok], return_counts=True)
    return {
        "requests": n,
        "ok": int(ok.sum()),
        "other": ", ".join(f"{c:,} × HTTP {k}" for k, c in zip(codes, counts, strict=True)),
        "rate": rate,
        "achieved": n / wall,
        "p50": float(np.nanpercentile(lat_ms, 50)),
        "p90": float(np.nanpercentile(lat_ms, 90)),
        "p99": float(np.nanpercentile(lat_ms, 99)),
        "max": float(np.nanmax(lat_ms)),
    }


def bench_real(n: int, compare: int | None, skip: set[str], seed: int) -> None:
    """The same on real polygons: Da'an's 1,270 small statistical areas (data/raw)."""
    from pathlib import Path

    import pyogrio

    path = (
        Path(__file__).resolve().parents[1]
        / "data"
        / "raw"
        / "daan"
        / "taipei_daan_segis_2017.gpkg"
    )
    if not path.is_file():
        print(f"\n(real-data section skipped: {path} not found)")
        return
    df = pyogrio.read_dataframe(path, layer="basecode_min_stat_area", columns=["CODEBASE"])
    codes = df["CODEBASE"].astype(str).to_numpy(dtype=object)
    geoms = np.asarray(df.geometry.values, dtype=object)
    x, y = sample_points(
        codes, geoms, n, seed=seed + 2, share_on_vertices=0.01, share_on_edges=0.01, margin=0.02
    )
    print(
        f"\nreal data: Da'an, {len(codes):,} small statistical areas "
        f"(median {int(np.median(shapely.get_num_coordinates(geoms)))} vertices), "
        f"{n:,} points"
    )
    index, got, secs, _d = bench_gridgeo(codes, geoms, x, y)
    rows = [("gridgeo GridIndex.locate", n, secs)]
    m = compare or n
    mine = np.full(m, None, dtype=object)
    sub = got[:m]
    mine[sub >= 0] = index.codes[sub[sub >= 0]]
    if "sjoin" not in skip:
        s, codes_s = bench_sjoin(index, x[:m], y[:m])
        rows.append(("geopandas sjoin (intersects) + smallest code", m, s))
        print(f"  sjoin vs gridgeo: {int(np.sum(codes_s != mine))} of {m:,} points differ")
    _table(rows)


def _table(rows: list[tuple[str, int, float]]) -> None:
    base = rows[0][1] / rows[0][2]
    print(f"{'method':46s} {'points':>10s} {'seconds':>9s} {'M points/s':>11s} {'gridgeo ×':>10s}")
    for name, n, s in rows:
        rate = n / s
        print(f"{name:46s} {n:>10,} {s:>9.3f} {rate / 1e6:>11.2f} {base / rate:>10.1f}")


KERNEL_CODE = r"""
import json, sys, time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gridgeo.locate import answer
from gridgeo.locate import _kernels as kern
from gridgeo.locate.points import to_srid
from gridgeo.locate.snapshot import build_snapshot

data, chunk, reps, save = np.load(sys.argv[1], allow_pickle=True), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
codes, geoms, lon, lat, srid = data["codes"], data["geoms"], data["lon"], data["lat"], int(data["srid"])
import shapely
geoms = shapely.from_wkb(geoms)
n = len(codes)
grids = pd.DataFrame({
    "grid_code": codes, "grid_name": ["grid " + c for c in codes], "grid_type": "residential",
    "community_code": [c[:6] for c in codes], "community_name": ["community " + c[:6] for c in codes],
    "valid_from": pd.Timestamp("2026-01-01"), "valid_to": pd.NaT,
})
contacts = [(c, r, f"{r} {c}", "13800000000", True) for c in codes for r in ("head", "grid_worker")]
snap = build_snapshot(srid=srid, at=None, grids=grids, geoms=geoms, contact_rows=contacts,
                      department_rows=[], coverage_rows=[], category_rows=[])
schema = answer.batch_schema(snap)
index = snap.index
cpu, wall = time.process_time, time.perf_counter
ids = [pa.array(np.arange(s, min(s + chunk, lon.size)).astype(str)) for s in range(0, lon.size, chunk)]
pieces = [(s, lon[s:s + chunk], lat[s:s + chunk]) for s in range(0, lon.size, chunk)]

def stage_run():
    t = {}
    def tick(name, c):
        t[name] = t.get(name, 0.0) + cpu() - c
        return cpu()
    for k, (s, lo, la) in enumerate(pieces):
        c = cpu()
        x, y = to_srid(lo, la, "wgs84", srid)
        c = tick("projection", c)
        out = kern.lookup_points(x, y, *index._table_args())
        c = tick("cell lookup", c)
        border = np.flatnonzero(out <= -2)
        sub = -(out[border] + 2)
        shift = max(0, int(index._border_ptr.size - 1).bit_length() - 16)
        order = np.argsort((sub >> shift).astype(np.uint16), kind="stable")
        border, sub = border[order], sub[order]
        out[border] = kern.resolve_border(x[border], y[border], sub, *index._exact_args())
        c = tick("exact border tests", c)
        index.border_distance(x, y, out)
        c = tick("border distance", c)
        if hasattr(index, "locate_fill"):  # this branch: the three in one pass
            index.locate_fill(x, y, distance=True, near=20.0, dtype=np.int16)
            c = tick("one pass: lookup + border tests + distance", c)
    return t

def whole_run(keep=False):
    tables = []
    c, w = cpu(), wall()
    for k, (s, lo, la) in enumerate(pieces):
        tab = answer.locate_batch(snap, lo, la, ids=ids[k])
        if keep:
            tables.append(tab)
    c1, w1 = cpu(), wall()
    for tab in tables:
        tab.cast(schema)
    return c1 - c, w1 - w, cpu() - c1, tables

stage_run(); whole_run()  # compile, warm caches
best = None
for _ in range(reps):
    t = stage_run()
    best = t if best is None else {k: min(v, best[k]) for k, v in t.items()}
wc = ww = float("inf")
for _ in range(reps):
    c, w, _cast, _t = whole_run()
    wc, ww = min(wc, c), min(ww, w)
_c, _w, cast, tables = whole_run(keep=True)
best["locate_batch whole"] = wc
best["locate_batch whole (wall)"] = ww
# the service's path: each chunk located in a worker thread (one thread, no GIL)
import concurrent.futures as cf
with cf.ThreadPoolExecutor(1) as ex:
    tc = min(ex.submit(whole_run).result()[0] for _ in range(reps))
best["locate_batch whole, worker thread"] = tc
best["cast to the stream schema"] = cast
# the CSV answer of the located chunks, the body's coordinate text echoed (as served)
from gridgeo.locate import csvout
write_csv = getattr(csvout, "csv_buffer", csvout.csv_bytes)
cast_tables = [t.cast(schema) for t in tables]
texts = [{"lon": pc.cast(pa.array(lo), pa.large_string()), "lat": pc.cast(pa.array(la), pa.large_string())}
         for _s, lo, la in pieces]
csv_bytes = 0
def csv_run():
    global csv_bytes
    c = cpu()
    csv_bytes = sum(len(write_csv(t, header=k == 0, raw=texts[k])) for k, t in enumerate(cast_tables))
    return cpu() - c
csv_run()
best["write csv (csv_buffer)"] = min(csv_run() for _ in range(reps))
parts = ("projection", "cell lookup", "exact border tests", "border distance")
if "one pass: lookup + border tests + distance" in best:
    parts = ("projection", "one pass: lookup + border tests + distance")
best["columns (whole less the stages above)"] = wc - sum(best[k] for k in parts)
# the index alone: build time (best of 3, wall and CPU) and its arrays' bytes
from gridgeo.locate import GridIndex
bw = bc = float("inf")
for _ in range(3):
    c, w = cpu(), wall()
    built = GridIndex.build(codes, geoms)
    bc, bw = min(bc, cpu() - c), min(bw, wall() - w)
arrays = [built._table0, built._table1, built._border_ptr, built._border_idx, built._packed,
          *built._geo, *built._bands, *built._edges, *getattr(built, "_fields", ())[:1]]
dist_bytes = sum(a.nbytes for a in getattr(built, "_dist", ())[2:] if hasattr(a, "nbytes"))
info = {"csv bytes per row": csv_bytes / lon.size, "build wall s": bw, "build cpu s": bc, "index MB (arrays)": (sum(a.nbytes for a in arrays) + dist_bytes) / 1e6,
        "distance candidates MB": dist_bytes / 1e6}
if hasattr(built, "_dist"):
    st = built.stats()
    info["distance cells"] = st.get("distance_cells", 0)
    info["mean candidate edges"] = st.get("mean_distance_edges", 0.0)
if save:
    with open(save + ".csv", "wb") as f:
        for k, t in enumerate(cast_tables):
            f.write(write_csv(t, header=k == 0, raw=texts[k]))
    xa, ya = to_srid(lon, lat, "wgs84", srid)
    np.save(save + ".dist.npy", index.border_distance(xa, ya, index.locate(xa, ya)))
    import pyarrow.ipc as ipc
    tab = pa.concat_tables([t.cast(schema) for t in tables])
    with ipc.new_file(save, tab.schema) as f:
        f.write_table(tab)
print(json.dumps({"n": int(lon.size), "stages": best, "info": info}))
"""


def _district_points(kind: str, n: int, seed: int):
    """Codes, polygons and ``n`` lon/lat points (WGS 84) of one district for ``--kernels``."""
    import pyproj

    if kind == "benchmark":
        codes, geoms = jittered_tiling(71, 71, seed=seed)
    elif kind == "rings":
        # long rings: 900 grids whose borders have a vertex every 2.5 m (~520 edges each)
        codes, geoms = jittered_tiling(30, 30, seed=seed)
        geoms = shapely.segmentize(geoms, 2.5)
    else:
        from pathlib import Path

        import pyogrio

        path = Path(__file__).resolve().parents[1] / "data/raw/daan/taipei_daan_segis_2017.gpkg"
        df = pyogrio.read_dataframe(path, layer="basecode_min_stat_area", columns=["CODEBASE"])
        codes = df["CODEBASE"].astype(str).to_numpy(dtype=object)
        geoms = np.asarray(df.geometry.values, dtype=object)
    x, y = sample_points(
        codes, geoms, n, seed=seed + 1, share_on_vertices=0.01, share_on_edges=0.01, margin=0.02
    )
    inv = pyproj.Transformer.from_crs(CRS, 4326, always_xy=True)
    lon, lat = inv.transform(x, y)
    return codes, geoms, np.asarray(lon), np.asarray(lat)


def bench_kernels(
    n: int,
    chunk: int,
    reps: int,
    baseline: str | None,
    seed: int,
    threads: int | None,
    omp_wait: str | None,
    districts: tuple[str, ...] = ("benchmark", "daan"),
) -> None:
    """CPU per 1 M points per stage of ``locate_batch`` (no reading, writing or HTTP).

    Runs in a subprocess per version (this checkout, and ``baseline`` when given) on the
    same points, and checks that the two answers are equal (every column, to the bit,
    and the unrounded distances to the border of every point, to the bit). Also the
    index's build time and array bytes.
    """
    import json
    import tempfile
    from pathlib import Path

    import pyarrow.ipc as ipc

    root = Path(__file__).resolve().parents[1]
    runs = [("this", str(root))] + ([("baseline", baseline)] if baseline else [])
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp, "kernels.py")
        script.write_text(KERNEL_CODE)
        for kind in districts:
            # the points of a district, made once (sampling Da'an takes a minute)
            npz = Path(tempfile.gettempdir(), f"gridgeo_bench_kernels_{kind}_{n}_{seed}.npz")
            if not npz.is_file():
                codes, geoms, lon, lat = _district_points(kind, n, seed)
                np.savez(npz, codes=codes, geoms=shapely.to_wkb(geoms), lon=lon, lat=lat, srid=CRS)
            codes = np.load(npz, allow_pickle=True)["codes"]
            res = {}
            infos = {}
            for name, path in runs:
                env = dict(os.environ, PYTHONPATH=path)
                # importing gridgeo here set it: each version chooses its own (or --omp-wait)
                env.pop("OMP_WAIT_POLICY", None)
                if omp_wait:
                    env["OMP_WAIT_POLICY"] = omp_wait
                if threads:
                    env["NUMBA_NUM_THREADS"] = str(threads)
                save = str(Path(tmp, f"{kind}-{name}.arrow"))
                r = subprocess.run(
                    [sys.executable, str(script), str(npz), str(chunk), str(reps), save],
                    env=env, capture_output=True, text=True,
                )  # fmt: skip
                if r.returncode:
                    raise RuntimeError(f"{name} ({path}) failed:\n{r.stderr[-3000:]}")
                out = json.loads(r.stdout.strip().splitlines()[-1])
                res[name] = out["stages"]
                infos[name] = out.get("info", {})
            print(
                f"\n{kind} district ({len(codes):,} grids), {n:,} lon/lat points in chunks of "
                f"{chunk:,}: CPU seconds per 1 M points (best of {reps}), numba threads "
                f"{threads or 'default'}, OMP_WAIT_POLICY {omp_wait or 'each version its own'}; "
                f"{_machine()}"
            )
            print(f"{'stage':40s} " + " ".join(f"{nm:>10s}" for nm, _ in runs))
            for k in res["this"]:
                vals = " ".join(f"{res[nm].get(k, float('nan')) * 1e6 / n:10.3f}" for nm, _ in runs)
                print(f"{k:40s} {vals}")
            print("index (not per point):")
            for k in infos["this"]:
                vals = " ".join(f"{infos[nm].get(k, float('nan')):10.3f}" for nm, _ in runs)
                print(f"{k:40s} {vals}")
            if baseline:
                a = ipc.open_file(Path(tmp, f"{kind}-this.arrow")).read_all()
                b = ipc.open_file(Path(tmp, f"{kind}-baseline.arrow")).read_all()
                _compare(a, b)
                same = (
                    Path(tmp, f"{kind}-this.arrow.csv").read_bytes()
                    == Path(tmp, f"{kind}-baseline.arrow.csv").read_bytes()
                )
                print("CSV answers vs baseline: " + ("equal bytes" if same else "DIFFER"))
                da = np.load(Path(tmp, f"{kind}-this.arrow.dist.npy"))
                db = np.load(Path(tmp, f"{kind}-baseline.arrow.dist.npy"))
                print(
                    f"unrounded distances vs baseline: {da.size:,} points, "
                    + ("equal to the bit" if np.array_equal(da, db, equal_nan=True) else "DIFFER")
                )


def _compare(a, b) -> None:
    """Print whether two answer tables are equal (every column to the bit)."""
    import pyarrow as pa

    bad = []
    if a.schema != b.schema:
        bad.append("schema")
    for name in a.column_names:
        ca, cb = a[name].combine_chunks(), b[name].combine_chunks()
        if name == "distance_to_border_m":
            da = ca.to_numpy(zero_copy_only=False)
            db = cb.to_numpy(zero_copy_only=False)
            same = np.array_equal(da, db, equal_nan=True)
        else:
            if pa.types.is_dictionary(ca.type):
                ca, cb = ca.dictionary_decode(), cb.dictionary_decode()
            same = ca.equals(cb)
        if not same:
            bad.append(name)
    print(
        f"answers vs baseline: {a.num_rows:,} rows, "
        + ("every column equal" if not bad else f"DIFFER in {', '.join(bad)}")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--side", type=int, default=71, help="grids per side (71 → 5,041 grids)")
    ap.add_argument("--points", type=int, default=4_000_000)
    ap.add_argument(
        "--compare-points",
        type=int,
        default=None,
        help="points given to sjoin and PostGIS (default: all)",
    )
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument(
        "--batch-points",
        type=int,
        default=1_000_000,
        help="points in the end-to-end /locate/batch request",
    )
    ap.add_argument("--skip", default="", help="comma list of sjoin,postgis,real,http")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--kernels",
        action="store_true",
        help="only the CPU per stage of locate_batch (benchmark district and Da'an)",
    )
    ap.add_argument("--chunk", type=int, default=100_000, help="points per chunk (--kernels)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions, best kept (--kernels)")
    ap.add_argument("--baseline", default=None, help="checkout to compare with (--kernels)")
    ap.add_argument("--threads", type=int, default=None, help="NUMBA_NUM_THREADS (--kernels)")
    ap.add_argument(
        "--omp-wait", default=None, help="OMP_WAIT_POLICY for both versions (--kernels)"
    )
    ap.add_argument(
        "--districts",
        default="benchmark,daan",
        help="comma list of benchmark,daan,rings (--kernels; rings: 900 grids of ~520 edges)",
    )
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    if args.kernels:
        bench_kernels(
            args.points,
            args.chunk,
            args.reps,
            args.baseline,
            args.seed,
            args.threads,
            args.omp_wait,
            tuple(filter(None, args.districts.split(","))),
        )
        return

    print(f"machine: {_machine()}")
    codes, geoms = jittered_tiling(args.side, args.side, seed=args.seed)
    x, y = sample_points(
        codes,
        geoms,
        args.points,
        seed=args.seed + 1,
        share_on_vertices=0.01,
        share_on_edges=0.01,
        margin=0.02,
    )
    print(
        f"{len(codes):,} grids (jittered tiling with shared borders, EPSG:{CRS}), "
        f"{len(x):,} points (1% on vertices, 1% on edges, 2% margin outside)"
    )
    index, got, secs, dsecs = bench_gridgeo(codes, geoms, x, y)
    rows = [("gridgeo GridIndex.locate", len(x), secs)]
    print(f"  + distance to border for all points: {len(x) / dsecs / 1e6:.1f} M points/s")
    m = args.compare_points or len(x)
    mine = np.full(m, None, dtype=object)
    sub = got[:m]
    mine[sub >= 0] = index.codes[sub[sub >= 0]]
    if "sjoin" not in skip:
        s, codes_s = bench_sjoin(index, x[:m], y[:m])
        rows.append(("geopandas sjoin (intersects) + smallest code", m, s))
        print(f"  sjoin vs gridgeo: {int(np.sum(codes_s != mine))} of {m:,} points differ")
    if "postgis" not in skip:
        s, load, codes_p = bench_postgis(index, x[:m], y[:m])
        rows.append(("PostGIS ST_Covers join (gist, LIMIT 1)", m, s))
        print(
            f"  PostGIS vs gridgeo: {int(np.sum(codes_p != mine))} of {m:,} points differ "
            f"(loading the points took {load:.1f} s more)"
        )
    print()
    _table(rows)
    if "real" not in skip:
        bench_real(args.points, args.compare_points, skip, args.seed)
    if "http" not in skip:
        r = bench_http(args.side, args.rate, args.requests, args.seed, args.batch_points)
        print(
            f"\nGET /locate on 127.0.0.1, {r['requests']:,} requests at {r['rate']:.0f}/s "
            f"(achieved {r['achieved']:.0f}/s, {r['ok']:,} OK{'; ' + r['other'] if r['other'] else ''}"
            f"): p50 {r['p50']:.2f} ms, "
            f"p90 {r['p90']:.2f} ms, p99 {r['p99']:.2f} ms, max {r['max']:.1f} ms"
        )
        print(
            f"POST /locate/batch, {r['batch_points']:,} points as CSV in and out "
            f"({r['batch_mb']:.0f} MB, HTTP {r['batch_status']}): {r['batch_seconds']:.1f} s, "
            f"{r['batch_points'] / r['batch_seconds'] / 1e6:.2f} M points/s end to end"
        )


if __name__ == "__main__":
    main()
