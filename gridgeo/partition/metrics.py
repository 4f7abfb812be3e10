"""Quality metrics of a partition, with their definitions written into the report.

Definitions
-----------
feasible community
    A community partitioned by household band (urban, or rural in ``households``
    mode and larger than a whole-village grid) in which (a) no single indivisible
    household unit — one point location or one compound — holds more households than
    the ceiling, and (b) the households outside its dedicated grids, ``T``, admit a
    whole number of grids in band: ``ceil(T / ceiling) <= floor(T / floor)``. Block
    geometry may still make such a community impossible to cut perfectly; its
    out-of-band grids count against the in-band share.
in-band share (feasible)
    Ordinary (non-dedicated) grids of feasible communities with
    ``floor <= households <= ceiling``, divided by all ordinary grids of feasible
    communities.
in-band share (all banded)
    The same over every community partitioned by band, feasible or not.
road border share
    Length of internal borders between grids of the same community lying within
    ``quality.road_tolerance_m`` of a road centreline as the partitioner used it,
    divided by all internal border length; measured on border pieces of at most 2 m.
    The roads counted are the same whether or not divided roads are put on their
    median: the road lines as drawn (both carriageways of a divided road), the
    cleaned lines the blocks were built from (with the median option, the
    centrelines of divided roads) and the medial lines of road strips split
    between blocks (the middle of a divided road drawn as two carriageways).
road border share (as drawn)
    The same against the road lines as drawn only (no centrelines, no medial
    lines): a border down the middle of a road whose carriageways are more than
    twice the tolerance apart is off road by this measure.
Polsby–Popper
    ``4 π area / perimeter²`` per grid (1 for a circle), in the metric CRS.
seam error
    Per community, the area of the symmetric difference between the union of its
    grids and the community polygon, plus the area where its grids overlap.
"""

from __future__ import annotations

import numpy as np
import shapely

DEFINITIONS = __doc__.split("Definitions\n-----------\n", 1)[1].strip()


def polsby_popper(geoms) -> np.ndarray:
    """Polsby–Popper compactness ``4πA/P²`` of each geometry."""
    geoms = np.asarray(geoms, dtype=object)
    per = shapely.length(geoms)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(per > 0, 4 * np.pi * shapely.area(geoms) / per**2, 0.0)


def coverage_union(geoms):
    """Union of polygons that tile their area (the blocks of a grid).

    A coverage union (no overlay: the shared edges are dropped, 3–6× faster than
    :func:`shapely.union_all`) when it gives one valid polygon whose area is the sum of
    theirs; else (GEOS finds them not noded alike, or a second part) the plain union.
    Like the plain union it keeps the hairline holes two blocks whose common edge is not
    noded alike leave (the grids' snap-rounding removes them).

    Parameters
    ----------
    geoms
        Polygons (metres).

    Returns
    -------
    shapely.Geometry
        Their union (after :func:`shapely.set_precision` to 1e-5 m the same polygon as
        :func:`shapely.union_all`'s on the city, Da'an, Gongguan and Huangpu; the ring may
        start at another vertex).
    """
    arr = np.asarray(geoms, dtype=object)
    if len(arr) > 1:
        try:
            out = shapely.coverage_union_all(arr)
        except shapely.errors.GEOSException:
            out = None
        total = float(shapely.area(arr).sum())
        if (
            out is not None
            and out.geom_type == "Polygon"
            and out.is_valid
            and abs(out.area - total) <= 1e-11 * max(total, 1.0)
        ):
            return out
    return shapely.union_all(arr)


def seam_error(grids, community) -> float:
    """Gap/overlap area (m²) between ``community`` and the union of its ``grids``: the area of
    their symmetric difference plus the area where the grids overlap."""
    parts = np.asarray(grids, dtype=object)
    if len(parts) == 0:
        return float(community.area)
    # the plain union: a coverage union keeps hairline gaps the overlay closes, which
    # made the figure larger on Da'an and Gongguan
    union = shapely.union_all(parts)
    overlap = float(shapely.area(parts).sum() - union.area)
    return float(shapely.symmetric_difference(union, community).area) + max(overlap, 0.0)


def seam_errors(grids_metric, communities_metric, known: dict | None = None) -> dict[str, float]:
    """Largest gap/overlap area (m²) between a community and the union of its grids.

    ``known`` maps community codes to their :func:`seam_error` computed already (by the
    per-community stage, in the workers); the others are computed here.
    """
    worst = 0.0
    worst_code = None
    known = known or {}
    by = grids_metric.groupby("community_code").groups if grids_metric is not None else {}
    for code, geom in zip(communities_metric["code"], communities_metric.geometry, strict=True):
        if code in known:
            err = known[code]
        else:
            idx = by.get(code)
            parts = grids_metric.geometry.loc[idx].to_numpy() if idx is not None else []
            err = seam_error(parts, geom)
        if err > worst:
            worst, worst_code = err, code
    return {"max_m2": round(worst, 4), "community": worst_code}


def _stats(values) -> dict[str, float | None]:
    if len(values) == 0:
        return {"min": None, "median": None, "max": None}
    arr = np.asarray(values, dtype=float)
    return {"min": float(arr.min()), "median": float(np.median(arr)), "max": float(arr.max())}


def summarise(
    results,
    *,
    grids_metric,
    communities_metric,
    profile,
    households_total: float,
    outside: tuple[int, float],
) -> dict:
    """The report's metrics from the per-community results (see the module's definitions)."""
    feas_total = feas_in = all_total = all_in = 0
    internal = on_road = on_drawn = 0.0
    feasible_codes, infeasible_codes = [], []
    for r in results:
        st = r.stats
        internal += st["internal_border_m"]
        on_road += st["internal_border_on_road_m"]
        on_drawn += st.get("internal_border_on_drawn_road_m", st["internal_border_on_road_m"])
        if not st["banded"]:
            continue
        lo, hi = st["band"]
        ordinary = [g for g in r.grids if g["grid_type"] != "dedicated"]
        measure = st.get("measure", "households")
        n_in = sum(1 for g in ordinary if lo <= g[measure] <= hi)
        all_total += len(ordinary)
        all_in += n_in
        if st["feasible"]:
            feasible_codes.append(r.code)
            feas_total += len(ordinary)
            feas_in += n_in
        else:
            infeasible_codes.append(r.code)
    grids = [g for r in results for g in r.grids]
    ordinary_hh = [g["households"] for g in grids if g["grid_type"] != "dedicated"]
    types: dict[str, int] = {}
    for g in grids:
        types[g["grid_type"]] = types.get(g["grid_type"], 0) + 1
    pp = polsby_popper([g["geometry"] for g in grids]) if grids else np.zeros(0)
    rules: dict[str, int] = {}
    for r in results:
        for v in r.violations:
            rules[v["rule"]] = rules.get(v["rule"], 0) + 1
    if outside[0]:
        rules["household.outside_community"] = outside[0]
    return {
        "communities": len(results),
        "grids": len(grids),
        "grids_by_type": dict(sorted(types.items())),
        "blocks": int(sum(r.stats["blocks"] for r in results)),
        "households_total": int(round(households_total)),
        "households_in_grids": int(sum(g["households"] for g in grids)),
        "households_outside": {"points": outside[0], "households": int(round(outside[1]))},
        "feasible_communities": len(feasible_codes),
        "infeasible_banded_communities": infeasible_codes,
        "in_band_share_feasible": round(feas_in / feas_total, 4) if feas_total else None,
        "in_band_grids_feasible": [feas_in, feas_total],
        "in_band_share_all_banded": round(all_in / all_total, 4) if all_total else None,
        "road_border_share": round(on_road / internal, 4) if internal > 0 else None,
        "road_border_share_drawn": round(on_drawn / internal, 4) if internal > 0 else None,
        "internal_border_m": round(internal, 1),
        "polsby_popper": {
            "mean": round(float(pp.mean()), 4) if len(pp) else None,
            "min": round(float(pp.min()), 4) if len(pp) else None,
        },
        "households_per_grid": _stats(ordinary_hh),
        "seam_error": seam_errors(
            grids_metric,
            communities_metric,
            {r.code: r.stats["seam_error_m2"] for r in results if "seam_error_m2" in r.stats},
        ),
        "violations_by_rule": dict(sorted(rules.items())),
        "runtime_s": _runtimes(results),
        "definitions": DEFINITIONS,
    }


def _runtimes(results) -> dict[str, float]:
    """Time per stage of the per-community work, summed over communities, and the longest
    community (the least the stage can take on any number of processes)."""
    stage: dict[str, float] = {}
    for r in results:
        for k, v in r.stats["times"].items():
            stage[k] = stage.get(k, 0.0) + v
    longest = max((sum(r.stats["times"].values()) for r in results), default=0.0)
    return {
        **{f"community.{k}": round(v, 3) for k, v in stage.items()},
        "community.longest": round(longest, 3),
    }


def border_stats(
    geoms, roads, medians, area, tol: float, min_shared: float, drawn=None
) -> tuple[float, float, float]:
    """Internal border length between grids and the parts of it on roads, measured two ways.

    Parameters
    ----------
    geoms
        The grids of one community (metres).
    roads
        The cleaned road centrelines the blocks were built from (with
        ``quality.divided_roads_on_median``: divided roads on their centreline).
    medians
        The medial lines of the road strips split by the sliver merge.
    area
        The community polygon (unused; kept for the callers).
    tol, min_shared
        Road tolerance (m) and the shortest shared border that makes grids neighbours.
    drawn
        The road lines as drawn in the input (None: ``roads``).

    Returns
    -------
    tuple of float
        ``(internal, on_road, on_drawn)``: all internal border; the part within ``tol``
        of a road centreline as the partitioner used it (``drawn``, ``roads`` and
        ``medians``: the carriageways as drawn and the middle of divided roads, in
        either mode); the part within ``tol`` of ``drawn`` alone.
    """
    lines = _shared_borders(geoms, min_shared)
    if len(lines) == 0:
        return 0.0, 0.0, 0.0
    internal = float(shapely.length(lines).sum())
    seg_len, mids = _border_pieces(lines)
    drawn = np.asarray(roads if drawn is None else drawn, dtype=object)
    # a piece near a line as drawn is on a road: only the others are measured against the
    # cleaned lines and the medial lines (long lines, the costlier distances)
    on_drawn = _near(mids, drawn, tol)
    on_road = on_drawn.copy()
    rest = np.concatenate([np.asarray(roads, dtype=object), np.asarray(medians, dtype=object)])
    on_road[~on_drawn] = _near(mids[~on_drawn], rest, tol)
    return (
        internal,
        min(float(seg_len[on_road].sum()), internal),
        min(float(seg_len[on_drawn].sum()), internal),
    )


def _shared_borders(geoms, min_shared: float) -> np.ndarray:
    """The borders shared by pairs of ``geoms`` at least ``min_shared`` long, pair by pair
    (``i < j``, in the order of :func:`gridgeo.partition.blocks.adjacency`'s edges)."""
    polys = np.asarray(geoms, dtype=object)
    if len(polys) < 2:
        return np.array([], dtype=object)
    # with a positive minimum, pairs whose boxes meet suffice: apart ones share no border
    a, b = shapely.STRtree(polys).query(polys, predicate=None if min_shared > 0 else "intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    bnd = shapely.boundary(polys)
    lines = shapely.intersection(bnd[a], bnd[b])
    return lines[shapely.length(lines) >= min_shared]


def straight_pieces(lines) -> np.ndarray:
    """The straight segments of ``lines``, as two-point LineStrings (cheap targets for an
    STRtree: a long winding line's envelope would match every border piece near it)."""
    coords, which = shapely.get_coordinates(np.asarray(lines, dtype=object), return_index=True)
    same = which[1:] == which[:-1]
    pairs = np.stack([coords[:-1][same], coords[1:][same]], axis=1)
    pairs = pairs[np.any(pairs[:, 0] != pairs[:, 1], axis=1)]
    return shapely.linestrings(pairs) if len(pairs) else np.array([], dtype=object)


def _border_pieces(lines, piece_m: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Lengths and midpoints of ``lines`` cut into pieces of at most ``piece_m``."""
    parts = shapely.get_parts(np.asarray(lines, dtype=object))
    parts = parts[np.isin(shapely.get_type_id(parts), [1, 2])]
    if len(parts) == 0:
        return np.zeros(0), np.array([], dtype=object)
    dense = shapely.segmentize(parts, piece_m)
    coords, which = shapely.get_coordinates(dense, return_index=True)
    same = which[1:] == which[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    return np.hypot(*(b - a).T), shapely.points((a + b) / 2)


def _near(points: np.ndarray, targets: np.ndarray, tol: float) -> np.ndarray:
    """Which ``points`` lie within ``tol`` of any of ``targets``."""
    hit = np.zeros(len(points), dtype=bool)
    targets = targets[~shapely.is_missing(targets)] if len(targets) else targets
    if len(points) == 0 or len(targets) == 0:
        return hit
    tree = shapely.STRtree(targets)
    hit[np.unique(tree.query(points, predicate="dwithin", distance=tol)[0])] = True
    return hit


def length_near(lines, targets, tol: float, *, piece_m: float = 2.0) -> float:
    """Length of ``lines`` within ``tol`` of ``targets``, measured on pieces of at most ``piece_m``."""
    seg_len, mids = _border_pieces(lines, piece_m)
    return float(seg_len[_near(mids, np.asarray(targets, dtype=object), tol)].sum())
