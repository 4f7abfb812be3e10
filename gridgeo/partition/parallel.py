"""Run the per-community stage in parallel: a local process pool or a dask cluster.

Each community is one task; results are put back in community order, so the output
is identical to the serial run (the per-community function depends only on its own
inputs and a seed derived from the community code). On one machine a plain process
pool is used (forked workers when no other thread runs: no interpreter start-up, no
imports to repeat); dask only when a scheduler address is given (a LocalCluster costs
seconds to start, more than a city's whole run on two cores).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing as mp
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed

from gridgeo.i18n import language, use_language
from gridgeo.partition.community import CommunityResult, CommunityTask, partition_community
from gridgeo.rules import Profile

log = logging.getLogger(__name__)

#: below this much work (road lines + household points, all communities) ``workers="auto"``
#: runs serially: a pool's start-up would cost more than it saves
AUTO_MIN_COST = 5_000

#: the module a forkserver's workers run (with all the partitioner's imports), imported by
#: the fork server itself before it forks them
PRELOAD = __name__


def run_local(
    tasks: list[CommunityTask],
    profile: Profile,
    *,
    seed: int = 0,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> list[CommunityResult]:
    """Partition ``tasks`` on a pool of ``workers`` local processes.

    Parameters
    ----------
    tasks
        Per-community inputs.
    profile
        The rules.
    seed
        Base seed (as in the serial run).
    workers
        Processes (forked where safe, see :func:`_start_method`).
    progress
        Called as ``progress(done, total)`` as results arrive.

    Returns
    -------
    list of CommunityResult
        In the order of ``tasks``, identical to the serial run.
    """
    global _FORKED
    method = _start_method()
    # the biggest communities first, so no worker is left with one large tail
    order = sorted(range(len(tasks)), key=lambda k: (-_cost(tasks[k]), k))
    results: dict[int, CommunityResult] = {}
    n = max(1, min(int(workers), len(tasks)))
    context = mp.get_context(method)
    if method == "forkserver":
        # the fork server imports the partitioner once, before it forks the workers: else
        # each worker of each run imports it anew (seconds of CPU per worker)
        context.set_forkserver_preload([PRELOAD])
    if method == "fork":  # the workers inherit the tasks: only their index is sent
        _FORKED = (tasks, profile)
        # objects made so far are left out of the workers' garbage collection, which would
        # otherwise write to (and so copy) every page of them the fork shares
        gc.freeze()
    try:
        # the language in use (``--lang``) is a context variable of this process: each worker
        # takes it up before its first community (forked or not), so its messages match
        with ProcessPoolExecutor(
            n, mp_context=context, initializer=_init_worker, initargs=(language(),)
        ) as pool:
            if method == "fork":
                futures = [pool.submit(_forked_task, k, seed) for k in order]
            else:
                futures = [
                    pool.submit(partition_community, tasks[k], profile, seed=seed) for k in order
                ]
            for done, fut in enumerate(as_completed(futures), start=1):
                res = fut.result()
                results[res.index] = res
                if progress:
                    progress(done, len(tasks))
    finally:
        if _FORKED is not None:
            gc.unfreeze()
        _FORKED = None
    log.info("ran %d communities on %d local processes (%s)", len(tasks), n, method)
    return [results[t.index] for t in tasks]


def _init_worker(lang: str) -> None:
    """A local worker's start: the caller's language, and no cyclic garbage collection (as
    in the caller's run, see :class:`gridgeo.partition.core._GcPause`; the worker is this
    run's own process and ends with it)."""
    use_language(lang)
    gc.disable()


#: the tasks and profile of the running :func:`run_local`, inherited by forked workers
_FORKED: tuple[list[CommunityTask], Profile] | None = None


def _forked_task(k: int, seed: int) -> CommunityResult:
    """Partition the ``k``-th task of the forked parent's :func:`run_local` (no pickling of
    its geometries)."""
    tasks, profile = _FORKED
    return partition_community(tasks[k], profile, seed=seed)


def _in_language(lang: str, task: CommunityTask, profile: Profile, *, seed: int) -> CommunityResult:
    """:func:`partition_community` with its messages in ``lang`` (a dask worker does not share
    the caller's ``--lang``)."""
    use_language(lang)
    return partition_community(task, profile, seed=seed)


def _start_method() -> str:
    """``fork`` (no start-up: the workers inherit the imported modules) when this process
    runs no other thread; else ``forkserver`` (a fork copies locks another thread may hold,
    e.g. a progress bar writing to the terminal), else ``spawn``."""
    methods = mp.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def auto_workers(tasks: list[CommunityTask], *, cores: int | None = None) -> int:
    """Processes for ``workers="auto"``: one per core, at most one per community, and one
    (serial) for a small input.

    Parameters
    ----------
    tasks
        Per-community inputs.
    cores
        Cores to use (default: those this process may run on).

    Returns
    -------
    int
        ``1`` for fewer than two communities or less work than :data:`AUTO_MIN_COST`,
        else ``min(cores, communities)``.
    """
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        cores = cores or os.cpu_count() or 1
    if len(tasks) < 2 or sum(_cost(t) for t in tasks) < AUTO_MIN_COST:
        return 1
    return max(1, min(int(cores), len(tasks)))


def _cost(task: CommunityTask) -> int:
    """A rough size of one community's work: its road lines and household points."""
    return len(task.roads) + len(task.xy)


def run_dask(
    tasks: list[CommunityTask],
    profile: Profile,
    *,
    seed: int = 0,
    workers: int = 2,
    scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[CommunityResult]:
    """Partition ``tasks`` on a LocalCluster of ``workers`` processes or on ``scheduler``.

    Parameters
    ----------
    tasks
        Per-community inputs.
    profile
        The rules.
    seed
        Base seed (as in the serial run).
    workers
        Processes of the LocalCluster (ignored when ``scheduler`` is given).
    scheduler
        Address of an existing dask scheduler, e.g. ``tcp://10.0.0.5:8786``.
    progress
        Called as ``progress(done, total)`` as results arrive.

    Returns
    -------
    list of CommunityResult
        In the order of ``tasks``.
    """
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(
            n_workers=max(1, int(workers)),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    try:
        prof = client.scatter(profile, broadcast=True)
        lang = language()
        futures = [
            client.submit(
                _in_language,
                lang,
                t,
                prof,
                seed=seed,
                key=f"community-{t.index}-{t.code}",
                pure=False,
            )
            for t in tasks
        ]
        results: dict[int, CommunityResult] = {}
        for done, fut in enumerate(as_completed(futures), start=1):
            res = fut.result()
            results[res.index] = res
            if progress:
                progress(done, len(tasks))
        log.info(
            "ran %d communities on dask (%s)", len(tasks), scheduler or f"{workers} local workers"
        )
        return [results[t.index] for t in tasks]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
