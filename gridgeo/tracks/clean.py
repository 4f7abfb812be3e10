"""Clean GPS fixes: sort, drop duplicates, poor fixes, jumps and impossible speeds; cut at gaps.

Pure and vectorised over arrays. What is dropped is counted per reason
(:attr:`Cleaned.counts`); nothing is silently changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.tracks import _kernels
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
                _("unknown patrol mode {mode!r}").format(mode=self.mode),
                [
                    Problem(
                        _("use one of {items}").format(items=_(", ").join(MAX_SPEED_KMH)),
                        field="mode",
                        rule="tracks.mode",
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
    worker_code, worker_names
        Worker per fix as an integer code into the sorted ``worker_names``.
    """

    points: TrackPoints
    piece: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)
    worker_code: np.ndarray | None = None
    worker_names: np.ndarray | None = None

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
    codes, names = pd.factorize(points.worker, sort=True)
    codes = codes.astype(np.int64)
    t = points.t
    dc = np.diff(codes)
    in_order = bool(np.all(dc >= 0) and np.all((dc > 0) | (np.diff(t) >= 0)))
    sel = np.arange(len(points)) if in_order else np.lexsort((t, codes))
    counts["unsorted"] = (
        0 if in_order else int(np.sum((np.diff(sel) < 0) & (codes[sel][1:] == codes[sel][:-1])))
    )
    acc = points.accuracy[sel]
    poor = np.isfinite(acc) & (acc > opt.max_accuracy_m)
    counts["poor_accuracy"] = int(poor.sum())
    sel = sel[~poor]
    w, ts = codes[sel], t[sel]
    dup = np.zeros(sel.size, dtype=bool)
    dup[1:] = (w[1:] == w[:-1]) & (ts[1:] == ts[:-1])
    counts["duplicate_time"] = int(dup.sum())
    sel = sel[~dup]
    counts["gps_jump"] = counts["impossible_speed"] = 0
    for _round in range(10):
        whole = in_order and sel.size == len(points)  # nothing moved or dropped: no copies
        drop_jump, drop_fast = _speed_outliers(
            *(
                (codes, t, points.lon, points.lat)
                if whole
                else (codes[sel], t[sel], points.lon[sel], points.lat[sel])
            ),
            vmax,
            opt.max_gap_s,
        )
        if not (drop_jump.any() or drop_fast.any()):
            break
        counts["gps_jump"] += int(drop_jump.sum())
        counts["impossible_speed"] += int(drop_fast.sum())
        sel = sel[~(drop_jump | drop_fast)]
    whole = in_order and sel.size == len(points)

    def take(a: np.ndarray) -> np.ndarray:
        return a if whole else a[sel]

    w, ts = take(codes), take(t)
    new = np.ones(sel.size, dtype=bool)
    same = w[1:] == w[:-1]
    new[1:] = ~same | (np.diff(ts) > opt.max_gap_s)
    counts["gaps"] = int(np.sum(new[1:] & same))
    counts["kept"] = int(sel.size)
    pts = TrackPoints(
        np.asarray(points.worker, dtype=object) if whole else np.asarray(names, dtype=object)[w],
        ts,
        take(points.lon),
        take(points.lat),
        take(points.accuracy),
        take(points.speed),
        take(points.row),
        points.file,
        list(points.problems),
    )
    log.info("cleaned %d fixes: %s", counts["input"], counts)
    return Cleaned(pts, np.cumsum(new) - 1, counts, w, np.asarray(names, dtype=object))


def _speed_outliers(
    w: np.ndarray, t: np.ndarray, lon: np.ndarray, lat: np.ndarray, vmax: float, max_gap: float
) -> tuple[np.ndarray, ...]:
    """(jump, too-fast) masks: a jump is a lone fix reached and left impossibly fast."""
    n = t.size
    jump = np.zeros(n, dtype=bool)
    fast = np.zeros(n, dtype=bool)
    if n < 2:
        return jump, fast
    too_fast = _kernels.too_fast(
        np.ascontiguousarray(w, dtype=np.int64),
        np.ascontiguousarray(t, dtype=np.float64),
        np.ascontiguousarray(lon, dtype=np.float64),
        np.ascontiguousarray(lat, dtype=np.float64),
        float(vmax),
        float(max_gap),
        _EARTH_R,
    )
    if not too_fast.any():
        return jump, fast
    if n >= 3:
        k = np.flatnonzero(too_fast[:-1] & too_fast[1:])  # fix k + 1 reached and left fast
        d2 = haversine_m(lon[k], lat[k], lon[k + 2], lat[k + 2])
        jump[k[d2 <= vmax * (t[k + 2] - t[k])] + 1] = True
    # A fast leg not explained by a jump: drop its later fix (the first after a good one).
    first_fast = too_fast & ~np.r_[False, too_fast[:-1]]
    fast[1:] = first_fast & ~jump[:-1] & ~jump[1:]
    return jump, fast & ~jump
