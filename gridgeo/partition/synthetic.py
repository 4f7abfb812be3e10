"""Synthetic communities for tests, property tests and benchmarks (street grids, random households)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, box

CRS = "EPSG:4547"  # CGCS2000 / 3-degree GK CM 114E: metres


def street_grid(x0: float, y0: float, size: float, step: float) -> list[LineString]:
    lines = []
    for k in np.arange(step, size, step):
        lines.append(LineString([(x0 + k, y0 - 20), (x0 + k, y0 + size + 20)]))
        lines.append(LineString([(x0 - 20, y0 + k), (x0 + size + 20, y0 + k)]))
    return lines


def district(
    *,
    seed: int = 0,
    n_households: int = 3000,
    size: float = 1000.0,
    step: float = 100.0,
    code: str = "430102001001",
    name: str = "东风社区",
    per_point: int = 10,
):
    """One square community with a street grid and ``n_households`` in points of ``per_point``.

    Returns ``(communities, roads, households)`` GeoDataFrames in EPSG:4547 (metres);
    household points are kept 3 m off the streets. Everything random comes from ``seed``.
    """
    rng = np.random.default_rng(seed)
    x0, y0 = 500000.0, 3000000.0
    comm = gpd.GeoDataFrame(
        {"code": [code], "name": [name]}, geometry=[box(x0, y0, x0 + size, y0 + size)], crs=CRS
    )
    roads = gpd.GeoDataFrame(geometry=street_grid(x0, y0, size, step), crs=CRS)
    n_pts = n_households // per_point
    xy = rng.uniform([x0 + 3, y0 + 3], [x0 + size - 3, y0 + size - 3], size=(n_pts, 2))
    # keep points off the streets
    off = (np.abs((xy - [x0, y0]) % step) > 3).all(axis=1)
    xy = xy[off]
    hh = gpd.GeoDataFrame(
        {"households": np.full(len(xy), per_point), "population": np.full(len(xy), per_point * 3)},
        geometry=shapely.points(xy),
        crs=CRS,
    )
    return comm, roads, hh


def tiled_district(nx: int = 2, ny: int = 2, *, seed: int = 0, size: float = 600.0, **kwargs):
    """``nx × ny`` adjacent square communities (codes ``430102001001``…), each from :func:`district`."""
    comms, roads, hhs = [], [], []
    k = 0
    for i in range(nx):
        for j in range(ny):
            k += 1
            c, r, h = district(
                seed=seed + k, size=size, code=f"430102001{k:03d}", name=f"社区{k}", **kwargs
            )
            dx, dy = i * size, j * size
            for gdf, out in ((c, comms), (r, roads), (h, hhs)):
                g = gdf.copy()
                g["geometry"] = g.geometry.translate(dx, dy)
                out.append(g)
    cat = lambda parts: gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=CRS)  # noqa: E731
    return cat(comms), cat(roads), cat(hhs)
