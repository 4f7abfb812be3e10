"""Matter lists, the negative list and departments' coverage on the real PostGIS."""

from __future__ import annotations

import zipfile

import geopandas as gpd
import pandas as pd
import psycopg
import pytest
import shapely
from test_registry import COUNTY, EDITOR, REVIEWER, _register, communities_of, grids_of
from typer.testing import CliRunner

from gridgeo.cli import registry as registry_cli
from gridgeo.cli.main import app
from gridgeo.errors import ConflictError, InputError
from gridgeo.registry import (
    accept_changeset,
    draft_assignments,
    file_changeset,
    get_changeset,
    register_departments,
)
from gridgeo.registry.coverage import check_departments
from gridgeo.registry.matter_lists import (
    admission_list,
    catalogue,
    catalogue_history,
    draft_matter_changes,
    may_dispatch_to_grid_worker,
    require_grid_worker_dispatch,
    set_catalogue,
)
from gridgeo.registry.tokens import issue_token

CORE = ["sanitation", "municipal_facilities", "illegal_construction", "market_supervision"]
DEPTS = ["示例区城市管理局", "示例区住房和城乡建设局", "示例区综合执法局", "示例区市场监督管理局"]


@pytest.fixture(scope="module")
def world(db_url):
    grids, communities = grids_of(2), communities_of(2)
    _register(db_url, grids, communities)
    register_departments(
        db_url, pd.DataFrame({"department": DEPTS, "is_sample": True}), actor=REVIEWER
    )
    with psycopg.connect(db_url) as conn:
        set_catalogue(
            conn,
            [
                {"code": c, "name": n, "default_department": d, "is_sample": True}
                for c, n, d in zip(
                    CORE, ["环境卫生", "市政设施", "违章建筑", "市场监管"], DEPTS, strict=True
                )
            ]
            + [
                {
                    "code": "admin_penalty",
                    "name": "行政处罚",
                    "negative": True,
                    "deadline_class": "complex",
                    "is_sample": True,
                }
            ],
            actor="city-reviewer",
        )
    return sorted(grids["grid_code"]), sorted(communities["code"])


def _accept(url, cs):
    file_changeset(url, cs, actor=EDITOR)
    accept_changeset(url, cs, actor=REVIEWER)


def test_coverage_by_grids_and_communities_and_the_check(world, db_url, monkeypatch):
    grids, communities = world
    # three categories on every grid (blank grid_code); sanitation by the whole first
    # community and grid by grid in the second — all but its last grid
    cover = pd.DataFrame({"category": CORE[1:], "department": DEPTS[1:]})
    second = [g for g in grids if g.startswith(communities[1])]
    sanitation = pd.DataFrame(
        {
            "category": "sanitation",
            "department": DEPTS[0],
            "division_code": [communities[0]] + [None] * (len(second) - 1),
            "grid_code": [None, *second[:-1]],
        }
    )
    cs = draft_assignments(
        db_url, county=COUNTY, actor=EDITOR, coverage=pd.concat([cover, sanitation])
    )
    _accept(db_url, cs)
    gaps = check_departments(db_url, county=COUNTY)
    assert list(zip(gaps["grid_code"], gaps["category"], strict=True)) == [
        (second[-1], "sanitation")
    ]
    assert "盘锦兴隆台 第四条" in gaps["basis"].iloc[0]
    monkeypatch.setattr(registry_cli, "_url", lambda: db_url)
    result = CliRunner().invoke(
        app, ["departments", "check", "--county", COUNTY], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 1 and second[-1] in result.output, result.output
    assert "grids lack a lead department" in " ".join(result.output.split())
    zh = CliRunner().invoke(
        app, ["--lang", "zh_CN", "departments", "check", "--county", COUNTY], env={"COLUMNS": "200"}
    )
    assert zh.exit_code == 1 and "个网格缺少包片部门" in zh.output, zh.output
    # a whole community is given by its code; an unknown one is named
    bad = pd.DataFrame(
        {"category": ["sanitation"], "department": [DEPTS[0]], "division_code": ["1"]}
    )
    with pytest.raises(InputError) as err:
        draft_assignments(db_url, county=COUNTY, actor=EDITOR, coverage=bad)
    assert err.value.problems[0].rule == "coverage.division"


def test_coverage_given_as_a_polygon_is_refused(world, db_url):
    square = shapely.box(0, 0, 10, 10)
    drawn = gpd.GeoDataFrame(
        {"category": ["sanitation"], "department": [DEPTS[0]]}, geometry=[square], crs=3826
    )
    with pytest.raises(InputError, match="never a polygon") as err:
        draft_assignments(db_url, county=COUNTY, actor=EDITOR, coverage=drawn)
    assert [(p.rule, p.field) for p in err.value.problems] == [("coverage.polygon", "geometry")]
    wkt = pd.DataFrame({"category": ["sanitation"], "department": [DEPTS[0]], "wkt": [square.wkt]})
    with pytest.raises(InputError, match="never a polygon") as err:
        draft_assignments(db_url, county=COUNTY, actor=EDITOR, coverage=wkt)
    assert [(p.rule, p.field) for p in err.value.problems] == [("coverage.polygon", "wkt")]


def test_matter_admission_filed_and_accepted_and_the_negative_list(
    world, db_url, tmp_path, monkeypatch
):
    with psycopg.connect(db_url) as conn:
        # before admission: in the catalogue but not on the county's list
        no = may_dispatch_to_grid_worker(conn, "sanitation", county=COUNTY)
        assert not no.allowed and "admission list" in no.reason
        monkeypatch.setenv("GRIDGEO_LANG", "zh_CN")  # the reason in the language in use
        no = may_dispatch_to_grid_worker(conn, "sanitation", county=COUNTY)
        assert "网格事项准入清单" in no.reason
        monkeypatch.setenv("GRIDGEO_LANG", "en")
    cs = draft_matter_changes(
        db_url, county=COUNTY, actor=EDITOR, admit=["sanitation", "municipal_facilities"]
    )
    with pytest.raises(InputError) as err:  # a negative-list matter cannot be admitted
        draft_matter_changes(db_url, county=COUNTY, actor=EDITOR, admit=["admin_penalty", "x"])
    assert {p.rule for p in err.value.problems} == {"matters.negative", "matters.catalogue"}
    assert admission_list(db_url, COUNTY) == []  # a draft changes nothing
    _accept(db_url, cs)
    assert get_changeset(db_url, cs).status == "accepted"
    from gridgeo.registry.export import export_changeset  # the city's filing package

    pkg = export_changeset(db_url, cs, tmp_path / "filing.zip")
    with zipfile.ZipFile(pkg) as z:
        text = " ".join(
            z.read(n).decode("utf-8", "replace")
            for n in z.namelist()
            if n.endswith((".html", ".json"))
        )
    assert "admit_matter: 2" in text  # the summary counts the items for the city
    assert admission_list(db_url, COUNTY) == ["municipal_facilities", "sanitation"]
    with psycopg.connect(db_url) as conn:
        assert may_dispatch_to_grid_worker(conn, "sanitation", county=COUNTY).allowed
        neg = may_dispatch_to_grid_worker(conn, "admin_penalty", county=COUNTY)
        assert not neg.allowed and "negative list" in neg.reason and "新乡 第十四条" in neg.basis
        with pytest.raises(ConflictError, match="负面清单"):
            require_grid_worker_dispatch(conn, "admin_penalty")
    # exit is filed too; the history keeps the admission
    out = draft_matter_changes(db_url, county=COUNTY, actor=EDITOR, exit=["municipal_facilities"])
    _accept(db_url, out)
    assert admission_list(db_url, COUNTY) == ["sanitation"]
    with psycopg.connect(db_url) as conn:
        n = conn.execute(
            "SELECT count(*) FROM registry.matter_admission WHERE county_code = %s", (COUNTY,)
        ).fetchone()[0]
    assert n == 2


def test_catalogue_changes_keep_history(world, db_url):
    with psycopg.connect(db_url) as conn:
        before = {c["code"]: c for c in catalogue(conn)}
        assert before["sanitation"]["default_department"] == DEPTS[0]
        conn.commit()
        set_catalogue(
            conn,
            [
                {
                    "code": "sanitation",
                    "name": "环境卫生",
                    "deadline_days": 3,
                    "default_department": DEPTS[2],
                }
            ],
            actor="市审核员",
        )
        conn.commit()
        versions = catalogue_history(conn, "sanitation")
        assert [v["deadline_days"] for v in versions] == [5, 3]
        assert versions[0]["valid_to"] is not None and versions[1]["valid_to"] is None
        assert versions[1]["changed_by"] == "市审核员"
        then = {c["code"]: c for c in catalogue(conn, at=versions[0]["valid_from"])}
        assert then["sanitation"]["default_department"] == DEPTS[0]
        with pytest.raises(InputError, match="not registered") as err:
            set_catalogue(conn, [{"code": "x", "name": "x", "default_department": "无"}], actor="a")
        assert [(p.rule, p.field, p.row) for p in err.value.problems] == [
            ("catalogue.department", "default_department", 0)
        ]


def test_matters_cli_drafts_admission_and_refuses_the_negative_list(world, db_url, monkeypatch):
    monkeypatch.setattr(registry_cli, "_url", lambda: db_url)
    runner = CliRunner()
    token = issue_token(
        db_url, "county-editor", name="test", by="test", role="county_editor", division_code=COUNTY
    ).token
    env = {"COLUMNS": "200"}
    out = runner.invoke(
        app,
        ["matters", "admit", "market_supervision", "--county", COUNTY, "--token", token],
        env=env,
    )
    assert out.exit_code == 0 and "draft change set" in out.output, out.output
    zh = runner.invoke(app, ["--lang", "zh_CN", "matters", "list", "--county", "000000"], env=env)
    assert zh.exit_code == 0 and "000000 的准入清单为空" in zh.output, zh.output
    bad = runner.invoke(
        app, ["matters", "admit", "admin_penalty", "--county", COUNTY, "--token", token], env=env
    )
    assert bad.exit_code == 2 and "negative list" in " ".join(bad.output.split()), bad.output


def test_dispatch_check_and_history_over_the_api(world, db_url):
    from fastapi.testclient import TestClient

    from gridgeo.service.app import create_app
    from gridgeo.service.settings import ServiceSettings
    from gridgeo.settings import Settings

    admin = "test-admin-token-matters"
    app_ = create_app(
        Settings(database_url=db_url), ServiceSettings(admin_token=admin, listen=False)
    )
    h = {"Authorization": f"Bearer {admin}"}
    with TestClient(app_) as client:
        assert client.get("/matters/dispatch-check", params={"category": "x"}).status_code == 401
        r = client.get(
            "/matters/dispatch-check",
            params={"category": "admin_penalty", "county": COUNTY},
            headers=h,
        )
        assert r.status_code == 200 and r.json()["allowed"] is False
        assert "negative list" in r.json()["reason"]
        hist = client.get("/categories/sanitation/history")
        assert hist.status_code == 200 and hist.json()[0]["code"] == "sanitation"
        assert client.get("/categories/nope/history").status_code == 404


def test_catalogue_file_with_chinese_headers(world, db_url, monkeypatch, tmp_path):
    path = tmp_path / "目录.csv"
    path.write_text(
        "事项编码,事项名称,默认责任部门,时限类别,办理时限,负面清单,依据\n"
        f"greenery,园林绿化,{DEPTS[0]},一般,5,否,\n"
        "admin_licence,行政许可,,复杂,10,是,新乡 第十四条\n",
        encoding="gbk",
    )
    monkeypatch.setattr(registry_cli, "_url", lambda: db_url)
    runner = CliRunner()
    admin = issue_token(db_url, "市网格中心管理员", name="test", by="test", role="admin").token
    out = runner.invoke(app, ["matters", "catalogue", str(path), "--token", admin])
    assert out.exit_code == 0 and "admin_licence" in out.output, out.output
    with psycopg.connect(db_url) as conn:
        assert not may_dispatch_to_grid_worker(conn, "admin_licence").allowed
        assert catalogue_history(conn, "greenery")[0]["default_department"] == DEPTS[0]
    bad = tmp_path / "bad.csv"
    bad.write_text("事项编码,事项名称,时限类别\nx,某事,很急\n", encoding="utf-8")
    res = runner.invoke(
        app, ["matters", "catalogue", str(bad), "--token", admin], env={"COLUMNS": "200"}
    )
    assert res.exit_code == 2 and "row 2" in res.output and "时限类别" in res.output, res.output
