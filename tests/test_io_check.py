"""gridgeo.io.check_layer / raise_for_problems: the SPEC §3 contracts, all problems at once."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gridgeo.errors import CRSError, InputError, Problem
from gridgeo.io import SCHEMAS, FieldSpec, LayerSchema, check_layer, raise_for_problems


def _box(i: int) -> shapely.Polygon:
    return shapely.box(121.46 + i * 0.004, 31.22, 121.464 + i * 0.004, 31.224)


def communities(n: int = 3, **cols) -> gpd.GeoDataFrame:
    data = {
        "code": [f"310101002{k + 1:03d}" for k in range(n)],
        "name": [f"社区{k}" for k in range(n)],
    }
    data.update(cols)
    gdf = gpd.GeoDataFrame(data, geometry=[_box(k) for k in range(n)], crs=4490)
    gdf.index = range(1, n + 1)  # like GeoPackage fids
    gdf.attrs["source"] = "town.gpkg:communities"
    return gdf


def rules(problems: list[Problem]) -> list[tuple]:
    return [(p.rule, p.row, p.field, p.severity) for p in problems]


def test_clean_layer_has_no_problems():
    assert check_layer(communities(), "communities") == []


def test_problems_name_file_layer_row_field():
    gdf = communities()
    gdf.loc[2, "code"] = "3101010020"
    (p,) = check_layer(gdf, "communities")
    assert (p.file, p.layer, p.row, p.field, p.rule) == (
        "town.gpkg",
        "communities",
        2,
        "code",
        "code.format",
    )
    assert "'3101010020' (10 digits)" in p.message
    assert str(p).startswith("town.gpkg, layer communities, row 2, field code:")


def test_every_problem_is_reported_at_once():
    gdf = communities(5)
    gdf.loc[1, "code"] = "31010100200"  # 11 digits
    gdf.loc[2, "code"] = gdf.loc[3, "code"]  # duplicate
    gdf.loc[4, "name"] = None  # empty required field
    gdf.loc[4, "geometry"] = shapely.Polygon()  # empty geometry
    x0, y0, x1, y1 = _box(5).bounds
    gdf.loc[5, "geometry"] = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    got = rules(check_layer(gdf, "communities"))
    assert ("code.format", 1, "code", "error") in got
    assert ("code.duplicate", 3, "code", "error") in got
    assert ("field.null", 4, "name", "error") in got
    assert ("geometry.empty", 4, "geometry", "error") in got
    assert ("geometry.invalid", 5, "geometry", "error") in got
    assert len(got) == 5


def test_missing_required_fields_with_hint():
    gdf = communities().rename(columns={"code": "CODE"}).drop(columns="name")
    probs = check_layer(gdf, "communities")
    assert rules(probs) == [
        ("field.missing", None, "code", "error"),
        ("field.missing", None, "name", "error"),
    ]
    assert "did you mean 'CODE'" in probs[0].message


@pytest.mark.parametrize(
    ("code", "rule", "text"),
    [
        ("31010100200", "code.format", "11 digits"),
        ("3101010020011", "code.format", "13 digits"),
        ("31010100200A", "code.format", "does not match"),
        ("310101002000", "code.level", "township/street-level"),
        ("310101000000", "code.level", "county-level"),
        ("310101002499", "code.level", "outside 001–199"),
    ],
)
def test_code_format_and_level(code, rule, text):
    gdf = communities(1)
    gdf.loc[1, "code"] = code
    (p,) = check_layer(gdf, "communities")
    assert p.rule == rule and text in p.message


def test_custom_code_pattern_for_taiwan_village_codes():
    gdf = communities(2)
    gdf["code"] = ["63000030001", "63000030002"]
    assert check_layer(gdf, "communities", code_pattern=r"\d{11}") == []
    assert {p.rule for p in check_layer(gdf, "communities")} == {"code.format"}


def test_numeric_codes_are_a_warning_and_still_checked():
    gdf = communities(2)
    gdf["code"] = np.array([310101002001, 310101002001], dtype=np.int64)
    got = rules(check_layer(gdf, "communities"))
    assert ("field.type", None, "code", "warning") in got
    assert ("code.duplicate", 2, "code", "error") in got


def test_duplicate_message_lists_all_rows():
    gdf = communities(4)
    gdf["code"] = ["310101002001"] * 3 + ["310101002004"]
    probs = check_layer(gdf, "communities")
    assert [p.row for p in probs] == [2, 3]
    assert "used by 3 features (rows 1, 2, 3)" in probs[0].message


def test_kind_choice_and_mismatch_with_code():
    gdf = communities(3, kind=["urban", "郊区", "村委会"])
    got = rules(check_layer(gdf, "communities"))
    assert ("field.choice", 2, "kind", "error") in got  # not a spelling of urban/rural
    assert ("code.kind_mismatch", 3, "kind", "warning") in got  # 001–199 is urban
    assert [r for r in got if r[1] == 1] == []


@pytest.mark.parametrize("word", ["城市社区", "居民委员会", " Urban ", "社区居委会"])
def test_kind_accepts_every_spelling_the_partitioner_accepts(word):
    """io and the partitioner share one word list (gridgeo.rules.KIND_WORDS)."""
    assert check_layer(communities(1, kind=[word]), "communities") == []


def test_kind_vs_code_uses_the_profiles_code_ranges():
    """The 001–199 urban range is profile data: a scheme with other ranges decides."""
    from gridgeo.rules import CodeScheme

    gdf = communities(1, kind=["rural"])  # code ends in 001
    assert rules(check_layer(gdf, "communities")) == [("code.kind_mismatch", 1, "kind", "warning")]
    scheme = CodeScheme(urban_range=(500, 599), rural_range=(1, 399))
    assert check_layer(gdf, "communities", code_scheme=scheme) == []


def test_households_schema():
    pts = gpd.GeoDataFrame(
        {"households": [1, -2, "三", 2.5], "population": [3, 4, None, 5]},
        geometry=[shapely.Point(121.47 + k * 0.001, 31.23) for k in range(4)],
        crs=4326,
    )
    got = rules(check_layer(pts, "households"))
    assert ("field.range", 1, "households", "error") in got
    assert ("field.type", 2, "households", "error") in got
    assert ("field.type", 3, "households", "warning") in got
    assert len(got) == 3  # optional population may be empty


def test_villager_groups_need_village_level_codes():
    vg = gpd.GeoDataFrame(
        {"name": ["一组", "二组"], "village_code": ["320481105201", "320481105001"]},
        geometry=[_box(0), _box(1)],
        crs=4490,
    )
    got = rules(check_layer(vg, "villager_groups"))
    assert got == [("code.level", 1, "village_code", "error")]


def test_dedicated_schema_required_fields():
    ded = gpd.GeoDataFrame({"name": ["第一中学"]}, geometry=[_box(0)], crs=4490)
    assert rules(check_layer(ded, "dedicated")) == [("field.missing", None, "category", "error")]


def test_roads_geometry_types():
    roads = gpd.GeoDataFrame(
        {"name": ["南京东路", "错的"]},
        geometry=[shapely.LineString([(121.47, 31.23), (121.48, 31.23)]), _box(0)],
        crs=4326,
    )
    got = rules(check_layer(roads, "roads"))
    assert ("geometry.mixed", None, "geometry", "error") in got
    assert ("geometry.type", 1, "geometry", "error") in got


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_missing_empty_and_nan_geometries():
    gdf = communities(4)
    gdf.loc[1, "geometry"] = None
    gdf.loc[2, "geometry"] = shapely.Polygon()
    x0, y0, x1, y1 = _box(2).bounds
    gdf.loc[3, "geometry"] = shapely.Polygon([(x0, y0), (x1, np.nan), (x1, y1), (x0, y0)])
    got = rules(check_layer(gdf, "communities"))
    assert got == [
        ("geometry.missing", 1, "geometry", "error"),
        ("geometry.empty", 2, "geometry", "error"),
        ("geometry.nan_coordinates", 3, "geometry", "error"),
    ]


def test_repair_fixes_bow_tie_in_place_with_a_warning():
    gdf = communities(2)
    x0, y0, x1, y1 = _box(1).bounds
    bow = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])
    gdf.loc[2, "geometry"] = bow
    (p,) = check_layer(gdf, "communities")
    assert p.rule == "geometry.invalid" and "Self-intersection" in p.message
    assert gdf.loc[2, "geometry"].equals(bow)  # not repaired unless asked
    (p,) = check_layer(gdf, "communities", repair=True)
    assert (p.rule, p.severity, p.row) == ("geometry.repaired", "warning", 2)
    fixed = gdf.loc[2, "geometry"]
    assert fixed.is_valid and fixed.geom_type == "MultiPolygon"
    assert fixed.area == pytest.approx(_box(1).area / 2)  # the two triangles of the bow tie
    assert check_layer(gdf, "communities") == []


def test_crs_problems_are_included():
    gdf = communities().set_crs(None, allow_override=True)
    assert rules(check_layer(gdf, "communities"))[0][0] == "crs.missing"
    swapped = communities()
    swapped["geometry"] = swapped.geometry.map(lambda g: shapely.transform(g, lambda c: c[:, ::-1]))
    assert "crs.swapped_lonlat" in {p.rule for p in check_layer(swapped, "communities")}


def test_read_problems_are_passed_on():
    gdf = communities(1)
    gdf.attrs["read_problems"] = [
        Problem("lon 'abc' is not a number", row=0, field="lon", rule="table.bad_coordinate")
    ]
    probs = check_layer(gdf, "communities")
    assert probs[0].rule == "table.bad_coordinate"
    assert probs[0].file == "town.gpkg"


def test_custom_schema_and_any():
    sch = LayerSchema("schools", ("Polygon",), (FieldSpec("学校名称", "text", required=True),))
    gdf = gpd.GeoDataFrame({"学校名称": ["一中", None]}, geometry=[_box(0), _box(1)], crs=4490)
    assert rules(check_layer(gdf, sch)) == [("field.null", 1, "学校名称", "error")]
    assert check_layer(gdf, "any") == []
    assert set(SCHEMAS) >= {"communities", "roads", "households", "dedicated", "villager_groups"}
    with pytest.raises(ValueError, match="unknown layer schema"):
        check_layer(gdf, "schools")


def test_raise_for_problems():
    raise_for_problems([], "communities")
    raise_for_problems([Problem("x", severity="warning")], "communities")
    probs = [
        Problem("w", severity="warning", rule="field.type"),
        Problem("bad code", row=3, field="code", rule="code.format"),
    ]
    with pytest.raises(InputError) as err:
        raise_for_problems(probs, "communities layer")
    assert err.value.summary == "communities layer: 1 error(s), 1 warning(s)"
    assert [p.rule for p in err.value.problems] == ["code.format", "field.type"]
    assert "row 3, field code: bad code" in str(err.value)
    with pytest.raises(CRSError):
        raise_for_problems([Problem("no crs", rule="crs.missing")], "x")


def test_real_nbs_codes_of_huangpu_and_jingan(shared_data):
    """The 437 real 12-digit residents' committee codes (NBS 2023) pass; damaged ones are named."""
    import pandas as pd

    from gridgeo.rules import load_profile

    table = pd.read_csv(
        shared_data / "huangpu" / "shanghai_huangpu_jingan_village_codes.csv", dtype=str
    )
    assert len(table) == 437
    gdf = communities(len(table), code=table["village_code"].tolist(), name=table["village_name"])
    assert check_layer(gdf, "communities") == []
    scheme = load_profile("yongzhou").codes
    kinds = {c: scheme.kind_from_code(c) for c in table["village_code"]}
    # 436 residents' committees (001-199) and one villagers' committee, 彭浦村 (201)
    assert [c for c, k in kinds.items() if k == "rural"] == ["310106101201"]
    assert sum(k == "urban" for k in kinds.values()) == 436
    gdf.loc[5, "code"] = gdf.loc[5, "code"][:-1]  # 11 digits
    gdf.loc[9, "code"] = gdf.loc[9, "code"] + "0"  # 13 digits
    gdf.loc[12, "code"] = gdf.loc[11, "code"]  # duplicate
    got = {(p.rule, p.row) for p in check_layer(gdf, "communities")}
    assert ("code.format", 5) in got and ("code.format", 9) in got
    assert any(rule == "code.duplicate" for rule, _ in got)


@pytest.mark.parametrize("schema", ["communities", "roads", "households", "any"])
def test_empty_layer_is_an_error(schema, monkeypatch):
    got = check_layer(communities(0), schema)
    assert ("layer.empty", None, None, "error") in rules(got)
    assert any("empty layer: 0 features" in p.message for p in got)
    monkeypatch.setenv("GRIDGEO_LANG", "zh_CN")
    assert any("空图层：没有要素" in p.message for p in check_layer(communities(0), schema))
