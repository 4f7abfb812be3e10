"""The validation report as one self-contained HTML page with a small offline map per problem.

The page loads nothing from the internet: Leaflet is inlined once by
:mod:`gridgeo.maps.offline` and no basemap is used; each map shows the problem
(red), the grids it names (blue) and neighbouring grids and the community
outline (grey) for orientation.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Figure

from gridgeo.maps.offline import RawHtml, add_geodataframe, offline_map, save_offline

if TYPE_CHECKING:
    from gridgeo.validate.core import ValidationReport

log = logging.getLogger(__name__)

_CSS = """
<style>
 /* !important: each folium map adds "html, body {height: 100%; margin: 0}" */
 html, body { height: auto !important; }
 body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif;
        margin: 1.5em auto !important; padding: 0 1em !important; max-width: 1100px; color: #222; }
 h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
 table { border-collapse: collapse; margin: .5em 0; font-size: .9em; }
 th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
 th { background: #f3f3f3; }
 .error { color: #b00020; font-weight: bold; } .warning { color: #a15c00; font-weight: bold; }
 .ok { color: #137333; font-weight: bold; }
 .issue { border: 1px solid #ddd; border-radius: 4px; padding: .6em; margin: .8em 0;
          display: flex; gap: 1em; align-items: flex-start; }
 .issue .text { flex: 1; } .issue .map { flex: none; }
 .folium-map { border: 1px solid #bbb; }
 .small { color: #666; font-size: .85em; }
</style>
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _number(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _summary_html(report: ValidationReport) -> str:
    s = report.summary
    verdict = (
        f'<span class="error">{s["errors"]} errors</span>'
        if s["errors"]
        else '<span class="ok">no errors</span>'
    )
    band = s["in_band"]
    share = "n/a" if band["share"] is None else f"{band['share']:.1%}"
    rows = [
        ("profile", s["profile"]),
        ("grids", s["grids"]),
        ("communities", s["communities"]),
        ("result", None),
        ("warnings", s["warnings"]),
        ("grids with errors", s["grids_with_errors"]),
        (
            "in-band share",
            f"{share} ({band.get('in_band', 0)} of {band.get('counted', 0)} grids in feasible "
            f"communities; {band.get('infeasible_communities', 0)} communities cannot meet the band)",
        ),
    ]
    if s.get("households"):
        h = s["households"]
        rows.append(
            (
                "households",
                f"{h['total']:,.0f} from {h['points']:,} points; {h['outside_grids']:,.0f} in no grid",
            )
        )
    if s.get("road_border") and s["road_border"]["share"] is not None:
        r = s["road_border"]
        rows.append(
            (
                "internal border on roads",
                f"{r['share']:.1%} of {r['internal_border_m']:,.0f} m (tolerance {r['tolerance_m']:g} m)",
            )
        )
    rows.append(("metric CRS", s["metric_crs"]))
    body = "".join(
        f"<tr><th>{_e(k)}</th><td>{verdict if k == 'result' else _e(v)}</td></tr>" for k, v in rows
    )
    rules = "".join(
        f'<tr><td><code>{_e(rule)}</code></td><td class="{_e(v["severity"])}">{_e(v["severity"])}</td>'
        f"<td>{v['count']}</td><td>{_e(v['title'])}</td></tr>"
        for rule, v in s["by_rule"].items()
    )
    rules_table = (
        "<table><tr><th>rule</th><th>severity</th><th>count</th><th>meaning</th></tr>"
        f"{rules}</table>"
        if rules
        else "<p>No rule is broken.</p>"
    )
    return f"<h2>Summary</h2><table>{body}</table><h2>Rules broken</h2>{rules_table}"


def _context(shapes: gpd.GeoDataFrame | None, geom: object, pad: float) -> gpd.GeoDataFrame | None:
    if shapes is None or geom is None or shapely.is_empty(geom):
        return None
    minx, miny, maxx, maxy = shapely.bounds(geom)
    window = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    idx = shapes.sindex.query(window, predicate="intersects")
    return shapes.iloc[np.sort(idx)]


def _issue_map(report: ValidationReport, row, width: int, height: int):
    geom = row.geometry
    frame = gpd.GeoDataFrame({"rule": [row.rule]}, geometry=[geom], crs=report.issues.crs)
    metric = frame.to_crs(report.summary["metric_crs"])
    minx, miny, maxx, maxy = metric.total_bounds
    pad = max(maxx - minx, maxy - miny, 50.0) * 0.3
    view = gpd.GeoSeries(
        [shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)], crs=metric.crs
    )
    m = offline_map(view, width=width, height=height, padding=0.0, zoom_control=False)
    # one GeoJSON layer, drawn in this order: community, other grids, named grids, problem
    parts = []
    comm = report.community_shapes
    if comm is not None and row.community_code is not None:
        own = comm[comm["code"] == row.community_code]
        parts.append(_layer(own, own["code"], "community"))
    near = _context(report.grid_shapes, geom, pad)
    if near is not None and len(near):
        named = near["grid_code"].astype(str).isin(set(str(row.grid_codes).split(",")))
        parts.append(_layer(near[~named], near.loc[~named, "grid_code"], "grid"))
        parts.append(_layer(near[named], near.loc[named, "grid_code"], "named"))
    parts.append(_layer(frame, frame["rule"], "problem"))
    layer = pd.concat([p for p in parts if len(p)], ignore_index=True)
    add_geodataframe(m, layer, tooltip=["label"], style_by="role", styles=_LOOKS)
    return m


_LOOKS = {
    "community": {"color": "#777777", "weight": 2, "fillOpacity": 0.0},
    "grid": {"color": "#999999", "weight": 1, "fillOpacity": 0.03},
    "named": {"color": "#3367d6", "weight": 2, "fillOpacity": 0.08},
    "problem": {"color": "#d93025", "weight": 3, "fillOpacity": 0.45},
}


def _layer(gdf: gpd.GeoDataFrame, labels, role: str) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"label": labels.astype(str).to_numpy(), "role": role},
        geometry=gdf.geometry.to_numpy(),
        crs=gdf.crs,
    )


def build_figure(
    report: ValidationReport, *, max_maps: int = 200, map_size: tuple[int, int] = (360, 260)
) -> Figure:
    """The report page as a :class:`branca.element.Figure` (maps not yet rendered)."""
    fig = Figure(title=f"gridgeo validation — {report.summary['profile']}")
    fig.header.add_child(RawHtml(_CSS), name="report_css")
    add = fig.html.add_child
    add(RawHtml(f"<h1>Grid validation report ({_e(report.summary['profile'])})</h1>"))
    add(RawHtml(_summary_html(report)))
    issues = report.issues
    if not len(issues):
        return fig
    shown = 0
    add(RawHtml(f"<h2>Problems ({len(issues)})</h2>"))
    for k, row in enumerate(issues.itertuples(index=False)):
        value = "" if row.value != row.value else f" · value {_number(row.value)}"
        text = (
            f'<div class="issue" id="issue-{k + 1}"><div class="text">'
            f'<div><b>#{k + 1}</b> <span class="{_e(row.severity)}">{_e(row.severity)}</span> '
            f"<code>{_e(row.rule)}</code></div>"
            f"<p>{_e(row.message)}</p>"
            f'<div class="small">grids: {_e(row.grid_codes) or "—"} · community: '
            f"{_e(row.community_code) or '—'}{_e(value)}</div></div>"
        )
        has_geom = row.geometry is not None and not shapely.is_empty(row.geometry)
        if has_geom and shown < max_maps:
            add(RawHtml(text + '<div class="map">'))
            m = _issue_map(report, row, *map_size)
            # The map writes its <div> into fig.html under its own name when it
            # renders; a placeholder with that name keeps the div in this place.
            fig.html.add_child(RawHtml(""), name=m.get_name())
            m.add_to(fig)
            add(RawHtml("</div></div>"))
            shown += 1
        else:
            add(RawHtml(text + "</div>"))
    if shown < len(issues):
        add(
            RawHtml(
                f'<p class="small">Maps are shown for the first {shown} problems with a geometry; '
                "all geometries are in the GeoPackage output.</p>"
            )
        )
    return fig


def write_html(report: ValidationReport, path: Path, *, max_maps: int = 200) -> Path:
    """Write the report page to ``path`` (self-contained, offline)."""
    fig = build_figure(report, max_maps=max_maps)
    out = save_offline(fig, path)
    log.info("wrote HTML report %s (%d problems)", path, len(report.issues))
    return out
