"""Whether a change to the partitioner keeps its grids bit for bit: dump, then compare.

``same_grids.py dump OUT.pkl`` partitions the cases the benchmarks' quality figures come from
(the generated dual-carriageway city serial and on 2 processes, Da'an serial and on 2
processes, Gongguan and Huangpu on 2 processes; each with divided roads as drawn and on
their median) and writes every grid's WKB, every other column and the run's metrics
(without its run times). ``same_grids.py compare A.pkl B.pkl`` names each case whose grids,
columns or metrics differ, and exits 1 when one does. Run ``dump`` with ``PYTHONPATH`` set
to each checkout (e.g. a git worktree of the previous version), then ``compare``.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
from pathlib import Path


def dump(out: Path) -> None:
    import geopandas as gpd

    from gridgeo.demo.build import build_daan, build_gongguan
    from gridgeo.partition import partition
    from gridgeo.rules import load_profile
    from gridgeo.testing import dual_carriageway_city, huangpu_core

    with tempfile.TemporaryDirectory() as d:
        layers = ("communities", "roads", "households")
        daan_path, gong_path = build_daan(Path(d) / "daan.gpkg"), build_gongguan(Path(d) / "g.gpkg")
        daan = [gpd.read_file(daan_path, layer=n) for n in layers]
        gong = [gpd.read_file(gong_path, layer=n) for n in layers]
    huangpu, _ = huangpu_core()
    cases = [
        ("city", dual_carriageway_city(seed=0), None, (1, 2)),
        ("daan", daan, r"\d{11}", (1, 2)),
        ("gongguan", gong, r"\d{11}", (2,)),
        ("huangpu", huangpu, None, (2,)),
    ]
    got = {}
    for name, args, pattern, workers in cases:
        for median in (False, True):
            prof = load_profile(None).with_code_pattern(pattern)
            prof = prof.with_divided_roads_on_median(median)
            for w in workers:
                res = partition(*args, profile=prof, workers=w)
                metrics = {k: v for k, v in res.metrics.items() if k != "runtime_s"}
                g = res.grids
                got[(name, median, w)] = (
                    list(g.geometry.to_wkb()),
                    g.drop(columns="geometry").to_dict("list"),
                    metrics,
                )
                print(f"{name:9s} median={median!s:5s} workers={w}: {len(g)} grids", flush=True)
    with out.open("wb") as fh:
        pickle.dump(got, fh)


def compare(a: Path, b: Path) -> int:
    with a.open("rb") as fa, b.open("rb") as fb:
        old, new = pickle.load(fa), pickle.load(fb)
    differ = 0
    for key in sorted(set(old) | set(new), key=str):
        if key not in old or key not in new:
            print(f"{key}: only in {'the second' if key in new else 'the first'}")
            differ += 1
            continue
        (ga, ca, ma), (gb, cb, mb) = old[key], new[key]
        what = [n for n, same in (("grids", ga == gb), ("columns", ca == cb)) if not same]
        what += [f"metric {k}" for k in sorted(set(ma) | set(mb)) if ma.get(k) != mb.get(k)]
        if what:
            print(f"{key}: {', '.join(what)} differ")
            differ += 1
    print(f"{len(old)} cases: " + ("identical" if not differ else f"{differ} differ"))
    return 1 if differ else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("dump").add_argument("out", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = ap.parse_args()
    if args.cmd == "dump":
        dump(args.out)
        return 0
    return compare(args.a, args.b)


if __name__ == "__main__":
    sys.exit(main())
