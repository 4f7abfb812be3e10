"""Per-layer CRS on the command line: declared CRSs are kept, overrides are explicit.

The rules, the same for every command that reads a file (partition, validate, load,
locate, inspect):

1. A CRS the layer declares (``.prj``, GeoPackage, GeoJSON's WGS 84) is kept.
2. ``--crs X`` applies only to layers that declare none (CSV, XLSX, a Shapefile
   without ``.prj``) — it never moves a layer that has one.
3. A per-layer option (``--households-crs bd09``) or a ``FILE[:LAYER]@CRS`` spec
   (``compounds.csv@bd09``, ``streets.geojson@gcj02``) sets that layer's CRS; if the
   layer declares another one, it is replaced and the replacement is logged.

So ``--communities streets.geojson --households compounds.csv --crs bd09`` keeps
the GeoJSON in WGS 84 and reads the CSV as BD-09.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import geopandas as gpd

from gridgeo.crs import crs_label, resolve_crs
from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.io._read import read_layer

log = logging.getLogger(__name__)


def split_crs_spec(spec: str | os.PathLike[str]) -> tuple[str | os.PathLike[str], str | None]:
    """Split ``"file[:layer]@CRS"`` into ``("file[:layer]", "CRS")``.

    A path that exists as written, or one without ``@``, gives ``(spec, None)``.

    Examples
    --------
    >>> split_crs_spec("compounds.csv@bd09")
    ('compounds.csv', 'bd09')
    >>> split_crs_spec("district.gpkg:roads@EPSG:4528")
    ('district.gpkg:roads', 'EPSG:4528')
    """
    if isinstance(spec, os.PathLike) or os.path.exists(str(spec)):
        return spec, None
    head, sep, tail = str(spec).rpartition("@")
    if not sep or not head or not tail.strip() or "/" in tail or "\\" in tail:
        return spec, None
    return head, tail.strip()


def read_input(
    spec: str | os.PathLike[str],
    layer: str | None = None,
    *,
    crs: Any = None,
    layer_crs: Any = None,
    what: str = "layer",
    encoding: str | None = None,
) -> gpd.GeoDataFrame:
    """Read one input layer with the command-line CRS rules (module docstring).

    Parameters
    ----------
    spec
        ``FILE``, ``FILE:LAYER``, optionally followed by ``@CRS``.
    layer
        The layer, when not in ``spec``.
    crs
        The run's ``--crs``: used only when the layer declares no CRS.
    layer_crs
        This layer's own option (e.g. ``--households-crs``): sets its CRS, replacing
        a declared one (logged).
    what
        The layer's role for messages and the option name (``households`` →
        ``--households-crs``).
    encoding
        Attribute encoding (default: detected).

    Returns
    -------
    geopandas.GeoDataFrame
        As :func:`gridgeo.io.read_layer`; ``attrs["crs_from"]`` says where the CRS
        came from: ``"declared"``, ``"--crs"``, ``"--<what>-crs"`` or ``"@CRS"``.

    Raises
    ------
    InputError
        If ``@CRS`` and the per-layer option disagree.
    CRSError
        If the layer has no CRS and none was given, or the CRS is unknown.
    """
    spec, at_crs = split_crs_spec(spec)
    option = f"--{what.replace('_', '-')}-crs"
    if at_crs is not None and layer_crs is not None:
        a, b = resolve_crs(at_crs), resolve_crs(layer_crs)
        if crs_label(a) != crs_label(b):
            raise InputError(
                _("the {what} layer was given two different CRSs").format(what=what),
                [
                    Problem(
                        _("{spec}@{at_crs} is {a}, but {option} is {b}").format(
                            spec=spec, at_crs=at_crs, a=crs_label(a), option=option, b=crs_label(b)
                        ),
                        file=str(spec),
                        rule="crs.conflict",
                    )
                ],
            )
    explicit, source = (at_crs, "@CRS") if at_crs is not None else (layer_crs, option)
    path: str | Path = spec if isinstance(spec, str) else Path(spec)
    if explicit is None:
        gdf = read_layer(path, layer, default_crs=crs, encoding=encoding)
        declared = not gdf.attrs.get("crs_defaulted")
        gdf.attrs["crs_from"] = "declared" if declared else "--crs"
        if crs is not None and declared:
            log.info(
                _(
                    "{source}: keeps its declared CRS {declared} (--crs {crs} is only for "
                    "layers that declare none)"
                ).format(
                    source=gdf.attrs.get("source"),
                    declared=gdf.attrs.get("source_crs"),
                    crs=crs,
                )
            )
        return gdf
    gdf = read_layer(path, layer, default_crs=explicit, encoding=encoding)
    if not gdf.attrs.get("crs_defaulted"):  # the layer declares a CRS: replace it, say so
        before = gdf.attrs.get("source_crs")
        gdf = read_layer(path, layer, crs=explicit, encoding=encoding)
        if before != gdf.attrs.get("source_crs"):
            log.warning(
                _("{source}: declared CRS {before} replaced by {after} as {option} says").format(
                    source=gdf.attrs.get("source"),
                    before=before,
                    option=source,
                    after=gdf.attrs.get("source_crs"),
                )
            )
            gdf.attrs["crs_replaced"] = before
    gdf.attrs["crs_from"] = source
    return gdf
