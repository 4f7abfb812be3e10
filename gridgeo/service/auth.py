"""Who calls the map service: a bearer token → a :class:`~gridgeo.registry.users.Principal`.

Roles, actions and division scopes are those of the registry
(:mod:`gridgeo.registry.users`), the same for the CLI and the API. Calls without a
token act as the anonymous public; an unknown, revoked or expired token is a 401 with
the reason; an action the role may not take is 401 without a token and 403 otherwise.

Write routes name their action with :func:`needs` on a router whose ``route_class`` is
:class:`RoleFirst`: the token is looked up and the role checked before the request body
is read (FastAPI parses a declared body before any dependency runs), so a caller of the
wrong role gets its 401/403 without sending, or the server reading, a large body.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gridgeo.errors import AuthenticationError
from gridgeo.i18n import _
from gridgeo.registry.tokens import authenticate, token_digest
from gridgeo.registry.users import PUBLIC, Principal

_bearer = HTTPBearer(auto_error=False, description="API token (gridgeo tokens create)")


class TokenCache:
    """Token lookups cached for a few seconds (revocation takes effect within ``ttl``)."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._data: dict[str, tuple[float, Principal]] = {}

    def get(self, digest: str) -> Principal | None:
        hit = self._data.get(digest)
        if hit and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        return None

    def put(self, digest: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        if len(self._data) > 10_000:
            self._data.clear()
        self._data[digest] = (time.monotonic(), principal)

    def clear(self) -> None:
        self._data.clear()


def _lookup(request: Request, token: str) -> Principal:
    app = request.app
    admin = app.state.service_settings.admin_token
    if admin is not None and hmac.compare_digest(token, admin.get_secret_value()):
        return Principal("bootstrap admin", "admin")
    digest = token_digest(token)
    cache: TokenCache = app.state.token_cache
    principal = cache.get(digest)
    if principal is None:
        principal = authenticate(app.state.db_url, token)
        cache.put(digest, principal)
    return principal


async def caller_of(request: Request) -> Principal:
    """The caller of a request, from its ``Authorization`` header (looked up once per request).

    The public without the header; 401 for a malformed header or a bad token.
    """
    known = getattr(request.state, "gridgeo_caller", None)
    if known is not None:
        return known
    header = request.headers.get("authorization", "").strip()
    if not header:
        principal = PUBLIC
    else:
        scheme, _sep, token = header.partition(" ")
        if scheme.lower() != "bearer":
            raise AuthenticationError(
                _("malformed Authorization header: use 'Authorization: Bearer <token>'")
            )
        if not token.strip():
            raise AuthenticationError(_("use 'Authorization: Bearer <token>'"))
        principal = await run_in_threadpool(_lookup, request, token.strip())
    request.state.gridgeo_caller = principal
    return principal


async def get_caller(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller of a request: the public without a token, 401 for a bad token.

    ``creds`` only documents the bearer scheme in OpenAPI; :func:`caller_of` reads the header.
    """
    return await caller_of(request)


CallerDep = Annotated[Principal, Depends(get_caller)]


def require_role(caller: Principal, action: str) -> None:
    """Refuse ``caller`` unless its role may take ``action`` (:data:`~gridgeo.registry.users.ACTIONS`).

    401 without a token (with ``WWW-Authenticate``), 403 otherwise; the message names the
    action and the roles that may take it. Division scopes are the route's to check.
    """
    caller.require(action)


_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])


def needs(action: str) -> Callable[[_Endpoint], _Endpoint]:
    """Mark an endpoint: its caller's role must allow ``action``, checked by :class:`RoleFirst`
    before the request body is read."""

    def mark(endpoint: _Endpoint) -> _Endpoint:
        endpoint.__gridgeo_action__ = action  # type: ignore[attr-defined]
        return endpoint

    return mark


class RoleFirst(APIRoute):
    """A route that checks the role of a :func:`needs`-marked endpoint before its body is read.

    FastAPI reads and parses a declared JSON body before any dependency runs; this check
    runs first, in front of FastAPI's own handler.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        action = getattr(self.endpoint, "__gridgeo_action__", None)
        if action is None:
            return handler

        async def role_first(request: Request) -> Response:
            require_role(await caller_of(request), action)
            return await handler(request)

        return role_first
