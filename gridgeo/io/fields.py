"""Which column holds the household count: Chinese field names, explicit choice, loud fallback.

Mainland tables name their count fields in Chinese (户数, 总户数, 常住人口 …). This
module maps them onto the contract's ``households``, ``population`` and
``compound_id``, takes an explicit ``--households-field``, and when no count
field can be found says so — listing the fields present and the likely one — instead
of silently counting each point as one household.
"""

from __future__ import annotations

import logging
import unicodedata

import geopandas as gpd
import pandas as pd

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _

log = logging.getLogger(__name__)

#: Names read as the household count, in order of preference (compared after NFKC,
#: trimming and lower-casing).
HOUSEHOLD_ALIASES = (
    "households",
    "户数",
    "总户数",
    "住户数",
    "户籍户数",
    "常住户数",
    "居民户数",
    "household",
    "hh",
)
#: Names read as the number of residents.
POPULATION_ALIASES = (
    "population",
    "人口",
    "人口数",
    "常住人口",
    "户籍人口",
    "总人口",
    "人数",
    "居民人数",
    "pop",
)
#: Names read as the compound (小区) a point belongs to; used as ``compound_id``.
COMPOUND_ALIASES = ("compound_id", "小区", "小区名称", "小区名", "所属小区", "compound")

#: Value of ``households_field`` that says "every point is one household" on purpose.
ONE_PER_POINT = "1"

_CANONICAL = {
    "households": HOUSEHOLD_ALIASES,
    "population": POPULATION_ALIASES,
    "compound_id": COMPOUND_ALIASES,
}


def _norm(name: object) -> str:
    return unicodedata.normalize("NFKC", str(name)).strip().lower()


def find_field(columns: list[str], aliases: tuple[str, ...]) -> str | None:
    """The first column whose normalised name (NFKC, trimmed, lower case) is in ``aliases``."""
    by_norm: dict[str, str] = {}
    for c in columns:
        by_norm.setdefault(_norm(c), c)
    for alias in aliases:
        if alias in by_norm:
            return by_norm[alias]
    return None


def _likely_count(gdf: gpd.GeoDataFrame, columns: list[str]) -> str | None:
    """The column most likely to hold the count: whole numbers ≥ 0, named like a count."""
    best, best_score = None, 0.0
    for c in columns:
        values = pd.to_numeric(gdf[c], errors="coerce")
        filled = values.notna()
        if not filled.any() or (values[filled] < 0).any() or (values[filled] % 1 != 0).any():
            continue
        name = _norm(c)
        score = filled.mean()
        if any(k in name for k in ("户", "hh", "house", "人", "pop", "count", "num", "数")):
            score += 2
        if any(k in name for k in ("id", "编号", "代码", "code", "lon", "lat", "经度", "纬度")):
            score -= 3
        if values[filled].max() > 1:
            score += 0.5
        if score > best_score:
            best, best_score = c, score
    return best if best_score > 1 else None


def resolve_count_fields(
    gdf: gpd.GeoDataFrame,
    *,
    households_field: str | None = None,
    population_field: str | None = None,
    layer: str = "households",
    source: str | None = None,
    warn_missing: bool = True,
) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    """Rename the count and compound columns of a point layer to the contract's names.

    Parameters
    ----------
    gdf
        A household (or dedicated-site) layer as read by :func:`gridgeo.io.read_layer`.
    households_field
        The column holding the household count, named explicitly (e.g. ``"户数"``);
        ``"1"`` says every point is one household (no warning). Default: the first of
        :data:`HOUSEHOLD_ALIASES` present.
    population_field
        The column holding the number of residents (default: :data:`POPULATION_ALIASES`).
    layer, source
        For the problems (default source ``gdf.attrs["source"]``).
    warn_missing
        Whether a layer without any count field gives the ``households.no_count_field``
        warning (off for layers where the count is optional, e.g. dedicated sites).

    Returns
    -------
    (GeoDataFrame, list of Problem)
        A copy with columns ``households`` / ``population`` / ``compound_id`` where a
        source column was found (the original column stays under its own name only when
        it was renamed from an alias), and warnings: which alias was read as what
        (``field.alias``), or that no count field exists (``households.no_count_field``,
        listing the fields and the likely one).

    Raises
    ------
    InputError
        If ``households_field`` or ``population_field`` names a column the layer lacks.
    """
    source = source or gdf.attrs.get("source")
    columns = [str(c) for c in gdf.columns if c != gdf.geometry.name]
    listing = "、".join(columns) or _("no fields")
    problems: list[Problem] = []
    renames: dict[str, str] = {}
    explicit = {"households": households_field, "population": population_field}
    for target, given in explicit.items():
        if given is None or (target == "households" and given == ONE_PER_POINT):
            continue
        found = find_field(columns, (_norm(given),))
        if found is None:
            raise InputError(
                _("{source} has no field “{field}”").format(source=source or layer, field=given),
                [
                    Problem(
                        _(
                            "--{target}-field names “{field}”, which is not a field of the "
                            "layer; the layer's fields: {listing}"
                        ).format(target=target, field=given, listing=listing),
                        file=source,
                        layer=layer,
                        field=given,
                        rule="field.missing",
                    )
                ],
            )
        renames[found] = target
    for target, aliases in _CANONICAL.items():
        if target in renames.values() or (target == "households" and households_field):
            continue
        found = find_field(columns, aliases)
        if found is not None and found not in renames:
            renames[found] = target
    changed = households_field == ONE_PER_POINT or any(s != t for s, t in renames.items())
    out = gdf.copy() if changed else gdf
    for src, target in renames.items():
        if src == target:
            continue
        if target in out.columns:
            out = out.drop(columns=target)
        out = out.rename(columns={src: target})
        problems.append(
            Problem(
                _("field “{field}” read as {target}").format(field=src, target=target),
                file=source,
                layer=layer,
                field=src,
                rule="field.alias",
                severity="warning",
            )
        )
        log.info("%s: field %r read as %r", source or layer, src, target)
    if households_field == ONE_PER_POINT:
        out["households"] = 1
    elif "households" not in renames.values() and warn_missing:
        likely = _likely_count(gdf, [c for c in columns if c not in renames])
        hint = (
            _("; most likely “{field}”: add --households-field {field}").format(field=likely)
            if likely
            else _("; name it with --households-field FIELD")
        )
        problems.append(
            Problem(
                _(
                    "no household count field found, every point will count as one "
                    "household! Fields present: {listing}{hint} (if every point really is "
                    "one household, add --households-field 1)"
                ).format(listing=listing, hint=hint),
                file=source,
                layer=layer,
                rule="households.no_count_field",
                severity="warning",
            )
        )
        log.warning("%s: no household count field among %s", source or layer, listing)
    if changed:
        out.attrs = dict(gdf.attrs)
    return out, problems
