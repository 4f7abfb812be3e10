"""One call that makes the database usable: start (or reach) the server, create, migrate."""

from __future__ import annotations

from dataclasses import dataclass

from gridgeo.database.connect import (
    app_database_url,
    check_connection,
    database_url,
    ensure_database,
)
from gridgeo.database.instance import PrivateInstance
from gridgeo.database.migrate import apply_migrations
from gridgeo.settings import Settings


@dataclass
class Ready:
    url: str
    versions: dict[str, str]
    applied: list[str]
    external: bool
    #: What the service and the CLI connect with (the application role; see 0900_roles.sql).
    app_url: str = ""


def ensure_ready(settings: Settings, *, migrate: bool = True) -> Ready:
    """Start the private instance (or check ``GRIDGEO_DATABASE_URL``), then apply migrations.

    Never starts a server when ``GRIDGEO_DATABASE_URL`` is set.
    """
    external = bool(settings.database_url)
    if external:
        url = database_url(settings)
        check_connection(url)
    else:
        instance = PrivateInstance(settings)
        instance.start()
        url = instance.url()
        ensure_database(instance.url(dbname="postgres"), settings.pg_dbname)
    applied = apply_migrations(url) if migrate else []
    app_url = app_database_url(settings) if external else instance.ensure_app_login(url)
    return Ready(
        url=url,
        versions=check_connection(url),
        applied=applied,
        external=external,
        app_url=app_url,
    )
