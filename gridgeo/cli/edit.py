"""``gridgeo change export-edit`` / ``gridgeo change import``: the QGIS round trip."""

from __future__ import annotations

from pathlib import Path

import typer

from gridgeo.cli._common import console, handle_errors
from gridgeo.i18n import _


@handle_errors
def export_edit(
    community: str = typer.Argument(..., help="Community code (12 digits on the mainland)."),
    out: Path = typer.Option(..., "--out", help="GeoPackage to write (e.g. edit.gpkg)."),
    roads: str = typer.Option(
        None, "--roads", help="Road centrelines (file[:layer]) to cut blocks along."
    ),
) -> None:
    """Write a community's grids and blocks as a styled GeoPackage, ready to edit in QGIS."""
    from gridgeo.cli.registry import _url
    from gridgeo.edit.qgis import write_edit_package
    from gridgeo.registry.edits import community_plan

    lines = None
    if roads:
        from gridgeo.io.layer_crs import read_input

        lines = read_input(roads, what="roads")
    session = community_plan(_url(), community, roads=lines)
    write_edit_package(out, session.plan, session.crs)
    console.print(
        _(
            "wrote {path}: {grids} grids, {blocks} blocks of {name} ({community}); edit the "
            "blocks' grid_code in QGIS, then `gridgeo change import {path}`"
        ).format(
            path=out,
            grids=len(session.plan.grids),
            blocks=session.plan.blocks.n,
            name=session.name,
            community=community,
        )
    )


@handle_errors
def import_edit(
    path: Path = typer.Argument(..., help="The edited GeoPackage from `change export-edit`."),
    tolerance: float = typer.Option(
        15.0, "--tolerance", help="Metres inside a block a dragged outline is snapped back."
    ),
    title: str = typer.Option("", "--title", help="Title of the change set."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit log)."),
    token: str = typer.Option(
        None, "--token", envvar="GRIDGEO_TOKEN", help="API token (default: GRIDGEO_TOKEN)."
    ),
) -> None:
    """Draft the edits of an exported package as a change set; show the diff and findings."""
    from gridgeo import registry
    from gridgeo.cli.registry import _me, _print_problems, _url, diff
    from gridgeo.registry.edits import import_package

    actor = _me(token)
    result, snapped = import_package(
        _url(), path, actor=actor, tolerance_m=tolerance, title=title, reason=reason
    )
    for note in snapped.notes:
        console.print(_("snapped: {note}").format(note=note), markup=False)
    console.print(_("{n} blocks moved").format(n=len(snapped.moved)))
    if result.changeset_id is None:
        console.print(_("no change: the package equals the current registry"))
        return
    console.print(_("draft change set {id}").format(id=result.changeset_id))
    diff(result.changeset_id, None)
    findings = registry.validate_changeset(_url(), result.changeset_id)
    console.print(_("validator: {n} findings").format(n=len(findings)))
    _print_problems(findings)


@handle_errors
def load_roads(
    path: str = typer.Argument(..., help="Road centrelines (file[:layer]), any CRS."),
    county: str = typer.Option(
        None, "--county", help="County code (default: a county editor's own county)."
    ),
    token: str = typer.Option(
        None, "--token", envvar="GRIDGEO_TOKEN", help="API token (default: GRIDGEO_TOKEN)."
    ),
) -> None:
    """Replace the county's road centrelines (the editor cuts blocks along them)."""
    from gridgeo.cli.registry import _county, _me, _url
    from gridgeo.io.layer_crs import read_input
    from gridgeo.registry.edits import load_roads as load

    actor = _me(token)
    n = load(_url(), read_input(path, what="roads"), county=_county(actor, county), actor=actor)
    console.print(_("stored {n} road lines; blocks for editing are cut along them").format(n=n))
