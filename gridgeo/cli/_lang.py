"""The command line in the user's language: ``--lang`` / ``GRIDGEO_LANG`` (:mod:`gridgeo.i18n`).

Help texts are English in the code. :class:`TranslatedGroup` (the root command's class)
picks the language before anything is parsed — so ``gridgeo --lang en --help`` is English
and a bare ``gridgeo --help`` follows ``GRIDGEO_LANG`` (default Simplified Chinese) — and
translates every command's and option's help in the click tree — lazily registered
commands when they are loaded (:class:`gridgeo.cli._lazy.LazyGroup`), the ``--help`` option
included.

The catalogue entry (msgid) of an option's help is its English text; a command's docstring
is looked up paragraph by paragraph, each paragraph's line breaks joined with a space
(:func:`paragraphs`). ``tests/test_i18n.py`` walks the whole tree (:func:`help_texts`) and
names every help text without a zh_CN entry, so a new option needs its translation in
``gridgeo/locale/zh_CN/LC_MESSAGES/gridgeo.po``.

The root's own help is plain text (:meth:`gridgeo.cli._lazy.LazyGroup.format_help`): rich's
help formatter (``typer.rich_utils``, which imports a Markdown parser) is loaded only when a
sub-command's help is shown, and only then are its panel titles translated
(:func:`translate_rich_panels`).
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from gridgeo.i18n import gettext, language, use_language

if TYPE_CHECKING:
    import click

_TEXTS = ("help", "short_help", "rich_help_panel")
#: typer's own texts of a rich help page or error box, translated with the panel titles.
_PANELS = {
    "ARGUMENTS_PANEL_TITLE": "Arguments",
    "OPTIONS_PANEL_TITLE": "Options",
    "COMMANDS_PANEL_TITLE": "Commands",
    "ERRORS_PANEL_TITLE": "Error",
    "DEFAULT_STRING": "[default: {}]",
    "REQUIRED_LONG_STRING": "[required]",
    "ABORTED_TEXT": "Aborted.",
    "RICH_HELP": "Try [blue]'{command_path} {help_option}'[/] for help.",
}


#: typer's own error texts: its copy of click writes them as plain f-strings, without a
#: catalogue. Each pattern matches a whole message; its named groups are kept in the
#: translation (a ``message`` group is translated in turn, a ``label`` group is a word).
_CLICK_ERRORS: tuple[tuple[str, str], ...] = (
    (r"Missing option (?P<hint>.+)\.", "Missing option {hint}."),
    (r"Missing argument (?P<hint>.+)\.", "Missing argument {hint}."),
    (r"Missing parameter: (?P<hint>.+)", "Missing parameter: {hint}"),
    (r"Invalid value for (?P<hint>[^:]+): (?P<message>.*)", "Invalid value for {hint}: {message}"),
    (r"Invalid value: (?P<message>.*)", "Invalid value: {message}"),
    (
        r"No such option: (?P<name>\S+) \(Possible options: (?P<names>.*)\)",
        "No such option: {name} (did you mean {names}?)",
    ),
    (r"No such option: (?P<name>.+)", "No such option: {name}"),
    (r"No such command (?P<name>.+)\.", "No such command {name}."),
    (r"Missing command\.", "Missing command."),
    (r"Got unexpected extra argument\(s\) \((?P<args>.*)\)", "Unexpected extra arguments: {args}"),
    (r"Option (?P<name>.+) requires an argument\.", "Option {name} needs a value."),
    (r"Option (?P<name>.+) requires (?P<n>\d+) arguments\.", "Option {name} needs {n} values."),
    (r"Option (?P<name>.+) does not take a value\.", "Option {name} takes no value."),
    (r"Argument (?P<name>.+) takes (?P<n>\d+) values\.", "Argument {name} takes {n} values."),
    (r"(?P<value>.+) is not one of (?P<choices>.+)\.", "{value} is not one of {choices}."),
    (
        r"(?P<label>File|Directory|Path) (?P<name>.+) does not exist\.",
        "{label} {name} does not exist.",
    ),
    (r"(?P<label>File|Directory|Path) (?P<name>.+) is a file\.", "{label} {name} is a file."),
    (
        r"(?P<label>File|Directory|Path) (?P<name>.+) is a directory\.",
        "{label} {name} is a directory.",
    ),
    (
        r"(?P<label>File|Directory|Path) (?P<name>.+) is not readable\.",
        "{label} {name} cannot be read.",
    ),
    (
        r"(?P<label>File|Directory|Path) (?P<name>.+) is not writable\.",
        "{label} {name} cannot be written.",
    ),
    (r"Value (?P<value>.+) is not a valid (?P<label>\w+)\.", "{value} is not a valid {label}."),
    (r"Input should be a valid integer(?:, .*)?", "Input should be a whole number"),
    (r"Input should be a valid number(?:, .*)?", "Input should be a number"),
    (r"Input should be a valid boolean(?:, .*)?", "Input should be true or false"),
    (r"Aborted!?", "Aborted."),
)
_CLICK_PATTERNS = tuple((re.compile(p, re.S), msgid) for p, msgid in _CLICK_ERRORS)
#: The words put into those messages: typer's labels of paths and of value types.
_CLICK_LABELS = ("File", "Directory", "Path", "int", "float", "bool", "str")
#: The prefix of every usage line (help pages and error boxes).
USAGE_PREFIX = "Usage: "


def translate_click_message(text: str, lang: str | None = None) -> str:
    """One of typer's own error messages (``_CLICK_ERRORS``) in ``lang``; others unchanged.

    Parameters
    ----------
    text
        The message as typer formats it (English).
    lang
        The language; default :func:`gridgeo.i18n.language`.
    """
    lang = lang or language()
    if lang == "en":
        return text
    for pattern, msgid in _CLICK_PATTERNS:
        m = pattern.fullmatch(text.strip())
        if m is None:
            continue
        parts = m.groupdict()
        if parts.get("message"):
            parts["message"] = translate_click_message(parts["message"], lang)
        if parts.get("label"):
            parts["label"] = gettext(parts["label"], lang)
        return gettext(msgid, lang).format(**parts)
    return text


def _translated_usage(write_usage: Any) -> Any:
    """typer's ``HelpFormatter.write_usage`` whose default prefix is in the language in use."""
    if getattr(write_usage, "_gridgeo_translated", False):
        return write_usage

    def write(self: Any, prog: str, args: str = "", prefix: str | None = None) -> None:
        if prefix is None:
            prefix = gettext(USAGE_PREFIX)
        write_usage(self, prog, args, prefix)

    write._gridgeo_translated = True  # type: ignore[attr-defined]
    return write


def translate_usage_prefix() -> None:
    """Make every usage line (help pages, error boxes) start with the translated "Usage:"."""
    formatter = sys.modules.get("typer._click.formatting")
    if formatter is not None and hasattr(formatter, "HelpFormatter"):
        cls = formatter.HelpFormatter
        cls.write_usage = _translated_usage(cls.write_usage)


#: The root's ``--lang`` option (handled by :class:`TranslatedGroup`, not by typer).
LANG_HELP = "Language of messages and tables: zh_CN (default) or en (setting GRIDGEO_LANG)."


def split_lang(args: Sequence[str]) -> tuple[str | None, list[str]]:
    """The value of ``--lang X`` / ``--lang=X`` among the root's arguments, and the others.

    Raises
    ------
    typer.BadParameter
        ``--lang`` without a value.
    """
    rest = list(args)
    for i, arg in enumerate(rest):
        if arg == "--lang":
            if i + 1 >= len(rest):
                raise typer.BadParameter(gettext("needs a value: zh_CN or en"), param_hint="--lang")
            return rest[i + 1], rest[:i] + rest[i + 2 :]
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1], rest[:i] + rest[i + 1 :]
        if not arg.startswith("-"):
            break  # a sub-command: its options are its own
    return None, rest


def help_may_show(command: Any, args: Sequence[str]) -> bool:
    """Whether running ``command`` with ``args`` may print a help page.

    ``--help`` anywhere, or a group (``no_args_is_help``) reached without a sub-command.
    """
    if "--help" in args:
        return True
    words = [a for a in args if not a.startswith("-")]
    while isinstance(command, TyperGroup):
        if not words:
            return True
        command = command.commands.get(words.pop(0))
    return False


def _folding(make: Any) -> Any:
    """typer's ``_make_rich_text`` whose texts fold instead of ending in "…".

    Rich breaks lines at spaces only: a Chinese help text is one long "word", which the
    help table's column would cut with an ellipsis; folded, it wraps between characters.
    """
    if getattr(make, "_gridgeo_folds", False):
        return make

    def make_text(*args: Any, **kwargs: Any) -> Any:
        out = make(*args, **kwargs)
        if getattr(out, "overflow", "") is None:
            out.overflow = "fold"
        return out

    make_text._gridgeo_folds = True  # type: ignore[attr-defined]
    return make_text


def translate_rich_panels(lang: str | None = None) -> None:
    """Translate the default panel titles of typer's rich help (imports ``typer.rich_utils``).

    Also makes long help texts wrap instead of being cut (:func:`_folding`).
    """
    from typer import rich_utils

    for name, text in _PANELS.items():
        setattr(rich_utils, name, gettext(text, lang or language()))
    usage = gettext(USAGE_PREFIX, lang or language())
    highlights = rich_utils.OptionHighlighter.highlights
    if usage != USAGE_PREFIX and f"(?P<usage>{re.escape(usage)})" not in highlights:
        highlights.append(f"(?P<usage>{re.escape(usage)})")
    if hasattr(rich_utils, "_make_rich_text"):
        rich_utils._make_rich_text = _folding(rich_utils._make_rich_text)


def paragraphs(text: str) -> list[str]:
    """The paragraphs of a help text as catalogue entries (msgids).

    A command's help is its docstring: paragraphs are split at blank lines and the line
    breaks inside one are joined with a space (rewrapping a docstring keeps its
    translation); a ``\\b`` paragraph (printed as written) keeps its lines. Anything after
    ``\\f`` is not shown and not translated.
    """
    body = inspect.cleandoc(text).partition("\f")[0].strip()
    out = []
    for para in body.split("\n\n"):
        para = para.strip("\n")
        if para and not para.startswith("\b"):
            para = " ".join(para.split())
        if para:
            out.append(para)
    return out


def translate_help(text: str, lang: str | None = None) -> str:
    """``text`` (a help text of one or more paragraphs) in ``lang``, paragraph by paragraph.

    The whole text is looked up first; an untranslated paragraph stays in English.
    """
    lang = lang or language()
    whole = gettext(text, lang)
    if whole is not text or lang == "en":
        return whole
    return "\n\n".join(gettext(p, lang) for p in paragraphs(text))


def _translate_obj(obj: Any, lang: str) -> None:
    for attr in _TEXTS:
        key = f"_gridgeo_{attr}"
        if not hasattr(obj, key):
            setattr(obj, key, getattr(obj, attr, None))
        original = getattr(obj, key)
        if original:
            setattr(
                obj,
                attr,
                translate_help(original, lang) if attr == "help" else gettext(original, lang),
            )


def translate_tree(command: click.Command, lang: str) -> None:
    """Translate the help texts of ``command``, its parameters and sub-commands, in place.

    The ``--help`` option is translated too once click has made it (it is made on first use).
    """
    params = [*command.params, getattr(command, "_help_option", None)]
    for obj in [command, *(p for p in params if p is not None)]:
        _translate_obj(obj, lang)
    for sub in getattr(command, "commands", {}).values():
        translate_tree(sub, lang)


def help_texts(command: click.Command, path: str = "gridgeo") -> Iterator[tuple[str, str]]:
    """``(where, msgid)`` of every help text shown by ``command``'s tree, in English.

    ``where`` names the command path and the parameter (``gridgeo partition --roads``);
    lazily registered commands are walked only if loaded (see ``tests/test_i18n.py``).
    """
    for obj in [command, *command.params]:
        name = path if obj is command else f"{path} {(getattr(obj, 'opts', None) or [obj.name])[0]}"
        for attr in _TEXTS:
            text = getattr(obj, f"_gridgeo_{attr}", None) or getattr(obj, attr, None)
            if text:
                for msgid in paragraphs(text) if attr == "help" else [text]:
                    yield f"{name} ({attr})", msgid
    for sub_name, sub in getattr(command, "commands", {}).items():
        yield from help_texts(sub, f"{path} {sub_name}")


@contextmanager
def _error_box_translated() -> Iterator[None]:
    """Translate typer's error box (title, "Try … for help") when a usage error leaves.

    typer imports its rich formatter to print the error; this imports it only then (never on
    a run without an error, nor for ``typer.Exit``). The error's own text, written by typer's
    copy of click, is translated where it is one of ``_CLICK_ERRORS``.
    """
    try:
        yield
    except (_click_exception(), typer.Abort) as exc:
        if language() != "en":
            translate_rich_panels()
            _translate_error(exc)
        raise


def _translate_error(exc: BaseException) -> None:
    """Make ``exc`` format its message in the language in use (typer prints it later)."""
    format_message = getattr(exc, "format_message", None)
    if format_message is not None and not getattr(format_message, "_gridgeo_translated", False):

        def translated() -> str:
            return translate_click_message(format_message())

        translated._gridgeo_translated = True  # type: ignore[attr-defined]
        exc.format_message = translated  # type: ignore[attr-defined]


def _click_exception() -> type[Exception]:
    """click's ``ClickException`` as typer raises it (typer ≥ 0.29 ships its own click)."""
    found = (c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    return next(found, typer.BadParameter)


class TranslatedGroup(TyperGroup):
    """The root group: chooses the language, then translates the help of the whole tree.

    ``--lang`` is read and removed here, before click parses the rest: as a typer option
    (a ``str``) it would load pydantic for its coercion on every run (typer ≥ 0.29).
    """

    def option_rows(self, ctx: click.Context) -> list[tuple[str, str]]:
        """The root's options for its help page, ``--lang`` among them."""
        rows = [r for p in self.get_params(ctx) if (r := p.get_help_record(ctx))]
        return [*rows[:-1], ("--lang <zh_CN|en>", gettext(LANG_HELP)), *rows[-1:]]

    def main(self, *args: object, **kwargs: object) -> object:
        # --lang is for this run only: afterwards GRIDGEO_LANG applies again (in-process
        # callers, e.g. a test runner, must not inherit the previous run's language)
        try:
            return super().main(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            use_language(None)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: object,
    ) -> click.Context:
        if parent is None:
            chosen, args = split_lang(args)
            try:
                lang = use_language(chosen)
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint="--lang") from None
            translate_tree(self, lang)
            translate_usage_prefix()
            if "typer.rich_utils" in sys.modules:  # loaded by an earlier run in this process
                translate_rich_panels(lang)
        with _error_box_translated():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with _error_box_translated():
            return super().invoke(ctx)
