"""Benchmark the grid registry: loading a district, accepting a 50-item change set.

Run: ``.venv/bin/python benchmarks/bench_registry.py [--grids 5000] [--repeat 3]``

Uses the project's private PostGIS (or ``GRIDGEO_DATABASE_URL``) and scratch
databases that are dropped afterwards. Scenarios:

1. load the Da'an demo district's partition (``gridgeo.partition`` on
   ``data/build/daan.gpkg``, built when missing; ~300 grids) as a draft, file it, accept it;
2. the same with a generated layer of a few thousand square grids (``--grids``) in
   mainland-style 12-digit communities (EPSG:4527);
3. accept a change set of 50 items (20 merges, 20 splits, 10 renames) on top of (2).

Each write path is compared with what a user would naively write instead:
row-by-row SQLAlchemy ORM inserts (GeoAlchemy2, one flush per row) for the load,
and applying the items row by row through the ORM (one statement per closed or
opened grid version, so the integrity trigger runs per row) for the acceptance.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import _naive_orm as m  # the ORM baseline, next to this script
import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.orm import Session

from gridgeo.database import PrivateInstance, apply_migrations
from gridgeo.database.connect import libpq_url, sqlalchemy_url, with_database
from gridgeo.demo.build import build_daan
from gridgeo.registry import Principal, accept_changeset, file_changeset, load_grids
from gridgeo.registry.diff import plan_changes
from gridgeo.registry.load import _multi
from gridgeo.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent
DAAN = ROOT / "data" / "build" / "daan.gpkg"
REVIEWER = Principal("bench-city", "admin")  # unscoped reviewer (not the drafter)


# -- databases --------------------------------------------------------------------------
def server_url() -> str:
    settings = get_settings()
    if settings.database_url:
        return with_database(libpq_url(settings.database_url), "postgres")
    inst = PrivateInstance(settings)
    inst.start()
    return inst.url(dbname="postgres")


def create_db(server: str, name: str, template: str | None = None) -> str:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        conn.execute(stmt)
    url = with_database(server, name)
    if not template:
        apply_migrations(url)
    return url


def drop_db(server: str, name: str) -> None:
    sa.create_engine(sqlalchemy_url(with_database(server, name))).dispose()
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextlib.contextmanager
def engine(url: str):
    eng = sa.create_engine(sqlalchemy_url(url))
    try:
        yield eng
    finally:
        eng.dispose()


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return time.perf_counter() - t, out


# -- inputs -----------------------------------------------------------------------------
def daan_partition() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, str]:
    from gridgeo.partition import partition

    communities = gpd.read_file(DAAN, layer="communities")
    roads = gpd.read_file(DAAN, layer="roads")
    households = gpd.read_file(DAAN, layer="households")
    result = partition(communities, roads, households, profile="yongzhou", code_pattern=r"\d{11}")
    return result.grids, communities, r"\d{11}"


def generated(n_grids: int) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, str]:
    """Square communities of 10 × 10 square grids (200 m), 12-digit codes in county 310101."""
    per_side, cell = 10, 200.0
    n_comm = max(1, int(np.ceil(n_grids / per_side**2)))
    cols = int(np.ceil(np.sqrt(n_comm)))
    x0, y0 = 39_500_000.0, 3_450_000.0
    comms, grids = [], []
    for k in range(n_comm):
        code = f"310101{1 + k // 99:03d}{1 + k % 99:03d}"
        cx, cy = x0 + (k % cols) * per_side * cell, y0 + (k // cols) * per_side * cell
        comms.append(
            (code, f"社区{k + 1}", shapely.box(cx, cy, cx + per_side * cell, cy + per_side * cell))
        )
        for i in range(per_side * per_side):
            if len(grids) >= n_grids:
                break
            gx, gy = cx + (i % per_side) * cell, cy + (i // per_side) * cell
            grids.append(
                (
                    code,
                    f"{code}{i + 1:03d}",
                    f"第{i + 1}网格",
                    400,
                    1000,
                    shapely.box(gx, gy, gx + cell, gy + cell),
                )
            )
    communities = gpd.GeoDataFrame(
        {"code": [c[0] for c in comms], "name": [c[1] for c in comms]},
        geometry=[c[2] for c in comms],
        crs=4527,
    )
    used = {g[0] for g in grids}
    communities = communities[communities["code"].isin(used)].reset_index(drop=True)
    layer = gpd.GeoDataFrame(
        {
            "community_code": [g[0] for g in grids],
            "grid_code": [g[1] for g in grids],
            "grid_name": [g[2] for g in grids],
            "households": [g[3] for g in grids],
            "population": [g[4] for g in grids],
        },
        geometry=[g[5] for g in grids],
        crs=4527,
    )
    return layer, communities, r"\d{12}"


def fifty_items(current: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The current layer with 20 merges, 20 splits and 10 renames in different communities."""
    layer = current[
        ["grid_code", "grid_name", "community_code", "households", "population", "geometry"]
    ].copy()
    layer = layer.sort_values("grid_code").reset_index(drop=True)
    comms = sorted(layer["community_code"].unique())
    drop, add = [], []
    for k, c in enumerate(comms[:50]):
        rows = layer.index[layer["community_code"] == c]
        if k < 20:  # merge the first two grids of the community
            a, b = rows[0], rows[1]
            layer.loc[a, "geometry"] = shapely.union(
                layer.loc[a, "geometry"], layer.loc[b, "geometry"]
            )
            layer.loc[a, "households"] += layer.loc[b, "households"]
            drop.append(b)
        elif k < 40:  # split the first grid in two halves
            a = rows[0]
            g = layer.loc[a, "geometry"]
            x0, y0, x1, y1 = g.bounds
            left = shapely.intersection(g, shapely.box(x0, y0, (x0 + x1) / 2, y1))
            layer.loc[a, "geometry"] = left
            row = layer.loc[a].copy()
            row["geometry"] = shapely.difference(g, left)
            add.append(row)
        else:  # rename
            layer.loc[rows[0], "grid_name"] = layer.loc[rows[0], "grid_name"] + "（更名）"
    layer = layer.drop(index=drop)
    if add:
        layer = gpd.GeoDataFrame(
            pd.concat([layer, gpd.GeoDataFrame(add, crs=current.crs)]), crs=current.crs
        )
    return layer.drop(columns=["grid_code"]).reset_index(drop=True)


# -- naive alternatives -----------------------------------------------------------------
def naive_load(
    url: str, grids: gpd.GeoDataFrame, communities: gpd.GeoDataFrame, county: str
) -> int:
    """Same draft, written row by row through the ORM (one flush per row)."""
    with engine(url) as eng, Session(eng) as s, s.begin():
        srid = s.execute(sa.text("SELECT registry.srid()")).scalar()
        if srid is None:
            srid = grids.crs.to_epsg()
            s.execute(sa.text("INSERT INTO registry.meta VALUES ('srid', :v)"), {"v": str(srid)})
        g = grids.to_crs(srid).reset_index(drop=True)
        g["geometry"] = _multi(g.geometry.values)
        if s.get(m.Division, county) is None:
            s.add(m.Division(code=county, name=county, level="county"))
            s.flush()
        for row in communities.to_crs(srid).itertuples():
            if s.get(m.Division, row.code) is None:
                s.add(
                    m.Division(
                        code=row.code,
                        name=row.name,
                        level="community",
                        parent_code=county,
                        geom=f"SRID={srid};{shapely.MultiPolygon([row.geometry]).wkt}"
                        if row.geometry.geom_type == "Polygon"
                        else f"SRID={srid};{row.geometry.wkt}",
                    )
                )
                s.flush()
        empty = gpd.GeoDataFrame(
            {
                c: []
                for c in [
                    "grid_code",
                    "version",
                    "grid_name",
                    "grid_type",
                    "community_code",
                    "households",
                    "population",
                ]
            },
            geometry=[],
            crs=srid,
        )
        items = plan_changes(empty, g)
        cs = m.ChangeSetRow(county_code=county, created_by="naive")
        s.add(cs)
        s.flush()
        for seq, it in enumerate(items, start=1):
            item = m.ChangeSetItem(
                changeset_id=cs.changeset_id, seq=seq, action=it.action, note=it.note
            )
            s.add(item)
            s.flush()
            for i in it.new:
                r = g.iloc[i]
                code = r["grid_code"]
                s.add(
                    m.CodeLedger(
                        code=code,
                        community_code=r["community_code"],
                        seq=int(code[-3:]),
                        status="reserved",
                        changeset_id=cs.changeset_id,
                    )
                )
                s.flush()
                s.add(
                    m.ChangeSetNew(
                        item_id=item.item_id,
                        changeset_id=cs.changeset_id,
                        grid_code=code,
                        grid_name=r["grid_name"],
                        grid_type="urban",
                        community_code=r["community_code"],
                        households=int(r["households"]),
                        population=int(r["population"]),
                        geom=f"SRID={srid};{r.geometry.wkt}",
                    )
                )
                s.flush()
        return cs.changeset_id


def naive_accept(url: str, changeset_id: int) -> None:
    """Apply a filed change set row by row through the ORM (same checks via the trigger)."""
    now = datetime.now(UTC)
    with engine(url) as eng, Session(eng) as s, s.begin():
        cs = s.get(m.ChangeSetRow, changeset_id, with_for_update=True)
        olds = s.scalars(
            sa.select(m.ChangeSetOld).where(m.ChangeSetOld.changeset_id == changeset_id)
        ).all()
        for o in olds:
            grid = s.scalars(
                sa.select(m.Grid)
                .where(
                    m.Grid.grid_code == o.grid_code,
                    m.Grid.version == o.base_version,
                    m.Grid.valid_to.is_(None),
                )
                .with_for_update()
            ).one()
            grid.valid_to, grid.closed_by = now, changeset_id
            s.flush()
            if o.retire:
                led = s.get(m.CodeLedger, o.grid_code)
                led.status, led.retired_at, led.retired_by = "retired", now, changeset_id
                s.flush()
        news = s.scalars(
            sa.select(m.ChangeSetNew).where(m.ChangeSetNew.changeset_id == changeset_id)
        ).all()
        for n in news:
            last = s.execute(
                sa.select(sa.func.max(m.Grid.version)).where(m.Grid.grid_code == n.grid_code)
            ).scalar()
            s.add(
                m.Grid(
                    grid_code=n.grid_code,
                    version=(last or 0) + 1,
                    grid_name=n.grid_name,
                    grid_type=n.grid_type,
                    community_code=n.community_code,
                    households=n.households,
                    population=n.population,
                    geom=n.geom,
                    valid_from=now,
                    opened_by=changeset_id,
                )
            )
            s.flush()
            led = s.get(m.CodeLedger, n.grid_code)
            if led.status == "reserved":
                led.status, led.issued_at = "active", now
                s.flush()
        cs.status, cs.decided_by, cs.decided_at = "accepted", "naive", now
        s.add(m.AuditEntry(actor="naive", action="accept", changeset_id=changeset_id))


# -- scenarios --------------------------------------------------------------------------
FORCE = {"force": True, "force_reason": "benchmark data"}


def _bind(eng, county: str, pattern: str) -> None:
    """Bind the county to yongzhou (filing refuses unbound counties), received by the reviewer's city."""
    from gridgeo.registry.bindings import bind_profile

    bind_profile(
        eng,
        county,
        "yongzhou",
        actor=Principal("bench-admin", "admin"),
        code_pattern=pattern,
        receiver_code=county,  # the bench reviewer has no division: any receiver will do
    )


def scenario_load(server: str, name: str, grids, communities, pattern, county, repeat: int) -> dict:
    editor = Principal("bench-county", "county_editor", county)
    bulk, naive, file_t, accept_t = [], [], [], []
    for r in range(repeat):
        url = create_db(server, f"bench_reg_{os.getpid()}_{r}")
        with engine(url) as eng:
            t, res = timed(
                load_grids,
                eng,
                grids,
                county=county,
                actor=editor,
                communities=communities,
                code_pattern=pattern,
                repair=True,
            )
            bulk.append(t)
            _bind(eng, county, pattern)
            file_t.append(timed(file_changeset, eng, res.changeset_id, actor=editor, **FORCE)[0])
            accept_t.append(timed(accept_changeset, eng, res.changeset_id, actor=REVIEWER)[0])
        drop_db(server, f"bench_reg_{os.getpid()}_{r}")
        url = create_db(server, f"bench_reg_{os.getpid()}_n{r}")
        fixed = grids.copy()
        fixed["geometry"] = shapely.make_valid(
            fixed.geometry.values, method="structure", keep_collapsed=False
        )
        naive.append(timed(naive_load, url, fixed, communities, county)[0])
        drop_db(server, f"bench_reg_{os.getpid()}_n{r}")
    return {
        "name": name,
        "grids": len(grids),
        "load (COPY)": statistics.median(bulk),
        "load (ORM row by row)": statistics.median(naive),
        "file (validate)": statistics.median(file_t),
        "accept": statistics.median(accept_t),
    }


def scenario_accept(server: str, grids, communities, pattern, county, repeat: int) -> dict:
    editor = Principal("bench-county", "county_editor", county)
    base = f"bench_reg_{os.getpid()}_base"
    from gridgeo.registry import grids_at

    url = create_db(server, base)
    with engine(url) as eng:
        res = load_grids(
            eng, grids, county=county, actor=editor, communities=communities, code_pattern=pattern
        )
        _bind(eng, county, pattern)
        file_changeset(eng, res.changeset_id, actor=editor, **FORCE)
        accept_changeset(eng, res.changeset_id, actor=REVIEWER)
        current = grids_at(eng)
        change = fifty_items(current)
        r2 = load_grids(eng, change, county=county, actor=editor, code_pattern=pattern)
        items = sum(r2.actions.values())
        file_changeset(eng, r2.changeset_id, actor=editor, **FORCE)
    bulk, naive = [], []
    for r in range(repeat):
        for kind in ("bulk", "naive"):
            name = f"bench_reg_{os.getpid()}_{kind}{r}"
            copy = create_db(server, name, template=base)
            if kind == "bulk":
                with engine(copy) as eng:
                    bulk.append(timed(accept_changeset, eng, r2.changeset_id, actor=REVIEWER)[0])
            else:
                naive.append(timed(naive_accept, copy, r2.changeset_id)[0])
            drop_db(server, name)
    drop_db(server, base)
    return {
        "items": items,
        "actions": r2.actions,
        "registry grids": len(current),
        "accept (set-based SQL function)": statistics.median(bulk),
        "accept (ORM row by row)": statistics.median(naive),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grids", type=int, default=5000, help="Size of the generated layer.")
    ap.add_argument("--repeat", type=int, default=3, help="Runs per figure (median shown).")
    args = ap.parse_args(argv)
    server = server_url()
    print(
        f"gridgeo registry benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    with psycopg.connect(server) as conn:
        print("server:", conn.execute("SELECT version()").fetchone()[0].split(",")[0])
    rows = []
    build_daan(DAAN)  # from the shipped raw files (offline); reused while up to date
    t, (grids, comm, pattern) = timed(daan_partition)
    print(f"Da'an partition: {len(grids)} grids in {t:.1f} s (not part of the figures)")
    rows.append(
        scenario_load(server, "Da'an partition", grids, comm, pattern, "63000030", args.repeat)
    )
    grids, comm, pattern = generated(args.grids)
    rows.append(
        scenario_load(server, "generated squares", grids, comm, pattern, "310101", args.repeat)
    )

    print()
    print(
        f"{'layer':<20}{'grids':>7}{'load COPY':>12}{'load ORM':>12}{'ratio':>8}{'file':>9}{'accept':>9}"
    )
    for r in rows:
        ratio = r["load (ORM row by row)"] / r["load (COPY)"]
        print(
            f"{r['name']:<20}{r['grids']:>7}{r['load (COPY)']:>11.2f}s{r['load (ORM row by row)']:>11.2f}s"
            f"{ratio:>7.1f}×{r['file (validate)']:>8.2f}s{r['accept']:>8.2f}s"
        )
    acc = scenario_accept(server, grids, comm, pattern, "310101", args.repeat)
    print()
    print(
        f"accept a change set of {acc['items']} items {acc['actions']} on a registry of "
        f"{acc['registry grids']} grids:"
    )
    b, n = acc["accept (set-based SQL function)"], acc["accept (ORM row by row)"]
    print(f"  registry.accept_changeset (set-based): {b * 1000:8.1f} ms")
    print(f"  ORM row by row (naive):                {n * 1000:8.1f} ms   ratio {n / b:.1f}×")
    print("targets: load < 10 s, accept 50 items < 1 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
