"""The error body every 4xx/5xx answer of the map service carries, as documented in OpenAPI."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    """Body of every 4xx/5xx answer except 422 (FastAPI's parameter validation)."""

    error: str = Field(description="Error class, e.g. InputError, NotFoundError, Unauthorized")
    detail: str = Field(description="What is wrong, in words; names the parameter or row")
    problems: list[dict[str, Any]] | None = Field(
        default=None,
        description="Every problem found (message, file, layer, row, field, rule, severity)",
    )


_ERRORS = {
    400: "Malformed request: the detail names the parameter, field or row",
    401: "No token, an unknown or revoked token, or not a Bearer token",
    403: "The token's role may not do this",
    404: "No such object",
    409: "Conflicts with the registry's state",
    503: "The database is unavailable",
}
#: Documented on every operation: the error body each of these statuses carries.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text} for code, text in _ERRORS.items()
}


# -- success bodies, documented so clients (and the fuzz tests) can check them -------------


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class GridRef(_Open):
    code: str
    name: str | None
    type: str | None
    valid_from: str | None
    valid_to: str | None


class CommunityRef(_Open):
    code: str
    name: str | None


class Contact(_Open):
    role: str
    name: str | None
    phone: str | None
    posted: bool


class DepartmentRef(_Open):
    department_id: int
    name: str
    phone: str | None
    lead: bool


class RegistryPoint(_Open):
    x: float
    y: float
    srid: int


class LocateQuery(_Open):
    lon: float
    lat: float
    crs: str
    category: str | None
    at: str | None


class LocateAnswer(_Open):
    """Answer of ``GET /locate``; ``located: false`` comes with a ``reason``."""

    located: bool
    reason: str | None
    grid: GridRef | None
    community: CommunityRef | None
    contacts: list[Contact]
    department: DepartmentRef | None
    departments: list[DepartmentRef]
    department_reason: str | None
    distance_to_border_m: float | None = Field(ge=0)
    near_border: bool | None
    point: RegistryPoint | None
    tie_rule: str
    query: LocateQuery
    warnings: list[str] | None = Field(
        default=None, description="Doubts about the query, e.g. lon/lat numbers with a metric crs"
    )
