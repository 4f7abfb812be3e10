"""From reports (one, or a chunk of an imported file) to case rows ready to store.

Pure: no database, no web. :func:`check_reports` collects every problem of a chunk
(missing or swapped coordinates, future dates, duplicate external ids, bad sources)
with its line; :func:`build_cases` turns the good rows and their locate answer into
rows of ``incidents.case``. A case outside every grid, with an unknown category or
without a responsible department is kept with a ``queue_reason`` for the centre.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from gridgeo.errors import Problem
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
    flag(~np.isfinite(lon), "lon", "incident.coordinates.missing", lambda i: "缺少经度或不是数字")
    flag(~np.isfinite(lat), "lat", "incident.coordinates.missing", lambda i: "缺少纬度或不是数字")
    if geographic:
        swapped = _in(lon, _LAT) & _in(lat, _LON) & ~(_in(lon, _LON) & _in(lat, _LAT))
        flag(
            swapped,
            "lon",
            "incident.coordinates.swapped",
            lambda i: f"经纬度疑似颠倒（经度 {lon[i]}，纬度 {lat[i]}）",
        )
        outside = ~(np.abs(lon) <= 180) | ~(np.abs(lat) <= 90)
        flag(
            outside,
            "lon",
            "incident.coordinates.range",
            lambda i: f"坐标超出范围 ({lon[i]}, {lat[i]})",
        )
    when = frame["reported_at"]
    flag(
        when.isna().to_numpy(),
        "reported_at",
        "incident.reported_at.invalid",
        lambda i: "上报时间缺失或无法识别",
    )
    future = (when > now + FUTURE_SLACK).fillna(False).to_numpy(dtype=bool)
    flag(
        future,
        "reported_at",
        "incident.reported_at.future",
        lambda i: f"上报时间 {when.iloc[i]} 晚于当前时间",
    )
    if "source" in frame:
        src = frame["source"].astype(object)
        flag(
            ~src.isin(SOURCES).to_numpy(),
            "source",
            "incident.source",
            lambda i: f"来源 {src.iloc[i]!r} 无效（可用：{', '.join(SOURCES)}）",
        )
    if "external_id" in frame:
        ids = frame["external_id"].astype(object)
        has = ids.notna().to_numpy() & (ids.astype(str).str.strip() != "").to_numpy()
        dup_in_chunk = ids.duplicated(keep="first").to_numpy() & has
        seen = seen_ids if seen_ids is not None else set()
        dup_before = ids.isin(seen).to_numpy() & has
        flag(
            dup_in_chunk | dup_before,
            "external_id",
            "incident.external_id.duplicate",
            lambda i: f"编号 {ids.iloc[i]} 在文件中重复",
        )
        seen.update(ids[has & ~bad].astype(str))
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


def _answer_json(table: pa.Table) -> list[str]:
    """Each row of a batch answer as a JSON object (without the input lon/lat)."""
    keep = [c for c in table.column_names if c not in _STORED_APART]
    if table.num_rows == 0:
        return []
    cols = [table.column(c) for c in keep]
    cols = [c.cast(pa.string()) if pa.types.is_dictionary(c.type) else c for c in cols]
    frame = pa.table(cols, names=keep).to_pandas()
    text = frame.to_json(orient="records", lines=True, force_ascii=False)
    return text.splitlines()


def build_cases(
    frame: pd.DataFrame,
    answers: pa.Table,
    *,
    x: np.ndarray,
    y: np.ndarray,
    srid: int | None,
    department_ids: list[int | None],
    grid_valid_from: dict[str, Any],
    catalog: Catalog,
    crs: str,
    located_as_of: datetime,
    is_sample: bool = False,
    import_file: str | None = None,
) -> pd.DataFrame:
    """Rows of ``incidents.case`` for good reports and their batch locate answers.

    Parameters
    ----------
    frame
        The good reports (columns of :data:`REPORT_COLUMNS` plus ``lon``, ``lat``).
    answers
        The batch locate answer for them (same order).
    x, y, srid
        The points in the registry CRS (``srid`` ``None``: the registry is empty).
    department_ids
        Department id of each answer's department (``None``: none found).
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
    pandas.DataFrame
        Columns of :data:`CASE_COLUMNS`.
    """
    n = len(frame)
    grid = answers.column("grid_code").to_pylist()
    cats = frame["category"].fillna("").astype(str).str.strip().tolist()
    complex_ = frame["is_complex"].fillna(False).astype(bool).tolist()
    known = [catalog.known(c) for c in cats]
    queue = [
        QUEUE_OUTSIDE
        if g is None
        else QUEUE_CATEGORY
        if not k
        else QUEUE_DEPARTMENT
        if d is None
        else None
        for g, k, d in zip(grid, known, department_ids, strict=True)
    ]
    found: dict[tuple[str, bool], object] = {}
    limits = [
        found.get((c, cx)) or found.setdefault((c, cx), catalog.limit(c, complex_case=cx))
        for c, cx in zip(cats, complex_, strict=True)
    ]
    out = pd.DataFrame(
        {
            "external_id": frame["external_id"]
            .where(frame["external_id"].notna(), None)
            .astype(object),
            "source": frame["source"].to_numpy(dtype=object),
            "category": cats,
            "description": frame["description"].fillna("").astype(str).str.slice(0, 4000).tolist(),
            "reporter": frame["reporter"].fillna("").astype(str).str.slice(0, 200).tolist(),
            "reported_at": frame["reported_at"].to_numpy(),
            "lon": frame["lon"].astype(float).to_numpy(),
            "lat": frame["lat"].astype(float).to_numpy(),
            "crs": crs,
            "x": x if srid is not None else np.full(n, np.nan),
            "y": y if srid is not None else np.full(n, np.nan),
            "srid": srid,
            "located": [g is not None for g in grid],
            "located_as_of": located_as_of,
            "grid_code": grid,
            "grid_name": answers.column("grid_name").to_pylist(),
            "grid_valid_from": [grid_valid_from.get(g) for g in grid],
            "community_code": answers.column("community_code").to_pylist(),
            "community_name": answers.column("community_name").to_pylist(),
            "locate_answer": _answer_json(answers),
            "routed_department": np.array(department_ids, dtype=object),
            "queue_reason": queue,
            "is_complex": complex_,
            "limit_amount": [lim.amount for lim in limits],
            "limit_unit": [lim.unit for lim in limits],
            "is_sample": is_sample,
            "import_file": import_file,
        }
    )
    return out


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
