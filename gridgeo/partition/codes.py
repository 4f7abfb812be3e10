"""Grid codes and names: the community code plus a sequence, in a fixed spatial order."""

from __future__ import annotations

import numpy as np
import shapely


def grid_order(geoms, types: list[str], names: list[str]) -> list[int]:
    """Order in which a community's grids are numbered.

    Ordinary (urban/rural) grids first, north to south then west to east by their
    representative point (rounded to 1 m so that floating noise cannot reorder them);
    dedicated grids after them, by site name.
    """
    pts = shapely.get_coordinates(shapely.point_on_surface(np.asarray(geoms, dtype=object)))
    keys = []
    for i, (t, nm) in enumerate(zip(types, names, strict=True)):
        dedicated = t == "dedicated"
        x, y = round(float(pts[i, 0])), round(float(pts[i, 1]))
        keys.append((dedicated, nm if dedicated else "", -y, x, i))
    return [k[-1] for k in sorted(keys)]


def grid_code(community_code: str, seq: int, *, digits: int = 3) -> str:
    """``community_code`` followed by ``seq`` zero-padded to ``digits`` digits."""
    return f"{community_code}{seq:0{digits}d}"


def grid_name(community_name: str, n: int) -> str:
    """Name of the ``n``-th ordinary grid of a community: ``<name>第N网格``."""
    return f"{community_name}第{n}网格"


def dedicated_name(site_name: str | None, community_name: str, n: int) -> str:
    """Name of a dedicated grid: the site's own name (``<community>专属网格N`` if it has none)."""
    site_name = (site_name or "").strip()
    return site_name if site_name else f"{community_name}专属网格{n}"
