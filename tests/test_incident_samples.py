"""Sample cases for the demo: marked as samples, every state reached, idempotent."""

from __future__ import annotations

import psycopg
import pytest
from incident_world import seed_world

from gridgeo.demo.sample import sample_incidents
from gridgeo.incidents.deadlines import WorkingCalendar
from gridgeo.incidents.samples import seed_sample_cases
from gridgeo.registry import grids_at

pytestmark = pytest.mark.db


def test_samples_reach_every_state_once(db_url):
    seed_world(db_url)
    grids = grids_at(db_url)
    comms = (
        grids.dissolve("community_code").reset_index().rename(columns={"community_code": "code"})
    )
    inc = sample_incidents(comms, 60, seed=3)
    inc["category_code"] = "sanitation"  # the test world's matter list
    new, counts = seed_sample_cases(db_url, inc, calendar=WorkingCalendar())
    assert new == 60 and sum(counts.values()) == 60
    assert set(counts) == {
        "reported",
        "rejected",
        "accepted",
        "dispatched",
        "returned",
        "handled",
        "closed",
        "archived",
        "evaluated",
    }
    again, counts2 = seed_sample_cases(db_url, inc, calendar=WorkingCalendar())
    assert again == 0 and counts2 == counts
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT bool_and(is_sample) FROM incidents.case").fetchone()[0]
        assert (
            conn.execute(
                "SELECT count(*) FROM incidents.event e JOIN incidents.case c USING (case_id) "
                "WHERE e.at < c.reported_at"
            ).fetchone()[0]
            == 0
        )
        # every step is taken by a registered user of the registry (one identity model)
        acting = conn.execute(
            "SELECT DISTINCT e.role, u.role, u.department_id IS NOT NULL "
            "FROM incidents.event e JOIN registry.app_user u "
            "ON e.actor LIKE u.name || '（%' WHERE e.role <> 'public'"
        ).fetchall()
        assert {(r, u) for r, u, _ in acting} == {
            ("dispatcher", "dispatcher"),
            ("department", "department"),
            ("grid_worker", "grid_worker"),
        }
        assert all(has_dep == (r == "department") for r, _, has_dep in acting)
