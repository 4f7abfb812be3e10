"""Fill a registry with a generated district (tests, benchmarks, trying the service).

Goes through the registry's public API (``load_grids`` → ``file_changeset`` →
``accept_changeset``), so the data passes the registry's own checks.
"""

from __future__ import annotations

import logging

import geopandas as gpd

from gridgeo.locate.synthetic import synthetic_district

log = logging.getLogger(__name__)


def seed_registry(
    url: str,
    nx: int,
    ny: int,
    *,
    seed: int = 0,
    county: str = "110101",
    crs: str = "EPSG:3826",
    **tiling: object,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, int]:
    """Load and accept a generated district of ``nx × ny`` grids.

    Returns
    -------
    communities, grids, changeset_id
        The generated layers (grids without codes: the registry assigns them).
    """
    from gridgeo.registry import Principal, accept_changeset, file_changeset, load_grids

    communities, grids = synthetic_district(nx, ny, seed=seed, county=county, crs=crs, **tiling)
    admin = Principal("gridgeo-synthetic", "admin")
    reviewer = Principal("gridgeo-synthetic reviewer", "admin")  # four eyes
    res = load_grids(
        url,
        grids,
        county=county,
        actor=admin,
        communities=communities,
        code_pattern=r"\d{12}",
        title="synthetic district",
        reason="test data",
    )
    file_changeset(url, res.changeset_id, actor=admin)
    accept_changeset(url, res.changeset_id, actor=reviewer, reason="test data")
    log.info("seeded the registry with %d synthetic grids", len(grids))
    return communities, grids, int(res.changeset_id)
