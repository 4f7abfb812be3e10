"""Write the public site: pages, data, assets (no inline scripts, no CDN).

Layout of the folder::

    index.html              communities by street (or county)
    c/<code>.html           one page per community
    data/<code>.json        its grids (GeoJSON, WGS 84 or GCJ-02) and posted contacts
    boards/board_<code>.pdf its printable board (when made)
    config.json             the basemap
    assets/                 public.js, public.css, leaflet/

Registry names and texts go into HTML through :func:`html.escape` and into the map
through ``textContent`` (``public.js``). Household and population counts are never read
(:func:`gridgeo.registry.posting.board_facts` drops them).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from gridgeo.crs import wgs84_to_gcj02
from gridgeo.errors import InputError
from gridgeo.i18n import _
from gridgeo.maps.boards import board_file, make_boards
from gridgeo.maps.boards.extent import area_words, describe_extents
from gridgeo.maps.offline import LEAFLET_VERSION, write_text_atomic
from gridgeo.registry.posting import ROLE_NAMES, BoardFacts, board_facts, communities

log = logging.getLogger(__name__)

TIANDITU_URL = (
    "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
    "&TILECOL={x}&tk={key}"
)


@dataclass(frozen=True)
class Basemap:
    """The public pages' basemap: ``none`` (offline), ``tianditu`` or ``gcj02``."""

    kind: str = "none"
    url: str | None = None
    attribution: str = ""

    @property
    def gcj02(self) -> bool:
        """Whether the overlay must be shifted to GCJ-02 to sit on the tiles."""
        return self.kind == "gcj02"


def basemap_from_settings(settings) -> Basemap:
    """The basemap configured by ``GRIDGEO_PUBLIC_BASEMAP`` and friends.

    Raises
    ------
    InputError
        For Tianditu without a key or tile URL, or GCJ-02 without a tile URL.
    """
    kind = settings.public_basemap
    if kind == "none":
        return Basemap()
    if kind == "tianditu":
        if not settings.tianditu_key and not settings.public_tile_url:
            raise InputError(_("basemap tianditu needs GRIDGEO_TIANDITU_KEY (or a mirror's URL)"))
        url = (settings.public_tile_url or TIANDITU_URL).replace(
            "{key}", settings.tianditu_key or ""
        )
        return Basemap("tianditu", url, "天地图")
    if not settings.public_tile_url:
        raise InputError(_("basemap gcj02 needs GRIDGEO_PUBLIC_TILE_URL (a GCJ-02 tile service)"))
    return Basemap("gcj02", settings.public_tile_url, "GCJ-02 底图")


@dataclass
class PublishResult:
    """What :func:`publish_site` wrote."""

    out: Path
    pages: list[Path] = field(default_factory=list)
    boards: int = 0
    seconds: float = 0.0


def _to_lonlat(gdf, gcj02: bool):
    wgs = gdf.to_crs(4326)
    if not gcj02:
        return wgs

    def shift(xy: np.ndarray) -> np.ndarray:
        lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    return wgs.set_geometry(shapely.transform(wgs.geometry.values, shift))


def _page_data(f: BoardFacts, extents: dict[str, str], basemap: Basemap) -> dict[str, Any]:
    grids = _to_lonlat(f.grids, basemap.gcj02)
    features = []
    for g, geom in zip(f.grids.itertuples(index=False), grids.geometry.values, strict=True):
        people = f.contacts[f.contacts["grid_code"] == g.grid_code]
        features.append(
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(shapely.set_precision(geom, 1e-6)),
                "properties": {
                    "grid_code": g.grid_code,
                    "grid_name": g.grid_name,
                    "short_code": str(g.grid_code)[-3:],
                    "extent": extents.get(g.grid_code, ""),
                    "area": area_words(g.geometry.area),
                    "contacts": [
                        {
                            "role": ROLE_NAMES.get(r.role, r.role),
                            "name": r.person_name,
                            "phone": r.phone,
                        }
                        for r in people.itertuples(index=False)
                    ],
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "community": {"code": f.community_code, "name": f.community_name},
        "crs": "GCJ-02" if basemap.gcj02 else "WGS 84",
        "supervision_phone": f.supervision_phone,
        "features": features,
    }


def _head(title: str, prefix: str) -> str:
    return (
        '<!doctype html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        '<link rel="icon" href="data:,">\n'
        f'<link rel="stylesheet" href="{prefix}assets/leaflet/leaflet.css">\n'
        f'<link rel="stylesheet" href="{prefix}assets/public.css">\n</head>\n'
    )


def _contacts_html(f: BoardFacts, code: str) -> str:
    rows = f.contacts[f.contacts["grid_code"] == code]
    items = [
        f"<li>{escape(ROLE_NAMES.get(r.role, r.role))}：{escape(str(r.person_name))}"
        + (f' <a href="tel:{escape(str(r.phone))}">{escape(str(r.phone))}</a>' if r.phone else "")
        + "</li>"
        for r in rows.itertuples(index=False)
    ]
    return '<ul class="people">' + "".join(items) + "</ul>" if items else "—"


def _community_page(f: BoardFacts, extents: dict[str, str], board: bool, as_of: str) -> str:
    e = escape
    rows = "".join(
        f'<tr data-grid="{e(g.grid_code)}"><td><b>{e(g.grid_name)}</b><br>'
        f'<span class="code">{e(g.grid_code)}</span></td>'
        f"<td>{e(extents.get(g.grid_code, ''))}<br>{e(area_words(g.geometry.area))}</td>"
        f"<td>{_contacts_html(f, g.grid_code)}</td></tr>"
        for g in f.grids.itertuples(index=False)
    )
    duties = "".join(
        f"<li><b>{e(ROLE_NAMES.get(d.role, d.role))}</b>：{e(d.text)}</li>" for d in f.duties
    )
    phone = e(f.supervision_phone or "（未登记）")
    board_link = (
        f'<a class="board" href="../boards/{e(board_file(f.community_code))}">打印公示牌（PDF）</a>'
        if board
        else ""
    )
    where = e(f.parent_name or "") if f.parent_name != f.parent_code else ""
    return (
        _head(f"{f.community_name} 网格公示", "../")
        + '<body>\n<header><a href="../index.html">← 全部社区</a>'
        f"<h1>{e(f.community_name)} 网格公示</h1>"
        f'<p class="meta">{where} 社区代码 {e(f.community_code)} · 登记版本 {e(as_of)} · '
        f"共 {len(f.grids)} 个网格</p>"
        f'<p class="phone">监督电话 <a href="tel:{phone}">{phone}</a> '
        f"<span>{e(f.supervision_label)}</span></p>{board_link}</header>\n"
        f'<main><div id="map" data-src="../data/{e(f.community_code)}.json" '
        'data-config="../config.json" role="region" aria-label="网格地图"></div>\n'
        '<section><h2>网格与联系人</h2><table class="grids"><thead><tr><th>网格（编号）</th>'
        f"<th>区域范围 · 面积</th><th>网格长与网格员</th></tr></thead><tbody>{rows}</tbody></table>"
        f'<h2>职责</h2><ul class="duties">{duties}</ul></section></main>\n'
        '<script src="../assets/leaflet/leaflet.js"></script>\n'
        '<script src="../assets/public.js"></script>\n</body>\n</html>\n'
    )


def _index_page(table, facts: dict[str, BoardFacts], as_of: str) -> str:
    e = escape
    parts = []
    for (parent, parent_name), group in table.groupby(["parent_code", "parent_name"], dropna=False):
        title = parent_name if isinstance(parent_name, str) and parent_name != parent else "街道"
        code = parent if isinstance(parent, str) else ""
        items = "".join(
            f'<li><a href="c/{e(r.code)}.html">{e(r.name)}</a> '
            f'<span class="code">{e(r.code)}</span> · {len(facts[r.code].grids)} 个网格</li>'
            for r in group.itertuples(index=False)
            if r.code in facts
        )
        parts.append(
            f'<section><h2>{e(title)} <span class="code">{e(code)}</span></h2>'
            f'<ul class="communities">{items}</ul></section>'
        )
    return (
        _head("网格公示", "")
        + f'<body>\n<header><h1>网格公示</h1><p class="meta">按街道列出的社区 · 登记版本 {e(as_of)}</p>'
        "</header>\n<main>" + "".join(parts) + "</main>\n</body>\n</html>\n"
    )


def _write(path: Path, text: str) -> None:
    """Atomic write, readable by the web server (mkstemp makes files 0600)."""
    write_text_atomic(path, text)
    os.chmod(path, 0o644)


def _copy_assets(out: Path) -> None:
    assets = out / "assets"
    leaflet = assets / "leaflet"
    if leaflet.exists():
        shutil.rmtree(leaflet)
    shutil.copytree(
        Path(str(resources.files("gridgeo.maps") / "static" / f"leaflet-{LEAFLET_VERSION}")),
        leaflet,
    )
    static = resources.files("gridgeo.publish") / "static"
    for name in ("public.js", "public.css"):
        (assets / name).write_bytes((static / name).read_bytes())


def publish_site(
    bind,
    out: Path,
    *,
    prefix: str | None = None,
    at: datetime | None = None,
    profile: str | None = None,
    basemap: Basemap | None = None,
    boards: bool = True,
    base_url: str = "",
    size: str = "A3",
    workers: int = 1,
) -> PublishResult:
    """Write the public site of the registry's communities (those under ``prefix``).

    Parameters
    ----------
    bind
        The registry.
    out
        The site's folder (created; files of a previous run are replaced).
    prefix
        County or street code; default: every community.
    at
        The date the pages show (default: now).
    basemap
        :class:`Basemap` (default none: offline).
    boards
        Also write each community's printable board (``boards/``), linked from its page.
    base_url
        Where ``out`` will be served (for the boards' QR codes).

    Raises
    ------
    NotFoundError
        When no community with grids is found.
    """
    from gridgeo.errors import NotFoundError

    t0 = time.perf_counter()
    basemap = basemap or Basemap()
    table = communities(bind, prefix)
    if table.empty:
        if prefix:
            raise NotFoundError(
                _("no community in the registry under {prefix}").format(prefix=prefix)
            )
        raise NotFoundError(_("no community in the registry"))
    facts = {
        f.community_code: f for f in board_facts(bind, list(table["code"]), at=at, profile=profile)
    }
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("c", "data"):
        (out / sub).mkdir(exist_ok=True)
    _copy_assets(out)
    _write(
        out / "config.json",
        json.dumps(
            {"basemap": basemap.kind, "tiles": basemap.url, "attribution": basemap.attribution},
            ensure_ascii=False,
        ),
    )
    as_of = max((f.version_date for f in facts.values() if f.version_date), default=None)
    as_of_text = (at or as_of).strftime("%Y-%m-%d") if (at or as_of) else "—"
    result = PublishResult(out)
    if boards:
        made = make_boards(
            bind,
            list(facts),
            out / "boards",
            base_url=base_url,
            size=size,
            at=at,
            profile=profile,
            workers=workers,
        )
        result.boards = len(made.boards)
    for code, f in facts.items():
        extents = describe_extents(f.grids, f.neighbours)
        _write(
            out / "data" / f"{code}.json",
            json.dumps(_page_data(f, extents, basemap), ensure_ascii=False, separators=(",", ":")),
        )
        page = out / "c" / f"{code}.html"
        _write(page, _community_page(f, extents, boards, as_of_text))
        result.pages.append(page)
    _write(out / "index.html", _index_page(table, facts, as_of_text))
    result.seconds = time.perf_counter() - t0
    log.info(
        "public site: %d pages, %d boards in %.1f s → %s",
        len(result.pages),
        result.boards,
        result.seconds,
        out,
    )
    return result
