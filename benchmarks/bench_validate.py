"""Validating 5,000 grids with 300,000 household points (target: < 10 s), and the
household recount compared with what a user would write: geopandas ``sjoin`` + ``groupby``.

District: 200 square communities of 1.2 km (20 × 10), each cut into 25 irregular
grids (Voronoi cells of seeded points, clipped to the community; 10–30 vertices
each), 300,000 household points (buildings of 1–13 households) clustered around 1,500
centres, and a street
grid every 240 m as roads. Everything in CGCS2000 / 3° GK CM 114E (EPSG:4547).

Usage: ``.venv/bin/python benchmarks/bench_validate.py [--seed N]``
"""

from __future__ import annotations

import argparse
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgeo.validate import GridSet, validate

CRS = "EPSG:4547"
SIDE = 1200.0
NX, NY = 20, 10
PER_COMMUNITY = 25
N_POINTS = 300_000
REPEAT = 5


def district(seed: int):
    rng = np.random.default_rng(seed)
    x0, y0 = 480_000.0, 2_990_000.0
    comms, grids, codes, gcodes, ccodes = [], [], [], [], []
    for i in range(NX):
        for j in range(NY):
            c = shapely.box(x0 + i * SIDE, y0 + j * SIDE, x0 + (i + 1) * SIDE, y0 + (j + 1) * SIDE)
            code = f"431102{i + 1:03d}{j + 1:03d}"
            comms.append(c)
            codes.append(code)
            seeds = shapely.multipoints(
                rng.uniform(
                    (c.bounds[0], c.bounds[1]), (c.bounds[2], c.bounds[3]), (PER_COMMUNITY, 2)
                )
            )
            cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=c))
            cells = shapely.intersection(cells, c)
            for k, cell in enumerate(cells):
                grids.append(cell)
                gcodes.append(f"{code}{k + 1:03d}")
                ccodes.append(code)
    communities = gpd.GeoDataFrame({"code": codes}, geometry=comms, crs=CRS)
    grid_gdf = gpd.GeoDataFrame(
        {"grid_code": gcodes, "community_code": ccodes, "grid_type": "urban"},
        geometry=shapely.segmentize(np.array(grids, dtype=object), 80.0),
        crs=CRS,
    )
    xmin, ymin = x0, y0
    xmax, ymax = x0 + NX * SIDE, y0 + NY * SIDE
    centres = rng.uniform((xmin, ymin), (xmax, ymax), (1500, 2))
    which = rng.integers(0, len(centres), N_POINTS)
    xy = centres[which] + rng.normal(0, 120, (N_POINTS, 2))
    xy = np.clip(xy, (xmin + 0.5, ymin + 0.5), (xmax - 0.5, ymax - 0.5))
    # a point is a building: 1–13 households (mean 7), about 420 per grid
    weights = rng.integers(1, 14, N_POINTS)
    households = gpd.GeoDataFrame({"households": weights}, geometry=shapely.points(xy), crs=CRS)
    streets = [
        shapely.LineString([(x, ymin), (x, ymax)]) for x in np.arange(xmin, xmax + 1, 240.0)
    ] + [shapely.LineString([(xmin, y), (xmax, y)]) for y in np.arange(ymin, ymax + 1, 240.0)]
    roads = gpd.GeoDataFrame(geometry=streets, crs=CRS)
    return grid_gdf, communities, households, roads


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    grids, communities, households, roads = district(args.seed)
    print(
        f"district: {len(grids):,} grids in {len(communities)} communities, "
        f"{len(households):,} household points, {len(roads)} street lines "
        f"(mean {shapely.get_num_coordinates(grids.geometry.values).mean():.0f} vertices/grid)"
    )

    # household recount: gridgeo vs sjoin + groupby ------------------------------------
    gs = GridSet.prepare(grids, communities, households, profile="yongzhou")

    # Fresh inputs for every run: geopandas caches a frame's spatial index, and a
    # user's one sjoin call pays for building it, as GridSet pays for its tree.
    # Runs alternate (ours, sjoin, ours, …) so that load from other processes on a
    # shared machine hits both alike; the best of REPEAT is reported.
    fresh_sets = iter(
        [GridSet(gs.grids, gs.communities, gs.households, None, gs.profile) for _ in range(REPEAT)]
    )
    fresh_frames = iter([(households.copy(), grids[["geometry"]].copy()) for _ in range(REPEAT)])

    def ours():
        return next(fresh_sets).grid_households

    def sjoin():
        points, polygons = next(fresh_frames)
        joined = gpd.sjoin(points, polygons, how="inner", predicate="within")
        per_grid = joined.groupby("index_right")["households"].sum()
        return per_grid.reindex(range(len(grids)), fill_value=0)

    t_ours = t_sjoin = float("inf")
    for _ in range(REPEAT):
        t, counts = best_of(ours, 1)
        t_ours = min(t_ours, t)
        t, counts_sj = best_of(sjoin, 1)
        t_sjoin = min(t_sjoin, t)
    same = np.array_equal(np.asarray(counts, dtype=int), counts_sj.to_numpy(dtype=int))
    print()
    print(f"{'household recount':<38}{'seconds':>10}{'ratio':>8}")
    print(f"{'gridgeo (points in STRtree, prepared grids)':<38}{t_ours:>10.3f}{1.0:>8.2f}")
    print(f"{'geopandas sjoin(within) + groupby':<38}{t_sjoin:>10.3f}{t_sjoin / t_ours:>8.2f}")
    print(f"same counts per grid: {same}")

    # full validation ------------------------------------------------------------------
    t0 = time.perf_counter()
    report = validate(grids, communities, households, profile="yongzhou")
    t_full = time.perf_counter() - t0
    t0 = time.perf_counter()
    report_roads = validate(grids, communities, households, roads, profile="yongzhou")
    t_roads = time.perf_counter() - t0

    # per-check times on one grid set (derived values computed inside the first check
    # that needs them are charged to it)
    from gridgeo.validate.checks import CHECKS

    gs = GridSet.prepare(grids, communities, households, roads, profile="yongzhou")
    per_check = {}
    for name, fn in CHECKS.items():
        t0 = time.perf_counter()
        fn(gs)
        per_check[name] = time.perf_counter() - t0

    print()
    print(f"{'full validate()':<38}{'seconds':>10}  result")
    print(
        f"{'without roads':<38}{t_full:>10.2f}  {report.errors} errors, {report.warnings} warnings, "
        f"in-band share {report.in_band_share:.3f}"
    )
    print(
        f"{'with roads':<38}{t_roads:>10.2f}  road border share "
        f"{report_roads.summary['road_border']['share']:.3f}"
    )
    print(f"target < 10 s: {'met' if max(t_full, t_roads) < 10 else 'NOT met'}")
    print()
    print("per check (with roads):")
    for name, sec in sorted(per_check.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<34}{sec:>8.3f}")
    import tempfile
    from pathlib import Path

    print()
    print(f"{'writing the report':<38}{'seconds':>10}{'MB':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("report.json", "report.gpkg", "report.html"):
            path = Path(tmp) / name
            t0 = time.perf_counter()
            report_roads.write(path)
            took = time.perf_counter() - t0
            note = " (maps for the first 200 problems)" if name.endswith("html") else ""
            print(f"{name + note:<38}{took:>10.2f}{path.stat().st_size / 2**20:>8.1f}")
    by_rule = pd.Series({k: v["count"] for k, v in report_roads.summary["by_rule"].items()})
    print()
    print("issues by rule:", ", ".join(f"{k} {v}" for k, v in by_rule.items()))


if __name__ == "__main__":
    main()
