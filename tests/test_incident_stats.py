"""Statistics of the case loop on a hand-made set of cases (figures checked by hand)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from gridgeo.errors import InputError
from gridgeo.incidents.deadlines import WorkingCalendar
from gridgeo.incidents.stats import compute, write_table
from gridgeo.incidents.store import STATS_COLUMNS

TZ = ZoneInfo("Asia/Shanghai")
CAL = WorkingCalendar()


def t(s):
    return datetime.fromisoformat(s).replace(tzinfo=TZ) if s else None


def case(
    i,
    state,
    dep,
    disp=None,
    handled=None,
    due=None,
    returned=False,
    sat=None,
    rep="2025-11-03 09:00",
):
    return [
        i,
        "sanitation",
        state,
        "G1",
        "一网格",
        "110101001001",
        "一社区",
        dep,
        f"部门{dep}",
        t(rep),
        t(disp),
        t(handled),
        None,
        t(due),
        returned,
        sat,
        True,
    ]


CASES = pd.DataFrame(
    [
        # dept 1: handled in 2 working hours (across lunch), on time, satisfied
        case(1, "evaluated", 1, "2025-11-03 11:00", "2025-11-03 15:00", "2025-11-10 17:30", sat=5),
        # dept 1: handled late (after due), returned once, unsatisfied
        case(
            2,
            "evaluated",
            1,
            "2025-11-03 09:00",
            "2025-11-12 09:00",
            "2025-11-10 17:30",
            returned=True,
            sat=2,
        ),
        # dept 1: still open and past due at "now"
        case(3, "dispatched", 1, "2025-11-03 09:00", None, "2025-11-04 17:30"),
        # dept 2: handled in 4 working hours, on time, closed but not evaluated
        case(4, "closed", 2, "2025-11-04 08:30", "2025-11-04 14:30", "2025-11-11 17:30"),
        # not answered yet / rejected
        case(5, "reported", None),
        case(6, "rejected", None),
    ],
    columns=STATS_COLUMNS,
)
NOW = t("2025-11-20 10:00")


def test_per_department_figures():
    out = compute(CASES, by=["department"], period=None, calendar=CAL, now=NOW).set_index(
        "department_id"
    )
    d1 = out.loc[1]
    assert d1["cases"] == 3 and d1["evaluated"] == 2 and d1["dispatched"] == 1
    # working hours: case 1 = 1 h + 1 h; case 2: 3 Nov 09:00 → 12 Nov 09:00 = 7 working days
    assert d1["handling_hours_median"] == pytest.approx((2 + 49) / 2, abs=1e-4)
    assert d1["on_time_rate"] == pytest.approx(1 / 3, abs=1e-4)  # 1 on time, 1 late, 1 open overdue
    assert d1["rebound_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert d1["resolution_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert d1["satisfaction_rate"] == pytest.approx(0.5, abs=1e-4)
    assert out.loc[2]["handling_hours_median"] == pytest.approx(4.0, abs=1e-4)
    assert pd.isna(out.loc[2]["satisfaction_rate"])  # nobody evaluated: empty, not 0


def test_whole_scope_and_weeks():
    all_ = compute(CASES, by=[], period=None, calendar=CAL, now=NOW).iloc[0]
    assert all_["cases"] == 6
    assert all_["response_rate"] == pytest.approx(5 / 6, abs=1e-4)
    assert all_["resolution_rate"] == pytest.approx(3 / 4, abs=1e-4)
    weeks = compute(CASES, by=["street"], period="week", calendar=CAL, now=NOW)
    assert list(weeks["period"]) == ["2025-11-03"] and weeks["street_code"].iloc[0] == "110101001"


def test_export_and_bad_arguments(tmp_path):
    out = compute(CASES, by=["grid", "category"], period="month", calendar=CAL, now=NOW)
    assert (
        pd.read_csv(write_table(out, tmp_path / "s.csv"), encoding="utf-8-sig")["cases"].sum() == 6
    )
    assert pd.read_excel(write_table(out, tmp_path / "s.xlsx"))["cases"].sum() == 6
    with pytest.raises(InputError):
        write_table(out, tmp_path / "s.pdf")
    with pytest.raises(InputError):
        compute(CASES, by=["planet"], period=None, calendar=CAL, now=NOW)
