"""Entry point of the ``gridgeo`` command: assembles the sub-commands of each concern."""

from __future__ import annotations

from typing import ClassVar

import typer

from gridgeo import __version__
from gridgeo.cli._lang import TranslatedGroup
from gridgeo.cli._lazy import LazyCommand, LazyGroup

# Each concern registers its commands here (one line each), grouped in the help by panel.
# They are imported when they run, not at start-up (`gridgeo --help` stays fast); a module
# registered eagerly with app.command(...) still works.
_DATA, _REG, _SVC, _SETUP = "Data and grids", "Registry and filing", "Map service", "Set-up"
LAZY = [
    LazyCommand(
        "inspect",
        "gridgeo.cli.inspect:inspect",
        _DATA,
        "Print layers, CRS, counts, fields, bounds and problems; exit 2 if the file is unusable.",
    ),
    LazyCommand(
        "partition",
        "gridgeo.cli.partition:partition",
        _DATA,
        "Partition communities and villages into urban, rural and dedicated grids.",
    ),
    LazyCommand(
        "validate",
        "gridgeo.cli.validate:validate",
        _DATA,
        "Check grids against the rules: size band (recounted), gaps, overlaps, borders, "
        "contiguity, geometry, slivers, codes, roads, posting attributes.",
    ),
    LazyCommand(
        "data",
        "gridgeo.cli.data:app",
        _DATA,
        "Demo data: verify data/raw, build the demo districts, generate sample data.",
    ),
    LazyCommand(
        "communities",
        "gridgeo.cli.communities:app",
        _DATA,
        "Community and village layers: topology repair.",
    ),
    LazyCommand(
        "load",
        "gridgeo.cli.registry:load",
        _REG,
        "Load grids as a draft change set against the current registry (only their "
        "communities change).",
    ),
    LazyCommand(
        "change",
        "gridgeo.cli.registry:change_app",
        _REG,
        "Change sets: list, show, diff, validate, file, export.",
    ),
    LazyCommand(
        "city",
        "gridgeo.cli.registry:city_app",
        _REG,
        "City review: accept or return filed change sets.",
    ),
    LazyCommand(
        "history",
        "gridgeo.cli.registry:history_app",
        _REG,
        "History: the registry at a date, the grid at a point, a grid's versions.",
    ),
    LazyCommand(
        "households",
        "gridgeo.cli.registry:households",
        _REG,
        "Replace the county's household layer (restricted; used to recount households at filing).",
    ),
    LazyCommand(
        "tokens",
        "gridgeo.cli.users:tokens_app",
        _REG,
        "Tokens: create (shown once), list, revoke. A token authenticates one user.",
    ),
    LazyCommand(
        "divisions",
        "gridgeo.cli.users:divisions_app",
        _REG,
        "Divisions: register a province, city, county or street (the scopes of users).",
    ),
    LazyCommand(
        "staff",
        "gridgeo.cli.staff:app",
        _REG,
        "Grid staff: import a roster (网格员名册), check the profile's staffing rules.",
    ),
    LazyCommand(
        "departments",
        "gridgeo.cli.departments:app",
        _REG,
        "Departments' coverage (包片): which grids lack a department per core category.",
    ),
    LazyCommand(
        "matters",
        "gridgeo.cli.matters:app",
        _REG,
        "Matter lists (事项清单): admit matters to a county's list or remove them, as change sets.",
    ),
    LazyCommand(
        "components",
        "gridgeo.cli.components:app",
        _REG,
        "City components (城市部件): import the inventory.",
    ),
    LazyCommand(
        "noticeboard",
        "gridgeo.cli.boards:noticeboard",
        _REG,
        "Printable noticeboards (网格公示牌): map, grid table, supervision phone, QR code.",
    ),
    LazyCommand(
        "publish",
        "gridgeo.cli.boards:publish",
        _REG,
        "The public grid pages: a static site (index by street, one page per community).",
    ),
    LazyCommand(
        "posting",
        "gridgeo.cli.boards:posting_app",
        _REG,
        "What the noticeboards post: supervision phone, duties, posting date.",
    ),
    LazyCommand(
        "serve",
        "gridgeo.cli.serve:serve",
        _SVC,
        "Serve the map API (OpenAPI docs at /docs). Ctrl-C stops it.",
    ),
    LazyCommand(
        "locate",
        "gridgeo.cli.locate:locate",
        _SVC,
        "Locate every point on the registry's grids (same answers as the /locate/batch API).",
    ),
    LazyCommand(
        "tracks",
        "gridgeo.cli.tracks:app",
        _SVC,
        "Patrol tracks of grid workers: import, daily stats, rankings, day map.",
    ),
    LazyCommand(
        "incidents",
        "gridgeo.cli.incidents:app",
        _SVC,
        "Incidents (案件): import reports from CSV/XLSX/GeoJSON, export statistics.",
    ),
    LazyCommand(
        "db",
        "gridgeo.cli.db:app",
        _SETUP,
        "Start, stop and inspect the database (a private PostGIS unless "
        "GRIDGEO_DATABASE_URL is set).",
    ),
    LazyCommand("demo", "gridgeo.cli.demo:app", _SETUP, "Run the demo district end to end."),
]


class _Group(TranslatedGroup, LazyGroup):
    """The root: chooses the language (``--lang``), then lists commands without importing them."""

    lazy: ClassVar[dict[str, LazyCommand]] = {c.name: c for c in LAZY}


app = typer.Typer(
    cls=_Group,
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
    # --lang LANG: read (and removed) before parsing by TranslatedGroup, which lists it in the help
) -> None:
    from gridgeo.cli._common import setup_logging  # not at start-up: it loads rich

    setup_logging(verbose)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
