"""Writing layers: GeoPackage (default), Shapefile, GeoJSON (RFC 7946), GeoParquet, FlatGeobuf.

Every write goes to a temporary file (or folder) next to the target and is moved into
place only when complete, so a failure never leaves a partial file behind and an
existing file is replaced as a whole.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from gridgeo.errors import CRSError, InputError, Problem
from gridgeo.i18n import _
from gridgeo.io._encoding import normalise_encoding
from gridgeo.io.atomic import atomic_path

log = logging.getLogger(__name__)

SUFFIX_DRIVERS = {
    ".gpkg": "GPKG",
    ".shp": "ESRI Shapefile",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".parquet": "Parquet",
    ".geoparquet": "Parquet",
    ".fgb": "FlatGeobuf",
}
_DRIVER_ALIASES = {
    "gpkg": "GPKG",
    "geopackage": "GPKG",
    "esri shapefile": "ESRI Shapefile",
    "shapefile": "ESRI Shapefile",
    "shp": "ESRI Shapefile",
    "geojson": "GeoJSON",
    "json": "GeoJSON",
    "parquet": "Parquet",
    "geoparquet": "Parquet",
    "flatgeobuf": "FlatGeobuf",
    "fgb": "FlatGeobuf",
}
_SINGLE_LAYER = {"GeoJSON", "Parquet", "FlatGeobuf"}
#: Decimal places written to GeoJSON (RFC 7946 suggests fewer; 12 keeps 1e-9° round trips).
GEOJSON_PRECISION = 12
_SHP_SIDECARS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx")
_LDID_CP936 = 0x4D  # dBASE language driver id of code page 936 (GBK)


def resolve_driver(path: str | os.PathLike[str], driver: str | None = None) -> str:
    """The OGR driver name for ``driver`` or, if None, from the file suffix.

    A path without suffix is a Shapefile folder when ``driver`` says so.
    """
    if driver:
        key = driver.strip().lower()
        if key not in _DRIVER_ALIASES:
            raise ValueError(
                f"unsupported driver {driver!r}; use one of GPKG, ESRI Shapefile, GeoJSON, "
                "Parquet, FlatGeobuf"
            )
        return _DRIVER_ALIASES[key]
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIX_DRIVERS:
        raise ValueError(
            f"cannot tell the format of {path} from its suffix; use one of "
            f"{', '.join(SUFFIX_DRIVERS)} or pass driver="
        )
    return SUFFIX_DRIVERS[suffix]


def write_layers(
    path: str | os.PathLike[str],
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    driver: str | None = None,
    encoding: str | None = None,
    layer_metadata: Mapping[str, Mapping[str, str]] | None = None,
) -> Path:
    """Write one or more named layers, atomically.

    Parameters
    ----------
    path
        Target file. ``.gpkg`` (default format; any number of layers in one file),
        ``.shp`` (one layer), a folder with ``driver="ESRI Shapefile"`` (one
        ``<layer>.shp`` per layer), ``.geojson``/``.json`` (one layer, written as
        RFC 7946: WGS 84 lon/lat, counter-clockwise outer rings), ``.parquet``
        (GeoParquet, one layer) or ``.fgb`` (FlatGeobuf, one layer). An existing file
        is replaced as a whole.
    layers
        Layer name → GeoDataFrame. Every layer must have a CRS.
    driver
        Format, overriding the suffix (``"GPKG"``, ``"ESRI Shapefile"``,
        ``"GeoJSON"``, ``"Parquet"``, ``"FlatGeobuf"``).
    encoding
        Shapefile only: DBF text encoding, ``"UTF-8"`` (default) or ``"GBK"`` for old
        desktop GIS (writes a ``.cpg`` and the DBF code-page byte for code page 936;
        text GBK cannot hold, e.g. rare characters in names, is refused rather than
        silently dropped — use ``"GB18030"``, its lossless superset, for those).
        Field names longer than 10 bytes are shortened by GDAL (a warning is logged).
    layer_metadata
        GeoPackage only: layer name → metadata items kept with the layer (e.g. the code
        scheme, :mod:`gridgeo.io.metadata`); ignored by the other formats.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    CRSError
        If a layer has no CRS.
    InputError
        If the layers cannot be written in this format (several layers for a
        single-layer format, mixed geometry types in a Shapefile, GDAL errors); no
        file is left behind.
    """
    path = Path(path)
    drv = resolve_driver(path, driver)
    if not layers:
        raise ValueError("write_layers needs at least one layer")
    for name, gdf in layers.items():
        if not isinstance(gdf, gpd.GeoDataFrame):
            raise TypeError(f"layer {name!r} is not a GeoDataFrame")
        if not name or not str(name).strip():
            raise ValueError("layer names must not be empty")
        if gdf.crs is None:
            raise CRSError(
                _("cannot write {path}").format(path=path),
                [
                    Problem(
                        _("the layer has no CRS"), file=str(path), layer=name, rule="crs.missing"
                    )
                ],
            )
    if drv in _SINGLE_LAYER and len(layers) > 1:
        raise InputError(
            _("cannot write {path}").format(path=path),
            [
                Problem(
                    _(
                        "{driver} holds one layer per file but {n} were given ({layers}); use a "
                        ".gpkg or write them one by one"
                    ).format(driver=drv, n=len(layers), layers=", ".join(layers)),
                    file=str(path),
                    rule="write.single_layer",
                )
            ],
        )
    if encoding is not None and drv != "ESRI Shapefile":
        codec = normalise_encoding(encoding)
        if codec != "UTF-8":
            raise ValueError(f"{drv} is always UTF-8; encoding={encoding!r} is for Shapefiles")
    path.parent.mkdir(parents=True, exist_ok=True)
    if drv == "ESRI Shapefile":
        _write_shapefiles(path, layers, encoding)
    else:
        _write_single_file(path, layers, drv, layer_metadata or {})
    n = sum(len(g) for g in layers.values())
    log.info("wrote %d layers (%d features) to %s (%s)", len(layers), n, path, drv)
    return path


def _fail(path: Path, layer: str | None, exc: BaseException) -> InputError:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return InputError(
        _("cannot write {path}").format(path=path),
        [
            Problem(
                _("writing failed: {error}").format(error=msg),
                file=str(path),
                layer=layer,
                rule="write.failed",
            )
        ],
    )


def _prepare(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Drop pandas-only details writers choke on (named index → column)."""
    if gdf.index.name is not None or not isinstance(gdf.index, pd.RangeIndex):
        gdf = gdf.reset_index(drop=gdf.index.name is None or gdf.index.name in gdf.columns)
    return gdf


def _write_single_file(
    path: Path,
    layers: Mapping[str, gpd.GeoDataFrame],
    drv: str,
    metadata: Mapping[str, Mapping[str, str]],
) -> None:
    current: str | None = None
    try:
        with atomic_path(path, create=False) as tmp:  # GDAL wants to create the file itself
            for name, gdf in layers.items():
                current = name
                gdf = _prepare(gdf)
                if drv == "Parquet":
                    gdf.to_parquet(tmp, index=False)
                elif drv == "GeoJSON":
                    out = gdf.to_crs(4326) if not gdf.crs.equals(4326) else gdf
                    _ogr_write(
                        out,
                        tmp,
                        layer=name,
                        driver="GeoJSON",
                        layer_options={
                            "RFC7946": "YES",
                            "COORDINATE_PRECISION": str(GEOJSON_PRECISION),
                            "WRITE_NAME": "NO",
                        },
                    )
                elif drv == "FlatGeobuf":
                    # No spatial index: it would reorder the features (and their ids).
                    _ogr_write(
                        gdf,
                        tmp,
                        layer=name,
                        driver=drv,
                        promote_to_multi=False,
                        layer_options={"SPATIAL_INDEX": "NO"},
                    )
                else:
                    # Keep Polygon and MultiPolygon as they are (no promotion to multi).
                    meta = dict(metadata.get(name) or {}) or None
                    _ogr_write(
                        gdf,
                        tmp,
                        layer=name,
                        driver=drv,
                        promote_to_multi=False,
                        layer_metadata=meta,
                    )
    except Exception as exc:
        if isinstance(exc, InputError):
            raise
        raise _fail(path, current, exc) from exc


def _ogr_write(gdf: gpd.GeoDataFrame, path: Path, **kwargs: object) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        pyogrio.write_dataframe(gdf, path, **kwargs)
    for w in caught:
        log.warning("%s: %s", path.name, w.message)


def _write_shapefiles(
    path: Path, layers: Mapping[str, gpd.GeoDataFrame], encoding: str | None
) -> None:
    if path.suffix.lower() == ".shp":
        if len(layers) > 1:
            raise InputError(
                _("cannot write {path}").format(path=path),
                [
                    Problem(
                        _(
                            "a .shp file holds one layer but {n} were given; pass a folder path "
                            "with driver='ESRI Shapefile' to write one file per layer"
                        ).format(n=len(layers)),
                        file=str(path),
                        rule="write.single_layer",
                    )
                ],
            )
        targets = {next(iter(layers)): path}
    else:
        targets = {name: path / f"{name}.shp" for name in layers}
    codec = normalise_encoding(encoding) if encoding else "UTF-8"
    chinese_ansi = codec == "GB18030"  # GBK, GB2312, CP936 or GB18030 asked for
    strict_gbk = chinese_ansi and encoding.strip().lower() != "gb18030"
    cpg_name = ("GBK" if strict_gbk else "GB18030") if chinese_ansi else codec
    for name, gdf in layers.items():
        if strict_gbk:
            _check_gbk(gdf, targets[name], name)
        families = {
            {"MultiPolygon": "Polygon", "MultiLineString": "LineString", "MultiPoint": "Point"}.get(
                t, t
            )
            for t in gdf.geometry.dropna().geom_type.unique()
        }
        if len(families) > 1:
            raise InputError(
                _("cannot write {path}").format(path=path),
                [
                    Problem(
                        _(
                            "a Shapefile holds one geometry type but the layer mixes {types}; "
                            "use GeoPackage"
                        ).format(types=", ".join(sorted(families))),
                        file=str(targets[name]),
                        layer=name,
                        rule="write.mixed_geometry",
                    )
                ],
            )
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    current: str | None = None
    try:
        for name, gdf in layers.items():
            current = name
            tmp = staging / targets[name].name
            _ogr_write(_prepare(gdf), tmp, layer=name, driver="ESRI Shapefile", encoding=cpg_name)
            if chinese_ansi:
                _set_dbf_ldid(tmp.with_suffix(".dbf"), _LDID_CP936)
        if path.suffix.lower() != ".shp":
            path.mkdir(parents=True, exist_ok=True)
        for target in targets.values():
            for suffix in _SHP_SIDECARS:
                old = target.with_suffix(suffix)
                new = (staging / target.name).with_suffix(suffix)
                if new.exists():
                    os.replace(new, old)
                elif old.exists():
                    old.unlink()  # stale sidecar of a previous version
    except Exception as exc:
        if isinstance(exc, InputError):
            raise
        raise _fail(path, current, exc) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_gbk(gdf: gpd.GeoDataFrame, target: Path, layer: str) -> None:
    """Refuse text GBK cannot hold (GDAL would silently drop those characters)."""
    problems = []
    for col in gdf.columns:
        if col == gdf.geometry.name:
            continue
        if not _gbk_ok(str(col)):
            problems.append(
                Problem(
                    _("field name {name} has characters GBK cannot encode").format(name=repr(col)),
                    file=str(target),
                    layer=layer,
                    field=str(col),
                    rule="write.encoding",
                )
            )
        if not (gdf[col].dtype == object or pd.api.types.is_string_dtype(gdf[col])):
            continue
        for row, value in gdf[col].items():
            if isinstance(value, str) and not _gbk_ok(value):
                problems.append(
                    Problem(
                        _(
                            "{value} has characters GBK cannot encode; write with "
                            "encoding='GB18030' or 'UTF-8', or use GeoPackage"
                        ).format(value=repr(value)),
                        file=str(target),
                        layer=layer,
                        row=row if isinstance(row, int | str) else str(row),
                        field=str(col),
                        rule="write.encoding",
                    )
                )
    if problems:
        raise InputError(_("cannot write {path} in GBK").format(path=target), problems)


def _gbk_ok(text: str) -> bool:
    try:
        text.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True


def _set_dbf_ldid(dbf: Path, ldid: int) -> None:
    """Set the DBF header's language driver id (byte 29) so old software knows the code page."""
    with open(dbf, "r+b") as fh:
        fh.seek(29)
        fh.write(bytes([ldid]))


def _remove(p: Path) -> None:
    p.unlink(missing_ok=True)
