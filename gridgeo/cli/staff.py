"""``gridgeo staff import`` and ``gridgeo staff check``: the roster and the staffing rules."""

from __future__ import annotations

from pathlib import Path

import typer

from gridgeo.cli import registry as registry_cli
from gridgeo.cli._common import console, handle_errors, print_findings
from gridgeo.cli.registry import _COUNTY, _TOKEN, _county, _me
from gridgeo.i18n import _
from gridgeo.registry.staff import check_staff, import_roster, read_roster

app = typer.Typer(
    help="Grid staff: import a roster (网格员名册), check the profile's staffing rules.",
    no_args_is_help=True,
)


@app.command("import")
@handle_errors
def import_(
    path: Path = typer.Argument(
        ...,
        help="Roster CSV/XLSX with headers 网格编码, 岗位, 姓名, 联系电话, 身份证号, "
        "选配单位, 备案乡镇（街道）.",
    ),
    county: str = _COUNTY,
    sheet: str = typer.Option(None, "--sheet", help="Sheet of an XLSX file (default: first)."),
    title: str = typer.Option("", "--title", help="Title of the change set."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit log)."),
    token: str = _TOKEN,
) -> None:
    """Store the roster's people and draft their grid assignments as a change set."""
    actor = _me(token)
    county = _county(actor, county)
    roster = read_roster(path, sheet=sheet)
    cs = import_roster(
        registry_cli._url(), roster, county=county, actor=actor, title=title, reason=reason
    )
    console.print(
        _(
            "{people} people, {posts} assignments: draft change set {cs}; "
            "next, gridgeo change file {cs}"
        ).format(people=roster["person_name"].nunique(), posts=len(roster), cs=cs)
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
    """List every current grid that breaks the profile's staffing rules; exit 1 if any."""
    breaches = check_staff(registry_cli._url(), profile=profile, county=county)
    print_findings(
        breaches,
        {"grid_code": "grid", "rule": "rule", "message": "problem", "basis": "basis"},
        none=_("Every grid meets the staffing rules."),
        summary=lambda b: _("{grids} grids break the staffing rules ({n} findings)").format(
            grids=b["grid_code"].nunique(), n=len(b)
        ),
    )
