"""People, roles, divisions and tokens in the registry (library level, real PostGIS).

Division hierarchy used here: province 63 with cities 63000 (counties 63000030 — the
real Da'an villages — and its neighbour 63000031) and 65000 (county 65000010).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from test_registry import COUNTY, FIRST, PATTERN, bind_daan, communities_of, grids_of

from gridgeo.errors import AuthenticationError, InputError, PermissionDeniedError
from gridgeo.registry import (
    Principal,
    accept_changeset,
    audit_log,
    authenticate,
    create_user,
    file_changeset,
    get_changeset,
    get_principal,
    grids_at,
    issue_token,
    list_tokens,
    load_grids,
    register_division,
    return_changeset,
    revoke_token,
    withdraw_changeset,
)
from gridgeo.registry.bindings import bind_profile

pytestmark = pytest.mark.db

DIVISIONS = (
    ("63", "台湾省", "province", None),
    ("63000", "臺北市", "city", "63"),
    ("65000", "高雄市", "city", "63"),
    (COUNTY, "大安區", "county", "63000"),
    ("63000031", "信義區", "county", "63000"),
    ("65000010", "鹽埕區", "county", "65000"),
)
PEOPLE = (
    ("A", "county_editor", COUNTY),
    ("B", "county_editor", COUNTY),
    ("C", "city_reviewer", "63000"),
    ("neighbour-county", "county_editor", "63000031"),
    ("neighbour-city", "city_reviewer", "65000"),
    ("province", "province_reviewer", "63"),
    ("centre", "centre_reviewer", COUNTY),
    ("neighbour-centre", "centre_reviewer", "63000031"),
    ("dispatcher", "dispatcher", None),
    ("admin", "admin", None),
    ("admin-B", "admin", None),
)


def _register_people(url: str) -> dict[str, Principal]:
    for code, name, level, parent in DIVISIONS:
        register_division(url, code, name, level=level, parent_code=parent)
    for name, role, division in PEOPLE:
        create_user(url, name, role=role, division_code=division, by="test")
    return {name: get_principal(url, name) for name, _r, _d in PEOPLE}


@pytest.fixture
def people(fresh_db_url):
    return _register_people(fresh_db_url)


@pytest.fixture(scope="module")
def people_db(db_url) -> str:
    """The module's database with the divisions and people, for tests that change nothing."""
    _register_people(db_url)
    return db_url


def _draft(url, who):
    return load_grids(
        url,
        grids_of(1),
        county=COUNTY,
        actor=who,
        communities=communities_of(1),
        code_pattern=PATTERN,
    ).changeset_id


@pytest.mark.parametrize(
    ("a", "b", "refusal"),
    [
        ("A", "B", "may not accept"),  # county editors: never reviewers
        ("admin", "admin-B", "four eyes"),  # administrators: four eyes still holds
    ],
)
def test_four_eyes_with_three_people(fresh_db_url, people, a, b, refusal):
    cs = _draft(fresh_db_url, people[a])  # A drafts
    bind_daan(fresh_db_url)
    file_changeset(fresh_db_url, cs, actor=people[b], force=True, force_reason=FIRST)  # B files
    for who in (b, a):  # neither may decide
        for decide, kw in ((accept_changeset, {}), (return_changeset, {"reason": "x"})):
            with pytest.raises(PermissionDeniedError, match=refusal):
                decide(fresh_db_url, cs, actor=people[who], **kw)
    assert get_changeset(fresh_db_url, cs).status == "filed"
    accept_changeset(fresh_db_url, cs, actor=people["C"])  # C accepts
    assert get_changeset(fresh_db_url, cs).decided_by == "C"
    log = audit_log(fresh_db_url, changeset_id=cs)
    done = log[~log["action"].str.endswith("_refused")]
    assert list(done["actor"]) == [a, b, "C"]  # the authenticated people
    refused = log[log["action"].str.endswith("_refused")]
    assert list(refused["actor"]) == [b, b, a, a]  # every refused attempt, with the reason
    assert refused["reason"].str.contains(refusal).all()
    assert not grids_at(fresh_db_url).empty


@pytest.mark.parametrize(
    ("who", "may_draft", "may_review"),
    [
        ("A", True, False),
        ("neighbour-county", False, False),  # same city, other county
        ("C", False, True),
        ("neighbour-city", False, False),  # same province, other city
        ("province", False, True),
        ("centre", False, True),
        ("neighbour-centre", False, False),
        ("dispatcher", False, False),
        ("admin", True, True),
    ],
)
def test_every_role_by_the_division_hierarchy(fresh_db_url, people, who, may_draft, may_review):
    actor = people[who]
    if may_draft:
        cs = _draft(fresh_db_url, actor)
    else:
        with pytest.raises(PermissionDeniedError):
            _draft(fresh_db_url, actor)
        cs = _draft(fresh_db_url, people["A"])
    if actor.name != "A":
        if may_draft:
            withdraw_changeset(fresh_db_url, cs, actor=actor)
            cs = _draft(fresh_db_url, people["A"])
        else:
            with pytest.raises(PermissionDeniedError):
                withdraw_changeset(fresh_db_url, cs, actor=actor)
    if who.endswith("centre"):  # a district centre receives the filings (Panjin's level)
        bind_profile(
            fresh_db_url,
            COUNTY,
            "panjin",
            actor=Principal("admin", "admin"),
            code_pattern=PATTERN,
            receiver_code=COUNTY,
        )
    else:
        bind_daan(fresh_db_url)
    file_changeset(fresh_db_url, cs, actor=people["B"], force=True, force_reason=FIRST)
    if may_review:
        return_changeset(fresh_db_url, cs, actor=actor, reason="请调整")
        assert get_changeset(fresh_db_url, cs).status == "returned"
    else:
        for decide in (accept_changeset, return_changeset):
            kw = {"reason": "x"} if decide is return_changeset else {}
            with pytest.raises(PermissionDeniedError):
                decide(fresh_db_url, cs, actor=actor, **kw)
        assert get_changeset(fresh_db_url, cs).status == "filed"


_DIVISION = ("user.division", "division_code")


@pytest.mark.parametrize(
    ("role", "division", "message", "where"),
    [
        ("county_editor", "6", "is not in the registry", _DIVISION),
        ("county_editor", "630", "is not in the registry", _DIVISION),
        ("county_editor", "63000", "must be of level county", _DIVISION),
        ("city_reviewer", COUNTY, "must be of level city", _DIVISION),
        ("province_reviewer", "63000", "must be of level province", _DIVISION),
        ("city_reviewer", None, "needs a division", _DIVISION),
        ("public", "63", "cannot have a division", _DIVISION),
        ("nobody", None, "unknown role", ("user.role", "role")),
        ("grid_worker", COUNTY, "must be of level community", _DIVISION),
        ("grid_worker", None, "needs a division", _DIVISION),
        ("department", "63000", "must be of level county", _DIVISION),
        ("department", COUNTY, "department id", ("user.department", "department_id")),
    ],
)
def test_users_belong_to_real_divisions(people_db, role, division, message, where):
    # a refused user is never written: the cases can share one database
    with pytest.raises(InputError, match=message) as err:
        create_user(people_db, "x", role=role, division_code=division, by="test")
    assert [(p.rule, p.field) for p in err.value.problems] == [where]
    with psycopg.connect(people_db) as conn:
        assert conn.execute(
            "SELECT count(*) FROM registry.app_user WHERE name = 'x'"
        ).fetchone() == (0,)


def test_token_lifecycle(fresh_db_url, people, monkeypatch):
    issued = issue_token(fresh_db_url, "A", name="笔记本", by="admin")
    me = authenticate(fresh_db_url, issued.token)
    assert (me.name, me.role, me.division_code, me.token_name) == (
        "A",
        "county_editor",
        COUNTY,
        "笔记本",
    )
    assert me.covers(COUNTY) and not me.covers("63000031") and not me.covers("63000")
    row = list_tokens(fresh_db_url).set_index("token_id").loc[issued.token_id]
    assert (row["name"], row["user"], row["state"]) == ("笔记本", "A", "active")
    with psycopg.connect(fresh_db_url) as conn:  # only the digest is stored
        assert conn.execute(
            "SELECT count(*) FROM registry.user_token WHERE token_sha256 = %s", (issued.token,)
        ).fetchone() == (0,)
    revoke_token(fresh_db_url, issued.token_id, by="admin")
    with pytest.raises(AuthenticationError, match="revoked"):
        authenticate(fresh_db_url, issued.token)
    with pytest.raises(AuthenticationError, match="unknown token"):
        authenticate(fresh_db_url, "gg_not-a-token")
    monkeypatch.setenv("GRIDGEO_LANG", "zh_CN")  # the same refusal in Chinese
    with pytest.raises(AuthenticationError, match="未知的令牌"):
        authenticate(fresh_db_url, "gg_not-a-token")
    monkeypatch.setenv("GRIDGEO_LANG", "en")
    with pytest.raises(InputError, match="has passed") as err:
        issue_token(
            fresh_db_url, "A", name="过去", by="admin", expires_at=datetime(2000, 1, 1, tzinfo=UTC)
        )
    assert [(p.rule, p.field) for p in err.value.problems] == [("token.expiry", "expires_at")]
    with pytest.raises(InputError, match="do not change with a token") as err:
        issue_token(fresh_db_url, "A", name="升级", by="admin", role="admin")
    assert [(p.rule, p.field) for p in err.value.problems] == [("token.user", "role")]
    short = issue_token(
        fresh_db_url,
        "C",
        name="一秒",
        by="admin",
        expires_at=datetime.now(UTC) + timedelta(seconds=1),
    )
    import time

    time.sleep(1.2)
    with pytest.raises(AuthenticationError, match="expired"):
        authenticate(fresh_db_url, short.token)
    log = audit_log(fresh_db_url)
    assert list(log.loc[log["action"] == "token_refused", "actor"]) == ["A", "C"]
    assert {"token_create", "token_revoke", "user_create"} <= set(log["action"])


def test_department_users_carry_their_department(fresh_db_url, people):
    """A department user names a registered department; the token authenticates it."""
    with psycopg.connect(fresh_db_url) as conn:
        dep = conn.execute(
            "INSERT INTO registry.department (name) VALUES ('大安區環保局') RETURNING department_id"
        ).fetchone()[0]
    with pytest.raises(InputError, match="is not in the department directory") as err:
        create_user(fresh_db_url, "y", role="department", department_id=dep + 1, by="test")
    assert [(p.rule, p.field) for p in err.value.problems] == [("user.department", "department_id")]
    with pytest.raises(InputError, match="cannot have a department id") as err:
        create_user(fresh_db_url, "y", role="dispatcher", department_id=dep, by="test")
    assert [(p.rule, p.field) for p in err.value.problems] == [("user.department", "department_id")]
    issued = issue_token(
        fresh_db_url, "環保承办人", name="t", by="test", role="department", department_id=dep
    )
    assert issued.department_id == dep and issued.division_code is None
    who = authenticate(fresh_db_url, issued.token)
    assert (who.role, who.department_id, who.division_code) == ("department", dep, None)
    assert not who.covers(COUNTY)  # no county: only its department's cases
    assert who.can("incidents.act") and not who.can("counts.read")
    listed = list_tokens(fresh_db_url).set_index("token_id")
    assert listed.loc[issued.token_id, "department_id"] == dep
    scoped = issue_token(
        fresh_db_url,
        "大安環保",
        name="t",
        by="test",
        role="department",
        department_id=dep,
        division_code=COUNTY,
    )
    assert authenticate(fresh_db_url, scoped.token).covers(COUNTY)
