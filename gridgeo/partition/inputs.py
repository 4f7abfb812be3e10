"""Input checks of the partitioner's Python API: every problem at once, nothing repaired.

The CLI reads layers with :mod:`gridgeo.io` and checks them with
:func:`gridgeo.io.check_layer` first; these checks guard direct API calls (and add the
one check that needs all communities in a metric CRS: overlaps).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgeo.errors import Problem
from gridgeo.rules import Profile


def _problem(msg: str, layer: str, row=None, field_=None, rule=None, severity="error") -> Problem:
    return Problem(msg, layer=layer, row=row, field=field_, rule=rule, severity=severity)


def _geom_problems(gdf: gpd.GeoDataFrame, layer: str, allowed: set[str]) -> list[Problem]:
    out = []
    geoms = gdf.geometry.to_numpy()
    types = shapely.get_type_id(geoms)
    names = {
        0: "Point",
        1: "LineString",
        3: "Polygon",
        4: "MultiPoint",
        5: "MultiLineString",
        6: "MultiPolygon",
    }
    for pos, (g, t) in enumerate(zip(geoms, types, strict=True)):
        row = gdf.index[pos]
        if g is None or shapely.is_empty(g):
            out.append(
                _problem("empty or missing geometry", layer, row, "geometry", "geometry.empty")
            )
        elif names.get(int(t)) not in allowed:
            out.append(
                _problem(
                    f"geometry is {g.geom_type}, expected {'/'.join(sorted(allowed))}",
                    layer,
                    row,
                    "geometry",
                    "geometry.type",
                )
            )
        elif not shapely.is_valid(g):
            out.append(
                _problem(
                    f"invalid geometry: {shapely.is_valid_reason(g)}",
                    layer,
                    row,
                    "geometry",
                    "geometry.invalid",
                )
            )
    return out


def check_inputs(
    communities: gpd.GeoDataFrame,
    roads: gpd.GeoDataFrame | None,
    households: gpd.GeoDataFrame | None,
    dedicated: gpd.GeoDataFrame | None,
    villager_groups: gpd.GeoDataFrame | None,
    profile: Profile,
) -> list[Problem]:
    """All problems that stop a partition, collected across the layers (none are fixed here)."""
    problems: list[Problem] = []
    layers = {
        "communities": communities,
        "roads": roads,
        "households": households,
        "dedicated": dedicated,
        "villager_groups": villager_groups,
    }
    for name, gdf in layers.items():
        if gdf is None:
            continue
        if not isinstance(gdf, gpd.GeoDataFrame):
            problems.append(_problem("is not a GeoDataFrame", name, rule="layer.type"))
            continue
        if gdf.crs is None:
            problems.append(_problem("layer has no CRS", name, rule="crs.missing"))
    if problems:
        return problems
    if len(communities) == 0:
        problems.append(_problem("layer is empty", "communities", rule="layer.empty"))
    for col in ("code", "name"):
        if col not in communities.columns:
            problems.append(
                _problem(f"missing field {col!r}", "communities", field_=col, rule="field.missing")
            )
    problems += _geom_problems(communities, "communities", {"Polygon", "MultiPolygon"})
    if "code" in communities.columns:
        seen: dict[str, Any] = {}
        for row, code in zip(communities.index, communities["code"], strict=True):
            text = "" if code is None or (isinstance(code, float) and np.isnan(code)) else str(code)
            if not profile.codes.matches(text):
                problems.append(
                    _problem(
                        f"code {text!r} does not match the pattern {profile.codes.community_pattern!r}"
                        " (set --code-pattern or the profile's codes.community_pattern)",
                        "communities",
                        row,
                        "code",
                        "code.pattern",
                    )
                )
            elif text in seen:
                problems.append(
                    _problem(
                        f"code {text} also used by row {seen[text]}",
                        "communities",
                        row,
                        "code",
                        "code.duplicate",
                    )
                )
            else:
                seen[text] = row
    if roads is not None:
        problems += _geom_problems(roads, "roads", {"LineString", "MultiLineString"})
    if households is not None:
        problems += _geom_problems(households, "households", {"Point", "MultiPoint"})
        for col in ("households", "population"):
            if col in households.columns:
                vals = pd.to_numeric(households[col], errors="coerce")
                bad = vals.isna() & households[col].notna() | (vals < 0)
                for row in households.index[bad.to_numpy()]:
                    problems.append(
                        _problem(
                            f"{col} must be a number ≥ 0, got {households.at[row, col]!r}",
                            "households",
                            row,
                            col,
                            "field.value",
                        )
                    )
    if dedicated is not None:
        problems += _geom_problems(dedicated, "dedicated", {"Polygon", "MultiPolygon"})
        for col in ("name", "category"):
            if col not in dedicated.columns:
                problems.append(
                    _problem(
                        f"missing field {col!r}", "dedicated", field_=col, rule="field.missing"
                    )
                )
    if villager_groups is not None:
        problems += _geom_problems(villager_groups, "villager_groups", {"Polygon", "MultiPolygon"})
        if "name" not in villager_groups.columns:
            problems.append(
                _problem(
                    "missing field 'name'", "villager_groups", field_="name", rule="field.missing"
                )
            )
    return problems


def overlap_problems(codes: list[str], geoms: np.ndarray, *, tolerance_m2: float) -> list[Problem]:
    """Pairs of communities overlapping by more than ``tolerance_m2`` (metric geometries)."""
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    out = []
    if len(a):
        areas = shapely.area(shapely.intersection(geoms[a], geoms[b]))
        for i, j, ar in zip(a, b, areas, strict=True):
            if ar > tolerance_m2:
                out.append(
                    _problem(
                        f"communities {codes[i]} and {codes[j]} overlap by {ar:.1f} m²",
                        "communities",
                        row=codes[i],
                        field_="geometry",
                        rule="communities.overlap",
                    )
                )
    return out
