"""Input checks of the partitioner: the layer contracts of :mod:`gridgeo.io.schemas`.

Every layer goes through :func:`gridgeo.io.check_layer` — the same check the CLI, the
validator's CLI and the registry loader use — so the partitioner accepts exactly what
``io`` accepts. The one check that needs all communities in a metric CRS (overlaps) is
:func:`overlap_problems`.
"""

from __future__ import annotations

from dataclasses import replace

import geopandas as gpd
import numpy as np
import shapely

from gridgeo.errors import Problem
from gridgeo.i18n import _
from gridgeo.io import check_layer
from gridgeo.rules import Profile


def check_inputs(
    communities: gpd.GeoDataFrame,
    roads: gpd.GeoDataFrame | None,
    households: gpd.GeoDataFrame | None,
    dedicated: gpd.GeoDataFrame | None,
    villager_groups: gpd.GeoDataFrame | None,
    profile: Profile,
    *,
    repair: bool = False,
) -> list[Problem]:
    """Every problem of the partition inputs, errors and warnings, across the layers.

    Parameters
    ----------
    communities, roads, households, dedicated, villager_groups
        The layers (``None``: not given; communities are required).
    profile
        Its code scheme decides the code pattern and the urban/rural code ranges.
    repair
        Repair invalid geometries in place (reported as warnings).

    Returns
    -------
    list of Problem
        Empty when the inputs are usable; the caller raises on errors
        (:func:`gridgeo.io.raise_for_problems`).
    """
    layers = {
        "communities": communities,
        "roads": roads,
        "households": households,
        "dedicated": dedicated,
        "villager_groups": villager_groups,
    }
    problems: list[Problem] = []
    for name, gdf in layers.items():
        if gdf is None:
            continue
        if not isinstance(gdf, gpd.GeoDataFrame):
            problems.append(Problem(_("is not a GeoDataFrame"), layer=name, rule="layer.type"))
            continue
        if name == "communities" and len(gdf) == 0:
            problems.append(Problem(_("layer is empty"), layer=name, rule="layer.empty"))
            continue
        # An empty optional layer is legitimate (e.g. a community without households).
        found = check_layer(
            gdf, name, code_scheme=profile.codes, repair=repair, allow_empty=name != "communities"
        )
        problems += [p if p.layer else replace(p, layer=name) for p in found]
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
                    Problem(
                        _("communities {a} and {b} overlap by {area:.1f} m²").format(
                            a=codes[i], b=codes[j], area=ar
                        ),
                        layer="communities",
                        row=codes[i],
                        field="geometry",
                        rule="communities.overlap",
                    )
                )
    return out
