"""``gridgeo locate POINTS --out OUT``: batch locate points against the registry."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from gridgeo.cli._common import console, handle_errors
from gridgeo.errors import DatabaseError, InputError, Problem
from gridgeo.i18n import _
from gridgeo.io.atomic import atomic_path
from gridgeo.settings import get_settings


@handle_errors
def locate(
    points: str = typer.Argument(
        ...,
        help="CSV (lon,lat[,id][,category]), GeoJSON, Arrow or GeoParquet file; FILE@CRS (e.g. "
        "incidents.csv@gcj02) gives the file's CRS.",
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output .csv, .geojson, .arrow or .parquet file."
    ),
    crs: str = typer.Option(
        None,
        help="CRS of the points: wgs84 (default), cgcs2000, gcj02, bd09, EPSG:…; a GeoParquet "
        "file's own CRS is used when not given.",
    ),
    at: str = typer.Option(None, help="Answer for this date/time (ISO; a date = end of that day)."),
    category: str = typer.Option(None, help="Incident category for rows without their own."),
    posted_only: bool = typer.Option(
        False, help="Only publicly posted contacts (as the public API shows them)."
    ),
    distance: bool = typer.Option(True, help="Compute distance_to_border_m and near_border."),
    near_border_m: float = typer.Option(20.0, help="Tolerance of near_border in metres."),
    tz: str = typer.Option("Asia/Shanghai", help="Time zone of dates and naive times in --at."),
) -> None:
    """Locate every point on the registry's grids (same answers as the /locate/batch API)."""
    import psycopg

    from gridgeo.database.connect import app_database_url
    from gridgeo.io.layer_crs import split_crs_spec
    from gridgeo.locate.answer import locate_batch
    from gridgeo.locate.encode import stream_table
    from gridgeo.locate.points import PointFile, agreed_crs, detect_format, read_points
    from gridgeo.registry.snapshot import load_snapshot
    from gridgeo.times import parse_at

    spec, at_crs = split_crs_spec(points)
    if at_crs is not None:
        crs = at_crs
    points_path = Path(spec)
    fmt_out = detect_format(out.name)
    when = parse_at(at, tz)
    t0 = time.perf_counter()
    pts = read_points(points_path)
    declared = (
        PointFile(points_path, "parquet", source=str(points_path)).declared_crs()
        if detect_format(points_path.name) == "parquet"
        else None
    )
    crs = agreed_crs(crs, declared)
    try:
        with psycopg.connect(app_database_url(get_settings()), connect_timeout=5) as conn:
            snap = load_snapshot(conn, at=when)
    except psycopg.OperationalError as exc:
        raise DatabaseError(
            _("cannot reach the registry database ({error}); run `gridgeo db up`").format(error=exc)
        ) from None
    if snap.srid is None:
        raise InputError(
            _("the registry has no grids yet: load some with `gridgeo load`"),
            [Problem(_("empty registry"), rule="locate.registry")],
        )
    frame = locate_batch(
        snap,
        pts.x,
        pts.y,
        ids=pts.ids,
        crs=crs,
        category=pts.categories(category),
        private=not posted_only,
        near_border_m=near_border_m,
        distance=distance,
    )
    with atomic_path(out) as tmp, tmp.open("wb") as fh:
        for chunk in stream_table(fmt_out, frame, 100_000, crs=crs):
            fh.write(chunk)
    located = frame.num_rows - frame.column("grid_code").null_count
    console.print(
        _(
            "located {located} of {total} points ({outside} outside every grid) in {seconds} s "
            "→ {path}"
        ).format(
            located=f"{located:,}",
            total=f"{frame.num_rows:,}",
            outside=f"{frame.num_rows - located:,}",
            seconds=f"{time.perf_counter() - t0:.1f}",
            path=out,
        )
    )
