"""Connections, transactions and database errors for the registry (private plumbing)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gridgeo.database.connect import sqlalchemy_url
from gridgeo.errors import (
    ConflictError,
    DatabaseError,
    GridgeoError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from gridgeo.i18n import _

#: What registry functions accept as their database: an engine, a connection
#: (its transaction is used, or one is begun), or a database URL.
Bind = Engine | Connection | str


class SpatialIntegrityError(ConflictError):
    """Accepting would break the spatial integrity of the current grids (overlap, containment)."""


_SQLSTATE_ERRORS: dict[str, type[GridgeoError]] = {
    "GG404": NotFoundError,
    "GG409": ConflictError,
    "GG422": SpatialIntegrityError,
    "GG403": PermissionDeniedError,
    "23505": ConflictError,  # unique violation (e.g. a code issued twice concurrently)
    "40001": ConflictError,  # serialization failure
    "40P01": ConflictError,  # deadlock
}


@functools.lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """A (cached) SQLAlchemy engine for a database URL."""
    return sa.create_engine(sqlalchemy_url(url), pool_pre_ping=True)


def as_engine(bind: Bind) -> Engine | Connection:
    return engine_for(bind) if isinstance(bind, str) else bind


def _message(orig: BaseException) -> str:
    diag = getattr(orig, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = primary or str(orig).strip().splitlines()[0]
    hint = getattr(diag, "message_hint", None) if diag is not None else None
    return f"{text} ({hint})" if hint else text


def translate(exc: BaseException) -> GridgeoError | None:
    """The gridgeo error for a database exception, or ``None`` when it is not one."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    if not isinstance(orig, psycopg.Error):
        return None
    state = getattr(orig, "sqlstate", None) or ""
    cls = _SQLSTATE_ERRORS.get(state)
    if cls is not None:
        return cls(_message(orig))
    if isinstance(orig, psycopg.OperationalError):
        return DatabaseError(_("database unavailable: {error}").format(error=_message(orig)))
    if isinstance(orig, psycopg.DataError):  # a value the database cannot hold: the input's
        return InputError(_("a value cannot be stored: {error}").format(error=_message(orig)))
    return DatabaseError(
        _("registry database error [{state}]: {error}").format(state=state, error=_message(orig))
    )


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Re-raise database errors as :class:`GridgeoError` subclasses (by SQLSTATE)."""
    try:
        yield
    except (sa.exc.DBAPIError, psycopg.Error) as exc:
        mapped = translate(exc)
        if mapped is None:
            raise
        raise mapped from exc


@contextlib.contextmanager
def transaction(bind: Bind) -> Iterator[Connection]:
    """A connection inside a transaction: committed on success, rolled back on any error.

    With a :class:`Connection` already in a transaction, that transaction is used and
    the caller commits.
    """
    target = as_engine(bind)
    with translated_errors():
        if isinstance(target, Engine):
            with target.begin() as conn:
                yield conn
        elif target.in_transaction():
            yield target
        else:
            with target.begin():
                yield target


def raw(conn: Connection) -> psycopg.Connection:
    """The psycopg connection under a SQLAlchemy connection (for COPY)."""
    return conn.connection.driver_connection
