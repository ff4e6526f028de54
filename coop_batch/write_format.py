"""The look and the safety of written workbooks: formats, widths, tones, typed cell writers.

Split out of `write.py`, which lays sheets out; this module decides how one value
becomes one cell.  Two rules drive it:

* a user's text is always text — it is written with `write_string` even when it
  starts with `=`, `+`, `-` or `@`, stripped of characters XML cannot hold and
  cut to Excel's 32,767-character limit with a visible marker;
* a value that does not fit its column's type (a money column holding `미정`) is
  written as text rather than dropped or raised: errors are data.

Money is int or Decimal end to end: xlsxwriter formats the number itself, so no
float arithmetic happens here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from .normalize import cell_text, to_date, to_decimal

if TYPE_CHECKING:  # pragma: no cover
    from xlsxwriter.format import Format
    from xlsxwriter.workbook import Workbook
    from xlsxwriter.worksheet import Worksheet

ColumnType = Literal["text", "int", "number", "money", "date", "datetime", "yn", "status", "percent"]
SheetGroup = Literal["summary", "input", "roster", "status", "log"]
Tone = Literal["bad", "warn", "good"]

FONT = "맑은 고딕"
FONT_SIZE = 10
MAX_WIDTH = 60.0  # a wider column no longer fits a landscape page; its text wraps instead
MIN_WIDTH = 6.0
SAMPLE_ROWS = 200  # rows sampled for column widths (rows are streamed, so only a head is seen)
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_CHARS = 32_767
TRUNCATION_MARK = " …(이하 생략: 엑셀 셀 한도 32,767자 초과, 원문 {n:,}자)"

NUM_FORMATS: dict[str, str] = {
    "int": "0",  # 연번, 순위, 연도: no thousands separator (2016, not 2,016)
    "number": "General",
    "money": "#,##0",
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm:ss",
    "percent": "0.0%",
}
NUMERIC_TYPES = frozenset({"int", "number", "money", "percent"})

TAB_COLOURS: dict[str, str] = {
    "summary": "#1F4E79",
    "input": "#5B9BD5",
    "roster": "#70AD47",
    "status": "#ED7D31",
    "log": "#7F7F7F",
}
# Excel's own "light red / yellow / green fill with dark text" presets, familiar to users.
TONE_STYLES: dict[str, tuple[str, str]] = {
    "bad": ("#9C0006", "#FFC7CE"),
    "warn": ("#9C5700", "#FFEB9C"),
    "good": ("#006100", "#C6EFCE"),
}
YN_TONES: dict[str, Tone] = {"Y": "good", "N": "bad"}
DEFAULT_TONES: dict[str, Tone] = {
    **YN_TONES,
    "반려": "bad",
    "미제출": "bad",
    "지연": "bad",
    "오류": "bad",
    "실패": "bad",
    "누락": "bad",
    "미통보": "bad",
    "불가": "bad",
    "경고": "warn",
    "보류": "warn",
    "대기": "warn",
    "중복": "warn",
    "확인필요": "warn",
    "접수": "good",
    "제출": "good",
    "정상": "good",
    "완료": "good",
    "승인": "good",
}

# XML 1.0 cannot carry these at all (tab, LF and CR are fine); lone surrogates cannot be encoded.  And
# the invisible bidirectional overrides and isolates (U+202A–202E, U+2066–2069): pasted into a cell they
# reorder what Excel shows ('대책\u202e역방향'), so a reader sees other text than the file holds.
_ILLEGAL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
_SHEET_BAD_RE = re.compile(r"[\[\]:*?/\\]")


def clean_text(text: str) -> tuple[str, bool]:
    """Text safe for a cell: NFC, no XML-illegal characters, within Excel's limit.

    Returns (text, truncated).  Length is counted in UTF-16 units, as Excel does.
    """
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if _ILLEGAL_RE.search(text):
        text = _ILLEGAL_RE.sub("", text)
    if len(text) <= EXCEL_MAX_CHARS // 2 or _utf16_len(text) <= EXCEL_MAX_CHARS:
        return text, False
    mark = TRUNCATION_MARK.format(n=len(text))
    keep = EXCEL_MAX_CHARS - len(mark)
    head = text[:keep]
    while (excess := _utf16_len(head) - keep) > 0:  # astral characters take two units each
        head = head[: len(head) - (excess + 1) // 2]
    return head + mark, True


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def display_width(text: str) -> int:
    """Width in Excel character units: East-Asian wide (and ambiguous) characters count double."""
    if text.isascii():
        return max((len(line) for line in text.split("\n")), default=0)
    best = 0
    for line in text.split("\n"):
        width = 0
        for ch in line:
            if "\uac00" <= ch <= "\ud7a3":  # Hangul syllables, the common case
                width += 2
            elif ch < "\u0100":
                width += 1
            else:
                width += 2 if unicodedata.east_asian_width(ch) in "WFA" else 1
        best = max(best, width)
    return best


def sheet_name(name: str, used: set[str]) -> str:
    """A legal, unique sheet name: ≤ 31 chars, none of []:*?/\\, not 'History', no edge apostrophes."""
    base = _SHEET_BAD_RE.sub("_", _ILLEGAL_RE.sub("", unicodedata.normalize("NFC", name))).strip().strip("'")
    if not base or base.casefold() == "history":
        base = (base + "_") if base else "시트"
    base = base[:31]
    candidate, n = base, 1
    while candidate.casefold() in used:
        n += 1
        suffix = f"({n})"
        candidate = base[: 31 - len(suffix)] + suffix
    used.add(candidate.casefold())
    return candidate


def header_text(text: str) -> str:
    """Text for a page header/footer: `&` is a control character there."""
    return text.replace("&", "&&")


class Styles:
    """Every format a workbook uses, created once (xlsxwriter formats are per workbook)."""

    def __init__(self, workbook: Workbook) -> None:
        add = workbook.add_format
        border = {"border": 1, "border_color": "#BFBFBF", "valign": "top"}
        self.header = add(
            {
                "bold": True,
                "font_color": "#FFFFFF",
                "bg_color": "#1F4E79",
                "border": 1,
                "border_color": "#BFBFBF",
                "align": "center",
                "valign": "vcenter",
                "text_wrap": True,
            }
        )
        self.title = add({"bold": True, "font_size": 15, "center_across": True, "valign": "vcenter"})
        self.subtitle = add({"font_color": "#595959", "center_across": True})
        self.note = add({"italic": True, "font_color": "#595959"})
        self.caption = add({"bold": True, "font_size": 11, "font_color": "#1F4E79"})
        self.text = add(border)
        self.wrap = add({**border, "text_wrap": True})
        self.centre = add({**border, "align": "center"})  # Y/N and status words
        self.cells: dict[str, Format] = {t: add({**border, "num_format": f}) for t, f in NUM_FORMATS.items()}
        total = {**border, "bold": True, "bg_color": "#F2F2F2", "top": 2, "top_color": "#595959"}
        self.total_label = add(total)
        self.totals: dict[str, Format] = {t: add({**total, "num_format": f}) for t, f in NUM_FORMATS.items()}
        figure = {**border, "bold": True, "font_size": 12, "valign": "vcenter"}
        self.figure_label = add({**border, "bold": True, "bg_color": "#DDEBF7", "valign": "vcenter"})
        self.figure_text = add(figure)
        self.figures: dict[str, Format] = {
            t: add({**figure, "num_format": '#,##0"원"' if t == "money" else ("#,##0" if t == "int" else f)})
            for t, f in NUM_FORMATS.items()
        }
        self.tones: dict[str, Format] = {
            tone: add({"font_color": fg, "bg_color": bg}) for tone, (fg, bg) in TONE_STYLES.items()
        }
        # The data cells' formats take the first style indices, in this order, whatever a workbook
        # writes first: a helper process that renders a sheet's rows ahead (write_ahead.py) then
        # writes the same `s="N"` as this process would (a format gets its index on first use).
        for fmt in (self.text, self.wrap, self.centre, *self.cells.values()):
            fmt._get_xf_index()

    def text_for(self, ctype: str) -> Format:
        """The format for text in a column: short status words and Y/N are centred."""
        return self.centre if ctype in ("yn", "status") else self.text


# ---------------------------------------------------------------------------------------------
# Coercion: value → what the cell holds.  None means "write it as text instead".


def as_number(ctype: str, value: Any) -> int | Decimal | None:
    """The exact number for a numeric column, or None when the value is not one (written as text),
    NaN and infinities included: a cell cannot hold them."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        number = to_decimal(value)
    except ValueError:
        return None
    if not number.is_finite():  # first: int(Infinity) raises, and a signalling NaN on any comparison
        return None
    if ctype in ("int", "money") and number == number.to_integral_value():
        return int(number)
    return number


def exact_number(ctype: str, value: Any) -> int | Decimal | None:
    """The number a numeric column's cell holds for `value` (None: blank or written as text)."""
    if value is None or value == "":
        return None
    return value if type(value) is int else as_number(ctype, value)


def as_date(ctype: str, value: Any) -> date | datetime | None:
    if isinstance(value, datetime):
        return value if ctype == "datetime" else value.date()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day) if ctype == "datetime" else value
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            try:
                return to_date(text) if ctype == "date" else _midnight(to_date(text))
            except ValueError:
                return None
        if ctype == "date":
            return parsed.date()
        return parsed
    return None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "Y" if value else "N"
    return cell_text(value) or ""


def measure(ctype: str, value: Any) -> int:
    """Display width of a value as it will appear in a cell of this type."""
    if value is None:
        return 0
    if ctype in NUMERIC_TYPES:
        number = as_number(ctype, value)
        if number is not None:  # else written as text
            if ctype == "money":
                return len(f"{number:,.0f}")
            if ctype == "percent":
                return len(f"{number * 100:.1f}") + 1
            return len(str(number))
    elif ctype in ("date", "datetime"):
        if as_date(ctype, value) is not None:
            return 10 if ctype == "date" else 19
    return display_width(as_text(value))


# ---------------------------------------------------------------------------------------------
# Typed cell writers.  One closure per column, built once per sheet: the inner loop of a
# 50,000-row sheet is a plain call with no type dispatch on the column.

CellWriter = Callable[[int, int, Any], Any]


def looks_rich(text: str) -> bool:
    """xlsxwriter (constant_memory) writes a string shaped `<r>…</r>` raw, as rich-text XML: a user's
    `<r>a & b</r>` would make the sheet unreadable.  Such text goes in as rich text of two plain runs."""
    return text.startswith("<r>") and text.endswith("</r>")


def write_literal(ws: Worksheet, row: int, col: int, text: str, fmt: Format) -> bool:
    """A title, note or label written as typed: cleaned (`clean_text`), and never taken for markup.
    Returns whether the text was cut to Excel's cell limit."""
    text, cut = clean_text(text)
    if looks_rich(text):  # written as is, xlsxwriter would take it for rich-text markup
        ws.write_rich_string(row, col, *literal_runs(text, fmt), fmt)
    else:
        ws.write_string(row, col, text, fmt)
    return cut


def literal_runs(text: str, fmt: Format) -> tuple[Any, ...]:
    """`write_rich_string` arguments that show `text` as it is: `<` and the rest, in the cell's font."""
    return (fmt, text[:1], fmt, text[1:])


def rich_runs_xml(ws: Worksheet, runs: Sequence[Any]) -> str:
    """The `<r>` runs xlsxwriter's `write_rich_string` builds for `runs` (format, text, ...), built by
    its own font writer on a scratch XML writer."""
    from io import StringIO

    from xlsxwriter.utility import _preserve_whitespace
    from xlsxwriter.xmlwriter import XMLwriter

    saved = getattr(ws, "rstring", None)
    ws.rstring = scratch = XMLwriter()
    scratch._set_filehandle(StringIO())
    try:
        for fmt, part in zip(runs[::2], runs[1::2]):
            scratch._xml_start_tag("r")
            ws._write_font(fmt)
            scratch._xml_data_element("t", part, [("xml:space", "preserve")] if _preserve_whitespace(part) else [])
            scratch._xml_end_tag("r")
        return scratch.fh.getvalue()
    finally:
        ws.rstring = saved


class Counter:
    """How many cells were cut to Excel's limit on one sheet."""

    def __init__(self) -> None:
        self.truncated = 0


def cell_writer(ws: Worksheet, ctype: str, fmt: Format, text_fmt: Format, counter: Counter) -> CellWriter:
    """A writer for one column.  It returns the exact number written (for totals), else None."""
    write_blank = ws.write_blank

    def write_text(row: int, col: int, value: Any) -> None:
        text = value if type(value) is str else as_text(value)
        if not text:
            write_blank(row, col, None, text_fmt)
            return None
        counter.truncated += write_literal(ws, row, col, text, text_fmt)
        return None

    if ctype in ("text", "status", "yn"):
        if ctype != "yn":
            return write_text

        def write_yn(row: int, col: int, value: Any) -> None:
            if isinstance(value, bool):
                value = "Y" if value else "N"
            return write_text(row, col, value)

        return write_yn

    if ctype in NUMERIC_TYPES:
        write_number = ws.write_number

        def write_num(row: int, col: int, value: Any) -> int | Decimal | None:
            number = exact_number(ctype, value)
            if number is None:
                if value is None or value == "":
                    write_blank(row, col, None, fmt)
                    return None
                return write_text(row, col, value)
            write_number(row, col, number, fmt)
            return number

        return write_num

    write_datetime = ws.write_datetime

    def write_date(row: int, col: int, value: Any) -> None:
        if value is None or value == "":
            write_blank(row, col, None, fmt)
            return None
        moment = as_date(ctype, value)
        if moment is None:
            return write_text(row, col, value)
        write_datetime(row, col, moment, fmt)
        return None

    return write_date


ToneWords = Mapping[str, "Tone | None"]


def tones_for(ctype: str, extra: ToneWords | None, column: ToneWords | None) -> dict[str, Tone]:
    """Words to colour in a column: Y/N for yn columns, the status words for status columns."""
    words: dict[str, Tone | None] = {}
    if ctype == "yn":
        words.update(YN_TONES)
    elif ctype == "status":
        words.update(DEFAULT_TONES)
        words.update(extra or {})
    words.update(column or {})
    for tone in words.values():
        if tone is not None and tone not in TONE_STYLES:
            raise ValueError(f"unknown tone {tone!r}: use one of {sorted(TONE_STYLES)}")
    return {w: t for w, t in words.items() if t is not None}


def add_tones(ws: Worksheet, styles: Styles, first: int, last: int, col: int, words: Mapping[str, Tone]) -> None:
    """Conditional colours on exact cell values (Excel, LibreOffice and Hancom all honour 'cell ==')."""
    if last < first:
        return
    for word, tone in words.items():
        literal = '"' + word.replace('"', '""') + '"'
        ws.conditional_format(
            first, col, last, col, {"type": "cell", "criteria": "==", "value": literal, "format": styles.tones[tone]}
        )


def print_setup(ws: Worksheet, *, repeat_row: int | None, date_text: str, tab: str, pages_tall: int = 0) -> None:
    """A4 landscape, one page wide (and `pages_tall` high; 0: as many as it takes), header row on every
    page, sheet name + date on top, page numbers below."""
    ws.set_landscape()
    ws.set_paper(9)
    ws.fit_to_pages(1, pages_tall)
    ws.set_margins(left=0.4, right=0.4, top=0.75, bottom=0.75)
    if repeat_row is not None:
        ws.repeat_rows(repeat_row)
    ws.set_header(f"&L&A&R{date_text}")  # date_text is already escaped (or the &D code)
    ws.set_footer("&C&P / &N")
    ws.set_tab_color(TAB_COLOURS[tab])
