"""``gridgeo departments check``: grids without a responsible department (包片)."""

from __future__ import annotations

import typer

from gridgeo.cli import registry as registry_cli
from gridgeo.cli._common import handle_errors, print_findings
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
        {"grid_code": "网格", "category": "事项类别", "message": "问题"},
        none="每个网格的核心事项类别都有包片部门。",
        summary=lambda g: (
            f"{g['grid_code'].nunique()} 个网格缺少包片部门（{len(g)} 项；{g['basis'].iloc[0]}）"
        ),
    )
