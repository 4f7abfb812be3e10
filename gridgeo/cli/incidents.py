"""``gridgeo incidents …``: import reports from files, and export statistics."""

from __future__ import annotations

import csv
from pathlib import Path

import typer

from gridgeo.cli._common import console, err_console, handle_errors
from gridgeo.errors import DatabaseError
from gridgeo.i18n import _
from gridgeo.settings import get_settings

app = typer.Typer(
    name="incidents",
    help="Incidents (案件): import reports from CSV/XLSX/GeoJSON, export statistics.",
    no_args_is_help=True,
)


_TOKEN = typer.Option(
    None, "--token", help="Your token (default $GRIDGEO_TOKEN); you act as its user."
)


def _url() -> str:
    from gridgeo.database.connect import database_url

    return database_url(get_settings())


def _connect():
    import psycopg

    try:
        return psycopg.connect(_url(), connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise DatabaseError(
            _("cannot connect to the database ({error}); run `gridgeo db up` first").format(
                error=exc
            )
        ) from None


def _me(token: str | None, action: str):
    """The user the token authenticates, allowed ``action`` (registry ACTIONS)."""
    from gridgeo.cli.users import principal

    me = principal(_url(), token)
    me.require(action)
    return me


@app.command("import")
@handle_errors
def import_cmd(
    path: Path = typer.Argument(..., help="CSV, XLSX or GeoJSON of reports (Chinese headers ok)."),
    crs: str = typer.Option(
        "wgs84", help="CRS of the coordinates: wgs84, gcj02, bd09, cgcs2000, EPSG:…"
    ),
    chunk_rows: int = typer.Option(50_000, min=100, help="Rows read and located at a time."),
    errors: Path | None = typer.Option(None, help="Write the bad rows' problems to this CSV."),
    sample: bool = typer.Option(False, help="Mark the cases as samples."),
    token: str = _TOKEN,
) -> None:
    """Import reports: each located and routed; bad rows reported with their line numbers.

    Idempotent: a file imported before (same SHA-256) is skipped; rows whose external id
    is stored already are counted, not stored again. Nothing is written if it fails.
    """
    from gridgeo.incidents.catalog import SnapshotCatalog
    from gridgeo.incidents.ingest import import_file
    from gridgeo.incidents.routing import load_snapshot

    me = _me(token, "incidents.import")
    s = get_settings()
    with _connect() as conn:
        snap = load_snapshot(conn)
        rep = import_file(
            conn,
            path,
            snap,
            SnapshotCatalog(snap.categories),
            crs=crs,
            tz=s.incident_timezone,
            actor=me.label,
            chunk_rows=chunk_rows,
            is_sample=sample,
        )
    if rep.skipped_file:
        console.print(
            _("{file} was imported before (SHA-256 {sha}…), skipped").format(
                file=path.name, sha=rep.sha256[:12]
            )
        )
        return
    console.print(
        _(
            "{file}: {total} rows, {stored} new cases stored ({queued} of them waiting for "
            "the centre), {known} already stored, {bad} bad rows"
        ).format(
            file=path.name,
            total=rep.total,
            stored=rep.stored,
            queued=rep.queued,
            known=rep.known,
            bad=rep.bad,
        )
    )
    for p in rep.problems[:20]:
        err_console.print(f"  - {p}", markup=False)
    if len(rep.problems) > 20:
        err_console.print(
            "  … "
            + _("{n} more problems").format(n=len(rep.problems) - 20)
            + (_(" (see the --errors file)") if errors else "")
        )
    if errors is not None:
        with open(errors, "w", newline="", encoding="utf-8-sig") as fh:
            w = csv.writer(fh)
            w.writerow([_("line number"), _("field"), _("rule"), _("problem")])
            for p in rep.problems:
                w.writerow([p.row, p.field, p.rule, p.message])
    if rep.bad:
        raise typer.Exit(code=1)


@app.command("stats")
@handle_errors
def stats_cmd(
    out: Path = typer.Argument(..., help="Output table: .csv or .xlsx"),
    by: str = typer.Option(
        "department", help="grid, community, street, department, category (comma separated)"
    ),
    period: str | None = typer.Option(None, help="day, week or month"),
    token: str = _TOKEN,
) -> None:
    """Statistics per group and period: counts, handling times, on-time, rebound, the three rates."""
    from datetime import UTC, datetime

    from gridgeo.incidents import store
    from gridgeo.incidents.deadlines import WorkingCalendar
    from gridgeo.incidents.service import visible_rows
    from gridgeo.incidents.stats import compute, write_table

    me = _me(token, "incidents.read")
    s = get_settings()
    with _connect() as conn:
        rows = store.stats_rows(conn)
    rows = visible_rows(
        rows,
        department=me.department_id if me.role == "department" else None,
        communities=None if me.role == "department" else me.scope,
    )
    cal = WorkingCalendar(s.incident_work_hours, s.incident_timezone)
    keys = [b.strip() for b in by.split(",") if b.strip()]
    table = compute(rows, by=keys, period=period, calendar=cal, now=datetime.now(UTC))
    write_table(table, out)
    console.print(
        _("{cases} cases, {rows} rows of statistics → {out}").format(
            cases=len(rows), rows=len(table), out=out
        )
    )
