"""The console's basemap: none online by default (images only from the service), and the
outlines served shifted to GCJ-02 (gridgeo.crs) for a GCJ-02 tile service."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from gridgeo.crs import wgs84_to_gcj02
from gridgeo.service import create_app
from gridgeo.service.routes_webmap import router as webmap_router
from gridgeo.service.settings import ServiceSettings
from gridgeo.settings import Settings
from gridgeo.testing import seed_registry

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def seeded(db_url):
    seed_registry(db_url, 2, 2, seed=3)
    return db_url


def _client(url: str) -> TestClient:
    app = create_app(Settings(database_url=url), ServiceSettings(listen=False))
    app.include_router(webmap_router)
    return TestClient(app)


def test_no_basemap_by_default_and_images_only_from_the_service(seeded):
    with _client(seeded) as client:
        r = client.get("/console/config.json")
        assert r.json()["basemap"] is None
        assert "img-src 'self' data: blob:;" in r.headers["content-security-policy"]


def test_grids_are_shifted_to_gcj02_for_a_gcj02_basemap(seeded):
    with _client(seeded) as client:
        plain = client.get("/collections/grids/items", params={"limit": 1}).json()
        moved = client.get("/collections/grids/items", params={"limit": 1, "shift": "gcj02"}).json()
        assert (
            client.get(
                "/collections/grids/items", params={"shift": "gcj02", "crs": "EPSG:3826"}
            ).status_code
            == 400
        )
    lon, lat = np.ravel(plain["features"][0]["geometry"]["coordinates"])[:2]
    glon, glat = np.ravel(moved["features"][0]["geometry"]["coordinates"])[:2]
    want = [float(v) for v in np.ravel(wgs84_to_gcj02(lon, lat))]
    assert glon == pytest.approx(want[0], abs=1e-9)
    assert glat == pytest.approx(want[1], abs=1e-9)
