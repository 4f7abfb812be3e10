"""Tokens: a secret that authenticates one registered user (CLI and API alike).

Only the SHA-256 of a token is stored; the secret is shown once. A token has a name
(what it is for), an optional expiry, and can be revoked; a revoked or expired token is
refused with the reason and the attempt is written to the audit log with the user's name.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import text

from gridgeo.errors import AuthenticationError, InputError, NotFoundError, Problem
from gridgeo.i18n import _
from gridgeo.registry._db import Bind, transaction
from gridgeo.registry.users import (
    Principal,
    audit_event,
    create_user,
    get_principal,
    principal_of,
)

log = logging.getLogger(__name__)


def token_digest(token: str) -> str:
    """SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random token (shown once, stored only as its digest)."""
    return "gg_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class IssuedToken:
    """A new token: the secret is shown once and never stored."""

    token_id: int
    token: str
    name: str
    user: str
    role: str
    division_code: str | None
    expires_at: datetime | None
    department_id: int | None = None


def issue_token(
    bind: Bind,
    user: str,
    *,
    name: str,
    by: str,
    role: str | None = None,
    division_code: str | None = None,
    department_id: int | None = None,
    expires_at: datetime | None = None,
) -> IssuedToken:
    """Create a token for ``user``, registering the user first when ``role`` is given.

    Parameters
    ----------
    user
        The person the token authenticates.
    name
        What the token is for (kept and listed), e.g. ``"笔记本电脑"``.
    by
        Who creates it (audit log).
    role, division_code, department_id
        For a new user: their role, division and (role ``department``) department. For
        an existing user they must match (or be omitted).
    expires_at
        When the token stops working (default: never).

    Raises
    ------
    InputError
        For a bad role/division (see :func:`create_user`), a role or division that
        differs from the existing user's, or an expiry in the past.
    NotFoundError
        When ``user`` does not exist and no ``role`` is given.
    """
    if expires_at is not None:
        if expires_at.tzinfo is None:
            expires_at = expires_at.astimezone()
        if expires_at <= datetime.now(UTC):
            raise InputError(
                _("the expiry time {when} has passed").format(when=f"{expires_at:%Y-%m-%d %H:%M}"),
                [Problem(_("the expiry time has passed"), field="expires_at", rule="token.expiry")],
            )
    with transaction(bind) as conn:
        try:
            who = get_principal(conn, user)
        except NotFoundError:
            if role is None:
                raise NotFoundError(
                    _("no user {name}: a new user needs --role (and --division)").format(
                        name=repr(user)
                    )
                ) from None
            who = create_user(
                conn,
                user,
                role=role,
                division_code=division_code,
                department_id=department_id,
                by=by,
            )
        if (
            (role and role != who.role)
            or (division_code and str(division_code).strip() != who.division_code)
            or (department_id is not None and int(department_id) != who.department_id)
        ):
            raise InputError(
                _(
                    "user {name} is {role} {division} already; role and division do not "
                    "change with a token"
                ).format(name=who.name, role=who.role, division=who.division_code or ""),
                [Problem(_("differs from the registered user"), field="role", rule="token.user")],
            )
        secret = new_token()
        token_id = conn.execute(
            text(
                "INSERT INTO registry.user_token (token_sha256, user_id, name, created_by, "
                "expires_at) VALUES (:h, :u, :n, :by, :exp) RETURNING token_id"
            ),
            {"h": token_digest(secret), "u": who.user_id, "n": name, "by": by, "exp": expires_at},
        ).scalar_one()
        audit_event(
            conn, by, "token_create", {"token_id": token_id, "user": who.name, "name": name}
        )
    log.info("issued token %s (%s) for %s", token_id, name, who.name)
    return IssuedToken(
        int(token_id),
        secret,
        name,
        who.name,
        who.role,
        who.division_code,
        expires_at,
        who.department_id,
    )


def list_tokens(bind: Bind) -> pd.DataFrame:
    """Every token (never the secret) with its user, role, division and state."""
    cols = [
        "token_id",
        "name",
        "user",
        "role",
        "division_code",
        "department_id",
        "created_by",
        "created_at",
        "expires_at",
        "revoked_at",
        "state",
    ]
    with transaction(bind) as conn:
        rows = conn.execute(
            text(
                "SELECT t.token_id, t.name, u.name, u.role, u.division_code, u.department_id, "
                "t.created_by, "
                "t.created_at, t.expires_at, t.revoked_at, "
                "CASE WHEN t.revoked_at IS NOT NULL THEN 'revoked' "
                "WHEN t.expires_at <= now() THEN 'expired' ELSE 'active' END "
                "FROM registry.user_token t JOIN registry.app_user u USING (user_id) "
                "ORDER BY t.token_id"
            )
        ).all()
    df = pd.DataFrame(rows, columns=cols)
    df["department_id"] = df["department_id"].astype("Int64")
    return df


def revoke_token(bind: Bind, token_id: int, *, by: str) -> None:
    """Revoke an active token.

    Raises
    ------
    NotFoundError
        When there is no active token ``token_id``.
    """
    with transaction(bind) as conn:
        n = conn.execute(
            text(
                "UPDATE registry.user_token SET revoked_at = clock_timestamp(), revoked_by = :by "
                "WHERE token_id = :id AND revoked_at IS NULL"
            ),
            {"id": int(token_id), "by": by},
        ).rowcount
        if n != 1:
            raise NotFoundError(_("no valid token {id}").format(id=token_id))
        audit_event(conn, by, "token_revoke", {"token_id": int(token_id)})
    log.info("revoked token %s", token_id)


def authenticate(bind: Bind, token: str) -> Principal:
    """The user a token authenticates, with the scope of their division.

    Raises
    ------
    AuthenticationError
        For an empty or unknown token, and for a revoked or expired one (that attempt
        is written to the audit log with the user's name).
    """
    if not token or not token.strip():
        raise AuthenticationError(_("a token is needed: set GRIDGEO_TOKEN or use --token"))
    with transaction(bind) as conn:
        row = conn.execute(
            text(
                "SELECT t.token_id, t.name, t.revoked_at, t.expires_at, now(), "
                "u.user_id, u.name, u.role, u.division_code, u.department_id "
                "FROM registry.user_token t JOIN registry.app_user u USING (user_id) "
                "WHERE t.token_sha256 = :h"
            ),
            {"h": token_digest(token.strip())},
        ).one_or_none()
        if row is None:
            raise AuthenticationError(_("unknown token"))
        token_id, token_name, revoked, expires, now, *user = row
        reason = None
        if revoked is not None:
            reason = _("token {id} ({name}) was revoked on {when}").format(
                id=token_id, name=token_name, when=f"{revoked:%Y-%m-%d %H:%M %Z}"
            )
        elif expires is not None and expires <= now:
            reason = _("token {id} ({name}) expired on {when}").format(
                id=token_id, name=token_name, when=f"{expires:%Y-%m-%d %H:%M %Z}"
            )
        if reason is None:
            return principal_of(conn, user, token_id=int(token_id), token_name=token_name)
        audit_event(conn, user[1], "token_refused", {"token_id": int(token_id), "reason": reason})
    raise AuthenticationError(reason)
