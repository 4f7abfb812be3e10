"""Load a grid layer (partition result or hand-drawn) as a draft change set.

Bulk writes use PostgreSQL COPY with hex EWKB geometries; everything happens in one
transaction, so a bad input or a crash leaves no partial draft.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gridgeo.crs import metric_crs
from gridgeo.errors import CRSError, InputError, Problem
from gridgeo.i18n import _
from gridgeo.io import SCHEMAS, check_layer
from gridgeo.partition.codes import grid_name
from gridgeo.registry._db import Bind, raw, transaction
from gridgeo.registry.bindings import drafting_profile
from gridgeo.registry.diff import ATTRIBUTES, PlannedItem, plan_changes
from gridgeo.registry.divisions import require_within
from gridgeo.registry.users import Principal
from gridgeo.rules import Profile, kind_from_word

log = logging.getLogger(__name__)


@dataclass
class LoadResult:
    """What :func:`load_grids` drafted.

    Attributes
    ----------
    changeset_id
        The draft change set, or ``None`` when the layer equals the registry.
    actions
        Number of items per action.
    new_codes, retired_codes
        Codes the draft would issue and retire.
    unchanged
        Proposed grids identical to current ones (they keep their codes).
    srid
        The registry SRID the layer was transformed into.
    warnings
        Problems that did not stop the load (e.g. repaired geometries).
    """

    changeset_id: int | None
    actions: dict[str, int] = field(default_factory=dict)
    new_codes: list[str] = field(default_factory=list)
    retired_codes: list[str] = field(default_factory=list)
    unchanged: int = 0
    srid: int = 0
    warnings: list[Problem] = field(default_factory=list)


# -- SRID -------------------------------------------------------------------------------
def registry_srid(conn: Connection) -> int | None:
    """The registry SRID (``registry.meta`` key ``srid``), or ``None`` before the first load."""
    value = conn.execute(text("SELECT registry.srid()")).scalar()
    return int(value) if value is not None else None


def _fix_srid(conn: Connection, gdf: gpd.GeoDataFrame, source: str | None) -> int:
    srid = registry_srid(conn)
    if srid is None:
        crs = gdf.crs
        wanted = crs if crs is not None and crs.is_projected else metric_crs(gdf)
        epsg = pyproj.CRS(wanted).to_epsg()
        if epsg is None:
            raise CRSError(
                _(
                    "{value}: its projected CRS has no EPSG code; reproject it to a CGCS2000 "
                    "Gauss–Krüger zone (EPSG:4513–4533) first"
                ).format(value=source or _("layer"))
            )
        conn.execute(
            text(
                "INSERT INTO registry.meta (key, value) VALUES ('srid', :v) ON CONFLICT DO NOTHING"
            ),
            {"v": str(epsg)},
        )
        srid = registry_srid(conn)
        log.info("registry SRID fixed to EPSG:%s by the first load", srid)
    return int(srid)


def _to_srid(gdf: gpd.GeoDataFrame, srid: int) -> gpd.GeoDataFrame:
    if gdf.crs is not None and pyproj.CRS(gdf.crs).to_epsg() == srid:
        return gdf
    return gdf.to_crs(epsg=srid)


def ewkb_hex(geoms: np.ndarray, srid: int) -> list[str]:
    """Hex EWKB of (multi)polygons with ``srid`` (PostGIS accepts it as geometry text)."""
    geoms = shapely.force_2d(np.asarray(geoms))
    geoms = shapely.set_srid(geoms, srid)
    return list(shapely.to_wkb(geoms, hex=True, include_srid=True))


# -- checks -----------------------------------------------------------------------------
def geometry_limits(
    g: gpd.GeoDataFrame, source: str | None, *, max_vertices: int | None = None
) -> list[Problem]:
    """Problems of grids as they will be stored (after transformation to the registry CRS).

    A polygon valid in lon/lat may not be after projection (a world-sized one folds onto
    itself in a Gauss–Krüger zone); an empty one says nothing; a huge one is served to
    everyone. ``max_vertices`` defaults to ``GRIDGEO_MAX_VERTICES``.
    """
    if max_vertices is None:
        from gridgeo.settings import get_settings

        max_vertices = get_settings().max_vertices
    geoms = np.asarray(g.geometry.values, dtype=object)
    problems: list[Problem] = []
    present = ~shapely.is_missing(geoms)
    counts = np.zeros(len(geoms), dtype=np.int64)
    counts[present] = shapely.get_num_coordinates(geoms[present])
    for i in np.flatnonzero(present):
        geom, row = geoms[i], g.index[i]
        if geom.is_empty:
            what, rule = "geometry is empty", "geometry.empty"
        elif counts[i] > max_vertices:
            what = f"{counts[i]} vertices; at most {max_vertices} per grid (GRIDGEO_MAX_VERTICES)"
            rule = "geometry.vertices"
        elif not np.isfinite(shapely.bounds(geom)).all():
            what, rule = "coordinates not finite after transformation", "geometry.transform"
        elif not shapely.is_valid(geom):
            reason = shapely.is_valid_reason(geom)
            what = f"not valid after transformation to the registry CRS ({reason})"
            rule = "geometry.invalid_transformed"
        else:
            continue
        problems.append(Problem(what, file=source, row=row, field="geometry", rule=rule))
    return problems


def _prepare(
    grids: gpd.GeoDataFrame, profile: Profile, source: str | None, repair: bool
) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    g = grids.copy()
    g.attrs = dict(grids.attrs)
    problems = check_layer(
        g, SCHEMAS["grids"], code_scheme=profile.codes, source=source, repair=repair
    )
    g["community_code"] = (
        g["community_code"].astype("string").str.strip() if "community_code" in g else ""
    )
    for name in ("households", "population"):  # absent = keep the current value (else 0)
        if name not in g:
            g[name] = pd.NA
        g[name] = pd.to_numeric(g[name], errors="coerce").round().astype("Int64")
    if "grid_name" not in g:
        g["grid_name"] = pd.NA
    g["grid_name"] = g["grid_name"].astype("string").str.strip()
    if "grid_type" not in g:
        g["grid_type"] = pd.NA
    g["grid_type"] = pd.array(
        [kind_from_word(t) or (None if pd.isna(t) else str(t).strip()) for t in g["grid_type"]],
        dtype="string",
    )
    if "grid_code" in g:
        g["grid_code"] = g["grid_code"].astype("string").str.strip()
    return g, problems


def _check_communities(
    conn: Connection,
    g: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame | None,
    county: str,
    profile: Profile,
    source: str | None,
) -> tuple[pd.DataFrame, list[Problem]]:
    """Known communities (code, name, kind), inserting new ones from ``communities``."""
    srid = registry_srid(conn)
    problems: list[Problem] = []
    wanted = sorted(set(g["community_code"].dropna().astype(str)))
    known = pd.DataFrame(
        conn.execute(
            text(
                "SELECT code, name, kind FROM registry.divisions "
                "WHERE level = 'community' AND code = ANY(:codes)"
            ),
            {"codes": wanted},
        ).all(),
        columns=["code", "name", "kind"],
    )
    missing = [c for c in wanted if c not in set(known["code"])]
    if communities is not None and len(known):
        problems += _differing_divisions(conn, communities, list(known["code"]), srid)
    if missing and communities is not None:
        csource = communities.attrs.get("source")
        cproblems = [
            p
            for p in check_layer(
                communities,
                SCHEMAS["communities"],
                code_scheme=profile.codes,
                source=csource,
            )
            if p.severity == "error"
        ]
        if cproblems:
            raise InputError(
                _("{value} cannot be used").format(value=csource or _("communities layer")),
                cproblems,
            )
        c = _to_srid(communities, srid)
        c = c[c["code"].astype(str).isin(missing)]
        if len(c):
            _insert_county(conn, county)
            kinds = [
                profile.community_kind(k, code)
                for code, k in zip(
                    c["code"].astype(str), c.get("kind", pd.Series([None] * len(c))), strict=True
                )
            ]
            rows = [
                {"code": code, "name": str(name), "parent": county, "kind": kind, "geom": geom}
                for code, name, kind, geom in zip(
                    c["code"].astype(str),
                    c["name"],
                    kinds,
                    ewkb_hex(_multi(c.geometry.values), srid),
                    strict=True,
                )
            ]
            conn.execute(
                text(
                    "INSERT INTO registry.divisions (code, name, level, parent_code, kind, geom) "
                    "VALUES (:code, :name, 'community', :parent, :kind, :geom) "
                    "ON CONFLICT (code) DO NOTHING"
                ),
                rows,
            )
            log.info("registered %d communities of county %s", len(rows), county)
            known = pd.concat(
                [
                    known,
                    pd.DataFrame(
                        [(r["code"], r["name"], r["kind"]) for r in rows], columns=known.columns
                    ),
                ]
            )
            missing = [c for c in missing if c not in set(known["code"])]
    for code in missing:
        rows = np.flatnonzero((g["community_code"] == code).to_numpy())
        problems.append(
            Problem(
                _(
                    "community {code} is not in the registry; give its polygon with --communities"
                ).format(code=code),
                file=source,
                row=int(g.index[rows[0]]) if len(rows) else None,
                field="community_code",
                rule="registry.community_unknown",
            )
        )
    return known, problems


def _differing_divisions(
    conn: Connection, communities: gpd.GeoDataFrame, codes: list[str], srid: int
) -> list[Problem]:
    """Warnings for given community polygons that differ from the registry's (kept as they are)."""
    if "code" not in communities:
        return []
    given = _to_srid(communities, srid)
    given = given[given["code"].astype(str).isin(codes)]
    rows = conn.execute(
        text("SELECT code, ST_AsBinary(geom) FROM registry.divisions WHERE code = ANY(:c)"),
        {"c": list(given["code"].astype(str))},
    ).all()
    stored = {code: shapely.from_wkb(bytes(wkb)) for code, wkb in rows if wkb is not None}
    out = []
    for code, geom in zip(given["code"].astype(str), given.geometry.values, strict=True):
        old = stored.get(code)
        if old is None or geom is None:
            continue
        diff = shapely.area(shapely.symmetric_difference(old, geom))
        if diff > 1.0:
            out.append(
                Problem(
                    _(
                        "community {code}: the given polygon differs from the registry's by "
                        "{diff:,.0f} m²; the registry's is kept (changing a community's boundary "
                        "is an admin task)"
                    ).format(code=code, diff=diff),
                    layer=communities.attrs.get("source"),
                    row=code,
                    rule="registry.community_differs",
                    severity="warning",
                )
            )
    return out


def _multi(geoms: np.ndarray) -> np.ndarray:
    geoms = np.asarray(geoms)
    single = shapely.get_type_id(geoms) == 3
    out = geoms.copy()
    out[single] = [shapely.MultiPolygon([p]) for p in geoms[single]]
    return out


def _insert_county(conn: Connection, county: str) -> None:
    conn.execute(
        text(
            "INSERT INTO registry.divisions (code, name, level) VALUES (:c, :c, 'county') "
            "ON CONFLICT (code) DO NOTHING"
        ),
        {"c": county},
    )


def _current(conn: Connection, communities: list[str], srid: int) -> gpd.GeoDataFrame:
    rows = conn.execute(
        text(
            "SELECT grid_code, version, grid_name, grid_type, community_code, households, "
            "population, ST_AsBinary(geom) AS wkb FROM registry.grid "
            "WHERE valid_to IS NULL AND community_code = ANY(:c) ORDER BY grid_code"
        ),
        {"c": communities},
    ).all()
    df = pd.DataFrame(
        rows,
        columns=[
            "grid_code",
            "version",
            "grid_name",
            "grid_type",
            "community_code",
            "households",
            "population",
            "wkb",
        ],
    )
    geoms = shapely.from_wkb(df.pop("wkb").map(bytes).to_numpy()) if len(df) else []
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs=f"EPSG:{srid}"))


# -- codes ------------------------------------------------------------------------------
def _allocate_codes(
    conn: Connection,
    items: list[PlannedItem],
    g: gpd.GeoDataFrame,
    profile: Profile,
) -> tuple[dict[int, str], list[tuple[str, str, int]]]:
    """Codes of the proposed grids: kept codes, input codes on a community's first
    registration, else the next unused sequence numbers of the community."""
    digits = profile.codes.grid_sequence_digits
    needs = [(i, it.community_code) for it in items if it.keep_code is None for i in it.new]
    codes: dict[int, str] = {i: it.keep_code for it in items if it.keep_code for i in it.new}
    communities = sorted({c for _, c in needs})
    for c in communities:  # sorted: concurrent drafts take the locks in the same order
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('gridgeo.ledger.' || :c))"), {"c": c}
        )
    used = dict(
        conn.execute(
            text(
                "SELECT community_code, max(seq) FROM registry.code_ledger "
                "WHERE community_code = ANY(:c) GROUP BY community_code"
            ),
            {"c": communities},
        ).all()
    )
    reserved: list[tuple[str, str, int]] = []
    taken: set[str] = set()
    given = g["grid_code"].astype(object).tolist() if "grid_code" in g else [None] * len(g)
    for c in communities:
        mine = [i for i, cc in needs if cc == c]
        first = c not in used
        seqs: dict[int, int] = {}
        if first:  # a community's first registration keeps well-formed input codes
            pat = re.compile(re.escape(c) + rf"(\d{{{digits}}})")
            for i in mine:
                code = given[i]
                m = pat.fullmatch(str(code)) if not pd.isna(code) else None
                if m and int(m.group(1)) > 0 and code not in taken:
                    seqs[i] = int(m.group(1))
                    taken.add(code)
        nxt = max([used.get(c) or 0, *seqs.values()]) + 1
        for i in mine:
            if i not in seqs:
                seqs[i] = nxt
                nxt += 1
        top = max(seqs.values(), default=0)
        if top >= 10**digits:
            raise InputError(
                _(
                    "community {c} would need grid sequence {top}, more than {digits} digits allow"
                ).format(c=c, top=top, digits=digits),
                [Problem(_("grid sequence overflow"), field="grid_code", rule="code.overflow")],
            )
        for i in mine:
            code = f"{c}{seqs[i]:0{digits}d}"
            codes[i] = code
            reserved.append((code, c, seqs[i]))
    return codes, reserved


def _fill_missing(
    g: gpd.GeoDataFrame,
    items: list[PlannedItem],
    current: gpd.GeoDataFrame,
    codes: dict[int, str],
    kinds: dict[str, str | None],
    names: dict[str, str],
    profile: Profile,
) -> dict[str, list]:
    """Attribute columns of the proposed grids as plain lists, with what the layer left
    out filled in: a kept code's current values, else defaults (name ``<community>第N网格``
    after the code's sequence N, the community's kind as type, 0 households and residents)."""
    cols = ("grid_name", "grid_type", "households", "population")
    out = {c: g[c].astype(object).tolist() for c in (*cols, "community_code")}
    olds = (
        {c: dict(zip(current["grid_code"], current[c], strict=True)) for c in cols}
        if len(current)
        else {}
    )
    for it in items:
        for i in it.new:
            c = str(out["community_code"][i])
            seq = codes[i][len(c) :]
            defaults = {
                "grid_name": grid_name(names[c], int(seq))
                if names.get(c) and seq.isdigit()
                else codes[i],
                "grid_type": kinds.get(c) or profile.codes.kind_from_code(c) or "urban",
                "households": 0,
                "population": 0,
            }
            for col in cols:
                value = out[col][i]
                if (
                    value is None
                    or value is pd.NA
                    or (not isinstance(value, str) and pd.isna(value))
                    or value == ""
                ):
                    out[col][i] = olds[col][it.keep_code] if it.keep_code else defaults[col]
    return out


def _recount(
    conn: Connection,
    county: str,
    g: gpd.GeoDataFrame,
    items: list[PlannedItem],
    values: dict[str, list],
) -> list[Problem]:
    """Recount households and residents of every drafted grid from the county's
    household layer (in place in ``values``); a warning when the county has none."""
    from gridgeo.registry.households import household_points
    from gridgeo.registry.repartition import recount

    idx = sorted(i for it in items for i in it.new)
    if not idx:
        return []
    drafted = g.iloc[idx]
    points = household_points(conn, county, within=shapely.union_all(drafted.geometry.values))
    if points is None:
        return [
            Problem(
                _(
                    "county {county} has no household layer: households of the {n} drafted "
                    "grids are taken from the layer or kept from the grids they replace, not "
                    "recounted (load it with `gridgeo registry households`)"
                ).format(county=county, n=len(idx)),
                rule="households.not_recounted",
                severity="warning",
            )
        ]
    counts = recount(drafted.reset_index(drop=True), points) if len(points) else None
    for pos, i in enumerate(idx):
        values["households"][i] = 0 if counts is None else int(counts["households"].iloc[pos])
        if counts is not None and points["population"].notna().any():
            values["population"][i] = int(counts["population"].iloc[pos])
    log.info("recounted households of %d drafted grids from %d points", len(idx), len(points))
    return []


# -- main -------------------------------------------------------------------------------
def load_grids(
    bind: Bind,
    grids: gpd.GeoDataFrame,
    *,
    county: str,
    actor: Principal,
    communities: gpd.GeoDataFrame | None = None,
    profile: str | Profile | None = None,
    code_pattern: str | None = None,
    title: str = "",
    reason: str = "",
    tolerance_m2: float | None = None,
    repair: bool = False,
    max_vertices: int | None = None,
) -> LoadResult:
    """Draft a change set that turns the current grids of the layer's communities into it.

    Parameters
    ----------
    bind
        Database (engine, connection or URL).
    grids
        Proposed grids with ``community_code`` and optionally ``grid_code``,
        ``grid_name``, ``grid_type``, ``households``, ``population``; any CRS.
    county
        The county code every community code must start with.
    actor
        A county editor of ``county`` (or an admin).
    communities
        Community polygons (``code``, ``name``, optional ``kind``) to register the
        communities the registry does not know yet.
    profile
        Profile name/path/object for the code scheme (default: the county's binding,
        else setting ``GRIDGEO_PROFILE``).
    code_pattern
        Regular expression community codes must match (default: the county's binding,
        else the profile's), e.g. ``r"\\d{11}"`` for Taiwan's village codes.
    title, reason
        Kept with the change set and in the audit log.
    max_vertices
        Most vertices per grid (default ``GRIDGEO_MAX_VERTICES``); grids are also
        refused when empty or invalid once transformed to the registry CRS.
    tolerance_m2
        Geometry equality tolerance (default: the registry's overlap tolerance).
    repair
        Repair invalid geometries with ``make_valid`` (listed as warnings in the
        result) instead of refusing them.

    Returns
    -------
    LoadResult

    Raises
    ------
    PermissionDeniedError
        When ``actor`` may not draft in ``county`` or a community is outside it.
    InputError
        Listing every bad row, field and unknown community.
    """
    county = str(county).strip()
    prof = drafting_profile(bind, county, profile=profile, code_pattern=code_pattern)
    source = grids.attrs.get("source")
    g, problems = _prepare(grids, prof, source, repair)
    well_formed = [
        c for c in g["community_code"].dropna().astype(str).unique() if prof.codes.matches(c)
    ]
    actor.require("changeset.draft", county)
    warnings = [p for p in problems if p.severity != "error"]
    problems = [p for p in problems if p.severity == "error"]
    if problems:
        raise InputError(
            _("{value} cannot be loaded").format(value=source or _("the grid layer")), problems
        )
    for p in warnings:
        log.warning("%s", p)
    if len(g) == 0:
        raise InputError(_("{value} has no grids").format(value=source or _("the grid layer")))

    with transaction(bind) as conn:
        require_within(conn, county, well_formed)  # malformed codes are input problems below
        srid = _fix_srid(conn, g, source)
        g = _to_srid(g, srid).reset_index(drop=True)
        problems = geometry_limits(g, source, max_vertices=max_vertices)
        if problems:
            raise InputError(
                _("{value} cannot be loaded (in EPSG:{srid})").format(
                    value=source or _("the grid layer"), srid=srid
                ),
                problems,
            )
        known, problems = _check_communities(conn, g, communities, county, prof, source)
        warnings += [p for p in problems if p.severity != "error"]
        problems = [p for p in problems if p.severity == "error"]
        if problems:
            raise InputError(
                _("{value} cannot be loaded").format(value=source or _("the grid layer")), problems
            )
        kinds = dict(zip(known["code"], known["kind"], strict=True))
        names = dict(zip(known["code"], known["name"], strict=True))
        g["geometry"] = _multi(shapely.force_2d(g.geometry.values))
        tol = tolerance_m2
        if tol is None:
            tol = float(
                conn.execute(
                    text("SELECT registry.meta_float('overlap_tolerance_m2', 1.0)")
                ).scalar()
            )
        comm = sorted(set(g["community_code"].astype(str)))
        current = _current(conn, comm, srid)
        current["geometry"] = _multi(current.geometry.values) if len(current) else current.geometry
        items = plan_changes(current, g, tolerance_m2=tol)
        unchanged = len(g) - sum(len(it.new) for it in items)
        if not items:
            log.info("loaded %d grids: all equal to the registry, nothing drafted", len(g))
            return LoadResult(None, {}, [], [], unchanged, srid, warnings)
        codes, reserved = _allocate_codes(conn, items, g, prof)
        values = _fill_missing(g, items, current, codes, kinds, names, prof)
        warnings += _recount(conn, county, g, items, values)

        cs_id = conn.execute(
            text(
                "INSERT INTO registry.changeset (county_code, title, reason, source, created_by) "
                "VALUES (:county, :title, :reason, :source, :by) RETURNING changeset_id"
            ),
            {
                "county": county,
                "title": title,
                "reason": reason,
                "source": source,
                "by": actor.name,
            },
        ).scalar_one()
        item_ids = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT nextval('registry.changeset_item_item_id_seq') FROM generate_series(1, :n)"
                ),
                {"n": len(items)},
            ).all()
        ]
        pg = raw(conn)
        with pg.cursor() as cur:
            with cur.copy(
                "COPY registry.changeset_item (item_id, changeset_id, seq, action, note) FROM STDIN"
            ) as cp:
                for seq, (iid, it) in enumerate(zip(item_ids, items, strict=True), start=1):
                    cp.write_row((iid, cs_id, seq, it.action, it.note))
            if reserved:
                with cur.copy(
                    "COPY registry.code_ledger (code, community_code, seq, status, changeset_id) FROM STDIN"
                ) as cp:
                    for code, c, s in reserved:
                        cp.write_row((code, c, s, "reserved", cs_id))
            with cur.copy(
                "COPY registry.changeset_old (item_id, changeset_id, grid_code, base_version, retire) FROM STDIN"
            ) as cp:
                for iid, it in zip(item_ids, items, strict=True):
                    for o in it.old:
                        cp.write_row((iid, cs_id, o.grid_code, o.version, o.retire))
            new_rows = [(iid, i) for iid, it in zip(item_ids, items, strict=True) for i in it.new]
            if new_rows:
                idx = np.array([i for _, i in new_rows])
                wkb = ewkb_hex(g.geometry.values[idx], srid)
                with cur.copy(
                    "COPY registry.changeset_new (item_id, changeset_id, grid_code, grid_name, grid_type, "
                    "community_code, households, population, geom) FROM STDIN"
                ) as cp:
                    for (iid, i), hexwkb in zip(new_rows, wkb, strict=True):
                        cp.write_row(
                            (
                                iid,
                                cs_id,
                                codes[i],
                                str(values["grid_name"][i]),
                                str(values["grid_type"][i]),
                                str(values["community_code"][i]),
                                int(values["households"][i]),
                                int(values["population"][i]),
                                hexwkb,
                            )
                        )
        actions = dict(Counter(it.action for it in items))
        new_codes = sorted(code for code, _, _ in reserved)
        retired = sorted(o.grid_code for it in items for o in it.old if o.retire)
        conn.execute(
            text("SELECT registry.append_audit(:a, :r, 'draft', :cs, :why, CAST(:d AS jsonb))"),
            {
                "a": actor.name,
                "r": actor.role,
                "cs": cs_id,
                "why": reason,
                "d": pd.Series(
                    {
                        "source": source,
                        "actions": actions,
                        "new_codes": len(new_codes),
                        "retired": retired,
                    }
                ).to_json(force_ascii=False),
            },
        )
    log.info(
        "drafted change set %s for county %s: %d grids loaded, %d items %s, %d unchanged",
        cs_id,
        county,
        len(g),
        len(items),
        actions,
        unchanged,
    )
    return LoadResult(int(cs_id), actions, new_codes, retired, unchanged, srid, warnings)


__all__ = ["ATTRIBUTES", "LoadResult", "load_grids", "registry_srid"]
