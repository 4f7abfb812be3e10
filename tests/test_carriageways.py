"""Dual carriageways collapsed by their OpenStreetMap attributes (partition/carriageways.py).

Fixture: one divided road (two one-way carriageways, 12 m apart, 300 m long) crossed by two
two-way streets and met from outside by a side street that ends on a carriageway; the
variants change one attribute or the geometry at a time.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString

from gridgeo.partition.carriageways import collapse_carriageways
from gridgeo.partition.clean import _dangling_ends, clean_roads
from gridgeo.testing import CRS, dual_carriageway_city

GAP = 12.0


def _roads(gap: float = GAP, **change) -> gpd.GeoDataFrame:
    """East- and westbound carriageways of 长安路, two crossing streets and a side street."""
    east = LineString([(0, 0), (150, 0), (300, 0)])
    west = LineString([(300, gap), (150, gap), (0, gap)])
    rows = {
        "name": ["长安路", "长安路", "东街", "北巷", "西街"],
        "highway": ["primary", "primary", "residential", "residential", "residential"],
        "oneway": ["yes", "yes", "no", "no", "no"],
        "bridge": [None, None, None, None, None],
        "geometry": [
            east,
            west,
            LineString([(100, -80), (100, gap + 80)]),
            LineString([(220, gap), (220, gap + 80)]),  # ends on the westbound carriageway
            LineString([(260, -80), (260, gap + 80)]),
        ],
    }
    for col, (i, v) in change.items():
        if col == "geometry":
            rows[col][i] = v
        else:
            rows[col] = list(rows[col])
            rows[col][i] = v
    return gpd.GeoDataFrame(rows, crs=CRS)


def _faces(lines) -> np.ndarray:
    return shapely.get_parts(shapely.polygonize(clean_roads(lines)))


def _unchanged(roads, **kw) -> bool:
    out = collapse_carriageways(roads, **kw)
    return list(shapely.to_wkb(out)) == list(shapely.to_wkb(roads.geometry.to_numpy()))


def test_pair_becomes_its_centreline_without_new_dangles():
    roads = _roads()
    out = collapse_carriageways(roads)
    cleaned = clean_roads(out)
    # the median strip is gone: no face at all (the crossing streets meet one road)
    assert len(_faces(out)) == 0
    assert len(_faces(roads.geometry.to_numpy())) >= 1
    # the centreline runs halfway between the carriageways
    mid = shapely.union_all(cleaned).intersection(shapely.box(20, -5, 280, GAP + 5))
    xy = shapely.get_coordinates(mid)
    along = xy[(xy[:, 0] > 30) & (xy[:, 0] < 270) & (np.abs(xy[:, 0] - 100) > 1)]
    along = along[(np.abs(along[:, 0] - 220) > 1) & (np.abs(along[:, 0] - 260) > 1)]
    assert np.allclose(along[:, 1], GAP / 2, atol=0.05)
    # the side street reaches the centreline; no end dangles that did not dangle before
    assert shapely.intersects(shapely.union_all(cleaned), shapely.Point(220, GAP / 2))
    before = len(_dangling_ends(clean_roads(roads.geometry.to_numpy()))[0])
    assert len(_dangling_ends(cleaned)[0]) <= before


def test_reverse_oneway_is_the_opposite_direction():
    west_drawn_east = LineString([(0, GAP), (150, GAP), (300, GAP)])
    roads = _roads(geometry=(1, west_drawn_east), oneway=(1, "-1"))
    assert len(_faces(collapse_carriageways(roads))) == 0


@pytest.mark.parametrize(
    "change",
    [
        {"name": (1, "长安西路")},  # another road
        {"name": (1, "")},
        {"highway": (1, "trunk")},  # an elevated road over a ground road
        {"bridge": (1, "yes")},
        {"oneway": (1, "no")},
        {"geometry": (1, LineString([(0, GAP), (150, GAP), (300, GAP)]))},  # same direction
    ],
)
def test_no_pair_without_the_attributes_of_a_divided_road(change):
    assert _unchanged(_roads(**change))


@pytest.mark.parametrize("gap", [2.0, 50.0])
def test_too_close_or_too_far_is_not_a_pair(gap):
    assert _unchanged(_roads(gap))


def test_a_household_between_keeps_the_carriageways_apart():
    homes = np.array([[150.0, GAP / 2]])
    out = collapse_carriageways(_roads(), keep_xy=homes)
    faces = _faces(out)
    # the strip around the home stays a face; the rest of the road is collapsed
    around = [f for f in faces if f.contains(shapely.Point(150, GAP / 2))]
    assert len(around) == 1 and around[0].area < GAP * 160 / 2


def test_layer_without_oneway_and_name_is_returned_as_is():
    roads = _roads().drop(columns=["oneway", "name"])
    out = collapse_carriageways(roads)
    assert out is roads.geometry.to_numpy() or all(
        a is b for a, b in zip(out, roads.geometry.to_numpy(), strict=True)
    )


def test_generated_city_collapses_deterministically():
    _, roads, hh = dual_carriageway_city(2, 1, size=600.0, n_households=6000, seed=3)
    assert set(roads["oneway"]) == {"yes", "no"}
    xy = shapely.get_coordinates(hh.geometry.to_numpy())
    a = clean_roads(collapse_carriageways(roads, keep_xy=xy))
    b = clean_roads(collapse_carriageways(roads, keep_xy=xy))
    assert list(shapely.to_wkb(a)) == list(shapely.to_wkb(b))
    before = shapely.get_parts(shapely.polygonize(clean_roads(roads.geometry.to_numpy())))
    after = shapely.get_parts(shapely.polygonize(a))
    thin = lambda f: shapely.area(f) / (shapely.length(f) / 2) < 20  # noqa: E731
    assert thin(before).sum() > 20 and thin(after).sum() < thin(before).sum() / 4
    assert len(after) < len(before)
    # the local streets that stopped short of a carriageway reach the centreline
    old = clean_roads(roads.geometry.to_numpy())
    assert len(_dangling_ends(a)[0]) <= len(_dangling_ends(old)[0])


def test_street_ending_on_the_far_carriageway_stops_at_the_centreline():
    # 南街 crosses the eastbound carriageway and ends on the westbound one (as OSM draws it);
    # 中巷 runs there and back between the carriageways (as a clipped extract has it)
    roads = _roads()
    extra = gpd.GeoDataFrame(
        {
            "name": ["南街", "中巷"],
            "highway": ["residential", "residential"],
            "oneway": ["no", "no"],
            "bridge": [None, None],
            "geometry": [
                LineString([(180, -80), (180, GAP)]),
                LineString([(240, 0), (240, GAP), (240, 0)]),
            ],
        },
        crs=CRS,
    )
    roads = gpd.GeoDataFrame(pd.concat([roads, extra], ignore_index=True), crs=CRS)
    out = clean_roads(collapse_carriageways(roads))
    xy = shapely.get_coordinates(out)
    # nothing is left between the centreline and where either carriageway was
    between = xy[(xy[:, 1] > 0.05) & (xy[:, 1] < GAP - 0.05) & (np.abs(xy[:, 1] - GAP / 2) > 0.05)]
    assert len(between) == 0
    on_180 = xy[np.abs(xy[:, 0] - 180) < 1e-6]
    assert np.isclose(on_180[:, 1].max(), GAP / 2, atol=0.02)
    before = len(_dangling_ends(clean_roads(roads.geometry.to_numpy()))[0])
    assert len(_dangling_ends(out)[0]) <= before


def test_partition_keeps_carriageways_as_drawn_unless_the_profile_says_median():
    """Off by default (borders stay on the carriageways, as the shipped profiles want);
    ``--divided-roads-on-median`` / ``quality.divided_roads_on_median`` turns it on."""
    from gridgeo.partition import partition
    from gridgeo.rules import load_profile
    from gridgeo.testing import dual_carriageway_city

    comm, roads, hh = dual_carriageway_city(1, 1, size=450, n_households=4_000, seed=3)
    prof = load_profile(None)
    assert prof.quality.divided_roads_on_median is False
    drawn = partition(comm, roads, hh, profile=prof)
    plain = partition(comm, roads.drop(columns=["oneway", "name"]), hh, profile=prof)
    assert list(drawn.grids.geometry.to_wkb()) == list(plain.grids.geometry.to_wkb())
    median = partition(comm, roads, hh, profile=prof.with_divided_roads_on_median(True))
    assert list(median.grids.geometry.to_wkb()) != list(drawn.grids.geometry.to_wkb())
    assert median.metrics["in_band_share_feasible"] == 1.0


def _city_pieces():
    """The one-way pieces of a small generated city as collapse_carriageways compares them."""
    from gridgeo.partition.carriageways import _chains, _eligible, _Pieces

    _, roads, hh = dual_carriageway_city(2, 1, size=600.0, n_households=6000, seed=3)
    ok, key, rev = _eligible(roads)
    chains, chain_key, _, _ = _chains(roads.geometry.to_numpy()[ok], key[ok], rev[ok], 0.01)
    return _Pieces(shapely.segmentize(chains, 10.0), chain_key), hh


def test_partner_candidates_miss_no_pair_a_brute_force_finds():
    # every pair of pieces with middles within 100 m tested exactly, whatever their
    # direction (no k-d tree, no direction bins): the same partner for each piece
    seg, _ = _city_pieces()
    got = seg.partners(max_gap=40.0, min_gap=3.0, max_angle_deg=10.0)
    mids = shapely.points((seg.s + seg.e) / 2)
    a, b = shapely.STRtree(mids).query(mids, predicate="dwithin", distance=100.0)
    seg._opposite_near = lambda mids, reach, angle: (a, b)
    want = seg.partners(max_gap=40.0, min_gap=3.0, max_angle_deg=10.0)
    assert (got >= 0).sum() > 100
    assert np.array_equal(got, want)


def test_households_in_a_band_are_found_as_geos_finds_them():
    seg, hh = _city_pieces()
    part = seg.partners(max_gap=40.0, min_gap=3.0, max_angle_deg=10.0)
    k = np.flatnonzero(part >= 0)
    rng = np.random.default_rng(1)
    # the city's households and points scattered round the middles of the paired pieces
    xy = np.vstack(
        [
            shapely.get_coordinates(hh.geometry.to_numpy()),
            (seg.s[k] + seg.e[k]) / 2 + rng.normal(0, 4, (len(k), 2)),
        ]
    )
    got = seg.crossing(part, xy)
    quads = np.stack(
        [seg.s[k], seg.e[k], seg.project(seg.e[k], part[k]), seg.project(seg.s[k], part[k])],
        axis=1,
    )
    hit = shapely.STRtree(shapely.points(xy)).query(shapely.polygons(quads), "intersects")[0]
    want = np.zeros(len(part), dtype=bool)
    want[k[np.unique(hit)]] = True
    assert 0 < got.sum() < len(k)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("angle", [10.0, 8.0, 60.0])
def test_candidates_of_opposite_bins_searched_once_are_those_of_each_bin_in_turn(angle):
    # 18, 23 (odd: an opposite bin is not always opposite the other way) and 3 bins
    from scipy.spatial import cKDTree

    seg, _ = _city_pieces()
    mids = (seg.s + seg.e) / 2
    a, b = seg._opposite_near(mids, 40.5, angle)
    n_bins = int(np.ceil(360 / (2 * angle)))
    ang = np.degrees(np.arctan2(seg.d[:, 1], seg.d[:, 0])) % 360
    bins = np.minimum((ang // (360 / n_bins)).astype(int), n_bins - 1)
    want = set()
    for p in range(n_bins):  # each bin against its opposite bins, one direction at a time
        mine = np.flatnonzero(bins == p)
        for q in {(p + n_bins // 2 + o) % n_bins for o in (-1, 0, 1)}:
            other = np.flatnonzero(bins == q)
            if len(mine) and len(other):
                hit = cKDTree(mids[mine]).sparse_distance_matrix(
                    cKDTree(mids[other]), 40.5 * (1 + 1e-9) + 1e-9, output_type="ndarray"
                )
                want |= set(zip(mine[hit["i"]].tolist(), other[hit["j"]].tolist(), strict=True))
    got = list(zip(a.tolist(), b.tolist(), strict=True))
    assert len(got) == len(set(got)) == len(want) > 1000
    assert set(got) == want


def test_road_ends_near_an_old_carriageway_are_those_geos_finds():
    from gridgeo.partition.carriageways import _near_pieces

    seg, hh = _city_pieces()
    part = seg.partners(max_gap=40.0, min_gap=3.0, max_angle_deg=10.0)
    paired = part >= 0
    rng = np.random.default_rng(2)
    k = np.flatnonzero(paired)
    # points on, beside and just beyond 2 m of the paired pieces, and the households
    xy = np.vstack(
        [
            seg.s[k[::7]] + rng.normal(0, 2.0, (len(k[::7]), 2)),
            seg.e[k[::5]] + [0.0, 2.0],
            shapely.get_coordinates(hh.geometry.to_numpy()[::10]),
        ]
    )
    pts = shapely.points(xy)
    old = shapely.linestrings(np.stack([seg.s[paired], seg.e[paired]], axis=1))
    want = np.unique(shapely.STRtree(old).query(pts, predicate="dwithin", distance=2.0)[0])
    got = _near_pieces(seg, paired, pts, xy, 2.0)
    assert 0 < len(want) < len(xy)
    assert np.array_equal(got, want)


def test_pairs_on_two_threads_are_the_pairs_on_one(monkeypatch):
    # the keys (name and level) split in two sets, each set's pieces paired on its own
    # thread, and the centreline's tree built on a thread beside the roads' rebuilding:
    # the same lines bit for bit, households kept out of the collapse alike
    import gridgeo.partition.carriageways as carriageways
    from gridgeo.partition.twocores import both_cores

    _, roads, hh = dual_carriageway_city(3, 2, size=600.0, n_households=6000, seed=4)
    xy = shapely.get_coordinates(hh.geometry.to_numpy())
    one = collapse_carriageways(roads, keep_xy=xy)
    monkeypatch.setattr(carriageways, "HALVES_MIN_PIECES", 0)
    seen = []
    real = carriageways._Pieces.subset
    monkeypatch.setattr(
        carriageways._Pieces, "subset", lambda self, idx: seen.append(len(idx)) or real(self, idx)
    )
    with both_cores():
        two = collapse_carriageways(roads, keep_xy=xy)
    assert len(seen) == 2 and min(seen) > 0  # two sets of keys, each paired on its own
    assert list(shapely.to_wkb(two)) == list(shapely.to_wkb(one))
    # pairs were collapsed: a centreline instead of two carriageways
    assert shapely.length(one).sum() < 0.8 * shapely.length(roads.geometry.to_numpy()).sum()
