"""The grid registry on the project's real PostGIS: workflow, history, codes, roles, integrity."""

from __future__ import annotations

import functools
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pyogrio
import pytest
import shapely

from gridgeo.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from gridgeo.registry import (
    Principal,
    SpatialIntegrityError,
    accept_changeset,
    audit_log,
    changeset_items,
    contacts_at,
    draft_assignments,
    file_changeset,
    get_changeset,
    grid_at_point,
    grid_history,
    grids_at,
    load_grids,
    register_departments,
    return_changeset,
    validate_changeset,
)
from gridgeo.registry.bindings import bind_profile, binding_history
from gridgeo.registry.export import export_changeset
from gridgeo.registry.outbox import mark_read, notifications

ROOT = Path(__file__).resolve().parent.parent
DAAN = ROOT / "data" / "build" / "daan.gpkg"
COUNTY = "63000030"  # Da'an district, Taipei: 11-digit village codes, so grid codes have 14 digits
PATTERN = r"\d{11}"


@functools.lru_cache(maxsize=1)
def _daan() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    from gridgeo.demo.build import build_district

    build_district("daan", DAAN)  # idempotent: reuses an up-to-date build
    return gpd.read_file(DAAN, layer="communities"), gpd.read_file(DAAN, layer="units")


def communities_of(n: int) -> gpd.GeoDataFrame:
    """The first ``n`` real Da'an villages."""
    communities, _ = _daan()
    return communities.sort_values("code").head(n).reset_index(drop=True)


def grids_of(n: int, per_grid: int = 4) -> gpd.GeoDataFrame:
    """Grids of the first ``n`` villages: their small statistical areas, ``per_grid`` at a time."""
    codes = set(communities_of(n)["code"])
    _, units = _daan()
    units = units[units["community_code"].isin(codes)].sort_values(["community_code", "unit_id"])
    units = units.reset_index(drop=True).assign(grp=-1)
    tree = shapely.STRtree(units.geometry.values)
    for code in sorted(codes):  # grow contiguous groups of neighbouring areas
        todo = set(np.flatnonzero(units["community_code"].to_numpy() == code))
        grp = 0
        while todo:
            members, frontier = [], [min(todo)]
            while frontier and len(members) < per_grid:
                i = frontier.pop(0)
                if i not in todo:
                    continue
                todo.discard(i)
                members.append(i)
                near = tree.query(units.geometry.values[i].buffer(0.5), predicate="intersects")
                frontier += sorted(int(j) for j in near if j in todo)
            units.loc[members, "grp"] = grp
            grp += 1
    grids = units.dissolve(
        by=["community_code", "grp"], aggfunc={"households": "sum", "population": "sum"}
    ).reset_index()
    grids["grid_code"] = grids["community_code"] + (grids["grp"] + 1).map("{:03d}".format)
    grids["grid_name"] = "第" + (grids["grp"] + 1).astype(str) + "网格"
    return grids.drop(columns=["grp"])


# Library callers are trusted local code: principals with explicit scopes (the scopes
# built from the registry's division hierarchy are tested in tests/test_users.py).
EDITOR = Principal("county-editor", "county_editor", COUNTY)
REVIEWER = Principal("city-reviewer", "city_reviewer", "63000", scope=frozenset({"63000", COUNTY}))
ADMIN = Principal("admin", "admin")
FIRST = "沿用现状网格，规模超出部分列入下一轮调整"  # force reason: the base data is out of band


def bind_daan(url) -> None:
    """Bind Da'an (once) to the yongzhou profile with its 11-digit village codes, filed with Taipei."""
    if binding_history(url, COUNTY).empty:
        bind_profile(
            url, COUNTY, "yongzhou", actor=ADMIN, code_pattern=PATTERN, receiver_code="63000"
        )


def _load(url, grids, communities, **kw):
    bind_daan(url)
    return load_grids(
        url, grids, county=COUNTY, actor=EDITOR, communities=communities, code_pattern=PATTERN, **kw
    )


def _register(url, grids, communities) -> int:
    """Load, file and accept: the registry then holds ``grids``."""
    result = _load(url, grids, communities, title="first registration")
    file_changeset(url, result.changeset_id, actor=EDITOR, force=True, force_reason=FIRST)
    accept_changeset(url, result.changeset_id, actor=REVIEWER)
    return result.changeset_id


@pytest.fixture(scope="module")
def base():
    """Three real Da'an villages and grids of about four small statistical areas each."""
    return grids_of(3), communities_of(3)


def test_workflow_from_draft_to_current(fresh_db_url, base):
    grids, communities = base
    result = _load(fresh_db_url, grids, communities, title="first", reason="new system")
    assert result.actions == {"create": len(grids)}
    assert result.srid == 3826
    assert all(len(c) == 14 and c.startswith(COUNTY) for c in result.new_codes)
    cs = get_changeset(fresh_db_url, result.changeset_id)
    assert cs.status == "draft"
    assert grids_at(fresh_db_url).empty  # a draft is not current

    problems = validate_changeset(fresh_db_url, cs.changeset_id)
    errors = {p.rule for p in problems if p.severity == "error"}
    assert errors and errors <= {"validate.size.below_floor", "validate.size.above_ceiling"}
    filed = file_changeset(
        fresh_db_url, cs.changeset_id, actor=EDITOR, force=True, force_reason=FIRST
    )
    assert filed.status == "filed" and filed.filed_by == EDITOR.name
    assert grids_at(fresh_db_url).empty  # filed is not current either

    with psycopg.connect(fresh_db_url, autocommit=True) as listener:
        listener.execute("LISTEN gridgeo_registry")
        summary = accept_changeset(fresh_db_url, cs.changeset_id, actor=REVIEWER, reason="ok")
        events = [json.loads(n.payload) for n in listener.notifies(timeout=1)]
    assert events == [{"event": "changeset_accepted", "changeset": cs.changeset_id}]
    assert summary["opened"] == len(grids) and summary["retired_codes"] == []

    current = grids_at(fresh_db_url)
    assert sorted(current["grid_code"]) == result.new_codes
    assert current["households"].sum() == grids["households"].sum()
    assert get_changeset(fresh_db_url, cs.changeset_id).status == "accepted"
    log = audit_log(fresh_db_url, changeset_id=cs.changeset_id)
    assert list(log["action"]) == ["draft", "file", "accept"]
    assert list(log["actor"]) == [EDITOR.name, EDITOR.name, REVIEWER.name]

    again = _load(fresh_db_url, grids, communities)
    assert again.changeset_id is None and again.unchanged == len(grids)


def test_repartition_one_community_keeps_untouched_codes(fresh_db_url, base):
    grids, communities = base
    _register(fresh_db_url, grids, communities)
    before = grids_at(fresh_db_url)
    t_before = datetime.now(UTC)
    target = sorted(set(grids["community_code"]))[0]
    mine = grids[grids["community_code"] == target].sort_values("grid_code").reset_index(drop=True)
    assert len(mine) >= 5
    codes = list(mine["grid_code"])

    # New housing: grids 1 and 2 merge, grid 3 splits in two, grid 4 is renamed.
    merged = mine.iloc[[0]].copy()
    merged["geometry"] = [shapely.union(mine.geometry.iloc[0], mine.geometry.iloc[1])]
    merged["households"] = int(mine["households"].iloc[:2].sum())
    g3 = mine.geometry.iloc[2]
    minx, miny, maxx, maxy = g3.bounds
    left = shapely.intersection(g3, shapely.box(minx - 1, miny - 1, (minx + maxx) / 2, maxy + 1))
    right = shapely.difference(g3, left)
    split = gpd.GeoDataFrame(
        {"community_code": [target] * 2, "households": [100, 150], "grid_name": ["甲", "乙"]},
        geometry=[left, right],
        crs=grids.crs,
    )
    renamed = mine.iloc[[3]].copy()
    renamed["grid_name"] = "新名字"
    new_layer = gpd.GeoDataFrame(
        pd.concat([merged, split, renamed, mine.iloc[4:]], ignore_index=True),
        crs=grids.crs,
    ).drop(columns=["grid_code"])

    result = _load(fresh_db_url, new_layer, None, reason="new housing")
    assert result.actions == {"merge": 1, "split": 1, "rename": 1}
    assert result.retired_codes == sorted(codes[:3])
    top = max(int(c[-3:]) for c in before["grid_code"] if c.startswith(target))
    assert result.new_codes == [f"{target}{top + k:03d}" for k in (1, 2, 3)]
    assert result.unchanged == len(mine) - 4
    items = changeset_items(fresh_db_url, result.changeset_id)
    assert set(items["community_code"]) == {target}

    file_changeset(fresh_db_url, result.changeset_id, actor=EDITOR, force=True, force_reason=FIRST)
    summary = accept_changeset(fresh_db_url, result.changeset_id, actor=REVIEWER)
    assert summary["retired_codes"] == sorted(codes[:3])

    after = grids_at(fresh_db_url)
    untouched = before[~before["community_code"].eq(target)]
    kept = after.set_index("grid_code").loc[untouched["grid_code"]]
    assert (kept["valid_from"] == untouched.set_index("grid_code")["valid_from"]).all()
    assert set(codes[4:]) <= set(after["grid_code"])
    assert not set(codes[:3]) & set(after["grid_code"])
    assert after.set_index("grid_code").loc[codes[3], "grid_name"] == "新名字"
    history = grid_history(fresh_db_url, codes[3])
    assert list(history["version"]) == [1, 2] and history["valid_to"].iloc[0] is not None
    assert grid_history(fresh_db_url, codes[0])["code_status"].iloc[0] == "retired"

    # As of a time before the change the old registry answers, afterwards the new one.
    assert sorted(grids_at(fresh_db_url, t_before)["grid_code"]) == sorted(before["grid_code"])
    p = shapely.point_on_surface(mine.geometry.iloc[0])
    old_hit = grid_at_point(fresh_db_url, p.x, p.y, at=t_before)
    new_hit = grid_at_point(fresh_db_url, p.x, p.y)
    assert [h["grid_code"] for h in old_hit] == [codes[0]]
    assert [h["grid_code"] for h in new_hit] == [result.new_codes[0]]
    lonlat = gpd.GeoSeries([p], crs=grids.crs).to_crs(4326).iloc[0]
    assert grid_at_point(fresh_db_url, lonlat.x, lonlat.y, crs="EPSG:4326") == new_hit


def test_retired_codes_are_never_reused(fresh_db_url, base):
    grids, communities = base
    _register(fresh_db_url, grids, communities)
    target = sorted(set(grids["community_code"]))[0]
    mine = grids[grids["community_code"] == target]
    retired = sorted(mine["grid_code"])[-1]
    # Retire the last grid by merging it into its neighbour; then split the merged grid again.
    last, prev = (mine.set_index("grid_code").loc[c] for c in sorted(mine["grid_code"])[-1:-3:-1])
    merged = grids[grids["grid_code"] != retired].copy()
    keep = sorted(mine["grid_code"])[-2]
    merged.loc[merged["grid_code"] == keep, "geometry"] = shapely.union(
        last.geometry, prev.geometry
    )
    r1 = _load(fresh_db_url, merged.drop(columns=["grid_code"]), None)
    assert r1.actions == {"merge": 1}
    file_changeset(fresh_db_url, r1.changeset_id, actor=EDITOR, force=True, force_reason=FIRST)
    accept_changeset(fresh_db_url, r1.changeset_id, actor=REVIEWER)

    r2 = _load(fresh_db_url, grids.assign(grid_code=None), None)  # the original layout again
    assert r2.actions == {"split": 1}
    assert retired not in r2.new_codes and keep not in r2.new_codes
    with psycopg.connect(fresh_db_url) as conn:
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                "INSERT INTO registry.code_ledger (code, community_code, seq, status) "
                "VALUES (%s, %s, %s, 'reserved')",
                (retired, target, int(retired[-3:]) + 500),
            )
        conn.rollback()
        with pytest.raises(psycopg.Error, match="never"):
            conn.execute("DELETE FROM registry.code_ledger WHERE code = %s", (retired,))
        conn.rollback()
        with pytest.raises(psycopg.Error, match="never be used again"):
            conn.execute(
                "UPDATE registry.code_ledger SET status = 'active' WHERE code = %s", (retired,)
            )


def test_second_acceptance_touching_same_grid_conflicts(fresh_db_url, base):
    grids, communities = base
    _register(fresh_db_url, grids, communities)
    code = sorted(grids["grid_code"])[0]
    drafts = []
    for name in ("甲方案", "乙方案"):  # two editors rename the same grid
        layer = grids.copy()
        layer.loc[layer["grid_code"] == code, "grid_name"] = name
        r = _load(fresh_db_url, layer, None)
        assert r.actions == {"rename": 1}
        file_changeset(fresh_db_url, r.changeset_id, actor=EDITOR, force=True, force_reason=FIRST)
        drafts.append(r.changeset_id)
    accept_changeset(fresh_db_url, drafts[0], actor=REVIEWER)
    state = grids_at(fresh_db_url)
    with pytest.raises(ConflictError, match="drafted against version 1, now version 2"):
        accept_changeset(fresh_db_url, drafts[1], actor=REVIEWER)
    assert get_changeset(fresh_db_url, drafts[1]).status == "filed"
    after = grids_at(fresh_db_url)
    assert after.set_index("grid_code").loc[code, "grid_name"] == "甲方案"
    assert after[["grid_id", "grid_code"]].equals(state[["grid_id", "grid_code"]])
    assert any(
        p.rule == "registry.version.stale"
        for p in validate_changeset(fresh_db_url, drafts[1], rules=False)
    )
    with pytest.raises(ConflictError, match="only a filed"):
        accept_changeset(fresh_db_url, drafts[0], actor=REVIEWER)


@pytest.mark.parametrize(
    ("actor", "county", "message"),
    [
        (Principal("other", "county_editor", "63000031"), COUNTY, "is outside their area 63000031"),
        (REVIEWER, COUNTY, "may not draft"),
        (
            Principal("sneaky", "county_editor", "63000031"),
            "63000031",
            "do not belong to county 63000031",
        ),
    ],
    ids=["other-county-editor", "city-reviewer", "communities-outside-county"],
)
def test_drafting_outside_own_county_is_refused(fresh_db_url, base, actor, county, message):
    grids, communities = base
    with pytest.raises(PermissionDeniedError, match=message):
        load_grids(
            fresh_db_url,
            grids,
            county=county,
            actor=actor,
            communities=communities,
            code_pattern=PATTERN,
        )
    with psycopg.connect(fresh_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM registry.changeset").fetchone()[0] == 0


def test_only_a_city_reviewer_decides(fresh_db_url, base):
    grids, communities = base
    r = _load(fresh_db_url, grids, communities)
    with pytest.raises(PermissionDeniedError):
        file_changeset(
            fresh_db_url, r.changeset_id, actor=Principal("x", "county_editor", "63000031")
        )
    file_changeset(fresh_db_url, r.changeset_id, actor=EDITOR, force=True, force_reason=FIRST)
    for actor, message in [
        (EDITOR, "may not accept or return filings"),
        (Principal("other-city", "city_reviewer", "65000"), "is outside their area 65000"),
        (Principal(EDITOR.name, "admin"), "four eyes"),
    ]:
        with pytest.raises(PermissionDeniedError, match=message):
            accept_changeset(fresh_db_url, r.changeset_id, actor=actor)
    assert grids_at(fresh_db_url).empty
    with pytest.raises(NotFoundError):
        accept_changeset(fresh_db_url, 999, actor=REVIEWER)


def _force_filed(url: str, changeset_id: int) -> None:
    """Skip the county's validation (as a buggy or hostile client could) to test the database."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE registry.changeset SET status = 'filed' WHERE changeset_id = %s",
            (changeset_id,),
        )


@pytest.mark.parametrize("defect", ["overlap", "outside-community"])
def test_database_refuses_overlap_and_leaving_the_community(fresh_db_url, base, defect):
    grids, communities = base
    target = sorted(set(grids["community_code"]))[0]
    layer = grids[grids["community_code"] == target].copy()
    _register(fresh_db_url, layer, communities)
    first, second = layer.index[:2]
    if defect == "overlap":  # grid 1 grows 10 m into grid 2
        layer.loc[first, "geometry"] = shapely.union(
            layer.loc[first, "geometry"],
            shapely.intersection(
                layer.loc[second, "geometry"], layer.loc[first, "geometry"].buffer(10)
            ),
        )
        rule, pattern = "registry.overlap", "overlap"
    else:  # grid 1 grows 30 m beyond the community border
        outline = communities.set_index("code").loc[target, "geometry"]
        layer.loc[first, "geometry"] = shapely.union(
            layer.loc[first, "geometry"],
            shapely.difference(layer.loc[first, "geometry"].buffer(30), outline),
        )
        rule, pattern = "registry.containment", "outside community|leave their community"
    r = _load(fresh_db_url, layer.drop(columns=["grid_code"]), None)
    problems = validate_changeset(fresh_db_url, r.changeset_id, rules=False)
    assert rule in {p.rule for p in problems}
    with pytest.raises(InputError):
        file_changeset(fresh_db_url, r.changeset_id, actor=EDITOR, force=True, force_reason=FIRST)
    _force_filed(fresh_db_url, r.changeset_id)
    before = grids_at(fresh_db_url)
    with pytest.raises(SpatialIntegrityError, match=pattern):
        accept_changeset(fresh_db_url, r.changeset_id, actor=REVIEWER)
    after = grids_at(fresh_db_url)
    assert after[["grid_id", "grid_code"]].equals(before[["grid_id", "grid_code"]])
    assert get_changeset(fresh_db_url, r.changeset_id).status == "filed"


def test_return_with_reason_voids_reserved_codes(fresh_db_url, base):
    grids, communities = base
    r = _load(fresh_db_url, grids, communities)
    file_changeset(fresh_db_url, r.changeset_id, actor=EDITOR, force=True, force_reason=FIRST)
    with pytest.raises(ConflictError, match="reason"):
        return_changeset(fresh_db_url, r.changeset_id, actor=REVIEWER, reason=" ")
    out = return_changeset(fresh_db_url, r.changeset_id, actor=REVIEWER, reason="网格边界未沿道路")
    assert sorted(out["void_codes"]) == r.new_codes
    cs = get_changeset(fresh_db_url, r.changeset_id)
    assert (cs.status, cs.decision_reason) == ("returned", "网格边界未沿道路")
    with pytest.raises(ConflictError):
        accept_changeset(fresh_db_url, r.changeset_id, actor=REVIEWER)
    again = _load(fresh_db_url, grids, communities)
    assert not set(again.new_codes) & set(r.new_codes)  # void codes are not reused either


def test_history_and_audit_are_append_only(fresh_db_url, base):
    grids, communities = base
    _register(fresh_db_url, grids, communities)
    statements = [
        ("UPDATE registry.grid SET grid_name = 'x'", "never updated in place"),
        ("UPDATE registry.grid SET valid_to = NULL", "never updated in place"),
        ("DELETE FROM registry.grid", "never deleted"),
        ("UPDATE registry.audit_log SET actor = 'x'", "append-only"),
        ("DELETE FROM registry.audit_log", "append-only"),
        ("TRUNCATE registry.audit_log CASCADE", "append-only"),
    ]
    with psycopg.connect(fresh_db_url) as conn:
        for stmt, message in statements:
            with pytest.raises(psycopg.Error, match=message):
                conn.execute(stmt)
            conn.rollback()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_filing_package(fresh_db_url, base, tmp_path):
    grids, communities = base
    cs = _register(fresh_db_url, grids, communities)
    target = sorted(set(grids["community_code"]))[0]
    layer = grids[grids["community_code"] == target].copy()
    a, b = layer.index[:2]
    layer.loc[a, "geometry"] = shapely.union(layer.loc[a, "geometry"], layer.loc[b, "geometry"])
    r = _load(fresh_db_url, layer.drop(index=b).drop(columns=["grid_code"]), None)
    file_changeset(
        fresh_db_url,
        r.changeset_id,
        actor=EDITOR,
        force=True,
        force_reason=FIRST,
        note="两格合并，请市中心备案",
    )
    out = export_changeset(fresh_db_url, r.changeset_id, tmp_path / "filing.zip")
    assert out.stat().st_mode & 0o777 == 0o666 & ~_umask()  # 0644 like any other output
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == [
            "code_changes.csv",
            "filing.json",
            "forced_breaks.json",  # the merged grid (836 households) was filed with force
            "grids.gpkg",
            "map.html",
            "summary.html",
        ]
        forced = json.loads(zf.read("forced_breaks.json"))
        filing = json.loads(zf.read("filing.json"))
        page = zf.read("summary.html").decode()
    # the county's note, the validator's result and the partition metrics travel with it
    assert filing["note"] == "两格合并，请市中心备案" and "两格合并，请市中心备案" in page
    assert filing["validator"]["errors"] >= 1 and filing["metrics"]["grids"] == 1  # the merged grid
    assert filing["metrics"]["households"]["max"] > 0 and "新网格" in page
    # times in the configured zone (Asia/Shanghai), not UTC
    assert filing["timezone"] == "Asia/Shanghai" and filing["filed_at"].endswith("CST")
    assert "UTC" not in page
    with zipfile.ZipFile(out) as zf:
        zf.extractall(tmp_path / "x")
        summary = zf.read("summary.html").decode()
        csv = zf.read("code_changes.csv").decode("utf-8-sig").splitlines()
    layers = dict(pyogrio.list_layers(tmp_path / "x" / "grids.gpkg"))
    assert {"old_grids", "new_grids", "communities"} <= set(layers)
    old = gpd.read_file(tmp_path / "x" / "grids.gpkg", layer="old_grids")
    assert sorted(old["grid_code"]) == sorted(grids.loc[[a, b], "grid_code"])
    assert csv[0].startswith("item,action,community_code,old_code,new_code,change")
    assert (
        sum(",retired," in line for line in csv) == 2 and sum(",new," in line for line in csv) == 1
    )
    assert "<svg" in summary and "filed" in summary
    assert forced["reason"] == FIRST and any(
        b["rule"] in {"validate.size.below_floor", "validate.size.above_ceiling"}
        for b in forced["breaks"]
    )
    assert summary.index("Forced rule breaks") < summary.index("<svg") and FIRST in summary
    assert "<script" not in summary and "http://" not in summary.replace(
        "http://www.w3.org/2000/svg", ""
    )
    from gridgeo.maps.offline import external_references

    assert external_references((tmp_path / "x" / "map.html").read_text()) == []
    assert export_changeset(fresh_db_url, cs, tmp_path / "first.zip").is_file()  # creates only


def test_bad_layers_list_every_problem(fresh_db_url, base):
    grids, communities = base
    bad = grids.copy()
    bad.loc[bad.index[0], "community_code"] = "12345"
    bad.loc[bad.index[1], "households"] = -3
    bad.loc[bad.index[2], "geometry"] = shapely.Point(0, 0)
    with pytest.raises(InputError) as err:
        load_grids(
            fresh_db_url,
            bad,
            county=COUNTY,
            actor=Principal("a", "admin"),
            communities=communities,
            code_pattern=PATTERN,
        )
    fields = {p.field for p in err.value.problems}
    assert {"community_code", "households"} <= fields and len(err.value.problems) >= 3
    unknown = grids.copy()
    unknown["community_code"] = COUNTY + "999"
    with pytest.raises(InputError, match="not in the registry") as err:
        _load(fresh_db_url, unknown, None)
    assert [(p.rule, p.field, p.row) for p in err.value.problems] == [
        ("registry.community_unknown", "community_code", 0)
    ]
    with psycopg.connect(fresh_db_url) as conn:  # nothing half-written
        assert conn.execute("SELECT count(*) FROM registry.changeset").fetchone()[0] == 0


_ACCEPT_SCRIPT = """
import sys
from gridgeo.registry import Principal, accept_changeset
url, changeset = sys.stdin.readline().split()
accept_changeset(url, int(changeset), actor=Principal("city-reviewer", "admin"))
print("committed")
"""


#: The advisory lock the acceptance waits for in the crash test.
_HELD = 727300


def _backend_in_accept(conn: psycopg.Connection, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND wait_event = 'advisory' AND query LIKE '%accept_changeset%' "
            "AND datname = current_database()"
        ).fetchone()
        if row:
            return row[0]
        time.sleep(0.05)
    pytest.fail("the acceptance never reached the slow step")


def _wait_gone(conn: psycopg.Connection, pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            return
        time.sleep(0.05)
    pytest.fail(f"backend {pid} is still there")


@pytest.mark.parametrize("kill", ["client-process", "server-backend"])
def test_crash_in_the_middle_of_acceptance_leaves_previous_state(fresh_db_url, base, kill):
    # the client process starts first: its imports take seconds, the set-up runs meanwhile
    proc = subprocess.Popen(
        [sys.executable, "-c", _ACCEPT_SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        grids, communities = base
        _register(fresh_db_url, grids, communities)
        target = sorted(set(grids["community_code"]))[0]
        layer = grids[grids["community_code"] == target].copy()
        a, b = layer.index[:2]
        layer.loc[a, "geometry"] = shapely.union(layer.loc[a, "geometry"], layer.loc[b, "geometry"])
        r = _load(fresh_db_url, layer.drop(index=b).drop(columns=["grid_code"]), None)
        file_changeset(fresh_db_url, r.changeset_id, actor=EDITOR, force=True, force_reason=FIRST)
        before = grids_at(fresh_db_url)

        with psycopg.connect(fresh_db_url, autocommit=True) as admin:
            # A step late in acceptance (after grids were closed and opened, before the
            # status) that waits on a lock this test holds: the kill lands there.
            admin.execute("SELECT pg_advisory_lock(%s)", (_HELD,))
            admin.execute(
                "CREATE FUNCTION public.slow() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN PERFORM pg_advisory_xact_lock({_HELD}); RETURN NULL; END $$"
            )
            admin.execute(
                "CREATE TRIGGER slow AFTER UPDATE ON registry.changeset "
                "FOR EACH STATEMENT EXECUTE FUNCTION public.slow()"
            )
            proc.stdin.write(f"{fresh_db_url} {r.changeset_id}\n".encode())
            proc.stdin.close()
            try:
                pid = _backend_in_accept(admin)
                if kill == "client-process":
                    proc.send_signal(signal.SIGKILL)
                else:
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                proc.wait(timeout=30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                # a backend whose client is gone goes on until it next talks to it: let it
                admin.execute("SELECT pg_advisory_unlock(%s)", (_HELD,))
            assert b"committed" not in proc.stdout.read()
            _wait_gone(admin, pid)
            admin.execute("DROP TRIGGER slow ON registry.changeset")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    after = grids_at(fresh_db_url)
    assert after[["grid_id", "grid_code", "valid_to"]].equals(
        before[["grid_id", "grid_code", "valid_to"]]
    )
    assert get_changeset(fresh_db_url, r.changeset_id).status == "filed"
    with psycopg.connect(fresh_db_url) as conn:
        statuses = dict(
            conn.execute(
                "SELECT code, status FROM registry.code_ledger WHERE code = ANY(%s)",
                (r.new_codes + r.retired_codes,),
            ).fetchall()
        )
    assert {statuses[c] for c in r.new_codes} == {"reserved"}
    assert {statuses[c] for c in r.retired_codes} == {"active"}
    # The interrupted acceptance can simply be repeated.
    summary = accept_changeset(fresh_db_url, r.changeset_id, actor=REVIEWER)
    assert summary["retired_codes"] == r.retired_codes


def test_staff_and_department_assignments_through_change_sets(fresh_db_url, base, tmp_path):
    grids, communities = base
    _register(fresh_db_url, grids, communities)
    codes = sorted(grids["grid_code"])
    register_departments(
        fresh_db_url,
        pd.DataFrame(
            {"department": ["示例区城市管理局"], "phone": ["100-0000-9901"], "is_sample": [True]}
        ),
        actor=REVIEWER,
    )
    with pytest.raises(PermissionDeniedError):
        register_departments(fresh_db_url, pd.DataFrame({"department": ["x"]}), actor=EDITOR)
    staff = pd.DataFrame(
        {
            "grid_code": [codes[0], codes[0], codes[1]],
            "role": ["head", "full_time", "full_time"],
            "name": ["示例网格长01", "示例网格员001", "示例网格员002"],
            "phone": ["100-0000-0001", "100-0000-0002", "100-0000-0003"],
        }
    )
    coverage = pd.DataFrame({"category": ["环境卫生"], "department": ["示例区城市管理局"]})
    t0 = datetime.now(UTC)
    cs = draft_assignments(
        fresh_db_url, county=COUNTY, actor=EDITOR, staff=staff, coverage=coverage
    )
    assert contacts_at(fresh_db_url).empty  # drafts change nothing
    file_changeset(fresh_db_url, cs, actor=EDITOR)
    accept_changeset(fresh_db_url, cs, actor=REVIEWER)
    contacts = contacts_at(fresh_db_url)
    assert list(contacts[contacts["grid_code"] == codes[0]]["role"]) == ["head", "full_time"]
    with psycopg.connect(fresh_db_url) as conn:
        covered = conn.execute(
            "SELECT count(DISTINCT grid_code) FROM registry.department_coverage "
            "WHERE category = '环境卫生' AND valid_to IS NULL"
        ).fetchone()[0]
    assert covered == len(codes)  # no grid_code: every current grid of the county

    # A new worker replaces the old one in grid 2; the history keeps both.
    t1 = datetime.now(UTC)
    swap = pd.DataFrame({"grid_code": [codes[1]], "role": ["full_time"], "name": ["示例网格员003"]})
    cs2 = draft_assignments(fresh_db_url, county=COUNTY, actor=EDITOR, staff=swap)
    file_changeset(fresh_db_url, cs2, actor=EDITOR)
    accept_changeset(fresh_db_url, cs2, actor=REVIEWER)
    now = contacts_at(fresh_db_url)
    assert list(now[now["grid_code"] == codes[1]]["person_name"]) == ["示例网格员003"]
    then = contacts_at(fresh_db_url, t1)
    assert list(then[then["grid_code"] == codes[1]]["person_name"]) == ["示例网格员002"]
    assert contacts_at(fresh_db_url, t0).empty

    # The filing package names who moved where, not only how many.
    with zipfile.ZipFile(export_changeset(fresh_db_url, cs2, tmp_path / "cs2.zip")) as zf:
        moves = pd.read_csv(
            io.BytesIO(zf.read("reassignments.csv")), encoding="utf-8-sig", dtype=str
        )
        assert "示例网格员002" in zf.read("summary.html").decode()
    assert moves[["kind", "grid_code", "what", "before", "after"]].values.tolist() == [
        ["staff", codes[1], "full_time", "示例网格员002", "示例网格员003"]
    ]
    # The department was notified of the change that named it (通报相关部门), once.
    box = notifications(fresh_db_url, department="示例区城市管理局", unread=True)
    assert list(box["changeset_id"]) == [cs] and box["package_path"].iloc[0].endswith("/package")
    mark_read(fresh_db_url, int(box["notification_id"].iloc[0]), reader="示例区城市管理局值班员")
    assert notifications(fresh_db_url, department="示例区城市管理局", unread=True).empty
    assert notifications(fresh_db_url)["read_by"].iloc[0] == "示例区城市管理局值班员"

    bad = pd.DataFrame(
        {"grid_code": ["63000031001001", codes[0]], "role": ["head", "boss"], "name": ["a", "b"]}
    )
    with pytest.raises(InputError) as err:
        draft_assignments(fresh_db_url, county=COUNTY, actor=EDITOR, staff=bad)
    assert {p.rule for p in err.value.problems} == {"staff.role", "assignment.grid"}


def test_contract_objects_for_the_service(db_url):
    """The service reads only these objects (registry ↔ service contract)."""
    expected = {
        "grids_at": [
            "grid_id",
            "grid_code",
            "grid_name",
            "grid_type",
            "community_code",
            "community_name",
            "households",
            "population",
            "valid_from",
            "valid_to",
            "geom",
        ],
        "current_grid": None,
        "grid_contacts_at": ["grid_code", "role", "person_name", "phone", "posted"],
        "divisions": ["code", "name", "level", "parent_code", "kind", "geom"],
        "department": ["department_id", "name", "phone", "is_sample"],
        "department_coverage": [
            "department_id",
            "category",
            "grid_code",
            "geom",
            "lead",
            "valid_from",
            "valid_to",
        ],
    }
    with psycopg.connect(db_url) as conn:
        for name, columns in expected.items():
            call = f"registry.{name}()" if name.endswith("_at") else f"registry.{name}"
            cur = conn.execute(f"SELECT * FROM {call} LIMIT 0")
            got = [d.name for d in cur.description]
            if columns is not None:
                assert set(columns) <= set(got), name
        assert [
            d.name for d in conn.execute("SELECT * FROM registry.current_grid LIMIT 0").description
        ] == (expected["grids_at"])


def test_simultaneous_acceptances_never_lose_an_update(fresh_db_url, base):
    grids, communities = base
    _register(fresh_db_url, grids, communities)
    code = sorted(grids["grid_code"])[1]
    drafts = []
    for k in range(2):
        layer = grids.copy()
        layer.loc[layer["grid_code"] == code, "households"] = 1000 + k
        r = _load(fresh_db_url, layer, None)
        file_changeset(fresh_db_url, r.changeset_id, actor=EDITOR, force=True, force_reason=FIRST)
        drafts.append(r.changeset_id)
    barrier = threading.Barrier(2)
    outcomes: dict[int, str] = {}

    def accept(cs: int) -> None:
        barrier.wait()
        try:
            accept_changeset(fresh_db_url, cs, actor=REVIEWER)
            outcomes[cs] = "accepted"
        except ConflictError:
            outcomes[cs] = "conflict"

    threads = [threading.Thread(target=accept, args=(cs,)) for cs in drafts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes.values()) == ["accepted", "conflict"]
    winner = next(cs for cs, o in outcomes.items() if o == "accepted")
    history = grid_history(fresh_db_url, code)
    assert list(history["version"]) == [1, 2]
    assert history["households"].iloc[1] == 1000 + drafts.index(winner)


def test_parallel_drafts_get_distinct_new_codes(fresh_db_url, base):
    grids, communities = base
    _register(fresh_db_url, grids, communities)
    target = sorted(set(grids["community_code"]))[0]
    layer = grids[grids["community_code"] == target].copy()
    first = layer.index[0]
    g = layer.loc[first, "geometry"]
    x0, y0, x1, y1 = g.bounds
    left = shapely.intersection(g, shapely.box(x0, y0, (x0 + x1) / 2, y1))
    layer.loc[first, "geometry"] = left
    extra = layer.loc[[first]].assign(geometry=[shapely.difference(g, left)])
    split = gpd.GeoDataFrame(pd.concat([layer, extra]), crs=grids.crs).drop(columns=["grid_code"])
    results = []
    barrier = threading.Barrier(2)

    def draft() -> None:
        barrier.wait()
        results.append(_load(fresh_db_url, split, None))

    threads = [threading.Thread(target=draft) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 2
    new = [set(r.new_codes) for r in results]
    assert len(new[0]) == len(new[1]) == 2 and not new[0] & new[1]


def test_repartition_after_new_housing_redraws_only_the_grid_over_the_band(fresh_db_url):
    from gridgeo.partition import partition
    from gridgeo.registry import repartition_community

    communities = communities_of(2)
    households = gpd.read_file(DAAN, layer="households")
    households = households[households["community_code"].isin(communities["code"])]
    roads = gpd.read_file(DAAN, layer="roads", bbox=tuple(communities.total_bounds))
    base = partition(communities, roads, households, profile="yongzhou", code_pattern=PATTERN).grids
    _register(fresh_db_url, base, communities)
    before = grids_at(fresh_db_url)
    target = before.iloc[0]
    # 300 new households in 30 buildings inside the first grid: it leaves the 300–500 band.
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = target.geometry.bounds
    pts = []
    while len(pts) < 30:
        p = shapely.Point(rng.uniform(x0, x1), rng.uniform(y0, y1))
        if target.geometry.contains(p):
            pts.append(p)
    new = gpd.GeoDataFrame(
        {"households": [10] * 30, "population": [25] * 30}, geometry=pts, crs=before.crs
    )
    now = gpd.GeoDataFrame(
        pd.concat([households.to_crs(before.crs), new], ignore_index=True), crs=before.crs
    )

    result = repartition_community(
        fresh_db_url,
        target["community_code"],
        now,
        county=COUNTY,
        actor=EDITOR,
        roads=roads,
        code_pattern=PATTERN,
    )
    assert result.redrawn == [target["grid_code"]]
    assert result.load.retired_codes == [target["grid_code"]]
    same = before[
        (before["community_code"] == target["community_code"])
        & (before["grid_code"] != target["grid_code"])
    ]
    assert result.kept == sorted(same["grid_code"])
    top = max(int(c[-3:]) for c in [*same["grid_code"], target["grid_code"]])
    assert result.load.new_codes[0] == f"{target['community_code']}{top + 1:03d}"
    file_changeset(
        fresh_db_url, result.load.changeset_id, actor=EDITOR, force=True, force_reason=FIRST
    )
    accept_changeset(fresh_db_url, result.load.changeset_id, actor=REVIEWER)
    after = grids_at(fresh_db_url)
    untouched = before[before["grid_code"] != target["grid_code"]].set_index("grid_code")
    assert (
        after.set_index("grid_code").loc[untouched.index, "valid_from"] == untouched["valid_from"]
    ).all()
    redrawn = after[after["grid_code"].isin(result.load.new_codes)]
    assert redrawn["households"].sum() == int(result.counts["households_now"].iloc[0])
    assert abs(redrawn.geometry.union_all().area - target.geometry.area) < 1.0


def test_given_community_polygons_never_silently_replace_the_registry(fresh_db_url, base):
    grids, communities = base
    _register(fresh_db_url, grids, communities)
    moved = communities.copy()
    moved.loc[0, "geometry"] = moved.loc[0, "geometry"].buffer(20)
    result = _load(fresh_db_url, grids, moved)
    assert result.changeset_id is None
    assert [p.rule for p in result.warnings] == ["registry.community_differs"]
    with psycopg.connect(fresh_db_url) as conn:
        area = conn.execute(
            "SELECT ST_Area(geom) FROM registry.divisions WHERE code = %s",
            (communities.loc[0, "code"],),
        ).fetchone()[0]
    assert abs(area - communities.loc[0, "geometry"].area) < 1.0


def test_county_withdraws_its_own_draft(fresh_db_url, base):
    from gridgeo.registry import withdraw_changeset

    grids, communities = base
    r = _load(fresh_db_url, grids, communities)
    with pytest.raises(PermissionDeniedError):
        withdraw_changeset(
            fresh_db_url, r.changeset_id, actor=Principal("x", "county_editor", "63000031")
        )
    out = withdraw_changeset(fresh_db_url, r.changeset_id, actor=EDITOR, reason="重新划分")
    assert sorted(out["void_codes"]) == r.new_codes
    assert get_changeset(fresh_db_url, r.changeset_id).status == "withdrawn"
    with pytest.raises(ConflictError, match="only a draft or filed"):
        withdraw_changeset(fresh_db_url, r.changeset_id, actor=EDITOR)
    with pytest.raises(ConflictError):
        file_changeset(fresh_db_url, r.changeset_id, actor=EDITOR)
    # every refused attempt is in the audit log too, with the reason it was refused
    log = audit_log(fresh_db_url, changeset_id=r.changeset_id)
    assert list(log["action"]) == [
        "draft",
        "withdraw_refused",
        "withdraw",
        "withdraw_refused",
        "file_refused",
    ]
    assert "63000031" in log["reason"].iloc[1] and "only a draft" in log["reason"].iloc[4]
