"""Texts users read stand on their own: no tracker issues, no spec file, no ../shared/.

A user's clone holds neither the project's issue tracker nor its working notes, so the
package's strings, the README and docs/ cite regulations by name and say nothing of
issues, SPEC.md or the seeds folder.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_SUFFIXES = {".py", ".toml", ".md", ".html", ".js", ".json", ".css", ".txt"}
_FORBIDDEN = re.compile(
    r"\bSPEC\b|shared/|\bissues? ?#?\d+|\b(noticeboards|incidents|patrol|tokens) issue"
    r"|not delivered yet|\bseeds? ?(\d{3}\b|/)",
)


def _user_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for top in ("gridgeo", "webmap"):
        files += [
            p
            for p in sorted((ROOT / top).rglob("*"))
            if p.suffix in _SUFFIXES and "vendor" not in p.parts and ".min." not in p.name
        ]
    return files


def test_no_tracker_or_spec_references_in_user_texts():
    found = []
    for path in _user_files():
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _FORBIDDEN.search(line):
                found.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()}")
    assert not found, "\n".join(found)
