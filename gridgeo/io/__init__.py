"""One door for geodata: read, check and write layers.

* :func:`read_layer` — GeoPackage, Shapefile (GBK/UTF-8 DBFs, detected), GeoJSON,
  FlatGeobuf, GeoParquet, CSV/XLSX with lon/lat columns; CRS required, GCJ-02 and
  BD-09 converted to WGS 84.
* :func:`check_layer` / :func:`raise_for_problems` — the layer contracts of SPEC §3,
  every problem at once with file, layer, row and field.
* :func:`write_layers` — GeoPackage (several layers), Shapefile (UTF-8 or GBK),
  GeoJSON (RFC 7946), GeoParquet, FlatGeobuf; atomic.
"""

from gridgeo.io._check import check_layer, raise_for_problems
from gridgeo.io._read import list_layers, read_layer, split_layer_spec
from gridgeo.io._write import resolve_driver, write_layers
from gridgeo.io.schemas import (
    DEFAULT_CODE_PATTERN,
    GRID_TYPES,
    LAT_NAMES,
    LON_NAMES,
    SCHEMAS,
    FieldSpec,
    LayerSchema,
    get_schema,
)

__all__ = [
    "DEFAULT_CODE_PATTERN",
    "GRID_TYPES",
    "LAT_NAMES",
    "LON_NAMES",
    "SCHEMAS",
    "FieldSpec",
    "LayerSchema",
    "check_layer",
    "get_schema",
    "list_layers",
    "raise_for_problems",
    "read_layer",
    "resolve_driver",
    "split_layer_spec",
    "write_layers",
]
