"""``gridgeo matters admit|exit``: a county's matter admission list (准入清单), filed with the city."""

from __future__ import annotations

import typer

from gridgeo import registry
from gridgeo.cli import registry as registry_cli
from gridgeo.cli._common import console, handle_errors
from gridgeo.cli.registry import _ADMIN, _USER, _user
from gridgeo.registry.matter_lists import admission_list, draft_matter_changes

app = typer.Typer(
    help="Matter lists (事项清单): admit matters to a county's list or remove them, as change sets.",
    no_args_is_help=True,
)


def _draft(county: str, codes: list[str], *, admit: bool, reason: str, user, admin) -> None:
    actor = registry.Actor(_user(user), "admin" if admin else "county", county)
    cs = draft_matter_changes(
        registry_cli._url(),
        county=county,
        actor=actor,
        admit=codes if admit else (),
        exit=() if admit else codes,
        reason=reason,
    )
    console.print(f"草稿变更集 {cs}：下一步 gridgeo change file {cs} --county {county}")


@app.command("admit")
@handle_errors
def admit(
    categories: list[str] = typer.Argument(..., help="Category codes of the city catalogue."),
    county: str = typer.Option(..., "--county", help="Your county code."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit log)."),
    user: str = _USER,
    admin: bool = _ADMIN,
) -> None:
    """Draft the admission of matters to the county's list (negative-list matters refused)."""
    _draft(county, categories, admit=True, reason=reason, user=user, admin=admin)


@app.command("exit")
@handle_errors
def exit_(
    categories: list[str] = typer.Argument(..., help="Category codes on the county's list."),
    county: str = typer.Option(..., "--county", help="Your county code."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit log)."),
    user: str = _USER,
    admin: bool = _ADMIN,
) -> None:
    """Draft the exit of matters from the county's list."""
    _draft(county, categories, admit=False, reason=reason, user=user, admin=admin)


@app.command("list")
@handle_errors
def list_(county: str = typer.Option(..., "--county", help="County code.")) -> None:
    """The county's current admission list."""
    codes = admission_list(registry_cli._url(), county)
    console.print("\n".join(codes) if codes else f"{county} 的准入清单为空")
