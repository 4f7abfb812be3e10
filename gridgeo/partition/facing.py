"""Samples facing each other across a thin road strip.

The one pass (:func:`gridgeo.partition.blocks.merge_slivers_once`) gives each point of
the road area to the block whose sampled border is nearest. Samples on the two sides of
a strip offset by half a step bend the middle by up to ``step² / (8 × width)``, so a thin
strip used to be sampled every 2–3 m along all its borders. Where a strip has one block
on each side (a run of one block's border, away from its ends and bends), a sample
together with its foot on the other side (the nearest point of the border there) leaves
no zigzag whatever the spacing: the middle between the two is the road's middle. These
runs keep a sample every :data:`FACING_STEP_M` (and at every vertex), each with its foot;
within reach of a run's end or bend (where a third block's border is near, or the middle
turns) the fine samples stay, and those within a width of a coarse run give it their foot.
"""

from __future__ import annotations

import numpy as np
import shapely

#: spacing of the samples along a strip's two-sided runs (m)
FACING_STEP_M = 25.0
#: fine samples within this many strip widths (plus :data:`NEAR_PAD_M`) of a run's end or bend
NEAR_WIDTHS = 1.0
NEAR_PAD_M = 2.0
#: a run's vertex turning by more than this (degrees) is a bend
BEND_DEG = 5.0


def facing_samples(
    p: np.ndarray,
    q: np.ndarray,
    lab: np.ndarray,
    strip: np.ndarray,
    width: np.ndarray,
    step: np.ndarray,
    fine: np.ndarray,
    sample,
) -> tuple[np.ndarray, np.ndarray]:
    """Border samples of the strips, coarse along the two-sided runs of the ``fine`` segments.

    Parameters
    ----------
    p, q
        The border segments between the strips and the blocks, ``(n, 2)`` each.
    lab, strip
        The block (label) and the strip of each segment.
    width
        The width of each segment's strip (m).
    step
        The sampling step of each segment (m).
    fine
        The segments sampled finely (thin strips): those thinned out along their runs.
    sample
        ``sample(p, q, lab, step, keep)`` → ``(xy, labels, segment)``: the border samples
        (:func:`gridgeo.partition.blocks._border_samples`), ``keep(seg, k, n)`` choosing
        which of the ``n + 1`` points of each segment are kept.

    Returns
    -------
    tuple
        Sample points ``(m, 2)`` and the block of each.
    """
    near = _distance_to_ends(p, q, lab, strip)
    reach = NEAR_WIDTHS * width + NEAR_PAD_M
    ratio = np.maximum(np.round(FACING_STEP_M / np.maximum(step, 1e-9)), 1).astype(np.int64)
    ln = np.hypot(*(q - p).T)

    def dist(seg: np.ndarray, t: np.ndarray) -> np.ndarray:
        # no nearer to an end or bend than this (the triangle inequality from each vertex)
        d = np.maximum(near[seg, 0] - t * ln[seg], near[seg, 1] - (1.0 - t) * ln[seg])
        return np.where(fine[seg], d, -np.inf)

    def keep(seg: np.ndarray, k: np.ndarray, n: np.ndarray) -> np.ndarray:
        far = dist(seg, k / n) > reach[seg]
        return ~far | (k % ratio[seg] == 0) | (k == n)

    xy, labels, seg = sample(p, q, lab, step, keep)
    on = np.flatnonzero(fine[seg])
    fseg, t, foot = _feet(xy[on], labels[on], seg[on], p, q, lab, strip, 2.0 * width + 1.0)
    mine = fseg >= 0
    # the foot of a sample on a coarse run or within a width of one (the other side of a
    # fine stretch may be coarse), or falling there
    s_on = seg[on][mine]
    band = reach[s_on] - width[s_on]
    mine[mine] = (dist(s_on, _along(xy[on][mine], p, q, s_on)) > band) | (
        dist(fseg[mine], t[mine]) > band
    )
    if not mine.any():
        return xy, labels
    return _unique(np.concatenate([xy, foot[mine]]), np.concatenate([labels, lab[fseg[mine]]]))


def _along(xy: np.ndarray, p: np.ndarray, q: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Where each point lies along its segment (0 at ``p``, 1 at ``q``)."""
    e = q[seg] - p[seg]
    return ((xy - p[seg]) * e).sum(axis=1) / np.maximum((e**2).sum(axis=1), 1e-18)


def _distance_to_ends(
    p: np.ndarray, q: np.ndarray, lab: np.ndarray, strip: np.ndarray
) -> np.ndarray:
    """For each segment's start and end, ``(n, 2)``: the distance to the nearest end or
    bend of a run (a vertex not shared by exactly two segments of one block and strip, or
    one where they turn by more than :data:`BEND_DEG`)."""
    n = len(p)
    ends = np.concatenate([p, q])
    d = np.concatenate([q - p, p - q])  # away from the vertex along its segment
    d /= np.maximum(np.hypot(*d.T), 1e-12)[:, None]
    seg = np.r_[np.arange(n), np.arange(n)]
    r = np.round(ends, 3)
    o = np.lexsort((r[:, 1], r[:, 0], lab[seg], strip[seg]))
    ko = np.column_stack([strip[seg][o], lab[seg][o], r[o]])
    start = np.r_[True, np.any(ko[1:] != ko[:-1], axis=1)]
    grp = np.cumsum(start) - 1
    cnt = np.bincount(grp)
    special = cnt[grp] != 2
    two = np.flatnonzero(start & (cnt[grp] == 2))
    straight = (d[o[two]] * d[o[two + 1]]).sum(axis=1) <= -np.cos(np.radians(BEND_DEG))
    special[two] |= ~straight
    special[two + 1] |= ~straight
    spec = np.zeros(2 * n, dtype=bool)
    spec[o] = special
    if not spec.any():
        return np.full((n, 2), np.inf)
    tree = shapely.STRtree(shapely.points(ends[spec]))
    _, dist = tree.query_nearest(shapely.points(ends), return_distance=True, all_matches=False)
    return np.column_stack([dist[:n], dist[n:]])


def _feet(
    xy: np.ndarray,
    labels: np.ndarray,
    seg: np.ndarray,
    p: np.ndarray,
    q: np.ndarray,
    lab: np.ndarray,
    strip: np.ndarray,
    reach: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each sample's foot: the nearest point of its strip's border with another block
    within ``reach`` (of its segment): the segment it lies on (-1: none), where along it,
    and the point. Every sample against every segment of its strip, in numpy."""
    m = len(xy)
    fseg = np.full(m, -1, dtype=np.int64)
    t_out, foot = np.zeros(m), np.zeros((m, 2))
    if m == 0:
        return fseg, t_out, foot
    order = np.argsort(strip, kind="stable")
    u, first, cnt = np.unique(strip[order], return_index=True, return_counts=True)
    at = np.searchsorted(u, strip[seg])
    c = cnt[at]
    qi = np.repeat(np.arange(m), c)
    si = order[np.repeat(first[at], c) + np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c)]
    other = lab[si] != labels[qi]
    qi, si = qi[other], si[other]
    e = q[si] - p[si]
    t = np.clip(((xy[qi] - p[si]) * e).sum(axis=1) / np.maximum((e**2).sum(axis=1), 1e-18), 0, 1)
    pt = p[si] + e * t[:, None]
    dist = np.hypot(*(xy[qi] - pt).T)
    ok = dist <= reach[seg[qi]]
    qi, si, t, pt, dist = qi[ok], si[ok], t[ok], pt[ok], dist[ok]
    if len(qi) == 0:
        return fseg, t_out, foot
    o = np.lexsort((dist, qi))
    best = o[np.r_[True, qi[o][1:] != qi[o][:-1]]]
    fseg[qi[best]], t_out[qi[best]], foot[qi[best]] = si[best], t[best], pt[best]
    return fseg, t_out, foot


def _unique(xy: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points with a point repeated (to the mm) kept once, in their order."""
    r = np.round(xy, 3)
    o = np.lexsort((labels, r[:, 1], r[:, 0]))
    first = np.sort(o[np.r_[True, np.any(r[o][1:] != r[o][:-1], axis=1)]])
    return xy[first], labels[first]
