"""The browser console (``/console/``): the static files of ``webmap/`` and the vendored Leaflet.

The console is plain HTML, CSS and an ES module (no build step). It only talks to
this service (``/locate``, ``/collections``, ``/categories``, ``/departments``,
``/tracks/day``) and
loads Leaflet from ``gridgeo/maps/static`` under ``/console/vendor/leaflet/``, so it
works on an intranet with no internet at all. ``/`` redirects to the console.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse

from gridgeo.errors import NotFoundError
from gridgeo.i18n import _, normalise_language
from gridgeo.maps.offline import LEAFLET_VERSION
from gridgeo.settings import language_chosen, project_root

router = APIRouter(tags=["console"], include_in_schema=False)

#: The files of ``webmap/`` that are served (nothing else in the folder is).
CONSOLE_FILES = (
    "index.html",
    "app.js",
    "style.css",
    "i18n.json",
    "review.html",
    "review.js",
    "review.css",
    # the case console
    "cases.html",
    "cases.js",
    "case.html",
    "case.js",
    "incidents.js",
    "incidents.css",
    # the grid editor
    "editor.html",
    "editor.js",
    "editor.css",
    # a grid worker's day (patrol track over the grids)
    "trackday.html",
    "trackday.js",
    "trackday.css",
)

_MEDIA = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
}
# The console files change with the checkout: let browsers revalidate them.
_NO_CACHE = {"Cache-Control": "no-cache"}
_LEAFLET_FILES = {
    "leaflet.js": "leaflet.js",
    "leaflet.css": "leaflet.css",
    **{
        f"images/{n}": f"images/{n}"
        for n in (
            "layers.png",
            "layers-2x.png",
            "marker-icon.png",
            "marker-icon-2x.png",
            "marker-shadow.png",
        )
    },
}


#: The console files shipped inside the package (a symlink to ``webmap/`` in the checkout).
SHIPPED_WEBMAP = Path(__file__).resolve().parent.parent / "_webmap"


def webmap_dir() -> Path | None:
    """``webmap/`` of the source checkout, else the copy shipped in an installed package."""
    root = project_root()
    if root is not None:
        return root / "webmap"
    return SHIPPED_WEBMAP if SHIPPED_WEBMAP.is_dir() else None


def leaflet_dir() -> Path:
    """The vendored Leaflet release inside the package."""
    return Path(__file__).resolve().parent.parent / "maps" / "static" / f"leaflet-{LEAFLET_VERSION}"


def _console_file(name: str) -> Path:
    folder = webmap_dir()
    if folder is None:
        raise NotFoundError(
            _(
                "the web console is not available: neither the checkout's webmap/ nor "
                "the package's _webmap/ is there; reinstall gridgeo or run `gridgeo "
                "serve` from a checkout"
            )
        )
    path = folder / name
    if not path.is_file():
        raise NotFoundError(
            _(
                "the web console file {path} is missing; the checkout is incomplete "
                "(restore webmap/ with `git checkout -- webmap`)"
            ).format(path=path)
        )
    return path


@router.get("/", summary="Redirect to the web console")
def root() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=307)


@router.get("/console", summary="Redirect to the web console")
def console_no_slash() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=307)


@router.get("/console/", summary="The web console")
def console_index() -> FileResponse:
    return FileResponse(_console_file("index.html"), media_type=_MEDIA[".html"], headers=_NO_CACHE)


@router.get("/console/config.json", summary="The console's settings")
def console_config() -> JSONResponse:
    """The language set by GRIDGEO_LANG (None: the browser's language decides) and the
    online basemap (None: the console draws the registry's own outlines, offline)."""
    try:
        lang = normalise_language(language_chosen()) if language_chosen() else None
    except ValueError:
        lang = None  # an unavailable language: the browser's decides
    return JSONResponse({"lang": lang, "basemap": None}, headers=_NO_CACHE)


@router.get("/console/vendor/leaflet/{name:path}", summary="Vendored Leaflet")
def leaflet_asset(name: str) -> FileResponse:
    if name not in _LEAFLET_FILES:
        raise NotFoundError(
            _("no Leaflet asset {name!r}; the console serves {names}").format(
                name=name, names=sorted(_LEAFLET_FILES)
            )
        )
    path = leaflet_dir() / _LEAFLET_FILES[name]
    if not path.is_file():
        raise NotFoundError(
            _("the vendored Leaflet file {path} is missing from the gridgeo package").format(
                path=path
            )
        )
    return FileResponse(
        path,
        media_type=_MEDIA[path.suffix],
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/console/{name}", summary="A web console file")
def console_file(name: str) -> FileResponse:
    if name not in CONSOLE_FILES:
        raise NotFoundError(
            _("no console file {name!r}; the console has {items}").format(
                name=name, items=_(", ").join(CONSOLE_FILES)
            )
        )
    path = _console_file(name)
    return FileResponse(path, media_type=_MEDIA[path.suffix], headers=_NO_CACHE)
