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
            f"category {site.category!r} is not a dedicated category of profile {profile.name}",
        )
    sized = {normalise_category(c) for c in rule.size_rule_categories}
    if cat not in sized:
        return True, f"category {cat} stands alone under profile {profile.name}"
    hh_ok = rule.min_households is not None and households >= rule.min_households
    pop_ok = rule.min_population is not None and population >= rule.min_population
    if hh_ok or pop_ok:
        return True, (
            f"{cat} with {households:.0f} households / {population:.0f} residents reaches "
            f"{rule.min_households} households or {rule.min_population} residents"
        )
    return False, (
        f"{cat} with {households:.0f} households / {population:.0f} residents is below "
        f"{rule.min_households} households and {rule.min_population} residents"
    )
