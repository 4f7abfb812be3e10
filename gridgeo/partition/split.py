"""Cut a block that alone holds more households than the ceiling.

The cut runs between clusters of household points, never through a point: the
household units (a point, or all points of one compound) are divided by recursive
weighted bisection along their principal axis until every cluster is at or below the
ceiling; the block is then divided by the Voronoi cells of the points, so every cut
line is a perpendicular bisector between two points of different clusters. Points
of one compound (``compound_id``) or one location are never separated. A block
whose households form a single unit cannot be cut; it stays whole (the caller
reports it).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import shapely
from shapely import MultiPoint

from gridgeo.partition.blocks import poly_union

log = logging.getLogger(__name__)


def _units(xy: np.ndarray, compound: np.ndarray | None) -> np.ndarray:
    """Unit id per point: points at one location or in one compound form one unit."""
    n = len(xy)
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    first: dict = {}
    for i, key in enumerate(map(tuple, np.round(xy, 2))):
        if key in first:
            union(first[key], i)
        else:
            first[key] = i
    if compound is not None:
        seen: dict = {}
        for i, c in enumerate(compound):
            if c is None or (isinstance(c, float) and math.isnan(c)) or c == "":
                continue
            if c in seen:
                union(seen[c], i)
            else:
                seen[c] = i
    roots = np.array([find(i) for i in range(n)])
    _, inv = np.unique(roots, return_inverse=True)
    return inv


def _hamlets(unit: np.ndarray, uw: np.ndarray, uxy: np.ndarray, *, eps: float, ceiling: float):
    """Merge units into hamlets (DBSCAN) where a hamlet stays at or below the ceiling."""
    from sklearn.cluster import DBSCAN

    if len(uw) < 2:
        return unit, uw, uxy
    ham = DBSCAN(eps=eps, min_samples=1).fit_predict(uxy)
    hw = np.bincount(ham, weights=uw)
    # a hamlet above the ceiling keeps its units separate
    key = np.where(hw[ham] <= ceiling, ham, ham.max() + 1 + np.arange(len(uw)))
    _, new = np.unique(key, return_inverse=True)
    n = int(new.max()) + 1
    w2 = np.bincount(new, weights=uw, minlength=n)
    xy2 = (
        np.column_stack(
            [
                np.bincount(new, weights=uxy[:, 0] * uw, minlength=n),
                np.bincount(new, weights=uxy[:, 1] * uw, minlength=n),
            ]
        )
        / np.maximum(w2, 1e-9)[:, None]
    )
    return new[unit], w2, xy2


def cluster_units(uxy: np.ndarray, uw: np.ndarray, *, ceiling: float) -> np.ndarray:
    """Cluster label per unit such that every cluster weighs at most ``ceiling`` when possible."""
    labels = np.zeros(len(uw), dtype=int)
    next_label = [0]

    def rec(idx: np.ndarray) -> None:
        total = float(uw[idx].sum())
        if total <= ceiling or len(idx) == 1:
            labels[idx] = next_label[0]
            next_label[0] += 1
            return
        k = math.ceil(total / ceiling)
        k1 = k // 2
        target = total * k1 / k
        pts = uxy[idx]
        wts = uw[idx]
        centre = (pts * wts[:, None]).sum(0) / max(wts.sum(), 1e-9)
        d = pts - centre
        cov = (d * wts[:, None]).T @ d
        if not np.isfinite(cov).all() or np.allclose(cov, 0):
            axis = np.array([1.0, 0.0])
        else:
            vals, vecs = np.linalg.eigh(cov)
            axis = vecs[:, int(np.argmax(vals))]
            if axis[0] < 0 or (axis[0] == 0 and axis[1] < 0):
                axis = -axis
        proj = d @ axis
        order = np.lexsort((idx, np.round(proj, 6)))
        cum = np.cumsum(wts[order])
        # cut after position c (1..len-1): choose closest to target
        c = int(np.argmin(np.abs(cum[:-1] - target))) + 1
        rec(idx[order[:c]])
        rec(idx[order[c:]])

    rec(np.arange(len(uw)))
    return labels


def split_block(
    poly,
    xy: np.ndarray,
    weights: np.ndarray,
    *,
    ceiling: float,
    compound: np.ndarray | None = None,
    hamlet_eps_m: float | None = None,
) -> list[tuple[object, np.ndarray]]:
    """Cut ``poly`` between household clusters so each piece holds at most ``ceiling``.

    Parameters
    ----------
    poly
        The block polygon (metres).
    xy, weights
        Household points inside it and their household counts.
    ceiling
        Maximum households per piece.
    compound
        Optional compound id per point; a compound is never split.
    hamlet_eps_m
        Rural villages: points chained within this distance form a hamlet (DBSCAN with
        ``min_samples=1``); a hamlet at or below the ceiling is kept whole.

    Returns
    -------
    list of (polygon, point indices)
        Pieces tiling ``poly``; a single piece ``[(poly, all)]`` when the households
        form one indivisible unit. Pieces without households are merged into the
        neighbouring piece with which they share the longest border.
    """
    n = len(xy)
    allidx = np.arange(n)
    if n == 0 or float(np.sum(weights)) <= ceiling:
        return [(poly, allidx)]
    unit = _units(xy, compound)
    nu = int(unit.max()) + 1
    if nu == 1:
        return [(poly, allidx)]
    uw, uxy = _unit_weights_and_centres(unit, nu, xy, weights)
    if hamlet_eps_m:
        unit, uw, uxy = _hamlets(unit, uw, uxy, eps=hamlet_eps_m, ceiling=ceiling)
        nu = len(uw)
    ulab = cluster_units(uxy, uw, ceiling=ceiling)
    plab = ulab[unit]
    if len(set(plab.tolist())) == 1:
        return [(poly, allidx)]
    # Voronoi of distinct locations
    locs, loc_first, loc_inv = np.unique(
        np.round(xy, 2), axis=0, return_index=True, return_inverse=True
    )
    loc_inv = np.asarray(loc_inv).ravel()
    loc_lab = plab[loc_first]
    if len(locs) == 1:
        return [(poly, allidx)]
    cells = shapely.get_parts(
        shapely.voronoi_polygons(MultiPoint(locs), extend_to=poly, ordered=True)
    )
    if len(cells) != len(locs):
        log.warning(
            "Voronoi returned %d cells for %d points; block not split", len(cells), len(locs)
        )
        return [(poly, allidx)]
    cells = shapely.intersection(cells, poly)
    return _pieces_from_cells(cells, loc_lab, plab, allidx, xy)


def _unit_weights_and_centres(unit, nu, xy, weights) -> tuple[np.ndarray, np.ndarray]:
    """Households and mean point location of each indivisible unit."""
    uw = np.bincount(unit, weights=weights, minlength=nu)
    cnt = np.bincount(unit, minlength=nu)
    uxy = (
        np.column_stack(
            [
                np.bincount(unit, weights=xy[:, 0], minlength=nu),
                np.bincount(unit, weights=xy[:, 1], minlength=nu),
            ]
        )
        / cnt[:, None]
    )
    return uw, uxy


def _pieces_from_cells(cells, loc_lab, plab, allidx, xy) -> list[tuple[object, np.ndarray]]:
    """Union the Voronoi cells of each cluster into pieces; a piece falling apart keeps
    each part that holds households, and household-free fragments join the piece with
    which they share the longest border."""
    pieces: list[tuple[object, np.ndarray]] = []
    empty_parts = []
    for lab in sorted(set(loc_lab.tolist())):
        geom = shapely.union_all(cells[loc_lab == lab])
        pts_idx = allidx[plab == lab]
        parts = shapely.get_parts(geom)
        parts = parts[shapely.area(parts) > 1e-6]
        if len(parts) == 1:
            pieces.append((parts[0], pts_idx))
            continue
        pts = shapely.points(xy[pts_idx])
        holder = np.full(len(pts_idx), -1)
        for k, p in enumerate(parts):
            hit = shapely.covers(p, pts) & (holder < 0)
            holder[hit] = k
        if (holder < 0).any():
            miss = np.flatnonzero(holder < 0)
            dists = np.array([[shapely.distance(p, pts[i]) for p in parts] for i in miss])
            holder[miss] = np.argmin(dists, axis=1)
        for k, p in enumerate(parts):
            mine = pts_idx[holder == k]
            if len(mine):
                pieces.append((p, mine))
            else:
                empty_parts.append(p)
    for frag in empty_parts:
        shared = [shapely.intersection(frag.boundary, p.boundary).length for p, _ in pieces]
        j = int(np.argmax(shared))
        pieces[j] = (poly_union(pieces[j][0], frag), pieces[j][1])
    return pieces
