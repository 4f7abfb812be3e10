"""Property tests: rules 1–5 hold on generated communities, roads and households.

Geometry comes from a numpy generator seeded by hypothesis, so every failure is
reproducible from the printed example. Example counts are kept small so that the
file runs in well under a minute on two cores.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Polygon

from gridgeo.partition import partition
from gridgeo.rules import load_profile
from gridgeo.testing import (
    code_problems,
    contiguity_problems,
    household_problems,
    seam_problems,
)

CRS = "EPSG:4547"
X0, Y0 = 500000.0, 3000000.0
PROFILE = load_profile("yongzhou")


def star(rng, n: int, r_min: float, r_max: float) -> Polygon:
    # one vertex per sector: angular gaps stay below π, so the polygon is simple
    ang = (np.arange(n) + rng.uniform(0.05, 0.95, n)) * 2 * np.pi / n
    rad = rng.uniform(r_min, r_max, n)
    return Polygon(np.column_stack([X0 + rad * np.cos(ang), Y0 + rad * np.sin(ang)]))


def generate(
    seed: int,
    n_roads: int,
    n_points: int,
    *,
    two: bool,
    heavy: bool,
    compounds: bool,
    site: str | None,
):
    rng = np.random.default_rng(seed)
    poly = star(rng, int(rng.integers(6, 14)), 300, 700)
    geoms = [poly]
    if two:  # split by a line through the centre into two adjacent communities
        a = rng.uniform(0, np.pi)
        d = np.array([np.cos(a), np.sin(a)]) * 2000
        cut = LineString([(X0 - d[0], Y0 - d[1]), (X0 + d[0], Y0 + d[1])])
        geoms = list(shapely.get_parts(shapely.ops.split(poly, cut)))
    comm = gpd.GeoDataFrame(
        {
            "code": [f"4301020010{i + 1:02d}" for i in range(len(geoms))],
            "name": [f"社区{i + 1}" for i in range(len(geoms))],
        },
        geometry=geoms,
        crs=CRS,
    )
    lines = []
    for _ in range(n_roads):
        p = rng.uniform([X0 - 700, Y0 - 700], [X0 + 700, Y0 + 700])
        a = rng.uniform(0, np.pi)
        half = rng.uniform(150, 1200)
        d = np.array([np.cos(a), np.sin(a)]) * half
        lines.append(LineString([p - d, p + d]))
    roads = gpd.GeoDataFrame(geometry=lines, crs=CRS) if lines else None
    xy = rng.uniform([X0 - 720, Y0 - 720], [X0 + 720, Y0 + 720], size=(n_points, 2))
    w = rng.integers(1, 80, n_points)
    if heavy and n_points:
        w[0] = 650
    hh = gpd.GeoDataFrame(
        {"households": w, "population": w * 3}, geometry=shapely.points(xy), crs=CRS
    )
    if compounds:
        hh["compound_id"] = rng.choice(np.array(["甲", "乙", None], dtype=object), n_points)
    ded = None
    if site:
        c = rng.uniform([X0 - 200, Y0 - 200], [X0 + 200, Y0 + 200])
        ded = gpd.GeoDataFrame(
            {"name": ["实验小学"], "category": [site]},
            geometry=[shapely.box(c[0] - 40, c[1] - 40, c[0] + 40, c[1] + 40)],
            crs=CRS,
        )
    return comm, roads, hh, ded


cases = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**31 - 1),
        "n_roads": st.integers(0, 14),
        "n_points": st.integers(0, 160),
        "two": st.booleans(),
        "heavy": st.booleans(),
        "compounds": st.booleans(),
        "site": st.sampled_from([None, None, "school", "farm"]),
        "kind": st.sampled_from(["urban", "rural"]),
        "geographic": st.booleans(),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases)
# a grid of two lobes joined by a nanometre-wide corridor came out of the lon/lat run as a
# MultiPolygon (its empty lobe now joins the neighbour it borders)
@example(
    {
        "seed": 154117,
        "n_roads": 13,
        "n_points": 148,
        "two": True,
        "heavy": True,
        "compounds": False,
        "site": None,
        "kind": "urban",
        "geographic": True,
    }
)
# hairline holes (1e-8 m²) collapsed to rings of no area when the lon/lat grid was
# reprojected: an invalid polygon
@example(
    {
        "seed": 1852834284,
        "n_roads": 14,
        "n_points": 18,
        "two": False,
        "heavy": True,
        "compounds": True,
        "site": None,
        "kind": "urban",
        "geographic": True,
    }
)
# ... and a grid whose two lobes both hold households stays as it was (one Polygon)
@example(
    {
        "seed": 2067,
        "n_roads": 14,
        "n_points": 132,
        "two": True,
        "heavy": False,
        "compounds": False,
        "site": "school",
        "kind": "urban",
        "geographic": False,
    }
)
def test_rules_hold_on_generated_districts(case):
    case = dict(case)  # hypothesis prints the original on failure
    kind = case.pop("kind")
    geographic = case.pop("geographic")
    comm, roads, hh, ded = generate(**case)
    if geographic:  # CGCS2000 lon/lat in, lon/lat out; checked in metres
        layers = [None if x is None else x.to_crs(4490) for x in (comm, roads, hh, ded)]
        res = partition(*layers[:3], dedicated=layers[3], profile=PROFILE, kind=kind)
        assert res.grids.crs.equals(layers[0].crs)
    else:
        res = partition(comm, roads, hh, dedicated=ded, profile=PROFILE, kind=kind)
    grids = res.grids.to_crs(CRS)
    viol = res.violations

    # rule 1: seamless, inside the community, one polygon each
    assert seam_problems(grids, comm) == []
    assert contiguity_problems(grids) == []

    # households: every point counted once, outside ones reported
    inside = hh[hh.intersects(shapely.union_all(comm.geometry.to_numpy()))]
    assert household_problems(grids, inside) == []
    assert (
        grids["households"].sum() + res.metrics["households_outside"]["households"]
        == hh["households"].sum()
    )
    assert (viol["rule"] == "household.outside_community").sum() == len(hh) - len(inside)

    # rule 2: the ceiling holds unless one indivisible unit exceeds it; every miss is explained
    lo, hi = (
        (PROFILE.rural.min_households, PROFILE.rural.max_households)
        if kind == "rural"
        else (300, 500)
    )
    ordinary = grids[grids["grid_type"] != "dedicated"]
    flagged = set(viol["grid_code"].dropna())
    for code, n in zip(ordinary["grid_code"], ordinary["households"], strict=True):
        if n > hi:
            reason = viol.loc[viol["grid_code"] == code, "reason"].str.cat()
            assert "indivisible" in reason, (code, n, reason)
        community = code[:-3]
        whole = kind == "rural" and (ordinary["community_code"] == community).sum() == 1
        if not (lo <= n <= hi) and not whole:
            comm_flag = viol[(viol["community_code"] == community) & viol["grid_code"].isna()]
            pop = int(ordinary.loc[ordinary["grid_code"] == code, "population"].iloc[0])
            alt = kind == "rural" and 375 <= pop <= 625
            assert code in flagged or len(comm_flag) or alt, (code, n)

    # rule 3: no cut passes through a household point (points are never on generated roads)
    if len(inside) and len(grids):
        bnd = shapely.union_all(shapely.boundary(grids.geometry.to_numpy()))
        assert shapely.distance(bnd, inside.geometry.to_numpy()).min() > 0

    # rule 4: a farm never stands alone; a school (a unit under yongzhou 第九条) stands alone
    # in a community where it holds >= 200 households or >= 700 residents, named after the site
    ded_grids = grids[grids["grid_type"] == "dedicated"]
    if ded is not None and case["site"] == "farm":
        assert len(ded_grids) == 0
    if ded is not None and case["site"] == "school":
        assert set(ded_grids["grid_name"]) <= {"实验小学"}
        site, rule = ded.geometry.iloc[0], PROFILE.dedicated
        for code, cgeom in zip(comm["code"], comm.geometry, strict=True):
            part = shapely.intersection(site, cgeom)
            pts = inside[inside.covered_by(part)] if part.area > 0 else inside.iloc[:0]
            big = (
                pts["households"].sum() >= rule.min_households
                or pts["population"].sum() >= rule.min_population
            )
            if big and part.area > PROFILE.quality.sliver_min_area_m2 * 2:
                assert (ded_grids["community_code"] == code).any(), code

    # rule 5: codes and names
    assert code_problems(grids) == []
    for c in comm["code"]:
        mine = grids[(grids["community_code"] == c) & (grids["grid_type"] != "dedicated")]
        name = comm.loc[comm["code"] == c, "name"].iloc[0]
        assert sorted(mine["grid_name"]) == sorted(
            f"{name}第{i}网格" for i in range(1, len(mine) + 1)
        )


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases)
def test_same_input_twice_is_identical(case):
    case = dict(case)
    kind = case.pop("kind")
    case.pop("geographic")
    comm, roads, hh, ded = generate(**case)
    a = partition(comm, roads, hh, dedicated=ded, kind=kind)
    b = partition(comm, roads, hh, dedicated=ded, kind=kind)
    assert a.grids.drop(columns="geometry").equals(b.grids.drop(columns="geometry"))
    assert list(a.grids.geometry.to_wkb()) == list(b.grids.geometry.to_wkb())
