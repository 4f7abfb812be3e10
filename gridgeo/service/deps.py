"""Small request-parsing helpers shared by the routes (each raises a clear 4xx error)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import psycopg
from fastapi import Request

from gridgeo.errors import ConflictError, DatabaseError, InputError, NotFoundError, Problem
from gridgeo.service.settings import ServiceSettings
from gridgeo.service.state import ServiceState


def state(request: Request) -> ServiceState:
    return request.app.state.registry_state


def service_settings(request: Request) -> ServiceSettings:
    return request.app.state.service_settings


def parse_at(value: str | None, tz: str) -> datetime | None:
    """``at=``: an ISO date (the end of that day) or date-time (naive: in ``tz``)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    zone = ZoneInfo(tz)
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1), time(0), zone) - timedelta(
                microseconds=1
            )
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"at={value!r} is not a date or time; use e.g. 2024-05-01 or 2024-05-01T08:30:00+08:00",
            [Problem("not an ISO 8601 date or date-time", field="at", rule="query.at")],
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=zone)


def check_lonlat(lon: float, lat: float) -> None:
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InputError("lon and lat must be finite numbers", [Problem("not finite", field="lon")])


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
    """Map database errors of a write to gridgeo errors (409, 400, 404, 503)."""
    try:
        yield
    except psycopg.errors.UniqueViolation as exc:
        raise ConflictError(f"{what}: already exists ({exc.diag.message_detail or exc})") from None
    except psycopg.errors.ForeignKeyViolation as exc:
        raise NotFoundError(f"{what}: {exc.diag.message_detail or exc}") from None
    except (
        psycopg.errors.CheckViolation,
        psycopg.errors.NotNullViolation,
        psycopg.errors.InvalidTextRepresentation,
        psycopg.errors.DataException,
    ) as exc:
        raise InputError(f"{what}: {exc.diag.message_primary or exc}") from None
    except psycopg.errors.RaiseException as exc:
        raise ConflictError(f"{what}: {exc.diag.message_primary or exc}") from None
    except psycopg.Error as exc:
        if exc.sqlstate and exc.sqlstate.startswith("GG"):
            raise ConflictError(f"{what}: {exc.diag.message_primary or exc}") from None
        raise DatabaseError(f"{what}: {exc}") from None
