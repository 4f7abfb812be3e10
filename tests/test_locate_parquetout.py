"""The batch answer's own Parquet writer reads back as the table pyarrow's writer gave."""

from __future__ import annotations

import io
import json

import geopandas as gpd
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pyproj
import pytest

from gridgeo.locate.answer import BATCH_COLUMNS, answer_schema
from gridgeo.locate.encode import (
    _ParquetEncoder,
    _PyarrowParquetEncoder,
    encoder,
    wkb_points,
)

_GRID = [c for c in BATCH_COLUMNS if c.startswith(("grid_", "community_", "head_", "worker_"))]


def _schema(grid_index: pa.DataType = pa.int16()) -> pa.Schema:
    """The answer schema (as :func:`gridgeo.locate.answer.batch_schema` makes it)."""
    return answer_schema(grid_index, pa.int16())


def _texts(rng: np.random.Generator, n: int, nulls: float, pool: int | None = None) -> list:
    words = ["", "a", "社区", "网格 12", "13800138000", "x" * 40, "第三网格 / 北"]
    out: list = []
    for i in range(n):
        if rng.random() < nulls:
            out.append(None)
        elif pool is not None:
            out.append(f"v{rng.integers(pool)}")
        else:
            out.append(f"{words[i % len(words)]}{rng.integers(1000)}")
    return out


class _Answer:
    """Random chunks of the answer schema over one set of per-grid dictionaries (the same
    arrays every chunk, as a snapshot gives them)."""

    def __init__(self, rng: np.random.Generator, grids: int, grid_index=pa.int16()) -> None:
        self.rng, self.grids = rng, grids
        self.schema = _schema(grid_index)
        pools = {"grid_type": 3, "community_code": 4, "community_name": 4}
        self.dicts = {
            c: pa.array(
                _texts(rng, grids, 0.0 if c == "grid_code" else 0.2, pools.get(c)),
                pa.string(),
            )
            for c in _GRID
        }
        self.deps = pa.array(["环卫所", "街道办", None, "环卫所"], pa.string())

    def chunk(self, n: int, outside: float = 0.3, first_id: int = 0) -> pa.RecordBatch:
        rng = self.rng
        valid = rng.random(n) >= outside
        g = rng.integers(0, max(self.grids, 1), n)
        itype = self.schema.field("grid_code").type.index_type
        ind = pa.array(g.astype(itype.to_pandas_dtype()), itype, mask=~valid)
        dep = pa.array(rng.integers(0, 4, n).astype(np.int16), pa.int16(), mask=rng.random(n) < 0.5)
        reasons = pa.array(["outside", f"none {first_id}", None], pa.string())
        reason = pa.array(rng.integers(0, 3, n).astype(np.int32), pa.int32(), mask=valid)
        lon = rng.uniform(-180, 180, n)
        lon[rng.random(n) < 0.05] = np.nan
        cols = {
            "id": pa.array(
                [None if rng.random() < 0.05 else f"p{first_id + i}" for i in range(n)],
                pa.string(),
            ),
            "lon": pa.array(lon),
            "lat": pa.array(rng.uniform(-90, 90, n)),
            "category": pa.array(_texts(rng, n, 0.5, 3), pa.string()),
            "department": pa.DictionaryArray.from_arrays(dep, self.deps),
            "department_phone": pa.DictionaryArray.from_arrays(dep, self.deps),
            "distance_to_border_m": pa.array(rng.uniform(0, 500, n), mask=~valid),
            "near_border": pa.array(rng.random(n) < 0.5, mask=~valid),
            "reason": pa.DictionaryArray.from_arrays(reason, reasons),
        }
        for c in _GRID:
            cols[c] = pa.DictionaryArray.from_arrays(ind, self.dicts[c])
        return pa.RecordBatch.from_arrays([cols[c] for c in BATCH_COLUMNS], schema=self.schema)


def _both(schema: pa.Schema, batches: list[pa.RecordBatch], crs=None) -> tuple[bytes, bytes]:
    """The answer written by this writer and by pyarrow's, chunk by chunk."""
    out = []
    for cls in (_ParquetEncoder, _PyarrowParquetEncoder):
        enc = cls(schema, crs)
        out.append(b"".join(enc.write(enc.prepare(b)) for b in batches) + enc.close())
    return out[0], out[1]


def _same(ours: bytes, theirs: bytes) -> pa.Table:
    a, b = pq.read_table(io.BytesIO(ours)), pq.read_table(io.BytesIO(theirs))
    assert a.schema.equals(b.schema, check_metadata=True), (a.schema, b.schema)
    assert a.num_rows == b.num_rows
    for name in a.column_names:
        x, y = a.column(name), b.column(name)
        if pa.types.is_floating(x.type):  # NaN in lon: NaN == NaN here
            assert x.is_null().equals(y.is_null()), name
            np.testing.assert_array_equal(
                x.to_numpy(zero_copy_only=False), y.to_numpy(zero_copy_only=False), name
            )
        else:
            assert x.equals(y), name
    return a


@pytest.mark.parametrize(
    "sizes",
    [[], [0], [1], [37], [100, 1, 0, 513, 8, 7, 9, 64, 2000, 0, 3]],
    ids=["no chunk", "one empty", "one row", "one chunk", "many varied"],
)
def test_answer_reads_back_as_pyarrow_wrote_it(sizes):
    gen = _Answer(np.random.default_rng(len(sizes)), 300)
    batches = [gen.chunk(n, first_id=i * 10_000) for i, n in enumerate(sizes)]
    ours, theirs = _both(gen.schema, batches, pyproj.CRS.from_epsg(4326))
    table = _same(ours, theirs)
    assert table.num_rows == sum(sizes)
    geo = json.loads(table.schema.metadata[b"geo"])
    assert geo["primary_column"] == "geometry" and geo["columns"]["geometry"]["crs"]
    frame = gpd.read_parquet(io.BytesIO(ours))
    ref = gpd.read_parquet(io.BytesIO(theirs))
    assert frame.crs == ref.crs and list(frame.columns) == list(ref.columns)
    assert frame.drop(columns="geometry").equals(ref.drop(columns="geometry"))
    assert frame.geometry.to_wkb().equals(ref.geometry.to_wkb())


def test_answer_with_every_row_outside_and_all_null_columns():
    """Points outside every grid (all grid columns null), no department, no category."""
    gen = _Answer(np.random.default_rng(3), 10)
    b = gen.chunk(50, outside=1.0)
    cols = {n: b.column(n) for n in b.schema.names}
    cols["category"] = pa.nulls(50, pa.string())
    cols["department"] = pa.DictionaryArray.from_arrays(
        pa.nulls(50, pa.int16()), pa.array([], pa.string())
    )
    cols["distance_to_border_m"] = pa.nulls(50, pa.float64())
    cols["near_border"] = pa.nulls(50, pa.bool_())
    batch = pa.RecordBatch.from_arrays([cols[c] for c in b.schema.names], schema=b.schema)
    ours, theirs = _both(gen.schema, [batch, batch.slice(7, 20)])
    table = _same(ours, theirs)
    assert table.column("grid_code").null_count == 70


def test_answer_of_sliced_batches_and_int32_indices():
    """Chunks that are slices (offsets not on a byte) and a grid dictionary over 2**15."""
    gen = _Answer(np.random.default_rng(5), 40_000, pa.int32())
    whole = gen.chunk(3000)
    batches = [whole.slice(0, 3), whole.slice(3, 1000), whole.slice(1003, 1997)]
    ours, theirs = _both(gen.schema, batches)
    _same(ours, theirs)


def test_request_geometry_is_written_as_given():
    gen = _Answer(np.random.default_rng(9), 20)
    b = gen.chunk(100, outside=0.0)
    lon = b.column("lon").to_numpy(zero_copy_only=False)
    lat = b.column("lat").to_numpy(zero_copy_only=False)
    given = wkb_points(lon, lat).slice(0)
    a, c = _ParquetEncoder(gen.schema), _ParquetEncoder(gen.schema)
    built = a.write(a.prepare(b)) + a.close()
    reused = c.write(c.prepare(b, given)) + c.close()
    assert built == reused


def test_grid_columns_share_one_index_stream_but_not_their_nulls():
    """Columns picked by one index: null entries (no contact) make the rows null there only."""
    gen = _Answer(np.random.default_rng(11), 50)
    b = gen.chunk(2000)
    enc = encoder("parquet", gen.schema)
    out = enc.chunk(b) + enc.close()
    table = pq.read_table(io.BytesIO(out))
    meta = pq.ParquetFile(io.BytesIO(out)).metadata.row_group(0)
    for i, c in enumerate(b.schema.names):
        if c in _GRID:
            assert "RLE_DICTIONARY" in meta.column(i).encodings  # no text per row
    for c in _GRID:
        ind = b.column(c).indices.to_pylist()
        values = gen.dicts[c].to_pylist()
        assert table.column(c).to_pylist() == [None if i is None else values[i] for i in ind]


@pytest.mark.parametrize("seed", range(12))
def test_random_answers_read_back_alike(seed):
    rng = np.random.default_rng(1000 + seed)
    gen = _Answer(rng, int(rng.integers(1, 3000)))
    sizes = rng.integers(0, 700, int(rng.integers(1, 6))).tolist()
    batches = [gen.chunk(n, outside=float(rng.random()), first_id=i) for i, n in enumerate(sizes)]
    _same(*_both(gen.schema, batches))


def test_schema_this_writer_does_not_know_goes_to_pyarrow():
    schema = pa.schema([("lon", pa.float64()), ("lat", pa.float64()), ("t", pa.timestamp("s"))])
    assert isinstance(encoder("parquet", schema), _PyarrowParquetEncoder)
    assert isinstance(encoder("parquet", _schema()), _ParquetEncoder)


@pytest.mark.parametrize("value", ["sanitation", "", "环卫"])
def test_one_category_for_all_is_written_once(value):
    """A text column of one value (a category given for the whole batch, nulls aside) reads
    back as that text on every row, written as a dictionary of one entry."""
    gen = _Answer(np.random.default_rng(13), 30)
    b = gen.chunk(1000)
    cols = {n: b.column(n) for n in b.schema.names}
    batches = []
    for cat in (
        pa.repeat(pa.scalar(value, pa.string()), 1000),
        pa.array([None if i % 3 else value for i in range(1000)], pa.string()),
        pa.array([value] * 999 + [value + "x"], pa.string()),  # not one value: plain
    ):
        cols["category"] = cat
        batches.append(pa.RecordBatch.from_arrays(list(cols.values()), schema=b.schema))
    ours, theirs = _both(gen.schema, batches)
    _same(ours, theirs)
    meta = pq.ParquetFile(io.BytesIO(ours)).metadata
    at = b.schema.names.index("category")
    assert "RLE_DICTIONARY" in meta.row_group(0).column(at).encodings
    assert meta.row_group(0).column(at).total_uncompressed_size < 100
    assert "RLE_DICTIONARY" not in meta.row_group(2).column(at).encodings


def test_dictionaries_of_one_value_or_only_nulls():
    """One grid type for all grids, no contact at all (every entry null), one reason: read
    back alike (written without a pass over the rows)."""
    gen = _Answer(np.random.default_rng(17), 200)
    gen.dicts["grid_type"] = pa.array(["社区网格"] * 200, pa.string())
    for c in ("head_name", "head_phone", "worker_name", "worker_phone"):
        gen.dicts[c] = pa.nulls(200, pa.string())
    batches = []
    for n in (500, 0, 33):
        b = gen.chunk(n)
        cols = {name: b.column(name) for name in b.schema.names}
        valid = cols["grid_code"].indices.is_valid()
        reason = pa.array(
            np.zeros(n, np.int32), pa.int32(), mask=valid.to_numpy(zero_copy_only=False)
        )
        cols["reason"] = pa.DictionaryArray.from_arrays(reason, pa.array(["outside"]))
        batches.append(pa.RecordBatch.from_arrays(list(cols.values()), schema=b.schema))
    table = _same(*_both(gen.schema, batches))
    assert set(table.column("grid_type").drop_null().to_pylist()) == {"社区网格"}
    assert table.column("head_name").null_count == table.num_rows


def test_a_chunk_larger_than_a_row_group_is_cut(monkeypatch):
    import gridgeo.locate.encode as encode

    monkeypatch.setattr(encode, "ROW_GROUP_MAX", 64)
    gen = _Answer(np.random.default_rng(19), 40)
    batches = [gen.chunk(200), gen.chunk(64), gen.chunk(0), gen.chunk(5)]
    ours, theirs = _both(gen.schema, batches)
    _same(ours, theirs)
    sizes = [
        pq.ParquetFile(io.BytesIO(ours)).metadata.row_group(i).num_rows
        for i in range(pq.ParquetFile(io.BytesIO(ours)).metadata.num_row_groups)
    ]
    assert sizes == [64, 64, 64, 8, 64, 5]
    lon = batches[0].column("lon").to_numpy(zero_copy_only=False)
    lat = batches[0].column("lat").to_numpy(zero_copy_only=False)
    a, c = encode._ParquetEncoder(gen.schema), encode._ParquetEncoder(gen.schema)
    given = a.write(a.prepare(batches[0], wkb_points(lon, lat))) + a.close()
    assert given == c.write(c.prepare(batches[0])) + c.close()


def test_snapshot_dictionaries_are_made_once():
    """A grid column's dictionary page (kept whole, deduplicated, or only nulls) is made
    once per dictionary array, not once per chunk."""
    from gridgeo.locate import parquetout

    for d in (
        pa.array([f"g{i}" for i in range(500)]),
        pa.array(["社区网格"] * 500),
        pa.nulls(500, pa.string()),
    ):
        assert parquetout._dictionary(d) is parquetout._dictionary(d)


def test_thrift_varints_of_offsets_past_4_gib():
    """File offsets of a large answer (over 2**32 bytes) are zigzag varints of any size."""
    from gridgeo.locate.parquetout import _zigzag

    def unzig(b: bytes) -> int:
        n = sum((byte & 0x7F) << (7 * i) for i, byte in enumerate(b))
        assert all(byte & 0x80 for byte in b[:-1]) and not b[-1] & 0x80
        return (n >> 1) ^ -(n & 1)

    for v in (0, 1, 63, 64, 127, 128, 2**31 - 1, 2**31, 2**32 + 5, 3 * 2**40, -1, -300):
        assert unzig(_zigzag(v)) == v


@pytest.mark.parametrize("width", [1, 3, 8, 13, 24, 25, 31, 32])
def test_dictionary_stream_packs_every_width(width):
    """The index stream is Parquet's bit-packed run (values LSB first, padded to a multiple
    of 8 values) for every width up to 32, rows without a validity bit or page position
    left out, and the definition bits say which rows are present."""
    from gridgeo.locate.parquetout import _dictionary_stream

    rng = np.random.default_rng(width)
    n = 1_001
    top = (1 << width) - 1
    entries = rng.integers(max(0, top - 500), top + 1, 600)  # positions near the width's top
    remap = np.where(rng.random(600) < 0.1, -1, entries).astype(np.int32)
    if width == 32:
        remap = np.empty(0, np.int32)  # int32 positions stop at 31 bits: the entries as they are
        idx = rng.integers(top - 500, top + 1, n).astype(np.int64)
    else:
        idx = rng.integers(0, 600, n).astype(np.int64)
    valid = rng.integers(0, 256, (n + 7) // 8).astype(np.uint8)
    defs = np.zeros((n + 7) // 8, np.uint8)
    out = np.zeros(((n + 7) // 8) * width + 8, np.uint8)
    k, size = _dictionary_stream(idx, valid, 0, remap, width, defs, out)

    present = np.unpackbits(valid, bitorder="little")[:n].astype(bool)
    values = idx if remap.size == 0 else remap[idx]
    present &= values >= 0
    want = values[present].astype(np.uint64)
    bits = "".join(format(int(v), f"0{width}b")[::-1] for v in want)
    bits += "0" * (((8 - len(want) % 8) % 8) * width)
    packed = bytes(int(bits[i : i + 8][::-1], 2) for i in range(0, len(bits), 8))
    assert k == int(present.sum())
    assert bytes(out[:size]) == packed
    assert np.array_equal(np.unpackbits(defs, bitorder="little")[:n].astype(bool), present)
    again = np.zeros_like(out)  # no definition bits wanted: the same stream
    assert _dictionary_stream(idx, valid, 0, remap, width, np.zeros(0, np.uint8), again) == (
        k,
        size,
    )
    assert bytes(again[:size]) == packed


@pytest.mark.parametrize("offset", [0, 5])
def test_entries_compacted_once_then_packed_per_column(offset):
    """The present rows' entries compacted once (eight valid rows at a time or not), then
    bit-packed with each column's own page positions: Parquet's run for every width the
    grouped packing takes (1-16) and past it, and as many present rows as valid bits."""
    from gridgeo.locate.parquetout import _NONE, _NONE_I32, _bit_packed, _present_entries

    rng = np.random.default_rng(offset)
    n = 2_003
    present = rng.random(n + offset) < rng.choice([0.0, 0.6, 0.97, 1.0], n + offset)
    valid = np.packbits(present, bitorder="little")
    present = present[offset:]
    idx = rng.integers(0, 700, n).astype(np.int16)
    idx[~present] = -7  # what a null row's index holds does not matter
    entries = np.full(n, 99, np.uint32)
    k = _present_entries(idx, valid, offset, _NONE_I32, _NONE, entries)
    assert k == present.sum() and np.array_equal(entries[:k], idx[present])
    for width in range(1, 21):
        top = (1 << width) - 1
        remap = rng.integers(0, top + 1, 700).astype(np.int32)
        want = remap[idx[present]].astype(np.uint64)
        bits = "".join(format(int(v), f"0{width}b")[::-1] for v in want)
        bits += "0" * (((8 - len(want) % 8) % 8) * width)
        packed = bytes(int(bits[i : i + 8][::-1], 2) for i in range(0, len(bits), 8))
        out = np.full(((k + 7) // 8) * width + 8, 0xAB, np.uint8)
        assert _bit_packed(entries, k, remap, width, out) == len(packed)
        assert bytes(out[: len(packed)]) == packed
    # entries without a page position (null ones): left out in the compaction, their
    # rows' definition bits cleared
    remap = np.where(rng.random(700) < 0.3, -1, rng.integers(0, 500, 700)).astype(np.int32)
    defs = np.zeros((n + 7) // 8, np.uint8)
    k = _present_entries(idx, valid, offset, remap, defs, entries)
    kept = present.copy()
    kept[present] = remap[idx[present]] >= 0
    assert k == kept.sum() and np.array_equal(entries[:k], remap[idx[kept]])
    assert np.array_equal(np.unpackbits(defs, bitorder="little")[:n].astype(bool), kept)


def test_row_groups_joined_into_reused_buffers_are_the_same_bytes():
    from gridgeo.locate.csvout import BufferPool

    gen = _Answer(np.random.default_rng(7), 300)
    for sizes, buffers in (([500, 0, 1, 700, 64], 2), ([300, 300, 300, 300], 1)):
        batches = [gen.chunk(n, first_id=i * 10_000) for i, n in enumerate(sizes)]
        plain = _ParquetEncoder(gen.schema)
        expected = b"".join(plain.write(plain.prepare(b)) for b in batches) + plain.close()
        pool = BufferPool(2)
        enc = _ParquetEncoder(gen.schema)
        parts, seen = [], []
        for b in batches:
            got = enc.write(enc.prepare(b, pool=pool))
            parts.append(bytes(got))  # sent, then released: its buffer is handed out again
            if isinstance(got, memoryview):
                seen.append(got.obj.ctypes.data)
            del got
        assert b"".join(parts) + enc.close() == expected
        # every row group is a view of a buffer handed out again once released (a larger
        # row group takes a larger one), the first one with PAR1 written before it there
        assert len(seen) == len([n for n in sizes if n]) and len(set(seen)) == buffers
        assert parts[0][:4] == b"PAR1"
        _same(expected, _both(gen.schema, batches)[1])


@pytest.mark.parametrize("large", [False, True])
def test_plain_texts_are_length_then_bytes_whatever_their_length(large):
    """Text without nulls written in fixed moves is Parquet's PLAIN byte arrays (4-byte
    length, then the bytes) for every length, the last values included (no byte written
    past the part, none read past the data), from a slice too."""
    from gridgeo.locate.parquetout import _offsets_data, _plain_texts

    rng = np.random.default_rng(3)
    values = ["".join(chr(0x4E00 + int(c)) for c in rng.integers(0, 50, int(k))) for k in
              rng.integers(0, 40, 300)] + ["", "x" * 33, "", "y" * 31]  # fmt: skip
    arr = pa.array(values, pa.large_string() if large else pa.string())
    for part in (arr, arr.slice(5, 290), arr.slice(299)):
        want = b"".join(
            len(v.encode()).to_bytes(4, "little") + v.encode() for v in part.to_pylist()
        )
        offsets, data = _offsets_data(part)
        out = np.full(len(want) + 40, 0xAB, np.uint8)
        _plain_texts(offsets, data, out[: len(want)])
        assert bytes(out[: len(want)]) == want
        assert (out[len(want) :] == 0xAB).all()


@pytest.mark.parametrize("offset", [0, 3, 8, 13])
def test_present_values_and_booleans_compacted_in_order(offset):
    """The doubles and booleans of the present rows, in order, whatever the validity's
    bit offset, eight present rows at a time or not (none, some, all null per eight)."""
    from gridgeo.locate.parquetout import _compact8, _compact_bits

    rng = np.random.default_rng(offset)
    n = 1_003
    present = rng.random(n + offset) < rng.choice([0.0, 0.5, 0.97, 1.0], n + offset)
    valid = np.packbits(present, bitorder="little")
    present = present[offset:]
    vals = rng.random(n)
    out = np.full(8 * int(present.sum()) + 16, 0xAB, np.uint8)  # bytes, written exactly
    k = _compact8(vals.view(np.uint64), valid, offset, out[: 8 * int(present.sum())])
    assert k == present.sum() and np.array_equal(out[: 8 * k].view(np.float64), vals[present])
    assert (out[8 * k :] == 0xAB).all()
    flags = rng.random(n + 5) < 0.5
    bits = np.packbits(flags, bitorder="little")
    for v, voff in ((valid, offset), (np.zeros(0, np.uint8), 0)):
        keep = present if v.size else np.ones(n, bool)
        out8 = np.zeros((int(keep.sum()) + 7) // 8 + 1, np.uint8)
        k = _compact_bits(bits, 5, n, v, voff, out8)
        want = np.packbits(flags[5:][keep], bitorder="little")
        assert k == keep.sum() and bytes(out8[: want.size]) == want.tobytes()


@pytest.mark.parametrize(
    ("values", "one"),
    [
        (["a", "a", "a"], True),
        (["a", "a", "b"], False),
        (["ab", "a", "b"], False),
        (["a", "b", "a"], False),
        (["", "", ""], True),
        (["xy", "xy", "xy", "x"], False),
        (["xy", "xy", "xyxy"], False),
    ],
)
def test_one_value_text_found_whatever_the_first_rows(values, one):
    """A text column without nulls is written as one value only when every row is it."""
    from gridgeo.locate.parquetout import _Arena, _constant_values

    got = _constant_values(pa.array(values, pa.string()), _Arena(1024))
    assert (got is not None) == one


def test_row_numbers_are_written_as_their_text_would_be():
    """The row numbers written by the writer itself are the bytes of their text as
    ``row_ids`` makes it (4-byte length, the digits), across a new digit, near the end of
    the part (no byte past it) and from any first row."""
    from gridgeo.locate.parquetout import _row_number_texts, _row_numbers_size

    rng = np.random.default_rng(11)
    cases = [(0, 0), (0, 1), (0, 25), (7, 1), (95, 10), (99_999_990, 30), (999_999_998, 5)]
    cases += [(int(rng.integers(0, 10**12)), int(rng.integers(0, 40))) for _ in range(200)]
    for start, n in cases:
        want = b"".join(len(str(v)).to_bytes(4, "little") + str(v).encode() for v in
                        range(start, start + n))  # fmt: skip
        assert _row_numbers_size(start, n) == len(want)
        out = np.full(len(want) + 16, 0xAB, np.uint8)
        _row_number_texts(start, n, out[: len(want)])
        assert bytes(out[: len(want)]) == want, (start, n)
        assert (out[len(want) :] == 0xAB).all()


def test_an_answer_given_its_first_row_writes_the_row_numbers_as_ids(monkeypatch):
    """``prepare(row_start=)``: the ``id`` column is the row numbers whatever the batch
    holds there — the same file as with their text in the batch, a row group cut in two
    included, into reused buffers too."""
    import gridgeo.locate.encode as encode
    from gridgeo.locate.csvout import BufferPool
    from gridgeo.locate.points import row_ids

    monkeypatch.setattr(encode, "ROW_GROUP_MAX", 64)
    gen = _Answer(np.random.default_rng(23), 40)
    starts, sizes = [0, 200, 201, 1000], [200, 1, 0, 90]
    batches = [gen.chunk(n) for n in sizes]
    with_text = [
        b.set_column(0, "id", row_ids(s, b.num_rows)) for s, b in zip(starts, batches, strict=True)
    ]
    without = [b.set_column(0, "id", pa.nulls(b.num_rows, pa.string())) for b in batches]
    plain = _ParquetEncoder(gen.schema)
    expected = b"".join(plain.write(plain.prepare(b)) for b in with_text) + plain.close()
    for pool in (None, BufferPool(2)):
        enc = _ParquetEncoder(gen.schema)
        got = b"".join(
            bytes(enc.write(enc.prepare(b, pool=pool, row_start=s)))
            for s, b in zip(starts, without, strict=True)
        )
        assert got + enc.close() == expected
    assert pq.read_table(io.BytesIO(expected)).column("id").to_pylist()[198:202] == [
        "198",
        "199",
        "200",
        "1000",
    ]
