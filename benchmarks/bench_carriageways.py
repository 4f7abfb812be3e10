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
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

import geopandas as gpd
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", nargs="+", default=["city", "huangpu", "daan", "gongguan"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    args = ap.parse_args()
    for name in args.case:
        run(name, args.seeds)


if __name__ == "__main__":
    main()
