"""``gridgeo departments check``: grids without a responsible department (包片)."""

from __future__ import annotations

import typer

from gridgeo.cli import registry as registry_cli
from gridgeo.cli._common import handle_errors, print_findings
from gridgeo.i18n import _
from gridgeo.registry.coverage import check_departments

app = typer.Typer(
    help="Departments' coverage (包片): which grids lack a department per core category.",
    no_args_is_help=True,
)


@app.command("check")
@handle_errors
def check(
    county: str = typer.Option("", "--county", help="Only this county's grids (default: all)."),
    profile: str | None = typer.Option(
        None,
        "--profile",
        help="Profile name or .toml path (default: the county's bound profile, else GRIDGEO_PROFILE).",
    ),
) -> None:
    """List every grid without a lead department for a core category; exit 1 if any."""
    gaps = check_departments(registry_cli._url(), profile=profile, county=county)
    print_findings(
        gaps,
        {"grid_code": "grid", "category": "matter category", "message": "problem"},
        none=_("Every grid has a lead department for each core matter category."),
        summary=lambda g: _("{grids} grids lack a lead department ({n} findings; {basis})").format(
            grids=g["grid_code"].nunique(), n=len(g), basis=g["basis"].iloc[0]
        ),
    )
