"""Counts and the validator's findings for the grids an edit touched.

Reuses the validator's checks (:mod:`gridgeo.validate.checks`) on the plan's grids as
unions of blocks, with one household point per block carrying the block's households,
so the counts the validator sees are exactly the block sums.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from gridgeo.edit.model import Plan
from gridgeo.i18n import _
from gridgeo.rule_ids import RULES
from gridgeo.rules import Profile, load_profile
from gridgeo.validate.checks import CHECKS
from gridgeo.validate.gridset import GridSet

log = logging.getLogger(__name__)

#: The validator's checks run on the touched grids (coverage and duplicates: whole plan).
EDIT_CHECKS = ("size", "geometry.not_contiguous", "code.format")


@dataclass(frozen=True)
class Finding:
    """One broken rule of the edited plan (a :class:`gridgeo.validate.checks.Issue`, flattened)."""

    rule: str
    severity: str
    grids: tuple[str, ...]
    message: str


@dataclass
class Review:
    """What an edit changed: households, band and findings of the touched grids."""

    households: dict[str, int]
    band: dict[str, tuple[float, float] | None]
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        """JSON-ready form (for the API and the browser editor)."""
        return {
            "households": self.households,
            "band": {k: list(v) if v else None for k, v in self.band.items()},
            "findings": [f.__dict__ | {"grids": list(f.grids)} for f in self.findings],
            "ms": round(self.seconds * 1000, 2),
        }


def review(
    plan: Plan,
    outline,
    *,
    profile: str | Profile | None = None,
    crs,
    keys: list[str] | None = None,
) -> Review:
    """Counts and findings after an edit.

    The validator's band, contiguity and code-format checks run on the reported grids
    (unions of their blocks, one point per block with its households). Coverage and
    code uniqueness are judged on the whole plan: blocks tile the community, so a gap is
    a block without a grid and an overlap cannot arise; duplicate codes are looked up
    among all grids.

    Parameters
    ----------
    plan
        The edited plan.
    outline
        The community polygon.
    profile
        The county's profile (bands, code scheme).
    crs
        The plan's metric CRS.
    keys
        Grids to report on (default: ``plan.touched``, or all grids when none).

    Returns
    -------
    Review
        Households of the reported grids, their band, and the findings naming them
        (plus community-wide coverage and code findings).
    """
    t0 = time.perf_counter()
    prof = load_profile(profile)
    crs = _crs(crs)
    keys = [
        k for k in (keys if keys is not None else (plan.touched or plan.grids)) if k in plan.grids
    ]
    hh = plan.households()
    findings = _structural(plan)
    if keys:
        findings += _validator(plan, keys, outline, prof, crs)
    out = Review(
        {k: int(hh[k]) for k in keys},
        {k: prof.household_band(plan.grids[k].grid_type) for k in keys},
        findings,
        time.perf_counter() - t0,
    )
    log.debug(
        "reviewed %d grids: %d findings in %.1f ms", len(keys), len(findings), out.seconds * 1e3
    )
    return out


@functools.lru_cache(maxsize=8)
def _crs_cached(text: str) -> pyproj.CRS:
    return pyproj.CRS.from_user_input(text)


def _crs(crs) -> pyproj.CRS:
    return crs if isinstance(crs, pyproj.CRS) else _crs_cached(str(crs))


def _structural(plan: Plan) -> list[Finding]:
    out = []
    unowned = [i for i, k in enumerate(plan.owner.tolist()) if k not in plan.grids]
    if unowned:
        area = float(shapely.area(plan.blocks.geoms[unowned]).sum())
        out.append(
            Finding(
                "coverage.gap",
                RULES["coverage.gap"].severity,
                (),
                _("{n} blocks ({area:,.0f} m²) belong to no grid").format(
                    n=len(unowned), area=area
                ),
            )
        )
    seen: dict[str, list[str]] = {}
    for k, g in plan.grids.items():
        if g.code:
            seen.setdefault(g.code, []).append(k)
    for code, ks in seen.items():
        if len(ks) > 1:
            out.append(
                Finding(
                    "code.duplicate",
                    RULES["code.duplicate"].severity,
                    (code,),
                    _("grid code {code} is used by {n} grids").format(code=code, n=len(ks)),
                )
            )
    return out


def _validator(plan: Plan, keys: list[str], outline, prof: Profile, crs) -> list[Finding]:
    labels = [plan.grids[k].code or k for k in keys]
    grids = gpd.GeoDataFrame(
        {
            "grid_code": labels,
            "community_code": plan.community_code,
            "grid_type": [plan.grids[k].grid_type for k in keys],
        },
        geometry=[plan.geometry(k) for k in keys],
        crs=crs,
    )
    communities = gpd.GeoDataFrame(
        {"code": [plan.community_code], "kind": [None]}, geometry=[outline], crs=crs
    )
    mine = np.flatnonzero(np.isin(plan.owner, keys))
    points = gpd.GeoDataFrame(
        {
            "households": plan.blocks.households[mine].astype(float),
            "population": plan.blocks.population[mine].astype(float),
        },
        geometry=list(plan.blocks.points[mine]),
        crs=crs,
    )
    gs = GridSet.prepare(grids, communities, points, profile=prof, crs=crs)
    uncoded = {k for k in keys if plan.grids[k].code is None}
    out = []
    for name in EDIT_CHECKS:
        for issue in CHECKS[name](gs):
            if name == "code.format" and set(issue.grid_codes) & uncoded:
                continue  # waiting for the code the registry issues at filing
            out.append(Finding(issue.rule, issue.severity, tuple(issue.grid_codes), issue.message))
    return out
