"""The validation report as one self-contained HTML page: a map of the grids, then each
problem with a close-up drawn from that same map's data.

The page loads nothing from the internet: Leaflet is inlined once by
:mod:`gridgeo.maps.offline`, no basemap is used, and the grid, community and problem
geometries are embedded once (a JSON block, WGS 84). The overview map (always shown,
also for a clean report) and every problem's close-up (a small SVG drawn by the page's
script: the problem in red, the grids it names in blue, neighbouring grids and the
community outline in grey) are drawn from that one block, so a report of many problems
stays small. Headings follow ``GRIDGEO_LANG`` (:mod:`gridgeo.i18n`); names and messages are
inserted as text, never as HTML.
"""

from __future__ import annotations

import html
import json
import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import geopandas as gpd
import shapely
from branca.element import Figure

from gridgeo.i18n import _, language
from gridgeo.maps.offline import RawHtml, offline_map, save_offline
from gridgeo.settings import timezone_setting

if TYPE_CHECKING:
    from gridgeo.validate.core import ValidationReport

log = logging.getLogger(__name__)

#: Decimal places of the embedded lon/lat (1e-6° ≈ 0.1 m).
_DIGITS = 6

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
 svg.closeup { border: 1px solid #bbb; background: #fff; }
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
        f'<span class="error">{_e(_("{n} errors").format(n=s["errors"]))}</span>'
        if s["errors"]
        else f'<span class="ok">{_e(_("no errors"))}</span>'
    )
    band = s["in_band"]
    share = _("n/a") if band["share"] is None else f"{band['share']:.1%}"
    rows = [
        (_("profile"), s["profile"]),
        (_("grids"), s["grids"]),
        (_("communities"), s["communities"]),
        (_("result"), None),
        (_("warnings"), s["warnings"]),
        (_("grids with errors"), s["grids_with_errors"]),
        (
            _("in-band share"),
            _("{share} ({in_band} / {counted}; {n} × infeasible)").format(
                share=share,
                in_band=band.get("in_band", 0),
                counted=band.get("counted", 0),
                n=band.get("infeasible_communities", 0),
            ),
        ),
    ]
    if s.get("households"):
        h = s["households"]
        rows.append(
            (
                _("households"),
                _("{total} ({points} points; {outside} in no grid)").format(
                    total=f"{h['total']:,.0f}",
                    points=f"{h['points']:,}",
                    outside=f"{h['outside_grids']:,.0f}",
                ),
            )
        )
    if s.get("road_border") and s["road_border"]["share"] is not None:
        r = s["road_border"]
        rows.append(
            (
                _("internal borders on roads"),
                _("{share} / {length} m (± {tolerance} m)").format(
                    share=f"{r['share']:.1%}",
                    length=f"{r['internal_border_m']:,.0f}",
                    tolerance=f"{r['tolerance_m']:g}",
                ),
            )
        )
    rows.append((_("metric CRS"), s["metric_crs"]))
    rows.append((_("written"), _now()))
    result = _("result")
    body = "".join(
        f"<tr><th>{_e(k)}</th><td>{verdict if k == result else _e(v)}</td></tr>" for k, v in rows
    )
    rules = "".join(
        f'<tr><td><code>{_e(rule)}</code></td><td class="{_e(v["severity"])}">'
        f"{_e(_(v['severity']))}</td><td>{v['count']}</td><td>{_e(v['title'])}</td></tr>"
        for rule, v in s["by_rule"].items()
    )
    head = "".join(f"<th>{_e(_(c))}</th>" for c in ("rule", "severity", "count", "meaning"))
    rules_table = (
        f"<table><tr>{head}</tr>{rules}</table>"
        if rules
        else f"<p>{_e(_('No rule is broken.'))}</p>"
    )
    return (
        f"<h2>{_e(_('Summary'))}</h2><table>{body}</table>"
        f"<h2>{_e(_('Rules broken'))}</h2>{rules_table}"
    )


def _now() -> str:
    """Now, in the configured time zone (GRIDGEO_TIMEZONE, default Asia/Shanghai)."""
    return datetime.now(ZoneInfo(timezone_setting())).strftime("%Y-%m-%d %H:%M %Z")


def _features(gdf: gpd.GeoDataFrame | None, label: str) -> list[dict]:
    """Compact features ``{"l": label, "g": GeoJSON geometry}`` in WGS 84, rounded."""
    if gdf is None or not len(gdf) or gdf.crs is None:
        return []
    wgs = gdf.to_crs(4326)
    geoms = shapely.set_precision(wgs.geometry.values, 10**-_DIGITS)
    out = []
    for lab, geom in zip(wgs[label].astype(str), geoms, strict=True):
        if geom is None or shapely.is_empty(geom):
            out.append({"l": lab, "g": None})
            continue
        out.append({"l": lab, "g": json.loads(shapely.to_geojson(geom))})
    return out


def _data(report: ValidationReport, max_maps: int) -> dict:
    issues = report.issues
    problems = []
    if len(issues):
        frame = issues[["rule", "grid_codes", "community_code"]].copy()
        frame = gpd.GeoDataFrame(frame, geometry=issues.geometry.values, crs=issues.crs)
        frame["label"] = frame["rule"].astype(str)
        feats = _features(frame, "label") if frame.crs is not None else []
        for k, (f, row) in enumerate(zip(feats, issues.itertuples(index=False), strict=True)):
            codes = [] if row.grid_codes is None else str(row.grid_codes).split(",")
            problems.append(
                {
                    **f,
                    "k": k + 1,
                    "grids": [c.strip() for c in codes if c.strip()],
                    "community": None if row.community_code is None else str(row.community_code),
                    "draw": f["g"] is not None and k < max_maps,
                }
            )
    return {
        "grids": _features(report.grid_shapes, "grid_code"),
        "communities": _features(report.community_shapes, "code"),
        "problems": problems,
    }


def _json_block(data: dict) -> str:
    # "<" escaped: the block can never close its <script> element, whatever the names hold
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    return f'<script type="application/json" id="gridgeo-report-data">{text}</script>'


_SCRIPT = """
<script>
window.addEventListener('load', function () {
  var data = JSON.parse(document.getElementById('gridgeo-report-data').textContent);
  var LOOK = {community: ['#777777', 2, 0], grid: ['#999999', 1, 0.03],
              named: ['#3367d6', 2, 0.10], problem: ['#d93025', 3, 0.45]};
  function rings(g) {
    if (!g) return [];
    var t = g.type, c = g.coordinates;
    if (t === 'Polygon') return c;
    if (t === 'MultiPolygon') return [].concat.apply([], c);
    if (t === 'LineString') return [c];
    if (t === 'MultiLineString') return c;
    if (t === 'Point') return [[c]];
    if (t === 'MultiPoint') return c.map(function (p) { return [p]; });
    if (t === 'GeometryCollection') return [].concat.apply([], g.geometries.map(rings));
    return [];
  }
  function bbox(g) {
    var b = [Infinity, Infinity, -Infinity, -Infinity];
    rings(g).forEach(function (r) { r.forEach(function (p) {
      b[0] = Math.min(b[0], p[0]); b[1] = Math.min(b[1], p[1]);
      b[2] = Math.max(b[2], p[0]); b[3] = Math.max(b[3], p[1]); }); });
    return b;
  }
  function hits(a, b) { return a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3]; }
  [data.grids, data.communities, data.problems].forEach(function (fs) {
    fs.forEach(function (f) { f.b = f.g ? bbox(f.g) : null; });
  });
  var NS = 'http://www.w3.org/2000/svg';
  function closeup(svg, p) {
    var w = +svg.getAttribute('width'), h = +svg.getAttribute('height');
    var b = p.b, k = Math.cos((b[1] + b[3]) / 2 * Math.PI / 180);
    var dx = Math.max((b[2] - b[0]) * k, 0.0005), dy = Math.max(b[3] - b[1], 0.0005);
    var pad = Math.max(dx, dy) * 0.3;
    var win = [b[0] - pad / k, b[1] - pad, b[2] + pad / k, b[3] + pad];
    var s = Math.min(w / ((win[2] - win[0]) * k), h / (win[3] - win[1]));
    var cx = (win[0] + win[2]) / 2, cy = (win[1] + win[3]) / 2;
    function xy(q) {
      return ((q[0] - cx) * k * s + w / 2).toFixed(1) + ',' + (h / 2 - (q[1] - cy) * s).toFixed(1);
    }
    function draw(f, role) {
      var look = LOOK[role], d = '';
      rings(f.g).forEach(function (r) {
        d += 'M' + r.map(xy).join('L') + (f.g.type.indexOf('Polygon') >= 0 ? 'Z' : '');
      });
      var path = document.createElementNS(NS, 'path');
      path.setAttribute('d', d);
      path.setAttribute('stroke', look[0]);
      path.setAttribute('stroke-width', look[1]);
      path.setAttribute('fill', look[2] ? look[0] : 'none');
      path.setAttribute('fill-opacity', look[2]);
      path.setAttribute('fill-rule', 'evenodd');
      path.setAttribute('class', role);
      var title = document.createElementNS(NS, 'title');
      title.textContent = f.l;
      path.appendChild(title);
      svg.appendChild(path);
    }
    data.communities.forEach(function (c) {
      if (c.g && c.l === p.community) draw(c, 'community');
    });
    data.grids.forEach(function (g) {
      if (g.g && hits(g.b, win)) draw(g, p.grids.indexOf(g.l) >= 0 ? 'named' : 'grid');
    });
    draw(p, 'problem');
  }
  data.problems.forEach(function (p) {
    var svg = document.getElementById('closeup-' + p.k);
    if (svg && p.g) closeup(svg, p);
  });
  var map = window[document.getElementById('gridgeo-report-data').dataset.map];
  if (map && window.L) {
    var style = function (role) {
      var look = LOOK[role];
      return {color: look[0], weight: look[1], fillOpacity: look[2]};
    };
    function layer(fs, role) {
      var L_ = L.geoJSON(null, {style: style(role)});
      fs.forEach(function (f) {
        if (!f.g) return;
        var one = L.geoJSON({type: 'Feature', geometry: f.g, properties: {}}, {style: style(role)});
        one.bindTooltip(document.createTextNode(f.l), {sticky: true});
        one.addTo(L_);
      });
      return L_.addTo(map);
    }
    layer(data.communities, 'community');
    layer(data.grids, 'named');
    layer(data.problems, 'problem');
  }
});
</script>
"""


def _issue_html(k: int, row, draw: bool, size: tuple[int, int]) -> str:
    value = "" if row.value != row.value else f" · {_number(row.value)}"
    where = _("grids: {codes} · community: {community}").format(
        codes=row.grid_codes or "—", community=row.community_code or "—"
    )
    svg = (
        f'<div class="map"><svg class="closeup" id="closeup-{k}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{size[0]}" height="{size[1]}"></svg></div>'
        if draw
        else ""
    )
    return (
        f'<div class="issue" id="issue-{k}"><div class="text">'
        f'<div><b>#{k}</b> <span class="{_e(row.severity)}">{_e(_(row.severity))}</span> '
        f"<code>{_e(row.rule)}</code></div>"
        f"<p>{_e(row.message)}</p>"
        f'<div class="small">{_e(where)}{_e(value)}</div></div>{svg}</div>'
    )


def build_figure(
    report: ValidationReport, *, max_maps: int = 200, map_size: tuple[int, int] = (360, 260)
) -> Figure:
    """The report page as a :class:`branca.element.Figure` (maps not yet rendered).

    Parameters
    ----------
    report
        The validation result.
    max_maps
        Problems with a close-up at most (the first ones with a geometry).
    map_size
        Width and height of each close-up, pixels.
    """
    profile = report.summary["profile"]
    fig = Figure(title=_("Grid validation report ({profile})").format(profile=profile))
    fig.header.add_child(RawHtml(_CSS), name="report_css")
    lang = "zh-CN" if language() == "zh_CN" else "en"
    fig.header.add_child(
        RawHtml(f"<script>document.documentElement.lang = '{lang}';</script>"), name="lang"
    )
    add = fig.html.add_child
    add(RawHtml(f"<h1>{_e(_('Grid validation report ({profile})').format(profile=profile))}</h1>"))
    add(RawHtml(_summary_html(report)))
    data = _data(report, max_maps)
    add(RawHtml(f"<h2>{_e(_('Map of the grids'))}</h2>"))
    shapes = report.grid_shapes
    m = None
    if shapes is not None and len(shapes) and shapes.crs is not None:
        m = offline_map(shapes, width="100%", height=480)
        fig.html.add_child(RawHtml(""), name=m.get_name())
        m.add_to(fig)
    issues = report.issues
    if len(issues):
        add(RawHtml(f"<h2>{_e(_('Problems ({n})').format(n=len(issues)))}</h2>"))
    shown = 0
    for k, (row, p) in enumerate(
        zip(issues.itertuples(index=False), data["problems"] or [None] * len(issues), strict=True),
        start=1,
    ):
        draw = bool(p and p["draw"])
        shown += draw
        add(RawHtml(_issue_html(k, row, draw, map_size)))
    if shown < sum(1 for p in data["problems"] if p["g"] is not None):
        note = _(
            "Close-ups are drawn for the first {n} problems with a geometry; all geometries are "
            "in the GeoPackage output."
        ).format(n=shown)
        add(RawHtml(f'<p class="small">{_e(note)}</p>'))
    block = _json_block(data)
    if m is not None:
        block = block.replace("<script ", f'<script data-map="{m.get_name()}" ', 1)
    fig.html.add_child(RawHtml(block), name="report_data")
    # runs on "load": after the figure's own script has created the Leaflet map
    fig.html.add_child(RawHtml(_SCRIPT), name="report_js")
    return fig


def write_html(report: ValidationReport, path: Path, *, max_maps: int = 200) -> Path:
    """Write the report page to ``path`` (self-contained, offline, readable by others)."""
    fig = build_figure(report, max_maps=max_maps)
    out = save_offline(fig, path)
    log.info("wrote HTML report %s (%d problems)", path, len(report.issues))
    return out
