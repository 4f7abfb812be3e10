"""Admin: API tokens, index status, a forced refresh and the server's timings."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

import pandas as pd
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from gridgeo.errors import NotFoundError
from gridgeo.i18n import _
from gridgeo.registry import tokens
from gridgeo.registry.users import ROLES
from gridgeo.service.auth import CallerDep, RoleFirst, needs

# RoleFirst: a write's role is checked before its body is read (service.auth)
router = APIRouter(prefix="/admin", tags=["admin"], route_class=RoleFirst)


class TokenIn(BaseModel):
    model_config = ConfigDict(strict=True)

    user: str | None = Field(
        default=None,
        max_length=200,
        description="Who holds the token (a registered user, or a new one with role)",
    )
    role: Literal[ROLES] | None = Field(  # type: ignore[valid-type]
        default=None, description="Role of a new user (must match an existing user's)"
    )
    division_code: str | None = Field(
        default=None,
        max_length=20,
        description="Registered division of a new user: county (county_editor, "
        "centre_reviewer; optional for department), city (city_reviewer), province "
        "(province_reviewer), community (grid_worker)",
    )
    department_id: int | None = Field(
        default=None, description="A new department user's department (role department)"
    )
    name: str = Field(default="", max_length=200, description="What the token is for")
    label: str = Field(default="", max_length=200, description="Old name of `name`")
    expires_at: datetime | None = Field(
        default=None, strict=False, description="When it stops working (ISO 8601)"
    )


@router.post("/tokens", status_code=201, summary="Create a bearer token (shown once)")
@needs("tokens.admin")
def create_token(request: Request, caller: CallerDep, body: TokenIn) -> dict[str, Any]:
    caller.require("tokens.admin")
    name = body.name or body.label
    user = body.user or name or body.role or ""
    issued = tokens.issue_token(
        request.app.state.db_url,
        user,
        name=name,
        by=caller.name,
        role=body.role,
        division_code=body.division_code or None,
        department_id=body.department_id,
        expires_at=body.expires_at,
    )
    return asdict(issued)


@router.get("/tokens", summary="List tokens (without secrets)")
def list_tokens(request: Request, caller: CallerDep) -> list[dict[str, Any]]:
    caller.require("tokens.admin")
    df = tokens.list_tokens(request.app.state.db_url)
    return [
        {k: (None if v is None or v is pd.NaT or v is pd.NA else v) for k, v in r.items()}
        for r in df.astype(object).to_dict("records")
    ]


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke a token")
@needs("tokens.admin")
def revoke_token(request: Request, caller: CallerDep, token_id: int) -> Response:
    caller.require("tokens.admin")
    if token_id > 2**62:
        raise NotFoundError(_("no active token {token_id}").format(token_id=token_id))
    tokens.revoke_token(request.app.state.db_url, token_id, by=caller.name)
    request.app.state.token_cache.clear()
    return Response(status_code=204)


@router.get("/index", summary="State of the in-memory locate index")
def index_status(request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.require("index.admin")
    st = request.app.state.registry_state
    snap = st.current()
    return {
        "generation": st.generation,
        "listening": st.listening.is_set(),
        "last_event": st.last_event,
        "loaded_at": snap.loaded_at,
        "build_seconds": snap.build_seconds,
        "srid": snap.srid,
        **snap.index.stats(),
    }


@router.post("/refresh", summary="Reload the locate index from PostGIS now")
@needs("index.admin")
def refresh(request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.require("index.admin")
    snap = request.app.state.registry_state.refresh()
    return {"grids": len(snap.index), "build_seconds": snap.build_seconds}


@router.get("/metrics", summary="Handler-time histograms, GC pauses and index reloads")
def metrics(request: Request, caller: CallerDep) -> dict[str, Any]:
    """Server-side timings of this process since it started: per route group the request
    count, mean, p50/p90/p99/p99.9 and max handler time (first call to last byte sent) and
    the histogram buckets (upper edge in ms → count); the garbage collector's pauses per
    generation; the durations of the index reloads (after every registry change)."""
    caller.require("index.admin")
    return request.app.state.metrics.report()
