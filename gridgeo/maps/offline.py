"""Folium maps that render with no internet: vendored Leaflet, inlined, and no online tiles.

Government intranets cannot reach a CDN. Folium's :class:`folium.Map`
links Leaflet, jQuery, Bootstrap and Font Awesome from CDNs; :class:`OfflineMap`
links nothing. When it renders, it puts the vendored Leaflet (``static/``, see its
README for version and licence) inline into the page head, with Leaflet's images as
``data:`` URIs, and then replaces every other ``<script src>``/``<link href>`` a
plugin added by a vendored copy, or raises :class:`OfflineAssetError` naming the
asset when there is none. No basemap is added unless ``tiles`` is given (e.g. an
intranet Tianditu mirror); a tile URL is a data request, not a script, and is the
caller's explicit choice.

Several maps may share one :class:`branca.element.Figure` (e.g. a report with a
small map per problem): the assets are inlined once.

Examples
--------
>>> m = offline_map(gdf, width=400, height=300)          # doctest: +SKIP
>>> add_geodataframe(m, gdf, tooltip=["grid_code"])     # doctest: +SKIP
>>> save_offline(m, "grids.html")                        # doctest: +SKIP
"""

from __future__ import annotations

import base64
import functools
import html
import logging
import os
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
from branca.element import CssLink, Element, Figure, JavascriptLink

from gridgeo.errors import GridgeoError
from gridgeo.io.atomic import write_text_atomic

log = logging.getLogger(__name__)

LEAFLET_VERSION = "1.9.4"
_LEAFLET_DIR = f"leaflet-{LEAFLET_VERSION}"

#: Vendored assets by the names folium and its plugins register them under:
#: name -> (kind, path inside ``gridgeo/maps/static``). Add a plugin's files to
#: ``static/`` (with its licence in the README) and a line here to use it offline.
ASSETS: dict[str, tuple[str, str]] = {
    "leaflet": ("js", f"{_LEAFLET_DIR}/leaflet.js"),
    "leaflet_css": ("css", f"{_LEAFLET_DIR}/leaflet.css"),
}

#: Folium's default links that an offline map does not need (jQuery, Bootstrap,
#: Font Awesome and awesome-markers only serve ``folium.Icon`` markers).
_UNNEEDED = {
    "jquery",
    "bootstrap",
    "awesome_markers",
    "bootstrap_css",
    "glyphicons_css",
    "awesome_markers_font_css",
    "awesome_markers_css",
    "awesome_rotate_css",
}

_EXTERNAL_REF = re.compile(
    r"""<script[^>]*\bsrc\s*=\s*["']?\s*(?:https?:)?//[^"'\s>]+"""
    r"""|<link[^>]*\bhref\s*=\s*["']?\s*(?:https?:)?//[^"'\s>]+"""
    r"""|@import\s+(?:url\()?\s*["']?(?:https?:)?//[^"')\s]+"""
    r"""|url\(\s*["']?(?:https?:)?//[^"')\s]+""",
    re.IGNORECASE,
)


class RawHtml(Element):
    """HTML inserted as is (a plain :class:`~branca.element.Element` would compile its
    text as a Jinja template: slow for large scripts, and wrong for text with ``{{``)."""

    def __init__(self, html: str):
        super().__init__()
        self._html = html

    def render(self, **kwargs: Any) -> str:
        return self._html


class OfflineAssetError(GridgeoError, RuntimeError):
    """A map needs a script or stylesheet from the internet that gridgeo does not vendor."""


def _static(relpath: str) -> bytes:
    return (resources.files("gridgeo.maps") / "static" / relpath).read_bytes()


@functools.cache
def asset_text(name: str) -> str:
    """The vendored asset ``name`` (see :data:`ASSETS`) as text, CSS images inlined."""
    try:
        kind, relpath = ASSETS[name]
    except KeyError:
        raise OfflineAssetError(
            f"no vendored asset named {name!r}; known: {sorted(ASSETS)}"
        ) from None
    text = _static(relpath).decode("utf-8")
    # a source map would be fetched (from beside the page) when devtools open
    text = re.sub(r"^\s*(//|/\*)# sourceMappingURL=.*$", "", text, flags=re.M)
    if kind == "css":
        folder = relpath.rsplit("/", 1)[0]

        def inline(match: re.Match[str]) -> str:
            target = match.group(2)
            if target.startswith(("data:", "#")) or "//" in target:
                return match.group(0)
            return f'url("{_data_uri(f"{folder}/{target}")}")'

        text = re.sub(r"url\((['\"]?)([^'\")]+)\1\)", inline, text)
    return text


def _data_uri(relpath: str) -> str:
    mime = "image/png" if relpath.endswith(".png") else "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(_static(relpath)).decode('ascii')}"


@functools.cache
def _leaflet_icon_fix() -> str:
    # Leaflet finds its default marker images through a CSS url; with data URIs
    # that detection fails, so set the image URLs explicitly.
    img = f"{_LEAFLET_DIR}/images"
    return (
        "L.Icon.Default.imagePath = '';"
        "L.Icon.Default.mergeOptions({"
        f"iconUrl: '{_data_uri(img + '/marker-icon.png')}',"
        f"iconRetinaUrl: '{_data_uri(img + '/marker-icon-2x.png')}',"
        f"shadowUrl: '{_data_uri(img + '/marker-shadow.png')}'"
        "});"
    )


def _inline_element(name: str) -> Element:
    kind, _ = ASSETS[name]
    if kind == "js":
        extra = _leaflet_icon_fix() if name == "leaflet" else ""
        return RawHtml(f"<script>{asset_text(name)}\n{extra}</script>")
    return RawHtml(f"<style>{asset_text(name)}</style>")


def _uses_icons(element: Element) -> bool:
    stack = [element]
    while stack:
        item = stack.pop()
        if isinstance(item, folium.Icon):
            return True
        stack.extend(item._children.values())
        if isinstance(item, Figure):
            stack.extend((item.header, item.html, item.script))
    return False


def _is_external(url: str) -> bool:
    return bool(re.match(r"^\s*(?:https?:)?//", str(url), re.IGNORECASE))


def make_figure_offline(figure: Figure, *, scope: Element | None = None) -> None:
    """Replace the external script/stylesheet links in ``figure``'s head by inline copies.

    Folium's own links that a plain map does not need are dropped; a link to an
    asset gridgeo does not vendor raises :class:`OfflineAssetError`, and so does a
    ``folium.Icon`` anywhere in ``scope`` (default: the whole figure).
    """
    if _uses_icons(scope if scope is not None else figure):
        raise OfflineAssetError(
            "folium.Icon needs Bootstrap and Font Awesome, which are not vendored; "
            "use folium.CircleMarker, a DivIcon or the default marker instead"
        )
    header = figure.header
    missing = []
    for name, child in list(header._children.items()):
        if not isinstance(child, JavascriptLink | CssLink) or not _is_external(child.url):
            continue
        if name in ASSETS:
            header._children[name] = _inline_element(name)
        elif name in _UNNEEDED:
            del header._children[name]
        else:
            missing.append(f"{name} ({child.url})")
    if missing:
        raise OfflineAssetError(
            "the map uses assets that are not vendored for offline use: "
            + ", ".join(missing)
            + "; add them to gridgeo/maps/static/ and gridgeo.maps.offline.ASSETS"
        )


class OfflineMap(folium.Map):
    """A :class:`folium.Map` that loads nothing from the internet (see module docstring)."""

    default_js: list[tuple[str, str]] = []  # noqa: RUF012 - folium's class-level API
    default_css: list[tuple[str, str]] = []  # noqa: RUF012

    def __init__(self, *args: Any, tiles: Any = None, **kwargs: Any):
        super().__init__(*args, tiles=tiles, **kwargs)
        # instance lists: folium's add_js_link mutates them in place
        self.default_js = []
        self.default_css = []

    def render(self, **kwargs: Any) -> None:
        figure = self.get_root()
        if isinstance(figure, Figure):
            # Leaflet first, so plugins rendered after it can use it.
            for name in ("leaflet_css", "leaflet"):
                if name not in figure.header._children:
                    figure.header.add_child(_inline_element(name), name=name)
        super().render(**kwargs)
        if isinstance(figure, Figure):
            make_figure_offline(figure, scope=self)


def _bounds_wgs84(data: Any, crs: Any) -> tuple[float, float, float, float]:
    if isinstance(data, gpd.GeoDataFrame | gpd.GeoSeries):
        if data.crs is None:
            raise OfflineAssetError("offline_map: the GeoDataFrame has no CRS; set one first")
        geo = data.to_crs(4326) if not data.crs.equals("EPSG:4326") else data
        minx, miny, maxx, maxy = (float(v) for v in geo.total_bounds)
    else:
        if len(data) != 4:
            raise ValueError("offline_map: bounds must be (minx, miny, maxx, maxy)")
        minx, miny, maxx, maxy = (float(v) for v in data)
        if crs is not None:
            from gridgeo.crs import cached_transformer

            tr = cached_transformer(crs, 4326)
            minx, miny, maxx, maxy = tr.transform_bounds(minx, miny, maxx, maxy)
    if not all(map(lambda v: v == v, (minx, miny, maxx, maxy))):  # NaN: empty data
        raise ValueError("offline_map: the data is empty, so there is nothing to fit the map to")
    return minx, miny, maxx, maxy


def offline_map(
    data: gpd.GeoDataFrame | gpd.GeoSeries | Sequence[float],
    *,
    crs: Any = None,
    width: int | str = "100%",
    height: int | str = "100%",
    tiles: Any = None,
    attr: str | None = None,
    padding: float = 0.05,
    max_zoom: int = 19,
    **map_kwargs: Any,
) -> OfflineMap:
    """An offline folium map fitted to the extent of ``data``.

    Parameters
    ----------
    data
        A GeoDataFrame/GeoSeries with a CRS (any; reprojected to WGS 84 for the
        map), or bounds ``(minx, miny, maxx, maxy)`` in ``crs`` (default WGS 84).
        Nothing is drawn: add layers with :func:`add_geodataframe` or folium.
    crs
        CRS of ``data`` when it is a bounds tuple.
    width, height
        Size of the map element (pixels or CSS lengths).
    tiles
        ``None`` (default): no basemap. Else any folium ``tiles`` value, e.g. the
        URL template of an intranet tile server (pass ``attr`` too).
    padding
        Margin around the data, as a share of its extent.
    max_zoom
        Largest zoom level the map may fit to (small extents stay readable).
    **map_kwargs
        Passed to :class:`folium.Map` (e.g. ``zoom_control=False``).

    Returns
    -------
    OfflineMap
    """
    minx, miny, maxx, maxy = _bounds_wgs84(data, crs)
    dx, dy = (maxx - minx) * padding, (maxy - miny) * padding
    south_west, north_east = [miny - dy, minx - dx], [maxy + dy, maxx + dx]
    m = OfflineMap(
        location=[(miny + maxy) / 2, (minx + maxx) / 2],
        width=width,
        height=height,
        tiles=tiles,
        attr=attr,
        max_zoom=max_zoom,
        control_scale=map_kwargs.pop("control_scale", True),
        **map_kwargs,
    )
    m.fit_bounds([south_west, north_east], max_zoom=max_zoom)
    return m


def add_geodataframe(
    m: folium.Map,
    gdf: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    name: str | None = None,
    color: str = "#3367d6",
    weight: float = 2.0,
    fill_color: str | None = None,
    fill_opacity: float = 0.15,
    tooltip: Sequence[str] | None = None,
    style_by: str | None = None,
    styles: Mapping[str, Mapping[str, Any]] | None = None,
) -> folium.GeoJson:
    """Draw ``gdf`` on ``m`` as a GeoJSON layer (reprojected to WGS 84).

    Parameters
    ----------
    m
        The map.
    gdf
        Features with a CRS. Only the ``tooltip`` columns and the geometry are
        written into the page (household points or personal data never leak by
        accident).
    name
        Layer name (shown in a layer control).
    color, weight, fill_color, fill_opacity
        Leaflet path style.
    tooltip
        Columns to show when hovering.
    style_by, styles
        Style features by the value of column ``style_by``: ``styles[value]``
        holds Leaflet path options (``color``, ``weight``, ``fillOpacity`` …)
        that override the defaults above. One layer with several looks is much
        cheaper to render than one layer per look.

    Returns
    -------
    folium.GeoJson
    """
    if isinstance(gdf, gpd.GeoSeries):
        gdf = gdf.to_frame("geometry")
    if gdf.crs is None:
        raise OfflineAssetError("add_geodataframe: the GeoDataFrame has no CRS; set one first")
    cols = list(tooltip or [])
    keep = [*cols, *([style_by] if style_by and style_by not in cols else [])]
    data = gdf[[*keep, gdf.geometry.name]].to_crs(4326)
    for col in keep:
        # folium's tooltip writes values with innerHTML: escape them so names show as text
        data[col] = data[col].astype(str).map(html.escape)
    base = {
        "color": color,
        "weight": weight,
        "fillColor": fill_color or color,
        "fillOpacity": fill_opacity,
    }
    looks = {
        html.escape(str(key)): {**base, **dict(value)} for key, value in (styles or {}).items()
    }

    def style(feature: dict) -> dict:
        if style_by is None:
            return base
        return looks.get(feature["properties"].get(style_by), base)

    layer = folium.GeoJson(
        data.__geo_interface__,
        name=name,
        style_function=style,
        tooltip=folium.GeoJsonTooltip(fields=cols) if cols else None,
    )
    layer.add_to(m)
    return layer


def external_references(html: str) -> list[str]:
    """Scripts, stylesheets and CSS imports in ``html`` that would be fetched from the internet."""
    return [m.group(0) for m in _EXTERNAL_REF.finditer(html)]


def render_offline(item: folium.Map | Figure) -> str:
    """The full HTML page of a map or figure, checked to load nothing from the internet.

    Raises
    ------
    OfflineAssetError
        When something in the page still references an external script or stylesheet.
    """
    figure = item if isinstance(item, Figure) else item.get_root()
    if not isinstance(figure, Figure):
        raise OfflineAssetError("render_offline: the map is not part of a figure")
    # What Figure.render does, with the asset links swapped between its two steps.
    for child in list(figure._children.values()):
        child.render()
    make_figure_offline(figure)
    html = figure._template.render(this=figure, kwargs={})
    found = external_references(html)
    if found:
        raise OfflineAssetError(
            "the page would load from the internet: " + "; ".join(sorted(set(found))[:5])
        )
    return html


def save_offline(item: folium.Map | Figure, path: str | os.PathLike[str]) -> Path:
    """Write a self-contained HTML page of ``item`` to ``path`` (atomically).

    Parameters
    ----------
    item
        A map (any folium map; external assets are inlined or the call fails) or a
        :class:`branca.element.Figure` holding several maps.
    path
        Where to write; the folder must exist.

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    figure = item if isinstance(item, Figure) else item.get_root()
    html = render_offline(figure)
    write_text_atomic(path, html)
    log.info("wrote offline map %s (%d bytes)", path, len(html.encode("utf-8")))
    return path
