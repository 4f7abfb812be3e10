"""Staffing rules over the API: which grids break the profile's ``[staff]`` rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from gridgeo.registry.staff import REAL_NAME_ROLES, check_staff, roster
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
    caller.require("contacts.private")
    if caller.role == "county_editor":
        county = caller.division_code
    url = request.app.state.registry_state.conninfo
    prof = profile or request.app.state.settings.profile
    breaches = await run_in_threadpool(check_staff, url, profile=prof, county=county)
    return breaches.to_dict("records")


@router.get("/staff/roster", summary="Who serves the current grids (网格员名册)")
async def staff_roster(
    request: Request,
    caller: CallerDep,
    county: Annotated[str, Query(max_length=20, pattern=r"^\d*$")] = "",
) -> list[dict[str, Any]]:
    """The roster with unit and filing; ``id_number`` (身份证号) only for county editors
    (own county), city reviewers and admins — empty for dispatchers."""
    caller.require("contacts.private")
    if caller.role == "county_editor":
        county = caller.division_code
    url = request.app.state.registry_state.conninfo
    real_name = caller.role in REAL_NAME_ROLES
    frame = await run_in_threadpool(roster, url, county=county, real_name=real_name)
    return frame.to_dict("records")
