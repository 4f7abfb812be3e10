"""GeoParquet answer writer, in process: this writer against pyarrow's, alternating.

The real answer of N random points over the bench snapshot (``bench_service.py``'s
database: 5,041 grids by default), cut into the service's chunks, written whole by each
writer in turn (``prepare`` + ``write`` of every chunk, then ``close``); CPU time of the
process (serial: one thread). Both files are read back and compared.

    PYTHONPATH=. GRIDGEO_HOME=$PWD/.gridgeo python benchmarks/bench_parquet_writer.py \
        --points 1000000 --reps 5

With ``--baseline DIR`` (another checkout) this writer is timed against that checkout's
instead of pyarrow's: each version in its own process, ``--alternate`` times in turn,
``--reps`` writes each, into reused buffers as the route does (``--pool`` implied); the
answers' bytes are compared.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
import subprocess
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
    ap.add_argument("--baseline", type=Path, default=None,
                    help="another checkout: its writer against this one, alternating")  # fmt: skip
    ap.add_argument("--alternate", type=int, default=3, help="with --baseline: turns per version")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one version's run
    args = ap.parse_args()
    if args.baseline is not None:
        return _versions(args)
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
    if args.json:
        return _one_version(schema, batches, geoms, args.reps)
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


def _one_version(schema: pa.Schema, batches: list, geoms: list, reps: int) -> int:
    """This checkout's writer, ``reps`` times into reused buffers: CPU and wall seconds,
    and the answer's size and SHA-1, as JSON."""
    _write(_ParquetEncoder, schema, batches, geoms, True)  # warm
    runs = [_write(_ParquetEncoder, schema, batches, geoms, True) for _ in range(reps)]
    enc = _ParquetEncoder(schema)
    data = b"".join(
        bytes(enc.write(enc.prepare(b, g))) for b, g in zip(batches, geoms, strict=True)
    )
    data += enc.close()
    print(json.dumps({"cpu": [r[0] for r in runs], "wall": [r[1] for r in runs],
                      "size": len(data), "sha1": hashlib.sha1(data).hexdigest()}))  # fmt: skip
    return 0


def _versions(args: argparse.Namespace) -> int:
    """This checkout's writer against ``--baseline``'s, each run in its own process."""
    here = Path(__file__).resolve().parent.parent
    versions = {"this": here, "previous": args.baseline.resolve()}
    got: dict[str, dict] = {k: {"cpu": [], "wall": [], "answers": set()} for k in versions}
    loads = [os.getloadavg()[0]]
    for _turn in range(args.alternate):
        for name, root in versions.items():
            cmd = [sys.executable, __file__, "--json", "--points", str(args.points),
                   "--chunk", str(args.chunk), "--reps", str(args.reps), "--side",
                   str(args.side), "--seed", str(args.seed), "--geometry", args.geometry]  # fmt: skip
            if args.category:
                cmd += ["--category", args.category]
            env = dict(os.environ, PYTHONPATH=str(root))
            out = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, check=True)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            got[name]["cpu"] += res["cpu"]
            got[name]["wall"] += res["wall"]
            got[name]["answers"].add((res["size"], res["sha1"]))
            loads.append(os.getloadavg()[0])
    print(f"{args.points:,} points, writer CPU s (reused buffers), {args.alternate} turns x "
          f"{args.reps} reps; load average {min(loads):.2f}-{max(loads):.2f}")  # fmt: skip
    for name, g in got.items():
        print(
            f"{name:9s} CPU best {min(g['cpu']):.3f} / median {statistics.median(g['cpu']):.3f}"
            f"  wall best {min(g['wall']):.3f} / median {statistics.median(g['wall']):.3f}"
            f"  answer {sorted(g['answers'])}"
        )
    same = got["this"]["answers"] == got["previous"]["answers"] and len(got["this"]["answers"]) == 1
    print("answers byte for byte the same:", same)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
