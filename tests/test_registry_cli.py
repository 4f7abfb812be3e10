"""The registry CLI end to end on the real PostGIS: load, change …, city …, history …."""

from __future__ import annotations

import zipfile

import geopandas as gpd
import pytest
from test_registry import COUNTY, PATTERN, communities_of, grids_of
from typer.testing import CliRunner

from gridgeo.cli import registry as registry_cli
from gridgeo.cli.main import app
from gridgeo.io import write_layers
from gridgeo.registry import audit_log

runner = CliRunner()


@pytest.fixture
def cli(fresh_db_url, monkeypatch):
    monkeypatch.setattr(registry_cli, "_url", lambda: fresh_db_url)

    def run(*args: str, user: str = "zhang", code: int = 0) -> str:
        result = runner.invoke(app, list(args), env={"GRIDGEO_USER": user, "COLUMNS": "200"})
        assert result.exit_code == code, result.output
        return result.output

    return run


def test_cli_walkthrough(cli, tmp_path, fresh_db_url):
    grids, communities = grids_of(2), communities_of(2)
    src = tmp_path / "grids.gpkg"
    write_layers(src, {"grids": grids, "communities": communities})

    # another county's communities: refused (exit 6), nothing drafted, the attempt audited
    cli("load", str(src), "--county", "63000031", "--code-pattern", PATTERN, code=6)
    assert "load_refused" in set(audit_log(fresh_db_url)["action"])
    out = cli(
        "load", str(src), "--county", COUNTY, "--code-pattern", PATTERN, "--title", "首次登记"
    )
    assert f"draft change set 1: create {len(grids)}" in out
    assert "首次登记" in cli("change", "list")
    assert "create" in cli("change", "show", "1")
    cli("change", "file", "1", "--county", COUNTY, code=5)  # no profile bound: refused
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
        "--admin",
        user="admin",
    )
    assert "bound to profile yongzhou" in out
    assert "validate.size." in cli("change", "validate", "1", code=1)
    cli("change", "file", "1", "--county", "63000031", code=6)
    out = cli("change", "file", "1", "--county", COUNTY, code=2)  # declared sizes out of band
    assert "validate.size." in out
    cli("change", "file", "1", "--county", COUNTY, "--force", code=2)  # force needs a reason
    out = cli(
        "change", "file", "1", "--county", COUNTY, "--force", "--force-reason", "现状网格先行登记"
    )
    assert "filed with 63000" in out and "forced: validate.size." in out
    out = cli("change", "show", "1")
    assert (
        out.index("forced rule breaks") < out.index("change set 1 ·") and "现状网格先行登记" in out
    )
    assert "declared counts" in out
    cli("change", "file", "1", "--county", COUNTY, "--force", "--force-reason", "再次", code=5)
    cli("city", "accept", "1", code=6)  # the drafter cannot accept
    out = cli("city", "accept", "1", "--city", "63000", user="li")
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
    out = cli("load", str(tmp_path / "merge.gpkg"), "--county", COUNTY)
    assert "merge 1" in out and "codes to retire" in out
    assert "retired" in cli("change", "diff", "2", "--out", str(tmp_path / "diff.csv"))
    cli("change", "file", "2", "--county", COUNTY, "--force", "--force-reason", "现状网格先行登记")
    cli("city", "return", "2", "--reason", "请沿道路中线调整", user="li")
    assert "returned" in cli("change", "list", "--status", "returned")
    cli("city", "accept", "2", user="li", code=5)
    cli("change", "export", "2", "--out", str(tmp_path / "filing.zip"))
    with zipfile.ZipFile(tmp_path / "filing.zip") as zf:
        assert "请沿道路中线调整" in zf.read("summary.html").decode()
    cli("change", "show", "99", code=4)
