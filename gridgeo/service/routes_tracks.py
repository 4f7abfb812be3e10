"""Patrol tracks over HTTP: upload a track file, daily statistics and rankings.

Grid workers' tracks are personal data: nothing here is public. The role check is in one
place (:func:`gridgeo.service.auth.require_role`), before the request body is read.

==========================  ==========================================================
operation                   roles
==========================  ==========================================================
``POST /tracks`` (upload)   county_editor, admin
``GET /tracks/summary``     county_editor (own county's grids only), city_reviewer, admin
``GET /tracks/day``         as the summary (a worker of the caller's division only)
==========================  ==========================================================
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from gridgeo.errors import InputError, NotFoundError, Problem
from gridgeo.i18n import _
from gridgeo.service.auth import CallerDep, require_role
from gridgeo.service.deps import service_settings, spool_body

router = APIRouter(tags=["tracks"])

_SUFFIXES = {".gpx", ".geojson", ".json", ".csv", ".xlsx", ".parquet"}


@router.post(
    "/tracks",
    status_code=201,
    summary="Upload a patrol track file (GPX, GeoJSON, CSV/XLSX, GeoParquet)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def upload_tracks(
    request: Request,
    caller: CallerDep,
    filename: Annotated[str, Query(max_length=200, description="Its suffix names the format")],
    crs: Annotated[str | None, Query(max_length=40, description="wgs84, gcj02, bd09 …")] = None,
    worker_field: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    """The body is the file. Re-sending the same file stores nothing new (``created``
    false). Rows left out are listed with their row number under ``problems``."""
    require_role(caller, "tracks.upload")
    suffix = Path(filename).suffix.lower()
    if suffix not in _SUFFIXES:
        raise InputError(
            _("filename {filename!r}: send .gpx, .geojson, .csv, .xlsx or .parquet").format(
                filename=filename
            ),
            [Problem(_("unsupported format"), field="filename", rule="tracks.format")],
        )
    from gridgeo.registry.tracks import import_file

    url = request.app.state.db_url  # the application role
    limit = service_settings(request).upload_max_bytes
    with tempfile.TemporaryDirectory(prefix="gridgeo-tracks-") as tmp:
        path = await spool_body(request, Path(tmp) / f"tracks{suffix}", limit, _("the track file"))
        named = path.with_name(Path(filename).name)
        path.rename(named)
        return await run_in_threadpool(
            import_file,
            url,
            named,
            crs=crs,
            worker_field=worker_field,
            by=caller.name,
        )


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(
            _("{name}={value!r} is not a date (use 2026-11-02)").format(name=name, value=value),
            [Problem(_("not an ISO date"), field=name, rule="tracks.date")],
        ) from None


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    frame = frame.copy()
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.DatetimeTZDtype):
            frame[col] = frame[col].map(lambda v: v.isoformat() if pd.notna(v) else None)
        elif pd.api.types.is_datetime64_any_dtype(frame[col]):
            frame[col] = frame[col].dt.strftime("%Y-%m-%d")
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict(orient="records")


@router.get("/tracks/summary", summary="Daily patrol statistics or weekly/monthly rankings")
def tracks_summary(
    request: Request,
    caller: CallerDep,
    start: Annotated[str, Query(alias="from", description="First local day")],
    end: Annotated[str, Query(alias="to", description="Last local day")],
    period: Annotated[str, Query(pattern="^(day|week|month)$")] = "day",
    scope: Annotated[str, Query(pattern="^(street|county)$")] = "street",
) -> dict[str, Any]:
    """``period=day``: one row per worker and day; ``week``/``month``: rankings per
    street or county. County editors see only workers serving their county's grids."""
    require_role(caller, "tracks.read")
    from gridgeo.registry.tracks import patrol_stats
    from gridgeo.tracks.rank import rankings

    a, b = _day(start, "from"), _day(end, "to")
    if (b - a).days > 62 or b < a:
        raise InputError(
            _("from..to must be a range of at most 62 days"),
            [Problem(_("range"), field="to", rule="tracks.range")],
        )
    days, _grids, problems = patrol_stats(request.app.state.db_url, a, b)
    if caller.division_code:  # editors and reviewers: workers serving grids of their division
        days = days[days["own_grids"].str.startswith(caller.division_code)]
    rows = days if period == "day" else rankings(days, period=period, scope=scope)
    return {"rows": _records(rows), "warnings": len(problems)}


@router.get("/tracks/day", summary="A worker's day as GeoJSON (track in/out of own grid, roads)")
def tracks_day(
    request: Request,
    caller: CallerDep,
    worker: Annotated[str, Query(min_length=1, max_length=100, description="Worker id")],
    day: Annotated[str, Query(alias="date", description="Local day (2026-11-02)")],
) -> dict[str, Any]:
    """For the console's day map: the grids near the track (own ones flagged), the own
    grids' roads with the covered pieces, and the track in runs inside and outside the
    own grids (WGS 84). ``properties`` holds the day's figures."""
    require_role(caller, "tracks.read")
    from gridgeo.registry.tracks import day_map

    d = _day(day, "date")
    out = day_map(request.app.state.db_url, worker, d)
    own = str(out["properties"].get("own_grids") or "")
    if caller.division_code and not any(
        c.startswith(caller.division_code) for c in own.split(",") if c
    ):
        raise NotFoundError(
            _("grid worker {worker} has no track on {day:%Y-%m-%d}").format(worker=worker, day=d)
        )
    return out
