"""Deadlines in working time: Chinese public holidays, make-up working days, working hours.

Working days come from the ``chinese-calendar`` package (the State Council's yearly
holiday notices, including the weekend days that are worked to make up for a holiday,
调休); years the package does not know fall back to Monday–Friday. Working hours are
configurable (``GRIDGEO_INCIDENT_WORK_HOURS``, default 08:30–12:00 and 14:00–17:30).

Two kinds of limits (:class:`Limit`):

* ``hours`` — N working hours from the report, counted only inside working hours;
* ``days`` — until the end of the N-th working day after the day of the report (the day
  of the report is not counted, as with legal time limits).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _

LIMITS_FILE = Path(__file__).with_name("limits.toml")


@dataclass(frozen=True)
class Limit:
    """A handling limit: ``amount`` working ``unit`` (``hours`` or ``days``)."""

    amount: float
    unit: str

    def __post_init__(self) -> None:
        if self.unit not in ("hours", "days") or not self.amount > 0:
            raise InputError(
                _("a limit must be a positive number of hours or days"),
                [Problem(f"{self.amount} {self.unit}", field="limit", rule="incident.limit")],
            )

    def label(self) -> str:
        """Chinese text, e.g. ``5个工作日``."""
        n = f"{self.amount:g}"
        return f"{n}个工作日" if self.unit == "days" else f"{n}个工作小时"


def parse_work_hours(text: str) -> tuple[tuple[time, time], ...]:
    """``"08:30-12:00,14:00-17:30"`` → periods; raises :class:`InputError` when malformed."""
    periods = []
    try:
        for part in text.split(","):
            a, b = part.strip().split("-")
            periods.append((time.fromisoformat(a.strip()), time.fromisoformat(b.strip())))
    except ValueError:
        periods = []
    ok = bool(periods) and all(a < b for a, b in periods)
    ok = ok and all(periods[i][1] <= periods[i + 1][0] for i in range(len(periods) - 1))
    if not ok:
        raise InputError(
            _("malformed working hours"),
            [
                Problem(
                    _(
                        "{text!r}: use HH:MM-HH:MM, several periods separated by commas, "
                        "in order and not overlapping"
                    ).format(text=text),
                    field="GRIDGEO_INCIDENT_WORK_HOURS",
                    rule="incident.work_hours",
                )
            ],
        )
    return tuple(periods)


def is_workday(day: date) -> bool:
    """Whether ``day`` is a working day in mainland China (make-up Saturdays included)."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # a year the package does not cover
        return day.weekday() < 5


class WorkingCalendar:
    """Working time in one time zone.

    Parameters
    ----------
    work_hours
        Periods of a working day, e.g. ``"08:30-12:00,14:00-17:30"``.
    timezone
        IANA zone of the working hours (naive datetimes are taken to be in it).
    """

    def __init__(
        self, work_hours: str = "08:30-12:00,14:00-17:30", timezone: str = "Asia/Shanghai"
    ):
        self.periods = parse_work_hours(work_hours)
        self.tz = ZoneInfo(timezone)

    def _local(self, when: datetime) -> datetime:
        return when.replace(tzinfo=self.tz) if when.tzinfo is None else when.astimezone(self.tz)

    def _spans(self, day: date):
        if is_workday(day):
            for a, b in self.periods:
                yield datetime.combine(day, a, self.tz), datetime.combine(day, b, self.tz)

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment when ``seconds`` of working time have passed after ``start``."""
        cur = self._local(start)
        left = float(seconds)
        day = cur.date()
        for _day in range(3660):  # ten years of days at most
            for a, b in self._spans(day):
                a = max(a, cur)
                if a >= b:
                    continue
                span = (b - a).total_seconds()
                if left <= span:
                    return a + timedelta(seconds=left)
                left -= span
            day += timedelta(days=1)
        raise InputError(
            _("the limit is longer than ten years"),
            [Problem(f"{seconds} s", rule="incident.limit")],
        )

    def between(self, a: datetime, b: datetime) -> float:
        """Working seconds from ``a`` to ``b`` (negative when ``b`` is before ``a``)."""
        a, b = self._local(a), self._local(b)
        if b < a:
            return -self.between(b, a)
        total = 0.0
        day = a.date()
        while day <= b.date():
            for s, e in self._spans(day):
                s, e = max(s, a), min(e, b)
                if e > s:
                    total += (e - s).total_seconds()
            day += timedelta(days=1)
        return total

    def end_of_nth_workday(self, start: datetime, n: int) -> datetime:
        """End of working hours on the ``n``-th working day after ``start``'s day."""
        day = self._local(start).date()
        count = 0
        while count < n:
            day += timedelta(days=1)
            if is_workday(day):
                count += 1
        return datetime.combine(day, self.periods[-1][1], self.tz)

    def deadline(self, start: datetime, limit: Limit) -> datetime:
        """When a case started at ``start`` with ``limit`` is due."""
        if limit.unit == "hours":
            return self.add(start, limit.amount * 3600)
        whole = int(limit.amount)
        due = self.end_of_nth_workday(start, whole)
        if limit.amount > whole:  # e.g. 2.5 days: half a working day more
            day_len = sum(
                (datetime.combine(date.min, b) - datetime.combine(date.min, a)).total_seconds()
                for a, b in self.periods
            )
            due = self.add(due, (limit.amount - whole) * day_len)
        return due


@dataclass(frozen=True)
class DeadlineStatus:
    """Where a case stands against its deadline."""

    due_at: datetime
    overdue: bool
    soon_overdue: bool
    left_working_seconds: float


def status(
    cal: WorkingCalendar,
    started: datetime,
    due_at: datetime,
    now: datetime,
    *,
    soon_fraction: float = 0.2,
    finished: datetime | None = None,
) -> DeadlineStatus:
    """Overdue / soon-overdue of a case due at ``due_at`` (judged at ``finished`` if done)."""
    at = finished or now
    left = cal.between(at, due_at)
    total = max(cal.between(started, due_at), 1.0)
    overdue = cal._local(at) > cal._local(due_at)
    soon = (not overdue) and finished is None and left <= soon_fraction * total
    return DeadlineStatus(due_at, overdue, soon, left)


@lru_cache(maxsize=4)
def _limits_table(path: str) -> dict:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(
            _("the table of limits cannot be read"),
            [Problem(str(exc), file=path, rule="incident.limits")],
        ) from None


def _limit(raw: dict, where: str) -> Limit:
    try:
        return Limit(float(raw["amount"]), str(raw["unit"]))
    except (KeyError, TypeError, ValueError):
        raise InputError(
            _("the table of limits is malformed"),
            [Problem(f"{raw!r}", field=where, rule="incident.limits")],
        ) from None


def table_limit(
    category: str | None, *, complex_case: bool = False, path: Path = LIMITS_FILE
) -> Limit | None:
    """The limit the limits file gives for ``category`` (``None``: not listed)."""
    row = _limits_table(str(path)).get("category", {}).get(category or "")
    if not row:
        return None
    key = "complex" if complex_case else "normal"
    return _limit(row[key], f"category.{category}.{key}")


def default_limit(*, complex_case: bool = False, path: Path = LIMITS_FILE) -> Limit:
    """The seeds' default: 5 working days, 10 for complex cases (Yongzhou art. 16)."""
    key = "complex" if complex_case else "normal"
    return _limit(_limits_table(str(path))["default"][key], f"default.{key}")
