"""The locate answer for a point: community, grid, contacts and department (no web, no SQL).

Answers from a :class:`~gridgeo.locate.snapshot.Snapshot`; used alike by ``GET /locate``,
``/locate/batch`` and ``gridgeo locate``, so the three give one answer.

The department rule (:data:`~gridgeo.locate.snapshot.DEPARTMENT_RULE`): among the departments covering the
category at the point — by the point's grid or by their own polygon, alike — the lead
one, then the lowest department id. When there is none, the reason says whether the
category is unknown or merely unassigned there (:func:`no_department_reason`).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.locate import TIE_RULE
from gridgeo.locate.index import Located
from gridgeo.locate.points import point_to_srid, to_srid
from gridgeo.locate.snapshot import Snapshot, department_rank, ranked_department

log = logging.getLogger(__name__)

#: Why a point has no grid (English: translated where the answer is made, :func:`_`).
OUTSIDE_REASON = "the point lies outside every grid valid at that time"
EMPTY_REASON = "the registry has no grids valid at that time"

BATCH_COLUMNS = [
    "id",
    "lon",
    "lat",
    "grid_code",
    "grid_name",
    "grid_type",
    "community_code",
    "community_name",
    "head_name",
    "head_phone",
    "worker_name",
    "worker_phone",
    "category",
    "department",
    "department_phone",
    "distance_to_border_m",
    "near_border",
    "reason",
]


def _visible(contacts: list[dict[str, Any]], private: bool) -> list[dict[str, Any]]:
    return [
        {"role": c["role"], "name": c["name"], "phone": c["phone"], "posted": c["posted"]}
        for c in contacts
        if private or c["posted"]
    ]


def department_answer(
    snap: Snapshot, category: str | None, grid_code: str | None, x: float, y: float
) -> dict[str, Any]:
    """``department``, ``departments`` and ``department_reason`` for a category at a point."""
    if not category:
        return {"department": None, "departments": [], "department_reason": None}
    deps = snap.departments_for(category, grid_code, x, y)  # ordered by the rule
    if deps:
        return {"department": deps[0], "departments": deps, "department_reason": None}
    reason = no_department_reason(snap, category)
    return {"department": None, "departments": [], "department_reason": reason}


def no_department_reason(snap: Snapshot, category: str) -> str:
    """Why no department answers for ``category`` at a point."""
    if not snap.known_category(category):
        return _(
            "unknown category {category!r}: it is not in the matter list (GET /categories)"
        ).format(category=category)
    return _("no department is assigned category {category!r} at this point").format(
        category=category
    )


def locate_one(
    snap: Snapshot,
    lon: float,
    lat: float,
    *,
    crs: str = "wgs84",
    category: str | None = None,
    private: bool = False,
    near_border_m: float = 20.0,
) -> dict[str, Any]:
    """Locate one point: community, grid, contacts, department, distance to the border.

    Parameters
    ----------
    snap
        The snapshot valid at the time asked for.
    lon, lat
        Coordinates in ``crs``.
    crs
        ``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09`` or an EPSG code.
    category
        Incident category code; the responsible department is looked up when given.
    private
        Include contacts that are not publicly posted.
    near_border_m
        Tolerance of the ``near_border`` flag.

    Returns
    -------
    dict
        ``located``, ``reason``, ``grid``, ``community``, ``contacts``, ``department``,
        ``departments``, ``department_reason``, ``distance_to_border_m``,
        ``near_border``, ``point`` (in the registry CRS), ``tie_rule``.
    """
    base: dict[str, Any] = {
        "located": False,
        "reason": None,
        "grid": None,
        "community": None,
        "contacts": [],
        "distance_to_border_m": None,
        "near_border": None,
        "point": None,
        "tie_rule": TIE_RULE,
    }
    if snap.srid is None or len(snap.index) == 0:
        base["reason"] = _(EMPTY_REASON)
        base.update(department_answer(snap, category, None, np.nan, np.nan))
        return base
    px, py = point_to_srid(lon, lat, crs, snap.srid)
    if not (math.isfinite(px) and math.isfinite(py)):
        raise InputError(
            _("({lon}, {lat}) in {crs} has no position in the registry's CRS (EPSG:{srid})").format(
                lon=lon, lat=lat, crs=crs, srid=snap.srid
            ),
            [Problem(_("cannot be transformed"), field="lon", rule="points.transform")],
        )
    base["point"] = {"x": px, "y": py, "srid": snap.srid}
    g, dist = snap.index.locate_one(px, py)
    if g < 0:
        base["reason"] = _(OUTSIDE_REASON)
        base.update(department_answer(snap, category, None, px, py))
        return base
    rec = snap.records[g]
    base.update(
        located=True,
        grid={k: rec[k] for k in ("code", "name", "type", "valid_from", "valid_to")},
        community={"code": rec["community_code"], "name": rec["community_name"]},
        contacts=_visible(snap.contacts.get(rec["code"], []), private),
        distance_to_border_m=round(dist, 3),
        near_border=bool(dist <= near_border_m),
    )
    base.update(department_answer(snap, category, rec["code"], px, py))
    return base


def _contact_columns(snap: Snapshot, private: bool) -> dict[str, list[str | None]]:
    """Per grid (index order): first head and first grid worker visible to the caller."""
    cols: dict[str, list[str | None]] = {
        "head_name": [],
        "head_phone": [],
        "worker_name": [],
        "worker_phone": [],
    }
    for code in snap.index.codes:
        cs = _visible(snap.contacts.get(code, []), private)
        h = next((c for c in cs if c["role"] == "head"), None)
        w = next((c for c in cs if c["role"] != "head"), None)
        cols["head_name"].append(h["name"] if h else None)
        cols["head_phone"].append(h["phone"] if h else None)
        cols["worker_name"].append(w["name"] if w else None)
        cols["worker_phone"].append(w["phone"] if w else None)
    return cols


#: Dictionaries with fewer entries than this take int16 indices (half the bytes per row).
SMALL_DICTIONARY = 1 << 15


def index_type(size: int) -> pa.DataType:
    """Index type of a dictionary column of ``size`` entries: int16 when small, else int32."""
    return pa.int16() if size < SMALL_DICTIONARY else pa.int32()


def batch_schema(snap: Snapshot) -> pa.Schema:
    """The schema of every :func:`locate_batch` answer from ``snap`` (one per stream).

    The grid columns (one entry per grid) and the departments take int16 dictionary
    indices when there are fewer than :data:`SMALL_DICTIONARY` of them; the reasons
    (one per category asked for) keep int32.
    """
    return answer_schema(index_type(len(snap.records)), index_type(len(snap.departments)))


def answer_schema(grid_index: pa.DataType, department_index: pa.DataType) -> pa.Schema:
    """The batch answer's schema (:data:`BATCH_COLUMNS`) with these dictionary index types
    for the grid columns and the departments."""
    grid = pa.dictionary(grid_index, pa.string())
    dep = pa.dictionary(department_index, pa.string())
    plain = {
        "id": pa.string(),
        "lon": pa.float64(),
        "lat": pa.float64(),
        "category": pa.string(),
        "distance_to_border_m": pa.float64(),
        "near_border": pa.bool_(),
        "department": dep,
        "department_phone": dep,
        "reason": pa.dictionary(pa.int32(), pa.string()),
    }
    return pa.schema([pa.field(c, plain.get(c, grid)) for c in BATCH_COLUMNS])


def _indices(idx: np.ndarray, size: int = SMALL_DICTIONARY) -> pa.Array:
    """Dictionary indices (null where ``idx < 0``), shared by the columns they pick.

    ``size``: entries in the dictionary (int16 indices below :data:`SMALL_DICTIONARY`)."""
    dtype = np.int16 if size < SMALL_DICTIONARY else np.int32
    return pa.array(np.where(idx < 0, 0, idx).astype(dtype), mask=idx < 0)


def _take(values: list[Any] | pa.Array, idx: np.ndarray, ind: pa.Array | None = None) -> pa.Array:
    """``values[idx]`` as a dictionary-encoded string array, null where ``idx < 0``.

    ``ind``: :func:`_indices` of ``idx`` when already built (columns picked by one index
    share it: no copy per column, and the CSV writer takes them together); else int32
    indices are built."""
    if len(values) == 0:
        return pa.nulls(idx.size, pa.string())
    ind = _indices(idx) if ind is None else ind
    dictionary = values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())
    return pa.DictionaryArray.from_arrays(ind, dictionary)


def _grid_columns(snap: Snapshot, private: bool) -> dict[str, pa.Array]:
    """Per grid (index order) the text columns of a batch answer, built once per snapshot.

    A streamed batch locates chunk by chunk: without this, every chunk rebuilt them
    (~0.1 s for 5,000 grids)."""
    cached = snap.batch_columns.get(private)
    if cached is not None:
        return cached
    recs = snap.records
    cols: dict[str, list[Any]] = {
        col: [r[key] for r in recs]
        for col, key in (
            ("grid_code", "code"),
            ("grid_name", "name"),
            ("grid_type", "type"),
            ("community_code", "community_code"),
            ("community_name", "community_name"),
        )
    }
    cols.update(_contact_columns(snap, private))
    out = {c: pa.array(v, type=pa.string()) for c, v in cols.items()}
    snap.batch_columns[private] = out
    return out


def locate_batch(
    snap: Snapshot,
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    ids: np.ndarray | pa.Array | None = None,
    crs: str = "wgs84",
    category: np.ndarray | str | None = None,
    private: bool = False,
    near_border_m: float = 20.0,
    distance: bool = True,
) -> pa.Table:
    """Locate many points at once (vectorised); one row per point, columns :data:`BATCH_COLUMNS`.

    Parameters
    ----------
    snap
        The snapshot valid at the time asked for.
    lon, lat
        Coordinates in ``crs``.
    ids
        Per-point ids (default: row numbers); an Arrow array is taken as it is.
    crs
        CRS of the coordinates.
    category
        One category for all points, or one per point (``None`` entries allowed).
    private
        Include contacts that are not publicly posted.
    near_border_m
        Tolerance of ``near_border``.
    distance
        Compute ``distance_to_border_m`` and ``near_border`` (else left empty).

    Returns
    -------
    pyarrow.Table
        In input order; text columns are null where there is no value.
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    n = lon.size
    recs = snap.records
    gtype = index_type(len(recs))
    if snap.srid is None or len(snap.index) == 0:
        x = y = np.full(n, np.nan)
        nb = (n + 7) // 8
        loc = Located(n, 0, np.zeros(n, gtype.to_pandas_dtype()), np.zeros(nb, np.uint8),
                      np.zeros(n), np.zeros(nb, np.uint8))  # fmt: skip
    else:
        x, y = to_srid(lon, lat, crs, snap.srid)
        loc = snap.index.locate_fill(
            x, y, distance=distance, near=near_border_m, dtype=gtype.to_pandas_dtype()
        )
    nulls = n - loc.inside
    valid = pa.py_buffer(loc.valid) if nulls else None
    cols: dict[str, pa.Array] = {
        "id": pa.array(np.arange(n)).cast(pa.string())
        if ids is None
        else ids.cast(pa.string())
        if isinstance(ids, pa.Array | pa.ChunkedArray)
        else pa.array(np.asarray(ids, dtype=object), type=pa.string()),
        "lon": pa.array(lon),
        "lat": pa.array(lat),
    }
    grid_ind = pa.Array.from_buffers(gtype, n, [valid, pa.py_buffer(loc.grid)], null_count=nulls)
    for col, values in _grid_columns(snap, private).items():
        cols[col] = pa.DictionaryArray.from_arrays(grid_ind, values, safe=False)
    cols.update(_department_columns(snap, loc, x, y, category))
    if distance and loc.inside:
        cols["distance_to_border_m"] = pa.Array.from_buffers(
            pa.float64(), n, [valid, pa.py_buffer(loc.distance)], null_count=nulls
        )
        cols["near_border"] = pa.Array.from_buffers(
            pa.bool_(), n, [valid, pa.py_buffer(loc.near)], null_count=nulls
        )
    else:
        cols["distance_to_border_m"] = pa.nulls(n, pa.float64())
        cols["near_border"] = pa.nulls(n, pa.bool_())
    log.info("located %d points: %d inside a grid", n, loc.inside)
    return pa.table([cols[c] for c in BATCH_COLUMNS], names=BATCH_COLUMNS)


def _dictionary(values: list[Any], ind: np.ndarray, valid: np.ndarray | None) -> pa.Array:
    """A dictionary column of ``values`` picked by ``ind`` (null where ``valid`` is False)."""
    itype = pa.from_numpy_dtype(ind.dtype)
    mask = None if valid is None else ~valid
    indices = pa.array(ind, type=itype, mask=mask)
    return pa.DictionaryArray.from_arrays(indices, pa.array(values, type=pa.string()), safe=False)


def _department_columns(
    snap: Snapshot,
    loc: Located,
    x: np.ndarray,
    y: np.ndarray,
    category: np.ndarray | str | None,
) -> dict[str, pa.Array]:
    """``category``, ``department``, ``department_phone`` and ``reason`` of a batch answer."""
    n = loc.n
    recs = snap.records
    dep_ids = sorted(snap.departments)
    dtype = index_type(len(dep_ids)).to_pandas_dtype()
    reasons = [_(OUTSIDE_REASON if len(snap.index) else EMPTY_REASON)]
    out: dict[str, pa.Array] = {}
    if category is None or isinstance(category, str):
        # one category for all: no object array of n values to factorize
        cat_values = np.array([category or None], dtype=object)
        cat_idx = np.full(n, 0 if category else -1, dtype=np.int64)
        out["category"] = pa.repeat(pa.scalar(category or None, pa.string()), n)
        if not category:
            # no department to find: the reason is "outside" wherever there is no grid
            inv = np.invert(loc.valid)
            if n % 8:
                inv[-1] &= (1 << (n % 8)) - 1
            reason = pa.Array.from_buffers(
                pa.int32(), n, [pa.py_buffer(inv), pa.py_buffer(np.zeros(n, np.int32))],
                null_count=loc.inside,
            )  # fmt: skip
            none = pa.Array.from_buffers(
                pa.from_numpy_dtype(dtype), n,
                [pa.py_buffer(np.zeros((n + 7) // 8, np.uint8)), pa.py_buffer(np.zeros(n, dtype))],
                null_count=n,
            )  # fmt: skip
            for col, key in (("department", "name"), ("department_phone", "phone")):
                names = pa.array([snap.departments[d][key] for d in dep_ids], type=pa.string())
                out[col] = pa.DictionaryArray.from_arrays(none, names, safe=False)
            out["reason"] = pa.DictionaryArray.from_arrays(
                reason, pa.array(reasons, type=pa.string()), safe=False
            )
            return out
    else:
        cats = np.asarray(category, dtype=object)
        cat_idx, cat_values = pd.factorize(cats, use_na_sentinel=True)
        cat_idx = np.asarray(cat_idx)
        cat_values = np.asarray(cat_values, dtype=object)
        out["category"] = pa.array(cats, type=pa.string())
    g = loc.positions()
    hit = g >= 0
    empty = np.flatnonzero(cat_values == "")
    if empty.size:
        cat_idx[cat_idx == empty[0]] = -1
    # the department rule, vectorised: the best rank over grid and polygon coverage
    best = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    reason_of = np.where(hit, -1, 0).astype(np.int32)
    sel = np.flatnonzero(cat_idx >= 0)
    width = len(recs) + 1
    if sel.size:
        key = cat_idx[sel].astype(np.int64) * width + (g[sel] + 1)
        uniq, inverse = np.unique(key, return_inverse=True)
        ans = np.full(uniq.size, np.iinfo(np.int64).max, dtype=np.int64)
        for u, k in enumerate(uniq.tolist()):
            c = str(cat_values[k // width])
            gi = k % width - 1
            if gi >= 0:
                ranks = [
                    department_rank(d, lead)
                    for d, lead in snap.grid_coverage.get((c, recs[gi]["code"]), ())
                    if d in snap.departments
                ]
                ans[u] = min(ranks, default=ans[u])
        best[sel] = ans[inverse]
        # coverage by own polygons (few rows): vectorised per category and polygon
        for c, areas in snap.area_coverage.items():
            found = np.flatnonzero(cat_values == c)
            if found.size == 0:
                continue
            rows = sel[cat_idx[sel] == int(found[0])]
            if rows.size == 0:
                continue
            pts = shapely.points(x[rows], y[rows])
            for geom, dep, lead in areas:
                if dep not in snap.departments:
                    continue
                r = department_rank(dep, lead)
                better = shapely.covers(geom, pts) & (r < best[rows])
                best[rows[better]] = r
        # points with a category and no department: say why (after outside/empty)
        none = sel[(best[sel] == np.iinfo(np.int64).max) & hit[sel]]
        for ci in np.unique(cat_idx[none]).tolist():
            why = no_department_reason(snap, str(cat_values[ci]))
            reasons.append(why)
            reason_of[none[cat_idx[none] == ci]] = len(reasons) - 1
    dep_pos = {d: i for i, d in enumerate(dep_ids)}
    has = best < np.iinfo(np.int64).max
    dep_of = np.zeros(n, dtype=dtype)
    dep_of[has] = [dep_pos[ranked_department(v)] for v in best[has].tolist()]
    for col, key in (("department", "name"), ("department_phone", "phone")):
        out[col] = _dictionary([snap.departments[d][key] for d in dep_ids], dep_of, has)
    out["reason"] = _dictionary(reasons, np.maximum(reason_of, 0), reason_of >= 0)
    return out
