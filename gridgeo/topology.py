"""Community layers that do not quite fit: small overlaps and gaps resolved, big ones refused.

Street and community polygons traced from a web map overlap their neighbours by a few
square metres and leave thin gaps. The partitioner is right to refuse overlaps, so
:func:`fix_communities` resolves those below a tolerance — each one listed with its
location, area and width — and refuses the rest:

* **Overlap** (a piece covered by two communities): it stays with the *larger*
  community and is cut from the smaller one (ties: the lower code keeps it). Removing
  it from the smaller polygon changes the larger one not at all and the smaller one by
  the least share of its area.
* **Gap** (a hole enclosed by communities but in none of them): it is given to the
  neighbour that shares the *longest border* with it.

A piece is fixable when its area is at most ``max_area_m2`` **and** its width (the
diameter of the largest circle inside it) is at most ``max_width_m``. Overlaps above
that are refused (:class:`~gridgeo.errors.InputError`, nothing changed); gaps above it
are left as they are and listed (a hole may be real: a lake, another county's enclave).
Gaps open to the outside of the layer cannot be told from its outline and are not
touched. Geometry is edited in the layer's own CRS; areas and widths are measured in
its metric CRS (:func:`gridgeo.crs.metric_crs`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgeo.crs import metric_crs
from gridgeo.errors import InputError, Problem

log = logging.getLogger(__name__)

#: Fixes are listed with these columns (and the piece's polygon as geometry).
FIX_COLUMNS = [
    "kind",
    "given_to",
    "taken_from",
    "area_m2",
    "width_m",
    "lon",
    "lat",
    "rule",
    "geometry",
]
_MIN_M2 = 1e-4  # pieces below a square centimetre are numerical noise, not overlaps


@dataclass
class TopologyResult:
    """What :func:`fix_communities` did.

    Attributes
    ----------
    communities
        The layer with overlaps and gaps resolved (same rows, columns and CRS).
    fixes
        One row per resolved piece: ``kind`` (overlap/gap), ``given_to`` and
        ``taken_from`` (codes), ``area_m2``, ``width_m``, ``lon``/``lat`` of a point in
        the piece, ``rule`` (the stated rule), geometry (the piece, layer CRS).
    left
        Gaps above the tolerance, left as they are (same columns; ``given_to`` empty).
    """

    communities: gpd.GeoDataFrame
    fixes: gpd.GeoDataFrame
    left: gpd.GeoDataFrame


def fix_communities(
    communities: gpd.GeoDataFrame,
    *,
    max_area_m2: float = 500.0,
    max_width_m: float = 5.0,
    code_field: str = "code",
) -> TopologyResult:
    """Resolve overlaps and enclosed gaps below the tolerance; refuse larger overlaps.

    Parameters
    ----------
    communities
        Community/village polygons with a CRS and a ``code_field``.
    max_area_m2, max_width_m
        A piece is fixed only when both its area and its width are at most these.
    code_field
        The field naming the communities in the listing.

    Returns
    -------
    TopologyResult

    Raises
    ------
    InputError
        If any overlap is above the tolerance (every such overlap listed with the two
        codes, its area, width and location); the layer is not changed. Also for a
        layer without CRS or ``code_field``.
    """
    _check(communities, code_field)
    work = metric_crs(communities)
    to_m = _transformer(communities.crs, work)
    to_ll = _transformer(communities.crs, 4326)
    geoms = communities.geometry.to_numpy().copy()
    codes = communities[code_field].astype(str).tolist()
    areas = shapely.area(_reproject(geoms, to_m))

    pieces = _overlaps(geoms, codes, areas, to_m, to_ll, max_area_m2, max_width_m)
    refused = [p for p in pieces if not p["fixable"]]
    if refused:
        raise InputError(
            f"{len(refused)} 处重叠超过容差（{max_area_m2:g} 平方米、宽 {max_width_m:g} 米），"
            "未作任何修改",
            [_problem(p, max_area_m2, max_width_m) for p in refused],
        )
    rows = []
    for p in pieces:
        geoms[p["cut"]] = _polygonal(shapely.difference(geoms[p["cut"]], p["geom"]))
        rows.append(p)
    gaps = _gaps(geoms, codes, to_m, to_ll, max_area_m2, max_width_m)
    left = []
    for g in gaps:
        if g["fixable"]:
            geoms[g["keep"]] = _polygonal(shapely.union(geoms[g["keep"]], g["geom"]))
            rows.append(g)
        else:
            left.append(g)
    out = communities.copy()
    out[out.geometry.name] = gpd.GeoSeries(geoms, index=out.index, crs=communities.crs)
    log.info(
        "fixed %d overlaps and %d gaps in %d communities; %d gaps above the tolerance left",
        sum(r["kind"] == "overlap" for r in rows),
        sum(r["kind"] == "gap" for r in rows),
        len(communities),
        len(left),
    )
    return TopologyResult(out, _frame(rows, communities.crs), _frame(left, communities.crs))


def _check(gdf: gpd.GeoDataFrame, code_field: str) -> None:
    problems = []
    if gdf.crs is None:
        problems.append(Problem("图层没有坐标系", field="geometry", rule="crs.missing"))
    if code_field not in gdf.columns:
        problems.append(
            Problem(
                f"缺少字段“{code_field}”；图层字段有："
                f"{'、'.join(str(c) for c in gdf.columns if c != gdf.geometry.name)}",
                field=code_field,
                rule="field.missing",
            )
        )
    geoms = gdf.geometry.to_numpy()
    bad = np.flatnonzero(~shapely.is_valid(geoms) | shapely.is_missing(geoms))
    for i in bad:
        problems.append(
            Problem(
                "几何缺失或无效；请先修复（例如 gridgeo partition --repair）",
                row=_plain(gdf.index[i]),
                field="geometry",
                rule="geometry.invalid",
            )
        )
    if problems:
        source = gdf.attrs.get("source")
        raise InputError(f"无法修正 {source or '社区图层'}", problems)


def _transformer(src, dst):
    from gridgeo.crs import cached_transformer

    t = cached_transformer(src, dst)
    return lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1]))


def _reproject(geoms: np.ndarray, func) -> np.ndarray:
    return shapely.transform(geoms, func)


def _measure(piece, to_m, to_ll) -> tuple[float, float, float, float]:
    """Area (m²), width (m: diameter of the largest inscribed circle), lon, lat of a piece."""
    metric = shapely.transform(piece, to_m)
    area = float(shapely.area(metric))
    tol = max(0.01, area**0.5 / 1000)
    radius = shapely.maximum_inscribed_circle(metric, tolerance=tol).length if area else 0.0
    where = shapely.get_coordinates(shapely.transform(shapely.point_on_surface(piece), to_ll))[0]
    return area, 2 * float(radius), float(where[0]), float(where[1])


def _overlaps(geoms, codes, areas, to_m, to_ll, max_area, max_width) -> list[dict]:
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    out = []
    for i, j in zip(a[keep], b[keep], strict=True):
        inter = _polygonal(shapely.intersection(geoms[i], geoms[j]))
        if inter is None:
            continue
        # the larger community keeps the overlap; ties: the lower code
        first = areas[i] > areas[j] or (areas[i] == areas[j] and codes[i] <= codes[j])
        big, small = (i, j) if first else (j, i)
        for part in shapely.get_parts(inter):
            area, width, lon, lat = _measure(part, to_m, to_ll)
            if area < _MIN_M2:
                continue
            out.append(
                {
                    "kind": "overlap",
                    "keep": big,
                    "cut": small,
                    "given_to": codes[big],
                    "taken_from": codes[small],
                    "area_m2": round(area, 2),
                    "width_m": round(width, 2),
                    "lon": lon,
                    "lat": lat,
                    "rule": "重叠部分归面积较大的社区，从较小的社区中扣除",
                    "geom": part,
                    # never cut a community down to half its size or less
                    "fixable": area <= max_area and width <= max_width and area < areas[small] / 2,
                }
            )
    return out


def _gaps(geoms, codes, to_m, to_ll, max_area, max_width) -> list[dict]:
    union = shapely.union_all(geoms)
    holes = [
        shapely.Polygon(ring)
        for poly in shapely.get_parts(union)
        for ring in shapely.get_interior_ring(poly, range(shapely.get_num_interior_rings(poly)))
    ]
    if not holes:
        return []
    tree = shapely.STRtree(geoms)
    out = []
    for hole in holes:
        area, width, lon, lat = _measure(hole, to_m, to_ll)
        if area < _MIN_M2:
            continue
        near = tree.query(hole, predicate="intersects")
        if not len(near):
            continue
        shared = shapely.length(
            shapely.transform(shapely.intersection(geoms[near], hole.boundary), to_m)
        )
        best = int(near[int(np.argmax(shared))])
        out.append(
            {
                "kind": "gap",
                "keep": best,
                "given_to": codes[best],
                "taken_from": "",
                "area_m2": round(area, 2),
                "width_m": round(width, 2),
                "lon": lon,
                "lat": lat,
                "rule": "缝隙归与其共享边界最长的相邻社区",
                "geom": hole,
                "fixable": area <= max_area and width <= max_width,
            }
        )
    return out


def _polygonal(geom):
    """The polygonal part of a geometry (None when it has none)."""
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return None
    return shapely.union_all(parts)


def _frame(rows: list[dict], crs) -> gpd.GeoDataFrame:
    data = pd.DataFrame(
        [{k: r[k] for k in FIX_COLUMNS if k != "geometry"} for r in rows],
        columns=[c for c in FIX_COLUMNS if c != "geometry"],
    )
    return gpd.GeoDataFrame(data, geometry=[r["geom"] for r in rows], crs=crs)


def _problem(p: dict, max_area: float, max_width: float) -> Problem:
    return Problem(
        f"社区 {p['given_to']} 与 {p['taken_from']} 重叠 {p['area_m2']:,.1f} 平方米"
        f"（宽 {p['width_m']:.1f} 米），位于 {p['lon']:.6f}, {p['lat']:.6f}：超过容差"
        f"（{max_area:g} 平方米、{max_width:g} 米），或会使较小的社区失去一半以上面积；"
        "请手工修正或放宽容差",
        layer="communities",
        row=p["taken_from"],
        field="geometry",
        rule="topology.overlap_above_tolerance",
    )


def _plain(v):
    return int(v) if isinstance(v, np.integer) else v
