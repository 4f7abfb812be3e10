"""A small real registry for the incident tests: grids, departments, coverage, categories."""

from __future__ import annotations

import psycopg
import pyproj
import shapely

from gridgeo.incidents.catalog import SnapshotCatalog
from gridgeo.incidents.routing import load_snapshot
from gridgeo.testing import seed_registry

TO_WGS = pyproj.Transformer.from_crs(3826, 4326, always_xy=True)

CATEGORIES = (
    ("sanitation", "环境卫生", 5, 10),
    ("exposed_rubbish", "暴露垃圾", 5, 10),
    ("noise", "噪声扰民", 5, 10),
)


def seed_world(url: str) -> dict:
    """Seed grids (EPSG:3826), three departments, coverage and the matter list."""
    seed_registry(url, 4, 3, seed=11, block=(2, 2))
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT grid_code, ST_AsBinary(geom), community_code FROM registry.current_grid "
            "ORDER BY grid_code"
        ).fetchall()
        grids = [(c, shapely.from_wkb(bytes(g))) for c, g, _ in rows]
        community = {c: comm for c, _, comm in rows}
        for code, name, d, cd in CATEGORIES:
            conn.execute(
                "INSERT INTO service.category (code, name, deadline_days, complex_deadline_days, "
                "is_sample) VALUES (%s, %s, %s, %s, true)",
                (code, name, d, cd),
            )
        deps = {}
        for key, name in (
            ("cg", "示例区城市管理局"),
            ("zj", "示例区住建局"),
            ("hb", "示例区生态环境局"),
        ):
            deps[key] = conn.execute(
                "INSERT INTO registry.department (name, phone, is_sample) VALUES (%s, '100-0000-9000', "
                "true) RETURNING department_id",
                (name,),
            ).fetchone()[0]
        codes = [c for c, _ in grids]
        rows = [(deps["cg"], "sanitation", c, True) for c in codes]
        rows += [(deps["zj"], "sanitation", codes[0], False)]
        rows += [(deps["cg"], "exposed_rubbish", c, True) for c in codes]
        rows += [(deps["hb"], "noise", c, True) for c in codes[: len(codes) // 2]]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO registry.department_coverage (department_id, category, grid_code, lead, "
                "valid_from) VALUES (%s, %s, %s, %s, '2000-01-01')",
                rows,
            )
    with psycopg.connect(url) as conn:
        snap = load_snapshot(conn)
    return {
        "url": url,
        "grids": grids,
        "codes": codes,
        "community": community,
        "deps": deps,
        "snap": snap,
        "catalog": SnapshotCatalog(snap.categories),
    }


def lonlat(geom) -> tuple[float, float]:
    """A WGS 84 point well inside a grid."""
    inner = geom.buffer(-30)
    p = (inner if inner.area > 0 else geom).representative_point()
    return TO_WGS.transform(p.x, p.y)


def outside_lonlat(grids) -> tuple[float, float]:
    """A WGS 84 point 5 km east of every grid."""
    xmax = max(g.bounds[2] for _, g in grids)
    ymid = sum(g.bounds[1] for _, g in grids) / len(grids)
    return TO_WGS.transform(xmax + 5000, ymid)
