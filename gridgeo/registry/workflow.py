"""The filing workflow: draft → filed → accepted | returned (with reason).

County editors file their own county's drafts; only a city reviewer accepts or
returns. Acceptance runs ``registry.accept_changeset`` in the database, in one
transaction: the optimistic version check, the integrity trigger, the code ledger,
the audit log and the notification either all happen or none does.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gridgeo.errors import (
    ConflictError,
    GridgeoError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    Problem,
)
from gridgeo.i18n import _
from gridgeo.registry._db import Bind, transaction
from gridgeo.registry.bindings import Binding, _bound, require_binding_message
from gridgeo.registry.outbox import notify_departments
from gridgeo.registry.rulecheck import rule_report
from gridgeo.registry.staff import changeset_staff_problems
from gridgeo.registry.users import Principal, audit_refusal
from gridgeo.rules import Profile

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
    profile: str | None = None
    household_source: str | None = None
    receiver_code: str | None = None
    force_reason: str | None = None
    forced_breaks: Any = None


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
        raise NotFoundError(
            _("change set {changeset_id} does not exist").format(changeset_id=changeset_id)
        )
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


def _binding_for(
    conn: Connection, cs: ChangeSet, profile: str | Profile | None, code_pattern: str | None
) -> Binding:
    """The county's bound profile, or (for a what-if check only) the one given."""
    if profile is not None:
        return Binding("", profile, code_pattern, None, datetime.now(UTC), "what-if")  # type: ignore[arg-type]
    found = _bound(conn, cs.county_code)
    if found is None:
        raise ConflictError(require_binding_message(cs.county_code))
    return found


def _validator_problems(
    conn: Connection, cs: ChangeSet, binding: Binding
) -> tuple[list[Problem], dict[str, Any]]:
    """The bound profile's rules (gridgeo.validate) on the affected communities after
    acceptance, households recounted from the county's layer (or declared counts)."""
    grids, communities = _result_layers(conn, cs.changeset_id)
    return rule_report(conn, cs.changeset_id, cs.county_code, binding, grids, communities)


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
        cs = _get(conn, changeset_id)
        problems = _db_problems(conn, changeset_id)
        if rules:
            binding = _binding_for(conn, cs, profile, code_pattern)
            problems += _validator_problems(conn, cs, binding)[0]
            problems += changeset_staff_problems(conn, changeset_id, binding.load())
    log.info("validated change set %s: %d problems", changeset_id, len(problems))
    return problems


def _audit(
    conn: Connection, actor: Principal, action: str, cs: int, reason: str | None, detail: Any
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


@contextlib.contextmanager
def refusals_audited(
    bind: Bind, actor: Principal, action: str, changeset_id: int | None
) -> Iterator[None]:
    """Record a refused attempt (who, what, why) in the audit log, then re-raise.

    The record is written in a transaction of its own, so it stays when the caller's
    transaction rolls back.
    """
    try:
        yield
    except GridgeoError as exc:
        with contextlib.suppress(GridgeoError):
            audit_refusal(
                as_engine_of(bind),
                actor,
                action,
                changeset_id,
                str(exc)[:1000],
                detail={"error": type(exc).__name__, "message": str(exc)},
            )
        raise


def as_engine_of(bind: Bind) -> Bind:
    """The engine behind ``bind`` (a refusal is recorded even when the caller's
    transaction rolls back)."""
    return bind.engine if isinstance(bind, Connection) else bind


def file_changeset(
    bind: Bind,
    changeset_id: int,
    *,
    actor: Principal,
    note: str = "",
    force: bool = False,
    force_reason: str = "",
) -> ChangeSet:
    """File a draft with the receiving division, after validating it (备案).

    The county's bound profile (:func:`gridgeo.registry.bindings.bind_profile`) sets
    the rules and who receives the filing (its ``filing_level``); households are
    recounted from the county's household layer, or taken as declared when it has
    none (the report says so). The database checks must pass. The validator's rule
    errors refuse the filing too unless ``force`` with a written ``force_reason``:
    then each forced break is stored with the change set for the reviewer.
    Warnings never block. Every refusal is recorded in the audit log.
    The staffing rules of the bound profile
    (:func:`gridgeo.registry.staff.changeset_staff_problems`) on the grids the change set
    staffs are recorded as warnings under ``staff``.

    Raises
    ------
    PermissionDeniedError
        Unless ``actor`` is an editor of the change set's county (or an admin).
    ConflictError
        When the change set is not a draft (or changed concurrently), or the county is
        bound to no profile.
    InputError
        With every problem found (the draft stays a draft), or ``force`` without a reason.
    """
    with refusals_audited(bind, actor, "file", changeset_id), transaction(bind) as conn:
        cs = _get(conn, changeset_id, lock=True)
        actor.require("changeset.draft", cs.county_code)
        if cs.status != "draft":
            raise ConflictError(
                _("change set {changeset_id} is {status}: only a draft can be filed").format(
                    changeset_id=changeset_id, status=cs.status
                )
            )
        if force and not (force_reason or "").strip():
            raise InputError(
                _("filing change set {changeset_id} with force needs a written reason").format(
                    changeset_id=changeset_id
                ),
                [Problem(_("missing"), field="force_reason", rule="filing.force_reason")],
            )
        binding = _binding_for(conn, cs, None, None)
        receiver = binding.receiver(cs.county_code)
        problems = _db_problems(conn, changeset_id)
        if problems:
            raise InputError(
                _("change set {changeset_id} cannot be filed: {n} problem(s)").format(
                    changeset_id=changeset_id, n=len(problems)
                ),
                problems,
            )
        rule_problems, rule_report_ = _validator_problems(conn, cs, binding)
        errors = [p for p in rule_problems if p.severity == "error"]
        if errors and not force:
            rules = ", ".join(sorted({p.rule for p in errors}))
            raise InputError(
                _(
                    "change set {changeset_id} breaks {n} rule(s) of profile {profile} "
                    "({rules}); fix the draft or file with force and a written reason"
                ).format(
                    changeset_id=changeset_id,
                    n=len(errors),
                    profile=rule_report_["profile"],
                    rules=rules,
                ),
                rule_problems,
            )
        forced = (
            [{"rule": p.rule, "grids": p.row, "message": p.message} for p in errors]
            if force
            else []
        )
        staff_warnings = changeset_staff_problems(conn, changeset_id, binding.load())
        report = {
            "database": "registry.check_changeset: no problems",
            "rules": rule_report_,
            "staff": [
                {"rule": p.rule, "grid": p.row, "message": p.message} for p in staff_warnings
            ],
            "forced": bool(forced),
            "force_reason": force_reason.strip() if forced else None,
            "receiver": receiver,
            "note": note,
        }
        updated = conn.execute(
            text(
                "UPDATE registry.changeset SET status = 'filed', filed_by = :by, "
                "filed_at = clock_timestamp(), validation = CAST(:v AS jsonb), "
                "profile = :p, household_source = :hs, receiver_code = :rc, "
                "force_reason = :fr, forced_breaks = CAST(:fb AS jsonb), "
                "lock_version = lock_version + 1 "
                "WHERE changeset_id = :id AND status = 'draft' AND lock_version = :lv"
            ),
            {
                "by": actor.name,
                "v": json.dumps(report, ensure_ascii=False, default=str),
                "p": rule_report_["profile"],
                "hs": rule_report_["household_source"],
                "rc": receiver,
                "fr": force_reason.strip() if forced else None,
                "fb": json.dumps(forced, ensure_ascii=False),
                "id": cs.changeset_id,
                "lv": cs.lock_version,
            },
        ).rowcount
        if updated != 1:
            raise ConflictError(
                _("change set {changeset_id} changed while filing it; try again").format(
                    changeset_id=changeset_id
                )
            )
        _audit(conn, actor, "file", changeset_id, note or None, report)
        conn.execute(
            text("SELECT pg_notify('gridgeo_registry', :p)"),
            {"p": json.dumps({"event": "changeset_filed", "changeset": int(changeset_id)})},
        )
        result = _get(conn, changeset_id)
    log.info(
        "filed change set %s of county %s with %s (%d forced breaks)",
        changeset_id,
        result.county_code,
        receiver,
        len(forced),
    )
    return result


def _require_receiver(actor: Principal, cs: ChangeSet) -> None:
    """Refuse a reviewer who is not at the division the filing was routed to."""
    if actor.role == "admin" or not cs.receiver_code or not actor.division_code:
        return
    if actor.division_code.rstrip("0") != cs.receiver_code.rstrip("0"):
        raise PermissionDeniedError(
            _(
                "change set {changeset_id} is filed with division {receiver_code} "
                "(profile {profile}); reviewer {name} of {division_code} may not decide "
                "on it"
            ).format(
                changeset_id=cs.changeset_id,
                receiver_code=cs.receiver_code,
                profile=cs.profile,
                name=actor.name,
                division_code=actor.division_code,
            )
        )


def _four_eyes(actor: Principal, cs: ChangeSet) -> None:
    actor.require_not_author(cs.changeset_id, (cs.created_by, cs.filed_by))


def accept_changeset(
    bind: Bind, changeset_id: int, *, actor: Principal, reason: str | None = None
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
    with refusals_audited(bind, actor, "accept", changeset_id), transaction(bind) as conn:
        cs = _get(conn, changeset_id)
        actor.require("changeset.review", cs.county_code)
        _require_receiver(actor, cs)
        _four_eyes(actor, cs)
        summary = conn.execute(
            text("SELECT registry.accept_changeset(:id, :by, :why, :role)"),
            {"id": int(changeset_id), "by": actor.name, "why": reason, "role": actor.role},
        ).scalar_one()
        summary["notified_departments"] = notify_departments(conn, changeset_id)
    log.info(
        "accepted change set %s: %d grid versions closed, %d opened, %d codes retired",
        changeset_id,
        summary["closed"],
        summary["opened"],
        len(summary["retired_codes"]),
    )
    return summary


def return_changeset(
    bind: Bind, changeset_id: int, *, actor: Principal, reason: str
) -> dict[str, Any]:
    """Return a filed change set to its county with a reason; its reserved codes become void.

    Raises
    ------
    PermissionDeniedError
        Unless ``actor`` is a city reviewer or an admin.
    ConflictError
        When the change set is not filed or ``reason`` is empty.
    """
    with refusals_audited(bind, actor, "return", changeset_id), transaction(bind) as conn:
        if not (reason or "").strip():
            raise ConflictError(
                _("returning change set {changeset_id} needs a reason").format(
                    changeset_id=changeset_id
                )
            )
        cs = _get(conn, changeset_id)
        actor.require("changeset.review", cs.county_code)
        _require_receiver(actor, cs)
        _four_eyes(actor, cs)
        summary = conn.execute(
            text("SELECT registry.return_changeset(:id, :by, :why, :role)"),
            {"id": int(changeset_id), "by": actor.name, "why": reason, "role": actor.role},
        ).scalar_one()
    log.info(
        "returned change set %s: %d reserved codes void", changeset_id, len(summary["void_codes"])
    )
    return summary


def withdraw_changeset(
    bind: Bind, changeset_id: int, *, actor: Principal, reason: str = ""
) -> dict[str, Any]:
    """Withdraw the county's own draft or filed change set; its reserved codes become void.

    Raises
    ------
    PermissionDeniedError
        Unless ``actor`` is an editor of the change set's county (or an admin).
    ConflictError
        When the change set was already accepted, returned or withdrawn.
    """
    with refusals_audited(bind, actor, "withdraw", changeset_id), transaction(bind) as conn:
        cs = _get(conn, changeset_id)
        actor.require("changeset.draft", cs.county_code)
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
