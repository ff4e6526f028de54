"""Cells of the data sheet that hold an Excel error value (`#NAME?`, `#REF!`, `#DIV/0!`, ...), or a
formula whose result was never stored.

python-calamine 0.9 reads an error cell (`<c r="G2" t="e"><f>공원녹지과</f><v>#NAME?</v></c>`, a formula
whose cached result is an error) as "", exactly as it reads an empty cell, and cannot be asked for a
cell's type or formula.  So `read.py` asks here: the data sheet's part is found through `xl/workbook.xml`
and its relationships, read with zipfile, and searched for `t="e"`; only a sheet that has one is parsed,
with a regex, for the cells' positions, error values and formulas.  Text that merely reads `#N/A` (typed with a leading ', or in a
cell formatted as text) is a string in the XML, which calamine returns as text: it is never taken for
an error here.  A formula written by a program that does not calculate (openpyxl: `<c r="C2"><f>A2*2</f>
<v /></c>`) has no result to read either: calamine reads it as blank, and it is found here by its empty
or missing `<v>` (a formula whose result is the empty text, `t="str"` with `<v></v>`, was calculated).

Runs only after `safety.inspect_package` passed the file (every entry's size bounded and checked, so
zipfile may read it) and saw an error cell's mark in a part, and calamine read it; anything unexpected
(a part not found, a cell without its `r` position) means nothing found, never an exception.  A file
without an error cell, every template-made one, is not opened here at all.
"""

from __future__ import annotations

import html
import posixpath
import re
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO
from xml.etree import ElementTree

from .normalize import CellError
from .safety import ERROR_CELL_MARKS as _MARKS
from .safety import ERROR_TYPE_MARKS as _TYPE_MARKS

# A cell's start tag (any namespace prefix); the attributes start with the whitespace after `c`.
_CELL = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c(\s[^>]*?)?(/?)>")
_CELL_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?c\s*>")
_T_ERROR = re.compile(rb"""\st\s*=\s*["']e["']""")
_R = re.compile(rb"""\sr\s*=\s*["']\$?([A-Za-z]{1,3})\$?([1-9][0-9]{0,6})["']""")
_V = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?v(?:\s[^>]*)?>([^<]*)<")
_F = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f(?:\s[^>]*?)?(?:/>|>([^<]*)<)")
_T_TEXT = re.compile(rb"""\st\s*=\s*["'](?:str|s|inlineStr)["']""")


def error_cells(path: Path | BinaryIO, sheet: str) -> dict[tuple[int, int], CellError]:
    """(0-based row, 0-based column) → the error value of every error cell of `sheet` ({} when none);
    `path` may be the file's bytes, open (as the reader holds them when it read them ahead)."""
    try:
        with zipfile.ZipFile(path) as book:
            names = {name.replace("\\", "/").lower(): name for name in book.namelist()}

            def read(part: str) -> bytes | None:
                name = names.get(part.lower())
                return book.read(name) if name is not None else None

            book_xml, rels_xml = read("xl/workbook.xml"), read("xl/_rels/workbook.xml.rels")
            part = _read_parts(book_xml, rels_xml).get(sheet) if book_xml and rels_xml else None
            xml = read(part) if part else None
            if xml is None or not any(mark in xml for mark in _MARKS):
                return {}
            return _parse(xml)
    except (OSError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, ValueError,
            ElementTree.ParseError):
        return {}


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _read_parts(book_xml: bytes, rels_xml: bytes) -> dict[str, str]:
    # No DOCTYPE reaches here (safety.py refuses one), so ElementTree expands no entities.
    targets: dict[str, str] = {}
    for element in ElementTree.fromstring(rels_xml).iter():
        if _local(element.tag) == "Relationship" and element.get("TargetMode", "") != "External":
            target = element.get("Target", "").replace("\\", "/")
            path = target.lstrip("/") if target.startswith("/") else posixpath.join("xl", target)
            targets[element.get("Id", "")] = posixpath.normpath(path).lower()
    parts: dict[str, str] = {}
    for element in ElementTree.fromstring(book_xml).iter():
        if _local(element.tag) != "sheet":
            continue
        rid = next((v for k, v in element.attrib.items() if k.startswith("{") and _local(k) == "id"), "")
        name = element.get("name")
        if name is not None and rid in targets:
            parts.setdefault(name, targets[rid])
    return parts


def _column(letters: bytes) -> int:
    number = 0
    for ch in letters.upper():
        number = number * 26 + ch - 64
    return number - 1


def _text(raw: bytes) -> str:
    return html.unescape(raw.decode("utf-8", "replace")).strip()


def _parse(xml: bytes) -> dict[tuple[int, int], CellError]:
    """Each marked cell, found from its mark back to the start of its tag (no `<` can stand inside a
    tag; a cell's content holds no `<c`): a sheet of 200,000 cells is not walked cell by cell for the
    one that is an error."""
    found: dict[tuple[int, int], CellError] = {}
    for mark in _MARKS:
        in_tag = mark in _TYPE_MARKS
        at = xml.find(mark)
        while at >= 0:
            cell = _CELL.match(xml, xml.rfind(b"<", 0, at) if in_tag else _cell_start(xml, at))
            if cell is not None and (cell.end() > at) == in_tag:  # a type mark in the tag, a value mark after
                _add(found, xml, cell)
            at = xml.find(mark, at + len(mark))
    return found


def _cell_start(xml: bytes, at: int) -> int:
    """Where the cell tag before `at` starts (`<c ` or `<c>`, not `<col`); -1 when there is none."""
    start = xml.rfind(b"<c", 0, at)
    while start >= 0 and xml[start + 2 : start + 3] not in (b" ", b">", b"\t", b"\n", b"\r"):
        start = xml.rfind(b"<c", 0, start)
    return start


def _add(found: dict[tuple[int, int], CellError], xml: bytes, cell: re.Match[bytes]) -> None:
    attrs = cell.group(1) or b""
    if cell.group(2):
        return  # `<c r="A1"/>`: no content
    end = _CELL_END.search(xml, cell.end())
    where = _R.search(attrs)
    if end is None or where is None:
        return  # a cell placed by its order alone: not worth simulating calamine's count for
    inner = xml[cell.end() : end.start()]
    value = _V.search(inner)
    formula = _F.search(inner)
    if _T_ERROR.search(attrs):
        error = _text(value.group(1)) if value else ""
        if not error:
            return
    elif formula is not None and not (value and value.group(1).strip()) and not _T_TEXT.search(attrs):
        error = ""  # a formula never calculated: no result stored (an empty text result is t="str")
    else:
        return  # the mark was another attribute's value, or the formula has its result
    found[(int(where.group(2)) - 1, _column(where.group(1)))] = CellError(
        error, _text(formula.group(1) or b"") if formula else ""
    )
