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
from rich.text import Text

from gridgeo.cli._common import console, get_console, handle_errors, print_warnings, read_layers
from gridgeo.cli.communities import print_fixes
from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.io import (
    check_layer,
    list_layers,
    raise_for_problems,
    split_layer_spec,
    write_layers,
)
from gridgeo.io.atomic import write_text_atomic
from gridgeo.io.layer_crs import read_input
from gridgeo.io.metadata import code_pattern_metadata, first_declared
from gridgeo.partition import partition as run_partition
from gridgeo.partition.buildings import spread_over_buildings
from gridgeo.rules import load_profile
from gridgeo.topology import fix_communities

_LAYERS = ("communities", "roads", "households", "dedicated", "villager_groups")
_REQUIRED = ("communities",)


def _specs(source: str | None, given: dict[str, str | None]) -> dict[str, str]:
    """Layer name → ``file[:layer]`` from the single-file form and/or the explicit options."""
    specs: dict[str, str] = {}
    if source:
        path, layer = split_layer_spec(source)
        if layer:
            raise InputError(
                _("give the district file without a layer"),
                [
                    Problem(
                        _("{source}: the partition reads layers {layers} from it").format(
                            source=source, layers=", ".join(_LAYERS)
                        ),
                        file=str(path),
                    )
                ],
            )
        names = [name for name, _ in list_layers(path)]
        missing = [n for n in _REQUIRED if n not in names and not given.get(n)]
        if missing:
            raise InputError(
                _("{path} has no layer {layers}").format(path=path, layers=", ".join(missing)),
                [
                    Problem(
                        _("layers found: {layers}").format(layers=", ".join(names) or _("none")),
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
            _("no communities given"),
            [
                Problem(
                    _("give a district GeoPackage or --communities FILE[:LAYER]"),
                    rule="layer.missing",
                )
            ],
        )
    return specs


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
        help="CRS of input layers that declare none (CSV, XLSX, Shapefile without .prj), "
        "e.g. bd09, gcj02, cgcs2000; layers with a CRS keep theirs.",
    ),
    communities_crs: str | None = typer.Option(
        None, "--communities-crs", help="CRS of the communities layer (replaces a declared one)."
    ),
    roads_crs: str | None = typer.Option(
        None, "--roads-crs", help="CRS of the roads layer (replaces a declared one)."
    ),
    households_crs: str | None = typer.Option(
        None,
        "--households-crs",
        help="CRS of the households layer, e.g. bd09 (replaces a declared one; "
        "FILE[:LAYER]@CRS does the same).",
    ),
    dedicated_crs: str | None = typer.Option(
        None, "--dedicated-crs", help="CRS of the dedicated layer (replaces a declared one)."
    ),
    villager_groups_crs: str | None = typer.Option(
        None, "--villager-groups-crs", help="CRS of the villager-group layer."
    ),
    buildings: str | None = typer.Option(
        None,
        "--buildings",
        help="Building footprints or 楼栋 points FILE[:LAYER] or FILE[:LAYER]@CRS (optional 户数, 层数, "
        "小区名称): compounds above the ceiling are spread over their buildings.",
    ),
    buildings_crs: str | None = typer.Option(
        None, "--buildings-crs", help="CRS of the buildings layer (replaces a declared one)."
    ),
    spread_by: str = typer.Option(
        "floor_area",
        "--spread-by",
        help="Without per-building counts: floor_area (footprint × floors) or building_count.",
    ),
    households_field: str | None = typer.Option(
        None,
        "--households-field",
        help="Field holding the household count, e.g. 户数 (default: households/户数/总户数/"
        "住户数/户籍户数…); '1' = every point is one household.",
    ),
    population_field: str | None = typer.Option(
        None,
        "--population-field",
        help="Field holding the residents, e.g. 常住人口 (default: population/人口/人口数/"
        "常住人口/户籍人口…).",
    ),
    repair: bool = typer.Option(
        False, "--repair", help="Repair invalid geometries (reported as warnings)."
    ),
    repair_topology: bool = typer.Option(
        False,
        "--repair-topology",
        help="Resolve community overlaps/gaps below 500 m² and 5 m wide first, as "
        "`gridgeo communities fix` does (each fix listed); larger overlaps are refused.",
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output GeoPackage (layers grids, violations)."
    ),
    report: Path | None = typer.Option(
        None, "--report", help="Write metrics and violations as JSON."
    ),
    workers: str = typer.Option(
        "auto",
        "--workers",
        help="Parallel processes (local; on dask with --scheduler), or auto: one per core and "
        "community, one for a small input.",
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Existing dask scheduler, e.g. tcp://host:8786."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the aggregation (same seed, same grids)."),
    divided_roads_on_median: bool | None = typer.Option(
        None,
        "--divided-roads-on-median/--divided-roads-as-drawn",
        help="Borders along the median of a divided road (its two one-way carriageways with "
        "the same name and class, as OpenStreetMap draws it) or on the carriageways as drawn "
        "(default: the profile's quality.divided_roads_on_median, off in the shipped profiles).",
    ),
) -> None:
    """Partition communities and villages into urban, rural and dedicated grids."""
    n_workers = _workers(workers)
    if kind is not None and kind not in ("urban", "rural"):
        raise InputError(
            _("--kind must be urban or rural"),
            [Problem(_("got {value}").format(value=repr(kind)), field="kind")],
        )
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
    # the code scheme: --code-pattern, else the one the communities file declares
    code_pattern = code_pattern or first_declared(specs["communities"])
    prof = (
        load_profile(profile)
        .with_code_pattern(code_pattern)
        .with_divided_roads_on_median(divided_roads_on_median)
    )
    layer_crs = {
        "communities": communities_crs,
        "roads": roads_crs,
        "households": households_crs,
        "dedicated": dedicated_crs,
        "villager_groups": villager_groups_crs,
    }
    layers, problems = read_layers(
        specs,
        crs=crs,
        layer_crs=layer_crs,
        households_field=households_field,
        population_field=population_field,
    )
    # the layer contracts are checked once, inside partition (gridgeo.io.schemas); here only
    # what the count-field choice found
    raise_for_problems(problems, "partition inputs")
    print_warnings(problems)
    if repair_topology:
        fixed = fix_communities(layers["communities"])
        layers["communities"] = fixed.communities
        print_fixes(
            fixed.fixes,
            _("community layer: {n} fixes (--repair-topology)").format(n=len(fixed.fixes)),
        )
    spread = None
    if buildings:
        spread = _spread(layers, buildings, crs, buildings_crs, spread_by, prof)

    with Progress(
        TextColumn(_("partitioning")),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(_("communities")),
        TimeElapsedColumn(),
        console=get_console(),
        transient=True,
        # no refresh thread: with none running, the process pool forks its workers (no
        # interpreter start-up, no imports to repeat); the bar is redrawn on each community
        auto_refresh=False,
    ) as bar:
        task = bar.add_task("communities", total=len(layers["communities"]))

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, refresh=True)

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
            workers=n_workers,
            scheduler=scheduler,
            progress=progress,
        )
    print_warnings(result.warnings)
    write_layers(
        out,
        {"grids": result.grids, "violations": result.violations},
        layer_metadata={"grids": code_pattern_metadata(code_pattern)},
    )
    if report is not None:
        _write_report(report, result, specs, spread)
    _print_summary(result, out, report)


def _spread(layers: dict, spec: str, crs, buildings_crs, spread_by: str, prof):
    """Spread compounds above the ceiling over their buildings; print what cannot be split."""
    if spread_by not in ("floor_area", "building_count"):
        raise InputError(
            _("--spread-by must be floor_area or building_count"),
            [
                Problem(
                    _("got {value}").format(value=repr(spread_by)),
                    field="spread_by",
                    rule="cli.option",
                )
            ],
        )
    if "households" not in layers:
        raise InputError(
            _("--buildings needs a households layer"),
            [Problem(_("give --households with the compound points"), rule="layer.missing")],
        )
    bld = read_input(spec, crs=crs, layer_crs=buildings_crs, what="buildings")
    raise_for_problems(check_layer(bld, "any", source=spec), "buildings")
    spread = spread_over_buildings(
        layers["households"], bld, ceiling=prof.urban.max_households, method=spread_by
    )
    layers["households"] = spread.households
    rep = spread.report
    if len(rep):
        t = Table(
            title=_("{n} compounds above the ceiling of {ceiling} households per grid").format(
                n=len(rep), ceiling=prof.urban.max_households
            )
        )
        for col in ("compound", "households", "number of buildings", "can be split", "advice"):
            t.add_column(_(col), overflow="fold")
        for r in rep.itertuples(index=False):
            t.add_row(
                str(r.compound),
                str(r.households),
                str(r.buildings),
                Text(_("yes"), style="green") if r.can_split else Text(_("no"), style="bold red"),
                r.advice,
            )
        console.print(t)
    return spread


def _write_report(path: Path, result, specs: dict[str, str], spread=None) -> None:
    viol = result.violations.drop(columns="geometry")
    doc = {
        "inputs": specs,
        "metrics": result.metrics,
        "violations": json.loads(viol.to_json(orient="records", force_ascii=False)),
    }
    if spread is not None:
        doc["compounds_above_ceiling"] = json.loads(
            spread.report.to_json(orient="records", force_ascii=False)
        )
    write_text_atomic(path, json.dumps(doc, ensure_ascii=False, indent=2, default=str))


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.1%}" if v <= 1 else f"{v:,.0f}"
    return str(v)


def _print_summary(result, out: Path, report: Path | None) -> None:
    m = result.metrics
    t = Table(title=_("grids written to {path}").format(path=out), show_header=False)
    t.add_column(overflow="fold")
    t.add_column(overflow="fold")
    t.add_row(_("communities"), str(m["communities"]))
    by_type = _(", ").join(f"{_(k)} {v}" for k, v in m["grids_by_type"].items())
    t.add_row(_("grids"), f"{m['grids']} ({by_type})")
    feas = m["in_band_grids_feasible"]
    t.add_row(
        _("in band (feasible communities)"),
        _("{share} ({ok}/{total} grids, {n} communities)").format(
            share=_fmt(m["in_band_share_feasible"]),
            ok=feas[0],
            total=feas[1],
            n=m["feasible_communities"],
        ),
    )
    t.add_row(_("in band (all banded)"), _fmt(m["in_band_share_all_banded"]))
    t.add_row(_("internal borders on roads"), _fmt(m["road_border_share"]))
    pp = m["polsby_popper"]
    t.add_row(_("Polsby–Popper mean / min"), f"{pp['mean']} / {pp['min']}")
    hh = m["households_per_grid"]
    t.add_row(
        _("households per grid min / median / max"), f"{hh['min']} / {hh['median']} / {hh['max']}"
    )
    t.add_row(_("households outside communities"), str(m["households_outside"]["households"]))
    t.add_row(_("seam error (max m²)"), str(m["seam_error"]["max_m2"]))
    t.add_row(
        _("violations"),
        ", ".join(f"{k} {v}" for k, v in m["violations_by_rule"].items()) or _("none"),
    )
    t.add_row(_("runtime"), f"{m['runtime_s']['total']:.1f} s")
    console.print(t)
    if report is not None:
        console.print(_("report: {path}").format(path=report))


def _workers(value: str) -> int | str:
    """``--workers``: ``auto`` or a number of processes, 1 or more."""
    value = value.strip().lower()
    if value == "auto":
        return value
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise typer.BadParameter(_("a number of processes (1 or more) or auto"), param_hint="--workers")
