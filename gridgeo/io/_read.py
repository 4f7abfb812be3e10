"""Reading layers from any format county centres use, into one GeoDataFrame shape."""

from __future__ import annotations

import io
import logging
import os
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely
from pyogrio.errors import DataLayerError, DataSourceError

from gridgeo.crs import crs_label, resolve_crs, to_wgs84
from gridgeo.errors import CRSError, InputError, Problem
from gridgeo.i18n import _
from gridgeo.io._encoding import (
    ZIP_ERRORS,
    EncodingGuess,
    guess_file_encoding,
    guess_shapefile_encoding,
    guess_zipped_shapefile_encoding,
)
from gridgeo.io.schemas import LAT_NAMES, LON_NAMES, find_column

log = logging.getLogger(__name__)


TABLE_SUFFIXES = {".csv", ".txt", ".tsv"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
PARQUET_SUFFIXES = {".parquet", ".geoparquet"}
JSON_SUFFIXES = {".geojson", ".json"}
# Formats that hold several named layers: the layer name is part of "source".
MULTI_LAYER_SUFFIXES = {".gpkg", ".sqlite", ".xlsx", ".xlsm"}

_CODE_COLUMN = re.compile(r"(code|代码|编码|编号)", re.IGNORECASE)


def split_layer_spec(spec: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """Split ``"file.gpkg:layer"`` into ``(Path("file.gpkg"), "layer")``.

    A path that exists as written, a :class:`~pathlib.Path` object, or a spec
    without a layer part gives ``(path, None)``. Windows drive letters
    (``C:\\data.gpkg``) are not mistaken for layers.

    Parameters
    ----------
    spec
        A path, optionally followed by ``:`` and a layer name.

    Returns
    -------
    tuple
        ``(path, layer or None)``.
    """
    if isinstance(spec, os.PathLike):
        return Path(spec), None
    text = str(spec)
    if os.path.exists(text):
        return Path(text), None
    head, sep, tail = text.rpartition(":")
    if sep and tail and len(head) > 1 and not re.search(r"[/\\]", tail):
        return Path(head), tail
    return Path(text), None


def list_layers(path: str | os.PathLike[str]) -> list[tuple[str, str | None]]:
    """The layers of a file as ``(name, geometry type or None)``.

    CSV and Parquet files have one layer named after the file; Excel workbooks one
    per sheet.

    Raises
    ------
    InputError
        If the file does not exist or cannot be opened.
    """
    path = Path(path)
    _must_exist(path)
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return [(path.stem, "Point")]
    if suffix in EXCEL_SUFFIXES:
        return [(name, "Point") for name in _excel_sheets(path)]
    if suffix in PARQUET_SUFFIXES:
        return [(path.stem, None)]
    try:
        layers = _ogr_layers(path)
    except (DataSourceError, DataLayerError, OSError, UnicodeDecodeError, ValueError) as exc:
        raise _unreadable(path, None, exc) from exc
    return [(str(name), None if gtype is None else str(gtype)) for name, gtype in layers]


def read_layer(
    path: str | os.PathLike[str],
    layer: str | None = None,
    *,
    crs: Any = None,
    encoding: str | None = None,
    default_crs: Any = None,
) -> gpd.GeoDataFrame:
    """Read one layer of a geodata file into a GeoDataFrame.

    Supports GeoPackage, Shapefile (DBF encoding from ``.cpg`` or detected: UTF-8,
    then GBK/GB18030), GeoJSON, FlatGeobuf, GeoParquet, and CSV/XLSX tables with
    lon/lat columns (names: ``lon/lng/longitude/long/x/经度`` and
    ``lat/latitude/y/纬度``).

    Parameters
    ----------
    path
        The file, or ``"file.gpkg:layer"``.
    layer
        The layer (GeoPackage) or sheet (Excel). Required when the file has
        several layers.
    crs
        The CRS of the coordinates in the file (anything
        :func:`gridgeo.crs.resolve_crs` accepts). Needed when the file has none
        (Shapefile without ``.prj``, CSV, Excel); overrides a geographic CRS in the
        file (GeoJSON always claims WGS 84), or a geographic one whose coordinates are
        clearly not degrees (old GeoJSON exports holding Gauss–Krüger metres).
        ``"gcj02"`` and ``"bd09"`` are converted to WGS 84 (EPSG:4326).
    encoding
        Text encoding of the attributes (default: detected).
    default_crs
        The CRS of a layer that declares none (CSV, Shapefile without ``.prj``), or
        declares a geographic one while holding metres; a declared CRS is kept. Ignored
        when ``crs`` is given. See :mod:`gridgeo.io.layer_crs` for the command-line rules.

    Returns
    -------
    geopandas.GeoDataFrame
        Geometry column ``geometry``; index = feature id (GeoPackage fid, else 0-based
        position). ``attrs``: ``source`` (``"<file>[:layer]"``), ``layer``,
        ``encoding``, ``source_crs`` and ``read_problems`` (row-level problems found
        while reading, e.g. unparseable coordinates; :func:`check_layer` reports them).

    Raises
    ------
    InputError
        If the file is missing or unreadable, or the layer is missing/ambiguous.
    CRSError
        If the layer has no CRS and ``crs`` is not given, or ``crs`` contradicts a
        projected CRS in the file.
    """
    if isinstance(path, str):
        path, spec_layer = split_layer_spec(path)
        if spec_layer is not None:
            if layer is not None and layer != spec_layer:
                raise InputError(
                    _("two different layers asked for: {in_path} (in the path) and {layer}").format(
                        in_path=repr(spec_layer), layer=repr(layer)
                    )
                )
            layer = spec_layer
    path = Path(path)
    _must_exist(path)
    target = resolve_crs(crs) if crs is not None else None
    default = resolve_crs(default_crs) if crs is None and default_crs is not None else None
    suffix = path.suffix.lower()
    read_problems: list[Problem] = []
    if suffix == ".xls":
        raise InputError(
            _("cannot read {path}").format(path=path),
            [
                Problem(
                    _(
                        "old Excel 97–2003 workbooks (.xls) are not supported; save it as .xlsx "
                        "or CSV"
                    ),
                    file=str(path),
                    rule="file.format",
                )
            ],
        )
    if suffix in TABLE_SUFFIXES or suffix in EXCEL_SUFFIXES:
        gdf, layer, enc = _read_table(path, layer, encoding, read_problems)
    elif suffix in PARQUET_SUFFIXES:
        gdf, layer, enc = _read_parquet(path, layer, read_problems)
    else:
        gdf, layer, enc = _read_ogr(path, layer, encoding, read_problems)

    source = str(path)
    if layer is not None and (suffix in MULTI_LAYER_SUFFIXES or len(_safe_layers(path)) > 1):
        source = f"{path}:{layer}"
    shown_layer = layer if source != str(path) else None
    for i, p in enumerate(read_problems):
        read_problems[i] = Problem(
            p.message, source_file(source), shown_layer, p.row, p.field, p.rule, p.severity
        )

    used_default = target is None and default is not None and _lacks_crs(gdf)
    if used_default:
        target = default
    gdf, source_crs = _apply_crs(gdf, target, path=str(path), layer=shown_layer)
    gdf.attrs.update(
        source=source,
        layer=layer,
        encoding=enc.encoding if enc else None,
        source_crs=source_crs,
        read_problems=read_problems,
        crs_defaulted=bool(used_default),
    )
    log.info(
        "read %d features from %s (CRS %s, encoding %s, %d read problems)",
        len(gdf),
        source,
        source_crs,
        (enc.encoding or "ascii") if enc else "n/a",
        len(read_problems),
    )
    return gdf


def source_file(source: str) -> str:
    """The file part of a ``"<file>[:layer]"`` source string."""
    path, _layer = split_layer_spec(source)
    return str(path)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _must_exist(path: Path) -> None:
    if not path.exists():
        raise InputError(
            _("cannot read {path}").format(path=path),
            [Problem(_("file not found"), file=str(path), rule="file.not_found")],
        )


def _unreadable(path: Path, layer: str | None, exc: BaseException) -> InputError:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return InputError(
        _("cannot read {path}").format(path=path),
        [
            Problem(
                _("not a readable geodata file: {error}").format(error=msg),
                file=str(path),
                layer=layer,
                rule="file.unreadable",
            )
        ],
    )


def _safe_layers(path: Path) -> list[tuple[str, str | None]]:
    try:
        return list_layers(path)
    except InputError:
        return []


def _choose_layer(
    path: Path,
    layer: str | None,
    names: list[str],
    what: str = "layer",
    candidates: list[str] | None = None,
) -> str:
    """The layer asked for, or the only candidate (default: all names) when none was."""
    if layer is not None:
        if layer in names:
            return layer
        raise InputError(
            _("cannot read {path}").format(path=path),
            [
                Problem(
                    _("no {what} {name}; the file has: {names}").format(
                        what=_(what), name=repr(layer), names=", ".join(names) or _("none")
                    ),
                    file=str(path),
                    layer=layer,
                    rule="layer.not_found",
                )
            ],
        )
    if candidates is not None and len(candidates) == 1:
        return candidates[0]  # e.g. one spatial layer next to QGIS's layer_styles table
    if len(names) == 1:
        return names[0]
    if not names:
        raise InputError(
            _("cannot read {path}").format(path=path),
            [
                Problem(
                    _("the file has no {what}s").format(what=_(what)),
                    file=str(path),
                    rule="layer.none",
                )
            ],
        )
    raise InputError(
        _("cannot read {path}").format(path=path),
        [
            Problem(
                _(
                    "the file has {n} {what}s ({names}); choose one (layer=... or "
                    "'{file}:<{what}>')"
                ).format(n=len(names), what=_(what), names=", ".join(names), file=path.name),
                file=str(path),
                rule="layer.ambiguous",
            )
        ],
    )


def _read_ogr(
    path: Path, layer: str | None, encoding: str | None, problems: list[Problem]
) -> tuple[gpd.GeoDataFrame, str | None, EncodingGuess | None]:
    try:
        layers = _ogr_layers(path)
    except (DataSourceError, DataLayerError, OSError, UnicodeDecodeError, ValueError) as exc:
        raise _unreadable(path, layer, exc) from exc
    names = [str(n) for n in layers[:, 0]] if len(layers) else []
    spatial = [str(n) for n, g in layers if g is not None] if len(layers) else []
    chosen = _choose_layer(path, layer, names, candidates=spatial)
    enc: EncodingGuess | None = None
    shp = _shapefile_of(path, chosen)
    if shp is not None:
        try:
            enc = guess_shapefile_encoding(shp, encoding)
        except LookupError as exc:
            raise InputError(_("unknown encoding {name}").format(name=repr(encoding))) from exc
        if enc.note:
            problems.append(
                Problem(enc.note, field=None, rule="encoding.guess", severity="warning")
            )
    elif path.suffix.lower() == ".zip":
        try:
            enc = guess_zipped_shapefile_encoding(path, chosen, encoding)
        except LookupError as exc:
            raise InputError(_("unknown encoding {name}").format(name=repr(encoding))) from exc
        if enc is not None and enc.note:
            problems.append(Problem(enc.note, rule="encoding.guess", severity="warning"))
        if enc is None and encoding:
            enc = EncodingGuess(encoding, "given")
    elif path.suffix.lower() in JSON_SUFFIXES:
        return _read_geojson(path, chosen, encoding, problems)
    elif encoding:
        enc = EncodingGuess(encoding, "given")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            gdf = pyogrio.read_dataframe(
                _ogr_source(path),
                layer=chosen,
                encoding=enc.encoding if enc else None,
                fid_as_index=True,
                on_invalid="ignore",
            )
    except (DataSourceError, DataLayerError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise _unreadable(path, chosen, exc) from exc
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(
            _("cannot read {path}").format(path=path),
            [
                Problem(
                    _("the layer has no geometry column"),
                    file=str(path),
                    layer=chosen,
                    rule="geometry.none",
                )
            ],
        )
    gdf.index.name = None
    return gdf, chosen, enc


def _read_geojson(
    path: Path, layer: str, encoding: str | None, problems: list[Problem]
) -> tuple[gpd.GeoDataFrame, str | None, EncodingGuess | None]:
    """GeoJSON must be UTF-8 (RFC 7946), but Chinese tools sometimes write GBK: transcode."""
    try:
        enc = guess_file_encoding(path, encoding)
    except LookupError as exc:
        raise InputError(_("unknown encoding {name}").format(name=repr(encoding))) from exc
    source: Path | io.BytesIO = path
    if enc.encoding and enc.encoding.replace("-", "").lower() not in ("utf8", "utf8sig"):
        text = path.read_bytes().decode(enc.encoding, errors="replace")
        source = io.BytesIO(text.encode("utf-8"))
        if enc.how != "given":
            problems.append(
                Problem(
                    _("the GeoJSON is not UTF-8 (RFC 7946 requires it); read as {encoding}").format(
                        encoding=enc.encoding
                    ),
                    rule="encoding.guess",
                    severity="warning",
                )
            )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            gdf = pyogrio.read_dataframe(
                source,
                layer=layer if source is path else None,
                fid_as_index=True,
                on_invalid="ignore",
            )
    except (DataSourceError, DataLayerError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise _unreadable(path, layer, exc) from exc
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(
            _("cannot read {path}").format(path=path),
            [Problem(_("no geometry"), file=str(path), layer=layer, rule="geometry.none")],
        )
    gdf.index.name = None
    return gdf, layer, enc


def _ogr_layers(path: Path) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # e.g. "non conformant file extension"
        return pyogrio.list_layers(_ogr_source(path))


_ZIPPED = (".shp", ".gpkg", ".geojson", ".json", ".fgb")


def _ogr_source(path: Path) -> str | Path:
    """What to hand GDAL: zip archives are opened at the folder holding the data.

    A zip with Shapefiles in a sub-folder (``data/roads.shp``), or one GeoPackage /
    GeoJSON / FlatGeobuf inside, is opened through ``/vsizip/`` at that place.
    """
    if path.suffix.lower() != ".zip":
        return path
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if Path(n).suffix.lower() in _ZIPPED]
    except ZIP_ERRORS:
        return path
    shp_dirs = sorted({str(Path(n).parent) for n in names if n.lower().endswith(".shp")})
    if shp_dirs:
        if shp_dirs == ["."]:
            return path
        return f"/vsizip/{path.resolve()}/{shp_dirs[0]}"
    if len(names) == 1:
        return f"/vsizip/{path.resolve()}/{names[0]}"
    return path


def _shapefile_of(path: Path, layer: str) -> Path | None:
    """The .shp behind ``path`` (a .shp/.dbf file or a folder of Shapefiles), if any."""
    if path.suffix.lower() in (".shp", ".dbf"):
        return path.with_suffix(".shp")
    if path.is_dir():
        cand = path / f"{layer}.shp"
        return cand if cand.exists() else None
    return None


def _read_parquet(
    path: Path, layer: str | None, problems: list[Problem]
) -> tuple[gpd.GeoDataFrame, str | None, EncodingGuess | None]:
    try:
        gdf = gpd.read_parquet(path)
    except ValueError as exc:
        if "geo" not in str(exc).lower():
            raise _unreadable(path, layer, exc) from exc
        # A plain Parquet table: look for lon/lat columns.
        try:
            df = pd.read_parquet(path)
        except Exception as exc2:  # pyarrow raises many types
            raise _unreadable(path, layer, exc2) from exc2
        df = df.astype({c: "string" for c in df.columns if df[c].dtype == object})
        gdf = _points_from_table(df.astype(str).where(df.notna()), path, problems)
        return gdf, None, None
    except Exception as exc:  # pyarrow.ArrowInvalid and friends
        raise _unreadable(path, layer, exc) from exc
    if gdf.geometry.name != "geometry" and "geometry" not in gdf.columns:
        gdf = gdf.rename_geometry("geometry")
    return gdf, None, None


def _excel_sheets(path: Path) -> list[str]:
    try:
        with pd.ExcelFile(path, engine="openpyxl") as xl:
            return [str(s) for s in xl.sheet_names]
    except Exception as exc:  # openpyxl raises zipfile/KeyError/InvalidFileException
        raise _unreadable(path, None, exc) from exc


def _detect_delimiter(path: Path, encoding: str | None) -> str:
    with open(path, encoding=encoding or "utf-8", errors="replace") as fh:
        first = fh.readline()
    counts = {d: first.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","


def _read_table(
    path: Path, layer: str | None, encoding: str | None, problems: list[Problem]
) -> tuple[gpd.GeoDataFrame, str | None, EncodingGuess | None]:
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        sheet = _choose_layer(path, layer, _excel_sheets(path), what="sheet")
        try:
            df = pd.read_excel(path, sheet_name=sheet, dtype=str, engine="openpyxl")
        except Exception as exc:
            raise _unreadable(path, sheet, exc) from exc
        enc = None
        chosen: str | None = sheet
    else:
        try:
            enc = guess_file_encoding(path, encoding)
        except LookupError as exc:
            raise InputError(_("unknown encoding {name}").format(name=repr(encoding))) from exc
        if enc.note:
            problems.append(Problem(enc.note, rule="encoding.guess", severity="warning"))
        codec = enc.encoding or "utf-8"
        try:
            df = pd.read_csv(
                path,
                dtype=str,
                encoding=codec,
                encoding_errors="replace",
                sep=_detect_delimiter(path, codec),
                skipinitialspace=True,
            )
        except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError) as exc:
            raise _unreadable(path, None, exc) from exc
        chosen = None
    df.columns = [str(c).strip() for c in df.columns]
    gdf = _points_from_table(df, path, problems)
    return gdf, chosen, enc


def _points_from_table(df: pd.DataFrame, path: Path, problems: list[Problem]) -> gpd.GeoDataFrame:
    """Build points from lon/lat text columns; unparseable values become read problems."""
    columns = list(df.columns)
    xcol = find_column(columns, LON_NAMES)
    ycol = find_column(columns, LAT_NAMES)
    if xcol is None or ycol is None:
        missing = "longitude" if xcol is None else "latitude"
        raise InputError(
            _("cannot read {path}").format(path=path),
            [
                Problem(
                    _(
                        "no {missing} column found among {columns}; name the columns "
                        "{lon_names} and {lat_names}"
                    ).format(
                        missing=_(missing),
                        columns=", ".join(columns),
                        lon_names="/".join(LON_NAMES),
                        lat_names="/".join(LAT_NAMES),
                    ),
                    file=str(path),
                    rule="table.no_coordinates",
                )
            ],
        )
    df = df.reset_index(drop=True)
    coords = {}
    for col in (xcol, ycol):
        raw = df[col]
        values, bad = _parse_numbers(raw)
        for i in np.flatnonzero(bad):
            problems.append(
                Problem(
                    _("{column} value {value} is not a number").format(
                        column=col, value=repr(raw.iloc[i])
                    ),
                    row=int(i),
                    field=col,
                    rule="table.bad_coordinate",
                )
            )
        coords[col] = values
    x, y = coords[xcol], coords[ycol]
    finite = np.isfinite(x) & np.isfinite(y)
    unparsed = {p.row for p in problems if p.rule == "table.bad_coordinate"}
    for i in np.flatnonzero(~finite):
        if int(i) in unparsed:
            continue
        problems.append(
            Problem(
                _("{x}/{y} is empty or NaN").format(x=xcol, y=ycol),
                row=int(i),
                field=xcol if not np.isfinite(x[i]) else ycol,
                rule="geometry.nan_coordinates",
            )
        )
    geoms = np.full(len(df), None, dtype=object)
    if finite.any():
        geoms[finite] = shapely.points(x[finite], y[finite])
    out = df.copy()
    out[xcol] = x
    out[ycol] = y
    for col in columns:
        if col in (xcol, ycol):
            continue
        out[col] = _maybe_numeric(col, df[col])
    return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(geoms, index=out.index), crs=None)


def _parse_numbers(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Floats from a text column, and a mask of filled cells that are not numbers.

    The fast path is a plain cast; only when it fails are the cells cleaned
    (full-width digits → ASCII by NFKC, surrounding blanks, a trailing ``°``).
    """
    try:
        values = raw.astype("float64").to_numpy(dtype=float)
        return values, np.zeros(len(values), dtype=bool)
    except (ValueError, TypeError):
        pass
    text = raw.astype("string").str.strip()
    values = pd.to_numeric(text, errors="coerce").astype("float64")
    filled = (text.notna() & (text != "")).to_numpy(dtype=bool)
    retry = np.isnan(values.to_numpy()) & filled
    if retry.any():
        cleaned = text[retry].str.normalize("NFKC").str.strip().str.rstrip("°").str.strip()
        values[retry] = pd.to_numeric(cleaned, errors="coerce").astype("float64")
    values = values.to_numpy(dtype=float)
    literal_nan = (text.str.lower() == "nan").fillna(False).to_numpy(dtype=bool)
    return values, np.isnan(values) & filled & ~literal_nan


def _maybe_numeric(name: str, col: pd.Series) -> pd.Series:
    """Convert a text column to numbers if every value is one (codes stay text)."""
    text = col.astype("string").str.strip()
    if _CODE_COLUMN.search(name):
        if text.str.endswith(".0").any():  # Excel may hand over "310101002001.0"
            text = text.str.replace(r"^(\d+)\.0$", r"\1", regex=True)
        return text.astype(object).where(text.notna(), None)
    nonnull = text.dropna()
    if nonnull.empty:
        return col
    if nonnull.str.match(r"^0\d").any():  # leading zeros: an identifier, keep as text
        return col
    try:
        values = text.astype("float64")
    except (ValueError, TypeError):
        return col
    integral = (values.dropna() % 1 == 0).all()
    if integral and not text.str.contains(r"[.eE]", na=False).any():
        return values.astype("Int64")
    return values


def _looks_like_degrees(gdf: gpd.GeoDataFrame) -> bool:
    """Whether the coordinates fit lon/lat ranges (a GeoJSON claiming WGS 84 may hold metres)."""
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    ok = ~shapely.is_missing(geoms)
    if not ok.any():
        return True
    with np.errstate(invalid="ignore"):
        b = shapely.bounds(geoms[ok])
    minx, miny = np.nanmin(b[:, 0]), np.nanmin(b[:, 1])
    maxx, maxy = np.nanmax(b[:, 2]), np.nanmax(b[:, 3])
    if not np.isfinite([minx, miny, maxx, maxy]).all():
        return True
    return minx >= -180 and maxx <= 360 and miny >= -90 and maxy <= 90


def _lacks_crs(gdf: gpd.GeoDataFrame) -> bool:
    """No CRS, or a geographic one over coordinates that are clearly not degrees."""
    if gdf.crs is None:
        return True
    return pyproj.CRS.from_user_input(gdf.crs).is_geographic and not _looks_like_degrees(gdf)


def _apply_crs(
    gdf: gpd.GeoDataFrame, target: Any, *, path: str, layer: str | None
) -> tuple[gpd.GeoDataFrame, str]:
    """Attach/convert the CRS as :func:`read_layer` documents; returns (gdf, source label)."""
    if target is None:
        if gdf.crs is None:
            raise CRSError(
                _("cannot use {path}").format(path=path),
                [
                    Problem(
                        _(
                            "the layer has no CRS (missing .prj, or a table with lon/lat); say "
                            "which one the coordinates are in, e.g. crs='cgcs2000', 'wgs84', "
                            "'EPSG:4528', or 'gcj02' (Gaode/Tencent/phone apps) / 'bd09' (Baidu)"
                        ),
                        file=path,
                        layer=layer,
                        rule="crs.missing",
                    )
                ],
            )
        return gdf, crs_label(gdf.crs)
    file_crs = pyproj.CRS.from_user_input(gdf.crs) if gdf.crs is not None else None
    if isinstance(target, str):  # gcj02 / bd09
        if file_crs is not None and not file_crs.is_geographic:
            raise CRSError(
                _("cannot use {path}").format(path=path),
                [
                    Problem(
                        _(
                            "crs={target} means lon/lat degrees, but the file is in the "
                            "projected CRS {file_crs}"
                        ).format(target=repr(target), file_crs=crs_label(file_crs)),
                        file=path,
                        layer=layer,
                        rule="crs.conflict",
                    )
                ],
            )
        return to_wgs84(gdf, target), target
    if file_crs is not None and not file_crs.equals(target, ignore_axis_order=True):
        overridable = file_crs.is_geographic and (
            target.is_geographic or not _looks_like_degrees(gdf)
        )
        if not overridable:
            raise CRSError(
                _("cannot use {path}").format(path=path),
                [
                    Problem(
                        _(
                            "the file says its CRS is {file_crs} but crs= says {target}; "
                            "reproject the file or drop crs="
                        ).format(file_crs=crs_label(file_crs), target=crs_label(target)),
                        file=path,
                        layer=layer,
                        rule="crs.conflict",
                    )
                ],
            )
        log.warning(
            "%s: file CRS %s overridden by crs=%s", path, crs_label(file_crs), crs_label(target)
        )
    return gdf.set_crs(target, allow_override=True), crs_label(target)
