"""The medial split of road strips (partition/medial.py) against the per-cell Voronoi split.

Fixture: the median strips of a small :func:`gridgeo.testing.dual_carriageway_city`, each
with the blocks around it, as the first sliver-merge pass sees them.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from partition_reference import _medial_lines, split_medial_cells

import gridgeo.partition.medial as medial
from gridgeo.partition import delaunay
from gridgeo.partition.blocks import _pp, _width, faces
from gridgeo.partition.clean import clean_roads
from gridgeo.partition.medial import split_medial
from gridgeo.testing import dual_carriageway_city

SEGMENT_M = 2.0


@pytest.fixture(scope="module")
def strips():
    comm, roads, _ = dual_carriageway_city(2, 1, size=600.0, n_households=6000, seed=3)
    lines = clean_roads(roads.geometry.to_numpy())
    out = []
    for area in comm.geometry:
        polys = faces(area, lines)
        thin = np.array([_width(g) < 30.0 and _pp(g) < 0.3 for g in polys])
        tree = shapely.STRtree(polys)
        for i in np.flatnonzero(thin):
            g = polys[i]
            near = [int(j) for j in tree.query(g, predicate="dwithin", distance=0.01)]
            nbrs = []
            for j in sorted(set(near) - {int(i)}):
                shared = shapely.intersection(g.boundary, polys[j].boundary)
                if not thin[j] and shared.length >= 0.5:
                    nbrs.append((j, polys[j], shared))
            if len(nbrs) > 1:
                out.append((g, nbrs))
    assert len(out) > 40
    return out


def _split(strip, nbrs, **kw):
    return split_medial(strip, [(j, shared) for j, _, shared in nbrs], SEGMENT_M, **kw)


def test_unsimplified_split_gives_the_voronoi_cells_parts(strips, monkeypatch):
    calls = []
    cells = medial._split_by_cells
    monkeypatch.setattr(medial, "_split_by_cells", lambda *a: calls.append(1) or cells(*a))
    for strip, nbrs in strips:
        new, lines = _split(strip, nbrs, simplify_m=0.0)
        old = split_medial_cells(strip, [(j, ng) for j, ng, _ in nbrs], SEGMENT_M)
        assert set(new) == set(old)
        for j in old:
            assert shapely.symmetric_difference(new[j], old[j]).area < 1e-4
        # the lines returned are where the parts meet
        meet = sum(g.length for g in _medial_lines(old))
        assert abs(sum(g.length for g in lines) - meet) < 1e-3 * max(meet, 1.0)
    # the Delaunay way answered for (nearly) all of them
    assert len(calls) <= 0.05 * len(strips)


@pytest.mark.parametrize("tol", [medial.SIMPLIFY_M, 0.05])
def test_split_tiles_the_strip_and_stays_within_its_tolerance(strips, tol):
    verts_new = verts_old = 0
    for strip, nbrs in strips:
        new, lines = _split(strip, nbrs, simplify_m=tol)
        exact, _ = _split(strip, nbrs, simplify_m=0.0)
        assert set(new) == set(exact)
        parts = np.array(list(new.values()), dtype=object)
        assert shapely.is_valid(parts).all()
        assert abs(shapely.area(parts).sum() - strip.area) < 1e-6 * strip.area
        assert shapely.union_all(parts).symmetric_difference(strip).area < 1e-3
        for j in new:
            # a border moved by at most the tolerance along its length
            moved = shapely.symmetric_difference(new[j], exact[j]).area
            assert moved <= tol * exact[j].boundary.length + 1e-6
        verts_new += sum(shapely.get_num_coordinates(g) for g in lines)
        verts_old += sum(shapely.get_num_coordinates(g) for g in _medial_lines(exact))
    # simplified, the lines carry far fewer vertices into the later overlays
    assert verts_new < (0.5 if tol >= 0.05 else 1.01) * verts_old


def test_split_is_deterministic(strips):
    for strip, nbrs in strips[:10]:
        a, la = _split(strip, nbrs)
        b, lb = _split(strip, nbrs)
        assert {j: g.wkb for j, g in a.items()} == {j: g.wkb for j, g in b.items()}
        assert [g.wkb for g in la] == [g.wkb for g in lb]


def _box_strip():
    # integer corners: the samples along the bottom are exactly collinear, also where the
    # two bottom blocks meet
    strip = shapely.box(0, 0, 100, 6)
    nbrs = [
        (0, shapely.box(0, -50, 50, 0)),
        (1, shapely.box(50, -50, 100, 0)),
        (2, shapely.box(0, 6, 100, 50)),
    ]
    return strip, nbrs, [(j, shapely.intersection(strip.boundary, g.boundary)) for j, g in nbrs]


@pytest.mark.parametrize("fast", [True, False])
def test_two_neighbours_on_one_straight_side(fast, monkeypatch):
    if not fast:  # the per-cell way answers when the edges cannot
        monkeypatch.setattr(medial, "_bisectors", lambda *a: None)
    strip, nbrs, borders = _box_strip()
    new, lines = split_medial(strip, borders, SEGMENT_M, simplify_m=0.0)
    old = split_medial_cells(strip, nbrs, SEGMENT_M)
    assert set(new) == set(old) == {0, 1, 2}
    for j in old:
        assert shapely.symmetric_difference(new[j], old[j]).area < 1e-6
    assert abs(new[2].area - 300.0) < 1e-6
    assert abs(sum(g.length for g in lines) - sum(g.length for g in _medial_lines(old))) < 1e-6


def test_one_neighbour_is_no_split():
    strip = shapely.box(0, 0, 100, 6)
    border = shapely.intersection(strip.boundary, shapely.box(0, -50, 100, 0).boundary)
    assert split_medial(strip, [(0, border)], SEGMENT_M) is None
    assert split_medial(strip, [], SEGMENT_M) is None


def test_split_many_gives_the_per_strip_answer_bit_for_bit(strips):
    # the batch of all strips at once, plus strips the per-strip way does not split (one
    # neighbour, no border) and the box strip with its flat hull triangles
    box, _, box_borders = _box_strip()
    tasks = [(strip, [(j, shared) for j, _, shared in nbrs]) for strip, nbrs in strips]
    tasks += [(strips[0][0], tasks[0][1][:1]), (strips[1][0], []), (box, box_borders)]
    many = medial.split_medial_many(tasks, SEGMENT_M)
    assert len(many) == len(tasks)
    for (strip, borders), got in zip(tasks, many, strict=True):
        one = split_medial(strip, borders, SEGMENT_M)
        assert (got is None) == (one is None)
        if one is not None:
            assert {j: g.wkb for j, g in got[0].items()} == {j: g.wkb for j, g in one[0].items()}
            assert [g.wkb for g in got[1]] == [g.wkb for g in one[1]]
    assert medial.split_medial_many([], SEGMENT_M) == []


def _voronoi_edges(seed: int, n: int = 300) -> np.ndarray:
    """Voronoi edges between points of different labels, as 2-point segments, clipped to a
    box (the input :func:`medial.split_region` merges): paths, branches, cycles."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (n, 2))
    labels = (xy[:, 0] // 25 + 3 * (xy[:, 1] // 40)).astype(int)
    labels[rng.random(n) < 0.05] = 99  # islands: closed bisectors
    s, nb = medial._triangles(xy)
    segs, *_ = medial._voronoi_segments(xy, s, nb, labels, xy.min(axis=0), 500.0)
    return segs[np.isfinite(segs).all(axis=(1, 2))]


@pytest.mark.parametrize("seed", range(12))
def test_merge_segments_is_geos_line_merge_bit_for_bit(seed):
    """The numpy chain merge gives GEOS's ``line_merge`` (same strings, order, direction)."""
    segs = _voronoi_edges(seed)
    rng = np.random.default_rng(seed)
    flip = rng.random(len(segs)) < 0.5  # directions do not follow the strings
    segs[flip] = segs[flip, ::-1]
    lines = shapely.clip_by_rect(
        shapely.multilinestrings(shapely.linestrings(segs)), 10, 10, 90, 90
    )
    assert medial.merge_segments(lines).wkb == shapely.line_merge(lines).wkb


@pytest.mark.parametrize("seed", range(3))
def test_merge_segments_long_strings_and_cycles(seed):
    """Strings and cycles of thousands of segments, given in any order and either way round
    (the walk follows them by pointer doubling): GEOS's ``line_merge`` bit for bit."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, 1500, endpoint=False)
    ring = np.column_stack([np.cos(t), np.sin(t)]) * 50 + 100  # one cycle
    path = np.column_stack([np.arange(2500.0), rng.uniform(0, 1, 2500)])  # one long string
    fork = np.array([path[1200], [1200.0, -40.0], [1180.0, -60.0]])  # a branch off it
    segs = [np.stack([ring, np.roll(ring, -1, axis=0)], axis=1)]
    segs += [np.stack([p[:-1], p[1:]], axis=1) for p in (path, fork)]
    segs = np.concatenate(segs)
    segs = segs[rng.permutation(len(segs))]
    flip = rng.random(len(segs)) < 0.5
    segs[flip] = segs[flip, ::-1]
    lines = shapely.multilinestrings(shapely.linestrings(segs))
    assert medial.merge_segments(lines).wkb == shapely.line_merge(lines).wkb


@pytest.mark.parametrize(
    "wkt",
    [
        "MULTILINESTRING ((0 0, 1 0), (1 0, 1 1), (1 1, 0 1), (0 1, 0 0))",  # one cycle
        "MULTILINESTRING ((1 0, 0 0), (1 1, 1 0), (0 0, 0 1), (0 1, 1 1), (5 5, 6 6))",
        "MULTILINESTRING ((0 0, 1 0), (1 0, 2 0), (1 0, 1 1), (1 -1, 1 0), (2 0, 2 0))",  # cross
        "LINESTRING (0 0, 1 1)",
        "MULTILINESTRING ((0 0, 1 1), (2 2, 1 1))",
        "MULTILINESTRING ((0 0, 1 1, 2 2), (2 2, 3 3))",  # not all 2-point: GEOS itself
        "MULTILINESTRING ((0 0, 0 0))",
    ],
)
def test_merge_segments_small_cases(wkt):
    g = shapely.from_wkt(wkt)
    assert medial.merge_segments(g).wkb == shapely.line_merge(g).wkb


@pytest.mark.parametrize("shared_x", [False, True])
def test_triangle_corners_are_the_points_indices(shared_x):
    """Each Delaunay corner is mapped to the point it is, whether the points' x are all
    distinct (the jittered samples: looked up by x) or not (a grid: by x and y)."""
    rng = np.random.default_rng(4)
    if shared_x:
        xy = np.stack(np.meshgrid(np.arange(12.0), np.arange(9.0)), axis=-1).reshape(-1, 2)
        xy = xy + rng.uniform(-0.2, 0.2, xy.shape) * [0, 1]  # columns keep one x
    else:
        xy = rng.uniform(0, 100, (400, 2))
    s, _ = medial._triangles(xy)
    corners = shapely.get_coordinates(shapely.delaunay_triangles(shapely.linestrings(xy)))
    assert np.array_equal(xy[s].reshape(-1, 2), corners.reshape(-1, 4, 2)[:, :3].reshape(-1, 2))
    assert delaunay.point_index(xy, np.array([[500.0, 500.0]])) is None
    assert delaunay.point_index(xy, xy[::-1]).tolist() == list(range(len(xy)))[::-1]


def _across_stable(s: np.ndarray, n_points: int) -> np.ndarray:
    """The pairing of :func:`medial._across` with the stable sort throughout."""
    n = len(s)
    u, v = s[:, [1, 2, 0]].T.ravel(), s[:, [2, 0, 1]].T.ravel()
    ekey = np.minimum(u, v).astype(np.int64) * n_points + np.maximum(u, v)
    o = np.argsort(ekey, kind="stable")
    pair = ekey[o][1:] == ekey[o][:-1]
    a, b = o[:-1][pair], o[1:][pair]
    nb = np.full(3 * n, -1)
    nb[a], nb[b] = b % n, a % n
    return nb.reshape(3, n).T


def test_triangles_across_each_edge():
    """The triangle across each edge: the neighbour sharing it, -1 on the hull; an edge held
    by three triangles (no triangulation) pairs as the stable sort pairs it."""
    xy = np.random.default_rng(7).uniform(0, 100, (500, 2))
    s, nb = medial._triangles(xy)
    assert np.array_equal(nb, _across_stable(s, len(xy)))
    edges = [{frozenset(t[[1, 2]]), frozenset(t[[2, 0]]), frozenset(t[[0, 1]])} for t in s]
    for t, k in zip(*np.nonzero(nb >= 0), strict=True):
        edge = frozenset(s[t][[(k + 1) % 3, (k + 2) % 3]])
        assert edge in edges[nb[t, k]]
    fan = np.array([[0, 1, 2], [1, 0, 3], [0, 1, 4], [2, 3, 4]])  # edge 0-1 held three times
    assert np.array_equal(medial._across(fan, 5), _across_stable(fan, 5))


@pytest.mark.parametrize("engine", ["triangle", "geos"])
@pytest.mark.parametrize("seed", range(3))
def test_mixed_triangles_are_the_triangles_between_labels(seed, engine, monkeypatch):
    """:func:`medial._mixed_triangles` gives the Delaunay triangles (GEOS's, in the canonical
    order) with corners of two labels, each edge between two labels paired with the same
    triangle as among all triangles; so the Voronoi edges between labels are those drawn
    from all triangles, bit for bit and in the same order. With Triangle or with GEOS."""
    if engine == "geos":
        monkeypatch.setattr(delaunay, "_triangle", None)
    elif delaunay._triangle is None:
        pytest.skip("the optional triangle package is not installed")
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (600, 2)) + np.array([500_000.0, 3_000_000.0])
    labels = (xy[:, 0] // 20 + 5 * (xy[:, 1] // 25)).astype(int)
    s0, _ = medial._triangles(xy)
    s = delaunay.canonical(s0)
    nb = medial._across(s, len(xy))
    lab = labels[s]
    mixed = np.any(lab != lab[:, :1], axis=1)
    sm, nbm = medial._mixed_triangles(xy, labels)
    assert np.array_equal(sm, s[mixed])
    full = np.flatnonzero(mixed)
    diff = labels[sm[:, [1, 2, 0]]] != labels[sm[:, [2, 0, 1]]]
    assert np.array_equal(np.where(nbm >= 0, full[nbm], -1)[diff], nb[mixed][diff])
    o = xy.min(axis=0)
    got = medial._voronoi_segments(xy, sm, nbm, labels, o, 500.0, want_pairs=True)
    want = medial._voronoi_segments(xy, s, nb, labels, o, 500.0, want_pairs=True)
    assert got[0].tobytes() == want[0].tobytes()
    assert np.array_equal(got[3], want[3])
    # one label: no triangle between labels
    assert len(medial._mixed_triangles(xy, np.zeros(len(xy), dtype=int))[0]) == 0


def test_mixed_triangles_without_z(monkeypatch):
    """A GEOS that drops the points' Z on the triangles: the corners are looked up among
    the points instead, with the same answer."""
    xy = np.random.default_rng(5).uniform(0, 100, (300, 2))
    labels = (xy[:, 0] // 30).astype(int)
    monkeypatch.setattr(delaunay, "_triangle", None)
    want = medial._mixed_triangles(xy, labels)
    flat = shapely.delaunay_triangles
    monkeypatch.setattr(delaunay.shapely, "delaunay_triangles", lambda g: shapely.force_2d(flat(g)))
    got = medial._mixed_triangles(xy, labels)
    assert np.array_equal(got[0], want[0])
    assert np.array_equal(got[1], want[1])
