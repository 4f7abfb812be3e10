"""OGC API – Features collections ``grids`` and ``divisions``, and vector tiles."""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Annotated, Any

import pyproj
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from gridgeo.errors import InputError, NotFoundError, Problem
from gridgeo.registry import features
from gridgeo.service.auth import CallerDep
from gridgeo.service.deps import db_errors, parse_bbox, service_settings
from gridgeo.times import parse_at

router = APIRouter(tags=["features"])

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
_EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
]

_COLLECTIONS = {
    "grids": {
        "title": "Service grids (网格)",
        "description": "Current grids (or those valid at datetime=): code, name, type, "
        "community; households and population for editors, reviewers and admins.",
    },
    "divisions": {
        "title": "Administrative divisions (区划)",
        "description": "Counties, streets and communities/villages known to the registry.",
    },
}


def _srid_of(value: str | None, registry_srid: int | None, what: str) -> int:
    """EPSG code from ``CRS84``, an EPSG URI or ``EPSG:n``; only a few are offered."""
    if value is None or value.strip() in ("", CRS84, "CRS84", "OGC:CRS84"):
        return 4326
    m = re.fullmatch(
        r"(?:https?://www\.opengis\.net/def/crs/EPSG/0/|EPSG:)(\d{4,6})", value.strip(), re.I
    )
    allowed = {4326, 4490, 3857} | ({registry_srid} if registry_srid else set())
    if not m or int(m.group(1)) not in allowed:
        raise InputError(
            f"{what}={value!r} is not offered; use CRS84 or one of "
            + ", ".join(_EPSG_URI.format(s) for s in sorted(allowed)),
            [Problem("unsupported CRS", field=what, rule="query.crs")],
        )
    return int(m.group(1))


def _crs_list(registry_srid: int | None) -> list[str]:
    codes = [4490, 3857] + ([registry_srid] if registry_srid else [])
    return [CRS84, *(_EPSG_URI.format(c) for c in codes)]


def _registry_srid(request: Request) -> int | None:
    return request.app.state.registry_state.current().srid


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/conformance", summary="OGC API conformance classes")
def conformance() -> dict[str, Any]:
    return {"conformsTo": CONFORMANCE}


@router.get("/collections", summary="Feature collections")
def collections(request: Request) -> dict[str, Any]:
    base = _base(request)
    srid = _registry_srid(request)
    return {
        "collections": [_collection(cid, base, srid) for cid in _COLLECTIONS],
        "links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}],
    }


def _collection(cid: str, base: str, srid: int | None) -> dict[str, Any]:
    return {
        "id": cid,
        **_COLLECTIONS[cid],
        "itemType": "feature",
        "crs": _crs_list(srid),
        "storageCrs": _EPSG_URI.format(srid) if srid else CRS84,
        "links": [
            {"href": f"{base}/collections/{cid}", "rel": "self", "type": "application/json"},
            {
                "href": f"{base}/collections/{cid}/items",
                "rel": "items",
                "type": "application/geo+json",
            },
        ],
    }


@router.get("/collections/{collection_id}", summary="One feature collection")
def collection(request: Request, collection_id: str) -> dict[str, Any]:
    if collection_id not in _COLLECTIONS:
        raise NotFoundError(f"no collection {collection_id!r}; collections: grids, divisions")
    out = _collection(collection_id, _base(request), _registry_srid(request))
    with (
        db_errors(f"reading {collection_id}"),
        request.app.state.pool.connection(timeout=10) as conn,
    ):
        bbox = features.extent_lonlat(conn, collection_id)
    if bbox is not None:
        out["extent"] = {"spatial": {"bbox": [list(bbox)], "crs": CRS84}}
    return out


@router.get(
    "/collections/{collection_id}/items",
    summary="Features of a collection (GeoJSON)",
    response_class=JSONResponse,
    responses={200: {"content": {"application/geo+json": {}}}},
)
def items(
    request: Request,
    caller: CallerDep,
    collection_id: str,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy (in bbox-crs)")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs")] = None,
    crs: Annotated[str | None, Query(description="Output CRS URI (default CRS84, lon/lat)")] = None,
    limit: Annotated[int, Query(ge=1, description="Page size")] = 100,
    offset: Annotated[int, Query(ge=0, le=2**62, description="Features to skip")] = 0,
    datetime: Annotated[str | None, Query(description="grids only: valid at this instant")] = None,
) -> Response:
    settings = service_settings(request)
    if collection_id not in _COLLECTIONS:
        raise NotFoundError(f"no collection {collection_id!r}; collections: grids, divisions")
    limit = min(limit, settings.features_max_limit)
    srid = _registry_srid(request)
    out_srid = _srid_of(crs, srid, "crs")
    box = parse_bbox(bbox)
    bsrid = _srid_of(bbox_crs, srid, "bbox-crs") if box is not None else None
    when = (
        parse_at(datetime, settings.timezone, name="datetime") if collection_id == "grids" else None
    )
    rows: list[tuple] = []
    matched = 0
    if srid is not None:
        with (
            db_errors(f"reading {collection_id}"),
            request.app.state.pool.connection(timeout=10) as conn,
        ):
            rows, matched = features.feature_rows(
                conn,
                collection_id,
                out_srid=out_srid,
                limit=limit,
                offset=offset,
                at=when,
                bbox=box,
                bbox_srid=bsrid,
            )
    show_counts = caller.can("population")
    feats = []
    for r in rows:
        if collection_id == "grids":
            props = {
                "grid_code": r[0],
                "grid_name": r[1],
                "grid_type": r[2],
                "community_code": r[3],
                "community_name": r[4],
                "valid_from": r[7].isoformat() if r[7] else None,
                "valid_to": r[8].isoformat() if r[8] else None,
            }
            if show_counts:
                props |= {"households": r[5], "population": r[6]}
            fid, geom = r[0], r[9]
        else:
            props = {"code": r[0], "name": r[1], "level": r[2], "parent_code": r[3], "kind": r[4]}
            fid, geom = r[0], r[5]
        feats.append(
            {
                "type": "Feature",
                "id": fid,
                "geometry": json.loads(geom) if geom else None,
                "properties": props,
            }
        )
    links = [{"href": str(request.url), "rel": "self", "type": "application/geo+json"}]
    if offset + len(feats) < matched:
        nxt = request.url.include_query_params(offset=offset + len(feats), limit=limit)
        links.append({"href": str(nxt), "rel": "next", "type": "application/geo+json"})
    if offset > 0:
        prev = request.url.include_query_params(offset=max(offset - limit, 0), limit=limit)
        links.append({"href": str(prev), "rel": "prev", "type": "application/geo+json"})
    body = {
        "type": "FeatureCollection",
        "features": feats,
        "numberMatched": matched,
        "numberReturned": len(feats),
        "links": links,
    }
    crs_uri = CRS84 if out_srid == 4326 else _EPSG_URI.format(out_srid)
    return JSONResponse(
        body, media_type="application/geo+json", headers={"Content-Crs": f"<{crs_uri}>"}
    )


@router.get("/collections/{collection_id}/items/{feature_id}", summary="One feature")
def item(
    request: Request, caller: CallerDep, collection_id: str, feature_id: str, crs: str | None = None
) -> Response:
    if collection_id not in _COLLECTIONS:
        raise NotFoundError(f"no collection {collection_id!r}; collections: grids, divisions")
    srid = _registry_srid(request)
    out_srid = _srid_of(crs, srid, "crs")
    rows: list[tuple] = []
    if srid:
        with (
            db_errors(f"reading {collection_id}"),
            request.app.state.pool.connection(timeout=10) as conn,
        ):
            rows, _ = features.feature_rows(
                conn, collection_id, out_srid=out_srid, limit=1, offset=0, feature_id=feature_id
            )
    if not rows:
        raise NotFoundError(f"no feature {feature_id!r} in {collection_id}")
    r = rows[0]
    if collection_id == "grids":
        props = {
            "grid_code": r[0],
            "grid_name": r[1],
            "grid_type": r[2],
            "community_code": r[3],
            "community_name": r[4],
        }
        if caller.can("population"):
            props |= {"households": r[5], "population": r[6]}
        geom = r[9]
    else:
        props = {"code": r[0], "name": r[1], "level": r[2], "parent_code": r[3], "kind": r[4]}
        geom = r[5]
    return JSONResponse(
        {
            "type": "Feature",
            "id": feature_id,
            "geometry": json.loads(geom) if geom else None,
            "properties": props,
        },
        media_type="application/geo+json",
    )


#: How far beyond its declared area of use a registry CRS is still trusted, in degrees.
_CRS_MARGIN_DEG = 20.0


@functools.lru_cache(maxsize=16)
def _usable_lonlat(srid: int) -> tuple[float, float, float, float]:
    """Lon/lat box where EPSG ``srid`` transforms reliably: its area of use plus a margin."""
    try:
        area = pyproj.CRS.from_epsg(srid).area_of_use
    except pyproj.exceptions.CRSError:
        area = None
    if area is None:
        return -180.0, -85.0, 180.0, 85.0
    w, s, e, n = area.bounds
    if e < w:  # crosses the antimeridian: keep it simple
        w, e = -180.0, 180.0
    m = _CRS_MARGIN_DEG
    return max(w - m, -180.0), max(s - m, -85.0), min(e + m, 180.0), min(n + m, 85.0)


def _tile_lonlat(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Lon/lat bounds (west, south, east, north) of a Web Mercator tile."""
    n = 2.0**z

    def lat(row: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y)


@router.get(
    "/tiles/{z}/{x}/{y}.mvt",
    summary="Vector tile (layers grids, divisions) in Web Mercator",
    response_class=Response,
    responses={200: {"content": {"application/vnd.mapbox-vector-tile": {}}}},
    tags=["tiles"],
)
def tile(request: Request, caller: CallerDep, z: int, x: int, y: int) -> Response:
    if not 0 <= z <= 22 or not (0 <= x < 2**z and 0 <= y < 2**z):
        raise InputError(
            f"tile {z}/{x}/{y} does not exist: need 0 <= z <= 22 and 0 <= x, y < 2^z",
            [Problem("no such tile", field="z/x/y", rule="query.tile")],
        )
    headers = {"Cache-Control": "public, max-age=60" if not caller.authenticated else "private"}
    srid = _registry_srid(request)
    data = b""
    if srid is not None:
        uw, us, ue, un = _usable_lonlat(srid)
        tw, ts, te, tn = _tile_lonlat(z, x, y)
        w, s, e, n = max(uw, tw), max(us, ts), min(ue, te), min(un, tn)
        if w < e and s < n:  # else the tile lies where the registry can hold nothing
            params = {"z": z, "x": x, "y": y, "w": w, "s": s, "e": e, "n": n}
            with (
                db_errors(f"making tile {z}/{x}/{y}"),
                request.app.state.pool.connection(timeout=10) as conn,
            ):
                data = features.tile(conn, params, detail=caller.can("population"))
    return Response(content=data, media_type="application/vnd.mapbox-vector-tile", headers=headers)
