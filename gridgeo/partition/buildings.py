"""Building-level units: a compound's households spread over its buildings.

Compound lists hold a 小区 of 1,000–7,000 households as one point, which no grid of
300–500 can take. With building footprints (e.g. OSM buildings) or 楼栋 points (the
一标三实 standard-address form, often with 户数), :func:`spread_over_buildings`
replaces such a compound point by one unit per building, so the splitter can cut the
compound *between* its buildings into grids in band.

How a building finds its compound: the same compound name/id (``compound_id``, or
小区/小区名称 in the building layer) when both layers have one; else the nearest
compound point within ``max_distance_m`` (an estimate, reported as such).

How a compound's households are spread (``method`` in the report):

* ``counted`` — every building has its own count (户数): those are used.
* ``floor_area`` — footprint area × floors (层数/floors/building:levels; 1 when
  missing), shares rounded by largest remainder so they add up to the compound's
  count. An **estimate**: ``households_estimated`` is true on those units.
* ``building_count`` — buildings given as points without counts: equal shares (also
  an estimate).

Only compounds above the ceiling are spread (one unit per building, each its own
``compound_id``); a compound at or below it stays one point and is never cut. Every
point takes part in the matching, so a small compound's buildings are not handed to
its large neighbour. The report lists every compound above the ceiling and whether it
can now be split — and, when not, what data would fix it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgeo.crs import metric_crs
from gridgeo.i18n import _
from gridgeo.io.fields import find_field, resolve_count_fields

log = logging.getLogger(__name__)

SpreadMethod = Literal["floor_area", "building_count"]

#: Field names read as the number of floors of a building.
FLOOR_ALIASES = ("floors", "层数", "楼层数", "地上层数", "building:levels", "levels")

REPORT_COLUMNS = [
    "compound",
    "row",
    "households",
    "buildings",
    "method",
    "largest_building",
    "can_split",
    "advice",
]


@dataclass
class BuildingSpread:
    """The household layer with compounds spread over their buildings, and the report.

    Attributes
    ----------
    households
        Same CRS and columns as the input plus ``building`` (row of the building, or
        empty) and ``households_estimated`` (bool).
    report
        One row per compound above the ceiling (:data:`REPORT_COLUMNS`).
    """

    households: gpd.GeoDataFrame
    report: pd.DataFrame


def spread_over_buildings(
    households: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    *,
    ceiling: float,
    method: SpreadMethod = "floor_area",
    max_distance_m: float = 300.0,
) -> BuildingSpread:
    """Replace compound points by one unit per building of the compound.

    Parameters
    ----------
    households
        Compound/household points with ``households`` (and optional ``population``,
        ``compound_id``) — Chinese names are read as :mod:`gridgeo.io.fields` says.
    buildings
        Footprints (Polygon/MultiPolygon) or 楼栋 points, optional count, floors and
        compound fields.
    ceiling
        The band's ceiling: compounds above it get one unit per building.
    method
        ``floor_area`` (default; footprints only) or ``building_count`` (equal shares)
        when buildings carry no counts.
    max_distance_m
        Farthest a building may be from its compound point when matched by distance.

    Returns
    -------
    BuildingSpread
    """
    hh = resolve_count_fields(households, warn_missing=False)[0]
    bld = resolve_count_fields(buildings, warn_missing=False)[0]
    work = metric_crs(hh)
    hm = hh.to_crs(work)
    bm = bld.to_crs(work)
    weights = _num(hm, "households", 1.0)
    owner = _match(hm, bm, max_distance_m)
    counted = _num(bm, "households", np.nan)
    floors = _floors(bm)
    area = shapely.area(bm.geometry.to_numpy())
    keep_rows: list[int] = []
    new_rows: list[dict] = []
    report: list[dict] = []
    cid_col = "compound_id" if "compound_id" in hm.columns else None
    for i in range(len(hm)):
        mine = np.flatnonzero(owner == i)
        total = float(weights[i])
        cid = hm[cid_col].iloc[i] if cid_col else None
        name = str(cid) if cid is not None and pd.notna(cid) else f"row {hm.index[i]}"
        if total <= ceiling or len(mine) == 0:
            keep_rows.append(i)
            if total > ceiling:
                report.append(_row(name, hm.index[i], total, 0, "", 0, ceiling, max_distance_m))
            continue
        shares, how = _shares(total, counted[mine], area[mine] * floors[mine], method)
        new_rows += _units(hm.iloc[i], bm, mine, shares, how, name, total)
        report.append(
            _row(name, hm.index[i], total, len(mine), how, shares.max(), ceiling, max_distance_m)
        )
    out = _assemble(hm.iloc[keep_rows], new_rows, cid_col is None, work).to_crs(hh.crs)
    out.attrs = dict(households.attrs)
    rep = pd.DataFrame(report, columns=REPORT_COLUMNS)
    log.info(
        "spread %d compounds over %d buildings; %d compounds above the ceiling, %d still "
        "cannot be split",
        len(hm) - len(keep_rows),
        len(new_rows),
        len(rep),
        int((~rep["can_split"].astype(bool)).sum()) if len(rep) else 0,
    )
    return BuildingSpread(out, rep)


def _units(compound: pd.Series, bm, mine, shares, how: str, name: str, total: float) -> list[dict]:
    """One unit per building of a compound, carrying its share of households (and residents)."""
    rows = []
    for k, b in enumerate(mine):
        rec = compound.to_dict()
        rec["geometry"] = shapely.point_on_surface(bm.geometry.iloc[b])
        rec["households"] = int(shares[k])
        if "population" in compound.index and pd.notna(rec.get("population")) and total > 0:
            rec["population"] = round(float(rec["population"]) * shares[k] / total)
        rec["compound_id"] = f"{name}/{bm.index[b]}"
        rec["building"] = str(bm.index[b])
        rec["households_estimated"] = how != "counted"
        rows.append(rec)
    return rows


def _assemble(kept: gpd.GeoDataFrame, new_rows: list[dict], no_cid: bool, work) -> gpd.GeoDataFrame:
    """The points kept as they were, plus the building units, in the work CRS."""
    kept = kept.copy()
    kept["building"] = ""
    kept["households_estimated"] = False
    if no_cid and new_rows:
        kept["compound_id"] = None
    parts = [kept]
    if new_rows:
        parts.append(gpd.GeoDataFrame(new_rows, geometry="geometry", crs=work))
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=work)


def _num(gdf: gpd.GeoDataFrame, col: str, default: float) -> np.ndarray:
    if col not in gdf.columns:
        return np.full(len(gdf), default)
    return pd.to_numeric(gdf[col], errors="coerce").fillna(default).to_numpy(float)


def _floors(bm: gpd.GeoDataFrame) -> np.ndarray:
    col = find_field([str(c) for c in bm.columns], FLOOR_ALIASES)
    if col is None:
        return np.ones(len(bm))
    f = pd.to_numeric(bm[col], errors="coerce").to_numpy(float)
    return np.where(np.isfinite(f) & (f > 0), f, 1.0)


def _match(hm: gpd.GeoDataFrame, bm: gpd.GeoDataFrame, max_distance_m: float) -> np.ndarray:
    """For each building, the position of its compound point (-1: none)."""
    owner = np.full(len(bm), -1)
    if "compound_id" in hm.columns and "compound_id" in bm.columns:
        pos = {}
        for i, c in enumerate(hm["compound_id"]):
            if pd.notna(c):
                pos.setdefault(str(c), i)
        for b, c in enumerate(bm["compound_id"]):
            if pd.notna(c) and str(c) in pos:
                owner[b] = pos[str(c)]
    todo = np.flatnonzero(owner < 0)
    if len(todo) and len(hm):
        tree = shapely.STRtree(hm.geometry.to_numpy())
        geoms = bm.geometry.to_numpy()[todo]
        (bi, hi), _dist = tree.query_nearest(
            geoms, max_distance=max_distance_m, return_distance=True, all_matches=False
        )
        owner[todo[bi]] = hi
    return owner


def _shares(
    total: float, counted: np.ndarray, floor_area: np.ndarray, method: SpreadMethod
) -> tuple[np.ndarray, str]:
    """Households per building and how they were found."""
    if np.isfinite(counted).all():
        return counted.astype(int), "counted"
    if method == "floor_area" and (floor_area > 0).all():
        weights, how = floor_area, "floor_area"
    else:
        weights, how = np.ones(len(floor_area)), "building_count"
    return _largest_remainder(total, weights), how


def _largest_remainder(total: float, weights: np.ndarray) -> np.ndarray:
    n = int(round(total))
    raw = n * weights / weights.sum()
    out = np.floor(raw).astype(int)
    rest = n - int(out.sum())
    if rest > 0:
        out[np.argsort(-(raw - out), kind="stable")[:rest]] += 1
    return out


def _row(name, row, total, n, how, largest, ceiling, max_distance_m) -> dict:
    can = n >= 2 and largest <= ceiling
    if n == 0:
        advice = _(
            "no building within {distance:.0f} m: add its building footprints (e.g. OSM "
            "buildings) or building addresses with household counts (一标三实), or name the "
            "compound in the buildings layer"
        ).format(distance=max_distance_m)
    elif largest > ceiling:
        advice = _(
            "one building has {largest:.0f} households, above the ceiling of {ceiling:.0f}: "
            "buildings are not split; it needs addresses by stairwell (单元) to be divided "
            "further, or make it a compound grid of its own"
        ).format(largest=largest, ceiling=ceiling)
    else:
        advice = _("can be split by building")
        if how == "floor_area":
            advice += _(" (households per building estimated from floor area)")
        elif how == "building_count":
            advice += _(" (households per building estimated from the number of buildings)")
    return {
        "compound": name,
        "row": row,
        "households": int(round(total)),
        "buildings": n,
        "method": how,
        "largest_building": int(largest),
        "can_split": bool(can),
        "advice": advice,
    }
