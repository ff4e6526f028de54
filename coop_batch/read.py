"""Reading a department's workbook: which template it is, where its header row is, and its rows.

`read_sheet` reads one file in-process and never raises for bad input: every reason a
file cannot be read becomes one Korean `Problem`.  `read_many` (in `read_workers`, re-exported
here) is what the nightly batch uses: each file is read in a reused worker process with a time
limit, so a file that hangs or crashes the Rust reader costs that file only.

Files made by hand are normal: no `_meta`, a title row above the header, columns in any
order, extra columns, headers spelled `사 업 명`.  Hidden sheets are never data.
"""

from __future__ import annotations

import functools
import io
import logging
import math
import os
import re
import stat
from dataclasses import dataclass, replace
from operator import itemgetter
from pathlib import Path
from typing import Any

from python_calamine import (
    CalamineError,
    CalamineWorkbook,
    PasswordError,
    SheetTypeEnum,
    SheetVisibleEnum,
)

from .errors import Problem, os_detail
from .normalize import cell_text, column_letter, header_key, is_blank
from .read_errors import error_cells
from .read_workers import TEST_FAULT_ENV, read_many, read_one
from .records import SheetData
from .safety import WHOLE_FILE_BYTES, Limits, check_package, inspect_package, sniff
from .schema import HELP_SHEET, KIND_BY_ID, KINDS, LISTS_SHEET, META_SHEET, Kind

__all__ = ["TEST_FAULT_ENV", "Limits", "check_package", "read_many", "read_one", "read_sheet", "sniff"]

log = logging.getLogger(__name__)

# title → field, both as written in the template and normalised (`사 업 명` → `사업명`)
_TITLE_KEYS: dict[str, dict[str, str]] = {
    k.id: {
        **{c.title: c.field for c in k.columns},
        **{header_key(t): c.field for c in k.columns for t in (*c.aliases, c.title)},
    }
    for k in KINDS
}
_key = functools.lru_cache(maxsize=4096)(header_key)  # titles repeat in every file of a night
_text = functools.lru_cache(maxsize=4096)(cell_text)  # str cells only: 1, 1.0 and True are one key
_ONE_PASS_ROWS = 1000  # a sheet below this many rows is converted once (not head, then whole)
_KIND_BY_SHEET_KEY: dict[str, Kind] = {header_key(k.sheet): k for k in KINDS}
_COPY_SUFFIX = re.compile(r"\(\d+\)$")  # Excel names a copied sheet `주간실적 (2)`
_NOT_DATA = {header_key(n).lower() for n in (META_SHEET, LISTS_SHEET, HELP_SHEET)}
_MIN_HEADER_MATCHES = 2


class _TooLarge(Exception):
    pass


def read_sheet(
    path: Path, limits: Limits = Limits(), display_name: str | None = None, data: bytes | None = None
) -> SheetData:
    """The template's data sheet of one workbook. Never raises for bad input (only for Ctrl+C/exit).
    `data`: the file's bytes, when the caller read them already (a reader worker reading ahead, which
    hashed them): checked and parsed from memory, so what is read is what was hashed."""
    path = Path(path)
    name = display_name or path.name
    try:
        data = data if data is not None else small_file(path)
        problems, error_cells_possible = inspect_package(path, limits, data)
        if problems:
            return SheetData(path, None, problems=[replace(p, file=name) for p in problems])
        return _read(path, limits, name, error_cells_possible, data)
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        return SheetData(path, None, problems=[_failure(exc, name)])


# Files up to the size the checks read whole anyway (every real submission) are read into memory once,
# then checked and parsed from there: python-calamine reading the file itself seeks and reads in small
# pieces (~30 % more CPU).  A bigger one is streamed through the checks and parsed from the file.
IN_MEMORY_BYTES = WHOLE_FILE_BYTES


def small_file(path: Path | str, limit: int | None = None) -> bytes | None:
    """The bytes of a regular file of at most `limit` bytes (IN_MEMORY_BYTES); None for a bigger one,
    anything but a regular file (a pipe would block the open), one that changed while read, or one
    that does not open: the checks then say why, reading the file itself."""
    try:
        found = os.stat(path)
        if not stat.S_ISREG(found.st_mode) or found.st_size > (IN_MEMORY_BYTES if limit is None else limit):
            return None
        with open(path, "rb") as handle:
            data = handle.read(found.st_size + 1)  # (not limit + 1: a buffer of the limit costs more than the read)
    except OSError:
        return None
    return data if len(data) == found.st_size else None


def _failure(exc: BaseException, name: str) -> Problem:
    reason = f"{type(exc).__name__}: {exc}"[:300]  # for support staff (JSON output), not the message
    if isinstance(exc, PasswordError):
        return Problem("file-encrypted", file=name, params={"reason": reason})
    if isinstance(exc, OSError):
        return Problem("file-unreadable", file=name, params={"detail": os_detail(exc), "reason": reason})
    if isinstance(exc, (MemoryError, _TooLarge)):
        detail = str(exc) if isinstance(exc, _TooLarge) else "읽는 데 메모리가 부족함"
        return Problem("file-too-large", file=name, params={"detail": detail, "reason": reason})
    if isinstance(exc, CalamineError):
        detail = "엑셀 파일 구조를 해석할 수 없음"
    elif isinstance(exc, Exception):
        log.warning("unexpected error reading %s", name, exc_info=exc)  # a bug here, not in the file
        detail = "읽는 중 예상하지 못한 오류"
    else:
        detail = "엑셀 해석기 내부 오류"
    return Problem("file-corrupt", file=name, params={"detail": detail, "reason": reason})


@dataclass
class _Header:
    row: int  # 0-based index in the sheet
    columns: dict[str, int]  # field → 0-based column
    duplicates: list[tuple[str, int]]  # (field, column) of repeated titles


def _read(path: Path, limits: Limits, name: str, error_cells_possible: bool = True, data: bytes | None = None) -> SheetData:
    source = CalamineWorkbook.from_path(str(path)) if data is None else CalamineWorkbook.from_filelike(io.BytesIO(data))
    with source as book:
        sheets = book.sheets_metadata
        data_sheets = [
            s.name for s in sheets
            if s.visible == SheetVisibleEnum.Visible and s.typ == SheetTypeEnum.WorkSheet
            and _key(s.name).lower() not in _NOT_DATA
        ]
        meta = _read_meta(book, [s.name for s in sheets])
        loaded: dict[str, Any] = {}
        heads: dict[str, list[list[Any]]] = {}
        whole: dict[str, list[list[Any]]] = {}
        merged: dict[str, Any] = {}  # sheet → its merged ranges, as calamine gives them (read once)

        def head(sheet: str) -> list[list[Any]]:
            if sheet not in heads:
                if sheet not in loaded:
                    loaded[sheet] = _load(book, sheet, limits)
                end = loaded[sheet].end
                if end is None or end[0] < _ONE_PASS_ROWS:  # small: convert once, the head is a slice of it
                    whole[sheet] = loaded[sheet].to_python(skip_empty_area=False)
                    heads[sheet] = whole[sheet][: limits.header_search_rows]
                else:
                    heads[sheet] = loaded[sheet].to_python(skip_empty_area=False, nrows=limits.header_search_rows)
                merged[sheet] = getattr(loaded[sheet], "merged_cell_ranges", None)
                heads[sheet] = _titles_merged_down(heads[sheet], merged[sheet])
            return heads[sheet]

        kind, sheet, header = _choose_sheet(_kind_from_meta(meta), data_sheets, head)
        if kind is None:
            kind, sheet, header = _guess_by_headers(data_sheets, head)
        if sheet is None:  # a template sheet someone hid is not data, but say so rather than "not found"
            hidden = [(s, k) for s in (m.name for m in sheets if m.name not in data_sheets)
                      if (k := _kind_of_sheet_name(s)) and (kind is None or k == kind)]
            if hidden:
                return SheetData(path, hidden[0][1], meta=meta, problems=[Problem("hidden-sheet", name, hidden[0][0])])
        if kind is None:
            first = data_sheets[0] if data_sheets else ""
            return SheetData(path, None, sheet=first, meta=meta, problems=[Problem("unknown-kind", name, first)])
        if sheet is None:
            return SheetData(path, kind, meta=meta, problems=[Problem("missing-sheet", name, kind.sheet)])
        result = SheetData(path, kind, sheet=sheet, meta=meta)
        for other in data_sheets:  # a second template sheet (another kind, or a copy) is not read: say so
            if other != sheet and _kind_of_sheet_name(other) is not None:
                result.problems.append(Problem("sheet-not-read", name, other, params={"read": sheet}))
        if header is None:
            result.problems.append(
                Problem("missing-header", name, sheet, params={"rows": limits.header_search_rows})
            )
            return result
        result.header_row = header.row + 1
        result.columns = dict(sorted(header.columns.items(), key=lambda item: item[1]))
        for field, col in header.duplicates:
            result.problems.append(
                Problem(
                    "duplicate-column", name, sheet, f"{column_letter(col)}{header.row + 1}", kind.column(field).title
                )
            )
        for col in kind.columns:
            if col.required and col.field not in header.columns:
                result.problems.append(Problem("missing-column", name, sheet, column=col.title))
        rows = whole[sheet] if sheet in whole else loaded[sheet].to_python(skip_empty_area=False)
        result.problems += _untitled_values(rows, header, name, sheet)  # before merged cells are spread
        _spread_merged(rows, merged[sheet], header.row)
        result.rows = _data_rows(rows, header)
        if error_cells_possible:  # the pre-parse check saw an error cell's mark in some part
            _mark_errors(result.rows, header, error_cells(path if data is None else io.BytesIO(data), sheet))
        return result


def _untitled_values(rows: list[list[Any]], header: _Header, name: str, sheet: str) -> list[Problem]:
    """A warning for each column whose title cell is blank but which holds values beside the table's rows
    (a title merged over two columns, `추진실적` in D1:E1, leaves E's values unread): they are not read,
    and without a word the clerk would think they were.  Columns the clerk titled otherwise are extras."""
    titles, data = rows[header.row], rows[header.row + 1:]
    width = max(map(len, data), default=0)
    used = sorted(header.columns.values())  # (a title merged down from the row above is one, though blank here)
    blank = [c for c in range(width) if (c >= len(titles) or titles[c] == "") and c not in used]
    problems = []
    for c in blank:
        for number, row in enumerate(data, start=header.row + 2):
            if c < len(row) and row[c] != "" and any(row[u] != "" for u in used if u < len(row)):
                problems.append(Problem("untitled-column", name, sheet, f"{column_letter(c)}{number}",
                                        params={"letter": column_letter(c)}))
                break
    return problems


def _titles_merged_down(head: list[list[Any]], merged: Any) -> list[list[Any]]:
    """The head rows as the header search should see them: a title merged down over two rows (`보고일`
    in A1:A2 beside titles typed in row 2) counts in each row it covers, in its own column only.  A
    copy: the data rows (and the cells under the header) are not touched."""
    spans = [(top, left, bottom) for (top, left), (bottom, _) in merged or ()
             if bottom > top and top < len(head) and left < len(head[top]) and head[top][left] != ""]
    if not spans:
        return head
    head = [list(row) for row in head]
    for top, left, bottom in spans:
        for r in range(top + 1, min(bottom, len(head) - 1) + 1):
            row = head[r]
            if len(row) <= left:
                row.extend([""] * (left + 1 - len(row)))
            if row[left] == "":
                row[left] = head[top][left]
    return head


def _spread_merged(rows: list[list[Any]], merged: Any, header_row: int) -> None:
    """A merged range below the header shows its value in every cell (`사업명` merged over a project's
    rows): each of its blank cells gets it, as the clerk sees it, instead of being reported empty.
    Ranges touching the header are left alone (a two-row title would make one column two)."""
    for (top, left), (bottom, right) in merged or ():
        if top <= header_row or top >= len(rows) or left >= len(rows[top]):
            continue
        value = rows[top][left]
        for r in range(top, min(bottom, len(rows) - 1) + 1):
            row = rows[r]
            if len(row) <= right:
                row.extend([""] * (right + 1 - len(row)))
            for c in range(left, right + 1):
                if row[c] == "":
                    row[c] = value


def _mark_errors(rows: list[tuple[int, list[Any]]], header: _Header, errors: dict[tuple[int, int], Any]) -> None:
    """An error cell (`#NAME?`) that calamine read as "" gets its `CellError` in the row, for validation to
    report.  Only in the data rows' template columns: a row of nothing but errors (a formula dragged below
    the data) stays the blank row it looks like, as do errors in columns no template has."""
    if not errors:
        return
    columns = set(header.columns.values()) & {col for _, col in errors}
    for number, row in rows:
        for col in columns:
            cell = errors.get((number - 1, col))
            if cell is not None and col < len(row) and row[col] == "":
                row[col] = cell


def _load(book: CalamineWorkbook, sheet: str, limits: Limits) -> Any:
    """A sheet, after one more size check (the byte scan in safety.py is the real guard)."""
    data = book.get_sheet_by_name(sheet)
    end = data.end
    if end is not None and (end[0] >= limits.max_rows or end[1] >= limits.max_cols):
        raise _TooLarge(f"시트 범위 {end[0] + 1:,}행 × {end[1] + 1:,}열, 한도 {limits.max_rows:,}행 × {limits.max_cols:,}열")
    return data


def _read_meta(book: CalamineWorkbook, names: list[str]) -> dict[str, str]:
    """`_meta` key/value rows (kind, kind_name, template_version, policy_year, ...); hidden is fine here."""
    sheet = next((n for n in names if n.strip().lower() == META_SHEET), None)
    if sheet is None:
        return {}
    meta: dict[str, str] = {}
    for row in book.get_sheet_by_name(sheet).to_python(skip_empty_area=False, nrows=100):
        cells = [t for value in row[:10] if (t := _text(value) if value.__class__ is str else cell_text(value))]
        if len(cells) >= 2:
            key = _key(cells[0]).lower()[:50]
            meta.setdefault(key, cells[1][:200])
    return meta


def _kind_from_meta(meta: dict[str, str]) -> Kind | None:
    kind = KIND_BY_ID.get(meta.get("kind", "").strip().lower())
    return kind or _KIND_BY_SHEET_KEY.get(header_key(meta.get("kind_name", "")))


@functools.lru_cache(maxsize=1024)  # sheet names repeat in every file of a night
def _kind_of_sheet_name(sheet: str) -> Kind | None:
    return _KIND_BY_SHEET_KEY.get(_COPY_SUFFIX.sub("", header_key(sheet)))


def _choose_sheet(
    kind: Kind | None, sheets: list[str], head: Any
) -> tuple[Kind | None, str | None, _Header | None]:
    """The data sheet by name: of the kind `_meta` names, or else of any kind."""
    named = [(s, k) for s in sheets if (k := _kind_of_sheet_name(s)) and (kind is None or k == kind)]
    for sheet, sheet_kind in named:  # several: the first one with a header row
        header = _find_header(head(sheet), sheet_kind)
        if header is not None:
            return sheet_kind, sheet, header
    if named:
        return named[0][1], named[0][0], None
    if kind is not None:  # renamed sheet: the visible sheet whose header row is this kind's
        scored = [(h, s) for s in sheets if (h := _find_header(head(s), kind)) is not None]
        if scored:
            header, sheet = max(scored, key=lambda hs: len(hs[0].columns))
            return kind, sheet, header
    return kind, None, None


def _guess_by_headers(sheets: list[str], head: Any) -> tuple[Kind | None, str | None, _Header | None]:
    """No `_meta`, no template sheet name: the kind whose titles the best header row carries."""
    found: list[tuple[int, float, Kind, str, _Header]] = []
    for sheet in sheets:
        for kind in KINDS:
            header = _find_header(head(sheet), kind)
            if header is None:
                continue
            required = [c.field for c in kind.columns if c.required]
            if sum(f in header.columns for f in required) < max(_MIN_HEADER_MATCHES, math.ceil(len(required) / 2)):
                continue
            found.append((len(header.columns), len(header.columns) / len(kind.columns), kind, sheet, header))
    found.sort(key=lambda f: (f[0], f[1]), reverse=True)
    if not found or (len(found) > 1 and found[1][:2] == found[0][:2] and found[1][2] != found[0][2]):
        return None, None, None  # nothing, or two kinds fit equally well: do not guess
    return found[0][2], found[0][3], found[0][4]


def _find_header(rows: list[list[Any]], kind: Kind | None) -> _Header | None:
    """The row (within the rows given) that carries the most of the kind's column titles."""
    if kind is None:
        return None
    keys = _TITLE_KEYS[kind.id]
    best: _Header | None = None
    for r, row in enumerate(rows):
        columns: dict[str, int] = {}
        duplicates: list[tuple[str, int]] = []
        for c, value in enumerate(row):
            if value.__class__ is not str or not value:  # titles are text; numbers and dates never are
                continue
            field = keys.get(value) or keys.get(_key(value))  # exact title first: no normalising
            if field is None:
                continue
            if field in columns:
                duplicates.append((field, c))
            else:
                columns[field] = c
        if len(columns) >= _MIN_HEADER_MATCHES and (best is None or len(columns) > len(best.columns)):
            best = _Header(r, columns, duplicates)
            if len(columns) == len(kind.columns):  # every title found: no later row does better
                break
    return best


def _data_rows(rows: list[list[Any]], header: _Header) -> list[tuple[int, list[Any]]]:
    """Rows below the header with a value in any template column; blank rows skipped."""
    indexes = sorted(header.columns.values())
    width = indexes[-1] + 1
    pick = itemgetter(*indexes)
    n = len(indexes)
    out: list[tuple[int, list[Any]]] = []
    for number, row in enumerate(rows[header.row + 1 :], start=header.row + 2):
        if len(row) > width:
            row = row[:width]
        elif len(row) < width:
            row = row + [""] * (width - len(row))
        values = pick(row) if n > 1 else (pick(row),)
        if values.count("") == n:  # calamine's empty cell is "": the common blank row, at C speed
            continue
        for value in values:  # the first non-"" value decides, almost always
            if value != "" and (value.__class__ is not str or not is_blank(value)):
                out.append((number, row))
                break
    return out
