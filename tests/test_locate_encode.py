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


def _one_writer(schema: pa.Schema, prepared: list[pa.RecordBatch], geo: bytes) -> bytes:
    """The answer as one pyarrow writer writes it, a row group per chunk in turn."""
    sink = io.BytesIO()
    with pq.ParquetWriter(
        sink,
        prepared[0].schema if prepared else schema.append(pa.field("geometry", pa.binary())),
        compression="none",
        use_dictionary=[f.name for f in schema if pa.types.is_dictionary(f.type)],
        write_statistics=False,
        store_schema=False,
    ) as writer:
        for b in prepared:
            writer.write_batch(b)
        writer.add_key_value_metadata({"geo": geo})
    return sink.getvalue()


def test_geoparquet_row_groups_written_apart_are_the_bytes_of_one_writer():
    """Each chunk is a Parquet file of its own (written on any thread); the answer — the
    row groups with their footer offsets shifted, one footer — is byte for byte what one
    writer writing every chunk in turn gives: no chunk, one, and more than 15 (the
    footer's row group ordinals and list sizes take their long forms), of varied sizes."""
    from gridgeo.locate.encode import (
        _geo_metadata,
        _parquet_dictionary,
        _ParquetEncoder,
        wkb_points,
    )

    schema = pa.schema(
        [
            ("id", pa.string()),
            ("lon", pa.float64()),
            ("lat", pa.float64()),
            ("grid", pa.dictionary(pa.int16(), pa.string())),
            ("dist", pa.float64()),
        ]
    )
    crs = pyproj.CRS.from_epsg(4326)
    rng = np.random.default_rng(3)
    for sizes in ([], [7], [1, 0, 300, *range(1, 18)]):
        enc = encoder("parquet", schema, crs=crs)
        out, batches = b"", []
        for k, n in enumerate(sizes):
            lon = rng.uniform(121, 122, n)
            ind = pa.array(rng.integers(0, 4, n), pa.int16(), mask=rng.random(n) < 0.2)
            batch = pa.RecordBatch.from_arrays(
                [
                    pa.array([f"p{k}-{i}" for i in range(n)], pa.string()),
                    pa.array(lon),
                    pa.array(lon - 96),
                    pa.DictionaryArray.from_arrays(ind, pa.array(["a", "b", "b", None])),
                    pa.array(np.where(rng.random(n) < 0.1, np.nan, lon)),
                ],
                schema=schema,
            )
            batches.append(batch)
            out += enc.chunk(batch)
        out += enc.close()
        reference = _ParquetEncoder(schema, crs)
        prepared = [
            pa.RecordBatch.from_arrays(
                [
                    *(
                        _parquet_dictionary(c) if pa.types.is_dictionary(c.type) else c
                        for c in b.columns
                    ),
                    wkb_points(b.column("lon").to_numpy(), b.column("lat").to_numpy()),
                ],
                schema=reference.schema,
            )
            for b in batches
        ]
        assert out == _one_writer(schema, prepared, _geo_metadata(crs).decode()), sizes
        assert pq.read_table(io.BytesIO(out)).num_rows == sum(sizes)
