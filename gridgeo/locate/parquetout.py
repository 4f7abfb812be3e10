"""The batch answer's GeoParquet, written directly: pages, column chunks and footer.

pyarrow's ``ParquetWriter`` took ~0.24 s of CPU per 1 M answer rows, serially, most of it
in per-row work: definition levels, dictionary indices and validity bits, column by
column, although the nine per-grid columns (grid code, name, type, community code and
name, head and worker name and phone) are all picked by ONE per-row grid index. Here each
such column is written as a dictionary column whose dictionary page holds *every* entry of
the Arrow dictionary in its own order (a null entry written as an empty string that no row
points at): duplicate and unused dictionary entries are legal Parquet, and readers give the
same strings. The columns picked by one index array whose entries have the same page
positions and the same null entries then share one stream of definition levels and
RLE/bit-packed indices, encoded once per row group and copied. A dictionary with at most
half its entries distinct (a grid's type, community) is written with only the distinct
ones (a smaller page, fewer bits per row: a stream of its own); one of a single entry
needs no pass (levels = the index validity, one RLE run); one of only null entries is an
all-null column. A stream is made in two compiled passes: the present rows' entries
compacted (:func:`_present_entries`; once per index array for the dictionaries without
null entries, whose levels are the index validity), then bit-packed with the column's
own page positions eight values at a time (:func:`_bit_packed`: a group of eight is
``width`` bytes, put together in registers, no state carried between groups). A text
column of one value (a category given for the whole batch) is written as a dictionary
of one entry. The
dictionary pages are made once per Arrow dictionary (a snapshot's grid columns are the
same arrays for every chunk) and copied into each row group. Doubles, booleans and byte
arrays are PLAIN (the last as 4-byte length plus bytes). A row group is encoded into
scratch memory the writer reuses (fresh memory costs a page fault per 4 KiB), then joined;
its largest parts, the WKB points, text without nulls (the ids) and the present doubles of
a column with nulls (the border distance), are written straight into the joined buffer
instead (:class:`_Fill`: not encoded into scratch and copied); the small ones (page
headers, levels, runs) are copied into it as one.

Format, as in the Apache Parquet format specification (``parquet.thrift``, format 2.6,
``Encodings.md``), written with the Thrift compact protocol:

* file: ``PAR1``, the row groups' column chunks, ``FileMetaData``, its 4-byte length,
  ``PAR1``;
* a column chunk: for a dictionary column a ``DICTIONARY_PAGE`` (``PageHeader`` fields
  1 type, 2 uncompressed_page_size, 3 compressed_page_size, 7 ``DictionaryPageHeader``:
  1 num_values, 2 encoding = PLAIN), then one ``DATA_PAGE`` (v1; field 5
  ``DataPageHeader``: 1 num_values, 2 encoding = PLAIN or RLE_DICTIONARY, 3 / 4
  definition / repetition level encoding = RLE); the page body is the definition levels
  (4-byte length, then the RLE/bit-packed hybrid of bit width 1: one bit-packed run,
  which is the Arrow validity bitmap itself, or one RLE run when all or none are
  present), then the values of the present rows (for RLE_DICTIONARY one byte of bit
  width, then one bit-packed run of indices);
* ``FileMetaData``: 1 version (2), 2 schema (``SchemaElement``: 1 type, 3
  repetition_type, 4 name, 5 num_children, 6 converted_type, 10 logicalType), 3
  num_rows, 4 row_groups (``RowGroup``: 1 columns, 2 total_byte_size, 3 num_rows,
  5 file_offset, 6 total_compressed_size, 7 ordinal; ``ColumnChunk``: 2 file_offset,
  3 ``ColumnMetaData``: 1 type, 2 encodings, 3 path_in_schema, 4 codec (UNCOMPRESSED),
  5 num_values, 6 / 7 total uncompressed / compressed size, 9 data_page_offset,
  11 dictionary_page_offset), 5 key_value_metadata (the GeoParquet ``geo``), 6 created_by,
  7 column_orders (TYPE_ORDER for each column).

No compression and no statistics, as the pyarrow writer was set up before (the answer is a
stream, not a file to filter). Readers see the same columns, names and types as from that
writer: dictionary columns read back as text.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numba import njit

from gridgeo.locate.csvout import (  # fixed-size moves, unaligned 8-byte loads and stores
    _STEP,
    _copy_at,
    _copy_fixed,
    _load8,
    _store8,
)

MAGIC = b"PAR1"

# parquet.thrift enums
_BOOLEAN, _INT32, _INT64, _DOUBLE, _BYTE_ARRAY = 0, 1, 2, 5, 6
_PLAIN, _RLE, _RLE_DICTIONARY = 0, 3, 8
_DATA_PAGE, _DICTIONARY_PAGE = 0, 2
_REQUIRED, _OPTIONAL = 0, 1
_UTF8 = 0

# Thrift compact protocol type ids
_T_I16, _T_I32, _T_I64, _T_BINARY, _T_LIST, _T_STRUCT = 4, 5, 6, 8, 9, 12

CREATED_BY = "gridgeo parquetout (parquet-format 2.6)"


# -- Thrift compact protocol (writing only: the few structs above) ------------------------


_SMALL = [bytes([i]) for i in range(128)]


def _varint(n: int) -> bytes:
    if n < 0x80:
        return _SMALL[n]
    if n < 0x4000:  # sizes and counts of a row group: two or three bytes, no loop
        return bytes((n & 0x7F | 0x80, n >> 7))
    if n < 0x200000:
        return bytes((n & 0x7F | 0x80, n >> 7 & 0x7F | 0x80, n >> 14))
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _zigzag(n: int) -> bytes:
    return _varint(n << 1 if n >= 0 else (n << 1) ^ -1)


class _Struct:
    """One Thrift compact struct being written (fields in increasing id order)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.last = 0

    def _head(self, fid: int, ctype: int) -> None:
        delta = fid - self.last
        if 0 < delta <= 15:
            self.buf.append((delta << 4) | ctype)
        else:
            self.buf.append(ctype)
            self.buf += _zigzag(fid)
        self.last = fid

    def i32(self, fid: int, v: int) -> _Struct:
        self._head(fid, _T_I32)
        self.buf += _zigzag(v)
        return self

    def i64(self, fid: int, v: int) -> _Struct:
        self._head(fid, _T_I64)
        self.buf += _zigzag(v)
        return self

    def i16(self, fid: int, v: int) -> _Struct:
        self._head(fid, _T_I16)
        self.buf += _zigzag(v)
        return self

    def binary(self, fid: int, v: bytes) -> _Struct:
        self._head(fid, _T_BINARY)
        self.buf += _varint(len(v)) + v
        return self

    def struct(self, fid: int, inner: bytes) -> _Struct:
        """``inner``: an encoded struct (:meth:`end`)."""
        self._head(fid, _T_STRUCT)
        self.buf += inner
        return self

    def list(self, fid: int, etype: int, items: list[bytes]) -> _Struct:
        """``items``: the encoded elements (i32 as zigzag varints, binaries with their
        length, structs ended)."""
        self._head(fid, _T_LIST)
        n = len(items)
        self.buf += bytes([(n << 4) | etype]) if n < 15 else bytes([0xF0 | etype]) + _varint(n)
        for it in items:
            self.buf += it
        return self

    def end(self) -> bytes:
        return bytes(self.buf) + b"\x00"


def _bin(v: bytes) -> bytes:
    return _varint(len(v)) + v


def _page_header(kind: int, size: int, num_values: int, encoding: int) -> bytes:
    """A ``PageHeader`` of an uncompressed data page (v1) or dictionary page, written
    directly (field headers as :class:`_Struct` writes them; two per column and row
    group, so no generic writer)."""
    z = _zigzag(size)
    head = b"\x15" + _zigzag(kind) + b"\x15" + z + b"\x15" + z
    if kind == _DATA_PAGE:  # 5: DataPageHeader {1, 2, 3: RLE, 4: RLE}
        inner = (
            b"\x15" + _zigzag(num_values) + b"\x15" + _zigzag(encoding) + b"\x15\x06\x15\x06\x00"
        )
        return head + b"\x2c" + inner + b"\x00"
    # 7: DictionaryPageHeader {1, 2, 3: is_sorted false}
    inner = b"\x15" + _zigzag(num_values) + b"\x15" + _zigzag(encoding) + b"\x12\x00"
    return head + b"\x4c" + inner + b"\x00"


def _data_page_ends(rows: int) -> tuple[bytes, bytes, bytes]:
    """The ends of a row group's ``DATA_PAGE`` headers after their sizes (PLAIN, then
    RLE_DICTIONARY: the ``DataPageHeader`` of ``rows`` values, as :func:`_page_header`
    writes it) and ``ColumnMetaData`` field 5's head and value (``rows``) with field 6's
    head: the same for every column of the row group."""
    nv = _zigzag(rows)
    ends = tuple(
        b"\x2c\x15" + nv + b"\x15" + _zigzag(e) + b"\x15\x06\x15\x06\x00\x00"
        for e in (_PLAIN, _RLE_DICTIONARY)
    )
    return ends[0], ends[1], b"\x16" + nv + b"\x16"


# -- compiled encoders (no GIL: a batch answer prepares its chunks on both cores) --------


@njit(cache=True, nogil=True)
def _bit(bits: np.ndarray, i: int) -> bool:
    return (bits[i >> 3] >> (i & 7)) & 1 == 1


@njit(cache=True, nogil=True)
def _present_entries(
    idx: np.ndarray,
    valid: np.ndarray,
    voff: int,
    remap: np.ndarray,
    defs: np.ndarray,
    out: np.ndarray,
) -> int:
    """The dictionary entries of the present rows, in order, into ``out`` (uint32, at least
    as long as ``idx``): how many. Definition bits into ``defs`` (zeroed; empty: not wanted).

    A row is present where its validity bit is set (``valid`` empty: all) and, when
    ``remap`` is given, its entry has a page position (``remap[entry]`` >= 0; then the
    position is what is kept). No branch on presence: each row is stored and the count
    advanced by its presence (the next row overwrites an absent one); eight valid rows
    without a remap are copied at once. Rows go eight at a time, their definition bits
    stored as a byte; those of the last (up to seven) rows are ORed into ``defs``."""
    n = idx.size
    has_valid = valid.size > 0
    has_remap = remap.size > 0
    has_defs = defs.size > 0
    k = 0
    i = 0
    if not has_remap:
        while i + 8 <= n:
            vb = _bits8(valid, voff + i) if has_valid else 0xFF
            if vb == 0xFF:
                for j in range(8):
                    out[k + j] = idx[i + j]
                k += 8
            else:
                for j in range(8):
                    out[k] = idx[i + j]
                    k += (vb >> j) & 1
            if has_defs:
                defs[i >> 3] = vb
            i += 8
    else:  # eight rows at a time: their definition bits gathered in a register
        while i + 8 <= n:
            vb = _bits8(valid, voff + i) if has_valid else 0xFF
            d = 0
            for j in range(8):
                p = np.int64((vb >> j) & 1)
                v = np.int64(remap[np.int64(idx[i + j]) * p])  # (a null row: entry 0)
                p &= np.int64(v >= 0)
                out[k] = v
                k += p
                d |= p << j
            if has_defs:
                defs[i >> 3] = d
            i += 8
    for t in range(i, n):
        p = np.int64(1)
        if has_valid:
            b = voff + t
            p = np.int64((valid[b >> 3] >> (b & 7)) & 1)
        v = np.int64(idx[t]) * p  # a null row's index may be anything: entry 0 read instead
        if has_remap:
            v = np.int64(remap[v])
            p &= np.int64(v >= 0)
        out[k] = v
        k += p
        if has_defs:
            defs[t >> 3] |= np.uint8(p << (t & 7))
    return k


@njit(cache=True, nogil=True, inline="always")
def _group(
    vals: np.ndarray, base: int, m: int, remap: np.ndarray, has_remap: bool, w: np.uint64
) -> tuple[np.uint64, np.uint64]:
    """The first four and the last four of the eight values from ``base`` (the first
    ``m``; the others 0), ``w`` bits each, packed LSB first into two words."""
    lo = np.uint64(0)
    hi = np.uint64(0)
    for j in range(8):
        v = np.uint64(0)
        if j < m:
            v = np.uint64(remap[vals[base + j]]) if has_remap else np.uint64(vals[base + j])
        if j < 4:
            lo |= v << (w * np.uint64(j))
        else:
            hi |= v << (w * np.uint64(j - 4))
    return lo, hi


@njit(cache=True, nogil=True)
def _bit_packed(vals: np.ndarray, k: int, remap: np.ndarray, width: int, out: np.ndarray) -> int:
    """One bit-packed run of the first ``k`` values (``remap[value]`` when ``remap`` is
    given), ``width`` bits each, LSB first, padded with zero bits to a multiple of 8
    values, into ``out`` (8 bytes longer than the run): its bytes.

    Eight values take exactly ``width`` bytes: up to 16 bits a value, each group of eight
    is put together in registers (two words of four values) and stored at its own place,
    with no state carried from one group to the next; wider values go through one
    64-bit accumulator (at most 7 bits pending + 32 < 64)."""
    has_remap = remap.size > 0
    w = np.uint64(width)
    groups = (k + 7) // 8
    if width <= 16:
        half = 4 * width  # bits of the first four values of a group
        r = np.uint64(half & 7)
        lo_bits = np.uint64(half - (half & 7))
        for g in range(groups):
            m = 8 if g < k // 8 else k - 8 * g  # values in the group (the last: fewer)
            lo, hi = _group(vals, 8 * g, m, remap, has_remap, w)
            pos = g * width
            if width <= 8:
                _put8(out, pos, lo | (hi << np.uint64(half)))
            else:
                _put8(out, pos, lo)
                top = (hi << r) | (lo >> lo_bits) if r else hi
                _put8(out, pos + (half >> 3), top)
        return groups * width
    acc = np.uint64(0)
    nbits = np.uint64(0)
    pos = 0
    for at in range(groups * 8):
        v = np.uint64(0)
        if at < k:
            v = np.uint64(remap[vals[at]]) if has_remap else np.uint64(vals[at])
        acc |= v << nbits
        nbits += w
        _put4(out, pos, np.uint32(acc & np.uint64(0xFFFFFFFF)))
        adv = nbits >> np.uint64(3)
        pos += np.int64(adv)
        acc >>= adv * np.uint64(8)
        nbits &= np.uint64(7)
    return groups * width


def _dictionary_stream(
    idx: np.ndarray,
    valid: np.ndarray,
    voff: int,
    remap: np.ndarray,
    width: int,
    defs: np.ndarray,
    out: np.ndarray,
) -> tuple[int, int]:
    """Definition bits (into ``defs``, zeroed; empty: not wanted) and one bit-packed run of
    the present rows' dictionary page positions (into ``out``, 8 bytes longer than the
    run; padded to a multiple of 8 values): (present rows, bytes). Bit widths up to 32.

    A row is present where its validity bit is set (``valid`` empty: all) and its entry
    has a page position: ``remap[entry]`` (-1 for a null entry), or the entry itself when
    ``remap`` is empty. :func:`_present_entries`, then :func:`_bit_packed`
    (:func:`_dictionary_values` shares the first among the columns of one index array)."""
    entries = np.empty(idx.size, np.uint32)
    k = _present_entries(idx, valid, voff, remap, defs, entries)
    return k, _bit_packed(entries, k, _NONE_I32, width, out)


@njit(cache=True, nogil=True)
def _plain_byte_array(
    offsets: np.ndarray, data: np.ndarray, valid: np.ndarray, voff: int, out: np.ndarray
) -> tuple[int, int]:
    """PLAIN byte arrays (4-byte little-endian length, then the bytes) of the present values
    into ``out``: (present values, bytes)."""
    n = offsets.size - 1
    has_valid = valid.size > 0
    pos = 0
    k = 0
    for i in range(n):
        if has_valid and not _bit(valid, voff + i):
            continue
        s = offsets[i]
        e = offsets[i + 1]
        ln = e - s
        out[pos] = ln & 0xFF
        out[pos + 1] = (ln >> 8) & 0xFF
        out[pos + 2] = (ln >> 16) & 0xFF
        out[pos + 3] = (ln >> 24) & 0xFF
        pos += 4
        for j in range(ln):
            out[pos + j] = data[s + j]
        pos += ln
        k += 1
    return k, pos


@njit(cache=True, nogil=True)
def _same_length(offsets: np.ndarray) -> int:
    """The length of every value (-1 when they differ)."""
    n = offsets.size - 1
    ln = offsets[1] - offsets[0]
    for i in range(n):
        if offsets[i + 1] - offsets[i] != ln:
            return -1
    return ln


@njit(cache=True, nogil=True)
def _plain_texts(offsets: np.ndarray, data: np.ndarray, out: np.ndarray) -> None:
    """PLAIN byte arrays of every value (no null) into ``out``, exactly as long (the
    values' bytes plus 4 a value). A value of up to 8 bytes (a row number, a short code)
    is one 8-byte load and two 8-byte stores: its length and first 4 bytes, then the
    other 4 (bytes past the value are overwritten by the next one); a longer one is its
    length, then fixed 32-byte moves (no loop per byte) while they stay within ``out``
    and ``data``, else a ``memcpy`` of its length."""
    end = np.int64(out.size)
    size = np.int64(data.size)
    pos = np.int64(0)
    s = np.int64(offsets[0])
    for i in range(offsets.size - 1):
        e = np.int64(offsets[i + 1])
        ln = e - s
        if ln <= 8 and pos + 12 <= end and s + 8 <= size:
            word = _load8(data, s)
            _store8(out, pos, np.uint64(ln) | (word << np.uint64(32)))
            _store8(out, pos + 4, word)
        else:
            _put4(out, pos, np.uint32(ln))
            at = pos + 4
            if at + ln + _STEP <= end and s + ln + _STEP <= size:
                k = np.int64(0)
                while k < ln:
                    _copy_fixed(out, at + k, data, s + k)
                    k += _STEP
            elif ln > 0:
                _copy_at(out, at, data, s, ln)
        pos += 4 + ln
        s = e


@njit(cache=True, nogil=True)
def _constant(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray, voff: int) -> int:
    """The row of the first present value when every present value is the same bytes
    (a category given once for the whole batch); -1 when not, or none is present."""
    has_valid = valid.size > 0
    first = -1
    for i in range(offsets.size - 1):
        if has_valid and not _bit(valid, voff + i):
            continue
        if first < 0:
            first = i
            continue
        s, f = offsets[i], offsets[first]
        ln = offsets[first + 1] - f
        if offsets[i + 1] - s != ln:
            return -1
        for j in range(ln):
            if data[s + j] != data[f + j]:
                return -1
    return first


@njit(cache=True, nogil=True)
def _present_bits(defs: np.ndarray, valid: np.ndarray, voff: int, n: int) -> int:
    """Copy ``n`` validity bits from bit ``voff`` into ``defs`` (zeroed): set bits."""
    k = 0
    for i in range(n):
        if _bit(valid, voff + i):
            defs[i >> 3] |= np.uint8(1 << (i & 7))
            k += 1
    return k


@njit(cache=True, nogil=True, inline="always")
def _bits8(bits: np.ndarray, b: int) -> int:
    """The 8 bits of ``bits`` from bit ``b`` on, LSB first (those past its end: 0)."""
    i = b >> 3
    r = b & 7
    v = np.int64(bits[i]) >> r
    if r and i + 1 < bits.size:
        v |= np.int64(bits[i + 1]) << (8 - r)
    return v & 0xFF


@njit(cache=True, nogil=True)
def _compact8(vals: np.ndarray, valid: np.ndarray, voff: int, out: np.ndarray) -> int:
    """The 8-byte values (``vals``: uint64) of the present rows, in order, into the bytes
    ``out`` (8 a present row): how many. Each row is stored (one 8-byte store while
    there is room) and the count advanced by its presence: no branch on it (the next
    row overwrites an absent one)."""
    cap = out.size // 8
    k = 0
    for i in range(vals.size):
        b = voff + i
        if k < cap:
            _store8(out, 8 * k, vals[i])
        k += (valid[b >> 3] >> (b & 7)) & 1
    return k


def _gather_table() -> tuple[np.ndarray, np.ndarray]:
    """For each (validity byte, value byte): the value bits of the valid rows moved down
    together (LSB first), at ``256 * validity + value``; and each validity byte's count."""
    valid = np.arange(256, dtype=np.int64)[:, None]
    bits = np.arange(256, dtype=np.int64)[None, :]
    out = np.zeros((256, 256), np.int64)
    count = np.zeros((256, 1), np.int64)
    for j in range(8):
        keep = (valid >> j) & 1
        out |= ((bits >> j) & 1 & keep) << count
        count = count + keep
    return out.astype(np.uint8).ravel(), count.astype(np.uint8).ravel()


#: :func:`_compact_bits`' lookups (64 KiB: compiled in as constants)
_GATHERED, _COUNT = _gather_table()


@njit(cache=True, nogil=True)
def _compact_bits(
    bits: np.ndarray, boff: int, n: int, valid: np.ndarray, voff: int, out: np.ndarray
) -> int:
    """The booleans (bits from ``boff``) of the present rows bit-packed LSB first (PLAIN
    BOOLEAN) into ``out`` (one byte longer; the bits past the last zero): how many
    (``valid`` empty: all rows). Eight rows at a time: their present bits gathered by
    one table lookup (:data:`_GATHERED`), appended to a register, no branch per row."""
    has_valid = valid.size > 0
    acc = np.uint64(0)
    nbits = np.uint64(0)
    pos = 0
    k = 0
    for base in range(0, n, 8):
        keep = (1 << min(8, n - base)) - 1
        vb = (_bits8(valid, voff + base) if has_valid else 0xFF) & keep
        at = vb * 256 + _bits8(bits, boff + base)
        acc |= np.uint64(_GATHERED[at]) << nbits
        c = _COUNT[vb]
        nbits += np.uint64(c)
        k += c
        out[pos] = np.uint8(acc & np.uint64(0xFF))
        adv = nbits >> np.uint64(3)
        pos += np.int64(adv)
        acc >>= adv * np.uint64(8)
        nbits &= np.uint64(7)
    if nbits:
        out[pos] = np.uint8(acc & np.uint64(0xFF))
    return k


#: The first 8 bytes of a PLAIN 21-byte WKB point as a little-endian uint64: the length
#: 21 (4 bytes), byte order 1 (little-endian), type 1 (point; its first three bytes); the
#: type's last byte (0) follows. Written here, checked when a body is read (``parquetin``).
_POINT_HEAD = np.uint64(0x0000010100000015)


@njit(cache=True, nogil=True, inline="always")
def _put8(out: np.ndarray, p: int, v: np.uint64) -> None:
    """The 8 bytes of ``v`` (little-endian) at ``out[p:]``: written byte by byte from one
    word, which the compiler merges into one 8-byte store (a byte copy loop it does not)."""
    for j in range(8):
        out[p + j] = np.uint8((v >> np.uint64(8 * j)) & np.uint64(0xFF))


@njit(cache=True, nogil=True, inline="always")
def _put4(out: np.ndarray, p: int, v: np.uint32) -> None:
    """The 4 bytes of ``v`` (little-endian) at ``out[p:]``: one store (:func:`_put8`)."""
    for j in range(4):
        out[p + j] = np.uint8((v >> np.uint32(8 * j)) & np.uint32(0xFF))


@njit(cache=True, nogil=True)
def _plain_wkb_points(x: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    """PLAIN byte arrays of 21-byte little-endian WKB points (length 21, then the WKB)."""
    xu = x.view(np.uint64)
    yu = y.view(np.uint64)
    for i in range(x.size):
        p = 25 * i
        _put8(out, p, _POINT_HEAD)
        out[p + 8] = 0
        _put8(out, p + 9, xu[i])
        _put8(out, p + 17, yu[i])


@njit(cache=True, nogil=True)
def _row_number_texts(start: int, n: int, out: np.ndarray) -> None:
    """PLAIN byte arrays of the decimal row numbers ``start … start + n - 1`` into ``out``
    (exactly as long: :func:`_row_numbers_size`): the text
    :func:`~gridgeo.locate.points.row_ids` gives them, written here instead of copied.

    Ten numbers at a time (up to the next one ending in 0): their text differs only in the
    last digit, so a number of at most 8 digits is one 8-byte word of its text, built once
    per ten and stepped by adding 1 to its last byte, and written by two unaligned stores
    (its length and first 4 digits, then 8 digits from the 4th byte: the next number
    overwrites the bytes past it), as :func:`_plain_texts` writes a short text. The digits
    are carried by hand once per ten (no division per digit)."""
    end = np.int64(out.size)
    digits = np.full(20, 48, np.uint8)  # the current number, right-aligned
    v = np.int64(start)
    for k in range(19, -1, -1):
        digits[k] = 48 + v % 10
        v //= 10
    w = 1  # digits of the current number
    bound = np.int64(10)
    while start >= bound:
        bound *= 10
        w += 1
    pos = np.int64(0)
    i = np.int64(0)
    while i < n:
        m = min(np.int64(58 - digits[19]), n - i)  # up to the next number ending in 0
        word = np.uint64(0)
        for k in range(min(w, 8)):
            word |= np.uint64(digits[20 - w + k]) << np.uint64(8 * k)
        step = np.uint64(1) << np.uint64(8 * (min(w, 8) - 1))
        size = 4 + w
        if w <= 8 and pos + m * size + 8 <= end:
            head = np.uint64(w)
            for _j in range(m):
                _store8(out, pos, head | (word << np.uint64(32)))
                _store8(out, pos + 4, word)
                word += step
                pos += size
        else:  # longer, or the last ones (no room past them): digit by digit
            for j in range(m):
                _put4(out, pos, np.uint32(w))
                for k in range(w - 1):
                    out[pos + 4 + k] = digits[20 - w + k]
                out[pos + 3 + w] = digits[19] + j
                pos += size
        i += m
        digits[19] += m  # (now at most 58: ":" = 10, carried)
        k = 19
        while digits[k] == 58:
            digits[k] = 48
            k -= 1
            digits[k] += 1
        if k < 20 - w:
            w += 1


def _row_numbers_size(start: int, n: int) -> int:
    """Bytes of :func:`_row_number_texts`: 4 a number and its digits."""
    size, at, end = 4 * n, start, start + n
    width, bound = len(str(start)), 10 ** len(str(start))
    while at < end:
        upto = min(end, bound)
        size += width * (upto - at)
        at, width, bound = upto, width + 1, bound * 10
    return size


# -- columns ------------------------------------------------------------------------------

_NONE = np.zeros(0, dtype=np.uint8)
_NONE_I32 = np.zeros(0, dtype=np.int32)  # no remap: the entries are the page positions


class _Arena:
    """Scratch memory of one row group's encoding, reused for the next row group.

    The pages are encoded into it and then joined into the row group's bytes: memory
    fresh from the system costs a page fault per 4 KiB touched (~0.8 ms of CPU per MB,
    more than encoding it), so the scratch is taken back between row groups
    (:meth:`ParquetAnswer.prepare` keeps a few)."""

    def __init__(self, size: int) -> None:
        self.buf = np.empty(size, dtype=np.uint8)
        self.at = 0

    def empty(self, n: int) -> np.ndarray:
        """``n`` bytes (8-byte aligned), from the scratch while it lasts."""
        if self.at + n > self.buf.size:
            return np.empty(n, dtype=np.uint8)
        out = self.buf[self.at : self.at + n]
        self.at += (n + 7) & ~7
        return out

    def zeros(self, n: int) -> np.ndarray:
        out = self.empty(n)
        out.fill(0)
        return out


class _Fill:
    """A large part of a row group (WKB points, text without nulls) written where it
    goes: ``fill(out)`` writes its ``size`` bytes into ``out`` (a view of exactly that
    many bytes) — into the row group's pooled buffer directly (:func:`_joined`), not
    into scratch first and then copied."""

    __slots__ = ("fill", "size")

    def __init__(self, size: int, fill: Any) -> None:
        self.size = size
        self.fill = fill


class RowNumbers:
    """A text column of the row numbers ``start … start + n - 1`` (the ids of points sent
    without an id column), given to :meth:`ParquetAnswer.prepare` in place of their Arrow
    text: written where it goes (:func:`_row_number_texts`), the same bytes as that text
    would be, never built as text first."""

    __slots__ = ("n", "start")

    def __init__(self, start: int, n: int) -> None:
        self.start = start
        self.n = n

    def __len__(self) -> int:
        return self.n


def _row_number_values(col: RowNumbers) -> tuple[list[Any], list[Any]]:
    """(definition levels, PLAIN values) of ``col``: what :func:`_plain_values` gives for
    its text (no null; never one value repeated, which would be a dictionary)."""
    n, start = col.n, col.start
    if n == 0:
        return _levels(0, 0, None), []
    size = _row_numbers_size(start, n)
    return _levels(n, n, None), [_Fill(size, lambda out: _row_number_texts(start, n, out))]


def _bits(arr: pa.Array) -> tuple[np.ndarray, int]:
    """The validity bitmap of ``arr`` (empty when it has no null) and its bit offset."""
    buf = arr.buffers()[0]
    if arr.null_count == 0 or buf is None:
        return _NONE, 0
    return np.frombuffer(buf, dtype=np.uint8), arr.offset


@functools.lru_cache(maxsize=256)
def _run_levels(n: int, present: bool) -> bytes:
    """Definition levels of ``n`` rows all present or all absent: one RLE run."""
    body = _varint(n << 1) + (b"\x01" if present else b"\x00")
    return struct.pack("<I", len(body)) + body


def _levels(n: int, present: int, defs: np.ndarray | None) -> list[Any]:
    """Definition levels (v1: 4-byte length, then the hybrid of bit width 1)."""
    if present == n or present == 0:
        return [_run_levels(n, present == n)]
    assert defs is not None
    head = _varint(((n + 7) // 8) << 1 | 1)
    return [struct.pack("<I", len(head) + defs.size) + head, defs]


def _valid_defs(arr: pa.Array, mem: _Arena) -> tuple[np.ndarray, int, int, np.ndarray | None]:
    """(validity bitmap or empty, its bit offset, present rows, definition bits)."""
    n = len(arr)
    valid, voff = _bits(arr)
    present = n - arr.null_count
    if valid.size == 0 or present == 0:
        return valid, voff, present, None
    if voff % 8 == 0:
        defs = valid[voff // 8 : voff // 8 + (n + 7) // 8]
        if n % 8 and defs[-1] >> (n % 8):  # bits past the end: cleared in a copy
            defs = defs.copy()
            defs[-1] &= (1 << (n % 8)) - 1
        return valid, voff, present, defs
    defs = mem.zeros((n + 7) // 8)
    _present_bits(defs, valid, voff, n)
    return valid, voff, present, defs


def _offsets_data(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    large = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64 if large else np.int32)
    offsets = offsets[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else _NONE
    return offsets, data


def _byte_array_values(arr: pa.Array, valid: np.ndarray, voff: int, mem: _Arena) -> Any:
    offsets, data = _offsets_data(arr)
    if len(arr) == 0:
        return _NONE
    size = int(offsets[-1] - offsets[0]) + 4 * len(arr)
    if valid.size == 0:  # no null: as long as that, written where it goes
        return _Fill(size, lambda out: _plain_texts(offsets, data, out))
    out = mem.empty(size)
    _k, size = _plain_byte_array(offsets, data, valid, voff, out)
    return out[:size]


@dataclass
class _Dictionary:
    """A dictionary page (header and body) and each Arrow entry's position in it."""

    page: bytes
    remap: np.ndarray  # int32 page position per entry (-1: null); empty: the entry itself
    width: int  # bit width of the page positions
    entries: int  # in the page (0: every entry is null)
    one: bool  # one entry in the page and no null entry: every valid row points at it
    holes: bool = True  # a null entry (remap -1): rows with a valid index may be absent
    #: ``remap``'s bytes: the columns of one index array with equal ones share a stream
    #: (a bytes object hashes once)
    positions: bytes = b""

    def __post_init__(self) -> None:
        self.positions = self.remap.tobytes()


_DICTIONARIES: dict[tuple, tuple[_Dictionary, Any]] = {}
#: Dictionaries of at least this many entries are cached (a snapshot's grid columns: a few
#: per snapshot); the per-chunk ones (reasons, departments) are new arrays every chunk.
_CACHED_FROM = 64


def _dictionary(d: pa.Array) -> _Dictionary:
    """The dictionary page of ``d``, cached by buffer (a snapshot's grid columns are the
    same arrays for every chunk; the buffers are kept alive with the entry).

    The page holds every entry in order (a null one as an empty string no row points at),
    so that the columns picked by one index array share one index stream; but when at
    most half the entries are distinct (a grid's type or community), only the distinct
    ones: a smaller page and fewer bits per row are worth a stream of its own."""
    bufs = d.buffers()
    key = (*(b.address if b is not None else 0 for b in bufs), d.offset, len(d), d.type.id)
    hit = _DICTIONARIES.get(key)
    if hit is not None:
        return hit[0]
    entries = len(d)
    values = d.to_pylist()
    first: dict[Any, int] = {}
    for v in values:
        if v is not None:
            first.setdefault(v, len(first))
    remap = _NONE_I32
    if 2 * len(first) <= len(values) and len(values) > 8:
        remap = np.array([-1 if v is None else first[v] for v in values], dtype=np.int32)
        d = pa.array(list(first), type=d.type)
    elif d.null_count:
        remap = np.where(d.is_null().to_numpy(zero_copy_only=False), -1, np.arange(len(d)))
        remap = remap.astype(np.int32)
    offsets, data = _offsets_data(d)
    body = np.empty(int(offsets[-1] - offsets[0]) + 4 * len(d), dtype=np.uint8)
    _plain_byte_array(offsets, data, _NONE, 0, body)  # a null entry: what its offsets span
    page = _page_header(_DICTIONARY_PAGE, body.size, len(d), _PLAIN) + body.tobytes()
    one = len(d) == 1 and not (remap.size and (remap < 0).any())
    holes = bool(remap.size and (remap < 0).any())
    out = _Dictionary(page, remap, max(1, int(len(d) - 1).bit_length()), len(d), one, holes)
    if entries >= _CACHED_FROM:  # a small one (reasons, departments) is made again
        if len(_DICTIONARIES) >= 64:
            _DICTIONARIES.clear()
        _DICTIONARIES[key] = (out, bufs)
    return out


def _dictionary_values(
    col: pa.DictionaryArray, dic: _Dictionary, shared: dict, mem: _Arena
) -> tuple[list[Any], list[Any]]:
    """(definition levels, RLE_DICTIONARY values) of ``col``; the columns of one batch
    picked by the same indices into pages alike (same positions, same null entries) share
    them."""
    ind = col.indices
    n = len(ind)
    bufs = ind.buffers()
    key = (
        bufs[1].address,
        bufs[0].address if bufs[0] is not None and ind.null_count else 0,
        ind.offset,
        n,
        dic.width,
        dic.positions,
    )
    got = shared.get(key)
    if got is None:
        idx = np.frombuffer(bufs[1], dtype=ind.type.to_pandas_dtype())[ind.offset : ind.offset + n]
        valid, voff = _bits(ind)
        if dic.holes:  # present where the entry has a page position too: entries of its own
            defs = mem.zeros((n + 7) // 8)
            if "holes" not in shared:  # scratch for them, packed at once: one per row group
                shared["holes"] = mem.empty(4 * n).view(np.uint32)
            entries = shared["holes"]
            k = _present_entries(idx, valid, voff, dic.remap, defs, entries)
            remap = _NONE_I32
        else:  # present where the index is valid: levels and entries shared by the columns
            both = key[:4]
            if both not in shared:
                _v, _o, _present, defs = _valid_defs(ind, mem)
                entries = mem.empty(4 * n).view(np.uint32)
                k = _present_entries(idx, valid, voff, _NONE_I32, _NONE, entries)
                shared[both] = (k, entries, defs)
            k, entries, defs = shared[both]
            remap = dic.remap
        out = mem.empty(((k + 7) // 8) * dic.width + 8)
        size = _bit_packed(entries, k, remap, dic.width, out)
        run = bytes([dic.width]) + (_varint(((k + 7) // 8) << 1 | 1) if k else b"")
        got = (_levels(n, k, defs), [run, out[:size]])
        shared[key] = got
    return got


def _plain_values(arr: pa.Array, mem: _Arena) -> tuple[list[Any], list[Any]]:
    """(definition levels, PLAIN values) of a column that is not a dictionary."""
    n = len(arr)
    t = arr.type
    valid, voff, present, defs = _valid_defs(arr, mem)
    levels = _levels(n, present, defs)
    if present == 0:
        return levels, []
    if pa.types.is_boolean(t):
        vals = np.frombuffer(arr.buffers()[1], dtype=np.uint8)
        if present == n and arr.offset % 8 == 0:
            return levels, [vals[arr.offset // 8 : arr.offset // 8 + (n + 7) // 8]]
        out = mem.zeros((present + 7) // 8 + 1)
        _compact_bits(vals, arr.offset, n, valid, voff, out)
        return levels, [out[: (present + 7) // 8]]
    if pa.types.is_floating(t) or pa.types.is_integer(t):
        vals = np.frombuffer(arr.buffers()[1], dtype=t.to_pandas_dtype())
        vals = vals[arr.offset : arr.offset + n]
        if present < n:  # the present values written where they go (as a _Fill)
            words = vals.view(np.uint64)
            return levels, [_Fill(8 * present, lambda out: _compact8(words, valid, voff, out))]
        return levels, [vals]
    return levels, [_byte_array_values(arr, valid, voff, mem)]


def _constant_values(arr: pa.Array, mem: _Arena) -> tuple[bytes, list[Any], list[Any]] | None:
    """A text column of one value (nulls aside) as a dictionary of that value: (dictionary
    page, definition levels, one RLE run of index 0); None when it has other values."""
    offsets, data = _offsets_data(arr)
    valid, voff = _bits(arr)
    if valid.size == 0:  # all the same length, and the bytes repeat with that period
        a, b, c = int(offsets[0]), int(offsets[1]), int(offsets[2])
        if c - b != b - a or not np.array_equal(data[a:b], data[b:c]):
            return None  # (the first two differ: most columns stop here, with no pass)
        ln = int(_same_length(offsets))
        block = data[offsets[0] : offsets[-1]]
        if ln < 0 or (ln and not np.array_equal(block[ln:], block[:-ln])):
            return None
        first = 0
    else:
        first = _constant(offsets, data, valid, voff)
    if first < 0:
        return None
    value = data[offsets[first] : offsets[first + 1]].tobytes()
    body = struct.pack("<I", len(value)) + value
    page = _page_header(_DICTIONARY_PAGE, len(body), 1, _PLAIN) + body
    _valid, _voff, present, defs = _valid_defs(arr, mem)
    return page, _levels(len(arr), present, defs), [b"\x01" + _varint(present << 1) + b"\x00"]


def _wkb_values(x: np.ndarray, y: np.ndarray, mem: _Arena) -> tuple[list[Any], list[Any]]:
    n = len(x)
    x, y = np.ascontiguousarray(x, "<f8"), np.ascontiguousarray(y, "<f8")
    return _levels(n, n, None), [_Fill(25 * n, lambda out: _plain_wkb_points(x, y, out))]


def physical(t: pa.DataType) -> tuple[int, bool] | None:
    """(Parquet physical type, is text) of an answer column type; None if not written here."""
    if pa.types.is_dictionary(t):
        v = t.value_type
        if not (pa.types.is_integer(t.index_type) and (_text(v) or _binary(v))):
            return None
        return _BYTE_ARRAY, _text(v)
    if _text(t):
        return _BYTE_ARRAY, True
    if _binary(t):
        return _BYTE_ARRAY, False
    if pa.types.is_float64(t):
        return _DOUBLE, False
    if pa.types.is_int64(t):
        return _INT64, False
    if pa.types.is_boolean(t):
        return _BOOLEAN, False
    return None


def _text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _binary(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t)


# -- row groups and the file --------------------------------------------------------------


@dataclass
class RowGroup:
    """One row group, encoded (:meth:`ParquetAnswer.prepare`): its bytes from offset 0 and,
    per column, its ``ColumnMetaData`` up to field 7 and the dictionary and data page
    offsets in ``data`` (-1: no dictionary page)."""

    data: bytes | memoryview
    rows: int
    columns: list[tuple[bytes, int, int]]
    #: ``data`` is a view of a buffer of the pool from its 4th byte on: the file's first
    #: row group is sent with ``PAR1`` written before it there (not copied behind it).
    head_room: bool = False


#: Scratch kept between row groups up to this size (a 100 k-row chunk takes ~5 MB).
_SPARE_MAX = 64 << 20


def _len(part: Any) -> int:
    if isinstance(part, np.ndarray):
        return part.nbytes
    return part.size if isinstance(part, _Fill) else len(part)


def _joined(parts: list[Any], size: int, pool: Any) -> memoryview:
    """``parts`` (bytes, uint8 arrays or :class:`_Fill`) one after the other in a buffer
    of ``pool`` (in order: a fill may move bytes past its end that the next part then
    overwrites), after 4 bytes left for ``PAR1``: a view of those ``size`` bytes."""
    out = pool.take(size + len(MAGIC))
    at = len(MAGIC)
    small: list[bytes] = []  # headers, levels, runs: copied as one (fewer numpy steps)
    for p in parts:
        if type(p) is bytes and len(p) < 4096:
            small.append(p)
            continue
        if small:
            joined = b"".join(small)
            out[at : at + len(joined)] = np.frombuffer(joined, np.uint8)
            at += len(joined)
            small.clear()
        n = _len(p)
        if isinstance(p, _Fill):
            p.fill(out[at : at + n])
        else:
            out[at : at + n] = np.frombuffer(p, np.uint8)  # the bytes (doubles: not values)
        at += n
    if small:
        joined = b"".join(small)
        out[at : at + len(joined)] = np.frombuffer(joined, np.uint8)
    return memoryview(out)[len(MAGIC) : len(MAGIC) + size]


def _filled(parts: list[Any], mem: _Arena) -> list[Any]:
    """``parts`` with each :class:`_Fill` written into scratch (for ``b"".join``)."""
    out = []
    for p in parts:
        if isinstance(p, _Fill):
            buf = mem.empty(p.size)
            p.fill(buf)
            p = buf
        out.append(p)
    return out


class ParquetAnswer:
    """A Parquet file written row group by row group; ``prepare`` is stateless (any thread),
    ``write`` takes the row groups in order, ``close`` gives the footer.

    Parameters
    ----------
    schema
        The columns (every type :func:`physical` knows).
    metadata
        Key-value metadata of the file (the GeoParquet ``geo``).
    """

    def __init__(self, schema: pa.Schema, metadata: dict[str, str] | None = None) -> None:
        self.schema = schema
        self.kinds = []
        for f in schema:
            kind = physical(f.type)
            if kind is None:
                raise TypeError(f"{f.name}: {f.type} is not written as Parquet here")
            self.kinds.append(kind)
        self.paths = [_bin(f.name.encode()) for f in schema]
        #: the columns of text or bytes, not dictionaries (their size is the slice's)
        self.byte_arrays = [i for i, f in enumerate(schema) if _text(f.type) or _binary(f.type)]
        #: per column: a dictionary column, a text or bytes one (looked up once, not per
        #: row group: the row groups' columns are of the schema's types)
        self.forms = [
            (pa.types.is_dictionary(f.type), i in self.byte_arrays) for i, f in enumerate(schema)
        ]
        self.metadata = metadata or {}
        self.offset = 0
        self.rows = 0
        self.groups: list[bytes] = []
        self.spare: list[_Arena] = []
        self.heads: dict[tuple[bytes, bool], bytes] = {}

    @staticmethod
    def _column(
        col: Any, form: tuple[bool, bool], shared: dict, mem: _Arena
    ) -> tuple[int, bytes | None, list[Any], list[Any]]:
        """(rows, dictionary page or None, definition levels, values) of one column;
        ``form``: (a dictionary column, a text or bytes one)."""
        if isinstance(col, tuple):  # ("wkb_xy", x, y)
            return (len(col[1]), None, *_wkb_values(col[1], col[2], mem))
        if isinstance(col, RowNumbers):
            return (len(col), None, *_row_number_values(col))
        n = len(col)
        if form[0]:
            d = col.dictionary
            dic = _dictionary(d) if len(d) else None
            if dic is None or dic.entries == 0:  # no entry, or only null ones: all null
                return (n, None, _levels(n, 0, None), [])
            if dic.one:  # rows null where their index is, else the one entry: no pass
                _v, _o, present, defs = _valid_defs(col.indices, mem)
                run = b"\x01" + _varint(present << 1) + b"\x00" if present else b"\x01"
                return (n, dic.page, _levels(n, present, defs), [run])
            return (n, dic.page, *_dictionary_values(col, dic, shared, mem))
        if n > 1 and form[1] and col.null_count < n:
            one = _constant_values(col, mem)  # (all null: written as such, no pass)
            if one is not None:
                return (n, *one)
        return (n, None, *_plain_values(col, mem))

    def _meta_head(self, ptype: int, path: bytes, dictionary: bool) -> bytes:
        """``ColumnMetaData`` fields 1 to 4 (type, encodings, path, codec)."""
        got = self.heads.get((path, dictionary))
        if got is not None:
            return got
        encs = (_PLAIN, _RLE, _RLE_DICTIONARY) if dictionary else (_RLE, _PLAIN)
        meta = (
            _Struct()
            .i32(1, ptype)
            .list(2, _T_I32, [_zigzag(e) for e in encs])
            .list(3, _T_BINARY, [path])
            .i32(4, 0)
        )
        self.heads[(path, dictionary)] = bytes(meta.buf)
        return self.heads[(path, dictionary)]

    def _arena(self, columns: list[Any]) -> _Arena:
        """Scratch for a row group of ``columns``: a kept one when large enough."""
        n = max((len(c[1]) if isinstance(c, tuple) else len(c) for c in columns), default=0)
        size = 1024 + 48 * n  # the geometry, the doubles, the levels and indices
        for i in self.byte_arrays:
            c = columns[i]
            if not isinstance(c, tuple | RowNumbers) and len(c):
                offsets, _data = _offsets_data(c)  # this slice's bytes, not its buffer's
                size += int(offsets[-1] - offsets[0]) + 4 * n + 8
        try:
            mem = self.spare.pop()
        except IndexError:
            return _Arena(size)
        mem.at = 0
        return mem if mem.buf.size >= size else _Arena(size)

    def prepare(self, columns: list[Any], pool: Any = None) -> RowGroup:
        """The row group of ``columns`` (Arrow arrays, one per schema field; the geometry
        may be given as ``("wkb_xy", x, y)``: 21-byte WKB points of x, y built here; a
        text column of row numbers as :class:`RowNumbers`).

        ``pool``: a :class:`~gridgeo.locate.csvout.BufferPool` the row group's bytes are
        joined into (``RowGroup.data`` is then a memoryview of one of its buffers, reused
        once released: no fresh memory per row group); else they are new bytes."""
        parts: list[Any] = []
        metas: list[tuple[bytes, int, int]] = []
        at = 0
        shared: dict = {}
        rows = 0
        mem = self._arena(columns)
        tails: dict[int, tuple[bytes, bytes]] = {}  # per row count: page header and meta ends
        for f, (ptype, _text), path, col, form in zip(
            self.schema, self.kinds, self.paths, columns, self.forms, strict=True
        ):
            rows, page, levels, values = self._column(col, form, shared, mem)
            dict_at = -1
            if page is not None:
                dict_at = at
                parts.append(page)
                at += len(page)
            if not f.nullable:
                levels = []
            body = 0
            for p in levels:
                body += _len(p)
            for p in values:
                body += _len(p)
            ends = tails.get(rows)
            if ends is None:
                ends = tails[rows] = _data_page_ends(rows)
            z = _zigzag(body)
            # a DATA_PAGE header (as _page_header writes it), its encoding's ending
            head = b"\x15\x00\x15" + z + b"\x15" + z + ends[0 if page is None else 1]
            parts.append(head)
            parts += levels
            parts += values
            data_at = at
            at += len(head) + body
            size = at - (data_at if dict_at < 0 else dict_at)
            z = _zigzag(size)
            meta = self._meta_head(ptype, path, page is not None)
            meta += ends[2] + z + b"\x16" + z  # fields 5, 6, 7
            metas.append((meta, dict_at, data_at))
        data = b"".join(_filled(parts, mem)) if pool is None else _joined(parts, at, pool)
        del parts, shared
        if mem.buf.size <= _SPARE_MAX and len(self.spare) < 2:
            self.spare.append(mem)  # (list append / pop: atomic, no lock)
        return RowGroup(data, rows, metas, head_room=pool is not None)

    def write(self, group: RowGroup) -> bytes:
        """The bytes of ``group`` in the file (in order); its footer entry kept for close."""
        head = MAGIC if self.offset == 0 else b""
        if self.offset == 0:
            self.offset = len(MAGIC)
        if group.rows == 0:
            return head
        base = self.offset
        chunks = []
        for meta, dict_at, data_at in group.columns:
            # ColumnChunk {2: file_offset 0, 3: ColumnMetaData {…, 9: data_page_offset,
            # 11: dictionary_page_offset}}: fields 9 and 11 each 2 after the one before
            tail = b"\x26" + _zigzag(base + data_at)
            if dict_at >= 0:
                tail += b"\x26" + _zigzag(base + dict_at)
            chunks.append(b"\x26\x00\x1c" + meta + tail + b"\x00\x00")
        size = len(group.data)
        rg = (
            _Struct()
            .list(1, _T_STRUCT, chunks)
            .i64(2, size)
            .i64(3, group.rows)
            .i64(5, base)
            .i64(6, size)
            .i16(7, len(self.groups))
            .end()
        )
        self.groups.append(rg)
        self.rows += group.rows
        self.offset += size
        if head and group.head_room:  # PAR1 into the 4 bytes before the data: no copy
            room = group.data.obj  # type: ignore[union-attr]
            room[: len(MAGIC)] = np.frombuffer(MAGIC, np.uint8)
            return memoryview(room)[: len(MAGIC) + size]
        return head + group.data if head else group.data

    def _schema(self) -> list[bytes]:
        out = [_Struct().i32(3, _REQUIRED).binary(4, b"schema").i32(5, len(self.schema)).end()]
        for f, (ptype, text) in zip(self.schema, self.kinds, strict=True):
            s = _Struct().i32(1, ptype).i32(3, _OPTIONAL if f.nullable else _REQUIRED)
            s.binary(4, f.name.encode())
            if text:
                s.i32(6, _UTF8).struct(10, _Struct().struct(1, b"\x00").end())
            out.append(s.end())
        return out

    def close(self) -> bytes:
        """The footer (and ``PAR1`` first when no row group was written)."""
        head = MAGIC if self.offset == 0 else b""
        kv = [
            _Struct().binary(1, k.encode()).binary(2, v.encode()).end()
            for k, v in self.metadata.items()
        ]
        order = _Struct().struct(1, b"\x00").end()  # ColumnOrder.TYPE_ORDER
        meta = (
            _Struct()
            .i32(1, 2)
            .list(2, _T_STRUCT, self._schema())
            .i64(3, self.rows)
            .list(4, _T_STRUCT, self.groups)
        )
        if kv:
            meta.list(5, _T_STRUCT, kv)
        meta.binary(6, CREATED_BY.encode())
        meta.list(7, _T_STRUCT, [order] * len(self.schema))
        footer = meta.end()
        return head + footer + struct.pack("<I", len(footer)) + MAGIC
