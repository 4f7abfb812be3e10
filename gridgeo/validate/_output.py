"""Writing the problem geometries as GeoPackage layers that open in QGIS."""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from gridgeo.io import write_layers

log = logging.getLogger(__name__)


def _as_multi(geoms: np.ndarray, family: str) -> np.ndarray:
    """Keep only the polygon (or line) parts of each geometry, as one Multi* per row."""
    keep = (3, 6) if family == "polygon" else (1, 5)
    out = np.empty(len(geoms), dtype=object)
    for i, g in enumerate(geoms):
        if g is None or shapely.is_empty(g):
            out[i] = None
            continue
        parts = [p for p in shapely.get_parts(g) if shapely.get_type_id(p) in keep]
        parts = [q for p in parts for q in shapely.get_parts(p)]
        if not parts:
            out[i] = None
        elif family == "polygon":
            out[i] = shapely.multipolygons(parts)
        else:
            out[i] = shapely.multilinestrings(parts)
    return out


def write_problem_layers(issues: gpd.GeoDataFrame, path: Path, *, layer: str = "problems") -> Path:
    """Write ``issues`` to ``path``: polygons (and rows without geometry) in ``layer``,
    lines in ``{layer}_lines``; each layer has one geometry type."""
    geoms = np.asarray(issues.geometry.values, dtype=object)
    types = np.array(
        [-1 if g is None or shapely.is_empty(g) else shapely.get_type_id(g) for g in geoms]
    )
    linear = np.isin(types, (1, 2, 5))
    table = issues.drop(columns=issues.geometry.name)
    layers = {
        layer: gpd.GeoDataFrame(
            table[~linear].reset_index(drop=True),
            geometry=gpd.GeoSeries(_as_multi(geoms[~linear], "polygon"), crs=issues.crs),
            crs=issues.crs,
        )
    }
    if linear.any():
        layers[f"{layer}_lines"] = gpd.GeoDataFrame(
            table[linear].reset_index(drop=True),
            geometry=gpd.GeoSeries(_as_multi(geoms[linear], "line"), crs=issues.crs),
            crs=issues.crs,
        )
    out = write_layers(path, layers)
    log.info("wrote %d problem features to %s (%s)", len(issues), path, ", ".join(layers))
    return out
