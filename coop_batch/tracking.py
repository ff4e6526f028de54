"""Who owes what: weekly reports and self plans against the year's deadlines (issue 8).

Pure computation (no clock, no I/O): `compute_tracking` takes the merged records, every
accepted submission with its arrival time, the rules and the as-of date.

- Projects and leads: the 총괄부서 rows of 담당자지정 and the lead (주관) department of 평가결과;
  the 담당자지정 lead wins when both name one (it is this year's designation).  The lead
  department owes the weekly reports and the self plan.
- A weekly report is judged by the EARLIEST accepted arrival among all files holding its
  (department, project, report week), not by the winning latest file: correcting an on-time
  report on Monday does not make it late.  A report dated on another day than the report day
  counts for the next report day on or after its date (`calendar.report_week`).
- On time means it arrived in the inbox before the end of the report day (Asia/Seoul), or of
  the next working day when that day is a holiday and the rules roll deadlines over.
- Only what had arrived by the end of the as-of day counts, so an older as-of shows the
  situation as it was then.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .calendar import (
    PLAN_DUE,
    WEEKLY_DUE,
    Event,
    due_date,
    end_of_day,
    event_order,
    expand_schedule,
    report_days,
    report_week,
    roll_forward,
    seoul_day,
    short,
    upcoming,
    weekday_index,
)
from .merge import Source, merge
from .normalize import project_key, squash
from .records import FILE_KEY
from .rules import Rules

ON_TIME, LATE, MISSING, NOT_YET = "제출", "지연", "미제출", "기한 전"
NOT_NOTIFIED, NOT_APPROVED = "미통보", "미결재"
WEEKLY_ITEM = "주간 추진실적 보고"
PLAN_ITEM = "자체 추진계획서 제출"
NOTICE_ITEM = "평가계획 기획예산과 통보"
APPROVAL_ITEM = "자체 추진계획 방침 결재"
ACTION_NEEDED = frozenset({MISSING, NOT_NOTIFIED, NOT_APPROVED})  # still to do (a late item is done)


@dataclass(frozen=True)
class Submitted:
    """One accepted file as tracking sees it: who sent what, and when it arrived."""

    name: str  # inbox path, as in 원본파일
    kind: str
    department: str
    arrived_at: datetime  # aware
    records: Sequence[Mapping[str, Any]]


def submitted_from(rows: Iterable[Any], records_of: Callable[[str], Sequence[Mapping[str, Any]]]) -> list[Submitted]:
    """`ledger.accepted_files()` rows (anything with sha256, original_path, kind, department,
    arrived_at) and a records lookup by content hash → `Submitted`s."""
    return [
        Submitted(row.original_path, row.kind, row.department, row.arrived_at, records_of(row.sha256)) for row in rows
    ]


@dataclass(frozen=True)
class Owed:
    """A project of the year and the department that leads it."""

    key: str  # project_key(name)
    name: str
    department: str
    seq: int | None = None  # 평가결과 연번, when results exist


@dataclass(frozen=True)
class WeekCell:
    status: str  # 제출 / 지연 / 미제출 / 기한 전
    arrived: datetime | None = None
    file: str = ""

    @property
    def label(self) -> str:
        """What the 주간보고현황 cell shows: `제출`, `지연 3/7`, `미제출`."""
        if self.status == LATE and self.arrived is not None:
            day = seoul_day(self.arrived)
            return f"{LATE} {day.month}/{day.day}"
        return self.status


@dataclass
class WeeklyRow:
    project: Owed
    cells: dict[date, WeekCell]  # report day → cell

    def count(self, status: str) -> int:
        return sum(cell.status == status for cell in self.cells.values())


@dataclass(frozen=True)
class PlanStatus:
    project: Owed
    status: str  # 제출 / 지연 / 미제출 / 기한 전
    received: date | None = None  # 평가계획 접수일
    submitted: date | None = None  # 계획서 제출일 (the file's arrival day when the cell is blank)
    due: date | None = None
    notified: date | None = None  # 기획예산과 통보일; None = 미통보
    approved: date | None = None  # 방침 결재일
    department: str = ""  # who sent the plan (normally the lead)
    file: str = ""
    note: str = ""

    @property
    def on_time(self) -> bool | None:
        return None if self.submitted is None or self.due is None else self.submitted <= self.due


@dataclass(frozen=True)
class Reminder:
    """One line of 미제출목록: a missing or late item of one department."""

    department: str
    project: str
    item: str
    due: date | None
    status: str
    message: str  # Korean, ready to paste into a reminder
    week: date | None = None  # the report day of a weekly report's line


UPCOMING_DAYS = 14  # the "coming days" window of 요약, the mail and `status`

@dataclass
class Tracking:
    as_of: date
    weekday: str  # the report day's name, 금
    weeks: list[date]  # report days from the rules' start up to the as-of date
    deadlines: dict[date, date]  # report day → last day to arrive (rolled over a holiday)
    projects: list[Owed]
    weekly: list[WeeklyRow]
    plans: list[PlanStatus]
    events: list[Event]
    reminders: list[Reminder]
    plan_rule: str  # `평가계획 접수 후 5일(달력일) 이내`

    @property
    def departments(self) -> list[str]:
        return list(dict.fromkeys(p.department for p in self.projects))

    @property
    def current_week(self) -> date | None:
        """The latest report day whose deadline has come by the as-of date."""
        due = [w for w in self.weeks if self.deadlines[w] <= self.as_of]
        return due[-1] if due else None

    def week_totals(self) -> list[tuple[date, int, int, int]]:
        """(report day, 제출, 지연, 미제출) per week: the compliance-by-week chart's data."""
        return [
            (week, *(sum(row.cells[week].status == s for row in self.weekly) for s in (ON_TIME, LATE, MISSING)))
            for week in self.weeks
        ]

    def department_totals(self) -> dict[str, tuple[int, int, int]]:
        totals: dict[str, list[int]] = {}
        for row in self.weekly:
            counts = totals.setdefault(row.project.department, [0, 0, 0])
            for i, status in enumerate((ON_TIME, LATE, MISSING)):
                counts[i] += row.count(status)
        return {dept: (a, b, c) for dept, (a, b, c) in totals.items()}

    def missing_this_week(self) -> list[WeeklyRow]:
        week = self.current_week
        return [] if week is None else [r for r in self.weekly if r.cells[week].status == MISSING]

    def upcoming(self, days: int = UPCOMING_DAYS) -> list[Event]:
        return upcoming(self.events, self.as_of, days)

    def owing(self) -> dict[str, list[Reminder]]:
        """Department → the items it still has to do (missing, not notified, not approved)."""
        out: dict[str, list[Reminder]] = defaultdict(list)
        for reminder in self.reminders:
            if reminder.status in ACTION_NEEDED:
                out[reminder.department].append(reminder)
        return dict(out)

    def plan_count(self, status: str) -> int:
        return sum(p.status == status for p in self.plans)

    def headline(self) -> str:
        """One line for the run summary: this week's missing reports and who still owes something."""
        from .tracking_report import headline

        return headline(self)

    def summary_lines(self, days: int = UPCOMING_DAYS, limit: int = 12) -> list[str]:
        """A short Korean summary for the terminal and the mail (see `tracking_report.summary_lines`)."""
        from .tracking_report import summary_lines

        return summary_lines(self, days=days, limit=limit)


# --- the computation ---


def compute_tracking(
    data: Mapping[str, Sequence[Mapping[str, Any]]], submitted: Sequence[Submitted], rules: Rules, as_of: date
) -> Tracking:
    holidays = frozenset(rules.calendar.holidays)
    roll = rules.calendar.roll_over
    weekday = weekday_index(rules.weekly.weekday)
    year_days = report_days(rules.weekly.start, rules.weekly.end, weekday)
    deadlines = {d: roll_forward(d, holidays) if roll else d for d in year_days}
    weeks = [d for d in year_days if d <= as_of]
    arrived = [s for s in submitted if seoul_day(s.arrived_at) <= as_of]
    if len(arrived) < len(submitted):  # an earlier as-of: what the merge held back then
        data = merge([Source(s.name, s.kind, s.records, s.department) for s in arrived]).data
    projects = owed_projects(data)
    weekly = _weekly_rows(projects, arrived, weeks, deadlines, weekday, as_of)
    basis = rules.plans.day_basis
    plans = _plan_statuses(projects, data.get("plans", ()), arrived, rules, as_of)
    events = expand_schedule(rules.schedule, rules.year)
    events += _deadline_events(projects, plans, year_days, deadlines, rules)
    events.sort(key=event_order)
    tracking = Tracking(
        as_of=as_of,
        weekday=rules.weekly.weekday,
        weeks=weeks,
        deadlines=deadlines,
        projects=projects,
        weekly=weekly,
        plans=plans,
        events=events,
        reminders=[],
        plan_rule=f"평가계획 접수 후 {rules.plans.submit_within_days}일({'평일' if basis == 'business' else '달력일'}) 이내",
    )
    from .tracking_report import build_reminders  # the Korean wording lives with the other texts

    tracking.reminders = build_reminders(tracking)
    return tracking


def owed_projects(data: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Owed]:
    """The year's projects and their lead departments, in 평가결과 연번 order, then 담당자지정 order."""
    names: dict[str, str] = {}
    seqs: dict[str, int] = {}
    result_lead: dict[str, str] = {}
    contact_lead: dict[str, str] = {}
    results = sorted(data.get("results", ()), key=lambda r: int(r.get("seq") or 0))
    for record in results:
        name = _text(record.get("project"))
        key = project_key(name)
        if not key:
            continue
        names.setdefault(key, name)
        if record.get("seq") is not None:
            seqs.setdefault(key, int(record["seq"]))
        departments = [squash(d) for d in record.get("departments") or [] if squash(str(d))]
        lead = squash(_text(record.get("lead_department"))) or (departments[0] if departments else "")
        if lead:
            result_lead.setdefault(key, lead)
    for record in data.get("contacts", ()):
        if squash(_text(record.get("role"))) != "총괄부서":
            continue
        name = _text(record.get("project"))
        key = project_key(name)
        department = squash(_text(record.get("department")))
        if key and department:
            names.setdefault(key, name)
            contact_lead.setdefault(key, department)
    projects = []
    for key in dict.fromkeys([*result_lead, *contact_lead]):
        projects.append(Owed(key, names[key], contact_lead.get(key) or result_lead[key], seqs.get(key)))
    # Grouped by department (in order of each department's first project), projects in order within.
    first = {}
    for index, project in enumerate(projects):
        first.setdefault(project.department, index)
    return sorted(projects, key=lambda p: first[p.department])


def _weekly_rows(
    projects: Sequence[Owed],
    arrived: Sequence[Submitted],
    weeks: Sequence[date],
    deadlines: Mapping[date, date],
    weekday: int,
    as_of: date,
) -> list[WeeklyRow]:
    earliest: dict[tuple[str, str, date], tuple[datetime, str]] = {}
    week_of: dict[date, date] = {}  # a year of weekly reports repeats a few dozen days
    for sub in arrived:
        if sub.kind != "weekly":
            continue
        for record in sub.records:
            day = record.get("report_date")
            if not isinstance(day, date):
                continue
            department = squash(_text(record.get("department")) or sub.department)
            if type(day) is date:
                week = week_of.get(day)
                if week is None:
                    week = week_of[day] = report_week(day, weekday)
            else:  # a datetime subclass: not memoised (equal instants may differ in weekday)
                week = report_week(day, weekday)
            key = (department, project_key(_text(record.get("project"))), week)
            held = earliest.get(key)
            if held is None or sub.arrived_at < held[0]:
                earliest[key] = (sub.arrived_at, sub.name)
    ends = {week: end_of_day(deadlines[week]) for week in weeks}
    rows = []
    for project in projects:
        cells = {}
        for week in weeks:
            held = earliest.get((project.department, project.key, week))
            if held is not None:
                status = ON_TIME if held[0] < ends[week] else LATE
                cells[week] = WeekCell(status, held[0], held[1])
            else:
                cells[week] = WeekCell(MISSING if deadlines[week] <= as_of else NOT_YET)
        rows.append(WeeklyRow(project, cells))
    return rows


def _plan_statuses(
    projects: Sequence[Owed],
    plans: Sequence[Mapping[str, Any]],
    arrived: Sequence[Submitted],
    rules: Rules,
    as_of: date,
) -> list[PlanStatus]:
    by_project: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for record in plans:
        by_project[project_key(_text(record.get("project")))].append(record)
    first_arrival: dict[tuple[str, str], date] = {}
    for sub in arrived:
        if sub.kind == "plans":
            for record in sub.records:
                key = (squash(_text(record.get("department")) or sub.department), project_key(_text(record.get("project"))))
                day = seoul_day(sub.arrived_at)
                if key not in first_arrival or day < first_arrival[key]:
                    first_arrival[key] = day
    holidays = frozenset(rules.calendar.holidays)
    out = []
    for project in projects:
        records = by_project.get(project.key, [])
        own = [r for r in records if squash(_text(r.get("department"))) == project.department]
        records = own or records
        if not records:
            out.append(PlanStatus(project, MISSING, note="자체 추진계획서가 접수되지 않았습니다"))
            continue
        department = squash(_text(records[0].get("department"))) or project.department
        received = _first(records, "plan_received")
        submitted = _first(records, "plan_submitted")
        note = "" if department == project.department else f"총괄부서가 아닌 {department}이(가) 제출"
        if submitted is None:
            submitted = first_arrival.get((department, project.key))
            note = "; ".join(filter(None, [note, "계획서 제출일이 빈칸이라 파일 도착일로 판단"]))
        due = None
        if received is not None:
            due = due_date(received, rules.plans.submit_within_days, rules.plans.day_basis, holidays,
                           rules.calendar.roll_over)
        if submitted is None:
            status = MISSING if due is None or due <= as_of else NOT_YET
        elif due is None:
            status = ON_TIME
        else:
            status = ON_TIME if submitted <= due else LATE
        out.append(
            PlanStatus(
                project, status, received, submitted, due, _first(records, "notified"), _first(records, "approved"),
                department, _text(records[0].get(FILE_KEY)), note,
            )
        )
    return out


def _deadline_events(
    projects: Sequence[Owed],
    plans: Sequence[PlanStatus],
    year_days: Sequence[date],
    deadlines: Mapping[date, date],
    rules: Rules,
) -> list[Event]:
    """Each department's own deadlines: its plan's due date, and the weekly report days."""
    events = [
        Event(plan.due, plan.due, f"{PLAN_ITEM}: {plan.project.name}", plan.project.department, PLAN_DUE,
              f"평가계획 접수 {short(plan.received)} + {rules.plans.submit_within_days}일" if plan.received else "")
        for plan in plans
        if plan.due is not None
    ]
    owners = f"사업 총괄부서 {len({p.department for p in projects})}곳" if projects else "사업 총괄부서"
    for day in year_days:
        deadline = deadlines[day]
        note = "기획예산과로 제출"
        if deadline != day:
            note = f"{short(day)}이(가) 공휴일이라 {short(deadline)}까지 제출"
        events.append(Event(day, day, WEEKLY_ITEM, owners, WEEKLY_DUE, note))
    return events


def _first(records: Sequence[Mapping[str, Any]], name: str) -> date | None:
    for record in records:
        value = record.get(name)
        if isinstance(value, date):
            return value
    return None


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()
