"""Helpers shared by the CLI modules: console, error mapping, findings tables, input layers."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import typer

from gridgeo.errors import GridgeoError, Problem
from gridgeo.i18n import _

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

_CONSOLES: dict[tuple[bool, str | None, str | None], Console] = {}


def get_console(stderr: bool = False) -> Console:
    """The rich console of stdout (or stderr), made on first use.

    One per ``COLUMNS``/``LINES`` setting: rich fixes a console's size from them when it is
    made, so a console made under one setting would keep its width under another (a
    program calling the CLI's commands in one process with another ``COLUMNS``).
    """
    key = (stderr, os.environ.get("COLUMNS"), os.environ.get("LINES"))
    if key not in _CONSOLES:
        from rich.console import Console

        # markup off: printed text quotes file, layer, division and change-set names, shown
        # as they are; lines that style themselves say markup=True and escape what they quote
        _CONSOLES[key] = Console(stderr=stderr, highlight=False, markup=False)
    return _CONSOLES[key]


class _ConsoleOf:
    """``console`` / ``err_console``: each use goes to :func:`get_console` of the moment
    (rich is imported on first use: ``gridgeo db status`` does not spend its start-up
    time, tests/test_cli_startup.py)."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr

    def __getattr__(self, name: str) -> Any:
        return getattr(get_console(self._stderr), name)


console: Console = _ConsoleOf(False)  # type: ignore[assignment]
err_console: Console = _ConsoleOf(True)  # type: ignore[assignment]


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a :class:`GridgeoError` into a message on stderr and its exit code (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GridgeoError as exc:
            from rich.markup import escape

            # the message quotes file names, layer names and values: text, never markup
            get_console(stderr=True).print(
                f"[bold red]{_('error:')}[/] {escape(str(exc))}", markup=True, soft_wrap=True
            )
            raise typer.Exit(code=exc.exit_code) from None
        except KeyboardInterrupt:
            get_console(stderr=True).print(_("interrupted"))
            raise typer.Exit(code=130) from None

    return wrapper


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def print_warnings(problems: list[Problem], shown: int = 20) -> None:
    """Warnings, the silent-guess ones (no count field) first and in bold."""
    from rich.markup import escape

    console = get_console()
    loud = [p for p in problems if p.rule == "households.no_count_field"]
    rest = [p for p in problems if p.rule != "households.no_count_field"]
    for p in loud:
        console.print(
            f"[bold red]{_('attention:')}[/] {escape(str(p))}", soft_wrap=True, markup=True
        )
    for p in rest[:shown]:
        console.print(f"[yellow]{_('warning:')}[/] {escape(str(p))}", soft_wrap=True, markup=True)
    if len(rest) > shown:
        more = _("… and {n} more warnings").format(n=len(rest) - shown)
        console.print(f"[yellow]{more}[/]", markup=True)


def code_table(*headers: str, codes: Collection[str] = (), **kwargs: Any) -> Table:
    """A rich table that never cuts a code, however narrow the terminal.

    Parameters
    ----------
    *headers
        Column headers, in order.
    codes
        Headers of the columns holding codes: printed whole (no wrap, no ellipsis, one code
        per line); the other columns fold onto more lines instead of being cut with "…".
        Headers are shown in the language in use (:func:`gridgeo.i18n.gettext`).
    **kwargs
        Passed to :class:`rich.table.Table` (title, show_header …).

    Returns
    -------
    rich.table.Table
    """
    from rich.table import Table

    table = Table(**kwargs)
    for h in headers:
        table.add_column(_(h), no_wrap=h in codes, overflow="fold")
    return table


def print_findings(
    findings: Any,
    columns: dict[str, str],
    *,
    none: str,
    summary: Callable[[Any], str],
) -> None:
    """Print a registry check's findings as a table and exit 1, or say ``none`` and return.

    Parameters
    ----------
    findings
        A :class:`pandas.DataFrame`, one finding a row.
    columns
        Column of ``findings`` → header, in order (the ``grid_code`` column is never cut).
    none
        What to print when there are no findings.
    summary
        The line under the table, from the findings.

    Raises
    ------
    typer.Exit
        With code 1 when there are findings.
    """
    from rich.text import Text

    console = get_console()
    if findings.empty:
        console.print(none)
        return
    codes = [h for c, h in columns.items() if c == "grid_code"]
    table = code_table(*columns.values(), codes=codes)
    for row in findings[list(columns)].itertuples(index=False):
        table.add_row(*(Text(str(v)) for v in row))  # names from files: text, never markup
    console.print(table)
    console.print(summary(findings))
    raise typer.Exit(1)


def read_layers(
    specs: dict[str, str],
    *,
    crs: Any,
    layer_crs: dict[str, Any],
    households_field: str | None = None,
    population_field: str | None = None,
) -> tuple[dict[str, Any], list[Problem]]:
    """Read the named input layers with the command line's CRS rules (:func:`read_input`).

    ``households`` and ``dedicated`` get their count fields resolved (the field options
    apply to ``households``; a missing count field is a warning there).

    Returns
    -------
    tuple
        Layer name → GeoDataFrame, and the warnings found.
    """
    from gridgeo.io.fields import resolve_count_fields
    from gridgeo.io.layer_crs import read_input

    layers: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, spec in specs.items():
        gdf = read_input(spec, crs=crs, layer_crs=layer_crs.get(name), what=name)
        if name in ("households", "dedicated"):
            gdf, found = resolve_count_fields(
                gdf,
                households_field=households_field if name == "households" else None,
                population_field=population_field if name == "households" else None,
                layer=name,
                warn_missing=name == "households",
            )
            problems += found
        layers[name] = gdf
    return layers, problems
