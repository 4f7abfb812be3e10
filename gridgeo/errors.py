"""One error hierarchy for gridgeo.

Every error a user can cause is a :class:`GridgeoError`. Subclasses also inherit
from a builtin (``ValueError``, ``LookupError`` …) so callers that do not know
gridgeo can still catch them. The CLI maps ``exit_code`` to the process exit
status and the API maps ``http_status`` to the response; nothing else does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from gridgeo.i18n import _


@dataclass(frozen=True)
class Problem:
    """One problem found in an input: where it is and what is wrong.

    Parameters
    ----------
    message
        What is wrong, in words a user understands.
    file, layer, row, field
        Where it is; ``row`` is the feature id (0-based position in the layer
        unless the layer has its own fid).
    rule
        A stable identifier of the check that failed (e.g. ``geometry.invalid``).
    severity
        ``error`` (the input cannot be used as it is) or ``warning``.
    """

    message: str
    file: str | None = None
    layer: str | None = None
    row: int | str | None = None
    field: str | None = None
    rule: str | None = None
    severity: str = "error"

    def where(self) -> str:
        parts = []
        if self.file:
            parts.append(str(self.file))
        if self.layer:
            parts.append(_("layer {layer}").format(layer=self.layer))
        if self.row is not None:
            parts.append(_("row {row}").format(row=self.row))
        if self.field:
            parts.append(_("field {field}").format(field=self.field))
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        rule = f" [{self.rule}]" if self.rule else ""
        return f"{where}: {self.message}{rule}" if where else f"{self.message}{rule}"

    def to_dict(self) -> dict:
        return asdict(self)


class GridgeoError(Exception):
    """Base class of all errors gridgeo raises on purpose."""

    exit_code: int = 2
    http_status: int = 400


class InputError(GridgeoError, ValueError):
    """Input data cannot be used; carries every problem found, not only the first."""

    def __init__(self, message: str, problems: list[Problem] | None = None):
        self.problems = list(problems or [])
        self.summary = message
        if self.problems:
            shown = "\n".join(f"  - {p}" for p in self.problems[:50])
            more = len(self.problems) - 50
            if more > 0:
                shown += f"\n  … and {more} more"
            message = f"{message}\n{shown}"
        super().__init__(message)


class CRSError(InputError):
    """A layer has no coordinate reference system, or one gridgeo cannot use."""


class ProfileError(GridgeoError, ValueError):
    """A partition profile file is missing or malformed."""


class DatabaseError(GridgeoError, RuntimeError):
    """The database cannot be reached, started or migrated."""

    exit_code = 3
    http_status = 503


class NotFoundError(GridgeoError, LookupError):
    """A requested object (grid, change set, collection…) does not exist."""

    exit_code = 4
    http_status = 404


class ConflictError(GridgeoError, RuntimeError):
    """A concurrent change or a broken integrity rule prevents the operation."""

    exit_code = 5
    http_status = 409


class PermissionDeniedError(GridgeoError, PermissionError):
    """The caller's role may not do this."""

    exit_code = 6
    http_status = 403


class AuthenticationError(PermissionDeniedError):
    """No usable identity: no token, or an unknown, revoked or expired one."""

    exit_code = 7
    http_status = 401
