"""The partitioner's head: the roads cleaned on a thread beside the households' assignment
(``Background``), and nothing of it left running when the communities' pool starts."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import shapely

from gridgeo.i18n import language, use_language
from gridgeo.partition import core
from gridgeo.partition.twocores import Background
from gridgeo.testing import tiled_district


def test_background_result_and_no_thread_left_after_the_block():
    before = threading.active_count()
    with Background(lambda a, b: a + b, 2, 3) as job:
        pass
    assert job.result == 5
    assert threading.active_count() == before


def test_background_error_is_raised_in_the_caller():
    def fail():
        raise ValueError("bad roads")

    with pytest.raises(ValueError, match="bad roads"), Background(fail):
        pass


def test_an_error_of_the_block_wins_and_the_thread_is_waited_for():
    done = threading.Event()

    def slow():
        done.wait(0.1)
        raise ValueError("later")

    with pytest.raises(KeyError), Background(slow):
        raise KeyError("first")
    assert not any(t.name == "gridgeo-head" for t in threading.enumerate())


def test_background_sees_the_callers_language():
    try:
        use_language("en")
        with Background(language) as job:
            pass
        assert job.result == "en"
    finally:
        use_language(None)


def test_partition_cleans_as_the_serial_road_lines_and_leaves_no_thread_to_the_pool(monkeypatch):
    from gridgeo.partition import parallel
    from gridgeo.rules import load_profile

    comm, roads, hh = tiled_district(2, 1, size=400, n_households=160, per_point=4)
    seen = {}
    real = parallel.run_local

    def run_local(tasks, *a, **k):
        seen["threads"] = set(threading.enumerate())
        seen["roads"] = [t.roads for t in tasks]
        return real(tasks, *a, **k)

    monkeypatch.setattr(parallel, "run_local", run_local)
    before = set(threading.enumerate())
    core.partition(comm, roads, hh, workers=2)
    # no thread of the head still runs when the pool starts (it forks when no other does)
    assert seen["threads"] == before
    crs = core.work_crs_for(comm, None)
    lines = core._clean_lines(
        core._to_metric(roads, crs), core._to_metric(hh, crs), load_profile(None)
    ).all_lines()
    geoms = comm.to_crs(crs).sort_values("code").geometry.to_numpy()
    for got, area in zip(seen["roads"], geoms, strict=True):
        want = lines[np.sort(shapely.STRtree(lines).query(area, predicate="intersects"))]
        assert list(shapely.to_wkb(got)) == list(shapely.to_wkb(want))


def test_elementwise_halves_are_the_whole_call():
    from gridgeo.partition.twocores import SPLIT_MIN, both_cores, elementwise

    rng = np.random.default_rng(5)
    n = SPLIT_MIN * 2 + 3
    a = shapely.linestrings(rng.uniform(0, 1000, (n, 3, 2)))
    b = shapely.linestrings(rng.uniform(0, 1000, (n, 2, 2)))
    for func, args, kw in (
        (shapely.set_precision, (a,), {"grid_size": 0.01}),
        (shapely.normalize, (a,), {}),
        (shapely.to_wkb, (a,), {}),
        (shapely.intersection, (a, b), {}),
        (shapely.distance, (a, b), {}),
    ):
        whole = func(*args, **kw)
        with both_cores():
            halves = elementwise(func, *args, **kw)
        assert len(halves) == n
        if whole.dtype == object and isinstance(whole[0], bytes):
            assert list(halves) == list(whole)
        elif whole.dtype == object:
            assert list(shapely.to_wkb(halves)) == list(shapely.to_wkb(whole))
        else:
            assert np.array_equal(halves, whole)
    short = a[:10]
    assert list(shapely.to_wkb(elementwise(shapely.normalize, short))) == list(
        shapely.to_wkb(shapely.normalize(short))
    )


def test_elementwise_error_of_either_half_is_raised():
    from gridgeo.partition.twocores import SPLIT_MIN, both_cores, elementwise

    n = SPLIT_MIN * 2
    calls = []

    def fails_on_second_half(arr):
        calls.append(len(arr))
        if threading.current_thread().name == "gridgeo-head":
            raise ValueError("second half")
        return arr

    with pytest.raises(ValueError, match="second half"), both_cores():
        elementwise(fails_on_second_half, np.arange(n))
    assert sorted(calls) == [n // 2, n // 2]
    assert not any(t.name == "gridgeo-head" for t in threading.enumerate())


def test_elementwise_splits_only_inside_both_cores():
    # the same functions run in the communities' workers, where both cores are busy already
    from gridgeo.partition.twocores import SPLIT_MIN, both_cores, elementwise

    seen = []

    def record(arr):
        seen.append(threading.current_thread().name)
        return arr

    data = np.arange(SPLIT_MIN * 2)
    assert np.array_equal(elementwise(record, data), data)
    assert seen == ["MainThread"]
    seen.clear()
    with both_cores():
        assert np.array_equal(elementwise(record, data), data)
    assert sorted(seen) == ["MainThread", "gridgeo-head"]


def test_background_wait_inside_the_block_gives_the_result_or_the_error():
    with Background(lambda: 7) as job:
        assert job.wait() == 7
    assert job.wait() == 7  # after the block too

    def fail():
        raise ValueError("bad roads")

    with pytest.raises(ValueError, match="bad roads"), Background(fail) as job:
        job.wait()


def test_roads_cleaning_starts_before_the_check_and_gives_the_same_grids(monkeypatch):
    """The cleaning starts before the inputs' check (on the other core) and the grids are
    those of a cleaning started after it; with ``repair`` it starts after the check (the
    check may change the layers)."""
    comm, roads, hh = tiled_district(2, 1, size=400, n_households=160, per_point=4)
    started = []
    real = core._early_cleaning

    def spy(layers, profile, code_pattern, work_crs, repair):
        cm = real(layers, profile, code_pattern, work_crs, repair)
        job = cm.__enter__()
        started.append(job is not None)

        class Wrapped:
            def __enter__(self):
                return job

            def __exit__(self, *exc):
                return cm.__exit__(*exc)

        return Wrapped()

    monkeypatch.setattr(core, "_early_cleaning", spy)
    # roads and households in another CRS than the work CRS: the early thread takes them
    # there as the head would
    for r, h in ((roads, hh), (roads.to_crs(4326), hh.to_crs(4326))):
        started.clear()
        early = core.partition(comm, r, h)
        later = core.partition(comm, r, h, repair=True)
        assert started == [True, False]
        assert list(early.grids.geometry.to_wkb()) == list(later.grids.geometry.to_wkb())
        assert early.metrics["road_border_share"] == later.metrics["road_border_share"]
    # on the median of divided roads the households go to the thread too
    started.clear()
    early = core.partition(comm, roads.to_crs(4326), hh.to_crs(4326), profile=_median())
    later = core.partition(
        comm, roads.to_crs(4326), hh.to_crs(4326), profile=_median(), repair=True
    )
    assert started == [True, False]
    assert list(early.grids.geometry.to_wkb()) == list(later.grids.geometry.to_wkb())


def _median():
    from gridgeo.rules import load_profile

    return load_profile(None).with_divided_roads_on_median(True)


def test_a_refused_input_still_names_its_problem_with_the_cleaning_started():
    from gridgeo.errors import InputError

    comm, roads, hh = tiled_district(2, 1, size=400, n_households=160, per_point=4)
    before = threading.active_count()
    with pytest.raises(InputError) as exc:
        core.partition(comm.assign(name=""), roads, hh)
    assert any(p.field == "name" for p in exc.value.problems)
    assert threading.active_count() == before  # the cleaning thread was waited for


def test_household_counts_under_a_chinese_field_name_size_the_grids_alike():
    """The head assigns the households as the check left them (户数 resolved to
    households), not as the early cleaning took them before the check."""
    comm, roads, hh = tiled_district(2, 1, size=400, n_households=160, per_point=4)
    plain = core.partition(comm, roads, hh)
    named = core.partition(comm, roads, hh.rename(columns={"households": "户数"}))
    assert list(named.grids.geometry.to_wkb()) == list(plain.grids.geometry.to_wkb())
    assert named.grids["households"].tolist() == plain.grids["households"].tolist()


def test_two_at_once_gives_both_answers_one_call_each_and_leaves_no_thread():
    from gridgeo.partition.twocores import both_cores, on_both_cores, two_at_once

    seen = []

    def job(n, *, add):
        seen.append(on_both_cores())  # elementwise makes one call inside each
        return n + add

    before = threading.active_count()
    with both_cores():
        assert two_at_once(job, 1, 2, add=10) == (11, 12)
        assert on_both_cores()  # switched back for the caller
    assert seen == [False, False]
    assert threading.active_count() == before
