"""``workers`` / ``scheduler``: communities on local processes or on dask give exactly the
serial result."""

from __future__ import annotations

import logging

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
    # a progress bar's thread (the CLI) makes the pool start its workers by forkserver
    import threading

    from gridgeo.partition.parallel import _start_method

    comm, roads, hh, serial = district
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        assert _start_method() in ("forkserver", "spawn")
        parallel = partition(comm, roads, hh, workers=2)
    finally:
        stop.set()
        t.join()
    _same(serial, parallel)


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
