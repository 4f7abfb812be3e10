"""Printable noticeboards, checked as a reader would: page size, fonts, text, render, QR."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from boards_seed import CITY, COUNTY, SUPERVISION, seed_registry
from pypdf import PdfReader
from reportlab.lib.pagesizes import A3, A4, landscape

from gridgeo.maps.boards import make_boards, overlaps, page_url
from gridgeo.registry.posting import board_facts, communities

pytestmark = pytest.mark.db

BASE = "http://gridgeo.example.cn/public"


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        pytest.fail(f"{name} is missing: apt-get install poppler-utils zbar-tools")
    return exe


def _squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


@pytest.fixture(scope="module")
def seeded(db_url, tmp_path_factory):
    return seed_registry(db_url, tmp_path_factory.mktemp("boards"))


@pytest.fixture(scope="module")
def boards(db_url, seeded, tmp_path_factory):
    codes = list(communities(db_url, COUNTY)["code"])
    out = tmp_path_factory.mktemp("out")
    made = make_boards(
        db_url, codes, out, base_url=BASE, size="A3", png=True, combined_name="boards_all.pdf"
    )
    return codes, made


def test_one_a3_board_per_community_and_a_combined_one(boards):
    codes, made = boards
    assert [b.community_code for b in made.boards] == codes
    total = 0
    for b in made.boards:
        reader = PdfReader(b.path)
        box = reader.pages[0].mediabox
        assert (float(box.width), float(box.height)) == pytest.approx(landscape(A3), abs=1)
        total += len(reader.pages)
    assert len(PdfReader(made.combined).pages) == total


def test_cjk_font_is_embedded(boards):
    _, made = boards
    out = subprocess.run(
        [_tool("pdffonts"), str(made.boards[0].path)], capture_output=True, text=True, check=True
    ).stdout
    rows = [line for line in out.splitlines()[2:] if line.strip()]
    # reportlab always lists Helvetica as the page's default resource; no text uses it
    drawn = [line for line in rows if not line.startswith("Helvetica ")]
    assert drawn, out
    for line in drawn:  # name type encoding emb sub uni …
        assert "TrueType" in line and re.search(r"\byes\s+yes\s+yes\b", line), line
    assert any("WenQuanYi" in line for line in drawn), out


def test_text_has_every_grid_worker_head_phone_and_supervision_phone(db_url, boards):
    codes, made = boards
    facts = {f.community_code: f for f in board_facts(db_url, codes)}
    for b in made.boards:
        text = subprocess.run(
            [_tool("pdftotext"), "-layout", str(b.path), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        flat = _squash(text)
        f = facts[b.community_code]
        assert f.community_name + "网格公示牌" in flat
        assert "监督电话" in flat and SUPERVISION in flat
        for name in f.grids["grid_name"]:
            assert _squash(name) in flat
        for c in f.contacts.itertuples():
            assert _squash(c.person_name) in flat, c.person_name
            assert _squash(c.phone) in flat, c.phone
        assert "户" not in flat.replace("住户", ""), "a board never shows household counts"
        assert "职责" in flat and "第十二条" in flat


def test_pages_render_and_labels_do_not_overlap(boards):
    _, made = boards
    for b in made.boards:
        assert len(b.labels) == len({lb.grid_code for lb in b.labels})
        assert overlaps(b.labels) == []
        assert all(lb.size >= 5 for lb in b.labels)
    png = made.pngs[0]
    assert png.is_file() and png.stat().st_size > 20_000
    out = subprocess.run(
        [_tool("pdftoppm"), "-r", "30", "-png", str(made.boards[0].path), str(png.parent / "p")],
        capture_output=True,
        check=True,
    )
    assert out.returncode == 0
    assert sorted(png.parent.glob("p-*.png"))


def test_qr_code_decodes_to_the_public_page(boards):
    _, made = boards
    for b in made.boards[:1]:
        stem = b.path.with_name("qr")
        subprocess.run(
            [
                _tool("pdftoppm"),
                "-r",
                "150",
                "-png",
                "-f",
                "1",
                "-l",
                "1",
                "-singlefile",
                str(b.path),
                str(stem),
            ],
            check=True,
        )
        out = subprocess.run(
            [_tool("zbarimg"), "--raw", "-q", str(stem.with_suffix(".png"))],
            capture_output=True,
            text=True,
        ).stdout.split()
        assert out == [page_url(BASE, b.community_code)]


def test_a4_board_as_it_stood_before_a_change(db_url, boards, tmp_path):
    from boards_seed import EDITOR
    from sqlalchemy import text

    from gridgeo.registry import engine_for
    from gridgeo.registry.posting import set_supervision_phone

    codes, _ = boards
    with engine_for(db_url).connect() as conn:
        before = conn.execute(text("SELECT clock_timestamp()")).scalar()
    set_supervision_phone(db_url, COUNTY, "0746-5550000", actor=EDITOR)
    old = make_boards(db_url, codes[:1], tmp_path / "old", base_url=BASE, size="A4", at=before)
    new = make_boards(db_url, codes[:1], tmp_path / "new", base_url=BASE, size="A4")
    set_supervision_phone(db_url, COUNTY, SUPERVISION, actor=EDITOR)
    box = PdfReader(old.boards[0].path).pages[0].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx(landscape(A4), abs=1)

    def flat(p: Path) -> str:
        return _squash(
            subprocess.run([_tool("pdftotext"), str(p), "-"], capture_output=True, text=True).stdout
        )

    assert SUPERVISION in flat(old.boards[0].path)
    assert "0746-5550000" in flat(new.boards[0].path)


def test_command_line(db_url, boards, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from gridgeo.cli import registry as registry_cli
    from gridgeo.cli.main import app
    from gridgeo.registry.divisions import register_division
    from gridgeo.registry.tokens import issue_token

    monkeypatch.setattr(registry_cli, "_url", lambda: db_url)
    runner = CliRunner()
    register_division(db_url, CITY, "示例市", level="city")
    register_division(db_url, COUNTY, "示例区县", level="county", parent_code=CITY)
    token = issue_token(
        db_url, "li", name="cli", by="test", role="county_editor", division_code=COUNTY
    ).token

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
        assert result.exit_code == code, result.output
        return result.output

    codes, _ = boards
    one = tmp_path / "one" / "board.pdf"
    run("noticeboard", "--community", codes[0], "--out", str(one), "--png", "--size", "a4")
    box = PdfReader(one).pages[0].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx(landscape(A4), abs=1)
    assert one.with_suffix(".png").is_file()
    assert sorted(p.name for p in one.parent.iterdir()) == ["board.pdf", "board.png"]
    out = run("noticeboard", "--county", COUNTY, "--out", str(tmp_path / "all"), "--workers", "1")
    assert "2 board(s)" in out
    names = sorted(p.name for p in (tmp_path / "all").iterdir())
    assert names == [*(f"board_{c}.pdf" for c in codes), f"boards_{COUNTY}.pdf"]
    assert "exactly one of" in run("noticeboard", "--out", str(tmp_path / "x.pdf"), code=2)
    bad_size = run(
        "noticeboard",
        "--community",
        codes[0],
        "--size",
        "B5",
        "--out",
        str(tmp_path / "b5.pdf"),
        code=2,
    )
    assert "B5" in bad_size and not (tmp_path / "b5.pdf").exists()
    assert "63000030999" in run(
        "noticeboard", "--community", "63000030999", "--out", str(tmp_path / "n.pdf"), code=4
    )
    assert "phone" in run("posting", "phone", COUNTY, "call-me", "--token", token, code=2)
    site = tmp_path / "site"
    run("publish", "--out", str(site), "--no-boards", "--under", COUNTY)
    assert (site / "index.html").is_file() and len(list((site / "c").glob("*.html"))) == 2
