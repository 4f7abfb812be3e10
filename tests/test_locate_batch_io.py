"""Bulk locate bodies in and answers out: GeoParquet points read and written again, CSV
numbers echoed or formatted — the same values and bytes as the slower paths."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import shapely

from gridgeo.errors import InputError
from gridgeo.locate.csvout import format_floats
from gridgeo.locate.encode import _ParquetEncoder, wkb_points
from gridgeo.locate.points import PointFile, plain_wkb


def _lonlat(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(121.4, 121.6, n), rng.uniform(25.0, 25.2, n)


def _parquet(tmp_path, table: pa.Table, name: str = "body.parquet"):
    path = tmp_path / name
    pq.write_table(table, path, row_group_size=70)
    return path


def test_plain_wkb_only_for_21_byte_little_endian_points():
    lon, lat = _lonlat(50)
    col = wkb_points(lon, lat)
    assert plain_wkb(col) is col
    assert plain_wkb(col.slice(7, 20)) is not None
    big_endian = pa.array(shapely.to_wkb(shapely.points(lon, lat), byte_order=0))
    assert plain_wkb(big_endian) is None
    three_d = pa.array(shapely.to_wkb(shapely.points(lon, lat, np.zeros(50))))
    assert plain_wkb(three_d) is None
    with_null = pa.array([*col.to_pylist()[:3], None], pa.binary())
    assert plain_wkb(with_null) is None
    assert plain_wkb(pa.array(col.to_pylist(), pa.large_binary())) is None


def test_geoparquet_wkb_points_read_and_written_again_byte_for_byte(tmp_path):
    """The request's plain WKB points are not kept past the check: the answer writes them
    again from x, y (:func:`wkb_points`), the same bytes."""
    lon, lat = _lonlat(200)
    col = wkb_points(lon, lat)
    path = _parquet(tmp_path, pa.table({"geometry": col}))
    pf = PointFile(path, "parquet", chunk=64)
    assert pf.check() == 200
    xs, ys = [], []
    for start, pts in pf.chunks():
        xs.append(pts.x)
        ys.append(pts.y)
        assert wkb_points(pts.x, pts.y).equals(col.slice(start, len(pts)))
    assert np.array_equal(np.concatenate(xs), lon) and np.array_equal(np.concatenate(ys), lat)


def test_plain_wkb_points_read_from_their_bytes_as_shapely_reads_them():
    """x, y of 21-byte points read from the bytes (one pass) equal shapely's, bit for bit:
    NaN, -0.0, infinities, denormals, a slice."""
    import shapely

    from gridgeo.locate.points import _wkb_xy

    rng = np.random.default_rng(4)
    x = np.concatenate([rng.uniform(-180, 180, 200), [np.nan, -0.0, np.inf, 5e-324, 0.0]])
    y = np.concatenate([rng.uniform(-90, 90, 200), [1.0, np.nan, -np.inf, -0.0, 1e308]])
    col = wkb_points(x, y)
    for part in (col, col.slice(3, 150), col.slice(190)):
        gx, gy = _wkb_xy(part)
        geoms = shapely.from_wkb(part.to_numpy(zero_copy_only=False))
        assert gx.tobytes() == shapely.get_x(geoms).tobytes()
        assert gy.tobytes() == shapely.get_y(geoms).tobytes()


def test_geoparquet_other_wkb_read_through_shapely(tmp_path):
    lon, lat = _lonlat(30)
    geoms = shapely.to_wkb(shapely.points(lon, lat), byte_order=0)  # big endian
    path = _parquet(tmp_path, pa.table({"geometry": pa.array(geoms)}))
    pf = PointFile(path, "parquet", chunk=64)
    assert pf.check() == 30
    (_start, pts), *_rest = list(pf.chunks())
    assert np.allclose(pts.x, lon) and np.allclose(pts.y, lat)


def test_geoarrow_native_points_are_read(tmp_path):
    lon, lat = _lonlat(150)
    geom = pa.StructArray.from_arrays([pa.array(lon), pa.array(lat)], names=["x", "y"])
    path = _parquet(tmp_path, pa.table({"id": [f"p{i}" for i in range(150)], "geometry": geom}))
    pf = PointFile(path, "parquet", chunk=64)
    assert pf.check() == 150
    got = list(pf.chunks())
    assert np.array_equal(np.concatenate([p.x for _s, p in got]), lon)
    assert np.array_equal(np.concatenate([p.y for _s, p in got]), lat)
    ids = [i for _s, p in got for i in p.ids.to_pylist()]
    assert ids == [f"p{i}" for i in range(150)]


def test_geoarrow_null_point_is_a_numbered_bad_row(tmp_path):
    lon, lat = _lonlat(100)
    mask = np.zeros(100, bool)
    mask[83] = True
    geom = pa.StructArray.from_arrays(
        [pa.array(lon), pa.array(lat)], names=["x", "y"], mask=pa.array(mask)
    )
    path = _parquet(tmp_path, pa.table({"geometry": geom}))
    with pytest.raises(InputError) as err:
        PointFile(path, "parquet", chunk=64, source="request body").check()
    assert {(p.row, p.field) for p in err.value.problems} == {(83, "geometry")}


def test_parquet_answer_with_the_request_geometry_is_the_same_file():
    lon, lat = _lonlat(120)
    batch = pa.record_batch({"id": pa.array([str(i) for i in range(120)]), "lon": lon, "lat": lat})
    built, reused = _ParquetEncoder(batch.schema), _ParquetEncoder(batch.schema)
    a = built.write(built.prepare(batch)) + built.close()
    b = reused.write(reused.prepare(batch, wkb_points(lon, lat))) + reused.close()
    assert a == b
    assert pq.read_table(io.BytesIO(b)).column("geometry").to_pylist() == [
        bytes(v) for v in wkb_points(lon, lat).to_pylist()
    ]


def test_plain_raw_text_is_echoed_and_other_text_formatted():
    values = pa.array([121.5, 25.25, -3.0, 1e-5])
    plain = pa.array(["121.50", "25.25", "-3", "1E-5"])
    assert format_floats(values, plain).to_pylist() == ["121.50", "25.25", "-3", "1E-5"]
    mixed = pa.array(["121.50", " 25.25", "-3", "1E-5"])  # a space: that one from the value
    assert format_floats(values, mixed).to_pylist() == ["121.50", "25.25", "-3", "1E-5"]
    empty = pa.array(["121.50", "", "-3", "1E-5"])
    assert format_floats(values, empty).to_pylist()[1] == "25.25"


def test_three_decimal_numbers_as_pyarrow_writes_them():
    rng = np.random.default_rng(11)
    values = np.concatenate(
        [
            np.round(rng.uniform(0, 5000, 20_000), 3),
            np.round(rng.uniform(0, 1e9, 5_000), 3),
            np.round(rng.uniform(0, 2, 5_000), 1),
            np.array([0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 0.0005, 999999999.999, 1e-4]),
            -np.round(rng.uniform(0, 100, 1_000), 3),
        ]
    )
    arr = pa.array(values)
    assert format_floats(arr).to_pylist() == pc.cast(arr, pa.large_string()).to_pylist()


def test_csv_body_utf8_check_ascii_fast_path_and_bad_rows(tmp_path):
    from gridgeo.service.routes_locate import _ascii_file, _check_utf8_file

    ascii_body = tmp_path / "a.csv"
    ascii_body.write_bytes(b"lon,lat\n" + b"121.5,25.0\n" * 3000)
    assert _ascii_file(ascii_body, window=4096) and _ascii_file(ascii_body)
    _check_utf8_file(ascii_body)
    utf8 = tmp_path / "u.csv"
    utf8.write_bytes(b"id,lon,lat\n" + b"r,121.5,25.0\n" * 2000 + "甲,121.5,25.0\n".encode())
    assert not _ascii_file(utf8, window=4096)
    _check_utf8_file(utf8)  # UTF-8, not ASCII: accepted
    gbk = tmp_path / "g.csv"
    gbk.write_bytes(b"id,lon,lat\n" + b"r,121.5,25.0\n" * 2000 + "甲,121.5,25.0\n".encode("gbk"))
    with pytest.raises(InputError) as err:
        _check_utf8_file(gbk)
    assert "line 2002" in str(err.value)
    assert [p.row for p in err.value.problems] == [2000]


@pytest.mark.parametrize(
    "col",
    [
        pa.array([1, 2, 3]),
        pa.FixedSizeListArray.from_arrays(pa.array(np.arange(6, dtype=float)), 2),
        pa.StructArray.from_arrays([pa.array([1.0, 2.0, 3.0])], names=["a"]),
    ],
    ids=["numbers", "list", "struct-without-xy"],
)
def test_geometry_column_that_is_not_points_is_an_input_error(tmp_path, col):
    path = _parquet(tmp_path, pa.table({"geometry": col}))
    with pytest.raises(InputError) as err:  # was a TypeError (HTTP 500)
        PointFile(path, "parquet", source="request body").check()
    assert "not points" in str(err.value)
    assert [(p.field, p.rule) for p in err.value.problems] == [("geometry", "points.geometry")]


def test_spool_keeps_a_small_body_and_writes_a_large_one_off_the_event_loop(tmp_path, monkeypatch):
    """The batch body: bytes in memory up to batch_memory_bytes; above it, a temporary file
    written part by part in a thread (the bytes as sent, in order); refused midway (over the
    byte cap), nothing is left on disk."""
    import asyncio
    import tempfile
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path
    from types import SimpleNamespace

    from fastapi import HTTPException

    from gridgeo.service.routes_locate import _spool

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    parts = [bytes([65 + i % 26]) * 1000 for i in range(300)]

    class Request:
        async def stream(self):
            for p in parts:
                yield p
            yield b""

    settings = SimpleNamespace(
        batch_max_bytes=1 << 30, batch_max_points=10**9, batch_memory_bytes=5000
    )

    def spool():
        # a loop in a thread of its own: a browser test run earlier may leave a loop
        # running in this one (asyncio.run then refuses)
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, _spool(Request(), "arrow", settings)).result()

    got = spool()
    assert isinstance(got, Path) and got.parent == tmp_path
    assert got.read_bytes() == b"".join(parts)
    got.unlink()
    settings.batch_memory_bytes = 1 << 20
    assert spool() == b"".join(parts)
    settings.batch_memory_bytes, settings.batch_max_bytes = 5000, 250_000
    with pytest.raises(HTTPException) as err:
        spool()
    assert err.value.status_code == 413
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("declared", "held"),
    [(10, 100), (11, 100), (9, 100), (5, 100), (0, 100), (0, 4), (5, 4)],
)
@pytest.mark.parametrize("backlog", [16 << 20, 4, 0], ids=["thread", "some", "loop"])
def test_spool_gathers_a_declared_body_whatever_arrives(declared, held, backlog, monkeypatch):
    """The body is its bytes whether its declared length is right, short (more arrives:
    kept as parts from there), long (less arrives: what came) or absent, and when it is
    spooled past the memory size; its parts copied by the copier thread, on the event loop
    past the backlog, or both. No copier thread is left behind."""
    import asyncio
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path
    from types import SimpleNamespace

    from gridgeo.service import routes_locate
    from gridgeo.service.routes_locate import _spool

    monkeypatch.setattr(routes_locate, "_GATHER_BACKLOG", backlog)

    parts = [b"abc", b"", b"defg", b"hij"]

    class Request:
        async def stream(self):
            for p in parts:
                yield p

    settings = SimpleNamespace(batch_max_bytes=100, batch_max_points=100, batch_memory_bytes=held)
    with ThreadPoolExecutor(1) as pool:  # a loop of its own (see the test above)
        got = pool.submit(asyncio.run, _spool(Request(), "arrow", settings, None, declared))
        got = got.result()
    if isinstance(got, Path):
        data = got.read_bytes()
        got.unlink()
        assert held < 10  # spooled only past the memory size
    else:
        data = bytes(got)
    assert data == b"abcdefghij"
    assert not [t for t in threading.enumerate() if t.name == "gridgeo-body"]


def test_spool_cancelled_ends_the_copier_thread():
    """A body whose upload fails (here: past the byte cap) leaves no copier thread."""
    import asyncio
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from fastapi import HTTPException

    from gridgeo.service.routes_locate import _spool

    class Request:
        async def stream(self):
            for p in (b"abc", b"defg", b"x" * 200):
                yield p

    settings = SimpleNamespace(batch_max_bytes=100, batch_max_points=100, batch_memory_bytes=100)
    with ThreadPoolExecutor(1) as pool, pytest.raises(HTTPException) as err:
        pool.submit(asyncio.run, _spool(Request(), "arrow", settings, None, 150)).result()
    assert err.value.status_code == 413
    deadline = time.monotonic() + 5
    while [t for t in threading.enumerate() if t.name == "gridgeo-body"]:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def _geoparquet_with_ids(tmp_path, n: int, group: int, category: bool = True):
    lon, lat = _lonlat(n, seed=9)
    cols = {"id": [f"p{i}" for i in range(n)], "geometry": wkb_points(lon, lat)}
    if category:
        cols["category"] = ["a" if i % 3 else None for i in range(n)]
    path = tmp_path / "ids.parquet"
    pq.write_table(pa.table(cols), path, row_group_size=group)
    return path, lon, lat


def _read(pf: PointFile) -> tuple[list[int], np.ndarray, np.ndarray, list, list]:
    got = list(pf.chunks())
    cats = [c for _s, p in got for c in (p.category.tolist() if p.category is not None else [])]
    return (
        [s for s, _p in got],
        np.concatenate([p.x for _s, p in got]),
        np.concatenate([p.y for _s, p in got]),
        [i for _s, p in got for i in p.ids.to_pylist()],
        cats,
    )


@pytest.mark.parametrize(
    "keep, keep_xy", [(0, 0), (3000, 0), (0, 5000), (3000, 5000), (64 << 20, 64 << 20)]
)
@pytest.mark.parametrize("big_groups", [False, True])
def test_geoparquet_checked_points_kept_within_budget_and_not_decoded_again(
    tmp_path, monkeypatch, keep, keep_xy, big_groups
):
    """check() keeps each row group's checked x, y (with its id/category columns within
    ``keep_bytes``, alone within ``keep_xy_bytes``); chunks() decodes again only the rest
    (the ids alone of a row group whose points were kept): the same chunks, ids,
    categories and coordinates whatever was kept, row groups read in threads or (larger
    than ``_PQ_GROUP_ROWS``) batch by batch."""
    import gridgeo.locate.points as points

    if big_groups:
        monkeypatch.setattr(points, "_PQ_GROUP_ROWS", 100)
    n = 1000
    path, lon, lat = _geoparquet_with_ids(tmp_path, n, group=230)
    pf = PointFile(path, "parquet", chunk=64, keep_bytes=keep, keep_xy_bytes=keep_xy)
    assert pf.check() == n
    decoded: list[int] = []
    read_columns: list[tuple] = []
    xy, pages, batches = PointFile._xy, PointFile._pq_points_xy, PointFile._pq_batches

    def from_pages(self, group):
        got = pages(self, group)
        decoded.append(0 if got is None else len(got[0]))
        return got

    monkeypatch.setattr(PointFile, "_xy", lambda self, b: decoded.append(b.num_rows) or xy(self, b))
    monkeypatch.setattr(PointFile, "_pq_points_xy", from_pages)
    monkeypatch.setattr(
        PointFile,
        "_pq_batches",
        lambda self, g, cols: read_columns.append(tuple(cols)) or batches(self, g, cols),
    )
    starts, xs, ys, ids, cats = _read(pf)
    assert np.array_equal(xs, lon) and np.array_equal(ys, lat)
    assert ids == [f"p{i}" for i in range(n)]
    assert cats == ["a" if i % 3 else None for i in range(n)]
    assert starts[0] == 0 and starts == sorted(set(starts))
    if keep == keep_xy == 64 << 20:
        assert decoded == [] and read_columns == []  # read once
    elif keep_xy:
        assert sum(decoded) < n  # some points kept: not decoded again
        assert ("id", "category") in read_columns  # their ids read again, alone
    if keep == keep_xy == 0:
        assert sum(decoded) == n


@pytest.mark.parametrize("source", ["path", "bytes"])
def test_geoparquet_plain_points_read_from_the_pages_others_by_pyarrow(tmp_path, source):
    """A row group of plain WKB points is read from its pages (no Arrow binary array);
    a row group of other WKB (here big endian) by pyarrow and shapely: the same values."""
    import gridgeo.locate.parquetin as parquetin

    lon, lat = _lonlat(300)
    plain = wkb_points(lon, lat).to_pylist()
    big = shapely.to_wkb(shapely.points(lon, lat), byte_order=0).tolist()
    geometry = pa.array(plain[:140] + big[140:210] + plain[210:], pa.binary())
    path = _parquet(tmp_path, pa.table({"geometry": geometry}))  # row groups of 70
    body = path if source == "path" else path.read_bytes()
    pf = PointFile(body, "parquet", chunk=64)
    meta = pq.ParquetFile(path).metadata
    got = [parquetin.read_points(pa.memory_map(str(path)), meta, g, 0, 1) for g in range(5)]
    assert [g is None for g in got] == [False, False, True, False, False]
    assert pf.check() == 300
    _starts, xs, ys, ids, _cats = _read(pf)
    assert np.array_equal(xs, lon) and np.array_equal(ys, lat)
    assert ids == [str(i) for i in range(300)]


def test_geoparquet_bad_point_in_the_last_row_group_is_numbered_and_nothing_kept(tmp_path):
    """Row groups checked two at a time in threads: bad rows are numbered over the whole
    file, in order; a non-point WKB in the last row group is refused by row."""
    n = 1000
    lon, lat = _lonlat(n)
    wkb = wkb_points(lon, lat).to_pylist()
    wkb[998] = shapely.to_wkb(shapely.linestrings([[0, 0], [1, 1]]))
    wkb[5] = shapely.to_wkb(shapely.Point())  # empty: NaN
    path = _parquet(tmp_path, pa.table({"geometry": pa.array(wkb, pa.binary())}))
    pf = PointFile(path, "parquet", chunk=64, source="request body")
    with pytest.raises(InputError) as err:
        pf.check()
    assert sorted({p.row for p in err.value.problems}) == [5, 998]
    assert pf._pq_kept == {}
