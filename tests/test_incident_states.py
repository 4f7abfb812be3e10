"""The case loop's state machine: every action × state × role, the one-rebound rule, designation."""

from __future__ import annotations

import itertools

import pytest

from gridgeo.errors import ConflictError, InputError, PermissionDeniedError
from gridgeo.incidents.states import (
    ACTIONS,
    ROLES,
    STATES,
    CaseFacts,
    IllegalTransitionError,
    allowed_actions,
    apply,
    evaluation_key_hash,
)

# written out by hand from Yongzhou art. 14 and Jiangmen art. 24–26 (not derived from the code)
LEGAL = {
    ("reported", "accept"): "accepted",
    ("reported", "reject"): "rejected",
    ("accepted", "dispatch"): "dispatched",
    ("dispatched", "return"): "returned",
    ("returned", "designate"): "dispatched",
    ("dispatched", "handle"): "handled",
    ("handled", "verify_pass"): "closed",
    ("handled", "verify_fail"): "dispatched",
    ("closed", "archive"): "archived",
    ("archived", "evaluate"): "evaluated",
    ("accepted", "supervise"): "accepted",
    ("dispatched", "supervise"): "dispatched",
    ("returned", "supervise"): "returned",
    ("handled", "supervise"): "handled",
    ("dispatched", "explain"): "dispatched",
    ("handled", "explain"): "handled",
}
WHO = {
    "accept": {"dispatcher", "admin"},
    "reject": {"dispatcher", "admin"},
    "dispatch": {"dispatcher", "admin"},
    "designate": {"dispatcher", "admin"},
    "archive": {"dispatcher", "admin"},
    "supervise": {"dispatcher", "admin"},
    "return": {"department"},
    "handle": {"department"},
    "explain": {"department"},
    "verify_pass": {"grid_worker"},
    "verify_fail": {"grid_worker"},
    "evaluate": {"public", "dispatcher", "admin"},
}
# evaluate: public only as the reporter (the key), the centre only after a callback
KEY = "reporter-key"
BODY = {
    "reason": "理由",
    "department": 7,
    "feedback": "已清理",
    "satisfaction": 5,
    "evaluation_key": KEY,
    "callback": "hotline",
}
CASES = [(s, a, r) for s, a, r in itertools.product(STATES, sorted(WHO), ROLES)]


def test_table_covers_every_action():
    assert set(WHO) == set(ACTIONS) - {"report"}


@pytest.mark.parametrize(("state", "action", "role"), CASES)
def test_every_transition_per_role(state, action, role):
    facts = CaseFacts(state=state, departments=(7,), evaluation_key_sha256=evaluation_key_hash(KEY))
    if role not in WHO[action]:
        with pytest.raises(PermissionDeniedError) as err:
            apply(facts, action, role, BODY)
        assert role in str(err.value)
        return
    if (state, action) not in LEGAL:
        with pytest.raises(IllegalTransitionError) as err:
            apply(facts, action, role, BODY)
        assert err.value.http_status == 409
        assert f"({state})" in str(err.value) and f"incident.{action}" in str(err.value)
        return
    after = apply(facts, action, role, BODY)
    assert after.state == LEGAL[(state, action)]
    assert facts.state == state  # not mutated
    assert (action in allowed_actions(facts, role)) is True


def test_report_is_not_an_action_on_an_existing_case():
    with pytest.raises(IllegalTransitionError):
        apply(CaseFacts(state="reported"), "report", "public")


def test_unknown_action_and_role_is_input_or_permission_error():
    with pytest.raises(InputError):
        apply(CaseFacts(), "delete", "admin")
    with pytest.raises(PermissionDeniedError):
        apply(CaseFacts(), "accept", "hacker")


def test_one_rebound_then_designation_cannot_be_returned():
    f = apply(CaseFacts(state="accepted"), "dispatch", "dispatcher", {"department": 3})
    f = apply(f, "return", "department", {"reason": "不属本部门职责"}, actor_department=3)
    assert f.state == "returned" and f.returned_by == (3,)
    f = apply(f, "designate", "dispatcher", {"department": 4})
    assert f.state == "dispatched" and f.designated and f.departments == (4,)
    assert "return" not in allowed_actions(f, "department")
    with pytest.raises(IllegalTransitionError) as err:
        apply(f, "return", "department", {"reason": "again"}, actor_department=4)
    assert "designated" in str(err.value) and "(dispatched)" in str(err.value)


def test_second_rebound_refused_even_without_designation():
    f = CaseFacts(state="dispatched", departments=(3,), returned_by=(2,))
    with pytest.raises(ConflictError) as err:
        apply(f, "return", "department", {"reason": "x"})
    assert "only once" in str(err.value)


def test_return_needs_a_reason_and_own_department():
    f = CaseFacts(state="dispatched", departments=(3,))
    with pytest.raises(InputError) as err:
        apply(f, "return", "department", {})
    assert err.value.problems[0].field == "reason"
    with pytest.raises(PermissionDeniedError):
        apply(f, "return", "department", {"reason": "x"}, actor_department=9)


def test_lead_department_is_first():
    f = apply(
        CaseFacts(state="accepted"), "dispatch", "dispatcher", {"department": [3, 5, 8], "lead": 5}
    )
    assert f.departments == (5, 3, 8) and f.lead == 5
    with pytest.raises(InputError):
        apply(CaseFacts(state="accepted"), "dispatch", "dispatcher", {"department": [3], "lead": 9})


def test_verify_fail_goes_back_to_handling_and_supervision_raises_level():
    f = CaseFacts(state="handled", departments=(3,))
    f = apply(f, "verify_fail", "grid_worker", {"reason": "垃圾未清"})
    assert f.state == "dispatched"
    f = apply(f, "supervise", "dispatcher", {"reason": "催办"})
    f = apply(f, "supervise", "dispatcher", {"reason": "再次催办"})
    assert f.level == 2 and f.state == "dispatched"


@pytest.mark.parametrize("score", [0, 6, "good", None])
def test_satisfaction_is_1_to_5(score):
    with pytest.raises(InputError):
        apply(
            CaseFacts(state="archived", evaluation_key_sha256=evaluation_key_hash(KEY)),
            "evaluate",
            "public",
            {"satisfaction": score, "evaluation_key": KEY},
        )


ARCHIVED = CaseFacts(
    state="archived", departments=(7,), evaluation_key_sha256=evaluation_key_hash(KEY)
)


@pytest.mark.parametrize(
    ("role", "body", "outcome"),
    [
        # the reporter, with the key handed out at reporting
        ("public", {"satisfaction": 4, "evaluation_key": KEY}, 4),
        ("public", {"satisfaction": 4, "evaluation_key": f"  {KEY} "}, 4),
        # anyone else of the public: no key, a wrong key
        ("public", {"satisfaction": 4}, PermissionDeniedError),
        ("public", {"satisfaction": 4, "evaluation_key": "guess"}, PermissionDeniedError),
        # the centre on the reporter's behalf: only with the callback channel
        ("dispatcher", {"satisfaction": 2, "callback": "hotline"}, 2),
        ("admin", {"satisfaction": 3, "callback": "visit"}, 3),
        ("dispatcher", {"satisfaction": 2}, InputError),
        ("dispatcher", {"satisfaction": 2, "callback": "telepathy"}, InputError),
        # the centre's key is no callback
        ("admin", {"satisfaction": 2, "evaluation_key": KEY}, InputError),
        # those who handled or checked the case never rate it
        ("department", {"satisfaction": 5, "evaluation_key": KEY}, PermissionDeniedError),
        ("grid_worker", {"satisfaction": 5, "evaluation_key": KEY}, PermissionDeniedError),
    ],
)
def test_evaluation_is_the_reporters(role, body, outcome):
    if isinstance(outcome, int):
        after = apply(ARCHIVED, "evaluate", role, body, actor_department=7)
        assert (after.state, after.satisfaction) == ("evaluated", outcome)
        return
    with pytest.raises(outcome) as err:
        apply(ARCHIVED, "evaluate", role, body, actor_department=7)
    if outcome is InputError:
        assert err.value.problems[0].field == "callback"


def test_a_case_without_key_is_rated_by_callback_only():
    imported = CaseFacts(state="archived")  # imported from another channel: no key
    with pytest.raises(PermissionDeniedError) as err:
        apply(imported, "evaluate", "public", {"satisfaction": 5, "evaluation_key": "any"})
    assert "callback" in str(err.value)
    after = apply(imported, "evaluate", "dispatcher", {"satisfaction": 5, "callback": "phone"})
    assert after.satisfaction == 5
