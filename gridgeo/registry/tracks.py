"""Patrol tracks in PostGIS: imported files, raw and cleaned fixes (by month), and reading back.

A file is identified by its SHA-256: importing the same bytes again changes nothing.
An import is one transaction (the file row, the raw fixes and the cleaned fixes via
COPY), so a failure leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text

from gridgeo.registry._db import Bind, raw, transaction
from gridgeo.tracks.clean import Cleaned
from gridgeo.tracks.daily import day_of
from gridgeo.tracks.read import LOCAL_TZ, TrackPoints

log = logging.getLogger(__name__)

__all__ = ["file_sha256", "import_tracks", "load_fixes", "staff_assignments"]


def file_sha256(path: str | Path | bytes) -> str:
    """Hex SHA-256 of a file's bytes (or of ``bytes``)."""
    h = hashlib.sha256()
    if isinstance(path, bytes | bytearray):
        h.update(path)
        return h.hexdigest()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_PG_EPOCH_S = 946_684_800  # 2000-01-01 UTC, PostgreSQL's timestamp zero


def _binary_copy(conn, table: str, columns: list[str], arrays: list[np.ndarray]) -> None:
    """COPY fixed-width columns in PostgreSQL's binary format, built by numpy in one go.

    ``arrays`` are int64 (bigint or timestamptz as microseconds since 2000), int32
    (integer), float64 (double precision) or float32 (real): no row loop in Python.
    """
    n = arrays[0].size
    spec = [("nf", ">i2")]
    for k, arr in enumerate(arrays):
        spec += [(f"l{k}", ">i4"), (f"v{k}", ">" + arr.dtype.str[1:])]
    rows = np.empty(n, dtype=np.dtype(spec))
    rows["nf"] = len(arrays)
    for k, arr in enumerate(arrays):
        rows[f"l{k}"] = arr.dtype.itemsize
        rows[f"v{k}"] = arr
    header = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
    view = rows.view(np.uint8)
    with (
        raw(conn).cursor() as cur,
        cur.copy(
            f"COPY restricted.{table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT binary)"
        ) as cp,
    ):
        cp.write(header)
        step = 1 << 24
        for s in range(0, view.size, step):
            cp.write(view[s : s + step].tobytes())
        cp.write(b"\xff\xff")


def _pg_time(t: np.ndarray) -> np.ndarray:
    """Epoch seconds → microseconds since 2000-01-01 (binary timestamptz)."""
    return np.round((np.asarray(t, dtype=np.float64) - _PG_EPOCH_S) * 1e6).astype(np.int64)


def _worker_numbers(conn, workers: np.ndarray) -> np.ndarray:
    """``worker_no`` per fix (registering new worker ids)."""
    codes, names = pd.factorize(workers)
    names = [str(v) for v in names]
    conn.execute(
        text(
            "INSERT INTO restricted.track_worker (worker) SELECT unnest(CAST(:w AS text[])) "
            "ON CONFLICT (worker) DO NOTHING"
        ),
        {"w": names},
    )
    got = dict(
        conn.execute(
            text(
                "SELECT worker, worker_no FROM restricted.track_worker "
                "WHERE worker = ANY(CAST(:w AS text[]))"
            ),
            {"w": names},
        ).all()
    )
    return np.asarray([got[v] for v in names], dtype=np.int32)[codes]


def import_tracks(
    bind: Bind,
    points: TrackPoints,
    cleaned: Cleaned,
    *,
    sha256: str,
    name: str,
    crs: str,
    by: str,
    sample: bool = False,
) -> dict:
    """Store one file's fixes (raw and cleaned); a no-op when its hash is already stored.

    Parameters
    ----------
    points
        The fixes as read (:func:`gridgeo.tracks.read_tracks`), rows left out in
        ``points.problems``.
    cleaned
        ``clean_tracks(points)``.
    sha256
        :func:`file_sha256` of the file.
    name, crs, by
        File name, CRS it was read in, and who imports it (audit).
    sample
        Marks demo data.

    Returns
    -------
    dict
        ``file_id``, ``created`` (False when the file was already imported), ``fixes_read``
        and ``fixes_kept``.
    """
    with transaction(bind) as conn:
        row = conn.execute(
            text(
                "SELECT file_id, fixes_read, fixes_kept FROM restricted.track_file "
                "WHERE sha256 = :h"
            ),
            {"h": sha256},
        ).first()
        if row is not None:
            log.info("track file %s already imported as %d", name, row[0])
            return {"file_id": row[0], "created": False, "fixes_read": row[1], "fixes_kept": row[2]}
        file_id = conn.execute(
            text(
                "INSERT INTO restricted.track_file (sha256, name, crs, fixes_read, fixes_kept, "
                "counts, problems, is_sample, imported_by) VALUES (:h, :n, :c, :r, :k, "
                "CAST(:counts AS jsonb), CAST(:p AS jsonb), :s, :by) RETURNING file_id"
            ),
            {
                "h": sha256,
                "n": name,
                "c": crs,
                "r": len(points),
                "k": len(cleaned.points),
                "counts": json.dumps(cleaned.counts),
                "p": json.dumps([p.to_dict() for p in points.problems], ensure_ascii=False),
                "s": sample,
                "by": by,
            },
        ).scalar_one()
        months = np.unique(day_of(points.t).astype("datetime64[M]"))
        # months new to the store get their partitions bare and indexed after the COPY
        # (one index build instead of row-by-row upkeep: about 1.8× the import speed)
        fresh = [
            pd.Timestamp(m).date()
            for m in months
            if conn.execute(
                text("SELECT restricted.track_month_bare(:d)"), {"d": pd.Timestamp(m).date()}
            ).scalar_one()
        ]
        wno = _worker_numbers(conn, points.worker)
        fid = np.full(len(points), file_id, dtype=np.int64)
        _binary_copy(
            conn,
            "track_fix_raw",
            ["file_id", "row_no", "worker_no", "t", "lon", "lat", "accuracy", "speed"],
            [
                fid,
                points.row.astype(np.int32),
                wno,
                _pg_time(points.t),
                points.lon.astype(np.float64),
                points.lat.astype(np.float64),
                points.accuracy.astype(np.float32),
                points.speed.astype(np.float32),
            ],
        )
        c = cleaned.points
        _binary_copy(
            conn,
            "track_fix",
            ["file_id", "row_no", "worker_no", "t", "lon", "lat", "piece"],
            [
                fid[: len(c)],
                c.row.astype(np.int32),
                _worker_numbers(conn, c.worker),
                _pg_time(c.t),
                c.lon.astype(np.float64),
                c.lat.astype(np.float64),
                cleaned.piece.astype(np.int32),
            ],
        )
        for m in fresh:
            conn.execute(text("SELECT restricted.track_month_index(:d)"), {"d": m})
    log.info("imported track file %s as %d: %d fixes, %d kept", name, file_id, len(points), len(c))
    return {"file_id": file_id, "created": True, "fixes_read": len(points), "fixes_kept": len(c)}


def load_fixes(
    bind: Bind, start: date, end: date, *, workers: list[str] | None = None
) -> TrackPoints:
    """Cleaned fixes of local days ``start``..``end`` (inclusive), as :class:`TrackPoints`."""
    t0 = pd.Timestamp(start).tz_localize(LOCAL_TZ)
    t1 = pd.Timestamp(end + timedelta(days=1)).tz_localize(LOCAL_TZ)
    with transaction(bind) as conn:
        rows = conn.execute(
            text(
                "SELECT w.worker, extract(epoch FROM f.t)::float8, f.lon, f.lat, f.row_no "
                "FROM restricted.track_fix f JOIN restricted.track_worker w USING (worker_no) "
                "WHERE f.t >= :a AND f.t < :b "
                "AND (CAST(:w AS text[]) IS NULL OR w.worker = ANY(CAST(:w AS text[]))) "
                "ORDER BY w.worker, f.t"
            ),
            {"a": t0.to_pydatetime(), "b": t1.to_pydatetime(), "w": workers},
        ).all()
    df = pd.DataFrame(rows, columns=["worker", "t", "lon", "lat", "row"])
    df = df.drop_duplicates(["worker", "t"])  # the same fix in two files counts once
    return TrackPoints.from_frame(df, file="registry")


def staff_assignments(bind: Bind) -> pd.DataFrame:
    """Who serves which grid when, keyed by what track files carry as the worker id.

    Returns
    -------
    pandas.DataFrame
        ``worker``, ``grid_code``, ``valid_from``, ``valid_to`` (local dates; ``valid_to``
        exclusive, empty if open). Each assignment appears twice: keyed by the registry's
        staff id and by the person's name (网格员编号 or 姓名 in a track file).
    """
    with transaction(bind) as conn:
        rows = conn.execute(
            text(
                "SELECT k.worker, a.grid_code, "
                "(a.valid_from AT TIME ZONE 'Asia/Shanghai')::date, "
                "(a.valid_to AT TIME ZONE 'Asia/Shanghai')::date "
                "FROM registry.staff_assignment a JOIN registry.staff s USING (staff_id) "
                "CROSS JOIN LATERAL (VALUES (s.staff_id::text), (s.person_name)) k (worker) "
                "WHERE a.role <> 'head'"
            )
        ).all()
    return pd.DataFrame(rows, columns=["worker", "grid_code", "valid_from", "valid_to"])


def day_end(day: date) -> datetime:
    """The last second of local ``day``: the grids of a day are those valid then."""
    return (
        (pd.Timestamp(day) + pd.Timedelta(days=1, seconds=-1)).tz_localize(LOCAL_TZ).to_pydatetime()
    )


def import_file(
    bind: Bind,
    path: str | Path,
    *,
    crs: str | None = None,
    worker_field: str | None = None,
    by: str,
    options=None,
    sample: bool = False,
) -> dict:
    """Read, clean and store one track file (a no-op when the same bytes were imported).

    Returns
    -------
    dict
        As :func:`import_tracks`, plus ``counts`` (cleaning) and ``problems`` (rows left
        out, as dicts with file and row).
    """
    from gridgeo.tracks import clean_tracks, read_tracks

    path = Path(path)
    digest = file_sha256(path)
    pts = read_tracks(path, crs=crs, worker_field=worker_field)
    cleaned = clean_tracks(pts, options)
    out = import_tracks(
        bind, pts, cleaned, sha256=digest, name=path.name, crs=crs or "wgs84", by=by, sample=sample
    )
    out["counts"] = cleaned.counts
    out["problems"] = [p.to_dict() for p in pts.problems]
    return out


def patrol_stats(
    bind: Bind,
    start: date,
    end: date,
    *,
    profile=None,
    roads=None,
    options=None,
):
    """Daily patrol statistics of local days ``start``..``end`` from the stored fixes.

    Each day is measured against the grids as they were that day (``grids_at`` at the local
    day's end) and the staff assignments of that day.

    Returns
    -------
    tuple
        ``(days, per_grid, problems)`` as in :class:`gridgeo.tracks.Patrol`.
    """
    from gridgeo.registry.history import grids_at
    from gridgeo.tracks.pipeline import GridSnapshot, patrol_days

    pts = load_fixes(bind, start, end)
    asg = staff_assignments(bind)
    if not len(pts):
        return _empty_days(), pd.DataFrame(), []
    day = day_of(pts.t)
    snapshots: dict[tuple, GridSnapshot] = {}
    days, grids, problems = [], [], []
    for d in np.unique(day):
        g = grids_at(bind, day_end(pd.Timestamp(d).date()))
        key = tuple(zip(g["grid_code"], g["valid_from"].astype(str), strict=True))
        if key not in snapshots:
            snapshots[key] = GridSnapshot.from_frame(g, roads=roads)
        prof = profile if profile is not None else _county_profile(bind, g, d)
        res = patrol_days(pts.take(day == d), snapshots[key], asg, profile=prof, options=options)
        days.append(res.days)
        grids.append(res.per_grid)
        problems += res.problems
    return (pd.concat(days, ignore_index=True), pd.concat(grids, ignore_index=True), problems)


def _county_profile(bind: Bind, grids, d) -> str | None:
    """The profile bound to the grids' county that day (``None``: the default profile)."""
    from gridgeo.errors import ConflictError
    from gridgeo.registry.bindings import bound_profile

    if not len(grids):
        return None
    county = str(grids["community_code"].iloc[0])[:6]
    try:
        return bound_profile(bind, county, at=day_end(pd.Timestamp(d).date())).profile
    except ConflictError:
        return None


def _empty_days() -> pd.DataFrame:
    from gridgeo.tracks.daily import DAY_COLUMNS

    return pd.DataFrame(columns=DAY_COLUMNS)


def worker_day(bind: Bind, worker: str, day: date, *, roads=None, profile=None):
    """One worker's day from the stored fixes: ``(Patrol, GridSnapshot)`` for a day map.

    Raises
    ------
    NotFoundError
        When the worker has no stored fix that day.
    """
    from gridgeo.errors import NotFoundError
    from gridgeo.registry.history import grids_at
    from gridgeo.tracks.pipeline import GridSnapshot, patrol_days

    pts = load_fixes(bind, day, day, workers=[str(worker)])
    if not len(pts):
        raise NotFoundError(f"网格员 {worker} 在 {day:%Y-%m-%d} 没有轨迹")
    g = grids_at(bind, day_end(day))
    snap = GridSnapshot.from_frame(g, roads=roads)
    prof = profile if profile is not None else _county_profile(bind, g, day)
    return patrol_days(pts, snap, staff_assignments(bind), profile=prof), snap


def _roads_near(bind: Bind, lon: np.ndarray, lat: np.ndarray, margin: float = 0.005):
    """Road centrelines (``registry.road``) near the box of WGS 84 points, or ``None``."""
    import geopandas as gpd
    import shapely

    box = shapely.box(
        lon.min() - margin, lat.min() - margin, lon.max() + margin, lat.max() + margin
    )
    with transaction(bind) as conn:
        srid = conn.execute(text("SELECT registry.srid()")).scalar()
        outline = gpd.GeoSeries([box], crs=4326).to_crs(srid).iloc[0]
        rows = conn.execute(
            text(
                "SELECT ST_AsBinary(geom) FROM registry.road "
                "WHERE ST_Intersects(geom, ST_GeomFromWKB(decode(:w, 'hex'), registry.srid()))"
            ),
            {"w": shapely.to_wkb(outline, hex=True)},
        ).all()
    if not rows:
        return None
    geoms = shapely.get_parts(shapely.from_wkb([bytes(r[0]) for r in rows]))
    return gpd.GeoDataFrame(geometry=list(geoms), crs=srid)


def day_map(bind: Bind, worker: str, day: date, *, profile=None) -> dict:
    """A worker's day as GeoJSON (WGS 84) for the console: track in/out, grids, roads covered.

    The roads are the registry's road centrelines near the track.

    Raises
    ------
    NotFoundError
        When the worker has no stored fix that day.

    Returns
    -------
    dict
        A FeatureCollection (see :func:`gridgeo.tracks.daymap.day_geojson`).
    """
    from gridgeo.errors import NotFoundError
    from gridgeo.tracks.daymap import day_geojson

    pts = load_fixes(bind, day, day, workers=[str(worker)])
    if not len(pts):
        raise NotFoundError(f"网格员 {worker} 在 {day:%Y-%m-%d} 没有轨迹")
    roads = _roads_near(bind, pts.lon, pts.lat)
    patrol, snap = worker_day(bind, worker, day, roads=roads, profile=profile)
    return day_geojson(patrol, snap, str(worker))
