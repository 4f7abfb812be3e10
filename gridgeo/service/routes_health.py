"""``/health``: is the service up; versions only for callers with a token.

Anonymous callers learn up or down, nothing about the software behind it (versions
help whoever looks for a known hole).
"""

from __future__ import annotations

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gridgeo import __version__
from gridgeo.service.auth import CallerDep

router = APIRouter(tags=["health"])


@router.get("/health", summary="Service and database health")
def health(request: Request, caller: CallerDep) -> JSONResponse:
    """``status`` ok (503: unavailable); with a token also gridgeo's, PostgreSQL's and
    PostGIS's versions and, when down, the reason."""
    pool = request.app.state.pool
    insider = caller.authenticated
    try:
        with pool.connection(timeout=5) as conn:
            pg = conn.execute("SHOW server_version").fetchone()[0]
            postgis = conn.execute("SELECT postgis_lib_version()").fetchone()[0]
    except (psycopg.Error, Exception) as exc:  # pool timeouts are not psycopg.Error subclasses
        body = {"status": "unavailable"}
        if insider:
            body |= {"gridgeo": __version__, "detail": str(exc)}
        return JSONResponse(status_code=503, content=body)
    if not insider:
        return JSONResponse({"status": "ok"})
    return JSONResponse(
        {"status": "ok", "gridgeo": __version__, "postgresql": pg, "postgis": postgis}
    )
