"""What the table writer (`write.py`) and the dashboard writer (`write_summary.py`) share.

A column's spec, where a table landed (`SheetLayout`, for chart ranges), the title block
over a sheet and the width clamp.  Split out of `write.py` so that both writers import
these without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import write_format as wf
from .write_format import ColumnType, Styles, Tone

if TYPE_CHECKING:  # pragma: no cover
    from xlsxwriter.worksheet import Worksheet


@dataclass(frozen=True)
class ColumnSpec:
    title: str
    type: ColumnType = "text"
    width: float | None = None  # None: fit the title and the first rows
    tones: Mapping[str, Tone | None] | None = None  # extra words to colour (None removes a default)


@dataclass(frozen=True)
class SheetLayout:
    """Where a table landed, for chart ranges: rows are 0-based, `last_row` inclusive."""

    sheet: str
    header_row: int
    first_row: int
    last_row: int  # first_row - 1 when the table has no rows
    columns: Mapping[str, int]
    data: Mapping[str, list[Any]] | None = None  # values by column, kept for small summary tables

    @property
    def rows(self) -> int:
        return self.last_row - self.first_row + 1

    def col(self, title: str) -> int:
        try:
            return self.columns[title]
        except KeyError:
            raise ValueError(f"{self.sheet}: no column {title!r} (have {list(self.columns)})") from None

    def ref(self, title: str) -> list[Any]:
        col = self.col(title)
        return [self.sheet, self.first_row, col, self.last_row, col]


def _write_titles(ws: Worksheet, title: str | None, subtitle: str | None, span: int, styles: Styles) -> int:
    """Title and subtitle centred across the table (not merged: merging fights sorting and streaming)."""
    row = 0
    for text, fmt, height in ((title, styles.title, 30), (subtitle, styles.subtitle, None)):
        if not text:
            continue
        if height:
            ws.set_row(row, height)
        wf.write_literal(ws, row, 0, text, fmt)
        for c in range(1, span):
            ws.write_blank(row, c, None, fmt)
        row += 1
    return row + 1 if row else 0  # a blank spacer row under the titles


def _fit(width: float) -> float:
    return float(min(wf.MAX_WIDTH, max(wf.MIN_WIDTH, width)))
