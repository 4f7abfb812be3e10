"""``gridgeo demo``: the end-to-end demo behind ``make demo``."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gridgeo.cli._common import console, get_console, handle_errors
from gridgeo.i18n import _
from gridgeo.settings import get_settings

app = typer.Typer(help="Run the demo district end to end.", no_args_is_help=True)

_STYLE = {"done": "green", "reused": "cyan", "skipped": "yellow"}


@app.command("run")
@handle_errors
def run(
    district: str = typer.Option("daan", help="Demo district: daan (urban) or gongguan (rural)."),
) -> None:
    """Build data, partition, load the registry, add sample staff; prints what to try next.

    Idempotent: a second run reuses every step whose inputs did not change. Serving is
    separate (`gridgeo serve`; `make demo` runs both).
    """
    from gridgeo.demo.pipeline import run_demo

    settings = get_settings()

    def report(step) -> None:
        colour = _STYLE.get(step.status, "white")
        console.print(
            f"[bold]{step.name:<20}[/] [{colour}]{step.status:<8}[/] {escape(step.detail)} "
            f"[dim]({step.seconds:.1f} s)[/]",
            markup=True,
        )

    with Progress(
        TextColumn(_("partition")),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(_("communities")),
        TimeElapsedColumn(),
        console=get_console(),
        transient=True,
    ) as bar:
        task = bar.add_task(_("partition"), total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = run_demo(settings, district=district, report=report, progress=progress)
    base = f"http://{settings.api_host}:{settings.api_port}"
    ex = result.example or {}
    console.print(f"\n[bold]{_('Try:')}[/]", markup=True)
    console.print(f"  {base}/console/         {_('the web console (click the map to locate)')}")
    console.print(f"  {base}/docs             {_('the API (OpenAPI)')}")
    console.print(f"  {base}/health           {_('database and PostGIS versions')}")
    if ex:
        console.print(
            f"  curl '{base}/locate?lon={ex['lon']}&lat={ex['lat']}&crs=wgs84'"
            "   → " + _("grid {code}").format(code=ex["grid_code"])
        )
    console.print("  " + _("grids: {path}  (open in QGIS)").format(path=result.grids_path))
    if result.database_url:
        from gridgeo.demo.people import dispatcher_token

        token = dispatcher_token(result.database_url, settings.home)
        console.print(
            "  "
            + _("dispatcher token (this machine only, kept in {path}):").format(
                path=f"{settings.home}/demo/dispatcher.token"
            ),
            soft_wrap=True,
        )
        console.print(f"  {token}", soft_wrap=True)
        console.print(
            f"  curl -H 'Authorization: Bearer {token}' -H 'Content-Type: text/csv' "
            f"--data-binary @points.csv {base}/locate/batch",
            soft_wrap=True,
        )
    if result.public_dir:
        console.print(
            f"  {base}/public/          "
            + _("public grid pages (网格公示), also in {path}").format(path=result.public_dir)
        )
        console.print(
            "  "
            + _("boards: {path}  (printable PDF noticeboards)").format(
                path=result.public_dir / "boards"
            )
        )
