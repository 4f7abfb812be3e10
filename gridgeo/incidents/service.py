"""What the API shows of a case: deadline flags, the caller's actions, public-safe fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from gridgeo.incidents.deadlines import WorkingCalendar, status
from gridgeo.incidents.intake import QUEUE_NAMES
from gridgeo.incidents.states import ROLES, CaseFacts, allowed_actions
from gridgeo.locate.points import to_srid


def loop_role(service_role: str) -> str:
    """The case-loop role of a registry role (``county_editor`` etc. act as public).

    Who may call which incidents route is :data:`gridgeo.registry.users.ACTIONS`; this
    only names the role whose steps of :mod:`gridgeo.incidents.states` the caller takes.
    """
    return service_role if service_role in ROLES else "public"


def with_flags(
    case: dict[str, Any], cal: WorkingCalendar, now: datetime, *, soon_fraction: float
) -> dict[str, Any]:
    """The case with ``overdue``, ``soon_overdue``, ``left_working_hours`` and queue text."""
    out = dict(case)
    out["queue_name"] = QUEUE_NAMES.get(case.get("queue_reason") or "", None)
    out["overdue"] = out["soon_overdue"] = False
    out["left_working_hours"] = None
    pt = case.get("point")
    out["point_wgs84"] = None
    if pt and pt.get("srid"):
        lon, lat = to_srid([pt["x"]], [pt["y"]], f"EPSG:{pt['srid']}", 4326)
        out["point_wgs84"] = {"lon": float(lon[0]), "lat": float(lat[0])}
    if case.get("due_at") is not None and case.get("dispatched_at") is not None:
        finished = (
            case.get("handled_at") if case["state"] not in ("dispatched", "returned") else None
        )
        st = status(
            cal,
            case["dispatched_at"],
            case["due_at"],
            now,
            soon_fraction=soon_fraction,
            finished=finished,
        )
        out["overdue"], out["soon_overdue"] = st.overdue, st.soon_overdue
        out["left_working_hours"] = round(st.left_working_seconds / 3600, 2)
    return out


def actions_for(case: dict[str, Any], role: str) -> list[str]:
    """The actions the caller's role may take on the case now."""
    facts = CaseFacts(
        state=case["state"],
        departments=tuple(case["departments"]),
        returned_by=tuple(case["returned_by"]),
        designated=case["designated"],
        level=case["level"],
    )
    return allowed_actions(facts, role)


def visible_rows(
    rows: pd.DataFrame, *, department: int | None, communities: frozenset[str] | None
) -> pd.DataFrame:
    """The statistics rows a caller may count: its department's (lead) cases, or the cases
    located in ``communities`` (``None``: every case)."""
    if department is not None:
        return rows[rows["department_id"] == department]
    if communities is None:
        return rows
    return rows[rows["community_code"].isin(sorted(communities))]
