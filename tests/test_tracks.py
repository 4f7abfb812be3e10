"""Patrol tracks, pure core: hand-checkable times, distances and the 2-hour rule."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from gridgeo.tracks import CleanOptions, GridSnapshot, TrackPoints, clean_tracks, patrol_days

# Two 1 km grids side by side on the central meridian of CGCS2000 GK zone 114°E
# (EPSG:4547, true scale there): A = [0, 1000] × [0, 1000], B = [1000, 2000] × [0, 1000].
X0, Y0 = 500_000.0, 3_000_000.0
A, B = "620102001001001", "620102001001002"
T0 = pd.Timestamp("2026-11-02 08:00", tz="Asia/Shanghai").value / 1e9
TO_LL = pyproj.Transformer.from_crs(4547, 4326, always_xy=True)


def box(x0, y0, x1, y1):
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


@pytest.fixture(scope="module")
def grids():
    frame = gpd.GeoDataFrame(
        {"grid_code": [A, B]},
        geometry=[box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000)],
        crs=4547,
    )
    roads = gpd.GeoDataFrame(
        geometry=[
            shapely.LineString([(X0 + 100, Y0 + 500), (X0 + 900, Y0 + 500)]),
            shapely.LineString([(X0 + 500, Y0 + 100), (X0 + 500, Y0 + 900)]),
        ],
        crs=4547,
    )
    return GridSnapshot.from_frame(frame, roads=roads)


ASSIGN = pd.DataFrame(
    {
        "worker": ["W1", "W2"],
        "grid_code": [A, B],
        "valid_from": ["2026-01-01", "2026-01-01"],
        "valid_to": [None, None],
    }
)


def fixes(worker, xy, t):
    """TrackPoints from metric (x, y) offsets and seconds after 08:00 on 2 Nov 2026."""
    xy = np.asarray(xy, dtype=float)
    lon, lat = TO_LL.transform(X0 + xy[:, 0], Y0 + xy[:, 1])
    n = len(xy)
    return TrackPoints(
        np.array([worker] * n, dtype=object),
        T0 + np.asarray(t, float),
        np.asarray(lon),
        np.asarray(lat),
        np.full(n, np.nan),
        np.full(n, np.nan),
        np.arange(n),
        "test.csv",
    )


def square_walk(seconds, step=10.0):
    """At 1 m/s around the 600 m square (200..800) inside grid A: position after s seconds."""
    s = np.asarray(seconds, float) % 2400
    side, off = (s // 600).astype(int), s % 600
    x = np.choose(side, [200 + off, 800 + 0 * off, 800 - off, 200 + 0 * off])
    y = np.choose(side, [200 + 0 * off, 200 + off, 800 + 0 * off, 800 - off])
    return np.column_stack([x, y])


def join(*parts):
    return TrackPoints(
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in ("worker", "t", "lon", "lat", "accuracy", "speed", "row")
        ),
        "test.csv",
    )


def test_square_walk_with_a_gap_counts_two_hours(grids):
    # 08:00–10:10 (2 h 10 min), no fix between 09:00 and 09:10: 2 h of patrol
    t = np.r_[np.arange(0, 3601, 10), np.arange(4200, 7801, 10)]
    walk = fixes("W1", square_walk(t), t)
    res = patrol_days(walk, grids, ASSIGN, profile="gansu")
    day = res.days.iloc[0]
    assert day["patrol_s"] == pytest.approx(7200, abs=1e-6)
    assert day["own_s"] == pytest.approx(7200, abs=1e-6)
    assert day["other_s"] == 0
    assert day["own_grids"] == A
    assert day["own_m"] == pytest.approx(7200, abs=1e-3)  # 1 m/s
    assert bool(day["meets_rule"]) is True and day["required_h"] == 2.0
    assert "不少于2小时" in day["article"]
    assert day["first_in_own"].strftime("%H:%M:%S") == "08:00:00"
    assert day["last_in_own"].strftime("%H:%M:%S") == "10:10:00"
    assert res.cleaned.counts["gaps"] == 1
    # the square's sides at 200/800 do not touch the roads (at 500 ± 5 m) except where
    # they cross them: 4 crossings × 2 × 5 m of 1600 m of road
    assert day["road_share"] == pytest.approx(40 / 1600, abs=1e-3)


def test_one_second_short_fails_the_rule(grids):
    t = np.arange(0, 7200, 10.0)  # 1 h 59 min 50 s
    res = patrol_days(fixes("W1", square_walk(t), t), grids, ASSIGN, profile="gansu")
    assert res.days["own_s"].iloc[0] == pytest.approx(7190)
    assert not res.days["meets_rule"].iloc[0]


def test_border_crossing_mid_leg_splits_time_at_the_crossing(grids):
    # one 60 s leg from x=950 (in A) to x=1250 (in B): 50 m in A, 250 m in B → 10 s / 50 s
    leg = fixes("W1", [(950, 500), (1250, 500)], [0, 60])
    res = patrol_days(leg, grids, ASSIGN, profile="gansu")
    pg = res.per_grid.set_index("grid_code")
    assert pg.loc[A, "seconds"] == pytest.approx(10, abs=1e-9)
    assert pg.loc[B, "seconds"] == pytest.approx(50, abs=1e-9)
    assert pg.loc[A, "metres"] == pytest.approx(50, abs=1e-3)
    assert bool(pg.loc[A, "own"]) and not bool(pg.loc[B, "own"])
    day = res.days.iloc[0]
    assert (day["own_s"], day["other_s"]) == pytest.approx((10, 50), abs=1e-9)
    assert day["last_in_own"].strftime("%H:%M:%S") == "08:00:10"


def test_in_and_out_of_the_county_exact_to_the_second(grids):
    # W2 (grid B) walks east 1900 → 2100 in 200 s (100 s in B, 100 s outside), then back
    # west 2100 → 900 in one 300 s leg at 4 m/s: 25 s outside, 250 s in B, 25 s in A
    t = [0, 200, 500]
    res = patrol_days(fixes("W2", [(1900, 500), (2100, 500), (900, 500)], t), grids, ASSIGN)
    pg = res.per_grid.set_index("grid_code")
    assert pg.loc["", "seconds"] == pytest.approx(125, abs=1e-9)
    assert pg.loc[B, "seconds"] == pytest.approx(350, abs=1e-9)
    assert pg.loc[A, "seconds"] == pytest.approx(25, abs=1e-9)
    day = res.days.iloc[0]
    assert (day["own_s"], day["other_s"], day["patrol_s"]) == pytest.approx((350, 150, 500))


def test_cleaning_counts_what_it_drops():
    t = np.array([0, 10, 10, 20, 30, 40, 50, 60], float)
    xy = np.array([(0, 0), (10, 0), (10, 0), (20, 0), (5000, 0), (40, 0), (50, 0), (60, 0)], float)
    pts = fixes("W1", xy, t)
    pts.accuracy[7] = 80.0  # poor fix
    perm = np.array([0, 1, 2, 3, 4, 6, 5, 7])  # unsorted input
    out = clean_tracks(pts.take(perm), CleanOptions(mode="foot"))
    c = out.counts
    assert c["duplicate_time"] == 1 and c["gps_jump"] == 1 and c["poor_accuracy"] == 1
    assert c["unsorted"] == 1 and c["kept"] == 5
    assert list(out.points.t - T0) == [0, 10, 20, 40, 50]


def test_worker_without_grid_and_track_outside_are_reported(grids):
    far = fixes("W9", [(5000, 5000), (5010, 5000)], [0, 10])  # no assignment, outside
    ok = fixes("W1", [(100, 100), (110, 100)], [0, 10])
    res = patrol_days(join(ok, far), grids, ASSIGN)
    rules = sorted(p.rule for p in res.problems)
    assert rules == ["tracks.no_grid", "tracks.outside"]
    assert all(p.file == "test.csv" and p.row == 0 for p in res.problems)
    assert set(res.days["worker"]) == {"W1", "W9"}  # good data kept
    assert res.days.set_index("worker").loc["W1", "own_s"] == pytest.approx(10)


def test_assignment_ending_the_day_before(grids):
    asg = ASSIGN.assign(valid_to=["2026-11-02", None])  # W1 left grid A on 2 Nov
    res = patrol_days(fixes("W1", [(100, 100), (110, 100)], [0, 10]), grids, asg)
    assert res.days["own_grids"].iloc[0] == "" and res.days["own_s"].iloc[0] == 0
    assert [p.rule for p in res.problems] == ["tracks.no_grid"]


def test_rankings_per_street_week_and_month():
    from gridgeo.tracks.rank import rankings

    days = pd.DataFrame(
        {
            "worker": ["W1", "W1", "W2", "W3"],
            "date": pd.to_datetime(["2026-11-02", "2026-11-03", "2026-11-02", "2026-11-09"]),
            "own_grids": [A, A, B, "620102002001001"],
            "own_s": [7200.0, 3600.0, 9000.0, 100.0],
            "own_m": [5000.0, 2000.0, 6000.0, 50.0],
            "meets_rule": [True, False, True, False],
        }
    )
    week = rankings(days, period="week", scope="street")
    first = week[week["period"] == "2026-11-02/2026-11-08"]
    # W1: 2 h + 1 h = 3 h in street 620102001; W2: 2.5 h; W3 is in another street
    assert list(first["worker"]) == ["W1", "W2"] and list(first["rank"]) == [1, 2]
    assert list(first["own_hours"]) == [3.0, 2.5]
    w1 = first.set_index("worker").loc["W1"]
    assert (w1["days"], w1["days_meeting_rule"], w1["mean_daily_hours"]) == (2, 1, 1.5)
    month = rankings(days, period="month", scope="county")
    assert list(month["worker"]) == ["W1", "W2", "W3"] and list(month["rank"]) == [1, 2, 3]


def test_day_map_png(grids, tmp_path):
    from gridgeo.tracks.plot import plot_day

    t = np.r_[np.arange(0, 1801, 10), 2100]
    xy = np.r_[square_walk(t[:-1]), [[1100, 500]]]  # last leg leaves grid A for B
    res = patrol_days(fixes("W1", xy, t), grids, ASSIGN, profile="gansu")
    out = plot_day(res, grids, "W1", tmp_path / "day.png")
    head = out.read_bytes()[:8]
    assert head == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_dask_over_monthly_partitions_equals_the_single_run(tmp_path):
    from gridgeo.tracks.parallel import patrol_partitions, write_month_partitions

    frame = gpd.GeoDataFrame(
        {"grid_code": [A, B]},
        geometry=[box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000)],
        crs=4547,
    )
    parts = []
    for k, day in enumerate([0, 1, 29, 30, 31]):  # 2 Nov … 3 Dec: two months
        t = day * 86400 + np.arange(0, 1800, 10.0) + 600 * k
        parts.append(fixes("W1", square_walk(t), t))
        parts.append(fixes("W2", square_walk(t) + np.array([900.0, 0.0]), t))  # into B
    pts = join(*parts)
    paths = write_month_partitions(pts, tmp_path)
    assert [p.name for p in paths] == ["tracks-2026-11.parquet", "tracks-2026-12.parquet"]
    serial = patrol_days(pts, GridSnapshot.from_frame(frame), ASSIGN, profile="gansu")
    days, per_grid = patrol_partitions(paths, frame, ASSIGN, profile="gansu", scheduler="threads")
    want = serial.days.sort_values(["worker", "date"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(days, want)
    assert len(days) == 10 and days["own_s"].sum() > 0
    pd.testing.assert_frame_equal(
        per_grid,
        serial.per_grid.sort_values(["worker", "date", "grid_code"]).reset_index(drop=True),
    )


def test_day_map_geojson_track_in_and_out_grids_and_roads(grids):
    import json

    from gridgeo.tracks.daymap import day_geojson

    t = np.r_[np.arange(0, 1801, 10), 2100]
    xy = np.r_[square_walk(t[:-1]), [[1100, 500]]]  # last leg leaves grid A for B
    res = patrol_days(fixes("W1", xy, t), grids, ASSIGN, profile="gansu")
    fc = json.loads(json.dumps(day_geojson(res, grids, "W1")))  # JSON-ready
    kinds = [f["properties"]["kind"] for f in fc["features"]]
    assert kinds.count("grid") == 2 and {"road", "road_covered", "track"} <= set(kinds)
    own = {
        f["properties"]["grid_code"]: f["properties"]["own"]
        for f in fc["features"]
        if f["properties"]["kind"] == "grid"
    }
    assert own == {A: True, B: False}
    track = [f for f in fc["features"] if f["properties"]["kind"] == "track"]
    # one run inside A (the square walk and the last leg up to the border), one outside
    assert [f["properties"]["in_own"] for f in track] == [True, False]
    last_in, first_out = (
        track[0]["geometry"]["coordinates"][-1],
        track[1]["geometry"]["coordinates"][0],
    )
    assert last_in == first_out  # the border crossing
    x, _ = pyproj.Transformer.from_crs(4326, 4547, always_xy=True).transform(*first_out)
    assert x == pytest.approx(X0 + 1000, abs=0.05)
    assert fc["properties"]["worker"] == "W1" and fc["properties"]["own_s"] > 0
