"""Annotated copies for the departments (`outbox/반려/<부서명>/`): nothing the department entered is lost."""

from __future__ import annotations

import warnings
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import openpyxl
import pytest
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation
from python_calamine import CalamineWorkbook

from coop_batch import feedback, feedback_job
from coop_batch.config import SEOUL, Workspace, init_workspace
from coop_batch.errors import Problem
from coop_batch.feedback import (
    AUTHOR,
    FILLS,
    REVIEW_COLUMNS,
    REVIEW_SHEET,
    annotate_workbook,
    plan_copies,
    safe_folder,
)
from coop_batch.ledger import FileRow, FileStatus, Ledger
from coop_batch.run import RunReport, run_batch
from coop_batch.schema import KIND_BY_ID
from coop_batch.templates import write_template

AS_OF = date(2016, 3, 25)
SAFETY = "안전도시 만들기"
BAD_WEEKLY = [
    {"report_date": "다음주", "project": SAFETY, "department": "안전치수과", "progress": ""},
    {"report_date": date(2016, 3, 25), "project": SAFETY, "department": "안전치수과", "progress": "교육 2회"},
]
THURSDAY = [{"report_date": date(2016, 3, 17), "project": SAFETY, "department": "안전치수과", "progress": "점검"}]
HEADER_ROW = 5  # the 검토결과 table's header row


# --- building departments' files ---


def department_file(path: Path, rows: list[dict[str, Any]], rules) -> Path:
    """A standard weekly workbook as a department leaves it: an extra sheet of its own with formulas,
    dates, merged cells, styles, a comment, a validation; a comment of its own on a data cell."""
    write_template(KIND_BY_ID["weekly"], rules, path, rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(path)
    data = wb["주간실적"]
    data["A2"].comment = Comment("3월 넷째 주 보고입니다", "안전치수과 이영희")  # on a problem cell
    data["C3"].comment = Comment("부서명 확인 완료", "안전치수과 이영희")  # on a clean cell
    own = wb.create_sheet("부서메모")
    own["A1"] = "부서 자체 집계"
    own["A1"].font = Font(name="굴림", bold=True, size=13, color="FF0000")
    own.merge_cells("A1:C1")
    own["A2"], own["B2"], own["C2"] = "교육 횟수", 2, 3
    own["D2"] = "=SUM(B2:C2)"
    own["A3"], own["B3"] = "기준일", datetime(2016, 3, 25)
    own["B3"].number_format = "yyyy-mm-dd"
    own["A4"], own["B4"] = "예산(원)", 1234567.5
    own["B4"].number_format = "#,##0.00"
    own["A5"] = "=이건 수식이 아닌 글"
    own["A5"].data_type = "s"
    own["C5"] = True
    own["B6"].fill = PatternFill("solid", fgColor="DDEBF7")
    own["A7"] = "줄바꿈이\n있는 메모"
    own.column_dimensions["A"].width = 22
    own.freeze_panes = "A2"
    check = DataValidation(type="list", formula1='"예,아니오"')
    own.add_data_validation(check)
    check.add("E2:E9")
    wb.save(path)
    return path


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return init_workspace(tmp_path / "ws", policy_year=2016, evaluation_year=2015)


def run(ws: Workspace, **options: Any) -> RunReport:
    return run_batch(ws, as_of=AS_OF, settle_seconds=0, mail=False, **options)


def history(ws: Workspace) -> list[FileRow]:
    with Ledger.open(ws.ledger_path) as ledger:
        return ledger.history()


def load(path: Path) -> openpyxl.Workbook:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return openpyxl.load_workbook(path)


def review_rows(wb: openpyxl.Workbook) -> list[tuple[Any, ...]]:
    return [row for row in wb[REVIEW_SHEET].iter_rows(min_row=HEADER_ROW + 1, values_only=True) if any(row)]


# --- cell by cell ---


def style_of(cell) -> tuple[Any, ...]:
    font = cell.font
    return (cell.number_format, font.name, font.b, font.i, font.sz, str(font.color.rgb) if font.color else None,
            cell.alignment.horizontal, cell.alignment.wrap_text, cell.border.left.style, cell.protection.locked)


def assert_keeps_everything(original: Path, copy: Path, problem_cells: set[tuple[str, str]]) -> int:
    """Every sheet, every cell of `original` is in `copy` with the same value and style; the fill and
    comment too except on the problem cells.  Returns the number of cells compared."""
    before, after = load(original), load(copy)
    assert after.sheetnames == [REVIEW_SHEET, *before.sheetnames]
    compared = 0
    for sheet in before.sheetnames:
        a, b = before[sheet], after[sheet]
        assert b.sheet_state == a.sheet_state, sheet
        assert (b.max_row, b.max_column) == (a.max_row, a.max_column), sheet
        assert {str(r) for r in b.merged_cells.ranges} == {str(r) for r in a.merged_cells.ranges}, sheet
        assert b.freeze_panes == a.freeze_panes, sheet
        assert [(v.sqref, v.formula1) for v in b.data_validations.dataValidation] == [
            (v.sqref, v.formula1) for v in a.data_validations.dataValidation
        ], sheet
        assert {k: d.width for k, d in b.column_dimensions.items()} == {k: d.width for k, d in a.column_dimensions.items()}
        for row in a.iter_rows():
            for cell in row:
                other = b[cell.coordinate]
                where = f"{sheet}!{cell.coordinate}"
                assert other.value == cell.value, where
                assert other.data_type == cell.data_type, where
                assert style_of(other) == style_of(cell), where
                if (sheet, cell.coordinate) not in problem_cells:
                    assert repr(other.fill) == repr(cell.fill), where  # StyleProxy has no useful ==
                    assert (other.comment.text if other.comment else None) == (
                        cell.comment.text if cell.comment else None
                    ), where
                compared += 1
    assert list(after.defined_names) == list(before.defined_names)
    # A second, independent reader sees the same values in every original sheet.
    cal_a, cal_b = CalamineWorkbook.from_path(str(original)), CalamineWorkbook.from_path(str(copy))
    for sheet in cal_a.sheet_names:
        assert cal_b.get_sheet_by_name(sheet).to_python() == cal_a.get_sheet_by_name(sheet).to_python(), sheet
    return compared


# --- end to end through the nightly run ---


def test_rejected_file_copy_keeps_every_original_value_and_marks_the_problems(ws, rules):
    department_file(ws.inbox / "안전치수과" / "주간실적_0325.xlsx", BAD_WEEKLY, rules)
    report = run(ws)
    assert report.count("rejected") == 1
    row = next(r for r in history(ws) if r.status is FileStatus.REJECTED)
    original = ws.root / row.filed_path  # the quarantined file, byte for byte what the department sent
    copy = ws.outbox / "반려" / "안전치수과" / "주간실적_0325.xlsx"
    assert copy.is_file()
    assert [c.path for c in report.feedback.copies] == [copy]

    cells = {(p["sheet"], p["cell"]) for p in row.problems}
    assert cells == {("주간실적", "A2"), ("주간실적", "D2")}
    assert assert_keeps_everything(original, copy, cells) > 100

    wb = load(copy)
    assert wb.active.title == REVIEW_SHEET and wb.sheetnames[0] == REVIEW_SHEET
    assert [s.title for s in wb.worksheets if s.sheet_view.tabSelected] == [REVIEW_SHEET]
    data = wb["주간실적"]
    for ref in ("A2", "D2"):
        assert data[ref].fill.fgColor.rgb.endswith(FILLS["error"]), ref
        assert data[ref].comment.author == AUTHOR
    assert "날짜로 읽을 수 없습니다" in data["A2"].comment.text and "2016-01-22" in data["A2"].comment.text
    assert "3월 넷째 주 보고입니다" in data["A2"].comment.text  # the department's own comment is kept
    assert "값을 입력해 주세요" in data["D2"].comment.text

    header = [c.value for c in wb[REVIEW_SHEET][HEADER_ROW]][: len(REVIEW_COLUMNS)]
    assert header == list(REVIEW_COLUMNS) == ["위치", "열", "구분", "문제", "내용"]
    rows = review_rows(wb)
    assert [(r[0], r[1], r[2]) for r in rows] == [("주간실적!A2", "보고일", "오류"), ("주간실적!D2", "추진실적", "오류")]
    links = [wb[REVIEW_SHEET].cell(HEADER_ROW + 1 + i, 1).hyperlink for i in range(len(rows))]
    assert [link.location for link in links] == ["'주간실적'!A2", "'주간실적'!D2"]
    assert all(link.target is None for link in links)  # internal links, no file outside the workbook
    assert "반려" in wb[REVIEW_SHEET]["A2"].value and "오류 2건" in wb[REVIEW_SHEET]["A2"].value


def test_unreadable_file_gets_a_korean_txt(ws):
    path = ws.inbox / "일자리지원과" / "주간실적_2016-03-11.xlsx"
    path.parent.mkdir(parents=True)
    path.write_text("보고일,사업명\n2016-03-11,서울 희망일자리 만들기\n", encoding="utf-8")
    report = run(ws)
    assert report.count("rejected") == 1
    note = ws.outbox / "반려" / "일자리지원과" / "주간실적_2016-03-11.xlsx_검토결과.txt"
    assert note.is_file()
    assert not (ws.outbox / "반려" / "일자리지원과" / "주간실적_2016-03-11.xlsx").exists()
    raw = note.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw  # Notepad on Windows reads it as UTF-8
    text = raw.decode("utf-8-sig")
    assert "반려되었습니다" in text and "파일을 열 수 없어" in text
    assert "엑셀(.xlsx) 파일이 아닙니다" in text and "다른 이름으로 저장" in text
    assert "일자리지원과/주간실적_2016-03-11.xlsx" in text


def test_accepted_file_with_warnings_gets_an_amber_copy(ws, rules):
    write_template(KIND_BY_ID["weekly"], rules, ws.inbox / "안전치수과" / "주간실적_0317.xlsx", THURSDAY)
    report = run(ws)
    assert report.count("accepted") == 1
    copy = ws.outbox / "반려" / "안전치수과" / "주간실적_0317.xlsx"
    wb = load(copy)
    assert wb["주간실적"]["A2"].fill.fgColor.rgb.endswith(FILLS["warning"])
    assert "금요일" in wb["주간실적"]["A2"].comment.text
    rows = review_rows(wb)
    assert [(r[0], r[2]) for r in rows] == [("주간실적!A2", "경고")]
    assert "접수" in wb[REVIEW_SHEET]["A2"].value
    row = next(r for r in history(ws))
    assert_keeps_everything(ws.root / row.filed_path, copy, {("주간실적", "A2")})


def test_master_error_sheet_and_summary_count_per_department_and_point_to_the_copies(ws, rules):
    department_file(ws.inbox / "안전치수과" / "주간실적_0325.xlsx", BAD_WEEKLY, rules)
    write_template(KIND_BY_ID["weekly"], rules, ws.inbox / "안전치수과" / "주간실적_0317.xlsx", THURSDAY)
    (ws.inbox / "깨진파일.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    report = run(ws)
    by_department = {c.department: c for c in report.feedback.by_department()}
    assert set(by_department) == {"안전치수과", "부서미상"}
    assert (by_department["안전치수과"].files, by_department["안전치수과"].errors,
            by_department["안전치수과"].warnings) == (2, 2, 1)
    lines = "\n".join(report.summary_lines())
    assert "안전치수과: 파일 2개(반려 1개, 오류 2건, 경고 1건) → outbox/반려/안전치수과" in lines
    assert "부서미상: 파일 1개(반려 1개, 오류 1건, 경고 0건) → outbox/반려/부서미상" in lines

    master = CalamineWorkbook.from_path(str(report.outputs[0]))
    rows = master.get_sheet_by_name("오류").to_python()
    header = rows[0]
    assert header[0] == "부서" and header[-1].startswith("검토본")
    body = [dict(zip(header, r)) for r in rows[1:] if r[1]]
    linked = {r["파일"]: r[header[-1]] for r in body if r["상태"] in ("반려", "접수")}
    assert linked == {
        "안전치수과/주간실적_0325.xlsx": "outbox/반려/안전치수과/주간실적_0325.xlsx",
        "안전치수과/주간실적_0317.xlsx": "outbox/반려/안전치수과/주간실적_0317.xlsx",
        "깨진파일.xlsx": "outbox/반려/부서미상/깨진파일.xlsx_검토결과.txt",
    }
    assert all((ws.root / path).is_file() for path in linked.values())
    note = next(r[0] for r in rows if str(r[0]).startswith("부서별 제출 파일 문제"))
    assert "안전치수과 3건" in note and "부서미상 1건" in note
    summary = master.get_sheet_by_name("요약").to_python()
    start = next(i for i, r in enumerate(summary) if str(r[0]).startswith("부서별 검토 사항"))
    table = {r[0]: r[1:5] for r in summary[start + 2:start + 4]}
    assert table == {"안전치수과": [2, 1, 2, 1], "부서미상": [1, 1, 1, 0]}


def test_a_rerun_rewrites_nothing_and_a_new_file_takes_its_path_over(ws, rules):
    department_file(ws.inbox / "안전치수과" / "주간실적.xlsx", BAD_WEEKLY, rules)
    run(ws)
    copy = ws.outbox / "반려" / "안전치수과" / "주간실적.xlsx"
    stamp = copy.stat().st_mtime_ns
    again = run(ws)
    assert again.feedback.copies == [] and copy.stat().st_mtime_ns == stamp
    # The department fixes one cell but still gets a date wrong, under the same name: its copy replaces the old one.
    fixed = [dict(BAD_WEEKLY[0], progress="교육 1회"), BAD_WEEKLY[1]]
    write_template(KIND_BY_ID["weekly"], rules, ws.inbox / "안전치수과" / "주간실적.xlsx", fixed)
    third = run(ws)
    assert [c.path for c in third.feedback.copies] == [copy]
    assert [r[2] for r in review_rows(load(copy))] == ["오류"]  # only the date problem remains
    rows = history(ws)
    links = feedback.copy_links(ws, rows)
    assert links == {rows[-1].id: "outbox/반려/안전치수과/주간실적.xlsx"}  # the older row no longer owns it


def test_a_failure_writing_copies_never_stops_the_run(ws, rules, monkeypatch):
    write_template(KIND_BY_ID["weekly"], rules, ws.inbox / "안전치수과" / "주간실적.xlsx", BAD_WEEKLY)

    def broken(*args: Any, **kwargs: Any) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(feedback, "_write_one", broken)
    monkeypatch.setattr(feedback_job, "PARALLEL_MIN", 10**9)  # written here, where the patch applies
    report = run(ws)
    assert report.count("rejected") == 1 and report.feedback.copies == []
    assert any("검토본을 만들지 못했습니다" in note for note in report.notes)
    assert report.outputs[0].is_file()  # the master is written all the same


def test_a_workbook_openpyxl_cannot_save_is_listed_in_a_txt(ws, rules, monkeypatch):
    write_template(KIND_BY_ID["weekly"], rules, ws.inbox / "안전치수과" / "주간실적.xlsx", BAD_WEEKLY)

    def refuses(*args: Any, **kwargs: Any) -> None:
        raise KeyError("an unsupported part")

    monkeypatch.setattr(feedback, "annotate_workbook", refuses)
    monkeypatch.setattr(feedback_job, "PARALLEL_MIN", 10**9)  # written here, where the patch applies
    report = run(ws)
    note = ws.outbox / "반려" / "안전치수과" / "주간실적.xlsx_검토결과.txt"
    assert [c.path for c in report.feedback.copies] == [note]
    text = note.read_text(encoding="utf-8-sig")
    assert "표시본(엑셀)을 만들 수 없어" in text and "날짜로 읽을 수 없습니다" in text


# --- the annotation itself ---


def problem(code: str, sheet: str = "", cell: str = "", column: str = "", **params: Any) -> dict[str, Any]:
    return Problem(code, "부서/파일.xlsx", sheet, cell, column, params).as_dict()


def test_review_sheet_lists_every_problem_links_cells_and_keeps_text_as_text(tmp_path, rules):
    source = department_file(tmp_path / "in.xlsx", BAD_WEEKLY, rules)
    problems = [
        problem("not-friday", "주간실적", "A3", "보고일", value="2016-03-24", weekday="목"),
        problem("bad-date", "주간실적", "A3", "보고일", value="=HYPERLINK(\"http://x\")"),  # same cell: error wins
        problem("missing-column", "주간실적", column="대책"),  # a whole column: no cell
        problem("old-template", found="0.9", expected="1.0"),  # the whole file
        problem("required", "부서메모", "B1", "추진실적"),  # inside the merged A1:C1
        problem("required", "없는시트", "C7", "추진실적"),  # a sheet the workbook does not have
    ]
    target = tmp_path / "out.xlsx"
    annotate_workbook(source, target, problems, display_name="안전치수과/in.xlsx", rejected=True, as_of=AS_OF)
    wb = load(target)
    review = wb[REVIEW_SHEET]
    rows = review_rows(wb)
    assert len(rows) == len(problems)
    # Errors first, then warnings, each in the order given.
    assert [(r[0], r[2]) for r in rows] == [
        ("주간실적!A3", "오류"), ("주간실적 시트", "오류"), ("부서메모!B1", "오류"), ("없는시트!C7", "오류"),
        ("주간실적!A3", "경고"), ("파일 전체", "경고"),
    ]
    assert rows[1][1] == "대책" and "'대책' 열이 없습니다" in rows[1][4]
    locations = [review.cell(HEADER_ROW + 1 + i, 1).hyperlink for i in range(len(rows))]
    assert [link.location if link else None for link in locations] == [
        "'주간실적'!A3", "'주간실적'!A1", "'부서메모'!B1", None, "'주간실적'!A3", None,
    ]
    message = review.cell(HEADER_ROW + 1, 5)
    assert message.data_type == "s" and message.value.startswith("'보고일' 값 '=HYPERLINK")
    cell = wb["주간실적"]["A3"]
    assert cell.fill.fgColor.rgb.endswith(FILLS["error"])
    assert "[오류] 날짜 형식 오류" in cell.comment.text and "[경고] 금요일 아님" in cell.comment.text
    merged = wb["부서메모"]["A1"]  # the problem lands on the merged range's visible cell
    assert merged.fill.fgColor.rgb.endswith(FILLS["error"]) and merged.value == "부서 자체 집계"
    assert review.freeze_panes == f"A{HEADER_ROW + 1}" and review.auto_filter.ref.startswith(f"A{HEADER_ROW}:E")
    assert review.page_setup.orientation == "landscape"


def test_a_copy_sent_back_is_annotated_afresh(tmp_path, rules):
    """A department returns our annotated copy: one 검토결과, our old comments gone, its own comment kept once."""
    source = department_file(tmp_path / "in.xlsx", BAD_WEEKLY, rules)
    first = tmp_path / "first.xlsx"
    annotate_workbook(source, first, [problem("bad-date", "주간실적", "A2", "보고일", value="다음주"),
                                      problem("required", "주간실적", "D2", "추진실적")],
                      display_name="in.xlsx", rejected=True, as_of=AS_OF)
    second = tmp_path / "second.xlsx"
    annotate_workbook(first, second, [problem("required", "주간실적", "B2", "사업명")],
                      display_name="in.xlsx", rejected=True, as_of=AS_OF)
    wb = load(second)
    assert [s for s in wb.sheetnames if s.startswith(REVIEW_SHEET)] == [REVIEW_SHEET]
    assert len(review_rows(wb)) == 1
    data = wb["주간실적"]
    assert data["A2"].comment.text == "3월 넷째 주 보고입니다"  # ours removed, the department's restored
    assert data["D2"].comment is None
    assert data["B2"].comment.author == AUTHOR and data["C3"].comment.text == "부서명 확인 완료"
    # the fixed cells are no longer coloured; only this round's problem is
    assert data["A2"].fill.fill_type is None and data["D2"].fill.fill_type is None
    assert data["B2"].fill.fill_type == "solid"


def test_a_copy_resaved_by_libreoffice_is_annotated_afresh_too(tmp_path, rules):
    """LibreOffice saves comments without their author: ours are still known by their first words."""
    source = department_file(tmp_path / "in.xlsx", BAD_WEEKLY, rules)
    first = tmp_path / "first.xlsx"
    annotate_workbook(source, first, [problem("required", "주간실적", "D2", "추진실적")],
                      display_name="in.xlsx", rejected=True, as_of=AS_OF)
    wb = load(first)
    for cell in wb["주간실적"]._cells.values():
        if cell.comment is not None:
            from openpyxl.comments import Comment

            cell.comment = Comment(cell.comment.text, "")  # the author lost, as LibreOffice saves it
    resaved = tmp_path / "resaved.xlsx"
    wb.save(resaved)
    second = tmp_path / "second.xlsx"
    annotate_workbook(resaved, second, [], display_name="in.xlsx", rejected=False, as_of=AS_OF)
    data = load(second)["주간실적"]
    assert data["D2"].comment is None and data["D2"].fill.fill_type is None
    assert data["A2"].comment.text == "3월 넷째 주 보고입니다"  # the department's own stays


# --- where copies go ---


def file_row(id: int, run_id: int, path: str, status: str = "rejected", department: str = "",
             problems: tuple[dict[str, Any], ...] | None = None, sha: str | None = None) -> FileRow:
    moment = datetime(2016, 3, 25, 9, tzinfo=SEOUL)
    if problems is None:
        problems = (problem("required", "주간실적", "D2", "추진실적"),)
    return FileRow(
        id=id, run_id=run_id, sha256=sha or f"{id:064x}", original_path=path, name=Path(path).name, size=1,
        mtime=moment, first_seen=moment, arrived_at=moment, status=FileStatus(status), kind="weekly",
        department=department, duplicate_of=1 if status == "duplicate" else None, filed_path=None,
        template_version="", rules_version="", problems=problems,
    )


def test_a_plan_follows_its_rows_and_a_given_plan_is_the_one_used(ws):
    rows = [file_row(1, 1, "세무과/주간.xlsx", department="세무과"), file_row(2, 1, "환경과/주간.xlsx")]
    assert plan_copies(rows) == {1: PurePosixPath("세무과/주간.xlsx"), 2: PurePosixPath("환경과/주간.xlsx")}
    rows[1] = file_row(2, 1, "환경과/주간.xlsx", status="accepted", problems=())  # nothing to say now
    assert plan_copies(rows) == {1: PurePosixPath("세무과/주간.xlsx")}
    assert plan_copies([]) == {}
    given = {1: PurePosixPath("다른과/주간.xlsx")}
    assert feedback.copies_due(rows, 1, given) == [(rows[0], given[1])]
    assert [c.department for c in feedback.current_counts(rows, given)] == ["다른과"]
    copy = ws.outbox / "반려" / "다른과" / "주간.xlsx"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(b"x")
    assert feedback.copy_links(ws, rows, plan=given) == {1: "outbox/반려/다른과/주간.xlsx"}
    assert feedback.copy_links(ws, rows) == {}  # its own plan: 세무과/, where nothing was written


def test_a_run_plans_its_copies_once(ws, rules, monkeypatch):
    """The copies, the master's links and its counts per department all use the plan made once."""
    department_file(ws.inbox / "안전치수과" / "주간실적.xlsx", BAD_WEEKLY, rules)
    plans: list[int] = []
    real = feedback.plan_copies

    def counted(rows: Any) -> dict[int, PurePosixPath]:
        plans.append(len(rows))
        return real(rows)

    monkeypatch.setattr(feedback, "plan_copies", counted)
    monkeypatch.setattr(feedback_job, "plan_copies", counted)
    report = run(ws)
    assert plans == [1]
    assert [c.path.name for c in report.feedback.copies] == ["주간실적.xlsx"]
    summary = CalamineWorkbook.from_path(str(report.outputs[0])).get_sheet_by_name("요약").to_python()
    start = next(i for i, r in enumerate(summary) if str(r[0]).startswith("부서별 검토 사항"))
    assert summary[start + 2][:2] == ["안전치수과", 1]


def test_a_plan_that_fails_costs_the_copies_not_the_master(ws, rules, monkeypatch):
    department_file(ws.inbox / "안전치수과" / "주간실적.xlsx", BAD_WEEKLY, rules)

    def broken(rows: Any) -> dict[int, PurePosixPath]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(feedback, "plan_copies", broken)
    monkeypatch.setattr(feedback_job, "plan_copies", broken)
    report = run(ws)
    assert report.feedback.copies == [] and report.outputs[0].is_file()
    assert any("부서별 검토본(반려 폴더)을 만들지 못했습니다" in note for note in report.notes)


def test_copy_paths_department_then_subfolder_then_unknown_and_latest_wins():
    rows = [
        file_row(1, 1, "세무과/주간.xlsx", department="세무과"),
        file_row(2, 1, "세무과/옛날/주간.xlsx", department="세무과", sha="ab" * 32),  # same night, same name
        file_row(3, 1, "환경과/주간.xlsx"),  # rejected before its department was known: the subfolder
        file_row(4, 1, "주간.xlsx"),  # dropped into the inbox itself
        file_row(5, 1, "세무과/깨짐.xlsx", problems=(problem("file-corrupt", detail="zip"),)),
        file_row(6, 1, "세무과/좋음.xlsx", status="accepted", problems=()),  # nothing to say
        file_row(7, 1, "세무과/주간 - 복사본.xlsx", status="duplicate"),
        file_row(8, 2, "환경과/주간.xlsx", department="환경과"),  # a later night: takes 3's path over
    ]
    plan = {fid: rel.as_posix() for fid, rel in plan_copies(rows).items()}
    assert plan == {
        1: "세무과/주간.xlsx",
        2: "세무과/abababab_주간.xlsx",
        4: "부서미상/주간.xlsx",
        5: "세무과/깨짐.xlsx_검토결과.txt",
        8: "환경과/주간.xlsx",
    }


@pytest.mark.parametrize(
    ("name", "folder"),
    [("세무과", "세무과"), ("../../etc", "_.._etc"), ("..", ""), ("CON", "_CON"), ("a:b*c?", "a_b_c_"),
     (" 환경과. ", "환경과"), ("", ""), ("과" * 80, "과" * 60)],
)
def test_department_folder_names_are_safe(name, folder):
    assert safe_folder(name) == folder


# --- the 요약 dashboard (it shows the copies' per-department counts; kept here, beside them) ---

RESULTS = [
    {"seq": 1, "project": SAFETY, "category": "시·자치구 공동협력사업", "grade": "최우수", "prize_won": "69.2",
     "subsidy": "N", "departments": "안전치수과"},
    {"seq": 2, "project": "서울 희망일자리 만들기", "category": "서울시 인센티브", "grade": "노력", "prize_won": "10",
     "subsidy": "N", "departments": "일자리지원과"},
    {"seq": 3, "project": "민원서비스 우수기관 인증", "category": "대외기관 평가", "grade": "우수기관", "prize_won": "-",
     "subsidy": "N", "departments": "민원여권과"},
]


def result_record(category: str, prize: int | None, tier: str | None = "우수") -> dict[str, Any]:
    return {"category": category, "prize_won": prize, "tier": tier}


def test_award_history_adds_this_year_like_for_like(rules):
    from coop_batch.dashboard import award_history

    merged = [
        result_record("시·자치구 공동협력사업", 69_200_000),
        result_record("서울시 인센티브", 10_000_000),  # an alias of the same 사업구분
        result_record("대외기관 평가", 80_000_000),  # another 사업구분: not in the seed's history figures
        result_record("시·자치구 공동협력사업", 5_000_000, tier=None),  # not awarded (grade not in the table)
    ]
    rows = award_history(rules, merged, 2016)
    assert [(r.year, r.rank, r.amount_won, r.awards) for r in rows] == [
        (2012, 7, 517_000_000, 10), (2013, 4, 569_000_000, 14), (2014, 12, 318_000_000, 7),
        (2015, 9, 509_000_000, 12), (2016, None, 79_200_000, 2),
    ]
    # Paying a past year's results: that year keeps its rank and shows the merged amount, saying what it replaced.
    paid = award_history(rules, merged, 2015)
    assert [(r.year, r.rank, r.amount_won) for r in paid][-1] == (2015, 9, 79_200_000)
    assert len(paid) == 4 and "509,000,000원" in paid[-1].note
    assert award_history(rules, [], 2015)[-1].amount_won == 509_000_000  # nothing merged: the record stands
    assert award_history(rules, [], 2016)[-1].note == "평가결과 미접수"


def test_week_counts_leave_out_weeks_still_open():
    from types import SimpleNamespace

    from coop_batch.dashboard import week_counts

    days = [date(2016, 3, 18), date(2016, 3, 25), date(2016, 4, 1)]
    tracking = SimpleNamespace(
        as_of=date(2016, 3, 28), deadlines={d: d for d in days},
        week_totals=lambda: [(days[0], 20, 2, 1), (days[1], 18, 0, 5), (days[2], 0, 0, 0)],
    )
    weeks = week_counts(tracking)
    assert [(w.day, w.submitted, w.late, w.missing) for w in weeks] == [(days[0], 20, 2, 1), (days[1], 18, 0, 5)]
    assert str(weeks[0].rate) == "0.8696" and week_counts(None) == []


def test_dashboard_is_values_and_native_charts(ws, rules):
    import zipfile

    write_template(KIND_BY_ID["results"], rules, ws.inbox / "기획예산과" / "평가결과.xlsx", RESULTS)
    write_template(KIND_BY_ID["weekly"], rules, ws.inbox / "안전치수과" / "주간실적_0325.xlsx", BAD_WEEKLY)
    write_template(KIND_BY_ID["weekly"], rules, ws.inbox / "안전치수과" / "주간실적_0318.xlsx",
                   [dict(THURSDAY[0], report_date=date(2016, 3, 18))])
    report = run(ws)
    master = report.outputs[0]
    summary = load(master)["요약"]
    cells = [c for row in summary.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]  # values only: no viewer has to recalculate
    figures = {summary.cell(r, 1).value: summary.cell(r, 2).value for r in range(1, summary.max_row + 1)}
    assert figures["포상금 합계"] == report.policy.total_reward_won
    assert figures["이번 실행: 반려"] == 1 and figures["이번 실행: 받은 파일"] == 3
    assert figures["특별휴가 대상"] == len(report.policy.leave)
    if report.tracking is not None:
        assert any(str(label).startswith("이번 주(3/25) 주간보고 미제출") for label in figures)
    titles = [c.value for c in cells if isinstance(c.value, str)]
    assert {"연도별 수상 현황", "사업구분별 포상금"} <= set(titles)
    assert any(t.startswith("부서별 검토 사항") for t in titles)
    with zipfile.ZipFile(master) as book:
        charts = [n for n in book.namelist() if n.startswith("xl/charts/chart")]
        text = "".join(book.read(n).decode("utf-8") for n in charts)
    assert len(charts) == (3 if report.tracking is not None else 2)  # native charts, not pictures
    assert "연도별 수상금(원)·수상 사업 수" in text and "사업구분별 포상금(원)" in text
    # The evaluation year (2015 here) keeps its rank; its bar is the merged 69.2 + 10 백만원 of the same 사업구분.
    assert "2015년 (9위)" in text and "79200000" in text and "509000000" not in text


def test_a_copy_is_cleared_once_its_file_is_sent_again_fixed():
    rows = [
        file_row(1, 1, "세무과/주간.xlsx", department="세무과"),
        file_row(2, 1, "세무과/깨짐.xlsx", problems=(problem("file-corrupt", detail="zip"),)),
        file_row(3, 1, "환경과/주간.xlsx", department="환경과"),
        file_row(4, 2, "세무과/주간.xlsx", status="accepted", department="세무과", problems=()),  # fixed
        file_row(5, 2, "세무과/깨짐.xlsx", status="accepted", department="세무과", problems=()),  # re-saved
        file_row(6, 2, "환경과/기타/주간.xlsx", status="duplicate", department="환경과"),  # not a fix
    ]
    assert {fid: rel.as_posix() for fid, rel in plan_copies(rows).items()} == {3: "환경과/주간.xlsx"}
    assert [rel.as_posix() for rel in plan_copies(rows).cleared_by(2)] == ["세무과/주간.xlsx", "세무과/깨짐.xlsx_검토결과.txt"]
    assert plan_copies(rows).cleared_by(1) == []
    same_night = [file_row(1, 1, "세무과/주간.xlsx", department="세무과"),
                  file_row(2, 1, "세무과/옛날/주간.xlsx", status="accepted", department="세무과", problems=())]
    assert list(plan_copies(same_night)) == [1] and plan_copies(same_night).cleared_by(1) == []


def test_copies_cleared_by_a_run_that_died_are_removed_by_the_next(tmp_path: Path):
    """The run that filed the fixed file died before its copies: the next run redoes that run's copies
    (`copies_due`), and removes the ones it cleared too."""
    from coop_batch.feedback import remove_cleared

    rows = [file_row(1, 1, "세무과/주간.xlsx", department="세무과"),
            file_row(2, 2, "세무과/주간.xlsx", status="accepted", department="세무과", problems=())]
    stale = tmp_path / "세무과" / "주간.xlsx"
    stale.parent.mkdir()
    stale.write_bytes(b"red copy")
    assert remove_cleared(tmp_path, plan_copies(rows), 3) == [] and stale.exists()
    assert remove_cleared(tmp_path, plan_copies(rows), 3, redo={2}) == [stale] and not stale.exists()


def test_a_department_that_sends_its_file_again_fixed_has_no_red_copy_left(ws, rules):
    department_file(ws.inbox / "안전치수과" / "주간실적.xlsx", BAD_WEEKLY, rules)
    first = run(ws)
    copy = ws.outbox / "반려" / "안전치수과" / "주간실적.xlsx"
    assert copy.is_file() and first.count("rejected") == 1
    write_template(KIND_BY_ID["weekly"], rules, ws.inbox / "안전치수과" / "주간실적.xlsx", BAD_WEEKLY[1:])
    second = run(ws)
    assert second.count("accepted") == 1 and second.outcomes[0].errors == second.outcomes[0].warnings == 0
    assert not copy.exists()  # its red cells would only mislead now; the rejected original stays in quarantine/
    assert [c.department for c in second.feedback.by_department()] == []
    master = CalamineWorkbook.from_path(str(second.outputs[0]))
    assert "outbox/반려/안전치수과/주간실적.xlsx" not in repr(master.get_sheet_by_name("오류").to_python())
    assert any(p.suffix == ".xlsx" for p in ws.quarantine.rglob("*"))
