"""The partitioner: communities and villages → compliant urban, rural and dedicated grids.

A chain of pure functions (no database, no web framework)::

    clean (roads) → blocks (polygonise per community) → split (blocks above the ceiling)
      → aggregate (blocks → grids in band) → codes → metrics

:func:`partition` runs the chain; :class:`PartitionResult` holds ``grids``,
``violations`` and ``metrics``. The package itself is callable:
``gridgeo.partition(communities, roads, households, profile="yongzhou")`` is
``gridgeo.partition.partition(...)``.
"""

import sys as _sys
import types as _types

from gridgeo.partition.core import GRID_COLUMNS, VIOLATION_COLUMNS, PartitionResult, partition

__all__ = ["GRID_COLUMNS", "VIOLATION_COLUMNS", "PartitionResult", "partition"]


class _CallableModule(_types.ModuleType):
    """Lets ``gridgeo.partition(...)`` call :func:`partition` (the API the issue names)."""

    def __call__(self, *args, **kwargs) -> PartitionResult:
        return partition(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
