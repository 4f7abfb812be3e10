"""The county's own rules on a change set, as the city will see it after acceptance.

Runs :func:`gridgeo.validate.validate` with the county's bound profile on the
affected communities as they would be after acceptance, recounting households from
the county's household layer; a county without one is checked on the grids'
declared counts, and the report says so.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy.engine import Connection

from gridgeo.errors import Problem
from gridgeo.registry.bindings import Binding
from gridgeo.registry.households import household_points

#: Points a declared count is spread over (so no grid becomes one indivisible unit).
_SPREAD = 16


def declared_points(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Household points standing for the grids' declared ``households`` counts.

    Each grid's count is spread over up to 16 distinct points inside it, so the
    validator's size rule judges the declared count as it would a real layer.
    """
    xs, ys, weights, pops = [], [], [], []
    for geom, hh, pop in zip(
        grids.geometry.values, grids["households"], grids["population"], strict=True
    ):
        hh, pop = int(hh or 0), int(pop or 0)
        if hh <= 0 or geom is None or shapely.is_empty(geom):
            continue
        x0, y0, x1, y1 = geom.bounds
        lattice = shapely.points(
            np.stack(
                np.meshgrid(np.linspace(x0, x1, 9)[1:-1], np.linspace(y0, y1, 9)[1:-1]), -1
            ).reshape(-1, 2)
        )
        inside = lattice[shapely.contains(geom, lattice)][:_SPREAD]
        if len(inside) == 0:
            inside = np.array([geom.representative_point()])
        k = len(inside)
        for j, p in enumerate(inside):
            xs.append(p.x)
            ys.append(p.y)
            weights.append(hh // k + (1 if j < hh % k else 0))
            pops.append(pop // k + (1 if j < pop % k else 0))
    return gpd.GeoDataFrame(
        {"households": weights, "population": pops},
        geometry=gpd.points_from_xy(xs, ys, crs=grids.crs),
    )


def rule_report(
    conn: Connection,
    changeset_id: int,
    county_code: str,
    binding: Binding,
    grids: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
) -> tuple[list[Problem], dict[str, Any]]:
    """Problems (validator issues) and the report stored with the filing.

    ``grids`` and ``communities`` are the affected communities after acceptance
    (registry CRS). The report carries the profile, where household counts came
    from (``points`` or ``declared``), every issue with its grids, and per new grid
    the declared and recounted households.
    """
    from gridgeo.validate import validate

    prof = binding.load()
    base = {
        "validator": "gridgeo.validate",
        "profile": prof.name,
        "code_pattern": prof.codes.community_pattern,
        "bound_to": binding.division_code,
    }
    if grids.empty:
        return [], {
            **base,
            "household_source": "declared",
            "errors": 0,
            "warnings": 0,
            "issues": [],
        }
    area = shapely.union_all(communities.geometry.values) if len(communities) else None
    points = household_points(conn, county_code, within=area)
    source = "points"
    if points is None:
        points, source = declared_points(grids), "declared"
    report = validate(grids, communities, points, profile=prof)
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
    recount = {}
    if "grid_code" in report.grids.columns and "households" in report.grids.columns:
        recount = dict(
            zip(report.grids["grid_code"].astype(str), report.grids["households"], strict=True)
        )
    declared = dict(zip(grids["grid_code"].astype(str), grids["households"], strict=True))
    summary = {
        **base,
        "household_source": source,
        "household_note": (
            "households recounted from the county's household layer"
            if source == "points"
            else "the county has no household layer: sizes are the grids' declared counts"
        ),
        "errors": report.errors,
        "warnings": report.warnings,
        "issues": [
            {"rule": p.rule, "severity": p.severity, "grids": p.row, "message": p.message}
            for p in problems[:500]
        ],
        "households": {
            code: {"declared": int(declared[code] or 0), "counted": _int(recount.get(code))}
            for code in declared
        },
    }
    return problems, summary


def _int(value: Any) -> int | None:
    try:
        return None if value is None or np.isnan(value) else int(value)
    except TypeError:
        return int(value)
