"""The demo pipeline behind ``make demo``: data → partition → registry → samples.

Every step reports what it did, with counts and seconds, and is idempotent: a
second run reuses the built data, the partition (when its inputs did not
change) and the registry (a load equal to the current registry drafts nothing).
Steps whose issue has not been delivered yet are reported as skipped, never
faked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from gridgeo.io.atomic import write_text_atomic
from gridgeo.settings import Settings

log = logging.getLogger(__name__)

#: The demo districts: code pattern and the county/city codes their villages start with.
DEMO = {
    "daan": {
        "code_pattern": r"\d{11}",
        "county": "63000030",
        "city": "63000",
        "profile": "yongzhou",
    },
    "gongguan": {
        "code_pattern": r"\d{11}",
        "county": "10005130",
        "city": "10005",
        "profile": "yongzhou",
    },
}


@dataclass
class Step:
    """One step's outcome."""

    name: str
    status: str  # done | reused | skipped
    detail: str
    seconds: float = 0.0


@dataclass
class DemoRun:
    """What :func:`run_demo` did, and the files and example it leaves."""

    district: str
    steps: list[Step] = field(default_factory=list)
    grids_path: Path | None = None
    database_url: str | None = None
    example: dict[str, Any] | None = None
    public_dir: Path | None = None


def _fingerprint(*paths: Path, extra: str = "") -> str:
    digest = hashlib.sha256(extra.encode())
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def demo_dir(settings: Settings) -> Path:
    """Where the demo's generated files go (``$GRIDGEO_HOME/demo``)."""
    path = Path(settings.home) / "demo"
    path.mkdir(parents=True, exist_ok=True)
    return path


def partition_district(
    inputs: Path,
    out: Path,
    *,
    profile: str,
    code_pattern: str,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[gpd.GeoDataFrame, dict[str, Any], bool]:
    """Partition a built district GeoPackage into ``out`` unless it is up to date.

    Returns the grids, the metrics and whether the result was reused.
    """
    import gridgeo.partition as partition_pkg
    from gridgeo.io import read_layer, write_layers
    from gridgeo.partition import partition

    stamp = out.with_suffix(".json")
    # The key covers the inputs, the options and the partitioner's own code.
    sources = sorted(Path(partition_pkg.__file__).parent.glob("*.py"))
    key = _fingerprint(inputs, *sources, extra=f"{profile}|{code_pattern}")
    if out.exists() and stamp.exists():
        meta = json.loads(stamp.read_text())
        if meta.get("fingerprint") == key:
            return read_layer(out, "grids"), meta.get("metrics", {}), True
    layers = {name: read_layer(inputs, name) for name in ("communities", "roads", "households")}
    result = partition(
        layers["communities"],
        layers["roads"],
        layers["households"],
        profile=profile,
        code_pattern=code_pattern,
        progress=progress,
    )
    write_layers(out, {"grids": result.grids, "violations": result.violations})
    write_text_atomic(
        stamp, json.dumps({"fingerprint": key, "metrics": result.metrics}, default=str, indent=1)
    )
    return result.grids, result.metrics, False


def register_baseline(
    url: str,
    grids: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    *,
    county: str,
    city: str,
    profile: str,
    code_pattern: str,
) -> tuple[str, dict[str, Any]]:
    """Load the grids as a change set, file it and accept it as the baseline.

    Returns ``("reused", {})`` when the registry already holds exactly these grids.
    """
    from gridgeo.demo.people import demo_people
    from gridgeo.registry import (
        accept_changeset,
        engine_for,
        file_changeset,
        load_grids,
        withdraw_changeset,
    )

    engine = engine_for(url)
    try:
        editor, reviewer = demo_people(engine, county=county, city=city)
        loaded = load_grids(
            engine,
            grids,
            county=county,
            actor=editor,
            communities=communities,
            profile=profile,
            code_pattern=code_pattern,
            title="demo baseline",
            reason="make demo: partition of the demo district",
        )
        if loaded.changeset_id is None:
            return "reused", {}
        try:
            # Rule errors the partition could not avoid (e.g. one household point above
            # the ceiling) are filed with the change set for the city to see, as the
            # seeds ask.
            _bind_demo_profile(engine, county, city, profile, code_pattern)
            file_changeset(
                engine,
                loaded.changeset_id,
                actor=editor,
                note="demo baseline",
                force=True,
                force_reason="示例数据：分区无法避免的规则违反随备案提交 (demo baseline)",
            )
            accepted = accept_changeset(engine, loaded.changeset_id, actor=reviewer, reason="demo")
        except Exception:
            # leave no half-done draft behind (its reserved codes become void)
            withdraw_changeset(engine, loaded.changeset_id, actor=editor, reason="demo step failed")
            raise
        return "done", accepted
    finally:
        engine.dispose()


def register_sample_categories(url: str, departments: pd.DataFrame) -> int:
    """Put the sample matter list (category code, name, deadlines) into ``service.category``.

    Existing codes are left as they are; returns how many were added.
    """
    from gridgeo.registry.matters import add_sample_categories

    return add_sample_categories(
        url,
        (
            {
                "code": r.category_code,
                "name": r.category,
                "description": "示例 sample matter",
                "deadline_days": r.deadline_days,
                "complex_deadline_days": r.complex_deadline_days,
            }
            for r in departments.drop_duplicates("category_code").itertuples(index=False)
        ),
    )


def register_sample_contacts(
    url: str,
    staff: pd.DataFrame,
    departments: pd.DataFrame,
    *,
    county: str,
    city: str,
    code_pattern: str | None = None,
) -> tuple[str, str]:
    """Put sample grid workers, heads and departments into the registry, through a change set.

    The departments are registered by the city; the staff and the department
    coverage (every grid of the county, per category) are drafted by the county,
    filed and accepted like any other change. A second call finds the contacts
    and does nothing; after a re-partition it staffs only the grids that have nobody.
    """
    from gridgeo.demo.people import demo_people
    from gridgeo.registry import accept_changeset, engine_for, file_changeset
    from gridgeo.registry.assignments import contacts_at, draft_assignments, register_departments
    from gridgeo.registry.staff import store_people

    engine = engine_for(url)
    try:
        have = contacts_at(engine)
        staffed = set(have["grid_code"])
        missing = staff[~staff["grid_code"].isin(staffed)]
        if staffed and missing.empty:
            return "reused", f"every grid has contacts ({len(have)} posted)"
        # first run: everyone; after a re-partition: only the grids that have nobody yet
        staff = missing
        editor, reviewer = demo_people(engine, county=county, city=city)
        n_dept = register_departments(engine, departments, actor=reviewer)
        register_sample_categories(url, departments)
        # coverage is keyed by the matter list's category code
        coverage = departments[["category_code", "department"]].rename(
            columns={"category_code": "category"}
        )
        coverage = coverage.assign(lead=True)
        if staffed:  # re-run: cover only the new grids (a blank grid_code means every grid)
            codes = pd.DataFrame({"grid_code": sorted(staff["grid_code"].unique())})
            coverage = coverage.merge(codes, how="cross")
        cs = draft_assignments(
            engine,
            county=county,
            actor=editor,
            staff=staff,
            coverage=coverage,
            title="demo sample staff and departments",
            reason="make demo: sample contacts (示例, not real people)",
        )
        file_changeset(engine, cs, actor=editor, note="demo sample contacts")
        accept_changeset(engine, cs, actor=reviewer, reason="demo")
        store_people(engine, staff)  # dedicated grids' 选配单位 / 备案乡镇（街道）
        admitted = register_sample_matters(url, departments, editor=editor, reviewer=reviewer)
        people = staff["staff_id"].nunique()
        return "done", (
            f"{people} sample staff on {staff['grid_code'].nunique()} grids, "
            f"{n_dept} departments for {len(coverage)} categories (change set {cs}), "
            f"{admitted} matters admitted"
        )
    finally:
        engine.dispose()


def _bind_demo_profile(engine, county: str, city: str, profile, code_pattern) -> None:
    """Bind the demo county to its profile (as the administrator would), once."""
    from gridgeo.errors import ConflictError
    from gridgeo.registry import Principal
    from gridgeo.registry.bindings import bind_profile, bound_profile

    try:
        bound_profile(engine, county)
    except ConflictError:
        bind_profile(
            engine,
            county,
            getattr(profile, "name", profile) or "yongzhou",
            actor=Principal("示例管理员 (demo)", "admin"),
            code_pattern=code_pattern,
            receiver_code=city or None,
            reason="make demo",
        )


def register_sample_matters(url: str, departments: pd.DataFrame, *, editor, reviewer) -> int:
    """The sample categories' default departments in the city catalogue, and their
    admission to the demo county's matter list through a filed and accepted change set.
    Returns how many categories were admitted (0 when all already are)."""
    from gridgeo.registry import accept_changeset, engine_for, file_changeset
    from gridgeo.registry.matter_lists import (
        admission_list,
        draft_matter_changes,
        set_catalogue_at,
    )

    rows = [
        {
            "code": r.category_code,
            "name": r.category,
            "deadline_days": int(r.deadline_days),
            "complex_deadline_days": int(r.complex_deadline_days),
            "default_department": r.department,
            "is_sample": True,
        }
        for r in departments.itertuples()
    ]
    set_catalogue_at(url, rows, actor=reviewer.name)
    engine = engine_for(url)
    county = editor.division_code
    todo = sorted(set(departments["category_code"]) - set(admission_list(engine, county)))
    if not todo:
        return 0
    cs = draft_matter_changes(
        engine, county=county, actor=editor, admit=todo, reason="make demo: 示例事项准入"
    )
    file_changeset(engine, cs, actor=editor, note="demo sample matter list")
    accept_changeset(engine, cs, actor=reviewer, reason="demo")
    return len(todo)


def check_sample_rules(url: str, grids: gpd.GeoDataFrame, conf: dict[str, Any]) -> str:
    """The profile's staffing and coverage checks on the demo county, in one line.

    The sample breaks one staffing rule on purpose
    (:func:`gridgeo.demo.sample.deliberate_breach_grid`); the line says whether that is
    the only breach, and names any other.
    """
    from gridgeo.demo.sample import deliberate_breach_grid
    from gridgeo.registry.coverage import check_departments
    from gridgeo.registry.staff import check_staff

    breaches = check_staff(url, profile=conf["profile"], county=conf["county"])
    gaps = check_departments(url, profile=conf["profile"], county=conf["county"])
    expected = deliberate_breach_grid(grids)
    planned = breaches[
        (breaches["grid_code"] == expected) & (breaches["rule"] == "staff.full_time")
    ]
    others = breaches.drop(planned.index)
    parts = [
        f"{len(planned)} deliberate sample breach: grid {expected} {planned['message'].iloc[0]} "
        f"({planned['rule'].iloc[0]}; {planned['basis'].iloc[0]})"
        if len(planned)
        else "the deliberate sample breach is gone"
    ]
    parts.append(
        f"{others['grid_code'].nunique()} other grids break staffing rules: "
        + "; ".join(f"{b.grid_code} {b.message}" for b in others.head(5).itertuples())
        if len(others)
        else "every other grid keeps every staffing rule"
    )
    parts.append(
        f"{gaps['grid_code'].nunique()} grids lack a department for a core category"
        if len(gaps)
        else "every grid has a department for each core category"
    )
    return "; ".join(parts)


#: The demo's supervision phone: clearly not a real number, like the sample staff's.
SAMPLE_SUPERVISION_PHONE = "100-0000-0000"


def publish_public(
    url: str, settings: Settings, *, county: str, profile: str
) -> tuple[str, str, Path]:
    """Write the noticeboards and the public site of the demo county.

    A sample supervision phone is set for the county when it has none. Returns the
    status, the detail line and the site's folder.
    """
    from gridgeo.publish import basemap_from_settings, publish_site
    from gridgeo.registry import Actor
    from gridgeo.registry.posting import current_supervision_phone, set_supervision_phone

    if current_supervision_phone(url, county) is None:
        editor = Actor("示例区县编辑 (demo)", "county", county)
        set_supervision_phone(
            url, county, SAMPLE_SUPERVISION_PHONE, actor=editor, label="示例监督电话（非真实号码）"
        )
    import gridgeo.maps.boards as boards_pkg
    import gridgeo.publish as publish_pkg
    from gridgeo.registry.posting import registry_stamp

    site = settings.public_site_dir
    sources = sorted(Path(boards_pkg.__file__).parent.glob("*.py")) + sorted(
        Path(publish_pkg.__file__).parent.rglob("*.*")
    )
    key = _fingerprint(
        *sources,
        extra=f"{registry_stamp(url)}|{county}|{profile}|{settings.public_base_url}|"
        f"{settings.public_basemap}|{settings.public_tile_url}",
    )
    stamp = site / ".published.json"
    if stamp.is_file() and (site / "index.html").is_file():
        meta = json.loads(stamp.read_text())
        if meta.get("fingerprint") == key:
            return "reused", meta.get("detail", ""), site
    result = publish_site(
        url,
        site,
        prefix=county,
        profile=profile,
        basemap=basemap_from_settings(settings),
        boards=True,
        base_url=settings.public_base_url,
        workers=2,
    )
    detail = (
        f"{result.boards} boards (PDF) → {site / 'boards'}; {len(result.pages)} public pages → "
        f"{site / 'index.html'} (served at /public/)"
    )
    stamp.write_text(json.dumps({"fingerprint": key, "detail": detail}, ensure_ascii=False))
    return "done", detail, site


def example_point(grids: gpd.GeoDataFrame, households: gpd.GeoDataFrame) -> dict[str, Any]:
    """A household point well inside a grid, in WGS 84, with the grid it must locate to."""
    pts = households.to_crs(grids.crs)
    joined = gpd.sjoin(pts, grids[["grid_code", "geometry"]], predicate="within", how="inner")
    joined = joined.sort_values(["households", "grid_code"], ascending=[False, True])
    row = joined.iloc[len(joined) // 3]
    wgs = gpd.GeoSeries([row.geometry], crs=grids.crs).to_crs(4326).iloc[0]
    return {"lon": round(wgs.x, 6), "lat": round(wgs.y, 6), "grid_code": row["grid_code"]}


def _sample_cases(
    settings: Settings, url: str, communities: gpd.GeoDataFrame
) -> tuple[int, dict[str, int]]:
    """Sample incidents reported and taken through the case loop (issue 16)."""
    from gridgeo.demo.sample import sample_incidents
    from gridgeo.incidents.deadlines import WorkingCalendar
    from gridgeo.incidents.samples import seed_sample_cases

    cal = WorkingCalendar(settings.incident_work_hours, settings.incident_timezone)
    return seed_sample_cases(url, sample_incidents(communities, 200), calendar=cal)


def run_demo(
    settings: Settings,
    *,
    district: str = "daan",
    report: Callable[[Step], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DemoRun:
    """Run the demo pipeline (without serving).

    Parameters
    ----------
    settings
        Where the database and generated files are.
    district
        ``daan`` (urban, default) or ``gongguan`` (rural).
    report
        Called with each :class:`Step` as soon as it ends.
    progress
        Called as ``progress(done, total)`` while communities are partitioned.
    """
    from gridgeo.database.lifecycle import ensure_ready
    from gridgeo.demo.build import build_district
    from gridgeo.demo.sample import sample_departments, sample_staff, write_samples
    from gridgeo.io import read_layer

    if district not in DEMO:
        raise ValueError(f"unknown demo district {district!r}; choose from {', '.join(DEMO)}")
    conf = DEMO[district]
    run = DemoRun(district)

    def step(name: str, status: str, detail: str, t0: float) -> None:
        s = Step(name, status, detail, time.perf_counter() - t0)
        run.steps.append(s)
        log.info("%s: %s (%s) in %.1f s", name, status, detail, s.seconds)
        if report:
            report(s)

    t0 = time.perf_counter()
    ready = ensure_ready(settings)
    run.database_url = ready.url
    step("database", "done", f"PostGIS {ready.versions['postgis']}", t0)

    t0 = time.perf_counter()
    built = build_district(district)
    communities = read_layer(built.path, "communities")
    households = read_layer(built.path, "households")
    step(
        "data",
        "reused" if built.skipped else "done",
        f"{len(communities)} communities, {int(households['households'].sum()):,} households "
        f"→ {built.path}",
        t0,
    )

    t0 = time.perf_counter()
    out = demo_dir(settings) / f"{district}_grids.gpkg"
    grids, metrics, reused = partition_district(
        built.path,
        out,
        profile=conf["profile"],
        code_pattern=conf["code_pattern"],
        progress=progress,
    )
    run.grids_path = out
    share = metrics.get("in_band_share_feasible")
    roads = metrics.get("road_border_share")
    share_text = f", in band {share:.1%} (feasible communities)" if share is not None else ""
    share_text += f", internal borders on roads {roads:.1%}" if roads is not None else ""
    step(
        "partition",
        "reused" if reused else "done",
        f"{len(grids)} grids{share_text} → {out}",
        t0,
    )

    t0 = time.perf_counter()
    status, accepted = register_baseline(
        ready.url,
        grids,
        communities,
        county=conf["county"],
        city=conf["city"],
        profile=conf["profile"],
        code_pattern=conf["code_pattern"],
    )
    detail = (
        "registry already holds these grids"
        if status == "reused"
        else f"change set {accepted.get('changeset')} accepted, {accepted.get('opened')} grids current"
    )
    step("registry", status, detail, t0)

    from gridgeo.registry import engine_for, grids_at

    engine = engine_for(ready.url)
    try:
        current = grids_at(engine)  # the registry issues the codes: use its grids from here on
    finally:
        engine.dispose()
    current = current[current["community_code"].isin(communities["code"].astype(str))]
    grids = current.to_crs(communities.crs)

    t0 = time.perf_counter()
    samples = write_samples(
        Path(settings.home) / "demo" / "sample", communities, grids=grids, prefix=district
    )
    status, contacts = register_sample_contacts(
        ready.url,
        sample_staff(grids),
        sample_departments(),
        county=conf["county"],
        city=conf["city"],
    )
    step("sample contacts", status, f"{contacts}; sample files: {len(samples)} sets", t0)

    t0 = time.perf_counter()
    status, detail, run.public_dir = publish_public(
        ready.url, settings, county=conf["county"], profile=conf["profile"]
    )
    step("noticeboards", status, detail, t0)
    t0 = time.perf_counter()
    new, by_state = _sample_cases(settings, ready.url, communities)
    step(
        "incidents",
        "done" if new else "reused",
        f"{sum(by_state.values())} sample cases (示例): "
        + ", ".join(f"{k} {v}" for k, v in sorted(by_state.items())),
        t0,
    )
    step(
        "patrol tracks",
        "skipped",
        "sample files written, import waits for the patrol issue (SPEC §5)",
        t0,
    )
    run.example = example_point(grids, households)
    return run
