"""The matter list (事项清单): categories, departments and their coverage (包片)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from gridgeo.errors import ConflictError, InputError, NotFoundError, Problem
from gridgeo.service.auth import CallerDep
from gridgeo.service.deps import db_errors, parse_at, parse_polygon, service_settings

router = APIRouter(tags=["matters"])


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
        default=None, description="GeoJSON Polygon/MultiPolygon in lon/lat (WGS 84)"
    )
    lead: bool = True


def _pool(request: Request):
    return request.app.state.pool


def _refresh(request: Request) -> None:
    # read-your-writes: the listener will also refresh on the NOTIFY
    request.app.state.registry_state.refresh()


# -- categories ------------------------------------------------------------------------


@router.get("/categories", summary="The matter list: incident categories and deadlines")
def list_categories(request: Request) -> list[dict[str, Any]]:
    with db_errors("listing categories"), _pool(request).connection(timeout=10) as conn:
        rows = conn.execute(
            """
            SELECT c.code, c.name, c.description, c.deadline_days, c.complex_deadline_days,
                   c.is_sample,
                   (SELECT count(DISTINCT v.department_id) FROM registry.department_coverage v
                     WHERE v.category = c.code AND v.valid_to IS NULL)
              FROM service.category c ORDER BY c.code
            """
        ).fetchall()
    keys = [
        "code",
        "name",
        "description",
        "deadline_days",
        "complex_deadline_days",
        "is_sample",
        "departments",
    ]
    return [dict(zip(keys, r, strict=True)) for r in rows]


@router.post("/categories", status_code=201, summary="Add a category (admin)")
def create_category(request: Request, caller: CallerDep, body: CategoryIn) -> dict[str, Any]:
    caller.require("matter_admin", "changing the matter list")
    with db_errors(f"category {body.code}"), _pool(request).connection(timeout=10) as conn:
        conn.execute(
            "INSERT INTO service.category (code, name, description, deadline_days, "
            "complex_deadline_days, is_sample) VALUES (%s, %s, %s, %s, %s, %s)",
            (
                body.code,
                body.name,
                body.description,
                body.deadline_days,
                body.complex_deadline_days,
                body.is_sample,
            ),
        )
    _refresh(request)
    return body.model_dump()


@router.patch("/categories/{code}", summary="Change a category (admin)")
def update_category(
    request: Request, caller: CallerDep, code: str, body: CategoryPatch
) -> dict[str, Any]:
    caller.require("matter_admin", "changing the matter list")
    changes = body.model_dump(exclude_none=True)
    with db_errors(f"category {code}"), _pool(request).connection(timeout=10) as conn:
        if changes:
            sets = ", ".join(f"{k} = %({k})s" for k in changes)  # keys are model fields
            cur = conn.execute(
                f"UPDATE service.category SET {sets} WHERE code = %(code)s",
                changes | {"code": code},
            )
        else:
            cur = conn.execute("SELECT 1 FROM service.category WHERE code = %s", (code,))
        if cur.rowcount == 0:
            raise NotFoundError(f"no category {code!r}")
        row = conn.execute(
            "SELECT code, name, description, deadline_days, complex_deadline_days, is_sample "
            "FROM service.category WHERE code = %s",
            (code,),
        ).fetchone()
    _refresh(request)
    keys = ["code", "name", "description", "deadline_days", "complex_deadline_days", "is_sample"]
    return dict(zip(keys, row, strict=True))


@router.delete("/categories/{code}", status_code=204, summary="Remove a category (admin)")
def delete_category(request: Request, caller: CallerDep, code: str) -> Response:
    caller.require("matter_admin", "changing the matter list")
    with db_errors(f"category {code}"), _pool(request).connection(timeout=10) as conn:
        used = conn.execute(
            "SELECT count(*) FROM registry.department_coverage WHERE category = %s "
            "AND valid_to IS NULL",
            (code,),
        ).fetchone()[0]
        if used:
            raise ConflictError(
                f"category {code!r} is still assigned to departments ({used} coverage rows); "
                "close them first (DELETE /coverage/{id})"
            )
        cur = conn.execute("DELETE FROM service.category WHERE code = %s", (code,))
        if cur.rowcount == 0:
            raise NotFoundError(f"no category {code!r}")
    _refresh(request)
    return Response(status_code=204)


# -- departments -----------------------------------------------------------------------

_DEP_KEYS = ["department_id", "name", "phone", "is_sample"]


@router.get("/departments", summary="Departments with their current coverage")
def list_departments(request: Request) -> list[dict[str, Any]]:
    with db_errors("listing departments"), _pool(request).connection(timeout=10) as conn:
        rows = conn.execute(
            """
            SELECT d.department_id, d.name, d.phone, d.is_sample,
                   coalesce(array_agg(DISTINCT v.category) FILTER (WHERE v.category IS NOT NULL),
                            '{}')
              FROM registry.department d
              LEFT JOIN registry.department_coverage v
                ON v.department_id = d.department_id AND v.valid_to IS NULL
             GROUP BY d.department_id ORDER BY d.department_id
            """
        ).fetchall()
    return [dict(zip([*_DEP_KEYS, "categories"], r, strict=True)) for r in rows]


@router.get("/departments/{department_id}", summary="One department and its coverage")
def get_department(request: Request, department_id: int) -> dict[str, Any]:
    with db_errors("reading department"), _pool(request).connection(timeout=10) as conn:
        row = conn.execute(
            "SELECT department_id, name, phone, is_sample FROM registry.department "
            "WHERE department_id = %s",
            (department_id,),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no department {department_id}")
        cov = _coverage_rows(
            conn, "v.department_id = %(d)s AND v.valid_to IS NULL", {"d": department_id}
        )
    return dict(zip(_DEP_KEYS, row, strict=True)) | {"coverage": cov}


@router.post("/departments", status_code=201, summary="Add a department (admin)")
def create_department(request: Request, caller: CallerDep, body: DepartmentIn) -> dict[str, Any]:
    caller.require("matter_admin", "changing departments")
    with db_errors(f"department {body.name}"), _pool(request).connection(timeout=10) as conn:
        dep_id = conn.execute(
            "INSERT INTO registry.department (name, phone, is_sample) VALUES (%s, %s, %s) "
            "RETURNING department_id",
            (body.name, body.phone, body.is_sample),
        ).fetchone()[0]
    _refresh(request)
    return {"department_id": dep_id, **body.model_dump()}


@router.patch("/departments/{department_id}", summary="Rename or re-phone a department (admin)")
def update_department(
    request: Request, caller: CallerDep, department_id: int, body: DepartmentPatch
) -> dict[str, Any]:
    caller.require("matter_admin", "changing departments")
    changes = body.model_dump(exclude_unset=True)
    with db_errors(f"department {department_id}"), _pool(request).connection(timeout=10) as conn:
        if changes:
            sets = ", ".join(f"{k} = %({k})s" for k in changes)
            conn.execute(
                f"UPDATE registry.department SET {sets} WHERE department_id = %(id)s",
                changes | {"id": department_id},
            )
        row = conn.execute(
            "SELECT department_id, name, phone, is_sample FROM registry.department "
            "WHERE department_id = %s",
            (department_id,),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no department {department_id}")
    _refresh(request)
    return dict(zip(_DEP_KEYS, row, strict=True))


@router.delete(
    "/departments/{department_id}",
    status_code=204,
    summary="Remove a department without coverage history (admin)",
)
def delete_department(request: Request, caller: CallerDep, department_id: int) -> Response:
    caller.require("matter_admin", "changing departments")
    with db_errors(f"department {department_id}"), _pool(request).connection(timeout=10) as conn:
        n = conn.execute(
            "SELECT count(*) FROM registry.department_coverage WHERE department_id = %s",
            (department_id,),
        ).fetchone()[0]
        if n:
            raise ConflictError(
                f"department {department_id} has {n} coverage rows kept as history (locating "
                "at past dates uses them); close its coverage instead (DELETE /coverage/{id})"
            )
        cur = conn.execute(
            "DELETE FROM registry.department WHERE department_id = %s", (department_id,)
        )
        if cur.rowcount == 0:
            raise NotFoundError(f"no department {department_id}")
    _refresh(request)
    return Response(status_code=204)


# -- coverage --------------------------------------------------------------------------


def _coverage_rows(conn, where: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    rows = conn.execute(
        f"""
        SELECT v.coverage_id, v.department_id, d.name, v.category, v.grid_code,
               v.geom IS NOT NULL, v.lead, v.valid_from, v.valid_to
          FROM registry.department_coverage v JOIN registry.department d USING (department_id)
         WHERE {where}
         ORDER BY v.category, v.grid_code, v.coverage_id
        """,
        params,
    ).fetchall()
    keys = [
        "coverage_id",
        "department_id",
        "department",
        "category",
        "grid_code",
        "by_polygon",
        "lead",
        "valid_from",
        "valid_to",
    ]
    return [dict(zip(keys, r, strict=True)) for r in rows]


@router.get("/coverage", summary="Which department covers which category where")
def list_coverage(
    request: Request,
    category: str | None = None,
    grid_code: str | None = None,
    at: Annotated[str | None, Query(description="valid at (default now)")] = None,
) -> list[dict[str, Any]]:
    when: datetime | None = parse_at(at, service_settings(request).timezone)
    where = [
        "v.valid_from <= coalesce(%(at)s::timestamptz, now())",
        "coalesce(%(at)s::timestamptz, now()) < coalesce(v.valid_to, 'infinity')",
    ]
    params: dict[str, Any] = {"at": when}
    if category:
        where.append("v.category = %(category)s")
        params["category"] = category
    if grid_code:
        where.append("v.grid_code = %(grid_code)s")
        params["grid_code"] = grid_code
    with db_errors("listing coverage"), _pool(request).connection(timeout=10) as conn:
        return _coverage_rows(conn, " AND ".join(where), params)


@router.post(
    "/coverage", status_code=201, summary="Assign a department to a category on grids or a polygon"
)
def create_coverage(request: Request, caller: CallerDep, body: CoverageIn) -> list[dict[str, Any]]:
    caller.require("coverage_edit", "assigning departments")
    if not body.grid_codes and body.geometry is None:
        raise InputError(
            "give grid_codes or a geometry",
            [Problem("nothing to cover", field="grid_codes", rule="coverage.empty")],
        )
    if body.geometry is not None:
        caller.require("coverage_polygon", "coverage by polygon")
        parse_polygon(body.geometry, max_vertices=request.app.state.settings.max_vertices)
    for code in body.grid_codes:
        caller.require_grid_scope(code)
    with db_errors("coverage"), _pool(request).connection(timeout=30) as conn:
        if not conn.execute(
            "SELECT 1 FROM registry.department WHERE department_id = %s", (body.department_id,)
        ).fetchone():
            raise NotFoundError(f"no department {body.department_id}")
        if not conn.execute(
            "SELECT 1 FROM service.category WHERE code = %s", (body.category,)
        ).fetchone():
            raise NotFoundError(
                f"no category {body.category!r} in the matter list (POST /categories)"
            )
        if body.grid_codes:
            known = {
                r[0]
                for r in conn.execute(
                    "SELECT grid_code FROM registry.current_grid WHERE grid_code = ANY(%s)",
                    (body.grid_codes,),
                ).fetchall()
            }
            missing = sorted(set(body.grid_codes) - known)
            if missing:
                raise InputError(
                    f"{len(missing)} grid codes are not current grids",
                    [
                        Problem(
                            f"grid {c} is not a current grid",
                            field="grid_codes",
                            rule="coverage.grid",
                        )
                        for c in missing
                    ],
                )
        ids = []
        for code in dict.fromkeys(body.grid_codes):
            ids.append(
                conn.execute(
                    "INSERT INTO registry.department_coverage (department_id, category, grid_code, lead) "
                    "VALUES (%s, %s, %s, %s) RETURNING coverage_id",
                    (body.department_id, body.category, code, body.lead),
                ).fetchone()[0]
            )
        if body.geometry is not None:
            # valid in lon/lat is not enough: check it where it is stored (the registry's CRS)
            ok = conn.execute(
                "SELECT ST_IsValid(g) AND NOT ST_IsEmpty(g) FROM ST_Transform("
                "ST_SetSRID(ST_GeomFromGeoJSON(%s), 4326), registry.srid()) AS g",
                (json.dumps(body.geometry),),
            ).fetchone()[0]
            if not ok:
                raise InputError(
                    "the coverage polygon is not valid in the registry's CRS "
                    "(self-intersecting, or too large to transform?)",
                    [Problem("invalid polygon", field="geometry", rule="coverage.geometry")],
                )
            ids.append(
                conn.execute(
                    "INSERT INTO registry.department_coverage (department_id, category, geom, lead) "
                    "VALUES (%s, %s, ST_Transform(ST_SetSRID(ST_GeomFromGeoJSON(%s), 4326), "
                    "registry.srid()), %s) RETURNING coverage_id",
                    (body.department_id, body.category, json.dumps(body.geometry), body.lead),
                ).fetchone()[0]
            )
        rows = _coverage_rows(conn, "v.coverage_id = ANY(%(ids)s)", {"ids": ids})
    _refresh(request)
    return rows


@router.delete(
    "/coverage/{coverage_id}", status_code=204, summary="End a coverage row (kept as history)"
)
def close_coverage(request: Request, caller: CallerDep, coverage_id: int) -> Response:
    caller.require("coverage_edit", "assigning departments")
    with db_errors(f"coverage {coverage_id}"), _pool(request).connection(timeout=10) as conn:
        row = conn.execute(
            "SELECT grid_code, geom IS NOT NULL, valid_to FROM registry.department_coverage "
            "WHERE coverage_id = %s",
            (coverage_id,),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no coverage row {coverage_id}")
        if row[1]:
            caller.require("coverage_polygon", "coverage by polygon")
        if row[0] is not None:
            caller.require_grid_scope(row[0])
        if row[2] is not None:
            raise ConflictError(f"coverage row {coverage_id} already ended at {row[2].isoformat()}")
        conn.execute(
            "UPDATE registry.department_coverage SET valid_to = clock_timestamp() "
            "WHERE coverage_id = %s",
            (coverage_id,),
        )
    _refresh(request)
    return Response(status_code=204)
