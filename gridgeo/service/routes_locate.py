"""``/locate`` and ``/locate/batch``: which grid, community, contacts and department."""

from __future__ import annotations

import asyncio
import codecs
import json
import mmap
import os
import queue
import re
import tempfile
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

import numpy as np
import pyarrow as pa
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.background import BackgroundTask
from starlette.types import ASGIApp, Receive, Scope, Send

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.locate.answer import BATCH_COLUMNS, batch_schema, locate_batch, locate_one
from gridgeo.locate.csvout import BufferPool, csv_buffer, csv_bytes
from gridgeo.locate.encode import encoder, metadata_crs, stream_table
from gridgeo.locate.parquetin import PageScan
from gridgeo.locate.points import (
    PointFile,
    PointTable,
    agreed_crs,
    detect_format,
    read_points,
    to_srid,
)
from gridgeo.service.auth import CallerDep
from gridgeo.service.deps import check_lonlat, crs_is_lonlat, service_settings, state
from gridgeo.service.responses import ErrorBody, LocateAnswer
from gridgeo.times import parse_at

router = APIRouter(tags=["locate"])

CrsParam = Annotated[
    str,
    Query(
        description="CRS of lon/lat: wgs84, cgcs2000, gcj02 (Gaode/Tencent/phone apps), "
        "bd09 (Baidu), or an EPSG code",
        examples=["wgs84", "gcj02"],
    ),
]
BatchCrsParam = Annotated[
    str | None,
    Query(
        description="CRS of the coordinates: wgs84 (default), cgcs2000, gcj02 (Gaode/Tencent/"
        "phone apps), bd09 (Baidu), or an EPSG code. A GeoParquet body's own CRS (its `geo` "
        "metadata) is used when this is not given; given, it must agree with it (except "
        "gcj02/bd09 over a geographic CRS: such files are often labelled WGS 84)",
        examples=["wgs84", "gcj02"],
    ),
]
AtParam = Annotated[
    str | None,
    Query(
        description="Answer for this time: ISO date (= end of that day) or date-time; "
        "naive times are in GRIDGEO_TIMEZONE (Asia/Shanghai)",
        examples=["2024-05-01"],
    ),
]
CategoryParam = Annotated[
    str | None, Query(description="Incident category code (GET /categories)", max_length=64)
]


#: CRSs whose transformers are built and cached (checked on the event loop without cost).
_READY_CRS: set[str] = set()
_READY_MAX = 1024


def _prepare(crs: str, st: Any) -> bool:
    """Check ``crs`` and build its transformers (to WGS 84 and to the registry's CRS)."""
    degrees = crs_is_lonlat(crs)
    if st.loaded and st.current().srid:
        to_srid(np.empty(0), np.empty(0), crs, st.current().srid)
    if len(_READY_CRS) < _READY_MAX:
        _READY_CRS.add(crs)
    return degrees


@router.get("/locate", summary="Locate one point", responses={200: {"model": LocateAnswer}})
async def locate(
    request: Request,
    caller: CallerDep,
    lon: Annotated[float, Query(description="Longitude (or x)")],
    lat: Annotated[float, Query(description="Latitude (or y)")],
    crs: CrsParam = "wgs84",
    category: CategoryParam = None,
    at: AtParam = None,
) -> JSONResponse:
    """Community, grid (code, name, type), contacts (public: posted only), the department
    responsible for ``category`` there (lead first), the distance to the grid's border and
    ``near_border``; ``located: false`` with a ``reason`` outside every grid.

    A point on a border shared by several grids belongs to the grid with the smallest
    code (``tie_rule``), as ``ST_Covers`` + ``ORDER BY grid_code`` would answer.
    """
    st = state(request)
    # a CRS seen for the first time costs ~90 ms of PROJ set-up: never on the event loop
    if crs not in _READY_CRS:
        await run_in_threadpool(_prepare, crs, st)
    warnings = check_lonlat(lon, lat, crs=crs)  # crs_is_lonlat is cached by now
    settings = service_settings(request)
    when = parse_at(at, settings.timezone)

    def work() -> dict[str, Any]:
        return locate_one(
            st.at(when),
            lon,
            lat,
            crs=crs,
            category=category,
            private=caller.can("contacts.private"),
            near_border_m=settings.near_border_m,
        )

    # The hot path (current snapshot in memory) is ~0.1 ms of CPU: answer on the event
    # loop. Anything that may touch the database runs in the thread pool.
    result = work() if when is None and st.loaded else await run_in_threadpool(work)
    result["query"] = {
        "lon": lon,
        "lat": lat,
        "crs": crs,
        "category": category,
        "at": when.isoformat() if when else None,
    }
    if warnings:
        result["warnings"] = warnings
    return JSONResponse(result)


#: A plain decimal number as a client sends it (anything else takes the full route).
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?")
_FAST_KEYS = frozenset({"lon", "lat", "crs", "category"})
#: As JSONResponse renders (``json.dumps`` with these options), built once, not per request.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))


def _query_pairs(query: str) -> list[tuple[str, str]]:
    """``parse_qsl(query, keep_blank_values=True)``; a query with nothing to unquote (no
    ``%``, no ``+``: the common ``lon=…&lat=…``) split without it, in a fifth of the time."""
    if "%" in query or "+" in query:
        return parse_qsl(query, keep_blank_values=True)
    return [(p, "") if "=" not in p else tuple(p.split("=", 1)) for p in query.split("&") if p]  # type: ignore[misc]


def _fast_answer(scope: Scope) -> bytes | None:
    """The JSON body of ``GET /locate`` for the common case, or ``None`` to take the route.

    The common case: no ``Authorization`` header (the public), only ``lon``, ``lat``,
    ``crs`` (one already prepared) and ``category``, each once, coordinates as plain
    numbers, the current snapshot in memory. Everything else — tokens, ``at=``, bad or
    repeated parameters, any error — goes through the FastAPI route, which gives the same
    answer and every error message.
    """
    for name, _value in scope.get("headers") or ():
        if name == b"authorization":
            return None
    try:
        pairs = _query_pairs(scope.get("query_string", b"").decode("latin-1"))
    except ValueError:
        return None
    query = dict(pairs)
    if len(query) != len(pairs) or not query.keys() <= _FAST_KEYS:
        return None
    lon_s, lat_s = query.get("lon"), query.get("lat")
    if (
        lon_s is None
        or lat_s is None
        or not (_NUMBER.fullmatch(lon_s) and _NUMBER.fullmatch(lat_s))
    ):
        return None
    crs = query.get("crs", "wgs84")
    category = query.get("category")
    if crs not in _READY_CRS or (category is not None and len(category) > 64):
        return None
    app = scope.get("app")
    st = getattr(getattr(app, "state", None), "registry_state", None)
    if st is None or not st.loaded:
        return None
    lon, lat = float(lon_s), float(lat_s)
    try:
        warnings = check_lonlat(lon, lat, crs=crs)
        result = locate_one(
            st.current(),
            lon,
            lat,
            crs=crs,
            category=category,
            private=False,
            near_border_m=app.state.service_settings.near_border_m,
        )
    except Exception:
        return None
    result["query"] = {"lon": lon, "lat": lat, "crs": crs, "category": category, "at": None}
    if warnings:
        result["warnings"] = warnings
    return _ENCODER.encode(result).encode("utf-8")


class LocateFastPath:
    """ASGI middleware answering the common ``GET /locate`` without FastAPI's machinery.

    Request validation and dependency solving cost about twice the locate itself; the
    answer is the route's (:func:`_fast_answer` says when it applies; otherwise the
    request goes on to the route). Sits inside the rate limit and the security headers.

    Parameters
    ----------
    app
        The ASGI application to wrap.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == "/locate":
            body = _fast_answer(scope)
            if body is not None:
                headers = [
                    (b"content-length", str(len(body)).encode("latin-1")),
                    (b"content-type", b"application/json"),
                ]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


_BATCH_DOC = (
    "Body: CSV with `lon,lat` (or `x,y`) and optional `id`, `category` columns "
    "(`Content-Type: text/csv`); a GeoJSON FeatureCollection of Points "
    "(`application/geo+json`; `id` and `category` from properties); or an Arrow IPC "
    "stream/file with the CSV's columns (`application/vnd.apache.arrow.stream`); or "
    "(Geo)Parquet with those columns or a point `geometry`, WKB or GeoArrow (a struct of "
    "`x`, `y`) (`application/vnd.apache.parquet`; GeoParquet out adds a WKB `geometry`). "
    "Rows keep the input order; `category=` "
    "applies to rows without their own. CSV, Arrow and Parquet bodies are checked whole "
    "(every bad row listed, nothing sent), then located and sent in chunks of "
    "GRIDGEO_BATCH_CHUNK rows, so memory stays bounded; `X-Located` is only sent when the "
    "answer fits in one chunk. "
    "Needs role dispatcher or above. Columns: " + ", ".join(BATCH_COLUMNS) + "."
)

_POINT_FEATURE = {
    "type": "object",
    "required": ["type", "geometry"],
    "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "id": {"type": ["string", "number", "null"]},
        "geometry": {
            "type": "object",
            "required": ["type", "coordinates"],
            "properties": {
                "type": {"type": "string", "enum": ["Point"]},
                "coordinates": {
                    "type": "array",
                    "items": {"type": "number"},
                    "minItems": 2,
                    "maxItems": 3,
                },
            },
        },
        "properties": {
            "anyOf": [
                {
                    "type": "object",
                    "properties": {
                        "id": {"type": ["string", "number", "null"]},
                        "category": {"type": ["string", "null"]},
                    },
                },
                {"type": "null"},
            ]
        },
    },
}
#: The request body of ``POST /locate/batch`` as documented in OpenAPI.
BATCH_BODY = {
    "required": True,
    "content": {
        "text/csv": {
            "schema": {"type": "string", "description": "lon,lat[,id][,category] with a header"},
            "example": "id,lon,lat,category\nr1,116.397,39.909,sanitation\n",
        },
        "application/geo+json": {
            "schema": {
                "type": "object",
                "required": ["type", "features"],
                "properties": {
                    "type": {"type": "string", "enum": ["FeatureCollection"]},
                    "features": {"type": "array", "items": _POINT_FEATURE},
                },
            }
        },
        "application/vnd.apache.arrow.stream": {
            "schema": {"type": "string", "format": "binary", "description": "Arrow IPC stream"}
        },
        "application/vnd.apache.parquet": {
            "schema": {
                "type": "string",
                "format": "binary",
                "description": "(Geo)Parquet: lon/lat columns or a point geometry "
                "(WKB or GeoArrow x/y)",
            }
        },
    },
}

_MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "geojson": "application/geo+json",
    "arrow": "application/vnd.apache.arrow.stream",
    "parquet": "application/vnd.apache.parquet",
}


def _not_utf8(line: int, byte: int) -> str:
    """The message of a CSV body that is not UTF-8 at ``line`` (from 1), ``byte``."""
    return _(
        "the CSV body is not UTF-8 text (line {line}, byte {byte}); "
        "save it as UTF-8 (Excel: CSV UTF-8) instead of GBK/GB18030"
    ).format(line=line, byte=byte)


def _check_utf8(body: bytes, *, line_offset: int = 0, byte_offset: int = 0) -> None:
    """CSV bodies are UTF-8: say which row is not (GBK/GB18030 exports are common).

    ``line_offset``/``byte_offset``: where ``body`` starts in a longer file."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    step = 8 << 20
    try:
        for start in range(0, len(body), step):  # bounded memory: 8 MiB at a time
            decoder.decode(body[start : start + step], final=start + step >= len(body))
    except UnicodeDecodeError:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = line_offset + body.count(b"\n", 0, exc.start)
            raise InputError(
                _not_utf8(line + 1, byte_offset + exc.start),
                [
                    Problem(
                        _("not UTF-8 text"),
                        file=_("request body"),
                        row=line - 1 if line else None,  # data rows count from 0 after the header
                        field=None if line else "header",
                        rule="points.encoding",
                    )
                ],
            ) from None


def _read_body(body: bytes, fmt: str) -> PointTable:
    """Points of a batch request body; every unreadable body is a 400 naming the problem."""
    if fmt == "csv":
        _check_utf8(body)
    try:
        return read_points(body, fmt=fmt, source=_("request body"))
    except MemoryError:
        raise
    except (pa.ArrowException, UnicodeDecodeError) as exc:  # deep in a column, e.g. bad UTF-8
        raise InputError(
            _("{where} is not a readable {fmt} table: {exc}").format(
                where=_("the request body"), fmt=fmt.upper(), exc=exc
            ),
            [
                Problem(
                    _("not a readable {fmt} table").format(fmt=fmt),
                    file=_("request body"),
                    rule="points.parse",
                )
            ],
        ) from None


@router.post(
    "/locate/batch",
    summary="Locate many points (CSV, GeoJSON, Arrow IPC or GeoParquet in; streamed out)",
    description=_BATCH_DOC,
    responses={
        200: {
            "content": {m: {} for m in _MEDIA.values()},
            "description": "One row/feature per input point, in input order",
        },
        401: {"model": ErrorBody, "description": "No token"},
        403: {"model": ErrorBody, "description": "Role may not batch"},
        413: {"model": ErrorBody, "description": "Too many points or bytes"},
    },
    openapi_extra={"requestBody": BATCH_BODY},
)
async def locate_batch_endpoint(
    request: Request,
    caller: CallerDep,
    crs: BatchCrsParam = None,
    category: CategoryParam = None,
    at: AtParam = None,
    format: Annotated[
        Literal["csv", "geojson", "arrow", "parquet"] | None,
        Query(description="Output format (default: the input's)"),
    ] = None,
    distance: Annotated[bool, Query(description="Compute distance_to_border_m/near_border")] = True,
) -> StreamingResponse:
    caller.require("locate.batch")
    crs_is_lonlat(crs or "wgs84")  # a bad crs= is refused before the body is read
    settings = service_settings(request)
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > settings.batch_max_bytes:
        raise _too_large(settings)
    fmt_in = detect_format(None, request.headers.get("content-type"))
    scan = _page_scan(fmt_in, length, settings)
    try:
        body = await _spool(request, fmt_in, settings, scan, _declared(fmt_in, length, settings))
    except BaseException:
        if scan is not None:
            scan.cancel()
        raise
    if body is None:
        if scan is not None:
            scan.cancel()
        raise InputError(
            _("the request body is empty: send CSV, GeoJSON, Arrow or GeoParquet points"),
            [Problem(_("empty body"), rule="points.empty")],
        )
    job: _BatchJob | None = None
    try:
        when = parse_at(at, settings.timezone)
        fmt_out = format or fmt_in
        job = _BatchJob(
            request, caller, crs, category, settings, distance, fmt_out, when, body, fmt_in
        )
        job.scan, scan = scan, None
        await run_in_threadpool(job.check)
    except BaseException:
        if scan is not None:
            scan.cancel()
        if job is not None:
            job.close()  # does not wait (also when the request is cancelled)
        elif isinstance(body, Path):
            body.unlink(missing_ok=True)
        raise
    if job.frame is not None:  # small (one chunk) or GeoJSON: answered whole
        job.close()
        frame = job.frame
        return StreamingResponse(
            job.whole(),
            media_type=_MEDIA[fmt_out],
            headers={
                "X-Points": str(len(frame)),
                "X-Located": str(frame.num_rows - frame.column("grid_code").null_count),
            },
        )
    return StreamingResponse(
        job.stream(),
        media_type=_MEDIA[fmt_out],
        headers={"X-Points": str(job.rows)},
        background=BackgroundTask(job.close),
    )


#: A Parquet body from this size on has its pages decoded while it arrives
#: (:class:`~gridgeo.locate.parquetin.PageScan`; a smaller one is read in a few ms).
_SCAN_MIN_BYTES = 4 << 20


def _page_scan(fmt_in: str, length: str | None, settings: Any) -> PageScan | None:
    """A walk of a Parquet body's pages as it arrives (``GRIDGEO_BATCH_SCAN_PAGES``),
    unless it is small (its declared length) or not Parquet."""
    if not settings.batch_scan_pages or fmt_in != "parquet":
        return None
    if length and length.isdigit() and int(length) < _SCAN_MIN_BYTES:
        return None
    return PageScan()


def _declared(fmt_in: str, length: str | None, settings: Any) -> int:
    """The declared length of an Arrow or Parquet body to gather in memory (0: none, or
    another format): :func:`_spool` copies its parts into one buffer of that size.

    Up to twice ``batch_memory_bytes``: a body joined from its parts is held twice while
    it is joined, a gathered one once, so both peak at the same memory. (A 5 M-point
    Arrow or GeoParquet body, 80–85 MB, is then held, not written to a file.)"""
    if fmt_in not in ("arrow", "parquet") or not (length and length.isdigit()):
        return 0
    n = int(length)
    return n if n <= 2 * settings.batch_memory_bytes else 0


#: Bytes of a gathered body handed to its copier thread and not yet copied, at most (a
#: part past that is copied on the event loop: memory stays bounded when the thread lags).
_GATHER_BACKLOG = 16 << 20


class _Gathered:
    """A body's parts copied into one buffer of its declared length as they arrive.

    Instead of joining the parts once the last has come (a serial pause after the upload,
    ~0.06–0.08 s per 80 MB on fresh pages), each is copied in as it arrives into numpy's
    memory (huge pages from 4 MiB on: few page faults). The copies (and the faults of the
    fresh pages) are made by a thread of the body's own, not the event loop: uvicorn reads
    no more of the body until the loop has taken a part, so the loop's time per part sets
    the upload's pace (a 5 M-point body: received 0.02–0.13 s sooner in the timelines of
    docs/benchmarks.md, pq23). The buffer is only reserved until written, so a length
    declared and not sent costs no memory. :meth:`body` or :meth:`close` ends the thread.
    """

    def __init__(self, size: int) -> None:
        self.buffer = np.empty(size, np.uint8)
        self.size = 0
        self._queued = 0  # bytes handed to the thread (event loop) …
        self._copied = 0  # … and copied by it (the thread)
        self._parts: queue.SimpleQueue[tuple[int, bytes] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._copy, name="gridgeo-body", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        while (item := self._parts.get()) is not None:
            self._put(*item)

    def _put(self, at: int, part: bytes) -> None:
        self.buffer[at : at + len(part)] = np.frombuffer(part, np.uint8)  # (without the GIL)
        self._copied += len(part)

    def add(self, part: bytes) -> bool:
        """Copy ``part`` in; False (nothing copied) when it would pass the declared length."""
        end = self.size + len(part)
        if end > self.buffer.size:
            return False
        if self._queued - self._copied < _GATHER_BACKLOG:
            self._parts.put((self.size, part))
            self._queued += len(part)
        else:
            self.buffer[self.size : end] = np.frombuffer(part, np.uint8)
        self.size = end
        return True

    def close(self, wait: bool = True) -> None:
        """End the copier thread; ``wait``: once every part is copied, those it has not
        taken yet by the caller (a thread that lags under load is not waited for)
        (idempotent)."""
        if not self._thread.is_alive():
            return
        if wait:
            try:
                while (item := self._parts.get_nowait()) is not None:
                    self._put(*item)
            except queue.Empty:
                pass
        self._parts.put(None)
        if wait:
            self._thread.join()  # (at most the part it is copying)

    def body(self) -> pa.Buffer | None:
        """What was received (None when nothing), every part copied."""
        self.close()
        return pa.py_buffer(self.buffer[: self.size]) if self.size else None


async def _spool(
    request: Request,
    fmt_in: str,
    settings: Any,
    scan: PageScan | None = None,
    declared: int = 0,
) -> bytes | pa.Buffer | Path | None:
    """The body, counting points as it arrives: in memory up to ``batch_memory_bytes``,
    else in a temporary file (its path; the caller removes it); None when empty.

    A body with too many points is refused before it is parsed (CSV: lines; GeoJSON:
    ``"coordinates"`` keys; Arrow and Parquet: the byte cap only). Each part is also
    given to ``scan`` (a Parquet body's pages decoded in its thread meanwhile). With
    ``declared`` (:func:`_declared`) the parts are gathered as they arrive
    (:class:`_Gathered`; more bytes than declared: kept as parts from there on).
    """
    counter = _Counter(fmt_in, settings)
    parts: list[bytes] = []
    gathered = _Gathered(declared) if declared else None
    fh: Any = None
    path: Path | None = None
    writing: asyncio.Future | None = None  # the write of the parts before, in a thread
    loop = asyncio.get_running_loop()
    try:
        async for part in request.stream():
            counter.add(part)
            if not part:
                continue
            if scan is not None:
                scan.feed(part)
            if gathered is not None:
                if gathered.add(part):
                    continue
                held = gathered.body()  # more than declared: parts from here on
                parts, gathered = ([] if held is None else [held.to_pybytes()]), None
            parts.append(part)
            if fh is None and counter.size > settings.batch_memory_bytes:
                fd, name = tempfile.mkstemp(prefix="gridgeo-batch-", suffix="." + fmt_in)
                fh, path = os.fdopen(fd, "wb"), Path(name)
            if fh is not None and len(parts) >= 64:
                done, parts = parts, []
                if writing is not None:
                    await writing
                # off the event loop (no join, no write on it): the next parts are
                # received while these are written, and other requests are served
                writing = loop.run_in_executor(None, fh.writelines, done)
        if fh is not None:
            if writing is not None:
                await writing
            writing = loop.run_in_executor(None, fh.writelines, parts)
            await writing
            writing = None
            fh.close()
            return path
        if gathered is not None:
            return gathered.body()
    except BaseException:
        if gathered is not None:
            gathered.close(wait=False)
        try:
            if writing is not None:
                await asyncio.wait([writing])  # not closed under a write in flight
        finally:
            if fh is not None:
                fh.close()  # (its lock waits for a write still running, if cancelled above)
            if path is not None:
                path.unlink(missing_ok=True)
        raise
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _too_large(settings: Any) -> HTTPException:
    """The 413 of a batch body over ``batch_max_bytes`` (declared or counted)."""
    return HTTPException(
        413, _("request body larger than {n} bytes").format(n=settings.batch_max_bytes)
    )


class _Counter:
    """The byte cap and the point count of a batch body, checked part by part."""

    def __init__(self, fmt_in: str, settings: Any) -> None:
        self.marker = {"csv": b"\n", "geojson": b'"coordinates"'}.get(fmt_in)
        self.limit = settings.batch_max_points + (1 if fmt_in == "csv" else 0)  # + the header
        self.settings = settings
        self.size = self.counted = 0
        self.tail = b""

    def add(self, part: bytes) -> None:
        settings, marker = self.settings, self.marker
        self.size += len(part)
        if self.size > settings.batch_max_bytes:
            raise _too_large(settings)
        if marker is not None and len(marker) == 1:  # CSV lines: a vector compare, not
            # bytes.count's byte loop (0.16 s of the event loop's CPU per 185 MB body)
            self.counted += int(np.count_nonzero(np.frombuffer(part, np.uint8) == marker[0]))
        elif marker is not None:
            joined = self.tail + part  # a marker split across chunks
            self.counted += joined.count(marker) - self.tail.count(marker)
            self.tail = joined[-(len(marker) - 1) :]
        if self.counted > self.limit:
            raise HTTPException(
                413,
                _(
                    "more than {limit} points; at most {limit} per batch (counted while receiving)"
                ).format(limit=settings.batch_max_points),
            )


#: Chunks of a streamed batch answer in the worker pool at once (two computing, two ready).
_AHEAD = 4


class _BatchJob:
    """One ``/locate/batch`` request after its body is received: the whole body checked
    first (every error before the answer starts), then located chunk by chunk."""

    def __init__(
        self,
        request: Request,
        caller: Any,
        crs: str,
        category: str | None,
        settings: Any,
        distance: bool,
        fmt_out: str,
        when: Any,
        body: bytes | pa.Buffer | Path,
        fmt_in: str,
    ) -> None:
        self.request, self.caller, self.category = request, caller, category
        self.given_crs, self.crs = crs, crs or "wgs84"
        self.settings, self.distance, self.fmt_out, self.when = settings, distance, fmt_out, when
        self.body, self.fmt_in = body, fmt_in
        self.path = body if isinstance(body, Path) else None
        self.frame: pa.Table | None = None
        self.raw: dict[str, pa.Array] | None = None
        self.rows = 0
        self.snap: Any = None
        self.schema: pa.Schema | None = None  # one for every chunk (Arrow/Parquet need one)
        self.points: PointFile | None = None
        #: GeoParquet: the walk of the body's pages while it arrived (taken by :meth:`check`)
        self.scan: PageScan | None = None
        self.enc: Any = None
        self.pools: tuple[ThreadPoolExecutor, ThreadPoolExecutor] | None = None
        self.queue: deque[Future] = deque()  # written bytes, in order
        self.works: deque[Future] = deque()  # located and prepared chunks
        #: CSV and GeoParquet answers: the chunks' output buffers, reused once sent (this
        #: request only)
        self.buffers = BufferPool(_AHEAD + 2)

    def _too_many(self, n: int) -> None:
        limit = self.settings.batch_max_points
        if n > limit:
            raise HTTPException(
                413, _("{n} points; at most {limit} per batch").format(n=n, limit=limit)
            )

    def locate(self, pts: PointTable) -> pa.Table:
        """The answer table of some points (any chunk); ids not built (``pts.ids`` None:
        the row numbers, which the GeoParquet writer writes itself) are left null."""
        return locate_batch(
            self.snap,
            pts.x,
            pts.y,
            ids=pts.ids if pts.ids is not None else pa.nulls(len(pts), pa.string()),
            crs=self.crs,
            category=pts.categories(self.category),
            private=self.caller.can("contacts.private"),
            near_border_m=self.settings.near_border_m,
            distance=self.distance,
        )

    def _snapshot(self) -> None:
        self.snap = state(self.request).at(self.when)
        self.schema = batch_schema(self.snap)

    def check(self) -> None:
        """Read and check the whole body (every error before the answer starts)."""
        if self.fmt_in == "geojson":
            raw = self.path.read_bytes() if self.path else self.body
            pts = _read_body(raw, "geojson")  # type: ignore[arg-type]
            self._too_many(len(pts))
            self._snapshot()
            self.frame = self.locate(pts)
            return
        if self.fmt_in == "csv":
            _check_utf8_body(self.body)
        scan, self.scan = self.scan, None
        self.points = PointFile(
            self.body,
            self.fmt_in,
            chunk=self.settings.batch_chunk,
            source=_("request body"),
            lines=self.fmt_out == "csv",  # lon,lat lines echoed as sent, not parsed again
            pages=scan.finish() if scan is not None else None,
            spill=True,  # past the kept coordinates, read back from a file, not parsed again
            decoders=getattr(self.request.app.state, "parquet_decoders", None),
        )
        self.crs = agreed_crs(self.given_crs, self.points.declared_crs())
        self.points.degrees = crs_is_lonlat(self.crs)
        self.rows = self.points.check()
        self._too_many(self.rows)
        self._snapshot()
        if self.rows <= self.settings.batch_chunk:
            pairs = [(pts, self.locate(pts)) for _start, pts in self.points.chunks()]
            parts = [t for _p, t in pairs]
            self.frame = pa.concat_tables(parts) if parts else self.locate(_EMPTY_POINTS)
            raws = [p.echoed() for p, _t in pairs]
            if raws and all(raws) and len({tuple(r) for r in raws}) == 1:  # type: ignore[arg-type]
                self.raw = {c: pa.concat_arrays([r[c] for r in raws]) for c in raws[0]}  # type: ignore[index]

    def _encoder(self) -> Any:
        """The answer's encoder (made once)."""
        if self.enc is None:
            self.enc = encoder(self.fmt_out, self.schema, crs=metadata_crs(self.crs))
        return self.enc

    def _submit(self, start: int, pts: PointTable) -> None:
        """Locate and prepare a chunk in the pool; write it in order in the writer thread."""
        if self.pools is None:
            self._encoder()
            self.pools = (
                ThreadPoolExecutor(2, thread_name_prefix="gridgeo-batch"),
                ThreadPoolExecutor(1, thread_name_prefix="gridgeo-batch-write"),
            )
        pool, writer = self.pools
        self.works.append(pool.submit(self._work, self.enc, pts, start == 0))
        self.queue.append(writer.submit(self._write_when_ready, self.enc, self.works[-1]))

    def close(self) -> None:
        """Cancel the chunks not started, let the threads end after the running ones (not
        waited for), remove a spooled body (idempotent)."""
        if self.scan is not None:
            self.scan.cancel()
        for f in (*self.queue, *self.works):
            f.cancel()
        self.queue.clear()
        self.works.clear()
        self.buffers = BufferPool(_AHEAD + 2)  # the old one's buffers freed once sent
        pools, self.pools = self.pools, None
        if pools is not None:
            for p in pools:
                p.shutdown(wait=False, cancel_futures=True)
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def whole(self) -> Iterator[bytes]:
        """The answer of a small (one chunk) or GeoJSON body, located in :meth:`check`."""
        assert self.frame is not None
        if self.fmt_out == "csv":
            yield csv_bytes(self.frame.cast(self.schema), raw=self.raw)
        else:
            yield from stream_table(
                self.fmt_out, self.frame.cast(self.schema), self.settings.batch_chunk, crs=self.crs
            )

    def _work(self, enc: Any, pts: PointTable, first: bool) -> list[pa.RecordBatch] | memoryview:
        """Locate a chunk and get it ready to write (any thread; ``enc.prepare`` is stateless)."""
        table = self.locate(pts)
        if not table.schema.equals(self.schema):  # (as a rule equal: a cast of every
            table = table.cast(self.schema)  # column to its own type, ~0.2 ms a chunk)
        if self.fmt_out == "csv":  # stateless: encoded here, on both cores, sent uncopied
            return csv_buffer(table, header=first, raw=pts.echoed(), pool=self.buffers)
        # GeoParquet: the answer's WKB points are written from lon/lat (the same 21 bytes
        # as a request's plain WKB points, which are not kept past the check); its row
        # groups joined into this request's reused buffers, sent uncopied
        if self.fmt_out == "parquet":
            if pts.ids is not None:
                return [enc.prepare(b, pool=self.buffers) for b in table.to_batches()]
            out, at = [], pts.row_start  # the row numbers: written by the writer itself
            for b in table.to_batches():
                out.append(enc.prepare(b, pool=self.buffers, row_start=at))
                at += b.num_rows
            return out
        return [enc.prepare(b) for b in table.to_batches()]

    def stream(self) -> Iterator[bytes | memoryview]:
        """The answer chunk by chunk: two chunks located at once, written in input order.

        Up to :data:`_AHEAD` chunks are in the pool: while this generator waits for the
        event loop to send a chunk (it is suspended at ``yield``), both workers go on
        with the next ones (with two in flight one worker sat idle during every send).
        A third thread writes the prepared chunks in order as they are ready (the Parquet
        writer is serial: it no longer waits for the generator to be resumed).
        Memory: at most ``_AHEAD`` located chunks and their encoded bytes."""
        assert self.points is not None
        queue, works = self.queue, self.works
        # GeoParquet out: the row numbers (a body without ids) are not built as text per
        # chunk only to be copied: the writer writes them (the same bytes)
        texts = not getattr(self._encoder(), "writes_row_numbers", False)
        try:
            for start, pts in self.points.chunks(row_numbers=texts):
                while len(queue) >= _AHEAD:
                    works.popleft()
                    yield queue.popleft().result()
                self._submit(start, pts)
            while queue:
                works.popleft()
                yield queue.popleft().result()
            if self.fmt_out != "csv":
                yield self._encoder().close()
        finally:
            self.close()

    def _write_when_ready(self, enc: Any, work: Future) -> bytes | memoryview:
        """The bytes of a chunk once :meth:`_work` has it ready (the writer thread, in order)."""
        return self._written(enc, work.result())

    def _written(self, enc: Any, out: list[pa.RecordBatch] | memoryview) -> bytes | memoryview:
        if isinstance(out, memoryview):
            return out
        parts = [enc.write(b) for b in out]
        return parts[0] if len(parts) == 1 else b"".join(parts)  # a view of a pool: not copied


_EMPTY_POINTS = PointTable(
    x=np.empty(0), y=np.empty(0), ids=np.empty(0, dtype=object), category=None
)


def _ascii_file(path: Path, window: int = 64 << 20) -> bool:
    """Every byte of the file below 128 (then it is UTF-8): mapped ``window`` bytes at a
    time and scanned by numpy, no copy and no decoding (~10x less CPU than decoding;
    most bodies are numbers and ASCII ids)."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        for start in range(0, size, window):  # window: a multiple of the mmap granularity
            with mmap.mmap(
                fh.fileno(), min(window, size - start), offset=start, access=mmap.ACCESS_READ
            ) as mm:
                view = np.frombuffer(mm, dtype=np.uint8)
                high = int(view.max()) >= 128
                del view  # the map closes only with no view left on it
            if high:
                return False
    return True


def _check_utf8_body(body: bytes | Path) -> None:
    """:func:`_check_utf8` of a body in memory (an ASCII body by one numpy scan) or in a file."""
    if isinstance(body, Path):
        _check_utf8_file(body)
        return
    view = np.frombuffer(body, dtype=np.uint8)
    if view.size and int(view.max()) >= 128:
        _check_utf8(body)


def _check_utf8_file(path: Path) -> None:
    """:func:`_check_utf8` over a file, 8 MiB at a time (an ASCII file at once)."""
    if _ascii_file(path):
        return
    decoder = codecs.getincrementaldecoder("utf-8")()
    step = 8 << 20
    lines = 0
    offset = 0
    with path.open("rb") as fh:
        while True:
            block = fh.read(step)
            final = len(block) < step
            try:
                decoder.decode(block, final=final)
            except UnicodeDecodeError:
                _check_utf8(block, line_offset=lines, byte_offset=offset)
                # the bad sequence began at the end of the block before
                raise InputError(
                    _not_utf8(lines + 1, offset),
                    [Problem(_("not UTF-8 text"), file=_("request body"), rule="points.encoding")],
                ) from None
            lines += block.count(b"\n")
            offset += len(block)
            if final:
                return
