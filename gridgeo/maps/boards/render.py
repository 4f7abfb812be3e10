"""Draw one community's noticeboard (网格公示牌) as a PDF with reportlab.

Page 1: title and dates on top; the map on the left (grids, labels, roads when given,
community border, north arrow, scale bar, legend); the grid table on the right; the
supervision phone large and the QR code to the public page at the bottom. Tables that
do not fit continue on further pages. All text is drawn with the embedded CJK font
(:mod:`gridgeo.maps.boards.fonts`), so it is selectable and searchable in the PDF.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import segno
import shapely
from reportlab.lib import colors
from reportlab.lib.pagesizes import A2, A3, A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import (
    BaseDocTemplate,
    Frame,
    NextPageTemplate,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)
from shapely import affinity

from gridgeo.maps.boards.extent import area_words, describe_extents
from gridgeo.maps.boards.fonts import FONT_NAME
from gridgeo.maps.boards.labels import Label, place_labels
from gridgeo.registry.posting import ROLE_NAMES, BoardFacts

PAGE_SIZES = {"A4": A4, "A3": A3, "A2": A2}
FILLS = ["#fde2c8", "#d6ecd2", "#d5e3f5", "#f6d6e4", "#fff3b0", "#e2d9f3"]
BORDER = colors.HexColor("#b2182b")


@dataclass
class BoardResult:
    """What :func:`render_board` drew: the file, its page count and the map's labels."""

    community_code: str
    path: Path
    pages: int
    page_size: tuple[float, float]
    labels: list[Label] = field(default_factory=list)
    url: str = ""


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
class _Map:
    frame: tuple[float, float, float, float]
    scale: float  # page points per metre
    geoms: list
    community: Any
    roads: list
    labels: list[Label]
    fills: list[int]


def _layout_map(facts: BoardFacts, frame, roads: gpd.GeoDataFrame | None) -> _Map:
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
    return _Map(frame, s, geoms, community, road_geoms, labels, _colouring(geoms))


def _draw_map(c, m: _Map, u: float) -> None:
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


def _qr(c, url: str, x: float, y: float, size: float) -> None:
    qr = segno.make(url, error="m", micro=False)
    matrix = [list(row) for row in qr.matrix]
    n = len(matrix) + 8  # quiet zone of 4 modules
    cell = size / n
    c.setFillColor(colors.white)
    c.rect(x, y, size, size, fill=1, stroke=0)
    c.setFillColor(colors.black)
    for r, row in enumerate(matrix):
        for k, v in enumerate(row):
            if v:
                c.rect(x + (k + 4) * cell, y + size - (r + 5) * cell, cell, cell, fill=1, stroke=0)


def _people(contacts: pd.DataFrame, roles: tuple[str, ...], style) -> Paragraph:
    rows = contacts[contacts["role"].isin(roles)]
    parts = []
    for r in rows.itertuples(index=False):
        who = _esc(r.person_name)
        role = "" if r.role == "head" else f"（{ROLE_NAMES.get(r.role, r.role)}）"
        parts.append(f"{who}{role}<br/>{_esc(r.phone)}" if r.phone else f"{who}{role}")
    return Paragraph("<br/>".join(parts) or "—", style)


def _esc(value: Any) -> str:
    from html import escape

    return escape(str(value if value is not None else ""), quote=False)


def _story(facts: BoardFacts, extents: dict[str, str], u: float, width: float) -> list:
    body = ParagraphStyle(
        "b", fontName=FONT_NAME, fontSize=7.5 * u, leading=9.5 * u, wordWrap="CJK"
    )
    head = ParagraphStyle("h", parent=body, fontSize=8 * u, textColor=colors.white)
    note = ParagraphStyle("n", parent=body, fontSize=7 * u, leading=9 * u)
    rows = [[Paragraph(t, head) for t in ("网格（编号）", "区域范围 · 面积", "网格长", "网格员")]]
    by_grid = dict(tuple(facts.contacts.groupby("grid_code", sort=False)))
    empty = facts.contacts.iloc[:0]
    for g in facts.grids.itertuples(index=False):
        contacts = by_grid.get(g.grid_code, empty)
        rows.append(
            [
                Paragraph(f"<b>{_esc(g.grid_name)}</b><br/>{_esc(g.grid_code)}", body),
                Paragraph(
                    f"{_esc(extents.get(g.grid_code, ''))}<br/>{area_words(g.geometry.area)}", body
                ),
                _people(contacts, ("head",), body),
                _people(contacts, ("full_time", "part_time", "professional"), body),
            ]
        )
    widths = [w * width for w in (0.22, 0.36, 0.18, 0.24)]
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#b2182b")),
                ("GRID", (0, 0), (-1, -1), 0.4 * u, colors.HexColor("#888888")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f4f4f4")]),
                ("LEFTPADDING", (0, 0), (-1, -1), 3 * u),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3 * u),
            ]
        )
    )
    story: list = [NextPageTemplate("later"), table, Spacer(1, 6 * u)]
    story.append(Paragraph("<b>职责</b>", body))
    for d in facts.duties:
        story.append(Paragraph(f"<b>{ROLE_NAMES.get(d.role, d.role)}：</b>{_esc(d.text)}", note))
    sources = sorted({d.source for d in facts.duties if d.source})
    if sources:
        story.append(Paragraph("依据：" + "；".join(_esc(s) for s in sources), note))
    return story


def render_board(
    facts: BoardFacts,
    out: Path,
    *,
    size: str = "A3",
    url: str,
    roads: gpd.GeoDataFrame | None = None,
) -> BoardResult:
    """Write one community's board to ``out`` (PDF).

    Parameters
    ----------
    facts
        What the registry posts for the community (:func:`gridgeo.registry.posting.board_facts`).
    size
        ``A4``, ``A3`` or ``A2`` (landscape).
    url
        The community's public page (the QR code and the printed address).
    roads
        Optional roads (with ``name``) to draw and to name the bounding roads.
    """
    page = landscape(PAGE_SIZES[size])
    pw, ph = page
    u = pw / landscape(A4)[0]
    margin = 18 * u
    title_h, foot_h = 58 * u, 92 * u
    map_frame = (margin, margin + foot_h, margin + 0.56 * (pw - 2 * margin), ph - margin - title_h)
    m = _layout_map(facts, map_frame, roads)
    extents = describe_extents(facts.grids, facts.neighbours, roads)
    tx0 = map_frame[2] + 12 * u
    table_w = pw - margin - tx0

    def first(c, doc) -> None:
        c.setTitle(f"{facts.community_name} 网格公示")
        c.setFillColor(BORDER)
        c.setFont(FONT_NAME, 22 * u)
        c.drawString(margin, ph - margin - 24 * u, f"{facts.community_name} 网格公示牌")
        c.setFillColor(colors.black)
        c.setFont(FONT_NAME, 8.5 * u)
        version = facts.version_date.strftime("%Y-%m-%d") if facts.version_date else "—"
        posted = facts.posted_on.isoformat() if facts.posted_on else "—"
        where = (
            f"{facts.parent_name}（{facts.parent_code}） "
            if facts.parent_name and facts.parent_name != facts.parent_code
            else (f"{facts.parent_code} " if facts.parent_code else "")
        )
        c.drawString(
            margin,
            ph - margin - 42 * u,
            f"{where}社区代码 {facts.community_code} · 登记版本 {version} · 公示日期 {posted}"
            f" · 共 {len(facts.grids)} 个网格",
        )
        _draw_map(c, m, u)
        # the supervision phone, large; the QR code beside it
        c.setFillColor(BORDER)
        c.setFont(FONT_NAME, 13 * u)
        c.drawString(margin, margin + 62 * u, "监督电话")
        c.setFont(FONT_NAME, 30 * u)
        c.drawString(margin, margin + 26 * u, facts.supervision_phone or "（未登记）")
        c.setFillColor(colors.black)
        c.setFont(FONT_NAME, 8 * u)
        c.drawString(margin, margin + 10 * u, facts.supervision_label or "")
        qr = 84 * u
        qx = pw - margin - qr
        _qr(c, url, qx, margin, qr)
        c.setFont(FONT_NAME, 7.5 * u)
        c.drawRightString(qx - 6 * u, margin + 48 * u, "扫码查看网上公示页")
        c.drawRightString(qx - 6 * u, margin + 36 * u, url)

    def later(c, doc) -> None:
        c.setFont(FONT_NAME, 10 * u)
        c.drawString(margin, ph - margin - 12 * u, f"{facts.community_name} 网格公示牌（续）")
        c.setFont(FONT_NAME, 8 * u)
        c.drawString(
            margin, margin, f"监督电话 {facts.supervision_phone or '（未登记）'} · 第 {doc.page} 页"
        )

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    doc = BaseDocTemplate(
        str(tmp),
        pagesize=page,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin,
        title=f"{facts.community_name} 网格公示",
        author="gridgeo",
        subject=f"community {facts.community_code}",
        initialFontName=FONT_NAME,
        initialFontSize=10,
    )
    right = Frame(
        tx0,
        margin + foot_h,
        table_w,
        ph - 2 * margin - title_h - foot_h,
        id="right",
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    full = Frame(
        margin,
        margin + 16 * u,
        pw - 2 * margin,
        ph - 2 * margin - 36 * u,
        id="full",
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    doc.addPageTemplates(
        [PageTemplate("first", [right], onPage=first), PageTemplate("later", [full], onPage=later)]
    )
    story = _story(facts, extents, u, table_w)
    doc.build(story)
    tmp.replace(out)
    return BoardResult(facts.community_code, out, doc.page, (pw, ph), m.labels, url)
