"""Small request-parsing helpers shared by the routes (each raises a clear 4xx error)."""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator

import psycopg
from fastapi import Request

from gridgeo.crs import resolve_crs
from gridgeo.errors import (
    ConflictError,
    CRSError,
    DatabaseError,
    InputError,
    NotFoundError,
    Problem,
)
from gridgeo.service.settings import ServiceSettings
from gridgeo.service.state import ServiceState


def state(request: Request) -> ServiceState:
    return request.app.state.registry_state


def service_settings(request: Request) -> ServiceSettings:
    return request.app.state.service_settings


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
            str(exc), [Problem("unknown CRS", field="crs", rule="query.crs")]
        ) from None
    if isinstance(crs, str):
        return True
    if not (crs.is_geographic or crs.is_projected) or crs.is_geocentric:
        raise InputError(
            f"crs={value!r} ({crs.name}) is not a horizontal CRS: give lon/lat or x/y in e.g. "
            "wgs84, cgcs2000, gcj02, bd09 or a projected EPSG code",
            [Problem("not a horizontal CRS", field="crs", rule="query.crs")],
        )
    return bool(crs.is_geographic)


def check_lonlat(lon: float, lat: float, *, degrees: bool = True) -> None:
    """``lon``/``lat`` of one point: finite, and within ±180/±90 when in degrees."""
    problems = [
        Problem(f"{name}={value!r} is not a finite number", field=name, rule="query.coordinate")
        for name, value in (("lon", lon), ("lat", lat))
        if not math.isfinite(value)
    ]
    if degrees and not problems:
        problems = [
            Problem(
                f"{name}={value!r} is outside -{limit}..{limit}; are lon and lat swapped, or is "
                "the CRS projected?",
                field=name,
                rule="query.range",
            )
            for name, value, limit in (("lon", lon, 180), ("lat", lat, 90))
            if abs(value) > limit
        ]
    if problems:
        raise InputError("lon/lat cannot be located", problems)


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
            f"bbox={value!r} must be four numbers minx,miny,maxx,maxy with min <= max",
            [Problem("bad bbox", field="bbox", rule="query.bbox")],
        )
    return nums[0], nums[1], nums[2], nums[3]


@contextlib.contextmanager
def db_errors(what: str) -> Iterator[None]:
    """Map database errors to gridgeo errors (409, 400, 404, 503).

    A value the database refuses (out of range, NUL character …) is the caller's 400,
    never a 5xx; only an unreachable or failing database is a 503.
    """
    try:
        yield
    except psycopg.errors.UniqueViolation as exc:
        raise ConflictError(f"{what}: already exists ({exc.diag.message_detail or exc})") from None
    except psycopg.errors.ForeignKeyViolation as exc:
        raise NotFoundError(f"{what}: {exc.diag.message_detail or exc}") from None
    except (
        psycopg.errors.CheckViolation,
        psycopg.errors.NotNullViolation,
        # every SQLSTATE class 22 error (integer out of range, bad text representation …)
        # and psycopg's own refusals to send a value (a NUL character in a string)
        psycopg.DataError,
    ) as exc:
        raise InputError(
            f"{what}: {exc.diag.message_primary or exc}",
            [Problem(str(exc.diag.message_primary or exc), rule="request.value")],
        ) from None
    except psycopg.errors.RaiseException as exc:
        raise ConflictError(f"{what}: {exc.diag.message_primary or exc}") from None
    except psycopg.Error as exc:
        if exc.sqlstate and exc.sqlstate.startswith("GG"):
            raise ConflictError(f"{what}: {exc.diag.message_primary or exc}") from None
        raise DatabaseError(f"{what}: {exc}") from None
