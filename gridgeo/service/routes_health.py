"""``/health``: is the service up; versions only for callers with a token.

Anonymous callers learn up or down, nothing about the software behind it (versions
help whoever looks for a known hole).
"""

from __future__ import annotations

import contextlib

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gridgeo import __version__
from gridgeo.database.connect import server_versions
from gridgeo.service.auth import CallerDep

router = APIRouter(tags=["health"])


def _connection(request: Request) -> contextlib.AbstractContextManager[psycopg.Connection]:
    """A pooled connection, or, while the registry listener has no connection (the
    database refused it), a connection of its own: a refused one fails at once, where the
    pool, retrying in the background, would keep the probe waiting for its time-out."""
    state = request.app.state.registry_state
    if state.listener_refused:
        return psycopg.connect(request.app.state.db_url, connect_timeout=2)
    return request.app.state.pool.connection(timeout=5)


@router.get("/health", summary="Service and database health")
def health(request: Request, caller: CallerDep) -> JSONResponse:
    """``status`` ok (503: unavailable); with a token also gridgeo's, PostgreSQL's and
    PostGIS's versions and, when down, the reason."""
    insider = caller.authenticated
    try:
        with _connection(request) as conn:
            versions = server_versions(conn)
    except (psycopg.Error, Exception) as exc:  # pool timeouts are not psycopg.Error subclasses
        body = {"status": "unavailable"}
        if insider:
            body |= {"gridgeo": __version__, "detail": str(exc)}
        return JSONResponse(status_code=503, content=body)
    if not insider:
        return JSONResponse({"status": "ok"})
    return JSONResponse({"status": "ok", "gridgeo": __version__, **versions})
