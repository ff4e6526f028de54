"""The annotated copy itself: a department's workbook with its problem cells filled and commented
and a first sheet `검토결과` listing every problem (see feedback.py for where copies go and when).

Two ways to the same copy.  Usually the package is edited directly (feedback_patch.py): its XML
gets the formats, the comments and the new sheet, every other part is copied byte for byte; about
2 ms a copy.  A package that path does not edit (comments of its own, a copy of ours sent back, markup
in another shape) goes through openpyxl, which loads and saves the whole workbook (~25 ms a copy,
and 0.2 s to import: imported only then), so everything the department entered survives either way.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Collection, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from .feedback_xml import comment_box, is_cell_ref
from .write_format import FONT, clean_text

log = logging.getLogger("coop_batch")

REVIEW_SHEET = "검토결과"
REVIEW_COLUMNS = ("위치", "열", "구분", "문제", "내용")
AUTHOR = "기획예산과(coop-batch)"
ORIGINAL_MARK = "\n\n[원래 메모]\n"
FILLS = {"error": "FFC7CE", "warning": "FFEB9C"}  # Excel's light red / light amber presets
# The 검토결과 sheet's look, the same whichever way the copy is written.
REVIEW_HEADER_ROW = 5
REVIEW_WIDTHS = (18, 14, 7, 16, 80)
REVIEW_FONT = FONT  # the master's own
HEADER_RGB, BORDER_RGB, NOTE_RGB, LINK_RGB = "1F4E79", "BFBFBF", "595959", "0563C1"
_TITLE_MARK = "검토결과:"  # first cell of a 검토결과 sheet we wrote (recognised on resubmission)


def _severity_counts(problems: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    errors = sum(p.get("severity") == "error" for p in problems)
    return errors, len(problems) - errors


def _position(problem: Mapping[str, Any], sheets: Sequence[str]) -> tuple[str, str | None, str | None]:
    """(text for 위치, sheet to link to or None, cell or None); a sheet-wide problem links to its A1, and
    nothing links to a sheet the workbook lacks or a cell off Excel's grid."""
    sheet, cell = problem.get("sheet") or "", problem.get("cell") or ""
    if not sheet:
        return "파일 전체", None, None
    where = f"{sheet}!{cell}" if cell else f"{sheet} 시트"
    on_grid = not cell or all(is_cell_ref(part) for part in cell.split(":"))
    return (where, sheet, cell or "A1") if sheet in sheets and on_grid else (where, None, None)


def _errors_first(problems: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(problems, key=lambda p: p.get("severity") != "error")  # stable: each kind in its order


def quote_sheet(sheet: str) -> str:
    """A sheet's name as a formula or a defined name refers to it: `'주간실적'`, `'O''Neil'`."""
    return "'" + sheet.replace("'", "''") + "'"


def _link(sheet: str, cell: str) -> str:
    return quote_sheet(sheet) + "!" + cell


def annotate_workbook(
    source: Path, target: Path, problems: Sequence[Mapping[str, Any]], *, display_name: str, rejected: bool, as_of: date
) -> Path:
    """Save `source` as `target` with problem cells filled and commented and a first 검토결과 sheet;
    returns the path written.  `problems` are `Problem.as_dict()` records, as the ledger keeps them."""
    from .feedback_patch import patch_workbook
    from .feedback_xml import Unsupported
    from .write import temp_beside

    review = Review(problems, display_name=display_name, rejected=rejected, as_of=as_of)
    tmp = temp_beside(target)
    try:
        try:
            patch_workbook(source, tmp, review)
        except Unsupported as exc:  # a package in another shape: openpyxl reads whatever it is
            log.debug("%s: 검토본을 openpyxl로 만듭니다 (%s)", display_name, exc)
            _with_openpyxl(source, tmp, review)
        except Exception:  # a bug of the direct path must not cost the department its copy
            log.warning("%s: 검토본을 직접 만들지 못해 openpyxl로 만듭니다", display_name, exc_info=True)
            _with_openpyxl(source, tmp, review)
        return _replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


class Review:
    """What a copy says, whichever way it is written: the problems (errors first) and the 검토결과 sheet's texts."""

    def __init__(self, problems: Sequence[Mapping[str, Any]], *, display_name: str, rejected: bool, as_of: date) -> None:
        self.problems = _errors_first(problems)
        self.errors, self.warnings = _severity_counts(problems)
        state = "반려" if rejected else "접수(확인 필요)"
        todo = "오류를 모두 고친 뒤 파일을 다시 제출 폴더(inbox)에 넣어 주세요." if self.errors else "경고 내용을 확인해 주세요."
        self.heading = (
            clean_text(f"{_TITLE_MARK} {display_name}")[0],
            f"{as_of.isoformat()} 기획예산과 검토 — {state}: 오류 {self.errors}건, 경고 {self.warnings}건. {todo}",
            "빨간 칸은 오류(고쳐야 접수), 노란 칸은 경고(확인 권장)입니다. 위치를 누르면 그 칸으로 가고, 칸의 메모에 고치는 방법이 있습니다.",
        )

    @property
    def last_row(self) -> int:
        return REVIEW_HEADER_ROW + max(len(self.problems), 1)

    @property
    def tab_colour(self) -> str:
        return "C00000" if self.errors else "FFC000"

    def rows(self, sheets: Sequence[str]) -> list[tuple[tuple[str, ...], bool, str | None]]:
        """Each problem's row of the 검토결과 table: (the five texts, an error?, where 위치 links to or None)."""
        rows = []
        for p in self.problems:
            where, sheet, ref = _position(p, sheets)
            is_error = p.get("severity") == "error"
            values = (where, p.get("column") or "", "오류" if is_error else "경고", p.get("title") or "", p.get("message") or "")
            link = _link(sheet, ref) if sheet is not None and ref is not None else None
            rows.append((tuple(clean_text(str(v))[0] for v in values), is_error, link))
        return rows

    def cells(self, sheets: Collection[str]) -> dict[str, dict[str, list[Mapping[str, Any]]]]:
        """The problems on each cell of the department's sheets, sheet → cell → problems."""
        by_sheet: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
        for p in self.problems:
            sheet, cell = p.get("sheet") or "", p.get("cell") or ""
            if sheet in sheets and is_cell_ref(cell):  # (a range, or a cell off the grid: listed, not marked)
                by_sheet.setdefault(sheet, {}).setdefault(cell, []).append(p)
        return by_sheet


def comment_text(items: Sequence[Mapping[str, Any]]) -> str:
    """A problem cell's comment: each of its problems, errors first."""
    return "\n".join(
        f"[{'오류' if p.get('severity') == 'error' else '경고'}] {p.get('title', '')}\n{p.get('message', '')}"
        for p in _errors_first(items)
    )


def severity_of(items: Sequence[Mapping[str, Any]]) -> str:
    return "error" if any(p.get("severity") == "error" for p in items) else "warning"


def _with_openpyxl(source: Path, tmp: Path, review: Review) -> None:
    import openpyxl  # here: openpyxl costs a fifth of a second to import

    with warnings.catch_warnings():  # "extension not supported" and the like: nothing for the user
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(source, rich_text=True, keep_links=True)
    _drop_previous_round(wb)
    _mark_cells(wb, review)
    _review_sheet(wb, review)
    wb.save(tmp)


def _replace(tmp: Path, target: Path) -> Path:
    from .write import move_into_place

    placed, beside = move_into_place(tmp, target)
    if beside:  # Windows: last night's copy is open in Excel; keep both
        log.warning("%s이(가) 열려 있어 %s(으)로 저장했습니다", target.name, placed.name)
    return placed


def _drop_previous_round(wb: Any) -> None:
    """A department may send our annotated copy back: take out our sheet, our comments and our
    colours, so that a cell it fixed is no longer red.  Ours: the author, or (LibreOffice saves comments
    without one) the text starting `[오류] `/`[경고] `; a fill of exactly our colours."""
    from openpyxl.styles import PatternFill

    for ws in list(wb.worksheets):
        if ws.title.startswith(REVIEW_SHEET) and str(ws["A1"].value or "").startswith(_TITLE_MARK):
            wb.remove(ws)
    for ws in wb.worksheets:
        # The stored cells only: iter_rows() would create every empty cell of the used range.
        for cell in list(getattr(ws, "_cells", {}).values()):  # a chartsheet has no cells
            comment = cell.comment
            if comment is not None and (comment.author == AUTHOR or (comment.text or "").startswith(_OUR_NOTES)):
                text = comment.text or ""
                original = text.split(ORIGINAL_MARK, 1)[1] if ORIGINAL_MARK in text else None
                cell.comment = _comment(original.strip(), "") if original else None
            if _our_fill(cell.fill):
                cell.fill = PatternFill(fill_type=None)


_OUR_NOTES = ("[오류] ", "[경고] ")


def _our_fill(fill: Any) -> bool:
    if getattr(fill, "fill_type", None) != "solid":
        return False
    colour = str(getattr(fill.fgColor, "rgb", "") or "")[-6:].upper()
    background = str(getattr(fill.bgColor, "rgb", "") or "")[-6:].upper()
    return colour in FILLS.values() and background == colour  # ours have both; Excel's 나쁨/보통 do not


def _comment(text: str, author: str) -> Any:
    from openpyxl.comments import Comment

    text = clean_text(text)[0]
    width, height = comment_box(text)
    return Comment(text, author or "", height=height, width=width)


def _mark_cells(wb: Any, review: Review) -> None:
    from openpyxl.styles import PatternFill

    anchored: dict[Any, list[Mapping[str, Any]]] = {}  # two problems in one merged range: one cell, both
    for sheet, cells in review.cells(wb.sheetnames).items():
        ws = wb[sheet]
        if not hasattr(ws, "merged_cells"):  # a chartsheet has no cells to mark
            continue
        for ref, items in cells.items():
            anchored.setdefault(_anchor(ws, ref), []).extend(items)
    for cell, items in anchored.items():
        colour = FILLS[severity_of(items)]
        cell.fill = PatternFill("solid", fgColor=colour, bgColor=colour)
        text = comment_text(items)
        previous = cell.comment
        if previous is not None and previous.author != AUTHOR and previous.text:
            text += ORIGINAL_MARK + previous.text
        cell.comment = _comment(text, AUTHOR)


def _anchor(ws: Any, ref: str) -> Any:
    """The cell that holds `ref`'s value: the top-left cell when `ref` is inside a merged range."""
    for merged in ws.merged_cells.ranges:
        if ref in merged:
            return ws.cell(merged.min_row, merged.min_col)
    return ws[ref]


def _review_sheet(wb: Any, review: Review) -> None:
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.worksheet.hyperlink import Hyperlink

    sheets = list(wb.sheetnames)
    title = REVIEW_SHEET if REVIEW_SHEET not in sheets else f"{REVIEW_SHEET}(coop-batch)"
    ws = wb.create_sheet(title, 0)
    for row, text in enumerate(review.heading, 1):
        ws.cell(row, 1, text)
    ws["A1"].font = Font(name=REVIEW_FONT, size=14, bold=True)
    ws["A2"].font = ws["A3"].font = Font(name=REVIEW_FONT, size=10, color=NOTE_RGB)
    thin = Side(style="thin", color=BORDER_RGB)
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    for c, text in enumerate(REVIEW_COLUMNS, 1):
        cell = ws.cell(REVIEW_HEADER_ROW, c, text)
        cell.font, cell.fill = Font(name=REVIEW_FONT, bold=True, color="FFFFFF"), PatternFill("solid", fgColor=HEADER_RGB)
        cell.border, cell.alignment = border, Alignment(horizontal="center", vertical="center")
    for i, (values, is_error, link) in enumerate(review.rows(sheets), REVIEW_HEADER_ROW + 1):
        for c, value in enumerate(values, 1):
            cell = ws.cell(i, c)
            if value:
                cell.value = value
                cell.data_type = "s"  # text, always: openpyxl would take '=...' for a formula
            cell.font, cell.border, cell.alignment = Font(name=REVIEW_FONT), border, Alignment(vertical="top", wrap_text=c == 5)
        ws.cell(i, 3).fill = PatternFill("solid", fgColor=FILLS["error" if is_error else "warning"])
        if link is not None:
            cell = ws.cell(i, 1)
            cell.hyperlink = Hyperlink(ref=cell.coordinate, location=link, display=values[0])
            cell.font = Font(name=REVIEW_FONT, color=LINK_RGB, underline="single")
    for letter, width in zip("ABCDE", REVIEW_WIDTHS):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = ws.cell(REVIEW_HEADER_ROW + 1, 1)
    ws.auto_filter.ref = f"A{REVIEW_HEADER_ROW}:E{review.last_row}"
    ws.sheet_properties.tabColor = review.tab_colour
    setup = ws.page_setup  # A4 landscape, one page wide, like the master's sheets
    setup.orientation, setup.paperSize, setup.fitToWidth, setup.fitToHeight = "landscape", ws.PAPERSIZE_A4, 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"{REVIEW_HEADER_ROW}:{REVIEW_HEADER_ROW}"
    ws.oddFooter.center.text = "&P / &N"
    for other in wb.worksheets:  # one selected tab, or Excel opens the book with sheets grouped
        if hasattr(other, "sheet_view"):
            other.sheet_view.tabSelected = other is ws
    wb.active = 0
