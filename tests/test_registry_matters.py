"""The matter list in the registry: categories, departments, direct coverage rows."""

from __future__ import annotations

import psycopg
import pytest

from gridgeo.errors import ConflictError, InputError, NotFoundError
from gridgeo.registry import matters

pytestmark = pytest.mark.db

SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [[112.0, 26.0], [112.01, 26.0], [112.01, 26.01], [112.0, 26.01], [112.0, 26.0]]
    ],
}


@pytest.fixture
def conn(fresh_db_url):
    with psycopg.connect(fresh_db_url) as c:
        yield c


def test_category_lifecycle(conn):
    assert (
        matters.add_categories(conn, [{"code": "roads", "name": "道路"}], skip_existing=False) == 1
    )
    assert matters.add_categories(conn, [{"code": "roads", "name": "x"}], skip_existing=True) == 0
    row = matters.update_category(conn, "roads", {"deadline_days": 3})
    assert (
        row["name"] == "道路" and row["deadline_days"] == 3 and row["complex_deadline_days"] == 10
    )
    with pytest.raises(InputError, match="code") as err:
        matters.update_category(conn, "roads", {"code": "x; DROP TABLE service.category"})
    assert [(p.rule, p.field) for p in err.value.problems] == [("matters.field", "code")]
    with pytest.raises(NotFoundError):
        matters.update_category(conn, "nope", {"name": "x"})
    matters.delete_category(conn, "roads")
    assert matters.list_categories(conn) == []


def test_polygon_coverage_is_refused_and_coverage_is_ended_not_deleted(conn):
    matters.add_categories(conn, [{"code": "roads", "name": "道路"}], skip_existing=False)
    dep = matters.add_department(conn, "区城市管理局", phone="0746-1")
    with pytest.raises(InputError, match="grid_codes or a geometry") as err:
        matters.add_coverage(conn, department_id=dep, category="roads")
    assert [(p.rule, p.field) for p in err.value.problems] == [("coverage.empty", "grid_codes")]
    with pytest.raises(InputError) as err:
        matters.add_coverage(conn, department_id=dep, category="roads", grid_codes=["431102001001"])
    assert [(p.rule, p.field) for p in err.value.problems] == [("coverage.grid", "grid_codes")]
    with pytest.raises(InputError, match="never a polygon") as err:
        matters.add_coverage(conn, department_id=dep, category="roads", geometry=SQUARE)
    assert [(p.rule, p.field) for p in err.value.problems] == [("coverage.polygon", "geometry")]
    conn.execute("INSERT INTO registry.meta (key, value) VALUES ('srid', '4547')")
    # the database refuses one too
    with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
        conn.execute(
            "INSERT INTO registry.department_coverage (department_id, category, geom) "
            "VALUES (%s, 'roads', ST_MakeEnvelope(0, 0, 1, 1, 4547))",
            (dep,),
        )
    # a grid-based row (a grid registered by hand here) is ended, never deleted
    conn.execute(
        "INSERT INTO registry.code_ledger (code, community_code, seq, status) "
        "VALUES ('431102001001', '431102001', 1, 'reserved')"
    )
    [row] = _coverage_of_grid(conn, dep)
    assert row["department"] == "区城市管理局" and not row["by_polygon"]
    assert matters.list_departments(conn)[0]["categories"] == ["roads"]
    with pytest.raises(ConflictError, match="still assigned"):
        matters.delete_category(conn, "roads")
    conn.commit()  # the row's valid_from is in the past for the next transaction
    matters.end_coverage(conn, row["coverage_id"])
    with pytest.raises(ConflictError, match="already ended"):
        matters.end_coverage(conn, row["coverage_id"])
    with pytest.raises(ConflictError, match="history"):
        matters.delete_department(conn, dep)
    assert matters.coverage_row(conn, row["coverage_id"])["valid_to"] is not None


def _coverage_of_grid(conn, dep):
    cid = conn.execute(
        "INSERT INTO registry.department_coverage (department_id, category, grid_code) "
        "VALUES (%s, 'roads', '431102001001') RETURNING coverage_id",
        (dep,),
    ).fetchone()[0]
    return [matters.coverage_row(conn, cid)]
