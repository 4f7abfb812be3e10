"""Server-side timings: handler-time histograms per route, GC pauses, snapshot swaps.

Cheap enough to stay on in production: one ``perf_counter_ns`` pair and one list
increment per request. Durations go into log-spaced buckets (8 per doubling, so a
percentile read back is within ~9 % of the true value, as in an HDR histogram), one
histogram per route group (``/locate``, ``/locate/batch``, ``other``) and one for the
pauses of Python's cyclic garbage collector. ``GET /admin/metrics`` shows them.

Two more say *where* a slow request waited, beside the handler time: the event loop's lag
(a probe asks to be woken every 10 ms and counts how late it was: time the loop was
blocked, or the process was off the CPU or waited for the GIL) and the tile pre-render
runs (start, end and seconds of each, which hold a database connection and CPU).
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections import deque
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SUB = 8  # buckets per doubling
_MIN_NS = 1_000  # everything below 1 µs goes into bucket 0
_BUCKETS = 8 * 36  # up to ~2**36 µs (19 hours)


def _bucket(ns: int) -> int:
    us = max(ns // _MIN_NS, 1)
    exp = us.bit_length() - 1  # 2**exp <= us < 2**(exp + 1)
    if exp < 3:
        return int(us)  # 1..7 µs: exact
    sub = (us >> (exp - 3)) & (_SUB - 1)  # the next three bits
    return min(exp * _SUB + sub, _BUCKETS - 1)


def _upper_ms(b: int) -> float:
    """Upper edge of bucket ``b`` in milliseconds."""
    if b < 8:
        return (b + 1) / 1000.0
    exp, sub = divmod(b, _SUB)
    return ((_SUB + sub + 1) << (exp - 3)) / 1000.0


class Histogram:
    """Counts of durations in log-spaced buckets, with the count, sum and maximum."""

    def __init__(self) -> None:
        self.counts = [0] * _BUCKETS
        self.n = 0
        self.total_ns = 0
        self.max_ns = 0

    def add(self, ns: int) -> None:
        """Count one duration of ``ns`` nanoseconds."""
        self.counts[_bucket(ns)] += 1
        self.n += 1
        self.total_ns += ns
        if ns > self.max_ns:
            self.max_ns = ns

    def percentile(self, q: float) -> float | None:
        """The ``q``-th percentile in ms (bucket upper edge; ``None`` when empty)."""
        if self.n == 0:
            return None
        rank = q / 100.0 * self.n
        seen = 0
        for b, c in enumerate(self.counts):
            seen += c
            if c and seen >= rank:
                return min(_upper_ms(b), self.max_ns / 1e6)
        return self.max_ns / 1e6

    def summary(self) -> dict[str, Any]:
        """Count, mean, p50/p90/p99/p99.9 and max in ms, and the non-empty buckets."""
        return {
            "count": self.n,
            "mean_ms": round(self.total_ns / self.n / 1e6, 4) if self.n else None,
            **{
                f"p{str(q).replace('.', '_')}_ms": _round(self.percentile(q))
                for q in (50, 90, 99, 99.9)
            },
            "max_ms": round(self.max_ns / 1e6, 3),
            "buckets_ms": {f"{_upper_ms(b):g}": c for b, c in enumerate(self.counts) if c},
        }


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def route_group(path: str) -> str:
    """The histogram a request path counts in."""
    if path == "/locate" or path == "/locate/batch":
        return path
    return "other"


class Metrics:
    """Histograms of one service process (see the module docstring)."""

    def __init__(self) -> None:
        self.started = time.time()
        self.routes: dict[str, Histogram] = {}
        self._gc = {0: Histogram(), 1: Histogram(), 2: Histogram()}
        #: (generation, ns) of the collections not yet counted (see :meth:`gc_callback`)
        self._gc_done: deque[tuple[int, int]] = deque(maxlen=100_000)
        self.swaps = Histogram()
        self.loop_lag = Histogram()
        self.prerenders = Histogram()
        #: The last tile pre-render run: generation, tiles, start/end (epoch s), seconds.
        self.last_prerender: dict[str, Any] = {}
        self._gc_start = 0
        self._lock = threading.Lock()

    def add(self, group: str, ns: int) -> None:
        """Count one request of ``group`` that took ``ns`` nanoseconds."""
        hist = self.routes.get(group)
        if hist is None:
            hist = self.routes.setdefault(group, Histogram())
        hist.add(ns)

    def add_swap(self, seconds: float) -> None:
        """Count one snapshot reload (load + build + swap), from any thread."""
        with self._lock:
            self.swaps.add(int(seconds * 1e9))

    def add_prerender(self, run: dict[str, Any]) -> None:
        """Count one finished tile pre-render run (``seconds`` in it), from any thread."""
        with self._lock:
            self.prerenders.add(int(run.get("seconds", 0.0) * 1e9))
            self.last_prerender = dict(run)

    async def probe_loop(self, interval: float = 0.01) -> None:
        """Count, every ``interval`` s, how late the event loop woke this task (until
        cancelled): the lag a request arriving then would have waited before its handler."""
        want = int(interval * 1e9)
        while True:
            t0 = time.perf_counter_ns()
            await asyncio.sleep(interval)
            self.loop_lag.add(max(time.perf_counter_ns() - t0 - want, 0))

    def gc_callback(self, phase: str, info: dict[str, int]) -> None:
        """``gc.callbacks`` hook: time each collection by generation.

        A collection may start anywhere, also at the bottom of a stack about to reach the
        recursion limit (a deeply nested JSON body being refused): the hook calls no Python
        function (the histograms are updated later, by :attr:`gc`) and a RecursionError in
        it loses that one timing instead of escaping into the collector."""
        try:
            if phase == "start":
                self._gc_start = time.perf_counter_ns()
            elif self._gc_start:
                self._gc_done.append(
                    (info.get("generation", 2), time.perf_counter_ns() - self._gc_start)
                )
                self._gc_start = 0
        except RecursionError:
            self._gc_start = 0

    @property
    def gc(self) -> dict[int, Histogram]:
        """The collections' pauses per generation (those timed so far counted first)."""
        done = self._gc_done
        with self._lock:
            while done:
                generation, ns = done.popleft()
                self._gc[generation].add(ns)
        return self._gc

    def install_gc(self) -> None:
        """Start timing garbage collections (idempotent)."""
        if self.gc_callback not in gc.callbacks:
            gc.callbacks.append(self.gc_callback)

    def uninstall_gc(self) -> None:
        """Stop timing garbage collections."""
        if self.gc_callback in gc.callbacks:
            gc.callbacks.remove(self.gc_callback)

    def report(self) -> dict[str, Any]:
        """Everything as a JSON-ready dict."""
        return {
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "handler_time": {g: h.summary() for g, h in sorted(self.routes.items())},
            "gc_pauses": {f"generation_{g}": h.summary() for g, h in self.gc.items()},
            "gc_thresholds": list(gc.get_threshold()),
            "gc_frozen_objects": gc.get_freeze_count(),
            "snapshot_reloads": self.swaps.summary(),
            "loop_lag": self.loop_lag.summary(),
            "prerender_runs": self.prerenders.summary(),
            "last_prerender": self.last_prerender,
        }


class HandlerTimes:
    """ASGI middleware: time every HTTP request from its call to its last body byte.

    Parameters
    ----------
    app
        The ASGI application to wrap.
    metrics
        Where the times go.
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter_ns()
        group = route_group(scope.get("path", ""))
        metrics = self.metrics

        async def timed_send(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                metrics.add(group, time.perf_counter_ns() - t0)

        await self.app(scope, receive, timed_send)
