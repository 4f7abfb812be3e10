"""Block adjacency from matching segments (blocks.adjacency) against the GEOS way it replaced
(every touching pair's boundaries intersected).

Fixture: a small :func:`gridgeo.testing.dual_carriageway_city`: the raw faces (a clean
coverage) and the blocks after the sliver merge (strip pieces joined to their blocks; in the
second community a few borders do not match their neighbours' vertex for vertex: the GEOS
fallback).
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, box

from gridgeo.partition.aggregate import Graph
from gridgeo.partition.blocks import Blocks, adjacency, assign_points, faces, tidy_blocks
from gridgeo.partition.clean import clean_roads
from gridgeo.testing import dual_carriageway_city


def _adjacency_geos(polys, *, min_shared: float = 0.5) -> Graph:
    polys = np.asarray(polys, dtype=object)
    tree = shapely.STRtree(polys)
    a, b = tree.query(polys, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    bnd = shapely.boundary(polys)
    lengths = shapely.length(shapely.intersection(bnd[a], bnd[b]))
    ok = lengths >= min_shared
    return Graph(len(polys), np.column_stack([a[ok], b[ok]]).astype(int), lengths[ok])


@pytest.fixture(scope="module")
def block_sets():
    comm, roads, hh = dual_carriageway_city(2, 1, size=600.0, n_households=6000, seed=3)
    lines = clean_roads(roads.geometry.to_numpy())
    xy = shapely.get_coordinates(hh.geometry.to_numpy())
    w = hh["households"].to_numpy(float)
    out = []
    for area in comm.geometry:
        inside = np.flatnonzero(shapely.covered_by(hh.geometry.to_numpy(), area))
        polys = faces(area, lines)
        where = assign_points(polys, xy[inside])
        b = Blocks(list(polys), [inside[where == i] for i in range(len(polys))])
        b.recompute(w)
        tidy = tidy_blocks(b, w, xy, min_area=100.0, median_width=30.0)
        out += [list(polys), tidy.geoms]
    return out


def _same(polys, min_shared):
    new, old = (
        adjacency(polys, min_shared=min_shared),
        _adjacency_geos(polys, min_shared=min_shared),
    )
    assert np.array_equal(new.edges, old.edges)
    np.testing.assert_allclose(new.lengths, old.lengths, rtol=0, atol=1e-9)
    return new


@pytest.mark.parametrize("min_shared", [0.5, 0.0])
def test_adjacency_equals_the_geos_way_on_real_blocks(block_sets, min_shared):
    for polys in block_sets:
        graph = _same(polys, min_shared)
        assert len(graph.edges) > len(polys)  # a connected street grid


def test_adjacency_on_tidied_blocks_needs_the_fallback(block_sets):
    # the strip pieces' borders do not match their neighbours' vertices everywhere: one
    # community's joined blocks do (a clean coverage), the other's leave a few that do
    # not, so the GEOS fallback is compared above too
    bad = [
        ~shapely.is_empty(shapely.coverage_invalid_edges(np.array(tidied, dtype=object)))
        for tidied in block_sets[1::2]
    ]
    assert sorted(b.any() for b in bad) == [False, True]


def test_adjacency_t_junction_multipolygon_and_a_point_touch():
    # b's long edge carries no vertex where a and c meet on it (a T-junction); d is two
    # parts; e touches b at a corner only
    a, c = box(0, 1, 1, 2), box(1, 1, 3, 2)
    b = box(0, 0, 3, 1)
    d = MultiPolygon([box(3, 0, 4, 1), box(5, 0, 6, 1)])
    e = box(-1, -1, 0, 0)
    polys = [a, b, c, d, e]
    graph = _same(polys, 0.0)
    got = {tuple(x): round(v, 9) for x, v in zip(graph.edges.tolist(), graph.lengths, strict=True)}
    assert got == {(0, 1): 1.0, (0, 2): 1.0, (1, 2): 2.0, (1, 3): 1.0, (1, 4): 0.0, (2, 3): 0.0}
    assert len(_same(polys, 0.5).edges) == 4


def test_adjacency_of_fewer_than_two_or_apart():
    assert len(adjacency([box(0, 0, 1, 1)]).edges) == 0
    assert len(adjacency([box(0, 0, 1, 1), box(2, 0, 3, 1)]).edges) == 0
