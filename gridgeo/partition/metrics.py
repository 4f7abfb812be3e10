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
    ``quality.road_tolerance_m`` of a cleaned road centreline (incl. the medial
    lines found in dual-carriageway strips), divided by all internal border length;
    measured on border pieces of at most 2 m.
Polsby–Popper
    ``4 π area / perimeter²`` per grid (1 for a circle), in the metric CRS.
seam error
    Per community, the area of the symmetric difference between the union of its
    grids and the community polygon, plus the area where its grids overlap.
"""

from __future__ import annotations

import numpy as np
import shapely

from gridgeo.partition.blocks import adjacency

DEFINITIONS = __doc__.split("Definitions\n-----------\n", 1)[1].strip()


def polsby_popper(geoms) -> np.ndarray:
    """Polsby–Popper compactness ``4πA/P²`` of each geometry."""
    geoms = np.asarray(geoms, dtype=object)
    per = shapely.length(geoms)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(per > 0, 4 * np.pi * shapely.area(geoms) / per**2, 0.0)


def seam_errors(grids_metric, communities_metric) -> dict[str, float]:
    """Largest gap/overlap area (m²) between a community and the union of its grids."""
    worst = 0.0
    worst_code = None
    by = grids_metric.groupby("community_code").groups if grids_metric is not None else {}
    for code, geom in zip(communities_metric["code"], communities_metric.geometry, strict=True):
        idx = by.get(code)
        if idx is None:
            err = geom.area
        else:
            parts = grids_metric.geometry.loc[idx].to_numpy()
            union = shapely.union_all(parts)
            overlap = float(shapely.area(parts).sum() - union.area)
            err = float(shapely.symmetric_difference(union, geom).area) + max(overlap, 0.0)
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
    internal = on_road = 0.0
    feasible_codes, infeasible_codes = [], []
    stage: dict[str, float] = {}
    for r in results:
        st = r.stats
        for k, v in st["times"].items():
            stage[k] = stage.get(k, 0.0) + v
        internal += st["internal_border_m"]
        on_road += st["internal_border_on_road_m"]
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
        "internal_border_m": round(internal, 1),
        "polsby_popper": {
            "mean": round(float(pp.mean()), 4) if len(pp) else None,
            "min": round(float(pp.min()), 4) if len(pp) else None,
        },
        "households_per_grid": _stats(ordinary_hh),
        "seam_error": seam_errors(grids_metric, communities_metric),
        "violations_by_rule": dict(sorted(rules.items())),
        "runtime_s": {f"community.{k}": round(v, 3) for k, v in stage.items()},
        "definitions": DEFINITIONS,
    }


def border_stats(geoms, roads, medians, area, tol: float, min_shared: float) -> tuple[float, float]:
    """Total internal border length between grids and the part within ``tol`` of a road."""
    if len(geoms) < 2:
        return 0.0, 0.0
    graph = adjacency(geoms, min_shared=min_shared)
    if len(graph.edges) == 0:
        return 0.0, 0.0
    bnd = shapely.boundary(np.asarray(geoms, dtype=object))
    lines = shapely.intersection(bnd[graph.edges[:, 0]], bnd[graph.edges[:, 1]])
    internal = float(shapely.length(lines).sum())
    road_lines = list(np.asarray(roads, dtype=object)) + list(medians)
    if not road_lines:
        return internal, 0.0
    return internal, min(length_near(lines, road_lines, tol), internal)


def length_near(lines, targets, tol: float, *, piece_m: float = 2.0) -> float:
    """Length of ``lines`` within ``tol`` of ``targets``, measured on pieces of at most ``piece_m``."""
    parts = shapely.get_parts(np.asarray(lines, dtype=object))
    parts = parts[np.isin(shapely.get_type_id(parts), [1, 2])]
    if len(parts) == 0:
        return 0.0
    dense = shapely.segmentize(parts, piece_m)
    coords, which = shapely.get_coordinates(dense, return_index=True)
    same = which[1:] == which[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    seg_len = np.hypot(*(b - a).T)
    mids = shapely.points((a + b) / 2)
    tree = shapely.STRtree(np.asarray(targets, dtype=object))
    hit = np.unique(tree.query(mids, predicate="dwithin", distance=tol)[0])
    return float(seg_len[hit].sum())
