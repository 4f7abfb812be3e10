"""The garbage collector's pause during a partition run, and the grouping helpers that
replaced per-key scans (same answers as the scans)."""

from __future__ import annotations

import gc
import threading

import numpy as np
import pytest

from gridgeo.partition import core
from gridgeo.partition.clean import _row_groups
from gridgeo.partition.community import _grouped


@pytest.fixture
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_the_collector_is_off_during_a_run_and_back_on_after(collector_on, monkeypatch):
    seen = []
    monkeypatch.setattr(core, "_prepare", lambda *a, **k: seen.append(gc.isenabled()) or 1 / 0)
    with pytest.raises(ZeroDivisionError):
        core.partition(None)
    assert seen == [False]
    assert gc.isenabled()


def test_a_caller_that_turned_the_collector_off_keeps_it_off():
    was = gc.isenabled()
    gc.disable()
    try:
        with core._gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()


def test_overlapping_runs_in_threads_turn_it_on_once_the_last_ends(collector_on):
    pause = core._GcPause()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    states = {}

    def first():
        with pause():
            first_in.set()
            second_in.wait(5)
        states["after first"] = gc.isenabled()
        first_out.set()

    def second():
        first_in.wait(5)
        with pause():
            second_in.set()
            first_out.wait(5)
            states["second, first ended"] = gc.isenabled()

    threads = [threading.Thread(target=f) for f in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert states == {"after first": False, "second, first ended": False}
    assert gc.isenabled()


def test_grouped_is_the_per_key_scan():
    rng = np.random.default_rng(3)
    keys = rng.integers(-1, 7, size=200)
    values = rng.permutation(1000)[:200]
    got = _grouped(values, keys, 9)
    want = [values[keys == i] for i in range(9)]
    assert len(got) == 9
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype
        assert np.array_equal(g, w)
    assert [len(g) for g in _grouped(values[:0], keys[:0], 3)] == [0, 0, 0]


def test_row_groups_rank_rows_as_numpy_unique():
    rng = np.random.default_rng(5)
    xy = np.round(rng.uniform(-2, 2, size=(300, 2)), 1)
    xy[::7] = [-0.0, 0.0]
    xy[1::7] = [0.0, -0.0]
    _, want = np.unique(xy, axis=0, return_inverse=True)
    assert np.array_equal(_row_groups(xy), want.ravel())
