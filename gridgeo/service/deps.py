"""Small request-parsing helpers shared by the routes (each raises a clear 4xx error)."""

from __future__ import annotations

import contextlib
import functools
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from fastapi import HTTPException, Request
from psycopg_pool import ConnectionPool

from gridgeo.crs import point_problems, resolve_crs
from gridgeo.errors import (
    ConflictError,
    CRSError,
    DatabaseError,
    InputError,
    NotFoundError,
    Problem,
)
from gridgeo.i18n import _
from gridgeo.locate.points import check_transformable
from gridgeo.service.settings import ServiceSettings
from gridgeo.service.state import ServiceState

log = logging.getLogger(__name__)


def state(request: Request) -> ServiceState:
    return request.app.state.registry_state


def service_settings(request: Request) -> ServiceSettings:
    return request.app.state.service_settings


def read_pool(request: Request) -> ConnectionPool:
    """The pool of anonymous read routes: read-only sessions of the role ``gridgeo_read``.

    Routes that answer the public without a token read through it; writes, and reads of
    what a token unlocks, use ``request.app.state.pool`` (the application role).
    """
    return request.app.state.read_pool


def pool_for(request: Request, caller: Any) -> ConnectionPool:
    """The pool of a read route that serves both: read-only sessions (``gridgeo_read``) for the
    anonymous public, the application role's pool for a caller with a token."""
    return request.app.state.pool if getattr(caller, "authenticated", False) else read_pool(request)


@functools.lru_cache(maxsize=256)
def crs_is_lonlat(value: str) -> bool:
    """Check ``crs=`` and say whether it takes longitude/latitude in degrees (cached).

    ``gcj02``/``bd09`` and geographic CRSs take degrees; projected CRSs take x/y.
    Vertical, geocentric and engineering CRSs are refused: they give no map position.
    """
    try:
        crs = resolve_crs(value)
    except CRSError as exc:
        raise InputError(
            str(exc), [Problem(_("unknown CRS"), field="crs", rule="query.crs")]
        ) from None
    if isinstance(crs, str):
        return True
    if not (crs.is_geographic or crs.is_projected) or crs.is_geocentric:
        raise InputError(
            _(
                "crs={value!r} ({name}) is not a horizontal CRS: give lon/lat or x/y in e.g. "
                "wgs84, cgcs2000, gcj02, bd09 or a projected EPSG code"
            ).format(value=value, name=crs.name),
            [Problem(_("not a horizontal CRS"), field="crs", rule="query.crs")],
        )
    check_transformable(value)  # known to PROJ but not transformable: EPSG:2218, 22300 …
    return bool(crs.is_geographic)


def check_lonlat(lon: float, lat: float, *, crs: str) -> list[str]:
    """Sanity checks of one ``lon``/``lat`` in ``crs=`` (:func:`gridgeo.crs.point_problems`).

    Returns
    -------
    list of str
        Warnings for the answer (e.g. lon/lat-looking numbers with a metric CRS).

    Raises
    ------
    InputError
        Not finite, or degrees outside ±180/±90.
    """
    crs_is_lonlat(crs)  # refuses unknown and non-horizontal CRSs first
    problems = point_problems(lon, lat, crs)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise InputError(_("lon/lat cannot be located"), errors)
    return [p.message for p in problems]


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """``bbox=minx,miny,maxx,maxy`` (4 numbers, min < max)."""
    if value is None or not value.strip():
        return None
    parts = value.split(",")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        nums = []
    if (
        len(nums) != 4
        or not all(math.isfinite(v) for v in nums)
        or nums[0] > nums[2]
        or nums[1] > nums[3]
    ):
        raise InputError(
            _("bbox={value!r} must be four numbers minx,miny,maxx,maxy with min <= max").format(
                value=value
            ),
            [Problem(_("bad bbox"), field="bbox", rule="query.bbox")],
        )
    return nums[0], nums[1], nums[2], nums[3]


def parse_polygon(geometry: dict[str, Any], *, max_vertices: int, field: str = "geometry"):
    """A GeoJSON Polygon/MultiPolygon in lon/lat from a request, checked before the database.

    Refuses (400, naming ``field``) what is not a polygon, coordinates that are not
    numbers, longitudes/latitudes outside ±180/±90, empty and invalid polygons, and more
    than ``max_vertices`` vertices.

    Returns
    -------
    shapely.Polygon or shapely.MultiPolygon
    """
    import shapely
    from shapely.geometry import shape

    def refuse(what: str, rule: str = "geometry.shape") -> InputError:
        return InputError(f"{field}: {what}", [Problem(what, field=field, rule=rule)])

    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise refuse(_("must be a GeoJSON Polygon or MultiPolygon"))
    try:
        geom = shape(geometry)
        n = int(shapely.get_num_coordinates(geom))
    except (TypeError, ValueError, AttributeError, IndexError, KeyError, RecursionError):
        raise refuse(_("coordinates are not rings of [lon, lat] number pairs")) from None
    except shapely.errors.ShapelyError as exc:
        raise refuse(_("coordinates are not usable rings ({exc})").format(exc=exc)) from None
    if geom.is_empty:
        raise refuse(_("the polygon is empty"), "geometry.empty")
    if n > max_vertices:
        raise refuse(
            _("{n} vertices; at most {max_vertices} per polygon").format(
                n=n, max_vertices=max_vertices
            ),
            "geometry.vertices",
        )
    minx, miny, maxx, maxy = geom.bounds
    if not all(math.isfinite(v) for v in geom.bounds):
        raise refuse(_("coordinates are not finite numbers"), "geometry.range")
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise refuse(
            _("longitude/latitude outside -180..180/-90..90 (give WGS 84 lon/lat)"),
            "geometry.range",
        )
    if not geom.is_valid:
        raise refuse(
            _("the polygon is not valid ({reason})").format(reason=shapely.is_valid_reason(geom)),
            "geometry.invalid",
        )
    return geom


def _checked_column(diag: Any) -> str | None:
    table, name = diag.table_name or "", diag.constraint_name or ""
    if table and name.startswith(table + "_") and name.endswith("_check"):
        return name[len(table) + 1 : -len("_check")] or None
    return None


@contextlib.contextmanager
def db_errors(what: str) -> Iterator[None]:
    """Map database errors to gridgeo errors (409, 400, 404, 503).

    A value the database refuses (out of range, NUL character …) is the caller's 400,
    never a 5xx; only an unreachable or failing database is a 503.
    """
    try:
        yield
    except psycopg.errors.UniqueViolation as exc:
        raise ConflictError(
            _("{what}: already exists ({detail})").format(
                what=what, detail=exc.diag.message_detail or exc
            )
        ) from None
    except psycopg.errors.ForeignKeyViolation as exc:
        raise NotFoundError(f"{what}: {exc.diag.message_detail or exc}") from None
    except psycopg.errors.CheckViolation as exc:
        # the constraint's name is the schema's business, not the caller's: name the
        # column (PostgreSQL calls a column's check "<table>_<column>_check")
        column = exc.diag.column_name or _checked_column(exc.diag)
        text = (
            _("{column}: value not allowed").format(column=column)
            if column
            else _("a value is not allowed")
        )
        raise InputError(
            f"{what}: {text}", [Problem(text, field=column, rule="request.value")]
        ) from None
    except psycopg.errors.NotNullViolation as exc:
        column = exc.diag.column_name
        text = (
            _("{column} is required").format(column=column)
            if column
            else _("a required value is missing")
        )
        raise InputError(
            f"{what}: {text}", [Problem(text, field=column, rule="request.value")]
        ) from None
    except psycopg.DataError as exc:
        # every SQLSTATE class 22 error (integer out of range, bad text representation …)
        # and psycopg's own refusals to send a value (a NUL character in a string)
        raise InputError(
            f"{what}: {exc.diag.message_primary or exc}",
            [Problem(str(exc.diag.message_primary or exc), rule="request.value")],
        ) from None
    except psycopg.errors.RaiseException as exc:
        raise ConflictError(f"{what}: {exc.diag.message_primary or exc}") from None
    except psycopg.Error as exc:
        if exc.sqlstate and exc.sqlstate.startswith("GG"):
            raise ConflictError(f"{what}: {exc.diag.message_primary or exc}") from None
        log.error("%s: database error %s: %s", what, exc.sqlstate, exc)
        raise DatabaseError(
            _("{what}: the database failed (SQLSTATE {sqlstate})").format(
                what=what, sqlstate=exc.sqlstate or "none"
            )
        ) from None


async def spool_body(request: Request, path: Path, limit: int, what: str) -> Path:
    """Stream a request body (an uploaded file) to ``path``, refusing more than ``limit`` bytes.

    ``what`` names the upload in the messages (e.g. ``"the grid layer"``). A declared
    Content-Length above the limit is refused before anything is read.

    Raises
    ------
    HTTPException
        413 above the limit.
    InputError
        For an empty body.
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(
            413,
            _("{what} is {declared} bytes; the limit is {limit}").format(
                what=what, declared=declared, limit=limit
            ),
        )
    size = 0
    with path.open("wb") as fh:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPException(
                    413,
                    _("{what} is larger than the limit of {limit} bytes").format(
                        what=what, limit=limit
                    ),
                )
            fh.write(chunk)
    if size == 0:
        text = _("the request body is empty: send {what} as the body").format(what=what)
        raise InputError(text, [Problem(text, rule="request.empty")])
    return path
