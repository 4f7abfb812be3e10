"""GeoParquet WKB points read straight from the pages (:mod:`gridgeo.locate.parquetin`):
the same x, y as pyarrow + shapely, bit for bit, for every codec, page version and
encoding pyarrow writes; None (read by pyarrow instead) for anything else."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

from gridgeo.locate.encode import wkb_points
from gridgeo.locate.parquetin import point_column, read_points


def _groups(table: pa.Table, **options) -> tuple[list, list]:
    """What :func:`read_points` gives for each row group, and shapely's x, y."""
    out = io.BytesIO()
    pq.write_table(table, out, **options)
    body = pa.py_buffer(out.getvalue())
    pf = pq.ParquetFile(pa.BufferReader(body))
    leaf = point_column(pf.schema, "geometry")
    assert leaf is not None
    max_def = pf.schema.column(leaf).max_definition_level
    got, want = [], []
    for g in range(pf.metadata.num_row_groups):
        got.append(read_points(pa.BufferReader(body), pf.metadata, g, leaf, max_def))
        col = pf.read_row_group(g).column("geometry").combine_chunks()
        geoms = shapely.from_wkb(col.to_numpy(zero_copy_only=False))
        want.append((shapely.get_x(geoms), shapely.get_y(geoms)))
    return got, want


def _points(n: int, repeat: bool) -> pa.Table:
    rng = np.random.default_rng(5)
    x, y = rng.uniform(-180, 180, n), rng.uniform(-90, 90, n)
    x[:6] = [np.nan, -0.0, np.inf, 5e-324, 0.0, 1e308]
    if repeat:  # few distinct points: every page dictionary-encoded
        x, y = x[np.arange(n) % 97], y[np.arange(n) % 97]
    return pa.table({"geometry": wkb_points(x, y)})


@pytest.mark.parametrize("codec", ["snappy", "none", "zstd"])
@pytest.mark.parametrize("version", ["1.0", "2.0"])
@pytest.mark.parametrize("dictionary", [True, False])
@pytest.mark.parametrize("repeat", [True, False])
def test_plain_points_read_from_the_pages_as_shapely_reads_them(codec, version, dictionary, repeat):
    table = _points(9000, repeat)
    for options in ({"row_group_size": 4000}, {"row_group_size": 9000, "data_page_size": 2000}):
        got, want = _groups(
            table,
            compression=codec,
            data_page_version=version,
            use_dictionary=dictionary,
            **options,
        )
        for (x, y), (wx, wy) in zip(got, want, strict=True):
            assert x.tobytes() == wx.tobytes() and y.tobytes() == wy.tobytes()


def test_a_required_column_is_read_too():
    table = _points(500, False)
    table = table.cast(pa.schema([pa.field("geometry", pa.binary(), nullable=False)]))
    (got,), ((wx, wy),) = _groups(table)
    assert got[0].tobytes() == wx.tobytes() and got[1].tobytes() == wy.tobytes()


@pytest.mark.parametrize("kind", ["null", "three-d", "big-endian", "line", "gzip"])
def test_anything_but_plain_points_is_left_to_pyarrow(kind):
    x, y = np.linspace(121, 122, 50), np.linspace(25, 26, 50)
    values = wkb_points(x, y).to_pylist()
    options = {}
    if kind == "null":
        values[40] = None
    elif kind == "three-d":
        values[3] = shapely.to_wkb(shapely.points(1.0, 2.0, 3.0))
    elif kind == "big-endian":
        values[49] = shapely.to_wkb(shapely.points(1.0, 2.0), byte_order=0)
    elif kind == "line":
        values[10] = shapely.to_wkb(shapely.linestrings([[0, 0], [1, 1]]))
    else:
        options["compression"] = "gzip"
    (got,), _want = _groups(pa.table({"geometry": pa.array(values, pa.binary())}), **options)
    assert got is None


def test_only_a_top_level_byte_array_column_is_read():
    geo = pa.StructArray.from_arrays([pa.array([1.0]), pa.array([2.0])], names=["x", "y"])
    out = io.BytesIO()
    pq.write_table(pa.table({"geometry": geo, "g2": pa.array([1])}), out)
    schema = pq.ParquetFile(io.BytesIO(out.getvalue())).schema
    assert point_column(schema, "geometry") is None
    assert point_column(schema, "g2") is None


def test_an_empty_point_is_nan_as_through_pyarrow():
    """GEOS writes POINT EMPTY as a 21-byte point of NaN: read as NaN (a bad row), as
    :func:`~gridgeo.locate.points._wkb_xy` reads it from pyarrow's array."""
    from gridgeo.locate.points import _wkb_xy

    values = wkb_points(np.linspace(121, 122, 5), np.linspace(25, 26, 5)).to_pylist()
    values[2] = shapely.to_wkb(shapely.Point())
    col = pa.array(values, pa.binary())
    out = io.BytesIO()
    pq.write_table(pa.table({"geometry": col}), out)
    body = pa.py_buffer(out.getvalue())
    meta = pq.ParquetFile(pa.BufferReader(body)).metadata
    x, y = read_points(pa.BufferReader(body), meta, 0, 0, 1)
    wx, wy = _wkb_xy(col)
    assert np.isnan(x[2]) and np.isnan(y[2])
    assert x.tobytes() == wx.tobytes() and y.tobytes() == wy.tobytes()


def _scanned(body: bytes, part: int | None = None, seed: int = 0, whole: bool = True):
    """The pages :class:`PageScan` decoded from ``body`` fed in parts of random sizes
    (up to ``part`` bytes), after its walk ended by itself (``whole``) or at once."""
    import time

    from gridgeo.locate.parquetin import PageScan

    scan = PageScan()
    rng = np.random.default_rng(seed)
    at = 0
    while at < len(body):
        n = int(rng.integers(1, (part or 4096) + 1))
        scan.feed(body[at : at + n])
        at += n
    deadline = time.monotonic() + 30
    last, since = -1, time.monotonic()
    while whole and not scan.done and time.monotonic() < deadline:
        # a body cut short never shows its footer: the walk waits for more, its pages
        # decoded once it has taken every part and decodes no more for a while
        if len(scan.pages) != last:
            last, since = len(scan.pages), time.monotonic()
        elif scan._taken == scan._fed and time.monotonic() - since > 0.3:
            break
        time.sleep(0.01)
    return scan, scan.finish()


def _per_group(body: bytes, read) -> list:
    """``read(source, metadata, group, leaf, max_def)`` for every row group of ``body``."""
    buf = pa.py_buffer(body)
    pf = pq.ParquetFile(pa.BufferReader(buf))
    leaf = point_column(pf.schema, "geometry")
    assert leaf is not None
    max_def = pf.schema.column(leaf).max_definition_level
    return [
        read(pa.BufferReader(buf), pf.metadata, g, leaf, max_def)
        for g in range(pf.metadata.num_row_groups)
    ]


def _read_with(body: bytes, pages) -> list:
    return _per_group(body, lambda src, meta, g, leaf, d: read_points(src, meta, g, leaf, d, pages))


@pytest.mark.parametrize("codec", ["snappy", "none", "zstd"])
@pytest.mark.parametrize("version", ["1.0", "2.0"])
@pytest.mark.parametrize("dictionary", [True, False])
@pytest.mark.parametrize("repeat", [True, False])
def test_pages_decoded_while_the_body_arrives_are_the_points_read_after(
    codec, version, dictionary, repeat
):
    """Every page of the point column decoded by the walk of the arriving body (in parts
    of any size) is taken by :func:`read_points`, giving the same x, y bit for bit."""
    table = _points(9000, repeat)
    table = table.append_column("id", pa.array(np.arange(9000)))
    out = io.BytesIO()
    pq.write_table(
        table,
        out,
        compression=codec,
        data_page_version=version,
        use_dictionary=dictionary,
        row_group_size=4000,
        data_page_size=2000,
    )
    body = out.getvalue()
    want = _read_with(body, None)
    assert all(w is not None for w in want)
    scan, pages = _scanned(body, part=3000, seed=len(body))
    assert scan.done and len(pages) >= 3
    got = _read_with(body, pages)
    assert pages == {}  # every decoded page taken: the id column's were never kept
    for (x, y), (wx, wy) in zip(got, want, strict=True):
        assert x.tobytes() == wx.tobytes() and y.tobytes() == wy.tobytes()


def test_a_required_column_is_decoded_while_it_arrives_too():
    table = _points(3000, False)
    table = table.cast(pa.schema([pa.field("geometry", pa.binary(), nullable=False)]))
    out = io.BytesIO()
    pq.write_table(table, out, data_page_size=2000, compression="zstd")
    body = out.getvalue()
    want = _read_with(body, None)
    _scan, pages = _scanned(body)
    assert {v[3] for v in pages.values()} == {0}  # read without definition levels
    got = _read_with(body, pages)
    assert pages == {}
    assert got[0][0].tobytes() == want[0][0].tobytes()
    assert got[0][1].tobytes() == want[0][1].tobytes()


def test_a_body_cut_short_keeps_only_whole_pages_and_reads_the_same():
    table = _points(9000, False)
    out = io.BytesIO()
    pq.write_table(table, out, data_page_size=2000, row_group_size=3000)
    body = out.getvalue()
    want = _read_with(body, None)
    _scan, pages = _scanned(body[: len(body) // 2])
    assert pages and max(pages) < len(body) // 2
    got = _read_with(body, pages)  # the rest decoded as before
    for (x, y), (wx, wy) in zip(got, want, strict=True):
        assert x.tobytes() == wx.tobytes() and y.tobytes() == wy.tobytes()


@pytest.mark.parametrize("kind", ["null", "gzip", "not parquet", "corrupt page"])
def test_pages_the_walk_does_not_know_are_left_to_the_reader(kind):
    """A page with a null, another codec, a body that is not Parquet or a damaged page
    header: nothing (or only the pages before it) decoded ahead, and the body reads as
    without the walk (the same points, or None for pyarrow to read)."""
    x, y = np.linspace(121, 122, 3000), np.linspace(25, 26, 3000)
    values = wkb_points(x, y).to_pylist()
    options: dict = {"data_page_size": 2000}
    if kind == "null":
        values[2500] = None
    if kind == "gzip":
        options["compression"] = "gzip"
    out = io.BytesIO()
    pq.write_table(pa.table({"geometry": pa.array(values, pa.binary())}), out, **options)
    body = out.getvalue()
    if kind == "not parquet":
        scan, pages = _scanned(b"lon,lat\n" + b"121.5,25.0\n" * 5000)
        assert scan.done and pages == {} and scan._queue.empty()
        return
    if kind == "corrupt page":  # the second page's header
        second = sorted(_scanned(body)[1])[1]
        body = body[:second] + b"\xff" * 8 + body[second + 8 :]
    _scan, pages = _scanned(body)
    if kind == "gzip":
        assert pages == {}
    if kind == "corrupt page":
        assert len(pages) == 1 and max(pages) < second
    try:
        want = _read_with(body, None)
    except (OSError, pa.ArrowException):  # a footer this damage makes unreadable
        return
    got = _read_with(body, pages)
    for g, w in zip(got, want, strict=True):
        assert (g is None) == (w is None)
        if w is not None:
            assert g[0].tobytes() == w[0].tobytes() and g[1].tobytes() == w[1].tobytes()


def test_levels_all_one_walked_by_runs_as_decoded():
    """Definition levels checked "all 1" by their runs say what decoding every value says,
    for random RLE / bit-packed streams (value bytes other than 0 and 1, short streams,
    runs past the page's values, empty runs)."""
    from gridgeo.locate.parquetin import _all_ones, _hybrid

    rng = np.random.default_rng(5)
    for _ in range(3000):
        parts = []
        for _run in range(int(rng.integers(1, 5))):
            if rng.random() < 0.5:  # RLE: header, one value byte
                run = int(rng.integers(0, 300))
                head = run << 1
                parts += [*_uleb(head), int(rng.choice([1, 1, 1, 0, 3]))]
            else:  # bit-packed: header, groups bytes (mostly all ones)
                groups = int(rng.integers(0, 6))
                parts += [*_uleb(groups << 1 | 1)]
                parts += [
                    255 if rng.random() < 0.8 else int(rng.integers(256)) for _ in range(groups)
                ]
        buf = np.array(parts, np.uint8)
        end = int(rng.integers(0, buf.size + 1)) if rng.random() < 0.2 else buf.size
        n = int(rng.integers(0, 400))
        out = np.empty(n, np.int64)
        want = _hybrid(buf, 0, end, 1, n, out) >= 0 and bool((out == 1).all())
        assert _all_ones(buf, 0, end, n) == want


def _uleb(v: int) -> list[int]:
    out = []
    while v > 0x7F:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    return [*out, v]


def _checked(body: bytes, limits, pages=None) -> list:
    """:func:`read_checked_points` of every row group of ``body``."""
    from gridgeo.locate.parquetin import read_checked_points

    return _per_group(
        body,
        lambda src, meta, g, leaf, d: read_checked_points(src, meta, g, leaf, d, pages, limits),
    )


@pytest.mark.parametrize("codec", ["snappy", "none"])
@pytest.mark.parametrize("dictionary", [True, False])
@pytest.mark.parametrize("repeat", [True, False])
def test_values_checked_while_read_say_what_the_value_check_says(codec, dictionary, repeat):
    """The check made while the points are read (finite, within ±180/±90 in degrees)
    says True only where :func:`~gridgeo.locate.points._all_valid` of the row group's
    x, y says True: a bad value anywhere in a page, or in the dictionary its values are
    taken from, is looked for; the x, y are the same as without the check."""
    from gridgeo.locate.points import _FINITE_MAX, _all_valid

    rng = np.random.default_rng(11)
    n = 8000
    bad = [np.nan, np.inf, -np.inf, 180.5, -90.0000001, 1e308, -0.0, 180.0, -90.0]
    for trial in range(12):
        x, y = rng.uniform(-180, 180, n), rng.uniform(-90, 90, n)
        if repeat:
            x, y = x[np.arange(n) % 53], y[np.arange(n) % 53]
        at = int(rng.integers(0, n))
        (x if trial % 2 else y)[at] = bad[trial % len(bad)]
        out = io.BytesIO()
        pq.write_table(
            pa.table({"geometry": wkb_points(x, y)}),
            out,
            compression=codec,
            use_dictionary=dictionary,
            row_group_size=3000,
            data_page_size=1500,
        )
        body = out.getvalue()
        for degrees, limits in ((True, (180.0, 90.0)), (False, (_FINITE_MAX, _FINITE_MAX))):
            got = _checked(body, limits)
            plain = _read_with(body, None)
            for (gx, gy, valid), (px, py) in zip(got, plain, strict=True):
                assert gx.tobytes() == px.tobytes() and gy.tobytes() == py.tobytes()
                assert valid in (True, False)
                if valid:
                    assert _all_valid(gx, gy, degrees)
                elif not repeat:  # (a dictionary's unused bad value may say False)
                    assert not _all_valid(gx, gy, degrees)


def test_pages_decoded_ahead_are_not_called_checked():
    """Points taken from the walk of the arriving body were not checked: None (the
    caller checks them)."""
    table = _points(3000, False)
    out = io.BytesIO()
    pq.write_table(table, out, data_page_size=2000)
    body = out.getvalue()
    _scan, pages = _scanned(body)
    assert pages
    assert [g[2] for g in _checked(body, (180.0, 90.0), pages)] == [None]
    assert [g[2] for g in _checked(body, (180.0, 90.0))] == [False]  # NaN, ±inf in _points
