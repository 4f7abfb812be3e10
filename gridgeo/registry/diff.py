"""Plan a change set: compare proposed grids of some communities with the current ones.

Pure functions on GeoDataFrames (no database). Matching, per community present in
the proposal (other communities are never touched):

1. A proposed grid whose geometry equals a current grid of the same community (the
   symmetric difference is at most ``tolerance_m2``) keeps that grid's code: no item
   when nothing else changed, ``rename`` when the name changed, ``amend`` when only
   type or counts changed.
2. The remaining grids are linked when they overlap by more than
   ``max(tolerance_m2, link_share × the smaller area)`` (so slivers along redrawn
   borders do not link unrelated grids). Each connected group becomes one item:
   0 old → 1 new ``create``; 1 old → 0 new ``retire``; 1 → 1 ``reshape`` (the code is
   kept, a new version opens); 1 → k ``split``; k → 1 ``merge``; k → m ``reshape``
   with all old codes retired. Retired codes and the grids needing new codes are
   listed on each item.
3. Within a group of several old and several new grids, pairs matched one-to-one by
   largest overlap, each holding at least half of both grids (more than half of one),
   are the same grid that
   gained or lost blocks: a ``reshape`` keeping its code. Only the rest are split,
   merged or redrawn with new codes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

log = logging.getLogger(__name__)

ATTRIBUTES = ("grid_name", "grid_type", "households", "population")


@dataclass(frozen=True)
class OldRef:
    """A current grid version an item closes."""

    grid_code: str
    version: int
    retire: bool


@dataclass
class PlannedItem:
    """One item of a change set.

    Attributes
    ----------
    action
        ``create``, ``split``, ``merge``, ``reshape``, ``rename``, ``amend`` or ``retire``.
    community_code
        The community the item is in.
    old
        Current grid versions it closes.
    new
        Positions (0-based) of the proposed grids it opens.
    keep_code
        The code the single new grid keeps (reshape/rename/amend), else ``None``
        (new grids get new codes).
    note
        A short human description.
    """

    action: str
    community_code: str
    old: list[OldRef] = field(default_factory=list)
    new: list[int] = field(default_factory=list)
    keep_code: str | None = None
    note: str = ""


def _union_find(n: int):
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    return find, union


def _same(a, b) -> bool:
    if a is None or (not isinstance(a, str) and pd.isna(a)) or a == "":  # not given: unchanged
        return True
    if isinstance(a, float | np.floating) or isinstance(b, float | np.floating):
        return bool(np.isclose(float(a), float(b)))
    return str(a) == str(b)


def _reshape_pairs(
    news: list[int],
    olds: list[int],
    overlap: dict[tuple[int, int], float],
    area_new: np.ndarray,
    area_old: np.ndarray,
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pairs (new, old) of a linked group that are one grid reshaped, and the rest.

    Only a group of several old and several new grids is matched (1 → k stays a split,
    k → 1 a merge): pairs are taken one-to-one by largest overlap, and a pair is the
    same grid when the overlap holds at least half of both the old and the new grid
    (blocks moved between neighbours) and more than half of one of them. Grids left over keep the split/merge rules.
    """
    if len(news) < 2 or len(olds) < 2:
        return [], news, olds
    cand = sorted(
        ((overlap.get((i, j), 0.0), i, j) for i in news for j in olds),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    pairs: list[tuple[int, int]] = []
    used_new: set[int] = set()
    used_old: set[int] = set()
    for a, i, j in cand:
        if a <= 0:
            break
        if i in used_new or j in used_old:
            continue
        share_new, share_old = a / area_new[i], a / area_old[j]
        if min(share_new, share_old) >= 0.5 and max(share_new, share_old) > 0.5:
            pairs.append((i, j))
            used_new.add(i)
            used_old.add(j)
    rest_new = [i for i in news if i not in used_new]
    rest_old = [j for j in olds if j not in used_old]
    return pairs, rest_new, rest_old


def plan_changes(
    current: gpd.GeoDataFrame,
    proposed: gpd.GeoDataFrame,
    *,
    tolerance_m2: float = 1.0,
    link_share: float = 0.01,
) -> list[PlannedItem]:
    """Items that turn the current grids of the proposal's communities into the proposal.

    Parameters
    ----------
    current
        Current grids: ``grid_code``, ``version``, ``community_code``, the
        :data:`ATTRIBUTES` and geometry, in the same metric CRS as ``proposed``.
        Grids of communities absent from ``proposed`` are ignored.
    proposed
        Proposed grids: ``community_code``, the :data:`ATTRIBUTES` and geometry.
    tolerance_m2
        Area below which geometries count as equal and overlaps as none.
    link_share
        Share of the smaller grid's area an overlap must exceed to link two grids.

    Returns
    -------
    list of PlannedItem
        Ordered by community, then by the first old code / first new position.
    """
    communities = set(proposed["community_code"].astype(str))
    cur = current[current["community_code"].astype(str).isin(communities)].reset_index(drop=True)
    new = proposed.reset_index(drop=True)
    n_new, n_old = len(new), len(cur)
    new_geoms = np.asarray(new.geometry.values)
    old_geoms = np.asarray(cur.geometry.values)
    new_comm = new["community_code"].astype(str).to_numpy()
    old_comm = cur["community_code"].astype(str).to_numpy()

    pairs_new = np.empty(0, dtype=int)
    pairs_old = np.empty(0, dtype=int)
    if n_new and n_old:
        tree = shapely.STRtree(old_geoms)
        pairs_new, pairs_old = tree.query(new_geoms, predicate="intersects")
    inter = shapely.area(shapely.intersection(new_geoms[pairs_new], old_geoms[pairs_old]))
    area_new = shapely.area(new_geoms)
    area_old = shapely.area(old_geoms)
    symdiff = area_new[pairs_new] + area_old[pairs_old] - 2 * inter

    items: list[PlannedItem] = []
    matched_new: dict[int, int] = {}
    matched_old: set[int] = set()
    for k in np.argsort(symdiff, kind="stable"):
        i, j = int(pairs_new[k]), int(pairs_old[k])
        if symdiff[k] > tolerance_m2:
            break
        if i in matched_new or j in matched_old or new_comm[i] != old_comm[j]:
            continue
        matched_new[i] = j
        matched_old.add(j)
    for i, j in sorted(matched_new.items()):
        changed = [a for a in ATTRIBUTES if a in new and not _same(new[a].iloc[i], cur[a].iloc[j])]
        if not changed:
            continue
        code = str(cur["grid_code"].iloc[j])
        action = "rename" if "grid_name" in changed else "amend"
        items.append(
            PlannedItem(
                action,
                new_comm[i],
                [OldRef(code, int(cur["version"].iloc[j]), retire=False)],
                [i],
                keep_code=code,
                note=f"{code}: {', '.join(changed)} changed",
            )
        )

    # Link the rest by substantial overlap and group them.
    find, union = _union_find(n_new + n_old)
    threshold = np.maximum(
        tolerance_m2, link_share * np.minimum(area_new[pairs_new], area_old[pairs_old])
    )
    for k in np.flatnonzero(inter > threshold):
        i, j = int(pairs_new[k]), int(pairs_old[k])
        if i in matched_new or j in matched_old:
            continue
        union(i, n_new + j)
    groups: dict[int, tuple[list[int], list[int]]] = {}
    for i in range(n_new):
        if i not in matched_new:
            groups.setdefault(find(i), ([], []))[0].append(i)
    for j in range(n_old):
        if j not in matched_old:
            groups.setdefault(find(n_new + j), ([], []))[1].append(j)

    overlap = {
        (int(i), int(j)): float(a) for i, j, a in zip(pairs_new, pairs_old, inter, strict=True)
    }
    split_groups: list[tuple[list[int], list[int]]] = []
    for news, olds in groups.values():
        pairs, news, olds = _reshape_pairs(news, olds, overlap, area_new, area_old)
        for i, j in pairs:
            code = str(cur["grid_code"].iloc[j])
            items.append(
                PlannedItem(
                    "reshape",
                    new_comm[i],
                    [OldRef(code, int(cur["version"].iloc[j]), retire=False)],
                    [i],
                    keep_code=code,
                    note=f"{code}: gained or lost area (reshape)",
                )
            )
        if news or olds:
            split_groups.append((news, olds))

    for news, olds in split_groups:
        codes = [str(cur["grid_code"].iloc[j]) for j in olds]
        community = new_comm[news[0]] if news else old_comm[olds[0]]
        if not olds:
            action, keep, note = "create", None, "new grid"
        elif not news:
            action, keep, note = "retire", None, f"{codes[0]} retired"
        elif len(olds) == 1 and len(news) == 1:
            action, keep, note = "reshape", codes[0], f"{codes[0]}: boundary changed"
        elif len(olds) == 1:
            action, keep, note = "split", None, f"{codes[0]} split into {len(news)}"
        elif len(news) == 1:
            action, keep, note = "merge", None, f"{', '.join(codes)} merged"
        else:
            action, keep = "reshape", None
            note = f"{', '.join(codes)} redrawn as {len(news)} grids"
        items.append(
            PlannedItem(
                action,
                community,
                [
                    OldRef(c, int(cur["version"].iloc[j]), retire=keep is None)
                    for c, j in zip(codes, olds, strict=True)
                ],
                sorted(news),
                keep_code=keep,
                note=note,
            )
        )

    def order(item: PlannedItem):
        first_old = min((o.grid_code for o in item.old), default="~")
        first_new = min(item.new, default=n_new)
        return (item.community_code, first_old, first_new)

    items.sort(key=order)
    log.info(
        "planned %d items for %d communities (%d current grids, %d proposed, %d unchanged)",
        len(items),
        len(communities),
        n_old,
        n_new,
        len(matched_new) - sum(it.action in ("rename", "amend") for it in items),
    )
    return items
