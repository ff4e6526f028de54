"""The demo's workbooks opened by a real client: LibreOffice converts each to PDF, and no sheet comes out empty.

Skipped (with the reason) only where LibreOffice is not installed; `.ci/run` installs it.
The 요약 page is rendered to PNG in the test's tmp dir for a person to look at; with
`COOP_BATCH_SAVE_PNG=docs/요약.png` it is also saved there (the README picture).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

from coop_batch.config import init_workspace
from coop_batch.demo import DEFAULT_AS_OF, build_demo_inbox
from coop_batch.rules import load_rules
from coop_batch.run import run_batch

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
POPPLER = all(shutil.which(tool) for tool in ("pdftotext", "pdfinfo", "pdftoppm"))
REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 150  # seconds for one soffice conversion of all the files (about 15 s here)

pytestmark = [
    pytest.mark.skipif(SOFFICE is None, reason="LibreOffice(soffice)가 없습니다: libreoffice-calc-nogui를 설치하세요(.ci/run)"),
    pytest.mark.skipif(not POPPLER, reason="poppler-utils(pdftotext, pdfinfo, pdftoppm)가 없습니다: .ci/run 참고"),
]


def squeeze(text: str) -> str:
    """Text without any whitespace: pdftotext spaces Korean and splits lines its own way."""
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("libreoffice")
    workspace = init_workspace(root / "ws", policy_year=2016, evaluation_year=2015)
    build_demo_inbox(workspace.inbox, load_rules(2016), as_of=DEFAULT_AS_OF)
    report = run_batch(workspace, as_of=DEFAULT_AS_OF, settle_seconds=0, mail=False)
    copies = sorted((workspace.outbox / "반려").rglob("*.xlsx"))
    assert copies, "the demo has rejected files: there must be annotated copies"
    # The annotated copy with the most problems: the one most likely to trip a viewer.
    copy = max(copies, key=lambda p: next(c.errors + c.warnings for c in report.feedback.copies if c.path == p))
    books = {"master": report.outputs[0], "reward": report.outputs[1], "honours": report.outputs[2], "copy": copy}
    # ASCII names for soffice and its PDFs: the conversion must not depend on the locale of the CI box.
    src = root / "src"
    src.mkdir()
    for key, path in books.items():
        shutil.copyfile(path, src / f"{key}.xlsx")
    out = root / "pdf"
    profile = root / "lo-profile"  # a private profile: no first-start dialogs, no clash with a running LibreOffice
    command = [
        SOFFICE, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore", "--nolockcheck",
        "--convert-to", "pdf", "--outdir", str(out), *(str(src / f"{key}.xlsx") for key in books),
    ]
    env = dict(os.environ)
    if Path("/etc/fonts/fonts.conf").is_file():  # only on top of a system configuration, never instead of one
        env["FONTCONFIG_FILE"] = str(fonts_conf(root))
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    return {"report": report, "books": books, "out": out, "run": done, "root": root}


def fonts_conf(root: Path) -> Path:
    """The system's fontconfig plus one alias: 맑은 고딕 (Windows only) drawn with Nanum Gothic, its
    closest free look-alike, instead of a Latin font with Hangul patched in glyph by glyph."""
    conf = root / "fonts.conf"
    prefer = "".join(f"<family>{name}</family>" for name in ("NanumGothic", "Noto Sans CJK KR", "UnDotum"))
    conf.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
        '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n'
        f'  <alias binding="same"><family>맑은 고딕</family><prefer>{prefer}</prefer></alias>\n'
        "</fontconfig>\n",
        encoding="utf-8",
    )
    return conf


def pdf_of(demo, key: str) -> Path:
    pdf = demo["out"] / f"{key}.pdf"
    assert pdf.is_file() and pdf.stat().st_size > 1000, (
        f"soffice did not convert {demo['books'][key].name}: rc={demo['run'].returncode}\n"
        f"{demo['run'].stdout}\n{demo['run'].stderr}"
    )
    return pdf


def pages_of(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return [page for page in text.split("\f") if page.strip()]


def page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def visible_sheets(path: Path) -> dict[str, list[str]]:
    """Visible sheet → a few of its text cells (what must show up in the PDF)."""
    import openpyxl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(path, read_only=True)
    sheets: dict[str, list[str]] = {}
    for ws in wb.worksheets:
        if ws.sheet_state != "visible":
            continue
        texts: list[str] = []
        for row in ws.iter_rows(max_row=12, values_only=True):
            texts += [v for v in row if isinstance(v, str) and v.strip() and not v.startswith("=")]
        sheets[ws.title] = texts[:6]
    wb.close()
    return sheets


@pytest.mark.parametrize("key", ["master", "reward", "honours", "copy"])
def test_every_workbook_converts_and_no_sheet_is_empty(demo, key):
    pdf = pdf_of(demo, key)
    sheets = visible_sheets(demo["books"][key])
    assert page_count(pdf) >= len(sheets)
    pages = pages_of(pdf)
    everything = squeeze("\n".join(pages))
    for sheet, texts in sheets.items():
        assert texts, f"{sheet}: no text cells at all"
        missing = [t for t in texts if squeeze(t)[:40] not in everything]
        assert not missing, f"{demo['books'][key].name} '{sheet}': not in the PDF: {missing}"
    if key != "copy":  # our own workbooks carry the sheet name in the page header: each sheet has a page
        headed = {squeeze(page.strip().splitlines()[0]).split(str(DEFAULT_AS_OF))[0] for page in pages}
        assert {squeeze(s) for s in sheets} <= headed


def test_summary_page_shows_the_figures_and_the_charts(demo):
    report = demo["report"]
    first = squeeze(pages_of(pdf_of(demo, "master"))[0])
    assert first.startswith("요약")
    assert f"{report.policy.total_reward_won:,}원" in first
    assert "포상금합계" in first and "특별휴가대상" in first and "이번실행:반려" in first
    # Native charts are drawn by the viewer: their titles come out as PDF text.
    assert "연도별수상금(원)·수상사업수" in first
    assert "사업구분별포상금(원)" in first
    if getattr(report, "tracking", None) is not None:
        assert "주별주간보고제출현황" in first


def test_annotated_copy_shows_the_review_sheet_first(demo):
    pages = pages_of(pdf_of(demo, "copy"))
    first = squeeze(pages[0])
    assert first.startswith("검토결과:") or "검토결과:" in first[:200]
    assert "위치" in first and "내용" in first


def test_render_summary_png(demo, tmp_path):
    pdf = pdf_of(demo, "master")
    target = tmp_path / "요약"
    subprocess.run(
        ["pdftoppm", "-png", "-r", "130", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(target)],
        check=True, timeout=60,
    )
    png = target.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    print(f"요약 PNG: {png}")
    save = os.environ.get("COOP_BATCH_SAVE_PNG")
    if save:
        dest = Path(save) if Path(save).is_absolute() else REPO / save
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, dest)
