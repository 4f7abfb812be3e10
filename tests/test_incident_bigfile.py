"""A big CSV streamed with bounded memory: good rows kept, bad rows reported by line.

The import runs in a subprocess on a generated CSV of ~115 MB (40,000 rows in chunks of 1,000); its
peak RSS may grow by less than three quarters of the file's size while importing. The rows
are mostly ASCII, so a reader holding the file as Python strings would grow by more than
the file. Measured 2026-11-29 (80,000 rows of ~1,430 bytes, same chunks): +59 MiB for a 57 MiB
file, +56 MiB for a 114 MiB file — it follows the chunk, not the file. Since 2026-11-30 the rows
are twice as long and half as many (the same bytes, half the import's time). No timing is asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest
from incident_world import lonlat, seed_world

pytestmark = [pytest.mark.db, pytest.mark.slow]

ROWS = 40_000
PAD = "问题描述" + "x" * 2_860  # ~2,870 bytes of UTF-8 per row, mostly ASCII
BAD_LINES = (1_002, 20_002, 39_999)  # no longitude
DUPLICATE_LINE = 30_002  # repeats the id of line 2, in another chunk

_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    import psycopg
    from gridgeo.incidents.catalog import SnapshotCatalog
    from gridgeo.incidents.ingest import import_file
    from gridgeo.incidents.routing import load_snapshot

    url, path = sys.argv[1], Path(sys.argv[2])
    with psycopg.connect(url) as conn:
        snap = load_snapshot(conn)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rep = import_file(conn, path, snap, SnapshotCatalog(snap.categories), chunk_rows=1_000)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "before_kib": before, "after_kib": after, "counts": rep.counts(),
        "problems": sorted((p.row, p.rule) for p in rep.problems),
    }))
    """
)


def _write(path: Path, lon: float, lat: float) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("编号,经度,纬度,事项类别,上报时间,问题描述\n")
        for i in range(ROWS):
            line = i + 2
            ext = "M0" if line == DUPLICATE_LINE else f"M{i}"
            x = "" if line in BAD_LINES else f"{lon:.7f}"
            fh.write(f"{ext},{x},{lat:.7f},sanitation,2025-10-09 09:00,{PAD}{i}\n")


def test_a_big_csv_is_imported_with_bounded_memory(db_url, tmp_path):
    world = seed_world(db_url)
    lon, lat = lonlat(world["grids"][0][1])
    path = tmp_path / "big.csv"
    _write(path, lon, lat)
    size = path.stat().st_size
    assert size > 100 * 2**20
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, db_url, str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    grew = (out["after_kib"] - out["before_kib"]) * 1024
    assert grew < size * 3 / 4, (
        f"peak RSS grew by {grew / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB file"
    )
    bad = len(BAD_LINES) + 1
    assert out["counts"] == {"total": ROWS, "stored": ROWS - bad, "bad": bad, "known": 0}
    assert out["problems"] == sorted(
        [[line, "incident.coordinates.missing"] for line in BAD_LINES]
        + [[DUPLICATE_LINE, "incident.external_id.duplicate"]]
    )
    with psycopg.connect(db_url) as conn:
        stored = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE e.case_id IS NULL) FROM incidents.case c "
            "LEFT JOIN incidents.event e ON e.case_id = c.case_id AND e.action = 'report' "
            "WHERE c.external_id LIKE 'M%'"
        ).fetchone()
        indexes = {
            r[0]
            for r in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'incidents' "
                "AND tablename = 'case'"
            )
        }
    assert stored == (ROWS - bad, 0)  # every stored case has its report event
    # the import doubled the table: its secondary indexes were rebuilt, not lost
    assert indexes >= {
        "case_state_idx",
        "case_grid_idx",
        "case_category_idx",
        "case_reported_idx",
        "case_queue_idx",
        "case_external_id_key",
    }
