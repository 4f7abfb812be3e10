"""GeoParquet answer writer, in process: this writer against pyarrow's, alternating.

The real answer of N random points over the bench snapshot (``bench_service.py``'s
database: 5,041 grids by default), cut into the service's chunks, written whole by each
writer in turn (``prepare`` + ``write`` of every chunk, then ``close``); CPU time of the
process (serial: one thread). Both files are read back and compared.

    PYTHONPATH=. GRIDGEO_HOME=$PWD/.gridgeo python benchmarks/bench_parquet_writer.py \
        --points 1000000 --reps 5
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from bench_service import _bounds, _database, _points

from gridgeo.locate import answer
from gridgeo.locate.csvout import BufferPool
from gridgeo.locate.encode import _ParquetEncoder, _PyarrowParquetEncoder
from gridgeo.registry.snapshot import load_snapshot


def _write(
    cls, schema: pa.Schema, batches: list, geoms: list, pool: bool = False
) -> tuple[float, float, int]:
    c, w = time.process_time(), time.perf_counter()
    enc = cls(schema)
    # pool: the row groups joined into reused buffers, as the batch route does (this
    # writer; pyarrow's ignores it)
    buffers = BufferPool(6) if pool else None
    size = sum(
        len(enc.write(enc.prepare(b, g, pool=buffers))) for b, g in zip(batches, geoms, strict=True)
    )
    size += len(enc.close())
    return time.process_time() - c, time.perf_counter() - w, size


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--side", type=int, default=71)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--geometry", choices=("built", "given"), default="given",
                    help="given: the request's WKB points (GeoParquet in and out)")  # fmt: skip
    ap.add_argument("--pool", action="store_true",
                    help="this writer joins row groups into reused buffers, as the service")  # fmt: skip
    ap.add_argument("--category", default=None,
                    help="one category for every point (default none, as bench_service.py)")  # fmt: skip
    args = ap.parse_args()
    url = _database(args.side, args.seed)
    lon, lat = _points(_bounds(url), args.points, args.seed)
    with psycopg.connect(url) as conn:
        snap = load_snapshot(conn)
    schema = answer.batch_schema(snap)
    batches, geoms = [], []
    from gridgeo.locate.encode import wkb_points

    for at in range(0, args.points, args.chunk):
        x, y = lon[at : at + args.chunk], lat[at : at + args.chunk]
        table = answer.locate_batch(snap, x, y, category=args.category).cast(schema)
        batches += table.to_batches()
        geoms.append(wkb_points(x, y) if args.geometry == "given" else None)
    print(f"load average {os.getloadavg()}, {args.points:,} points, {len(batches)} chunks")
    got: dict[str, list[tuple[float, float, int]]] = {"this": [], "pyarrow": []}
    for cls in (_ParquetEncoder, _PyarrowParquetEncoder):  # warm (compiled code, caches)
        _write(cls, schema, batches, geoms)
    for _ in range(args.reps):
        got["this"].append(_write(_ParquetEncoder, schema, batches, geoms, args.pool))
        got["pyarrow"].append(_write(_PyarrowParquetEncoder, schema, batches, geoms))
    for name, runs in got.items():
        cpu = sorted(r[0] for r in runs)
        wall = sorted(r[1] for r in runs)
        print(
            f"{name:8s} CPU best {cpu[0]:.3f} s / median {statistics.median(cpu):.3f} s, "
            f"wall best {wall[0]:.3f} s, {runs[0][2] / 1e6:.1f} MB"
        )
    ratio = statistics.median(r[0] for r in got["pyarrow"]) / statistics.median(
        r[0] for r in got["this"]
    )
    print(f"CPU ratio pyarrow / this (medians): {ratio:.2f}x; load average {os.getloadavg()}")
    outs = []
    for cls in (_ParquetEncoder, _PyarrowParquetEncoder):
        enc = cls(schema)
        data = b"".join(enc.write(enc.prepare(b, g)) for b, g in zip(batches, geoms, strict=True))
        outs.append(pq.read_table(io.BytesIO(data + enc.close())))
    same = all(outs[0].column(c).equals(outs[1].column(c)) for c in outs[0].column_names) and outs[
        0
    ].schema.equals(outs[1].schema, check_metadata=True)
    print("read back equal:", same)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
