"""Who calls the map service: a bearer token → a :class:`~gridgeo.registry.users.Principal`.

Roles, actions and division scopes are those of the registry
(:mod:`gridgeo.registry.users`), the same for the CLI and the API. Calls without a
token act as the anonymous public; an unknown, revoked or expired token is a 401 with
the reason; an action the role may not take is 401 without a token and 403 otherwise.
"""

from __future__ import annotations

import hmac
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gridgeo.errors import AuthenticationError
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


async def get_caller(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller of a request: the public without a token, 401 for a bad token."""
    if creds is None:
        # HTTPBearer(auto_error=False) also says None for "Basic …" or a bare word: only a
        # request without any Authorization header is public; a malformed one is a 401.
        if request.headers.get("authorization", "").strip():
            raise AuthenticationError(
                "malformed Authorization header: use 'Authorization: Bearer <token>'"
            )
        return PUBLIC
    if creds.scheme.lower() != "bearer" or not creds.credentials:
        raise AuthenticationError("use 'Authorization: Bearer <token>'")
    return await run_in_threadpool(_lookup, request, creds.credentials)


CallerDep = Annotated[Principal, Depends(get_caller)]


def require_role(caller: Principal, roles: tuple[str, ...], what: str) -> None:
    """Refuse ``caller`` unless its role is one of ``roles``: 401 without a token (with
    ``WWW-Authenticate``), 403 otherwise; ``what`` names the action in the message."""
    if caller.role in roles:
        return
    if not caller.authenticated:
        raise HTTPException(
            401,
            f"{what} needs a bearer token of role {', '.join(roles)}",
            headers={"WWW-Authenticate": "Bearer"},
        )
    raise HTTPException(
        403, f"{what} is not allowed for role {caller.role} (needs {', '.join(roles)})"
    )
