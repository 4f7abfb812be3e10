"""Da'an (urban) and Gongguan (rural), built from the shipped real data and partitioned once
per test session.

``tests/test_partition_real.py`` and ``tests/test_validate_partition.py`` check the same run
(profile ``yongzhou``, seed 0, Taiwan's 11-digit village codes); it is made on first use
through the session fixture ``demo_district`` of ``tests/conftest.py``. Both layers and
result are shared: tests only read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd

from gridgeo.demo.build import build_daan, build_gongguan
from gridgeo.partition import PartitionResult, partition

TAIWAN = r"\d{11}"  # Taiwan's 11-digit village codes
LAYERS = ("communities", "roads", "households")


@dataclass(frozen=True)
class District:
    """One demo district: its input layers and the partitioner's result on them."""

    name: str
    layers: dict[str, gpd.GeoDataFrame]
    result: PartitionResult


@dataclass
class DemoDistricts:
    """Builds and partitions a demo district on first request (GeoPackages under ``root``)."""

    root: Path
    _made: dict[str, District] = field(default_factory=dict)

    def __call__(self, name: str) -> District:
        if name not in self._made:
            build = {"daan": build_daan, "gongguan": build_gongguan}[name]
            path = build(self.root / f"{name}.gpkg")
            layers = {n: gpd.read_file(path, layer=n) for n in LAYERS}
            result = partition(
                layers["communities"],
                layers["roads"],
                layers["households"],
                profile="yongzhou",
                code_pattern=TAIWAN,
                seed=0,
            )
            self._made[name] = District(name, layers, result)
        return self._made[name]
