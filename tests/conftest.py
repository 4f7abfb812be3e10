"""Shared fixtures: the project's own PostGIS, a template database, a fresh database per module."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from gridgeo.database import PrivateInstance, apply_migrations, migrations_dir
from gridgeo.database.connect import libpq_url, with_database
from gridgeo.settings import Settings, get_settings

# Users get Simplified Chinese by default (GRIDGEO_LANG=zh_CN); the suite asserts the English
# texts unless a test asks for a language itself (tests/test_i18n.py checks both).
os.environ.setdefault("GRIDGEO_LANG", "en")

ROOT = Path(__file__).resolve().parent.parent
RAW_DATA = ROOT / "data" / "raw"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def pg_server(settings: Settings) -> str:
    """URL of the ``postgres`` database on the project's PostGIS (started if needed).

    Uses ``GRIDGEO_DATABASE_URL`` when set. Never skips: a test that needs the
    database fails when it cannot be had.
    """
    if settings.database_url:
        return with_database(libpq_url(settings.database_url), "postgres")
    instance = PrivateInstance(settings)
    instance.start()
    return instance.url(dbname="postgres")


def _schema_hash() -> str:
    digest = hashlib.sha1()
    for path in sorted(migrations_dir().glob("*.sql")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> str:
    """A template database with every migration applied, named after the schema's hash."""
    name = f"gridgeo_tpl_{_schema_hash()}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(727001)")
        try:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                try:
                    apply_migrations(with_database(pg_server, name))
                except Exception:
                    conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
                    raise
        finally:
            conn.execute("SELECT pg_advisory_unlock(727001)")
    return name


def _fresh_database(pg_server: str, template: str, label: str) -> Iterator[str]:
    safe = re.sub(r"[^a-z0-9_]", "_", label.lower())[-30:]
    name = f"t_{safe}_{os.getpid()}"
    ident = sql.Identifier(name)
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(727001)")
        try:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(ident, sql.Identifier(template))
            )
        finally:
            conn.execute("SELECT pg_advisory_unlock(727001)")
    try:
        yield with_database(pg_server, name)
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


@pytest.fixture(scope="module")
def db_url(pg_server: str, pg_template: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, migrated database for this test module (libpq URL); dropped afterwards."""
    yield from _fresh_database(pg_server, pg_template, request.module.__name__)


@pytest.fixture
def fresh_db_url(pg_server: str, pg_template: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    yield from _fresh_database(pg_server, pg_template, request.node.name)


#: A login of the least-privilege application role (sql/migrations/0900_roles.sql) for tests.
TEST_APP_LOGIN, TEST_APP_PASSWORD = "gridgeo_test_app", "gridgeo-test-app-password"


@pytest.fixture(scope="module")
def app_db_url(pg_server: str, db_url: str) -> str:
    """``db_url`` as the application role (not the owner): what the service and CLI use."""
    from urllib.parse import urlsplit, urlunsplit

    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(727002)")
        try:
            exists = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (TEST_APP_LOGIN,)
            ).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(TEST_APP_LOGIN), sql.Literal(TEST_APP_PASSWORD)
                )
            )
            conn.execute(sql.SQL("GRANT gridgeo_app TO {}").format(sql.Identifier(TEST_APP_LOGIN)))
        finally:
            conn.execute("SELECT pg_advisory_unlock(727002)")
    parts = urlsplit(db_url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{TEST_APP_LOGIN}:{TEST_APP_PASSWORD}@{host}"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data shipped inside the project (``data/raw``, checksummed; read-only)."""
    from gridgeo.demo.build import verify_raw

    verify_raw()
    return RAW_DATA


@pytest.fixture(scope="session")
def demo_district(tmp_path_factory: pytest.TempPathFactory):
    """``demo_district("daan")`` / ``("gongguan")``: the real demo district's layers and its
    partition (``tests/demo_districts.py``), made once per session; read-only."""
    from demo_districts import DemoDistricts

    return DemoDistricts(tmp_path_factory.mktemp("demo_districts"))


# Debian's chromium package (GRIDGEO_TEST_CHROMIUM: another binary)
CHROMIUM = os.environ.get("GRIDGEO_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through Playwright; fails (never skips) when it cannot run."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: install the Debian package `chromium` "
            "(apt-get install chromium fonts-noto-cjk)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright for Python is missing: .venv/bin/pip install playwright")
    with sync_playwright() as pw:
        try:
            chromium = pw.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
        except Exception as exc:
            pytest.fail(f"cannot launch {CHROMIUM} headless: {exc}")
        yield chromium
        chromium.close()


#: Fixtures that reach the project's PostGIS: a test using any of them is a `db` test.
DB_FIXTURES = frozenset({"pg_server", "pg_template", "db_url", "fresh_db_url"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses the database (through any fixture) with ``db``."""
    for item in items:
        if DB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)
