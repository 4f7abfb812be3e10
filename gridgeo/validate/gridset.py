"""A set of grids with everything the checks need, computed once and cached.

:class:`GridSet` plays the part of GerryChain's ``Partition``: one object that
holds a plan (grids, their communities, households, roads, the profile) in a
metric CRS, and derived values (household counts, home community, size band…)
as lazily cached properties, so that every check is a small function
``GridSet -> list[Issue]`` and no check recomputes what another already did.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely import STRtree

from gridgeo.crs import work_crs as crs_work
from gridgeo.errors import CRSError, InputError, Problem
from gridgeo.i18n import _
from gridgeo.rules import Profile, kind_from_word, load_profile

log = logging.getLogger(__name__)


#: Fields a grid must have for public posting (public posting: Yongzhou, Xinxiang and Jiangmen regulations).
POSTING_FIELDS = (
    "grid_name",
    "grid_worker",
    "grid_worker_phone",
    "grid_head",
    "grid_head_phone",
    "supervision_phone",
)


def _text(values: pd.Series) -> pd.Series:
    """Strings with blanks and nulls as ``None`` (codes read as numbers lose nothing)."""

    def one(v: Any) -> str | None:
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            return None
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        s = str(v).strip()
        return s or None

    # a list, not Series.map: pandas 3 turns the Nones of a mapped (string) column into NaN
    return pd.Series([one(v) for v in values], index=values.index, dtype=object)


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Valid polygonal geometries (``make_valid``; lines and points dropped; None → empty)."""
    out = np.asarray(geoms, dtype=object).copy()
    out[pd.isna(out)] = shapely.Polygon()
    bad = ~shapely.is_valid(out)
    if bad.any():
        out[bad] = shapely.make_valid(out[bad], method="structure", keep_collapsed=False)
    types = shapely.get_type_id(out)
    odd = ~np.isin(types, (3, 6))  # not Polygon / MultiPolygon
    for i in np.flatnonzero(odd):
        parts = [p for p in shapely.get_parts(out[i]) if shapely.get_type_id(p) in (3, 6)]
        out[i] = shapely.union_all(parts) if parts else shapely.Polygon()
    return out


def segments(lines: np.ndarray, *, max_length: float | None = None) -> tuple[np.ndarray, ...]:
    """Explode lines into straight segments.

    Parameters
    ----------
    lines
        Array of (Multi)LineStrings (e.g. polygon boundaries).
    max_length
        Densify first so that no segment is longer than this.

    Returns
    -------
    x0, y0, x1, y1, owner : numpy.ndarray
        Segment end points and the index in ``lines`` each segment came from.
    """
    if max_length:
        lines = shapely.segmentize(lines, max_length)
    parts, owner = shapely.get_parts(lines, return_index=True)
    coords, part = shapely.get_coordinates(parts, return_index=True)
    same = part[1:] == part[:-1]
    x0, y0 = coords[:-1][same].T
    x1, y1 = coords[1:][same].T
    return x0, y0, x1, y1, owner[part[:-1][same]]


@dataclass(frozen=True, eq=False)
class GridSet:
    """Grids, communities, households and roads in one metric CRS, with cached derived values.

    Build it with :meth:`GridSet.prepare` (checks and normalises the inputs);
    the constructor takes already-normalised frames.

    Attributes
    ----------
    grids
        Columns ``grid_code``, ``community_code``, ``grid_type`` (may be None),
        ``geometry`` as given (possibly invalid), plus any others; index 0..n-1.
    communities
        Columns ``code``, ``kind`` (may be None), ``geometry`` (repaired); index 0..m-1.
    households
        Points with a float ``households`` weight, or None.
    roads
        Road centrelines, or None.
    road_middles
        The centrelines of divided roads drawn as two one-way carriageways (found from
        the roads' OpenStreetMap ``oneway``/``name``/``highway`` fields by
        :func:`gridgeo.partition.carriageways.divided_road_centrelines`), or None.
    profile
        The jurisdiction's rules.
    staff
        Posting attributes by ``grid_code``, or None.
    source_crs
        CRS of the input grids (issues are reported in it).
    """

    grids: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    households: gpd.GeoDataFrame | None
    roads: gpd.GeoSeries | None
    profile: Profile
    staff: pd.DataFrame | None = None
    source_crs: Any = None
    road_middles: np.ndarray | None = None

    # ------------------------------------------------------------------ building
    @classmethod
    def prepare(
        cls,
        grids: gpd.GeoDataFrame,
        communities: gpd.GeoDataFrame,
        households: gpd.GeoDataFrame | None = None,
        roads: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
        *,
        profile: Profile | str,
        staff: pd.DataFrame | None = None,
        crs: Any = None,
    ) -> GridSet:
        """Check and normalise the inputs and bring them into one metric CRS.

        Parameters
        ----------
        grids, communities, households, roads
            Layers in any CRS (each must have one). Fields as in :mod:`gridgeo.io.schemas`:
            grids ``grid_code``, ``community_code``, ``grid_type``; communities
            ``code`` and optional ``kind``; households points with optional
            ``households`` weight.
        profile
            A :class:`Profile` or the name/path of one.
        staff
            Table with ``grid_code`` and posting fields (:data:`POSTING_FIELDS`).
        crs
            Metric CRS to work in; default: the communities' CRS when it is
            projected in metres (no reprojection, no round-off), else the
            CGCS2000 Gauss–Krüger zone of the data (:func:`gridgeo.crs.metric_crs`).

        Raises
        ------
        InputError
            Listing every problem that makes the input unusable (missing CRS,
            missing ``code`` field, non-point households, bad weights…).
        """
        profile = load_profile(profile)
        problems: list[Problem] = []
        layers = {"grids": grids, "communities": communities}
        if households is not None:
            layers["households"] = households
        if roads is not None:
            layers["roads"] = roads
        for name, gdf in layers.items():
            if not isinstance(gdf, gpd.GeoDataFrame | gpd.GeoSeries):
                problems.append(
                    Problem(
                        _("expected a GeoDataFrame, got {type}").format(type=type(gdf).__name__),
                        layer=name,
                    )
                )
            elif gdf.crs is None:
                problems.append(
                    Problem(
                        _("the layer has no CRS; set one (e.g. EPSG:4490)"),
                        file=_source(gdf),
                        layer=name,
                        rule="crs.missing",
                    )
                )
        if problems:
            cls_ = CRSError if all(p.rule == "crs.missing" for p in problems) else InputError
            raise cls_(_("cannot validate: the input is unusable"), problems)

        if "code" not in communities.columns:
            problems.append(
                Problem(
                    _("communities need a 'code' field (the official division code)"),
                    file=_source(communities),
                    layer="communities",
                    field="code",
                )
            )
        for name in ("communities", "grids"):
            if len(layers[name]) == 0:
                problems.append(
                    Problem(_("the layer is empty"), file=_source(layers[name]), layer=name)
                )
        if households is not None:
            problems += _household_problems(households)
        if staff is not None and "grid_code" not in staff.columns:
            problems.append(
                Problem(_("the staff table needs a 'grid_code' field"), field="grid_code")
            )
        if problems:
            raise InputError(_("cannot validate: the input is unusable"), problems)

        work_crs = crs_work(communities, crs)

        g = grids.to_crs(work_crs).reset_index(drop=True)
        g = g.rename_geometry("geometry") if g.geometry.name != "geometry" else g
        for col in ("grid_code", "community_code", "grid_type", "grid_name"):
            g[col] = _text(g[col]) if col in g.columns else pd.Series([None] * len(g), dtype=object)

        c = communities.to_crs(work_crs).reset_index(drop=True)
        c = c.rename_geometry("geometry") if c.geometry.name != "geometry" else c
        c["code"] = _text(c["code"])
        c["kind"] = _text(c["kind"]) if "kind" in c.columns else None
        c["invalid_reason"] = [
            None if ok else str(reason)
            for ok, reason in zip(
                shapely.is_valid(c.geometry.values),
                shapely.is_valid_reason(c.geometry.values),
                strict=True,
            )
        ]
        c = c.set_geometry(_polygonal(c.geometry.values))

        h = None
        if households is not None:
            h = households.to_crs(work_crs).reset_index(drop=True)
            w = (
                pd.to_numeric(h["households"], errors="coerce").fillna(1.0)
                if "households" in h.columns
                else pd.Series(1.0, index=h.index)
            )
            comp = (
                _text(h["compound_id"])
                if "compound_id" in h.columns
                else pd.Series([None] * len(h), dtype=object)
            )
            h = gpd.GeoDataFrame(
                {
                    "households": w.astype(float).to_numpy(),
                    "population": (
                        pd.to_numeric(h["population"], errors="coerce").to_numpy(dtype=float)
                        if "population" in h.columns
                        else np.full(len(h), np.nan)
                    ),
                    "compound_id": comp.to_numpy(dtype=object),
                },
                geometry=h.geometry.values,
                crs=work_crs,
            )

        r = middles = None
        if roads is not None:
            rg = roads.geometry if isinstance(roads, gpd.GeoDataFrame) else roads
            r = rg.to_crs(work_crs).reset_index(drop=True)
            r = r[~(r.isna() | r.is_empty)].reset_index(drop=True)
            middles = _divided_road_middles(roads, work_crs, h)

        st = None
        if staff is not None:
            st = pd.DataFrame(staff).copy()
            st["grid_code"] = _text(st["grid_code"])
        gs = cls(g, c, h, r, profile, st, grids.crs, middles)
        log.info(
            "grid set: %d grids, %d communities, %s household points, %s road lines in %s",
            len(g),
            len(c),
            "no" if h is None else len(h),
            "no" if r is None else len(r),
            work_crs.name,
        )
        return gs

    # ------------------------------------------------------------------ geometry
    @property
    def crs(self) -> pyproj.CRS:
        return self.grids.crs

    @property
    def n(self) -> int:
        return len(self.grids)

    @cached_property
    def raw_geoms(self) -> np.ndarray:
        """Grid geometries as given (possibly invalid, empty or None)."""
        return np.asarray(self.grids.geometry.values, dtype=object)

    @cached_property
    def geoms(self) -> np.ndarray:
        """Grid geometries repaired to valid (Multi)Polygons (empty when unusable)."""
        out = _polygonal(self.raw_geoms)
        shapely.prepare(out)
        return out

    @cached_property
    def areas(self) -> np.ndarray:
        return shapely.area(self.geoms)

    @cached_property
    def labels(self) -> np.ndarray:
        """How each grid is named in messages: its code, else ``row N``."""
        codes = self.grids["grid_code"].to_numpy(dtype=object)
        return np.array(
            [c if c is not None else _("row {row}").format(row=i) for i, c in enumerate(codes)],
            dtype=object,
        )

    @cached_property
    def grid_tree(self) -> STRtree:
        return STRtree(self.geoms)

    @cached_property
    def community_geoms(self) -> np.ndarray:
        out = np.asarray(self.communities.geometry.values, dtype=object)
        shapely.prepare(out)
        return out

    @cached_property
    def community_codes(self) -> np.ndarray:
        return self.communities["code"].to_numpy(dtype=object)

    @cached_property
    def community_tree(self) -> STRtree:
        return STRtree(self.community_geoms)

    @cached_property
    def community_parts(self) -> np.ndarray:
        """Number of polygon parts (larger than the seam tolerance) of each community."""
        return _part_counts(self.community_geoms, self.profile.quality.seam_tolerance_m2)

    @cached_property
    def community_kind(self) -> np.ndarray:
        """``urban``/``rural`` per community: its ``kind`` field, else from its code, else its grids."""
        kinds = []
        for code, kind in zip(self.community_codes, self.communities["kind"], strict=True):
            kinds.append(self.profile.community_kind(kind, code))
        kinds = np.array(kinds, dtype=object)
        unknown = np.flatnonzero(pd.isna(kinds))
        if len(unknown):
            given = self.given_type
            home = self.home
            for ci in unknown:
                types = [t for t in given[home == ci] if t in ("urban", "rural")]
                kinds[ci] = max(set(types), key=types.count) if types else "urban"
        return kinds

    # ------------------------------------------------------------------ grid ↔ community
    @cached_property
    def largest_community(self) -> np.ndarray:
        """Index of the community holding the largest part of each grid (-1: none)."""
        gi, ci = self.community_tree.query(self.geoms, predicate="intersects")
        out = np.full(self.n, -1, dtype=np.int64)
        if len(gi) == 0:
            return out
        touch = shapely.touches(self.geoms[gi], self.community_geoms[ci])
        gi, ci = gi[~touch], ci[~touch]
        multi = np.bincount(gi, minlength=self.n) > 1
        single = ~multi[gi]
        out[gi[single]] = ci[single]
        if (~single).any():
            g2, c2 = gi[~single], ci[~single]
            area = shapely.area(shapely.intersection(self.geoms[g2], self.community_geoms[c2]))
            order = np.lexsort((-area, g2))
            g2, c2 = g2[order], c2[order]
            first = np.r_[True, g2[1:] != g2[:-1]]
            out[g2[first]] = c2[first]
        return out

    @cached_property
    def coded_community(self) -> np.ndarray:
        """Index of the community named by each grid's ``community_code`` (-1: none/unknown)."""
        lookup = {code: i for i, code in enumerate(self.community_codes) if code is not None}
        return np.array(
            [lookup.get(c, -1) for c in self.grids["community_code"].to_numpy(dtype=object)],
            dtype=np.int64,
        )

    @cached_property
    def home(self) -> np.ndarray:
        """The community each grid belongs to: by ``community_code``, else by location."""
        return np.where(self.coded_community >= 0, self.coded_community, self.largest_community)

    @cached_property
    def home_code(self) -> np.ndarray:
        codes = np.append(self.community_codes, None)
        return codes[self.home]  # -1 picks the trailing None

    # ------------------------------------------------------------------ types and sizes
    @cached_property
    def given_type(self) -> np.ndarray:
        """The ``grid_type`` field normalised to urban/rural/dedicated (None when absent/unknown)."""
        return np.array(
            [kind_from_word(t) for t in self.grids["grid_type"].to_numpy(dtype=object)],
            dtype=object,
        )

    @cached_property
    def grid_type(self) -> np.ndarray:
        """Effective type: the ``grid_type`` field, else the home community's kind."""
        kinds = np.append(self.community_kind, "urban")
        fallback = kinds[self.home]
        given = self.given_type
        return np.where(pd.isna(given), fallback, given).astype(object)

    @cached_property
    def dedicated(self) -> np.ndarray:
        return self.grid_type == "dedicated"

    @cached_property
    def weights(self) -> np.ndarray:
        if self.households is None:
            return np.zeros(0)
        return self.households["households"].to_numpy(dtype=float)

    @cached_property
    def point_geoms(self) -> np.ndarray:
        if self.households is None:
            return np.empty(0, dtype=object)
        return np.asarray(self.households.geometry.values, dtype=object)

    @cached_property
    def _point_tree(self) -> STRtree:
        return STRtree(self.point_geoms)

    def _assign_points(self, polygons: np.ndarray) -> np.ndarray:
        """Index of the first polygon (lowest index) containing each point, -1 if none.

        The polygons are the (prepared) query geometries and the points sit in the
        tree, so each polygon is prepared once and tested only against the points
        in its bounding box. A point on a shared border goes to one polygon only.
        """
        out = np.full(len(self.point_geoms), -1, dtype=np.int64)
        if len(self.point_geoms) == 0 or len(polygons) == 0:
            return out
        poly, pt = self._point_tree.query(polygons, predicate="covers")
        if len(pt) == 0:
            return out
        none = np.iinfo(np.int64).max
        first = np.full(len(out), none, dtype=np.int64)
        np.minimum.at(first, pt, poly.astype(np.int64))
        hit = first != none
        out[hit] = first[hit]
        return out

    @cached_property
    def point_grid(self) -> np.ndarray:
        """Grid index of each household point (-1: in no grid)."""
        return self._assign_points(self.geoms)

    @cached_property
    def point_community(self) -> np.ndarray:
        """Community index of each household point (-1: in no community)."""
        return self._assign_points(self.community_geoms)

    @cached_property
    def grid_households(self) -> np.ndarray:
        """Households per grid, recomputed from the points (weights summed)."""
        inside = self.point_grid >= 0
        return np.bincount(
            self.point_grid[inside], weights=self.weights[inside], minlength=self.n
        ).astype(float)

    @cached_property
    def grid_population(self) -> np.ndarray:
        """Residents per grid from the points' ``population`` (NaN when no point has one)."""
        if self.households is None:
            return np.full(self.n, np.nan)
        pop = self.households["population"].to_numpy(dtype=float)
        inside = (self.point_grid >= 0) & ~np.isnan(pop)
        total = np.bincount(self.point_grid[inside], weights=pop[inside], minlength=self.n)
        known = np.bincount(self.point_grid[inside], minlength=self.n) > 0
        return np.where(known, total, np.nan)

    @cached_property
    def point_units(self) -> np.ndarray:
        """Indivisible unit per household point: points at one location (to 1 cm) or in
        one compound (``compound_id``) form one unit (as the partitioner's ``_units``)."""
        n = len(self.point_geoms)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        xy = np.round(shapely.get_coordinates(self.point_geoms), 2)
        _, loc = np.unique(xy, axis=0, return_inverse=True)
        loc = loc.ravel()
        comp = self.households["compound_id"].to_numpy(dtype=object)
        has = pd.notna(comp) & (comp != "")
        if not has.any():
            return loc
        _, cid = np.unique(comp[has].astype(str), return_inverse=True)
        n_loc = int(loc.max()) + 1
        # bipartite graph location—compound; its components are the units
        rows = loc[has]
        cols = n_loc + cid
        size = n_loc + int(cid.max()) + 1
        graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size))
        _, label = connected_components(graph, directed=False)
        return label[loc]

    @cached_property
    def community_table(self) -> pd.DataFrame:
        """Per community: splittable households ``T``, feasibility (as the partitioner) and why.

        * ``households`` (``T``): weights of the household points inside the
          community that are not inside a dedicated grid.
        * ``whole_village``: rural and (``mode = "village"`` or ``T <=
          rural.whole_village_max_households``): one grid for the whole village.
        * ``banded`` (split by household band): urban, or rural with
          ``rural.mode = "households"``, and not a whole village.
        * ``feasible`` (counts in the in-band share): banded, no indivisible unit
          heavier than ``max`` and ``ceil(T/max) <= floor(T/min)`` (for
          ``T <= max``: ``T >= min``).
        * ``attainable`` (decides error vs warning for out-of-band grids): feasible,
          or a whole village, or not banded.
        """
        m = len(self.communities)
        pc = self.point_community
        in_ded = np.zeros(len(pc), dtype=bool)
        if len(pc):
            pg = self.point_grid
            in_ded = (pg >= 0) & np.append(self.dedicated, False)[pg]
        use = (pc >= 0) & ~in_ded
        total = np.bincount(pc[use], weights=self.weights[use], minlength=m)
        heaviest = np.zeros(m)
        if use.any():
            units = self.point_units[use]
            key = pc[use].astype(np.int64) * (int(units.max()) + 1) + units
            uniq, inv = np.unique(key, return_inverse=True)
            unit_w = np.bincount(inv.ravel(), weights=self.weights[use])
            np.maximum.at(heaviest, uniq // (int(units.max()) + 1), unit_w)
        mode = self.profile.rural.mode
        whole_max = self.profile.rural.whole_village_max_households
        rows = []
        for ci in range(m):
            kind = self.community_kind[ci]
            lo, hi = self.profile.household_band(kind)
            t = float(total[ci])
            by_band = kind != "rural" or mode == "households"
            whole = kind == "rural" and (mode == "village" or t <= whole_max)
            banded = by_band and not whole
            k_ok = (
                (t >= lo)
                if t <= hi
                else math.ceil(t / hi) <= (math.floor(t / lo) if lo > 0 else math.inf)
            )
            heavy = heaviest[ci] > hi
            feasible = banded and not heavy and k_ok
            if feasible:
                reason = ""
            elif not by_band:
                reason = _(
                    "rural mode {mode}: grids follow villager groups, not a household band"
                ).format(mode=repr(mode))
            elif whole:
                reason = (
                    _("one grid per village (rural mode 'village')")
                    if mode == "village"
                    else _("{n} households <= {limit}: the whole village is one grid").format(
                        n=f"{t:g}", limit=whole_max
                    )
                )
            elif heavy:
                reason = _(
                    "one indivisible unit (a point location or compound) holds {n} households, "
                    "more than the {kind} maximum {maximum}"
                ).format(n=f"{heaviest[ci]:g}", kind=_(kind), maximum=hi)
            else:
                reason = _("{n} households cannot be split into grids of {band}").format(
                    n=f"{t:g}", band=f"{lo}–{hi}"
                )
            rows.append(
                (
                    self.community_codes[ci],
                    kind,
                    t,
                    heaviest[ci],
                    lo,
                    hi,
                    banded,
                    whole,
                    feasible,
                    feasible or whole or not by_band,
                    reason,
                )
            )
        return pd.DataFrame(
            rows,
            columns=[
                "code",
                "kind",
                "households",
                "heaviest_unit",
                "min",
                "max",
                "banded",
                "whole_village",
                "feasible",
                "attainable",
                "reason",
            ],
        )

    @cached_property
    def grids_in_community(self) -> np.ndarray:
        """Non-dedicated grids per home community (index: community; -1 excluded)."""
        ok = (self.home >= 0) & ~self.dedicated
        return np.bincount(self.home[ok], minlength=len(self.communities))

    @cached_property
    def size_table(self) -> pd.DataFrame:
        """Per grid: households, the band that applies, ``in_band`` and ``counted_in_share``.

        The size rule: dedicated grids are exempt; rural grids in ``villager_group``
        mode are exempt (no household band); a whole-village grid (its village's
        only grid, in ``village`` mode or with at most ``whole_village_max_households``)
        is in band; otherwise ``min <= households <= max`` of the grid's type, or
        -- the profile's population alternative, as the partitioner applies it --
        ``households <= max`` and the residents (``population`` of the points)
        within :meth:`~gridgeo.rules.Profile.population_band`. The share (:func:`gridgeo.validate.core.in_band_summary`) counts the
        non-dedicated grids of feasible communities, with the community's band.
        """
        hh = self.grid_households
        kinds = self.grid_type
        comm = self.community_table
        bands = [self.profile.household_band(k) or (np.nan, np.nan) for k in kinds]
        lo = np.array([b[0] for b in bands], dtype=float)
        hi = np.array([b[1] for b in bands], dtype=float)
        home_ok = self.home >= 0
        per_comm = np.append(self.grids_in_community, 0)[self.home]
        mode = self.profile.rural.mode
        whole_village = (
            (kinds == "rural")
            & home_ok
            & (per_comm == 1)
            & ((mode == "village") | (hh <= self.profile.rural.whole_village_max_households))
        )
        exempt = self.dedicated | ((kinds == "rural") & (mode == "villager_group"))
        # below the floor but meeting the population alternative (e.g. gansu ~1000
        # residents) is not a breach; it does not count as in band for the share
        pop = self.grid_population
        p_lo = np.full(self.n, np.nan)
        p_hi = np.full(self.n, np.nan)
        for kind in ("urban", "rural"):
            alt = self.profile.population_band(kind)
            if alt is not None:
                p_lo[kinds == kind], p_hi[kinds == kind] = alt
        with np.errstate(invalid="ignore"):
            by_population = (hh <= hi) & (pop >= p_lo) & (pop <= p_hi)
            in_band = exempt | whole_village | ((hh >= lo) & (hh <= hi)) | by_population
        feasible = np.append(comm["feasible"].to_numpy(dtype=bool), False)[self.home]
        banded = np.append(comm["banded"].to_numpy(dtype=bool), False)[self.home]
        c_lo = np.append(comm["min"].to_numpy(dtype=float), np.nan)[self.home]
        c_hi = np.append(comm["max"].to_numpy(dtype=float), np.nan)[self.home]
        with np.errstate(invalid="ignore"):
            in_community_band = (hh >= c_lo) & (hh <= c_hi)
        return pd.DataFrame(
            {
                "grid_code": self.grids["grid_code"].to_numpy(dtype=object),
                "community_code": self.home_code,
                "grid_type": kinds,
                "households": hh,
                "band_min": np.where(exempt, np.nan, lo),
                "band_max": np.where(exempt, np.nan, hi),
                "population": pop,
                "whole_village": whole_village,
                "by_population": by_population & ~((hh >= lo) & (hh <= hi)),
                "in_band": in_band,
                "counted_in_share": ~self.dedicated & feasible,
                "counted_in_all_banded": ~self.dedicated & banded,
                "in_community_band": in_community_band,
                "area_m2": self.areas,
            }
        )

    # ------------------------------------------------------------------ roads
    @cached_property
    def road_border(self) -> pd.DataFrame:
        """Per grid: length of its internal border and of the parts on roads.

        Each border segment is cut into pieces no longer than the road tolerance
        ``quality.road_tolerance_m``; a piece whose midpoint lies within that
        tolerance of a community border is external (the community border is
        given, not drawn) and left out; an internal piece is *on a road* when its
        midpoint lies within the tolerance of a road line as drawn or of the middle
        of a divided road (:attr:`road_middles`: a border down the median of a road
        drawn as two carriageways follows the road's centreline), and *on a drawn
        road* (``on_drawn_road_m``) when it lies within the tolerance of a road line
        as drawn. Only segments that come within the tolerance of a road or
        community border at all are cut (found with an STRtree); the distances are
        computed with numpy.
        """
        tol = float(self.profile.quality.road_tolerance_m)
        seg = segments(shapely.boundary(self.geoms))
        x0, y0, x1, y1, owner = seg
        lines = [segments(shapely.boundary(self.community_geoms), max_length=100.0)]
        if self.roads is not None and len(self.roads):
            lines.append(segments(np.asarray(self.roads.values, dtype=object), max_length=100.0))
        if self.road_middles is not None and len(self.road_middles):
            lines.append(segments(np.asarray(self.road_middles, dtype=object), max_length=100.0))
        pieces = _Pieces(x0, y0, x1, y1, tol, [_near_pairs(seg, other, tol) for other in lines])
        external = pieces.near(0, lines[0], tol)
        on_drawn = pieces.near(1, lines[1], tol) if len(lines) > 1 else np.zeros_like(external)
        on_road = (on_drawn | pieces.near(2, lines[2], tol)) if len(lines) > 2 else on_drawn
        internal = ~external
        p_owner = owner[pieces.parent]
        plen = pieces.length

        def per_grid(mask: np.ndarray) -> np.ndarray:
            return np.bincount(p_owner[mask], weights=plen[mask], minlength=self.n)

        table = pd.DataFrame(
            {
                "internal_m": per_grid(internal),
                "on_road_m": per_grid(internal & on_road),
                "on_drawn_road_m": per_grid(internal & on_drawn),
            }
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            table["share"] = np.where(
                table["internal_m"] > 0, table["on_road_m"] / table["internal_m"], np.nan
            )
        off = internal & ~on_road
        px0, py0, px1, py1 = pieces.coords(off)
        # not in table.attrs: pandas deep-copies attrs on every column access
        self.__dict__["off_road_segments"] = (px0, py0, px1, py1, p_owner[off])
        return table

    @property
    def off_road_segments(self) -> tuple[np.ndarray, ...]:
        """Internal border pieces not on a road: ``x0, y0, x1, y1, grid index``."""
        if "off_road_segments" not in self.__dict__:
            self.road_border  # noqa: B018 (computing it stores the segments)
        return self.__dict__["off_road_segments"]


def _divided_road_middles(roads, crs, households: gpd.GeoDataFrame | None) -> np.ndarray | None:
    """Centrelines of the divided roads in ``roads`` (work CRS), or None without the fields.

    The same pairs as the partitioner's ``quality.divided_roads_on_median`` (household
    points between two carriageways keep them apart).
    """
    if not isinstance(roads, gpd.GeoDataFrame) or not {"oneway", "name"} <= set(roads.columns):
        return None
    from gridgeo.partition.carriageways import divided_road_centrelines

    rm = roads.to_crs(crs).reset_index(drop=True)
    rm = rm[~(rm.geometry.isna() | rm.geometry.is_empty)].reset_index(drop=True)
    keep = None if households is None else shapely.get_coordinates(households.geometry.values)
    middles = divided_road_centrelines(rm, keep_xy=keep)
    return middles if len(middles) else None


def _linestrings(x0, y0, x1, y1) -> np.ndarray:
    return shapely.linestrings(np.stack([x0, y0, x1, y1], 1).reshape(-1, 2, 2))


def _near_pairs(seg: tuple[np.ndarray, ...], other: tuple[np.ndarray, ...], tol: float):
    """Pairs (segment of ``seg``, segment of ``other``) that come within ``tol``."""
    if len(other[0]) == 0 or len(seg[0]) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    tree = STRtree(_linestrings(*other[:4]))
    a, b = tree.query(_linestrings(*seg[:4]), predicate="dwithin", distance=tol)
    return a, b


def _point_segment_distance(px, py, x0, y0, x1, y1) -> np.ndarray:
    dx, dy = x1 - x0, y1 - y0
    dd = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(dd > 0, ((px - x0) * dx + (py - y0) * dy) / dd, 0.0)
    t = np.clip(t, 0.0, 1.0)
    return np.hypot(px - (x0 + t * dx), py - (y0 + t * dy))


class _Pieces:
    """Border segments, those near other lines cut into pieces of at most ``tol``."""

    def __init__(self, x0, y0, x1, y1, tol: float, pairs: list[tuple[np.ndarray, np.ndarray]]):
        self.x0, self.y0, self.x1, self.y1 = x0, y0, x1, y1
        self.pairs = pairs
        seg_len = np.hypot(x1 - x0, y1 - y0)
        cut = np.zeros(len(x0), dtype=bool)
        for a, _other in pairs:
            cut[a] = True
        self.count = np.where(cut, np.maximum(1, np.ceil(seg_len / tol)), 1).astype(np.int64)
        self.start = np.concatenate([[0], np.cumsum(self.count)[:-1]])
        total = int(self.count.sum())
        self.parent = np.repeat(np.arange(len(x0)), self.count)
        self.k = np.arange(total) - self.start[self.parent]
        self.length = seg_len[self.parent] / self.count[self.parent]

    def _at(self, t: np.ndarray, seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (
            self.x0[seg] + t * (self.x1[seg] - self.x0[seg]),
            self.y0[seg] + t * (self.y1[seg] - self.y0[seg]),
        )

    def near(self, which: int, other: tuple[np.ndarray, ...], tol: float) -> np.ndarray:
        """Per piece: is its midpoint within ``tol`` of a segment of ``other``?"""
        a, b = self.pairs[which]
        flags = np.zeros(len(self.parent), dtype=bool)
        if len(a) == 0:
            return flags
        reps = self.count[a]
        seg = np.repeat(a, reps)
        oth = np.repeat(b, reps)
        piece = np.repeat(self.start[a], reps) + (
            np.arange(int(reps.sum())) - np.repeat(np.cumsum(reps) - reps, reps)
        )
        t = (self.k[piece] + 0.5) / self.count[seg]
        mx, my = self._at(t, seg)
        ox0, oy0, ox1, oy1 = other[:4]
        d = _point_segment_distance(mx, my, ox0[oth], oy0[oth], ox1[oth], oy1[oth])
        flags[piece[d <= tol]] = True
        return flags

    def coords(self, mask: np.ndarray) -> tuple[np.ndarray, ...]:
        """End points of the pieces selected by ``mask``."""
        seg = self.parent[mask]
        k, n = self.k[mask], self.count[seg]
        sx, sy = self._at(k / n, seg)
        ex, ey = self._at((k + 1) / n, seg)
        return sx, sy, ex, ey


def _part_counts(geoms: np.ndarray, min_area: float) -> np.ndarray:
    parts, owner = shapely.get_parts(geoms, return_index=True)
    big = shapely.area(parts) > min_area
    return np.bincount(owner[big], minlength=len(geoms))


def _source(gdf: Any) -> str | None:
    """The file a layer was read from (``attrs["source"]`` set by :func:`gridgeo.io.read_layer`)."""
    spec = getattr(gdf, "attrs", {}).get("source")
    if not spec:
        return None
    from gridgeo.io import split_layer_spec

    return str(split_layer_spec(str(spec))[0])


def _household_problems(households: gpd.GeoDataFrame) -> list[Problem]:
    src = _source(households)
    problems = []
    types = households.geometry.geom_type.to_numpy(dtype=object)
    for i in np.flatnonzero(types != "Point")[:100]:
        problems.append(
            Problem(
                _("household features must be points, found {found}").format(
                    found=types[i] or _("no geometry")
                ),
                file=src,
                layer="households",
                row=int(i),
                field="geometry",
            )
        )
    if "households" in households.columns:
        raw = households["households"]
        num = pd.to_numeric(raw, errors="coerce")
        bad = (num.isna() & raw.notna()) | (num < 0)
        for i in np.flatnonzero(bad.to_numpy())[:100]:
            problems.append(
                Problem(
                    _("household weight {value} is not a number >= 0").format(
                        value=repr(raw.iloc[i])
                    ),
                    file=src,
                    layer="households",
                    row=int(i),
                    field="households",
                )
            )
    return problems


def code_regex(profile: Profile) -> re.Pattern[str]:
    """Regex of a grid code in ``profile``: the community pattern plus the sequence digits."""
    return re.compile(
        f"(?P<community>{profile.codes.community_pattern})(?P<seq>\\d{{{profile.codes.grid_sequence_digits}}})"
    )
