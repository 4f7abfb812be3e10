"""``gridgeo partition``: communities, roads and households → grids and violations.

Both forms work::

    gridgeo partition district.gpkg --profile yongzhou --out grids.gpkg [--report report.json]
    gridgeo partition --communities A.shp --roads B.gpkg:roads --households C.csv \\
        --dedicated D.geojson --profile gansu --out grids.gpkg

Exit status: 0 grids written (violations, if any, are in the ``violations`` layer and
the report), 2 unusable input or profile.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gridgeo.cli._common import console, handle_errors
from gridgeo.errors import CRSError, InputError, Problem
from gridgeo.io import (
    list_layers,
    read_layer,
    split_layer_spec,
    write_layers,
)
from gridgeo.io.atomic import write_text_atomic
from gridgeo.partition import partition as run_partition
from gridgeo.rules import load_profile

_LAYERS = ("communities", "roads", "households", "dedicated", "villager_groups")
_REQUIRED = ("communities",)


def _specs(source: str | None, given: dict[str, str | None]) -> dict[str, str]:
    """Layer name → ``file[:layer]`` from the single-file form and/or the explicit options."""
    specs: dict[str, str] = {}
    if source:
        path, layer = split_layer_spec(source)
        if layer:
            raise InputError(
                "give the district file without a layer",
                [
                    Problem(
                        f"{source}: the partition reads layers {', '.join(_LAYERS)} from it",
                        file=str(path),
                    )
                ],
            )
        names = [name for name, _ in list_layers(path)]
        missing = [n for n in _REQUIRED if n not in names and not given.get(n)]
        if missing:
            raise InputError(
                f"{path} has no layer {', '.join(missing)}",
                [
                    Problem(
                        f"layers found: {', '.join(names) or 'none'}",
                        file=str(path),
                        rule="layer.missing",
                    )
                ],
            )
        for n in _LAYERS:
            if n in names:
                specs[n] = f"{path}:{n}"
    for n, spec in given.items():
        if spec:
            specs[n] = spec
    if "communities" not in specs:
        raise InputError(
            "no communities given",
            [
                Problem(
                    "give a district GeoPackage or --communities FILE[:LAYER]", rule="layer.missing"
                )
            ],
        )
    return specs


def _read(path: Path, layer: str | None, crs: str | None):
    """Read a layer; ``--crs`` applies to files without a CRS or with a geographic one."""
    if crs is None:
        return read_layer(path, layer)
    try:
        gdf = read_layer(path, layer)
    except CRSError:
        return read_layer(path, layer, crs=crs)
    if gdf.crs is not None and gdf.crs.is_projected:
        return gdf
    return read_layer(path, layer, crs=crs)


@handle_errors
def partition(
    source: str | None = typer.Argument(
        None,
        help="District GeoPackage with layers communities, roads, households "
        "(optional dedicated, villager_groups).",
    ),
    communities: str | None = typer.Option(
        None, "--communities", help="Community/village polygons FILE[:LAYER] (code, name, kind)."
    ),
    roads: str | None = typer.Option(None, "--roads", help="Road centrelines FILE[:LAYER]."),
    households: str | None = typer.Option(
        None,
        "--households",
        help="Household points FILE[:LAYER] (households, population, compound_id).",
    ),
    dedicated: str | None = typer.Option(
        None, "--dedicated", help="Dedicated sites FILE[:LAYER] (name, category)."
    ),
    villager_groups: str | None = typer.Option(
        None, "--villager-groups", help="Villager-group polygons FILE[:LAYER] (name, village_code)."
    ),
    profile: str | None = typer.Option(
        None,
        "--profile",
        help="Profile name or path of a .toml file (default: GRIDGEO_PROFILE, else yongzhou).",
    ),
    code_pattern: str | None = typer.Option(
        None, "--code-pattern", help=r"Regex of a community code for this run, e.g. '\d{11}'."
    ),
    kind: str | None = typer.Option(
        None, "--kind", help="urban or rural for communities without a 'kind' value."
    ),
    crs: str | None = typer.Option(
        None,
        "--crs",
        help="CRS of input files that carry none or a geographic one to replace (e.g. gcj02); "
        "files in a projected CRS keep theirs.",
    ),
    repair: bool = typer.Option(
        False, "--repair", help="Repair invalid geometries (reported as warnings)."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output GeoPackage (layers grids, violations)."
    ),
    report: Path | None = typer.Option(
        None, "--report", help="Write metrics and violations as JSON."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Parallel processes (dask LocalCluster)."
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Existing dask scheduler, e.g. tcp://host:8786."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the aggregation (same seed, same grids)."),
) -> None:
    """Partition communities and villages into urban, rural and dedicated grids."""
    if kind is not None and kind not in ("urban", "rural"):
        raise InputError("--kind must be urban or rural", [Problem(f"got {kind!r}", field="kind")])
    prof = load_profile(profile).with_code_pattern(code_pattern)
    specs = _specs(
        source,
        {
            "communities": communities,
            "roads": roads,
            "households": households,
            "dedicated": dedicated,
            "villager_groups": villager_groups,
        },
    )
    layers = {}
    for name, spec in specs.items():
        path, layer = split_layer_spec(spec)
        layers[name] = _read(path, layer, crs)
    # the layer contracts are checked once, inside partition (gridgeo.io.schemas)

    with Progress(
        TextColumn("partitioning"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("communities"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("communities", total=len(layers["communities"]))

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = run_partition(
            layers["communities"],
            layers.get("roads"),
            layers.get("households"),
            dedicated=layers.get("dedicated"),
            villager_groups=layers.get("villager_groups"),
            profile=prof,
            kind=kind,
            seed=seed,
            repair=repair,
            workers=workers,
            scheduler=scheduler,
            progress=progress,
        )
    for p in result.warnings[:20]:
        console.print(f"[yellow]warning:[/] {p}", soft_wrap=True)
    if len(result.warnings) > 20:
        console.print(f"[yellow]… and {len(result.warnings) - 20} more warnings[/]")
    write_layers(out, {"grids": result.grids, "violations": result.violations})
    if report is not None:
        _write_report(report, result, specs)
    _print_summary(result, out, report)


def _write_report(path: Path, result, specs: dict[str, str]) -> None:
    viol = result.violations.drop(columns="geometry")
    doc = {
        "inputs": specs,
        "metrics": result.metrics,
        "violations": json.loads(viol.to_json(orient="records", force_ascii=False)),
    }
    write_text_atomic(path, json.dumps(doc, ensure_ascii=False, indent=2, default=str))


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.1%}" if v <= 1 else f"{v:,.0f}"
    return str(v)


def _print_summary(result, out: Path, report: Path | None) -> None:
    m = result.metrics
    t = Table(title=f"grids written to {out}", show_header=False)
    t.add_row("communities", str(m["communities"]))
    t.add_row(
        "grids", f"{m['grids']} ({', '.join(f'{k} {v}' for k, v in m['grids_by_type'].items())})"
    )
    feas = m["in_band_grids_feasible"]
    t.add_row(
        "in band (feasible communities)",
        f"{_fmt(m['in_band_share_feasible'])} ({feas[0]}/{feas[1]} grids, {m['feasible_communities']} communities)",
    )
    t.add_row("in band (all banded)", _fmt(m["in_band_share_all_banded"]))
    t.add_row("internal borders on roads", _fmt(m["road_border_share"]))
    pp = m["polsby_popper"]
    t.add_row("Polsby–Popper mean / min", f"{pp['mean']} / {pp['min']}")
    hh = m["households_per_grid"]
    t.add_row(
        "households per grid min / median / max", f"{hh['min']} / {hh['median']} / {hh['max']}"
    )
    t.add_row("households outside communities", str(m["households_outside"]["households"]))
    t.add_row("seam error (max m²)", str(m["seam_error"]["max_m2"]))
    t.add_row(
        "violations", ", ".join(f"{k} {v}" for k, v in m["violations_by_rule"].items()) or "none"
    )
    t.add_row("runtime", f"{m['runtime_s']['total']:.1f} s")
    console.print(t)
    if report is not None:
        console.print(f"report: {report}")
