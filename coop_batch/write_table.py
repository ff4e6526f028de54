"""A table sheet's spec and its layout down to the header row: widths sampled from the first rows,
title block, header, and what the data rows are then written with (`write._write_table` writes
them; `write_ahead` renders them in a helper process with the very same layout).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol

from . import write_format as wf
from .write_format import SheetGroup, Styles
from .write_layout import ColumnSpec, _fit, _write_titles
from .write_rows import CellRenderer, CellXml, Rendered, renderers_supported

if TYPE_CHECKING:  # pragma: no cover
    from xlsxwriter.format import Format
    from xlsxwriter.worksheet import Worksheet

TOTAL_OPS = ("sum", "count")


@dataclass
class SheetSpec:
    name: str
    columns: Sequence[ColumnSpec]
    rows: Iterable[Sequence[Any]]  # may be a generator: consumed once, in order
    group: SheetGroup = "input"
    title: str | None = None
    subtitle: str | None = None
    total: dict[str, str] | None = None  # column title → 'sum' | 'count': a live total row
    note: str | None = None  # one line under the table (e.g. the rule applied)
    freeze_columns: int = 0  # leading columns kept in view when scrolling right (a matrix's row labels)
    ahead: RowsAhead | None = None  # its rows but the last, rendered by a helper process (no totals)
    # rows as tall as their wrapped text, for the printed copies: Excel fits a row to wrapped text on
    # screen, but LibreOffice and Hancom print such a row one line high, its text over the next rows
    fit_rows: bool = False


class RowsAhead(Protocol):
    """A table's rows rendered ahead by another process (`write_ahead.HistoryAhead`)."""

    def take(self) -> Rendered | None:
        """The rendered rows (waiting for them), or None: render them here."""

    def rest(self, start: int) -> Iterable[Sequence[Any]]:
        """The table's rows from `start` on."""


@dataclass
class Table:
    """A table sheet laid out down to its header row: what its data rows are written with."""

    columns: list[ColumnSpec]
    totals: dict[int, str]
    head: list[Sequence[Any]]  # the first rows, sampled for the widths
    rows: Iterator[Sequence[Any]]  # the rows after `head`
    header_row: int
    first: int  # the first data row (0-based)
    counter: wf.Counter
    writers: list[wf.CellWriter]
    wrapped: dict[int, float]  # column → its width, for the text columns that wrap
    renderers: list[CellRenderer] | None  # `CellXml` renderers, where the worksheet streams as they expect
    formats: tuple[Format, ...]  # each column's cell format and text format, in turn


def start_table(ws: Worksheet, spec: SheetSpec, styles: Styles, fast: bool = True) -> Table:
    """Widths, titles and header row of a table; its cell writers, and with `fast` its renderers
    (where the worksheet streams rows as they expect)."""
    columns = list(spec.columns)
    ncols = len(columns)
    if ncols == 0:
        raise ValueError(f"sheet {spec.name!r} has no columns")
    totals = _totals(spec, columns)
    rows = iter(spec.rows)
    head = list(islice(rows, wf.SAMPLE_ROWS))
    wraps, widths = _set_widths(ws, columns, head)
    text_formats = [styles.wrap if wrap else styles.text_for(col.type) for col, wrap in zip(columns, wraps)]
    cell_formats = [styles.cells.get(col.type, styles.text) for col in columns]

    header_row = _write_titles(ws, spec.title, spec.subtitle, ncols, styles)
    for c, column in enumerate(columns):
        ws.write_string(header_row, c, column.title, styles.header)
    first = header_row + 1

    counter = wf.Counter()
    writers = [
        wf.cell_writer(ws, col.type, fmt, text_fmt, counter)
        for col, fmt, text_fmt in zip(columns, cell_formats, text_formats)
    ]
    renderers = None
    if fast and renderers_supported(ws) and max(ws.row_info, default=-1) < first:
        cell_xml = CellXml(ws, counter)
        renderers = [
            cell_xml.column(col.type, fmt, text_fmt) for col, fmt, text_fmt in zip(columns, cell_formats, text_formats)
        ]
    formats = tuple(f for pair in zip(cell_formats, text_formats) for f in pair)
    wrapped = {c: widths[c] for c, wrap in enumerate(wraps) if wrap}
    return Table(columns, totals, head, rows, header_row, first, counter, writers, wrapped, renderers, formats)


LINE_HEIGHT = 15.0  # points: one line of the 10-point 맑은 고딕 the workbooks are written in


def fitted_rows(ws: Worksheet, rows: Iterable[Sequence[Any]], t: Table) -> Iterator[Sequence[Any]]:
    """`rows`, each row's height set first to the lines its wrapped text takes (`SheetSpec.fit_rows`)."""
    for number, values in enumerate(rows, start=t.first):
        lines = 1
        for c, width in t.wrapped.items():
            value = values[c] if c < len(values) else None
            if isinstance(value, str) and value:
                per_line = max(width - 1, 1)  # a cell's padding takes about a character
                lines = max(lines, sum(-(-max(wf.display_width(part), 1) // per_line) for part in value.split("\n")))
        if lines > 1:
            ws.set_row(number, LINE_HEIGHT * min(lines, 20))
        yield values


def rendered_ahead(spec: SheetSpec, t: Table, capacity: int) -> Rendered | None:
    """The rows a helper rendered for `spec`, when they are what this workbook would write: the same
    first row, the same style indices, room for them (else None, and they are rendered here)."""
    if spec.ahead is None or t.renderers is None or t.totals:
        return None
    got = spec.ahead.take()
    if got is None or not 0 < got.rows < capacity or got.first != t.first:
        return None
    if got.formats != tuple(f._get_xf_index() for f in t.formats):
        return None
    return got


def _totals(spec: SheetSpec, columns: list[ColumnSpec]) -> dict[int, str]:
    index = {col.title: c for c, col in enumerate(columns)}
    totals: dict[int, str] = {}
    for title, op in (spec.total or {}).items():
        if title not in index:
            raise ValueError(f"sheet {spec.name!r}: total on unknown column {title!r}")
        if op not in TOTAL_OPS:
            raise ValueError(f"sheet {spec.name!r}: total {op!r} on {title!r}; use one of {TOTAL_OPS}")
        if op == "sum" and columns[index[title]].type not in wf.NUMERIC_TYPES:
            raise ValueError(f"sheet {spec.name!r}: cannot sum the {columns[index[title]].type} column {title!r}")
        totals[index[title]] = op
    return totals


def _set_widths(
    ws: Worksheet, columns: Sequence[ColumnSpec], sample: list[Sequence[Any]]
) -> tuple[list[bool], list[float]]:
    """Fit each column to its title and sampled values; return which text columns must wrap, and the widths."""
    wraps, widths = [], []
    for c, column in enumerate(columns):
        # Each distinct string measured once: a sample repeats its department names and statuses.
        values = {id(v) if type(v) is not str else v: v for v in (row[c] for row in sample if c < len(row))}
        content = max((wf.measure(column.type, v) for v in values.values()), default=0)
        title = wf.display_width(column.title) + 3  # room for the autofilter button
        width = column.width if column.width is not None else _fit(max(content + 2, title))
        wraps.append(column.type in ("text", "status") and content + 1 > width)
        widths.append(width)
        ws.set_column(c, c, width)
    return wraps, widths
