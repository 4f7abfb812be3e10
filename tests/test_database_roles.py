"""Least-privilege roles (sql/migrations/0900_roles.sql) on a fresh migrated database.

Each check runs as the role itself (``SET ROLE``: privileges are those of the current
role), so what is refused is what a connection logged in as that role is refused.
"""

from __future__ import annotations

import psycopg
import pytest

pytestmark = pytest.mark.db


def _as(url: str, role: str, statement: str, params=()) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(f"SET ROLE {role}")
        conn.execute(statement, params)


@pytest.fixture(scope="module")
def audited(db_url):
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO registry.audit_log (actor, role, action, detail) "
            "VALUES ('someone', 'admin', 'test', '{}'::jsonb)"
        )
    return db_url


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE registry.audit_log DISABLE TRIGGER audit_log_append_only",
        "ALTER TABLE registry.audit_log DISABLE TRIGGER ALL",
        "SET session_replication_role = replica",
        "UPDATE registry.audit_log SET actor = 'nobody'",
        "DELETE FROM registry.audit_log",
        "TRUNCATE registry.audit_log",
        # a forged or back-dated entry straight into the table
        "INSERT INTO registry.audit_log (at, actor, role, action) "
        "VALUES ('2000-01-01', 'someone else', 'city', 'accept')",
        "DROP TABLE registry.grid",
        "ALTER TABLE registry.grid ADD COLUMN x int",
        "DELETE FROM registry.code_ledger",
        "CREATE TABLE public.evil (x int)",
        "CREATE FUNCTION registry.evil() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    ],
)
def test_application_role_cannot_touch_structure_or_rewrite_the_audit_log(audited, statement):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _as(audited, "gridgeo_app", statement)


def test_application_role_reads_writes_rows_and_appends_to_the_audit_log(audited):
    with psycopg.connect(audited) as conn:
        conn.execute("SET ROLE gridgeo_app")
        conn.execute("INSERT INTO service.category (code, name) VALUES ('roles_ok', '测试')")
        conn.execute("UPDATE service.category SET name = '测试2' WHERE code = 'roles_ok'")
        conn.execute("DELETE FROM service.category WHERE code = 'roles_ok'")
        # only through the owner's function, which stamps the database's own time
        conn.execute("SELECT registry.append_audit('app', 'admin', 'test')")
        assert conn.execute("SELECT count(*) FROM registry.audit_log").fetchone()[0] == 2
        last = conn.execute(
            "SELECT at > now() - interval '1 minute' FROM registry.audit_log "
            "ORDER BY audit_id DESC LIMIT 1"
        ).fetchone()[0]
        assert last
        assert conn.execute("SELECT registry.srid()").fetchone() is not None


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT registry.accept_changeset(1, 'someone else')",
        "SELECT registry.return_changeset(1, 'someone else', 'no')",
        "SELECT registry.withdraw_changeset(1, 'someone else', 'no')",
        "SELECT registry.append_audit('someone else', 'city', 'accept')",
        "INSERT INTO registry.audit_log (actor, role, action) VALUES ('x', 'admin', 'forged')",
        "INSERT INTO service.category (code, name) VALUES ('x', 'x')",
        "UPDATE registry.grid SET grid_name = 'x'",
        # users and their tokens live in the registry, which readers otherwise see
        "SELECT * FROM registry.user_token",
        "SELECT * FROM registry.app_user",
    ],
)
def test_read_only_role_cannot_write_call_workflow_or_read_tokens(audited, statement):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _as(audited, "gridgeo_read", statement)


def test_read_only_role_reads_the_public_registry(audited):
    with psycopg.connect(audited) as conn:
        conn.execute("SET ROLE gridgeo_read")
        conn.execute("SELECT count(*) FROM registry.grids_at(now())").fetchone()
        conn.execute("SELECT count(*) FROM service.category").fetchone()
        conn.execute(
            "SELECT registry.served_geom(ST_MakeEnvelope(0, 0, 1, 1, registry.srid()), 0.1, 4)"
        ).fetchone()


def test_tables_of_later_migrations_get_the_grants(audited):
    """ALTER DEFAULT PRIVILEGES: a table the owner creates after 0900 is usable by the app."""
    with psycopg.connect(audited) as conn:
        conn.execute("CREATE TABLE registry.later_table (x int)")
        conn.commit()
        conn.execute("SET ROLE gridgeo_app")
        conn.execute("INSERT INTO registry.later_table VALUES (1)")
        conn.execute("RESET ROLE")
        conn.execute("SET ROLE gridgeo_read")
        assert conn.execute("SELECT x FROM registry.later_table").fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO registry.later_table VALUES (2)")
