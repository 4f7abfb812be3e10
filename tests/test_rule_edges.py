"""Every size threshold of every profile, exactly at the edge and one past it.

Generated from the profiles (``gridgeo/profiles/*.toml``): a new profile is covered without new
code. Each case is what a county would check by hand — a grid of exactly 300 households is in
the 300–500 band, 299 is not — so a comparison turned from ``<`` into ``<=`` fails here.
"""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import Point, box
from test_validate import CRS, VILLAGE, X, Y, case, lattice, rules_of, run

from gridgeo.partition import partition
from gridgeo.rules import available_profiles, load_profile
from gridgeo.validate import validate

PROFILES = available_profiles()
RURAL_HOUSEHOLD_PROFILES = [p for p in PROFILES if load_profile(p).rural.mode == "households"]


def _size_rules(report) -> set[str]:
    return {r for r in rules_of(report) if r.startswith("size.")}


# -- the validator --------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize(
    ("edge", "past", "expected"),
    [
        ("floor", 0, set()),
        ("floor", 1, {"size.below_floor"}),
        ("ceiling", 0, set()),
        ("ceiling", 1, {"size.above_ceiling"}),
    ],
)
def test_validator_urban_band_edges(profile, edge, past, expected):
    lo, hi = load_profile(profile).household_band("urban")
    # the other grid sits at the opposite edge, so the community stays feasible
    counts = (lo - past, hi) if edge == "floor" else (hi + past, lo)
    grids, comms, hh = case(counts=counts)
    assert _size_rules(run(grids, comms, hh, profile=profile)) == expected


@pytest.mark.parametrize("profile", RURAL_HOUSEHOLD_PROFILES)
@pytest.mark.parametrize(
    ("edge", "past", "expected"),
    [
        ("floor", 0, set()),
        ("floor", 1, {"size.below_floor"}),
        ("ceiling", 0, set()),
        ("ceiling", 1, {"size.above_ceiling"}),
    ],
)
def test_validator_rural_band_edges(profile, edge, past, expected):
    lo, hi = load_profile(profile).household_band("rural")
    counts = (lo - past, hi) if edge == "floor" else (hi + past, lo)
    grids, comms, hh = case(
        counts=counts,
        codes=(VILLAGE + "001", VILLAGE + "002"),
        types=["rural", "rural"],
        community_code=VILLAGE,
    )
    assert _size_rules(run(grids, comms, hh, profile=profile)) == expected


def _one_grid_village(households: int):
    grids, comms, _ = case(
        geoms=[box(X, Y, X + 1000, Y + 600)],
        codes=(VILLAGE + "001",),
        types=["rural"],
        community_code=VILLAGE,
    )
    hh = gpd.GeoDataFrame(geometry=lattice(X, Y, X + 1000, Y + 600, households), crs=CRS)
    return grids, comms, hh


def _wide_exemption(profile: str):
    """The profile with the whole-village limit 50 households above the rural ceiling, so
    that the exemption, not the band, decides at the limit."""
    prof = load_profile(profile)
    limit = prof.household_band("rural")[1] + 50
    rural = prof.rural.model_copy(update={"whole_village_max_households": limit})
    return prof.model_copy(update={"rural": rural}), limit


@pytest.mark.parametrize("profile", RURAL_HOUSEHOLD_PROFILES)
@pytest.mark.parametrize("past", [0, 1])
def test_whole_village_exemption_edge(profile, past):
    prof, limit = _wide_exemption(profile)
    grids, comms, hh = _one_grid_village(limit + past)
    found = _size_rules(run(grids, comms, hh, profile=prof))
    if past == 0:
        assert found == set()  # exactly at the limit: one grid for the whole village
    else:  # one past it: the grid is judged by the band (too big, or the band is unattainable)
        assert found and found <= {"size.above_ceiling", "size.band_unattainable"}


@pytest.mark.parametrize("profile", RURAL_HOUSEHOLD_PROFILES)
def test_whole_village_exemption_at_the_profiles_own_limit(profile):
    limit = load_profile(profile).rural.whole_village_max_households
    grids, comms, hh = _one_grid_village(limit)
    assert _size_rules(run(grids, comms, hh, profile=profile)) == set()


# -- the partitioner ------------------------------------------------------------------------


def _one_compound(households: int, code: str = "430102001001"):
    """A square community holding one indivisible compound of ``households``: one grid."""
    comm = gpd.GeoDataFrame(
        {"code": [code], "name": ["东风社区"]},
        geometry=[box(500_000, 3_000_000, 500_400, 3_000_400)],
        crs=CRS,
    )
    hh = gpd.GeoDataFrame(
        {"households": [households], "compound_id": ["c1"]},
        geometry=[Point(500_200, 3_000_200)],
        crs=CRS,
    )
    return comm, hh


def _violation_rules(result) -> set[str]:
    return set(result.violations["rule"]) if len(result.violations) else set()


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize(
    ("edge", "past", "expected"),
    [
        ("floor", 0, set()),
        ("floor", -1, {"size.band_unattainable"}),
        ("ceiling", 0, set()),
        ("ceiling", 1, {"size.band_unattainable"}),
    ],
)
def test_partitioner_urban_band_edges(profile, edge, past, expected):
    lo, hi = load_profile(profile).household_band("urban")
    comm, hh = _one_compound((lo if edge == "floor" else hi) + past)
    result = partition(comm, None, hh, profile=profile)
    assert len(result.grids) == 1
    assert int(result.grids["households"].iloc[0]) == (lo if edge == "floor" else hi) + past
    found = {r for r in _violation_rules(result) if r.startswith("size.")}
    # exactly at the edge: in band, nothing to report; one past it, the one compound cannot
    # meet the band: the grid (and the community) get the warning, as from the validator
    assert found == expected
    grid = result.grids["grid_code"].iloc[0]
    on_grid = result.violations[result.violations["grid_code"] == grid]
    assert set(on_grid["rule"]) == expected
    report = validate(result.grids, comm, hh, profile=profile)
    assert _size_rules(report) == expected
