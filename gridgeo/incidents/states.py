"""The case loop as a pure state machine (no database, no web).

Yongzhou art. 14 names the six steps (发现上报、受理派遣、处置反馈、任务核查、事件归档、
考核评价); Jiangmen art. 24–26 add the return of a wrongly dispatched case (一次回弹)
and the centre's designation (指定) of a department that may not return it again.

=============  ==============  ============  =========================================
action         from            to            roles
=============  ==============  ============  =========================================
report         (new)           reported      public, dispatcher, grid_worker, admin
accept 立案     reported        accepted      dispatcher, admin
reject         reported        rejected      dispatcher, admin (reason required)
dispatch 派遣   accepted        dispatched    dispatcher, admin (department required)
return 回弹     dispatched      returned      department (reason; once; not if designated)
designate 指定  returned        dispatched    dispatcher, admin (department required)
handle 处置     dispatched      handled       department (feedback required)
verify_pass    handled         closed 结案    grid_worker
verify_fail    handled         dispatched    grid_worker (reason required)
archive 归档    closed          archived      dispatcher, admin
evaluate 评价   archived        evaluated     public: the reporter only (evaluation key);
                                             dispatcher, admin: on the reporter's
                                             behalf, callback channel required
                                             (satisfaction 1–5)
supervise 督办  accepted…handled (same)      dispatcher, admin (raises the level)
explain        dispatched…handled (same)     department (overdue explanation)
=============  ==============  ============  =========================================

Evaluation belongs to the person who reported (Yongzhou art. 14: 谁办理、谁答复 and the
last step 考核评价; Gansu 办结反馈: the result is fed back to the people and their opinion
heard). A public caller proves being the reporter with the evaluation key (评价码) handed
out once when the case was reported; the centre may record the reporter's rating on their
behalf — a hotline or visit callback (回访) — and must name the channel (``callback``),
which the event log keeps. Cases without a key (imported from other channels) are rated
by callback only. A department or grid worker never rates a case.

:func:`apply` returns a new :class:`CaseFacts`; it never mutates. An action the role
may not take raises :class:`~gridgeo.errors.PermissionDeniedError` (403); an action the
case's state or history forbids raises :class:`IllegalTransitionError` (409) whose
message names the state and the rule.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field, replace
from typing import Any

from gridgeo.errors import ConflictError, InputError, PermissionDeniedError, Problem
from gridgeo.i18n import _

ROLES = ("public", "dispatcher", "department", "grid_worker", "admin")

STATES = (
    "reported",
    "accepted",
    "rejected",
    "dispatched",
    "returned",
    "handled",
    "closed",
    "archived",
    "evaluated",
)

STATE_NAMES = {
    "reported": "已上报",
    "accepted": "已立案",
    "rejected": "不予立案",
    "dispatched": "处置中",
    "returned": "已回弹",
    "handled": "待核查",
    "closed": "已结案",
    "archived": "已归档",
    "evaluated": "已评价",
}

# states in which the handling clock runs (the case is the centre's or a department's)
OPEN_STATES = frozenset({"reported", "accepted", "dispatched", "returned", "handled"})

CENTRE = frozenset({"dispatcher", "admin"})


@dataclass(frozen=True)
class Action:
    """One action of the loop.

    Attributes
    ----------
    name, label
        Stable id and its Chinese name.
    sources
        States the action may start from (empty: creates the case).
    target
        State after the action (``None``: the state does not change).
    roles
        Roles allowed to take it.
    needs
        Fields of the action's body that must be given.
    rule
        The rule in words, quoted by errors.
    """

    name: str
    label: str
    sources: frozenset[str]
    target: str | None
    roles: frozenset[str]
    needs: tuple[str, ...] = ()
    rule: str = ""


def _a(name, label, sources, target, roles, needs=(), rule=""):
    return Action(name, label, frozenset(sources), target, frozenset(roles), tuple(needs), rule)


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        _a(
            "report",
            "上报",
            (),
            "reported",
            {"public", "dispatcher", "grid_worker", "admin"},
            rule="案件由上报产生",
        ),
        _a("accept", "立案", {"reported"}, "accepted", CENTRE, rule="只有已上报的案件可以立案"),
        _a(
            "reject",
            "不予立案",
            {"reported"},
            "rejected",
            CENTRE,
            ("reason",),
            "只有已上报的案件可以不予立案，且须说明理由",
        ),
        _a(
            "dispatch",
            "派遣",
            {"accepted"},
            "dispatched",
            CENTRE,
            ("department",),
            "只有已立案的案件可以派遣",
        ),
        _a(
            "return",
            "回弹",
            {"dispatched"},
            "returned",
            {"department"},
            ("reason",),
            "承办部门只能回弹一次，指定承办的案件不得再回弹（一次回弹）",
        ),
        _a(
            "designate",
            "指定",
            {"returned"},
            "dispatched",
            CENTRE,
            ("department",),
            "只有已回弹的案件由中心指定承办部门",
        ),
        _a(
            "handle",
            "处置反馈",
            {"dispatched"},
            "handled",
            {"department"},
            ("feedback",),
            "只有处置中的案件可以反馈处置结果",
        ),
        _a(
            "verify_pass",
            "核查通过",
            {"handled"},
            "closed",
            {"grid_worker"},
            rule="只有待核查的案件可以核查",
        ),
        _a(
            "verify_fail",
            "核查不通过",
            {"handled"},
            "dispatched",
            {"grid_worker"},
            ("reason",),
            "只有待核查的案件可以核查，不通过须说明理由",
        ),
        _a("archive", "归档", {"closed"}, "archived", CENTRE, rule="只有已结案的案件可以归档"),
        _a(
            "evaluate",
            "评价",
            {"archived"},
            "evaluated",
            {"public", "dispatcher", "admin"},
            ("satisfaction",),
            "只有已归档的案件可以评价，且只评价一次；由上报人评价（评价码），或中心回访代为记录",
        ),
        _a(
            "supervise",
            "督办",
            {"accepted", "dispatched", "returned", "handled"},
            None,
            CENTRE,
            ("reason",),
            "只有未结案的案件可以督办",
        ),
        _a(
            "explain",
            "超期说明",
            {"dispatched", "handled"},
            None,
            {"department"},
            ("reason",),
            "承办部门对办理中的案件作超期说明",
        ),
    )
}


#: The actions, states and rules in English, the language of the code: messages show them in
#: the language in use (their zh_CN entries are the Chinese labels above; the labels, the
#: rules in the ``rule`` field of an error and STATE_NAMES stay as they are for clients).
_ACTION_TEXT = {
    "report": "report a case",
    "accept": "accept the case",
    "reject": "reject the case",
    "dispatch": "dispatch the case",
    "return": "return the case",
    "designate": "designate the department",
    "handle": "report the handling",
    "verify_pass": "pass the verification",
    "verify_fail": "fail the verification",
    "archive": "archive the case",
    "evaluate": "evaluate the case",
    "supervise": "supervise the case",
    "explain": "explain the delay",
}
_RULE_TEXT = {
    "report": "a case is created by a report",
    "accept": "only a reported case can be accepted",
    "reject": "only a reported case can be rejected, with a reason",
    "dispatch": "only an accepted case can be dispatched",
    "return": "a department can return a case only once, and a designated case not at all (one return)",
    "designate": "only a returned case gets a department designated by the centre",
    "handle": "only a case being handled can have its handling reported",
    "verify_pass": "only a case awaiting verification can be verified",
    "verify_fail": "only a case awaiting verification can be verified; a failure needs a reason",
    "archive": "only a closed case can be archived",
    "evaluate": "only an archived case can be evaluated, and only once; by the reporter (evaluation key), or recorded by the centre after a callback",
    "supervise": "only a case not yet closed can be supervised",
    "explain": "the department explains the delay of a case it is handling",
}
_STATE_TEXT = {
    "reported": "reported",
    "accepted": "accepted",
    "rejected": "rejected",
    "dispatched": "being handled",
    "returned": "returned",
    "handled": "awaiting verification",
    "closed": "closed",
    "archived": "archived",
    "evaluated": "evaluated",
}


def action_text(name: str) -> str:
    """The name of action ``name`` in the language in use (``立案`` / ``accept the case``)."""
    return _(_ACTION_TEXT[name]) if name in _ACTION_TEXT else name


def state_text(state: str) -> str:
    """The name of ``state`` in the language in use (``处置中`` / ``being handled``)."""
    return _(_STATE_TEXT[state]) if state in _STATE_TEXT else state


def rule_text(name: str) -> str:
    """The rule of action ``name`` in words, in the language in use."""
    return _(_RULE_TEXT[name]) if name in _RULE_TEXT else ""


class IllegalTransitionError(ConflictError):
    """An action the case's state or history forbids (HTTP 409)."""

    def __init__(self, message: str, *, state: str | None, action: str, rule: str):
        self.state = state
        self.action = action
        self.rule = rule
        super().__init__(message)


@dataclass(frozen=True)
class CaseFacts:
    """What the machine needs to know about a case.

    Attributes
    ----------
    state
        Current state (one of :data:`STATES`).
    departments
        Department ids now responsible; the first is the lead (牵头).
    returned_by
        Departments that have already returned the case (each may return once).
    designated
        Whether the centre has designated the department (no further return).
    level
        Supervision (督办) level, 0 = none.
    satisfaction
        1–5 once evaluated.
    evaluation_key_sha256
        SHA-256 (hex) of the evaluation key given to the reporter (``None``: the case
        has none, e.g. imported; only a callback by the centre can rate it).
    """

    state: str = "reported"
    departments: tuple[int, ...] = ()
    returned_by: tuple[int, ...] = ()
    designated: bool = False
    level: int = 0
    satisfaction: int | None = None
    evaluation_key_sha256: str | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def lead(self) -> int | None:
        """The lead department (牵头), if any."""
        return self.departments[0] if self.departments else None


def check_role(action: str, role: str) -> Action:
    """The :class:`Action` named ``action`` if ``role`` may take it.

    Raises
    ------
    InputError
        ``action`` is not an action of the loop.
    PermissionDeniedError
        ``role`` may not take it (whatever the case's state).
    """
    act = ACTIONS.get(action)
    if act is None:
        raise InputError(
            _("unknown action {action!r}").format(action=action),
            [
                Problem(
                    _("actions: {actions}").format(actions=_(", ").join(ACTIONS)),
                    field="action",
                    rule="incident.action",
                )
            ],
        )
    if role not in act.roles:
        allowed = _(", ").join(r for r in ROLES if r in act.roles)
        raise PermissionDeniedError(
            _("role {role} may not {label} ({action}); roles needed: {roles}").format(
                role=role, label=action_text(act.name), action=act.name, roles=allowed
            )
        )
    return act


def _illegal(act: Action, facts: CaseFacts, why: str) -> IllegalTransitionError:
    return IllegalTransitionError(
        _(
            "the case is {name} ({state}), so it is not possible to {label} ({action}): "
            "{why} [rule incident.{action}]"
        ).format(
            name=state_text(facts.state),
            state=facts.state,
            label=action_text(act.name),
            action=act.name,
            why=why,
        ),
        state=facts.state,
        action=act.name,
        rule=act.rule,
    )


def _need(act: Action, body: dict[str, Any]) -> None:
    missing = [n for n in act.needs if body.get(n) in (None, "", [], ())]
    if missing:
        raise InputError(
            _("to {label}, required fields are missing").format(label=action_text(act.name)),
            [Problem(_("required"), field=n, rule=f"incident.{act.name}.{n}") for n in missing],
        )


def _departments(body: dict[str, Any]) -> tuple[int, ...]:
    raw = body.get("department")
    deps = list(raw) if isinstance(raw, list | tuple) else [raw]
    lead = body.get("lead")
    try:
        ids = [int(d) for d in deps]
        if lead is not None:
            lead = int(lead)
    except (TypeError, ValueError):
        raise InputError(
            _("the handling departments' ids must be whole numbers"),
            [
                Problem(
                    _("{raw!r} is not a department id").format(raw=raw),
                    field="department",
                    rule="incident.department",
                )
            ],
        ) from None
    ids = list(dict.fromkeys(ids))
    if lead is not None:
        if lead not in ids:
            raise InputError(
                _("the lead department must be one of the handling departments"),
                [
                    Problem(
                        _("{lead} is not in {ids}").format(lead=lead, ids=ids),
                        field="lead",
                        rule="incident.lead",
                    )
                ],
            )
        ids.remove(lead)
        ids.insert(0, lead)
    return tuple(ids)


def apply(
    facts: CaseFacts,
    action: str,
    role: str,
    body: dict[str, Any] | None = None,
    *,
    actor_department: int | None = None,
) -> CaseFacts:
    """Take ``action`` on a case as ``role``; the facts after it.

    Parameters
    ----------
    facts
        The case now.
    action
        One of :data:`ACTIONS`.
    role
        The caller's role (one of :data:`ROLES`).
    body
        The action's fields: ``reason``, ``department`` (id or list; ``lead`` picks the
        lead department), ``feedback``, ``satisfaction`` (1–5).
    actor_department
        For role ``department``: the caller's department (``None``: not scoped).

    Returns
    -------
    CaseFacts
        New facts; ``facts`` is unchanged.

    Raises
    ------
    PermissionDeniedError
        The role may not take this action, or a department acts on another's case.
    IllegalTransitionError
        The state or the case's history forbids it (the one-rebound rule, designation).
    InputError
        A required field is missing or malformed.
    """
    body = body or {}
    act = check_role(action, role)
    if facts.state not in act.sources:
        allowed = _(", ").join(state_text(s) for s in STATES if s in act.sources)
        raise _illegal(
            act,
            facts,
            _("{rule} (states allowed: {states})").format(
                rule=rule_text(act.name), states=allowed or _("(a new case)")
            ),
        )
    if (
        role == "department"
        and actor_department is not None
        and actor_department not in facts.departments
    ):
        raise PermissionDeniedError(
            _(
                "department {department} is not a handling department of this case "
                "({departments}), so it may not {label}"
            ).format(
                department=actor_department,
                departments=list(facts.departments),
                label=action_text(act.name),
            )
        )
    if act.name == "return":
        if facts.designated:
            raise _illegal(
                act, facts, _("the centre designated the department of this case: no more return")
            )
        who = actor_department if actor_department is not None else facts.lead
        if facts.returned_by:
            raise _illegal(
                act, facts, _("this case was returned once already: it can be returned only once")
            )
        _need(act, body)
        return replace(facts, state="returned", returned_by=(*facts.returned_by, who))
    _need(act, body)
    if act.name in ("dispatch", "designate"):
        deps = _departments(body)
        return replace(
            facts, state=act.target, departments=deps, designated=act.name == "designate"
        )
    if act.name == "supervise":
        return replace(facts, level=facts.level + 1)
    if act.name == "evaluate":
        _check_evaluator(act, facts, role, body)
        try:
            score = int(body["satisfaction"])
        except (TypeError, ValueError):
            score = 0
        if not 1 <= score <= 5:
            raise InputError(
                _("the satisfaction must be a whole number from 1 to 5"),
                [
                    Problem(
                        f"{body['satisfaction']!r}", field="satisfaction", rule="incident.evaluate"
                    )
                ],
            )
        return replace(facts, state="evaluated", satisfaction=score)
    if act.target is None:
        return facts
    return replace(facts, state=act.target)


CALLBACK_CHANNELS = ("hotline", "phone", "visit", "sms", "app")


def evaluation_key_hash(key: str) -> str:
    """SHA-256 (hex) of an evaluation key, as stored with the case."""
    return hashlib.sha256(str(key).strip().encode("utf-8")).hexdigest()


def _check_evaluator(act: Action, facts: CaseFacts, role: str, body: dict[str, Any]) -> None:
    """Only the reporter rates a case: by their key, or through the centre's callback."""
    if role in CENTRE:
        channel = body.get("callback")
        if channel in (None, ""):
            raise InputError(
                _("an evaluation recorded by the centre must name the callback channel"),
                [
                    Problem(
                        _("callback channel (callback): {channels}").format(
                            channels=", ".join(CALLBACK_CHANNELS)
                        ),
                        field="callback",
                        rule="incident.evaluate.callback",
                    )
                ],
            )
        if channel not in CALLBACK_CHANNELS:
            raise InputError(
                _("invalid callback channel"),
                [
                    Problem(
                        _("{channel!r} is not a callback channel (use: {channels})").format(
                            channel=channel, channels=", ".join(CALLBACK_CHANNELS)
                        ),
                        field="callback",
                        rule="incident.evaluate.callback",
                    )
                ],
            )
        return
    key = body.get("evaluation_key")
    stored = facts.evaluation_key_sha256
    if stored is None:
        raise PermissionDeniedError(
            _(
                "this case has no evaluation key: only the centre can {label}, after a callback "
                "to the reporter"
            ).format(label=action_text(act.name))
        )
    if not key or not hmac.compare_digest(evaluation_key_hash(str(key)), stored):
        raise PermissionDeniedError(
            _(
                "only the reporter of this case may evaluate it: give the evaluation key "
                "(evaluation_key) received with the report; not allowed to {label}"
            ).format(label=action_text(act.name))
        )


def allowed_actions(facts: CaseFacts, role: str) -> list[str]:
    """Actions ``role`` may take on the case now (for the console's buttons)."""
    out = []
    for act in ACTIONS.values():
        if role not in act.roles or facts.state not in act.sources:
            continue
        if act.name == "return" and (facts.designated or facts.returned_by):
            continue
        out.append(act.name)
    return out
