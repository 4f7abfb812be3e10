"""Tidy grid geometry: one valid polygon per grid, no household-free specks.

Overlay noise leaves specks, hair-thin slivers and parts touching at a point; these
helpers remove or join them without opening gaps above the seam tolerance.
"""

from __future__ import annotations

import shapely

from gridgeo.partition.blocks import poly_union, polygonal


def clean_polygon(geom, *, speck_m2: float = 0.01, bridge: float = 0.001, join: float = 0.05):
    """A valid polygon: repaired if invalid, without parts smaller than ``speck_m2``.

    Overlay noise leaves specks and hair-thin slivers (mm² to dm²) detached from a
    grid; they are dropped (the caller uses half the seam tolerance) so that a grid
    stays one Polygon. The seam-error metric still counts what they leave out.
    """
    if not geom.is_valid:
        geom = polygonal(shapely.make_valid(geom))
    if geom.geom_type == "Polygon" or geom.is_empty:
        return _without_speck_holes(geom, speck_m2)
    parts = [
        _without_speck_holes(p, speck_m2)
        for p in shapely.get_parts(geom)
        if p.geom_type == "Polygon"
    ]
    big = [p for p in parts if p.area >= speck_m2] or [max(parts, key=lambda p: p.area)]
    if len(big) == 1:
        return big[0]
    # parts touching the main body at a point (or within 5 cm) are joined by a hair bridge
    big.sort(key=lambda p: -p.area)
    main, rest = big[0], []
    for p in big[1:]:
        d = main.distance(p)
        if d <= join:
            link = shapely.shortest_line(main, p).buffer(max(d, bridge), quad_segs=2)
            joined = polygonal(shapely.union_all([main, p, link]))
            if joined.geom_type == "Polygon":
                main = joined
                continue
        rest.append(p)
    return main if not rest else shapely.MultiPolygon([main, *rest])


def single(geom):
    """Union of blocks as one Polygon when it is one apart from specks below 1e-6 m²."""
    if geom.geom_type == "Polygon":
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.area > 1e-6]
    if len(parts) == 1:
        return parts[0]
    return geom


#: Holes below this area (m²) are hairline gaps, not a neighbour's enclave: dropped.
HAIRLINE_HOLE_M2 = 1e-3


def _without_speck_holes(poly, speck_m2: float):
    """``poly`` without holes smaller than ``speck_m2``: hairline triangles where two blocks'
    common edge was not noded alike (1e-8 m²) collapse to a ring of no area, an invalid
    polygon, when the grid is reprojected."""
    if poly.is_empty or not len(poly.interiors):
        return poly
    holes = [r for r in poly.interiors if shapely.area(shapely.Polygon(r)) >= speck_m2]
    return poly if len(holes) == len(poly.interiors) else shapely.Polygon(poly.exterior, holes)


def absorb_tiny(grids: list[dict], min_area: float) -> list[dict]:
    """Household-free ordinary grids smaller than ``min_area`` join the neighbour with the longest border."""
    if len(grids) < 2:
        return grids
    alive = [True] * len(grids)
    for i in sorted(range(len(grids)), key=lambda i: (grids[i]["geometry"].area, i)):
        g = grids[i]
        if g["grid_type"] == "dedicated" or g["households"] > 0 or g["geometry"].area >= min_area:
            continue
        best = None
        for j, h in enumerate(grids):
            if j == i or not alive[j]:
                continue
            shared = shapely.intersection(g["geometry"].boundary, h["geometry"].boundary).length
            if shared > 0 and (best is None or shared > best[0]):
                best = (shared, j)
        if best is None:
            dist = [
                (shapely.distance(g["geometry"], h["geometry"]), j)
                for j, h in enumerate(grids)
                if j != i and alive[j]
            ]
            if not dist or min(dist)[0] > 0.01:
                continue
            best = (0.0, min(dist)[1])
        j = best[1]
        grids[j] = dict(grids[j])
        grids[j]["geometry"] = single(poly_union(grids[j]["geometry"], g["geometry"]))
        alive[i] = False
    return [g for g, a in zip(grids, alive, strict=True) if a]


def hand_over_lobes(grids: list[dict], i: int, snapped, xy) -> bool:
    """Grid ``i``'s snap-rounded lobes without household points join the neighbour they
    share the longest border with; ``True`` when done (grid ``i`` is then one polygon).

    A grid can be two lobes joined by a corridor a nanometre wide: one valid Polygon in
    metres, two once snap-rounded or reprojected (a lon/lat run gave such a grid as a
    MultiPolygon). ``snapped`` is its snap-rounded form (more than one part); ``xy`` the
    community's household points. Nothing changes unless exactly one lobe holds points
    (or, when none does, the largest stays) and every other lobe joins a neighbour as
    one polygon: a grid whose lobes both hold households stays as it was.
    """
    parts = shapely.get_parts(snapped)
    parts = parts[shapely.area(parts) > 0]
    pts = shapely.points(xy) if len(xy) else None
    held = [pts is not None and bool(shapely.covers(p, pts).any()) for p in parts]
    keep = [k for k, h in enumerate(held) if h] or [int(shapely.area(parts).argmax())]
    if len(keep) != 1:
        return False
    joins = {}
    for k in range(len(parts)):
        if k == keep[0]:
            continue
        best = max(
            (
                (shapely.intersection(parts[k].boundary, g["geometry"].boundary).length, j)
                for j, g in enumerate(grids)
                if j != i and g["grid_type"] != "dedicated"
            ),
            default=(0.0, -1),
        )
        if best[0] <= 0:
            return False
        base = joins.get(best[1], grids[best[1]]["geometry"])
        joined = single(poly_union(base, parts[k]))
        if joined.geom_type != "Polygon":
            return False
        joins[best[1]] = joined
    for j, joined in joins.items():
        grids[j]["geometry"] = polygonal(shapely.set_precision(joined, 1e-5))
    grids[i]["geometry"] = parts[keep[0]]
    return True
