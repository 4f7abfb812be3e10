"""People, roles and tokens: the one permission system of the registry, the CLI and the API.

=================  ==============  ==============================================
role               division        may
=================  ==============  ==============================================
public             —               (no token) what anyone sees
dispatcher         — (optional)    + all contacts, batch locate
county_editor      a county        + draft, file and withdraw the county's change
                                   sets; household counts and department coverage
                                   of the county's grids
city_reviewer      a city          + accept or return filings of the city's
                                   counties; counts and coverage (also by polygon)
                                   in the city
province_reviewer  a province      the same for the province's counties
centre_reviewer    a district      the same for a district grid centre
admin              — (optional)    everything: departments, matters, tokens
department         a county        incidents: read and act on its department's
                   (optional)      cases (the user's ``department_id``)
grid_worker        a community     incidents: report, read and verify the cases of
                                   the community's grids
=================  ==============  ==============================================

Tokens live in :mod:`gridgeo.registry.tokens`. A division is a whole registered division and everything below it by ``parent_code``
(:mod:`gridgeo.registry.divisions`): a county editor of one county never reaches the
neighbouring county of the same city. Whoever drafted or filed a change set may not
accept or return it (four eyes), administrators included.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gridgeo.errors import (
    AuthenticationError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    Problem,
)
from gridgeo.i18n import _
from gridgeo.registry._db import Bind, transaction
from gridgeo.registry.divisions import descendants, division_level

log = logging.getLogger(__name__)

REVIEWER_ROLES: tuple[str, ...] = ("city_reviewer", "province_reviewer", "centre_reviewer")
ROLES: tuple[str, ...] = (
    "public",
    "dispatcher",
    "county_editor",
    *REVIEWER_ROLES,
    "admin",
    "department",  # 承办部门: department_id names the department
    "grid_worker",  # 网格员: division is the community whose grids they serve
)

#: role → the division levels it may be scoped to (empty tuple: no division allowed…
#: ``None``: optional, any level).
ROLE_LEVELS: dict[str, tuple[str, ...] | None] = {
    "public": (),
    "dispatcher": None,
    "county_editor": ("county",),
    "city_reviewer": ("city",),
    "province_reviewer": ("province",),
    "centre_reviewer": ("county",),
    "admin": None,
    "department": ("county",),
    "grid_worker": ("community",),
}
#: roles whose division (of the levels above) may be left out
DIVISION_OPTIONAL: frozenset[str] = frozenset({"department"})

_STAFF = frozenset({"dispatcher", "county_editor", *REVIEWER_ROLES, "admin"})
_EDITORS = frozenset({"county_editor", *REVIEWER_ROLES, "admin"})
_REVIEWERS = frozenset({*REVIEWER_ROLES, "admin"})
_CASE_WORKERS = frozenset({"dispatcher", "admin", "department", "grid_worker"})


@dataclass(frozen=True)
class Action:
    """What may be done, by which roles, and whether a division scope applies.

    ``text`` is English; :attr:`label` is it in the language in use (translated when read,
    so a refusal is in the language of the request, not of the import).
    """

    roles: frozenset[str]
    scoped: bool
    text: str

    @property
    def label(self) -> str:
        """What the action is, in the language in use (:func:`gridgeo.i18n.gettext`)."""
        return _(self.text)


#: Every action the registry, the CLI and the API check, in one table.
ACTIONS: dict[str, Action] = {
    "contacts.private": Action(_STAFF, False, "see unpublished contacts"),
    "locate.batch": Action(_STAFF, False, "locate in batches"),
    "counts.read": Action(_EDITORS, True, "see household and population counts"),
    "coverage.edit": Action(_EDITORS, True, "assign the responsible departments of grids"),
    "coverage.polygon": Action(_REVIEWERS, True, "assign responsible departments by polygon"),
    "departments.edit": Action(_REVIEWERS, False, "register departments"),
    "matters.admin": Action(frozenset({"admin"}), False, "change the matter list and departments"),
    "tokens.admin": Action(frozenset({"admin"}), False, "manage users and tokens"),
    "index.admin": Action(frozenset({"admin"}), False, "manage the locator index"),
    "changeset.draft": Action(
        frozenset({"county_editor", "admin"}), True, "draft, file and withdraw changes"
    ),
    "changeset.review": Action(_REVIEWERS, True, "accept or return filings"),
    "changeset.read": Action(_EDITORS, True, "see change sets"),
    "notifications.read": Action(_STAFF, False, "see notifications"),
    "tracks.upload": Action(frozenset({"county_editor", "admin"}), True, "upload patrol tracks"),
    "tracks.read": Action(_EDITORS, True, "see patrol statistics"),
    "posting.edit": Action(_EDITORS, True, "set supervision phones and posting dates"),
    "posting.duties": Action(_REVIEWERS, False, "change the duty texts of grid workers"),
    # the case loop; which loop step a role may take is gridgeo.incidents.states
    "incidents.report": Action(frozenset(ROLES), False, "report cases"),
    "incidents.evaluate": Action(frozenset(ROLES), False, "evaluate cases"),
    "incidents.read": Action(_STAFF | _CASE_WORKERS, True, "see cases"),
    "incidents.act": Action(_CASE_WORKERS, True, "handle cases"),
    "incidents.notices": Action(
        frozenset({"department"}), False, "see a department's case notices"
    ),
    "incidents.import": Action(
        frozenset({"dispatcher", "admin"}), False, "import cases in batches"
    ),
}


@dataclass(frozen=True)
class Principal:
    """An authenticated person (or the anonymous public) and what they may reach.

    Parameters
    ----------
    name
        The user's unique name (written to the audit log).
    role
        One of :data:`ROLES`.
    division_code
        The user's division (``None`` for unscoped roles).
    scope
        The division and all divisions below it; ``None`` for an unscoped user. Built
        from the registry by :func:`get_principal` and :func:`gridgeo.registry.tokens.authenticate`; when
        omitted it is just ``division_code``.
    department_id
        A ``department`` user's department (``registry.department``), else ``None``.
    token_id, token_name
        The token that authenticated the call, if any.
    authenticated
        ``False`` only for the anonymous public.
    """

    name: str
    role: str
    division_code: str | None = None
    scope: frozenset[str] | None = field(default=None, repr=False)
    user_id: int | None = None
    department_id: int | None = None
    token_id: int | None = None
    token_name: str = ""
    authenticated: bool = True

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise PermissionDeniedError(
                _("unknown role {role} (available: {roles})").format(
                    role=repr(self.role), roles=", ".join(ROLES)
                )
            )
        if not str(self.name).strip():
            raise PermissionDeniedError(_("a user needs a name (written to the audit log)"))
        if self.division_code and self.scope is None:
            object.__setattr__(self, "scope", frozenset({self.division_code}))

    @property
    def label(self) -> str:
        """How the user is shown: name, role and division."""
        where = f" {self.division_code}" if self.division_code else ""
        return f"{self.name}（{self.role}{where}）"

    def covers(self, division: str | None) -> bool:
        """Whether ``division`` (a whole registered code) is inside this user's scope."""
        return self.scope is None or (division is not None and str(division) in self.scope)

    def can(self, action: str, division: str | None = None) -> bool:
        """Whether the role has ``action`` and, for a scoped action, ``division`` is covered.

        With ``division=None`` only the role is checked (the caller then filters per item
        with :meth:`covers`).
        """
        act = ACTIONS[action]
        if self.role not in act.roles:
            return False
        return not (act.scoped and division is not None and not self.covers(division))

    def require(self, action: str, division: str | None = None) -> None:
        """Refuse unless this user may do ``action`` (in ``division``).

        Raises
        ------
        AuthenticationError
            For the anonymous public when a token would be needed (HTTP 401).
        PermissionDeniedError
            When the role lacks the action or ``division`` is outside the user's scope.
        """
        act = ACTIONS[action]
        if self.role not in act.roles:
            allowed = ", ".join(r for r in ROLES if r in act.roles)
            if not self.authenticated:
                raise AuthenticationError(
                    _("to {action}, a token of one of these roles is needed: {roles}").format(
                        action=act.label, roles=allowed
                    )
                )
            raise PermissionDeniedError(
                _("{user} may not {action} (roles needed: {roles})").format(
                    user=self.label, action=act.label, roles=allowed
                )
            )
        if act.scoped and division is not None and not self.covers(division):
            raise PermissionDeniedError(
                _("{user} may not {action}: {division} is outside their area {area}").format(
                    user=self.label, action=act.label, division=division, area=self.division_code
                )
            )

    def require_not_author(self, changeset_id: int, authors: tuple[str | None, ...]) -> None:
        """Four eyes: whoever drafted or filed a change set may not decide on it.

        Raises
        ------
        PermissionDeniedError
            When this user's name is among ``authors``.
        """
        if self.name in authors:
            raise PermissionDeniedError(
                _(
                    "{user} drafted or filed change set {id} and may not review it as well "
                    "(four eyes)"
                ).format(user=self.name, id=changeset_id)
            )


#: The anonymous caller of the API.
PUBLIC = Principal("anonymous", "public", authenticated=False)


# -- users ------------------------------------------------------------------------------
def _check_division(conn: Connection, role: str, division: str | None) -> None:
    levels = ROLE_LEVELS[role]
    if levels == () and division:
        raise InputError(
            _("role {role} belongs to no division").format(role=role),
            [
                Problem(
                    _("this role cannot have a division"),
                    field="division_code",
                    rule="user.division",
                )
            ],
        )
    if not division:
        if levels and role not in DIVISION_OPTIONAL:
            raise InputError(
                _("role {role} needs a division ({levels})").format(
                    role=role, levels="/".join(levels)
                ),
                [Problem(_("division missing"), field="division_code", rule="user.division")],
            )
        return
    try:
        level = division_level(conn, division)
    except NotFoundError:
        raise InputError(
            _(
                "division {division} is not in the registry: a user can only belong to a "
                "whole registered division"
            ).format(division=repr(division)),
            [Problem(_("unregistered division"), field="division_code", rule="user.division")],
        ) from None
    if levels and level not in levels:
        raise InputError(
            _(
                "the division of role {role} must be of level {levels}; {division} is of "
                "level {level}"
            ).format(role=role, levels="/".join(levels), division=division, level=level),
            [Problem(_("wrong division level"), field="division_code", rule="user.division")],
        )


#: the columns of registry.app_user that :func:`principal_of` reads, in its order
USER_COLUMNS = "user_id, name, role, division_code, department_id"


def _check_department(conn: Connection, role: str, department_id: int | None) -> None:
    if role != "department":
        if department_id is not None:
            raise InputError(
                _(
                    "only users of role department belong to a department ({role} cannot "
                    "have a department id)"
                ).format(role=role),
                [
                    Problem(
                        _("this role cannot have a department"),
                        field="department_id",
                        rule="user.department",
                    )
                ],
            )
        return
    if department_id is None:
        raise InputError(
            _("role department needs a department id (--department-id)"),
            [Problem(_("department id missing"), field="department_id", rule="user.department")],
        )
    known = conn.execute(
        text("SELECT 1 FROM registry.department WHERE department_id = :d"),
        {"d": int(department_id)},
    ).scalar()
    if known is None:
        raise InputError(
            _("department {id} is not in the department directory").format(id=department_id),
            [Problem(_("unregistered department"), field="department_id", rule="user.department")],
        )


def principal_of(conn: Connection, row: Any, **token: Any) -> Principal:
    user_id, name, role, division, department = row
    scope = descendants(conn, division) if division else None
    if role == "department" and scope is None:
        scope = frozenset()  # a department without a county reaches its own cases only
    return Principal(
        name,
        role,
        division or None,
        scope=scope,
        user_id=int(user_id),
        department_id=None if department is None else int(department),
        **token,
    )


def get_principal(bind: Bind, name: str) -> Principal:
    """The registered user ``name`` with the scope of their division.

    For trusted local code (tests, the demo, scripts run by the database owner); people
    authenticate with a token (:func:`gridgeo.registry.tokens.authenticate`).

    Raises
    ------
    NotFoundError
        When no such user exists.
    """
    with transaction(bind) as conn:
        row = conn.execute(
            text(f"SELECT {USER_COLUMNS} FROM registry.app_user WHERE name = :n"),
            {"n": str(name)},
        ).one_or_none()
        if row is None:
            raise NotFoundError(_("no user {name}").format(name=repr(name)))
        return principal_of(conn, row)


def create_user(
    bind: Bind,
    name: str,
    *,
    role: str,
    division_code: str | None = None,
    department_id: int | None = None,
    by: str,
) -> Principal:
    """Register a person with a role and a division of the registry.

    ``department_id`` is required for (and only allowed with) role ``department``: the
    registered department whose cases the user handles.

    Raises
    ------
    InputError
        For an empty name, an unknown role, a division that is missing, unknown to
        the registry or of the wrong level for the role (e.g. ``"6"``), or a department
        that is missing, unknown or given to another role.
    ConflictError
        When the name is taken.
    """
    name = str(name).strip()
    if not name:
        empty = _("the user name is empty")
        raise InputError(empty, [Problem(empty, field="user", rule="user.name")])
    if role not in ROLES:
        raise InputError(
            _("unknown role {role} (available: {roles})").format(
                role=repr(role), roles=", ".join(ROLES)
            ),
            [Problem(_("unknown role"), field="role", rule="user.role")],
        )
    division_code = str(division_code).strip() if division_code else None
    with transaction(bind) as conn:
        _check_division(conn, role, division_code)
        _check_department(conn, role, department_id)
        conn.execute(
            text(
                "INSERT INTO registry.app_user (name, role, division_code, department_id, "
                "created_by) VALUES (:n, :r, :d, :dep, :by)"
            ),
            {"n": name, "r": role, "d": division_code, "dep": department_id, "by": by},
        )
        audit_event(
            conn,
            by,
            "user_create",
            {
                "user": name,
                "role": role,
                "division": division_code,
                "department_id": department_id,
            },
        )
    log.info("registered user %s as %s of %s", name, role, division_code)
    return get_principal(bind, name)


def audit_refusal(
    bind: Bind,
    actor: Principal,
    action: str,
    changeset_id: int | None,
    reason: str,
    *,
    detail: dict | None = None,
) -> None:
    """Write a refused attempt to the audit log as ``<action>_refused``, in its own transaction."""
    with transaction(bind) as conn:
        conn.execute(
            text(
                "SELECT registry.append_audit(:a, :r, :act, (SELECT changeset_id FROM "
                "registry.changeset WHERE changeset_id = :cs), :why, CAST(:d AS jsonb))"
            ),
            {
                "a": actor.name,
                "r": actor.role,
                "act": f"{action}_refused",
                "cs": None if changeset_id is None else int(changeset_id),
                "why": reason,
                "d": json.dumps(detail or {}, ensure_ascii=False),
            },
        )


def is_database_owner(bind: Bind) -> bool:
    """Whether this connection's database role owns the registry (may bootstrap users)."""
    with transaction(bind) as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT pg_has_role(current_user, n.nspowner, 'USAGE') "
                    "FROM pg_namespace n WHERE n.nspname = 'registry'"
                )
            ).scalar()
        )


def audit_event(conn: Connection, actor: str, action: str, detail: dict[str, Any]) -> None:
    conn.execute(
        text("SELECT registry.append_audit(:a, NULL, :act, NULL, NULL, CAST(:d AS jsonb))"),
        {"a": actor, "act": action, "d": json.dumps(detail, ensure_ascii=False, default=str)},
    )


#: The database role of the service's anonymous read routes (sql/migrations/0900_roles.sql).
READ_ROLE = "gridgeo_read"


def read_only_session(conn: Any) -> None:
    """Make a psycopg connection a read-only :data:`READ_ROLE` session (a pool's ``configure``).

    ``SET ROLE gridgeo_read`` (the login must be a member: the application role is, by
    migration 0120) and ``default_transaction_read_only``: its queries can read the public
    registry and nothing else — no users or tokens, no writes, no workflow functions.
    """
    conn.execute(f"SET ROLE {READ_ROLE}")
    conn.execute("SET default_transaction_read_only = on")
    conn.commit()
