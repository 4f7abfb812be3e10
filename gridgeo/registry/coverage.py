"""Departments' coverage (包片) check: every grid needs a lead department per core category.

Coverage rows are written only as change-set items (``reassign_department``, drafted
with :func:`gridgeo.registry.assignments.draft_assignments`, by grid or whole
community/street, never by polygon). :func:`check_departments` lists every current
grid that has no lead department for a core category of the profile
(``[matters] core_categories``; Panjin art. 4: "保证每个网格中都有职能部门包片负责").
"""

from __future__ import annotations

import logging

import pandas as pd
from sqlalchemy import text

from gridgeo.i18n import _
from gridgeo.registry._db import Bind, transaction
from gridgeo.registry.bindings import profile_for
from gridgeo.rules import Profile, load_profile

log = logging.getLogger(__name__)

COLUMNS = ["grid_code", "community_code", "category", "message", "basis"]


def check_departments(
    bind: Bind, *, profile: str | Profile | None = None, county: str = ""
) -> pd.DataFrame:
    """Every (current grid, core category) without a current lead department.

    Returns
    -------
    pandas.DataFrame
        ``grid_code``, ``community_code``, ``category``, ``message`` (Chinese),
        ``basis``; empty when every grid is covered.
    """
    prof = load_profile(profile_for(bind, county, profile))
    cats = list(prof.matters.core_categories)
    with transaction(bind) as conn:
        rows = conn.execute(
            text(
                """
                SELECT g.grid_code, g.community_code, c.category
                  FROM registry.grid g CROSS JOIN unnest(CAST(:cats AS text[])) AS c(category)
                 WHERE g.valid_to IS NULL AND g.community_code LIKE :k || '%'
                   AND NOT EXISTS (
                       SELECT 1 FROM registry.department_coverage v
                        WHERE v.grid_code = g.grid_code AND v.category = c.category
                          AND v.lead AND v.valid_to IS NULL)
                 ORDER BY g.grid_code, c.category
                """
            ),
            {"cats": cats, "k": county},
        ).all()
    out = pd.DataFrame(rows, columns=["grid_code", "community_code", "category"])
    text_ = _("the grid has no lead department for matters of category “{category}”")
    out["message"] = [text_.format(category=c) for c in out["category"]]
    out["basis"] = prof.matters.basis
    log.info(
        "departments (%s): %d grids lack a department for some of %d core categories",
        prof.name,
        out["grid_code"].nunique(),
        len(cats),
    )
    return out[COLUMNS]
