"""Admin: API tokens, index status and a forced refresh."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from gridgeo.registry import tokens
from gridgeo.service.auth import CallerDep, new_token, token_digest
from gridgeo.service.deps import db_errors

router = APIRouter(prefix="/admin", tags=["admin"])


class TokenIn(BaseModel):
    model_config = ConfigDict(strict=True)

    role: Literal[
        "public",
        "dispatcher",
        "county_editor",
        "city_reviewer",
        "admin",
        "department",
        "grid_worker",
    ]
    division_code: str = Field(
        default="",
        max_length=20,
        description="County code (county_editor, required) or city code prefix (city_reviewer)",
    )
    label: str = Field(default="", max_length=200, description="Who holds the token")


@router.post("/tokens", status_code=201, summary="Create a bearer token (shown once)")
def create_token(request: Request, caller: CallerDep, body: TokenIn) -> dict[str, Any]:
    caller.require("token_admin", "managing tokens")
    token = new_token()
    with db_errors("token"), request.app.state.pool.connection(timeout=10) as conn:
        token_id = tokens.add_token(
            conn,
            token_digest(token),
            role=body.role,
            division_code=body.division_code,
            label=body.label,
            created_by=caller.label,
        )
    return {"token_id": token_id, "token": token, **body.model_dump()}


@router.get("/tokens", summary="List tokens (without secrets)")
def list_tokens(request: Request, caller: CallerDep) -> list[dict[str, Any]]:
    caller.require("token_admin", "managing tokens")
    with db_errors("listing tokens"), request.app.state.pool.connection(timeout=10) as conn:
        return tokens.list_tokens(conn)


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke a token")
def revoke_token(request: Request, caller: CallerDep, token_id: int) -> Response:
    caller.require("token_admin", "managing tokens")
    with db_errors(f"token {token_id}"), request.app.state.pool.connection(timeout=10) as conn:
        tokens.revoke_token(conn, token_id)
    request.app.state.token_cache.clear()
    return Response(status_code=204)


@router.get("/index", summary="State of the in-memory locate index")
def index_status(request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.require("token_admin", "index status")
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
def refresh(request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.require("token_admin", "refreshing the index")
    snap = request.app.state.registry_state.refresh()
    return {"grids": len(snap.index), "build_seconds": snap.build_seconds}
