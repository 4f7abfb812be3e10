"""``gridgeo departments check``: grids without a responsible department (包片)."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from gridgeo.cli import registry as registry_cli
from gridgeo.cli._common import console, handle_errors
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
    if gaps.empty:
        console.print("每个网格的核心事项类别都有包片部门。")
        return
    table = Table("网格", "事项类别", "问题")
    for g in gaps.itertuples():
        table.add_row(*(Text(str(v)) for v in (g.grid_code, g.category, g.message)))
    console.print(table)
    console.print(
        f"{gaps['grid_code'].nunique()} 个网格缺少包片部门（{len(gaps)} 项；{gaps['basis'].iloc[0]}）"
    )
    raise typer.Exit(1)
