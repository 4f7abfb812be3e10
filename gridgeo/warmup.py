"""Compile the numba kernels once, into numba's on-disk cache.

Every kernel of :mod:`gridgeo.locate` and :mod:`gridgeo.tracks` is compiled with
``cache=True``: numba writes the machine code next to the module (``__pycache__``) and
loads it in later processes. After an install the cache is empty, and the first
request, command or test that reaches a kernel compiles it (about a minute of CPU for
all of them on a 2-core machine; the first bulk answer of a fresh server waited ~10 s).
``make`` runs this module after installing the Python packages
(``python -m gridgeo.warmup``), so the service, the CLI and the tests start with
compiled kernels.

It runs the same paths a real request runs, on a tiny generated district (no
database): a point file read and checked in CSV, Arrow and GeoParquet; located in
longitude/latitude and in a projected CRS, with and without categories, distances and
departments; answered in CSV, Arrow, GeoParquet and GeoJSON; a single point located;
a patrol track cleaned and attributed. A kernel reached with argument types not seen
here is compiled on its first use, as before: the cache only saves time.
"""

from __future__ import annotations

import io
import sys
import time
from typing import Any

import numpy as np

# points per chunk: big enough for the kernels' parallel variants (from 20,000 points), and
# several chunks per body, as in a streamed answer
_CHUNK = 25_000
_POINTS = 60_000


def _snapshot() -> tuple[Any, np.ndarray, np.ndarray]:
    from gridgeo.testing import jittered_tiling, tiling_snapshot

    # grids of many edges: the border distance takes its per-cell candidate-edge path too
    codes, geoms = jittered_tiling(4, 3, seed=0, vertices_per_edge=24)
    snap = tiling_snapshot(
        codes,
        geoms,
        contact_rows=[(str(c), "worker", "张三", "13800000000", True) for c in codes],
        department_rows=[(7, "城管", "12345", False)],
        coverage_rows=[(1, 7, "noise", str(c), None, True) for c in codes],
        category_rows=[("noise", "噪声", "", 3, 7, False), ("other", "其他", "", 3, 7, False)],
    )
    return snap, codes, geoms


def _bodies(lon: np.ndarray, lat: np.ndarray) -> dict[str, bytes]:
    """The same points as CSV, Arrow IPC and GeoParquet request bodies (the GeoParquet one
    without ids or categories: row numbers stand in, one category for all)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from gridgeo.locate.encode import wkb_points

    ids = pa.array([f"p{i}" for i in range(len(lon))])
    cats = pa.array(np.where(np.arange(len(lon)) % 3 == 0, "noise", "other"))
    table = pa.table({"id": ids, "lon": lon, "lat": lat, "category": cats})
    text = io.StringIO()
    text.write("id,lon,lat,category\n")
    for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True)):
        text.write(f"p{i},{x:.7f},{y:.7f},{cats[i].as_py()}\n")
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    geo = pa.table({"geometry": wkb_points(lon, lat)})
    pbuf = pa.BufferOutputStream()
    pq.write_table(geo, pbuf, row_group_size=_CHUNK)
    return {
        "csv": text.getvalue().encode(),
        "arrow": sink.getvalue().to_pybytes(),
        "parquet": pbuf.getvalue().to_pybytes(),
    }


def _answers(
    snap: Any, fmt_in: str, body: bytes, crs: str, *, distance: bool, lines: bool = False
) -> int:
    """Read ``body`` as the batch endpoint does, locate it and write every answer format."""

    from gridgeo.locate.answer import batch_schema, locate_batch
    from gridgeo.locate.csvout import BufferPool, csv_buffer, csv_bytes
    from gridgeo.locate.encode import encoder, metadata_crs, stream_table
    from gridgeo.locate.points import PointFile

    points = PointFile(
        body, fmt_in, chunk=_CHUNK, source="warm-up", degrees=crs == "wgs84", lines=lines
    )
    points.check()
    schema = batch_schema(snap)
    encs = {f: encoder(f, schema, crs=metadata_crs(crs)) for f in ("parquet", "arrow", "geojson")}
    pool, n = BufferPool(2), 0
    for start, pts in points.chunks():
        table = locate_batch(
            snap, pts.x, pts.y, ids=pts.ids, crs=crs, category=pts.categories("noise"),
            private=True, near_border_m=5.0, distance=distance,
        ).cast(schema)  # fmt: skip
        n += len(csv_buffer(table, header=start == 0, raw=pts.echoed(), pool=pool))
        for fmt, enc in encs.items():
            for b in (table if fmt != "geojson" else table.slice(0, 50)).to_batches():
                n += len(enc.write(enc.prepare(b)))
        if getattr(encs["parquet"], "writes_row_numbers", False):  # the ids as row numbers
            for b in table.slice(0, 50).to_batches():
                n += sum(len(g.data) for g in encs["parquet"].prepare(b, row_start=start))
        small = table.slice(0, 50)  # the one-chunk answers
        n += len(csv_bytes(small, header=True))
        for fmt in ("parquet", "arrow", "csv"):
            n += sum(len(c) for c in stream_table(fmt, small, 50, crs=crs))
    return n + sum(len(e.close()) for e in encs.values())


def _single(snap: Any, x: np.ndarray, y: np.ndarray) -> None:
    """The single-point kernels of ``GET /locate``."""
    from gridgeo.locate.answer import locate_one

    index = snap.index
    g = index.locate(x, y)
    index.border_distance(x, y, g)
    index.border_distance(x[:100], y[:100], g[:100])
    for i in range(min(len(x), 20)):
        index.locate_one(float(x[i]), float(y[i]))
    locate_one(snap, float(x[0]), float(y[0]), crs="EPSG:3826", category="noise")


def _large_registry(snap: Any, x: np.ndarray, y: np.ndarray) -> None:
    """The fill's int32 variants: a registry of more than 32,767 grids (a large city's)
    answers with int32 grid indices, a small one with int16 (the requests above). A few
    points (one thread; a worker thread's chunk runs the same kernel) and a chunk on all
    cores; ``distance`` is a value, not a type, so one call each compiles both."""
    for n in (100, _CHUNK):
        snap.index.locate_fill(x[:n], y[:n], near=20.0, dtype=np.int32)


def _tracks(codes: np.ndarray, geoms: np.ndarray) -> None:
    """A patrol day: cleaning, attribution of legs to grids, daily sums."""
    import geopandas as gpd
    import pandas as pd

    from gridgeo.tracks.pipeline import GridSnapshot, patrol_days
    from gridgeo.tracks.read import TrackPoints

    grids = gpd.GeoDataFrame({"grid_code": codes}, geometry=list(geoms), crs="EPSG:3826")
    ll = grids.to_crs(4326)
    c = ll.geometry.union_all().centroid
    rng = np.random.default_rng(0)
    n = 600
    lon = c.x + np.cumsum(rng.normal(0, 2e-4, n))
    lat = c.y + np.cumsum(rng.normal(0, 2e-4, n))
    t0 = pd.Timestamp("2026-03-02 08:00", tz="Asia/Shanghai").timestamp()
    worker = np.where(np.arange(n) < n // 2, "w1", "w2").astype(object)
    pts = TrackPoints(
        worker=worker,
        t=t0 + np.arange(n) * 20.0,
        lon=lon,
        lat=lat,
        accuracy=np.full(n, 5.0),
        speed=np.full(n, np.nan),
        row=np.arange(n),
        file="warm-up",
    )
    assignments = pd.DataFrame(
        {
            "worker": ["w1", "w2"],
            "grid_code": [str(codes[0]), str(codes[1])],
            "valid_from": pd.Timestamp("2026-01-01"),
            "valid_to": pd.NaT,
        }
    )
    patrol_days(pts, GridSnapshot.from_frame(grids), assignments)


def warm_up() -> float:
    """Run every kernel once (compiling the ones not in the cache); the seconds it took."""
    import pyproj

    from gridgeo.testing import sample_points

    t0 = time.perf_counter()
    snap, codes, geoms = _snapshot()
    x, y = sample_points(codes, geoms, _POINTS, seed=1, margin=0.1)
    lon, lat = pyproj.Transformer.from_crs(3826, 4326, always_xy=True).transform(x, y)
    lon, lat = np.asarray(lon), np.asarray(lat)
    for fmt, body in _bodies(lon, lat).items():
        for distance in (False, True):
            _answers(snap, fmt, body, "wgs84", distance=distance)
    _answers(snap, "csv", _bodies(x, y)["csv"], "EPSG:3826", distance=True)
    # a body of just lon,lat: its lines echoed in a CSV answer
    plain = "".join(f"{a:.7f},{b:.7f}\n" for a, b in zip(lon.tolist(), lat.tolist(), strict=True))
    _answers(snap, "csv", ("lon,lat\n" + plain).encode(), "wgs84", distance=False, lines=True)
    _single(snap, x, y)
    _large_registry(snap, x, y)
    _tracks(codes, geoms)
    _value_check()
    return time.perf_counter() - t0


def _value_check() -> None:
    """The per-row-group value check of a GeoParquet body on the arrays any reader gives
    (writable, and read-only views of pyarrow's buffers: numba compiles each apart)."""
    from gridgeo.locate.points import _all_valid

    a = np.zeros(4)
    ro = a.copy()
    ro.flags.writeable = False
    for arr in (a, ro):
        _all_valid(arr, arr, True)


def main() -> int:
    """Warm the cache; a failure is reported and does not stop the set-up (the kernels
    then compile on first use, as without this step)."""
    from gridgeo.i18n import _

    print(_("compiling the locate and track kernels once (a few minutes after an install)…"))
    try:
        seconds = warm_up()
    except Exception as exc:  # any failure is reported; it never blocks the set-up
        message = _("compiling the kernels ahead failed ({error}); they compile on first use")
        print(message.format(error=f"{type(exc).__name__}: {exc}"), file=sys.stderr)
        return 0
    print(_("kernels compiled and cached ({seconds} s)").format(seconds=f"{seconds:.0f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
