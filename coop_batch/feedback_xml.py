"""Editing a workbook's XML parts as text, for the annotated copy written without openpyxl
(feedback_patch.py): the style sheet grows by the formats the copy needs, a worksheet's problem
cells take a filled format, and its comments get their parts.

Only markup in the shape spreadsheet programs write is edited (the SpreadsheetML namespace as the
default one, every row and cell with its `r`, no XML comments or CDATA where we edit); anything
else raises `Unsupported`, and the copy is made through openpyxl instead.  Nothing is parsed into a
tree and written back: what we do not touch stays byte for byte what the department's program wrote.
A worksheet's own markup is edited in feedback_sheet.py.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

from .normalize import column_letter

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'  # of each part this writes
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
    """A 1-based column's letters (this module counts columns as the references do)."""
    return column_letter(col - 1)


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


# --- comments ---


def comments_xml(author: str, notes: Sequence[tuple[str, str]]) -> str:
    """The comments part: (cell, text) each, all by `author`."""
    items = "".join(f'<comment ref="{ref}" authorId="0"><text>{t_element(text)}</text></comment>' for ref, text in notes)
    return (f'{XML_DECL}<comments xmlns="{MAIN_NS}">'
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
