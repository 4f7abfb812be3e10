"""GCJ-02 / BD-09 conversion speed and accuracy: gridgeo.crs vs. a per-point Python loop.

The alternative a user would pick is the widely copied per-point implementation of the
published algorithm (``coordtransform``-style: a Python function called once per
point, whose inverse is a one-step approximation). It is timed on a subsample and
extrapolated to the full size. Accuracy is the round-trip error
``wgs84_to_gcj02(inverse(g))`` vs. ``g`` measured with pyproj.Geod.

Usage: ``.venv/bin/python benchmarks/bench_crs.py [--n 1000000] [--loop-sample 20000]``
"""

from __future__ import annotations

import argparse
import math
import time

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from pyproj import Geod

from gridgeo import crs as gcrs

# --- the published algorithm, per point (as copied into countless projects) ----------

_A = 6378245.0
_EE = 0.00669342162296594323


def _out_of_china(lng: float, lat: float) -> bool:
    return not (73.66 < lng < 135.05 and 3.86 < lat < 53.55)


def _tlat(lng: float, lat: float) -> float:
    ret = -100.0 + 2.0 * lng + 3.0 * lat + 0.2 * lat * lat + 0.1 * lng * lat
    ret += 0.2 * math.sqrt(abs(lng))
    ret += (20.0 * math.sin(6.0 * lng * math.pi) + 20.0 * math.sin(2.0 * lng * math.pi)) * 2 / 3
    ret += (20.0 * math.sin(lat * math.pi) + 40.0 * math.sin(lat / 3.0 * math.pi)) * 2 / 3
    ret += (160.0 * math.sin(lat / 12.0 * math.pi) + 320 * math.sin(lat * math.pi / 30.0)) * 2 / 3
    return ret


def _tlng(lng: float, lat: float) -> float:
    ret = 300.0 + lng + 2.0 * lat + 0.1 * lng * lng + 0.1 * lng * lat + 0.1 * math.sqrt(abs(lng))
    ret += (20.0 * math.sin(6.0 * lng * math.pi) + 20.0 * math.sin(2.0 * lng * math.pi)) * 2 / 3
    ret += (20.0 * math.sin(lng * math.pi) + 40.0 * math.sin(lng / 3.0 * math.pi)) * 2 / 3
    ret += (150.0 * math.sin(lng / 12.0 * math.pi) + 300.0 * math.sin(lng / 30.0 * math.pi)) * 2 / 3
    return ret


def _delta(lng: float, lat: float) -> tuple[float, float]:
    dlat = _tlat(lng - 105.0, lat - 35.0)
    dlng = _tlng(lng - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlng = (dlng * 180.0) / (_A / sqrtmagic * math.cos(radlat) * math.pi)
    return dlng, dlat


def loop_wgs84_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    if _out_of_china(lng, lat):
        return lng, lat
    dlng, dlat = _delta(lng, lat)
    return lng + dlng, lat + dlat


def loop_gcj02_to_wgs84(lng: float, lat: float) -> tuple[float, float]:
    """The published inverse: one step, error of metres."""
    if _out_of_china(lng, lat):
        return lng, lat
    dlng, dlat = _delta(lng, lat)
    return lng * 2 - (lng + dlng), lat * 2 - (lat + dlat)


def loop_gcj02_to_wgs84_exact(lng: float, lat: float) -> tuple[float, float]:
    """Per-point fixed-point iteration to the same tolerance as gridgeo (apples to apples)."""
    if _out_of_china(lng, lat):
        return lng, lat
    wx, wy = lng, lat
    for _ in range(12):
        fx, fy = loop_wgs84_to_gcj02(wx, wy)
        ex, ey = fx - lng, fy - lat
        wx, wy = wx - ex, wy - ey
        if abs(ex) <= 1e-7 and abs(ey) <= 1e-7:
            break
    return wx, wy


# --- helpers ---------------------------------------------------------------------------


def best_of(func, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return min(times)


def round_trip_error_m(gx, gy, wx, wy) -> tuple[float, float]:
    fx, fy = gcrs.wgs84_to_gcj02(wx, wy)
    d = Geod(ellps="WGS84").inv(gx, gy, fx, fy)[2]
    return float(np.max(d)), float(np.median(d))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="points (default 1e6)")
    ap.add_argument("--loop-sample", type=int, default=20_000, help="points for the loop")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    n = args.n
    # GCJ-02 input points spread over mainland China's box
    gx = rng.uniform(74.0, 134.5, n)
    gy = rng.uniform(18.0, 53.0, n)
    sub = rng.choice(n, size=min(args.loop_sample, n), replace=False)
    sx, sy = gx[sub].tolist(), gy[sub].tolist()
    scale = n / len(sub)

    rows = []

    t_vec_inv = best_of(lambda: gcrs.gcj02_to_wgs84(gx, gy), args.repeat)
    t_loop_inv = (
        best_of(lambda: [loop_gcj02_to_wgs84(x, y) for x, y in zip(sx, sy, strict=True)], 1) * scale
    )
    rows.append(("GCJ-02 → WGS 84 (vs one-step loop)", t_vec_inv, t_loop_inv))
    t_loop_exact = (
        best_of(lambda: [loop_gcj02_to_wgs84_exact(x, y) for x, y in zip(sx, sy, strict=True)], 1)
        * scale
    )
    rows.append(("GCJ-02 → WGS 84 (vs iterated loop)", t_vec_inv, t_loop_exact))

    wx, wy = gcrs.gcj02_to_wgs84(gx, gy)
    t_vec_fwd = best_of(lambda: gcrs.wgs84_to_gcj02(wx, wy), args.repeat)
    swx, swy = wx[sub].tolist(), wy[sub].tolist()
    t_loop_fwd = (
        best_of(lambda: [loop_wgs84_to_gcj02(x, y) for x, y in zip(swx, swy, strict=True)], 1)
        * scale
    )
    rows.append(("WGS 84 → GCJ-02", t_vec_fwd, t_loop_fwd))

    t_bd = best_of(lambda: gcrs.bd09_to_wgs84(gx, gy), args.repeat)
    rows.append(("BD-09 → WGS 84", t_bd, float("nan")))

    pts = gpd.GeoDataFrame(geometry=shapely.points(gx, gy), crs=4326)
    t_gdf = best_of(lambda: gcrs.to_wgs84(pts, "gcj02"), 1)
    rows.append(("to_wgs84(GeoDataFrame, 'gcj02')", t_gdf, float("nan")))

    tr = pyproj.Transformer.from_crs(4490, 4528, always_xy=True)
    t_proj = best_of(lambda: tr.transform(gx, gy), args.repeat)
    rows.append(("(context) pyproj 4490 → 4528 GK", t_proj, float("nan")))

    print(f"{n:,} points, per-point loop timed on {len(sub):,} and extrapolated")
    print(f"{'operation':<36} {'gridgeo':>10} {'py loop':>10} {'speed-up':>9}")
    for name, vec, loop in rows:
        ratio = f"{loop / vec:8.0f}x" if not math.isnan(loop) else "        —"
        loop_s = f"{loop:9.2f}s" if not math.isnan(loop) else "         —"
        print(f"{name:<36} {vec:9.3f}s {loop_s} {ratio}")

    ours = round_trip_error_m(gx, gy, wx, wy)
    lw = np.array([loop_gcj02_to_wgs84(x, y) for x, y in zip(sx, sy, strict=True)])
    published = round_trip_error_m(gx[sub], gy[sub], lw[:, 0], lw[:, 1])
    print()
    print("round-trip error wgs84_to_gcj02(inverse(g)) vs g (metres):")
    print(f"  gridgeo iterative inverse    max {ours[0]:.2e}  median {ours[1]:.2e}")
    print(f"  published one-step inverse   max {published[0]:.2e}  median {published[1]:.2e}")
    le = np.array([loop_gcj02_to_wgs84_exact(x, y) for x, y in zip(sx, sy, strict=True)])
    exact = round_trip_error_m(gx[sub], gy[sub], le[:, 0], le[:, 1])
    print(f"  per-point iterated loop      max {exact[0]:.2e}  median {exact[1]:.2e}")
    verdict = "meets" if t_vec_inv < 1.0 else "MISSES"
    print(
        f"\n1 M-point GCJ-02 → WGS 84 target < 1 s: {t_vec_inv * 1e6 / n:.3f} s per 1 M ({verdict})"
    )


if __name__ == "__main__":
    main()
