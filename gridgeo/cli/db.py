"""``gridgeo db``: the project's private PostGIS instance."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import typer

from gridgeo.cli._common import handle_errors
from gridgeo.i18n import _

if TYPE_CHECKING:
    from gridgeo.settings import Settings

# The database modules and the settings object are imported inside each command, and the
# messages are plain text (typer.echo): `gridgeo db status` on the private instance then never
# loads pydantic, rich, the PostgreSQL driver or the migration tool (CLI start-up).


def get_settings() -> Settings:
    """:func:`gridgeo.settings.get_settings`, imported when a command needs it."""
    from gridgeo.settings import get_settings as settings

    return settings()


app = typer.Typer(
    help="Start, stop and inspect the database (a private PostGIS unless GRIDGEO_DATABASE_URL is set).",
    no_args_is_help=True,
)


def _external_note(action: str) -> bool:
    if get_settings().database_url:
        notes = {
            "stop": _("GRIDGEO_DATABASE_URL is set: gridgeo does not stop that server."),
            "reset": _("GRIDGEO_DATABASE_URL is set: gridgeo does not reset that server."),
        }
        typer.echo(notes[action])
        return True
    return False


@app.command()
@handle_errors
def up(
    migrate: bool = typer.Option(True, help="Apply pending schema migrations."),
) -> None:
    """Start the private PostGIS (initialising it the first time) and apply the schema.

    Idempotent: a running instance is reused. With GRIDGEO_DATABASE_URL set, only
    checks that server and migrates it.
    """
    from gridgeo.database.connect import redact
    from gridgeo.database.lifecycle import ensure_ready

    ready = ensure_ready(get_settings(), migrate=migrate)
    ready_text = (
        _("external server ready: {url} — PostgreSQL {postgresql}, PostGIS {postgis}")
        if ready.external
        else _("private PostGIS ready: {url} — PostgreSQL {postgresql}, PostGIS {postgis}")
    )
    typer.echo(
        ready_text.format(
            url=redact(ready.url),
            postgresql=ready.versions["postgresql"],
            postgis=ready.versions["postgis"],
        )
    )
    if ready.applied:
        typer.echo(_("applied migrations: {names}").format(names=", ".join(ready.applied)))


@app.command()
@handle_errors
def down() -> None:
    """Stop the private PostGIS (data is kept)."""
    from gridgeo.database.instance import PrivateInstance

    if _external_note("stop"):
        return
    stopped = PrivateInstance(get_settings()).stop()
    typer.echo(_("stopped") if stopped else _("not running"))


@app.command()
@handle_errors
def status() -> None:
    """Say whether the database runs, where, and its versions."""
    from gridgeo._env import HomeOnly, database_url_set

    if database_url_set():
        from gridgeo.database.connect import check_connection, database_url, redact

        url = database_url(get_settings())
        versions = check_connection(url)
        typer.echo(
            _("external server {url}: PostgreSQL {postgresql}, PostGIS {postgis}").format(
                url=redact(url), postgresql=versions["postgresql"], postgis=versions["postgis"]
            )
        )
        return
    from gridgeo.database.instance import PrivateInstance

    # status() reads only home and pg_dir: HomeOnly reads them as Settings would, ~0.3 s sooner
    st = PrivateInstance(cast("Settings", HomeOnly())).status()
    typer.echo(_("private PostGIS: {state}").format(state=st.describe()))
    if not st.running:
        raise typer.Exit(code=1)


@app.command()
@handle_errors
def url(
    sqlalchemy: bool = typer.Option(
        False, "--sqlalchemy", help="Print the postgresql+psycopg:// form."
    ),
) -> None:
    """Print the database URL (for psql, QGIS or other tools)."""
    from gridgeo.database.connect import database_url, sqlalchemy_url

    value = database_url(get_settings())
    typer.echo(sqlalchemy_url(value) if sqlalchemy else value)


@app.command()
@handle_errors
def reset(
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Stop the private PostGIS and delete all its data."""
    from gridgeo.database.instance import PrivateInstance

    if _external_note("reset"):
        raise typer.Exit(code=1)
    if not yes:
        typer.confirm(_("Delete the private PostGIS and all its data?"), abort=True)
    PrivateInstance(get_settings()).reset()
    typer.echo(_("private PostGIS deleted; `gridgeo db up` creates a new one"))


@app.command()
@handle_errors
def backup(
    file: Path = typer.Argument(..., help="Backup file to write (pg_dump custom format)."),
) -> None:
    """Back up the whole database to FILE (pg_dump --format=custom)."""
    from gridgeo.database.backup import backup as run_backup
    from gridgeo.database.connect import redact
    from gridgeo.database.lifecycle import ensure_ready

    url = ensure_ready(get_settings(), migrate=False).url
    out = run_backup(url, file)
    typer.echo(
        _("备份完成 backed up {url} to {path} ({size} bytes)").format(
            url=redact(url), path=out, size=f"{out.stat().st_size:,}"
        )
    )


@app.command()
@handle_errors
def restore(
    file: Path = typer.Argument(..., help="Backup made by `gridgeo db backup`."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Replace the database with the backup FILE (its current data is lost)."""
    from gridgeo.database.backup import restore as run_restore
    from gridgeo.database.connect import redact
    from gridgeo.database.lifecycle import ensure_ready

    settings = get_settings()
    url = ensure_ready(settings, migrate=False).url
    if not yes:
        typer.confirm(
            _("Replace {url} and all its data with {file}?").format(url=redact(url), file=file),
            abort=True,
        )
    run_restore(url, file)
    ready = ensure_ready(settings)  # migrations newer than the backup; the app login
    typer.echo(_("恢复完成 restored {file} into {url}").format(file=file, url=redact(ready.url)))
