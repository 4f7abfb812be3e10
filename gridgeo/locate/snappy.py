"""Snappy decompression of a GeoParquet body's pages, compiled, into reused memory.

A page of 21-byte WKB points compresses into a short copy (the repeated length, WKB head
and the coordinates' top bytes) and a short literal per point: pyarrow's
``pyarrow.decompress`` (the snappy library) spends ~1.3 ns per output byte on them and
returns fresh memory for every page. Here the page is decoded by one compiled pass with
unaligned 8-byte moves into a buffer each thread keeps and reuses (the page is then still
in the cache when its points are read): ~0.06 s against ~0.1–0.15 s per 5 M points.

Format, as in snappy's ``format_description.txt``: the uncompressed length as a varint,
then elements, each a tag byte whose low two bits give its kind — 00 a literal (length - 1
in the upper six bits, or 60–63: in the next 1–4 bytes, little-endian), 01 a copy of
length 4–11 with an 11-bit offset, 10 a copy of length 1–64 with a 2-byte offset, 11 the
same with a 4-byte offset; a copy may overlap its own output (offset < length).
Anything that does not decode to exactly the expected length, reads past its input or
copies from before its output's start is refused (the caller then reads the page as
before, so a damaged page gives the same error).
"""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
from numba import njit

from gridgeo.locate.csvout import _copy_fixed, _load8, _store8  # unaligned moves

#: Room after the decoded bytes: literals are moved 32 bytes at a time, copies 8.
_SLACK = 32
#: Pages larger than this are decompressed by pyarrow (no thread keeps such a buffer).
MAX_PAGE = 64 << 20

_local = threading.local()


@njit(cache=True, nogil=True)
def _decompress(src, pos, end, out, size):  # pragma: no cover - compiled
    """Snappy ``src[pos:end]`` into ``out[:size]`` (``out`` holds ``size`` + 32 bytes);
    ``size`` when it decodes to exactly that, else -1."""
    n = np.int64(0)
    shift = 0
    while True:
        if pos >= end or shift > 28:
            return -1
        b = np.int64(src[pos])
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            break
    if n != size or n + _SLACK > out.size:
        return -1
    o = np.int64(0)
    while pos < end:
        tag = np.int64(src[pos])
        pos += 1
        kind = tag & 3
        if kind == 0:
            ln = tag >> 2
            if ln >= 60:
                k = ln - 59
                if pos + k > end:
                    return -1
                ln = np.int64(0)
                for j in range(k):
                    ln |= np.int64(src[pos + j]) << (8 * j)
                pos += k
            ln += 1
            if pos + ln > end or o + ln > n:
                return -1
            if ln <= _SLACK and pos + _SLACK <= src.size:
                _copy_fixed(out, o, src, pos)
            else:
                out[o : o + ln] = src[pos : pos + ln]
            pos += ln
            o += ln
            continue
        if kind == 1:
            if pos >= end:
                return -1
            ln = 4 + ((tag >> 2) & 7)
            off = ((tag >> 5) << 8) | np.int64(src[pos])
            pos += 1
        elif kind == 2:
            if pos + 2 > end:
                return -1
            ln = 1 + (tag >> 2)
            off = np.int64(src[pos]) | (np.int64(src[pos + 1]) << 8)
            pos += 2
        else:
            if pos + 4 > end:
                return -1
            ln = 1 + (tag >> 2)
            off = np.int64(0)
            for j in range(4):
                off |= np.int64(src[pos + j]) << (8 * j)
            pos += 4
        if off == 0 or off > o or o + ln > n:
            return -1
        s = o - off
        if off >= 16 and ln <= 16:  # (a point's repeated head and top bytes: no loop)
            _store8(out, o, _load8(out, s))
            _store8(out, o + 8, _load8(out, s + 8))
        elif off >= 8:  # each 8-byte load reads bytes already written
            k = 0
            while k < ln:
                _store8(out, o + k, _load8(out, s + k))
                k += 8
        else:
            for k in range(ln):
                out[o + k] = out[s + k]
        o += ln
    return o if o == n else -1


def decompress(src: np.ndarray, pos: int, end: int, size: int) -> np.ndarray | None:
    """The snappy block ``src[pos:end]`` decompressed, or None when it is not one that
    decodes to ``size`` bytes (or ``size`` is over :data:`MAX_PAGE`).

    The result is a view of the calling thread's buffer: valid until that thread's next
    call.

    Parameters
    ----------
    src
        The compressed bytes (uint8).
    pos, end
        Where the block starts and ends in ``src``.
    size
        The uncompressed size the page header gives.

    Returns
    -------
    numpy.ndarray (uint8) or None
    """
    if size < 0 or size > MAX_PAGE or pos < 0 or end > src.size or pos > end:
        return None
    out = getattr(_local, "buf", None)
    if out is None or out.size < size + _SLACK:
        # from pyarrow's memory pool, as pyarrow's own decompression took it: memory from
        # the C allocator in these short-lived threads, freed as they end, made the
        # server's next request fault the body's x, y in again (7 k -> 16 k faults)
        out = np.frombuffer(pa.allocate_buffer(max(size + _SLACK, 1 << 20)), np.uint8)
        _local.buf = out
    if _decompress(src, pos, end, out, size) != size:
        return None
    return out[:size]
