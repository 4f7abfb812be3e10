"""The case loop over HTTP: report, act, read, list, photos (schema ``incidents``).

Who may use a route is the registry's one table (:data:`gridgeo.registry.users.ACTIONS`:
``incidents.report``, ``incidents.read``, ``incidents.act``, ``incidents.evaluate``,
``incidents.notices``); which step of the loop a role may take is
:mod:`gridgeo.incidents.states`. A department user reaches the cases of its department
(:attr:`~gridgeo.registry.users.Principal.department_id`); every other scoped caller the
cases located in its division (a grid worker: its community's grids). Roles are checked
before a request body is read; bodies are bounded. SQL lives in
:mod:`gridgeo.incidents.store`.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gridgeo.errors import (
    AuthenticationError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    Problem,
)
from gridgeo.i18n import _
from gridgeo.incidents import store
from gridgeo.incidents.catalog import SnapshotCatalog
from gridgeo.incidents.deadlines import WorkingCalendar
from gridgeo.incidents.ingest import report_one
from gridgeo.incidents.photos import photo_path, store_photo
from gridgeo.incidents.service import actions_for, loop_role, visible_rows, with_flags
from gridgeo.incidents.states import (
    ACTIONS,
    STATES,
    action_text,
    check_role,
    evaluation_key_hash,
)
from gridgeo.incidents.stats import compute, write_table
from gridgeo.registry.users import ACTIONS as USER_ACTIONS
from gridgeo.registry.users import Principal
from gridgeo.service.auth import CallerDep
from gridgeo.service.deps import crs_is_lonlat, db_errors, state
from gridgeo.times import parse_at

router = APIRouter(tags=["incidents"])

MAX_JSON_BYTES = 64 * 1024
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ReportIn(BaseModel):
    """A report: a point in any supported CRS and what was seen."""

    model_config = ConfigDict(extra="forbid")

    lon: float = Field(description="Longitude (or x in a projected CRS)")
    lat: float = Field(description="Latitude (or y)")
    crs: str = Field(default="wgs84", max_length=40, examples=["gcj02"])
    category: str = Field(default="", max_length=64, examples=["sanitation"])
    description: str = Field(default="", max_length=4000)
    reporter: str = Field(default="", max_length=200)
    source: Literal["patrol", "hotline", "app", "walk_in"] = "app"
    external_id: str | None = Field(default=None, max_length=100)
    reported_at: datetime | None = None
    is_complex: bool = False


class ActionIn(BaseModel):
    """Fields of an action (which are required depends on the action)."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=2000)
    feedback: str | None = Field(default=None, max_length=4000)
    explanation: str | None = Field(default=None, max_length=4000)
    department: int | list[int] | None = None
    lead: int | None = None
    satisfaction: int | None = None
    photos: list[int] | None = Field(default=None, max_length=20)
    evaluation_key: str | None = Field(default=None, max_length=100)
    callback: str | None = Field(default=None, max_length=20)


def _settings(request: Request):
    return request.app.state.settings


def _calendar(request: Request) -> WorkingCalendar:
    cal = getattr(request.app.state, "incident_calendar", None)
    if cal is None:
        s = _settings(request)
        cal = WorkingCalendar(s.incident_work_hours, s.incident_timezone)
        request.app.state.incident_calendar = cal
    return cal


def _scope(caller: Principal, action: str, case: dict[str, Any]) -> None:
    """Refuse a case outside the caller's reach (its department, or its division)."""
    dep = caller.department_id
    if caller.role == "department":
        if dep is None or (dep not in case["departments"] and dep not in case["returned_by"]):
            raise PermissionDeniedError(
                _(
                    "{user} may not handle case {case_id}: it is not a case of department "
                    "{department}"
                ).format(user=caller.label, case_id=case["case_id"], department=dep)
            )
        return
    if not caller.covers(case.get("community_code")):
        where = case.get("community_code") or _("outside the grids")
        raise PermissionDeniedError(
            _("{user} may not {action} {case_id}: {where} is outside their area {area}").format(
                user=caller.label,
                action=USER_ACTIONS[action].label,
                case_id=case["case_id"],
                where=where,
                area=caller.division_code,
            )
        )


def _reaches(caller: Principal, case: dict[str, Any]) -> bool:
    try:
        _scope(caller, "incidents.read", case)
    except PermissionDeniedError:
        return False
    return True


def _communities(caller: Principal) -> frozenset[str] | None:
    """The community codes whose cases a list shows (``None``: every case)."""
    return None if caller.role == "department" else caller.scope


async def _read_json(request: Request, model: type[BaseModel], limit: int = MAX_JSON_BYTES):
    size = 0
    chunks = []
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise HTTPException(413, _("the request body is larger than {n} bytes").format(n=limit))
        chunks.append(part)
    raw = b"".join(chunks)
    try:
        data = json.loads(raw or b"{}")
        return model.model_validate(data)
    except json.JSONDecodeError as exc:
        raise InputError(
            _("the request body is not valid JSON"),
            [Problem(str(exc), file=_("request body"), rule="request.json")],
        ) from None
    except ValidationError as exc:
        raise InputError(
            _("the request has errors"),
            [
                Problem(e["msg"], field=".".join(str(x) for x in e["loc"]), rule="request.field")
                for e in exc.errors()
            ],
        ) from None


def _now() -> datetime:
    return datetime.now(UTC)


def _shown(request: Request, case: dict[str, Any], role: str) -> dict[str, Any]:
    s = _settings(request)
    out = with_flags(case, _calendar(request), _now(), soon_fraction=s.incident_soon_fraction)
    out["actions"] = actions_for(case, role)
    out["locate_answer"] = (
        json.loads(out["locate_answer"])
        if isinstance(out["locate_answer"], str)
        else out["locate_answer"]
    )
    return out


@router.post(
    "/incidents", status_code=201, summary="Report an incident (located and routed at once)"
)
async def report_incident(request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.require("incidents.report")
    body: ReportIn = await _read_json(request, ReportIn)
    crs_is_lonlat(body.crs)
    s = _settings(request)

    key = secrets.token_urlsafe(12)  # the reporter's evaluation key, shown once

    def work() -> dict[str, Any]:
        snap = state(request).current()
        raw = body.model_dump()
        with (
            db_errors(_("reporting a case")),
            request.app.state.pool.connection(timeout=10) as conn,
        ):
            cid = report_one(
                conn,
                raw,
                snap,
                SnapshotCatalog(snap.categories),
                crs=body.crs,
                tz=s.incident_timezone,
                role=loop_role(caller.role),
                actor=caller.label,
                evaluation_key=key,
            )
            case = store.get_case(conn, cid)
            case["_key_is_new"] = store.evaluation_key_sha256(conn, cid) == evaluation_key_hash(key)
        return case

    case = await run_in_threadpool(work)
    out = {
        k: case[k]
        for k in ("case_id", "state", "grid_code", "grid_name", "community_name", "queue_reason")
    }
    out["state_name"] = case["state_name"]
    new_key = case.pop("_key_is_new")
    if caller.can("incidents.read") and _reaches(caller, case):
        out = _shown(request, case, loop_role(caller.role))
    # only the reporter of a new case gets its key (a known external id gets none)
    out["evaluation_key"] = key if new_key else None
    return out


@router.get("/incidents", summary="Cases, newest first, with filters")
def list_incidents(
    request: Request,
    caller: CallerDep,
    state_: Annotated[Literal[STATES] | None, Query(alias="state")] = None,  # type: ignore[valid-type]
    overdue: bool | None = None,
    queued: Annotated[bool | None, Query(description="Only cases waiting for the centre")] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    grid: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    caller.require("incidents.read")
    role = loop_role(caller.role)
    with db_errors(_("reading cases")), request.app.state.pool.connection(timeout=10) as conn:
        total, cases = store.list_cases(
            conn,
            state=state_,
            overdue=overdue,
            queued=queued,
            category=category,
            grid=grid,
            department=caller.department_id if caller.role == "department" else None,
            communities=_communities(caller),
            limit=limit,
            offset=offset,
        )
    items = [_shown(request, c, role) for c in cases]
    for it in items:
        it.pop("locate_answer", None)
    return {"total": total, "limit": limit, "offset": offset, "items": items}


@router.get(
    "/incidents/notifications", summary="A department's notices: dispatch, designation, supervision"
)
def incident_notifications(request: Request, caller: CallerDep) -> list[dict[str, Any]]:
    caller.require("incidents.notices")
    with db_errors(_("reading notices")), request.app.state.pool.connection(timeout=10) as conn:
        return store.notifications(conn, caller.department_id)


@router.get(
    "/incidents/stats",
    summary="Statistics: counts, handling times, on-time, rebound and the three rates",
    responses={
        200: {
            "content": {"application/json": {}, "text/csv": {}, _XLSX: {}},
            "description": "Statistics as JSON, CSV (UTF-8 with BOM) or XLSX",
        }
    },
)
def incident_stats(
    request: Request,
    caller: CallerDep,
    by: Annotated[
        str,
        Query(
            max_length=100,
            description="grid, community, street, department, category (comma separated)",
        ),
    ] = "department",
    period: Annotated[Literal["day", "week", "month"] | None, Query()] = None,
    since: Annotated[
        str | None, Query(description="Reported at or after (date or date-time)")
    ] = None,
    until: Annotated[str | None, Query(description="Reported before")] = None,
    format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",
) -> Any:
    caller.require("incidents.read")
    s = _settings(request)
    keys = [b.strip() for b in by.split(",") if b.strip()]
    start = parse_at(since, s.incident_timezone, name="since")
    end = parse_at(until, s.incident_timezone, name="until")
    with db_errors(_("case statistics")), request.app.state.pool.connection(timeout=30) as conn:
        rows = store.stats_rows(conn, since=start, until=end)
    rows = visible_rows(
        rows,
        department=caller.department_id if caller.role == "department" else None,
        communities=_communities(caller),
    )
    table = compute(rows, by=keys, period=period, calendar=_calendar(request), now=_now())
    if format == "json":
        return {
            "by": keys,
            "period": period,
            "rows": json.loads(table.to_json(orient="records", force_ascii=False)),
        }
    with tempfile.TemporaryDirectory() as tmp:
        path = write_table(table, Path(tmp) / f"incident_stats.{format}")
        data = path.read_bytes()
    media = "text/csv; charset=utf-8" if format == "csv" else _XLSX
    return Response(
        data,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="incident_stats.{format}"'},
    )


@router.get("/incidents/{case_id}", summary="One case with its timeline, photos and your actions")
def get_incident(request: Request, caller: CallerDep, case_id: int) -> dict[str, Any]:
    caller.require("incidents.read")
    with db_errors(_("reading cases")), request.app.state.pool.connection(timeout=10) as conn:
        case = store.get_case(conn, case_id)
        _scope(caller, "incidents.read", case)
        out = _shown(request, case, loop_role(caller.role))
        out["events"] = store.events(conn, case_id)
        out["photos"] = [
            {k: v for k, v in p.items() if k != "path"} for p in store.photos(conn, case_id)
        ]
    return out


@router.post(
    "/incidents/{case_id}/actions/{action}",
    summary="Take an action of the loop (立案, 派遣, 回弹, 指定, 处置, 核查, 归档, 评价, 督办, 超期说明)",
)
async def act_on_incident(
    request: Request, caller: CallerDep, case_id: int, action: str
) -> dict[str, Any]:
    gate = "incidents.evaluate" if action == "evaluate" else "incidents.act"
    caller.require(gate)  # before the body is read
    role = loop_role(caller.role)
    if action in ACTIONS:
        try:
            check_role(action, role)
        except PermissionDeniedError:
            if not caller.authenticated:
                raise AuthenticationError(
                    _("to {label}, a token is needed").format(label=action_text(action))
                ) from None
            raise
    body: ActionIn = await _read_json(request, ActionIn)
    if action == "report" or action not in ACTIONS:
        raise InputError(
            _("unknown action {action!r}").format(action=action),
            [Problem(action, field="action", rule="incident.action")],
        )

    def work() -> dict[str, Any]:
        with db_errors(_("a case action")), request.app.state.pool.connection(timeout=10) as conn:
            if gate == "incidents.act":
                _scope(caller, gate, store.get_case(conn, case_id))
            case = store.record_action(
                conn,
                case_id,
                action,
                role=role,
                actor=caller.label,
                body=body.model_dump(exclude_none=True),
                actor_department=caller.department_id,
                calendar=_calendar(request),
            )
        return _shown(request, case, role)

    return await run_in_threadpool(work)


@router.post(
    "/incidents/{case_id}/photos", status_code=201, summary="Add a photo (JPEG/PNG/WebP body)"
)
async def add_incident_photo(request: Request, caller: CallerDep, case_id: int) -> dict[str, Any]:
    caller.require("incidents.act")
    s = _settings(request)
    size, chunks = 0, []
    async for part in request.stream():
        size += len(part)
        if size > s.incident_max_photo_bytes:
            raise HTTPException(
                413,
                _("the photo is larger than {n} bytes").format(n=s.incident_max_photo_bytes),
            )
        chunks.append(part)
    data = b"".join(chunks)

    def work() -> dict[str, Any]:
        with (
            db_errors(_("uploading a photo")),
            request.app.state.pool.connection(timeout=10) as conn,
        ):
            _scope(caller, "incidents.act", store.get_case(conn, case_id))
            sha, n, ctype, rel = store_photo(s.home, data, max_bytes=s.incident_max_photo_bytes)
            pid = store.add_photo(
                conn, case_id, sha256=sha, size=n, content_type=ctype, path=rel, actor=caller.label
            )
        return {"photo_id": pid, "sha256": sha, "bytes": n, "content_type": ctype}

    return await run_in_threadpool(work)


@router.get(
    "/incidents/{case_id}/photos/{photo_id}",
    summary="A photo of a case",
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}},
)
def get_incident_photo(
    request: Request, caller: CallerDep, case_id: int, photo_id: int
) -> FileResponse:
    caller.require("incidents.read")
    with db_errors(_("reading a photo")), request.app.state.pool.connection(timeout=10) as conn:
        _scope(caller, "incidents.read", store.get_case(conn, case_id))
        found = [p for p in store.photos(conn, case_id) if p["photo_id"] == photo_id]
    if not found:
        raise NotFoundError(
            _("case {case_id} has no photo {photo_id}").format(case_id=case_id, photo_id=photo_id)
        )
    p = found[0]
    return FileResponse(
        photo_path(_settings(request).home, p["path"]), media_type=p["content_type"]
    )
