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
from reportlab.lib import colors
from reportlab.lib.pagesizes import A2, A3, A4, landscape
from reportlab.lib.styles import ParagraphStyle
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

from gridgeo.maps.boards.extent import area_words, describe_extents
from gridgeo.maps.boards.fonts import FONT_NAME
from gridgeo.maps.boards.labels import Label
from gridgeo.maps.boards.mapframe import BORDER, draw_map, layout_map
from gridgeo.registry.posting import ROLE_NAMES, BoardFacts

PAGE_SIZES = {"A4": A4, "A3": A3, "A2": A2}


@dataclass
class BoardResult:
    """What :func:`render_board` drew: the file, its page count and the map's labels."""

    community_code: str
    path: Path
    pages: int
    page_size: tuple[float, float]
    labels: list[Label] = field(default_factory=list)
    url: str = ""


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


#: Short role names for the table (the duties below spell them out).
SHORT_ROLES = {"head": "网格长", "full_time": "专职", "part_time": "兼职", "professional": "专业"}


def _people(contacts: pd.DataFrame, style) -> Paragraph:
    """One line per person: role, name, phone (grid head first, as registered)."""
    parts = [
        f"<b>{SHORT_ROLES.get(r.role, _esc(r.role))}</b> {_esc(r.person_name)}  {_esc(r.phone)}"
        for r in contacts.itertuples(index=False)
    ]
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
    titles = ("网格（编号）", "区域范围 · 面积", "网格长 · 网格员 · 电话")
    rows = [[Paragraph(t, head) for t in titles]]
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
                _people(contacts, body),
            ]
        )
    widths = [w * width for w in (0.2, 0.36, 0.44)]
    table = Table(rows, colWidths=widths, repeatRows=1, hAlign="LEFT")
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
    m = layout_map(facts, map_frame, roads)
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
        draw_map(c, m, u)
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
    try:
        doc.build(story)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return BoardResult(facts.community_code, out, doc.page, (pw, ph), m.labels, url)
