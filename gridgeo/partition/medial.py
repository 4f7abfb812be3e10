"""Medial split of a household-free road strip between the blocks around it.

A median strip between two carriageways (or a slip road's triangle) is cut so that each
part goes to the neighbouring block it is nearest to: the border then runs down the middle
of the road. The strip's shared borders are sampled every ``segment_m``; the part of the
strip nearest to each neighbour is the union of the Voronoi cells of that neighbour's
samples.

The cells themselves are never built. The borders between neighbours' parts are the
Voronoi edges dual to the Delaunay edges joining samples of two different neighbours (one
GEOS triangulation; the circumcentres in numpy). Those lines, noded into the strip's
outline (one union, one polygonize), cut the strip into faces; each face goes to the
neighbour of its nearest sample (a face of float noise, below :data:`NOISE_M2`, to the face
it shares most border with). This gives the parts the per-cell Voronoi clip gave (to float
noise) at a fraction of the cost: that clip was one overlay per sample against the whole
strip. Each part is then snapped (1 µm) onto the border it shares with its neighbour, so
that the union with the neighbour closes. Where the fast path cannot vouch for its answer
(a flat triangle joining two neighbours, faces that do not tile the strip) the per-cell
Voronoi clip runs instead. :func:`split_medial_many` gives the same answers for many strips
in one batch of GEOS and numpy calls. :func:`split_region` cuts all strips of a community
at once (one triangulation of all their borders' samples): the way
:func:`gridgeo.partition.blocks.merge_slivers_once` takes.
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy.spatial import cKDTree

from gridgeo.partition import delaunay

SIMPLIFY_M = 0.0  # tolerance on the lines between the parts (m); 0: as found
NOISE_M2 = 1e-6  # a face of a cut strip below this area is float noise (m²)


def split_medial(
    strip, borders, segment_m: float, *, simplify_m: float | None = None
) -> tuple[dict, list] | None:
    """Cut ``strip`` between its neighbours: each part goes to the neighbour it is nearest to.

    Parameters
    ----------
    strip
        The strip polygon (metres).
    borders
        ``(neighbour, border it shares with strip)`` pairs.
    segment_m
        Sampling step along the shared borders.
    simplify_m
        The lines between the parts are simplified to this tolerance (0: not at all). The
        sampled borders leave a zigzag of about ``segment_m² / (8 × width)`` on them; the
        lines simplified to 5 cm carry a fifth of the vertices into every later overlay.
        Default :data:`SIMPLIFY_M`.

    Returns
    -------
    tuple or None
        ``({neighbour: part}, lines where the parts meet)`` for at least two neighbours,
        or ``None`` when the strip cannot be split (fewer than two neighbours with a border).
    """
    xy, labels = _samples(borders, segment_m)
    if xy is None or len(np.unique(labels)) < 2:
        return None
    tol = SIMPLIFY_M if simplify_m is None else simplify_m
    res = _split_by_edges(strip, xy, labels, tol)
    if res is None:
        pieces = _split_by_cells(strip, xy, labels)
        return (pieces, medial_lines(pieces)) if pieces and len(pieces) >= 2 else None
    if len(res[0]) < 2:
        return None
    return _onto_borders(res[0], dict(borders)), res[1]


def _onto_borders(pieces: dict, borders: dict, tol: float = 1e-6) -> dict:
    """Each part with the vertices of the border it shares with its neighbour within
    ``tol`` (:func:`shapely.snap`): its edge along that border is otherwise one segment
    between two clipped points, a few nm off the neighbour's vertices."""
    return _onto_borders_many([pieces], [borders], tol)[0]


def _onto_borders_many(pieces: list, borders: list, tol: float = 1e-6) -> list:
    """:func:`_onto_borders` of many strips' parts in one batch of GEOS calls."""
    at = [(k, j) for k, (p, b) in enumerate(zip(pieces, borders, strict=True)) for j in p if j in b]
    out = [dict(p) for p in pieces]
    if not at:
        return out
    snapped = shapely.snap(
        np.array([pieces[k][j] for k, j in at], dtype=object),
        np.array([borders[k][j] for k, j in at], dtype=object),
        tol,
    )
    kind = shapely.get_type_id(snapped)
    ok = shapely.is_valid(snapped) & ((kind == 3) | (kind == 6))
    for (k, j), g, good in zip(at, snapped, ok.tolist(), strict=True):
        if good:
            out[k][j] = g
    return out


def medial_lines(pieces: dict) -> list:
    """The lines where the pieces of a split strip meet (the road's middle)."""
    labs = sorted(pieces)
    a, b = np.triu_indices(len(labs), 1)
    bnd = shapely.boundary(np.array([pieces[k] for k in labs], dtype=object))
    parts = shapely.get_parts(shapely.intersection(bnd[a], bnd[b]))
    return parts[np.isin(shapely.get_type_id(parts), [1, 2])].tolist()


def _samples(borders, segment_m: float) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Points every ``segment_m`` along each shared border and the neighbour of each; a
    point two borders share (to the mm) is kept once, for the first border. All borders
    in one batch of GEOS calls."""
    if not borders:
        return None, None
    labs = np.array([j for j, _ in borders])
    parts, owner = shapely.get_parts(
        np.array([g for _, g in borders], dtype=object), return_index=True
    )
    kind = shapely.get_type_id(parts)
    lines = (kind == 1) | (kind == 2)
    if not lines.any():
        return None, None
    xy, at = shapely.get_coordinates(shapely.segmentize(parts[lines], segment_m), return_index=True)
    if len(xy) == 0:
        return None, None
    _, first = np.unique(np.round(xy, 3).view(np.complex128), return_index=True)
    first = np.sort(first)
    return xy[first], labs[owner[lines][at[first]]]


def _triangles(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Delaunay triangles of ``xy`` (GEOS, in its order) as ``(t, 3)`` point indices, and the
    triangle across the edge opposite each corner (``-1`` on the hull); ``None`` if GEOS
    returned a corner that is not one of the points."""
    s = delaunay.geos_triangles(xy)
    if s is None:
        return None
    return s, _across(s, len(xy))


def _mixed_triangles(xy: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The Delaunay triangles of ``xy`` with corners of two labels or more
    (:func:`delaunay.triangles`: Triangle when installed, else GEOS; in the canonical order),
    and the triangle across each edge between two labels (an index among these; ``-1`` on
    the hull); ``None`` when there is no triangle.

    Only edges between two labels make Voronoi edges (:func:`_voronoi_segments`), and
    both triangles holding one are mixed: the triangles inside a block (half of them) are
    never paired.
    """
    s = delaunay.triangles(xy, labels=labels)
    if s is None:
        return None
    return s, _across(s, len(xy))


def _across(s: np.ndarray, n_points: int) -> np.ndarray:
    """The triangle across the edge opposite each corner of triangles ``s`` (``(t, 3)``
    indices of ``n_points`` points), ``-1`` on the hull."""
    n = len(s)
    # the edge opposite corner k joins corners k+1 and k+2; a shared edge pairs two triangles
    u, v = s[:, [1, 2, 0]].T.ravel(), s[:, [2, 0, 1]].T.ravel()
    ekey = np.minimum(u, v).astype(np.int64) * n_points + np.maximum(u, v)
    # an edge of a triangulation is held by two triangles at most: the two of a pair are
    # told of each other in either order, so the faster unstable sort gives the same; an
    # edge held three times (not a triangulation) pairs in the stable sort's order
    o = np.argsort(ekey)
    pair = ekey[o][1:] == ekey[o][:-1]
    if np.any(pair[1:] & pair[:-1]):
        o = np.argsort(ekey, kind="stable")
        pair = ekey[o][1:] == ekey[o][:-1]
    a, b = o[:-1][pair], o[1:][pair]
    nb = np.full(3 * n, -1)
    nb[a] = b % n
    nb[b] = a % n
    return nb.reshape(3, n).T


def _bisectors(xy: np.ndarray, labels: np.ndarray, reach: float) -> np.ndarray | None:
    """Voronoi edges between samples of different neighbours as ``(m, 2, 2)`` segments
    (rays on the hull cut at ``reach``); ``None`` where a flat triangle joins two neighbours.
    All triangles at once in numpy."""
    tri = _triangles(xy)
    if tri is None:
        return None
    s, nb = tri
    # near the origin: the circumcentres keep their precision
    segs, _ti, flat = _voronoi_segments(xy, s, nb, labels, xy.min(axis=0), reach)
    # GEOS keeps flat triangles of collinear hull points: harmless while their corners are
    # one neighbour's (no edge between them is drawn), else let the per-cell way decide
    lab = labels[s[flat]]
    if np.any(lab != lab[:, :1]):
        return None
    return segs if np.isfinite(segs).all() else None


def _voronoi_segments(
    xy: np.ndarray,
    s: np.ndarray,
    nb: np.ndarray,
    labels: np.ndarray,
    o,
    reach,
    *,
    want_pairs: bool = False,
) -> tuple[np.ndarray, ...]:
    """The Voronoi edges dual to the Delaunay edges ``s``/``nb`` that join samples of two
    labels, as ``(m, 2, 2)`` segments, the triangle of each, and which triangles are flat.

    ``o``: the origin the circumcentres are computed from (one, or one per triangle);
    ``reach``: where rays out of the hull are cut (one, or one per triangle);
    ``want_pairs``: also the two samples each edge lies between."""
    p = xy[s] - (o[:, None, :] if np.ndim(o) == 2 else o)
    b, c = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    d = 2.0 * (b[:, 0] * c[:, 1] - b[:, 1] * c[:, 0])
    b2, c2 = (b**2).sum(axis=1), (c**2).sum(axis=1)
    flat = np.abs(d) <= 1e-15 * (b2 + c2)
    d = np.where(flat, 1.0, d)
    cc = (
        p[:, 0]
        + np.column_stack([c[:, 1] * b2 - b[:, 1] * c2, b[:, 0] * c2 - c[:, 0] * b2]) / d[:, None]
    )
    cc = cc + o
    # corner k of triangle t, as (k, t): its opposite edge u-v, the corner w and the
    # triangle across; an edge between two neighbours' samples is drawn once between the
    # two circumcentres, or as a ray out of the hull
    u, v, w, n = s[:, [1, 2, 0]].T, s[:, [2, 0, 1]].T, s.T, nb.T
    t = np.broadcast_to(np.arange(len(s)), u.shape)
    diff = labels[u] != labels[v]
    inner, hull = diff & (n > t), diff & (n < 0)
    k, kind, ti = np.nonzero(np.stack([inner, hull], axis=1))
    end = cc[n[k, ti]]
    h = np.flatnonzero(kind == 1)
    if len(h):
        ui, vi, wi = u[k[h], ti[h]], v[k[h], ti[h]], w[k[h], ti[h]]
        e = xy[vi] - xy[ui]
        out = np.column_stack([e[:, 1], -e[:, 0]])
        out *= -np.sign(((xy[wi] - xy[ui]) * out).sum(axis=1))[:, None]
        out /= np.linalg.norm(out, axis=1)[:, None]
        end[h] = (xy[ui] + xy[vi]) / 2.0 + out * (
            reach if np.ndim(reach) == 0 else reach[ti[h]][:, None]
        )
    if want_pairs:
        return np.stack([cc[ti], end], axis=1), ti, flat, np.stack([u[k, ti], v[k, ti]], axis=1)
    return np.stack([cc[ti], end], axis=1), ti, flat


def _split_by_edges(
    strip, xy: np.ndarray, labels: np.ndarray, simplify_m: float
) -> tuple[dict, list] | None:
    """The fast path: the Voronoi edges between neighbours cut the strip into faces (the
    lines clipped to its bounding box, noded into its outline), each face goes to the
    neighbour of its nearest sample; ``None`` when the faces do not tile the strip."""
    x0, y0, x1, y1 = strip.bounds
    segs = _bisectors(xy, labels, 4.0 * ((x1 - x0) + (y1 - y0)) + 10.0)
    if segs is None:
        return None
    lines = shapely.multilinestrings(shapely.linestrings(segs))
    inner = shapely.line_merge(shapely.clip_by_rect(lines, x0 - 1, y0 - 1, x1 + 1, y1 + 1))
    if simplify_m > 0:
        inner = shapely.simplify(inner, simplify_m)
    cut = _cut(np.array([strip], dtype=object), np.array([inner], dtype=object))[0]
    return None if cut is None else _by_nearest(cut[0], xy, labels, cut[1])


def _split_by_cells(strip, xy: np.ndarray, labels: np.ndarray) -> dict | None:
    """The per-cell way: Voronoi cells of the samples clipped to the strip in one batch
    and joined per neighbour (joining them before the clip is cheaper but leaves sub-m²
    bits that split blocks on real roads: Huangpu)."""
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=strip, ordered=True)
    )
    if len(cells) != len(xy):
        return None
    cells = shapely.intersection(cells, strip)
    out = {}
    for j in np.unique(labels).tolist():
        piece = _join_cells(cells[labels == j])
        if not piece.is_empty and piece.area > 0:
            out[j] = piece
    return out


def polygonal(g):
    """Only the polygonal part of ``g`` (drops points and lines left by overlay noise)."""
    if g is None or g.is_empty:
        return g
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = shapely.get_parts(g)
    parts = parts[np.isin(shapely.get_type_id(parts), [3, 6])]
    return shapely.union_all(parts) if len(parts) else shapely.Polygon()


def _join_cells(cells: np.ndarray):
    """Union of polygons that share their edges: a coverage union (about 5× cheaper), or a
    full union where they are degenerate."""
    if len(cells) == 1:
        return cells[0]
    if len(cells) > 1:
        try:
            out = shapely.coverage_union_all(cells)
        except shapely.errors.GEOSException:
            out = None
        if out is not None and out.geom_type in ("Polygon", "MultiPolygon"):
            return out
    return shapely.union_all(cells)


def split_medial_many(
    tasks: list, segment_m: float, *, simplify_m: float | None = None
) -> list[tuple[dict, list] | None]:
    """:func:`split_medial` of many strips at once, the same answer for each bit for bit.

    The samples, Delaunay triangles and Voronoi edges of all strips come from one batch of
    GEOS calls and one numpy pass over all triangles (the per-strip way spends more time in
    the overhead of its ≈ 60 numpy and GEOS calls than in the work on a strip's few hundred
    samples); the overlays stay one per strip and neighbour, vectorised. A strip the fast
    path cannot vouch for is handed to :func:`split_medial`.

    Parameters
    ----------
    tasks
        ``(strip, borders)`` pairs as :func:`split_medial` takes them.
    segment_m, simplify_m
        As in :func:`split_medial`.

    Returns
    -------
    list
        :func:`split_medial`'s answer for each task, in order.
    """
    tol = SIMPLIFY_M if simplify_m is None else simplify_m
    out: list = [None] * len(tasks)
    xy, labels, task = _samples_many([b for _, b in tasks], segment_m)
    # strips with samples of two neighbours or more (the others are not split); the
    # samples come grouped by strip
    start = np.flatnonzero(np.r_[True, np.diff(task) != 0]) if len(task) else task
    other = labels != np.repeat(labels[start], np.diff(np.r_[start, len(task)]))
    two = np.bincount(task[other], minlength=len(tasks)) > 0
    keep = two[task]
    xy, labels, task = xy[keep], labels[keep], task[keep]
    bounds = shapely.bounds(np.array([s for s, _ in tasks], dtype=object)).reshape(-1, 4)
    reach = 4.0 * ((bounds[:, 2] - bounds[:, 0]) + (bounds[:, 3] - bounds[:, 1])) + 10.0
    segs, seg_task, bad = _bisectors_many(xy, labels, task, reach, len(tasks))
    alone = two & bad  # not for the fast path: the per-strip way decides
    bad |= ~two
    faces = _faces_many(tasks, segs, seg_task, ~bad, bounds, tol)
    pieces = _parts_many(tasks, xy, labels, task, faces)
    done = [t for t, res in pieces.items() if res is not None and len(res[0]) >= 2]
    alone[[t for t, res in pieces.items() if res is None]] = True
    snapped = _onto_borders_many([pieces[t][0] for t in done], [dict(tasks[t][1]) for t in done])
    for t, got in zip(done, snapped, strict=True):
        out[t] = (got, pieces[t][1])
    for t in np.flatnonzero(alone).tolist():
        out[t] = split_medial(tasks[t][0], tasks[t][1], segment_m, simplify_m=simplify_m)
    return out


def _samples_many(borders_list: list, segment_m: float) -> tuple[np.ndarray, ...]:
    """:func:`_samples` of many strips: points, neighbour and strip of each (grouped by
    strip, in the order the per-strip call gives)."""
    labs = np.array([j for b in borders_list for j, _ in b])
    of = np.array([t for t, b in enumerate(borders_list) for _ in b], dtype=np.int64)
    geoms = np.array([g for b in borders_list for _, g in b], dtype=object)
    empty = np.zeros((0, 2)), labs[:0], of[:0]
    if len(geoms) == 0:
        return empty
    parts, owner = shapely.get_parts(geoms, return_index=True)
    kind = shapely.get_type_id(parts)
    lines = (kind == 1) | (kind == 2)
    if not lines.any():
        return empty
    xy, at = shapely.get_coordinates(shapely.segmentize(parts[lines], segment_m), return_index=True)
    if len(xy) == 0:
        return empty
    src = owner[lines][at]
    task, r = of[src], np.round(xy, 3)
    # a point repeated (to the mm) within one strip is kept once, its first occurrence
    o = np.lexsort((r[:, 1], r[:, 0], task))
    start = np.r_[True, (np.diff(task[o]) != 0) | np.any(r[o][1:] != r[o][:-1], axis=1)]
    first = np.sort(o[start])
    return xy[first], labs[src[first]], task[first]


def _triangles_many(xy: np.ndarray, task: np.ndarray, n_tasks: int) -> tuple[np.ndarray, ...]:
    """:func:`_triangles` of many strips (``xy`` grouped by strip): corners as indices into
    ``xy``, triangle across each edge, strip of each triangle, and the strips whose
    triangulation failed (:func:`_triangles` gives ``None``)."""
    bad = np.zeros(n_tasks, dtype=bool)
    none = np.zeros((0, 3), dtype=np.int64)
    if len(xy) < 2:
        return none, none, np.zeros(0, dtype=np.int64), np.ones(n_tasks, dtype=bool)
    # the samples come grouped by strip
    compact = np.cumsum(np.r_[False, np.diff(task) != 0])
    ids = task[np.flatnonzero(np.r_[True, np.diff(task) != 0])]
    # one GEOS call for all strips (one triangulation each, in GEOS's order: the per-strip
    # way's, :func:`delaunay.geos_triangles`; not one call per strip)
    tri = shapely.delaunay_triangles(shapely.linestrings(xy, indices=compact))
    bad[np.setdiff1d(np.arange(n_tasks), ids)] = True
    corners, at = shapely.get_coordinates(tri, return_index=True)
    corners, ct = corners.reshape(-1, 4, 2)[:, :3].reshape(-1, 2), ids[at[::4]]
    bad[ids[shapely.is_empty(tri)]] = True
    # each corner to the point it is, strip by strip (a point can be in two strips)
    idx = np.full(len(corners), -1, dtype=np.int64)
    start = np.flatnonzero(np.r_[True, np.diff(task) != 0, True])
    cstart = np.searchsorted(np.repeat(ct, 3), task[start[:-1]])
    cend = np.searchsorted(np.repeat(ct, 3), task[start[:-1]], "right")
    key = xy[:, 0] + 1j * xy[:, 1]
    ck = corners[:, 0] + 1j * corners[:, 1]
    for a, b, ca, cb in zip(start[:-1], start[1:], cstart, cend, strict=True):
        if ca == cb:
            continue
        order = np.argsort(key[a:b]) + a
        i = order[np.clip(np.searchsorted(key[order], ck[ca:cb]), 0, b - a - 1)]
        idx[ca:cb] = np.where(key[i] == ck[ca:cb], i, -1)
    keep = ~bad[ct]  # a failed strip's triangles are left out before the pairing
    s, ct = idx.reshape(-1, 3)[keep], ct[keep]
    return s, _across(s, len(xy)), ct, bad


def _bisectors_many(
    xy: np.ndarray, labels: np.ndarray, task: np.ndarray, reach: np.ndarray, n_tasks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_bisectors` of many strips: segments, strip of each, and the strips for which
    :func:`_bisectors` gives ``None``. The same arithmetic per triangle, so the same bits."""
    s, nb, tt, bad = _triangles_many(xy, task, n_tasks)
    if len(s) == 0:
        return np.zeros((0, 2, 2)), np.zeros(0, dtype=np.int64), np.ones(n_tasks, dtype=bool)
    start = np.flatnonzero(np.r_[True, np.diff(task) != 0])
    origin = np.zeros((n_tasks, 2))
    origin[task[start]] = np.minimum.reduceat(xy, start, axis=0)
    segs, ti, flat = _voronoi_segments(xy, s, nb, labels, origin[tt], reach[tt])
    lab = labels[s[flat]]
    bad[np.unique(tt[flat][np.any(lab != lab[:, :1], axis=1)])] = True
    st = tt[ti]
    bad[np.unique(st[~np.isfinite(segs).all(axis=(1, 2))])] = True
    o = np.argsort(st, kind="stable")
    return segs[o], st[o], bad


def _faces_many(
    tasks: list, segs: np.ndarray, seg_task: np.ndarray, ok: np.ndarray, bounds, tol: float
) -> dict:
    """For each strip ``t`` in ``ok``: the lines between its neighbours' parts (as
    :func:`_split_by_edges` makes them) and the strip cut by them (:func:`_cut`)."""
    ids = np.flatnonzero(ok)
    if len(ids) == 0:
        return {}
    keep = ok[seg_task]
    st = seg_task[keep]
    first = np.flatnonzero(np.r_[True, np.diff(st) != 0])
    ids = st[first]
    # one MultiLineString of 2-point lines per strip, built from the flat coordinates
    lines = shapely.from_ragged_array(
        shapely.GeometryType.MULTILINESTRING,
        segs[keep].reshape(-1, 2),
        (np.arange(0, 2 * len(st) + 1, 2), np.r_[first, len(st)]),
    )
    x0, y0, x1, y1 = (bounds[ids, k] for k in range(4))
    inner = np.array(
        [
            shapely.clip_by_rect(g, a - 1, b - 1, c + 1, d + 1)
            for g, a, b, c, d in zip(lines, x0, y0, x1, y1, strict=True)
        ],
        dtype=object,
    )
    inner = shapely.line_merge(inner)
    if tol > 0:
        inner = shapely.simplify(inner, tol)
    strips = np.array([tasks[t][0] for t in ids.tolist()], dtype=object)
    cut = _cut(strips, inner)
    return {t: c for t, c in zip(ids.tolist(), cut, strict=True)}


def _cut(strips: np.ndarray, inner: np.ndarray) -> list:
    """Each strip cut by its lines: ``(faces, lines inside the strip)``, or ``None`` where
    the faces do not tile the strip. The lines are noded into the strip's outline once
    (one union, one polygonize); no overlay of polygons."""
    ring = shapely.boundary(strips)
    noded = shapely.union(inner, ring)
    shapely.prepare(strips)
    faces, fo = shapely.get_parts(shapely.polygonize(noded[:, None]), return_index=True)
    inside = shapely.contains_properly(strips[fo], shapely.point_on_surface(faces))
    faces, fo = faces[inside], fo[inside]
    lines, lo = shapely.get_parts(noded, return_index=True)
    mid = shapely.line_interpolate_point(lines, 0.5, normalized=True)
    # a point interpolated on the outline may test as inside by float noise: the lines
    # inside are those whose middle is off the outline
    inside = shapely.contains_properly(strips[lo], mid) & (shapely.length(lines) > 0)
    # more than 1 µm off the outline: asked of the prepared outline (an indexed test that
    # stops at the first segment within reach, not a distance to every segment)
    shapely.prepare(ring)
    inside[inside] = ~shapely.dwithin(ring[lo[inside]], mid[inside], 1e-6)
    lines, lo = lines[inside], lo[inside]
    n = len(strips)
    area = np.bincount(fo, weights=shapely.area(faces), minlength=n)
    good = np.abs(area - shapely.area(strips)) <= 1e-9 * shapely.area(strips)
    fsplit = np.split(faces, np.searchsorted(fo, np.arange(1, n)))
    lsplit = np.split(lines, np.searchsorted(lo, np.arange(1, n)))
    return [
        (f, ln.tolist()) if ok else None for f, ln, ok in zip(fsplit, lsplit, good, strict=True)
    ]


def _parts_many(tasks: list, xy, labels, task, faces: dict) -> dict:
    """For each strip in ``faces``: ``({neighbour: part}, lines)``, each face going to the
    neighbour of its nearest sample (``None`` where the faces did not tile the strip)."""
    out: dict = {}
    keys = list(faces)
    lo, hi = np.searchsorted(task, keys, "left"), np.searchsorted(task, keys, "right")
    for (t, f), a, b in zip(faces.items(), lo.tolist(), hi.tolist(), strict=True):
        out[t] = None if f is None else _by_nearest(f[0], xy[a:b], labels[a:b], f[1])
    return out


def _by_nearest(faces: np.ndarray, xy: np.ndarray, labels: np.ndarray, lines: list) -> tuple:
    """``({neighbour: its faces joined}, lines)``: a face goes to the neighbour of the
    sample nearest to a point inside it (a few faces × a few hundred samples)."""
    at = shapely.get_coordinates(shapely.point_on_surface(faces))
    flab = labels[np.argmin(((at[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2), axis=1)]
    noise = shapely.area(faces) < NOISE_M2
    if noise.any() and not noise.all():
        # a face of float noise (a line passing a vertex of the outline by nm) goes with
        # the face it shares most border with: on its own it would be a speck of a part
        big = np.flatnonzero(~noise)
        rings = shapely.boundary(faces[big])
        for k in np.flatnonzero(noise).tolist():
            shared = shapely.length(shapely.intersection(faces[k].boundary, rings))
            if shared.max() > 0:
                flab[k] = flab[big[int(np.argmax(shared))]]
    out = {}
    for j in np.unique(flab).tolist():
        piece = polygonal(_join_cells(faces[flab == j]))
        if not piece.is_empty and piece.area > 0:
            out[j] = piece
    return out, lines


def split_region(
    region, xy: np.ndarray, labels: np.ndarray, *, simplify_m: float = 0.0
) -> tuple[np.ndarray, np.ndarray, list] | None:
    """Cut ``region`` (all road strips of a community at once) into the parts nearest to
    each label's samples: one Delaunay triangulation of all samples, the Voronoi edges
    between samples of two labels that reach into ``region``, noded into its outline (one
    union, one polygonize).

    Parameters
    ----------
    region
        Polygon or MultiPolygon (metres): the union of the strips.
    xy, labels
        Samples on the borders between ``region`` and its neighbours, and the neighbour of
        each. A point of ``region`` is nearest to a sample on its own part of the outline
        (any straight path out of it crosses the outline), so one triangulation serves all
        strips.

    Returns
    -------
    tuple or None
        ``(faces, label of each face, lines between the faces inside region)``; ``None``
        when the faces do not tile ``region`` or the triangulation failed.
    """
    if len(xy) < 3 or len(np.unique(labels)) < 2:
        return None
    # a deterministic 10 µm jitter: no three samples exactly collinear, no flat triangle
    jit = xy + np.random.default_rng(0).uniform(-1e-5, 1e-5, xy.shape)
    tri = _mixed_triangles(jit, labels)
    if tri is None:
        return None
    s, nb = tri
    x0, y0, x1, y1 = region.bounds
    reach = 4.0 * ((x1 - x0) + (y1 - y0)) + 10.0
    segs, _ti, _flat, uv = _voronoi_segments(
        jit, s, nb, labels, jit.min(axis=0), reach, want_pairs=True
    )
    fin = np.isfinite(segs).all(axis=(1, 2))
    segs, uv = segs[fin], uv[fin]
    # the edges with an end or their middle in the region (prepared point-in-polygon), or
    # between two samples whose middle is on it (a strip too thin to hold a vertex)
    shapely.prepare(region)
    hit = np.zeros(len(segs), dtype=bool)
    for pt in (segs[:, 0], segs[:, 1], segs.mean(axis=1)):
        # most edges lie in the strips: each point tested only where the last missed
        rest = np.flatnonzero(~hit)
        hit[rest] = shapely.intersects_xy(region, pt[rest, 0], pt[rest, 1])
    if not hit.all():
        mid = (xy[uv[~hit, 0]] + xy[uv[~hit, 1]]) / 2.0
        around = mid[None] + np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]])[:, None] * 1e-3
        near = shapely.intersects_xy(region, around[..., 0].ravel(), around[..., 1].ravel())
        hit[~hit] = near.reshape(5, -1).any(axis=0)
    if not hit.any():
        return None
    box = (x0 - 1, y0 - 1, x1 + 1, y1 + 1)
    clipped = _clipped(segs[hit], box)
    inner = None if clipped is None else _merge_pairs(clipped.reshape(-1, 2))
    if inner is None:  # the edges as one MultiLineString, clipped and merged by GEOS's rules
        n = int(hit.sum())
        edges = shapely.from_ragged_array(
            shapely.GeometryType.MULTILINESTRING,
            segs[hit].reshape(-1, 2),
            (np.arange(0, 2 * n + 1, 2), np.array([0, n])),
        )[0]
        inner = merge_segments(shapely.clip_by_rect(edges, *box))
    if simplify_m > 0:
        inner = shapely.simplify(inner, simplify_m, preserve_topology=False)
    cut = _cut(np.array([region], dtype=object), np.array([inner], dtype=object))[0]
    if cut is None:
        return None
    faces, mid = cut
    return faces, _nearest_labels(faces, xy, labels), mid


def _nearest_labels(faces: np.ndarray, xy: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The label of the sample nearest to a point inside each face; a face of
    float noise (below :data:`NOISE_M2`) takes the label of the face it shares most border
    with."""
    # a k-d tree of the samples' coordinates: no point geometry made for each of the
    # thousands of samples (that cost more than the rest of the labelling)
    at = shapely.get_coordinates(shapely.point_on_surface(faces))
    flab = labels[cKDTree(xy).query(at, k=1)[1]]
    noise = shapely.area(faces) < NOISE_M2
    if noise.any() and not noise.all():
        big = np.flatnonzero(~noise)
        tree = shapely.STRtree(faces[big])
        for k in np.flatnonzero(noise).tolist():
            near = tree.query(faces[k], predicate="intersects")
            if len(near) == 0:
                continue
            rings = shapely.boundary(faces[big[near]])
            shared = shapely.length(shapely.intersection(faces[k].boundary, rings))
            if shared.max() > 0:
                flab[k] = flab[big[near[int(np.argmax(shared))]]]
    return flab


def _clipped(segs: np.ndarray, box: tuple) -> np.ndarray | None:
    """Segments ``segs`` (``(n, 2, 2)``) clipped to ``box``, in order, those left outside
    dropped: the coordinates of what :func:`shapely.clip_by_rect` makes of them as one
    MultiLineString. Only the few not strictly inside (the rays of the Voronoi diagram's
    hull) go to GEOS. ``None`` where a clipped segment is other than two points."""
    x0, y0, x1, y1 = box
    x, y = segs[..., 0], segs[..., 1]
    out = np.flatnonzero(~((x > x0) & (x < x1) & (y > y0) & (y < y1)).all(axis=1))
    if len(out) == 0:
        return segs
    cut = shapely.clip_by_rect(shapely.linestrings(segs[out]), x0, y0, x1, y1)
    left = ~shapely.is_empty(cut)
    if not (shapely.get_type_id(cut[left]) == 1).all():
        return None
    xy = shapely.get_coordinates(cut[left])
    if len(xy) != 2 * int(left.sum()):
        return None
    keep = np.ones(len(segs), dtype=bool)
    keep[out[~left]] = False
    res = segs.copy()
    res[out[left]] = xy.reshape(-1, 2, 2)
    return res[keep]


def merge_segments(lines):
    """:func:`shapely.line_merge` of lines of two points each (the clipped Voronoi edges
    of :func:`split_region`), the same geometry bit for bit, in numpy and one walk.

    It follows GEOS's line merger: the segments' ends are the nodes (exact coordinates,
    in x-then-y order); the edges out of a node are taken counter-clockwise from the east
    (by quadrant, then angle); an edge string starts at a node of degree other than two, at
    each of its edges not yet used, and runs on through nodes of degree two; the cycles
    left start at their first node, at its first edge; a string runs backwards when more
    of its segments point against it than along it.

    Parameters
    ----------
    lines
        LineString or MultiLineString.

    Returns
    -------
    shapely.Geometry
        What :func:`shapely.line_merge` returns (it is called instead when a part has other
        than two points, or no part is left).
    """
    n = shapely.get_num_geometries(lines)
    xy = shapely.get_coordinates(lines)
    if n == 0 or len(xy) != 2 * n or shapely.get_type_id(lines) not in (1, 5):
        return shapely.line_merge(lines)
    merged = _merge_pairs(xy)
    return shapely.line_merge(lines) if merged is None else merged


def _merge_pairs(xy: np.ndarray):
    """:func:`merge_segments` of the segments whose ends are rows ``2k`` and ``2k + 1`` of
    ``xy``; ``None`` when none is left (all of one point)."""
    if len(xy) == 0:
        return None
    keep = np.any(xy[0::2] != xy[1::2], axis=1)  # a repeated point is no edge
    if not keep.all():
        xy = xy.reshape(-1, 2, 2)[keep].reshape(-1, 2)
    if len(xy) == 0:
        return None
    star, two = _merge_graph(xy)
    return _merge_strings(xy, _merge_walk(star, two))


def _merge_graph(ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The directed edges (edge ``d`` leaves end ``d`` towards end ``d ^ 1``) sorted by
    their node (ends ranked x then y), then counter-clockwise from the east; and whether
    each edge leaves a node of degree two."""
    key = ends[:, 0] + 1j * ends[:, 1]
    order = np.argsort(key)  # complex numbers sort by real part, then imaginary
    s = key[order]
    node = np.empty(len(ends), dtype=np.int64)
    node[order] = np.cumsum(np.r_[True, s[1:] != s[:-1]]) - 1
    v = ends.reshape(-1, 2, 2)[:, ::-1].reshape(-1, 2) - ends
    east, north = v[:, 0] >= 0, v[:, 1] >= 0
    quad = np.where(east, np.where(north, 0, 3), np.where(north, 1, 2))
    o = np.argsort(np.arctan2(v[:, 1], v[:, 0]))
    star = o[np.argsort((node * 4 + quad)[o], kind="stable")]
    return star, np.bincount(node)[node] == 2


def _merge_walk(star: np.ndarray, two: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The edge strings in GEOS's order (:func:`merge_segments`): their directed edges one
    string after another, and each string's length.

    GEOS walks the edges out of the nodes of degree other than two, in ``star`` order, then
    those of degree two, each string from the first of its edges not yet used. So a string
    runs from the end whose first edge comes first in that order, a cycle from its first
    edge either way round, and the strings come in the order of their first edges: found
    for all edges at once by pointer doubling (each edge's first edge and rank on it)."""
    n_dir = len(star)
    other = np.full(n_dir, -1, dtype=np.int64)
    s2 = star[two[star]]  # a degree-two node's two edges are neighbours in ``star``
    other[s2[0::2]], other[s2[1::2]] = s2[1::2], s2[0::2]
    nxt = other[np.arange(n_dir) ^ 1]  # the edge after each, -1 where its node ends it
    order = np.concatenate([star[~two[star]], s2])  # the walk's order of first edges
    pos = np.empty(n_dir, dtype=np.int64)
    pos[order] = np.arange(n_dir)
    has = np.flatnonzero(nxt >= 0)
    prv = np.full(n_dir, -1, dtype=np.int64)
    prv[nxt[has]] = has
    rounds = int(n_dir).bit_length() + 1  # 2**rounds > any string's length
    first, rank = _ranked(prv, rounds)
    cyc = prv[first] >= 0  # on a cycle: no edge before all others
    keep = np.zeros(n_dir, dtype=bool)
    if cyc.any():
        c = np.flatnonzero(cyc)
        low = np.full(n_dir, n_dir, dtype=np.int64)
        low[c] = pos[c]
        j = np.where(cyc, nxt, np.arange(n_dir))
        for _ in range(rounds):  # the lowest position on each cycle
            low = np.minimum(low, low[j])
            j = j[j]
        mine = low[c] < low[c ^ 1]  # this way round holds the cycle's first edge
        prv[np.unique(order[low[c[mine]]])] = -1
        first, rank = _ranked(prv, rounds)
        keep[c[mine]] = True
    line = np.flatnonzero(~cyc)
    keep[line] = pos[first[line]] < pos[first[line ^ 1]]
    d = np.flatnonzero(keep)
    o = np.lexsort((rank[d], pos[first[d]]))
    d = d[o]
    starts = np.flatnonzero(np.r_[True, first[d[1:]] != first[d[:-1]]])
    return d, np.diff(np.r_[starts, len(d)])


def _ranked(prv: np.ndarray, rounds: int) -> tuple[np.ndarray, np.ndarray]:
    """Pointer doubling back along ``prv`` (the edge before each, -1 at a string's start):
    each edge's first edge and its rank from it (on a cycle: meaningless)."""
    n = len(prv)
    ptr = np.where(prv >= 0, prv, np.arange(n))
    rank = (prv >= 0).astype(np.int64)
    for _ in range(rounds):
        nptr = ptr[ptr]
        if np.array_equal(nptr, ptr):
            break
        rank = rank + rank[ptr]
        ptr = nptr
    return ptr, rank


def _merge_strings(ends: np.ndarray, chains: tuple[np.ndarray, np.ndarray]):
    """The LineString of each edge string (its first edge's start, then every edge's end;
    reversed when most of its edges run backwards); one, or a MultiLineString of them.
    ``chains``: the strings' directed edges one after another, and their lengths."""
    d, lens = chains
    n_chains = len(lens)
    first = np.r_[0, np.cumsum(lens)[:-1]]
    back = np.add.reduceat(d & 1, first) * 2 > lens
    pidx = np.insert(d ^ 1, first, d[first])
    npt = lens + 1
    pc = np.repeat(np.arange(n_chains), npt)
    if back.any():
        pstart = np.r_[0, np.cumsum(npt)[:-1]]
        rev = 2 * pstart[pc] + npt[pc] - 1 - np.arange(len(pidx))
        pidx = np.where(back[pc], pidx[rev], pidx)
    out = shapely.linestrings(ends[pidx], indices=pc)
    return out[0] if len(out) == 1 else shapely.multilinestrings(out)
