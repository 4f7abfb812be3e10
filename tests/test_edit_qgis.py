"""The QGIS round trip (issue 19): export a community's grids and blocks as a styled
GeoPackage, edit it as QGIS would (reassign a block, drag a vertex), import it as a
draft change set; an edit that leaves a gap is reported with its area and location."""

from __future__ import annotations

import sqlite3

import geopandas as gpd
import numpy as np
import pytest
import shapely
from test_edit_model import partitioned

from gridgeo.edit.qgis import read_edit_package, write_edit_package
from gridgeo.errors import InputError
from gridgeo.registry import (
    Principal,
    accept_changeset,
    changeset_items,
    file_changeset,
    list_changesets,
    load_grids,
    validate_changeset,
)
from gridgeo.registry.bindings import bind_profile
from gridgeo.registry.edits import community_plan, import_package
from gridgeo.registry.households import load_households

COUNTY = "430102"
COMMUNITY = "430102001001"
ADMIN = Principal("admin", "admin")
EDITOR = Principal("county-editor", "county_editor", COUNTY)


def registered(url: str):
    """The partitioned district accepted into the registry, households loaded."""
    comm, roads, hh, grids = partitioned()
    res = load_grids(url, grids, county=COUNTY, actor=ADMIN, communities=comm, title="first")
    bind_profile(url, COUNTY, "yongzhou", actor=ADMIN, reason="test")
    file_changeset(url, res.changeset_id, actor=ADMIN, force=True, force_reason="first plan")
    accept_changeset(url, res.changeset_id, actor=Principal("reviewer", "admin"), reason="ok")
    load_households(url, hh, county=COUNTY, actor=ADMIN, source="test households")
    return comm, roads, hh


def neighbours(blocks: gpd.GeoDataFrame) -> tuple[int, str, str]:
    """A block of one grid bordering another grid: (block_id, its grid, the other grid)."""
    geoms = blocks.geometry.values
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="touches")
    codes = blocks["grid_code"].to_numpy()
    for i, j in zip(a, b, strict=True):
        if codes[i] != codes[j] and shapely.length(shapely.intersection(geoms[i], geoms[j])) > 10:
            return int(blocks["block_id"].iloc[i]), str(codes[i]), str(codes[j])
    raise AssertionError("no neighbouring grids")


def rewrite(path, blocks, grids) -> None:
    """Save edited layers into the package the way QGIS does (layers replaced in place)."""
    blocks.to_file(path, layer="blocks", driver="GPKG")
    grids.to_file(path, layer="grids", driver="GPKG")


def test_export_is_styled_and_import_drafts_moves_and_snapped_drags(fresh_db_url, tmp_path):
    url = fresh_db_url
    _, roads, _ = registered(url)
    session = community_plan(url, COMMUNITY, roads=roads)
    out = write_edit_package(tmp_path / "edit.gpkg", session.plan, session.crs)
    with sqlite3.connect(out) as db:
        styles = dict(db.execute("SELECT f_table_name, styleQML FROM layer_styles").fetchall())
        default = db.execute("SELECT count(*) FROM layer_styles WHERE useAsDefault").fetchone()
    assert set(styles) == {"blocks", "grids"} and default == (2,)
    assert 'attr="grid_code"' in styles["blocks"] and 'type="ValueMap"' in styles["blocks"]
    code, blocks, grids = read_edit_package(out)
    assert code == COMMUNITY and len(blocks) == session.plan.blocks.n

    # QGIS edit 1: a block reassigned by its grid_code
    bid, src, dst = neighbours(blocks)
    blocks.loc[blocks["block_id"] == bid, "grid_code"] = dst
    # QGIS edit 2: a vertex of another grid's outline dragged 4 m (no topological editing)
    other = grids[~grids["grid_code"].isin([src, dst])].index[0]
    poly = grids.geometry.loc[other]
    ring = np.asarray(poly.exterior.coords)
    k = next(
        i
        for i in range(1, len(ring) - 1)
        if shapely.intersects(
            shapely.buffer(shapely.Point(ring[i]), 0.01),
            shapely.union_all(grids.geometry.drop(index=other).values),
        )
    )
    ring[k] += [4.0, 4.0]
    if k == 0:
        ring[-1] = ring[0]
    grids.loc[other, "geometry"] = shapely.make_valid(shapely.Polygon(ring, poly.interiors))
    rewrite(out, blocks, grids)

    result, snapped = import_package(url, out, actor=EDITOR, title="QGIS edit")
    assert snapped.moved == {bid: (src, dst)}
    assert snapped.notes  # the drag was snapped back onto block borders, and said so
    assert result.new_codes == [] and result.retired_codes == []
    items = changeset_items(url, result.changeset_id)
    assert sorted(c for r in items.itertuples() for c in r.new_codes) == sorted([src, dst])
    moved_hh = int(session.plan.blocks.households[bid])
    by_code = {r.new_codes[0]: r for r in items.itertuples()}
    assert by_code[dst].households_after - by_code[dst].households_before == moved_hh
    assert by_code[src].households_before - by_code[src].households_after == moved_hh
    problems = validate_changeset(url, result.changeset_id)
    assert not [p for p in problems if p.rule.startswith("registry.") or p.severity == "error"]


def test_an_edit_leaving_a_gap_is_reported_with_area_and_location(fresh_db_url, tmp_path):
    url = fresh_db_url
    _, roads, _ = registered(url)
    session = community_plan(url, COMMUNITY, roads=roads)
    out = write_edit_package(tmp_path / "gap.gpkg", session.plan, session.crs)
    _, blocks, grids = read_edit_package(out)
    bid, src, _ = neighbours(blocks)
    hole = blocks.geometry[blocks["block_id"] == bid].iloc[0]
    row = grids.index[grids["grid_code"] == src][0]
    grids.loc[row, "geometry"] = shapely.difference(grids.geometry.loc[row], hole)
    rewrite(out, blocks, grids)
    with pytest.raises(InputError) as err:
        import_package(url, out, actor=EDITOR)
    (p,) = err.value.problems
    assert p.rule == "edit.gap"
    assert f"{shapely.area(hole):,.0f} m²" in p.message and "°E" in p.message
    assert len(list_changesets(url)) == 1  # nothing drafted: only the first plan


def test_cli_export_edit_and_import(fresh_db_url, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from gridgeo.cli import registry as registry_cli
    from gridgeo.cli import users as users_cli
    from gridgeo.cli.main import app
    from gridgeo.registry import create_user, issue_token

    url = fresh_db_url
    _, roads, _ = registered(url)
    monkeypatch.setattr(registry_cli, "_url", lambda: url)
    monkeypatch.setattr(users_cli, "_url", lambda: url)
    create_user(url, "张编辑", role="county_editor", division_code=COUNTY, by="admin")
    token = issue_token(url, "张编辑", name="cli", by="admin").token
    runner = CliRunner()
    roads_file = tmp_path / "roads.gpkg"
    roads.to_file(roads_file, driver="GPKG")
    r = runner.invoke(app, ["change", "load-roads", str(roads_file), "--token", token])
    assert r.exit_code == 0 and f"stored {len(roads)} road lines" in r.output, r.output
    out = tmp_path / "edit.gpkg"
    r = runner.invoke(app, ["change", "export-edit", COMMUNITY, "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "blocks" in r.output and out.is_file()
    _, blocks, grids = read_edit_package(out)
    bid, src, dst = neighbours(blocks)
    blocks.loc[blocks["block_id"] == bid, "grid_code"] = dst
    rewrite(out, blocks, grids)
    r = runner.invoke(app, ["change", "import", str(out), "--token", token], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "1 blocks moved" in r.output and "draft change set" in r.output
    assert src in r.output and dst in r.output and "validator:" in r.output
    # a package with a gap: refused with the area, exit code of an input error, no draft
    keep = blocks[(blocks["grid_code"] == src) & (blocks["block_id"] != bid)]
    hole = keep.geometry.iloc[0]
    row = grids.index[grids["grid_code"] == src][0]
    grids.loc[row, "geometry"] = shapely.difference(grids.geometry.loc[row], hole)
    rewrite(out, blocks, grids)
    r = runner.invoke(app, ["change", "import", str(out), "--token", token], env={"COLUMNS": "200"})
    assert r.exit_code != 0 and "gap of" in r.output
