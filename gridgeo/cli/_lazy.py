"""Sub-commands loaded on first use, so that ``gridgeo --help`` imports none of them.

Each command is named by ``"module:attribute"`` (a command function or a ``typer.Typer``
sub-app) with its help panel and one-line help; the module is imported only when the
command runs or its own ``--help`` is asked for. The group's own help is plain text,
grouped by panel (:meth:`LazyGroup.format_help`), so that ``gridgeo --help`` loads neither
rich's help formatter nor any command module. ``tests/test_cli_startup.py`` checks that
each one-line help matches the command's docstring, so the listing stays true.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup

from gridgeo.cli._lang import help_may_show, translate_help, translate_rich_panels, translate_tree
from gridgeo.i18n import gettext, language


@dataclass(frozen=True)
class LazyCommand:
    """Where a sub-command lives and how ``gridgeo --help`` lists it."""

    name: str
    target: str
    panel: str
    help: str

    def load(self) -> Any:
        """Import the module and build the click command (or group)."""
        module, attr = self.target.split(":")
        obj: Any = getattr(importlib.import_module(module), attr)
        if isinstance(obj, typer.Typer):
            cmd = typer.main.get_group(obj)
        else:
            single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
            single.command(self.name)(obj)
            cmd = typer.main.get_command(single)
        cmd.name = self.name
        cmd.rich_help_panel = self.panel
        return cmd

    def stub(self) -> TyperCommand:
        """A placeholder with the listing's name, panel and help (nothing imported).

        The help and panel are in the language in use (:func:`gridgeo.i18n.gettext`).
        """
        return TyperCommand(
            self.name, help=translate_help(self.help), rich_help_panel=gettext(self.panel)
        )


def help_flags_false(command: Any, ctx: Any) -> None:
    """Give the ``--help`` flag of ``command`` and its sub-commands the default ``False``.

    typer (0.29) makes it without a default and coerces the ``None`` it then gets on every
    run through a pydantic adapter: about 0.15 s of imports for a command that needs none.
    """
    option = command.get_help_option(ctx)
    if option is not None and option.default is None:
        option.default = False
    for sub in getattr(command, "commands", {}).values():
        help_flags_false(sub, ctx)


class LazyGroup(TyperGroup):
    """A Typer group whose :data:`lazy` commands are imported only when resolved."""

    lazy: ClassVar[dict[str, LazyCommand]] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.lazy, *(n for n in super().list_commands(ctx) if n not in self.lazy)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        spec = self.lazy.get(cmd_name)
        if spec is not None:
            return spec.stub()
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        try:
            name, cmd, rest = super().resolve_command(ctx, args)
        except Exception as exc:  # click's UsageError: suggest lazy names too
            message = getattr(exc, "message", None)
            close = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if message and close and "Did you mean" not in message:
                hint = gettext("Did you mean {names}?").format(names=", ".join(map(repr, close)))
                exc.message = f"{message.rstrip('.')}. {hint}"  # type: ignore[attr-defined]
            raise
        if name in self.lazy:
            cmd = self.lazy[name].load()
            help_flags_false(cmd, ctx)
            translate_tree(cmd, language())  # its help texts, the --help options made above
        if help_may_show(cmd, rest):
            translate_rich_panels()
        return name, cmd, rest

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None and option.default is None:
            option.default = False  # see help_flags_false
        if option is not None:
            option._gridgeo_help = getattr(option, "_gridgeo_help", option.help)
            option.help = gettext(option._gridgeo_help or "")
        return option

    def option_rows(self, ctx: Any) -> list[tuple[str, str]]:
        """``(option, help)`` rows of this group's help page."""
        return [r for p in self.get_params(ctx) if (r := p.get_help_record(ctx))]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """Plain-text help (no rich): usage, text, options, then the commands by panel.

        Rich's help formatter imports a Markdown parser (about 0.15 s); the root's help
        needs none of it. Titles and texts are in the language in use.
        """
        self.format_usage(ctx, formatter)
        self.format_help_text(ctx, formatter)
        options = self.option_rows(ctx)
        if options:
            with formatter.section(gettext("Options")):
                formatter.write_dl(options)
        panels: dict[str, list[tuple[str, str]]] = {}
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            panel = cmd.rich_help_panel or gettext("Commands")
            panels.setdefault(panel, []).append((name, (cmd.help or "").split("\n\n")[0]))
        for panel, rows in panels.items():
            with formatter.section(panel):
                formatter.write_dl(rows)
        self.format_epilog(ctx, formatter)
