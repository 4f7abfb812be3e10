"""A small real registry for the noticeboard tests: two neighbouring Da'an communities.

Built like ``tests/test_webmap.py``: the demo district's real data, partitioned with the
default profile, filed and accepted, with the demo's sample contacts and departments,
and a supervision phone for the county.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from gridgeo.demo.build import build_district
from gridgeo.demo.sample import sample_departments, sample_staff
from gridgeo.io import read_layer
from gridgeo.partition import partition
from gridgeo.registry import Principal, accept_changeset, file_changeset, load_grids
from gridgeo.registry.bindings import bind_profile
from gridgeo.registry.posting import set_supervision_phone

COUNTY, CITY, CODES = "63000030", "63000", r"\d{11}"
SUPERVISION = "0746-8123456"
EDITOR = Principal("示例区县编辑 (test)", "county_editor", COUNTY)
REVIEWER = Principal("示例市审核 (test)", "city_reviewer", CITY, scope=frozenset({CITY, COUNTY}))
ADMIN = Principal("管理员 (test)", "admin")


def seed_registry(db_url: str, workdir: Path, n: int = 2) -> dict:
    """Load ``n`` touching communities of Da'an into ``db_url``; returns what was loaded."""
    from gridgeo.demo.pipeline import register_sample_contacts

    built = build_district("daan", workdir / "daan.gpkg")
    communities = read_layer(built.path, "communities")
    first = communities.geometry.iloc[0]
    touching = communities[communities.geometry.intersects(first.buffer(5))]
    chosen = touching.iloc[:n]
    households = read_layer(built.path, "households")
    roads = read_layer(built.path, "roads")
    result = partition(
        chosen,
        roads.clip(chosen.total_bounds),
        households[households["community_code"].isin(chosen["code"])],
        profile="yongzhou",
        code_pattern=CODES,
    )
    loaded = load_grids(
        db_url,
        result.grids,
        county=COUNTY,
        actor=EDITOR,
        communities=chosen,
        profile="yongzhou",
        code_pattern=CODES,
    )
    bind_profile(db_url, COUNTY, "yongzhou", actor=ADMIN, code_pattern=CODES, receiver_code=CITY)
    file_changeset(
        db_url, loaded.changeset_id, actor=EDITOR, force=True, force_reason="示例数据 (test)"
    )
    accept_changeset(db_url, loaded.changeset_id, actor=REVIEWER)
    staff = sample_staff(result.grids)
    register_sample_contacts(db_url, staff, sample_departments(), county=COUNTY, city=CITY)
    set_supervision_phone(db_url, COUNTY, SUPERVISION, actor=EDITOR, label="区网格化服务管理中心")
    return {
        "communities": chosen,
        "grids": result.grids,
        "staff": staff,
        "roads": gpd.GeoDataFrame(roads.clip(chosen.total_bounds)),
        "households": households[households["community_code"].isin(chosen["code"])],
    }
