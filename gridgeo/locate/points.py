"""Read incident points (CSV, GeoJSON, Arrow IPC) and bring them into the grids' CRS.

Pure functions: bytes or a path in, arrays out. Every bad row is collected and
reported at once (:class:`~gridgeo.errors.InputError` naming file, row and field).
"""

from __future__ import annotations

import io
import json
import logging
import mmap
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyproj
from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros

from gridgeo.crs import BD09, GCJ02, bd09_to_wgs84, gcj02_to_wgs84, resolve_crs
from gridgeo.errors import CRSError, InputError, Problem
from gridgeo.i18n import _
from gridgeo.io.schemas import LAT_NAMES, LON_NAMES, find_column
from gridgeo.locate.csvout import _load8, _store8  # unaligned 8-byte loads, stores
from gridgeo.locate.tmerc import TMParams, fast_tmerc, tm_forward

log = logging.getLogger(__name__)

__all__ = [
    "FORMATS",
    "STREAMED_FORMATS",
    "PointFile",
    "PointTable",
    "detect_format",
    "read_points",
    "to_srid",
]

FORMATS = ("csv", "geojson", "arrow", "parquet")
#: Bytes of CSV parsed at a time by :class:`PointFile`.
_CSV_BLOCK = 8 << 20
_MAX_SHOWN = 50


@dataclass
class PointTable:
    """Points read from a file: coordinates and optional ids and categories.

    Attributes
    ----------
    x, y
        Coordinates as given (float64).
    ids
        Per-point id (object array of str); the 0-based row number when absent. None
        when the row numbers were not built (:meth:`PointFile.chunks` with
        ``row_numbers=False``): ``row_start`` says which they are.
    category
        Per-point incident category (object array, ``None`` where empty) or ``None``.
    """

    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray | pa.Array | None
    category: np.ndarray | None = None
    #: The coordinates' text as read from a CSV body (Arrow strings), echoed in CSV answers.
    x_text: pa.Array | None = None
    y_text: pa.Array | None = None
    #: Instead of ``x_text``/``y_text``: the body's whole lines ``x,y`` (each with its
    #: ``\n``; Arrow large strings over the body's bytes) of a CSV of just those two
    #: columns, every value plain number text (:meth:`PointFile.chunks` with ``lines``).
    xy_text: pa.Array | None = None
    #: The first row number when the ids are the row numbers (``row_start + i``), else None.
    row_start: int | None = None

    def __len__(self) -> int:
        return int(self.x.size)

    def categories(self, default: str | None) -> Any:
        """Each point's category, ``default`` for a point without one; ``default`` alone
        when the file has no category column (what ``locate_batch``'s ``category`` takes)."""
        if self.category is None:
            return default
        import pandas as pd

        return np.where(pd.isna(self.category), default, self.category)

    def echoed(self) -> dict[str, pa.Array] | None:
        """The CSV body's coordinate text as a CSV answer echoes it (``raw=`` of
        :func:`~gridgeo.locate.csvout.csv_buffer`): the whole lines ``lon,lat`` when the body
        has just those columns, else each column's text where plain; None for other bodies."""
        if self.xy_text is not None:
            return {"lon,lat": self.xy_text}
        if self.x_text is None or self.y_text is None:
            return None
        return {"lon": self.x_text, "lat": self.y_text}


def detect_format(name: str | None = None, content_type: str | None = None) -> str:
    """``csv``, ``geojson`` or ``arrow`` from a file name or an HTTP content type.

    Raises
    ------
    InputError
        When neither says which format it is.
    """
    ct = (content_type or "").split(";")[0].strip().lower()
    if ct in ("text/csv", "application/csv"):
        return "csv"
    if ct in ("application/geo+json", "application/json"):
        return "geojson"
    if ct in (
        "application/vnd.apache.arrow.stream",
        "application/vnd.apache.arrow.file",
        "application/x-arrow",
    ):
        return "arrow"
    if ct in ("application/vnd.apache.parquet", "application/x-parquet"):
        return "parquet"
    suffix = Path(name or "").suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".geojson", ".json"):
        return "geojson"
    if suffix in (".arrow", ".feather", ".ipc", ".arrows"):
        return "arrow"
    if suffix in (".parquet", ".geoparquet"):
        return "parquet"
    said = _(" (content type {content_type!r})").format(content_type=content_type)
    raise InputError(
        _(
            "cannot tell the format of {name}{content_type}: use CSV (text/csv), GeoJSON "
            "(application/geo+json), Arrow IPC (application/vnd.apache.arrow.stream) or "
            "GeoParquet (application/vnd.apache.parquet)"
        ).format(name=_where(name), content_type=said if content_type else ""),
        [Problem(_("unknown format"), file=name, rule="points.format")],
    )


def read_points(
    data: bytes | str | Path,
    *,
    fmt: str | None = None,
    source: str | None = None,
) -> PointTable:
    """Read points from CSV, GeoJSON, Arrow IPC or GeoParquet.

    CSV and Arrow tables need a longitude and a latitude column (names as in
    :data:`gridgeo.io.schemas.LON_NAMES` / ``LAT_NAMES``: ``lon``/``lng``/``longitude``/
    ``long``/``经度``/``x`` and ``lat``/``latitude``/``纬度``/``y``); optional ``id``
    and ``category`` columns are kept. GeoJSON needs a FeatureCollection of Point
    features; ``id`` (feature id or property) and ``category`` properties are kept.
    GeoParquet is read by :class:`PointFile` (lon/lat columns or a WKB point ``geometry``;
    its CRS: :meth:`PointFile.declared_crs`).

    Parameters
    ----------
    data
        File content (bytes) or a path.
    fmt
        ``csv``, ``geojson``, ``arrow`` or ``parquet``; default from the file name.
    source
        Name used in messages (default: the path).

    Returns
    -------
    PointTable

    Raises
    ------
    InputError
        Listing every row with a missing or non-numeric coordinate, a non-point
        geometry, and missing columns.
    """
    if isinstance(data, str | Path):
        path = Path(data)
        source = source or str(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise InputError(
                _("cannot read {path}: {exc}").format(path=path, exc=exc.strerror or exc),
                [Problem(_("cannot read the file"), file=str(path), rule="points.read")],
            ) from None
        fmt = fmt or detect_format(path.name)
    else:
        raw = bytes(data)
        if fmt is None:
            fmt = detect_format(source)
    if fmt not in FORMATS:
        raise InputError(
            _("unknown point format {fmt!r}; use one of {formats}").format(
                fmt=fmt, formats=", ".join(FORMATS)
            )
        )
    if fmt == "geojson":
        table = _read_geojson(raw, source)
    elif fmt == "parquet":
        table = PointFile(raw, fmt, source=source).read_all()
    else:
        table = _read_table(raw, fmt, source)
    log.info("read %d points from %s (%s)", len(table), source or "request body", fmt)
    return table


def _read_table(raw: bytes, fmt: str, source: str | None) -> PointTable:
    try:
        if fmt == "csv":
            import pyarrow.csv as pacsv

            table = pacsv.read_csv(
                io.BytesIO(raw),
                convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
            )
        else:
            table = _read_arrow(raw)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, ValueError) as exc:
        raise _unreadable(source, fmt, exc) from None
    seen: dict[str, int] = {}
    for n in table.column_names:
        seen[n.strip().lower()] = seen.get(n.strip().lower(), 0) + 1
    twice = sorted(n for n, k in seen.items() if k > 1)
    if twice:
        raise _duplicate_columns(source, twice)
    xcol = find_column(table.column_names, LON_NAMES)
    ycol = find_column(table.column_names, LAT_NAMES)
    problems = _missing_xy(source, table.column_names, xcol is None, ycol is None)
    if problems:
        raise InputError(
            _("{where} lacks coordinate columns").format(where=_where(source)), problems
        )
    x, px = _numeric(table.column(xcol), xcol, source)
    y, py = _numeric(table.column(ycol), ycol, source)
    problems = px + py
    if problems:
        raise _bad_values(source, problems)
    n = table.num_rows
    idcol = find_column(table.column_names, ("id",))
    ids = (
        _strings(table.column(idcol))
        if idcol
        # row numbers as text: through Arrow (numpy's astype(str) took 2.5 s per 1 M rows)
        else pc.cast(pa.array(np.arange(n)), pa.string()).to_numpy(zero_copy_only=False)
    )
    catcol = find_column(table.column_names, ("category",))
    category = _strings(table.column(catcol)) if catcol else None
    return PointTable(x=x, y=y, ids=ids, category=category)


def _read_arrow(raw: bytes) -> pa.Table:
    import pyarrow.ipc as ipc

    buf = pa.py_buffer(raw)
    try:
        return ipc.open_file(buf).read_all()
    except pa.ArrowInvalid:
        return ipc.open_stream(buf).read_all()


def _strings(col: pa.ChunkedArray) -> np.ndarray:
    values = pc.cast(col, pa.string()).to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=object)


def _numeric(
    col: pa.ChunkedArray, name: str, source: str | None
) -> tuple[np.ndarray, list[Problem]]:
    problems: list[Problem] = []
    if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
        arr = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
        arr = np.asarray(arr, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(arr))
    else:
        import pandas as pd

        text = pc.cast(col, pa.string()).to_pandas()
        arr = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        problems = _bad_rows(source, name, bad[:_MAX_SHOWN].tolist(), int(bad.size))
    return arr, problems


def _where(source: str | None) -> str:
    """``source``, or "the request body" in the language in use."""
    return source or _("the request body")


def _unreadable(source: str | None, fmt: str, exc: Exception) -> InputError:
    """The error of a table that Arrow (or Parquet) cannot read."""
    return InputError(
        _("{where} is not a readable {fmt} table: {exc}").format(
            where=_where(source), fmt=fmt.upper(), exc=exc
        ),
        [
            Problem(
                _("not a readable {fmt} table").format(fmt=fmt), file=source, rule="points.parse"
            )
        ],
    )


def _duplicate_columns(source: str | None, twice: list[str]) -> InputError:
    """The error of a table with columns named twice (case and spaces ignored)."""
    return InputError(
        _("{where} has duplicate columns: {columns}").format(
            where=_where(source), columns=", ".join(twice)
        ),
        [Problem(_("duplicate column"), file=source, field=n, rule="points.column") for n in twice],
    )


def _missing_xy(source: str | None, names: list[str], no_x: bool, no_y: bool) -> list[Problem]:
    """Problems of a missing longitude and/or latitude column."""
    problems = []
    if no_x:
        problems.append(
            Problem(
                _("no longitude/x column (one of {names}); columns are {columns}").format(
                    names=", ".join(LON_NAMES), columns=", ".join(names) or _("none")
                ),
                file=source,
                field="lon",
                rule="points.column",
            )
        )
    if no_y:
        problems.append(
            Problem(
                _("no latitude/y column (one of {names})").format(names=", ".join(LAT_NAMES)),
                file=source,
                field="lat",
                rule="points.column",
            )
        )
    return problems


def _bad_rows(source: str | None, name: str, rows: list[int], count: int) -> list[Problem]:
    """Problems of the first ``rows`` of a coordinate column with ``count`` bad values."""
    what = _("missing or not a number")  # once, not per row
    out = [
        Problem(what, file=source, row=int(r), field=name, rule="points.coordinate") for r in rows
    ]
    if count > _MAX_SHOWN:
        out.append(
            Problem(
                _("… and {n} more rows").format(n=count - _MAX_SHOWN),
                file=source,
                field=name,
                rule="points.coordinate",
            )
        )
    return out


def _bad_values(source: str | None, problems: list[Problem]) -> InputError:
    """The error of a table with missing or non-numeric coordinates."""
    return InputError(
        _("{where}: {n} bad coordinate values").format(where=_where(source), n=len(problems)),
        problems,
    )


def _scalar(value: Any) -> bool:
    """Text or a number (not a list, object or boolean)."""
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _read_geojson(raw: bytes, source: str | None) -> PointTable:
    where = _where(source)
    try:
        doc = json.loads(raw)
    except RecursionError:
        raise InputError(
            _("{where} is nested too deeply to be GeoJSON").format(where=where),
            [Problem(_("JSON nested too deeply"), file=source, rule="points.parse")],
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(
            _("{where} is not valid JSON: {exc}").format(where=where, exc=exc),
            [Problem(_("not valid JSON"), file=source, rule="points.parse")],
        ) from None
    if (
        not isinstance(doc, dict)
        or doc.get("type") != "FeatureCollection"
        or not isinstance(doc.get("features"), list)
    ):
        raise InputError(
            _("{where} is not a GeoJSON FeatureCollection").format(where=where),
            [
                Problem(
                    _('expected {"type": "FeatureCollection", "features": [...]}'),
                    file=source,
                    rule="points.geojson",
                )
            ],
        )
    feats = doc["features"]
    n = len(feats)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    ids = np.empty(n, dtype=object)
    cats = np.full(n, None, dtype=object)
    problems: list[Problem] = []
    has_cat = False
    for i, f in enumerate(feats):
        if not isinstance(f, dict) or f.get("type") != "Feature":
            problems.append(
                Problem(_("not a GeoJSON Feature"), file=source, row=i, rule="points.feature")
            )
            continue
        geom = f.get("geometry")
        props = f.get("properties")
        if props is not None and not isinstance(props, dict):
            problems.append(
                Problem(
                    _("properties is not an object"),
                    file=source,
                    row=i,
                    field="properties",
                    rule="points.properties",
                )
            )
            continue
        props = props or {}
        fid = f.get("id") if isinstance(f, dict) else None
        prop_id = props.get("id") if isinstance(props, dict) else None
        if fid is None:
            fid = prop_id
        if any(v is not None and not _scalar(v) for v in (fid, prop_id)):
            problems.append(
                Problem(
                    _("id is not text or a number"),
                    file=source,
                    row=i,
                    field="id",
                    rule="points.id",
                )
            )
            continue
        ids[i] = str(fid) if fid is not None else str(i)
        if isinstance(props, dict) and props.get("category") is not None:
            if not isinstance(props["category"], str):
                problems.append(
                    Problem(
                        _("category is not text"),
                        file=source,
                        row=i,
                        field="category",
                        rule="points.category",
                    )
                )
                continue
            cats[i] = str(props["category"])
            has_cat = True
        coords = geom.get("coordinates") if isinstance(geom, dict) else None
        if not isinstance(geom, dict) or geom.get("type") != "Point":
            problems.append(
                Problem(
                    _("{kind} is not a Point").format(kind=geom.get("type"))
                    if isinstance(geom, dict)
                    else _("no geometry is not a Point"),
                    file=source,
                    row=i,
                    field="geometry",
                    rule="points.geometry",
                )
            )
            continue
        try:
            # a position is 2 or 3 numbers (RFC 7946 §3.1.1); not {}, "121,25" or [1, 2, 3, 4]
            if not isinstance(coords, list | tuple) or len(coords) not in (2, 3):
                raise TypeError("not a position")
            if not all(_scalar(c) and not isinstance(c, str) for c in coords):
                raise TypeError("not numbers")
            x[i] = float(coords[0])
            y[i] = float(coords[1])
        except (TypeError, ValueError, IndexError):
            problems.append(
                Problem(
                    _("coordinates are not two numbers"),
                    file=source,
                    row=i,
                    field="geometry",
                    rule="points.coordinate",
                )
            )
            continue
        if not (np.isfinite(x[i]) and np.isfinite(y[i])):
            problems.append(
                Problem(
                    _("coordinates are not finite"),
                    file=source,
                    row=i,
                    field="geometry",
                    rule="points.coordinate",
                )
            )
    if problems:
        shown = problems[:_MAX_SHOWN]
        if len(problems) > _MAX_SHOWN:
            shown.append(
                Problem(
                    _("… and {n} more features").format(n=len(problems) - _MAX_SHOWN),
                    file=source,
                    rule="points.geometry",
                )
            )
        raise InputError(
            _("{where}: {n} unusable features").format(where=where, n=len(problems)), shown
        )
    return PointTable(x=x, y=y, ids=ids, category=cats if has_cat else None)


@lru_cache(maxsize=64)
def _plan(crs: Any, srid: int) -> tuple[str | None, bool, pyproj.Transformer]:
    """(special datum or None, whether lon/lat, transformer to ``srid``) for a CRS, cached."""
    src = resolve_crs(crs)
    if isinstance(src, str):
        return src, True, pyproj.Transformer.from_crs(4326, srid, always_xy=True)
    try:
        transformer = pyproj.Transformer.from_crs(src, srid, always_xy=True)
    except pyproj.exceptions.ProjError as exc:
        # e.g. EPSG:2218, 22300: known to PROJ but with no usable operation to the target
        raise CRSError(
            _(
                "crs={crs!r} ({name}) cannot be transformed to EPSG:{srid} by PROJ ({exc}); "
                "give the coordinates in wgs84, cgcs2000, gcj02, bd09 or another EPSG code"
            ).format(crs=crs, name=src.name, srid=srid, exc=exc),
            [Problem(_("CRS cannot be transformed"), field="crs", rule="query.crs")],
        ) from None
    return None, bool(src.is_geographic), transformer


@lru_cache(maxsize=64)
def _fast(crs: Any, srid: int) -> TMParams | None:
    """The compiled Transverse Mercator for ``crs`` → ``srid`` when PROJ's pipeline is one."""
    _special, geographic, transformer = _plan(crs, srid)
    return fast_tmerc(transformer) if geographic else None


#: From this many points on, a plain lon/lat → Transverse Mercator runs compiled.
FAST_FROM = 64


def _out_of_range(
    n: int, row: int, x: float, y: float, field: str, source: str | None = None
) -> InputError:
    """The error of ``n`` points with longitude/latitude out of range, the first at ``row``."""
    return InputError(
        _(
            "{n} points have longitude/latitude out of range (first: row {row}: {x}, "
            "{y}); are lon and lat swapped or is the CRS projected?"
        ).format(n=n, row=row, x=x, y=y),
        [
            Problem(
                _("longitude/latitude out of range"),
                file=source,
                row=row,
                field=field,
                rule="points.range",
            )
        ],
    )


def check_transformable(crs: Any) -> None:
    """Refuse a CRS that PROJ knows but cannot transform (cached with the transformers).

    Raises
    ------
    CRSError
        Unknown CRS, or no operation from it to WGS 84.
    """
    _plan(crs, 4326)


def to_srid(x: Any, y: Any, crs: Any, srid: int) -> tuple[np.ndarray, np.ndarray]:
    """Transform coordinates given in ``crs`` into EPSG ``srid`` (the registry's).

    Parameters
    ----------
    x, y
        Longitudes/latitudes (or projected coordinates when ``crs`` is projected).
    crs
        Anything :func:`gridgeo.crs.resolve_crs` accepts: ``wgs84``, ``cgcs2000``,
        ``gcj02``, ``bd09``, ``EPSG:…``.
    srid
        Target EPSG code.

    Returns
    -------
    tuple of numpy.ndarray
        ``x, y`` in ``srid``; non-finite where the input was.

    Raises
    ------
    CRSError
        For an unknown CRS.
    """
    try:
        special, geographic, transformer = _plan(crs, int(srid))
    except TypeError:  # unhashable CRS object
        special, geographic, transformer = _plan.__wrapped__(crs, int(srid))
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if geographic:
        bad_x, bad_y = np.abs(x) > 180, np.abs(y) > 90
        bad = bad_x | bad_y
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise _out_of_range(int(bad.sum()), i, x[i], y[i], "lon" if bad_x[i] else "lat")
    if special == GCJ02:
        x, y = gcj02_to_wgs84(x, y)
    elif special == BD09:
        x, y = bd09_to_wgs84(x, y)
    if x.size >= FAST_FROM:
        try:
            fast = _fast(crs, int(srid))
        except TypeError:  # unhashable CRS object
            fast = None
        if fast is not None:
            return tm_forward(x, y, fast)
    tx, ty = transformer.transform(x, y)
    return np.asarray(tx, dtype=np.float64), np.asarray(ty, dtype=np.float64)


def point_to_srid(x: float, y: float, crs: Any, srid: int) -> tuple[float, float]:
    """:func:`to_srid` of one point, without arrays: the same numbers and errors.

    ``GET /locate`` transforms one point per request; the array path's conversions cost
    ~15 times PROJ's own transform of one point.
    """
    try:
        special, geographic, transformer = _plan(crs, int(srid))
    except TypeError:  # unhashable CRS object
        special, geographic, transformer = None, False, None
    if special is not None or transformer is None:  # GCJ-02, BD-09: the array path
        tx, ty = to_srid([x], [y], crs, srid)
        return float(tx[0]), float(ty[0])
    x, y = float(x), float(y)
    if geographic and (abs(x) > 180 or abs(y) > 90):
        raise _out_of_range(1, 0, x, y, "lon" if abs(x) > 180 else "lat")
    tx, ty = transformer.transform(x, y)
    return float(tx), float(ty)


# -- streamed reading of large point files (``POST /locate/batch``) -------------------

#: Formats :class:`PointFile` reads chunk by chunk from a file on disk.
STREAMED_FORMATS = ("csv", "arrow", "parquet")


class _BadRows:
    """Bad coordinate rows of one column over all chunks: the first few and a count."""

    def __init__(self, name: str, source: str | None) -> None:
        self.name, self.source = name, source
        self.rows: list[int] = []
        self.count = 0

    def add(self, offset: int, values: np.ndarray) -> None:
        bad = np.flatnonzero(~np.isfinite(values))
        self.count += int(bad.size)
        room = _MAX_SHOWN - len(self.rows)
        if room > 0:
            self.rows += (bad[:room] + offset).tolist()

    def problems(self) -> list[Problem]:
        if not self.count:
            return []
        return _bad_rows(self.source, self.name, self.rows, self.count)


class _FarRows:
    """Longitudes/latitudes beyond ±180/±90 over all chunks: how many, and the first."""

    def __init__(self, source: str | None) -> None:
        self.source = source
        self.count = 0
        self.first: tuple[int, float, float, str] | None = None

    def add(self, offset: int, x: np.ndarray, y: np.ndarray) -> None:
        far_x, far_y = np.abs(x) > 180, np.abs(y) > 90
        far = far_x | far_y
        n = int(np.count_nonzero(far))
        if n and self.first is None:
            i = int(np.flatnonzero(far)[0])
            self.first = (offset + i, float(x[i]), float(y[i]), "lon" if far_x[i] else "lat")
        self.count += n

    def __bool__(self) -> bool:
        return self.count > 0

    def error(self) -> InputError:
        assert self.first is not None
        row, x, y, field = self.first
        return _out_of_range(self.count, row, x, y, field, self.source)


@njit(cache=True, nogil=True)
def _all_valid(x, y, degrees):  # pragma: no cover - compiled
    """Whether every x, y is finite (and, in ``degrees``, within ±180/±90): then
    :class:`_BadRows` and :class:`_FarRows` would find nothing in them. One pass, no
    temporary arrays (the decode threads run it: the check's serial passes only run
    over a part with a bad value).

    ``|v| <= limit`` is false for NaN and ±inf too, so one compare per value says both
    (the largest finite double as the limit when not in degrees); the rows are counted
    in blocks without a branch (vector instructions, half the time of a test per value
    that returns at the first bad one), a bad value still ends the pass at its block."""
    lx, ly = _limits(degrees)
    n = x.size
    for s in range(0, n, 4096):
        e = min(s + 4096, n)
        ok = 0
        for i in range(s, e):
            ok += (abs(x[i]) <= lx) & (abs(y[i]) <= ly)
        if ok != e - s:
            return False
    return True


#: The largest finite double: ``|v| <= _FINITE_MAX`` only for finite ``v``.
_FINITE_MAX = float(np.finfo(np.float64).max)


@njit(cache=True, nogil=True)
def _limits(degrees):  # pragma: no cover - compiled
    """The largest ``|x|``, ``|y|`` a valid coordinate has: 180, 90 in ``degrees``, else
    the largest finite double (NaN and ±inf are never valid): for :func:`_all_valid` and
    the GeoParquet pages' in-pass check alike."""
    return (180.0, 90.0) if degrees else (_FINITE_MAX, _FINITE_MAX)


def _checked_valid(x: np.ndarray, y: np.ndarray, degrees: bool) -> bool:
    """:func:`_all_valid` of a part's coordinates when both are contiguous float64 arrays
    of the same writability (the kinds the warm-up compiles); False (look row by row)
    otherwise. One compiled pass instead of :class:`_BadRows` and :class:`_FarRows`'s
    ten numpy passes, which ran serially before the answer could start."""
    if not (
        x.dtype == np.float64
        and y.dtype == np.float64
        and x.ndim == y.ndim == 1
        and x.flags.c_contiguous
        and y.flags.c_contiguous
        and x.flags.writeable == y.flags.writeable
    ):
        return False
    return bool(_all_valid(x, y, degrees))


def _float_column(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A coordinate column as float64 (NaN where null or not a number), copying only if needed."""
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        try:  # plain number text: Arrow's parser (pandas only for columns with bad values)
            return pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
        arr = pc.cast(col, pa.float64())
        if arr.null_count:
            arr = pc.fill_null(arr, np.nan)
        return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)
    import pandas as pd

    text = pc.cast(col, pa.string()).to_pandas()
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)


_WKB_POINT = np.dtype([("o", "u1"), ("t", "<u4"), ("x", "<f8"), ("y", "<f8")])


def plain_wkb(col: pa.Array) -> pa.Array | None:
    """``col`` when it is a binary column of 21-byte little-endian 2D WKB points, no null
    (what GeoParquet writers give, and what :func:`~gridgeo.locate.encode.wkb_points`
    writes again from its coordinates, byte for byte); else None.

    Parameters
    ----------
    col
        A geometry column.

    Returns
    -------
    pyarrow.BinaryArray or None
    """
    if not (pa.types.is_binary(col.type) and col.null_count == 0 and len(col)):
        return None
    offsets = np.frombuffer(col.buffers()[1], dtype=np.int32)[
        col.offset : col.offset + len(col) + 1
    ]
    if offsets[-1] - offsets[0] != 21 * len(col) or not np.all(np.diff(offsets) == 21):
        return None
    rec = _wkb_records(col)
    if np.all(rec["o"] == 1) and np.all(rec["t"] == 1):
        return col
    return None


def _wkb_records(col: pa.Array) -> np.ndarray:
    """The values of a :func:`plain_wkb` column as a strided record view (no copy)."""
    offsets = np.frombuffer(col.buffers()[1], dtype=np.int32)[
        col.offset : col.offset + len(col) + 1
    ]
    raw = np.frombuffer(col.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return raw.view(_WKB_POINT)


def _point_type(t: pa.DataType) -> bool:
    """A geometry column type :func:`_wkb_xy` reads: WKB (binary, or hex text) or a GeoArrow
    point (a struct with ``x`` and ``y``)."""
    if pa.types.is_struct(t):
        names = {t.field(i).name for i in range(t.num_fields)}
        return {"x", "y"} <= names
    return any(
        f(t)
        for f in (
            pa.types.is_binary,
            pa.types.is_large_binary,
            pa.types.is_string,
            pa.types.is_large_string,
        )
    )


def _wkb_xy(col: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """x, y of a point column: WKB read straight from the buffer when every value is a
    21-byte little-endian 2D point (:func:`plain_wkb`), other WKB through shapely, a
    GeoArrow ``point`` (a struct of x and y: GeoParquet 1.1's native encoding) by its
    fields; NaN for nulls and empty points."""
    if pa.types.is_struct(col.type):
        names = [col.type.field(i).name for i in range(col.type.num_fields)]
        if "x" in names and "y" in names:
            xs, ys = col.field("x"), col.field("y")
            if col.null_count:  # a null point: NaN, reported as a bad row
                xs = pc.if_else(col.is_valid(), xs, None)
                ys = pc.if_else(col.is_valid(), ys, None)
            return _float_column(xs), _float_column(ys)
    if plain_wkb(col) is not None:
        rec = _wkb_records(col)
        return rec["x"].astype(np.float64), rec["y"].astype(np.float64)
    import shapely

    geoms = shapely.from_wkb(col.to_numpy(zero_copy_only=False), on_invalid="ignore")
    kind = shapely.get_type_id(geoms)
    point = kind == shapely.GeometryType.POINT
    x = np.where(point, shapely.get_x(geoms), np.nan)
    y = np.where(point, shapely.get_y(geoms), np.nan)
    return x, y


def _texts_castable(batch: pa.RecordBatch, names: list[str]) -> None:
    """Cast the non-string columns ``names`` (id, category) to text once, so that a column
    that cannot be text (e.g. a list column) is refused in the check, not mid-answer."""
    for c in names:
        if not pa.types.is_string(batch.column(c).type):
            pc.cast(batch.column(c), pa.string())


#: A checked part of a Parquet row group: its id/category columns (None: none, or read
#: again), x, y.
_PqPart = tuple[pa.RecordBatch | None, np.ndarray, np.ndarray]
#: Rows of a Parquet row group at most decoded whole in a thread (a larger one is read
#: batch by batch: memory stays bounded whatever the file's row groups).
_PQ_GROUP_ROWS = 1 << 20


class PointFile:
    """A CSV, Arrow IPC or (Geo)Parquet point file (or body in memory) read in chunks of
    bounded size.

    :meth:`check` reads it once and raises the same :class:`~gridgeo.errors.InputError`
    as :func:`read_points` (missing or duplicate columns; every bad coordinate by row,
    the first 50 shown); :meth:`chunks` then yields ``(first_row, PointTable)`` pieces
    of at most ``chunk`` points. A CSV or Parquet file's first batches read by
    :meth:`check` are kept, with their parsed coordinates, up to ``keep_bytes``:
    :meth:`chunks` reads again only the rest (a file of up to ~1 M points is read once);
    of a CSV without quotes read by blocks, past ``keep_bytes`` the blocks' parsed
    coordinates are kept (up to ``keep_xy_bytes``) and only their text is parsed again. A
    (Geo)Parquet file's row groups are decoded two at a time and only their checked x, y
    kept (with the id/category columns within ``keep_bytes``, alone within
    ``keep_xy_bytes``): a file of up to ~8 M points is decoded once. Memory stays within
    ``keep_bytes`` + ``keep_xy_bytes`` plus a few blocks (row groups) and one chunk whatever
    the file's size.

    Parameters
    ----------
    path
        The file, or its bytes (a :class:`pyarrow.Buffer`, ``bytes``: a body held in memory).
    fmt
        ``csv``, ``arrow`` or ``parquet`` (GeoParquet: a WKB point ``geometry`` column
        stands in for lon/lat columns).
    chunk
        Points per chunk.
    source
        Name used in messages.
    keep_bytes
        Bytes of batches (and their parsed coordinates) :meth:`check` keeps for
        :meth:`chunks` (0: read twice).
    degrees
        The coordinates are longitude/latitude: :meth:`check` refuses values beyond
        ±180/±90 too (as :func:`to_srid` would, but before the answer starts).
    lines
        A CSV of just the two coordinate columns, without quotes, whose lines are plain
        number text: :meth:`chunks` gives its lines as they are (``PointTable.xy_text``,
        no ``x_text``/``y_text``), found by a compiled scan instead of parsed again, and
        :meth:`check` keeps only coordinates (up to ``keep_bytes + keep_xy_bytes``).
    pages
        GeoParquet: the body's pages decoded while it arrived
        (:class:`~gridgeo.locate.parquetin.PageScan`), taken by :meth:`check` where the
        footer agrees (then dropped).
    spill
        A CSV read by blocks: the parsed coordinates of the blocks past ``keep_xy_bytes``
        are written to an unnamed temporary file (16 bytes a row, in the system's
        temporary folder) and read back by :meth:`chunks` instead of parsed again (a body
        of 50 M points: ~6 s of CPU less, 800 MB on disk, no more memory). A failed write
        (a full disk) stops spilling: the rest is parsed again as without it.
    decoders
        GeoParquet: the threads that decode its row groups, two at a time (the service
        keeps two for its life and gives them to every body: the memory the last body
        freed is in their allocator arenas, so the next body's x, y come without page
        faults — ~4-5 k faults and ~20 ms of a 5 M-point check's CPU). None: two threads
        made for this file's check and ended with it (a process that forks later, as the
        partitioner's pool does, then runs no thread of ours).
    """

    def __init__(
        self,
        path: Path | pa.Buffer | bytes,
        fmt: str,
        *,
        chunk: int = 100_000,
        source: str | None = None,
        keep_bytes: int = 64 << 20,
        degrees: bool = False,
        keep_xy_bytes: int = 64 << 20,
        lines: bool = False,
        pages: dict[int, Any] | None = None,
        spill: bool = False,
        decoders: Executor | None = None,
    ):
        if fmt not in STREAMED_FORMATS:
            raise ValueError(f"not a streamed format: {fmt}")
        self.data: pa.Buffer | None = None
        if isinstance(path, pa.Buffer | bytes | bytearray | memoryview):
            self.data = path if isinstance(path, pa.Buffer) else pa.py_buffer(path)
            self.path = None
        else:
            self.path = Path(path)
        self.fmt, self.chunk = fmt, chunk
        self.decoders = decoders
        self.source, self.degrees = source, degrees
        self.keep_bytes = keep_bytes if fmt != "arrow" else 0  # Arrow is mapped: no re-read cost
        self.rows: int | None = None
        self._cols: dict[str, str | None] = {}
        self._blocks: list[tuple[int, int]] | bool | None = False  # False: not looked at
        self._block_rows: list[int] = []
        self._raw: Any = path if isinstance(path, bytes) else None
        self._kept: list[tuple[pa.RecordBatch, np.ndarray, np.ndarray]] = []
        self._keeping = True
        #: Past ``keep_bytes``, a CSV read by blocks keeps each block's coordinates (16
        #: bytes a row) up to ``keep_xy_bytes``: :meth:`chunks` parses its text again but
        #: converts no number twice.
        self.keep_xy_bytes = keep_xy_bytes if fmt in ("csv", "parquet") else 0
        self._xy_kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.spill = spill
        self._spill: _XySpill | None = None
        #: GeoParquet: each row group's checked parts (:meth:`_pq_check`), by row group.
        self._pq_kept: dict[int, list[_PqPart]] = {}
        self.lines = lines and fmt == "csv"
        self._pages = pages if fmt == "parquet" else None

    # -- columns ------------------------------------------------------------------------
    def _input(self) -> Any:
        """What pyarrow's readers open: the file's path or a reader of the bytes in memory."""
        return pa.BufferReader(self.data) if self.data is not None else str(self.path)

    def _head(self) -> bytes:
        """The first line (at most 1 MiB) of the file, with its line end."""
        if self.data is not None:
            raw = memoryview(self.data)[: 1 << 20].tobytes()
            end = raw.find(b"\n")
            return raw if end < 0 else raw[: end + 1]
        assert self.path is not None
        with self.path.open("rb") as fh:
            return fh.readline(1 << 20)

    def _names(self) -> list[str]:
        if self.fmt == "csv":
            import csv

            head = self._head().decode("utf-8-sig", errors="replace")
            return next(csv.reader([head.rstrip("\r\n")]), [])
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.read_schema(self._input()).names
        return self._arrow_reader().schema.names

    def _columns(self) -> dict[str, str | None]:
        if self._cols:
            return self._cols
        names = self._names()
        seen: dict[str, int] = {}
        for n in names:
            seen[n.strip().lower()] = seen.get(n.strip().lower(), 0) + 1
        twice = sorted(n for n, k in seen.items() if k > 1)
        if twice:
            raise _duplicate_columns(self.source, twice)
        cols = {
            "x": find_column(names, LON_NAMES),
            "y": find_column(names, LAT_NAMES),
            "id": find_column(names, ("id",)),
            "category": find_column(names, ("category",)),
            "geometry": None,
        }
        if (cols["x"] is None or cols["y"] is None) and self.fmt == "parquet":
            cols["geometry"] = find_column(names, ("geometry", "geom"))
        if cols["geometry"] is None:
            problems = _missing_xy(self.source, names, cols["x"] is None, cols["y"] is None)
            if problems:
                raise InputError(
                    _("{where} lacks coordinate columns").format(where=_where(self.source)),
                    problems,
                )
        self._cols = cols
        return cols

    # -- raw batches ----------------------------------------------------------------------
    def _arrow_reader(self) -> Any:
        import pyarrow.ipc as ipc

        # zero copy: batches point into the mapped file or the body in memory
        source = pa.memory_map(str(self.path)) if self.data is None else self._input()
        try:
            return ipc.open_file(source)
        except pa.ArrowInvalid:
            source.seek(0)
            return ipc.open_stream(source)

    def _csv_convert(self, text_xy: bool) -> Any:
        """pyarrow's CSV convert options: the wanted columns, ids and categories as text,
        coordinates as text (``text_xy``) or numbers."""
        import pyarrow.csv as pacsv

        cols = self._columns()
        wanted = [c for c in cols.values() if c is not None]
        types = {c: pa.string() for c in (cols["id"], cols["category"]) if c}
        xy_type = pa.string() if text_xy else pa.float64()
        types.update({cols["x"]: xy_type, cols["y"]: xy_type})
        return pacsv.ConvertOptions(
            column_types=types, include_columns=wanted, strings_can_be_null=True
        )

    def _batches(self, text_xy: bool = False) -> Iterator[pa.RecordBatch]:
        """The file's batches (a CSV by pyarrow's streaming reader)."""
        cols = self._columns()
        wanted = [c for c in cols.values() if c is not None]
        if self.fmt == "csv":
            import pyarrow.csv as pacsv

            reader = pacsv.open_csv(
                self._input(),
                read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK, use_threads=True),
                convert_options=self._csv_convert(text_xy),
            )
            yield from reader
        elif self.fmt == "parquet":
            import pyarrow.parquet as pq

            # pre_buffer (pyarrow's default) reads ahead every row group's column chunks and
            # holds them: a 50 M-point body took +1 GB. Row group by row group instead.
            yield from pq.ParquetFile(self._input(), pre_buffer=False).iter_batches(
                batch_size=self.chunk, columns=wanted
            )
        else:
            reader = self._arrow_reader()
            if hasattr(reader, "num_record_batches"):
                for i in range(reader.num_record_batches):
                    yield reader.get_batch(i)
            else:
                yield from reader

    def _csv_raw(self) -> Any:
        """The CSV's bytes with a C ``find`` (``bytes`` in memory, or the file mapped)."""
        if self._raw is None:
            if self.data is not None:
                self._raw = self.data.to_pybytes()  # a copy only for a pyarrow Buffer
            else:
                assert self.path is not None
                if self.path.stat().st_size == 0:
                    return b""
                with self.path.open("rb") as fh:
                    self._raw = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        return self._raw

    def _csv_blocks(self) -> list[tuple[int, int]] | None:
        """Byte ranges of ~8 MiB of whole rows after the header when no row holds a quote
        (then every newline ends a row: a range can be parsed alone, two at a time in
        threads, and read again from its start instead of from the top of the file);
        else None (pyarrow's streaming reader)."""
        if self._blocks is not False:
            return self._blocks  # type: ignore[return-value]
        self._blocks = None
        raw = self._csv_raw()
        size, head = len(raw), len(self._head())
        if size <= head or raw.find(b'"', head) >= 0:
            return None
        blocks, start = [], head
        while start < size:
            end = min(start + _CSV_BLOCK, size)
            if end < size:
                nl = raw.find(b"\n", end)
                end = size if nl < 0 else nl + 1
            blocks.append((start, end))
            start = end
        self._blocks = blocks
        return blocks

    def _csv_block_parts(
        self, blocks: list[tuple[int, int]], first: int, convert: Any
    ) -> Iterator[tuple[pa.RecordBatch, np.ndarray, np.ndarray]]:
        """``(batch, x, y)`` of each block from ``first`` on: each block parsed (one
        thread each, no chunks to combine) and its coordinates converted in one of two
        threads, at most three blocks ahead (two parsed while one is used), in order."""
        from concurrent.futures import ThreadPoolExecutor

        raw = memoryview(self._csv_raw())
        names = self._names()
        rows: list[int] = []
        ahead: list[Any] = []
        with ThreadPoolExecutor(2, thread_name_prefix="gridgeo-csv") as pool:
            try:
                for i, (start, end) in enumerate(blocks[first:], first):
                    xy = self._xy_kept.pop(i, None)  # kept by check(): not converted again
                    ahead.append(
                        pool.submit(self._csv_block, raw, start, end, names, convert, xy, i)
                    )
                    if len(ahead) < 3:
                        continue
                    part = ahead.pop(0).result()
                    rows.append(part[0].num_rows)
                    yield part
                while ahead:
                    part = ahead.pop(0).result()
                    rows.append(part[0].num_rows)
                    yield part
            finally:
                for f in ahead:
                    f.cancel()
        if first == 0:
            self._block_rows = rows  # read whole: where each block starts, for chunks()

    def _csv_block(
        self,
        raw: memoryview,
        start: int,
        end: int,
        names: list[str],
        convert: Any,
        xy: tuple[np.ndarray, np.ndarray] | None = None,
        block: int | None = None,
    ) -> tuple[pa.RecordBatch, np.ndarray, np.ndarray]:
        """One block's batch and coordinates (``xy`` when given or spilled by :meth:`check`
        as block number ``block``; any thread)."""
        spill = self._spill
        if xy is None and spill is not None and block is not None and self.rows is not None:
            xy = spill.read(block)  # checked: every block's coordinates written
        if self.rows is not None and self._by_lines():  # checked: chunks() reads
            if xy is None:  # past the budget: the numbers parsed again, not the text
                x, y = self._csv_numbers(raw, start, end, names)
            else:
                x, y = xy
            starts = _line_starts(np.frombuffer(raw[start:end], np.uint8), _LINE_BYTES)
            if starts.size == len(x) + 1:  # the rows check() parsed: no empty line
                starts += start  # over the whole body: pieces of blocks join uncopied
                text = pa.Array.from_buffers(
                    pa.large_string(),
                    starts.size - 1,
                    [None, pa.py_buffer(starts), pa.py_buffer(raw)],
                )
                return pa.RecordBatch.from_arrays([text], [_LINES]), x, y
            xy = (x, y)

        body = pa.py_buffer(raw[start:end])
        try:
            table = _csv_rows(body, names, convert)
        except pa.ArrowInvalid:
            if not (self.rows is None and self._by_lines()):
                raise
            # check() of lines parses numbers straight away; a block with a value that is
            # not a number is parsed as text (every bad row named, as before)
            table = _csv_rows(body, names, self._csv_convert(True))
        batch = table.combine_chunks().to_batches()
        if not batch:
            batch = [pa.RecordBatch.from_pylist([], schema=table.schema)]
        if xy is not None and len(xy[0]) == batch[0].num_rows:
            return batch[0], *xy
        x, y = self._xy(batch[0])
        return batch[0], x, y

    def _csv_numbers(
        self, raw: memoryview, start: int, end: int, names: list[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """A checked block's two coordinate columns parsed straight to numbers."""
        table = _csv_rows(pa.py_buffer(raw[start:end]), names, self._csv_convert(False))
        cols = self._columns()
        return _float_column(table.column(cols["x"])), _float_column(table.column(cols["y"]))

    def _parts(
        self, text_xy: bool = False, first_block: int = 0
    ) -> Iterator[tuple[pa.RecordBatch, np.ndarray, np.ndarray]]:
        """``(batch, x, y)`` of the file's batches (:meth:`_batches`), a CSV without quotes
        by blocks from ``first_block`` (:meth:`_csv_blocks`)."""
        if self.fmt == "csv" and self._csv_blocks() is not None:
            blocks = self._csv_blocks()
            assert blocks is not None
            yield from self._csv_block_parts(blocks, first_block, self._csv_convert(text_xy))
            return
        for batch in self._batches(text_xy):
            yield (batch, *self._xy(batch))

    def _sliced(
        self, text_xy: bool = False, skip: int = 0
    ) -> Iterator[tuple[pa.RecordBatch, np.ndarray, np.ndarray]]:
        """``(batch, x, y)`` of at most ``chunk`` rows, the first ``skip`` rows left out (a
        CSV read by blocks starts at the block holding row ``skip``: parsed once)."""
        first = 0
        if self._block_rows:
            while first < len(self._block_rows) and skip >= self._block_rows[first]:
                skip -= self._block_rows[first]
                first += 1
        for batch, x, y in self._parts(text_xy, first_block=first):
            if skip >= batch.num_rows:
                skip -= batch.num_rows
                continue
            if skip:
                batch, x, y, skip = batch.slice(skip), x[skip:], y[skip:], 0
            for start in range(0, batch.num_rows, self.chunk):
                end = start + self.chunk
                yield batch.slice(start, self.chunk), x[start:end], y[start:end]

    def _by_lines(self) -> bool:
        """The body's lines are given as they are (see ``lines``): a quote-free CSV of
        exactly the two coordinate columns, read by blocks."""
        if not self.lines or not self._text_xy() or self._csv_blocks() is None:
            return False
        cols = self._columns()
        return self._names() == [cols["x"], cols["y"]]

    def _text_xy(self) -> bool:
        """CSV coordinates are read as text (parsed here; the text echoed in CSV answers)."""
        return self.fmt == "csv" and self._columns()["geometry"] is None

    def _xy(self, batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray]:
        cols = self._cols
        if cols["geometry"] is not None:
            col = batch.column(cols["geometry"])
            if not _point_type(col.type):  # e.g. numbers or a list: not points (was a 500)
                raise InputError(
                    _(
                        "{where}: the column {column} holds {type}, not points: use WKB points "
                        "or GeoArrow points (x, y)"
                    ).format(where=_where(self.source), column=cols["geometry"], type=col.type),
                    [
                        Problem(
                            _("not WKB or GeoArrow points"),
                            file=self.source,
                            field=cols["geometry"],
                            rule="points.geometry",
                        )
                    ],
                )
            return _wkb_xy(col)
        return _float_column(batch.column(cols["x"])), _float_column(batch.column(cols["y"]))

    def _keep(self, batch: pa.RecordBatch, x: np.ndarray, y: np.ndarray, kept: int) -> int:
        """Keep a batch :meth:`check` read while within ``keep_bytes``; the bytes kept."""
        size = batch.nbytes + x.nbytes + y.nbytes
        if not self._keeping or kept + size > self.keep_bytes:
            self._keeping = False  # stop keeping: the rest is read again
            return kept
        self._kept.append((batch, x, y))
        return kept + size

    # -- the two passes -------------------------------------------------------------------
    def declared_crs(self) -> str | None:
        """The CRS a GeoParquet file gives its point column (its ``geo`` metadata), as text
        :func:`~gridgeo.crs.resolve_crs` reads (``"EPSG:4549"``, ``"OGC:CRS84"``, or PROJJSON);
        None when the points come from lon/lat columns or the file gives none (GeoParquet
        then means OGC:CRS84: longitude/latitude on WGS 84, the service's default).

        Raises
        ------
        InputError
            When the ``geo`` metadata is not JSON or its CRS is not one PROJ knows.
        """
        if self.fmt != "parquet":
            return None
        try:
            column = self._columns()["geometry"]
            if column is None:
                return None
            import pyarrow.parquet as pq

            geo = (pq.read_schema(self._input()).metadata or {}).get(b"geo")
        except (pa.ArrowException, OSError) as exc:
            raise _unreadable(self.source, self.fmt, exc) from None
        if geo is None:
            return None
        try:
            crs = json.loads(geo)["columns"][column].get("crs")
            if crs is None:  # absent: OGC:CRS84; null: unknown — both read as lon/lat
                return None
            parsed = pyproj.CRS.from_json_dict(crs)
            usable = (parsed.is_geographic or parsed.is_projected) and not parsed.is_geocentric
        except (ValueError, KeyError, TypeError, AttributeError, pyproj.exceptions.CRSError):
            usable = False
        if not usable:
            raise InputError(
                _("{where}: the GeoParquet metadata gives no usable CRS for {column}").format(
                    where=_where(self.source), column=column
                ),
                [Problem(_("not a CRS PROJ knows"), field=column, rule="points.crs")],
            )
        authority = parsed.to_authority(min_confidence=90)
        return ":".join(authority) if authority else parsed.to_json()

    def read_all(self) -> PointTable:
        """Every point of the file in one table (checked first: errors by row)."""
        self.check()
        parts = [pts for _start, pts in self.chunks()]
        if not parts:
            return PointTable(np.empty(0), np.empty(0), np.empty(0, dtype=object))
        cats = [p.category for p in parts]
        return PointTable(
            x=np.concatenate([p.x for p in parts]),
            y=np.concatenate([p.y for p in parts]),
            ids=np.concatenate([p.ids for p in parts]),
            category=None if cats[0] is None else np.concatenate(cats),  # type: ignore[arg-type]
        )

    def check(self) -> int:
        """Read the whole file once; the number of points, or the input's errors.

        Raises
        ------
        InputError
            As :func:`read_points` would, with row numbers over the whole file.
        """
        try:
            cols = self._columns()
        except (pa.ArrowException, OSError) as exc:  # not Arrow/Parquet at all
            raise _unreadable(self.source, self.fmt, exc) from None
        if self.fmt == "parquet":
            try:
                return self._pq_check()
            finally:
                self._pages = None  # the pages decoded ahead: taken, or not needed again
        xname = cols["x"] or cols["geometry"] or "lon"
        yname = cols["y"] or cols["geometry"] or "lat"
        bad_x, bad_y = _BadRows(xname, self.source), _BadRows(yname, self.source)
        far = _FarRows(self.source) if self.degrees else None
        rows = kept = kept_xy = 0
        self._kept, self._keeping, self._xy_kept = [], True, {}
        self._close_spill()
        by_blocks = self.fmt == "csv" and self._csv_blocks() is not None  # a part per block
        keep_xy, text_xy = self.keep_xy_bytes, self._text_xy()
        if by_blocks and self._by_lines():  # no text kept: every block's coordinates
            self._keeping, keep_xy = False, self.keep_bytes + self.keep_xy_bytes
            text_xy = False  # numbers parsed straight away (0.10 vs 0.15 s CPU per 1 M)
        texts = [c for c in (cols["id"], cols["category"]) if c is not None]
        try:
            for block, (batch, x, y) in enumerate(self._parts(text_xy)):
                _texts_castable(batch, texts)
                if not _checked_valid(x, y, far is not None):  # else nothing to find
                    bad_x.add(rows, x)
                    bad_y.add(rows, y)
                    if far is not None:
                        far.add(rows, x, y)
                rows += batch.num_rows
                if self.keep_bytes and self._keeping:
                    kept = self._keep(batch, x, y, kept)
                text_kept = self.keep_bytes and self._keeping
                if by_blocks and not text_kept and kept_xy + x.nbytes + y.nbytes <= keep_xy:
                    self._xy_kept[block] = (x, y)  # the text is parsed again, not the numbers
                    kept_xy += x.nbytes + y.nbytes
                elif by_blocks and not text_kept and self.spill:
                    self._spilled(block, x, y)
        except InputError:
            self._forget()
            raise
        except (pa.ArrowException, OSError, ValueError) as exc:
            self._forget()
            raise _unreadable(self.source, self.fmt, exc) from None
        problems = bad_x.problems() + bad_y.problems()
        if problems:
            self._forget()
            raise _bad_values(self.source, problems)
        if far:
            self._forget()
            raise far.error()
        if self._spill is not None:
            try:
                self._spill.flush()
            except OSError:
                self._close_spill()  # the blocks are parsed again
        self.rows = rows
        return rows

    def _spilled(self, block: int, x: np.ndarray, y: np.ndarray) -> None:
        """Write a checked block's coordinates to the spill file (opened on first use);
        on a failed write stop spilling (the blocks not written are parsed again)."""
        if self._spill is None:
            try:
                self._spill = _XySpill()
            except OSError:
                self.spill = False
                return
        if not self._spill.write(block, x, y):
            self.spill = False

    def _close_spill(self) -> None:
        spill, self._spill = self._spill, None
        if spill is not None:
            spill.close()

    def _forget(self) -> None:
        """Drop what :meth:`check` kept (it raised)."""
        self._kept, self._xy_kept = [], {}
        self._close_spill()

    def chunks(self, row_numbers: bool = True) -> Iterator[tuple[int, PointTable]]:
        """``(first row, points)`` pieces of at most ``chunk`` points, after :meth:`check`.

        ``ids`` is an Arrow string array here (the row numbers over the whole file when
        there is no id column), not an object array: no Python string per point. The
        batches :meth:`check` kept come first (parsed once); the rest is read again.

        ``row_numbers=False``: the row numbers are not built as text (``ids`` None,
        ``row_start`` the first row's number) — for a writer that writes them itself
        (:meth:`~gridgeo.locate.encode._ParquetEncoder.prepare`'s ``row_start``).
        """
        if self.fmt == "parquet":
            yield from self._pq_chunks(row_numbers)
            return
        text_xy = self._text_xy()
        kept, self._kept = self._kept, []  # read once: memory freed as the answer goes
        kept_rows = sum(b.num_rows for b, _x, _y in kept)

        def parts() -> Iterator[tuple[pa.RecordBatch, np.ndarray, np.ndarray]]:
            yield from _pieces(kept, self.chunk)
            if self.rows is None or kept_rows < self.rows:  # else all kept: not read again
                yield from self._sliced(text_xy, skip=kept_rows)

        start = 0
        # CSV blocks end at any row: their pieces are joined into whole chunks (each chunk
        # costs a few ms beyond its rows to locate and write; 67 → 50 chunks at 5 M)
        names = self._names() if self.fmt == "csv" else []
        pieces = _whole_chunks(parts(), self.chunk, names) if self.fmt == "csv" else parts()
        try:
            for batch, x, y in pieces:
                yield start, self._points(batch, x, y, start, text_xy, row_numbers)
                start += batch.num_rows
        finally:
            pieces.close()  # (its blocks' threads done) before the spill file is closed
            self._close_spill()  # read once

    # -- GeoParquet: every row group decoded once ---------------------------------------
    def _pq_sizes(self) -> list[int]:
        """Rows of each row group (from the footer)."""
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(self._input(), pre_buffer=False).metadata
        return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]

    def _pq_rest(self) -> list[str]:
        """The columns a chunk needs besides the coordinates (id, category)."""
        return [c for c in (self._cols["id"], self._cols["category"]) if c is not None]

    def _pq_batches(self, group: int, columns: list[str]) -> Iterator[pa.RecordBatch]:
        """Row group ``group``'s batches of ``columns``, at most ``chunk`` rows each (its
        own reader: any thread; pyarrow's threads off: two groups are read at once)."""
        import pyarrow.parquet as pq

        reader = pq.ParquetFile(self._input(), pre_buffer=False)
        yield from reader.iter_batches(
            batch_size=self.chunk, row_groups=[group], columns=columns, use_threads=False
        )

    def _pq_part(self, batch: pa.RecordBatch) -> _PqPart:
        """A batch checked: its coordinates, and its id/category columns (or None)."""
        rest = self._pq_rest()
        _texts_castable(batch, rest)
        x, y = self._xy(batch)
        return (batch.select(rest) if rest else None), x, y

    def _pq_group(self, group: int) -> list[_PqPart]:
        """A whole row group checked (any thread: no state changed): its WKB points read
        from the pages (:mod:`~gridgeo.locate.parquetin`) when plain, else by pyarrow."""
        return self._pq_checked_group(group)[0]

    def _pq_checked_group(self, group: int) -> tuple[list[_PqPart], bool | None]:
        """:meth:`_pq_group`, and whether all its x, y are valid as :func:`_all_valid`
        says when the pass that read them from the pages checked them (None: not checked)."""
        xy = self._pq_points_xy(group)
        if xy is None:
            wanted = [c for c in self._cols.values() if c is not None]
            return [self._pq_part(b) for b in self._pq_batches(group, wanted)], None
        x, y, valid = xy
        rest = self._pq_rest()
        if not rest:
            return [
                (None, x[a : a + self.chunk], y[a : a + self.chunk])
                for a in range(0, len(x), self.chunk)
            ], valid
        parts, at = [], 0
        for batch in self._pq_batches(group, rest):  # the same batches as with the points
            _texts_castable(batch, rest)
            n = batch.num_rows
            parts.append((batch, x[at : at + n], y[at : at + n]))
            at += n
        return parts, valid

    def _pq_points_xy(self, group: int) -> tuple[np.ndarray, np.ndarray, bool | None] | None:
        """x, y of a row group's plain WKB points read from its pages, and whether they
        are all valid (:func:`_all_valid`; None: not checked); None when the column or the
        row group is not that (:func:`~gridgeo.locate.parquetin.read_checked_points`)."""
        import pyarrow.parquet as pq

        from gridgeo.locate import parquetin

        column = self._cols["geometry"]
        if column is None:
            return None
        source = self._input()
        if self.data is None:
            source = pa.memory_map(str(self.path))
        meta = pq.ParquetFile(source, pre_buffer=False)
        leaf = parquetin.point_column(meta.schema, column)
        if leaf is None:
            return None
        max_def = meta.schema.column(leaf).max_definition_level
        return parquetin.read_checked_points(
            source, meta.metadata, group, leaf, max_def, self._pages, _limits(self.degrees)
        )

    def _pq_valid_group(self, group: int) -> tuple[list[_PqPart], bool]:
        """:meth:`_pq_group`, and whether all its coordinates are valid (:func:`_all_valid`:
        its bad and far rows need not be looked for), in the same thread: checked while
        the points were read from the pages, else by :func:`_all_valid` here."""
        parts, valid = self._pq_checked_group(group)
        if valid is None:
            valid = all(_all_valid(x, y, self.degrees) for _r, x, y in parts)
        return parts, valid

    def _pq_read(
        self,
    ) -> Iterator[tuple[int, Iterator[_PqPart] | list[_PqPart], bool]]:
        """``(row group, its checked parts, all its values valid)`` in order: row groups
        of up to :data:`_PQ_GROUP_ROWS` rows decoded two at a time in threads (pyarrow's
        decode and the WKB read let go of the GIL), and their values checked there; a
        larger one batch by batch here (bounded memory; its values checked by the caller).
        The threads are ``decoders`` when given (bodies checked at once share them), else
        two of this check's own."""
        from concurrent.futures import ThreadPoolExecutor, wait

        wanted = [c for c in self._cols.values() if c is not None]
        ahead: deque[Any] = deque()
        own = None if self.decoders is not None else ThreadPoolExecutor(2, "gridgeo-parquet")
        pool = self.decoders or own
        try:
            for group, rows in enumerate(self._pq_sizes()):
                if rows > _PQ_GROUP_ROWS:
                    while ahead:
                        yield ahead.popleft().result()
                    batches = self._pq_batches(group, wanted)
                    yield group, (self._pq_part(b) for b in batches), False
                    continue
                ahead.append(pool.submit(lambda g=group: (g, *self._pq_valid_group(g))))
                if len(ahead) > 2:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()
        finally:
            for f in ahead:
                f.cancel()
            wait(ahead)  # the groups being decoded: done before this body's check ends
            if own is not None:
                own.shutdown()

    def _pq_check(self) -> int:
        """:meth:`check` of a (Geo)Parquet file: each row group decoded once, two at a
        time; the checked coordinates kept (with the id/category columns while within
        ``keep_bytes``, alone within ``keep_xy_bytes`` more): :meth:`chunks` decodes again
        only what was not kept (16 bytes a point: a 5 M-point file is not read twice)."""
        cols = self._cols
        bad_x = _BadRows(cols["x"] or cols["geometry"] or "lon", self.source)
        bad_y = _BadRows(cols["y"] or cols["geometry"] or "lat", self.source)
        far = _FarRows(self.source) if self.degrees else None
        rows = kept = kept_xy = 0
        self._pq_kept = {}
        try:
            for group, parts, valid in self._pq_read():
                keep: list[_PqPart] = []  # the group's first parts (the rest: read again)
                keeping = True
                for rest, x, y in parts:
                    if not valid:  # (a valid group has no bad or far row to name)
                        bad_x.add(rows, x)
                        bad_y.add(rows, y)
                        if far is not None:
                            far.add(rows, x, y)
                    rows += len(x)
                    size = x.nbytes + y.nbytes
                    more = 0 if rest is None else rest.nbytes
                    if keeping and kept + size + more <= self.keep_bytes:
                        keep.append((rest, x, y))
                        kept += size + more
                    elif keeping and kept_xy + size <= self.keep_xy_bytes:
                        keep.append((None, x, y))  # the ids are read again, not the points
                        kept_xy += size
                    else:
                        keeping = False
                if keep:
                    self._pq_kept[group] = keep
        except InputError:
            self._pq_kept = {}
            raise
        except (pa.ArrowException, OSError, ValueError) as exc:
            self._pq_kept = {}
            raise _unreadable(self.source, self.fmt, exc) from None
        problems = bad_x.problems() + bad_y.problems()
        if problems:
            self._pq_kept = {}
            raise _bad_values(self.source, problems)
        if far:
            self._pq_kept = {}
            raise far.error()
        self.rows = rows
        return rows

    def _pq_chunks(self, row_numbers: bool = True) -> Iterator[tuple[int, PointTable]]:
        """:meth:`chunks` of a (Geo)Parquet file: the kept parts of each row group, the
        rest of it decoded again (only its id/category columns where its points were kept).
        The answer's WKB points are written again from x, y (the same 21 bytes a plain
        WKB point of the request holds)."""
        kept, self._pq_kept = self._pq_kept, {}  # read once: memory freed as the answer goes
        rest = self._pq_rest()
        wanted = [c for c in self._cols.values() if c is not None]
        start = 0
        for group, rows in enumerate(self._pq_sizes()):
            parts = kept.pop(group, [])
            whole = sum(len(x) for _r, x, _y in parts) == rows
            if not whole and rows <= _PQ_GROUP_ROWS:
                parts, whole = self._pq_group(group), True  # decoded again, whole
            if whole and (not rest or all(r is not None for r, _x, _y in parts)):
                again: Iterator[pa.RecordBatch] = iter(())
            else:  # the points of the kept parts are not converted again
                again = self._pq_batches(group, rest if whole else wanted)
            parts.reverse()
            for batch in again:
                if parts:
                    r, x, y = parts.pop()
                    if len(x) != batch.num_rows:  # pragma: no cover - pyarrow's batches
                        raise RuntimeError("a row group read twice gave other batches")
                    part: _PqPart = (batch.select(rest) if r is None and rest else r, x, y)
                else:
                    part = self._pq_part(batch)
                yield start, self._pq_points(part, start, row_numbers)
                start += len(part[1])
            while parts:
                part = parts.pop()
                yield start, self._pq_points(part, start, row_numbers)
                start += len(part[1])

    def _pq_points(self, part: _PqPart, start: int, row_numbers: bool = True) -> PointTable:
        rest, x, y = part
        cols = self._cols
        n = len(x)
        cat = (
            _strings(rest.column(cols["category"]))
            if rest is not None and cols["category"]
            else None
        )
        if rest is not None and cols["id"]:
            return PointTable(
                x=x, y=y, ids=pc.cast(rest.column(cols["id"]), pa.string()), category=cat
            )
        ids = _numbers(start, n, row_numbers)
        return PointTable(x=x, y=y, ids=ids, category=cat, row_start=start)

    def _points(
        self,
        batch: pa.RecordBatch,
        x: np.ndarray,
        y: np.ndarray,
        start: int,
        text_xy: bool,
        row_numbers: bool = True,
    ) -> PointTable:
        cols = self._cols
        if batch.schema.names == [_LINES]:  # whole lines x,y: no id or category column
            return PointTable(
                x=x,
                y=y,
                ids=_numbers(start, batch.num_rows, row_numbers),
                xy_text=batch.column(0),
                row_start=start,
            )
        xt = yt = None
        if text_xy:  # the text as sent, echoed in CSV answers
            xt, yt = batch.column(cols["x"]), batch.column(cols["y"])
        ids = (
            pc.cast(batch.column(cols["id"]), pa.string())
            if cols["id"]
            else _numbers(start, batch.num_rows, row_numbers)
        )
        cat = _strings(batch.column(cols["category"])) if cols["category"] else None
        return PointTable(
            x=x,
            y=y,
            ids=ids,
            category=cat,
            x_text=xt,
            y_text=yt,
            row_start=None if cols["id"] else start,
        )


def _numbers(start: int, n: int, build: bool) -> pa.Array | None:
    """The ids of rows without an id column: their row numbers as text (:func:`row_ids`), or
    None when not ``build`` (a writer that writes them itself, :meth:`PointFile.chunks`)."""
    return row_ids(start, n) if build else None


class _XySpill:
    """Checked coordinates of CSV blocks in an unnamed temporary file (gone once closed
    or the process ends), each block's x then y as float64, read back by any thread."""

    def __init__(self) -> None:
        import tempfile

        # closed by close() (or with this object): not a with block
        self._fh = tempfile.TemporaryFile(prefix="gridgeo-xy-")  # noqa: SIM115
        self._at: dict[int, tuple[int, int]] = {}  # block: (offset, rows)
        self._end = 0

    def write(self, block: int, x: np.ndarray, y: np.ndarray) -> bool:
        """Append a block's coordinates; False when the write failed (nothing kept of it)."""
        try:
            for a in (x, y):
                self._fh.write(memoryview(np.ascontiguousarray(a, np.float64)).cast("B"))
        except OSError:
            return False
        self._at[block] = (self._end, x.size)
        self._end += 16 * x.size
        return True

    def read(self, block: int) -> tuple[np.ndarray, np.ndarray] | None:
        """A block's coordinates as written (None when not written)."""
        at = self._at.get(block)
        if at is None:
            return None
        offset, n = at
        xy = np.empty(2 * n, np.float64)
        view, fd, got = memoryview(xy).cast("B"), self._fh.fileno(), 0
        while got < view.nbytes:
            k = os.preadv(fd, [view[got:]], offset + got)
            if k <= 0:
                raise OSError(f"the coordinates' spill file ended early (block {block})")
            got += k
        return xy[:n], xy[n:]

    def flush(self) -> None:
        """Every write on disk (before the first :meth:`read`)."""
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def _whole_chunks(
    parts: Iterator[tuple[pa.RecordBatch, np.ndarray, np.ndarray]],
    chunk: int,
    names: list[str] | None = None,
) -> Iterator[tuple[pa.RecordBatch, np.ndarray, np.ndarray]]:
    """``parts`` cut or joined into pieces of exactly ``chunk`` rows (the last one fewer):
    only the rows of a piece made of several parts are copied (``names``: the CSV's
    columns, for blocks given as lines joined with parsed ones)."""
    held: list[tuple[pa.RecordBatch, np.ndarray, np.ndarray]] = []
    count = 0
    for batch, x, y in parts:
        at, n = 0, batch.num_rows
        while at < n:
            if not held and n - at >= chunk:
                yield batch.slice(at, chunk), x[at : at + chunk], y[at : at + chunk]
                at += chunk
                continue
            take = min(chunk - count, n - at)
            held.append((batch.slice(at, take), x[at : at + take], y[at : at + take]))
            count += take
            at += take
            if count == chunk:
                yield _joined(held, names)
                held, count = [], 0
    if held:
        yield _joined(held, names)


def _joined(
    held: list[tuple[pa.RecordBatch, np.ndarray, np.ndarray]],
    names: list[str] | None = None,
) -> tuple[pa.RecordBatch, np.ndarray, np.ndarray]:
    """One piece of several (their rows copied once)."""
    if len(held) == 1:
        return held[0]
    kinds = {tuple(b.schema.names) for b, _x, _y in held}
    if kinds == {(_LINES,)}:
        return _joined_lines(held)
    if len(kinds) > 1:  # lines and parsed text
        held = [(_parsed_lines(b, names or ["x", "y"]), x, y) for b, x, y in held]
    table = pa.Table.from_batches([b for b, _x, _y in held]).combine_chunks()
    batches = table.to_batches()
    batch = batches[0] if len(batches) == 1 else pa.RecordBatch.from_pylist([], schema=table.schema)
    return (
        batch,
        np.concatenate([x for _b, x, _y in held]),
        np.concatenate([y for _b, _x, y in held]),
    )


#: The column of a block given as its lines (:meth:`PointFile._by_lines`).
_LINES = "\x00lines"


def _joined_lines(
    held: list[tuple[pa.RecordBatch, np.ndarray, np.ndarray]],
) -> tuple[pa.RecordBatch, np.ndarray, np.ndarray]:
    """Consecutive pieces given as lines in one piece: their offsets joined, the body's
    bytes not copied (each piece's lines start where the one before ends)."""
    offs = []
    for b, _x, _y in held:
        off = _offsets(b.column(0))
        offs.append(off if not offs else off[1:])
    first = held[0][0].column(0)
    n = sum(b.num_rows for b, _x, _y in held)
    text = pa.Array.from_buffers(
        pa.large_string(), n, [None, pa.py_buffer(np.concatenate(offs)), first.buffers()[2]]
    )
    return (
        pa.RecordBatch.from_arrays([text], [_LINES]),
        np.concatenate([x for _b, x, _y in held]),
        np.concatenate([y for _b, _x, y in held]),
    )


def _csv_rows(body: pa.Buffer, names: list[str], convert: Any) -> pa.Table:
    """Rows of CSV without a header (columns ``names``) read by pyarrow in one block, in
    this thread."""
    import pyarrow.csv as pacsv

    options = pacsv.ReadOptions(
        column_names=names, use_threads=False, block_size=max(body.size, 1) + 1
    )
    return pacsv.read_csv(pa.BufferReader(body), read_options=options, convert_options=convert)


def _offsets(lines: pa.Array) -> np.ndarray:
    """The int64 offsets of a large string array's rows (``len + 1``, into its data buffer)."""
    off = np.frombuffer(lines.buffers()[1], np.int64)
    return off[lines.offset : lines.offset + len(lines) + 1]


def _parsed_lines(batch: pa.RecordBatch, names: list[str]) -> pa.RecordBatch:
    """A batch of whole lines ``x,y`` parsed as two text columns (a chunk joining blocks
    given as lines with one whose lines were not all plain: rare)."""
    if batch.schema.names != [_LINES]:
        return batch
    import pyarrow.csv as pacsv

    text = batch.column(0)
    off = _offsets(text)
    data = text.buffers()[2][int(off[0]) : int(off[-1])]
    as_text = pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()))
    table = _csv_rows(data, names, as_text)
    return table.combine_chunks().to_batches()[0]


def _pieces(
    kept: list[tuple[pa.RecordBatch, np.ndarray, np.ndarray]], chunk: int
) -> Iterator[tuple[pa.RecordBatch, np.ndarray, np.ndarray]]:
    """Kept batches with their coordinates in pieces of at most ``chunk`` rows (popped as
    they go, so each is freed once answered)."""
    kept.reverse()
    while kept:
        batch, x, y = kept.pop()
        for s in range(0, batch.num_rows, chunk):
            yield batch.slice(s, chunk), x[s : s + chunk], y[s : s + chunk]


def row_ids(start: int, n: int) -> pa.Array:
    """Row numbers ``start … start + n - 1`` as decimal text (the ids of points sent
    without an id column), as ``pc.cast(pa.array(range), pa.string())`` gives them.

    Parameters
    ----------
    start
        First row number (≥ 0).
    n
        How many.

    Returns
    -------
    pyarrow.StringArray
    """
    if n == 0 or start < 0 or start + n >= 1 << 53:
        return pc.cast(pa.array(np.arange(start, start + n, dtype=np.int64)), pa.string())
    off, data = _row_id_text(np.int64(start), np.int64(n))
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(off), pa.py_buffer(data)])


@njit(cache=True, nogil=True)
def _row_id_text(start, n):  # pragma: no cover - compiled
    """Offsets and digits of ``start … start + n - 1``: each number's digits are the
    previous one's plus one (carried by hand), no division per digit (0.14 → 0.07–0.08 s
    per 5 M ids). A number of at most 8 digits is kept as one 8-byte word of its text
    (first digit in the lowest byte) and written by one unaligned store (the next
    number's overwrites the bytes past it; the digits array has 8 bytes of room): ~4×
    faster than a loop over its digits; the digit-by-digit carry only when the last
    digit wraps (one number in ten)."""
    width = 1
    bound = 10  # the first number with one more digit
    while start >= bound:
        bound *= 10
        width += 1
    off = np.empty(n + 1, np.int32)
    off[0] = 0
    w, b = width, bound
    for i in range(n):
        if start + i >= b:
            b *= 10
            w += 1
        off[i + 1] = off[i] + w
    room = np.empty(off[n] + 8, np.uint8)
    data = room[: off[n]]
    digits = np.full(20, 48, np.uint8)  # the current number, right-aligned
    v = start
    for k in range(19, -1, -1):
        digits[k] = 48 + v % 10
        v //= 10
    w = width
    word = np.uint64(0)
    last = np.uint64(0)  # the last digit's place in ``word`` (a shift), w <= 8
    for i in range(n):
        p = off[i]
        if w <= 8:
            if i == 0 or digits[19] == 48:  # the word (re)built after a carry
                word = np.uint64(0)
                for k in range(w):
                    word |= np.uint64(digits[20 - w + k]) << np.uint64(8 * k)
                last = np.uint64(8 * (w - 1))
            _store8(room, p, word)
            word += np.uint64(1) << last  # the last digit + 1 (a 9 is rebuilt next)
        else:
            for k in range(w):
                data[p + k] = digits[20 - w + k]
        k = 19
        while digits[k] == 57:  # + 1
            digits[k] = 48
            k -= 1
        digits[k] += 1
        if k < 20 - w:
            w += 1
    return off, data


def agreed_crs(given: str | None, declared: str | None) -> str:
    """The CRS of some points from what the user said (``given``) and what their file
    says (``declared``, e.g. :meth:`PointFile.declared_crs`).

    Either alone counts (neither: ``wgs84``); both must be the same CRS, except ``gcj02`` /
    ``bd09`` over a geographic one (GCJ-02 files are commonly labelled WGS 84: the user
    knows better).

    Raises
    ------
    InputError
        When they contradict each other (field ``crs``).
    """
    if declared is None or given is None:
        return given or declared or "wgs84"
    mine, theirs = resolve_crs(given), resolve_crs(declared)
    if isinstance(mine, str):  # gcj02 / bd09
        agree = not isinstance(theirs, str) and theirs.is_geographic
    else:
        agree = not isinstance(theirs, str) and mine.equals(theirs, ignore_axis_order=True)
    if not agree:
        name = theirs if isinstance(theirs, str) else theirs.name
        raise InputError(
            _("crs={given!r} but the GeoParquet body says its points are in {name}").format(
                given=given, name=name
            ),
            [Problem(_("leave crs= out or give the file's CRS"), field="crs", rule="query.crs")],
        )
    return given


#: Bytes of an ``x,y`` line echoed as is (:func:`_line_starts`): plain number text, ``,``, ``\n``.
_LINE_BYTES = np.zeros(256, np.uint8)
_LINE_BYTES[[*range(48, 58), 46, 45, 43, 101, 69, 44, 10]] = 1


@njit(cache=True, nogil=True)
def _line_starts(data, table):  # pragma: no cover - compiled
    """Where each line of ``data`` starts, then its end, when every byte is marked in
    ``table``; else an empty array. Three passes: the check and the count without a
    branch per byte, then the starts found 8 bytes at a time (the line ends of a word
    marked by bit tricks, taken by their trailing zeros): 7.5 against 11.2 ms per 8 MiB
    block for a pass storing at every byte; pyarrow's parse of the same text ~20 ms."""
    n = data.size
    bad = np.uint8(0)
    for j in range(n):
        bad |= table[data[j]] ^ np.uint8(1)
    if bad or n == 0:
        return np.empty(0, np.int64)
    lines = 0
    for j in range(n):
        lines += data[j] == 10
    tail = 1 if data[n - 1] != 10 else 0  # a last line without its line end
    starts = np.empty(lines + 1 + tail, np.int64)
    starts[0] = 0
    k = 1
    low7 = np.uint64(0x7F7F7F7F7F7F7F7F)
    ends = np.uint64(0x0A0A0A0A0A0A0A0A)
    one = np.uint64(1)
    w = 0
    while w + 8 <= n:
        x = _load8(data, w) ^ ends  # a zero byte where data has "\n"
        t = ~(((x & low7) + low7) | x | low7)  # the high bit of each zero byte, no other
        while t:
            starts[k] = w + np.int64(trailing_zeros(t) >> np.uint64(3)) + 1
            k += 1
            t &= t - one
        w += 8
    for j in range(w, n):
        if data[j] == 10:
            starts[k] = j + 1
            k += 1
    if tail:
        starts[k] = n
    return starts
