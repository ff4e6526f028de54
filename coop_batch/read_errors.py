"""Cells of the data sheet that hold an Excel error value (`#NAME?`, `#REF!`, `#DIV/0!`, ...).

python-calamine 0.9 reads an error cell (`<c r="G2" t="e"><f>공원녹지과</f><v>#NAME?</v></c>`, a formula
whose cached result is an error) as "", exactly as it reads an empty cell, and cannot be asked for a
cell's type or formula.  So `read.py` asks here: the data sheet's part is found through `xl/workbook.xml`
and its relationships (remembered by their compressed bytes: files made from one template share them),
inflated, and searched for `t="e"`; only a sheet that has one is parsed, with a regex, for the cells'
positions, error values and formulas.  Text that merely reads `#N/A` (typed with a leading ', or in a
cell formatted as text) is a string in the XML, which calamine returns as text: it is never taken for
an error here.

Runs only after `safety.inspect_package` passed the file and saw an error cell's mark in a part (it
inflates every part anyway), and calamine read it, so the zip is sound; anything unexpected (a part not
found, a cell without its `r` position) means nothing found, never an exception.  Cost when it runs, on
a 10 KB file: ~30–50 µs (reading the file again, three names looked up in the zip directory, the data
sheet inflated, the search); nothing for a file without an error cell, every template-made one.
"""

from __future__ import annotations

import html
import os
import posixpath
import re
import struct
import zlib
from pathlib import Path
from typing import Callable, Iterator
from xml.etree import ElementTree

from .normalize import CellError
from .safety import ERROR_CELL_MARKS as _MARKS
from .safety_limits import Limits, MiB, _Refused
from .safety_zip import _CD_RECORD, _central_directory, _Entry, _Source

_WHOLE_FILE_BYTES = 4 * MiB  # read into memory at once up to this size (as safety.py does)
_CHUNK = MiB
_STORED, _DEFLATED = 0, 8
_MARK_OVERLAP = 6

# A cell's start tag (any namespace prefix); the attributes start with the whitespace after `c`.
_CELL = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c(\s[^>]*?)?(/?)>")
_CELL_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?c\s*>")
_T_ERROR = re.compile(rb"""\st\s*=\s*["']e["']""")
_R = re.compile(rb"""\sr\s*=\s*["']\$?([A-Za-z]{1,3})\$?([1-9][0-9]{0,6})["']""")
_V = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?v(?:\s[^>]*)?>([^<]*)<")
_F = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f(?:\s[^>]*?)?(?:/>|>([^<]*)<)")

# (workbook.xml, its .rels), by their compressed bytes → sheet name → the sheet's part name (lower case)
_BOOKS: dict[tuple[bytes, bytes], dict[str, str]] = {}
_BOOKS_MAX = 64
_BOOK_PART_BYTES = 64 * 1024  # a workbook.xml worth remembering


def error_cells(path: Path, sheet: str, limits: Limits = Limits()) -> dict[tuple[int, int], CellError]:
    """(0-based row, 0-based column) → the error value of every error cell of `sheet` ({} when none)."""
    try:
        with open(path, "rb") as fp:
            size = os.fstat(fp.fileno()).st_size
            data = fp.read(size) if size <= _WHOLE_FILE_BYTES else None
            src = _Source(fp, data, size)
            find = _Directory(src, limits).find
            part = _sheet_parts(src, find).get(sheet)
            entry = find(part) if part else None
            if entry is None or not _has_mark(src, entry):
                return {}
            return _parse(_inflate_all(src, entry))
    except (OSError, _Refused, zlib.error, struct.error, ValueError, ElementTree.ParseError):
        return {}


class _Directory:
    """The zip's entries by name.  Three are wanted of a dozen: each is looked for by its name in the
    central directory's bytes (what parsing every record would cost is most of this module's time), and
    only a name not found so (another case, an odd zip) parses the whole directory."""

    def __init__(self, src: _Source, limits: Limits) -> None:
        self.src, self.limits = src, limits
        self.cd, self.shift = _cd_bytes(src)
        self.entries: dict[str, _Entry] | None = None

    def find(self, name: str) -> _Entry | None:
        needle = name.encode()
        at = self.cd.find(needle)
        while at >= 46:
            record = self.cd[at - 46 : at]
            if record.startswith(b"PK\x01\x02"):
                _, flags, method, crc, compressed, size, name_len, _, _, offset = _CD_RECORD.unpack(record)
                if name_len == len(needle) and 0xFFFFFFFF not in (compressed, size, offset):
                    return _Entry(name, flags, method, crc, compressed, size, offset + self.shift)
            at = self.cd.find(needle, at + 1)
        if self.entries is None:
            listed = _central_directory(self.src, self.limits)
            self.entries = {e.name.replace("\\", "/").lower(): e for e in listed}
        return self.entries.get(name.lower())


def _cd_bytes(src: _Source) -> tuple[bytes, int]:
    """The central directory's bytes and the offset shift (bytes before the zip); b"" for a zip64 one."""
    tail_len = min(src.size, 22 + 65535)
    tail = src.read(src.size - tail_len, tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22 or tail[at - 20 : at - 16] == b"PK\x06\x07":
        return b"", 0
    cd_size, cd_offset = struct.unpack_from("<LL", tail, at + 12)
    cd_start = src.size - tail_len + at - cd_size
    if cd_start < 0 or cd_start < cd_offset:
        return b"", 0
    return src.read(cd_start, cd_size), cd_start - cd_offset


def _data_at(src: _Source, entry: _Entry) -> int:
    header = src.read(entry.header_at, 30)
    if len(header) < 30 or not header.startswith(b"PK\x03\x04"):
        raise ValueError("no local header")
    name_len, extra_len = struct.unpack_from("<HH", header, 26)
    return entry.header_at + 30 + name_len + extra_len


def _raw(src: _Source, entry: _Entry) -> bytes:
    if entry.method not in (_STORED, _DEFLATED):
        raise ValueError("compression method")
    raw = src.read(_data_at(src, entry), entry.compressed)
    if len(raw) < entry.compressed:
        raise ValueError("truncated")
    return raw


def _chunks(src: _Source, entry: _Entry) -> Iterator[bytes]:
    """The part's inflated bytes in chunks of at most 1 MiB, never beyond its declared size."""
    raw = _raw(src, entry)
    if entry.method == _STORED:
        yield raw[: entry.size]
        return
    inflater = zlib.decompressobj(-15)
    left = entry.size
    while left > 0:
        out = inflater.decompress(raw, min(_CHUNK, left))
        raw = inflater.unconsumed_tail
        if not out:
            return
        left -= len(out)
        yield out


def _has_mark(src: _Source, entry: _Entry) -> bool:
    if entry.method == _DEFLATED and entry.size <= _CHUNK:  # every real sheet: one call
        window = zlib.decompressobj(-15).decompress(_raw(src, entry), entry.size)
        return any(mark in window for mark in _MARKS)
    tail = b""
    for chunk in _chunks(src, entry):
        window = tail + chunk
        if any(mark in window for mark in _MARKS):
            return True
        tail = window[-_MARK_OVERLAP:]
    return False


def _inflate_all(src: _Source, entry: _Entry) -> bytes:
    return b"".join(_chunks(src, entry))


def _sheet_parts(src: _Source, find: Callable[[str], _Entry | None]) -> dict[str, str]:
    """Sheet name → its worksheet part, from `xl/workbook.xml` and `xl/_rels/workbook.xml.rels`."""
    book, rels = find("xl/workbook.xml"), find("xl/_rels/workbook.xml.rels")
    if book is None or rels is None:
        return {}
    key = (_raw(src, book), _raw(src, rels))
    parts = _BOOKS.get(key)
    if parts is None:
        parts = _read_parts(_inflate_all(src, book), _inflate_all(src, rels))
        if len(key[0]) + len(key[1]) <= _BOOK_PART_BYTES:
            if len(_BOOKS) >= _BOOKS_MAX:
                _BOOKS.clear()
            _BOOKS[key] = parts
    return parts


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
    """Each error cell, found from its `t="e"` back to the start of its tag (no `<` can stand inside one):
    a sheet of 200,000 cells is not walked cell by cell for the one that is an error."""
    found: dict[tuple[int, int], CellError] = {}
    for mark in _MARKS:
        at = xml.find(mark)
        while at >= 0:
            cell = _CELL.match(xml, xml.rfind(b"<", 0, at))
            if cell is not None and cell.end() > at:  # the mark is in a cell's tag, not in a text
                _add(found, xml, cell)
            at = xml.find(mark, at + len(mark))
    return found


def _add(found: dict[tuple[int, int], CellError], xml: bytes, cell: re.Match[bytes]) -> None:
    attrs = cell.group(1) or b""
    if cell.group(2) or not _T_ERROR.search(attrs):
        return  # no value, or the mark was another attribute's value
    end = _CELL_END.search(xml, cell.end())
    where = _R.search(attrs)
    if end is None or where is None:
        return  # a cell placed by its order alone: not worth simulating calamine's count for
    inner = xml[cell.end() : end.start()]
    value = _V.search(inner)
    error = _text(value.group(1)) if value else ""
    if error:
        formula = _F.search(inner)
        found[(int(where.group(2)) - 1, _column(where.group(1)))] = CellError(
            error, _text(formula.group(1) or b"") if formula else ""
        )
