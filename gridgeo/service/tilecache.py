"""Vector tiles cached per registry version: an LRU bounded by bytes, and pre-rendering.

A tile's content depends on the registry (current grids and divisions), on what the caller
may see (public, or counts within a division scope) and on ``z/x/y``; the cache key holds
all of them. The registry version is the service state's ``generation``, bumped on every
re-snapshot (``NOTIFY gridgeo_registry``, listener reconnect, read-your-writes refresh):
a new generation makes every older entry unreachable, and they are dropped at once.

Read the generation *before* rendering: a tile rendered from data newer than its key is
only fresher, never staler, and is discarded with that generation.

After each re-snapshot the public tiles over the district are rendered again in one
background thread, one database connection at a time, lowest zoom first, at most
``tile_prerender_max_tiles`` tiles; then the staff tiles that were in the cache before the
change, most recently used first, at most a quarter of that bound (:class:`Prerenderer`).
The tiles are rendered by PostgreSQL (a low-zoom tile takes it hundreds of ms of CPU). The
public ones go through a read-only connection of the run's own whose PostgreSQL process is
given a low CPU priority (``tile_prerender_nice``, when the server runs on this machine):
it takes the CPU that ``/locate`` leaves instead of competing with it. The run may also
spend at most ``tile_prerender_share`` of its wall time rendering and wait the rest
(default 1: no waits; pacing to 0.25 did not lower the ``/locate`` tail on 2 cores,
docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Any, NamedTuple

import numpy as np
import psycopg_pool
import pyproj
import shapely
from starlette.types import ASGIApp, Receive, Scope, Send

from gridgeo.crs import cached_transformer
from gridgeo.registry import features

log = logging.getLogger(__name__)

#: Bytes counted for every entry besides its tile (key, ETag, bookkeeping), so that empty
#: tiles cannot grow the cache without bound.
ENTRY_OVERHEAD = 256


class Tile(NamedTuple):
    """A rendered tile and its strong ETag (a digest of the bytes, quoted)."""

    data: bytes
    etag: str


def make_tile(data: bytes) -> Tile:
    """A :class:`Tile` with the ETag of ``data``."""
    return Tile(data, '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"')


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header value names ``etag`` (weak comparison, ``*``)."""
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


class TileCache:
    """Thread-safe LRU of tiles bounded by bytes, with one render per key at a time.

    Parameters
    ----------
    max_bytes
        Most bytes held (tiles plus :data:`ENTRY_OVERHEAD` each); 0 disables the cache.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._data: OrderedDict[Hashable, Tile] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._inflight: dict[Hashable, threading.Event] = {}
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        """Whether tiles are kept at all."""
        return self.max_bytes > 0

    def get(self, key: Hashable) -> Tile | None:
        """The cached tile of ``key`` (now the most recently used), or ``None``."""
        with self._lock:
            tile = self._data.get(key)
            if tile is not None:
                self._data.move_to_end(key)
                self.hits += 1
            return tile

    def put(self, key: Hashable, data: bytes) -> Tile:
        """Keep ``data`` under ``key`` (unless it alone exceeds the bound) and return it."""
        tile = make_tile(data)
        size = len(data) + ENTRY_OVERHEAD
        if not self.enabled or size > self.max_bytes:
            return tile
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= len(old.data) + ENTRY_OVERHEAD
            self._data[key] = tile
            self._bytes += size
            while self._bytes > self.max_bytes:
                _k, gone = self._data.popitem(last=False)
                self._bytes -= len(gone.data) + ENTRY_OVERHEAD
        return tile

    def fetch(self, key: Hashable, render: Callable[[], bytes], *, wait: float = 30.0) -> Tile:
        """The tile of ``key``: cached, or rendered once however many callers ask at once.

        Blocks (call it from a worker thread, not the event loop). When the caller that
        renders fails, the others render for themselves (and see the same error).
        """
        tile = self.get(key)
        if tile is not None:
            return tile
        if not self.enabled:
            return make_tile(render())
        with self._lock:
            event = self._inflight.get(key)
            owner = event is None
            if owner:
                event = self._inflight[key] = threading.Event()
                self.misses += 1
        if not owner:
            event.wait(wait)
            tile = self.get(key)
            return tile if tile is not None else self.put(key, render())
        try:
            return self.put(key, render())
        finally:
            with self._lock:
                self._inflight.pop(key, None)
            event.set()

    def recent(self, pick: Callable[[Hashable], bool], limit: int) -> list[Hashable]:
        """Up to ``limit`` keys that ``pick`` accepts, most recently used first."""
        out: list[Hashable] = []
        with self._lock:
            for key in reversed(self._data):
                if len(out) >= limit:
                    break
                if pick(key):
                    out.append(key)
        return out

    def retain(self, keep: Callable[[Hashable], bool]) -> int:
        """Drop every entry whose key ``keep`` refuses; how many were dropped."""
        with self._lock:
            gone = [k for k in self._data if not keep(k)]
            for k in gone:
                self._bytes -= len(self._data.pop(k).data) + ENTRY_OVERHEAD
        return len(gone)

    def stats(self) -> dict[str, int]:
        """Entries, bytes, bound, hits and misses (renders) so far."""
        with self._lock:
            return {
                "entries": len(self._data),
                "bytes": self._bytes,
                "max_bytes": self.max_bytes,
                "hits": self.hits,
                "misses": self.misses,
            }


# -- which tiles cover the district ------------------------------------------------------
def _lonlat_to_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    lat = max(min(lat, 85.0511), -85.0511)
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def tile_lonlat(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Lon/lat bounds (west, south, east, north) of a Web Mercator tile."""
    n = 2.0**z

    def lat(row: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y)


def district_tiles(
    geoms: np.ndarray,
    srid: int,
    *,
    min_zoom: int,
    max_zoom: int,
    max_tiles: int,
) -> list[tuple[int, int, int]]:
    """Tiles that touch any of ``geoms`` (in EPSG ``srid``), zoom by zoom, lowest first.

    Starts at the zoom where one tile is about as wide as the district (not below
    ``min_zoom``) and adds whole zooms up to ``max_zoom`` while the total stays within
    ``max_tiles``.
    """
    if len(geoms) == 0 or max_tiles <= 0:
        return []
    to_ll, to_reg = cached_transformer(srid, 4326), cached_transformer(4326, srid)
    w, s, e, n = to_ll.transform_bounds(*shapely.total_bounds(geoms), densify_pts=21)
    if not all(math.isfinite(v) for v in (w, s, e, n)):
        return []
    tree = shapely.STRtree(geoms)
    width = max(e - w, 1e-9)
    start = max(min_zoom, min(max_zoom, int(math.floor(math.log2(360.0 / width)))))
    out: list[tuple[int, int, int]] = []
    for z in range(start, max_zoom + 1):
        x0, y0 = _lonlat_to_tile(w, n, z)
        x1, y1 = _lonlat_to_tile(e, s, z)
        if (x1 - x0 + 1) * (y1 - y0 + 1) + len(out) > 4 * max_tiles:
            break  # even before filtering, far too many
        found = list(_touching(tree, to_reg, z, x0, x1, y0, y1))
        if len(out) + len(found) > max_tiles:
            break
        out += found
    return out


def _touching(
    tree: shapely.STRtree,
    to_reg: pyproj.Transformer,
    z: int,
    x0: int,
    x1: int,
    y0: int,
    y1: int,
) -> Iterator[tuple[int, int, int]]:
    for x in range(x0, x1 + 1):
        for y in range(y0, y1 + 1):
            box = to_reg.transform_bounds(*tile_lonlat(z, x, y), densify_pts=5)
            if all(math.isfinite(v) for v in box) and len(tree.query(shapely.box(*box))):
                yield z, x, y


class Prerenderer:
    """Renders the public tiles of the district after each re-snapshot, in one thread;
    then the tiles of other caller levels that were in use before (staff maps).

    Parameters
    ----------
    render
        ``render(generation, level, z, x, y)`` renders and caches one tile (blocking).
    current_generation
        The registry version now: a run stops as soon as it moved on.
    min_zoom, max_zoom, max_tiles
        See :func:`district_tiles`.
    share
        Most of its wall time a run spends rendering: after a tile that took ``t`` s it
        waits ``t * (1 - share) / share`` s (1: no waits).
    session
        Opens the connection a run renders its public tiles with (a context manager; the
        service's is a read-only session whose PostgreSQL process runs at a low CPU
        priority), passed to ``render`` as ``conn``; ``None``, or a failure to open it:
        ``conn=None`` (the service's pools).
    """

    def __init__(
        self,
        render: Callable[[int, Level, int, int, int], object],
        current_generation: Callable[[], int],
        *,
        min_zoom: int,
        max_zoom: int,
        max_tiles: int,
        share: float = 1.0,
        session: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], not {share}")
        self._share = share
        self._render = render
        self._session = session
        self._generation = current_generation
        self._zooms = (min_zoom, max_zoom)
        self._max_tiles = max_tiles
        self._wanted: tuple[int, np.ndarray, int, list] | None = None
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        #: Tiles rendered by the last finished run, and its generation.
        self.last_run: dict[str, int] = {}
        #: Called with the figures of every finished run (e.g. the service's metrics).
        self.observer: Callable[[dict], None] | None = None

    def request(
        self,
        generation: int,
        geoms: np.ndarray,
        srid: int | None,
        extra: list[tuple[Level, int, int, int]] = (),
    ) -> None:
        """Ask for the tiles of ``generation`` (replaces any run not yet started);
        ``extra``: ``(level, z, x, y)`` to render after the district's public tiles."""
        if self._max_tiles <= 0 or srid is None or len(geoms) == 0:
            return
        with self._cond:
            if self._stop:
                return
            self._wanted = (generation, geoms, srid, list(extra))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="gridgeo-tiles", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def close(self, timeout: float = 5.0) -> None:
        """Stop after the tile being rendered."""
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._wanted is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                generation, geoms, srid, extra = self._wanted
                self._wanted = None
            try:
                self._run(generation, geoms, srid, extra)
            except Exception as exc:  # the next re-snapshot tries again
                log.warning("pre-rendering the tiles of version %d stopped: %s", generation, exc)

    def _pause(self, spent: float) -> None:
        """Wait so that rendering takes at most ``share`` of the run's wall time; a stop
        or a newer version ends the wait at once."""
        if self._share >= 1:
            return
        with self._cond:
            if not self._stop and self._wanted is None:
                self._cond.wait(min(spent * (1 - self._share) / self._share, 30.0))

    @contextlib.contextmanager
    def _open_session(self) -> Iterator[Any]:
        """The run's own connection, or ``None`` (the pools) when there is none to open."""
        with contextlib.ExitStack() as stack:
            conn = None
            if self._session is not None:
                try:
                    conn = stack.enter_context(self._session())
                except Exception as exc:  # e.g. no free connection slot: use the pools
                    log.info("tile pre-render without a session of its own: %s", exc)
            yield conn

    def _run(self, generation: int, geoms: np.ndarray, srid: int, extra: list) -> None:
        started, t0 = time.time(), time.perf_counter()
        tiles = district_tiles(
            geoms,
            srid,
            min_zoom=self._zooms[0],
            max_zoom=self._zooms[1],
            max_tiles=self._max_tiles,
        )
        planned = [(PUBLIC, *t) for t in tiles] + extra
        done = 0
        with self._open_session() as conn:
            for level, z, x, y in planned:
                if self._stop or self._wanted is not None or self._generation() != generation:
                    break
                t = time.perf_counter()
                self._render(generation, level, z, x, y, conn=conn if level == PUBLIC else None)
                done += 1
                self._pause(time.perf_counter() - t)
        self.last_run = {
            "generation": generation,
            "tiles": done,
            "planned": len(planned),
            "others": len(extra),
        }
        if self.observer is not None:
            self.observer(
                self.last_run
                | {"started": started, "seconds": time.perf_counter() - t0, "ended": time.time()}
            )
        log.info("pre-rendered %d of %d tiles of registry version %d", done, len(tiles), generation)


# -- rendering -------------------------------------------------------------------------------
#: How far beyond its declared area of use a registry CRS is still trusted, in degrees.
CRS_MARGIN_DEG = 20.0

#: What a caller may see in a tile: the public, or counts within a division scope
#: (``None``: every grid). Part of every cache key.
Level = tuple[str] | tuple[str, tuple[str, ...] | None]
PUBLIC: Level = ("public",)


@functools.lru_cache(maxsize=16)
def usable_lonlat(srid: int) -> tuple[float, float, float, float]:
    """Lon/lat box where EPSG ``srid`` transforms reliably: its area of use plus a margin."""
    try:
        area = pyproj.CRS.from_epsg(srid).area_of_use
    except pyproj.exceptions.CRSError:
        area = None
    if area is None:
        return -180.0, -85.0, 180.0, 85.0
    w, s, e, n = area.bounds
    if e < w:  # crosses the antimeridian: keep it simple
        w, e = -180.0, 180.0
    m = CRS_MARGIN_DEG
    return max(w - m, -180.0), max(s - m, -85.0), min(e + m, 180.0), min(n + m, 85.0)


@functools.lru_cache(maxsize=16)
def _geographic(srid: int) -> bool:
    try:
        return pyproj.CRS.from_epsg(srid).is_geographic
    except pyproj.exceptions.CRSError:
        return False


def tile_params(srid: int, z: int, x: int, y: int) -> dict[str, float | int] | None:
    """Parameters of :func:`gridgeo.registry.features.tile`, or ``None`` when the tile lies
    where the registry CRS can hold nothing (the tile is then empty)."""
    uw, us, ue, un = usable_lonlat(srid)
    tw, ts, te, tn = tile_lonlat(z, x, y)
    w, s, e, n = max(uw, tw), max(us, ts), min(ue, te), min(un, tn)
    if not (w < e and s < n):
        return None
    tol = features.tile_tolerance(z, (s + n) / 2, geographic=_geographic(srid))
    return {"z": z, "x": x, "y": y, "w": w, "s": s, "e": e, "n": n, "tol": tol}


class TileService:
    """The service's tiles: rendered in PostGIS, cached per registry version, pre-rendered.

    Parameters
    ----------
    pool
        The service's connection pool (the application role): staff tiles with counts.
    cache
        Where tiles are kept (``max_bytes`` 0: none kept, none pre-rendered).
    prerender
        ``(min_zoom, max_zoom, max_tiles)`` of the tiles rendered ahead after each refresh.
    read_pool
        Read-only sessions (``gridgeo_read``) for the public tiles, the ones anybody may
        fetch; default ``pool``.
    prerender_share
        Most of its wall time the pre-render spends rendering (see :class:`Prerenderer`).
    prerender_session
        Opens the connection the pre-render renders public tiles with (see
        :class:`Prerenderer`); default: the pools.
    """

    def __init__(
        self,
        pool: psycopg_pool.ConnectionPool,
        cache: TileCache,
        *,
        prerender: tuple[int, int, int] = (10, 16, 2_000),
        read_pool: psycopg_pool.ConnectionPool | None = None,
        prerender_share: float = 1.0,
        prerender_session: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
    ) -> None:
        self.pool = pool
        self.read_pool = read_pool or pool
        self.cache = cache
        self.generation = 0
        lo, hi, most = prerender
        self.prerenderer = Prerenderer(
            lambda gen, level, z, x, y, conn=None: self.tile(
                gen, self._srid, level, z, x, y, conn=conn
            ),
            lambda: self.generation,
            min_zoom=lo,
            max_zoom=hi,
            max_tiles=most if cache.enabled else 0,
            share=prerender_share,
            session=prerender_session,
        )
        self._srid: int | None = None
        #: Tiles of other levels than the public (staff), most recently used first,
        #: rendered again after a change: at most a quarter of the pre-render bound.
        self._others = most // 4

    def refreshed(self, generation: int, snap: object) -> None:
        """Hook of :attr:`ServiceState.on_refresh`: forget older versions, render ahead."""
        self.generation = generation
        self._srid = getattr(snap, "srid", None)
        # the staff tiles in use before the change, to be rendered again after the public
        in_use = self.cache.recent(lambda key: key[1] != PUBLIC, self._others)
        extra = list(dict.fromkeys(key[1:] for key in in_use))
        dropped = self.cache.retain(lambda key: key[0] >= generation)
        if dropped:
            log.info("dropped %d tiles of older registry versions", dropped)
        index = getattr(snap, "index", None)
        geoms = getattr(index, "geoms", None)
        if geoms is not None:
            self.prerenderer.request(generation, np.asarray(geoms, dtype=object), self._srid, extra)

    def cached(self, generation: int, level: Level, z: int, x: int, y: int) -> Tile | None:
        """The cached tile, without touching the database (safe on the event loop)."""
        return self.cache.get((generation, level, z, x, y)) if self.cache.enabled else None

    def tile(
        self,
        generation: int,
        srid: int | None,
        level: Level,
        z: int,
        x: int,
        y: int,
        *,
        conn: Any = None,
    ) -> Tile:
        """The tile for ``level`` at registry version ``generation`` (blocking)."""
        return self.cache.fetch(
            (generation, level, z, x, y), lambda: self.render(srid, level, z, x, y, conn=conn)
        )

    def render(
        self, srid: int | None, level: Level, z: int, x: int, y: int, *, conn: Any = None
    ) -> bytes:
        """Render one tile in PostGIS now (no cache); ``conn``: a read-only connection to
        render a public tile with instead of the pools."""
        params = tile_params(srid, z, x, y) if srid is not None else None
        if params is None:
            return b""
        detail = level[0] == "counts"
        if detail:
            scope = level[1]
            params["scope"] = None if scope is None else list(scope)
        if conn is not None and not detail:
            return features.tile(conn, params, detail=False)
        pool = self.pool if detail else self.read_pool
        with pool.connection(timeout=10) as pooled:
            return features.tile(pooled, params, detail=detail)

    def close(self) -> None:
        """Stop pre-rendering."""
        self.prerenderer.close()


# -- HTTP ------------------------------------------------------------------------------------
MEDIA_TYPE = "application/vnd.mapbox-vector-tile"


def tile_headers(tile: Tile, *, public: bool, max_age: int) -> dict[str, str]:
    """Cache headers of a tile answer: ``ETag``, ``Cache-Control`` (``private`` for callers
    with a token), ``Vary: Authorization`` (the content depends on the caller)."""
    return {
        "Cache-Control": f"{'public' if public else 'private'}, max-age={max_age}",
        "ETag": tile.etag,
        "Vary": "Authorization",
    }


_TILE_PATH = re.compile(r"/tiles/(\d{1,2})/(\d{1,7})/(\d{1,7})\.mvt")


class CachedPublicTiles:
    """ASGI middleware: answer a public ``GET /tiles/z/x/y.mvt`` from the cache directly.

    Only a request without ``Authorization`` whose tile is cached for the current registry
    version is answered here (200, or 304 on a matching ``If-None-Match``), with the
    route's headers; everything else goes on to the route, which renders, caches and
    checks the tile numbers. Routing and dependency resolution cost ten times the cache
    look-up, so the hot path skips them. Install it inside the rate limit and the security
    headers, so both still apply.

    Parameters
    ----------
    app
        The ASGI application to wrap (its ``state`` holds ``tiles``, ``registry_state`` and
        ``service_settings`` once the lifespan has started).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        m = None
        if scope["type"] == "http" and scope["method"] == "GET":
            m = _TILE_PATH.fullmatch(scope["path"])
        if m is None:
            await self.app(scope, receive, send)
            return
        inm = None
        for k, v in scope["headers"]:
            if k == b"authorization":
                await self.app(scope, receive, send)
                return
            if k == b"if-none-match":
                inm = v.decode("latin-1")
        state = scope["app"].state
        tiles: TileService | None = getattr(state, "tiles", None)
        tile = None
        if tiles is not None:
            generation = state.registry_state.generation
            z, x, y = int(m[1]), int(m[2]), int(m[3])
            tile = tiles.cached(generation, PUBLIC, z, x, y)
        if tile is None:
            await self.app(scope, receive, send)
            return
        headers = tile_headers(
            tile, public=True, max_age=state.service_settings.tile_cache_max_age_s
        )
        status, body = (304, b"") if etag_matches(inm, tile.etag) else (200, tile.data)
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        if status == 200:
            raw += [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})
