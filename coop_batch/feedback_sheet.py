"""Marking a worksheet's problem cells in its XML text, for the annotated copy written without openpyxl
(feedback_patch.py): each problem cell takes a filled copy of its format (a cell or row not in the
file yet is added where it belongs), the tab is unselected and the comments' drawing is linked.  What
is not in the shape spreadsheet programs write raises `Unsupported` (feedback_xml.py)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence

from .feedback_xml import (
    ATTRS, REL_NS, Unsupported, attrs, col_letters, drop_attr, plain_markup, set_attr, split_ref, tag_re, tags,
)

# (`<` cannot appear in an attribute value, nor unescaped in text: `</row>` ends the row, once comments
# and CDATA are ruled out, which `plain_markup` does for every part edited.)
_ROW_RE = re.compile(rf"<row(?![\w.:-])({ATTRS})(?:/>|>([^<]*(?:<(?!/row>)[^<]*)*)</row>)")
_CELL_RE = re.compile(rf"<c(?![\w.:-])({ATTRS})(?:/>|>(.*?)</c>)", re.S)
_SHEET_DATA_START = re.compile(tag_re("sheetData"))

Restyle = Callable[[int, str], int]  # (the cell's format now, its severity) -> the format to give it


def _sheet_data(sheet: str) -> tuple[int, int, int, int]:
    """(start, inner start, inner end, end) of the worksheet's <sheetData>: a start tag and a `find`,
    not a lazy `.*?` over megabytes of rows."""
    m = _SHEET_DATA_START.search(sheet)
    if m is None:
        raise Unsupported("no sheetData")
    if m[2]:
        return m.start(), m.end(), m.end(), m.end()
    close = sheet.find("</sheetData>", m.end())
    if close < 0:
        raise Unsupported("no sheetData")
    return m.start(), m.end(), close, close + len("</sheetData>")


def mark_cells(sheet: str, marks: Mapping[str, str], restyle: Restyle) -> str:
    """The worksheet with each cell of `marks` (reference → severity) given `restyle(its format,
    severity)`; cells and rows that are not in the file yet are added where they belong."""
    start, inner_start, inner_end, end = _sheet_data(sheet)
    wanted: dict[int, dict[int, str]] = {}
    for ref, severity in marks.items():
        col, row = split_ref(ref)
        wanted.setdefault(row, {})[col] = severity
    pending = sorted(wanted)
    columns = _column_formats(sheet[:start])
    inner = plain_markup("sheetData", sheet[inner_start:inner_end])
    out: list[str] = []
    at = copied = 0
    for row_m in _ROW_RE.finditer(inner):
        if row_m.start() != at and inner[at:row_m.start()].strip():
            raise Unsupported("something other than rows in sheetData")
        at = row_m.end()
        row_attrs = attrs(row_m[1])  # (quote-aware: an attribute's value may hold ` r="…"`)
        if "r" not in row_attrs:
            raise Unsupported("a row without its number")
        number = int(row_attrs["r"])
        if not pending or pending[0] > number:
            continue  # most rows: left where they are, copied in one slice
        out.append(inner[copied:row_m.start()])
        copied = row_m.start()
        while pending and pending[0] < number:
            new = pending.pop(0)
            out.append(_new_row(new, wanted.pop(new), columns, restyle))
        if pending and pending[0] == number:
            pending.pop(0)
            out.append(_mark_row(row_m, number, row_attrs, wanted.pop(number), columns, restyle))
            copied = row_m.end()
    if inner[at:].strip():
        raise Unsupported("something other than rows in sheetData")
    out.append(inner[copied:])
    out += [_new_row(r, wanted[r], columns, restyle) for r in sorted(wanted)]
    data = f"<sheetData>{''.join(out)}</sheetData>"
    return _grow_dimension(sheet[:start], marks) + data + sheet[end:]


def _column_formats(head: str) -> list[tuple[int, int, int]]:
    """(first column, last column, format) of each `<col>` with a style: a new cell there takes it."""
    try:
        return [(int(a.get("min", "0")), int(a.get("max", "0")), int(a["style"])) for a in tags(head, "col") if "style" in a]
    except ValueError as exc:
        raise Unsupported(f"a column's format: {exc}") from exc


def _base_format(col: int, row_format: int | None, columns: Sequence[tuple[int, int, int]]) -> int:
    if row_format is not None:
        return row_format
    return next((style for first, last, style in columns if first <= col <= last), 0)


def _blank_cell(col: int, number: int, severity: str, row_format: int | None,
                columns: Sequence[tuple[int, int, int]], restyle: Restyle) -> str:
    """A marked cell the file did not have: its row's or column's format, restyled."""
    return f'<c r="{col_letters(col)}{number}" s="{restyle(_base_format(col, row_format, columns), severity)}"/>'


def _new_row(number: int, cols: Mapping[int, str], columns: Sequence[tuple[int, int, int]], restyle: Restyle) -> str:
    cells = "".join(_blank_cell(c, number, cols[c], None, columns, restyle) for c in sorted(cols))
    return f'<row r="{number}">{cells}</row>'


def _mark_row(row_m: re.Match[str], number: int, row_attrs: Mapping[str, str], cols: dict[int, str],
              columns: Sequence[tuple[int, int, int]], restyle: Restyle) -> str:
    custom = row_attrs.get("customFormat") in ("1", "true") and "s" in row_attrs
    row_format = int(row_attrs["s"]) if custom else None
    inner = row_m[2] or ""
    if "<extLst" in inner:  # cells go before it: a row with extensions is left to openpyxl
        raise Unsupported("a row with extensions")
    out: list[str] = []
    at = 0
    for cell_m in _CELL_RE.finditer(inner):
        out.append(inner[at:cell_m.start()])
        at = cell_m.end()
        cell_attrs = attrs(cell_m[1])
        ref = cell_attrs.get("r")
        if ref is None:
            raise Unsupported("a cell without its reference")
        col, row = split_ref(ref)
        if row != number:
            raise Unsupported("a cell outside its row")
        for new in sorted(c for c in cols if c < col):
            out.append(_blank_cell(new, number, cols.pop(new), row_format, columns, restyle))
        text = cell_m[0]
        if col in cols:
            start_end = text.index(">", cell_m.end(1) - cell_m.start()) + 1  # `<c ...>` or `<c .../>`
            restyled = restyle(int(cell_attrs.get("s", "0")), cols.pop(col))
            text = set_attr(text[:start_end], "s", str(restyled)) + text[start_end:]
        out.append(text)
    out.append(inner[at:])
    out += [_blank_cell(c, number, cols[c], row_format, columns, restyle) for c in sorted(cols)]
    start = drop_attr(f"<row{row_m[1]}>", "spans")  # the row's columns may have grown past what it said
    return f"{start}{''.join(out)}</row>"


def _grow_dimension(head: str, marks: Iterable[str]) -> str:
    m = re.search(tag_re("dimension"), head)
    if m is None:
        return head
    ref = attrs(m[0]).get("ref", "")
    first, _, last = ref.partition(":")
    try:
        (c1, r1), (c2, r2) = split_ref(first), split_ref(last or first)
    except Unsupported:
        return head
    for mark in marks:
        c, r = split_ref(mark)
        c1, r1, c2, r2 = min(c1, c), min(r1, r), max(c2, c), max(r2, r)
    grown = f"{col_letters(c1)}{r1}:{col_letters(c2)}{r2}"
    return head[: m.start()] + set_attr(m[0], "ref", grown) + head[m.end():]


_TAB_SELECTED_RE = re.compile(r"""\stabSelected\s*=\s*(?:"(?:1|true)"|'(?:1|true)')""")


def unselect(sheet: str) -> str:
    """The worksheet with its tab no longer selected (the copy opens on its 검토결과 sheet alone): in its
    sheet views, before <sheetData>, so that a cell's text that spells `tabSelected="1"` stays as it is."""
    head = _SHEET_DATA_START.search(sheet)
    end = head.start() if head is not None else len(sheet)
    return _TAB_SELECTED_RE.sub("", sheet[:end]) + sheet[end:]


# The worksheet's children that come after <legacyDrawing> in the schema's order.
_AFTER_LEGACY = {"legacyDrawingHF", "drawingHF", "picture", "oleObjects", "controls", "webPublishItems",
                 "tableParts", "extLst"}
_TAG_RE = re.compile(rf"<(/?)([A-Za-z_][\w.-]*(?::[\w.-]+)?){ATTRS}(/?)>")


def add_legacy_drawing(sheet: str, rel_id: str) -> str:
    """The worksheet with a `<legacyDrawing>` (the comments' shapes) where the schema puts it."""
    data_end = _sheet_data(sheet)[3]
    tail = plain_markup("the worksheet", sheet[data_end:])
    depth, at = 0, 0
    for m in _TAG_RE.finditer(tail):
        if tail[at:m.start()].count("<"):  # a tag the pattern could not read: do not guess where we are
            raise Unsupported("markup after sheetData this path does not read")
        at = m.end()
        closing, name, empty = m.groups()
        local = name.rpartition(":")[2]
        if closing:
            if depth == 0:  # </worksheet>
                break
            depth -= 1
            continue
        if depth == 0:
            if local in ("legacyDrawing", "AlternateContent"):
                raise Unsupported(f"the sheet has <{name}> already")
            if local in _AFTER_LEGACY:
                break
        if not empty:
            depth += 1
    else:
        raise Unsupported("the worksheet does not end")
    at = data_end + m.start()
    element = f'<legacyDrawing xmlns:r="{REL_NS}" r:id="{rel_id}"/>'
    return sheet[:at] + element + sheet[at:]
