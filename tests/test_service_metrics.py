"""The handler-time histogram of the map service (gridgeo.service.metrics): no database."""

from __future__ import annotations

import numpy as np

from gridgeo.service.metrics import Histogram, Metrics, route_group


def test_histogram_percentiles_within_a_bucket():
    rng = np.random.default_rng(0)
    ms = rng.lognormal(mean=-0.5, sigma=1.0, size=20_000)  # ~0.6 ms median, long tail
    h = Histogram()
    for v in ms:
        h.add(int(v * 1e6))
    assert h.n == ms.size
    for q in (50, 90, 99, 99.9):
        true = float(np.percentile(ms, q))
        got = h.percentile(q)
        assert true <= got <= true * 1.13 + 0.001, (q, true, got)
    assert h.percentile(100) == max(ms.max(), 0) or abs(h.percentile(100) - ms.max()) < 1e-3
    s = h.summary()
    assert s["count"] == ms.size and sum(s["buckets_ms"].values()) == ms.size


def test_empty_and_tiny_durations():
    h = Histogram()
    assert h.percentile(50) is None and h.summary()["p99_ms"] is None
    for ns in (0, 10, 999, 1_000, 7_999):
        h.add(ns)
    assert h.percentile(100) <= 0.008


def test_route_groups_and_gc_hook():
    assert route_group("/locate") == "/locate"
    assert route_group("/locate/batch") == "/locate/batch"
    assert route_group("/tiles/1/2/3.mvt") == "other"
    m = Metrics()
    m.install_gc()
    try:
        import gc

        gc.collect()
    finally:
        m.uninstall_gc()
    assert m.gc[2].n >= 1
    m.add("/locate", 500_000)
    assert m.report()["handler_time"]["/locate"]["count"] == 1
