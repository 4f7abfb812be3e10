"""The compiled Transverse Mercator forward agrees with PROJ (pyproj stays the reference)."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest

from gridgeo.locate.points import to_srid
from gridgeo.locate.tmerc import fast_tmerc, tm_forward


@pytest.mark.parametrize(
    ("src", "dst", "lon0"),
    [
        (4326, 4547, 114.0),  # CGCS2000 3° GK CM 114E (Shenzhen)
        (4490, 4549, 120.0),  # CGCS2000 → CGCS2000 3° GK CM 120E
        (4326, 4524, 108.0),  # with the zone number in the false easting
        (4326, 3826, 121.0),  # TWD97 TM2 (k = 0.9999), the test registry's CRS
        (4326, 32650, 117.0),  # UTM 50N
        (4326, 4502, 117.0),  # CGCS2000 6° GK zone 20 without the prefix (±3°)
    ],
)
def test_agrees_with_pyproj_within_a_millimetre(src, dst, lon0):
    tr = pyproj.Transformer.from_crs(src, dst, always_xy=True)
    p = fast_tmerc(tr)
    assert p is not None
    rng = np.random.default_rng(7)
    # a district (dense, the tiled path) and the whole zone out to its edges (±1.5°, ±3°)
    district = (rng.uniform(lon0 - 0.4, lon0 + 0.1, 20_000), rng.uniform(22.3, 22.9, 20_000))
    edge = np.r_[lon0 - 3.0, lon0 - 1.5, lon0 + 1.5, lon0 + 3.0]
    zone = (np.repeat(edge, 50), np.tile(np.linspace(18.0, 53.0, 50), 4))
    for lon, lat in (district, zone):
        want_x, want_y = tr.transform(lon, lat)
        got_x, got_y = tm_forward(lon, lat, p)
        assert np.hypot(got_x - want_x, got_y - want_y).max() <= 1e-3


def test_other_pipelines_keep_pyproj():
    for dst in (3857, 2326, 4214):  # web mercator, HK 1980 grid (datum shift), Beijing 1954
        assert fast_tmerc(pyproj.Transformer.from_crs(4326, dst, always_xy=True)) is None


def test_to_srid_fast_and_slow_paths_agree_and_keep_nan():
    rng = np.random.default_rng(3)
    lon = rng.uniform(120.9, 121.4, 500)
    lat = rng.uniform(24.8, 25.2, 500)
    lon[[5, 77]] = np.nan
    x, y = to_srid(lon, lat, "wgs84", 3826)  # compiled
    want_x, want_y = pyproj.Transformer.from_crs(4326, 3826, always_xy=True).transform(lon, lat)
    assert np.isnan(x[[5, 77]]).all() and np.isnan(y[[5, 77]]).all()
    ok = np.isfinite(lon)
    assert np.hypot(x[ok] - np.asarray(want_x)[ok], y[ok] - np.asarray(want_y)[ok]).max() <= 1e-3
    gx, gy = to_srid(lon[ok], lat[ok], "gcj02", 3826)  # GCJ-02 then the same projection
    one = np.array(
        [to_srid([a], [b], "gcj02", 3826) for a, b in zip(lon[ok], lat[ok], strict=True)]
    )
    assert np.abs(gx - one[:, 0, 0]).max() <= 1e-3 and np.abs(gy - one[:, 1, 0]).max() <= 1e-3


@pytest.mark.parametrize("crs", ["wgs84", "cgcs2000", "gcj02", "bd09", "EPSG:4490", "EPSG:3826"])
def test_one_point_path_gives_the_array_paths_numbers(crs):
    from gridgeo.locate.points import point_to_srid

    rng = np.random.default_rng(3)
    if crs == "EPSG:3826":  # projected in: metres to metres
        xs, ys = rng.uniform(250_000, 350_000, 40), rng.uniform(2_700_000, 2_800_000, 40)
    else:
        xs, ys = rng.uniform(119.5, 122.5, 40), rng.uniform(21.5, 25.5, 40)
    for x, y in zip(xs, ys, strict=True):
        ax, ay = to_srid([x], [y], crs, 3826)  # one point: PROJ, as before
        assert point_to_srid(float(x), float(y), crs, 3826) == (float(ax[0]), float(ay[0]))


@pytest.mark.parametrize(("lon", "lat", "field"), [(200.0, 25.0, "lon"), (121.0, -95.0, "lat")])
def test_one_point_path_refuses_what_the_array_path_refuses(lon, lat, field):
    from gridgeo.errors import InputError
    from gridgeo.locate.points import point_to_srid

    with pytest.raises(InputError) as one:
        point_to_srid(lon, lat, "wgs84", 3826)
    with pytest.raises(InputError) as many:
        to_srid([lon], [lat], "wgs84", 3826)
    assert str(one.value) == str(many.value)
    assert one.value.problems[0].field == field
    nan = point_to_srid(float("nan"), 25.0, "wgs84", 3826)
    assert all(np.isnan(nan))
