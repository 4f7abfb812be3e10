"""Database URLs and connection checks."""

from __future__ import annotations

import logging
import os
import re
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from gridgeo.errors import DatabaseError
from gridgeo.i18n import _
from gridgeo.settings import Settings

log = logging.getLogger(__name__)


def libpq_url(url: str) -> str:
    """``postgresql://…`` form of a URL (drops a SQLAlchemy driver suffix)."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


def sqlalchemy_url(url: str) -> str:
    """``postgresql+psycopg://…`` form of a URL for SQLAlchemy 2 with psycopg 3."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg://", url)


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def database_url(settings: Settings, *, dbname: str | None = None) -> str:
    """The libpq URL of the main database: ``GRIDGEO_DATABASE_URL`` or the private instance.

    Does not start anything; see :meth:`PrivateInstance.start`.
    """
    if settings.database_url:
        url = libpq_url(settings.database_url)
        return with_database(url, dbname) if dbname else url
    from gridgeo.database.instance import PrivateInstance

    return PrivateInstance(settings).url(dbname=dbname or settings.pg_dbname)


def server_versions(conn: psycopg.Connection) -> dict[str, str]:
    """PostgreSQL and PostGIS versions seen through an open connection."""
    server = conn.execute("SHOW server_version").fetchone()[0]
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'postgis'").fetchone()
    postgis = conn.execute("SELECT postgis_lib_version()").fetchone()[0] if row else None
    return {"postgresql": server, "postgis": postgis or _("not installed in this database")}


def app_database_url(settings: Settings, *, dbname: str | None = None) -> str:
    """The libpq URL the service and the CLI use: the application role, not the owner.

    ``GRIDGEO_APP_DATABASE_URL``, else the private instance's application login, else
    (an external server without an application URL) ``GRIDGEO_DATABASE_URL``.
    """
    if settings.app_database_url:
        url = libpq_url(settings.app_database_url)
        return with_database(url, dbname) if dbname else url
    if settings.database_url:
        return database_url(settings, dbname=dbname)
    from gridgeo.database.instance import PrivateInstance

    return PrivateInstance(settings).url(dbname=dbname or settings.pg_dbname, role="app")


def check_connection(url: str, *, timeout: float = 5.0) -> dict[str, str]:
    """Connect once and return server and PostGIS versions.

    Raises
    ------
    DatabaseError
        With the redacted URL and the server's reason when the connection fails.
    """
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=max(1, int(timeout))) as conn:
            return server_versions(conn)
    except psycopg.OperationalError as exc:
        reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        reason = reason or type(exc).__name__
        raise DatabaseError(
            _("cannot connect to {url}: {reason}").format(url=redact(url), reason=reason)
        ) from None


def ensure_database(server_url: str, dbname: str, *, template: str | None = None) -> bool:
    """Create ``dbname`` on the server unless it exists; returns whether it was created."""
    admin = with_database(libpq_url(server_url), "postgres")
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)
            ).fetchone()
            if exists:
                return False
            stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname))
            if template:
                stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(dbname), sql.Identifier(template)
                )
            conn.execute(stmt)
            log.info("created database %s", dbname)
            return True
    except psycopg.OperationalError as exc:
        raise DatabaseError(
            _("cannot connect to {url}: {reason}").format(url=redact(admin), reason=exc).strip()
        ) from None
    except psycopg.Error as exc:
        raise DatabaseError(
            _("cannot create database {dbname}: {exc}").format(dbname=dbname, exc=exc).strip()
        ) from None


def lower_priority(conn: psycopg.Connection, nice: int = 19) -> bool:
    """Lower the CPU priority of the server process behind ``conn`` (background work).

    Sets the ``nice`` value of the PostgreSQL backend serving ``conn``, so that its queries
    take only the CPU that interactive work leaves (on a small machine the tile pre-render
    otherwise competes with ``/locate`` for the cores). Only for a server on this machine
    (a Unix socket or a loopback address) whose process is a PostgreSQL backend, and only
    where the operating system allows it (root, or the user that runs the server).

    Returns
    -------
    bool
        Whether the priority was lowered.
    """
    host = conn.info.host or ""
    if not (host.startswith("/") or host in ("localhost", "127.0.0.1", "::1")):
        return False
    pid = conn.info.backend_pid
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            if not fh.read(8).startswith(b"postgres"):
                return False
        os.setpriority(os.PRIO_PROCESS, pid, nice)
    except OSError as exc:  # not Linux, another namespace, or not allowed
        log.debug("could not lower the priority of backend %s: %s", pid, exc)
        return False
    return True
