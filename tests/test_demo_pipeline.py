"""The demo pipeline end to end (without serving) into a fresh database, and the notebooks."""

from __future__ import annotations

from pathlib import Path

import nbformat
import psycopg
import pytest
from nbclient import NotebookClient

from gridgeo.demo.build import build_district
from gridgeo.demo.pipeline import run_demo
from gridgeo.io import read_layer
from gridgeo.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo(db_url: str, tmp_path_factory: pytest.TempPathFactory):
    settings = Settings(database_url=db_url, home=tmp_path_factory.mktemp("home"))
    first = run_demo(settings)
    second = run_demo(settings)
    return settings, first, second


def test_every_step_reports_and_nothing_is_faked(demo):
    _, first, _ = demo
    names = [s.name for s in first.steps]
    assert names == [
        "database",
        "data",
        "partition",
        "registry",
        "sample contacts",
        "staff rules",
        "noticeboards",
        "incidents",
        "patrol tracks",
    ]
    assert all(s.status in {"done", "reused", "skipped"} for s in first.steps)
    skipped = [s for s in first.steps if s.status == "skipped"]
    assert all("not delivered" in s.detail or "waits" in s.detail for s in skipped)


def test_second_run_reuses_everything(demo):
    _, _, second = demo
    by_name = {s.name: s.status for s in second.steps}
    assert by_name["data"] == "reused"
    assert by_name["partition"] == "reused"
    assert by_name["registry"] == "reused"
    assert by_name["sample contacts"] == "reused"


def test_noticeboards_and_public_site_are_written_then_reused(demo):
    _, first, second = demo
    assert {s.name: s.status for s in first.steps}["noticeboards"] == "done"
    site = first.public_dir
    assert (site / "index.html").is_file()
    assert len(list((site / "boards").glob("board_*.pdf"))) == 53
    assert len(list((site / "c").glob("*.html"))) == 53
    assert {s.name: s.status for s in second.steps}["noticeboards"] == "reused"


def test_registry_holds_the_district_and_every_household_once(demo, db_url):
    built = build_district("daan")
    households = read_layer(built.path, "households")
    with psycopg.connect(db_url) as conn:
        n_comm = conn.execute(
            "SELECT count(*) FROM registry.divisions WHERE level = 'community'"
        ).fetchone()[0]
        srid = conn.execute("SELECT registry.srid()").fetchone()[0]
        pts = households.to_crs(srid)
        conn.execute(f"CREATE TEMP TABLE hh (i int, w int, geom geometry(Point, {int(srid)}))")
        with conn.cursor().copy("COPY hh (i, w, geom) FROM STDIN") as copy:
            for i, (w, g) in enumerate(zip(pts["households"], pts.geometry, strict=True)):
                copy.write_row((i, int(w), f"SRID={srid};{g.wkt}"))
        per_point = conn.execute(
            "SELECT hh.i, hh.w, count(g.grid_code) FROM hh "
            "LEFT JOIN registry.current_grid g ON ST_Covers(g.geom, hh.geom) GROUP BY hh.i, hh.w"
        ).fetchall()
    assert n_comm == 53
    counts = [c for _, _, c in per_point]
    assert len(per_point) == len(households)
    assert min(counts) == 1 and max(counts) == 1, "every household point in exactly one grid"
    assert sum(w for _, w, _ in per_point) == 120_675


def test_example_point_locates_to_the_printed_grid(demo):
    settings, first, _ = demo
    from fastapi.testclient import TestClient

    from gridgeo.service import create_app

    ex = first.example
    with TestClient(create_app(settings)) as client:
        body = client.get(
            "/locate",
            params={"lon": ex["lon"], "lat": ex["lat"], "crs": "wgs84", "category": "sanitation"},
        )
        categories = client.get("/categories").json()
    assert body.status_code == 200
    answer = body.json()
    assert answer["grid"]["code"] == ex["grid_code"]
    assert {c["name"] for c in categories} >= {"环境卫生", "消防安全"}
    assert answer["department"]["name"] == "示例区城市管理局（环境卫生科）"
    roles = {c["role"] for c in answer["contacts"]}
    assert "head" in roles and roles & {"full_time", "part_time"}


@pytest.mark.parametrize("name", ["01_partition_a_district.ipynb", "02_locate_and_dispatch.ipynb"])
def test_notebook_runs_top_to_bottom(name, request, tmp_path, monkeypatch):
    path = ROOT / "notebooks" / name
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "notebooks are committed with outputs stripped"
    )
    if name.startswith("02"):
        # as a user runs it: after `make demo` (its first cell reuses the demo; it writes nothing)
        settings = request.getfixturevalue("demo")[0]
        monkeypatch.setenv("GRIDGEO_DATABASE_URL", str(settings.database_url))
        monkeypatch.setenv("GRIDGEO_HOME", str(settings.home))
    else:  # the partition notebook reads files only
        monkeypatch.setenv("GRIDGEO_HOME", str(tmp_path))
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors


def test_demo_dispatcher_token_for_local_use(demo, db_url):
    from gridgeo.demo.people import dispatcher_token
    from gridgeo.registry import audit_log, authenticate

    settings, _first, _ = demo
    token = dispatcher_token(db_url, settings.home)
    assert dispatcher_token(db_url, settings.home) == token  # kept, not re-issued
    who = authenticate(db_url, token)
    assert who.role == "dispatcher" and who.token_name == "demo (local)"
    path = Path(settings.home) / "demo" / "dispatcher.token"
    assert path.stat().st_mode & 0o777 == 0o600
    # the demo's baseline was drafted, filed and accepted by two different registered people
    log = audit_log(db_url)
    decided = log[log["action"] == "accept"]
    filed = log[log["action"] == "file"]
    assert not decided.empty and set(decided["actor"]).isdisjoint(filed["actor"])


def test_demo_reports_exactly_the_one_deliberate_staff_breach(demo, db_url):
    from gridgeo.registry.staff import check_staff

    _, first, second = demo
    step = {s.name: s for s in first.steps}["staff rules"]
    assert "1 deliberate sample breach" in step.detail and "staff.full_time" in step.detail
    assert "every other grid keeps every staffing rule" in step.detail
    assert "every grid has a department for each core category" in step.detail
    assert {s.name: s for s in second.steps}["staff rules"].detail == step.detail
    for profile in ("yongzhou", "xinxiang", "gansu"):  # a full-time worker per grid
        breaches = check_staff(db_url, profile=profile)
        assert list(breaches["rule"]) == ["staff.full_time"], (profile, breaches)
        assert "part-time grid workers only" in breaches["message"].iloc[0]  # tests run in English
    for profile in ("jiangmen", "panjin"):  # no full-time rule there: nothing to report
        assert check_staff(db_url, profile=profile).empty, profile


def test_demo_matter_list_admits_the_sample_categories(demo, db_url):
    from gridgeo.registry.matter_lists import admission_list, may_dispatch_to_grid_worker

    county = "63000030"
    assert "sanitation" in admission_list(db_url, county)
    with psycopg.connect(db_url) as conn:
        assert may_dispatch_to_grid_worker(conn, "sanitation", county=county).allowed
