"""Checks of a finished partition against rules 1 and 5 (geometry and codes).

Each check takes the grids (and the communities) and returns human-readable
problems; an empty list means the rule holds. The partitioner's tests and property
tests use them; sizes (rule 2) are judged together with the violations layer.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import shapely


def seam_problems(
    grids: gpd.GeoDataFrame, communities: gpd.GeoDataFrame, *, tolerance_m2: float = 1.0
) -> list[str]:
    """Rule 1: per community, grids cover it without gaps or overlaps and never cross its border.

    Both layers must be in the same metric CRS.
    """
    out = []
    by = grids.groupby("community_code").groups
    for code, geom in zip(communities["code"].astype(str), communities.geometry, strict=True):
        idx = by.get(code)
        if idx is None:
            out.append(f"{code}: no grids")
            continue
        parts = grids.geometry.loc[idx].to_numpy()
        union = shapely.union_all(parts)
        gap = shapely.difference(geom, union).area
        outside = shapely.difference(union, geom).area
        overlap = float(shapely.area(parts).sum() - union.area)
        if gap > tolerance_m2:
            out.append(f"{code}: gap of {gap:.2f} m²")
        if outside > tolerance_m2:
            out.append(f"{code}: grids extend {outside:.2f} m² beyond the community")
        if overlap > tolerance_m2:
            out.append(f"{code}: grids overlap by {overlap:.2f} m²")
    return out


def contiguity_problems(grids: gpd.GeoDataFrame) -> list[str]:
    """Rule 1: every grid is one valid polygon."""
    out = []
    for code, g in zip(grids["grid_code"], grids.geometry, strict=True):
        if g is None or g.geom_type != "Polygon":
            out.append(f"{code}: geometry is {None if g is None else g.geom_type}, not one Polygon")
        elif not g.is_valid:
            out.append(f"{code}: invalid polygon ({shapely.is_valid_reason(g)})")
    return out


def code_problems(grids: gpd.GeoDataFrame, *, digits: int = 3) -> list[str]:
    """Rule 5: grid codes are the community code + a ``digits``-digit sequence, unique."""
    out = []
    codes = grids["grid_code"].astype(str)
    dup = codes[codes.duplicated()]
    out += [f"{c}: duplicate grid code" for c in dup]
    for code, comm in zip(codes, grids["community_code"].astype(str), strict=True):
        if not re.fullmatch(re.escape(comm) + rf"\d{{{digits}}}", code):
            out.append(f"{code}: not community code {comm} + {digits} digits")
    return out


def household_problems(
    grids: gpd.GeoDataFrame, households: gpd.GeoDataFrame, *, weight: str = "households"
) -> list[str]:
    """Every household point counted once: the grids' totals equal the points' totals per grid."""
    pts = households.geometry.to_numpy()
    w = households[weight].to_numpy(float) if weight in households.columns else np.ones(len(pts))
    tree = shapely.STRtree(grids.geometry.to_numpy())
    pi, gi = tree.query(pts, predicate="intersects")
    first = np.unique(pi, return_index=True)[1]
    counted = np.bincount(gi[first], weights=w[pi[first]], minlength=len(grids))
    out = []
    for code, have, want in zip(grids["grid_code"], grids["households"], counted, strict=True):
        if abs(have - want) > 1e-6 and abs(have - want) > 0:
            out.append(f"{code}: households {have} but the points inside sum to {want:.0f}")
    return out
