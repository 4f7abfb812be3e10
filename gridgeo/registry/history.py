"""History: the registry at any date, and which grid covered a point on a date."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import geopandas as gpd
import pandas as pd
import pyproj
import shapely
from sqlalchemy import text

from gridgeo.registry._db import Bind, transaction

log = logging.getLogger(__name__)

GRID_COLUMNS = [
    "grid_id",
    "grid_code",
    "grid_name",
    "grid_type",
    "community_code",
    "community_name",
    "households",
    "population",
    "valid_from",
    "valid_to",
]


def grids_at(
    bind: Bind, at: datetime | None = None, *, community: str | None = None
) -> gpd.GeoDataFrame:
    """The grids valid at ``at`` (default: now), from ``registry.grids_at``.

    Parameters
    ----------
    at
        A timezone-aware time (naive times are taken as the database's time zone).
    community
        Only grids of communities whose code starts with this.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`GRID_COLUMNS` and geometry, in the registry CRS, ordered by code.
    """
    with transaction(bind) as conn:
        srid = conn.execute(text("SELECT registry.srid()")).scalar()
        rows = conn.execute(
            text(
                f"SELECT {', '.join(GRID_COLUMNS)}, ST_AsBinary(geom) "
                "FROM registry.grids_at(coalesce(CAST(:at AS timestamptz), now())) "
                "WHERE CAST(:c AS text) IS NULL OR community_code LIKE :c || '%' ORDER BY grid_code"
            ),
            {"at": at, "c": community},
        ).all()
    df = pd.DataFrame([r[:-1] for r in rows], columns=GRID_COLUMNS)
    geoms = shapely.from_wkb([bytes(r[-1]) for r in rows]) if rows else []
    gdf = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs=f"EPSG:{srid}" if srid else None))
    log.info("registry at %s: %d grids", at or "now", len(gdf))
    return gdf


def grid_at_point(
    bind: Bind, x: float, y: float, *, at: datetime | None = None, crs: Any = None
) -> list[dict[str, Any]]:
    """The grid(s) covering a point at ``at`` (several only on a shared border).

    Parameters
    ----------
    x, y
        Coordinates in ``crs`` (default: the registry CRS); lon/lat for EPSG:4326.
    at
        When (default: now).
    crs
        Anything with an EPSG code (``"EPSG:4326"``, 4490, …).
    """
    srid = pyproj.CRS.from_user_input(crs).to_epsg() if crs is not None else None
    with transaction(bind) as conn:
        rows = (
            conn.execute(
                text(
                    "SELECT grid_id, grid_code, grid_name, community_code, valid_from, valid_to "
                    "FROM registry.grid_at_point(:x, :y, coalesce(CAST(:at AS timestamptz), now()), :srid)"
                ),
                {"x": float(x), "y": float(y), "at": at, "srid": srid},
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


def grid_history(bind: Bind, grid_code: str) -> pd.DataFrame:
    """Every version of one grid code, with the change sets that opened and closed it."""
    with transaction(bind) as conn:
        rows = conn.execute(
            text(
                "SELECT g.grid_code, g.version, g.grid_name, g.grid_type, g.households, g.population, "
                "ST_Area(g.geom) AS area_m2, g.valid_from, g.valid_to, g.opened_by, g.closed_by, "
                "l.status AS code_status "
                "FROM registry.grid g JOIN registry.code_ledger l ON l.code = g.grid_code "
                "WHERE g.grid_code = :c ORDER BY g.version"
            ),
            {"c": grid_code},
        ).all()
    return pd.DataFrame(
        rows,
        columns=[
            "grid_code",
            "version",
            "grid_name",
            "grid_type",
            "households",
            "population",
            "area_m2",
            "valid_from",
            "valid_to",
            "opened_by",
            "closed_by",
            "code_status",
        ],
    )
