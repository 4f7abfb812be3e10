"""`gridgeo --help` and `gridgeo db status` start without importing the heavy stack."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

import pytest

from gridgeo.cli.main import LAZY

HEAVY = (
    "geopandas",
    "pandas",
    "shapely",
    "sqlalchemy",
    "fastapi",
    "numba",
    "yoyo",
    "psycopg",
    # rich (its help formatter typer.rich_utils → rich.markdown → markdown_it, its console),
    # pydantic and pydantic-settings (the settings object, typer's coercion) and Babel:
    # ≈0.5 s together
    "rich",
    "markdown_it",
    "pydantic",
    "pydantic_settings",
    "babel",
)

PROBE = """
import sys
from gridgeo.cli.main import app
try:
    app({args!r}, standalone_mode=False)
except SystemExit:
    pass
print(",".join(sorted({{m.split(".")[0] for m in sys.modules}})))
"""


def _loaded(args: list[str]) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args)],
        env={k: v for k, v in os.environ.items() if k != "GRIDGEO_DATABASE_URL"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return set(out.strip().splitlines()[-1].split(","))


def test_help_imports_no_command_module():
    loaded = _loaded(["--help"])
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_db_status_imports_no_driver_or_data_stack():
    # the private instance (running or not): status asks pg_ctl, never the driver
    loaded = _loaded(["db", "status"])
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


@pytest.mark.parametrize("spec", LAZY, ids=lambda s: s.name)
def test_listed_help_is_the_commands_own(spec):
    cmd = spec.load()
    first = inspect.cleandoc(cmd.help or "").split("\n\n")[0].replace("\n", " ")
    assert spec.help == first
    assert cmd.name == spec.name


def test_a_mistyped_command_gets_a_suggestion():
    from typer.testing import CliRunner

    from gridgeo.cli.main import app

    res = CliRunner().invoke(app, ["partiton"])
    assert res.exit_code == 2
    assert "Did you mean 'partition'?" in res.output


def test_plain_root_help_lists_panels_and_lang_in_both_languages():
    from typer.testing import CliRunner

    from gridgeo.cli.main import app

    en = CliRunner().invoke(app, ["--lang", "en", "--help"], env={"COLUMNS": "100"})
    assert en.exit_code == 0, en.output
    for text in ("Options:", "Data and grids:", "Set-up:", "--lang", "partition", "db"):
        assert text in en.output
    zh = CliRunner().invoke(app, ["--help"], env={"GRIDGEO_LANG": "zh_CN", "COLUMNS": "100"})
    assert "选项" in zh.output and "数据与网格" in zh.output and "--lang" in zh.output


def test_sub_command_help_keeps_translated_rich_panels():
    from typer.testing import CliRunner

    from gridgeo.cli.main import app

    res = CliRunner().invoke(app, ["--lang", "zh_CN", "db", "--help"], env={"COLUMNS": "100"})
    assert res.exit_code == 0, res.output
    assert "选项" in res.output and "命令" in res.output


def test_lang_without_a_value_is_a_usage_error():
    from typer.testing import CliRunner

    from gridgeo.cli.main import app

    res = CliRunner().invoke(app, ["--lang"])
    assert res.exit_code == 2
    assert "--lang" in res.output


def test_the_catalogue_reader_agrees_with_babel():
    from babel.messages.pofile import read_po

    from gridgeo.i18n import _LOCALE_DIR, LANGUAGES, read_po_messages

    for lang in LANGUAGES:
        path = _LOCALE_DIR / lang / "LC_MESSAGES" / "gridgeo.po"
        if not path.exists():
            continue
        with path.open("rb") as fh:
            cat = read_po(fh, locale=lang, domain="gridgeo")
        want = {str(m.id): str(m.string) for m in cat if m.id and m.string and not m.fuzzy}
        assert read_po_messages(path.read_text(encoding="utf-8")) == want


def test_po_reader_handles_escapes_continuations_and_fuzzy():
    from gridgeo.i18n import read_po_messages

    text = (
        'msgid ""\nmsgstr ""\n"Language: zh_CN\\n"\n\n'
        'msgid "a \\"b\\"\\n"\nmsgstr "甲\\t乙"\n\n'
        'msgid ""\n"long "\n"one"\nmsgstr ""\n"长"\n"的"\n\n'
        '#, fuzzy\nmsgid "guess"\nmsgstr "猜"\n\n'
        'msgid "untranslated"\nmsgstr ""\n'
    )
    assert read_po_messages(text) == {'a "b"\n': "甲\t乙", "long one": "长的"}
