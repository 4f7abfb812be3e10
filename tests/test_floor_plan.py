"""The floor plan holds: the service keeps no SQL; the CLI and the core import no service."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import gridgeo

PACKAGE = Path(gridgeo.__file__).parent
SQL = re.compile(
    r"\b(SELECT\b.*\bFROM|INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM|LISTEN\s+\S|"
    r"CREATE\s+(TABLE|FUNCTION|INDEX)|ALTER\s+TABLE|DROP\s+(TABLE|FUNCTION))",
    re.IGNORECASE | re.DOTALL,
)
#: no exceptions: tokens and users are in gridgeo/registry (users.py, tokens.py) too
ALLOWED: set[str] = set()


def _strings(tree: ast.AST) -> list[ast.Constant]:
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
    ]


def test_no_sql_strings_in_the_service():
    found = []
    for path in sorted((PACKAGE / "service").glob("*.py")):
        if path.name in ALLOWED:
            continue
        for node in _strings(ast.parse(path.read_text(encoding="utf-8"))):
            if SQL.search(node.value):
                found.append(f"{path.name}:{node.lineno}: {node.value.strip()[:60]!r}")
    assert not found, "SQL belongs in gridgeo/registry or .sql files:\n" + "\n".join(found)


def test_the_grep_finds_sql():
    tree = ast.parse('x = "SELECT a FROM b"\ny = f"UPDATE t SET {s}"\n')
    assert sum(bool(SQL.search(n.value)) for n in _strings(tree)) == 2


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_cli_and_core_do_not_import_the_service():
    rooms = ["cli", "locate", "partition", "validate", "io"]
    bad = [
        f"{p.relative_to(PACKAGE)} imports {m}"
        for room in rooms
        for p in sorted((PACKAGE / room).glob("*.py"))
        if p.name != "serve.py"  # `gridgeo serve` starts the service
        for m in _imports(p)
        if m.startswith("gridgeo.service")
    ]
    assert not bad, "\n".join(bad)
