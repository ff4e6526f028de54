"""The annotated copy itself: a department's workbook with its problem cells filled and commented
and a first sheet `검토결과` listing every problem (see feedback.py for where copies go and when).

openpyxl loads and saves the filed workbook, so everything the department entered survives; only
the problem cells' fill and comment change.  Imported only where a copy is written (openpyxl and
its import cost stay out of the rest of the run).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from .write_format import clean_text

log = logging.getLogger("coop_batch")

REVIEW_SHEET = "검토결과"
REVIEW_COLUMNS = ("위치", "열", "구분", "문제", "내용")
AUTHOR = "기획예산과(coop-batch)"
ORIGINAL_MARK = "\n\n[원래 메모]\n"
FILLS = {"error": "FFC7CE", "warning": "FFEB9C"}  # Excel's light red / light amber presets
_TITLE_MARK = "검토결과:"  # first cell of a 검토결과 sheet we wrote (recognised on resubmission)


def _severity_counts(problems: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    errors = sum(p.get("severity") == "error" for p in problems)
    return errors, len(problems) - errors


def _position(problem: Mapping[str, Any], sheets: Sequence[str]) -> tuple[str, str | None, str | None]:
    """(text for 위치, sheet to link to or None, cell or None); a sheet-wide problem links to its A1."""
    sheet, cell = problem.get("sheet") or "", problem.get("cell") or ""
    if not sheet:
        return "파일 전체", None, None
    where = f"{sheet}!{cell}" if cell else f"{sheet} 시트"
    return (where, sheet, cell or "A1") if sheet in sheets else (where, None, None)


def _link(sheet: str, cell: str) -> str:
    return "'" + sheet.replace("'", "''") + "'!" + cell


def annotate_workbook(
    source: Path, target: Path, problems: Sequence[Mapping[str, Any]], *, display_name: str, rejected: bool, as_of: date
) -> Path:
    """Save `source` as `target` with problem cells filled and commented and a first 검토결과 sheet;
    returns the path written.  `problems` are `Problem.as_dict()` records, as the ledger keeps them."""
    import openpyxl  # here: openpyxl costs a fifth of a second to import

    with warnings.catch_warnings():  # "extension not supported" and the like: nothing for the user
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(source, rich_text=True, keep_links=True)
    _drop_previous_round(wb)
    ordered = sorted(problems, key=lambda p: p.get("severity") != "error")  # errors first, stable
    _mark_cells(wb, ordered)
    _review_sheet(wb, ordered, display_name=display_name, rejected=rejected, as_of=as_of)
    from .write import temp_beside

    tmp = temp_beside(target)
    try:
        wb.save(tmp)
        return _replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


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
    return colour in FILLS.values()


def _comment(text: str, author: str) -> Any:
    from openpyxl.comments import Comment

    text = clean_text(text)[0]
    lines = sum(1 + len(line) // 24 for line in text.split("\n"))
    return Comment(text, author or "", height=min(400, 24 + 16 * lines), width=320)


def _mark_cells(wb: Any, problems: Sequence[Mapping[str, Any]]) -> None:
    from openpyxl.styles import PatternFill

    by_cell: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for p in problems:
        sheet, cell = p.get("sheet") or "", p.get("cell") or ""
        if sheet in wb.sheetnames and cell:
            by_cell.setdefault((sheet, cell), []).append(p)
    for (sheet, ref), items in by_cell.items():
        ws = wb[sheet]
        cell = _anchor(ws, ref)
        severity = "error" if any(p.get("severity") == "error" for p in items) else "warning"
        cell.fill = PatternFill("solid", fgColor=FILLS[severity], bgColor=FILLS[severity])
        text = "\n".join(
            f"[{'오류' if p.get('severity') == 'error' else '경고'}] {p.get('title', '')}\n{p.get('message', '')}"
            for p in items
        )
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


def _review_sheet(
    wb: Any, problems: Sequence[Mapping[str, Any]], *, display_name: str, rejected: bool, as_of: date
) -> None:
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.worksheet.hyperlink import Hyperlink

    sheets = list(wb.sheetnames)
    title = REVIEW_SHEET if REVIEW_SHEET not in sheets else f"{REVIEW_SHEET}(coop-batch)"
    ws = wb.create_sheet(title, 0)
    font = "맑은 고딕"
    errors, warnings_ = _severity_counts(problems)
    state = "반려" if rejected else "접수(확인 필요)"
    todo = "오류를 모두 고친 뒤 파일을 다시 제출 폴더(inbox)에 넣어 주세요." if errors else "경고 내용을 확인해 주세요."
    ws["A1"] = clean_text(f"{_TITLE_MARK} {display_name}")[0]
    ws["A2"] = f"{as_of.isoformat()} 기획예산과 검토 — {state}: 오류 {errors}건, 경고 {warnings_}건. {todo}"
    ws["A3"] = "빨간 칸은 오류(고쳐야 접수), 노란 칸은 경고(확인 권장)입니다. 위치를 누르면 그 칸으로 가고, 칸의 메모에 고치는 방법이 있습니다."
    ws["A1"].font = Font(name=font, size=14, bold=True)
    ws["A2"].font = ws["A3"].font = Font(name=font, size=10, color="595959")
    header_row = 5
    thin = Side(style="thin", color="BFBFBF")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    for c, text in enumerate(REVIEW_COLUMNS, 1):
        cell = ws.cell(header_row, c, text)
        cell.font, cell.fill = Font(name=font, bold=True, color="FFFFFF"), PatternFill("solid", fgColor="1F4E79")
        cell.border, cell.alignment = border, Alignment(horizontal="center", vertical="center")
    for i, p in enumerate(problems, header_row + 1):
        where, sheet, ref = _position(p, sheets)
        is_error = p.get("severity") == "error"
        values = (where, p.get("column") or "", "오류" if is_error else "경고", p.get("title") or "", p.get("message") or "")
        for c, value in enumerate(values, 1):
            cell = ws.cell(i, c)
            if value:
                cell.value = clean_text(value)[0]
                cell.data_type = "s"  # text, always: openpyxl would take '=...' for a formula
            cell.font, cell.border, cell.alignment = Font(name=font), border, Alignment(vertical="top", wrap_text=c == 5)
        ws.cell(i, 3).fill = PatternFill("solid", fgColor=FILLS["error" if is_error else "warning"])
        if sheet is not None and ref is not None:
            link = ws.cell(i, 1)
            link.hyperlink = Hyperlink(ref=link.coordinate, location=_link(sheet, ref), display=where)
            link.font = Font(name=font, color="0563C1", underline="single")
    for letter, width in zip("ABCDE", (18, 14, 7, 16, 80)):
        ws.column_dimensions[letter].width = width
    last = header_row + max(len(problems), 1)
    ws.freeze_panes = ws.cell(header_row + 1, 1)
    ws.auto_filter.ref = f"A{header_row}:E{last}"
    ws.sheet_properties.tabColor = "C00000" if errors else "FFC000"
    setup = ws.page_setup  # A4 landscape, one page wide, like the master's sheets
    setup.orientation, setup.paperSize, setup.fitToWidth, setup.fitToHeight = "landscape", ws.PAPERSIZE_A4, 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.oddFooter.center.text = "&P / &N"
    for other in wb.worksheets:  # one selected tab, or Excel opens the book with sheets grouped
        if hasattr(other, "sheet_view"):
            other.sheet_view.tabSelected = other is ws
    wb.active = 0
