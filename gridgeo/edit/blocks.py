"""The blocks of one community: faces of its outline, its grids' borders and roads.

Reuses the partitioner's block stage (:func:`gridgeo.partition.blocks.faces`,
:func:`~gridgeo.partition.blocks.assign_points`, :func:`~gridgeo.partition.blocks.adjacency`):
current grid borders are road centrelines, so cutting the community along them and
along the roads gives road-bounded blocks whose unions rebuild every current grid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import shapely

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.partition.aggregate import Graph
from gridgeo.partition.blocks import adjacency, assign_points, faces

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EditBlocks:
    """Blocks of one community (metric CRS).

    Attributes
    ----------
    geoms
        Block polygons tiling the community.
    households, population
        Households and residents per block (from the household points).
    graph
        Block adjacency (shared border length ≥ 0.5 m).
    """

    geoms: np.ndarray
    households: np.ndarray
    population: np.ndarray
    graph: Graph

    @property
    def n(self) -> int:
        """Number of blocks."""
        return len(self.geoms)

    @cached_property
    def points(self) -> np.ndarray:
        """A point inside each block (where the block's households are counted)."""
        return shapely.point_on_surface(self.geoms)

    @cached_property
    def neighbour_sets(self) -> tuple[frozenset[int], ...]:
        """Adjacent blocks of each block (cached)."""
        return tuple(frozenset(s) for s in self.neighbours())

    def neighbours(self) -> list[set[int]]:
        """Adjacent blocks of each block."""
        out: list[set[int]] = [set() for _ in range(self.n)]
        for a, b in self.graph.edges.tolist():
            out[a].add(b)
            out[b].add(a)
        return out


def community_blocks(
    outline,
    grid_geoms,
    *,
    roads=(),
    points_xy: np.ndarray | None = None,
    households: np.ndarray | None = None,
    population: np.ndarray | None = None,
    min_area_m2: float = 1.0,
) -> tuple[EditBlocks, np.ndarray]:
    """Blocks of a community and the grid each belongs to.

    Parameters
    ----------
    outline
        The community polygon (metres).
    grid_geoms
        The community's current grid polygons (same CRS).
    roads
        Road centrelines to cut blocks along (optional; grid borders always cut).
    points_xy, households, population
        Household points (n × 2) with their weights (default 1 household, 0 residents).
    min_area_m2
        Faces smaller than this (digitising slivers) are merged into a neighbour.

    Returns
    -------
    blocks, owner
        The blocks and, per block, the position of the grid holding it.

    Raises
    ------
    InputError
        When a block lies in no grid (the grids leave a gap in the community).
    """
    grid_geoms = np.asarray(grid_geoms, dtype=object)
    lines = list(shapely.get_parts(shapely.boundary(grid_geoms))) + list(roads)
    polys = faces(outline, lines, snap_m=0.0, extend_m=0.0, snap_boundary_m=0.0)
    polys = polys[shapely.area(polys) >= min_area_m2]
    reps = shapely.point_on_surface(polys)
    tree = shapely.STRtree(grid_geoms)
    bi, gi = tree.query(reps, predicate="within")
    owner = np.full(len(polys), -1, dtype=int)
    owner[bi] = gi
    if (owner < 0).any():
        missing = np.flatnonzero(owner < 0)
        raise InputError(
            _("the grids do not cover the community"),
            [
                Problem(
                    _("block of {area:,.0f} m² at ({x:,.1f}, {y:,.1f}) lies in no grid").format(
                        area=shapely.area(polys[i]), x=reps[i].x, y=reps[i].y
                    ),
                    rule="coverage.gap",
                )
                for i in missing[:20]
            ],
        )
    n = len(polys)
    hh = np.zeros(n)
    pop = np.zeros(n)
    if points_xy is not None and len(points_xy):
        where = assign_points(polys, np.asarray(points_xy, dtype=float))
        w = np.ones(len(where)) if households is None else np.asarray(households, dtype=float)
        np.add.at(hh, where, w)
        if population is not None:
            np.add.at(pop, where, np.asarray(population, dtype=float))
    blocks = EditBlocks(polys, np.rint(hh).astype(int), np.rint(pop).astype(int), adjacency(polys))
    log.info("community cut into %d blocks for %d grids", n, len(grid_geoms))
    return blocks, owner
