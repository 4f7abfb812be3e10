"""The case store: every SQL statement of the case loop (schema ``incidents``).

Writes happen in one transaction each: a chunk of new cases with their ``report``
events; one action with its event and notifications. The event log refuses UPDATE and
DELETE (trigger), so the history of a case cannot be rewritten.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import sql

from gridgeo.errors import (
    ConflictError,
    DatabaseError,
    GridgeoError,
    InputError,
    NotFoundError,
    Problem,
)
from gridgeo.i18n import _
from gridgeo.incidents.deadlines import Limit, WorkingCalendar
from gridgeo.incidents.intake import CASE_COLUMNS
from gridgeo.incidents.states import (
    CENTRE,
    STATE_NAMES,
    CaseFacts,
    IllegalTransitionError,
    action_text,
    apply,
    evaluation_key_hash,
)

log = logging.getLogger(__name__)

CASE_FIELDS = [
    "case_id",
    "external_id",
    "source",
    "category",
    "description",
    "reporter",
    "reported_at",
    "created_at",
    "lon",
    "lat",
    "crs",
    "located",
    "located_as_of",
    "grid_code",
    "grid_name",
    "grid_valid_from",
    "community_code",
    "community_name",
    "locate_answer",
    "routed_department",
    "queue_reason",
    "is_complex",
    "limit_amount",
    "limit_unit",
    "state",
    "departments",
    "returned_by",
    "designated",
    "level",
    "satisfaction",
    "accepted_at",
    "dispatched_at",
    "due_at",
    "handled_at",
    "closed_at",
    "archived_at",
    "evaluated_at",
    "overdue_explanation",
    "is_sample",
    "import_file",
    "version",
]
_SELECT = sql.SQL("SELECT {}, ST_X(geom), ST_Y(geom), ST_SRID(geom) FROM incidents.case").format(
    sql.SQL(", ").join(sql.Identifier(c) for c in CASE_FIELDS)
)


def _wrap(exc: psycopg.Error) -> GridgeoError:
    """A value the database refuses is the caller's 400; a failing database is a 503."""
    if isinstance(
        exc,
        psycopg.DataError | psycopg.errors.CheckViolation | psycopg.errors.NotNullViolation,
    ):
        msg = str(exc.diag.message_primary or exc)
        return InputError(
            _("invalid case data: {msg}").format(msg=msg), [Problem(msg, rule="incident.value")]
        )
    if isinstance(exc, psycopg.errors.UniqueViolation):
        return ConflictError(
            _("the case exists already: {detail}").format(detail=exc.diag.message_detail or exc)
        )
    return DatabaseError(_("the case store failed: {exc}").format(exc=exc).strip())


_STAGE_TYPES = {"x": "float8", "y": "float8", "srid": "integer"}
_NOT_NULL_TEXT = ("category", "description", "reporter")
_STORED = [c for c in CASE_COLUMNS if c not in _STAGE_TYPES] + ["geom"]
# secondary indexes of the case table: rebuilt instead of maintained row by row when
# an import at least doubles the table (see :func:`flush_staged`)
_SECONDARY_INDEXES = {
    "case_state_idx": "incidents.case (state, due_at)",
    "case_grid_idx": "incidents.case (grid_code)",
    "case_category_idx": "incidents.case (category)",
    "case_reported_idx": "incidents.case (reported_at)",
    "case_queue_idx": "incidents.case (case_id) WHERE queue_reason IS NOT NULL",
}


def _stage_columns() -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(c) for c in [*CASE_COLUMNS, "line"])


def _as_table(cases: pa.Table | pd.DataFrame) -> pa.Table:
    if isinstance(cases, pa.Table):
        return cases.select(CASE_COLUMNS)
    rows = cases[CASE_COLUMNS].copy()  # a DataFrame (callers outside the import path)
    for c in rows.columns:
        if rows[c].dtype == object and c != "routed_department":
            rows[c] = rows[c].astype("string")
    rows["routed_department"] = pd.array(rows["routed_department"].tolist(), dtype="Int64")
    return pa.Table.from_pandas(rows, preserve_index=False)


def insert_cases(
    conn: psycopg.Connection,
    cases: pa.Table | pd.DataFrame,
    *,
    role: str,
    actor: str,
    stage: bool = False,
    lines: np.ndarray | None = None,
) -> list[int]:
    """Store new cases with their ``report`` events; cases whose external id is known are skipped.

    Parameters
    ----------
    conn
        An open connection; the caller commits (so that a whole file is one transaction).
    cases
        Rows with :data:`~gridgeo.incidents.intake.CASE_COLUMNS` (an Arrow table as
        :func:`~gridgeo.incidents.intake.build_cases` gives, or a DataFrame).
    role, actor
        Who reported (role of the loop, label of the token or the CLI user).
    stage
        Only copy into the session's staging table; :func:`flush_staged` stores them
        (used to import a file chunk by chunk in one statement at the end).
    lines
        Line numbers of the rows in their file (to report duplicates across chunks).

    Returns
    -------
    list of int
        Ids of the cases stored now (empty when ``stage``).
    """
    table = _as_table(cases)
    n = table.num_rows
    line = pa.nulls(n, pa.int64()) if lines is None else pa.array(np.asarray(lines), pa.int64())
    table = table.append_column("line", line)
    try:
        conn.execute(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS incident_stage ON COMMIT DROP AS "
                "SELECT {}, NULL::float8 AS x, NULL::float8 AS y, NULL::integer AS srid, "
                "NULL::bigint AS line FROM incidents.case WITH NO DATA"
            ).format(
                sql.SQL(", ").join(sql.Identifier(c) for c in CASE_COLUMNS if c not in _STAGE_TYPES)
            )
        )
        # Arrow writes the CSV in C (timestamps as ISO text with "Z"); no per-row Python
        buf = pa.BufferOutputStream()
        pa_csv.write_csv(table, buf, pa_csv.WriteOptions(include_header=False))
        with conn.cursor().copy(
            sql.SQL("COPY incident_stage ({}) FROM STDIN WITH (FORMAT csv)").format(
                _stage_columns()
            )
        ) as copy:
            copy.write(memoryview(buf.getvalue()))
        if stage:
            return []
        return flush_staged(conn, role=role, actor=actor).case_ids
    except psycopg.Error as exc:
        raise _wrap(exc) from None


@dataclass
class Flushed:
    """What :func:`flush_staged` stored."""

    stored: int = 0
    queued: int = 0
    case_ids: list[int] = field(default_factory=list)
    duplicates: int = 0
    duplicate_rows: list[tuple[int | None, str]] = field(default_factory=list)


def _drop_duplicates(conn: psycopg.Connection, keep: int) -> tuple[int, list[tuple]]:
    """Remove staged rows repeating an external id of an earlier line of the file."""
    dup = conn.execute(
        "SELECT EXISTS (SELECT FROM incident_stage WHERE external_id IS NOT NULL "
        "GROUP BY external_id HAVING count(*) > 1)"
    ).fetchone()[0]
    if not dup:
        return 0, []
    conn.execute(
        """
        CREATE TEMP TABLE IF NOT EXISTS incident_dup (line bigint, external_id text)
            ON COMMIT DROP;
        WITH ranked AS (
            SELECT ctid AS row_ref, row_number() OVER (PARTITION BY external_id ORDER BY line) AS k
              FROM incident_stage WHERE external_id IS NOT NULL
        ), gone AS (
            DELETE FROM incident_stage s USING ranked r
             WHERE s.ctid = r.row_ref AND r.k > 1
            RETURNING s.line, s.external_id
        )
        INSERT INTO incident_dup SELECT line, external_id FROM gone
        """
    )
    n = conn.execute("SELECT count(*) FROM incident_dup").fetchone()[0]
    rows = conn.execute(
        "SELECT line, external_id FROM incident_dup ORDER BY line LIMIT %s", (keep,)
    ).fetchall()
    conn.execute("DROP TABLE incident_dup")
    return int(n), [tuple(r) for r in rows]


def _rebuild_indexes(conn: psycopg.Connection, staged: int) -> bool:
    """Drop the secondary case indexes when the import at least doubles the table.

    Rebuilding them once after the insert costs less than maintaining them row by row
    for that many rows; it locks the case table until the import commits (the lock is
    taken only for the final insert, never while the file is read and located).
    """
    existing = conn.execute(
        "SELECT reltuples FROM pg_class WHERE oid = 'incidents.case'::regclass"
    ).fetchone()[0]
    if staged < 10_000 or staged < max(float(existing), 0.0):
        return False
    conn.execute(
        sql.SQL("DROP INDEX {}").format(
            sql.SQL(", ").join(sql.Identifier("incidents", i) for i in _SECONDARY_INDEXES)
        )
    )
    return True


def flush_staged(
    conn: psycopg.Connection,
    *,
    role: str,
    actor: str,
    keep_ids: int = 100_000,
    keep_problems: int = 10_000,
) -> Flushed:
    """Move the staged cases into ``incidents.case`` (skipping known external ids), with events.

    Staged rows repeating an external id of an earlier line are not stored; they come
    back in ``duplicates`` (the first ``keep_problems`` with their lines). Returns the
    number stored and queued and the first ``keep_ids`` new ids (memory stays bounded
    for huge files).
    """
    out = Flushed()
    try:
        out.duplicates, out.duplicate_rows = _drop_duplicates(conn, keep_problems)
        staged = conn.execute("SELECT count(*) FROM incident_stage").fetchone()[0]
        rebuilt = _rebuild_indexes(conn, staged)
        src = [
            sql.SQL("coalesce({}, '')").format(sql.Identifier(c))
            if c in _NOT_NULL_TEXT
            else sql.Identifier(c)
            for c in CASE_COLUMNS
            if c not in _STAGE_TYPES
        ]
        src.append(
            sql.SQL(
                "CASE WHEN srid IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(x, y), srid) END"
            )
        )
        query = sql.SQL(
            """
            WITH ins AS (
                INSERT INTO incidents.case ({cols})
                SELECT {src} FROM incident_stage
                ON CONFLICT (external_id) DO NOTHING
                RETURNING case_id, reported_at, source, queue_reason
            ), ev AS (
                INSERT INTO incidents.event (case_id, action, from_state, to_state, role, actor,
                                             at, body)
                SELECT case_id, 'report', NULL, 'reported', %(role)s, %(actor)s, reported_at,
                       jsonb_build_object('source', source, 'queue_reason', queue_reason)
                  FROM ins
            )
            SELECT count(*), count(*) FILTER (WHERE queue_reason IS NOT NULL),
                   (SELECT array_agg(case_id) FROM (SELECT case_id FROM ins
                     ORDER BY case_id LIMIT %(keep)s) k)
              FROM ins
            """
        ).format(
            cols=sql.SQL(", ").join(sql.Identifier(c) for c in _STORED),
            src=sql.SQL(", ").join(src),
        )
        n, queued, ids = conn.execute(
            query, {"role": role, "actor": actor, "keep": keep_ids}
        ).fetchone()
        if rebuilt:
            for name, spec in _SECONDARY_INDEXES.items():
                conn.execute(
                    sql.SQL("CREATE INDEX {} ON ").format(sql.Identifier(name)) + sql.SQL(spec)
                )
        conn.execute("DROP TABLE IF EXISTS incident_stage")
    except psycopg.Error as exc:
        raise _wrap(exc) from None
    out.stored, out.queued, out.case_ids = int(n), int(queued), sorted(ids or [])
    log.info("stored %d new cases (%d queued for the centre)", n, queued)
    return out


def set_evaluation_key(conn: psycopg.Connection, case_id: int, key: str) -> None:
    """Keep the SHA-256 of the evaluation key handed to a case's reporter (once)."""
    conn.execute(
        "UPDATE incidents.case SET evaluation_key_sha256 = %s "
        "WHERE case_id = %s AND evaluation_key_sha256 IS NULL",
        (evaluation_key_hash(key), case_id),
    )


def evaluation_key_sha256(conn: psycopg.Connection, case_id: int) -> str | None:
    """The stored SHA-256 of a case's evaluation key (``None``: it has none)."""
    row = conn.execute(
        "SELECT evaluation_key_sha256 FROM incidents.case WHERE case_id = %s", (case_id,)
    ).fetchone()
    return row[0] if row else None


def known_external_ids(conn: psycopg.Connection, ids: list[str]) -> set[str]:
    """Which of ``ids`` are already stored."""
    if not ids:
        return set()
    rows = conn.execute(
        "SELECT external_id FROM incidents.case WHERE external_id = ANY(%s)", (ids,)
    ).fetchall()
    return {r[0] for r in rows}


def imported_file(conn: psycopg.Connection, sha256: str) -> dict[str, Any] | None:
    """The record of a file imported before (same SHA-256), or ``None``."""
    row = conn.execute(
        "SELECT name, imported_at, rows_total, rows_stored, rows_bad, rows_known "
        "FROM incidents.import_file WHERE sha256 = %s",
        (sha256,),
    ).fetchone()
    keys = ["name", "imported_at", "rows_total", "rows_stored", "rows_bad", "rows_known"]
    return dict(zip(keys, row, strict=True)) if row else None


def record_import(
    conn: psycopg.Connection, sha256: str, name: str, actor: str, counts: dict[str, int]
) -> None:
    """Remember an imported file (same transaction as its cases)."""
    conn.execute(
        "INSERT INTO incidents.import_file (sha256, name, imported_by, rows_total, rows_stored, "
        "rows_bad, rows_known) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (sha256, name, actor, counts["total"], counts["stored"], counts["bad"], counts["known"]),
    )


def _row(r: tuple) -> dict[str, Any]:
    case = dict(zip(CASE_FIELDS, r[: len(CASE_FIELDS)], strict=True))
    x, y, srid = r[len(CASE_FIELDS) :]
    case["point"] = {"x": x, "y": y, "srid": srid} if x is not None else None
    case["state_name"] = STATE_NAMES[case["state"]]
    return case


def get_case(conn: psycopg.Connection, case_id: int, *, lock: bool = False) -> dict[str, Any]:
    """One case (raises :class:`NotFoundError`)."""
    q = _SELECT + sql.SQL(" WHERE case_id = %s") + sql.SQL(" FOR UPDATE" if lock else "")
    row = conn.execute(q, (case_id,)).fetchone()
    if row is None:
        raise NotFoundError(_("case {case_id} does not exist").format(case_id=case_id))
    return _row(row)


def events(conn: psycopg.Connection, case_id: int) -> list[dict[str, Any]]:
    """The event log of a case, oldest first."""
    keys = ["event_id", "action", "from_state", "to_state", "role", "actor", "at", "body"]
    rows = conn.execute(
        "SELECT event_id, action, from_state, to_state, role, actor, at, body "
        "FROM incidents.event WHERE case_id = %s ORDER BY event_id",
        (case_id,),
    ).fetchall()
    return [dict(zip(keys, r, strict=True)) for r in rows]


def photos(conn: psycopg.Connection, case_id: int) -> list[dict[str, Any]]:
    """Photos of a case (metadata; the files are under GRIDGEO_HOME)."""
    keys = [
        "photo_id",
        "event_id",
        "sha256",
        "bytes",
        "content_type",
        "path",
        "added_by",
        "added_at",
    ]
    rows = conn.execute(
        "SELECT photo_id, event_id, sha256, bytes, content_type, path, added_by, added_at "
        "FROM incidents.photo WHERE case_id = %s ORDER BY photo_id",
        (case_id,),
    ).fetchall()
    return [dict(zip(keys, r, strict=True)) for r in rows]


def list_cases(
    conn: psycopg.Connection,
    *,
    state: str | None = None,
    overdue: bool | None = None,
    queued: bool | None = None,
    category: str | None = None,
    grid: str | None = None,
    department: int | None = None,
    communities: frozenset[str] | None = None,
    now: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[dict[str, Any]]]:
    """Cases matching the filters (newest first) and how many match in all.

    ``overdue``: still open (not handled yet) and past ``due_at`` at ``now``.
    ``communities``: only cases located in these community codes (a caller's division
    scope, :attr:`gridgeo.registry.users.Principal.scope`); ``None`` for every case.
    """
    where: list[sql.Composable] = []
    params: dict[str, Any] = {"now": now, "limit": limit, "offset": offset}
    if state:
        where.append(sql.SQL("state = %(state)s"))
        params["state"] = state
    if category:
        where.append(sql.SQL("category = %(category)s"))
        params["category"] = category
    if grid:
        where.append(sql.SQL("grid_code = %(grid)s"))
        params["grid"] = grid
    if department is not None:
        where.append(sql.SQL("%(department)s = ANY(departments)"))
        params["department"] = department
    if communities is not None:
        where.append(sql.SQL("community_code = ANY(%(communities)s)"))
        params["communities"] = sorted(communities)
    late = sql.SQL("(state IN ('dispatched', 'returned') AND due_at < coalesce(%(now)s, now()))")
    if overdue is True:
        where.append(late)
    elif overdue is False:
        where.append(sql.SQL("NOT ") + late)
    if queued is True:
        where.append(sql.SQL("queue_reason IS NOT NULL AND state = 'reported'"))
    cond = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL("")
    try:
        total = conn.execute(
            sql.SQL("SELECT count(*) FROM incidents.case") + cond, params
        ).fetchone()[0]
        rows = conn.execute(
            _SELECT + cond + sql.SQL(" ORDER BY case_id DESC LIMIT %(limit)s OFFSET %(offset)s"),
            params,
        ).fetchall()
    except psycopg.Error as exc:
        raise _wrap(exc) from None
    return int(total), [_row(r) for r in rows]


def _check_departments(conn: psycopg.Connection, ids: tuple[int, ...]) -> None:
    """Every department exists (read through the matter list's home, registry/matters.py)."""
    from gridgeo.registry import matters

    missing = []
    for i in ids:
        try:
            matters.get_department(conn, i)
        except NotFoundError:
            missing.append(i)
    if missing:
        raise InputError(
            _("the handling department does not exist"),
            [
                Problem(
                    _("department {department} is not in the list of departments").format(
                        department=m
                    ),
                    field="department",
                    rule="incident.department",
                )
                for m in missing
            ],
        )


_STAMP = {
    "accept": "accepted_at",
    "handle": "handled_at",
    "verify_pass": "closed_at",
    "archive": "archived_at",
    "evaluate": "evaluated_at",
}
_BODY_KEYS = (
    "reason",
    "feedback",
    "department",
    "lead",
    "satisfaction",
    "explanation",
    "photos",
    "callback",
)


def record_action(
    conn: psycopg.Connection,
    case_id: int,
    action: str,
    *,
    role: str,
    actor: str,
    body: dict[str, Any] | None = None,
    actor_department: int | None = None,
    calendar: WorkingCalendar,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Take an action on a case: check it, update the case, append the event, notify.

    One transaction (the case row is locked). ``at`` is the time of the action
    (default: the database clock); given only when replaying a known history.

    Raises
    ------
    NotFoundError, PermissionDeniedError, IllegalTransitionError, InputError
    """
    body = dict(body or {})
    try:
        with conn.transaction():
            case = get_case(conn, case_id, lock=True)
            now = at or conn.execute("SELECT clock_timestamp()").fetchone()[0]
            facts = CaseFacts(
                state=case["state"],
                departments=tuple(case["departments"]),
                returned_by=tuple(case["returned_by"]),
                designated=case["designated"],
                level=case["level"],
                satisfaction=case["satisfaction"],
                evaluation_key_sha256=evaluation_key_sha256(conn, case_id)
                if action == "evaluate"
                else None,
            )
            new = apply(facts, action, role, body, actor_department=actor_department)
            sets: dict[str, Any] = {
                "state": new.state,
                "departments": list(new.departments),
                "returned_by": list(new.returned_by),
                "designated": new.designated,
                "level": new.level,
                "satisfaction": new.satisfaction,
            }
            if action in ("dispatch", "designate"):
                _check_departments(conn, new.departments)
                if case["dispatched_at"] is None:
                    sets["dispatched_at"] = now
                    sets["due_at"] = calendar.deadline(
                        now, Limit(case["limit_amount"], case["limit_unit"])
                    )
            if action in _STAMP:
                sets[_STAMP[action]] = now
            explanation = body.get("explanation") or (
                body.get("reason") if action == "explain" else None
            )
            if explanation:
                sets["overdue_explanation"] = str(explanation)[:4000]
            if (
                action == "handle"
                and case["due_at"] is not None
                and now > case["due_at"]
                and not (case["overdue_explanation"] or explanation)
            ):
                raise IllegalTransitionError(
                    _(
                        "the case was overdue at {due:%Y-%m-%d %H:%M}: explain the delay in "
                        "writing before reporting the handling (give explanation, or first "
                        "{explain}) [rule incident.handle.overdue]"
                    ).format(due=case["due_at"], explain=action_text("explain")),
                    state=case["state"],
                    action=action,
                    rule="超期案件须书面说明",
                )
            assign = sql.SQL(", ").join(
                sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in sets
            )
            conn.execute(
                sql.SQL(
                    "UPDATE incidents.case SET {}, version = version + 1 WHERE case_id = %(id)s"
                ).format(assign),
                sets | {"id": case_id},
            )
            kept = {k: body[k] for k in _BODY_KEYS if body.get(k) not in (None, "")}
            if action == "supervise":
                kept["level"] = new.level
            if action == "evaluate":  # who gave the rating (the key itself is never kept)
                kept["by"] = "callback" if role in CENTRE else "reporter"
            event_id = conn.execute(
                "INSERT INTO incidents.event (case_id, action, from_state, to_state, role, actor, "
                "at, body) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING event_id",
                (
                    case_id,
                    action,
                    case["state"],
                    new.state,
                    role,
                    actor,
                    now,
                    json.dumps(kept, ensure_ascii=False),
                ),
            ).fetchone()[0]
            _notify(conn, case_id, action, new, body, now)
            case = get_case(conn, case_id)
            case["last_event_id"] = event_id
            return case
    except psycopg.Error as exc:
        raise _wrap(exc) from None


def _notify(conn, case_id: int, action: str, new: CaseFacts, body: dict, now: datetime) -> None:
    if action in ("dispatch", "designate"):
        targets = [
            (
                d,
                (
                    _("case {case_id} was designated to your department")
                    if action == "designate"
                    else _("case {case_id} was dispatched to your department")
                ).format(case_id=case_id)
                + (_(" (lead)") if d == new.lead else ""),
            )
            for d in new.departments
        ]
    elif action == "supervise":
        targets = [
            (
                d,
                _("case {case_id} is supervised (level {level}): {reason}").format(
                    case_id=case_id, level=new.level, reason=body.get("reason", "")
                ),
            )
            for d in new.departments
        ]
    elif action == "verify_fail":
        targets = [
            (
                d,
                _("case {case_id} failed verification: {reason}").format(
                    case_id=case_id, reason=body.get("reason", "")
                ),
            )
            for d in new.departments[:1]
        ]
    else:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO incidents.notification (case_id, department_id, kind, level, message, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [(case_id, d, action, new.level, msg[:2000], now) for d, msg in targets],
        )


def notifications(conn: psycopg.Connection, department: int) -> list[dict[str, Any]]:
    """A department's notifications, newest first."""
    keys = ["notification_id", "case_id", "kind", "level", "message", "created_at", "read_at"]
    rows = conn.execute(
        "SELECT notification_id, case_id, kind, level, message, created_at, read_at "
        "FROM incidents.notification WHERE department_id = %s ORDER BY notification_id DESC LIMIT 500",
        (department,),
    ).fetchall()
    return [dict(zip(keys, r, strict=True)) for r in rows]


def add_photo(
    conn: psycopg.Connection,
    case_id: int,
    *,
    sha256: str,
    size: int,
    content_type: str,
    path: str,
    actor: str,
) -> int:
    """Record a stored photo file for a case (idempotent per case and checksum)."""
    get_case(conn, case_id)
    row = conn.execute(
        "INSERT INTO incidents.photo (case_id, sha256, bytes, content_type, path, added_by) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (case_id, sha256) DO NOTHING RETURNING photo_id",
        (case_id, sha256, size, content_type, path, actor),
    ).fetchone()
    if row is None:
        row = conn.execute(
            "SELECT photo_id FROM incidents.photo WHERE case_id = %s AND sha256 = %s",
            (case_id, sha256),
        ).fetchone()
    return int(row[0])


STATS_COLUMNS = [
    "case_id",
    "category",
    "state",
    "grid_code",
    "grid_name",
    "community_code",
    "community_name",
    "department_id",
    "department",
    "reported_at",
    "dispatched_at",
    "handled_at",
    "closed_at",
    "due_at",
    "returned",
    "satisfaction",
    "is_sample",
]


def stats_rows(
    conn: psycopg.Connection, *, since: datetime | None = None, until: datetime | None = None
) -> pd.DataFrame:
    """One row per case reported in [since, until) with what statistics need."""
    rows = conn.execute(
        """
        SELECT c.case_id, c.category, c.state, c.grid_code, c.grid_name, c.community_code,
               c.community_name, c.departments[1], d.name, c.reported_at, c.dispatched_at,
               c.handled_at, c.closed_at, c.due_at, cardinality(c.returned_by) > 0,
               c.satisfaction, c.is_sample
          FROM incidents.case c
          LEFT JOIN registry.department d ON d.department_id = c.departments[1]
         WHERE c.reported_at >= coalesce(%(since)s, '-infinity'::timestamptz)
           AND c.reported_at < coalesce(%(until)s, 'infinity'::timestamptz)
        """,
        {"since": since, "until": until},
    ).fetchall()
    return pd.DataFrame(rows, columns=STATS_COLUMNS)
