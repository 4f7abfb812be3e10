"""Dedicated (专属) and unit/compound (单位型/小区型) grids: which sites stand alone.

A site in the ``dedicated`` layer becomes its own grid when its category is one the
profile lists and, for the categories under the size rule (``unit``, ``compound``
by default: yongzhou's 单位型/小区型 grids), when it holds at least
``min_households`` households or ``min_population`` residents. Any other site is a
closed compound: its outline becomes a block border and roads inside it do not cut
it, so it is never divided unless it alone exceeds the ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from gridgeo.i18n import _
from gridgeo.partition.blocks import polygonal
from gridgeo.rules import Profile


@dataclass(frozen=True)
class Site:
    """One polygon of the ``dedicated`` layer (metric CRS)."""

    row: int | str
    geom: object
    name: str
    category: str
    households: float | None = None
    population: float | None = None


def normalise_category(value: object) -> str:
    """Lower-case, trimmed, spaces and hyphens as underscores."""
    text = "" if value is None else str(value)
    return text.strip().lower().replace(" ", "_").replace("-", "_")


def stands_alone(
    site: Site, households: float, population: float, profile: Profile
) -> tuple[bool, str]:
    """Whether ``site`` becomes its own grid under ``profile``, and why (for the report).

    Parameters
    ----------
    site
        The site.
    households, population
        Counted from the household points inside the site (the site's own attributes
        are used when no point falls inside it).
    profile
        The jurisdiction's rules.
    """
    rule = profile.dedicated
    cat = normalise_category(site.category)
    cats = {normalise_category(c) for c in rule.categories}
    if cat not in cats:
        return (
            False,
            _("category {category} is not a dedicated category of profile {profile}").format(
                category=repr(site.category), profile=profile.name
            ),
        )
    sized = {normalise_category(c) for c in rule.size_rule_categories}
    if cat not in sized:
        return True, _("category {category} stands alone under profile {profile}").format(
            category=cat, profile=profile.name
        )
    hh_ok = rule.min_households is not None and households >= rule.min_households
    pop_ok = rule.min_population is not None and population >= rule.min_population
    values = {
        "category": cat,
        "households": households,
        "population": population,
        "min_households": rule.min_households,
        "min_population": rule.min_population,
    }
    if hh_ok or pop_ok:
        return True, _(
            "{category} with {households:.0f} households / {population:.0f} residents reaches "
            "{min_households} households or {min_population} residents"
        ).format(**values)
    return False, _(
        "{category} with {households:.0f} households / {population:.0f} residents is below "
        "{min_households} households and {min_population} residents"
    ).format(**values)


def take_sites(
    area, sites: list[Site], xy: np.ndarray, hh: np.ndarray, pop: np.ndarray, profile: Profile
):
    """Dedicated grids cut out of ``area``, and the closed compounds left in it.

    Parameters
    ----------
    area
        The community polygon (metres).
    sites
        Sites intersecting it; processed by name (then row) so overlaps resolve the
        same way every run: a later site only gets what earlier ones left.
    xy, hh, pop
        Household points of the community with households and residents.
    profile
        The rules.

    Returns
    -------
    tuple
        ``(dedicated, compounds, remaining, taken)``: dedicated grid records
        (geometry, ``grid_type``, ``site_name``, households, population, reason),
        compound polygons, the community area left for ordinary grids, and a mask of
        the household points counted in dedicated grids.
    """
    q = profile.quality
    n_pts = len(hh)
    remaining = area
    taken = np.zeros(n_pts, dtype=bool)
    pts = shapely.points(xy) if n_pts else np.array([], dtype=object)
    dedicated: list[dict] = []
    compounds = []
    for site in sorted(sites, key=lambda s: (s.name, str(s.row))):
        g = polygonal(shapely.intersection(site.geom, remaining))
        if g is None or g.is_empty or g.area < q.sliver_min_area_m2:
            continue
        inside = (shapely.covers(g, pts) & ~taken) if n_pts else np.zeros(0, dtype=bool)
        s_hh = float(hh[inside].sum()) if inside.any() else float(site.households or 0)
        s_pop = float(pop[inside].sum()) if inside.any() else float(site.population or 0)
        alone, why = stands_alone(site, s_hh, s_pop, profile)
        if not alone:
            compounds.append(g)
            continue
        for part in shapely.get_parts(g):
            if part.area <= 0:
                continue
            part_in = inside & shapely.covers(part, pts) if n_pts else inside
            dedicated.append(
                {
                    "geometry": part,
                    "grid_type": "dedicated",
                    "site_name": site.name,
                    "households": float(hh[part_in].sum()) if part_in.any() else s_hh,
                    "population": float(pop[part_in].sum()) if part_in.any() else s_pop,
                    "reason": why,
                }
            )
            taken |= part_in
        remaining = shapely.difference(remaining, g)
    return dedicated, compounds, remaining, taken
