"""Property-based fuzzing of every operation of the map service's OpenAPI document.

Shared by ``tests/test_service_fuzz_roles.py`` (a token of every role of
:data:`gridgeo.registry.users.ROLES` but ``admin``) and ``tests/test_service_fuzz_admin.py``
(no token, and the admin token). Each module has its own database
(the ``world`` of tests/test_service.py), so the admin's random deletes (departments,
tokens, coverage) never reach another module's tokens or data, in any test order.

Checks run on every fuzzed response: all of schemathesis' defaults (no 5xx, status code,
content type, headers and body as documented, malformed requests rejected, missing or
invalid authentication answered 401/403, ``Allow`` on 405) except:

- ``positive_data_acceptance``: several parameters are free text with a grammar OpenAPI
  cannot express (``at=`` ISO dates, ``crs=`` names/EPSG codes/WKT, ``bbox=`` number lists,
  CSV bodies), so a schema-valid request is often rightly a 400.

and, for a role the route refuses (:data:`ROLE_GATE`), that the answer is the refusal
itself — 401 without a token, 403 with one — whatever the generated body is.
"""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from test_service import ADMIN

from gridgeo.registry.users import ACTIONS, REVIEWER_ROLES, ROLES
from gridgeo.service import create_app
from gridgeo.service.settings import ServiceSettings
from gridgeo.settings import Settings

#: Examples per operation and role (derandomized: the same requests every run).
#: 58 operations: admin × 30 examples; no token × 30 where the route is open to it, × 5
#: where it is refused (:data:`REFUSED_EXAMPLES`); the eight other roles × 4.
#: A longer or a random hunt: GRIDGEO_FUZZ_EXAMPLES=500 GRIDGEO_FUZZ_RANDOM=1.
MAX_EXAMPLES = int(os.environ.get("GRIDGEO_FUZZ_EXAMPLES", "30"))
ROLE_EXAMPLES = int(os.environ.get("GRIDGEO_FUZZ_ROLE_EXAMPLES", "4"))
#: Generated examples per operation that refuses a request without a token (the answer is
#: 401 whatever is generated: a few show that the refusal comes first; schemathesis'
#: coverage phase still sends its boundary cases there too).
REFUSED_EXAMPLES = int(os.environ.get("GRIDGEO_FUZZ_REFUSED_EXAMPLES", "5"))
DERANDOMIZE = os.environ.get("GRIDGEO_FUZZ_RANDOM", "") != "1"


def _as_bytes(_ctx, value) -> bytes:
    """Request body of the text/csv and Arrow operations as generated (negative cases: anything)."""
    if isinstance(value, bytes):
        return value
    return (value if isinstance(value, str) else str(value)).encode("utf-8")


schemathesis.serializer("text/csv")(_as_bytes)
schemathesis.serializer("application/vnd.apache.arrow.stream")(_as_bytes)
schemathesis.serializer.alias("application/geo+json", "application/json")


def fuzz_schema():
    """An app not yet bound to a database, its settings, and its schemathesis schema.

    schemathesis parametrises at import time, from the app's own OpenAPI document; the
    module's fixture fills in ``settings.database_url`` before the app starts (the lifespan
    reads the settings object only then).
    """
    app_settings = Settings(database_url="postgresql://set-by-the-fuzz_app-fixture/none")
    app = create_app(
        app_settings,
        ServiceSettings(
            admin_token=ADMIN,
            token_cache_s=0.0,
            batch_max_bytes=1_000_000,
            batch_max_points=20_000,
            listen=False,
            # the fuzzer is one client sending thousands of requests, many with bad tokens:
            # rate limits (tested in test_service_limits.py) would answer it 429
            rate_limit_per_s=0,
            auth_failures_per_min=0,
        ),
    )
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = app
    return app, app_settings, schema


def fuzz_settings(examples: int):
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=DERANDOMIZE,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


_ANYONE = frozenset(ROLES)
_EDIT = frozenset({"county_editor", "admin"})
_READ_CHANGES = frozenset({"county_editor", *REVIEWER_ROLES, "admin"})
_REVIEW = frozenset({*REVIEWER_ROLES, "admin"})
_NOTIFIED = frozenset({"dispatcher", "county_editor", *REVIEWER_ROLES, "admin"})

#: (method, OpenAPI path) → the roles the route lets past its role check (the division
#: check comes after). Routes not listed take anyone. ``/incidents/{case_id}/actions/
#: {action}``: ``incidents.evaluate`` for ``evaluate``, else ``incidents.act``.
ROLE_GATE: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/locate/batch"): ACTIONS["locate.batch"].roles,
    ("POST", "/categories"): ACTIONS["matters.admin"].roles,
    ("PATCH", "/categories/{code}"): ACTIONS["matters.admin"].roles,
    ("DELETE", "/categories/{code}"): ACTIONS["matters.admin"].roles,
    ("POST", "/departments"): ACTIONS["matters.admin"].roles,
    ("PATCH", "/departments/{department_id}"): ACTIONS["matters.admin"].roles,
    ("DELETE", "/departments/{department_id}"): ACTIONS["matters.admin"].roles,
    ("POST", "/coverage"): ACTIONS["coverage.edit"].roles,
    ("DELETE", "/coverage/{coverage_id}"): ACTIONS["coverage.edit"].roles,
    ("GET", "/staff/check"): ACTIONS["contacts.private"].roles,
    ("GET", "/staff/roster"): ACTIONS["contacts.private"].roles,
    ("GET", "/matters/dispatch-check"): ACTIONS["contacts.private"].roles,
    ("GET", "/route"): ACTIONS["contacts.private"].roles,
    ("GET", "/admin/tokens"): ACTIONS["tokens.admin"].roles,
    ("POST", "/admin/tokens"): ACTIONS["tokens.admin"].roles,
    ("DELETE", "/admin/tokens/{token_id}"): ACTIONS["tokens.admin"].roles,
    ("GET", "/admin/index"): ACTIONS["index.admin"].roles,
    ("POST", "/admin/refresh"): ACTIONS["index.admin"].roles,
    ("POST", "/changes"): _EDIT,
    ("GET", "/changes"): _READ_CHANGES,
    ("GET", "/changes/{changeset_id}"): _READ_CHANGES,
    ("GET", "/changes/{changeset_id}/diff"): _READ_CHANGES,
    ("GET", "/changes/{changeset_id}/grids"): _READ_CHANGES,
    ("GET", "/changes/{changeset_id}/package"): _READ_CHANGES,
    ("POST", "/changes/{changeset_id}/file"): _EDIT,
    ("POST", "/changes/{changeset_id}/withdraw"): _EDIT,
    ("POST", "/changes/{changeset_id}/accept"): _REVIEW,
    ("POST", "/changes/{changeset_id}/return"): _REVIEW,
    ("GET", "/notifications"): _NOTIFIED,
    ("POST", "/notifications/{notification_id}/read"): _NOTIFIED,
    ("GET", "/edit/communities"): _EDIT,
    ("GET", "/edit/communities/{code}"): _EDIT,
    ("POST", "/edit/communities/{code}/draft"): _EDIT,
    ("POST", "/tracks"): _EDIT,
    ("GET", "/tracks/summary"): _READ_CHANGES,
    ("POST", "/incidents"): ACTIONS["incidents.report"].roles,
    ("GET", "/incidents"): ACTIONS["incidents.read"].roles,
    ("GET", "/incidents/notifications"): ACTIONS["incidents.notices"].roles,
    ("GET", "/incidents/stats"): ACTIONS["incidents.read"].roles,
    ("GET", "/incidents/{case_id}"): ACTIONS["incidents.read"].roles,
    ("POST", "/incidents/{case_id}/photos"): ACTIONS["incidents.act"].roles,
    ("GET", "/incidents/{case_id}/photos/{photo_id}"): ACTIONS["incidents.read"].roles,
}


def refuses_anonymous(ctx) -> bool:
    """Whether the operation of a schemathesis filter context is in :data:`ROLE_GATE` (a
    request without a token is refused 401 before anything else is read)."""
    key = (ctx.operation.method.upper(), ctx.operation.path)
    return key in ROLE_GATE or key == ("POST", "/incidents/{case_id}/actions/{action}")


def allowed_roles(case) -> frozenset[str]:
    """The roles the case's route lets past its role check."""
    key = (case.method.upper(), case.path)
    if key == ("POST", "/incidents/{case_id}/actions/{action}"):
        action = (case.path_parameters or {}).get("action")
        gate = "incidents.evaluate" if action == "evaluate" else "incidents.act"
        return ACTIONS[gate].roles
    return ROLE_GATE.get(key, _ANYONE)


def fuzz_one(case, role: str | None, token: str | None) -> None:
    """Send ``case`` as ``role`` (``None``: no token) and check the answer.

    A role the route refuses gets 401 (no token) or 403 (a token) whatever the generated
    parameters and body, so the refusal comes before the body is read; every answer passes
    schemathesis' checks (never a 5xx).
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = case.call(headers=headers)
    if (role or "public") not in allowed_roles(case):
        assert response.status_code == (403 if token else 401) or _parameters_refused(
            case, response
        ), (
            f"{case.method} {case.formatted_path} as {role or 'no token'}: "
            f"{response.status_code}, not a refusal: {response.text[:300]}\n"
            f"{case.as_curl_command()}"
        )
    case.validate_response(response, excluded_checks=[positive_data_acceptance])


#: Routes that may parse their body before the role check (a refused role with a malformed
#: body would get 400/422, not 403). None: every role-listed write route checks the role
#: before the body is read (``service.auth.RoleFirst``); kept as the place to name one.
BODY_BEFORE_ROLE: frozenset[tuple[str, str]] = frozenset()


def _parameters_refused(case, response) -> bool:
    """FastAPI's own 422 for the query, path or header parameters (checked before the
    route's role check; the body is not read), or its 400/422 for the body of a route in
    :data:`BODY_BEFORE_ROLE`."""
    known = (case.method.upper(), case.path) in BODY_BEFORE_ROLE
    if response.status_code == 400:
        return known and response.json().get("error") == "BadRequest"
    if response.status_code != 422:
        return False
    errors = response.json().get("detail") or []
    where = ("query", "path", "header", "body") if known else ("query", "path", "header")
    return bool(errors) and all(e["loc"][0] in where for e in errors)
