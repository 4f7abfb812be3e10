"""The registry side of grid adjustment: a community's editable plan, and a
plan drafted as a change set.

The plan's blocks are cut from the community's registered outline along its current
grids' borders (and given roads); households per block come from the county's
household layer. Drafting goes through :func:`gridgeo.registry.load.load_grids`, so
codes (kept on reshapes, new on splits and merges) and recounts are decided there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from sqlalchemy import text

from gridgeo.edit import Plan, PlanGrid, community_blocks
from gridgeo.errors import InputError, NotFoundError, Problem
from gridgeo.i18n import _
from gridgeo.registry._db import Bind, transaction
from gridgeo.registry.bindings import _bound
from gridgeo.registry.history import grids_at
from gridgeo.registry.households import household_points
from gridgeo.registry.load import LoadResult, load_grids
from gridgeo.registry.users import Principal
from gridgeo.rules import Profile, load_profile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EditSession:
    """An editable community: its plan, outline, CRS, county and profile."""

    plan: Plan
    outline: object
    crs: pyproj.CRS
    county: str
    name: str
    profile: Profile


def community_plan(bind: Bind, community_code: str, *, roads=None) -> EditSession:
    """The current grids of a registered community as an editable :class:`Plan`.

    Parameters
    ----------
    community_code
        A community in the registry with current grids.
    roads
        Road centrelines (GeoDataFrame, any CRS) to cut blocks along, besides the grids'
        own borders; default: the county's roads in the registry (:func:`load_roads`).

    Raises
    ------
    NotFoundError
        When the community is unknown or has no current grids.
    """
    code = str(community_code).strip()
    with transaction(bind) as conn:
        row = conn.execute(
            text(
                "SELECT name, parent_code, ST_AsBinary(geom), registry.srid() "
                "FROM registry.divisions WHERE code = :c AND level = 'community'"
            ),
            {"c": code},
        ).one_or_none()
        if row is None or row[2] is None:
            raise NotFoundError(_("community {code} is not in the registry").format(code=code))
        name, county, wkb, srid = row
        binding = _bound(conn, str(county))
        grids = grids_at(conn, community=code)
        grids = grids[grids["community_code"] == code].reset_index(drop=True)
        if grids.empty:
            raise NotFoundError(_("community {code} has no current grids").format(code=code))
        outline = shapely.from_wkb(bytes(wkb))
        points = household_points(conn, str(county), within=outline)
        stored = _county_roads(conn, outline) if roads is None else None
    crs = pyproj.CRS.from_epsg(int(srid))
    lines = list(stored) if stored is not None else []
    if roads is not None and len(roads):
        lines = list(shapely.get_parts(roads.to_crs(crs).geometry.values))
    xy = hh = pop = None
    if points is not None and len(points):
        xy = shapely.get_coordinates(points.geometry.values)
        hh = points["households"].to_numpy(dtype=float)
        pop = points["population"].fillna(0).to_numpy(dtype=float)
    blocks, owner = community_blocks(
        outline, grids.geometry.values, roads=lines, points_xy=xy, households=hh, population=pop
    )
    items = [
        PlanGrid(str(c), str(c), str(n), str(t))
        for c, n, t in zip(grids["grid_code"], grids["grid_name"], grids["grid_type"], strict=True)
    ]
    plan = Plan.from_owner(code, blocks, owner, items)
    profile = binding.load() if binding is not None else load_profile(None)
    log.info("community %s: %d grids, %d blocks for editing", code, len(items), blocks.n)
    return EditSession(plan, outline, crs, str(county), str(name), profile)


def _county_roads(conn, outline) -> np.ndarray:
    rows = conn.execute(
        text(
            "SELECT ST_AsBinary(geom) FROM registry.road "
            "WHERE ST_Intersects(geom, ST_GeomFromWKB(decode(:w, 'hex'), registry.srid()))"
        ),
        {"w": shapely.to_wkb(outline, hex=True)},
    ).all()
    return shapely.get_parts(shapely.from_wkb([bytes(r[0]) for r in rows])) if rows else np.empty(0)


def load_roads(bind: Bind, roads: gpd.GeoDataFrame, *, county: str, actor: Principal) -> int:
    """Replace ``county``'s road centrelines (cut into blocks for editing).

    Raises
    ------
    InputError
        Listing rows that are not lines, or a layer without CRS; nothing is stored.
    """
    actor.require("changeset.draft", str(county))
    source = str(roads.attrs.get("source") or "roads")
    kinds = shapely.get_type_id(roads.geometry.values)
    problems = [
        Problem(_("not a line"), file=source, row=int(i), field="geometry", rule="roads.line")
        for i in np.flatnonzero(~np.isin(kinds, [1, 5]))[:20]
    ]
    if roads.crs is None:
        problems.append(Problem(_("the road layer has no CRS"), file=source, rule="input.crs"))
    if problems:
        raise InputError(_("{source} cannot be loaded as roads").format(source=source), problems)
    names = roads["name"].astype("string") if "name" in roads.columns else [None] * len(roads)
    with transaction(bind) as conn:
        srid = conn.execute(text("SELECT registry.srid()")).scalar()
        if srid is None:
            raise InputError(_("the registry has no CRS yet: load the county's grids first"))
        geoms = shapely.force_2d(roads.to_crs(epsg=int(srid)).geometry.values)
        conn.execute(text("DELETE FROM registry.road WHERE county_code = :c"), {"c": str(county)})
        conn.execute(
            text(
                "INSERT INTO registry.road (county_code, name, geom) VALUES "
                "(:c, :n, ST_GeomFromWKB(decode(:w, 'hex'), registry.srid()))"
            ),
            [
                {"c": str(county), "n": None if pd.isna(n) else str(n), "w": w}
                for n, w in zip(names, shapely.to_wkb(geoms, hex=True), strict=True)
            ],
        )
    log.info("loaded %d road lines for county %s", len(geoms), county)
    return len(geoms)


def plan_frame(plan: Plan, crs) -> gpd.GeoDataFrame:
    """The plan's grids as a grid layer for :func:`load_grids` (codes only where kept)."""
    keys = list(plan.grids)
    return gpd.GeoDataFrame(
        {
            "grid_code": [plan.grids[k].code for k in keys],
            "grid_name": [plan.grids[k].name for k in keys],
            "grid_type": [plan.grids[k].grid_type for k in keys],
            "community_code": plan.community_code,
        },
        geometry=[plan.geometry(k) for k in keys],
        crs=crs,
    )


def draft_plan(
    bind: Bind,
    session: EditSession,
    plan: Plan,
    *,
    actor: Principal,
    title: str = "",
    reason: str = "",
    source: str = "editor",
) -> LoadResult:
    """Draft ``plan`` as a change set of ``session``'s county (codes and recounts by
    :func:`load_grids`)."""
    frame = plan_frame(plan, session.crs)
    frame.attrs["source"] = source
    return load_grids(
        bind,
        frame,
        county=session.county,
        actor=actor,
        profile=session.profile,
        title=title,
        reason=reason,
    )


def import_package(
    bind: Bind,
    path,
    *,
    actor: Principal,
    tolerance_m: float = 15.0,
    title: str = "",
    reason: str = "",
):
    """Draft an edited package (``gridgeo change export-edit``) as a change set.

    Returns
    -------
    (LoadResult, Snapped)
        The draft and what the package changed (moves, snapped vertex edits).

    Raises
    ------
    InputError
        When an edit cannot be applied (a gap or a cut block, with its area and
        location; an unknown code or block): nothing is drafted.
    """
    from gridgeo.edit.qgis import read_edit_package
    from gridgeo.edit.snap import apply_package

    code, blocks, grids = read_edit_package(path)
    session = community_plan(bind, code)
    if blocks.crs is not None:
        blocks, grids = blocks.to_crs(session.crs), grids.to_crs(session.crs)
    if not _same_blocks(session.plan, blocks):  # exported with roads: cut along them again
        cuts = gpd.GeoDataFrame(geometry=shapely.boundary(blocks.geometry.values), crs=session.crs)
        session = community_plan(bind, code, roads=cuts)
    if not _same_blocks(session.plan, blocks):
        raise InputError(
            _(
                "{path}: its blocks are not the community's (the grids changed since the "
                "export, or blocks were edited); export again with `gridgeo change "
                "export-edit`"
            ).format(path=path),
            [
                Problem(
                    _("blocks differ"), file=str(path), layer="blocks", rule="edit.blocks_changed"
                )
            ],
        )
    snapped = apply_package(session.plan, blocks, grids, tolerance_m=tolerance_m, source=str(path))
    if snapped.problems:
        raise InputError(
            _("{path}: {n} edits cannot be applied").format(path=path, n=len(snapped.problems)),
            snapped.problems,
        )
    result = draft_plan(
        bind, session, snapped.plan, actor=actor, title=title, reason=reason, source=str(path)
    )
    return result, snapped


def _same_blocks(plan: Plan, blocks: gpd.GeoDataFrame) -> bool:
    ordered = blocks.sort_values("block_id")
    if len(ordered) != plan.blocks.n or list(ordered["block_id"]) != list(range(plan.blocks.n)):
        return False
    sym = shapely.area(
        shapely.symmetric_difference(
            np.asarray(ordered.geometry.values, dtype=object), plan.blocks.geoms
        )
    )
    return bool((sym < 1.0).all())


def editable_communities(bind: Bind, county: str | None) -> pd.DataFrame:
    """Communities with current grids (of ``county``, or all): code, name, grids."""
    with transaction(bind) as conn:
        rows = conn.execute(
            text(
                "SELECT d.code, d.name, d.parent_code AS county, count(g.grid_code) AS grids "
                "FROM registry.divisions d JOIN registry.grid g "
                "ON g.community_code = d.code AND g.valid_to IS NULL "
                "WHERE d.level = 'community' AND (CAST(:c AS text) IS NULL OR d.parent_code = :c) "
                "GROUP BY d.code, d.name, d.parent_code ORDER BY d.code"
            ),
            {"c": county},
        ).all()
    return pd.DataFrame(rows, columns=["code", "name", "county", "grids"])


__all__ = [
    "EditSession",
    "community_plan",
    "draft_plan",
    "editable_communities",
    "import_package",
    "load_roads",
    "plan_frame",
]
