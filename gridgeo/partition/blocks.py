"""Blocks: polygonise the road network inside one community, assign households, tidy slivers.

A block is a face of the planar graph formed by the community outline, the road
centrelines inside it and any extra outlines (closed compounds, villager groups).
The faces tile the community exactly, so any union of blocks is seamless and every
border between blocks lies on a road or on one of those outlines.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely import MultiPoint

from gridgeo.partition.aggregate import Graph

log = logging.getLogger(__name__)


@dataclass
class Blocks:
    """Block polygons of one community with the household points each holds."""

    geoms: list  # shapely Polygons
    members: list[np.ndarray]  # indices into the community's household arrays
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))
    medians: list = field(default_factory=list)  # centre lines found in split road strips

    def recompute(self, hh: np.ndarray) -> None:
        self.weights = np.array([float(hh[m].sum()) if len(m) else 0.0 for m in self.members])


def faces(
    area,
    lines,
    *,
    extra_lines=(),
    snap_m: float = 2.0,
    extend_m: float = 10.0,
    snap_boundary_m: float = 0.05,
) -> np.ndarray:
    """Faces of ``area``'s outline noded with ``lines`` (clipped to it), inside ``area``.

    Parameters
    ----------
    area
        Polygon or MultiPolygon (metres).
    lines
        Road centrelines (array of LineStrings); only their parts inside ``area`` count.
    extra_lines
        More outlines to cut along (compound or villager-group borders).
    snap_m, extend_m
        Dangling ends are joined to the nearest line or outline within ``snap_m``, or
        extended by up to ``extend_m`` to meet one (see :func:`clean.clean_roads`).
    snap_boundary_m
        Line vertices this close to the outline are snapped onto it first.

    Returns
    -------
    numpy.ndarray
        Polygons tiling ``area``, in a deterministic order.
    """
    from gridgeo.partition.clean import _connect_dangles, node_lines

    bnd = shapely.boundary(area)
    pieces = [bnd]
    cand = np.asarray(list(lines) + list(extra_lines), dtype=object)
    if len(cand):
        tree = shapely.STRtree(cand)
        idx = np.sort(tree.query(area, predicate="intersects"))
        if len(idx):
            clipped = shapely.intersection(cand[idx], area)
            parts = shapely.get_parts(clipped)
            parts = parts[np.isin(shapely.get_type_id(parts), [1, 2])]
            if len(parts) and snap_boundary_m > 0:
                parts = shapely.snap(parts, bnd, snap_boundary_m)
            pieces.extend(parts.tolist())
    noded = node_lines(pieces)
    if len(pieces) > 1:
        ext = _connect_dangles(noded, snap_m=snap_m, extend_m=extend_m, precision=0.001)
        if ext:
            noded = node_lines(np.concatenate([noded, np.array(ext, dtype=object)]))
    polys = shapely.get_parts(shapely.polygonize(noded))
    if len(polys) == 0:
        return (
            np.array([area], dtype=object)
            if area.geom_type == "Polygon"
            else shapely.get_parts(area)
        )
    # hair-thin faces between near-coincident lines (area below 1 cm²) are dropped: merged
    # into a block they would hang off it as a zero-width corridor that fakes contiguity
    polys = polys[shapely.area(polys) > 0.01]
    inside = shapely.covered_by(shapely.point_on_surface(polys), area)
    polys = polys[inside]
    # faces polygonize could not close (invalid rings from numerical noding): keep the gap too
    gap = shapely.difference(area, shapely.union_all(polys))
    if not gap.is_empty:
        extra = shapely.get_parts(gap)
        extra = extra[(shapely.get_type_id(extra) == 3) & (shapely.area(extra) > 0.01)]
        if len(extra):
            polys = np.concatenate([polys, extra])
    bad = ~shapely.is_valid(polys)
    if bad.any():
        fixed = shapely.get_parts(shapely.make_valid(polys[bad]))
        fixed = fixed[(shapely.get_type_id(fixed) == 3) & (shapely.area(fixed) > 0.01)]
        polys = np.concatenate([polys[~bad], fixed])
    cen = shapely.get_coordinates(shapely.centroid(polys))
    order = np.lexsort((np.round(cen[:, 0], 3), -np.round(cen[:, 1], 3)))
    return polys[order]


def assign_points(polys, xy: np.ndarray) -> np.ndarray:
    """Index of the polygon holding each point (first by index on shared borders; nearest if none)."""
    n = len(xy)
    out = np.full(n, -1, dtype=int)
    if n == 0 or len(polys) == 0:
        return out
    pts = shapely.points(xy)
    tree = shapely.STRtree(polys)
    pi, gi = tree.query(pts, predicate="intersects")
    order = np.lexsort((gi, pi))
    pi, gi = pi[order], gi[order]
    first = np.unique(pi, return_index=True)[1]
    out[pi[first]] = gi[first]
    missing = np.flatnonzero(out < 0)
    if len(missing):
        near = tree.nearest(pts[missing])
        out[missing] = near
    return out


def adjacency(polys, *, min_shared: float = 0.5) -> Graph:
    """Adjacency of polygons sharing at least ``min_shared`` metres of border."""
    polys = np.asarray(polys, dtype=object)
    n = len(polys)
    if n < 2:
        return Graph(n, np.zeros((0, 2), dtype=int), np.zeros(0))
    tree = shapely.STRtree(polys)
    a, b = tree.query(polys, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if len(a) == 0:
        return Graph(n, np.zeros((0, 2), dtype=int), np.zeros(0))
    bnd = shapely.boundary(polys)
    lengths = shapely.length(shapely.intersection(bnd[a], bnd[b]))
    ok = lengths >= min_shared
    return Graph(n, np.column_stack([a[ok], b[ok]]).astype(int), lengths[ok])


def polygonal(g):
    """Only the polygonal part of ``g`` (drops points and lines left by overlay noise)."""
    if g is None or g.is_empty:
        return g
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = shapely.get_parts(g)
    parts = parts[np.isin(shapely.get_type_id(parts), [3, 6])]
    return shapely.union_all(parts) if len(parts) else shapely.Polygon()


def poly_union(a, b):
    """Union of two polygonal geometries, polygonal."""
    return polygonal(shapely.union(a, b))


def _width(poly) -> float:
    per = poly.length
    return 2.0 * poly.area / per if per > 0 else 0.0


def _pp(poly) -> float:
    per = poly.length
    return 4 * np.pi * poly.area / per**2 if per > 0 else 0.0


def _sliver_neighbours(i, g, tree, geoms, alive, kinds, owners) -> list[tuple[float, int]]:
    """Live neighbours of sliver ``i`` as ``(shared border, index)``; a tiny sliver
    touching none falls back to its nearest block."""
    cand = [int(j) for j in tree.query(g, predicate="dwithin", distance=0.01) if j != i]
    # geometries in the tree are the originals: check live neighbours by current geometry
    nbrs = []
    for j in sorted(set(_resolve(cand, owners))):
        if j == i or not alive[j]:
            continue
        shared = shapely.intersection(g.boundary, geoms[j].boundary).length
        if shared >= 0.5 or (kinds[i] == "tiny" and shared > 0):
            nbrs.append((shared, j))
    if not nbrs and kinds[i] == "tiny":
        near = [j for j in sorted(set(_resolve(cand, owners))) if j != i]
        if near:
            dist = [shapely.distance(g, geoms[j]) for j in near]
            nbrs = [(0.0, near[int(np.argmin(dist))])]
    return nbrs


def _medial_lines(pieces: dict) -> list:
    """The lines where the pieces of a split strip meet (the road's middle)."""
    labs = sorted(pieces)
    out = []
    for a in range(len(labs)):
        for b in range(a + 1, len(labs)):
            line = shapely.intersection(pieces[labs[a]].boundary, pieces[labs[b]].boundary)
            parts = shapely.get_parts(line)
            parts = parts[np.isin(shapely.get_type_id(parts), [1, 2])]
            out.extend(parts.tolist())
    return out


def merge_slivers(
    blocks: Blocks,
    hh: np.ndarray,
    xy: np.ndarray,
    *,
    min_area: float,
    median_width: float,
    segment_m: float = 2.0,
) -> Blocks:
    """Absorb household-free slivers into neighbouring blocks.

    Tiny faces (``area < min_area``) join the neighbour with the longest shared border.
    Thin elongated empty strips (mean width ``< median_width`` and Polsby–Popper
    ``< 0.3``: the median between dual carriageways, a slip road's triangle) are split
    among their neighbours along their medial line, so the border runs down the middle
    of the road; that line is recorded in ``blocks.medians``.
    """
    geoms = list(blocks.geoms)
    members = list(blocks.members)
    alive = [True] * len(geoms)
    weights = np.array([float(hh[m].sum()) if len(m) else 0.0 for m in members])

    def is_sliver(i: int) -> str | None:
        if weights[i] > 0 or len(members[i]) > 0:
            return None
        g = geoms[i]
        if g.area < min_area:
            return "tiny"
        if _width(g) < median_width and _pp(g) < 0.3:
            return "thin"
        return None

    kinds = [is_sliver(i) for i in range(len(geoms))]
    order = sorted((i for i, k in enumerate(kinds) if k), key=lambda i: (geoms[i].area, i))
    if not order:
        return blocks
    medians = list(blocks.medians)
    tree = shapely.STRtree(np.array(geoms, dtype=object))
    owners: dict[int, list[int]] = {}
    for i in order:
        g = geoms[i]
        nbrs = _sliver_neighbours(i, g, tree, geoms, alive, kinds, owners)
        if not nbrs:
            continue
        solid = [x for x in nbrs if not kinds[x[1]]] or nbrs
        if kinds[i] == "tiny" or len(solid) == 1:
            _, j = max(solid, key=lambda x: (x[0], -x[1]))
            geoms[j] = poly_union(geoms[j], g)
            alive[i] = False
            owners[i] = [j]
            continue
        pieces = _split_medial(g, [(j, geoms[j]) for _, j in solid], segment_m)
        if pieces is None:
            _, j = max(solid, key=lambda x: (x[0], -x[1]))
            geoms[j] = poly_union(geoms[j], g)
            alive[i] = False
            owners[i] = [j]
            continue
        for j, piece in pieces.items():
            geoms[j] = poly_union(geoms[j], piece)
        labs = sorted(pieces)
        medians.extend(_medial_lines(pieces))
        alive[i] = False
        owners[i] = labs
    out_geoms, out_members = [], []
    for i, g in enumerate(geoms):
        if alive[i]:
            out_geoms.append(g)
            out_members.append(members[i])
    if len(medians) > len(blocks.medians):
        new = shapely.line_merge(shapely.union_all(medians[len(blocks.medians) :]))
        medians = list(blocks.medians) + [
            p for p in shapely.get_parts(new) if p.geom_type == "LineString"
        ]
    res = Blocks(out_geoms, out_members, medians=medians)
    res = explode(res, hh, xy)
    return res


def tidy_blocks(
    blocks: Blocks,
    hh: np.ndarray,
    xy: np.ndarray,
    *,
    min_area: float,
    median_width: float,
    passes: int = 3,
) -> Blocks:
    """Run :func:`merge_slivers` until nothing changes (parallel strips merge pairwise per pass)."""
    for _ in range(passes):
        before = len(blocks.geoms)
        blocks = merge_slivers(blocks, hh, xy, min_area=min_area, median_width=median_width)
        if len(blocks.geoms) == before:
            break
    return blocks


def _resolve(cand, owners: dict[int, list[int]]) -> list[int]:
    out: list[int] = []
    stack = list(cand)
    seen: set[int] = set()
    while stack:
        j = stack.pop()
        if j in seen:
            continue
        seen.add(j)
        if j in owners:
            stack.extend(owners[j])
        else:
            out.append(j)
    return out


def explode(blocks: Blocks, hh: np.ndarray, xy: np.ndarray | None = None) -> Blocks:
    """Split multi-part blocks into single polygons, each keeping the households it covers."""
    geoms, members = [], []
    for g, m in zip(blocks.geoms, blocks.members, strict=True):
        parts = shapely.get_parts(g)
        parts = parts[shapely.area(parts) > 0]
        if len(parts) <= 1:
            geoms.append(parts[0] if len(parts) else g)
            members.append(m)
            continue
        if len(m) and xy is not None:
            where = assign_points(parts, xy[m])
        else:
            where = np.full(len(m), int(np.argmax(shapely.area(parts))))
        for k, p in enumerate(parts):
            geoms.append(p)
            members.append(np.asarray(m)[where == k] if len(m) else np.asarray(m))
    res = Blocks(geoms, members, medians=list(blocks.medians))
    res.recompute(hh)
    return res


def _split_medial(strip, neighbours, segment_m: float):
    """Cut ``strip`` between its neighbours: each part goes to the neighbour it is nearest to."""
    pts, labels = [], []
    for j, ng in neighbours:
        shared = shapely.intersection(strip.boundary, ng.boundary)
        parts = shapely.get_parts(shared)
        parts = parts[np.isin(shapely.get_type_id(parts), [1, 2])]
        for p in parts:
            c = shapely.get_coordinates(shapely.segmentize(p, segment_m))
            pts.append(c)
            labels.extend([j] * len(c))
    if not pts:
        return None
    xy = np.vstack(pts)
    xy_r = np.round(xy, 3)
    _, first = np.unique(xy_r, axis=0, return_index=True)
    first = np.sort(first)
    xy = xy[first]
    labels = np.array(labels)[first]
    if len(set(labels.tolist())) < 2:
        return None
    cells = shapely.get_parts(
        shapely.voronoi_polygons(MultiPoint(xy), extend_to=strip, ordered=True)
    )
    if len(cells) != len(xy):
        return None
    cells = shapely.intersection(cells, strip)
    out = {}
    for j in sorted(set(labels.tolist())):
        piece = shapely.union_all(cells[labels == j])
        if not piece.is_empty and piece.area > 0:
            out[j] = piece
    return out if len(out) >= 2 else None
