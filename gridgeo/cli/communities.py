"""``gridgeo communities fix IN --out OUT``: resolve small overlaps and gaps of a community layer.

Exit status: 0 written (every fix listed), 2 overlaps above the tolerance (nothing written).
"""

from __future__ import annotations

from pathlib import Path

import typer

from gridgeo.cli._common import code_table, console, handle_errors
from gridgeo.i18n import _
from gridgeo.io import write_layers
from gridgeo.io.layer_crs import read_input
from gridgeo.topology import fix_communities

#: Kinds of fix, translated when printed.
_KIND = {"overlap": "overlap", "gap": "gap"}

app = typer.Typer(help="Community and village layers: topology repair.", no_args_is_help=True)


@app.command("fix")
@handle_errors
def fix(
    source: str = typer.Argument(..., help="Community polygons FILE[:LAYER] or FILE[:LAYER]@CRS."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="GeoPackage to write: layers communities and topology_fixes."
    ),
    max_area_m2: float = typer.Option(
        500.0, "--max-area-m2", help="Largest overlap or gap fixed (m²)."
    ),
    max_width_m: float = typer.Option(
        5.0,
        "--max-width-m",
        help="Widest overlap or gap fixed (m; diameter of the largest circle inside it).",
    ),
    crs: str | None = typer.Option(None, "--crs", help="CRS when the layer declares none."),
    code_field: str = typer.Option("code", "--code-field", help="Field naming communities."),
) -> None:
    """Give each small overlap to the larger community and each small enclosed gap to the
    neighbour with the longest shared border; refuse overlaps above the tolerance."""
    gdf = read_input(source, crs=crs, what="communities")
    result = fix_communities(
        gdf, max_area_m2=max_area_m2, max_width_m=max_width_m, code_field=code_field
    )
    layers = {"communities": result.communities, "topology_fixes": result.fixes}
    if len(result.left):
        layers["topology_left"] = result.left
    write_layers(out, layers)
    print_fixes(result.fixes, _("{n} fixes, written to {out}").format(n=len(result.fixes), out=out))
    if len(result.left):
        print_fixes(
            result.left,
            _("{n} gaps above the tolerance, left as they are (layer topology_left)").format(
                n=len(result.left)
            ),
        )


def print_fixes(frame, title: str) -> None:
    """The fixes (or the gaps left) as a table, with the rules applied."""
    table = code_table(
        "type",
        "given to",
        "taken from",
        "area (m²)",
        "width (m)",
        "longitude, latitude",
        codes={"given to", "taken from"},
        title=title,
        title_justify="left",
    )
    for r in frame.itertuples(index=False):
        table.add_row(
            _(_KIND[r.kind]) if r.kind in _KIND else r.kind,
            r.given_to or "—",
            r.taken_from or "—",
            f"{r.area_m2:,.1f}",
            f"{r.width_m:.2f}",
            f"{r.lon:.6f}, {r.lat:.6f}",
        )
    console.print(table)
    if len(frame):
        console.print(_("rules: {rules}").format(rules="；".join(sorted(set(frame["rule"])))))
