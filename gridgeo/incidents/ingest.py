"""Reports in: one from the API, or a whole file streamed in chunks — checked, located, stored.

A file is read chunk by chunk (bounded memory: ``chunk_rows`` rows at a time), every
chunk is checked (:func:`~gridgeo.incidents.intake.check_reports`), located through the
shared locate answer and copied into a staging table; the cases are stored in one
statement at the end and the file is recorded by its SHA-256 in the same transaction.
So an interrupted import writes nothing, a re-import of the same file is skipped, and
rows whose external id is already stored are counted, not stored twice.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.incidents import store
from gridgeo.incidents.catalog import Catalog
from gridgeo.incidents.intake import (
    REPORT_COLUMNS,
    SOURCE_NAMES,
    build_cases,
    check_reports,
)
from gridgeo.incidents.routing import Snapshot, as_of, department_ids, locate_many
from gridgeo.io import LAT_NAMES, LON_NAMES
from gridgeo.io._encoding import guess_file_encoding
from gridgeo.locate.points import to_srid

log = logging.getLogger(__name__)

MAX_PROBLEMS = 10_000
_TRUE = {"1", "true", "yes", "y", "是", "复杂", "t"}


@dataclass
class ImportReport:
    """What an import did."""

    file: str
    sha256: str
    total: int = 0
    stored: int = 0
    known: int = 0
    bad: int = 0
    queued: int = 0
    skipped_file: bool = False
    problems: list[Problem] = field(default_factory=list)
    case_ids: list[int] = field(default_factory=list)  # the first 100,000

    def counts(self) -> dict[str, int]:
        return {"total": self.total, "stored": self.stored, "bad": self.bad, "known": self.known}


def _canonical(columns: list[str]) -> dict[str, str]:
    """Header → report field (Chinese or English names, case-insensitive)."""
    names = {k: v for k, v in REPORT_COLUMNS.items()}
    names["lon"] = LON_NAMES
    names["lat"] = LAT_NAMES
    out: dict[str, str] = {}
    for col in columns:
        key = str(col).strip().lower()
        for target, options in names.items():
            if target not in out.values() and key in {o.lower() for o in options}:
                out[col] = target
                break
    return out


def normalise(raw: pd.DataFrame, *, tz: str, default_source: str = "import") -> pd.DataFrame:
    """Rename a chunk's columns to report fields and parse them (text stays text)."""
    frame = raw.rename(columns=_canonical(list(raw.columns)))
    frame = frame.loc[:, ~frame.columns.duplicated()]
    for col in ("lon", "lat"):
        if col not in frame:
            frame[col] = np.nan
    for col in ("external_id", "category", "description", "reporter"):
        if col not in frame:
            frame[col] = None
    ext = frame["external_id"]
    ext = ext.where(ext.isna(), ext.astype(str).str.strip())
    frame["external_id"] = ext.where(ext.notna() & (ext != ""), None).astype(object)
    src = frame["source"] if "source" in frame else pd.Series(default_source, index=frame.index)
    frame["source"] = src.fillna(default_source).astype(str).str.strip().replace(SOURCE_NAMES)
    if "reported_at" in frame:
        when = pd.to_datetime(frame["reported_at"], errors="coerce", utc=False, format="mixed")
        if getattr(when.dt, "tz", None) is None:
            when = when.dt.tz_localize(ZoneInfo(tz), ambiguous="NaT", nonexistent="NaT")
        frame["reported_at"] = when.dt.tz_convert("UTC")
    else:
        frame["reported_at"] = pd.Timestamp.now(tz="UTC")
    cx = frame["is_complex"] if "is_complex" in frame else pd.Series(False, index=frame.index)
    frame["is_complex"] = cx.astype(str).str.strip().str.lower().isin(_TRUE).to_numpy(dtype=bool)
    return frame


def _geographic(crs: str) -> bool:
    return str(crs).lower() in (
        "wgs84",
        "cgcs2000",
        "gcj02",
        "bd09",
        "epsg:4326",
        "epsg:4490",
        "4326",
        "4490",
    )


def _department_ids(snap: Snapshot, names: pa.ChunkedArray) -> pa.Array:
    """Department id of each answer's department name (null: none), one lookup per name."""
    arr = names.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(pa.string())
    enc = arr.dictionary_encode()
    ids = department_ids(snap, enc.dictionary.to_pylist())
    return pa.array(ids, type=pa.int64()).take(enc.indices)


def prepare(
    frame: pd.DataFrame,
    snap: Snapshot,
    catalog: Catalog,
    *,
    crs: str,
    now: datetime,
    file: str | None = None,
    lines: np.ndarray | None = None,
    seen_ids: set[str] | None = None,
    is_sample: bool = False,
) -> tuple[pa.Table | None, list[Problem]]:
    """Check, locate and route a normalised chunk: case rows of the good reports and problems.

    Returns
    -------
    tuple
        The case rows (a :class:`pyarrow.Table` of
        :data:`~gridgeo.incidents.intake.CASE_COLUMNS`, ``None`` if no row is good) and
        the problems of the bad rows.
    """
    good, problems = check_reports(
        frame, now=now, geographic=_geographic(crs), file=file, lines=lines, seen_ids=seen_ids
    )
    ok = frame.loc[good].reset_index(drop=True)
    return route(ok, snap, catalog, crs=crs, is_sample=is_sample, file=file), problems


def route(
    ok: pd.DataFrame,
    snap: Snapshot,
    catalog: Catalog,
    *,
    crs: str,
    is_sample: bool = False,
    file: str | None = None,
) -> pa.Table | None:
    """Locate and route checked reports: their case rows (``None`` if there are none)."""
    if ok.empty:
        return None
    lon = ok["lon"].astype(float).to_numpy()
    lat = ok["lat"].astype(float).to_numpy()
    cats = ok["category"].fillna("").astype(str).str.strip().to_numpy(dtype=object)
    answers = locate_many(snap, lon, lat, crs=crs, category=cats)
    if snap.srid is not None:
        x, y = to_srid(lon, lat, crs, snap.srid)
    else:
        x = y = np.full(len(ok), np.nan)
    return build_cases(
        ok,
        answers,
        x=x,
        y=y,
        srid=snap.srid,
        department_ids=_department_ids(snap, answers.column("department")),
        grid_valid_from={r["code"]: r["valid_from"] for r in snap.records},
        catalog=catalog,
        crs=crs,
        located_as_of=as_of(snap),
        is_sample=is_sample,
        import_file=file,
    )


def report_one(
    conn: psycopg.Connection,
    report: dict[str, Any],
    snap: Snapshot,
    catalog: Catalog,
    *,
    crs: str,
    tz: str,
    role: str,
    actor: str,
    evaluation_key: str | None = None,
) -> int:
    """Store one report (API); raises :class:`InputError` naming every bad field.

    ``evaluation_key``: the key handed to the reporter; its SHA-256 is stored with a
    new case (not with a case already known by its ``external_id``).

    Returns
    -------
    int
        The new case id (or the existing one for a known ``external_id``).
    """
    report = {k: v for k, v in report.items() if not (k == "reported_at" and v is None)}
    frame = normalise(pd.DataFrame([report]), tz=tz, default_source=report.get("source") or "app")
    now = pd.Timestamp.now(tz="UTC").to_pydatetime()
    cases, problems = prepare(frame, snap, catalog, crs=crs, now=now)
    if problems:
        raise InputError(_("the report has errors"), problems)
    with conn.transaction():
        ext = cases.column("external_id")[0].as_py()
        if ext is not None:
            row = conn.execute(
                "SELECT case_id FROM incidents.case WHERE external_id = %s", (ext,)
            ).fetchone()
            if row:
                return int(row[0])
        ids = store.insert_cases(conn, cases, role=role, actor=actor)
        if evaluation_key:
            store.set_evaluation_key(conn, ids[0], evaluation_key)
    return ids[0]


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_chunks(path: Path, *, chunk_rows: int) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """A table file in chunks of raw rows (all text) with their line numbers.

    CSV/TSV/TXT (encoding detected as for every gridgeo table: UTF-8, else GB18030),
    XLSX (first sheet; Excel row numbers) and GeoJSON (feature numbers; ``lon``/``lat``
    from the point geometry).
    """
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        enc = guess_file_encoding(path).encoding
        sep = "\t" if suffix == ".tsv" else ","
        start = 2  # line 1 is the header
        reader = pd.read_csv(
            path,
            sep=sep,
            dtype=str,
            encoding=enc,
            chunksize=chunk_rows,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,
        )
        for chunk in reader:
            yield chunk, np.arange(start, start + len(chunk))
            start += len(chunk)
    elif suffix in (".xlsx", ".xlsm"):
        import openpyxl

        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            rows = wb.worksheets[0].iter_rows(values_only=True)
            header = [str(h) if h is not None else "" for h in next(rows, [])]
            buf: list[tuple] = []
            line = 2
            for row in rows:
                buf.append(row)
                if len(buf) >= chunk_rows:
                    yield (
                        pd.DataFrame(buf, columns=header, dtype=object),
                        np.arange(line, line + len(buf)),
                    )
                    line += len(buf)
                    buf = []
            if buf:
                yield (
                    pd.DataFrame(buf, columns=header, dtype=object),
                    np.arange(line, line + len(buf)),
                )
        finally:
            wb.close()
    elif suffix in (".geojson", ".json"):
        import pyogrio
        import shapely

        info = pyogrio.read_info(path)
        n = int(info["features"])
        for skip in range(0, n, chunk_rows):
            gdf = pyogrio.read_dataframe(path, skip_features=skip, max_features=chunk_rows)
            geoms = gdf.geometry.to_numpy()
            ok = shapely.get_type_id(geoms) == 0
            frame = pd.DataFrame(gdf.drop(columns="geometry"))
            frame["lon"] = np.where(ok, shapely.get_x(geoms), np.nan)
            frame["lat"] = np.where(ok, shapely.get_y(geoms), np.nan)
            yield frame, np.arange(skip + 1, skip + 1 + len(frame))
    else:
        raise InputError(
            _("unsupported file format"),
            [
                Problem(
                    _("{name}: use CSV, XLSX or GeoJSON").format(name=path.name),
                    file=str(path),
                    rule="incident.import.format",
                )
            ],
        )


def _keep_problems(rep: ImportReport, problems: list[Problem]) -> None:
    room = MAX_PROBLEMS - len(rep.problems)
    rep.problems.extend(problems[: max(room, 0)])


def _prepare_lines(
    frame: pd.DataFrame,
    snap: Snapshot,
    catalog: Catalog,
    *,
    crs: str,
    now: datetime,
    file: str,
    lines: np.ndarray,
    is_sample: bool,
) -> tuple[tuple[pa.Table | None, np.ndarray], list[Problem]]:
    """:func:`prepare` for a chunk of a file, with the line numbers of the good rows."""
    good, problems = check_reports(
        frame, now=now, geographic=_geographic(crs), file=file, lines=lines
    )
    cases = route(
        frame.loc[good].reset_index(drop=True),
        snap,
        catalog,
        crs=crs,
        is_sample=is_sample,
        file=file,
    )
    return (cases, np.asarray(lines)[good]), problems


def import_file(
    conn: psycopg.Connection,
    path: Path,
    snap: Snapshot,
    catalog: Catalog,
    *,
    crs: str = "wgs84",
    tz: str = "Asia/Shanghai",
    actor: str = "cli",
    chunk_rows: int = 50_000,
    is_sample: bool = False,
    now: datetime | None = None,
) -> ImportReport:
    """Import a file of reports: good rows stored, bad rows reported with their lines.

    Parameters
    ----------
    conn
        An open connection (not in a transaction); the import is one transaction.
    path
        CSV, XLSX or GeoJSON with report columns (Chinese or English headers).
    snap, catalog
        The registry snapshot to locate against and the matter list.
    crs
        CRS of the coordinates (``wgs84``, ``gcj02``, ``bd09``, ``cgcs2000``, ``EPSG:…``).
    tz
        Time zone of report times written without one.
    actor
        Who imports (kept in the event log).
    chunk_rows
        Rows read and located at a time (bounds memory).
    is_sample
        Mark the cases as samples.
    now
        The time reports may not be after (default: now).

    Returns
    -------
    ImportReport
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            _("the file does not exist"),
            [Problem(str(path), file=str(path), rule="incident.import.missing")],
        )
    sha = file_sha256(path)
    rep = ImportReport(file=str(path), sha256=sha)
    now = now or pd.Timestamp.now(tz="UTC").to_pydatetime()
    with conn.transaction():
        # one import of a file at a time: the second waits, then sees the first's record
        conn.execute("SELECT pg_advisory_xact_lock(727016, hashtext(%s))", (sha,))
        if store.imported_file(conn, sha) is not None:
            rep.skipped_file = True
            log.info("%s was imported before (sha256 %s): skipped", path, sha[:12])
            return rep
        staged = 0
        # the database copies chunk k while Python checks and locates chunk k + 1;
        # duplicates of an external id across chunks are found by the database at the
        # end (no set of every id in memory)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="incident-copy") as pool:
            copying: Future | None = None
            for raw, lines in read_chunks(path, chunk_rows=chunk_rows):
                frame = normalise(raw, tz=tz)
                rep.total += len(frame)
                good, problems = _prepare_lines(
                    frame,
                    snap,
                    catalog,
                    crs=crs,
                    now=now,
                    file=path.name,
                    lines=lines,
                    is_sample=is_sample,
                )
                cases, good_lines = good
                rep.bad += len({p.row for p in problems})
                _keep_problems(rep, problems)
                if copying is not None:
                    copying.result()
                    copying = None
                if cases is None:
                    continue
                staged += cases.num_rows
                copying = pool.submit(
                    store.insert_cases,
                    conn,
                    cases,
                    role="dispatcher",
                    actor=actor,
                    stage=True,
                    lines=good_lines,
                )
                del raw, frame, cases
            if copying is not None:
                copying.result()
        # rows whose external id is stored already are skipped by the insert (ON CONFLICT)
        if staged:
            done = store.flush_staged(
                conn, role="dispatcher", actor=actor, keep_problems=MAX_PROBLEMS
            )
            rep.stored, rep.queued, rep.case_ids = done.stored, done.queued, done.case_ids
            rep.bad += done.duplicates
            _keep_problems(
                rep,
                [
                    Problem(
                        _("id {id} repeats in the file").format(id=ext),
                        file=path.name,
                        row=line,
                        field="external_id",
                        rule="incident.external_id.duplicate",
                    )
                    for line, ext in done.duplicate_rows
                ],
            )
            staged -= done.duplicates
        rep.known = staged - rep.stored
        store.record_import(conn, sha, path.name, actor, rep.counts())
    log.info(
        "imported %s: %d rows, %d stored (%d queued for the centre), %d known, %d bad",
        path.name,
        rep.total,
        rep.stored,
        rep.queued,
        rep.known,
        rep.bad,
    )
    return rep
