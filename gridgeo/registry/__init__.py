"""The PostGIS grid registry: versioned grids, change sets and filing with the city.

Schema and database-side rules live in ``sql/migrations/0002_registry.sql`` and
``0003_registry_workflow.sql`` (schema ``registry``). Functions here take a
database (SQLAlchemy engine or connection, or a URL) and plain data.
"""

from gridgeo.registry._db import Bind, SpatialIntegrityError, engine_for
from gridgeo.registry.assignments import contacts_at, draft_assignments, register_departments
from gridgeo.registry.diff import OldRef, PlannedItem, plan_changes
from gridgeo.registry.divisions import register_division
from gridgeo.registry.history import grid_at_point, grid_history, grids_at
from gridgeo.registry.load import LoadResult, load_grids, registry_srid
from gridgeo.registry.repartition import RepartitionResult, repartition_community
from gridgeo.registry.tokens import authenticate, issue_token, list_tokens, revoke_token
from gridgeo.registry.users import ROLES, Principal, create_user, get_principal
from gridgeo.registry.workflow import (
    ChangeSet,
    accept_changeset,
    audit_log,
    changeset_grids,
    changeset_items,
    file_changeset,
    get_changeset,
    list_changesets,
    return_changeset,
    validate_changeset,
    withdraw_changeset,
)

__all__ = [
    "ROLES",
    "Bind",
    "ChangeSet",
    "LoadResult",
    "OldRef",
    "PlannedItem",
    "Principal",
    "RepartitionResult",
    "SpatialIntegrityError",
    "accept_changeset",
    "audit_log",
    "authenticate",
    "changeset_grids",
    "changeset_items",
    "contacts_at",
    "create_user",
    "draft_assignments",
    "engine_for",
    "file_changeset",
    "get_changeset",
    "get_principal",
    "grid_at_point",
    "grid_history",
    "grids_at",
    "issue_token",
    "list_changesets",
    "list_tokens",
    "load_grids",
    "plan_changes",
    "register_departments",
    "register_division",
    "registry_srid",
    "repartition_community",
    "return_changeset",
    "revoke_token",
    "validate_changeset",
    "withdraw_changeset",
]
