"""The map service answers malformed requests with a 4xx naming the parameter or row.

Hand-written malformed requests and generated classes of bad input (hypothesis), on this
module's own database. The schemathesis fuzzing of every operation for every role lives in
tests/test_service_fuzz_roles.py and tests/test_service_fuzz_admin.py (own databases, so the
admin's generated deletes never reach the tokens and data these tests use).
"""

from __future__ import annotations

import io
import json
import math
import os

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
import shapely
import test_service
from hypothesis import HealthCheck, settings
from test_service import ADMIN, TO_WGS, _grids, _inner_point

pytestmark = pytest.mark.db

#: The seeded registry of tests/test_service.py (grids, staff, matters, tokens), on this
#: module's own database.
world = test_service.world

DERANDOMIZE = os.environ.get("GRIDGEO_FUZZ_RANDOM", "") != "1"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}


def _dispatch(world):
    return {"Authorization": f"Bearer {world['tokens']['dispatcher']}"}


def _lonlat_inside(world) -> tuple[float, float]:
    _code, geom = _grids(world["url"])[0]
    return TO_WGS.transform(*_inner_point(geom))


def _assert_4xx_names(r, status: int, where: str | int) -> None:
    """A JSON 4xx whose problems/validation errors name the parameter (or row) ``where``."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["detail"], body
    if status == 422:  # FastAPI's validation: detail is a list with the parameter's location
        assert any(where in e["loc"] for e in body["detail"]), body
    elif where is None:  # a plain "no such object"
        return
    elif isinstance(where, int):
        assert any(p["row"] == where for p in body["problems"]), body
    else:
        assert any(p.get("field") == where or p.get("rule") == where for p in body["problems"]), (
            body
        )


# -- batch: malformed bodies --------------------------------------------------------


def _arrow_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


_GOOD_ARROW = _arrow_bytes(pa.table({"lon": [121.5] * 50, "lat": [25.0] * 50}))


def _parquet_bytes(table: pa.Table, geo: dict | None = None) -> bytes:
    import pyarrow.parquet as pq

    if geo is not None:
        table = table.replace_schema_metadata({b"geo": json.dumps(geo).encode()})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _geo() -> dict:
    col = {"encoding": "WKB", "geometry_types": ["Point"]}
    return {"version": "1.0.0", "primary_column": "geometry", "columns": {"geometry": col}}


_GOOD_PARQUET = _parquet_bytes(pa.table({"lon": [121.5] * 50, "lat": [25.0] * 50}))
_PARQUET = "application/vnd.apache.parquet"


def _features(*geoms) -> str:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "geometry": g, "properties": {}} for g in geoms],
        }
    )


@pytest.mark.parametrize(
    ("body", "ctype", "status", "where"),
    [
        pytest.param(b"", "text/csv", 400, "points.empty", id="empty-body"),
        pytest.param(b"lon,lat\n1,2\n", "application/pdf", 400, "points.format", id="pdf"),
        pytest.param(b"lon,lat\n1,2\n", None, 400, "points.format", id="no-content-type"),
        pytest.param(b"lat,id\n25.0,a\n", "text/csv", 400, "lon", id="csv-no-lon-column"),
        pytest.param(
            "id,lon,lat,category\n甲,121.5,25.0,环境卫生\n".encode("gbk"),
            "text/csv",
            400,
            "points.encoding",
            id="csv-gbk",
        ),
        pytest.param(b"lon,lat\n121.5,25.0\n1e300,1e300\n", "text/csv", 400, 1, id="csv-huge"),
        pytest.param(b"lon,lat\n121.5,25.0\nnan,25.0\n", "text/csv", 400, 1, id="csv-nan"),
        pytest.param(b"lon,lat\n121.5,25.0\n121.5,inf\n", "text/csv", 400, 1, id="csv-inf"),
        pytest.param(b"lon,lat\n121.5,25.0\n-inf,1\n", "text/csv", 400, 1, id="csv-minus-inf"),
        pytest.param(
            _GOOD_ARROW[: len(_GOOD_ARROW) // 2],
            "application/vnd.apache.arrow.stream",
            400,
            "points.parse",
            id="arrow-truncated",
        ),
        pytest.param(
            b"\xff\xff\xff\xff garbage",
            "application/vnd.apache.arrow.stream",
            400,
            "points.parse",
            id="arrow-garbage",
        ),
        pytest.param(
            _arrow_bytes(pa.table({"lon": [121.5, float("nan")], "lat": [25.0, 25.0]})),
            "application/vnd.apache.arrow.stream",
            400,
            1,
            id="arrow-nan",
        ),
        pytest.param(
            _arrow_bytes(pa.table({"lon": [[121.5]], "lat": [25.0]})),
            "application/vnd.apache.arrow.stream",
            400,
            "points.parse",
            id="arrow-list-column",
        ),
        pytest.param(
            _features(
                {"type": "Point", "coordinates": [121.5, 25.0]},
                {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
            ),
            "application/geo+json",
            400,
            1,
            id="geojson-polygon",
        ),
        pytest.param(
            _features(
                {"type": "Point", "coordinates": [121.5, 25.0]},
                {"type": "Point", "coordinates": [121.5, 25.0]},
                {"type": "MultiPoint", "coordinates": [[121.5, 25.0]]},
            ),
            "application/geo+json",
            400,
            2,
            id="geojson-multipoint",
        ),
        pytest.param(
            _features({"type": "Point", "coordinates": ["a", "b"]}),
            "application/geo+json",
            400,
            0,
            id="geojson-text-coordinates",
        ),
        pytest.param(
            _features({"type": "Point", "coordinates": {}}),
            "application/geo+json",
            400,
            "geometry",
            id="geojson-object-coordinates",
        ),
        pytest.param(
            '{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": '
            '{"type": "Point", "coordinates": [NaN, 25.0]}}]}',
            "application/geo+json",
            400,
            0,
            id="geojson-nan",
        ),
        pytest.param(
            _features({"type": "Point", "coordinates": [1e300, 25.0]}),
            "application/geo+json",
            400,
            0,
            id="geojson-huge",
        ),
        pytest.param(
            '{"type": "Feature"}', "application/geo+json", 400, "points.geojson", id="not-fc"
        ),
        pytest.param(b"\x00\x01\x02", "application/geo+json", 400, "points.parse", id="binary"),
        pytest.param(
            _GOOD_PARQUET[: len(_GOOD_PARQUET) // 2],
            _PARQUET,
            400,
            "points.parse",
            id="parquet-truncated",
        ),
        pytest.param(b"PAR1 garbage PAR1", _PARQUET, 400, "points.parse", id="parquet-garbage"),
        pytest.param(
            _parquet_bytes(pa.table({"lon": [121.5, float("nan")], "lat": [25.0, 25.0]})),
            _PARQUET,
            400,
            1,
            id="parquet-nan",
        ),
        pytest.param(
            _parquet_bytes(pa.table({"lon": [121.5, 500.0], "lat": [25.0, 25.0]})),
            _PARQUET,
            400,
            1,
            id="parquet-lon-out-of-range",
        ),
        pytest.param(
            _parquet_bytes(pa.table({"a": [121.5], "b": [25.0]})),
            _PARQUET,
            400,
            "lon",
            id="parquet-no-lon-no-geometry",
        ),
        pytest.param(
            _parquet_bytes(pa.table({"geometry": [b"\x01\x01\x00\x00\x00garbage"]}), _geo()),
            _PARQUET,
            400,
            "geometry",
            id="parquet-bad-wkb",
        ),
        pytest.param(
            _parquet_bytes(
                pa.table({"geometry": [shapely.to_wkb(shapely.box(121, 25, 121.1, 25.1))]}),
                _geo(),
            ),
            _PARQUET,
            400,
            0,
            id="parquet-polygon",
        ),
    ],
)
def test_batch_malformed_body_is_4xx_naming_row_or_field(world, body, ctype, status, where):
    headers = {**_dispatch(world), **({"Content-Type": ctype} if ctype else {})}
    r = world["client"].post("/locate/batch", content=body, headers=headers)
    _assert_4xx_names(r, status, where)


@pytest.mark.parametrize(
    ("params", "status", "where"),
    [
        ({"crs": "unknown"}, 400, "crs"),
        ({"crs": "EPSG:5773"}, 400, "crs"),  # a vertical CRS: no lon/lat
        ({"crs": "EPSG:999999"}, 400, "crs"),
        ({"at": "not-a-date"}, 400, "at"),
        ({"at": "9999-12-31"}, 400, "at"),
        ({"format": "xlsx"}, 422, "format"),
        ({"distance": "perhaps"}, 422, "distance"),
        ({"category": "x" * 65}, 422, "category"),
    ],
)
def test_batch_malformed_query_is_4xx_naming_parameter(world, params, status, where):
    r = world["client"].post(
        "/locate/batch",
        params=params,
        content=b"lon,lat\n121.5,25.0\n",
        headers={"Content-Type": "text/csv", **_dispatch(world)},
    )
    _assert_4xx_names(r, status, where)


def test_projected_crs_with_huge_coordinates_is_outside(world):
    """Finite but absurd projected coordinates are located (outside), not a crash."""
    r = world["client"].post(
        "/locate/batch",
        params={"crs": "EPSG:3826", "format": "geojson"},
        content=b"x,y\n1e300,1e300\n250000,2700000\n",
        headers={"Content-Type": "text/csv", **_dispatch(world)},
    )
    assert r.status_code == 200, r.text
    assert r.json()["features"][0]["properties"]["grid_code"] is None
    one = world["client"].get("/locate", params={"lon": 1e300, "lat": 1e300, "crs": "EPSG:3826"})
    assert one.status_code == 200 and one.json()["located"] is False


# -- single locate and the other query parameters -------------------------------------


@pytest.mark.parametrize(
    ("params", "status", "where"),
    [
        ({"lon": 181.0, "lat": 25.0}, 400, "lon"),
        ({"lon": 121.5, "lat": 90.5}, 400, "lat"),
        ({"lon": -1e300, "lat": 25.0}, 400, "lon"),
        ({"lon": "inf", "lat": 25.0}, 400, "lon"),
        ({"lon": 121.5, "lat": "-inf"}, 400, "lat"),
        ({"lon": 121.5, "lat": "nan"}, 400, "lat"),
        ({"lon": 121.5, "lat": 25.0, "crs": "unknown"}, 400, "crs"),
        ({"lon": 121.5, "lat": 25.0, "crs": "EPSG:5773"}, 400, "crs"),
        ({"lon": 121.5, "lat": 25.0, "crs": "EPSG:4978"}, 400, "crs"),  # geocentric
        ({"lon": 121.5, "lat": 25.0, "at": "not-a-date"}, 400, "at"),
        ({"lon": 121.5, "lat": 25.0, "at": "9999-12-31"}, 400, "at"),
        ({"lon": 121.5, "lat": 25.0, "at": "0001-01-01T00:00:00+08:00"}, 400, "at"),
        ({"lon": "east", "lat": 25.0}, 422, "lon"),
        ({"lat": 25.0}, 422, "lon"),
    ],
)
def test_locate_malformed_query_is_4xx_naming_parameter(world, params, status, where):
    _assert_4xx_names(world["client"].get("/locate", params=params), status, where)


@pytest.mark.parametrize(
    ("path", "params", "status", "where"),
    [
        ("/collections/grids/items", {"bbox": "1,2,3"}, 400, "bbox"),
        ("/collections/grids/items", {"bbox": "1,2,3,nan"}, 400, "bbox"),
        ("/collections/grids/items", {"bbox": "a,b,c,d"}, 400, "bbox"),
        ("/collections/grids/items", {"bbox-crs": "EPSG:5773", "bbox": "0,0,1,1"}, 400, "bbox-crs"),
        ("/collections/grids/items", {"crs": "unknown"}, 400, "crs"),
        ("/collections/grids/items", {"limit": -1}, 422, "limit"),
        ("/collections/grids/items", {"offset": -5}, 422, "offset"),
        ("/collections/grids/items", {"offset": 2**63}, 422, "offset"),
        ("/collections/grids/items", {"datetime": "not-a-date"}, 400, "datetime"),
        ("/collections/grids/items", {"datetime": "9999-12-31"}, 400, "datetime"),
        ("/collections/grids/items/a%00b", {}, 400, "request.value"),
        ("/coverage", {"at": "not-a-date"}, 400, "at"),
        ("/coverage", {"grid_code": "a\x00b"}, 400, "request.value"),
        ("/tiles/40/0/0.mvt", {}, 400, "z/x/y"),
        ("/tiles/-1/0/0.mvt", {}, 400, "z/x/y"),
        ("/tiles/3/8/0.mvt", {}, 400, "z/x/y"),
        ("/tiles/3/0/8.mvt", {}, 400, "z/x/y"),
        ("/tiles/3/-1/0.mvt", {}, 400, "z/x/y"),
        (f"/tiles/3/{2**70}/0.mvt", {}, 400, "z/x/y"),
        ("/tiles/3/x/0.mvt", {}, 422, "x"),
        ("/departments/abc", {}, 422, "department_id"),
    ],
)
def test_get_malformed_is_4xx_naming_parameter(world, path, params, status, where):
    _assert_4xx_names(world["client"].get(path, params=params), status, where)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "where"),
    [
        ("post", "/departments", {"name": "x", "is_sample": 0}, 422, "is_sample"),
        (
            "post",
            "/categories",
            {"code": "ok", "name": "x", "deadline_days": "5"},
            422,
            "deadline_days",
        ),
        ("patch", "/categories/sanitation", {"deadline_days": 2**40}, 400, "request.value"),
        ("post", "/departments", {"name": "a\x00b"}, 400, "request.value"),
        ("patch", "/departments/1", {"phone": "\x00"}, 400, "request.value"),
        ("delete", f"/departments/{2**70}", None, 404, None),
        ("delete", f"/coverage/{2**70}", None, 404, None),
        ("delete", f"/admin/tokens/{2**70}", None, 404, None),
    ],
)
def test_admin_malformed_is_4xx_naming_field(world, method, path, body, status, where):
    kwargs = {"json": body} if body is not None else {}
    r = world["client"].request(method.upper(), path, headers=ADMIN_HEADERS, **kwargs)
    _assert_4xx_names(r, status, where)


@pytest.mark.parametrize("value", ["Basic dXNlcjpwdw==", "Bearer", "token-without-scheme"])
def test_malformed_authorization_is_401_not_public(world, value):
    lon, lat = _lonlat_inside(world)
    r = world["client"].get(
        "/locate", params={"lon": lon, "lat": lat}, headers={"Authorization": value}
    )
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "AuthenticationError" and "Bearer" in r.json()["detail"]


def test_wrong_method_lists_every_allowed_method(world):
    r = world["client"].put("/categories")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, POST"
    assert r.json() == {"error": "MethodNotAllowed", "detail": "Method Not Allowed"}


def test_every_low_zoom_tile_is_answered(world):
    """Tiles far from the registry's CRS (90° from a TM central meridian) are empty, not 5xx."""
    client = world["client"]
    for z in range(5):
        for x in range(2**z):
            for y in range(2**z):
                r = client.get(f"/tiles/{z}/{x}/{y}.mvt")
                assert r.status_code == 200, (z, x, y, r.text)
    lon, lat = _lonlat_inside(world)
    for z in (4, 10):
        n = 2**z
        x = int((lon + 180) / 360 * n)
        y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
        assert b"grids" in client.get(f"/tiles/{z}/{x}/{y}.mvt").content


# -- generated classes of bad input (issue 14): each must be a 400 naming the problem ----

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_FEW = settings(
    max_examples=25,
    deadline=None,
    derandomize=DERANDOMIZE,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("code", [2218, 2221, 22300, 22700])
def test_crs_pyproj_cannot_transform_is_400(world, code):
    r = world["client"].get(
        "/locate", params={"lon": 500000, "lat": 2800000, "crs": f"EPSG:{code}"}
    )
    _assert_4xx_names(r, 400, "crs")
    assert "cannot be transformed" in r.json()["detail"]


@_FEW
@given(code=st.integers(min_value=2000, max_value=32767))
def test_generated_epsg_codes_never_5xx(world, code):
    r = world["client"].get(
        "/locate", params={"lon": 500000, "lat": 2800000, "crs": f"EPSG:{code}"}
    )
    assert r.status_code in (200, 400), (code, r.text)
    if r.status_code == 400:
        assert any(
            p.get("field") == "crs" or p.get("field") in ("lon", "lat")
            for p in r.json()["problems"]
        ), r.text


_COLUMNS = ["lon", "lat", "x", "y", "id", "category", "LON", " lat", "name"]


@_FEW
@given(
    cols=st.lists(st.sampled_from(_COLUMNS), min_size=2, max_size=6).filter(
        lambda c: len({n.strip().lower() for n in c}) < len(c)
    )
)
def test_generated_duplicate_csv_columns_are_400(world, cols):
    body = ",".join(cols) + "\n" + ",".join(["1"] * len(cols)) + "\n"
    r = world["client"].post(
        "/locate/batch",
        content=body.encode(),
        headers={"Content-Type": "text/csv", **_dispatch(world)},
    )
    assert r.status_code == 400, (cols, r.text)
    assert any(p["message"] == "duplicate column" for p in r.json()["problems"]), r.text


@pytest.mark.parametrize("header", ["lon,lon,lat", "id,id,lon,lat", "category,category,lon,lat"])
def test_duplicate_csv_columns_named(world, header):
    body = header + "\n" + ",".join(["1"] * len(header.split(","))) + "\n"
    r = world["client"].post(
        "/locate/batch",
        content=body.encode(),
        headers={"Content-Type": "text/csv", **_dispatch(world)},
    )
    _assert_4xx_names(r, 400, header.split(",")[0])


@_FEW
@given(
    depth=st.integers(min_value=2_000, max_value=100_000), opener=st.sampled_from(["[", '{"a":'])
)
def test_generated_deep_nesting_is_400(world, depth, opener):
    body = (opener * depth).encode()
    r = world["client"].post(
        "/locate/batch",
        content=body,
        headers={"Content-Type": "application/geo+json", **_dispatch(world)},
    )
    assert r.status_code == 400, r.text[:300]
    r = world["client"].post(
        "/coverage",
        content=body,
        headers={"Content-Type": "application/json", **ADMIN_HEADERS},
    )
    assert r.status_code in (400, 413, 422), r.text[:300]


_BAD_COORDS = st.one_of(
    st.text(max_size=5),
    st.integers(),
    st.none(),
    st.lists(st.text(max_size=3), max_size=3),
    st.lists(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=3), max_size=4),
    st.lists(st.lists(st.lists(st.text(max_size=2), max_size=3), max_size=3), max_size=2),
)


@_FEW
@given(coords=_BAD_COORDS, kind=st.sampled_from(["Polygon", "MultiPolygon"]))
def test_generated_bad_coverage_geometry_is_400(world, coords, kind):
    body = {
        "department_id": 1,
        "category": "sanitation",
        "geometry": {"type": kind, "coordinates": coords},
    }
    r = world["client"].post("/coverage", json=body, headers=ADMIN_HEADERS)
    _assert_4xx_names(r, 400, "geometry")


@_FEW
@given(
    lon=st.floats(min_value=-1e6, max_value=1e6),
    lat=st.floats(min_value=-1e6, max_value=1e6),
)
def test_generated_out_of_range_coverage_is_400(world, lon, lat):
    if abs(lon) <= 180 and abs(lat) <= 90:
        lon = 200.0
    ring = [[lon, lat], [lon + 0.01, lat], [lon + 0.01, lat + 0.01], [lon, lat]]
    body = {
        "department_id": 1,
        "category": "sanitation",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    r = world["client"].post("/coverage", json=body, headers=ADMIN_HEADERS)
    _assert_4xx_names(r, 400, "geometry")


@pytest.mark.parametrize(
    "geometry",
    [
        {"type": "Polygon", "coordinates": "x"},
        {"type": "Polygon", "coordinates": [[[121, 95], [121.1, 95], [121.1, 95.1], [121, 95]]]},
        {"type": "Polygon", "coordinates": []},  # empty
    ],
)
def test_issue_coverage_bodies_are_400(world, geometry):
    body = {"department_id": 1, "category": "sanitation", "geometry": geometry}
    r = world["client"].post("/coverage", json=body, headers=ADMIN_HEADERS)
    _assert_4xx_names(r, 400, "geometry")
