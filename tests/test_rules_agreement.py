"""The partitioner and the validator judge the partitioner's grids alike, grid by grid.

A property test on generated districts with households: for every grid the partitioner
outputs, the rule ids of its violations (``result.violations``) and of the validator's
issues on the same grids (``validate(...).issues``) must be the same set, from the one
vocabulary of :mod:`gridgeo.rule_ids`. No excuse of the kind "the community carries some
flag": a grid out of band is either an error of its own (``size.below_floor`` /
``size.above_ceiling``) on both sides, or the warning ``size.band_unattainable`` on both.

Compared: every rule id of the catalogue except those only one side can see —
``roads.border_share`` (the validator measures it per grid; the partitioner reports the
district's share on roads in its metrics) and ``posting.*`` (no staff table here).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Polygon

from gridgeo.partition import partition
from gridgeo.rule_ids import RULES
from gridgeo.rules import load_profile
from gridgeo.validate import validate

CRS = "EPSG:4547"
X0, Y0 = 500000.0, 3000000.0
PROFILE = load_profile("yongzhou")
#: rule ids both sides can judge on one grid
COMPARED = frozenset(r for r in RULES if r != "roads.border_share" and not r.startswith("posting."))


def _star(rng: np.random.Generator, n: int, r_min: float, r_max: float) -> Polygon:
    ang = (np.arange(n) + rng.uniform(0.05, 0.95, n)) * 2 * np.pi / n
    rad = rng.uniform(r_min, r_max, n)
    return Polygon(np.column_stack([X0 + rad * np.cos(ang), Y0 + rad * np.sin(ang)]))


def district(seed: int, n_roads: int, n_points: int, *, two: bool, heavy: bool, compounds: bool):
    """One or two communities, roads and weighted household points (seeded numpy)."""
    rng = np.random.default_rng(seed)
    poly = _star(rng, int(rng.integers(6, 14)), 300, 700)
    geoms = [poly]
    if two:
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
        d = np.array([np.cos(a), np.sin(a)]) * rng.uniform(150, 1200)
        lines.append(LineString([p - d, p + d]))
    roads = gpd.GeoDataFrame(geometry=lines, crs=CRS) if lines else None
    xy = rng.uniform([X0 - 720, Y0 - 720], [X0 + 720, Y0 + 720], size=(n_points, 2))
    w = rng.integers(1, 80, n_points)
    if heavy:
        w[0] = 650
    hh = gpd.GeoDataFrame(
        {"households": w, "population": w * 3}, geometry=shapely.points(xy), crs=CRS
    )
    if compounds:
        hh["compound_id"] = rng.choice(np.array(["甲", "乙", None], dtype=object), n_points)
    return comm, roads, hh


def _by_grid(codes, rules, grid_codes) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {c: set() for c in codes}
    for rule, where in zip(rules, grid_codes, strict=True):
        for code in where:
            if code in found and rule in COMPARED:
                found[code].add(rule)
    return found


districts = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**31 - 1),
        "n_roads": st.integers(0, 14),
        "n_points": st.integers(1, 160),
        "two": st.booleans(),
        "heavy": st.booleans(),
        "compounds": st.booleans(),
    }
)


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    # a failure prints its (seeded, reproducible) example unshrunk: shrinking partitions
    # takes minutes
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(case=districts, kind=st.sampled_from(["urban", "rural"]))
def test_partitioner_and_validator_agree_grid_by_grid(case, kind):
    comm, roads, hh = district(**case)
    # every community holds households (an empty one is community.no_households, which
    # only the partitioner reports)
    assume(all(hh.intersects(g).any() for g in comm.geometry))
    # both sides get the kind from the community layer (the codes alone say urban)
    comm["kind"] = kind
    result = partition(comm, roads, hh, profile=PROFILE, kind=kind)
    report = validate(result.grids, comm, hh, roads, profile=PROFILE)
    codes = list(result.grids["grid_code"])
    viol = result.violations
    mine = _by_grid(
        codes,
        viol["rule"],
        [[c] if isinstance(c, str) else [] for c in viol["grid_code"]],
    )
    theirs = _by_grid(
        codes,
        report.issues["rule"],
        [[c for c in s.split(",") if c] for s in report.issues["grid_codes"]],
    )
    differ = {c: (mine[c], theirs[c]) for c in codes if mine[c] != theirs[c]}
    assert not differ, (
        f"{case} {kind}\ngrid: (partitioner, validator) "
        + repr(differ)
        + "\n"
        + viol[["rule", "grid_code", "reason"]].to_string()
        + "\n"
        + report.issues[["rule", "grid_codes", "message"]].to_string()
    )
