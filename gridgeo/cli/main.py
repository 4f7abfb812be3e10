"""Entry point of the ``gridgeo`` command: assembles the sub-commands of each concern."""

from __future__ import annotations

import typer

from gridgeo import __version__
from gridgeo.cli import communities as communities_cli
from gridgeo.cli import data as data_cli
from gridgeo.cli import db as db_cli
from gridgeo.cli import demo as demo_cli
from gridgeo.cli import edit as edit_cli
from gridgeo.cli import inspect as inspect_cli
from gridgeo.cli import locate as locate_cli
from gridgeo.cli import partition as partition_cli
from gridgeo.cli import registry as registry_cli
from gridgeo.cli import serve as serve_cli
from gridgeo.cli import users as users_cli
from gridgeo.cli import validate as validate_cli
from gridgeo.cli._common import setup_logging

app = typer.Typer(
    name="gridgeo",
    help="Grid-based community governance: partition, validate, register, locate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gridgeo {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress at INFO level."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    setup_logging(verbose)


# Each concern registers its commands here (one line each), grouped in the help by panel.
_DATA, _REG, _SVC, _SETUP = "Data and grids", "Registry and filing", "Map service", "Set-up"
app.command("inspect", rich_help_panel=_DATA)(inspect_cli.inspect)
app.command("partition", rich_help_panel=_DATA)(partition_cli.partition)
app.command("validate", rich_help_panel=_DATA)(validate_cli.validate)
app.add_typer(data_cli.app, name="data", rich_help_panel=_DATA)
app.add_typer(communities_cli.app, name="communities", rich_help_panel=_DATA)
app.command("load", rich_help_panel=_REG)(registry_cli.load)
app.command("households", rich_help_panel=_REG)(registry_cli.households)
app.add_typer(registry_cli.change_app, name="change", rich_help_panel=_REG)
registry_cli.change_app.command("export-edit")(edit_cli.export_edit)
registry_cli.change_app.command("import")(edit_cli.import_edit)
registry_cli.change_app.command("load-roads")(edit_cli.load_roads)
app.add_typer(registry_cli.city_app, name="city", rich_help_panel=_REG)
app.add_typer(registry_cli.history_app, name="history", rich_help_panel=_REG)
app.add_typer(users_cli.tokens_app, name="tokens", rich_help_panel=_REG)
app.add_typer(users_cli.divisions_app, name="divisions", rich_help_panel=_REG)
app.command("serve", rich_help_panel=_SVC)(serve_cli.serve)
app.command("locate", rich_help_panel=_SVC)(locate_cli.locate)
app.add_typer(db_cli.app, name="db", rich_help_panel=_SETUP)
app.add_typer(demo_cli.app, name="demo", rich_help_panel=_SETUP)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
