"""A worker's day as GeoJSON for the web console's day map (the PNG is :mod:`gridgeo.tracks.plot`).

Features (WGS 84), each with a ``kind`` property:

* ``grid`` — the grids near the track (``grid_code``, ``own``: served by the worker that day);
* ``road`` / ``road_covered`` — road centrelines in the own grids, the covered pieces apart
  (within the profile's road tolerance of the track inside the own grids);
* ``track`` — the track as runs of consecutive leg parts, ``in_own`` true inside an own grid.

The collection's ``properties`` carry the day's figures (:data:`gridgeo.tracks.daily.DAY_COLUMNS`).
Names and codes are plain strings: the console shows them as text.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import shapely

from gridgeo.crs import cached_transformer
from gridgeo.i18n import _
from gridgeo.tracks.pipeline import GridSnapshot, Patrol

__all__ = ["day_geojson"]

_NEAR_M = 300.0  # grids within this distance of the track are drawn


def _track_runs(patrol: Patrol, mine: np.ndarray, in_own: np.ndarray) -> list[tuple[bool, list]]:
    """Consecutive parts with the same in/out flag as polylines (metric coordinates)."""
    legs, x, y = patrol.legs, patrol.x, patrol.y
    idx = np.flatnonzero(mine)
    a, f0, f1 = legs.fix[idx], legs.f0[idx], legs.f1[idx]
    dx, dy = x[a + 1] - x[a], y[a + 1] - y[a]
    sx, sy = x[a] + f0 * dx, y[a] + f0 * dy
    ex, ey = x[a] + f1 * dx, y[a] + f1 * dy
    flag = in_own[idx]
    runs: list[tuple[bool, list]] = []
    for k in range(idx.size):
        joined = (
            k > 0
            and flag[k] == flag[k - 1]
            and (
                (a[k] == a[k - 1] and f0[k] == f1[k - 1])
                or (a[k] == a[k - 1] + 1 and f0[k] == 0.0 and f1[k - 1] == 1.0)
            )
        )
        if not joined:
            runs.append((bool(flag[k]), [(sx[k], sy[k])]))
        runs[-1][1].append((ex[k], ey[k]))
    return runs


def _feature(geom: shapely.Geometry, to_ll: pyproj.Transformer, **props: Any) -> dict:
    ll = shapely.transform(geom, lambda c: np.column_stack(to_ll.transform(c[:, 0], c[:, 1])))
    ll = shapely.set_precision(ll, 1e-7)
    return {"type": "Feature", "geometry": shapely.geometry.mapping(ll), "properties": props}


def _plain(v: Any) -> Any:
    """A JSON-ready scalar (NaN, NA and NaT → None, numpy → Python, times → ISO text)."""
    if v is None or ((np.isscalar(v) or v is pd.NA or v is pd.NaT) and pd.isna(v)):
        return None
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def day_geojson(
    patrol: Patrol, grids: GridSnapshot, worker: str, *, tolerance: float = 5.0
) -> dict:
    """The day map of ``worker`` as a GeoJSON FeatureCollection (see module doc).

    Parameters
    ----------
    patrol
        :func:`gridgeo.tracks.patrol_days` of (at least) that worker's day.
    grids
        The snapshot the patrol was measured on (its roads, if any, are drawn).
    worker
        The worker shown.
    tolerance
        Roads within this many metres of the track in the own grids count as covered.

    Returns
    -------
    dict
    """
    import shapely.geometry

    days = patrol.days[patrol.days["worker"] == str(worker)]
    if not len(days):
        raise ValueError(_("no day of worker {worker!r} in this patrol").format(worker=worker))
    row = days.iloc[0]
    own = set(filter(None, str(row["own_grids"]).split(",")))
    codes = np.asarray(grids.index.codes).astype(str)
    own_idx = np.flatnonzero(np.isin(codes, list(own)))
    in_own = np.isin(patrol.legs.grid, own_idx)
    mine = patrol.cleaned.points.worker[patrol.legs.fix] == str(worker)
    to_ll = cached_transformer(grids.crs, 4326)
    runs = _track_runs(patrol, mine, in_own)
    lines = [shapely.LineString(pts) for _, pts in runs if len(pts) >= 2]
    track = shapely.union_all(lines) if lines else shapely.Point()
    features = []
    near = np.zeros(len(codes), dtype=bool)
    if lines:
        near[grids.borders.tree.query(track, predicate="dwithin", distance=_NEAR_M)] = True
    near[own_idx] = True
    visited = np.unique(patrol.legs.grid[mine])
    near[visited[visited >= 0]] = True
    for i in np.flatnonzero(near):
        features.append(
            _feature(grids.index.geoms[i], to_ll, kind="grid", grid_code=codes[i], own=i in own_idx)
        )
    if grids.roads is not None and len(own_idx):
        area = shapely.union_all(grids.index.geoms[own_idx])
        road = shapely.intersection(shapely.union_all(grids.roads), area)
        on = [shapely.LineString(p) for f, p in runs if f and len(p) >= 2]
        reach = shapely.union_all(shapely.buffer(on, tolerance)) if on else shapely.Point()
        covered = shapely.intersection(road, reach)
        for geom, kind in ((road, "road"), (covered, "road_covered")):
            if not geom.is_empty:
                features.append(_feature(geom, to_ll, kind=kind))
    for flag, pts in runs:
        if len(pts) >= 2:
            features.append(_feature(shapely.LineString(pts), to_ll, kind="track", in_own=flag))
    props = {k: _plain(v) for k, v in row.items()}
    props["date"] = f"{row['date']:%Y-%m-%d}"
    return {"type": "FeatureCollection", "features": features, "properties": props}
