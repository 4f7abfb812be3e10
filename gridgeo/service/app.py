"""Application factory of the map service (no app is built at import time)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg_pool import ConnectionPool

from gridgeo import __version__
from gridgeo.database.connect import database_url, libpq_url
from gridgeo.errors import GridgeoError
from gridgeo.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the map service.

    Parameters
    ----------
    settings
        Defaults to :func:`gridgeo.settings.get_settings`; the database must be up
        (``gridgeo db up``) before the app starts serving.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = ConnectionPool(
            libpq_url(database_url(settings)), min_size=1, max_size=8, open=False, name="gridgeo"
        )
        pool.open(wait=False)
        app.state.pool = pool
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(
        title="gridgeo map service",
        version=__version__,
        description="Locate incidents and patrols on grids, grid workers and departments.",
        lifespan=lifespan,
    )
    app.state.settings = settings

    @app.exception_handler(GridgeoError)
    async def _gridgeo_error(request: Request, exc: GridgeoError) -> JSONResponse:
        body = {"error": type(exc).__name__, "detail": str(exc)}
        problems = getattr(exc, "problems", None)
        if problems:
            body["problems"] = [p.to_dict() for p in problems]
        return JSONResponse(status_code=exc.http_status, content=body)

    from gridgeo.service.routes_health import router as health_router

    app.include_router(health_router)
    return app
