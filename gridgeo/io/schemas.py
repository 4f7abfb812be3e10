"""The layer contracts: required fields, field types and geometry kinds.

The one home of these contracts: :func:`gridgeo.io.check_layer` checks a layer against
them, and the partitioner (:mod:`gridgeo.partition.inputs`), the validator and the
registry loader (:mod:`gridgeo.registry.load`) all check their inputs through it, so no
entry point accepts what another rejects.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

FieldKind = Literal["code", "text", "int", "number", "choice", "kind", "any"]

DEFAULT_CODE_PATTERN = r"\d{12}"


@dataclass(frozen=True)
class FieldSpec:
    """One attribute field of a layer contract.

    Parameters
    ----------
    name
        Column name.
    kind
        ``code`` (division code matching the code pattern), ``text``, ``int``
        (non-negative whole number), ``number`` (non-negative), ``choice`` (one of
        ``choices``), ``kind`` (a spelling of one of ``choices`` that
        :func:`gridgeo.rules.kind_from_word` knows, e.g. 城市/居委会/村委会) or ``any``.
    required
        Whether the column must exist and every row must have a value.
    unique
        Whether values must be unique in the layer.
    choices
        Allowed values for ``choice`` and ``kind`` fields.
    level
        For ``code`` fields: which committee level the code must be (``community``:
        digits 10–12 in the profile's urban or rural range, ``village``: in the rural
        range).
    """

    name: str
    kind: FieldKind = "text"
    required: bool = False
    unique: bool = False
    choices: tuple[str, ...] = ()
    level: Literal["community", "village"] | None = None


@dataclass(frozen=True)
class LayerSchema:
    """What a layer must look like: geometry types and fields."""

    name: str
    geometry_types: tuple[str, ...] = ()
    fields: tuple[FieldSpec, ...] = field(default_factory=tuple)

    def field_named(self, name: str) -> FieldSpec | None:
        """The field called ``name``, or ``None``."""
        return next((f for f in self.fields if f.name == name), None)


POLYGONAL = ("Polygon", "MultiPolygon")
GRID_TYPES = ("urban", "rural", "dedicated")

#: The layer contracts (and the registry's ``grids`` layer), by name.
SCHEMAS: dict[str, LayerSchema] = {
    "communities": LayerSchema(
        "communities",
        POLYGONAL,
        (
            FieldSpec("code", "code", required=True, unique=True, level="community"),
            FieldSpec("name", "text", required=True),
            FieldSpec("kind", "kind", choices=("urban", "rural")),
        ),
    ),
    "roads": LayerSchema(
        "roads",
        ("LineString", "MultiLineString"),
        (FieldSpec("name", "text"), FieldSpec("class", "text")),
    ),
    "households": LayerSchema(
        "households",
        ("Point",),
        (
            FieldSpec("households", "int"),
            FieldSpec("population", "int"),
            FieldSpec("compound_id", "any"),
        ),
    ),
    "dedicated": LayerSchema(
        "dedicated",
        POLYGONAL,
        (
            FieldSpec("name", "text", required=True),
            FieldSpec("category", "text", required=True),
            FieldSpec("households", "int"),
            FieldSpec("population", "int"),
        ),
    ),
    "villager_groups": LayerSchema(
        "villager_groups",
        POLYGONAL,
        (
            FieldSpec("name", "text", required=True),
            FieldSpec("village_code", "code", required=True, level="village"),
        ),
    ),
    # A grid layer as loaded into the registry or checked by the validator.
    "grids": LayerSchema(
        "grids",
        POLYGONAL,
        (
            FieldSpec("community_code", "code", required=True),
            FieldSpec("grid_name", "text"),
            FieldSpec("grid_type", "kind", choices=GRID_TYPES),
            FieldSpec("households", "int"),
            FieldSpec("population", "int"),
        ),
    ),
    # No attribute contract: geometry, CRS and sanity checks only (used by `inspect`).
    "any": LayerSchema("any"),
}


#: Column names recognised as longitude / latitude in point tables (compared after NFKC
#: normalisation, case-insensitively, in order of preference): the one list read_layer
#: and the locate service both use.
LON_NAMES = ("lon", "lng", "longitude", "long", "经度", "x")
LAT_NAMES = ("lat", "latitude", "纬度", "y")


def find_column(columns: Iterable[str], names: tuple[str, ...]) -> str | None:
    """The first of ``columns`` that spells one of ``names`` (NFKC, case and spaces ignored)."""
    lowered = {unicodedata.normalize("NFKC", str(c)).strip().lower(): c for c in columns}
    for name in names:
        if name in lowered:
            return lowered[name]
    return None


def get_schema(schema: str | LayerSchema) -> LayerSchema:
    """Look up a :class:`LayerSchema` by name (``communities``, ``roads`` …)."""
    if isinstance(schema, LayerSchema):
        return schema
    try:
        return SCHEMAS[str(schema)]
    except KeyError:
        raise ValueError(
            f"unknown layer schema {schema!r}; expected one of {', '.join(SCHEMAS)}"
        ) from None


__all__ = [
    "DEFAULT_CODE_PATTERN",
    "GRID_TYPES",
    "LAT_NAMES",
    "LON_NAMES",
    "POLYGONAL",
    "SCHEMAS",
    "FieldKind",
    "FieldSpec",
    "LayerSchema",
    "find_column",
    "get_schema",
]
