"""Schema migrations with yoyo-migrations; the SQL lives in ``sql/migrations/``."""

from __future__ import annotations

import logging
from pathlib import Path

from gridgeo.database.connect import libpq_url
from gridgeo.errors import DatabaseError
from gridgeo.i18n import _
from gridgeo.settings import project_root

log = logging.getLogger(__name__)


def migrations_dir() -> Path:
    """Folder of the ``.sql`` migrations (top-level ``sql/migrations`` of the checkout)."""
    root = project_root()
    candidates = []
    if root is not None:
        candidates.append(root / "sql" / "migrations")
    candidates.append(Path(__file__).resolve().parent.parent / "_sql" / "migrations")
    for folder in candidates:
        if folder.is_dir():
            return folder
    raise DatabaseError(_("cannot find the SQL migrations folder (sql/migrations)"))


def apply_migrations(url: str) -> list[str]:
    """Apply every pending migration to the database at ``url``; returns their ids.

    Each migration runs in its own transaction: a failing one leaves the
    database at the previous version.
    """
    from yoyo import get_backend, read_migrations
    from yoyo.exceptions import LockTimeout

    backend_url = libpq_url(url).replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        backend = get_backend(backend_url)
    except Exception as exc:  # yoyo wraps driver errors in many types
        raise DatabaseError(
            _("cannot open the database for migrations: {exc}").format(exc=exc)
        ) from None
    migrations = read_migrations(str(migrations_dir()))
    try:
        with backend.lock(timeout=60):
            pending = backend.to_apply(migrations)
            ids = [m.id for m in pending]
            backend.apply_migrations(pending)
    except LockTimeout:
        raise DatabaseError(
            _(
                "another process holds the migration lock of this database (or died "
                "holding it); if no other gridgeo is migrating, clear it with: "
                ".venv/bin/yoyo break-lock --database '{backend_url}'"
            ).format(backend_url=backend_url)
        ) from None
    except Exception as exc:
        raise DatabaseError(_("migration failed: {exc}").format(exc=exc)) from None
    finally:
        backend.connection.close()
    if ids:
        _regrant(url)
        log.info("applied %d migration(s): %s", len(ids), ", ".join(ids))
    return ids


def _regrant(url: str) -> None:
    """Re-run the application role's grants (``registry.grant_app_roles``, migration 0901).

    A migration applied after 0900 on an existing database may create schemas or tables the
    roles' default privileges do not reach (a new schema); the grants are idempotent.
    """
    import psycopg

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT to_regprocedure('registry.grant_app_roles()') IS NOT NULL"
        ).fetchone()[0]
        if exists:
            conn.execute("SELECT registry.grant_app_roles()")
