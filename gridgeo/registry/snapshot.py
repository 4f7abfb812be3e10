"""Read what locating needs from the registry, consistently, at one time.

:func:`load_snapshot` reads, in one repeatable-read transaction, the grids valid at a
time (``registry.grids_at``), their contacts (``registry.grid_contacts_at``), the
departments and their coverage valid then, and the matter list (``service.category``),
and builds a :class:`~gridgeo.locate.snapshot.Snapshot` with its index. PostGIS stays the source of truth:
the service rebuilds the snapshot on start-up and on ``NOTIFY gridgeo_registry``.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import sql

from gridgeo.errors import DatabaseError
from gridgeo.i18n import _
from gridgeo.locate.snapshot import Snapshot, build_snapshot
from gridgeo.registry.history import GRID_COLUMNS  # the contract's grid columns

log = logging.getLogger(__name__)

#: The channel the registry's triggers notify on any change locating depends on.
CHANNEL = "gridgeo_registry"

_CONTENT_KEY_SQL = """
SELECT md5(concat_ws('|',
    (SELECT string_agg(grid_id::text, ',' ORDER BY grid_id) FROM registry.grids_at(%(at)s)),
    (SELECT string_agg(concat_ws(':', grid_code, role, person_name, phone, posted), ','
                       ORDER BY grid_code, role, person_name, phone)
       FROM registry.grid_contacts_at(%(at)s)),
    (SELECT string_agg(coverage_id::text, ',' ORDER BY coverage_id)
       FROM registry.department_coverage
      WHERE valid_from <= %(at)s AND %(at)s < coalesce(valid_to, 'infinity'::timestamptz))))
"""


_GRIDS_SQL = """
SELECT grid_id, grid_code, grid_name, grid_type, community_code, community_name,
       households, population, valid_from, valid_to, ST_AsBinary(geom)
  FROM registry.grids_at(%(at)s)
"""
_CONTACTS_SQL = """
SELECT grid_code, role, person_name, phone, posted FROM registry.grid_contacts_at(%(at)s)
"""
_DEPARTMENTS_SQL = "SELECT department_id, name, phone, is_sample FROM registry.department"
_COVERAGE_SQL = """
SELECT coverage_id, department_id, category, grid_code,
       CASE WHEN geom IS NULL THEN NULL ELSE ST_AsBinary(geom) END, lead
  FROM registry.department_coverage
 WHERE valid_from <= %(at)s AND %(at)s < coalesce(valid_to, 'infinity'::timestamptz)
 ORDER BY category, NOT lead, department_id
"""
_CATEGORIES_SQL = """
SELECT code, name, description, deadline_days, complex_deadline_days, is_sample
  FROM service.category ORDER BY code
"""


def load_snapshot(conn: psycopg.Connection, *, at: datetime | None = None) -> Snapshot:
    """Read everything locating needs at ``at`` (default: now) and build the index.

    Parameters
    ----------
    conn
        An open psycopg connection (not in a transaction).
    at
        The time to answer for; ``None`` for the current registry.

    Returns
    -------
    Snapshot

    Raises
    ------
    DatabaseError
        When the registry's contract objects are missing or the query fails.
    """
    t0 = time.perf_counter()
    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            when = at if at is not None else conn.execute("SELECT now()").fetchone()[0]
            params = {"at": when}
            srid = conn.execute("SELECT registry.srid()").fetchone()[0]
            rows = conn.execute(_GRIDS_SQL, params).fetchall()
            contacts_rows = conn.execute(_CONTACTS_SQL, params).fetchall()
            dep_rows = conn.execute(_DEPARTMENTS_SQL).fetchall()
            cov_rows = conn.execute(_COVERAGE_SQL, params).fetchall()
            cat_rows = conn.execute(_CATEGORIES_SQL).fetchall()
    except psycopg.Error as exc:
        raise DatabaseError(
            _("cannot read the registry: {error}").format(error=exc).strip()
        ) from None
    frame = pd.DataFrame([r[:-1] for r in rows], columns=GRID_COLUMNS)
    geoms = shapely.from_wkb([bytes(r[-1]) for r in rows]) if rows else np.zeros(0, object)
    snap = build_snapshot(
        srid=srid,
        at=at,
        grids=frame,
        geoms=geoms,
        contact_rows=contacts_rows,
        department_rows=dep_rows,
        coverage_rows=cov_rows,
        category_rows=cat_rows,
    )
    snap.build_seconds = time.perf_counter() - t0
    log.info(
        "loaded registry snapshot%s: %d grids, %d contacts, %d departments, %d coverage rows "
        "in %.2f s",
        f" at {at.isoformat()}" if at else "",
        len(snap.grids),
        len(contacts_rows),
        len(snap.departments),
        len(cov_rows),
        snap.build_seconds,
    )
    return snap


def content_key(conn: psycopg.Connection, at: datetime) -> str:
    """A digest of what a snapshot at ``at`` would hold (grid versions, contacts, coverage):
    equal keys give equal answers, so past snapshots can be shared."""
    return conn.execute(_CONTENT_KEY_SQL, {"at": at}).fetchone()[0]


def listen_for_changes(conn: psycopg.Connection) -> None:
    """``LISTEN`` on :data:`CHANNEL` (an autocommit connection then receives notifies)."""
    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
