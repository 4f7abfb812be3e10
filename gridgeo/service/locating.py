"""Answer locate questions from a :class:`~gridgeo.service.snapshot.Snapshot` (no web, no SQL).

Used by the ``/locate`` endpoints and by ``gridgeo locate``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import shapely

from gridgeo.locate import TIE_RULE
from gridgeo.locate.points import to_srid
from gridgeo.service.snapshot import Snapshot

log = logging.getLogger(__name__)

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
    deps = snap.departments_for(category, grid_code, x, y)
    if deps:
        lead = next((d for d in deps if d["lead"]), deps[0])
        return {"department": lead, "departments": deps, "department_reason": None}
    if not snap.known_category(category):
        reason = f"unknown category {category!r}: it is not in the matter list (GET /categories)"
    else:
        reason = f"no department is assigned category {category!r} at this point"
    return {"department": None, "departments": [], "department_reason": reason}


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
        base["reason"] = EMPTY_REASON
        base.update(department_answer(snap, category, None, np.nan, np.nan))
        return base
    x, y = to_srid([lon], [lat], crs, snap.srid)
    base["point"] = {"x": float(x[0]), "y": float(y[0]), "srid": snap.srid}
    g = int(snap.index.locate(x, y)[0])
    if g < 0:
        base["reason"] = OUTSIDE_REASON
        base.update(department_answer(snap, category, None, float(x[0]), float(y[0])))
        return base
    rec = snap.records[g]
    dist = float(snap.index.border_distance(x, y, [g])[0])
    base.update(
        located=True,
        grid={k: rec[k] for k in ("code", "name", "type", "valid_from", "valid_to")},
        community={"code": rec["community_code"], "name": rec["community_name"]},
        contacts=_visible(snap.contacts.get(rec["code"], []), private),
        distance_to_border_m=round(dist, 3),
        near_border=bool(dist <= near_border_m),
    )
    base.update(department_answer(snap, category, rec["code"], float(x[0]), float(y[0])))
    return base


def _contact_columns(snap: Snapshot, private: bool) -> pd.DataFrame:
    """Per grid (index order): first head and first grid worker visible to the caller."""
    head_n, head_p, work_n, work_p = [], [], [], []
    for code in snap.index.codes:
        cs = _visible(snap.contacts.get(code, []), private)
        h = next((c for c in cs if c["role"] == "head"), None)
        w = next((c for c in cs if c["role"] != "head"), None)
        head_n.append(h["name"] if h else None)
        head_p.append(h["phone"] if h else None)
        work_n.append(w["name"] if w else None)
        work_p.append(w["phone"] if w else None)
    return pd.DataFrame(
        {"head_name": head_n, "head_phone": head_p, "worker_name": work_n, "worker_phone": work_p}
    )


def locate_batch(
    snap: Snapshot,
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    ids: np.ndarray | None = None,
    crs: str = "wgs84",
    category: np.ndarray | str | None = None,
    private: bool = False,
    near_border_m: float = 20.0,
    distance: bool = True,
) -> pd.DataFrame:
    """Locate many points at once (vectorised); one row per point, columns :data:`BATCH_COLUMNS`.

    Parameters
    ----------
    snap
        The snapshot valid at the time asked for.
    lon, lat
        Coordinates in ``crs``.
    ids
        Per-point ids (default: row numbers).
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
    pandas.DataFrame
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    n = lon.size
    if ids is None:
        ids = np.arange(n).astype(str).astype(object)
    if category is None or isinstance(category, str):
        cats = np.full(n, category, dtype=object)
    else:
        cats = np.asarray(category, dtype=object)
    out = pd.DataFrame({"id": ids, "lon": lon, "lat": lat})
    if snap.srid is None or len(snap.index) == 0:
        g = np.full(n, -1, dtype=np.int32)
        x = y = np.full(n, np.nan)
    else:
        x, y = to_srid(lon, lat, crs, snap.srid)
        g = snap.index.locate(x, y)
    hit = g >= 0
    gi = np.where(hit, g, 0)
    attrs = snap.grids[["grid_code", "grid_name", "grid_type", "community_code", "community_name"]]
    contacts = _contact_columns(snap, private)
    for col in attrs.columns:
        vals = attrs[col].to_numpy(dtype=object)
        out[col] = np.where(hit, vals[gi], None) if len(vals) else None
    for col in contacts.columns:
        vals = contacts[col].to_numpy(dtype=object)
        out[col] = np.where(hit, vals[gi], None) if len(vals) else None
    out["category"] = cats
    dep_name = np.full(n, None, dtype=object)
    dep_phone = np.full(n, None, dtype=object)
    reason = np.where(hit, None, EMPTY_REASON if len(snap.index) == 0 else OUTSIDE_REASON)
    reason = reason.astype(object)
    has_cat = np.array([c is not None and c != "" for c in cats], dtype=bool)
    if has_cat.any():
        codes = out["grid_code"].to_numpy(dtype=object)
        sel = np.flatnonzero(has_cat)
        keys = pd.DataFrame({"c": cats[sel], "g": codes[sel]})
        # one lookup per distinct (category, grid), then a vectorised join back
        pair_id, pairs = pd.MultiIndex.from_frame(keys.fillna("\0")).factorize()
        answers = []
        for c, gc in pairs:
            gc = None if gc == "\0" else gc
            deps = (
                [
                    snap.departments[d] | {"lead": lead}
                    for d, lead in snap.grid_coverage.get((c, gc), ())
                    if d in snap.departments
                ]
                if gc is not None
                else []
            )
            answers.append(_pick(deps, snap, c))
        ans = np.array(answers, dtype=object).reshape(-1, 3)
        dep_name[sel] = ans[pair_id, 0]
        dep_phone[sel] = ans[pair_id, 1]
        why = ans[pair_id, 2]
        fill = (why != None) & (reason[sel] == None)  # noqa: E711
        reason[sel[fill]] = why[fill]
        # coverage by polygons (few rows): vectorised per category and polygon
        for c, areas in snap.area_coverage.items():
            rows = sel[(cats[sel] == c) & (dep_name[sel] == None)]  # noqa: E711
            if rows.size == 0:
                continue
            pts = shapely.points(x[rows], y[rows])
            for geom, dep, _lead in sorted(areas, key=lambda a: (not a[2], a[1])):
                inside = shapely.covers(geom, pts) & (dep_name[rows] == None)  # noqa: E711
                r = rows[inside]
                dep_name[r] = snap.departments[dep]["name"]
                dep_phone[r] = snap.departments[dep]["phone"]
                reason[r] = np.where(hit[r], None, reason[r])
    out["department"] = dep_name
    out["department_phone"] = dep_phone
    if distance and hit.any():
        d = snap.index.border_distance(x, y, g)
        out["distance_to_border_m"] = np.round(d, 3)
        out["near_border"] = np.where(hit, d <= near_border_m, None)
    else:
        out["distance_to_border_m"] = np.nan
        out["near_border"] = None
    out["reason"] = reason
    log.info("located %d points: %d inside a grid", n, int(hit.sum()))
    return out[BATCH_COLUMNS]


def _pick(
    deps: list[dict[str, Any]], snap: Snapshot, category: str
) -> tuple[str | None, str | None, str | None]:
    if deps:
        lead = next((d for d in deps if d["lead"]), deps[0])
        return lead["name"], lead["phone"], None
    if snap.area_coverage.get(category):
        return None, None, f"no department is assigned category {category!r} at this point"
    if not snap.known_category(category):
        return None, None, f"unknown category {category!r}"
    return None, None, f"no department is assigned category {category!r} at this point"
