"""Working-time deadlines across the 2025 National Day holiday, make-up days and lunch breaks."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from gridgeo.errors import InputError
from gridgeo.incidents.deadlines import (
    Limit,
    WorkingCalendar,
    default_limit,
    is_workday,
    parse_work_hours,
    status,
    table_limit,
)

TZ = ZoneInfo("Asia/Shanghai")
CAL = WorkingCalendar("08:30-12:00,14:00-17:30", "Asia/Shanghai")


def t(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=TZ)


def test_national_day_2025_and_make_up_days():
    assert is_workday(t("2025-09-28").date())  # Sunday, make-up working day
    assert is_workday(t("2025-10-11").date())  # Saturday, make-up working day
    assert not any(is_workday(t(f"2025-10-0{d}").date()) for d in range(1, 9))


def test_five_working_days_across_the_holiday_count_the_make_up_saturday():
    # reported Tue 30 Sep: 9, 10, 11 (make-up Sat), 13, 14 Oct
    assert CAL.deadline(t("2025-09-30 10:00"), Limit(5, "days")) == t("2025-10-14 17:30")
    # reported Fri 26 Sep: 28 (make-up Sun), 29, 30 Sep, 9, 10 Oct
    assert CAL.deadline(t("2025-09-26 09:00"), Limit(5, "days")) == t("2025-10-10 17:30")


def test_working_hours_skip_the_holiday_and_the_evening():
    # 16:00–17:30 on 30 Sep = 1.5 h, then 2.5 h from 08:30 on Thu 9 Oct
    assert CAL.deadline(t("2025-09-30 16:00"), Limit(4, "hours")) == t("2025-10-09 11:00")


def test_working_hours_skip_the_lunch_break():
    assert CAL.deadline(t("2025-11-03 11:00"), Limit(2, "hours")) == t("2025-11-03 15:00")
    assert CAL.between(t("2025-11-03 11:30"), t("2025-11-03 14:30")) == 3600
    # a report during lunch starts counting at 14:00
    assert CAL.deadline(t("2025-11-03 12:40"), Limit(1, "hours")) == t("2025-11-03 15:00")


def test_utc_input_is_read_in_the_working_time_zone():
    start = datetime.fromisoformat("2025-11-03T03:00:00+00:00")  # 11:00 in Beijing
    assert CAL.deadline(start, Limit(2, "hours")) == t("2025-11-03 15:00")


def test_overdue_and_soon_overdue():
    start, due = t("2025-11-03 08:30"), t("2025-11-03 17:30")  # 7 working hours
    assert not status(CAL, start, due, t("2025-11-03 09:00")).soon_overdue
    s = status(CAL, start, due, t("2025-11-03 16:30"), soon_fraction=0.2)
    assert s.soon_overdue and not s.overdue and s.left_working_seconds == 3600
    late = status(CAL, start, due, t("2025-11-04 09:00"))
    assert late.overdue and not late.soon_overdue
    done = status(CAL, start, due, t("2025-11-10 09:00"), finished=t("2025-11-03 17:00"))
    assert not done.overdue


def test_limits_as_data_with_the_seed_defaults():
    assert default_limit() == Limit(5, "days")
    assert default_limit(complex_case=True) == Limit(10, "days")
    assert table_limit("exposed_rubbish") == Limit(4, "hours")
    assert table_limit("illegal_construction", complex_case=True) == Limit(20, "days")
    assert table_limit("no_such_category") is None


@pytest.mark.parametrize("bad", ["", "8-12", "14:00-12:00", "08:30-12:00,11:00-17:00"])
def test_bad_work_hours_name_the_setting(bad):
    with pytest.raises(InputError) as err:
        parse_work_hours(bad)
    assert err.value.problems[0].field == "GRIDGEO_INCIDENT_WORK_HOURS"


def test_bad_limit():
    with pytest.raises(InputError):
        Limit(0, "days")
    with pytest.raises(InputError):
        Limit(3, "weeks")
