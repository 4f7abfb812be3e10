"""The QGIS round trip's file: a GeoPackage with the community's grids and blocks, styled.

``blocks`` (``block_id``, ``grid_code``, ``households``) is the layer to edit: change a
block's ``grid_code`` (a drop-down of the community's codes) to move it. ``grids`` holds
the grids as unions of blocks; vertex edits there are snapped back to blocks on import
(:mod:`gridgeo.edit.snap`). ``edit_meta`` names the community. Each layer's QML style
is stored in ``layer_styles`` (the table QGIS reads), so the file opens ready to edit.
"""

from __future__ import annotations

import colorsys
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np

from gridgeo.edit.model import Plan
from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.io import read_layer, write_layers
from gridgeo.io.atomic import atomic_path

BLOCKS, GRIDS, META = "blocks", "grids", "edit_meta"


def plan_layers(plan: Plan, crs) -> dict[str, gpd.GeoDataFrame]:
    """The ``grids`` and ``blocks`` layers of a plan (codes, names, households)."""
    hh = plan.households()
    keys = list(plan.grids)
    grids = gpd.GeoDataFrame(
        {
            "grid_code": [plan.grids[k].code or k for k in keys],
            "grid_name": [plan.grids[k].name for k in keys],
            "grid_type": [plan.grids[k].grid_type for k in keys],
            "community_code": plan.community_code,
            "households": [int(hh[k]) for k in keys],
        },
        geometry=[plan.geometry(k) for k in keys],
        crs=crs,
    )
    code_of = {k: plan.grids[k].code or k for k in keys}
    blocks = gpd.GeoDataFrame(
        {
            "block_id": np.arange(plan.blocks.n, dtype=np.int64),
            "grid_code": [code_of[k] for k in plan.owner.tolist()],
            "households": plan.blocks.households.astype(np.int64),
        },
        geometry=list(plan.blocks.geoms),
        crs=crs,
    )
    return {GRIDS: grids, BLOCKS: blocks}


def write_edit_package(path: str | Path, plan: Plan, crs) -> Path:
    """Write the editable GeoPackage of ``plan`` (atomically) and return its path."""
    layers = plan_layers(plan, crs)
    codes = list(layers[GRIDS]["grid_code"])
    with atomic_path(path, create=False) as tmp:
        write_layers(tmp, layers, driver="GPKG")
        with sqlite3.connect(tmp) as db:
            db.execute(f"CREATE TABLE {META} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            db.execute(f"INSERT INTO {META} VALUES ('community_code', ?)", (plan.community_code,))
            db.execute(
                "INSERT INTO gpkg_contents (table_name, data_type, identifier) VALUES (?, ?, ?)",
                (META, "attributes", META),
            )
            _write_styles(db, {BLOCKS: blocks_qml(codes), GRIDS: grids_qml()})
    return Path(path)


def _write_styles(db: sqlite3.Connection, styles: dict[str, str]) -> None:
    db.execute(
        """CREATE TABLE IF NOT EXISTS layer_styles (
             id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256),
             f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256),
             styleName TEXT(30), styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN,
             description TEXT, owner TEXT(30), ui TEXT(30), update_time DATETIME DEFAULT
             (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"""
    )
    for table, qml in styles.items():
        db.execute(
            "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
            "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, owner) "
            "VALUES ('', '', ?, 'geom', ?, ?, '', 1, ?, '')",
            (table, f"gridgeo {table}", qml, "gridgeo 网格调整样式"),
        )
    db.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier) "
        "SELECT 'layer_styles', 'attributes', 'layer_styles' WHERE NOT EXISTS "
        "(SELECT 1 FROM gpkg_contents WHERE table_name = 'layer_styles')"
    )


def _colour(i: int, n: int) -> str:
    r, g, b = colorsys.hls_to_rgb((i / max(n, 1)) % 1.0, 0.7, 0.55)
    return f"{int(r * 255)},{int(g * 255)},{int(b * 255)},200"


def _fill_symbol(parent: ET.Element, name: str, fill: str, outline: str, width: str) -> None:
    sym = ET.SubElement(parent, "symbol", type="fill", name=name, alpha="1")
    layer = ET.SubElement(sym, "layer", {"class": "SimpleFill", "enabled": "1"})
    for k, v in {
        "color": fill,
        "style": "solid" if not fill.endswith(",0") else "no",
        "outline_color": outline,
        "outline_width": width,
        "outline_style": "solid",
    }.items():
        ET.SubElement(layer, "prop", k=k, v=v)


def _labels(root: ET.Element, field: str, size: str) -> None:
    lab = ET.SubElement(root, "labeling", type="simple")
    settings = ET.SubElement(lab, "settings")
    ET.SubElement(settings, "text-style", fieldName=field, fontSize=size, textColor="0,0,0,255")
    ET.SubElement(settings, "placement", placement="1")


def blocks_qml(codes: list[str]) -> str:
    """QML of the blocks layer: one colour per grid, ``grid_code`` a drop-down of ``codes``."""
    root = ET.Element("qgis", version="3.28.0", styleCategories="AllStyleCategories")
    rend = ET.SubElement(root, "renderer-v2", type="categorizedSymbol", attr="grid_code")
    cats = ET.SubElement(rend, "categories")
    symbols = ET.SubElement(rend, "symbols")
    for i, code in enumerate(codes):
        ET.SubElement(cats, "category", value=code, symbol=str(i), label=code, render="true")
        _fill_symbol(symbols, str(i), _colour(i, len(codes)), "120,120,120,255", "0.1")
    fields = ET.SubElement(root, "fieldConfiguration")
    field = ET.SubElement(fields, "field", name="grid_code")
    widget = ET.SubElement(field, "editWidget", type="ValueMap")
    config = ET.SubElement(widget, "config")
    opt = ET.SubElement(config, "Option", type="Map")
    vmap = ET.SubElement(opt, "Option", name="map", type="List")
    for code in codes:
        item = ET.SubElement(vmap, "Option", type="Map")
        ET.SubElement(item, "Option", name=code, value=code, type="QString")
    for name in ("block_id", "households"):  # read-only: ids and counts come from the registry
        ET.SubElement(ET.SubElement(root, "editable"), "field", name=name, editable="0")
    _labels(root, "households", "7")
    return ET.tostring(root, encoding="unicode")


def grids_qml() -> str:
    """QML of the grids layer: hollow, thick outlines, labelled with the grid name."""
    root = ET.Element("qgis", version="3.28.0", styleCategories="AllStyleCategories")
    rend = ET.SubElement(root, "renderer-v2", type="singleSymbol")
    symbols = ET.SubElement(rend, "symbols")
    _fill_symbol(symbols, "0", "0,0,0,0", "200,30,30,255", "0.8")
    _labels(root, "grid_name", "10")
    return ET.tostring(root, encoding="unicode")


def read_edit_package(path: str | Path) -> tuple[str, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The community code, the ``blocks`` and the ``grids`` layer of an edited package.

    Raises
    ------
    InputError
        When a layer, the ``edit_meta`` table or a needed field is missing.
    """
    path = Path(path)
    problems: list[Problem] = []
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            row = db.execute(f"SELECT value FROM {META} WHERE key = 'community_code'").fetchone()
    except sqlite3.Error as exc:
        raise InputError(
            _("{path} is not a package written by `gridgeo change export-edit`").format(path=path),
            [Problem(str(exc), file=str(path), layer=META, rule="edit.package")],
        ) from exc
    if row is None:
        raise InputError(
            _("{path} names no community").format(path=path),
            [Problem(_("no community_code"), file=str(path), layer=META)],
        )
    layers = {}
    for name, fields in ((BLOCKS, ("block_id", "grid_code")), (GRIDS, ("grid_code",))):
        gdf = read_layer(path, layer=name)
        for f in fields:
            if f not in gdf.columns:
                problems.append(
                    Problem(
                        _("field {f} is missing").format(f=f),
                        file=str(path),
                        layer=name,
                        field=f,
                        rule="edit.field_missing",
                    )
                )
        layers[name] = gdf
    if problems:
        raise InputError(_("{path} cannot be imported").format(path=path), problems)
    blocks = layers[BLOCKS]
    blocks["grid_code"] = blocks["grid_code"].astype("string").str.strip()
    layers[GRIDS]["grid_code"] = layers[GRIDS]["grid_code"].astype("string").str.strip()
    return str(row[0]), blocks, layers[GRIDS]


__all__ = ["plan_layers", "read_edit_package", "write_edit_package"]
