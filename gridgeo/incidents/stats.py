"""Statistics of the case loop per grid, community, street, department and period.

Definitions (what each figure counts):

* ``handling_hours_median`` / ``_p90`` — working hours from the first dispatch (派遣) to
  the department's last feedback (处置反馈), over handled cases;
* ``on_time_rate`` — handled by the deadline ÷ (handled + still open and past the deadline);
* ``rebound_rate`` — cases returned by a department (回弹) ÷ cases dispatched;
* ``response_rate`` (响应率) — cases the centre answered (立案 or 不予立案) ÷ cases reported;
* ``resolution_rate`` (解决率) — cases closed after verification (结案 and later) ÷ cases
  accepted (立案);
* ``satisfaction_rate`` (满意率) — evaluations of 4 or 5 ÷ evaluations.

A rate whose denominator is 0 is empty (not 0). The street (街道/乡镇) of a community is its
division code without the last three digits (the NBS scheme: 12 → 9 digits).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.incidents.deadlines import WorkingCalendar
from gridgeo.incidents.states import STATES

GROUPS = {
    "grid": ["grid_code", "grid_name"],
    "community": ["community_code", "community_name"],
    "street": ["street_code"],
    "department": ["department_id", "department"],
    "category": ["category"],
}
PERIODS = {"day": "D", "week": "W-SUN", "month": "M"}
_ANSWERED = {
    "accepted",
    "rejected",
    "dispatched",
    "returned",
    "handled",
    "closed",
    "archived",
    "evaluated",
}
_ACCEPTED = _ANSWERED - {"rejected"}
_DISPATCHED = {"dispatched", "returned", "handled", "closed", "archived", "evaluated"}
_CLOSED = {"closed", "archived", "evaluated"}
#: Columns of the per-state counts, in the order of the state machine.
STATE_ORDER = list(STATES)


def _rate(num: pd.Series, den: pd.Series) -> pd.Series:
    return (num / den.where(den > 0)).round(4)


def compute(
    cases: pd.DataFrame,
    *,
    by: list[str],
    period: str | None,
    calendar: WorkingCalendar,
    now: datetime,
) -> pd.DataFrame:
    """The statistics table: one row per group (and period).

    Parameters
    ----------
    cases
        Rows of :func:`gridgeo.incidents.store.stats_rows`.
    by
        Keys of :data:`GROUPS` (e.g. ``["department"]``, ``["grid", "category"]``).
    period
        ``day``, ``week``, ``month`` or ``None`` (the whole span).
    calendar
        Working time of handling durations.
    now
        When open cases are judged overdue.

    Returns
    -------
    pandas.DataFrame
        Group columns, ``period``, ``cases``, one column per state, handling times and rates.
    """
    bad = [b for b in by if b not in GROUPS]
    if bad or (period is not None and period not in PERIODS):
        raise InputError(
            _("invalid grouping of the statistics"),
            [
                Problem(
                    _("by: use {groups}; period: use {periods}").format(
                        groups=", ".join(GROUPS), periods=", ".join(PERIODS)
                    ),
                    field="by",
                    rule="incident.stats",
                )
            ],
        )
    df = cases.copy()
    df["street_code"] = df["community_code"].astype("string").str[:-3]
    keys = [c for b in by for c in GROUPS[b]]
    if period:
        local = (
            pd.to_datetime(df["reported_at"], utc=True)
            .dt.tz_convert(calendar.tz)
            .dt.tz_localize(None)
        )
        df["period"] = local.dt.to_period(PERIODS[period]).dt.start_time.dt.date.astype(str)
        keys.append("period")
    handled = df["handled_at"].notna() & df["dispatched_at"].notna()
    df["handling_hours"] = np.nan
    if handled.any():
        df.loc[handled, "handling_hours"] = [
            calendar.between(a, b) / 3600
            for a, b in zip(
                df.loc[handled, "dispatched_at"], df.loc[handled, "handled_at"], strict=True
            )
        ]
    due = df["due_at"].notna()
    df["on_time"] = handled & due & (df["handled_at"] <= df["due_at"])
    df["late"] = due & (
        (handled & (df["handled_at"] > df["due_at"]))
        | (~handled & df["state"].isin({"dispatched", "returned"}) & (df["due_at"] < now))
    )
    df["answered"] = df["state"].isin(_ANSWERED)
    df["accepted"] = df["state"].isin(_ACCEPTED)
    df["dispatched"] = df["state"].isin(_DISPATCHED)
    df["closed"] = df["state"].isin(_CLOSED)
    df["evaluated"] = df["satisfaction"].notna()
    df["satisfied"] = df["satisfaction"].fillna(0) >= 4
    for k in keys:
        df[k] = df[k].astype(object).where(df[k].notna(), "（无）")
    if not keys:
        df["_all"] = "全部"
        keys = ["_all"]
    g = df.groupby(keys, sort=True, dropna=False)
    out = g.size().rename("cases").to_frame()
    states = pd.crosstab([df[k] for k in keys], df["state"]).reindex(
        columns=STATE_ORDER, fill_value=0
    )
    out = out.join(states).fillna(0)
    out["handling_hours_median"] = g["handling_hours"].median().round(2)
    out["handling_hours_p90"] = g["handling_hours"].quantile(0.9).round(2)
    s = g[
        [
            "on_time",
            "late",
            "answered",
            "accepted",
            "dispatched",
            "closed",
            "evaluated",
            "satisfied",
            "returned",
        ]
    ].sum()
    out["on_time_rate"] = _rate(s["on_time"], s["on_time"] + s["late"])
    out["rebound_rate"] = _rate(s["returned"].astype(float), s["dispatched"])
    out["response_rate"] = _rate(s["answered"], out["cases"])
    out["resolution_rate"] = _rate(s["closed"], s["accepted"])
    out["satisfaction_rate"] = _rate(s["satisfied"], s["evaluated"])
    out = out.reset_index()
    if "_all" in out:
        out = out.rename(columns={"_all": "scope"})
    for c in [*STATE_ORDER, "cases"]:
        out[c] = out[c].astype(int)
    return out


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write statistics as CSV (UTF-8 with BOM, opens in Excel) or XLSX, by suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(path, index=False, encoding="utf-8-sig")
    elif suffix == ".xlsx":
        frame.to_excel(path, index=False, sheet_name="案件统计")
    else:
        raise InputError(
            _("the export must be .csv or .xlsx"),
            [Problem(str(path), field="out", rule="incident.stats.format")],
        )
    return path
