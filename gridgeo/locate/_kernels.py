"""Compiled kernels of the locate index (numba; no Python objects inside).

Geometry layout (all grids packed, one flat coordinate array):

* ``xs, ys`` – ring vertices, each ring closed (first == last vertex);
* ``ring_off[r] .. ring_off[r+1]`` – vertices of ring ``r``;
* ``part_off[p] .. part_off[p+1]`` – rings of polygon part ``p`` (first = exterior);
* ``geom_off[g] .. geom_off[g+1]`` – parts of grid ``g``.

Each ring has horizontal bands (``ring_band0``, ``ring_nband``, ``ring_y0``,
``ring_invh``) listing the segments whose y-range meets the band
(``band_ptr``/``band_seg``, a segment is named by the index of its first vertex).

The point-in-polygon test reproduces PostGIS 3's ``ST_Covers(polygon, point)``
short cut (``point_in_multipolygon_rtree`` / ``point_in_ring_rtree`` in
``postgis/lwgeom_rtree.c``) operation for operation in IEEE double arithmetic: the
winding number with ``determineSide`` and the ``side == 0.0`` boundary test, so
points on or within rounding distance of an edge get the same answer as PostGIS.
The bands only skip segments whose y-range does not contain the point's y, which
contribute nothing there (exactly as PostGIS's interval tree skips them).
"""

from __future__ import annotations

import os

# Numba's OpenMP threads wait passively between parallel regions (libgomp reads this when
# the first parallel kernel loads it): by default they spin for a while after every
# region, which on a busy 2-core server burns the CPU the other requests' reading and
# writing need (~30 % more CPU per batch point). An explicit setting is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
from numba import njit, prange

OUTSIDE = -1
_MIXED = -2
# points per block of the parallel fill's second pass (one scratch allocation each; small
# enough that the blocks share out evenly among the threads)
_BLOCK = 1024


# ---------------------------------------------------------------------------
# exact point-in-polygon (PostGIS semantics)
# ---------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _band_of(py, y0, invh, nb):
    t = (py - y0) * invh
    if not (t > 0.0):  # also NaN
        return 0
    if t >= nb:
        return nb - 1
    return int(t)


@njit(cache=True)
def ring_pip(px, py, r, xs, ys, ring_band0, ring_nband, ring_y0, ring_invh, band_ptr, band_seg):
    """-1 outside, 0 on the ring, 1 inside (PostGIS ``point_in_ring_rtree``)."""
    b = ring_band0[r] + _band_of(py, ring_y0[r], ring_invh[r], ring_nband[r])
    wn = 0
    for k in range(band_ptr[b], band_ptr[b + 1]):
        j = band_seg[k]
        x1 = xs[j]
        y1 = ys[j]
        x2 = xs[j + 1]
        y2 = ys[j + 1]
        side = (x2 - x1) * (py - y1) - (px - x1) * (y2 - y1)
        if (x2 - x1) * (x2 - x1) + (y2 - y1) * (y2 - y1) < 1e-24:
            continue
        # on the line and inside the segment's bounding box (isOnSegment)
        if side == 0.0 and min(x1, x2) <= px <= max(x1, x2) and min(y1, y2) <= py <= max(y1, y2):
            return 0
        if y1 <= py and py < y2 and side > 0:
            wn += 1
        elif y2 <= py and py < y1 and side < 0:
            wn -= 1
    if wn == 0:
        return -1
    return 1


@njit(cache=True, inline="always")
def grid_pip(
    px,
    py,
    g,
    xs,
    ys,
    ring_off,
    part_off,
    geom_off,
    ring_band0,
    ring_nband,
    ring_y0,
    ring_invh,
    band_ptr,
    band_seg,
):
    """-1 outside, 0 on the boundary, 1 inside (PostGIS ``point_in_multipolygon_rtree``)."""
    result = -1
    for p in range(geom_off[g], geom_off[g + 1]):
        r0 = part_off[p]
        r1 = part_off[p + 1]
        if r1 == r0:
            continue
        in_ring = ring_pip(
            px, py, r0, xs, ys, ring_band0, ring_nband, ring_y0, ring_invh, band_ptr, band_seg
        )
        if in_ring == -1:
            pass
        elif in_ring == 0:
            return 0
        else:
            result = in_ring
            for r in range(r0 + 1, r1):
                in_ring = ring_pip(
                    px,
                    py,
                    r,
                    xs,
                    ys,
                    ring_band0,
                    ring_nband,
                    ring_y0,
                    ring_invh,
                    band_ptr,
                    band_seg,
                )
                if in_ring == 1:
                    result = -1
                    break
                if in_ring == 0:
                    return 0
            if result != -1:
                return result
    return result


# ---------------------------------------------------------------------------
# ring bands
# ---------------------------------------------------------------------------


@njit(cache=True)
def build_bands(xs, ys, ring_off, seg_per_band):
    """Per ring: band origin, count and inverse height; CSR of segments per band."""
    nring = ring_off.size - 1
    ring_band0 = np.empty(nring, np.int64)
    ring_nband = np.empty(nring, np.int64)
    ring_y0 = np.empty(nring, np.float64)
    ring_invh = np.empty(nring, np.float64)
    total = 0
    nentries = 0
    for r in range(nring):
        a = ring_off[r]
        e = ring_off[r + 1]
        nseg = max(e - a - 1, 0)
        nb = max(1, nseg // seg_per_band)
        ymin = np.inf
        ymax = -np.inf
        for i in range(a, e):
            ymin = min(ymin, ys[i])
            ymax = max(ymax, ys[i])
        h = (ymax - ymin) / nb if nseg > 0 else 1.0
        ring_band0[r] = total
        ring_nband[r] = nb
        ring_y0[r] = ymin if nseg > 0 else 0.0
        ring_invh[r] = 1.0 / h if h > 0 else 0.0
        total += nb
        for j in range(a, e - 1):
            lo = _band_of(min(ys[j], ys[j + 1]), ring_y0[r], ring_invh[r], nb)
            hi = _band_of(max(ys[j], ys[j + 1]), ring_y0[r], ring_invh[r], nb)
            nentries += hi - lo + 1
    counts = np.zeros(total + 1, np.int64)
    for r in range(nring):
        a = ring_off[r]
        e = ring_off[r + 1]
        for j in range(a, e - 1):
            lo = _band_of(min(ys[j], ys[j + 1]), ring_y0[r], ring_invh[r], ring_nband[r])
            hi = _band_of(max(ys[j], ys[j + 1]), ring_y0[r], ring_invh[r], ring_nband[r])
            for b in range(lo, hi + 1):
                counts[ring_band0[r] + b + 1] += 1
    band_ptr = np.cumsum(counts)
    fill = band_ptr[:-1].copy()
    band_seg = np.empty(nentries, np.int64)
    for r in range(nring):
        a = ring_off[r]
        e = ring_off[r + 1]
        for j in range(a, e - 1):
            lo = _band_of(min(ys[j], ys[j + 1]), ring_y0[r], ring_invh[r], ring_nband[r])
            hi = _band_of(max(ys[j], ys[j + 1]), ring_y0[r], ring_invh[r], ring_nband[r])
            for b in range(lo, hi + 1):
                k = ring_band0[r] + b
                band_seg[fill[k]] = j
                fill[k] += 1
    return ring_band0, ring_nband, ring_y0, ring_invh, band_ptr, band_seg


# ---------------------------------------------------------------------------
# cell classification
# ---------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _seg_touches_box(x1, y1, x2, y2, bx0, by0, bx1, by1):
    """Whether segment (x1,y1)-(x2,y2) meets the closed box (conservative by the caller's margin)."""
    if max(x1, x2) < bx0 or min(x1, x2) > bx1 or max(y1, y2) < by0 or min(y1, y2) > by1:
        return False
    dx = x2 - x1
    dy = y2 - y1
    s0 = dx * (by0 - y1) - dy * (bx0 - x1)
    s1 = dx * (by0 - y1) - dy * (bx1 - x1)
    s2 = dx * (by1 - y1) - dy * (bx0 - x1)
    s3 = dx * (by1 - y1) - dy * (bx1 - x1)
    if s0 > 0 and s1 > 0 and s2 > 0 and s3 > 0:
        return False
    return not (s0 < 0 and s1 < 0 and s2 < 0 and s3 < 0)


@njit(cache=True)
def _classify(
    bx0,
    by0,
    bx1,
    by1,
    eps,
    cands,
    segs,
    seg_grid,
    nseg,
    xs,
    ys,
    ring_off,
    part_off,
    geom_off,
    ring_band0,
    ring_nband,
    ring_y0,
    ring_invh,
    band_ptr,
    band_seg,
    out,
):
    """Label of a box: grid index, OUTSIDE, or _MIXED with its candidates written to ``out``.

    ``segs[:nseg]`` are the segments (first-vertex indices) that may touch the box,
    ``seg_grid`` their grids; ``cands`` the grids whose bounding box meets it (ascending).
    Returns ``(label, n_out)``.
    """
    ex0 = bx0 - eps
    ey0 = by0 - eps
    ex1 = bx1 + eps
    ey1 = by1 + eps
    n_out = 0
    touched_any = False
    for c in range(cands.size):
        g = cands[c]
        touched = False
        for k in range(nseg):
            if seg_grid[k] != g:
                continue
            j = segs[k]
            if _seg_touches_box(xs[j], ys[j], xs[j + 1], ys[j + 1], ex0, ey0, ex1, ey1):
                touched = True
                break
        if touched:
            out[n_out] = g
            n_out += 1
            touched_any = True
        else:
            # no edge of g near the box: the whole box is inside or outside g
            cx = 0.5 * (bx0 + bx1)
            cy = 0.5 * (by0 + by1)
            if (
                grid_pip(
                    cx,
                    cy,
                    g,
                    xs,
                    ys,
                    ring_off,
                    part_off,
                    geom_off,
                    ring_band0,
                    ring_nband,
                    ring_y0,
                    ring_invh,
                    band_ptr,
                    band_seg,
                )
                >= 0
            ):
                out[n_out] = g
                n_out += 1
    if n_out == 0:
        return OUTSIDE, 0
    if n_out == 1 and not touched_any:
        return out[0], 1
    return _MIXED, n_out


@njit(cache=True)
def _cell_segments(bx0, by0, bx1, by1, cands, xs, ys, ring_off, part_off, geom_off, segs, seg_grid):
    """Segments of the candidate grids whose bounding box meets the box; returns the count."""
    n = 0
    for c in range(cands.size):
        g = cands[c]
        for p in range(geom_off[g], geom_off[g + 1]):
            for r in range(part_off[p], part_off[p + 1]):
                for j in range(ring_off[r], ring_off[r + 1] - 1):
                    if (
                        max(xs[j], xs[j + 1]) < bx0
                        or min(xs[j], xs[j + 1]) > bx1
                        or max(ys[j], ys[j + 1]) < by0
                        or min(ys[j], ys[j + 1]) > by1
                    ):
                        continue
                    if n < segs.size:
                        segs[n] = j
                        seg_grid[n] = g
                    n += 1
    return n


@njit(cache=True, parallel=True)
def classify_cells(
    x0,
    y0,
    c0,
    nx,
    eps,
    cell_ids,
    cand_ptr,
    cand_idx,
    geom_nseg,
    xs,
    ys,
    ring_off,
    part_off,
    geom_off,
    ring_band0,
    ring_nband,
    ring_y0,
    ring_invh,
    band_ptr,
    band_seg,
):
    """Label of each listed coarse cell: a grid index, OUTSIDE or _MIXED."""
    ncell = cell_ids.size
    label = np.empty(ncell, np.int32)
    for i in prange(ncell):
        cid = cell_ids[i]
        ix = cid % nx
        iy = cid // nx
        cands = cand_idx[cand_ptr[i] : cand_ptr[i + 1]]
        nmax = 0
        for c in range(cands.size):
            nmax += geom_nseg[cands[c]]
        segs = np.empty(nmax, np.int64)
        seg_grid = np.empty(nmax, np.int64)
        out = np.empty(cands.size, np.int64)
        bx0 = x0 + ix * c0
        by0 = y0 + iy * c0
        bx1 = bx0 + c0
        by1 = by0 + c0
        nseg = _cell_segments(
            bx0 - eps,
            by0 - eps,
            bx1 + eps,
            by1 + eps,
            cands,
            xs,
            ys,
            ring_off,
            part_off,
            geom_off,
            segs,
            seg_grid,
        )
        lab, _n = _classify(
            bx0,
            by0,
            bx1,
            by1,
            eps,
            cands,
            segs,
            seg_grid,
            nseg,
            xs,
            ys,
            ring_off,
            part_off,
            geom_off,
            ring_band0,
            ring_nband,
            ring_y0,
            ring_invh,
            band_ptr,
            band_seg,
            out,
        )
        label[i] = lab
    return label


@njit(cache=True)
def _mixed_cell(
    i,
    x0,
    y0,
    c0,
    nx,
    eps,
    cell_ids,
    cand_ptr,
    cand_idx,
    geom_nseg,
    xs,
    ys,
    ring_off,
    part_off,
    geom_off,
):
    """Candidates and the edge segments touching mixed coarse cell ``i`` (both sub-cell passes)."""
    cid = cell_ids[i]
    ix = cid % nx
    iy = cid // nx
    cands = cand_idx[cand_ptr[i] : cand_ptr[i + 1]]
    nmax = 0
    for c in range(cands.size):
        nmax += geom_nseg[cands[c]]
    segs = np.empty(nmax, np.int64)
    seg_grid = np.empty(nmax, np.int64)
    bx0 = x0 + ix * c0
    by0 = y0 + iy * c0
    nseg = _cell_segments(
        bx0 - eps,
        by0 - eps,
        bx0 + c0 + eps,
        by0 + c0 + eps,
        cands,
        xs,
        ys,
        ring_off,
        part_off,
        geom_off,
        segs,
        seg_grid,
    )
    return cands, segs, seg_grid, nseg, bx0, by0


@njit(cache=True, parallel=True)
def classify_subcells(
    x0,
    y0,
    c0,
    nx,
    k,
    eps,
    cell_ids,
    cand_ptr,
    cand_idx,
    geom_nseg,
    mixed_rows,
    xs,
    ys,
    ring_off,
    part_off,
    geom_off,
    ring_band0,
    ring_nband,
    ring_y0,
    ring_invh,
    band_ptr,
    band_seg,
):
    """Labels and candidate counts of the ``k × k`` sub-cells of each mixed coarse cell."""
    kk = k * k
    sub_label = np.empty((mixed_rows.size, kk), np.int32)
    sub_count = np.zeros((mixed_rows.size, kk), np.int32)
    cs = c0 / k
    for m in prange(mixed_rows.size):
        cands, segs, seg_grid, nseg, bx0, by0 = _mixed_cell(
            mixed_rows[m],
            x0,
            y0,
            c0,
            nx,
            eps,
            cell_ids,
            cand_ptr,
            cand_idx,
            geom_nseg,
            xs,
            ys,
            ring_off,
            part_off,
            geom_off,
        )
        out = np.empty(cands.size, np.int64)
        for sy in range(k):
            for sx in range(k):
                sbx0 = bx0 + sx * cs
                sby0 = by0 + sy * cs
                slab, sn = _classify(
                    sbx0,
                    sby0,
                    sbx0 + cs,
                    sby0 + cs,
                    eps,
                    cands,
                    segs,
                    seg_grid,
                    nseg,
                    xs,
                    ys,
                    ring_off,
                    part_off,
                    geom_off,
                    ring_band0,
                    ring_nband,
                    ring_y0,
                    ring_invh,
                    band_ptr,
                    band_seg,
                    out,
                )
                sub_label[m, sy * k + sx] = slab
                sub_count[m, sy * k + sx] = sn
    return sub_label, sub_count


@njit(cache=True, parallel=True)
def fill_border_candidates(
    x0,
    y0,
    c0,
    nx,
    k,
    eps,
    cell_ids,
    cand_ptr,
    cand_idx,
    geom_nseg,
    mixed_rows,
    sub_label,
    border_ptr_block,
    xs,
    ys,
    ring_off,
    part_off,
    geom_off,
    ring_band0,
    ring_nband,
    ring_y0,
    ring_invh,
    band_ptr,
    band_seg,
    border_idx,
):
    """Write the candidate grids of every border sub-cell into ``border_idx``."""
    cs = c0 / k
    for m in prange(mixed_rows.size):
        cands, segs, seg_grid, nseg, bx0, by0 = _mixed_cell(
            mixed_rows[m],
            x0,
            y0,
            c0,
            nx,
            eps,
            cell_ids,
            cand_ptr,
            cand_idx,
            geom_nseg,
            xs,
            ys,
            ring_off,
            part_off,
            geom_off,
        )
        out = np.empty(cands.size, np.int64)
        pos = border_ptr_block[m]
        for sy in range(k):
            for sx in range(k):
                if sub_label[m, sy * k + sx] != _MIXED:
                    continue
                sbx0 = bx0 + sx * cs
                sby0 = by0 + sy * cs
                _lab, sn = _classify(
                    sbx0,
                    sby0,
                    sbx0 + cs,
                    sby0 + cs,
                    eps,
                    cands,
                    segs,
                    seg_grid,
                    nseg,
                    xs,
                    ys,
                    ring_off,
                    part_off,
                    geom_off,
                    ring_band0,
                    ring_nband,
                    ring_y0,
                    ring_invh,
                    band_ptr,
                    band_seg,
                    out,
                )
                for q in range(sn):
                    border_idx[pos + q] = out[q]
                pos += sn


# ---------------------------------------------------------------------------
# queries
# ---------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _lookup(x, y, x0, y0, inv_c0, nx, ny, k, table0, table1):
    """Table answer for a point: grid, OUTSIDE, or -(2 + border sub-cell id)."""
    fx = (x - x0) * inv_c0
    fy = (y - y0) * inv_c0
    if not (fx >= 0.0 and fy >= 0.0 and fx < nx and fy < ny):  # NaN lands here too
        return OUTSIDE
    ix = int(fx)
    iy = int(fy)
    v = table0[iy * nx + ix]
    if v >= OUTSIDE:
        return v
    blk = -(v + 2)
    sx = min(int((fx - ix) * k), k - 1)
    sy = min(int((fy - iy) * k), k - 1)
    return table1[blk * k * k + sy * k + sx]


@njit(cache=True, inline="always")
def _exact(
    x,
    y,
    b,
    border_ptr,
    border_idx,
    xs,
    ys,
    ring_off,
    part_off,
    geom_off,
    ring_band0,
    ring_nband,
    ring_y0,
    ring_invh,
    band_ptr,
    band_seg,
):
    """Smallest candidate grid of border sub-cell ``b`` that covers the point, or OUTSIDE."""
    for q in range(border_ptr[b], border_ptr[b + 1]):
        g = border_idx[q]
        if (
            grid_pip(
                x,
                y,
                g,
                xs,
                ys,
                ring_off,
                part_off,
                geom_off,
                ring_band0,
                ring_nband,
                ring_y0,
                ring_invh,
                band_ptr,
                band_seg,
            )
            >= 0
        ):
            return g
    return OUTSIDE


@njit(cache=True, parallel=True)
def lookup_points(px, py, x0, y0, inv_c0, nx, ny, k, table0, table1):
    """Table answers for many points (border points get -(2 + sub-cell id))."""
    n = px.size
    out = np.empty(n, np.int32)
    for i in prange(n):
        out[i] = _lookup(px[i], py[i], x0, y0, inv_c0, nx, ny, k, table0, table1)
    return out


@njit(cache=True, parallel=True)
def resolve_border(
    bx,
    by,
    bsub,
    border_ptr,
    border_idx,
    xs,
    ys,
    ring_off,
    part_off,
    geom_off,
    ring_band0,
    ring_nband,
    ring_y0,
    ring_invh,
    band_ptr,
    band_seg,
):
    """Exact answers for border points given contiguously with their sub-cell ids."""
    n = bx.size
    out = np.empty(n, np.int32)
    for j in prange(n):
        out[j] = _exact(
            bx[j],
            by[j],
            bsub[j],
            border_ptr,
            border_idx,
            xs,
            ys,
            ring_off,
            part_off,
            geom_off,
            ring_band0,
            ring_nband,
            ring_y0,
            ring_invh,
            band_ptr,
            band_seg,
        )
    return out


@njit(cache=True)
def locate_points_serial(
    px,
    py,
    x0,
    y0,
    inv_c0,
    nx,
    ny,
    k,
    table0,
    table1,
    border_ptr,
    border_idx,
    xs,
    ys,
    ring_off,
    part_off,
    geom_off,
    ring_band0,
    ring_nband,
    ring_y0,
    ring_invh,
    band_ptr,
    band_seg,
):
    """Grid index per point on one thread (for a few points: no thread start-up)."""
    n = px.size
    out = np.empty(n, np.int32)
    for i in range(n):
        v = _lookup(px[i], py[i], x0, y0, inv_c0, nx, ny, k, table0, table1)
        if v <= -2:
            v = _exact(
                px[i],
                py[i],
                -(v + 2),
                border_ptr,
                border_idx,
                xs,
                ys,
                ring_off,
                part_off,
                geom_off,
                ring_band0,
                ring_nband,
                ring_y0,
                ring_invh,
                band_ptr,
                band_seg,
            )
        out[i] = v
    return out


@njit(cache=True, parallel=True)
def covers_pairs(
    px,
    py,
    grid,
    xs,
    ys,
    ring_off,
    part_off,
    geom_off,
    ring_band0,
    ring_nband,
    ring_y0,
    ring_invh,
    band_ptr,
    band_seg,
):
    """PostGIS-equal ``ST_Covers(grid, point)`` per (point, grid) pair (brute force)."""
    n = px.size
    out = np.empty(n, np.bool_)
    for i in prange(n):
        out[i] = (
            grid_pip(
                px[i],
                py[i],
                grid[i],
                xs,
                ys,
                ring_off,
                part_off,
                geom_off,
                ring_band0,
                ring_nband,
                ring_y0,
                ring_invh,
                band_ptr,
                band_seg,
            )
            >= 0
        )
    return out


@njit(cache=True)
def border_edges(xs, ys, ring_off, part_off, geom_off):
    """Every grid's boundary edges for :func:`border_distance`, grid by grid.

    Returns ``edge_off`` (grid ``g``'s edges are ``edge_off[g]:edge_off[g + 1]``) and the
    edges as separate arrays: start ``ax, ay``, direction ``dx, dy`` and ``1 / |d|²``
    (0 for a zero-length edge): no division and no neighbouring vertex to load per test.
    """
    ng = geom_off.size - 1
    edge_off = np.zeros(ng + 1, np.int64)
    for g in range(ng):
        c = 0
        for p in range(geom_off[g], geom_off[g + 1]):
            for r in range(part_off[p], part_off[p + 1]):
                c += ring_off[r + 1] - ring_off[r] - 1
        edge_off[g + 1] = edge_off[g] + c
    m = edge_off[ng]
    ax = np.empty(m, np.float64)
    ay = np.empty(m, np.float64)
    dx = np.empty(m, np.float64)
    dy = np.empty(m, np.float64)
    inv = np.empty(m, np.float64)
    k = 0
    for g in range(ng):
        for p in range(geom_off[g], geom_off[g + 1]):
            for r in range(part_off[p], part_off[p + 1]):
                for j in range(ring_off[r], ring_off[r + 1] - 1):
                    ax[k] = xs[j]
                    ay[k] = ys[j]
                    dx[k] = xs[j + 1] - xs[j]
                    dy[k] = ys[j + 1] - ys[j]
                    ll = dx[k] * dx[k] + dy[k] * dy[k]
                    inv[k] = 1.0 / ll if ll > 0.0 else 0.0
                    k += 1
    return edge_off, ax, ay, dx, dy, inv


@njit(cache=True, inline="always")
def _edge_distance(x, y, g, edge_off, ax, ay, dx, dy, inv):
    """Distance from (x, y) to grid ``g``'s boundary from :func:`border_edges` (no division
    per edge; the batch answer, ``GET /locate`` and the track attribution all use it)."""
    best = np.inf
    for k in range(edge_off[g], edge_off[g + 1]):
        t = min(max(((x - ax[k]) * dx[k] + (y - ay[k]) * dy[k]) * inv[k], 0.0), 1.0)
        qx = ax[k] + t * dx[k] - x
        qy = ay[k] + t * dy[k] - y
        best = min(best, qx * qx + qy * qy)
    return np.sqrt(best)


@njit(cache=True, parallel=True)
def border_distance(
    perm, px, py, grid, x0, y0, inv_c0, nx, ny, edge_off, e, cand,
):  # fmt: skip
    """Euclidean distance from each point to the boundary of its grid (NaN when grid < 0).

    The points are taken in ``perm`` order (:func:`cell_order`: neighbours find their edges
    in cache). ``edge_off, e`` are :func:`border_edges`' offsets and :func:`pack_edges`'
    rows, ``cand`` the candidate edges per distance cell (:func:`_near_distance`)."""
    n = px.size
    out = np.empty(n, np.float64)
    for j in prange(n):
        i = perm[j]
        out[i] = (
            np.nan
            if grid[i] < 0
            else _near_distance(
                px[i], py[i], grid[i], x0, y0, inv_c0, nx, ny, cand, edge_off, e,
            )
        )  # fmt: skip
    return out


@njit(cache=True)
def border_distance_serial(px, py, grid, x0, y0, inv_c0, nx, ny, edge_off, e, cand):
    """:func:`border_distance` on one thread."""
    few, kd, dblock, dptr, dgrid, eptr, eidx = cand
    n = px.size
    out = np.empty(n, np.float64)
    for i in range(n):
        out[i] = (
            np.nan
            if grid[i] < 0
            else _cand_distance(
                px[i], py[i], grid[i], x0, y0, inv_c0, nx, ny,
                few, kd, dblock, dptr, dgrid, eptr, eidx, edge_off, e,
            )
        )  # fmt: skip
    return out


# ---------------------------------------------------------------------------
# one pass per point: grid, exact border test, distance to its border
# ---------------------------------------------------------------------------


@njit(cache=True)
def pack_edges(ax, ay, dx, dy, inv):
    """:func:`border_edges`' arrays side by side, one row ``(ax, ay, dx, dy, 1/|d|²)`` per edge.

    A grid's edges are then one contiguous run of memory (a few cache lines) instead of
    five runs in five arrays: a point's distance loads them in one stream."""
    m = ax.size
    out = np.empty((m, 5), np.float64)
    for k in range(m):
        out[k, 0] = ax[k]
        out[k, 1] = ay[k]
        out[k, 2] = dx[k]
        out[k, 3] = dy[k]
        out[k, 4] = inv[k]
    return out


@njit(cache=True, inline="always")
def _packed_distance(x, y, g, edge_off, e):
    """:func:`_edge_distance` on :func:`pack_edges` rows (the same operations, same result)."""
    best = np.inf
    for k in range(edge_off[g], edge_off[g + 1]):
        best = min(best, _edge_d2(x, y, e, k))
    return np.sqrt(best)


@njit(cache=True)
def field_edges(edge_off, e):
    """:func:`pack_edges` rows grid by grid as five runs of one field each.

    Grid ``g``'s ``n`` edges start at ``5 * edge_off[g]``: ``n`` values of ``ax``, then
    ``n`` of ``ay``, ``dx``, ``dy`` and ``1/|d|²``. A grid is still one contiguous run of
    memory, and the same field of neighbouring edges is side by side: the per-edge
    formula over a grid's edges compiles to vector instructions (4 edges at once)."""
    out = np.empty(5 * e.shape[0], np.float64)
    for g in range(edge_off.size - 1):
        lo = edge_off[g]
        n = edge_off[g + 1] - lo
        for f in range(5):
            for k in range(n):
                out[5 * lo + f * n + k] = e[lo + k, f]
    return out


@njit(cache=True)
def most_edges(edge_off):
    """The largest number of edges of one grid (the scratch :func:`_field_distance` needs)."""
    m = 0
    for g in range(edge_off.size - 1):
        m = max(m, edge_off[g + 1] - edge_off[g])
    return m


@njit(cache=True, inline="always")
def _field_distance(x, y, g, edge_off, fe, buf):
    """:func:`_packed_distance` on :func:`field_edges` (the same number).

    Each edge's squared distance by the same operations, written to ``buf`` (at least
    the grid's edge count) in a loop without a dependency between edges (vectorised),
    then their minimum with four running minima: the minimum of the same values in
    another order is the same value (all are >= +0, none NaN). The indices are unsigned:
    a signed index is tested for being negative on every load, which keeps the loop
    from being vectorised as well as it can be."""
    lo = edge_off[g]
    n = np.uint64(edge_off[g + 1] - lo)
    b = np.uint64(5 * lo)
    u1 = np.uint64(1)
    u2 = np.uint64(2)
    u3 = np.uint64(3)
    u4 = np.uint64(4)
    for k in range(n):
        ax = fe[b + k]
        ay = fe[b + n + k]
        dx = fe[b + u2 * n + k]
        dy = fe[b + u3 * n + k]
        t = min(max(((x - ax) * dx + (y - ay) * dy) * fe[b + u4 * n + k], 0.0), 1.0)
        qx = ax + t * dx - x
        qy = ay + t * dy - y
        buf[k] = qx * qx + qy * qy
    m0 = np.inf
    m1 = np.inf
    m2 = np.inf
    m3 = np.inf
    k = np.uint64(0)
    while k + u4 <= n:
        m0 = min(m0, buf[k])
        m1 = min(m1, buf[k + u1])
        m2 = min(m2, buf[k + u2])
        m3 = min(m3, buf[k + u3])
        k += u4
    while k < n:
        m0 = min(m0, buf[k])
        k += u1
    return np.sqrt(min(min(m0, m1), min(m2, m3)))


# ---------------------------------------------------------------------------
# candidate edges per distance cell (the border distance of grids with many edges)
# ---------------------------------------------------------------------------
#
# A grid with at most ``few`` edges is measured over all its edges: one contiguous run
# of :func:`pack_edges` rows, which costs less than any look-up. For the others, every
# coarse cell where one of them can be located in is split into ``kd × kd`` *distance
# cells* (``dblock[cell]`` is its block, -1: none), and each distance cell lists per such
# grid the edges that can be the nearest to some point of the cell: with ``d_c`` the
# distance from the cell's centre to the grid's boundary and ``r`` the cell's
# half-diagonal, the nearest edge ``e`` of a point ``p`` of the cell has
# ``|c e| <= |p e| + r = D(p) + r <= d_c + 2 r`` (the distance to the boundary is
# 1-Lipschitz); edges farther than that plus a margin far above rounding error are left
# out. CSR, int32: distance cell ``c``'s grids are ``dgrid[dptr[c]:dptr[c + 1]]``, entry
# ``q``'s edges ``eidx[eptr[q]:eptr[q + 1]]`` (rows of :func:`pack_edges`, ascending).
# The distance evaluates the same per-edge formula on a subset that holds every edge
# reaching the minimum: the same number as over all edges. The build kernels release
# the GIL (a registry reload builds the index while requests are served).


@njit(cache=True, inline="always")
def _edge_d2(x, y, e, k):
    """Squared distance from (x, y) to :func:`pack_edges` row ``k`` (the per-edge formula)."""
    ax = e[k, 0]
    ay = e[k, 1]
    dx = e[k, 2]
    dy = e[k, 3]
    t = min(max(((x - ax) * dx + (y - ay) * dy) * e[k, 4], 0.0), 1.0)
    qx = ax + t * dx - x
    qy = ay + t * dy - y
    return qx * qx + qy * qy


@njit(cache=True, inline="always")
def _dcell_grids(
    cid, sx, sy, kd, k, table0, table1, border_ptr, border_idx, edge_off, few, buf
):  # fmt: skip
    """Grids with more than ``few`` edges a point of distance cell ``(sx, sy)`` of coarse
    cell ``cid`` can be located in, written to ``buf`` (distinct); returns their count."""
    v = table0[cid]
    if v >= 0:
        if edge_off[v + 1] - edge_off[v] <= few:
            return 0
        buf[0] = v
        return 1
    if v == OUTSIDE:
        return 0
    blk = -(v + 2)
    n = 0
    for ty in range((sy * k) // kd, ((sy + 1) * k + kd - 1) // kd):
        for tx in range((sx * k) // kd, ((sx + 1) * k + kd - 1) // kd):
            t = table1[blk * k * k + ty * k + tx]
            if t == OUTSIDE:
                continue
            q0 = 0
            q1 = 1
            if t <= -2:
                q0 = border_ptr[-(t + 2)]
                q1 = border_ptr[-(t + 2) + 1]
            for q in range(q0, q1):
                g = t if t >= 0 else border_idx[q]
                if edge_off[g + 1] - edge_off[g] <= few:
                    continue
                seen = False
                for j in range(n):
                    if buf[j] == g:
                        seen = True
                        break
                if not seen:
                    buf[n] = g
                    n += 1
    return n


@njit(cache=True, inline="always")
def _dcell_centre(ci, s, nx, x0, y0, c0, kd):
    """Centre and half-diagonal of distance cell ``s`` (row-major) of coarse cell ``ci``."""
    ds = c0 / kd
    cx = x0 + (ci % nx) * c0 + (s % kd + 0.5) * ds
    cy = y0 + (ci // nx) * c0 + (s // kd + 0.5) * ds
    return cx, cy, 0.5 * ds * np.sqrt(2.0)


@njit(cache=True, parallel=True, nogil=True)
def dist_cell_counts(dcells, kd, k, maxg, table0, table1, border_ptr, border_idx, edge_off, few):
    """Number of listed grids per distance cell of the given coarse cells (block order)."""
    kk = kd * kd
    out = np.zeros(dcells.size * kk, np.int64)
    for b in prange(dcells.size):
        buf = np.empty(maxg, np.int64)
        for s in range(kk):
            out[b * kk + s] = _dcell_grids(
                dcells[b], s % kd, s // kd, kd, k, table0, table1, border_ptr, border_idx,
                edge_off, few, buf,
            )  # fmt: skip
    return out


@njit(cache=True, inline="always")
def _source(g, b, s, kd, pk, edge_off, src_ptr, src_grid, src_eptr):
    """(first, end, indirect) of the edges to test for grid ``g`` in distance cell ``s`` of
    block ``b``: the candidates of its parent cell (``pk × pk`` per block) when given
    (``src_ptr`` not empty), else all of ``g``'s."""
    if src_ptr.size == 0:
        return edge_off[g], edge_off[g + 1], False
    f = kd // pk
    p = b * pk * pk + (s // kd // f) * pk + (s % kd) // f
    for q in range(src_ptr[p], src_ptr[p + 1]):
        if src_grid[q] == g:
            return src_eptr[q], src_eptr[q + 1], True
    return edge_off[g], edge_off[g + 1], False


@njit(cache=True, parallel=True, nogil=True)
def dist_cell_entries(
    dcells, kd, k, maxg, frame, margin, table0, table1, border_ptr, border_idx, edge_off, few,
    e, dptr, pk, src_ptr, src_grid, src_eptr, src_eidx,
):  # fmt: skip
    """Grid of each entry (``dgrid``), its candidate count and squared bound ``(d_c + 2 r)²``.

    ``frame`` is ``(x0, y0, c0, nx)``; ``src_*`` the candidates of the same blocks split
    ``pk × pk`` (``kd`` a multiple of ``pk``): a distance cell's nearest edges are among
    its parent cell's (empty ``src_ptr``: all the grid's edges)."""
    x0, y0, c0, nx = frame
    kk = kd * kd
    m = dptr[dptr.size - 1]
    dgrid = np.empty(m, np.int32)
    count = np.empty(m, np.int64)
    bound = np.empty(m, np.float64)
    for b in prange(dcells.size):
        buf = np.empty(maxg, np.int64)
        for s in range(kk):
            n = _dcell_grids(
                dcells[b], s % kd, s // kd, kd, k, table0, table1, border_ptr, border_idx,
                edge_off, few, buf,
            )  # fmt: skip
            cx, cy, r = _dcell_centre(dcells[b], s, int(nx), x0, y0, c0, kd)
            q = dptr[b * kk + s]
            for j in range(n):
                g = buf[j]
                lo, hi, ind = _source(g, b, s, kd, pk, edge_off, src_ptr, src_grid, src_eptr)
                best = np.inf
                for t in range(lo, hi):
                    best = min(best, _edge_d2(cx, cy, e, src_eidx[t] if ind else t))
                lim = np.sqrt(best) + 2.0 * r + margin
                lim2 = lim * lim
                c = 0
                for t in range(lo, hi):
                    if _edge_d2(cx, cy, e, src_eidx[t] if ind else t) <= lim2:
                        c += 1
                dgrid[q + j] = g
                count[q + j] = c
                bound[q + j] = lim2
    return dgrid, count, bound


@njit(cache=True, parallel=True, nogil=True)
def dist_cell_edges(
    dcells, kd, frame, dptr, dgrid, bound, eptr, edge_off, e, pk, src_ptr, src_grid, src_eptr,
    src_eidx,
):  # fmt: skip
    """The candidate edges of every entry (``eidx``), by :func:`dist_cell_entries`' bounds."""
    x0, y0, c0, nx = frame
    kk = kd * kd
    eidx = np.empty(eptr[eptr.size - 1], np.int32)
    for b in prange(dcells.size):
        for s in range(kk):
            cx, cy, _r = _dcell_centre(dcells[b], s, int(nx), x0, y0, c0, kd)
            for q in range(dptr[b * kk + s], dptr[b * kk + s + 1]):
                g = dgrid[q]
                lo, hi, ind = _source(g, b, s, kd, pk, edge_off, src_ptr, src_grid, src_eptr)
                w = eptr[q]
                for t in range(lo, hi):
                    u = src_eidx[t] if ind else t
                    if _edge_d2(cx, cy, e, u) <= bound[q]:
                        eidx[w] = u
                        w += 1
    return eidx


@njit(cache=True, inline="always")
def _near_distance(
    x, y, g, x0, y0, inv_c0, nx, ny, cand, edge_off, e
):  # fmt: skip
    """Distance from (x, y) to grid ``g``'s boundary: over all its edges when it has at
    most ``few``, else over the candidate edges of the point's distance cell (all edges
    when the cell does not list ``g``: a point outside the table, or a grid the point is
    not located in). Same result as :func:`_packed_distance`.

    ``cand`` is ``(few, kd, dblock, dptr, dgrid, eptr, eidx)`` (one tuple: compiled calls
    take at most 30 arguments). Hot loops unpack it once and call :func:`_cand_distance`
    instead: a tuple of arrays handed to an inlined function costs reference-count
    updates on every call."""
    few, kd, dblock, dptr, dgrid, eptr, eidx = cand
    return _cand_distance(
        x, y, g, x0, y0, inv_c0, nx, ny, few, kd, dblock, dptr, dgrid, eptr, eidx, edge_off, e
    )


@njit(cache=True, inline="always")
def _cand_distance(
    x, y, g, x0, y0, inv_c0, nx, ny, few, kd, dblock, dptr, dgrid, eptr, eidx, edge_off, e
):  # fmt: skip
    """:func:`_near_distance` with the candidate arrays unpacked (the same number)."""
    q = _cand_entry(x, y, g, x0, y0, inv_c0, nx, ny, few, kd, dblock, dptr, dgrid, edge_off)
    if q < 0:
        return _packed_distance(x, y, g, edge_off, e)
    return _cand_min(x, y, q, eptr, eidx, e)


@njit(cache=True, inline="always")
def _cand_entry(x, y, g, x0, y0, inv_c0, nx, ny, few, kd, dblock, dptr, dgrid, edge_off):
    """Entry of grid ``g`` in the distance cell of (x, y), or -1: a grid of at most
    ``few`` edges, a point outside the table, or a cell that does not list ``g`` (then
    all its edges are measured)."""
    if edge_off[g + 1] - edge_off[g] > few:
        fx = (x - x0) * inv_c0
        fy = (y - y0) * inv_c0
        if fx >= 0.0 and fy >= 0.0 and fx < nx and fy < ny:
            ix = int(fx)
            iy = int(fy)
            b = dblock[iy * nx + ix]
            if b >= 0:
                sx = min(int((fx - ix) * kd), kd - 1)
                sy = min(int((fy - iy) * kd), kd - 1)
                c = b * kd * kd + sy * kd + sx
                for q in range(dptr[c], dptr[c + 1]):
                    if dgrid[q] == g:
                        return q
    return -1


@njit(cache=True, inline="always")
def _cand_min(x, y, q, eptr, eidx, e):
    """Distance from (x, y) over the candidate edges of entry ``q`` (:func:`pack_edges` rows)."""
    best = np.inf
    for j in range(eptr[q], eptr[q + 1]):
        best = min(best, _edge_d2(x, y, e, eidx[j]))
    return np.sqrt(best)


@njit(cache=True, inline="always")
def _fill_distance(
    x, y, g, x0, y0, inv_c0, nx, ny, few, kd, dblock, dptr, dgrid, eptr, eidx, edge_off, e, fe,
    buf,
):  # fmt: skip
    """:func:`_cand_distance` with the all-edges minimum on :func:`field_edges`
    (:func:`_field_distance`, scratch ``buf``): the same number, the bulk fill's."""
    q = _cand_entry(x, y, g, x0, y0, inv_c0, nx, ny, few, kd, dblock, dptr, dgrid, edge_off)
    if q < 0:
        return _field_distance(x, y, g, edge_off, fe, buf)
    return _cand_min(x, y, q, eptr, eidx, e)


@njit(cache=True, inline="always")
def _cell_buckets(px, py, x0, y0, inv_c0, nx, ny, shift):
    """Each point's bucket ``cell >> shift`` (0: outside the table) and each bucket's first
    place in the sorted order: the counting of :func:`cell_order` and :func:`cell_sort`."""
    n = px.size
    nb = ((nx * ny) >> shift) + 2
    key = np.empty(n, np.int32)
    start = np.zeros(nb + 1, np.int64)
    for i in range(n):
        fx = (px[i] - x0) * inv_c0
        fy = (py[i] - y0) * inv_c0
        kk = 0
        if fx >= 0.0 and fy >= 0.0 and fx < nx and fy < ny:
            kk = ((int(fy) * nx + int(fx)) >> shift) + 1
        key[i] = kk
        start[kk + 1] += 1
    for b in range(nb):
        start[b + 1] += start[b]
    return key, start


@njit(cache=True, nogil=True)
def cell_order(px, py, x0, y0, inv_c0, nx, ny, shift):
    """Point order by coarse cell (row by row; points outside the table first).

    A counting sort on ``cell >> shift`` (``shift`` keeps the buckets few): processed
    in this order, neighbouring points find their table entries, polygons and edges in
    the CPU cache, where in input order every point of a random batch misses it."""
    key, start = _cell_buckets(px, py, x0, y0, inv_c0, nx, ny, shift)
    perm = np.empty(px.size, np.int32)
    for i in range(px.size):
        kk = key[i]
        perm[start[kk]] = i
        start[kk] += 1
    return perm


@njit(cache=True, nogil=True)
def cell_sort(px, py, x0, y0, inv_c0, nx, ny, shift):
    """:func:`cell_order`, and the coordinates copied into that order: ``(perm, sx, sy)``
    with ``sx[j] = px[perm[j]]``, ``sy[j] = py[perm[j]]``.

    The copy is written while the points are sorted (each write to its bucket's run):
    the located points' pass then reads them one after the other, where gathering them
    as ``px[perm[j]]`` missed the cache on almost every point of a chunk larger than it
    (measured: a fifth of the whole fill)."""
    key, start = _cell_buckets(px, py, x0, y0, inv_c0, nx, ny, shift)
    n = px.size
    perm = np.empty(n, np.int32)
    sx = np.empty(n, np.float64)
    sy = np.empty(n, np.float64)
    for i in range(n):
        kk = key[i]
        j = start[kk]
        perm[j] = i
        sx[j] = px[i]
        sy[j] = py[i]
        start[kk] = j + 1
    return perm, sx, sy


@njit(cache=True, inline="always")
def _store(i, v, d, distance, near, grid, flag, dist):
    """Row ``i`` of the answer arrays from (grid or OUTSIDE, distance)."""
    if v < 0:
        grid[i] = 0
        flag[i] = 0
        dist[i] = 0.0
    else:
        grid[i] = v
        # numpy's round(d, 3): multiply, round half to even, divide
        dist[i] = np.rint(d * 1000.0) / 1000.0 if distance else 0.0
        flag[i] = 3 if distance and d <= near else 1


@njit(cache=True, nogil=True, _nrt=False)
def _fill_block(j0, j1, perm, px, py, table, exact, bands, dargs, distance, near, out, work):
    """:func:`locate_fill`'s three passes on points ``j0:j1`` of ``px, py`` (given in
    ``perm`` order: row ``j`` is input point ``perm[j]``), on one thread.

    Compiled without reference counting (it allocates nothing): a helper inlined in a
    loop that takes a tuple of arrays, or whose branches the pruner cannot follow, updates
    the arrays' reference counts (atomically) on every call, which measured more than half
    of this pass when it was compiled with them. The argument tuples are unpacked once
    here. ``work`` is ``(sv, sd, buf)``: scratch of at least ``j1`` rows, and of a grid's
    edges (:func:`_field_distance`)."""
    x0, y0, inv_c0, nx, ny, k, table0, table1 = table
    border_ptr, border_idx, xs, ys, ring_off, part_off, geom_off = exact
    ring_band0, ring_nband, ring_y0, ring_invh, band_ptr, band_seg = bands
    edge_off, edges, cand, fe = dargs
    few, kd, dblock, dptr, dgrid, eptr, eidx = cand
    grid, flag, dist = out
    sv, sd, buf = work
    for j in range(j0, j1):
        sv[j] = _lookup(px[j], py[j], x0, y0, inv_c0, nx, ny, k, table0, table1)
    for j in range(j0, j1):
        v = sv[j]
        x = px[j]
        y = py[j]
        if v <= -2:
            v = _exact(
                x, y, -(v + 2), border_ptr, border_idx, xs, ys, ring_off, part_off, geom_off,
                ring_band0, ring_nband, ring_y0, ring_invh, band_ptr, band_seg,
            )  # fmt: skip
        d = 0.0
        if v >= 0 and distance:
            d = _fill_distance(
                x, y, v, x0, y0, inv_c0, nx, ny, few, kd, dblock, dptr, dgrid, eptr, eidx,
                edge_off, edges, fe, buf,
            )  # fmt: skip
        sv[j] = v
        sd[j] = d
    for j in range(j0, j1):
        _store(perm[j], sv[j], sd[j], distance, near, grid, flag, dist)


@njit(cache=True, parallel=True)
def locate_fill(
    perm,
    px,
    py,
    x0,
    y0,
    inv_c0,
    nx,
    ny,
    k,
    table0,
    table1,
    border_ptr,
    border_idx,
    xs,
    ys,
    ring_off,
    part_off,
    geom_off,
    ring_band0,
    ring_nband,
    ring_y0,
    ring_invh,
    band_ptr,
    band_seg,
    edge_off,
    edges,
    cand,
    fields,
    distance,
    near,
    grid,
    flag,
    dist,
):
    """Grid, border distance and flags of every point, the points taken in ``perm`` order.

    Writes ``grid`` (the grid position, 0 where none), ``flag`` (1: the point lies in a
    grid, 3: also within ``near`` of its border, 0: in none) and ``dist`` (distance to
    its grid's border rounded to the millimetre as ``numpy.round(d, 3)``; 0 where none
    or ``not distance``).

    ``fields`` is ``(field_edges(edge_off, edges), most_edges(edge_off))``: the edges
    laid out for the all-edges minimum and the scratch it needs per thread.

    ``px, py`` are given in ``perm`` order (:func:`cell_sort`: by cell; row ``j`` is input
    point ``perm[j]``). Three parallel passes: table look-up; exact test where needed +
    distance; results back to input order. Each pass is a tight loop whose table entries,
    polygons and edges are those of the previous point's neighbourhood (in cache). The
    same passes as :func:`_fill_block` (the one-thread fills); the loop bodies of a
    parallel kernel get their arrays without reference counting, so they stay in the
    loops here."""
    few, kd, dblock, dptr, dgrid, eptr, eidx = cand
    fe, most = fields
    n = perm.size
    sv = np.empty(n, np.int32)
    sd = np.empty(n, np.float64)
    for j in prange(n):
        sv[j] = _lookup(px[j], py[j], x0, y0, inv_c0, nx, ny, k, table0, table1)
    # in blocks of points: each block's scratch for the distance allocated once
    for c in prange((n + _BLOCK - 1) // _BLOCK):
        buf = np.empty(most, np.float64)
        for j in range(c * _BLOCK, min(n, (c + 1) * _BLOCK)):
            v = sv[j]
            x = px[j]
            y = py[j]
            if v <= -2:
                v = _exact(
                    x, y, -(v + 2), border_ptr, border_idx, xs, ys, ring_off, part_off,
                    geom_off, ring_band0, ring_nband, ring_y0, ring_invh, band_ptr, band_seg,
                )  # fmt: skip
            d = 0.0
            if v >= 0 and distance:
                d = _fill_distance(
                    x, y, v, x0, y0, inv_c0, nx, ny, few, kd, dblock, dptr, dgrid, eptr, eidx,
                    edge_off, edges, fe, buf,
                )  # fmt: skip
            sv[j] = v
            sd[j] = d
    for j in prange(n):
        _store(perm[j], sv[j], sd[j], distance, near, grid, flag, dist)


@njit(cache=True, nogil=True)
def locate_fill_sorted(
    perm,
    px,
    py,
    x0,
    y0,
    inv_c0,
    nx,
    ny,
    k,
    table0,
    table1,
    border_ptr,
    border_idx,
    xs,
    ys,
    ring_off,
    part_off,
    geom_off,
    ring_band0,
    ring_nband,
    ring_y0,
    ring_invh,
    band_ptr,
    band_seg,
    edge_off,
    edges,
    cand,
    fields,
    distance,
    near,
    grid,
    flag,
    dist,
):
    """:func:`locate_fill` on one thread, without the GIL, ``px, py`` given in the order
    of ``perm`` (callers that run batches in several threads of their own; a few points
    in input order, ``perm`` the identity)."""
    n = perm.size
    table = (x0, y0, inv_c0, nx, ny, k, table0, table1)
    exact = (border_ptr, border_idx, xs, ys, ring_off, part_off, geom_off)
    bands = (ring_band0, ring_nband, ring_y0, ring_invh, band_ptr, band_seg)
    out = (grid, flag, dist)
    fe, most = fields
    work = (np.empty(n, np.int32), np.empty(n), np.empty(most))
    dargs = (edge_off, edges, cand, fe)
    _fill_block(0, n, perm, px, py, table, exact, bands, dargs, distance, near, out, work)


@njit(cache=True)
def locate_one(
    x,
    y,
    x0,
    y0,
    inv_c0,
    nx,
    ny,
    k,
    table0,
    table1,
    border_ptr,
    border_idx,
    xs,
    ys,
    ring_off,
    part_off,
    geom_off,
    ring_band0,
    ring_nband,
    ring_y0,
    ring_invh,
    band_ptr,
    band_seg,
    edge_off,
    edges,
    cand,
):
    """(grid or OUTSIDE, unrounded distance to its border or 0) of one point in one call."""
    few, kd, dblock, dptr, dgrid, eptr, eidx = cand
    v = _lookup(x, y, x0, y0, inv_c0, nx, ny, k, table0, table1)
    if v <= -2:
        v = _exact(
            x, y, -(v + 2), border_ptr, border_idx, xs, ys, ring_off, part_off, geom_off,
            ring_band0, ring_nband, ring_y0, ring_invh, band_ptr, band_seg,
        )  # fmt: skip
    if v < 0:
        return v, 0.0
    return v, _cand_distance(
        x, y, v, x0, y0, inv_c0, nx, ny, few, kd, dblock, dptr, dgrid, eptr, eidx, edge_off, edges
    )


@njit(cache=True, parallel=True)
def pack_flags(flag, valid, near_bits):
    """Arrow bitmaps (LSB first) of ``flag & 1`` and ``flag & 2``; returns the count of the first."""
    n = flag.size
    inside = 0
    for b in prange((n + 7) // 8):
        i0 = b * 8
        vb = 0
        nb = 0
        for i in range(i0, min(n, i0 + 8)):
            f = flag[i]
            vb |= (f & 1) << (i - i0)
            nb |= ((f >> 1) & 1) << (i - i0)
        valid[b] = vb
        near_bits[b] = nb
        inside += (
            (vb & 1)
            + ((vb >> 1) & 1)
            + ((vb >> 2) & 1)
            + ((vb >> 3) & 1)
            + ((vb >> 4) & 1)
            + ((vb >> 5) & 1)
            + ((vb >> 6) & 1)
            + ((vb >> 7) & 1)
        )
    return inside


@njit(cache=True, nogil=True)
def pack_flags_serial(flag, valid, near_bits):
    """:func:`pack_flags` on one thread."""
    n = flag.size
    inside = 0
    for b in range((n + 7) // 8):
        i0 = b * 8
        vb = 0
        nb = 0
        for i in range(i0, min(n, i0 + 8)):
            f = flag[i]
            vb |= (f & 1) << (i - i0)
            nb |= ((f >> 1) & 1) << (i - i0)
            inside += f & 1
        valid[b] = vb
        near_bits[b] = nb
    return inside
