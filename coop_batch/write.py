"""Write workbooks people like to open: the master 통합현황, the rosters, the circulation copies.

The caller composes WHICH sheets a workbook holds (`SheetSpec` per table, one optional
`SummarySpec` dashboard); this module owns the machinery and the look, generic over
sheet specs:

* xlsxwriter in `constant_memory` mode: rows stream to disk one at a time, so a
  50,000-row master costs about a megabyte of memory.  That mode forbids going back
  to an earlier row, so each sheet is laid out top to bottom in one pass (title,
  header, data, total, note); titles use "centre across selection" instead of merged
  cells; widths come from the first `SAMPLE_ROWS` rows, buffered before writing;
  autofilter, freeze panes, conditional colours and print settings are sheet-level
  records, set after the data.  Charts get no cached values from the worksheet in this
  mode, so summary tables pass their values to the chart explicitly.
* A user's text is always text (see `write_format`).
* The file is written to a temporary name in the target folder and moved into place
  with `os.replace`; when the target is open in Excel (Windows refuses the replace),
  the workbook is kept as `<stem>_HHMMSS.xlsx` and `WriteResult.fallback` says so.
* Same input and same `created` → byte-identical file (xlsxwriter fixes zip times).

The dashboard and its charts are written by `write_summary`; what both writers share
(`ColumnSpec`, `SheetLayout`, the title block) lives in `write_layout`.  All the spec
classes stay importable from here.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import write_format as wf
from .write_format import Styles, Tone
from .write_layout import ColumnSpec, SheetLayout
from .write_rows import stream_rows as _stream_rows  # module names: tests swap them
from .write_rows import write_rows as _write_rows
from .write_summary import ChartSpec, Figure, SummarySpec, SummaryTable, _insert_charts, _write_summary
from .write_table import TOTAL_OPS, RowsAhead, SheetSpec, fitted_rows, rendered_ahead, start_table

if TYPE_CHECKING:  # pragma: no cover
    from xlsxwriter.workbook import Workbook
    from xlsxwriter.worksheet import Worksheet

__all__ = [
    "TOTAL_OPS",
    "ChartSpec",
    "ColumnSpec",
    "Figure",
    "RowsAhead",
    "SheetLayout",
    "SheetSpec",
    "SummarySpec",
    "SummaryTable",
    "Book",
    "WorkbookContext",
    "WriteResult",
    "write_book",
    "write_workbook",
]

FAST_ROWS = True  # render data rows straight into the row file (False: every cell through xlsxwriter's API)


@dataclass
class WorkbookContext:
    """Handed to the `charts` hook of `write_workbook`, just before the file is closed."""

    workbook: Workbook
    worksheets: dict[str, Worksheet]  # by actual sheet name
    layouts: dict[str, SheetLayout]  # by spec name, actual sheet name and summary-table title
    styles: Styles


@dataclass(frozen=True)
class WriteResult:
    path: Path
    fallback: bool  # True: the target was locked (open in Excel); `path` is the `_HHMMSS` copy
    sheets: Mapping[str, int] = field(default_factory=dict)  # sheet name → data rows written
    warnings: tuple[str, ...] = ()  # Korean notes: renamed sheets, cut cells, rows over Excel's limit


@dataclass(frozen=True)
class Book:
    """A workbook to write (`write_book`): where, its sheets (rows in lists, so that another process
    may be handed it: write_beside.py), and the date it bears."""

    path: Path
    sheets: list[SheetSpec | SummarySpec]
    created: datetime


def write_book(book: Book) -> WriteResult:
    return write_workbook(book.path, book.sheets, created=book.created)


def write_workbook(
    path: Path,
    sheets: Sequence[SheetSpec | SummarySpec],
    *,
    created: datetime | None = None,
    charts: Callable[[WorkbookContext], None] | None = None,
    tones: Mapping[str, Tone | None] | None = None,
) -> WriteResult:
    """Write `sheets` to `path` atomically; never fails because the target is open in Excel.

    `created` fixes the document date (and the date in page headers): pass the as-of
    date for reproducible output.  `tones` extends the status words coloured in
    'status' columns (`{'지급 제외': 'warn'}`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(path)
    tmp.open("xb").close()
    try:
        counts, warnings = _build(tmp, sheets, created, charts, tones)
        final, fallback = move_into_place(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return WriteResult(final, fallback, counts, tuple(warnings))


def _build(
    tmp: Path,
    sheets: Sequence[SheetSpec | SummarySpec],
    created: datetime | None,
    charts: Callable[[WorkbookContext], None] | None,
    tones: Mapping[str, Tone | None] | None,
) -> tuple[dict[str, int], list[str]]:
    import xlsxwriter  # here, not at import time: the CLI's start-up stays lean

    workbook = xlsxwriter.Workbook(str(tmp), WORKBOOK_OPTIONS)
    if created is not None:
        workbook.set_properties({"created": created})
    styles = Styles(workbook)
    date_text = wf.header_text(created.date().isoformat()) if created else "&D"
    used: set[str] = set()
    worksheets: dict[str, Worksheet] = {}
    layouts: dict[str, SheetLayout] = {}
    counts: dict[str, int] = {}
    warnings: list[str] = []
    pending: list[tuple[Worksheet, SummarySpec, int, int]] = []
    formulas: dict[tuple[Any, ...], str] = {}
    from .write_zip import RowPacker, threaded_zip

    packer = RowPacker()
    try:
        for spec in sheets:
            name = wf.sheet_name(spec.name, used)
            if name != spec.name:
                warnings.append(f"시트 이름 '{spec.name}'은(는) 엑셀에서 쓸 수 없어 '{name}'(으)로 바꿨습니다.")
            ws = workbook.add_worksheet(name)
            _share_formula_cache(ws, formulas)
            worksheets[name] = ws
            if isinstance(spec, SummarySpec):
                tables, anchor_row, anchor_col = _write_summary(ws, name, spec, styles, date_text, warnings)
                layouts.update(tables)
                pending.append((ws, spec, anchor_row, anchor_col))
                counts[name] = sum(t.rows for t in tables.values())
            else:
                layout = _write_table(ws, name, spec, styles, tones, date_text, warnings)
                layouts[spec.name] = layouts[name] = layout
                counts[name] = layout.rows
                packer.take(ws)  # a big table's rows deflate while the next sheets are written
        for ws, spec, row, col in pending:
            _insert_charts(workbook, ws, spec.charts, layouts, row, col, warnings)
        if charts is not None:
            charts(WorkbookContext(workbook, worksheets, layouts, styles))
    except BaseException:
        _discard(workbook)
        raise
    with threaded_zip(workbook):  # the parts compressed on two threads: 0.15 s of a 5,000-file master
        workbook.close()
    return counts, warnings


WORKBOOK_OPTIONS: Mapping[str, Any] = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
    "remove_timezone": True,
    "default_format_properties": {"font_name": wf.FONT, "font_size": wf.FONT_SIZE, "font_scheme": "none"},
}


def _share_formula_cache(ws: Worksheet, cache: dict[tuple[Any, ...], str]) -> None:
    """Memoise xlsxwriter's formula preparation across the workbook's sheets.

    At close it runs ~150 regex substitutions over every conditional-format value (0.15 ms
    each; a master has ~280 tone rules, the same few words on every status column).  The
    result depends only on the arguments and the sheet's `use_future_functions`.
    """
    prepare = getattr(ws, "_prepare_formula", None)
    if not callable(prepare):  # pragma: no cover - another xlsxwriter
        return

    def cached(formula: str, expand_future_functions: bool = False) -> str:
        key = (formula, expand_future_functions, getattr(ws, "use_future_functions", None))
        got = cache.get(key)
        if got is None:
            got = cache[key] = prepare(formula, expand_future_functions)
        return got

    ws._prepare_formula = cached  # type: ignore[method-assign]


def _discard(workbook: Workbook) -> None:
    """Drop a half-written workbook: constant_memory keeps one open temp file per sheet."""
    for ws in workbook.worksheets():
        handle = getattr(ws, "row_data_fh", None)
        if handle is not None:
            handle.close()
        name = getattr(ws, "row_data_filename", None)
        if name:
            Path(name).unlink(missing_ok=True)


def temp_beside(target: Path) -> Path:
    """A hidden name beside `target` to write before `move_into_place`, unique to this writer.
    Not mkstemp: its 0600 mode would survive the rename and lock colleagues out of a shared outbox."""
    return target.with_name(f".{target.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def move_into_place(tmp: Path, target: Path) -> tuple[Path, bool]:
    """Replace `target` with `tmp`; when the target is open (Windows refuses), put it beside as
    `이름_HHMMSS.xlsx` instead.  Returns (where it went, whether that is beside the target)."""
    try:
        os.replace(tmp, target)
        return target, False
    except PermissionError:
        pass  # Windows: the target is open in Excel (or a viewer holds it)
    stamp = datetime.now().strftime("%H%M%S")
    for n in range(1, 100):
        alt = target.with_name(f"{target.stem}_{stamp}{'' if n == 1 else f'_{n}'}{target.suffix}")
        if alt.exists():
            continue
        try:
            os.replace(tmp, alt)
            return alt, True
        except PermissionError:
            continue
    raise PermissionError(f"'{target}'에도, 시각을 붙인 다른 이름에도 쓸 수 없습니다. 폴더 권한을 확인하세요.")


# ---------------------------------------------------------------------------------------------
# A table sheet: [title] [subtitle] [spacer] header, rows, [total], [over-limit marker], [note]


def _write_table(
    ws: Worksheet,
    name: str,
    spec: SheetSpec,
    styles: Styles,
    tones: Mapping[str, Tone | None] | None,
    date_text: str,
    warnings: list[str],
) -> SheetLayout:
    t = start_table(ws, spec, styles, FAST_ROWS and not spec.fit_rows)
    columns, totals, header_row, first, counter = t.columns, t.totals, t.header_row, t.first, t.counter
    ncols = len(columns)
    reserved = (1 if totals else 0) + 1 + (2 if spec.note else 0)  # total, over-limit marker, gap + note
    capacity = wf.EXCEL_MAX_ROWS - first - reserved
    ahead = rendered_ahead(spec, t, capacity)
    data: Iterator[Sequence[Any]] = chain(t.head, t.rows)
    if spec.fit_rows:
        data = fitted_rows(ws, data, t)
    if ahead is not None:  # the rows but the last came from a helper process: the rest from here
        counter.truncated += ahead.truncated
        data = iter(spec.ahead.rest(ahead.rows))  # type: ignore[union-attr]
    if t.renderers is not None:  # (always so when rows came ahead)
        written, dropped, sums = _stream_rows(
            ws, spec.name, data, t.renderers, t.writers, columns, totals, first, capacity, ahead
        )
    else:
        written, dropped, sums = _write_rows(spec.name, data, t.writers, ncols, totals, first, capacity)
    last = first + written - 1
    row = first + written

    if totals:
        _write_total_row(ws, row, first, last, columns, totals, sums, styles)
        row += 1
    if dropped:
        message = (
            f"※ 엑셀 한 시트의 행 한도({wf.EXCEL_MAX_ROWS:,}행)를 넘어 마지막 {dropped:,}행은 싣지 못했습니다. "
            "기간이나 부서를 나누어 다시 만드세요."
        )
        ws.write_string(row, 0, message, styles.note)
        warnings.append(f"'{name}' 시트: {message[2:]}")
        row += 1
    if spec.note:
        wf.write_literal(ws, row + 1, 0, spec.note, styles.note)
    if counter.truncated:
        warnings.append(
            f"'{name}' 시트: {wf.EXCEL_MAX_CHARS:,}자를 넘는 셀 {counter.truncated:,}개는 잘라서 적었습니다(셀 끝에 표시)."
        )

    ws.freeze_panes(first, spec.freeze_columns)
    ws.autofilter(header_row, 0, max(last, header_row), ncols - 1)
    for c, column in enumerate(columns):
        wf.add_tones(ws, styles, first, last, c, wf.tones_for(column.type, tones, column.tones))
    wf.print_setup(ws, repeat_row=header_row, date_text=date_text, tab=spec.group)
    return SheetLayout(name, header_row, first, last, {col.title: c for c, col in enumerate(columns)})


def _write_total_row(
    ws: Worksheet,
    row: int,
    first: int,
    last: int,
    columns: list[ColumnSpec],
    totals: dict[int, str],
    sums: dict[int, int | Decimal],
    styles: Styles,
) -> None:
    from xlsxwriter.utility import xl_range

    labelled = False
    for c, column in enumerate(columns):
        if c in totals:
            op, value = totals[c], _plain_number(sums[c])
            fmt = styles.totals.get(column.type if op == "sum" else "int", styles.total_label)
            if last < first:
                ws.write_number(row, c, 0, fmt)
            else:
                function = "SUM" if op == "sum" else "COUNTA"
                # The cached value lets viewers that never recalculate show the right number.
                ws.write_formula(row, c, f"={function}({xl_range(first, c, last, c)})", fmt, value)
        elif not labelled:
            ws.write_string(row, c, "합계", styles.total_label)
            labelled = True
        else:
            ws.write_blank(row, c, None, styles.total_label)


def _plain_number(value: int | Decimal) -> int | str:
    """A formula's cached value as Excel writes it: `4100000`, `12.5`, never `4.1E+6`."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        return format(value.normalize(), "f")
    return value
