"""The posted facts (supervision phone, duties, posting date), versioned like the grids."""

from __future__ import annotations

import datetime as dt

import pytest
from boards_seed import COUNTY, EDITOR, REVIEWER, SUPERVISION, seed_registry
from sqlalchemy import text

from gridgeo.errors import InputError, NotFoundError, PermissionDeniedError
from gridgeo.registry import Principal, engine_for
from gridgeo.registry.posting import (
    board_facts,
    communities,
    default_duties,
    record_posting,
    set_duties,
    set_supervision_phone,
)

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def seeded(db_url, tmp_path_factory):
    return seed_registry(db_url, tmp_path_factory.mktemp("posting"))


def _now(db_url) -> dt.datetime:
    with engine_for(db_url).connect() as conn:
        return conn.execute(text("SELECT clock_timestamp()")).scalar()


def test_board_facts_post_contacts_phone_and_default_duties(db_url, seeded):
    codes = list(communities(db_url, COUNTY)["code"])
    assert codes == sorted(seeded["communities"]["code"])
    facts = board_facts(db_url, codes)
    for f in facts:
        assert f.supervision_phone == SUPERVISION
        assert "households" not in f.grids and "population" not in f.grids
        assert set(f.contacts["grid_code"]) == set(f.grids["grid_code"])
        assert {"head", "full_time"} <= set(f.contacts["role"])
        defaults, source = default_duties("yongzhou")
        assert [d.text for d in f.duties if d.role == "head"] == [defaults["head"]]
        assert "第十二条" in source


def test_board_as_it_stood_on_a_date(db_url, seeded):
    code = communities(db_url, COUNTY)["code"].iloc[0]
    before = _now(db_url)
    set_supervision_phone(db_url, COUNTY, "0746-7000000", actor=EDITOR)
    set_duties(db_url, "yongzhou", "head", "新的网格长职责", actor=REVIEWER, source="市通知")
    record_posting(db_url, [code], dt.date(2026, 11, 1), actor=EDITOR)
    old = board_facts(db_url, [code], at=before)[0]
    new = board_facts(db_url, [code])[0]
    assert old.supervision_phone == SUPERVISION and new.supervision_phone == "0746-7000000"
    assert old.posted_on is None and new.posted_on == dt.date(2026, 11, 1)
    assert [d.text for d in new.duties if d.role == "head"] == ["新的网格长职责"]
    assert [d.edited for d in old.duties if d.role == "head"] == [False]
    # rows are never changed in place
    with (
        pytest.raises(Exception, match=r"never deleted"),
        engine_for(db_url).begin() as conn,
    ):
        conn.execute(text("DELETE FROM registry.supervision_phone"))
    # back to the phone and duties the other tests of the module expect (any order)
    set_supervision_phone(db_url, COUNTY, SUPERVISION, actor=EDITOR)
    defaults, source = default_duties("yongzhou")
    set_duties(db_url, "yongzhou", "head", defaults["head"], actor=REVIEWER, source=source)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda u: set_supervision_phone(u, COUNTY, "call me", actor=EDITOR), InputError, "phone"),
        (
            lambda u: set_supervision_phone(u, "99999", "12345", actor=EDITOR),
            PermissionDeniedError,
            "99999",
        ),
        (
            lambda u: set_supervision_phone(u, "6300", "12345", actor=Principal("管理员", "admin")),
            InputError,
            None,
        ),
        (lambda u: set_duties(u, "yongzhou", "boss", "x", actor=REVIEWER), InputError, "role"),
        (
            lambda u: set_duties(u, "yongzhou", "head", "x", actor=EDITOR),
            PermissionDeniedError,
            "city",
        ),
        (
            lambda u: record_posting(u, ["63000030999"], dt.date.today(), actor=EDITOR),
            NotFoundError,
            "63000030999",
        ),
        (lambda u: board_facts(u, ["63000030999"]), NotFoundError, "63000030999"),
    ],
)
def test_bad_input_is_refused_with_nothing_written(db_url, seeded, call, error, message):
    with engine_for(db_url).connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM registry.audit_log")).scalar()
    if message is None:
        call(db_url)  # a prefix of the county's communities is a valid division
        return
    with pytest.raises(error, match=message):
        call(db_url)
    with engine_for(db_url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM registry.audit_log")).scalar() == before
