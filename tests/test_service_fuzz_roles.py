"""Fuzzing every operation of the map service with a token of every role but the admin.

A token of each role of :data:`gridgeo.registry.users.ROLES` (no token and ``admin``:
tests/test_service_fuzz_admin.py), each scoped to a real division of the seeded
registry: the dispatcher unscoped, the county editor and the district-centre reviewer of
county 110101 (the grids' county), the city reviewer of 1101, the province reviewer of 11,
a department user of a registered department in 110101 and a grid worker of the first
grid's community. Every answer is checked as in :mod:`service_fuzzing`: never a 5xx, and a
route the role may not use answers 401/403 whatever the request carries.
"""

from __future__ import annotations

import pytest
import test_service
from schemathesis.python import asgi as st_asgi
from service_fuzzing import ROLE_EXAMPLES, fuzz_one, fuzz_schema, fuzz_settings
from test_service import ADMIN

from gridgeo.registry.users import ROLES

pytestmark = pytest.mark.db

#: The seeded registry of tests/test_service.py on this module's own database.
world = test_service.world

APP, _SETTINGS, schema = fuzz_schema()
# Eight roles × every operation: schemathesis' coverage phase (a fixed set of boundary
# cases per operation, whatever max_examples says) is run once, without a token and as
# admin (tests/test_service_fuzz_admin.py); here the examples and the generated ones only.
schema.config.phases.coverage.enabled = False

#: every role with a token of its own (the admin's: ADMIN, fuzzed in its own module)
FUZZ_ROLES = [r for r in ROLES if r != "admin"]


@pytest.fixture(scope="module")
def role_tokens(world) -> dict[str, str]:
    """A token of every role in :data:`FUZZ_ROLES`, scoped as the module says."""
    client, h = world["client"], {"Authorization": f"Bearer {ADMIN}"}
    scoped = {
        "county_editor": {"division_code": "110101"},
        "centre_reviewer": {"division_code": "110101"},
        "city_reviewer": {"division_code": "1101"},
        "province_reviewer": {"division_code": "11"},
        "department": {
            "division_code": "110101",
            "department_id": world["deps"][0]["department_id"],
        },
        "grid_worker": {"division_code": world["codes"][0][:12]},
    }
    tokens: dict[str, str] = {}
    for role in FUZZ_ROLES:
        r = client.post(
            "/admin/tokens",
            json={"user": f"fuzz-{role}", "role": role, **scoped.get(role, {})},
            headers=h,
        )
        assert r.status_code == 201, r.text
        tokens[role] = r.json()["token"]
    return tokens


@pytest.fixture(scope="module")
def fuzz_app(world, db_url, role_tokens):
    """APP on this module's database, seeded by ``world`` (grids, staff, matters, tokens)."""
    _SETTINGS.database_url = db_url
    with st_asgi.get_client(APP):  # starts the lifespan; it stays up for the module
        pass
    yield APP
    st_asgi.shutdown_lifespans()


@schema.parametrize()
@fuzz_settings(ROLE_EXAMPLES)
def test_fuzz_every_operation_as_every_role(fuzz_app, role_tokens, case):
    # every generated request is sent once per role: the same requests for all eight, and
    # one generation per operation instead of eight
    for role in FUZZ_ROLES:
        fuzz_one(case, role, role_tokens[role])
