"""One locate answer: single /locate, /locate/batch and `gridgeo locate` agree, point by point.

Pins the department rule (lead first, then the lowest id; coverage is by grids — a polygon
is refused, issue 15) and the reasons given when no department answers.
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
from gridgeo.settings import Settings, get_settings
from gridgeo.testing import seed_registry

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
        # sanitation: B (not lead) on every grid; C (lead) on half of the grids — C wins
        # in its grids, B elsewhere
        matters.add_coverage(
            conn, department_id=b, category="sanitation", grid_codes=codes, lead=False
        )
        c_grids = codes[: len(codes) // 2]
        matters.add_coverage(conn, department_id=c, category="sanitation", grid_codes=c_grids)
        x0, y0, x1, y1 = shapely.union_all(list(geoms.values())).bounds
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
    return db_url, points, set(c_grids)


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


def _single_and_batch(url: str, points: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every point asked one by one (``GET /locate``) and all at once (``POST /locate/batch``)."""
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
    return single, _table(r.text)


def test_single_batch_and_cli_give_one_answer(world, tmp_path, monkeypatch):
    url, points, c_grids = world
    csv = points.to_csv(index=False, float_format="%.17g")
    single, batch = _single_and_batch(url, points)
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
    in_c = single["grid_code"].isin(c_grids).to_numpy()
    san = inside & (cats == "sanitation")
    assert san.sum() > 4 and in_c[san].any() and (~in_c[san]).any()
    assert (single.loc[san & in_c, "department"] == "示例丙局").all()  # lead
    assert (single.loc[san & ~in_c, "department"] == "示例乙局").all()  # non-lead
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


def test_reasons_follow_the_language(world, monkeypatch):
    """A dispatcher reads why a point has no grid or department in the service's language:
    Simplified Chinese by default, the same texts in the single and the batch answer."""
    url, points, _c_grids = world
    monkeypatch.setenv("GRIDGEO_LANG", "zh_CN")
    single, batch = _single_and_batch(url, points)
    assert _records(batch) == _records(single)
    inside = single["grid_code"].notna()
    cats = points["category"]
    outside = single.loc[~inside, "reason"]
    assert len(outside) and (outside == "该点不在当时有效的任何网格内").all()
    orphan = single.loc[inside & (cats == "orphan"), "reason"]
    assert len(orphan) and (orphan == "此处没有部门负责事项类别 'orphan'").all()
    nope = single.loc[inside & (cats == "nope"), "reason"]
    assert len(nope) and nope.str.startswith("未知的事项类别 'nope'").all()
