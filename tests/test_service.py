"""The map service against the real PostGIS: locate, batch, matters, features, tiles, roles."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime

import mapbox_vector_tile
import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.ipc as ipc
import pyproj
import pytest
import shapely
from fastapi.testclient import TestClient

from gridgeo.crs import wgs84_to_bd09, wgs84_to_gcj02
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
    ("1102", "示例乙市", "city", "11"),
    ("110101", "示例甲区", "county", "1101"),
    ("110102", "示例乙区", "county", "1101"),
    ("110201", "示例丙区", "county", "1102"),
)
#: token key, role, division: own and neighbouring county / city / province of the grids
PEOPLE = (
    ("public", "public", None),
    ("dispatcher", "dispatcher", None),
    ("county_editor", "county_editor", "110101"),
    ("other_county", "county_editor", "110102"),
    ("city_reviewer", "city_reviewer", "1101"),
    ("other_city", "city_reviewer", "1102"),
    ("province_reviewer", "province_reviewer", "11"),
    ("centre_reviewer", "centre_reviewer", "110101"),
    ("other_centre", "centre_reviewer", "110201"),
)
TO_WGS = pyproj.Transformer.from_crs(3826, 4326, always_xy=True)


def _grids(url: str, at: datetime | None = None) -> list[tuple[str, shapely.Geometry]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT grid_code, ST_AsBinary(geom) FROM registry.grids_at(coalesce(%s, now())) "
            "ORDER BY grid_code",
            (at,),
        ).fetchall()
    return [(c, shapely.from_wkb(bytes(g))) for c, g in rows]


def _pg_locate(url: str, x: float, y: float, at: datetime | None = None) -> str | None:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT grid_code FROM registry.grids_at(coalesce(%s, now())) "
            "WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(%s, %s), registry.srid())) "
            'ORDER BY grid_code COLLATE "C" LIMIT 1',
            (at, x, y),
        ).fetchone()
    return row[0] if row else None


@pytest.fixture(scope="module")
def world(db_url, app_db_url):
    """The seeded registry; everything runs as the application role, not the owner."""
    db_url, owner_url = app_db_url, db_url
    _communities, grids, _cs = seed_registry(db_url, 6, 4, seed=7, block=(3, 2))
    before_reshape = datetime.now(UTC)
    time.sleep(0.05)
    # staff: head (posted), full-time worker (posted), part-time worker (not posted)
    with psycopg.connect(db_url) as conn:
        for i, (code, _g) in enumerate(_grids(db_url)):
            for role, posted in (("head", True), ("full_time", True), ("part_time", False)):
                sid = conn.execute(
                    "INSERT INTO registry.staff (person_name, phone, is_sample) "
                    "VALUES (%s, %s, true) RETURNING staff_id",
                    (f"示例{role}{i:03d}", f"100-0000-{i:02d}{len(role):02d}"),
                ).fetchone()[0]
                conn.execute(
                    "INSERT INTO registry.staff_assignment (staff_id, grid_code, role, posted, "
                    "valid_from) VALUES (%s, %s, %s, %s, '2000-01-01')",
                    (sid, code, role, posted),
                )
    # reshape: merge the first two grids of the first community
    first = grids["community_code"].iloc[0]
    comm = grids[grids["community_code"] == first].reset_index(drop=True)
    merged = comm.iloc[1:].copy()
    merged.loc[merged.index[0], "geometry"] = shapely.union_all(comm.geometry.iloc[:2].values)
    admin = Principal("test", "admin")
    res = load_grids(db_url, merged, county="110101", actor=admin, code_pattern=r"\d{12}")
    file_changeset(db_url, res.changeset_id, actor=admin, force=True, force_reason="test data")
    accept_changeset(db_url, res.changeset_id, actor=Principal("test reviewer", "admin"))
    # the division hierarchy: province 11 with cities 1101 and 1102; county 110101 (the
    # grids) and its neighbour 110102 in city 1101; county 110201 in the neighbour city
    for code, name, level, parent in DIVISIONS:
        register_division(db_url, code, name, level=level, parent_code=parent)
    app = create_app(
        Settings(database_url=owner_url, app_database_url=db_url),
        ServiceSettings(
            admin_token=ADMIN,
            near_border_m=20.0,
            token_cache_s=0.0,
            batch_max_bytes=1_000_000,
            batch_max_points=20_000,
            # the role matrix answers many anonymous 401s from one address; the
            # failed-token limit has its own tests (test_service_limits.py)
            auth_failures_per_min=0,
        ),
    )
    with TestClient(app) as client:
        h = {"Authorization": f"Bearer {ADMIN}"}
        tokens = {"admin": ADMIN}
        for key, role, div in PEOPLE:
            r = client.post(
                "/admin/tokens",
                json={"user": key, "role": role, "division_code": div, "name": f"{key} token"},
                headers=h,
            )
            assert r.status_code == 201, r.text
            tokens[key] = r.json()["token"]
        for code, name in (
            ("sanitation", "环境卫生"),
            ("noise", "噪声扰民"),
            ("orphan", "无人认领"),
        ):
            assert (
                client.post(
                    "/categories", json={"code": code, "name": name, "is_sample": True}, headers=h
                ).status_code
                == 201
            )
        dep_a = client.post(
            "/departments",
            json={"name": "示例区城市管理局", "phone": "100-0000-9001", "is_sample": True},
            headers=h,
        ).json()
        dep_b = client.post(
            "/departments",
            json={"name": "示例区住建局", "phone": "100-0000-9002", "is_sample": True},
            headers=h,
        ).json()
        codes = [c for c, _ in _grids(db_url)]
        # coverage is a change-set item: the county drafts and files, the city accepts
        editor = {"Authorization": f"Bearer {tokens['county_editor']}"}
        reviewer = {"Authorization": f"Bearer {tokens['city_reviewer']}"}
        for body, drafter in (
            ({"department_id": dep_a["department_id"], "grid_codes": codes}, editor),
            ({"department_id": dep_b["department_id"], "grid_codes": codes[:1], "lead": False}, h),
        ):
            accept_coverage(client, {**body, "category": "sanitation"}, drafter, reviewer)
        yield {
            "client": client,
            "url": db_url,
            "tokens": tokens,
            "before": before_reshape,
            "codes": codes,
            "deps": (dep_a, dep_b),
            "grids_frame": grids,
        }


def accept_coverage(client, body, drafter, reviewer) -> int:
    """POST /coverage (a draft), file it as the drafter, accept it as the reviewer; its id."""
    r = client.post("/coverage", json=body, headers=drafter)
    assert r.status_code == 202, r.text
    cs = r.json()["changeset_id"]
    assert r.json()["next"] == f"/changes/{cs}/file"
    r = client.post(f"/changes/{cs}/file", json={}, headers=drafter)
    assert r.status_code == 200, r.text
    r = client.post(f"/changes/{cs}/accept", json={}, headers=reviewer)
    assert r.status_code == 200, r.text
    return cs


def end_coverage(client, coverage_id, drafter, reviewer) -> int:
    """DELETE /coverage/{id} (a draft ending the row), file it, accept it; the change set's id."""
    r = client.delete(f"/coverage/{coverage_id}", headers=drafter)
    assert r.status_code == 202, r.text
    cs = r.json()["changeset_id"]
    assert client.post(f"/changes/{cs}/file", json={}, headers=drafter).status_code == 200
    r = client.post(f"/changes/{cs}/accept", json={}, headers=reviewer)
    assert r.status_code == 200, r.text
    return cs


def auth(world, role):
    return {"Authorization": f"Bearer {world['tokens'][role]}"} if role else {}


def _inner_point(geom) -> tuple[float, float]:
    p = (
        geom.buffer(-30).representative_point()
        if geom.buffer(-30).area > 0
        else geom.representative_point()
    )
    return p.x, p.y


# -- locate ------------------------------------------------------------------------


@pytest.mark.parametrize("crs", ["wgs84", "cgcs2000", "gcj02", "bd09"])
def test_locate_each_crs_gives_the_postgis_grid(world, crs):
    client = world["client"]
    for code, geom in _grids(world["url"])[::5]:
        x, y = _inner_point(geom)
        lon, lat = TO_WGS.transform(x, y)
        if crs == "gcj02":
            lon, lat = wgs84_to_gcj02(lon, lat)
        elif crs == "bd09":
            lon, lat = wgs84_to_bd09(lon, lat)
        r = client.get("/locate", params={"lon": lon, "lat": lat, "crs": crs})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["located"] is True
        assert body["grid"]["code"] == code
        assert body["community"]["code"] == code[:12]
        assert body["distance_to_border_m"] > 0


def test_locate_on_shared_vertex_follows_tie_rule(world):
    client = world["client"]
    grids = _grids(world["url"])
    # a vertex shared by at least three grids
    coords = np.vstack([shapely.get_coordinates(g) for _, g in grids])
    uniq, counts = np.unique(coords, axis=0, return_counts=True)
    vx, vy = uniq[np.argmax(counts)]
    r = client.get("/locate", params={"lon": vx, "lat": vy, "crs": "EPSG:3826"})
    body = r.json()
    covering = sorted(c for c, g in grids if g.covers(shapely.Point(vx, vy)))
    assert len(covering) >= 2
    assert body["grid"]["code"] == covering[0] == _pg_locate(world["url"], vx, vy)
    assert body["near_border"] is True
    assert body["distance_to_border_m"] == 0


def test_outside_every_grid_says_why(world):
    r = world["client"].get("/locate", params={"lon": 100.0, "lat": 30.0})
    body = r.json()
    assert r.status_code == 200
    assert body["located"] is False and body["grid"] is None
    assert "outside every grid" in body["reason"]


def test_near_border_flag_within_tolerance(world):
    _code, geom = _grids(world["url"])[3]
    ring = geom.exterior if geom.geom_type == "Polygon" else geom.geoms[0].exterior
    a, b = np.asarray(ring.coords[0]), np.asarray(ring.coords[1])
    mid = (a + b) / 2
    normal = np.array([-(b - a)[1], (b - a)[0]]) / np.hypot(*(b - a))
    for d, near in ((5.0, True), (60.0, False)):
        for sign in (1, -1):
            p = mid + sign * d * normal
            if geom.contains(shapely.Point(p)):
                break
        body = (
            world["client"]
            .get("/locate", params={"lon": p[0], "lat": p[1], "crs": "EPSG:3826"})
            .json()
        )
        assert body["near_border"] is near
        assert body["distance_to_border_m"] == pytest.approx(
            geom.boundary.distance(shapely.Point(p)), abs=1e-3
        )


def test_past_date_answers_with_the_grids_valid_then(world):
    url, client = world["url"], world["client"]
    before = world["before"]
    old = dict(_grids(url, before))
    new = dict(_grids(url))
    gone = sorted(set(old) - set(new))
    assert gone  # the reshape closed grids
    x, y = _inner_point(old[gone[0]])
    lon, lat = TO_WGS.transform(x, y)
    now_body = client.get("/locate", params={"lon": lon, "lat": lat}).json()
    then_body = client.get(
        "/locate", params={"lon": lon, "lat": lat, "at": before.isoformat()}
    ).json()
    assert "grid" in then_body, then_body
    assert then_body["grid"]["code"] == gone[0] == _pg_locate(url, x, y, before)
    assert now_body["grid"]["code"] != gone[0]
    assert now_body["grid"]["code"] == _pg_locate(url, x, y)
    batch = client.post(
        "/locate/batch",
        params={"at": before.isoformat(), "format": "geojson"},
        content=f"lon,lat\n{float(lon)!r},{float(lat)!r}\n",
        headers={"Content-Type": "text/csv", **auth(world, "dispatcher")},
    ).json()
    assert batch["features"][0]["properties"]["grid_code"] == gone[0]
    # a date before any grid existed
    early = client.get("/locate", params={"lon": lon, "lat": lat, "at": "1999-01-01"}).json()
    assert early["located"] is False and "no grids" in early["reason"]


@pytest.mark.parametrize(
    ("role", "n_contacts"), [(None, 2), ("public", 2), ("dispatcher", 3), ("admin", 3)]
)
def test_contacts_public_sees_only_posted(world, role, n_contacts):
    code, geom = _grids(world["url"])[-1]
    lon, lat = TO_WGS.transform(*_inner_point(geom))
    body = (
        world["client"]
        .get("/locate", params={"lon": lon, "lat": lat}, headers=auth(world, role))
        .json()
    )
    assert body["grid"]["code"] == code
    assert len(body["contacts"]) == n_contacts
    assert [c["role"] for c in body["contacts"]][:2] == ["head", "full_time"]


def test_department_for_category(world):
    client = world["client"]
    dep_a, dep_b = world["deps"]
    code0, geom0 = _grids(world["url"])[0]
    lon, lat = TO_WGS.transform(*_inner_point(geom0))
    body = client.get("/locate", params={"lon": lon, "lat": lat, "category": "sanitation"}).json()
    assert body["department"]["name"] == dep_a["name"]
    names = [d["name"] for d in body["departments"]]
    if code0 == world["codes"][0]:
        assert names == [dep_a["name"], dep_b["name"]]
    orphan = client.get("/locate", params={"lon": lon, "lat": lat, "category": "orphan"}).json()
    assert orphan["department"] is None and "no department" in orphan["department_reason"]
    unknown = client.get("/locate", params={"lon": lon, "lat": lat, "category": "zzz"}).json()
    assert unknown["department"] is None and "unknown category" in unknown["department_reason"]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"lon": "abc", "lat": 1}, 422),
        ({"lat": 25.0}, 422),
        ({"lon": 121.5, "lat": 25.0, "crs": "nonsense"}, 400),
        ({"lon": 121.5, "lat": 25.0, "at": "yesterday"}, 400),
        ({"lon": 250.0, "lat": 25.0}, 400),
        ({"lon": "nan", "lat": 25.0}, 400),
    ],
)
def test_malformed_locate_is_4xx_with_message(world, params, status):
    r = world["client"].get("/locate", params=params)
    assert r.status_code == status
    assert r.json()["detail"]


# -- batch -------------------------------------------------------------------------


def _batch_points(world, n=400, seed=1):
    grids = _grids(world["url"])
    b = shapely.total_bounds(np.array([g for _, g in grids]))
    rng = np.random.default_rng(seed)
    x = rng.uniform(b[0] - 200, b[2] + 200, n)
    y = rng.uniform(b[1] - 200, b[3] + 200, n)
    lon, lat = TO_WGS.transform(x, y)
    return np.asarray(lon), np.asarray(lat)


def _expected(world, lon, lat):
    """PostGIS's answer for every point (the query of :func:`_pg_locate`, one connection:
    a login per point cost ~0.1 s)."""
    tx = pyproj.Transformer.from_crs(4326, 3826, always_xy=True)
    x, y = tx.transform(lon, lat)
    with psycopg.connect(world["url"]) as conn:
        rows = conn.execute(
            "SELECT (SELECT grid_code FROM registry.grids_at(now()) "
            "WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(p.x, p.y), registry.srid())) "
            'ORDER BY grid_code COLLATE "C" LIMIT 1) '
            "FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS p(x, y, i) ORDER BY p.i",
            ([float(v) for v in x], [float(v) for v in y]),
        ).fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize("fmt", ["csv", "geojson", "arrow"])
def test_batch_formats_match_postgis(world, fmt):
    lon, lat = _batch_points(world, 120, seed=3)
    if fmt == "csv":
        body = "id,lon,lat,category\n" + "".join(
            f"p{i},{float(a)!r},{float(b)!r},{'sanitation' if i % 2 else ''}\n"
            for i, (a, b) in enumerate(zip(lon, lat, strict=True))
        )
        ctype = "text/csv"
    elif fmt == "geojson":
        body = json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "id": f"p{i}",
                        "geometry": {"type": "Point", "coordinates": [a, b]},
                        "properties": {"category": "sanitation" if i % 2 else None},
                    }
                    for i, (a, b) in enumerate(zip(lon, lat, strict=True))
                ],
            }
        )
        ctype = "application/geo+json"
    else:
        table = pa.table(
            {
                "id": [f"p{i}" for i in range(len(lon))],
                "lon": lon,
                "lat": lat,
                "category": ["sanitation" if i % 2 else None for i in range(len(lon))],
            }
        )
        sink = io.BytesIO()
        with ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
        body = sink.getvalue()
        ctype = "application/vnd.apache.arrow.stream"
    r = world["client"].post(
        "/locate/batch", content=body, headers={"Content-Type": ctype, **auth(world, "dispatcher")}
    )
    assert r.status_code == 200, r.text
    if fmt == "csv":
        import pandas as pd

        out = pd.read_csv(io.StringIO(r.text), dtype={"grid_code": str})
        codes = [None if pd.isna(c) else c for c in out["grid_code"]]
        deps = out["department"]
    elif fmt == "geojson":
        feats = r.json()["features"]
        codes = [f["properties"]["grid_code"] for f in feats]
        deps = [f["properties"]["department"] for f in feats]
    else:
        t = ipc.open_stream(r.content).read_all()
        codes = t.column("grid_code").to_pylist()
        deps = t.column("department").to_pylist()
    assert codes == _expected(world, lon, lat)
    dep_a = world["deps"][0]["name"]
    for i, (c, d) in enumerate(zip(codes, deps, strict=True)):
        if c is not None and i % 2:
            assert d == dep_a


@pytest.mark.parametrize(("role", "status"), [(None, 401), ("public", 403)])
def test_batch_forbidden_without_role(world, role, status):
    r = world["client"].post(
        "/locate/batch",
        content="lon,lat\n121.5,25.0\n",
        headers={"Content-Type": "text/csv", **auth(world, role)},
    )
    assert r.status_code == status


@pytest.mark.parametrize(
    ("body", "ctype", "where"),
    [
        (
            "lon,lat\n121.5,abc\n121.6,\n",
            "text/csv",
            [("points.coordinate", 0, "lat"), ("points.coordinate", 1, "lat")],
        ),
        (
            "x1,y1\n1,2\n",
            "text/csv",
            [("points.column", None, "lon"), ("points.column", None, "lat")],
        ),
        (
            '{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": '
            '{"type": "LineString", "coordinates": [[0, 0], [1, 1]]}}]}',
            "application/geo+json",
            [("points.geometry", 0, "geometry")],
        ),
        ("{not json", "application/geo+json", [("points.parse", None, None)]),
        ("lon,lat\n1,2\n", "application/pdf", [("points.format", None, None)]),
        ("", "text/csv", [("points.empty", None, None)]),
    ],
)
def test_batch_malformed_is_400_listing_rows(world, body, ctype, where):
    r = world["client"].post(
        "/locate/batch", content=body, headers={"Content-Type": ctype, **auth(world, "dispatcher")}
    )
    assert r.status_code == 400, r.text
    assert [(p["rule"], p["row"], p["field"]) for p in r.json()["problems"]] == where


def test_batch_geoparquet_geometry_not_points_is_400(world):
    """A (Geo)Parquet ``geometry`` column of numbers is a 400 naming it (was a 500)."""
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table({"geometry": pa.array([1, 2, 3])}), buf)
    r = world["client"].post(
        "/locate/batch",
        content=buf.getvalue(),
        headers={"Content-Type": "application/vnd.apache.parquet", **auth(world, "dispatcher")},
    )
    assert r.status_code == 400, r.text
    problems = r.json()["problems"]
    assert [(p["rule"], p["row"], p["field"]) for p in problems] == [
        ("points.geometry", None, "geometry")
    ]


def _geoparquet(xs, ys, crs: dict | str | None = "absent") -> bytes:
    import pyarrow.parquet as pq

    col: dict = {"encoding": "WKB", "geometry_types": ["Point"]}
    if crs != "absent":
        col["crs"] = crs
    geo = {"version": "1.0.0", "primary_column": "geometry", "columns": {"geometry": col}}
    table = pa.table({"geometry": shapely.to_wkb(shapely.points(xs, ys))})
    buf = io.BytesIO()
    pq.write_table(table.replace_schema_metadata({b"geo": json.dumps(geo).encode()}), buf)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("declared", "given", "status"),
    [
        (3826, None, 200),  # the file's projected CRS counts without crs=
        (3826, "EPSG:3826", 200),
        (3826, "wgs84", 400),  # they disagree: refused, not guessed
        (4326, "gcj02", 200),  # GCJ-02 labelled WGS 84: crs= knows better
        ("absent", None, 200),  # GeoParquet's default, OGC:CRS84
        (None, None, 200),  # "unknown": read as lon/lat, as before
        ({"type": "nonsense"}, None, 400),
    ],
)
def test_batch_geoparquet_uses_its_own_crs(world, declared, given, status):
    """A GeoParquet body in the county's projected CRS is located without crs=: its ``geo``
    metadata says what its coordinates are; a crs= that contradicts it is a 400."""
    grids = _grids(world["url"])[::40]
    xs, ys = map(np.array, zip(*(_inner_point(g) for _c, g in grids), strict=True))
    lon, lat = TO_WGS.transform(xs, ys)
    if declared == 3826:
        body = _geoparquet(xs, ys, pyproj.CRS.from_epsg(3826).to_json_dict())
    elif declared == 4326:
        gx, gy = wgs84_to_gcj02(lon, lat)
        body = _geoparquet(gx, gy, pyproj.CRS.from_epsg(4326).to_json_dict())
    else:
        body = _geoparquet(lon, lat, declared)
    r = world["client"].post(
        "/locate/batch",
        params={"format": "csv", **({"crs": given} if given else {})},
        content=body,
        headers={"Content-Type": "application/vnd.apache.parquet", **auth(world, "dispatcher")},
    )
    assert r.status_code == status, r.text
    if status == 400:
        assert r.json()["problems"][0]["field"] in ("crs", "geometry")
        return
    import pandas as pd

    answer = pd.read_csv(io.StringIO(r.text), dtype={"grid_code": str})
    assert answer["grid_code"].tolist() == [c for c, _g in grids]


def test_batch_geoparquet_bodies_decoded_by_the_services_kept_threads(world, monkeypatch):
    """Every GeoParquet body is decoded by the two threads the service keeps for its life
    (the memory the last body freed is reused), and the answers are right each time."""
    import threading

    from gridgeo.locate import points

    seen: set[str] = set()
    decode = points.PointFile._pq_valid_group

    def spy(self, group):
        seen.add(threading.current_thread().name)
        return decode(self, group)

    monkeypatch.setattr(points.PointFile, "_pq_valid_group", spy)
    grids = _grids(world["url"])[::40]
    xs, ys = map(np.array, zip(*(_inner_point(g) for _c, g in grids), strict=True))
    lon, lat = TO_WGS.transform(xs, ys)
    for _ in range(3):
        r = world["client"].post(
            "/locate/batch",
            params={"format": "csv"},
            content=_geoparquet(lon, lat),
            headers={"Content-Type": "application/vnd.apache.parquet", **auth(world, "dispatcher")},
        )
        assert r.status_code == 200, r.text
        assert r.text.count("\n") == len(grids) + 1
    kept = world["client"].app.state.parquet_decoders
    assert seen and seen <= {t.name for t in kept._threads}


@pytest.mark.parametrize(("rows", "row"), [(60_000, "121.5,25.0\n"), (25_000, "1,2\n")])
def test_batch_too_large_is_413(world, rows, row):
    body = "lon,lat\n" + row * rows
    r = world["client"].post(
        "/locate/batch",
        content=body,
        headers={"Content-Type": "text/csv", **auth(world, "dispatcher")},
    )
    assert r.status_code == 413
    assert "at most" in r.json()["detail"] or "larger than" in r.json()["detail"]


def test_batch_gives_grid_head_and_worker(world):
    lon, lat = _batch_points(world, 50, seed=9)
    body = "lon,lat\n" + "".join(
        f"{float(a)!r},{float(b)!r}\n" for a, b in zip(lon, lat, strict=True)
    )
    r = world["client"].post(
        "/locate/batch?format=geojson",
        content=body,
        headers={"Content-Type": "text/csv", **auth(world, "dispatcher")},
    )
    props = [f["properties"] for f in r.json()["features"] if f["properties"]["head_name"]]
    assert len(props) > 10 and all(p["head_name"].startswith("示例head") for p in props)
    assert all(p["worker_name"].startswith("示例full_time") for p in props)


# -- matters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("post", "/categories", {"code": "x1", "name": "x1"}),
        ("patch", "/categories/noise", {"name": "噪声"}),
        ("delete", "/categories/orphan", None),
        ("post", "/departments", {"name": "d"}),
        ("patch", "/departments/1", {"phone": "1"}),
        ("delete", "/departments/1", None),
        ("post", "/admin/tokens", {"role": "admin"}),
        ("get", "/admin/tokens", None),
        ("post", "/admin/refresh", None),
        ("get", "/admin/index", None),
        ("delete", "/admin/tokens/1", None),
    ],
)
@pytest.mark.parametrize(
    ("role", "status"),
    [
        (None, 401),
        ("public", 403),
        ("dispatcher", 403),
        ("county_editor", 403),
        ("city_reviewer", 403),
    ],
)
def test_admin_calls_are_refused_for_other_roles(world, method, path, payload, role, status):
    kwargs = {"headers": auth(world, role)}
    if payload is not None:
        kwargs["json"] = payload
    r = getattr(world["client"], method)(path, **kwargs)
    assert r.status_code == status, r.text


def test_revoked_token_is_401(world):
    c, h = world["client"], auth(world, "admin")
    made = c.post("/admin/tokens", json={"role": "dispatcher", "label": "temp"}, headers=h).json()
    mine = {"Authorization": f"Bearer {made['token']}"}
    batch = {"content": "lon,lat\n121.5,25.0\n", "headers": {"Content-Type": "text/csv", **mine}}
    assert c.post("/locate/batch", **batch).status_code == 200
    listed = {t["token_id"]: t for t in c.get("/admin/tokens", headers=h).json()}
    assert (
        listed[made["token_id"]]["role"] == "dispatcher" and "token" not in listed[made["token_id"]]
    )
    assert c.delete(f"/admin/tokens/{made['token_id']}", headers=h).status_code == 204
    assert c.post("/locate/batch", **batch).status_code == 401
    assert c.delete(f"/admin/tokens/{made['token_id']}", headers=h).status_code == 404


def test_unknown_token_is_401(world):
    r = world["client"].get(
        "/locate", params={"lon": 121.5, "lat": 25.0}, headers={"Authorization": "Bearer nope"}
    )
    assert r.status_code == 401


def test_category_and_department_crud(world):
    c, h = world["client"], auth(world, "admin")
    assert (
        c.post("/categories", json={"code": "greenery", "name": "园林绿化"}, headers=h).status_code
        == 201
    )
    assert (
        c.post("/categories", json={"code": "greenery", "name": "again"}, headers=h).status_code
        == 409
    )
    assert (
        c.post("/categories", json={"code": "Bad Code", "name": "x"}, headers=h).status_code == 422
    )
    with pytest.MonkeyPatch.context() as mp:  # the label inside a database error is translated too
        mp.setenv("GRIDGEO_LANG", "zh_CN")
        r = c.post("/categories", json={"code": "greenery", "name": "again"}, headers=h)
    assert r.status_code == 409 and "事项类别 greenery：已存在" in r.text, r.text
    r = c.patch("/categories/greenery", json={"deadline_days": 3}, headers=h)
    assert r.status_code == 200 and r.json()["deadline_days"] == 3
    assert c.patch("/categories/nothing", json={"name": "n"}, headers=h).status_code == 404
    cats = {x["code"]: x for x in c.get("/categories").json()}
    assert cats["sanitation"]["departments"] == 2 and cats["orphan"]["departments"] == 0
    dep = c.post("/departments", json={"name": "示例区园林局"}, headers=h).json()
    assert (
        c.patch(
            f"/departments/{dep['department_id']}", json={"phone": "100-0000-7777"}, headers=h
        ).json()["phone"]
        == "100-0000-7777"
    )
    body = {
        "department_id": dep["department_id"],
        "category": "greenery",
        "grid_codes": world["codes"][:2],
    }
    accept_coverage(c, body, h, auth(world, "city_reviewer"))
    cov = c.get(f"/departments/{dep['department_id']}").json()["coverage"]
    assert len(cov) == 2
    assert c.delete(f"/departments/{dep['department_id']}", headers=h).status_code == 409
    assert c.delete("/categories/greenery", headers=h).status_code == 409
    for row in cov:
        end_coverage(c, row["coverage_id"], h, auth(world, "city_reviewer"))
    assert c.delete(f"/coverage/{cov[0]['coverage_id']}", headers=h).status_code == 409
    assert c.delete("/categories/greenery", headers=h).status_code == 204
    assert c.get(f"/departments/{dep['department_id']}").json()["coverage"] == []
    assert c.delete("/departments/999999", headers=h).status_code == 404


def test_department_and_coverage_listings(world):
    c = world["client"]
    dep_a, dep_b = world["deps"]
    deps = {d["department_id"]: d for d in c.get("/departments").json()}
    assert "sanitation" in deps[dep_a["department_id"]]["categories"]
    cov = c.get("/coverage", params={"category": "sanitation"}).json()
    assert {r["department"] for r in cov} == {dep_a["name"], dep_b["name"]}
    one = c.get("/coverage", params={"grid_code": world["codes"][0]}).json()
    assert all(r["grid_code"] == world["codes"][0] for r in one) and one
    early = c.get("/coverage", params={"at": "2001-01-01"}).json()
    assert early == []
    assert c.get("/coverage", params={"at": "not a date"}).status_code == 400
    assert c.get("/departments/999999").status_code == 404


def test_conformance_and_admin_refresh(world):
    c = world["client"]
    assert any("ogcapi-features-1" in x for x in c.get("/conformance").json()["conformsTo"])
    r = c.post("/admin/refresh", headers=auth(world, "admin"))
    assert r.status_code == 200 and r.json()["grids"] == len(world["codes"])


def test_coverage_scope_of_county_editor(world):
    c = world["client"]
    dep_a = world["deps"][0]
    other = {"Authorization": f"Bearer {world['tokens']['other_county']}"}
    r = c.post(
        "/coverage",
        json={
            "department_id": dep_a["department_id"],
            "category": "noise",
            "grid_codes": world["codes"][:1],
        },
        headers=other,
    )
    assert r.status_code == 403 and "outside division" in r.json()["detail"]
    square = {"type": "Polygon", "coordinates": [[[121, 24], [122, 24], [122, 25], [121, 24]]]}
    r = c.post(
        "/coverage",
        json={"department_id": dep_a["department_id"], "category": "noise", "geometry": square},
        headers=auth(world, "county_editor"),
    )
    # a polygon is refused for every role (issue 15), not only for county editors
    assert r.status_code == 400 and r.json()["problems"][0]["rule"] == "coverage.polygon"
    r = c.post(
        "/coverage",
        json={
            "department_id": dep_a["department_id"],
            "category": "noise",
            "grid_codes": ["110101999999999"],
        },
        headers=auth(world, "admin"),
    )
    assert r.status_code == 400, r.text
    assert [(p["rule"], p["field"]) for p in r.json()["problems"]] == [
        ("coverage.grid", "grid_codes")
    ]


def test_polygon_coverage_is_refused(world):
    """Coverage is a set of grids, never a department's own polygon (issue 15)."""
    c = world["client"]
    dep_b = world["deps"][1]
    _code, geom = _grids(world["url"])[5]
    x, y = _inner_point(geom)
    lon, lat = TO_WGS.transform(x, y)
    d = 0.0005
    poly = {
        "type": "Polygon",
        "coordinates": [
            [
                [lon - d, lat - d],
                [lon + d, lat - d],
                [lon + d, lat + d],
                [lon - d, lat + d],
                [lon - d, lat - d],
            ]
        ],
    }
    r = c.post(
        "/coverage",
        json={"department_id": dep_b["department_id"], "category": "noise", "geometry": poly},
        headers=auth(world, "city_reviewer"),
    )
    assert r.status_code == 400, r.text
    assert [(p["rule"], p["field"]) for p in r.json()["problems"]] == [
        ("coverage.polygon", "geometry")
    ]
    inside = c.get("/locate", params={"lon": lon, "lat": lat, "category": "noise"}).json()
    assert inside["department"] is None or inside["department"]["name"] != dep_b["name"]


# -- features and tiles -------------------------------------------------------------------


def test_collections_and_items(world):
    c = world["client"]
    cols = c.get("/collections").json()
    assert {x["id"] for x in cols["collections"]} == {"grids", "divisions"}
    meta = c.get("/collections/grids").json()
    minx, miny, maxx, maxy = meta["extent"]["spatial"]["bbox"][0]
    assert 119 < minx < maxx < 123 and 21 < miny < maxy < 26
    page = c.get("/collections/grids/items", params={"limit": 5}).json()
    assert page["numberMatched"] == len(world["codes"]) and page["numberReturned"] == 5
    assert any(link["rel"] == "next" for link in page["links"])
    assert "households" not in page["features"][0]["properties"]
    lon0, _lat0 = page["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 119 < lon0 < 123
    box = f"{minx},{miny},{(minx + maxx) / 2},{(miny + maxy) / 2}"
    part = c.get("/collections/grids/items", params={"bbox": box, "limit": 1000}).json()
    assert 0 < part["numberMatched"] < len(world["codes"])
    ed = c.get(
        "/collections/grids/items", params={"limit": 1}, headers=auth(world, "county_editor")
    ).json()
    assert ed["features"][0]["properties"]["households"] > 0
    merc = c.get(
        "/collections/grids/items",
        params={"limit": 1, "crs": "http://www.opengis.net/def/crs/EPSG/0/3857"},
    )
    assert merc.headers["content-crs"].endswith("3857>")
    assert merc.json()["features"][0]["geometry"]["coordinates"][0][0][0][0] > 1e7
    past = c.get(
        "/collections/grids/items", params={"datetime": world["before"].isoformat(), "limit": 1000}
    ).json()
    assert past["numberMatched"] == len(world["codes"]) + 1
    beyond = c.get("/collections/grids/items", params={"offset": 10_000}).json()
    assert beyond["numberMatched"] == len(world["codes"]) and beyond["features"] == []
    assert any(link["rel"] == "prev" for link in beyond["links"])
    one = c.get(f"/collections/grids/items/{world['codes'][0]}").json()
    assert one["id"] == world["codes"][0]
    divs = c.get("/collections/divisions/items").json()
    assert {f["properties"]["level"] for f in divs["features"]} >= {"community"}


@pytest.mark.parametrize(
    ("bbox", "bbox_crs"),
    [
        ("-180,-90,180,90", None),
        ("-180,-85,180,85", "http://www.opengis.net/def/crs/EPSG/0/3857"),
        ("0,-90,180,90", None),
        ("60,0,160,60", None),
    ],
)
def test_whole_world_bbox_returns_every_grid(world, bbox, bbox_crs):
    params = {"bbox": bbox, "limit": 1000}
    if bbox_crs:
        lo = pyproj.Transformer.from_crs(4326, 3857, always_xy=True)
        a, b, c_, d = (float(v) for v in bbox.split(","))
        params["bbox"] = ",".join(str(v) for v in (*lo.transform(a, b), *lo.transform(c_, d)))
        params["bbox-crs"] = bbox_crs
    got = world["client"].get("/collections/grids/items", params=params).json()
    assert got["numberMatched"] == len(world["codes"])
    none = world["client"].get("/collections/grids/items", params={"bbox": "-80,-60,-70,-50"})
    assert none.json()["numberMatched"] == 0


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/collections/nothing", {}, 404),
        ("/collections/nothing/items", {}, 404),
        ("/collections/grids/items", {"bbox": "1,2,3"}, 400),
        ("/collections/grids/items", {"bbox": "5,5,1,1"}, 400),
        ("/collections/grids/items", {"crs": "EPSG:2000"}, 400),
        ("/collections/grids/items", {"limit": 0}, 422),
        ("/collections/grids/items/none", {}, 404),
        ("/tiles/30/0/0.mvt", {}, 400),
        ("/tiles/3/9/0.mvt", {}, 400),
    ],
)
def test_features_and_tiles_bad_requests(world, path, params, status):
    r = world["client"].get(path, params=params)
    assert r.status_code == status
    assert r.json()["detail"]


def test_a_nul_character_in_a_query_is_400_not_5xx(world):
    """psycopg refuses NUL in text before the query reaches PostgreSQL: the caller's input
    (found by the fuzzing as admin: it was a 503)."""
    r = world["client"].get(
        "/notifications",
        params={"department": ["cg", "y\x00"]},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert r.status_code == 400, r.text
    assert "NUL" in r.json()["detail"]


def _tile_of(lon, lat, z):
    n = 2**z
    x = int((lon + 180) / 360 * n)
    lat_r = np.radians(lat)
    y = int((1 - np.log(np.tan(lat_r) + 1 / np.cos(lat_r)) / np.pi) / 2 * n)
    return x, y


@pytest.mark.parametrize(
    ("role", "with_counts"),
    [(None, False), ("county_editor", True), ("other_county", False), ("other_city", False)],
)
def test_vector_tile(world, role, with_counts):
    _code, geom = _grids(world["url"])[0]
    lon, lat = TO_WGS.transform(*_inner_point(geom))
    x, y = _tile_of(lon, lat, 14)
    r = world["client"].get(f"/tiles/14/{x}/{y}.mvt", headers=auth(world, role))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    tile = mapbox_vector_tile.decode(r.content)
    assert {"grids", "divisions"} <= set(tile)
    grids = tile["grids"]["features"]
    codes = {f["properties"]["grid_code"] for f in grids}
    assert _code in codes  # the grid under the tile's centre point is drawn
    assert all(f["geometry"]["type"] in {"Polygon", "MultiPolygon"} for f in grids)
    current = {c for c, _ in _grids(world["url"])}
    assert codes <= current  # only current grids, never retired ones
    assert all(f["properties"]["grid_name"] for f in grids)
    # counts only for callers who may read them (and only inside their division)
    assert any("households" in f["properties"] for f in grids) is with_counts
    assert tile["divisions"]["features"]
    empty = world["client"].get("/tiles/14/0/0.mvt")
    assert empty.status_code == 200 and empty.content == b""


# -- refresh on NOTIFY -----------------------------------------------------------------


def test_index_refreshes_on_notify(world):
    c, url = world["client"], world["url"]
    code, geom = _grids(url)[2]
    lon, lat = TO_WGS.transform(*_inner_point(geom))
    gen = c.get("/admin/index", headers=auth(world, "admin")).json()["generation"]
    with psycopg.connect(url) as conn:
        sid = conn.execute(
            "INSERT INTO registry.staff (person_name, phone, is_sample) "
            "VALUES ('示例新网格员', '100-0000-5555', true) RETURNING staff_id"
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO registry.staff_assignment (staff_id, grid_code, role, posted, "
            "valid_from) VALUES (%s, %s, 'professional', true, '2000-01-01')",
            (sid, code),
        )
    deadline = time.monotonic() + 15
    names: list[str] = []
    while time.monotonic() < deadline:
        names = [
            x["name"] for x in c.get("/locate", params={"lon": lon, "lat": lat}).json()["contacts"]
        ]
        if "示例新网格员" in names:
            break
        time.sleep(0.2)
    assert "示例新网格员" in names
    status = c.get("/admin/index", headers=auth(world, "admin")).json()
    assert status["generation"] > gen and status["listening"] is True
    assert status["grids"] == len(world["codes"])


def test_index_refreshes_after_an_accepted_changeset(world):
    import geopandas as gpd

    c, url = world["client"], world["url"]
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT grid_code, grid_name, grid_type, community_code, households, population, "
            "ST_AsBinary(geom) FROM registry.current_grid WHERE community_code = "
            "(SELECT max(community_code) FROM registry.current_grid) ORDER BY grid_code"
        ).fetchall()
    frame = gpd.GeoDataFrame(
        [r[:-1] for r in rows],
        columns=[
            "grid_code",
            "grid_name",
            "grid_type",
            "community_code",
            "households",
            "population",
        ],
        geometry=[shapely.from_wkb(bytes(r[-1])) for r in rows],
        crs=3826,
    )
    frame.loc[0, "grid_name"] = "改名后的网格"
    admin = Principal("test", "admin")
    res = load_grids(url, frame, county="110101", actor=admin, code_pattern=r"\d{12}")
    file_changeset(url, res.changeset_id, actor=admin, force=True, force_reason="test data")
    lon, lat = TO_WGS.transform(*_inner_point(frame.geometry.iloc[0]))
    before = c.get("/locate", params={"lon": lon, "lat": lat}).json()["grid"]["name"]
    accept_changeset(url, res.changeset_id, actor=Principal("test reviewer", "admin"))
    deadline = time.monotonic() + 15
    name = before
    while time.monotonic() < deadline and name == before:
        time.sleep(0.2)
        name = c.get("/locate", params={"lon": lon, "lat": lat}).json()["grid"]["name"]
    assert before != "改名后的网格"
    assert name == "改名后的网格"


def test_health_and_openapi(world):
    c = world["client"]
    assert c.get("/health").json()["status"] == "ok"
    paths = c.get("/openapi.json").json()["paths"]
    for p in (
        "/locate",
        "/locate/batch",
        "/collections/{collection_id}/items",
        "/tiles/{z}/{x}/{y}.mvt",
        "/departments",
        "/categories",
        "/coverage",
    ):
        assert p in paths


def test_locate_warns_when_lonlat_numbers_come_with_a_metric_crs(world):
    client = world["client"]
    r = client.get("/locate", params={"lon": 121.54, "lat": 25.03, "crs": "epsg:3826"})
    assert r.status_code == 200, r.text
    assert "look like longitude/latitude" in " ".join(r.json()["warnings"])
    _code, geom = _grids(world["url"])[0]
    x, y = _inner_point(geom)
    lon, lat = TO_WGS.transform(x, y)
    assert "warnings" not in client.get("/locate", params={"lon": lon, "lat": lat}).json()


def test_locate_fast_path_answers_as_the_route(world):
    """The common GET /locate (public, lon/lat/crs/category) is answered before FastAPI's
    routing (LocateFastPath); an extra parameter sends it through the route: same answer."""
    c = world["client"]
    lon, lat = _batch_points(world, 12, seed=11)
    cases = [{"lon": float(a), "lat": float(b)} for a, b in zip(lon, lat, strict=True)]
    cases += [
        {"lon": float(lon[0]), "lat": float(lat[0]), "category": "sanitation"},
        {"lon": float(lon[1]), "lat": float(lat[1]), "category": "no-such-category"},
        {"lon": float(lon[2]), "lat": float(lat[2]), "category": ""},
        {"lon": float(lon[3]), "lat": float(lat[3]), "crs": "gcj02"},
        {"lon": 250.0, "lat": 25.0},  # an error: the route says what is wrong
        {"lon": 121.5, "lat": 25.0, "crs": "EPSG:3826"},  # a warning
    ]
    for params in cases:
        fast = c.get("/locate", params=params)
        routed = c.get("/locate", params={**params, "via": "route"})
        assert fast.status_code == routed.status_code, params
        assert fast.json() == routed.json(), params
        assert fast.headers["content-type"] == routed.headers["content-type"]
        assert fast.headers["content-security-policy"] == routed.headers["content-security-policy"]


@pytest.mark.parametrize(("role", "status"), [(None, 401), ("dispatcher", 403), ("admin", 200)])
def test_admin_metrics_has_handler_times(world, role, status):
    c = world["client"]
    for _ in range(3):
        c.get("/locate", params={"lon": 121.5, "lat": 25.0})
    r = c.get("/admin/metrics", headers=auth(world, role))
    assert r.status_code == status, r.text
    if status == 200:
        m = r.json()
        h = m["handler_time"]["/locate"]
        assert h["count"] >= 3 and h["p50_ms"] > 0 and h["max_ms"] >= h["p99_ms"]
        assert sum(h["buckets_ms"].values()) == h["count"]
        assert set(m["gc_pauses"]) == {"generation_0", "generation_1", "generation_2"}
        assert m["snapshot_reloads"]["count"] >= 1


@pytest.fixture
def small_chunks(world):
    """Answer /locate/batch in chunks of 50 rows (streamed path) for one test."""
    settings = world["client"].app.state.service_settings
    before = settings.batch_chunk
    settings.batch_chunk = 50
    yield
    settings.batch_chunk = before


def _bodies(lon, lat):
    """The same 120 points as CSV, Arrow IPC and GeoParquet bodies."""
    import pyarrow.parquet as pq

    from gridgeo.locate.encode import wkb_points

    n = len(lon)
    cats = ["sanitation" if i % 2 else None for i in range(n)]
    table = pa.table({"id": [f"p{i}" for i in range(n)], "lon": lon, "lat": lat, "category": cats})
    csv = "id,lon,lat,category\n" + "".join(
        f"p{i},{float(a)!r},{float(b)!r},{c or ''}\n"
        for i, (a, b, c) in enumerate(zip(lon, lat, cats, strict=True))
    )
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    geo = pa.table(
        {"id": table["id"], "category": table["category"], "geometry": wkb_points(lon, lat)}
    )
    pbuf = io.BytesIO()
    pq.write_table(geo, pbuf)
    return {
        "csv": (csv.encode(), "text/csv"),
        "arrow": (sink.getvalue(), "application/vnd.apache.arrow.stream"),
        "parquet": (pbuf.getvalue(), "application/vnd.apache.parquet"),
    }


def _answer_table(fmt, content):
    import pyarrow.parquet as pq

    if fmt == "csv":
        import pyarrow.csv as pacsv

        return pacsv.read_csv(io.BytesIO(content))
    if fmt == "parquet":
        return pq.read_table(io.BytesIO(content))
    return ipc.open_stream(content).read_all()


@pytest.mark.parametrize("fmt", ["csv", "arrow", "parquet"])
def test_batch_streamed_in_chunks_gives_the_whole_answer(world, fmt, small_chunks):
    lon, lat = _batch_points(world, 120, seed=5)
    body, ctype = _bodies(lon, lat)[fmt]
    r = world["client"].post(
        "/locate/batch", content=body, headers={"Content-Type": ctype, **auth(world, "dispatcher")}
    )
    assert r.status_code == 200, r.text
    assert r.headers["x-points"] == "120" and "x-located" not in r.headers
    t = _answer_table(fmt, r.content)
    assert t.column("grid_code").to_pylist() == [
        None if c is None else int(c) if fmt == "csv" else c for c in _expected(world, lon, lat)
    ]
    assert t.column("id").to_pylist() == [f"p{i}" for i in range(120)]
    dep_a = world["deps"][0]["name"]
    deps = t.column("department").to_pylist()
    codes = t.column("grid_code").to_pylist()
    assert all(deps[i] == dep_a for i in range(1, 120, 2) if codes[i] is not None)
    if fmt == "parquet":  # GeoParquet: a point geometry with its CRS
        import geopandas as gpd

        g = gpd.read_parquet(io.BytesIO(r.content))
        assert g.crs.to_epsg() == 4326
        assert np.allclose(g.geometry.x, lon) and np.allclose(g.geometry.y, lat)


@pytest.mark.parametrize("chunked", [True, False], ids=["streamed", "whole"])
def test_batch_geoparquet_answer_reads_back_as_the_arrow_answer(world, small_chunks, chunked):
    """The GeoParquet answer (the service's own Parquet writer) holds, column by column,
    the values and nulls of the Arrow answer to the same body (dictionaries read as text),
    plus the points' geometry; geopandas reads it with its CRS."""
    import geopandas as gpd

    if not chunked:
        world["client"].app.state.service_settings.batch_chunk = 100_000
    lon, lat = _batch_points(world, 260, seed=12)
    body, ctype = _bodies(lon, lat)["parquet"]
    h = {"Content-Type": ctype, **auth(world, "dispatcher")}
    got = {}
    for fmt in ("parquet", "arrow"):
        r = world["client"].post(
            "/locate/batch", content=body, headers=h, params={"format": fmt, "category": "x"}
        )
        assert r.status_code == 200, r.text
        got[fmt] = _answer_table(fmt, r.content)
    pq_table, arrow = got["parquet"], got["arrow"]
    assert pq_table.column_names == [*arrow.column_names, "geometry"]
    for name in arrow.column_names:
        want = arrow.column(name)
        if pa.types.is_dictionary(want.type):
            want = want.cast(pa.string())
        assert pq_table.column(name).to_pylist() == want.to_pylist(), name
    frame = gpd.read_parquet(
        io.BytesIO(
            world["client"]
            .post("/locate/batch", content=body, headers=h, params={"format": "parquet"})
            .content
        )
    )
    assert frame.crs.to_epsg() == 4326  # a one-chunk answer too (its metadata said null)
    assert np.array_equal(frame.geometry.x, lon) and np.array_equal(frame.geometry.y, lat)


@pytest.mark.parametrize("fmt_in", ["csv", "arrow", "parquet"])
def test_batch_geoparquet_answer_of_a_body_without_ids_numbers_its_rows(
    world, small_chunks, fmt_in
):
    """A body without an id column, answered as GeoParquet in chunks: the ids are the row
    numbers over the whole body (the writer writes them itself), as in the Arrow answer."""
    import pyarrow.parquet as pq

    from gridgeo.locate.encode import wkb_points

    lon, lat = _batch_points(world, 130, seed=14)
    if fmt_in == "csv":
        text = "lon,lat\n" + "".join(
            f"{float(a)!r},{float(b)!r}\n" for a, b in zip(lon, lat, strict=True)
        )
        body, ctype = text.encode(), "text/csv"
    elif fmt_in == "arrow":
        sink = io.BytesIO()
        table = pa.table({"lon": lon, "lat": lat})
        with ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
        body, ctype = sink.getvalue(), "application/vnd.apache.arrow.stream"
    else:
        pbuf = io.BytesIO()
        pq.write_table(pa.table({"geometry": wkb_points(lon, lat)}), pbuf, row_group_size=45)
        body, ctype = pbuf.getvalue(), "application/vnd.apache.parquet"
    h = {"Content-Type": ctype, **auth(world, "dispatcher")}
    got = {}
    for fmt in ("parquet", "arrow"):
        r = world["client"].post("/locate/batch", content=body, headers=h, params={"format": fmt})
        assert r.status_code == 200, r.text
        got[fmt] = _answer_table(fmt, r.content)
    assert got["parquet"].column("id").to_pylist() == [str(i) for i in range(130)]
    assert got["arrow"].column("id").to_pylist() == [str(i) for i in range(130)]
    assert got["parquet"].column("lon").to_pylist() == got["arrow"].column("lon").to_pylist()


def test_batch_geoparquet_points_checked_once_bad_last_row_group_is_400(world, small_chunks):
    """A GeoParquet body of several row groups (checked two at a time, points kept): the
    answer's WKB points are the request's bytes; a line in the last row group is a 400
    naming its row before any answer byte."""
    import pyarrow.parquet as pq

    from gridgeo.locate.encode import wkb_points

    lon, lat = _batch_points(world, 300, seed=14)
    wkb = wkb_points(lon, lat)
    h = {"Content-Type": "application/vnd.apache.parquet", **auth(world, "dispatcher")}
    buf = io.BytesIO()
    pq.write_table(pa.table({"geometry": wkb}), buf, row_group_size=40)
    r = world["client"].post("/locate/batch", content=buf.getvalue(), headers=h)
    assert r.status_code == 200, r.text
    answer = pq.read_table(io.BytesIO(r.content))
    assert answer.column("geometry").to_pylist() == wkb.to_pylist()
    values = wkb.to_pylist()
    values[297] = shapely.to_wkb(shapely.linestrings([[121.5, 25.0], [121.6, 25.1]]))
    buf = io.BytesIO()
    pq.write_table(pa.table({"geometry": pa.array(values, pa.binary())}), buf, row_group_size=40)
    r = world["client"].post("/locate/batch", content=buf.getvalue(), headers=h)
    assert r.status_code == 400, r.text
    assert {(p["row"], p["field"]) for p in r.json()["problems"]} == {(297, "geometry")}


def test_batch_streamed_equals_whole(world, small_chunks):
    """Chunked CSV out is byte for byte the one-piece answer (here: row numbers as ids)."""
    lon, lat = _batch_points(world, 130, seed=6)
    body = "lon,lat\n" + "".join(
        f"{float(a)!r},{float(b)!r}\n" for a, b in zip(lon, lat, strict=True)
    )
    h = {"Content-Type": "text/csv", **auth(world, "dispatcher")}
    streamed = world["client"].post("/locate/batch", content=body, headers=h)
    settings = world["client"].app.state.service_settings
    settings.batch_chunk = 100_000
    whole = world["client"].post("/locate/batch", content=body, headers=h)
    assert streamed.status_code == whole.status_code == 200
    assert "x-located" in whole.headers
    assert streamed.content == whole.content


def test_batch_streamed_reports_bad_rows_of_late_chunks(world, small_chunks, body_held):
    lon, lat = _batch_points(world, 150, seed=7)
    rows = [f"{float(a)!r},{float(b)!r}" for a, b in zip(lon, lat, strict=True)]
    rows[3] = f"{float(lon[3])!r},"
    rows[131] = f"abc,{float(lat[131])!r}"
    r = world["client"].post(
        "/locate/batch",
        content="lon,lat\n" + "\n".join(rows) + "\n",
        headers={"Content-Type": "text/csv", **auth(world, "dispatcher")},
    )
    assert r.status_code == 400, r.text
    assert "bad coordinate" in r.json()["detail"]
    got = {(p["row"], p["field"]) for p in r.json()["problems"]}
    assert got == {(3, "lat"), (131, "lon")}


@pytest.fixture(params=["in memory", "spooled"])
def body_held(request, world):
    """The batch body held in memory (the default) or spooled to a temporary file."""
    settings = world["client"].app.state.service_settings
    before = settings.batch_memory_bytes
    if request.param == "spooled":
        settings.batch_memory_bytes = 0
    yield request.param
    settings.batch_memory_bytes = before


@pytest.mark.parametrize("fmt", ["csv", "arrow", "parquet"])
def test_batch_streamed_out_of_range_late_row_is_400_before_the_answer(
    world, fmt, small_chunks, body_held
):
    """A longitude out of range in the last chunk is refused before a byte is streamed."""
    lon, lat = _batch_points(world, 150, seed=9)
    lon = np.array(lon, dtype=float)
    lon[140] = 200.0
    body, ctype = _bodies(lon, lat)[fmt]
    r = world["client"].post(
        "/locate/batch", content=body, headers={"Content-Type": ctype, **auth(world, "dispatcher")}
    )
    assert r.status_code == 400, r.text[:300]
    problems = r.json()["problems"]
    assert (problems[0]["row"], problems[0]["field"]) == (140, "lon")


@pytest.mark.parametrize("fmt", ["csv", "arrow", "parquet"])
def test_batch_body_in_memory_or_spooled_gives_the_same_bytes(world, fmt, small_chunks):
    """A body held in memory is answered byte for byte as the same body spooled to a file."""
    lon, lat = _batch_points(world, 260, seed=10)
    body, ctype = _bodies(lon, lat)[fmt]
    h = {"Content-Type": ctype, **auth(world, "dispatcher")}
    settings = world["client"].app.state.service_settings
    before = settings.batch_memory_bytes
    got = {}
    try:
        for held in (1 << 30, 0):
            settings.batch_memory_bytes = held
            got[held] = world["client"].post("/locate/batch", content=body, headers=h)
    finally:
        settings.batch_memory_bytes = before
    answers = list(got.values())
    assert all(r.status_code == 200 for r in answers)
    assert answers[0].content == answers[1].content
    assert _answer_table(fmt, answers[0].content).num_rows == 260


@pytest.mark.parametrize("fmt", ["arrow", "parquet"])
def test_batch_arrow_or_parquet_body_up_to_twice_the_memory_size_is_held(
    world, fmt, small_chunks, monkeypatch, tmp_path
):
    """An Arrow or GeoParquet body of declared length is gathered in memory up to twice
    GRIDGEO_BATCH_MEMORY_BYTES (held once, not joined), spooled past it; the same answer."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    made = []
    real = tempfile.mkstemp
    monkeypatch.setattr(tempfile, "mkstemp", lambda **kw: made.append(1) or real(**kw))
    lon, lat = _batch_points(world, 130, seed=12)
    body, ctype = _bodies(lon, lat)[fmt]
    h = {"Content-Type": ctype, **auth(world, "dispatcher")}
    settings = world["client"].app.state.service_settings
    before = settings.batch_memory_bytes
    got = []
    try:
        for held, spooled in (((len(body) + 1) // 2, 0), (len(body) // 2 - 1, 1)):
            settings.batch_memory_bytes = held
            got.append(world["client"].post("/locate/batch", content=body, headers=h))
            assert len(made) == spooled
            assert list(tmp_path.iterdir()) == []
            made.clear()
    finally:
        settings.batch_memory_bytes = before
    assert [r.status_code for r in got] == [200, 200]
    assert got[0].content == got[1].content
    assert _answer_table(fmt, got[0].content).num_rows == 130


def test_batch_arrow_over_the_point_limit_is_413(world, small_chunks):
    settings = world["client"].app.state.service_settings
    lon, lat = _batch_points(world, 120, seed=8)
    body, ctype = _bodies(lon, lat)["arrow"]
    before = settings.batch_max_points
    settings.batch_max_points = 100
    try:
        r = world["client"].post(
            "/locate/batch",
            content=body,
            headers={"Content-Type": ctype, **auth(world, "dispatcher")},
        )
    finally:
        settings.batch_max_points = before
    assert r.status_code == 413 and "at most 100" in r.json()["detail"]


def test_start_up_reads_the_registry_once(db_url, app_db_url, world):
    """LISTEN comes first, so the listener's re-snapshot on connecting is skipped: one
    registry load (and one tile pre-render) at start-up, not two; a NOTIFY still reloads."""
    app = create_app(
        Settings(database_url=db_url, app_database_url=app_db_url),
        ServiceSettings(admin_token=ADMIN, token_cache_s=0.0, auth_failures_per_min=0),
    )
    with TestClient(app) as c:
        state = app.state.registry_state
        assert state.listening.wait(10)
        time.sleep(0.5)  # the listener is past its start (it does not block on a load)
        assert state.generation == 1  # loaded by the listener or the start-up, not both
        assert app.state.metrics.swaps.n == 1
        with psycopg.connect(world["url"]) as conn:
            conn.execute('NOTIFY gridgeo_registry, \'{"event": "test"}\'')
        deadline = time.monotonic() + 15
        while state.generation < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert state.generation == 2
        assert c.get("/locate", params={"lon": 121.5, "lat": 25.0}).status_code == 200


def test_batch_spooled_body_file_is_removed(world, small_chunks, monkeypatch, tmp_path):
    """A body over GRIDGEO_BATCH_MEMORY_BYTES goes to a temporary file, removed after the
    answer and after a refusal; a body within it never touches the disk."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    made = []
    real = tempfile.mkstemp
    monkeypatch.setattr(tempfile, "mkstemp", lambda **kw: made.append(1) or real(**kw))
    settings = world["client"].app.state.service_settings
    lon, lat = _batch_points(world, 120, seed=11)
    body, ctype = _bodies(lon, lat)["csv"]
    h = {"Content-Type": ctype, **auth(world, "dispatcher")}
    bad = body.replace(b"\np7,", b"\np7,x")
    before = settings.batch_memory_bytes
    try:
        for held in (0, len(body) - 1, len(body)):
            settings.batch_memory_bytes = held
            assert world["client"].post("/locate/batch", content=body, headers=h).status_code == 200
            assert world["client"].post("/locate/batch", content=bad, headers=h).status_code == 400
            assert list(tmp_path.iterdir()) == []
            assert len(made) == (held < len(body)) + (held < len(bad))
            made.clear()
    finally:
        settings.batch_memory_bytes = before


@pytest.mark.parametrize("bad", [False, True])
def test_batch_geoparquet_pages_decoded_while_it_arrives_give_the_same_answer(
    world, small_chunks, body_held, monkeypatch, bad
):
    """A GeoParquet body whose pages are decoded as it arrives (every body here: no size
    floor) is answered byte for byte as without that walk, and a bad row is refused
    with the same 400."""
    import pyarrow.parquet as pq

    from gridgeo.locate import parquetin
    from gridgeo.locate.encode import wkb_points
    from gridgeo.service import routes_locate

    lon, lat = _batch_points(world, 600, seed=12)
    if bad:
        lon[451] = np.nan
    table = pa.table({"id": [f"p{i}" for i in range(600)], "geometry": wkb_points(lon, lat)})
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=250, data_page_size=1000)
    body = sink.getvalue()
    h = {"Content-Type": "application/vnd.apache.parquet", **auth(world, "dispatcher")}
    taken = []
    finish = parquetin.PageScan.finish

    def finished(scan):
        time.sleep(0.2)  # (a test client sends the body at once: let the walk catch up)
        pages = finish(scan)
        taken.append(len(pages))
        return pages

    monkeypatch.setattr(parquetin.PageScan, "finish", finished)
    monkeypatch.setattr(world["client"].app.state.service_settings, "batch_scan_pages", True)
    got = {}
    for floor in (1 << 40, 0):
        monkeypatch.setattr(routes_locate, "_SCAN_MIN_BYTES", floor)
        got[floor] = world["client"].post("/locate/batch", content=body, headers=h)
    off, on = got[1 << 40], got[0]
    assert taken and taken[0] > 0  # the walk ran (only) when on, and decoded pages
    assert len(taken) == 1
    if bad:
        assert off.status_code == on.status_code == 400
        assert off.json() == on.json()
        assert (on.json()["problems"][0]["row"], on.json()["problems"][0]["field"]) == (
            451,
            "geometry",
        )
        return
    assert off.status_code == on.status_code == 200
    assert off.content == on.content
    assert _answer_table("parquet", on.content).num_rows == 600


def test_batch_geoparquet_page_walk_is_off_unless_asked(world, body_held, monkeypatch):
    """GRIDGEO_BATCH_SCAN_PAGES is off by default (on 2 cores the walk slowed the upload
    more than it saved): no walk starts for a GeoParquet body of any size."""
    from gridgeo.locate import parquetin
    from gridgeo.service import routes_locate
    from gridgeo.service.settings import ServiceSettings

    assert ServiceSettings().batch_scan_pages is False
    started = []
    real = parquetin.PageScan.__init__
    monkeypatch.setattr(
        parquetin.PageScan,
        "__init__",
        lambda self, *a, **k: started.append(1) or real(self, *a, **k),
    )
    monkeypatch.setattr(routes_locate, "_SCAN_MIN_BYTES", 0)
    lon, lat = _batch_points(world, 300, seed=13)
    body, ctype = _bodies(lon, lat)["parquet"]
    h = {"Content-Type": ctype, **auth(world, "dispatcher")}
    assert world["client"].post("/locate/batch", content=body, headers=h).status_code == 200
    assert started == []
