"""The workbook writer: values and types, the look, totals, charts, safety, atomic replace."""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.utils import column_index_from_string
from python_calamine import CalamineWorkbook

from coop_batch import write
from coop_batch import write_format as wf
from coop_batch.write import (
    ChartSpec,
    ColumnSpec,
    Figure,
    SheetSpec,
    SummarySpec,
    SummaryTable,
    WorkbookContext,
    write_workbook,
)

AS_OF = datetime(2016, 3, 31, 9, 0)

REWARD_COLUMNS = [
    ColumnSpec("연번", "int"),
    ColumnSpec("사업명"),
    ColumnSpec("사업구분"),
    ColumnSpec("수상금(원)", "money"),
    ColumnSpec("포상금(원)", "money"),
    ColumnSpec("통보일", "date"),
    ColumnSpec("경상보조금", "yn"),
    ColumnSpec("상태", "status"),
    ColumnSpec("비고"),
]


def reward_rows() -> list[list[object]]:
    return [
        [1, "안전도시 만들기", "시·자치구 공동협력사업", 4_100_000, 410_000, date(2016, 1, 22), "N", "접수", ""],
        [2, "=SUM(A1)", "서울시 단위평가", Decimal("2300000"), Decimal("1000000"), "2016-02-01", True, "반려", "@foo"],
        [3, "+82 10", "대외기관 평가", None, 500_000, datetime(2016, 2, 3, 10, 30), False, "경고", "-1"],
    ]


def reward_sheet(**kw: object) -> SheetSpec:
    base = dict(name="포상금지급", columns=REWARD_COLUMNS, rows=reward_rows(), group="roster",
                total={"포상금(원)": "sum", "수상금(원)": "sum"})
    base.update(kw)
    return SheetSpec(**base)  # type: ignore[arg-type]


def sheet_xml(path: Path, index: int = 1) -> str:
    with zipfile.ZipFile(path) as zf:
        return zf.read(f"xl/worksheets/sheet{index}.xml").decode("utf-8")


def width_of(ws, letter: str) -> float:
    """openpyxl folds equal neighbouring widths into one range; find the one covering `letter`."""
    idx = column_index_from_string(letter)
    for dim in ws.column_dimensions.values():
        if dim.min and dim.max and dim.min <= idx <= dim.max:
            return dim.width
    raise AssertionError(f"no width for column {letter}")


def cached(path: Path, sheet: str) -> list[list[object]]:
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()


@pytest.fixture
def reward_book(tmp_path: Path) -> Path:
    result = write_workbook(tmp_path / "통합현황_20160331.xlsx", [reward_sheet()], created=AS_OF)
    assert result.fallback is False
    assert result.sheets == {"포상금지급": 3}
    return result.path


# --- values and types --------------------------------------------------------------------------


def test_values_keep_their_types_and_user_text_stays_text(reward_book: Path):
    ws = openpyxl.load_workbook(reward_book)["포상금지급"]
    assert [c.value for c in ws[1]] == [c.title for c in REWARD_COLUMNS]
    one, two, three = ws[2], ws[3], ws[4]
    assert one[0].value == 1 and one[0].data_type == "n"
    assert one[3].value == 4_100_000 and one[3].number_format == "#,##0"
    assert one[5].value == datetime(2016, 1, 22) and one[5].number_format == "yyyy-mm-dd"
    assert two[5].value == datetime(2016, 2, 1)  # an ISO string became a real date
    assert three[5].value == datetime(2016, 2, 3)  # a datetime in a date column keeps its day only
    assert (two[6].value, three[6].value) == ("Y", "N")  # booleans in a Y/N column
    for cell, text in ((two[1], "=SUM(A1)"), (two[8], "@foo"), (three[1], "+82 10"), (three[8], "-1")):
        assert cell.value == text and cell.data_type == "s"
    xml = sheet_xml(reward_book)
    assert "<f>" not in xml.split('r="B3"')[1].split("</c>")[0]
    assert xml.count("<f>") == 2  # only the two live totals are formulas


def test_a_value_that_does_not_fit_its_column_is_written_as_text(tmp_path: Path):
    cols = [ColumnSpec("금액", "money"), ColumnSpec("일자", "date"), ColumnSpec("순위", "int")]
    rows = [["미정", "다음 주", "1위"], [Decimal("1500000.0"), "2016. 1. 22.", 2.0], [4.1, None, ""]]
    path = write_workbook(tmp_path / "x.xlsx", [SheetSpec("s", cols, rows)], created=AS_OF).path
    ws = openpyxl.load_workbook(path)["s"]
    assert [c.value for c in ws[2]] == ["미정", "다음 주", "1위"]
    assert [c.value for c in ws[3]] == [1_500_000, datetime(2016, 1, 22), 2]
    assert ws["A4"].value == 4.1 and ws["B4"].value is None and ws["C4"].value is None


def test_timezone_aware_datetimes_keep_their_wall_clock(tmp_path: Path):
    kst = timezone(timedelta(hours=9))
    cols = [ColumnSpec("접수시각", "datetime"), ColumnSpec("비율", "percent")]
    rows = [[datetime(2016, 3, 31, 23, 5, 9, tzinfo=kst), Decimal("0.875")]]
    path = write_workbook(tmp_path / "t.xlsx", [SheetSpec("s", cols, rows, group="log")], created=AS_OF).path
    ws = openpyxl.load_workbook(path)["s"]
    assert ws["A2"].value == datetime(2016, 3, 31, 23, 5, 9)
    assert ws["A2"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert ws["B2"].value == 0.875 and ws["B2"].number_format == "0.0%"


def test_control_characters_are_stripped_and_long_text_is_cut_with_a_marker(tmp_path: Path):
    long_text = "가" * 40_000
    rows = [["a\x00b\x07c\tok\nline", long_text], ["𝒳" * 20_000, "짧음"], ["대책\u202e역방향\u2067끝\u2069", "x"]]
    result = write_workbook(
        tmp_path / "c.xlsx", [SheetSpec("s", [ColumnSpec("A"), ColumnSpec("B")], rows)], created=AS_OF
    )
    ws = openpyxl.load_workbook(result.path)["s"]
    assert ws["A2"].value == "abc\tok\nline"
    assert ws["A4"].value == "대책역방향끝"  # the bidirectional overrides would show other text than was sent
    cut = ws["B2"].value
    assert len(cut) <= wf.EXCEL_MAX_CHARS and cut.startswith("가" * 1000) and "이하 생략" in cut and "40,000자" in cut
    astral = ws["A3"].value  # each 𝒳 takes two UTF-16 units: Excel's limit counts those
    assert len(astral.encode("utf-16-le")) // 2 <= wf.EXCEL_MAX_CHARS and "이하 생략" in astral
    assert any("잘라서" in w and "2개" in w for w in result.warnings)


def test_sheet_names_are_made_legal_and_unique(tmp_path: Path):
    specs = [
        SheetSpec("부서/사업:현황*?[2016]", [ColumnSpec("A")], [["x"]]),
        SheetSpec("아주 긴 시트 이름은 엑셀에서 서른한 글자를 넘을 수 없습니다 정말로", [ColumnSpec("A")], []),
        SheetSpec("오류", [ColumnSpec("A")], []),
        SheetSpec("오류", [ColumnSpec("A")], []),
        SheetSpec("History", [ColumnSpec("A")], []),
    ]
    result = write_workbook(tmp_path / "n.xlsx", specs, created=AS_OF)
    names = openpyxl.load_workbook(result.path).sheetnames
    assert names[0] == "부서_사업_현황___2016_"
    assert len(names[1]) == 31
    assert names[2:] == ["오류", "오류(2)", "History_"]
    assert len(result.warnings) == 4 and all("바꿨습니다" in w for w in result.warnings)


def test_generator_rows_past_the_width_sample_are_all_written_in_order(tmp_path: Path):
    n = wf.SAMPLE_ROWS + 57
    rows = ((i, f"부서{i}") for i in range(n))
    spec = SheetSpec("s", [ColumnSpec("번호", "int"), ColumnSpec("부서")], rows, total={"번호": "count"})
    result = write_workbook(tmp_path / "g.xlsx", [spec], created=AS_OF)
    data = cached(result.path, "s")
    assert [r[0] for r in data[1 : n + 1]] == list(range(n))
    assert data[n + 1][:2] == [float(n), "합계"]  # label goes to the first column without a total
    assert result.sheets == {"s": n}


def test_short_rows_are_padded_and_long_rows_are_a_bug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    scratch = tmp_path / "scratch"  # where xlsxwriter keeps its per-sheet row files
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    out = tmp_path / "out"
    cols = [ColumnSpec("A"), ColumnSpec("B", "money")]
    path = write_workbook(out / "p.xlsx", [SheetSpec("s", cols, [["only a"]])], created=AS_OF).path
    assert openpyxl.load_workbook(path)["s"]["B2"].value is None
    bad = [SheetSpec("ok", cols, [["a", 1]]), SheetSpec("s", cols, [["a", 1], ["a", 1, "extra"]])]
    with pytest.raises(ValueError, match="3 values for 2 columns"):
        write_workbook(out / "q.xlsx", bad, created=AS_OF)
    assert [p.name for p in out.iterdir()] == ["p.xlsx"]  # no temporary workbook left behind
    assert list(scratch.iterdir()) == []  # nor xlsxwriter's row files


def test_rows_beyond_excels_limit_are_counted_and_marked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(wf, "EXCEL_MAX_ROWS", 12)
    spec = SheetSpec("s", [ColumnSpec("n", "int")], ([i] for i in range(30)), total={"n": "sum"}, note="근거")
    result = write_workbook(tmp_path / "big.xlsx", [spec], created=AS_OF)
    data = cached(result.path, "s")
    written = result.sheets["s"]
    assert written == 12 - 1 - 1 - 1 - 2  # header, total, marker, gap + note
    assert len(data) <= 12
    assert data[written + 1][0] == float(sum(range(written)))
    assert f"{30 - written:,}행은 싣지 못했습니다" in data[written + 2][0]
    assert any("행 한도" in w for w in result.warnings)


# --- the look ----------------------------------------------------------------------------------


def test_header_frozen_filtered_and_printed_on_a4_landscape(reward_book: Path):
    ws = openpyxl.load_workbook(reward_book)["포상금지급"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:I4"  # header and data, not the total row
    assert ws.page_setup.orientation == "landscape"
    assert int(ws.page_setup.paperSize) == 9
    assert ws.sheet_properties.pageSetUpPr.fitToPage is True
    assert int(ws.page_setup.fitToWidth or 1) == 1 and int(ws.page_setup.fitToHeight) == 0
    assert ws.print_title_rows == "$1:$1"
    assert ws.oddFooter.center.text == "&P / &N"
    assert ws.oddHeader.left.text == "&A" and ws.oddHeader.right.text == "2016-03-31"
    assert ws.sheet_properties.tabColor.rgb == "FF" + wf.TAB_COLOURS["roster"][1:]
    header = ws["A1"]
    assert header.font.b and header.fill.fgColor.rgb == "FF1F4E79"
    assert ws["B2"].font.name == wf.FONT


def test_default_font_is_malgun_gothic(reward_book: Path):
    with zipfile.ZipFile(reward_book) as zf:
        styles = zf.read("xl/styles.xml").decode("utf-8")
    first_font = styles.split("<font>")[1].split("</font>")[0]
    assert f'<name val="{wf.FONT}"/>' in first_font and "scheme" not in first_font


def test_tab_colours_follow_the_group(tmp_path: Path):
    groups = ["input", "roster", "status", "log"]
    specs = [SheetSpec(g, [ColumnSpec("A")], [["x"]], group=g) for g in groups]  # type: ignore[arg-type]
    book = openpyxl.load_workbook(write_workbook(tmp_path / "g.xlsx", specs, created=AS_OF).path)
    colours = [book[g].sheet_properties.tabColor.rgb for g in groups]
    assert colours == ["FF" + wf.TAB_COLOURS[g][1:] for g in groups]
    assert len(set(colours)) == 4


def test_title_and_subtitle_sit_above_the_header(tmp_path: Path):
    spec = reward_sheet(title="2016년 시·자치구 공동협력사업 포상금 지급내역", subtitle="기준일 2016-03-31 · 기획예산과")
    path = write_workbook(tmp_path / "포상금지급내역_20160331.xlsx", [spec], created=AS_OF).path
    ws = openpyxl.load_workbook(path)["포상금지급"]
    assert ws["A1"].value.startswith("2016년") and ws["A2"].value.startswith("기준일")
    assert ws["A1"].alignment.horizontal == "centerContinuous" and ws["A1"].font.sz == 15
    assert ws["A3"].value is None and ws["A4"].value == "연번"
    assert ws.freeze_panes == "A5" and ws.auto_filter.ref == "A4:I7" and ws.print_title_rows == "$4:$4"
    assert not ws.merged_cells.ranges  # centred across, never merged


def test_widths_fit_korean_text_cap_long_text_and_wrap_it(tmp_path: Path):
    cols = [ColumnSpec("ascii"), ColumnSpec("한글"), ColumnSpec("긴 글"), ColumnSpec("고정", width=33),
            ColumnSpec("금액", "money")]
    rows = [["abcdefghij", "가나다라마바사아자차", "설명 " * 80, "x", 1_234_567_890]]
    path = write_workbook(tmp_path / "w.xlsx", [SheetSpec("s", cols, rows)], created=AS_OF).path
    ws = openpyxl.load_workbook(path)["s"]
    ascii_w, korean_w, long_w = width_of(ws, "A"), width_of(ws, "B"), width_of(ws, "C")
    assert korean_w >= 20 > ascii_w >= 10  # ten Hangul syllables take twice ten Latin letters
    assert round(long_w) == round(wf.MAX_WIDTH + 0.71)  # capped (xlsxwriter adds its padding)
    assert ws["C2"].alignment.wrap_text and not ws["B2"].alignment.wrap_text
    assert round(width_of(ws, "D")) == 34
    assert width_of(ws, "E") >= len("1,234,567,890")


def test_printed_rows_are_as_tall_as_their_wrapped_text(tmp_path: Path):
    """`fit_rows` (the circulation copies): a row of long wrapped text gets the lines it needs, so
    LibreOffice and Hancom print it whole instead of over the next rows; short rows keep the default."""
    cols = [ColumnSpec("성명"), ColumnSpec("비고")]
    rows = [["김민정", "동일인 중복 수상: 상위등급 1개 사업만(합산 안 함) — 제외: " + "가나다라마 " * 30],
            ["이을녀", "짧은 비고"], ["박병수", "첫 줄\n둘째 줄\n셋째 줄"]]
    fitted = SheetSpec("명단", cols, rows, fit_rows=True)
    path = write_workbook(tmp_path / "w.xlsx", [fitted, SheetSpec("그대로", cols, rows)], created=AS_OF).path
    book = openpyxl.load_workbook(path)
    ws, plain = book["명단"], book["그대로"]
    width = width_of(ws, "B")
    long_text = rows[0][1]
    lines = -(-wf.display_width(long_text) // int(width - 1.7))  # xlsxwriter's padding, the cell's own
    assert ws["B2"].alignment.wrap_text
    assert ws.row_dimensions[2].height >= 15 * lines >= 45
    assert ws.row_dimensions[3].height is None  # one line: Excel's default
    assert ws.row_dimensions[4].height == 45  # three lines typed with line breaks
    assert all(plain.row_dimensions[r].height is None for r in (2, 3, 4))  # the master: Excel fits on screen


def test_display_width_counts_wide_characters_double():
    assert wf.display_width("abc") == 3
    assert wf.display_width("환경과") == 6
    assert wf.display_width("ＡＢ") == 4
    assert wf.display_width("짧은\n아주 긴 줄") == 10


def test_yn_and_status_columns_get_conditional_colours(tmp_path: Path):
    status = ColumnSpec("상태", "status", tones={"지급 제외": "warn", "접수": None})
    cols = [*REWARD_COLUMNS[:7], status, REWARD_COLUMNS[8]]
    spec = reward_sheet(columns=cols)
    path = write_workbook(tmp_path / "c.xlsx", [spec], created=AS_OF, tones={"미분류": "warn"}).path
    ws = openpyxl.load_workbook(path)["포상금지급"]
    rules: dict[str, dict[str, str]] = {}
    for cf in ws.conditional_formatting:
        for rule in cf.rules:
            assert rule.operator == "equal"
            rules.setdefault(str(cf.sqref), {})[rule.formula[0]] = rule.dxf.fill.bgColor.rgb
    assert set(rules) == {"G2:G4", "H2:H4"}  # the yn and the status column only
    bad, warn, good = (wf.TONE_STYLES[t][1][1:] for t in ("bad", "warn", "good"))
    assert rules["G2:G4"] == {'"Y"': "FF" + good, '"N"': "FF" + bad}
    status = rules["H2:H4"]
    assert status['"반려"'].endswith(bad) and status['"경고"'].endswith(warn)
    assert status['"지급 제외"'].endswith(warn) and status['"미분류"'].endswith(warn)
    assert '"접수"' not in status  # a column can switch a default word off


def test_unknown_tone_is_a_bug(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown tone"):
        write_workbook(tmp_path / "x.xlsx", [reward_sheet()], tones={"보류": "purple"})  # type: ignore[dict-item]


# --- totals ------------------------------------------------------------------------------------


def test_total_row_is_a_live_sum_with_its_cached_value(reward_book: Path):
    ws = openpyxl.load_workbook(reward_book)["포상금지급"]
    assert ws["A5"].value == "합계"
    assert ws["D5"].value == "=SUM(D2:D4)" and ws["E5"].value == "=SUM(E2:E4)"
    assert ws["E5"].number_format == "#,##0" and ws["E5"].font.b
    total_row = cached(reward_book, "포상금지급")[4]
    assert total_row[3] == 6_400_000 and total_row[4] == 1_910_000  # what a viewer that never recalculates shows


def test_total_of_exact_decimals_is_exact(tmp_path: Path):
    rows = [[Decimal("0.1")]] * 10 + [[Decimal("4.1")]]
    spec = SheetSpec("s", [ColumnSpec("점수", "number")], rows, total={"점수": "sum"})
    path = write_workbook(tmp_path / "d.xlsx", [spec], created=AS_OF).path
    assert re.search(r"<f>SUM\(A2:A12\)</f><v>5.1</v>", sheet_xml(path))


def test_total_on_an_empty_table_is_zero(tmp_path: Path):
    spec = SheetSpec("s", REWARD_COLUMNS, [], total={"포상금(원)": "sum"})
    path = write_workbook(tmp_path / "e.xlsx", [spec], created=AS_OF).path
    ws = openpyxl.load_workbook(path)["s"]
    assert ws["A2"].value == "합계" and ws["E2"].value == 0 and ws.auto_filter.ref == "A1:I1"


@pytest.mark.parametrize(
    "total, message",
    [({"없는열": "sum"}, "unknown column"), ({"사업명": "sum"}, "cannot sum"), ({"포상금(원)": "avg"}, "use one of")],
)
def test_bad_total_specs_are_bugs(tmp_path: Path, total: dict[str, str], message: str):
    with pytest.raises(ValueError, match=message):
        write_workbook(tmp_path / "b.xlsx", [reward_sheet(total=total)], created=AS_OF)


# --- summary and charts ------------------------------------------------------------------------


def dashboard() -> SummarySpec:
    years = SummaryTable(
        "연도별 수상 실적",
        [ColumnSpec("연도"), ColumnSpec("순위", "int"), ColumnSpec("수상금(원)", "money")],
        [["2012", 12, 30_000_000], ["2013", 5, 120_000_000], ["2014", 3, 150_000_000], ["2015", 2, 171_000_000]],
    )
    by_category = SummaryTable(
        "사업구분별 포상금",
        [ColumnSpec("사업구분"), ColumnSpec("포상금(원)", "money")],
        [["시·자치구 공동협력사업", 410_000], ["서울시 단위평가", 1_000_000], ["대외기관 평가", 500_000]],
    )
    return SummarySpec(
        title="시·자치구 공동협력사업 통합현황",
        subtitle="기준일 2016-03-31",
        figures=[
            Figure("접수 파일", 42),
            ("반려 파일", 3),
            Figure("포상금 합계", 1_910_000, "money", note="포상금지급 시트 합계"),
            ("주간보고 제출률", Decimal("0.875"), "percent"),
            ("기준일", date(2016, 3, 31)),
        ],
        tables=[years, by_category],
        charts=[
            ChartSpec("연도별 수상 실적", "연도", ["수상금(원)"], title="연도별 수상금", secondary=["순위"]),
            ChartSpec("사업구분별 포상금", "사업구분", ["포상금(원)"], type="pie", title="사업구분별 포상금"),
            ChartSpec("포상금지급", "사업명", ["포상금(원)"], type="bar", title="사업별 포상금"),
        ],
    )


@pytest.fixture
def dashboard_book(tmp_path: Path) -> Path:
    return write_workbook(tmp_path / "master.xlsx", [dashboard(), reward_sheet()], created=AS_OF).path


def test_summary_shows_key_figures_and_tables(dashboard_book: Path):
    ws = openpyxl.load_workbook(dashboard_book)["요약"]
    assert ws["A1"].value == "시·자치구 공동협력사업 통합현황" and ws["A4"].value == "주요 지표"
    figures = {ws.cell(r, 1).value: ws.cell(r, 2) for r in range(5, 10)}
    assert figures["접수 파일"].value == 42 and figures["접수 파일"].number_format == "#,##0"
    assert figures["포상금 합계"].value == 1_910_000 and figures["포상금 합계"].number_format == '#,##0"원"'
    assert figures["주간보고 제출률"].number_format == "0.0%"
    assert figures["기준일"].value == datetime(2016, 3, 31)
    assert ws["C7"].value == "포상금지급 시트 합계"
    assert ws["A11"].value == "연도별 수상 실적" and ws["A12"].value == "연도" and ws["C16"].value == 171_000_000
    assert ws["C16"].number_format == "#,##0"
    assert ws.sheet_properties.tabColor.rgb == "FF" + wf.TAB_COLOURS["summary"][1:]
    assert ws.page_setup.orientation == "landscape" and ws.freeze_panes is None


def test_summary_charts_are_native_with_cached_values(dashboard_book: Path):
    with zipfile.ZipFile(dashboard_book) as zf:
        names = zf.namelist()
        assert {"xl/charts/chart1.xml", "xl/charts/chart2.xml", "xl/charts/chart3.xml"} <= set(names)
        assert not any(n.startswith("xl/media/") for n in names)  # charts, not pictures
        combo, pie, bar = (zf.read(f"xl/charts/chart{i}.xml").decode("utf-8") for i in (1, 2, 3))
    assert "<c:barChart>" in combo and "<c:lineChart>" in combo  # amount as columns, rank as a line
    assert "요약!$C$13:$C$16" in combo and "요약!$B$13:$B$16" in combo
    assert "<c:v>171000000</c:v>" in combo and "<c:v>2015</c:v>" in combo  # cache given explicitly
    assert "<c:pieChart>" in pie and "<c:v>시·자치구 공동협력사업</c:v>" in pie
    assert "포상금지급!$E$2:$E$4" in bar and "포상금지급!$B$2:$B$4" in bar


def test_chart_on_an_empty_source_is_skipped_with_a_note(tmp_path: Path):
    spec = SummarySpec(
        tables=[SummaryTable("주별 제출", [ColumnSpec("주"), ColumnSpec("제출률", "percent")], [])],
        charts=[ChartSpec("주별 제출", "주", ["제출률"], type="line", title="주간보고 제출률")],
    )
    result = write_workbook(tmp_path / "s.xlsx", [spec], created=AS_OF)
    with zipfile.ZipFile(result.path) as zf:
        assert not any(n.startswith("xl/charts/") for n in zf.namelist())
    assert any("주간보고 제출률" in w and "자료가 없어" in w for w in result.warnings)


def test_chart_with_unknown_source_or_column_is_a_bug(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown source"):
        write_workbook(tmp_path / "a.xlsx", [SummarySpec(charts=[ChartSpec("없음", "a", ["b"])])], created=AS_OF)
    spec = SummarySpec(charts=[ChartSpec("포상금지급", "사업명", ["없는열"])])
    with pytest.raises(ValueError, match="no column"):
        write_workbook(tmp_path / "b.xlsx", [spec, reward_sheet()], created=AS_OF)


def test_charts_hook_can_add_its_own_chart(tmp_path: Path):
    seen: dict[str, object] = {}

    def hook(ctx: WorkbookContext) -> None:
        layout = ctx.layouts["포상금지급"]
        seen["rows"] = layout.rows
        chart = ctx.workbook.add_chart({"type": "column"})
        chart.add_series({"categories": layout.ref("사업명"), "values": layout.ref("수상금(원)")})
        ctx.worksheets["포상금지급"].insert_chart("K2", chart)

    path = write_workbook(tmp_path / "h.xlsx", [reward_sheet()], created=AS_OF, charts=hook).path
    assert seen == {"rows": 3}
    with zipfile.ZipFile(path) as zf:
        assert "포상금지급!$D$2:$D$4" in zf.read("xl/charts/chart1.xml").decode("utf-8")


# --- files -------------------------------------------------------------------------------------


def test_same_input_gives_identical_bytes(tmp_path: Path):
    a = write_workbook(tmp_path / "a" / "m.xlsx", [dashboard(), reward_sheet()], created=AS_OF).path
    b = write_workbook(tmp_path / "b" / "m.xlsx", [dashboard(), reward_sheet()], created=AS_OF).path
    assert a.read_bytes() == b.read_bytes()
    c = write_workbook(tmp_path / "c" / "m.xlsx", [dashboard(), reward_sheet()], created=AS_OF + timedelta(days=1)).path
    assert c.read_bytes() != a.read_bytes()


def test_replacing_an_existing_file(tmp_path: Path):
    target = tmp_path / "m.xlsx"
    target.write_bytes(b"old")
    result = write_workbook(target, [reward_sheet()], created=AS_OF)
    assert result.path == target and not result.fallback
    assert zipfile.is_zipfile(target)
    assert [p.name for p in tmp_path.iterdir()] == ["m.xlsx"]


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_written_file_has_the_usual_permissions(tmp_path: Path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = write_workbook(tmp_path / "m.xlsx", [reward_sheet()], created=AS_OF).path
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # readable by colleagues on a shared outbox


def test_target_open_in_excel_falls_back_to_a_timestamped_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "통합현황_20160331.xlsx"
    target.write_bytes(b"open in excel")
    real_replace = os.replace

    def locked(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        if Path(dst) == target:
            raise PermissionError(13, "The process cannot access the file", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", locked)
    result = write_workbook(target, [reward_sheet()], created=AS_OF)
    assert result.fallback is True
    assert re.fullmatch(r"통합현황_20160331_\d{6}\.xlsx", result.path.name)
    assert target.read_bytes() == b"open in excel"  # the open copy is left alone
    assert openpyxl.load_workbook(result.path)["포상금지급"]["A2"].value == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, result.path.name])

    again = write_workbook(target, [reward_sheet()], created=AS_OF)  # same second: no clobbering
    assert again.fallback and again.path != result.path and result.path.exists()
    assert len(list(tmp_path.glob("통합현황_20160331_*.xlsx"))) == 2


def test_sheet_name_helper_never_returns_an_illegal_name():
    used: set[str] = set()
    for raw in ["", "'따옴표'", "a" * 40, "x\x01y", "History", "history"]:
        name = wf.sheet_name(raw, used)
        assert 0 < len(name) <= 31 and not re.search(r"[\[\]:*?/\\]", name)
        assert not name.startswith("'") and not name.endswith("'")
    assert len(used) == 6


def test_a_matrix_keeps_its_row_labels_in_view(tmp_path):
    import openpyxl

    from coop_batch.write import ColumnSpec, SheetSpec, write_workbook

    spec = SheetSpec("현황", [ColumnSpec("부서"), ColumnSpec("사업명"), ColumnSpec("3/4")], [["세무과", "체납", "제출"]],
                     freeze_columns=2)
    path = write_workbook(tmp_path / "m.xlsx", [spec]).path
    assert openpyxl.load_workbook(path)["현황"].freeze_panes == "C2"


# --- the fast row path gives the bytes of the general path ---------------------------------------

ALL_TYPES = ["text", "status", "yn", "int", "number", "money", "percent", "date", "datetime"]
ODD_COLUMNS = [ColumnSpec(f"{t}열", t) for t in ALL_TYPES]  # type: ignore[arg-type]
HUGE = "가𝒳" * 11_000  # 22,000 characters, 33,000 UTF-16 units: cut only when counted as Excel does
ODD_STRINGS = [
    "", " ", "안전도시", "\u1112\u1161\u11ab\u1100\u1173\u11af",  # the last: 한글 in NFD (as macOS names files)
    "a\x00b\x07c", "tab\tin", "line\nbreak", "cr\rlf", "\ufffe\uffff", "\ud800lone", "𝒳 astral",
    "<r>rich</r>", "<r>a & b</r>", "<r>_x0041_ &</r>", "_x0041_ literal", "a&b<c>\"d'", " lead", "trail ", "trail\u3000",
    "=SUM(A1)", "@foo", "+82", "-1", "1,234", "미정", "2016-02-01", "2016.2.1", "2016-02-01T10:30:00",
    "Y", "N", "반려", "접수", HUGE, "가" * 40_000,
]
VALUES = st.one_of(
    st.sampled_from(ODD_STRINGS),
    st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=12),
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**17), max_value=10**17),
    st.decimals(allow_nan=True, allow_infinity=True, places=3),
    st.sampled_from([Decimal("NaN"), Decimal("Infinity"), Decimal(4_100_000), Decimal("0.1250")]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.dates(min_value=date(1900, 3, 1), max_value=date(2100, 1, 1)),
    st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(2100, 1, 1)),
    st.sampled_from([datetime(2016, 3, 31, 23, 5, 9, tzinfo=timezone(timedelta(hours=9))),
                     datetime(2016, 3, 31, 14, 5, 9, tzinfo=timezone.utc)]),
    st.lists(st.integers(0, 9), max_size=3),
)
ROWS = st.lists(st.lists(VALUES, max_size=len(ODD_COLUMNS)), max_size=7)


def both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make) -> tuple[write.WriteResult, write.WriteResult]:
    """Write `make()` with the fast row path, then with every cell through xlsxwriter; check the fast
    path ran, and that both files are the same bytes, member by member."""
    streamed = []
    original = write._stream_rows

    def spy(*args, **kwargs):
        streamed.append(args[1])
        return original(*args, **kwargs)

    monkeypatch.setattr(write, "_stream_rows", spy)
    monkeypatch.setattr(write, "FAST_ROWS", True)
    fast = write_workbook(tmp_path / "fast.xlsx", make(), created=AS_OF)
    assert streamed, "the fast path did not run"
    monkeypatch.setattr(write, "FAST_ROWS", False)
    slow = write_workbook(tmp_path / "slow.xlsx", make(), created=AS_OF)
    same_books(fast.path, slow.path)
    assert (fast.sheets, fast.warnings) == (slow.sheets, slow.warnings)
    return fast, slow


def same_books(a: Path, b: Path) -> None:
    """The same bytes, compared member by member first (to say which part differs)."""
    with zipfile.ZipFile(a) as x, zipfile.ZipFile(b) as y:
        assert x.namelist() == y.namelist()
        for name in x.namelist():
            assert x.read(name) == y.read(name), name
    assert a.read_bytes() == b.read_bytes()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=ROWS, second=ROWS)
def test_fast_rows_write_the_same_bytes_as_the_general_path(tmp_path_factory, monkeypatch, first, second):
    tmp = tmp_path_factory.mktemp("fast")

    def make() -> list[SheetSpec]:
        return [
            SheetSpec("가", ODD_COLUMNS, [list(r) for r in first], total={"money열": "sum", "text열": "count"}),
            SheetSpec("나", ODD_COLUMNS, iter([list(r) for r in second]), note="비고"),
        ]

    both_paths(tmp, monkeypatch, make)


def test_fast_rows_on_the_shapes_that_matter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    many = [[i, f"부서{i % 7}", date(2016, 1, 1) + timedelta(days=i % 40), "Y" if i % 3 else "N"] for i in range(450)]
    cols = [ColumnSpec("번호", "int"), ColumnSpec("부서"), ColumnSpec("날짜", "date"), ColumnSpec("여부", "yn")]

    def make() -> list[SheetSpec]:
        return [
            SheetSpec("빈 표", cols, []),
            SheetSpec("한 줄", cols, [[1, "a"]]),
            # rich-looking text holding an `_xHHHH_` literal: escaped as many times as xlsxwriter does
            SheetSpec("리치", cols, [[1, "<r>_x0041_ &</r>"], [2, "<r>_x0041_</r>"], [3, "끝"]]),
            # a format first used in the LAST row, with nothing written after it on the sheet:
            # xlsxwriter numbers that format only at the close, after those of the next sheet's
            # first rows (which are flushed as soon as a later row starts)
            SheetSpec("마지막 줄", cols, [[1, "a", date(2016, 1, 1)], ["미정", "가" * 200, "모름", True]]),
            SheetSpec("다음", [ColumnSpec("비율", "percent"), ColumnSpec("시각", "datetime")],
                      [[Decimal("0.5"), datetime(2016, 3, 1, 9)]] * 3),
            SheetSpec("긴 표", cols, iter(many), total={"번호": "sum", "부서": "count"}, title="제목", subtitle="부제"),
            SheetSpec("잘림", [ColumnSpec("A"), ColumnSpec("B", "money")], [[HUGE, 1], ["가" * 40_000, 2], ["x", 3]]),
        ]

    fast, _ = both_paths(tmp_path, monkeypatch, make)
    assert fast.sheets["긴 표"] == 450 and any("2개는 잘라서" in w for w in fast.warnings)
    assert cached(fast.path, "긴 표")[4 + 449][:2] == [449.0, "부서1"]  # title, subtitle, gap, header


def test_fast_rows_past_excels_limit_give_the_same_marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(wf, "EXCEL_MAX_ROWS", 12)

    def make() -> list[SheetSpec]:
        return [SheetSpec("s", [ColumnSpec("n", "int"), ColumnSpec("t")], ([i, f"{i}번"] for i in range(30)),
                          total={"n": "sum"}, note="근거")]

    fast, _ = both_paths(tmp_path, monkeypatch, make)
    assert fast.sheets["s"] == 7 and any("행 한도" in w for w in fast.warnings)


def test_master_kind_rows_keep_their_values():
    from coop_batch.master import _cell, kind_sheet
    from coop_batch.schema import KIND_BY_ID

    kind = KIND_BY_ID["results"]
    record = {c.field: f"값{i}" for i, c in enumerate(kind.columns)}
    record.update({"departments": ["기획예산과", "총무과"], "lead_department": "총무과", "tier": None})
    flags = [c.field for c in kind.columns if c.type.name == "YN"]
    for field in flags:
        record[field] = True
    record[kind.columns[0].field] = [1, 2]
    (row,) = list(kind_sheet(kind, [record]).rows)
    expected = [_cell(kind, c.field, record) for c in kind.columns]
    expected.insert(4, "등급 미분류")
    assert row[: len(expected)] == expected
    assert "총무과(총괄)" in " ".join(str(v) for v in row) and all(v != [1, 2] for v in row)


def test_text_shaped_like_rich_text_markup_is_shown_as_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """xlsxwriter writes a `<r>…</r>` string raw as rich-text XML; a user's `<r>a & b</r>` made the
    whole sheet unreadable (openpyxl and calamine refused it, Excel asks to repair)."""
    import openpyxl

    typed = ["<r>a & b</r>", "<r>rich</r>", "<r> spaced </r>", "<r>\x07</r>"]
    cols = [ColumnSpec("사업명"), ColumnSpec("상태", "status"), ColumnSpec("n", "int")]

    def make() -> list[SheetSpec]:
        return [SheetSpec("표", cols, [[t, t, i] for i, t in enumerate(typed)] + [["끝", "<r>x</r>", 9]])]

    for fast_rows in (True, False):
        monkeypatch.setattr(write, "FAST_ROWS", fast_rows)
        path = write_workbook(tmp_path / f"r{fast_rows}.xlsx", make(), created=AS_OF).path
        shown = [row[:2] for row in cached(path, "표")[1:]]
        expected = [[wf.clean_text(t)[0]] * 2 for t in typed] + [["끝", "<r>x</r>"]]
        assert shown == expected
        book = openpyxl.load_workbook(path)
        assert [c.value for c in book["표"]["A"]][1:] == [e[0] for e in expected]
    both_paths(tmp_path / "both", monkeypatch, make)


def test_titles_notes_and_labels_shaped_like_markup_are_shown_as_typed(tmp_path: Path):
    import openpyxl

    odd = "<r>세무과 & 재무과</r>"
    summary = SummarySpec(
        title=odd, subtitle=odd, figures=[Figure(odd, 1, note=odd)],
        tables=[SummaryTable(odd, [ColumnSpec("부서")], [[odd]])], note=odd,
    )
    table = SheetSpec("표", [ColumnSpec("부서")], [["세무과"]], title=odd, subtitle=odd, note=odd)
    path = write_workbook(tmp_path / "m.xlsx", [summary, table], created=AS_OF).path
    book = openpyxl.load_workbook(path)  # it would not parse if any of these were written as markup
    # 요약: title, subtitle, figure label and note, table title and cell, note; 표: title, subtitle, note
    for name, count in (("요약", 7), ("표", 3)):
        texts = [c.value for row in book[name].iter_rows() for c in row if isinstance(c.value, str)]
        assert texts.count(odd) == count, (name, texts)
