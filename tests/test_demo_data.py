"""The demo districts built from the shipped raw data, and the seeded sample data."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import box
from typer.testing import CliRunner

from gridgeo.cli.data import app as data_app
from gridgeo.demo import build, sample
from gridgeo.errors import InputError
from gridgeo.io import check_layer, read_layer

RAW = build.default_raw_dir()

# What a user checks against the shared data README (Gongguan: the README's 10,691).
EXPECTED = {
    "daan": {
        "communities": 53,
        "units": 1270,
        "points": 1236,
        "households": 120_675,
        "population": 311_121,
        "kind": "urban",
    },
    "gongguan": {
        "communities": 19,
        "units": 308,
        "points": 290,
        "households": 10_691,
        "population": 34_033,
        "kind": "rural",
    },
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("build")
    return {
        "daan": build.build_daan(out / "daan.gpkg"),
        "gongguan": build.build_gongguan(out / "gongguan.gpkg"),
    }


def _layer(path: Path, name: str) -> gpd.GeoDataFrame:
    return gpd.read_file(path, layer=name)


@pytest.fixture(scope="module")
def daan_grids(built) -> gpd.GeoDataFrame:
    """Stand-in grids for the sample generators: each Da'an village cut into two halves."""
    comm = _layer(built["daan"], "communities")
    rows = []
    for c in comm.itertuples():
        xmin, ymin, xmax, ymax = c.geometry.bounds
        mid = (xmin + xmax) / 2
        for k, half in enumerate([box(xmin, ymin, mid, ymax), box(mid, ymin, xmax, ymax)], 1):
            part = c.geometry.intersection(half)
            rows.append(
                {"grid_code": f"{c.code}{k:03d}", "community_code": c.code, "geometry": part}
            )
    return gpd.GeoDataFrame(rows, crs=comm.crs)


# --- real data -------------------------------------------------------------------------


@pytest.mark.parametrize("district", ["daan", "gongguan"])
def test_totals_match_the_data_readme(built, district):
    want = EXPECTED[district]
    path = built[district]
    assert {str(n) for n, _ in pyogrio.list_layers(path)} == {
        "communities",
        "households",
        "units",
        "roads",
    }
    comm = _layer(path, "communities")
    hh = _layer(path, "households")
    units = _layer(path, "units")
    assert len(comm) == want["communities"]
    assert len(units) == want["units"]
    assert len(hh) == want["points"]
    assert hh["households"].sum() == want["households"]
    assert hh["population"].sum() == want["population"]
    assert units["households"].sum() == want["households"]
    assert comm["households"].sum() == want["households"]
    assert set(comm["kind"]) == {want["kind"]}
    assert (hh["households"] > 0).all()
    assert comm.crs.to_epsg() == 3826 and hh.crs.to_epsg() == 3826


def test_daan_official_register_differs_by_three_households(built):
    # The README's 120,675 comes from the small areas; the official village table says
    # 120,678 because each small area went whole to the village it overlaps most.
    comm = _layer(built["daan"], "communities")
    assert comm["households_official"].sum() == 120_678
    assert (comm["households"] == comm["households_official"]).sum() == 34


@pytest.mark.parametrize("district", ["daan", "gongguan"])
def test_every_household_point_in_exactly_one_community(built, district):
    comm = _layer(built[district], "communities")
    hh = _layer(built[district], "households")
    joined = gpd.sjoin(hh, comm[["code", "geometry"]], predicate="within", how="left")
    hits = joined.groupby(level=0).size()
    assert (hits == 1).all()
    assert len(hits) == len(hh)
    assert (joined["code"] == joined["community_code"]).all()


@pytest.mark.parametrize("district", ["daan", "gongguan"])
def test_household_point_inside_its_small_area(built, district):
    hh = _layer(built[district], "households").set_index("unit_id")
    units = _layer(built[district], "units").set_index("unit_id").loc[hh.index]
    assert hh.geometry.within(units.geometry).all()


@pytest.mark.parametrize("district", ["daan", "gongguan"])
def test_codes_are_eleven_digit_strings(built, district):
    comm = pyogrio.read_dataframe(built[district], layer="communities", read_geometry=False)
    hh = pyogrio.read_dataframe(built[district], layer="households", read_geometry=False)
    for codes in (comm["code"], hh["community_code"]):
        assert pd.api.types.is_string_dtype(codes)
        assert codes.str.fullmatch(r"\d{11}").all()
    assert comm["code"].is_unique


@pytest.mark.parametrize("district", ["daan", "gongguan"])
@pytest.mark.parametrize("layer", ["communities", "households", "roads"])
def test_layers_meet_the_partitioner_contract(built, district, layer):
    gdf = read_layer(built[district], layer)
    assert check_layer(gdf, layer, code_pattern=r"\d{11}") == []


def test_roads_are_marked_as_a_stand_in(built):
    roads = _layer(built["daan"], "roads")
    assert len(roads) == 3473
    assert set(roads["class"]) == {"boundary_standin"}
    assert set(roads.geom_type) == {"LineString"}


def test_build_is_idempotent_and_deterministic(tmp_path):
    out = tmp_path / "daan.gpkg"
    first = build.build_district("daan", out)
    mtime = out.stat().st_mtime_ns
    again = build.build_district("daan", out)
    assert not first.skipped and again.skipped
    assert out.stat().st_mtime_ns == mtime
    assert again.counts == first.counts and again.households == first.households
    before = {n: _layer(out, n) for n in build.LAYERS}
    forced = build.build_district("daan", out, force=True)
    assert not forced.skipped
    for name, frame in before.items():
        pd.testing.assert_frame_equal(pd.DataFrame(_layer(out, name)), pd.DataFrame(frame))
    assert [p.name for p in tmp_path.iterdir()] == ["daan.gpkg"]  # no temp files left


def _copy_raw(tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    return raw


def test_changed_raw_file_is_refused_with_its_name(tmp_path):
    raw = _copy_raw(tmp_path)
    target = raw / "daan" / "taipei_daan_segis_2017.gpkg"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    out = tmp_path / "out" / "daan.gpkg"
    with pytest.raises(InputError) as err:
        build.build_daan(out, raw_dir=raw)
    assert "taipei_daan_segis_2017.gpkg" in str(err.value)
    assert "content changed" in str(err.value)
    assert err.value.problems[0].rule == "raw.checksum_mismatch"
    assert not out.exists()
    # the other district is unaffected
    assert build.build_gongguan(tmp_path / "out" / "gongguan.gpkg", raw_dir=raw).is_file()


@pytest.mark.parametrize(
    ("remove", "rule"),
    [
        ("daan/taipei_daan_segis_2017.gpkg", "raw.file_missing"),
        ("SHA256SUMS", "raw.checksums_missing"),
    ],
)
def test_missing_raw_file_is_refused_with_its_name(tmp_path, remove, rule):
    raw = _copy_raw(tmp_path)
    (raw / remove).unlink()
    with pytest.raises(InputError) as err:
        build.build_daan(tmp_path / "daan.gpkg", raw_dir=raw)
    assert Path(remove).name in str(err.value)
    assert err.value.problems[0].rule == rule


def test_all_shipped_raw_files_verify():
    verified = build.verify_raw()
    assert set(verified) == {
        "daan/taipei_daan_segis_2017.gpkg",
        "gongguan/miaoli_gongguan_segis_2017.gpkg",
        "huangpu/shanghai_huangpu_core_roads_osm.gpkg",
        "huangpu/shanghai_huangpu_jingan_street_codes.csv",
        "huangpu/shanghai_huangpu_jingan_village_codes.csv",
    }
    assert build.raw_file("huangpu/shanghai_huangpu_core_roads_osm.gpkg").is_file()


def test_cli_build_and_unknown_district(tmp_path):
    runner = CliRunner()
    res = runner.invoke(data_app, ["build", "gongguan", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "19 communities" in text and "10,691 households" in text
    res = runner.invoke(data_app, ["build", "gongguan", "--out", str(tmp_path)])
    assert "up to date" in res.output
    res = runner.invoke(data_app, ["build", "taipei", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "unknown district 'taipei'" in res.output


# --- sample data -----------------------------------------------------------------------


def test_sample_staff_deterministic_and_marked(daan_grids):
    a = sample.sample_staff(daan_grids, seed=3)
    b = sample.sample_staff(daan_grids, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert a["is_sample"].all()
    assert a["name"].str.startswith("示例").all()
    assert a["phone"].str.fullmatch(r"100-0000-\d{4}").all()
    workers = a[a["position"] == "grid_worker"]
    heads = a[a["position"] == "grid_head"]
    assert set(workers["role"]) <= {"full_time", "part_time", "professional"}
    assert workers["name"].str.fullmatch(r"示例网格员\d{3,}").all()
    assert heads["name"].str.fullmatch(r"示例网格长\d{2,}").all()
    assert set(heads["role"]) == {"head"}
    # every grid has at least one worker and exactly one head; one head per community
    assert set(workers["grid_code"]) == set(daan_grids["grid_code"])
    assert (heads.groupby("grid_code").size() == 1).all()
    assert heads.groupby("community_code")["staff_id"].nunique().eq(1).all()
    # a person has one phone and no two people share one
    people = a.drop_duplicates("staff_id")
    assert people["phone"].is_unique
    assert not sample.sample_staff(daan_grids, seed=4).equals(a)


def test_sample_departments_cover_the_categories():
    d = sample.sample_departments()
    assert {"环境卫生", "市政设施", "违章建筑", "市场监管", "噪声扰民"} <= set(d["category"])
    assert d["is_sample"].all() and d["department"].str.startswith("示例").all()
    assert d["category_code"].is_unique


def test_sample_incidents_inside_communities_and_marked(built):
    comm = _layer(built["daan"], "communities")
    a = sample.sample_incidents(comm, 150, seed=7)
    b = sample.sample_incidents(comm, 150, seed=7)
    pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))
    assert len(a) == 150 and a["is_sample"].all()
    assert a["description"].str.startswith("【示例】").all()
    assert a["incident_id"].str.startswith("SAMPLE-").all()
    joined = gpd.sjoin(a, comm[["code", "geometry"]], predicate="within")
    assert len(joined) == 150
    assert (joined["code"] == joined["community_code"]).all()
    assert a["reported_at"].is_monotonic_increasing
    assert set(a["category"]) <= set(sample.sample_departments()["category"])


@pytest.fixture(scope="module")
def tracks(daan_grids):
    grids = daan_grids.iloc[:20]
    staff = sample.sample_staff(grids, seed=0)
    return grids, staff, sample.sample_tracks(grids, staff, days=3, seed=0)


def test_sample_tracks_mostly_inside_own_grid_some_short_days(tracks):
    grids, staff, t = tracks
    assert t["is_sample"].all() and t["track_id"].str.startswith("SAMPLE-").all()
    n_workers = (staff["position"] == "grid_worker").sum()
    assert t["track_id"].nunique() == n_workers * 3
    own = grids.set_index("grid_code").geometry.loc[t["grid_code"]].to_numpy()
    inside = t.geometry.within(gpd.GeoSeries(own, crs=t.crs, index=t.index))
    assert 0.75 < inside.mean() < 1.0  # mostly inside, some fixes outside
    span = t.groupby("track_id")["time"].agg(lambda s: (s.max() - s.min()).total_seconds())
    fixes = t.groupby("track_id").size()
    hours = fixes * 60 / 3600  # one fix a minute while on patrol
    assert (hours < 2).any() and (hours >= 2).any()
    assert (span > 0).all()
    assert t.groupby("track_id")["time"].apply(lambda s: s.is_monotonic_increasing).all()


def test_sample_tracks_deterministic(tracks):
    grids, staff, t = tracks
    again = sample.sample_tracks(grids, staff, days=3, seed=0)
    pd.testing.assert_frame_equal(pd.DataFrame(t), pd.DataFrame(again))
    other = sample.sample_tracks(grids, staff, days=3, seed=1)
    assert not np.allclose(other.geometry.x.to_numpy()[:50], t.geometry.x.to_numpy()[:50])


def test_sample_tracks_written_as_csv_gpx_geojson(tracks, tmp_path):
    _, _, t = tracks
    one = t[t["track_id"] == t["track_id"].iloc[0]]
    paths = sample.write_tracks(one, tmp_path)
    assert sorted(p.name for p in paths) == [
        "sample_tracks.csv",
        "sample_tracks.geojson",
        "sample_tracks.gpx",
    ]
    csv = pd.read_csv(tmp_path / "sample_tracks.csv")
    assert len(csv) == len(one) and csv["is_sample"].all()
    assert csv["lon"].between(121, 122).all() and csv["lat"].between(24.9, 25.1).all()
    doc = json.loads((tmp_path / "sample_tracks.geojson").read_text(encoding="utf-8"))
    (feature,) = doc["features"]
    assert feature["geometry"]["type"] == "LineString" and feature["properties"]["is_sample"]
    assert len(feature["properties"]["coordTimes"]) == len(one)
    assert feature["properties"]["coordTimes"][0] == one["time"].iloc[0].isoformat()
    assert len(feature["geometry"]["coordinates"]) == len(one)
    sample.write_tracks(one, tmp_path / "pts", formats=["geojson"], geojson_layout="points")
    gj = gpd.read_file(tmp_path / "pts" / "sample_tracks.geojson")
    assert len(gj) == len(one) and gj.crs.to_epsg() == 4326 and gj["is_sample"].all()
    gpx = ET.parse(tmp_path / "sample_tracks.gpx").getroot()
    ns = {"g": "http://www.topografix.com/GPX/1/1"}
    assert "SAMPLE DATA" in gpx.find("g:metadata/g:name", ns).text
    assert len(gpx.findall(".//g:trkpt", ns)) == len(one)
    with pytest.raises(InputError, match="sample"):
        sample.write_tracks(one, tmp_path, stem="tracks")


def test_write_samples_names_files_sample(built, daan_grids, tmp_path):
    comm = _layer(built["daan"], "communities")
    written = sample.write_samples(
        tmp_path, comm, grids=daan_grids.iloc[:4], n_incidents=10, days=1
    )
    assert set(written) == {"departments", "incidents", "staff", "tracks"}
    files = [p for w in written.values() for p in w.paths]
    assert files and all("sample" in p.name for p in files)
    manifest = tmp_path / "daan_sample_manifest.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [p.name for p in files] + [manifest.name]
    )
    assert written["incidents"].rows == 10
    # same inputs and options: reused; other seed: regenerated
    mtime = manifest.stat().st_mtime_ns
    again = sample.write_samples(tmp_path, comm, grids=daan_grids.iloc[:4], n_incidents=10, days=1)
    assert all(w.skipped for w in again.values())
    assert {k: w.rows for k, w in again.items()} == {k: w.rows for k, w in written.items()}
    assert manifest.stat().st_mtime_ns == mtime
    other = sample.write_samples(
        tmp_path, comm, grids=daan_grids.iloc[:4], n_incidents=10, days=1, seed=1
    )
    assert not any(w.skipped for w in other.values())


def test_cli_sample_with_and_without_grids(built, daan_grids, tmp_path):
    grids_file = tmp_path / "grids.gpkg"
    daan_grids.iloc[:4].to_file(grids_file, layer="grids")
    runner = CliRunner()
    args = ["sample", "--communities", str(built["daan"]), "--incidents", "5", "--days", "1"]
    res = runner.invoke(data_app, [*args, "--out", str(tmp_path / "a"), "--grids", str(grids_file)])
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert "daan_sample_staff.csv" in names and "daan_sample_tracks.gpx" in names
    res = runner.invoke(data_app, [*args, "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert "no --grids given" in " ".join(res.output.split())
    assert not any("staff" in p.name for p in (tmp_path / "b").iterdir())
    res = runner.invoke(data_app, [*args, "--grids", str(tmp_path / "nope.gpkg")])
    assert res.exit_code == 2 and "grids file not found" in res.output


def test_a_workers_track_does_not_depend_on_the_other_workers(tracks):
    grids, staff, t = tracks
    first = staff["staff_id"].iloc[0]
    alone = sample.sample_tracks(grids, staff[staff["staff_id"] == first], days=3, seed=0)
    mine = t[t["staff_id"] == first].reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.DataFrame(alone), pd.DataFrame(mine))
