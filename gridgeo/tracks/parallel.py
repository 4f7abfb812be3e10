"""Daily patrol statistics over monthly GeoParquet partitions on dask (a province-month).

Each partition file holds the fixes of one local month (all workers): a worker-day never
spans two files, so per-file :func:`gridgeo.tracks.patrol_days` runs are independent and
their concatenation equals the single-process run over all fixes (a leg that crosses
midnight at a month's end is the one exception: it belongs to no file alone).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd

from gridgeo.tracks.clean import CleanOptions

log = logging.getLogger(__name__)

__all__ = ["patrol_partitions", "write_month_partitions"]


def write_month_partitions(points, folder: str | Path) -> list[Path]:
    """Write fixes (:class:`~gridgeo.tracks.read.TrackPoints`) as one GeoParquet per local month.

    Returns
    -------
    list of pathlib.Path
        ``folder/tracks-YYYY-MM.parquet``, in month order.
    """
    import shapely

    from gridgeo.tracks.daily import day_of

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    month = day_of(points.t).astype("datetime64[M]")
    frame = gpd.GeoDataFrame(
        {
            "worker": points.worker,
            "time": pd.to_datetime(points.t, unit="s", utc=True),
            "accuracy": points.accuracy,
            "month": month,
        },
        geometry=shapely.points(points.lon, points.lat),
        crs=4326,
    )
    out = []
    for m, part in frame.groupby("month", sort=True):
        path = folder / f"tracks-{pd.Timestamp(m):%Y-%m}.parquet"
        part.drop(columns="month").to_parquet(path)
        out.append(path)
    return out


def _one(
    path: Path,
    grids: gpd.GeoDataFrame,
    assignments: pd.DataFrame,
    profile,
    options: CleanOptions | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    from gridgeo.tracks.pipeline import GridSnapshot, patrol_days
    from gridgeo.tracks.read import read_tracks

    snap = GridSnapshot.from_frame(grids)
    res = patrol_days(read_tracks(path), snap, assignments, profile=profile, options=options)
    return res.days, res.per_grid


def patrol_partitions(
    paths: Sequence[str | Path],
    grids: gpd.GeoDataFrame,
    assignments: pd.DataFrame,
    *,
    profile=None,
    options: CleanOptions | None = None,
    scheduler: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Daily statistics of every monthly partition, computed on dask.

    Parameters
    ----------
    paths
        GeoParquet files, one per local month (:func:`write_month_partitions`).
    grids, assignments, profile, options
        As for :func:`gridgeo.tracks.patrol_days` (grids as a GeoDataFrame: each task
        builds its own index).
    scheduler
        ``tcp://host:port`` of a dask scheduler, or a local scheduler name
        (``threads``, ``processes``, ``synchronous``); default ``threads``.

    Returns
    -------
    days, per_grid
        Sorted by worker and date (and grid), as the single-process run.
    """
    import dask

    tasks = [dask.delayed(_one)(Path(p), grids, assignments, profile, options) for p in paths]
    if scheduler and scheduler.startswith("tcp://"):
        from dask.distributed import Client

        with Client(scheduler) as client:
            results = client.gather(client.compute(tasks))
    else:
        results = dask.compute(*tasks, scheduler=scheduler or "threads")
    days = pd.concat([r[0] for r in results], ignore_index=True)
    per_grid = pd.concat([r[1] for r in results], ignore_index=True)
    log.info(
        "patrol on dask (%s): %d partitions, %d worker-days",
        scheduler or "threads",
        len(paths),
        len(days),
    )
    return (
        days.sort_values(["worker", "date"]).reset_index(drop=True),
        per_grid.sort_values(["worker", "date", "grid_code"]).reset_index(drop=True),
    )
