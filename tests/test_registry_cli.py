"""The registry CLI end to end on the real PostGIS: load, change …, city …, history …."""

from __future__ import annotations

import zipfile

import geopandas as gpd
import pytest
from test_registry import COUNTY, PATTERN, communities_of, grids_of
from typer.testing import CliRunner

from gridgeo.cli import registry as registry_cli
from gridgeo.cli import users as users_cli
from gridgeo.cli.main import app
from gridgeo.io import write_layers
from gridgeo.registry import audit_log

runner = CliRunner()


def _token(output: str) -> str:
    return next(w for w in output.split() if w.startswith("gg_"))


@pytest.fixture
def cli(fresh_db_url, monkeypatch):
    """Run the CLI as a person: ``user`` names a token issued in :func:`people`."""
    monkeypatch.setattr(registry_cli, "_url", lambda: fresh_db_url)
    monkeypatch.setattr(users_cli, "_url", lambda: fresh_db_url)
    tokens: dict[str, str] = {}

    def run(*args: str, user: str | None = "zhang", code: int = 0) -> str:
        extra = ["--token", tokens[user]] if user else []
        needs = args[0] in ("load", "tokens", "divisions", "households") or args[:2] in (
            ("change", "file"),
            ("city", "profile"),
            ("change", "withdraw"),
            ("change", "assign"),
            ("city", "accept"),
            ("city", "return"),
        )
        result = runner.invoke(app, [*args, *(extra if needs else [])], env={"COLUMNS": "200"})
        assert result.exit_code == code, result.output
        return result.output

    # the database owner bootstraps the first administrator, who registers the rest
    tokens["admin"] = _token(
        run("tokens", "create", "--user", "管理员", "--role", "admin", user=None)
    )
    run("divisions", "add", "63", "台湾省", "--level", "province", user="admin")
    run("divisions", "add", "63000", "臺北市", "--level", "city", "--parent", "63", user="admin")
    run("divisions", "add", "65000", "高雄市", "--level", "city", "--parent", "63", user="admin")
    for code, name in ((COUNTY, "大安區"), ("63000031", "信義區")):
        run("divisions", "add", code, name, "--level", "county", "--parent", "63000", user="admin")
    for user, role, division in (
        ("zhang", "county_editor", COUNTY),
        ("wang", "county_editor", COUNTY),
        ("zhao", "county_editor", "63000031"),
        ("li", "city_reviewer", "63000"),
        ("chen", "city_reviewer", "65000"),
    ):
        out = run(
            "tokens",
            "create",
            "--user",
            user,
            "--role",
            role,
            "--division",
            division,
            "--name",
            f"{user} 的电脑",
            user="admin",
        )
        tokens[user] = _token(out)
    run.tokens = tokens
    run.db_url = fresh_db_url
    return run


def test_cli_walkthrough(cli, tmp_path, fresh_db_url):
    grids, communities = grids_of(2), communities_of(2)
    src = tmp_path / "grids.gpkg"
    write_layers(src, {"grids": grids, "communities": communities})

    # another county's communities: refused (exit 6), nothing drafted, the attempt audited
    cli("load", str(src), "--code-pattern", PATTERN, user="zhao", code=6)
    assert "load_refused" in set(audit_log(cli.db_url)["action"])
    out = cli("load", str(src), "--code-pattern", PATTERN, "--title", "首次登记")
    assert f"draft change set 1: create {len(grids)}" in out
    assert "首次登记" in cli("change", "list")
    assert "create" in cli("change", "show", "1")
    cli("change", "file", "1", code=5)  # no profile bound: refused
    cli("city", "profile", COUNTY, "yongzhou", "--code-pattern", PATTERN, code=6)  # not an admin
    out = cli(
        "city",
        "profile",
        COUNTY,
        "yongzhou",
        "--code-pattern",
        PATTERN,
        "--receiver",
        "63000",
        user="admin",
    )
    assert "bound to profile yongzhou" in out
    assert "validate.size." in cli("change", "validate", "1", code=1)
    cli("change", "file", "1", user="zhao", code=6)  # the neighbour county's editor
    out = cli("change", "file", "1", code=2)  # declared sizes out of band
    assert "validate.size." in out
    cli("change", "file", "1", "--force", code=2)  # force needs a reason
    out = cli("change", "file", "1", "--force", "--force-reason", "现状网格先行登记", user="wang")
    assert "filed with 63000" in out and "forced: validate.size." in out
    out = cli("change", "show", "1")
    assert (
        out.index("forced rule breaks") < out.index("change set 1 ·") and "现状网格先行登记" in out
    )
    assert "declared counts" in out
    cli("change", "file", "1", "--force", "--force-reason", "再次", code=5)
    cli("city", "accept", "1", user="wang", code=6)  # the filer cannot accept
    cli("city", "accept", "1", user="zhang", code=6)  # nor the drafter
    cli("city", "accept", "1", user="chen", code=6)  # nor another city's reviewer
    out = cli("city", "accept", "1", user="li")
    assert f"{len(grids)} opened" in out

    code = sorted(grids["grid_code"])[0]
    p = grids.set_index("grid_code").loc[code, "geometry"].representative_point()
    assert code in cli("history", "point", str(p.x), str(p.y))
    cli("history", "point", str(p.x), str(p.y), "--at", "2000-01-01", code=4)
    assert "version" in cli("history", "grid", code)
    cli("history", "at", "--out", str(tmp_path / "now.gpkg"))
    assert len(gpd.read_file(tmp_path / "now.gpkg")) == len(grids)

    # A change in one community: merge its first two grids.
    layer = grids[grids["community_code"] == grids["community_code"].min()].copy()
    a, b = layer.index[:2]
    layer.loc[a, "geometry"] = layer.loc[a, "geometry"].union(layer.loc[b, "geometry"])
    write_layers(tmp_path / "merge.gpkg", {"grids": layer.drop(index=b).drop(columns="grid_code")})
    # the county is bound (with its code pattern): load needs no --code-pattern any more
    out = cli("load", str(tmp_path / "merge.gpkg"))
    assert "merge 1" in out and "codes to retire" in out
    assert "retired" in cli("change", "diff", "2", "--out", str(tmp_path / "diff.csv"))
    cli("change", "file", "2", "--force", "--force-reason", "现状网格先行登记")
    cli("city", "return", "2", "--reason", "请沿道路中线调整", user="li")
    assert "returned" in cli("change", "list", "--status", "returned")
    cli("city", "accept", "2", user="li", code=5)
    cli("change", "export", "2", "--out", str(tmp_path / "filing.zip"))
    with zipfile.ZipFile(tmp_path / "filing.zip") as zf:
        assert "请沿道路中线调整" in zf.read("summary.html").decode()
    cli("change", "show", "99", code=4)


def test_cli_four_eyes_three_people(cli, tmp_path, fresh_db_url):
    from gridgeo.registry import audit_log

    grids, communities = grids_of(1), communities_of(1)
    write_layers(tmp_path / "g.gpkg", {"grids": grids, "communities": communities})
    cli("load", str(tmp_path / "g.gpkg"), "--code-pattern", PATTERN, user="zhang")  # A drafts
    cli(
        "city",
        "profile",
        COUNTY,
        "yongzhou",
        "--code-pattern",
        PATTERN,
        "--receiver",
        "63000",
        user="admin",
    )
    cli("change", "file", "1", "--force", "--force-reason", "现状先行", user="wang")  # B files
    cli("city", "return", "1", "--reason", "x", user="wang", code=6)  # B may not decide
    cli("city", "accept", "1", user="wang", code=6)
    cli("city", "accept", "1", user="zhang", code=6)  # nor A
    cli("city", "accept", "1", user="li")  # C accepts
    log = audit_log(fresh_db_url, changeset_id=1)
    done = log[~log["action"].str.endswith("_refused")]
    assert list(done["actor"]) == ["zhang", "wang", "li"]  # the authenticated users
    refused = log[log["action"].str.endswith("_refused")]
    assert list(refused["action"]) == ["return_refused", "accept_refused", "accept_refused"]


def test_cli_needs_a_working_token(cli, tmp_path, fresh_db_url, monkeypatch):
    from gridgeo.registry import audit_log

    grids, communities = grids_of(1), communities_of(1)
    write_layers(tmp_path / "g.gpkg", {"grids": grids, "communities": communities})
    src = str(tmp_path / "g.gpkg")
    out = runner.invoke(app, ["load", src, "--county", COUNTY, "--code-pattern", PATTERN])
    assert out.exit_code == 7 and "GRIDGEO_TOKEN" in out.output
    out = runner.invoke(app, ["load", src, "--code-pattern", PATTERN, "--token", "gg_guess"])
    assert out.exit_code == 7 and "unknown token" in out.output
    for flag in ("--user", "--admin", "--city"):
        assert runner.invoke(app, ["city", "accept", "1", flag, "x"]).exit_code == 2

    listed = cli("tokens", "list", user="admin")
    assert "zhang 的电脑" in listed and "county_editor" in listed and "active" in listed
    token_id = next(
        line.split()[1] for line in listed.splitlines() if "zhang 的电脑" in line
    ).strip("│ ")
    assert f"token {token_id} revoked" in cli("tokens", "revoke", token_id, user="admin")
    monkeypatch.setenv("GRIDGEO_LANG", "zh_CN")  # the table's headers in Chinese
    zh = cli("tokens", "list", user="admin")
    assert "名称" in zh and "用户" in zh and "zhang 的电脑" in zh
    monkeypatch.setenv("GRIDGEO_LANG", "en")
    out = cli("load", src, "--code-pattern", PATTERN, user="zhang", code=7)
    assert "revoked" in out
    assert "revoked" in cli("tokens", "list", user="admin")
    # expiry: a token that expires in a second, then is refused with the reason
    import time
    from datetime import datetime, timedelta

    soon = (datetime.now().astimezone() + timedelta(seconds=1)).isoformat()
    out = cli(
        "tokens", "create", "--user", "wang", "--name", "短期", "--expires", soon, user="admin"
    )
    short = _token(out)
    time.sleep(1.2)
    out = runner.invoke(app, ["load", src, "--code-pattern", PATTERN, "--token", short])
    assert out.exit_code == 7 and "expired" in out.output
    log = audit_log(fresh_db_url)
    refused = log[log["action"] == "token_refused"]
    assert set(refused["actor"]) == {"zhang", "wang"}
    # a county editor cannot manage tokens; a scope must be a real division of the right level
    cli("tokens", "list", user="zhang", code=7)  # revoked
    cli("tokens", "list", user="wang", code=6)
    out = cli(
        "tokens",
        "create",
        "--user",
        "x",
        "--role",
        "county_editor",
        "--division",
        "6",
        user="admin",
        code=2,
    )
    assert "is not in the registry" in out
    out = cli(
        "tokens",
        "create",
        "--user",
        "x",
        "--role",
        "county_editor",
        "--division",
        "63000",
        user="admin",
        code=2,
    )
    assert "must be of level county" in out


def test_cli_reads_gridgeo_token(cli, tmp_path):
    from gridgeo.settings import get_settings

    grids, communities = grids_of(1), communities_of(1)
    write_layers(tmp_path / "g.gpkg", {"grids": grids, "communities": communities})
    get_settings.cache_clear()
    try:
        out = runner.invoke(
            app,
            ["load", str(tmp_path / "g.gpkg"), "--code-pattern", PATTERN],
            env={"GRIDGEO_TOKEN": cli.tokens["zhang"], "COLUMNS": "200"},
        )
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    assert "zhang" in cli("change", "list")
