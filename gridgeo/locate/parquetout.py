"""The batch answer's GeoParquet, written directly: pages, column chunks and footer.

pyarrow's ``ParquetWriter`` took ~0.24 s of CPU per 1 M answer rows, serially, most of it
in per-row work: definition levels, dictionary indices and validity bits, column by
column, although the eleven per-grid columns (grid code, name, type, community, head and
worker …) are all picked by ONE per-row grid index. Here each such column is written as a
dictionary column whose dictionary page holds *every* entry of the Arrow dictionary in its
own order (a grid's community repeated for each of its grids; a null entry written as an
empty string that no row points at): duplicate and unused dictionary entries are legal
Parquet, and readers give the same strings. All the columns picked by one index array
(and whose dictionaries have their null entries at the same positions) then have the same
definition levels and the same RLE/bit-packed index stream: encoded once (a compiled pass)
and copied. Doubles, booleans and byte arrays are PLAIN (the last as 4-byte length plus
bytes). The dictionary pages are made once per dictionary (a snapshot's grid columns are
the same arrays for every chunk) and copied into each row group.

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

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numba import njit

MAGIC = b"PAR1"

# parquet.thrift enums
_BOOLEAN, _INT32, _INT64, _DOUBLE, _BYTE_ARRAY = 0, 1, 2, 5, 6
_PLAIN, _RLE, _RLE_DICTIONARY = 0, 3, 8
_DATA_PAGE, _DICTIONARY_PAGE = 0, 2
_REQUIRED, _OPTIONAL = 0, 1
_UTF8 = 0

# Thrift compact protocol type ids
_T_TRUE, _T_FALSE, _T_I16, _T_I32, _T_I64, _T_BINARY, _T_LIST, _T_STRUCT = 1, 2, 4, 5, 6, 8, 9, 12

CREATED_BY = "gridgeo parquetout (parquet-format 2.6)"


# -- Thrift compact protocol (writing only: the few structs above) ------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _zigzag(n: int) -> bytes:
    return _varint((n << 1) ^ (n >> 63))


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

    def boolean(self, fid: int, v: bool) -> _Struct:
        self._head(fid, _T_TRUE if v else _T_FALSE)
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
    """A ``PageHeader`` of an uncompressed data page (v1) or dictionary page."""
    s = _Struct().i32(1, kind).i32(2, size).i32(3, size)
    if kind == _DATA_PAGE:
        inner = _Struct().i32(1, num_values).i32(2, encoding).i32(3, _RLE).i32(4, _RLE).end()
        s.struct(5, inner)
    else:
        s.struct(7, _Struct().i32(1, num_values).i32(2, encoding).boolean(3, False).end())
    return s.end()


# -- compiled encoders (no GIL: a batch answer prepares its chunks on both cores) --------


@njit(cache=True, nogil=True)
def _bit(bits: np.ndarray, i: int) -> bool:
    return (bits[i >> 3] >> (i & 7)) & 1 == 1


@njit(cache=True, nogil=True)
def _dictionary_stream(
    idx: np.ndarray,
    valid: np.ndarray,
    voff: int,
    null_entry: np.ndarray,
    width: int,
    defs: np.ndarray,
    out: np.ndarray,
) -> tuple[int, int]:
    """Definition bits (into ``defs``, zeroed) and one bit-packed run of the present rows'
    indices (into ``out``; padded to a multiple of 8 values): (present rows, bytes).

    A row is present where its validity bit is set (``valid`` empty: all) and its entry is
    not null (``null_entry`` empty: none is)."""
    n = idx.size
    has_valid = valid.size > 0
    has_null = null_entry.size > 0
    acc = np.uint64(0)
    nbits = 0
    pos = 0
    k = 0
    for i in range(n):
        if has_valid and not _bit(valid, voff + i):
            continue
        v = idx[i]
        if has_null and null_entry[v]:
            continue
        defs[i >> 3] |= np.uint8(1 << (i & 7))
        acc |= np.uint64(v) << np.uint64(nbits)
        nbits += width
        while nbits >= 8:
            out[pos] = np.uint8(acc & np.uint64(0xFF))
            acc >>= np.uint64(8)
            nbits -= 8
            pos += 1
        k += 1
    nbits += ((8 - k % 8) % 8) * width
    while nbits > 0:
        out[pos] = np.uint8(acc & np.uint64(0xFF))
        acc >>= np.uint64(8)
        nbits -= 8
        pos += 1
    return k, pos


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
def _present_bits(defs: np.ndarray, valid: np.ndarray, voff: int, n: int) -> int:
    """Copy ``n`` validity bits from bit ``voff`` into ``defs`` (zeroed): set bits."""
    k = 0
    for i in range(n):
        if _bit(valid, voff + i):
            defs[i >> 3] |= np.uint8(1 << (i & 7))
            k += 1
    return k


@njit(cache=True, nogil=True)
def _compact8(vals: np.ndarray, valid: np.ndarray, voff: int, out: np.ndarray) -> int:
    """The 8-byte values of the present rows, in order: how many."""
    k = 0
    for i in range(vals.size):
        if _bit(valid, voff + i):
            out[k] = vals[i]
            k += 1
    return k


@njit(cache=True, nogil=True)
def _compact_bits(
    bits: np.ndarray, boff: int, n: int, valid: np.ndarray, voff: int, out: np.ndarray
) -> int:
    """The booleans (bits from ``boff``) of the present rows bit-packed LSB first (PLAIN
    BOOLEAN): how many (``valid`` empty: all rows)."""
    has_valid = valid.size > 0
    k = 0
    for i in range(n):
        if has_valid and not _bit(valid, voff + i):
            continue
        if _bit(bits, boff + i):
            out[k >> 3] |= np.uint8(1 << (k & 7))
        k += 1
    return k


@njit(cache=True, nogil=True)
def _plain_wkb_points(x: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    """PLAIN byte arrays of 21-byte little-endian WKB points (length 21, then the WKB)."""
    xb = x.view(np.uint8)
    yb = y.view(np.uint8)
    for i in range(x.size):
        p = 25 * i
        out[p] = 21
        out[p + 1] = 0
        out[p + 2] = 0
        out[p + 3] = 0
        out[p + 4] = 1
        out[p + 5] = 1
        out[p + 6] = 0
        out[p + 7] = 0
        out[p + 8] = 0
        for j in range(8):
            out[p + 9 + j] = xb[8 * i + j]
            out[p + 17 + j] = yb[8 * i + j]


# -- columns ------------------------------------------------------------------------------

_NONE = np.zeros(0, dtype=np.uint8)


def _bits(arr: pa.Array) -> tuple[np.ndarray, int]:
    """The validity bitmap of ``arr`` (empty when it has no null) and its bit offset."""
    buf = arr.buffers()[0]
    if arr.null_count == 0 or buf is None:
        return _NONE, 0
    return np.frombuffer(buf, dtype=np.uint8), arr.offset


def _levels(n: int, present: int, defs: np.ndarray | None) -> bytes:
    """Definition levels (v1: 4-byte length, then the hybrid of bit width 1)."""
    if present == n or present == 0:
        body = _varint(n << 1) + (b"\x01" if present == n else b"\x00")
    else:
        assert defs is not None
        body = _varint(((n + 7) // 8) << 1 | 1) + defs.tobytes()
    return struct.pack("<I", len(body)) + body


def _valid_defs(valid: np.ndarray, voff: int, n: int) -> tuple[int, np.ndarray | None]:
    if valid.size == 0:
        return n, None
    if voff % 8 == 0:
        defs = valid[voff // 8 : voff // 8 + (n + 7) // 8].copy()
        if n % 8:
            defs[-1] &= (1 << (n % 8)) - 1
        return int(np.unpackbits(defs, bitorder="little").sum()), defs
    defs = np.zeros((n + 7) // 8, dtype=np.uint8)
    return _present_bits(defs, valid, voff, n), defs


def _offsets_data(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    large = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64 if large else np.int32)
    offsets = offsets[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else _NONE
    return offsets, data


def _byte_array_values(arr: pa.Array, valid: np.ndarray, voff: int) -> bytes:
    offsets, data = _offsets_data(arr)
    if len(arr) == 0:
        return b""
    out = np.empty(int(offsets[-1] - offsets[0]) + 4 * len(arr), dtype=np.uint8)
    _k, size = _plain_byte_array(offsets, data, valid, voff, out)
    return out[:size].tobytes()


@dataclass
class _Dictionary:
    """A dictionary page (header and body) and the entries that are null."""

    page: bytes
    entries: int
    null_entry: np.ndarray  # uint8 per entry, or empty when none is null
    width: int  # bit width of the indices


_DICTIONARIES: dict[tuple, tuple[_Dictionary, Any]] = {}


def _dictionary(d: pa.Array) -> _Dictionary:
    """The dictionary page of ``d``, cached by buffer (a snapshot's grid columns are the
    same arrays for every chunk; the buffers are kept alive with the entry)."""
    bufs = d.buffers()
    key = (*(b.address if b is not None else 0 for b in bufs), d.offset, len(d), str(d.type))
    hit = _DICTIONARIES.get(key)
    if hit is not None:
        return hit[0]
    body = _byte_array_values(d, _NONE, 0)  # null entries as whatever their offsets span
    null_entry = (
        np.asarray(d.is_null().to_numpy(zero_copy_only=False), dtype=np.uint8)
        if d.null_count
        else _NONE
    )
    page = _page_header(_DICTIONARY_PAGE, len(body), len(d), _PLAIN) + body
    out = _Dictionary(page, len(d), null_entry, max(1, int(len(d) - 1).bit_length()))
    if len(_DICTIONARIES) >= 256:
        _DICTIONARIES.clear()
    _DICTIONARIES[key] = (out, bufs)
    return out


def _dictionary_values(
    col: pa.DictionaryArray, dic: _Dictionary, shared: dict
) -> tuple[int, bytes, bytes]:
    """(present rows, definition levels, RLE_DICTIONARY values) of ``col``; the columns of
    one batch picked by the same indices (and with null entries alike) share them."""
    ind = col.indices
    n = len(ind)
    bufs = ind.buffers()
    key = (
        bufs[1].address,
        bufs[0].address if bufs[0] is not None and ind.null_count else 0,
        ind.offset,
        n,
        dic.null_entry.tobytes(),
    )
    got = shared.get(key)
    if got is None:
        idx = np.frombuffer(bufs[1], dtype=ind.type.to_pandas_dtype())[ind.offset : ind.offset + n]
        valid, voff = _bits(ind)
        defs = np.zeros((n + 7) // 8, dtype=np.uint8)
        out = np.empty(((n + 7) // 8) * dic.width, dtype=np.uint8)
        k, size = _dictionary_stream(idx, valid, voff, dic.null_entry, dic.width, defs, out)
        run = bytes([dic.width]) + (_varint(((k + 7) // 8) << 1 | 1) if k else b"")
        got = (k, _levels(n, k, defs), run + out[:size].tobytes())
        shared[key] = got
    return got


def _plain_values(arr: pa.Array) -> tuple[int, bytes, bytes]:
    """(present rows, definition levels, PLAIN values) of a column that is not a dictionary."""
    n = len(arr)
    t = arr.type
    valid, voff = _bits(arr)
    present, defs = _valid_defs(valid, voff, n)
    if present == 0:
        return 0, _levels(n, 0, None), b""
    if pa.types.is_boolean(t):
        out = np.zeros((present + 7) // 8, dtype=np.uint8)
        vals = np.frombuffer(arr.buffers()[1], dtype=np.uint8)
        _compact_bits(vals, arr.offset, n, valid, voff, out)
        return present, _levels(n, present, defs), out.tobytes()
    if pa.types.is_floating(t) or pa.types.is_integer(t):
        vals = np.frombuffer(arr.buffers()[1], dtype=t.to_pandas_dtype())
        vals = vals[arr.offset : arr.offset + n]
        if present < n:
            out = np.empty(present, dtype=vals.dtype)
            _compact8(vals.view(np.uint64), valid, voff, out.view(np.uint64))
            vals = out
        return present, _levels(n, present, defs), vals.tobytes()
    return present, _levels(n, present, defs), _byte_array_values(arr, valid, voff)


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
    per column, (num_values, encodings, dictionary page offset or -1, data page offset,
    size), all relative to the row group's start."""

    data: bytes
    rows: int
    columns: list[tuple[int, tuple[int, ...], int, int, int]]


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
        self.metadata = metadata or {}
        self.offset = 0
        self.rows = 0
        self.groups: list[bytes] = []

    def prepare(self, columns: list[Any]) -> RowGroup:
        """The row group of ``columns`` (Arrow arrays, one per schema field; the geometry
        may be given as ``("wkb_xy", x, y)``: 21-byte WKB points built here)."""
        parts: list[bytes] = []
        metas: list[tuple[int, tuple[int, ...], int, int, int]] = []
        at = 0
        shared: dict = {}
        rows = 0
        for f, col in zip(self.schema, columns, strict=True):
            dict_at = -1
            if isinstance(col, tuple):
                _tag, x, y = col
                n = present = len(x)
                levels = _levels(n, n, None)
                out = np.empty(25 * n, dtype=np.uint8)
                _plain_wkb_points(np.ascontiguousarray(x, "<f8"), np.ascontiguousarray(y, "<f8"), out)
                values, enc = out.tobytes(), (_RLE, _PLAIN)
                encoding = _PLAIN
            elif pa.types.is_dictionary(col.type) and len(col.dictionary):
                n = len(col)
                dic = _dictionary(col.dictionary)
                present, levels, values = _dictionary_values(col, dic, shared)
                dict_at = at
                parts.append(dic.page)
                at += len(dic.page)
                enc, encoding = (_PLAIN, _RLE, _RLE_DICTIONARY), _RLE_DICTIONARY
            else:
                if pa.types.is_dictionary(col.type):  # no entry: every row null
                    col = pa.nulls(len(col), col.type.value_type)
                n = len(col)
                present, levels, values = _plain_values(col)
                enc, encoding = (_RLE, _PLAIN), _PLAIN
            rows = n
            if not f.nullable:
                levels = b""
            body = len(levels) + len(values)
            head = _page_header(_DATA_PAGE, body, n, encoding)
            parts += (head, levels, values)
            data_at = at
            at += len(head) + body
            start = dict_at if dict_at >= 0 else data_at
            metas.append((n, enc, dict_at, data_at, at - start))
        return RowGroup(b"".join(parts), rows, metas)

    def write(self, group: RowGroup) -> bytes:
        """The bytes of ``group`` in the file (in order); its footer entry kept for close."""
        head = MAGIC if self.offset == 0 else b""
        if self.offset == 0:
            self.offset = len(MAGIC)
        if group.rows == 0:
            return head
        base = self.offset
        chunks = []
        for f, (ptype, _txt), (n, enc, dict_at, data_at, size) in zip(
            self.schema, self.kinds, group.columns, strict=True
        ):
            meta = (
                _Struct()
                .i32(1, ptype)
                .list(2, _T_I32, [_zigzag(e) for e in enc])
                .list(3, _T_BINARY, [_bin(f.name.encode())])
                .i32(4, 0)
                .i64(5, n)
                .i64(6, size)
                .i64(7, size)
                .i64(9, base + data_at)
            )
            if dict_at >= 0:
                meta.i64(11, base + dict_at)
            chunks.append(_Struct().i64(2, 0).struct(3, meta.end()).end())
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
        return head + group.data if head else group.data

    def _schema(self) -> list[bytes]:
        out = [
            _Struct()
            .i32(3, _REQUIRED)
            .binary(4, b"schema")
            .i32(5, len(self.schema))
            .end()
        ]
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
