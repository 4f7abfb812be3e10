"""gridgeo.crs: GCJ-02/BD-09 conversions, CRS resolution, metric zone, sanity checks."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from gridgeo import crs as gcrs
from gridgeo.errors import CRSError

GEOD = Geod(ellps="WGS84")


# --- the published algorithm, written per point as everyone copies it -------------


def _ref_out_of_china(lng: float, lat: float) -> bool:
    return not (73.66 < lng < 135.05 and 3.86 < lat < 53.55)


def _ref_tlat(lng: float, lat: float) -> float:
    ret = -100.0 + 2.0 * lng + 3.0 * lat + 0.2 * lat * lat + 0.1 * lng * lat
    ret += 0.2 * math.sqrt(abs(lng))
    ret += (20.0 * math.sin(6.0 * lng * math.pi) + 20.0 * math.sin(2.0 * lng * math.pi)) * 2 / 3
    ret += (20.0 * math.sin(lat * math.pi) + 40.0 * math.sin(lat / 3.0 * math.pi)) * 2 / 3
    ret += (160.0 * math.sin(lat / 12.0 * math.pi) + 320 * math.sin(lat * math.pi / 30.0)) * 2 / 3
    return ret


def _ref_tlng(lng: float, lat: float) -> float:
    ret = 300.0 + lng + 2.0 * lat + 0.1 * lng * lng + 0.1 * lng * lat + 0.1 * math.sqrt(abs(lng))
    ret += (20.0 * math.sin(6.0 * lng * math.pi) + 20.0 * math.sin(2.0 * lng * math.pi)) * 2 / 3
    ret += (20.0 * math.sin(lng * math.pi) + 40.0 * math.sin(lng / 3.0 * math.pi)) * 2 / 3
    ret += (150.0 * math.sin(lng / 12.0 * math.pi) + 300.0 * math.sin(lng / 30.0 * math.pi)) * 2 / 3
    return ret


def ref_wgs84_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    a, ee = 6378245.0, 0.00669342162296594323
    if _ref_out_of_china(lng, lat):
        return lng, lat
    dlat = _ref_tlat(lng - 105.0, lat - 35.0)
    dlng = _ref_tlng(lng - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - ee * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((a * (1 - ee)) / (magic * sqrtmagic) * math.pi)
    dlng = (dlng * 180.0) / (a / sqrtmagic * math.cos(radlat) * math.pi)
    return lng + dlng, lat + dlat


def ref_gcj02_to_bd09(lng: float, lat: float) -> tuple[float, float]:
    x_pi = math.pi * 3000.0 / 180.0
    z = math.sqrt(lng * lng + lat * lat) + 0.00002 * math.sin(lat * x_pi)
    theta = math.atan2(lat, lng) + 0.000003 * math.cos(lng * x_pi)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def _china_grid(step: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.meshgrid(np.arange(74.0, 135.0, step), np.arange(4.0, 53.5, step))
    return lon.ravel() + 0.123, lat.ravel() + 0.0456


# --- forward transforms match the published algorithm -----------------------------


def test_forward_gcj02_matches_published_algorithm():
    lon, lat = _china_grid(2.5)
    got_x, got_y = gcrs.wgs84_to_gcj02(lon, lat)
    ref = np.array([ref_wgs84_to_gcj02(x, y) for x, y in zip(lon, lat, strict=True)])
    assert np.abs(got_x - ref[:, 0]).max() < 1e-11
    assert np.abs(got_y - ref[:, 1]).max() < 1e-11


def test_forward_bd09_matches_published_algorithm():
    lon, lat = _china_grid(5.0)
    got_x, got_y = gcrs.wgs84_to_bd09(lon, lat)
    ref = np.array(
        [ref_gcj02_to_bd09(*ref_wgs84_to_gcj02(x, y)) for x, y in zip(lon, lat, strict=True)]
    )
    assert np.abs(got_x - ref[:, 0]).max() < 1e-11
    assert np.abs(got_y - ref[:, 1]).max() < 1e-11


def test_gcj02_offset_is_hundreds_of_metres_in_shanghai():
    gx, gy = gcrs.wgs84_to_gcj02(121.4737, 31.2304)
    d = GEOD.inv(121.4737, 31.2304, gx, gy)[2]
    assert 300 < d < 800


# --- inverses: round trips across China < 0.5 m ------------------------------------


@pytest.mark.parametrize(
    ("forward", "inverse"),
    [
        (gcrs.wgs84_to_gcj02, gcrs.gcj02_to_wgs84),
        (gcrs.gcj02_to_bd09, gcrs.bd09_to_gcj02),
        (gcrs.wgs84_to_bd09, gcrs.bd09_to_wgs84),
    ],
    ids=["gcj02", "bd09-from-gcj02", "bd09-from-wgs84"],
)
def test_round_trip_error_below_half_a_metre_across_china(forward, inverse):
    lon, lat = _china_grid(0.5)
    # inverse(forward(w)) == w
    bx, by = inverse(*forward(lon, lat))
    err1 = GEOD.inv(lon, lat, bx, by)[2]
    # forward(inverse(g)) == g  (g taken as given coordinates in the obfuscated system)
    fx, fy = forward(*inverse(lon, lat))
    err2 = GEOD.inv(lon, lat, fx, fy)[2]
    assert err1.max() < 0.5
    assert err2.max() < 0.5
    # The method documents ~0.1 mm; hold it to 1 cm so a regression shows.
    assert max(err1.max(), err2.max()) < 0.01


def test_published_one_step_inverse_is_worse_than_ours():
    lon, lat = _china_grid(2.0)
    gx, gy = gcrs.wgs84_to_gcj02(lon, lat)
    # published one-step inverse: w ≈ 2g − f(g)
    fx, fy = gcrs.wgs84_to_gcj02(gx, gy)
    one_step = GEOD.inv(lon, lat, 2 * gx - fx, 2 * gy - fy)[2]
    ours = GEOD.inv(lon, lat, *gcrs.gcj02_to_wgs84(gx, gy))[2]
    assert one_step.max() > 0.5  # metres: why the iteration is needed
    assert ours.max() < 0.01


def test_points_outside_china_are_unchanged_and_nan_stays_nan():
    lon = np.array([2.35, -74.0, np.nan, 121.47])
    lat = np.array([48.85, 40.7, 31.2, np.nan])
    for func in (gcrs.wgs84_to_gcj02, gcrs.gcj02_to_wgs84, gcrs.bd09_to_wgs84):
        x, y = func(lon, lat)
        if func is not gcrs.bd09_to_wgs84:
            assert x[:2].tolist() == lon[:2].tolist()
            assert y[:2].tolist() == lat[:2].tolist()
        assert np.isnan(x[2]) or np.isnan(y[2])
        assert np.isnan(x[3]) or np.isnan(y[3])


def test_scalars_and_shapes():
    x, y = gcrs.gcj02_to_wgs84(121.48, 31.23)
    assert isinstance(x, float) and isinstance(y, float)
    lon = np.full((3, 4), 121.48)
    lat = np.full((3, 4), 31.23)
    x, y = gcrs.gcj02_to_wgs84(lon, lat)
    assert x.shape == (3, 4) and y.shape == (3, 4)
    x, y = gcrs.wgs84_to_gcj02([121.48, 116.4], [31.23, 39.9])
    assert x.shape == (2,)


def test_inputs_are_not_modified():
    lon = np.array([121.48, 116.4])
    lat = np.array([31.23, 39.9])
    before = (lon.copy(), lat.copy())
    gcrs.gcj02_to_wgs84(lon, lat)
    gcrs.bd09_to_wgs84(lon, lat)
    assert (lon == before[0]).all() and (lat == before[1]).all()


# --- resolve_crs --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("wgs84", 4326),
        ("WGS 84", 4326),
        ("cgcs2000", 4490),
        ("CGCS2000", 4490),
        ("EPSG:4528", 4528),
        ("epsg:4490", 4490),
        (4526, 4526),
        ("4513", 4513),
        (pyproj.CRS.from_epsg(3826), 3826),
        ("gcj02", "gcj02"),
        ("GCJ-02", "gcj02"),
        ("gaode", "gcj02"),
        ("bd09", "bd09"),
        ("BD-09", "bd09"),
        ("baidu", "bd09"),
    ],
)
def test_resolve_crs(value, expected):
    got = gcrs.resolve_crs(value)
    if isinstance(expected, str):
        assert got == expected
    else:
        assert isinstance(got, pyproj.CRS)
        assert got.to_epsg() == expected


@pytest.mark.parametrize("value", ["", "mars-ish", "EPSG:99999999", None, True, 3.5])
def test_resolve_crs_rejects_garbage_with_crs_error(value):
    with pytest.raises(CRSError, match="CRS"):
        gcrs.resolve_crs(value)


def test_resolve_crs_accepts_wkt():
    wkt = pyproj.CRS.from_epsg(4490).to_wkt()
    assert gcrs.resolve_crs(wkt).equals(pyproj.CRS.from_epsg(4490))


# --- to_wgs84 ------------------------------------------------------------------------


def _points(xy, crs):
    return gpd.GeoDataFrame(
        {"名称": [f"点{i}" for i in range(len(xy))]},
        geometry=[shapely.Point(p) for p in xy],
        crs=crs,
    )


def test_to_wgs84_converts_gcj02_geodataframe_and_keeps_attributes():
    xy = [(121.4800, 31.2300), (116.4040, 39.9150)]
    gdf = _points(xy, 4326)
    out = gcrs.to_wgs84(gdf, "gcj02")
    assert out.crs.to_epsg() == 4326
    ex, ey = gcrs.gcj02_to_wgs84([p[0] for p in xy], [p[1] for p in xy])
    np.testing.assert_allclose(out.geometry.x, ex, atol=1e-12)
    np.testing.assert_allclose(out.geometry.y, ey, atol=1e-12)
    assert out["名称"].tolist() == ["点0", "点1"]
    # the input is left alone
    assert gdf.geometry.x.iloc[0] == 121.48


def test_to_wgs84_converts_polygons_vertex_by_vertex():
    poly = shapely.box(121.47, 31.22, 121.48, 31.23)
    gdf = gpd.GeoDataFrame(geometry=[poly], crs=4490)
    out = gcrs.to_wgs84(gdf, "bd09")
    coords = shapely.get_coordinates(out.geometry.values)
    ex, ey = gcrs.bd09_to_wgs84(*shapely.get_coordinates(poly).T)
    np.testing.assert_allclose(coords[:, 0], ex)
    np.testing.assert_allclose(coords[:, 1], ey)


def test_to_wgs84_reprojects_gauss_kruger():
    gdf = _points([(121.47, 31.23)], 4326).to_crs(4528)
    out = gcrs.to_wgs84(gdf)
    assert out.crs.to_epsg() == 4326
    assert out.geometry.x.iloc[0] == pytest.approx(121.47, abs=1e-9)


def test_to_wgs84_raw_arrays():
    x, y = gcrs.to_wgs84(([121.48], [31.23]), "gcj02")
    ex, ey = gcrs.gcj02_to_wgs84(121.48, 31.23)
    assert x[0] == pytest.approx(ex) and y[0] == pytest.approx(ey)
    x, y = gcrs.to_wgs84(([121.48], [31.23]), "cgcs2000")
    assert x[0] == pytest.approx(121.48)


def test_to_wgs84_errors():
    with pytest.raises(CRSError):
        gcrs.to_wgs84(gpd.GeoDataFrame(geometry=[shapely.Point(121, 31)]))
    with pytest.raises(CRSError, match="projected"):
        gcrs.to_wgs84(_points([(121.47, 31.23)], 4326).to_crs(4528), "gcj02")
    with pytest.raises(CRSError):
        gcrs.to_wgs84(([1.0], [2.0]))


# --- metric_crs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lon", "lat", "crs", "zone"),
    [
        (121.47, 31.23, 4326, 40),  # Shanghai
        (116.40, 39.91, 4490, 39),  # Beijing
        (87.62, 43.83, 4326, 29),  # Ürümqi
        (126.63, 45.75, 4490, 42),  # Harbin
        (113.62, 34.75, 4326, 38),  # Zhengzhou
        (75.99, 39.47, 4326, 25),  # Kashgar: first zone
        (121.00, 24.70, 3826, 40),  # Taiwan data in TWD97 / TM2: zone 40 for 121°E
    ],
)
def test_metric_crs_picks_cgcs2000_gk_zone_with_false_easting(lon, lat, crs, zone):
    gdf = _points([(lon - 0.01, lat - 0.01), (lon + 0.01, lat + 0.01)], 4326).to_crs(crs)
    got = gcrs.metric_crs(gdf)
    assert got.to_epsg() == 4513 + zone - 25
    assert got.name == f"CGCS2000 / 3-degree Gauss-Kruger zone {zone}"
    params = {p.name: p.value for p in got.coordinate_operation.params}
    assert params["False easting"] == zone * 1_000_000 + 500_000
    assert params["Longitude of natural origin"] == 3 * zone
    # the data lands within the zone (easting around zone*1e6 + 500 km)
    x = gdf.to_crs(got).geometry.x
    assert (abs(x - (zone * 1_000_000 + 500_000)) < 170_000).all()


def test_metric_crs_of_gauss_kruger_data_is_its_own_zone():
    gdf = _points([(121.47, 31.23)], 4326).to_crs(4528)
    assert gcrs.metric_crs(gdf).to_epsg() == 4528


@pytest.mark.parametrize(
    ("gdf", "match"),
    [
        (gpd.GeoDataFrame(geometry=[shapely.Point(121, 31)]), "no CRS"),
        (gpd.GeoDataFrame(geometry=[shapely.Point(2.35, 48.85)], crs=4326), "outside"),
        (gpd.GeoDataFrame(geometry=[shapely.Point()], crs=4326), "no usable geometry"),
    ],
    ids=["no-crs", "paris", "empty"],
)
def test_metric_crs_errors(gdf, match):
    with pytest.raises(CRSError, match=match):
        gcrs.metric_crs(gdf)


# --- sanity_problems --------------------------------------------------------------------


def test_sanity_flags_swapped_lonlat():
    gdf = _points([(31.23, 121.47), (31.24, 121.48), (31.25, 121.49)], 4326)
    problems = gcrs.sanity_problems(gdf, source="x.gpkg", layer="households")
    assert [p.rule for p in problems] == ["crs.swapped_lonlat"]
    assert problems[0].severity == "error"
    assert "swapped" in problems[0].message
    assert problems[0].file == "x.gpkg" and problems[0].layer == "households"


def test_sanity_flags_points_outside_china_by_row():
    gdf = _points([(121.47, 31.23), (2.35, 48.85), (121.48, 31.24)], 4326)
    gdf.index = [10, 11, 12]
    problems = gcrs.sanity_problems(gdf)
    assert [(p.rule, p.row, p.severity) for p in problems] == [("crs.outside_china", 11, "warning")]


def test_sanity_all_outside_is_an_error():
    gdf = _points([(2.35, 48.85), (13.4, 52.5)], 4326)
    (p,) = gcrs.sanity_problems(gdf)
    assert (p.rule, p.severity, p.row) == ("crs.outside_china", "error", None)
    assert "all 2 features" in p.message and "CRS is probably wrong" in p.message


def test_sanity_accepts_projected_data_in_china_and_taiwan():
    gdf = _points([(121.5, 25.03), (121.47, 31.23)], 4326)
    assert gcrs.sanity_problems(gdf.to_crs(3826)) == []
    assert gcrs.sanity_problems(gdf.to_crs(4528)) == []


def test_sanity_reports_missing_crs():
    problems = gcrs.sanity_problems(gpd.GeoDataFrame(geometry=[shapely.Point(121, 31)]))
    assert [p.rule for p in problems] == ["crs.missing"]


@pytest.mark.parametrize("target", ["gcj02", "bd09"])
def test_from_wgs84_shifts_for_web_maps_and_back(target):
    gdf = _points([(121.47, 31.23), (116.40, 39.91)], 4490).to_crs(4528)
    shifted = gcrs.from_wgs84(gdf, target)
    assert shifted.attrs["coordinate_system"] == target
    assert shifted["名称"].tolist() == ["点0", "点1"]
    back = gcrs.to_wgs84(shifted, target)
    d = np.asarray(GEOD.inv(back.geometry.x, back.geometry.y, [121.47, 116.40], [31.23, 39.91])[2])
    assert d.max() < 0.01
    moved = np.asarray(
        GEOD.inv(shifted.geometry.x, shifted.geometry.y, [121.47, 116.40], [31.23, 39.91])[2]
    )
    assert (moved > 100).all()


def test_from_wgs84_refuses_ordinary_crs():
    with pytest.raises(CRSError, match="gcj02"):
        gcrs.from_wgs84(_points([(121.47, 31.23)], 4326), "EPSG:4528")


@pytest.mark.parametrize(
    ("lon", "lat"),
    [
        (np.linspace(134.95, 135.1, 301), np.full(301, 48.0)),  # east edge (Heilongjiang)
        (np.full(301, 100.0), np.linspace(53.45, 53.6, 301)),  # north edge (Mohe)
    ],
    ids=["east-edge", "north-edge"],
)
def test_inverse_at_the_rectangle_edges_reproduces_the_input(lon, lat):
    # The published transform jumps at its rectangle's edges; the inverse still
    # returns a point that maps back onto the input where one exists.
    fx, fy = gcrs.wgs84_to_gcj02(*gcrs.gcj02_to_wgs84(lon, lat))
    assert np.asarray(GEOD.inv(lon, lat, fx, fy)[2]).max() < 0.01


@settings(max_examples=200, deadline=None)
@given(
    lon=st.floats(min_value=74.0, max_value=134.5),
    lat=st.floats(min_value=18.0, max_value=53.0),
)
def test_gcj02_round_trip_property(lon, lat):
    w = gcrs.gcj02_to_wgs84(*gcrs.wgs84_to_gcj02(lon, lat))
    assert GEOD.inv(lon, lat, *w)[2] < 0.5
    g = gcrs.wgs84_to_gcj02(*gcrs.gcj02_to_wgs84(lon, lat))
    assert GEOD.inv(lon, lat, *g)[2] < 0.5
