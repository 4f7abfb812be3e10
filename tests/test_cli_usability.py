"""CLI rough edges a county centre meets first: codes cut at 80 columns, raw dicts, lon/lat
read as metres, a re-partition that cannot be forced, a code scheme typed on every command."""

from __future__ import annotations

import re

import pytest
from test_registry import COUNTY, DAAN, _register, communities_of, grids_of
from typer.testing import CliRunner

from gridgeo.cli import registry as registry_cli
from gridgeo.cli.main import app
from gridgeo.registry import grids_at
from gridgeo.registry.divisions import register_division
from gridgeo.registry.tokens import issue_token

runner = CliRunner()


@pytest.fixture(scope="module")
def registered(db_url):
    grids, communities = grids_of(2), communities_of(2)
    _register(db_url, grids, communities)
    register_division(db_url, COUNTY, "大安区", level="county")
    return db_url


@pytest.fixture(scope="module")
def token(registered):
    """A county editor's token: the registry commands act as its user."""
    return issue_token(
        registered, "zhang", name="cli", by="test", role="county_editor", division_code=COUNTY
    ).token


@pytest.fixture
def cli(registered, monkeypatch):
    monkeypatch.setattr(registry_cli, "_url", lambda: registered)

    def run(*args: str, code: int = 0) -> str:
        res = runner.invoke(app, list(args), env={"GRIDGEO_USER": "zhang", "COLUMNS": "80"})
        assert res.exit_code == code, res.output
        return res.output

    return run


def test_codes_are_never_cut_at_80_columns(cli, registered):
    codes = sorted(grids_at(registered)["grid_code"])
    out = cli("history", "at")
    assert max(len(line) for line in out.splitlines()) <= 80
    shown = set(re.findall(r"\b\d{14}\b", out))
    assert set(codes) <= shown
    assert "…" not in "".join(line for line in out.splitlines() if re.search(r"\d{6}", line))
    show = cli("change", "show", "1")
    assert {c[:11] for c in codes} <= set(re.findall(r"\b\d{11}\b", show))


def test_history_point_refuses_lonlat_read_as_metres(cli):
    out = cli("history", "point", "121.54", "25.03", code=2)
    assert "look like longitude/latitude" in out and "--crs" in out


def test_repartition_can_be_forced_and_uses_the_bound_code_scheme(registered, token, monkeypatch):
    """--force redraws every grid of the community; no --code-pattern: the binding has it."""
    before = grids_at(registered)
    community = sorted(before["community_code"])[0]
    monkeypatch.setattr(registry_cli, "_url", lambda: registered)
    res = runner.invoke(
        app,
        [
            "change",
            "repartition",
            community,
            "--households",
            f"{DAAN}:households",
            "--county",
            COUNTY,
            "--force",
            "--token",
            token,
        ],
        env={"COLUMNS": "80"},
    )
    assert res.exit_code == 0, res.output
    mine = before[before["community_code"] == community]
    assert f"redrawn: {', '.join(sorted(mine['grid_code']))}" in res.output.replace("\n", " ")
    assert "{" not in res.output  # no raw Python dicts


def test_the_width_follows_columns_within_one_process(monkeypatch):
    """rich fixes a console's width from COLUMNS when it is made: a program running the CLI's
    commands in one process (a notebook, a test runner, a county centre's script) with another
    COLUMNS later still gets that width, also through a module that imported ``console``
    before."""
    from gridgeo.cli import _common, users  # users binds ``console`` at import

    monkeypatch.setattr(_common, "_CONSOLES", {})  # none made yet, as in a new process
    monkeypatch.setenv("COLUMNS", "60")
    assert _common.console.width == 60
    monkeypatch.setenv("COLUMNS", "200")
    assert _common.console.width == 200
    assert users.console.width == 200
    monkeypatch.setenv("LINES", "40")
    assert users.console.height == 40
