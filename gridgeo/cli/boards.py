"""``gridgeo noticeboard``, ``gridgeo publish`` and ``gridgeo posting``: the public side.

Boards (printable PDF/PNG) and the public site are made from the registry as it stood at
``--at``; ``posting`` sets what a board posts besides grids and staff (supervision
phone, duties, posting date).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import date
from pathlib import Path

import typer

from gridgeo.cli._common import console, handle_errors
from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _

posting_app = typer.Typer(
    help="What the noticeboards post: supervision phone, duties, posting date.",
    no_args_is_help=True,
)

_AT = typer.Option(None, "--at", help="The registry as it stood on this date (ISO; default now).")
_PROFILE = typer.Option(
    None, "--profile", help="Profile whose duties are posted (default setting)."
)
_TOKEN = typer.Option(
    None, "--token", help="Your token (default $GRIDGEO_TOKEN); you act as its user."
)


def _registry():
    from gridgeo.cli.registry import _url, _when

    return _url, _when


def _codes(url: str, community: list[str] | None, street: str | None, county: str | None):
    from gridgeo.registry.posting import communities

    chosen = [x for x in (bool(community), bool(street), bool(county)) if x]
    if len(chosen) != 1:
        raise InputError(
            _("give exactly one of --community CODE (repeatable), --street CODE or --county CODE"),
            [
                Problem(
                    _("choose the communities"), field="community/street/county", rule="cli.board"
                )
            ],
        )
    if community:
        return list(community), None
    prefix = street or county
    codes = list(communities(url, prefix)["code"])
    if not codes:
        raise InputError(
            _("no community of the registry belongs to {prefix}").format(prefix=prefix)
        )
    return codes, prefix


@handle_errors
def noticeboard(
    out: Path = typer.Option(
        ..., "--out", "-o", help="board.pdf for one community; a folder for several."
    ),
    community: list[str] = typer.Option(None, "--community", help="Community code (repeatable)."),
    street: str = typer.Option(None, "--street", help="Every community of this street."),
    county: str = typer.Option(None, "--county", help="Every community of this county."),
    size: str = typer.Option("A3", "--size", help="A4, A3 or A2 (landscape)."),
    png: bool = typer.Option(False, "--png", help="Also write page 1 as PNG."),
    at: str = _AT,
    profile: str = _PROFILE,
    roads: Path = typer.Option(
        None, "--roads", help="Roads with a 'name' field: drawn, and naming the grids' borders."
    ),
    workers: int = typer.Option(
        min(2, os.cpu_count() or 1), "--workers", help="Processes rendering boards."
    ),
) -> None:
    """Printable noticeboards (网格公示牌): map, grid table, supervision phone, QR code."""
    from gridgeo.maps.boards import board_file, make_boards
    from gridgeo.settings import get_settings

    url_of, when_of = _registry()
    settings = get_settings()
    url = url_of()
    codes, prefix = _codes(url, community, street, county)
    road_layer = None
    if roads is not None:
        from gridgeo.io import read_layer

        road_layer = read_layer(roads)
    single = len(codes) == 1 and out.suffix.lower() == ".pdf"
    if single:
        out.parent.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(dir=out.parent, prefix=".board.")) if single else out
    try:
        made = make_boards(
            url,
            codes,
            target,
            base_url=settings.public_base_url,
            size=size.upper(),
            at=when_of(at),
            profile=profile or settings.profile,
            png=png,
            combined_name=f"boards_{prefix or 'all'}.pdf",
            roads=road_layer,
            font=settings.board_font,
            workers=workers,
        )
        if single:
            (target / board_file(codes[0])).replace(out)
            if png:
                (target / board_file(codes[0])).with_suffix(".png").replace(out.with_suffix(".png"))
    finally:
        if single:
            shutil.rmtree(target, ignore_errors=True)
    where = out if single else out.resolve()
    combined = _(" (combined: {name})").format(name=made.combined.name) if made.combined else ""
    console.print(
        _("{boards} board(s), {size}, {pages} page(s) in {seconds} s → {path}").format(
            boards=len(made.boards),
            size=size.upper(),
            pages=sum(b.pages for b in made.boards),
            seconds=f"{made.seconds:.1f}",
            path=str(where),
        )
        + combined
    )


@handle_errors
def publish(
    out: Path = typer.Option(None, "--out", "-o", help="Site folder (default GRIDGEO_PUBLIC_DIR)."),
    prefix: str = typer.Option(None, "--under", help="Only communities of this county/street."),
    at: str = _AT,
    profile: str = _PROFILE,
    boards: bool = typer.Option(True, "--boards/--no-boards", help="Also write the PDF boards."),
    size: str = typer.Option("A3", "--size", help="Board size: A4, A3 or A2."),
    workers: int = typer.Option(
        min(2, os.cpu_count() or 1), "--workers", help="Processes rendering boards."
    ),
) -> None:
    """The public grid pages: a static site (index by street, one page per community)."""
    from gridgeo.publish import basemap_from_settings, publish_site
    from gridgeo.settings import get_settings

    url_of, when_of = _registry()
    settings = get_settings()
    target = out or settings.public_site_dir
    result = publish_site(
        url_of(),
        target,
        prefix=prefix,
        at=when_of(at),
        profile=profile or settings.profile,
        basemap=basemap_from_settings(settings),
        boards=boards,
        base_url=settings.public_base_url,
        size=size.upper(),
        workers=workers,
    )
    console.print(
        _(
            "{pages} community pages, {boards} boards in {seconds} s → {path}/index.html "
            "(served at /public/ when it is GRIDGEO_PUBLIC_DIR)"
        ).format(
            pages=len(result.pages),
            boards=result.boards,
            seconds=f"{result.seconds:.1f}",
            path=str(target.resolve()),
        )
    )


@posting_app.command("phone")
@handle_errors
def phone(
    division: str = typer.Argument(..., help="County or street code."),
    number: str = typer.Argument(..., help="The supervision phone, e.g. 0746-12345678."),
    label: str = typer.Option("", "--label", help="Who answers, e.g. 区网格化服务管理中心."),
    token: str = _TOKEN,
) -> None:
    """Set the supervision phone (监督电话) of a county or street from now on."""
    from gridgeo.cli.registry import _me, _url
    from gridgeo.registry.posting import set_supervision_phone

    set_supervision_phone(_url(), division, number, actor=_me(token), label=label)
    console.print(
        _("supervision phone of {division}: {number}").format(division=division, number=number)
    )


@posting_app.command("duties")
@handle_errors
def duties(
    role: str = typer.Argument(..., help="head, full_time, part_time or professional."),
    text: str = typer.Argument(..., help="The duties text posted for the role."),
    profile: str = _PROFILE,
    source: str = typer.Option("", "--source", help="The rule or notice it rests on."),
    token: str = _TOKEN,
) -> None:
    """Replace a role's posted duties (职责) under a profile from now on (city reviewer)."""
    from gridgeo.cli.registry import _me, _url
    from gridgeo.registry.posting import set_duties
    from gridgeo.settings import get_settings

    name = profile or get_settings().profile
    set_duties(_url(), name, role, text, actor=_me(token), source=source)
    console.print(_("duties of {role} under {profile} set").format(role=role, profile=name))


@posting_app.command("date")
@handle_errors
def posted(
    communities: list[str] = typer.Argument(..., help="Community codes."),
    on: str = typer.Option(None, "--on", help="Posting date (ISO; default today)."),
    token: str = _TOKEN,
) -> None:
    """Record the date the communities' boards are posted (公示日期)."""
    from gridgeo.cli.registry import _me, _url
    from gridgeo.registry.posting import record_posting
    from gridgeo.times import local_today

    try:
        day = date.fromisoformat(on) if on else local_today()
    except ValueError:
        raise InputError(
            _("--on {value} is not a date (use 2026-11-29)").format(value=repr(on))
        ) from None
    n = record_posting(_url(), communities, day, actor=_me(token))
    console.print(_("posting date {day} recorded for {n} communities").format(day=day, n=n))
