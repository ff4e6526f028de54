"""The six standard templates (.xlsx), written with xlsxwriter.

Each workbook: the data sheet (named `kind.sheet`, first and active), the Korean
instruction sheet `작성방법`, a hidden `_lists` sheet holding the dropdown values
(inline lists stop at 255 characters) and a hidden `_meta` sheet (key/value rows
that let the reader identify the file).  Output is byte-deterministic for the same
inputs — fixed document dates, in-memory zip with fixed entry timestamps — so a
test can hold the committed copies in `templates/xlsx/` to the generator.

`rows` fills the data sheet (tests, demo data, benchmark): each mapping is keyed by
`Column.field` or the Korean title and holds *raw cell values* as a department
would type them (e.g. 수상금 in 백만원, not the 원 the validator makes of it).
"""

from __future__ import annotations

import io
import numbers
import os
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.utility import quote_sheetname, xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from . import __version__
from .rules import Rules
from .schema import HELP_SHEET, KINDS, LISTS_SHEET, META_SHEET, TEMPLATE_VERSION, Column, Kind, ValueType

FONT = "맑은 고딕"
DATE_FORMAT = "yyyy-mm-dd"
# Last Excel row covered by the column dropdowns; weekly reports pile up all year.
VALIDATION_ROWS = {"weekly": 2000}
DEFAULT_VALIDATION_ROWS = 1000
MIN_WIDTH, MAX_WIDTH = 8.0, 40.0

_NUM_FORMATS = {
    ValueType.DATE: DATE_FORMAT,
    ValueType.MONEY_WON: "#,##0",
    ValueType.MONEY_MILLION: "#,##0.0##",
    ValueType.INT: "General",
    ValueType.NUMBER: "General",
}  # every other type is text ("@") so `02-901-6123` or `010…` never turns into a number

_WORKBOOK_OPTIONS = {
    "in_memory": True,  # fixed zip entry timestamps (1980-01-01) and no temp files
    "strings_to_numbers": False,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "remove_timezone": True,
    "nan_inf_to_errors": True,
}


def display_width(text: str) -> int:
    """Width in 'characters': East-Asian wide/full-width characters count as 2."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def dropdown_values(col: Column, rules: Rules) -> list[str]:
    """The fixed set of values offered for a column; empty when it has none."""
    if col.field == "category":  # the year's own 사업구분 (a new one in the rules file is offered too)
        return list(rules.categories)
    if col.type is ValueType.CHOICE:
        return list(col.choices)
    if col.type is ValueType.YN:
        return ["Y", "N"]
    if col.type is ValueType.GRADE:
        return list(rules.grade_choices)
    return []


def column_width(col: Column, rules: Rules) -> float:
    # Bold header text runs ~10% wider; the dropdown arrow covers about 2 characters.
    values = dropdown_values(col, rules)
    width = max(display_width(col.title) * 1.1, display_width(col.example), *(display_width(v) for v in values))
    width += 2 + (2 if values else 0)
    return round(min(MAX_WIDTH, max(MIN_WIDTH, width)), 1)


def build_template(kind: Kind, rules: Rules, rows: Sequence[Mapping[str, Any]] | None = None) -> bytes:
    """The standard workbook of one kind as .xlsx bytes (see `write_template`)."""
    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, _WORKBOOK_OPTIONS)
    wb.set_properties(
        {
            "title": f"{kind.sheet} 서식",
            "subject": kind.description,
            "author": "coop-batch",
            "company": "기획예산과",
            "keywords": f"coop-batch, {kind.id}, {TEMPLATE_VERSION}",
            "comments": f"{rules.year}년 시·자치구 공동협력사업 표준 서식 (서식 버전 {TEMPLATE_VERSION})",
            "created": datetime(rules.year, 1, 1),  # fixed: the file must not change between runs
        }
    )
    fmt = _Formats(wb)
    data = wb.add_worksheet(kind.sheet)
    help_ws = wb.add_worksheet(HELP_SHEET)
    lists = wb.add_worksheet(LISTS_SHEET)
    meta = wb.add_worksheet(META_SHEET)

    n_rows = len(rows) if rows else 0
    _write_data_sheet(data, kind, rules, fmt, n_rows)
    _write_lists_and_validation(data, lists, kind, rules, fmt, n_rows)
    _write_help(help_ws, kind, rules, fmt)
    _write_meta(meta, kind, rules, fmt)
    if rows:
        _write_rows(data, kind, rows, fmt)
    data.activate()
    lists.hide()
    meta.hide()
    wb.close()
    return buffer.getvalue()


def write_template(
    kind: Kind, rules: Rules, path: Path, rows: Sequence[Mapping[str, Any]] | None = None
) -> Path:
    """Write the standard workbook of `kind` to `path` (replaced atomically) and return the path."""
    path = Path(path)
    content = build_template(kind, rules, rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target, then replace: a half-written template must never be left behind.
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(content)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_templates(out_dir: Path, rules: Rules) -> list[Path]:
    """Write all six blank templates as `<sheet name>.xlsx` into `out_dir`."""
    out_dir = Path(out_dir)
    return [write_template(kind, rules, out_dir / f"{kind.sheet}.xlsx") for kind in KINDS]


class _Formats:
    """Every format object, created once per workbook (never per cell)."""

    def __init__(self, wb: xlsxwriter.Workbook) -> None:
        base = {"font_name": FONT, "font_size": 10}
        header = {**base, "bold": True, "border": 1, "text_wrap": True, "align": "center", "valign": "vcenter"}
        self.header = wb.add_format({**header, "bg_color": "#DDEBF7"})
        self.header_required = wb.add_format({**header, "bg_color": "#FCE4D6"})
        self.text = wb.add_format({**base, "num_format": "@"})
        self.by_type = {t: wb.add_format({**base, "num_format": f}) for t, f in _NUM_FORMATS.items()}
        self.date = self.by_type[ValueType.DATE]
        self.plain = wb.add_format(base)
        self.wrap = wb.add_format({**base, "text_wrap": True, "valign": "top"})
        self.top = wb.add_format({**base, "valign": "top"})
        self.center = wb.add_format({**base, "align": "center", "valign": "top"})
        self.title = wb.add_format({**base, "bold": True, "font_size": 14})

    def body(self, col: Column) -> Format:
        return self.by_type.get(col.type, self.text)


def _print_setup(ws: Worksheet, repeat_header: bool) -> None:
    ws.set_paper(9)  # A4
    ws.set_landscape()
    ws.fit_to_pages(1, 0)  # fit all columns on the page width, as many pages down as needed
    ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    ws.set_footer("&C&P / &N")
    if repeat_header:
        ws.repeat_rows(0)


def _write_data_sheet(ws: Worksheet, kind: Kind, rules: Rules, fmt: _Formats, n_rows: int) -> None:
    for i, col in enumerate(kind.columns):
        ws.set_column(i, i, column_width(col, rules), fmt.body(col))
        ws.write_string(0, i, col.title, fmt.header_required if col.required else fmt.header)
    ws.set_row(0, 24)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, n_rows, len(kind.columns) - 1)
    _print_setup(ws, repeat_header=True)


def _write_lists_and_validation(
    data: Worksheet, lists: Worksheet, kind: Kind, rules: Rules, fmt: _Formats, n_rows: int
) -> None:
    # One list column per dropdown column; the validation refers to its range by absolute address.
    last = max(VALIDATION_ROWS.get(kind.id, DEFAULT_VALIDATION_ROWS), n_rows + 1) - 1  # 0-based
    list_col = 0
    for i, col in enumerate(kind.columns):
        values = dropdown_values(col, rules)
        if not values:
            continue
        lists.write_string(0, list_col, col.title, fmt.plain)
        for r, value in enumerate(values, start=1):
            lists.write_string(r, list_col, value, fmt.text)
        lists.set_column(list_col, list_col, column_width(col, rules))
        letter = xl_col_to_name(list_col)
        source = f"={quote_sheetname(LISTS_SHEET)}!${letter}$2:${letter}${len(values) + 1}"
        options: dict[str, Any] = {
            "validate": "list",
            "source": source,
            "ignore_blank": True,
            "input_title": col.title,
            "input_message": _clip(col.help, 255),
            "error_title": f"{col.title} 입력 오류"[:32],
        }
        if col.type is ValueType.GRADE:
            # Unknown grades are warnings, not errors: the user may keep a grade the list lacks.
            options["error_type"] = "warning"
            options["input_message"] = _clip(f"{col.help}. 목록에 없는 등급은 경고 후 그대로 둘 수 있습니다.", 255)
            options["error_message"] = (
                "목록에 없는 등급입니다. 그대로 두려면 '예'를 누르세요. "
                "기획예산과가 규칙 파일에 이 등급을 추가해야 포상금이 계산됩니다."
            )
        else:
            options["error_type"] = "stop"
            options["error_message"] = _clip(
                f"'{col.title}'에는 목록의 값만 넣을 수 있습니다({', '.join(values)}). "
                "'다시 시도'를 눌러 목록에서 선택하세요.",
                255,
            )
        if data.data_validation(1, i, last, i, options) != 0:
            raise RuntimeError(f"data validation rejected for {kind.id}.{col.field}")  # a bug, not input
        list_col += 1


def _clip(text: str, limit: int) -> str:
    return text if len(text.encode("utf-16-le")) // 2 <= limit else text[: limit - 1] + "…"


def _help_lines(kind: Kind) -> list[str]:
    lines = [
        f"이 파일은 「{kind.sheet}」 서식입니다. 서식 종류마다 파일 하나로 작성해 주세요(한 파일에 여러 서식을 섞지 마세요).",
        f"시트 이름({kind.sheet})과 1행의 열 이름은 바꾸거나 지우지 마세요. 숨겨진 시트(_meta, _lists)도 지우지 마세요.",
        "2행부터 한 행에 한 건씩 입력합니다. 빈 행은 무시됩니다. 주황색 열 이름은 필수 항목입니다.",
        "날짜는 2016-02-15처럼, 금액은 숫자만(쉼표 가능) 입력합니다. 목록(▼)이 있는 칸은 목록에서 고릅니다.",
    ]
    filled = [c.title for c in kind.columns if c.fill_down]
    if filled:
        lines.append(f"{', '.join(filled)} 열은 사업의 첫 행에만 적어도 됩니다(아래 빈칸은 위 행과 같은 값으로 봅니다).")
    if any(c.type is ValueType.GRADE for c in kind.columns):
        lines.append("목록에 없는 등급도 입력할 수 있지만 경고가 표시되며, 규칙 파일에 등록되기 전에는 포상금이 계산되지 않습니다.")
    lines.append("작성한 파일은 .xlsx 형식 그대로 기획예산과 공유 폴더의 inbox(제출) 폴더에 저장해 주세요.")
    return [f"{n}. {line}" for n, line in enumerate(lines, start=1)]


def _write_help(ws: Worksheet, kind: Kind, rules: Rules, fmt: _Formats) -> None:
    ws.write_string(0, 0, f"「{kind.sheet}」 서식 작성방법", fmt.title)
    ws.write_string(
        1, 0, f"{kind.description} · 서식 버전 {TEMPLATE_VERSION} · {rules.year}년 규칙({rules.version})", fmt.plain
    )
    row = 3
    for line in _help_lines(kind):
        ws.write_string(row, 0, line, fmt.plain)
        row += 1
    row += 1
    for c, title in enumerate(("열 이름", "필수", "입력 방법", "예시")):
        ws.write_string(row, c, title, fmt.header)
    header_row = row
    for col in kind.columns:
        row += 1
        values = dropdown_values(col, rules)
        how = f"{col.help} — 고를 수 있는 값: {' / '.join(values)}" if values else col.help
        ws.write_string(row, 0, col.title, fmt.top)
        ws.write(row, 1, "○" if col.required else None, fmt.center)  # None: a blank cell, not ""
        ws.write_string(row, 2, how, fmt.wrap)
        ws.write(row, 3, col.example or None, fmt.wrap)
    for c, width in enumerate((20, 6, 60, 26)):
        ws.set_column(c, c, width)
    _print_setup(ws, repeat_header=False)
    ws.repeat_rows(header_row)


def meta_items(kind: Kind, rules: Rules) -> list[tuple[str, str]]:
    """The `_meta` key/value rows (all values are text, so readers see `2016`, not `2016.0`)."""
    return [
        ("kind", kind.id),
        ("kind_name", kind.sheet),
        ("template_version", TEMPLATE_VERSION),
        ("policy_year", str(rules.year)),
        ("rules_version", rules.version),
        ("generator", f"coop-batch {__version__}"),
    ]


def _write_meta(ws: Worksheet, kind: Kind, rules: Rules, fmt: _Formats) -> None:
    for r, (key, value) in enumerate(meta_items(kind, rules)):
        ws.write_string(r, 0, key, fmt.text)
        ws.write_string(r, 1, value, fmt.text)
    ws.set_column(0, 1, 20)


def _write_rows(ws: Worksheet, kind: Kind, rows: Sequence[Mapping[str, Any]], fmt: _Formats) -> None:
    targets: dict[str, tuple[int, Format]] = {}
    for i, col in enumerate(kind.columns):
        targets[col.field] = targets[col.title] = (i, fmt.body(col))
    date_fmt = fmt.date
    write_string, write_number = ws.write_string, ws.write_number
    for r, row in enumerate(rows, start=1):
        for key, value in row.items():
            if value is None:
                continue
            try:
                c, cell_fmt = targets[key]
            except KeyError:
                if key.startswith("_"):  # record bookkeeping such as `_row`
                    continue
                raise ValueError(f"{kind.sheet}: unknown column {key!r}") from None
            # Typed writes only: text stays text even when it looks like `=SUM(A1)` or `+82…`.
            if isinstance(value, str):
                write_string(r, c, value, cell_fmt)
            elif isinstance(value, bool):
                ws.write_boolean(r, c, value, cell_fmt)
            elif isinstance(value, date):
                if value == value:  # pandas.NaT is a datetime that is not equal to itself
                    ws.write_datetime(r, c, value, date_fmt)
            elif isinstance(value, Decimal):
                if value.is_finite():
                    write_number(r, c, int(value) if value == value.to_integral_value() else float(value), cell_fmt)
            elif isinstance(value, float):
                if value == value:  # NaN is a blank cell (pandas)
                    write_number(r, c, value, cell_fmt)
            elif isinstance(value, numbers.Integral):
                write_number(r, c, int(value), cell_fmt)
            elif isinstance(value, numbers.Real):
                write_number(r, c, float(value), cell_fmt)
            else:
                raise TypeError(f"{kind.sheet}.{key}: unsupported cell value {type(value).__name__}")
