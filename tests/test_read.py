"""Reading well-formed and hand-made workbooks: kind, header row, columns, rows, structure problems,
and the guarded `read_many` path (worker processes, time limit, crash).  Hostile files: test_hostile.py."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlsxwriter

from coop_batch import read as read_module
from coop_batch.errors import CATALOGUE, Severity
from coop_batch.read import TEST_FAULT_ENV, Limits, read_many, read_one, read_sheet
from coop_batch.schema import KIND_BY_ID, KINDS, META_SHEET, PLANS, RESULTS, STAFF, WEEKLY
from coop_batch.templates import write_template

HANGUL = re.compile(r"[가-힣]")


def write_book(path: Path, sheets: list[dict[str, Any]]) -> Path:
    """sheets: {"name", "rows": [(excel_row, [values])], "hidden": bool}; the first visible one is active."""
    book = xlsxwriter.Workbook(str(path))
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    handles = []
    for spec in sheets:
        sheet = book.add_worksheet(spec["name"])
        for excel_row, values in spec.get("rows", []):
            for col, value in enumerate(values):
                if value is None:
                    continue
                if isinstance(value, (date, datetime)):
                    sheet.write_datetime(excel_row - 1, col, value, date_format)
                elif isinstance(value, str):
                    sheet.write_string(excel_row - 1, col, value)
                else:
                    sheet.write(excel_row - 1, col, value)
        handles.append((sheet, spec))
    visible = [s for s, spec in handles if not spec.get("hidden")]
    if visible:
        visible[0].activate()
    for sheet, spec in handles:
        if spec.get("hidden"):
            sheet.hide()
    book.close()
    return path


def meta_sheet(kind_id: str, version: str = "1.0", year: int = 2016) -> dict[str, Any]:
    rows = [(1, ["kind", kind_id]), (2, ["kind_name", KIND_BY_ID[kind_id].sheet]), (3, ["template_version", version]),
            (4, ["policy_year", year]), (5, ["generator", "coop-batch 0.1.0"])]
    return {"name": META_SHEET, "rows": rows, "hidden": True}


def only_problem(data, code: str, name: str):
    assert [p.code for p in data.problems] == [code], [p.line() for p in data.problems]
    problem = data.problems[0]
    assert problem.file == name
    assert HANGUL.search(problem.message) and "Traceback" not in problem.message
    assert name in problem.line()
    return problem


# --- hand-made files ------------------------------------------------------------------------

WEEKLY_SHUFFLED = ["부서명", "사 업 명", "보고일", "확인(비고)", "추진\n실적", "문 제 점", "대책", "협조사항"]


@pytest.fixture
def hand_made_weekly(tmp_path: Path) -> Path:
    """No _meta, title rows, shuffled/extra columns, spaced and wrapped titles, a blank row inside,
    a renamed visible sheet, and a hidden `주간실적` sheet with a decoy header and rows."""
    data = {
        "name": "3월 실적",
        "rows": [
            (1, ["2016년 시·자치구 공동협력사업 주간 추진실적"]),
            (2, ["(기획예산과 제출용)"]),
            (4, WEEKLY_SHUFFLED),
            (5, ["안전치수과", "안전도시 만들기", date(2016, 3, 4), "확인", "재난안전 교육 2회", "참여율 저조", None, None]),
            (6, [None] * 8),
            (7, ["   ", None, None, "메모만 있음", None, None, None, None]),
            (8, ["환경과", "미세먼지 줄이기", "2016. 3. 11.", None, "현장 점검", None, "홍보", "동 협조"]),
            (10, ["환경과", "미세먼지 줄이기", 42440, None, "캠페인", None, None, None]),
        ],
    }
    decoy = {"name": "주간실적", "hidden": True,
             "rows": [(1, list(WEEKLY.titles)), (2, [date(2015, 1, 2), "미끼", "미끼과", "읽으면 안 됨", "", "", ""])]}
    return write_book(tmp_path / "손으로 만든 주간실적.xlsx", [data, decoy])


def test_hand_made_weekly_is_read_from_its_visible_sheet(hand_made_weekly: Path):
    data = read_sheet(hand_made_weekly)
    assert data.problems == []
    assert data.kind is WEEKLY and data.sheet == "3월 실적" and data.header_row == 4 and data.meta == {}
    assert data.columns == {"department": 0, "project": 1, "report_date": 2, "progress": 4, "issues": 5,
                            "measures": 6, "requests": 7}
    assert [n for n, _ in data.rows] == [5, 8, 10]  # blank row 6, whitespace+extra-column-only row 7 skipped
    first = data.rows[0][1]
    assert first[data.columns["project"]] == "안전도시 만들기"
    assert first[data.columns["report_date"]] in (date(2016, 3, 4), datetime(2016, 3, 4))
    assert data.rows[1][1][data.columns["report_date"]] == "2016. 3. 11."  # raw: validation normalises
    assert all("미끼" not in str(v) for _, row in data.rows for v in row)
    pickle.loads(pickle.dumps(data))


def test_file_with_meta(tmp_path: Path):
    rows = [(1, list(RESULTS.titles)), (2, [1, "안전도시 만들기", "서울시 단위평가", "최우수", 69.2, "N", "안전치수과", ""]),
            (3, [2, "세 무 과 체납 정리", "시·자치구 공동협력사업", "우 수", "15 (포상금)", "", "세 무 과", "서울시 인센티브"])]
    path = write_book(tmp_path / "평가결과.xlsx", [{"name": "평가결과", "rows": rows}, meta_sheet("results")])
    data = read_sheet(path)
    assert data.problems == [] and data.kind is RESULTS and data.sheet == "평가결과" and data.header_row == 1
    assert data.meta["kind"] == "results" and data.meta["template_version"] == "1.0" and data.meta["policy_year"] == "2016"
    assert [n for n, _ in data.rows] == [2, 3]
    assert data.rows[0][1][data.columns["prize_won"]] == 69.2
    assert data.rows[1][1][data.columns["prize_won"]] == "15 (포상금)"


def test_meta_names_the_kind_even_when_the_sheet_was_renamed(tmp_path: Path):
    rows = [(2, list(STAFF.titles)), (3, ["안전도시 만들기", "안전치수과", "주무관", "이영희", 1, "Y", ""])]
    path = write_book(tmp_path / "a.xlsx", [{"name": "Sheet1", "rows": rows}, meta_sheet("staff")])
    data = read_sheet(path)
    assert data.kind is STAFF and data.sheet == "Sheet1" and data.header_row == 2 and len(data.rows) == 1


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.id)
def test_every_kind_from_its_sheet_name(tmp_path: Path, kind):
    titles = list(kind.titles)
    values = [f"값{i}" for i in range(len(titles))]
    path = write_book(tmp_path / "x.xlsx", [{"name": kind.sheet, "rows": [(1, titles), (2, values), (3, values)]}])
    data = read_sheet(path)
    assert data.problems == [] and data.kind is kind
    assert data.columns == {c.field: i for i, c in enumerate(kind.columns)}
    assert data.rows == [(2, values), (3, values)]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.id)
def test_every_kind_from_its_headers_alone(tmp_path: Path, kind):
    titles = list(reversed(kind.titles))
    path = write_book(tmp_path / "x.xlsx", [{"name": "Sheet1", "rows": [(3, titles), (4, ["v"] * len(titles))]}])
    data = read_sheet(path)
    assert data.problems == [] and data.kind is kind and data.header_row == 3


def test_openpyxl_written_file_and_excel_copy_suffix(tmp_path: Path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "자체추진계획 (2)"  # Excel names a copied sheet like this
    sheet.append(["2016년 자체 추진계획"])
    sheet.append(list(PLANS.titles))
    sheet.append(["안전도시 만들기", "안전치수과", datetime(2016, 2, 15), None, None, None, "수상", "정량", "예산", 20, 18, "", ""])
    sheet.append([None, None, None, None, None, None, None, "정성", "교육", 10, 9, "", ""])  # merged-style blanks
    path = tmp_path / "계획.xlsx"
    book.save(path)
    data = read_sheet(path)
    assert data.problems == [] and data.kind is PLANS and data.header_row == 2
    assert [n for n, _ in data.rows] == [3, 4]
    assert data.rows[1][1][data.columns["project"]] in ("", None)  # fill-down is validation's job
    assert data.rows[0][1][data.columns["points"]] == 20


# --- structure problems ---------------------------------------------------------------------


def test_missing_required_and_optional_columns(tmp_path: Path):
    titles = ["보고일", "사업명", "부서명", "대책"]  # 추진실적 (required) and 문제점/협조사항 (optional) absent
    path = write_book(tmp_path / "w.xlsx", [{"name": "주간실적", "rows": [(1, titles), (2, ["2016-03-04", "a", "b", "c"])]}])
    data = read_sheet(path)
    problem = only_problem(data, "missing-column", "w.xlsx")
    assert problem.sheet == "주간실적" and problem.column == "추진실적" and problem.severity is Severity.ERROR
    assert "추진실적" in problem.message
    assert set(data.columns) == {"report_date", "project", "department", "measures"} and len(data.rows) == 1


def test_missing_header(tmp_path: Path):
    path = write_book(tmp_path / "w.xlsx", [{"name": "주간실적", "rows": [(1, ["제목"]), (2, ["a", "b"])]}])
    problem = only_problem(read_sheet(path), "missing-header", "w.xlsx")
    assert problem.sheet == "주간실적" and "20" in problem.message


def test_header_below_the_search_window_is_not_found(tmp_path: Path):
    path = write_book(tmp_path / "w.xlsx", [{"name": "주간실적", "rows": [(6, list(WEEKLY.titles))]}])
    assert read_sheet(path, Limits(header_search_rows=5)).problems[0].code == "missing-header"
    assert read_sheet(path, Limits(header_search_rows=6)).header_row == 6


def test_unknown_kind(tmp_path: Path):
    path = write_book(tmp_path / "memo.xlsx", [{"name": "Sheet1", "rows": [(1, ["이름", "금액"]), (2, ["a", 1])]}])
    problem = only_problem(read_sheet(path), "unknown-kind", "memo.xlsx")
    assert problem.sheet == "Sheet1"


def test_missing_sheet_when_meta_names_a_kind_that_is_not_there(tmp_path: Path):
    path = write_book(tmp_path / "w.xlsx", [{"name": "Sheet1", "rows": [(1, ["이름"])]}, meta_sheet("weekly")])
    data = read_sheet(path)
    problem = only_problem(data, "missing-sheet", "w.xlsx")
    assert data.kind is WEEKLY and problem.sheet == "주간실적" and "주간실적" in problem.message


def test_hidden_template_sheet_is_not_data_and_says_so(tmp_path: Path):
    rows = [(1, list(WEEKLY.titles)), (2, ["2016-03-04", "a", "b", "c", "", "", ""])]
    path = write_book(tmp_path / "w.xlsx", [{"name": "표지", "rows": [(1, ["표지"])]},
                                              {"name": "주간실적", "rows": rows, "hidden": True}])
    problem = only_problem(read_sheet(path), "hidden-sheet", "w.xlsx")
    assert problem.sheet == "주간실적" and "숨기기 취소" in problem.message


def test_a_second_template_sheet_in_one_file_is_named_as_not_read(tmp_path: Path):
    weekly_rows = [(1, list(WEEKLY.titles)), (2, ["2016-03-04", "a", "b", "c", "", "", ""])]
    results_rows = [(1, list(RESULTS.titles)), (2, [1, "가", "", "우수", "", "", "환경과", ""])]
    path = write_book(tmp_path / "w.xlsx", [{"name": "주간실적", "rows": weekly_rows},
                                              {"name": "평가결과", "rows": results_rows},
                                              {"name": "주간실적 (2)", "rows": weekly_rows},
                                              {"name": "메모", "rows": [(1, ["메모"])]}])
    data = read_sheet(path)
    assert data.kind is WEEKLY and data.sheet == "주간실적" and len(data.rows) == 1
    assert [(p.code, p.sheet, p.severity) for p in data.problems] == [
        ("sheet-not-read", "평가결과", Severity.WARNING), ("sheet-not-read", "주간실적 (2)", Severity.WARNING)]
    assert "'주간실적'" in data.problems[0].message and "따로 보내" in data.problems[0].message


def test_duplicate_column_is_a_warning_and_the_first_wins(tmp_path: Path):
    titles = list(WEEKLY.titles) + ["사업명"]
    path = write_book(tmp_path / "w.xlsx", [{"name": "주간실적", "rows": [(2, titles), (3, ["d", "첫째", "b", "c", "", "", "", "둘째"])]}])
    data = read_sheet(path)
    problem = only_problem(data, "duplicate-column", "w.xlsx")
    assert problem.severity is Severity.WARNING and problem.cell == "H2" and problem.column == "사업명"
    assert data.rows[0][1][data.columns["project"]] == "첫째"


def test_display_name_is_the_file_in_problems(tmp_path: Path):
    path = write_book(tmp_path / "3f2a.xlsx", [{"name": "Sheet1", "rows": [(1, ["이름"])]}])
    problem = only_problem(read_sheet(path, display_name="환경과_주간실적.xlsx"), "unknown-kind", "환경과_주간실적.xlsx")
    assert problem.file == "환경과_주간실적.xlsx"


def test_a_header_only_sheet_reads_with_no_rows(tmp_path: Path):
    path = write_book(tmp_path / "w.xlsx", [{"name": "주간실적", "rows": [(1, list(WEEKLY.titles))]}])
    data = read_sheet(path)
    assert data.problems == [] and data.rows == [] and data.readable  # `no-rows` is validation's call


def test_rows_beyond_max_rows_are_refused(tmp_path: Path):
    rows = [(1, list(WEEKLY.titles))] + [(r, ["2016-03-04", "a", "b", "c"]) for r in range(2, 60)]
    path = write_book(tmp_path / "w.xlsx", [{"name": "주간실적", "rows": rows}])
    problem = only_problem(read_sheet(path, Limits(max_rows=50)), "file-too-large", "w.xlsx")
    assert "50" in problem.message


def test_a_value_typed_far_below_the_table_is_named_by_its_cell(tmp_path: Path):
    """One stray value (Ctrl+↓ then typing) makes the sheet too big to read: the refusal says which cell."""
    rows = [(1, list(WEEKLY.titles)), (2, ["2016-03-04", "a", "b", "c"]), (90, ["x"])]
    path = write_book(tmp_path / "w.xlsx", [{"name": "주간실적", "rows": rows}])
    problem = only_problem(read_sheet(path, Limits(max_rows=50)), "file-too-large", "w.xlsx")
    assert "A90 칸에 값이 있어" in problem.message and "그 칸을 지우고" in problem.message


def _fields(data) -> tuple:
    return (data.path, data.kind, data.sheet, data.header_row, data.columns, data.rows, data.meta,
            [(p.code, p.file, p.sheet, p.cell, p.column, p.params) for p in data.problems])


def test_small_sheets_converted_once_read_as_head_then_whole(tmp_path: Path, hand_made_weekly: Path, monkeypatch):
    """Below `_ONE_PASS_ROWS` the header search reads a slice of the one conversion: same result."""
    books = [hand_made_weekly]
    for i, kind in enumerate(KINDS):  # header below a title, in a sheet without the template's name
        titles = list(kind.titles)
        books.append(write_book(tmp_path / f"{i}.xlsx", [{"name": "Sheet1", "rows": [(1, ["제목"]), (3, titles),
                                                                                      (4, ["v"] * len(titles))]}]))
    for row in (5, 21):  # just below the window of `limits`, and of the default limits
        books.append(write_book(tmp_path / f"r{row}.xlsx", [{"name": "주간실적", "rows": [(row, list(WEEKLY.titles))]}]))
    limits = Limits(header_search_rows=4)
    once = [_fields(read_sheet(b, limits)) for b in books] + [_fields(read_sheet(b)) for b in books]
    monkeypatch.setattr(read_module, "_ONE_PASS_ROWS", 0)  # every sheet: head (nrows) then whole
    twice = [_fields(read_sheet(b, limits)) for b in books] + [_fields(read_sheet(b)) for b in books]
    assert once == twice
    assert [f[3] for f in once] == [4] + [3] * len(KINDS) + [0, 0] + [4] + [3] * len(KINDS) + [5, 0]


def test_limits_are_picklable_and_every_code_used_is_catalogued():
    assert pickle.loads(pickle.dumps(Limits(timeout_seconds=3))) == Limits(timeout_seconds=3)
    source = Path(read_module.__file__).read_text(encoding="utf-8")
    for name in ("safety.py", "safety_xml.py", "read_workers.py"):
        source += Path(read_module.__file__).with_name(name).read_text(encoding="utf-8")
    for code in set(re.findall(r'"((?:file|unknown|missing|duplicate|hidden)-[a-z-]+)"', source)):
        assert code in CATALOGUE, code


# --- Excel error values (python-calamine reads an error cell as "", like an empty one) --------


def error_book(path: Path, first_sheet: str = "주간실적") -> Path:
    """A weekly sheet written as Excel writes formulas: each with its cached result, some of them errors.
    `first_sheet` other than the data sheet puts a sheet with its own error cell (G2) in front of it."""
    book = xlsxwriter.Workbook(str(path))
    if first_sheet != "주간실적":
        book.add_worksheet(first_sheet).write_formula("G2", "=NA()", None, "#N/A")
    sheet = book.add_worksheet("주간실적")
    sheet.write_row(0, 0, WEEKLY.titles)
    sheet.write_row(1, 0, ["2016-03-04", "안전도시 만들기"])
    sheet.write_formula("C2", "=공원녹지과", None, "#NAME?")  # text typed with a leading =
    sheet.write_string("D2", "재난안전 교육")
    sheet.write_formula("E2", "=1/0", None, "#DIV/0!")
    sheet.write_string("F2", "#N/A")  # text that reads like an error (typed with a leading ')
    sheet.write_formula("H2", "=#REF!", None, "#REF!")  # not a template column
    sheet.write_row(2, 0, ["2016-03-04", "안전도시 만들기", "안전치수과"])
    sheet.write_formula("D3", '="교육 "&"2회"', None, "교육 2회")  # a formula with an ordinary result
    sheet.write_formula("C5", "=VLOOKUP(A5,부서,2,0)", None, "#N/A")  # dragged below the data: a blank row
    book.close()
    return path


def test_an_error_cell_is_read_as_its_error_not_as_a_blank(tmp_path: Path, monkeypatch):
    from coop_batch.normalize import CellError

    data = read_sheet(error_book(tmp_path / "오류값.xlsx"))
    seen, real_inspect = [], read_module.inspect_package
    with monkeypatch.context() as patched:  # a file over IN_MEMORY_BYTES is read from the file: the same
        patched.setattr(read_module, "IN_MEMORY_BYTES", 0)
        patched.setattr(read_module, "inspect_package",
                        lambda path, limits, data: seen.append(data) or real_inspect(path, limits, data))
        assert _fields(read_sheet(data.path)) == _fields(data)
        assert seen == [None]
    assert data.problems == [] and [n for n, _ in data.rows] == [2, 3]
    row = data.rows[0][1]
    assert row[2] == CellError("#NAME?", "공원녹지과") and row[4] == CellError("#DIV/0!", "1/0")
    assert row[5] == "#N/A" and row[3] == "재난안전 교육"  # text stays text; H2 is no template column
    assert data.rows[1][1][:4] == ["2016-03-04", "안전도시 만들기", "안전치수과", "교육 2회"]
    assert _fields(read_one(data.path)) == _fields(data)  # it comes back the same from a worker
    # and from the bytes a worker read ahead, error cells included, without opening the file again
    content = data.path.read_bytes()
    data.path.unlink()
    assert _fields(read_sheet(data.path, data=content)) == _fields(data)


def test_an_error_cell_through_validation(tmp_path: Path, rules):
    from coop_batch.validate import validate_file

    sub = validate_file(error_book(tmp_path / "오류값.xlsx"), rules)
    assert [(p.position, p.code, p.params["value"]) for p in sub.problems] == [
        ("주간실적!C2", "formula-error", "#NAME?"), ("주간실적!E2", "formula-error", "#DIV/0!")]
    assert [(r["_row"], r["progress"]) for r in sub.records] == [(3, "교육 2회")]


def test_error_cells_are_those_of_the_data_sheet_only(tmp_path: Path):
    data = read_sheet(error_book(tmp_path / "앞시트.xlsx", first_sheet="안내"))  # the data sheet is sheet2.xml
    assert data.sheet == "주간실적" and data.rows[1][1][2] == "안전치수과"
    assert [type(v).__name__ for v in data.rows[0][1][:7]] == ["str", "str", "CellError", "str", "CellError",
                                                               "str", "str"]
    assert data.rows[0][1][6] == ""  # 안내!G2 is #N/A, 주간실적!G2 is empty
    other = tmp_path / "안내만.xlsx"
    book = xlsxwriter.Workbook(str(other))
    book.add_worksheet("주간실적").write_row(0, 0, [*WEEKLY.titles[:2], "부서명", "추진실적"])
    book.worksheets()[0].write_row(1, 0, ["2016-03-04", "가", "", "실적"])
    book.add_worksheet("안내").write_formula("C2", "=NA()", None, "#N/A")  # same cell, another sheet
    book.close()
    assert read_sheet(other).rows[0][1][2] == ""


def test_error_cells_are_looked_for_only_where_the_check_saw_one(tmp_path: Path, rules, monkeypatch):
    """The pre-parse check inflates every part anyway: a file without an error cell's mark (every
    template-made file) is not opened a second time for error cells."""
    from coop_batch import read as read_mod
    from coop_batch.safety import inspect_package

    plain = write_template(KIND_BY_ID["weekly"], rules, tmp_path / "보통.xlsx",
                           [{"report_date": "2016-03-04", "project": "가", "department": "나", "progress": "다"}])
    errors = error_book(tmp_path / "오류값.xlsx")
    assert inspect_package(plain, Limits()) == ([], False)
    assert inspect_package(errors, Limits()) == ([], True)
    looked: list[str] = []
    real = read_mod.error_cells
    monkeypatch.setattr(read_mod, "error_cells", lambda source, *a: looked.append(source) or real(source, *a))
    read_sheet(plain)
    assert looked == []
    read_sheet(errors)
    assert len(looked) == 1 and looked[0].getvalue() == errors.read_bytes()  # the bytes read once, not the file


def test_a_typed_error_value_without_a_formula(tmp_path: Path):
    from coop_batch.normalize import CellError

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "주간실적"
    sheet.append(list(WEEKLY.titles))
    sheet.append(["2016-03-04", "안전도시 만들기", "#REF!", "실적"])  # openpyxl stores it as an error (t="e")
    book.save(tmp_path / "값.xlsx")
    assert read_sheet(tmp_path / "값.xlsx").rows[0][1][2] == CellError("#REF!", "")


def uncalculated_book(path: Path) -> Path:
    """A weekly sheet written by a program that stores formulas without their results (openpyxl)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "주간실적"
    sheet.append(list(WEEKLY.titles))
    sheet.append(["2016-03-04", "안전도시 만들기", "안전치수과", '="교육 "&2&"회"'])  # D2: no result stored
    sheet.append(["2016-03-11", "안전도시 만들기", "=C2", "점검 실시"])  # C3
    sheet.append([None, None, None, None, None, None, "=A2"])  # a formula below the data: still a blank row
    book.save(path)
    return path


def test_a_formula_without_its_result_is_not_read_as_a_blank(tmp_path: Path, rules):
    from coop_batch.normalize import CellError
    from coop_batch.validate import validate_file

    data = read_sheet(uncalculated_book(tmp_path / "수식.xlsx"))
    assert [n for n, _ in data.rows] == [2, 3]
    assert data.rows[0][1][3] == CellError("", '"교육 "&2&"회"') and data.rows[1][1][2] == CellError("", "C2")
    assert _fields(read_one(data.path)) == _fields(data)
    sub = validate_file(data.path, rules)
    assert [(p.position, p.code) for p in sub.problems] == [("주간실적!D2", "formula-not-calculated"),
                                                            ("주간실적!C3", "formula-not-calculated")]
    message = sub.problems[0].message
    assert "'추진실적' 칸의 수식(=\"교육 \"&2&\"회\")에 계산된 값이 저장되어 있지 않습니다" in message
    assert "다시 저장" in message and sub.records == []


def _inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def test_a_calculated_formula_or_empty_text_result_is_read_as_it_is(tmp_path: Path):
    """Excel stores each formula's result; an empty text result (`t="str"`, `<v></v>`) was calculated."""
    import zipfile

    header = "".join(_inline(f"{chr(65 + i)}1", title) for i, title in enumerate(WEEKLY.titles))
    row = (_inline("A2", "2016-03-04") + _inline("B2", "가") + '<c r="C2" t="str"><f>"나"</f><v>나</v></c>'
           '<c r="D2" t="str"><f>IF(1,"","x")</f><v></v></c><c r="E2"><f>1+1</f><v>2</v></c>')
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rels = "http://schemas.openxmlformats.org/package/2006/relationships"
    office = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    types = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    path = tmp_path / "계산됨.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml",
                   '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                   '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                   '<Default Extension="xml" ContentType="application/xml"/>'
                   f'<Override PartName="/xl/workbook.xml" ContentType="{types}.sheet.main+xml"/>'
                   f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{types}.worksheet+xml"/></Types>')
        z.writestr("_rels/.rels", f'<Relationships xmlns="{rels}"><Relationship Id="rId1" '
                   f'Type="{office}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml", f'<workbook xmlns="{main}" xmlns:r="{office}"><sheets>'
                   '<sheet name="주간실적" sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", f'<Relationships xmlns="{rels}"><Relationship Id="rId1" '
                   f'Type="{office}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
        z.writestr("xl/worksheets/sheet1.xml",
                   f'<worksheet xmlns="{main}"><sheetData><row r="1">{header}</row><row r="2">{row}</row>'
                   '</sheetData></worksheet>')
    data = read_sheet(path)
    assert data.problems == [] and data.rows[0][1][:5] == ["2016-03-04", "가", "나", "", 2.0]


# --- parser failures that are not the file's bytes -------------------------------------------


class PanicException(BaseException):
    """Stands in for pyo3_runtime.PanicException, which derives from BaseException."""

    __module__ = "pyo3_runtime"


class _ExplodingWorkbook:
    error: BaseException = PanicException("index out of bounds")

    @classmethod
    def from_path(cls, path: str):
        raise cls.error

    @classmethod
    def from_filelike(cls, handle):  # (every small file is parsed from its bytes)
        raise cls.error


def test_a_rust_panic_becomes_one_problem(tmp_path: Path, hand_made_weekly: Path, monkeypatch):
    monkeypatch.setattr(read_module, "CalamineWorkbook", _ExplodingWorkbook)
    problem = only_problem(read_sheet(hand_made_weekly), "file-corrupt", hand_made_weekly.name)
    assert "내부 오류" in problem.message and "PanicException" in problem.params["reason"]


@pytest.mark.parametrize("error", [KeyboardInterrupt(), SystemExit(3)])
def test_ctrl_c_and_exit_are_not_swallowed(hand_made_weekly: Path, monkeypatch, error):
    monkeypatch.setattr(_ExplodingWorkbook, "error", error)
    monkeypatch.setattr(read_module, "CalamineWorkbook", _ExplodingWorkbook)
    with pytest.raises(type(error)):
        read_sheet(hand_made_weekly)


def test_a_file_that_disappears_or_is_a_folder(tmp_path: Path):
    only_problem(read_sheet(tmp_path / "없음.xlsx"), "file-unreadable", "없음.xlsx")
    folder = tmp_path / "폴더.xlsx"
    folder.mkdir()
    assert read_sheet(folder).problems[0].code == "file-unreadable"


# --- guarded reading: worker processes ------------------------------------------------------


@pytest.fixture
def three_files(tmp_path: Path) -> list[Path]:
    paths = []
    for name, project in (("a.xlsx", "가"), ("b.xlsx", "나"), ("c.xlsx", "다")):
        rows = [(1, list(WEEKLY.titles)), (2, ["2016-03-04", project, "과", "실적", "", "", ""])]
        paths.append(write_book(tmp_path / name, [{"name": "주간실적", "rows": rows}]))
    return paths


def _projects(results) -> list[str]:
    return [data.rows[0][1][1] if data.rows else data.problems[0].code for _, data in results]


def test_read_many_in_input_order_with_kinds_intact(three_files: list[Path], tmp_path: Path):
    empty = tmp_path / "빈.xlsx"
    empty.write_bytes(b"")
    paths = [three_files[2], empty, three_files[0], three_files[1]] * 2
    results = list(read_many(paths, workers=2))
    assert [p for p, _ in results] == paths
    assert _projects(results) == ["다", "file-empty", "가", "나"] * 2
    assert results[0][1].kind is WEEKLY  # the parent's Kind object, not a pickled copy


def test_a_worker_result_equals_reading_in_process(hand_made_weekly: Path, tmp_path: Path):
    """The compact worker reply (fields, no path, kind by id) rebuilds the very SheetData."""
    meta = write_book(tmp_path / "meta.xlsx", [{"name": "Sheet1", "rows": [(1, ["이름"])]}, meta_sheet("weekly")])
    dup = write_book(tmp_path / "dup.xlsx", [{"name": "주간실적", "rows": [(1, ["보고일", "사업명", "사업명"])]}])
    paths = [hand_made_weekly, meta, dup, tmp_path / "없음.xlsx"]
    assert [_fields(d) for _, d in read_many(paths, workers=1)] == [_fields(read_sheet(p)) for p in paths]


def test_read_one_uses_a_worker(three_files: list[Path]):
    data = read_one(three_files[0])
    assert data.kind is WEEKLY and data.rows[0][1][1] == "가"


def test_read_many_in_process(three_files: list[Path]):
    assert _projects(read_many(three_files, workers=0)) == ["가", "나", "다"]


def test_a_hanging_file_times_out_and_the_others_are_read(three_files: list[Path], monkeypatch):
    monkeypatch.setenv(TEST_FAULT_ENV, "hang:b.xlsx")
    started = time.monotonic()
    results = list(read_many(three_files, Limits(timeout_seconds=1.5), workers=1))
    assert time.monotonic() - started < 30
    assert _projects(results) == ["가", "file-timeout", "다"]
    problem = only_problem(results[1][1], "file-timeout", "b.xlsx")
    assert "1.5초" in problem.message


def test_a_crashing_worker_costs_only_its_file(three_files: list[Path], monkeypatch):
    monkeypatch.setenv(TEST_FAULT_ENV, "crash:a.xlsx")
    results = list(read_many(three_files + three_files, workers=2))
    assert _projects(results) == ["file-corrupt", "나", "다"] * 2
    assert "비정상 종료" in results[0][1].problems[0].message


def test_when_workers_cannot_start_files_are_read_in_process(three_files: list[Path], monkeypatch, caplog):
    monkeypatch.setattr(sys, "executable", str(three_files[0].parent / "no-such-python"))
    assert _projects(read_many(three_files, workers=2)) == ["가", "나", "다"]
    assert any("do not start" in r.getMessage() for r in caplog.records)


def test_the_worker_does_not_import_pandas():
    """The child runs `-c`, not the caller's main module; it imports only the reading code."""
    probe = ("import sys, coop_batch.read; "
             "print('pandas' in sys.modules, 'pydantic' in sys.modules, 'openpyxl' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]


# --- readers started before the files are known ---


def test_early_readers_are_the_ones_that_read_and_are_stopped(three_files: list[Path], monkeypatch):
    from coop_batch import read_workers

    readers = read_workers.Readers(Limits(), 1)
    early = list(readers.pool)
    spawned: list[object] = []
    real = read_workers._Worker.__init__
    monkeypatch.setattr(read_workers._Worker, "__init__", lambda self, *a: (spawned.append(self), real(self, *a))[1])
    assert _projects(read_many(three_files, Limits(), workers=1, readers=readers)) == ["가", "나", "다"]
    assert spawned == [] and readers.pool == []  # no second start; all stopped
    assert all(w.proc.wait(10) is not None for w in early)


def test_early_readers_not_used_are_stopped(three_files: list[Path]):
    from coop_batch import read_workers

    with read_workers.Readers(Limits(), 2) as readers:
        early = list(readers.pool)
        assert len(early) == 2
    assert all(w.proc.wait(10) is not None for w in early) and readers.pool == []
    # started with other limits: stopped, and the files are read with the limits asked for
    other = read_workers.Readers(Limits(max_rows=1), 1)
    early = list(other.pool)
    assert _projects(read_many(three_files, Limits(), workers=1, readers=other)) == ["가", "나", "다"]
    assert all(w.proc.wait(10) is not None for w in early)


def test_a_night_with_nothing_to_read_stops_its_early_reader(tmp_path: Path, monkeypatch):
    from coop_batch import read_workers
    from coop_batch.config import init_workspace
    from coop_batch.run import run_batch

    made: list[read_workers.Readers] = []
    real = read_workers.Readers.__init__
    monkeypatch.setattr(read_workers.Readers, "__init__", lambda self, *a: (made.append(self), real(self, *a))[1])
    started: list[read_workers._Worker] = []
    real_worker = read_workers._Worker.__init__
    monkeypatch.setattr(read_workers._Worker, "__init__", lambda self, *a: (started.append(self), real_worker(self, *a))[1])
    ws = init_workspace(tmp_path / "ws", policy_year=2016)

    def night() -> None:
        made.clear()
        report = run_batch(ws, as_of=date(2016, 3, 25), settle_seconds=0, mail=False)
        assert report.outcomes == [] and len(made) == 1 and made[0].pool == []

    night()  # an empty inbox: no reader is even started
    assert started == []
    (ws.inbox / "Thumbs.db").write_bytes(b"x")  # a file, but one the run ignores: a reader starts, then stops
    night()
    assert len(started) == 1 and started[0].proc.wait(10) is not None


def test_tasks_go_to_a_worker_in_batches_not_one_write_per_file(three_files: list[Path], monkeypatch):
    from coop_batch import read_workers

    writes: list[int] = []
    real = read_workers._Worker._write
    monkeypatch.setattr(read_workers._Worker, "_write", lambda self, *m: (writes.append(len(m)), real(self, *m))[1])
    paths = three_files * 30  # 90 files, one worker: 32 queued, then topped up 16 at a time
    assert _projects(read_many(paths, Limits(), workers=1)) == ["가", "나", "다"] * 30
    tasks = writes[1:]  # the first write is the limits
    assert sum(tasks) == 90 and len(tasks) <= 1 + -(-(90 - read_workers._DEPTH) // (read_workers._DEPTH // 2)) + 1
    assert max(tasks) == read_workers._DEPTH


def test_stopping_a_worker_does_not_wait_for_it_and_a_stuck_one_is_killed():
    from coop_batch import read_workers

    # a "worker" that ignores the end of its input: stop() must return at once, the reaper kill it
    stuck = object.__new__(read_workers._Worker)
    stuck.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    started = time.monotonic()
    stuck.stop()
    assert time.monotonic() - started < 1.0
    assert stuck.proc.wait(20) is not None  # killed after the reaper's 2 s
    assert time.monotonic() - started < 15


def test_read_many_gives_back_the_thread_switch_interval(three_files: list[Path]):
    before = sys.getswitchinterval()
    seen: list[float] = []
    for _ in read_many(three_files, workers=1):
        seen.append(sys.getswitchinterval())
    assert seen == [max(before, 0.02)] * 3 and sys.getswitchinterval() == before


def test_a_merged_cell_below_the_header_counts_for_every_row_it_covers(tmp_path: Path, rules):
    """A clerk merges 사업명 over a project's rows (any template, not only 자체추진계획): each row has it."""
    from coop_batch.validate import validate_file

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "유공직원"
    sheet.append(list(STAFF.titles))
    sheet.append(["안전도시 만들기", "안전치수과", "지방시설주사보", "이영희", 1, "N"])
    sheet.append([None, None, "지방시설주사", "김철수", 2, "N"])
    sheet.append(["청렴도 향상", "감사담당관", "지방행정주사", "박민수", 1, "N"])
    sheet.merge_cells("A2:A3")
    sheet.merge_cells("B2:B3")
    path = tmp_path / "병합.xlsx"
    book.save(path)
    data = read_sheet(path)
    assert [row[1][:2] for row in data.rows] == [["안전도시 만들기", "안전치수과"]] * 2 + [["청렴도 향상", "감사담당관"]]
    sub = validate_file(path, rules)
    assert sub.problems == [] and [r["name"] for r in sub.records if r["project"] == "안전도시 만들기"] == ["이영희", "김철수"]


def test_a_title_merged_over_two_header_rows_is_the_columns_title(tmp_path: Path):
    """`보고일` and `협조사항` merged down over rows 1–2 beside titles typed in row 2: the header is row 2 and
    both columns are read (협조사항 was dropped without a word, 보고일 said to be missing)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "주간실적"
    sheet.append(["보고일", None, None, "추진 상황", None, None, "협조사항"])
    sheet.append([None, "사업명", "부서명", "추진실적", "문제점", "대책", None])
    sheet.append([date(2016, 3, 4), "안전도시 만들기", "안전치수과", "점검 3회", "", "", "협조 내용"])
    sheet.append([date(2016, 3, 11), "안전도시 만들기", "안전치수과", "점검 2회", "", "", None])
    sheet.merge_cells("A1:A2")
    sheet.merge_cells("G1:G2")
    sheet.merge_cells("D1:F1")  # a group title across columns: not a column title, and not spread across
    path = tmp_path / "두줄제목.xlsx"
    book.save(path)
    data = read_sheet(path)
    assert data.problems == [] and data.header_row == 2
    assert data.columns["report_date"] == 0 and data.columns["requests"] == 6
    assert [row[1][0] for row in data.rows] == [date(2016, 3, 4), date(2016, 3, 11)]
    assert [row[1][6] for row in data.rows] == ["협조 내용", ""]  # the merge does not reach the data rows


def test_values_under_a_blank_title_are_said_to_be_unread(tmp_path: Path):
    """`추진실적` merged over D1:E1 with values typed in both columns: E's are not read, and the clerk is told
    where; a column the clerk titled otherwise (`메모`) is an extra, and a note beside no row is no row."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "주간실적"
    sheet.append(["보고일", "사업명", "부서명", "추진실적", None, "문제점", "대책", "협조사항", "메모"])
    sheet.append([date(2016, 3, 4), "안전도시 만들기", "안전치수과", "점검 3회", None, "", "", "", "내부용"])
    sheet.append([date(2016, 3, 11), "안전도시 만들기", "안전치수과", "점검 2회", "교육 1회", "", "", "", ""])
    sheet.append([None, None, None, None, None, None, None, None, None, None, "※ 따로 적은 말"])
    sheet.merge_cells("D1:E1")
    path = tmp_path / "병합제목.xlsx"
    book.save(path)
    data = read_sheet(path)
    assert [(p.code, p.sheet, p.cell) for p in data.problems] == [("untitled-column", "주간실적", "E3")]
    assert "E열에 값이 있어 읽지 않았습니다" in data.problems[0].message
    assert [row[1][3] for row in data.rows] == ["점검 3회", "점검 2회"]
