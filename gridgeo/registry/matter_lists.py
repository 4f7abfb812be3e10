"""Matter lists (事项清单): the city catalogue, county admission lists, the negative list.

* The **city catalogue** is ``service.category`` (category code, name, default
  responsible department, deadline class and limits, the negative-list flag, the
  article it rests on). :func:`set_catalogue` writes it; every change is kept in
  ``service.category_version`` by a trigger (valid_from / valid_to, who).
* A **county's admission list** (准入清单) is ``registry.matter_admission``. Admission and
  exit are change-set items (``admit_matter`` / ``exit_matter``) drafted by the county
  with :func:`draft_matter_changes`, filed and accepted like grid changes (Yongzhou
  art. 13, Xinxiang art. 13, Gansu 二(二)5, Jiangmen art. 9).
* The **negative list** (负面清单 / 禁入清单, Xinxiang art. 14, Gansu 二(二)4): matters that
  must not be pushed onto grid workers. Dispatch asks
  :func:`may_dispatch_to_grid_worker` (or :func:`require_grid_worker_dispatch`) first.

Catalogue and dispatch functions take an open psycopg connection (like
:mod:`gridgeo.registry.matters`); change-set drafting takes a registry ``Bind``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import text

from gridgeo.errors import ConflictError, InputError, NotFoundError, Problem
from gridgeo.i18n import _
from gridgeo.registry._db import Bind, transaction
from gridgeo.registry.users import Principal

log = logging.getLogger(__name__)

NEGATIVE_BASIS = (
    "新乡 第十四条：建立网格事项负面清单，明确不得交由网格办理的事项；"
    "甘肃 二（二）4：严格按照网格事项禁入清单执行"
)
ADMISSION_BASIS = "新乡 第十三条：未纳入清单的事项，有关部门不得要求网格员办理或者协助办理"
CATALOGUE_KEYS = (
    "code",
    "name",
    "description",
    "deadline_days",
    "complex_deadline_days",
    "default_department",
    "deadline_class",
    "negative",
    "basis",
    "is_sample",
)


def set_catalogue(
    conn: psycopg.Connection, rows: Iterable[Mapping[str, Any]], *, actor: str
) -> int:
    """Add or change categories of the city catalogue; returns how many rows were written.

    Parameters
    ----------
    rows
        Mappings with ``code``, ``name`` and optional ``description``,
        ``deadline_days``, ``complex_deadline_days``, ``default_department`` (a
        registered department's name), ``deadline_class`` (routine/complex/urgent),
        ``negative`` (on the negative list), ``basis`` (the article), ``is_sample``.
    actor
        Who changes the catalogue (kept in the history).

    Raises
    ------
    InputError
        Naming every row with an unknown department; nothing is written.
    """
    rows = [dict(r) for r in rows]
    depts = dict(conn.execute("SELECT name, department_id FROM registry.department").fetchall())
    problems = [
        Problem(
            _("department {default_department!r} is not registered").format(
                default_department=r["default_department"]
            ),
            row=i,
            field="default_department",
            rule="catalogue.department",
        )
        for i, r in enumerate(rows)
        if r.get("default_department") and r["default_department"] not in depts
    ]
    if problems:
        raise InputError(_("the catalogue cannot be written"), problems)
    conn.execute("SELECT set_config('gridgeo.actor', %s, true)", (actor,))
    with conn.cursor() as cur:
        for r in rows:
            cur.execute(
                """
                INSERT INTO service.category AS c (code, name, description, deadline_days,
                       complex_deadline_days, default_department_id, deadline_class, negative,
                       basis, is_sample)
                VALUES (%(code)s, %(name)s, %(description)s, %(deadline_days)s,
                        %(complex_deadline_days)s, %(dept)s, %(deadline_class)s, %(negative)s,
                        %(basis)s, %(is_sample)s)
                ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name,
                       description = EXCLUDED.description,
                       deadline_days = EXCLUDED.deadline_days,
                       complex_deadline_days = EXCLUDED.complex_deadline_days,
                       default_department_id = EXCLUDED.default_department_id,
                       deadline_class = EXCLUDED.deadline_class, negative = EXCLUDED.negative,
                       basis = EXCLUDED.basis
                 WHERE (c.name, c.description, c.deadline_days, c.complex_deadline_days,
                        c.default_department_id, c.deadline_class, c.negative, c.basis)
                       IS DISTINCT FROM
                       (EXCLUDED.name, EXCLUDED.description, EXCLUDED.deadline_days,
                        EXCLUDED.complex_deadline_days, EXCLUDED.default_department_id,
                        EXCLUDED.deadline_class, EXCLUDED.negative, EXCLUDED.basis)
                """,
                {
                    "code": r["code"],
                    "name": r["name"],
                    "description": r.get("description", ""),
                    "deadline_days": int(r.get("deadline_days", 5)),
                    "complex_deadline_days": int(r.get("complex_deadline_days", 10)),
                    "dept": depts.get(r.get("default_department") or ""),
                    "deadline_class": r.get("deadline_class", "routine"),
                    "negative": bool(r.get("negative", False)),
                    "basis": r.get("basis", "") or (NEGATIVE_BASIS if r.get("negative") else ""),
                    "is_sample": bool(r.get("is_sample", False)),
                },
            )
    log.info("catalogue: %d categories written by %s", len(rows), actor)
    return len(rows)


#: Catalogue file column → accepted headers (Chinese first).
CATALOGUE_HEADERS: dict[str, tuple[str, ...]] = {
    "code": ("事项编码", "类别编码", "code"),
    "name": ("事项名称", "类别名称", "name"),
    "default_department": ("默认责任部门", "责任部门", "default_department"),
    "deadline_class": ("时限类别", "deadline_class"),
    "deadline_days": ("办理时限", "时限（工作日）", "deadline_days"),
    "complex_deadline_days": ("复杂案件时限", "complex_deadline_days"),
    "negative": ("负面清单", "禁入", "negative"),
    "basis": ("依据", "basis"),
    "description": ("说明", "description"),
}
_CLASS_WORDS = {"一般": "routine", "复杂": "complex", "紧急": "urgent"}
_YES = {"1", "true", "yes", "y", "t", "是"}


def read_catalogue(path: str) -> list[dict[str, Any]]:
    """Read the city catalogue from CSV (UTF-8/GBK) or XLSX with Chinese or English headers
    (:data:`CATALOGUE_HEADERS`; 时限类别 一般/复杂/紧急, 负面清单 是/否).

    Raises
    ------
    InputError
        Naming the file, row (as a spreadsheet numbers it) and field of every problem.
    """
    import pandas as pd

    from gridgeo.registry.staff import read_table

    raw = read_table(path)
    lookup = {str(c).strip().lower(): c for c in raw.columns}
    cols = {
        f: next((lookup[n.lower()] for n in names if n.lower() in lookup), None)
        for f, names in CATALOGUE_HEADERS.items()
    }
    problems = [
        Problem(
            _("column {value} is missing").format(value=CATALOGUE_HEADERS[f][0]),
            file=path,
            rule="catalogue.column",
        )
        for f in ("code", "name")
        if cols[f] is None
    ]
    if problems:
        raise InputError(_("catalogue {path} cannot be used").format(path=path), problems)
    rows = []
    for i, r in raw.iterrows():
        row: dict[str, Any] = {}
        for f, c in cols.items():
            v = r[c] if c is not None else None
            row[f] = "" if v is None or pd.isna(v) else str(v).strip()
        where = {"file": path, "row": int(i) + 2}
        row["deadline_class"] = _CLASS_WORDS.get(
            row["deadline_class"], row["deadline_class"] or "routine"
        )
        if row["deadline_class"] not in ("routine", "complex", "urgent"):
            problems.append(
                Problem(
                    _("时限类别 must be 一般、复杂 or 紧急"),
                    field=cols["deadline_class"],
                    rule="catalogue.class",
                    **where,
                )
            )
        for f, default in (("deadline_days", 5), ("complex_deadline_days", 10)):
            if not row[f]:
                row[f] = default
            elif not row[f].isdigit() or int(row[f]) < 1:
                problems.append(
                    Problem(
                        _("must be a whole number of working days ≥ 1"),
                        field=cols[f],
                        rule="catalogue.deadline",
                        **where,
                    )
                )
        if not row["code"] or not row["name"]:
            problems.append(
                Problem(
                    "事项编码 and 事项名称 are required",
                    field=cols["code"],
                    rule="catalogue.empty",
                    **where,
                )
            )
        row["negative"] = row["negative"].lower() in _YES
        rows.append(row)
    if problems:
        raise InputError(
            _("catalogue {path}: {n} problem(s)").format(path=path, n=len(problems)), problems
        )
    return rows


def set_catalogue_at(url: str, rows: Iterable[Mapping[str, Any]], *, actor: str) -> int:
    """:func:`set_catalogue` in its own transaction at database ``url``."""
    from gridgeo.database.connect import libpq_url

    with psycopg.connect(libpq_url(url)) as conn:
        return set_catalogue(conn, rows, actor=actor)


def catalogue(conn: psycopg.Connection, *, at: datetime | None = None) -> list[dict[str, Any]]:
    """The city catalogue as it was at ``at`` (default now), from its history."""
    rows = conn.execute(
        """
        SELECT v.code, v.name, v.description, v.deadline_days, v.complex_deadline_days,
               d.name, v.deadline_class, v.negative, v.basis, v.is_sample
          FROM service.category_version v
          LEFT JOIN registry.department d ON d.department_id = v.default_department_id
         WHERE v.valid_from <= coalesce(%(at)s::timestamptz, now())
           AND coalesce(%(at)s::timestamptz, now()) < coalesce(v.valid_to, 'infinity')
         ORDER BY v.code
        """,
        {"at": at},
    ).fetchall()
    return [dict(zip(CATALOGUE_KEYS, r, strict=True)) for r in rows]


def catalogue_history(conn: psycopg.Connection, code: str) -> list[dict[str, Any]]:
    """Every version of one category, oldest first, with ``valid_from``, ``valid_to``
    and ``changed_by``."""
    rows = conn.execute(
        """
        SELECT v.code, v.name, v.description, v.deadline_days, v.complex_deadline_days,
               d.name, v.deadline_class, v.negative, v.basis, v.is_sample,
               v.valid_from, v.valid_to, v.changed_by
          FROM service.category_version v
          LEFT JOIN registry.department d ON d.department_id = v.default_department_id
         WHERE v.code = %s ORDER BY v.version_id
        """,
        (code,),
    ).fetchall()
    if not rows:
        raise NotFoundError(_("no category {code!r} in the catalogue's history").format(code=code))
    keys = (*CATALOGUE_KEYS, "valid_from", "valid_to", "changed_by")
    return [dict(zip(keys, r, strict=True)) for r in rows]


@dataclass(frozen=True)
class DispatchDecision:
    """Whether a matter may be handed to grid workers, and why not (with the article)."""

    allowed: bool
    reason: str = ""
    basis: str = ""


def may_dispatch_to_grid_worker(
    conn: psycopg.Connection,
    category: str,
    *,
    county: str | None = None,
    at: datetime | None = None,
) -> DispatchDecision:
    """May a matter of ``category`` be dispatched to grid workers (at ``at``, default now)?

    No when the category is not in the city catalogue, is on the negative list, or —
    with ``county`` — is not on that county's admission list.
    """
    row = conn.execute(
        """
        SELECT v.negative, v.name FROM service.category_version v
         WHERE v.code = %(c)s AND v.valid_from <= coalesce(%(at)s::timestamptz, now())
           AND coalesce(%(at)s::timestamptz, now()) < coalesce(v.valid_to, 'infinity')
        """,
        {"c": category, "at": at},
    ).fetchone()
    if row is None:
        return DispatchDecision(
            False,
            _("matter category {category} is not in the city's grid matter catalogue").format(
                category=category
            ),
            ADMISSION_BASIS,
        )
    negative, name = row
    if negative:
        return DispatchDecision(
            False,
            _(
                "matter {name} ({category}) is on the negative list and may not be given to "
                "grid workers"
            ).format(name=name, category=category),
            NEGATIVE_BASIS,
        )
    if county:
        admitted = conn.execute(
            """
            SELECT 1 FROM registry.matter_admission
             WHERE county_code = %(k)s AND category = %(c)s
               AND valid_from <= coalesce(%(at)s::timestamptz, now())
               AND coalesce(%(at)s::timestamptz, now()) < coalesce(valid_to, 'infinity')
            """,
            {"k": county, "c": category, "at": at},
        ).fetchone()
        if admitted is None:
            return DispatchDecision(
                False,
                _(
                    "matter {name} ({category}) is not on the grid matter admission list of "
                    "{county}"
                ).format(name=name, category=category, county=county),
                ADMISSION_BASIS,
            )
    return DispatchDecision(True)


def require_grid_worker_dispatch(
    conn: psycopg.Connection, category: str, *, county: str | None = None
) -> None:
    """Raise :class:`ConflictError` (409) when :func:`may_dispatch_to_grid_worker` says no."""
    decision = may_dispatch_to_grid_worker(conn, category, county=county)
    if not decision.allowed:
        raise ConflictError(f"{decision.reason}（{decision.basis}）")


def draft_matter_changes(
    bind: Bind,
    *,
    county: str,
    actor: Principal,
    admit: Iterable[str] = (),
    exit: Iterable[str] = (),
    title: str = "",
    reason: str = "",
) -> int:
    """Draft a change set admitting categories to (or removing them from) the county's
    admission list; file and accept it like any change set.

    Raises
    ------
    InputError
        Naming every category that is not in the catalogue, is on the negative list
        (it may not be admitted), is admitted already, or is not admitted (exit).
    PermissionDeniedError
        When ``actor`` may not draft for ``county``.
    """
    admit, leave = list(dict.fromkeys(admit)), list(dict.fromkeys(exit))
    if not admit and not leave:
        raise InputError(_("no matter categories to admit or remove"))
    with transaction(bind) as conn:
        actor.require("changeset.draft", county)
        known = {
            r[0]: bool(r[1])
            for r in conn.execute(text("SELECT code, negative FROM service.category")).all()
        }
        current = {
            r[0]
            for r in conn.execute(
                text(
                    "SELECT category FROM registry.matter_admission "
                    "WHERE county_code = :k AND valid_to IS NULL"
                ),
                {"k": county},
            ).all()
        }
        problems = []
        for code in admit + leave:
            if code not in known:
                problems.append(
                    Problem(
                        _("category {code!r} is not in the city catalogue").format(code=code),
                        field="category",
                        row=code,
                        rule="matters.catalogue",
                    )
                )
        for code in admit:
            if known.get(code):
                problems.append(
                    Problem(
                        _(
                            "category {code!r} is on the negative list and may not be admitted "
                            "({basis})"
                        ).format(code=code, basis=NEGATIVE_BASIS),
                        field="category",
                        row=code,
                        rule="matters.negative",
                    )
                )
            elif code in current:
                problems.append(
                    Problem(
                        _("category {code!r} is already admitted in {county}").format(
                            code=code, county=county
                        ),
                        field="category",
                        row=code,
                        rule="matters.admitted",
                    )
                )
        problems += [
            Problem(
                _("category {code!r} is not on the admission list of {county}").format(
                    code=code, county=county
                ),
                field="category",
                row=code,
                rule="matters.not_admitted",
            )
            for code in leave
            if code in known and code not in current
        ]
        if problems:
            raise InputError(_("the matter list change cannot be drafted"), problems)
        cs = conn.execute(
            text(
                "INSERT INTO registry.changeset (county_code, title, reason, created_by) "
                "VALUES (:c, :t, :r, :by) RETURNING changeset_id"
            ),
            {"c": county, "t": title or "网格事项准入清单调整", "r": reason, "by": actor.name},
        ).scalar_one()
        items = [("admit_matter", c, f"准入 {c}") for c in admit]
        items += [("exit_matter", c, f"退出 {c}") for c in leave]
        conn.execute(
            text(
                "INSERT INTO registry.changeset_item (changeset_id, seq, action, note, payload) "
                "VALUES (:cs, :seq, :a, :n, CAST(:p AS jsonb))"
            ),
            [
                {
                    "cs": cs,
                    "seq": k,
                    "a": a,
                    "n": note,
                    "p": json.dumps({"category": c}, ensure_ascii=False),
                }
                for k, (a, c, note) in enumerate(items, start=1)
            ],
        )
        conn.execute(
            text("SELECT registry.append_audit(:a, :r, 'draft', :cs, :why, CAST(:d AS jsonb))"),
            {
                "a": actor.name,
                "r": actor.role,
                "cs": cs,
                "why": reason,
                "d": json.dumps({"admit": admit, "exit": leave}),
            },
        )
    log.info("drafted change set %s: admit %d, exit %d matters", cs, len(admit), len(leave))
    return int(cs)


def admission_list(bind: Bind, county: str, *, at: datetime | None = None) -> list[str]:
    """Category codes on ``county``'s admission list at ``at`` (default now)."""
    with transaction(bind) as conn:
        rows = conn.execute(
            text(
                "SELECT category FROM registry.matter_admission WHERE county_code = :k "
                "AND valid_from <= coalesce(CAST(:at AS timestamptz), now()) "
                "AND coalesce(CAST(:at AS timestamptz), now()) < coalesce(valid_to, 'infinity') "
                "ORDER BY category"
            ),
            {"k": county, "at": at},
        ).all()
    return [r[0] for r in rows]
