"""An in-memory index that says which grid covers each point, fast and exactly.

How it works
------------
A regular table of square *cells* spans the grids' extent. Each cell is classified
once when the index is built:

* **inside one grid** – no grid edge comes within ``eps`` of the cell and its
  centre lies in exactly one grid: every point of the cell gets that grid at once;
* **outside** – no grid covers any part of it;
* **mixed** – edges pass near it: the cell is split into ``k × k`` sub-cells,
  which are classified the same way; a sub-cell that is still crossed by edges
  (a *border* sub-cell) keeps the short list of grids that may cover it.

A point is answered by one or two table look-ups; only points in border sub-cells
(a few per cent of an area) run the exact test against their few candidate grids.
Large queries run in two compiled, multi-threaded passes (numba): the table pass over
all points, then the exact tests over the border points only, copied contiguously and
grouped by sub-cell so that neighbouring tests find their polygons in the CPU cache.
Small queries (a single ``/locate``) run one pass on one thread.

Exactness and the tie rule
--------------------------
The exact test is PostGIS's own ``ST_Covers(polygon, point)`` algorithm (the
winding number of ``point_in_multipolygon_rtree`` with its ``side == 0.0``
boundary test) evaluated with the same IEEE double operations, so a point on an
edge, on a vertex or within rounding distance of an edge gets the answer PostGIS
gives on the same coordinates. Cells are classified with a safety margin ``eps``
far above rounding error, so the table never answers for a point the exact test
would decide differently.

**Tie rule.** A point covered by several grids — on a shared border, on a shared
vertex, or in an overlap — belongs to the grid with the *smallest* ``grid_code``
(plain code-point order, i.e. ``ORDER BY grid_code COLLATE "C"``) among those whose
``ST_Covers(geom, point)`` is true. A point covered by none has no grid (-1).
The PostGIS equivalent is::

    SELECT DISTINCT ON (p.id) p.id, g.grid_code
      FROM points p JOIN grids g ON ST_Covers(g.geom, p.geom)
     ORDER BY p.id, g.grid_code COLLATE "C";
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.locate import _kernels as kern

log = logging.getLogger(__name__)

__all__ = ["TIE_RULE", "CellTable", "GridIndex", "Located"]

TIE_RULE = (
    "a point covered by several grids (shared border, shared vertex, overlap) belongs to the "
    "grid with the smallest grid_code among those whose ST_Covers(geom, point) is true"
)

_SEG_PER_BAND = 4
# Up to this many edges, a grid's border distance loops over all its edges (one
# contiguous run of memory, a loop the CPU predicts): the candidate look-up costs more
# (measured: 16 edges per grid 0.044 s per 1 M points over all, 0.063 s by candidates;
# 40 edges 0.113 s and 0.076 s).
_FEW_EDGES = 24
# below this many points the kernels run on one thread (thread start-up costs more)
_PARALLEL_FROM = 20_000
# Multi-threaded kernels already use every core; run one at a time (numba's fallback
# "workqueue" threading layer must not be entered from two threads at once).
_PARALLEL_LOCK = threading.Lock()


@dataclass(frozen=True, eq=False)
class CellTable:
    """The index's lookup tables, read-only, for compiled callers (see :meth:`GridIndex.cell_table`).

    Coarse cell ``(i, j)`` (column ``i = floor((x - x0) / cell_size)``, row ``j``) has
    ``cells[j * nx + i]``: a grid position (``>= 0``: the whole cell is in that grid),
    ``-1`` (no grid touches it) or ``<= -2`` (mixed: ``-(v + 2)`` is its block in
    ``subcells``). A mixed cell's ``k × k`` sub-cells (``k = subdivisions``) sit at
    ``subcells[block * k * k + sj * k + si]`` with the same meaning, except that
    ``<= -2`` there marks a border sub-cell whose answer needs the exact test.

    Attributes
    ----------
    x0, y0
        Lower-left corner of cell ``(0, 0)``.
    cell_size
        Side of a coarse cell.
    nx, ny
        Columns and rows of coarse cells.
    subdivisions
        ``k``: sub-cells per side of a mixed cell.
    cells, subcells
        The coarse table (``nx * ny`` ``int32``) and the sub-cell blocks (read-only views).
    """

    x0: float
    y0: float
    cell_size: float
    nx: int
    ny: int
    subdivisions: int
    cells: np.ndarray
    subcells: np.ndarray


@dataclass(frozen=True, eq=False)
class Located:
    """Where many points lie, as :meth:`GridIndex.locate_fill` leaves it (Arrow-ready buffers).

    Attributes
    ----------
    n
        Number of points.
    inside
        How many of them lie in a grid.
    grid
        Grid position per point (``int16`` or ``int32`` as asked; 0 where none).
    valid
        Arrow validity bitmap (LSB first): bit ``i`` set when point ``i`` lies in a grid.
    distance
        Distance to the border of the point's grid rounded to the millimetre
        (``numpy.round(d, 3)``); 0 where none or not asked for.
    near
        Arrow bitmap of ``d <= near_border_m`` (unrounded ``d``; 0 where none).
    """

    n: int
    inside: int
    grid: np.ndarray
    valid: np.ndarray
    distance: np.ndarray
    near: np.ndarray

    def hit(self) -> np.ndarray:
        """Whether each point lies in a grid (``bool`` per point)."""
        return np.unpackbits(self.valid, count=self.n, bitorder="little").view(np.bool_)

    def positions(self) -> np.ndarray:
        """Grid position per point, ``-1`` where none (``int32``, as :meth:`GridIndex.locate`)."""
        return np.where(self.hit(), self.grid, -1).astype(np.int32)


@dataclass(frozen=True, eq=False)
class GridIndex:
    """Which grid covers a point: a frozen snapshot of grid polygons.

    Build it with :meth:`GridIndex.build`; query with :meth:`locate`. Grid ``i`` of the
    index is ``codes[i]``; codes are sorted ascending, so the smallest index among the
    covering grids is the smallest code (the tie rule).

    Attributes
    ----------
    codes
        Grid codes, ascending (object array of str).
    geoms
        The grid polygons (shapely), aligned with ``codes``.
    order
        Position of each grid in the input passed to :meth:`build` (``codes ==
        input_codes[order]``).
    """

    codes: np.ndarray
    geoms: np.ndarray
    order: np.ndarray
    cell_size: float
    subdivisions: int
    eps: float
    _x0: float
    _y0: float
    _nx: int
    _ny: int
    _table0: np.ndarray = field(repr=False)
    _table1: np.ndarray = field(repr=False)
    _border_ptr: np.ndarray = field(repr=False)
    _border_idx: np.ndarray = field(repr=False)
    _geo: tuple = field(repr=False)
    _bands: tuple = field(repr=False)
    _edges: tuple = field(repr=False, default=())
    _packed: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 5)))
    _dist: tuple = field(repr=False, default=())
    _fields: tuple = field(repr=False, default=(np.zeros(0), 0))

    # -- construction ------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        codes: Sequence[str] | np.ndarray,
        geoms: Sequence[Any] | np.ndarray,
        *,
        cell_size: float | None = None,
        subdivisions: int = 8,
        cells_per_grid: float = 4.0,
        max_cells: int = 4_000_000,
        few_edges: int = _FEW_EDGES,
        distance_subdivisions: int | None = None,
    ) -> GridIndex:
        """Build the index from grid codes and polygons (one projected CRS, metres).

        Parameters
        ----------
        codes
            Unique grid codes.
        geoms
            Polygon or MultiPolygon per code (shapely geometries or WKB bytes).
        cell_size
            Side of the coarse cells in CRS units; default: chosen so that an average
            grid spans about ``cells_per_grid`` coarse cells.
        subdivisions
            ``k``: mixed coarse cells are split into ``k × k`` sub-cells.
        cells_per_grid, max_cells
            Control the default cell size and cap the coarse table's size.
        few_edges, distance_subdivisions
            The distance to the border of a grid with at most ``few_edges`` edges is
            measured over all of them. For the others, each coarse cell where they lie is
            split into ``kd × kd`` *distance cells* (``kd = distance_subdivisions``,
            default: about one per mean edge length, at most 16; fewer where the candidate
            edge ids would outnumber 16 per edge of those grids), each listing per grid
            the edges that can be nearest to one of its points.

        Returns
        -------
        GridIndex

        Raises
        ------
        InputError
            Listing every missing, empty, non-polygonal or invalid geometry, and
            duplicate or empty codes.
        """
        codes_arr = np.asarray([str(c) if c is not None else "" for c in codes], dtype=object)
        geoms_arr = np.asarray(list(geoms), dtype=object)
        if geoms_arr.size and isinstance(geoms_arr[0], bytes | bytearray | memoryview):
            geoms_arr = shapely.from_wkb(geoms_arr)
        if codes_arr.size != geoms_arr.size:
            raise InputError(
                _("{codes} codes but {geometries} geometries").format(
                    codes=codes_arr.size, geometries=geoms_arr.size
                ),
                [Problem(_("codes and geometries differ in length"), rule="locate.length")],
            )
        _check_grids(codes_arr, geoms_arr)
        order = np.argsort(codes_arr.astype(str), kind="stable")
        codes_arr = codes_arr[order]
        geoms_arr = geoms_arr[order]
        n = codes_arr.size
        if n == 0:
            return cls._empty()

        multi = np.array(
            [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in geoms_arr],
            dtype=object,
        )
        _gt, coords, (ring_off, part_off, geom_off) = shapely.to_ragged_array(multi)
        xs = np.ascontiguousarray(coords[:, 0], dtype=np.float64)
        ys = np.ascontiguousarray(coords[:, 1], dtype=np.float64)
        ring_off = ring_off.astype(np.int64)
        part_off = part_off.astype(np.int64)
        geom_off = geom_off.astype(np.int64)
        bands = kern.build_bands(xs, ys, ring_off, _SEG_PER_BAND)
        geo = (xs, ys, ring_off, part_off, geom_off)

        # segments per grid (for sizing per-cell buffers)
        ring_nseg = np.diff(ring_off) - 1
        part_nseg = np.add.reduceat(ring_nseg, part_off[:-1]) if ring_nseg.size else ring_nseg
        geom_nseg = np.add.reduceat(part_nseg, geom_off[:-1]).astype(np.int64)

        bounds = shapely.bounds(geoms_arr)
        minx, miny = bounds[:, 0].min(), bounds[:, 1].min()
        maxx, maxy = bounds[:, 2].max(), bounds[:, 3].max()
        span = max(maxx - minx, maxy - miny, 1e-9)
        if cell_size is None:
            mean_area = float(np.mean(shapely.area(geoms_arr)))
            cell_size = math.sqrt(max(mean_area, 1e-18) / cells_per_grid)
        cell_size = float(cell_size)
        width, height = maxx - minx, maxy - miny
        while (math.floor(width / cell_size) + 2) * (
            math.floor(height / cell_size) + 2
        ) > max_cells:
            cell_size *= 1.25
        # Safety margin: far above the rounding error of coordinates of this size, far
        # below the cell size.
        scale = max(abs(minx), abs(miny), abs(maxx), abs(maxy), span)
        eps = max(cell_size / subdivisions * 1e-4, scale * 1e-12)
        x0 = minx - 2 * eps
        y0 = miny - 2 * eps
        nx = int(math.floor((maxx + 2 * eps - x0) / cell_size)) + 1
        ny = int(math.floor((maxy + 2 * eps - y0) / cell_size)) + 1

        # candidate grids per coarse cell: those whose bounding box meets it
        gx0 = np.clip(np.floor((bounds[:, 0] - eps - x0) / cell_size), 0, nx - 1).astype(np.int64)
        gx1 = np.clip(np.floor((bounds[:, 2] + eps - x0) / cell_size), 0, nx - 1).astype(np.int64)
        gy0 = np.clip(np.floor((bounds[:, 1] - eps - y0) / cell_size), 0, ny - 1).astype(np.int64)
        gy1 = np.clip(np.floor((bounds[:, 3] + eps - y0) / cell_size), 0, ny - 1).astype(np.int64)
        cell_of, grid_of = _bbox_cells(gx0, gx1, gy0, gy1, nx)
        sort = np.lexsort((grid_of, cell_of))
        cell_of, grid_of = cell_of[sort], grid_of[sort]
        cell_ids, starts = np.unique(cell_of, return_index=True)
        cand_ptr = np.append(starts, cell_of.size).astype(np.int64)
        cand_idx = grid_of.astype(np.int64)

        k = int(subdivisions)
        with _PARALLEL_LOCK:
            label = kern.classify_cells(
                x0, y0, cell_size, nx, eps, cell_ids, cand_ptr, cand_idx, geom_nseg, *geo, *bands
            )
        table0 = np.full(nx * ny, kern.OUTSIDE, dtype=np.int32)
        mixed_rows = np.flatnonzero(label == kern._MIXED).astype(np.int64)
        table0[cell_ids] = label
        table0[cell_ids[mixed_rows]] = (-2 - np.arange(mixed_rows.size)).astype(np.int32)
        with _PARALLEL_LOCK:
            sub_label, sub_count = kern.classify_subcells(
                x0,
                y0,
                cell_size,
                nx,
                k,
                eps,
                cell_ids,
                cand_ptr,
                cand_idx,
                geom_nseg,
                mixed_rows,
                *geo,
                *bands,
            )
        is_border = sub_label == kern._MIXED
        border_counts = np.where(is_border, sub_count, 0).astype(np.int64)
        nborder = int(is_border.sum())
        table1 = sub_label.ravel().copy()
        table1[is_border.ravel()] = (-2 - np.arange(nborder)).astype(np.int32)
        border_ptr = np.zeros(nborder + 1, dtype=np.int64)
        border_ptr[1:] = np.cumsum(border_counts.ravel()[is_border.ravel()])
        block_start = np.concatenate([[0], np.cumsum(border_counts.sum(axis=1))])[:-1]
        border_idx = np.empty(int(border_ptr[-1]), dtype=np.int64)
        with _PARALLEL_LOCK:
            kern.fill_border_candidates(
                x0,
                y0,
                cell_size,
                nx,
                k,
                eps,
                cell_ids,
                cand_ptr,
                cand_idx,
                geom_nseg,
                mixed_rows,
                sub_label,
                block_start.astype(np.int64),
                *geo,
                *bands,
                border_idx,
            )
        edges = kern.border_edges(*geo)
        packed = kern.pack_edges(*edges[1:])
        dist = _distance_cells(
            (table0, table1, border_ptr, border_idx),
            (x0, y0, cell_size, nx, k),
            edges[0],
            packed,
            int(few_edges),
            distance_subdivisions,
            4.0 * eps,
        )
        index = cls(
            codes=codes_arr,
            geoms=geoms_arr,
            order=order,
            cell_size=cell_size,
            subdivisions=k,
            eps=eps,
            _x0=float(x0),
            _y0=float(y0),
            _nx=nx,
            _ny=ny,
            _table0=table0,
            _table1=table1,
            _border_ptr=border_ptr,
            _border_idx=border_idx.astype(np.int32),
            _geo=geo,
            _bands=bands,
            _edges=edges,
            _packed=packed,
            _dist=dist,
            _fields=(kern.field_edges(edges[0], packed), int(kern.most_edges(edges[0]))),
        )
        log.info(
            "built locate index: %d grids, %d×%d cells of %.1f, %d mixed, %d border sub-cells",
            n,
            nx,
            ny,
            cell_size,
            mixed_rows.size,
            nborder,
        )
        return index

    @classmethod
    def _empty(cls) -> GridIndex:
        z = np.zeros(0, np.int64)
        geo = (
            np.zeros(0),
            np.zeros(0),
            np.zeros(1, np.int64),
            np.zeros(1, np.int64),
            np.zeros(1, np.int64),
        )
        bands = (z, z, np.zeros(0), np.zeros(0), np.zeros(1, np.int64), z)
        return cls(
            codes=np.zeros(0, dtype=object),
            geoms=np.zeros(0, dtype=object),
            order=z,
            cell_size=1.0,
            subdivisions=1,
            eps=0.0,
            _x0=0.0,
            _y0=0.0,
            _nx=1,
            _ny=1,
            _table0=np.full(1, kern.OUTSIDE, np.int32),
            _table1=np.zeros(0, np.int32),
            _border_ptr=np.zeros(1, np.int64),
            _border_idx=np.zeros(0, np.int32),
            _geo=geo,
            _bands=bands,
            _edges=kern.border_edges(*geo),
            _packed=np.zeros((0, 5)),
            _fields=(np.zeros(0), 0),
            _dist=(
                _FEW_EDGES,
                1,
                np.full(1, -1, np.int32),
                np.zeros(1, np.int32),
                np.zeros(0, np.int32),
                np.zeros(1, np.int32),
                np.zeros(0, np.int32),
            ),
        )

    # -- queries -------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.codes.size)

    def locate(self, x: Any, y: Any) -> np.ndarray:
        """Index of the covering grid per point (``-1`` when none; NaN coordinates give -1).

        Parameters
        ----------
        x, y
            Coordinates in the index's CRS (array-likes of equal length).

        Returns
        -------
        numpy.ndarray
            ``int32`` grid positions into :attr:`codes`, ``-1`` outside every grid.
        """
        px = np.ascontiguousarray(x, dtype=np.float64).reshape(-1)
        py = np.ascontiguousarray(y, dtype=np.float64).reshape(-1)
        if px.size != py.size:
            raise ValueError(f"x has {px.size} values but y has {py.size}")
        if px.size < _PARALLEL_FROM:
            return kern.locate_points_serial(px, py, *self._table_args(), *self._exact_args())
        with _PARALLEL_LOCK:
            out = kern.lookup_points(px, py, *self._table_args())
            border = np.flatnonzero(out <= -2)
            if border.size:
                # Exact tests on contiguous copies, grouped by sub-cell (border ids follow
                # space), so neighbouring tests find their polygons in cache; a 16-bit key
                # sorts in linear time.
                sub = -(out[border] + 2)
                shift = max(0, int(self._border_ptr.size - 1).bit_length() - 16)
                order = np.argsort((sub >> shift).astype(np.uint16), kind="stable")
                border, sub = border[order], sub[order]
                out[border] = kern.resolve_border(px[border], py[border], sub, *self._exact_args())
        return out

    def locate_fill(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        distance: bool = True,
        near: float = 0.0,
        dtype: Any = np.int32,
    ) -> Located:
        """Grid, distance to its border and Arrow bitmaps of many points in one compiled pass.

        The same answers as :meth:`locate` and :meth:`border_distance` (each point: table
        look-up, exact test when on a border sub-cell, distance to its grid's edges),
        without an intermediate array between them. From 20,000 points on, the points are
        taken in cell order (neighbours find their tables and edges in cache); on the main
        thread on all cores, in a worker thread (a caller that runs chunks side by side,
        as the service does) on that thread alone, without the GIL.

        Parameters
        ----------
        x, y
            Coordinates in the index's CRS (float64, equal length).
        distance
            Compute the distance and the near-border bits (else left 0).
        near
            Tolerance of the near-border bit.
        dtype
            Type of the grid positions written (``numpy.int16`` when there are fewer than
            32,768 grids: half the bytes).

        Returns
        -------
        Located
        """
        px = np.ascontiguousarray(x, dtype=np.float64).reshape(-1)
        py = np.ascontiguousarray(y, dtype=np.float64).reshape(-1)
        if px.size != py.size:
            raise ValueError(f"x has {px.size} values but y has {py.size}")
        n = px.size
        grid = np.empty(n, dtype=dtype)
        flag = np.empty(n, np.uint8)
        dist = np.empty(n, np.float64)
        nbytes = (n + 7) // 8
        valid = np.empty(nbytes, np.uint8)
        near_bits = np.empty(nbytes, np.uint8)
        args = (
            *self._table_args(),
            *self._exact_args(),
            *self._distance_args(),
            self._fields,
            bool(distance),
            float(near),
            grid,
            flag,
            dist,
        )
        if n < _PARALLEL_FROM:
            # input order
            kern.locate_fill_sorted(np.arange(n, dtype=np.int32), px, py, *args)
            inside = kern.pack_flags_serial(flag, valid, near_bits)
        else:
            # cell order, the coordinates copied in that order while sorting
            perm, sx, sy = self._cell_order(px, py, copy=True)
            args = (sx, sy, *args)
            if threading.current_thread() is threading.main_thread():
                with _PARALLEL_LOCK:
                    kern.locate_fill(perm, *args)
                    inside = kern.pack_flags(flag, valid, near_bits)
            else:
                # a worker thread: its caller runs batches side by side already (the
                # service locates two chunks at once); one thread each, GIL released
                kern.locate_fill_sorted(perm, *args)
                inside = kern.pack_flags_serial(flag, valid, near_bits)
        return Located(n, int(inside), grid, valid, dist, near_bits)

    def _cell_order(self, px: np.ndarray, py: np.ndarray, *, copy: bool = False) -> Any:
        """Point order by coarse cell (``_kernels.cell_order``; few buckets for few points);
        with ``copy``, ``(order, x, y)``: the coordinates in that order too
        (``_kernels.cell_sort``)."""
        shift = max(0, (self._nx * self._ny // max(px.size // 4, 1)).bit_length() - 1)
        sort = kern.cell_sort if copy else kern.cell_order
        return sort(px, py, self._x0, self._y0, 1.0 / self.cell_size, self._nx, self._ny, shift)

    def cell_table(self) -> CellTable:
        """The lookup tables, read-only, for compiled kernels outside this module.

        Returns
        -------
        CellTable
            Cell origin, size, shape and the two tables (views that cannot be written).
        """
        cells = self._table0.view()
        subcells = self._table1.view()
        cells.flags.writeable = False
        subcells.flags.writeable = False
        return CellTable(
            float(self._x0),
            float(self._y0),
            float(self.cell_size),
            int(self._nx),
            int(self._ny),
            int(self.subdivisions),
            cells,
            subcells,
        )

    def boundary_arrays(self) -> tuple[np.ndarray, ...]:
        """The grids' rings as flat arrays ``(xs, ys, ring_off, part_off, geom_off)``.

        Grid ``g``'s parts are ``geom_off[g]:geom_off[g + 1]``, part ``p``'s rings
        ``part_off[p]:part_off[p + 1]``, ring ``r``'s closed vertex list
        ``xs[ring_off[r]:ring_off[r + 1]]`` (and ``ys``). Read-only views, for compiled
        callers (e.g. distance to a grid's border).
        """
        return _read_only(self._geo)

    def border_edge_arrays(self) -> tuple[np.ndarray, ...]:
        """Every grid's boundary edges ``(edge_off, ax, ay, dx, dy, inv)``, read-only views.

        Grid ``g``'s edges are ``edge_off[g]:edge_off[g + 1]``: start ``ax, ay``, direction
        ``dx, dy`` and ``1 / |d|²`` (0 for a zero-length edge), for compiled callers that
        need the distance to a grid's border (``_kernels._edge_distance``).
        """
        return _read_only(self._edges)

    def _table_args(self) -> tuple:
        return (
            self._x0,
            self._y0,
            1.0 / self.cell_size,
            self._nx,
            self._ny,
            self.subdivisions,
            self._table0,
            self._table1,
        )

    def _exact_args(self) -> tuple:
        return (self._border_ptr, self._border_idx, *self._geo, *self._bands)

    def _distance_args(self) -> tuple:
        return (self._edges[0], self._packed, self._dist)

    def border_distance_arrays(self) -> tuple:
        """The border distance's arrays ``(edge_off, edges, (few, kd, dblock, dptr, dgrid,
        eptr, eidx))`` (read-only views; ``few`` and ``kd`` ints), for compiled callers of
        ``_kernels._near_distance`` (with the :meth:`cell_table` origin and shape).

        ``edges`` has one row ``(ax, ay, dx, dy, 1/|d|²)`` per edge, grid ``g``'s rows
        being ``edge_off[g]:edge_off[g + 1]``; the rest lists per distance cell and grid
        the candidate edges (see ``_kernels``: candidate edges per distance cell).
        """
        edge_off, packed = _read_only((self._edges[0], self._packed))
        return (edge_off, packed, (*self._dist[:2], *_read_only(self._dist[2:])))

    def locate_one(self, x: float, y: float) -> tuple[int, float]:
        """Grid position and distance to its border of one point, in one compiled call.

        Parameters
        ----------
        x, y
            Coordinates in the index's CRS.

        Returns
        -------
        tuple[int, float]
            ``(grid, distance)`` as :meth:`locate` and :meth:`border_distance` give them
            (``(-1, 0.0)`` outside every grid); the distance is not rounded.
        """
        g, d = kern.locate_one(
            float(x), float(y), *self._table_args(), *self._exact_args(), *self._distance_args()
        )
        return int(g), float(d)

    def locate_codes(self, x: Any, y: Any) -> np.ndarray:
        """Grid code per point (``None`` outside every grid)."""
        idx = self.locate(x, y)
        out = np.full(idx.size, None, dtype=object)
        hit = idx >= 0
        out[hit] = self.codes[idx[hit]]
        return out

    def covers(self, x: Any, y: Any, grid: Any) -> np.ndarray:
        """``ST_Covers(geoms[grid], point)`` per pair, by the exact test alone (no table)."""
        px = np.ascontiguousarray(x, dtype=np.float64).reshape(-1)
        py = np.ascontiguousarray(y, dtype=np.float64).reshape(-1)
        g = np.ascontiguousarray(grid, dtype=np.int64).reshape(-1)
        with _PARALLEL_LOCK:
            return kern.covers_pairs(px, py, g, *self._geo, *self._bands)

    def border_distance(self, x: Any, y: Any, grid: Any) -> np.ndarray:
        """Distance from each point to the boundary of grid ``grid[i]`` (NaN where grid < 0).

        From 20,000 points on, the points are taken in cell order, on all cores."""
        px = np.ascontiguousarray(x, dtype=np.float64).reshape(-1)
        py = np.ascontiguousarray(y, dtype=np.float64).reshape(-1)
        g = np.ascontiguousarray(grid, dtype=np.int64).reshape(-1)
        args = (
            px,
            py,
            g,
            self._x0,
            self._y0,
            1.0 / self.cell_size,
            self._nx,
            self._ny,
            *self._distance_args(),
        )
        if px.size >= _PARALLEL_FROM:
            perm = self._cell_order(px, py)
            with _PARALLEL_LOCK:
                return kern.border_distance(perm, *args)
        return kern.border_distance_serial(*args)

    def stats(self) -> dict[str, float]:
        """Table sizes: coarse cells, mixed cells, border sub-cells and their share of area."""
        mixed = int((self._table0 <= -2).sum())
        nborder = int(self._border_ptr.size - 1)
        kk = self.subdivisions**2
        inside = int((self._table0 >= 0).sum())
        return {
            "grids": len(self),
            "cells": int(self._table0.size),
            "cell_size": self.cell_size,
            "inside_cells": inside,
            "mixed_cells": mixed,
            "border_subcells": nborder,
            "border_share_of_covered": nborder / kk / max(inside + mixed, 1),
            "mean_candidates": float(np.diff(self._border_ptr).mean()) if nborder else 0.0,
            "distance_subdivisions": int(self._dist[1]),
            "distance_cells": int(self._dist[3].size - 1),
            "distance_entries": int(self._dist[4].size),
            "distance_edge_ids": int(self._dist[6].size),
            "mean_distance_edges": float(self._dist[6].size / max(self._dist[4].size, 1)),
            "distance_bytes": int(sum(a.nbytes for a in self._dist[2:])),
        }


def _distance_cells(
    tables: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    frame: tuple[float, float, float, int, int],
    edge_off: np.ndarray,
    packed: np.ndarray,
    few: int,
    kd: int | None,
    margin: float,
    ids_per_edge: float = 16.0,
) -> tuple:
    """Candidate edges per distance cell of the grids with more than ``few`` edges.

    ``tables`` is ``(table0, table1, border_ptr, border_idx)``, ``frame`` ``(x0, y0,
    cell_size, nx, k)``. First the coarse cells' candidates (over all the grid's edges),
    then each cell split in four (its candidates found among its parent's) up to ``kd``,
    or before the candidate ids outnumber ``ids_per_edge`` times those grids' edges.
    ``kd`` by default: about one distance cell per mean edge length of those grids, at
    most 16.

    Returns ``(few, kd, dblock, dptr, dgrid, eptr, eidx)`` (see ``_kernels``: candidate
    edges per distance cell).
    """
    table0, table1, border_ptr, border_idx = tables
    x0, y0, c0, nx, k = frame
    nedges = np.diff(edge_off)
    many = nedges > few
    dblock = np.full(table0.size, -1, np.int32)
    z = np.zeros(0, np.int32)
    if not many.any():
        return few, 1, dblock, np.zeros(1, np.int32), z, np.zeros(1, np.int32), z
    dcells = np.flatnonzero(table0 != kern.OUTSIDE).astype(np.int64)
    most = int(np.diff(border_ptr).max()) if border_ptr.size > 1 else 1
    maxg = int(min(edge_off.size - 1, (k + 1) ** 2 * max(most, 1)))
    gframe = (float(x0), float(y0), float(c0), float(nx))
    none = np.zeros(0, np.int64)
    args = (table0, table1, border_ptr, border_idx, edge_off, few)

    def level(cells, kdd, src, budget):
        with _PARALLEL_LOCK:
            counts = kern.dist_cell_counts(cells, kdd, k, maxg, *args)
        dptr = np.zeros(counts.size + 1, np.int64)
        np.cumsum(counts, out=dptr[1:])
        with _PARALLEL_LOCK:
            dgrid, count, bound = kern.dist_cell_entries(
                cells, kdd, k, maxg, gframe, margin, *args, packed, dptr, *src
            )
        eptr = np.zeros(count.size + 1, np.int64)
        np.cumsum(count, out=eptr[1:])
        if eptr[-1] > budget:
            return None
        with _PARALLEL_LOCK:
            eidx = kern.dist_cell_edges(
                cells, kdd, gframe, dptr, dgrid, bound, eptr, edge_off, packed, *src
            )
        return counts, dptr, dgrid, eptr, eidx

    # the coarse cells' candidates, then split in four while the ids stay in the budget
    top = level(dcells, 1, (1, none, z, none, z), 2**31 - 1)
    counts, dptr, dgrid, eptr, eidx = top
    keep = np.flatnonzero(counts > 0)
    dcells = dcells[keep]
    dptr = np.concatenate([dptr[keep], dptr[-1:]])
    budget = min(int(ids_per_edge * nedges[many].sum()), 2**31 - 1)
    if kd is None:
        mean_edge = float(
            np.sqrt(packed[:, 2] ** 2 + packed[:, 3] ** 2)[np.repeat(many, nedges)].mean()
        )
        kd = 1
        while kd < 16 and c0 / kd > mean_edge:
            kd *= 2
    got = 1
    while got < kd:
        nxt = level(dcells, got * 2, (got, dptr, dgrid, eptr, eidx), budget)
        if nxt is None:
            break
        _c, dptr, dgrid, eptr, eidx = nxt
        got *= 2
    kd = got
    dblock[dcells] = np.arange(dcells.size, dtype=np.int32)
    return few, int(kd), dblock, dptr.astype(np.int32), dgrid, eptr.astype(np.int32), eidx


def _bbox_cells(
    gx0: np.ndarray, gx1: np.ndarray, gy0: np.ndarray, gy1: np.ndarray, nx: int
) -> tuple[np.ndarray, np.ndarray]:
    """(cell id, grid) pairs for every coarse cell inside each grid's bounding-box range."""
    wx = gx1 - gx0 + 1
    wy = gy1 - gy0 + 1
    sizes = wx * wy
    grid_of = np.repeat(np.arange(gx0.size, dtype=np.int64), sizes)
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    local = np.arange(grid_of.size, dtype=np.int64) - starts
    lx = local % wx[grid_of]
    ly = local // wx[grid_of]
    cell_of = (gy0[grid_of] + ly) * nx + (gx0[grid_of] + lx)
    return cell_of, grid_of


def _check_grids(codes: np.ndarray, geoms: np.ndarray) -> None:
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for i, (code, geom) in enumerate(zip(codes, geoms, strict=True)):
        if not code:
            problems.append(
                Problem(_("empty grid code"), row=i, field="grid_code", rule="locate.code")
            )
        elif code in seen:
            problems.append(
                Problem(
                    _("grid code {code} appears twice (rows {first} and {row})").format(
                        code=code, first=seen[code], row=i
                    ),
                    row=i,
                    field="grid_code",
                    rule="locate.duplicate_code",
                )
            )
        else:
            seen[code] = i
        if geom is None or not isinstance(geom, shapely.Geometry):
            problems.append(
                Problem(_("no geometry"), row=i, field="geometry", rule="locate.geometry")
            )
        elif geom.is_empty:
            problems.append(
                Problem(_("empty geometry"), row=i, field="geometry", rule="locate.geometry")
            )
        elif geom.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append(
                Problem(
                    _("{kind} is not a polygon").format(kind=geom.geom_type),
                    row=i,
                    field="geometry",
                    rule="locate.geometry",
                )
            )
        elif not np.isfinite(shapely.get_coordinates(geom)).all():
            problems.append(
                Problem(
                    _("non-finite coordinates"), row=i, field="geometry", rule="locate.geometry"
                )
            )
    if problems:
        raise InputError(_("cannot index {n} grids").format(n=len(codes)), problems)


def _read_only(arrays) -> tuple[np.ndarray, ...]:
    """Read-only views of ``arrays`` (callers may not change the index under its users)."""
    out = []
    for a in arrays:
        v = a.view()
        v.flags.writeable = False
        out.append(v)
    return tuple(out)
