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

from gridgeo.i18n import _
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
from gridgeo.partition.metrics import border_stats, coverage_union, seam_error
from gridgeo.partition.split import _units, split_block
from gridgeo.partition.tidy import absorb_tiny, clean_polygon, hand_over_lobes, single
from gridgeo.partition.violations import violation
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
    households_counted: bool = True
    drawn_roads: np.ndarray | None = None  # the road lines as drawn, for the road-share metric

    def __getstate__(self) -> dict:
        # the road arrays go as one WKB array each (shapely pickles a geometry at a time,
        # about 50 times slower: a city's tasks took 0.1 s to pickle); WKB keeps every
        # coordinate bit for bit
        state = dict(self.__dict__)
        for key in _LINE_ARRAYS:
            if state[key] is not None:
                state[key] = shapely.to_wkb(np.asarray(state[key], dtype=object))
        return state

    def __setstate__(self, state: dict) -> None:
        for key in _LINE_ARRAYS:
            if state[key] is not None:
                state[key] = shapely.from_wkb(state[key])
        self.__dict__.update(state)


#: the fields of :class:`CommunityTask` pickled as WKB
_LINE_ARRAYS = ("roads", "drawn_roads")


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

    Stages: dedicated sites → blocks → split blocks above the ceiling → aggregate →
    tidy → codes and violations → border metrics.

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
    ctx = _Context.of(task, profile)
    dedicated_grids, compound_geoms, remaining, taken = take_sites(
        task.geom, task.sites, ctx.xy, ctx.hh, ctx.pop, profile
    )
    times["dedicated"] = time.perf_counter() - t0
    remaining = _polygonal(remaining)
    plan = _Plan()
    if remaining is not None and remaining.area > 0:
        plan = _plan_ordinary(ctx, remaining, compound_geoms, np.flatnonzero(~taken), seed, times)
    grids = _tidy_grids(plan.grids + dedicated_grids, ctx)
    out = codes.name_and_number(
        grids, task.code, task.name, digits=profile.codes.grid_sequence_digits
    )
    violations = _violations(grids, out, ctx, plan)
    t4 = time.perf_counter()
    q = profile.quality
    internal, on_road, on_drawn = border_stats(
        [r["geometry"] for r in out],
        task.roads,
        plan.medians,
        task.geom,
        q.road_tolerance_m,
        q.min_shared_border_m,
        drawn=task.drawn_roads,
    )
    seam = seam_error([r["geometry"] for r in out], task.geom)
    times["metrics"] = time.perf_counter() - t4
    # the rest: grid geometry (union of blocks, tidy), codes and violations
    times["grids"] = time.perf_counter() - t0 - sum(times.values())
    stats = {
        "blocks": plan.n_blocks,
        "feasible": bool(plan.feasible),
        "kind": ctx.kind,
        "band": (ctx.lo, ctx.hi),
        "measure": ctx.measure,
        "banded": plan.banded,
        "indivisible_over_ceiling": plan.heavy_units,
        "internal_border_m": internal,
        "internal_border_on_road_m": on_road,
        "internal_border_on_drawn_road_m": on_drawn,
        "seam_error_m2": seam,
        "times": times,
    }
    return CommunityResult(task.index, task.code, out, violations, stats)


@dataclass
class _Context:
    """What every stage of one community reads: task, profile, kind, band, point arrays.

    ``w`` is what grid size is measured in: the households, or — when the household
    layer carries no household counts and the profile gives a population figure for
    the kind (:meth:`~gridgeo.rules.Profile.population_band`) — the residents, with
    ``lo``/``hi`` the population band.
    """

    task: CommunityTask
    profile: Profile
    kind: str
    lo: int
    hi: int
    hh: np.ndarray
    pop: np.ndarray
    xy: np.ndarray
    w: np.ndarray
    measure: str = "households"

    @classmethod
    def of(cls, task: CommunityTask, profile: Profile) -> _Context:
        hh = np.asarray(task.households, dtype=float)
        pop = np.asarray(task.population, dtype=float)
        xy = np.asarray(task.xy, dtype=float).reshape(-1, 2)
        pop_band = profile.population_band(task.kind)
        if not task.households_counted and pop_band is not None and pop.sum() > 0:
            lo, hi = round(pop_band[0]), round(pop_band[1])
            return cls(task, profile, task.kind, lo, hi, hh, pop, xy, pop, "population")
        lo, hi = profile.household_band(task.kind)
        return cls(task, profile, task.kind, lo, hi, hh, pop, xy, hh)

    def amount(self, n: float, *, whole: bool = True) -> str:
        """``n`` in the band's unit for messages, in the language in use: "120 households"
        ("120 户"), or residents; ``whole`` rounds to a whole number, else ``n`` as it is."""
        if self.measure == "population":
            text = _("{n:.0f} residents") if whole else _("{n} residents")
        else:
            text = _("{n:.0f} households") if whole else _("{n} households")
        return text.format(n=n)

    def band_text(self) -> str:
        """The band ``lo``–``hi`` in its unit for messages, in the language in use."""
        if self.measure == "population":
            return _("{lo}–{hi} residents").format(lo=self.lo, hi=self.hi)
        return _("{lo}–{hi} households").format(lo=self.lo, hi=self.hi)

    @property
    def whole_village_max(self) -> float:
        """A village up to this size (in ``w``) is one grid (by residents: the ceiling)."""
        if self.measure == "population":
            return self.hi
        return self.profile.rural.whole_village_max_households

    @property
    def rural_mode(self) -> str | None:
        return self.profile.rural.mode if self.kind == "rural" else None

    @property
    def use_groups(self) -> bool:
        return self.rural_mode == "villager_group" and bool(self.task.groups)


@dataclass
class _Plan:
    """The ordinary (non-dedicated) grids of a community and how they were formed."""

    grids: list[dict] = field(default_factory=list)
    medians: list = field(default_factory=list)
    n_blocks: int = 0
    heavy_units: int = 0
    banded: bool = False
    feasible: bool = False


def _plan_ordinary(
    ctx: _Context, remaining, compound_geoms: list, free: np.ndarray, seed: int, times: dict
) -> _Plan:
    """Blocks → split → aggregate → grid records for the area outside dedicated grids."""
    t1 = time.perf_counter()
    blocks, roads = _blocks(ctx, remaining, compound_geoms, free)
    medians = blocks.medians
    times["blocks"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    total = float(blocks.weights.sum())
    whole = ctx.kind == "rural" and (ctx.rural_mode == "village" or total <= ctx.whole_village_max)
    if not whole and not ctx.use_groups:
        blocks = _split_heavy(ctx, blocks, roads)
    indivisible = _indivisible(ctx, blocks)
    times["split"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    q = ctx.profile.quality
    graph = adjacency(blocks.geoms, min_shared=q.min_shared_border_m)
    w = blocks.weights
    graph = _link_small_parts(graph, blocks.geoms, w, ctx.lo)
    banded = feasible = False
    if whole:
        labels = _component_labels(graph, len(w))
    elif ctx.use_groups:
        labels = _group_labels(blocks.geoms, ctx.task.groups, graph)
    else:
        seed_c = seed_for(ctx.task.code, seed)
        labels = aggregate(w, graph, lo=ctx.lo, hi=ctx.hi, seed=seed_c)
        banded = True
        feasible = _heaviest_unit(ctx, free) <= ctx.hi and choose_k(total, ctx.lo, ctx.hi)[1]
    times["aggregate"] = time.perf_counter() - t3
    grids = _grids_from_labels(blocks, labels, ctx, graph, indivisible, whole)
    return _Plan(grids, medians, len(blocks.geoms), int(indivisible.sum()), banded, feasible)


def _blocks(ctx: _Context, remaining, compound_geoms: list, free: np.ndarray):
    """Faces of roads (minus compounds), compound outlines and villager-group outlines."""
    task, q = ctx.task, ctx.profile.quality
    roads = np.asarray(task.roads, dtype=object)
    if compound_geoms and len(roads):
        cu = shapely.union_all(compound_geoms)
        roads = shapely.get_parts(shapely.difference(roads, cu))
        roads = roads[~shapely.is_empty(roads)] if len(roads) else roads
    extra = [shapely.boundary(g) for g in compound_geoms]
    if ctx.kind == "rural" and task.groups:
        # villager-group outlines are borders: one grid per group in villager_group
        # mode, else the band grids are built from blocks that never straddle a group
        extra += [shapely.boundary(g.geom) for g in task.groups]
    polys = faces(
        remaining, roads, extra_lines=extra, snap_m=q.road_snap_m, extend_m=q.road_extend_m
    )
    where = assign_points(polys, ctx.xy[free])
    members = _grouped(free, where, len(polys))
    blocks = Blocks(list(polys), members)
    blocks.recompute(ctx.w)
    blocks = tidy_blocks(
        blocks, ctx.w, ctx.xy, min_area=q.sliver_min_area_m2, median_width=q.median_max_width_m
    )
    return blocks, roads


def _split_heavy(ctx: _Context, blocks: Blocks, roads: np.ndarray) -> Blocks:
    """Cut blocks above the ceiling: first along dead-end roads, then between points."""
    q, hh, xy, hi = ctx.profile.quality, ctx.w, ctx.xy, ctx.hi
    compound = ctx.task.compound
    eps = ctx.profile.rural.hamlet_eps_m if ctx.kind == "rural" else None
    geoms2, members2 = [], []
    for g, m in zip(blocks.geoms, blocks.members, strict=True):
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
            comp = compound[m2] if compound is not None else None
            pieces = split_block(g2, xy[m2], hh[m2], ceiling=hi, compound=comp, hamlet_eps_m=eps)
            for piece, idx in pieces:
                geoms2.append(piece)
                members2.append(m2[idx])
    out = explode(Blocks(geoms2, members2, medians=blocks.medians), hh, xy)
    return tidy_blocks(
        out, hh, xy, min_area=q.sliver_min_area_m2, median_width=q.median_max_width_m
    )


def _heaviest_unit(ctx: _Context, free: np.ndarray) -> float:
    """Weight of the heaviest point location or compound among the points ``free`` (as the
    validator's ``GridSet.community_table``: a compound is one unit wherever its points lie)."""
    if len(free) == 0:
        return 0.0
    compound = ctx.task.compound
    units = _units(ctx.xy[free], compound[free] if compound is not None else None)
    return float(np.bincount(units, weights=ctx.w[free]).max())


def _indivisible(ctx: _Context, blocks: Blocks) -> np.ndarray:
    """Blocks above the ceiling made of one point location or compound (cannot be cut)."""
    out = np.zeros(len(blocks.geoms), dtype=bool)
    compound = ctx.task.compound
    for i, m in enumerate(blocks.members):
        if blocks.weights[i] > ctx.hi:
            comp = compound[m] if compound is not None else None
            out[i] = len(m) > 0 and int(_units(ctx.xy[m], comp).max()) == 0
    return out


def _tidy_grids(grids: list[dict], ctx: _Context) -> list[dict]:
    """Tiny empty grids join a neighbour; geometries snap-rounded and made one polygon."""
    q = ctx.profile.quality
    if float(ctx.hh.sum()) == 0:
        for g in grids:
            g["problems"] = []  # reported once as community.no_households
    grids = absorb_tiny(grids, q.sliver_min_area_m2)
    pinched = []
    for i, g in enumerate(grids):
        # snap-round to 0.01 mm: shared vertices of neighbours snap alike (no new gaps) and
        # hair-thin spikes left by overlays collapse, so a reprojection cannot twist them
        snapped = polygonal(shapely.set_precision(g["geometry"], 1e-5))
        if snapped is None or snapped.is_empty:
            continue
        if shapely.get_num_geometries(snapped) <= shapely.get_num_geometries(g["geometry"]):
            g["geometry"] = snapped
        elif g["grid_type"] != "dedicated":
            pinched.append((i, snapped))  # lobes joined by a hairline corridor
    for i, snapped in pinched:
        hand_over_lobes(grids, i, snapped, ctx.xy)
    for g in grids:
        g["geometry"] = clean_polygon(g["geometry"], speck_m2=q.seam_tolerance_m2 / 2)
        if g["geometry"].geom_type != "Polygon":
            g.setdefault("problems", []).append(
                ("geometry.not_contiguous", _("the grid is made of more than one polygon"))
            )
    return grids


def _violations(grids: list[dict], out: list[dict], ctx: _Context, plan: _Plan) -> list[dict]:
    """The grids' own problems, then the community's (sorts ``out`` by grid code)."""
    task, profile = ctx.task, ctx.profile
    here = {"community_code": task.code, "geometry": task.geom}
    # as the validator: a grid out of band in a community that cannot meet the band is
    # size.band_unattainable (a warning), not an error of its own
    unattainable = plan.banded and not plan.feasible
    found = [
        violation(_band_rule(rule, unattainable), reason, community_code=task.code,
                  grid_code=rec["grid_code"], geometry=rec["geometry"])
        for g, rec in zip(grids, out, strict=True)
        for rule, reason in g.get("problems", [])
    ]  # fmt: skip
    out.sort(key=lambda r: r["grid_code"])
    if ctx.rural_mode == "villager_group" and not task.groups:
        found.append(
            violation(
                "rural.no_villager_groups",
                _(
                    "profile {profile} divides villages by villager group, but no villager "
                    "group lies in this village; its grids were formed by household counts"
                ).format(profile=profile.name),
                **here,
            )
        )
    digits = profile.codes.grid_sequence_digits
    if len(out) > 10**digits - 1:
        found.append(
            violation(
                "code.sequence_overflow",
                _("{n} grids do not fit a {digits}-digit sequence").format(
                    n=len(out), digits=digits
                ),
                **here,
            )
        )
    if len(ctx.hh) == 0 or float(ctx.hh.sum()) == 0:
        found.append(
            violation(
                "community.no_households",
                _("no household point lies in this community; it was made one grid"),
                community_code=task.code,
                grid_code=out[0]["grid_code"] if len(out) == 1 else None,
                geometry=task.geom,
            )
        )
    elif plan.banded:
        found += _band_unattainable(out, ctx, here)
    return found


def _band_rule(rule: str, unattainable: bool) -> str:
    """``rule``, or ``size.band_unattainable`` for a size rule when the band cannot be met."""
    if unattainable and rule in ("size.below_floor", "size.above_ceiling"):
        return "size.band_unattainable"
    return rule


def _band_unattainable(out: list[dict], ctx: _Context, here: dict) -> list[dict]:
    """``size.band_unattainable`` when no whole number of grids fits the band."""
    lo, hi = ctx.lo, ctx.hi
    ord_total = sum(r[ctx.measure] for r in out if r["grid_type"] != "dedicated")
    ok = choose_k(ord_total, lo, hi)[1]
    small_village = ctx.kind == "rural" and ord_total <= ctx.whole_village_max
    if ok or ord_total <= 0 or small_village:
        return []
    return [
        violation(
            "size.band_unattainable",
            _(
                "{amount} outside dedicated grids cannot be divided into grids of {band} "
                "(no whole number of grids fits)"
            ).format(amount=ctx.amount(ord_total, whole=False), band=ctx.band_text()),
            **here,
        )
    ]


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


def _grouped(values: np.ndarray, keys: np.ndarray, n: int) -> list[np.ndarray]:
    """``[values[keys == i] for i in range(n)]`` (order kept) in one stable sort, not ``n``
    passes over ``keys``; keys outside ``0..n-1`` (a point in no block: -1) are left out."""
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(keys[order], np.arange(n + 1))
    return [values[order[bounds[i] : bounds[i + 1]]] for i in range(n)]


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
    blocks: Blocks, labels: np.ndarray, ctx: _Context, graph: Graph, indivisible, whole: bool
) -> list[dict]:
    """One grid record per label: union of its blocks, households, residents, problems."""
    hh, pop, w = ctx.hh, ctx.pop, ctx.w
    parts = _light_parts(blocks.weights, graph, ctx.hi)
    grids = []
    for lab in sorted(set(labels.tolist())):
        idx = np.flatnonzero(labels == lab)
        geom = single(polygonal(coverage_union([blocks.geoms[i] for i in idx])))
        m = np.concatenate([blocks.members[i] for i in idx]) if len(idx) else np.array([], int)
        g_hh = float(hh[m].sum()) if len(m) else 0.0
        g_pop = float(pop[m].sum()) if len(m) else 0.0
        g_w = float(w[m].sum()) if len(m) else 0.0
        problems = [] if whole else _size_problems(g_w, g_pop, idx, ctx, indivisible, parts)
        grids.append(
            {
                "geometry": geom,
                "grid_type": "rural" if ctx.kind == "rural" else "urban",
                "households": g_hh,
                "population": g_pop,
                "problems": problems,
            }
        )
    return grids


def _light_parts(w: np.ndarray, graph: Graph, hi: float) -> tuple[dict, dict]:
    """Connected parts after removing heavy blocks, as aggregate sees them: block → part,
    part → households."""
    part_of, part_total = {}, {}
    for k, comp in enumerate(
        components([u for u in range(len(w)) if w[u] <= hi], graph.neighbours())
    ):
        for u in comp:
            part_of[u] = k
        part_total[k] = float(w[comp].sum())
    return part_of, part_total


def _size_problems(g_hh, g_pop, idx, ctx: _Context, indivisible, parts) -> list[tuple[str, str]]:
    """``size.above_ceiling`` / ``size.below_floor`` of one grid (``g_hh`` in the band's
    unit), with the reason; none when the profile's population band is met instead."""
    lo, hi = ctx.lo, ctx.hi
    problems = []
    if g_hh > hi:
        if len(idx) == 1 and indivisible[idx[0]]:
            why = _(
                "{amount} at one indivisible point or compound exceed the ceiling of {hi}; "
                "kept whole as its own grid"
            ).format(amount=ctx.amount(g_hh), hi=hi)
        else:
            why = _(
                "{amount} exceed the ceiling of {hi}: the blocks here could not be grouped below it"
            ).format(amount=ctx.amount(g_hh), hi=hi)
        problems.append(("size.above_ceiling", why))
    elif g_hh < lo:
        part_of, part_total = parts
        t = part_total.get(part_of.get(int(idx[0])), g_hh)
        if g_hh == 0:
            why = (
                _("this part of the community holds no residents")
                if ctx.measure == "population"
                else _("this part of the community holds no households")
            )
        elif t < lo:
            why = _(
                "this connected part of the community holds only {amount}, below the floor of {lo}"
            ).format(amount=ctx.amount(t), lo=lo)
        elif not choose_k(t, lo, hi)[1]:
            why = _(
                "the {amount} of this connected part cannot be divided into grids of {lo}–{hi}; "
                "the ceiling was kept, so grids fall below the floor"
            ).format(amount=ctx.amount(t), lo=lo, hi=hi)
        else:
            why = _(
                "{amount}, below the floor of {lo}: the block sizes and their adjacency did "
                "not allow a grid in band"
            ).format(amount=ctx.amount(g_hh), lo=lo)
        problems.append(("size.below_floor", why))
    alt = ctx.profile.population_band(ctx.kind) if ctx.measure == "households" else None
    if problems and g_hh <= hi and alt and alt[0] <= g_pop <= alt[1]:
        return []  # the profile's population alternative is met
    return problems


def seed_for(code: str, seed: int) -> int:
    """The per-community seed derived from its code."""
    return (zlib.crc32(code.encode()) + seed) % (2**32)


__all__ = ["CommunityResult", "CommunityTask", "Group", "partition_community"]
