"""Compiled per-leg pass of the attribution (numba): length and the cheap "cannot cross" test."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def leg_pass(x, y, a, x0, y0, inv, nx, ny, table0):  # pragma: no cover - compiled
    """Per leg ``a[i] → a[i] + 1``: its length, and whether both ends lie in one coarse
    cell that is wholly one grid's or no grid's (then it cannot cross a border)."""
    n = a.size
    length = np.empty(n, np.float64)
    plain = np.zeros(n, np.bool_)
    for i in prange(n):
        p = a[i]
        xa, ya, xb, yb = x[p], y[p], x[p + 1], y[p + 1]
        length[i] = math.hypot(xb - xa, yb - ya)
        ia = math.floor((xa - x0) * inv)
        ja = math.floor((ya - y0) * inv)
        if ia != math.floor((xb - x0) * inv) or ja != math.floor((yb - y0) * inv):
            continue
        if ia < 0 or ja < 0 or ia >= nx or ja >= ny:
            plain[i] = True  # one cell beyond the table: outside every grid
        else:
            plain[i] = table0[int(ja) * nx + int(ia)] >= -1
    return length, plain
