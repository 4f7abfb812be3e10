"""The filing workflow over HTTP: upload, show, diff, file, withdraw, accept, return.

A route checks the caller's role *before* it reads the request body, then calls the
registry (which owns all SQL, history and the audit log); nothing here writes a
table. Uploads are streamed to a temporary file under a size limit and read with
:mod:`gridgeo.io`; a refused upload leaves nothing behind.

=================================  ===============================================
operation                          roles
=================================  ===============================================
``POST /changes`` (upload)         county_editor (own county), admin
``GET /changes``, ``/changes/{id}``  county_editor (own county), city_reviewer, admin
``…/diff``, ``…/grids``, ``…/package``
``POST …/file``, ``…/withdraw``     county_editor (own county), admin
``POST …/accept``, ``…/return``     city_reviewer (receiving division), admin
``GET /notifications``, ``POST …/read``  any token (departments read their outbox)
=================================  ===============================================
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.background import BackgroundTask

from gridgeo.errors import InputError, PermissionDeniedError, Problem
from gridgeo.i18n import _
from gridgeo.registry.users import Principal
from gridgeo.registry.workflow import refusals_audited
from gridgeo.service.auth import CallerDep, require_role
from gridgeo.service.deps import service_settings, spool_body

router = APIRouter(tags=["changes"])

_SUFFIXES = {".gpkg", ".geojson", ".json", ".zip"}


# -- bodies -----------------------------------------------------------------------------
class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class FileIn(_Body):
    note: str = Field(default="", max_length=2000)
    force: bool = False
    force_reason: str = Field(
        default="", max_length=4000, description="Required with force: why the breaks stand"
    )


class ReasonIn(_Body):
    reason: str = Field(default="", max_length=4000)


def _body_doc(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


async def _json(request: Request, model: type[_Body]) -> Any:
    """The JSON body as ``model`` (read only after the role check); empty = defaults."""
    raw = await request.body()
    if len(raw) > 64 * 1024:
        raise HTTPException(413, _("the request body is larger than 64 KiB"))
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise InputError(
            _("the request body is not valid"),
            [
                Problem(e["msg"], field=".".join(str(x) for x in e["loc"]) or None, rule="body")
                for e in exc.errors()
            ],
        ) from None


# -- callers ----------------------------------------------------------------------------
def _bind(request: Request) -> str:
    return request.app.state.db_url  # the application role, not the owner


def _scope(caller: Principal, county_code: str) -> None:
    """Callers see only the change sets of counties inside their own division."""
    if not caller.covers(str(county_code)):
        raise PermissionDeniedError(
            _("the area {area} of {user} does not include county {county}").format(
                user=caller.label, area=caller.division_code, county=county_code
            )
        )


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(df.to_json(orient="records", date_format="iso", force_ascii=False))


def _header(cs) -> dict[str, Any]:
    out = {k: getattr(cs, k) for k in cs.__dataclass_fields__}
    return json.loads(json.dumps(out, default=str, ensure_ascii=False))


# -- upload -----------------------------------------------------------------------------


def _load(
    url: str, path: Path, filename: str, county: str, actor: Principal, title: str, reason: str
):
    from gridgeo.io import list_layers, read_layer
    from gridgeo.registry import load_grids

    with refusals_audited(url, actor, "load", None):
        try:
            names = [n for n, _ in list_layers(str(path))]
        except Exception:  # a single-layer format: read_layer reports real problems
            names = []
        grids = read_layer(str(path), "grids" if "grids" in names else None)
        grids = (
            grids.rename(columns=_shapefile_names(grids.columns))
            if path.suffix == ".zip"
            else grids
        )
        grids.attrs["source"] = filename
        communities = read_layer(str(path), "communities") if "communities" in names else None
        return load_grids(
            url,
            grids,
            county=county,
            actor=actor,
            communities=communities,
            code_pattern=_pattern(url, county),
            title=title,
            reason=reason,
        )


def _shapefile_names(columns) -> dict[str, str]:
    """DBF field names are cut to 10 characters: ``community_`` is ``community_code``."""
    from gridgeo.io.schemas import get_schema

    full = [f.name for f in get_schema("grids").fields]
    return {c: f for f in full for c in columns if len(f) > 10 and c == f[:10] and f not in columns}


def _pattern(url: str, county: str) -> str | None:
    """The community code pattern of the county's bound profile (none bound: the default)."""
    from gridgeo.errors import ConflictError
    from gridgeo.registry.bindings import bound_profile

    try:
        return bound_profile(url, county).load().codes.community_pattern
    except ConflictError:
        return None


@router.post(
    "/changes",
    status_code=201,
    summary="Upload a grid layer as a draft change set (GeoPackage, GeoJSON, zipped Shapefile)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def upload_changes(
    request: Request,
    caller: CallerDep,
    county: Annotated[str, Query(min_length=1, max_length=20, description="Your county code")],
    filename: Annotated[
        str, Query(max_length=200, description="File name; its suffix names the format")
    ] = "grids.gpkg",
    title: Annotated[str, Query(max_length=200)] = "",
    reason: Annotated[str, Query(max_length=2000)] = "",
) -> dict[str, Any]:
    """The body is the file itself. Only the grids of the layer's communities change;
    the draft is filed separately (``POST /changes/{id}/file``)."""
    require_role(caller, "changeset.draft")
    actor = caller
    url = _bind(request)
    # wrong county: 403 before a byte is read, and the attempt is in the audit log
    with refusals_audited(url, actor, "load", None):
        actor.require("changeset.draft", county)
    suffix = Path(filename).suffix.lower()
    if suffix not in _SUFFIXES:
        raise InputError(
            _("filename {filename!r}: send a .gpkg, .geojson or a .zip with a Shapefile").format(
                filename=filename
            ),
            [Problem(_("unsupported format"), field="filename", rule="upload.format")],
        )
    limit = service_settings(request).upload_max_bytes
    with tempfile.TemporaryDirectory(prefix="gridgeo-upload-") as tmp:
        path = await spool_body(
            request, Path(tmp) / f"upload{suffix}", limit, _("the grid layer file")
        )
        res = await run_in_threadpool(_load, url, path, filename, county, actor, title, reason)
    return {
        "changeset_id": res.changeset_id,
        "actions": res.actions,
        "unchanged": res.unchanged,
        "new_codes": res.new_codes,
        "retired_codes": res.retired_codes,
        "warnings": [str(w) for w in res.warnings],
    }


# -- read -------------------------------------------------------------------------------
@router.get("/changes", summary="Change sets, newest first")
def list_changes(
    request: Request,
    caller: CallerDep,
    status: Annotated[
        str | None, Query(pattern="^(draft|filed|accepted|returned|withdrawn)$")
    ] = None,
) -> list[dict[str, Any]]:
    from gridgeo.registry import list_changesets

    require_role(caller, "changeset.read")
    county = caller.division_code if caller.role == "county_editor" else None
    df = list_changesets(_bind(request), status=status, county=county)
    if caller.role == "county_editor":
        df = df[df["county_code"] == caller.division_code]
    return _records(df)


def _visible(request: Request, caller: Principal, changeset_id: int):
    from gridgeo.registry import get_changeset

    require_role(caller, "changeset.read")
    cs = get_changeset(_bind(request), changeset_id)
    _scope(caller, cs.county_code)
    return cs


@router.get("/changes/{changeset_id}", summary="One change set: header, items, findings")
def show_change(request: Request, caller: CallerDep, changeset_id: int) -> dict[str, Any]:
    from gridgeo.registry import changeset_items

    cs = _visible(request, caller, changeset_id)
    items = changeset_items(_bind(request), changeset_id).drop(columns=["payload"])
    return {"changeset": _header(cs), "items": _records(items)}


@router.get("/changes/{changeset_id}/diff", summary="Per code: new, kept or retired, households")
def diff_change(request: Request, caller: CallerDep, changeset_id: int) -> dict[str, Any]:
    from gridgeo.registry import changeset_grids, changeset_items
    from gridgeo.registry.export import code_changes
    from gridgeo.registry.reassignments import reassignments

    _visible(request, caller, changeset_id)
    url = _bind(request)
    old, new = changeset_grids(url, changeset_id)
    changes = code_changes(changeset_items(url, changeset_id), old, new)
    return {
        "codes": _records(changes),
        "reassignments": _records(reassignments(url, changeset_id)),
    }


@router.get("/changes/{changeset_id}/grids", summary="Grids before and after, GeoJSON (WGS 84)")
def change_grids(request: Request, caller: CallerDep, changeset_id: int) -> dict[str, Any]:
    from gridgeo.registry import changeset_grids

    _visible(request, caller, changeset_id)
    old, new = changeset_grids(_bind(request), changeset_id)

    def fc(frame) -> dict[str, Any]:
        if frame.empty:
            return {"type": "FeatureCollection", "features": []}
        cols = ["grid_code", "grid_name", "grid_type", "community_code", "households", "geometry"]
        return json.loads(frame[cols].to_crs(4326).to_json(drop_id=True))

    return {"before": fc(old), "after": fc(new)}


@router.get(
    "/changes/{changeset_id}/package",
    summary="The filing package (zip: grids, code changes, reassignments, summary, maps)",
    response_class=FileResponse,
)
def change_package(request: Request, caller: CallerDep, changeset_id: int) -> FileResponse:
    from gridgeo.registry.export import export_changeset

    _visible(request, caller, changeset_id)
    tmp = tempfile.TemporaryDirectory(prefix="gridgeo-package-")
    path = export_changeset(_bind(request), changeset_id, Path(tmp.name) / "package.zip")
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"changeset_{changeset_id}.zip",
        background=BackgroundTask(tmp.cleanup),
    )


# -- act --------------------------------------------------------------------------------
@router.post(
    "/changes/{changeset_id}/file",
    summary="File a draft (备案) under the county's bound profile; force needs a reason",
    openapi_extra=_body_doc(FileIn),
)
async def file_change(request: Request, caller: CallerDep, changeset_id: int) -> dict[str, Any]:
    from gridgeo.registry import file_changeset

    require_role(caller, "changeset.draft")
    body = await _json(request, FileIn)
    cs = await run_in_threadpool(
        file_changeset,
        _bind(request),
        changeset_id,
        actor=caller,
        note=body.note,
        force=body.force,
        force_reason=body.force_reason,
    )
    return {"changeset": _header(cs)}


@router.post(
    "/changes/{changeset_id}/withdraw",
    summary="Withdraw the county's own draft or filed change set",
    openapi_extra=_body_doc(ReasonIn),
)
async def withdraw_change(request: Request, caller: CallerDep, changeset_id: int) -> dict[str, Any]:
    from gridgeo.registry import withdraw_changeset

    require_role(caller, "changeset.draft")
    body = await _json(request, ReasonIn)
    return await run_in_threadpool(
        withdraw_changeset, _bind(request), changeset_id, actor=caller, reason=body.reason
    )


@router.post(
    "/changes/{changeset_id}/accept",
    summary="Accept a filed change set: it becomes current; departments are notified",
    openapi_extra=_body_doc(ReasonIn),
)
async def accept_change(request: Request, caller: CallerDep, changeset_id: int) -> dict[str, Any]:
    from gridgeo.registry import accept_changeset

    require_role(caller, "changeset.review")
    body = await _json(request, ReasonIn)
    summary = await run_in_threadpool(
        accept_changeset,
        _bind(request),
        changeset_id,
        actor=caller,
        reason=body.reason or None,
    )
    await run_in_threadpool(request.app.state.registry_state.refresh)
    return json.loads(json.dumps(summary, default=str))


@router.post(
    "/changes/{changeset_id}/return",
    summary="Return a filed change set to its county with a reason",
    openapi_extra=_body_doc(ReasonIn),
)
async def return_change(request: Request, caller: CallerDep, changeset_id: int) -> dict[str, Any]:
    from gridgeo.registry import return_changeset

    require_role(caller, "changeset.review")
    body = await _json(request, ReasonIn)
    return await run_in_threadpool(
        return_changeset, _bind(request), changeset_id, actor=caller, reason=body.reason
    )


# -- notifications ----------------------------------------------------------------------


@router.get("/notifications", summary="Departments' notifications of accepted division changes")
def list_notifications(
    request: Request,
    caller: CallerDep,
    department: Annotated[str | None, Query(max_length=200)] = None,
    unread: bool = False,
) -> list[dict[str, Any]]:
    from gridgeo.registry.outbox import notifications

    require_role(caller, "notifications.read")
    return _records(notifications(_bind(request), department=department, unread=unread))


@router.post("/notifications/{notification_id}/read", summary="Read receipt for a notification")
def read_notification(request: Request, caller: CallerDep, notification_id: int) -> dict[str, Any]:
    from gridgeo.registry.outbox import mark_read

    require_role(caller, "notifications.read")
    at = mark_read(_bind(request), notification_id, reader=caller.label or caller.role)
    return {"notification_id": notification_id, "read_at": at.isoformat(), "read_by": caller.label}
