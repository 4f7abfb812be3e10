"""The partitioner's entry point: layers in, grids + violations + metrics out.

Pipeline (each stage a function of its own module)::

    check inputs → metric CRS → clean roads → households to communities
      → per community: dedicated sites → blocks → split → aggregate → codes
      → grids / violations in the communities' CRS → metrics

Communities are independent, so the per-community stage can run in local processes
(``workers``) or a dask cluster (``scheduler``); results are gathered in community order and are
identical to the serial run.
"""

from __future__ import annotations

import functools
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridgeo.crs import work_crs as work_crs_for
from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.io import raise_for_problems
from gridgeo.io.fields import resolve_count_fields
from gridgeo.partition.carriageways import collapse_carriageways
from gridgeo.partition.clean import CleanedRoads, clean_roads_for, lines_meeting
from gridgeo.partition.community import (
    CommunityResult,
    CommunityTask,
    Group,
    partition_community,
)
from gridgeo.partition.dedicated import Site
from gridgeo.partition.inputs import check_inputs, overlap_problems
from gridgeo.partition.metrics import straight_pieces, summarise
from gridgeo.partition.twocores import Background, both_cores
from gridgeo.partition.violations import VIOLATION_COLUMNS, violation
from gridgeo.rules import Profile, load_profile

log = logging.getLogger(__name__)

GRID_COLUMNS = [
    "grid_code",
    "grid_name",
    "grid_type",
    "community_code",
    "households",
    "population",
    "area_m2",
    "geometry",
]


@dataclass
class PartitionResult:
    """What :func:`partition` returns.

    Attributes
    ----------
    grids
        GeoDataFrame with the columns of the output contract (``grid_code``, ``grid_name``,
        ``grid_type``, ``community_code``, ``households``, ``population``, ``area_m2``,
        geometry) in the input communities' CRS, sorted by ``grid_code``.
    violations
        GeoDataFrame (``rule``, ``reason``, ``community_code``, ``grid_code``,
        geometry): each rule a grid or community breaks, and households outside
        every community.
    metrics
        Quality figures and runtime per stage (see :func:`gridgeo.partition.metrics.summarise`).
    warnings
        Input problems that did not stop the run (:func:`gridgeo.io.check_layer` warnings,
        e.g. repaired geometries, features outside China).
    """

    grids: gpd.GeoDataFrame
    violations: gpd.GeoDataFrame
    metrics: dict[str, Any] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)


def _to_metric(gdf: gpd.GeoDataFrame | None, crs) -> gpd.GeoDataFrame | None:
    if gdf is None:
        return None
    return gdf.to_crs(crs) if not pyproj.CRS(gdf.crs).equals(crs) else gdf


class _GcPause:
    """Python's cyclic garbage collector off while any :func:`partition` runs in this process.

    A run allocates hundreds of thousands of short-lived objects (geometries, arrays, lists)
    and holds few reference cycles, so the collector's passes free little and cost CPU
    (city: 0.16 s in the communities and, on the median, 0.10 s of the serial road-line
    stage). Runs nest or overlap in threads: the collector is switched off by the first and
    back on (if it was on before) by the last to finish, so a caller's setting survives.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._was_enabled = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0 and self._was_enabled:
                    gc.enable()


_gc_paused = _GcPause()


def _without_gc(func: Callable) -> Callable:
    """``func`` run with the cyclic garbage collector paused (:class:`_GcPause`)."""

    @functools.wraps(func)
    def run(*args, **kwargs):
        with _gc_paused():
            return func(*args, **kwargs)

    return run


@_without_gc
def partition(
    communities: gpd.GeoDataFrame,
    roads: gpd.GeoDataFrame | None = None,
    households: gpd.GeoDataFrame | None = None,
    *,
    dedicated: gpd.GeoDataFrame | None = None,
    villager_groups: gpd.GeoDataFrame | None = None,
    profile: str | Profile | None = None,
    code_pattern: str | None = None,
    kind: str | None = None,
    seed: int = 0,
    work_crs: Any = None,
    repair: bool = False,
    workers: int | str = 1,
    scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PartitionResult:
    """Partition communities into compliant urban, rural and dedicated grids.

    Parameters
    ----------
    communities, roads, households, dedicated, villager_groups
        The input layers (contracts in :mod:`gridgeo.io.schemas`): community
        polygons (``code``, ``name``, optional ``kind`` in any spelling of
        :data:`gridgeo.rules.KIND_WORDS`); road centrelines that grid borders follow;
        household points (optional ``households`` weight, ``population``,
        ``compound_id``); dedicated sites (``name``, ``category``); villager groups
        (``name``, ``village_code``). Only ``communities`` is required.
    profile
        A shipped profile name, a TOML path or a :class:`~gridgeo.rules.Profile`; default
        the setting ``GRIDGEO_PROFILE`` (:func:`~gridgeo.rules.default_profile_name`).
    code_pattern, kind
        This run's community code pattern (overrides the profile's); ``urban``/``rural``
        for communities without a ``kind`` value (else the code scheme decides, else urban).
    seed, work_crs
        Base seed of the aggregation's random spanning trees; metric CRS to work in
        (default :func:`gridgeo.crs.work_crs` of the communities).
    repair
        Repair invalid input geometries in place (reported in ``warnings``), not refuse them.
    workers, scheduler
        ``workers`` local processes (``"auto"``: :func:`~gridgeo.partition.parallel.auto_workers`)
        or the dask scheduler at ``scheduler`` (``tcp://host:port``); same result as serial.
    progress
        Called as ``progress(done, total)`` after each community.

    Returns
    -------
    PartitionResult

    Raises
    ------
    InputError
        Every error of the inputs against the layer contracts, or overlapping communities.
    """
    clock = _Clock()
    layers = {"communities": communities, "roads": roads, "households": households,
              "dedicated": dedicated, "villager_groups": villager_groups}  # fmt: skip
    # the roads' cleaning starts before the inputs are checked (on the other core); a
    # check that fails waits for it, then raises (its result is not used)
    with _early_cleaning(layers, profile, code_pattern, work_crs, repair) as early:
        with clock("prepare"):
            prof, crs, comm, warnings = _prepare(
                layers, profile, code_pattern, kind, work_crs, repair
            )
        tasks, pts = _head(layers, comm, crs, prof, kind, clock, early)
    with clock("communities"):
        results = _run(tasks, prof, seed=seed, workers=workers, scheduler=scheduler,
                       progress=progress)  # fmt: skip
    with clock("assemble"):
        grid_rows = [g for r in results for g in r.grids]
        viol_rows = [v for r in results for v in r.violations] + pts.violations
        grids, violations = _assemble(grid_rows, viol_rows, crs, communities.crs)
    with clock("metrics"):
        metrics = _metrics(results, grid_rows, comm, prof, pts, crs)
    metrics["runtime_s"] = {**clock.rounded(), **metrics.pop("runtime_s", {})}
    log.info("partitioned %d communities into %d grids (%d violations) in %.1f s",
             len(comm), len(grids), len(violations), clock.total())  # fmt: skip
    return PartitionResult(grids, violations, metrics, warnings)


def _head(
    layers: dict[str, Any],
    comm: gpd.GeoDataFrame,
    crs,
    prof: Profile,
    kind,
    clock: _Clock,
    early: tuple[Background, gpd.GeoDataFrame] | None = None,
) -> tuple[list[CommunityTask], _Points]:
    """The parent's work before the pool: the communities' tasks and the assigned points.

    The roads are cleaned on a thread (``early``: started before the inputs' check, by
    :func:`_early_cleaning`, with the roads it took to ``crs``) while this one assigns
    points, sites and groups to the communities and cuts each one's drawn roads: both are
    mostly GEOS and numpy work, which releases the GIL (:mod:`gridgeo.partition.twocores`).
    """
    # the households as the check left them (their count fields resolved), not the early
    # thread's copy (taken before the check, for the divided roads' median alone)
    hm = _to_metric(layers["households"], crs)
    if early is None:
        rm = _to_metric(layers["roads"], crs)
        own = Background(_clean_lines, rm, hm, prof, comm.geometry.to_numpy())
    else:
        own, rm = nullcontext(early[0]), early[1]
    with clock("clean"), both_cores(), own as cleaning, clock("assign"):
        geoms = comm.geometry.to_numpy()
        drawn_by = lines_meeting(_drawn_lines(rm), geoms)
        pts = _assign_households(hm, crs, geoms)
        sites = _sites_by_community(layers["dedicated"], crs, geoms)
        groups = _groups_by_community(layers["villager_groups"], crs, geoms, comm["code"].tolist())
    with clock("tasks"):
        lines_by = cleaning.wait().meeting(geoms)
        tasks = _tasks(comm, (lines_by, drawn_by), pts, sites, groups, prof, kind)
    return tasks, pts


def _metrics(results, grid_rows, comm, prof: Profile, pts: _Points, crs) -> dict[str, Any]:
    """Quality figures of the run (:func:`gridgeo.partition.metrics.summarise`)."""
    grids = gpd.GeoDataFrame(grid_rows, geometry="geometry", crs=crs) if grid_rows else None
    metrics = summarise(
        results,
        grids_metric=grids,
        communities_metric=comm,
        profile=prof,
        households_total=float(pts.households.sum()),
        outside=pts.outside(),
    )
    return {**metrics, "work_crs": crs.to_string(), "profile": prof.name}


class _Clock:
    """Wall time per named stage: ``with clock("name"): ...``."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.stages: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        yield
        self.stages[name] = time.perf_counter() - t

    def total(self) -> float:
        return time.perf_counter() - self.start

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in {**self.stages, "total": self.total()}.items()}


# -- stages ------------------------------------------------------------------------------------


def _prepare(
    layers: dict, profile, code_pattern, kind, work_crs, repair: bool
) -> tuple[Profile, pyproj.CRS, gpd.GeoDataFrame, list[Problem]]:
    """Profile, work CRS, the communities in it (sorted by code) and input warnings.

    Raises :class:`InputError` listing every error of the layers against their contracts,
    or the overlapping communities.
    """
    prof = load_profile(profile).with_code_pattern(code_pattern)
    if kind is not None and kind not in ("urban", "rural"):
        raise InputError(_("kind must be 'urban' or 'rural', got {kind}").format(kind=repr(kind)))
    if isinstance(layers["households"], gpd.GeoDataFrame):
        # 户数, 常住人口 … → households, population (warns when there is none)
        layers["households"] = resolve_count_fields(layers["households"])[0]
    problems = check_inputs(*layers.values(), prof, repair=repair)
    raise_for_problems(problems, "the partition inputs are not usable")
    communities = layers["communities"]
    crs = work_crs_for(communities, work_crs)
    comm = _to_metric(communities, crs)
    comm = comm.assign(code=comm["code"].astype(str)).sort_values("code", kind="stable")
    overlaps = overlap_problems(
        comm["code"].tolist(), comm.geometry.to_numpy(), tolerance_m2=prof.quality.seam_tolerance_m2
    )
    if overlaps:
        raise InputError(_("communities overlap"), overlaps)
    return prof, crs, comm, problems


@contextmanager
def _early_cleaning(
    layers: dict[str, Any], profile, code_pattern, work_crs, repair: bool
) -> Iterator[tuple[Background, gpd.GeoDataFrame] | None]:
    """The roads' cleaning (:func:`_clean_lines`) started on a thread before the inputs are
    checked, in the work CRS :func:`_prepare` will choose: ``(the thread, the roads in that
    CRS)``, or ``None`` when it cannot start yet: inputs to repair first (``repair``: the
    check changes them), or a profile, CRS or road layer the check will refuse. Leaving the
    block waits for the thread."""
    job = None
    roads = layers["roads"]
    if not repair and isinstance(roads, gpd.GeoDataFrame) and roads.crs is not None:
        try:
            prof = load_profile(profile).with_code_pattern(code_pattern)
            crs = work_crs_for(layers["communities"], work_crs)
            rm = _to_metric(roads, crs)
            hh = layers["households"]
            # the households only place the median of divided roads (off by default)
            hm = None
            if prof.quality.divided_roads_on_median and isinstance(hh, gpd.GeoDataFrame):
                hm = _to_metric(hh, crs)
            areas = _to_metric(layers["communities"], crs).geometry.to_numpy()
        except Exception:  # the check names the problem
            crs = None
        if crs is not None:
            with both_cores():  # (the thread takes up this context)
                job = Background(_clean_lines, rm, hm, prof, areas)
    if job is None:
        yield None
        return
    with job:
        yield job, rm


def _clean_lines(
    roads: gpd.GeoDataFrame | None,
    households: gpd.GeoDataFrame | None,
    prof: Profile,
    areas: np.ndarray | None = None,
) -> CleanedRoads:
    """Cleaned road centrelines (near misses closed, dangles extended; with
    ``quality.divided_roads_on_median`` the one-way halves of divided roads on their
    centreline), from the roads and households in the work CRS, for the communities
    ``areas`` (:func:`gridgeo.partition.clean.clean_roads_for`: in two halves at once
    where that gives the same lines)."""
    areas = np.array([], dtype=object) if areas is None else areas
    q = prof.quality
    kw = {"snap_m": q.road_snap_m, "extend_m": q.road_extend_m}
    if roads is None or not len(roads):
        return clean_roads_for(np.array([], dtype=object), areas, **kw)
    geoms = roads.geometry.to_numpy()
    if q.divided_roads_on_median:  # off by default: borders stay on the carriageways
        keep = None
        if households is not None and len(households):
            keep = shapely.get_coordinates(households.geometry.to_numpy())
        geoms = collapse_carriageways(roads, keep_xy=keep, snap_m=q.road_snap_m)
    return clean_roads_for(geoms, areas, **kw)


def _drawn_lines(roads: gpd.GeoDataFrame | None) -> np.ndarray:
    """The road lines as drawn, as their straight segments (work CRS), for the road-share
    metric."""
    if roads is None or not len(roads):
        return np.array([], dtype=object)
    geoms = roads.geometry.to_numpy()
    return straight_pieces(shapely.get_parts(geoms[~shapely.is_missing(geoms)]))


@dataclass
class _Points:
    """Household points in the work CRS and the community each lies in (-1: none)."""

    xy: np.ndarray
    households: np.ndarray
    population: np.ndarray
    compound: np.ndarray | None
    owner: np.ndarray
    violations: list[dict]
    counted: bool = True  # the layer carries household counts

    def outside(self) -> tuple[int, float]:
        """Points and households lying in no community."""
        out = self.owner < 0
        return int(out.sum()), float(self.households[out].sum())


def _column(df: pd.DataFrame, col: str, default: float) -> np.ndarray:
    if col not in df.columns:
        return np.full(len(df), default, dtype=float)
    return pd.to_numeric(df[col], errors="coerce").fillna(default).to_numpy(float)


def _assign_households(households, crs, geoms: np.ndarray) -> _Points:
    """Each household point to the first community (by code order) holding it."""
    if households is None or not len(households):
        z = np.zeros(0)
        return _Points(np.zeros((0, 2)), z, z, None, np.zeros(0, dtype=int), [])
    hm = _to_metric(households, crs)
    hxy = shapely.get_coordinates(hm.geometry.to_numpy())
    hw = _column(hm, "households", 1.0)
    hp = _column(hm, "population", 0.0)
    hc = hm["compound_id"].to_numpy(object) if "compound_id" in hm.columns else None
    hrows = hm.index.to_numpy()
    pi, ci = shapely.STRtree(geoms).query(shapely.points(hxy), predicate="intersects")
    order = np.lexsort((ci, pi))
    pi, ci = pi[order], ci[order]
    first = np.unique(pi, return_index=True)[1]
    owner = np.full(len(hxy), -1)
    owner[pi[first]] = ci[first]
    lost = [
        violation(
            "household.outside_community",
            _("household point row {row} ({n:.0f} households) lies in no community").format(
                row=hrows[k], n=hw[k]
            ),
            community_code=None,
            geometry=shapely.points(hxy[k]),
        )
        for k in np.flatnonzero(owner < 0)
    ]
    counted = "households" in hm.columns and bool(hm["households"].notna().any())
    return _Points(hxy, hw, hp, hc, owner, lost, counted)


def _sites_by_community(dedicated, crs, geoms: np.ndarray) -> dict[int, list[Site]]:
    """Dedicated sites per community (a site touching two communities is offered to both)."""
    sites_by: dict[int, list[Site]] = {i: [] for i in range(len(geoms))}
    if dedicated is None or not len(dedicated):
        return sites_by
    dm = _to_metric(dedicated, crs)
    ci, di = shapely.STRtree(dm.geometry.to_numpy()).query(geoms, predicate="intersects")
    for c, d in zip(ci, di, strict=True):
        name, category = dm["name"].iloc[d], dm["category"].iloc[d]
        sites_by[int(c)].append(
            Site(
                row=dm.index[d],
                geom=dm.geometry.iloc[d],
                name=str(name) if pd.notna(name) else "",
                category=str(category) if pd.notna(category) else "",
                households=_num(dm, "households", d),
                population=_num(dm, "population", d),
            )
        )
    return sites_by


def _groups_by_community(villager_groups, crs, geoms, codes: list[str]) -> dict[int, list[Group]]:
    """Villager groups per village (a group naming another village's code is left out)."""
    groups_by: dict[int, list[Group]] = {i: [] for i in range(len(geoms))}
    if villager_groups is None or not len(villager_groups):
        return groups_by
    gm = _to_metric(villager_groups, crs)
    ci, gi = shapely.STRtree(gm.geometry.to_numpy()).query(geoms, predicate="intersects")
    for c, g in zip(ci, gi, strict=True):
        vc = gm["village_code"].iloc[g] if "village_code" in gm.columns else None
        if vc is not None and pd.notna(vc) and str(vc) != codes[c]:
            continue
        groups_by[int(c)].append(Group(gm.index[g], gm.geometry.iloc[g], str(gm["name"].iloc[g])))
    return groups_by


def _tasks(comm, roads, pts: _Points, sites, groups, prof: Profile, kind) -> list[CommunityTask]:
    """One picklable task per community: its kind, roads (cleaned, and as drawn: each a list of
    the lines per community, :func:`gridgeo.partition.clean.lines_meeting`), points, sites and groups."""
    lines_by, drawn_by = roads
    geoms = comm.geometry.to_numpy()
    codes = comm["code"].tolist()
    names = comm["name"].astype(str).tolist()
    kinds_col = comm["kind"].tolist() if "kind" in comm.columns else [None] * len(comm)
    tasks = []
    for i in range(len(comm)):
        mine = np.flatnonzero(pts.owner == i)
        tasks.append(
            CommunityTask(
                index=i,
                code=codes[i],
                name=names[i],
                kind=prof.community_kind(kinds_col[i], codes[i], default=kind) or "urban",
                geom=geoms[i],
                roads=lines_by[i],
                drawn_roads=drawn_by[i],
                xy=pts.xy[mine],
                households=pts.households[mine],
                population=pts.population[mine],
                compound=pts.compound[mine] if pts.compound is not None else None,
                sites=sites[i],
                groups=groups[i],
                households_counted=pts.counted,
            )
        )
    return tasks


def _assemble(
    grid_rows: list[dict], viol_rows: list[dict], crs, out_crs
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Grid and violation layers in the communities' CRS, grids sorted by code."""
    grids = gpd.GeoDataFrame(
        grid_rows if grid_rows else {c: [] for c in GRID_COLUMNS},
        columns=GRID_COLUMNS,
        geometry="geometry",
        crs=crs,
    )
    back = not pyproj.CRS(out_crs).equals(crs)
    if back:
        grids = grids.to_crs(out_crs)
        grids["geometry"] = _valid_after_transform(
            grids.geometry.to_numpy(), geographic=pyproj.CRS(out_crs).is_geographic
        )
    grids = grids.sort_values("grid_code", kind="stable").reset_index(drop=True)
    grids["households"] = grids["households"].astype("int64")
    grids["population"] = grids["population"].astype("int64")
    violations = gpd.GeoDataFrame(
        viol_rows if viol_rows else {c: [] for c in VIOLATION_COLUMNS},
        columns=VIOLATION_COLUMNS,
        geometry="geometry",
        crs=crs,
    )
    return grids, violations.to_crs(out_crs) if back else violations


def _valid_after_transform(geoms: np.ndarray, *, geographic: bool) -> np.ndarray:
    """Repair the rare polygon a reprojection makes self-touching; keep one Polygon."""
    from gridgeo.partition.tidy import clean_polygon

    out = geoms.copy()
    bad = np.flatnonzero(~shapely.is_valid(geoms))
    for i in bad:
        if geographic:  # degrees: ~1 mm bridges, parts below 1e-7 of the grid dropped
            area = abs(shapely.area(geoms[i])) or 1.0
            out[i] = clean_polygon(geoms[i], speck_m2=area * 1e-7, bridge=1e-8, join=5e-7)
        else:
            out[i] = clean_polygon(geoms[i], speck_m2=0.5)
    return out


def _num(df: pd.DataFrame, col: str, pos: int) -> float | None:
    if col not in df.columns:
        return None
    v = pd.to_numeric(pd.Series([df[col].iloc[pos]]), errors="coerce").iloc[0]
    return None if pd.isna(v) else float(v)


def _run(
    tasks: list[CommunityTask],
    profile: Profile,
    *,
    seed: int,
    workers: int | str,
    scheduler: str | None,
    progress: Callable[[int, int], None] | None,
) -> list[CommunityResult]:
    total = len(tasks)
    if workers == "auto":
        from gridgeo.partition.parallel import auto_workers

        workers = auto_workers(tasks)
    elif isinstance(workers, str):
        raise ValueError(f"workers: a number of processes or 'auto', not {workers!r}")
    if (workers or 1) <= 1 and not scheduler:
        out = []
        for k, task in enumerate(tasks, start=1):
            out.append(partition_community(task, profile, seed=seed))
            if progress:
                progress(k, total)
        return out
    if not scheduler:
        from gridgeo.partition.parallel import run_local

        return run_local(tasks, profile, seed=seed, workers=workers, progress=progress)
    from gridgeo.partition.parallel import run_dask

    return run_dask(
        tasks, profile, seed=seed, workers=workers, scheduler=scheduler, progress=progress
    )
