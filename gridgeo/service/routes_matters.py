"""The matter list (事项清单): categories, departments and their coverage (包片).

Routes parse, check the caller and call :mod:`gridgeo.registry.matters`, which owns
the SQL and says which edits are change-set items. Write routes name their action with
:func:`~gridgeo.service.auth.needs`: the role is checked before the JSON body is read.

Coverage (包片) by grid is a change-set item: ``POST /coverage`` drafts a change set
(202, its id and the next step); the county files it (``POST /changes/{id}/file``) and a
reviewer who did not draft it accepts it (``POST /changes/{id}/accept``). Only then does
``GET /coverage`` list the rows. ``DELETE /coverage/{id}`` drafts the ending the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from gridgeo.errors import ConflictError, PermissionDeniedError
from gridgeo.i18n import _
from gridgeo.registry import matters
from gridgeo.registry.assignments import draft_assignments, refuse_polygon_coverage
from gridgeo.registry.users import Principal
from gridgeo.service.auth import CallerDep, RoleFirst, needs
from gridgeo.service.deps import db_errors, parse_polygon, read_pool, service_settings
from gridgeo.times import parse_at

router = APIRouter(tags=["matters"], route_class=RoleFirst)


class _Body(BaseModel):
    """Request bodies are JSON with the documented types: no 0 for false, no "5" for 5."""

    model_config = ConfigDict(strict=True)


class CategoryIn(_Body):
    code: str = Field(pattern=r"^[a-z0-9_]{1,64}$", examples=["sanitation"])
    name: str = Field(min_length=1, max_length=200, examples=["环境卫生"])
    description: str = ""
    deadline_days: int = Field(default=5, gt=0)
    complex_deadline_days: int = Field(default=10, gt=0)
    is_sample: bool = False


class CategoryPatch(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    deadline_days: int | None = Field(default=None, gt=0)
    complex_deadline_days: int | None = Field(default=None, gt=0)


class DepartmentIn(_Body):
    name: str = Field(min_length=1, max_length=200, examples=["区城市管理局"])
    phone: str | None = Field(default=None, max_length=40)
    is_sample: bool = False


class DepartmentPatch(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=40)


class CoverageIn(_Body):
    department_id: int
    category: str = Field(pattern=r"^[a-z0-9_]{1,64}$")
    grid_codes: list[str] = Field(default_factory=list, max_length=100_000)
    geometry: dict[str, Any] | None = Field(
        default=None,
        description="Refused (400, coverage.polygon): coverage is a set of grids, never a "
        "polygon a department draws",
    )
    lead: bool = True
    title: str = Field(default="", max_length=200, description="Title of the drafted change set")
    reason: str = Field(default="", max_length=4000, description="Why (kept in the audit log)")


def _pool(request: Request):
    return request.app.state.pool


def _refresh(request: Request) -> None:
    # read-your-writes: the listener will also refresh on the NOTIFY
    request.app.state.registry_state.refresh()


# -- categories ------------------------------------------------------------------------


@router.get("/categories", summary="The matter list: incident categories and deadlines")
def list_categories(request: Request) -> list[dict[str, Any]]:
    with db_errors(_("listing categories")), read_pool(request).connection(timeout=10) as conn:
        return matters.list_categories(conn)


@router.post("/categories", status_code=201, summary="Add a category (admin)")
@needs("matters.admin")
def create_category(request: Request, caller: CallerDep, body: CategoryIn) -> dict[str, Any]:
    caller.require("matters.admin")
    with (
        db_errors(_("category {code}").format(code=body.code)),
        _pool(request).connection(timeout=10) as conn,
    ):
        matters.add_categories(conn, [body.model_dump()], skip_existing=False)
    _refresh(request)
    return body.model_dump()


@router.patch("/categories/{code}", summary="Change a category (admin)")
@needs("matters.admin")
def update_category(
    request: Request, caller: CallerDep, code: str, body: CategoryPatch
) -> dict[str, Any]:
    caller.require("matters.admin")
    with (
        db_errors(_("category {code}").format(code=code)),
        _pool(request).connection(timeout=10) as conn,
    ):
        row = matters.update_category(conn, code, body.model_dump(exclude_none=True))
    _refresh(request)
    return row


@router.delete("/categories/{code}", status_code=204, summary="Remove a category (admin)")
@needs("matters.admin")
def delete_category(request: Request, caller: CallerDep, code: str) -> Response:
    caller.require("matters.admin")
    with (
        db_errors(_("category {code}").format(code=code)),
        _pool(request).connection(timeout=10) as conn,
    ):
        matters.delete_category(conn, code)
    _refresh(request)
    return Response(status_code=204)


# -- departments -----------------------------------------------------------------------


@router.get("/departments", summary="Departments with their current coverage")
def list_departments(request: Request) -> list[dict[str, Any]]:
    with db_errors(_("listing departments")), read_pool(request).connection(timeout=10) as conn:
        return matters.list_departments(conn)


@router.get("/departments/{department_id}", summary="One department and its coverage")
def get_department(request: Request, department_id: int) -> dict[str, Any]:
    with db_errors(_("reading department")), read_pool(request).connection(timeout=10) as conn:
        dep = matters.get_department(conn, department_id)
        cov = matters.list_coverage(conn, department_id=department_id)
    return dep | {"coverage": cov}


@router.post("/departments", status_code=201, summary="Add a department (admin)")
@needs("matters.admin")
def create_department(request: Request, caller: CallerDep, body: DepartmentIn) -> dict[str, Any]:
    caller.require("matters.admin")
    with (
        db_errors(_("department {name}").format(name=body.name)),
        _pool(request).connection(timeout=10) as conn,
    ):
        dep_id = matters.add_department(conn, body.name, phone=body.phone, is_sample=body.is_sample)
    _refresh(request)
    return {"department_id": dep_id, **body.model_dump()}


@router.patch("/departments/{department_id}", summary="Rename or re-phone a department (admin)")
@needs("matters.admin")
def update_department(
    request: Request, caller: CallerDep, department_id: int, body: DepartmentPatch
) -> dict[str, Any]:
    caller.require("matters.admin")
    with (
        db_errors(_("department {name}").format(name=department_id)),
        _pool(request).connection(timeout=10) as conn,
    ):
        row = matters.update_department(conn, department_id, body.model_dump(exclude_unset=True))
    _refresh(request)
    return row


@router.delete(
    "/departments/{department_id}",
    status_code=204,
    summary="Remove a department without coverage history (admin)",
)
@needs("matters.admin")
def delete_department(request: Request, caller: CallerDep, department_id: int) -> Response:
    caller.require("matters.admin")
    with (
        db_errors(_("department {name}").format(name=department_id)),
        _pool(request).connection(timeout=10) as conn,
    ):
        matters.delete_department(conn, department_id)
    _refresh(request)
    return Response(status_code=204)


# -- coverage --------------------------------------------------------------------------


@router.get("/coverage", summary="Which department covers which category where")
def list_coverage(
    request: Request,
    category: str | None = None,
    grid_code: str | None = None,
    at: Annotated[str | None, Query(description="valid at (default now)")] = None,
) -> list[dict[str, Any]]:
    when: datetime | None = parse_at(at, service_settings(request).timezone)
    with db_errors(_("listing coverage")), read_pool(request).connection(timeout=10) as conn:
        return matters.list_coverage(conn, at=when, category=category, grid_code=grid_code)


def _require_scope(caller: Principal, communities: dict[str, str | None]) -> None:
    """Each grid's community must be inside the caller's division (whole codes, hierarchy)."""
    for grid_code, community in communities.items():
        if not caller.covers(community):
            raise PermissionDeniedError(
                _("grid {grid_code} is outside division {division_code} of this token").format(
                    grid_code=grid_code, division_code=caller.division_code
                )
            )


def _draft_target(
    conn, caller: Principal, department_id: int, category: str, grid_codes: list[str]
) -> tuple[str, str]:
    """Check a coverage change set before it is drafted: the caller drafts (county editors
    their own county, admins), the grids are in its division; the county and department."""
    caller.require("changeset.draft")  # a change set: county editors (own county), admins
    _require_scope(caller, matters.grid_communities(conn, grid_codes))
    return matters.coverage_draft_target(
        conn,
        department_id=department_id,
        category=category,
        grid_codes=grid_codes,
        county=caller.division_code if caller.role == "county_editor" else None,
    )


@router.post(
    "/coverage",
    status_code=202,
    summary="Draft a change set assigning a department to a category on grids (包片)",
    response_description="The draft change set: file it, then a reviewer accepts it",
)
@needs("coverage.edit")
def create_coverage(request: Request, caller: CallerDep, body: CoverageIn) -> dict[str, Any]:
    if body.geometry is not None:  # refused for every role (coverage.polygon)
        parse_polygon(body.geometry, max_vertices=request.app.state.settings.max_vertices)
        raise refuse_polygon_coverage("geometry")
    with db_errors(_("coverage")), _pool(request).connection(timeout=30) as conn:
        county, department = _draft_target(
            conn, caller, body.department_id, body.category, body.grid_codes
        )
    rows = [
        {"grid_code": g, "category": body.category, "department": department, "lead": body.lead}
        for g in dict.fromkeys(body.grid_codes)
    ]
    cs = draft_assignments(
        request.app.state.db_url,
        county=county,
        actor=caller,
        coverage=pd.DataFrame(rows, columns=["grid_code", "category", "department", "lead"]),
        title=body.title or f"包片 {body.category}: {department}",
        reason=body.reason,
    )
    return {
        "changeset_id": cs,
        "status": "draft",
        "county_code": county,
        "items": len(rows),
        "next": f"/changes/{cs}/file",
    }


@router.delete(
    "/coverage/{coverage_id}",
    status_code=202,
    summary="Draft a change set ending a coverage row (kept as history once accepted)",
    response_description="The draft change set: file it, then a reviewer accepts it",
    responses={204: {"description": "A drawn (polygon) row of old data, ended at once"}},
)
@needs("coverage.edit")
def close_coverage(request: Request, caller: CallerDep, coverage_id: int) -> Any:
    caller.require("coverage.edit")
    with (
        db_errors(_("coverage {id}").format(id=coverage_id)),
        _pool(request).connection(timeout=10) as conn,
    ):
        row = matters.coverage_row(conn, coverage_id)
        if row["valid_to"] is not None:
            raise ConflictError(
                _("coverage row {coverage_id} already ended at {valid_to}").format(
                    coverage_id=coverage_id, valid_to=row["valid_to"].isoformat()
                )
            )
        if row["by_polygon"]:
            # drawn areas are old data no change set can name; reviewers end them directly
            caller.require("coverage.polygon")
            matters.end_coverage(conn, coverage_id)
        else:
            county, _department = _draft_target(
                conn, caller, row["department_id"], row["category"], [row["grid_code"]]
            )
    if row["by_polygon"]:
        _refresh(request)
        return Response(status_code=204)
    cs = draft_assignments(
        request.app.state.db_url,
        county=county,
        actor=caller,
        end_coverage=[coverage_id],
        title=f"结束包片 {row['category']}: {row['department']} {row['grid_code']}",
    )
    return {
        "changeset_id": cs,
        "status": "draft",
        "county_code": county,
        "items": 1,
        "next": f"/changes/{cs}/file",
    }
