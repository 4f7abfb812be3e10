"""Notify the departments of every accepted division change (通报相关部门, Yongzhou art. 9).

When a change set is accepted, one notification per concerned department is written
in the same transaction: the departments covering (包片) any grid the change set
closes or opens — by grid code or by polygon — and those a department reassignment
or an ended coverage names. A change set that only moves staff notifies no department. Each carries the
affected grid codes and the link to the filing package; a department reads its
notifications and marks them read (read receipt: who, when).
"""

from __future__ import annotations

import logging
from datetime import datetime

import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gridgeo.errors import ConflictError, NotFoundError
from gridgeo.i18n import _
from gridgeo.registry._db import Bind, transaction

log = logging.getLogger(__name__)

#: Where the filing package of a change set is served (gridgeo.service.routes_changes).
PACKAGE_PATH = "/changes/{changeset_id}/package"


def notify_departments(conn: Connection, changeset_id: int) -> int:
    """Write the notifications of an accepted change set (inside its transaction)."""
    n = conn.execute(
        text(
            """
            WITH codes AS (
                SELECT grid_code FROM registry.changeset_old WHERE changeset_id = :id
                UNION SELECT grid_code FROM registry.changeset_new WHERE changeset_id = :id
                UNION SELECT payload->>'grid_code' FROM registry.changeset_item
                       WHERE changeset_id = :id
                         AND action IN ('reassign_department', 'end_department')),
            shapes AS (
                SELECT ST_Union(geom) AS geom FROM registry.changeset_new WHERE changeset_id = :id),
            depts AS (
                SELECT dc.department_id FROM registry.department_coverage dc
                 WHERE dc.grid_code IN (SELECT grid_code FROM codes)
                UNION
                SELECT dc.department_id FROM registry.department_coverage dc, shapes s
                 WHERE dc.geom IS NOT NULL AND dc.valid_to IS NULL AND ST_Intersects(dc.geom, s.geom)
                UNION
                SELECT d.department_id FROM registry.changeset_item i
                  JOIN registry.department d ON d.name = i.payload->>'department'
                 WHERE i.changeset_id = :id
                   AND i.action IN ('reassign_department', 'end_department'))
            INSERT INTO registry.notification (department_id, changeset_id, grid_codes, package_path)
            SELECT department_id, :id,
                   (SELECT coalesce(array_agg(grid_code ORDER BY grid_code), '{}') FROM codes),
                   :path
              FROM depts
            ON CONFLICT (department_id, changeset_id) DO NOTHING
            """
        ),
        {"id": int(changeset_id), "path": PACKAGE_PATH.format(changeset_id=int(changeset_id))},
    ).rowcount
    log.info("change set %s: %d departments notified", changeset_id, n)
    return int(n)


_COLUMNS = [
    "notification_id",
    "department",
    "changeset_id",
    "county_code",
    "title",
    "grid_codes",
    "package_path",
    "created_at",
    "read_at",
    "read_by",
]


def notifications(
    bind: Bind, *, department: str | None = None, unread: bool = False
) -> pd.DataFrame:
    """Notifications (newest first), optionally of one department (by name), only unread."""
    with transaction(bind) as conn:
        rows = conn.execute(
            text(
                "SELECT n.notification_id, d.name, n.changeset_id, c.county_code, c.title, "
                "n.grid_codes, n.package_path, n.created_at, n.read_at, n.read_by "
                "FROM registry.notification n JOIN registry.department d USING (department_id) "
                "JOIN registry.changeset c USING (changeset_id) "
                "WHERE (CAST(:d AS text) IS NULL OR d.name = :d) "
                "AND (NOT :u OR n.read_at IS NULL) ORDER BY n.notification_id DESC"
            ),
            {"d": department, "u": bool(unread)},
        ).all()
    return pd.DataFrame(rows, columns=_COLUMNS)


def mark_read(bind: Bind, notification_id: int, *, reader: str) -> datetime:
    """Record that ``reader`` read a notification; returns when (the first read counts).

    Raises
    ------
    NotFoundError
        When the notification does not exist.
    ConflictError
        When ``reader`` is empty.
    """
    if not str(reader or "").strip():
        raise ConflictError(_("a read receipt needs the reader's name"))
    with transaction(bind) as conn:
        row = conn.execute(
            text(
                "UPDATE registry.notification SET read_at = coalesce(read_at, clock_timestamp()), "
                "read_by = coalesce(read_by, :r) WHERE notification_id = :id RETURNING read_at"
            ),
            {"id": int(notification_id), "r": str(reader)},
        ).one_or_none()
    if row is None:
        raise NotFoundError(
            _("notification {notification_id} does not exist").format(
                notification_id=notification_id
            )
        )
    return row[0]
