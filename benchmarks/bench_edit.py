"""Benchmark an edit's round trip on a county-sized registry (issue 19).

Run: ``.venv/bin/python benchmarks/bench_edit.py [--nx 60 --ny 50] [--repeat 5]``

A generated district of ``nx × ny`` grids (300 m, jittered borders; communities of
4 × 3 grids, so 250 communities for the default 3,000 grids) is loaded and accepted in
a scratch database, with a road every 100 m (``registry.road``) and a household every
15 m (``restricted.household``). For one community, timed separately:

1. open — :func:`gridgeo.registry.edits.community_plan`: grids, roads and households
   from the registry, cut into blocks;
2. edit — one block moved to a neighbouring grid, then counts and the validator's
   findings for the touched grids (:func:`gridgeo.edit.review`), pure Python;
   compared with running the whole validator (:func:`gridgeo.validate.validate`) on the
   community after each edit;
3. draft — :func:`gridgeo.registry.edits.draft_plan` (codes, households recounted from
   the county's layer, one transaction);
4. findings — :func:`gridgeo.registry.validate_changeset` on the draft (database checks
   and the bound profile's validator on the affected community).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_registry import create_db, drop_db, server_url
from run_all import machine

from gridgeo.edit import review
from gridgeo.registry import Principal, validate_changeset
from gridgeo.registry.edits import community_plan, draft_plan, load_roads
from gridgeo.registry.households import load_households
from gridgeo.testing import seed_registry
from gridgeo.validate import validate

COUNTY = "110101"
ADMIN = Principal("bench-admin", "admin")
EDITOR = Principal("bench-editor", "county_editor", COUNTY)


def roads_and_households(communities: gpd.GeoDataFrame, step_road: float, step_hh: float):
    x0, y0, x1, y1 = communities.total_bounds
    lines = [shapely.LineString([(x, y0 - 50), (x, y1 + 50)]) for x in np.arange(x0, x1, step_road)]
    lines += [
        shapely.LineString([(x0 - 50, y), (x1 + 50, y)]) for y in np.arange(y0, y1, step_road)
    ]
    roads = gpd.GeoDataFrame(geometry=lines, crs=communities.crs)
    xs, ys = np.meshgrid(np.arange(x0 + 3, x1, step_hh), np.arange(y0 + 3, y1, step_hh))
    pts = shapely.points(xs.ravel(), ys.ravel())
    area = shapely.union_all(communities.geometry.values)
    shapely.prepare(area)
    pts = pts[shapely.contains(area, pts)]
    hh = gpd.GeoDataFrame(
        {"households": np.ones(len(pts), dtype=int)}, geometry=list(pts), crs=communities.crs
    )
    return roads, hh


def a_move(plan):
    for a, b in plan.blocks.graph.edges.tolist():
        src, dst = str(plan.owner[a]), str(plan.owner[b])
        if src != dst and len(plan.members(src)) > 1:
            return a, dst
    raise SystemExit("no movable block")


def med(values: list[float]) -> float:
    return statistics.median(values) * 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nx", type=int, default=60)
    ap.add_argument("--ny", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    server = server_url()
    name = "gridgeo_bench_edit"
    url = create_db(server, name)
    try:
        t0 = time.perf_counter()
        communities, grids, _ = seed_registry(url, args.nx, args.ny, county=COUNTY)
        roads, hh = roads_and_households(communities, 100.0, 15.0)
        load_roads(url, roads, county=COUNTY, actor=ADMIN)
        load_households(url, hh, county=COUNTY, actor=ADMIN, source="bench")
        print(
            f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {machine()}\n"
            f"registry: {len(grids):,} grids in {len(communities)} communities, "
            f"{len(roads):,} roads, {len(hh):,} household points (set up in "
            f"{time.perf_counter() - t0:.0f} s)"
        )
        code = str(communities["code"].iloc[len(communities) // 2])
        opens, edits, fulls, drafts, finds = [], [], [], [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            session = community_plan(url, code)
            opens.append(time.perf_counter() - t)
        plan = session.plan
        blk, dst = a_move(plan)
        review(plan, session.outline, profile=session.profile, crs=session.crs)  # warm
        comm = communities[communities["code"] == code].to_crs(session.crs)
        for _ in range(args.repeat):
            t = time.perf_counter()
            moved = plan.move([blk], dst)
            r = review(moved, session.outline, profile=session.profile, crs=session.crs)
            edits.append(time.perf_counter() - t)
            t = time.perf_counter()
            from gridgeo.registry.edits import plan_frame

            layer = plan_frame(moved, session.crs).assign(
                grid_code=[g.code or k for k, g in moved.grids.items()]
            )
            pts = gpd.GeoDataFrame(
                {"households": moved.blocks.households},
                geometry=list(moved.blocks.points),
                crs=session.crs,
            )
            validate(layer, comm, pts, profile=session.profile)
            fulls.append(time.perf_counter() - t)
        for _ in range(args.repeat):
            t = time.perf_counter()
            res = draft_plan(url, session, moved, actor=EDITOR, title="bench move")
            drafts.append(time.perf_counter() - t)
            t = time.perf_counter()
            problems = validate_changeset(url, res.changeset_id)
            finds.append(time.perf_counter() - t)
        print(
            f"community {code}: {len(plan.grids)} grids, {plan.blocks.n} blocks; the move "
            f"touches {sorted(r.households)} → households {r.households}, {len(r.findings)} findings; "
            f"draft {res.actions}, {len(problems)} findings at validation"
        )
        print(f"| step | median of {args.repeat} | alternative |")
        print("|---|---|---|")
        print(f"| open (registry → blocks) | {med(opens):.0f} ms | — |")
        print(
            f"| edit → counts + findings (touched grids) | {med(edits):.1f} ms | whole validator on the community {med(fulls):.0f} ms ({med(fulls) / med(edits):.1f}×) |"
        )
        print(f"| draft change set (codes, recount) | {med(drafts):.0f} ms | — |")
        print(f"| validate the draft (DB checks + profile) | {med(finds):.0f} ms | — |")
        total = med(opens) + med(edits) + med(drafts) + med(finds)
        print(f"| round trip open → edit → draft → findings | {total:.0f} ms | — |")
    finally:
        drop_db(server, name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
