"""Sample cases for the demo district, marked as samples, flowing through every state.

The sample incidents of :func:`gridgeo.demo.sample.sample_incidents` are reported
(located and routed like any case), then a fixed share of them is taken further through
the loop with times after their report: so the case list shows every state, some cases
overdue, one rebound with designation, a failed verification, supervision, and
evaluations — and the statistics have something honest to show. Idempotent: the
external ids ``SAMPLE-INC-…`` are reported once; a second run adds nothing.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import geopandas as gpd
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc

from gridgeo.incidents import store
from gridgeo.incidents.catalog import SnapshotCatalog
from gridgeo.incidents.deadlines import WorkingCalendar
from gridgeo.incidents.ingest import normalise, prepare
from gridgeo.incidents.routing import load_snapshot
from gridgeo.incidents.service import loop_role
from gridgeo.registry.users import Principal

log = logging.getLogger(__name__)

# (role, action, body) steps per scenario; a scenario ends in the state named
_C, _D, _W, _P = "dispatcher", "department", "grid_worker", "public"
SCENARIOS: list[tuple[str, list[tuple[str, str, dict]]]] = [
    ("reported", []),
    ("rejected", [(_C, "reject", {"reason": "【示例】重复上报"})]),
    ("accepted", [(_C, "accept", {})]),
    (
        "dispatched",
        [(_C, "accept", {}), (_C, "dispatch", {}), (_C, "supervise", {"reason": "【示例】催办"})],
    ),
    (
        "returned",
        [
            (_C, "accept", {}),
            (_C, "dispatch", {}),
            (_D, "return", {"reason": "【示例】非本部门职责"}),
        ],
    ),
    (
        "handled",
        [
            (_C, "accept", {}),
            (_C, "dispatch", {}),
            (_D, "return", {"reason": "【示例】非本部门职责"}),
            (_C, "designate", {}),
            (_D, "handle", {"feedback": "【示例】已处置"}),
        ],
    ),
    (
        "closed",
        [
            (_C, "accept", {}),
            (_C, "dispatch", {}),
            (_D, "handle", {"feedback": "【示例】已处置"}),
            (_W, "verify_fail", {"reason": "【示例】现场未整改到位"}),
            (_D, "handle", {"feedback": "【示例】再次处置"}),
            (_W, "verify_pass", {}),
        ],
    ),
    (
        "archived",
        [
            (_C, "accept", {}),
            (_C, "dispatch", {}),
            (_D, "handle", {"feedback": "【示例】已处置"}),
            (_W, "verify_pass", {}),
            (_C, "archive", {}),
        ],
    ),
    (
        "evaluated",
        [
            (_C, "accept", {}),
            (_C, "dispatch", {}),
            (_D, "handle", {"feedback": "【示例】已处置"}),
            (_W, "verify_pass", {}),
            (_C, "archive", {}),
            (_P, "evaluate", {"satisfaction": 5}),
        ],
    ),
    (
        "evaluated",
        [
            (_C, "accept", {}),
            (_C, "dispatch", {}),
            (_D, "handle", {"feedback": "【示例】已处置"}),
            (_W, "verify_pass", {}),
            (_C, "archive", {}),
            (_C, "evaluate", {"satisfaction": 3, "callback": "phone"}),  # 电话回访
        ],
    ),
]


People = Callable[[str, dict[str, Any]], Principal]


def seed_sample_cases(
    url: str,
    incidents: gpd.GeoDataFrame,
    *,
    calendar: WorkingCalendar,
    tz: str = "Asia/Shanghai",
    people: People | None = None,
) -> tuple[int, dict[str, int]]:
    """Report the sample incidents and take them through the loop.

    Parameters
    ----------
    url
        The demo database.
    incidents
        :func:`gridgeo.demo.sample.sample_incidents` output (any CRS).
    calendar
        Working time of deadlines.
    tz
        Time zone of the sample times.
    people
        Who takes a step: ``(role, case) → Principal`` (default: the demo's registered
        people, :func:`gridgeo.demo.people.case_people`). Each step is checked like an
        API call (:data:`gridgeo.registry.users.ACTIONS`) and logged under the user.

    Returns
    -------
    tuple
        The number of new cases, and the number of sample cases per state after seeding
        (all sample cases, not only the new ones).
    """
    if people is None:
        from gridgeo.demo.people import case_people

        people = case_people(url)
    wgs = incidents.to_crs(4326)
    raw = pd.DataFrame(
        {
            "external_id": wgs["incident_id"],
            "lon": wgs.geometry.x,
            "lat": wgs.geometry.y,
            "category": wgs["category_code"],
            "description": wgs["description"],
            "reporter": wgs["reporter"],
            "reported_at": wgs["reported_at"],
            "source": "app",
        }
    )
    with psycopg.connect(url) as conn:
        snap = load_snapshot(conn)
        frame = normalise(raw, tz=tz)
        now = pd.Timestamp.now(tz="UTC").to_pydatetime()
        cases, problems = prepare(
            frame, snap, SnapshotCatalog(snap.categories), crs="wgs84", now=now, is_sample=True
        )
        for p in problems:
            log.warning("sample incident left out: %s", p)
        with conn.transaction():
            ext = cases.column("external_id") if cases is not None else pa.array([], pa.string())
            known = store.known_external_ids(conn, [i for i in ext.to_pylist() if i])
            new = (
                cases.filter(
                    pc.invert(
                        pc.fill_null(pc.is_in(ext, pa.array(sorted(known), pa.string())), False)
                    )
                )
                if cases is not None
                else None
            )
            ids = (
                store.insert_cases(conn, new, role="public", actor="示例居民 (demo)")
                if new is not None and new.num_rows
                else []
            )
        for n, cid in enumerate(ids):
            _flow(conn, cid, SCENARIOS[n % len(SCENARIOS)][1], calendar, people)
        rows = conn.execute(
            "SELECT state, count(*) FROM incidents.case WHERE is_sample GROUP BY state"
        ).fetchall()
    counts = {s: int(c) for s, c in rows}
    log.info("sample cases: %d new; per state %s", len(ids), counts)
    return len(ids), counts


def _flow(
    conn: psycopg.Connection,
    case_id: int,
    steps: list[tuple[str, str, dict]],
    cal: WorkingCalendar,
    people: People,
) -> None:
    case = store.get_case(conn, case_id)
    dep = case["routed_department"]
    if dep is None:
        return  # outside every grid, unknown category or no department: stays queued
    at = case["reported_at"]
    for role, action, body in steps:
        who = people(role, case)
        who.require("incidents.evaluate" if action == "evaluate" else "incidents.act")
        at = at + timedelta(hours=5)
        if action in ("dispatch", "designate"):
            body = {"department": dep}
        if action == "evaluate" and role == _P:  # the sample reporter kept their key
            key = secrets.token_urlsafe(12)
            store.set_evaluation_key(conn, case_id, key)
            body = body | {"evaluation_key": key}
        if action == "handle" and case.get("due_at") is not None and at > case["due_at"]:
            body = body | {"explanation": "【示例】节假日人手不足，超期办结"}
        case = store.record_action(
            conn,
            case_id,
            action,
            role=loop_role(who.role),
            actor=who.label,
            body=body,
            actor_department=who.department_id,
            calendar=cal,
            at=at,
        )
