"""The matter list (事项清单): categories, departments and their coverage (包片).

The one home of the SQL that reads and writes ``service.category``,
``registry.department`` and ``registry.department_coverage``. Functions take an open
psycopg connection (the service's pool hands one out; the caller owns the transaction)
and plain values, and raise :mod:`gridgeo.errors`; they check no permissions — the caller
(route or CLI) decides who may call them.

Which edits are change-set items
--------------------------------
* **Categories** and the **department list** are reference data: added, changed and
  removed directly (here), never filed with the city.
* **Coverage by grid** (a department answering for a category in a grid) is a change-set
  item, ``reassign_department``: counties draft it with
  :func:`gridgeo.registry.assignments.draft_assignments`, the city accepts it, and the
  database closes the previous lead row and opens the new one at acceptance. A department
  never draws or edits grids.
  The service's ``POST /coverage`` drafts that change set too (:func:`coverage_draft_target`
  checks the request, then ``draft_assignments``), so the county files it and another
  person at the city accepts it, like every other change-set item.
* **Ending coverage** is a change-set item too, ``end_department`` (``DELETE
  /coverage/{id}`` drafts it with ``draft_assignments(end_coverage=…)``); the row ends at
  acceptance and stays as history.
* **Direct coverage rows** (:func:`add_coverage`) are for seeding a registry and tests
  only; :func:`end_coverage` ends the polygon rows of old data (no grid item can name
  them) and serves tests. A polygon is refused everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from gridgeo.errors import ConflictError, InputError, NotFoundError, Problem
from gridgeo.i18n import _
from gridgeo.registry.assignments import refuse_polygon_coverage

CATEGORY_KEYS = (
    "code",
    "name",
    "description",
    "deadline_days",
    "complex_deadline_days",
    "is_sample",
)
#: The category fields :func:`update_category` may change.
CATEGORY_EDITABLE = ("name", "description", "deadline_days", "complex_deadline_days")
DEPARTMENT_KEYS = ("department_id", "name", "phone", "is_sample")
#: The department fields :func:`update_department` may change.
DEPARTMENT_EDITABLE = ("name", "phone")
COVERAGE_KEYS = (
    "coverage_id",
    "department_id",
    "department",
    "category",
    "grid_code",
    "by_polygon",
    "lead",
    "valid_from",
    "valid_to",
)


def _row(keys: Iterable[str], values: Iterable[Any]) -> dict[str, Any]:
    return dict(zip(keys, values, strict=True))


def _set_clause(changes: Mapping[str, Any], allowed: tuple[str, ...], what: str) -> sql.Composed:
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise InputError(
            _("{what}: cannot change {value}").format(what=what, value=", ".join(unknown)),
            [Problem(_("not an editable field"), field=k, rule="matters.field") for k in unknown],
        )
    return sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in changes
    )


# -- categories ------------------------------------------------------------------------


def list_categories(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every category with how many departments currently cover it, by code."""
    rows = conn.execute(
        """
        SELECT c.code, c.name, c.description, c.deadline_days, c.complex_deadline_days,
               c.is_sample,
               (SELECT count(DISTINCT v.department_id) FROM registry.department_coverage v
                 WHERE v.category = c.code AND v.valid_to IS NULL)
          FROM service.category c ORDER BY c.code
        """
    ).fetchall()
    return [_row((*CATEGORY_KEYS, "departments"), r) for r in rows]


def get_category(conn: psycopg.Connection, code: str) -> dict[str, Any]:
    """One category; :class:`NotFoundError` when there is none with ``code``."""
    row = conn.execute(
        "SELECT code, name, description, deadline_days, complex_deadline_days, is_sample "
        "FROM service.category WHERE code = %s",
        (code,),
    ).fetchone()
    if row is None:
        raise NotFoundError(_("no category {code!r}").format(code=code))
    return _row(CATEGORY_KEYS, row)


def add_categories(
    conn: psycopg.Connection, categories: Iterable[Mapping[str, Any]], *, skip_existing: bool
) -> int:
    """Add categories (mappings with :data:`CATEGORY_KEYS`; description, deadlines and
    ``is_sample`` optional). Returns how many were added.

    With ``skip_existing`` a code already in the list is left as it is; otherwise it is
    a unique violation (the caller maps it to a conflict).
    """
    conflict = " ON CONFLICT DO NOTHING" if skip_existing else ""
    added = 0
    with conn.cursor() as cur:
        for c in categories:
            cur.execute(
                "INSERT INTO service.category (code, name, description, deadline_days, "
                "complex_deadline_days, is_sample) VALUES (%s, %s, %s, %s, %s, %s)" + conflict,
                (
                    c["code"],
                    c["name"],
                    c.get("description", ""),
                    c.get("deadline_days", 5),
                    c.get("complex_deadline_days", 10),
                    bool(c.get("is_sample", False)),
                ),
            )
            added += cur.rowcount
    return added


def update_category(
    conn: psycopg.Connection, code: str, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Change fields of a category (:data:`CATEGORY_EDITABLE`); returns the category."""
    if changes:
        cur = conn.execute(
            sql.SQL("UPDATE service.category SET {} WHERE code = %(code)s").format(
                _set_clause(changes, CATEGORY_EDITABLE, f"category {code}")
            ),
            dict(changes) | {"code": code},
        )
        if cur.rowcount == 0:
            raise NotFoundError(_("no category {code!r}").format(code=code))
    return get_category(conn, code)


def delete_category(conn: psycopg.Connection, code: str) -> None:
    """Remove a category that no current coverage row uses."""
    used = conn.execute(
        "SELECT count(*) FROM registry.department_coverage WHERE category = %s "
        "AND valid_to IS NULL",
        (code,),
    ).fetchone()[0]
    if used:
        raise ConflictError(
            _(
                "category {code!r} is still assigned to departments ({used} coverage "
                "rows); close them first (DELETE /coverage/{{id}})"
            ).format(code=code, used=used)
        )
    cur = conn.execute("DELETE FROM service.category WHERE code = %s", (code,))
    if cur.rowcount == 0:
        raise NotFoundError(_("no category {code!r}").format(code=code))


def add_sample_categories(url: str, categories: Iterable[Mapping[str, Any]]) -> int:
    """The demo's sample matter list (``is_sample``), in its own transaction at ``url``;
    existing codes are left as they are. Returns how many were added."""
    from gridgeo.database.connect import libpq_url

    rows = [dict(c) | {"is_sample": True} for c in categories]
    with psycopg.connect(libpq_url(url)) as conn:
        return add_categories(conn, rows, skip_existing=True)


# -- departments -----------------------------------------------------------------------


def list_departments(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every department with the categories it currently covers, by id."""
    rows = conn.execute(
        """
        SELECT d.department_id, d.name, d.phone, d.is_sample,
               coalesce(array_agg(DISTINCT v.category) FILTER (WHERE v.category IS NOT NULL),
                        '{}')
          FROM registry.department d
          LEFT JOIN registry.department_coverage v
            ON v.department_id = d.department_id AND v.valid_to IS NULL
         GROUP BY d.department_id ORDER BY d.department_id
        """
    ).fetchall()
    return [_row((*DEPARTMENT_KEYS, "categories"), r) for r in rows]


def get_department(conn: psycopg.Connection, department_id: int) -> dict[str, Any]:
    """One department; :class:`NotFoundError` when there is none."""
    row = conn.execute(
        "SELECT department_id, name, phone, is_sample FROM registry.department "
        "WHERE department_id = %s",
        (department_id,),
    ).fetchone()
    if row is None:
        raise NotFoundError(_("no department {department_id}").format(department_id=department_id))
    return _row(DEPARTMENT_KEYS, row)


def add_department(
    conn: psycopg.Connection, name: str, *, phone: str | None = None, is_sample: bool = False
) -> int:
    """Add a department; returns its id (a name already used is a unique violation)."""
    return int(
        conn.execute(
            "INSERT INTO registry.department (name, phone, is_sample) VALUES (%s, %s, %s) "
            "RETURNING department_id",
            (name, phone, is_sample),
        ).fetchone()[0]
    )


def update_department(
    conn: psycopg.Connection, department_id: int, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Rename or re-phone a department (:data:`DEPARTMENT_EDITABLE`); returns it."""
    if changes:
        conn.execute(
            sql.SQL("UPDATE registry.department SET {} WHERE department_id = %(id)s").format(
                _set_clause(changes, DEPARTMENT_EDITABLE, f"department {department_id}")
            ),
            dict(changes) | {"id": department_id},
        )
    return get_department(conn, department_id)


def delete_department(conn: psycopg.Connection, department_id: int) -> None:
    """Remove a department that has no coverage rows, current or past (history stays)."""
    n = conn.execute(
        "SELECT count(*) FROM registry.department_coverage WHERE department_id = %s",
        (department_id,),
    ).fetchone()[0]
    if n:
        raise ConflictError(
            _(
                "department {department_id} has {n} coverage rows kept as history "
                "(locating at past dates uses them); close its coverage instead (DELETE "
                "/coverage/{{id}})"
            ).format(department_id=department_id, n=n)
        )
    cur = conn.execute("DELETE FROM registry.department WHERE department_id = %s", (department_id,))
    if cur.rowcount == 0:
        raise NotFoundError(_("no department {department_id}").format(department_id=department_id))


# -- coverage --------------------------------------------------------------------------


def _coverage(conn: psycopg.Connection, where: sql.Composable, params: Mapping[str, Any]):
    rows = conn.execute(
        sql.SQL(
            """
            SELECT v.coverage_id, v.department_id, d.name, v.category, v.grid_code,
                   v.geom IS NOT NULL, v.lead, v.valid_from, v.valid_to
              FROM registry.department_coverage v JOIN registry.department d USING (department_id)
             WHERE {}
             ORDER BY v.category, v.grid_code, v.coverage_id
            """
        ).format(where),
        params,
    ).fetchall()
    return [_row(COVERAGE_KEYS, r) for r in rows]


def list_coverage(
    conn: psycopg.Connection,
    *,
    at: datetime | None = None,
    category: str | None = None,
    grid_code: str | None = None,
    department_id: int | None = None,
) -> list[dict[str, Any]]:
    """Coverage rows valid at ``at`` (default now), optionally of one category, grid or
    department."""
    where = [
        sql.SQL("v.valid_from <= coalesce(%(at)s::timestamptz, now())"),
        sql.SQL("coalesce(%(at)s::timestamptz, now()) < coalesce(v.valid_to, 'infinity')"),
    ]
    params: dict[str, Any] = {"at": at}
    for field, value in (
        ("category", category),
        ("grid_code", grid_code),
        ("department_id", department_id),
    ):
        if value is not None and value != "":
            where.append(
                sql.SQL("{} = {}").format(sql.Identifier("v", field), sql.Placeholder(field))
            )
            params[field] = value
    return _coverage(conn, sql.SQL(" AND ").join(where), params)


def coverage_row(conn: psycopg.Connection, coverage_id: int) -> dict[str, Any]:
    """One coverage row (current or ended); :class:`NotFoundError` when there is none."""
    rows = _coverage(conn, sql.SQL("v.coverage_id = %(id)s"), {"id": coverage_id})
    if not rows:
        raise NotFoundError(_("no coverage row {coverage_id}").format(coverage_id=coverage_id))
    return rows[0]


def _check_coverage_targets(
    conn: psycopg.Connection, department_id: int, category: str, grid_codes: list[str]
) -> None:
    if not conn.execute(
        "SELECT 1 FROM registry.department WHERE department_id = %s", (department_id,)
    ).fetchone():
        raise NotFoundError(_("no department {department_id}").format(department_id=department_id))
    if not conn.execute("SELECT 1 FROM service.category WHERE code = %s", (category,)).fetchone():
        raise NotFoundError(
            _("no category {category!r} in the matter list (POST /categories)").format(
                category=category
            )
        )
    if not grid_codes:
        return
    known = {
        r[0]
        for r in conn.execute(
            "SELECT grid_code FROM registry.current_grid WHERE grid_code = ANY(%s)",
            (grid_codes,),
        ).fetchall()
    }
    missing = sorted(set(grid_codes) - known)
    if missing:
        raise InputError(
            _("{n} grid codes are not current grids").format(n=len(missing)),
            [
                Problem(
                    _("grid {c} is not a current grid").format(c=c),
                    field="grid_codes",
                    rule="coverage.grid",
                )
                for c in missing
            ],
        )


def coverage_draft_target(
    conn: psycopg.Connection,
    *,
    department_id: int,
    category: str,
    grid_codes: Iterable[str],
    county: str | None = None,
) -> tuple[str, str]:
    """Check a coverage request before it is drafted; the county and the department's name.

    Parameters
    ----------
    county
        The county drafting (a county editor's own); ``None``: the one county of the grids.

    Returns
    -------
    tuple of str
        ``(county_code, department_name)`` for
        :func:`gridgeo.registry.assignments.draft_assignments`.

    Raises
    ------
    NotFoundError
        Unknown department or category.
    InputError
        No grid codes, codes that are not current grids, or grids of several counties
        (the counties whose accepted change sets opened them) when ``county`` is not given.
    """
    codes = list(dict.fromkeys(grid_codes))
    if not codes:
        raise InputError(
            _("give grid_codes: the grids the department answers for"),
            [Problem(_("nothing to cover"), field="grid_codes", rule="coverage.empty")],
        )
    _check_coverage_targets(conn, department_id, category, codes)
    name = conn.execute(
        "SELECT name FROM registry.department WHERE department_id = %s", (department_id,)
    ).fetchone()[0]
    if county is not None:
        return county, str(name)
    counties = conn.execute(
        "SELECT g.grid_code, c.county_code FROM registry.grid g "
        "JOIN registry.changeset c ON c.changeset_id = g.opened_by "
        "WHERE g.valid_to IS NULL AND g.grid_code = ANY(%s)",
        (codes,),
    ).fetchall()
    found = dict(counties)
    if len(set(found.values())) != 1 or len(found) != len(codes):
        raise InputError(
            _("the grids must lie in one registered county (one change set per county)"),
            [
                Problem(
                    _("grid {c} is in county {value}").format(c=c, value=found.get(c) or "unknown"),
                    field="grid_codes",
                    rule="coverage.county",
                )
                for c in codes
            ][:20],
        )
    return next(iter(found.values())), str(name)


def add_coverage(
    conn: psycopg.Connection,
    *,
    department_id: int,
    category: str,
    grid_codes: Iterable[str] = (),
    geometry: Mapping[str, Any] | None = None,
    lead: bool = True,
) -> list[dict[str, Any]]:
    """Open coverage rows directly, not filed: for seeding a registry and tests only.

    The service and the CLI draft coverage as a change set instead (module docstring).

    Parameters
    ----------
    grid_codes
        Current grids the department answers for (one row each, duplicates dropped).
    geometry
        Refused (``coverage.polygon``): a department's coverage is a set of
        grids, never a polygon it draws; the parameter stays so callers get that answer.

    Returns
    -------
    list of dict
        The new rows (:data:`COVERAGE_KEYS`).
    """
    if geometry is not None:
        raise refuse_polygon_coverage("geometry")
    codes = list(dict.fromkeys(grid_codes))
    if not codes and geometry is None:
        raise InputError(
            _("give grid_codes or a geometry"),
            [Problem(_("nothing to cover"), field="grid_codes", rule="coverage.empty")],
        )
    if geometry is not None and geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise InputError(
            _("geometry must be a GeoJSON Polygon or MultiPolygon"),
            [Problem(_("not a polygon"), field="geometry", rule="coverage.geometry")],
        )
    _check_coverage_targets(conn, department_id, category, codes)
    ids = [
        conn.execute(
            "INSERT INTO registry.department_coverage (department_id, category, grid_code, lead) "
            "VALUES (%s, %s, %s, %s) RETURNING coverage_id",
            (department_id, category, code, lead),
        ).fetchone()[0]
        for code in codes
    ]
    if geometry is not None:
        if conn.execute("SELECT registry.srid()").fetchone()[0] is None:
            raise ConflictError(
                _(
                    "coverage by polygon needs the registry's CRS, set by the first grid "
                    "load (gridgeo registry load)"
                )
            )
        text = json.dumps(geometry)
        if not conn.execute("SELECT ST_IsValid(ST_GeomFromGeoJSON(%s))", (text,)).fetchone()[0]:
            raise InputError(
                _("the coverage polygon is not valid (self-intersecting?)"),
                [Problem(_("invalid polygon"), field="geometry", rule="coverage.geometry")],
            )
        ids.append(
            conn.execute(
                "INSERT INTO registry.department_coverage (department_id, category, geom, lead) "
                "VALUES (%s, %s, ST_Transform(ST_SetSRID(ST_GeomFromGeoJSON(%s), 4326), "
                "registry.srid()), %s) RETURNING coverage_id",
                (department_id, category, text, lead),
            ).fetchone()[0]
        )
    return _coverage(conn, sql.SQL("v.coverage_id = ANY(%(ids)s)"), {"ids": ids})


def end_coverage(conn: psycopg.Connection, coverage_id: int) -> None:
    """End a current coverage row now (kept as history)."""
    row = coverage_row(conn, coverage_id)
    if row["valid_to"] is not None:
        raise ConflictError(
            _("coverage row {coverage_id} already ended at {value}").format(
                coverage_id=coverage_id, value=row["valid_to"].isoformat()
            )
        )
    conn.execute(
        "UPDATE registry.department_coverage SET valid_to = clock_timestamp() "
        "WHERE coverage_id = %s",
        (coverage_id,),
    )


def grid_communities(conn: psycopg.Connection, grid_codes: Iterable[str]) -> dict[str, str | None]:
    """The community of each current grid among ``grid_codes`` (unknown codes left out)."""
    codes = list(dict.fromkeys(grid_codes))
    if not codes:
        return {}
    rows = conn.execute(
        "SELECT grid_code, community_code FROM registry.current_grid WHERE grid_code = ANY(%s)",
        (codes,),
    ).fetchall()
    return dict(rows)
