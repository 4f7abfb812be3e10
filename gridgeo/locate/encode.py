"""Encode located points (a pyarrow Table) as CSV, GeoJSON or Arrow IPC, chunk by chunk."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv


def _csv_stream(table: pa.Table, chunk: int) -> Iterator[bytes]:
    for i, batch in enumerate(table.to_batches(max_chunksize=chunk)):
        buf = io.BytesIO()
        pacsv.write_csv(batch, buf, write_options=pacsv.WriteOptions(include_header=i == 0))
        yield buf.getvalue()
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
