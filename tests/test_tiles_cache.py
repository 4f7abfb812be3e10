"""The tile cache alone (no database): LRU bounded by bytes, one render per key, ETags."""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import shapely

from gridgeo.registry.features import tile_tolerance
from gridgeo.service.tilecache import (
    ENTRY_OVERHEAD,
    TileCache,
    district_tiles,
    etag_matches,
    make_tile,
)


def test_lru_is_bounded_by_bytes():
    cache = TileCache(3 * (1000 + ENTRY_OVERHEAD))
    for i in range(3):
        cache.put((1, ("public",), 10, i, 0), bytes(1000))
    assert cache.get((1, ("public",), 10, 0, 0)) is not None  # now the most recent
    cache.put((1, ("public",), 10, 3, 0), bytes(1000))
    stats = cache.stats()
    assert stats["entries"] == 3 and stats["bytes"] <= stats["max_bytes"]
    assert cache.get((1, ("public",), 10, 1, 0)) is None  # least recently used went
    assert cache.get((1, ("public",), 10, 0, 0)) is not None
    # a tile larger than the whole bound is served, never kept
    big = cache.put((1, ("public",), 10, 9, 9), bytes(10_000))
    assert len(big.data) == 10_000 and cache.get((1, ("public",), 10, 9, 9)) is None


def test_empty_tiles_count_too():
    cache = TileCache(10 * ENTRY_OVERHEAD)
    for i in range(100):
        cache.put((1, ("public",), 5, i, 0), b"")
    assert cache.stats()["entries"] == 10


def test_retain_drops_older_versions():
    cache = TileCache(1 << 20)
    cache.put((1, ("public",), 1, 0, 0), b"old")
    cache.put((2, ("public",), 1, 0, 0), b"new")
    assert cache.retain(lambda k: k[0] >= 2) == 1
    assert cache.get((1, ("public",), 1, 0, 0)) is None
    assert cache.get((2, ("public",), 1, 0, 0)).data == b"new"
    assert cache.stats()["bytes"] == 3 + ENTRY_OVERHEAD


def test_one_render_for_many_callers():
    cache = TileCache(1 << 20)
    calls = []

    def render() -> bytes:
        calls.append(1)
        time.sleep(0.2)
        return b"tile"

    with ThreadPoolExecutor(20) as pool:
        tiles = list(pool.map(lambda _: cache.fetch("k", render), range(20)))
    assert len(calls) == 1
    assert {t.data for t in tiles} == {b"tile"} and len({t.etag for t in tiles}) == 1


def test_a_failed_render_is_not_cached():
    cache = TileCache(1 << 20)
    gate = threading.Event()

    def broken() -> bytes:
        gate.wait(1)
        raise RuntimeError("database went away")

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(cache.fetch, "k", broken)
        time.sleep(0.05)
        second = pool.submit(cache.fetch, "k", broken)
        gate.set()
        for f in (first, second):
            with pytest.raises(RuntimeError):
                f.result()
    assert cache.fetch("k", lambda: b"ok").data == b"ok"


def test_disabled_cache_renders_every_time():
    cache = TileCache(0)
    calls = []
    for _ in range(3):
        cache.fetch("k", lambda: calls.append(1) or b"x")
    assert len(calls) == 3 and cache.stats()["entries"] == 0


def test_etag_matching():
    tag = make_tile(b"abc").etag
    assert tag == make_tile(b"abc").etag != make_tile(b"abd").etag
    assert etag_matches(tag, tag) and etag_matches(f"W/{tag}", tag)
    assert etag_matches(f'"x", {tag}', tag) and etag_matches("*", tag)
    assert not etag_matches(None, tag) and not etag_matches('"x"', tag)


def test_district_tiles_zoom_range_and_bound():
    # a 2 km × 1.5 km district in Taiwan's TM2 (EPSG:3826)
    geoms = np.array(
        [
            shapely.box(
                300_000 + i * 500, 2_770_000 + j * 500, 300_500 + i * 500, 2_770_500 + j * 500
            )
            for i in range(4)
            for j in range(3)
        ]
    )
    tiles = district_tiles(geoms, 3826, min_zoom=10, max_zoom=16, max_tiles=500)
    zooms = sorted({z for z, _, _ in tiles})
    assert zooms[0] >= 10 and zooms[-1] <= 16 and zooms == list(range(zooms[0], zooms[-1] + 1))
    assert len(tiles) <= 500 and len(set(tiles)) == len(tiles)
    few = district_tiles(geoms, 3826, min_zoom=10, max_zoom=22, max_tiles=40)
    assert 0 < len(few) <= 40
    assert district_tiles(geoms, 3826, min_zoom=10, max_zoom=16, max_tiles=0) == []


def test_tolerance_halves_per_zoom():
    t10 = tile_tolerance(10, 25.0, geographic=False)
    assert t10 == pytest.approx(2 * tile_tolerance(11, 25.0, geographic=False))
    assert 4 < t10 < 5  # half a unit of a 4096-unit tile at zoom 10, ground metres at 25°N
    assert tile_tolerance(10, 25.0, geographic=True) == pytest.approx(t10 / 111_320.0)


def _prerenderer(monkeypatch, render_s: float, share: float, n: int = 5):
    from gridgeo.service import tilecache

    monkeypatch.setattr(tilecache, "district_tiles", lambda *a, **k: [(10, i, 0) for i in range(n)])
    spent: list[float] = []

    def render(gen, level, z, x, y, conn=None) -> None:
        t = time.perf_counter()
        time.sleep(render_s)
        spent.append(time.perf_counter() - t)

    runs: list[dict] = []
    pre = tilecache.Prerenderer(
        render, lambda: 1, min_zoom=10, max_zoom=16, max_tiles=100, share=share
    )
    pre.observer = runs.append
    return pre, spent, runs


def test_prerender_waits_to_keep_to_its_share(monkeypatch):
    pre, spent, runs = _prerenderer(monkeypatch, 0.02, share=0.5)
    pre.request(1, np.array([shapely.box(0, 0, 1, 1)], dtype=object), 3857)
    deadline = time.monotonic() + 30
    while not runs and time.monotonic() < deadline:
        time.sleep(0.01)
    pre.close()
    assert runs and runs[0]["tiles"] == 5 and len(spent) == 5
    # rendering took at most half of the run's wall time (waits only end early on a stop)
    assert runs[0]["seconds"] >= sum(spent) / 0.5 * 0.95
    assert runs[0]["ended"] >= runs[0]["started"]


def test_prerender_wait_ends_at_close(monkeypatch):
    pre, spent, _runs = _prerenderer(monkeypatch, 0.05, share=0.001)  # ~50 s of waiting
    pre.request(1, np.array([shapely.box(0, 0, 1, 1)], dtype=object), 3857)
    deadline = time.monotonic() + 30
    while not spent and time.monotonic() < deadline:
        time.sleep(0.01)
    pre.close(timeout=10)
    assert pre._thread is not None and not pre._thread.is_alive()
    assert len(spent) == 1


def test_prerender_share_is_checked():
    from gridgeo.service.tilecache import Prerenderer

    with pytest.raises(ValueError, match="share"):
        Prerenderer(lambda *a: None, lambda: 1, min_zoom=1, max_zoom=2, max_tiles=1, share=0)


@pytest.mark.parametrize("opens", [True, False])
def test_prerender_renders_public_tiles_with_its_own_session(monkeypatch, opens):
    """Public tiles go through the run's own connection (opened once per run); the staff
    tiles rendered after them, and every tile when it cannot be opened, through the pools."""
    from gridgeo.service import tilecache

    monkeypatch.setattr(tilecache, "district_tiles", lambda *a, **k: [(10, i, 0) for i in range(3)])
    seen: list[tuple] = []
    opened: list[str] = []

    @contextlib.contextmanager
    def session():
        if not opens:
            raise OSError("no free connection slot")
        opened.append("open")
        yield "own connection"
        opened.append("closed")

    runs: list[dict] = []
    pre = tilecache.Prerenderer(
        lambda gen, level, z, x, y, conn=None: seen.append((level, conn)),
        lambda: 1,
        min_zoom=10,
        max_zoom=16,
        max_tiles=100,
        session=session,
    )
    pre.observer = runs.append
    staff = (("counts", None), 12, 1, 1)
    pre.request(1, np.array([shapely.box(0, 0, 1, 1)], dtype=object), 3857, [staff])
    deadline = time.monotonic() + 30
    while not runs and time.monotonic() < deadline:
        time.sleep(0.01)
    pre.close()
    assert runs and runs[0]["tiles"] == 4
    own = "own connection" if opens else None
    assert seen == [(tilecache.PUBLIC, own)] * 3 + [(("counts", None), None)]
    assert opened == (["open", "closed"] if opens else [])
