"""From GPS fixes to per-worker daily patrol statistics: clean → locate → split → sum."""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from gridgeo.crs import work_crs
from gridgeo.errors import Problem
from gridgeo.locate.index import GridIndex
from gridgeo.rules import Profile, load_profile
from gridgeo.tracks import _kernels
from gridgeo.tracks.attribute import BorderTree, Legs, attribute_legs
from gridgeo.tracks.clean import Cleaned, CleanOptions, clean_tracks
from gridgeo.tracks.daily import (
    day_problems,
    grid_days,
    own_grids_on,
    road_coverage,
    worker_days,
)
from gridgeo.tracks.read import TrackPoints

log = logging.getLogger(__name__)

__all__ = ["GridSnapshot", "Patrol", "patrol_days"]

_PROJECT_SLICE = 500_000  # fewer fixes than this per core: one thread
# A transformer must not be used by two threads at once (dask's threads may share a snapshot);
# a projection already uses every core, so projections simply take turns.
_PROJECT_LOCK = threading.Lock()


@dataclass
class GridSnapshot:
    """Grids of one date in a metric CRS, indexed for locating (build once, reuse)."""

    index: GridIndex
    crs: pyproj.CRS
    borders: BorderTree
    roads: np.ndarray | None = None

    @classmethod
    def from_frame(
        cls, grids: gpd.GeoDataFrame, *, roads: gpd.GeoDataFrame | None = None
    ) -> GridSnapshot:
        """Index ``grids`` (columns ``grid_code``, geometry; any CRS) in their work CRS."""
        crs = work_crs(grids)
        metric = grids.to_crs(crs)
        index = GridIndex.build(metric["grid_code"].astype(str).to_numpy(), metric.geometry.values)
        road_geoms = None
        if roads is not None and len(roads):
            road_geoms = np.asarray(roads.to_crs(crs).geometry.values, dtype=object)
        return cls(index, crs, BorderTree(index), road_geoms)

    def project(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """WGS 84 → the snapshot's metric CRS.

        The transformers are built once per snapshot; large inputs are projected in one
        slice per core, each on its own thread and transformer (PROJ releases the GIL;
        one transformer must not be shared between threads).
        """
        x = np.array(lon, dtype=np.float64, copy=True).reshape(-1)
        y = np.array(lat, dtype=np.float64, copy=True).reshape(-1)
        n = x.size
        k = min(len(self._transformers), max(1, n // _PROJECT_SLICE))
        bounds = np.linspace(0, n, k + 1).astype(np.int64)

        def one(j: int) -> None:
            s = slice(bounds[j], bounds[j + 1])
            self._transformers[j].transform(x[s], y[s], inplace=True)

        with _PROJECT_LOCK:  # the transformers are this snapshot's, one per slice
            if k == 1:
                one(0)
            else:
                with ThreadPoolExecutor(k) as pool:
                    list(pool.map(one, range(k)))
        return x, y

    @cached_property
    def _transformers(self) -> list[pyproj.Transformer]:
        return [
            pyproj.Transformer.from_crs(4326, self.crs, always_xy=True)
            for _ in range(max(1, os.cpu_count() or 1))
        ]


@dataclass
class Patrol:
    """Result of :func:`patrol_days`.

    Attributes
    ----------
    days
        One row per worker and day (:data:`gridgeo.tracks.daily.DAY_COLUMNS`).
    per_grid
        One row per worker, day and grid.
    cleaned, legs, x, y
        The cleaned fixes, their legs split at borders, and fix coordinates (metric).
    problems
        Rows left out on reading, and warnings (no grid that day, wholly outside).
    """

    days: pd.DataFrame
    per_grid: pd.DataFrame
    cleaned: Cleaned
    legs: Legs
    x: np.ndarray
    y: np.ndarray
    problems: list[Problem] = field(default_factory=list)


def patrol_days(
    points: TrackPoints,
    grids: GridSnapshot,
    assignments: pd.DataFrame,
    *,
    profile: Profile | str | None = None,
    options: CleanOptions | None = None,
) -> Patrol:
    """Daily patrol statistics of every worker in ``points``.

    Parameters
    ----------
    points
        Fixes as read (:func:`gridgeo.tracks.read.read_tracks`).
    grids
        The grids as they were on the days of the fixes.
    assignments
        Which worker serves which grid when: ``worker``, ``grid_code``, ``valid_from``,
        ``valid_to``.
    profile
        Gives the daily patrol rule (``[patrol]``) and the road tolerance.
    options
        Cleaning thresholds.

    Returns
    -------
    Patrol
    """
    prof = load_profile(profile)
    cleaned = clean_tracks(points, options)
    pts = cleaned.points
    x, y = grids.project(pts.lon, pts.lat)
    g = grids.index.locate(x, y)
    legs = attribute_legs(
        x, y, pts.t, cleaned.segment_ok(), grids.index, borders=grids.borders, point_grid=g
    )
    wc, names = cleaned.worker_code, cleaned.worker_names
    # one run per worker-day (fixes are sorted by worker and time); the sums pool runs
    rw, rd, rrow, rin = _kernels.fix_days(
        np.ascontiguousarray(wc, dtype=np.int64),
        pts.t,
        g,
        np.ascontiguousarray(pts.row, dtype=np.int64),
        float(8 * 3600),
    )
    pairs = np.unique(rw * 1_000_000 + rd)  # worker × day, for the assignments
    own = own_grids_on(
        assignments, names[pairs // 1_000_000], (pairs % 1_000_000).astype("datetime64[D]")
    )
    per_grid = grid_days(legs, wc, names, grids.index, own)
    share = None
    if grids.roads is not None:
        share = road_coverage(
            legs,
            pts.worker,
            x,
            y,
            own,
            grids.index,
            grids.roads,
            tolerance=prof.quality.road_tolerance_m,
        )
    days = worker_days(per_grid, own, prof.patrol, road_share=share)
    fixes = pd.DataFrame({"w": rw, "d": rd, "row": rrow, "in": rin})
    first = fixes.groupby(["w", "d"], as_index=False).agg(
        row=("row", "min"), inside_s=("in", "sum")
    )
    first["worker"] = names[first["w"].to_numpy()]
    first["date"] = first["d"].to_numpy().astype("datetime64[D]")
    probs = list(points.problems) + day_problems(days, first, points.file)
    log.info(
        "patrol: %d fixes → %d legs parts, %d worker-days, %d problems",
        len(pts),
        len(legs),
        len(days),
        len(probs),
    )
    return Patrol(days, per_grid, cleaned, legs, x, y, probs)
