"""The partitioner's violation records: one constructor, ids from :mod:`gridgeo.rule_ids`."""

from __future__ import annotations

from typing import Any

from gridgeo.rule_ids import rule

#: Columns of the ``violations`` layer.
VIOLATION_COLUMNS = ["rule", "reason", "community_code", "grid_code", "geometry"]


def violation(
    rule_id: str,
    reason: str,
    *,
    community_code: str | None,
    grid_code: str | None = None,
    geometry: Any = None,
) -> dict[str, Any]:
    """One row of the ``violations`` layer.

    Parameters
    ----------
    rule_id
        An id of the rule catalogue (:data:`gridgeo.rule_ids.RULES`).
    reason
        Why the rule is broken here, for the report.
    community_code, grid_code
        Where (``None`` when not tied to one community or grid).
    geometry
        The grid's, community's or point's geometry.

    Raises
    ------
    KeyError
        For an id outside the catalogue.
    """
    rule(rule_id)
    return {
        "rule": rule_id,
        "reason": reason,
        "community_code": community_code,
        "grid_code": grid_code,
        "geometry": geometry,
    }


__all__ = ["VIOLATION_COLUMNS", "violation"]
