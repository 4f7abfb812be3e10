"""The sliver merge and dangle connection as they were before they were batched (loops).

Kept verbatim as a reference: ``tests/test_blocks_slivers.py`` checks the batched
:func:`gridgeo.partition.blocks.merge_slivers` and
:func:`gridgeo.partition.clean._connect_dangles` against them, and
``benchmarks/bench_partition.py`` times both on the same blocks. The loop cuts a strip with
the library's :func:`gridgeo.partition.medial.split_medial` (what is compared is the merge);
the per-cell Voronoi split it used before is kept as :func:`split_medial_cells`, the
reference for that split (``tests/test_blocks_medial.py``).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import shapely
from shapely import LineString, MultiPoint

from gridgeo.partition.blocks import Blocks, _pp, _width, explode, poly_union
from gridgeo.partition.medial import split_medial


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


def merge_slivers_loop(
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
        shared = [(j, shapely.intersection(g.boundary, geoms[j].boundary)) for _, j in solid]
        split = split_medial(g, shared, segment_m)
        if split is None:
            _, j = max(solid, key=lambda x: (x[0], -x[1]))
            geoms[j] = poly_union(geoms[j], g)
            alive[i] = False
            owners[i] = [j]
            continue
        pieces, lines = split
        for j, piece in pieces.items():
            geoms[j] = poly_union(geoms[j], piece)
        labs = sorted(pieces)
        medians.extend(lines)
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


def tidy_blocks_loop(
    blocks: Blocks,
    hh: np.ndarray,
    xy: np.ndarray,
    *,
    min_area: float,
    median_width: float,
    passes: int = 3,
) -> Blocks:
    """Run :func:`merge_slivers_loop` until nothing changes (parallel strips merge pairwise per pass)."""
    for _ in range(passes):
        before = len(blocks.geoms)
        blocks = merge_slivers_loop(blocks, hh, xy, min_area=min_area, median_width=median_width)
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


def split_medial_cells(strip, neighbours, segment_m: float):
    """Cut ``strip`` between its neighbours: each part goes to the neighbour it is nearest to
    (one Voronoi cell per sample, clipped to the strip, joined per neighbour)."""
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


def connect_dangles_loop(
    lines: np.ndarray, *, snap_m: float, extend_m: float, precision: float
) -> list[LineString]:
    """Segments that connect dangling line ends to the nearest road they point at."""
    if extend_m <= 0 and snap_m <= 0:
        return []
    coords = [shapely.get_coordinates(g) for g in lines]
    ends = Counter()
    for c in coords:
        ends[tuple(np.round(c[0], 3))] += 1
        ends[tuple(np.round(c[-1], 3))] += 1
    tree = shapely.STRtree(lines)
    out: list[LineString] = []
    for i, c in enumerate(coords):
        if len(c) < 2:
            continue
        for end, prev in ((c[-1], c[-2]), (c[0], c[1])):
            if ends[tuple(np.round(end, 3))] != 1:
                continue
            d = end - prev
            norm = float(np.hypot(*d))
            if norm == 0:
                continue
            d = d / norm
            target = None
            if extend_m > 0:
                ray = LineString([end + d * precision * 2, end + d * extend_m])
                hits = tree.query(ray, predicate="intersects")
                best = None
                for j in hits:
                    if j == i:
                        continue
                    inter = shapely.intersection(ray, lines[j])
                    if inter.is_empty:
                        continue
                    dist = shapely.distance(shapely.points(end), inter)
                    if best is None or dist < best[0]:
                        pts = shapely.get_coordinates(inter)
                        k = int(np.argmin(np.hypot(*(pts - end).T)))
                        best = (dist, pts[k])
                if best is not None:
                    target = best[1]
            if target is None and snap_m > 0:
                p = shapely.points(end)
                hits = tree.query(p, predicate="dwithin", distance=snap_m)
                best = None
                for j in hits:
                    if j == i:
                        continue
                    dist = shapely.distance(p, lines[j])
                    if dist <= precision:
                        continue
                    if best is None or dist < best[0]:
                        q = shapely.line_interpolate_point(
                            lines[j], shapely.line_locate_point(lines[j], p)
                        )
                        best = (dist, shapely.get_coordinates(q)[0])
                if best is not None:
                    target = best[1]
            if target is not None:
                out.append(LineString([end, target]))
    return out
