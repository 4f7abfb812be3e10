"""The public site at ``/public/``: the folder ``gridgeo publish`` wrote, served as is.

No role is needed: the site holds only what the noticeboards post (grid names, extents,
posted contacts, supervision phones; never household counts). Only files inside
``GRIDGEO_PUBLIC_DIR`` (default ``$GRIDGEO_HOME/public``) are served.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse

from gridgeo.errors import NotFoundError
from gridgeo.i18n import _

router = APIRouter(tags=["public"], include_in_schema=False)

_MEDIA = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


def _site(request: Request) -> Path:
    folder = request.app.state.settings.public_site_dir
    if not (folder / "index.html").is_file():
        raise NotFoundError(
            _(
                "the public site has not been published yet ({folder}): run `gridgeo publish`"
            ).format(folder=folder)
        )
    return folder.resolve()


@router.get("/public", summary="Redirect to the public site")
def public_no_slash() -> RedirectResponse:
    return RedirectResponse("/public/", status_code=307)


@router.get("/public/{path:path}", summary="A file of the public site")
def public_file(path: str, request: Request) -> FileResponse:
    site = _site(request)
    try:
        target = (site / (path or "index.html")).resolve()
        found = target.is_relative_to(site) and target.is_file() and target.suffix in _MEDIA
    except (OSError, ValueError):  # NUL bytes, names too long …
        found = False
    if not found:
        raise NotFoundError(_("no public page {path!r}").format(path=path))
    return FileResponse(
        target, media_type=_MEDIA[target.suffix], headers={"Cache-Control": "no-cache"}
    )
