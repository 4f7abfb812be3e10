"""Run every benchmark in this folder, one after another, and keep their output.

Usage: ``.venv/bin/python benchmarks/run_all.py [NAME ...]`` (``make bench`` runs all).
Each ``bench_*.py`` prints its own side-by-side table with ratios; this script adds
the machine and date and saves everything to ``benchmarks/out/<date>.txt`` so the
figures can be copied into ``docs/benchmarks.md``.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine() -> str:
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown CPU"
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB, Python {platform.python_version()}"


def main(names: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        scripts = [s for s in scripts if any(n in s.stem for n in names)]
    out_dir = HERE / "out"
    out_dir.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M")
    header = f"gridgeo benchmarks — {stamp} UTC — {machine()}"
    lines = [header, "=" * len(header)]
    print(header, flush=True)
    failed = 0
    for script in scripts:
        print(f"\n## {script.name}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, cwd=HERE.parent
        )
        took = time.perf_counter() - t0
        print(proc.stdout, end="")
        if proc.returncode != 0:
            failed += 1
            print(proc.stderr[-3000:], file=sys.stderr)
        lines += [f"\n## {script.name} ({took:.0f} s, exit {proc.returncode})", proc.stdout]
    (out_dir / f"{stamp}.txt").write_text("\n".join(lines))
    print(f"\nsaved to {out_dir / (stamp + '.txt')}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
