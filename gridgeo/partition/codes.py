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


def is_traditional(text: str) -> bool:
    """Whether ``text`` is written in traditional characters.

    A character outside GB 2312 (the simplified national set) that Big5 (the traditional
    set) holds is traditional: 學, 區, 鄉, 網 … Characters both scripts share (大, 里) say
    nothing, so a name of shared characters counts as simplified.
    """
    for ch in text or "":
        if ord(ch) < 0x3400:
            continue
        try:
            ch.encode("gb2312")
        except UnicodeEncodeError:
            try:
                ch.encode("big5")
            except UnicodeEncodeError:
                continue
            return True
    return False


def grid_word(community_name: str, word: str = "网格") -> str:
    """``网格`` (or ``专属网格``) in the script of the community's name: 網格 for 大學里."""
    if not is_traditional(community_name):
        return word
    return word.replace("网", "網").replace("专属", "專屬")


def grid_name(community_name: str, n: int) -> str:
    """Name of the ``n``-th ordinary grid of a community: ``<name>第N网格`` (網格 in the
    script of a traditional name: 大學里第5網格, never 大學里第5网格)."""
    return f"{community_name}第{n}{grid_word(community_name)}"


def dedicated_name(site_name: str | None, community_name: str, n: int) -> str:
    """Name of a dedicated grid: the site's own name (``<community>专属网格N`` if it has none)."""
    site_name = (site_name or "").strip()
    return site_name if site_name else f"{community_name}{grid_word(community_name, '专属网格')}{n}"


def name_and_number(
    grids: list[dict], community_code: str, community_name: str, *, digits: int = 3
) -> list[dict]:
    """Output records (the output contract's fields) for a community's grids, in the order of ``grids``.

    ``grids`` carry ``geometry``, ``grid_type``, ``households``, ``population`` and,
    for dedicated grids, ``site_name``. Sequence numbers follow :func:`grid_order`;
    ordinary grids are named ``<community>第N网格`` with N counting ordinary grids only.
    """
    order = grid_order(
        [g["geometry"] for g in grids],
        [g["grid_type"] for g in grids],
        [g.get("site_name", "") for g in grids],
    )
    out: list[dict] = [{} for _ in grids]
    n_ord = n_ded = 0
    for seq, i in enumerate(order, start=1):
        g = grids[i]
        if g["grid_type"] == "dedicated":
            n_ded += 1
            name = dedicated_name(g.get("site_name"), community_name, n_ded)
        else:
            n_ord += 1
            name = grid_name(community_name, n_ord)
        out[i] = {
            "grid_code": grid_code(community_code, seq, digits=digits),
            "grid_name": name,
            "grid_type": g["grid_type"],
            "community_code": community_code,
            "households": int(round(g["households"])),
            "population": int(round(g["population"])),
            "area_m2": round(float(g["geometry"].area), 2),
            "geometry": g["geometry"],
        }
    return out
