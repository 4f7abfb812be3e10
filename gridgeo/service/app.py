"""Application factory of the map service (no app is built at import time)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import inspect
import logging
import re
import sys
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from psycopg_pool import ConnectionPool
from starlette.exceptions import HTTPException as StarletteHTTPException

from gridgeo import __version__
from gridgeo.database.connect import app_database_url, libpq_url, lower_priority
from gridgeo.errors import GridgeoError
from gridgeo.i18n import _, language
from gridgeo.registry.users import read_only_session
from gridgeo.service.auth import TokenCache
from gridgeo.service.headers import SecurityHeaders
from gridgeo.service.limits import BodyLimits
from gridgeo.service.metrics import HandlerTimes, Metrics
from gridgeo.service.openapi import translate_document
from gridgeo.service.ratelimit import RateLimit
from gridgeo.service.responses import ERROR_RESPONSES
from gridgeo.service.settings import ServiceSettings
from gridgeo.service.state import ServiceState
from gridgeo.service.tilecache import CachedPublicTiles, TileCache, TileService
from gridgeo.settings import Settings, get_settings

log = logging.getLogger(__name__)


#: Starlette's own answers (an unknown path or method), shown in the server's language too.
STARLETTE_TEXTS = ("Not Found", "Method Not Allowed")


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every documented method at ``path`` (Starlette's 405 lists only the first route's)."""
    table = getattr(app.state, "allowed_methods", None)
    if table is None:
        table = [
            (re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(p)) + "$"), ops)
            for p, ops in app.openapi().get("paths", {}).items()
        ]
        app.state.allowed_methods = table
    return sorted({m.upper() for rx, ops in table if rx.match(path) for m in ops})


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document in the server's language of the moment (as its error answers);
    the bearer token is optional (no token = role public). Built once in English
    (``app.openapi_schema``), translated once per language."""
    if app.openapi_schema is None:
        doc = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        for ops in doc.get("paths", {}).values():
            for op in ops.values():
                security = op.get("security")
                if security and {} not in security:
                    op["security"] = [{}, *security]
        app.openapi_schema = doc
    lang = language()
    translated = getattr(app.state, "openapi_by_language", None)
    if translated is None:  # a race only builds a document twice
        translated = app.state.openapi_by_language = {}
    if lang not in translated:
        translated[lang] = translate_document(app.openapi_schema, lang)
    return translated[lang]


def _tile_service(
    pool: ConnectionPool, read_pool: ConnectionPool, read_url: str, settings: ServiceSettings
) -> TileService:
    """The vector tiles of the service, cached and rendered ahead as ``settings`` say; public
    tiles are rendered by read-only sessions (``read_url``: the pre-render's own)."""
    return TileService(
        pool,
        TileCache(settings.tile_cache_bytes),
        read_pool=read_pool,
        prerender=(
            settings.tile_prerender_min_zoom,
            settings.tile_prerender_max_zoom,
            settings.tile_prerender_max_tiles,
        ),
        prerender_share=settings.tile_prerender_share,
        prerender_session=functools.partial(
            _background_session, read_url, settings.tile_prerender_nice
        ),
    )


@contextlib.contextmanager
def _background_session(url: str, nice: int) -> Iterator[psycopg.Connection]:
    """A read-only connection for background work, its server process at ``nice``."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        read_only_session(conn)
        if nice:
            lower_priority(conn, nice)
        yield conn


def _open_pool(url: str, name: str, size: int, **kw: Any) -> ConnectionPool:
    """A pool opened in the background; ``check=``: a connection is tested before it is
    handed out, so after the database restarts no request gets a dead one."""
    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=size,
        open=False,
        name=name,
        check=ConnectionPool.check_connection,
        **kw,
    )
    pool.open(wait=False)
    return pool


#: gridgeo exports no OpenTelemetry: FastAPI (from 0.165) otherwise asks OpenTelemetry on
#: every request whether a provider is configured (8-25 µs of a ~0.5 ms ``GET /locate``).
_NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


def create_app(
    settings: Settings | None = None, service_settings: ServiceSettings | None = None
) -> FastAPI:
    """Build the map service.

    Parameters
    ----------
    settings
        Defaults to :func:`gridgeo.settings.get_settings`; the database must be up
        (``gridgeo db up``) before the app starts serving.
    service_settings
        Service options (tokens, tolerances, limits); default from ``GRIDGEO_*``.
    """
    settings = settings or get_settings()
    service_settings = service_settings or ServiceSettings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        switch_before = sys.getswitchinterval()
        sys.setswitchinterval(service_settings.gil_switch_ms / 1000.0)
        url = libpq_url(app_database_url(settings))  # the application role, not the owner
        pool = _open_pool(url, "gridgeo", 8)
        app.state.pool = pool
        app.state.db_url = url
        # anonymous read routes: sessions as the read-only role (deps.read_pool)
        read_url = libpq_url(settings.read_database_url) if settings.read_database_url else url
        read_pool = _open_pool(read_url, "gridgeo-read", 4, configure=read_only_session)
        app.state.read_pool = read_pool
        app.state.read_url = read_url
        state = ServiceState(
            pool,
            url,
            past_snapshots=service_settings.past_snapshots,
            gc_freeze=service_settings.gc_freeze,
        )
        app.state.registry_state = state
        # the GeoParquet bodies' decode threads, kept for the service's life
        # (points.PointFile ``decoders``: no page faults for the next body's x, y)
        app.state.parquet_decoders = decoders = ThreadPoolExecutor(2, "gridgeo-parquet")
        state.refresh_observer = metrics.add_swap
        app.state.tiles = tiles = _tile_service(pool, read_pool, read_url, service_settings)
        tiles.prerenderer.observer = metrics.add_prerender
        state.on_refresh.append(tiles.refreshed)
        if service_settings.listen:
            # LISTEN first, then read the registry once: the listener's own re-snapshot
            # on connecting is then skipped (it was a second load, and a second tile
            # pre-render, in the first seconds of serving)
            state.start_listener()
            await run_in_threadpool(state.first_listen_attempt.wait, 5.0)
        if state.listener_refused:
            # the database has just refused a connection: serve /health (503) at once
            # instead of waiting on the pool too; locate retries on first use
            log.error("could not load the registry at start-up: the database refused to connect")
        else:
            try:
                # a short wait: with the database down, /health must answer 503 promptly
                await run_in_threadpool(
                    lambda: state.refresh(timeout=5.0, unless_read_after=state.listened_at)
                )
            except GridgeoError as exc:  # serve /health anyway; locate retries on first use
                log.error("could not load the registry at start-up: %s", exc)
        if service_settings.gc_freeze:
            # once, before serving: collect, then keep the modules and the snapshot out of
            # every later collection (a full one over them took ~130 ms of CPU)
            gc.collect()
            gc.freeze()
        metrics.install_gc()  # pauses while serving (not the collection above)
        probe = asyncio.get_running_loop().create_task(metrics.probe_loop())
        try:
            yield
        finally:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe
            state.stop()
            decoders.shutdown(wait=False, cancel_futures=True)
            tiles.close()
            read_pool.close()
            pool.close()
            metrics.uninstall_gc()
            sys.setswitchinterval(switch_before)

    # FastAPIOffline serves Swagger UI and ReDoc from the package: /docs works on an intranet.
    app = FastAPIOffline(
        title="gridgeo map service",
        version=__version__,
        description=(
            "Locate incidents on grids, grid workers and responsible departments; grids and "
            "divisions as OGC API – Features and vector tiles. Roles: public (no token), "
            "dispatcher, county_editor, city_reviewer, admin (bearer tokens)."
        ),
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        **_NO_TELEMETRY,
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.service_settings = service_settings
    app.state.token_cache = TokenCache(service_settings.token_cache_s)
    app.state.metrics = metrics

    # The one place where errors become HTTP responses, all with an ErrorBody.
    @app.exception_handler(GridgeoError)
    async def _gridgeo_error(request: Request, exc: GridgeoError) -> JSONResponse:
        body: dict[str, Any] = {"error": type(exc).__name__, "detail": str(exc)}
        problems = getattr(exc, "problems", None)
        if problems:
            body["problems"] = [p.to_dict() for p in problems]
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        return JSONResponse(status_code=exc.http_status, content=body, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # where and what, never the input itself (it may be large, or someone's data)
        detail = [
            {k: v for k, v in err.items() if k in ("type", "loc", "msg")} for err in exc.errors()
        ]
        return JSONResponse(status_code=422, content={"detail": detail})

    @app.exception_handler(RecursionError)
    async def _too_deep(request: Request, exc: RecursionError) -> JSONResponse:
        # json.loads of e.g. 100k "[" in a request body: the caller's 400, not a 500
        return JSONResponse(
            status_code=400,
            content={"error": "InputError", "detail": _("the request body is nested too deeply")},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405 and (allowed := _allowed_methods(app, request.url.path)):
            headers["Allow"] = ", ".join(allowed)
        try:
            name = HTTPStatus(exc.status_code).phrase.replace(" ", "")
        except ValueError:
            name = f"HTTP{exc.status_code}"
        return JSONResponse(
            status_code=exc.status_code,
            content={"error": name, "detail": _(str(exc.detail))},  # STARLETTE_TEXTS
            headers=headers,
        )

    from gridgeo.service.directsend import DirectChunks
    from gridgeo.service.routes_admin import router as admin_router
    from gridgeo.service.routes_changes import router as changes_router
    from gridgeo.service.routes_edit import router as edit_router
    from gridgeo.service.routes_features import router as features_router
    from gridgeo.service.routes_health import router as health_router
    from gridgeo.service.routes_incidents import router as incidents_router
    from gridgeo.service.routes_locate import LocateFastPath
    from gridgeo.service.routes_locate import router as locate_router
    from gridgeo.service.routes_matter_lists import router as matter_lists_router
    from gridgeo.service.routes_matters import router as matters_router
    from gridgeo.service.routes_public import router as public_router
    from gridgeo.service.routes_staff import router as staff_router
    from gridgeo.service.routes_tracks import router as tracks_router
    from gridgeo.service.routes_webmap import router as webmap_router

    app.include_router(health_router)
    app.include_router(locate_router)
    app.include_router(matters_router)
    app.include_router(staff_router)
    app.include_router(matter_lists_router)
    app.include_router(features_router)
    app.include_router(admin_router)
    app.include_router(webmap_router)
    app.include_router(changes_router)
    app.include_router(edit_router)
    app.include_router(tracks_router)
    app.include_router(public_router)
    app.include_router(incidents_router)
    # innermost: a cached public tile or a plain public /locate skips routing, still
    # inside the limits and headers
    app.add_middleware(CachedPublicTiles)
    app.add_middleware(LocateFastPath)
    app.add_middleware(BodyLimits, max_bytes=service_settings.json_max_bytes)
    app.add_middleware(
        RateLimit,
        per_s=service_settings.rate_limit_per_s,
        burst=service_settings.rate_limit_burst,
        failures_per_min=service_settings.auth_failures_per_min,
        failures_burst=service_settings.auth_failures_burst,
    )
    app.add_middleware(SecurityHeaders)  # also on the limits' own answers
    app.add_middleware(HandlerTimes, metrics=metrics)  # outermost: times everything
    if service_settings.direct_send:
        # outside Starlette's own error middleware too: the server's send, not a wrapper of it
        build = app.build_middleware_stack
        app.build_middleware_stack = lambda: DirectChunks(build())  # type: ignore[method-assign]
    return app
