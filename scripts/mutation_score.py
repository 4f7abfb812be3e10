"""Print the mutation score of the last ``mutmut run`` (``make mutate``).

Reads ``mutants/mutmut-cicd-stats.json`` (written by ``mutmut export-cicd-stats``). The score
counts only mutants that were tested: killed (or timed out) over killed + survived. Mutants the
time budget did not reach are reported as not run, never as killed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

STATS = Path("mutants/mutmut-cicd-stats.json")


def main() -> int:
    if not STATS.is_file():
        print("make mutate: no mutation results (did mutmut run?)", file=sys.stderr)
        return 1
    s = json.loads(STATS.read_text())
    killed = int(s["killed"]) + int(s["timeout"])
    survived = int(s["survived"])
    tested = killed + survived
    other = sum(int(s[k]) for k in ("no_tests", "skipped", "suspicious", "segfault"))
    not_run = int(s["total"]) - tested - other
    score = 100.0 * killed / tested if tested else 0.0
    print(
        f"mutation score {score:.1f} % ({killed} killed of {tested} tested; "
        f"{survived} survived, {s['no_tests']} without a covering test, {not_run} not run "
        f"in the time budget) — list the survivors with: .venv/bin/mutmut results"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
