"""A table's data rows, written two ways that give the same bytes.

`write_rows` sends every cell through xlsxwriter's API (`write_format.cell_writer`).
`stream_rows` renders whole rows of `<c>` elements itself (`CellXml`) and appends them to the
sheet's row file: a cell through xlsxwriter's API cost ~8 µs more than its value's coercion,
a second of a 5,000-file night.  It leans on xlsxwriter 3's constant_memory internals, so it
runs only where `renderers_supported` says they are as expected, and tests/test_write.py
compares the bytes of both paths over hostile values.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .write_format import (
    EXCEL_MAX_CHARS,
    NUMERIC_TYPES,
    CellWriter,
    Counter,
    as_date,
    as_text,
    clean_text,
    exact_number,
    literal_runs,
    looks_rich,
    rich_runs_xml,
)

if TYPE_CHECKING:  # pragma: no cover
    from xlsxwriter.format import Format
    from xlsxwriter.worksheet import Worksheet

    from .write_layout import ColumnSpec


# ---------------------------------------------------------------------------------------------
# Cell renderers: the fast path for a table's data rows.  Through xlsxwriter's API a cell costs
# ~8 µs more than its value's coercion (argument wrapper, dimension checks, a namedtuple per
# cell, attribute escaping and three regex passes when the row is flushed): 1 s of a 5,000-file
# night.  A renderer returns the `<c>` element, after its `r="B7"`, that `cell_writer` plus
# xlsxwriter 3 would have written, memoised per column (department names, statuses and dates
# repeat), and `stream_rows` appends whole rows to the sheet's row file.  Odd strings
# take `clean_text` and xlsxwriter's own escaping; tests/test_write.py compares the bytes of
# both paths over hostile values.

CellRenderer = Callable[[Any], str]
MEMO_LIMIT = 4096  # values remembered per column: names repeat, SHA-256 digests and paths do not
# Whatever the plain path cannot copy as it is: characters to strip or escape, xlsxwriter's
# `_xHHHH_` literals (which it escapes again) and a `<r>…</r>` rich-text marker.
_NOT_PLAIN_RE = re.compile("[\x00-\x1f&<>\ufffe\uffff\ud800-\udfff]|_x[0-9a-fA-F]{4}_")


def renderers_supported(ws: Worksheet) -> bool:
    """Whether `ws` streams rows the way the renderers reproduce (xlsxwriter 3, constant_memory)."""
    import xlsxwriter

    return (
        xlsxwriter.__version__.split(".")[0] == "3"
        and bool(getattr(ws, "constant_memory", False))
        and getattr(ws, "excel_version", None) != 2010  # would add an attribute to every <row>
        and getattr(ws, "default_row_height", None) == getattr(ws, "original_row_height", 0)
        and all(
            callable(getattr(ws, name, None))
            for name in ("_write_single_row", "_escape_control_characters", "_escape_data", "_convert_date_time")
        )
    )


class CellXml:
    """Builds the renderers of one worksheet's columns.

    A format gets its index on first use, as it would when xlsxwriter flushes the row, so
    rendering cells in row order keeps the styles part identical too (the last row of a table,
    which xlsxwriter flushes later, goes through `cell_writer`: see `write._stream_rows`).
    """

    def __init__(self, ws: Worksheet, counter: Counter) -> None:
        from xlsxwriter.utility import _preserve_whitespace

        self._ws = ws
        self._counter = counter
        self._preserve = _preserve_whitespace
        self._attrs: dict[int, str] = {}

    def _s(self, fmt: Format) -> str:
        got = self._attrs.get(id(fmt))
        if got is None:
            got = self._attrs[id(fmt)] = f' s="{fmt._get_xf_index()}"'
        return got

    def _text(self, s: str, text: str, fmt: Format) -> tuple[str, bool]:
        """(element, cut) for text, as `write_text` then xlsxwriter's `_write_cell` would write it."""
        if not text:
            return s + "/>", False
        if (
            len(text) <= EXCEL_MAX_CHARS // 2
            and not _NOT_PLAIN_RE.search(text)
            and not text[0].isspace()  # the same test as xlsxwriter's `\s` for xml:space
            and not text[-1].isspace()
            and (text.isascii() or unicodedata.is_normalized("NFC", text))
        ):
            return f'{s} t="inlineStr"><is><t>{text}</t></is></c>', False
        text, cut = clean_text(text)
        if looks_rich(text):  # as `write_text` writes it: two plain runs (escaped as they are built)
            runs = self._ws._escape_control_characters(rich_runs_xml(self._ws, literal_runs(text, fmt)))
            return f'{s} t="inlineStr"><is>{runs}</is></c>', cut
        text = self._ws._escape_control_characters(text)
        space = ' xml:space="preserve"' if self._preserve(text) else ""
        return f'{s} t="inlineStr"><is><t{space}>{self._ws._escape_data(text)}</t></is></c>', cut

    def column(self, ctype: str, fmt: Format, text_fmt: Format) -> CellRenderer:
        """The renderer twin of `cell_writer(ws, ctype, fmt, text_fmt, counter)`."""
        counter, s, text_xml = self._counter, self._s, self._text
        texts: dict[str, str] = {}  # text → its element
        cut: set[str] = set()  # the texts Excel cannot hold whole: counted each time they are written

        def text_cell(value: Any) -> str:
            text = value if type(value) is str else as_text(value)  # yn: as_text(True) is "Y"
            got = texts.get(text)
            if got is None:
                if len(texts) >= MEMO_LIMIT:
                    texts.clear()
                    cut.clear()
                got, was_cut = text_xml(s(text_fmt), text, text_fmt)
                texts[text] = got
                if was_cut:
                    cut.add(text)
            if cut and text in cut:
                counter.truncated += 1
            return got

        if ctype in ("text", "status", "yn"):
            return text_cell

        # The format's attribute, resolved at the column's first blank, number or date: not before.
        attr = ""  # (every cell has a format: a format-less blank, which xlsxwriter drops, never occurs)

        def s_fmt() -> str:
            nonlocal attr
            attr = s(fmt)
            return attr

        if ctype in NUMERIC_TYPES:

            def number_cell(value: Any) -> str:
                number = exact_number(ctype, value)
                if number is None:
                    return (attr or s_fmt()) + "/>" if value is None or value == "" else text_cell(value)
                return f"{attr or s_fmt()}><v>{number:.16G}</v></c>"

            return number_cell

        convert = self._ws._convert_date_time
        moments: dict[Any, str] = {}

        def date_cell(value: Any) -> str:
            if value is None or value == "":
                return (attr or s_fmt()) + "/>"
            kind = type(value)
            # Only exact types: aware datetimes at one instant compare equal across zones.
            key = (kind, value) if kind is date or kind is str or (kind is datetime and value.tzinfo is None) else None
            got = moments.get(key) if key is not None else None
            if got is not None:
                return got
            moment = as_date(ctype, value)
            if moment is None:
                return text_cell(value)
            got = f"{attr or s_fmt()}><v>{convert(moment):.16G}</v></c>"
            if key is not None:
                if len(moments) >= MEMO_LIMIT:
                    moments.clear()
                moments[key] = got
            return got

        return date_cell


def _fitting(
    name: str, data: Iterator[Sequence[Any]], ncols: int, capacity: int, dropped: list[int]
) -> Iterator[Sequence[Any]]:
    """The rows up to Excel's limit (`capacity`); those past it are only counted, in `dropped[0]`."""
    kept = 0
    for values in data:
        if kept >= capacity:
            dropped[0] += 1  # keep counting, to say how many did not fit
            continue
        if len(values) > ncols:
            raise ValueError(f"sheet {name!r}: a row has {len(values)} values for {ncols} columns")
        kept += 1
        yield values


def write_rows(
    name: str,
    data: Iterator[Sequence[Any]],
    writers: list[CellWriter],
    ncols: int,
    totals: dict[int, str],
    first: int,
    capacity: int,
) -> tuple[int, int, dict[int, int | Decimal]]:
    """The general path: every cell through xlsxwriter's API.  Returns (written, dropped, sums)."""
    sums: dict[int, int | Decimal] = {c: 0 for c in totals}
    written, dropped = 0, [0]
    for values in _fitting(name, data, ncols, capacity, dropped):
        r = first + written
        if totals:
            for c, value in enumerate(values):
                got = writers[c](r, c, value)
                if c in totals:
                    if totals[c] == "sum":
                        sums[c] += got or 0
                    elif value is not None and value != "":
                        sums[c] += 1
        else:
            for c, value in enumerate(values):
                writers[c](r, c, value)
        for c in range(len(values), ncols):
            writers[c](r, c, None)
        written += 1
    return written, dropped[0], sums


@dataclass(frozen=True)
class Rendered:
    """A table's data rows but the last, rendered by another process (`write_ahead`): the bytes
    `stream_rows` would have appended, and what they assume of this workbook."""

    first: int  # the first data row (0-based), as laid out under the titles and header
    rows: int  # rows rendered
    xml: bytes  # their `<row>` elements, UTF-8
    truncated: int  # cells among them cut to Excel's limit
    formats: tuple[int, ...]  # style index of each column's cell format and text format, in turn


def row_template(ncols: int) -> str:
    """One format string per row, not an f-string per cell: `{0}` is the row number, `{c+1}` a cell."""
    from xlsxwriter.utility import xl_col_to_name

    return '<row r="{0}">' + "".join(f'<c r="{xl_col_to_name(c)}{{0}}"{{{c + 1}}}' for c in range(ncols)) + "</row>"


def render_rows(name: str, rows: Sequence[Sequence[Any]], renderers: list[CellRenderer], first: int) -> str:
    """`rows` as `stream_rows` appends them when they start at row `first` (0-based)."""
    template = row_template(len(renderers))
    fitting = _fitting(name, iter(rows), len(renderers), len(rows), [0])
    return "".join(_row_xml(template, renderers, values, first + 1 + i) for i, values in enumerate(fitting))


def _row_xml(template: str, renderers: list[CellRenderer], values: Sequence[Any], number: int) -> str:
    """One `<row>`, numbered as Excel counts (from 1); a short row is padded with blanks."""
    if len(values) < len(renderers):
        values = (*values, *(None,) * (len(renderers) - len(values)))
    return template.format(number, *map(operator.call, renderers, values))  # each renderer on its value, in C


def stream_rows(
    ws: Worksheet,
    name: str,
    data: Iterator[Sequence[Any]],
    renderers: list[CellRenderer],
    writers: list[CellWriter],
    columns: list[ColumnSpec],
    totals: dict[int, str],
    first: int,
    capacity: int,
    ahead: Rendered | None = None,
) -> tuple[int, int, dict[int, int | Decimal]]:
    """The fast path: whole rows of rendered cells appended to the sheet's row file, the same
    bytes as `write_rows` (see `CellXml`).  With `ahead` (a table without totals), its rows come
    first and `data` holds the rows after them.

    The last row goes through `write_rows` all the same: xlsxwriter keeps it pending until the
    next write or the close, and a format first used there must get its index at that moment.
    """
    ncols = len(columns)
    template = row_template(ncols)
    sums: dict[int, int | Decimal] = {c: 0 for c in totals}
    sum_types = {c: columns[c].type for c, op in totals.items() if op == "sum"}
    write = None
    chunk: list[str] = []
    written, dropped = 0, [0]
    if ahead is not None and ahead.rows:
        ws._write_single_row(first)  # the header row, then the rows rendered ahead, as bytes
        # (Under the text layer: on Windows its newlines differ on disk, but xlsxwriter reads this
        # file back in text mode, so the sheet gets the same text either way.)
        ws.fh.flush()
        ws.fh.buffer.write(ahead.xml)
        write, written, capacity = ws.fh.write, ahead.rows, capacity - ahead.rows
    pending: Sequence[Any] | None = None
    for values in _fitting(name, data, ncols, capacity, dropped):
        if pending is not None:
            if write is None:
                ws._write_single_row(first)  # flush the header row, as the first data cell would
                write = ws.fh.write
            # first + written: the pending row's number as Excel counts (from 1)
            chunk.append(_row_xml(template, renderers, pending, first + written))
            if len(chunk) >= 64:
                write("".join(chunk))
                chunk.clear()
        if totals:
            for c, op in totals.items():
                value = values[c] if c < len(values) else None
                if op == "sum":
                    sums[c] += exact_number(sum_types[c], value) or 0
                elif value is not None and value != "":
                    sums[c] += 1
        pending = values
        written += 1
    if chunk:
        write("".join(chunk))  # type: ignore[misc]  # set with the first chunked row
    if pending is None:  # no row at all, or only those rendered ahead
        _went_around(ws, first, first + written - 1, ncols)
        return written, dropped[0], sums
    last = first + written - 1
    _went_around(ws, first, last - 1, ncols)
    write_rows(name, iter([pending]), writers, ncols, {}, last, 1)
    return written, dropped[0], sums


def _went_around(ws: Worksheet, first: int, last: int, ncols: int) -> None:
    """Rows first..last went around xlsxwriter: record them as its writes would have."""
    if last < first:
        return
    ws.previous_row = last
    ws.dim_rowmin = first if ws.dim_rowmin is None else min(ws.dim_rowmin, first)
    ws.dim_rowmax = last if ws.dim_rowmax is None else max(ws.dim_rowmax, last)
    ws.dim_colmin = 0
    ws.dim_colmax = ncols - 1 if ws.dim_colmax is None else max(ws.dim_colmax, ncols - 1)
