"""A consistent in-memory copy of what locating needs, read through the registry contract.

:func:`load_snapshot` reads, in one repeatable-read transaction, the grids valid at a
time (``registry.grids_at``), their contacts (``registry.grid_contacts_at``), the
departments and their coverage valid then, and the matter list (``service.category``),
and builds a :class:`~gridgeo.locate.GridIndex`. PostGIS stays the source of truth:
the service rebuilds the snapshot on start-up and on ``NOTIFY gridgeo_registry``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import shapely

from gridgeo.errors import DatabaseError
from gridgeo.locate import GridIndex
from gridgeo.registry.history import GRID_COLUMNS  # the contract's grid columns

log = logging.getLogger(__name__)

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


@dataclass
class Snapshot:
    """Grids, contacts, departments and categories valid at one time, with the index.

    Attributes
    ----------
    index
        The locate index; row ``i`` of :attr:`grids` describes ``index.codes[i]``.
    grids
        Grid attributes aligned with the index (grid_code, grid_name, grid_type,
        community_code, community_name, households, population, valid_from, valid_to).
    srid
        The registry SRID (``None`` while the registry is empty).
    at
        The time asked for (``None``: current).
    """

    index: GridIndex
    grids: pd.DataFrame
    srid: int | None
    at: datetime | None
    contacts: dict[str, list[dict[str, Any]]]
    departments: dict[int, dict[str, Any]]
    grid_coverage: dict[tuple[str, str], list[tuple[int, bool]]]
    area_coverage: dict[str, list[tuple[Any, int, bool]]]
    categories: dict[str, dict[str, Any]]
    records: list[dict[str, Any]] = field(default_factory=list)
    loaded_at: float = field(default_factory=time.time)
    build_seconds: float = 0.0
    _covered_categories: set[str] | None = field(default=None, repr=False)

    def known_category(self, category: str) -> bool:
        """Whether the category is in the matter list or has any coverage."""
        if self._covered_categories is None:
            self._covered_categories = {c for c, _ in self.grid_coverage} | set(self.area_coverage)
        return category in self.categories or category in self._covered_categories

    def departments_for(
        self, category: str, grid_code: str | None, x: float, y: float
    ) -> list[dict[str, Any]]:
        """Departments covering ``category`` at a point in ``grid_code``, lead first."""
        found: dict[int, bool] = {}
        if grid_code is not None:
            for dep, lead in self.grid_coverage.get((category, grid_code), ()):
                found[dep] = found.get(dep, False) or lead
        areas = self.area_coverage.get(category)
        if areas:
            pt = shapely.Point(x, y)
            for geom, dep, lead in areas:
                if geom.covers(pt):
                    found[dep] = found.get(dep, False) or lead
        out = [
            {**self.departments[d], "lead": lead}
            for d, lead in found.items()
            if d in self.departments
        ]
        out.sort(key=lambda d: (not d["lead"], d["department_id"]))
        return out


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
        raise DatabaseError(f"cannot read the registry: {exc}".strip()) from None
    frame = pd.DataFrame([r[:-1] for r in rows], columns=GRID_COLUMNS)
    geoms = shapely.from_wkb([bytes(r[-1]) for r in rows]) if rows else np.zeros(0, object)
    index = GridIndex.build(frame["grid_code"].to_numpy(dtype=object), geoms)
    grids = frame.iloc[index.order].reset_index(drop=True)
    contacts: dict[str, list[dict[str, Any]]] = {}
    for code, role, name, phone, posted in contacts_rows:
        contacts.setdefault(code, []).append(
            {"role": role, "name": name, "phone": phone, "posted": bool(posted)}
        )
    departments = {
        int(d): {"department_id": int(d), "name": n, "phone": p, "is_sample": bool(s)}
        for d, n, p, s in dep_rows
    }
    grid_cov: dict[tuple[str, str], list[tuple[int, bool]]] = {}
    area_cov: dict[str, list[tuple[Any, int, bool]]] = {}
    for _cid, dep, cat, gcode, wkb, lead in cov_rows:
        if gcode is not None:
            grid_cov.setdefault((cat, gcode), []).append((int(dep), bool(lead)))
        if wkb is not None:
            geom = shapely.from_wkb(bytes(wkb))
            shapely.prepare(geom)
            area_cov.setdefault(cat, []).append((geom, int(dep), bool(lead)))
    categories = {
        c: {
            "code": c,
            "name": n,
            "description": d,
            "deadline_days": dl,
            "complex_deadline_days": cdl,
            "is_sample": bool(s),
        }
        for c, n, d, dl, cdl, s in cat_rows
    }
    snap = Snapshot(
        index=index,
        grids=grids,
        srid=int(srid) if srid is not None else None,
        at=at,
        contacts=contacts,
        departments=departments,
        grid_coverage=grid_cov,
        area_coverage=area_cov,
        categories=categories,
        records=_records(grids),
        build_seconds=time.perf_counter() - t0,
    )
    log.info(
        "loaded registry snapshot%s: %d grids, %d contacts, %d departments, %d coverage rows "
        "in %.2f s",
        f" at {at.isoformat()}" if at else "",
        len(grids),
        len(contacts_rows),
        len(departments),
        len(cov_rows),
        snap.build_seconds,
    )
    return snap


def _records(grids: pd.DataFrame) -> list[dict[str, Any]]:
    """Per grid (index order) the JSON-ready attributes a locate answer shows."""
    out = []
    for r in grids.itertuples(index=False):
        out.append(
            {
                "code": r.grid_code,
                "name": r.grid_name,
                "type": r.grid_type,
                "community_code": r.community_code,
                "community_name": r.community_name,
                "valid_from": r.valid_from.isoformat() if pd.notna(r.valid_from) else None,
                "valid_to": r.valid_to.isoformat() if pd.notna(r.valid_to) else None,
            }
        )
    return out
