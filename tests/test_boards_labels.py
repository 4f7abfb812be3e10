"""Label placement and basemap settings of the boards and public pages (pure, no database)."""

from __future__ import annotations

import pytest
import shapely
from shapely.geometry import box

from gridgeo.errors import InputError
from gridgeo.maps.boards.extent import area_words, describe_extents
from gridgeo.maps.boards.labels import overlaps, place_labels
from gridgeo.publish import basemap_from_settings
from gridgeo.settings import Settings


def _width(text: str, size: float) -> float:
    return len(text) * size  # CJK glyphs are about one em wide


def test_labels_shrink_or_move_out_but_never_overlap():
    # a row of wide grids and a row of slivers too narrow for any label
    polys = [box(i * 100, 0, i * 100 + 100, 100) for i in range(4)]
    polys += [box(i * 6, 100, i * 6 + 6, 160) for i in range(10)]
    n = len(polys)
    labels = place_labels(
        polys,
        [f"g{i}" for i in range(n)],
        [f"第{i + 1}网格" for i in range(n)],
        [f"{i + 1:03d}" for i in range(n)],
        width=_width,
        frame=(0, 0, 400, 300),
    )
    assert overlaps(labels) == []
    assert [lb.grid_code for lb in labels] == [f"g{i}" for i in range(n)]
    for lb, poly in zip(labels[:4], polys[:4], strict=True):
        assert lb.inside and poly.contains(lb.box) and lb.size == 11.0
    assert not any(lb.inside for lb in labels[4:])  # slivers: outside, with a leader line
    assert all(shapely.box(0, -1000, 400, 300).contains(lb.box) for lb in labels)


def test_extent_in_words_names_the_neighbours_per_side():
    import geopandas as gpd

    grids = gpd.GeoDataFrame(
        {"grid_code": ["a", "b"], "grid_name": ["西格", "东格"]},
        geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)],
        crs=3857,
    )
    words = describe_extents(grids)
    assert words["a"].startswith("东至东格") and "西至社区边界" in words["a"]
    assert "西至西格" in words["b"]
    assert area_words(32_500) == "约 3.25 公顷" and area_words(2_000_000) == "约 2.00 平方公里"


def test_basemap_settings():
    assert basemap_from_settings(Settings()).kind == "none"
    t = basemap_from_settings(Settings(public_basemap="tianditu", tianditu_key="K123"))
    assert t.kind == "tianditu" and "tk=K123" in t.url and not t.gcj02
    g = basemap_from_settings(
        Settings(public_basemap="gcj02", public_tile_url="http://tiles.lan/{z}/{x}/{y}.png")
    )
    assert g.gcj02 and g.url.startswith("http://tiles.lan/")
    with pytest.raises(InputError, match="GRIDGEO_TIANDITU_KEY"):
        basemap_from_settings(Settings(public_basemap="tianditu"))
    with pytest.raises(InputError, match="GRIDGEO_PUBLIC_TILE_URL"):
        basemap_from_settings(Settings(public_basemap="gcj02"))
