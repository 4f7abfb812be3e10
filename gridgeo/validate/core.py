"""``validate()``: audit a grid layer against a profile and return a :class:`ValidationReport`.

The report's texts (issue messages, rule meanings, notes) are in the language in use when
it is made (:mod:`gridgeo.i18n`); rule ids, field names and numbers are the same in every
language, so programs key on those.

In-band share
-------------
The validator recomputes the share of grids in band on its own, from the
household points, with the partitioner's definition
(:mod:`gridgeo.partition.metrics`), so the two can be compared:

    *in-band share* = (ordinary grids of feasible communities with
    ``min <= households <= max``) / (ordinary grids of feasible communities)

* Ordinary = not dedicated. A grid's households are the summed ``households``
  weights (default 1) of the points inside it (point in polygon; a point on a
  shared border counts once, for the grid listed first).
* A grid belongs to the community named by its ``community_code``, else to the
  one holding most of its area. ``min``/``max`` are the band of that
  community's kind (``kind`` field, else from the code by the profile's code
  ranges, else the majority of its grids' types, else urban).
* A community is *banded* (split by household band) when it is urban, or rural
  with ``rural.mode = "households"``, and not a whole village (rural with
  ``mode = "village"`` or ``T <= whole_village_max_households``). It is
  *feasible* when it is banded, no indivisible unit (points at one location, to 1 cm, or sharing a
  ``compound_id``) holds more than ``max`` households, and ``T`` -- the households
  of its points that are not inside a dedicated grid -- admits a whole number of
  grids in band: ``ceil(T/max) <= floor(T/min)`` (for ``T <= max``: ``T >= min``).

``share`` is ``None`` when no grid counts. ``share_all_banded`` is the same
over the grids of every banded community, feasible or not.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgeo.i18n import _
from gridgeo.rules import Profile, load_profile
from gridgeo.validate.checks import CHECKS, RULES, Check, Issue, run_checks
from gridgeo.validate.gridset import GridSet

log = logging.getLogger(__name__)

IN_BAND_DEFINITION = (
    "ordinary (non-dedicated) grids of feasible communities with min <= households <= max "
    "(band of the community's kind) / all ordinary grids of feasible communities; feasible = "
    "banded (urban, or rural in households mode, and not a whole village), no indivisible unit "
    "(one location or compound) above max, and ceil(T/max) <= floor(T/min) for T = households "
    "outside dedicated grids"
)

ISSUE_COLUMNS = ["rule", "severity", "grid_codes", "community_code", "value", "message"]


@dataclass
class ValidationReport:
    """What a validation found.

    Attributes
    ----------
    issues
        One row per problem: ``rule``, ``severity`` (error/warning),
        ``grid_codes`` (comma-separated), ``community_code``, ``value`` (the
        rule's measure: households, m², share…), ``message`` and ``geometry``
        (in the CRS of the input grids).
    grids
        Per grid: recomputed ``households``, band, ``in_band``,
        ``counted_in_share``, ``area_m2`` and (with roads) ``road_border_share``.
    communities
        Per community: splittable households, feasibility and the reason.
    summary
        Counts, the in-band share and its parts, the road border share, the
        profile and the metric CRS used.
    """

    issues: gpd.GeoDataFrame
    grids: pd.DataFrame
    communities: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    grid_shapes: gpd.GeoDataFrame | None = field(default=None, repr=False)
    community_shapes: gpd.GeoDataFrame | None = field(default=None, repr=False)

    @property
    def errors(self) -> int:
        return int((self.issues["severity"] == "error").sum())

    @property
    def warnings(self) -> int:
        return int((self.issues["severity"] == "warning").sum())

    @property
    def exit_code(self) -> int:
        """0 when no rule is broken with severity error, else 1 (2 is for unusable input)."""
        return 1 if self.errors else 0

    @property
    def in_band_share(self) -> float | None:
        return self.summary["in_band"]["share"]

    def _issue_records(self) -> tuple[list[dict[str, Any]], np.ndarray]:
        """Issue attributes as plain dicts, and their geometries in WGS 84."""
        issues = self.issues
        geo = issues.to_crs(4326) if len(issues) and issues.crs is not None else issues
        records = []
        for row in issues[ISSUE_COLUMNS].itertuples(index=False):
            rec = row._asdict()
            rec["grid_codes"] = [c for c in str(rec["grid_codes"] or "").split(",") if c]
            rec["value"] = None if pd.isna(rec["value"]) else float(rec["value"])
            records.append(rec)
        geoms = np.asarray(geo.geometry.values, dtype=object)
        return records, geoms

    def to_dict(self) -> dict[str, Any]:
        """Summary, issues (geometry as GeoJSON in WGS 84) and per-grid/community tables."""
        records, geoms = self._issue_records()
        for rec, geom in zip(records, geoms, strict=True):
            rec["geometry"] = (
                None if geom is None or shapely.is_empty(geom) else shapely.geometry.mapping(geom)
            )
        return {
            "summary": self.summary,
            "issues": records,
            "grids": _records(self.grids),
            "communities": _records(self.communities),
        }

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The report as JSON (see :meth:`to_dict`); also written to ``path`` when given.

        One issue, grid or community per line; geometries are GeoJSON (RFC 7946,
        WGS 84) written by GEOS.
        """
        records, geoms = self._issue_records()
        missing = pd.isna(geoms)
        missing[~missing] = shapely.is_empty(geoms[~missing].astype(object))
        geojson = np.full(len(geoms), "null", dtype=object)
        if (~missing).any():
            geojson[~missing] = shapely.to_geojson(geoms[~missing])

        def dumps(value: Any) -> str:
            return json.dumps(value, ensure_ascii=False, default=_jsonable)

        def lines(items: list[str]) -> str:
            return "[\n  " + ",\n  ".join(items) + "\n ]" if items else "[]"

        issues = [
            dumps(rec)[:-1] + ', "geometry": ' + g + "}"
            for rec, g in zip(records, geojson, strict=True)
        ]
        text = (
            '{\n "summary": '
            + json.dumps(self.summary, ensure_ascii=False, indent=1, default=_jsonable)
            + ',\n "issues": '
            + lines(issues)
            + ',\n "grids": '
            + lines([dumps(r) for r in _records(self.grids)])
            + ',\n "communities": '
            + lines([dumps(r) for r in _records(self.communities)])
            + "\n}\n"
        )
        if path is not None:
            from gridgeo.io.atomic import write_text_atomic

            write_text_atomic(Path(path), text)
            log.info("wrote validation report %s (%d issues)", path, len(self.issues))
        return text

    def to_html(self, path: str | os.PathLike[str], *, max_maps: int = 200) -> Path:
        """A readable, self-contained HTML report with a small offline map per problem."""
        from gridgeo.validate.report_html import write_html

        return write_html(self, Path(path), max_maps=max_maps)

    def to_geopackage(self, path: str | os.PathLike[str], *, layer: str = "problems") -> Path:
        """Write the problem geometries to a GeoPackage that opens in QGIS.

        Polygonal problems go to ``layer`` (MultiPolygon; also rows without
        geometry), linear ones (road borders) to ``{layer}_lines``.
        """
        from gridgeo.validate._output import write_problem_layers

        return write_problem_layers(self.issues, Path(path), layer=layer)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the report in the format its extension names: ``.json``, ``.html`` or ``.gpkg``."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".json":
            self.to_json(path)
        elif suffix in (".html", ".htm"):
            self.to_html(path)
        elif suffix == ".gpkg":
            self.to_geopackage(path)
        else:
            raise ValueError(
                _("report {path}: use a .json, .html or .gpkg file name").format(path=path)
            )
        return path


def validate(
    grids: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    households: gpd.GeoDataFrame | None = None,
    roads: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    *,
    profile: Profile | str | None = None,
    staff: pd.DataFrame | None = None,
    checks: list[str | Check] | None = None,
    crs: Any = None,
) -> ValidationReport:
    """Check grids against the rules of ``profile``.

    Parameters
    ----------
    grids
        Grid polygons with ``grid_code``, ``community_code`` and ``grid_type``
        (any may be missing: that is reported, not fatal).
    communities
        Community/village polygons with ``code`` and optional ``kind``.
    households
        Household points with optional ``households`` weight. Without them the
        size rules are skipped and the in-band share is ``None``.
    roads
        Road centrelines; enables ``roads.border_share``.
    profile
        A :class:`~gridgeo.rules.Profile` or a profile name/path; default the setting
        ``GRIDGEO_PROFILE``.
    staff
        Table of posting attributes by ``grid_code``; enables ``posting.*``.
    checks
        Names from :data:`gridgeo.validate.checks.CHECKS` or check functions;
        default all.
    crs
        Metric CRS to work in (default: a CGCS2000 Gauss–Krüger zone from the data).

    Returns
    -------
    ValidationReport

    Raises
    ------
    InputError
        When the input is unusable (no CRS, no community ``code`` field,
        non-point households, bad weights), listing every problem.
    """
    profile = load_profile(profile)
    gs = GridSet.prepare(
        grids, communities, households, roads, profile=profile, staff=staff, crs=crs
    )
    issues = run_checks(gs, checks)
    report = build_report(gs, issues, checks=checks)
    log.info(
        "validated %d grids in %d communities: %d errors, %d warnings, in-band share %s",
        gs.n,
        len(gs.communities),
        report.errors,
        report.warnings,
        "n/a" if report.in_band_share is None else f"{report.in_band_share:.3f}",
    )
    return report


def in_band_summary(gs: GridSet) -> dict[str, Any]:
    """The in-band share and its parts (see the module docstring for the definition)."""
    if gs.households is None:
        return {"share": None, "in_band": 0, "counted": 0, "note": _("no household points given")}
    sizes = gs.size_table
    in_band = sizes["in_community_band"].to_numpy(dtype=bool)
    counted = sizes["counted_in_share"].to_numpy(dtype=bool)
    banded = sizes["counted_in_all_banded"].to_numpy(dtype=bool)
    comm = gs.community_table
    n, n_all = int(counted.sum()), int(banded.sum())
    k, k_all = int((in_band & counted).sum()), int((in_band & banded).sum())
    return {
        "share": k / n if n else None,
        "in_band": k,
        "counted": n,
        "share_all_banded": k_all / n_all if n_all else None,
        "in_band_all_banded": k_all,
        "counted_all_banded": n_all,
        "dedicated_grids": int(gs.dedicated.sum()),
        "feasible_communities": int(comm["feasible"].sum()),
        "infeasible_communities": int((~comm["feasible"]).sum()),
        "infeasible_banded_communities": comm.loc[
            comm["banded"] & ~comm["feasible"], "code"
        ].tolist(),
        "definition": _(IN_BAND_DEFINITION),
    }


def build_report(
    gs: GridSet, issues: list[Issue], *, checks: list[str | Check] | None = None
) -> ValidationReport:
    """Assemble a :class:`ValidationReport` from a grid set and the issues found on it."""
    frame = gpd.GeoDataFrame(
        {
            "rule": [i.rule for i in issues],
            "severity": [i.severity for i in issues],
            "grid_codes": [",".join(i.grid_codes) for i in issues],
            "community_code": [i.community_code for i in issues],
            "value": np.array(
                [np.nan if i.value is None else i.value for i in issues], dtype=float
            ),
            "message": [i.message for i in issues],
        },
        geometry=gpd.GeoSeries([i.geometry for i in issues], crs=gs.crs),
        crs=gs.crs,
    )
    frame["community_code"] = frame["community_code"].astype(object)
    if gs.source_crs is not None and len(frame):
        frame = frame.to_crs(gs.source_crs)
    elif gs.source_crs is not None:
        frame = frame.set_crs(gs.source_crs, allow_override=True)
    severity_order = {"error": 0, "warning": 1}
    rule_order = {r: k for k, r in enumerate(RULES)}
    frame = (
        frame.assign(_s=frame["severity"].map(severity_order), _r=frame["rule"].map(rule_order))
        .sort_values(["_s", "_r", "grid_codes"], kind="stable")
        .drop(columns=["_s", "_r"])
        .reset_index(drop=True)
    )

    per_grid = gs.size_table.copy()
    if gs.households is None:
        per_grid[["households", "in_band", "counted_in_share"]] = [np.nan, np.nan, False]
    road = None
    if gs.roads is not None:
        rb = gs.road_border
        per_grid["internal_border_m"] = rb["internal_m"].to_numpy()
        per_grid["road_border_share"] = rb["share"].to_numpy()
        total = rb["internal_m"].sum()
        road = {
            "share": float(rb["on_road_m"].sum() / total) if total > 0 else None,
            "share_drawn": float(rb["on_drawn_road_m"].sum() / total) if total > 0 else None,
            "internal_border_m": float(total),
            "on_road_m": float(rb["on_road_m"].sum()),
            "on_drawn_road_m": float(rb["on_drawn_road_m"].sum()),
            "divided_road_middles_m": float(shapely.length(gs.road_middles).sum())
            if gs.road_middles is not None
            else 0.0,
            "tolerance_m": gs.profile.quality.road_tolerance_m,
            "minimum_per_grid": gs.profile.quality.min_road_border_share,
        }
    by_rule = Counter(frame["rule"])
    households = (
        None
        if gs.households is None
        else {
            "points": len(gs.point_geoms),
            "total": float(gs.weights.sum()),
            "in_grids": float(gs.weights[gs.point_grid >= 0].sum()),
            "outside_grids": float(gs.weights[gs.point_grid < 0].sum()),
            "outside_communities": float(gs.weights[gs.point_community < 0].sum()),
        }
    )
    summary = {
        "profile": gs.profile.name,
        "metric_crs": gs.crs.to_string(),
        "grids": gs.n,
        "communities": len(gs.communities),
        "households": households,
        "errors": int((frame["severity"] == "error").sum()),
        "warnings": int((frame["severity"] == "warning").sum()),
        "grids_with_errors": len(
            {
                c
                for codes in frame.loc[frame["severity"] == "error", "grid_codes"]
                for c in codes.split(",")
                if c
            }
        ),
        "by_rule": {
            rule: {
                "severity": RULES[rule].severity,
                "count": by_rule.get(rule, 0),
                "title": RULES[rule].label,
            }
            for rule in RULES
            if by_rule.get(rule, 0)
        },
        "in_band": in_band_summary(gs),
        "road_border": road,
        "checks": list(CHECKS)
        if checks is None
        else [c if isinstance(c, str) else c.__name__ for c in checks],
    }
    grid_shapes = gpd.GeoDataFrame(
        {"grid_code": gs.labels.astype(str)}, geometry=gs.geoms, crs=gs.crs
    )
    community_shapes = gpd.GeoDataFrame(
        {"code": gs.community_codes}, geometry=gs.community_geoms, crs=gs.crs
    )
    if gs.source_crs is not None:
        grid_shapes = grid_shapes.to_crs(gs.source_crs)
        community_shapes = community_shapes.to_crs(gs.source_crs)
    return ValidationReport(
        frame, per_grid, gs.community_table.copy(), summary, grid_shapes, community_shapes
    )


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.replace({np.nan: None}).to_dict(orient="records")
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
