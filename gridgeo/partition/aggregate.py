"""Blocks → grids: contiguous groups of blocks whose household totals lie in a band.

The block adjacency graph of one community is cut into ``k`` connected parts by
recursive balanced bisection on random spanning trees (the ReCom idea of
GerryChain, made deterministic by an explicit seed), then repaired by local
search: single boundary blocks move between neighbouring grids while that lowers
the band penalty (ceiling excess weighs ten times more than floor deficit, so the
ceiling is enforced whenever the blocks allow it) and finally while it shortens
the total internal border (compactness) without leaving the band.

Everything here works on plain arrays: block weights (households), an edge list
with shared border lengths, and block centroids. No geometry.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

_OVER_WEIGHT = 10.0


@dataclass(frozen=True)
class Graph:
    """Block adjacency: ``edges`` (m × 2, i < j) with shared border ``lengths``."""

    n: int
    edges: np.ndarray
    lengths: np.ndarray

    def neighbours(self) -> list[dict[int, float]]:
        nb: list[dict[int, float]] = [{} for _ in range(self.n)]
        for (i, j), length in zip(self.edges.tolist(), self.lengths.tolist(), strict=True):
            nb[i][j] = nb[i].get(j, 0.0) + length
            nb[j][i] = nb[j].get(i, 0.0) + length
        return nb


def band_penalty(total: float, lo: float, hi: float) -> float:
    """Distance of ``total`` from the band; ceiling excess weighs more than floor deficit."""
    if total > hi:
        return _OVER_WEIGHT * (total - hi)
    if total < lo:
        return lo - total
    return 0.0


def components(nodes: list[int], nb: list[dict[int, float]]) -> list[list[int]]:
    """Connected components of the subgraph induced by ``nodes`` (sorted, deterministic)."""
    allowed = set(nodes)
    seen: set[int] = set()
    out = []
    for start in sorted(nodes):
        if start in seen:
            continue
        comp = [start]
        seen.add(start)
        queue = deque([start])
        while queue:
            u = queue.popleft()
            for v in nb[u]:
                if v in allowed and v not in seen:
                    seen.add(v)
                    comp.append(v)
                    queue.append(v)
        out.append(sorted(comp))
    return out


def _is_connected_without(members: set[int], removed: int, nb: list[dict[int, float]]) -> bool:
    rest = members - {removed}
    if not rest:
        return False
    start = next(iter(rest))
    seen = {start}
    queue = deque([start])
    while queue:
        u = queue.popleft()
        for v in nb[u]:
            if v in rest and v not in seen:
                seen.add(v)
                queue.append(v)
    return len(seen) == len(rest)


def choose_k(total: float, lo: float, hi: float) -> tuple[list[int], bool]:
    """Candidate grid counts for a connected part holding ``total`` households.

    Returns the counts to try (best first: mean size nearest the band's middle)
    and whether the band can be met at all (``ceil(total/hi) <= floor(total/lo)``).
    """
    if total <= hi:
        return [1], total >= lo
    k_min = math.ceil(total / hi)
    k_max = math.floor(total / lo) if lo > 0 else k_min + 2
    if k_min > k_max:
        return [k_min], False
    mid = (lo + hi) / 2
    ks = sorted(range(k_min, k_max + 1), key=lambda k: (abs(total / k - mid), k))
    return ks[:3], True


class _Solver:
    """Partition one connected set of blocks into ``k`` contiguous parts."""

    def __init__(self, nodes, weights, nb, lo, hi, rng, *, explore: bool = False, edges=None):
        self.explore = explore
        self.nodes = nodes
        self.w = weights
        self.nb = nb
        self.lo = lo
        self.hi = hi
        self.rng = rng
        self.edges = edges  # :func:`_edge_list` of ``nodes``, when the caller has it

    # -- bisection -------------------------------------------------------------------------
    def bisect(self, nodes: list[int], k: int, labels: dict[int, int], next_label: list[int]):
        if k <= 1 or len(nodes) <= 1:
            lab = next_label[0]
            next_label[0] += 1
            for u in nodes:
                labels[u] = lab
            return
        k1 = k // 2
        k2 = k - k1
        side, other = self._split(nodes, k1, k2)
        if not side or not other:  # cannot split: keep together
            lab = next_label[0]
            next_label[0] += 1
            for u in nodes:
                labels[u] = lab
            return
        self.bisect(side[0], side[1], labels, next_label)
        self.bisect(other[0], other[1], labels, next_label)

    def _local_edges(self, nodes: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Edges among ``nodes`` as local indices (``i < j``) and their border lengths."""
        arr = np.asarray(nodes, dtype=int)
        if self.edges is not None and len(arr) and bool(np.all(arr[1:] > arr[:-1])):
            # sorted nodes: local order is global order, so the edges among them are those
            # of the whole list whose two ends are in ``nodes``, in the same order
            rows, cols, lens = self.edges
            mark = np.zeros(len(self.w), dtype=bool)
            mark[arr] = True
            keep = mark[rows] & mark[cols]
            return np.searchsorted(arr, rows[keep]), np.searchsorted(arr, cols[keep]), lens[keep]
        return _edges_among(nodes, self.nb)

    def _split(self, nodes: list[int], k1: int, k2: int):
        """Best tree edge to cut ``nodes`` into parts for ``k1`` and ``k2`` grids.

        For each of a few random spanning trees, every tree edge is scored at once:
        subtree weights by accumulation in reverse BFS order, and the border length a
        cut would create by the LCA trick (an edge's length is added at both ends and
        removed twice at their lowest common ancestor, then summed over subtrees).
        """
        n = len(nodes)
        w = np.array([self.w[u] for u in nodes], dtype=float)
        total = float(w.sum())
        rows_a, cols_a, lens_a = self._local_edges(nodes)
        if not len(rows_a):
            return None, None
        ranges = {}
        for kk, ko in ((k1, k2), (k2, k1)):
            ranges[kk] = (
                max(kk * self.lo, total - ko * self.hi),
                min(kk * self.hi, total - ko * self.lo),
            )
        cands: list[tuple] = []  # (score, tree id, node c, ks, ko)
        trees = []
        tries = 6 if n > 3 else 2
        for attempt in range(tries):
            rnd = self.rng.random(len(rows_a))
            got = _random_tree(n, rows_a, cols_a, rnd)
            if got is None:
                return None, None  # not connected (should not happen)
            order, parent = got
            sub, cut = _subtree_sums(order, parent, w, rows_a, cols_a, lens_a)
            trees.append((order, parent))
            cs = np.asarray(order[1:])
            for ks, ko in ((k1, k2), (k2, k1)):
                lo_r, hi_r = ranges[ks]
                s_ = sub[cs]
                dev = np.maximum(np.maximum(lo_r - s_, s_ - hi_r), 0.0)
                ideal = total * ks / (ks + ko)
                balance = np.abs(s_ - ideal) / (ks * (self.hi - self.lo) / 2 + 1.0)
                score2 = cut[cs] * (1.0 + balance)
                best = np.lexsort((cs, score2, dev))[:8]
                for b in best:
                    cands.append(((float(dev[b]), float(score2[b])), attempt, int(cs[b]), ks, ko))
                if k1 == k2:
                    break
            cands.sort(key=lambda x: (x[0], x[1], x[2]))
            del cands[8:]
            if cands and cands[0][0][0] == 0.0 and attempt >= 1:
                break
        if not cands:
            return None, None
        feasible = [x for x in cands if x[0][0] == 0.0]
        if self.explore and len(feasible) > 1:
            pick = feasible[int(self.rng.integers(len(feasible)))]
        else:
            pick = cands[0]
        _, tid, c, ks, ko = pick
        order, parent = trees[tid]
        inside = _subtree_mask(parent, c, order)
        members = [nodes[i] for i in range(n) if inside[i]]
        rest = [nodes[i] for i in range(n) if not inside[i]]
        return (members, ks), (rest, ko)

    # -- local search ------------------------------------------------------------------------
    def repair(self, labels: dict[int, int], *, compact: bool) -> dict[int, int]:
        """Move single boundary blocks between adjacent grids while that improves the plan."""
        lo, hi, nb = self.lo, self.hi, self.nb
        w = self.w.tolist()  # Python floats: the same sums, cheaper to read one by one
        members: dict[int, set[int]] = {}
        for u, lab in labels.items():
            members.setdefault(lab, set()).add(u)
        totals = {lab: sum(w[u] for u in m) for lab, m in members.items()}
        around = {u: sorted(nb[u]) for u in labels}
        for _sweep in range(60):
            moved = False
            for u in sorted(labels):
                a = labels[u]
                ta, wu = totals[a], w[u]
                best = None
                shared = None  # border shared with each label, once u has another label near
                seen = set()  # a label's gain does not depend on which of its blocks is met
                for v in around[u]:
                    b = labels.get(v)
                    if b is None or b == a or b in seen:
                        continue
                    seen.add(b)
                    if shared is None:
                        shared = _shared_by_label(u, nb[u], labels)
                        pa, pa_after = band_penalty(ta, lo, hi), band_penalty(ta - wu, lo, hi)
                    tb = totals[b]
                    before = pa + band_penalty(tb, lo, hi)
                    after = pa_after + band_penalty(tb + wu, lo, hi)
                    d_cut = shared.get(a, 0.0) - shared[b]
                    gain = (before - after, -d_cut)
                    improves = gain[0] > 1e-9 or (compact and gain[0] >= -1e-9 and -d_cut > 1e-6)
                    if improves and (best is None or gain > best[0]):
                        best = (gain, b)
                if best is None:
                    continue
                b = best[1]
                if len(members[a]) <= 1 or not _is_connected_without(members[a], u, nb):
                    continue
                members[a].discard(u)
                members[b].add(u)
                totals[a] -= w[u]
                totals[b] += w[u]
                labels[u] = b
                moved = True
            if not moved:
                break
        return labels

    def recombine(self, labels: dict[int, int], *, rounds: int = 400) -> dict[int, int]:
        """Merge an out-of-band grid with a neighbour and re-cut the pair (ReCom-style).

        For every grid outside the band, its neighbours are tried in order of shared
        border length: the two grids' blocks are pooled and bisected again on fresh
        random spanning trees into as many grids as fit their total; the new grids
        replace the pair when that lowers the band penalty.
        """
        lo, hi, w, nb = self.lo, self.hi, self.w, self.nb
        members: dict[int, set[int]] = {}
        for u, lab in labels.items():
            members.setdefault(lab, set()).add(u)
        totals = {lab: sum(w[u] for u in m) for lab, m in members.items()}
        next_id = max(members) + 1 if members else 0
        failed: set[int] = set()  # grids for which no pooling helped (not retried)
        for _ in range(rounds):
            bad = sorted(
                (r for r in members if band_penalty(totals[r], lo, hi) > 0 and r not in failed),
                key=lambda r: (-band_penalty(totals[r], lo, hi), r),
            )
            changed = False
            for r in bad:
                shared: dict[int, float] = {}
                for u in members[r]:
                    for v, length in nb[u].items():
                        q = labels.get(v)
                        if q is not None and q != r:
                            shared[q] = shared.get(q, 0.0) + length
                old_r = band_penalty(totals[r], lo, hi)
                near = sorted(shared, key=lambda q: (-shared[q], q))
                groups = [(q,) for q in near]
                top = near[:4]
                groups += [(a, b) for i, a in enumerate(top) for b in top[i + 1 :]]
                for grp in groups:
                    pool = sorted(set(members[r]).union(*(members[q] for q in grp)))
                    total = totals[r] + sum(totals[q] for q in grp)
                    old = old_r + sum(band_penalty(totals[q], lo, hi) for q in grp)
                    best = None
                    for k in choose_k(total, lo, hi)[0][:2]:
                        sub: dict[int, int] = {}
                        self.bisect(pool, k, sub, [0])
                        sub = self.repair(sub, compact=False)
                        pen = self.penalty(sub)
                        if best is None or pen < best[0]:
                            best = (pen, sub)
                    if best is not None and best[0] < old - 1e-9:
                        for x in (r, *grp):
                            del members[x], totals[x]
                        remap: dict[int, int] = {}
                        for u, lab in sorted(best[1].items()):
                            if lab not in remap:
                                remap[lab] = next_id
                                next_id += 1
                                members[remap[lab]] = set()
                                totals[remap[lab]] = 0.0
                            labels[u] = remap[lab]
                            members[remap[lab]].add(u)
                            totals[remap[lab]] += w[u]
                        changed = True
                        break
                if changed:
                    break
                failed.add(r)
            if not changed:
                break
        return labels

    def penalty(self, labels: dict[int, int]) -> float:
        totals: dict[int, float] = {}
        for u, lab in labels.items():
            totals[lab] = totals.get(lab, 0.0) + self.w[u]
        return sum(band_penalty(t, self.lo, self.hi) for t in totals.values())

    def cut_length(self, labels: dict[int, int]) -> float:
        total = 0.0
        for u, lab in labels.items():
            for v, length in self.nb[u].items():
                if v > u and v in labels and labels[v] != lab:
                    total += length
        return total


def _shared_by_label(u: int, nbu: dict[int, float], labels: dict[int, int]) -> dict[int, float]:
    """Border length of block ``u`` shared with each label (summed in ``nbu`` order, so each
    total is the float the per-candidate sums gave)."""
    shared: dict[int, float] = {}
    for x, length in nbu.items():
        lab = labels.get(x)
        if lab is not None and x != u:
            shared[lab] = shared.get(lab, 0) + length
    return shared


def _subtree_sums(order, parent, w, rows_a, cols_a, lens_a) -> tuple[np.ndarray, np.ndarray]:
    """Per node of a spanning tree: the weight below it and the border length that
    cutting the edge above it would create (LCA trick: an edge's length is added at both
    ends and removed twice at their lowest common ancestor, then summed over subtrees)."""
    n = len(w)
    # the walks over the tree on Python lists (numpy's per-element access costs more than
    # the additions); the same additions in the same order, so the same floats
    par = parent.tolist()
    rev = order[::-1][:-1].tolist()
    sub = w.tolist()
    for u in rev:
        sub[par[u]] += sub[u]
    depth = [0] * n
    for u in order[1:].tolist():
        depth[u] = depth[par[u]] + 1
    lca = _lca(parent, np.array(depth, dtype=int), rows_a, cols_a)
    val = np.zeros(n)
    np.add.at(val, rows_a, lens_a)
    np.add.at(val, cols_a, lens_a)
    np.add.at(val, lca, -2.0 * lens_a)
    cut = val.tolist()
    for u in rev:
        cut[par[u]] += cut[u]
    return np.array(sub, dtype=w.dtype), np.array(cut)


def _random_tree(n: int, rows: np.ndarray, cols: np.ndarray, keys: np.ndarray):
    """Minimum spanning tree for random edge keys (Kruskal), rooted at node 0.

    Returns ``(bfs_order, parent)`` with ``parent[root] == root``, or None when the
    graph is not connected.
    """
    parent_uf = list(range(n))

    def find(a: int) -> int:
        while parent_uf[a] != a:
            parent_uf[a] = parent_uf[parent_uf[a]]
            a = parent_uf[a]
        return a

    adj: list[list[int]] = [[] for _ in range(n)]
    used = 0
    rows_l, cols_l = rows.tolist(), cols.tolist()
    for e in np.argsort(keys, kind="stable").tolist():
        a, b = rows_l[e], cols_l[e]
        ra, rb = find(a), find(b)
        if ra != rb:
            parent_uf[ra] = rb
            adj[a].append(b)
            adj[b].append(a)
            used += 1
            if used == n - 1:
                break
    if used < n - 1:
        return None
    parent = [0] * n
    order = [0]
    seen = [False] * n
    seen[0] = True
    i = 0
    while i < len(order):
        u = order[i]
        i += 1
        for v in adj[u]:
            if not seen[v]:
                seen[v] = True
                parent[v] = u
                order.append(v)
    return np.array(order), np.array(parent, dtype=int)


def _lca(parent: np.ndarray, depth: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Lowest common ancestors of node pairs in a rooted tree (binary lifting, vectorised)."""
    levels = max(1, int(depth.max()).bit_length())
    up = [parent]
    for _ in range(levels - 1):
        up.append(up[-1][up[-1]])
    a = a.copy()
    b = b.copy()
    swap = depth[a] < depth[b]
    a[swap], b[swap] = b[swap], a[swap]
    diff = depth[a] - depth[b]
    for k in range(levels):
        bit = (diff >> k) & 1 == 1
        a[bit] = up[k][a[bit]]
    for k in range(levels - 1, -1, -1):
        differ = up[k][a] != up[k][b]
        a[differ] = up[k][a[differ]]
        b[differ] = up[k][b[differ]]
    return np.where(a == b, a, parent[a])


def _subtree_mask(parent: np.ndarray, c: int, order: np.ndarray | None = None) -> np.ndarray:
    """Nodes in the subtree of ``c`` (root's parent is itself); ``order``: the tree's nodes,
    each after its parent (the BFS order of :func:`_random_tree`)."""
    if order is not None:
        par = parent.tolist()
        below = [False] * len(par)
        below[c] = True
        for u in order.tolist():
            if not below[u]:
                below[u] = below[par[u]] and par[u] != u
        return np.array(below, dtype=bool)
    n = len(parent)
    inside = np.zeros(n, dtype=bool)
    inside[c] = True
    # walk up from each node until reaching c or the root; memoised
    state = np.full(n, -1, dtype=int)  # -1 unknown, 0 outside, 1 inside
    state[c] = 1
    for u in range(n):
        path = []
        x = u
        while state[x] < 0:
            path.append(x)
            px = parent[x]
            if px == x:  # root
                state[x] = 0
                break
            x = px
        res = state[x]
        for y in path:
            state[y] = res
    return state == 1


def enforce_ceiling(labels: dict[int, int], w, nb, hi: float) -> dict[int, int]:
    """Cut every multi-block group above ``hi`` into connected groups at or below it.

    The last resort when the search could not find a plan within the ceiling: blocks
    are taken in breadth-first order (a BFS prefix is connected) until the next would
    exceed ``hi``; what is left is split into its connected parts and treated the same
    way. Each block is at most ``hi`` (heavier ones are grids of their own), so the
    result always respects the ceiling.
    """
    groups: dict[int, list[int]] = {}
    for u, lab in labels.items():
        groups.setdefault(lab, []).append(u)
    out = dict(labels)
    next_label = max(labels.values()) + 1 if labels else 0
    todo = [
        sorted(g) for _, g in sorted(groups.items()) if sum(w[u] for u in g) > hi and len(g) > 1
    ]
    while todo:
        group = todo.pop()
        if sum(w[u] for u in group) <= hi or len(group) == 1:
            for u in group:
                out[u] = next_label
            next_label += 1
            continue
        allowed = set(group)
        # start from the block farthest (in hops) from the group's first block: a "corner"
        start = _bfs_order(group[0], allowed, nb)[-1]
        taken, total = [], 0.0
        for u in _bfs_order(start, allowed, nb):
            if total + w[u] > hi:
                break
            taken.append(u)
            total += w[u]
        for u in taken:
            out[u] = next_label
        next_label += 1
        rest = [u for u in group if u not in set(taken)]
        todo.extend(components(rest, nb))
    return out


def _bfs_order(start: int, allowed: set[int], nb) -> list[int]:
    seen = {start}
    order = [start]
    queue = deque([start])
    while queue:
        u = queue.popleft()
        for v in sorted(nb[u]):
            if v in allowed and v not in seen:
                seen.add(v)
                order.append(v)
                queue.append(v)
    return order


def _edges_among(nodes: list[int], nb: list[dict[int, float]]):
    """Edges among ``nodes`` as local indices ``i < j`` (by ``i``, then ``nb[u]``'s order)
    and their border lengths: ``(rows, cols, lengths)``."""
    index = {u: i for i, u in enumerate(nodes)}
    rows, cols, lens = [], [], []
    for u in nodes:
        iu = index[u]
        for v, length in nb[u].items():
            iv = index.get(v)
            if iv is not None and iu < iv:
                rows.append(iu)
                cols.append(iv)
                lens.append(length)
    return np.array(rows, dtype=int), np.array(cols, dtype=int), np.array(lens, dtype=float)


def _edge_list(nodes: list[int], nb: list[dict[int, float]]):
    """:func:`_edges_among` the sorted ``nodes`` as block ids (``u < v``; local order is
    the ids' order), for :meth:`_Solver._local_edges` to take any sorted subset's from."""
    rows, cols, lens = _edges_among(nodes, nb)
    ids = np.asarray(nodes, dtype=int)
    return ids[rows], ids[cols], lens


def _best_labels(comp, comp_i, ks, w, nb, lo, hi, *, seed: int, tries: int) -> dict[int, int]:
    """The best of ``tries`` spanning-tree solutions per grid count in ``ks`` (the first
    count with an in-band solution wins): lowest band penalty, then shortest cut."""
    best = None
    edges = _edge_list(comp, nb) if bool(np.all(np.diff(comp) > 0)) else None
    for k in ks:
        for attempt in range(tries):
            rng = np.random.default_rng([seed, comp_i, k, attempt])
            solver = _Solver(comp, w, nb, lo, hi, rng, explore=attempt > 0, edges=edges)
            lab: dict[int, int] = {}
            solver.bisect(comp, k, lab, [0])
            lab = solver.repair(lab, compact=False)
            pen = solver.penalty(lab)
            if pen > 0.0:
                lab = solver.recombine(lab)
                lab = solver.repair(lab, compact=False)
                pen = solver.penalty(lab)
            if pen == 0.0:
                lab = solver.repair(lab, compact=True)
            score = (pen, solver.cut_length(lab))
            if best is None or score < best[0]:
                best = (score, lab)
            if pen == 0.0:
                break
        if best is not None and best[0][0] == 0.0:
            break
    return best[1]


def aggregate(
    weights: np.ndarray,
    graph: Graph,
    *,
    lo: float,
    hi: float,
    seed: int = 0,
    restarts: int = 8,
) -> np.ndarray:
    """Group blocks into contiguous grids whose totals lie in ``[lo, hi]`` where possible.

    Parameters
    ----------
    weights
        Households per block (n,).
    graph
        Block adjacency with shared border lengths.
    lo, hi
        The band (floor and ceiling) of households per grid.
    seed
        Seed of the random spanning trees; same seed, same result.
    restarts
        Spanning-tree restarts per candidate grid count.

    Returns
    -------
    numpy.ndarray
        Grid label per block (0..g-1), numbered in order of each grid's lowest block index.
        A block heavier than ``hi`` on its own is its own grid; every grid is connected.
    """
    w = np.asarray(weights, dtype=float)
    n = len(w)
    nb = graph.neighbours()
    labels = np.full(n, -1, dtype=int)
    next_label = 0
    heavy = [u for u in range(n) if w[u] > hi]
    for u in heavy:
        labels[u] = next_label
        next_label += 1
    light = [u for u in range(n) if w[u] <= hi]
    for comp_i, comp in enumerate(components(light, nb)):
        total = float(w[comp].sum())
        ks, _feasible = choose_k(total, lo, hi)
        if ks == [1]:
            labels[comp] = next_label
            next_label += 1
            continue
        tries = max(2, min(restarts, 1600 // max(len(comp), 1)))
        lab = _best_labels(comp, comp_i, ks, w, nb, lo, hi, seed=seed, tries=tries)
        lab = enforce_ceiling(lab, w, nb, hi)
        remap: dict[int, int] = {}
        for u in comp:
            if lab[u] not in remap:
                remap[lab[u]] = next_label
                next_label += 1
            labels[u] = remap[lab[u]]
    # renumber by lowest block index for stable output
    order: dict[int, int] = {}
    for u in range(n):
        if labels[u] not in order:
            order[labels[u]] = len(order)
    out = np.array([order[x] for x in labels], dtype=int)
    log.debug("aggregated %d blocks into %d grids", n, len(order))
    return out
