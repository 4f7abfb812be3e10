"""The snappy decompression of a GeoParquet body's pages into each thread's buffer (``locate/snappy.py``)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from gridgeo.locate import snappy
from gridgeo.locate.encode import wkb_points


def _compressed(data: bytes) -> np.ndarray:
    return np.frombuffer(pa.compress(data, codec="snappy", asbytes=True), np.uint8)


def _cases() -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    n = 5_000
    points = wkb_points(rng.uniform(121.4, 121.6, n), rng.uniform(24.9, 25.1, n))
    page = b"".join(len(v).to_bytes(4, "little") + v for v in points.to_pylist())
    return {
        "WKB points as PLAIN values": page,
        "random bytes (long literals)": rng.integers(0, 256, 300_000, np.uint8).tobytes(),
        "short runs (overlapping copies)": b"ab" * 5_000 + b"abcdefg" * 3_000 + b"x" * 999,
        "text": b"the quick brown fox " * 4_000 + bytes(range(256)) * 40,
        "one byte": b"z",
        "nothing": b"",
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_decompressed_as_the_snappy_library_does(name):
    data = _cases()[name]
    src = _compressed(data)
    out = snappy.decompress(src, 0, src.size, len(data))
    assert out is not None and out.tobytes() == data


def test_a_block_inside_a_larger_buffer_and_buffer_reuse():
    a, b = b"first page " * 3_000, b"second, other page " * 100
    ca, cb = _compressed(a), _compressed(b)
    buf = np.concatenate([np.zeros(7, np.uint8), ca, cb, np.zeros(3, np.uint8)])
    first = snappy.decompress(buf, 7, 7 + ca.size, len(a))
    assert first is not None and first.tobytes() == a
    second = snappy.decompress(buf, 7 + ca.size, 7 + ca.size + cb.size, len(b))
    assert second is not None and second.tobytes() == b


def test_a_damaged_or_cut_block_or_a_wrong_size_is_refused():
    data = _cases()["WKB points as PLAIN values"]
    src = _compressed(data)
    assert snappy.decompress(src, 0, src.size, len(data) + 1) is None  # another size
    assert snappy.decompress(src, 0, src.size - 1, len(data)) is None  # cut short
    assert snappy.decompress(src, 0, src.size, snappy.MAX_PAGE + 1) is None
    rng = np.random.default_rng(5)
    for _ in range(300):  # damaged anywhere: refused or (rarely) other bytes, never a crash
        bad = src.copy()
        at = rng.integers(0, bad.size, 3)
        bad[at] = rng.integers(0, 256, 3)
        out = snappy.decompress(bad, 0, bad.size, len(data))
        assert out is None or out.size == len(data)
    # a copy from before the output's start
    assert snappy.decompress(np.array([4, 0b01, 9], np.uint8), 0, 3, 4) is None
