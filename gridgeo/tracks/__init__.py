"""Patrol tracks of grid workers: read, clean, attribute to grids, daily stats, ranks.

Pure core: imports neither the database nor the web framework. Storage lives in
:mod:`gridgeo.registry.tracks`.
"""

from gridgeo.tracks.clean import Cleaned, CleanOptions, clean_tracks
from gridgeo.tracks.pipeline import GridSnapshot, Patrol, patrol_days
from gridgeo.tracks.read import TrackPoints, read_tracks

__all__ = [
    "CleanOptions",
    "Cleaned",
    "GridSnapshot",
    "Patrol",
    "TrackPoints",
    "clean_tracks",
    "patrol_days",
    "read_tracks",
]
