"""The division hierarchy (province → city → county → street → community) of the registry.

Scopes of people are whole divisions and their descendants by ``parent_code``, never
code prefixes: county 330102 is not inside county 33010 because its code starts so.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gridgeo.errors import InputError, NotFoundError, PermissionDeniedError, Problem
from gridgeo.i18n import _
from gridgeo.registry._db import Bind, transaction

log = logging.getLogger(__name__)

LEVELS: tuple[str, ...] = ("province", "city", "county", "street", "community")


def register_division(
    bind: Bind, code: str, name: str, *, level: str, parent_code: str | None = None
) -> None:
    """Add a province, city, county or street, or set the name and parent of a known one.

    Parameters
    ----------
    code, name
        The official division code and name.
    level
        One of ``province``, ``city``, ``county``, ``street`` (communities come with
        their grids, see :func:`gridgeo.registry.load_grids`).
    parent_code
        The division it belongs to (must exist, one level up or more).

    Raises
    ------
    InputError
        For an empty code or name, an unknown level, or a parent that does not exist or
        is not above ``level``.
    """
    code, name = str(code).strip(), str(name).strip()
    problems = []
    if not code:
        problems.append(
            Problem(_("the division code is empty"), field="code", rule="division.code")
        )
    if not name:
        problems.append(
            Problem(_("the division name is empty"), field="name", rule="division.name")
        )
    if level not in LEVELS[:-1]:
        problems.append(
            Problem(
                _("level {level} is not valid (must be {levels})").format(
                    level=repr(level), levels=", ".join(LEVELS[:-1])
                ),
                field="level",
            )
        )
    if problems:
        raise InputError(_("cannot register division {code}").format(code=repr(code)), problems)
    with transaction(bind) as conn:
        if parent_code:
            plevel = division_level(conn, parent_code)
            if LEVELS.index(plevel) >= LEVELS.index(level):
                raise InputError(
                    _("parent division {parent} ({plevel}) is not above {code} ({level})").format(
                        parent=parent_code, plevel=plevel, code=code, level=level
                    ),
                    [
                        Problem(
                            _("the parent's level is not above this one"),
                            field="parent_code",
                            rule="division.parent",
                        )
                    ],
                )
        conn.execute(
            text(
                "INSERT INTO registry.divisions (code, name, level, parent_code) "
                "VALUES (:c, :n, :l, :p) ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, "
                "parent_code = coalesce(EXCLUDED.parent_code, registry.divisions.parent_code) "
                "WHERE registry.divisions.level = EXCLUDED.level"
            ),
            {"c": code, "n": name, "l": level, "p": parent_code or None},
        )
        if division_level(conn, code) != level:
            raise InputError(
                _("division {code} is registered with another level").format(code=code),
                [
                    Problem(
                        _("the level differs from the registered one"),
                        field="level",
                        rule="division.level",
                    )
                ],
            )
    log.info("registered division %s (%s) under %s", code, level, parent_code)


def division_level(conn: Connection, code: str) -> str:
    """The level of a registered division.

    Raises
    ------
    NotFoundError
        When the registry does not know ``code``.
    """
    level = conn.execute(
        text("SELECT level FROM registry.divisions WHERE code = :c"), {"c": str(code)}
    ).scalar()
    if level is None:
        raise NotFoundError(
            _(
                "division {code} is not in the registry (register it first with gridgeo "
                "divisions add)"
            ).format(code=repr(code))
        )
    return str(level)


def descendants(conn: Connection, code: str) -> frozenset[str]:
    """``code`` and every division below it by ``parent_code``."""
    rows = conn.execute(
        text(
            "WITH RECURSIVE t(code) AS (SELECT CAST(:c AS text) UNION "
            "SELECT d.code FROM registry.divisions d JOIN t ON d.parent_code = t.code) "
            "SELECT code FROM t"
        ),
        {"c": str(code)},
    ).scalars()
    return frozenset(rows)


def require_within(conn: Connection, county: str, codes: list[str]) -> None:
    """Refuse community codes that are not in ``county``.

    A registered community is in the county when the county is among its ancestors; a
    community the registry does not know yet (it will be registered under ``county``)
    when its code extends the county's code.

    Raises
    ------
    PermissionDeniedError
        Naming the codes outside ``county``.
    """
    if not codes:
        return
    inside = descendants(conn, county)
    known = set(
        conn.execute(
            text("SELECT code FROM registry.divisions WHERE code = ANY(:c)"),
            {"c": list(codes)},
        ).scalars()
    )
    outside = sorted(
        {
            str(c)
            for c in codes
            if (c in known and c not in inside)
            or (c not in known and not str(c).startswith(county))
        }
    )
    if outside:
        shown = ", ".join(outside[:10]) + (" …" if len(outside) > 10 else "")
        raise PermissionDeniedError(
            _("{n} divisions do not belong to county {county}: {codes}").format(
                n=len(outside), county=county, codes=shown
            )
        )
