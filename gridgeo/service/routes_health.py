"""``/health``: is the service up, and which database versions does it see."""

from __future__ import annotations

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gridgeo import __version__
from gridgeo.database.connect import server_versions

router = APIRouter(tags=["health"])


@router.get("/health", summary="Service and database health")
def health(request: Request) -> JSONResponse:
    """Report gridgeo's version and the PostgreSQL/PostGIS versions (503 when the DB is down)."""
    pool = request.app.state.pool
    try:
        with pool.connection(timeout=5) as conn:
            versions = server_versions(conn)
    except (psycopg.Error, Exception) as exc:  # pool timeouts are not psycopg.Error subclasses
        return JSONResponse(
            status_code=503,
            content={"status": "unavailable", "gridgeo": __version__, "detail": str(exc)},
        )
    return JSONResponse({"status": "ok", "gridgeo": __version__, **versions})
