"""GeoParquet body reader, in process: ``PointFile.check()`` then ``chunks()`` of a body
like ``bench_service.py``'s (WKB points only, snappy, row groups of 500 k), CPU time of
the process (every thread) per rep; this version and ``--baseline`` (another checkout)
alternating, each rep in its own process.

With ``--upload S`` the body first arrives as the route receives it: 256 KiB parts over
S seconds, each given to the version's ``parquetin.PageScan`` when it has one (its pages
decoded meanwhile); the check's wall time then counts from the body's last part, its CPU
time includes the walk's.

    PYTHONPATH=. python benchmarks/bench_parquet_reader.py --points 5000000 --reps 4 \
        --baseline /work/wt/base10 [--upload 0.25] [--warm 3]

``--warm N``: N uncounted passes before the counted one in each process. One pass leaves
the C allocator of a fresh process, which maps fresh pages for the next pass's row groups;
a long-running server reuses the memory its last requests freed: the counted pass of a
fresh process can show page faults a server does not pay.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

CODE = r"""
import io, resource, sys, time
import numpy as np, pyarrow as pa, pyarrow.parquet as pq, pyproj
from gridgeo.locate.encode import _geo_metadata, wkb_points
from gridgeo.locate.points import PointFile

n = int(sys.argv[1])
rng = np.random.default_rng(0)
lon, lat = rng.uniform(121.4, 121.6, n), rng.uniform(24.9, 25.1, n)
table = pa.table({"geometry": wkb_points(lon, lat)}).replace_schema_metadata(
    {b"geo": _geo_metadata(pyproj.CRS.from_epsg(4326))}
)
out = io.BytesIO()
pq.write_table(table, out, row_group_size=500_000)
body = out.getvalue()


upload = float(sys.argv[2])
try:
    from gridgeo.locate.parquetin import PageScan
except ImportError:  # a version without it
    PageScan = None
view = memoryview(body)
parts = [bytes(view[a : a + (256 << 10)]) for a in range(0, len(body), 256 << 10)]


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# the first passes compile and fault in: not counted (more than one: the C allocator's
# state of a long-running server, which reuses the memory freed by the passes before)
for warm in [True] * int(sys.argv[3]) + [False]:
    pages, c0 = None, cpu()
    if upload:
        scan = PageScan() if PageScan is not None else None
        t0 = time.perf_counter()
        for i, part in enumerate(parts):
            if scan is not None:
                scan.feed(part)
            time.sleep(max(0.0, t0 + (i + 1) * upload / len(parts) - time.perf_counter()))
    w0 = time.perf_counter()  # the body is here
    if upload and scan is not None:
        pages = scan.finish()
    kw = {"pages": pages} if pages is not None else {}
    pf = PointFile(body, "parquet", chunk=100_000, source="body", degrees=True, **kw)
    assert pf.check() == n
    c1, w1 = cpu(), time.perf_counter()
    rows = sum(len(p) for _s, p in pf.chunks())
    c2 = cpu()
    assert rows == n
print(f"{c1 - c0:.3f} {w1 - w0:.3f} {c2 - c1:.3f}")
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=5_000_000)
    ap.add_argument("--reps", type=int, default=4)
    ap.add_argument(
        "--upload", type=float, default=0.0, help="seconds over which the body arrives (0: none)"
    )
    ap.add_argument(
        "--baseline", type=Path, default=None, help="a checkout of the previous version"
    )
    ap.add_argument(
        "--warm",
        type=int,
        default=1,
        help="passes before the counted one, in the same process (3: a server's steady state)",
    )
    args = ap.parse_args()
    here = Path(__file__).resolve().parent.parent
    # each run in the checkout's folder: ``python -c`` puts the working folder first on the path
    versions = {"this": here} | ({"previous": args.baseline.resolve()} if args.baseline else {})
    got: dict[str, list[tuple[float, float, float]]] = {k: [] for k in versions}
    for _rep in range(args.reps):
        for name, root in versions.items():
            env = dict(os.environ, PYTHONPATH=str(root))
            out = subprocess.run(
                [sys.executable, "-c", CODE, str(args.points), str(args.upload), str(args.warm)],
                env=env, cwd=root, capture_output=True, text=True, check=True,
            )  # fmt: skip
            got[name].append(tuple(float(v) for v in out.stdout.split()))  # type: ignore[arg-type]
    arriving = f", the body arriving over {args.upload} s" if args.upload else ""
    print(
        f"{args.points:,} points{arriving}, {args.warm} pass(es) before, CPU s (check wall s); "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    for name, runs in got.items():
        total = [c + k for c, _w, k in runs]
        print(
            f"{name:9} check {min(r[0] for r in runs):.3f} (wall {min(r[1] for r in runs):.3f}, "
            f"median {statistics.median(r[1] for r in runs):.3f})  "
            f"chunks {min(r[2] for r in runs):.3f}  total best {min(total):.3f} "
            f"median {statistics.median(total):.3f}  {[round(t, 3) for t in total]}"
        )


if __name__ == "__main__":
    main()
