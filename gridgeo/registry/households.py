"""Each county's household layer, kept to recount grid households at filing.

Restricted data (schema ``restricted``): points with household counts. Loading
replaces the county's layer whole, in one transaction; it is read only by filing
(:func:`household_points`) and never served by the map service.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text

from gridgeo.errors import CRSError, InputError, Problem
from gridgeo.i18n import _
from gridgeo.registry._db import Bind, raw, transaction
from gridgeo.registry.load import registry_srid
from gridgeo.registry.users import Principal

log = logging.getLogger(__name__)


def _counts(
    frame: gpd.GeoDataFrame, field: str, source: str, problems: list[Problem]
) -> np.ndarray:
    if field not in frame.columns:
        return np.ones(len(frame), dtype=np.int64) if field == "households" else None
    values = pd.to_numeric(frame[field], errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy() | (values.to_numpy() < 0))
    for i in bad[:20]:
        problems.append(
            Problem(
                _("{field} {value!r} is not a count ≥ 0").format(
                    field=field, value=frame[field].iloc[i]
                ),
                file=source,
                row=int(i),
                field=field,
                rule="households.count",
            )
        )
    return values.fillna(0).clip(lower=0).round().astype(np.int64).to_numpy()


def load_households(
    bind: Bind, points: gpd.GeoDataFrame, *, county: str, actor: Principal, source: str = ""
) -> int:
    """Replace ``county``'s household layer with ``points``.

    Parameters
    ----------
    points
        Points with optional ``households`` (default 1), ``population`` and
        ``compound_id``; any CRS (reprojected to the registry's).
    county
        The county whose layer this is.
    actor
        A county editor of ``county`` (or an admin).

    Returns
    -------
    int
        The number of points stored.

    Raises
    ------
    InputError
        Listing every row that is not a point or has a bad count; nothing is stored.
    CRSError
        When the layer has no CRS or the registry has none yet (load grids first).
    """
    actor.require("changeset.draft", str(county))
    source = source or str(points.attrs.get("source") or "household layer")
    if points.crs is None:
        raise CRSError(_("{source}: the household layer has no CRS").format(source=source))
    problems: list[Problem] = []
    kinds = shapely.get_type_id(points.geometry.values)
    for i in np.flatnonzero(kinds != 0)[:20]:
        problems.append(
            Problem(
                _("not a point"), file=source, row=int(i), field="geometry", rule="households.point"
            )
        )
    households = _counts(points, "households", source, problems)
    population = _counts(points, "population", source, problems)
    if problems:
        raise InputError(
            _("{source} cannot be loaded as household layer").format(source=source), problems
        )
    compound = (
        points["compound_id"].astype("string").to_numpy(dtype=object)
        if "compound_id" in points.columns
        else [None] * len(points)
    )
    with transaction(bind) as conn:
        srid = registry_srid(conn)
        if srid is None:
            raise CRSError(_("the registry has no CRS yet: load the county's grids first"))
        pts = points.to_crs(epsg=int(srid))
        wkb = shapely.to_wkb(shapely.force_2d(pts.geometry.values), hex=True, include_srid=False)
        conn.execute(
            text("DELETE FROM restricted.household WHERE county_code = :c"), {"c": str(county)}
        )
        with (
            raw(conn).cursor() as cur,
            cur.copy(
                "COPY restricted.household (county_code, households, population, compound_id, geom) "
                "FROM STDIN"
            ) as cp,
        ):
            for i, hexwkb in enumerate(wkb):
                cp.write_row(
                    (
                        str(county),
                        int(households[i]),
                        None if population is None else int(population[i]),
                        None if pd.isna(compound[i]) else str(compound[i]),
                        f"SRID={srid};{hexwkb}",
                    )
                )
        conn.execute(
            text(
                "INSERT INTO restricted.household_load "
                "(county_code, points, households, source, loaded_by) "
                "VALUES (:c, :n, :h, :s, :by) ON CONFLICT (county_code) DO UPDATE SET "
                "points = EXCLUDED.points, households = EXCLUDED.households, "
                "source = EXCLUDED.source, loaded_by = EXCLUDED.loaded_by, "
                "loaded_at = clock_timestamp()"
            ),
            {
                "c": str(county),
                "n": len(pts),
                "h": int(households.sum()),
                "s": source,
                "by": actor.name,
            },
        )
        conn.execute(
            text(
                "SELECT registry.append_audit(:a, :r, 'load_households', NULL, NULL, "
                "jsonb_build_object('county', CAST(:c AS text), "
                "'points', CAST(:n AS integer), 'source', CAST(:s AS text)))"
            ),
            {"a": actor.name, "r": actor.role, "c": str(county), "n": len(pts), "s": source},
        )
    log.info(
        "loaded %d household points (%d households) for county %s",
        len(pts),
        households.sum(),
        county,
    )
    return len(pts)


def household_points(bind: Bind, county: str, *, within=None) -> gpd.GeoDataFrame | None:
    """The county's household points (in the registry CRS), or ``None`` when it has no layer.

    ``within`` (a geometry in the registry CRS) limits them to that area.
    """
    with transaction(bind) as conn:
        loaded = conn.execute(
            text("SELECT 1 FROM restricted.household_load WHERE county_code = :c"),
            {"c": str(county)},
        ).one_or_none()
        if loaded is None:
            return None
        srid = registry_srid(conn)
        rows = conn.execute(
            text(
                "SELECT households, population, compound_id, ST_AsBinary(geom) "
                "FROM restricted.household WHERE county_code = :c "
                "AND (CAST(:w AS text) IS NULL OR "
                "     ST_Intersects(geom, ST_GeomFromWKB(decode(:w, 'hex'), registry.srid())))"
            ),
            {"c": str(county), "w": None if within is None else shapely.to_wkb(within, hex=True)},
        ).all()
    df = pd.DataFrame([r[:3] for r in rows], columns=["households", "population", "compound_id"])
    geoms = shapely.from_wkb([bytes(r[3]) for r in rows]) if rows else []
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs=f"EPSG:{srid}"))
