"""Staffing rules over the API: which grids break the profile's ``[staff]`` rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from gridgeo.registry.staff import check_staff
from gridgeo.service.auth import CallerDep

router = APIRouter(tags=["staff"])


@router.get("/staff/check", summary="Grids that break the profile's staffing rules (网格员配置)")
async def staff_check(
    request: Request,
    caller: CallerDep,
    county: Annotated[str, Query(max_length=20, pattern=r"^\d*$")] = "",
    profile: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_]+$")] = None,
) -> list[dict[str, Any]]:
    """One row per grid and rule breached: ``rule``, ``grid_code``, ``community_code``,
    ``grid_type``, ``message``, ``basis`` (the article). A county editor sees the own
    county only."""
    caller.require("private_contacts", "the staffing check")
    if caller.role == "county_editor":
        county = caller.division_code
    url = request.app.state.registry_state.conninfo
    prof = profile or request.app.state.settings.profile
    breaches = await run_in_threadpool(check_staff, url, profile=prof, county=county)
    return breaches.to_dict("records")
