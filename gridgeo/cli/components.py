"""``gridgeo components import``: the city component inventory (城市部件)."""

from __future__ import annotations

import typer

from gridgeo.cli import registry as registry_cli
from gridgeo.cli._common import console, handle_errors
from gridgeo.cli.registry import _TOKEN, _me
from gridgeo.i18n import _
from gridgeo.registry.components import import_components, read_components

app = typer.Typer(help="City components (城市部件): import the inventory.", no_args_is_help=True)


@app.command("import")
@handle_errors
def import_(
    path: str = typer.Argument(
        ...,
        help="Points with 部件编码, 部件大类, 部件小类, 权属单位 (file[:layer] or CSV lon/lat).",
    ),
    crs: str = typer.Option(None, "--crs", help="CRS of the file when it has none (e.g. gcj02)."),
    sample: bool = typer.Option(False, "--sample", help="Mark the rows as samples (示例)."),
    token: str = _TOKEN,
) -> None:
    """Store the inventory and locate each component to its grid."""
    actor = _me(token)
    located = import_components(
        registry_cli._url(), read_components(path, crs=crs), actor=actor, is_sample=sample
    )
    outside = located["grid_code"].isna().sum()
    console.print(
        _("{n} components stored, {inside} inside a grid, {outside} outside every grid").format(
            n=len(located), inside=len(located) - outside, outside=outside
        )
    )
