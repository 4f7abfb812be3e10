"""Times asked for by users: ``at=`` / ``--at`` as a date or date-time in a time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from gridgeo._env import timezone_setting
from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _


def local_today() -> date:
    """Today's date where the county is (``GRIDGEO_TIMEZONE``), not where the server's clock is.

    A server kept on UTC is still on yesterday until 08:00 in China.
    """
    return datetime.now(ZoneInfo(timezone_setting())).date()


def parse_at(value: str | None, tz: str, *, name: str = "at") -> datetime | None:
    """``at=``: an ISO date (the end of that day) or date-time (naive: in ``tz``).

    ``name`` is the query parameter named in the error.
    """
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
        when = when if when.tzinfo else when.replace(tzinfo=zone)
        when.astimezone(UTC)  # 0001-01-01T00:00+08:00 is before year 1 in UTC
    except (ValueError, OverflowError):
        raise InputError(
            _(
                "{name}={value!r} is not a usable date or time; use e.g. 2024-05-01 or "
                "2024-05-01T08:30:00+08:00 (years 1 to 9998)"
            ).format(name=name, value=value),
            [Problem(_("not an ISO 8601 date or date-time"), field=name, rule="query.at")],
        ) from None
    return when
