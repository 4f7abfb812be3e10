"""Adjusting grids: a community's blocks, grids as sets of blocks, edits.

Pure: imports neither the database nor the web framework. Grids are unions of the
community's blocks (road-bounded faces), so every edit keeps exact, seamless borders
and households move with their blocks.
"""

from gridgeo.edit.blocks import EditBlocks, community_blocks
from gridgeo.edit.model import EditError, Plan, PlanGrid
from gridgeo.edit.review import Finding, Review, review

__all__ = [
    "EditBlocks",
    "EditError",
    "Finding",
    "Plan",
    "PlanGrid",
    "Review",
    "community_blocks",
    "review",
]
