"""Locate and route cases through the shared locate answer — the one adapter.

Every case is located by the same code that answers ``/locate`` (one rule for grids,
contacts and the responsible department), ``gridgeo.locate.answer``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from gridgeo.locate.answer import locate_batch
from gridgeo.locate.snapshot import Snapshot
from gridgeo.registry.snapshot import load_snapshot

__all__ = ["Snapshot", "as_of", "department_ids", "load_snapshot", "locate_many"]


def as_of(snap: Snapshot) -> datetime:
    """The registry time a snapshot answers for (``registry.grids_at`` of it gives its grids)."""
    return snap.at if snap.at is not None else datetime.fromtimestamp(snap.loaded_at, UTC)


def locate_many(
    snap: Snapshot, lon: np.ndarray, lat: np.ndarray, *, crs: str, category: np.ndarray
) -> pa.Table:
    """The batch locate answer for many cases (one row each, input order)."""
    return locate_batch(snap, lon, lat, crs=crs, category=category, private=True)


def department_ids(snap: Snapshot, names: list[str | None]) -> list[int | None]:
    """Department ids of the names a batch answer gives (names are unique in the registry)."""
    by_name = {d["name"]: i for i, d in snap.departments.items()}
    return [by_name.get(n) if n is not None else None for n in names]
