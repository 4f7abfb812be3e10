"""Weekly and monthly patrol rankings of grid workers per street and per county (002)."""

from __future__ import annotations

import pandas as pd

from gridgeo.i18n import _

__all__ = ["PERIODS", "SCOPES", "rankings"]

#: Digits of a 15-digit grid code (12-digit division code + 3) that name the scope.
SCOPES = {"street": 9, "county": 6}
PERIODS = {"week": "W-SUN", "month": "M"}
RANK_COLUMNS = [
    "period",
    "scope",
    "scope_code",
    "rank",
    "worker",
    "days",
    "own_hours",
    "mean_daily_hours",
    "days_meeting_rule",
    "own_km",
]


def rankings(days: pd.DataFrame, *, period: str = "week", scope: str = "street") -> pd.DataFrame:
    """Rank workers by time in their own grid per week or month, within a street or county.

    Parameters
    ----------
    days
        Daily rows of :func:`gridgeo.tracks.patrol_days` (columns ``worker``, ``date``,
        ``own_grids``, ``own_s``, ``own_m``, ``meets_rule``).
    period
        ``week`` (Monday–Sunday) or ``month``.
    scope
        ``street`` (乡镇/街道, the first 9 digits of the grid code) or ``county`` (6).

    Returns
    -------
    pandas.DataFrame
        One row per period, scope and worker; rank 1 patrolled longest (ties share a rank).
        Workers without an own grid are not ranked.
    """
    if period not in PERIODS or scope not in SCOPES:
        raise ValueError(
            _("period must be one of {PERIODS} and scope one of {SCOPES}").format(
                PERIODS=list(PERIODS), SCOPES=list(SCOPES)
            )
        )
    d = days[days["own_grids"] != ""].copy()
    d["scope_code"] = d["own_grids"].str.split(",").str[0].str[: SCOPES[scope]]
    d["period"] = pd.to_datetime(d["date"]).dt.to_period(PERIODS[period]).astype(str)
    d["met"] = d["meets_rule"].fillna(False).astype(bool)
    g = d.groupby(["period", "scope_code", "worker"], as_index=False).agg(
        days=("date", "nunique"),
        own_s=("own_s", "sum"),
        own_m=("own_m", "sum"),
        days_meeting_rule=("met", "sum"),
    )
    g["own_hours"] = (g["own_s"] / 3600).round(2)
    g["mean_daily_hours"] = (g["own_s"] / 3600 / g["days"]).round(2)
    g["own_km"] = (g["own_m"] / 1000).round(2)
    g["rank"] = (
        g.groupby(["period", "scope_code"])["own_s"].rank(ascending=False, method="min").astype(int)
    )
    g["scope"] = scope
    return g.sort_values(["period", "scope_code", "rank", "worker"])[RANK_COLUMNS].reset_index(
        drop=True
    )
