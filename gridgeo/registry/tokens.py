"""API bearer tokens (``service.api_token``): stored as SHA-256 digests, revoked not deleted.

Functions take an open psycopg connection; the caller checks who may call them.
"""

from __future__ import annotations

from typing import Any

import psycopg

from gridgeo.errors import NotFoundError

TOKEN_KEYS = (
    "token_id",
    "role",
    "division_code",
    "label",
    "created_by",
    "created_at",
    "revoked_at",
)


def add_token(
    conn: psycopg.Connection,
    digest: str,
    *,
    role: str,
    division_code: str = "",
    label: str = "",
    created_by: str = "",
) -> int:
    """Store a token's digest with its role and division; returns its id."""
    return int(
        conn.execute(
            "INSERT INTO service.api_token (token_sha256, role, division_code, label, created_by) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING token_id",
            (digest, role, division_code, label, created_by),
        ).fetchone()[0]
    )


def list_tokens(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every token (without secrets), by id."""
    rows = conn.execute(
        "SELECT token_id, role, division_code, label, created_by, created_at, revoked_at "
        "FROM service.api_token ORDER BY token_id"
    ).fetchall()
    return [dict(zip(TOKEN_KEYS, r, strict=True)) for r in rows]


def revoke_token(conn: psycopg.Connection, token_id: int) -> None:
    """Revoke an active token now; :class:`NotFoundError` when there is none."""
    cur = conn.execute(
        "UPDATE service.api_token SET revoked_at = clock_timestamp() "
        "WHERE token_id = %s AND revoked_at IS NULL",
        (token_id,),
    )
    if cur.rowcount == 0:
        raise NotFoundError(f"no active token {token_id}")
