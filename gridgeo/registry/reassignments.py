"""Who moves where: the staff and department reassignments of a change set, before → after."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import text

from gridgeo.registry._db import Bind, transaction

COLUMNS = ["item", "kind", "grid_code", "what", "before", "after"]


def reassignments(bind: Bind, changeset_id: int) -> pd.DataFrame:
    """One row per reassignment item: ``kind`` (staff/department), ``grid_code``, ``what``
    (staff role or incident category), ``before`` and ``after`` (names).

    ``before`` is who held the post just before acceptance (for an accepted change
    set) or now (otherwise); ``after`` is empty for an ended coverage (``end_department``).
    """
    with transaction(bind) as conn:
        rows = conn.execute(
            text(
                """
                WITH cs AS (
                    SELECT CASE WHEN status = 'accepted' THEN decided_at ELSE clock_timestamp()
                           END AS t FROM registry.changeset WHERE changeset_id = :id)
                SELECT i.seq,
                       CASE i.action WHEN 'reassign_staff' THEN 'staff' ELSE 'department' END,
                       i.payload->>'grid_code',
                       coalesce(i.payload->>'role', i.payload->>'category'),
                       CASE WHEN i.action = 'reassign_staff' THEN
                           (SELECT string_agg(s.person_name, '、' ORDER BY s.person_name)
                              FROM registry.staff_assignment a
                              JOIN registry.staff s USING (staff_id), cs
                             WHERE a.grid_code = i.payload->>'grid_code'
                               AND a.role = i.payload->>'role'
                               AND a.valid_from < cs.t AND coalesce(a.valid_to, 'infinity') >= cs.t)
                       ELSE
                           (SELECT string_agg(d.name, '、' ORDER BY d.name)
                              FROM registry.department_coverage c
                              JOIN registry.department d USING (department_id), cs
                             WHERE c.grid_code = i.payload->>'grid_code'
                               AND c.category = i.payload->>'category'
                               AND c.valid_from < cs.t AND coalesce(c.valid_to, 'infinity') >= cs.t)
                       END,
                       CASE WHEN i.action = 'end_department' THEN NULL
                            ELSE coalesce(i.payload->>'person_name', i.payload->>'department') END
                  FROM registry.changeset_item i
                 WHERE i.changeset_id = :id
                   AND i.action IN ('reassign_staff', 'reassign_department', 'end_department')
                 ORDER BY i.seq
                """
            ),
            {"id": int(changeset_id)},
        ).all()
    return pd.DataFrame(rows, columns=COLUMNS)
