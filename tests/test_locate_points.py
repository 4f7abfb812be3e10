"""Reading incident points and bringing them into the registry CRS."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyproj
import pytest

from gridgeo.crs import wgs84_to_bd09, wgs84_to_gcj02
from gridgeo.errors import CRSError, InputError
from gridgeo.locate.points import detect_format, read_points, to_srid


@pytest.mark.parametrize(
    ("name", "ctype", "fmt"),
    [
        ("a.csv", None, "csv"),
        ("a.GeoJSON", None, "geojson"),
        ("a.arrow", None, "arrow"),
        (None, "text/csv; charset=utf-8", "csv"),
        (None, "application/geo+json", "geojson"),
        (None, "application/vnd.apache.arrow.stream", "arrow"),
    ],
)
def test_detect_format(name, ctype, fmt):
    assert detect_format(name, ctype) == fmt


def test_detect_format_unknown():
    with pytest.raises(InputError, match="cannot tell the format"):
        detect_format("a.xlsx")


@pytest.mark.parametrize(
    "header", ["lon,lat", "LNG,Latitude", "x,y", "经度,纬度", "long,lat", " Longitude , LAT "]
)
def test_csv_column_names(header):
    """The same lon/lat names as gridgeo.io.read_layer (gridgeo.io.schemas.LON_NAMES)."""
    pts = read_points(
        f"id,{header},category\na,121.5,25.0,noise\nb,121.6,25.1,\n".encode(), fmt="csv"
    )
    assert list(pts.ids) == ["a", "b"]
    assert pts.x.tolist() == [121.5, 121.6] and pts.y.tolist() == [25.0, 25.1]
    assert pts.category[0] == "noise" and pts.category[1] is None


def test_csv_bad_values_are_all_listed():
    with pytest.raises(InputError) as err:
        read_points(b"lon,lat\n121.5,x\n,25\n121.5,25\n", fmt="csv", source="p.csv")
    where = sorted((p.row, p.field) for p in err.value.problems)
    assert where == [(0, "lat"), (1, "lon")]
    assert all(p.file == "p.csv" for p in err.value.problems)


def test_geojson_ids_and_categories():
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": 7,
                "geometry": {"type": "Point", "coordinates": [121.5, 25.0]},
                "properties": {"category": "noise"},
            },
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [121.6, 25.1]},
                "properties": {"id": "x"},
            },
        ],
    }
    pts = read_points(json.dumps(doc).encode(), fmt="geojson")
    assert list(pts.ids) == ["7", "x"]
    assert list(pts.category) == ["noise", None]


@pytest.mark.parametrize("kind", ["stream", "file"])
def test_arrow_stream_and_file(kind):
    table = pa.table({"lon": [121.5, 121.6], "lat": [25.0, 25.1]})
    sink = io.BytesIO()
    opener = ipc.new_stream if kind == "stream" else ipc.new_file
    with opener(sink, table.schema) as w:
        w.write_table(table)
    pts = read_points(sink.getvalue(), fmt="arrow")
    assert pts.x.tolist() == [121.5, 121.6] and list(pts.ids) == ["0", "1"]


def test_read_missing_file(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        read_points(tmp_path / "nothing.csv")


@pytest.mark.parametrize(("crs", "forward"), [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_to_srid_special_datums_agree_with_wgs84(crs, forward):
    lon = np.array([121.50, 121.55, 113.3])
    lat = np.array([25.03, 25.01, 23.1])
    x0, y0 = to_srid(lon, lat, "wgs84", 3826)
    fx, fy = forward(lon, lat)
    x1, y1 = to_srid(fx, fy, crs, 3826)
    assert np.allclose(x0, x1, atol=0.01) and np.allclose(y0, y1, atol=0.01)


def test_to_srid_cgcs2000_and_epsg():
    x0, y0 = to_srid([121.5], [25.0], "cgcs2000", 3826)
    want = pyproj.Transformer.from_crs(4490, 3826, always_xy=True).transform(121.5, 25.0)
    assert np.allclose([x0[0], y0[0]], want)
    x1, y1 = to_srid(x0, y0, "EPSG:3826", 3826)
    assert np.allclose(x1, x0) and np.allclose(y1, y0)


def test_to_srid_errors():
    with pytest.raises(CRSError):
        to_srid([1.0], [2.0], "mars-2", 3826)
    with pytest.raises(InputError, match="out of range"):
        to_srid([25.0, 250.0], [121.0, 25.0], "wgs84", 3826)


@pytest.mark.parametrize(
    ("feature", "field", "rule"),
    [
        ({"geometry": {"type": "Point", "coordinates": {}}}, "geometry", "points.coordinate"),
        ({"geometry": {"type": "Point", "coordinates": "121,25"}}, "geometry", "points.coordinate"),
        ({"geometry": {"type": "Point", "coordinates": [121.5]}}, "geometry", "points.coordinate"),
        ({"geometry": {"type": "LineString", "coordinates": [[1, 2], [3, 4]]}}, "geometry", None),
        ({"id": {"a": 1}, "geometry": {"type": "Point", "coordinates": [121.5, 25]}}, "id", None),
        (
            {"properties": {"category": {}}, "geometry": {"type": "Point", "coordinates": [1, 2]}},
            "category",
            "points.category",
        ),
        (
            {
                "properties": {"category": True},
                "geometry": {"type": "Point", "coordinates": [1, 2]},
            },
            "category",
            "points.category",
        ),
    ],
)
def test_unusable_geojson_features_name_the_row_and_field(feature, field, rule):
    good = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [121.5, 25.0]}}
    doc = {"type": "FeatureCollection", "features": [good, {"type": "Feature", **feature}]}
    with pytest.raises(InputError) as err:
        read_points(json.dumps(doc).encode(), fmt="geojson")
    (problem,) = err.value.problems
    assert problem.row == 1 and problem.field == field
    if rule:
        assert problem.rule == rule


@pytest.mark.parametrize(("x", "y", "field"), [(250.0, 25.0, "lon"), (121.0, 95.0, "lat")])
def test_out_of_range_names_the_coordinate(x, y, field):
    with pytest.raises(InputError) as err:
        to_srid([121.0, x], [25.0, y], "wgs84", 3826)
    assert err.value.problems[0].field == field and err.value.problems[0].row == 1


def test_point_file_reads_chunks_and_wkb_points(tmp_path):
    """PointFile (streamed batches): chunks of bounded size, GeoParquet WKB points read
    from the buffer or through shapely, bad rows numbered over the whole file."""
    import pyarrow.parquet as pq
    import shapely

    from gridgeo.locate.encode import wkb_points
    from gridgeo.locate.points import PointFile

    lon = np.linspace(121.0, 122.0, 25)
    lat = np.linspace(25.0, 25.5, 25)
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"geometry": wkb_points(lon, lat)}), path)
    pf = PointFile(path, "parquet", chunk=10)
    assert pf.check() == 25
    parts = list(pf.chunks())
    assert [s for s, _ in parts] == [0, 10, 20] and [len(p) for _, p in parts] == [10, 10, 5]
    assert np.allclose(np.concatenate([p.x for _, p in parts]), lon)
    assert parts[1][1].ids.to_pylist()[0] == "10"
    # big-endian WKB from shapely: the slow path gives the same coordinates
    wkb = shapely.to_wkb(shapely.points(lon, lat), byte_order=0)
    pq.write_table(pa.table({"geometry": pa.array(wkb, pa.binary())}), path)
    pf = PointFile(path, "parquet", chunk=10)
    assert pf.check() == 25
    assert np.allclose(np.concatenate([p.y for _, p in pf.chunks()]), lat)
    csv = tmp_path / "p.csv"
    csv.write_text("lon,lat\n" + "121.5,25.0\n" * 30 + "121.5,\n" + "x,25\n")
    with pytest.raises(InputError) as err:
        PointFile(csv, "csv", chunk=7).check()
    assert {(p.row, p.field) for p in err.value.problems} == {(30, "lat"), (31, "lon")}


@pytest.mark.parametrize("fmt", ["parquet", "csv", "arrow"])
def test_chunks_without_the_row_numbers_text_say_their_first_row(tmp_path, fmt):
    """``chunks(row_numbers=False)``: no id column, so no ids built, ``row_start`` the first
    row's number (what the GeoParquet writer writes); with an id column the ids as read."""
    import pyarrow.parquet as pq

    from gridgeo.locate.encode import wkb_points
    from gridgeo.locate.points import PointFile

    lon, lat = np.linspace(121.0, 122.0, 25), np.linspace(25.0, 25.5, 25)
    for ids in (None, [f"p{i}" for i in range(25)]):
        cols = {} if ids is None else {"id": ids}
        path = tmp_path / f"p.{fmt}"
        if fmt == "parquet":
            pq.write_table(pa.table({**cols, "geometry": wkb_points(lon, lat)}), path)
        elif fmt == "arrow":
            table = pa.table({**cols, "lon": lon, "lat": lat})
            with ipc.new_stream(str(path), table.schema) as w:
                w.write_table(table, max_chunksize=7)
        else:
            rows = zip(ids or [None] * 25, lon.tolist(), lat.tolist(), strict=True)
            head = "lon,lat\n" if ids is None else "id,lon,lat\n"
            path.write_text(head + "".join(f"{a},{x!r},{y!r}\n" if a else f"{x!r},{y!r}\n"
                                           for a, x, y in rows))  # fmt: skip
        pf = PointFile(path, fmt, chunk=10)
        assert pf.check() == 25
        texts = [(s, p.ids, p.row_start) for s, p in pf.chunks()]
        lazy = [(s, p.ids, p.row_start) for s, p in pf.chunks(row_numbers=False)]
        assert [s for s, _i, _r in lazy] == [s for s, _i, _r in texts]
        if ids is None:
            assert all(i is None and r == s for s, i, r in lazy)
            assert [v for _s, i, _r in texts for v in i.to_pylist()] == [str(n) for n in range(25)]
            assert all(r == s and i.to_pylist()[0] == str(s) for s, i, r in texts)
        else:
            got = [v for _s, i, _r in lazy for v in i.to_pylist()]
            assert got == ids and all(r is None for _s, _i, r in lazy)


@pytest.mark.parametrize("source", ["path", "bytes"])
def test_a_big_geoparquet_is_read_row_group_by_row_group(tmp_path, source):
    """Reading a GeoParquet body holds about one row group, not the whole file: pyarrow's
    read-ahead (``pre_buffer``) held every row group's column chunks (+1 GB at 50 M points)."""
    import pyarrow.parquet as pq

    from gridgeo.locate.encode import wkb_points
    from gridgeo.locate.points import PointFile

    n = 1_000_000
    rng = np.random.default_rng(0)
    lon, lat = rng.uniform(121.0, 122.0, n), rng.uniform(25.0, 25.5, n)
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"geometry": wkb_points(lon, lat)}), path, row_group_size=50_000)
    size = path.stat().st_size
    body = path if source == "path" else path.read_bytes()
    pf = PointFile(body, "parquet", chunk=25_000, keep_bytes=0)
    start = pa.total_allocated_bytes()
    peak = 0
    assert pf.check() == n
    for _, part in pf.chunks():
        peak = max(peak, pa.total_allocated_bytes() - start)
        assert len(part) <= pf.chunk
    assert peak < size / 2, f"{peak >> 20} MiB held for a {size >> 20} MiB file"


@pytest.mark.parametrize("keep", [0, 3000, 64 << 20])
def test_point_file_reads_a_csv_once_within_its_keep_budget(tmp_path, keep):
    """PointFile keeps what check() read (up to keep_bytes) and reads only the rest again:
    the same chunks, text and row numbers whether nothing, part or all of the file is kept;
    bad rows are found in the one pass, with their numbers over the whole file."""
    from gridgeo.locate.points import PointFile

    n = 95
    lines = [f"{i},{121 + i / 1000:.4f},25.{i:03d}0,c{i % 3}" for i in range(n)]
    csv = tmp_path / "p.csv"
    csv.write_text("id,lon,lat,category\n" + "\n".join(lines) + "\n")
    pf = PointFile(csv, "csv", chunk=20, keep_bytes=keep)
    pf._parts = _small_batches(pf._parts)  # type: ignore[method-assign]  # several batches
    assert pf.check() == n
    kept = len(pf._kept)
    assert kept == {0: 0, 3000: kept, 64 << 20: 4}[keep] and (keep != 3000 or 0 < kept < 4)
    parts = list(pf.chunks())
    assert [s for s, _ in parts] == [0, 20, 40, 60, 80]  # 30-row batches joined into 20s
    x = np.concatenate([p.x for _, p in parts])
    assert np.allclose(x, [121 + i / 1000 for i in range(n)])
    assert pa.concat_arrays([p.x_text for _, p in parts]).to_pylist()[:2] == [
        "121.0000",
        "121.0010",
    ]
    assert pa.concat_arrays([p.ids for _, p in parts]).to_pylist() == [str(i) for i in range(n)]
    assert [c for _, p in parts for c in p.category][:4] == ["c0", "c1", "c2", "c0"]
    assert sum(len(p) for _, p in pf.chunks()) == n  # a second pass reads the file again
    bad = tmp_path / "bad.csv"
    bad.write_text("lon,lat\n" + "121.5,25.0\n" * 40 + "121.5,\n" + "x,25\n" + "121.5, 25.1\n")
    with pytest.raises(InputError) as err:
        PointFile(bad, "csv", chunk=7, keep_bytes=keep).check()
    assert {(p.row, p.field) for p in err.value.problems} == {(40, "lat"), (41, "lon")}


def _small_batches(parts):
    """Wrap PointFile._parts so a small file comes in batches of 30 rows."""

    def wrapped(text_xy=False, **kw):
        for b, x, y in parts(text_xy, **kw):
            for s in range(0, b.num_rows, 30):
                yield b.slice(s, 30), x[s : s + 30], y[s : s + 30]

    return wrapped


def test_row_ids_are_the_decimal_text_arrow_gives():
    import pyarrow.compute as pc

    from gridgeo.locate.points import row_ids

    for start, n in [(0, 0), (0, 1), (0, 12_345), (9, 3), (999_999, 5), (123_456_789_012, 7)]:
        got = row_ids(start, n)
        got.validate(full=True)
        want = pc.cast(pa.array(np.arange(start, start + n, dtype=np.int64)), pa.string())
        assert got.equals(want), (start, n)


@pytest.mark.parametrize("fmt", ["csv", "arrow", "parquet"])
def test_point_file_in_memory_reads_as_the_file(tmp_path, fmt):
    """A body held in memory (bytes) gives the same chunks as the same bytes in a file."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from gridgeo.locate.points import PointFile

    n = 95
    table = pa.table(
        {
            "id": [f"p{i}" for i in range(n)],
            "lon": 121 + np.arange(n) / 1000,
            "lat": 25 + np.arange(n) / 2000,
        }
    )
    sink = io.BytesIO()
    if fmt == "csv":
        pacsv.write_csv(table, sink)
    elif fmt == "parquet":
        pq.write_table(table, sink, row_group_size=30)
    else:
        with ipc.new_stream(sink, table.schema) as w:
            w.write_table(table, max_chunksize=30)
    body = sink.getvalue()
    path = tmp_path / ("p." + fmt)
    path.write_bytes(body)
    got = []
    for source in (path, body, pa.py_buffer(body)):
        pf = PointFile(source, fmt, chunk=20)
        assert pf.check() == n
        parts = list(pf.chunks())
        got.append(
            (
                [s for s, _ in parts],
                np.concatenate([p.x for _, p in parts]).tolist(),
                pa.concat_arrays([p.ids for _, p in parts]).to_pylist(),
            )
        )
    assert got[0] == got[1] == got[2]
    assert got[0][2] == [f"p{i}" for i in range(n)]


def test_point_file_chunks_are_whole_chunks_across_batches(tmp_path):
    """chunks() cuts and joins the batches the reader gives into pieces of ``chunk`` rows
    (the last one fewer), numbered over the whole file; a bad row makes check() raise."""
    from gridgeo.locate.points import PointFile

    n = 95
    csv = ("lon,lat\n" + "".join(f"{121 + i / 1000:.4f},25.{i:03d}0\n" for i in range(n))).encode()
    pf = PointFile(csv, "csv", chunk=20)
    pf._parts = _small_batches(pf._parts)  # type: ignore[method-assign]  # 30-row batches
    assert pf.check() == n
    parts = list(pf.chunks())
    assert [s for s, _p in parts] == [0, 20, 40, 60, 80]
    assert np.concatenate([p.x for _, p in parts]).tolist() == [121 + i / 1000 for i in range(n)]
    assert pa.concat_arrays([p.x_text for _, p in parts]).to_pylist()[41] == "121.0410"
    bad = csv.replace(b"121.0450,", b"121.0450x,")
    pf = PointFile(bad, "csv", chunk=20)
    pf._parts = _small_batches(pf._parts)  # type: ignore[method-assign]
    with pytest.raises(InputError):
        pf.check()


@pytest.mark.parametrize("degrees", [True, False])
def test_point_file_refuses_degrees_out_of_range_with_the_file_row(degrees):
    """With degrees=True, check() refuses a longitude beyond 180 (row numbered over the
    whole file), as to_srid would have done later, in the middle of the answer."""
    from gridgeo.locate.points import PointFile

    rows = ["121.5,25.0"] * 50
    rows[43] = "200.5,25.0"
    rows[47] = "121.5,-95"
    body = ("lon,lat\n" + "\n".join(rows) + "\n").encode()
    pf = PointFile(body, "csv", chunk=10, degrees=degrees)
    if not degrees:  # projected coordinates: any finite number
        assert pf.check() == 50
        return
    with pytest.raises(InputError) as err:
        pf.check()
    (p,) = err.value.problems
    assert (p.row, p.field, p.rule) == (43, "lon", "points.range")
    assert "2 points" in str(err.value)


@pytest.mark.parametrize("keep", [0, 700, 64 << 20])
@pytest.mark.parametrize("held", ["memory", "file"])
def test_point_file_reads_a_csv_without_quotes_by_blocks_once(tmp_path, monkeypatch, keep, held):
    """A CSV whose rows hold no quote is parsed by byte blocks cut after a newline; past the
    keep budget, chunks() starts again at the block of the first row not kept (each row
    parsed once) and gives the chunks, text and row numbers a whole read gives."""
    from gridgeo.locate import points
    from gridgeo.locate.points import PointFile

    monkeypatch.setattr(points, "_CSV_BLOCK", 256)
    n = 95
    lines = [f"{i},{121 + i / 1000:.4f},25.{i:03d}0,c{i % 3}" for i in range(n)]
    body = ('"id","lon","lat","category"\n' + "\n".join(lines) + "\n").encode()
    source = body if held == "memory" else tmp_path / "p.csv"
    if held == "file":
        source.write_bytes(body)
    pf = PointFile(source, "csv", chunk=20, keep_bytes=keep)
    assert pf.check() == n
    blocks = pf._csv_blocks()
    assert blocks is not None and len(blocks) > 3 and len(pf._block_rows) == len(blocks)
    assert sum(pf._block_rows) == n
    parsed = []
    real = pf._csv_block_parts
    monkeypatch.setattr(
        pf, "_csv_block_parts", lambda b, first, c: parsed.append(first) or real(b, first, c)
    )
    parts = list(pf.chunks())
    assert pa.concat_arrays([p.ids for _, p in parts]).to_pylist() == [str(i) for i in range(n)]
    assert np.allclose(np.concatenate([p.x for _, p in parts]), [121 + i / 1000 for i in range(n)])
    assert pa.concat_arrays([p.x_text for _, p in parts]).to_pylist()[1] == "121.0010"
    assert all(len(p) <= 20 for _, p in parts)
    if keep == 64 << 20:
        assert parsed == []  # all kept: not read again
    else:
        assert parsed and (keep == 0) == (parsed[0] == 0)  # from the first block not kept
    bad = body.replace(b"121.0450,", b"121.0450x,")
    with pytest.raises(InputError) as err:
        PointFile(bad, "csv", chunk=7, keep_bytes=keep).check()
    assert [(p.row, p.field) for p in err.value.problems] == [(45, "lon")]
    quoted = body.replace(b",c1\n", b',"c1"\n')
    assert PointFile(quoted, "csv", keep_bytes=0)._csv_blocks() is None  # quotes: streaming


def test_read_points_reads_geoparquet_by_lonlat_columns_or_wkb_geometry(tmp_path):
    """The whole-file reader (``gridgeo locate``) takes a GeoParquet as the batch route
    does: lon/lat columns or a WKB point geometry, ids and categories kept."""
    import pyarrow.parquet as pq

    from gridgeo.locate.encode import wkb_points
    from gridgeo.locate.points import read_points

    lon, lat = np.linspace(121.0, 121.5, 7), np.linspace(25.0, 25.3, 7)
    cats = ["环境卫生", None, "治安", None, None, "治安", None]
    pq.write_table(pa.table({"lon": lon, "lat": lat, "category": cats}), tmp_path / "a.parquet")
    pq.write_table(
        pa.table({"id": [f"p{i}" for i in range(7)], "geometry": wkb_points(lon, lat)}),
        tmp_path / "b.parquet",
    )
    a, b = read_points(tmp_path / "a.parquet"), read_points(tmp_path / "b.parquet")
    assert np.array_equal(a.x, lon) and np.array_equal(b.y, lat)
    assert list(a.ids) == [str(i) for i in range(7)] and list(b.ids)[:2] == ["p0", "p1"]
    assert list(a.category) == cats and b.category is None


@pytest.mark.parametrize("keep_xy", [0, 1 << 20])
def test_point_file_keeps_the_coordinates_of_blocks_past_its_keep_budget(monkeypatch, keep_xy):
    """Past keep_bytes, a CSV read by blocks keeps each block's parsed coordinates (within
    keep_xy_bytes): chunks() parses the text again but converts no number twice, and gives
    what a file read twice gives."""
    from gridgeo.locate import points
    from gridgeo.locate.points import PointFile

    monkeypatch.setattr(points, "_CSV_BLOCK", 256)
    n = 95
    body = (
        "lon,lat\n" + "".join(f"{121 + i / 1000:.4f},25.{i:03d}0\r\n" for i in range(n))
    ).encode()
    pf = PointFile(body, "csv", chunk=20, keep_bytes=700, keep_xy_bytes=keep_xy)
    assert pf.check() == n
    blocks = pf._csv_blocks()
    assert blocks is not None and len(blocks) > 3
    assert bool(pf._xy_kept) == bool(keep_xy) and 0 not in pf._xy_kept
    converted = []
    real = pf._xy
    monkeypatch.setattr(pf, "_xy", lambda b: converted.append(b.num_rows) or real(b))
    parts = list(pf.chunks())
    if keep_xy:
        assert converted == [] and not pf._xy_kept  # every kept block used once, then freed
    else:
        assert sum(converted) == n - pf._block_rows[0]  # all but the block kept whole
    assert np.concatenate([p.x for _, p in parts]).tolist() == [121 + i / 1000 for i in range(n)]
    assert pa.concat_arrays([p.y_text for _, p in parts]).to_pylist()[-1] == "25.0940"
    assert [s for s, _ in parts] == [0, 20, 40, 60, 80]  # blocks joined into whole chunks


@pytest.mark.parametrize("lines", [False, True])
def test_point_file_spills_the_coordinates_past_its_budgets_and_reads_them_back(monkeypatch, lines):
    """With ``spill``, the coordinates of the blocks past both budgets go to a temporary
    file: chunks() converts no number again (neither the text columns nor, for ``lines``,
    the numbers of each block) and gives the same points, texts and row order as a file
    read twice; the spill file is closed once chunks() is done."""
    from gridgeo.locate import points
    from gridgeo.locate.points import PointFile

    monkeypatch.setattr(points, "_CSV_BLOCK", 256)
    n = 95
    body = ("lon,lat\n" + "".join(f"{121 + i / 1000:.4f},25.{i:03d}0\n" for i in range(n))).encode()

    def read(spill: bool) -> tuple[list, list]:
        pf = PointFile(
            body, "csv", chunk=20, keep_bytes=0, keep_xy_bytes=0, lines=lines, spill=spill
        )
        assert pf.check() == n
        assert (pf._spill is not None) == spill
        converted: list[int] = []
        real_xy, real_numbers = pf._xy, pf._csv_numbers
        monkeypatch.setattr(pf, "_xy", lambda b: converted.append(b.num_rows) or real_xy(b))
        monkeypatch.setattr(
            pf, "_csv_numbers", lambda *a: converted.append(a[2] - a[1]) or real_numbers(*a)
        )
        spilled = pf._spill
        parts = list(pf.chunks())
        assert pf._spill is None and (spilled is None or spilled._fh.closed)
        assert bool(converted) != spill  # spilled: nothing converted again
        texts = [p.xy_text if lines else p.x_text for _s, p in parts]
        return parts, pa.concat_arrays(texts).to_pylist()

    got, got_text = read(True)
    want, want_text = read(False)
    assert [s for s, _ in got] == [s for s, _ in want] == [0, 20, 40, 60, 80]
    x = np.concatenate([p.x for _, p in got])
    y = np.concatenate([p.y for _, p in got])
    assert x.tolist() == np.concatenate([p.x for _, p in want]).tolist()
    assert x.tolist() == [121 + i / 1000 for i in range(n)]
    assert y.tolist() == [float(f"25.{i:03d}0") for i in range(n)]
    assert got_text == want_text and len(got_text) == n


def test_point_file_parses_again_when_the_spill_file_cannot_be_written(monkeypatch):
    """A spill write that fails (a full disk) stops spilling: the blocks not written are
    parsed again, the points are the same."""
    from gridgeo.locate import points
    from gridgeo.locate.points import PointFile

    monkeypatch.setattr(points, "_CSV_BLOCK", 256)
    calls = []
    real = points._XySpill.write

    def write(self, block, x, y):
        calls.append(block)
        return real(self, block, x, y) if len(calls) < 3 else False

    monkeypatch.setattr(points._XySpill, "write", write)
    n = 95
    body = ("lon,lat\n" + "".join(f"{121 + i / 1000:.4f},25.1\n" for i in range(n))).encode()
    pf = PointFile(body, "csv", chunk=20, keep_bytes=0, keep_xy_bytes=0, lines=True, spill=True)
    assert pf.check() == n and not pf.spill and len(calls) == 3
    x = np.concatenate([p.x for _, p in pf.chunks()])
    assert x.tolist() == [121 + i / 1000 for i in range(n)]


@pytest.mark.parametrize("keep_xy", [0, 64 << 20])
@pytest.mark.parametrize("keep", [0, 700, 64 << 20])
def test_point_file_gives_the_lines_of_a_lon_lat_csv_as_sent(monkeypatch, keep, keep_xy):
    """With ``lines``, a quote-free CSV of just lon,lat gives its lines as they are
    (``xy_text``, no parse of its text in chunks(); past the kept coordinates only the
    numbers parsed again): the same rows, coordinates and CSV answer bytes as the two
    text columns; a block whose lines are not all plain number text (here CRLF line
    ends) is parsed as before, and chunks joining the two kinds still come out whole."""
    from gridgeo.locate import points
    from gridgeo.locate.csvout import csv_bytes
    from gridgeo.locate.points import PointFile

    monkeypatch.setattr(points, "_CSV_BLOCK", 256)
    n = 95
    rows = [f"{121 + i / 1000:.4f},25.{i:03d}0" for i in range(n)]
    ends = ["\r\n" if 40 <= i < 50 else "\n" for i in range(n)]
    body = ('"lon","lat"\n' + "".join(r + e for r, e in zip(rows, ends, strict=True))).encode()
    body = body[:-1]  # the last line without its line end

    def answer(pf: PointFile) -> tuple[bytes, list]:
        assert pf.check() == n
        out, parts = b"", list(pf.chunks())
        for start, p in parts:
            raw = {"lon,lat": p.xy_text} if p.xy_text is not None else None
            raw = raw or {"lon": p.x_text, "lat": p.y_text}
            table = pa.table({"id": p.ids, "lon": p.x, "lat": p.y})
            out += csv_bytes(table, header=start == 0, raw=raw)
        return out, parts

    kw = {"chunk": 20, "keep_bytes": keep, "keep_xy_bytes": keep_xy}
    got, parts = answer(PointFile(body, "csv", lines=True, **kw))
    want, before = answer(PointFile(body, "csv", **kw))
    assert got == want and got.splitlines()[1:] == [
        f'"{i}",{r}'.encode() for i, r in enumerate(rows)
    ]
    assert any(p.xy_text is not None for _, p in parts)
    assert all(p.xy_text is None for _, p in before)
    assert [s for s, _ in parts] == [0, 20, 40, 60, 80]
    assert np.concatenate([p.x for _, p in parts]).tolist() == [121 + i / 1000 for i in range(n)]
    # another column, or none asked for: the text columns as before
    three = ("lon,lat,id\n" + "".join(f"{r},x{i}\n" for i, r in enumerate(rows))).encode()
    pf = PointFile(three, "csv", lines=True, **kw)
    assert pf.check() == n and all(p.xy_text is None for _, p in pf.chunks())


def test_point_file_of_lines_names_every_bad_row_as_before(monkeypatch):
    """``lines`` parses the coordinates straight to numbers in check(); a block holding a
    value that is not a number is parsed as text instead, so every bad row is still named
    (the same problems as without ``lines``), and spaces around numbers read the same."""
    from gridgeo.locate import points
    from gridgeo.locate.points import PointFile

    monkeypatch.setattr(points, "_CSV_BLOCK", 256)
    rows = [f"{121 + i / 1000:.4f},25.{i:03d}0" for i in range(95)]
    rows[7], rows[60], rows[61] = "121.5x,25.1", "121.5,", " 121.5 ,25.2"
    body = ("lon,lat\n" + "\n".join(rows) + "\n").encode()
    found = []
    for lines in (True, False):
        with pytest.raises(InputError) as err:
            PointFile(body, "csv", chunk=20, keep_bytes=0, lines=lines).check()
        found.append([(p.row, p.field, p.message) for p in err.value.problems])
    assert found[0] == found[1] and [r[:2] for r in found[0]] == [(7, "lon"), (60, "lat")]
    good = body.replace(b"121.5x,25.1", b"121.5,25.1").replace(b"121.5,\n", b"121.5,25.3\n")
    a = PointFile(good, "csv", chunk=20, keep_bytes=0, lines=True)
    b = PointFile(good, "csv", chunk=20, keep_bytes=0)
    assert a.check() == b.check() == 95
    xa = np.concatenate([p.y for _, p in a.chunks()])
    assert xa.tolist() == np.concatenate([p.y for _, p in b.chunks()]).tolist()
    assert xa[61] == 25.2


@pytest.mark.parametrize("cut", [0, 1, 7, 8, 9, 63])
def test_line_starts_are_each_lines_first_byte_then_the_end(cut):
    """The starts of a block's lines (found 8 bytes at a time) are the bytes after each
    ``\\n``, then the end when the last line has none; empty when a byte is not one of a
    ``x,y`` line's (a space, a ``\\r``)."""
    from gridgeo.locate.points import _LINE_BYTES, _line_starts

    rng = np.random.default_rng(cut)
    text = "".join(
        f"{a},{b}\n" for a, b in rng.uniform(-180, 180, (300, 2)).round(rng.integers(0, 9))
    )
    text += "1,2\n\n3e5,-4.5E-3\n" + "9,9" * (cut % 2)
    data = np.frombuffer(text.encode()[cut:], np.uint8)
    ends = np.flatnonzero(data == 10) + 1
    want = np.concatenate([[0], ends, [data.size] if data[-1] != 10 else []]).astype(np.int64)
    assert np.array_equal(_line_starts(data, _LINE_BYTES), want)
    for bad in (b" ", b"\r"):
        broken = np.frombuffer(text.encode()[cut:] + bad + b"1,1\n", np.uint8)
        assert _line_starts(broken, _LINE_BYTES).size == 0


def test_the_value_check_says_what_a_test_of_each_value_says():
    """``_all_valid`` (one compare per value, counted in blocks) against the plain
    per-value rule, for edge values at block borders, in degrees and not."""
    from gridgeo.locate.points import _all_valid

    big = np.finfo(np.float64).max
    edge = [0.0, -0.0, 90.0, -90.0, 180.0, -180.0, 90.0000001, 180.0000001, 5e-324, big, -big,
            np.inf, -np.inf, np.nan]  # fmt: skip
    for degrees in (True, False):
        for a in edge:
            for b in edge:
                expected = bool(np.isfinite(a) and np.isfinite(b)) and not (
                    degrees and (abs(a) > 180 or abs(b) > 90)
                )
                for at in (0, 4095, 4096, 8999):
                    x, y = np.zeros(9000), np.zeros(9000)
                    x[at], y[at] = a, b
                    assert _all_valid(x, y, degrees) is expected, (a, b, at, degrees)
        assert _all_valid(np.empty(0), np.empty(0), degrees) is True


@pytest.mark.parametrize("bad", ["nan", "far", "null"])
def test_an_arrow_body_with_a_bad_value_names_its_row(bad):
    """An Arrow body (read-only coordinate views) still gets its bad rows named by the
    whole-file row, whether the fast check or the row-by-row passes see them."""
    from gridgeo.locate.points import PointFile

    lon = pa.array(np.full(30, 121.5))
    lat = np.full(30, 25.0)
    if bad == "nan":
        lat[17] = np.nan
    elif bad == "far":
        lat[17] = 95.0
    else:
        lon = pa.array([None if i == 17 else 121.5 for i in range(30)], pa.float64())
    table = pa.table({"lon": lon, "lat": lat})
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as w:
        w.write_table(table, max_chunksize=10)
    pf = PointFile(sink.getvalue(), "arrow", chunk=8, degrees=True)
    with pytest.raises(InputError) as err:
        pf.check()
    (p,) = err.value.problems
    field = "lon" if bad == "null" else "lat"
    assert (p.row, p.field) == (17, field)


def test_row_ids_across_every_width_and_the_word_limit():
    """Row ids as Arrow's text across the widths 1–10 (the 8-byte word of up to 8 digits
    and the digit loop past it), each start just before a new width, and chunk-sized runs."""
    import pyarrow.compute as pc

    from gridgeo.locate.points import row_ids

    cases = [(10**w - 3, 7) for w in range(1, 11)]
    cases += [(0, 100_001), (4_900_000, 100_000), (99_999_989, 25), (12_345_678_901_234, 12)]
    for start, n in cases:
        got = row_ids(start, n)
        got.validate(full=True)
        want = pc.cast(pa.array(np.arange(start, start + n, dtype=np.int64)), pa.string())
        assert got.equals(want), (start, n)


def _small_geoparquet(seed: int, n: int = 2000, bad_row: int | None = None) -> bytes:
    """A GeoParquet body of ``n`` WKB points in row groups of 300 (one bad lat at ``bad_row``)."""
    import pyarrow.parquet as pq

    from gridgeo.locate.encode import wkb_points

    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(121.0, 122.0, n), rng.uniform(24.0, 25.0, n)
    if bad_row is not None:
        lat[bad_row] = 91.0
    out = io.BytesIO()
    pq.write_table(pa.table({"geometry": wkb_points(lon, lat)}), out, row_group_size=300)
    return out.getvalue()


def _checked_xy(body: bytes, decoders=None) -> tuple[np.ndarray, np.ndarray]:
    from gridgeo.locate.points import PointFile

    pf = PointFile(body, "parquet", chunk=250, degrees=True, decoders=decoders)
    pf.check()
    parts = [p for _s, p in pf.chunks()]
    return np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts])


def test_geoparquet_bodies_are_decoded_by_the_decode_threads_given(monkeypatch):
    """Every GeoParquet body's row groups are decoded by the threads it is given (the
    service's two, kept for its life: the memory the last body freed is theirs to reuse),
    with the same points; without them, by two threads of the check's own that end with
    it (a process that forks later — the partitioner's pool — runs no thread of ours)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from gridgeo.locate import points

    seen: set[str] = set()
    decode = points.PointFile._pq_valid_group

    def spy(self, group):
        seen.add(threading.current_thread().name)
        return decode(self, group)

    bodies = [_small_geoparquet(seed) for seed in range(4)]
    wants = [read_points(body, fmt="parquet") for body in bodies]  # before the spy
    monkeypatch.setattr(points.PointFile, "_pq_valid_group", spy)
    with ThreadPoolExecutor(2, "test-decoders") as decoders:
        for body, want in zip(bodies, wants, strict=True):
            x, y = _checked_xy(body, decoders)
            assert x.tobytes() == want.x.tobytes() and y.tobytes() == want.y.tobytes()
    assert 1 <= len(seen) <= 2 and all(n.startswith("test-decoders") for n in seen)
    before = threading.active_count()
    seen.clear()
    x, y = _checked_xy(_small_geoparquet(9))
    assert seen and all(n.startswith("gridgeo-parquet") for n in seen)
    assert threading.active_count() == before  # the check's own threads have ended
    assert not [t for t in threading.enumerate() if t.name.startswith("gridgeo-parquet")]


def test_geoparquet_bodies_checked_at_once_share_the_decode_threads():
    """Bodies checked at the same time (requests in the route's threads) each get their
    own points, and a bad row in one is that body's error only."""
    from concurrent.futures import ThreadPoolExecutor

    bodies = [_small_geoparquet(seed, bad_row=1234 if seed == 2 else None) for seed in range(6)]

    def check(body: bytes, decoders) -> object:
        try:
            return _checked_xy(body, decoders)
        except InputError as exc:
            return exc

    with ThreadPoolExecutor(2) as decoders, ThreadPoolExecutor(6) as pool:
        got = list(pool.map(lambda b: check(b, decoders), bodies))
    for seed, (body, res) in enumerate(zip(bodies, got, strict=True)):
        if seed == 2:
            assert isinstance(res, InputError)
            assert [p.row for p in res.problems] == [1234]
            continue
        want = read_points(body, fmt="parquet")
        assert res[0].tobytes() == want.x.tobytes() and res[1].tobytes() == want.y.tobytes()


def test_a_forked_child_decodes_geoparquet_with_threads_of_its_own():
    """A child forked after the parent decoded a body decodes with threads of its own
    (none of the parent's check is left behind to wait for)."""
    import multiprocessing

    body = _small_geoparquet(7)
    x, _y = _checked_xy(body)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()

    def child() -> None:
        queue.put(_checked_xy(body)[0].tobytes())

    proc = ctx.Process(target=child)
    proc.start()
    try:
        assert queue.get(timeout=60) == x.tobytes()
    finally:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
