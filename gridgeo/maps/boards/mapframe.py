"""The board's map: grids in page coordinates, labels, border, north arrow, scale bar, legend.

:func:`layout_map` fits a community's grids (metric CRS) into a frame of the page and
places the labels (:mod:`.labels`); :func:`draw_map` draws the result on a reportlab
canvas. Everything is vector; text uses the embedded CJK font.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import shapely
from reportlab.lib import colors
from reportlab.pdfbase.pdfmetrics import stringWidth
from shapely import affinity

from gridgeo.maps.boards.fonts import FONT_NAME
from gridgeo.maps.boards.labels import Label, place_labels
from gridgeo.registry.posting import BoardFacts

FILLS = ["#fde2c8", "#d6ecd2", "#d5e3f5", "#f6d6e4", "#fff3b0", "#e2d9f3"]
BORDER = colors.HexColor("#b2182b")


def _width(s: str, size: float) -> float:
    return stringWidth(s, FONT_NAME, size)


def _colouring(geoms: list) -> list[int]:
    """Greedy colouring: touching grids get different fills."""
    tree = shapely.STRtree(geoms)
    out: list[int] = []
    for i, g in enumerate(geoms):
        used = {out[j] for j in tree.query(g, predicate="intersects") if j < i}
        out.append(
            next(k for k in range(len(FILLS)) if k not in used)
            if len(used) < len(FILLS)
            else i % len(FILLS)
        )
    return out


def _path(c, geom, *, fill: bool, stroke: bool) -> None:
    p = c.beginPath()
    for poly in getattr(geom, "geoms", [geom]):
        if poly.geom_type != "Polygon":
            continue
        for ring in [poly.exterior, *poly.interiors]:
            xy = list(ring.coords)
            p.moveTo(*xy[0])
            for x, y in xy[1:]:
                p.lineTo(x, y)
            p.close()
    c.drawPath(p, fill=int(fill), stroke=int(stroke), fillMode=0)


def _lines(c, geom) -> None:
    for line in getattr(geom, "geoms", [geom]):
        if line.geom_type != "LineString" or line.is_empty:
            continue
        xy = list(line.coords)
        p = c.beginPath()
        p.moveTo(*xy[0])
        for x, y in xy[1:]:
            p.lineTo(x, y)
        c.drawPath(p, stroke=1, fill=0)


def _nice_length(metres: float) -> float:
    for v in (20, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if v >= metres:
            return float(v)
    return 10000.0


@dataclass
class MapLayout:
    """A community map fitted into a page frame, with its labels."""

    frame: tuple[float, float, float, float]
    scale: float  # page points per metre
    geoms: list
    community: Any
    roads: list
    labels: list[Label]
    fills: list[int]


def layout_map(facts: BoardFacts, frame, roads: gpd.GeoDataFrame | None) -> MapLayout:
    fx0, fy0, fx1, fy1 = frame
    g = facts.grids
    minx, miny, maxx, maxy = g.total_bounds
    s = 0.92 * min((fx1 - fx0) / max(maxx - minx, 1.0), (fy1 - fy0) / max(maxy - miny, 1.0))
    ox = (fx0 + fx1) / 2 - s * (minx + maxx) / 2
    oy = (fy0 + fy1) / 2 - s * (miny + maxy) / 2
    matrix = [s, 0, 0, s, ox, oy]
    geoms = [affinity.affine_transform(x, matrix) for x in g.geometry.values]
    community = shapely.union_all(geoms).buffer(0)
    road_geoms = []
    if roads is not None and len(roads):
        r = roads.to_crs(g.crs) if roads.crs != g.crs else roads
        win = shapely.box(minx, miny, maxx, maxy).buffer(max(maxx - minx, maxy - miny) * 0.05)
        r = r[r.geometry.intersects(win)]
        road_geoms = [affinity.affine_transform(x, matrix) for x in r.geometry.values]
    short = [str(code)[-3:] for code in g["grid_code"]]
    labels = place_labels(
        geoms,
        [str(x) for x in g["grid_code"]],
        [str(x) for x in g["grid_name"]],
        short,
        width=_width,
        frame=frame,
    )
    return MapLayout(frame, s, geoms, community, road_geoms, labels, _colouring(geoms))


def draw_map(c, m: MapLayout, u: float) -> None:
    fx0, fy0, fx1, fy1 = m.frame
    c.saveState()
    p = c.beginPath()
    p.rect(fx0, fy0, fx1 - fx0, fy1 - fy0)
    c.clipPath(p, stroke=0, fill=0)
    c.setLineJoin(1)
    for geom, k in zip(m.geoms, m.fills, strict=True):
        c.setFillColor(colors.HexColor(FILLS[k]))
        _path(c, geom, fill=True, stroke=False)
    if m.roads:
        c.setStrokeColor(colors.HexColor("#9a9a9a"))
        c.setLineWidth(1.6 * u)
        for r in m.roads:
            _lines(c, r)
    c.setStrokeColor(colors.HexColor("#444444"))
    c.setLineWidth(0.7 * u)
    for geom in m.geoms:
        _path(c, geom, fill=False, stroke=True)
    c.setStrokeColor(BORDER)
    c.setLineWidth(2.2 * u)
    _path(c, m.community, fill=False, stroke=True)
    c.restoreState()
    for lb in m.labels:
        if not lb.inside:
            c.setStrokeColor(colors.HexColor("#333333"))
            c.setLineWidth(0.4 * u)
            cx = min(max(lb.anchor[0], lb.x0), lb.x1)
            cy = min(max(lb.anchor[1], lb.y0), lb.y1)
            c.line(lb.anchor[0], lb.anchor[1], cx, cy)
            c.setFillColor(colors.white)
            c.rect(lb.x0, lb.y0, lb.x1 - lb.x0, lb.y1 - lb.y0, fill=1, stroke=1)
        c.setFillColor(colors.black)
        mid = (lb.x0 + lb.x1) / 2
        small = lb.size * 0.8
        c.setFont(FONT_NAME, lb.size)
        c.drawCentredString(mid, lb.y1 - 1.5 - lb.size * 0.95, lb.name)
        c.setFont(FONT_NAME, small)
        c.setFillColor(colors.HexColor("#444444"))
        c.drawCentredString(mid, lb.y0 + 1.5 + small * 0.25, lb.code)
    c.setStrokeColor(colors.black)
    c.setLineWidth(0.8 * u)
    c.rect(fx0, fy0, fx1 - fx0, fy1 - fy0, fill=0, stroke=1)
    _north_arrow(c, fx1 - 22 * u, fy1 - 40 * u, u)
    _scale_bar(c, fx0 + 10 * u, fy0 + 10 * u, m.scale, (fx1 - fx0) * 0.25, u)
    _legend(c, fx1 - 96 * u, fy0 + 8 * u, u, bool(m.roads))


def _north_arrow(c, x: float, y: float, u: float) -> None:
    c.setFillColor(colors.black)
    p = c.beginPath()
    p.moveTo(x, y + 26 * u)
    p.lineTo(x - 7 * u, y)
    p.lineTo(x, y + 6 * u)
    p.lineTo(x + 7 * u, y)
    p.close()
    c.drawPath(p, fill=1, stroke=0)
    c.setFont(FONT_NAME, 10 * u)
    c.drawCentredString(x, y + 29 * u, "北")


def _scale_bar(c, x: float, y: float, scale: float, max_pt: float, u: float) -> None:
    metres = _nice_length(max_pt / scale * 0.8)
    while metres * scale > max_pt and metres > 20:
        metres /= 2
    length = metres * scale
    c.setFillColor(colors.white)
    c.rect(x - 3 * u, y - 3 * u, length + 40 * u, 20 * u, fill=1, stroke=0)
    c.setFillColor(colors.black)
    c.rect(x, y, length / 2, 3 * u, fill=1, stroke=1)
    c.setFillColor(colors.white)
    c.rect(x + length / 2, y, length / 2, 3 * u, fill=1, stroke=1)
    c.setFillColor(colors.black)
    c.setFont(FONT_NAME, 7 * u)
    c.drawString(x, y + 6 * u, "0")
    label = f"{metres / 1000:g} 千米" if metres >= 1000 else f"{metres:g} 米"
    c.drawString(x + length + 3 * u, y, label)


def _legend(c, x: float, y: float, u: float, roads: bool) -> None:
    rows = [("fill", "网格"), ("grid", "网格界线"), ("border", "社区界线")]
    if roads:
        rows.append(("road", "道路"))
    h = (len(rows) * 12 + 6) * u
    c.setFillColor(colors.white)
    c.setStrokeColor(colors.HexColor("#888888"))
    c.setLineWidth(0.5 * u)
    c.rect(x, y, 88 * u, h, fill=1, stroke=1)
    c.setFont(FONT_NAME, 7 * u)
    for i, (kind, text) in enumerate(reversed(rows)):
        yy = y + (4 + i * 12) * u
        if kind == "fill":
            c.setFillColor(colors.HexColor(FILLS[0]))
            c.setStrokeColor(colors.HexColor("#444444"))
            c.rect(x + 5 * u, yy, 16 * u, 8 * u, fill=1, stroke=1)
        else:
            col, lw = {"grid": ("#444444", 0.7), "border": (BORDER, 2.2), "road": ("#9a9a9a", 1.6)}[
                kind
            ]
            c.setStrokeColor(colors.HexColor(col) if isinstance(col, str) else col)
            c.setLineWidth(lw * u)
            c.line(x + 5 * u, yy + 4 * u, x + 21 * u, yy + 4 * u)
        c.setFillColor(colors.black)
        c.drawString(x + 26 * u, yy + 1 * u, text)
