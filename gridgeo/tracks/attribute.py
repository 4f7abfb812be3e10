"""Attribute fixes and legs to grids with the in-memory locate index, splitting at borders.

A *leg* is the straight move from fix ``i`` to fix ``i + 1`` of the same piece. Its time
and length go to the grid it runs through; a leg that crosses grid borders is cut at
each crossing (the leg intersected with the grids' boundaries, shapely vectorised) and
each part gets the time the worker, moving evenly, spent on it. Everything is arrays:
no per-track pandas objects, no Python loop per leg.

One compiled pass (:func:`gridgeo.tracks._kernels.classify_legs`) settles almost every
leg without geometry: a leg with both ends in one table cell (or sub-cell) of the locate
index that lies wholly in one grid or outside all, or shorter than its start's distance
to its grid's border, cannot cross a border. Only the remaining few (typically < 1 %)
are cut with GEOS.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import shapely

from gridgeo.locate.index import GridIndex
from gridgeo.tracks import _kernels

log = logging.getLogger(__name__)

__all__ = ["BorderTree", "Legs", "attribute_legs"]


@dataclass
class Legs:
    """Parts of legs, each inside one grid (or outside every grid: ``grid == -1``), in fix
    order (the parts of one leg by ``f0``).

    Attributes
    ----------
    fix
        Index of the fix the leg starts at.
    grid
        Position of the grid in the index (``-1``: outside all grids).
    t0, t1
        Start and end of the part (seconds since the epoch).
    f0, f1
        Start and end of the part as fractions of its leg.
    length
        Length of the part in metres.
    """

    fix: np.ndarray
    grid: np.ndarray
    t0: np.ndarray
    t1: np.ndarray
    f0: np.ndarray
    f1: np.ndarray
    length: np.ndarray

    def __len__(self) -> int:
        return int(self.fix.size)


class BorderTree:
    """The grids' boundaries in an STR-tree, built once per index."""

    def __init__(self, index: GridIndex):
        self.index = index

    @cached_property
    def boundaries(self) -> np.ndarray:
        return shapely.boundary(self.index.geoms)

    @cached_property
    def tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.boundaries)


def attribute_legs(
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    leg_ok: np.ndarray,
    index: GridIndex,
    *,
    borders: BorderTree | None = None,
    point_grid: np.ndarray | None = None,
) -> Legs:
    """Split every counted leg at grid borders and attribute each part to its grid.

    Parameters
    ----------
    x, y
        Fix coordinates in the index's (metric) CRS.
    t
        Fix times, seconds.
    leg_ok
        ``True`` at ``i`` when the leg ``i → i + 1`` is patrol (see
        :meth:`gridgeo.tracks.clean.Cleaned.segment_ok`).
    index
        The locate index of the grids valid that day.
    borders
        The index's :class:`BorderTree` (built when not given; pass it to reuse).
    point_grid
        ``index.locate(x, y)`` if already known.

    Returns
    -------
    Legs
        One part per leg that stays in one grid, several for a leg crossing borders.
    """
    g = index.locate(x, y) if point_grid is None else point_grid
    px = np.ascontiguousarray(x, dtype=np.float64)
    py = np.ascontiguousarray(y, dtype=np.float64)
    pt = np.ascontiguousarray(t, dtype=np.float64)
    length, status = _classify(px, py, np.ascontiguousarray(g), leg_ok, index)
    cut = np.flatnonzero(status == _kernels.CROSSES)
    leg, grid, f0, f1 = _split(cut, px, py, index, borders or BorderTree(index))
    out = Legs(
        *_kernels.assemble_parts(
            status,
            np.ascontiguousarray(g, dtype=np.int32),
            pt,
            length,
            cut[leg],
            grid,
            f0,
            f1,
            length[cut[leg]],
        )
    )
    log.debug("attributed %d leg parts: %d legs cut at borders", len(out), cut.size)
    return out


def _classify(
    x: np.ndarray, y: np.ndarray, g: np.ndarray, leg_ok: np.ndarray, index: GridIndex
) -> tuple[np.ndarray, np.ndarray]:
    """(length, status) per fix's leg: :data:`gridgeo.tracks._kernels.WHOLE` or ``CROSSES``."""
    ok = np.ascontiguousarray(leg_ok, dtype=np.bool_)
    if len(index) == 0:
        length = np.zeros(x.size)
        length[:-1] = np.hypot(np.diff(x), np.diff(y))
        length[~ok] = 0.0
        return length, np.where(ok, _kernels.WHOLE, _kernels.NO_LEG).astype(np.int8)
    tab = index.cell_table()
    return _kernels.classify_legs(
        x,
        y,
        g,
        ok,
        tab.x0,
        tab.y0,
        1.0 / tab.cell_size,
        tab.nx,
        tab.ny,
        tab.subdivisions,
        tab.cells,
        tab.subcells,
        *index.boundary_arrays(),
        *index.border_distance_arrays(),
    )


def _split(
    a: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    index: GridIndex,
    borders: BorderTree,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cut legs ``a → a + 1`` where they meet any grid boundary.

    Returns ``(k, grid, f0, f1)`` per part of leg ``a[k]``, sorted by ``k`` then ``f0``;
    each part's grid is the grid of its middle point (a vertex touched, not crossed,
    leaves one part).
    """
    if a.size == 0:
        z = np.zeros(0)
        return np.zeros(0, np.int64), np.zeros(0, np.int32), z, z
    x0, y0, x1, y1 = x[a], y[a], x[a + 1], y[a + 1]
    dx, dy = x1 - x0, y1 - y0
    lines = shapely.linestrings(np.column_stack([x0, y0, x1, y1]).reshape(-1, 2, 2))
    # candidate grids by bounding box (STR-tree), then exact leg × ring-edge meets (compiled)
    leg_i, grid_i = borders.tree.query(lines)
    owner, frac = _kernels.leg_cuts(
        leg_i.astype(np.int64), grid_i.astype(np.int64), x0, y0, x1, y1, *index.boundary_arrays()
    )
    k = np.arange(a.size)
    cuts_leg = np.concatenate([k, k, owner])
    cuts_f = np.concatenate([np.zeros(a.size), np.ones(a.size), np.clip(frac, 0.0, 1.0)])
    order = np.lexsort((cuts_f, cuts_leg))
    cuts_leg, cuts_f = cuts_leg[order], cuts_f[order]
    same = cuts_leg[1:] == cuts_leg[:-1]
    f0, f1, leg = cuts_f[:-1][same], cuts_f[1:][same], cuts_leg[:-1][same]
    keep = f1 > f0
    f0, f1, leg = f0[keep], f1[keep], leg[keep]
    fm = (f0 + f1) / 2
    grid = index.locate(x0[leg] + fm * dx[leg], y0[leg] + fm * dy[leg])
    # merge neighbouring parts of one leg in the same grid (a vertex touched, not crossed)
    start = np.ones(leg.size, dtype=bool)
    start[1:] = (leg[1:] != leg[:-1]) | (grid[1:] != grid[:-1])
    first = np.flatnonzero(start)
    last = np.r_[first[1:], leg.size] - 1
    return leg[first], grid[first].astype(np.int32), f0[first], f1[last]
