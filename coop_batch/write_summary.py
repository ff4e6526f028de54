"""The 요약 dashboard: key figures, small tables and native Excel charts.

Split out of `write.py`, which lays the workbook and its table sheets out and calls in
here for a `SummarySpec`.  Figures run down the left (label | value | note), small
tables under them; charts sit to the right, stacked.  In `constant_memory` mode charts
get no cached values from the worksheet, so summary tables keep their values in
`SheetLayout.data` and pass them to the chart explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from . import write_format as wf
from .write_format import ColumnType, Styles
from .write_layout import ColumnSpec, SheetLayout, _fit, _write_titles

if TYPE_CHECKING:  # pragma: no cover
    from xlsxwriter.workbook import Workbook
    from xlsxwriter.worksheet import Worksheet

CHART_ROWS = 16  # rows between stacked charts (a 300 px chart over 20 px rows, plus a gap)


@dataclass(frozen=True)
class Figure:
    """A key figure on the dashboard: label, value, optional unit type and a short note."""

    label: str
    value: Any
    type: ColumnType | None = None  # None: inferred (int → count, Decimal → number, date, text)
    note: str = ""


@dataclass
class SummaryTable:
    """A small table on the dashboard; charts draw from it by its title."""

    title: str
    columns: Sequence[ColumnSpec]
    rows: Sequence[Sequence[Any]]


@dataclass(frozen=True)
class ChartSpec:
    """A native Excel chart on the summary sheet.

    `source` is a `SummaryTable` title or a sheet name (`SheetSpec.name`); `categories`
    and `values` are column titles of that source.  `secondary` columns are drawn as a
    line on a second axis (e.g. rank beside amount).
    """

    source: str
    categories: str
    values: Sequence[str]
    type: Literal["column", "bar", "line", "pie"] = "column"
    title: str = ""
    secondary: Sequence[str] = ()
    x_title: str | None = None
    y_title: str | None = None
    y2_title: str | None = None
    number_format: str = "#,##0"


@dataclass
class SummarySpec:
    """The 요약 dashboard: key figures, small tables, charts."""

    name: str = "요약"
    figures: Sequence[Figure | tuple[Any, ...]] = ()
    tables: Sequence[SummaryTable] = ()
    charts: Sequence[ChartSpec] = ()
    title: str | None = None
    subtitle: str | None = None
    note: str | None = None
    group: Literal["summary"] = "summary"


# ---------------------------------------------------------------------------------------------
# The summary dashboard: figures (label | value | note), then small tables; charts to the right.


def _write_summary(
    ws: Worksheet, name: str, spec: SummarySpec, styles: Styles, date_text: str, warnings: list[str]
) -> tuple[dict[str, SheetLayout], int, int]:
    figures = [_figure(f) for f in spec.figures]
    span = max([3, *(len(t.columns) for t in spec.tables)])
    _summary_widths(ws, figures, spec.tables, span)
    row = _write_titles(ws, spec.title or spec.name, spec.subtitle, span, styles)
    anchor_row = row
    counter = wf.Counter()
    if figures:
        ws.write_string(row, 0, "주요 지표", styles.caption)
        row += 1
        for fig in figures:
            ctype = fig.type or _infer_type(fig.value)
            wf.write_literal(ws, row, 0, fig.label, styles.figure_label)
            value_fmt = styles.figures.get(ctype, styles.figure_text)
            wf.cell_writer(ws, ctype, value_fmt, styles.figure_text, counter)(row, 1, fig.value)
            if fig.note:
                wf.write_literal(ws, row, 2, fig.note, styles.note)
            row += 1
        row += 1
    layouts: dict[str, SheetLayout] = {}
    for table in spec.tables:
        wf.write_literal(ws, row, 0, table.title, styles.caption)
        header_row = row + 1
        for c, column in enumerate(table.columns):
            ws.write_string(header_row, c, column.title, styles.header)
        writers = [
            wf.cell_writer(ws, col.type, styles.cells.get(col.type, styles.text), styles.text_for(col.type), counter)
            for col in table.columns
        ]
        data: dict[str, list[Any]] = {col.title: [] for col in table.columns}
        first = header_row + 1
        for i, values in enumerate(table.rows):
            for c, column in enumerate(table.columns):
                value = values[c] if c < len(values) else None
                writers[c](first + i, c, value)
                data[column.title].append(_chart_value(column.type, value))
        last = first + len(table.rows) - 1
        for c, column in enumerate(table.columns):
            wf.add_tones(ws, styles, first, last, c, wf.tones_for(column.type, None, column.tones))
        columns = {col.title: c for c, col in enumerate(table.columns)}
        layouts[table.title] = SheetLayout(name, header_row, first, last, columns, data)
        row = last + 2
    if spec.note:
        wf.write_literal(ws, row, 0, spec.note, styles.note)
    ws.hide_gridlines(2)
    # a dashboard is read at a glance: one A4 page, not a table spilling onto a second
    wf.print_setup(ws, repeat_row=None, date_text=date_text, tab="summary", pages_tall=1)
    return layouts, anchor_row, span + 1


def _figure(item: Figure | tuple[Any, ...]) -> Figure:
    if isinstance(item, Figure):
        return item
    return Figure(*item)


def _infer_type(value: Any) -> ColumnType:
    if isinstance(value, bool):
        return "yn"
    if isinstance(value, int):
        return "int"
    if isinstance(value, (Decimal, float)):
        return "number"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    return "text"


def _summary_widths(ws: Worksheet, figures: list[Figure], tables: Sequence[SummaryTable], span: int) -> None:
    widths = [0.0] * span
    for fig in figures:
        ctype = fig.type or _infer_type(fig.value)
        widths[0] = max(widths[0], wf.display_width(fig.label) + 2)
        # Figures are 12 pt bold (the sheet is 10 pt) and money figures end in 원.
        widths[1] = max(widths[1], (wf.measure(ctype, fig.value) + (2 if ctype == "money" else 0)) * 1.35 + 2)
    for table in tables:
        for c, column in enumerate(table.columns):
            content = max((wf.measure(column.type, r[c]) for r in table.rows if c < len(r)), default=0)
            widths[c] = max(widths[c], content + 2, wf.display_width(column.title) + 2)
    for c, width in enumerate(widths):
        ws.set_column(c, c, _fit(width))
    ws.set_column(span, span, 2)  # a narrow gutter before the charts


def _chart_value(ctype: str, value: Any) -> Any:
    """A value for a chart's cached data, as xlsxwriter would have read it from the cell."""
    if ctype in wf.NUMERIC_TYPES:
        number = wf.as_number(ctype, value)
        if number is not None:
            return f"{number:.16g}"
    if value is None:
        return None
    return wf.as_text(value)


_FONT = {"name": wf.FONT, "size": 9}


def _insert_charts(
    workbook: Workbook,
    ws: Worksheet,
    specs: Sequence[ChartSpec],
    layouts: Mapping[str, SheetLayout],
    anchor_row: int,
    anchor_col: int,
    warnings: list[str],
) -> None:
    placed = 0
    for spec in specs:
        if spec.source not in layouts:
            raise ValueError(f"chart {spec.title!r}: unknown source {spec.source!r} (have {list(layouts)})")
        layout = layouts[spec.source]
        if layout.rows <= 0:
            warnings.append(f"차트 '{spec.title or spec.source}': '{spec.source}'에 자료가 없어 넣지 않았습니다.")
            continue
        if spec.type == "pie" and (len(spec.values) != 1 or spec.secondary):
            raise ValueError(f"chart {spec.title!r}: a pie chart draws exactly one value column")
        chart = workbook.add_chart({"type": spec.type})
        for title in spec.values:
            chart.add_series(_series(layout, spec, title, secondary=False))
        if spec.secondary:
            line = workbook.add_chart({"type": "line"})
            for title in spec.secondary:
                line.add_series(_series(layout, spec, title, secondary=True))
            if spec.y2_title:
                line.set_y2_axis({"name": spec.y2_title, "name_font": _FONT, "num_font": _FONT})
            chart.combine(line)
        if spec.title:
            chart.set_title({"name": spec.title, "name_font": {"name": wf.FONT, "size": 11, "bold": True}})
        else:
            chart.set_title({"none": True})
        if spec.type != "pie":
            category = {"name": spec.x_title, "name_font": _FONT, "num_font": _FONT}
            value = {"name": spec.y_title, "name_font": _FONT, "num_font": _FONT, "num_format": spec.number_format}
            if spec.type == "bar":  # horizontal: xlsxwriter's x axis is the value axis; list rows top-down
                chart.set_x_axis(value)
                chart.set_y_axis({**category, "reverse": True, "crossing": "max"})
            else:
                chart.set_x_axis(category)
                chart.set_y_axis(value)
        series_count = len(spec.values) + len(spec.secondary)
        if spec.type == "pie" or series_count > 1:
            chart.set_legend({"position": "right" if spec.type == "pie" else "bottom", "font": _FONT})
        else:
            chart.set_legend({"none": True})
        chart.set_size({"width": 576, "height": 300})
        ws.insert_chart(anchor_row + placed * CHART_ROWS, anchor_col, chart, {"x_offset": 8, "y_offset": 4})
        placed += 1


def _series(layout: SheetLayout, spec: ChartSpec, title: str, *, secondary: bool) -> dict[str, Any]:
    col = layout.col(title)
    series: dict[str, Any] = {
        "name": [layout.sheet, layout.header_row, col],
        "categories": layout.ref(spec.categories),
        "values": layout.ref(title),
    }
    if spec.type == "pie":
        series["data_labels"] = {"percentage": True, "leader_lines": True, "font": _FONT}  # names: legend
    else:
        series["data_labels"] = {"value": True, "num_format": spec.number_format, "font": _FONT}
    if secondary:
        series["y2_axis"] = True
        series["marker"] = {"type": "circle", "size": 6}
    if layout.data is not None:  # constant_memory keeps no cell values for the chart cache: give them
        series["name_data"] = [title]
        series["categories_data"] = list(layout.data[spec.categories])
        series["values_data"] = list(layout.data[title])
    return series
