"""Printable noticeboards (网格公示牌) of communities, from the registry.

:func:`make_boards` reads what the registry posts at a date
(:func:`gridgeo.registry.posting.board_facts`) and writes one PDF per community, a
combined PDF when there are several, and optionally PNGs (rendered from the PDFs by
poppler's ``pdftoppm``). Rendering: :mod:`.render` (reportlab), labels :mod:`.labels`,
extents in words :mod:`.extent`, the embedded CJK font :mod:`.fonts`.
"""

from __future__ import annotations

import logging
import multiprocessing
import shutil
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import geopandas as gpd

from gridgeo.errors import GridgeoError, InputError
from gridgeo.i18n import _
from gridgeo.maps.boards.fonts import FontMissingError, register_cjk_font
from gridgeo.maps.boards.labels import Label, overlaps, place_labels
from gridgeo.maps.boards.render import PAGE_SIZES, BoardResult, render_board

log = logging.getLogger(__name__)

__all__ = [
    "PAGE_SIZES",
    "BoardResult",
    "BoardSet",
    "FontMissingError",
    "Label",
    "board_file",
    "make_boards",
    "overlaps",
    "page_url",
    "place_labels",
    "render_board",
]


class ToolMissingError(GridgeoError, RuntimeError):
    """A system program boards need (``pdftoppm`` for PNGs) is not installed."""

    exit_code = 3
    http_status = 503


@dataclass
class BoardSet:
    """The boards written by :func:`make_boards`."""

    boards: list[BoardResult] = field(default_factory=list)
    combined: Path | None = None
    pngs: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def page_url(base_url: str, community_code: str) -> str:
    """The public page of a community under ``base_url`` (``…/c/<code>.html``)."""
    return f"{base_url.rstrip('/')}/c/{community_code}.html"


def board_file(community_code: str) -> str:
    """File name of a community's board (the same on disk and in the public site)."""
    return f"board_{community_code}.pdf"


def to_png(pdf: Path, *, dpi: int = 110) -> Path:
    """Render page 1 of ``pdf`` to ``pdf.with_suffix('.png')`` with ``pdftoppm``."""
    exe = shutil.which("pdftoppm")
    if exe is None:
        raise ToolMissingError(_("PNG boards need pdftoppm: apt-get install poppler-utils"))
    stem = pdf.with_suffix("")
    subprocess.run(
        [exe, "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile", str(pdf), str(stem)],
        check=True,
        capture_output=True,
    )
    return stem.with_suffix(".png")


def _render_one(args) -> BoardResult:
    facts, out, size, url, roads, font = args
    register_cjk_font(font)
    return render_board(facts, out, size=size, url=url, roads=roads)


def make_boards(
    bind,
    community_codes: list[str],
    out_dir: Path,
    *,
    base_url: str,
    size: str = "A3",
    at: datetime | None = None,
    profile: str | None = None,
    png: bool = False,
    combined_name: str | None = None,
    roads: gpd.GeoDataFrame | None = None,
    font: str | None = None,
    workers: int = 1,
) -> BoardSet:
    """Write the boards of communities as they stood at ``at``.

    Parameters
    ----------
    bind
        The registry (engine, connection or URL).
    community_codes
        The communities, each gets ``out_dir/board_<code>.pdf``.
    base_url
        Where the public site is published (the QR codes point to its pages).
    size
        ``A4``, ``A3`` or ``A2``, landscape.
    at
        The date the boards show (default: now).
    png
        Also write page 1 of each board as PNG.
    combined_name
        With several communities: also one PDF with every board, under this name.
    roads
        Optional roads layer (``name`` column) drawn on the maps and naming borders.
    workers
        Processes rendering in parallel.

    Raises
    ------
    InputError
        For an unknown size or no community.
    NotFoundError
        For a code that is not a community with grids at ``at``.
    FontMissingError
        When no CJK font can be embedded.
    """
    from gridgeo.registry.posting import board_facts

    if size not in PAGE_SIZES:
        raise InputError(
            _("board size {size!r} is not one of {items}").format(
                size=size, items=_(", ").join(PAGE_SIZES)
            )
        )
    if not community_codes:
        raise InputError(_("no community to make a board for"))
    t0 = time.perf_counter()
    font_path = register_cjk_font(font)
    facts = board_facts(bind, community_codes, at=at, profile=profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [
        (
            f,
            out_dir / board_file(f.community_code),
            size,
            page_url(base_url, f.community_code),
            roads,
            font_path,
        )
        for f in facts
    ]
    if workers > 1 and len(jobs) > 1:
        # fork: the workers inherit the parsed font (seconds to parse) and the facts
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            results = list(
                pool.map(_render_one, jobs, chunksize=max(1, len(jobs) // (4 * workers)))
            )
    else:
        results = [_render_one(j) for j in jobs]
    result = BoardSet(results)
    if combined_name and len(results) > 1:
        from pypdf import PdfWriter

        writer = PdfWriter()
        for r in results:
            writer.append(str(r.path))
        combined = out_dir / combined_name
        tmp = combined.with_name(combined.name + ".tmp")
        with tmp.open("wb") as fh:
            writer.write(fh)
        tmp.replace(combined)
        result.combined = combined
    if png:
        result.pngs = [to_png(r.path) for r in results]
    result.seconds = time.perf_counter() - t0
    log.info(
        "%d boards (%s, %d pages) in %.1f s → %s",
        len(results),
        size,
        sum(r.pages for r in results),
        result.seconds,
        out_dir,
    )
    return result
