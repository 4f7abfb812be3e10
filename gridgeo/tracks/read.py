"""Read grid workers' GPS tracks (GPX, GeoJSON, CSV/XLSX, GeoParquet) into flat arrays.

Every reader returns a :class:`TrackPoints` in WGS 84 plus the problems found: a bad row
(no time, unreadable coordinates, another CRS than the file's, no worker) is reported
with file, row and field and left out; good rows are kept.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridgeo.crs import crs_label, resolve_crs
from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.io.schemas import LAT_NAMES, LON_NAMES, find_column
from gridgeo.locate.points import to_srid

log = logging.getLogger(__name__)

__all__ = ["LOCAL_TZ", "TrackPoints", "read_tracks"]

#: Naive time stamps are China Standard Time (UTC+8); days are counted in it too.
LOCAL_TZ = "Asia/Shanghai"
WORKER_NAMES = ("worker", "worker_id", "网格员编号", "网格员", "工号", "staff_id", "编号")
TIME_NAMES = ("time", "timestamp", "datetime", "时间", "定位时间", "采集时间")
ACCURACY_NAMES = ("accuracy", "精度", "定位精度")
SPEED_NAMES = ("speed", "速度")
CRS_NAMES = ("crs", "坐标系")
FORMATS = ("gpx", "geojson", "csv", "xlsx", "parquet")


@dataclass
class TrackPoints:
    """GPS fixes as aligned arrays (one entry per fix), in WGS 84.

    Attributes
    ----------
    worker
        Worker id per fix (object array of str).
    t
        Time per fix in seconds since 1970-01-01 UTC (float64).
    lon, lat
        WGS 84 coordinates (float64).
    accuracy, speed
        Reported horizontal accuracy (m) and speed (m/s); NaN where not given.
    row
        The fix's row in its file (0-based data row; GPX: the n-th track point).
    file
        The file the fixes came from.
    problems
        Rows left out, and why.
    """

    worker: np.ndarray
    t: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    accuracy: np.ndarray
    speed: np.ndarray
    row: np.ndarray
    file: str = ""
    problems: list[Problem] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.t.size)

    def take(self, keep: np.ndarray) -> TrackPoints:
        """The fixes selected by a boolean mask or index array (problems carried over)."""
        return TrackPoints(
            self.worker[keep],
            self.t[keep],
            self.lon[keep],
            self.lat[keep],
            self.accuracy[keep],
            self.speed[keep],
            self.row[keep],
            self.file,
            list(self.problems),
        )

    def to_frame(self) -> pd.DataFrame:
        """The fixes as a DataFrame (columns worker, t, lon, lat, accuracy, speed, row)."""
        return pd.DataFrame(
            {
                "worker": self.worker,
                "t": self.t,
                "lon": self.lon,
                "lat": self.lat,
                "accuracy": self.accuracy,
                "speed": self.speed,
                "row": self.row,
            }
        )

    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, file: str = "") -> TrackPoints:
        """Inverse of :meth:`to_frame` (missing accuracy/speed/row columns are filled)."""
        n = len(df)
        nan = np.full(n, np.nan)
        return cls(
            df["worker"].astype(str).to_numpy(dtype=object),
            df["t"].to_numpy(dtype=np.float64),
            df["lon"].to_numpy(dtype=np.float64),
            df["lat"].to_numpy(dtype=np.float64),
            df["accuracy"].to_numpy(dtype=np.float64) if "accuracy" in df else nan,
            df["speed"].to_numpy(dtype=np.float64) if "speed" in df else nan.copy(),
            df["row"].to_numpy(dtype=np.int64) if "row" in df else np.arange(n),
            file,
        )


def read_tracks(
    path: str | Path,
    *,
    crs: Any = None,
    worker_field: str | None = None,
    worker: str | None = None,
    fmt: str | None = None,
) -> TrackPoints:
    """Read one track file.

    Parameters
    ----------
    path
        A ``.gpx``, ``.geojson``/``.json``, ``.csv``, ``.xlsx`` or ``.parquet`` file.
    crs
        CRS of the coordinates (``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09``, ``EPSG:…``);
        default: the file's own (GeoParquet), else WGS 84 (GPX and GeoJSON by their
        specifications; CSV/XLSX unless a ``crs``/``坐标系`` column says otherwise).
    worker_field
        Column holding the worker id (default: ``网格员编号``, ``worker`` …).
    worker
        Worker id for files without one (GPX: else the track's name, else the file stem).
    fmt
        Force a format (one of :data:`FORMATS`); default: from the suffix.

    Returns
    -------
    TrackPoints
        Good fixes in WGS 84, with ``problems`` listing every row left out.

    Raises
    ------
    InputError
        When the file cannot be read at all or no fix in it is usable.
    """
    path = Path(path)
    fmt = fmt or check_track_path(path)
    if fmt == "gpx":
        table, problems = _read_gpx(path, worker)
    elif fmt == "geojson":
        table, problems = _read_geojson(path)
    elif fmt == "parquet":
        table, problems = _read_parquet(path)
        if crs is None:
            crs = table.attrs.get("crs")
    else:
        try:
            table = pd.read_csv(path, dtype=str) if fmt == "csv" else pd.read_excel(path, dtype=str)
        except Exception as exc:
            raise InputError(
                _("{path}: cannot read as {fmt}").format(path=path, fmt=fmt),
                [Problem(str(exc), file=str(path))],
            ) from exc
        problems = []
    out = _from_table(table, path, crs=crs, worker_field=worker_field, worker=worker)
    out.problems = problems + out.problems
    if not len(out):
        raise InputError(
            _("{path}: no usable GPS fix").format(path=path),
            out.problems or [Problem(_("empty file"))],
        )
    log.info("read %d fixes from %s (%d rows left out)", len(out), path, len(out.problems))
    return out


def check_track_path(path: str | Path) -> str:
    """The track format of ``path`` (from its suffix), once it is known to exist.

    Raises
    ------
    InputError
        For an unknown suffix or a missing file (rules ``tracks.format``, ``file.not_found``).
    """
    path = Path(path)
    fmt = _format_of(path)
    if not path.is_file():
        raise InputError(
            _("cannot read {path}").format(path=path),
            [Problem(_("file not found"), file=str(path), rule="file.not_found")],
        )
    return fmt


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    names = {"json": "geojson", "xls": "xlsx", "geoparquet": "parquet", "txt": "csv"}
    fmt = names.get(suffix, suffix)
    if fmt not in FORMATS:
        raise InputError(
            _("{path}: unknown track format {suffix!r}").format(path=path, suffix=path.suffix),
            [
                Problem(
                    _("use one of {items}").format(items=_(", ").join(FORMATS)),
                    file=str(path),
                    rule="tracks.format",
                )
            ],
        )
    return fmt


def _read_gpx(path: Path, worker: str | None) -> tuple[pd.DataFrame, list[Problem]]:
    import gpxpy
    import gpxpy.gpx

    try:
        gpx = gpxpy.parse(path.read_text(encoding="utf-8"))
    except (gpxpy.gpx.GPXException, UnicodeDecodeError, ValueError) as exc:
        raise InputError(
            _("{path}: not a GPX file").format(path=path), [Problem(str(exc), file=str(path))]
        ) from exc
    rows = []
    for trk in gpx.tracks:
        name = worker or trk.name or path.stem
        for seg in trk.segments:
            for p in seg.points:
                t = p.time.isoformat() if p.time is not None else None
                rows.append((name, t, p.longitude, p.latitude, p.horizontal_dilution, p.speed))
    cols = ["worker", "time", "lon", "lat", "accuracy", "speed"]
    return pd.DataFrame(rows, columns=cols, dtype=object), []


def _read_geojson(path: Path) -> tuple[pd.DataFrame, list[Problem]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(
            _("{path}: not GeoJSON").format(path=path), [Problem(str(exc), file=str(path))]
        ) from exc
    feats = doc.get("features", []) if isinstance(doc, dict) else []
    rows, problems = [], []
    if not isinstance(feats, list):
        feats = []
    for i, f in enumerate(feats):
        f = f if isinstance(f, dict) else {}
        props = f.get("properties")
        props = dict(props) if isinstance(props, dict) else {}
        geom = f.get("geometry")
        geom = geom if isinstance(geom, dict) else {}
        coords = geom.get("coordinates") if geom.get("type") == "Point" else None
        num = (int, float)
        if (
            not isinstance(coords, list)
            or len(coords) < 2
            or not all(isinstance(v, num) and not isinstance(v, bool) for v in coords[:2])
        ):
            problems.append(
                Problem(
                    _("not a Point feature"),
                    file=str(path),
                    row=i,
                    field="geometry",
                    rule="tracks.geometry",
                )
            )
            props.update(lon=None, lat=None)
        else:
            props.update(lon=coords[0], lat=coords[1])
        rows.append(props)
    table = pd.DataFrame(rows, dtype=object)
    table.attrs["bad_rows"] = {p.row for p in problems}
    return table, problems


def _read_parquet(path: Path) -> tuple[pd.DataFrame, list[Problem]]:
    import geopandas as gpd

    try:
        gdf = gpd.read_parquet(path)
    except Exception as exc:
        raise InputError(
            _("{path}: not a GeoParquet file").format(path=path),
            [Problem(str(exc), file=str(path))],
        ) from exc
    if gdf.geometry.geom_type.ne("Point").any():
        raise InputError(
            _("{path}: fixes must be points").format(path=path),
            [
                Problem(
                    _("not a Point geometry"),
                    file=str(path),
                    field="geometry",
                    rule="tracks.geometry",
                )
            ],
        )
    table = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    table["lon"] = gdf.geometry.x.to_numpy()
    table["lat"] = gdf.geometry.y.to_numpy()
    table.attrs["crs"] = gdf.crs
    return table, []


def _column(
    table: pd.DataFrame, names: tuple[str, ...], given: str | None, what: str, path: Path
) -> str | None:
    if given:
        if given not in table.columns:
            raise InputError(
                _("{path}: no column {given!r}").format(path=path, given=given),
                [
                    Problem(
                        _("{what} column missing").format(what=what),
                        file=str(path),
                        field=given,
                        rule="tracks.field",
                    )
                ],
            )
        return given
    return find_column(table.columns, names)


def _from_table(
    table: pd.DataFrame, path: Path, *, crs: Any, worker_field: str | None, worker: str | None
) -> TrackPoints:
    src = str(path)
    wcol = _column(table, WORKER_NAMES, worker_field, "worker", path)
    tcol = _column(table, TIME_NAMES, None, "time", path)
    xcol = _column(table, LON_NAMES, None, "lon", path)
    ycol = _column(table, LAT_NAMES, None, "lat", path)
    missing = [
        n
        for n, c in (
            ("网格员编号", wcol if worker is None else "w"),
            ("时间", tcol),
            ("经度", xcol),
            ("纬度", ycol),
        )
        if c is None
    ]
    if missing:
        raise InputError(
            _("{src}: columns missing: {items}").format(src=src, items=_(", ").join(missing)),
            [
                Problem(_("no {m} column").format(m=m), file=src, field=m, rule="tracks.field")
                for m in missing
            ],
        )
    n = len(table)
    problems: list[Problem] = []
    bad = np.zeros(n, dtype=bool)
    bad[list(table.attrs.get("bad_rows", ()))] = True

    def flag(mask: np.ndarray, message: str, fld: str, rule: str) -> None:
        for i in np.flatnonzero(mask & ~bad):
            problems.append(Problem(message, file=src, row=int(i), field=fld, rule=rule))
        bad[mask] = True

    workers = (table[wcol] if wcol else pd.Series([worker] * n, dtype=object)).astype(object)
    wstr = workers.where(workers.notna(), "").astype(str).str.strip().to_numpy(dtype=object)
    flag(wstr == "", _("no grid worker id"), wcol or "worker", "tracks.worker")
    t = _times(table[tcol])
    flag(~np.isfinite(t), _("no time stamp, or one not recognised"), tcol, "tracks.time")
    lon = pd.to_numeric(table[xcol], errors="coerce").to_numpy(dtype=np.float64)
    lat = pd.to_numeric(table[ycol], errors="coerce").to_numpy(dtype=np.float64)
    flag(
        ~np.isfinite(lon) | (np.abs(lon) > 180),
        _("longitude not recognised or out of range"),
        xcol,
        "tracks.lon",
    )
    flag(
        ~np.isfinite(lat) | (np.abs(lat) > 90),
        _("latitude not recognised or out of range"),
        ycol,
        "tracks.lat",
    )
    ccol = find_column(table.columns, CRS_NAMES)
    file_crs = resolve_crs(crs) if crs is not None else None
    if ccol is not None:
        labels = table[ccol].fillna("").astype(str).str.strip()
        first = labels[labels != ""]
        declared = (
            file_crs
            if file_crs is not None
            else (resolve_crs(first.mode().iloc[0]) if len(first) else resolve_crs("wgs84"))
        )
        same = np.array([_same_crs(v, declared) for v in labels], dtype=bool)
        flag(
            ~same,
            _("the CRS differs from the file's CRS {crs} (one file uses one CRS only)").format(
                crs=crs_label(declared)
            ),
            ccol,
            "tracks.mixed_crs",
        )
        file_crs = declared
    if file_crs is None:
        file_crs = resolve_crs("wgs84")
    ok = ~bad
    x, y = to_srid(lon[ok], lat[ok], file_crs, 4326)
    acc = _optional(table, ACCURACY_NAMES, n)[ok]
    spd = _optional(table, SPEED_NAMES, n)[ok]
    return TrackPoints(wstr[ok], t[ok], x, y, acc, spd, np.flatnonzero(ok), src, problems)


def _same_crs(value: str, declared: Any) -> bool:
    if not value:
        return True
    try:
        other = resolve_crs(value)
    except InputError:
        return False
    if isinstance(other, str) or isinstance(declared, str):
        return other == declared
    return bool(other == declared)


def _optional(table: pd.DataFrame, names: tuple[str, ...], n: int) -> np.ndarray:
    col = find_column(table.columns, names)
    if col is None:
        return np.full(n, np.nan)
    return pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=np.float64)


def _times(col: pd.Series) -> np.ndarray:
    """Seconds since the epoch (UTC); naive stamps are :data:`LOCAL_TZ`; NaN if unreadable."""
    if pd.api.types.is_datetime64_any_dtype(col):
        ts = col
    else:
        text = col.where(col.notna(), None)
        ts = pd.to_datetime(text.astype(object), errors="coerce", utc=False, format="mixed")
    if isinstance(ts.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(ts.dtype):
        if not isinstance(ts.dtype, pd.DatetimeTZDtype):
            ts = ts.dt.tz_localize(LOCAL_TZ, ambiguous="NaT", nonexistent="NaT")
        epoch = pd.Timestamp(0, tz="UTC")
        out = ((ts.dt.tz_convert("UTC") - epoch) / pd.Timedelta(seconds=1)).to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        return np.array(out, dtype=np.float64)
    out = np.full(len(col), np.nan)
    for i, v in enumerate(ts):
        if v is None or v is pd.NaT or (isinstance(v, float) and v != v):
            continue
        stamp = pd.Timestamp(v)
        stamp = stamp.tz_localize(LOCAL_TZ) if stamp.tzinfo is None else stamp
        out[i] = (stamp - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
    return out
