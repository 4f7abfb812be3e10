"""``gridgeo matters admit|exit``: a county's matter admission list (准入清单), filed with the city."""

from __future__ import annotations

import typer

from gridgeo.cli import registry as registry_cli
from gridgeo.cli._common import console, handle_errors
from gridgeo.cli.registry import _COUNTY, _TOKEN, _county, _me
from gridgeo.i18n import _
from gridgeo.registry.matter_lists import (
    admission_list,
    draft_matter_changes,
    read_catalogue,
    set_catalogue_at,
)

app = typer.Typer(
    help="Matter lists (事项清单): admit matters to a county's list or remove them, as change sets.",
    no_args_is_help=True,
)


def _draft(county: str | None, codes: list[str], *, admit: bool, reason: str, token) -> None:
    actor = _me(token)
    county = _county(actor, county)
    cs = draft_matter_changes(
        registry_cli._url(),
        county=county,
        actor=actor,
        admit=codes if admit else (),
        exit=() if admit else codes,
        reason=reason,
    )
    console.print(_("draft change set {cs}: next, gridgeo change file {cs}").format(cs=cs))


@app.command("admit")
@handle_errors
def admit(
    categories: list[str] = typer.Argument(..., help="Category codes of the city catalogue."),
    county: str = _COUNTY,
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit log)."),
    token: str = _TOKEN,
) -> None:
    """Draft the admission of matters to the county's list (negative-list matters refused)."""
    _draft(county, categories, admit=True, reason=reason, token=token)


@app.command("exit")
@handle_errors
def exit_(
    categories: list[str] = typer.Argument(..., help="Category codes on the county's list."),
    county: str = _COUNTY,
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit log)."),
    token: str = _TOKEN,
) -> None:
    """Draft the exit of matters from the county's list."""
    _draft(county, categories, admit=False, reason=reason, token=token)


@app.command("list")
@handle_errors
def list_(county: str = typer.Option(..., "--county", help="County code.")) -> None:
    """The county's current admission list."""
    codes = admission_list(registry_cli._url(), county)
    console.print(
        "\n".join(codes)
        if codes
        else _("the admission list of {county} is empty").format(county=county)
    )


@app.command("catalogue")
@handle_errors
def catalogue_(
    path: str = typer.Argument(
        ...,
        help="CSV/XLSX: 事项编码, 事项名称, 默认责任部门, 时限类别 (一般/复杂/紧急), 办理时限, "
        "复杂案件时限, 负面清单 (是/否), 依据.",
    ),
    token: str = _TOKEN,
) -> None:
    """Write the city's matter catalogue (kept with history; the city's reviewers)."""
    me = _me(token)
    me.require("matters.admin")
    rows = read_catalogue(path)
    n = set_catalogue_at(registry_cli._url(), rows, actor=me.name)
    negative = [r["code"] for r in rows if r["negative"]]
    console.print(
        _("{n} matters written to the city's grid matter catalogue; negative list: {codes}").format(
            n=n, codes="、".join(negative) or _("none")
        )
    )
