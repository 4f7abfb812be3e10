"""Who acts on the registry, and what each role may do.

* ``county`` — a county (县/区) editor: drafts and files change sets, only for
  divisions whose code starts with the editor's own county code;
* ``city`` — a city (市) reviewer: accepts or returns filed change sets (of counties
  whose code starts with the reviewer's city code, when one is given);
* ``admin`` — may do everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gridgeo.errors import PermissionDeniedError

Role = Literal["county", "city", "admin"]
ROLES: tuple[str, ...] = ("county", "city", "admin")


@dataclass(frozen=True)
class Actor:
    """A person acting on the registry.

    Parameters
    ----------
    name
        Who (kept in the audit log).
    role
        ``county``, ``city`` or ``admin``.
    division_code
        The county code of a county editor; the city code (prefix) of a city reviewer
        (empty: any county).
    """

    name: str
    role: Role
    division_code: str = ""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise PermissionDeniedError(f"unknown role {self.role!r}; roles are {', '.join(ROLES)}")
        if not str(self.name).strip():
            raise PermissionDeniedError("an actor needs a name (it goes into the audit log)")

    def require_drafting(self, county_code: str, division_codes: list[str] | None = None) -> None:
        """Refuse unless this actor may draft changes in ``county_code`` (and those divisions).

        Raises
        ------
        PermissionDeniedError
            For city reviewers, for a county editor outside the own county, and for
            divisions that do not belong to ``county_code``.
        """
        if self.role == "city":
            raise PermissionDeniedError(
                f"{self.name} is a city reviewer: only county editors draft and file change sets"
            )
        if self.role == "county":
            if not self.division_code:
                raise PermissionDeniedError(f"county editor {self.name} has no county code")
            if str(county_code) != self.division_code:
                raise PermissionDeniedError(
                    f"county editor {self.name} of {self.division_code} may not draft changes "
                    f"for county {county_code}"
                )
        outside = sorted({c for c in division_codes or [] if not str(c).startswith(county_code)})
        if outside:
            shown = ", ".join(outside[:10]) + (" …" if len(outside) > 10 else "")
            raise PermissionDeniedError(
                f"{len(outside)} division(s) are not in county {county_code}: {shown}"
            )

    def require_review(self, county_code: str) -> None:
        """Refuse unless this actor may accept or return change sets of ``county_code``."""
        if self.role == "county":
            raise PermissionDeniedError(
                f"{self.name} is a county editor: only a city reviewer accepts or returns change sets"
            )
        if (
            self.role == "city"
            and self.division_code
            and not str(county_code).startswith(self.division_code)
        ):
            raise PermissionDeniedError(
                f"city reviewer {self.name} of {self.division_code} may not decide on county "
                f"{county_code}"
            )
