"""The pure editing model (issue 19): blocks of a partitioned community, moves, merge,
split, rename, type, lock; counts and the validator's findings after each edit."""

from __future__ import annotations

import functools
import time

import numpy as np
import pytest
import shapely

from gridgeo.edit import EditError, Plan, PlanGrid, community_blocks, review
from gridgeo.partition import partition
from gridgeo.testing import CRS, district


@functools.lru_cache(maxsize=2)
def partitioned(n_households: int = 3000, size: float = 1000.0):
    """A square community with streets every 100 m, partitioned by the partitioner."""
    comm, roads, hh = district(n_households=n_households, size=size)
    grids = partition(comm, roads, hh, profile="yongzhou").grids.to_crs(CRS)
    return comm, roads, hh, grids


def plan_of(comm, roads, hh, grids) -> Plan:
    xy = shapely.get_coordinates(hh.geometry.values)
    blocks, owner = community_blocks(
        comm.geometry.iloc[0],
        grids.geometry.values,
        roads=list(roads.geometry.values),
        points_xy=xy,
        households=hh["households"].to_numpy(),
        population=hh["population"].to_numpy(),
    )
    items = [
        PlanGrid(str(c), str(c), str(n), str(t))
        for c, n, t in zip(grids["grid_code"], grids["grid_name"], grids["grid_type"], strict=True)
    ]
    return Plan.from_owner(str(comm["code"].iloc[0]), blocks, owner, items)


def border_block(plan: Plan, src: str, dst: str) -> int:
    """A block of ``src`` bordering ``dst``."""
    nb = plan.blocks.neighbours()
    mine = set(plan.members(dst).tolist())
    return next(int(b) for b in plan.members(src) if nb[b] & mine)


def neighbours_of(plan: Plan) -> tuple[str, str]:
    keys = list(plan.grids)
    for a in keys:
        for b in keys:
            if a != b:
                try:
                    border_block(plan, a, b)
                    return a, b
                except StopIteration:
                    continue
    raise AssertionError("no neighbours")


def test_blocks_rebuild_the_grids_and_hold_every_household():
    comm, roads, hh, grids = partitioned()
    plan = plan_of(comm, roads, hh, grids)
    assert plan.blocks.n > len(grids)
    assert plan.blocks.households.sum() == hh["households"].sum()
    for code, geom, n in zip(grids["grid_code"], grids.geometry, grids["households"], strict=True):
        assert shapely.area(shapely.symmetric_difference(plan.geometry(code), geom)) < 1.0
        assert plan.households()[code] == n


def test_move_keeps_exact_borders_and_moves_households():
    comm, roads, hh, grids = partitioned()
    plan = plan_of(comm, roads, hh, grids)
    a, b = neighbours_of(plan)
    blk = border_block(plan, a, b)
    before = plan.households()
    moved = plan.move([blk], b)
    after = moved.households()
    w = int(plan.blocks.households[blk])
    assert (after[a], after[b]) == (before[a] - w, before[b] + w)
    assert set(moved.touched) == {a, b}
    assert plan.households() == before  # edits return a new plan
    union = shapely.union_all([moved.geometry(k) for k in moved.grids])
    assert shapely.area(shapely.symmetric_difference(union, comm.geometry.iloc[0])) < 1.0
    assert abs(sum(shapely.area(moved.geometry(k)) for k in moved.grids) - union.area) < 1.0
    r = review(moved, comm.geometry.iloc[0], profile="yongzhou", crs=CRS)
    assert r.households == {a: after[a], b: after[b]}
    assert r.band[a] == (300, 500)


def test_a_move_out_of_band_is_a_finding_and_a_far_block_is_refused():
    comm, roads, hh, grids = partitioned()
    plan = plan_of(comm, roads, hh, grids)
    a, b = neighbours_of(plan)
    p = plan
    while p.households()[a] >= 300:  # drain a into b, block by block
        p = p.move([border_block(p, a, b)], b)
    r = review(p, comm.geometry.iloc[0], profile="yongzhou", crs=CRS)
    assert any(f.rule == "size.below_floor" and a in f.grids for f in r.findings)
    nb_a = set(plan.members(a).tolist())
    far = next(
        int(x)
        for k in plan.grids
        if k != a
        for x in plan.members(k)
        if not plan.blocks.neighbour_sets[int(x)] & nb_a
    )
    with pytest.raises(EditError, match="does not border"):
        plan.move([far], a)


def test_merge_split_rename_type_lock():
    comm, roads, hh, grids = partitioned()
    plan = plan_of(comm, roads, hh, grids)
    a, b = neighbours_of(plan)
    total = plan.households()[a] + plan.households()[b]
    merged = plan.merge(a, b)
    assert b not in merged.grids and merged.households()[a] == total
    assert merged.grids[a].code is None  # a merge issues a new code at filing
    parts = merged.split(a, 2, lo=300, hi=500)
    new = [k for k in parts.grids if k.startswith(f"{a}.")]
    assert len(new) == 2 and sum(parts.households()[k] for k in new) == total
    for k in new:  # each part contiguous: one polygon
        assert shapely.get_num_geometries(parts.geometry(k)) == 1
    named = plan.rename(a, "  菜市场网格 ").set_type(a, "dedicated").lock(a)
    assert (named.grids[a].name, named.grids[a].grid_type) == ("菜市场网格", "dedicated")
    with pytest.raises(EditError, match="locked"):
        named.move([border_block(named, b, a)], a)
    with pytest.raises(EditError, match="unknown grid type"):
        plan.set_type(a, "market")


def test_edit_review_is_fast_for_30_grids():
    comm, roads, hh, grids = partitioned(n_households=12000, size=1400.0)
    plan = plan_of(comm, roads, hh, grids)
    assert len(plan.grids) >= 25
    a, b = neighbours_of(plan)
    outline = comm.geometry.iloc[0]
    review(plan, outline, profile="yongzhou", crs=CRS)  # warm caches
    wall, cpu = [], []
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        moved = plan.move([border_block(plan, a, b)], b)
        r = review(moved, outline, profile="yongzhou", crs=CRS)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    ms_wall, ms_cpu = 1000 * float(np.median(wall)), 1000 * float(np.median(cpu))
    print(
        f"edit → counts + findings: {ms_cpu:.1f} ms CPU ({ms_wall:.1f} ms wall on a shared "
        f"machine) median, {len(plan.grids)} grids, {plan.blocks.n} blocks"
    )
    assert r.households[a] + r.households[b] == plan.households()[a] + plan.households()[b]
    assert ms_cpu <= 100
