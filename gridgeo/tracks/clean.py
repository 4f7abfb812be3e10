"""Clean GPS fixes: sort, drop duplicates, poor fixes, jumps and impossible speeds; cut at gaps.

Pure and vectorised over arrays. What is dropped is counted per reason
(:attr:`Cleaned.counts`); nothing is silently changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from gridgeo.errors import InputError, Problem
from gridgeo.tracks.read import TrackPoints

log = logging.getLogger(__name__)

__all__ = ["MAX_SPEED_KMH", "CleanOptions", "Cleaned", "clean_tracks", "haversine_m"]

#: Fastest plausible speed per way of patrolling (km/h); faster legs are GPS errors.
MAX_SPEED_KMH = {"foot": 30.0, "bike": 30.0, "ebike": 50.0, "car": 120.0}
_EARTH_R = 6_371_008.8


@dataclass(frozen=True)
class CleanOptions:
    """Thresholds of :func:`clean_tracks`.

    Attributes
    ----------
    mode
        ``foot``, ``bike``, ``ebike`` or ``car``: picks ``max_speed_kmh`` unless given.
    max_speed_kmh
        A leg faster than this is impossible; default from :data:`MAX_SPEED_KMH`.
    max_accuracy_m
        Fixes reporting a worse horizontal accuracy are dropped.
    max_gap_s
        A pause longer than this (seconds) ends a track piece; the gap is never patrol.
    """

    mode: str = "foot"
    max_speed_kmh: float | None = None
    max_accuracy_m: float = 50.0
    max_gap_s: float = 300.0

    @property
    def max_speed_ms(self) -> float:
        """The speed limit in metres per second."""
        if self.max_speed_kmh is not None:
            return float(self.max_speed_kmh) / 3.6
        if self.mode not in MAX_SPEED_KMH:
            raise InputError(
                f"unknown patrol mode {self.mode!r}",
                [
                    Problem(
                        f"use one of {', '.join(MAX_SPEED_KMH)}", field="mode", rule="tracks.mode"
                    )
                ],
            )
        return MAX_SPEED_KMH[self.mode] / 3.6


@dataclass
class Cleaned:
    """Cleaned fixes, sorted by worker and time, cut into pieces.

    Attributes
    ----------
    points
        The kept fixes (sorted by worker, then time).
    piece
        Piece id per fix: a new piece starts at each worker and after each gap.
    counts
        Fixes dropped per reason (``unsorted`` counts fixes that came out of order; they
        are kept, sorted) and ``gaps`` (pauses cut).
    """

    points: TrackPoints
    piece: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)

    def segment_ok(self) -> np.ndarray:
        """``True`` at ``i`` when the leg from fix ``i`` to ``i + 1`` is patrol (same piece)."""
        ok = np.zeros(len(self.points), dtype=bool)
        ok[:-1] = self.piece[1:] == self.piece[:-1]
        return ok


def haversine_m(
    lon0: np.ndarray, lat0: np.ndarray, lon1: np.ndarray, lat1: np.ndarray
) -> np.ndarray:
    """Great-circle distance in metres between aligned arrays of WGS 84 points."""
    p0, p1 = np.radians(lat0), np.radians(lat1)
    dp, dl = p1 - p0, np.radians(lon1 - lon0)
    h = np.sin(dp / 2) ** 2 + np.cos(p0) * np.cos(p1) * np.sin(dl / 2) ** 2
    return 2 * _EARTH_R * np.arcsin(np.sqrt(np.minimum(h, 1.0)))


def clean_tracks(points: TrackPoints, options: CleanOptions | None = None) -> Cleaned:
    """Sort, de-duplicate and filter fixes, then cut the tracks at gaps.

    Parameters
    ----------
    points
        Fixes as read (any order, several workers).
    options
        Thresholds; default :class:`CleanOptions` (on foot, 30 km/h, 50 m, 5 min).

    Returns
    -------
    Cleaned
        Kept fixes with piece ids and the counts of what was dropped.
    """
    opt = options or CleanOptions()
    vmax = opt.max_speed_ms
    counts = {"input": len(points)}
    order = np.lexsort((points.t, points.worker.astype(str)))
    same_w = np.zeros(order.size, dtype=bool)
    same_w[1:] = points.worker[order][1:] == points.worker[order][:-1]
    counts["unsorted"] = int(np.sum((np.diff(order) < 0) & same_w[1:])) if order.size else 0
    pts = points.take(order)
    keep = ~(np.isfinite(pts.accuracy) & (pts.accuracy > opt.max_accuracy_m))
    counts["poor_accuracy"] = int((~keep).sum())
    pts = pts.take(keep)
    dup = np.zeros(len(pts), dtype=bool)
    dup[1:] = (pts.worker[1:] == pts.worker[:-1]) & (pts.t[1:] == pts.t[:-1])
    counts["duplicate_time"] = int(dup.sum())
    pts = pts.take(~dup)
    counts["gps_jump"] = counts["impossible_speed"] = 0
    for _ in range(10):
        drop_jump, drop_fast = _speed_outliers(pts, vmax, opt.max_gap_s)
        if not (drop_jump.any() or drop_fast.any()):
            break
        counts["gps_jump"] += int(drop_jump.sum())
        counts["impossible_speed"] += int(drop_fast.sum())
        pts = pts.take(~(drop_jump | drop_fast))
    new = np.ones(len(pts), dtype=bool)
    if len(pts):
        new[1:] = (pts.worker[1:] != pts.worker[:-1]) | (np.diff(pts.t) > opt.max_gap_s)
    counts["gaps"] = int(np.sum(new[1:] & (pts.worker[1:] == pts.worker[:-1])))
    counts["kept"] = len(pts)
    log.info("cleaned %d fixes: %s", counts["input"], counts)
    return Cleaned(pts, np.cumsum(new) - 1, counts)


def _speed_outliers(pts: TrackPoints, vmax: float, max_gap: float) -> tuple[np.ndarray, ...]:
    """(jump, too-fast) masks: a jump is a lone fix reached and left impossibly fast."""
    n = len(pts)
    jump = np.zeros(n, dtype=bool)
    fast = np.zeros(n, dtype=bool)
    if n < 2:
        return jump, fast
    d = haversine_m(pts.lon[:-1], pts.lat[:-1], pts.lon[1:], pts.lat[1:])
    dt = np.diff(pts.t)
    leg = (pts.worker[1:] == pts.worker[:-1]) & (dt <= max_gap)
    too_fast = leg & (d > vmax * dt)
    if n >= 3:
        d2 = haversine_m(pts.lon[:-2], pts.lat[:-2], pts.lon[2:], pts.lat[2:])
        bridge_ok = d2 <= vmax * (pts.t[2:] - pts.t[:-2])
        jump[1:-1] = too_fast[:-1] & too_fast[1:] & bridge_ok
    # A fast leg not explained by a jump: drop its later fix (the first after a good one).
    first_fast = too_fast & ~np.r_[False, too_fast[:-1]]
    fast[1:] = first_fast & ~jump[:-1] & ~jump[1:]
    return jump, fast & ~jump
