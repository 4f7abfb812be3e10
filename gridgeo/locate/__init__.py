"""Locate points on grids: a pure in-memory index (no database, no web framework).

:class:`GridIndex` answers "which grid covers this point" for millions of points per
second with results equal to PostGIS ``ST_Covers`` plus the tie rule
:data:`TIE_RULE`; :mod:`gridgeo.locate.points` reads point files;
:mod:`gridgeo.testing` generates tilings for tests and benchmarks.
"""

from gridgeo.locate.index import TIE_RULE, GridIndex

__all__ = ["TIE_RULE", "GridIndex"]
