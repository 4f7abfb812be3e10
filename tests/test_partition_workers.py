"""``workers``: communities on a dask LocalCluster give exactly the serial result."""

from __future__ import annotations

from gridgeo.partition import partition
from gridgeo.testing import tiled_district


def test_dask_workers_match_serial():
    comm, roads, hh = tiled_district(2, 2, n_households=1500, size=600, per_point=5)
    seen = []
    serial = partition(comm, roads, hh)
    parallel = partition(
        comm, roads, hh, workers=2, progress=lambda done, total: seen.append((done, total))
    )
    assert len(serial.grids) > 4
    assert serial.grids.drop(columns="geometry").equals(parallel.grids.drop(columns="geometry"))
    assert list(serial.grids.geometry.to_wkb()) == list(parallel.grids.geometry.to_wkb())
    assert serial.violations.drop(columns="geometry").equals(
        parallel.violations.drop(columns="geometry")
    )
    assert seen[-1] == (4, 4)
