"""Matter lists over the API: a category's history and the dispatch check (negative list)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from gridgeo.i18n import _
from gridgeo.registry import matter_lists
from gridgeo.registry.components import route_problem
from gridgeo.service.auth import CallerDep
from gridgeo.service.deps import db_errors

router = APIRouter(tags=["matters"])


@router.get("/categories/{code}/history", summary="Every version of a category (事项目录历史)")
def category_history(request: Request, code: str) -> list[dict[str, Any]]:
    with (
        db_errors(_("category {code}").format(code=code)),
        request.app.state.pool.connection(timeout=10) as conn,
    ):
        return matter_lists.catalogue_history(conn, code)


@router.get(
    "/matters/dispatch-check",
    summary="May a matter be dispatched to grid workers? (negative list, admission list)",
)
def dispatch_check(
    request: Request,
    caller: CallerDep,
    category: Annotated[str, Query(pattern=r"^[a-z0-9_]{1,64}$")],
    county: Annotated[str | None, Query(pattern=r"^\d{1,20}$")] = None,
) -> dict[str, Any]:
    """``allowed``, and when not, ``reason`` and the article (``basis``)."""
    caller.require("contacts.private")
    with (
        db_errors(_("category {code}").format(code=category)),
        request.app.state.pool.connection(timeout=10) as conn,
    ):
        d = matter_lists.may_dispatch_to_grid_worker(conn, category, county=county)
    return {"category": category, "allowed": d.allowed, "reason": d.reason, "basis": d.basis}


@router.get(
    "/route",
    summary="Which department a problem goes to: component owner, grid coverage, category default",
)
async def route(
    request: Request,
    caller: CallerDep,
    category: Annotated[str, Query(pattern=r"^[a-z0-9_]{1,64}$")],
    component_id: Annotated[str | None, Query(max_length=100)] = None,
    grid_code: Annotated[str | None, Query(pattern=r"^\d{1,30}$")] = None,
) -> dict[str, Any]:
    """``department``, ``rule`` (component_owner, grid_coverage, category_default, none)
    and ``grid_code``."""
    caller.require("contacts.private")
    url = request.app.state.registry_state.conninfo
    r = await run_in_threadpool(
        route_problem, url, category=category, component_id=component_id, grid_code=grid_code
    )
    return {"department": r.department, "rule": r.rule, "grid_code": r.grid_code}
