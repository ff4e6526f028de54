"""Editing a workbook's XML parts as text, for the annotated copy written without openpyxl
(feedback_patch.py): the style sheet grows by the formats the copy needs, a worksheet's problem
cells take a filled format, and its comments get their parts.

Only markup in the shape spreadsheet programs write is edited (the SpreadsheetML namespace as the
default one, every row and cell with its `r`, no XML comments or CDATA where we edit); anything
else raises `Unsupported`, and the copy is made through openpyxl instead.  Nothing is parsed into a
tree and written back: what we do not touch stays byte for byte what the department's program wrote.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


class Unsupported(Exception):
    """The package holds something this path does not edit: the caller writes the copy with openpyxl."""


# --- attributes and text ---

_ATTR_RE = re.compile(r"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
# A start tag's attributes, quotes respected: XML allows a raw `>` (even `/>`) inside a value.
ATTRS = r"""(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*"""


def tag_re(name: str) -> str:
    """A pattern for the start (or empty) tag `name`; group 1 its attributes, group 2 `/` when empty."""
    return rf"<{name}(?![\w.:-])({ATTRS})(/?)>"


def attrs(tag: str) -> dict[str, str]:
    """The attributes of a start tag (its text from `<` to `>`), unescaped."""
    return {m[1]: html.unescape(m[2] if m[2] is not None else m[3]) for m in _ATTR_RE.finditer(tag)}


def set_attr(tag: str, name: str, value: str) -> str:
    """The start tag with attribute `name` set to `value` (replaced where it is, else added last)."""
    new = f'{name}="{esc_attr(value)}"'
    pattern = re.compile(rf"""(?<=\s){re.escape(name)}\s*=\s*(?:"[^"]*"|'[^']*')""")
    if pattern.search(tag):
        return pattern.sub(lambda _: new, tag, count=1)
    end = len(tag) - (2 if tag.endswith("/>") else 1)
    return f"{tag[:end].rstrip()} {new}{tag[end:]}"


def drop_attr(tag: str, name: str) -> str:
    return re.sub(rf"""\s{re.escape(name)}\s*=\s*(?:"[^"]*"|'[^']*')""", "", tag)


def esc_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def esc_attr(text: str) -> str:
    return (esc_text(text).replace('"', "&quot;")
            .replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;"))


def t_element(text: str) -> str:
    """A `<t>` holding `text`, spaces and line breaks kept."""
    keep = ' xml:space="preserve"' if text != text.strip() or "\n" in text else ""
    return f"<t{keep}>{esc_text(text)}</t>"


def root_tag(xml: str, name: str) -> str:
    """The start tag of the part's root element `name`, which must bind SpreadsheetML as the default
    namespace (a part with prefixed elements, or Strict OOXML, is not edited here)."""
    m = re.search(tag_re(name), xml)
    if m is None or attrs(m[0]).get("xmlns") != MAIN_NS:
        raise Unsupported(f"{name}: not transitional SpreadsheetML as the default namespace")
    return m[0]


def section(xml: str, name: str) -> re.Match[str]:
    """`<name ...>inner</name>` (group 1 the start tag, group 2 the inner text); Unsupported if absent."""
    m = re.search(rf"(<{name}(?![\w.:-]){ATTRS}>)(.*?)</{name}>", xml, re.S)
    if m is None:
        raise Unsupported(f"no <{name}>")
    return m


def tags(xml: str, name: str) -> list[dict[str, str]]:
    """The attributes of every `<name>` start or empty tag in `xml`."""
    return [attrs(m[1]) for m in re.finditer(tag_re(name), xml)]


def plain_markup(name: str, xml: str) -> str:
    """`xml` when it holds no comment, CDATA section or processing instruction past its declaration
    (where a tag could hide that a text search would take for one); Unsupported otherwise."""
    body = xml[xml.index("?>") + 2:] if xml.lstrip("\ufeff \r\n\t").startswith("<?xml") and "?>" in xml else xml
    if "<!--" in body or "<![CDATA[" in body or "<?" in body or "<!DOCTYPE" in body:
        raise Unsupported(f"{name} holds comments, CDATA or processing instructions")
    return xml


# --- cell references ---

_REF_RE = re.compile(r"([A-Z]{1,3})([1-9][0-9]{0,6})")
MAX_COL, MAX_ROW = 16384, 1048576  # XFD1048576, Excel's last cell


def split_ref(ref: str) -> tuple[int, int]:
    """(column, row), both from 1, of `C7`; Unsupported for anything else, or off Excel's grid."""
    m = _REF_RE.fullmatch(ref)
    if m is None:
        raise Unsupported(f"cell reference {ref!r}")
    col = 0
    for letter in m[1]:
        col = col * 26 + ord(letter) - 64
    if col > MAX_COL or int(m[2]) > MAX_ROW:
        raise Unsupported(f"cell reference {ref!r} off the grid")
    return col, int(m[2])


def is_cell_ref(ref: str) -> bool:
    """A single cell on Excel's grid (`C7`), what a copy can mark; not a range, not past XFD1048576."""
    try:
        split_ref(ref)
    except Unsupported:
        return False
    return True


def col_letters(col: int) -> str:
    letters = ""
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def anchor(ref: str, merged: Iterable[str]) -> str:
    """The cell that holds `ref`'s value: the top-left one when `ref` is inside a merged range."""
    col, row = split_ref(ref)
    for area in merged:
        first, _, last = area.partition(":")
        (c1, r1), (c2, r2) = split_ref(first), split_ref(last or first)
        if c1 <= col <= c2 and r1 <= row <= r2:
            return first
    return ref


def merged_ranges(sheet: str) -> list[str]:
    return [a.get("ref", "") for a in tags(sheet, "mergeCell")]


# --- the style sheet ---


class StyleSheet:
    """styles.xml with formats appended: fonts, fills, borders and cell formats (`cellXfs`), each
    new one at the end of its list (the indices the cells already use stay what they were)."""

    LISTS = {"fonts": "font", "fills": "fill", "borders": "border", "cellXfs": "xf"}

    def __init__(self, xml: str) -> None:
        root_tag(xml, "styleSheet")
        self.xml = xml
        self._added: dict[str, list[str]] = {name: [] for name in self.LISTS}
        self._lists = {name: self._items(name) for name in self.LISTS}  # as the file has them
        if not all(self._lists.values()) or "<cellStyleXfs" not in xml:
            raise Unsupported("a style list is empty")
        self._filled: dict[tuple[int, str], int] = {}
        self._fill_ids: dict[str, int] = {}

    def _items(self, name: str) -> list[str]:
        inner = section(self.xml, name)[2]
        child = self.LISTS[name]
        return [m[0] for m in re.finditer(rf"<{child}(?![\w.:-]){ATTRS}(?:/>|>.*?</{child}>)", inner, re.S)]

    def has_fill_of(self, colours: Iterable[str]) -> bool:
        """Whether some fill is solid with fore- and background both one of `colours` (RRGGBB): how a
        copy of ours fills a problem cell (Excel's own 나쁨/보통 fills leave the background out)."""
        wanted = {c.upper() for c in colours}
        for fill in self._lists["fills"]:
            colours_of = {m[1]: attrs(m[2]).get("rgb", "")[-6:].upper()
                          for m in re.finditer(rf"<(fgColor|bgColor)({ATTRS})/?>", fill)}
            solid = re.search(r"""patternType\s*=\s*["']solid["']""", fill) is not None
            if solid and len(colours_of) == 2 and len(set(colours_of.values())) == 1:
                if colours_of["fgColor"] in wanted:
                    return True
        return False

    def add(self, name: str, element: str) -> int:
        """Append `element` to list `name`; its index."""
        self._added[name].append(element)
        return len(self._lists[name]) + len(self._added[name]) - 1

    def fill(self, rgb: str) -> int:
        """A solid fill of colour `rgb` (RRGGBB), added once."""
        if rgb not in self._fill_ids:
            colour = f'rgb="FF{rgb}"'
            self._fill_ids[rgb] = self.add(
                "fills", f'<fill><patternFill patternType="solid"><fgColor {colour}/><bgColor {colour}/></patternFill></fill>'
            )
        return self._fill_ids[rgb]

    def filled(self, base: int, rgb: str) -> int:
        """The cell format `base` with a solid fill of `rgb`: font, border, number format and alignment kept."""
        key = (base, rgb)
        if key not in self._filled:
            xfs = self._lists["cellXfs"]
            if not 0 <= base < len(xfs):
                raise Unsupported(f"cell format {base} out of range")
            xf = xfs[base]
            end = re.match(rf"<xf{ATTRS}/?>", xf).end()  # type: ignore[union-attr]  (_items matched it)
            start = set_attr(set_attr(xf[:end], "fillId", str(self.fill(rgb))), "applyFill", "1")
            self._filled[key] = self.add("cellXfs", start + xf[end:])
        return self._filled[key]

    def text(self) -> str:
        xml = self.xml
        for name, added in self._added.items():
            if not added:
                continue
            m = section(xml, name)
            start = set_attr(m[1], "count", str(len(self._lists[name]) + len(added)))
            xml = f"{xml[:m.start()]}{start}{m[2]}{''.join(added)}</{name}>{xml[m.end():]}"
        return xml


# --- marking a worksheet's cells ---

# (`<` cannot appear in an attribute value, nor unescaped in text: `</row>` ends the row, once comments
# and CDATA are ruled out, which `plain_markup` does for every part edited.)
_ROW_RE = re.compile(rf"<row(?![\w.:-])({ATTRS})(?:/>|>(.*?)</row>)", re.S)
_CELL_RE = re.compile(rf"<c(?![\w.:-])({ATTRS})(?:/>|>(.*?)</c>)", re.S)
_SHEET_DATA_RE = re.compile(rf"<sheetData(?![\w.:-]){ATTRS}(?:/>|>(.*?)</sheetData>)", re.S)

Restyle = Callable[[int, str], int]  # (the cell's format now, its severity) -> the format to give it


def mark_cells(sheet: str, marks: Mapping[str, str], restyle: Restyle) -> str:
    """The worksheet with each cell of `marks` (reference → severity) given `restyle(its format,
    severity)`; cells and rows that are not in the file yet are added where they belong."""
    m = _SHEET_DATA_RE.search(sheet)
    if m is None:
        raise Unsupported("no sheetData")
    wanted: dict[int, dict[int, str]] = {}
    for ref, severity in marks.items():
        col, row = split_ref(ref)
        wanted.setdefault(row, {})[col] = severity
    columns = _column_formats(sheet[: m.start()])
    inner = plain_markup("sheetData", m[1] or "")
    out: list[str] = []
    at = 0
    for row_m in _ROW_RE.finditer(inner):
        if inner[at:row_m.start()].strip():
            raise Unsupported("something other than rows in sheetData")
        at = row_m.end()
        row_attrs = attrs(row_m[1])
        if "r" not in row_attrs:
            raise Unsupported("a row without its number")
        number = int(row_attrs["r"])
        for new in sorted(r for r in wanted if r < number):
            out.append(_new_row(new, wanted.pop(new), columns, restyle))
        out.append(inner[row_m.start():row_m.end()] if number not in wanted else
                   _mark_row(row_m, number, row_attrs, wanted.pop(number), columns, restyle))
    if inner[at:].strip():
        raise Unsupported("something other than rows in sheetData")
    out.append(inner[at:])
    out += [_new_row(r, wanted[r], columns, restyle) for r in sorted(wanted)]
    data = f"<sheetData>{''.join(out)}</sheetData>"
    return _grow_dimension(sheet[: m.start()], marks) + data + sheet[m.end():]


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


def _new_row(number: int, cols: Mapping[int, str], columns: Sequence[tuple[int, int, int]], restyle: Restyle) -> str:
    cells = "".join(
        f'<c r="{col_letters(c)}{number}" s="{restyle(_base_format(c, None, columns), cols[c])}"/>' for c in sorted(cols)
    )
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
            severity = cols.pop(new)
            out.append(f'<c r="{col_letters(new)}{number}" s="{restyle(_base_format(new, row_format, columns), severity)}"/>')
        text = cell_m[0]
        if col in cols:
            start_end = text.index(">", cell_m.end(1) - cell_m.start()) + 1  # `<c ...>` or `<c .../>`
            restyled = restyle(int(cell_attrs.get("s", "0")), cols.pop(col))
            text = set_attr(text[:start_end], "s", str(restyled)) + text[start_end:]
        out.append(text)
    out.append(inner[at:])
    out += [f'<c r="{col_letters(c)}{number}" s="{restyle(_base_format(c, row_format, columns), cols[c])}"/>'
            for c in sorted(cols)]
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


def unselect(sheet: str) -> str:
    """The worksheet with its tab no longer selected (the copy opens on its 검토결과 sheet alone)."""
    return re.sub(r"""\stabSelected\s*=\s*(?:"(?:1|true)"|'(?:1|true)')""", "", sheet)


# The worksheet's children that come after <legacyDrawing> in the schema's order.
_AFTER_LEGACY = {"legacyDrawingHF", "drawingHF", "picture", "oleObjects", "controls", "webPublishItems",
                 "tableParts", "extLst"}
_TAG_RE = re.compile(rf"<(/?)([A-Za-z_][\w.-]*(?::[\w.-]+)?){ATTRS}(/?)>")


def add_legacy_drawing(sheet: str, rel_id: str) -> str:
    """The worksheet with a `<legacyDrawing>` (the comments' shapes) where the schema puts it."""
    end = _SHEET_DATA_RE.search(sheet)
    if end is None:
        raise Unsupported("no sheetData")
    tail = plain_markup("the worksheet", sheet[end.end():])
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
    at = end.end() + m.start()
    element = f'<legacyDrawing xmlns:r="{REL_NS}" r:id="{rel_id}"/>'
    return sheet[:at] + element + sheet[at:]


# --- comments ---


def comments_xml(author: str, notes: Sequence[tuple[str, str]]) -> str:
    """The comments part: (cell, text) each, all by `author`."""
    items = "".join(f'<comment ref="{ref}" authorId="0"><text>{t_element(text)}</text></comment>' for ref, text in notes)
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<comments xmlns="{MAIN_NS}">'
            f"<authors><author>{esc_text(author)}</author></authors><commentList>{items}</commentList></comments>")


def comment_box(text: str) -> tuple[int, int]:
    """(width, height) in pixels of a comment's box, as the openpyxl path sizes it."""
    lines = sum(1 + len(line) // 24 for line in text.split("\n"))
    return 320, min(400, 24 + 16 * lines)


def shape_blocks(first: int, notes: int) -> list[int]:
    """The blocks of 1,024 shape ids a drawing of `notes` shapes takes, from block `first` (its idmap)."""
    return list(range(first, first + notes // 1024 + 1))


def vml_xml(blocks: Sequence[int], notes: Sequence[tuple[str, str]]) -> str:
    """The legacy drawing that shows the comments of one sheet (Excel needs it to show them); its
    shapes are numbered in `blocks` (`shape_blocks`), apart from every other drawing's."""
    shapes = []
    for i, (ref, text) in enumerate(notes, 1):
        col, row = split_ref(ref)
        width, height = comment_box(text)
        shapes.append(
            f'<v:shape id="_x0000_s{blocks[0] * 1024 + i}" type="#_x0000_t202" style="position:absolute;'
            f"margin-left:59.25pt;margin-top:1.5pt;width:{width}px;height:{height}px;z-index:{i};"
            f'visibility:hidden" fillcolor="#ffffe1" o:insetmode="auto"><v:fill color2="#ffffe1"/>'
            f'<v:shadow on="t" color="black" obscured="t"/><v:path o:connecttype="none"/>'
            f'<v:textbox style="mso-direction-alt:auto"><div style="text-align:left"></div></v:textbox>'
            f'<x:ClientData ObjectType="Note"><x:MoveWithCells/><x:SizeWithCells/><x:AutoFill>False</x:AutoFill>'
            f"<x:Row>{row - 1}</x:Row><x:Column>{col - 1}</x:Column></x:ClientData></v:shape>"
        )
    return (
        '<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
        'xmlns:x="urn:schemas-microsoft-com:office:excel">'
        f'<o:shapelayout v:ext="edit"><o:idmap v:ext="edit" data="{",".join(map(str, blocks))}"/></o:shapelayout>'
        '<v:shapetype id="_x0000_t202" coordsize="21600,21600" o:spt="202" path="m,l,21600r21600,l21600,xe">'
        '<v:stroke joinstyle="miter"/><v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>'
        f"{''.join(shapes)}</xml>"
    )
