"""The filing workflow: draft → filed → accepted | returned (with reason).

County editors file their own county's drafts; only a city reviewer accepts or
returns. Acceptance runs ``registry.accept_changeset`` in the database, in one
transaction: the optimistic version check, the integrity trigger, the code ledger,
the audit log and the notification either all happen or none does.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gridgeo.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError, Problem
from gridgeo.registry._db import Bind, transaction
from gridgeo.registry.actors import Actor
from gridgeo.rules import Profile, load_profile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChangeSet:
    """A change set's header."""

    changeset_id: int
    county_code: str
    title: str
    reason: str
    source: str | None
    status: str
    created_by: str
    created_at: datetime
    filed_by: str | None
    filed_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    validation: Any
    lock_version: int


_HEADER = ", ".join(ChangeSet.__dataclass_fields__)


def _get(conn: Connection, changeset_id: int, *, lock: bool = False) -> ChangeSet:
    row = conn.execute(
        text(
            f"SELECT {_HEADER} FROM registry.changeset WHERE changeset_id = :id"
            + (" FOR UPDATE" if lock else "")
        ),
        {"id": int(changeset_id)},
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"change set {changeset_id} does not exist")
    return ChangeSet(*row)


def get_changeset(bind: Bind, changeset_id: int) -> ChangeSet:
    """The header of one change set.

    Raises
    ------
    NotFoundError
        When it does not exist.
    """
    with transaction(bind) as conn:
        return _get(conn, changeset_id)


def list_changesets(
    bind: Bind, *, status: str | None = None, county: str | None = None
) -> pd.DataFrame:
    """Change sets, newest first, with their item counts.

    Parameters
    ----------
    status
        Only this status (``draft``, ``filed``, ``accepted``, ``returned``).
    county
        Only counties whose code starts with this.
    """
    with transaction(bind) as conn:
        rows = conn.execute(
            text(
                "SELECT c.changeset_id, c.county_code, c.status, c.title, c.created_by, c.created_at, "
                "c.decided_by, c.decided_at, c.decision_reason, "
                "(SELECT count(*) FROM registry.changeset_item i WHERE i.changeset_id = c.changeset_id) "
                "AS items FROM registry.changeset c "
                "WHERE (CAST(:s AS text) IS NULL OR c.status = :s) "
                "AND (CAST(:c AS text) IS NULL OR c.county_code LIKE :c || '%') "
                "ORDER BY c.changeset_id DESC"
            ),
            {"s": status, "c": county},
        ).all()
    cols = [
        "changeset_id",
        "county_code",
        "status",
        "title",
        "created_by",
        "created_at",
        "decided_by",
        "decided_at",
        "decision_reason",
        "items",
    ]
    return pd.DataFrame(rows, columns=cols)


def changeset_items(bind: Bind, changeset_id: int) -> pd.DataFrame:
    """One row per item: action, old and new codes, households and area before/after."""
    with transaction(bind) as conn:
        _get(conn, changeset_id)
        rows = conn.execute(
            text(
                """
                SELECT i.seq, i.action, i.note,
                       coalesce(o.codes, '{}') AS old_codes, coalesce(n.codes, '{}') AS new_codes,
                       coalesce(o.retired, '{}') AS retired_codes,
                       coalesce(n.community_code, o.community_code) AS community_code,
                       o.households AS households_before, n.households AS households_after,
                       o.area AS area_before_m2, n.area AS area_after_m2, i.payload
                  FROM registry.changeset_item i
                  LEFT JOIN LATERAL (
                      SELECT array_agg(co.grid_code ORDER BY co.grid_code) AS codes,
                             array_agg(co.grid_code ORDER BY co.grid_code)
                                 FILTER (WHERE co.retire) AS retired,
                             min(g.community_code) AS community_code,
                             sum(g.households) AS households, sum(ST_Area(g.geom)) AS area
                        FROM registry.changeset_old co
                        JOIN registry.grid g ON g.grid_code = co.grid_code AND g.version = co.base_version
                       WHERE co.item_id = i.item_id) o ON true
                  LEFT JOIN LATERAL (
                      SELECT array_agg(cn.grid_code ORDER BY cn.grid_code) AS codes,
                             min(cn.community_code) AS community_code,
                             sum(cn.households) AS households, sum(ST_Area(cn.geom)) AS area
                        FROM registry.changeset_new cn WHERE cn.item_id = i.item_id) n ON true
                 WHERE i.changeset_id = :id
                 ORDER BY i.seq
                """
            ),
            {"id": int(changeset_id)},
        ).all()
    cols = [
        "seq",
        "action",
        "note",
        "old_codes",
        "new_codes",
        "retired_codes",
        "community_code",
        "households_before",
        "households_after",
        "area_before_m2",
        "area_after_m2",
        "payload",
    ]
    return pd.DataFrame(rows, columns=cols)


def changeset_grids(bind: Bind, changeset_id: int) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The grid versions a change set closes (old) and opens (new), in the registry CRS."""
    with transaction(bind) as conn:
        _get(conn, changeset_id)
        srid = conn.execute(text("SELECT registry.srid()")).scalar()
        common = "grid_code, grid_name, grid_type, community_code, households, population"
        old = conn.execute(
            text(
                f"SELECT i.seq AS item, i.action, g.{common.replace(', ', ', g.')}, g.version, "
                "co.retire, ST_AsBinary(g.geom) FROM registry.changeset_old co "
                "JOIN registry.changeset_item i USING (item_id) "
                "JOIN registry.grid g ON g.grid_code = co.grid_code AND g.version = co.base_version "
                "WHERE co.changeset_id = :id ORDER BY i.seq, g.grid_code"
            ),
            {"id": int(changeset_id)},
        ).all()
        new = conn.execute(
            text(
                f"SELECT i.seq AS item, i.action, cn.{common.replace(', ', ', cn.')}, "
                "ST_AsBinary(cn.geom) FROM registry.changeset_new cn "
                "JOIN registry.changeset_item i USING (item_id) "
                "WHERE cn.changeset_id = :id ORDER BY i.seq, cn.grid_code"
            ),
            {"id": int(changeset_id)},
        ).all()
    fields = ["item", "action", *common.split(", ")]
    return (
        _frame(old, [*fields, "version", "retire"], srid),
        _frame(new, fields, srid),
    )


def _frame(rows: list, columns: list[str], srid: int | None) -> gpd.GeoDataFrame:
    df = pd.DataFrame([r[:-1] for r in rows], columns=columns)
    geoms = shapely.from_wkb([bytes(r[-1]) for r in rows]) if rows else []
    df["area_m2"] = shapely.area(geoms) if rows else []
    crs = f"EPSG:{srid}" if srid else None
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs=crs))


def _db_problems(conn: Connection, changeset_id: int) -> list[Problem]:
    rows = conn.execute(
        text("SELECT rule, grid_code, message FROM registry.check_changeset(:id)"),
        {"id": int(changeset_id)},
    ).all()
    return [
        Problem(msg, layer=f"change set {changeset_id}", row=code, rule=f"registry.{rule}")
        for rule, code, msg in rows
    ]


def _result_layers(
    conn: Connection, changeset_id: int
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The grids of the affected communities as they would be after acceptance, and
    those communities."""
    srid = conn.execute(text("SELECT registry.srid()")).scalar()
    rows = conn.execute(
        text(
            """
            WITH affected AS (
                SELECT community_code FROM registry.changeset_new WHERE changeset_id = :id
                UNION
                SELECT g.community_code FROM registry.changeset_old o
                  JOIN registry.grid g ON g.grid_code = o.grid_code AND g.version = o.base_version
                 WHERE o.changeset_id = :id)
            SELECT g.grid_code, g.grid_name, g.grid_type, g.community_code, g.households,
                   g.population, ST_AsBinary(g.geom)
              FROM registry.grid g
             WHERE g.valid_to IS NULL AND g.community_code IN (SELECT community_code FROM affected)
               AND NOT EXISTS (SELECT 1 FROM registry.changeset_old o
                                WHERE o.changeset_id = :id AND o.grid_code = g.grid_code)
            UNION ALL
            SELECT grid_code, grid_name, grid_type, community_code, households, population,
                   ST_AsBinary(geom)
              FROM registry.changeset_new WHERE changeset_id = :id
            """
        ),
        {"id": int(changeset_id)},
    ).all()
    cols = ["grid_code", "grid_name", "grid_type", "community_code", "households", "population"]
    grids = _frame_plain(rows, cols, srid)
    crows = conn.execute(
        text(
            "SELECT code, name, kind, ST_AsBinary(geom) FROM registry.divisions "
            "WHERE code = ANY(:c) AND geom IS NOT NULL"
        ),
        {"c": sorted(set(grids["community_code"]))},
    ).all()
    return grids, _frame_plain(crows, ["code", "name", "kind"], srid)


def _frame_plain(rows: list, columns: list[str], srid: int | None) -> gpd.GeoDataFrame:
    df = pd.DataFrame([r[:-1] for r in rows], columns=columns)
    geoms = shapely.from_wkb([bytes(r[-1]) for r in rows]) if rows else []
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs=f"EPSG:{srid}" if srid else None))


def _validator_problems(
    conn: Connection, changeset_id: int, profile: str | Profile | None, code_pattern: str | None
) -> tuple[list[Problem], dict[str, Any]]:
    """The profile's rules (gridgeo.validate) on the affected communities after acceptance.

    Household points are not in the registry, so the validator's size rules that need
    them are skipped; it checks geometry, coverage, overlaps, borders and codes.
    """
    from gridgeo.validate import validate

    prof = load_profile(profile or "yongzhou").with_code_pattern(code_pattern)
    grids, communities = _result_layers(conn, changeset_id)
    if grids.empty:
        return [], {"validator": "gridgeo.validate", "profile": prof.name, "issues": 0}
    report = validate(grids, communities, profile=prof)
    problems = [
        Problem(
            str(r.message),
            layer=f"change set {changeset_id} (result)",
            row=str(r.grid_codes or r.community_code or "") or None,
            rule=f"validate.{r.rule}",
            severity=str(r.severity),
        )
        for r in report.issues.itertuples()
    ]
    summary = {
        "validator": "gridgeo.validate",
        "profile": prof.name,
        "code_pattern": prof.codes.community_pattern,
        "errors": report.errors,
        "warnings": report.warnings,
        "issues": [
            {"rule": p.rule, "severity": p.severity, "grids": p.row, "message": p.message}
            for p in problems[:200]
        ],
    }
    return problems, summary


def validate_changeset(
    bind: Bind,
    changeset_id: int,
    *,
    profile: str | Profile | None = None,
    code_pattern: str | None = None,
    rules: bool = True,
) -> list[Problem]:
    """What would prevent accepting the change set now, and the profile's rules it breaks.

    Runs ``registry.check_changeset`` in the database (invalid geometries, grids
    drafted against versions that have changed since, unusable codes, overlaps
    between the new grids and the grids that stay, grids leaving their community),
    then, with ``rules``, :func:`gridgeo.validate.validate` on the affected
    communities as they would be after acceptance (coverage gaps, slivers, codes…).

    Returns
    -------
    list of Problem
        Database problems (always errors) first, then the validator's errors and
        warnings; empty when there is nothing to report.
    """
    with transaction(bind) as conn:
        _get(conn, changeset_id)
        problems = _db_problems(conn, changeset_id)
        if rules:
            problems += _validator_problems(conn, changeset_id, profile, code_pattern)[0]
    log.info("validated change set %s: %d problems", changeset_id, len(problems))
    return problems


def _audit(
    conn: Connection, actor: Actor, action: str, cs: int, reason: str | None, detail: Any
) -> None:
    conn.execute(
        text("SELECT registry.append_audit(:a, :r, :act, :cs, :why, CAST(:d AS jsonb))"),
        {
            "a": actor.name,
            "r": actor.role,
            "act": action,
            "cs": int(cs),
            "why": reason,
            "d": json.dumps(detail, ensure_ascii=False, default=str),
        },
    )


def file_changeset(
    bind: Bind,
    changeset_id: int,
    *,
    actor: Actor,
    note: str = "",
    profile: str | Profile | None = None,
    code_pattern: str | None = None,
    force: bool = False,
) -> ChangeSet:
    """File a draft with the city, after validating it (备案).

    The database checks (see :func:`validate_changeset`) must pass. The validator's
    rule errors block filing too unless ``force`` (then they are recorded with the
    change set for the city to see); warnings never block.

    Raises
    ------
    PermissionDeniedError
        Unless ``actor`` is an editor of the change set's county (or an admin).
    ConflictError
        When the change set is not a draft (or changed concurrently).
    InputError
        With every problem :func:`validate_changeset` found; the draft stays a draft.
    """
    with transaction(bind) as conn:
        cs = _get(conn, changeset_id, lock=True)
        actor.require_drafting(cs.county_code)
        if cs.status != "draft":
            raise ConflictError(
                f"change set {changeset_id} is {cs.status}: only a draft can be filed"
            )
        problems = _db_problems(conn, changeset_id)
        if problems:
            raise InputError(
                f"change set {changeset_id} cannot be filed: {len(problems)} problem(s)", problems
            )
        rule_problems, rule_report = _validator_problems(conn, changeset_id, profile, code_pattern)
        errors = [p for p in rule_problems if p.severity == "error"]
        if errors and not force:
            raise InputError(
                f"change set {changeset_id} breaks {len(errors)} rule(s) of profile "
                f"{rule_report['profile']}; fix the draft or file with force",
                rule_problems,
            )
        report = {
            "database": "registry.check_changeset: no problems",
            "rules": rule_report,
            "forced": bool(errors and force),
            "note": note,
        }
        updated = conn.execute(
            text(
                "UPDATE registry.changeset SET status = 'filed', filed_by = :by, "
                "filed_at = clock_timestamp(), validation = CAST(:v AS jsonb), "
                "lock_version = lock_version + 1 "
                "WHERE changeset_id = :id AND status = 'draft' AND lock_version = :lv"
            ),
            {
                "by": actor.name,
                "v": json.dumps(report),
                "id": cs.changeset_id,
                "lv": cs.lock_version,
            },
        ).rowcount
        if updated != 1:
            raise ConflictError(f"change set {changeset_id} changed while filing it; try again")
        _audit(conn, actor, "file", changeset_id, note or None, report)
        conn.execute(
            text("SELECT pg_notify('gridgeo_registry', :p)"),
            {"p": json.dumps({"event": "changeset_filed", "changeset": int(changeset_id)})},
        )
        result = _get(conn, changeset_id)
    log.info("filed change set %s of county %s", changeset_id, result.county_code)
    return result


def _four_eyes(actor: Actor, cs: ChangeSet) -> None:
    if actor.role != "admin" and actor.name in (cs.created_by, cs.filed_by):
        raise PermissionDeniedError(
            f"{actor.name} drafted or filed change set {cs.changeset_id} and cannot also decide on it"
        )


def accept_changeset(
    bind: Bind, changeset_id: int, *, actor: Actor, reason: str | None = None
) -> dict[str, Any]:
    """Accept a filed change set: it becomes the current registry, atomically.

    Returns
    -------
    dict
        ``changeset``, ``accepted_at``, ``closed``, ``opened``, ``new_codes``,
        ``retired_codes``.

    Raises
    ------
    PermissionDeniedError
        Unless ``actor`` is a city reviewer (of a city containing the county) or an admin,
        and not the person who drafted or filed the change set.
    ConflictError
        When the change set is not filed, or a grid it replaces changed since it was
        drafted (optimistic version check: nothing is written).
    SpatialIntegrityError
        (a :class:`ConflictError`) when the result would have overlapping grids or
        grids outside their community.
    """
    with transaction(bind) as conn:
        cs = _get(conn, changeset_id)
        actor.require_review(cs.county_code)
        _four_eyes(actor, cs)
        summary = conn.execute(
            text("SELECT registry.accept_changeset(:id, :by, :why, :role)"),
            {"id": int(changeset_id), "by": actor.name, "why": reason, "role": actor.role},
        ).scalar_one()
    log.info(
        "accepted change set %s: %d grid versions closed, %d opened, %d codes retired",
        changeset_id,
        summary["closed"],
        summary["opened"],
        len(summary["retired_codes"]),
    )
    return summary


def return_changeset(bind: Bind, changeset_id: int, *, actor: Actor, reason: str) -> dict[str, Any]:
    """Return a filed change set to its county with a reason; its reserved codes become void.

    Raises
    ------
    PermissionDeniedError
        Unless ``actor`` is a city reviewer or an admin.
    ConflictError
        When the change set is not filed or ``reason`` is empty.
    """
    if not (reason or "").strip():
        raise ConflictError(f"returning change set {changeset_id} needs a reason")
    with transaction(bind) as conn:
        cs = _get(conn, changeset_id)
        actor.require_review(cs.county_code)
        summary = conn.execute(
            text("SELECT registry.return_changeset(:id, :by, :why, :role)"),
            {"id": int(changeset_id), "by": actor.name, "why": reason, "role": actor.role},
        ).scalar_one()
    log.info(
        "returned change set %s: %d reserved codes void", changeset_id, len(summary["void_codes"])
    )
    return summary


def withdraw_changeset(
    bind: Bind, changeset_id: int, *, actor: Actor, reason: str = ""
) -> dict[str, Any]:
    """Withdraw the county's own draft or filed change set; its reserved codes become void.

    Raises
    ------
    PermissionDeniedError
        Unless ``actor`` is an editor of the change set's county (or an admin).
    ConflictError
        When the change set was already accepted, returned or withdrawn.
    """
    with transaction(bind) as conn:
        cs = _get(conn, changeset_id)
        actor.require_drafting(cs.county_code)
        summary = conn.execute(
            text("SELECT registry.withdraw_changeset(:id, :by, :why, :role)"),
            {"id": int(changeset_id), "by": actor.name, "why": reason or None, "role": actor.role},
        ).scalar_one()
    log.info(
        "withdrew change set %s: %d reserved codes void", changeset_id, len(summary["void_codes"])
    )
    return summary


def audit_log(bind: Bind, *, changeset_id: int | None = None) -> pd.DataFrame:
    """The audit log (oldest first), optionally of one change set."""
    with transaction(bind) as conn:
        rows = conn.execute(
            text(
                "SELECT audit_id, at, actor, role, action, changeset_id, reason, detail "
                "FROM registry.audit_log WHERE CAST(:cs AS bigint) IS NULL OR changeset_id = :cs "
                "ORDER BY audit_id"
            ),
            {"cs": changeset_id},
        ).all()
    return pd.DataFrame(
        rows,
        columns=["audit_id", "at", "actor", "role", "action", "changeset_id", "reason", "detail"],
    )
