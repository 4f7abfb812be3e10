"""Compiled passes of the attribution and the daily sums (numba).

* :func:`classify_legs` — one parallel pass over all fixes: each patrol leg's length and
  whether it can be given whole to one grid without geometry (both ends in one table
  cell or sub-cell that is one grid's or no grid's; or both ends in one grid and the leg
  shorter than its start's distance to the grid's border, or meeting none of the grid's
  edges). Only the rest (legs that may cross a border) go to GEOS.
* :func:`leg_cuts` — where the remaining legs meet grid rings (exact segment–edge
  meets; the candidate grids come from an STR-tree on bounding boxes).
* :func:`assemble_parts` — all leg parts, in fix order, in one pass.
* :func:`day_runs` — consecutive leg parts of one worker, day and grid summed into one
  row, so that the final group-by sees thousands of rows instead of millions.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from gridgeo.locate._kernels import _near_distance  # distance to a grid's boundary

#: :func:`classify_legs` status: not a patrol leg / wholly in one grid (or none) / may cross.
NO_LEG, WHOLE, CROSSES = 0, 1, 2
_DAY_S = 86400.0


@njit(cache=True, inline="always")
def _box(fx, fy, k):  # pragma: no cover - compiled
    """(column, row, sub-column, sub-row) of a point given in cell units (as the locate kernel)."""
    ix = math.floor(fx)
    iy = math.floor(fy)
    sx = min(int((fx - ix) * k), k - 1)
    sy = min(int((fy - iy) * k), k - 1)
    return ix, iy, sx, sy


@njit(cache=True, inline="always")
def _one_owner(fxa, fya, fxb, fyb, nx, ny, k, cells, subcells):  # pragma: no cover - compiled
    """Both points in one coarse cell, or one sub-cell, that is wholly one grid's or none's."""
    ia, ja, sa, ta = _box(fxa, fya, k)
    ib, jb, sb, tb = _box(fxb, fyb, k)
    if ia != ib or ja != jb:
        return False
    if ia < 0 or ja < 0 or ia >= nx or ja >= ny:
        return True  # one cell beyond the table: outside every grid
    v = cells[ja * nx + ia]
    if v >= -1:
        return True
    if sa != sb or ta != tb:
        return False
    return subcells[-(v + 2) * k * k + ta * k + sa] >= -1


@njit(cache=True, inline="always")
def _touches_border(xa, ya, xb, yb, g, xs, ys, ring_off, part_off, geom_off):  # pragma: no cover
    """Whether segment a–b meets (crosses or touches) any edge of grid ``g``'s rings."""
    ex0 = min(xa, xb)
    ex1 = max(xa, xb)
    ey0 = min(ya, yb)
    ey1 = max(ya, yb)
    for p in range(geom_off[g], geom_off[g + 1]):
        for r in range(part_off[p], part_off[p + 1]):
            for j in range(ring_off[r], ring_off[r + 1] - 1):
                cx, cy, dx, dy = xs[j], ys[j], xs[j + 1], ys[j + 1]
                if max(cx, dx) < ex0 or min(cx, dx) > ex1 or max(cy, dy) < ey0 or min(cy, dy) > ey1:
                    continue
                d1 = (xb - xa) * (cy - ya) - (yb - ya) * (cx - xa)
                d2 = (xb - xa) * (dy - ya) - (yb - ya) * (dx - xa)
                d3 = (dx - cx) * (ya - cy) - (dy - cy) * (xa - cx)
                d4 = (dx - cx) * (yb - cy) - (dy - cy) * (xb - cx)
                if (d1 * d2 <= 0.0) and (d3 * d4 <= 0.0):
                    return True  # conservative: touching and collinear count as meeting
    return False


@njit(cache=True, parallel=True)
def classify_legs(
    x,
    y,
    g,
    ok,
    x0,
    y0,
    inv,
    nx,
    ny,
    k,
    cells,
    subcells,
    xs,
    ys,
    ring_off,
    part_off,
    geom_off,
    edge_off,
    edges,
    cand,
):  # pragma: no cover - compiled
    """Per fix ``i``: the length of leg ``i → i + 1`` and its status (see module doc).

    ``g`` is each fix's grid (``-1``: none), ``ok[i]`` whether leg ``i`` is patrol. A leg
    of length 0 is WHOLE (the fix's own grid). ``edge_off, edges, cand``: the grids' edges
    and candidate edges per distance cell as
    :meth:`gridgeo.locate.GridIndex.border_distance_arrays` gives them (the distance to a
    grid's border is the locate answer's own kernel).
    """
    n = x.size
    length = np.zeros(n, np.float64)
    status = np.zeros(n, np.int8)
    for i in prange(n - 1):
        if not ok[i]:
            continue
        xa, ya, xb, yb = x[i], y[i], x[i + 1], y[i + 1]
        d = math.hypot(xb - xa, yb - ya)
        length[i] = d
        ga, gb = g[i], g[i + 1]
        if d == 0.0:
            status[i] = WHOLE
            continue
        if ga != gb:
            status[i] = CROSSES
            continue
        fxa, fya = (xa - x0) * inv, (ya - y0) * inv
        fxb, fyb = (xb - x0) * inv, (yb - y0) * inv
        if _one_owner(fxa, fya, fxb, fyb, nx, ny, k, cells, subcells):
            status[i] = WHOLE  # a square wholly in one grid or in none is convex
            continue
        if ga >= 0 and (
            d
            < _near_distance(
                xa,
                ya,
                ga,
                x0,
                y0,
                inv,
                nx,
                ny,
                cand,
                edge_off,
                edges,
            )
            or not _touches_border(xa, ya, xb, yb, ga, xs, ys, ring_off, part_off, geom_off)
        ):
            status[i] = WHOLE  # both ends in grid ga and no edge of it met: wholly inside
            continue
        status[i] = CROSSES
    return length, status


@njit(cache=True)
def assemble_parts(status, g, t, length, cfix, cgrid, cf0, cf1, clen):  # pragma: no cover
    """All leg parts in fix order: WHOLE legs from the arrays, CROSSES legs' parts given.

    ``cfix, cgrid, cf0, cf1, clen`` are the cut legs' parts, sorted by ``cfix`` then
    ``cf0`` (``clen`` is the whole leg's length). Returns ``(fix, grid, t0, t1, f0, f1,
    length)``.
    """
    m = cfix.size
    for i in range(status.size):
        if status[i] == WHOLE:
            m += 1
    fix = np.empty(m, np.int64)
    grid = np.empty(m, np.int32)
    t0 = np.empty(m, np.float64)
    t1 = np.empty(m, np.float64)
    f0 = np.empty(m, np.float64)
    f1 = np.empty(m, np.float64)
    ln = np.empty(m, np.float64)
    j = 0
    c = 0
    for i in range(status.size):
        if status[i] == WHOLE:
            fix[j] = i
            grid[j] = g[i]
            t0[j] = t[i]
            t1[j] = t[i + 1]
            f0[j] = 0.0
            f1[j] = 1.0
            ln[j] = length[i]
            j += 1
        elif status[i] == CROSSES:
            while c < cfix.size and cfix[c] == i:
                dt = t[i + 1] - t[i]
                fix[j] = i
                grid[j] = cgrid[c]
                t0[j] = t[i] + cf0[c] * dt
                t1[j] = t[i] + cf1[c] * dt
                f0[j] = cf0[c]
                f1[j] = cf1[c]
                ln[j] = (cf1[c] - cf0[c]) * clen[c]
                j += 1
                c += 1
    return fix, grid, t0, t1, f0, f1, ln


@njit(cache=True)
def day_runs(worker_code, fix, grid, t0, t1, length, tz_offset):  # pragma: no cover - compiled
    """Sum consecutive parts of one (worker, local day, grid): ``(w, d, g, s, m, first, last)``.

    A part counts on the local day its start falls in; runs only merge neighbours, so
    any order of parts is fine (the caller still groups the runs).
    """
    n = fix.size
    w = np.empty(n, np.int64)
    d = np.empty(n, np.int64)
    gg = np.empty(n, np.int32)
    secs = np.empty(n, np.float64)
    metres = np.empty(n, np.float64)
    first = np.empty(n, np.float64)
    last = np.empty(n, np.float64)
    r = -1
    for i in range(n):
        wi = worker_code[fix[i]]
        di = np.int64(math.floor((t0[i] + tz_offset) / _DAY_S))
        gi = grid[i]
        if r < 0 or wi != w[r] or di != d[r] or gi != gg[r]:
            r += 1
            w[r], d[r], gg[r] = wi, di, gi
            secs[r] = 0.0
            metres[r] = 0.0
            first[r] = t0[i]
            last[r] = t1[i]
        secs[r] += t1[i] - t0[i]
        metres[r] += length[i]
        first[r] = min(first[r], t0[i])
        last[r] = max(last[r], t1[i])
    r += 1
    return w[:r], d[:r], gg[:r], secs[:r], metres[:r], first[:r], last[:r]


@njit(cache=True, inline="always")
def _edge_cuts(ax, ay, bx, by, cx, cy, dx, dy, out, m):  # pragma: no cover - compiled
    """Write the fractions along a–b where it meets edge c–d into ``out[m:]``; new ``m``."""
    rx, ry = bx - ax, by - ay
    sx, sy = dx - cx, dy - cy
    qx, qy = cx - ax, cy - ay
    den = rx * sy - ry * sx
    ll = rx * rx + ry * ry
    if den != 0.0:
        f = (qx * sy - qy * sx) / den
        u = (qx * ry - qy * rx) / den
        if 0.0 <= f <= 1.0 and 0.0 <= u <= 1.0:
            out[m] = f
            m += 1
    elif qx * ry - qy * rx == 0.0 and ll > 0.0:  # collinear: the overlap's ends
        for px, py in ((cx, cy), (dx, dy)):
            f = ((px - ax) * rx + (py - ay) * ry) / ll
            if 0.0 <= f <= 1.0:
                out[m] = f
                m += 1
    return m


@njit(cache=True)
def leg_cuts(pair_leg, pair_grid, x0, y0, x1, y1, xs, ys, ring_off, part_off, geom_off):
    """Fractions along leg ``pair_leg[k]`` where it meets the rings of grid ``pair_grid[k]``.

    Returns ``(leg, fraction)`` per meeting point (a collinear overlap gives both ends).
    """  # pragma: no cover - compiled
    cap = 16
    leg = np.empty(cap, np.int64)
    frac = np.empty(cap, np.float64)
    buf = np.empty(2, np.float64)
    m = 0
    for k in range(pair_leg.size):
        i = pair_leg[k]
        g = pair_grid[k]
        ax, ay, bx, by = x0[i], y0[i], x1[i], y1[i]
        ex0, ex1 = min(ax, bx), max(ax, bx)
        ey0, ey1 = min(ay, by), max(ay, by)
        for p in range(geom_off[g], geom_off[g + 1]):
            for r in range(part_off[p], part_off[p + 1]):
                for j in range(ring_off[r], ring_off[r + 1] - 1):
                    cx, cy, dx, dy = xs[j], ys[j], xs[j + 1], ys[j + 1]
                    if (
                        max(cx, dx) < ex0
                        or min(cx, dx) > ex1
                        or max(cy, dy) < ey0
                        or min(cy, dy) > ey1
                    ):
                        continue
                    c = _edge_cuts(ax, ay, bx, by, cx, cy, dx, dy, buf, 0)
                    for q in range(c):
                        if m == cap:
                            cap *= 2
                            leg2 = np.empty(cap, np.int64)
                            frac2 = np.empty(cap, np.float64)
                            leg2[:m] = leg[:m]
                            frac2[:m] = frac[:m]
                            leg, frac = leg2, frac2
                        leg[m] = i
                        frac[m] = buf[q]
                        m += 1
    return leg[:m], frac[:m]


@njit(cache=True, parallel=True)
def too_fast(w, t, lon, lat, vmax, max_gap, earth_r):  # pragma: no cover - compiled
    """Per leg ``i → i + 1`` (``n - 1`` of them): one worker, no gap, faster than ``vmax``.

    The distance is the haversine great-circle distance of :func:`gridgeo.tracks.clean.haversine_m`.
    """
    n = t.size
    out = np.zeros(max(n - 1, 0), np.bool_)
    for i in prange(n - 1):
        dt = t[i + 1] - t[i]
        if w[i + 1] != w[i] or dt > max_gap:
            continue
        p0 = math.radians(lat[i])
        p1 = math.radians(lat[i + 1])
        dl = math.radians(lon[i + 1] - lon[i])
        a = math.sin((p1 - p0) / 2) ** 2 + math.cos(p0) * math.cos(p1) * math.sin(dl / 2) ** 2
        d = 2 * earth_r * math.asin(math.sqrt(min(a, 1.0)))
        out[i] = d > vmax * dt
    return out


@njit(cache=True)
def fix_days(w, t, g, row, tz_offset):  # pragma: no cover - compiled
    """Per run of fixes of one worker and local day: ``(w, day, first row, fixes in a grid)``.

    Fixes sorted by worker and time give one run per worker-day.
    """
    n = t.size
    rw = np.empty(n, np.int64)
    rd = np.empty(n, np.int64)
    rrow = np.empty(n, np.int64)
    rin = np.empty(n, np.int64)
    r = -1
    for i in range(n):
        d = np.int64(math.floor((t[i] + tz_offset) / _DAY_S))
        if r < 0 or w[i] != rw[r] or d != rd[r]:
            r += 1
            rw[r], rd[r], rrow[r], rin[r] = w[i], d, row[i], 0
        rrow[r] = min(rrow[r], row[i])
        if g[i] >= 0:
            rin[r] += 1
    r += 1
    return rw[:r], rd[:r], rrow[:r], rin[:r]
