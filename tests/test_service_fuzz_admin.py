"""Fuzzing every operation of the map service without a token and with the admin token.

On a database of its own (the ``world`` of tests/test_service.py): the admin's generated
deletes and patches (departments, categories, coverage, tokens) reach no other module's
data. After the module, the service must still locate and report healthy (checked when the
app is shut down, so it holds in any test order). Checks: :mod:`service_fuzzing`.
"""

from __future__ import annotations

import pytest
import test_service
from schemathesis.python import asgi as st_asgi
from service_fuzzing import (
    MAX_EXAMPLES,
    REFUSED_EXAMPLES,
    fuzz_one,
    fuzz_schema,
    fuzz_settings,
    refuses_anonymous,
)
from test_service import ADMIN, TO_WGS, _grids, _inner_point

pytestmark = pytest.mark.db

#: The seeded registry of tests/test_service.py on this module's own database.
world = test_service.world

APP, _SETTINGS, schema = fuzz_schema()
#: The operations open to a request without a token, and those that refuse it (401).
open_ops, refusing_ops = (
    schema.exclude(func=refuses_anonymous),
    schema.include(func=refuses_anonymous),
)


def _still_serves(app, world) -> None:
    """The fuzzing (random deletes and patches) left a service that locates and is healthy."""
    lon, lat = TO_WGS.transform(*_inner_point(_grids(world["url"])[0][1]))
    with st_asgi.get_client(app) as client:
        r = client.get("/locate", params={"lon": lon, "lat": lat})
        assert r.status_code == 200 and r.json()["located"] is True, r.text
        assert client.get("/health").json()["status"] == "ok"


@pytest.fixture(scope="module")
def fuzz_app(world, db_url):
    """APP on this module's database; after the module's fuzzing it must still serve."""
    _SETTINGS.database_url = db_url
    with st_asgi.get_client(APP):  # starts the lifespan; it stays up for the module
        pass
    yield APP
    try:
        _still_serves(APP, world)
    finally:
        st_asgi.shutdown_lifespans()


@open_ops.parametrize()
@fuzz_settings(MAX_EXAMPLES)
def test_fuzz_every_open_operation_without_a_token(fuzz_app, case):
    fuzz_one(case, None, None)


@refusing_ops.parametrize()
@fuzz_settings(REFUSED_EXAMPLES)
def test_fuzz_every_refusing_operation_without_a_token(fuzz_app, case):
    fuzz_one(case, None, None)


@schema.parametrize()
@fuzz_settings(MAX_EXAMPLES)
def test_fuzz_every_operation_as_admin(fuzz_app, case):
    fuzz_one(case, "admin", ADMIN)


def test_fuzzed_app_serves(fuzz_app, world):
    """Before, between or after the fuzzing (any order): the service locates."""
    _still_serves(fuzz_app, world)
