"""CSV of a located chunk, byte for byte what ``pyarrow.csv.write_csv`` writes, compiled.

``write_csv`` formats every float with a shortest round-trip conversion and expands
every dictionary column row by row: ~5 s per million answer rows, most of a CSV batch.
Here dictionary columns (grid, community, contacts, department, reason) are quoted once
per dictionary entry and copied per row; floats with at most 15 significant digits
between 1e-4 and 1e9 (every rounded distance; coordinates as people type them) are
written by an exact fixed-point rule that gives the same shortest text; the rest are
formatted by pyarrow. Longitude/latitude read from a CSV body can be echoed as sent
(``raw=``): plain number text is copied, anything else is formatted from the value; a
body's whole lines ``lon,lat`` (``raw={"lon,lat": lines}``, every value plain number
text) are copied as the two cells, less their line ends; the batch answer to such a
body is written by one row kernel (:func:`_assemble_lines`), its distances formatted
in it.

Output rules (pyarrow's defaults): a quoted header, strings quoted with ``"`` doubled,
nulls empty, numbers and booleans bare, ``\\n`` line ends.
"""

from __future__ import annotations

import math
import sys
import threading
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit
from numba.core import cgutils, types
from numba.extending import intrinsic

__all__ = ["BufferPool", "csv_buffer", "csv_bytes", "format_floats"]

_POW10 = np.array([10.0**k for k in range(16)])


@njit(cache=True, nogil=True, inline="always")
def _thousandths(a):  # pragma: no cover - compiled
    """``m`` with ``a == m / 1000`` exactly when ``1e-4 <= a < 1e9`` and ``a`` has at most
    3 decimals (every rounded distance), else -1: integer arithmetic only."""
    if not (1e-4 <= a < 1e9):
        return -1
    m3 = math.floor(a * 1000.0 + 0.5)
    if m3 > 0 and m3 / 1000.0 == a:
        return m3
    return -1


@njit(cache=True, nogil=True, inline="always")
def _fixed_digits(v, pow10):  # pragma: no cover - compiled
    """(m, k) with |v| == m / 10**k exactly, k minimal, m < 1e15; (-1, 0) when none."""
    a = abs(v)
    # Fast path, at most 3 decimals: when m3 / 1000 == a, the loop below stops at some
    # k <= 3 with m3 == m * 10**(3 - k) (distinct 3-decimal numbers below 1e9 are far
    # more than an ulp apart), so the answer is m3 without its trailing zeros: the same
    # (m, k) without a division per k.
    m3 = _thousandths(a)
    if m3 > 0:
        m = int(m3)
        k = 3
        while k > 0 and m % 10 == 0:
            m //= 10
            k -= 1
        return m, k
    if not (1e-4 <= a < 1e9):
        return -1, 0
    for k in range(16):
        s = a * pow10[k]
        if s >= 1e15:
            return -1, 0
        m = math.floor(s + 0.5)
        if m / pow10[k] == a:
            return int(m), k
    return -1, 0


@njit(cache=True, nogil=True, inline="always")
def _fixed_len(v, m, k):  # pragma: no cover - compiled
    n = 1 if v < 0 else 0
    ip = m
    for _ in range(k):
        ip //= 10
    d = 1
    while ip >= 10:
        ip //= 10
        d += 1
    return n + d + (k + 1 if k > 0 else 0)


@njit(cache=True, nogil=True, inline="always")
def _fixed_write(v, m, k, out, pos, width):  # pragma: no cover - compiled
    end = pos + width
    p = end - 1
    for _ in range(k):
        out[p] = 48 + m % 10
        m //= 10
        p -= 1
    if k > 0:
        out[p] = 46  # "."
        p -= 1
    while True:
        out[p] = 48 + m % 10
        m //= 10
        p -= 1
        if m == 0:
            break
    if v < 0:
        out[p] = 45  # "-"


#: ``ks[i]`` of a value written by :func:`_milli_write` (its decimals added).
_MILLI = 16


@njit(cache=True, nogil=True, inline="always")
def _milli_len(neg, m3):  # pragma: no cover - compiled
    """(length, decimals) of the shortest text of ``m3 / 1000`` (``m3 > 0``), as
    :func:`_fixed_len` gives it, with a comparison per digit instead of a division."""
    ip = m3 // 1000
    f = m3 - ip * 1000
    k = 0 if f == 0 else (1 if f % 100 == 0 else (2 if f % 10 == 0 else 3))
    d, t = 1, 10
    while ip >= t:
        d += 1
        t *= 10
    return neg + d + (k + 1 if k > 0 else 0), k


@njit(cache=True, nogil=True, inline="always")
def _milli_write(neg, m3, k, out, pos, width):  # pragma: no cover - compiled
    """Write the text :func:`_milli_len` measured (``k`` decimals): the digits of
    ``m3 / 1000`` without its ``3 - k`` trailing zeros, by :func:`_fixed_write`."""
    d = 1
    for _ in range(3 - k):
        d *= 10
    _fixed_write(-1 if neg else 1, m3 // d, k, out, pos, width)


@njit(cache=True, nogil=True)
def _format_floats(values, valid, raw_off, raw_data, pow10):  # pragma: no cover - compiled
    """Text per value; ``ok[i]`` False where pyarrow must format it (value and raw unusable)."""
    n = values.size
    use_raw = raw_off.size == n + 1
    off = np.empty(n + 1, np.int64)  # each text's length first added up here: no lengths array
    off[0] = 0
    ms = np.empty(n, np.int64)
    ks = np.empty(n, np.int8)
    ok = np.ones(n, np.bool_)
    raw = np.zeros(n, np.bool_)
    for i in range(n):
        off[i + 1] = off[i]
        if not valid[i]:
            continue
        if use_raw:
            a, b = np.uint64(raw_off[i]), np.uint64(raw_off[i + 1])
            plain = b > a
            while a < b:  # unsigned indices: no negative-index checks
                c = raw_data[a]
                if not ((48 <= c <= 57) or c == 46 or c == 45 or c == 43 or c == 101 or c == 69):
                    plain = False
                    break
                a += np.uint64(1)
            if plain:
                raw[i] = True
                off[i + 1] += raw_off[i + 1] - raw_off[i]
                continue
        v = values[i]
        if v == 0.0:
            off[i + 1] += 2 if math.copysign(1.0, v) < 0 else 1
            continue
        m3 = _thousandths(abs(v))
        if m3 > 0:  # at most 3 decimals (every rounded distance): integers only
            ms[i] = int(m3)
            ln, k = _milli_len(1 if v < 0 else 0, ms[i])
            off[i + 1] += ln
            ks[i] = k + _MILLI
            continue
        m, k = _fixed_digits(v, pow10)
        if m < 0:
            ok[i] = False
            continue
        ms[i], ks[i] = m, k
        off[i + 1] += _fixed_len(v, m, k)
    data = np.empty(off[n], np.uint8)
    for i in range(n):
        if not valid[i] or not ok[i]:
            continue
        p = off[i]
        width = off[i + 1] - p
        if raw[i]:
            a, b, q = np.uint64(raw_off[i]), np.uint64(raw_off[i + 1]), np.uint64(p)
            while a < b:
                data[q] = raw_data[a]
                a += np.uint64(1)
                q += np.uint64(1)
        elif values[i] == 0.0:
            if width == 2:
                data[p] = 45
                data[p + 1] = 48
            else:
                data[p] = 48
        elif ks[i] >= _MILLI:
            _milli_write(values[i] < 0, ms[i], ks[i] - _MILLI, data, p, width)
        else:
            _fixed_write(values[i], ms[i], ks[i], data, p, width)
    return off, data, ok


@njit(cache=True, nogil=True)
def _merge(off, data, ok, fb_off, fb_data):  # pragma: no cover - compiled
    """Put the fallback texts (in order) into the rows where ``ok`` is False."""
    n = ok.size
    out_off = np.zeros(n + 1, np.int64)
    f = 0
    for i in range(n):
        if ok[i]:
            ln = off[i + 1] - off[i]
        else:
            ln = fb_off[f + 1] - fb_off[f]
            f += 1
        out_off[i + 1] = out_off[i] + ln
    out = np.empty(out_off[n], np.uint8)
    f = 0
    for i in range(n):
        p = out_off[i]
        if ok[i]:
            a, ln = off[i], off[i + 1] - off[i]
            src = data
        else:
            a, ln = fb_off[f], fb_off[f + 1] - fb_off[f]
            src = fb_data
            f += 1
        for j in range(ln):
            out[p + j] = src[a + j]
    return out_off, out


def _string_parts(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offsets int64 from 0, data uint8, valid bool) of a string array (its bytes not
    copied: a ``string`` array's int32 offsets are widened, no cast to ``large_string``)."""
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = arr.cast(pa.large_string())
    n = len(arr)
    bufs = arr.buffers()
    if bufs[1] is None:  # all null
        return np.zeros(n + 1, np.int64), np.empty(0, np.uint8), np.zeros(n, np.bool_)
    wide = pa.types.is_large_string(arr.type)
    off = np.frombuffer(bufs[1], dtype=np.int64 if wide else np.int32)[
        arr.offset : arr.offset + n + 1
    ]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.empty(0, np.uint8)
    data = data[off[0] : off[-1]] if n else data[:0]
    valid = _valid(arr)
    return (off - off[0]).astype(np.int64), data, valid


def _valid(arr: pa.Array) -> np.ndarray:
    """Whether each entry is valid: the validity bits unpacked by numpy (Arrow's
    ``is_valid().to_numpy()`` converts bool by bool)."""
    n, nulls = len(arr), arr.null_count
    if nulls == 0 or nulls == n:
        return np.full(n, nulls == 0, np.bool_)
    bits = np.frombuffer(arr.buffers()[0], np.uint8)
    return np.unpackbits(bits, count=arr.offset + n, bitorder="little")[arr.offset :].view(np.bool_)


def _codes(ind: pa.Array, null: int) -> np.ndarray:
    """Integer dictionary indices (or 0/1 bytes) as int32, ``null`` where null: a view of
    their buffer converted by numpy, the nulls set by one compiled pass over the validity
    bits (no mask array, no Arrow ``fill_null``)."""
    n = len(ind)
    data = np.frombuffer(ind.buffers()[1], ind.type.to_pandas_dtype())[ind.offset : ind.offset + n]
    if not ind.null_count:
        return data.astype(np.int32)
    if ind.null_count == n:
        return np.full(n, null, np.int32)
    out = data.astype(np.int32)  # one kernel signature for int8, int16 and int32 indices
    _fill_nulls(out, np.frombuffer(ind.buffers()[0], np.uint8), ind.offset, null)
    return out


@njit(cache=True, nogil=True)
def _fill_nulls(out, bits, start, null):  # pragma: no cover - compiled
    """``out[i] = null`` where bit ``start + i`` of ``bits`` is 0."""
    for i in range(out.size):
        j = start + i
        if not (bits[j >> 3] >> (j & 7)) & 1:
            out[i] = null


def format_floats(values: pa.Array, raw: pa.Array | None = None) -> pa.Array:
    """A float64 column as pyarrow's CSV text of each value (null stays null).

    Parameters
    ----------
    values
        float64 array.
    raw
        Optional text as received (same length): copied where it is plain number text.

    Returns
    -------
    pyarrow.LargeStringArray
    """
    n = len(values)
    valid = _valid(values)
    if raw is not None and values.null_count == 0 and raw.null_count == 0 and n:
        plain = _plain_text(raw)
        if plain is not None:  # every value sent as plain number text: echoed as it is
            return plain
    # the values' buffer as it is: a null's slot holds any number, never read
    buf = values.buffers()[1]
    vals = (
        np.frombuffer(buf, np.float64)[values.offset : values.offset + n]
        if buf is not None
        else np.zeros(n)
    )
    if raw is not None:
        roff, rdata, rvalid = _string_parts(raw)
        valid_raw = roff if rvalid.all() else np.zeros(0, np.int64)
    else:
        rdata, valid_raw = np.empty(0, np.uint8), np.zeros(0, np.int64)
    off, data, ok = _format_floats(vals, valid, valid_raw, rdata, _POW10)
    if not ok.all():
        fb = pc.cast(pa.array(vals[~ok]), pa.large_string())
        fb_off, fb_data, _ = _string_parts(fb)
        off, data = _merge(off, data, ok, fb_off, fb_data)
    return pa.Array.from_buffers(
        pa.large_string(),
        n,
        [_validity(valid), pa.py_buffer(off), pa.py_buffer(data)],
    )


def _plain_text(raw: pa.Array) -> pa.Array | None:
    """``raw`` as a large string array when every entry is non-empty plain number text
    (what :func:`_format_floats` would copy entry by entry); else None."""
    off, data, _valid_raw = _string_parts(raw)
    if not _all_plain(off, data, _PLAIN):
        return None
    if pa.types.is_large_string(raw.type):
        return raw
    return pa.Array.from_buffers(
        pa.large_string(), len(raw), [None, pa.py_buffer(off), pa.py_buffer(data)]
    )


#: The bytes of plain number text: digits, ``.``, ``-``, ``+``, ``e``, ``E``.
_PLAIN = np.zeros(256, np.uint8)
_PLAIN[[*range(48, 58), 46, 45, 43, 101, 69]] = 1


@njit(cache=True, nogil=True)
def _all_plain(off, data, table):  # pragma: no cover - compiled
    """Every entry non-empty and only bytes marked in ``table``."""
    for i in range(off.size - 1):
        if off[i + 1] <= off[i]:
            return False
    bad = np.uint8(0)
    for j in range(data.size):
        bad |= table[data[j]] ^ np.uint8(1)  # no branch per byte
    return bad == 0


def _validity(valid: np.ndarray) -> pa.Buffer | None:
    if valid.all():
        return None
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def _quoted(arr: pa.Array) -> pa.Array:
    """Each string as CSV text: in quotes with ``"`` doubled (null stays null)."""
    s = pc.replace_substring(arr.cast(pa.large_string()), '"', '""')
    q = pa.scalar('"', pa.large_string())
    return pc.binary_join_element_wise(q, s, q, pa.scalar("", pa.large_string()))


class BufferPool:
    """Output buffers of :func:`csv_buffer` reused once nothing refers to them any more.

    A streamed answer of 5 M rows writes ~700 MB: in fresh buffers each page is faulted
    in and zeroed by the kernel first (~15 % of the server's CPU in ``perf``). A buffer
    is handed out again only when the pool holds the sole reference to it (the
    memoryview sent and every slice of it released), so no byte still to be sent is
    overwritten. Thread-safe; at most ``most`` buffers are kept (more are allocated
    and left to the garbage collector).

    Parameters
    ----------
    most
        Buffers kept.
    """

    def __init__(self, most: int = 8) -> None:
        self.most = most
        self._buffers: list[np.ndarray] = []
        self._lock = threading.Lock()

    def take(self, size: int) -> np.ndarray:
        """A buffer of at least ``size`` bytes (its content undefined).

        Parameters
        ----------
        size
            Bytes needed.

        Returns
        -------
        numpy.ndarray
            uint8.
        """
        with self._lock:
            buffers = self._buffers
            for i in range(len(buffers)):
                # 2: the list's reference and getrefcount's argument — no view left
                if buffers[i].size >= size and sys.getrefcount(buffers[i]) == 2:
                    return buffers[i]
            out = np.empty(size + (size >> 3), np.uint8)  # room for a longer chunk later
            if len(buffers) < self.most:
                buffers.append(out)
            return out


_COMMA = pa.scalar(",", pa.large_string())
_BOOL_TEXT = pa.array(["false", "true", ""], pa.large_string())
_DICT_CACHE: dict[tuple, tuple[pa.Buffer | None, pa.Array]] = {}


#: Dictionaries of at least this many entries (a snapshot's grids) are cached per
#: buffer; smaller ones — made afresh per chunk, e.g. the departments or the reasons —
#: per content (:data:`_SMALL_CACHE`): by buffer they would only churn the caches.
_CACHED_FROM = 64
_SMALL_CACHE: dict[tuple, pa.Array] = {}


def _dictionary_text(dictionary: pa.Array) -> pa.Array:
    """CSV text of each dictionary entry plus "" for null, cached per dictionary buffer
    (small dictionaries per content: one text object for equal dictionaries, so their
    groups' joined texts are cached too)."""
    if len(dictionary) < _CACHED_FROM:
        small = (str(dictionary.type), *dictionary.to_pylist())
        text = _SMALL_CACHE.get(small)
        if text is None:
            text = _quoted_entries(dictionary)
            if len(_SMALL_CACHE) >= 256:
                _SMALL_CACHE.clear()
            _SMALL_CACHE[small] = text
        return text
    bufs = dictionary.buffers()
    key = tuple(b.address if b is not None else 0 for b in bufs)
    key += (dictionary.offset, len(dictionary))
    hit = _DICT_CACHE.get(key)
    if hit is not None:
        return hit[1]
    text = _quoted_entries(dictionary)
    if len(_DICT_CACHE) >= 256:
        _DICT_CACHE.clear()
    _DICT_CACHE[key] = (bufs, text)  # the buffers kept alive: their addresses stay unique
    return text


def _quoted_entries(dictionary: pa.Array) -> pa.Array:
    """Each entry quoted, then "" for the null entry."""
    text = _quoted(pa.concat_arrays([dictionary.cast(pa.string()), pa.nulls(1, pa.string())]))
    return text.fill_null(pa.scalar("", pa.large_string()))


_GROUP_CACHE: dict[tuple[int, ...], tuple[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}


def _group_text(frags: tuple[pa.Array, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_string_parts` of the per-entry texts of columns taken by one index array,
    joined with commas; cached per tuple of (cached) dictionary texts: a snapshot's grid
    columns are joined once, not every chunk."""
    key = tuple(id(f) for f in frags)
    hit = _GROUP_CACHE.get(key)
    if hit is not None:
        return hit[1]
    text = frags[0]
    for frag in frags[1:]:
        text = pc.binary_join_element_wise(text, frag, _COMMA)
    parts = _padded(text)
    if len(_GROUP_CACHE) >= 64:
        _GROUP_CACHE.clear()
    _GROUP_CACHE[key] = (frags, parts)  # the texts kept alive: their ids stay unique
    return parts


def _header(names: list[str]) -> bytes:
    return ",".join('"' + n.replace('"', '""') + '"' for n in names).encode() + b"\n"


def csv_bytes(
    table: pa.Table | pa.RecordBatch,
    *,
    header: bool = True,
    raw: dict[str, pa.Array] | None = None,
) -> bytes:
    """``table`` as CSV, the bytes ``pyarrow.csv.write_csv`` gives (see the module).

    Parameters
    ----------
    table
        Columns of string, dictionary-of-string, float64, integer or boolean type.
    header
        Write the quoted header line.
    raw
        Per float column name, the text it was read from (echoed where plain); or under
        ``"a,b"`` the lines ``a,b`` of two adjacent columns (their ``\n`` left out).

    Returns
    -------
    bytes
    """
    return bytes(csv_buffer(table, header=header, raw=raw))


def csv_buffer(
    table: pa.Table | pa.RecordBatch,
    *,
    header: bool = True,
    raw: dict[str, pa.Array] | None = None,
    pool: BufferPool | None = None,
) -> memoryview:
    """:func:`csv_bytes` without the copy into ``bytes``: a view of the compiled writer's
    buffer (a streamed answer sends it as it is; ~0.03 s less CPU per 100 MB).

    Parameters
    ----------
    table
        Columns of string, dictionary-of-string, float64, integer or boolean type.
    header
        Write the quoted header line.
    raw
        As in :func:`csv_bytes`.
    pool
        Where the output buffer comes from (one already written to and no longer
        referred to, when there is one: no fresh pages to fault in and zero).

    Returns
    -------
    memoryview
    """
    if isinstance(table, pa.Table):
        table = table.combine_chunks()
        batch = pa.RecordBatch.from_arrays(
            [c.chunk(0) if c.num_chunks else pa.array([], c.type) for c in table.columns],
            schema=table.schema,
        )
    else:
        batch = table
    n = batch.num_rows
    head = _header(batch.schema.names) if header else b""
    if n == 0:
        return memoryview(head)
    raw = raw or {}
    cells: list[Any] = []  # per column (group): a text per row, or [indices, texts]
    last_key: tuple | None = None
    names = batch.schema.names
    skip = None
    for j, (name, col) in enumerate(zip(names, batch.columns, strict=True)):
        if name == skip:
            continue
        t = col.type
        pair = f"{name},{names[j + 1]}" if j + 1 < len(names) else None
        if pair in raw and col.null_count == 0 and batch.column(j + 1).null_count == 0:
            cells.append(("line", raw[pair]))  # two cells copied at once from the body
            skip, last_key = names[j + 1], None
            continue
        if pa.types.is_dictionary(t):
            # columns sharing one index array (a grid's code, name, community, contacts…)
            # are taken together from one joined text per dictionary entry
            ind = col.indices
            key = (ind.buffers()[1].address, ind.offset, ind.null_count, len(col.dictionary))
            frag = _dictionary_text(col.dictionary)
            if key == last_key:
                cells[-1][1] = (*cells[-1][1], frag)  # joined once per group: _group_text
                continue
            cells.append([_codes(ind, len(col.dictionary)), (frag,)])
            last_key = key
            continue
        last_key = None
        if pa.types.is_boolean(t):
            cells.append([_codes(col.cast(pa.int8()), 2), _BOOL_TEXT])
            continue
        if pa.types.is_floating(t):  # formatted in _assemble_cells (or written by a kernel)
            cells.append(("float", col.cast(pa.float64()), raw.get(name)))
            continue
        if pa.types.is_integer(t):
            text = pc.cast(col, pa.large_string())
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            cells.append(("quote", col))
            continue
        else:
            import io

            import pyarrow.csv as pacsv

            buf = io.BytesIO()  # a type this writer does not know: pyarrow does it all
            pacsv.write_csv(batch, buf, write_options=pacsv.WriteOptions(include_header=header))
            return buf.getvalue()
        cells.append(("raw", text))
    return _assemble_cells(cells, n, head, pool)


def _assemble_cells(
    cells: list[Any], n: int, head: bytes, pool: BufferPool | None = None
) -> memoryview:
    """Rows from per-column texts (``(kind, array)``) and ``[indices, texts]`` groups.

    Each column is passed as its own arrays (tuples of them: no ``n × columns`` copy):
    a text column as int64 offsets from 0, its bytes and its validity; a group as int32
    indices into the offsets and bytes of its joined texts. A float column (``("float",
    values, raw text)``) is written by :func:`_assemble_lines` in the layout it knows,
    else formatted here first (:func:`format_floats`)."""
    layout = tuple(1 if isinstance(c, list) else _KINDS.get(c[0], 0) for c in cells)
    if layout == _LINES_LAYOUT:
        got = _lines_answer(cells, n, head, pool)
        if got is not None:
            return got
    cells = [
        ("raw", format_floats(c[1], c[2])) if not isinstance(c, list) and c[0] == "float" else c
        for c in cells
    ]
    kinds, which = [], []
    t_off: list[np.ndarray] = []
    t_data: list[np.ndarray] = []
    t_valid: list[np.ndarray] = []
    g_idx: list[np.ndarray] = []
    g_off: list[np.ndarray] = []
    g_data: list[np.ndarray] = []
    for c in cells:
        if isinstance(c, list):
            kinds.append(1)
            which.append(len(g_idx))
            g_idx.append(c[0])
            off, data, _v = _group_text(c[1]) if isinstance(c[1], tuple) else _padded(c[1])
            g_off.append(off)
            g_data.append(data)
        else:
            kinds.append(_KINDS.get(c[0], 0))
            which.append(len(t_off))
            off, data, valid = _string_parts(c[1])
            t_off.append(np.ascontiguousarray(off, np.int64))
            t_data.append(np.ascontiguousarray(data))
            t_valid.append(valid)
    nt, ng = max(len(t_off), 1), max(len(g_idx), 1)
    # flat arrays, one base per column (a tuple indexed at run time cost more per cell)
    t_base = np.zeros(nt + 1, np.uint64)
    for j, d in enumerate(t_data):
        t_base[j + 1] = t_base[j] + d.size
    g_base = np.zeros(ng + 1, np.uint64)
    for j, d in enumerate(g_data):
        g_base[j + 1] = g_base[j] + d.size
    g_obase = np.zeros(ng + 1, np.int64)
    for j, o in enumerate(g_off):
        g_obase[j + 1] = g_obase[j] + o.size
    cat = np.concatenate
    args = (
        np.array(kinds, np.int64),
        np.array(which, np.int64),
        cat(t_off) if t_off else np.zeros(1, np.int64),
        cat([*t_data, _PAD]),  # every 32-byte step of a copy stays within it
        t_base,
        cat(t_valid) if t_valid else np.zeros(0, np.bool_),
        cat(g_idx) if g_idx else np.zeros(0, np.int32),
        cat(g_off) if g_off else np.zeros(1, np.int64),
        g_obase,
        cat(g_data) if g_data else _EMPTY,
        g_base,
        np.frombuffer(head, np.uint8),
        n,
    )
    total, quotes = _assemble_size(*args)
    size = int(total) + _STEP
    out = pool.take(size) if pool is not None else np.empty(size, np.uint8)
    end = _assemble(out, quotes, *args)
    return memoryview(out)[: int(end)]


_EMPTY = np.empty(0, np.uint8)

#: The cells of the batch answer to a body of ``lon,lat`` lines, as :func:`csv_buffer`
#: finds them: the id (quoted), the line, the grid's columns, the category (quoted), the
#: department's, the distance, near_border, the reason (see :func:`_assemble_lines`).
_LINES_LAYOUT = (2, 3, 1, 2, 1, 0, 1, 1)
#: The kernels' kind of each text cell (a group's is 1): 0 as it is, 2 quoted, 3 a line.
_KINDS = {"quote": 2, "line": 3}


def _ro(arrays: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """Read-only contiguous views: Arrow's buffers are read-only, and one numba type per
    tuple needs every member alike."""
    out = []
    for a in arrays:
        a = np.ascontiguousarray(a).view()
        a.flags.writeable = False
        out.append(a)
    return tuple(out)


#: Bytes one fixed-size copy moves (:func:`_copy_fixed`); buffers get this much slack.
_STEP = 32
_PAD = np.zeros(_STEP, np.uint8)  # after the texts: copies in whole steps


def _padded(text: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_string_parts` with :data:`_STEP` zero bytes after the data (every copy
    from it can move whole steps)."""
    off, data, valid = _string_parts(text)
    padded = np.zeros(data.size + _STEP, np.uint8)
    padded[: data.size] = data
    return np.ascontiguousarray(off, np.int64), padded, valid


@intrinsic
def _copy_at(typingctx, dst, dpos, src, spos, n):  # pragma: no cover - compiled
    """``dst[dpos:dpos + n] = src[spos:spos + n]`` for uint8 arrays as one ``memcpy``
    (LLVM's intrinsic: cacheable, no bounds checks)."""
    sig = types.void(dst, dpos, src, spos, n)

    def codegen(context, builder, signature, args):
        da = context.make_array(signature.args[0])(context, builder, args[0])
        sa = context.make_array(signature.args[2])(context, builder, args[2])
        dptr = builder.gep(da.data, [args[1]])
        sptr = builder.gep(sa.data, [args[3]])
        cgutils.raw_memcpy(builder, dptr, sptr, args[4], 1, align=1)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _load8(typingctx, buf, pos):  # pragma: no cover - compiled
    """The 8 bytes of uint8 array ``buf`` at ``pos`` as a little-endian uint64: one
    unaligned load (no bounds check; a loop of byte loads is not merged into one). Used
    by the GeoParquet points' check and the CSV line-start scan."""
    sig = types.uint64(buf, pos)

    def codegen(context, builder, signature, args):
        arr = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.gep(arr.data, [args[1]])
        word = builder.bitcast(ptr, context.get_value_type(types.uint64).as_pointer())
        return builder.load(word, align=1)

    return sig, codegen


@intrinsic
def _store8(typingctx, buf, pos, word):  # pragma: no cover - compiled
    """Write uint64 ``word`` little-endian into uint8 array ``buf`` at ``pos``: one
    unaligned store (no bounds check: the caller leaves 8 bytes of room). Used by the
    row ids' text (``points._row_id_text``)."""
    sig = types.void(buf, pos, word)

    def codegen(context, builder, signature, args):
        arr = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.gep(arr.data, [args[1]])
        dst = builder.bitcast(ptr, context.get_value_type(types.uint64).as_pointer())
        builder.store(args[2], dst, align=1)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _copy_fixed(typingctx, dst, dpos, src, spos):  # pragma: no cover - compiled
    """``dst[dpos:dpos + 32] = src[spos:spos + 32]``: a ``memcpy`` of constant size, which
    LLVM turns into two unaligned 16-byte moves (no call, no loop)."""
    sig = types.void(dst, dpos, src, spos)

    def codegen(context, builder, signature, args):
        da = context.make_array(signature.args[0])(context, builder, args[0])
        sa = context.make_array(signature.args[2])(context, builder, args[2])
        dptr = builder.gep(da.data, [args[1]])
        sptr = builder.gep(sa.data, [args[3]])
        size = context.get_constant(types.uint64, _STEP)
        cgutils.raw_memcpy(builder, dptr, sptr, size, 1, align=1)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _copy(out, p, src, a, ln):  # pragma: no cover - compiled
    """``out[p:p + ln] = src[a:a + ln]``; may write up to 32 bytes past ``p + ln`` (the
    caller's slack; later writes overwrite them)."""
    step = np.uint64(32)
    if a + ln + step <= np.uint64(src.size):  # whole steps stay within src
        k = np.uint64(0)
        while k < ln:
            _copy_fixed(out, p + k, src, a + k)
            k += step
    elif ln > np.uint64(0):
        _copy_at(out, p, src, a, ln)


@njit(cache=True, nogil=True)
def _assemble_size(
    kinds, which, t_off, t_data, t_base, t_valid, g_idx, g_off, g_obase, g_data, g_base, head, n
):  # pragma: no cover - compiled
    """The bytes :func:`_assemble` writes, and the ``"`` in each text column.

    Column ``w``'s arrays are at ``w * (n + 1)`` (text offsets), ``w * n`` (validity,
    group indices), ``g_obase[w]`` (group offsets), ``t_base[w]`` / ``g_base[w]`` (bytes)."""
    ncol = kinds.size
    one = np.uint64(1)
    nt = t_base.size - 1
    un = np.uint64(n)
    quotes = np.zeros(max(nt, 1), np.uint64)  # per text column: the ``"`` in its bytes
    total = np.uint64(head.size) + un * np.uint64(ncol)
    for c in range(ncol):  # the size, column by column
        w = np.uint64(which[c])
        if kinds[c] == 1:
            ib, ob = w * un, np.uint64(g_obase[w])
            for i in range(un):
                g = ob + np.uint64(g_idx[ib + i])
                total += np.uint64(g_off[g + one] - g_off[g])
        else:
            ob, vb = w * (un + one), w * un
            for i in range(un):
                if t_valid[vb + i]:
                    total += np.uint64(t_off[ob + i + one] - t_off[ob + i])
                    if kinds[c] == 2:
                        total += np.uint64(2)
            if kinds[c] == 3:  # lines: their line ends left out
                for i in range(un):
                    e = t_off[ob + i + one]
                    if e > t_off[ob + i]:
                        total -= np.uint64(t_data[t_base[w] + np.uint64(e) - one] == 10)
            if kinds[c] == 2:
                q = np.uint64(0)
                for j in range(t_base[w], t_base[w + one]):
                    q += np.uint64(t_data[j] == 34)
                quotes[w] = q
                total += q
    return total, quotes


@njit(cache=True, nogil=True)
def _assemble(
    out,
    quotes,
    kinds,
    which,
    t_off,
    t_data,
    t_base,
    t_valid,
    g_idx,
    g_off,
    g_obase,
    g_data,
    g_base,
    head,
    n,
):  # pragma: no cover - compiled
    """CSV rows into ``out`` (32 bytes of slack past the size :func:`_assemble_size`
    gives): kind 0 text as is, 2 text quoted (``"`` doubled), 1 a group's text, 3 a
    line less its ``\n``; the bytes written. Byte indices are unsigned (no negative-index checks)."""
    ncol = kinds.size
    one = np.uint64(1)
    un = np.uint64(n)
    p = np.uint64(0)
    while p < np.uint64(head.size):
        out[p] = head[p]
        p += one
    for i in range(un):
        for c in range(ncol):
            w = np.uint64(which[c])
            k = kinds[c]
            if k == 1:
                g = np.uint64(g_obase[w]) + np.uint64(g_idx[w * un + i])
                a = np.uint64(g_off[g]) + g_base[w]
                ln = np.uint64(g_off[g + one] - g_off[g])
                _copy(out, p, g_data, a, ln)
                p += ln
            elif t_valid[w * un + i]:
                o = w * (un + one) + i
                a = np.uint64(t_off[o]) + t_base[w]
                ln = np.uint64(t_off[o + one] - t_off[o])
                if k == 2:
                    out[p] = 34
                    p += one
                    if quotes[w] == 0:
                        _copy(out, p, t_data, a, ln)
                        p += ln
                    else:
                        b = a + ln
                        while a < b:
                            ch = t_data[a]
                            out[p] = ch
                            p += one
                            if ch == 34:
                                out[p] = 34
                                p += one
                            a += one
                    out[p] = 34
                    p += one
                else:
                    if k == 3 and ln > 0:  # a line: its line end left out
                        ln -= np.uint64(t_data[a + ln - one] == 10)
                    _copy(out, p, t_data, a, ln)
                    p += ln
            out[p] = 44 if c + 1 < ncol else 10
            p += one
    return p


@njit(cache=True, nogil=True, inline="always")
def _steps(out, p, src, a, ln):  # pragma: no cover - compiled
    """:func:`_copy` from a source with :data:`_STEP` bytes of slack after ``a + ln``:
    whole steps only, no bounds test."""
    step = np.uint64(_STEP)
    k = np.uint64(0)
    while k < ln:
        _copy_fixed(out, p + k, src, a + k)
        k += step


@njit(cache=True, nogil=True, inline="always")
def _group_cell(out, p, g, g_off, g_data, end):  # pragma: no cover - compiled
    """Group entry ``g``'s text (``g_data`` padded by :data:`_STEP`), then the byte
    ``end``; the position after them."""
    g = np.uint64(g)
    a = np.uint64(g_off[g])
    ln = np.uint64(g_off[g + np.uint64(1)]) - a
    _steps(out, p, g_data, a, ln)
    p += ln
    out[p] = end
    return p + np.uint64(1)


@njit(cache=True, nogil=True, inline="always")
def _text_cell(out, p, off, data, i, quote):  # pragma: no cover - compiled
    """Text ``i`` (``off`` into ``data``, no slack needed), in ``"`` when ``quote``,
    then a comma; the position after them."""
    one = np.uint64(1)
    a = np.uint64(off[i])
    ln = np.uint64(off[i + 1]) - a
    if quote:
        out[p] = 34
        p += one
    _copy(out, p, data, a, ln)
    p += ln
    if quote:
        out[p] = 34
        p += one
    out[p] = 44
    return p + one


#: ``.ddd`` of each thousandth 0-999 (4 bytes each), and how many of them the shortest
#: text keeps: none for 0, the point and one digit for 100, 200…, two for 10, 20…, else 4.
_MILLI_TEXT = np.frombuffer(b"".join(b".%03d" % f for f in range(1000)), np.uint8).copy()
_MILLI_KEEP = np.array(
    [0 if f == 0 else 2 if f % 100 == 0 else 3 if f % 10 == 0 else 4 for f in range(1000)],
    np.uint8,
)
#: Bytes a distance cell of :func:`_assemble_lines` may take: ``-``, 9 digits, ``.ddd``.
_MILLI_WIDTH = 14


@njit(cache=True, nogil=True)
def _assemble_lines(
    out,
    head,
    id_off,
    id_data,
    id_valid,
    ln_off,
    ln_data,
    g0_idx,
    g0_off,
    g0_data,
    cat_off,
    cat_data,
    cat_valid,
    g1_idx,
    g1_off,
    g1_data,
    dist,
    dist_valid,
    g2_idx,
    g2_off,
    g2_data,
    g3_idx,
    g3_off,
    g3_data,
    milli_text,
    milli_keep,
    n,
):  # pragma: no cover - compiled
    """The answer to a body of ``lon,lat`` lines (:data:`_LINES_LAYOUT`) in one pass, row
    by row: the id (quoted), the line less its ``\\n``, the grid's group, the category
    (quoted), the department's group, the distance written from its thousandths (as
    :func:`_format_floats` writes it), near_border's and the reason's groups. Texts hold
    no ``"`` (the caller checks); the groups' texts have :data:`_STEP` bytes of slack.
    ``out`` has room for :data:`_MILLI_WIDTH` bytes per distance and 32 bytes of slack.
    The bytes written, or -1 at a distance not of at most 3 decimals within 1e-4…1e9
    (nothing usable written: the caller formats the floats and writes by :func:`_assemble`).
    """
    one = np.uint64(1)
    p = np.uint64(0)
    while p < np.uint64(head.size):
        out[p] = head[p]
        p += one
    for i in range(n):
        if id_valid[i]:
            p = _text_cell(out, p, id_off, id_data, i, True)
        else:
            out[p] = 44
            p += one
        a = np.uint64(ln_off[i])  # the line, less its line end
        ln = np.uint64(ln_off[i + 1]) - a
        if ln > 0:
            ln -= np.uint64(ln_data[a + ln - one] == 10)
        _copy(out, p, ln_data, a, ln)
        p += ln
        out[p] = 44
        p += one
        p = _group_cell(out, p, g0_idx[i], g0_off, g0_data, 44)
        if cat_valid[i]:
            p = _text_cell(out, p, cat_off, cat_data, i, True)
        else:
            out[p] = 44
            p += one
        p = _group_cell(out, p, g1_idx[i], g1_off, g1_data, 44)
        if dist_valid[i]:
            v = dist[i]
            if v == 0.0:
                if math.copysign(1.0, v) < 0:
                    out[p] = 45
                    p += one
                out[p] = 48
                p += one
            else:
                m3 = _thousandths(abs(v))
                if m3 < 0:
                    return -1
                if v < 0:
                    out[p] = 45
                    p += one
                ip = m3 // 1000
                f = m3 - ip * 1000
                d, t = 1, 10
                while ip >= t:
                    d += 1
                    t *= 10
                q = p + np.uint64(d)
                while True:  # the integer part's digits, last first
                    q -= one
                    out[q] = 48 + ip % 10
                    ip //= 10
                    if ip == 0:
                        break
                p += np.uint64(d)
                fa = np.uint64(f) * np.uint64(4)  # ".ddd", of which the shortest text keeps
                out[p] = milli_text[fa]  # all or part (the rest overwritten next)
                out[p + one] = milli_text[fa + one]
                out[p + np.uint64(2)] = milli_text[fa + np.uint64(2)]
                out[p + np.uint64(3)] = milli_text[fa + np.uint64(3)]
                p += np.uint64(milli_keep[f])
        out[p] = 44
        p += one
        p = _group_cell(out, p, g2_idx[i], g2_off, g2_data, 44)
        p = _group_cell(out, p, g3_idx[i], g3_off, g3_data, 10)
    return np.int64(p)


def _text_view(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offsets, data, valid) of a string array as read-only views of its buffers: the
    offsets as stored (int32 or int64, not rebased), the whole data buffer."""
    n = len(arr)
    bufs = arr.buffers()
    wide = pa.types.is_large_string(arr.type)
    if bufs[1] is None:  # all null
        off = np.zeros(n + 1, np.int64 if wide else np.int32)
    else:
        off = np.frombuffer(bufs[1], np.int64 if wide else np.int32)[
            arr.offset : arr.offset + n + 1
        ]
    data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None else _EMPTY
    return (*_ro([off, data]), _ro([_valid(arr)])[0])


def _has_quote(off: np.ndarray, data: np.ndarray, valid: np.ndarray) -> bool:
    """Whether the valid texts' bytes (``off`` into ``data``) hold a ``"``."""
    if not valid.any():
        return False
    return bool(np.count_nonzero(data[int(off[0]) : int(off[-1])] == 34))


def _lines_answer(cells: list[Any], n: int, head: bytes, pool: BufferPool | None) -> Any:
    """The cells of :data:`_LINES_LAYOUT` written by :func:`_assemble_lines` (its texts
    passed as they are: nothing joined or measured first; the buffer sized from above);
    None when a text holds a ``"`` or a distance needs more than that kernel writes."""
    ids, lines, grid, cat, dep, dist, near, reason = cells
    if dist[0] != "float" or dist[2] is not None or not _is_text(ids[1]) or not _is_text(cat[1]):
        return None
    id_t, cat_t = _text_view(ids[1]), _text_view(cat[1])
    if _has_quote(*id_t) or _has_quote(*cat_t):
        return None
    ln_off, ln_data, _v = _text_view(lines[1])
    if not pa.types.is_large_string(lines[1].type) or not ln_data.size:
        return None
    groups = []
    size = len(head) + n * (8 + 2 + 2 + _MILLI_WIDTH) + _STEP
    for g in (grid, dep, near, reason):
        off, data, _v = _group_text(g[1]) if isinstance(g[1], tuple) else _padded(g[1])
        size += n * int(np.diff(off).max())
        groups.append((*_ro([g[0]]), *_ro([off, data])))
    for off in (id_t[0], cat_t[0], ln_off):
        size += int(off[-1]) - int(off[0])
    col = dist[1]
    buf = col.buffers()[1]
    vals = np.frombuffer(buf, np.float64)[col.offset : col.offset + n] if buf else np.zeros(n)
    out = pool.take(size) if pool is not None else np.empty(size, np.uint8)
    end = _assemble_lines(
        out,
        *_ro([np.frombuffer(head, np.uint8)]),
        *id_t,
        ln_off,
        ln_data,
        *groups[0],
        *cat_t,
        *groups[1],
        *_ro([vals, _valid(col)]),
        *groups[2],
        *groups[3],
        _MILLI_TEXT,
        _MILLI_KEEP,
        n,
    )
    return None if end < 0 else memoryview(out)[: int(end)]


def _is_text(arr: pa.Array) -> bool:
    """A string or large string array."""
    return pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)
