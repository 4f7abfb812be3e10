"""What locating needs at one time, in memory: grids with their index, contacts,
departments, coverage and the matter list (no database, no web framework).

:func:`build_snapshot` turns plain rows (as :func:`gridgeo.registry.snapshot.load_snapshot`
reads them from PostGIS) into a :class:`Snapshot`; :mod:`gridgeo.locate.answer` answers
from it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import shapely

from gridgeo.locate.index import GridIndex

DEPARTMENT_RULE = (
    "lead department first, then the lowest department id; coverage is by grid (polygon "
    "rows remain only as history from before migration 0067 and count alike at past dates)"
)


_NOT_LEAD = 1 << 48


def department_rank(department_id: int, lead: bool) -> int:
    """The order of :data:`DEPARTMENT_RULE` as one integer: smaller is chosen first."""
    return (0 if lead else _NOT_LEAD) + int(department_id)


def ranked_department(rank: int) -> int:
    """The department id in a :func:`department_rank`."""
    return int(rank) % _NOT_LEAD


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
    #: Per-grid text columns of batch answers as Arrow arrays, by ``private`` (built once).
    batch_columns: dict[bool, dict[str, Any]] = field(
        default_factory=dict, repr=False, compare=False
    )

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
        out.sort(key=lambda d: department_rank(d["department_id"], d["lead"]))
        return out


def build_snapshot(
    *,
    srid: int | None,
    at: datetime | None,
    grids: pd.DataFrame,
    geoms: np.ndarray,
    contact_rows: list[tuple],
    department_rows: list[tuple],
    coverage_rows: list[tuple],
    category_rows: list[tuple],
) -> Snapshot:
    """A :class:`Snapshot` from plain rows and the index over the grids.

    Parameters
    ----------
    grids
        Grid attributes (``grid_code``, ``grid_name``, ``grid_type``, ``community_code``,
        ``community_name``, ``valid_from``, ``valid_to`` …), one row per polygon.
    geoms
        The grid polygons (shapely), aligned with ``grids``, in the registry CRS.
    contact_rows
        ``(grid_code, role, person_name, phone, posted)``.
    department_rows
        ``(department_id, name, phone, is_sample)``.
    coverage_rows
        ``(coverage_id, department_id, category, grid_code, WKB or None, lead)``.
    category_rows
        ``(code, name, description, deadline_days, complex_deadline_days, is_sample)``.
    """
    t0 = time.perf_counter()
    index = GridIndex.build(grids["grid_code"].to_numpy(dtype=object), geoms)
    grids = grids.iloc[index.order].reset_index(drop=True)
    contacts: dict[str, list[dict[str, Any]]] = {}
    for code, role, name, phone, posted in contact_rows:
        contacts.setdefault(code, []).append(
            {"role": role, "name": name, "phone": phone, "posted": bool(posted)}
        )
    departments = {
        int(d): {"department_id": int(d), "name": n, "phone": p, "is_sample": bool(s)}
        for d, n, p, s in department_rows
    }
    grid_cov: dict[tuple[str, str], list[tuple[int, bool]]] = {}
    area_cov: dict[str, list[tuple[Any, int, bool]]] = {}
    for _cid, dep, cat, gcode, wkb, lead in coverage_rows:
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
        for c, n, d, dl, cdl, s in category_rows
    }
    return Snapshot(
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
