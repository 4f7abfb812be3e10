"""Database plumbing: the project's private PostGIS instance, URLs and migrations.

The registry and the map service sit on top of this; the pure core never imports it.
"""

from gridgeo.database.connect import (
    check_connection,
    database_url,
    ensure_database,
    libpq_url,
    sqlalchemy_url,
)
from gridgeo.database.instance import PrivateInstance
from gridgeo.database.migrate import apply_migrations, migrations_dir

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
