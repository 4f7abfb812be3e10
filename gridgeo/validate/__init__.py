"""Audit grids (generated or hand-drawn) against a jurisdiction's rules.

>>> report = validate(grids, communities, households, profile="yongzhou")  # doctest: +SKIP
>>> report.summary["in_band"]["share"], report.exit_code                   # doctest: +SKIP

Each rule is a small check ``GridSet -> list[Issue]`` in :mod:`.checks`, usable
alone by the partitioner and the registry (:func:`run_checks`, :func:`passes`).
"""

from gridgeo.rule_ids import RULES, Rule
from gridgeo.validate.checks import CHECKS, Issue, passes, run_checks
from gridgeo.validate.core import ValidationReport, build_report, in_band_summary, validate
from gridgeo.validate.gridset import POSTING_FIELDS, GridSet

__all__ = [
    "CHECKS",
    "POSTING_FIELDS",
    "RULES",
    "GridSet",
    "Issue",
    "Rule",
    "ValidationReport",
    "build_report",
    "in_band_summary",
    "passes",
    "run_checks",
    "validate",
]
