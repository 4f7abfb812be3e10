"""The error body every 4xx/5xx answer of the map service carries, as documented in OpenAPI."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


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
