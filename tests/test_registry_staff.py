"""Staff rules on the real PostGIS: roster import (Chinese headers), change sets, the check."""

from __future__ import annotations

import json

import psycopg
import pytest
from test_registry import (
    ADMIN,
    COUNTY,
    EDITOR,
    PATTERN,
    REVIEWER,
    _register,
    communities_of,
    grids_of,
)
from typer.testing import CliRunner

from gridgeo.cli import registry as registry_cli
from gridgeo.cli.main import app
from gridgeo.errors import InputError
from gridgeo.registry import accept_changeset, contacts_at, file_changeset, validate_changeset
from gridgeo.registry.bindings import bind_profile
from gridgeo.registry.staff import check_staff, import_roster, read_roster, roster

HEADER = "网格编码,岗位,姓名,联系电话,身份证号\n"


@pytest.fixture(scope="module")
def staffed(db_url):
    """Four registered grids; a roster breaking one rule in each of grids 2–4."""
    return _staffed(db_url)


def _staffed(db_url):
    grids, communities = grids_of(2), communities_of(2)
    _register(db_url, grids, communities)
    g = sorted(grids["grid_code"])[:4]
    rows = [
        (g[0], "网格长", "示例网格长01", "100-0000-0001", "110101199001011234"),
        (g[0], "专职网格员", "示例网格员001", "100-0000-0002", ""),
        (g[1], "专职网格员", "示例网格员002", "100-0000-0003", ""),  # no head
        (g[2], "网格长", "示例网格长03", "100-0000-0004", ""),
        (g[2], "兼职网格员", "示例网格员003", "100-0000-0005", ""),  # part-timer only
        (g[3], "网格长", "示例网格长04", "100-0000-0006", ""),
        (g[3], "专职网格员", "示例网格员004", "100-0000-0007", ""),
    ]
    rows += [(c, "专业网格员", "示例专业员01", "100-0000-0008", "") for c in g[:3]]  # 3 grids
    return g, rows


def _roster_file(tmp_path, rows, name="roster.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_text(HEADER + "".join(",".join(r) + "\n" for r in rows), encoding=encoding)
    return path


def test_bad_roster_names_row_and_field_and_writes_nothing(staffed, tmp_path, db_url):
    g, rows = staffed
    bad = [*rows[:2], (g[1], "组长", "示例甲", "1", ""), (g[1], "专职网格员", "", "2", "12345")]
    with pytest.raises(InputError) as err:
        read_roster(_roster_file(tmp_path, bad))
    where = {(p.row, p.field, p.rule) for p in err.value.problems}
    assert (4, "岗位", "roster.role") in where
    assert (5, "姓名", "roster.empty") in where
    assert (5, "身份证号", "roster.id_number") in where
    with psycopg.connect(db_url) as conn:  # other tests may have imported a roster already
        staff_before = conn.execute("SELECT count(*) FROM registry.staff").fetchone()[0]
        rosters_before = conn.execute(
            "SELECT count(*) FROM registry.changeset WHERE title = 'staff roster'"
        ).fetchone()[0]
    with pytest.raises(InputError) as err:  # a grid of another county: nothing is written
        import_roster(
            db_url,
            read_roster(_roster_file(tmp_path, [(f"{COUNTY}9", "网格长", "甲", "1", "")])),
            county=COUNTY,
            actor=EDITOR,
        )
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM registry.staff").fetchone()[0] == staff_before
        assert (
            conn.execute(
                "SELECT count(*) FROM registry.changeset WHERE title = 'staff roster'"
            ).fetchone()[0]
            == rosters_before
        )


def test_roster_import_filing_and_the_check(staffed, tmp_path, db_url, monkeypatch):
    g, rows = staffed
    path = _roster_file(tmp_path, rows, encoding="gbk")  # GBK CSVs from Excel are common
    cs = import_roster(db_url, read_roster(path), county=COUNTY, actor=EDITOR)
    assert contacts_at(db_url).empty  # a draft changes nothing
    # Filing reports the breaches of the profile to the city (warnings, not a block).
    warnings = validate_changeset(db_url, cs, code_pattern=PATTERN, profile="jiangmen")
    assert {(p.rule, p.row) for p in warnings} >= {("staff.head", g[1])}
    bind_profile(
        db_url, COUNTY, "jiangmen", actor=ADMIN, code_pattern=PATTERN, receiver_code="63000"
    )
    file_changeset(db_url, cs, actor=EDITOR)
    with psycopg.connect(db_url) as conn:
        validation = conn.execute(
            "SELECT validation FROM registry.changeset WHERE changeset_id = %s", (cs,)
        ).fetchone()[0]
    assert {
        w["grid"] for w in validation["staff"] if w["rule"] == "staff.professional_limit"
    } == set(g[:3])
    accept_changeset(db_url, cs, actor=REVIEWER)

    jiangmen = check_staff(db_url, profile="jiangmen", county=COUNTY)
    head = jiangmen[jiangmen["rule"] == "staff.head"]
    assert set(head["grid_code"]) >= {g[1]} and g[0] not in set(head["grid_code"])
    pro = jiangmen[jiangmen["rule"] == "staff.professional_limit"]
    assert set(pro["grid_code"]) == set(g[:3])
    assert "serves 3 grids (at most 2)" in pro["message"].iloc[0]  # tests run in English
    assert "江门 第十条" in pro["basis"].iloc[0]

    yongzhou = check_staff(db_url, profile="yongzhou", county=COUNTY)
    full = yongzhou[yongzhou["rule"] == "staff.full_time"].set_index("grid_code")
    assert g[2] in full.index and "part-time grid workers only" in full.loc[g[2], "message"]
    assert g[0] not in full.index and g[3] not in full.index
    assert yongzhou[yongzhou["rule"] == "staff.professional_limit"].empty  # not a yongzhou rule

    # Real-name fields: stored, shown only when asked for an authorised role.
    assert set(roster(db_url, county=COUNTY)["id_number"]) == {""}
    assert "110101199001011234" in set(roster(db_url, county=COUNTY, real_name=True)["id_number"])
    assert "id_number" not in contacts_at(db_url).columns

    # The CLI reports the same grids and exits 1.
    runner = CliRunner()
    monkeypatch.setattr(registry_cli, "_url", lambda: db_url)
    result = runner.invoke(
        app, ["staff", "check", "--profile", "jiangmen", "--county", COUNTY], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 1, result.output
    assert g[1] in result.output and "staff.professional_limit" in result.output
    assert "grids break the staffing rules" in result.output
    zh = runner.invoke(
        app,
        ["--lang", "zh_CN", "staff", "check", "--profile", "jiangmen", "--county", COUNTY],
        env={"COLUMNS": "250"},
    )
    assert zh.exit_code == 1 and "个网格不符合人员配置规则" in zh.output, zh.output
    json.dumps(validation)  # the filing record is plain JSON for the city's package


def test_staff_check_over_the_api(fresh_db_url, tmp_path):
    from fastapi.testclient import TestClient

    from gridgeo.service.app import create_app
    from gridgeo.service.settings import ServiceSettings
    from gridgeo.settings import Settings

    # a database of its own with the roster accepted: independent of the module's order
    db_url = fresh_db_url
    g, rows = _staffed(db_url)
    cs = import_roster(
        db_url, read_roster(_roster_file(tmp_path, rows)), county=COUNTY, actor=EDITOR
    )
    bind_profile(
        db_url, COUNTY, "jiangmen", actor=ADMIN, code_pattern=PATTERN, receiver_code="63000"
    )
    file_changeset(db_url, cs, actor=EDITOR)
    accept_changeset(db_url, cs, actor=REVIEWER)
    admin = "test-admin-token-staff"
    app = create_app(
        Settings(database_url=db_url), ServiceSettings(admin_token=admin, listen=False)
    )
    with TestClient(app) as client:
        assert client.get("/staff/check").status_code == 401  # public: no
        r = client.get(
            "/staff/check",
            params={"profile": "jiangmen", "county": COUNTY},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert r.status_code == 200, r.text
        rules = {(b["rule"], b["grid_code"]) for b in r.json()}
        assert ("staff.head", g[1]) in rules and ("staff.professional_limit", g[0]) in rules
        bad = client.get(
            "/staff/check",
            params={"profile": "nowhere"},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert bad.status_code == 400 and "nowhere" in bad.json()["detail"]
        h = {"Authorization": f"Bearer {admin}"}
        r = client.post("/admin/tokens", json={"role": "dispatcher", "label": "d"}, headers=h)
        dispatcher = {"Authorization": f"Bearer {r.json()['token']}"}
        real = client.get("/staff/roster", params={"county": COUNTY}, headers=h).json()
        assert "110101199001011234" in {p["id_number"] for p in real}
        masked = client.get("/staff/roster", params={"county": COUNTY}, headers=dispatcher)
        assert masked.status_code == 200 and {p["id_number"] for p in masked.json()} == {""}
        assert client.get("/staff/roster").status_code == 401


def test_xlsx_roster_with_chinese_role_words(tmp_path):
    import pandas as pd

    path = tmp_path / "名册.xlsx"
    pd.DataFrame(
        {
            "网格编码": ["63000030001001", "63000030001001"],
            "岗位": ["网格长", "专业"],
            "姓名": ["示例甲", "示例乙"],
            "联系电话": ["100-0000-0001", None],
            "选配单位": [None, "示例区住建局"],
        }
    ).to_excel(path, index=False)
    roster_ = read_roster(path)
    assert list(roster_["role"]) == ["head", "professional"]
    assert list(roster_.index) == [2, 3]  # rows as a spreadsheet numbers them
    assert list(roster_["unit"]) == ["", "示例区住建局"]
