"""One community → its grids: dedicated sites, blocks, splits, aggregation, codes.

:func:`partition_community` is a pure function of a picklable :class:`CommunityTask`
(metric coordinates) and the profile, so communities can run in any order, in any
process, and give the same result.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field

import numpy as np
import shapely

from gridgeo.partition import codes
from gridgeo.partition.aggregate import Graph, aggregate, choose_k, components
from gridgeo.partition.blocks import (
    Blocks,
    adjacency,
    assign_points,
    explode,
    faces,
    polygonal,
    tidy_blocks,
)
from gridgeo.partition.dedicated import Site, take_sites
from gridgeo.partition.metrics import border_stats
from gridgeo.partition.split import _units, split_block
from gridgeo.partition.tidy import absorb_tiny, clean_polygon, single
from gridgeo.rules import Profile


@dataclass
class Group:
    """A villager group polygon (村民小组)."""

    row: int | str
    geom: object
    name: str


@dataclass
class CommunityTask:
    """Everything needed to partition one community, in metres."""

    index: int
    code: str
    name: str
    kind: str
    geom: object
    roads: np.ndarray
    xy: np.ndarray
    households: np.ndarray
    population: np.ndarray
    compound: np.ndarray | None = None
    sites: list[Site] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)


@dataclass
class CommunityResult:
    """Grids and violations of one community (metric geometries) and its statistics."""

    index: int
    code: str
    grids: list[dict]
    violations: list[dict]
    stats: dict



def partition_community(task: CommunityTask, profile: Profile, *, seed: int = 0) -> CommunityResult:
    """Partition one community into grids.

    Parameters
    ----------
    task
        The community with its roads, household points, dedicated sites and villager
        groups, all in one metric CRS.
    profile
        The jurisdiction's rules.
    seed
        Base seed; the community's code is mixed in, so the result depends only on
        the community's own data.

    Returns
    -------
    CommunityResult
        Grid records (geometry in metres, codes and names assigned), violations, and
        statistics (stage times, border lengths on roads, feasibility).
    """
    times = {"dedicated": 0.0, "blocks": 0.0, "split": 0.0, "aggregate": 0.0, "metrics": 0.0}
    t0 = time.perf_counter()
    q = profile.quality
    kind = task.kind
    lo, hi = profile.household_band(kind)
    hh = np.asarray(task.households, dtype=float)
    pop = np.asarray(task.population, dtype=float)
    xy = np.asarray(task.xy, dtype=float).reshape(-1, 2)
    n_pts = len(hh)
    violations: list[dict] = []
    community_rng_seed = seed_for(task.code, seed)

    # 1. dedicated sites ------------------------------------------------------------------
    dedicated_grids, compound_geoms, remaining, taken = take_sites(
        task.geom, task.sites, xy, hh, pop, profile
    )
    times["dedicated"] = time.perf_counter() - t0

    # 2. blocks ---------------------------------------------------------------------------
    t1 = time.perf_counter()
    remaining = _polygonal(remaining)
    free = np.flatnonzero(~taken)
    medians: list = []
    ordinary: list[dict] = []
    stats_blocks = 0
    heavy_units = 0
    feasible = False
    rural_mode = profile.rural.mode if kind == "rural" else None
    banded = False
    if remaining is not None and remaining.area > 0:
        roads = np.asarray(task.roads, dtype=object)
        if compound_geoms and len(roads):
            cu = shapely.union_all(compound_geoms)
            roads = shapely.get_parts(shapely.difference(roads, cu))
            roads = roads[~shapely.is_empty(roads)] if len(roads) else roads
        extra = [shapely.boundary(g) for g in compound_geoms]
        use_groups = rural_mode == "villager_group" and bool(task.groups)
        if kind == "rural" and task.groups:
            # villager-group outlines are borders: one grid per group in villager_group
            # mode, else the band grids are built from blocks that never straddle a group
            extra += [shapely.boundary(g.geom) for g in task.groups]
        polys = faces(
            remaining, roads, extra_lines=extra, snap_m=q.road_snap_m, extend_m=q.road_extend_m
        )
        where = assign_points(polys, xy[free])
        members = [free[where == i] for i in range(len(polys))]
        blocks = Blocks(list(polys), members)
        blocks.recompute(hh)
        blocks = tidy_blocks(
            blocks, hh, xy, min_area=q.sliver_min_area_m2, median_width=q.median_max_width_m
        )
        medians = blocks.medians
        times["blocks"] = time.perf_counter() - t1

        # 3. split blocks above the ceiling ----------------------------------------------
        t2 = time.perf_counter()
        total = float(blocks.weights.sum())
        whole = kind == "rural" and (
            rural_mode == "village" or total <= profile.rural.whole_village_max_households
        )
        if not whole and not use_groups:
            geoms2, members2 = [], []
            todo = list(zip(blocks.geoms, blocks.members, strict=True))
            for g, m in todo:
                if hh[m].sum() <= hi:
                    geoms2.append(g)
                    members2.append(m)
                    continue
                # first along dead-end roads inside the block, extended to the next line
                sub = faces(g, roads, snap_m=q.road_snap_m, extend_m=q.split_road_extend_m)
                if len(sub) > 1:
                    where_sub = assign_points(sub, xy[m])
                    parts = [(p, m[where_sub == k]) for k, p in enumerate(sub)]
                else:
                    parts = [(g, m)]
                for g2, m2 in parts:
                    if hh[m2].sum() <= hi:
                        geoms2.append(g2)
                        members2.append(m2)
                        continue
                    comp = task.compound[m2] if task.compound is not None else None
                    pieces = split_block(
                        g2,
                        xy[m2],
                        hh[m2],
                        ceiling=hi,
                        compound=comp,
                        hamlet_eps_m=profile.rural.hamlet_eps_m if kind == "rural" else None,
                    )
                    for piece, idx in pieces:
                        geoms2.append(piece)
                        members2.append(m2[idx])
            blocks = explode(Blocks(geoms2, members2, medians=medians), hh, xy)
            blocks = tidy_blocks(
                blocks, hh, xy, min_area=q.sliver_min_area_m2, median_width=q.median_max_width_m
            )
        indivisible = np.zeros(len(blocks.geoms), dtype=bool)
        for i, m in enumerate(blocks.members):
            if blocks.weights[i] > hi:
                comp = task.compound[m] if task.compound is not None else None
                indivisible[i] = len(m) > 0 and int(_units(xy[m], comp).max()) == 0
        heavy_units = int(indivisible.sum())
        times["split"] = time.perf_counter() - t2

        # 4. aggregate ----------------------------------------------------------------------
        t3 = time.perf_counter()
        graph = adjacency(blocks.geoms, min_shared=q.min_shared_border_m)
        stats_blocks = len(blocks.geoms)
        w = blocks.weights
        graph = _link_small_parts(graph, blocks.geoms, w, lo)
        if whole:
            labels = _component_labels(graph, len(w))
        elif use_groups:
            labels = _group_labels(blocks.geoms, task.groups, graph)
        else:
            labels = aggregate(w, graph, lo=lo, hi=hi, seed=community_rng_seed)
            banded = True
            ks_ok = choose_k(total, lo, hi)[1]
            feasible = heavy_units == 0 and ks_ok
        times["aggregate"] = time.perf_counter() - t3
        ordinary = _grids_from_labels(
            blocks, labels, hh, pop, kind, graph, hi, lo, indivisible, whole, profile
        )
    else:
        times["blocks"] = time.perf_counter() - t1

    # 5. tidy: tiny empty grids join a neighbour ------------------------------------------
    grids = ordinary + dedicated_grids
    if float(hh.sum()) == 0:
        for g in grids:
            g["problems"] = []  # reported once as community.no_households
    grids = absorb_tiny(grids, q.sliver_min_area_m2)
    for g in grids:
        # snap-round to 0.01 mm: shared vertices of neighbours snap alike (no new gaps) and
        # hair-thin spikes left by overlays collapse, so a reprojection cannot twist them
        snapped = polygonal(shapely.set_precision(g["geometry"], 1e-5))
        n_before = shapely.get_num_geometries(g["geometry"])
        if (
            snapped is not None
            and not snapped.is_empty
            and shapely.get_num_geometries(snapped) <= n_before
        ):
            g["geometry"] = snapped
        g["geometry"] = clean_polygon(g["geometry"], speck_m2=q.seam_tolerance_m2 / 2)
        if g["geometry"].geom_type != "Polygon":
            g.setdefault("problems", []).append(
                ("grid.not_contiguous", "the grid is made of more than one polygon")
            )

    # 6. codes and names, violations --------------------------------------------------------
    out = codes.name_and_number(
        grids, task.code, task.name, digits=profile.codes.grid_sequence_digits
    )
    digits = profile.codes.grid_sequence_digits
    for g, rec in zip(grids, out, strict=True):
        for rule, reason in g.get("problems", []):
            violations.append(
                {
                    "rule": rule,
                    "reason": reason,
                    "community_code": task.code,
                    "grid_code": rec["grid_code"],
                    "geometry": rec["geometry"],
                }
            )
    out.sort(key=lambda r: r["grid_code"])
    if rural_mode == "villager_group" and not task.groups:
        violations.append(
            {
                "rule": "rural.no_villager_groups",
                "reason": (
                    f"profile {profile.name} divides villages by villager group, but no villager "
                    "group lies in this village; its grids were formed by household counts"
                ),
                "community_code": task.code,
                "grid_code": None,
                "geometry": task.geom,
            }
        )
    if len(out) > 10**digits - 1:
        violations.append(
            {
                "rule": "codes.sequence_overflow",
                "reason": f"{len(out)} grids do not fit a {digits}-digit sequence",
                "community_code": task.code,
                "grid_code": None,
                "geometry": task.geom,
            }
        )
    total_hh = float(hh.sum())
    if n_pts == 0 or total_hh == 0:
        violations.append(
            {
                "rule": "community.no_households",
                "reason": "no household point lies in this community; it was made one grid",
                "community_code": task.code,
                "grid_code": out[0]["grid_code"] if len(out) == 1 else None,
                "geometry": task.geom,
            }
        )
    elif banded:
        ord_total = sum(r["households"] for r in out if r["grid_type"] != "dedicated")
        _, ok = choose_k(ord_total, lo, hi)
        if (
            not ok
            and ord_total > 0
            and not (kind == "rural" and ord_total <= profile.rural.whole_village_max_households)
        ):
            violations.append(
                {
                    "rule": "community.band_infeasible",
                    "reason": (
                        f"{ord_total} households outside dedicated grids cannot be divided into "
                        f"grids of {lo}–{hi} households (no whole number of grids fits)"
                    ),
                    "community_code": task.code,
                    "grid_code": None,
                    "geometry": task.geom,
                }
            )
    # 7. border metrics -----------------------------------------------------------------------
    t4 = time.perf_counter()
    internal, on_road = border_stats(
        [r["geometry"] for r in out],
        task.roads,
        medians,
        task.geom,
        q.road_tolerance_m,
        q.min_shared_border_m,
    )
    times["metrics"] = time.perf_counter() - t4
    stats = {
        "blocks": stats_blocks,
        "feasible": bool(feasible),
        "kind": kind,
        "band": (lo, hi),
        "banded": banded,
        "indivisible_over_ceiling": heavy_units,
        "internal_border_m": internal,
        "internal_border_on_road_m": on_road,
        "times": times,
    }
    return CommunityResult(task.index, task.code, out, violations, stats)


# -- helpers ---------------------------------------------------------------------------------


def _parts(g) -> list:
    return [p for p in shapely.get_parts(g) if p.area > 0]


def _polygonal(g):
    """The polygonal part of ``g`` (drops points/lines from intersections), or None."""
    if g is None or g.is_empty:
        return None
    parts = shapely.get_parts(g)
    parts = [p for p in parts if p.geom_type in ("Polygon", "MultiPolygon") and p.area > 0]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.union_all(parts)


def _link_small_parts(graph: Graph, geoms, w: np.ndarray, lo: float) -> Graph:
    """Join parts below the floor to a neighbour they touch along any length of border.

    Blocks sharing less than ``min_shared_border_m`` are not adjacent, which can leave
    a pocket (a few blocks cut off by a slip road) as a part of its own, below the
    floor. Such a part is linked to the blocks it touches along a shorter border or
    at a point, so it can join a grid; :func:`clean_polygon` joins a part touching
    at a point with a hair-thin bridge, so the grid stays one polygon.
    """
    nb = graph.neighbours()
    parts = components(list(range(len(w))), nb)
    small = [p for p in parts if w[p].sum() < lo]
    if len(parts) < 2 or not small:
        return graph
    weak = adjacency(geoms, min_shared=0.0)  # incl. parts touching at a point only
    in_small = np.zeros(len(w), dtype=bool)
    for p in small:
        in_small[p] = True
    keep = in_small[weak.edges[:, 0]] | in_small[weak.edges[:, 1]] if len(weak.edges) else []
    if not np.any(keep):
        return graph
    edges = np.vstack([graph.edges, weak.edges[keep]])
    lengths = np.concatenate([graph.lengths, weak.lengths[keep]])
    _, first = np.unique(edges, axis=0, return_index=True)
    first = np.sort(first)
    return Graph(graph.n, edges[first], lengths[first])


def _component_labels(graph: Graph, n: int) -> np.ndarray:
    nb = graph.neighbours()
    labels = np.zeros(n, dtype=int)
    for k, comp in enumerate(components(list(range(n)), nb)):
        labels[comp] = k
    return labels


def _group_labels(geoms, groups: list[Group], graph: Graph) -> np.ndarray:
    """Label each block by the villager group holding it; blocks outside groups join a neighbour."""
    n = len(geoms)
    reps = shapely.point_on_surface(np.asarray(geoms, dtype=object))
    labels = np.full(n, -1, dtype=int)
    gg = np.array(
        [g.geom for g in sorted(groups, key=lambda g: (g.name, str(g.row)))], dtype=object
    )
    for k, g in enumerate(gg):
        hit = shapely.covers(g, reps) & (labels < 0)
        labels[hit] = k
    nb = graph.neighbours()
    changed = True
    while (labels < 0).any() and changed:
        changed = False
        for u in np.flatnonzero(labels < 0):
            cand = [(length, labels[v]) for v, length in nb[u].items() if labels[v] >= 0]
            if cand:
                labels[u] = max(cand)[1]
                changed = True
    if (labels < 0).any():
        base = labels.max() + 1
        for k, u in enumerate(np.flatnonzero(labels < 0)):
            labels[u] = base + k
    # a group's blocks may not be contiguous: split into connected pieces
    out = np.full(n, -1, dtype=int)
    nxt = 0
    for lab in sorted(set(labels.tolist())):
        nodes = np.flatnonzero(labels == lab).tolist()
        for comp in components(nodes, nb):
            out[comp] = nxt
            nxt += 1
    return out


def _grids_from_labels(
    blocks, labels, hh, pop, kind, graph, hi, lo, indivisible, whole, profile
) -> list[dict]:
    nb = graph.neighbours()
    w = blocks.weights
    # connected parts after removing heavy blocks, as aggregate sees them
    light = [u for u in range(len(w)) if w[u] <= hi]
    part_of = {}
    part_total = {}
    for k, comp in enumerate(components(light, nb)):
        for u in comp:
            part_of[u] = k
        part_total[k] = float(w[comp].sum())
    grids = []
    for lab in sorted(set(labels.tolist())):
        idx = np.flatnonzero(labels == lab)
        geom = polygonal(shapely.union_all([blocks.geoms[i] for i in idx]))
        geom = single(geom)
        m = np.concatenate([blocks.members[i] for i in idx]) if len(idx) else np.array([], int)
        g_hh = float(hh[m].sum()) if len(m) else 0.0
        g_pop = float(pop[m].sum()) if len(m) else 0.0
        problems = []
        if not whole:
            if g_hh > hi:
                if len(idx) == 1 and indivisible[idx[0]]:
                    problems.append(
                        (
                            "size.above_ceiling",
                            f"{g_hh:.0f} households at one indivisible point or compound exceed "
                            f"the ceiling of {hi}; kept whole as its own grid",
                        )
                    )
                else:
                    problems.append(
                        (
                            "size.above_ceiling",
                            f"{g_hh:.0f} households exceed the ceiling of {hi}: the blocks here "
                            "could not be grouped below it",
                        )
                    )
            elif g_hh < lo:
                part = part_of.get(int(idx[0]))
                t = part_total.get(part, g_hh)
                if g_hh == 0:
                    reason = "this part of the community holds no households"
                elif t < lo:
                    reason = (
                        f"this connected part of the community holds only {t:.0f} households, "
                        f"below the floor of {lo}"
                    )
                elif not choose_k(t, lo, hi)[1]:
                    reason = (
                        f"the {t:.0f} households of this connected part cannot be divided into "
                        f"grids of {lo}–{hi}; the ceiling was kept, so grids fall below the floor"
                    )
                else:
                    reason = (
                        f"{g_hh:.0f} households, below the floor of {lo}: the block sizes and "
                        "their adjacency did not allow a grid in band"
                    )
                problems.append(("size.below_floor", reason))
            alt = profile.population_band(kind)
            if problems and g_hh <= hi and alt and alt[0] <= g_pop <= alt[1]:
                problems = []  # the profile's population alternative is met
        grids.append(
            {
                "geometry": geom,
                "grid_type": "rural" if kind == "rural" else "urban",
                "households": g_hh,
                "population": g_pop,
                "problems": problems,
            }
        )
    return grids


def seed_for(code: str, seed: int) -> int:
    """The per-community seed derived from its code."""
    return (zlib.crc32(code.encode()) + seed) % (2**32)


__all__ = ["CommunityResult", "CommunityTask", "Group", "partition_community"]
