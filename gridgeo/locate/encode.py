"""Encode located points (a pyarrow Table) as CSV, GeoJSON or Arrow IPC, chunk by chunk."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from gridgeo.locate.csvout import csv_bytes


def _csv_stream(table: pa.Table, chunk: int) -> Iterator[bytes]:
    for i, batch in enumerate(table.to_batches(max_chunksize=chunk)):
        yield csv_bytes(batch, header=i == 0)
    if table.num_rows == 0:
        buf = io.BytesIO()
        pacsv.write_csv(table.schema.empty_table(), buf)
        yield buf.getvalue()


def _clean(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _geojson_stream(table: pa.Table, chunk: int) -> Iterator[bytes]:
    yield b'{"type":"FeatureCollection","features":['
    props = [c for c in table.column_names if c not in ("lon", "lat")]
    first = True
    for batch in table.to_batches(max_chunksize=chunk):
        out = []
        for d in batch.to_pylist():
            feat = {
                "type": "Feature",
                "id": d["id"],
                "geometry": {"type": "Point", "coordinates": [d["lon"], d["lat"]]},
                "properties": {k: _clean(d[k]) for k in props},
            }
            out.append(json.dumps(feat, ensure_ascii=False))
        text = ",".join(out)
        if text:
            yield (text if first else "," + text).encode("utf-8")
            first = False
    yield b"]}"


def _arrow_stream(table: pa.Table, chunk: int) -> Iterator[bytes]:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=chunk):
            writer.write_batch(batch)
            yield sink.getvalue()
            sink.seek(0)
            sink.truncate()
    yield sink.getvalue()


STREAMERS = {"csv": _csv_stream, "geojson": _geojson_stream, "arrow": _arrow_stream}


# -- incremental encoders: one chunk in, bytes out (``POST /locate/batch`` streams them) --


class _Plain:
    """``prepare``/``write`` of encoders with nothing to prepare ahead (see
    :meth:`_ParquetEncoder.prepare`)."""

    def prepare(self, batch: pa.RecordBatch, geometry: pa.Array | None = None) -> pa.RecordBatch:
        return batch

    def write(self, prepared: pa.RecordBatch) -> bytes:
        return self.chunk(prepared)  # type: ignore[attr-defined]


class _CsvEncoder(_Plain):
    def __init__(self, schema: pa.Schema) -> None:
        self.schema, self.first = schema, True

    def chunk(self, batch: pa.RecordBatch) -> bytes:
        out = csv_bytes(batch, header=self.first)
        self.first = False
        return out

    def close(self) -> bytes:
        if not self.first:
            return b""
        buf = io.BytesIO()
        pacsv.write_csv(self.schema.empty_table(), buf)
        return buf.getvalue()


class _GeoJSONEncoder(_Plain):
    def __init__(self, schema: pa.Schema) -> None:
        self.started = False

    def chunk(self, batch: pa.RecordBatch) -> bytes:
        head = b'{"type":"FeatureCollection","features":[' if not self.started else b","
        parts = list(_geojson_stream(pa.Table.from_batches([batch]), batch.num_rows or 1))
        body = b"".join(parts)[len(b'{"type":"FeatureCollection","features":[') : -2]
        if not body:
            return b""
        out = head + body if not self.started else b"," + body
        self.started = True
        return out

    def close(self) -> bytes:
        return b"]}" if self.started else b'{"type":"FeatureCollection","features":[]}'


class _ArrowEncoder(_Plain):
    def __init__(self, schema: pa.Schema) -> None:
        self.sink = io.BytesIO()
        self.writer = pa.ipc.new_stream(self.sink, schema)

    def _drain(self) -> bytes:
        out = self.sink.getvalue()
        self.sink.seek(0)
        self.sink.truncate()
        return out

    def chunk(self, batch: pa.RecordBatch) -> bytes:
        self.writer.write_batch(batch)
        return self._drain()

    def close(self) -> bytes:
        self.writer.close()
        return self._drain()


def wkb_points(x: Any, y: Any) -> pa.Array:
    """Little-endian WKB points built with numpy (21 bytes each; no GEOS objects)."""
    x = np.asarray(x, dtype="<f8")
    n = x.size
    rec = np.empty(n, dtype=[("o", "u1"), ("t", "<u4"), ("x", "<f8"), ("y", "<f8")])
    rec["o"], rec["t"], rec["x"], rec["y"] = 1, 1, x, y
    offsets = np.arange(0, 21 * (n + 1), 21, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(rec.tobytes())]
    )


def _geo_metadata(crs: Any) -> bytes:
    """GeoParquet 1.0 metadata of the point column; ``crs`` a pyproj CRS or None (unknown)."""
    col: dict[str, Any] = {"encoding": "WKB", "geometry_types": ["Point"]}
    col["crs"] = crs.to_json_dict() if crs is not None else None
    return json.dumps(
        {"version": "1.0.0", "primary_column": "geometry", "columns": {"geometry": col}}
    ).encode()


_PARQUET_DICT: dict[tuple, tuple[pa.Array, np.ndarray | None, Any]] = {}


def _distinct(dictionary: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    """The distinct non-null entries of ``dictionary`` and each entry's position among them
    (-1 for null); ``None`` when ``dictionary`` is that already.

    Parquet writes an Arrow dictionary as it is only when it has no null (else it refuses)
    and no repeated entry (else it falls back to plain text per row: a grid's community is
    the same for many grids). Cached per dictionary buffer (a snapshot's grid columns are
    the same every chunk)."""
    bufs = dictionary.buffers()
    key = (*(b.address if b is not None else 0 for b in bufs), dictionary.offset, len(dictionary))
    hit = _PARQUET_DICT.get(key)
    if hit is not None:
        return hit[0], hit[1]
    import pandas as pd

    codes, uniques = pd.factorize(dictionary.to_numpy(zero_copy_only=False), use_na_sentinel=True)
    remap: np.ndarray | None = np.asarray(codes, dtype=np.int32)
    if len(uniques) == len(dictionary) and dictionary.null_count == 0:
        remap = None
    else:
        dictionary = pa.array(np.asarray(uniques, dtype=object), type=dictionary.type)
    if len(_PARQUET_DICT) >= 256:
        _PARQUET_DICT.clear()
    _PARQUET_DICT[key] = (dictionary, remap, bufs)  # the buffers kept alive: addresses unique
    return dictionary, remap


def _parquet_dictionary(col: pa.Array, shared: dict | None = None) -> pa.Array:
    """A dictionary column Parquet writes as a dictionary page plus indices (see
    :func:`_distinct`): the same values, null where they were.

    ``shared``: a dict kept over the columns of one batch: columns picked by one index
    array (a grid's code, name, community …) read its positions and nulls once."""
    dictionary, remap = _distinct(col.dictionary)
    if remap is None:
        return col
    ind = col.indices
    key = (ind.buffers()[1].address, ind.offset, len(ind))
    got = shared.get(key) if shared is not None else None
    if got is None:
        pos = np.asarray(ind.fill_null(0).to_numpy(zero_copy_only=False))
        nulls = (
            ~np.asarray(ind.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
            if ind.null_count
            else None
        )
        got = (pos, nulls)
        if shared is not None:
            shared[key] = got
    pos, nulls = got
    new = remap[pos]
    invalid = new < 0
    if nulls is not None:
        invalid |= nulls
    new[invalid] = 0
    return pa.DictionaryArray.from_arrays(
        pa.array(new.astype(ind.type.to_pandas_dtype(), copy=False), mask=invalid), dictionary
    )


# -- Parquet footers as generic Thrift compact structs (:class:`_ParquetEncoder`) -----------

_T_STOP, _T_TRUE, _T_FALSE, _T_BYTE, _T_I16, _T_I32, _T_I64 = range(7)
_T_DOUBLE, _T_BINARY, _T_LIST, _T_SET, _T_MAP, _T_STRUCT = range(7, 13)
_MAGIC = b"PAR1"


class _ThriftReader:
    """Thrift compact protocol, decoded generically: a struct is a list of
    ``[field id, type, value]`` in the order written (re-encoded byte for byte)."""

    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos = buf, 0

    def byte(self) -> int:
        self.pos += 1
        return self.buf[self.pos - 1]

    def varint(self) -> int:
        shift = out = 0
        while True:
            b = self.byte()
            out |= (b & 0x7F) << shift
            if b < 0x80:
                return out
            shift += 7

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def value(self, t: int) -> Any:
        if t in (_T_TRUE, _T_FALSE, _T_BYTE):  # (a bool inside a container: one byte)
            return self.byte()
        if t in (_T_I16, _T_I32, _T_I64):
            return self.zigzag()
        if t in (_T_DOUBLE, _T_BINARY):
            n = 8 if t == _T_DOUBLE else self.varint()
            self.pos += n
            return self.buf[self.pos - n : self.pos]
        if t in (_T_LIST, _T_SET):
            head = self.byte()
            n = head >> 4 if head >> 4 != 15 else self.varint()
            return (head & 0x0F, [self.value(head & 0x0F) for _ in range(n)])
        if t == _T_MAP:
            n = self.varint()
            kv = self.byte() if n else 0
            return (kv, [(self.value(kv >> 4), self.value(kv & 0x0F)) for _ in range(n)])
        if t == _T_STRUCT:
            return self.struct()
        raise ValueError(f"not a Thrift compact type: {t}")

    def struct(self) -> list[list]:
        fields: list[list] = []
        last = 0
        while True:
            head = self.byte()
            t = head & 0x0F
            if t == _T_STOP:
                return fields
            last = last + (head >> 4) if head >> 4 else self.zigzag()
            fields.append([last, t, None if t in (_T_TRUE, _T_FALSE) else self.value(t)])


def _thrift_varint(out: bytearray, n: int) -> None:
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _thrift_zigzag(out: bytearray, n: int) -> None:
    _thrift_varint(out, (n << 1) ^ (n >> 63))


def _thrift_value(out: bytearray, t: int, v: Any) -> None:
    if t in (_T_TRUE, _T_FALSE, _T_BYTE):
        out.append(v)
    elif t in (_T_I16, _T_I32, _T_I64):
        _thrift_zigzag(out, v)
    elif t in (_T_DOUBLE, _T_BINARY):
        if t == _T_BINARY:
            _thrift_varint(out, len(v))
        out += v
    elif t in (_T_LIST, _T_SET):
        et, items = v
        if len(items) < 15:
            out.append(len(items) << 4 | et)
        else:
            out.append(0xF0 | et)
            _thrift_varint(out, len(items))
        for item in items:
            _thrift_value(out, et, item)
    elif t == _T_MAP:
        kv, items = v
        _thrift_varint(out, len(items))
        if items:
            out.append(kv)
        for k, x in items:
            _thrift_value(out, kv >> 4, k)
            _thrift_value(out, kv & 0x0F, x)
    elif isinstance(v, bytes):  # a struct encoded already
        out += v
    else:
        _thrift_struct(out, v)


def _thrift_struct(out: bytearray, fields: list[list]) -> None:
    last = 0
    for fid, t, v in fields:
        if 0 < fid - last <= 15:
            out.append((fid - last) << 4 | t)
        else:
            out.append(t)
            _thrift_zigzag(out, fid)
        last = fid
        if t not in (_T_TRUE, _T_FALSE):
            _thrift_value(out, t, v)
    out.append(_T_STOP)


def _field(fields: list[list], fid: int) -> list | None:
    return next((f for f in fields if f[0] == fid), None)


def _shift_row_group(rg: list[list], by: int, ordinal: int) -> None:
    """A RowGroup struct of a one-row-group file moved ``by`` bytes on in the stream:
    every absolute offset shifted (RowGroup.file_offset; ColumnChunk.file_offset and
    its page-index offsets; ColumnMetaData's data, index, dictionary page and bloom
    filter offsets), its ordinal set."""
    for fid, offsets in ((1, None), (5, True), (7, False)):
        f = _field(rg, fid)
        if f is None:
            continue
        if offsets is None:  # the column chunks
            for chunk in f[2][1]:
                for c in chunk:
                    if c[0] in (2, 4, 6) and c[2]:
                        c[2] += by
                    elif c[0] == 3:
                        for m in c[2]:
                            if m[0] in (9, 10, 11, 14) and m[2]:
                                m[2] += by
        elif offsets:
            f[2] += by if f[2] else 0  # (0: an empty row group's, left as the writer had it)
        else:
            f[2] = ordinal


class _RowGroup:
    """One chunk as Parquet: the bytes of its row group (pages) and its footer, decoded."""

    __slots__ = ("body", "meta")

    def __init__(self, body: memoryview, meta: list[list]) -> None:
        self.body, self.meta = body, meta


class _ParquetEncoder:
    """GeoParquet: the columns plus a WKB ``geometry`` of (lon, lat); one row group per chunk.

    Each chunk is written as a Parquet file of its own by :meth:`prepare` (stateless: on
    both worker threads); :meth:`write` sends its row group on, its offsets in the footer
    shifted to where it lands in the answer, and :meth:`close` writes one footer of all
    row groups. The bytes are the same as one writer writing every chunk in turn (tested),
    but the writer's ~0.2 s of CPU per 1 M points is no longer one serial thread's.
    """

    def __init__(self, schema: pa.Schema, crs: Any = None) -> None:
        self.schema = schema.append(pa.field("geometry", pa.binary()))
        # The dictionary columns (a grid's code, name, contacts …; the department) are written
        # as they are: one dictionary page per row group and bit-packed indices, no text per
        # row. No compression (the points' doubles and WKB do not compress; snappy cost
        # ~0.15 s of CPU per 1 M points) and no statistics (the answer is a stream, not a file
        # to filter). The Arrow schema is not stored: readers get text columns, as before.
        self.options = dict(
            compression="none",
            use_dictionary=[f.name for f in schema if pa.types.is_dictionary(f.type)],
            write_statistics=False,
            store_schema=False,
        )
        self.geo = _geo_metadata(crs).decode()
        self.at = 0  # bytes sent
        self.meta: list[list] | None = None  # the first chunk's footer
        self.groups: list[bytes] = []  # each row group's footer entry, encoded
        self.rows = 0

    def _file(self, batch: pa.RecordBatch | None, geo: bool) -> pa.Buffer:
        """A whole Parquet file of ``batch`` (its row group; none for None), written into
        native memory (a Python file object took the GIL for each of ~215 writes per
        100 k points)."""
        import pyarrow.parquet as pq

        sink = pa.BufferOutputStream()
        with pq.ParquetWriter(sink, self.schema, **self.options) as writer:
            if batch is not None:
                writer.write_batch(batch)
            if geo:
                writer.add_key_value_metadata({"geo": self.geo})
        return sink.getvalue()

    def prepare(self, batch: pa.RecordBatch, geometry: pa.Array | None = None) -> _RowGroup:
        """The chunk as a row group (dictionaries Parquet takes, the WKB points; written
        and its footer decoded): stateless, so a batch answer prepares its chunks on both
        cores, then writes them in order.

        ``geometry``: the WKB points of ``lon``/``lat`` when the caller has them (the
        request's own geometry column, the same bytes :func:`wkb_points` would write)."""
        geom = (
            geometry
            if geometry is not None
            else wkb_points(batch.column("lon").to_numpy(), batch.column("lat").to_numpy())
        )
        shared: dict = {}
        cols = [
            _parquet_dictionary(c, shared) if pa.types.is_dictionary(c.type) else c
            for c in batch.columns
        ]
        cols.append(geom)
        raw = memoryview(self._file(pa.RecordBatch.from_arrays(cols, schema=self.schema), False))
        size = int.from_bytes(raw[-8:-4], "little")
        meta = _ThriftReader(raw[-8 - size : -8].tobytes()).struct()
        return _RowGroup(raw[len(_MAGIC) : -8 - size], meta)

    def write(self, prepared: _RowGroup) -> bytes:
        """The bytes of a row group made by :meth:`prepare` (in order)."""
        head = b""
        if self.meta is None:
            self.meta, head = prepared.meta, _MAGIC
            self.at = len(_MAGIC)
        groups = _field(prepared.meta, 4)
        assert groups is not None  # a file of one chunk has its row group(s)
        for rg in groups[2][1]:
            _shift_row_group(rg, self.at - len(_MAGIC), len(self.groups))
            self.rows += _field(rg, 3)[2]  # type: ignore[index]
            encoded = bytearray()
            _thrift_struct(encoded, rg)
            self.groups.append(bytes(encoded))  # now, not all at the end
        self.at += len(prepared.body)
        return head + prepared.body.tobytes() if head else prepared.body.tobytes()

    def chunk(self, batch: pa.RecordBatch) -> bytes:
        return self.write(self.prepare(batch))

    def close(self) -> bytes:
        """The footer: every row group, the GeoParquet metadata."""
        if self.meta is None:  # no chunk: an empty file
            return self._file(None, geo=True).to_pybytes()
        kv = [_T_STRUCT, [[[1, _T_BINARY, b"geo"], [2, _T_BINARY, self.geo.encode()]]]]
        meta = []
        for fid, t, v in self.meta:
            if fid == 3:
                v = self.rows
            elif fid == 4:
                v = (_T_STRUCT, self.groups)
            elif fid == 5:
                continue  # (none in a chunk's file: store_schema=False)
            meta.append([fid, t, v])
            if fid == 4:
                meta.append([5, _T_LIST, kv])
        out = bytearray()
        _thrift_struct(out, meta)
        return bytes(out) + len(out).to_bytes(4, "little") + _MAGIC


def encoder(fmt: str, schema: pa.Schema, *, crs: Any = None) -> Any:
    """An incremental encoder of ``fmt`` (``csv``, ``geojson``, ``arrow``, ``parquet``).

    ``chunk(batch)`` gives the bytes of one record batch, ``close()`` the closing bytes;
    the concatenation is one document. ``chunk`` is ``write(prepare(batch))``: ``prepare``
    holds no state (run it on any thread), ``write`` must see the batches in order. ``crs`` (a :class:`pyproj.CRS` or None) is written
    into the GeoParquet metadata.
    """
    if fmt == "parquet":
        return _ParquetEncoder(schema, crs)
    return {"csv": _CsvEncoder, "geojson": _GeoJSONEncoder, "arrow": _ArrowEncoder}[fmt](schema)


def _parquet_stream(table: pa.Table, chunk: int) -> Iterator[bytes]:
    enc = _ParquetEncoder(table.schema)
    for batch in table.to_batches(max_chunksize=chunk):
        yield enc.chunk(batch)
    yield enc.close()


STREAMERS["parquet"] = _parquet_stream
