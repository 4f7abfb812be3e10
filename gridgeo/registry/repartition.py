"""Incremental re-partition of one community after new housing (动态调整).

Only the grids that no longer comply are redrawn; the others keep their geometry and
code:

1. the current grids of the community are recounted from the new household points;
2. a grid stays when its households are in the profile's band for its type
   (dedicated grids always stay);
3. the grids above the band, and those below it together with the neighbour they share
   the longest border with, form the area to redraw; :func:`gridgeo.partition.partition`
   partitions that area alone (with the households and roads inside it);
4. stayers (with their new counts) plus the new grids are drafted with
   :func:`gridgeo.registry.load_grids`: unchanged grids keep their codes (``amend``
   when only counts changed), new grids get the community's next unused sequence
   numbers and the redrawn grids' codes are retired.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text

from gridgeo.errors import InputError, NotFoundError, Problem
from gridgeo.i18n import _
from gridgeo.registry._db import Bind, transaction
from gridgeo.registry.bindings import drafting_profile
from gridgeo.registry.divisions import require_within
from gridgeo.registry.history import grids_at
from gridgeo.registry.load import LoadResult, load_grids
from gridgeo.registry.users import Principal
from gridgeo.rules import Profile

log = logging.getLogger(__name__)


@dataclass
class RepartitionResult:
    """What :func:`repartition_community` did.

    Attributes
    ----------
    load
        The draft (``load.changeset_id`` is ``None`` when nothing changed).
    kept
        Codes of the grids that stay (in band).
    redrawn
        Codes of the grids that were redrawn.
    counts
        Per current grid: ``grid_code``, ``households_before``, ``households_now``,
        ``band_min``, ``band_max``, ``in_band``.
    """

    load: LoadResult
    kept: list[str] = field(default_factory=list)
    redrawn: list[str] = field(default_factory=list)
    counts: pd.DataFrame = field(default_factory=pd.DataFrame)


def recount(grids: gpd.GeoDataFrame, households: gpd.GeoDataFrame) -> pd.DataFrame:
    """Households and residents per grid from points (weights ``households``/``population``;
    a point on a shared border counts for the first grid)."""
    pts = households.to_crs(grids.crs) if households.crs != grids.crs else households
    weight = pd.to_numeric(pts.get("households", 1), errors="coerce")
    weight = pd.Series(1.0, index=pts.index) if np.isscalar(weight) else weight.fillna(1)
    pop = pd.to_numeric(pts.get("population", 0), errors="coerce")
    pop = pd.Series(0.0, index=pts.index) if np.isscalar(pop) else pop.fillna(0)
    tree = shapely.STRtree(grids.geometry.values)
    p_idx, g_idx = tree.query(pts.geometry.values, predicate="intersects")
    first = pd.Series(g_idx).groupby(p_idx).min()
    hh = np.zeros(len(grids))
    pp = np.zeros(len(grids))
    np.add.at(hh, first.to_numpy(), weight.to_numpy()[first.index.to_numpy()])
    np.add.at(pp, first.to_numpy(), pop.to_numpy()[first.index.to_numpy()])
    return pd.DataFrame(
        {"households": np.rint(hh).astype(int), "population": np.rint(pp).astype(int)}
    )


def repartition_community(
    bind: Bind,
    community_code: str,
    households: gpd.GeoDataFrame,
    *,
    county: str,
    actor: Principal,
    roads: gpd.GeoDataFrame | None = None,
    profile: str | Profile | None = None,
    code_pattern: str | None = None,
    seed: int = 0,
    force: bool = False,
    title: str = "",
    reason: str = "",
) -> RepartitionResult:
    """Redraw only the non-compliant grids of one community and draft the change.

    Parameters
    ----------
    bind
        Database.
    community_code
        The community to re-partition (its current grids must be in the registry).
    households
        Household points (any CRS), e.g. with the new housing; points outside the
        community are ignored.
    county, actor
        As for :func:`load_grids` (a county editor of ``county``).
    roads
        Road centrelines for the partitioner (optional).
    profile, code_pattern, seed
        Partition rules (default: the county's binding), community code pattern (default:
        the binding's) and the partitioner's seed.
    force
        Redraw every grid of the community except its dedicated grids, in band or not
        (e.g. after new roads changed its layout).

    Returns
    -------
    RepartitionResult

    Raises
    ------
    NotFoundError
        When the community has no current grids.
    PermissionDeniedError
        When ``actor`` may not draft in ``county`` or the community is outside it.
    """
    from gridgeo.partition import partition

    prof = drafting_profile(bind, county, profile=profile, code_pattern=code_pattern)
    actor.require("changeset.draft", county)
    current = grids_at(bind, community=community_code)
    current = current[current["community_code"] == community_code].reset_index(drop=True)
    if current.empty:
        raise NotFoundError(
            _("community {community_code} has no current grids in the registry").format(
                community_code=community_code
            )
        )
    if households.crs is None:
        raise InputError(
            _("the household points have no CRS"),
            [Problem(_("no CRS"), layer="households", rule="crs.missing")],
        )
    with transaction(bind) as conn:
        require_within(conn, county, [community_code])
        name, kind, wkb = conn.execute(
            text("SELECT name, kind, ST_AsBinary(geom) FROM registry.divisions WHERE code = :c"),
            {"c": community_code},
        ).one()
    outline = shapely.from_wkb(bytes(wkb))
    pts = households.to_crs(current.crs)
    pts = pts[shapely.intersects(outline, pts.geometry.values)]
    counts = recount(current, pts)
    bands = np.array([prof.household_band(t) or (0, np.inf) for t in current["grid_type"]])
    in_band = (counts["households"].to_numpy() >= bands[:, 0]) & (
        counts["households"].to_numpy() <= bands[:, 1]
    )
    report = pd.DataFrame(
        {
            "grid_code": current["grid_code"],
            "households_before": current["households"],
            "households_now": counts["households"],
            "band_min": bands[:, 0],
            "band_max": bands[:, 1],
            "in_band": in_band,
        }
    )
    redraw = set(np.flatnonzero(~in_band))
    if force:
        redraw = set(np.flatnonzero(current["grid_type"].to_numpy() != "dedicated"))
    geoms = current.geometry.values
    for i in np.flatnonzero(~in_band & (counts["households"].to_numpy() < bands[:, 0])):
        shared = [
            (
                shapely.length(
                    shapely.intersection(shapely.boundary(geoms[i]), shapely.boundary(geoms[j]))
                ),
                j,
            )
            for j in range(len(current))
            if j != i
            and current["grid_type"].iloc[j] != "dedicated"
            and shapely.intersects(geoms[i], geoms[j])
        ]
        if shared:
            redraw.add(max(shared)[1])
    recounted = current.assign(households=counts["households"], population=counts["population"])
    kept = recounted.drop(index=sorted(redraw))
    layer = kept[
        [
            "grid_code",
            "grid_name",
            "grid_type",
            "community_code",
            "households",
            "population",
            "geometry",
        ]
    ]
    if redraw:
        area = shapely.union_all(geoms[sorted(redraw)])
        pseudo = gpd.GeoDataFrame(
            {"code": [community_code], "name": [name], "kind": [kind]},
            geometry=[area],
            crs=current.crs,
        )
        inside = pts[shapely.intersects(area, pts.geometry.values)]
        road_part = roads.to_crs(current.crs).clip(area.buffer(1.0)) if roads is not None else None
        result = partition(pseudo, road_part, inside, profile=prof, seed=seed)
        new = result.grids.to_crs(current.crs).drop(
            columns=["grid_code", "area_m2"], errors="ignore"
        )
        new["grid_name"] = None  # named after their new codes by the registry
        layer = gpd.GeoDataFrame(
            pd.concat([layer.drop(columns=["grid_code"]), new], ignore_index=True), crs=current.crs
        )
    else:
        layer = layer.drop(columns=["grid_code"])
    loaded = load_grids(
        bind, layer, county=county, actor=actor, profile=prof, title=title, reason=reason
    )
    redrawn = sorted(current["grid_code"].iloc[sorted(redraw)])
    log.info(
        "re-partitioned community %s: %d grids kept, %d redrawn, change set %s",
        community_code,
        len(kept),
        len(redrawn),
        loaded.changeset_id,
    )
    return RepartitionResult(loaded, sorted(kept["grid_code"]), redrawn, report)
