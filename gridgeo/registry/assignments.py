"""Staff and departments: who serves each grid, which department covers it per category.

Assignments change through change sets like grids do (items ``reassign_staff``,
``reassign_department`` and ``end_department``), so they are filed with the city and
versioned in time;
the department list itself is reference data (:func:`register_departments`).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

import pandas as pd
from sqlalchemy import text

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.registry._db import Bind, transaction
from gridgeo.registry.divisions import descendants
from gridgeo.registry.users import Principal

log = logging.getLogger(__name__)

STAFF_ROLES = ("head", "full_time", "part_time", "professional")


def _truthy(value, default: bool) -> bool:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y", "t", "是")
    return bool(value)


def register_departments(bind: Bind, departments: pd.DataFrame, *, actor: Principal) -> int:
    """Add departments (``department`` or ``name``, optional ``phone``, ``is_sample``); existing
    names get the new phone. Returns how many rows were written.

    Raises
    ------
    PermissionDeniedError
        For county editors (departments are set up by the city or an admin).
    InputError
        When names are missing.
    """
    actor.require("departments.edit")
    col = "department" if "department" in departments else "name"
    if col not in departments:
        raise InputError(_("the department table needs a 'department' (or 'name') column"))
    df = departments.drop_duplicates(col)
    problems = [
        Problem(_("department name is empty"), row=int(i), field=col, rule="department.name")
        for i, v in zip(df.index, df[col], strict=True)
        if not str(v or "").strip() or pd.isna(v)
    ]
    if problems:
        raise InputError(_("the department table cannot be used"), problems)
    rows = [
        {
            "name": str(r[col]).strip(),
            "phone": None if pd.isna(r.get("phone")) else str(r.get("phone")),
            "s": _truthy(r.get("is_sample"), False),
        }
        for _, r in df.iterrows()
    ]
    with transaction(bind) as conn:
        conn.execute(
            text(
                "INSERT INTO registry.department (name, phone, is_sample) VALUES (:name, :phone, :s) "
                "ON CONFLICT (name) DO UPDATE SET phone = EXCLUDED.phone, is_sample = EXCLUDED.is_sample"
            ),
            rows,
        )
        conn.execute(
            text(
                "SELECT registry.append_audit(:a, :r, 'departments', NULL, NULL, CAST(:d AS jsonb))"
            ),
            {
                "a": actor.name,
                "r": actor.role,
                "d": json.dumps({"departments": [r["name"] for r in rows]}, ensure_ascii=False),
            },
        )
    log.info("registered %d departments", len(rows))
    return len(rows)


def _staff_payloads(staff: pd.DataFrame) -> tuple[list[dict], list[Problem]]:
    name_col = "person_name" if "person_name" in staff else "name"
    problems, out = [], []
    for col in ("grid_code", "role", name_col):
        if col not in staff:
            problems.append(
                Problem(_("field is missing"), layer="staff", field=col, rule="staff.field")
            )
    if problems:
        return [], problems
    for i, r in staff.iterrows():
        role = str(r["role"]).strip()
        if role not in STAFF_ROLES:
            problems.append(
                Problem(
                    _("role {role!r} is not one of {value}").format(
                        role=role, value=", ".join(STAFF_ROLES)
                    ),
                    layer="staff",
                    row=int(i),
                    field="role",
                    rule="staff.role",
                )
            )
            continue
        out.append(
            {
                "grid_code": str(r["grid_code"]).strip(),
                "role": role,
                "person_name": None if pd.isna(r[name_col]) else str(r[name_col]).strip(),
                "phone": "" if pd.isna(r.get("phone")) else str(r.get("phone")),
                "posted": _truthy(r.get("posted"), True),
                "is_sample": _truthy(r.get("is_sample"), False),
                "replace": False,
            }
        )
    # Within one change set, the first row of a (grid, role) replaces who served before.
    seen: set[tuple[str, str]] = set()
    for p in out:
        key = (p["grid_code"], p["role"])
        p["replace"] = key not in seen
        seen.add(key)
    return out, problems


POLYGON_COLUMNS = ("geometry", "geom", "wkt", "polygon", "shape")
COVERAGE_BASIS = (
    "包片以综合网格或整个社区、街道为单位，部门不得自行划定网格"
    "（永州 第九条、新乡 第七条、甘肃 一（一）3、江门 第八条；盘锦兴隆台 第四条）"
)


def refuse_polygon_coverage(field: str = "geometry") -> InputError:
    """The error for coverage given as a polygon: a department never draws its own area."""
    return InputError(
        "department coverage is a set of grids (grid_code) or whole communities/streets "
        f"(division_code), never a polygon: {COVERAGE_BASIS}",
        [
            Problem(
                _("coverage given as a polygon"),
                layer="coverage",
                field=field,
                rule="coverage.polygon",
            )
        ],
    )


def _coverage_payloads(
    coverage: pd.DataFrame, grids: list[str]
) -> tuple[list[dict], list[Problem]]:
    problems, out = [], []
    drawn = [c for c in coverage.columns if str(c).lower() in POLYGON_COLUMNS]
    if drawn or hasattr(coverage, "geometry"):
        raise refuse_polygon_coverage(drawn[0] if drawn else "geometry")
    for col in ("category", "department"):
        if col not in coverage:
            problems.append(
                Problem(_("field is missing"), layer="coverage", field=col, rule="coverage.field")
            )
    if problems:
        return [], problems
    for i, r in coverage.iterrows():
        code, division = r.get("grid_code"), r.get("division_code")
        if division is not None and not pd.isna(division) and str(division).strip():
            # a whole community or street (division code prefix): its current grids
            targets = [g for g in grids if g.startswith(str(division).strip())]
            if not targets:
                problems.append(
                    Problem(
                        _("division {division} has no current grid in this county").format(
                            division=division
                        ),
                        layer="coverage",
                        row=int(i) if isinstance(i, int) else str(i),
                        field="division_code",
                        rule="coverage.division",
                    )
                )
            if code is not None and not pd.isna(code) and str(code).strip():
                problems.append(
                    Problem(
                        _("give grid_code or division_code, not both"),
                        layer="coverage",
                        row=int(i) if isinstance(i, int) else str(i),
                        field="division_code",
                        rule="coverage.target",
                    )
                )
        else:
            targets = (
                grids
                if code is None or pd.isna(code) or not str(code).strip()
                else [str(code).strip()]
            )
        for g in targets:
            out.append(
                {
                    "grid_code": g,
                    "category": str(r["category"]).strip(),
                    "department": str(r["department"]).strip(),
                    "lead": _truthy(r.get("lead"), True),
                }
            )
    return out, problems


def _end_payloads(conn, coverage_ids: list[int]) -> tuple[list[dict], list[Problem]]:
    """Items ending coverage rows: each must exist, be current and name a grid."""
    ids = list(dict.fromkeys(int(i) for i in coverage_ids))
    if not ids:
        return [], []
    found = {
        r[0]: r
        for r in conn.execute(
            text(
                "SELECT c.coverage_id, c.grid_code, c.category, d.name, c.lead, c.valid_to "
                "FROM registry.department_coverage c JOIN registry.department d "
                "USING (department_id) WHERE c.coverage_id = ANY(:ids)"
            ),
            {"ids": ids},
        ).all()
    }
    out, problems = [], []
    for i in ids:
        r = found.get(i)
        why = (
            "does not exist"
            if r is None
            else f"already ended at {r[5].isoformat()}"
            if r[5] is not None
            else "is a drawn area, not a set of grids"
            if r[1] is None
            else None
        )
        if why:
            problems.append(
                Problem(
                    _("coverage row {i} {why}").format(i=i, why=why),
                    layer="coverage",
                    row=i,
                    field="coverage_id",
                    rule="coverage.end",
                )
            )
            continue
        out.append(
            {
                "coverage_id": i,
                "grid_code": r[1],
                "category": r[2],
                "department": r[3],
                "lead": r[4],
            }
        )
    return out, problems


def draft_assignments(
    bind: Bind,
    *,
    county: str,
    actor: Principal,
    staff: pd.DataFrame | None = None,
    coverage: pd.DataFrame | None = None,
    end_coverage: list[int] | None = None,
    title: str = "",
    reason: str = "",
) -> int:
    """Draft a change set that (re)assigns staff to grids and departments to grids.

    Parameters
    ----------
    staff
        One row per person and grid: ``grid_code``, ``role`` (head, full_time,
        part_time, professional), ``person_name`` (or ``name``), optional ``phone``,
        ``posted`` (default true), ``is_sample``. On acceptance the listed people
        replace whoever held that role in that grid.
    coverage
        ``category``, ``department`` (a registered name), optional ``grid_code`` or
        ``division_code`` (a community's or street's code: all its current grids; both
        empty: every current grid of the county) and ``lead`` (default true). Coverage
        is never a polygon: a geometry column is refused (``coverage.polygon``).
    end_coverage
        Ids of current, grid-based coverage rows of the county to end when the change
        set is accepted (items ``end_department``; the rows stay as history).

    Returns
    -------
    int
        The draft change set's id.

    Raises
    ------
    PermissionDeniedError
        When ``actor`` may not draft for ``county`` or a grid is outside it.
    InputError
        Listing unknown or non-current grids, bad roles, unknown departments.
    """
    with transaction(bind) as conn:
        actor.require("changeset.draft", county)
        current = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT grid_code FROM registry.grid WHERE valid_to IS NULL "
                    "AND community_code = ANY(:c) ORDER BY grid_code"
                ),
                {"c": sorted(descendants(conn, county))},
            ).all()
        ]
        staff_items, problems = _staff_payloads(staff) if staff is not None else ([], [])
        cov_items, more = (
            _coverage_payloads(coverage, current) if coverage is not None else ([], [])
        )
        problems += more
        end_items, more = _end_payloads(conn, end_coverage or [])
        problems += more
        known = set(current)
        outside = sorted({p["grid_code"] for p in staff_items + cov_items + end_items} - known)
        problems += [
            Problem(
                _("grid {c} is not a current grid of county {county}").format(c=c, county=county),
                field="grid_code",
                row=c,
                rule="assignment.grid",
            )
            for c in outside
        ]
        departments = {
            r[0] for r in conn.execute(text("SELECT name FROM registry.department")).all()
        }
        problems += [
            Problem(
                _("department {d!r} is not registered").format(d=d),
                field="department",
                rule="assignment.department",
            )
            for d in sorted({p["department"] for p in cov_items} - departments)
        ]
        if problems:
            raise InputError(_("the assignments cannot be drafted"), problems)
        if not staff_items and not cov_items and not end_items:
            raise InputError(_("no assignments given"))
        cs_id = conn.execute(
            text(
                "INSERT INTO registry.changeset (county_code, title, reason, created_by) "
                "VALUES (:c, :t, :r, :by) RETURNING changeset_id"
            ),
            {"c": county, "t": title, "r": reason, "by": actor.name},
        ).scalar_one()
        rows = [
            ("reassign_staff", p, f"{p['grid_code']} {p['role']}: {p['person_name']}")
            for p in staff_items
        ]
        rows += [
            ("reassign_department", p, f"{p['grid_code']} {p['category']}: {p['department']}")
            for p in cov_items
        ]
        rows += [
            ("end_department", p, f"{p['grid_code']} {p['category']}: {p['department']} 结束")
            for p in end_items
        ]
        conn.execute(
            text(
                "INSERT INTO registry.changeset_item (changeset_id, seq, action, note, payload) "
                "VALUES (:cs, :seq, :a, :n, CAST(:p AS jsonb))"
            ),
            [
                {"cs": cs_id, "seq": k, "a": a, "n": note, "p": json.dumps(p, ensure_ascii=False)}
                for k, (a, p, note) in enumerate(rows, start=1)
            ],
        )
        conn.execute(
            text("SELECT registry.append_audit(:a, :r, 'draft', :cs, :why, CAST(:d AS jsonb))"),
            {
                "a": actor.name,
                "r": actor.role,
                "cs": cs_id,
                "why": reason,
                "d": json.dumps(
                    {"staff": len(staff_items), "coverage": len(cov_items), "end": len(end_items)}
                ),
            },
        )
    log.info(
        "drafted change set %s: %d staff and %d department assignments",
        cs_id,
        len(staff_items),
        len(cov_items),
    )
    return int(cs_id)


def contacts_at(bind: Bind, at: datetime | None = None) -> pd.DataFrame:
    """Grid heads and workers at ``at`` (default now), from ``registry.grid_contacts_at``."""
    with transaction(bind) as conn:
        rows = conn.execute(
            text(
                "SELECT grid_code, role, person_name, phone, posted "
                "FROM registry.grid_contacts_at(coalesce(CAST(:at AS timestamptz), now()))"
            ),
            {"at": at},
        ).all()
    return pd.DataFrame(rows, columns=["grid_code", "role", "person_name", "phone", "posted"])
