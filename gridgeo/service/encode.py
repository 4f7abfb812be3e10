"""Encode located points as CSV, GeoJSON or Arrow IPC, chunk by chunk (for streaming)."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa


def _csv_stream(frame: pd.DataFrame, chunk: int) -> Iterator[bytes]:
    yield (",".join(frame.columns) + "\n").encode()
    for start in range(0, len(frame), chunk):
        buf = io.StringIO()
        frame.iloc[start : start + chunk].to_csv(buf, header=False, index=False)
        yield buf.getvalue().encode("utf-8")


def _clean(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def _geojson_stream(frame: pd.DataFrame, chunk: int) -> Iterator[bytes]:
    yield b'{"type":"FeatureCollection","features":['
    props = [c for c in frame.columns if c not in ("lon", "lat")]
    first = True
    for start in range(0, len(frame), chunk):
        part = frame.iloc[start : start + chunk]
        out = []
        for rec in part.itertuples(index=False):
            d = rec._asdict()
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


def _arrow_stream(frame: pd.DataFrame, chunk: int) -> Iterator[bytes]:
    table = pa.Table.from_pandas(frame.astype({"near_border": "object"}), preserve_index=False)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=chunk):
            writer.write_batch(batch)
            yield sink.getvalue()
            sink.seek(0)
            sink.truncate()
    yield sink.getvalue()


STREAMERS = {"csv": _csv_stream, "geojson": _geojson_stream, "arrow": _arrow_stream}
