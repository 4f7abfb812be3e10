"""The matter list as the case loop needs it: is a category known, and what is its limit.

A small interface so that the source can change (today the snapshot's
``service.category`` rows and ``limits.toml``; later ``registry/matters.py``) without
touching intake or statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from gridgeo.incidents.deadlines import Limit, default_limit, table_limit


class Catalog(Protocol):
    """What the case loop asks of the matter list."""

    def known(self, category: str) -> bool: ...

    def name(self, category: str) -> str: ...

    def limit(self, category: str, *, complex_case: bool = False) -> Limit: ...


@dataclass(frozen=True)
class SnapshotCatalog:
    """The matter list of a locate snapshot (``service.category``) plus ``limits.toml``.

    Limits: a row of ``limits.toml`` first (it may give working hours), else the
    category's ``deadline_days`` / ``complex_deadline_days``, else the seed default.
    """

    categories: dict[str, dict[str, Any]]

    def known(self, category: str) -> bool:
        return bool(category) and category in self.categories

    def name(self, category: str) -> str:
        row = self.categories.get(category)
        return row["name"] if row else category

    def limit(self, category: str, *, complex_case: bool = False) -> Limit:
        found = table_limit(category, complex_case=complex_case)
        if found is not None:
            return found
        row = self.categories.get(category)
        if row:
            days = row["complex_deadline_days"] if complex_case else row["deadline_days"]
            if days:
                return Limit(float(days), "days")
        return default_limit(complex_case=complex_case)
