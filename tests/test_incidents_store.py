"""Incident intake and storage on the real PostGIS: import, queue, idempotency, the event log."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from incident_world import lonlat, outside_lonlat, seed_world

from gridgeo.crs import wgs84_to_gcj02
from gridgeo.errors import InputError
from gridgeo.incidents import store
from gridgeo.incidents.deadlines import WorkingCalendar
from gridgeo.incidents.ingest import import_file, report_one
from gridgeo.incidents.states import IllegalTransitionError

pytestmark = pytest.mark.db

CAL = WorkingCalendar()


@pytest.fixture(scope="module")
def world(db_url):
    return seed_world(db_url)


def _write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_import_csv_with_chinese_headers_keeps_good_rows_and_reports_bad_lines(world, tmp_path):
    # other tests of the module store cases too (any order): count what this one adds
    with psycopg.connect(world["url"]) as conn:
        cases_before = conn.execute("SELECT count(*) FROM incidents.case").fetchone()[0]
        queued_before, _ = store.list_cases(conn, queued=True)
    g0, g1 = world["grids"][0], world["grids"][-1]
    lon0, lat0 = lonlat(g0[1])
    lon1, lat1 = lonlat(g1[1])
    olon, olat = outside_lonlat(world["grids"])
    future = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%d %H:%M")
    rows = [
        {
            "编号": "A1",
            "经度": lon0,
            "纬度": lat0,
            "事项类别": "sanitation",
            "上报时间": "2025-10-09 09:00",
            "描述": "垃圾",
        },
        {
            "编号": "A2",
            "经度": "",
            "纬度": lat0,
            "事项类别": "sanitation",
            "上报时间": "2025-10-09 09:00",
            "描述": "缺经度",
        },
        {
            "编号": "A3",
            "经度": lat0,
            "纬度": lon0,
            "事项类别": "sanitation",
            "上报时间": "2025-10-09 09:00",
            "描述": "颠倒",
        },
        {
            "编号": "A4",
            "经度": lon1,
            "纬度": lat1,
            "事项类别": "sanitation",
            "上报时间": future,
            "描述": "未来",
        },
        {
            "编号": "A1",
            "经度": lon1,
            "纬度": lat1,
            "事项类别": "sanitation",
            "上报时间": "2025-10-09 09:00",
            "描述": "重复",
        },
        {
            "编号": "A5",
            "经度": olon,
            "纬度": olat,
            "事项类别": "sanitation",
            "上报时间": "2025-10-09 10:00",
            "描述": "网格外",
        },
        {
            "编号": "A6",
            "经度": lon1,
            "纬度": lat1,
            "事项类别": "no_such_thing",
            "上报时间": "2025-10-09 10:00",
            "描述": "未知类别",
        },
        {
            "编号": "A7",
            "经度": lon1,
            "纬度": lat1,
            "事项类别": "noise",
            "上报时间": "2025-10-09 10:00",
            "描述": "无部门",
        },
    ]
    path = _write_csv(tmp_path / "cases.csv", rows)
    with psycopg.connect(world["url"]) as conn:
        rep = import_file(conn, path, world["snap"], world["catalog"], chunk_rows=3)
    assert (rep.total, rep.stored, rep.bad, rep.known) == (8, 4, 4, 0)
    where = {(p.row, p.field, p.rule) for p in rep.problems}
    assert where == {
        (3, "lon", "incident.coordinates.missing"),
        (4, "lon", "incident.coordinates.swapped"),
        (5, "reported_at", "incident.reported_at.future"),
        (6, "external_id", "incident.external_id.duplicate"),
    }
    with psycopg.connect(world["url"]) as conn:
        _n, cases = store.list_cases(conn, limit=50)
        by_ext = {c["external_id"]: c for c in cases}
        assert by_ext["A1"]["grid_code"] == g0[0] and by_ext["A1"]["queue_reason"] is None
        assert by_ext["A1"]["routed_department"] == world["deps"]["cg"]
        assert by_ext["A1"]["reported_at"] == datetime(2025, 10, 9, 1, 0, tzinfo=UTC)
        assert by_ext["A1"]["description"] == "垃圾" and by_ext["A1"]["reporter"] == ""
        answer = by_ext["A1"]["locate_answer"]
        assert answer["department"] == "示例区城市管理局" and answer["near_border"] is False
        assert by_ext["A5"]["located"] is False and by_ext["A5"]["queue_reason"] == "outside_grid"
        assert by_ext["A6"]["queue_reason"] == "unknown_category"
        assert by_ext["A7"]["queue_reason"] == "no_department"
        # the registry version: the grid found again at the case's registry time
        again = conn.execute(
            "SELECT grid_code FROM registry.grids_at(%s) WHERE ST_Covers(geom, "
            "(SELECT geom FROM incidents.case WHERE external_id = 'A1'))",
            (by_ext["A1"]["located_as_of"],),
        ).fetchone()[0]
        assert again == g0[0]
        queued, _ = store.list_cases(conn, queued=True)
        assert queued == queued_before + 3
        ev = store.events(conn, by_ext["A1"]["case_id"])
        assert [e["action"] for e in ev] == ["report"]

    # same file again: skipped by its hash; same ids in another file: counted as known
    with psycopg.connect(world["url"]) as conn:
        again = import_file(conn, path, world["snap"], world["catalog"])
        assert again.skipped_file and again.stored == 0
        other = _write_csv(tmp_path / "again.csv", [rows[0], rows[5]])
        rep2 = import_file(conn, other, world["snap"], world["catalog"])
        assert (rep2.stored, rep2.known) == (0, 2)
        assert conn.execute("SELECT count(*) FROM incidents.case").fetchone()[0] == cases_before + 4


def test_xlsx_and_geojson_imports(world, tmp_path):
    import openpyxl

    lon, lat = lonlat(world["grids"][1][1])
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["外部编号", "lng", "lat", "类别", "上报时间", "来源"])
    ws.append(["X1", lon, lat, "sanitation", "2025-11-03 10:00", "热线"])
    ws.append(["X2", None, lat, "sanitation", "2025-11-03 10:00", "巡查"])
    wb.save(tmp_path / "cases.xlsx")
    gj = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {
                    "id": "G1",
                    "category": "exposed_rubbish",
                    "reported_at": "2025-11-03T10:00:00+08:00",
                },
            },
        ],
    }
    (tmp_path / "cases.geojson").write_text(json.dumps(gj), encoding="utf-8")
    with psycopg.connect(world["url"]) as conn:
        rx = import_file(conn, tmp_path / "cases.xlsx", world["snap"], world["catalog"])
        rg = import_file(conn, tmp_path / "cases.geojson", world["snap"], world["catalog"])
        assert (rx.stored, rx.bad) == (1, 1) and rx.problems[0].row == 3
        assert rg.stored == 1
        x1 = store.get_case(conn, rx.case_ids[0])
        assert x1["source"] == "hotline" and x1["grid_code"] == world["grids"][1][0]
        g1 = store.get_case(conn, rg.case_ids[0])
        assert (g1["limit_amount"], g1["limit_unit"]) == (4, "hours")


def test_report_in_gcj02_is_located_like_wgs84(world):
    code, geom = world["grids"][2]
    lon, lat = lonlat(geom)
    glon, glat = wgs84_to_gcj02(lon, lat)
    with psycopg.connect(world["url"]) as conn:
        cid = report_one(
            conn,
            {
                "lon": glon,
                "lat": glat,
                "category": "sanitation",
                "description": "手机上报",
                "source": "app",
            },
            world["snap"],
            world["catalog"],
            crs="gcj02",
            tz="Asia/Shanghai",
            role="public",
            actor="匿名",
        )
        case = store.get_case(conn, cid)
        assert case["grid_code"] == code and case["crs"] == "gcj02"
        with pytest.raises(InputError) as err:
            report_one(
                conn,
                {"lon": None, "lat": glat, "category": "sanitation"},
                world["snap"],
                world["catalog"],
                crs="gcj02",
                tz="Asia/Shanghai",
                role="public",
                actor="x",
            )
        assert err.value.problems[0].field == "lon"


def _flow(conn, cid, steps, start):
    at = start
    for role, action, body, dep in steps:
        at += timedelta(hours=1)
        store.record_action(
            conn,
            cid,
            action,
            role=role,
            actor=role,
            body=body,
            actor_department=dep,
            calendar=CAL,
            at=at,
        )
    return at


def test_full_loop_with_rebound_designation_and_append_only_log(world):
    _code, geom = world["grids"][3]
    lon, lat = lonlat(geom)
    cg, zj = world["deps"]["cg"], world["deps"]["zj"]
    with psycopg.connect(world["url"]) as conn:
        cid = report_one(
            conn,
            {
                "lon": lon,
                "lat": lat,
                "category": "sanitation",
                "external_id": "F1",
                "reported_at": "2025-11-03 08:00",
            },
            world["snap"],
            world["catalog"],
            crs="wgs84",
            tz="Asia/Shanghai",
            role="grid_worker",
            actor="网格员",
            evaluation_key="key-F1",
        )
        start = datetime(2025, 11, 3, 0, 0, tzinfo=UTC)
        _flow(
            conn,
            cid,
            [
                ("dispatcher", "accept", {}, None),
                ("dispatcher", "dispatch", {"department": cg}, None),
                ("department", "return", {"reason": "不属本部门"}, cg),
                ("dispatcher", "designate", {"department": [cg, zj], "lead": zj}, None),
            ],
            start,
        )
        case = store.get_case(conn, cid)
        assert (
            case["state"] == "dispatched" and case["designated"] and case["departments"] == [zj, cg]
        )
        # due: 5 working days from Mon 3 Nov (dispatched 02:00 UTC = 10:00 Beijing)
        assert case["due_at"] == datetime(2025, 11, 10, 17, 30, tzinfo=CAL.tz)
        with pytest.raises(IllegalTransitionError) as err:
            store.record_action(
                conn,
                cid,
                "return",
                role="department",
                actor="zj",
                body={"reason": "again"},
                actor_department=zj,
                calendar=CAL,
            )
        assert err.value.http_status == 409
        conn.rollback()
        at = datetime(2025, 11, 4, 1, 0, tzinfo=UTC)
        _flow(
            conn,
            cid,
            [
                ("dispatcher", "supervise", {"reason": "群众反映强烈"}, None),
                ("department", "handle", {"feedback": "已清理"}, zj),
                ("grid_worker", "verify_fail", {"reason": "仍有垃圾"}, None),
                ("department", "handle", {"feedback": "再次清理"}, zj),
                ("grid_worker", "verify_pass", {}, None),
                ("dispatcher", "archive", {}, None),
                ("public", "evaluate", {"satisfaction": 4, "evaluation_key": "key-F1"}, None),
            ],
            at,
        )
        case = store.get_case(conn, cid)
        assert case["state"] == "evaluated" and case["satisfaction"] == 4 and case["level"] == 1
        ev = store.events(conn, cid)
        assert [e["action"] for e in ev] == [
            "report",
            "accept",
            "dispatch",
            "return",
            "designate",
            "supervise",
            "handle",
            "verify_fail",
            "handle",
            "verify_pass",
            "archive",
            "evaluate",
        ]
        assert ev[3]["body"]["reason"] == "不属本部门"
        notes = store.notifications(conn, zj)
        assert {n["kind"] for n in notes} >= {"designate", "supervise", "verify_fail"}
    with psycopg.connect(world["url"]) as conn:
        for stmt in (
            "UPDATE incidents.event SET actor = 'x'",
            "DELETE FROM incidents.event",
            "TRUNCATE incidents.event CASCADE",
        ):
            with pytest.raises(psycopg.errors.IntegrityConstraintViolation):
                conn.execute(stmt)
            conn.rollback()


def test_overdue_feedback_needs_a_written_explanation(world):
    lon, lat = lonlat(world["grids"][4][1])
    cg = world["deps"]["cg"]
    with psycopg.connect(world["url"]) as conn:
        cid = report_one(
            conn,
            {"lon": lon, "lat": lat, "category": "exposed_rubbish"},
            world["snap"],
            world["catalog"],
            crs="wgs84",
            tz="Asia/Shanghai",
            role="dispatcher",
            actor="d",
        )
        t0 = datetime(2025, 9, 30, 8, 0, tzinfo=UTC)  # 16:00 Beijing before National Day
        _flow(
            conn,
            cid,
            [
                ("dispatcher", "accept", {}, None),
                ("dispatcher", "dispatch", {"department": cg}, None),
            ],
            t0,
        )
        case = store.get_case(conn, cid)
        # 4 working hours from 18:00 on 30 Sep: 08:30–12:00 and 14:00–14:30 on Thu 9 Oct
        assert case["due_at"] == datetime(2025, 10, 9, 14, 30, tzinfo=CAL.tz)
        late = datetime(2025, 10, 10, 2, 0, tzinfo=UTC)
        _n, overdue = store.list_cases(conn, overdue=True, now=late)
        assert cid in [c["case_id"] for c in overdue]
        with pytest.raises(IllegalTransitionError) as err:
            store.record_action(
                conn,
                cid,
                "handle",
                role="department",
                actor="cg",
                body={"feedback": "done"},
                actor_department=cg,
                calendar=CAL,
                at=late,
            )
        assert "explain the delay" in str(err.value)
        conn.rollback()
        store.record_action(
            conn,
            cid,
            "handle",
            role="department",
            actor="cg",
            body={"feedback": "done", "explanation": "节假日人手不足"},
            actor_department=cg,
            calendar=CAL,
            at=late,
        )
        assert store.get_case(conn, cid)["overdue_explanation"] == "节假日人手不足"


def test_cli_import_reports_lines_and_is_idempotent(world, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from gridgeo.cli import incidents as incidents_cli
    from gridgeo.cli.main import app
    from gridgeo.registry.tokens import issue_token

    monkeypatch.setattr(incidents_cli, "_connect", lambda: psycopg.connect(world["url"]))
    monkeypatch.setattr(incidents_cli, "_url", lambda: world["url"])
    secret = issue_token(world["url"], "导入调度员", name="cli", by="test", role="dispatcher").token
    lon, lat = lonlat(world["grids"][6][1])
    path = _write_csv(
        tmp_path / "cli.csv",
        [
            {
                "案件编号": "C1",
                "经度": lon,
                "纬度": lat,
                "类别": "sanitation",
                "上报时间": "2025-11-03 09:00",
            },
            {
                "案件编号": "C2",
                "经度": lon,
                "纬度": "",
                "类别": "sanitation",
                "上报时间": "2025-11-03 09:00",
            },
        ],
    )
    runner = CliRunner()
    errors = tmp_path / "errors.csv"
    res = runner.invoke(
        app,
        ["incidents", "import", str(path), "--errors", str(errors), "--token", secret],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 1, res.output
    assert "1 new cases stored" in res.output and "1 bad rows" in res.output
    assert "row 3" in res.output and "latitude" in errors.read_text(encoding="utf-8-sig")
    res = runner.invoke(
        app, ["incidents", "import", str(path), "--token", secret], env={"COLUMNS": "200"}
    )
    assert res.exit_code == 0 and "skipped" in res.output
    res = runner.invoke(
        app,
        ["--lang", "zh_CN", "incidents", "import", str(path), "--token", secret],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0 and "已导入过" in res.output and "跳过" in res.output
    res = runner.invoke(app, ["incidents", "import", str(path)], env={"COLUMNS": "200"})
    assert res.exit_code != 0  # no token: nobody to act as
