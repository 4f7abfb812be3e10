"""Encode located points (a pyarrow Table) as CSV, GeoJSON, Arrow IPC or GeoParquet, chunk by
chunk (GeoParquet by :mod:`gridgeo.locate.parquetout`)."""

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
from gridgeo.locate.parquetout import ParquetAnswer, RowGroup, RowNumbers, physical


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


class _Parts:
    """A file object that keeps what is written as a list of ``bytes`` until drained."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> int:
        self.parts.append(data if isinstance(data, bytes) else bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def drain(self) -> bytes:
        parts, self.parts = self.parts, []
        return parts[0] if len(parts) == 1 else b"".join(parts)


#: Bytes a writer's output is gathered in (natively) before Python sees it.
_SINK_BUFFER = 8 << 20


class _Sink:
    """Where pyarrow's Parquet writer writes: a native buffer in front of a
    Python list of parts, flushed once per chunk.

    A Python file object as the writer's sink takes the GIL for every write pyarrow
    makes (~215 per Parquet row group of 100 k points): in the writer thread, each
    waited for the workers holding the GIL (1 M points beside a thread spinning in
    Python: 1.9 → 1.0 s wall, in process). Here the writes go to a native
    :class:`pyarrow.BufferedOutputStream` (no GIL) and Python gets the chunk's bytes in
    one piece; the bytes are the same (the writer's offsets come from its own count).
    """

    def __init__(self) -> None:
        self.raw = _Parts()
        self.stream = pa.BufferedOutputStream(
            pa.PythonFile(self.raw, mode="w"), buffer_size=_SINK_BUFFER
        )

    def drain(self) -> bytes:
        """The bytes written since the last drain."""
        if not self.stream.closed:
            self.stream.flush()
        return self.raw.drain()


class _ArrowEncoder(_Plain):
    # A BytesIO, not a :class:`_Sink`: the IPC writer makes few writes per batch, and the
    # native buffer's extra copy cost more than the GIL it saves (~+60 % of its ~10 ms
    # per 1 M points, in process).
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


class _PyarrowParquetEncoder:
    """GeoParquet by pyarrow's ``ParquetWriter``: the columns plus a WKB ``geometry`` of
    (lon, lat); one row group per chunk. The answer's writer before
    :class:`_ParquetEncoder` (kept for column types that one does not write, and as the
    reference its tests read back)."""

    def __init__(self, schema: pa.Schema, crs: Any = None) -> None:
        import pyarrow.parquet as pq

        self.schema = schema.append(pa.field("geometry", pa.binary()))
        self.sink = _Sink()
        # The dictionary columns (a grid's code, name, contacts …; the department) are written
        # as they are: one dictionary page per row group and bit-packed indices, no text per
        # row. No compression (the points' doubles and WKB do not compress; snappy cost
        # ~0.15 s of CPU per 1 M points) and no statistics (the answer is a stream, not a file
        # to filter). The Arrow schema is not stored: readers get text columns, as before.
        self.writer = pq.ParquetWriter(
            self.sink.stream,
            self.schema,
            compression="none",
            use_dictionary=[f.name for f in schema if pa.types.is_dictionary(f.type)],
            write_statistics=False,
            store_schema=False,
        )
        self.geo = _geo_metadata(crs).decode()

    def _drain(self) -> bytes:
        return self.sink.drain()

    def prepare(
        self, batch: pa.RecordBatch, geometry: pa.Array | None = None, pool: Any = None
    ) -> pa.RecordBatch:
        """The row group to write (dictionaries Parquet takes, the WKB points): stateless,
        so a batch answer prepares its chunks on both cores, then writes them in order.

        ``geometry``: the WKB points of ``lon``/``lat`` when the caller has them (the
        request's own geometry column, the same bytes :func:`wkb_points` would write).
        ``pool``: not used (as :meth:`_ParquetEncoder.prepare` takes it)."""
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
        return pa.RecordBatch.from_arrays(cols, schema=self.schema)

    def write(self, prepared: pa.RecordBatch) -> bytes:
        """The bytes of a row group made by :meth:`prepare`."""
        self.writer.write_batch(prepared)
        return self._drain()

    def chunk(self, batch: pa.RecordBatch) -> bytes:
        return self.write(self.prepare(batch))

    def close(self) -> bytes:
        self.writer.add_key_value_metadata({"geo": self.geo})
        self.writer.close()
        return self._drain()


#: Rows of a GeoParquet row group at most (a larger chunk is written as several).
ROW_GROUP_MAX = 1 << 20


class _ParquetEncoder:
    """GeoParquet written by :mod:`gridgeo.locate.parquetout`: the columns plus a WKB
    ``geometry`` of (lon, lat); one row group per chunk, encoded in :meth:`prepare`
    (stateless, any thread), sent in order by :meth:`write`."""

    def __init__(self, schema: pa.Schema, crs: Any = None) -> None:
        self.schema = schema.append(pa.field("geometry", pa.binary()))
        self.file = ParquetAnswer(self.schema, {"geo": _geo_metadata(crs).decode()})

    @staticmethod
    def writes(schema: pa.Schema) -> bool:
        """Whether every column of ``schema`` is a type this writer writes."""
        return all(physical(f.type) is not None for f in schema)

    #: :meth:`prepare` takes ``row_start`` (the ``id`` column written as row numbers).
    writes_row_numbers = True

    def prepare(
        self,
        batch: pa.RecordBatch,
        geometry: pa.Array | None = None,
        pool: Any = None,
        row_start: int | None = None,
    ) -> list[RowGroup]:
        """The row groups of ``batch`` encoded (no state: a batch answer prepares its
        chunks on both cores, then writes them in order): one, or one per
        :data:`ROW_GROUP_MAX` rows (each column is one page: its size must fit Parquet's
        32-bit page sizes).

        ``geometry``: the WKB points of ``lon``/``lat`` when the caller has them (the
        request's own geometry column, the same bytes :func:`wkb_points` would write);
        else they are written from ``lon``/``lat``. ``pool``: a
        :class:`~gridgeo.locate.csvout.BufferPool` the row groups' bytes are joined into
        (:meth:`~gridgeo.locate.parquetout.ParquetAnswer.prepare`). ``row_start``: the
        ``id`` column is the row numbers from ``row_start`` on, written as their text
        (:class:`~gridgeo.locate.parquetout.RowNumbers`: the same bytes) whatever the
        batch's ``id`` holds (the caller need not build that text)."""
        out = []
        ids = self.schema.get_field_index("id") if row_start is not None else -1
        for at in range(0, max(batch.num_rows, 1), ROW_GROUP_MAX):
            part = batch.slice(at, ROW_GROUP_MAX) if batch.num_rows > ROW_GROUP_MAX else batch
            geom: Any = geometry
            if geom is None:
                geom = (
                    "wkb_xy",
                    part.column("lon").to_numpy(zero_copy_only=False),
                    part.column("lat").to_numpy(zero_copy_only=False),
                )
            elif part is not batch:
                geom = geometry.slice(at, ROW_GROUP_MAX)  # type: ignore[union-attr]
            columns = [*part.columns, geom]
            if ids >= 0 and part.num_rows:
                columns[ids] = RowNumbers(row_start + at, part.num_rows)  # type: ignore[operator]
            out.append(self.file.prepare(columns, pool))
        return out

    def write(self, prepared: list[RowGroup]) -> bytes:
        """The bytes of the row groups made by :meth:`prepare`."""
        parts = [self.file.write(g) for g in prepared]
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def chunk(self, batch: pa.RecordBatch) -> bytes:
        return self.write(self.prepare(batch))

    def close(self) -> bytes:
        return self.file.close()


def encoder(fmt: str, schema: pa.Schema, *, crs: Any = None) -> Any:
    """An incremental encoder of ``fmt`` (``csv``, ``geojson``, ``arrow``, ``parquet``).

    ``chunk(batch)`` gives the bytes of one record batch, ``close()`` the closing bytes;
    the concatenation is one document. ``chunk`` is ``write(prepare(batch))``: ``prepare``
    holds no state (run it on any thread), ``write`` must see the batches in order. ``crs`` (a :class:`pyproj.CRS` or None) is written
    into the GeoParquet metadata.
    """
    if fmt == "parquet":
        if _ParquetEncoder.writes(schema):
            return _ParquetEncoder(schema, crs)
        return _PyarrowParquetEncoder(schema, crs)
    return {"csv": _CsvEncoder, "geojson": _GeoJSONEncoder, "arrow": _ArrowEncoder}[fmt](schema)


def _parquet_stream(table: pa.Table, chunk: int, crs: Any = None) -> Iterator[bytes]:
    enc = encoder("parquet", table.schema, crs=crs)
    for batch in table.to_batches(max_chunksize=chunk):
        yield enc.chunk(batch)
    yield enc.close()


def metadata_crs(crs: str) -> Any:
    """The pyproj CRS of a ``crs=`` name for GeoParquet metadata; None (unknown) for
    GCJ-02/BD-09, which no CRS definition describes."""
    from gridgeo.crs import resolve_crs

    resolved = resolve_crs(crs)
    return None if isinstance(resolved, str) else resolved


def stream_table(fmt: str, table: pa.Table, chunk: int, *, crs: str = "wgs84") -> Iterator[bytes]:
    """A whole answer ``table`` as ``fmt`` (``csv``, ``geojson``, ``arrow``, ``parquet``),
    ``chunk`` rows at a time.

    ``crs``: the ``crs=`` name of the ``lon``/``lat`` columns, written into the GeoParquet
    metadata (:func:`metadata_crs`; the other formats carry none)."""
    if fmt == "parquet":
        return _parquet_stream(table, chunk, metadata_crs(crs))
    return STREAMERS[fmt](table, chunk)
