"""The partitioner's head on both cores: the parent's serial work before the communities' pool.

Before the pool forks, the parent cleans the roads (and on the median collapses the divided
roads) on one core while the other idles. Most of that work is GEOS and numpy, which release
the GIL, so threads put the second core to use without changing a result:

* :class:`Background` runs one job (the road cleaning) beside the caller's own (the
  households' assignment);
* :func:`elementwise` splits one element-wise shapely call over two threads (each element's
  answer does not depend on the others, so the halves joined are the whole call's answer),
  inside :func:`both_cores` only: the same functions run in the communities' workers, where
  both cores are already busy;
* :func:`two_at_once` runs one function on two inputs side by side, inside
  :func:`both_cores`: the roads of two halves of the communities
  (:func:`gridgeo.partition.clean.clean_roads_for`, where that gives the lines the cleaning
  of all roads gives) and the carriageways' pieces of two sets of road names
  (:func:`gridgeo.partition.carriageways._by_key_halves`).

No thread outlives its call or block: the local pool that follows forks only when no other
thread runs (:func:`gridgeo.partition.parallel._start_method`).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

#: below this many elements :func:`elementwise` makes one call (a thread's start costs
#: about what GEOS spends on a few hundred short lines)
SPLIT_MIN = 2_000

_ON: contextvars.ContextVar[bool] = contextvars.ContextVar("gridgeo_both_cores", default=False)


@contextmanager
def both_cores() -> Iterator[None]:
    """Within the block (and in :class:`Background` jobs started in it), :func:`elementwise`
    splits its calls over two threads."""
    token = _ON.set(True)
    try:
        yield
    finally:
        _ON.reset(token)


def on_both_cores() -> bool:
    """Whether :func:`both_cores` is on here."""
    return _ON.get()


def two_at_once(func: Callable, first: Any, second: Any, **kwargs) -> tuple[Any, Any]:
    """``func(first, **kwargs)`` here and ``func(second, **kwargs)`` on a thread beside it:
    the two answers. Both cores are busy with the two, so :func:`elementwise` makes one
    call in each."""
    token = _ON.set(False)
    try:
        with Background(func, second, **kwargs) as other:
            mine = func(first, **kwargs)
    finally:
        _ON.reset(token)
    return mine, other.result


class Background:
    """``func(*args)`` on a thread of its own: ``with Background(func, ...) as job:`` runs the
    block meanwhile; leaving it waits for the thread (also when the block raises), then
    ``job.result`` holds the return value, or the thread's exception is raised.

    The thread runs in a copy of the caller's context (its language for messages).
    """

    def __init__(self, func: Callable, *args, **kwargs) -> None:
        self._func, self._args, self._kwargs = func, args, kwargs
        self._context = contextvars.copy_context()
        self._error: BaseException | None = None
        self.result: Any = None
        self._thread = threading.Thread(target=self._run, name="gridgeo-head", daemon=True)

    def _run(self) -> None:
        try:
            self.result = self._context.run(self._func, *self._args, **self._kwargs)
        except BaseException as exc:  # handed to the caller's thread
            self._error = exc

    def __enter__(self) -> Background:
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._thread.join()
        if self._error is not None and exc is None:
            raise self._error

    def wait(self) -> Any:
        """Wait for the thread (started by ``with``) inside the block: its return value, or
        its exception raised here."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.result


def elementwise(func: Callable, *arrays: np.ndarray, **kwargs) -> np.ndarray:
    """``func(*arrays, **kwargs)`` for an element-wise shapely function of equally long 1-D
    arrays, the second half on another thread (inside :func:`both_cores`).

    Parameters
    ----------
    func
        A shapely function answering element by element (``set_precision``, ``normalize``,
        ``to_wkb``, ``intersection``, ``distance`` …), returning one array.
    *arrays
        Its array arguments, all of the same length (split alike).
    **kwargs
        Its other arguments (scalars, passed to both halves).

    Returns
    -------
    numpy.ndarray
        The same array as the single call.
    """
    n = len(arrays[0])
    if n < SPLIT_MIN or not _ON.get():
        return func(*arrays, **kwargs)
    half = n // 2
    with Background(func, *(a[half:] for a in arrays), **kwargs) as rest:
        first = func(*(a[:half] for a in arrays), **kwargs)
    return np.concatenate([first, rest.result])
