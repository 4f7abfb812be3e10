"""Roles and bearer tokens of the map service.

=============  ==========================================================================
role           may
=============  ==========================================================================
public         (no token) locate one point; grid names, extents, types and *posted*
               contacts; collections and tiles without household/population figures;
               the matter list and department names/phones
dispatcher     + all contacts (also unposted), batch locate
county_editor  + household/population figures; assign departments to categories on the
               grids of the own county (token's ``division_code`` is the county code)
city_reviewer  + the same for every county, and coverage by polygons
admin          + create/change/delete departments and categories, manage tokens
department     incidents: read and act on the cases of its department (division_code = id)
grid_worker    incidents: report, read and verify cases in its grids (division_code prefix)
=============  ==========================================================================

Calls without a token act as ``public``; a call the role may not make gets 401 when no
token was sent and 403 otherwise. Only the SHA-256 of a token is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Annotated

import psycopg
from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gridgeo.errors import DatabaseError

ROLES = (
    "public",
    "dispatcher",
    "county_editor",
    "city_reviewer",
    "admin",
    "department",  # incidents: division_code = department id
    "grid_worker",  # incidents: division_code = grid-code prefix
)

# capability → roles that have it
CAPABILITIES: dict[str, frozenset[str]] = {
    "private_contacts": frozenset({"dispatcher", "county_editor", "city_reviewer", "admin"}),
    "batch": frozenset({"dispatcher", "county_editor", "city_reviewer", "admin"}),
    "population": frozenset({"county_editor", "city_reviewer", "admin"}),
    "coverage_edit": frozenset({"county_editor", "city_reviewer", "admin"}),
    "coverage_polygon": frozenset({"city_reviewer", "admin"}),
    "matter_admin": frozenset({"admin"}),
    "token_admin": frozenset({"admin"}),
}

_bearer = HTTPBearer(auto_error=False, description="API token (ask an admin)")


@dataclass(frozen=True)
class Caller:
    """Who is calling: role, county/city code for scoped roles, and whether a token was sent."""

    role: str = "public"
    division_code: str = ""
    label: str = "anonymous"
    authenticated: bool = False

    def can(self, capability: str) -> bool:
        return self.role in CAPABILITIES[capability]

    def require(self, capability: str, what: str) -> None:
        """Raise 401 (no token) or 403 (token without the capability)."""
        if self.can(capability):
            return
        allowed = ", ".join(r for r in ROLES if r in CAPABILITIES[capability])
        if not self.authenticated:
            raise HTTPException(
                status_code=401,
                detail=f"{what} needs a bearer token of role {allowed}",
                headers={"WWW-Authenticate": "Bearer"},
            )
        raise HTTPException(
            status_code=403, detail=f"{what} is not allowed for role {self.role} (needs {allowed})"
        )

    def require_grid_scope(self, grid_code: str) -> None:
        """County editors may only act on grids whose code starts with their county code."""
        if self.role == "county_editor" and not str(grid_code).startswith(self.division_code):
            raise HTTPException(
                status_code=403,
                detail=f"grid {grid_code} is outside county {self.division_code} of this token",
            )


def token_digest(token: str) -> str:
    """SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random token (shown once, stored only as its digest)."""
    return "gg_" + secrets.token_urlsafe(32)


class TokenCache:
    """Token lookups cached for a few seconds (revocation takes effect within ``ttl``)."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._data: dict[str, tuple[float, Caller | None]] = {}

    def get(self, digest: str) -> tuple[bool, Caller | None]:
        hit = self._data.get(digest)
        if hit and time.monotonic() - hit[0] < self.ttl:
            return True, hit[1]
        return False, None

    def put(self, digest: str, caller: Caller | None) -> None:
        if len(self._data) > 10_000:
            self._data.clear()
        self._data[digest] = (time.monotonic(), caller)

    def clear(self) -> None:
        self._data.clear()


def _lookup(request: Request, token: str) -> Caller | None:
    app = request.app
    admin = app.state.service_settings.admin_token
    if admin is not None and hmac.compare_digest(token, admin.get_secret_value()):
        return Caller(role="admin", label="bootstrap admin", authenticated=True)
    digest = token_digest(token)
    cache: TokenCache = app.state.token_cache
    found, caller = cache.get(digest)
    if found:
        return caller
    try:
        with app.state.pool.connection(timeout=10) as conn:
            row = conn.execute(
                "SELECT role, division_code, label FROM service.api_token "
                "WHERE token_sha256 = %s AND revoked_at IS NULL",
                (digest,),
            ).fetchone()
    except (psycopg.Error, TimeoutError) as exc:
        raise DatabaseError(f"cannot check the token: {exc}") from None
    caller = (
        Caller(role=row[0], division_code=row[1], label=row[2], authenticated=True) if row else None
    )
    cache.put(digest, caller)
    return caller


async def get_caller(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The caller of a request: ``public`` without a token, 401 for an unknown token."""
    if creds is None:
        # HTTPBearer(auto_error=False) also says None for "Basic …" or a bare word: only a
        # request without any Authorization header is public; a malformed one is a 401.
        if request.headers.get("authorization", "").strip():
            raise HTTPException(
                401,
                "malformed Authorization header: use 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Caller()
    if creds.scheme.lower() != "bearer" or not creds.credentials:
        raise HTTPException(
            401, "use 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": "Bearer"}
        )
    caller = await run_in_threadpool(_lookup, request, creds.credentials)
    if caller is None:
        raise HTTPException(401, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"})
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]
