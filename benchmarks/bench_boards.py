"""Noticeboards for a whole county: every community's PDF board plus the combined one.

Goal (issue 17): boards for a county of ≥ 50 communities in ≤ 60 s on 2 cores. Runs on
the registry the demo leaves (``gridgeo demo run``: Da'an, 53 communities, with sample
staff and a sample supervision phone; set up here first when the county is empty),
reading it as any user would (``make_boards``), with 1 and with 2 worker processes.
Also reports the label placement: labels placed inside their grid, outside with a
leader line, and overlapping pairs (must be 0).

Usage: ``.venv/bin/python benchmarks/bench_boards.py [--county 63000030] [--size A3]``
(``GRIDGEO_DATABASE_URL`` or the private instance of ``GRIDGEO_HOME``).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from gridgeo.database.lifecycle import ensure_ready
from gridgeo.demo.pipeline import DEMO, run_demo
from gridgeo.maps.boards import make_boards, overlaps
from gridgeo.registry.posting import communities
from gridgeo.settings import get_settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--county", default="63000030")
    ap.add_argument("--size", default="A3")
    ap.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    args = ap.parse_args()
    settings = get_settings()
    url = ensure_ready(settings).url
    codes = list(communities(url, args.county)["code"])
    if not codes and args.county == DEMO["daan"]["county"]:
        # a fresh instance (``make bench`` on a new machine): the demo's registry first
        t0 = time.perf_counter()
        run_demo(settings, district="daan")
        codes = list(communities(url, args.county)["code"])
        print(f"set up the demo's registry (Da'an) in {time.perf_counter() - t0:.0f} s")
    if not codes:
        raise SystemExit(f"county {args.county} holds no community in the registry")
    print(
        f"machine: {os.cpu_count()} cores, {platform.python_version()}, load "
        f"{os.getloadavg()[0]:.1f}; county {args.county}: {len(codes)} communities"
    )
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            made = make_boards(
                url,
                codes,
                Path(tmp),
                base_url=settings.public_base_url,
                size=args.size,
                combined_name="boards_county.pdf",
                workers=workers,
            )
            seconds = time.perf_counter() - t0
            labels = [lb for b in made.boards for lb in b.labels]
            bad = sum(len(overlaps(b.labels)) for b in made.boards)
            pages = sum(b.pages for b in made.boards)
            size_mb = sum(p.stat().st_size for p in Path(tmp).glob("*.pdf")) / 1e6
        inside = sum(lb.inside for lb in labels)
        print(
            f"workers={workers}: {len(made.boards)} boards, {pages} pages, {args.size}, "
            f"{seconds:.1f} s ({seconds / len(made.boards):.2f} s/board), {size_mb:.1f} MB; "
            f"labels {len(labels)}: {inside} inside, {len(labels) - inside} outside with a "
            f"leader, {bad} overlapping pairs; goal ≤ 60 s: {'met' if seconds <= 60 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
