"""``workers`` / ``scheduler``: communities on local processes or on dask give exactly the
serial result."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from gridgeo.partition import partition
from gridgeo.testing import tiled_district


@pytest.fixture(scope="module")
def district():
    comm, roads, hh = tiled_district(2, 2, n_households=1500, size=600, per_point=5)
    return comm, roads, hh, partition(comm, roads, hh)


def _same(serial, other) -> None:
    assert len(serial.grids) > 4
    assert serial.grids.drop(columns="geometry").equals(other.grids.drop(columns="geometry"))
    assert list(serial.grids.geometry.to_wkb()) == list(other.grids.geometry.to_wkb())
    assert serial.violations.drop(columns="geometry").equals(
        other.violations.drop(columns="geometry")
    )


def test_local_processes_match_serial(district):
    comm, roads, hh, serial = district
    seen = []
    parallel = partition(
        comm, roads, hh, workers=2, progress=lambda done, total: seen.append((done, total))
    )
    _same(serial, parallel)
    assert seen[-1] == (4, 4)


def test_local_processes_with_another_thread_running_match_serial(district):
    # another thread running (say a progress bar refreshing itself) makes the pool start
    # its workers by forkserver
    import threading
    from multiprocessing import forkserver

    from gridgeo.partition.parallel import PRELOAD, _start_method

    comm, roads, hh, serial = district
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        method = _start_method()
        assert method in ("forkserver", "spawn")
        parallel = partition(comm, roads, hh, workers=2)
    finally:
        stop.set()
        t.join()
    _same(serial, parallel)
    if method == "forkserver":
        # the fork server imported the partitioner before forking the workers, so they
        # start without importing it each
        assert PRELOAD == "gridgeo.partition.parallel"
        assert PRELOAD in forkserver._forkserver._preload_modules


def test_dask_scheduler_matches_serial(district):
    from dask.distributed import LocalCluster

    comm, roads, hh, serial = district
    with LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster:
        parallel = partition(comm, roads, hh, scheduler=cluster.scheduler_address)
    _same(serial, parallel)


def test_auto_workers_one_per_core_and_community_serial_when_small(district, monkeypatch):
    import gridgeo.partition.parallel as parallel
    from gridgeo.partition.community import CommunityTask

    def task(k: int, n_points: int) -> CommunityTask:
        return CommunityTask(
            k, f"c{k}", "", "urban", None, np.zeros(0), np.zeros((n_points, 2)),
            np.zeros(n_points), np.zeros(n_points),
        )  # fmt: skip

    big = parallel.AUTO_MIN_COST
    assert parallel.auto_workers([task(0, 10 * big)], cores=8) == 1  # one community
    assert parallel.auto_workers([task(k, 10) for k in range(6)], cores=8) == 1  # small
    assert parallel.auto_workers([task(k, big) for k in range(6)], cores=8) == 6
    assert parallel.auto_workers([task(k, big) for k in range(6)], cores=2) == 2
    assert parallel.auto_workers([task(k, big) for k in range(6)]) >= 1

    # "auto" gives the serial result, whichever way it goes
    comm, roads, hh, serial = district
    chosen = []
    real = parallel.auto_workers
    monkeypatch.setattr(parallel, "auto_workers", lambda t: chosen.append(real(t)) or 2)
    _same(serial, partition(comm, roads, hh, workers="auto"))
    assert chosen == [1]  # this district is small: it would have run serially
    with pytest.raises(ValueError, match="auto"):
        partition(comm, roads, hh, workers="many")


def test_a_task_pickles_its_roads_as_wkb_bit_for_bit():
    # the processes that do not inherit the tasks (forkserver, spawn, dask) are sent them
    # pickled: the road arrays as one WKB array each, every coordinate kept
    import pickle

    import shapely

    from gridgeo.partition.community import CommunityTask

    rng = np.random.default_rng(3)
    lines = shapely.linestrings(rng.uniform(0, 1000, (50, 3, 2)))
    task = CommunityTask(
        index=4, code="110101001001", name="社区", kind="urban", geom=shapely.box(0, 0, 9, 9),
        roads=lines, xy=rng.uniform(0, 9, (7, 2)), households=np.ones(7),
        population=np.zeros(7),
    )  # fmt: skip
    back = pickle.loads(pickle.dumps(task))
    assert list(shapely.to_wkb(back.roads)) == list(shapely.to_wkb(lines))
    assert back.drawn_roads is None and back.geom.equals_exact(task.geom, 0)
    assert np.array_equal(back.xy, task.xy) and back.name == "社区"
    assert back.roads.dtype == object and isinstance(task.roads[0], shapely.LineString)
    task.drawn_roads = lines[:3]
    assert list(shapely.to_wkb(pickle.loads(pickle.dumps(task)).drawn_roads)) == list(
        shapely.to_wkb(lines[:3])
    )
