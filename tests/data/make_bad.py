"""Build the corpus of bad (and awkward) input files in ``tests/data/bad/``.

Every file is generated here — never edited by hand — so the corpus can be rebuilt
on a clean checkout (``tests/data/bad/`` is git-ignored). Run it directly::

    .venv/bin/python tests/data/make_bad.py [OUT_DIR]

or call :func:`build` (the tests do, through a session fixture). The build is skipped
when the folder already holds a corpus made by this exact script (a stamp file
records the script's hash), and a new corpus is assembled in a temporary folder and
moved into place, so concurrent test runs never see half a corpus.

Coordinates are small synthetic squares in central Shanghai (around 121.47°E,
31.23°N); codes are real NBS residents' committee codes of Huangpu district.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

DEFAULT_OUT = Path(__file__).resolve().parent / "bad"
_STAMP = ".stamp"

# Real 12-digit codes (南京东路街道, 黄浦区) and names.
CODES = ["310101002001", "310101002002", "310101002003", "310101002004"]
NAMES = ["云南中路居委会", "龙泉园路居委会", "贵州路居委会", "宁波路居委会"]


def _square(i: int, j: int = 0, size: float = 0.004) -> shapely.Polygon:
    x0 = 121.46 + i * size
    y0 = 31.22 + j * size
    return shapely.box(x0, y0, x0 + size, y0 + size)


def _communities(n: int = 4) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": CODES[:n], "name": NAMES[:n], "kind": ["urban"] * n},
        geometry=[_square(i) for i in range(n)],
        crs=4490,
    )


def _write(gdf: gpd.GeoDataFrame, path: Path, **kwargs: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pyogrio.write_dataframe(gdf, path, **kwargs)


def _script_hash() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def _make(out: Path) -> list[str]:
    made = []

    # 1. Shapefile without .prj: no CRS.
    d = out / "missing_prj"
    d.mkdir()
    _write(_communities(), d / "communities.shp")
    (d / "communities.prj").unlink()
    made.append("missing_prj/communities.shp")

    # 2. GBK-encoded DBF with Chinese field names and values, no .cpg (old desktop GIS).
    d = out / "gbk_dbf"
    d.mkdir()
    gbk = _communities().rename(columns={"name": "名称"})
    gbk["备注"] = ["老城区", "商业区", "居住区", "外滩附近"]
    _write(gbk, d / "communities.shp", encoding="GBK")
    (d / "communities.cpg").unlink()
    made.append("gbk_dbf/communities.shp")

    # 2b. Same GBK DBF, but a .cpg that wrongly claims UTF-8.
    d = out / "gbk_wrong_cpg"
    d.mkdir()
    _write(gbk, d / "communities.shp", encoding="GBK")
    (d / "communities.cpg").write_text("UTF-8", encoding="ascii")
    made.append("gbk_wrong_cpg/communities.shp")

    # 2c. The GBK Shapefile as it arrives by e-mail: zipped, in a sub-folder.
    with zipfile.ZipFile(out / "gbk_shapefile.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for part in sorted((out / "gbk_dbf").iterdir()):
            zf.write(part, f"社区边界/{part.name}")
    made.append("gbk_shapefile.zip")

    # 3. Bow-tie (self-intersecting) polygon.
    bow = _communities()
    x0, y0, x1, y1 = _square(1).bounds
    bow.loc[1, "geometry"] = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])
    _write(bow, out / "bowtie.gpkg", layer="communities")
    made.append("bowtie.gpkg")

    # 4. Empty and missing geometries.
    emp = _communities()
    emp.loc[1, "geometry"] = shapely.Polygon()
    emp.loc[2, "geometry"] = None
    _write(emp, out / "empty_geometry.gpkg", layer="communities")
    made.append("empty_geometry.gpkg")

    # 5. NaN coordinates: a polygon vertex in a GeoPackage, and blank/NaN cells in a CSV.
    nan = _communities()
    x0, y0, x1, y1 = _square(2).bounds
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        nan.loc[2, "geometry"] = shapely.Polygon(
            [(x0, y0), (x1, np.nan), (x1, y1), (x0, y1), (x0, y0)]
        )
    _write(nan, out / "nan_coordinates.gpkg", layer="communities")
    (out / "nan_coordinates.csv").write_text(
        "id,lon,lat,households\n1,121.47,31.23,3\n2,,31.231,2\n3,121.472,NaN,1\n4,abc,31.233,1\n",
        encoding="utf-8",
    )
    made += ["nan_coordinates.gpkg", "nan_coordinates.csv"]

    # 6. Swapped lon/lat: households written as (lat, lon).
    pts = [(31.23 + k * 0.001, 121.47 + k * 0.001) for k in range(5)]
    sw = gpd.GeoDataFrame(
        {"households": [1, 2, 3, 4, 5]}, geometry=[shapely.Point(p) for p in pts], crs=4326
    )
    _write(sw, out / "swapped_lonlat.gpkg", layer="households")
    made.append("swapped_lonlat.gpkg")

    # 6b. Points far outside China (a plain wrong CRS), one stray point.
    out_pts = gpd.GeoDataFrame(
        {"households": [1, 1, 1]},
        geometry=[
            shapely.Point(121.47, 31.23),
            shapely.Point(121.48, 31.24),
            shapely.Point(2.35, 48.85),
        ],
        crs=4326,
    )
    _write(out_pts, out / "outside_china.gpkg", layer="households")
    made.append("outside_china.gpkg")

    # 7. Mixed geometry types in a communities layer (GeoJSON allows it).
    mix = _communities()
    mix.loc[2, "geometry"] = shapely.LineString(list(_square(2).exterior.coords))
    mix.loc[3, "geometry"] = _square(3).centroid
    _write(mix.to_crs(4326), out / "mixed_geometry.geojson", driver="GeoJSON")
    made.append("mixed_geometry.geojson")

    # 8. Duplicate codes.
    dup = _communities()
    dup.loc[2, "code"] = dup.loc[0, "code"]
    dup.loc[3, "code"] = dup.loc[0, "code"]
    _write(dup, out / "duplicate_codes.gpkg", layer="communities")
    made.append("duplicate_codes.gpkg")

    # 9. 11-digit codes (a digit dropped, or Taiwan-style codes).
    short = _communities()
    short.loc[1, "code"] = "31010100200"
    _write(short, out / "code_11_digits.gpkg", layer="communities")
    made.append("code_11_digits.gpkg")

    # 9b. A street-level code where a community code is expected, and a missing name.
    lvl = _communities()
    lvl.loc[0, "code"] = "310101002000"
    lvl = lvl.drop(columns="name")
    _write(lvl, out / "code_level_no_name.gpkg", layer="communities")
    made.append("code_level_no_name.gpkg")

    # 10. CSV with Chinese column names, GBK-encoded as Excel on Chinese Windows saves it.
    rows = [
        ("云南中路居委会", "121.4750", "31.2335", "12", "310101002001"),
        ("龙泉园路居委会", "121.4790", "31.2322", "8", "310101002002"),
        ("贵州路居委会", "121.4770", "31.2359", "15", "310101002003"),
    ]
    text = "名称,经度,纬度,户数,社区代码\n" + "".join(",".join(r) + "\n" for r in rows)
    (out / "chinese_columns_gbk.csv").write_bytes(text.encode("gbk"))
    (out / "chinese_columns_utf8.csv").write_text(text, encoding="utf-8-sig")
    made += ["chinese_columns_gbk.csv", "chinese_columns_utf8.csv"]

    # 10b. Excel sheet with Chinese column names (phone-app export).
    df = pd.DataFrame(rows, columns=["名称", "经度", "纬度", "户数", "社区代码"])
    df["经度"] = df["经度"].astype(float)
    df["纬度"] = df["纬度"].astype(float)
    df["户数"] = df["户数"].astype(int)
    with pd.ExcelWriter(out / "households.xlsx", engine="openpyxl") as xl:
        df.to_excel(xl, sheet_name="户", index=False)
    made.append("households.xlsx")

    # 10c. GeoJSON saved in GBK by a Chinese desktop tool (RFC 7946 demands UTF-8).
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"名称": name, "户数": k + 10},
                "geometry": {"type": "Point", "coordinates": [121.47 + k * 0.001, 31.23]},
            }
            for k, name in enumerate(NAMES)
        ],
    }
    (out / "gbk.geojson").write_bytes(json.dumps(doc, ensure_ascii=False).encode("gbk"))
    made.append("gbk.geojson")

    # 11. A CSV without coordinate columns, a file that is not geodata, and an
    #     ambiguous multi-layer GeoPackage.
    (out / "no_coordinates.csv").write_text("名称,地址\n甲,南京东路1号\n", encoding="utf-8")
    (out / "not_geodata.gpkg").write_bytes(b"this is not a GeoPackage\n" * 10)
    _write(_communities(), out / "two_layers.gpkg", layer="communities")
    _write(sw, out / "two_layers.gpkg", layer="households")
    made += ["no_coordinates.csv", "not_geodata.gpkg", "two_layers.gpkg"]

    # 12. A clean communities layer (the control case).
    _write(_communities(), out / "good.gpkg", layer="communities")
    made.append("good.gpkg")
    return made


def build(out: str | os.PathLike[str] = DEFAULT_OUT, *, force: bool = False) -> Path:
    """Build the corpus into ``out`` (skipped if already built by this script version).

    Returns
    -------
    pathlib.Path
        The corpus folder.
    """
    out = Path(out)
    stamp = out / _STAMP
    digest = _script_hash()
    if not force and stamp.exists() and stamp.read_text().strip() == digest:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _make(tmp)
        (tmp / _STAMP).write_text(digest)
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old.{os.getpid()}")
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if out.exists() and (out / _STAMP).exists():
            return out  # another process won the race with the same corpus
        raise
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    path = build(target, force=True)
    print(f"corpus written to {path}")
