"""The partitioner on small synthetic communities: rules 1–5, bad input, each stage alone."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point, box

from gridgeo.errors import InputError
from gridgeo.io import check_layer
from gridgeo.partition import partition
from gridgeo.partition.aggregate import Graph, aggregate, choose_k
from gridgeo.partition.blocks import Blocks, faces, tidy_blocks
from gridgeo.partition.clean import clean_roads
from gridgeo.partition.split import split_block
from gridgeo.testing import (
    CRS,
    code_problems,
    contiguity_problems,
    district,
    household_problems,
    seam_problems,
)


def assert_rules(result, comm, hh=None, *, digits: int = 3):
    grids = result.grids.to_crs(CRS)
    assert seam_problems(grids, comm.to_crs(CRS)) == []
    assert contiguity_problems(grids) == []
    assert code_problems(grids, digits=digits) == []
    if hh is not None:
        assert household_problems(grids, hh.to_crs(CRS)) == []
    assert list(result.grids.columns) == [
        "grid_code",
        "grid_name",
        "grid_type",
        "community_code",
        "households",
        "population",
        "area_m2",
        "geometry",
    ]


def test_street_grid_community_in_band_on_roads():
    comm, roads, hh = district()
    res = partition(comm, roads, hh, profile="yongzhou")
    assert_rules(res, comm, hh)
    sizes = res.grids["households"]
    assert sizes.between(300, 500).all()
    assert res.metrics["in_band_share_feasible"] == 1.0
    assert res.metrics["road_border_share"] == pytest.approx(1.0)
    assert len(res.violations) == 0
    assert res.grids["grid_code"].str.len().eq(15).all()
    assert res.grids["grid_name"].tolist() == [
        f"东风社区第{i}网格" for i in range(1, len(res.grids) + 1)
    ]


def test_same_input_twice_gives_identical_grids():
    comm, roads, hh = district(seed=3)
    a = partition(comm, roads, hh).grids
    b = partition(comm, roads, hh).grids
    assert a.drop(columns="geometry").equals(b.drop(columns="geometry"))
    assert (a.geometry.to_wkb() == b.geometry.to_wkb()).all()


def test_output_in_the_communities_crs():
    comm, roads, hh = district()
    res = partition(comm.to_crs(4490), roads.to_crs(4326), hh.to_crs(4326))
    assert res.grids.crs.equals(comm.to_crs(4490).crs)
    assert_rules(res, comm, hh)


@pytest.mark.parametrize(
    ("total", "n_grids", "rule"),
    [
        # below the floor: one grid, flagged (the band cannot be met: a warning)
        (120, 1, "size.band_unattainable"),
        # 560 cannot be cut into 300–500: ceiling kept, 2 × ~280, flagged likewise
        (560, 2, "size.band_unattainable"),
        (450, 1, None),
        (900, 2, None),
    ],
)
def test_infeasible_totals_still_get_grids_and_a_reason(total, n_grids, rule):
    comm, roads, hh = district(n_households=total * 4, size=400, per_point=4)
    hh = hh.iloc[: total // 4]
    res = partition(comm, roads, hh)
    assert_rules(res, comm, hh)
    assert len(res.grids) == n_grids
    assert res.grids["households"].max() <= 500
    if rule:
        assert rule in set(res.violations.loc[res.violations["grid_code"].notna(), "rule"])
        assert "size.band_unattainable" in set(res.violations["rule"])
        assert res.violations["reason"].str.len().gt(20).all()
    else:
        assert len(res.violations) == 0


def test_community_without_households_is_one_flagged_grid():
    comm, roads, hh = district()
    res = partition(comm, roads, hh.iloc[:0])
    assert len(res.grids) == 1
    assert res.violations["rule"].tolist() == ["community.no_households"]
    assert_rules(res, comm)


def test_households_outside_every_community_are_reported_not_lost():
    comm, roads, hh = district()
    stray = gpd.GeoDataFrame({"households": [7]}, geometry=[Point(0, 0)], crs=CRS)
    both = gpd.GeoDataFrame(
        gpd.pd.concat([hh, stray], ignore_index=True), geometry="geometry", crs=CRS
    )
    res = partition(comm, roads, both)
    out = res.violations[res.violations["rule"] == "household.outside_community"]
    assert len(out) == 1
    assert res.metrics["households_outside"] == {"points": 1, "households": 7}
    assert res.metrics["households_in_grids"] + 7 == res.metrics["households_total"]


def test_roads_away_from_communities_are_ignored():
    comm, roads, hh = district()
    far = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (10, 10)])], crs=CRS)
    a = partition(comm, roads, hh).grids
    b = partition(comm, gpd.GeoDataFrame(gpd.pd.concat([roads, far]), crs=CRS), hh).grids
    assert (a.geometry.to_wkb() == b.geometry.to_wkb()).all()


def test_overlapping_communities_name_both_codes():
    comm, roads, hh = district()
    other = comm.copy()
    other["code"] = "430102001002"
    other["geometry"] = other.translate(500, 0)
    both = gpd.GeoDataFrame(gpd.pd.concat([comm, other], ignore_index=True), crs=CRS)
    with pytest.raises(InputError) as exc:
        partition(both, roads, hh)
    assert "430102001001" in str(exc.value) and "430102001002" in str(exc.value)


def test_code_not_matching_the_pattern_names_the_row():
    comm, roads, hh = district(code="63000030001")
    with pytest.raises(InputError) as exc:
        partition(comm, roads, hh)
    assert exc.value.problems[0].row == 0
    assert exc.value.problems[0].field == "code"
    res = partition(comm, roads, hh, code_pattern=r"\d{11}")
    assert res.grids["grid_code"].str.len().eq(14).all()


@pytest.mark.parametrize(
    ("change", "rule", "field"),
    [
        ({"code": "430102000000"}, "code.level", "code"),  # a county code, not a committee
        ({"kind": "郊区"}, "field.choice", "kind"),  # not a spelling of urban/rural
        ({"name": ""}, "field.null", "name"),
    ],
)
def test_partition_refuses_what_io_refuses(change, rule, field):
    """The partitioner checks the same layer contracts as gridgeo.io.check_layer."""
    comm, roads, hh = district()
    comm = comm.assign(**change)
    expected = [
        (p.rule, p.field) for p in check_layer(comm, "communities") if p.severity == "error"
    ]
    assert (rule, field) in expected
    with pytest.raises(InputError) as exc:
        partition(comm, roads, hh)
    assert [(p.rule, p.field) for p in exc.value.problems if p.severity == "error"] == expected


def test_partition_accepts_every_kind_spelling():
    comm, roads, hh = district(code="430102001001")
    res = partition(comm.assign(kind="村民委员会"), roads, hh)
    assert set(res.grids["grid_type"]) == {"rural"}


def test_population_drives_grid_size_when_household_counts_are_missing():
    """甘肃: 300–500 households *or* ~1000 residents. A household layer with residents but
    no household counts is grouped into grids of 750–1250 residents (1000 ± 25 %)."""
    comm, roads, hh = district(n_households=3000, per_point=10)  # ~9,000 residents
    residents = hh.drop(columns="households")
    res = partition(comm, roads, residents, profile="gansu")
    assert_rules(res, comm)
    assert res.grids["population"].between(750, 1250).all()
    assert res.grids["population"].sum() == residents["population"].sum()
    assert res.metrics["in_band_share_feasible"] == 1.0
    # without a population figure (yongzhou urban) each point counts as one household
    one_each = partition(comm, roads, residents, profile="yongzhou")
    assert len(one_each.grids) == 1
    assert one_each.grids["households"].iloc[0] == len(residents)


def test_block_above_ceiling_is_cut_between_points_not_through_them():
    comm, _, hh = district(n_households=1800, size=300, per_point=6)
    res = partition(comm, None, hh)  # no roads: one block of ~1800 households
    assert_rules(res, comm, hh)
    assert res.grids["households"].between(300, 500).all()
    grids = res.grids.geometry.to_numpy()
    d = shapely.distance(shapely.boundary(grids)[:, None], hh.geometry.to_numpy()[None, :])
    assert d.min() > 0  # no cut line passes through a household point


def test_single_indivisible_point_over_ceiling_is_its_own_grid():
    comm, roads, hh = district(n_households=1000, size=400, per_point=10)
    big = gpd.GeoDataFrame({"households": [900]}, geometry=[Point(500050, 3000050)], crs=CRS)
    allh = gpd.GeoDataFrame(gpd.pd.concat([hh, big], ignore_index=True), crs=CRS)
    res = partition(comm, roads, allh)
    assert_rules(res, comm, allh)
    # the band cannot be met (one indivisible unit above the ceiling): the grid's warning
    v = res.violations
    over = v[(v["rule"] == "size.band_unattainable") & v["reason"].str.contains("exceed")]
    assert len(over) == 1 and "indivisible" in over["reason"].iloc[0]
    assert res.grids["households"].max() >= 900
    assert res.metrics["feasible_communities"] == 0


def test_compound_is_never_split():
    comm, _, hh = district(n_households=1200, size=300, per_point=6)
    hh["compound_id"] = None
    inside = hh.geometry.x < 500100
    hh.loc[inside, "compound_id"] = "小区A"
    res = partition(comm, None, hh)
    assert_rules(res, comm, hh)
    holder = gpd.sjoin(hh[inside], res.grids.to_crs(CRS), predicate="within")
    assert holder["grid_code"].nunique() == 1


@pytest.mark.parametrize(
    ("profile", "category", "households", "alone"),
    [
        # 新乡条例第八条: schools are a dedicated category, no size figure
        ("xinxiang", "school", 0, True),
        # 永州条例第九条: a unit (schools included) stands alone only at >= 200 households
        ("yongzhou", "school", 0, False),
        ("yongzhou", "school", 250, True),
        ("yongzhou", "unit", 250, True),
        ("yongzhou", "unit", 50, False),
        ("yongzhou", "farm", 400, False),
    ],
)
def test_dedicated_sites(profile, category, households, alone):
    comm, roads, hh = district()
    site = box(500210, 3000210, 500290, 3000290)
    extra = gpd.GeoDataFrame(
        {"households": [households]}, geometry=[Point(500250, 3000250)], crs=CRS
    )
    allh = gpd.GeoDataFrame(gpd.pd.concat([hh, extra], ignore_index=True), crs=CRS)
    ded = gpd.GeoDataFrame({"name": ["第一中学"], "category": [category]}, geometry=[site], crs=CRS)
    res = partition(comm, roads, allh, dedicated=ded, profile=profile)
    assert_rules(res, comm, allh)
    d = res.grids[res.grids["grid_type"] == "dedicated"]
    if alone:
        assert d["grid_name"].tolist() == ["第一中学"]
        assert (
            d.geometry.iloc[0].equals_exact(site, 1e-6)
            or d.geometry.iloc[0].symmetric_difference(site).area < 1
        )
        assert (
            d["grid_code"].iloc[0] == res.grids["grid_code"].max()
        )  # numbered after ordinary grids
    else:
        assert len(d) == 0
        # the compound is not cut: one grid covers it
        covering = [g for g in res.grids.geometry if g.intersection(site).area > 1]
        assert len(covering) == 1


def test_rural_whole_village_and_band():
    small, roads, hh = district(n_households=200, size=400, code="430102001201", name="桃园村")
    res = partition(small, roads, hh, profile="yongzhou")
    assert len(res.grids) == 1 and res.grids["grid_type"].iloc[0] == "rural"
    assert len(res.violations) == 0
    big, roads, hh = district(
        n_households=1000, size=600, code="430102001202", name="杏花村", per_point=5
    )
    res = partition(big, roads, hh, profile="yongzhou")
    assert_rules(res, big, hh)
    assert res.grids["households"].between(150, 250).all()
    assert res.grids["grid_name"].iloc[0] == "杏花村第1网格"


def test_gansu_one_grid_per_village_only_within_the_urban_standard():
    """甘肃省办法一（一）2: one grid per administrative village, but a village's grids follow
    the urban standard (300–500 households): a larger village is split, not kept whole."""
    small, roads, hh = district(n_households=450, size=400, code="620102001202", name="白杨村")
    res = partition(small, roads, hh, profile="gansu")
    assert len(res.grids) == 1 and len(res.violations) == 0
    comm, roads, hh = district(code="620102001201", name="红星村")
    assert hh["households"].sum() > 500
    res = partition(comm, roads, hh, profile="gansu")
    assert_rules(res, comm, hh)
    assert len(res.grids) > 1
    assert res.grids["households"].between(300, 500).all()


def test_village_mode_keeps_each_village_whole():
    from gridgeo.rules import load_profile

    prof = load_profile("gansu")
    prof = prof.model_copy(update={"rural": prof.rural.model_copy(update={"mode": "village"})})
    comm, roads, hh = district(code="620102001201", name="红星村")
    res = partition(comm, roads, hh, profile=prof)
    assert len(res.grids) == 1
    assert res.grids["households"].iloc[0] == hh["households"].sum()


def test_population_band_exempts_a_grid_below_the_household_floor():
    """Gansu: 300–500 households *or* ~1000 residents (Profile.population_band): a grid of
    240 households and 1000 residents is not below the floor; under yongzhou it is."""
    comm, roads, hh = district(n_households=240, size=400, code="620102001001", name="东岗社区")
    hh = hh.assign(population=1000 / len(hh))
    gansu = partition(comm, roads, hh, profile="gansu").violations
    assert "size.below_floor" not in set(gansu["rule"])
    flagged = partition(comm, roads, hh, profile="yongzhou").violations
    # 240 households cannot make a grid of 300–500: flagged as the band being unattainable
    assert "size.band_unattainable" in set(flagged.loc[flagged["grid_code"].notna(), "rule"])


def test_rural_villager_groups_become_grids():
    comm, roads, hh = district(code="410702001201", name="前进村")
    x0, y0 = 500000, 3000000
    groups = gpd.GeoDataFrame(
        {"name": ["一组", "二组"], "village_code": ["410702001201"] * 2},
        geometry=[box(x0, y0, x0 + 430, y0 + 1000), box(x0 + 430, y0, x0 + 1000, y0 + 1000)],
        crs=CRS,
    )
    res = partition(comm, roads, hh, villager_groups=groups, profile="xinxiang")
    assert_rules(res, comm, hh)
    assert len(res.grids) == 2


def test_kind_option_overrides_code_scheme():
    comm, roads, hh = district(n_households=1000, size=600, per_point=5)
    res = partition(comm, roads, hh, kind="rural")
    assert set(res.grids["grid_type"]) == {"rural"}


# -- stages alone ------------------------------------------------------------------------


def test_clean_roads_closes_near_misses_and_drops_duplicates():
    a = LineString([(0, 0), (100, 0)])
    b = LineString([(50, 1.2), (50, 100)])  # stops 1.2 m short of a
    lines = clean_roads([a, a, b, LineString([(0, 100), (100, 100)])], snap_m=2, extend_m=10)
    merged = shapely.union_all(lines)
    assert merged.distance(Point(50, 0)) == 0
    assert shapely.length(lines).sum() == pytest.approx(100 + 100 + 100, abs=0.05)


def test_faces_tile_the_area_and_dangles_are_extended():
    area = box(0, 0, 200, 100)
    roads = [LineString([(100, 5), (100, 120)])]  # 5 m short of the southern edge
    f = faces(area, roads, snap_m=2, extend_m=10)
    assert len(f) == 2
    assert shapely.union_all(f).symmetric_difference(area).area < 1e-6


def test_dual_carriageway_strip_is_split_down_the_middle():
    area = box(0, 0, 300, 200)
    roads = [LineString([(140, -10), (140, 210)]), LineString([(160, -10), (160, 210)])]
    f = faces(area, roads)
    assert len(f) == 3
    blocks = Blocks(list(f), [np.array([], int)] * 3)
    blocks.recompute(np.zeros(0))
    out = tidy_blocks(blocks, np.zeros(0), np.zeros((0, 2)), min_area=100, median_width=30)
    assert len(out.geoms) == 2
    xs = sorted(g.bounds[2] for g in out.geoms)
    assert xs[0] == pytest.approx(150, abs=1.5)  # border on the median line
    assert out.medians and shapely.union_all(out.medians).distance(Point(150, 100)) < 1.5


def test_split_block_respects_ceiling_and_compounds():
    rng = np.random.default_rng(1)
    poly = box(0, 0, 100, 100)
    xy = rng.uniform(1, 99, size=(60, 2))
    w = np.full(60, 20.0)
    pieces = split_block(poly, xy, w, ceiling=500)
    assert len(pieces) >= 3
    assert all(w[idx].sum() <= 500 for _, idx in pieces)
    assert shapely.union_all([p for p, _ in pieces]).symmetric_difference(poly).area < 1e-6
    assert sorted(np.concatenate([idx for _, idx in pieces]).tolist()) == list(range(60))


@pytest.mark.parametrize(
    ("total", "ks", "ok"),
    [(120, [1], False), (560, [2], False), (900, [2, 3], True), (450, [1], True)],
)
def test_choose_k(total, ks, ok):
    got, feasible = choose_k(total, 300, 500)
    assert feasible is ok
    assert sorted(got) == ks


def test_aggregate_enforces_ceiling_on_a_path():
    w = np.array([100, 200, 150, 150, 250, 100, 100, 200, 150, 100], dtype=float)
    edges = np.array([[i, i + 1] for i in range(len(w) - 1)])
    labels = aggregate(w, Graph(len(w), edges, np.ones(len(edges))), lo=300, hi=500, seed=0)
    totals = np.bincount(labels, weights=w)
    assert (totals <= 500).all() and (totals >= 300).all()
    for lab in set(labels.tolist()):  # contiguous on the path
        idx = np.flatnonzero(labels == lab)
        assert idx.max() - idx.min() + 1 == len(idx)


def test_package_is_callable_like_the_function():
    import gridgeo.partition as gp

    comm, roads, hh = district()
    assert gp(comm, roads, hh).grids.equals(partition(comm, roads, hh).grids)


def test_rural_block_is_cut_between_hamlets():
    rng = np.random.default_rng(5)
    x0, y0 = 500000.0, 3000000.0
    comm = gpd.GeoDataFrame(
        {"code": ["430102001203"], "name": ["两塘村"]},
        geometry=[box(x0, y0, x0 + 2000, y0 + 1000)],
        crs=CRS,
    )
    # three hamlets of 20 houses × 7 households (140 each) along a valley, no roads
    centres = [(x0 + 300, y0 + 500), (x0 + 1000, y0 + 450), (x0 + 1700, y0 + 550)]
    xy = np.vstack([rng.normal(c, 40, size=(20, 2)) for c in centres])
    hh = gpd.GeoDataFrame(
        {"households": np.full(60, 7), "hamlet": np.repeat([0, 1, 2], 20)},
        geometry=shapely.points(xy),
        crs=CRS,
    )
    res = partition(comm, None, hh, profile="yongzhou")
    assert_rules(res, comm, hh)
    joined = gpd.sjoin(hh, res.grids, predicate="within")
    assert (joined.groupby("hamlet")["grid_code"].nunique() == 1).all()  # no hamlet is cut
    assert res.grids["households"].max() <= 250


def test_multipart_community_small_part_is_its_own_flagged_grid():
    comm, roads, hh = district(n_households=1600, size=400, per_point=5)
    far = box(501000, 3000000, 501100, 3000100)
    comm["geometry"] = [shapely.MultiPolygon([comm.geometry.iloc[0], far])]
    extra = gpd.GeoDataFrame({"households": [40]}, geometry=[Point(501050, 3000050)], crs=CRS)
    allh = gpd.GeoDataFrame(gpd.pd.concat([hh, extra], ignore_index=True), crs=CRS)
    res = partition(comm, roads, allh)
    assert_rules(res, comm, allh)
    small = res.grids[res.grids.intersects(far)]
    assert small["households"].tolist() == [40]
    reason = res.violations.loc[res.violations["grid_code"] == small["grid_code"].iloc[0], "reason"]
    assert "only 40 households" in reason.iloc[0]
