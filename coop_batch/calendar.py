"""The year's calendar: report weeks, deadlines and the schedule of the rules file as dated events.

Pure date arithmetic, no clock and no I/O: every function takes the dates it needs.
Deadlines end at midnight Asia/Seoul (`end_of_day`), so "on time" compares an aware
arrival time with an aware bound and never depends on the machine's time zone.
A deadline that falls on a Saturday, Sunday or listed public holiday moves to the next
working day when the rules say so (`[calendar] roll_over`, as 민법 제161조 counts periods).
"""

from __future__ import annotations

import calendar as _stdlib_calendar
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from .config import SEOUL
from .rules import WEEKDAYS, ScheduleItem

ONE_DAY = timedelta(days=1)

# Where an event comes from (the 일정 sheet's 구분 column).
YEARLY = "연간 일정"
PLAN_DUE = "계획서 기한"
WEEKLY_DUE = "주간 보고"


def weekday_index(name: str) -> int:
    """`금` → 4 (Monday is 0, as `date.weekday()`)."""
    return WEEKDAYS.index(name)


def weekday_name(day: date) -> str:
    return WEEKDAYS[day.weekday()]


def short(day: date) -> str:
    """`3/4(금)`: how dates are written in headers and messages."""
    return f"{day.month}/{day.day}({weekday_name(day)})"


def report_week(day: date, weekday: int) -> date:
    """The report day a report dated `day` counts for: the next `weekday` on or after it.

    A report dated Thursday 3/17 (the 국별 보고회 day) is that week's Friday 3/18 report;
    one dated Saturday 3/19 already belongs to the following Friday, 3/25."""
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def report_days(start: date, end: date, weekday: int) -> list[date]:
    """Every `weekday` from `start` to `end`, both included."""
    day = report_week(start, weekday)
    days = []
    while day <= end:
        days.append(day)
        day += timedelta(days=7)
    return days


def end_of_day(day: date) -> datetime:
    """The first instant after `day` in Seoul: an arrival before it is "by the end of that day"."""
    return datetime.combine(day + ONE_DAY, time(0), SEOUL)


def seoul_day(moment: datetime) -> date:
    return moment.astimezone(SEOUL).date()


def is_working_day(day: date, holidays: Collection[date] = ()) -> bool:
    return day.weekday() < 5 and day not in holidays


def roll_forward(day: date, holidays: Collection[date] = ()) -> date:
    """`day`, or the next working day when it is a weekend or a holiday."""
    while not is_working_day(day, holidays):
        day += ONE_DAY
    return day


def add_days(start: date, days: int, basis: str, holidays: Collection[date] = ()) -> date:
    """`days` after `start`: calendar days, or working days (weekends and holidays skipped)."""
    if basis != "business":
        return start + timedelta(days=days)
    current, left = start, days
    while left > 0:
        current += ONE_DAY
        if is_working_day(current, holidays):
            left -= 1
    return current


def due_date(start: date, days: int, basis: str, holidays: Collection[date] = (), roll_over: bool = False) -> date:
    """The last day of a period of `days` from `start` (the plan rule: 통보 후 5일 이내)."""
    due = add_days(start, days, basis, holidays)
    return roll_forward(due, holidays) if roll_over else due


# --- events ---


@dataclass(frozen=True)
class Event:
    """One dated entry of the 일정 sheet: a day or a span of days."""

    start: date
    end: date
    name: str
    owner: str = ""
    source: str = YEARLY
    note: str = ""

    def overlaps(self, first: date, last: date) -> bool:
        return self.start <= last and self.end >= first

    def state(self, as_of: date) -> str:
        if self.end < as_of:
            return "지남"
        if self.start > as_of:
            return "예정"
        return "오늘" if self.start == self.end else "진행 중"

    @property
    def when(self) -> str:
        """`3/24(목)` or `3/1(화)~3/31(목)`."""
        return short(self.start) if self.start == self.end else f"{short(self.start)}~{short(self.end)}"


def _month_day(year: int, text: str) -> date:
    """`MM-DD` in `year`; 02-29 in a common year is the 28th."""
    month, day = (int(part) for part in text.split("-"))
    return date(year, month, min(day, _stdlib_calendar.monthrange(year, month)[1]))


def _month_span(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, _stdlib_calendar.monthrange(year, month)[1])


def item_span(item: ScheduleItem, year: int) -> tuple[date, date] | None:
    """The start and end of an item with `start`/`end`; an end before the start is in the next year
    (`11-01`→`01-31` runs from November into January)."""
    if item.start is None or item.end is None:
        return None
    first = _month_day(year, item.start)
    last = _month_day(year, item.end)
    if last < first:
        last = _month_day(year + 1, item.end)
    return first, last


def expand_item(item: ScheduleItem, year: int) -> Iterator[Event]:
    """One schedule item of the rules file as dated events of `year`.

    - `months` only: one event per month, spanning the whole month (the seed says "3월" without a day);
    - `start`/`end`: one event over the span;
    - `weekday`: one event on every such weekday within the span or the months (국별 보고회, 매주 목요일);
      with both a span and months, only the days of those months within the span.
    """
    span = item_span(item, year)
    months = set(item.months)
    if item.weekday is not None:
        weekday = weekday_index(item.weekday)
        if span is not None:
            days = report_days(*span, weekday)
        else:
            days = [d for m in sorted(months) for d in report_days(*_month_span(year, m), weekday)]
        for day in days:
            if span is None or not months or day.month in months:
                yield Event(day, day, item.name, item.owner, YEARLY, f"매주 {item.weekday}요일")
        return
    if span is not None:
        yield Event(span[0], span[1], item.name, item.owner, YEARLY)
        return
    for month in sorted(months):
        first, last = _month_span(year, month)
        yield Event(first, last, item.name, item.owner, YEARLY, f"{month}월 중(날짜 미정)")


def expand_schedule(items: Sequence[ScheduleItem], year: int) -> list[Event]:
    events = [event for item in items for event in expand_item(item, year)]
    return sorted(events, key=event_order)


def event_order(event: Event) -> tuple[date, date, str, str]:
    return (event.start, event.end, event.source, event.name)


def upcoming(events: Sequence[Event], as_of: date, days: int = 14) -> list[Event]:
    """Events on any of the `days` days from `as_of` on (today included), ongoing spans too."""
    last = as_of + timedelta(days=days - 1)
    return sorted((e for e in events if e.overlaps(as_of, last)), key=event_order)
