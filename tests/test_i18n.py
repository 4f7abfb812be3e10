"""Chinese first: the CLI speaks Simplified Chinese by default and English on request."""

from __future__ import annotations

import re

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


def _all_help_texts() -> list[tuple[str, str]]:
    """``(where, msgid)`` of every text a ``--help`` page shows, lazily loaded commands too."""
    import typer

    from gridgeo.cli._lang import _PANELS, LANG_HELP, help_texts
    from gridgeo.cli.main import LAZY

    texts = [*help_texts(typer.main.get_command(app))]
    texts += [("gridgeo --lang", LANG_HELP), ("gridgeo --help", "Show this message and exit.")]
    texts += [(f"typer's {name}", text) for name, text in _PANELS.items()]
    for spec in LAZY:
        texts += [(f"gridgeo {spec.name} (listing)", spec.help), ("panel", spec.panel)]
        texts += help_texts(spec.load(), f"gridgeo {spec.name}")
    return texts


def test_every_help_text_has_a_chinese_translation():
    # a new option or command needs its zh_CN entry in gridgeo/locale/zh_CN/LC_MESSAGES/gridgeo.po
    texts = _all_help_texts()
    assert len(texts) > 300
    zh = catalogue("zh_CN")
    missing = sorted({f"{where}: {text!r}" for where, text in texts if text not in zh})
    assert not missing, "no zh_CN translation for:\n" + "\n".join(missing)


def test_translations_keep_the_placeholders():
    fields = re.compile(r"\{(\w*)\}|%\((\w+)\)s")
    wrong = [
        msgid
        for msgid, msgstr in catalogue("zh_CN").items()
        if sorted(fields.findall(msgid)) != sorted(fields.findall(msgstr))
    ]
    assert not wrong, wrong


def test_a_commands_help_in_chinese_and_english():
    zh = runner.invoke(
        app, ["partition", "--help"], env={"GRIDGEO_LANG": "zh_CN", "COLUMNS": "200"}
    )
    assert zh.exit_code == 0, zh.output
    assert "路网中心线" in zh.output and "显示本帮助并退出" in zh.output and "选项" in zh.output
    assert "Road centrelines" not in zh.output
    en = runner.invoke(app, ["partition", "--help"], env={"GRIDGEO_LANG": "en", "COLUMNS": "200"})
    assert en.exit_code == 0, en.output
    assert "Road centrelines" in en.output and "Show this message and exit" in en.output
    assert "选项" not in en.output and "路网中心线" not in en.output


def test_a_docstring_of_several_paragraphs_is_translated_paragraph_by_paragraph():
    res = runner.invoke(app, ["--lang", "zh_CN", "db", "up", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "启动本项目自带的 PostGIS" in res.output and "幂等" in res.output
    assert "Idempotent" not in res.output
    en = runner.invoke(app, ["--lang", "en", "db", "up", "--help"], env={"COLUMNS": "200"})
    assert "Idempotent" in en.output and "幂等" not in en.output


def _wrapped_messages(*folders: str) -> dict[str, str]:
    """msgid → where, of every ``_("literal")`` call in the package's ``folders`` (or files)."""
    import ast
    from pathlib import Path

    import gridgeo

    root = Path(gridgeo.__file__).parent
    found: dict[str, str] = {}
    for folder in folders:
        paths = [root / folder] if folder.endswith(".py") else sorted((root / folder).glob("*.py"))
        for path in paths:
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id in ("_", "gettext")
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    found.setdefault(node.args[0].value, f"{folder}/{path.name}:{node.lineno}")
    return found


def test_every_message_of_the_command_line_and_the_readers_has_a_chinese_translation():
    found = _wrapped_messages("cli", "io")
    assert len(found) > 150
    zh = catalogue("zh_CN")
    missing = sorted(f"{where}: {msgid!r}" for msgid, where in found.items() if msgid not in zh)
    assert not missing, "no zh_CN translation for:\n" + "\n".join(missing)


def test_every_error_of_the_registry_the_rules_and_the_crs_has_a_chinese_translation():
    from gridgeo.registry.users import ACTIONS

    found = _wrapped_messages("registry", "rules.py", "crs.py")
    assert len(found) > 120
    found |= {a.text: f"registry/users.py ACTIONS[{k!r}]" for k, a in ACTIONS.items()}
    zh = catalogue("zh_CN")
    missing = sorted(f"{where}: {msgid!r}" for msgid, where in found.items() if msgid not in zh)
    assert not missing, "no zh_CN translation for:\n" + "\n".join(missing)


@pytest.mark.parametrize(
    ("lang", "refusal", "four_eyes", "crs"),
    [
        ("en", "may not accept or return filings", "(four eyes)", "unknown CRS 'EPSG:nowhere'"),
        ("zh_CN", "无权接受或退回报备", "（双人审核）", "未知的坐标系 'EPSG:nowhere'"),
    ],
)
def test_refusals_and_crs_errors_in_the_language_in_use(monkeypatch, lang, refusal, four_eyes, crs):
    from gridgeo.crs import resolve_crs
    from gridgeo.errors import CRSError, PermissionDeniedError
    from gridgeo.registry.users import Principal

    monkeypatch.setenv("GRIDGEO_LANG", lang)  # translated when raised, not at import
    editor = Principal("张三", "county_editor", "441703")
    with pytest.raises(PermissionDeniedError, match=re.escape(refusal)):
        editor.require("changeset.review", "441703")
    with pytest.raises(PermissionDeniedError, match=re.escape(four_eyes)):
        editor.require_not_author(7, ("张三", None))
    with pytest.raises(CRSError, match=re.escape(crs)):
        resolve_crs("EPSG:nowhere")


def test_printed_messages_in_chinese_and_english(tmp_path):
    args = ["partition", "--communities", str(tmp_path / "nope.gpkg"), "--kind", "town"]
    args += ["--out", str(tmp_path / "g.gpkg")]
    zh = runner.invoke(app, ["--lang", "zh_CN", *args])
    assert zh.exit_code != 0
    assert "--kind 只能是 urban 或 rural" in zh.output and "错误：" in zh.output
    en = runner.invoke(app, ["--lang", "en", *args])
    assert "--kind must be urban or rural" in en.output and "error:" in en.output


def test_registry_tables_and_messages_in_chinese(fresh_db_url, monkeypatch):
    from test_registry import _register, communities_of, grids_of

    from gridgeo.cli import registry as registry_cli

    _register(fresh_db_url, grids_of(1), communities_of(1))
    monkeypatch.setattr(registry_cli, "_url", lambda: fresh_db_url)
    zh = runner.invoke(app, ["--lang", "zh_CN", "history", "at"], env={"COLUMNS": "120"})
    assert zh.exit_code == 0, zh.output
    assert "编码" in zh.output and "生效时间" in zh.output and "个网格" in zh.output
    en = runner.invoke(app, ["--lang", "en", "history", "at"], env={"COLUMNS": "120"})
    assert "valid from" in en.output and "grids" in en.output and "编码" not in en.output
    missing = runner.invoke(app, ["--lang", "zh_CN", "history", "grid", "999"])
    assert missing.exit_code == 4 and "网格编码 999 从未发放" in missing.output
    for lang, text in (("zh_CN", "变更集 999 不存在"), ("en", "change set 999 does not exist")):
        res = runner.invoke(app, ["--lang", lang, "change", "show", "999"], env={"COLUMNS": "200"})
        assert res.exit_code == 4 and text in res.output, res.output  # a registry error


def test_the_error_box_of_a_usage_error_in_chinese_and_english():
    zh = runner.invoke(app, ["--lang", "zh_CN", "partiton"], env={"COLUMNS": "100"})
    assert zh.exit_code == 2
    assert "错误" in zh.output and "查看帮助" in zh.output and "partition" in zh.output
    en = runner.invoke(app, ["--lang", "en", "partiton"], env={"COLUMNS": "100"})
    assert en.exit_code == 2
    assert "Error" in en.output and "for help" in en.output and "查看帮助" not in en.output


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", "a.csv, layer pts, row 3, field 户数: bad value [field.bad]"),
        ("zh_CN", "a.csv, 图层 pts, 第 3 行, 字段 户数: bad value [field.bad]"),
    ],
)
def test_problem_location_in_the_language_in_use(lang, expected):
    from gridgeo.errors import Problem
    from gridgeo.i18n import use_language

    p = Problem("bad value", file="a.csv", layer="pts", row=3, field="户数", rule="field.bad")
    try:
        use_language(lang)
        assert str(p) == expected
    finally:
        use_language(None)


def test_every_word_of_typers_own_errors_has_a_chinese_translation():
    from gridgeo.cli._lang import _CLICK_ERRORS, _CLICK_LABELS, USAGE_PREFIX

    zh = catalogue("zh_CN")
    wanted = [msgid for _, msgid in _CLICK_ERRORS] + list(_CLICK_LABELS) + [USAGE_PREFIX]
    assert [m for m in wanted if m not in zh] == []


@pytest.mark.parametrize(
    ("args", "zh_text", "en_text"),
    [
        (["partition", "in.gpkg"], "缺少选项 '--out' / '-o'。", "Missing option '--out' / '-o'."),
        (["locate", "--bogus"], "没有选项 --bogus（是否想用 --out？）", "No such option: --bogus"),
        (["partition", "a", "b", "-o", "x"], "多余的参数：b", "Got unexpected extra argument"),
        (["partition", "a", "-o"], "选项 '-o' 需要一个值。", "Option '-o' requires an argument."),
        (
            ["partition", "a", "-o", "x", "--seed", "abc"],
            "'--seed' 的值无效：应为整数",
            "valid integer",
        ),
        (["history", "bogus"], "没有命令 'bogus'。", "No such command 'bogus'."),
    ],
)
def test_typers_own_usage_errors_in_chinese_and_english(args, zh_text, en_text):
    zh = runner.invoke(app, ["--lang", "zh_CN", *args], env={"COLUMNS": "200"})
    assert zh.exit_code == 2
    assert zh_text in zh.output, zh.output
    en = runner.invoke(app, ["--lang", "en", *args], env={"COLUMNS": "200"})
    assert en.exit_code == 2
    assert en_text in en.output and "用法" not in en.output, en.output
    # the usage line (printed when typer knows the command) in the same language as the rest
    assert ("用法：" in zh.output) == ("Usage: " in en.output) and "Usage: " not in zh.output


def test_help_pages_start_with_the_translated_usage_line():
    root = runner.invoke(app, ["--lang", "zh_CN", "--help"], env={"COLUMNS": "120"})
    sub = runner.invoke(app, ["--lang", "zh_CN", "partition", "--help"], env={"COLUMNS": "120"})
    assert "用法：gridgeo [OPTIONS]" in root.output and "用法：gridgeo partition" in sub.output
    en = runner.invoke(app, ["--lang", "en", "partition", "--help"], env={"COLUMNS": "120"})
    assert "Usage: gridgeo partition" in en.output and "用法" not in en.output


@pytest.mark.parametrize(
    ("lang", "texts"),
    [
        (
            "zh_CN",
            [
                "urban.min_households 大于 urban.max_households",
                "rural.target_households: 应不小于 1",
                "bogus: 不是已知的设置项",
                "rural.mode: 应为以下之一：'households'、'village'",
            ],
        ),
        (
            "en",
            [
                "urban.min_households is larger than urban.max_households",
                "rural.target_households: Input should be greater than or equal to 1",
                "bogus: Extra inputs are not permitted",
            ],
        ),
    ],
)
def test_a_bad_profiles_details_in_the_language_in_use(tmp_path, lang, texts):
    from gridgeo.errors import ProfileError
    from gridgeo.i18n import use_language
    from gridgeo.rules import load_profile

    path = tmp_path / "bad.toml"
    path.write_text(
        'name = "bad"\nbogus = 1\n[urban]\nmin_households = 600\nmax_households = 500\n'
        '[rural]\nmode = "township"\ntarget_households = 0\n',
        encoding="utf-8",
    )
    use_language(lang)
    try:
        with pytest.raises(ProfileError) as err:
            load_profile(str(path))
    finally:
        use_language(None)
    assert str(path) in str(err.value) or "bad.toml" in str(err.value)
    for text in texts:
        assert text in str(err.value), str(err.value)


def _validator_texts() -> dict[str, str]:
    """msgid → where, of every text the validator shows: its ``_()`` messages, the rule
    meanings, and the English words it translates through a variable."""
    from gridgeo.rule_ids import RULES
    from gridgeo.validate.core import IN_BAND_DEFINITION
    from gridgeo.validate.staffing import _TYPE_TEXT

    found = _wrapped_messages("validate", "rule_ids.py")
    found |= {r.title: f"rule_ids.py RULES[{k!r}].title" for k, r in RULES.items()}
    found |= {t: "validate/staffing.py _TYPE_TEXT" for t in _TYPE_TEXT.values()}
    found |= {k: "a grid's or community's kind" for k in ("urban", "rural", "dedicated")}
    found[IN_BAND_DEFINITION] = "validate/core.py IN_BAND_DEFINITION"
    return found


def test_every_message_of_the_validator_and_every_rule_meaning_has_a_chinese_translation():
    from gridgeo.rule_ids import RULES

    found = _validator_texts()
    assert len(found) > 100 and all(r.title in found for r in RULES.values())
    zh = catalogue("zh_CN")
    missing = sorted(f"{where}: {msgid!r}" for msgid, where in found.items() if msgid not in zh)
    assert not missing, "no zh_CN translation for:\n" + "\n".join(missing)


def test_rule_meanings_are_translated_when_read_not_at_import():
    from gridgeo.i18n import use_language
    from gridgeo.rule_ids import rule

    dup = rule("code.duplicate")
    try:
        use_language("zh_CN")
        assert dup.label == "多个网格使用同一网格编码"
        use_language("en")
        assert dup.label == dup.title == "several grids share one grid code"
    finally:
        use_language(None)
    assert dup.id == "code.duplicate" and "编码" in dup.basis  # id and basis as they were


@pytest.fixture
def duplicate_code_gpkg(tmp_path):
    """One community cut in two grids that share one grid code (and one without a type)."""
    import geopandas as gpd
    from shapely.geometry import box

    comm, _roads, hh = district(n_households=600)
    x0, y0, x1, y1 = comm.total_bounds
    mid = (x0 + x1) / 2
    code = "430102001001003"
    grids = gpd.GeoDataFrame(
        {
            "grid_code": [code, code],
            "community_code": ["430102001001"] * 2,
            "grid_type": ["urban", "town"],
        },
        geometry=[box(x0, y0, mid, y1), box(mid, y0, x1, y1)],
        crs=comm.crs,
    )
    path = tmp_path / "bad.gpkg"
    grids.to_file(path, layer="grids")
    comm.to_file(path, layer="communities")
    hh.to_file(path, layer="households")
    return path


def _validate_cli(lang: str, path, *extra: str):
    return runner.invoke(
        app,
        [
            "--lang",
            lang,
            "validate",
            f"{path}:grids",
            "--communities",
            f"{path}:communities",
            "--households",
            f"{path}:households",
            *extra,
        ],
        env={"COLUMNS": "200"},
    )


def test_validate_prints_its_findings_in_chinese_and_english(duplicate_code_gpkg, tmp_path):
    import json

    zh_json, en_json = tmp_path / "zh.json", tmp_path / "en.json"
    zh = _validate_cli("zh_CN", duplicate_code_gpkg, "--report", str(zh_json))
    assert zh.exit_code == 1, zh.output
    # the table: headers, severity and the rule's meaning; the ids stay as they are
    assert "含义" in zh.output and "错误" in zh.output and "code.duplicate" in zh.output
    assert "多个网格使用同一网格编码" in zh.output and "several grids share" not in zh.output
    # a finding's message, and a kind word inside one
    assert "网格编码 430102001001003 被 2 个网格使用（第 0、1 行）" in zh.output, zh.output
    assert "按所在社区视为城市网格" in zh.output and "is used by" not in zh.output

    en = _validate_cli("en", duplicate_code_gpkg, "--report", str(en_json))
    assert en.exit_code == 1, en.output
    assert "meaning" in en.output and "several grids share one grid code" in en.output
    assert "grid code 430102001001003 is used by 2 grids (rows 0, 1)" in en.output
    assert "treated as urban (from its community)" in en.output
    assert "多个网格" not in en.output and "网格编码" not in en.output

    # the stored report: texts in the language it was made in, rule ids the same in both
    zh_report, en_report = (json.loads(p.read_text(encoding="utf-8")) for p in (zh_json, en_json))
    assert [i["rule"] for i in zh_report["issues"]] == [i["rule"] for i in en_report["issues"]]
    assert zh_report["summary"]["by_rule"].keys() == en_report["summary"]["by_rule"].keys()
    assert zh_report["summary"]["by_rule"]["code.duplicate"]["title"] == "多个网格使用同一网格编码"
    assert en_report["summary"]["by_rule"]["code.duplicate"]["title"] == (
        "several grids share one grid code"
    )


def test_html_report_messages_in_the_language_in_use(duplicate_code_gpkg, tmp_path):
    zh_html = tmp_path / "r.html"
    res = _validate_cli("zh_CN", duplicate_code_gpkg, "--report", str(zh_html))
    assert res.exit_code == 1, res.output
    page = zh_html.read_text(encoding="utf-8")
    assert "多个网格使用同一网格编码" in page and "被 2 个网格使用" in page
    assert "个住户点" in page and "points;" not in page and "is used by" not in page


@pytest.mark.parametrize(
    ("lang", "unusable", "full_time", "professional"),
    [
        (
            "en",
            "cannot validate: the input is unusable",
            "rural grid without a full-time grid worker (part-time grid workers only)",
            "professional grid worker 李四 serves 2 grids (at most 1): g1, g2",
        ),
        (
            "zh_CN",
            "无法校验：输入数据不可用",
            "农村网格没有专职网格员（只有兼职网格员）",
            "专业网格员 李四 服务 2 个网格（至多 1 个）：g1、g2",
        ),
    ],
)
def test_input_errors_and_staffing_rules_in_the_language_in_use(
    monkeypatch, lang, unusable, full_time, professional
):
    import geopandas as gpd
    import pandas as pd
    from shapely.geometry import box

    from gridgeo.errors import InputError
    from gridgeo.rules import load_profile
    from gridgeo.validate import validate
    from gridgeo.validate.staffing import check_staffing

    monkeypatch.setenv("GRIDGEO_LANG", lang)  # translated when the check runs
    no_communities = gpd.GeoDataFrame({"code": []}, geometry=gpd.GeoSeries([], crs=4547))
    grids = gpd.GeoDataFrame({"grid_code": ["g1"]}, geometry=[box(0, 0, 1, 1)], crs=4547)
    with pytest.raises(InputError, match=re.escape(unusable)):
        validate(grids, no_communities)  # an empty layer

    prof = load_profile("yongzhou")
    rules = prof.staff.model_copy(
        update={"professional_max_grids": 1, "full_time_grid_types": ("rural",)}
    )
    prof = prof.model_copy(update={"staff": rules})
    grids_t = pd.DataFrame(
        {"grid_code": ["g1", "g2"], "grid_type": ["rural", "urban"], "community_code": ["c"] * 2}
    )
    staff = pd.DataFrame(
        {
            "grid_code": ["g1", "g1", "g2", "g1", "g2"],
            "role": ["head", "part_time", "head", "professional", "professional"],
            "person": ["a", "b", "c", "d", "d"],
            "name": ["甲", "乙", "丙", "李四", "李四"],
        }
    )
    messages = set(check_staffing(grids_t, staff, profile=prof)["message"])
    assert full_time in messages and professional in messages, messages


# -- the service's answers, incidents, tracks, the editor, boards, publishing, demo, database --

#: Folders (and files) whose messages are in the catalogue; routes_locate.py and deps.py of
#: the service are covered by the locator's own texts.
_SERVICE_AND_MORE = (
    "incidents",
    "tracks",
    "edit",
    "maps/boards",
    "publish",
    "demo",
    "database",
)


def _service_and_more_texts() -> dict[str, str]:
    """msgid → where, of every ``_()`` message of the service and the folders above, and the
    English names of the case loop's actions, states and rules."""
    from pathlib import Path

    import gridgeo
    from gridgeo.incidents import states

    service = Path(gridgeo.__file__).parent / "service"
    files = [
        f"service/{p.name}"
        for p in sorted(service.glob("*.py"))
        if p.name not in ("routes_locate.py", "deps.py")
    ]
    found = _wrapped_messages(*files, *_SERVICE_AND_MORE)
    from gridgeo.service.app import STARLETTE_TEXTS

    found |= {t: "service/app.py STARLETTE_TEXTS" for t in STARLETTE_TEXTS}
    for table in ("_ACTION_TEXT", "_STATE_TEXT", "_RULE_TEXT"):
        found |= {t: f"incidents/states.py {table}" for t in getattr(states, table).values()}
    return found


def test_every_message_of_the_service_incidents_tracks_editor_boards_has_a_chinese_translation():
    found = _service_and_more_texts()
    assert len(found) > 250
    zh = catalogue("zh_CN")
    missing = sorted(f"{where}: {msgid!r}" for msgid, where in found.items() if msgid not in zh)
    assert not missing, "no zh_CN translation for:\n" + "\n".join(missing)


def test_the_loops_actions_and_states_in_chinese_are_their_labels():
    from gridgeo.i18n import use_language
    from gridgeo.incidents.states import ACTIONS, STATE_NAMES, action_text, rule_text, state_text

    try:
        use_language("zh_CN")
        assert {k: action_text(k) for k in ACTIONS} == {k: a.label for k, a in ACTIONS.items()}
        assert {k: rule_text(k) for k in ACTIONS} == {k: a.rule for k, a in ACTIONS.items()}
        assert {k: state_text(k) for k in STATE_NAMES} == STATE_NAMES
        use_language("en")
        assert action_text("accept") == "accept the case" and state_text("handled") == (
            "awaiting verification"
        )
    finally:
        use_language(None)


@pytest.mark.parametrize(
    ("lang", "role", "designated", "overdue"),
    [
        (
            "en",
            "role public may not accept the case (accept); roles needed: dispatcher, admin",
            "the case is being handled (dispatched), so it is not possible to return the case "
            "(return): the centre designated",
            "explain the delay",
        ),
        (
            "zh_CN",
            "角色 public 不能执行「立案」(accept)，需要角色：dispatcher、admin",
            "案件处于「处置中」(dispatched)状态，不能执行「回弹」(return)：本案由中心指定承办",
            "超期说明",
        ),
    ],
)
def test_the_case_loops_refusals_in_the_language_in_use(
    monkeypatch, lang, role, designated, overdue
):
    from gridgeo.errors import PermissionDeniedError
    from gridgeo.incidents.states import CaseFacts, IllegalTransitionError, action_text, apply

    monkeypatch.setenv("GRIDGEO_LANG", lang)
    with pytest.raises(PermissionDeniedError, match=re.escape(role)):
        apply(CaseFacts(state="reported"), "accept", "public")
    facts = CaseFacts(state="dispatched", departments=(4,), designated=True)
    with pytest.raises(IllegalTransitionError) as err:
        apply(facts, "return", "department", {"reason": "x"}, actor_department=4)
    assert designated in str(err.value), str(err.value)
    assert err.value.rule == "承办部门只能回弹一次，指定承办的案件不得再回弹（一次回弹）"  # stable
    assert err.value.action == "return"
    assert action_text("explain") == overdue  # named so in the overdue refusal


@pytest.mark.parametrize(
    ("lang", "unknown", "no_fix"),
    [
        ("en", "unknown track format '.kml'", "use one of gpx, "),
        ("zh_CN", "未知的轨迹格式 '.kml'", "可用：gpx、"),
    ],
)
def test_a_track_file_error_in_the_language_in_use(monkeypatch, tmp_path, lang, unknown, no_fix):
    from gridgeo.errors import InputError
    from gridgeo.tracks.read import read_tracks

    monkeypatch.setenv("GRIDGEO_LANG", lang)
    path = tmp_path / "day.kml"
    path.write_text("nothing", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_tracks(path)
    assert unknown in str(err.value), str(err.value)
    assert err.value.problems[0].rule == "tracks.format"
    assert no_fix in err.value.problems[0].message


@pytest.mark.parametrize(
    ("lang", "size", "backup"),
    [
        ("en", "board size 'A9' is not one of A4, A3, A2", "is not a pg_dump custom-format backup"),
        ("zh_CN", "公示牌尺寸 'A9' 不是 A4、A3、A2 之一", "不是 pg_dump 自定义格式的备份"),
    ],
)
def test_a_board_and_a_backup_error_in_the_language_in_use(
    monkeypatch, tmp_path, lang, size, backup
):
    from gridgeo.database.backup import restore
    from gridgeo.errors import InputError
    from gridgeo.maps.boards import make_boards

    monkeypatch.setenv("GRIDGEO_LANG", lang)
    with pytest.raises(InputError, match=re.escape(size)):
        make_boards(None, ["430102001001"], tmp_path, base_url="http://x", size="A9")
    fake = tmp_path / "not-a-backup.dump"
    fake.write_bytes(b"hello")
    with pytest.raises(InputError, match=re.escape(backup)) as err:
        restore("postgresql://nowhere/none", fake)
    assert err.value.problems[0].rule == "backup.format"


@pytest.mark.db
def test_an_incident_reports_bad_body_answers_in_the_servers_language(
    db_url, monkeypatch, tmp_path
):
    from fastapi.testclient import TestClient

    from gridgeo.service import create_app
    from gridgeo.service.settings import ServiceSettings
    from gridgeo.settings import Settings

    app = create_app(
        Settings(database_url=db_url, home=tmp_path),
        ServiceSettings(admin_token="i18n-admin-token", token_cache_s=0.0, listen=False),
    )
    answers = {}
    with TestClient(app) as client:
        for lang in ("zh_CN", "en"):
            monkeypatch.setenv("GRIDGEO_LANG", lang)  # the server's language, read per answer
            bad_json = client.post(
                "/incidents", content=b"{not json", headers={"Content-Type": "application/json"}
            )
            bad_field = client.post("/incidents", json={"lon": "east", "lat": 30})
            missing = client.get(
                "/collections/nowhere", headers={"Authorization": "Bearer i18n-admin-token"}
            )
            nowhere = client.get("/no-such-page")
            answers[lang] = (bad_json, bad_field, missing, nowhere)
    for lang, json_text, field_text, missing_text, not_found in (
        ("zh_CN", "请求体不是有效的 JSON", "请求内容有误", "没有要素集 'nowhere'", "未找到"),
        (
            "en",
            "the request body is not valid JSON",
            "the request has errors",
            "no collection",
            "Not Found",
        ),
    ):
        bad_json, bad_field, missing, nowhere = answers[lang]
        assert nowhere.status_code == 404 and nowhere.json() == {
            "error": "NotFound",
            "detail": not_found,
        }
        assert bad_json.status_code == 400 and bad_field.status_code == 400, bad_json.text
        assert bad_json.json()["detail"].startswith(json_text), bad_json.json()
        assert bad_field.json()["detail"].startswith(field_text), bad_field.json()
        assert missing.status_code == 404 and missing_text in missing.json()["detail"]
        # the keys clients read stay the same in every language
        assert bad_json.json()["error"] == bad_field.json()["error"] == "InputError"
        assert bad_json.json()["problems"][0]["rule"] == "request.json"
        assert {p["rule"] for p in bad_field.json()["problems"]} == {"request.field"}
        assert missing.json()["error"] == "NotFoundError"


def test_translations_keep_each_placeholders_format_and_conversion():
    # {area:,.0f}, {due:%Y-%m-%d %H:%M}, {path!r}: a translation that drops the format or the
    # conversion prints differently (or fails) in Chinese only
    import string

    parse = string.Formatter().parse

    def fields(text: str) -> list[tuple[str, str, str | None]]:
        return sorted((n, s or "", c) for _, n, s, c in parse(text) if n is not None)

    wrong = []
    for msgid, msgstr in catalogue("zh_CN").items():
        try:
            if fields(msgid) != fields(msgstr):
                wrong.append(msgid)
        except ValueError:  # not a str.format template (a lone brace)
            continue
    assert not wrong, wrong


def test_every_message_of_the_partitioner_has_a_chinese_translation():
    # violations, dedicated-site reasons, input problems and compound advice of gridgeo/partition
    found = _wrapped_messages("partition")
    assert len(found) > 30
    zh = catalogue("zh_CN")
    missing = sorted(f"{where}: {msgid!r}" for msgid, where in found.items() if msgid not in zh)
    assert not missing, "no zh_CN translation for:\n" + "\n".join(missing)


@pytest.fixture
def unattainable_gpkg(tmp_path):
    """Two communities of ~150 households each (below the floor of 300: the band cannot be
    met, reported by the workers) and one household point outside both (by the parent)."""
    import geopandas as gpd
    import pandas as pd
    from shapely.geometry import Point

    from gridgeo.testing import CRS, tiled_district

    comm, roads, hh = tiled_district(2, 1, size=400, n_households=160, per_point=4)
    stray = gpd.GeoDataFrame({"households": [7]}, geometry=[Point(0, 0)], crs=CRS)
    hh = gpd.GeoDataFrame(pd.concat([hh, stray], ignore_index=True), geometry="geometry", crs=CRS)
    path = tmp_path / "unattainable.gpkg"
    comm.to_file(path, layer="communities")
    roads.to_file(path, layer="roads")
    hh.to_file(path, layer="households")
    return path


@pytest.mark.parametrize(
    ("lang", "unattainable", "outside"),
    [
        ("zh_CN", "无法划分为每格 300–500 户的网格", "住户点第 79 行（7 户）不在任何社区内"),
        (
            "en",
            "cannot be divided into grids of 300–500 households",
            "household point row 79 (7 households) lies in no community",
        ),
    ],
)
def test_partition_writes_its_violations_in_the_language_of_the_run(
    unattainable_gpkg, tmp_path, lang, unattainable, outside
):
    import geopandas as gpd

    out, report = tmp_path / "grids.gpkg", tmp_path / "report.json"
    args = ["partition", str(unattainable_gpkg), "--out", str(out), "--workers", "2"]
    res = runner.invoke(
        app,
        ["--lang", lang, *args, "--report", str(report)],
        env={"GRIDGEO_LANG": "en" if lang != "en" else "zh_CN", "COLUMNS": "120"},
    )
    assert res.exit_code == 0, res.output
    reasons = gpd.read_file(out, layer="violations").groupby("rule")["reason"].agg(list)
    # made in the two worker processes, one per community
    assert len(reasons["size.band_unattainable"]) == 4
    assert any(unattainable in r for r in reasons["size.band_unattainable"])
    assert reasons["household.outside_community"] == [outside]
    assert outside in report.read_text(encoding="utf-8")
    if lang == "zh_CN":
        assert not any(re.search("[a-z]{4}", r) for rs in reasons for r in rs), reasons
        assert "社区外户数" in res.output
    else:
        assert not any(re.search("[\u4e00-\u9fff]", r) for rs in reasons for r in rs), reasons


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_partition_workers_speak_the_language_in_use(monkeypatch, method):
    # forked workers inherit the caller's --lang; forkserver (a thread runs, e.g. in the
    # service) and spawn start afresh and must be told it
    from gridgeo.i18n import use_language
    from gridgeo.partition import parallel
    from gridgeo.partition.core import partition
    from gridgeo.testing import tiled_district

    monkeypatch.setattr(parallel, "_start_method", lambda: method)
    comm, roads, hh = tiled_district(2, 1, size=400, n_households=160, per_point=4)
    try:
        use_language("zh_CN")
        zh = partition(comm, roads, hh, workers=2).violations
        use_language("en")
        en = partition(comm, roads, hh, workers=2).violations
    finally:
        use_language(None)
    assert len(zh) == len(en) == 4 and zh["rule"].tolist() == en["rule"].tolist()
    assert all("低于下限 300" in r or "无法划分" in r for r in zh["reason"]), zh["reason"].tolist()
    assert all("floor of 300" in r or "cannot be divided" in r for r in en["reason"])


def test_partition_reasons_in_chinese_keep_the_english_figures():
    from gridgeo.i18n import use_language
    from gridgeo.partition.dedicated import Site, stands_alone
    from gridgeo.rules import load_profile

    prof = load_profile("yongzhou")
    school = Site(row=0, geom=None, name="一中", category="school")
    try:
        use_language("zh_CN")
        zh = stands_alone(school, 250, 700, prof)
        use_language("en")
        en = stands_alone(school, 250, 700, prof)
    finally:
        use_language(None)
    assert zh[0] == en[0]
    assert "250 户 / 700 人" in zh[1] and "250 households / 700 residents" in en[1], (zh, en)


# -- the locator: point files and batch bodies, the grid index, /locate and its checks --


def test_every_message_of_the_locator_and_its_routes_has_a_chinese_translation():
    # gridgeo/locate/ and the two service files the service's own check leaves out
    found = _wrapped_messages("locate", "service/routes_locate.py", "service/deps.py", "times.py")
    assert len(found) > 60
    zh = catalogue("zh_CN")
    missing = sorted(f"{where}: {msgid!r}" for msgid, where in found.items() if msgid not in zh)
    assert not missing, "no zh_CN translation for:\n" + "\n".join(missing)


@pytest.mark.parametrize(
    ("lang", "texts"),
    [
        ("zh_CN", ["at='yesterday' 不是可用的日期或时间", "2024-05-01", "不是 ISO 8601 日期"]),
        ("en", ["at='yesterday' is not a usable date or time", "not an ISO 8601 date"]),
    ],
)
def test_a_bad_at_time_in_the_language_in_use(monkeypatch, lang, texts):
    from gridgeo.errors import InputError
    from gridgeo.times import parse_at

    monkeypatch.setenv("GRIDGEO_LANG", lang)
    with pytest.raises(InputError) as err:
        parse_at("yesterday", "Asia/Shanghai")
    for text in texts:
        assert text in str(err.value)


@pytest.mark.parametrize(
    ("lang", "texts"),
    [
        ("zh_CN", ["points.csv：1 个坐标值有误", "第 1 行", "字段 lon", "缺失或不是数字"]),
        (
            "en",
            [
                "points.csv: 1 bad coordinate values",
                "row 1",
                "field lon",
                "missing or not a number",
            ],
        ),
    ],
)
def test_a_bad_point_row_of_gridgeo_locate_in_the_language_of_the_run(tmp_path, lang, texts):
    # the file is refused before the registry is opened: no database needed
    src = tmp_path / "points.csv"
    src.write_text("id,lon,lat\na,116.4,39.9\nb,abc,39.9\n", encoding="utf-8")
    res = runner.invoke(
        app,
        ["--lang", lang, "locate", str(src), "--out", str(tmp_path / "out.csv")],
        env={"GRIDGEO_LANG": "en" if lang != "en" else "zh_CN", "COLUMNS": "200"},
    )
    assert res.exit_code != 0
    for text in texts:
        assert text in res.output, res.output
    assert not (tmp_path / "out.csv").exists()


def test_batch_body_errors_in_the_language_in_use(tmp_path):
    # a streamed body (PointFile, as /locate/batch reads it), a GeoJSON body and a bad crs=
    from gridgeo.errors import InputError
    from gridgeo.i18n import use_language
    from gridgeo.locate.points import PointFile, read_points
    from gridgeo.service.deps import parse_bbox

    body = tmp_path / "body.csv"
    body.write_text("x,y\n116.4,abc\n", encoding="utf-8")
    geojson = b'{"type": "FeatureCollection", "features": [{"type": "Feature"}]}'
    said: dict[str, list[str]] = {}
    try:
        for lang in ("zh_CN", "en"):
            use_language(lang)
            texts = said.setdefault(lang, [])
            for refuse in (
                lambda: PointFile(body, "csv").check(),
                lambda: read_points(geojson, fmt="geojson"),
                lambda: parse_bbox("1,2,3"),
            ):
                with pytest.raises(InputError) as err:
                    refuse()
                texts.append(str(err.value))
    finally:
        use_language(None)
    zh, en = ("\n".join(said[k]) for k in ("zh_CN", "en"))
    for text in ("请求体：1 个坐标值有误", "第 0 行", "字段 y", "缺失或不是数字"):
        assert text in zh, zh
    for text in (
        "请求体：1 个要素无法使用",
        "没有几何，应为点（Point）",
        "bbox='1,2,3' 应为四个数字",
    ):
        assert text in zh, zh
    for text in ("the request body: 1 bad coordinate values", "row 0", "field y"):
        assert text in en, en
    for text in ("1 unusable features", "no geometry is not a Point", "must be four numbers"):
        assert text in en, en
    assert not re.search("[\u4e00-\u9fff]", en), en


# --- the API document (GET /openapi.json, /docs): Chinese by default, English on request ---


def _api_app(tmp_path):
    # the document needs no database: the app is built, never started
    from gridgeo.service import create_app
    from gridgeo.service.settings import ServiceSettings
    from gridgeo.settings import Settings

    return create_app(
        Settings(database_url="postgresql://nowhere/none", home=tmp_path),
        ServiceSettings(listen=False),
    )


def _api_texts(node, where=""):
    """(where, text) of every summary/description string of an OpenAPI document."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _api_texts(item, f"{where}[{i}]")
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in ("summary", "description") and isinstance(value, str):
                yield f"{where}/{key}", value
            else:
                yield from _api_texts(value, f"{where}/{key}")


def _without_texts(node):
    if isinstance(node, list):
        return [_without_texts(item) for item in node]
    if isinstance(node, dict):
        return {
            k: "TEXT"
            if k in ("summary", "description") and isinstance(v, str)
            else _without_texts(v)
            for k, v in node.items()
        }
    return node


def test_every_text_of_the_api_document_has_a_chinese_translation(tmp_path, monkeypatch):
    # a new route, parameter, response or model field needs its zh_CN entry (the whole text)
    monkeypatch.setenv("GRIDGEO_LANG", "en")
    texts = list(_api_texts(_api_app(tmp_path).openapi()))
    assert len({text for _, text in texts}) > 100
    zh = catalogue("zh_CN")
    missing = sorted({f"{where}: {text!r}" for where, text in texts if text not in zh})
    assert not missing, "no zh_CN translation for:\n" + "\n".join(missing)


def test_api_document_in_the_servers_language(tmp_path, monkeypatch):
    import schemathesis
    from fastapi.testclient import TestClient

    app = _api_app(tmp_path)
    client = TestClient(app)  # no lifespan: /openapi.json and /docs need no database
    docs = {}
    for lang in ("zh_CN", "en", "zh_CN"):  # the server's language, read per answer
        monkeypatch.setenv("GRIDGEO_LANG", lang)
        res = client.get("/openapi.json")
        assert res.status_code == 200
        docs[lang] = res.json()
        assert client.get("/docs").status_code == 200
    zh, en = docs["zh_CN"], docs["en"]
    locate, batch = zh["paths"]["/locate"]["get"], zh["paths"]["/locate/batch"]["post"]
    assert locate["summary"] == "定位一个点"
    assert locate["responses"]["400"]["description"] == "请求有误：detail 指出出错的参数、字段或行"
    assert "每块 GRIDGEO_BATCH_CHUNK 行" in batch["description"]
    assert "`Content-Type: text/csv`" in batch["description"]  # code kept as it is
    assert zh["info"]["description"].startswith("将事件定位到网格")
    assert zh["info"]["title"] == en["info"]["title"]  # names stay
    assert en["paths"]["/locate"]["get"]["summary"] == "Locate one point"
    assert not any(re.search("[\u4e00-\u9fff]", t) for _, t in _api_texts(en["paths"]["/health"]))
    english = {text for _, text in _api_texts(en)}
    assert not [(w, t) for w, t in _api_texts(zh) if t in english]  # every text reached
    # only the texts differ: the same paths, parameters, schemas, examples and names
    assert _without_texts(zh) == _without_texts(en)
    schema = schemathesis.openapi.from_dict(zh)
    operations = [op.ok() for op in schema.get_all_operations()]  # Err has no .ok()
    assert len(operations) == sum(len(ops) for ops in en["paths"].values())
