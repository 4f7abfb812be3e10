"""Database plumbing: the project's private PostGIS instance, URLs and migrations.

The registry and the map service sit on top of this; the pure core never imports it.
Names are loaded on first use (PEP 562), so ``gridgeo db status`` does not pay for the
PostgreSQL driver or the migration tool when it only asks the private instance.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gridgeo.database.connect import (
        check_connection,
        database_url,
        ensure_database,
        libpq_url,
        sqlalchemy_url,
    )
    from gridgeo.database.instance import PrivateInstance
    from gridgeo.database.migrate import apply_migrations, migrations_dir

_HOMES = {
    "PrivateInstance": "instance",
    "apply_migrations": "migrate",
    "check_connection": "connect",
    "database_url": "connect",
    "ensure_database": "connect",
    "libpq_url": "connect",
    "migrations_dir": "migrate",
    "sqlalchemy_url": "connect",
}
__all__ = [
    "PrivateInstance",
    "apply_migrations",
    "check_connection",
    "database_url",
    "ensure_database",
    "libpq_url",
    "migrations_dir",
    "sqlalchemy_url",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
