"""A GeoParquet body's WKB points read straight from its pages into x, y.

pyarrow's Parquet reader builds an Arrow binary array of the geometry column (4-byte
offsets plus the 21 bytes of each point) that :func:`~gridgeo.locate.points._wkb_xy` then
reads x, y out of: at 5 M points ~0.3 s of CPU, half of it building that array. Here the
column chunk of one row group is read page by page: each page decompressed by pyarrow's
codecs (``pyarrow.decompress``), its values read by a compiled pass straight into x, y.

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

from gridgeo.locate.parquetout import _POINT_HEAD  # the answer writes the same heads

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


@njit(cache=True, nogil=True)
def _hybrid(buf: np.ndarray, pos: int, end: int, width: int, n: int, out: np.ndarray) -> int:
    """``n`` values of the RLE/bit-packed hybrid of ``width`` bits (≤ 32) in
    ``buf[pos:end]`` into ``out``; the position after them, or -1 when short or bad."""
    i = 0
    nbytes = (width + 7) // 8
    mask = (np.int64(1) << width) - 1
    while i < n:
        if pos >= end:
            return -1
        h = np.int64(0)
        shift = 0
        while True:
            if pos >= end or shift > 35:
                return -1
            b = np.int64(buf[pos])
            pos += 1
            h |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
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


def _plain_points(
    buf: np.ndarray, pos: int, end: int, n: int, x: np.ndarray, y: np.ndarray, at: int
) -> int:
    """``n`` PLAIN byte arrays that are each a 21-byte little-endian 2D WKB point into
    ``x[at:]``, ``y[at:]``; the position after them, or -1 when one is not.

    Strided views of the 25-byte values, checked and copied by numpy (no loop per byte:
    ~2x less CPU than a compiled byte-by-byte pass, which no compiler turns into word
    loads here)."""
    if n == 0:
        return pos
    if pos + 25 * n > end or end > buf.size:
        return -1

    def field(dtype: str, offset: int) -> np.ndarray:
        return np.ndarray((n,), dtype=dtype, buffer=buf, offset=pos + offset, strides=(25,))

    if not (np.all(field("<u8", 0) == _POINT_HEAD) and not field("u1", 8).any()):
        return -1
    x[at : at + n] = field("<f8", 9)
    y[at : at + n] = field("<f8", 17)
    return pos + 25 * n


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


def read_points(source: Any, meta: Any, group: int, column: int, max_def: int) -> Any:
    """x, y of the 21-byte WKB points of one row group's column chunk, or None when it
    holds anything else (then read it with pyarrow).

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

    Returns
    -------
    tuple of numpy.ndarray (float64) or None
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
        return _read_pages(raw, n, _CODECS[chunk.compression], max_def)
    except (_UnknownPageError, IndexError, ValueError, pa.ArrowException):
        return None


def _read_pages(raw: pa.Buffer, n: int, codec: str | None, max_def: int) -> Any:
    """:func:`read_points` of the column chunk's bytes ``raw``."""
    buf = memoryview(raw).cast("B")  # pyarrow exports signed bytes
    arr = np.frombuffer(raw, dtype=np.uint8)
    x, y = np.empty(n, np.float64), np.empty(n, np.float64)
    dx = dy = None
    pos = at = 0
    while at < n:
        head, pos = _struct(buf, pos)
        kind, size, csize = head.get(1), head.get(2), head.get(3)
        if size is None or csize is None or pos + csize > len(raw) or kind not in (0, 2, 3):
            raise _UnknownPageError("page header")
        body_at, pos = pos, pos + csize
        if kind == _DICTIONARY_PAGE:
            h = head.get(7) or {}
            if h.get(2) not in (_PLAIN, _PLAIN_DICTIONARY):
                raise _UnknownPageError("dictionary encoding")
            page = _page(raw, arr, body_at, csize, size, codec)
            m = h.get(1, 0)
            dx, dy = np.empty(m, np.float64), np.empty(m, np.float64)
            if _plain_points(page, 0, page.size, m, dx, dy, 0) < 0:
                raise _UnknownPageError("dictionary value")
            continue
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
        if count > n - at:
            raise _UnknownPageError("more values than rows")
        if enc == _PLAIN:
            if _plain_points(page, p, page.size, count, x, y, at) < 0:
                raise _UnknownPageError("value")
        elif enc in (_PLAIN_DICTIONARY, _RLE_DICTIONARY) and dx is not None and page.size > p:
            idx = np.empty(count, np.int64)
            if _hybrid(page, p + 1, page.size, int(page[p]), count, idx) < 0:
                raise _UnknownPageError("indices")
            if not _gather(idx, dx, dy, x, y, at):
                raise _UnknownPageError("index")
        else:
            raise _UnknownPageError("encoding")
        at += count
    return x, y


def _page(
    raw: pa.Buffer, arr: np.ndarray, at: int, csize: int, size: int, codec: str | None
) -> np.ndarray:
    """A page's bytes, decompressed."""
    if codec is None:
        return arr[at : at + csize]
    out = pa.decompress(raw.slice(at, csize), decompressed_size=size, codec=codec)
    return np.frombuffer(out, dtype=np.uint8)


def _levels(buf: np.ndarray, pos: int, end: int, count: int) -> None:
    """Definition levels (bit width 1) that are all 1 (no null); else :class:`_UnknownPageError`."""
    levels = np.empty(count, np.int64)
    if end > buf.size or _hybrid(buf, pos, end, 1, count, levels) < 0 or (levels != 1).any():
        raise _UnknownPageError("nulls")
