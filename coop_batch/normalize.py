"""Value normalisation shared by reading and validation.

Files come from Excel, Hancom Office and old copies typed by hand, so a value may
arrive as a float, a date serial, full-width digits, `1,500`, `2016. 1. 22.` or the
seed's spaced-out `세 무 과`.  Every parser here raises `ValueError` on input it
cannot read; callers turn that into a `Problem`.  Money never passes through float
arithmetic: a float cell is re-read through its shortest repr (``4.1`` → ``"4.1"``)
into `Decimal`.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

_BLANKS = {"", "-", "－", "–", "—", "―", "‐"}
_SPACE_RE = re.compile(r"[\s\u200b\u200c\u200d\ufeff\u3000]+")
# Middle dots, bullets and the bracket/quote variants people type around project names.
_PROJECT_NOISE_RE = re.compile(r"[\s·‧ㆍ\u119e•∙・･\.\-_,'\"“”‘’「」『』《》〈〉<>()\[\]{}【】〔〕]+")
_EXCEL_EPOCH = date(1899, 12, 30)  # serial 1 == 1900-01-01, after Lotus' leap-year bug
_DATE_RE = re.compile(r"^(\d{4})\s*[.\-/년]\s*(\d{1,2})\s*[.\-/월]\s*(\d{1,2})\s*[.일]?\s*(?:\(.\))?$")
_DATE_COMPACT_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_TIME_TAIL_RE = re.compile(r"(?:\s+|T)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?$")  # `2016-03-04 00:00:00` (CSV, pandas)
_PHONE_RE = re.compile(r"^(0\d{1,2})-(\d{3,4})-(\d{4})$")
_PAREN_RE = re.compile(r"\(.*?\)|（.*?）")
LEAD_MARK_RE = re.compile(r"[(（]\s*총\s*괄\s*[)）]")
_DEPT_SUFFIXES = ("과", "관", "실", "소", "단", "국", "팀", "센터", "처", "원", "동", "본부", "청", "위원회")


def nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value)


# squash and project_key remember their last results: a night of 5,000 files repeats a few hundred
# department and project names, and merge, tracking and validation key every record by them.
# The middle dots people type for `·` (U+00B7): Hancom's ㆍ (U+318D, the default), the katakana and
# half-width ones, the bullet and the operator dots. `시ㆍ자치구` is the dropdown's `시·자치구`.
_DOTS = str.maketrans(dict.fromkeys("\u318d\u30fb\uff65\u2022\u2027\u22c5\u2219", "\u00b7"))


@functools.lru_cache(maxsize=16384)
def squash(value: str) -> str:
    """NFC with every kind of whitespace removed and middle dots made one: `세 무 과` → `세무과`,
    `최 우 수` → `최우수`, `시ㆍ자치구` → `시·자치구`."""
    return _SPACE_RE.sub("", nfc(value)).translate(_DOTS)


def header_key(value: Any) -> str:
    """Key for matching a header cell: NFKC (full-width brackets), no whitespace."""
    if value is None:
        return ""
    return _SPACE_RE.sub("", unicodedata.normalize("NFKC", str(value)))


@functools.lru_cache(maxsize=16384)
def project_key(value: str) -> str:
    """Key for matching project names across files: case, spacing, dots and brackets ignored."""
    text = unicodedata.normalize("NFKC", value).casefold()
    return _PROJECT_NOISE_RE.sub("", text)


@dataclass(frozen=True)
class CellError:
    """A cell holding an Excel error value (`#NAME?`, `#REF!`, `#DIV/0!`, ...), almost always a formula's cached
    result.  python-calamine reads such a cell as "", the same as an empty cell, so `read.py` finds them in
    the sheet's XML (`read_errors`) and puts one of these in the cell's place: validation reports it
    (`formula-error`) instead of taking it for a blank.  It is not blank, and its text is the error.
    A formula saved without its result (written by a program, never calculated: `<f>A1*2</f><v />`) is
    read as blank too; it is one of these with no error (`formula-not-calculated`)."""

    error: str  # as Excel shows it: `#NAME?`; '' for a formula whose result was never stored
    formula: str = ""  # the formula without its `=`; '' for a typed error value or a shared formula

    def __str__(self) -> str:
        return self.error


_INVISIBLE = "\u200b\u200c\u200d\ufeff"  # the non-whitespace characters _SPACE_RE also takes for space


def is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        first = value[:1]
        if first and not first.isspace() and first not in _INVISIBLE:
            return False  # the usual filled cell, decided without a regex (called for every cell)
        return _SPACE_RE.sub("", value) == ""
    return False


def column_letter(index: int) -> str:
    """0-based column index → Excel letters: 0 → A, 25 → Z, 26 → AA (the one place this is spelled)."""
    letters = ""
    number = index + 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def cell_text(value: Any) -> str | None:
    """A cell as display text (NFC, trimmed), or None when blank. `12.0` reads as `12`."""
    if type(value) is str:  # most cells: no type ladder, and ASCII needs no normalising
        text = (value if value.isascii() else nfc(value)).strip()
        return text or None
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    text = nfc(str(value)).strip()
    return text or None


def to_decimal(value: Any) -> Decimal:
    """Exact decimal from a cell: `1,500`, `１５００`, `4.1`, 4.1 (float), `15 (포상금)`."""
    if isinstance(value, bool):
        raise ValueError("boolean")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("not finite")
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        return value
    text = unicodedata.normalize("NFKC", str(value))
    text = _PAREN_RE.sub("", text)
    text = _SPACE_RE.sub("", text).replace(",", "").removesuffix("원")
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", text):
        raise ValueError(f"not a number: {value!r}")
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid literals
        raise ValueError(str(exc)) from exc


class FractionalWon(ValueError):
    """A number that is not a whole number of 원 (`500000.7`, or `0.0000001` 백만원): `won` is its 원."""

    def __init__(self, won: Decimal) -> None:
        super().__init__(f"fraction of a won: {won}")
        self.won = won


def is_blank_amount(value: Any) -> bool:
    return value is None or (isinstance(value, str) and squash(value) in _BLANKS)


def million_to_won(value: Any) -> int | None:
    """`수상금(백만원)` → integer 원. Blank or `-` → None (no prize money)."""
    if is_blank_amount(value):
        return None
    won = to_decimal(value) * 1_000_000
    if won != won.to_integral_value():
        raise FractionalWon(won)
    return int(won)


def to_won(value: Any) -> int:
    """`배분액(원)` → integer 원 (`1,500,000`, `1500000원`, 1500000.0)."""
    amount = to_decimal(value)
    if amount != amount.to_integral_value():
        raise FractionalWon(amount)
    return int(amount)


def to_int(value: Any) -> int:
    number = to_decimal(value)
    if number != number.to_integral_value():
        raise ValueError("not a whole number")
    return int(number)


class ImpossibleDate(ValueError):
    """A date written in a date format that is not on the calendar: `2016-02-30`, `2016.13.1`."""


def to_date(value: Any) -> date:
    """A date from a date cell, an Excel serial, or `2016. 1. 22.` / `2016.1.22` / `2016-01-22`."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        raise ValueError("boolean")
    if isinstance(value, (int, float)):
        if not 1 <= value < 2958466:  # 9999-12-31 is Excel's last date
            raise ValueError("serial out of range")
        return _EXCEL_EPOCH + timedelta(days=int(value))
    text = unicodedata.normalize("NFKC", str(value)).strip().rstrip(".").strip()
    text = _TIME_TAIL_RE.sub("", text)  # the date of a date-and-time typed as text
    match = _DATE_RE.match(text) or _DATE_COMPACT_RE.match(text)
    if not match:
        if re.fullmatch(r"\d{5}(\.0+)?", text):  # a serial that arrived as text
            return to_date(int(float(text)))
        raise ValueError(f"not a date: {value!r}")
    year, month, day = (int(g) for g in match.groups()[:3])
    try:
        return date(year, month, day)
    except ValueError as exc:  # 2016-02-30, 2016-13-01, 2016-01-00: the format is right, the day is not
        raise ImpossibleDate(f"no such day: {value!r}") from exc


_YES = {"Y", "YES", "예", "O", "○", "◯", "●", "TRUE", "1", "해당", "V", "✓", "✔"}
_NO = {"N", "NO", "아니오", "아니요", "X", "×", "FALSE", "0", "해당없음", "미해당"}


def to_yn(value: Any) -> bool:
    """Y/N with blank = N. Also 예/아니오, ○/×, TRUE/FALSE."""
    if value is None or (isinstance(value, str) and squash(value) in _BLANKS):
        return False
    if isinstance(value, bool):
        return value
    text = squash(unicodedata.normalize("NFKC", cell_text(value) or "")).upper()
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise ValueError(f"not Y/N: {value!r}")


def normalize_phone(value: str) -> str | None:
    """`02)901-6123`, `02 901 6123`, `029016123` → `02-901-6123`; None when it is not a phone number."""
    text = unicodedata.normalize("NFKC", value).strip()
    digits = re.sub(r"[\s.)(\-]", "-", text).strip("-")
    digits = re.sub(r"-+", "-", digits)
    if _PHONE_RE.match(digits):
        return digits
    bare = re.sub(r"\D", "", text)
    if len(bare) != len(re.sub(r"[\s.)(\-]", "", text)):
        return None  # letters or other marks
    if bare.startswith("02") and len(bare) in (9, 10):
        return f"02-{bare[2:-4]}-{bare[-4:]}"
    if bare.startswith("0") and len(bare) in (10, 11):
        return f"{bare[:3]}-{bare[3:-4]}-{bare[-4:]}"
    return None


def split_departments(value: str) -> tuple[list[str], str]:
    """`환경과(총괄) 지역경제과` → (['환경과', '지역경제과'], '환경과').

    Departments are separated by spaces, commas or slashes, but the seed also spaces
    out single names (`세 무 과`, `의 약 과`), so pieces are joined until they end in a
    department suffix (과, 관, 실, 소, ...).  The lead is the one marked `(총괄)`, else
    the first.
    """
    text = nfc(value)
    pieces = [p for p in re.split(r"[\s,/;、，·]+", text) if p]
    names: list[str] = []
    lead = ""
    buffer = ""
    for piece in pieces:
        marked = bool(LEAD_MARK_RE.search(piece))
        piece = LEAD_MARK_RE.sub("", piece)
        if piece == "" and marked and names:  # `환경과 (총괄)`: the mark stands alone
            lead = lead or names[-1]
            continue
        buffer += piece
        if marked or buffer.endswith(_DEPT_SUFFIXES):
            names.append(buffer)
            if marked and not lead:
                lead = buffer
            buffer = ""
    if buffer:
        names.append(buffer)
    unique = list(dict.fromkeys(n for n in names if n))
    return unique, lead or (unique[0] if unique else "")


def nearest(name: str, known: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The known name closest to `name` (compared by project_key), for a 'did you mean' hint."""
    candidates = {project_key(k): k for k in known}
    import difflib  # here: only a name the rules do not know needs it (~4 ms to import)

    match = difflib.get_close_matches(project_key(name), list(candidates), n=1, cutoff=cutoff)
    return candidates[match[0]] if match else None
