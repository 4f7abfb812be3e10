"""gridgeo.rules: the one home of community kind, size bands and the default profile."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from gridgeo.crs import work_crs
from gridgeo.rules import KIND_WORDS, Profile, kind_from_word, load_profile
from gridgeo.settings import get_settings

URBAN = ["urban", "URBAN", " Urban ", "city", "城市", "城市社区", "社区", "居委会", "居民委员会",
         "社区居委会", "城市社区网格", "城 市"]  # fmt: skip
RURAL = ["rural", "Rural", "village", "农村", "村", "村委会", "村民委员会", "行政村", "农村网格",
         "村\u3000委会"]  # fmt: skip
DEDICATED = ["dedicated", "专属", "专属网格", "unit", "compound", "单位型", "小区型"]


@pytest.mark.parametrize(
    ("word", "kind"),
    [(w, "urban") for w in URBAN]
    + [(w, "rural") for w in RURAL]
    + [(w, "dedicated") for w in DEDICATED],
)
def test_every_spelling_counties_use(word, kind):
    assert kind_from_word(word) == kind


@pytest.mark.parametrize("word", [None, float("nan"), "", "  ", "郊区", "town", 3])
def test_unknown_or_blank_words_say_nothing(word):
    assert kind_from_word(word) is None


def test_word_table_holds_only_the_three_kinds():
    assert set(KIND_WORDS.values()) == {"urban", "rural", "dedicated"}


@pytest.mark.parametrize(
    ("value", "code", "default", "kind"),
    [
        ("村委会", "431102001001", None, "rural"),  # the field wins over the code
        (None, "431102001001", None, "urban"),  # 001–199: residents' committee
        (None, "431102001205", None, "rural"),  # 200–399: villagers' committee
        (None, "431102001450", None, None),  # outside both ranges
        (None, "4311020012", None, None),  # does not match the code pattern
        ("", "431102001205", "urban", "urban"),  # --kind beats the code
        ("专属", "431102001205", None, "rural"),  # dedicated is no community kind
    ],
)
def test_community_kind(value, code, default, kind):
    assert load_profile("yongzhou").community_kind(value, code, default=default) == kind


def test_code_ranges_are_profile_data():
    prof = Profile.model_validate(
        {"name": "x", "codes": {"urban_range": [1, 99], "rural_range": [100, 399]}}
    )
    assert prof.community_kind(None, "431102001150") == "rural"
    assert load_profile("yongzhou").community_kind(None, "431102001150") == "urban"


@pytest.mark.parametrize(
    ("profile", "kind", "band"),
    [
        ("yongzhou", "urban", (300, 500)),
        ("yongzhou", "rural", (150, 250)),  # 200 ± 25 %
        ("gansu", "urban", (300, 500)),
        ("gansu", "rural", (300, 500)),  # a village split at urban size
        ("yongzhou", "dedicated", None),
    ],
)
def test_household_band_edges(profile, kind, band):
    assert load_profile(profile).household_band(kind) == band


@pytest.mark.parametrize(
    ("profile", "kind", "band"),
    [
        ("gansu", "urban", (750.0, 1250.0)),  # ~1000 residents ± urban.population_tolerance
        ("yongzhou", "urban", None),
        ("yongzhou", "rural", (375.0, 625.0)),  # ~500 residents ± rural.tolerance
        ("gansu", "dedicated", None),
    ],
)
def test_population_band_edges(profile, kind, band):
    assert load_profile(profile).population_band(kind) == band


def test_population_tolerance_is_a_profile_value():
    prof = Profile.model_validate(
        {"name": "x", "urban": {"population_alternative": 1000, "population_tolerance": 0.1}}
    )
    assert prof.population_band("urban") == pytest.approx((900.0, 1100.0))


def test_default_profile_follows_gridgeo_profile(monkeypatch):
    monkeypatch.setenv("GRIDGEO_PROFILE", "gansu")
    get_settings.cache_clear()
    try:
        assert load_profile().name == "gansu"
        assert load_profile(None).name == "gansu"
    finally:
        get_settings.cache_clear()
    monkeypatch.delenv("GRIDGEO_PROFILE")
    assert load_profile().name == "yongzhou"
    get_settings.cache_clear()


def _square(crs, x: float, y: float, size: float) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[shapely.box(x, y, x + size, y + size)], crs=crs)


@pytest.mark.parametrize(
    ("crs", "x", "y", "size", "chosen"),
    [
        ("EPSG:4490", 111.6, 26.4, 0.01, "EPSG:4525"),  # lon/lat → CGCS2000 GK zone 37
        ("EPSG:4547", 500_000, 2_900_000, 1000, "EPSG:4547"),  # GK (CM 114°) kept as is
        ("EPSG:32649", 500_000, 2_900_000, 1000, "EPSG:32649"),  # UTM kept (true areas)
        ("EPSG:3857", 12_420_000, 3_050_000, 1000, "EPSG:4525"),  # Web Mercator never kept
        ("EPSG:4326", 13.4, 52.5, 0.01, "EPSG:32633"),  # outside China → UTM zone
    ],
)
def test_work_crs_choice(crs, x, y, size, chosen):
    """One rule for the partitioner and the validator (gridgeo.crs.work_crs)."""
    got = work_crs(_square(crs, x, y, size))
    assert got == gpd.GeoSeries(crs=chosen).crs


def test_work_crs_given_wins():
    assert work_crs(_square("EPSG:4490", 111.6, 26.4, 0.01), "EPSG:4547").to_epsg() == 4547


def test_another_code_pattern_drops_the_mainland_ranges():
    """Taiwan's 11-digit codes (``--code-pattern '\\d{11}'``) say nothing about the kind."""
    prof = load_profile("yongzhou").with_code_pattern(r"\d{11}")
    assert prof.community_kind(None, "10005090001") is None
    assert prof.community_kind("rural", "10005090001") == "rural"
    assert load_profile("yongzhou").with_code_pattern(r"\d{12}").codes.urban_range == (1, 199)
