"""Import 100k incidents — located, routed, stored — vs the same rows through a PostGIS join.

Run: ``.venv/bin/python benchmarks/bench_incidents.py`` (needs the private PostGIS:
``gridgeo db up``). Options: ``--rows 100000``, ``--side 30`` (30² grids), ``--seed 1``.

``--csv-mib 2048``: instead, the big-file run — a generated CSV of about that size
(written in blocks, ~90 bytes a row, 0.1 % bad rows) imported in chunks; prints rows,
time, CPU time and the peak RSS growth of the import (bounded memory: it must not grow
with the file). Check ``df -h /tmp`` first: the CSV and the database need ~3× its size.

gridgeo: ``gridgeo.incidents.ingest.import_file`` on a CSV with Chinese headers (checked,
located and routed through the shared locate answer in chunks, stored with the event
log in one transaction). PostGIS: the same CSV copied into a table, then one
``ST_Covers`` join with the grids and the coverage table writing a result table.
Dispatch agreement: the department of every row, gridgeo vs the join (must be 100 %).
The benchmark database ``gridgeo_bench_incidents`` is dropped and rebuilt each run.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg
import pyproj

CATEGORIES = [f"cat{i:02d}" for i in range(8)]


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB, "
        f"load average {os.getloadavg()[0]:.1f}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def fresh_database(name: str) -> str:
    from psycopg import sql

    from gridgeo.database import PrivateInstance, apply_migrations
    from gridgeo.database.connect import with_database
    from gridgeo.settings import get_settings

    server = PrivateInstance(get_settings()).url(dbname="postgres")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(server, name)
    apply_migrations(url)
    return url


def seed(url: str, side: int, rng: np.random.Generator) -> None:
    """Grids, the matter list and coverage: two departments per category, split by grid."""
    from gridgeo.testing import seed_registry

    seed_registry(url, side, side, seed=int(rng.integers(1 << 30)))
    with psycopg.connect(url) as conn:
        codes = [
            r[0]
            for r in conn.execute("SELECT grid_code FROM registry.current_grid ORDER BY grid_code")
        ]
        rows = []
        for i, cat in enumerate(CATEGORIES):
            conn.execute(
                "INSERT INTO service.category (code, name, is_sample) VALUES (%s, %s, true)",
                (cat, f"类别{i}"),
            )
            a, b = (
                conn.execute(
                    "INSERT INTO registry.department (name, is_sample) VALUES (%s, true) RETURNING department_id",
                    (f"部门{i}{k}",),
                ).fetchone()[0]
                for k in "AB"
            )
            for j, code in enumerate(codes):
                if j % 7 == 6 and i == 0:
                    continue  # no department: queued
                rows.append((a if (j + i) % 3 else b, cat, code, True))
                if j % 5 == 0:
                    rows.append((b if (j + i) % 3 else a, cat, code, False))  # a co-department
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO registry.department_coverage (department_id, category, grid_code, lead, "
                "valid_from) VALUES (%s, %s, %s, %s, '2000-01-01')",
                rows,
            )


def write_reports(url: str, path: Path, n: int, rng: np.random.Generator) -> None:
    with psycopg.connect(url) as conn:
        xmin, ymin, xmax, ymax = conn.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e "
            "FROM registry.current_grid) s"
        ).fetchone()
    x = rng.uniform(xmin, xmax + (xmax - xmin) * 0.03, n)  # ~3 % east of every grid
    y = rng.uniform(ymin, ymax, n)
    lon, lat = pyproj.Transformer.from_crs(3826, 4326, always_xy=True).transform(x, y)
    cats = rng.choice([*CATEGORIES, "unknown"], n, p=[0.124] * 8 + [0.008])
    base = np.datetime64("2025-09-01T00:00")
    when = base + rng.integers(0, 80 * 24 * 60, n).astype("timedelta64[m]")
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["编号", "经度", "纬度", "事项类别", "上报时间", "问题描述"])
        for i in range(n):
            w.writerow(
                [
                    f"B{i:07d}",
                    f"{lon[i]:.7f}",
                    f"{lat[i]:.7f}",
                    cats[i],
                    str(when[i]).replace("T", " "),
                    "基准测试",
                ]
            )


def bench_gridgeo(url: str, path: Path) -> tuple[float, float, int]:
    from gridgeo.incidents.catalog import SnapshotCatalog
    from gridgeo.incidents.ingest import import_file
    from gridgeo.incidents.routing import load_snapshot

    # modules are imported above; the snapshot (index build) is timed apart from the import
    t0 = time.perf_counter()
    with psycopg.connect(url) as conn:
        snap = load_snapshot(conn)
        t1 = time.perf_counter()
        c0, b0 = time.process_time(), backend_cpu(conn)
        rep = import_file(conn, path, snap, SnapshotCatalog(snap.categories), chunk_rows=50_000)
        c1, b1 = time.process_time(), backend_cpu(conn)
    t2 = time.perf_counter()
    assert rep.bad == 0, rep.problems[:5]
    print(
        f"gridgeo: snapshot {t1 - t0:.2f} s; import {t2 - t1:.2f} s: {rep.stored:,} stored, {rep.queued:,} queued; "
        f"CPU: Python {c1 - c0:.1f} s + database backend {b1 - b0:.1f} s"
    )
    return t1 - t0, t2 - t1, rep.stored


def backend_cpu(conn: psycopg.Connection) -> float:
    """CPU seconds the connection's server process has used (Linux, server on this host)."""
    try:
        with open(f"/proc/{conn.info.backend_pid}/stat") as fh:
            f = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def bench_postgis(url: str, path: Path) -> float:
    t0 = time.perf_counter()
    with psycopg.connect(url) as conn:
        b0 = backend_cpu(conn)
        conn.execute(
            "CREATE TABLE bench_pts (ext text, lon float8, lat float8, category text, reported text, descr text)"
        )
        with (
            open(path, "rb") as fh,
            conn.cursor().copy("COPY bench_pts FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
        ):
            while block := fh.read(1 << 20):
                copy.write(block)
        conn.execute(
            """
            CREATE TABLE bench_join AS
            SELECT p.ext, p.category, p.reported::timestamptz AS reported_at, g.grid_code,
                   (SELECT dc.department_id FROM registry.department_coverage dc
                     WHERE dc.grid_code = g.grid_code AND dc.category = p.category AND dc.lead
                       AND dc.valid_to IS NULL ORDER BY dc.department_id LIMIT 1) AS department_id
              FROM (SELECT *, ST_Transform(ST_SetSRID(ST_MakePoint(lon, lat), 4326), registry.srid()) AS pt
                      FROM bench_pts) p
              LEFT JOIN LATERAL (
                    SELECT grid_code FROM registry.current_grid g WHERE ST_Covers(g.geom, p.pt)
                     ORDER BY grid_code COLLATE "C" LIMIT 1) g ON true
            """
        )
        conn.commit()
        print(f"PostGIS join: database backend CPU {backend_cpu(conn) - b0:.1f} s")
    return time.perf_counter() - t0


def agreement(url: str) -> tuple[int, int, int]:
    with psycopg.connect(url) as conn:
        total, same_grid, same_dep = conn.execute(
            """
            SELECT count(*),
                   count(*) FILTER (WHERE c.grid_code IS NOT DISTINCT FROM j.grid_code),
                   count(*) FILTER (WHERE c.routed_department IS NOT DISTINCT FROM j.department_id)
              FROM incidents.case c JOIN bench_join j ON j.ext = c.external_id
            """
        ).fetchone()
    return total, same_grid, same_dep


def write_big(url: str, path: Path, mib: int, rng: np.random.Generator) -> int:
    """A CSV of about ``mib`` MiB of reports, written in blocks of 100,000 rows."""
    with psycopg.connect(url) as conn:
        xmin, ymin, xmax, ymax = conn.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e "
            "FROM registry.current_grid) s"
        ).fetchone()
    to_wgs = pyproj.Transformer.from_crs(3826, 4326, always_xy=True)
    rows, block = 0, 100_000
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("编号,经度,纬度,事项类别,上报时间,问题描述\n")
        while fh.tell() < mib * 2**20:
            lon, lat = to_wgs.transform(
                rng.uniform(xmin, xmax, block), rng.uniform(ymin, ymax, block)
            )
            cats = rng.choice(CATEGORIES, block)
            lines = [
                f"G{rows + i:09d},{'' if (rows + i) % 1000 == 999 else f'{lon[i]:.7f}'},"
                f"{lat[i]:.7f},{cats[i]},2025-10-09 09:00,基准测试大文件\n"
                for i in range(block)
            ]
            fh.write("".join(lines))
            rows += block
    return rows


def bench_big(url: str, mib: int, chunk_rows: int, rng: np.random.Generator) -> None:
    import resource

    from gridgeo.incidents.catalog import SnapshotCatalog
    from gridgeo.incidents.ingest import import_file
    from gridgeo.incidents.routing import load_snapshot

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        rows = write_big(url, path, mib, rng)
        size = path.stat().st_size
        print(f"{rows:,} reports, {size / 2**20:,.0f} MiB CSV")
        with psycopg.connect(url) as conn:
            snap = load_snapshot(conn)
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            t0, c0 = time.perf_counter(), time.process_time()
            rep = import_file(
                conn, path, snap, SnapshotCatalog(snap.categories), chunk_rows=chunk_rows
            )
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(
        f"| {size / 2**20:,.0f} MiB, {rows:,} rows | {wall:.0f} s (Python CPU {cpu:.0f} s) | "
        f"stored {rep.stored:,}, bad {rep.bad:,} | peak RSS +{grew:.0f} MiB | "
        f"load average {os.getloadavg()[0]:.1f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--side", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--csv-mib", type=int, default=0, help="big-file run of about this size")
    ap.add_argument("--chunk-rows", type=int, default=50_000)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    print(machine())
    url = fresh_database("gridgeo_bench_incidents")
    t = time.perf_counter()
    seed(url, args.side, rng)
    print(
        f"seeded {args.side**2:,} grids, {len(CATEGORIES)} categories in {time.perf_counter() - t:.1f} s"
    )
    if args.csv_mib:
        bench_big(url, args.csv_mib, args.chunk_rows, rng)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reports.csv"
        write_reports(url, path, args.rows, rng)
        print(f"{args.rows:,} reports, {path.stat().st_size / 2**20:.1f} MiB CSV")
        snap_s, gg, _stored = bench_gridgeo(url, path)
        pg = bench_postgis(url, path)
    total, same_grid, same_dep = agreement(url)
    print(f"PostGIS ST_Covers join (copy + join + write): {pg:.2f} s")
    print(
        f"| {args.rows:,} incidents | gridgeo import {gg:.1f} s (+ snapshot {snap_s:.1f} s) | PostGIS join {pg:.1f} s | {pg / gg:.1f}× |"
    )
    print(
        f"agreement on {total:,} rows: grid {same_grid / total:.2%}, department {same_dep / total:.2%}"
    )


if __name__ == "__main__":
    main()
