"""One door for geodata: read, check and write layers.

* :func:`read_layer` — GeoPackage, Shapefile (GBK/UTF-8 DBFs, detected), GeoJSON,
  FlatGeobuf, GeoParquet, CSV/XLSX with lon/lat columns; CRS required, GCJ-02 and
  BD-09 converted to WGS 84.
* :func:`check_layer` / :func:`raise_for_problems` — the layer contracts
  (defined in :mod:`gridgeo.io.schemas`), every problem at once with file, layer, row
  and field.
* :func:`write_layers` — GeoPackage (several layers), Shapefile (UTF-8 or GBK),
  GeoJSON (RFC 7946), GeoParquet, FlatGeobuf; atomic (:mod:`gridgeo.io.atomic`).

Names are imported on first use, so ``gridgeo.io.atomic`` and ``gridgeo.io.schemas``
load without geopandas.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "check_layer": "_check",
    "raise_for_problems": "_check",
    "list_layers": "_read",
    "read_layer": "_read",
    "split_layer_spec": "_read",
    "resolve_driver": "_write",
    "write_layers": "_write",
    "atomic_path": "atomic",
    "write_bytes_atomic": "atomic",
    "write_text_atomic": "atomic",
    "CODE_PATTERN_KEY": "metadata",
    "code_pattern_metadata": "metadata",
    "declared_code_pattern": "metadata",
    "first_declared": "metadata",
    "DEFAULT_CODE_PATTERN": "schemas",
    "GRID_TYPES": "schemas",
    "LAT_NAMES": "schemas",
    "LON_NAMES": "schemas",
    "SCHEMAS": "schemas",
    "FieldSpec": "schemas",
    "LayerSchema": "schemas",
    "find_column": "schemas",
    "get_schema": "schemas",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'gridgeo.io' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"gridgeo.io.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
