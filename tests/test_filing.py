"""Filing the city can trust (issue 13): bound profiles, recounted households, forced
breaks with reasons, filing levels per jurisdiction, refusals in the audit log."""

from __future__ import annotations

import threading

import geopandas as gpd
import pytest
import shapely
from test_registry import (
    ADMIN,
    COUNTY,
    EDITOR,
    FIRST,
    REVIEWER,
    _daan,
    _load,
    _register,
    communities_of,
    grids_of,
)

from gridgeo.errors import ConflictError, InputError, PermissionDeniedError
from gridgeo.registry import (
    Principal,
    accept_changeset,
    audit_log,
    file_changeset,
    get_changeset,
    grids_at,
    load_grids,
    withdraw_changeset,
)
from gridgeo.registry.bindings import bind_profile, binding_history, bound_profile
from gridgeo.registry.households import load_households
from gridgeo.registry.routing import receiving_division
from gridgeo.rules import load_profile
from gridgeo.testing import seed_registry


# -- routing (pure) ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("profile", "county", "receiver"),
    [
        ("yongzhou", "431102", "431100"),  # 永州市零陵区 → 永州市
        ("xinxiang", "410702", "410700"),
        ("jiangmen", "440703", "440700"),
        ("gansu", "620102", "620000"),  # 兰州市城关区 → 甘肃省
        ("panjin", "211103", "211103"),  # 兴隆台区 → 区网格管理中心
    ],
)
def test_each_profile_names_who_receives_filings(profile, county, receiver):
    assert receiving_division(county, load_profile(profile).filing_level) == receiver


def _where(err: pytest.ExceptionInfo) -> list[tuple[str | None, str | None]]:
    """(rule, field) of every problem of a raised InputError."""
    return [(p.rule, p.field) for p in err.value.problems]


def test_routing_refuses_what_it_cannot_derive():
    assert receiving_division(COUNTY, "city", override="63000") == "63000"
    with pytest.raises(InputError, match="not a 6-digit mainland county code") as err:
        receiving_division(COUNTY, "city")
    assert _where(err) == [("routing.scheme", "county_code")]
    with pytest.raises(InputError, match="does not contain") as err:
        receiving_division("431102", "city", override="4302")
    assert _where(err) == [("routing.receiver", "receiver_code")]
    with pytest.raises(InputError, match="filing level") as err:
        receiving_division("431102", "nation")
    assert _where(err) == [("routing.level", "filing_level")]


# -- the acceptance scenario on real Da'an data ------------------------------------------
def _households() -> gpd.GeoDataFrame:
    """Da'an's household layer: one point per small statistical area, with its households."""
    _, units = _daan()
    pts = units[["households", "population"]].copy()
    return gpd.GeoDataFrame(pts, geometry=units.geometry.representative_point(), crs=units.crs)


def _merge_first_two(grids: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, int]:
    """The first community's layer with its first two (neighbouring) grids merged."""
    target = sorted(set(grids["community_code"]))[0]
    layer = grids[grids["community_code"] == target].copy()
    a, b = layer.index[:2]
    assert layer.loc[a, "geometry"].intersection(layer.loc[b, "geometry"]).length > 0
    layer.loc[a, "geometry"] = shapely.union(layer.loc[a, "geometry"], layer.loc[b, "geometry"])
    total = int(layer.loc[[a, b], "households"].sum())
    layer.loc[a, "households"] = total
    return layer.drop(index=b).drop(columns=["grid_code"]), total


def test_merged_grid_of_700_households_is_refused_then_forced_with_reason(fresh_db_url):
    grids, communities = grids_of(3), communities_of(3)
    _register(fresh_db_url, grids, communities)
    assert load_households(fresh_db_url, _households(), county=COUNTY, actor=EDITOR) > 0
    merged, total = _merge_first_two(grids)
    assert total >= 700
    r = _load(fresh_db_url, merged, None, title="合并网格")

    with pytest.raises(InputError, match=r"validate\.size\.above_ceiling") as err:
        file_changeset(fresh_db_url, r.changeset_id, actor=EDITOR)
    sized = [p for p in err.value.problems if p.rule == "validate.size.above_ceiling"]
    assert any(f"has {total} households" in p.message for p in sized)  # recounted from points
    assert get_changeset(fresh_db_url, r.changeset_id).status == "draft"  # nothing written
    with pytest.raises(InputError, match="written reason") as err:
        file_changeset(fresh_db_url, r.changeset_id, actor=EDITOR, force=True)
    assert _where(err) == [("filing.force_reason", "force_reason")]

    reason = "小区封闭管理，暂无法沿道路拆分；下季度重新划分"
    cs = file_changeset(fresh_db_url, r.changeset_id, actor=EDITOR, force=True, force_reason=reason)
    assert (cs.status, cs.profile, cs.household_source) == ("filed", "yongzhou", "points")
    assert cs.receiver_code == "63000" and cs.force_reason == reason
    assert any(
        b["rule"] == "validate.size.above_ceiling" and str(total) in b["message"]
        for b in cs.forced_breaks
    )
    actions = list(audit_log(fresh_db_url, changeset_id=r.changeset_id)["action"])
    assert actions == ["draft", "file_refused", "file_refused", "file"]

    # filed twice: refused, recorded, nothing changed
    with pytest.raises(ConflictError, match="only a draft"):
        file_changeset(fresh_db_url, r.changeset_id, actor=EDITOR, force=True, force_reason=reason)
    assert audit_log(fresh_db_url, changeset_id=r.changeset_id)["action"].iloc[-1] == "file_refused"
    assert get_changeset(fresh_db_url, r.changeset_id).forced_breaks == cs.forced_breaks


def test_declared_counts_are_checked_when_the_county_has_no_household_layer(fresh_db_url):
    grids, communities = grids_of(3), communities_of(3)
    _register(fresh_db_url, grids, communities)
    merged, _total = _merge_first_two(grids)
    r = _load(fresh_db_url, merged, None)
    with pytest.raises(InputError, match=r"size\.above_ceiling") as err:
        file_changeset(fresh_db_url, r.changeset_id, actor=EDITOR)
    # the merged grid (row: its grid code, in the merged community) is too big by the
    # declared counts
    assert any(
        p.rule == "validate.size.above_ceiling" and str(p.row)[:-3] in set(merged["community_code"])
        for p in err.value.problems
    ), err.value.problems
    cs = file_changeset(fresh_db_url, r.changeset_id, actor=EDITOR, force=True, force_reason=FIRST)
    assert cs.household_source == "declared"
    assert "declared counts" in cs.validation["rules"]["household_note"]


def test_filing_needs_a_bound_profile_set_by_an_administrator(fresh_db_url):
    grids, communities = grids_of(1), communities_of(1)
    r = load_grids(
        fresh_db_url,
        grids,
        county=COUNTY,
        actor=EDITOR,
        communities=communities,
        code_pattern=r"\d{11}",
    )
    with pytest.raises(ConflictError, match="bound to no profile"):
        file_changeset(fresh_db_url, r.changeset_id, actor=EDITOR, force=True, force_reason=FIRST)
    with pytest.raises(PermissionDeniedError, match="administrator"):
        bind_profile(fresh_db_url, COUNTY, "panjin", actor=EDITOR)
    bind_profile(fresh_db_url, "63000", "jiangmen", actor=ADMIN, code_pattern=r"\d{11}")
    assert bound_profile(fresh_db_url, COUNTY).division_code == "63000"  # the city's binding
    bind_profile(fresh_db_url, COUNTY, "panjin", actor=ADMIN, code_pattern=r"\d{11}")
    assert bound_profile(fresh_db_url, COUNTY).profile == "panjin"  # the county's own wins
    bind_profile(
        fresh_db_url, COUNTY, "gansu", actor=ADMIN, code_pattern=r"\d{11}", receiver_code="63"
    )
    history = binding_history(fresh_db_url, COUNTY)
    assert list(history["profile"]) == ["panjin", "gansu"]
    assert history["valid_to"].iloc[0] is not None and history["valid_to"].isna().iloc[1]
    assert bound_profile(fresh_db_url, COUNTY).profile == "gansu"
    cs = file_changeset(fresh_db_url, r.changeset_id, actor=EDITOR, force=True, force_reason=FIRST)
    assert (cs.profile, cs.receiver_code) == ("gansu", "63")


def test_a_gansu_countys_filing_goes_to_the_province_not_the_city(fresh_db_url):
    _c, _grids, _cs = seed_registry(fresh_db_url, 3, 2, seed=3, county="620102")
    admin = Principal("admin", "admin")
    bind_profile(fresh_db_url, "620102", "gansu", actor=admin, code_pattern=r"\d{12}")
    current = grids_at(fresh_db_url)
    current.loc[current.index[0], "grid_name"] = "改名网格"
    editor = Principal("county", "county_editor", "620102")
    r = load_grids(fresh_db_url, current, county="620102", actor=editor, code_pattern=r"\d{12}")
    cs = file_changeset(fresh_db_url, r.changeset_id, actor=editor, force=True, force_reason=FIRST)
    assert cs.receiver_code == "620000"
    with pytest.raises(PermissionDeniedError, match="filed with division 620000"):
        accept_changeset(
            fresh_db_url,
            r.changeset_id,
            actor=Principal("lz", "city_reviewer", "6201", scope=frozenset({"6201", "620102"})),
        )
    accept_changeset(
        fresh_db_url,
        r.changeset_id,
        actor=Principal("gs", "province_reviewer", "62", scope=frozenset({"62", "620102"})),
    )
    log = audit_log(fresh_db_url, changeset_id=r.changeset_id)
    assert list(log["action"])[-2:] == ["accept_refused", "accept"]


def test_a_layer_of_another_countys_communities_is_refused(fresh_db_url):
    grids, communities = grids_of(1), communities_of(1)
    other = Principal("other", "county_editor", "63000031")
    with pytest.raises(PermissionDeniedError, match="63000031"):
        load_grids(
            fresh_db_url,
            grids,
            county="63000031",
            actor=other,
            communities=communities,
            code_pattern=r"\d{11}",
        )
    assert grids_at(fresh_db_url).empty


def test_accept_racing_withdraw_one_wins_whole(fresh_db_url):
    grids, communities = grids_of(2), communities_of(2)
    _register(fresh_db_url, grids, communities)
    merged, _ = _merge_first_two(grids)
    r = _load(fresh_db_url, merged, None)
    file_changeset(fresh_db_url, r.changeset_id, actor=EDITOR, force=True, force_reason=FIRST)
    outcome: dict[str, str] = {}
    start = threading.Barrier(2)

    def run(name, fn, **kw):
        start.wait()
        try:
            fn(fresh_db_url, r.changeset_id, **kw)
            outcome[name] = "ok"
        except ConflictError as exc:
            outcome[name] = str(exc)

    threads = [
        threading.Thread(target=run, args=("accept", accept_changeset), kwargs={"actor": REVIEWER}),
        threading.Thread(
            target=run, args=("withdraw", withdraw_changeset), kwargs={"actor": EDITOR}
        ),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [k for k, v in outcome.items() if v == "ok"]
    assert len(winners) == 1, outcome
    status = get_changeset(fresh_db_url, r.changeset_id).status
    assert status == {"accept": "accepted", "withdraw": "withdrawn"}[winners[0]]
    current = set(grids_at(fresh_db_url)["grid_code"])
    assert (set(r.new_codes) <= current) == (status == "accepted")
    loser = "withdraw" if winners[0] == "accept" else "accept"
    assert f"{loser}_refused" in set(audit_log(fresh_db_url, changeset_id=r.changeset_id)["action"])
