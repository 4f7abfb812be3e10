"""`gridgeo --help` and `gridgeo db status` start without importing the heavy stack."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

import pytest

from gridgeo.cli.main import LAZY

HEAVY = ("geopandas", "pandas", "shapely", "sqlalchemy", "fastapi", "numba", "yoyo", "psycopg")

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
