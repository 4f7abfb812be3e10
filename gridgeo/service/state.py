"""The service's in-memory registry snapshots and their refresh on ``NOTIFY gridgeo_registry``."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

import psycopg
from psycopg_pool import ConnectionPool

from gridgeo.errors import DatabaseError
from gridgeo.i18n import _
from gridgeo.locate.snapshot import Snapshot
from gridgeo.registry.snapshot import content_key, listen_for_changes, load_snapshot

log = logging.getLogger(__name__)


class ServiceState:
    """Current snapshot (swapped atomically), a few past-date snapshots, and a listener.

    Parameters
    ----------
    pool
        Connection pool of the service.
    conninfo
        libpq URL for the dedicated LISTEN connection.
    past_snapshots
        How many past-date snapshots to keep (least recently used are dropped).
    gc_freeze
        After each reload, ``gc.freeze()`` the objects alive (the new snapshot among
        them), so that the cyclic garbage collector's full collections skip them. The
        replaced snapshot is still freed by reference counting; only cyclic garbage alive
        at that moment is kept for good (a few objects per reload).
    """

    def __init__(
        self,
        pool: ConnectionPool,
        conninfo: str,
        *,
        past_snapshots: int = 4,
        gc_freeze: bool = False,
    ):
        self.pool = pool
        self.conninfo = conninfo
        self._current: Snapshot | None = None
        self._past: OrderedDict[str, Snapshot] = OrderedDict()
        self._past_max = past_snapshots
        self._gc_freeze = gc_freeze
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        #: Past-date snapshots built at the same time, at most.
        self._builds = threading.BoundedSemaphore(2)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.generation = 0
        self.last_event: dict | None = None
        self.listening = threading.Event()
        #: Set once the listener's first connection attempt ended (listening or failed).
        self.first_listen_attempt = threading.Event()
        #: ``time.monotonic()`` when the listener's current ``LISTEN`` took effect.
        self.listened_at: float | None = None
        #: ``time.monotonic()`` just before the current snapshot was read.
        self._read_at: float | None = None
        #: Successful re-snapshots after the listener (re)connected.
        self.reconnects = 0
        #: Called with (generation, snapshot) after every refresh (e.g. the tile cache);
        #: must return promptly (hand long work to a thread).
        self.on_refresh: list[Callable[[int, Snapshot], None]] = []
        #: Called with the seconds of every successful reload (load, build, swap).
        self.refresh_observer: Callable[[float], None] | None = None

    # -- snapshots -------------------------------------------------------------------
    def refresh(self, *, timeout: float = 30.0, unless_read_after: float | None = None) -> Snapshot:
        """Reload the current snapshot from PostGIS and drop the past-date ones.

        ``timeout`` bounds the wait for a database connection (seconds).
        ``unless_read_after``: a ``time.monotonic()`` value; when the current snapshot was
        read after it (e.g. after ``LISTEN`` took effect, so every later change will be
        notified), keep it: no reload, no hooks (start-up then loads the registry once).
        """
        with self._refresh_lock:
            if (
                unless_read_after is not None
                and self._current is not None
                and self._read_at is not None
                and self._read_at >= unless_read_after
            ):
                return self._current
            read_at = time.monotonic()
            t0 = time.perf_counter()
            try:
                with self.pool.connection(timeout=timeout) as conn:
                    snap = load_snapshot(conn)
            except psycopg.Error as exc:
                raise DatabaseError(_("cannot read the registry: {exc}").format(exc=exc)) from None
            except TimeoutError as exc:  # pool timeout
                raise DatabaseError(
                    _("the database does not answer: {exc}").format(exc=exc)
                ) from None
            _warm_up(snap)
            with self._lock:
                self._current = snap
                self._read_at = read_at
                self._past.clear()
                self.generation += 1
                generation = self.generation
            if self._gc_freeze:
                gc.freeze()  # no gc.collect() first: that is the pause being avoided
            if self.refresh_observer is not None:
                self.refresh_observer(time.perf_counter() - t0)
            for hook in self.on_refresh:
                try:
                    hook(generation, snap)
                except Exception as exc:  # a hook never fails the refresh
                    log.error("after refreshing: %s", exc)
            return snap

    @property
    def loaded(self) -> bool:
        """Whether a current snapshot is in memory."""
        return self._current is not None

    @property
    def listener_refused(self) -> bool:
        """Whether the listener runs, has tried to connect, and has no connection now: the
        database refused or dropped it, so a wait on the pool (which keeps retrying in the
        background) would only run into its time-out."""
        return (
            self._thread is not None
            and self.first_listen_attempt.is_set()
            and not self.listening.is_set()
        )

    def current(self) -> Snapshot:
        """The current snapshot (loaded on first use)."""
        snap = self._current
        if snap is None:
            snap = self.refresh()
        return snap

    def at(self, when: datetime | None) -> Snapshot:
        """The snapshot valid at ``when`` (``None``: current); past ones are cached by content."""
        if when is None:
            return self.current()
        try:
            with self.pool.connection(timeout=30) as conn:
                # past snapshots are shared by content: the same grid versions, contacts
                # and coverage give the same answers whatever the exact time asked for
                key = content_key(conn, when)
                conn.commit()  # load_snapshot opens its own repeatable-read transaction
                hit = self._cached(key)
                if hit is not None:
                    return hit
                # at most a few past snapshots are built at once (each takes 100-200 ms of
                # CPU); the others wait here, in their worker thread, and usually find the
                # snapshot built by the time it is their turn
                if not self._builds.acquire(timeout=30):
                    raise DatabaseError(_("too many past-date indexes being built; try again"))
                try:
                    hit = self._cached(key)
                    if hit is not None:
                        return hit
                    snap = load_snapshot(conn, at=when)
                finally:
                    self._builds.release()
        except psycopg.Error as exc:
            raise DatabaseError(_("cannot read the registry: {exc}").format(exc=exc)) from None
        with self._lock:
            self._past[key] = snap
            while len(self._past) > self._past_max:
                self._past.popitem(last=False)
        return snap

    def _cached(self, key: str) -> Snapshot | None:
        with self._lock:
            hit = self._past.get(key)
            if hit is not None:
                self._past.move_to_end(key)
            return hit

    # -- LISTEN / NOTIFY -------------------------------------------------------------
    def start_listener(self) -> None:
        """Start the background thread that refreshes on ``NOTIFY gridgeo_registry``."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._listen, name="gridgeo-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the listener thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _listen(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
                    listen_for_changes(conn)
                    self.listened_at = listened_at = time.monotonic()
                    self.listening.set()
                    self.first_listen_attempt.set()
                    # changes made while we were not listening: re-snapshot on every
                    # (re)connect unless the snapshot was read after LISTEN (start-up),
                    # retrying until it succeeds (the pool may still be dropping
                    # connections of the server that went away)
                    retry = 0.2
                    started = {"event": "listen_started"}
                    while not self._safe_refresh(started, unless_read_after=listened_at):
                        if self._stop.wait(retry):
                            return
                        retry = min(retry * 2, 5.0)
                    backoff = 0.5
                    while not self._stop.is_set():
                        # back at once with the first notification (a registry change
                        # is served without waiting out the window); at most 0.2 s
                        # otherwise, so that stop() is not kept waiting longer
                        events = list(conn.notifies(timeout=0.2, stop_after=1))
                        if events:
                            # one refresh for a burst of notifications
                            with contextlib.suppress(Exception):
                                more = list(conn.notifies(timeout=0.05))
                                events.extend(more)
                            payload = _parse(events[-1].payload)
                            self._safe_refresh(payload | {"count": len(events)})
            except psycopg.Error as exc:
                self.listening.clear()
                self.first_listen_attempt.set()
                log.warning("registry listener lost its connection (%s); retrying", exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)  # back within seconds of the database

    def _safe_refresh(self, event: dict, *, unless_read_after: float | None = None) -> bool:
        """Refresh; ``False`` (logged, last good snapshot kept) when it failed."""
        try:
            generation = self.generation
            snap = self.refresh(timeout=10.0, unless_read_after=unless_read_after)
            if self.generation == generation:  # read after LISTEN already: kept
                return True
            self.last_event = event
            self.reconnects += event.get("event") == "listen_started"
            log.info("refreshed the locate index after %s: %d grids", event, len(snap.index))
            return True
        except Exception as exc:  # keep the last good snapshot; the next event retries
            log.error("refresh after %s failed: %s", event, exc)
            return False


def _parse(payload: str) -> dict:
    try:
        value = json.loads(payload)
        return value if isinstance(value, dict) else {"event": str(value)}
    except ValueError:
        return {"event": payload}


def _warm_up(snap: Snapshot) -> None:
    """Load the compiled single-point kernels now, not on the first request."""
    if len(snap.index):
        x = snap.index.geoms[0].representative_point()
        g = snap.index.locate([x.x], [x.y])
        snap.index.border_distance([x.x], [x.y], g)
