"""From reports (one, or a chunk of an imported file) to case rows ready to store.

Pure: no database, no web. :func:`check_reports` collects every problem of a chunk
(missing or swapped coordinates, future dates, duplicate external ids, bad sources)
with its line; :func:`build_cases` turns the good rows and their locate answer into
rows of ``incidents.case``. A case outside every grid, with an unknown category or
without a responsible department is kept with a ``queue_reason`` for the centre.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gridgeo.errors import Problem
from gridgeo.i18n import _
from gridgeo.incidents.catalog import Catalog

SOURCES = ("patrol", "hotline", "app", "walk_in", "import")
SOURCE_NAMES = {
    "巡查": "patrol",
    "热线": "hotline",
    "12345": "hotline",
    "app": "app",
    "来访": "walk_in",
}

# the columns of a report, with the Chinese headers imported files may use
REPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "external_id": ("external_id", "id", "编号", "案件编号", "外部编号"),
    "category": ("category", "类别", "事项类别", "类别代码", "事项代码"),
    "description": ("description", "描述", "问题描述", "内容"),
    "reporter": ("reporter", "上报人", "反映人"),
    "reported_at": ("reported_at", "时间", "上报时间", "发现时间"),
    "source": ("source", "来源", "渠道"),
    "is_complex": ("is_complex", "复杂", "是否复杂"),
}

QUEUE_OUTSIDE = "outside_grid"
QUEUE_CATEGORY = "unknown_category"
QUEUE_DEPARTMENT = "no_department"
QUEUE_NAMES = {
    QUEUE_OUTSIDE: "不在任何网格内",
    QUEUE_CATEGORY: "事项类别未知",
    QUEUE_DEPARTMENT: "无责任部门",
}

# mainland China in degrees (the GCJ-02 box): a lon/lat pair found the other way round is swapped
_LON = (73.0, 136.0)
_LAT = (3.0, 54.0)
FUTURE_SLACK = timedelta(minutes=5)


def _in(v: np.ndarray, box: tuple[float, float]) -> np.ndarray:
    return (v >= box[0]) & (v <= box[1])


def check_reports(
    frame: pd.DataFrame,
    *,
    now: datetime,
    geographic: bool,
    file: str | None = None,
    lines: np.ndarray | None = None,
    seen_ids: set[str] | None = None,
) -> tuple[np.ndarray, list[Problem]]:
    """Which rows of a chunk of reports can be stored, and the problems of the others.

    Parameters
    ----------
    frame
        Columns ``lon``, ``lat`` (numbers or text), ``reported_at`` (tz-aware), and
        optionally ``external_id`` and ``source``.
    now
        The current time (reports may not be dated after it).
    geographic
        Whether the coordinates are degrees (then a swapped pair is recognised).
    file, lines
        Where the rows come from, for the problems (``lines``: line numbers).
    seen_ids
        External ids already seen in earlier chunks of the same file (updated).

    Returns
    -------
    tuple
        A boolean mask of good rows and the problems of the bad ones.
    """
    n = len(frame)
    lines = np.arange(1, n + 1) if lines is None else lines
    bad = np.zeros(n, dtype=bool)
    problems: list[Problem] = []

    def flag(mask: np.ndarray, field: str, rule: str, message) -> None:
        for i in np.flatnonzero(mask & ~bad):
            problems.append(
                Problem(message(i), file=file, row=int(lines[i]), field=field, rule=rule)
            )
        bad[:] |= mask

    lon = pd.to_numeric(frame["lon"], errors="coerce").to_numpy(dtype=np.float64)
    lat = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(dtype=np.float64)
    flag(
        ~np.isfinite(lon),
        "lon",
        "incident.coordinates.missing",
        lambda i: _("longitude missing or not a number"),
    )
    flag(
        ~np.isfinite(lat),
        "lat",
        "incident.coordinates.missing",
        lambda i: _("latitude missing or not a number"),
    )
    if geographic:
        swapped = _in(lon, _LAT) & _in(lat, _LON) & ~(_in(lon, _LON) & _in(lat, _LAT))
        flag(
            swapped,
            "lon",
            "incident.coordinates.swapped",
            lambda i: _(
                "longitude and latitude look swapped (longitude {lon}, latitude {lat})"
            ).format(lon=lon[i], lat=lat[i]),
        )
        outside = ~(np.abs(lon) <= 180) | ~(np.abs(lat) <= 90)
        flag(
            outside,
            "lon",
            "incident.coordinates.range",
            lambda i: _("coordinates out of range ({lon}, {lat})").format(lon=lon[i], lat=lat[i]),
        )
    when = frame["reported_at"]
    flag(
        when.isna().to_numpy(),
        "reported_at",
        "incident.reported_at.invalid",
        lambda i: _("the time of report is missing or not recognised"),
    )
    future = (when > now + FUTURE_SLACK).fillna(False).to_numpy(dtype=bool)
    flag(
        future,
        "reported_at",
        "incident.reported_at.future",
        lambda i: _("the time of report {when} is later than now").format(when=when.iloc[i]),
    )
    if "source" in frame:
        src = frame["source"].astype(object)
        flag(
            ~src.isin(SOURCES).to_numpy(),
            "source",
            "incident.source",
            lambda i: _("source {source!r} is not valid (use: {sources})").format(
                source=src.iloc[i], sources=", ".join(SOURCES)
            ),
        )
    if "external_id" in frame:
        ids = frame["external_id"].astype(object)
        has = ids.notna().to_numpy() & (ids.astype(str).str.strip() != "").to_numpy()
        dup_in_chunk = ids.duplicated(keep="first").to_numpy() & has
        # across chunks: ``seen_ids`` here, or the database at the end of a file import
        dup_before = (
            ids.isin(seen_ids).to_numpy() & has if seen_ids is not None else np.zeros(n, bool)
        )
        flag(
            dup_in_chunk | dup_before,
            "external_id",
            "incident.external_id.duplicate",
            lambda i: _("id {id} repeats in the file").format(id=ids.iloc[i]),
        )
        if seen_ids is not None:
            seen_ids.update(ids[has & ~bad].astype(str))
    return ~bad, problems


# columns of a batch answer that the case stores in its own columns
_STORED_APART = (
    "id",
    "lon",
    "lat",
    "grid_code",
    "grid_name",
    "community_code",
    "community_name",
    "category",
)


def _json_literals(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Each value of a column as a JSON literal (text), vectorised; null → ``null``."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        enc = arr.dictionary_encode()  # few distinct names and phones: escape each once
        words = [json.dumps(v, ensure_ascii=False) for v in enc.dictionary.to_pylist()]
        out = pa.array(words, type=pa.string()).take(enc.indices)
    elif pa.types.is_boolean(arr.type):
        out = pc.if_else(arr, "true", "false")
    elif pa.types.is_floating(arr.type):
        out = pc.cast(pc.if_else(pc.is_finite(arr), arr, None), pa.string())
    elif pa.types.is_integer(arr.type):
        out = pc.cast(arr, pa.string())
    else:
        words = [json.dumps(v, ensure_ascii=False, default=str) for v in arr.to_pylist()]
        out = pa.array(words, type=pa.string())
    return pc.fill_null(out, "null")


def _answer_json(table: pa.Table) -> pa.Array:
    """Each row of a batch answer as a JSON object (without what the case stores apart).

    Built column-wise with Arrow kernels (no per-row Python objects).
    """
    keep = [c for c in table.column_names if c not in _STORED_APART]
    if table.num_rows == 0:
        return pa.array([], type=pa.string())
    if not keep:
        return pa.array(["{}"] * table.num_rows, type=pa.string())
    parts: list[Any] = []
    for i, name in enumerate(keep):
        parts.append(("{" if i == 0 else ",") + json.dumps(name, ensure_ascii=False) + ":")
        parts.append(_json_literals(table.column(name)))
    parts.append("}")
    return pc.binary_join_element_wise(*parts, "")


def _text(frame: pd.DataFrame, col: str, limit: int) -> pa.Array:
    """A text column as Arrow strings: missing → ``""``, cut to ``limit`` characters."""
    values = frame[col]
    try:
        arr = pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # numbers from a spreadsheet: as text
        text = values.astype(object).where(values.isna(), values.astype(str))
        arr = pa.array(text.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    return pc.utf8_slice_codeunits(pc.fill_null(arr, ""), 0, limit)


def build_cases(
    frame: pd.DataFrame,
    answers: pa.Table,
    *,
    x: np.ndarray,
    y: np.ndarray,
    srid: int | None,
    department_ids: pa.Array | list[int | None],
    grid_valid_from: dict[str, Any],
    catalog: Catalog,
    crs: str,
    located_as_of: datetime,
    is_sample: bool = False,
    import_file: str | None = None,
) -> pa.Table:
    """Rows of ``incidents.case`` for good reports and their batch locate answers.

    Vectorised: per-row work runs in Arrow/numpy kernels; Python touches only the
    distinct categories, grids and names.

    Parameters
    ----------
    frame
        The good reports (columns of :data:`REPORT_COLUMNS` plus ``lon``, ``lat``).
    answers
        The batch locate answer for them (same order).
    x, y, srid
        The points in the registry CRS (``srid`` ``None``: the registry is empty).
    department_ids
        Department id of each answer's department (null: none found).
    grid_valid_from
        ``valid_from`` of each current grid version.
    catalog
        The matter list (known categories and limits).
    crs
        The CRS the coordinates were given in.
    located_as_of
        The registry time of the snapshot used.
    is_sample, import_file
        Marks stored with the cases.

    Returns
    -------
    pyarrow.Table
        Columns of :data:`CASE_COLUMNS`.
    """
    n = len(frame)
    grid = answers.column("grid_code").combine_chunks()
    if pa.types.is_dictionary(grid.type):
        grid = grid.cast(pa.string())
    located = pc.is_valid(grid)
    cats = pc.utf8_trim_whitespace(_text(frame, "category", 1 << 30))
    cat_enc = cats.dictionary_encode()
    cat_idx = cat_enc.indices.to_numpy(zero_copy_only=False)
    cat_values = cat_enc.dictionary.to_pylist()
    known = np.array([catalog.known(c) for c in cat_values], dtype=bool)[cat_idx]
    complex_ = frame["is_complex"].fillna(False).astype(bool).to_numpy()
    limits = [[catalog.limit(c, complex_case=cx) for cx in (False, True)] for c in cat_values]
    pick = (cat_idx, complex_.astype(np.int64))
    amount = np.array([[lim.amount for lim in two] for two in limits], dtype=np.float64)
    unit_of = {u: i for i, u in enumerate(sorted({lim.unit for two in limits for lim in two}))}
    unit_idx = np.array([[unit_of[lim.unit] for lim in two] for two in limits], dtype=np.int32)
    deps = (
        department_ids
        if isinstance(department_ids, pa.Array)
        else pa.array(department_ids, type=pa.int64())
    ).cast(pa.int64())
    outside = ~located.to_numpy(zero_copy_only=False)
    no_dep = ~pc.is_valid(deps).to_numpy(zero_copy_only=False)
    queue_idx = np.select([outside, ~known, no_dep], [1, 2, 3], default=0).astype(np.int32)
    queue = pa.array([None, QUEUE_OUTSIDE, QUEUE_CATEGORY, QUEUE_DEPARTMENT], pa.string())
    grid_enc = grid.dictionary_encode()
    starts = pd.to_datetime(  # datetimes or ISO text, one per distinct grid
        pd.Series([grid_valid_from.get(g) for g in grid_enc.dictionary.to_pylist()], dtype=object),
        utc=True,
        format="mixed",
    )
    valid_from = pa.array(starts, type=pa.timestamp("us", tz="UTC")).take(grid_enc.indices)
    when = pa.array(frame["reported_at"]).cast(pa.timestamp("us", tz="UTC"))
    ext = _text(frame, "external_id", 1 << 30)
    ext = pc.if_else(pc.equal(ext, ""), None, ext)
    nan = np.full(n, np.nan)
    cols: dict[str, Any] = {
        "external_id": ext,
        "source": _text(frame, "source", 1 << 30),
        "category": cats,
        "description": _text(frame, "description", 4000),
        "reporter": _text(frame, "reporter", 200),
        "reported_at": when,
        "lon": pa.array(frame["lon"].astype(float).to_numpy()),
        "lat": pa.array(frame["lat"].astype(float).to_numpy()),
        "crs": pa.array(np.full(n, crs, dtype=object), pa.string()),
        "x": pa.array(x if srid is not None else nan, pa.float64()),
        "y": pa.array(y if srid is not None else nan, pa.float64()),
        "srid": pa.nulls(n, pa.int32()) if srid is None else pa.array(np.full(n, srid, np.int32)),
        "located": located,
        "located_as_of": pa.array([located_as_of], pa.timestamp("us", tz="UTC")).take(
            np.zeros(n, dtype=np.int64)
        ),
        "grid_code": grid,
        "grid_name": _plain(answers.column("grid_name")),
        "grid_valid_from": valid_from,
        "community_code": _plain(answers.column("community_code")),
        "community_name": _plain(answers.column("community_name")),
        "locate_answer": _answer_json(answers),
        "routed_department": deps,
        "queue_reason": queue.take(pa.array(queue_idx)),
        "is_complex": pa.array(complex_),
        "limit_amount": pa.array(amount[pick]),
        "limit_unit": pa.array(list(unit_of), pa.string()).take(pa.array(unit_idx[pick])),
        "is_sample": pa.array(np.full(n, bool(is_sample))),
        "import_file": pa.array([import_file] * n, pa.string()),
    }
    return pa.table([cols[c] for c in CASE_COLUMNS], names=CASE_COLUMNS)


def _plain(col: pa.ChunkedArray) -> pa.Array:
    """A text column of the answer as plain strings (not dictionary-encoded)."""
    arr = col.combine_chunks()
    return arr.cast(pa.string()) if pa.types.is_dictionary(arr.type) else arr


CASE_COLUMNS = [
    "external_id",
    "source",
    "category",
    "description",
    "reporter",
    "reported_at",
    "lon",
    "lat",
    "crs",
    "x",
    "y",
    "srid",
    "located",
    "located_as_of",
    "grid_code",
    "grid_name",
    "grid_valid_from",
    "community_code",
    "community_name",
    "locate_answer",
    "routed_department",
    "queue_reason",
    "is_complex",
    "limit_amount",
    "limit_unit",
    "is_sample",
    "import_file",
]
