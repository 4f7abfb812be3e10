"""Partitioning Da'an: gridgeo vs spopt ``MaxPHeuristic`` vs pygeoda ``maxp_greedy``,
and a county-size run end to end.

1. Same blocks, same run. Da'an's 1,270 small statistical areas are exactly the
   blocks gridgeo polygonises from its roads (the roads are their outlines), with their
   household counts. Each solver groups the blocks of each of the 53 villages
   (grids never cross a village border) with floor = 300 households; gridgeo also
   has the ceiling 500, which neither MaxP solver can express. Reported: time, grids,
   share of grids in 300–500 (of all grids, and of grids in the 51 feasible villages:
   no indivisible block above 500), "in band*" = grids in band / (grids − blocks that
   alone exceed 500, which no solver can bring into band), largest grid. MaxP attributes: block centroids
   (compactness), as a user would choose.
2. One big region: the blocks of the first villages (≈ 800 blocks) as one region,
   to compare speed on a single larger problem.
3. County size: Da'an tiled 3× side by side (≥ 300,000 households, 159 villages),
   written to a GeoPackage and partitioned end to end with the CLI path (read, check,
   partition, write), serial and with ``--workers 2``.

Usage: ``.venv/bin/python benchmarks/bench_partition.py [--skip-spopt] [--spopt-timeout 60] [--tiles 3]``
Needs the bench extras: ``pip install spopt pygeoda libpysal``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import statistics
import tempfile
import time
import warnings
import zlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from gridgeo.demo.build import build_daan
from gridgeo.partition import partition
from gridgeo.partition.aggregate import aggregate
from gridgeo.partition.blocks import adjacency

LO, HI = 300, 500


def load(tmp: Path):
    path = build_daan(tmp / "daan.gpkg")
    layers = {
        n: gpd.read_file(path, layer=n) for n in ("communities", "roads", "households", "units")
    }
    units = layers["units"].sort_values(["community_code", "unit_id"]).reset_index(drop=True)
    units["cx"] = units.geometry.centroid.x
    units["cy"] = units.geometry.centroid.y
    return path, layers, units


def summary(
    name: str,
    sizes_by_comm: dict[str, np.ndarray],
    feasible: set[str],
    seconds: float,
    *,
    heavy_blocks: int = 0,
) -> dict:
    allsz = np.concatenate([s for s in sizes_by_comm.values()]) if sizes_by_comm else np.zeros(0)
    feas = [s for c, s in sizes_by_comm.items() if c in feasible]
    feas = np.concatenate(feas) if feas else np.zeros(0)
    inband = lambda a: float(((a >= LO) & (a <= HI)).mean()) if len(a) else float("nan")  # noqa: E731
    return {
        "solver": name,
        "time_s": seconds,
        "grids": len(allsz),
        "in_band_all": inband(allsz),
        "in_band_feasible": inband(feas),
        # grids in band / (grids − blocks that alone exceed the ceiling: unavoidable misses)
        "in_band_avoidable": float(((allsz >= LO) & (allsz <= HI)).sum())
        / max(len(allsz) - heavy_blocks, 1),
        "max_grid": int(allsz.max()) if len(allsz) else 0,
        "over_ceiling": int((allsz > HI).sum()),
    }


def run_gridgeo(units: gpd.GeoDataFrame):
    sizes, t = {}, 0.0
    for code, g in units.groupby("community_code", sort=True):
        geoms = g.geometry.to_numpy()
        w = g["households"].to_numpy(float)
        t0 = time.perf_counter()
        graph = adjacency(geoms)
        labels = aggregate(w, graph, lo=LO, hi=HI, seed=zlib.crc32(code.encode()))
        t += time.perf_counter() - t0
        sizes[code] = np.bincount(labels, weights=w)
    return sizes, t


def run_pygeoda(units: gpd.GeoDataFrame):
    import pygeoda

    sizes, t = {}, 0.0
    left_out: list[tuple[str, int, float]] = []
    for code, g in units.groupby("community_code", sort=True):
        g = g.reset_index(drop=True)
        w = g["households"].to_numpy(float)
        if w.sum() < LO:
            sizes[code] = np.array([w.sum()])
            continue
        t0 = time.perf_counter()
        gda = pygeoda.open(g[["households", "cx", "cy", "geometry"]])
        rw = pygeoda.rook_weights(gda)
        alone = [i for i in range(rw.num_obs) if not rw.get_neighbors(i)]
        if alone:
            # pygeoda's max-p never returns on a unit without a rook neighbour (a block that
            # touches the others only at a corner): leave those out and say so
            left_out.append((code, len(alone), float(w[alone].sum())))
            g = g.drop(index=alone).reset_index(drop=True)
            w = g["households"].to_numpy(float)
            gda = pygeoda.open(g[["households", "cx", "cy", "geometry"]])
            rw = pygeoda.rook_weights(gda)
        res = pygeoda.maxp_greedy(rw, g[["cx", "cy"]], bound_variable=g["households"], min_bound=LO)
        t += time.perf_counter() - t0
        labels = np.asarray(res["Clusters"])
        sizes[code] = np.array([w[labels == k].sum() for k in np.unique(labels)])
    for code, n, hh in left_out:
        print(
            f"   pygeoda: {n} block(s) of {code} without a rook neighbour left out ({hh:.0f} households)"
        )
    return sizes, t


def run_spopt(units: gpd.GeoDataFrame, *, per_region: pd.DataFrame | None = None):
    from libpysal.weights import Rook
    from spopt.region import MaxPHeuristic

    sizes, t = {}, 0.0
    groups = (
        units.groupby("community_code", sort=True) if per_region is None else [("all", per_region)]
    )
    for code, g in groups:
        g = g.reset_index(drop=True)
        w = g["households"].to_numpy(float)
        if w.sum() < LO:
            sizes[code] = np.array([w.sum()])
            continue
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rw = Rook.from_dataframe(g, use_index=False, silence_warnings=True)
            model = MaxPHeuristic(g, rw, ["cx", "cy"], "households", LO, top_n=2)
            model.solve()
        t += time.perf_counter() - t0
        labels = np.asarray(model.labels_)
        sizes[code] = np.array([w[labels == k].sum() for k in np.unique(labels)])
    return sizes, t


def _spopt_child(g, queue) -> None:
    np.random.seed(0)  # spopt draws from numpy's global generator
    sizes, t = run_spopt(g, per_region=g)
    queue.put((next(iter(sizes.values())), t))


def run_spopt_limited(units, *, timeout: float = 60.0):
    """spopt per village, each in a child process given at most ``timeout`` s.

    Returns sizes per finished village, the summed time (a village that times out
    counts with ``timeout``) and the codes of villages that did not finish.
    """
    import multiprocessing as mp
    import queue as queue_mod

    ctx = mp.get_context("fork")
    sizes, total, unfinished = {}, 0.0, []
    for code, g in units.groupby("community_code", sort=True):
        q = ctx.Queue()
        proc = ctx.Process(target=_spopt_child, args=(g, q))
        t0 = time.perf_counter()
        proc.start()
        try:
            sz, t = q.get(timeout=timeout)
            sizes[code] = sz
            total += t
        except queue_mod.Empty:
            unfinished.append(code)
            total += time.perf_counter() - t0
            proc.terminate()
        proc.join()
    return sizes, total, unfinished


def print_table(rows: list[dict], ref: str = "gridgeo aggregate") -> None:
    base = next(r for r in rows if r["solver"] == ref)
    print(
        f"{'solver':<26}{'time s':>9}{'× gridgeo':>11}{'grids':>7}{'in band':>9}{'feasible':>10}"
        f"{'in band*':>10}{'max':>7}{'>500':>6}"
    )
    for r in rows:
        ratio = r["time_s"] / base["time_s"] if base["time_s"] else float("nan")
        print(
            f"{r['solver']:<26}{r['time_s']:>9.2f}{ratio:>11.1f}{r['grids']:>7}"
            f"{r['in_band_all']:>9.1%}{r['in_band_feasible']:>10.1%}{r['in_band_avoidable']:>10.1%}"
            f"{r['max_grid']:>7}{r['over_ceiling']:>6}"
        )


def same_blocks(units: gpd.GeoDataFrame, skip_spopt: bool, spopt_timeout: float) -> None:
    heavy = set(units.loc[units["households"] > HI, "community_code"])
    n_heavy = int((units["households"] > HI).sum())
    feasible = {
        c
        for c, tot in units.groupby("community_code")["households"].sum().items()
        if c not in heavy and math.ceil(tot / HI) <= math.floor(tot / LO)
    }
    print(
        f"1. Da'an, {len(units)} blocks in {units['community_code'].nunique()} villages "
        f"({len(feasible)} feasible), floor {LO}, ceiling {HI} (gridgeo only)"
    )
    rows = []
    sizes, t = run_gridgeo(units)
    rows.append(summary("gridgeo aggregate", sizes, feasible, t, heavy_blocks=n_heavy))
    sizes, t = run_pygeoda(units)
    rows.append(summary("pygeoda maxp_greedy", sizes, feasible, t, heavy_blocks=n_heavy))
    if not skip_spopt:
        sizes, t, late = run_spopt_limited(units, timeout=spopt_timeout)
        rows.append(summary("spopt MaxPHeuristic", sizes, feasible, t, heavy_blocks=n_heavy))
        if late:
            print(
                f"   spopt: {len(late)} villages did not finish within {spopt_timeout:.0f} s each "
                f"(counted with that time, their grids missing): {', '.join(late)}"
            )
    print_table(rows)


def one_region(
    units: gpd.GeoDataFrame, skip_spopt: bool, spopt_timeout: float, n_blocks: int = 800
) -> None:
    codes = units["community_code"].drop_duplicates().tolist()
    take, count = [], 0
    for c in codes:
        k = int((units["community_code"] == c).sum())
        if count + k > n_blocks:
            break
        take.append(c)
        count += k
    region = units[units["community_code"].isin(take)].copy()
    region["community_code"] = "region"
    n_heavy = int((region["households"] > HI).sum())
    print(
        f"\n2. One region of {len(region)} blocks ({len(take)} villages merged), "
        f"{int(region['households'].sum())} households"
    )
    rows = []
    sizes, t = run_gridgeo(region)
    rows.append(summary("gridgeo aggregate", sizes, {"region"}, t, heavy_blocks=n_heavy))
    sizes, t = run_pygeoda(region)
    rows.append(summary("pygeoda maxp_greedy", sizes, {"region"}, t, heavy_blocks=n_heavy))
    if not skip_spopt:
        sizes, t, late = run_spopt_limited(region, timeout=spopt_timeout * 5)
        if late:
            print(f"   spopt MaxPHeuristic did not finish within {spopt_timeout * 5:.0f} s")
        else:
            rows.append(summary("spopt MaxPHeuristic", sizes, {"region"}, t, heavy_blocks=n_heavy))
    print_table(rows)


def county(path: Path, tmp: Path, tiles: int) -> None:
    from gridgeo.io import read_layer, write_layers

    layers = {n: read_layer(path, n) for n in ("communities", "roads", "households")}
    xmin, _, xmax, _ = layers["communities"].total_bounds
    dx = (xmax - xmin) + 1000
    out = {n: [] for n in layers}
    for t in range(tiles):
        for n, gdf in layers.items():
            g = gdf.copy()
            g["geometry"] = g.geometry.translate(dx * t, 0)
            if n == "communities":
                g["code"] = g["code"].str[:7] + str(t) + g["code"].str[8:]
            out[n].append(g)
    big = {
        n: gpd.GeoDataFrame(pd.concat(v, ignore_index=True), crs=layers[n].crs)
        for n, v in out.items()
    }
    src = tmp / "county.gpkg"
    write_layers(src, big)
    hh = int(big["households"]["households"].sum())
    print(
        f"\n3. County: Da'an tiled {tiles}× — {len(big['communities'])} villages, "
        f"{len(big['households'])} household points, {hh:,} households, {len(big['roads'])} road lines"
    )
    from typer.testing import CliRunner

    from gridgeo.cli.main import app

    runner = CliRunner()
    for workers in (1, 2):
        dst = tmp / f"county_grids_{workers}.gpkg"
        t0 = time.perf_counter()
        res = runner.invoke(
            app,
            [
                "partition",
                str(src),
                "--code-pattern",
                r"\d{11}",
                "--out",
                str(dst),
                "--workers",
                str(workers),
            ],
        )
        took = time.perf_counter() - t0
        if res.exit_code != 0:
            print(res.output)
            raise SystemExit(1)
        grids = gpd.read_file(dst, layer="grids")
        print(
            f"   end to end, --workers {workers}: {took:6.1f} s  ({len(grids)} grids; target ≤ 60 s)"
        )
    a = gpd.read_file(tmp / "county_grids_1.gpkg", layer="grids")
    b = gpd.read_file(tmp / "county_grids_2.gpkg", layer="grids")
    same = a.drop(columns="geometry").equals(b.drop(columns="geometry")) and bool(
        (a.geometry.to_wkb() == b.geometry.to_wkb()).all()
    )
    print(f"   serial and 2-worker outputs identical: {same}")
    t0 = time.perf_counter()
    res = partition(big["communities"], big["roads"], big["households"], code_pattern=r"\d{11}")
    took = time.perf_counter() - t0
    rt = res.metrics["runtime_s"]
    stages = ", ".join(f"{k} {v:.1f}" for k, v in rt.items() if k != "total")
    print(f"   library call only: {took:.1f} s (stages, s: {stages})")
    m = res.metrics
    print(
        f"   in band (feasible): {m['in_band_share_feasible']:.2%}, borders on roads: "
        f"{m['road_border_share']:.1%}, Polsby–Popper mean {m['polsby_popper']['mean']:.3f}"
    )


def city_blocks(comm, roads, hh, *, tidy, median: bool) -> list[tuple[str, object, np.ndarray]]:
    """Per community: its blocks as the partitioner builds them (faces of the cleaned roads,
    divided roads on their median when ``median``, households assigned, slivers merged by
    ``tidy``), with their household counts."""
    import shapely

    from gridgeo.partition.blocks import Blocks, assign_points, faces
    from gridgeo.partition.carriageways import collapse_carriageways
    from gridgeo.partition.clean import clean_roads

    xy = shapely.get_coordinates(hh.geometry.to_numpy())
    drawn = roads.geometry.to_numpy()
    lines = clean_roads(collapse_carriageways(roads, keep_xy=xy) if median else drawn)
    w = hh["households"].to_numpy(float)
    out = []
    for code, area in zip(comm["code"], comm.geometry, strict=True):
        inside = np.flatnonzero(shapely.covered_by(hh.geometry.to_numpy(), area))
        polys = faces(area, lines)
        where = assign_points(polys, xy[inside])
        b = Blocks(list(polys), [inside[where == i] for i in range(len(polys))])
        b.recompute(w)
        out.append((code, b, w))
    t0, c0 = time.perf_counter(), time.process_time()
    tidied = [(code, tidy(b, w, xy, min_area=100.0, median_width=30.0)) for code, b, w in out]
    return tidied, time.perf_counter() - t0, time.process_time() - c0


def _city_runs(comm, roads, hh, prof) -> dict:
    """The whole partition of the city serial and on 2 processes: wall, CPU, result."""
    runs = {}
    for workers in (1, 2):
        t0, c0 = time.perf_counter(), _cpu()
        res = partition(comm, roads, hh, profile=prof, workers=workers)
        runs[workers] = (time.perf_counter() - t0, _cpu() - c0, res)
        m = res.metrics
        rt = m["runtime_s"]
        stages = ", ".join(f"{k} {v:.2f}" for k, v in rt.items() if k != "total")
        print(
            f"   gridgeo partition (library call), workers={workers}: {runs[workers][0]:.2f} s "
            f"wall, {runs[workers][1]:.2f} s CPU (with child processes)"
        )
        print(f"   stages (s): {stages}")
        work = sum(
            v for k, v in rt.items() if k.startswith("community.") and k != "community.longest"
        )
        print(
            f"   parent alone (all but the communities stage) {rt['total'] - rt['communities']:.2f} s; "
            f"communities stage {rt['communities']:.2f} s wall for {work:.2f} s of per-community "
            f"work (longest community {rt['community.longest']:.2f} s)"
        )
        print(
            f"   {m['grids']} grids, in band (feasible) {m['in_band_share_feasible']:.2%}, "
            f"borders on roads {m['road_border_share']:.1%}, PP mean/min "
            f"{m['polsby_popper']['mean']:.3f}/{m['polsby_popper']['min']:.3f}"
        )
    same = list(runs[1][2].grids.geometry.to_wkb()) == list(runs[2][2].grids.geometry.to_wkb())
    print(f"   serial and 2-process grids identical: {same}")
    return runs


def dual_city(skip_spopt: bool, spopt_timeout: float) -> None:
    """The generated dual-carriageway city: whole partition run vs MaxP on its blocks, with
    divided roads as drawn (the default) and on their median."""
    import sys

    from gridgeo.partition.blocks import tidy_blocks
    from gridgeo.rules import load_profile
    from gridgeo.testing import dual_carriageway_city

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from partition_reference import tidy_blocks_loop

    comm, roads, hh = dual_carriageway_city(seed=0)
    print(
        f"\n4. Dual-carriageway city (generated, seed 0): {len(comm)} communities, "
        f"{len(roads)} road lines, {len(hh)} household points, "
        f"{int(hh['households'].sum()):,} households"
    )
    print(f"   load average before: {_load()}")
    for label, median in (("as drawn (default)", False), ("on their median", True)):
        print(f"\n   -- divided roads {label}")
        prof = load_profile(None).with_divided_roads_on_median(median)
        runs = _city_runs(comm, roads, hh, prof)
        wall, _, res = runs[1]
        blocks_new, t_new, c_new = city_blocks(comm, roads, hh, tidy=tidy_blocks, median=median)
        if not median:
            blocks_old, t_old, c_old = city_blocks(
                comm, roads, hh, tidy=tidy_blocks_loop, median=median
            )
            n_new = sum(len(b.geoms) for _, b in blocks_new)
            n_old = sum(len(b.geoms) for _, b in blocks_old)
            print(
                f"   sliver merge, all communities: batched {t_new:.2f} s wall / {c_new:.2f} s "
                f"CPU ({n_new} blocks), loop (before) {t_old:.2f} s / {c_old:.2f} s ({n_old} "
                f"blocks): {c_old / max(c_new, 1e-9):.1f}× less CPU"
            )
        rows = []
        units = _units_frame(blocks_new, hh.crs)
        c0 = time.process_time()
        sizes, t = run_pygeoda(units)
        pg_cpu = time.process_time() - c0
        feasible = set(units["community_code"])
        rows.append(summary("pygeoda maxp_greedy", sizes, feasible, t))
        if not skip_spopt:
            sizes, t, late = run_spopt_limited(units, timeout=spopt_timeout)
            rows.append(summary("spopt MaxPHeuristic", sizes, feasible, t))
            if late:
                print(
                    f"   spopt: {len(late)} communities did not finish within {spopt_timeout:.0f} s"
                )
        grid_sizes = {
            c: g["households"].to_numpy(float) for c, g in res.grids.groupby("community_code")
        }
        rows.insert(0, summary("gridgeo partition (whole)", grid_sizes, feasible, wall))
        print(f"   MaxP on the same {len(units)} blocks (after the sliver merge), floor {LO}:")
        print_table(rows, ref="gridgeo partition (whole)")
        for workers, (w_s, c_s, _) in runs.items():
            print(
                f"   gridgeo whole run (workers={workers}) / pygeoda max-p (open + rook weights "
                f"+ maxp_greedy): {w_s / rows[1]['time_s']:.1f}× wall, "
                f"{c_s / max(pg_cpu, 1e-9):.1f}× CPU ({c_s:.2f} s vs {pg_cpu:.2f} s; goal ≤ 2×)"
            )
    print(f"   load average after: {_load()}")


def city_cpu_breakdown() -> None:
    """CPU per function of a serial run on the generated city (as drawn and on the median):
    the functions of the per-community stage and the parent's road lines, each wrapped with a
    CPU timer for the run (a profile without the profiler's overhead)."""
    import gridgeo.partition.community as community
    import gridgeo.partition.core as core
    from gridgeo.rules import load_profile
    from gridgeo.testing import dual_carriageway_city

    spent: dict[str, float] = {}

    def timed(owner, name: str, label: str) -> None:
        f = getattr(owner, name)

        def run(*a, **k):
            c = time.process_time()
            try:
                return f(*a, **k)
            finally:
                spent[label] = spent.get(label, 0.0) + time.process_time() - c

        setattr(owner, name, run)

    for name in ("faces", "tidy_blocks", "adjacency", "aggregate", "_grids_from_labels",
                 "_tidy_grids", "border_stats", "seam_error", "_split_heavy"):  # fmt: skip
        timed(community, name, name)
    timed(core, "_clean_lines", "parent: _clean_lines (thread)")
    comm, roads, hh = dual_carriageway_city(seed=0)
    print(f"\n4b. City, CPU per function (serial; load {_load()})")
    for label, median in (("as drawn", False), ("on their median", True)):
        prof = load_profile(None).with_divided_roads_on_median(median)
        partition(comm.iloc[:1], roads, hh, profile=prof, workers=1)  # warm-up
        spent.clear()
        c0 = time.process_time()
        partition(comm, roads, hh, profile=prof, workers=1)
        total = time.process_time() - c0
        parts = ", ".join(f"{k} {v:.2f}" for k, v in sorted(spent.items(), key=lambda x: -x[1]))
        print(f"   divided roads {label}: {total:.2f} s CPU; {parts}")


def city_gc(rounds: int = 3) -> None:
    """The cyclic garbage collector's share of a serial run on the generated city: runs with
    the collector paused (as :func:`gridgeo.partition.partition` does) and on (the pause
    replaced by a no-op), alternating, CPU and the time spent in collections
    (``gc.callbacks``) of each; same process, so the figures compare under the same load."""
    import contextlib
    import gc

    import gridgeo.partition.core as core
    from gridgeo.rules import load_profile
    from gridgeo.testing import dual_carriageway_city

    comm, roads, hh = dual_carriageway_city(seed=0)
    spent = {"in": 0.0, "at": 0.0}

    def clock(phase: str, _info: dict) -> None:
        if phase == "start":
            spent["at"] = time.process_time()
        else:
            spent["in"] += time.process_time() - spent["at"]

    paused = core._gc_paused
    gc.callbacks.append(clock)
    print(f"\n4c. City, the garbage collector paused or on (serial; load {_load()})")
    try:
        for label, median in (("as drawn", False), ("on their median", True)):
            prof = load_profile(None).with_divided_roads_on_median(median)
            partition(comm.iloc[:1], roads, hh, profile=prof, workers=1)  # warm-up
            got: dict[str, list[tuple[float, float]]] = {"paused": [], "on": []}
            for _ in range(rounds):
                for mode in got:
                    core._gc_paused = paused if mode == "paused" else contextlib.nullcontext
                    gc.collect()
                    spent["in"] = 0.0
                    c0 = time.process_time()
                    partition(comm, roads, hh, profile=prof, workers=1)
                    got[mode].append((time.process_time() - c0, spent["in"]))
            text = "; ".join(
                f"{mode}: CPU min {min(c for c, _ in v):.2f} s (runs "
                + " ".join(f"{c:.2f}" for c, _ in v)
                + "), in collections "
                + " ".join(f"{g:.3f}" for _, g in v)
                + " s"
                for mode, v in got.items()
            )
            print(f"   divided roads {label}: {text}")
    finally:
        core._gc_paused = paused
        gc.callbacks.remove(clock)
    print(f"   load average after: {_load()}")


def city_delaunay(rounds: int = 5) -> None:
    """The strips' Delaunay triangulations of a serial city run (as drawn), each engine on
    the same inputs in turn: Triangle (when installed) against GEOS, CPU of all calls, and
    whether they give the same triangles."""
    from gridgeo.partition import delaunay
    from gridgeo.rules import load_profile
    from gridgeo.testing import dual_carriageway_city

    calls: list[tuple[np.ndarray, np.ndarray]] = []
    run = delaunay.triangles

    def record(xy, *, engine=None, labels=None):
        calls.append((np.array(xy), None if labels is None else np.array(labels)))
        return run(xy, engine=engine, labels=labels)

    comm, roads, hh = dual_carriageway_city(seed=0)
    delaunay.triangles = record
    try:
        partition(comm, roads, hh, profile=load_profile(None), workers=1)
    finally:
        delaunay.triangles = run
    n = sum(len(xy) for xy, _ in calls)
    print(f"\n4e. City, the strips' Delaunay triangulations: {len(calls)} calls, {n:,} points "
          f"(load {_load()})")  # fmt: skip
    engines = ["geos"] + (["triangle"] if delaunay._triangle is not None else [])
    cpu: dict[str, list[float]] = {e: [] for e in engines}
    out: dict[str, list] = {}
    for _ in range(rounds):
        for e in engines:
            c0 = time.process_time()
            out[e] = [run(xy, engine=e, labels=lab) for xy, lab in calls]
            cpu[e].append(time.process_time() - c0)
    for e in engines:
        print(f"   {e:8s}: CPU best {min(cpu[e]):.3f} s / median {statistics.median(cpu[e]):.3f} s")
    if "triangle" in out:
        same = all(np.array_equal(a, b) for a, b in zip(out["geos"], out["triangle"], strict=True))
        ratio = statistics.median(cpu["geos"]) / max(statistics.median(cpu["triangle"]), 1e-9)
        print(f"   Triangle {ratio:.1f}× less CPU than GEOS (median); same triangles: {same}")
    else:
        print("   the optional triangle package is not installed: GEOS only")


def city_head(rounds: int = 8) -> None:
    """The parent's head of a city run (everything before the communities' pool: checks, road
    cleaning, households, tasks) on both cores (:mod:`gridgeo.partition.twocores`: the
    cleaning on a thread beside the assignment, the roads of two halves of the communities
    cleaned at once, element-wise calls in halves) and on one (the same code, threads off),
    alternating in one process: wall and CPU."""
    import gridgeo.partition.clean as clean
    import gridgeo.partition.core as core
    import gridgeo.partition.twocores as twocores
    from gridgeo.rules import load_profile
    from gridgeo.testing import dual_carriageway_city

    class _InPlace(twocores.Background):
        def __enter__(self):
            self._run()
            return self

        def __exit__(self, exc_type, exc, tb):
            if self._error is not None and exc is None:
                raise self._error

        def wait(self):
            if self._error is not None:
                raise self._error
            return self.result

    class _HeadDoneError(Exception):
        pass

    def stop(*_a, **_k):
        raise _HeadDoneError

    real = (core.Background, twocores.SPLIT_MIN, clean.HALVES_MIN_COORDS, core._run)
    modes = {
        "both cores": (real[0], real[1], real[2]),
        "one core": (_InPlace, 1 << 62, 1 << 62),
    }
    comm, roads, hh = dual_carriageway_city(seed=0)
    print(f"\n4d. City, the parent's head on both cores or one (load {_load()})")
    core._run = stop
    try:
        for label, median in (("as drawn", False), ("on their median", True)):
            prof = load_profile(None).with_divided_roads_on_median(median)
            got: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
            for r in range(rounds + 1):
                for mode, (bg, split, halves) in modes.items():
                    core.Background, twocores.SPLIT_MIN, clean.HALVES_MIN_COORDS = bg, split, halves
                    t0, c0 = time.perf_counter(), time.process_time()
                    with contextlib.suppress(_HeadDoneError):
                        partition(comm, roads, hh, profile=prof, workers=2)
                    if r:  # the first round warms up
                        got[mode].append((time.perf_counter() - t0, time.process_time() - c0))
            text = "; ".join(
                f"{mode}: wall best {min(w for w, _ in v):.3f} / median "
                f"{statistics.median(w for w, _ in v):.3f} s, CPU best "
                f"{min(c for _, c in v):.3f} / median {statistics.median(c for _, c in v):.3f} s"
                for mode, v in got.items()
            )
            print(f"   divided roads {label}: {text}")
    finally:
        core.Background, twocores.SPLIT_MIN, clean.HALVES_MIN_COORDS, core._run = real
    print(f"   load average after: {_load()}")


def city_ratio(rounds: int = 7) -> None:
    """The goal's ratio with its spread: the whole partition of the city on 2 processes and
    pygeoda's max-p on the blocks the run builds, alternating ``rounds`` times in one process
    (after one warm-up round of each), with best and median of each side."""
    from gridgeo.partition.blocks import tidy_blocks
    from gridgeo.rules import load_profile
    from gridgeo.testing import dual_carriageway_city

    comm, roads, hh = dual_carriageway_city(seed=0)
    print(
        f"\n4f. City, the whole run (2 processes) and pygeoda's max-p, alternating (load {_load()})"
    )
    for label, median in (("as drawn (default)", False), ("on their median", True)):
        prof = load_profile(None).with_divided_roads_on_median(median)
        blocks, _, _ = city_blocks(comm, roads, hh, tidy=tidy_blocks, median=median)
        units = _units_frame(blocks, hh.crs)
        ours: list[tuple[float, float]] = []
        theirs: list[float] = []
        for r in range(rounds + 1):
            t0, c0 = time.perf_counter(), _cpu()
            partition(comm, roads, hh, profile=prof, workers=2)
            wall, cpu = time.perf_counter() - t0, _cpu() - c0
            with contextlib.redirect_stdout(io.StringIO()):
                _, t = run_pygeoda(units)
            if r:  # the first round warms up
                ours.append((wall, cpu))
                theirs.append(t)
        walls = [w for w, _ in ours]
        med, best = statistics.median(walls), min(walls)
        pmed, pbest = statistics.median(theirs), min(theirs)
        print(
            f"   divided roads {label}: gridgeo {' '.join(f'{w:.2f}' for w in walls)} s (best "
            f"{best:.2f}, median {med:.2f}; CPU median {statistics.median(c for _, c in ours):.2f} "
            f"s); pygeoda {' '.join(f'{t:.2f}' for t in theirs)} s (best {pbest:.2f}, median "
            f"{pmed:.2f}) → median / median {med / pmed:.2f}×, best / best {best / pbest:.2f}× "
            f"(goal ≤ 2×)"
        )
    print(f"   load average after: {_load()}")


def city_timeline(rounds: int = 5) -> None:
    """Where the wall of the city's 2-process run goes: the parent's head (until the first
    community starts in a worker), each worker's time busy on communities and idle between
    its first start and the run's end, and the end (the last community's end to the
    result): medians over ``rounds`` runs after a warm-up. The per-community function of
    the forked workers is wrapped to log its start and end (one line per community,
    appended to a temporary file)."""
    import json

    import gridgeo.partition.parallel as parallel
    from gridgeo.rules import load_profile
    from gridgeo.testing import dual_carriageway_city

    real = parallel.partition_community
    comm, roads, hh = dual_carriageway_city(seed=0)
    print(f"\n4g. City, where the 2-process run's wall goes (load {_load()})")
    with tempfile.TemporaryDirectory() as d:
        log_path = Path(d, "timeline.jsonl")

        def logged(task, profile, *, seed=0):
            t = time.perf_counter()
            res = real(task, profile, seed=seed)
            with open(log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps([os.getpid(), t, time.perf_counter()]) + "\n")
            return res

        parallel.partition_community = logged
        try:
            for label, median in (("as drawn (default)", False), ("on their median", True)):
                prof = load_profile(None).with_divided_roads_on_median(median)
                rows: list[dict[str, float]] = []
                for r in range(rounds + 1):
                    log_path.write_text("")
                    t0 = time.perf_counter()
                    partition(comm, roads, hh, profile=prof, workers=2)
                    t1 = time.perf_counter()
                    spans = [json.loads(s) for s in log_path.read_text().splitlines()]
                    if not r:  # the first round warms up
                        continue
                    first = min(a for _, a, _ in spans)
                    last = max(b for _, _, b in spans)
                    busy: dict[int, float] = {}
                    for pid, a, b in spans:
                        busy[pid] = busy.get(pid, 0.0) + b - a
                    rows.append({
                        "total": t1 - t0, "head": first - t0, "end": t1 - last,
                        "busy": sum(busy.values()), "idle": 2 * (last - first) - sum(busy.values()),
                    })  # fmt: skip
                m = {k: statistics.median(x[k] for x in rows) for k in rows[0]}
                print(
                    f"   divided roads {label}: total {m['total']:.3f} s = head {m['head']:.3f} s "
                    f"({m['head'] / m['total']:.0%}; one core busy with the roads' cleaning, the "
                    f"other mostly waiting) + communities {m['total'] - m['head'] - m['end']:.3f}"
                    f" s (workers busy {m['busy']:.3f} s, idle {m['idle']:.3f} s of the two "
                    f"cores) + end {m['end']:.3f} s (medians of {rounds})"
                )
        finally:
            parallel.partition_community = real
    print(f"   load average after: {_load()}")


def _cpu() -> float:
    """CPU time of this process and its finished child processes (s)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _units_frame(blocks, crs) -> gpd.GeoDataFrame:
    frames = []
    for code, b in blocks:
        g = gpd.GeoDataFrame(
            {"community_code": code, "households": b.weights}, geometry=list(b.geoms), crs=crs
        )
        frames.append(g)
    units = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=crs)
    units["cx"] = units.geometry.centroid.x
    units["cy"] = units.geometry.centroid.y
    return units


def quality(daan: tuple, seeds: list[int]) -> None:
    """Quality figures on Da'an, Gongguan (rural) and Huangpu (real OSM roads, generated
    households), with divided roads as drawn (the default) and on their median.

    Two road shares per run, from the partitioner's metrics and from ``gridgeo validate``:
    against the roads as the partitioner used them (the lines as drawn plus the middle of
    divided roads: medial lines of split strips, or the centrelines the median option put
    them on), and against the road lines as drawn alone.
    """
    from gridgeo.demo.build import build_gongguan
    from gridgeo.rules import load_profile
    from gridgeo.testing import huangpu_core
    from gridgeo.validate import validate

    with tempfile.TemporaryDirectory() as d:
        path = build_gongguan(Path(d) / "gongguan.gpkg")
        lay = {n: gpd.read_file(path, layer=n) for n in ("communities", "roads", "households")}
    (comm, roads, hh), _ = huangpu_core()
    print(f"\n5. Quality on shipped data (seeds {' '.join(map(str, seeds))}; load {_load()})")
    cases = (
        ("Da'an", daan, {"code_pattern": r"\d{11}"}),
        (
            "Gongguan",
            (lay["communities"], lay["roads"], lay["households"]),
            {"code_pattern": r"\d{11}"},
        ),
        ("Huangpu", (comm, roads, hh), {}),
    )
    for name, args, kw in cases:
        for label, median in (("as drawn", False), ("on median", True)):
            prof = load_profile(None).with_code_pattern(kw.get("code_pattern"))
            prof = prof.with_divided_roads_on_median(median)
            rows = [_quality_row(args, prof, seed, validate) for seed in seeds]
            for seed, r in zip(seeds, rows, strict=True):
                print(f"   {name:9s} {label:9s} seed {seed}: " + _quality_text(r))
            if len(seeds) > 1:
                mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
                print(f"   {name:9s} {label:9s} mean  : " + _quality_text(mean))


def _quality_row(args, prof, seed: int, validate) -> dict:
    comm, roads, hh = args
    t0, c0 = time.perf_counter(), _cpu()
    res = partition(comm, roads, hh, profile=prof, seed=seed)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    m = res.metrics
    rep = validate(res.grids, comm, hh, roads, profile=prof)
    rb = rep.summary["road_border"]
    geoms = res.grids.geometry.to_numpy()
    import shapely

    return {
        "wall": wall,
        "cpu": cpu,
        "grids": m["grids"],
        "in_band": m["in_band_share_feasible"],
        "in_band_all": m["in_band_share_all_banded"],
        "road": m["road_border_share"],
        "road_drawn": m["road_border_share_drawn"],
        "off_km": m["internal_border_m"] * (1 - m["road_border_share"]) / 1000,
        "v_road": rb["share"],
        "v_road_drawn": rb["share_drawn"],
        "warnings": int((rep.issues["rule"] == "roads.border_share").sum()),
        "pp_mean": m["polsby_popper"]["mean"],
        "pp_min": m["polsby_popper"]["min"],
        "multi": int((shapely.get_num_geometries(geoms) > 1).sum()),
    }


def _quality_text(r: dict) -> str:
    return (
        f"{r['wall']:.2f} s ({r['cpu']:.2f} s CPU), {r['grids']:.1f} grids, in band (feasible) "
        f"{r['in_band']:.2%}, all {r['in_band_all']:.2%}, borders on roads {r['road']:.2%} "
        f"(as drawn {r['road_drawn']:.2%}; off roads {r['off_km']:.2f} km), validate "
        f"{r['v_road']:.2%} (as drawn {r['v_road_drawn']:.2%}; {r['warnings']:.2f} "
        f"roads.border_share), PP mean/min {r['pp_mean']:.3f}/{r['pp_min']:.3f}, "
        f"multi-part {r['multi']:.0f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skip-spopt", action="store_true", help="spopt takes minutes")
    ap.add_argument("--tiles", type=int, default=3)
    ap.add_argument(
        "--spopt-timeout",
        type=float,
        default=60.0,
        help="give up on spopt for a village after this many s (5× for the one big region)",
    )
    ap.add_argument(
        "--only",
        choices=[
            "daan",
            "city",
            "city-cpu",
            "city-gc",
            "city-head",
            "city-delaunay",
            "city-ratio",
            "city-timeline",
            "quality",
        ],
        help="run one part: Da'an (0–3), the dual-carriageway city (4), its CPU per function "
        "(4b), the garbage collector's share (4c), the parent's head on both cores or one "
        "(4d), the strips' triangulations by Triangle and by GEOS (4e), the whole run and "
        "pygeoda alternating, best and median (4f), where the 2-process run's wall goes (4g), "
        "quality (0, 5)",
    )
    ap.add_argument(
        "--seeds", nargs="+", type=int, default=[0], help="seeds of the quality runs (5)"
    )
    args = ap.parse_args()
    if args.only == "city":
        dual_city(args.skip_spopt, args.spopt_timeout)
        return
    if args.only == "city-cpu":
        city_cpu_breakdown()
        return
    if args.only == "city-gc":
        city_gc()
        return
    if args.only == "city-head":
        city_head()
        return
    if args.only == "city-delaunay":
        city_delaunay()
        return
    if args.only == "city-ratio":
        city_ratio()
        return
    if args.only == "city-timeline":
        city_timeline()
        return
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        path, layers, units = load(tmp)
        t0 = time.perf_counter()
        res = partition(
            layers["communities"], layers["roads"], layers["households"], code_pattern=r"\d{11}"
        )
        took = time.perf_counter() - t0
        m = res.metrics
        print(
            f"0. gridgeo end to end on Da'an (roads → blocks → grids): {took:.2f} s, {m['grids']} grids, "
            f"in band (feasible) {m['in_band_share_feasible']:.2%}, all {m['in_band_share_all_banded']:.2%}, "
            f"borders on roads {m['road_border_share']:.1%} (as drawn "
            f"{m['road_border_share_drawn']:.1%}), PP mean/min "
            f"{m['polsby_popper']['mean']:.3f}/{m['polsby_popper']['min']:.3f}, "
            f"households/grid {m['households_per_grid']}\n"
        )
        daan = (layers["communities"], layers["roads"], layers["households"])
        if args.only == "quality":
            quality(daan, args.seeds)
            return
        if args.only != "daan":
            dual_city(args.skip_spopt, args.spopt_timeout)
            city_delaunay()
            city_ratio()
            city_timeline()
            quality(daan, args.seeds)
        same_blocks(units, args.skip_spopt, args.spopt_timeout)
        one_region(units, args.skip_spopt, args.spopt_timeout)
        county(path, tmp, args.tiles)


if __name__ == "__main__":
    main()
