"""The bad-input corpus (tests/data/bad/, built by tests/data/make_bad.py).

Each bad file must give the right message — through ``read_layer`` + ``check_layer``
and through ``gridgeo inspect`` — and none may raise anything but a GridgeoError.
"""

from __future__ import annotations

import importlib.util
import random
import shutil
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from typer.testing import CliRunner

from gridgeo.cli.main import app
from gridgeo.errors import GridgeoError
from gridgeo.io import check_layer, read_layer

_SCRIPT = Path(__file__).parent / "data" / "make_bad.py"


def _load_make_bad():
    spec = importlib.util.spec_from_file_location("make_bad", _SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def corpus() -> Path:
    """Build (or reuse, if current) the corpus on a clean checkout."""
    return _load_make_bad().build()


def _problems(path: Path, layer=None, *, crs=None, schema="communities", repair=False):
    """Everything a user would learn about a file: read errors or check problems."""
    try:
        gdf = read_layer(path, layer, crs=crs)
    except GridgeoError as exc:
        return getattr(exc, "problems", []), str(exc)
    probs = check_layer(gdf, schema, repair=repair)
    return probs, "\n".join(str(p) for p in probs)


# (case id, file, read kwargs, schema, expected rule, expected row, text in the message)
CASES = [
    (
        "missing-prj",
        "missing_prj/communities.shp",
        {},
        "communities",
        "crs.missing",
        None,
        "has no CRS (missing .prj",
    ),
    (
        "gbk-dbf-wrong-cpg",
        "gbk_wrong_cpg/communities.shp",
        {},
        "any",
        "encoding.guess",
        None,
        "says 'UTF-8' but the text is not valid UTF-8",
    ),
    ("bow-tie", "bowtie.gpkg", {}, "communities", "geometry.invalid", 2, "Self-intersection"),
    (
        "empty-geometry",
        "empty_geometry.gpkg",
        {},
        "communities",
        "geometry.empty",
        2,
        "geometry is empty",
    ),
    (
        "missing-geometry",
        "empty_geometry.gpkg",
        {},
        "communities",
        "geometry.missing",
        3,
        "geometry is missing",
    ),
    (
        "nan-polygon-vertex",
        "nan_coordinates.gpkg",
        {},
        "communities",
        "geometry.nan_coordinates",
        3,
        "NaN",
    ),
    (
        "nan-csv-blank",
        "nan_coordinates.csv",
        {"crs": "wgs84"},
        "households",
        "geometry.nan_coordinates",
        1,
        "lon/lat is empty or NaN",
    ),
    (
        "nan-csv-literal",
        "nan_coordinates.csv",
        {"crs": "wgs84"},
        "households",
        "geometry.nan_coordinates",
        2,
        "lon/lat is empty or NaN",
    ),
    (
        "csv-not-a-number",
        "nan_coordinates.csv",
        {"crs": "wgs84"},
        "households",
        "table.bad_coordinate",
        3,
        "lon value 'abc' is not a number",
    ),
    (
        "swapped-lonlat",
        "swapped_lonlat.gpkg",
        {},
        "households",
        "crs.swapped_lonlat",
        None,
        "lon/lat reversed",
    ),
    (
        "outside-china",
        "outside_china.gpkg",
        {},
        "households",
        "crs.outside_china",
        3,
        "outside China",
    ),
    (
        "mixed-geometry",
        "mixed_geometry.geojson",
        {},
        "communities",
        "geometry.mixed",
        None,
        "mixes geometry types (Polygon ×2, LineString ×1, Point ×1)",
    ),
    (
        "mixed-geometry-row",
        "mixed_geometry.geojson",
        {},
        "communities",
        "geometry.type",
        2,
        "geometry is a LineString; the communities layer needs Polygon or MultiPolygon",
    ),
    (
        "duplicate-codes",
        "duplicate_codes.gpkg",
        {},
        "communities",
        "code.duplicate",
        3,
        "code 310101002001 is used by 3 features (rows 1, 3, 4)",
    ),
    (
        "11-digit-code",
        "code_11_digits.gpkg",
        {},
        "communities",
        "code.format",
        2,
        "'31010100200' (11 digits) does not match",
    ),
    (
        "street-level-code",
        "code_level_no_name.gpkg",
        {},
        "communities",
        "code.level",
        1,
        "township/street-level code",
    ),
    (
        "missing-name-field",
        "code_level_no_name.gpkg",
        {},
        "communities",
        "field.missing",
        None,
        "required field 'name' is missing",
    ),
    (
        "csv-no-coordinates",
        "no_coordinates.csv",
        {"crs": "wgs84"},
        "households",
        "table.no_coordinates",
        None,
        "no longitude column found among 名称, 地址",
    ),
    (
        "csv-without-crs",
        "chinese_columns_gbk.csv",
        {},
        "households",
        "crs.missing",
        None,
        "'gcj02' (Gaode/Tencent/phone apps)",
    ),
    (
        "gbk-geojson",
        "gbk.geojson",
        {},
        "households",
        "encoding.guess",
        None,
        "the GeoJSON is not UTF-8 (RFC 7946 requires it); read as GB18030",
    ),
    (
        "not-geodata",
        "not_geodata.gpkg",
        {},
        "communities",
        "file.unreadable",
        None,
        "not a readable geodata file",
    ),
    (
        "two-layers",
        "two_layers.gpkg",
        {},
        "communities",
        "layer.ambiguous",
        None,
        "the file has 2 layers (communities, households)",
    ),
]


@pytest.mark.parametrize(
    ("case", "name", "kwargs", "schema", "rule", "row", "text"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_file_gives_the_right_message(corpus, case, name, kwargs, schema, rule, row, text):
    problems, message = _problems(corpus / name, schema=schema, **kwargs)
    hits = [p for p in problems if p.rule == rule and p.row == row]
    assert hits, f"{case}: no {rule} at row {row} in:\n{message}"
    assert any(text in p.message for p in hits), f"{case}: {text!r} not in:\n{message}"
    assert all(p.file and Path(p.file).name == Path(name).name for p in hits)


@pytest.mark.parametrize(
    "name", ["gbk_dbf/communities.shp", "gbk_wrong_cpg/communities.shp", "gbk_shapefile.zip"]
)
def test_gbk_dbf_with_chinese_field_names_reads_cleanly(corpus, name):
    gdf = read_layer(corpus / name)
    assert list(gdf.columns[:4]) == ["code", "名称", "kind", "备注"]
    assert gdf["名称"].tolist() == [
        "云南中路居委会",
        "龙泉园路居委会",
        "贵州路居委会",
        "宁波路居委会",
    ]
    assert gdf["备注"].tolist() == ["老城区", "商业区", "居住区", "外滩附近"]
    assert gdf.attrs["encoding"] == "GB18030"


def test_gbk_geojson_reads_cleanly(corpus):
    gdf = read_layer(corpus / "gbk.geojson")
    assert gdf["名称"].tolist() == [
        "云南中路居委会",
        "龙泉园路居委会",
        "贵州路居委会",
        "宁波路居委会",
    ]
    assert gdf["户数"].tolist() == [10, 11, 12, 13]


@pytest.mark.parametrize("name", ["chinese_columns_gbk.csv", "chinese_columns_utf8.csv"])
def test_csv_with_chinese_column_names(corpus, name):
    gdf = read_layer(corpus / name, crs="gcj02")
    assert list(gdf.columns[:5]) == ["名称", "经度", "纬度", "户数", "社区代码"]
    assert gdf["名称"].iloc[0] == "云南中路居委会"
    assert gdf["户数"].tolist() == [12, 8, 15]
    assert gdf["社区代码"].tolist() == ["310101002001", "310101002002", "310101002003"]
    assert gdf.crs.to_epsg() == 4326
    # converted from GCJ-02: a few hundred metres from the raw numbers
    assert abs(gdf.geometry.x.iloc[0] - 121.4750) > 0.003
    assert check_layer(gdf, "any") == []


def test_excel_with_chinese_columns(corpus):
    gdf = read_layer(corpus / "households.xlsx", crs="wgs84")
    assert gdf.attrs["source"].endswith("households.xlsx:户")
    assert gdf["户数"].tolist() == [12, 8, 15]
    assert gdf.geometry.x.iloc[0] == pytest.approx(121.475)


def test_missing_prj_with_crs_given_is_fine(corpus):
    gdf = read_layer(corpus / "missing_prj" / "communities.shp", crs="cgcs2000")
    assert check_layer(gdf, "communities") == []


def test_bow_tie_repaired_on_request(corpus):
    problems, _ = _problems(corpus / "bowtie.gpkg", repair=True)
    assert [(p.rule, p.severity) for p in problems] == [("geometry.repaired", "warning")]


def test_good_file_is_clean(corpus):
    problems, _ = _problems(corpus / "good.gpkg")
    assert problems == []


def _corpus_files(corpus: Path) -> list[Path]:
    return sorted(
        p
        for p in corpus.rglob("*")
        if p.suffix in {".gpkg", ".shp", ".csv", ".geojson", ".xlsx", ".zip"}
    )


def test_no_corpus_file_raises_an_unhandled_exception(corpus):
    files = _corpus_files(corpus)
    assert len(files) >= 17
    for path in files:
        for crs in (None, "gcj02"):
            try:
                gdf = read_layer(path, crs=crs)
            except GridgeoError:
                continue
            for schema in ("communities", "roads", "households", "any"):
                check_layer(gdf.copy(), schema, repair=schema == "communities")


# --- gridgeo inspect over the corpus ---------------------------------------------------

runner = CliRunner()

INSPECT = [
    ("good.gpkg", [], 0, "no problems found"),
    ("bowtie.gpkg", [], 2, "Self-intersection"),
    ("duplicate_codes.gpkg", [], 2, "code.duplicate"),
    ("missing_prj/communities.shp", [], 2, "has no CRS"),
    ("missing_prj/communities.shp", ["--crs", "cgcs2000"], 0, "EPSG:4490"),
    ("chinese_columns_gbk.csv", ["--crs", "gcj02"], 0, "社区代码"),
    ("swapped_lonlat.gpkg", [], 2, "crs.swapped_lonlat"),
    ("two_layers.gpkg", [], 2, "households"),
    ("two_layers.gpkg", ["--layer", "communities"], 0, "communities"),
    ("two_layers.gpkg:communities", [], 0, "communities"),
    ("not_geodata.gpkg", [], 2, "not a readable geodata file"),
    ("nan_coordinates.csv", ["--crs", "wgs84", "--schema", "households"], 2, "abc"),
    ("outside_china.gpkg", [], 0, "warning"),
    ("good.gpkg", ["--profile", "yongzhou"], 0, "usable"),
    ("good.gpkg", ["--profile", "atlantis"], 2, "unknown profile"),
    ("good.gpkg", ["--code-pattern", r"\d{11}"], 2, "does not match the code pattern"),
]


@pytest.mark.parametrize(("name", "args", "code", "text"), INSPECT)
def test_inspect_cli(corpus, name, args, code, text):
    result = runner.invoke(app, ["inspect", str(corpus / name), *args], env={"COLUMNS": "200"})
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == code, output
    assert text in output
    assert "Traceback" not in output


def test_inspect_shows_layers_crs_counts_fields_bounds(corpus):
    result = runner.invoke(app, ["inspect", str(corpus / "good.gpkg")], env={"COLUMNS": "200"})
    out = result.output
    for text in (
        "communities",
        "Polygon",
        "EPSG:4490",
        "features",
        "4",
        "code (str)",
        "bounds",
        "121.46",
        "metric CRS",
        "EPSG:4528",
        "usable",
    ):
        assert text in out, text


def test_inspect_missing_file_exit_code(tmp_path):
    result = runner.invoke(app, ["inspect", str(tmp_path / "nope.gpkg")])
    assert result.exit_code == 2
    assert "file not found" in result.output + result.stderr


def test_inspect_unknown_schema(corpus):
    result = runner.invoke(app, ["inspect", str(corpus / "good.gpkg"), "--schema", "parks"])
    assert result.exit_code == 2


def test_inspect_tolerates_attribute_tables(tmp_path, corpus):
    path = tmp_path / "qgis.gpkg"
    shutil.copy(corpus / "good.gpkg", path)
    pyogrio.write_dataframe(pd.DataFrame({"styleName": ["s"]}), path, layer="layer_styles")
    result = runner.invoke(app, ["inspect", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "attribute table without geometry" in result.output


@pytest.mark.filterwarnings("ignore")
def test_damaged_files_never_raise_unhandled_exceptions(corpus, tmp_path):
    """Truncated, bit-flipped and empty copies of every corpus file (seeded)."""
    rng = random.Random(20261126)
    for n, original in enumerate(_corpus_files(corpus)):
        data = original.read_bytes()
        for k in range(6):
            work = tmp_path / f"{n}_{k}"
            shutil.copytree(original.parent, work, ignore=shutil.ignore_patterns(".stamp"))
            target = work / original.name
            if k % 3 == 0:
                target.write_bytes(data[: rng.randint(0, max(1, len(data) - 1))])
            elif k % 3 == 1:
                flipped = bytearray(data)
                for _ in range(rng.choice([1, 5, 50])):
                    flipped[rng.randrange(len(flipped))] = rng.randrange(256)
                target.write_bytes(bytes(flipped))
            else:
                target.write_bytes(b"")
            try:
                gdf = read_layer(target, crs="wgs84" if target.suffix == ".csv" else None)
            except GridgeoError:
                pass
            else:
                check_layer(gdf, "communities", repair=True)
            shutil.rmtree(work)


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg"])
def test_inspect_empty_layer_is_a_problem(tmp_path, suffix):
    import geopandas as gpd

    path = tmp_path / f"empty{suffix}"
    empty = gpd.GeoDataFrame({"code": [], "name": []}, geometry=[], crs=4490)
    if suffix == ".geojson":
        path.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    else:
        empty.to_file(path, layer="communities")
    result = runner.invoke(app, ["inspect", str(path)], env={"COLUMNS": "200"})
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == 2, output
    assert "empty layer: 0 features" in output and "layer.empty" in output
    assert "no problems found" not in output and "Traceback" not in output
