"""The partitioner: communities and villages → compliant urban, rural and dedicated grids.

A chain of pure functions (no database, no web framework)::

    clean (roads) → blocks (polygonise per community) → split (blocks above the ceiling)
      → aggregate (blocks → grids in band) → codes → metrics

:func:`partition` runs the chain; :class:`PartitionResult` holds ``grids``,
``violations`` and ``metrics``.
"""

from gridgeo.partition.core import GRID_COLUMNS, VIOLATION_COLUMNS, PartitionResult, partition

__all__ = ["GRID_COLUMNS", "VIOLATION_COLUMNS", "PartitionResult", "partition"]
