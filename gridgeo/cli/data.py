"""``gridgeo data``: verify the shipped raw data, build the demo districts, write sample data."""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
import pyogrio
import typer

from gridgeo.cli._common import console, handle_errors
from gridgeo.demo import build as demo_build
from gridgeo.demo import sample as demo_sample
from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _

app = typer.Typer(
    help="Demo data: verify data/raw, build the demo districts, generate sample data.",
    no_args_is_help=True,
)

_CHOICES = [*demo_build.DISTRICTS, "all"]


def _check_district(name: str, choices: list[str]) -> None:
    if name not in choices:
        raise InputError(
            _("unknown district {name}; choose one of {choices}").format(
                name=repr(name), choices=", ".join(choices)
            ),
            [
                Problem(
                    _("unknown district {name}").format(name=repr(name)),
                    field="district",
                    rule="demo.district",
                )
            ],
        )


@app.command()
@handle_errors
def verify(
    raw_dir: Path = typer.Option(None, "--raw-dir", help="Raw data folder (default data/raw)."),
) -> None:
    """Check every raw file against data/raw/SHA256SUMS."""
    verified = demo_build.verify_raw(raw_dir=raw_dir)
    for name in verified:
        console.print(f"ok  {name}")
    console.print(_("{n} raw files verified").format(n=len(verified)))


@app.command()
@handle_errors
def build(
    district: str = typer.Argument("all", help=f"One of: {', '.join(_CHOICES)}."),
    out: Path = typer.Option(
        None, "--out", help="Output folder (default data/build); writes <district>.gpkg."
    ),
    force: bool = typer.Option(False, "--force", help="Rebuild even if the output is current."),
    raw_dir: Path = typer.Option(None, "--raw-dir", help="Raw data folder (default data/raw)."),
) -> None:
    """Build demo districts into the partitioner's input (communities, households, units, roads).

    Idempotent: an output newer than its raw file, the checksum list and the build script
    is reused unless --force.
    """
    _check_district(district, _CHOICES)
    names = list(demo_build.DISTRICTS) if district == "all" else [district]
    for name in names:
        target = (Path(out) / f"{name}.gpkg") if out is not None else None
        res = demo_build.build_district(name, target, raw_dir=raw_dir, force=force)
        c = res.counts
        verb = _("up to date") if res.skipped else _("built")
        console.print(
            _(
                "{name}: {verb} {path} — {communities} communities, {points} household points "
                "({households} households, {people} people), {units} small areas, "
                "{roads} road stand-in lines — {seconds} s"
            ).format(
                name=name,
                verb=verb,
                path=res.path,
                communities=c["communities"],
                points=c["households"],
                households=f"{res.households:,}",
                people=f"{res.population:,}",
                units=c["units"],
                roads=c["roads"],
                seconds=f"{res.seconds:.1f}",
            ),
            soft_wrap=True,
        )


def _read_grids(path: Path) -> gpd.GeoDataFrame:
    if not path.is_file():
        raise InputError(
            _("grids file not found: {path}").format(path=path),
            [Problem(_("file not found"), file=str(path), rule="file.missing")],
        )
    layers = [str(name) for name, _ in pyogrio.list_layers(path)]
    layer = "grids" if "grids" in layers else (layers[0] if len(layers) == 1 else None)
    if layer is None:
        raise InputError(
            _("{path} has no layer 'grids' (layers: {layers})").format(
                path=path, layers=", ".join(layers)
            ),
            [Problem(_("layer 'grids' is missing"), file=str(path), layer="grids", rule="layer")],
        )
    return gpd.read_file(path, layer=layer)


@app.command()
@handle_errors
def sample(
    district: str = typer.Option("daan", "--district", help="Demo district (file-name prefix)."),
    grids: Path = typer.Option(
        None, "--grids", help="Partitioned grids (layer 'grids'); without it no staff or tracks."
    ),
    communities: Path = typer.Option(
        None,
        "--communities",
        help="GeoPackage with layer 'communities' (default: the built district, built if needed).",
    ),
    out: Path = typer.Option(None, "--out", help="Output folder (default data/build/sample)."),
    seed: int = typer.Option(
        0, "--seed", min=0, help="Random seed; the same seed gives the same data."
    ),
    incidents: int = typer.Option(200, "--incidents", min=0, help="Number of sample incidents."),
    days: int = typer.Option(3, "--days", min=1, help="Days of patrol tracks."),
    start: str = typer.Option(demo_sample.DEFAULT_START, "--start", help="First day (local)."),
    force: bool = typer.Option(False, "--force", help="Regenerate even if up to date."),
) -> None:
    """Generate sample data (marked as sample) for a demo district into data/build/sample/."""
    t0 = time.perf_counter()
    _check_district(district, list(demo_build.DISTRICTS))
    if communities is None:
        communities = demo_build.build_district(district).path
    comm = gpd.read_file(communities, layer="communities")
    grid_gdf = _read_grids(grids) if grids is not None else None
    out = Path(out) if out is not None else demo_build.default_build_dir() / "sample"
    written = demo_sample.write_samples(
        out,
        comm,
        grids=grid_gdf,
        prefix=district,
        seed=seed,
        n_incidents=incidents,
        days=days,
        start=start,
        force=force,
    )
    for name, files in written.items():
        names = ", ".join(p.name for p in files.paths)
        verb = _("up to date") if files.skipped else _("wrote")
        console.print(
            _("{name}: {verb} {rows} rows → {files}").format(
                name=name, verb=verb, rows=f"{files.rows:,}", files=names
            ),
            soft_wrap=True,
        )
    if grid_gdf is None:
        console.print(_("no --grids given: sample staff and patrol tracks were not generated"))
    console.print(
        _("sample data in {path} — {seconds} s").format(
            path=out, seconds=f"{time.perf_counter() - t0:.1f}"
        )
    )
