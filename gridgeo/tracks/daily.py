"""Per worker and day: time and distance in the own grid and elsewhere, roads covered, the rule.

Pure functions over the arrays of :mod:`gridgeo.tracks.attribute`; a day is a calendar
day in China Standard Time (:data:`gridgeo.tracks.read.LOCAL_TZ`), a leg counting on
the day it starts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from gridgeo.errors import Problem
from gridgeo.i18n import _
from gridgeo.locate.index import GridIndex
from gridgeo.rules import PatrolRule
from gridgeo.tracks import _kernels
from gridgeo.tracks.attribute import Legs
from gridgeo.tracks.read import LOCAL_TZ

__all__ = ["DAY_COLUMNS", "GRID_DAY_COLUMNS", "day_of", "grid_days", "own_grids_on", "worker_days"]

_TZ_OFFSET_S = 8 * 3600  # China has no daylight saving time since 1991
GRID_DAY_COLUMNS = ["worker", "date", "grid_code", "seconds", "metres", "own", "first", "last"]
DAY_COLUMNS = [
    "worker",
    "date",
    "own_grids",
    "patrol_s",
    "own_s",
    "own_m",
    "other_s",
    "other_m",
    "first_in_own",
    "last_in_own",
    "road_share",
    "required_h",
    "meets_rule",
    "article",
]


def day_of(t: np.ndarray) -> np.ndarray:
    """Local (UTC+8) calendar day of epoch seconds, as ``datetime64[D]``."""
    return ((np.floor((np.asarray(t) + _TZ_OFFSET_S) / 86400)).astype(np.int64)).astype(
        "datetime64[D]"
    )


def own_grids_on(assignments: pd.DataFrame, worker: np.ndarray, date: np.ndarray) -> pd.DataFrame:
    """(worker, date, grid_code) rows: the grids each worker serves on each date.

    ``assignments`` has columns ``worker``, ``grid_code``, ``valid_from`` and optional
    ``valid_to`` (exclusive; empty = still valid) — the registry's staff assignments.
    """
    pairs = pd.DataFrame({"worker": worker, "date": date}).drop_duplicates()
    asg = assignments.copy()
    asg["worker"] = asg["worker"].astype(str)
    m = pairs.merge(asg, on="worker", how="inner")
    vf = pd.to_datetime(m["valid_from"]).to_numpy("datetime64[D]")
    vt = pd.to_datetime(m.get("valid_to", pd.Series(pd.NaT, index=m.index)))
    vt = vt.to_numpy("datetime64[D]")
    d = m["date"].to_numpy("datetime64[D]")
    ok = (vf <= d) & (np.isnat(vt) | (d < vt))
    return m.loc[ok, ["worker", "date", "grid_code"]].reset_index(drop=True)


def grid_days(
    legs: Legs, worker_code: np.ndarray, names: np.ndarray, index: GridIndex, own: pd.DataFrame
) -> pd.DataFrame:
    """Time and distance per worker, day and grid (``grid_code`` empty: outside all grids).

    Consecutive parts of one worker, day and grid are first summed in one compiled pass
    (:func:`gridgeo.tracks._kernels.day_runs`); the group-by then sees a few rows per
    worker-day and grid; names and codes are attached to the small result.
    """
    w, d, g, secs, metres, first, last = _kernels.day_runs(
        np.ascontiguousarray(worker_code, dtype=np.int64),
        legs.fix,
        legs.grid,
        legs.t0,
        legs.t1,
        legs.length,
        float(_TZ_OFFSET_S),
    )
    df = pd.DataFrame(
        {"w": w, "d": d, "g": g, "seconds": secs, "metres": metres, "first": first, "last": last}
    )
    out = (
        df.groupby(["w", "d", "g"], sort=True)
        .agg(
            seconds=("seconds", "sum"),
            metres=("metres", "sum"),
            first=("first", "min"),
            last=("last", "max"),
        )
        .reset_index()
    )
    codes = np.append(index.codes.astype(str), "")
    out.insert(0, "worker", np.asarray(names, dtype=object)[out["w"].to_numpy()])
    out.insert(1, "date", out["d"].to_numpy().astype("datetime64[D]"))
    out.insert(2, "grid_code", codes[out["g"].to_numpy()])  # -1 → ""
    key = own.assign(own=True)
    out = out.merge(key, on=["worker", "date", "grid_code"], how="left")
    out["own"] = out["own"].fillna(False).astype(bool)
    return out[GRID_DAY_COLUMNS]


def worker_days(
    per_grid: pd.DataFrame,
    own: pd.DataFrame,
    rule: PatrolRule,
    *,
    road_share: pd.Series | None = None,
) -> pd.DataFrame:
    """One row per worker and day from :func:`grid_days` (see :data:`DAY_COLUMNS`)."""
    g = per_grid
    tot = g.groupby(["worker", "date"], sort=True).agg(patrol_s=("seconds", "sum"))
    mine = (
        g[g["own"]]
        .groupby(["worker", "date"])
        .agg(
            own_s=("seconds", "sum"),
            own_m=("metres", "sum"),
            first_in_own=("first", "min"),
            last_in_own=("last", "max"),
        )
    )
    other = (
        g[~g["own"]]
        .groupby(["worker", "date"])
        .agg(other_s=("seconds", "sum"), other_m=("metres", "sum"))
    )
    names = own.groupby(["worker", "date"])["grid_code"].agg(lambda s: ",".join(sorted(s)))
    out = tot.join(mine).join(other).join(names.rename("own_grids"))
    for col in ("own_s", "own_m", "other_s", "other_m"):
        out[col] = out[col].fillna(0.0)
    out["own_grids"] = out["own_grids"].fillna("")
    for col in ("first_in_own", "last_in_own"):
        out[col] = pd.to_datetime(out[col], unit="s", utc=True).dt.tz_convert(LOCAL_TZ)
    out["road_share"] = road_share.reindex(out.index) if road_share is not None else np.nan
    hours = rule.min_daily_hours
    out["required_h"] = np.nan if hours is None else float(hours)
    out["meets_rule"] = (out["own_s"] >= hours * 3600) if hours is not None else pd.NA
    out["article"] = rule.article
    return out.reset_index()[DAY_COLUMNS]


def day_problems(days: pd.DataFrame, first_row: pd.DataFrame, file: str) -> list[Problem]:
    """Warnings: a worker with no grid that day; a day's track wholly outside every grid."""
    probs = []
    rows = days.merge(first_row, on=["worker", "date"], how="left")
    for r in rows.itertuples(index=False):
        where = {"file": file, "row": int(r.row) if pd.notna(r.row) else None}
        if not r.own_grids:
            probs.append(
                Problem(
                    _("grid worker {worker} has no grid assigned on {day:%Y-%m-%d}").format(
                        worker=r.worker, day=r.date
                    ),
                    field="worker",
                    rule="tracks.no_grid",
                    severity="warning",
                    **where,
                )
            )
        if r.inside_s == 0:
            probs.append(
                Problem(
                    _(
                        "the track of grid worker {worker} on {day:%Y-%m-%d} is wholly outside "
                        "their grids"
                    ).format(worker=r.worker, day=r.date),
                    field="geometry",
                    rule="tracks.outside",
                    severity="warning",
                    **where,
                )
            )
    return probs


def road_coverage(
    legs: Legs,
    worker: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    own: pd.DataFrame,
    index: GridIndex,
    roads: np.ndarray,
    *,
    tolerance: float,
) -> pd.Series:
    """Share of the own grids' road length within ``tolerance`` of the day's legs.

    Parameters
    ----------
    roads
        Road centrelines (shapely lines) in the index's CRS.
    """
    all_roads = shapely.union_all(roads)
    pos = {c: i for i, c in enumerate(index.codes)}
    day = day_of(legs.t0)
    w = worker[legs.fix]
    key = pd.DataFrame({"worker": w, "date": day, "i": np.arange(len(legs))})
    result = {}
    own_by = own.groupby(["worker", "date"])["grid_code"].agg(list)
    cache: dict[str, shapely.Geometry] = {}
    for (wk, d), grp in key.groupby(["worker", "date"], sort=False):
        codes = own_by.get((wk, d))
        if not codes:
            continue
        i = grp["i"].to_numpy()
        f0, f1, a = legs.f0[i], legs.f1[i], legs.fix[i]
        dx, dy = x[a + 1] - x[a], y[a + 1] - y[a]
        segs = np.column_stack([x[a] + f0 * dx, y[a] + f0 * dy, x[a] + f1 * dx, y[a] + f1 * dy])
        lines = shapely.linestrings(segs.reshape(-1, 2, 2))
        near = shapely.union_all(shapely.buffer(lines, tolerance, quad_segs=2))
        total = covered = 0.0
        for c in codes:
            if c not in cache:
                cache[c] = shapely.intersection(all_roads, index.geoms[pos[c]])
            r = cache[c]
            total += r.length
            covered += shapely.intersection(r, near).length
        result[(wk, d)] = covered / total if total > 0 else np.nan
    s = pd.Series(result, dtype=float)
    if len(s):
        s.index = pd.MultiIndex.from_tuples(s.index, names=["worker", "date"])
    return s
