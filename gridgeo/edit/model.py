"""A community's grids as sets of blocks, and the edits a county centre makes.

Like GerryChain's ``flip``, every edit returns a new :class:`Plan` and leaves the
old one as it was, so undo/redo is a list of plans. Each edit also names the grids
it touched (``Plan.touched``), which :func:`gridgeo.edit.review.review` re-checks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
import shapely

from gridgeo.edit.blocks import EditBlocks
from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.partition.aggregate import Graph, aggregate

log = logging.getLogger(__name__)


class EditError(InputError):
    """An edit that cannot be made (unknown grid, locked grid, block not adjacent…)."""


@dataclass(frozen=True)
class PlanGrid:
    """One grid of a plan: its code (``None`` until the registry issues one), name,
    type and whether automatic tools must leave it alone."""

    key: str
    code: str | None
    name: str
    grid_type: str = "urban"
    locked: bool = False


@dataclass(frozen=True)
class Plan:
    """Grids of one community as block sets.

    Attributes
    ----------
    community_code
        The community.
    blocks
        Its blocks (shared, never changed by edits).
    owner
        Grid key of each block.
    grids
        Grids by key, in display order.
    touched
        Keys of the grids the last edit changed.
    """

    community_code: str
    blocks: EditBlocks
    owner: np.ndarray
    grids: dict[str, PlanGrid]
    touched: tuple[str, ...] = ()
    _geoms: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    # ---------------------------------------------------------------- building
    @classmethod
    def from_owner(
        cls, community_code: str, blocks: EditBlocks, owner: np.ndarray, grids: list[PlanGrid]
    ) -> Plan:
        """A plan from each block's grid position in ``grids``."""
        keys = np.array([g.key for g in grids], dtype=object)
        return cls(community_code, blocks, keys[np.asarray(owner)], {g.key: g for g in grids})

    # ---------------------------------------------------------------- reading
    def members(self, key: str) -> np.ndarray:
        """Blocks of grid ``key``."""
        return np.flatnonzero(self.owner == key)

    def households(self) -> dict[str, int]:
        """Households per grid (sum of its blocks)."""
        out = dict.fromkeys(self.grids, 0)
        for key, hh in zip(self.owner.tolist(), self.blocks.households.tolist(), strict=True):
            out[key] += hh
        return out

    def population(self) -> dict[str, int]:
        """Residents per grid (sum of its blocks)."""
        out = dict.fromkeys(self.grids, 0)
        for key, p in zip(self.owner.tolist(), self.blocks.population.tolist(), strict=True):
            out[key] += p
        return out

    def geometry(self, key: str):
        """Grid ``key`` as the union of its blocks (cached per plan)."""
        if key not in self._geoms:
            self._geoms[key] = shapely.union_all(self.blocks.geoms[self.members(key)])
        return self._geoms[key]

    def _grid(self, key: str, *, unlocked: bool = False) -> PlanGrid:
        if key not in self.grids:
            raise EditError(
                _("grid {key} is not in community {community_code}").format(
                    key=key, community_code=self.community_code
                )
            )
        g = self.grids[key]
        if unlocked and g.locked:
            raise EditError(_("grid {key} ({name}) is locked").format(key=key, name=g.name))
        return g

    def _child(self, owner: np.ndarray, grids: dict[str, PlanGrid], touched) -> Plan:
        keep = {k: v for k, v in self._geoms.items() if k not in touched and k in grids}
        return Plan(self.community_code, self.blocks, owner, grids, tuple(touched), keep)

    # ---------------------------------------------------------------- edits
    def move(self, blocks: list[int], to: str) -> Plan:
        """Move ``blocks`` to grid ``to``; each must touch ``to`` or another moved block.

        Raises
        ------
        EditError
            Unknown or locked grid, unknown block, or a block not adjacent to ``to``.
        """
        self._grid(to, unlocked=True)
        idx = sorted({int(b) for b in blocks})
        bad = [b for b in idx if b < 0 or b >= self.blocks.n]
        if bad:
            raise EditError(
                _("no block {bad} in community {community_code}").format(
                    bad=bad[0], community_code=self.community_code
                )
            )
        for b in idx:
            self._grid(str(self.owner[b]), unlocked=True)
        nb = self.blocks.neighbour_sets
        reached = set(self.members(to).tolist())
        todo = [b for b in idx if self.owner[b] != to]
        while todo:  # moved blocks must hang together with the target
            ok = [b for b in todo if nb[b] & reached]
            if not ok:
                raise EditError(
                    _("block {todo} does not border grid {to}").format(todo=todo[0], to=to),
                    [Problem(_("moved blocks must touch the grid they join"), row=todo[0])],
                )
            reached.update(ok)
            todo = [b for b in todo if b not in ok]
        owner = self.owner.copy()
        sources = {str(owner[b]) for b in idx} - {to}
        owner[idx] = to
        emptied = {s for s in sources if not (owner == s).any()}  # retired at filing
        grids = {k: v for k, v in self.grids.items() if k not in emptied}
        return self._child(owner, grids, [to, *sorted(sources - emptied)])

    def merge(self, a: str, b: str) -> Plan:
        """Merge grid ``b`` into ``a``: one grid, a new code at filing (``code`` cleared)."""
        if a == b:
            raise EditError(_("cannot merge grid {a} with itself").format(a=a))
        ga = self._grid(a, unlocked=True)
        self._grid(b, unlocked=True)
        owner = self.owner.copy()
        owner[owner == b] = a
        grids = {k: v for k, v in self.grids.items() if k != b}
        grids[a] = replace(ga, code=None)
        return self._child(owner, grids, [a])

    def split(self, key: str, k: int, *, lo: float, hi: float, seed: int = 0) -> Plan:
        """Split grid ``key`` into ``k`` contiguous parts with the partitioner's aggregation.

        ``lo``/``hi`` is the band the parts aim for; the aggregation is asked for parts in
        ``[total/(k+0.5), total/(k-0.5)]`` within it, so ``k`` parts come out where the
        blocks allow. New parts get keys ``<key>.1``… and no code (issued at filing).
        """
        g = self._grid(key, unlocked=True)
        members = self.members(key)
        if k < 2 or len(members) < k:
            raise EditError(
                _("grid {key} has {n} blocks; cannot split into {k}").format(
                    key=key, n=len(members), k=k
                )
            )
        w = self.blocks.households[members].astype(float)
        total = max(float(w.sum()), 1.0)
        local = {int(b): i for i, b in enumerate(members)}
        e = self.blocks.graph.edges
        keep = np.array([a in local and b in local for a, b in e.tolist()], dtype=bool)
        sub = Graph(
            len(members),
            np.array([[local[a], local[b]] for a, b in e[keep].tolist()], dtype=int).reshape(-1, 2),
            self.blocks.graph.lengths[keep],
        )
        labels = aggregate(w, sub, lo=max(total / (k + 0.5), 0.0), hi=total / (k - 0.5), seed=seed)
        grids = {kk: v for kk, v in self.grids.items() if kk != key}
        owner = self.owner.copy()
        touched = []
        for lab in range(int(labels.max()) + 1):
            part = f"{key}.{lab + 1}"
            grids[part] = PlanGrid(part, None, f"{g.name}{lab + 1}", g.grid_type)
            owner[members[labels == lab]] = part
            touched.append(part)
        return self._child(owner, grids, touched)

    def rename(self, key: str, name: str) -> Plan:
        """Rename grid ``key``."""
        g = self._grid(key)
        name = str(name).strip()
        if not name:
            raise EditError(
                _("a grid name cannot be empty"), [Problem(_("empty"), field="grid_name")]
            )
        return self._child(self.owner, {**self.grids, key: replace(g, name=name)}, [key])

    def set_type(self, key: str, grid_type: str) -> Plan:
        """Change the type of grid ``key`` (urban, rural or dedicated)."""
        if grid_type not in ("urban", "rural", "dedicated"):
            raise EditError(
                _("unknown grid type {grid_type!r}").format(grid_type=grid_type),
                [Problem(_("use urban, rural or dedicated"), field="grid_type")],
            )
        g = self._grid(key)
        return self._child(self.owner, {**self.grids, key: replace(g, grid_type=grid_type)}, [key])

    def lock(self, key: str, locked: bool = True) -> Plan:
        """Lock (or unlock) grid ``key`` against edits and automatic tools."""
        g = self._grid(key)
        return self._child(self.owner, {**self.grids, key: replace(g, locked=locked)}, [key])
