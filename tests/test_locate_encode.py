"""Batch answer encoders: GeoParquet dictionary columns and Arrow dictionary indices."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pyproj

from gridgeo.locate.encode import encoder


def _dict(idx: list[int | None], values: list[str | None], itype=pa.int16()) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(idx, itype), pa.array(values, pa.string()))


def test_geoparquet_writes_dictionaries_with_nulls_and_repeats_as_the_same_values():
    """Dictionaries holding nulls (no contact) and repeated entries (one community for many
    grids), and a dictionary that changes between chunks (reasons), read back as the same
    text per row, nulls where they were; the GeoParquet metadata is kept."""
    grid_vals = ["a", None, "a", "b", None]
    head_vals = [None, "h1", "h2", None, "h1"]  # same indices as the community: shared
    schema = pa.schema(
        [
            ("lon", pa.float64()),
            ("lat", pa.float64()),
            ("community", pa.dictionary(pa.int16(), pa.string())),
            ("head", pa.dictionary(pa.int16(), pa.string())),
            ("reason", pa.dictionary(pa.int32(), pa.string())),
        ]
    )
    enc = encoder("parquet", schema, crs=pyproj.CRS.from_epsg(4326))
    chunks = [
        ([0, 1, 2, None, 3], ["r1", "r2"], [0, 1, 1, 0, None]),
        ([4, 4, 3, 0, 2], ["r3", None], [1, 0, 0, 1, 1]),
    ]
    out = b""
    expected: dict[str, list] = {"community": [], "head": [], "reason": []}
    for k, (g, reasons, r) in enumerate(chunks):
        lon = np.arange(5, dtype=float) + 10 * k
        ind = pa.array(g, pa.int16())
        batch = pa.RecordBatch.from_arrays(
            [
                pa.array(lon),
                pa.array(lon + 1),
                pa.DictionaryArray.from_arrays(ind, pa.array(grid_vals, pa.string())),
                pa.DictionaryArray.from_arrays(ind, pa.array(head_vals, pa.string())),
                _dict(r, reasons, pa.int32()),
            ],
            schema=schema,
        )
        expected["community"] += [None if i is None else grid_vals[i] for i in g]
        expected["head"] += [None if i is None else head_vals[i] for i in g]
        expected["reason"] += [None if i is None else reasons[i] for i in r]
        out += enc.chunk(batch)
    out += enc.close()
    table = pq.read_table(io.BytesIO(out))
    assert table.column("community").type == pa.string()  # read as text, as before
    assert table.column("community").to_pylist() == expected["community"]
    assert table.column("head").to_pylist() == expected["head"]
    assert table.column("reason").to_pylist() == expected["reason"]
    geo = json.loads(table.schema.metadata[b"geo"])
    assert geo["primary_column"] == "geometry" and geo["columns"]["geometry"]["crs"]
    meta = pq.ParquetFile(io.BytesIO(out)).metadata
    assert "RLE_DICTIONARY" in meta.row_group(0).column(2).encodings  # not text per row


def test_arrow_answer_keeps_int16_indices():
    schema = pa.schema([("grid_code", pa.dictionary(pa.int16(), pa.string()))])
    enc = encoder("arrow", schema)
    batch = pa.RecordBatch.from_arrays([_dict([0, None, 1], ["g1", "g2"])], schema=schema)
    table = pa.ipc.open_stream(enc.chunk(batch) + enc.close()).read_all()
    assert table.schema == schema
    assert table.column(0).to_pylist() == ["g1", None, "g2"]
