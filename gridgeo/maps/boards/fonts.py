"""The CJK font embedded in boards: found on the system at run time, never downloaded.

reportlab embeds TrueType fonts with ``glyf`` outlines only; Noto Sans CJK (the
``fonts-noto-cjk`` package) has CFF outlines, so the first CJK font with TrueType outlines
is used — WenQuanYi Micro Hei from ``fonts-wqy-microhei`` (in the Makefile's deb lists).
``GRIDGEO_BOARD_FONT`` (a ``.ttf``/``.ttc`` path) chooses another one.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

from gridgeo.errors import GridgeoError
from gridgeo.i18n import _

log = logging.getLogger(__name__)

FONT_NAME = "GridgeoCJK"
#: Preferred families, best first (all TrueType-outline CJK fonts in Debian).
PREFERRED = ("WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "AR PL UMing CN", "Droid Sans Fallback")


class FontMissingError(GridgeoError, RuntimeError):
    """No usable CJK font: boards cannot be made (``exit_code``/``http_status`` of a
    missing dependency)."""

    exit_code = 3
    http_status = 503


def _candidates() -> list[str]:
    if shutil.which("fc-list") is None:
        return []
    files: list[str] = []
    for family in PREFERRED:
        out = subprocess.run(
            ["fc-list", f"{family}:lang=zh", "file"], capture_output=True, text=True, check=False
        ).stdout
        files += [line.split(":")[0].strip() for line in out.splitlines() if line.strip()]
    out = subprocess.run(
        ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, check=False
    ).stdout
    files += sorted(line.split(":")[0].strip() for line in out.splitlines() if line.strip())
    return list(dict.fromkeys(files))


def _try(path: str):
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    try:
        return TTFont(FONT_NAME, path, subfontIndex=0)
    except (TTFError, OSError, ValueError) as exc:
        log.debug("font %s cannot be embedded: %s", path, exc)
        return None


_registered: list[str] = []  # the font file registered in this process (inherited on fork)


def register_cjk_font(path: str | None = None) -> str:
    """Register the CJK font with reportlab (once) and return the font file used.

    Parameters
    ----------
    path
        A TrueType (``glyf``) ``.ttf``/``.ttc`` file; default: the first usable one of
        :data:`PREFERRED`, then any font ``fc-list`` lists for Chinese.

    Raises
    ------
    FontMissingError
        When no such font is installed (install ``fonts-wqy-microhei``).
    """
    from reportlab.pdfbase import pdfmetrics

    # parsing a CJK font takes seconds: do it once per process (workers forked after it
    # inherit it)
    if _registered and (path is None or path == _registered[0]):
        return _registered[0]
    tried = [path] if path else _candidates()
    for candidate in tried:
        if candidate and Path(candidate).is_file():
            font = _try(candidate)
            if font is not None:
                pdfmetrics.registerFont(font)
                # one face: <b> in tables maps to the same font (no Helvetica fallback)
                pdfmetrics.registerFontFamily(
                    FONT_NAME,
                    normal=FONT_NAME,
                    bold=FONT_NAME,
                    italic=FONT_NAME,
                    boldItalic=FONT_NAME,
                )
                log.info("board font: %s", candidate)
                _registered[:] = [candidate]
                return candidate
    raise FontMissingError(
        _(
            "no CJK TrueType font to embed in the boards ({tried}): apt-get install "
            "fonts-wqy-microhei (or set GRIDGEO_BOARD_FONT to a .ttf/.ttc file)"
        ).format(
            tried=_("tried {fonts}").format(fonts=_(", ").join(tried[:5]))
            if tried
            else _("fc-list found none")
        )
    )
