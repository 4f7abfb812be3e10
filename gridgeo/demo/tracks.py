"""Demo step: sample patrol tracks (marked as samples) imported, measured and ranked."""

from __future__ import annotations

import hashlib

import geopandas as gpd
import numpy as np
import pandas as pd

from gridgeo.demo.sample import TIMEZONE, sample_tracks
from gridgeo.i18n import _

__all__ = ["demo_tracks"]


def demo_tracks(url: str, grids: gpd.GeoDataFrame, staff: pd.DataFrame, *, seed: int = 0):
    """Import today's sample tracks of the demo's grid workers and rank them.

    The tracks are generated for today (the demo's grids are registered today, and a day
    is measured against the grids of that day), keyed by the workers' names as the
    registry knows them, stored with ``is_sample`` and a hash of their content, so a second
    run on the same day imports nothing.

    Returns
    -------
    tuple of str
        ``(status, detail)`` for the demo report.
    """
    from gridgeo.registry.tracks import import_tracks, patrol_stats
    from gridgeo.tracks import TrackPoints, clean_tracks
    from gridgeo.tracks.rank import rankings

    today = pd.Timestamp.now(tz=TIMEZONE).normalize()
    tracks = sample_tracks(grids, staff, days=1, seed=seed, start=today.strftime("%Y-%m-%d"))
    wgs = tracks.to_crs(4326)
    t = (wgs["time"] - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
    n = len(wgs)
    pts = TrackPoints(
        wgs["name"].astype(str).to_numpy(dtype=object),
        t.to_numpy(dtype=np.float64),
        wgs.geometry.x.to_numpy(),
        wgs.geometry.y.to_numpy(),
        np.full(n, np.nan),
        np.full(n, np.nan),
        np.arange(n),
        "demo_sample_tracks",
    )
    digest = hashlib.sha256(
        pd.util.hash_pandas_object(pts.to_frame(), index=False).to_numpy().tobytes()
    ).hexdigest()
    res = import_tracks(
        url,
        pts,
        clean_tracks(pts),
        sha256=digest,
        name="示例轨迹 (sample)",
        crs="wgs84",
        by="demo",
        sample=True,
    )
    days, _grids, _problems = patrol_stats(url, today.date(), today.date())
    top = rankings(days, period="week", scope="county").head(3)
    ranked = _("; ").join(
        _("no. {rank} {worker} {hours} h").format(rank=r.rank, worker=r.worker, hours=r.own_hours)
        for r in top.itertuples()
    )
    met = days["meets_rule"].dropna()
    rule = (
        _(", {met}/{n} met the daily patrol time").format(met=int(met.sum()), n=len(met))
        if len(met)
        else ""
    )
    status = "done" if res["created"] else "reused"
    return status, _("{fixes} sample fixes, {workers} grid workers{rule}; {ranked}").format(
        fixes=res["fixes_kept"], workers=len(days), rule=rule, ranked=ranked
    )
