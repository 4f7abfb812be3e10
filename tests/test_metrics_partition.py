"""The partitioner's faster geometry helpers give what the plain GEOS calls give."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import box

from gridgeo.partition import partition
from gridgeo.partition.blocks import adjacency
from gridgeo.partition.clean import clean_roads
from gridgeo.partition.metrics import (
    _border_pieces,
    _shared_borders,
    border_stats,
    coverage_union,
    seam_error,
)
from gridgeo.testing import dual_carriageway_city, tiled_district


def _tiles(n: int = 4) -> list:
    return [
        box(i * 10.0, j * 10.0, (i + 1) * 10.0, (j + 1) * 10.0) for i in range(n) for j in range(n)
    ]


def test_coverage_union_is_the_union_of_a_tiling():
    tiles = _tiles()
    got = coverage_union(tiles)
    assert got.geom_type == "Polygon"
    assert shapely.equals(got, shapely.union_all(tiles))


def test_coverage_union_is_the_union_with_overlaps_holes_and_gaps():
    overlapping = [box(0, 0, 10, 10), box(5, 0, 15, 10)]
    assert shapely.equals(coverage_union(overlapping), box(0, 0, 15, 10))
    ring = [t for k, t in enumerate(_tiles(3)) if k != 4]  # the middle tile left out: a hole
    assert shapely.equals(coverage_union(ring), shapely.union_all(ring))
    apart = [box(0, 0, 10, 10), box(10.001, 0, 20, 10)]  # a hairline gap
    assert shapely.equals(coverage_union(apart), shapely.union_all(apart))
    assert shapely.equals(coverage_union([box(0, 0, 1, 1)]), box(0, 0, 1, 1))


def test_shared_borders_are_adjacency_s_borders():
    tiles = np.array(_tiles(), dtype=object)
    graph = adjacency(tiles, min_shared=0.5)
    bnd = shapely.boundary(tiles)
    want = shapely.intersection(bnd[graph.edges[:, 0]], bnd[graph.edges[:, 1]])
    got = _shared_borders(tiles, 0.5)
    assert len(got) == len(want) == 24
    assert all(shapely.equals(a, b) for a, b in zip(got, want, strict=True))


def test_border_stats_counts_borders_on_roads():
    tiles = _tiles(2)
    road = shapely.linestrings([[10.0, -5.0], [10.0, 25.0]])  # the middle vertical border
    internal, on_road, on_drawn = border_stats(
        tiles, np.array([road], dtype=object), [], None, 1.0, 0.5
    )
    assert internal == 40.0
    # the vertical border (20 m) and the 2 m pieces of the horizontal one beside the road
    assert on_road == on_drawn == 24.0


def test_seam_error_counts_gaps_and_overlaps():
    area = box(0, 0, 20, 10)
    assert seam_error([box(0, 0, 10, 10), box(10, 0, 20, 10)], area) == 0.0
    assert seam_error([box(0, 0, 10, 10)], area) == 100.0
    assert seam_error([box(0, 0, 12, 10), box(10, 0, 20, 10)], area) == 20.0
    assert seam_error([], area) == 200.0


def test_seam_error_from_the_workers_is_the_parents():
    # the per-community stage reports its seam error; summarise takes the largest, as it
    # did computing them all in the parent (metric CRS = the input's here: no reprojection)
    comm, roads, hh = tiled_district(2, 1, n_households=900, size=500, per_point=5)
    res = partition(comm, roads, hh, work_crs=comm.crs)
    errs = {
        c: seam_error(res.grids.geometry[res.grids["community_code"] == c].to_numpy(), g)
        for c, g in zip(comm["code"], comm.geometry, strict=True)
    }
    worst = max(errs, key=lambda c: errs[c])
    assert res.metrics["seam_error"]["max_m2"] == round(errs[worst], 4)


def test_border_stats_on_a_city_are_those_of_one_query_on_all_roads():
    # pieces near a line as drawn are not measured again against the cleaned and medial
    # lines: the figures are those of one query over every line
    comm, roads, hh = dual_carriageway_city(2, 1, size=600.0, n_households=6000, seed=3)
    res = partition(comm, roads, hh, work_crs=comm.crs)
    cleaned = clean_roads(roads.geometry.to_numpy())
    drawn = roads.geometry.to_numpy()[::2]  # every other line: the second query counts
    for code, area in zip(comm["code"], comm.geometry, strict=True):
        geoms = res.grids.geometry[res.grids["community_code"] == code].to_numpy()
        lines = _shared_borders(geoms, 0.5)
        seg_len, mids = _border_pieces(lines)
        targets = np.concatenate([drawn, cleaned])
        i, j = shapely.STRtree(targets).query(mids, predicate="dwithin", distance=5.0)
        on_road, on_drawn = np.zeros(len(mids), bool), np.zeros(len(mids), bool)
        on_road[i] = True
        on_drawn[i[j < len(drawn)]] = True
        got = border_stats(geoms, cleaned, [], area, 5.0, 0.5, drawn=drawn)
        internal = float(shapely.length(lines).sum())
        assert got == (internal, float(seg_len[on_road].sum()), float(seg_len[on_drawn].sum()))
        assert got[2] < got[1]
