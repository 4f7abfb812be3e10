"""``gridgeo communities fix``: small overlaps and gaps resolved and listed, big ones refused."""

from __future__ import annotations

import geopandas as gpd
import pyogrio
import pytest
import shapely
from shapely.geometry import box
from typer.testing import CliRunner

from gridgeo.cli.main import app
from gridgeo.errors import InputError
from gridgeo.partition.inputs import overlap_problems
from gridgeo.testing import CRS
from gridgeo.topology import fix_communities

runner = CliRunner()


def _traced(overlap=box(100, 600, 300, 601.5)) -> gpd.GeoDataFrame:
    """Four 600 m communities in WGS 84, as traced from a web map: A reaches 1.5 m into B
    along 200 m (300 m²), and C stops 2 m short of D along 100 m (an enclosed 200 m² gap)."""
    x0, y0 = 500000.0, 3000000.0
    a = box(0, 0, 600, 600).union(overlap)
    b = box(0, 600, 600, 1200)
    c = box(600, 0, 1200, 600).difference(box(700, 598, 800, 600))
    d = box(600, 600, 1200, 1200)
    geoms = [shapely.affinity.translate(g, x0, y0) for g in (a, b, c, d)]
    codes = [f"430102001{k:03d}" for k in range(1, 5)]
    return gpd.GeoDataFrame(
        {"code": codes, "name": ["甲", "乙", "丙", "丁"]}, geometry=geoms, crs=CRS
    ).to_crs(4326)


def test_small_overlap_and_gap_are_fixed_and_listed():
    layer = _traced()
    metric = layer.to_crs(CRS).geometry.to_numpy()
    assert overlap_problems(layer["code"].tolist(), metric, tolerance_m2=1.0)  # refused today
    result = fix_communities(layer, max_area_m2=500, max_width_m=5)
    fixes = result.fixes.sort_values("area_m2", ascending=False)
    assert set(fixes["kind"]) == {"overlap", "gap"}
    # the reprojection to WGS 84 bends straight edges: millimetre slivers are listed too
    ov = fixes[fixes["kind"] == "overlap"].iloc[0]
    gap = fixes[fixes["kind"] == "gap"].iloc[0]
    assert (fixes["area_m2"] < 1).sum() == len(fixes) - 2
    assert ov["area_m2"] == pytest.approx(300, rel=0.01) and ov["width_m"] == pytest.approx(
        1.5, 0.05
    )
    assert (ov["given_to"], ov["taken_from"]) == ("430102001001", "430102001002")
    assert gap["area_m2"] == pytest.approx(200, rel=0.01) and gap["given_to"] == "430102001003"
    # the listed location lies in the piece
    assert shapely.Point(ov["lon"], ov["lat"]).distance(ov.geometry) < 1e-7
    fixed = result.communities.to_crs(CRS).geometry.to_numpy()
    assert overlap_problems(result.communities["code"].tolist(), fixed, tolerance_m2=0.01) == []
    # no gap left in the layer's own CRS (degrees; 1e-12 deg² is about 0.01 m²)
    union = shapely.union_all(result.communities.geometry.to_numpy())
    assert all(shapely.Polygon(ring).area < 1e-12 for ring in union.interiors)
    assert shapely.union_all(fixed).area == pytest.approx(1200 * 1200, abs=2)
    assert len(result.left) == 0


def test_overlap_above_the_tolerance_is_refused_with_its_place_and_area():
    layer = _traced(overlap=box(100, 600, 400, 630))  # 9,000 m², 30 m wide
    with pytest.raises(InputError) as exc:
        fix_communities(layer, max_area_m2=500, max_width_m=5)
    (p,) = exc.value.problems
    assert p.rule == "topology.overlap_above_tolerance"
    assert "重叠 9,000.0 平方米" in p.message and "宽 30.0 米" in p.message


def test_cli_writes_the_fixed_layer_and_the_list_or_refuses(tmp_path):
    src = tmp_path / "streets.geojson"
    _traced().to_file(src)
    out = tmp_path / "fixed.gpkg"
    res = runner.invoke(app, ["communities", "fix", str(src), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert {"communities", "topology_fixes"} <= {n for n, _ in pyogrio.list_layers(out)}
    assert "overlap" in res.output and "gap" in res.output and "300.0" in res.output
    zh = runner.invoke(app, ["--lang", "zh_CN", "communities", "fix", str(src), "--out", str(out)])
    assert zh.exit_code == 0, zh.output
    assert "重叠" in zh.output and "缝隙" in zh.output and "已修正 " in zh.output
    big = tmp_path / "big.geojson"
    _traced(overlap=box(100, 600, 400, 630)).to_file(big)
    out2 = tmp_path / "refused.gpkg"
    res = runner.invoke(app, ["communities", "fix", str(big), "--out", str(out2)])
    assert res.exit_code == 2 and not out2.exists()
    assert "超过容差" in res.output


def test_partition_repair_topology_lets_a_traced_layer_through(tmp_path):
    src = tmp_path / "streets.geojson"
    _traced().to_file(src)
    args = ["partition", "--communities", str(src), "--out", str(tmp_path / "g.gpkg")]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and "overlap" in refused.output
    res = runner.invoke(app, [*args, "--repair-topology"])
    assert res.exit_code == 0, res.output
    assert "fixes (--repair-topology)" in res.output
    assert len(gpd.read_file(tmp_path / "g.gpkg", layer="grids")) >= 4
