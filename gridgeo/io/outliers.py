"""Spatial outliers: features far from the bulk of their layer, or far outside the communities.

A compound list for a Beijing county that holds a point in Hainan reads and checks
fine field by field; only its position gives it away. Distances are geodesic (WGS 84
ellipsoid), so no metric CRS has to be chosen from data that may itself be wrong.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from gridgeo.crs import cached_transformer
from gridgeo.errors import Problem
from gridgeo.i18n import _
from gridgeo.io._read import split_layer_spec

log = logging.getLogger(__name__)

_GEOD = pyproj.Geod(ellps="WGS84")

#: A feature is far from the bulk when its distance to the layer's median position is
#: above ``median + FAR_MADS × MAD`` of those distances and above ``MIN_FAR_M``.
FAR_MADS = 10.0
MIN_FAR_M = 20_000.0
#: Fewer features than this: no statistics, no outliers.
MIN_FEATURES = 5


def _lonlat(gdf: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions (lon, lat) of the usable features and their positions in ``gdf``."""
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    ok = ~shapely.is_missing(geoms)
    ok[ok] = ~shapely.is_empty(geoms[ok])
    pos = np.flatnonzero(ok)
    pts = shapely.point_on_surface(geoms[ok]) if len(pos) else np.array([], dtype=object)
    xy = shapely.get_coordinates(pts) if len(pos) else np.zeros((0, 2))
    if len(pos) and gdf.crs is not None and not pyproj.CRS.from_user_input(gdf.crs).is_geographic:
        t = cached_transformer(gdf.crs, 4326)
        xy = np.column_stack(t.transform(xy[:, 0], xy[:, 1]))
    good = np.isfinite(xy).all(axis=1) if len(xy) else np.zeros(0, dtype=bool)
    return xy[good, 0], xy[good, 1], pos[good]


def outlier_problems(
    gdf: gpd.GeoDataFrame,
    *,
    communities: gpd.GeoDataFrame | None = None,
    outside_m: float = 1_000.0,
    layer: str | None = None,
    source: str | None = None,
) -> list[Problem]:
    """Warnings for features far from the rest of the layer or outside the communities.

    Parameters
    ----------
    gdf
        Any layer with a CRS (points, lines or polygons; a polygon's position is a
        point on its surface).
    communities
        Community polygons; when given, features farther than ``outside_m`` from every
        community are flagged too.
    outside_m
        Distance outside the communities (metres) above which a feature is flagged.
    layer, source
        For the problems (default ``gdf.attrs["source"]``).

    Returns
    -------
    list of Problem
        Warnings ``outlier.far_from_layer`` (with the distance to the layer's median
        position and the typical distance) and ``outlier.outside_communities``, one
        per feature, with its row.
    """
    if gdf.crs is None or len(gdf) == 0:
        return []
    source = source or gdf.attrs.get("source")
    file = None
    if source:
        path, spec_layer = split_layer_spec(str(source))
        file, layer = str(path), layer or spec_layer
    lon, lat, pos = _lonlat(gdf)
    index = gdf.index.to_numpy()
    problems: list[Problem] = []
    flagged: set[int] = set()
    if len(lon) >= MIN_FEATURES:
        mlon, mlat = float(np.median(lon)), float(np.median(lat))
        _fwd, _back, dist = _GEOD.inv(np.full(len(lon), mlon), np.full(len(lat), mlat), lon, lat)
        med = float(np.median(dist))
        mad = float(np.median(np.abs(dist - med)))
        limit = max(med + FAR_MADS * mad, MIN_FAR_M)
        for k in np.flatnonzero(dist > limit):
            flagged.add(int(pos[k]))
            problems.append(
                Problem(
                    _(
                        "far from the rest of the layer: {km} km from the layer's median "
                        "position ({mlon}, {mlat}), while a typical feature is {med} km from it "
                        "(the point is at {lon}, {lat})"
                    ).format(
                        km=f"{dist[k] / 1000:,.0f}",
                        mlon=f"{mlon:.4f}",
                        mlat=f"{mlat:.4f}",
                        med=f"{med / 1000:,.1f}",
                        lon=f"{lon[k]:.5f}",
                        lat=f"{lat[k]:.5f}",
                    ),
                    file=file,
                    layer=layer,
                    row=_plain(index[pos[k]]),
                    field=gdf.geometry.name,
                    rule="outlier.far_from_layer",
                    severity="warning",
                )
            )
    if communities is not None and len(communities) and communities.crs is not None:
        problems += _outside(gdf, communities, outside_m, lon, lat, pos, flagged, file, layer)
    log.info("%s: %d spatial outliers", source or layer or "layer", len(problems))
    return problems


def _outside(gdf, communities, outside_m, lon, lat, pos, flagged, file, layer) -> list[Problem]:
    from gridgeo.crs import metric_crs

    work = metric_crs(communities)
    comm = communities.to_crs(work).geometry.to_numpy()
    pts = gpd.GeoSeries(shapely.points(lon, lat), crs=4326).to_crs(work).to_numpy()
    tree = shapely.STRtree(comm)
    _nearest, dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    out = []
    index = gdf.index.to_numpy()
    for k in np.flatnonzero(dist > outside_m):
        if int(pos[k]) in flagged:
            continue
        out.append(
            Problem(
                _(
                    "{m} m outside every community (more than {limit} m; the point is at "
                    "{lon}, {lat})"
                ).format(
                    m=f"{dist[k]:,.0f}",
                    limit=f"{outside_m:,.0f}",
                    lon=f"{lon[k]:.5f}",
                    lat=f"{lat[k]:.5f}",
                ),
                file=file,
                layer=layer,
                row=_plain(index[pos[k]]),
                field=gdf.geometry.name,
                rule="outlier.outside_communities",
                severity="warning",
            )
        )
    return out


def _plain(v):
    return int(v) if isinstance(v, np.integer) else v
