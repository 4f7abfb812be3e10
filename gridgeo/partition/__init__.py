"""The partitioner: communities and villages → compliant urban, rural and dedicated grids.

A chain of pure functions (no database, no web framework)::

    clean (roads) → blocks (polygonise per community) → split (blocks above the ceiling)
      → aggregate (blocks → grids in band) → codes → metrics

Method, per community (:mod:`.community`):

1. **Dedicated sites** (:mod:`.dedicated`): sites whose category the profile lists
   (and, for the profile's ``size_rule_categories``, that reach the size rule) become grids named
   after the site; other sites are closed compounds whose outline is a block border
   and which roads inside them do not cut.
2. **Blocks** (:mod:`.clean`, :mod:`.blocks`): roads are noded, near misses joined,
   dangling ends extended; the community outline, the roads inside it and compound /
   villager-group outlines are polygonised. Household-free specks join a neighbour;
   thin household-free strips (dual carriageways, slip roads) are split down their
   medial line, which then counts as the road's centreline.
3. **Split** (:mod:`.split`): only a block holding more households than the ceiling
   is cut, between clusters of household units (a point location, a compound, in
   rural villages a DBSCAN hamlet), along Voronoi bisectors — never through a point.
4. **Aggregate** (:mod:`.aggregate`): blocks are grouped into contiguous grids by
   recursive bisection on random spanning trees, repaired by single-block moves and
   ReCom-style recombination of out-of-band grids with their neighbours, and
   compacted by moves that shorten internal borders. The ceiling is hard: a grid
   above it is cut again; only a single indivisible unit above the ceiling stays
   whole (and is reported).
5. **Codes** (:mod:`.codes`): community code + 3-digit sequence, ordinary grids first
   (north to south, west to east), then dedicated grids by name.

Seeds come from the community code, so the result is the same in any order, serial
or on dask workers (:mod:`.parallel`). Quality figures and their definitions
("feasible community", in-band share, road border share …) are in :mod:`.metrics`.

:func:`partition` checks the inputs against the layer contracts
(:mod:`gridgeo.io.schemas`) and runs the chain as named stages; :class:`PartitionResult`
holds ``grids``, ``violations`` (rule ids from :mod:`gridgeo.rule_ids`, built by
:func:`.violations.violation`), ``metrics`` and input ``warnings``. Size bands, the
community kind and the work CRS come from :mod:`gridgeo.rules` and :func:`gridgeo.crs.work_crs`. The package itself is callable:
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
