"""Turn an edited package back into a plan: exact block moves, snapped vertex edits.

Two kinds of edits come back from QGIS:

* a block's ``grid_code`` changed — an exact move of that block;
* a grid's outline dragged — each block the edit touched goes to the grid that covers
  it, when everything else of the block lies within ``tolerance_m`` of the block's
  border (a vertex dragged a little off the road). A block left mostly uncovered (a
  gap) or cut deep between grids cannot be snapped: it is reported with its area and
  location and nothing is changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgeo.crs import cached_transformer
from gridgeo.edit.model import Plan
from gridgeo.errors import Problem
from gridgeo.i18n import _

log = logging.getLogger(__name__)


@dataclass
class Snapped:
    """What an edited package changes.

    Attributes
    ----------
    plan
        The plan after the edits (the base plan when there are problems).
    moved
        Block id → (from grid, to grid) for every block that changed grid.
    notes
        Vertex edits snapped onto blocks (what was kept, what was dropped).
    problems
        Edits that could not be applied (unknown codes, gaps, cut blocks), each naming
        the row or the area and location.
    """

    plan: Plan
    moved: dict[int, tuple[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _where(geom, crs) -> str:
    c = shapely.point_on_surface(geom)
    text = f"({c.x:,.1f}, {c.y:,.1f})"
    if crs is not None:
        lon, lat = cached_transformer(crs, 4326).transform(c.x, c.y)
        text += f" ≈ {lon:.6f}°E {lat:.6f}°N"
    return text


def _block_codes(
    plan: Plan, blocks: gpd.GeoDataFrame, source: str
) -> tuple[np.ndarray, list[Problem]]:
    problems: list[Problem] = []
    owner = plan.owner.copy()
    seen = set()
    for row, (bid, code) in enumerate(zip(blocks["block_id"], blocks["grid_code"], strict=True)):
        if bid is None or pd.isna(bid) or not 0 <= int(bid) < plan.blocks.n:
            problems.append(
                Problem(
                    _("unknown block_id {bid!r}").format(bid=bid),
                    file=source,
                    layer="blocks",
                    row=row,
                    field="block_id",
                    rule="edit.block_unknown",
                )
            )
            continue
        seen.add(int(bid))
        if code is None or pd.isna(code) or str(code).strip() == "":
            problems.append(
                Problem(
                    _("block {bid} has no grid_code").format(bid=bid),
                    file=source,
                    layer="blocks",
                    row=row,
                    field="grid_code",
                    rule="edit.grid_code_missing",
                )
            )
        elif str(code) not in plan.grids:
            problems.append(
                Problem(
                    _(
                        "block {bid}: grid_code {code} is not a grid of community {community_code}"
                    ).format(bid=bid, code=code, community_code=plan.community_code),
                    file=source,
                    layer="blocks",
                    row=row,
                    field="grid_code",
                    rule="edit.grid_code_unknown",
                )
            )
        else:
            owner[int(bid)] = str(code)
    for bid in sorted(set(range(plan.blocks.n)) - seen)[:20]:
        geom = plan.blocks.geoms[bid]
        problems.append(
            Problem(
                _(
                    "block {bid} ({area:,.0f} m² at {where}) was deleted; blocks are fixed — "
                    "move it to a grid by its grid_code instead"
                ).format(bid=bid, area=shapely.area(geom), where=_where(geom, blocks.crs)),
                file=source,
                layer="blocks",
                row=bid,
                rule="edit.block_deleted",
            )
        )
    return owner, problems


def apply_package(
    plan: Plan,
    blocks: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
    *,
    tolerance_m: float = 15.0,
    source: str = "",
) -> Snapped:
    """Apply an edited package to ``plan`` (the plan it was exported from).

    Parameters
    ----------
    plan
        The plan as exported (blocks and the grids' current block sets).
    blocks, grids
        The edited ``blocks`` and ``grids`` layers, in the plan's CRS.
    tolerance_m
        How far inside a block a dragged outline may end and still be snapped to the
        block's border.
    source
        The package's file name, for the problems.

    Returns
    -------
    Snapped
    """
    owner, problems = _block_codes(plan, blocks, source)
    crs = blocks.crs
    geoms = plan.blocks.geoms
    exported = {k: plan.geometry(k) for k in plan.grids}
    edited: dict[str, object] = {}
    for row, (code, geom) in enumerate(zip(grids["grid_code"], grids.geometry, strict=True)):
        key = str(code)
        if key not in plan.grids:
            problems.append(
                Problem(
                    _(
                        "grid_code {code} is not a grid of community {community_code}; new grids "
                        "come from splitting (blocks of one grid given a new code are not "
                        "supported)"
                    ).format(code=code, community_code=plan.community_code),
                    file=source,
                    layer="grids",
                    row=row,
                    field="grid_code",
                    rule="edit.grid_code_unknown",
                )
            )
            continue
        geom = shapely.make_valid(geom) if geom is not None else shapely.Polygon()
        if shapely.area(shapely.symmetric_difference(geom, exported[key])) > 1.0:
            edited[key] = geom
    notes: list[str] = []
    if edited:
        current = {k: edited.get(k, shapely.union_all(geoms[owner == k])) for k in plan.grids}
        keys = list(current)
        shapes = np.array([current[k] for k in keys], dtype=object)
        changed_area = shapely.union_all(
            [shapely.symmetric_difference(g, exported[k]) for k, g in edited.items()]
        )
        touched = np.flatnonzero(shapely.area(shapely.intersection(geoms, changed_area)) > 1.0)
        for b in touched.tolist():
            blk = geoms[b]
            parts = shapely.intersection(blk, shapes)
            areas = shapely.area(parts)
            win = int(np.argmax(areas))
            residual = shapely.difference(blk, shapes[win])
            core = shapely.buffer(blk, -tolerance_m)
            deep = shapely.area(shapely.intersection(residual, core))
            if deep < 1.0:
                if owner[b] != keys[win]:
                    notes.append(
                        _("block {b} snapped from {old} to {new} (vertex edit)").format(
                            b=b, old=owner[b], new=keys[win]
                        )
                    )
                    owner[b] = keys[win]
                elif shapely.area(residual) > 1.0:
                    notes.append(
                        _(
                            "block {b} stays in {grid}: {area:,.0f} m² of the edited outline "
                            "snapped back to the block's border"
                        ).format(b=b, grid=keys[win], area=shapely.area(residual))
                    )
                continue
            uncovered = shapely.difference(blk, shapely.union_all(shapes))
            if shapely.area(shapely.intersection(uncovered, core)) >= 1.0:
                problems.append(
                    Problem(
                        _(
                            "gap of {area:,.0f} m² at {where} (block {b}, {area2:,.0f} m²) is "
                            "covered by no grid; more than {tolerance_m:g} m inside the block, so it "
                            "cannot be snapped"
                        ).format(
                            area=shapely.area(uncovered),
                            where=_where(uncovered, crs),
                            b=b,
                            area2=shapely.area(blk),
                            tolerance_m=tolerance_m,
                        ),
                        file=source,
                        layer="grids",
                        row=b,
                        rule="edit.gap",
                    )
                )
            else:
                shares = ", ".join(
                    f"{keys[i]} {areas[i]:,.0f} m²" for i in np.argsort(-areas) if areas[i] > 1.0
                )
                problems.append(
                    Problem(
                        _(
                            "block {b} ({area:,.0f} m² at {where}) is cut between grids ({shares}) "
                            "more than {tolerance_m:g} m inside; move the whole block by its "
                            "grid_code"
                        ).format(
                            b=b,
                            area=shapely.area(blk),
                            where=_where(blk, crs),
                            shares=shares,
                            tolerance_m=tolerance_m,
                        ),
                        file=source,
                        layer="grids",
                        row=b,
                        rule="edit.block_cut",
                    )
                )
    if problems:
        return Snapped(plan, {}, notes, problems)
    moved = {
        int(b): (str(plan.owner[b]), str(owner[b])) for b in np.flatnonzero(owner != plan.owner)
    }
    emptied = {k for k in plan.grids if not (owner == k).any()}
    grids_left = {k: v for k, v in plan.grids.items() if k not in emptied}
    touched_keys = sorted({k for pair in moved.values() for k in pair} - emptied)
    new_plan = Plan(plan.community_code, plan.blocks, owner, grids_left, tuple(touched_keys))
    log.info("edited package: %d blocks moved, %d snapped notes", len(moved), len(notes))
    return Snapped(new_plan, moved, notes, [])
