"""OGC API – Features collections ``grids`` and ``divisions``, and vector tiles."""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Annotated, Any, Literal

import numpy as np
import pyproj
import shapely
import shapely.geometry
from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from gridgeo.crs import wgs84_to_gcj02
from gridgeo.errors import InputError, NotFoundError, Problem
from gridgeo.i18n import _
from gridgeo.registry import features
from gridgeo.service.auth import CallerDep
from gridgeo.service.deps import db_errors, parse_bbox, pool_for, read_pool, service_settings
from gridgeo.service.tilecache import (
    MEDIA_TYPE,
    PUBLIC,
    Level,
    Tile,
    TileService,
    etag_matches,
    tile_headers,
)
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
            _("{what}={value!r} is not offered; use CRS84 or one of {crs}").format(
                what=what,
                value=value,
                crs=_(", ").join(_EPSG_URI.format(s) for s in sorted(allowed)),
            ),
            [Problem(_("unsupported CRS"), field=what, rule="query.crs")],
        )
    return int(m.group(1))


@functools.lru_cache(maxsize=16)
def _to_registry(bsrid: int, srid: int) -> tuple[pyproj.Transformer, tuple[float, ...] | None]:
    """Transformer from the bbox CRS to the registry's, and the registry CRS's area of use
    in the bbox CRS (``None``: the same CRS or unknown area)."""
    to_reg = pyproj.Transformer.from_crs(bsrid, srid, always_xy=True)
    area = pyproj.CRS.from_epsg(srid).area_of_use
    if bsrid == srid or area is None:
        return to_reg, None
    # 3° of margin: grids near a Gauss–Krüger zone's edge may reach a little beyond it
    w, s, e, n = area.bounds
    widened = (max(w - 3, -180), max(s - 3, -85), min(e + 3, 180), min(n + 3, 85))
    ll_to_b = pyproj.Transformer.from_crs(4326, bsrid, always_xy=True)
    return to_reg, tuple(ll_to_b.transform_bounds(*widened, densify_pts=21))


def _box_in_registry(
    box: tuple[float, float, float, float], bsrid: int, srid: int
) -> tuple[float, ...] | None:
    """``box`` (in ``bsrid``) as a box in the registry CRS, clipped first to where that CRS
    is usable: a whole-world box transformed as is into a transverse Mercator folds onto
    itself and matches nothing."""
    to_reg, area = _to_registry(bsrid, srid)
    if area is not None:
        box = (
            max(box[0], area[0]),
            max(box[1], area[1]),
            min(box[2], area[2]),
            min(box[3], area[3]),
        )
        if box[0] > box[2] or box[1] > box[3]:
            return None
    out = to_reg.transform_bounds(*box, densify_pts=21)
    return out if all(math.isfinite(v) for v in out) else None


ZoomParam = Annotated[
    int | None,
    Query(
        ge=0,
        le=24,
        description="Web map zoom the geometry is drawn at: simplified to half a pixel there",
    ),
]


def _served(request: Request, caller: Any, zoom: int | None) -> dict[str, Any]:
    """``tol``/``maxv`` of registry.served_geom: per ``zoom``; public callers capped."""
    tol = 40_075_016.686 / (256 * 2**zoom) / 2 if zoom is not None else 0.0
    public = not caller.can("counts.read")
    return {"tol": tol, "maxv": service_settings(request).public_max_vertices if public else None}


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
        raise NotFoundError(
            _("no collection {collection_id!r}; collections: grids, divisions").format(
                collection_id=collection_id
            )
        )
    out = _collection(collection_id, _base(request), _registry_srid(request))
    with (
        db_errors(_("reading {collection}").format(collection=collection_id)),
        read_pool(request).connection(timeout=10) as conn,  # public facts only
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
    zoom: ZoomParam = None,
    shift: Annotated[
        Literal["gcj02"] | None,
        Query(description="Shift lon/lat output to GCJ-02, to overlay Gaode/Tencent tiles"),
    ] = None,
) -> Response:
    settings = service_settings(request)
    if collection_id not in _COLLECTIONS:
        raise NotFoundError(
            _("no collection {collection_id!r}; collections: grids, divisions").format(
                collection_id=collection_id
            )
        )
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
    if box is not None and srid is not None:
        # clipped to where the registry CRS is usable: a whole-world box folds onto itself
        box = _box_in_registry(box, bsrid, srid)
        bsrid = srid
    if srid is not None and not (bbox is not None and box is None):
        with (
            db_errors(_("reading {collection}").format(collection=collection_id)),
            pool_for(request, caller).connection(timeout=10) as conn,
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
                served=_served(request, caller, zoom),
            )
    show_counts = caller.can("counts.read")  # and, per grid, the caller's division below
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
            if show_counts and caller.covers(r[3]):
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
    if shift == "gcj02":
        if out_srid != 4326:
            raise InputError(
                _("shift=gcj02 applies to lon/lat output only"),
                [Problem(_("give no crs= with shift=gcj02"), field="shift", rule="query.shift")],
            )
        for f in feats:
            f["geometry"] = shifted_to_gcj02(f["geometry"])
    crs_uri = CRS84 if out_srid == 4326 else _EPSG_URI.format(out_srid)
    return JSONResponse(
        body, media_type="application/geo+json", headers={"Content-Crs": f"<{crs_uri}>"}
    )


def shifted_to_gcj02(geometry: dict | None) -> dict | None:
    """A GeoJSON geometry in WGS 84 moved to GCJ-02 (:func:`gridgeo.crs.wgs84_to_gcj02`)."""
    if geometry is None:
        return None
    geom = shapely.geometry.shape(geometry)

    def move(coords: np.ndarray) -> np.ndarray:
        lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return shapely.geometry.mapping(shapely.transform(geom, move))


@router.get("/collections/{collection_id}/items/{feature_id}", summary="One feature")
def item(
    request: Request,
    caller: CallerDep,
    collection_id: str,
    feature_id: str,
    crs: str | None = None,
    zoom: ZoomParam = None,
) -> Response:
    if collection_id not in _COLLECTIONS:
        raise NotFoundError(
            _("no collection {collection_id!r}; collections: grids, divisions").format(
                collection_id=collection_id
            )
        )
    srid = _registry_srid(request)
    out_srid = _srid_of(crs, srid, "crs")
    rows: list[tuple] = []
    if srid:
        with (
            db_errors(_("reading {collection}").format(collection=collection_id)),
            pool_for(request, caller).connection(timeout=10) as conn,
        ):
            rows, _count = features.feature_rows(
                conn,
                collection_id,
                out_srid=out_srid,
                limit=1,
                offset=0,
                feature_id=feature_id,
                served=_served(request, caller, zoom),
            )
    if not rows:
        raise NotFoundError(
            _("no feature {feature_id!r} in {collection_id}").format(
                feature_id=feature_id, collection_id=collection_id
            )
        )
    r = rows[0]
    if collection_id == "grids":
        props = {
            "grid_code": r[0],
            "grid_name": r[1],
            "grid_type": r[2],
            "community_code": r[3],
            "community_name": r[4],
        }
        if caller.can("counts.read", r[3]):
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


@router.get(
    "/tiles/{z}/{x}/{y}.mvt",
    summary="Vector tile (layers grids, divisions) in Web Mercator",
    response_class=Response,
    responses={
        200: {"content": {"application/vnd.mapbox-vector-tile": {}}},
        304: {"description": "Not modified: the If-None-Match ETag is still current"},
    },
    tags=["tiles"],
)
async def tile(request: Request, caller: CallerDep, z: int, x: int, y: int) -> Response:
    """One tile, cached per registry version and caller level; ``ETag`` and ``304``.

    Served from memory on the event loop when cached; rendered in a worker thread
    (one render per tile however many ask at once) when not.
    """
    if not 0 <= z <= 22 or not (0 <= x < 2**z and 0 <= y < 2**z):
        raise InputError(
            _("tile {z}/{x}/{y} does not exist: need 0 <= z <= 22 and 0 <= x, y < 2^z").format(
                z=z, x=x, y=y
            ),
            [Problem(_("no such tile"), field="z/x/y", rule="query.tile")],
        )
    tiles: TileService = request.app.state.tiles
    state = request.app.state.registry_state
    # the version first: a tile rendered after it is at least as new as its key
    generation = state.generation
    if caller.can("counts.read"):
        level: Level = ("counts", None if caller.scope is None else tuple(sorted(caller.scope)))
    else:
        level = PUBLIC
    found = tiles.cached(generation, level, z, x, y)
    if found is None:

        def render() -> Tile:
            with db_errors(_("making tile {z}/{x}/{y}").format(z=z, x=x, y=y)):
                srid = state.current().srid
                return tiles.tile(generation, srid, level, z, x, y)

        found = await run_in_threadpool(render)
    headers = tile_headers(
        found,
        public=not caller.authenticated,
        max_age=service_settings(request).tile_cache_max_age_s,
    )
    if etag_matches(request.headers.get("if-none-match"), found.etag):
        return Response(status_code=304, headers=headers)
    return Response(content=found.data, media_type=MEDIA_TYPE, headers=headers)
