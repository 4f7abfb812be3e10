"""CLI start-up: ``gridgeo --help`` and ``gridgeo db status`` vs. ``python -c pass``.

Each command runs as a fresh process ``--runs`` times; the table gives the median wall
time and the median CPU time (user + system, which a busy machine inflates less), next
to the floor (``python -c pass``), the CLI framework alone (``import typer``) and the
old eager start-up (every command module imported before parsing). Goal (issue 12):
``--help`` and ``db status`` ≤ 0.3 s. With ``--before DIR`` the two commands also run from
another checkout (e.g. the main branch) in the same loop, for a side-by-side ratio.

Usage: ``.venv/bin/python benchmarks/bench_cli.py [--runs 15] [--before /path/to/checkout]``
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

EAGER = (
    "import gridgeo.cli.main, gridgeo.cli.inspect, gridgeo.cli.partition, gridgeo.cli.validate,"
    " gridgeo.cli.data, gridgeo.cli.registry, gridgeo.cli.serve, gridgeo.cli.locate,"
    " gridgeo.cli.db, gridgeo.cli.demo"
)
CASES = [
    ("python -c pass (floor)", ["-c", "pass"]),
    ("import typer (framework)", ["-c", "import typer"]),
    ("gridgeo --help", ["-m", "gridgeo.cli.main", "--help"]),
    ("gridgeo db status", ["-m", "gridgeo.cli.main", "db", "status"]),
    ("every command imported (before)", ["-c", EAGER]),
]


ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str], pythonpath: str | None = None) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ | {"COLUMNS": "100", "PYTHONPATH": pythonpath or str(ROOT)},
        cwd=pythonpath or ROOT,  # `python -m` imports from the working folder first
        check=False,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--before", help="another checkout to time the same commands from")
    args = parser.parse_args()
    cases: list[tuple[str, list[str], str | None]] = [(label, argv, None) for label, argv in CASES]
    if args.before:
        cases[4:4] = [
            (f"{label} (before: {args.before})", argv, args.before) for label, argv in CASES[2:4]
        ]
    for _label, argv, path in cases:  # warm the file cache
        _run(argv, path)
    rows = []
    for label, argv, path in cases:
        walls, cpus = zip(*(_run(argv, path) for _ in range(args.runs)), strict=True)
        rows.append((label, statistics.median(walls), statistics.median(cpus)))
    floor = rows[0][1]
    load = os.getloadavg()[0]
    print(f"CLI start-up, median of {args.runs} runs (load average {load:.1f})")
    width = max(34, *(len(label) for label, _, _ in rows))
    print(f"| {'command':{width}} | wall | CPU | wall above the floor |")
    print(f"|{'-' * (width + 2)}|------|-----|----------------------|")
    for label, wall, cpu in rows:
        print(f"| {label:{width}} | {wall:.2f} s | {cpu:.2f} s | {wall - floor:+.2f} s |")


if __name__ == "__main__":
    main()
