"""Divided roads on their median or as drawn: before/after figures in one sitting.

"Before" is the default (``quality.divided_roads_on_median`` off: the carriageways as
drawn); "after" turns it on, so that
:func:`gridgeo.partition.carriageways.collapse_carriageways` puts each divided road's
two one-way carriageways on their centreline. For each case and seed it prints CPU and wall time, grids,
in-band share, the road share as the partitioner measures it (against the roads as it
used them: the lines as drawn, the cleaned centrelines and the medial lines of strips),
the road share against the raw road lines as given (border pieces within 5 m, as the
partitioner measures; the metrics' ``road_border_share_drawn`` is the same figure) and
the shares ``gridgeo.validate`` reports (the middle of divided roads counted as on the
road, and as drawn; with its count of ``roads.border_share`` warnings), Polsby–Popper
mean/min and contiguity (multi-part grids). Da'an and Gongguan have no ``oneway``/``name``
columns: their grids' digest is printed so that runs on two branches can be compared.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_carriageways.py --case city huangpu --seeds 0 1 2 3
    PYTHONPATH=. .venv/bin/python benchmarks/bench_carriageways.py --case daan gongguan
    PYTHONPATH=. .venv/bin/python benchmarks/bench_carriageways.py --classify --seeds 0

``--classify`` answers where Huangpu's road share goes with the median option: the
internal border within 25 m of a divided road's centreline ("corridor") and elsewhere,
on and off roads, in both modes; and the border pieces off road with the median option
that are not off road (±3 m) as drawn, by their distance to the nearest centreline (a
piece on a centreline would be a measurement mismatch; far from every centreline it is
a cut through a block placed elsewhere). Roads here: the lines as drawn, the cleaned
lines the partitioner used and the divided-road centrelines (the partitioner's own
figure also counts the medial lines of split strips: it differs by < 0.1 point).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from gridgeo.partition import partition
from gridgeo.partition.metrics import border_stats
from gridgeo.rules import load_profile
from gridgeo.testing import huangpu_core
from gridgeo.validate import validate


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _huangpu():
    return huangpu_core()


def _demo(build):
    with tempfile.TemporaryDirectory() as d:
        path = build(Path(d) / "x.gpkg")
        lay = {n: gpd.read_file(path, layer=n) for n in ("communities", "roads", "households")}
    return (lay["communities"], lay["roads"], lay["households"]), {"code_pattern": r"\d{11}"}


def _case(name: str):
    if name == "city":
        from gridgeo.testing import dual_carriageway_city

        return dual_carriageway_city(seed=0), {}
    if name == "huangpu":
        return _huangpu()
    from gridgeo.demo.build import build_daan, build_gongguan

    return _demo(build_daan if name == "daan" else build_gongguan)


def raw_road_share(res, comm, roads) -> float:
    """Internal border share within 5 m of the raw road lines (no cleaning, no medial lines)."""
    grids = res.grids.to_crs(roads.crs)
    comm = comm.to_crs(roads.crs)
    raw = shapely.get_parts(roads.geometry.to_numpy())
    internal = on = 0.0
    for code, area in zip(comm["code"], comm.geometry, strict=True):
        g = grids.geometry[grids["community_code"] == code].to_numpy()
        i, o, _ = border_stats(g, raw, [], area, 5.0, 0.5)
        internal, on = internal + i, on + o
    return on / internal if internal else float("nan")


def run(name: str, seeds: list[int]) -> None:
    (comm, roads, hh), kw = _case(name)
    base = load_profile(kw.pop("profile", None))
    variants = [("before", False), ("after", True)]
    for seed in seeds:
        for label, median in variants:
            prof = base.with_divided_roads_on_median(median)
            t0, c0 = time.perf_counter(), _cpu()
            res = partition(comm, roads, hh, seed=seed, profile=prof, **kw)
            wall, cpu = time.perf_counter() - t0, _cpu() - c0
            m = res.metrics
            multi = int((shapely.get_num_geometries(res.grids.geometry.to_numpy()) > 1).sum())
            digest = hashlib.sha1(b"".join(res.grids.geometry.to_wkb())).hexdigest()[:12]
            rep = validate(res.grids, comm, hh, roads)
            warned = int((rep.issues["rule"] == "roads.border_share").sum())
            internal = m["internal_border_m"] / 1000
            print(
                f"{name} seed {seed} {label:6s}: {cpu:6.2f} s CPU {wall:6.2f} s wall, "
                f"{m['grids']} grids, in band {m['in_band_share_feasible']:.2%}, on roads "
                f"(cleaned) {m['road_border_share']:.2%} of {internal:.1f} km (off roads "
                f"{internal * (1 - m['road_border_share']):.1f} km), (raw) "
                f"{raw_road_share(res, comm, roads):.2%} (metrics: {m['road_border_share_drawn']:.2%}), "
                f"validate {rep.summary['road_border']['share']:.2%} (as drawn "
                f"{rep.summary['road_border']['share_drawn']:.2%}; "
                f"{warned} roads.border_share warnings), "
                f"PP {m['polsby_popper']['mean']:.3f}/{m['polsby_popper']['min']:.3f}, "
                f"multi-part {multi}, digest {digest}, load {os.getloadavg()[0]:.2f}",
                flush=True,
            )


def _pieces(grids) -> tuple[np.ndarray, np.ndarray]:
    """Internal borders of ``grids`` (one community) as 2 m pieces: lengths, midpoints."""
    from gridgeo.partition.blocks import adjacency
    from gridgeo.partition.metrics import _border_pieces

    geoms = shapely.set_precision(grids.geometry.to_numpy(), 1e-5)  # as the partitioner's grids
    graph = adjacency(geoms, min_shared=0.5)
    bnd = shapely.boundary(geoms)
    return _border_pieces(shapely.intersection(bnd[graph.edges[:, 0]], bnd[graph.edges[:, 1]]))


def classify(seeds: list[int]) -> None:
    """Where the road share of Huangpu goes with the median option (see the module doc)."""
    from gridgeo.partition.carriageways import divided_road_centrelines
    from gridgeo.partition.core import _clean_lines, _to_metric

    (comm, roads, hh), _ = _huangpu()
    keep = shapely.get_coordinates(hh.geometry.to_numpy())
    centre = divided_road_centrelines(roads, keep_xy=keep)
    drawn = shapely.get_parts(roads.geometry.to_numpy())
    print(f"huangpu: divided-road centrelines {shapely.length(centre).sum() / 1000:.1f} km")
    for seed in seeds:
        off, mids = {}, {}
        for median in (False, True):
            prof = load_profile(None).with_divided_roads_on_median(median)
            res = partition(comm, roads, hh, seed=seed, profile=prof)
            used = np.concatenate(
                [
                    drawn,
                    _clean_lines(_to_metric(roads, roads.crs), _to_metric(hh, roads.crs), prof),
                    centre,
                ]
            )
            length, mid = _pieces(res.grids)
            tree = shapely.STRtree(used)
            on = np.zeros(len(mid), dtype=bool)
            on[np.unique(tree.query(mid, predicate="dwithin", distance=5.0)[0])] = True
            corridor = shapely.distance(mid, shapely.union_all(centre)) <= 25.0
            parts = []
            for where, sel in (("corridor", corridor), ("elsewhere", ~corridor)):
                parts.append(
                    f"{where} {length[sel].sum() / 1000:.2f} km (on roads "
                    f"{length[sel & on].sum() / 1000:.2f}, off {length[sel & ~on].sum() / 1000:.2f})"
                )
            label = "on median" if median else "as drawn"
            print(
                f"seed {seed} {label:9s}: on roads {length[on].sum() / length.sum():.2%}; "
                + ", ".join(parts)
            )
            off[median], mids[median] = (length, mid, ~on), mid
        length, mid, is_off = off[True]
        old = off[False][1][off[False][2]]
        near_old = np.zeros(len(mid), dtype=bool)
        near_old[
            np.unique(shapely.STRtree(old).query(mid, predicate="dwithin", distance=3.0)[0])
        ] = True
        new = is_off & ~near_old
        dist = shapely.distance(mid[new], shapely.union_all(centre))
        bins = [(0, 5), (5, 25), (25, 40), (40, np.inf)]
        text = ", ".join(
            f"{a:g}–{b:g} m {length[new][(dist >= a) & (dist < b)].sum() / 1000:.2f} km"
            for a, b in bins
        )
        gone = off[False][2] & ~_near(off[False][1], mid[is_off], 3.0)
        print(
            f"seed {seed}: off road only on median {length[new].sum() / 1000:.2f} km, by distance to the "
            f"nearest centreline: {text}; off road only as drawn {off[False][0][gone].sum() / 1000:.2f} km"
        )


def _near(points, others, tol: float) -> np.ndarray:
    hit = np.zeros(len(points), dtype=bool)
    hit[np.unique(shapely.STRtree(others).query(points, predicate="dwithin", distance=tol)[0])] = (
        True
    )
    return hit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", nargs="+", default=["city", "huangpu", "daan", "gongguan"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--classify", action="store_true", help="Huangpu: where the road share goes")
    args = ap.parse_args()
    if args.classify:
        classify(args.seeds)
        return
    for name in args.case:
        run(name, args.seeds)


if __name__ == "__main__":
    main()
