"""The byte-level scan of every XML part in a submitted package, as it is inflated.

Split out of `safety.py`, which inflates each zip entry in bounded chunks and feeds
them here.  Refuses a `<!DOCTYPE` (entity bombs, external entities) or an encoding that
is not ASCII-compatible in the prolog, and bounds the dense cell grid calamine would
allocate for the part: a fast regex check when every cell is in the shape Excel writes,
otherwise an exact simulation of calamine's cell positions.  `judge_prolog`, `plain_prolog`
and `odd_cells` do the same checks on a whole part at once (the small-entry fast path).
"""

from __future__ import annotations

import codecs
import re

from .safety_limits import KiB, Limits, MiB, _Refused

# --- XML parts: prolog and cell-grid extent -----------------------------------------------

_PROLOG_MAX = MiB
_SAFE_ENCODING = re.compile(
    rb"utf-?8|(us-)?ascii|iso[-_]?8859[-_]\d{1,2}|latin-?1|(windows|cp)-?125\d|euc-kr|cp949|uhc|"
    rb"ks_c_5601-1987|x-windows-949|shift_jis|euc-jp|gb2312|gbk|gb18030|big5",
    re.I,
)
_XML_DECL_ENCODING = re.compile(rb"""encoding\s*=\s*["']([^"']*)["']""")
_PLAIN_PROLOG = re.compile(rb'<\?xml version="1\.0" encoding="UTF-8"(?: standalone="yes")?\?>[ \t\r\n]*<[A-Za-z]')
# A cell tag in the shape Excel, LibreOffice, openpyxl and xlsxwriter write (`r` first, within A..Z
# and below row 100,000, then only s/t/cm/vm/ph-like attributes: a second `r` would win in calamine):
# when every cell looks like that the grid is at most 26 x 99,999, found at C speed without reading
# each reference (a Python loop per cell would cost as much as calamine itself).
_ODD_CELL = re.compile(rb'<c(?=[\s/>])(?! r="[A-Z][1-9][0-9]{0,4}"(?: [a-qs-z][\w.:-]*="[^"<>]*")*/?>)')
_PREFIXED_CELL = re.compile(rb":c[\s/>]")  # two searches: an alternation loses re's fast literal scan
_FAST_ROWS, _FAST_COLS = 99_999, 26
# Exact mode: quick-xml ends a tag at the first '>' outside quotes; attributes are name="value".
_TAG_START = re.compile(rb"</?(?:[^\s<>/:!?\"']+:)?(?:row|c)(?=[\s/>])")
_TAG = re.compile(
    rb"<(/?)(?:[^\s<>/:!?\"']+:)?(row|c)((?:\s+[^\s=<>/\"']+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*(/?)>"
)
_TAG_END = re.compile(rb"<[^\"'>]*(?:(?:\"[^\"]*\"|'[^']*')[^\"'>]*)*>")
_TAG_WINDOW = 64 * KiB  # no real row/cell tag is longer; a longer one is refused, not skipped
_R_ATTR = re.compile(rb"""(?:^|\s)r\s*=\s*(["'])(.*?)\1""", re.S)
_REF = re.compile(rb"([A-Za-z]*)([0-9]+)")


def judge_prolog(head: bytes, final: bool) -> bool:
    """Walk the prolog (BOM, declaration, comments, PIs) of a part's first bytes: True once the first
    element is reached, False when more bytes are needed; refuses a DOCTYPE or an unsafe encoding."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or head[:4] in (
        b"<\x00?\x00", b"\x00<\x00?", b"<\x00\x00\x00", b"\x00\x00\x00<"
    ):
        raise _Refused("file-unsafe", "지원하지 않는 문자 인코딩(UTF-16/32)의 XML")
    at = 3 if head.startswith(codecs.BOM_UTF8) else 0
    while True:
        while at < len(head) and head[at] in b" \t\r\n":
            at += 1
        rest = head[at : at + 4]
        if len(rest) < 4 and not final:
            break  # need more bytes to judge
        if rest.startswith(b"<?"):
            end = head.find(b"?>", at)
            if end < 0:
                break
            match = _XML_DECL_ENCODING.search(head, at, end)
            if match and not _SAFE_ENCODING.fullmatch(match.group(1)):
                raise _Refused("file-unsafe", "지원하지 않는 문자 인코딩의 XML")
            at = end + 2
        elif rest.startswith(b"<!--"):
            end = head.find(b"-->", at + 4)
            if end < 0:
                break
            at = end + 3
        elif rest.startswith(b"<!"):  # <!DOCTYPE: entity bombs, external entities (XXE)
            raise _Refused("file-unsafe", "XML에 DOCTYPE(엔티티 선언)이 있음")
        else:  # the first element (or not XML at all): the prolog is over
            return True
    if len(head) > _PROLOG_MAX:
        raise _Refused("file-unsafe", "XML 머리말이 비정상적으로 김")
    return False


def plain_prolog(data: bytes) -> bool:
    """True when the part opens with the declaration every spreadsheet writer emits and then an
    element: judge_prolog could only accept it, and one match costs less than its walk."""
    return _PLAIN_PROLOG.match(data) is not None


def fast_grid_fits(limits: Limits) -> bool:
    """Whether canonical cells (A..Z, rows below 100,000) are within the limits whatever they are."""
    fits = _FAST_ROWS <= limits.max_rows and _FAST_COLS <= limits.max_cols
    return fits and _FAST_ROWS * _FAST_COLS <= limits.max_cells


def odd_cells(data: bytes) -> bool:
    """A whole part's cells are not all in Excel's canonical shape: the same verdict _PartScanner's
    streamed search reaches (a canonical tag holds no `<`, so cutting at the last `<` splits none).
    No `in` pre-test here: over a whole part re's literal-prefix scan is faster than `in` (20 µs/file)."""
    return _ODD_CELL.search(data) is not None or _PREFIXED_CELL.search(data) is not None


class _PartScanner:
    """Streams one zip entry.  Refuses a DOCTYPE or a non-ASCII-compatible encoding in the prolog,
    and bounds the cell grid calamine would allocate if the part were read as a sheet.  Every entry
    is scanned whatever its name or content: the workbook's relationships, not the name, say which
    part calamine reads as a sheet, and quick-xml reads past junk in front of the XML."""

    def __init__(self, limits: Limits, exact: bool) -> None:
        self.limits = limits
        self.exact = exact
        self.head: bytes | None = None if exact else b""  # None once the prolog is judged
        self.carry = b""
        self.needs_exact = False
        self.row = self.col = 0  # calamine's running position (exact mode), 0-based
        self.max_row = self.max_col = 0  # 1-based extent seen so far (exact mode)

    def feed(self, data: bytes, final: bool = False) -> None:
        if self.head is not None:
            self.head = self.head + data if self.head else data
            self._prolog(final)
        buf = self.carry + data if self.carry else data
        if self.exact:
            self.carry = self._simulate(buf, final)
            if final:
                self._bound(self.max_row, self.max_col)
            return
        cut = len(buf) if final else buf.rfind(b"<")
        if cut < 0 or len(buf) - cut > MiB:
            cut = len(buf)
        if not self.needs_exact and cut:  # `in` first: most parts have no cells, a regex call costs more
            self.needs_exact = bool(
                (b"<c" in buf and _ODD_CELL.search(buf, 0, cut)) or (b":c" in buf and _PREFIXED_CELL.search(buf, 0, cut))
            )
        self.carry = buf[cut:] if cut < len(buf) else b""
        if final and not self.needs_exact:
            self.needs_exact = not fast_grid_fits(self.limits)

    def _prolog(self, final: bool) -> None:
        if judge_prolog(self.head or b"", final):
            self.head = None

    def _simulate(self, buf: bytes, final: bool) -> bytes:
        """calamine's cells_reader, position for position: `<row r>` sets the row, `</row>` advances
        it, `<c r>` sets the column and every `<c>` advances it; self-closing tags are ignored as
        quick-xml's Empty events are.  Returns the unfinished tail to carry into the next chunk."""
        pos = 0
        for start in _TAG_START.finditer(buf):
            at = start.start()
            if at < pos:
                continue
            window = at + _TAG_WINDOW
            tag = _TAG.match(buf, at, window)
            if tag is None:
                end = _TAG_END.match(buf, at, window)
                if end is not None:  # malformed attributes: calamine fails on the tag, no cell
                    pos = end.end()
                    continue
                if window > len(buf) and not final:
                    return buf[at:]
                raise _Refused("file-unsafe", "시트 XML의 태그가 비정상적으로 김")
            pos = tag.end()
            closing, name, attrs, empty = tag.groups()
            if empty:
                continue
            if name == b"row":
                if closing:
                    self.row, self.col = self.row + 1, 0
                elif (refs := self._refs(attrs)) is not None:
                    self.row = max(r for r, _ in refs)
                continue
            if closing:
                continue
            refs = self._refs(attrs)
            if refs:
                row = max(r for r, _ in refs)
                self.col = max(c for _, c in refs)
            else:
                row = self.row
            self.max_row = max(self.max_row, row + 1)
            self.max_col = max(self.max_col, self.col + 1)
            self.col += 1
            self._bound(self.max_row, self.max_col, (row, self.col - 1))
        tail = buf.rfind(b"<", pos)
        return buf[tail:] if not final and tail >= 0 and len(buf) - tail < 256 else b""

    def _refs(self, attrs: bytes) -> list[tuple[int, int]] | None:
        """(row, col) 0-based of each `r` attribute (a duplicate may win in calamine: take them all)."""
        found = _R_ATTR.findall(attrs)
        if not found:
            return None
        refs = []
        for _, value in found:
            match = _REF.fullmatch(value)
            if match is None:  # calamine refuses it; but say nothing we cannot bound is fine
                continue
            number = int(match.group(2))
            row = number - 1 if number > 0 else 2**32  # row 0 underflows in calamine's u32
            refs.append((row, _col_index(match.group(1)) if match.group(1) else 0))
        return refs or None

    def _bound(self, rows: int, cols: int, cell: tuple[int, int] | None = None) -> None:
        """`cell`: the cell (0-based) that took the sheet this far, named so that the clerk can delete a
        value typed far below or right of the table (Ctrl+End in Excel goes there)."""
        lim = self.limits
        if rows > lim.max_rows or cols > lim.max_cols:
            detail = f"시트 범위 {rows:,}행 × {cols:,}열, 한도 {lim.max_rows:,}행 × {lim.max_cols:,}열"
        elif rows * cols > lim.max_cells:
            detail = f"시트 범위 {rows:,}행 × {cols:,}열 = {rows * cols:,}셀, 한도 {lim.max_cells:,}셀"
        else:
            return
        if cell is not None and cell[0] < 2**32:
            from .normalize import column_letter

            where = f"{column_letter(cell[1])}{cell[0] + 1}"
            detail = f"{where} 칸에 값이 있어 {detail}: 필요 없는 값이면 그 칸을 지우고 저장해 주세요"
        raise _Refused("file-too-large", detail)


def _col_index(letters: bytes) -> int:
    index = 0
    for ch in letters.upper()[:8]:  # 8 letters already exceed any limit; bounds the arithmetic
        index = index * 26 + ch - 64
    return index - 1
