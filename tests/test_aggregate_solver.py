"""The aggregator's shortcuts give what its plain loops give (gridgeo.partition.aggregate)."""

from __future__ import annotations

import numpy as np

from gridgeo.partition.aggregate import (
    Graph,
    _edge_list,
    _is_connected_without,
    _random_tree,
    _shared_by_label,
    _Solver,
    _subtree_mask,
    aggregate,
    band_penalty,
    components,
)


def _grid_graph(nx: int, ny: int, seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    edges = [(y * nx + x, y * nx + x + 1) for y in range(ny) for x in range(nx - 1)]
    edges += [(y * nx + x, (y + 1) * nx + x) for y in range(ny - 1) for x in range(nx)]
    edges = np.array(edges)[rng.permutation(len(edges))]  # neighbours in no sorted order
    return Graph(nx * ny, edges, rng.uniform(1.0, 50.0, len(edges)))


def test_local_edges_from_the_component_list_are_the_dict_walk_s():
    graph = _grid_graph(9, 7)
    nb = graph.neighbours()
    w = np.ones(graph.n)
    comp = components(list(range(graph.n)), nb)[0]
    plain = _Solver(comp, w, nb, 3, 5, np.random.default_rng(0))
    listed = _Solver(comp, w, nb, 3, 5, np.random.default_rng(0), edges=_edge_list(comp, nb))
    rng = np.random.default_rng(1)
    for nodes in (comp, sorted(rng.choice(comp, 30, replace=False).tolist()), comp[:5], []):
        for got, want in zip(listed._local_edges(nodes), plain._local_edges(nodes), strict=True):
            assert np.array_equal(got, want)
    # nodes out of order: the dict walk (local order is the list's order)
    nodes = comp[::-1][:20]
    for got, want in zip(listed._local_edges(nodes), plain._local_edges(nodes), strict=True):
        assert np.array_equal(got, want)


def _repair_plain(solver: _Solver, labels: dict, *, compact: bool) -> dict:
    """The repair's loop as first written: every neighbour measured, numpy weights."""
    lo, hi, w, nb = solver.lo, solver.hi, solver.w, solver.nb
    members: dict = {}
    for u, lab in labels.items():
        members.setdefault(lab, set()).add(u)
    totals = {lab: sum(w[u] for u in m) for lab, m in members.items()}
    for _sweep in range(60):
        moved = False
        for u in sorted(labels):
            a = labels[u]
            ta = totals[a]
            best = None
            shared = None
            for v in sorted(nb[u]):
                b = labels.get(v)
                if b is None or b == a:
                    continue
                if shared is None:
                    shared = _shared_by_label(u, nb[u], labels)
                tb = totals[b]
                before = band_penalty(ta, lo, hi) + band_penalty(tb, lo, hi)
                after = band_penalty(ta - w[u], lo, hi) + band_penalty(tb + w[u], lo, hi)
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


def test_repair_moves_the_blocks_the_plain_loop_moves():
    graph = _grid_graph(12, 10, seed=2)
    nb = graph.neighbours()
    w = np.random.default_rng(3).integers(20, 120, graph.n).astype(float)
    comp = list(range(graph.n))
    for seed in range(6):
        solver = _Solver(comp, w, nb, 300, 500, np.random.default_rng(seed))
        start: dict = {}
        solver.bisect(comp, 6, start, [0])
        for compact in (False, True):
            got = solver.repair(dict(start), compact=compact)
            assert got == _repair_plain(solver, dict(start), compact=compact)
    labels = aggregate(w, graph, lo=300, hi=500, seed=7)
    assert np.array_equal(labels, aggregate(w, graph, lo=300, hi=500, seed=7))


def test_subtree_from_the_bfs_order_is_the_walk_up_s():
    graph = _grid_graph(8, 6, seed=4)
    rows, cols = graph.edges[:, 0], graph.edges[:, 1]
    for seed in range(3):
        keys = np.random.default_rng(seed).random(len(rows))
        order, parent = _random_tree(graph.n, rows, cols, keys)
        for c in order[1:].tolist():
            assert np.array_equal(_subtree_mask(parent, c, order), _subtree_mask(parent, c))
