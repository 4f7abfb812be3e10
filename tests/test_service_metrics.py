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


def test_loop_lag_probe_sees_a_blocked_loop():
    import asyncio
    import time
    from concurrent.futures import ThreadPoolExecutor

    m = Metrics()

    async def main() -> None:
        probe = asyncio.get_running_loop().create_task(m.probe_loop(0.005))
        await asyncio.sleep(0.05)
        time.sleep(0.06)  # the loop is blocked: the probe wakes at least ~55 ms late
        await asyncio.sleep(0.02)
        probe.cancel()

    # a thread of its own: a browser test run earlier may leave a loop running in this one
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, main()).result()
    lag = m.report()["loop_lag"]
    assert lag["count"] >= 2 and lag["max_ms"] >= 50


def test_prerender_runs_are_reported():
    m = Metrics()
    m.add_prerender({"generation": 3, "tiles": 10, "planned": 12, "seconds": 1.5})
    r = m.report()
    assert r["prerender_runs"]["count"] == 1 and r["prerender_runs"]["max_ms"] == 1500.0
    assert r["last_prerender"]["generation"] == 3 and r["last_prerender"]["tiles"] == 10


def test_a_collection_at_the_bottom_of_a_deep_stack_loses_one_timing_not_the_request():
    """A deeply nested JSON body is parsed until the recursion limit (then refused with a
    400); a garbage collection starting down there calls the hook with almost no stack left.
    The hook's own work must not raise there (the error would escape into the collector and
    be printed, or fail the test run); only entering the hook itself can fail, one frame
    from the limit."""
    m = Metrics()
    escaped: list[int] = []
    tried = [12]

    def climb() -> None:
        try:  # noqa: SIM105 - contextlib.suppress would need frames of its own down there
            climb()
        except RecursionError:
            pass
        if tried[0] > 0:  # the 12 frames nearest the limit, from the bottom up
            tried[0] -= 1
            try:
                m.gc_callback("start", {"generation": 0})
                m.gc_callback("stop", {"generation": 0})
            except RecursionError:
                escaped.append(tried[0])

    climb()
    assert len(escaped) <= 1, escaped
    assert 10 <= m.gc[0].n <= 11  # the collections timed where the hook could run
    assert m.report()["gc_pauses"]["generation_0"]["count"] == m.gc[0].n
