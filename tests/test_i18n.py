"""Chinese first: the CLI speaks Simplified Chinese by default and English on request."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gridgeo.cli.main import app
from gridgeo.i18n import catalogue, gettext, normalise_language
from gridgeo.partition.codes import grid_name
from gridgeo.testing import district

runner = CliRunner()


@pytest.fixture
def district_gpkg(tmp_path):
    comm, roads, hh = district()
    path = tmp_path / "district.gpkg"
    comm.to_file(path, layer="communities")
    roads.to_file(path, layer="roads")
    hh.to_file(path, layer="households")
    return path


def test_top_level_help_is_chinese_by_default_and_english_on_request():
    zh = runner.invoke(app, ["--help"], env={"GRIDGEO_LANG": "", "COLUMNS": "120"})
    assert zh.exit_code == 0
    assert "网格化服务管理" in zh.output and "数据与网格" in zh.output and "选项" in zh.output
    en = runner.invoke(app, ["--lang", "en", "--help"], env={"COLUMNS": "120"})
    assert "Grid-based community governance" in en.output and "Data and grids" in en.output
    assert "网格化服务管理" not in en.output
    env_en = runner.invoke(app, ["--help"], env={"GRIDGEO_LANG": "en", "COLUMNS": "120"})
    assert "Data and grids" in env_en.output


def test_inspect_in_chinese_and_english(district_gpkg):
    zh = runner.invoke(app, ["--lang", "zh_CN", "inspect", str(district_gpkg)])
    assert zh.exit_code == 0, zh.output
    assert "要素数" in zh.output and "坐标系" in zh.output and "可用" in zh.output
    en = runner.invoke(app, ["--lang", "en", "inspect", str(district_gpkg)])
    assert en.exit_code == 0, en.output
    assert "features" in en.output and "usable" in en.output and "要素数" not in en.output


def test_partition_summary_in_chinese(district_gpkg, tmp_path):
    res = runner.invoke(
        app,
        ["--lang", "zh", "partition", str(district_gpkg), "--out", str(tmp_path / "g.gpkg")],
        env={"COLUMNS": "120"},
    )
    assert res.exit_code == 0, res.output
    assert "网格已写入" in res.output and "每格户数" in res.output


def test_unknown_language_names_the_setting():
    res = runner.invoke(app, ["--lang", "fr", "--help"])
    assert res.exit_code != 0
    assert "GRIDGEO_LANG" in res.output and "--lang" in res.output


def test_catalogue_is_a_standard_po_file_read_at_run_time():
    assert catalogue("zh_CN")["Data and grids"] == "数据与网格"
    assert gettext("Data and grids", "en") == "Data and grids"
    assert normalise_language("zh-Hans") == normalise_language("zh_CN.UTF-8") == "zh_CN"


def test_grid_names_follow_the_community_names_script():
    assert grid_name("大學里", 5) == "大學里第5網格"
    assert grid_name("大学里", 5) == "大学里第5网格"
    assert grid_name("幸福社区", 12) == "幸福社区第12网格"
