"""Checking a layer against the data contract: every problem at once."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgeo.crs import sanity_problems
from gridgeo.errors import CRSError, InputError, Problem
from gridgeo.i18n import _
from gridgeo.io._read import split_layer_spec
from gridgeo.io.metadata import CODE_PATTERN_HINT
from gridgeo.io.schemas import (
    DEFAULT_CODE_PATTERN,
    POLYGONAL,
    FieldSpec,
    LayerSchema,
    get_schema,
)
from gridgeo.rules import CodeScheme, kind_from_word

log = logging.getLogger(__name__)

_FAMILY = {
    "Point": "point",
    "MultiPoint": "point",
    "LineString": "line",
    "LinearRing": "line",
    "MultiLineString": "line",
    "Polygon": "polygon",
    "MultiPolygon": "polygon",
    "GeometryCollection": "collection",
}


# shapely type ids → names (0 Point … 7 GeometryCollection)
_TYPE_NAMES = np.array(
    [
        "Point",
        "LineString",
        "LinearRing",
        "Polygon",
        "MultiPoint",
        "MultiLineString",
        "MultiPolygon",
        "GeometryCollection",
    ],
    dtype=object,
)


class _Collector:
    def __init__(self, file: str | None, layer: str | None):
        self.file = file
        self.layer = layer
        self.problems: list[Problem] = []

    def add(
        self,
        message: str,
        rule: str,
        *,
        row: Any = None,
        field: str | None = None,
        severity: str = "error",
    ) -> None:
        if isinstance(row, np.integer):
            row = int(row)
        elif row is not None and not isinstance(row, int | str):
            row = str(row)
        self.problems.append(Problem(message, self.file, self.layer, row, field, rule, severity))


def check_layer(
    gdf: gpd.GeoDataFrame,
    schema: str | LayerSchema,
    *,
    code_pattern: str | None = None,
    code_scheme: CodeScheme | None = None,
    repair: bool = False,
    source: str | None = None,
    allow_empty: bool = False,
) -> list[Problem]:
    """Check a layer against its contract and return every problem found.

    Checks: CRS present and plausible (swapped lon/lat, outside China); required
    fields present and filled; field types; division codes (pattern, and for
    12-digit codes the level: digits 7–9 not ``000``, digits 10–12 in 001–399, or
    200–399 for ``village_code``); duplicate codes; geometry missing, empty, with NaN
    coordinates, of the wrong type, mixed types, invalid (self-intersection …); an empty
    layer (0 features). Problems recorded while reading (``gdf.attrs["read_problems"]``) come first.

    Parameters
    ----------
    gdf
        The layer, as returned by :func:`read_layer`; row = the index value (feature id).
    schema
        ``"communities"``, ``"roads"``, ``"households"``, ``"dedicated"``,
        ``"villager_groups"``, ``"any"`` or a :class:`LayerSchema`.
    code_pattern
        Regular expression a division code must fully match (from the profile's
        code scheme; Taiwan's 11-digit village codes need ``r"\\d{11}"``); overrides
        ``code_scheme.community_pattern``.
    code_scheme
        The profile's code scheme (pattern and the urban/rural code ranges used for
        the committee level and the kind-vs-code check); default: 12-digit NBS codes.
    repair
        Fix invalid geometries in place with :func:`shapely.make_valid` (reported as
        warnings ``geometry.repaired``) instead of reporting them as errors.
    source
        ``"<file>[:layer]"`` for the problems (default ``gdf.attrs["source"]``).
    allow_empty
        Accept a layer with 0 features (no ``layer.empty`` error). For optional
        partition inputs (households, roads, …): a community without households is
        one flagged grid. ``gridgeo inspect`` and the communities layer keep the error.

    Returns
    -------
    list of Problem
        Errors and warnings; empty when the layer is fine.
    """
    sch = get_schema(schema)
    scheme = (code_scheme or CodeScheme()).with_pattern(code_pattern)
    source = source or gdf.attrs.get("source")
    file, layer = (None, None)
    if source:
        path, layer = split_layer_spec(str(source))
        file = str(path)
    col = _Collector(file, layer)
    for p in gdf.attrs.get("read_problems", []) or []:
        col.problems.append(
            Problem(p.message, p.file or file, p.layer or layer, p.row, p.field, p.rule, p.severity)
        )
    if len(gdf) == 0 and not allow_empty:  # nothing to partition, validate, load or locate against
        col.problems.append(Problem(_("empty layer: 0 features"), file, layer, rule="layer.empty"))
    crs_problems = sanity_problems(gdf, source=file, layer=layer)
    col.problems.extend(crs_problems)
    _check_fields(gdf, sch, col, scheme)
    # Rows whose coordinates could not be read already have a problem: no second one.
    unread = {
        p.row
        for p in col.problems
        if p.rule in ("table.bad_coordinate", "geometry.nan_coordinates") and p.row is not None
    }
    _check_geometry(gdf, sch, col, repair=repair, skip_missing=unread)
    n_err = sum(p.severity == "error" for p in col.problems)
    log.info(
        "checked %d features of %s against %s: %d errors, %d warnings",
        len(gdf),
        source or "layer",
        sch.name,
        n_err,
        len(col.problems) - n_err,
    )
    return col.problems


def raise_for_problems(problems: Iterable[Problem], what: str) -> None:
    """Raise :class:`InputError` (or :class:`CRSError`) if any problem is an error.

    Parameters
    ----------
    problems
        As returned by :func:`check_layer` (several lists may be concatenated).
    what
        What was checked, for the message (e.g. ``"communities layer"``).

    Raises
    ------
    CRSError
        If all errors are CRS problems (``crs.*`` rules).
    InputError
        Otherwise, when at least one problem has severity ``error``; it carries
        every problem, errors first.
    """
    problems = list(problems)
    errors = [p for p in problems if p.severity == "error"]
    if not errors:
        return
    warnings_ = [p for p in problems if p.severity != "error"]
    summary = _("{what}: {n} error(s)").format(what=_(what), n=len(errors))
    if warnings_:
        summary += _(", {n} warning(s)").format(n=len(warnings_))
    cls = CRSError if all((p.rule or "").startswith("crs.") for p in errors) else InputError
    raise cls(summary, errors + warnings_)


# ---------------------------------------------------------------------------
# fields
# ---------------------------------------------------------------------------


def _is_blank(values: pd.Series) -> np.ndarray:
    blank = values.isna().to_numpy().copy()
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        text = values.astype("string").str.strip()
        blank |= (text == "").fillna(False).to_numpy(dtype=bool)
    return blank


def _code_text(values: pd.Series) -> tuple[pd.Series, bool]:
    """Codes as text; True if they were stored as numbers."""
    if pd.api.types.is_numeric_dtype(values):
        out = values.map(
            lambda v: None if pd.isna(v) else f"{int(v)}" if float(v) == int(v) else str(v)
        )
        return out, True
    return values.map(
        lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip()
    ), False


def _check_fields(
    gdf: gpd.GeoDataFrame, sch: LayerSchema, col: _Collector, scheme: CodeScheme
) -> None:
    pattern = scheme.community_pattern
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    index = gdf.index.to_numpy()
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid code pattern {pattern!r}: {exc}") from exc
    for spec in sch.fields:
        if spec.name not in gdf.columns:
            if spec.required:
                hint = [c for c in columns if str(c).lower() == spec.name.lower()]
                extra = _(" (did you mean {name}?)").format(name=repr(hint[0])) if hint else ""
                col.add(
                    _("required field {name} is missing; the layer has: {fields}").format(
                        name=repr(spec.name), fields=", ".join(map(str, columns)) or _("no fields")
                    )
                    + extra,
                    "field.missing",
                    field=spec.name,
                )
            continue
        values = gdf[spec.name]
        blank = _is_blank(values)
        if spec.required:
            for i in np.flatnonzero(blank):
                col.add(
                    _("{field} is empty").format(field=spec.name),
                    "field.null",
                    row=index[i],
                    field=spec.name,
                )
        if spec.kind == "code":
            _check_codes(values, blank, index, spec, col, regex, scheme)
        elif spec.kind in ("int", "number"):
            _check_numbers(values, blank, index, spec, col)
        elif spec.kind in ("choice", "kind"):
            if spec.kind == "kind":
                ok = np.array([kind_from_word(v) in spec.choices for v in values], dtype=bool)
            else:
                text = values.astype("string").str.strip()
                ok = text.isin(spec.choices).fillna(False).to_numpy(dtype=bool)
            bad = ~blank & ~ok
            for i in np.flatnonzero(bad):
                col.add(
                    _("{field} is {value}; expected one of {choices}").format(
                        field=spec.name, value=repr(values.iloc[i]), choices=", ".join(spec.choices)
                    ),
                    "field.choice",
                    row=index[i],
                    field=spec.name,
                )
        elif spec.kind == "text" and pd.api.types.is_numeric_dtype(values):
            col.add(
                _("{field} holds numbers; text is expected").format(field=spec.name),
                "field.type",
                field=spec.name,
                severity="warning",
            )
    # kind vs. code (communities)
    if "kind" in gdf.columns and "code" in gdf.columns and sch.field_named("kind"):
        _check_kind(gdf, index, col, scheme)


def _check_kind(
    gdf: gpd.GeoDataFrame, index: np.ndarray, col: _Collector, scheme: CodeScheme
) -> None:
    codes, _numeric = _code_text(gdf["code"])
    for i, (code, kind) in enumerate(zip(codes, gdf["kind"], strict=True)):
        from_code = scheme.kind_from_code(code)
        said = kind_from_word(kind)
        if from_code and said in ("urban", "rural") and from_code != said:
            col.add(
                f"kind is {kind!r} but code {code} is a "
                f"{'residents' if from_code == 'urban' else 'villagers'}' committee code "
                f"({from_code})",
                "code.kind_mismatch",
                row=index[i],
                field="kind",
                severity="warning",
            )


def _check_codes(
    values: pd.Series,
    blank: np.ndarray,
    index: np.ndarray,
    spec: FieldSpec,
    col: _Collector,
    regex: re.Pattern[str],
    scheme: CodeScheme,
) -> None:
    pattern = scheme.community_pattern
    codes, numeric = _code_text(values)
    if numeric:
        col.add(
            _(
                "{field} is stored as a number; store codes as text (leading zeros are lost "
                "in numbers)"
            ).format(field=spec.name),
            "field.type",
            field=spec.name,
            severity="warning",
        )
    check_level = (
        pattern == DEFAULT_CODE_PATTERN
        and spec.level is not None
        and scheme.urban_range is not None
        and scheme.rural_range is not None
    )
    seen: dict[str, list[int]] = {}
    code_list = codes.tolist()
    for i in np.flatnonzero(~blank):
        code = code_list[i]
        if not regex.fullmatch(code):
            digits = _(" ({n} digits)").format(n=len(code)) if code.isdigit() else ""
            col.add(
                _("{field} {code}{digits} does not match the code pattern {pattern}").format(
                    field=spec.name, code=repr(code), digits=digits, pattern=pattern
                )
                + (
                    _(" (12-digit statistical division code)")
                    if pattern == DEFAULT_CODE_PATTERN
                    else ""
                )
                + _(CODE_PATTERN_HINT),
                "code.format",
                row=index[i],
                field=spec.name,
            )
            continue
        if check_level:
            msg = _level_problem(code, spec.level, scheme)
            if msg:
                col.add(msg, "code.level", row=index[i], field=spec.name)
        if spec.unique:
            seen.setdefault(code, []).append(i)
    for code, rows in seen.items():
        if len(rows) < 2:
            continue
        ids = ", ".join(str(_plain(index[r])) for r in rows)
        for r in rows[1:]:
            col.add(
                _(
                    "{field} {code} is used by {n} features (rows {rows}); codes must be unique"
                ).format(field=spec.name, code=code, n=len(rows), rows=ids),
                "code.duplicate",
                row=index[r],
                field=spec.name,
            )


def _plain(v: Any) -> Any:
    return int(v) if isinstance(v, np.integer) else v


def _level_problem(code: str, level: str, scheme: CodeScheme) -> str | None:
    (u_lo, u_hi), (r_lo, r_hi) = scheme.urban_range, scheme.rural_range
    if code[6:9] == "000":
        return (
            f"code {code} is a county-level code (digits 7–9 are 000), not a "
            f"{'community/village' if level == 'community' else 'village'} committee code"
        )
    tail = int(code[9:12])
    if tail == 0:
        return (
            f"code {code} is a township/street-level code (ends in 000), not a "
            "community/village committee code"
        )
    if level == "village" and not r_lo <= tail <= r_hi:
        return (
            f"code {code} is not a villagers' committee code (digits 10–12 must be "
            f"{r_lo:03d}–{r_hi:03d}, got {tail:03d})"
        )
    if level == "community" and not (u_lo <= tail <= u_hi or r_lo <= tail <= r_hi):
        return (
            f"code {code}: digits 10–12 ({tail:03d}) are outside {u_lo:03d}–{u_hi:03d} "
            f"(residents' committees) and {r_lo:03d}–{r_hi:03d} (villagers' committees)"
        )
    return None


def _check_numbers(
    values: pd.Series, blank: np.ndarray, index: np.ndarray, spec: FieldSpec, col: _Collector
) -> None:
    nums = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
    filled = ~blank
    not_number = filled & np.isnan(nums)
    with np.errstate(invalid="ignore"):
        negative = filled & (nums < 0)
        fractional = filled & ~not_number & ~negative & (nums % 1 != 0)
    for i in np.flatnonzero(not_number):
        col.add(
            _("{field} {value} is not a number").format(
                field=spec.name, value=repr(values.iloc[i])
            ),
            "field.type",
            row=index[i],
            field=spec.name,
        )
    for i in np.flatnonzero(negative):
        col.add(
            _("{field} is negative ({value})").format(field=spec.name, value=values.iloc[i]),
            "field.range",
            row=index[i],
            field=spec.name,
        )
    if spec.kind == "int":
        for i in np.flatnonzero(fractional):
            col.add(
                _("{field} {value} is not a whole number").format(
                    field=spec.name, value=values.iloc[i]
                ),
                "field.type",
                row=index[i],
                field=spec.name,
                severity="warning",
            )


# ---------------------------------------------------------------------------
# geometry
# ---------------------------------------------------------------------------


def _check_geometry(
    gdf: gpd.GeoDataFrame,
    sch: LayerSchema,
    col: _Collector,
    *,
    repair: bool,
    skip_missing: set[Any] = frozenset(),
) -> None:
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    index = gdf.index.to_numpy()
    gcol = gdf.geometry.name
    missing = shapely.is_missing(geoms)
    present = ~missing
    empty = np.zeros(len(geoms), dtype=bool)
    empty[present] = shapely.is_empty(geoms[present])
    for i in np.flatnonzero(missing):
        if _plain(index[i]) in skip_missing:
            continue
        col.add(_("geometry is missing"), "geometry.missing", row=index[i], field=gcol)
    for i in np.flatnonzero(empty):
        col.add(_("geometry is empty"), "geometry.empty", row=index[i], field=gcol)
    usable = present & ~empty
    nan = np.zeros(len(geoms), dtype=bool)
    if usable.any():
        coords, owner = shapely.get_coordinates(geoms[usable], return_index=True)
        bad = ~np.isfinite(coords).all(axis=1)
        if bad.any():
            nan[np.flatnonzero(usable)[np.unique(owner[bad])]] = True
    for i in np.flatnonzero(nan):
        col.add(
            _("geometry has NaN/infinite coordinates"),
            "geometry.nan_coordinates",
            row=index[i],
            field=gcol,
        )
    usable &= ~nan

    types = np.full(len(geoms), None, dtype=object)
    types[usable] = _TYPE_NAMES[shapely.get_type_id(geoms[usable])]
    counts = pd.Series(types[usable]).value_counts()
    families = {_FAMILY.get(t, t) for t in counts.index}
    if len(families) > 1:
        listing = ", ".join(f"{t} ×{n}" for t, n in counts.items())
        col.add(
            _("the layer mixes geometry types ({types})").format(types=listing),
            "geometry.mixed",
            field=gcol,
            severity="error" if sch.geometry_types else "warning",
        )
    if sch.geometry_types:
        allowed = set(sch.geometry_types)
        for i in np.flatnonzero(usable):
            if types[i] not in allowed:
                col.add(
                    _("geometry is a {type}; the {layer} layer needs {types}").format(
                        type=types[i], layer=sch.name, types=_(" or ").join(sch.geometry_types)
                    ),
                    "geometry.type",
                    row=index[i],
                    field=gcol,
                )
    valid = np.ones(len(geoms), dtype=bool)
    valid[usable] = shapely.is_valid(geoms[usable])
    invalid = np.flatnonzero(~valid)
    if not len(invalid):
        return
    reasons = shapely.is_valid_reason(geoms[invalid])
    if not repair:
        for i, reason in zip(invalid, reasons, strict=True):
            col.add(
                _("geometry is invalid: {reason} (repair=True fixes it with make_valid)").format(
                    reason=reason
                ),
                "geometry.invalid",
                row=index[i],
                field=gcol,
            )
        return
    polygonal = set(sch.geometry_types) <= set(POLYGONAL) and bool(sch.geometry_types)
    fixed = (
        shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
        if polygonal
        else shapely.make_valid(geoms[invalid])
    )
    values = gdf.geometry.values.copy()
    for k, (i, reason) in enumerate(zip(invalid, reasons, strict=True)):
        g = fixed[k]
        if g is None or g.is_empty:
            col.add(
                _("geometry is invalid ({reason}) and collapses to nothing when repaired").format(
                    reason=reason
                ),
                "geometry.invalid",
                row=index[i],
                field=gcol,
            )
            continue
        values[i] = g
        col.add(
            _("invalid geometry repaired with make_valid ({reason}; now a {type})").format(
                reason=reason, type=g.geom_type
            ),
            "geometry.repaired",
            row=index[i],
            field=gcol,
            severity="warning",
        )
    gdf[gcol] = gpd.GeoSeries(values, index=gdf.index, crs=gdf.crs)
