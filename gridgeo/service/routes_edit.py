"""The grid editor over HTTP: a community's blocks and grids, and a draft.

=======================================  ==========================================
operation                                roles
=======================================  ==========================================
``GET /edit/communities``                county_editor (own county), admin
``GET /edit/communities/{code}``         county_editor (own county), admin
``POST /edit/communities/{code}/draft``  county_editor (own county), admin
=======================================  ==========================================

Household counts per block are restricted data: only editors of the county see them.
Routes check the caller, then call :mod:`gridgeo.registry.edits`; counts and band
findings while editing are computed in the browser from the block counts, the draft's
codes, recounts and validator findings by the registry.
"""

from __future__ import annotations

import json
from typing import Any

import geopandas as gpd
import numpy as np
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from gridgeo.edit import Plan, PlanGrid
from gridgeo.errors import InputError, PermissionDeniedError, Problem
from gridgeo.i18n import _
from gridgeo.registry.users import Principal
from gridgeo.service.auth import CallerDep, require_role
from gridgeo.service.routes_changes import _bind, _json, _records

router = APIRouter(tags=["edit"])


class GridIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    key: str = Field(max_length=64)
    code: str | None = Field(default=None, max_length=32)
    name: str = Field(min_length=1, max_length=100)
    grid_type: str = Field(default="urban", max_length=16)


class DraftIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    owner: list[str] = Field(max_length=100_000, description="Grid key of each block")
    grids: list[GridIn] = Field(max_length=2000)
    title: str = Field(default="", max_length=200)
    reason: str = Field(default="", max_length=4000)


def _session(url: str, caller: Principal, code: str):
    from gridgeo.registry.edits import community_plan

    session = community_plan(url, code)
    if not caller.covers(session.county):
        raise PermissionDeniedError(
            _("the area of {user} does not include community {code} (county {county})").format(
                user=caller.label, code=code, county=session.county
            )
        )
    return session


def _geojson(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    return json.loads(frame.to_crs(4326).to_json(drop_id=True))


def _plan_json(session) -> dict[str, Any]:
    plan = session.plan
    blocks = gpd.GeoDataFrame(
        {
            "block": np.arange(plan.blocks.n),
            "grid": plan.owner.astype(str),
            "households": plan.blocks.households,
        },
        geometry=list(plan.blocks.geoms),
        crs=session.crs,
    )
    bands = {kind: session.profile.household_band(kind) for kind in ("urban", "rural", "dedicated")}
    return {
        "community_code": plan.community_code,
        "name": session.name,
        "county": session.county,
        "profile": session.profile.name,
        "bands": {k: list(v) if v else None for k, v in bands.items()},
        "grids": [
            {"key": k, "code": g.code, "name": g.name, "grid_type": g.grid_type}
            for k, g in plan.grids.items()
        ],
        "edges": plan.blocks.graph.edges.tolist(),
        "blocks": _geojson(blocks),
    }


@router.get("/edit/communities", summary="Communities the caller may edit, with grid counts")
def list_communities(request: Request, caller: CallerDep) -> list[dict[str, Any]]:
    from gridgeo.registry.edits import editable_communities

    require_role(caller, "changeset.draft")
    county = caller.division_code if caller.role == "county_editor" else None
    return _records(editable_communities(_bind(request), county))


@router.get("/edit/communities/{code}", summary="A community's blocks and grids for editing")
def get_plan(request: Request, caller: CallerDep, code: str) -> dict[str, Any]:
    require_role(caller, "changeset.draft")
    return _plan_json(_session(_bind(request), caller, code))


def _plan_from(session, body: DraftIn) -> Plan:
    base = session.plan
    problems = []
    if len(body.owner) != base.blocks.n:
        problems.append(
            Problem(
                _("owner has {n} entries; the community has {n2} blocks").format(
                    n=len(body.owner), n2=base.blocks.n
                ),
                field="owner",
                rule="edit.owner",
            )
        )
    keys = {g.key for g in body.grids}
    codes = {g.code for g in base.grids.values()}
    for i, g in enumerate(body.grids):
        if g.code is not None and g.code not in codes:
            problems.append(
                Problem(
                    _(
                        "grid {key}: code {code} is not a current grid code of {community_code}"
                    ).format(key=g.key, code=g.code, community_code=base.community_code),
                    row=i,
                    field="code",
                    rule="edit.code",
                )
            )
    for i, k in enumerate(body.owner[:100_000]):
        if k not in keys:
            problems.append(
                Problem(
                    _("block {i}: unknown grid {k}").format(i=i, k=k),
                    row=i,
                    field="owner",
                    rule="edit.owner",
                )
            )
            break
    if problems:
        raise InputError(_("the edited plan cannot be drafted"), problems)
    grids = {g.key: PlanGrid(g.key, g.code, g.name.strip(), g.grid_type) for g in body.grids}
    owner = np.array(body.owner, dtype=object)
    used = set(owner.tolist())
    grids = {k: v for k, v in grids.items() if k in used}
    return Plan(base.community_code, base.blocks, owner, grids)


@router.post("/edit/communities/{code}/draft", summary="Draft the edited grids as a change set")
async def draft(request: Request, caller: CallerDep, code: str) -> dict[str, Any]:
    from gridgeo.registry import changeset_items, validate_changeset
    from gridgeo.registry.edits import draft_plan

    require_role(caller, "changeset.draft")
    body = await _json(request, DraftIn)
    url = _bind(request)

    def run() -> dict[str, Any]:
        session = _session(url, caller, code)
        plan = _plan_from(session, body)
        res = draft_plan(url, session, plan, actor=caller, title=body.title, reason=body.reason)
        if res.changeset_id is None:
            return {"changeset_id": None, "items": [], "findings": []}
        items = changeset_items(url, res.changeset_id).drop(columns=["payload"])
        findings = validate_changeset(url, res.changeset_id)
        return {
            "changeset_id": res.changeset_id,
            "new_codes": res.new_codes,
            "retired_codes": res.retired_codes,
            "items": json.loads(items.to_json(orient="records", force_ascii=False)),
            "findings": [
                {"rule": p.rule, "severity": p.severity, "grids": p.row, "message": p.message}
                for p in findings
            ],
        }

    return await run_in_threadpool(run)
