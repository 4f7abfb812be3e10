"""``gridgeo load``, ``gridgeo change …``, ``gridgeo city …``, ``gridgeo history …``: the registry.

Identity: every command that changes the registry acts as the user of a token
(``--token`` or ``GRIDGEO_TOKEN``; see ``gridgeo tokens``), never a name it is told;
the token's role and division decide what it may do. The database is the private PostGIS
(started and migrated on demand) or ``GRIDGEO_DATABASE_URL``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import typer
from rich.markup import escape
from rich.table import Table

from gridgeo import registry
from gridgeo.cli._common import code_table, console, handle_errors, print_warnings
from gridgeo.database.lifecycle import ensure_ready
from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.settings import get_settings

change_app = typer.Typer(
    help="Change sets: list, show, diff, validate, file, export.", no_args_is_help=True
)
city_app = typer.Typer(
    help="City review: accept or return filed change sets.", no_args_is_help=True
)
history_app = typer.Typer(
    help="History: the registry at a date, the grid at a point, a grid's versions.",
    no_args_is_help=True,
)


def _url() -> str:
    return ensure_ready(get_settings()).app_url


def _me(token: str | None) -> registry.Principal:
    """The user the token (``--token``, else ``GRIDGEO_TOKEN``) authenticates."""
    from gridgeo.cli.users import principal

    return principal(_url(), token)


def _county(me: registry.Principal, county: str | None) -> str:
    """The county to draft in: ``--county``, else a county editor's own county."""
    if county:
        return county
    if me.role == "county_editor" and me.division_code:
        return me.division_code
    raise InputError(
        _("--county is needed (only a county editor's token implies the county)"),
        [Problem(_("missing county"), field="county", rule="cli.county")],
    )


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            _(
                "--at {value} is not a date or time (use 2025-06-30 or 2025-06-30T14:00+08:00)"
            ).format(value=repr(value)),
            [Problem(_("not an ISO date/time"), field="at", rule="cli.at")],
        ) from None
    return dt if dt.tzinfo else dt.astimezone()


_TOKEN = typer.Option(
    None, "--token", help="Your token (default $GRIDGEO_TOKEN); you act as its user."
)
_COUNTY = typer.Option(
    None, "--county", help="County code (default: the county of your county-editor token)."
)


@handle_errors
def load(
    path: str = typer.Argument(
        ..., help="Grid layer: a partition result or a hand-drawn layer (file[:layer])."
    ),
    county: str = _COUNTY,
    layer: str = typer.Option(
        None, "--layer", help="Layer of the file (default: 'grids' if present)."
    ),
    communities: str = typer.Option(
        None,
        "--communities",
        help="Community polygons (file[:layer]) for communities the registry does not know yet.",
    ),
    profile: str | None = typer.Option(
        None,
        "--profile",
        help="Profile name or .toml path (code scheme) (default: GRIDGEO_PROFILE, else yongzhou).",
    ),
    code_pattern: str = typer.Option(
        None, "--code-pattern", help=r"Regex of a community code for this run, e.g. '\d{11}'."
    ),
    title: str = typer.Option("", "--title", help="Title of the change set."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit log)."),
    repair: bool = typer.Option(
        False,
        "--repair",
        help="Repair invalid geometries with make_valid instead of refusing them.",
    ),
    crs: str = typer.Option(
        None,
        "--crs",
        help="CRS of layers that declare none (e.g. cgcs2000); FILE[:LAYER]@CRS sets one "
        "layer's CRS, replacing a declared one.",
    ),
    token: str = _TOKEN,
) -> None:
    """Load grids as a draft change set against the current registry (only their communities change)."""
    _load(
        path,
        county,
        layer,
        communities,
        profile,
        code_pattern,
        title,
        reason,
        token,
        repair,
        crs,
    )


def _layer_names(path: str) -> list[str]:
    from gridgeo.io import list_layers, split_layer_spec

    file, spec = split_layer_spec(path)
    if spec:
        return [spec]
    try:
        return [name for name, _ in list_layers(file)]
    except Exception:  # not a multi-layer file: read_layer reports problems
        return []


def _load(
    path, county, layer, communities, profile, code_pattern, title, reason, token, repair, crs
):
    from gridgeo.io.layer_crs import read_input, split_crs_spec

    path, at_crs = split_crs_spec(path)
    names = _layer_names(path)
    if layer is None and "grids" in names and ":" not in str(path)[2:]:
        layer = "grids"
    grids = read_input(path, layer, crs=crs, layer_crs=at_crs, what="grids")
    comm = None
    if communities:
        comm = read_input(communities, crs=crs, what="communities")
    elif "communities" in names and ":" not in str(path)[2:]:
        comm = read_input(path, "communities", crs=crs, layer_crs=at_crs, what="communities")
    from gridgeo.registry.workflow import refusals_audited

    actor = _me(token)
    county = _county(actor, county)
    with refusals_audited(_url(), actor, "load", None):
        result = registry.load_grids(
            _url(),
            grids,
            county=county,
            actor=actor,
            communities=comm,
            profile=profile,
            code_pattern=code_pattern,
            title=title,
            reason=reason,
            repair=repair,
        )
    for w in result.warnings:
        console.print(_("warning: {message}").format(message=w))
    if result.changeset_id is None:
        console.print(
            _("no change: all {n} grids equal the current registry").format(n=result.unchanged)
        )
        return
    acts = _actions(result.actions)
    console.print(
        _(
            "draft change set {id}: {actions}; {unchanged} grids unchanged; {new} new codes, "
            "{retired} codes to retire"
        ).format(
            id=result.changeset_id,
            actions=acts,
            unchanged=result.unchanged,
            new=len(result.new_codes),
            retired=len(result.retired_codes),
        )
    )
    if result.retired_codes:
        console.print(_("codes to retire: ") + ", ".join(result.retired_codes))
    console.print(
        _("next: gridgeo change show {id} · gridgeo change file {id}").format(
            id=result.changeset_id
        )
    )


@change_app.command("list")
@handle_errors
def list_(
    status: str = typer.Option(
        None, "--status", help="draft, filed, accepted, returned or withdrawn."
    ),
    county: str = typer.Option(None, "--county", help="Only this county (code prefix)."),
) -> None:
    """List change sets, newest first."""
    df = registry.list_changesets(_url(), status=status, county=county)
    table = code_table(
        "id", "county", "status", "items", "title", "by", "created", "decided", codes={"county"}
    )
    for r in df.itertuples():
        table.add_row(
            str(r.changeset_id),
            r.county_code,
            r.status,
            str(r.items),
            r.title,
            r.created_by,
            f"{r.created_at:%Y-%m-%d %H:%M}",
            ""
            if r.decided_at is None or pd.isna(r.decided_at)
            else f"{r.decided_by} {r.decided_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


def _actions(actions: dict[str, int]) -> str:
    """``{"split": 1, "create": 2}`` → ``create 2, split 1`` (never a raw dict)."""
    return ", ".join(f"{k} {v}" for k, v in sorted(actions.items())) or _("none")


def _codes(values) -> str:
    values = list(values or [])
    return "\n".join(values[:4]) + (f"\n… (+{len(values) - 4})" if len(values) > 4 else "")


@change_app.command()
@handle_errors
def show(changeset_id: int = typer.Argument(..., help="Change set id.")) -> None:
    """Show a change set: header and items (old → new codes)."""
    url = _url()
    cs = registry.get_changeset(url, changeset_id)
    if cs.forced_breaks:
        console.print(
            "[bold red]"
            + _("forced rule breaks ({n}), reason:").format(n=len(cs.forced_breaks))
            + "[/] "
            + escape(cs.force_reason or ""),
            markup=True,
        )
        for b in cs.forced_breaks:
            console.print(f"  {b['rule']} {b['grids'] or ''} — {b['message']}", markup=False)
    if cs.profile:
        source = {
            "points": _("recounted from the household layer"),
            "declared": _("declared counts"),
        }
        console.print(
            _("profile {profile} · filed with {receiver} · households {source}").format(
                profile=cs.profile,
                receiver=cs.receiver_code,
                source=source.get(cs.household_source or "", "—"),
            )
        )
    console.print(
        _("change set {id} · county {county} · [bold]{status}[/] · drafted by {by} {at}").format(
            id=cs.changeset_id,
            county=cs.county_code,
            status=escape(cs.status),
            by=escape(cs.created_by or ""),
            at=f"{cs.created_at:%Y-%m-%d %H:%M}",
        ),
        markup=True,
    )
    if cs.title or cs.reason:
        console.print(f"{cs.title} {cs.reason}".strip())
    if cs.decided_by:
        console.print(
            _("decided by {by} {at}: {reason}").format(
                by=cs.decided_by,
                at=f"{cs.decided_at:%Y-%m-%d %H:%M}",
                reason=cs.decision_reason or "",
            )
        )
    items = registry.changeset_items(url, changeset_id)
    table = code_table(
        "#",
        "action",
        "community",
        "old codes",
        "new codes",
        "retired",
        "note",
        codes={"community", "old codes", "new codes", "retired"},
    )
    for r in items.itertuples():
        table.add_row(
            str(r.seq),
            r.action,
            str(r.community_code or ""),
            _codes(r.old_codes),
            _codes(r.new_codes),
            _codes(r.retired_codes),
            r.note,
        )
    console.print(table)


@change_app.command()
@handle_errors
def diff(
    changeset_id: int = typer.Argument(..., help="Change set id."),
    out: Path = typer.Option(None, "--out", help="Also write the code changes as CSV."),
) -> None:
    """Before/after per code: kept, new or retired, with households and area."""
    from gridgeo.registry.export import code_changes

    url = _url()
    items = registry.changeset_items(url, changeset_id)
    old, new = registry.changeset_grids(url, changeset_id)
    changes = code_changes(items, old, new)
    area_old = dict(zip(old["grid_code"], old["area_m2"], strict=True))
    area_new = dict(zip(new["grid_code"], new["area_m2"], strict=True))
    table = code_table(
        "#",
        "action",
        "old code",
        "new code",
        "change",
        "hh before",
        "hh after",
        "m² before",
        "m² after",
        codes={"old code", "new code"},
    )
    for r in changes.itertuples():
        table.add_row(
            str(r.item),
            r.action,
            r.old_code,
            r.new_code,
            r.change,
            "" if pd.isna(r.households_before) else str(r.households_before),
            "" if pd.isna(r.households_after) else str(r.households_after),
            f"{area_old[r.old_code]:.0f}" if r.old_code in area_old else "",
            f"{area_new[r.new_code]:.0f}" if r.new_code in area_new else "",
        )
    console.print(table)
    if out:
        changes.to_csv(out, index=False, encoding="utf-8-sig")
        console.print(_("wrote {path}").format(path=out))


def _print_problems(problems) -> None:
    for p in problems:
        console.print(f"  {_(p.severity)}: {p}", markup=False)


@change_app.command()
@handle_errors
def validate(
    changeset_id: int = typer.Argument(..., help="Change set id."),
    profile: str | None = typer.Option(
        None, "--profile", help="What-if: another profile (default: the county's bound one)."
    ),
    code_pattern: str = typer.Option(None, "--code-pattern", help="Regex of a community code."),
) -> None:
    """Check what accepting would break (database checks) and the county's rules (validator)."""
    problems = registry.validate_changeset(
        _url(), changeset_id, profile=profile, code_pattern=code_pattern
    )
    errors = [p for p in problems if p.severity == "error"]
    _print_problems(problems)
    console.print(
        _("change set {id}: {errors} errors, {warnings} warnings").format(
            id=changeset_id, errors=len(errors), warnings=len(problems) - len(errors)
        )
    )
    if errors:
        raise typer.Exit(code=1)


@change_app.command("file")
@handle_errors
def file_(
    changeset_id: int = typer.Argument(..., help="Change set id."),
    note: str = typer.Option("", "--note", help="A note for the reviewer."),
    force: bool = typer.Option(
        False,
        "--force",
        help="File despite rule errors of the validator; needs --force-reason (shown to the reviewer).",
    ),
    force_reason: str = typer.Option(
        "", "--force-reason", help="Why the rule errors cannot be fixed (required with --force)."
    ),
    token: str = _TOKEN,
) -> None:
    """Validate a draft with the county's bound profile and file it (备案)."""
    actor = _me(token)
    try:
        cs = registry.file_changeset(
            _url(), changeset_id, actor=actor, note=note, force=force, force_reason=force_reason
        )
    except InputError as exc:
        _print_problems(exc.problems)
        raise
    console.print(
        _(
            "change set {id} filed with {receiver} by {by} (profile {profile}, households {source})"
        ).format(
            id=cs.changeset_id,
            receiver=cs.receiver_code,
            by=cs.filed_by,
            profile=cs.profile,
            source=cs.household_source,
        )
    )
    for b in cs.forced_breaks or []:
        grids = b.get("grids") or []
        where = ", ".join(map(str, grids)) if isinstance(grids, list | tuple) else str(grids)
        console.print(
            "  "
            + _("forced: {rule} {grids} — {message}").format(
                rule=b["rule"], grids=where, message=b["message"]
            ),
            markup=False,
        )


@change_app.command()
@handle_errors
def withdraw(
    changeset_id: int = typer.Argument(..., help="Change set id."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit log)."),
    token: str = _TOKEN,
) -> None:
    """Withdraw your draft or filed change set (its reserved codes become void, never reused)."""
    actor = _me(token)
    s = registry.withdraw_changeset(_url(), changeset_id, actor=actor, reason=reason)
    console.print(
        _("change set {id} withdrawn; {n} reserved codes void").format(
            id=changeset_id, n=len(s["void_codes"])
        )
    )


@change_app.command()
@handle_errors
def export(
    changeset_id: int = typer.Argument(..., help="Change set id."),
    out: Path = typer.Option(..., "--out", help="The filing package (.zip) to write."),
) -> None:
    """Write the filing package: GeoPackage of old/new grids, code changes CSV, summary and maps."""
    from gridgeo.registry.export import export_changeset

    path = export_changeset(_url(), changeset_id, out)
    console.print(_("wrote {path}").format(path=path))


def _table(path: Path) -> pd.DataFrame:
    from gridgeo.io import read_layer

    if path.suffix.lower() == ".csv":
        return pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    return pd.DataFrame(read_layer(str(path)).drop(columns="geometry", errors="ignore"))


@change_app.command()
@handle_errors
def assign(
    county: str = _COUNTY,
    staff: Path = typer.Option(
        None,
        "--staff",
        help="CSV: grid_code, role (head/full_time/part_time/professional), name, phone.",
    ),
    coverage: Path = typer.Option(
        None,
        "--coverage",
        help="CSV: category, department, optional grid_code or division_code (a whole "
        "community/street; both empty: all grids). Never a polygon.",
    ),
    title: str = typer.Option("", "--title", help="Title of the change set."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit log)."),
    token: str = _TOKEN,
) -> None:
    """Draft a change set assigning grid heads/workers and departments (包片) to grids."""
    actor = _me(token)
    county = _county(actor, county)
    cs = registry.draft_assignments(
        _url(),
        county=county,
        actor=actor,
        staff=_table(staff) if staff else None,
        coverage=_table(coverage) if coverage else None,
        title=title,
        reason=reason,
    )
    console.print(_("draft change set {id}: next gridgeo change file {id}").format(id=cs))


@change_app.command()
@handle_errors
def repartition(
    community: str = typer.Argument(..., help="Code of the community to re-partition."),
    households: str = typer.Option(
        ..., "--households", help="Household points (file[:layer]), with the new housing."
    ),
    county: str = _COUNTY,
    roads: str = typer.Option(None, "--roads", help="Road centrelines (file[:layer])."),
    profile: str | None = typer.Option(
        None,
        "--profile",
        help="Profile name or .toml path (default: GRIDGEO_PROFILE, else yongzhou).",
    ),
    code_pattern: str = typer.Option(None, "--code-pattern", help="Regex of a community code."),
    seed: int = typer.Option(0, "--seed", help="Seed of the partitioner."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Redraw every grid of the community (dedicated grids stay), in band or not.",
    ),
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit log)."),
    token: str = _TOKEN,
) -> None:
    """Redraw the grids of one community that left the band (all with --force); draft the change."""
    from gridgeo.io.fields import resolve_count_fields
    from gridgeo.io.layer_crs import read_input

    actor = _me(token)
    county = _county(actor, county)
    hh, warned = resolve_count_fields(read_input(households, what="households"))
    print_warnings(warned)
    result = registry.repartition_community(
        _url(),
        community,
        hh,
        county=county,
        actor=actor,
        roads=read_input(roads, what="roads") if roads else None,
        profile=profile,
        code_pattern=code_pattern,
        seed=seed,
        force=force,
        reason=reason,
    )
    console.print(
        _("kept {n} grids (in band); redrawn: {codes}").format(
            n=len(result.kept), codes=", ".join(result.redrawn) or _("none")
        )
    )
    load = result.load
    if load.changeset_id is None:
        console.print(_("no change: the registry already matches"))
        return
    console.print(
        _("draft change set {id}: {actions}; new codes {new}; retired {retired}").format(
            id=load.changeset_id,
            actions=_actions(load.actions),
            new=", ".join(load.new_codes) or "—",
            retired=", ".join(load.retired_codes) or "—",
        )
    )


@city_app.command()
@handle_errors
def accept(
    changeset_id: int = typer.Argument(..., help="Change set id."),
    reason: str = typer.Option(None, "--reason", help="A note kept in the audit log."),
    token: str = _TOKEN,
) -> None:
    """Accept a filed change set: it becomes the current registry, all items or none."""
    actor = _me(token)
    s = registry.accept_changeset(_url(), changeset_id, actor=actor, reason=reason)
    console.print(
        _(
            "change set {id} accepted at {at}: {closed} grid versions closed, {opened} opened; "
            "{new} new codes, {retired} retired"
        ).format(
            id=changeset_id,
            at=s["accepted_at"],
            closed=s["closed"],
            opened=s["opened"],
            new=len(s["new_codes"]),
            retired=len(s["retired_codes"]),
        )
    )
    if s["retired_codes"]:
        console.print(_("retired codes: ") + ", ".join(s["retired_codes"]))


@city_app.command("return")
@handle_errors
def return_(
    changeset_id: int = typer.Argument(..., help="Change set id."),
    reason: str = typer.Option(..., "--reason", help="Why it goes back to the county."),
    token: str = _TOKEN,
) -> None:
    """Return a filed change set to the county with a reason (its reserved codes become void)."""
    actor = _me(token)
    s = registry.return_changeset(_url(), changeset_id, actor=actor, reason=reason)
    console.print(
        _("change set {id} returned; {n} reserved codes void").format(
            id=changeset_id, n=len(s["void_codes"])
        )
    )


@history_app.command("at")
@handle_errors
def at_(
    at: str = typer.Option(None, "--at", help="Date or time (ISO; default now)."),
    community: str = typer.Option(
        None, "--community", help="Only communities with this code prefix."
    ),
    out: Path = typer.Option(
        None, "--out", help="Write the grids to this file (.gpkg, .geojson …)."
    ),
) -> None:
    """The registry as it was at a date."""
    gdf = registry.grids_at(_url(), _when(at), community=community)
    if out:
        from gridgeo.io import write_layers

        write_layers(
            out,
            {
                "grids": gdf.drop(columns=["valid_from", "valid_to"]).assign(
                    valid_from=gdf["valid_from"].astype(str), valid_to=gdf["valid_to"].astype(str)
                )
            },
        )
        console.print(_("wrote {n} grids to {path}").format(n=len(gdf), path=out))
        return
    table = code_table(
        "code", "name", "type", "community", "households", "valid from", codes={"code", "community"}
    )
    for r in gdf.head(200).itertuples():
        table.add_row(
            r.grid_code,
            r.grid_name,
            r.grid_type,
            r.community_code,
            str(r.households),
            f"{r.valid_from:%Y-%m-%d %H:%M}",
        )
    console.print(table)
    console.print(
        _("{n} grids").format(n=len(gdf))
        + (_(" (first 200 shown; use --out)") if len(gdf) > 200 else "")
    )


@history_app.command()
@handle_errors
def point(
    x: float = typer.Argument(..., help="x (easting, or longitude with --crs EPSG:4326)."),
    y: float = typer.Argument(..., help="y (northing, or latitude)."),
    at: str = typer.Option(None, "--at", help="Date or time (ISO; default now)."),
    crs: str = typer.Option(
        None, "--crs", help="CRS of x/y, e.g. wgs84 for lon/lat (default: the registry's, metres)."
    ),
) -> None:
    """Which grid covered a point on a date."""
    from gridgeo.crs import point_problems

    # the same sanity checks as /locate; lon/lat read as metres is refused here (a CLI user
    # can always add --crs), where /locate only warns
    problems = point_problems(x, y, crs, names=("x", "y"))
    if problems:
        raise InputError(_("point {x}, {y} cannot be looked up").format(x=x, y=y), problems)
    hits = registry.grid_at_point(_url(), x, y, at=_when(at), crs=crs)
    if not hits:
        console.print(_("no grid covered that point then"))
        raise typer.Exit(code=4)
    for h in hits:
        until = h["valid_to"].strftime("%Y-%m-%d %H:%M") if h["valid_to"] else _("now")
        console.print(
            _("{code} {name} (community {community}), valid {start} – {end}").format(
                code=h["grid_code"],
                name=h["grid_name"],
                community=h["community_code"],
                start=f"{h['valid_from']:%Y-%m-%d %H:%M}",
                end=until,
            )
        )


@history_app.command()
@handle_errors
def grid(code: str = typer.Argument(..., help="Grid code.")) -> None:
    """Every version of a grid code."""
    df = registry.grid_history(_url(), code)
    if df.empty:
        console.print(_("grid code {code} was never issued").format(code=code))
        raise typer.Exit(code=4)
    headers = ("version", "name", "households", "m²", "valid from", "valid to", "opened by")
    table = Table(*(_(h) for h in (*headers, "closed by")))
    for r in df.itertuples():
        table.add_row(
            str(r.version),
            r.grid_name,
            str(r.households),
            f"{r.area_m2:.0f}",
            f"{r.valid_from:%Y-%m-%d %H:%M}",
            "" if r.valid_to is None or pd.isna(r.valid_to) else f"{r.valid_to:%Y-%m-%d %H:%M}",
            str(r.opened_by),
            "" if r.closed_by is None or pd.isna(r.closed_by) else str(r.closed_by),
        )
    console.print(table)
    console.print(_("code status: {status}").format(status=df["code_status"].iloc[0]))


@handle_errors
def households(
    path: str = typer.Argument(
        ..., help="Household points (file[:layer]) with a households count."
    ),
    county: str = _COUNTY,
    token: str = _TOKEN,
) -> None:
    """Replace the county's household layer (restricted; used to recount households at filing)."""
    from gridgeo.io.fields import resolve_count_fields
    from gridgeo.io.layer_crs import read_input
    from gridgeo.registry.households import load_households

    actor = _me(token)
    county = _county(actor, county)
    hh, warned = resolve_count_fields(read_input(path, what="households"))
    print_warnings(warned)
    n = load_households(_url(), hh, county=county, actor=actor, source=str(path))
    console.print(_("{n} household points stored for county {county}").format(n=n, county=county))


@city_app.command()
@handle_errors
def profile(
    division: str = typer.Argument(..., help="County code (or a prefix covering counties)."),
    name: str = typer.Argument(
        ..., help="Profile name (yongzhou, xinxiang, gansu, jiangmen, panjin)."
    ),
    code_pattern: str = typer.Option(None, "--code-pattern", help="Regex of a community code."),
    receiver: str = typer.Option(
        None,
        "--receiver",
        help="Code of the division receiving filings (default: by filing level).",
    ),
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit log)."),
    token: str = _TOKEN,
) -> None:
    """Bind a county to its profile from now on (administrators only; versioned)."""
    from gridgeo.registry.bindings import bind_profile

    actor = _me(token)
    b = bind_profile(
        _url(),
        division,
        name,
        actor=actor,
        code_pattern=code_pattern,
        receiver_code=receiver,
        reason=reason,
    )
    console.print(
        _("division {code} bound to profile {profile} from {start}").format(
            code=b.division_code, profile=b.profile, start=f"{b.valid_from:%Y-%m-%d %H:%M}"
        )
    )


@city_app.command()
@handle_errors
def departments(
    path: Path = typer.Argument(..., help="CSV with department (or name), phone, is_sample."),
    token: str = _TOKEN,
) -> None:
    """Register departments (reference data for department coverage)."""
    actor = _me(token)
    n = registry.register_departments(_url(), _table(path), actor=actor)
    console.print(_("{n} departments registered").format(n=n))


# The editor's round trip (gridgeo/cli/edit.py) belongs to change sets: registered here, so it
# loads with `gridgeo change` and not at start-up.
def _register_edit_commands() -> None:
    from gridgeo.cli import edit as edit_cli

    change_app.command("export-edit")(edit_cli.export_edit)
    change_app.command("import")(edit_cli.import_edit)
    change_app.command("load-roads")(edit_cli.load_roads)


_register_edit_commands()
