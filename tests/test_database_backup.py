"""``gridgeo db backup`` / ``restore``: a round trip gives the same rows and geometries."""

from __future__ import annotations

import psycopg
import pytest

from gridgeo.database.backup import backup, restore
from gridgeo.errors import InputError
from gridgeo.testing import seed_registry

pytestmark = pytest.mark.db

_TABLES = """
SELECT table_schema || '.' || table_name FROM information_schema.tables
 WHERE table_schema IN ('registry', 'service') AND table_type = 'BASE TABLE'
 ORDER BY 1
"""
_CHECKSUM = """
SELECT md5(string_agg(grid_code || ':' || version || ':' || encode(ST_AsEWKB(geom), 'hex'),
                      ',' ORDER BY grid_code, version))
  FROM registry.grid
"""


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(_TABLES).fetchall()]
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def _checksum(url: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute(_CHECKSUM).fetchone()[0]


@pytest.fixture(scope="module")
def seeded(db_url: str) -> str:
    """This module's database with a small registry (every test may run first)."""
    seed_registry(db_url, 3, 2, seed=11)
    return db_url


def test_round_trip_keeps_counts_geometry_and_roles(seeded, tmp_path):
    db_url = seeded
    counts, checksum = _counts(db_url), _checksum(db_url)
    assert counts["registry.grid"] > 0 and counts["registry.audit_log"] > 0
    out = backup(db_url, tmp_path / "gridgeo.dump")
    assert out.read_bytes()[:5] == b"PGDMP"
    with psycopg.connect(db_url) as conn:  # a change after the backup, lost by the restore
        conn.execute("INSERT INTO service.category (code, name) VALUES ('after', '备份后')")
    restore(db_url, out)
    assert _counts(db_url) == counts
    assert _checksum(db_url) == checksum
    with psycopg.connect(db_url) as conn:
        # the guards and the roles' grants came back too
        with pytest.raises(psycopg.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM registry.audit_log")
        conn.rollback()
        conn.execute("SET ROLE gridgeo_app")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE registry.audit_log DISABLE TRIGGER ALL")
        conn.rollback()
        conn.execute("SET ROLE gridgeo_app")
        assert conn.execute("SELECT count(*) FROM registry.grids_at(now())").fetchone()[0] > 0


def test_restore_refuses_what_is_not_a_backup(seeded, tmp_path):
    db_url = seeded
    bad = tmp_path / "not-a-dump.sql"
    bad.write_text("SELECT 1;")
    with pytest.raises(InputError) as err:
        restore(db_url, bad)
    assert [(p.rule, p.field) for p in err.value.problems] == [("backup.format", None)]
    with pytest.raises(InputError) as err:
        restore(db_url, tmp_path / "missing.dump")
    assert [(p.rule, p.field) for p in err.value.problems] == [("backup.read", None)]
    assert _counts(db_url)["registry.grid"] > 0  # nothing was touched


def test_cli_backup_and_restore(seeded, tmp_path):
    import os
    import subprocess
    import sys

    db_url = seeded
    env = {**os.environ, "GRIDGEO_DATABASE_URL": db_url, "COLUMNS": "200"}
    cli = [sys.executable, "-m", "gridgeo.cli.main", "db"]
    counts = _counts(db_url)
    dump = tmp_path / "cli.dump"
    r = subprocess.run([*cli, "backup", str(dump)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + r.stdout
    assert "备份完成" in r.stdout and dump.stat().st_size > 0
    r = subprocess.run(
        [*cli, "restore", str(tmp_path / "nope.dump"), "--yes"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "cannot read the backup" in r.stdout + r.stderr
    r = subprocess.run(
        [*cli, "restore", str(dump), "--yes"], env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr + r.stdout
    assert _counts(db_url) == counts
