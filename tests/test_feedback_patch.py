"""The annotated copy written by editing the package (feedback_patch.py): the same copy as the openpyxl
path gives, for files as our template writes them, as openpyxl and LibreOffice save them; openpyxl
takes over for what the direct path does not edit."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import warnings
import zipfile
from pathlib import Path
from typing import Any
from xml.parsers import expat

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.styles import Font, PatternFill

from coop_batch import feedback_annotate
from coop_batch.feedback import AUTHOR, FILLS, REVIEW_SHEET, annotate_workbook
from coop_batch.feedback_annotate import ORIGINAL_MARK, Review, _with_openpyxl
from coop_batch.feedback_patch import patch_workbook
from coop_batch.feedback_sheet import add_legacy_drawing, mark_cells
from coop_batch.feedback_xml import Unsupported, col_letters, split_ref
from coop_batch.schema import KIND_BY_ID
from coop_batch.templates import write_template
from test_feedback import AS_OF, BAD_WEEKLY, HEADER_ROW, department_file, problem

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
PROBLEMS = [
    problem("bad-date", "주간실적", "A2", "보고일", value="다음주"),
    problem("required", "주간실적", "D2", "추진실적"),  # a blank cell: not in the file at all
    problem("not-friday", "주간실적", "A3", "보고일", value="2016-03-24", weekday="목"),
    problem("required", "주간실적", "F9", "대책"),  # a row the file does not have
    problem("missing-column", "주간실적", column="대책"),
    problem("old-template", found="0.9", expected="1.0"),
    problem("required", "부서메모", "B1", "추진실적"),  # inside a merged range
    problem("bad-date", "부서메모", "C2", "보고일", value="=HYPERLINK(\"http://x\")"),
]


def load(path: Path) -> openpyxl.Workbook:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return openpyxl.load_workbook(path)


def review(problems=PROBLEMS, rejected: bool = True) -> Review:
    ordered = sorted(problems, key=lambda p: p.get("severity") != "error")
    return Review(ordered, display_name="안전치수과/in.xlsx", rejected=rejected, as_of=AS_OF)


def template_file(path: Path, rules) -> Path:
    """The weekly template as the tool writes it (xlsxwriter), with a department's own sheet added by
    editing the package the way a spreadsheet program would not need to: through openpyxl."""
    write_template(KIND_BY_ID["weekly"], rules, path, BAD_WEEKLY)
    return path


def own_sheet_file(path: Path, rules) -> Path:
    """Saved by openpyxl: an extra sheet with a merged range, styles, a formula and print titles;
    a styled row (customFormat) and no comment anywhere."""
    write_template(KIND_BY_ID["weekly"], rules, path, BAD_WEEKLY)
    wb = load(path)
    own = wb.create_sheet("부서메모")
    own["A1"] = "부서 자체 집계"
    own["A1"].font = Font(name="굴림", bold=True, size=13, color="FF0000")
    own.merge_cells("A1:C1")
    own["A2"], own["B2"], own["C2"] = "교육 횟수", 2, "3월 넷째 주"
    own["D2"] = "=SUM(B2:B2)"
    own["B6"].fill = PatternFill("solid", fgColor="DDEBF7")
    own.print_title_rows = "1:1"
    own.row_dimensions[9].font = Font(italic=True)
    wb.save(path)
    return path


@pytest.fixture(scope="module")
def sources(tmp_path_factory, rules) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sources")
    found = {"template": template_file(root / "template.xlsx", rules),
             "openpyxl": own_sheet_file(root / "openpyxl.xlsx", rules)}
    if SOFFICE is not None:  # as LibreOffice saves it (Hancom and Excel write the same shapes)
        out = root / "lo"
        subprocess.run([SOFFICE, "--headless", "--convert-to", "xlsx", "--outdir", str(out), str(found["openpyxl"])],
                       capture_output=True, timeout=150, check=False)
        if (out / "openpyxl.xlsx").is_file():
            found["libreoffice"] = (out / "openpyxl.xlsx").rename(root / "libreoffice.xlsx")
    return found


def direct(source: Path, target: Path, rv: Review | None = None) -> Path:
    patch_workbook(source, target, rv or review())
    return target


def values(ws, *blank: Any) -> dict[str, Any]:
    return {c.coordinate: c.value for row in ws.iter_rows() for c in row if c.value is not None and c.value not in blank}


def marks(ws) -> dict[str, tuple[str, str, str]]:
    """cell → (fill colour, comment author, comment text) of every cell we marked."""
    found = {}
    for row in ws.iter_rows():
        for c in row:
            rgb = str(c.fill.fgColor.rgb or "")[-6:] if c.fill.fill_type == "solid" else ""
            if rgb in FILLS.values() or c.comment is not None:
                found[c.coordinate] = (rgb, c.comment.author if c.comment else "", c.comment.text if c.comment else "")
    return found


@pytest.mark.parametrize("kind", ["template", "openpyxl", "libreoffice"])
def test_the_direct_copy_is_the_openpyxl_copy(sources, tmp_path, kind):
    if kind not in sources:
        pytest.skip("LibreOffice(soffice)가 없습니다")
    source = sources[kind]
    rv = review([p for p in PROBLEMS if p["sheet"] != "부서메모" or kind != "template"])
    ours, theirs = load(direct(source, tmp_path / "direct.xlsx", rv)), tmp_path / "openpyxl.xlsx"
    _with_openpyxl(source, theirs, rv)
    theirs = load(theirs)
    before = load(source)
    assert ours.sheetnames == theirs.sheetnames == [REVIEW_SHEET, *before.sheetnames]
    assert ours.active.title == REVIEW_SHEET
    assert [s.title for s in ours.worksheets if s.sheet_view.tabSelected] == [REVIEW_SHEET]
    for name in before.sheetnames:
        a, b = ours[name], before[name]
        assert values(a) == values(b), name  # byte for byte: even a "" openpyxl drops is kept
        assert values(a, "") == values(theirs[name], ""), name
        assert marks(a) == marks(theirs[name]), name
        assert a.print_title_rows == b.print_title_rows, name  # the local names moved with their sheets
        assert a.freeze_panes == b.freeze_panes and a.sheet_state == b.sheet_state, name
        assert {str(r) for r in a.merged_cells.ranges} == {str(r) for r in b.merged_cells.ranges}, name
        assert [v.sqref for v in a.data_validations.dataValidation] == [v.sqref for v in b.data_validations.dataValidation]
    mine, other = ours[REVIEW_SHEET], theirs[REVIEW_SHEET]
    assert values(mine) == values(other)
    links = {c.coordinate: c.hyperlink.location for row in mine.iter_rows() for c in row if c.hyperlink}
    assert links == {c.coordinate: c.hyperlink.location for row in other.iter_rows() for c in row if c.hyperlink}
    assert "'주간실적'!A2" in links.values()
    for attr in ("freeze_panes", "print_title_rows"):
        assert getattr(mine, attr) == getattr(other, attr), attr
    assert mine.auto_filter.ref == other.auto_filter.ref == f"A{HEADER_ROW}:E{HEADER_ROW + len(rv.problems)}"
    assert mine.sheet_properties.tabColor.rgb[-6:] == other.sheet_properties.tabColor.rgb[-6:] == "C00000"
    assert mine.page_setup.orientation == "landscape" and mine.page_setup.paperSize == 9  # A4
    assert mine.sheet_properties.pageSetUpPr.fitToPage and mine.page_setup.fitToWidth == 1
    assert mine["E7"].data_type == "s" and mine["A1"].font.b and mine["A1"].font.sz == 14


def test_a_marked_cell_keeps_its_own_look_and_a_new_one_takes_its_column(sources, tmp_path):
    source = sources["template"]
    data = load(direct(source, tmp_path / "out.xlsx"))["주간실적"]
    before = load(source)["주간실적"]
    for ref in ("A2", "A3"):  # cells in the file: font, number format, border kept, only the fill new
        assert data[ref].font.name == before[ref].font.name and data[ref].number_format == before[ref].number_format
        assert data[ref].fill.fgColor.rgb[-6:] == FILLS["error" if ref == "A2" else "warning"]
    # F9 was never written (nor its row): it takes the column's format, as Excel gives it when one types there
    assert before.max_row < 9 and data["F9"].value is None
    assert data["F9"].number_format == before.column_dimensions["F"].number_format == "@"
    assert data["F9"].font.name == "맑은 고딕" and data["F9"].fill.fgColor.rgb[-6:] == FILLS["error"]
    assert data["F9"].comment.author == AUTHOR and "'대책'" in data["F9"].comment.text
    assert data["D2"].fill.fgColor.rgb[-6:] == FILLS["error"] and data["D2"].value == ""


def test_every_part_is_well_formed_and_typed(sources, tmp_path):
    out = direct(sources["openpyxl"], tmp_path / "out.xlsx")
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert len(names) == len(set(names))
        types = zf.read("[Content_Types].xml").decode()
        for name in names:
            data = zf.read(name)
            if name.endswith((".xml", ".rels", ".vml")):
                expat.ParserCreate().Parse(data, True)
            ext = name.rpartition(".")[2]
            assert f'PartName="/{name}"' in types or f'Extension="{ext}"' in types, name
        book = zf.read("xl/workbook.xml").decode()
    ids = re.findall(r'sheetId="(\d+)"', book)
    assert len(ids) == len(set(ids)) and book.index(f'name="{REVIEW_SHEET}"') < book.index('name="주간실적"')
    # one 검토결과 filter and print titles, local to sheet 0; the others moved on by one
    assert sorted(re.findall(r'<definedName name="(_xlnm\.\w+)" localSheetId="(\d+)"', book)) == [
        ("_xlnm.Print_Titles", "0"), ("_xlnm.Print_Titles", "1"), ("_xlnm.Print_Titles", "2"),
        ("_xlnm.Print_Titles", "5"), ("_xlnm._FilterDatabase", "0"), ("_xlnm._FilterDatabase", "1"),
    ]


def test_annotate_takes_the_direct_path_for_our_files(sources, tmp_path, monkeypatch):
    def no_openpyxl(*_: Any) -> None:
        raise AssertionError("openpyxl path taken")

    monkeypatch.setattr(feedback_annotate, "_with_openpyxl", no_openpyxl)
    for kind, source in sources.items():
        annotate_workbook(source, tmp_path / f"{kind}.xlsx", PROBLEMS[:4], display_name="in.xlsx", rejected=True,
                          as_of=AS_OF)
        assert load(tmp_path / f"{kind}.xlsx").sheetnames[0] == REVIEW_SHEET


def test_comments_and_copies_of_ours_go_through_openpyxl(tmp_path, rules):
    """The department's own comments are kept beside ours, and a copy sent back is cleared of our
    marks: those are openpyxl's to do (test_feedback has the details)."""
    with_comments = department_file(tmp_path / "in.xlsx", BAD_WEEKLY, rules)
    with pytest.raises(Unsupported, match="comments"):
        patch_workbook(with_comments, tmp_path / "x.xlsx", review())
    annotate_workbook(with_comments, tmp_path / "first.xlsx", PROBLEMS[:2], display_name="in.xlsx", rejected=True,
                      as_of=AS_OF)
    assert ORIGINAL_MARK.strip() in load(tmp_path / "first.xlsx")["주간실적"]["A2"].comment.text
    plain = template_file(tmp_path / "plain.xlsx", rules)
    wb = load(plain)
    wb["주간실적"]["A2"].fill = PatternFill("solid", fgColor=FILLS["error"], bgColor=FILLS["error"])  # ours, comments gone
    wb.save(plain)
    with pytest.raises(Unsupported, match="fills of ours"):
        patch_workbook(plain, tmp_path / "x.xlsx", review())
    assert not (tmp_path / "x.xlsx").exists()


def test_a_department_s_own_red_and_amber_are_its_own(tmp_path, rules):
    """Excel's 나쁨/보통 cell styles use our colours as a foreground only: such a file is edited
    directly, and its own fills stay (openpyxl would have taken them for ours and cleared them)."""
    source = template_file(tmp_path / "own.xlsx", rules)
    wb = load(source)
    wb["주간실적"]["C3"].fill = PatternFill("solid", fgColor=FILLS["error"])  # 나쁨
    wb["주간실적"]["B3"].fill = PatternFill("solid", fgColor=FILLS["warning"])  # 보통
    wb.save(source)
    for write in (direct, lambda s, t, rv=None: _with_openpyxl(s, t, rv or review()) or t):
        data = load(write(source, tmp_path / "out.xlsx"))["주간실적"]
        assert data["C3"].fill.fgColor.rgb[-6:] == FILLS["error"] and data["C3"].comment is None
        assert data["B3"].fill.fgColor.rgb[-6:] == FILLS["warning"]


def test_a_package_in_another_shape_goes_through_openpyxl(sources, tmp_path):
    """SpreadsheetML under a prefix (as some generators write it) is not edited, only copied."""
    prefixed = tmp_path / "prefixed.xlsx"
    with zipfile.ZipFile(sources["template"]) as src, zipfile.ZipFile(prefixed, "w") as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/workbook.xml":
                text = data.decode().replace("<workbook xmlns=", "<x:workbook xmlns:x=").replace("</workbook>", "</x:workbook>")
                data = re.sub(r"<(/?)(?!x:)(\w+)", r"<\1x:\2", text).encode()
            out.writestr(info, data)
    with pytest.raises(Unsupported, match="workbook"):
        patch_workbook(prefixed, tmp_path / "x.xlsx", review())


def test_a_slip_of_the_direct_path_costs_nothing_but_time(sources, tmp_path, monkeypatch, caplog):
    def broken(*_: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("coop_batch.feedback_patch.patch_workbook", broken)
    with caplog.at_level(logging.WARNING, logger="coop_batch"):
        out = annotate_workbook(sources["template"], tmp_path / "out.xlsx", PROBLEMS[:2], display_name="in.xlsx",
                                rejected=True, as_of=AS_OF)
    assert load(out)["주간실적"]["D2"].comment.author == AUTHOR
    assert "openpyxl로 만듭니다" in caplog.text
    assert [p.name for p in tmp_path.iterdir()] == ["out.xlsx"]  # no temporary file left behind


CELLS = st.tuples(st.integers(1, 12), st.integers(1, 40)).map(lambda cr: f"{col_letters(cr[0])}{cr[1]}")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=st.lists(st.tuples(CELLS, st.sampled_from(["주간실적", "부서메모"]), st.booleans()), min_size=1, max_size=8))
def test_any_cells_are_marked_and_nothing_else_changes(sources, tmp_path, cells):
    problems = [problem("required" if error else "not-friday", sheet, ref, "열", value="x", weekday="목")
                for ref, sheet, error in cells]
    rv = review(problems)
    out = direct(sources["openpyxl"], tmp_path / "out.xlsx", rv)
    after, before = load(out), load(sources["openpyxl"])
    for name in before.sheetnames:
        assert values(after[name]) == values(before[name]), name
    expected: dict[tuple[str, str], set[str]] = {}
    for ref, sheet, error in cells:
        merged = next((r for r in before[sheet].merged_cells.ranges if ref in r), None)
        at = f"{col_letters(merged.min_col)}{merged.min_row}" if merged else ref
        expected.setdefault((sheet, at), set()).add("error" if error else "warning")
    for (sheet, ref), severities in expected.items():
        cell = after[sheet][ref]
        assert cell.fill.fgColor.rgb[-6:] == FILLS["error" if "error" in severities else "warning"], (sheet, ref)
        assert cell.comment.author == AUTHOR and cell.comment.text.startswith("[오류]" if "error" in severities else "[경고]")
    marked = {(name, ref) for name in before.sheetnames for ref in marks(after[name])}
    assert marked == set(expected)
    assert split_ref("AB12") == (28, 12)


# --- shapes that once slipped through (a review with hand-made and hostile packages) ---

NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def restyle(base: int, severity: str) -> int:
    return 9


def test_a_raw_angle_bracket_in_a_value_does_not_move_the_drawing_inside_an_element():
    """XML allows `/>` inside an attribute value (Apache POI writes it raw): the comments' drawing
    still goes after </dataValidations>, at the worksheet's level."""
    sheet = (f'<worksheet {NS}><sheetData/><dataValidations count="1"><dataValidation type="whole" prompt="1/>0" '
             'sqref="A1"><formula1>0</formula1></dataValidation></dataValidations><pageMargins left="0.7"/></worksheet>')
    out = add_legacy_drawing(sheet, "rId9")
    assert out.index("</dataValidations>") < out.index("<legacyDrawing") < out.index("</worksheet>")
    expat.ParserCreate().Parse(out.encode(), True)
    marked = mark_cells(f'<worksheet {NS}><sheetData><row r="2"><c r="A2" x="a>b"><v>1</v></c></row></sheetData></worksheet>',
                        {"A2": "error"}, restyle)
    assert '<c r="A2" x="a>b" s="9"><v>1</v></c>' in marked


@pytest.mark.parametrize("row", [
    '<row r="2"><!-- <c r="Z2"/> --><c r="A2"><v>1</v></c></row>',  # a comment holding cell markup
    '<row r="2"><c r="A2" t="inlineStr"><is><t><![CDATA[</c><c r="Z2"/>]]></t></is></c></row>',  # CDATA
    '<row r="2"><c r="A2"><v>1</v></c><extLst><ext uri="{X}"/></extLst></row>',  # cells go before extLst
])
def test_markup_a_text_search_could_misread_is_left_to_openpyxl(row):
    with pytest.raises(Unsupported):
        mark_cells(f"<worksheet {NS}><sheetData>{row}</sheetData></worksheet>", {"B2": "error"}, restyle)


def rebuilt(source: Path, target: Path, edit) -> Path:
    with zipfile.ZipFile(source) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    edit(parts)
    with zipfile.ZipFile(target, "w") as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return target


def test_part_names_are_matched_in_any_letter_case(sources, tmp_path):
    def rename(parts: dict[str, bytes]) -> None:
        parts["xl/worksheets/_rels/Sheet1.xml.rels"] = parts.pop("xl/worksheets/_rels/sheet1.xml.rels", b"") or (
            b'<?xml version="1.0" encoding="UTF-8"?><Relationships '
            b'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"></Relationships>')

    source = rebuilt(sources["template"], tmp_path / "case.xlsx", rename)
    out = direct(source, tmp_path / "out.xlsx", review(PROBLEMS[:2]))
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert len({n.lower() for n in names}) == len(names)  # the relationships went into the part there is
        assert b"/relationships/comments" in zf.read("xl/worksheets/_rels/Sheet1.xml.rels")


def test_a_content_type_left_for_a_removed_part_is_not_given_twice(sources, tmp_path):
    stale = b'<Override PartName="/xl/comments1.xml" ContentType="application/x-old"/></Types>'
    source = rebuilt(sources["template"], tmp_path / "stale.xlsx",
                     lambda p: p.update({"[Content_Types].xml": p["[Content_Types].xml"].replace(b"</Types>", stale)}))
    out = direct(source, tmp_path / "out.xlsx", review(PROBLEMS[:2]))
    types = zipfile.ZipFile(out).read("[Content_Types].xml").decode()
    names = re.findall(r'PartName="([^"]+)"', types)
    assert len(names) == len(set(names)) and "/xl/comments2.xml" in names


def test_shape_ids_stay_apart_past_1024_comments_on_a_sheet(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title, wb.create_sheet("B")["A1"] = "A", "x"
    wb.save(tmp_path / "many.xlsx")
    problems = [problem("required", "A", f"A{r}", "값") for r in range(1, 1101)]
    problems += [problem("required", "B", f"B{r}", "값") for r in range(1, 6)]
    out = direct(tmp_path / "many.xlsx", tmp_path / "out.xlsx", review(problems))
    with zipfile.ZipFile(out) as zf:
        drawings = [zf.read(n).decode() for n in zf.namelist() if n.endswith(".vml")]
    ids = [i for d in drawings for i in re.findall(r'id="_x0000_s(\d+)"', d)]
    assert len(ids) == 1105 and len(set(ids)) == len(ids)
    blocks = sorted(re.search(r'data="([\d,]+)"', d)[1] for d in drawings)
    assert blocks == ["1,2", "3"]
    for d in drawings:  # each shape in its drawing's blocks
        allowed = {int(b) for b in re.search(r'data="([\d,]+)"', d)[1].split(",")}
        assert {int(i) // 1024 for i in re.findall(r'id="_x0000_s(\d+)"', d)} <= allowed


def test_two_problems_in_one_merged_range_make_one_red_cell_with_both(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "S"
    wb["S"]["A1"] = "제목"
    wb["S"].merge_cells("A1:C1")
    wb.save(tmp_path / "merged.xlsx")
    rv = review([problem("not-friday", "S", "A1", "값", value="x", weekday="목"), problem("required", "S", "B1", "값")])
    _with_openpyxl(tmp_path / "merged.xlsx", tmp_path / "openpyxl.xlsx", rv)
    for out in (direct(tmp_path / "merged.xlsx", tmp_path / "direct.xlsx", rv), tmp_path / "openpyxl.xlsx"):
        cell = load(out)["S"]["A1"]
        assert cell.fill.fgColor.rgb[-6:] == FILLS["error"], out.name
        assert cell.comment.text.startswith("[오류]") and "[경고]" in cell.comment.text, out.name


def test_a_range_a_cell_off_the_grid_or_a_chartsheet_is_listed_not_marked(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "S"
    chart = wb.create_chartsheet("차트")
    from openpyxl.chart import BarChart, Reference

    wb["S"].append([1, 2])
    bar = BarChart()
    bar.add_data(Reference(wb["S"], min_col=1, max_col=2, min_row=1))
    chart.add_chart(bar)
    wb.save(tmp_path / "odd.xlsx")
    rv = review([problem("required", "S", "A1:B2", "값"), problem("required", "S", "XFE1", "값"),
                 problem("required", "차트", "A1", "값"), problem("required", "S", "B1", "값")])
    _with_openpyxl(tmp_path / "odd.xlsx", tmp_path / "openpyxl.xlsx", rv)
    for out in (direct(tmp_path / "odd.xlsx", tmp_path / "direct.xlsx", rv), tmp_path / "openpyxl.xlsx"):
        wb = load(out)
        assert [r[0] for r in wb[REVIEW_SHEET].iter_rows(min_row=HEADER_ROW + 1, values_only=True)] == [
            "S!A1:B2", "S!XFE1", "차트!A1", "S!B1"]
        assert set(marks(wb["S"])) == {"B1"}, out.name
        links = [c.hyperlink.location for row in wb[REVIEW_SHEET].iter_rows() for c in row if c.hyperlink]
        assert links == ["'S'!A1:B2", "'차트'!A1", "'S'!B1"], out.name  # none to a cell Excel does not have


def test_a_cell_that_reads_like_a_tab_selection_keeps_its_text(tmp_path):
    """Only the sheet view's `tabSelected` is taken off (the 검토결과 sheet is the one selected): a cell's
    text that spells it out is the clerk's and stays as it is."""
    import xlsxwriter

    source = tmp_path / "tabs.xlsx"
    book = xlsxwriter.Workbook(str(source), {"constant_memory": True})  # the text in the sheet, not shared
    book.add_worksheet("주간실적").write_string("A1", 'x tabSelected="1" y')
    book.add_worksheet("기타").write_number("A1", 1)
    book.close()
    rv = Review([problem("bad-number", "기타", "B2", "값", value="x")], display_name="tabs.xlsx", rejected=True, as_of=AS_OF)
    copy = load(direct(source, tmp_path / "out.xlsx", rv))
    assert copy["주간실적"]["A1"].value == 'x tabSelected="1" y'
    assert copy.active.title == REVIEW_SHEET and not copy["주간실적"].sheet_view.tabSelected
