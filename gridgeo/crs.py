"""Coordinate reference systems that Chinese county data really uses.

Layers arrive in CGCS2000 (EPSG:4490) or its Gauss–Krüger zones (EPSG:4513–4554),
in WGS 84 (EPSG:4326), and in two systems that have no EPSG code because they are
deliberately obfuscated versions of WGS 84:

* **GCJ-02** ("Mars coordinates", 火星坐标), used by Gaode/AMap, Tencent and most
  phone apps in China, and
* **BD-09**, used by Baidu maps (a further distortion of GCJ-02).

Method
------
The forward transforms WGS 84 → GCJ-02 and GCJ-02 → BD-09 follow the published
algorithm (the widely reproduced open re-implementation, e.g. ``eviltransform`` /
``coordtransform``: a polynomial-plus-sines offset on the Krasovsky 1940 ellipsoid,
a = 6 378 245 m, e² = 0.006 693 421 622 965 943 23, applied only inside the
rectangle lon 73.66–135.05°E, lat 3.86–53.55°N). They are evaluated with numpy on
whole arrays (no per-point Python loop).

The published inverses are one-step approximations with errors of a few metres.
Here every inverse is computed by **fixed-point iteration** on the forward
transform: start from ``w = g`` and repeat ``w ← w − (f(w) − g)``. The offset
``f(w) − w`` changes slowly — the largest row sum of its Jacobian over China is
below 0.007 (measured numerically) — so each step shrinks the error at least 140-fold
and the error left after a step is below 0.007 × that step's correction. A point
stops once its correction is below 1e-7° (~1 cm), i.e. with a remaining error below
1e-9° (~0.1 mm); three forward evaluations are typical (at most 12 are made).
The tests check ``wgs84_to_gcj02(gcj02_to_wgs84(g)) ≈ g`` and the reverse to < 0.5 m
on a grid across China, measured on the ellipsoid with :class:`pyproj.Geod`.
The forward offset is evaluated with multiple-angle identities (5 instead of 12
trigonometric calls per point) in cache-sized blocks; it agrees with the
term-by-term published formula to 1e-10 m.
BD-09 ↔ WGS 84 chains the two steps through GCJ-02.

Points outside the rectangle are returned unchanged (as the published algorithm
does) and NaN stays NaN. Within about a kilometre of the rectangle's edges (the far
west of Xinjiang, the far north and east of Heilongjiang, the southernmost reefs) the
published transform jumps, so it is not one-to-one there: some GCJ-02 points have two
WGS 84 preimages and some none. The inverse then returns whichever of the iterate and
the unchanged point reproduces the input best; everywhere else it is exact to ~0.1 mm.

Everything else (EPSG codes, WKT, PROJ strings) is handled by :mod:`pyproj`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import re
from collections.abc import Callable
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from pyproj.exceptions import CRSError as _PyprojCRSError

from gridgeo.errors import CRSError, Problem
from gridgeo.i18n import _

log = logging.getLogger(__name__)

__all__ = [
    "BD09",
    "CHINA_BOUNDS",
    "GCJ02",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "cached_transformer",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "metric_crs",
    "point_problems",
    "resolve_crs",
    "sanity_problems",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
    "work_crs",
]

GCJ02: Literal["gcj02"] = "gcj02"
BD09: Literal["bd09"] = "bd09"

#: Rough lon/lat box of China incl. Taiwan and the South China Sea islands
#: (min_lon, min_lat, max_lon, max_lat); used by the sanity checks.
CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)

# Published GCJ-02 constants (Krasovsky 1940 ellipsoid) and its validity box.
_A = 6378245.0
_EE = 0.00669342162296594323
_GCJ_BOX = (73.66, 3.86, 135.05, 53.55)
_X_PI = np.pi * 3000.0 / 180.0

# Stop iterating once a correction is below 1e-7° (~1 cm): the offsets' Jacobian is
# below 0.007 over China, so the remaining error is then below 1e-9° (~0.1 mm).
_TOL_DEG = 1e-7
_MAX_ITER = 12

_ALIASES: dict[str, Any] = {
    "wgs84": 4326,
    "wgs-84": 4326,
    "wgs 84": 4326,
    "wgs_84": 4326,
    "cgcs2000": 4490,
    "cgcs-2000": 4490,
    "cgcs 2000": 4490,
    "china2000": 4490,
    "gcj02": GCJ02,
    "gcj-02": GCJ02,
    "gcj": GCJ02,
    "mars": GCJ02,
    "amap": GCJ02,
    "gaode": GCJ02,
    "tencent": GCJ02,
    "bd09": BD09,
    "bd-09": BD09,
    "bd09ll": BD09,
    "baidu": BD09,
}

CRSLike = pyproj.CRS | Literal["gcj02", "bd09"]


# ---------------------------------------------------------------------------
# GCJ-02 / BD-09 (vectorised)
# ---------------------------------------------------------------------------


def _as_arrays(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    x, y = np.broadcast_arrays(x, y)
    return x, y, scalar


def _ret(x: np.ndarray, y: np.ndarray, scalar: bool) -> tuple[Any, Any]:
    if scalar:
        return float(np.asarray(x).reshape(-1)[0]), float(np.asarray(y).reshape(-1)[0])
    return x, y


def _in_gcj_box(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x > _GCJ_BOX[0]) & (x < _GCJ_BOX[2]) & (y > _GCJ_BOX[1]) & (y < _GCJ_BOX[3])


_CHUNK = 1 << 15  # points per block: keeps the temporaries in the CPU cache


def _gcj_offset(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Offset (dlon, dlat) in degrees that the published algorithm adds to WGS 84.

    Same formula as the published code (see :func:`_gcj_offset_reference`), but the
    sines of the multiple angles are obtained from ``sin``/``cos`` of πu/60 and
    πv/60 with multiple-angle identities, so only 5 trigonometric calls are made
    per point instead of 12, and the arrays are processed in cache-sized blocks.
    The difference to the direct formula is below 1e-10 m.
    """
    shape = np.shape(x)
    x = np.ascontiguousarray(x, dtype=np.float64).reshape(-1)
    y = np.ascontiguousarray(y, dtype=np.float64).reshape(-1)
    dlon = np.empty_like(x)
    dlat = np.empty_like(y)
    for i in range(0, x.size, _CHUNK):
        sl = slice(i, i + _CHUNK)
        dlon[sl], dlat[sl] = _gcj_offset_block(x[sl], y[sl])
    return dlon.reshape(shape), dlat.reshape(shape)


def _angles(w: np.ndarray) -> tuple[np.ndarray, ...]:
    """sin(πw/30), sin(πw/12), cos(πw/12), sin(πw/3), cos(πw/3) from sin/cos(πw/60)."""
    t = w * (np.pi / 60.0)
    s1 = np.sin(t)
    c1 = np.cos(t)
    s30 = 2.0 * s1 * c1
    s1s = s1 * s1
    c1s = c1 * c1
    s12 = s1 * ((16.0 * s1s - 20.0) * s1s + 5.0)  # quintuple angle
    c12 = c1 * ((16.0 * c1s - 20.0) * c1s + 5.0)
    s_2 = 2.0 * s12 * c12
    c_2 = 1.0 - 2.0 * s12 * s12
    s3 = 2.0 * s_2 * c_2
    c3 = 1.0 - 2.0 * s_2 * s_2
    return s30, s12, c12, s3, c3


def _gcj_offset_block(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    u = x - 105.0
    v = y - 35.0
    su30, su12, _cu12, su3, cu3 = _angles(u)
    su1 = su3 * (3.0 - 4.0 * su3 * su3)  # sin(πu)
    cu1 = cu3 * (4.0 * cu3 * cu3 - 3.0)  # cos(πu)
    su2 = 2.0 * su1 * cu1  # sin(2πu)
    su6 = su2 * (3.0 - 4.0 * su2 * su2)  # sin(6πu)
    sv30, sv12, _cv12, sv3, _cv3 = _angles(v)
    sv1 = sv3 * (3.0 - 4.0 * sv3 * sv3)  # sin(πv)
    # (20 sin 6πu + 20 sin 2πu)·2/3 is shared by both polynomials.
    common = (40.0 / 3.0) * (su6 + su2)
    uv = 0.1 * u * v
    sqrt_abs_u = np.sqrt(np.abs(u))
    dlat = -100.0 + 2.0 * u + 3.0 * v + 0.2 * v * v + uv + 0.2 * sqrt_abs_u + common
    dlat += (40.0 / 3.0) * sv1 + (80.0 / 3.0) * sv3 + (320.0 / 3.0) * sv12 + (640.0 / 3.0) * sv30
    dlon = 300.0 + u + 2.0 * v + 0.1 * u * u + uv + 0.1 * sqrt_abs_u + common
    dlon += (40.0 / 3.0) * su1 + (80.0 / 3.0) * su3 + 100.0 * su12 + 200.0 * su30
    sin_lat = np.sin(y * (np.pi / 180.0))
    sin2 = sin_lat * sin_lat
    magic = 1.0 - _EE * sin2
    sqrtmagic = np.sqrt(magic)
    cos_lat = np.sqrt(1.0 - sin2)  # |latitude| < 90°: cos ≥ 0
    dlat *= (magic * sqrtmagic) * (180.0 / (_A * (1.0 - _EE) * np.pi))
    dlon *= sqrtmagic * (180.0 / (_A * np.pi)) / cos_lat
    return dlon, dlat


def _gcj_offset_reference(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The published offset formula written out term by term (used by the tests)."""
    u = x - 105.0
    v = y - 35.0
    pi = np.pi
    dlat = -100.0 + 2.0 * u + 3.0 * v + 0.2 * v * v + 0.1 * u * v + 0.2 * np.sqrt(np.abs(u))
    dlat += (20.0 * np.sin(6.0 * u * pi) + 20.0 * np.sin(2.0 * u * pi)) * 2.0 / 3.0
    dlat += (20.0 * np.sin(v * pi) + 40.0 * np.sin(v / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(v / 12.0 * pi) + 320.0 * np.sin(v * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + u + 2.0 * v + 0.1 * u * u + 0.1 * u * v + 0.1 * np.sqrt(np.abs(u))
    dlon += (20.0 * np.sin(6.0 * u * pi) + 20.0 * np.sin(2.0 * u * pi)) * 2.0 / 3.0
    dlon += (20.0 * np.sin(u * pi) + 40.0 * np.sin(u / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(u / 12.0 * pi) + 300.0 * np.sin(u / 30.0 * pi)) * 2.0 / 3.0
    radlat = y / 180.0 * pi
    magic = np.sin(radlat)
    magic = 1 - _EE * magic * magic
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * pi)
    return dlon, dlat


def _wgs_to_gcj(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inside = _in_gcj_box(x, y)
    if inside.all():
        dlon, dlat = _gcj_offset(x, y)
        return x + dlon, y + dlat
    ox, oy = x.copy(), y.copy()
    if inside.any():
        dlon, dlat = _gcj_offset(x[inside], y[inside])
        ox[inside] += dlon
        oy[inside] += dlat
    return ox, oy


def _gcj_to_bd(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.hypot(x, y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_to_gcj_approx(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The published one-step inverse of :func:`_gcj_to_bd` (error ~ 1e-6 deg)."""
    x = x - 0.0065
    y = y - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(
    forward: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    gx: np.ndarray,
    gy: np.ndarray,
    start: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``forward(w) == g`` by fixed-point iteration ``w ← w − (forward(w) − g)``.

    Points stop iterating once their correction is below ``_TOL_DEG``; since the
    transforms' offsets change by less than 1 % of a step per step, the remaining
    error is then far below the tolerance.
    """
    shape = np.shape(gx)
    tx = np.ascontiguousarray(gx, dtype=np.float64).reshape(-1)
    ty = np.ascontiguousarray(gy, dtype=np.float64).reshape(-1)
    if start is None:
        wx, wy = tx.copy(), ty.copy()
    else:
        wx = np.array(start[0], dtype=np.float64).reshape(-1)
        wy = np.array(start[1], dtype=np.float64).reshape(-1)
    idx: np.ndarray | None = None  # None: all points still active
    finite = np.isfinite(wx) & np.isfinite(wy)
    if not finite.all():
        idx = np.flatnonzero(finite)
    for _iteration in range(_MAX_ITER):
        if idx is None:
            cx, cy, gxx, gyy = wx, wy, tx, ty
        else:
            if idx.size == 0:
                break
            cx, cy, gxx, gyy = wx[idx], wy[idx], tx[idx], ty[idx]
        fx, fy = forward(cx, cy)
        ex = fx - gxx
        ey = fy - gyy
        nx = cx - ex
        ny = cy - ey
        still = (np.abs(ex) > _TOL_DEG) | (np.abs(ey) > _TOL_DEG)
        if idx is None:
            wx, wy = nx, ny
            if not still.all():
                idx = np.flatnonzero(still)
        else:
            wx[idx] = nx
            wy[idx] = ny
            idx = idx[still]
    if idx is None:
        idx = np.arange(wx.size)
    if idx.size:
        _settle(forward, wx, wy, tx, ty, idx)
    return wx.reshape(shape), wy.reshape(shape)


def _settle(
    forward: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    wx: np.ndarray,
    wy: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    idx: np.ndarray,
) -> None:
    """For points that did not converge, keep the better of the iterate and ``w = g``.

    This only happens within about a kilometre of the edges of the algorithm's
    rectangle, where the published transform jumps (offset inside, none outside) and
    some targets have no exact preimage.
    """
    cx, cy = wx[idx], wy[idx]
    fx, fy = forward(cx, cy)
    r_iter = np.hypot(fx - tx[idx], fy - ty[idx])
    gx, gy = tx[idx], ty[idx]
    fx, fy = forward(gx, gy)
    r_ident = np.hypot(fx - gx, fy - gy)
    use_ident = r_ident < r_iter
    wx[idx[use_ident]] = gx[use_ident]
    wy[idx[use_ident]] = gy[use_ident]
    log.debug("%d points did not converge (edge of the GCJ-02 rectangle)", idx.size)


def wgs84_to_gcj02(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Convert WGS 84 lon/lat (degrees) to GCJ-02 with the published algorithm.

    Parameters
    ----------
    lon, lat
        Scalars or array-likes of the same (or broadcastable) shape.

    Returns
    -------
    tuple
        ``(lon, lat)`` as numpy arrays (floats for scalar input). Points outside
        the algorithm's rectangle are returned unchanged.
    """
    x, y, scalar = _as_arrays(lon, lat)
    return _ret(*_wgs_to_gcj(x, y), scalar)


def gcj02_to_wgs84(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Convert GCJ-02 lon/lat to WGS 84 by iterating the forward transform.

    The result ``w`` satisfies ``wgs84_to_gcj02(w) == (lon, lat)`` to about 1e-12°
    (far below 0.5 m); see the module docstring for the method.

    Parameters
    ----------
    lon, lat
        Scalars or array-likes.

    Returns
    -------
    tuple
        ``(lon, lat)`` in WGS 84.
    """
    x, y, scalar = _as_arrays(lon, lat)
    return _ret(*_invert(_wgs_to_gcj, x, y), scalar)


def gcj02_to_bd09(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Convert GCJ-02 lon/lat to BD-09 (Baidu) with the published formula.

    Parameters
    ----------
    lon, lat
        Scalars or array-likes.

    Returns
    -------
    tuple
        ``(lon, lat)`` in BD-09.
    """
    x, y, scalar = _as_arrays(lon, lat)
    return _ret(*_gcj_to_bd(x, y), scalar)


def bd09_to_gcj02(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Convert BD-09 lon/lat to GCJ-02 (published approximation refined by iteration).

    Parameters
    ----------
    lon, lat
        Scalars or array-likes.

    Returns
    -------
    tuple
        ``(lon, lat)`` in GCJ-02.
    """
    x, y, scalar = _as_arrays(lon, lat)
    return _ret(*_invert(_gcj_to_bd, x, y, start=_bd_to_gcj_approx(x, y)), scalar)


def wgs84_to_bd09(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Convert WGS 84 lon/lat to BD-09 (via GCJ-02).

    Parameters
    ----------
    lon, lat
        Scalars or array-likes.

    Returns
    -------
    tuple
        ``(lon, lat)`` in BD-09.
    """
    x, y, scalar = _as_arrays(lon, lat)
    return _ret(*_gcj_to_bd(*_wgs_to_gcj(x, y)), scalar)


def bd09_to_wgs84(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Convert BD-09 lon/lat to WGS 84 (via GCJ-02, both steps inverted iteratively).

    Parameters
    ----------
    lon, lat
        Scalars or array-likes.

    Returns
    -------
    tuple
        ``(lon, lat)`` in WGS 84.
    """
    x, y, scalar = _as_arrays(lon, lat)
    gx, gy = _invert(_gcj_to_bd, x, y, start=_bd_to_gcj_approx(x, y))
    return _ret(*_invert(_wgs_to_gcj, gx, gy), scalar)


# ---------------------------------------------------------------------------
# CRS resolution and conversion
# ---------------------------------------------------------------------------


def resolve_crs(value: Any) -> CRSLike:
    """Turn what a user typed into a :class:`pyproj.CRS` or ``"gcj02"`` / ``"bd09"``.

    Parameters
    ----------
    value
        ``"wgs84"``, ``"cgcs2000"``, ``"gcj02"`` (also ``"gcj-02"``, ``"gaode"``),
        ``"bd09"`` (also ``"baidu"``), ``"EPSG:4490"``, ``4490``, a WKT or PROJ
        string, or a :class:`pyproj.CRS`.

    Returns
    -------
    pyproj.CRS or str
        A CRS, or the string ``"gcj02"`` or ``"bd09"`` for the non-EPSG systems.

    Raises
    ------
    CRSError
        If the value is empty or not understood.
    """
    if isinstance(value, pyproj.CRS):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        raise CRSError(
            _("no CRS given (use e.g. 'cgcs2000', 'wgs84', 'gcj02', 'bd09', 'EPSG:4490')")
        )
    if isinstance(value, bool):
        raise CRSError(_("not a CRS: {value!r}").format(value=value))
    if isinstance(value, str):
        key = value.strip().lower()
        if key in _ALIASES:
            alias = _ALIASES[key]
            return alias if isinstance(alias, str) else pyproj.CRS.from_epsg(alias)
        if re.fullmatch(r"\d{4,6}", key):
            value = int(key)
    try:
        if isinstance(value, int):
            return pyproj.CRS.from_epsg(value)
        return pyproj.CRS.from_user_input(value)
    except (_PyprojCRSError, TypeError, ValueError) as exc:
        raise CRSError(
            _(
                "unknown CRS {value!r}: use 'cgcs2000', 'wgs84', 'gcj02', 'bd09', "
                "'EPSG:<code>' or a WKT string"
            ).format(value=value)
        ) from exc


def crs_label(crs: Any) -> str:
    """Short human-readable name of a CRS (``"EPSG:4490 (China Geodetic …)"``, ``"gcj02"``)."""
    if crs is None:
        return "none"
    if isinstance(crs, str) and crs in (GCJ02, BD09):
        return crs
    crs = pyproj.CRS.from_user_input(crs)
    auth = crs.to_authority(min_confidence=90)
    if auth:
        return f"{auth[0]}:{auth[1]} ({crs.name})"
    return crs.name


def _transform_xy_func(source: CRSLike) -> Callable[[np.ndarray], np.ndarray]:
    """A function mapping an (n, 2) coordinate array from ``source`` to WGS 84 lon/lat."""
    if isinstance(source, str):
        inverse = gcj02_to_wgs84 if source == GCJ02 else bd09_to_wgs84

        def _special(coords: np.ndarray) -> np.ndarray:
            x, y = inverse(coords[:, 0], coords[:, 1])
            return np.column_stack([x, y])

        return _special
    transformer = cached_transformer(source, 4326)

    def _proj(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return _proj


def _transform_geoms(geoms: np.ndarray, func: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``func`` to every vertex; pure point layers take a faster path."""
    if len(geoms) and (shapely.get_type_id(geoms) == 0).all():
        coords = shapely.get_coordinates(geoms)
        if len(coords) == len(geoms):  # no empty points
            return shapely.points(func(coords))
    return shapely.transform(geoms, func)


def _check_special_source(gdf: gpd.GeoDataFrame, source: str) -> None:
    if gdf.crs is not None and not pyproj.CRS.from_user_input(gdf.crs).is_geographic:
        raise CRSError(
            _(
                "{source} coordinates must be longitude/latitude in degrees, but the "
                "layer is in a projected CRS ({value})"
            ).format(source=source, value=crs_label(gdf.crs))
        )


def to_wgs84(data: Any, source_crs: Any = None) -> Any:
    """Convert a GeoDataFrame/GeoSeries or ``(x, y)`` arrays to WGS 84 (EPSG:4326).

    Parameters
    ----------
    data
        A GeoDataFrame or GeoSeries, or a tuple ``(x, y)`` of arrays.
    source_crs
        The CRS the coordinates are in (anything :func:`resolve_crs` accepts, incl.
        ``"gcj02"``/``"bd09"``). For GeoDataFrames it defaults to ``data.crs`` and,
        when given, overrides it (use it to declare that a layer labelled WGS 84
        really holds GCJ-02 coordinates, as many web exports do).

    Returns
    -------
    GeoDataFrame, GeoSeries or tuple
        The same kind of object, in EPSG:4326.

    Raises
    ------
    CRSError
        If no source CRS is known.
    """
    if isinstance(data, gpd.GeoDataFrame | gpd.GeoSeries):
        src = resolve_crs(source_crs if source_crs is not None else data.crs)
        if isinstance(src, str):
            _check_special_source(data, src)
            func = _transform_xy_func(src)
            if isinstance(data, gpd.GeoDataFrame):
                geom_col = data.geometry.name
                values = _transform_geoms(np.asarray(data.geometry.values, dtype=object), func)
                out = data.copy(deep=False)  # copy-on-write: the input stays untouched
                out[geom_col] = gpd.GeoSeries(values, index=out.index, crs=4326)
                out = out.set_geometry(geom_col).set_crs(4326, allow_override=True)
            else:
                values = _transform_geoms(np.asarray(data.values, dtype=object), func)
                out = gpd.GeoSeries(values, index=data.index, crs=4326)
            log.info("converted %d features from %s to EPSG:4326", len(data), src)
            return out
        if data.crs is None or source_crs is not None:
            data = data.set_crs(src, allow_override=True)
        out = data.to_crs(4326)
        log.info("reprojected %d features from %s to EPSG:4326", len(data), crs_label(src))
        return out
    if isinstance(data, tuple | list) and len(data) == 2:
        if source_crs is None:
            raise CRSError(_("to_wgs84 needs source_crs for raw coordinates"))
        src = resolve_crs(source_crs)
        x = np.asarray(data[0], dtype=np.float64)
        y = np.asarray(data[1], dtype=np.float64)
        if isinstance(src, str):
            return gcj02_to_wgs84(x, y) if src == GCJ02 else bd09_to_wgs84(x, y)
        return cached_transformer(src, 4326).transform(x, y)
    raise TypeError("to_wgs84 expects a GeoDataFrame, a GeoSeries or an (x, y) tuple")


def from_wgs84(data: gpd.GeoDataFrame | gpd.GeoSeries, target: str) -> Any:
    """Shift a layer into GCJ-02 or BD-09 lon/lat, e.g. to overlay it on Gaode or Baidu tiles.

    Parameters
    ----------
    data
        A GeoDataFrame or GeoSeries with a CRS (reprojected to WGS 84 first).
    target
        ``"gcj02"`` or ``"bd09"`` (or an alias :func:`resolve_crs` knows).

    Returns
    -------
    GeoDataFrame or GeoSeries
        Coordinates in the target system. There is no EPSG code for it, so the CRS
        stays labelled EPSG:4326 and ``attrs["coordinate_system"]`` names the target;
        do not mix such layers with true WGS 84 data.

    Raises
    ------
    CRSError
        If ``target`` is not GCJ-02/BD-09 or the layer has no CRS.
    """
    tgt = resolve_crs(target)
    if not isinstance(tgt, str):
        raise CRSError(
            _("from_wgs84 converts to 'gcj02' or 'bd09', not {value}").format(value=crs_label(tgt))
        )
    if data.crs is None:
        raise CRSError(_("the layer has no CRS"))
    wgs = data.to_crs(4326)
    forward = wgs84_to_gcj02 if tgt == GCJ02 else wgs84_to_bd09

    def func(coords: np.ndarray) -> np.ndarray:
        x, y = forward(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    geoms = _transform_geoms(np.asarray(wgs.geometry.values, dtype=object), func)
    if isinstance(wgs, gpd.GeoDataFrame):
        out = wgs.copy(deep=False)
        out[wgs.geometry.name] = gpd.GeoSeries(geoms, index=wgs.index, crs=4326)
    else:
        out = gpd.GeoSeries(geoms, index=wgs.index, crs=4326)
    out.attrs["coordinate_system"] = tgt
    log.info("shifted %d features from WGS 84 to %s", len(data), tgt)
    return out


@functools.lru_cache(maxsize=64)
def cached_transformer(
    source: int | str | pyproj.CRS, target: int | str | pyproj.CRS
) -> pyproj.Transformer:
    """A transformer from ``source`` to ``target``, built once per pair and kept.

    Parameters
    ----------
    source, target
        EPSG codes, names PROJ understands or :class:`pyproj.CRS` objects (a layer's
        ``.crs``); coordinates in x/y order, i.e. lon/lat for geographic CRSs.

    Returns
    -------
    pyproj.Transformer
        The one transformer of the project for that pair. Building one costs 20–50 ms
        (PROJ's database), which every layer check, map, problem message and tile
        pre-render would otherwise pay again. pyproj ≥ 3.1 transformers may be shared
        between threads (each thread gets its own PROJ object).
    """
    return pyproj.Transformer.from_crs(source, target, always_xy=True)


def _lonlat_points(gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    """Representative lon/lat per feature (NaN for empty/missing geometries)."""
    geoms = gdf.geometry.values if isinstance(gdf, gpd.GeoDataFrame) else gdf.values
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if ok.any():
        # Bounds centre is robust to invalid geometries (unlike centroids).
        b = shapely.bounds(geoms[ok])
        lon[ok] = (b[:, 0] + b[:, 2]) / 2
        lat[ok] = (b[:, 1] + b[:, 3]) / 2
    crs = gdf.crs
    if crs is not None and not pyproj.CRS.from_user_input(crs).is_geographic:
        transformer = cached_transformer(pyproj.CRS.from_user_input(crs), 4326)
        finite = np.isfinite(lon) & np.isfinite(lat)
        if finite.any():
            lon[finite], lat[finite] = transformer.transform(lon[finite], lat[finite])
    return lon, lat


def metric_crs(gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> pyproj.CRS:
    """The CGCS2000 3° Gauss–Krüger zone (with zone-number false easting) for the data.

    The zone is chosen from the central longitude of the data's extent:
    zone ``n = round(lon / 3)``, EPSG code ``4513 + (n − 25)`` (zones 25–45, i.e.
    EPSG:4513–4533, central meridians 75°E–135°E). Data in any CRS is accepted; e.g.
    Taipei data in EPSG:3826 (≈121.5°E) gets zone 40 (EPSG:4528, CM 120°E).

    Parameters
    ----------
    gdf
        A GeoDataFrame or GeoSeries with a CRS (GCJ-02/BD-09 data must be converted
        with :func:`to_wgs84` first; the few hundred metres do not change the zone).

    Returns
    -------
    pyproj.CRS
        The zone's CRS.

    Raises
    ------
    CRSError
        If the data has no CRS, no non-empty geometry, or lies outside the
        longitudes the CGCS2000 zones cover (73.5°E–136.5°E).
    """
    if gdf.crs is None:
        raise CRSError(_("cannot choose a metric CRS: the layer has no CRS"))
    lon, lat = _lonlat_points(gdf)
    finite = np.isfinite(lon) & np.isfinite(lat)
    if not finite.any():
        raise CRSError(_("cannot choose a metric CRS: the layer has no usable geometry"))
    west, east = np.nanmin(lon[finite]), np.nanmax(lon[finite])
    central = (west + east) / 2.0
    if east - west > 3.0:
        log.warning(
            "the data spans %.1f° of longitude (more than one 3° zone); lengths and areas "
            "far from the central meridian are distorted more (about 1/1000 at 3° off)",
            east - west,
        )
    zone = round(central / 3.0)
    if not 25 <= zone <= 45:
        raise CRSError(
            _(
                "cannot choose a CGCS2000 Gauss–Krüger zone: the data's central "
                "longitude {central:.3f}° is outside 73.5°E–136.5°E (is the CRS right, "
                "or are lon/lat swapped?)"
            ).format(central=central)
        )
    crs = pyproj.CRS.from_epsg(4513 + zone - 25)
    log.info("metric CRS for %d features at %.3f°E: %s", len(gdf), central, crs.name)
    return crs


def work_crs(data: gpd.GeoDataFrame | gpd.GeoSeries, given: Any = None) -> pyproj.CRS:
    """The metric CRS the partitioner and the validator work in — the one rule.

    1. ``given`` (e.g. ``--work-crs``), if any;
    2. else the data's own CRS when it is projected in metres with true areas at the
       data (areal scale within 1 % at the centre of its extent: Gauss–Krüger, UTM,
       Albers, a Lambert zone near its standard parallels …), so nothing is reprojected
       and borders keep the input's exact coordinates;
    3. else the CGCS2000 3° Gauss–Krüger zone of the data (:func:`metric_crs`);
    4. else (data outside the CGCS2000 zones, e.g. abroad) the data's UTM zone.

    Web Mercator is never kept: in metres, but areas ~27 % too large in southern China.

    Parameters
    ----------
    data
        The layer the work CRS is chosen for (usually the communities).
    given
        A CRS to use as is (anything :class:`pyproj.CRS` accepts).

    Returns
    -------
    pyproj.CRS
    """
    if given is not None:
        return pyproj.CRS.from_user_input(given)
    if data.crs is None:
        raise CRSError(_("cannot choose a metric CRS: the layer has no CRS"))
    own = pyproj.CRS.from_user_input(data.crs)
    if own.is_projected and all(a.unit_name in ("metre", "meter") for a in own.axis_info[:2]):
        lon, lat = _lonlat_points(data)
        ok = np.isfinite(lon) & np.isfinite(lat)
        scale = float("nan")
        if ok.any():
            centre = (
                (np.nanmin(lon[ok]) + np.nanmax(lon[ok])) / 2,
                (np.nanmin(lat[ok]) + np.nanmax(lat[ok])) / 2,
            )
            with contextlib.suppress(pyproj.exceptions.ProjError, ValueError):
                scale = pyproj.Proj(own).get_factors(*centre).areal_scale
        if abs(scale - 1.0) < 0.01:
            return own
    try:
        return metric_crs(data)
    except CRSError as exc:
        try:
            return data.estimate_utm_crs()
        except Exception:
            raise exc from None


def sanity_problems(
    gdf: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    source: str | None = None,
    layer: str | None = None,
    bounds: tuple[float, float, float, float] = CHINA_BOUNDS,
) -> list[Problem]:
    """Flag likely swapped lon/lat and features outside China's bounds.

    Parameters
    ----------
    gdf
        The layer; its CRS is used to get lon/lat (a missing CRS is reported).
    source, layer
        File and layer names for the problems (default: ``gdf.attrs["source"]``).
    bounds
        ``(min_lon, min_lat, max_lon, max_lat)`` of the area data may lie in.

    Returns
    -------
    list of Problem
        ``crs.swapped_lonlat`` (error) when most features only fall inside the
        bounds after swapping x and y; ``crs.outside_china``: one error when all
        features are outside the bounds (a wrong CRS), else a warning per feature;
        ``crs.missing`` (error) when the layer has no CRS.
    """
    if source is None and isinstance(gdf, gpd.GeoDataFrame):
        spec = gdf.attrs.get("source")
        if spec:
            source, _sep, lyr = str(spec).rpartition(":") if _has_layer(spec) else (spec, "", "")
            layer = layer or (lyr or None)
    if gdf.crs is None:
        return [
            Problem(
                _("the layer has no CRS; give one (e.g. crs='cgcs2000', 'wgs84', 'gcj02')"),
                file=source,
                layer=layer,
                rule="crs.missing",
            )
        ]
    lon, lat = _lonlat_points(gdf)
    finite = np.isfinite(lon) & np.isfinite(lat)
    if not finite.any():
        return []
    min_lon, min_lat, max_lon, max_lat = bounds

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (x >= min_lon) & (x <= max_lon) & (y >= min_lat) & (y <= max_lat)

    ok = inside(lon, lat) & finite
    swapped = inside(lat, lon) & finite & ~ok
    outside = finite & ~ok
    n = int(finite.sum())
    problems: list[Problem] = []
    index = list(gdf.index)
    if swapped.sum() > n / 2:
        problems.append(
            Problem(
                _(
                    "{value} of {n} features lie inside China only with x and y swapped: the "
                    "columns or axis order are probably lon/lat reversed"
                ).format(value=int(swapped.sum()), n=n),
                file=source,
                layer=layer,
                field="geometry",
                rule="crs.swapped_lonlat",
            )
        )
        return problems
    if outside.sum() == n:
        lo, la = lon[finite], lat[finite]
        problems.append(
            Problem(
                _(
                    "all {n} features lie outside China's bounds (lon "
                    "{value:.4f}–{value2:.4f}, lat {value3:.4f}–{value4:.4f} after "
                    "conversion from {value5}): the CRS is probably wrong"
                ).format(
                    n=n,
                    value=lo.min(),
                    value2=lo.max(),
                    value3=la.min(),
                    value4=la.max(),
                    value5=crs_label(gdf.crs),
                ),
                file=source,
                layer=layer,
                field="geometry",
                rule="crs.outside_china",
            )
        )
        return problems
    for i in np.flatnonzero(outside):
        problems.append(
            Problem(
                _("feature at lon {lon:.6f}, lat {lat:.6f} is outside China's bounds").format(
                    lon=lon[i], lat=lat[i]
                )
                + (_(" (row has lon/lat swapped?)") if swapped[i] else ""),
                file=source,
                layer=layer,
                row=_row_id(index[i]),
                field="geometry",
                rule="crs.outside_china",
                severity="warning",
            )
        )
    return problems


def _has_layer(spec: str) -> bool:
    head, sep, tail = str(spec).rpartition(":")
    return bool(sep) and bool(tail) and "/" not in tail and "\\" not in tail and len(head) > 1


def _row_id(value: Any) -> int | str:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, int | str):
        return value
    return str(value)


@functools.lru_cache(maxsize=256)
def _resolve_cached(value: str | int) -> CRSLike:
    """:func:`resolve_crs` of a name or code, cached (a CRS object is not changed by users)."""
    return resolve_crs(value)


def point_problems(
    x: float, y: float, crs: Any | None, *, names: tuple[str, str] = ("lon", "lat")
) -> list[Problem]:
    """Sanity checks of one point typed by a person, shared by ``/locate`` and the CLI.

    Parameters
    ----------
    x, y
        The coordinates as given (lon/lat or easting/northing).
    crs
        What the caller says they are in (anything :func:`resolve_crs` takes); None means
        a metric CRS the caller did not name (e.g. the registry's).
    names
        How the two values are called where the caller typed them.

    Returns
    -------
    list of Problem
        Errors: a value that is not finite; degrees outside ±180/±90 (swapped, or the CRS
        is projected). Warning (rule ``point.lonlat_in_metric``): numbers that look like
        lon/lat in China while the CRS is metric — metres that small are a few metres from
        the projection's origin, far from any county.
    """
    problems = [
        Problem(
            _("{n}={v!r} is not a finite number").format(n=n, v=v), field=n, rule="point.coordinate"
        )
        for n, v in zip(names, (x, y), strict=True)
        if not math.isfinite(v)
    ]
    if problems:
        return problems
    if crs is None:
        resolved = None
    elif isinstance(crs, str | int):
        resolved = _resolve_cached(crs)  # /locate asks once per request: ~0.2 ms uncached
    else:
        resolved = resolve_crs(crs)
    degrees = isinstance(resolved, str) or (resolved is not None and resolved.is_geographic)
    if degrees:
        return [
            Problem(
                _(
                    "{n}={v!r} is outside -{limit}..{limit}; are {value} and {value2} "
                    "swapped, or is the CRS projected?"
                ).format(n=n, v=v, limit=limit, value=names[0], value2=names[1]),
                field=n,
                rule="point.range",
            )
            for n, v, limit in zip(names, (x, y), (180, 90), strict=True)
            if abs(v) > limit
        ]
    lo_lon, lo_lat, hi_lon, hi_lat = CHINA_BOUNDS
    if lo_lon <= x <= hi_lon and lo_lat <= y <= hi_lat:
        label = "a metric CRS" if resolved is None else f"{resolved.name} (metres)"
        return [
            Problem(
                _(
                    "{value}/{value2} {x}, {y} look like longitude/latitude but are read in "
                    "{label}; give the CRS of the numbers (e.g. --crs wgs84, or crs=wgs84)"
                ).format(value=names[0], value2=names[1], x=x, y=y, label=label),
                field="crs",
                rule="point.lonlat_in_metric",
                severity="warning",
            )
        ]
    return []
