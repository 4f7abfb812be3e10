"""Structural rules of the code base that a reviewer would otherwise check by hand."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import gridgeo

PACKAGE = Path(gridgeo.__file__).parent
MAX_LINES = 80


def _functions(folder: Path):
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield path, node


def test_no_function_in_partition_is_longer_than_80_lines():
    """The partition pipeline reads as named stages: no function above 80 lines."""
    long = [
        f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({n} lines)"
        for path, node in _functions(PACKAGE / "partition")
        if (n := node.end_lineno - node.lineno + 1) > MAX_LINES
    ]
    assert long == []


@pytest.mark.parametrize(
    ("pattern", "home"),
    [
        (r"^KIND_WORDS\b|_KIND_WORDS\s*=|_TYPE_ALIASES\s*=", "rules.py"),
        (r"def (work_crs|_work_crs|_metric_crs)\b", "crs.py"),
        (r"def (household_band|band|_band)\(", "rules.py"),
        (r"^(LON_NAMES|X_NAMES)\s*=", "io/schemas.py"),
        (r"^(SCHEMAS|GRIDS_SCHEMA|COMMUNITIES_SCHEMA)\s*[:=]", "io/schemas.py"),
        (r"^RULES\s*[:=]", "rule_ids.py"),
    ],
)
def test_one_home_per_concept(pattern, home):
    """`grep` finds each concept defined once, in its home module."""
    regex = re.compile(pattern, re.M)
    found = sorted(
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if regex.search(p.read_text(encoding="utf-8"))
    )
    assert found == [home]


def test_default_profile_name_is_not_hard_coded():
    """Functions default to the GRIDGEO_PROFILE setting, not to a literal profile name."""
    hits = [
        f"{p.relative_to(PACKAGE)}:{k}"
        for p in PACKAGE.rglob("*.py")
        for k, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(
            r"""(profile\s*:[^=]*=\s*|profile or |typer\.Option\(\s*)["']yongzhou["']""", line
        )
    ]
    assert hits == []
