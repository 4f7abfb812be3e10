"""Back up and restore a gridgeo database with ``pg_dump`` / ``pg_restore`` (custom format).

A backup holds the whole database (schema, rows, the migration log, PostGIS). A restore
replaces the target database: it is dropped and created again, the backup is restored
in one transaction as the connecting (owner) role, then the grants of the least-privilege
roles are made again from ``sql/migrations/0900_roles.sql`` (roles live outside a
database, so a new server gets them too).
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from gridgeo.database.connect import libpq_url, redact, with_database
from gridgeo.database.migrate import migrations_dir
from gridgeo.errors import DatabaseError, InputError, Problem
from gridgeo.i18n import _

log = logging.getLogger(__name__)

ROLES_MIGRATION = "0900_roles.sql"


def _tool(name: str) -> str:
    from gridgeo.database.instance import _pg_bindir

    path = _pg_bindir() / name
    if not path.is_file():
        raise DatabaseError(
            _("{name} is not installed (apt-get install -y postgresql-client)").format(name=name)
        )
    return str(path)


def _run(args: list[str], what: str) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "PGTZ": "UTC"})
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
        raise DatabaseError(f"{what} failed: " + "\n".join(detail))


def backup(url: str, path: Path) -> Path:
    """Write the database at ``url`` to ``path`` (``pg_dump --format=custom``).

    Returns
    -------
    pathlib.Path
        The backup file (written to a temporary name first, then renamed).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    _run(
        [
            _tool("pg_dump"),
            "--format=custom",
            "--no-owner",
            "--no-acl",
            "--file",
            str(tmp),
            "--dbname",
            libpq_url(url),
        ],
        f"pg_dump of {redact(url)}",
    )
    tmp.replace(path)
    log.info("backed up %s to %s (%d bytes)", redact(url), path, path.stat().st_size)
    return path


def restore(url: str, path: Path) -> None:
    """Replace the database at ``url`` with the backup ``path`` (all its data is lost).

    Raises
    ------
    InputError
        ``path`` is missing or not a ``pg_dump`` custom-format file.
    DatabaseError
        The restore failed; it ran in one transaction, so the database is empty then.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            magic = fh.read(5)
    except OSError as exc:
        raise InputError(
            _("cannot read the backup {path}: {reason}").format(
                path=path, reason=exc.strerror or exc
            ),
            [Problem(_("cannot read the file"), file=str(path), rule="backup.read")],
        ) from None
    if magic != b"PGDMP":
        raise InputError(
            _("{path} is not a pg_dump custom-format backup (made by `gridgeo db backup`)").format(
                path=path
            ),
            [Problem(_("not a pg_dump custom-format file"), file=str(path), rule="backup.format")],
        )
    url = libpq_url(url)
    dbname = urlsplit(url).path.lstrip("/") or "gridgeo"
    ident = sql.Identifier(dbname)
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    _run(
        [
            _tool("pg_restore"),
            "--no-owner",
            "--no-acl",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
            url,
            str(path),
        ],
        f"pg_restore of {path} into {redact(url)}",
    )
    roles = (migrations_dir() / ROLES_MIGRATION).read_text(encoding="utf-8")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(roles)
    log.info("restored %s into %s", path, redact(url))
