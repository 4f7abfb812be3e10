"""One case per validator rule that triggers it, and the passing case next to it.

The base case is a real-looking urban community (residents' committee code
431102001001, 1000 m × 600 m in CGCS2000 / 3° GK CM 114E) split into two
500-m grids with 400 households each, along a road.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon, box

from gridgeo.rules import load_profile
from gridgeo.validate import RULES, GridSet, passes, run_checks, validate

CRS = "EPSG:4547"
X, Y = 500_000.0, 3_000_000.0
COMM = "431102001001"
VILLAGE = "431102001201"


def lattice(x0: float, y0: float, x1: float, y1: float, n: int) -> list:
    """``n`` household points on a regular lattice strictly inside the box."""
    side = int(np.ceil(np.sqrt(n)))
    xs = np.linspace(x0, x1, side + 2)[1:-1]
    ys = np.linspace(y0, y1, side + 2)[1:-1]
    xy = np.array([(x, y) for x in xs for y in ys])[:n]
    return list(shapely.points(xy))


def case(
    *,
    geoms=None,
    codes=("431102001001001", "431102001001002"),
    community_codes=None,
    types=None,
    counts=(400, 400),
    community=None,
    community_code=COMM,
    extra_communities=(),
    households=None,
):
    geoms = geoms or [box(X, Y, X + 500, Y + 600), box(X + 500, Y, X + 1000, Y + 600)]
    n = len(geoms)
    grids = gpd.GeoDataFrame(
        {
            "grid_code": list(codes)[:n],
            "community_code": list(community_codes or [community_code] * n),
            "grid_type": list(types or ["urban"] * n),
        },
        geometry=geoms,
        crs=CRS,
    )
    comm_geom = community if community is not None else box(X, Y, X + 1000, Y + 600)
    comms = gpd.GeoDataFrame(
        {"code": [community_code, *[c for c, _ in extra_communities]]},
        geometry=[comm_geom, *[g for _, g in extra_communities]],
        crs=CRS,
    )
    if households is None:
        pts = []
        for cells, count in zip(
            [box(X, Y, X + 500, Y + 600), box(X + 500, Y, X + 1000, Y + 600)], counts, strict=False
        ):
            pts += lattice(*cells.bounds, count)
        households = gpd.GeoDataFrame(geometry=pts, crs=CRS)
    return grids, comms, households


def rules_of(report) -> set[str]:
    return set(report.issues["rule"])


def run(grids, comms, hh, roads=None, staff=None, profile="yongzhou"):
    return validate(grids, comms, hh, roads, profile=profile, staff=staff)


def test_base_case_passes():
    report = run(*case())
    assert report.issues.empty, report.issues["message"].tolist()
    assert report.exit_code == 0
    assert report.grids["households"].tolist() == [400, 400]
    assert report.summary["in_band"]["share"] == 1.0


# --------------------------------------------------------------------------- each rule
BOWTIE = Polygon([(X + 500, Y), (X + 1000, Y + 600), (X + 1000, Y), (X + 500, Y + 600)])


def _cases():
    """(rule, triggering case kwargs, passing case kwargs)."""
    base = [box(X, Y, X + 500, Y + 600), box(X + 500, Y, X + 1000, Y + 600)]
    return [
        ("geometry.invalid", {"geoms": [base[0], BOWTIE]}, {}),
        (
            "geometry.not_contiguous",
            {
                "geoms": [
                    MultiPolygon(
                        [box(X, Y, X + 500, Y + 300), box(X + 500, Y + 300, X + 1000, Y + 600)]
                    ),
                    MultiPolygon(
                        [box(X + 500, Y, X + 1000, Y + 300), box(X, Y + 300, X + 500, Y + 600)]
                    ),
                ]
            },
            {"geoms": [box(X, Y, X + 1000, Y + 300), box(X, Y + 300, X + 1000, Y + 600)]},
        ),
        (
            "geometry.sliver",
            {
                "geoms": [
                    *base[:1],
                    box(X + 500, Y, X + 997, Y + 600),
                    box(X + 997, Y, X + 1000, Y + 600),
                ],
                "codes": ("431102001001001", "431102001001002", "431102001001003"),
            },
            {},
        ),
        ("size.above_ceiling", {"counts": (600, 200)}, {"counts": (300, 500)}),
        ("size.below_floor", {"counts": (600, 200)}, {"counts": (300, 500)}),
        ("coverage.gap", {"geoms": [base[0], box(X + 500, Y, X + 990, Y + 600)]}, {}),
        ("coverage.overlap", {"geoms": [base[0], box(X + 480, Y, X + 1000, Y + 600)]}, {}),
        (
            "border.crosses_community",
            {"geoms": [base[0], box(X + 500, Y, X + 1100, Y + 600)]},
            {},
        ),
        ("code.format", {"codes": ("431102001001001", "4311020010012")}, {}),
        ("code.duplicate", {"codes": ("431102001001001", "431102001001001")}, {}),
        (
            "code.community_mismatch",
            {"codes": ("431102001001001", "431102001002002")},
            {},
        ),
        ("attr.grid_type", {"types": ["urban", "downtown"]}, {"types": ["urban", "城市社区网格"]}),
        (
            "input.community_invalid",
            {"community": Polygon([(X, Y), (X + 1000, Y + 600), (X + 1000, Y), (X, Y + 600)])},
            {},
        ),
    ]


@pytest.mark.parametrize(("rule", "trigger", "ok"), _cases(), ids=[c[0] for c in _cases()])
def test_rule_triggers_and_passes(rule, trigger, ok):
    bad = run(*case(**trigger))
    assert rule in rules_of(bad), bad.issues[["rule", "message"]].to_string()
    hit = bad.issues[bad.issues["rule"] == rule].iloc[0]
    assert hit["severity"] == RULES[rule].severity
    assert hit["message"]
    good = run(*case(**ok))
    assert rule not in rules_of(good), good.issues[["rule", "message"]].to_string()


def test_size_band_reports_recounted_households_not_attributes():
    grids, comms, hh = case(counts=(600, 200))
    grids["households"] = [400, 400]  # stale attribute: must be ignored
    report = run(grids, comms, hh)
    sizes = report.issues[report.issues["rule"].str.startswith("size.")]
    assert sorted(zip(sizes["rule"], sizes["value"], strict=True)) == [
        ("size.above_ceiling", 600),
        ("size.below_floor", 200),
    ]
    assert report.exit_code == 1
    assert report.summary["in_band"]["share"] == 0.0


def test_household_weights_and_border_points_count_once():
    grids, comms, _ = case()
    pts = [*lattice(X, Y, X + 500, Y + 600, 10), shapely.Point(X + 500, Y + 300)]
    hh = gpd.GeoDataFrame({"households": [30] * 10 + [5]}, geometry=pts, crs=CRS)
    report = run(grids, comms, hh)
    assert report.grids["households"].sum() == 305  # the border point is not counted twice
    assert report.summary["households"]["total"] == 305


def test_gap_reports_area_location_and_households():
    grids, comms, _ = case(geoms=[box(X, Y, X + 500, Y + 600), box(X + 500, Y, X + 990, Y + 600)])
    hh = gpd.GeoDataFrame(
        geometry=[
            *lattice(X, Y, X + 990, Y + 600, 800),
            *lattice(X + 990, Y, X + 1000, Y + 600, 3),
        ],
        crs=CRS,
    )
    report = run(grids, comms, hh)
    gap = report.issues[report.issues["rule"] == "coverage.gap"].iloc[0]
    assert gap["value"] == pytest.approx(6000)
    assert "3 households" in gap["message"]
    assert gap["grid_codes"] == "431102001001002"
    assert gap.geometry.area == pytest.approx(6000)  # in the input CRS (metres here)


def test_crossing_names_the_community_entered_and_the_area():
    neighbour = ("431102001002", box(X + 1000, Y, X + 2000, Y + 600))
    grids, comms, hh = case(
        geoms=[box(X, Y, X + 500, Y + 600), box(X + 500, Y, X + 1100, Y + 600)],
        extra_communities=[neighbour],
    )
    report = run(grids, comms, hh)
    cross = report.issues[report.issues["rule"] == "border.crosses_community"].iloc[0]
    assert cross["value"] == pytest.approx(60_000)
    assert "431102001002" in cross["message"]
    assert "17%" in cross["message"]


def test_overlap_geometry_is_the_shared_area():
    report = run(*case(geoms=[box(X, Y, X + 500, Y + 600), box(X + 480, Y, X + 1000, Y + 600)]))
    ov = report.issues[report.issues["rule"] == "coverage.overlap"].iloc[0]
    assert ov["grid_codes"] == "431102001001001,431102001001002"
    assert ov.geometry.area == pytest.approx(20 * 600)


def test_unavoidable_out_of_band_is_a_warning():
    """A community of 120 households cannot meet 300–500: the grid is made, the report says why."""
    grids, comms, _ = case(geoms=[box(X, Y, X + 1000, Y + 600)], codes=("431102001001001",))
    hh = gpd.GeoDataFrame(geometry=lattice(X, Y, X + 1000, Y + 600, 120), crs=CRS)
    report = run(grids, comms, hh)
    assert rules_of(report) == {"size.band_unattainable"}
    assert "cannot be split" in report.issues["message"].iloc[0]
    assert report.exit_code == 0
    assert report.summary["in_band"]["share"] is None  # no feasible community


def test_heavy_compound_makes_the_community_infeasible():
    grids, comms, _ = case(counts=(400, 400))
    pts = lattice(X, Y, X + 500, Y + 600, 300) + lattice(X + 500, Y, X + 1000, Y + 600, 2)
    hh = gpd.GeoDataFrame(
        {"households": [1] * 300 + [300, 300], "compound_id": [None] * 300 + ["c1", "c1"]},
        geometry=pts,
        crs=CRS,
    )
    report = run(grids, comms, hh)
    row = report.communities.iloc[0]
    assert not row["feasible"] and row["heaviest_unit"] == 600
    assert "indivisible" in row["reason"]
    assert "size.band_unattainable" in rules_of(report)


@pytest.mark.parametrize(
    ("households", "n_grids", "expected"),
    [(180, 1, set()), (180, 2, {"size.below_floor"}), (400, 2, set())],
)
def test_rural_whole_village_exemption(households, n_grids, expected):
    geoms = (
        [box(X, Y, X + 1000, Y + 600)]
        if n_grids == 1
        else [box(X, Y, X + 500, Y + 600), box(X + 500, Y, X + 1000, Y + 600)]
    )
    codes = ("431102001201001", "431102001201002")[:n_grids]
    grids, comms, _ = case(
        geoms=geoms, codes=codes, types=["rural"] * n_grids, community_code=VILLAGE
    )
    hh = gpd.GeoDataFrame(geometry=lattice(X, Y, X + 1000, Y + 600, households), crs=CRS)
    report = run(grids, comms, hh)
    assert rules_of(report) == expected


def test_dedicated_grids_are_exempt_and_not_counted():
    geoms = [
        box(X, Y, X + 500, Y + 600),
        box(X + 500, Y, X + 900, Y + 600),
        box(X + 900, Y, X + 1000, Y + 600),
    ]
    grids, comms, _ = case(
        geoms=geoms,
        codes=("431102001001001", "431102001001002", "431102001001003"),
        types=["urban", "urban", "dedicated"],
    )
    hh = gpd.GeoDataFrame(
        geometry=lattice(X, Y, X + 500, Y + 600, 350)
        + lattice(X + 500, Y, X + 900, Y + 600, 350)
        + lattice(X + 900, Y, X + 1000, Y + 600, 40),
        crs=CRS,
    )
    report = run(grids, comms, hh)
    assert report.issues.empty
    band = report.summary["in_band"]
    assert (band["in_band"], band["counted"], band["dedicated_grids"]) == (2, 2, 1)
    assert report.communities.iloc[0]["households"] == 700  # dedicated households carved out


def test_code_pattern_from_profile_accepts_taiwan_village_codes():
    prof = load_profile("yongzhou").with_code_pattern(r"\d{11}")
    grids, comms, hh = case(
        codes=("63000030001001", "63000030001002"), community_code="63000030001"
    )
    assert "code.format" not in rules_of(run(grids, comms, hh, profile=prof))
    assert "code.format" in rules_of(run(grids, comms, hh))  # 12-digit default pattern


@pytest.mark.parametrize(
    ("road_x", "warned"),
    [(X + 500, False), (X + 503, False), (X + 520, True)],
    ids=["on", "within-tolerance", "off"],
)
def test_road_border_share(road_x, warned):
    grids, comms, hh = case()
    roads = gpd.GeoDataFrame(geometry=[LineString([(road_x, Y - 50), (road_x, Y + 650)])], crs=CRS)
    report = run(grids, comms, hh, roads)
    assert ("roads.border_share" in rules_of(report)) is warned
    share = report.summary["road_border"]["share"]
    assert share == (pytest.approx(0.0) if warned else pytest.approx(1.0))
    if warned:
        issue = report.issues[report.issues["rule"] == "roads.border_share"].iloc[0]
        assert issue.geometry.geom_type in ("LineString", "MultiLineString")
        assert issue["severity"] == "warning"


STAFF_FULL = {
    "grid_name": ["一网格", "二网格"],
    "grid_worker": ["张三", "李四"],
    "grid_worker_phone": ["13800000001", "13800000002"],
    "grid_head": ["王五", "王五"],
    "grid_head_phone": ["13800000003", "13800000003"],
    "supervision_phone": ["0746-12345", "0746-12345"],
}


@pytest.mark.parametrize(
    ("change", "missing"),
    [
        ({}, None),
        ({"grid_head_phone": ["13800000003", " "]}, "grid_head_phone"),
        ({"grid_code": ["431102001001001", "431102001001999"]}, "not in the staff table"),
    ],
)
def test_posting_attributes(change, missing):
    staff = pd.DataFrame(
        {"grid_code": ["431102001001001", "431102001001002"], **STAFF_FULL} | change
    )
    report = run(*case(), staff=staff)
    posting = report.issues[report.issues["rule"] == "posting.missing"]
    if missing is None:
        assert posting.empty
    else:
        assert len(posting) == 1 and missing in posting["message"].iloc[0]
        assert posting["grid_codes"].iloc[0] == "431102001001002"


def test_no_staff_table_means_no_posting_check():
    assert not any(r.startswith("posting") for r in rules_of(run(*case())))


# --------------------------------------------------------------------------- composition
def test_checks_compose_on_a_grid_set():
    grids, comms, hh = case(geoms=[box(X, Y, X + 500, Y + 600), box(X + 480, Y, X + 1000, Y + 600)])
    gs = GridSet.prepare(grids, comms, hh, profile="yongzhou")
    only = run_checks(gs, ["coverage.overlap"])
    assert {i.rule for i in only} == {"coverage.overlap"}
    assert not passes(gs, ["coverage.overlap"])
    assert passes(gs, ["code.format", "code.duplicate"])
    # the household count is computed once and shared by the checks
    assert gs.grid_households is gs.grid_households


def test_geographic_input_is_worked_in_metres_and_reported_in_input_crs():
    grids, comms, hh = case(geoms=[box(X, Y, X + 500, Y + 600), box(X + 500, Y, X + 990, Y + 600)])
    report = run(grids.to_crs(4490), comms.to_crs(4490), hh.to_crs(4490))
    gap = report.issues[report.issues["rule"] == "coverage.gap"].iloc[0]
    assert gap["value"] == pytest.approx(6000, rel=1e-3)
    assert report.issues.crs.to_epsg() == 4490
    assert report.summary["metric_crs"].startswith("EPSG:45")  # a CGCS2000 GK zone


def test_gansu_keeps_a_village_whole_only_within_the_urban_standard():
    """甘肃省办法: one grid per village, but its population follows the urban standard
    (300–500 households): a village of 800 households in one grid is flagged."""
    grids, comms, _ = case(
        geoms=[box(X, Y, X + 1000, Y + 600)],
        codes=("431102001201001",),
        types=["rural"],
        community_code=VILLAGE,
    )
    hh = gpd.GeoDataFrame(geometry=lattice(X, Y, X + 1000, Y + 600, 800), crs=CRS)
    assert rules_of(run(grids, comms, hh, profile="gansu")) == {"size.above_ceiling"}
    assert rules_of(run(grids, comms, hh, profile="yongzhou")) == {"size.above_ceiling"}
    small = hh.iloc[:450]
    assert run(grids, comms, small, profile="gansu").issues.empty


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recount_matches_a_point_by_point_count(seed):
    """Irregular grids (Voronoi cells) and random weighted points, some on borders."""
    rng = np.random.default_rng(seed)
    community = box(X, Y, X + 1000, Y + 600)
    seeds = shapely.multipoints(rng.uniform((X, Y), (X + 1000, Y + 600), (12, 2)))
    cells = shapely.intersection(
        shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=community)), community
    )
    codes = [f"{COMM}{k + 1:03d}" for k in range(len(cells))]
    pts = list(shapely.points(rng.uniform((X, Y), (X + 1000, Y + 600), (2000, 2))))
    pts += list(shapely.get_parts(shapely.boundary(cells[0]).interpolate([0.1, 0.5])))
    weights = rng.integers(1, 5, len(pts))
    grids = gpd.GeoDataFrame({"grid_code": codes, "community_code": COMM}, geometry=cells, crs=CRS)
    comms = gpd.GeoDataFrame({"code": [COMM]}, geometry=[community], crs=CRS)
    hh = gpd.GeoDataFrame({"households": weights}, geometry=pts, crs=CRS)
    report = run(grids, comms, hh)
    expected = np.zeros(len(cells))
    for p, w in zip(pts, weights, strict=True):
        first = next(k for k, c in enumerate(cells) if c.covers(p))
        expected[first] += w
    assert report.grids["households"].tolist() == expected.tolist()
    assert report.grids["households"].sum() == weights.sum()


def _break(what, grids, comms, hh):
    if what == "no code field":
        comms = comms.drop(columns="code")
    elif what == "no grids":
        grids = grids.iloc[0:0]
    elif what == "line household":
        hh.loc[3, "geometry"] = LineString([(X, Y), (X + 1, Y + 1)])
    elif what == "bad weight":
        hh["households"] = ["x"] + [1] * (len(hh) - 1)
    elif what == "no CRS":
        hh = hh.set_crs(None, allow_override=True)
    return grids, comms, hh


@pytest.mark.parametrize(
    ("what", "expect", "where"),
    [
        ("no code field", "field code", (None, None, "code")),
        ("no grids", "layer grids: the layer is empty", (None, None, None)),
        ("line household", "row 3, field geometry", (None, 3, "geometry")),
        ("bad weight", "row 0, field households", (None, 0, "households")),
        ("no CRS", "layer households: the layer has no CRS", ("crs.missing", None, None)),
    ],
)
def test_unusable_input_raises_one_error_naming_where(what, expect, where):
    from gridgeo.errors import InputError

    with pytest.raises(InputError, match=expect) as info:
        run(*_break(what, *case()))
    assert info.value.exit_code == 2
    assert [(p.rule, p.row, p.field) for p in info.value.problems] == [where]


@pytest.mark.parametrize(
    "road",
    [
        LineString([(X + 500, Y + 100), (X + 500, Y + 450)]),  # covers part of the border
        LineString([(X + 300, Y - 10), (X + 700, Y + 610)]),  # crosses it diagonally
        LineString([(X + 498, Y - 10), (X + 502, Y + 610), (X + 900, Y + 610)]),  # slanted
    ],
    ids=["partial", "diagonal", "slanted"],
)
def test_road_share_matches_exact_geometry(road):
    grids, comms, hh = case()
    roads = gpd.GeoDataFrame(geometry=[road], crs=CRS)
    report = run(grids, comms, hh, roads)
    tol = load_profile("yongzhou").quality.road_tolerance_m
    # exact: the shared border x = X+500 minus the parts near the community border
    internal = LineString([(X + 500, Y), (X + 500, Y + 600)]).difference(
        comms.geometry.iloc[0].exterior.buffer(tol)
    )
    on_road = internal.intersection(road.buffer(tol))
    expected = on_road.length / internal.length
    got = report.grids["road_border_share"].to_numpy()
    assert got == pytest.approx([expected, expected], abs=tol / internal.length)


@pytest.mark.parametrize(
    ("extra", "flagged"),
    [(0.0005, False), (0.1, True)],
    ids=["round-off 0.5 mm", "real 10 cm"],
)
def test_round_off_slivers_are_not_breaches(extra, flagged):
    """A grid that pokes ``extra`` metres past its neighbour and the community border."""
    grids, comms, hh = case(
        geoms=[box(X, Y, X + 500 + extra, Y + 600), box(X + 500, Y, X + 1000 + extra, Y + 600)]
    )
    found = rules_of(run(grids, comms, hh))
    assert ("coverage.overlap" in found) is flagged
    assert ("border.crosses_community" in found) is flagged


@pytest.mark.parametrize(("crs", "kept"), [(CRS, True), ("EPSG:3857", False), ("EPSG:32649", True)])
def test_work_crs_keeps_true_area_projections_only(crs, kept):
    """Web Mercator is in metres but ~27 % too large here: the gap must still be 6,000 m²."""
    grids, comms, hh = case(geoms=[box(X, Y, X + 500, Y + 600), box(X + 500, Y, X + 990, Y + 600)])
    report = run(grids.to_crs(crs), comms.to_crs(crs), hh.to_crs(crs))
    assert (report.summary["metric_crs"] == crs) is kept
    gap = report.issues[report.issues["rule"] == "coverage.gap"].iloc[0]
    assert gap["value"] == pytest.approx(6000, rel=2e-3)


@pytest.mark.parametrize(
    ("profile", "population", "flagged"),
    [("gansu", 1000, False), ("gansu", 600, True), ("yongzhou", 1000, True)],
)
def test_population_alternative(profile, population, flagged):
    """Gansu: 300–500 households *or* ~1000 residents (±25 %) per urban grid."""
    grids, comms, _ = case(geoms=[box(X, Y, X + 1000, Y + 600)], codes=("431102001001001",))
    pts = lattice(X, Y, X + 1000, Y + 600, 250)
    hh = gpd.GeoDataFrame(
        {"households": [1] * 250, "population": [population / 250] * 250}, geometry=pts, crs=CRS
    )
    report = run(grids, comms, hh, profile=profile)
    assert ("size.band_unattainable" in rules_of(report)) is flagged
    assert report.grids["population"].iloc[0] == pytest.approx(population)


def test_empty_codes_read_from_a_geopackage_are_reported_not_a_crash(tmp_path):
    """pandas 3 reads text fields as a string dtype whose empty cells are NaN, not None."""
    import pyogrio

    grids, comms, hh = case(codes=("431102001001001", None))
    grids.loc[0, "community_code"] = None
    path = tmp_path / "g.gpkg"
    pyogrio.write_dataframe(grids, path, layer="grids")
    read = pyogrio.read_dataframe(path, layer="grids")
    report = run(read, comms, hh)
    found = dict(zip(report.issues["rule"], report.issues["message"], strict=False))
    assert found["code.format"] == "grid row 1 has no grid_code"
    assert found["code.community_mismatch"] == "grid 431102001001001 has no community_code"
    assert "nan" not in " ".join(report.issues["message"])
