"""Attribute fixes and legs to grids with the in-memory locate index, splitting at borders.

A *leg* is the straight move from fix ``i`` to fix ``i + 1`` of the same piece. Its time
and length go to the grid it runs through; a leg that crosses grid borders is cut at
each crossing (the leg intersected with the grids' boundaries, shapely vectorised) and
each part gets the time the worker, moving evenly, spent on it. Everything is arrays:
no per-track pandas objects.
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
    """Parts of legs, each inside one grid (or outside every grid: ``grid == -1``).

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
    a = np.flatnonzero(leg_ok)
    ga = g[a]
    # A leg within one coarse cell of the index that lies wholly in one grid or wholly
    # outside every grid cannot cross a border (cells are convex).
    length, stays = _leg_pass(x, y, a, index)
    inside = ~stays & (ga == g[a + 1]) & (ga >= 0)
    if inside.any():
        bd = index.border_distance(x[a[inside]], y[a[inside]], ga[inside])
        stays[inside] = length[inside] < bd
    whole = _parts(
        a[stays], ga[stays], t, length[stays], np.zeros(stays.sum()), np.ones(stays.sum())
    )
    cut = ~stays & (length > 0)
    still = ~stays & (length == 0)  # no move: the fix's own grid
    standing = _parts(
        a[still], ga[still], t, length[still], np.zeros(still.sum()), np.ones(still.sum())
    )
    crossing = _split(a[cut], x, y, t, index, borders or BorderTree(index))
    out = _concat([whole, standing, crossing])
    log.debug("attributed %d legs: %d split at borders", a.size, int(cut.sum()))
    return out


def _leg_pass(
    x: np.ndarray, y: np.ndarray, a: np.ndarray, index: GridIndex
) -> tuple[np.ndarray, np.ndarray]:
    """(length, both ends in one coarse cell that is one grid's or no grid's) per leg."""
    if len(index) == 0:
        b = a + 1
        return np.hypot(x[b] - x[a], y[b] - y[a]), np.ones(a.size, dtype=bool)
    return _kernels.leg_pass(
        np.ascontiguousarray(x, dtype=np.float64),
        np.ascontiguousarray(y, dtype=np.float64),
        a.astype(np.int64),
        float(index._x0),
        float(index._y0),
        1.0 / index.cell_size,
        int(index._nx),
        int(index._ny),
        index._table0,
    )


def _parts(
    fix: np.ndarray,
    grid: np.ndarray,
    t: np.ndarray,
    leg_len: np.ndarray,
    f0: np.ndarray,
    f1: np.ndarray,
) -> Legs:
    dt = t[fix + 1] - t[fix]
    return Legs(
        fix.astype(np.int64),
        grid.astype(np.int32),
        t[fix] + f0 * dt,
        t[fix] + f1 * dt,
        f0,
        f1,
        (f1 - f0) * leg_len,
    )


def _split(
    a: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    index: GridIndex,
    borders: BorderTree,
) -> Legs:
    """Cut legs ``a → a + 1`` where they cross any grid boundary."""
    if a.size == 0:
        return _parts(a, a.astype(np.int32), t, np.zeros(0), np.zeros(0), np.zeros(0))
    x0, y0, x1, y1 = x[a], y[a], x[a + 1], y[a + 1]
    dx, dy = x1 - x0, y1 - y0
    l2 = dx * dx + dy * dy
    lines = shapely.linestrings(np.column_stack([x0, y0, x1, y1]).reshape(-1, 2, 2))
    leg_i, bnd_i = borders.tree.query(lines, predicate="intersects")
    hits = shapely.intersection(lines[leg_i], borders.boundaries[bnd_i])
    pxy, which = shapely.get_coordinates(hits, return_index=True)
    owner = leg_i[which]
    frac = ((pxy[:, 0] - x0[owner]) * dx[owner] + (pxy[:, 1] - y0[owner]) * dy[owner]) / l2[owner]
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
    leg, grid, f0, f1 = leg[first], grid[first], f0[first], f1[last]
    return _parts(a[leg], grid, t, np.sqrt(l2[leg]), f0, f1)


def _concat(parts: list[Legs]) -> Legs:
    """Parts of all legs (not sorted: sums do not need an order; sort by ``fix`` to draw)."""
    fields = ("fix", "grid", "t0", "t1", "f0", "f1", "length")
    return Legs(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))
