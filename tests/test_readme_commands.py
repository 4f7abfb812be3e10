"""The README's commands, walked verbatim on the shipped data (both districts).

A new user copies the ```bash blocks of README.md; every ``gridgeo`` command there must
succeed on the shipped data without extra flags (no ``--code-pattern``: the built inputs
declare their code scheme). Commands that start servers or the demo are skipped.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from gridgeo.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
_SKIP = ("serve", "demo", "db")  # servers, the whole demo, the database's lifecycle


def readme_commands() -> list[str]:
    """The ``gridgeo`` lines of README.md's ```bash blocks, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    # the section a new user follows on the shipped data; the registry examples elsewhere
    # (tokens, divisions, filing) need a database of one's own and are not replayed here
    text = text.split("## First steps on the shipped data", 1)[1].split("\n## ", 1)[0]
    lines: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line.startswith("gridgeo ") and line.split()[1] not in _SKIP:
                lines.append(line)
    return lines


def test_readme_has_commands_on_both_districts():
    cmds = readme_commands()
    assert any("daan" in c for c in cmds) and any("gongguan" in c for c in cmds)
    assert not any("--code-pattern" in c for c in cmds)


def test_readme_commands_succeed_verbatim(tmp_path, monkeypatch):
    (tmp_path / "data").symlink_to(ROOT / "data", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for line in readme_commands():
        res = runner.invoke(app, shlex.split(line)[1:], env={"COLUMNS": "120"})
        assert res.exit_code == 0, f"{line}\n{res.output}"
        assert "does not match the code pattern" not in res.output, line
    assert (tmp_path / "daan-report.html").stat().st_size > 0
    assert (tmp_path / "gongguan-grids.gpkg").exists()
