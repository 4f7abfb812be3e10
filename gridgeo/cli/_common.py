"""Helpers shared by the CLI modules: console, error mapping."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gridgeo.errors import GridgeoError, Problem

console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True, highlight=False)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a :class:`GridgeoError` into a message on stderr and its exit code (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GridgeoError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", markup=True, soft_wrap=True)
            raise typer.Exit(code=exc.exit_code) from None
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(code=130) from None

    return wrapper


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def print_warnings(problems: list[Problem], shown: int = 20) -> None:
    """Warnings, the silent-guess ones (no count field) first and in bold."""
    loud = [p for p in problems if p.rule == "households.no_count_field"]
    rest = [p for p in problems if p.rule != "households.no_count_field"]
    for p in loud:
        console.print(f"[bold red]注意：[/] {escape(str(p))}", soft_wrap=True)
    for p in rest[:shown]:
        console.print(f"[yellow]warning:[/] {escape(str(p))}", soft_wrap=True)
    if len(rest) > shown:
        console.print(f"[yellow]… and {len(rest) - shown} more warnings[/]")


def code_table(*headers: str, codes: Collection[str] = (), **kwargs: Any) -> Table:
    """A rich table that never cuts a code, however narrow the terminal.

    Parameters
    ----------
    *headers
        Column headers, in order.
    codes
        Headers of the columns holding codes: printed whole (no wrap, no ellipsis, one code
        per line); the other columns fold onto more lines instead of being cut with "…".
    **kwargs
        Passed to :class:`rich.table.Table` (title, show_header …).

    Returns
    -------
    rich.table.Table
    """
    table = Table(**kwargs)
    for h in headers:
        table.add_column(h, no_wrap=h in codes, overflow="fold")
    return table
