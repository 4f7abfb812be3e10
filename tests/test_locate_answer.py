"""One locate answer: single /locate, /locate/batch and `gridgeo locate` agree, point by point.

Pins the department rule (lead first, then the lowest id; grid and polygon coverage alike)
and the reasons given when no department answers.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import psycopg
import pyproj
import pytest
import shapely
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gridgeo.cli.main import app as cli
from gridgeo.registry import matters
from gridgeo.service import create_app
from gridgeo.service.settings import ServiceSettings
from gridgeo.service.synthetic import seed_registry
from gridgeo.settings import Settings, get_settings

pytestmark = pytest.mark.db

ADMIN = "answer-admin"
TO_WGS = pyproj.Transformer.from_crs(3826, 4326, always_xy=True)
CATEGORIES = ["sanitation", "roads", "orphan", "nope", ""]


@pytest.fixture(scope="module")
def world(db_url):
    _comm, _grids, _cs = seed_registry(db_url, 4, 3, seed=11)
    with psycopg.connect(db_url) as conn:
        codes = [
            r[0] for r in conn.execute("SELECT grid_code FROM registry.current_grid ORDER BY 1")
        ]
        geoms = {
            c: shapely.from_wkb(bytes(g))
            for c, g in conn.execute(
                "SELECT grid_code, ST_AsBinary(geom) FROM registry.current_grid"
            )
        }
        matters.add_categories(
            conn,
            [
                {"code": "sanitation", "name": "环境卫生"},
                {"code": "roads", "name": "道路"},
                {"code": "orphan", "name": "无人认领"},
            ],
            skip_existing=False,
        )
        a = matters.add_department(conn, "示例甲局")
        b = matters.add_department(conn, "示例乙局")
        c = matters.add_department(conn, "示例丙局")
        # sanitation: B (not lead) on every grid; C (lead) by its own polygon over half the
        # district — C wins where its polygon reaches, B elsewhere
        matters.add_coverage(
            conn, department_id=b, category="sanitation", grid_codes=codes, lead=False
        )
        x0, y0, x1, y1 = shapely.union_all(list(geoms.values())).bounds
        half = shapely.box(x0 - 50, y0 - 50, (x0 + x1) / 2, y1 + 50)
        lon, lat = TO_WGS.transform(*np.asarray(half.exterior.coords).T)
        poly = {"type": "Polygon", "coordinates": [list(map(list, zip(lon, lat, strict=True)))]}
        matters.add_coverage(conn, department_id=c, category="sanitation", geometry=poly)
        # roads: C lead on the first grids, A lead on every grid → A (lowest id) everywhere
        matters.add_coverage(conn, department_id=c, category="roads", grid_codes=codes[:3])
        matters.add_coverage(conn, department_id=a, category="roads", grid_codes=codes)
    rng = np.random.default_rng(5)
    n = 120
    x = rng.uniform(x0 - 300, x1 + 300, n)
    y = rng.uniform(y0 - 300, y1 + 300, n)
    lon, lat = TO_WGS.transform(x, y)
    points = pd.DataFrame(
        {
            "id": [f"p{i}" for i in range(n)],
            "lon": lon,
            "lat": lat,
            "category": [CATEGORIES[i % len(CATEGORIES)] for i in range(n)],
        }
    )
    return db_url, points, half


def _single(client, points: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for p in points.itertuples(index=False):
        params = {"lon": repr(p.lon), "lat": repr(p.lat)}
        if p.category:
            params["category"] = p.category
        r = client.get("/locate", params=params, headers={"Authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 200, r.text
        ans = r.json()
        dep = ans["department"]
        rows.append(
            {
                "id": p.id,
                "grid_code": ans["grid"]["code"] if ans["located"] else None,
                "department": dep["name"] if dep else None,
                "reason": ans["reason"] if not ans["located"] else ans["department_reason"],
            }
        )
    return pd.DataFrame(rows)


def _table(text: str) -> pd.DataFrame:
    got = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    got = got[["id", "grid_code", "department", "reason"]]
    return got.replace({"": None})


def test_single_batch_and_cli_give_one_answer(world, tmp_path, monkeypatch):
    url, points, half = world
    csv = points.to_csv(index=False, float_format="%.17g")
    settings = ServiceSettings(admin_token=ADMIN, token_cache_s=0.0)
    with TestClient(create_app(Settings(database_url=url), settings)) as client:
        single = _single(client, points)
        r = client.post(
            "/locate/batch",
            content=csv.encode(),
            headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "text/csv"},
        )
        assert r.status_code == 200, r.text
        batch = _table(r.text)
    src = tmp_path / "points.csv"
    src.write_text(csv)
    out = tmp_path / "out.csv"
    monkeypatch.setenv("GRIDGEO_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        res = CliRunner().invoke(cli, ["locate", str(src), "--out", str(out)])
    finally:
        get_settings.cache_clear()
    assert res.exit_code == 0, res.output
    by_cli = _table(out.read_text())

    assert _records(batch) == _records(single)
    assert _records(by_cli) == _records(single)

    # and the answer is the documented rule
    inside = single["grid_code"].notna()
    cats = points["category"]
    in_half = np.array(
        [half.covers(shapely.Point(x, y)) for x, y in zip(*_xy(points), strict=True)]
    )
    san = inside & (cats == "sanitation")
    assert san.sum() > 4 and in_half[san].any() and (~in_half[san]).any()
    assert (single.loc[san & in_half, "department"] == "示例丙局").all()  # lead polygon
    assert (single.loc[san & ~in_half, "department"] == "示例乙局").all()  # non-lead grid
    assert (single.loc[inside & (cats == "roads"), "department"] == "示例甲局").all()
    orphan = single.loc[inside & (cats == "orphan"), "reason"]
    assert (orphan == "no department is assigned category 'orphan' at this point").all()
    nope = single.loc[inside & (cats == "nope"), "reason"]
    assert nope.str.startswith("unknown category 'nope': it is not in the matter list").all()
    outside = single.loc[~inside, "reason"]
    assert (
        len(outside) and (outside == "the point lies outside every grid valid at that time").all()
    )


def _records(frame: pd.DataFrame) -> list[dict]:
    return [
        {k: (None if pd.isna(v) else str(v)) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def _xy(points: pd.DataFrame):
    back = pyproj.Transformer.from_crs(4326, 3826, always_xy=True)
    return back.transform(points["lon"].to_numpy(), points["lat"].to_numpy())
