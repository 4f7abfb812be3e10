"""A GeoParquet body's WKB points read straight from its pages into x, y.

pyarrow's Parquet reader builds an Arrow binary array of the geometry column (4-byte
offsets plus the 21 bytes of each point) that :func:`~gridgeo.locate.points._wkb_xy` then
reads x, y out of: at 5 M points ~0.3 s of CPU, half of it building that array. Here the
column chunk of one row group is read page by page: each page decompressed (snappy by
:mod:`gridgeo.locate.snappy` into a buffer the thread reuses, zstd by
``pyarrow.decompress``), its values read by a compiled pass straight into x, y.

Only the plain case is read here, the one every GeoParquet writer gives for points: a
top-level ``BYTE_ARRAY`` column (no repetition), UNCOMPRESSED, SNAPPY or ZSTD, data pages
v1 or v2 with PLAIN values or dictionary indices (``PLAIN_DICTIONARY`` /
``RLE_DICTIONARY`` over a PLAIN dictionary page), no null, and every value a 21-byte
little-endian 2D WKB point. Anything else (a null, an empty or 3D point, another codec, a
page this reader does not know) gives None: the caller reads that row group with pyarrow
as before, which gives the same values or names the bad rows.

Format, as in the Apache Parquet format specification (``parquet.thrift``,
``Encodings.md``), read with the Thrift compact protocol: a ``PageHeader`` (1 type, 2
uncompressed_page_size, 3 compressed_page_size, 5 ``DataPageHeader``: 1 num_values,
2 encoding; 7 ``DictionaryPageHeader``: 1 num_values, 2 encoding; 8 ``DataPageHeaderV2``:
1 num_values, 2 num_nulls, 4 encoding, 5 / 6 definition / repetition levels byte
length, 7 is_compressed) before each page; definition levels as the RLE/bit-packed
hybrid (in v1 after a 4-byte length); dictionary indices as one byte of bit width then
the hybrid.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from numba import njit

from gridgeo.locate import snappy
from gridgeo.locate.csvout import _load8  # unaligned 8-byte loads
from gridgeo.locate.parquetout import _POINT_HEAD  # the answer writes the same heads

# limits that only exclude NaN and ±inf: the valid-coordinate rule's home (points._limits)
from gridgeo.locate.points import _FINITE_MAX

_DATA_PAGE, _DICTIONARY_PAGE, _DATA_PAGE_V2 = 0, 2, 3
_PLAIN, _PLAIN_DICTIONARY, _RLE_DICTIONARY = 0, 2, 8
_CODECS = {"UNCOMPRESSED": None, "SNAPPY": "snappy", "ZSTD": "zstd"}


class _UnknownPageError(Exception):
    """A page or value this reader does not read (the caller falls back to pyarrow)."""


def _struct(buf: memoryview, pos: int) -> tuple[dict[int, Any], int]:
    """A Thrift compact struct at ``pos``: ``{field id: value}`` (nested structs as dicts,
    lists as lists), and the position after it."""
    fields: dict[int, Any] = {}
    last = 0
    while True:
        head = buf[pos]
        pos += 1
        if head == 0:
            return fields, pos
        kind, delta = head & 0x0F, head >> 4
        if delta:
            fid = last + delta
        else:
            z, pos = _varint(buf, pos)
            fid = (z >> 1) ^ -(z & 1)
        fields[fid], pos = _value(buf, pos, kind)
        last = fid


def _value(buf: memoryview, pos: int, kind: int) -> tuple[Any, int]:
    if kind in (1, 2):  # a boolean field: the value is the type
        return kind == 1, pos
    if kind == 3:
        return buf[pos], pos + 1
    if kind in (4, 5, 6):
        z, pos = _varint(buf, pos)
        return (z >> 1) ^ -(z & 1), pos
    if kind == 7:
        return None, pos + 8
    if kind == 8:
        n, pos = _varint(buf, pos)
        return bytes(buf[pos : pos + n]), pos + n
    if kind in (9, 10):
        head = buf[pos]
        pos += 1
        n, elem = head >> 4, head & 0x0F
        if n == 15:
            n, pos = _varint(buf, pos)
        out = []
        for _i in range(n):
            if elem in (1, 2):  # booleans in a list: one byte each
                v, pos = buf[pos] == 1, pos + 1
            else:
                v, pos = _value(buf, pos, elem)
            out.append(v)
        return out, pos
    if kind == 12:
        return _struct(buf, pos)
    raise _UnknownPageError(f"thrift type {kind}")  # a map: not in a page header


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return n, pos


@njit(cache=True, nogil=True, inline="always")
def _run_header(buf: np.ndarray, pos: int, end: int) -> tuple[int, int]:
    """The ULEB128 header of a hybrid run at ``buf[pos:end]``: (header, the position after
    it), or (0, -1) when it is short or longer than 5 bytes."""
    h = np.int64(0)
    shift = 0
    while True:
        if pos >= end or shift > 35:
            return np.int64(0), -1
        b = np.int64(buf[pos])
        pos += 1
        h |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return h, pos


@njit(cache=True, nogil=True)
def _hybrid(buf: np.ndarray, pos: int, end: int, width: int, n: int, out: np.ndarray) -> int:
    """``n`` values of the RLE/bit-packed hybrid of ``width`` bits (≤ 32) in
    ``buf[pos:end]`` into ``out``; the position after them, or -1 when short or bad."""
    i = 0
    nbytes = (width + 7) // 8
    mask = (np.int64(1) << width) - 1
    while i < n:
        h, pos = _run_header(buf, pos, end)
        if pos < 0:
            return -1
        if h & 1:
            groups = h >> 1
            stop = pos + groups * width
            if stop > end:
                return -1
            for k in range(groups * 8):
                if i >= n:
                    break
                bit = k * width
                at = pos + (bit >> 3)
                v = np.int64(0)
                for j in range(5):
                    if at + j < stop:
                        v |= np.int64(buf[at + j]) << (8 * j)
                out[i] = (v >> (bit & 7)) & mask
                i += 1
            pos = stop
        else:
            run = h >> 1
            if pos + nbytes > end:
                return -1
            v = np.int64(0)
            for j in range(nbytes):
                v |= np.int64(buf[pos + j]) << (8 * j)
            pos += nbytes
            for _k in range(run):
                if i >= n:
                    break
                out[i] = v
                i += 1
    return pos


@njit(cache=True, nogil=True)
def _points_pass(buf, pos, n, x, y, at, lx, ly):  # pragma: no cover - compiled
    """:func:`_plain_points` after its bounds check: one pass, three 8-byte loads a
    value (length + byte order + type; x; y) and the type's last byte, and the values
    checked as ``points._all_valid`` checks them (``|x| <= lx`` and ``|y| <= ly``, false
    for NaN and ±inf too) while they are in the registers. -1 when a value is not such a
    point, else the number of points within the limits."""
    xu = x.view(np.uint64)
    yu = y.view(np.uint64)
    bad = np.uint64(0)
    ok = 0
    for i in range(n):
        p = pos + 25 * i
        bad |= (_load8(buf, p) ^ _POINT_HEAD) | np.uint64(buf[p + 8])
        xu[at + i] = _load8(buf, p + 9)
        yu[at + i] = _load8(buf, p + 17)
        ok += (abs(x[at + i]) <= lx) & (abs(y[at + i]) <= ly)
    return ok if bad == 0 else -1


def _plain_points(
    buf: np.ndarray,
    pos: int,
    end: int,
    n: int,
    x: np.ndarray,
    y: np.ndarray,
    at: int,
    limits: tuple[float, float] = (_FINITE_MAX, _FINITE_MAX),
) -> tuple[int, bool]:
    """``n`` PLAIN byte arrays that are each a 21-byte little-endian 2D WKB point into
    ``x[at:]``, ``y[at:]``: the position after them, or -1 when one is not (x, y then
    hold what was read); and whether every x, y is within ``limits`` (finite, and
    ``|x| <= limits[0]``, ``|y| <= limits[1]``)."""
    if n == 0:
        return pos, True
    if pos + 25 * n > end or end > buf.size or at + n > min(x.size, y.size):
        return -1, False
    ok = _points_pass(buf, pos, n, x, y, at, float(limits[0]), float(limits[1]))
    return (pos + 25 * n, ok == n) if ok >= 0 else (-1, False)


@njit(cache=True, nogil=True)
def _gather(
    idx: np.ndarray, dx: np.ndarray, dy: np.ndarray, x: np.ndarray, y: np.ndarray, at: int
) -> bool:
    """x, y of dictionary indices ``idx`` into ``x[at:]``, ``y[at:]``; False when an
    index is out of the dictionary."""
    m = dx.size
    for i in range(idx.size):
        k = idx[i]
        if k >= m:
            return False
        x[at + i] = dx[k]
        y[at + i] = dy[k]
    return True


def point_column(schema: Any, column: str) -> int | None:
    """The index of ``column`` among the file's leaf columns when this reader may read it
    (a top-level ``BYTE_ARRAY`` of at most one definition level, not repeated); else None.

    Parameters
    ----------
    schema
        The file's :class:`pyarrow.parquet.ParquetSchema`.
    column
        The geometry column's name.

    Returns
    -------
    int or None
    """
    for i in range(len(schema)):
        c = schema.column(i)
        if c.path == column:
            plain = c.physical_type == "BYTE_ARRAY" and c.max_repetition_level == 0
            return i if plain and c.max_definition_level <= 1 else None
    return None


def read_points(
    source: Any, meta: Any, group: int, column: int, max_def: int, pages: Pages | None = None
) -> Any:
    """x, y of the 21-byte WKB points of one row group's column chunk, or None when it
    holds anything else (then read it with pyarrow): :func:`read_checked_points`
    without the values' check.

    Returns
    -------
    tuple of numpy.ndarray (float64) or None
    """
    got = read_checked_points(source, meta, group, column, max_def, pages)
    return None if got is None else got[:2]


def read_checked_points(
    source: Any,
    meta: Any,
    group: int,
    column: int,
    max_def: int,
    pages: Pages | None = None,
    limits: tuple[float, float] = (_FINITE_MAX, _FINITE_MAX),
) -> Any:
    """x, y of the 21-byte WKB points of one row group's column chunk, and whether every
    value is within ``limits``; or None when it holds anything else (then read it with
    pyarrow).

    Parameters
    ----------
    source
        A random access file over the body (``pyarrow.BufferReader``, ``pyarrow.memory_map``;
        it is moved: one per thread).
    meta
        The file's :class:`pyarrow.parquet.FileMetaData`.
    group, column
        The row group, and the leaf column (:func:`point_column`).
    max_def
        The column's maximum definition level (0 or 1).
    pages
        Pages of this body decoded while it arrived (:class:`PageScan`), by file offset:
        a page found there with the codec, definition levels and dictionary page this
        chunk gives is taken (and removed) instead of decoded again.
    limits
        The largest ``|x|`` and ``|y|`` a valid value has (180, 90 for degrees; NaN and
        ±inf are never valid): checked in the pass that reads the values, as
        ``points._all_valid`` would check them.

    Returns
    -------
    tuple of (numpy.ndarray, numpy.ndarray, bool or None) or None
        x, y (float64), and True when every value is within ``limits``, False when one
        may not be (look for the bad rows), None when not checked (pages decoded ahead).
    """
    chunk = meta.row_group(group).column(column)
    if chunk.compression not in _CODECS:
        return None
    n = meta.row_group(group).num_rows
    start = chunk.data_page_offset
    if chunk.has_dictionary_page and chunk.dictionary_page_offset:
        start = min(start, chunk.dictionary_page_offset)
    source.seek(start)
    raw = source.read_buffer(chunk.total_compressed_size)  # no copy of a body in memory
    try:
        return _read_pages(raw, n, _CODECS[chunk.compression], max_def, pages, start, limits)
    except (_UnknownPageError, IndexError, ValueError, pa.ArrowException):
        return None


#: A page decoded ahead (:class:`PageScan`): its x, y, the codec and maximum definition
#: level it was read with, and the file offset of the dictionary page its indices were
#: looked up in (None: PLAIN values; a dictionary page: its own offset).
_Decoded = tuple[np.ndarray, np.ndarray, str | None, int, int | None]
#: Decoded pages by the file offset of their page header.
Pages = dict[int, _Decoded]


def _header(buf: memoryview, pos: int, size: int | None) -> tuple[dict[int, Any], int, int, int]:
    """A page header at ``pos`` of a buffer of ``size`` bytes (None: any size): the header,
    where its page starts, its kind and compressed size (:class:`_UnknownPageError` for
    anything but a data or dictionary page within the buffer; IndexError when the header
    runs past the buffer's end)."""
    head, body_at = _struct(buf, pos)
    kind, usize, csize = head.get(1), head.get(2), head.get(3)
    if (
        not isinstance(usize, int)
        or not isinstance(csize, int)
        or usize < 0
        or csize < 0
        or (size is not None and body_at + csize > size)
        or kind not in (_DATA_PAGE, _DICTIONARY_PAGE, _DATA_PAGE_V2)
    ):
        raise _UnknownPageError("page header")
    return head, body_at, kind, csize


def _read_pages(
    raw: pa.Buffer,
    n: int,
    codec: str | None,
    max_def: int,
    pages: Pages | None = None,
    offset: int = 0,
    limits: tuple[float, float] = (_FINITE_MAX, _FINITE_MAX),
) -> Any:
    """:func:`read_checked_points` of the column chunk's bytes ``raw`` (at file offset
    ``offset``)."""
    buf = memoryview(raw).cast("B")  # pyarrow exports signed bytes
    arr = np.frombuffer(raw, dtype=np.uint8)
    x, y = np.empty(n, np.float64), np.empty(n, np.float64)
    dx = dy = None
    dict_at: int | None = None
    dict_valid: bool | None = None  # the dictionary's values within the limits (None: unchecked)
    valid: bool | None = True
    pos = at = 0
    while at < n:
        head_at = pos
        head, body_at, kind, csize = _header(buf, pos, len(raw))
        pos = body_at + csize
        ahead = pages.pop(offset + head_at, None) if pages else None
        if kind == _DICTIONARY_PAGE:
            dict_at = offset + head_at
            if ahead is not None and ahead[2:] == (codec, 0, dict_at):
                dx, dy, dict_valid = ahead[0], ahead[1], None
            else:
                dx, dy, dict_valid = _dictionary(head, raw, arr, body_at, csize, codec, limits)
            continue
        count = _count(head, kind)
        if count > n - at:
            raise _UnknownPageError("more values than rows")
        indices = _indices(head, kind)
        want = (codec, max_def, dict_at if indices else None)
        if ahead is not None and ahead[2:] == want and len(ahead[0]) == count:
            x[at : at + count], y[at : at + count] = ahead[0], ahead[1]
            ok: bool | None = None  # decoded ahead, not checked
        else:
            ok = _data(
                head, kind, raw, arr, body_at, csize, codec, max_def, dx, dy, x, y, at, limits
            )
            if indices:  # values of the dictionary: valid when all of its values are
                ok = dict_valid
        if ok is False:
            valid = False  # (bad rows may be here: they are looked for)
        elif ok is None and valid:
            valid = None
        at += count
    return x, y, valid


def _count(head: dict[int, Any], kind: int) -> int:
    """The number of values of a data page (v1 or v2)."""
    count = (head.get(5 if kind == _DATA_PAGE else 8) or {}).get(1, 0)
    if not isinstance(count, int) or count < 0:
        raise _UnknownPageError("count")
    return count


def _indices(head: dict[int, Any], kind: int) -> bool:
    """Whether a data page holds dictionary indices."""
    h = head.get(5 if kind == _DATA_PAGE else 8) or {}
    return h.get(2 if kind == _DATA_PAGE else 4) in (_PLAIN_DICTIONARY, _RLE_DICTIONARY)


def _dictionary(
    head: dict[int, Any],
    raw: pa.Buffer,
    arr: np.ndarray,
    body_at: int,
    csize: int,
    codec: Any,
    limits: tuple[float, float] = (_FINITE_MAX, _FINITE_MAX),
) -> tuple[np.ndarray, np.ndarray, bool]:
    """x, y of a dictionary page's PLAIN points, and whether all are within ``limits``."""
    h = head.get(7) or {}
    if h.get(2) not in (_PLAIN, _PLAIN_DICTIONARY):
        raise _UnknownPageError("dictionary encoding")
    page = _page(raw, arr, body_at, csize, head[2], codec)
    m = h.get(1, 0)
    dx, dy = np.empty(m, np.float64), np.empty(m, np.float64)
    end, valid = _plain_points(page, 0, page.size, m, dx, dy, 0, limits)
    if end < 0:
        raise _UnknownPageError("dictionary value")
    return dx, dy, valid


def _data(
    head: dict[int, Any],
    kind: int,
    raw: pa.Buffer,
    arr: np.ndarray,
    body_at: int,
    csize: int,
    codec: str | None,
    max_def: int,
    dx: np.ndarray | None,
    dy: np.ndarray | None,
    x: np.ndarray,
    y: np.ndarray,
    at: int,
    limits: tuple[float, float] = (_FINITE_MAX, _FINITE_MAX),
) -> bool:
    """A data page's points (PLAIN, or indices into ``dx``, ``dy``) into ``x[at:]``,
    ``y[at:]``; whether its PLAIN points are all within ``limits`` (indices: True, the
    dictionary's values are checked)."""
    size = head[2]
    if kind == _DATA_PAGE:
        h = head.get(5) or {}
        count, enc = h.get(1, 0), h.get(2)
        page = _page(raw, arr, body_at, csize, size, codec)
        p = 0
        if max_def:
            if page.size < 4:
                raise _UnknownPageError("levels")
            ln = int.from_bytes(page[:4].tobytes(), "little")
            _levels(page, 4, 4 + ln, count)
            p = 4 + ln
    else:
        h = head.get(8) or {}
        count, enc = h.get(1, 0), h.get(4)
        if h.get(2, 0) or h.get(6, 0):
            raise _UnknownPageError("nulls or repetition")
        dl = h.get(5, 0)
        if max_def:
            _levels(arr, body_at, body_at + dl, count)
        values = codec if h.get(7, True) else None
        page = _page(raw, arr, body_at + dl, csize - dl, size - dl, values)
        p = 0
    if enc == _PLAIN:
        end, valid = _plain_points(page, p, page.size, count, x, y, at, limits)
        if end < 0:
            raise _UnknownPageError("value")
        return valid
    if enc in (_PLAIN_DICTIONARY, _RLE_DICTIONARY) and dx is not None and page.size > p:
        idx = np.empty(count, np.int64)
        if _hybrid(page, p + 1, page.size, int(page[p]), count, idx) < 0:
            raise _UnknownPageError("indices")
        if not _gather(idx, dx, dy, x, y, at):
            raise _UnknownPageError("index")
        return True
    raise _UnknownPageError("encoding")


def _page(
    raw: pa.Buffer, arr: np.ndarray, at: int, csize: int, size: int, codec: str | None
) -> np.ndarray:
    """A page's bytes, decompressed (snappy by :mod:`gridgeo.locate.snappy`: a view of the
    thread's reused buffer, read before this thread's next page)."""
    if codec is None:
        return arr[at : at + csize]
    if codec == "snappy":
        page = snappy.decompress(arr, at, at + csize, size)
        if page is not None:
            return page
    out = pa.decompress(raw.slice(at, csize), decompressed_size=size, codec=codec)
    return np.frombuffer(out, dtype=np.uint8)


@njit(cache=True, nogil=True)
def _all_ones(buf: np.ndarray, pos: int, end: int, n: int) -> bool:
    """Whether the first ``n`` values of the RLE/bit-packed hybrid of bit width 1 in
    ``buf[pos:end]`` are all 1 (False also when short or bad, as :func:`_hybrid`): its
    runs walked without decoding a value each (an RLE run: its one value byte; a
    bit-packed run: its bytes, the last one's bits past ``n`` left out)."""
    i = 0
    while i < n:
        h, pos = _run_header(buf, pos, end)
        if pos < 0:
            return False
        if h & 1:
            groups = h >> 1
            stop = pos + groups
            if stop > end:
                return False
            for at in range(pos, stop):
                if i >= n:
                    break
                left = n - i
                want = 0xFF if left >= 8 else (1 << left) - 1
                if buf[at] & want != want:
                    return False
                i += 8
            pos = stop
        else:
            if pos + 1 > end:
                return False
            if h >> 1 and buf[pos] != 1:
                return False
            i += h >> 1
            pos += 1
    return True


def _levels(buf: np.ndarray, pos: int, end: int, count: int) -> None:
    """Definition levels (bit width 1) that are all 1 (no null); else :class:`_UnknownPageError`."""
    if end > buf.size or not _all_ones(buf, pos, end, count):
        raise _UnknownPageError("nulls")


#: A page header's compressed size beyond which :class:`PageScan` stops (it would hold
#: that much of the body before decoding it).
_SCAN_PAGE_BYTES = 32 << 20
#: Values of a page beyond which :class:`PageScan` stops (a larger row group is read by
#: pyarrow: ``points._PQ_GROUP_ROWS``), and bytes of a page header (a footer or something
#: else is not parsed on).
_SCAN_PAGE_VALUES = 1 << 20
_SCAN_HEADER_BYTES = 16 << 10
#: Bytes of the body :class:`PageScan` may be behind (queued, not yet walked) before it
#: stops (a body that arrives faster than it is decoded is not held twice).
_SCAN_BACKLOG = 48 << 20


class PageScan:
    """A Parquet body's WKB-point pages decoded while it arrives, in a thread of its own.

    A Parquet file's pages follow each other from byte 4, each after its ``PageHeader``:
    the thread walks them as the parts of the body come in (:meth:`feed`) and decodes
    each data or dictionary page that reads as 21-byte WKB points, keyed by the file
    offset of its header, with the codec and definition levels it guessed (the footer,
    which says which column chunk a page is of and with which codec, comes last).
    :func:`read_points` takes a page from there only where the footer agrees (the same
    offset, codec, levels and dictionary page); anything else is decoded as before, so
    any writer's file reads the same. The walk stops at the first thing it does not know
    (the footer, a page over 32 MiB, a body that is not Parquet: then :meth:`feed` keeps
    nothing), at ``limit`` points, or at :meth:`finish`.

    Parameters
    ----------
    limit
        Points decoded ahead at most (16 bytes each, held until the body is checked).
    """

    def __init__(self, limit: int = 8 << 20) -> None:
        import queue
        import threading

        self.pages: Pages = {}
        self.done = False  # the walk ended: parts are no longer kept
        self._stop = False
        self._left = limit
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._fed = self._taken = 0  # bytes put in the queue (event loop), taken (the walk)
        self._window = b""  # the body from file offset ``_base`` on, as far as received
        self._base = 0
        self._thread = threading.Thread(target=self._run, name="gridgeo-parquet-scan", daemon=True)
        self._thread.start()

    def feed(self, part: bytes) -> None:
        """The next part of the body (the event loop: no work but a queue put; when the
        walk is :data:`_SCAN_BACKLOG` bytes behind, it stops: memory stays bounded)."""
        if self.done:
            return
        self._fed += len(part)
        if self._fed - self._taken > _SCAN_BACKLOG:
            self.cancel_walk()
            return
        self._queue.put(part)

    def cancel_walk(self) -> None:
        """Stop the walk (without waiting); the pages decoded so far stay."""
        self._stop = self.done = True
        self._queue.put(None)

    def finish(self) -> Pages:
        """Stop after the page being decoded; the pages decoded so far.

        Returns
        -------
        dict
            Decoded pages by the file offset of their page header (for :func:`read_points`).
        """
        self._stop = True
        self._queue.put(None)
        self._thread.join()
        self._drain()
        return self.pages

    def cancel(self) -> None:
        """Stop without waiting (the request failed); nothing is kept."""
        self.cancel_walk()
        self.pages = {}

    def _run(self) -> None:
        try:
            self._walk()
        except Exception:  # any doubt: these pages are decoded as before
            pass
        finally:
            self.done = True
            self._pending, self._window = [], b""
            self._drain()

    def _drain(self) -> None:
        """Drop the parts queued before the walk's end was seen."""
        import queue

        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    def _have(self, pos: int, k: int) -> int:
        """Make ``k`` bytes from ``pos`` of the window received; the position of ``pos`` in
        the window (the bytes before it dropped), or -1 when the body ends first."""
        while len(self._window) - pos + self._pending_bytes < k:
            part = self._queue.get()
            if part is None or self._stop:
                return -1
            self._taken += len(part)
            self._pending.append(part)
            self._pending_bytes += len(part)
        if len(self._window) - pos < k:
            self._window = b"".join([memoryview(self._window)[pos:], *self._pending])
            self._base += pos
            self._pending, self._pending_bytes, pos = [], 0, 0
        return pos

    def _walk(self) -> None:
        pos = self._have(0, 4)
        if pos < 0 or self._window[:4] != b"PAR1":
            return
        pos = 4
        dictionary: tuple[int, str | None, np.ndarray, np.ndarray] | None = None
        while not self._stop and self._left > 0:
            window = self._window
            if len(window) - pos >= 3 and (window[pos], window[pos + 2]) != (0x15, 0x15):
                return  # not "1: i32 type" (one byte), "2: i32 size": the footer, or no page
            try:
                head, body_at, kind, csize = _header(memoryview(window), pos, None)
            except IndexError:  # the header is not all here yet
                if len(window) - pos > _SCAN_HEADER_BYTES:
                    return
                pos = self._have(pos, len(window) - pos + 1)
                if pos < 0:
                    return
                continue
            values = (head.get(7 if kind == _DICTIONARY_PAGE else 5 if kind == 0 else 8) or {}).get(
                1
            )
            if (
                csize > _SCAN_PAGE_BYTES
                or head[2] > 2 * _SCAN_PAGE_BYTES
                or not isinstance(values, int)
                or not 0 <= values <= _SCAN_PAGE_VALUES
            ):
                return
            start = self._have(pos, body_at - pos + csize)
            if start < 0:
                return
            body_at, pos = body_at - pos + start, start
            offset = self._base + pos
            window = self._window
            raw, arr = pa.py_buffer(window), np.frombuffer(window, np.uint8)
            if kind == _DICTIONARY_PAGE:
                dictionary = None
                for codec in _guesses(arr, body_at, csize, head[2]):
                    try:
                        dx, dy, _valid = _dictionary(head, raw, arr, body_at, csize, codec)
                    except (_UnknownPageError, IndexError, ValueError, pa.ArrowException):
                        continue
                    self.pages[offset] = (dx, dy, codec, 0, offset)
                    dictionary = (offset, codec, dx, dy)
                    self._left -= len(dx)
                    break
            else:
                self._data_page(head, kind, raw, arr, body_at, csize, offset, dictionary)
            pos = body_at + csize

    def _data_page(
        self,
        head: dict[int, Any],
        kind: int,
        raw: pa.Buffer,
        arr: np.ndarray,
        body_at: int,
        csize: int,
        offset: int,
        dictionary: tuple[int, str | None, np.ndarray, np.ndarray] | None,
    ) -> None:
        """A data page's points, decoded as :func:`read_points` would with the codec and
        definition levels it most likely has (nothing kept when none reads)."""
        count = _count(head, kind)
        indices = _indices(head, kind)
        if indices and dictionary is None:
            return
        skip = (head.get(8) or {}).get(5, 0) if kind == _DATA_PAGE_V2 else 0  # v2: levels
        if not isinstance(skip, int) or not 0 <= skip <= csize:
            return
        for codec in _guesses(arr, body_at + skip, csize - skip, head[2] - skip):
            if indices and dictionary is not None and dictionary[1] != codec:
                continue
            dx, dy = (dictionary[2], dictionary[3]) if indices and dictionary else (None, None)
            for max_def in (1, 0):
                x, y = np.empty(count, np.float64), np.empty(count, np.float64)
                try:
                    _data(head, kind, raw, arr, body_at, csize, codec, max_def, dx, dy, x, y, 0)
                except (_UnknownPageError, IndexError, ValueError, pa.ArrowException):
                    continue
                at = dictionary[0] if indices and dictionary else None
                self.pages[offset] = (x, y, codec, max_def, at)
                self._left -= count
                return


def _guesses(arr: np.ndarray, at: int, csize: int, size: int) -> tuple[str | None, ...]:
    """The codecs a page most likely has: none when its sizes agree, zstd when it starts
    with zstd's frame magic, else snappy (a wrong guess only costs the page's decode)."""
    if csize == size:
        return (None,)
    if csize >= 4 and arr[at : at + 4].tobytes() == b"\x28\xb5\x2f\xfd":
        return ("zstd",)
    return ("snappy",)
