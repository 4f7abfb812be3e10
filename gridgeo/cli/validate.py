"""``gridgeo validate GRIDS``: audit a grid layer against a profile's rules.

Exit status: 0 no rule errors (warnings allowed), 1 rule errors, 2 unusable input.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyogrio
import typer
from rich.markup import escape
from rich.text import Text

from gridgeo.cli._common import code_table, console, handle_errors, print_warnings, read_layers
from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.io import check_layer, list_layers, raise_for_problems, split_layer_spec
from gridgeo.io.layer_crs import read_input, split_crs_spec
from gridgeo.io.metadata import first_declared
from gridgeo.rules import load_profile
from gridgeo.validate import validate as run_validate

_STYLE = {"error": "bold red", "warning": "yellow"}
_SHOWN = 20


def _read_grids(spec: str, crs: str | None):
    spec, at_crs = split_crs_spec(spec)
    path, layer = split_layer_spec(spec)
    if layer is None:
        names = [name for name, _ in list_layers(path)]
        if len(names) > 1 and "grids" in names:
            layer = "grids"
    return read_input(path, layer, crs=crs, layer_crs=at_crs, what="grids")


def _read_staff(spec: str) -> pd.DataFrame:
    path, layer = split_layer_spec(spec)
    if not path.exists():
        raise InputError(
            _("cannot read the staff table"), [Problem(_("file not found"), file=str(path))]
        )
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            try:
                return pd.read_csv(path, dtype=str, encoding="utf-8-sig")
            except UnicodeDecodeError:
                return pd.read_csv(path, dtype=str, encoding="gb18030")
        if suffix in (".xlsx", ".xlsm"):
            return pd.read_excel(path, sheet_name=layer or 0, dtype=str)
        return pyogrio.read_dataframe(path, layer=layer, read_geometry=False)
    except (OSError, ValueError, pyogrio.errors.DataSourceError) as exc:
        raise InputError(
            _("cannot read the staff table"),
            [Problem(_("unreadable: {error}").format(error=exc), file=str(path), layer=layer)],
        ) from exc


@handle_errors
def validate(
    grids: str = typer.Argument(
        ..., help="Grid layer: FILE or FILE:LAYER (default layer 'grids')."
    ),
    communities: str = typer.Option(
        ..., "--communities", help="Community/village polygons: FILE[:LAYER] with a 'code' field."
    ),
    households: str | None = typer.Option(
        None, "--households", help="Household points FILE[:LAYER]; sizes are recounted from them."
    ),
    roads: str | None = typer.Option(
        None, "--roads", help="Road centrelines FILE[:LAYER]: share of grid borders on roads."
    ),
    staff: str | None = typer.Option(
        None,
        "--staff",
        help="Table (CSV/XLSX/layer) with grid_code and grid_name, grid_worker, "
        "grid_worker_phone, grid_head, grid_head_phone, supervision_phone.",
    ),
    profile: str | None = typer.Option(
        None,
        "--profile",
        help="Profile name or .toml path (default: GRIDGEO_PROFILE, else yongzhou).",
    ),
    code_pattern: str | None = typer.Option(
        None, "--code-pattern", help="Regex of a community code (overrides the profile's)."
    ),
    report: list[Path] = typer.Option(
        [], "--report", help="Write the report: out.json, out.html or out.gpkg (repeatable)."
    ),
    crs: str | None = typer.Option(
        None,
        "--crs",
        help="CRS of input layers that declare none (e.g. cgcs2000, gcj02, bd09); "
        "FILE[:LAYER]@CRS sets one layer's CRS.",
    ),
    communities_crs: str | None = typer.Option(
        None, "--communities-crs", help="CRS of the communities layer (replaces a declared one)."
    ),
    households_crs: str | None = typer.Option(
        None, "--households-crs", help="CRS of the households layer, e.g. bd09."
    ),
    roads_crs: str | None = typer.Option(None, "--roads-crs", help="CRS of the roads layer."),
    households_field: str | None = typer.Option(
        None, "--households-field", help="Field holding the household count, e.g. 户数."
    ),
) -> None:
    """Check grids against the rules: size band (recounted), gaps, overlaps, borders,
    contiguity, geometry, slivers, codes, roads, posting attributes."""
    for out in report:
        if out.suffix.lower() not in (".json", ".html", ".htm", ".gpkg"):
            raise InputError(
                _("unsupported report format"),
                [Problem(_("use a .json, .html or .gpkg file name"), file=str(out))],
            )
        if not out.parent.exists():
            raise InputError(
                _("cannot write the report"),
                [Problem(_("folder does not exist"), file=str(out))],
            )
    # the code scheme: --code-pattern, else the one the input files declare
    code_pattern = code_pattern or first_declared(communities, grids)
    prof = load_profile(profile).with_code_pattern(code_pattern)
    grid_gdf = _read_grids(grids, crs)
    specs = {"communities": communities, "households": households, "roads": roads}
    layers, problems = read_layers(
        {name: spec for name, spec in specs.items() if spec},
        crs=crs,
        layer_crs={
            "communities": communities_crs,
            "households": households_crs,
            "roads": roads_crs,
        },
        households_field=households_field,
    )
    comm_gdf, hh_gdf, road_gdf = (layers.get(n) for n in ("communities", "households", "roads"))
    for name in ("households", "roads"):
        if layers.get(name) is not None:
            problems += check_layer(layers[name], name)
    raise_for_problems(problems, "input layers")
    print_warnings(problems)
    staff_df = _read_staff(staff) if staff else None

    result = run_validate(grid_gdf, comm_gdf, hh_gdf, road_gdf, profile=prof, staff=staff_df)
    _print(result)
    for out in report:
        result.write(out)
        console.print(_("wrote {path}").format(path=out))
    raise typer.Exit(code=result.exit_code)


def _print(result) -> None:
    s = result.summary
    band = s["in_band"]
    share = _("n/a") if band["share"] is None else f"{band['share']:.1%}"
    line = _(
        "{grids} grids in {communities} communities (profile {profile}): {errors} errors, "
        "{warnings} warnings; in-band share {share} ({in_band}/{counted} grids of "
        "feasible communities)"
    ).format(
        grids=s["grids"],
        communities=s["communities"],
        profile=s["profile"],
        errors=s["errors"],
        warnings=s["warnings"],
        share=share,
        in_band=band.get("in_band", 0),
        counted=band.get("counted", 0),
    )
    console.print(line, style="bold red" if s["errors"] else None, markup=False, soft_wrap=True)
    if s.get("road_border") and s["road_border"]["share"] is not None:
        rb = s["road_border"]
        road = f"{rb['share']:.1%}"
        console.print(_("internal border on roads: {share}").format(share=road))
        if rb.get("divided_road_middles_m") and rb.get("share_drawn") is not None:
            # a border down the middle of a divided road counts as on it; say how much that adds
            console.print(
                _(
                    "  of which on the lines as drawn: {share} (the rest on the middle of divided roads)"
                ).format(share=f"{rb['share_drawn']:.1%}")
            )
    if not s["by_rule"]:
        return
    rule = _("rule")
    table = code_table(rule, _("severity"), _("count"), _("meaning"), codes={rule})
    for rid, v in s["by_rule"].items():
        sev = v["severity"]
        table.add_row(rid, Text(_(sev), style=_STYLE[sev]), str(v["count"]), v["title"])
    console.print(table)
    issues = result.issues
    for row in issues.head(_SHOWN).itertuples(index=False):
        console.print(
            f"[{_STYLE[row.severity]}]{row.rule}[/] {escape(row.message)}",
            markup=True,
            soft_wrap=True,
        )
    if len(issues) > _SHOWN:
        console.print(_("… and {n} more (use --report for all)").format(n=len(issues) - _SHOWN))
