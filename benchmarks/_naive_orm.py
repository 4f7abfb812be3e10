"""SQLAlchemy 2 / GeoAlchemy2 mappings of the registry tables: the naive ORM baseline that
``bench_registry.py`` compares the registry with (not part of the package).

The registry's own writes use bulk SQL (COPY, set-based
functions), see :mod:`gridgeo.registry.load` and ``registry.accept_changeset``.
The geometry columns carry the registry SRID (``registry.meta`` key ``srid``), so
they are mapped without a fixed SRID.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, ForeignKey, MetaData, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData(schema="registry")


_GEOM = Geometry(srid=-1, spatial_index=False)


class Division(Base):
    __tablename__ = "divisions"
    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str]
    level: Mapped[str]
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("divisions.code"))
    kind: Mapped[str | None]
    geom: Mapped[Any] = mapped_column(_GEOM, nullable=True)


class ChangeSetRow(Base):
    __tablename__ = "changeset"
    changeset_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    county_code: Mapped[str]
    title: Mapped[str] = mapped_column(default="")
    reason: Mapped[str] = mapped_column(default="")
    source: Mapped[str | None]
    status: Mapped[str] = mapped_column(default="draft")
    created_by: Mapped[str]
    created_at: Mapped[datetime | None] = mapped_column(server_default="now()")
    filed_by: Mapped[str | None]
    filed_at: Mapped[datetime | None]
    decided_by: Mapped[str | None]
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None]
    validation: Mapped[Any] = mapped_column(JSONB, nullable=True)
    lock_version: Mapped[int] = mapped_column(default=0)


class ChangeSetItem(Base):
    __tablename__ = "changeset_item"
    item_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    changeset_id: Mapped[int] = mapped_column(ForeignKey("changeset.changeset_id"))
    seq: Mapped[int]
    action: Mapped[str]
    note: Mapped[str] = mapped_column(default="")
    payload: Mapped[Any] = mapped_column(JSONB, nullable=True)


class ChangeSetOld(Base):
    __tablename__ = "changeset_old"
    item_id: Mapped[int] = mapped_column(ForeignKey("changeset_item.item_id"))
    changeset_id: Mapped[int] = mapped_column(
        ForeignKey("changeset.changeset_id"), primary_key=True
    )
    grid_code: Mapped[str] = mapped_column(primary_key=True)
    base_version: Mapped[int]
    retire: Mapped[bool]


class ChangeSetNew(Base):
    __tablename__ = "changeset_new"
    item_id: Mapped[int] = mapped_column(ForeignKey("changeset_item.item_id"))
    changeset_id: Mapped[int] = mapped_column(
        ForeignKey("changeset.changeset_id"), primary_key=True
    )
    grid_code: Mapped[str] = mapped_column(primary_key=True)
    grid_name: Mapped[str]
    grid_type: Mapped[str]
    community_code: Mapped[str]
    households: Mapped[int] = mapped_column(default=0)
    population: Mapped[int] = mapped_column(default=0)
    geom: Mapped[Any] = mapped_column(_GEOM)


class CodeLedger(Base):
    __tablename__ = "code_ledger"
    code: Mapped[str] = mapped_column(Text, primary_key=True)
    community_code: Mapped[str]
    seq: Mapped[int]
    status: Mapped[str]
    changeset_id: Mapped[int | None] = mapped_column(ForeignKey("changeset.changeset_id"))
    reserved_at: Mapped[datetime | None] = mapped_column(server_default="now()")
    issued_at: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]
    retired_by: Mapped[int | None]


class Grid(Base):
    __tablename__ = "grid"
    grid_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    grid_code: Mapped[str] = mapped_column(ForeignKey("code_ledger.code"))
    version: Mapped[int]
    grid_name: Mapped[str]
    grid_type: Mapped[str]
    community_code: Mapped[str] = mapped_column(ForeignKey("divisions.code"))
    households: Mapped[int] = mapped_column(default=0)
    population: Mapped[int] = mapped_column(default=0)
    geom: Mapped[Any] = mapped_column(_GEOM)
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime | None]
    opened_by: Mapped[int | None]
    closed_by: Mapped[int | None]


class AuditEntry(Base):
    __tablename__ = "audit_log"
    audit_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime | None] = mapped_column(server_default="now()")
    actor: Mapped[str]
    role: Mapped[str | None]
    action: Mapped[str]
    changeset_id: Mapped[int | None]
    reason: Mapped[str | None]
    detail: Mapped[Any] = mapped_column(JSONB, nullable=True)
