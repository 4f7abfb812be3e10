"""Patrol tracks in PostGIS: imported files, raw and cleaned fixes (by month), and reading back.

A file is identified by its SHA-256: importing the same bytes again changes nothing.
An import is one transaction (the file row, the raw fixes and the cleaned fixes via
COPY), so a failure leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import text

from gridgeo.i18n import _
from gridgeo.registry._db import Bind, as_engine, raw, transaction, translated_errors
from gridgeo.tracks.clean import Cleaned
from gridgeo.tracks.daily import day_of
from gridgeo.tracks.read import LOCAL_TZ, TrackPoints

log = logging.getLogger(__name__)

__all__ = [
    "file_sha256",
    "import_tracks",
    "load_fixes",
    "resolve_in_doubt",
    "staff_assignments",
]


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
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
_COPY_TRAILER = b"\xff\xff"
#: Rows per COPY message batch: the client lays out the next batch while the server loads this one.
_COPY_ROWS = 1 << 16
#: Sort memory of the import's index builds (SET LOCAL): 1 M fixes sort in memory, not on tape.
_INDEX_MEMORY = "256MB"

RAW_COLUMNS = ["file_id", "row_no", "worker_no", "t", "lon", "lat", "accuracy", "speed"]
CLEAN_COLUMNS = ["file_id", "row_no", "worker_no", "t", "lon", "lat", "piece"]


def _copy_layout(arrays: list[np.ndarray]) -> tuple[np.dtype, np.ndarray]:
    """The binary COPY row of fixed-width ``arrays`` and a template row (counts and lengths set)."""
    spec = [("nf", ">i2")]
    for k, arr in enumerate(arrays):
        spec += [(f"l{k}", ">i4"), (f"v{k}", ">" + arr.dtype.str[1:])]
    dtype = np.dtype(spec)
    template = np.zeros(1, dtype=dtype)
    template["nf"] = len(arrays)
    for k, arr in enumerate(arrays):
        template[f"l{k}"] = arr.dtype.itemsize
    return dtype, template.view(np.uint8)


def _copy_rows(arrays: list[np.ndarray], lo: int, hi: int, dtype, template) -> np.ndarray:
    """Rows ``lo:hi`` in PostgreSQL's binary COPY format, as one ``uint8`` block (no row loop).

    The block starts as copies of the template row; each column is then assigned to its
    big-endian field (numpy swaps the bytes on the way).
    """
    out = np.empty((hi - lo, dtype.itemsize), dtype=np.uint8)
    out[:] = template
    rows = out.view(dtype).reshape(-1)
    for k, arr in enumerate(arrays):
        rows[f"v{k}"] = arr[lo:hi]
    return out


def _binary_copy(
    conn, target: str, columns: list[str], arrays: list[np.ndarray], *, freeze: bool = False
) -> None:
    """COPY fixed-width columns into ``restricted.<target>`` in PostgreSQL's binary format.

    ``arrays`` are int64 (bigint or timestamptz as microseconds since 2000), int32
    (integer), float64 (double precision) or float32 (real). The rows are laid out by numpy
    in batches of :data:`_COPY_ROWS` and handed to a writer thread, so that laying out the
    next batch overlaps with the server loading the last. ``freeze``: ``COPY … FREEZE``
    (only for a table created in the current transaction).
    """
    from psycopg import sql
    from psycopg.copy import QueuedLibpqWriter

    n = arrays[0].size
    dtype, template = _copy_layout(arrays)
    stmt = sql.SQL("COPY restricted.{} ({}) FROM STDIN WITH (FORMAT binary{})").format(
        sql.Identifier(target),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", FREEZE" if freeze else ""),
    )
    cur = raw(conn).cursor()
    with cur, cur.copy(stmt, writer=QueuedLibpqWriter(cur)) as cp:
        cp.write(_COPY_HEADER)
        for lo in range(0, n, _COPY_ROWS):
            block = _copy_rows(arrays, lo, min(lo + _COPY_ROWS, n), dtype, template)
            cp.write(block.reshape(-1).data)
        cp.write(_COPY_TRAILER)


def _pg_time(t: np.ndarray) -> np.ndarray:
    """Epoch seconds → microseconds since 2000-01-01 (binary timestamptz)."""
    return np.round((np.asarray(t, dtype=np.float64) - _PG_EPOCH_S) * 1e6).astype(np.int64)


def _worker_numbers(conn, workers: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """``worker_no`` per fix (registering new worker ids), and the numbers by worker id."""
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
    return np.asarray([got[v] for v in names], dtype=np.int32)[codes], got


def _clean_worker_numbers(cleaned: Cleaned, known: dict[str, int]) -> np.ndarray:
    """``worker_no`` per cleaned fix, from the codes cleaning already made (no second factorize)."""
    c = cleaned.points
    if cleaned.worker_code is None or cleaned.worker_names is None:
        codes, names = pd.factorize(c.worker)
    else:
        codes, names = cleaned.worker_code, cleaned.worker_names
    lut = np.asarray([known[str(v)] for v in names], dtype=np.int32)
    return lut[codes] if len(codes) else np.zeros(0, dtype=np.int32)


def _month_groups(t: np.ndarray) -> list[tuple[date, np.ndarray | None]]:
    """The local months of fix times ``t``, each with the positions of its fixes.

    ``None`` as positions: every fix (the usual one-month file, found from the first and
    last local day alone).
    """
    if not len(t):
        return []
    lo, hi = day_of(np.array([t.min(), t.max()])).astype("datetime64[M]")
    if lo == hi:
        return [(pd.Timestamp(lo).date(), None)]
    month = day_of(t).astype("datetime64[M]")
    return [(pd.Timestamp(m).date(), np.flatnonzero(month == m)) for m in np.unique(month)]


def _load_table(
    conn, parent: str, columns: list[str], arrays: list[np.ndarray], t, *, alone: bool = True
) -> None:
    """COPY fixes into the month partitions of ``restricted.<parent>``, in ``conn``'s transaction.

    Each month's rows go straight into its partition (no routing through the parent); a
    partition this transaction creates is loaded bare with ``COPY … FREEZE`` and then
    indexed once, its sort in :data:`_INDEX_MEMORY`. ``alone=False`` (the other table loads
    at the same time on another connection): the index build takes no parallel workers,
    the cores are busy already.
    """
    months = _month_groups(t)
    fresh = []
    for m, where in months:
        part, created = conn.execute(
            text("SELECT part, created FROM restricted.track_month_open(:d, ARRAY[:p])"),
            {"d": m, "p": parent},
        ).one()
        cols = arrays if where is None else [a[where] for a in arrays]
        _binary_copy(conn, part, columns, cols, freeze=bool(created))
        if created:
            fresh.append(part)
    if fresh:
        conn.execute(text(f"SET LOCAL maintenance_work_mem = '{_INDEX_MEMORY}'"))
        if not alone:
            conn.execute(text("SET LOCAL max_parallel_maintenance_workers = 0"))
    for part in fresh:
        conn.execute(text("SELECT restricted.track_part_index(:p)"), {"p": part})


#: Fixes from which an import loads the cleaned fixes on a second connection, in parallel.
PARALLEL_MIN_FIXES = 100_000
#: Two-phase commit id of an import's cleaned-fixes transaction: this prefix + the file id.
_GID = "gridgeo-tracks-clean-"
#: Advisory lock class an import's main transaction holds (with its file id) until it ends.
_LOCK_CLASS = 727020


def _two_phase_engine(bind: Bind, conn, n: int):
    """The engine for a second, two-phase connection, or ``None`` to load serially.

    Serial when the caller passed its own connection (it owns the commit), for small files,
    and when the server allows no prepared transactions (``max_prepared_transactions = 0``).
    """
    if isinstance(bind, sa.engine.Connection) or n < PARALLEL_MIN_FIXES:
        return None
    if int(conn.execute(text("SHOW max_prepared_transactions")).scalar_one()) < 1:
        return None
    return as_engine(bind)


def _prepare_clean(engine, gid: str, arrays: list[np.ndarray], t: np.ndarray):
    """Load the cleaned fixes on a connection of their own and PREPARE that transaction."""
    conn = engine.connect()
    tx = conn.begin_twophase(gid)
    try:
        _load_table(conn, "track_fix", CLEAN_COLUMNS, arrays, t, alone=False)
        tx.prepare()
    except BaseException:
        tx.rollback()
        conn.close()
        raise
    return conn, tx


def _finish_clean(pending, *, commit: bool) -> None:
    """COMMIT (or ROLLBACK) PREPARED the cleaned fixes' transaction and close its connection."""
    conn, tx = pending
    try:
        tx.commit() if commit else tx.rollback()
    finally:
        conn.close()


def resolve_in_doubt(bind: Bind) -> int:
    """Finish cleaned-fixes transactions an interrupted import left prepared; how many.

    A prepared one whose import's main transaction committed (its ``track_file`` row exists)
    is committed, else rolled back; one whose import still runs (it holds the advisory lock
    of its file id) is left alone, and so is one another database role prepared (only it may
    finish it). Imports and reads call it when they find one; a failure here is logged,
    not raised.
    """
    engine = as_engine(bind)
    engine = engine.engine if isinstance(engine, sa.engine.Connection) else engine
    done = 0
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for gid in _in_doubt(conn):
            try:
                done += _finish_in_doubt(conn, gid)
            except sa.exc.DBAPIError as exc:
                log.warning("in-doubt track import %s not finished: %s", gid, exc.orig)
    return done


def _in_doubt(conn) -> list[str]:
    """Ids of this role's prepared cleaned-fixes transactions in this database."""
    gids = conn.execute(
        text(
            "SELECT gid FROM pg_prepared_xacts WHERE database = current_database() "
            "AND owner = current_user AND gid LIKE :p"
        ),
        {"p": _GID + "%"},
    ).scalars()
    return [g for g in gids if g[len(_GID) :].isdigit()]


def _finish_in_doubt(conn, gid: str) -> int:
    """COMMIT or ROLLBACK PREPARED ``gid`` by its file row unless its import still runs."""
    key = {"k": _LOCK_CLASS, "f": int(gid[len(_GID) :])}
    if not conn.execute(text("SELECT pg_try_advisory_lock(:k, :f)"), key).scalar_one():
        return 0
    try:
        stored = conn.execute(
            text("SELECT count(*) FROM restricted.track_file WHERE file_id = :f"), key
        ).scalar_one()
        verb = "COMMIT" if stored else "ROLLBACK"
        conn.exec_driver_sql(f"{verb} PREPARED '{gid}'")
        log.warning("in-doubt track import %s: %s PREPARED", gid, verb)
        return 1
    finally:
        conn.execute(text("SELECT pg_advisory_unlock(:k, :f)"), key)


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

    The file row and the raw fixes are one transaction. The cleaned fixes join it, or — for
    a file of :data:`PARALLEL_MIN_FIXES` or more on a server that allows prepared
    transactions — are loaded at the same time on a second connection whose transaction is
    PREPAREd, then COMMITted PREPARED after the main one commits and rolled back if anything
    fails: the import commits or rolls back as one (an interruption between the two commits
    is finished by :func:`resolve_in_doubt`). Fixes go straight into their month's partitions
    (see :func:`_load_table`).

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
    c = cleaned.points
    pending = engine = job = None
    try:
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
                return {
                    "file_id": row[0],
                    "created": False,
                    "fixes_read": row[1],
                    "fixes_kept": row[2],
                }
            if _in_doubt(conn):  # before touching the fixes an interrupted import may lock
                resolve_in_doubt(bind)
            file_id = _file_row(conn, points, cleaned, sha256, name, crs, by, sample)
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:k, :f)"), {"k": _LOCK_CLASS, "f": file_id}
            )
            wno, known = _worker_numbers(conn, points.worker)
            fid = np.full(len(points), file_id, dtype=np.int64)
            f8, f4 = np.float64, np.float32
            clean_cols = [fid[: len(c)], c.row.astype(np.int32)]
            clean_cols += [_clean_worker_numbers(cleaned, known), _pg_time(c.t)]
            clean_cols += [np.asarray(c.lon, f8), np.asarray(c.lat, f8)]
            clean_cols += [cleaned.piece.astype(np.int32)]
            engine = _two_phase_engine(bind, conn, len(c))
            if engine is not None:
                pool = ThreadPoolExecutor(1)
                job = pool.submit(_prepare_clean, engine, f"{_GID}{file_id}", clean_cols, c.t)
            raw_cols = [fid, points.row.astype(np.int32), wno, _pg_time(points.t)]
            raw_cols += [np.asarray(points.lon, f8), np.asarray(points.lat, f8)]
            raw_cols += [points.accuracy.astype(f4), points.speed.astype(f4)]
            try:
                _load_table(
                    conn, "track_fix_raw", RAW_COLUMNS, raw_cols, points.t, alone=engine is None
                )
            finally:
                if engine is not None:
                    pool.shutdown(wait=True)
            if engine is not None:
                pending = job.result()
            else:
                _load_table(conn, "track_fix", CLEAN_COLUMNS, clean_cols, c.t)
    except BaseException:
        if pending is not None:
            _finish_clean(pending, commit=False)
        elif engine is not None and job.done() and job.exception() is None:
            _finish_clean(job.result(), commit=False)
        raise
    if pending is not None:
        with translated_errors():
            _finish_clean(pending, commit=True)
    log.info("imported track file %s as %d: %d fixes, %d kept", name, file_id, len(points), len(c))
    return {"file_id": file_id, "created": True, "fixes_read": len(points), "fixes_kept": len(c)}


def _file_row(conn, points, cleaned, sha256, name, crs, by, sample) -> int:
    """Insert the file's ``track_file`` row; its ``file_id``."""
    return conn.execute(
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


def load_fixes(
    bind: Bind, start: date, end: date, *, workers: list[str] | None = None
) -> TrackPoints:
    """Cleaned fixes of local days ``start``..``end`` (inclusive), as :class:`TrackPoints`."""
    t0 = pd.Timestamp(start).tz_localize(LOCAL_TZ)
    t1 = pd.Timestamp(end + timedelta(days=1)).tz_localize(LOCAL_TZ)
    with transaction(bind) as conn:
        if _in_doubt(conn):  # an interrupted import's cleaned fixes would block this read
            resolve_in_doubt(bind)
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
    pts = read_tracks(path, crs=crs, worker_field=worker_field)  # names a missing/bad file
    digest = file_sha256(path)
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
        raise NotFoundError(
            _("grid worker {worker} has no track on {day}").format(
                worker=worker, day=f"{day:%Y-%m-%d}"
            )
        )
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
        raise NotFoundError(
            _("grid worker {worker} has no track on {day}").format(
                worker=worker, day=f"{day:%Y-%m-%d}"
            )
        )
    roads = _roads_near(bind, pts.lon, pts.lat)
    patrol, snap = worker_day(bind, worker, day, roads=roads, profile=profile)
    return day_geojson(patrol, snap, str(worker))
