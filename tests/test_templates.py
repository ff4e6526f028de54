"""The standard template generator: structure, dropdowns, formats, filled round trip, committed copies, CLI."""

from __future__ import annotations

import io
import math
import re
import unicodedata
import warnings
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner
from openpyxl.utils import get_column_letter
from python_calamine import CalamineWorkbook

from coop_batch import __version__
from coop_batch.cli import cli
from coop_batch.rules import available_years, load_rules
from coop_batch.schema import (
    HELP_SHEET,
    KINDS,
    LISTS_SHEET,
    META_SHEET,
    RESULTS,
    TEMPLATE_VERSION,
    WEEKLY,
    Column,
    Kind,
    ValueType,
)
from coop_batch.templates import build_template, display_width, write_template, write_templates

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "templates" / "xlsx"
KIND_IDS = [k.id for k in KINDS]
RANGE_RE = re.compile(r"^'?(?P<sheet>[^'!]+)'?!\$(?P<c1>[A-Z]+)\$(?P<r1>\d+):\$(?P<c2>[A-Z]+)\$(?P<r2>\d+)$")
T = ValueType


@pytest.fixture(scope="module")
def blank(rules, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("templates")
    paths = write_templates(out, rules)
    return {kind.id: path for kind, path in zip(KINDS, paths)}


def expected_values(col: Column, rules) -> list[str]:
    """The fixed values a column must offer, derived from the schema and rules (not the generator)."""
    return {T.CHOICE: list(col.choices), T.YN: ["Y", "N"], T.GRADE: list(rules.grade_choices)}.get(col.type, [])


def column_dim(ws, index: int):
    """The <col> entry covering 1-based column `index` (openpyxl groups equal neighbours)."""
    for dim in ws.column_dimensions.values():
        if dim.min is not None and dim.min <= index <= dim.max:
            return dim
    raise AssertionError(f"no column entry for column {index}")


def list_range_values(wb, formula: str) -> list[str]:
    m = RANGE_RE.match(formula.lstrip("="))
    assert m, formula
    assert m["sheet"] == LISTS_SHEET and m["c1"] == m["c2"]
    ws = wb[LISTS_SHEET]
    return [ws[f"{m['c1']}{r}"].value for r in range(int(m["r1"]), int(m["r2"]) + 1)]


def zip_parts(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(info.filename, zf.read(info)) for info in zf.infolist()]


# --- structure of the blank templates ---


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_sheets_order_visibility_and_meta(kind: Kind, blank, rules) -> None:
    wb = openpyxl.load_workbook(blank[kind.id])
    assert wb.sheetnames == [kind.sheet, HELP_SHEET, LISTS_SHEET, META_SHEET]
    assert [ws.sheet_state for ws in wb.worksheets] == ["visible", "visible", "hidden", "hidden"]
    assert wb.active.title == kind.sheet
    meta = {row[0]: row[1] for row in wb[META_SHEET].iter_rows(values_only=True)}
    assert meta == {
        "kind": kind.id,
        "kind_name": kind.sheet,
        "template_version": TEMPLATE_VERSION,
        "policy_year": str(rules.year),
        "rules_version": rules.version,
        "generator": f"coop-batch {__version__}",
    }


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_header_row_styled_frozen_filtered_printable(kind: Kind, blank) -> None:
    ws = openpyxl.load_workbook(blank[kind.id])[kind.sheet]
    assert tuple(c.value for c in ws[1]) == kind.titles
    assert ws.max_row == 1 and ws.max_column == len(kind.columns)
    for cell in ws[1]:
        assert cell.font.b and cell.font.name == "맑은 고딕"
        assert cell.fill.fill_type == "solid" and cell.border.bottom.style == "thin"
        assert cell.alignment.wrap_text
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:{get_column_letter(len(kind.columns))}1"
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize == 9
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.page_setup.fitToWidth in (None, 1) and ws.page_setup.fitToHeight == 0
    assert ws.print_title_rows == "$1:$1"


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_dropdowns_point_at_hidden_lists(kind: Kind, blank, rules) -> None:
    wb = openpyxl.load_workbook(blank[kind.id])
    ws = wb[kind.sheet]
    by_column = {}
    for dv in ws.data_validations.dataValidation:
        (cell_range,) = dv.sqref.ranges
        by_column[cell_range.min_col] = (dv, cell_range)
    last = 2000 if kind is WEEKLY else 1000
    wanted = {i: expected_values(col, rules) for i, col in enumerate(kind.columns, start=1)}
    assert set(by_column) == {i for i, values in wanted.items() if values}
    for i, (dv, cell_range) in by_column.items():
        col = kind.columns[i - 1]
        assert dv.type == "list" and dv.allow_blank and dv.showErrorMessage
        assert (cell_range.min_row, cell_range.max_row, cell_range.max_col) == (2, last, i)
        assert list_range_values(wb, dv.formula1) == wanted[i]
        assert re.search("[가-힣]", dv.error) and dv.prompt.startswith(col.help)
        # An unknown grade is a warning: Excel's "warning" style lets the user keep it.
        assert (dv.errorStyle or "stop") == ("warning" if col.type is T.GRADE else "stop")


def test_grade_dropdown_follows_the_rules_file(rules, tmp_path) -> None:
    grades = {**rules.grades, "우수": [*rules.grades["우수"], "좋은 자치단체장상"]}
    changed = rules.model_copy(update={"grades": grades})
    wb = openpyxl.load_workbook(write_template(RESULTS, changed, tmp_path / "r.xlsx"))
    (dv,) = [dv for dv in wb[RESULTS.sheet].data_validations.dataValidation if dv.errorStyle == "warning"]
    assert "좋은 자치단체장상" in list_range_values(wb, dv.formula1)


def test_category_dropdown_follows_the_rules_file(rules, tmp_path) -> None:
    """A 사업구분 added in a new year's rules is offered (the dropdown stops other values)."""
    new = next(iter(rules.categories.values())).model_copy(update={"aliases": []})
    changed = rules.model_copy(update={"categories": {**rules.categories, "국가 공모사업": new}})
    wb = openpyxl.load_workbook(write_template(RESULTS, changed, tmp_path / "r.xlsx"))
    column = next(i for i, col in enumerate(RESULTS.columns) if col.field == "category")
    letter = openpyxl.utils.get_column_letter(column + 1)
    (dv,) = [dv for dv in wb[RESULTS.sheet].data_validations.dataValidation if str(dv.sqref).startswith(letter)]
    assert list_range_values(wb, dv.formula1) == [*rules.categories, "국가 공모사업"]


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_column_formats_and_widths(kind: Kind, blank, rules) -> None:
    ws = openpyxl.load_workbook(blank[kind.id])[kind.sheet]
    for i, col in enumerate(kind.columns, start=1):
        dim = column_dim(ws, i)
        fmt = dim.number_format
        if col.type is T.DATE:
            assert fmt == "yyyy-mm-dd", col.title
        elif col.type is T.MONEY_WON:
            assert fmt == "#,##0"
        elif col.type is T.MONEY_MILLION:
            assert fmt in ("#,##0.0##", "General")
        elif col.type in (T.TEXT, T.PHONE, T.DEPARTMENTS):
            assert fmt == "@", col.title
        # Korean counts double: the title and the example must fit without being cut.
        wide = [c for c in (col.title, col.example, *expected_values(col, rules))]
        need = max(sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text) for text in wide)
        assert min(need, 38) <= dim.width <= 42, (col.title, dim.width)


def test_display_width_counts_wide_characters_double() -> None:
    assert display_width("A1") == 2
    assert display_width("사업명") == 6
    assert display_width("ＡＢ") == 4  # full-width
    assert display_width("시·자치구") == 9  # the middle dot is narrow (ambiguous width)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_help_sheet_has_one_row_per_column(kind: Kind, blank, rules) -> None:
    rows = list(openpyxl.load_workbook(blank[kind.id])[HELP_SHEET].iter_rows(values_only=True))
    assert kind.sheet in rows[0][0]
    start = next(i for i, row in enumerate(rows) if row[:4] == ("열 이름", "필수", "입력 방법", "예시"))
    general = " ".join(str(row[0]) for row in rows[:start] if row[0])
    assert "inbox" in general and "빈 행" in general and "바꾸거나 지우지" in general
    table = rows[start + 1 : start + 1 + len(kind.columns)]
    assert [row[0] for row in table] == list(kind.titles)
    assert all(not any(row) for row in rows[start + 1 + len(kind.columns) :])
    for col, (_, required, how, example) in zip(kind.columns, table):
        assert required == ("○" if col.required else None)
        assert how.startswith(col.help)
        assert all(value in how for value in expected_values(col, rules))
        assert (example or "") == col.example


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_openpyxl_loads_without_warnings(kind: Kind, blank) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        openpyxl.load_workbook(blank[kind.id])


# --- determinism and the committed copies ---


def test_output_is_byte_deterministic(rules) -> None:
    first, second = build_template(RESULTS, rules), build_template(RESULTS, rules)
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert f"{rules.year}-01-01T00:00:00Z".encode() in zf.read("docProps/core.xml")


def test_committed_templates_are_current(tmp_path) -> None:
    # Generated like the CLI default (latest rules year). Bytes first; on a mismatch the unzipped parts decide,
    # so that another zlib build (its deflate output may differ) does not fail a file whose content is current.
    fresh = write_templates(tmp_path, load_rules(max(available_years())))
    assert sorted(p.name for p in COMMITTED.glob("*.xlsx")) == sorted(p.name for p in fresh)
    stale = {}
    for path in fresh:
        committed, current = (COMMITTED / path.name).read_bytes(), path.read_bytes()
        if committed != current and zip_parts(committed) != zip_parts(current):
            old = dict(zip_parts(committed))
            stale[path.name] = [name for name, data in zip_parts(current) if old.get(name) != data]
    assert not stale, f"templates/xlsx is stale {stale}: run `coop-batch templates` and commit the result"


# --- filled templates read back ---


def sample(col: Column, i: int, rules) -> Any:
    """Row `i` (0..2) of test data: tricky text, exact decimals, dates, an unknown grade, blanks."""
    if not col.required and i == 2:
        return None
    match col.type:
        case T.INT:
            return i + 1
        case T.NUMBER:
            return (Decimal("18.5"), 20, 7.25)[i]
        case T.MONEY_MILLION:
            return (Decimal("4.1"), 16.4, Decimal("2.3"))[i]
        case T.MONEY_WON:
            return (6_000_000, Decimal("1500000"), 0)[i]
        case T.DATE:
            return (date(2016, 2, 15), datetime(2016, 3, 4), date(2016, 12, 30))[i]
        case T.YN:
            return ("Y", "N", "Y")[i]
        case T.CHOICE:
            return col.choices[i % len(col.choices)]
        case T.GRADE:
            return (rules.grade_choices[0], "최 우 수", "좋은 자치단체장상")[i]
        case T.PHONE:
            return ("02-901-6123", "010-1234-5678", "+82-2-901-6123")[i]
        case T.DEPARTMENTS:
            return ("환경과(총괄) 지역경제과", "세 무 과", "안전치수과")[i]
    return ("=1+1", "=SUM(A1)", f"  {col.title} http://x.kr  ")[i]


def as_read(value: Any) -> Any:
    """What a cell written from `value` reads back as through calamine."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime) and value.time() == datetime.min.time():
        return value.date()
    return value


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_filled_round_trip(kind: Kind, rules, tmp_path) -> None:
    rows = [{col.field: sample(col, i, rules) for col in kind.columns} for i in range(3)]
    rows[1] = {kind.column(field).title: value for field, value in rows[1].items()}  # keyed by Korean title
    path = write_template(kind, rules, tmp_path / f"{kind.sheet}.xlsx", rows)

    got = CalamineWorkbook.from_path(path).get_sheet_by_name(kind.sheet).to_python()
    assert tuple(got[0]) == kind.titles
    expected = [[as_read(sample(col, i, rules)) for col in kind.columns] for i in range(3)]
    got_rows = [[v.date() if isinstance(v, datetime) and v.time() == datetime.min.time() else v for v in r]
                for r in got[1:]]
    assert got_rows == expected
    if any(col.type is T.TEXT for col in kind.columns):
        assert "=1+1" in got[1]  # stayed text, not a formula
    with zipfile.ZipFile(path) as zf:
        assert b"<f>" not in zf.read("xl/worksheets/sheet1.xml")

    ws = openpyxl.load_workbook(path)[kind.sheet]
    for i, col in enumerate(kind.columns, start=1):
        cell = ws.cell(row=2, column=i)
        if col.type is T.DATE:
            assert cell.is_date and cell.number_format == "yyyy-mm-dd"
        if col.type is T.PHONE:
            assert cell.data_type == "s" and cell.number_format == "@"
    assert ws.auto_filter.ref == f"A1:{get_column_letter(len(kind.columns))}4"


def test_rows_accept_odd_values_and_reject_unknown_columns(rules, tmp_path) -> None:
    row = {"_row": 7, "seq": 1, "project": "+82 사업", "subsidy": True, "prize_won": math.nan,
           "note": datetime(2016, 3, 4, 9, 30), "departments": None}
    path = write_template(RESULTS, rules, tmp_path / "odd.xlsx", [row])
    got = CalamineWorkbook.from_path(path).get_sheet_by_name(RESULTS.sheet).to_python()[1]
    assert got == [1, "+82 사업", "", "", "", True, "", datetime(2016, 3, 4, 9, 30)]
    with pytest.raises(ValueError, match="없는열"):
        build_template(RESULTS, rules, [{"없는열": 1}])
    with pytest.raises(TypeError):
        build_template(RESULTS, rules, [{"project": object()}])


def test_dropdowns_extend_to_cover_many_rows(rules, tmp_path) -> None:
    rows = [{"seq": n, "project": f"사업{n}", "grade": "우수"} for n in range(1, 1501)]
    ws = openpyxl.load_workbook(write_template(RESULTS, rules, tmp_path / "big.xlsx", rows))[RESULTS.sheet]
    assert {next(iter(dv.sqref.ranges)).max_row for dv in ws.data_validations.dataValidation} == {1501}
    assert ws.cell(row=1501, column=2).value == "사업1500"


def test_write_replaces_existing_file_without_leftovers(rules, tmp_path) -> None:
    target = tmp_path / "sub" / "평가결과.xlsx"
    target.parent.mkdir()
    target.write_bytes(b"old")
    write_template(RESULTS, rules, target)
    assert target.read_bytes() == build_template(RESULTS, rules)
    assert [p.name for p in target.parent.iterdir()] == ["평가결과.xlsx"]


# --- command line ---


def test_cli_writes_all_templates(rules, tmp_path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["templates", "--out", str(out), "--year", str(rules.year)])
    assert result.exit_code == 0, result.output
    assert "표준 서식 6개를 만들었습니다" in result.output
    for kind in KINDS:
        assert f"{kind.sheet}.xlsx" in result.output
        assert (out / f"{kind.sheet}.xlsx").read_bytes() == build_template(kind, rules)


def test_cli_default_folder_and_year(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["templates"])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "templates" / "xlsx").glob("*.xlsx"))
    assert written == sorted(f"{k.sheet}.xlsx" for k in KINDS)
    assert f"{max(available_years())}년 규칙" in result.output


def test_cli_unknown_year_exits_2_with_korean_message(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["templates", "--out", str(tmp_path), "--year", "1999"])
    assert result.exit_code == 2
    assert "1999.toml" in result.output and "찾을 수 없습니다" in result.output
    assert not list(tmp_path.iterdir())


def test_cli_unwritable_folder_exits_1_with_korean_message(tmp_path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    result = CliRunner().invoke(cli, ["templates", "--out", str(blocker / "sub")])
    assert result.exit_code == 1
    assert "서식 파일을 쓸 수 없습니다" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
