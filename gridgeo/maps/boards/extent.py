"""A grid's extent in words (区域范围): what lies across its border, per compass side.

Along the grid's border, every few metres, the thing across is named: a named road
within reach (the registry holds no roads yet; a roads layer with ``name`` may be
given), else the neighbouring grid of the same community, else the neighbouring
community, else the community's outer border. Each side (东南西北) says the most
frequent one: ``东至和安里，南至第2网格，西至仁慈路，北至社区边界``.
"""

from __future__ import annotations

from collections import Counter

import geopandas as gpd
import numpy as np
import shapely

SIDES = ("东", "南", "西", "北")
STEP_M = 5.0
TOUCH_M = 1.5
ROAD_M = 15.0


def _side(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    ang = np.degrees(np.arctan2(dy, dx)) % 360
    # 东 (-45..45), 北 (45..135), 西 (135..225), 南 (225..315)
    idx = np.select([(ang < 45) | (ang >= 315), ang < 135, ang < 225], [0, 3, 2], 1)
    return idx


def describe_extents(
    grids: gpd.GeoDataFrame,
    neighbours: gpd.GeoDataFrame | None = None,
    roads: gpd.GeoDataFrame | None = None,
) -> dict[str, str]:
    """The extent in words of every grid of one community.

    Parameters
    ----------
    grids
        The community's grids (``grid_code``, ``grid_name``), in a metric CRS.
    neighbours
        Other communities' grids touching them (``community_name``), same CRS.
    roads
        Optional roads with a ``name`` column (any CRS; reprojected).

    Returns
    -------
    dict
        ``grid_code`` → ``东至…，南至…，西至…，北至…``.
    """
    own = grids.geometry.values
    own_tree = shapely.STRtree(own)
    near = neighbours if neighbours is not None and len(neighbours) else None
    near_tree = shapely.STRtree(near.geometry.values) if near is not None else None
    named = None
    if roads is not None and "name" in roads and len(roads):
        named = roads[roads["name"].notna() & (roads["name"].astype(str).str.strip() != "")]
        named = named.to_crs(grids.crs) if named.crs != grids.crs else named
        named = named if len(named) else None
    road_tree = shapely.STRtree(named.geometry.values) if named is not None else None
    out: dict[str, str] = {}
    for i, (code, geom) in enumerate(zip(grids["grid_code"], own, strict=True)):
        ring = geom.boundary
        n = max(int(ring.length / STEP_M), 8)
        pts = shapely.line_interpolate_point(ring, np.linspace(0, ring.length, n, endpoint=False))
        what = np.full(n, "社区边界", dtype=object)
        done = np.zeros(n, dtype=bool)
        if road_tree is not None:
            p, r = road_tree.query_nearest(pts, max_distance=ROAD_M)
            what[p] = named["name"].astype(str).to_numpy()[r]
            done[p] = True
        p, g = own_tree.query(pts, predicate="dwithin", distance=TOUCH_M)
        keep = (g != i) & ~done[p]
        what[p[keep]] = grids["grid_name"].astype(str).to_numpy()[g[keep]]
        done[p[keep]] = True
        if near_tree is not None:
            p, g = near_tree.query(pts, predicate="dwithin", distance=TOUCH_M)
            keep = ~done[p]
            what[p[keep]] = near["community_name"].astype(str).to_numpy()[g[keep]]
        c = geom.centroid
        side = _side(shapely.get_x(pts) - c.x, shapely.get_y(pts) - c.y)
        parts = []
        for k, name in enumerate(SIDES):
            mine = what[side == k]
            if len(mine):
                parts.append(f"{name}至{Counter(mine).most_common(1)[0][0]}")
        out[str(code)] = "，".join(parts)
    return out


def area_words(area_m2: float) -> str:
    """``约 3.25 公顷`` (or ``约 1.20 平方公里`` from 1 km² on)."""
    if area_m2 >= 1_000_000:
        return f"约 {area_m2 / 1_000_000:.2f} 平方公里"
    return f"约 {area_m2 / 10_000:.2f} 公顷"
