"""Geometry limits of grids and coverage polygons (issue 14, item 7).

Grids are checked as they will be stored — after transformation to the registry CRS —
for emptiness, validity, finite coordinates and a vertex cap; the API refuses coverage
polygons over the cap; public map clients get simplified geometry.
"""

from __future__ import annotations

import geopandas as gpd
import psycopg
import pytest
import shapely
from fastapi.testclient import TestClient

from gridgeo.errors import InputError
from gridgeo.registry import Principal, load_grids
from gridgeo.service import create_app
from gridgeo.service.deps import parse_polygon
from gridgeo.service.settings import ServiceSettings
from gridgeo.settings import Settings
from gridgeo.testing import seed_registry

pytestmark = pytest.mark.db

ADMIN = Principal("limits-test", "admin")
TOKEN = "limits-test-admin-token"


@pytest.fixture(scope="module")
def seeded(db_url):
    communities, grids, _cs = seed_registry(db_url, 2, 2, seed=2)
    return communities, grids


def _load(db_url, community_code, geom, crs, **kw):
    layer = gpd.GeoDataFrame(
        {"community_code": [community_code], "grid_name": ["测试网格"]}, geometry=[geom], crs=crs
    )
    return load_grids(db_url, layer, county="110101", actor=ADMIN, code_pattern=r"\d{12}", **kw)


def _rules(exc: InputError) -> set[str]:
    return {p.rule for p in exc.problems}


def test_too_many_vertices_are_refused(db_url, seeded):
    communities, _ = seeded
    c = communities.iloc[0]
    dense = shapely.segmentize(c.geometry, c.geometry.length / 3000)
    with pytest.raises(InputError) as err:
        _load(db_url, c["code"], dense, communities.crs, max_vertices=1000)
    assert [(p.rule, p.field, p.row) for p in err.value.problems] == [
        ("geometry.vertices", "geometry", 0)
    ]
    assert "at most 1000" in str(err.value)


def test_polygon_valid_in_wgs84_but_not_in_the_registry_crs_is_refused(db_url, seeded):
    communities, _ = seeded
    world = shapely.segmentize(shapely.box(-180, -60, 180, 60), 1.0)
    assert world.is_valid
    code = communities.iloc[0]["code"]
    home = gpd.GeoSeries([communities.geometry.iloc[0]], crs=communities.crs).to_crs(4326)[0]
    layer = gpd.GeoDataFrame(
        {"community_code": [code, code], "grid_name": ["本地网格", "世界网格"]},
        geometry=[home, world],
        crs=4326,
    )
    with pytest.raises(InputError) as err:
        load_grids(db_url, layer, county="110101", actor=ADMIN, code_pattern=r"\d{12}")
    bad = [p for p in err.value.problems if p.rule == "geometry.invalid_transformed"]
    assert [p.row for p in bad] == [1] and bad[0].field == "geometry"


def test_empty_polygon_is_refused(db_url, seeded):
    communities, _ = seeded
    with pytest.raises(InputError) as err:
        _load(db_url, communities.iloc[0]["code"], shapely.Polygon(), communities.crs)
    assert "geometry.empty" in _rules(err.value)


def test_coverage_polygon_vertex_cap():
    ring = shapely.Point(121.5, 25.0).buffer(0.01, quad_segs=2000)
    with pytest.raises(InputError, match="at most 100 per polygon") as err:
        parse_polygon(shapely.geometry.mapping(ring), max_vertices=100)
    assert [(p.rule, p.field) for p in err.value.problems] == [("geometry.vertices", "geometry")]
    assert parse_polygon(shapely.geometry.mapping(ring), max_vertices=10_000).is_valid


def test_public_items_are_simplified_and_capped(db_url, seeded):
    _communities, _grids = seeded
    with psycopg.connect(db_url) as conn:
        code, n = conn.execute(
            "SELECT grid_code, ST_NPoints(geom) FROM registry.current_grid "
            "ORDER BY ST_NPoints(geom) DESC LIMIT 1"
        ).fetchone()
    app = create_app(
        Settings(database_url=db_url),
        ServiceSettings(admin_token=TOKEN, listen=False, public_max_vertices=max(4, n // 4)),
    )

    def points(geojson):
        return len(shapely.get_coordinates(shapely.geometry.shape(geojson)))

    with TestClient(app) as client:
        full = client.get(
            f"/collections/grids/items/{code}", headers={"Authorization": f"Bearer {TOKEN}"}
        ).json()
        public = client.get(f"/collections/grids/items/{code}").json()
        far = client.get("/collections/grids/items", params={"zoom": 8, "limit": 100}).json()
        near = client.get("/collections/grids/items", params={"zoom": 20, "limit": 100}).json()
    assert points(full["geometry"]) == n
    assert points(public["geometry"]) < n
    assert sum(points(f["geometry"]) for f in far["features"]) <= sum(
        points(f["geometry"]) for f in near["features"]
    )
    assert all(shapely.geometry.shape(f["geometry"]).is_valid for f in far["features"])
