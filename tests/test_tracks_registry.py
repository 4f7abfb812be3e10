"""Patrol tracks in PostGIS: import once (hash), month partitions, stats from stored fixes."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from sqlalchemy import create_engine, text

from gridgeo.database.connect import sqlalchemy_url
from gridgeo.registry.history import grids_at
from gridgeo.registry.tracks import import_file, patrol_stats
from gridgeo.testing import seed_registry
from gridgeo.times import local_today

# after the seeded grids became valid, and not the China-local today on which the demo step
# (test_demo_step_…) walks: a UTC clock is on the day before from 16:00 to 24:00 UTC
DAY = local_today() + timedelta(days=1)


@pytest.fixture(scope="module")
def district(db_url):
    seed_registry(db_url, 2, 2)
    grids = grids_at(db_url)
    eng = create_engine(sqlalchemy_url(db_url))
    with eng.begin() as conn:
        sid = conn.execute(
            text(
                "INSERT INTO registry.staff (person_name, is_sample) VALUES ('示例网格员', true) "
                "RETURNING staff_id"
            )
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO registry.staff_assignment (staff_id, grid_code, role, valid_from) "
                "VALUES (:s, :g, 'full_time', '2020-01-01')"
            ),
            {"s": sid, "g": grids["grid_code"].iloc[0]},
        )
    return db_url, grids, str(sid), eng


def walk_csv(path, grids, worker, minutes, day=DAY):
    """1 fix / 10 s around a 40 m square centred inside the worker's grid, at 1 m/s, on ``day``
    (each test walks on a day of its own, so that tests do not depend on their order)."""
    c = shapely.get_coordinates(grids.geometry.iloc[0].point_on_surface())[0]
    s = np.arange(0, minutes * 60 + 1, 10.0)
    off = s % 160
    side = (off // 40).astype(int)
    u = off % 40
    dx = np.choose(side, [u - 20, 20 + 0 * u, 20 - u, -20 + 0 * u])
    dy = np.choose(side, [-20 + 0 * u, u - 20, 20 + 0 * u, 20 - u])
    tr = pyproj.Transformer.from_crs(grids.crs, 4326, always_xy=True)
    lon, lat = tr.transform(c[0] + dx, c[1] + dy)
    t0 = pd.Timestamp(day).tz_localize("Asia/Shanghai") + pd.Timedelta(hours=9)
    times = (t0 + pd.to_timedelta(s, unit="s")).strftime("%Y-%m-%d %H:%M:%S")
    pd.DataFrame({"网格员编号": worker, "时间": times, "经度": lon, "纬度": lat}).to_csv(
        path, index=False
    )
    return path


def test_import_is_once_and_stats_come_from_the_stored_fixes(district, tmp_path):
    url, grids, worker, eng = district
    path = walk_csv(tmp_path / "walk.csv", grids, worker, 30)
    first = import_file(url, path, by="test")
    again = import_file(url, path, by="test")
    assert first["created"] and not again["created"]
    assert first["file_id"] == again["file_id"] and first["fixes_kept"] == 181
    month = f"y{DAY:%Y}m{DAY:%m}"
    with eng.connect() as conn:
        f = {"f": first["file_id"]}  # other tests' files may share the month
        n_raw = conn.execute(
            text(f"SELECT count(*) FROM restricted.track_fix_raw_{month} WHERE file_id = :f"), f
        )
        n_clean = conn.execute(
            text("SELECT count(*) FROM restricted.track_fix WHERE file_id = :f"), f
        )
        assert (n_raw.scalar(), n_clean.scalar()) == (181, 181)
        # the month's partitions were loaded bare, then indexed once (worker_no, t)
        idx = conn.execute(
            text(
                "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'restricted' "
                "AND tablename IN (:a, :b)"
            ),
            {"a": f"track_fix_raw_{month}", "b": f"track_fix_{month}"},
        ).all()
        assert sorted(t for t, _ in idx) == [f"track_fix_raw_{month}", f"track_fix_{month}"]
        assert all("(worker_no, t)" in d for _, d in idx)
    days, per_grid, problems = patrol_stats(url, DAY, DAY)
    assert per_grid["seconds"].sum() == pytest.approx(1800)
    row = days.set_index("worker").loc[worker]
    assert row["own_s"] == pytest.approx(1800) and row["other_s"] == 0
    assert row["own_grids"] == grids["grid_code"].iloc[0]
    assert problems == []


def test_cli_import_stats_rank_and_map(district, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from gridgeo.cli import tracks as tracks_cli
    from gridgeo.cli.main import app

    url, grids, worker, _eng = district
    day = DAY + timedelta(days=1)
    monkeypatch.setattr(tracks_cli, "_url", lambda: url)
    runner = CliRunner()

    def run(*args):
        res = runner.invoke(app, ["tracks", *args], env={"GRIDGEO_USER": "t", "COLUMNS": "200"})
        assert res.exit_code == 0, res.output
        return res.output

    path = walk_csv(tmp_path / "cli.csv", grids, worker, 130, day)  # 2 h 10 min, no gap
    assert "781 kept" in run("import", str(path))
    assert "not imported again" in run("import", str(path))
    zh = runner.invoke(
        app, ["--lang", "zh_CN", "tracks", "import", str(path)], env={"GRIDGEO_USER": "t"}
    )
    assert zh.exit_code == 0 and "未重复导入" in zh.output, zh.output
    out = tmp_path / "days.xlsx"
    run("stats", "--date", day.isoformat(), "--out", str(out))
    days = pd.read_excel(out, dtype={"worker": str})
    row = days.set_index("worker").loc[worker]
    assert row["own_s"] == pytest.approx(130 * 60)
    assert "no. 1 " in run("rank", "--from", day.isoformat(), "--to", day.isoformat())
    png = tmp_path / "day.png"
    run("map", worker, day.isoformat(), "--out", str(png))
    assert png.read_bytes()[:4] == b"\x89PNG"
    bad = runner.invoke(app, ["tracks", "stats", "--date", "昨天"])
    assert bad.exit_code == 2 and "not a date" in bad.output


def test_http_upload_and_summary_are_role_checked(district, tmp_path):
    from fastapi.testclient import TestClient

    from gridgeo.registry.divisions import register_division
    from gridgeo.service import create_app
    from gridgeo.service.settings import ServiceSettings
    from gridgeo.settings import Settings

    url, grids, worker, eng = district
    day = DAY + timedelta(days=2)
    admin = "tracks-admin-token"
    # a token's division must be registered (registry.user_token → registry.divisions)
    with eng.connect() as conn:
        known = set(conn.execute(text("SELECT code FROM registry.divisions")).scalars())
    for code, name in (("110101", "东城区"), ("999999", "别的区县")):
        if code not in known:
            register_division(url, code, name, level="county")
    app = create_app(
        Settings(database_url=url), ServiceSettings(admin_token=admin, token_cache_s=0.0)
    )
    body = walk_csv(tmp_path / "http.csv", grids, worker, 140, day).read_bytes()
    with TestClient(app) as client:
        tokens = {}
        for name, role, div in (
            ("ed", "county_editor", "110101"),
            ("other", "county_editor", "999999"),
            ("disp", "dispatcher", ""),
        ):
            r = client.post(
                "/admin/tokens",
                json={
                    "user": f"轨迹{name}",
                    "role": role,
                    "division_code": div or None,
                    "name": name,
                },
                headers={"Authorization": f"Bearer {admin}"},
            )
            assert r.status_code == 201, r.text
            tokens[name] = {"Authorization": f"Bearer {r.json()['token']}"}
        params = {"filename": "http.csv"}
        assert client.post("/tracks", params=params, content=body).status_code == 401
        assert (
            client.post("/tracks", params=params, content=body, headers=tokens["disp"]).status_code
            == 403
        )
        r = client.post("/tracks", params=params, content=body, headers=tokens["ed"])
        assert r.status_code == 201 and r.json()["created"], r.text
        r = client.post("/tracks", params=params, content=body, headers=tokens["ed"])
        assert r.status_code == 201 and not r.json()["created"]
        bad = client.post(
            "/tracks", params={"filename": "x.csv"}, content=b"a,b\n1,2\n", headers=tokens["ed"]
        )
        assert bad.status_code == 400 and "经度" in bad.text
        empty = client.post(
            "/tracks", params={"filename": "x.csv"}, content=b"", headers=tokens["ed"]
        )
        assert empty.status_code == 400 and "empty" in empty.json()["detail"]
        assert [p["rule"] for p in empty.json()["problems"]] == ["request.empty"]
        q = {"from": day.isoformat(), "to": day.isoformat()}
        assert client.get("/tracks/summary", params=q).status_code == 401
        r = client.get("/tracks/summary", params=q, headers=tokens["ed"])
        [row] = r.json()["rows"]
        assert row["worker"] == worker and row["own_s"] == pytest.approx(140 * 60)
        assert client.get("/tracks/summary", params=q, headers=tokens["other"]).json()["rows"] == []
        r = client.get("/tracks/summary", params={**q, "period": "week"}, headers=tokens["ed"])
        assert r.json()["rows"][0]["rank"] == 1
        assert (
            client.get("/tracks/summary", params={**q, "to": "x"}, headers=tokens["ed"]).status_code
            == 400
        )
        # the console's day map: role-checked, the editor's own county only
        dq = {"worker": worker, "date": day.isoformat()}
        assert client.get("/tracks/day", params=dq).status_code == 401
        assert client.get("/tracks/day", params=dq, headers=tokens["disp"]).status_code == 403
        assert client.get("/tracks/day", params=dq, headers=tokens["other"]).status_code == 404
        r = client.get("/tracks/day", params=dq, headers=tokens["ed"])
        assert r.status_code == 200, r.text
        fc = r.json()
        kinds = {f["properties"]["kind"] for f in fc["features"]}
        assert {"grid", "track"} <= kinds and fc["properties"]["worker"] == worker
        assert all(
            f["properties"]["in_own"] for f in fc["features"] if f["properties"]["kind"] == "track"
        )
        assert (
            client.get(
                "/tracks/day", params={**dq, "worker": "nobody"}, headers=tokens["ed"]
            ).status_code
            == 404
        )
        assert (
            client.get("/tracks/day", params={**dq, "date": "x"}, headers=tokens["ed"]).status_code
            == 400
        )


def test_demo_step_imports_sample_tracks_once_and_ranks(district):
    from gridgeo.demo.sample import sample_staff
    from gridgeo.demo.tracks import demo_tracks

    url, grids, _worker, eng = district
    staff = sample_staff(grids)
    workers = staff[staff["position"] == "grid_worker"]
    with eng.begin() as conn:
        for r in workers.itertuples(index=False):
            sid = conn.execute(
                text(
                    "INSERT INTO registry.staff (person_name, is_sample) VALUES (:n, true) "
                    "ON CONFLICT (person_name, phone) DO UPDATE SET is_sample = true "
                    "RETURNING staff_id"
                ),
                {"n": r.name},
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO registry.staff_assignment (staff_id, grid_code, role, "
                    "valid_from) VALUES (:s, :g, :r, now() - interval '1 day')"
                ),
                {"s": sid, "g": r.grid_code, "r": r.role},
            )
    status, detail = demo_tracks(url, grids, staff)
    assert status == "done" and "no. 1 " in detail, detail
    status2, _ = demo_tracks(url, grids, staff)
    assert status2 == "reused"
    with eng.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM restricted.track_file WHERE is_sample")
            ).scalar()
            == 1
        )
