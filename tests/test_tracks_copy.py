"""Patrol-track import by COPY: month partitions, the two-connection load, nothing half-written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg
import pytest
from sqlalchemy import create_engine, text

from gridgeo.database.connect import sqlalchemy_url
from gridgeo.registry import tracks as reg
from gridgeo.tracks import TrackPoints, clean_tracks

# Two workers, one fix every 60 s from 23:00 local on 30 Nov to 00:59 on 1 Dec 2026: 60 fixes
# each in November and 60 in December. W2's fixes 10..14 report a 80 m accuracy: cleaning drops
# them (limit 50 m), so 240 fixes are read and 235 kept.
T0 = pd.Timestamp("2026-11-30 23:00", tz="Asia/Shanghai").value / 1e9
NOV, DEC = "y2026m11", "y2026m12"


def two_month_walk() -> TrackPoints:
    n = 120
    t = np.tile(T0 + 60.0 * np.arange(n), 2)
    lon = np.tile(116.40 + 0.00005 * np.arange(n), 2)
    lat = np.repeat([39.90, 39.91], n)
    acc = np.full(2 * n, 5.0)
    acc[n + 10 : n + 15] = 80.0
    worker = np.repeat(np.array(["W1", "W2"], dtype=object), n)
    return TrackPoints(worker, t, lon, lat, acc, np.full(2 * n, np.nan), np.arange(2 * n), "walk")


@pytest.fixture
def db(fresh_db_url):
    """A fresh database; prepared transactions a failed test left behind are rolled back."""
    eng = create_engine(sqlalchemy_url(fresh_db_url))
    yield fresh_db_url, eng
    eng.dispose()
    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        for (gid,) in conn.execute(
            "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()"
        ).fetchall():
            conn.execute(f"ROLLBACK PREPARED '{gid}'")


def two_phase_allowed(eng) -> bool:
    with eng.connect() as conn:
        return int(conn.execute(text("SHOW max_prepared_transactions")).scalar_one()) > 0


def counts(eng) -> dict[str, int]:
    """Rows per month partition that exists (a missing one is absent from the dict)."""
    out = {}
    with eng.connect() as conn:
        for table in ("track_fix_raw", "track_fix"):
            for month in (NOV, DEC):
                part = f"restricted.{table}_{month}"
                if conn.execute(text("SELECT to_regclass(:p)"), {"p": part}).scalar() is not None:
                    out[f"{table}_{month}"] = conn.execute(
                        text(f"SELECT count(*) FROM {part}")
                    ).scalar()
    return out


def stored(eng, table: str, file_id: int) -> pd.DataFrame:
    cols = "row_no, worker_no, t, lon, lat" + (", accuracy" if table.endswith("raw") else "")
    cols += "" if table.endswith("raw") else ", piece"
    with eng.connect() as conn:
        rows = conn.execute(
            text(f"SELECT {cols} FROM restricted.{table} WHERE file_id = :f ORDER BY row_no"),
            {"f": file_id},
        ).all()
    return pd.DataFrame(rows)


def test_a_file_over_two_months_lands_in_both_months_the_same_either_way(db, monkeypatch):
    url, eng = db
    pts = two_month_walk()
    cleaned = clean_tracks(pts)
    assert len(cleaned.points) == 235
    monkeypatch.setattr(reg, "PARALLEL_MIN_FIXES", 0)  # the two-connection load, if allowed
    a = reg.import_tracks(url, pts, cleaned, sha256="a" * 64, name="a", crs="wgs84", by="t")
    with eng.begin() as conn:  # the caller's own transaction: always one connection
        b = reg.import_tracks(conn, pts, cleaned, sha256="b" * 64, name="b", crs="wgs84", by="t")
    again = reg.import_tracks(url, pts, cleaned, sha256="a" * 64, name="a", crs="wgs84", by="t")
    assert a["created"] and b["created"] and not again["created"]
    assert (a["fixes_read"], a["fixes_kept"]) == (240, 235)
    # W1 60 + W2 60 in each month; W2's five poor fixes (23:10-23:14) are November's
    assert counts(eng) == {
        f"track_fix_raw_{NOV}": 240,
        f"track_fix_raw_{DEC}": 240,
        f"track_fix_{NOV}": 230,
        f"track_fix_{DEC}": 240,
    }
    for table in ("track_fix_raw", "track_fix"):
        pd.testing.assert_frame_equal(
            stored(eng, table, a["file_id"]), stored(eng, table, b["file_id"])
        )
    with eng.connect() as conn:
        idx = conn.execute(
            text(
                "SELECT tablename FROM pg_indexes WHERE schemaname = 'restricted' "
                "AND indexdef LIKE '%(worker_no, t)' AND tablename LIKE 'track_fix%_y2026m1_'"
            )
        ).scalars()
        assert sorted(idx) == sorted(counts(eng))
        assert conn.execute(text("SELECT count(*) FROM pg_prepared_xacts")).scalar() == 0
    raw = stored(eng, "track_fix_raw", a["file_id"])
    assert raw["row_no"].tolist() == list(range(240))
    assert (raw["accuracy"] == 80).sum() == 5


@pytest.mark.parametrize("failing", ["track_fix_raw_", "track_fix_y"])
def test_a_failure_on_either_connection_leaves_nothing(db, monkeypatch, failing):
    url, eng = db
    pts = two_month_walk()
    monkeypatch.setattr(reg, "PARALLEL_MIN_FIXES", 0)
    copy = reg._binary_copy

    def copy_then_fail(conn, target, *args, **kw):
        copy(conn, target, *args, **kw)
        if target.startswith(failing):
            raise RuntimeError(f"disk full while loading {target}")

    monkeypatch.setattr(reg, "_binary_copy", copy_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        reg.import_tracks(url, pts, clean_tracks(pts), sha256="c" * 64, name="c", crs="w", by="t")
    assert counts(eng) == {}  # no month partition, no fix
    with eng.connect() as conn:
        for table in ("track_file", "track_worker"):
            assert conn.execute(text(f"SELECT count(*) FROM restricted.{table}")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM pg_prepared_xacts")).scalar() == 0


def test_an_interrupted_two_phase_import_is_finished_by_its_file_row(db, monkeypatch):
    url, eng = db
    if not two_phase_allowed(eng):
        pytest.skip("this server allows no prepared transactions (restart it: gridgeo db down/up)")
    pts = two_month_walk()
    cleaned = clean_tracks(pts)
    monkeypatch.setattr(reg, "PARALLEL_MIN_FIXES", 0)
    finish = reg._finish_clean
    # the process "dies" after the main transaction committed, before COMMIT PREPARED
    monkeypatch.setattr(reg, "_finish_clean", lambda pending, commit: pending[0].invalidate())
    a = reg.import_tracks(url, pts, cleaned, sha256="d" * 64, name="d", crs="w", by="t")
    with psycopg.connect(url, autocommit=True) as conn:
        [(gid,)] = conn.execute("SELECT gid FROM pg_prepared_xacts").fetchall()
    assert gid == f"gridgeo-tracks-clean-{a['file_id']}"
    monkeypatch.setattr(reg, "_finish_clean", finish)
    assert reg.resolve_in_doubt(url) == 1  # the file row is there: committed
    assert counts(eng)[f"track_fix_{DEC}"] == 120
    assert len(
        reg.load_fixes(url, pd.Timestamp("2026-12-01").date(), pd.Timestamp("2026-12-01").date())
    )

    # a prepared cleaned load whose import is still running (advisory lock held) is left
    # alone; once that import is gone without its file row, it is rolled back
    with psycopg.connect(url) as running, psycopg.connect(url) as other:
        running.execute("SELECT pg_advisory_xact_lock(727020, 999)")
        other.execute("SELECT 1")
        other.execute("PREPARE TRANSACTION 'gridgeo-tracks-clean-999'")
        assert reg.resolve_in_doubt(url) == 0
        running.rollback()
    assert reg.resolve_in_doubt(url) == 1
    with eng.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pg_prepared_xacts")).scalar() == 0


def test_an_older_instance_gets_the_server_settings_it_lacks_before_its_next_start(
    tmp_path, monkeypatch
):
    from gridgeo.database.instance import SERVER_SETTINGS, PrivateInstance
    from gridgeo.settings import Settings

    monkeypatch.setattr(PrivateInstance, "as_root", property(lambda self: False))
    inst = PrivateInstance(Settings(home=tmp_path))
    data = tmp_path / "pg"
    data.mkdir()
    inst._save_state(data_dir=str(data))
    conf = data / "postgresql.auto.conf"
    conf.write_text("# made by an older gridgeo\nfsync = off\nwal_level = 'replica'\n")
    inst._add_server_settings()
    inst._add_server_settings()  # idempotent
    lines = conf.read_text().splitlines()
    assert lines[:3] == ["# made by an older gridgeo", "fsync = off", "wal_level = 'replica'"]
    # what the owner set is kept (a WAL level of their own keeps its WAL senders too); only
    # the missing settings are added, once
    assert lines[3:] == [
        f"max_prepared_transactions = '{SERVER_SETTINGS['max_prepared_transactions']}'"
    ]
    conf.write_text("fsync = off\n")
    inst._add_server_settings()
    assert conf.read_text().splitlines()[1:] == [f"{k} = '{v}'" for k, v in SERVER_SETTINGS.items()]
