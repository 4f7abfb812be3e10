"""City components on the real PostGIS: inventory import, grid of each, routing to the owner."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import psycopg
import pytest
from test_registry import COUNTY, EDITOR, REVIEWER, _register, communities_of, grids_of

from gridgeo.errors import InputError, PermissionDeniedError
from gridgeo.registry import (
    accept_changeset,
    draft_assignments,
    file_changeset,
    register_departments,
)
from gridgeo.registry.components import import_components, read_components, route_problem
from gridgeo.registry.matter_lists import set_catalogue

DEFAULT, OWNER, COVER = "示例区住房和城乡建设局", "示例区自来水公司", "示例区城市管理局"


@pytest.fixture(scope="module")
def world(db_url, tmp_path_factory):
    grids, communities = grids_of(2), communities_of(2)
    _register(db_url, grids, communities)
    register_departments(
        db_url, pd.DataFrame({"department": [DEFAULT, OWNER, COVER]}), actor=REVIEWER
    )
    with psycopg.connect(db_url) as conn:
        set_catalogue(
            conn,
            [{"code": "municipal_facilities", "name": "市政设施", "default_department": DEFAULT}],
            actor="city",
        )
    grids = grids.sort_values("grid_code").reset_index(drop=True)
    inner = grids.geometry.representative_point().set_crs(grids.crs, allow_override=True)
    wgs = inner.to_crs(4326)
    path = tmp_path_factory.mktemp("components") / "components.csv"
    pd.DataFrame(
        {
            "部件编码": ["SAMPLE-C001", "SAMPLE-C002"],
            "部件大类": ["公用设施", "道路交通"],
            "部件小类": ["井盖", "道路指示牌"],
            "权属单位": [OWNER, DEFAULT],
            "经度": [wgs.x[0], wgs.x[1]],
            "纬度": [wgs.y[0], wgs.y[1]],
        }
    ).to_csv(path, index=False)
    return grids, path


def _versions(db_url: str) -> tuple[int, int]:
    """(versions, current versions) of component SAMPLE-C001."""
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE valid_to IS NULL) FROM registry.component "
            "WHERE component_id = 'SAMPLE-C001'"
        ).fetchone()


@pytest.fixture(scope="module")
def imported(world, db_url):
    """The inventory imported once (the routing tests need it, in any test order)."""
    _grids, path = world
    import_components(db_url, read_components(path, crs="wgs84"), actor=REVIEWER, is_sample=True)
    return world


def test_inventory_import_locates_each_component(world, db_url):
    grids, path = world
    comps = read_components(path, crs="wgs84")
    assert list(comps["class"]) == ["public_facilities", "traffic"]
    with pytest.raises(PermissionDeniedError):
        import_components(db_url, comps, actor=EDITOR)
    before, _ = _versions(db_url)
    located = import_components(db_url, comps, actor=REVIEWER, is_sample=True)
    assert dict(zip(located["component_id"], located["grid_code"], strict=True)) == {
        "SAMPLE-C001": grids["grid_code"][0],
        "SAMPLE-C002": grids["grid_code"][1],
    }
    import_components(db_url, comps.iloc[:1], actor=REVIEWER)  # a new version, history kept
    assert _versions(db_url) == (before + 2, 1)


def test_bad_inventory_names_row_and_field(world, db_url, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "部件编码,部件大类,权属单位,经度,纬度\nC1,路灯类,某局,121.5,25.0\nC1,公用设施,,121.5,25.0\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as err:
        read_components(bad, crs="wgs84")
    rules = {(p.row, p.rule) for p in err.value.problems}
    assert {(0, "component.class"), (1, "component.owner"), (1, "component.duplicate")} <= rules
    comps = gpd.GeoDataFrame(
        {"component_id": ["C9"], "class": ["other"], "kind": [""], "owner": ["无此部门"]},
        geometry=gpd.points_from_xy([121.5], [25.0]),
        crs=4326,
    )
    with pytest.raises(InputError, match="not registered") as err:
        import_components(db_url, comps, actor=REVIEWER)
    assert [(p.rule, p.field) for p in err.value.problems] == [("component.owner", "owner")]
    with psycopg.connect(db_url) as conn:  # nothing written
        n = conn.execute("SELECT count(*) FROM registry.component WHERE component_id = 'C9'")
        assert n.fetchone()[0] == 0


def test_component_problem_goes_to_its_owner_before_the_category_default(imported, db_url):
    grids, _ = imported
    cs = draft_assignments(
        db_url,
        county=COUNTY,
        actor=EDITOR,
        coverage=pd.DataFrame(
            {
                "category": ["municipal_facilities"],
                "department": [COVER],
                "grid_code": [grids["grid_code"][2]],
            }
        ),
    )
    file_changeset(db_url, cs, actor=EDITOR)
    accept_changeset(db_url, cs, actor=REVIEWER)
    owner = route_problem(db_url, category="municipal_facilities", component_id="SAMPLE-C001")
    assert (owner.department, owner.rule, owner.grid_code) == (
        OWNER,
        "component_owner",
        grids["grid_code"][0],
    )
    # no component: the grid's department (包片) where there is one, else the default
    covered = route_problem(
        db_url, category="municipal_facilities", grid_code=grids["grid_code"][2]
    )
    assert (covered.department, covered.rule) == (COVER, "grid_coverage")
    default = route_problem(
        db_url, category="municipal_facilities", grid_code=grids["grid_code"][0]
    )
    assert (default.department, default.rule) == (DEFAULT, "category_default")


def test_routing_over_the_api(imported, db_url):
    from fastapi.testclient import TestClient

    from gridgeo.service.app import create_app
    from gridgeo.service.settings import ServiceSettings
    from gridgeo.settings import Settings

    admin = "test-admin-token-route"
    app = create_app(
        Settings(database_url=db_url), ServiceSettings(admin_token=admin, listen=False)
    )
    params = {"category": "municipal_facilities", "component_id": "SAMPLE-C001"}
    with TestClient(app) as client:
        assert client.get("/route", params=params).status_code == 401
        r = client.get("/route", params=params, headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 200, r.text
        assert r.json()["department"] == OWNER and r.json()["rule"] == "component_owner"
        missing = client.get(
            "/route",
            params={"category": "municipal_facilities", "component_id": "NOPE"},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert missing.status_code == 404
