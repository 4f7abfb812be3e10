"""Grids and divisions for maps: OGC API – Features rows, extents and vector tiles.

SQL over the registry contract (``registry.grids_at``, ``registry.current_grid``,
``registry.divisions``) for the service's feature collections and tiles. Functions take an
open psycopg connection and plain values; rows come back as tuples in the column order
documented on each function.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

_GRID_ITEMS = """
SELECT grid_code, grid_name, grid_type, community_code, community_name, households,
       population, valid_from, valid_to,
       ST_AsGeoJSON(ST_Transform(registry.served_geom(geom, %(tol)s, %(maxv)s), %(out)s), 9),
       count(*) OVER ()
  FROM registry.grids_at(coalesce(%(at)s::timestamptz, now()))
 WHERE {where}
 ORDER BY grid_code COLLATE "C"
 LIMIT %(limit)s OFFSET %(offset)s
"""
_DIV_ITEMS = """
SELECT code, name, level, parent_code, kind,
       CASE WHEN geom IS NULL THEN NULL ELSE ST_AsGeoJSON(ST_Transform(
           registry.served_geom(geom, %(tol)s, %(maxv)s), %(out)s), 9) END,
       count(*) OVER ()
  FROM registry.divisions
 WHERE {where}
 ORDER BY code COLLATE "C"
 LIMIT %(limit)s OFFSET %(offset)s
"""
_BBOX_WHERE = (
    "geom && ST_Transform(ST_MakeEnvelope(%(minx)s, %(miny)s, %(maxx)s, %(maxy)s, %(bsrid)s),"
    " registry.srid()) AND ST_Intersects(geom, ST_Transform(ST_MakeEnvelope(%(minx)s,"
    " %(miny)s, %(maxx)s, %(maxy)s, %(bsrid)s), registry.srid()))"
)


# Vector tiles. The tile envelope (Web Mercator) is clipped to where the registry's CRS is
# usable before it is transformed into that CRS: a transverse Mercator registry CRS cannot
# take points 90° from its central meridian (PostGIS: "Point outside of projection domain"),
# and Web Mercator tiles at low zoom reach there. Features are still cut by the full tile.
# Geometries are simplified per zoom first (%(tol)s, registry units: half a tile unit), so a
# county outline at zoom 8 is not transformed vertex by vertex to be snapped away after.
_TILE_LAYER = """
SELECT ST_AsMVT(t.*, '{layer}', 4096, 'geom') FROM (
    SELECT {columns},
           ST_AsMVTGeom(ST_Transform(ST_SimplifyPreserveTopology(g.geom, %(tol)s), 3857),
                        ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64, true) AS geom
      FROM {source} g
     WHERE {extra} g.geom && ST_Transform(ST_Segmentize(ST_Intersection(
               ST_TileEnvelope(%(z)s, %(x)s, %(y)s),
               ST_Transform(ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326), 3857)),
               (%(e)s - %(w)s) / 64.0 * 111320.0), registry.srid())
) t WHERE t.geom IS NOT NULL
"""
_GRID_COLUMNS = "g.grid_code, g.grid_name, g.grid_type, g.community_code, g.community_name"
#: counts only of grids inside the caller's division (%(scope)s NULL: no division scope);
#: ST_AsMVT leaves NULL properties out
_SCOPED_COUNTS = "".join(
    f", CASE WHEN %(scope)s::text[] IS NULL OR g.community_code = ANY(%(scope)s::text[]) "
    f"THEN g.{col} END AS {col}"
    for col in ("households", "population")
)
_TILE_SQL = {
    detail: "SELECT coalesce(({grids}), ''::bytea) || coalesce(({divs}), ''::bytea)".format(
        grids=_TILE_LAYER.format(
            layer="grids",
            columns=_GRID_COLUMNS + (_SCOPED_COUNTS if detail else ""),
            source="registry.current_grid",
            extra="",
        ),
        divs=_TILE_LAYER.format(
            layer="divisions",
            columns="g.code, g.name, g.level",
            source="registry.divisions",
            extra="g.geom IS NOT NULL AND",
        ),
    )
    for detail in (False, True)
}


def extent_lonlat(
    conn: psycopg.Connection, collection: str
) -> tuple[float, float, float, float] | None:
    """Lon/lat bounds of the current grids (``grids``) or of the divisions, or ``None``."""
    table = {"grids": "current_grid", "divisions": "divisions"}[collection]
    row = conn.execute(
        sql.SQL(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Transform(ST_SetSRID(ST_Extent(geom)::geometry, registry.srid()), 4326) e "
            "FROM {}) s"
        ).format(sql.Identifier("registry", table))
    ).fetchone()
    return tuple(row) if row and row[0] is not None else None


def feature_rows(
    conn: psycopg.Connection,
    collection: str,
    *,
    out_srid: int,
    limit: int,
    offset: int,
    at: datetime | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    bbox_srid: int | None = None,
    feature_id: str | None = None,
    served: dict[str, Any] | None = None,
) -> tuple[list[tuple], int]:
    """A page of features and how many match in all.

    Rows of ``grids``: grid_code, grid_name, grid_type, community_code, community_name,
    households, population, valid_from, valid_to, GeoJSON geometry, matched count; of
    ``divisions``: code, name, level, parent_code, kind, GeoJSON geometry, matched count.
    Geometries are in ``out_srid``; grids are those valid at ``at`` (default now).
    ``served``: ``tol`` (simplification, registry units) and ``maxv`` (most vertices, or
    ``None``) of ``registry.served_geom``; default: as stored.
    """
    params: dict[str, Any] = {"out": out_srid, "limit": limit, "offset": offset, "at": at}
    params |= {"tol": 0.0, "maxv": None} | (served or {})
    where = "true"
    if bbox is not None:
        params.update(minx=bbox[0], miny=bbox[1], maxx=bbox[2], maxy=bbox[3], bsrid=bbox_srid)
        where = _BBOX_WHERE
    if feature_id is not None:
        params["fid"] = feature_id
        where = ("grid_code" if collection == "grids" else "code") + " = %(fid)s"
    query = (_GRID_ITEMS if collection == "grids" else _DIV_ITEMS).format(where=where)
    rows = conn.execute(query, params).fetchall()
    if rows:
        return rows, int(rows[0][-1])
    if offset > 0:  # past the end: still say how many match
        first = conn.execute(query, params | {"offset": 0, "limit": 1}).fetchone()
        return rows, int(first[-1]) if first else 0
    return rows, 0


def tile(conn: psycopg.Connection, params: dict[str, Any], *, detail: bool) -> bytes:
    """One Mapbox vector tile (layers ``grids`` and ``divisions``).

    ``params``: ``z``, ``x``, ``y``, the lon/lat box ``w``, ``s``, ``e``, ``n`` where the
    registry CRS is usable, and ``tol``, the simplification tolerance in registry units
    (0: as stored; :func:`tile_tolerance`); ``detail`` adds households and population per grid, for the
    grids whose community is in ``params["scope"]`` (a list of division codes, or ``None``
    for every grid).
    """
    row = conn.execute(_TILE_SQL[detail], {"tol": 0.0} | params).fetchone()
    return bytes(row[0] or b"")


#: Web Mercator's equator length, metres.
_EQUATOR_M = 40_075_016.686


def tile_tolerance(z: int, lat: float, *, geographic: bool) -> float:
    """Simplification tolerance of tile zoom ``z`` at latitude ``lat``, in registry units.

    Half a tile unit (a tile is 4096 units wide): below what the tile can show. Web
    Mercator metres are ``1 / cos(lat)`` ground metres, so the ground size is smaller by
    ``cos(lat)``; for a geographic registry CRS the size is given in degrees of latitude.
    """
    ground = _EQUATOR_M / (4096 * 2**z) / 2 * math.cos(math.radians(lat))
    return ground / 111_320.0 if geographic else ground
