"""``gridgeo inspect FILE``: what is in a geodata file and whether gridgeo can use it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import shapely
import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from gridgeo.cli._common import console, handle_errors
from gridgeo.crs import cached_transformer, crs_label, metric_crs
from gridgeo.errors import CRSError, GridgeoError, InputError, Problem
from gridgeo.i18n import _
from gridgeo.io import (
    DEFAULT_CODE_PATTERN,
    SCHEMAS,
    check_layer,
    list_layers,
    read_layer,
    split_layer_spec,
)
from gridgeo.io.layer_crs import read_input, split_crs_spec
from gridgeo.io.metadata import declared_code_pattern
from gridgeo.io.outliers import outlier_problems
from gridgeo.rules import load_profile

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow"}


@dataclass
class LayerReport:
    """What ``inspect`` found about one layer."""

    name: str
    geometry_type: str | None
    gdf: gpd.GeoDataFrame | None = None
    schema: str = "any"
    problems: list[Problem] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


def inspect_file(
    path: Path,
    layer: str | None = None,
    *,
    crs: str | None = None,
    schema: str | None = None,
    code_pattern: str = r"\d{12}",
    communities: gpd.GeoDataFrame | None = None,
    outside_m: float = 1_000.0,
    layer_crs: str | None = None,
) -> list[LayerReport]:
    """Read and check every layer of ``path`` (or only ``layer``).

    The schema of a layer is ``schema`` if given, else the layer's name when it is
    one of the contract layers (``communities``, ``roads`` …), else ``any``
    (geometry, CRS and sanity checks only). Read errors become problems of the
    layer instead of exceptions. Spatial outliers (:mod:`gridgeo.io.outliers`) are
    warnings: features far from the rest of their layer, and — against
    ``communities``, or the file's own ``communities`` layer — features more than
    ``outside_m`` metres outside every community.
    """
    layers = list_layers(path)
    if layer is not None:
        known = dict(layers)
        layers = [(layer, known.get(layer))]
    reports = []
    for name, gtype in layers:
        sch = schema or (name if name in SCHEMAS else "any")
        report = LayerReport(name, gtype, schema=sch)
        try:
            gdf = read_layer(path, name, crs=layer_crs, default_crs=crs)
        except InputError as exc:
            report.problems = exc.problems or [Problem(str(exc), file=str(path), layer=name)]
            if layer is None and [p.rule for p in report.problems] == ["geometry.none"]:
                # An attribute table next to the spatial layers (e.g. QGIS layer_styles).
                report.problems = [
                    Problem(
                        _("attribute table without geometry (not a map layer)"),
                        file=str(path),
                        layer=name,
                        rule="geometry.none",
                        severity="warning",
                    )
                ]
        except GridgeoError as exc:
            report.problems = [Problem(str(exc), file=str(path), layer=name)]
        else:
            report.gdf = gdf
            report.problems = check_layer(gdf, sch, code_pattern=code_pattern)
        reports.append(report)
    if communities is None:
        communities = next((r.gdf for r in reports if r.name == "communities"), None)
    for r in reports:
        if r.gdf is not None:
            against = communities if r.name != "communities" else None
            r.problems += outlier_problems(r.gdf, communities=against, outside_m=outside_m)
    return reports


def _bounds_text(gdf: gpd.GeoDataFrame) -> tuple[str, str | None]:
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    ok = ~shapely.is_missing(geoms)
    ok[ok] = ~shapely.is_empty(geoms[ok])
    if not ok.any():
        return "—", None
    with np.errstate(invalid="ignore"):
        b = shapely.bounds(geoms[ok])
    minx, miny = np.nanmin(b[:, 0]), np.nanmin(b[:, 1])
    maxx, maxy = np.nanmax(b[:, 2]), np.nanmax(b[:, 3])
    native = f"{minx:.6g}, {miny:.6g} – {maxx:.6g}, {maxy:.6g}"
    lonlat = None
    if gdf.crs is not None and not pyproj.CRS.from_user_input(gdf.crs).is_geographic:
        t = cached_transformer(gdf.crs, 4326)
        lo, la = t.transform(np.array([minx, maxx]), np.array([miny, maxy]))
        if np.isfinite(lo).all() and np.isfinite(la).all():
            lonlat = f"{lo[0]:.5f}, {la[0]:.5f} – {lo[1]:.5f}, {la[1]:.5f} (lon/lat)"
    return native, lonlat


def _print_layer(report: LayerReport, max_problems: int) -> None:
    gdf = report.gdf
    title = Text(report.name, style="bold")
    info = Table(show_header=False, box=None, pad_edge=False, title=title, title_justify="left")
    info.add_column(style="dim")
    info.add_column()
    if gdf is not None:
        geoms = np.asarray(gdf.geometry.values, dtype=object)
        missing_mask = shapely.is_missing(geoms)
        types = Counter(g.geom_type for g in geoms[~missing_mask])
        missing = int(missing_mask.sum())
        info.add_row(_("features"), f"{len(gdf):,}")
        geom_text = ", ".join(f"{t} ×{n:,}" for t, n in types.most_common()) or _("none")
        if missing:
            geom_text += ", " + _("missing ×{n}").format(n=f"{missing:,}")
        info.add_row(_("geometry"), geom_text)
        source_crs = gdf.attrs.get("source_crs")
        crs_text = crs_label(gdf.crs)
        if source_crs and source_crs != crs_text:
            crs_text += " " + _("(from {crs})").format(crs=source_crs)
        info.add_row(_("CRS"), crs_text)
        try:
            info.add_row(_("metric CRS"), crs_label(metric_crs(gdf)))
        except CRSError as exc:
            info.add_row(_("metric CRS"), Text(exc.summary, style="red"))
        native, lonlat = _bounds_text(gdf)
        info.add_row(_("bounds"), native)
        if lonlat:
            info.add_row("", lonlat)
        if gdf.attrs.get("encoding"):
            info.add_row(_("encoding"), str(gdf.attrs["encoding"]))
        fields = [f"{c} ({gdf[c].dtype})" for c in gdf.columns if c != gdf.geometry.name]
        info.add_row(_("fields"), ", ".join(fields) or _("none"))
        info.add_row(_("checked as"), report.schema)
    else:
        info.add_row(_("geometry"), report.geometry_type or "?")
        info.add_row(_("status"), Text(_("cannot be read"), style="bold red"))
    console.print(info)
    if not report.problems:
        console.print(f"  [green]{_('no problems found')}[/]\n", markup=True)
        return
    table = Table(title=_("{n} problem(s)").format(n=len(report.problems)), title_justify="left")
    for col in ("severity", "row", "field", "rule", "message"):
        table.add_column(_(col), overflow="fold", no_wrap=col == "rule")
    for p in report.problems[:max_problems]:
        style = _SEVERITY_STYLE.get(p.severity, "")
        table.add_row(
            Text(_(p.severity), style=style),
            "" if p.row is None else str(p.row),
            p.field or "",
            p.rule or "",
            p.message,
        )
    console.print(table)
    if len(report.problems) > max_problems:
        console.print("  " + _("… and {n} more").format(n=len(report.problems) - max_problems))
    console.print()


@handle_errors
def inspect(
    file: str = typer.Argument(
        ...,
        help="Geodata file (GPKG, SHP, GeoJSON, Parquet, CSV, XLSX…); "
        "'file.gpkg:layer' selects a layer.",
    ),
    layer: str = typer.Option(None, "--layer", "-l", help="Only this layer (or sheet)."),
    crs: str = typer.Option(
        None,
        "--crs",
        help="CRS of the coordinates when the file has none: cgcs2000, wgs84, gcj02, bd09, "
        "EPSG:<code>.",
    ),
    schema: str = typer.Option(
        None,
        "--schema",
        help=f"Check against this layer contract ({', '.join(SCHEMAS)}); default: by layer name.",
    ),
    code_pattern: str = typer.Option(
        None,
        "--code-pattern",
        help="Regular expression division codes must match (default: from --profile, "
        "else 12 digits).",
    ),
    profile: str = typer.Option(
        None, "--profile", help="Partition profile (name or TOML path) giving the code scheme."
    ),
    max_problems: int = typer.Option(50, "--max-problems", help="Problems shown per layer."),
    communities: str = typer.Option(
        None,
        "--communities",
        help="Community polygons FILE[:LAYER] or FILE[:LAYER]@CRS: flag features far outside them "
        "(default: the file's own communities layer).",
    ),
    outside_m: float = typer.Option(
        1000.0,
        "--outside-m",
        help="Metres outside every community above which a feature is flagged.",
    ),
) -> None:
    """Print layers, CRS, counts, fields, bounds and problems; exit 2 if the file is unusable."""
    file, at_crs = split_crs_spec(file)
    path, spec_layer = split_layer_spec(file)
    layer = layer or spec_layer
    if schema is not None and schema not in SCHEMAS:
        raise InputError(
            _("unknown schema {schema}; choose one of {choices}").format(
                schema=repr(schema), choices=", ".join(SCHEMAS)
            ),
            [
                Problem(
                    _("unknown schema {schema}").format(schema=repr(schema)),
                    field="--schema",
                    rule="cli.schema",
                )
            ],
        )
    if code_pattern is None:  # the file's own scheme, else the profile's
        code_pattern = declared_code_pattern(file) or (
            load_profile(profile).codes.community_pattern if profile else DEFAULT_CODE_PATTERN
        )
    comm = read_input(communities, crs=crs, what="communities") if communities else None
    reports = inspect_file(
        path,
        layer,
        crs=crs,
        schema=schema,
        code_pattern=code_pattern,
        communities=comm,
        outside_m=outside_m,
        layer_crs=at_crs,
    )
    overview = Table(title=f"{path}", title_justify="left")
    for col in ("layer", "geometry", "features", "CRS", "errors", "warnings"):
        overview.add_column(_(col), overflow="fold")
    for r in reports:
        n_err = sum(p.severity == "error" for p in r.problems)
        overview.add_row(
            r.name,
            r.geometry_type or "—",
            f"{len(r.gdf):,}" if r.gdf is not None else "—",
            crs_label(r.gdf.crs) if r.gdf is not None else "—",
            Text(str(n_err), style="bold red") if n_err else "0",
            str(len(r.problems) - n_err),
        )
    console.print(overview)
    console.print()
    for r in reports:
        _print_layer(r, max_problems)
    unusable = [r.name for r in reports if not r.usable]
    if unusable:
        console.print(f"[bold red]{_('unusable:')}[/] {escape(', '.join(unusable))}", markup=True)
        raise typer.Exit(code=InputError.exit_code)
    console.print(f"[green]{_('usable')}[/]", markup=True)
