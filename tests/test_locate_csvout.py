"""The compiled CSV writer gives the bytes ``pyarrow.csv.write_csv`` gives."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest

from gridgeo.locate.csvout import csv_bytes, format_floats


def _ref(table, header=True) -> bytes:
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, write_options=pacsv.WriteOptions(include_header=header))
    return buf.getvalue()


def _table(n: int, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    names = pa.array([f'网格 "{i}", 街道' if i % 7 else None for i in range(300)])
    g = rng.integers(-1, 300, n)
    ind = pa.array(np.where(g < 0, 0, g).astype(np.int32), mask=g < 0)
    special = [0.0, -0.0, 1e-4, 9.99e-5, 1e9, 1e-7, 12.0, 5e15, 1.5, 123456789.123, np.nan]
    values = np.concatenate(
        [
            rng.uniform(-180, 180, n // 4),  # 17 digits: pyarrow formats them
            np.round(rng.uniform(0, 3000, n // 4), 3),  # distances
            np.round(rng.uniform(-1e6, 1e10, n // 4), 2),
            rng.choice(np.array([*special, np.inf, -np.inf]), n - 3 * (n // 4)),
        ]
    )
    return pa.table(
        {
            "id": pa.array([None if i % 11 == 0 else f'r{i}"x' for i in range(n)]),
            "v": pa.array(values, mask=rng.random(n) < 0.1),
            "grid_code": pa.DictionaryArray.from_arrays(ind, names),
            "grid_name": pa.DictionaryArray.from_arrays(ind, names),  # shares the indices
            "b": pa.array(rng.random(n) < 0.5, mask=rng.random(n) < 0.2),
            "nothing": pa.nulls(n, pa.string()),
            "i": pa.array(np.arange(n)),
            "reason": pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(n, np.int32), mask=np.ones(n, bool)), pa.array(["x"])
            ),
        }
    )


@pytest.mark.parametrize("n", [0, 1, 3, 2_000])
def test_same_bytes_as_pyarrow(n):
    t = _table(n)
    assert csv_bytes(t) == _ref(t)
    assert csv_bytes(t, header=False) == _ref(t, header=False)


def test_chunked_table_and_record_batch():
    t = _table(500)
    two = pa.concat_tables([t.slice(0, 200), t.slice(200)])
    assert csv_bytes(two) == _ref(t)
    assert csv_bytes(t.to_batches()[0].slice(100, 50)) == _ref(t.slice(100, 50))


def test_raw_text_is_echoed_only_when_plain_number_text():
    values = pa.array([121.5, 121.5, 121.5, 121.123456789012345])
    raw = pa.array(["121.50", " 121.5", "1,2", "121.123456789012345"])
    assert format_floats(values, raw).to_pylist() == [
        "121.50",
        "121.5",
        "121.5",
        "121.123456789012345",
    ]
    # as pyarrow would format them when no text is given
    lon = np.random.default_rng(2).uniform(73, 135, 1_000)
    want = pc.cast(pa.array(lon), pa.string()).to_pylist()
    assert format_floats(pa.array(lon)).to_pylist() == want


@pytest.mark.parametrize("n", [1, 33, 5_000])
def test_long_texts_and_quote_free_columns(n):
    """Texts longer than one 32-byte copy step, texts ending at their buffer's end, and a
    quoted column without any ``"`` (copied whole) give pyarrow's bytes."""
    rng = np.random.default_rng(n)
    lengths = rng.integers(0, 90, 50)
    names = pa.array(["网格" * int(k) + f"{i}" for i, k in enumerate(lengths)])
    g = rng.integers(0, 50, n).astype(np.int16)
    ids = [f"id-{i}-" + "x" * int(rng.integers(0, 70)) for i in range(n)]
    t = pa.table(
        {
            "id": pa.array(ids),
            "grid_name": pa.DictionaryArray.from_arrays(pa.array(g), names),
            "tail": pa.array(["尾" * int(rng.integers(0, 40)) for _ in range(n)]),
        }
    )
    assert csv_bytes(t) == _ref(t)
    assert csv_bytes(t.slice(n // 3)) == _ref(t.slice(n // 3))


def test_buffer_pool_hands_out_a_buffer_again_only_when_nothing_refers_to_it():
    """The CSV writer's pool reuses a buffer once every view of it is released (the bytes
    still to be sent are never overwritten), and the answer's bytes stay pyarrow's."""
    from gridgeo.locate.csvout import BufferPool, csv_buffer

    pool = BufferPool(most=3)
    a = pool.take(100)
    view = memoryview(a)[:10]
    del a
    b = pool.take(50)
    assert not np.shares_memory(np.frombuffer(view, np.uint8), b)  # the view still holds it
    del view
    c = pool.take(100)
    assert np.shares_memory(c, pool._buffers[0]) and len(pool._buffers) == 2
    del b, c
    t = _table(2_000)
    first = csv_buffer(t, pool=pool)
    want = bytes(first)
    assert want == _ref(t)
    again = csv_buffer(t.slice(0, 500), header=False, pool=pool)  # the first is still held
    assert bytes(first) == want and bytes(again) == _ref(t.slice(0, 500), header=False)
    kept = pool._buffers[2].ctypes.data  # its address (a reference would keep it taken)
    del first, again
    last = csv_buffer(t, pool=pool)
    assert bytes(last) == want
    assert np.frombuffer(last, np.uint8).ctypes.data == kept  # a buffer written before


def test_numbers_of_up_to_three_decimals_read_as_pyarrow_writes_them():
    """Every magnitude from 1e-4 to 1e9 with 0 to 3 decimals, either sign, at the edges
    of the integer rule (1e-4, just below 1e9, trailing zeros): pyarrow's text."""
    rng = np.random.default_rng(5)
    scales = 10.0 ** np.arange(-4, 10)
    v = rng.uniform(0, 1, (scales.size, 2_000)) * scales[:, None]
    values = np.concatenate([np.round(v, d).ravel() for d in range(4)])
    edges = [1e-4, 0.001, 0.01, 0.1, 0.5, 0.999, 9.999, 10.0, 1e3, 999999999.999, 1e9 - 1]
    values = np.concatenate([values, -values, edges, np.negative(edges)])
    arr = pa.array(values)
    want = pc.cast(arr, pa.large_string())
    assert format_floats(arr).to_pylist() == want.to_pylist()


def _answer_to_lines(n: int, seed: int, ids: list[str | None]) -> tuple[pa.Table, dict]:
    """A batch answer's columns to a ``lon,lat`` body, and the body's lines (``raw=``)."""
    rng = np.random.default_rng(seed)
    lon = pa.array(np.round(rng.uniform(73, 135, n), int(rng.integers(3, 15))))
    lat = pa.array(rng.uniform(3, 53, n))  # 17 digits
    text = pc.binary_join_element_wise(
        pc.cast(lon, pa.large_string()),
        pc.cast(lat, pa.large_string()),
        pa.scalar(",", pa.large_string()),
    )
    lines = pc.binary_join_element_wise(
        text, pa.scalar("\n", pa.large_string()), pa.scalar("", pa.large_string())
    )
    if n:  # the body's last line may end without a line end
        lines = pa.concat_arrays([lines.slice(0, n - 1), text.slice(n - 1)])
    grids = pa.array([f'网格{i}"号"' if i % 5 else None for i in range(40)])
    g = rng.integers(-1, 40, n)
    grid = pa.array(np.where(g < 0, 0, g).astype(np.int16), mask=g < 0)
    d = rng.integers(-1, 3, n)
    dep = pa.array(np.where(d < 0, 0, d).astype(np.int16), mask=d < 0)
    cols = {
        "id": pa.array(ids, pa.string()),
        "lon": lon,
        "lat": lat,
        **{f"grid_{k}": pa.DictionaryArray.from_arrays(grid, grids) for k in range(9)},
        "category": pa.array([None if i % 3 else "噪音" for i in range(n)], pa.string()),
        "department": pa.DictionaryArray.from_arrays(dep, pa.array(["城管", "环保", "水务"])),
        "department_phone": pa.DictionaryArray.from_arrays(dep, pa.array(["1", "2", "3"])),
        "distance_to_border_m": pa.array(
            np.round(rng.uniform(0, 900, n), 3), mask=rng.random(n) < 0.1
        ),
        "near_border": pa.array(rng.random(n) < 0.5, mask=rng.random(n) < 0.1),
        "reason": pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(n, np.int32), mask=rng.random(n) < 0.9), pa.array(["远"])
        ),
    }
    return pa.table(cols), {"lon,lat": lines}


@pytest.mark.parametrize("n", [1, 7, 3_000])
def test_answer_to_a_body_of_lines_gives_pyarrows_bytes(n, monkeypatch):
    """The batch answer to a ``lon,lat`` body (its lines echoed; ids, categories and
    distances with nulls; grids with quotes) is pyarrow's CSV of the same columns,
    written by the row kernel of that layout — and by the general one when an id holds
    a ``"``."""
    from gridgeo.locate import csvout

    used = []
    kernel = csvout._assemble_lines
    monkeypatch.setattr(
        csvout, "_assemble_lines", lambda *a: used.append(1) or kernel(*a), raising=True
    )
    ids = [None if i % 4 == 0 else str(i) for i in range(n)]
    t, raw = _answer_to_lines(n, n, ids)
    assert csv_bytes(t, raw=raw) == _ref(t)
    assert csv_bytes(
        t.slice(n // 2), header=False, raw={"lon,lat": raw["lon,lat"].slice(n // 2)}
    ) == _ref(t.slice(n // 2), header=False)
    assert len(used) == 2
    t, raw = _answer_to_lines(n, n, ['say "hi"'] * n)
    assert csv_bytes(t, raw=raw) == _ref(t)
    assert len(used) == 2


@pytest.mark.parametrize(
    "values",
    [
        [0.0, -0.0, 0.001, 0.01, 0.1, 1.0, 10.5, 100.25, 999.999, 1000.0, 12345.678, -3.25, 1e-4],
        [999_999_999.999, 5e8, 0.0005, 7.0, 0.123],
        [1.5, 1e-5],  # fewer than 1e-4: formatted apart, then the general kernel
        [2.0, 1e9],  # 1e9 and more: likewise
        [0.5, 0.1234],  # more than 3 decimals: likewise
        [3.0, float("nan")],
    ],
)
def test_answer_to_a_body_of_lines_writes_each_distance_as_pyarrow(values, monkeypatch):
    """The row kernel of the lines' layout writes a distance of at most 3 decimals from
    its thousandths (zero, negative zero, every digit count): pyarrow's text; any other
    value sends the chunk to the general kernel, with the same bytes."""
    from gridgeo.locate import csvout

    used = []
    kernel = csvout._assemble_lines
    monkeypatch.setattr(csvout, "_assemble_lines", lambda *a: used.append(kernel(*a)) or used[-1])
    n = len(values)
    t, raw = _answer_to_lines(n, 5, [str(i) for i in range(n)])
    t = t.set_column(
        t.schema.get_field_index("distance_to_border_m"),
        "distance_to_border_m",
        pa.array(values, pa.float64()),
    )
    assert csv_bytes(t, raw=raw) == _ref(t)
    fast = all(v == 0 or (1e-4 <= abs(v) < 1e9 and round(v, 3) == v) for v in values)
    assert (used[0] >= 0) == fast
