"""Pydantic row models, one per template kind.

Each field is an `Annotated` type whose BeforeValidator normalises the raw cell
(through `normalize.py`) and, on bad input, raises `PydanticCustomError` whose
type IS our catalogue code, so every pydantic error maps straight onto a
`Problem`.  Warnings must not reject a value, so they are not raised: they are
appended to ``context["warnings"]`` as ``(field, code, params)``.  The year's
`Rules` come in through ``context["rules"]`` (categories, grades, weekday).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Callable, NoReturn

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .errors import CATALOGUE
from .normalize import (
    FractionalWon,
    ImpossibleDate,
    cell_text,
    is_blank,
    million_to_won,
    normalize_phone,
    split_departments,
    squash,
    to_date,
    to_decimal,
    to_int,
    to_won,
    to_yn,
)
from .rules import WEEKDAYS, Rules
from .schema import LEAD_ROLES, SPLIT_ROLES

TEXT_LIMIT = 2000  # characters; longer cells are kept but warned about (the master sheet stays readable)
_SHOWN_LIMIT = 60  # a bad value is quoted in the message up to this many characters


def fail(code: str, **params: Any) -> NoReturn:
    raise PydanticCustomError(code, CATALOGUE[code].title, params)


def warn(info: ValidationInfo, code: str, **params: Any) -> None:
    context = info.context
    if isinstance(context, dict):
        context.setdefault("warnings", []).append((info.field_name, code, params))


def shown(value: Any) -> str:
    """A raw value the way a message quotes it."""
    text = cell_text(value) or ""
    return text if len(text) <= _SHOWN_LIMIT else text[: _SHOWN_LIMIT - 1] + "…"


def _rules(info: ValidationInfo) -> Rules:
    context = info.context
    if not isinstance(context, dict) or not isinstance(context.get("rules"), Rules):
        raise RuntimeError("row models need context={'rules': Rules}")  # a bug, not bad input
    return context["rules"]


# --- value parsers (BeforeValidators) ---


def _text(value: Any, info: ValidationInfo) -> str | None:
    text = None if is_blank(value) else cell_text(value)
    if text is not None and len(text) > TEXT_LIMIT:
        warn(info, "text-too-long", length=len(text), limit=TEXT_LIMIT)
    return text


def _required(parse: Callable[[Any, ValidationInfo], Any]) -> Callable[[Any, ValidationInfo], Any]:
    """`parse`, with a blank cell refused (`required`)."""

    def parsed(value: Any, info: ValidationInfo) -> Any:
        result = parse(value, info)
        if result is None:
            fail("required")
        return result

    return parsed


_required_text = _required(_text)


# The titles and honorifics clerks write after a name (`이영희 주무관`, `김철수님`, `홍길동(과장)`): a name
# with one is not the same person as the name without it when the policy matches people across files.
_TITLES = ("주무관", "사무관", "서기관", "주사보", "서기보", "선생님", "팀장", "과장", "국장", "계장", "실장", "주사",
           "서기", "님", "씨")
_TITLED = re.compile(r"^(?P<name>.+?)\s*(?:\(\s*(?P<paren>[^()]*?)\s*\)|(?P<title>" + "|".join(_TITLES) + r"))$")


def _person(value: Any, info: ValidationInfo) -> str | None:
    text = _text(value, info)
    if text is None:
        return None
    found = _TITLED.match(text.strip())
    title = found and (found["title"] or found["paren"])
    if found and title in _TITLES and len(squash(found["name"])) >= 2:  # 정과장 is a name, not 정 + 과장
        warn(info, "name-with-title", value=shown(value), name=found["name"], title=title)
        return found["name"]
    return text


_required_person = _required(_person)


def _department(value: Any, info: ValidationInfo) -> str:
    # `세 무 과` → `세무과`: departments are compared and merged by name
    return squash(_required_text(value, info))


def _choice(choices: tuple[str, ...]) -> Callable[[Any, ValidationInfo], str]:
    by_key = {squash(c): c for c in choices}

    def parse(value: Any, info: ValidationInfo) -> str:
        text = _required_text(value, info)
        found = by_key.get(squash(text))
        if found is None:
            fail("bad-choice", value=shown(text), choices=", ".join(choices))
        return found

    return parse


def _category(value: Any, info: ValidationInfo) -> str:
    text = _required_text(value, info)
    rules = _rules(info)
    found = rules.category_of(text)
    if found is None:
        fail("bad-choice", value=shown(text), choices=", ".join(rules.categories))
    return found


def _grade(value: Any, info: ValidationInfo) -> str:
    text = squash(_required_text(value, info))
    rules = _rules(info)
    known = rules.canonical_grade(text)
    if known is None:
        # Not an error: the row is valid, the policy engine pays nothing for it until the table knows the grade.
        warn(info, "unknown-grade", value=text, year=rules.year)
        return text
    return known


def _non_negative(number: Decimal | int, value: Any) -> None:
    if number < 0:
        fail("negative", value=shown(value))


def _parsed(value: Any, parse: Callable[[Any], Any], code: str) -> Any:
    """`parse(value)`, which must not be negative; `code` when it cannot be read at all."""
    try:
        number = parse(value)
    except FractionalWon:  # `to_won`: a number, but not a whole number of 원
        fail("fractional-won", value=shown(value))
    except ValueError:
        fail(code, value=shown(value))
    _non_negative(number, value)
    return number


def _integer(value: Any, info: ValidationInfo) -> int:
    if is_blank(value):
        fail("required")
    return _parsed(value, to_int, "bad-integer")


def _number(value: Any, info: ValidationInfo) -> Decimal | None:
    if is_blank(value):
        return None
    number = _parsed(value, to_decimal, "bad-number")
    # 20.0 from a numeric cell reads as 20: same value, friendlier in messages and the master sheet
    return number.quantize(Decimal(1)) if number == number.to_integral_value() else number


def _required_number(value: Any, info: ValidationInfo) -> Decimal:
    number = _number(value, info)
    if number is None:
        fail("required")
    return number


def _won_text(won: Decimal) -> str:
    """`Decimal('500000.70')` → `500,000.7`: an amount in 원 the way a message quotes it."""
    return f"{won.normalize():,f}"


def _money_million(value: Any, info: ValidationInfo) -> int | None:
    # A fraction of a won is refused, as in a 원 column: 수상금 is paid to the won, and rounding a
    # typed amount (69.2000001, a formula's =70/3) would pay what nobody wrote.
    try:
        won = million_to_won(value)  # blank or `-` → None: no prize money
    except FractionalWon as exc:
        fail("fractional-won-million", value=shown(value), won=_won_text(exc.won))
    except ValueError:
        fail("bad-money", value=shown(value), blank=" 수상금이 없으면 비워 두거나 '-'를 적어 주세요.")
    if won is not None:
        _non_negative(won, value)
        limit = _rules(info).reward.max_prize_million
        if won > limit * 1_000_000:  # 69200000 typed for 69.2: a sum in 원 in the 백만원 column
            fail("prize-too-large", value=shown(value), won=f"{won:,}", limit=f"{limit:,}")
    return won


def _money_won(value: Any, info: ValidationInfo) -> int:
    if is_blank(value):
        fail("required")
    return _parsed(value, to_won, "bad-money")


def _date(value: Any, info: ValidationInfo) -> date | None:
    if is_blank(value):
        return None
    try:
        return to_date(value)
    except ImpossibleDate:  # written as a date, but no such day: 2016-02-30
        fail("impossible-date", value=shown(value))
    except (ValueError, OverflowError):
        fail("bad-date", value=shown(value))


def _required_date(value: Any, info: ValidationInfo) -> date:
    day = _date(value, info)
    if day is None:
        fail("required")
    return day


def _yn(value: Any, info: ValidationInfo) -> bool:
    try:
        return to_yn(value)  # blank = N
    except ValueError:
        fail("bad-yn", value=shown(value))


def _phone(value: Any, info: ValidationInfo) -> str | None:
    text = _text(value, info)
    if text is None:
        return None
    phone = normalize_phone(text)
    if phone is None and isinstance(value, (int, float)) and not isinstance(value, bool):
        phone = normalize_phone("0" + text)  # typed as a number, Excel dropped the leading 0
    if phone is None:
        warn(info, "bad-phone", value=shown(text))
        return text
    return phone


def _departments(value: Any, info: ValidationInfo) -> list[str]:
    names, _lead = split_departments(_required_text(value, info))
    if not names:
        fail("required")
    return [squash(n) for n in names]


def _lead_department(value: Any, info: ValidationInfo) -> str:
    # Fed the raw 주관부서 cell (see ResultsRow._lead_input); its errors are reported on `departments`.
    text = None if is_blank(value) else cell_text(value)
    return squash(split_departments(text)[1]) if text else ""


Text = Annotated[str | None, BeforeValidator(_text)]
RequiredText = Annotated[str, BeforeValidator(_required_text)]
Person = Annotated[str | None, BeforeValidator(_person)]
RequiredPerson = Annotated[str, BeforeValidator(_required_person)]
Department = Annotated[str, BeforeValidator(_department)]
Integer = Annotated[int, BeforeValidator(_integer)]
Number = Annotated[Decimal | None, BeforeValidator(_number)]
RequiredNumber = Annotated[Decimal, BeforeValidator(_required_number)]
MoneyMillion = Annotated[int | None, BeforeValidator(_money_million)]
MoneyWon = Annotated[int, BeforeValidator(_money_won)]
OptionalDate = Annotated[date | None, BeforeValidator(_date)]
RequiredDate = Annotated[date, BeforeValidator(_required_date)]
YesNo = Annotated[bool, BeforeValidator(_yn)]
Phone = Annotated[str | None, BeforeValidator(_phone)]


class RowModel(BaseModel):
    # Defaults are validated too, so a column left out of the input still goes through its parser.
    model_config = ConfigDict(extra="ignore", validate_default=True)


class ResultsRow(RowModel):
    seq: Integer
    project: RequiredText
    category: Annotated[str, BeforeValidator(_category)]
    grade: Annotated[str, BeforeValidator(_grade)]
    prize_won: MoneyMillion = None
    subsidy: YesNo = False
    departments: Annotated[list[str], BeforeValidator(_departments)]
    note: Text = None
    lead_department: Annotated[str, BeforeValidator(_lead_department)] = ""
    tier: str | None = None  # None: a grade the year's table does not know

    @model_validator(mode="before")
    @classmethod
    def _lead_input(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {**data, "lead_department": data.get("departments"), "tier": None}
        return data

    @model_validator(mode="after")
    def _tier(self, info: ValidationInfo) -> ResultsRow:
        self.tier = _rules(info).tier_of(self.grade)
        return self


class ContactsRow(RowModel):
    project: RequiredText
    role: Annotated[str, BeforeValidator(_choice(LEAD_ROLES))]
    department: Department
    chief_rank: Text = None
    chief_name: Person = None
    team: Text = None
    leader_rank: Text = None
    leader_name: RequiredPerson
    leader_phone: Phone = None
    officer_rank: Text = None
    officer_name: RequiredPerson
    officer_phone: Phone = None
    city_department: Text = None
    city_officer: Text = None
    city_phone: Phone = None
    note: Text = None


class PlansRow(RowModel):
    project: RequiredText
    department: Department
    plan_received: RequiredDate
    notified: OptionalDate = None
    plan_submitted: OptionalDate = None
    approved: OptionalDate = None
    goal: Text = None
    field: RequiredText
    item: RequiredText
    points: RequiredNumber
    target: Number = None
    owner: Text = None
    response: Text = None

    @field_validator("target")
    @classmethod
    def _target_within_points(cls, target: Decimal | None, info: ValidationInfo) -> Decimal | None:
        points = info.data.get("points")  # absent when 배점 itself failed: that error is reported already
        if target is not None and points is not None and target > points:
            fail("target-over-points", target=target, points=points)
        return target


class WeeklyRow(RowModel):
    report_date: RequiredDate
    project: RequiredText
    department: Department
    progress: RequiredText
    issues: Text = None
    measures: Text = None
    requests: Text = None

    @field_validator("report_date")
    @classmethod
    def _on_report_weekday(cls, day: date, info: ValidationInfo) -> date:
        rules = _rules(info)
        weekday, due = WEEKDAYS[day.weekday()], rules.weekly.weekday
        if day.year != rules.year:  # 2015-03-06 under the 2016 rules: most likely last year's template
            warn(info, "report-date-year", value=day.isoformat(), year=rules.year)
        elif weekday != due:
            from .calendar import report_week, short

            counted = report_week(day, WEEKDAYS.index(due))
            warn(info, "not-friday", value=day.isoformat(), weekday=weekday, due=due, week=short(counted))
        return day


class SplitRow(RowModel):
    project: RequiredText
    department: Department
    dept_role: Annotated[str, BeforeValidator(_choice(SPLIT_ROLES))]
    amount_won: MoneyWon
    contribution: Text = None


class StaffRow(RowModel):
    project: RequiredText
    department: Department
    rank: Text = None
    name: RequiredPerson
    contribution_rank: Integer
    commended: YesNo = False
    note: Text = None


ROW_MODELS: dict[str, type[RowModel]] = {
    "results": ResultsRow,
    "contacts": ContactsRow,
    "plans": PlansRow,
    "weekly": WeeklyRow,
    "split": SplitRow,
    "staff": StaffRow,
}
# Fields a model computes itself (not columns of the sheet).
DERIVED_FIELDS: dict[str, tuple[str, ...]] = {"results": ("lead_department", "tier")}
