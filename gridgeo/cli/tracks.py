"""``gridgeo tracks …``: import patrol tracks, daily statistics, rankings, a worker's day map."""

from __future__ import annotations

import getpass
import os
from datetime import date
from pathlib import Path

import typer

from gridgeo.cli._common import console, handle_errors, print_warnings
from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _

app = typer.Typer(
    help="Patrol tracks of grid workers: import, daily stats, rankings, day map.",
    no_args_is_help=True,
)

_PROFILE = typer.Option(
    None, "--profile", help="Profile with the daily patrol rule (default: the county's bound one)."
)


def _url() -> str:
    from gridgeo.database.lifecycle import ensure_ready
    from gridgeo.settings import get_settings

    return ensure_ready(get_settings()).url


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(
            _("{option} {value} is not a date (use 2026-11-02)").format(
                option=name, value=repr(value)
            ),
            [Problem(_("not an ISO date"), field=name, rule="cli.date")],
        ) from None


def _range(day: str | None, start: str | None, end: str | None) -> tuple[date, date]:
    d = _day(day, "--date")
    a, b = _day(start, "--from"), _day(end, "--to")
    if d is not None:
        return d, d
    if a is None or b is None:
        raise InputError(
            _("give --date D or both --from and --to"),
            [Problem(_("missing date"), field="--date", rule="cli.date")],
        )
    return a, b


def _write(frame, out: Path) -> None:
    """CSV (UTF-8 with BOM, opens in Excel) or XLSX; time zones become local text."""
    from gridgeo.io.atomic import atomic_path

    frame = frame.copy()
    for col in frame.columns:
        if hasattr(frame[col], "dt") and getattr(frame[col].dt, "tz", None) is not None:
            frame[col] = frame[col].dt.strftime("%Y-%m-%d %H:%M:%S")
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise InputError(
            _("--out {path}: use .csv or .xlsx").format(path=out),
            [Problem(_("format"), field="--out")],
        )
    with atomic_path(out) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False, encoding="utf-8-sig")
        else:
            frame.to_excel(tmp, index=False)
    console.print(_("wrote {n} rows to {path}").format(n=len(frame), path=out))


@app.command("import")
@handle_errors
def import_(
    files: list[Path] = typer.Argument(..., help="GPX, GeoJSON, CSV/XLSX or GeoParquet files."),
    crs: str = typer.Option(None, "--crs", help="CRS of the fixes: wgs84, cgcs2000, gcj02, bd09."),
    worker_field: str = typer.Option(None, "--worker-field", help="Column of the worker id."),
    mode: str = typer.Option("foot", "--mode", help="foot, bike, ebike or car (speed limit)."),
    user: str = typer.Option(None, "--user", help="Your name for the audit log."),
    sample: bool = typer.Option(False, "--sample", help="Mark the tracks as demo samples."),
) -> None:
    """Store track files (raw and cleaned fixes); importing the same file again does nothing."""
    from gridgeo.registry.tracks import import_file
    from gridgeo.tracks import CleanOptions
    from gridgeo.tracks.read import check_track_path

    for f in files:  # every file named before anything is stored
        check_track_path(f)
    url = _url()
    by = user or os.environ.get("GRIDGEO_USER") or getpass.getuser()
    for f in files:
        res = import_file(
            url,
            f,
            crs=crs,
            worker_field=worker_field,
            by=by,
            options=CleanOptions(mode=mode),
            sample=sample,
        )
        if not res["created"]:
            console.print(
                _("{path}: imported before (file {id}), not imported again").format(
                    path=f, id=res["file_id"]
                )
            )
            continue
        c = res["counts"]
        console.print(
            _(
                "{path}: file {id}, {read} fixes read, {kept} kept (duplicate time {dup}, "
                "poor accuracy {poor}, jumps {jump}, too fast {fast}, out of order {unsorted}, "
                "gaps {gaps})"
            ).format(
                path=f,
                id=res["file_id"],
                read=res["fixes_read"],
                kept=res["fixes_kept"],
                dup=c["duplicate_time"],
                poor=c["poor_accuracy"],
                jump=c["gps_jump"],
                fast=c["impossible_speed"],
                unsorted=c["unsorted"],
                gaps=c["gaps"],
            )
        )
        print_warnings([Problem(**p) for p in res["problems"]])


def _stats(start: date, end: date, profile: str | None, roads: str | None):
    from gridgeo.registry.tracks import patrol_stats

    road_frame = None
    if roads:
        from gridgeo.io import read_layer

        road_frame = read_layer(roads)
    return patrol_stats(_url(), start, end, profile=profile, roads=road_frame)


@app.command("stats")
@handle_errors
def stats(
    day: str = typer.Option(None, "--date", help="One local day (2026-11-02)."),
    start: str = typer.Option(None, "--from", help="First day."),
    end: str = typer.Option(None, "--to", help="Last day."),
    out: Path = typer.Option(None, "--out", help="Write the table to .csv or .xlsx."),
    profile: str = _PROFILE,
    roads: str = typer.Option(None, "--roads", help="Road centrelines for road coverage."),
) -> None:
    """Per worker and day: time and distance in the own grid and elsewhere, the 2-hour rule."""
    import pandas as pd

    a, b = _range(day, start, end)
    days, _grids, problems = _stats(a, b, profile, roads)
    print_warnings(problems)
    if out:
        _write(days, out)
        return
    for r in days.itertuples(index=False):
        rule = (
            ""
            if pd.isna(r.meets_rule)
            else (_(" meets the rule") if r.meets_rule else _(" below the rule"))
        )
        console.print(
            _(
                "{date} {worker} grid {grids}: own grid {own_h} h {own_km} km, "
                "outside {other_h} h{rule}"
            ).format(
                date=f"{r.date:%Y-%m-%d}",
                worker=r.worker,
                grids=r.own_grids or "—",
                own_h=f"{r.own_s / 3600:.2f}",
                own_km=f"{r.own_m / 1000:.2f}",
                other_h=f"{r.other_s / 3600:.2f}",
                rule=rule,
            )
        )


@app.command("rank")
@handle_errors
def rank(
    start: str = typer.Option(..., "--from", help="First day."),
    end: str = typer.Option(..., "--to", help="Last day."),
    period: str = typer.Option("week", "--period", help="week or month."),
    scope: str = typer.Option("street", "--scope", help="street (乡镇/街道) or county."),
    out: Path = typer.Option(None, "--out", help="Write the ranking to .csv or .xlsx."),
    profile: str = _PROFILE,
) -> None:
    """Rank workers by patrol time in their own grid per week or month and street or county."""
    from gridgeo.tracks.rank import rankings

    a, b = _range(None, start, end)
    days, _grids, problems = _stats(a, b, profile, None)
    print_warnings(problems)
    table = rankings(days, period=period, scope=scope)
    if out:
        _write(table, out)
        return
    for r in table.itertuples(index=False):
        console.print(
            _(
                "{period} {scope} no. {rank} {worker}: own grid {hours} h "
                "({days} days, {meeting} meeting the rule)"
            ).format(
                period=r.period,
                scope=r.scope_code,
                rank=r.rank,
                worker=r.worker,
                hours=r.own_hours,
                days=r.days,
                meeting=r.days_meeting_rule,
            )
        )


@app.command("map")
@handle_errors
def map_(
    worker: str = typer.Argument(..., help="Worker id."),
    day: str = typer.Argument(..., help="Local day (2026-11-02)."),
    out: Path = typer.Option(..., "--out", help="PNG to write."),
    roads: str = typer.Option(None, "--roads", help="Road centrelines to show coverage on."),
    profile: str = _PROFILE,
) -> None:
    """A PNG of a worker's day: the track in and out of the own grid, roads covered."""
    from gridgeo.registry.tracks import worker_day
    from gridgeo.tracks.plot import plot_day

    d = _day(day, "DATE")
    road_frame = None
    if roads:
        from gridgeo.io import read_layer

        road_frame = read_layer(roads)
    patrol, snapshot = worker_day(_url(), worker, d, roads=road_frame, profile=profile)
    plot_day(patrol, snapshot, worker, out)
    console.print(_("wrote {path}").format(path=out))


@app.command("stats-files")
@handle_errors
def stats_files(
    files: list[Path] = typer.Argument(..., help="Monthly GeoParquet partitions of fixes."),
    grids: str = typer.Option(..., "--grids", help="Grid layer (file[:layer], grid_code)."),
    assignments: Path = typer.Option(
        ..., "--assignments", help="CSV: worker, grid_code, valid_from[, valid_to]."
    ),
    out: Path = typer.Option(..., "--out", help="Daily table, .csv or .xlsx."),
    scheduler: str = typer.Option(
        None, "--scheduler", help="dask scheduler: tcp://host:port, threads or processes."
    ),
    profile: str = _PROFILE,
) -> None:
    """Daily statistics straight from track files (no database), one dask task per month."""
    import pandas as pd

    from gridgeo.io import read_layer
    from gridgeo.tracks.parallel import patrol_partitions

    asg = pd.read_csv(assignments, dtype=str)
    days, _grids = patrol_partitions(
        files, read_layer(grids), asg, profile=profile, scheduler=scheduler
    )
    _write(days, out)
