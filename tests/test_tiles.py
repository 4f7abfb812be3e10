"""Vector tiles cached per registry version, against the real PostGIS.

Cache hits give the same bytes, ``ETag`` + ``If-None-Match`` give 304, an accepted change
set (or a renamed division) gives new tiles, public and staff tiles never mix, and a real
server answers 100 concurrent requests for cold tiles without a 503.
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import geopandas as gpd
import httpx
import mapbox_vector_tile
import psycopg
import pyproj
import pytest
import shapely
from fastapi.testclient import TestClient
from live_server import live_server

from gridgeo.registry import (
    Principal,
    accept_changeset,
    file_changeset,
    load_grids,
    register_division,
)
from gridgeo.service import create_app
from gridgeo.service.settings import ServiceSettings
from gridgeo.settings import Settings
from gridgeo.testing import seed_registry

pytestmark = pytest.mark.db

ADMIN = "test-admin-token"
DIVISIONS = (
    ("11", "示例省", "province", None),
    ("1101", "示例甲市", "city", "11"),
    ("110101", "示例甲区", "county", "1101"),
    ("110102", "示例乙区", "county", "1101"),
)
PEOPLE = (("county_editor", "110101"), ("other_county", "110102"))
TO_WGS = pyproj.Transformer.from_crs(3826, 4326, always_xy=True)


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def _current(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT grid_code, grid_name, grid_type, community_code, households, population, "
            "ST_AsBinary(geom) FROM registry.current_grid ORDER BY grid_code"
        ).fetchall()


def _tile_path(url: str, z: int = 15, index: int = 0) -> str:
    geom = shapely.from_wkb(bytes(_current(url)[index][-1]))
    p = geom.representative_point()
    lon, lat = TO_WGS.transform(p.x, p.y)
    x, y = _tile_of(lon, lat, z)
    return f"/tiles/{z}/{x}/{y}.mvt"


def _props(content: bytes, layer: str = "grids") -> dict[str, dict]:
    tile = mapbox_vector_tile.decode(content)
    key = "grid_code" if layer == "grids" else "code"
    return {f["properties"][key]: f["properties"] for f in tile.get(layer, {}).get("features", [])}


def _app(owner_url: str, app_url: str, **options: object):
    return create_app(
        Settings(database_url=owner_url, app_database_url=app_url),
        ServiceSettings(admin_token=ADMIN, token_cache_s=0.0, auth_failures_per_min=0, **options),
    )


@pytest.fixture(scope="module")
def world(db_url, app_db_url):
    """A seeded district served with the tile cache on (and rendered ahead)."""
    seed_registry(app_db_url, 4, 3, seed=5, block=(2, 2))
    for code, name, level, parent in DIVISIONS:
        register_division(app_db_url, code, name, level=level, parent_code=parent)
    with TestClient(_app(db_url, app_db_url)) as client:
        tokens = {}
        for key, div in PEOPLE:
            r = client.post(
                "/admin/tokens",
                json={"user": key, "role": "county_editor", "division_code": div},
                headers={"Authorization": f"Bearer {ADMIN}"},
            )
            assert r.status_code == 201, r.text
            tokens[key] = {"Authorization": f"Bearer {r.json()['token']}"}
        yield {"client": client, "url": app_db_url, "owner_url": db_url, "auth": tokens}


def _stats(world) -> dict[str, int]:
    return world["client"].app.state.tiles.cache.stats()


def test_cache_hit_gives_identical_bytes(world):
    c, path = world["client"], _tile_path(world["url"], z=17)
    first = c.get(path)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    hits = _stats(world)["hits"]
    again = c.get(path)
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert _stats(world)["hits"] == hits + 1
    assert _props(first.content)  # a real tile with grids in it
    assert first.headers["cache-control"].startswith("public, max-age=")
    assert "Authorization" in first.headers["vary"]
    # a hit skips routing but not the security headers
    assert "content-security-policy" in again.headers
    assert again.headers["x-content-type-options"] == "nosniff"


def test_district_is_rendered_ahead(world):
    app = world["client"].app
    tiles = app.state.tiles
    deadline = time.monotonic() + 60

    def done() -> bool:
        # a whole run of the version being served: one cut short by a newer version (or a
        # finished run of an older one, whose tiles a refresh dropped) does not count
        last = tiles.prerenderer.last_run
        return (
            last.get("generation") == app.state.registry_state.generation
            and last.get("tiles", 0) > 0
            and last["tiles"] == last["planned"]
        )

    while not done() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert done(), tiles.prerenderer.last_run
    hits = _stats(world)["hits"]
    r = world["client"].get(_tile_path(world["url"], z=14, index=1))
    assert r.status_code == 200 and _props(r.content)
    # rendered before anyone asked: a hit (a pre-render pass still running may add its own)
    assert _stats(world)["hits"] >= hits + 1


def test_etag_and_if_none_match(world):
    c, path = world["client"], _tile_path(world["url"])
    r = c.get(path)
    etag = r.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    same = c.get(path, headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b""
    assert same.headers["etag"] == etag and "max-age" in same.headers["cache-control"]
    assert c.get(path, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    other = c.get(path, headers={"If-None-Match": '"not-this-one"'})
    assert other.status_code == 200 and other.content == r.content


def test_public_and_staff_tiles_never_mix(world):
    c, auth = world["client"], world["auth"]
    path = _tile_path(world["url"], z=16)
    # staff first, so that a cache keyed without the caller would hand their tile on
    staff = c.get(path, headers=auth["county_editor"])
    public = c.get(path)
    other = c.get(path, headers=auth["other_county"])
    assert staff.status_code == public.status_code == other.status_code == 200
    assert all("households" in p for p in _props(staff.content).values())
    assert not any("households" in p for p in _props(public.content).values())
    assert not any("households" in p for p in _props(other.content).values())
    assert staff.headers["etag"] != public.headers["etag"]
    assert staff.headers["cache-control"].startswith("private")
    # and in the other order, on a tile nobody asked for yet
    path = _tile_path(world["url"], z=18)
    assert not any("households" in p for p in _props(c.get(path).content).values())
    again = c.get(path, headers=auth["county_editor"])
    assert all("households" in p for p in _props(again.content).values())


def _wait_for(check, seconds: float = 15.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    return check()


def test_accepted_changeset_gives_new_tiles(world):
    c, url = world["client"], world["url"]
    rows = _current(url)
    code = rows[0][0]
    path = _tile_path(url, z=15)
    before = c.get(path)
    old_name = _props(before.content)[code]["grid_name"]
    community = rows[0][3]
    mine = [r for r in rows if r[3] == community]
    frame = gpd.GeoDataFrame(
        [r[:-1] for r in mine],
        columns=[
            "grid_code",
            "grid_name",
            "grid_type",
            "community_code",
            "households",
            "population",
        ],
        geometry=[shapely.from_wkb(bytes(r[-1])) for r in mine],
        crs=3826,
    )
    frame.loc[frame["grid_code"] == code, "grid_name"] = "改名后的网格"
    admin = Principal("test", "admin")
    res = load_grids(url, frame, county="110101", actor=admin, code_pattern=r"\d{12}")
    file_changeset(url, res.changeset_id, actor=admin, force=True, force_reason="test data")
    accept_changeset(url, res.changeset_id, actor=Principal("test reviewer", "admin"))

    def renamed():
        r = c.get(path)
        return r if _props(r.content).get(code, {}).get("grid_name") == "改名后的网格" else None

    after = _wait_for(renamed)
    assert old_name != "改名后的网格"
    assert after is not None, "the tile still shows the old name"
    assert after.headers["etag"] != before.headers["etag"]
    # the old ETag no longer matches: a client revalidating gets the new tile
    assert c.get(path, headers={"If-None-Match": before.headers["etag"]}).status_code == 200


def test_staff_tiles_in_use_are_rendered_again_after_a_change(world):
    c, auth = world["client"], world["auth"]
    tiles = c.app.state.tiles
    path = _tile_path(world["url"], z=19)  # above the district's zoom range
    assert c.get(path, headers=auth["county_editor"]).status_code == 200
    before = tiles.generation
    with psycopg.connect(world["url"]) as conn:  # any change the registry notifies
        conn.execute('NOTIFY gridgeo_registry, \'{"event": "test"}\'')
    assert _wait_for(lambda: tiles.prerenderer.last_run.get("generation", 0) > before)
    assert tiles.prerenderer.last_run["others"] >= 1
    hits = _stats(world)["hits"]
    r = c.get(path, headers=auth["county_editor"])
    assert r.status_code == 200 and all("households" in p for p in _props(r.content).values())
    assert _stats(world)["hits"] == hits + 1  # rendered again before it was asked for


def test_renamed_division_gives_new_tiles(world):
    c, url = world["client"], world["url"]
    community = _current(url)[0][3]
    path = _tile_path(url, z=15)
    assert community in _props(c.get(path).content, "divisions")
    with psycopg.connect(world["owner_url"]) as conn:
        conn.execute(
            "UPDATE registry.divisions SET name = '改名后的社区' WHERE code = %s", (community,)
        )

    def renamed():
        props = _props(c.get(path).content, "divisions")
        return props.get(community, {}).get("name") == "改名后的社区"

    assert _wait_for(renamed), "the divisions layer still shows the old name"


def test_simplified_per_zoom(world):
    """A low-zoom tile is small: geometries are simplified below a tile unit."""
    c, url = world["client"], world["url"]
    low = c.get(_tile_path(url, z=8))
    assert low.status_code == 200
    tile = mapbox_vector_tile.decode(low.content)
    for layer in ("grids", "divisions"):
        for f in tile[layer]["features"]:
            assert f["geometry"]["type"] in {"Polygon", "MultiPolygon"}


def test_cache_off_still_serves_etags(db_url, app_db_url, world):
    app = _app(db_url, app_db_url, tile_cache_bytes=0, listen=False)
    with TestClient(app) as client:
        path = _tile_path(app_db_url)
        r = client.get(path)
        assert r.status_code == 200 and _props(r.content)
        assert client.get(path).content == r.content
        assert client.get(path, headers={"If-None-Match": r.headers["etag"]}).status_code == 304
        assert app.state.tiles.cache.stats()["entries"] == 0
        assert app.state.tiles.prerenderer.last_run == {}


def test_cached_tiles_stay_rate_limited(db_url, app_db_url, world):
    app = _app(db_url, app_db_url, rate_limit_per_s=0.01, rate_limit_burst=3, listen=False)
    with TestClient(app) as client:
        path = _tile_path(app_db_url)
        codes = [client.get(path).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]  # the last two were cache hits


@pytest.fixture
def real_server(db_url, app_db_url, world):
    """The app in uvicorn on 127.0.0.1, cache on, nothing rendered ahead (all cold)."""
    app = _app(db_url, app_db_url, tile_prerender_max_tiles=0, rate_limit_per_s=0, listen=False)
    with live_server(app) as base:
        yield base


def test_hundred_concurrent_requests_never_503(real_server, world):
    """100 requests at once, 50 distinct cold tiles (each asked twice): all answered."""
    url = world["url"]
    n = len(_current(url))
    paths = [_tile_path(url, z=z, index=i % n) for z in (13, 14, 15, 16, 17) for i in range(10)]
    paths = (paths * 2)[:100]
    start = threading.Barrier(100)

    def get(path: str) -> int:
        with httpx.Client(timeout=60) as client:
            start.wait()
            return client.get(real_server + path).status_code

    with ThreadPoolExecutor(100) as pool:
        codes = list(pool.map(get, paths))
    assert codes == [200] * 100


def test_public_tiles_are_rendered_by_read_only_sessions(world, monkeypatch):
    from gridgeo.service import tilecache

    app = world["client"].app
    tiles = app.state.tiles
    assert tiles.read_pool is app.state.read_pool and tiles.pool is app.state.pool
    users: list[str] = []
    render = tilecache.features.tile
    me = threading.get_ident()

    def spy(conn, params, *, detail):
        if threading.get_ident() == me:  # not the pre-render thread
            users.append(conn.execute("SELECT current_user").fetchone()[0])
        return render(conn, params, detail=detail)

    monkeypatch.setattr(tilecache.features, "tile", spy)
    srid = app.state.registry_state.current().srid
    _, _, z, x, y = _tile_path(world["url"], z=19, index=2).removesuffix(".mvt").split("/")
    data = tiles.render(srid, tilecache.PUBLIC, int(z), int(x), int(y))
    assert _props(data)  # the grids are there for the public
    tiles.render(srid, ("counts", None), int(z), int(x), int(y))  # staff: with counts
    assert users[0] == "gridgeo_read" and len(users) == 2
    assert users[1] != "gridgeo_read"  # the application's login (member of gridgeo_app)


def test_prerender_session_is_read_only_and_low_priority(app_db_url):
    """The pre-render's own connection: the read-only role, and (where the operating system
    lets this process renice it: root, or the user running the server) a PostgreSQL process
    at the lowest CPU priority, so that rendering ahead takes only what /locate leaves."""
    import os

    from gridgeo.service.app import _background_session

    with _background_session(app_db_url, 19) as conn:
        assert conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        assert conn.execute("SELECT current_user").fetchone()[0] == "gridgeo_read"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TEMP TABLE t (x int)")
        pid = conn.info.backend_pid
        if os.geteuid() == 0:
            assert os.getpriority(os.PRIO_PROCESS, pid) == 19
    with _background_session(app_db_url, 0) as conn:  # 0: left as it is
        pid = conn.info.backend_pid
        with open(f"/proc/{pid}/stat") as fh:  # the postmaster: the backend's parent
            postmaster = int(fh.read().rsplit(")", 1)[1].split()[1])
        # as the postmaster's (0 unless the whole instance was started niced)
        assert os.getpriority(os.PRIO_PROCESS, pid) == os.getpriority(os.PRIO_PROCESS, postmaster)
