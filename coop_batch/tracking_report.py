"""What people read from the tracking: reminder lines, the terminal summary, the master's status sheets.

`tracking.compute_tracking` decides who is on time; this module words it in Korean and lays it
out: the 미제출목록 reminders (ready to paste into a message), `summary_lines` for `coop-batch
status` and the mail, and the sheets 주간보고현황, 제출현황, 일정, 미제출목록 (the 요약 dashboard
reads its figures from `Tracking` itself).  Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from .calendar import seoul_day, short, weekday_name
from .tracking import (
    UPCOMING_DAYS,
    APPROVAL_ITEM,
    LATE,
    MISSING,
    NOT_APPROVED,
    NOT_NOTIFIED,
    NOT_YET,
    NOTICE_ITEM,
    ON_TIME,
    PLAN_ITEM,
    WEEKLY_ITEM,
    PlanStatus,
    Reminder,
    Tracking,
    WeekCell,
)
from .write import ColumnSpec, SheetSpec



# --- reminders (미제출목록) ---


def build_reminders(tracking: Tracking) -> list[Reminder]:
    """One line per department per missing or late item, oldest deadline first within a department."""
    out: list[Reminder] = []
    weekday = tracking.weekday
    order = {dept: i for i, dept in enumerate(tracking.departments)}
    for dept in tracking.departments:
        rows = [r for r in tracking.weekly if r.project.department == dept]
        for week in tracking.weeks:
            # One line per department, week and state: a department's file covers all its projects.
            groups: dict[str, tuple[WeekCell, list[str]]] = {}
            for row in rows:
                cell = row.cells[week]
                if cell.status in (MISSING, LATE):
                    groups.setdefault(cell.label, (cell, []))[1].append(row.project.name)
            deadline = tracking.deadlines[week]
            for label, (cell, projects) in groups.items():
                names = ", ".join(projects)
                if cell.status == MISSING:
                    # 접수, not 제출: a report sent and rejected is not there either (its reasons are in 반려/)
                    message = (f"{short(week)} 주간 추진실적 보고({names})가 아직 접수되지 않았습니다. "
                               f"'주간실적' 서식에 작성하여 기획예산과로 바로 제출해 주시기 바랍니다"
                               f"(매주 {weekday}요일까지; 반려된 파일은 고쳐서 다시 내야 접수됩니다).")
                else:
                    arrived = seoul_day(cell.arrived) if cell.arrived else deadline
                    message = (f"{short(week)} 주간 추진실적 보고({names})가 기한({short(deadline)})보다 늦은 "
                               f"{short(arrived)}에 접수되었습니다. 다음 보고부터는 {weekday}요일까지 제출해 주시기 바랍니다.")
                out.append(Reminder(dept, names, f"{WEEKLY_ITEM}({short(week)})", deadline, label, message, week))
    for plan in tracking.plans:
        out += _plan_reminders(plan, tracking.plan_rule)
    return sorted(out, key=lambda r: (order.get(r.department, len(order)), r.due or date.max, r.item))


def _plan_reminders(plan: PlanStatus, rule: str) -> list[Reminder]:
    project, dept = plan.project.name, plan.project.department
    name = _quoted(project)
    if plan.status == MISSING:
        return [Reminder(dept, project, PLAN_ITEM, plan.due, MISSING,
                         f"{name} 자체 추진계획서가 아직 접수되지 않았습니다. 서울시 평가계획을 받으면 {rule}에 "
                         f"'자체추진계획' 서식으로 제출하고, 평가계획 접수 사실을 기획예산과에 통보해 주시기 바랍니다.")]
    if plan.status == NOT_YET:
        return []
    out = []
    if plan.status == LATE and plan.submitted and plan.due:
        out.append(Reminder(dept, project, PLAN_ITEM, plan.due, LATE,
                            f"{name} 자체 추진계획서를 기한({short(plan.due)})보다 늦은 {short(plan.submitted)}에 "
                            f"제출했습니다({rule}). 늦어진 사유를 기획예산과에 알려 주시기 바랍니다."))
    if plan.notified is None:
        out.append(Reminder(dept, project, NOTICE_ITEM, plan.received, NOT_NOTIFIED,
                            f"{name} 서울시 평가계획을 기획예산과에 통보한 날짜가 없습니다. 통보하지 않으면 포상금을 "
                            f"지급할 수 없습니다(추진계획 VI 행정사항). 통보했으면 '자체추진계획' 서식의 '기획예산과 "
                            f"통보일'을 적어 다시 제출해 주시기 바랍니다."))
    if plan.approved is None:
        out.append(Reminder(dept, project, APPROVAL_ITEM, None, NOT_APPROVED,
                            f"{name} 자체 추진계획서의 구청장 방침 결재일이 비어 있습니다. 결재를 받았으면 "
                            f"'자체추진계획' 서식의 '방침 결재일'을 적어 다시 제출해 주시기 바랍니다."))
    return out


def owed_items(reminders: Sequence[Reminder]) -> list[Reminder]:
    """A department's reminders for a summary line: its weekly reports in one item per state
    (`주간 추진실적 보고 미제출` 13 times is `주간 추진실적 보고 13회(4/1(금)~6/24(금))`, three or fewer
    are named: `주간 추진실적 보고(3/11(금), 3/25(금))`), the other items as they are."""
    weeks: dict[str, list[Reminder]] = {}
    for reminder in reminders:
        if reminder.week is not None:
            weeks.setdefault(reminder.status, []).append(reminder)
    out: list[Reminder] = []
    for reminder in reminders:
        group = weeks.pop(reminder.status, None) if reminder.week is not None else [reminder]
        if not group:
            continue  # a weekly report already in its state's item
        if len(group) == 1:
            out.append(group[0])
            continue
        days = [short(r.week) for r in group if r.week is not None]
        what = f"({', '.join(days)})" if len(days) <= 3 else f" {len(days)}회({days[0]}~{days[-1]})"
        projects = ", ".join(dict.fromkeys(name for r in group for name in r.project.split(", ")))
        out.append(Reminder(reminder.department, projects, f"{WEEKLY_ITEM}{what}", None, reminder.status, ""))
    return out


# An item and its state said once: not `자체 추진계획 방침 결재 미결재` (the sheet keeps them in two columns)
_PHRASES = {
    (NOTICE_ITEM, NOT_NOTIFIED): "기획예산과에 평가계획 미통보",
    (APPROVAL_ITEM, NOT_APPROVED): "자체 추진계획 방침 미결재",
    (PLAN_ITEM, MISSING): "자체 추진계획서 미제출",
    (PLAN_ITEM, LATE): "자체 추진계획서 늦게 제출",
}


def phrase(reminder: Reminder) -> str:
    """`주간 추진실적 보고(3/4(금)) 미제출`, `기획예산과에 평가계획 미통보`: one reminder in a summary line."""
    return _PHRASES.get((reminder.item, reminder.status)) or f"{reminder.item} {reminder.status}"


def _quoted(name: str) -> str:
    """`'안전도시 만들기'`, but a name that brings its own quotes (`'서울, 꽃으로 피다'`) as it is."""
    return name if name[:1] in "'\"「『<《〈[(" else f"'{name}'"


# --- the terminal / mail summary ---


def summary_lines(tracking: Tracking, days: int = UPCOMING_DAYS, limit: int = 12) -> list[str]:
    """A short Korean summary; only characters a cp949 console can print."""
    t = tracking
    lines = [f"주간보고·계획서 현황 (기준일 {t.as_of.isoformat()}, 사업 {len(t.projects)}개)"]
    week = t.current_week
    if week is None:
        first = f"(첫 보고일 {short(min(t.deadlines))})" if t.deadlines else ""
        lines.append(f"  주간보고: 아직 기한이 된 보고가 없습니다{first}.")
    else:
        cells = [r.cells[week] for r in t.weekly]
        missing = t.missing_this_week()
        line = (f"  이번 주 {short(week)} 보고: 제출 {sum(c.status == ON_TIME for c in cells)}, "
                f"지연 {sum(c.status == LATE for c in cells)}, 미제출 {len(missing)}")
        if missing:
            names = list(dict.fromkeys(r.project.department for r in missing))
            more = f" 외 {len(names) - limit}곳" if len(names) > limit else ""
            line += f" - 미제출 부서: {', '.join(names[:limit])}{more}"
        lines.append(line)
        totals = [sum(total[i] for total in t.week_totals()) for i in (1, 2, 3)]
        lines.append(f"  {short(t.weeks[0])}부터 누계: 제출 {totals[0]}, 지연 {totals[1]}, 미제출 {totals[2]}")
    lines.append(
        f"  자체 추진계획서({t.plan_rule}): 제출 {t.plan_count(ON_TIME)}, 지연 {t.plan_count(LATE)}, "
        f"미제출 {t.plan_count(MISSING)}, 기획예산과 미통보 {sum(p.status != MISSING and p.notified is None for p in t.plans)}"
    )
    owing = t.owing()
    if owing:
        lines.append(f"  아직 낼 것이 있는 부서 {len(owing)}곳:")
        for dept, items in list(owing.items())[:limit]:
            lines.append(f"    {dept}: " + "; ".join(phrase(r) for r in owed_items(items)))
        if len(owing) > limit:
            lines.append(f"    ... 외 {len(owing) - limit}곳 (통합현황의 '미제출목록' 시트)")
    events = t.upcoming(days)
    lines.append(f"  앞으로 {days}일 일정 {len(events)}건" + (":" if events else "."))
    for event in events[:limit]:
        lines.append(f"    {event.when} {event.name}" + (f" - {event.owner}" if event.owner else ""))
    if len(events) > limit:
        lines.append(f"    ... 외 {len(events) - limit}건 (통합현황의 '일정' 시트)")
    return lines


def headline(tracking: Tracking) -> str:
    week = tracking.current_week
    owing = len(tracking.owing())
    weekly = f"{short(week)} 주간보고 미제출 {len(tracking.missing_this_week())}건, " if week else ""
    return f"  {weekly}아직 낼 것이 있는 부서 {owing}곳 (통합현황의 '미제출목록' 시트, coop-batch status)"


# --- the master's status sheets ---

_STATE_TONES = {ON_TIME: "good", LATE: "warn", MISSING: "bad"}


def _tones(values: Sequence[Any]) -> dict[str, Any]:
    """Colours for the exact words in a column: `지연 3/7` amber, `미제출`/`미제출 1/3` red, `제출` green."""
    out: dict[str, Any] = {}
    for value in values:
        if isinstance(value, str):
            for word, tone in _STATE_TONES.items():
                if value == word or value.startswith(word + " "):
                    out[value] = tone
    return out


def weekly_sheet(tracking: Tracking) -> SheetSpec:
    """주간보고현황: departments and their projects down, report days across."""
    t = tracking
    rows: list[list[Any]] = []
    department_totals = t.department_totals()
    for dept in t.departments:
        own = [r for r in t.weekly if r.project.department == dept]
        for row in own:
            counts = [row.count(s) for s in (ON_TIME, LATE, MISSING)]
            rows.append([dept, row.project.name, *(row.cells[w].label for w in t.weeks), *counts])
        if len(own) > 1:
            counts = list(department_totals[dept])
            cells = [_department_cell([r.cells[w] for r in own]) for w in t.weeks]
            rows.append([dept, f"부서 계({len(own)}개 사업)", *cells, *counts])
    totals = t.week_totals()
    for i, status in enumerate((ON_TIME, LATE, MISSING), 1):
        grand = [None, None, None]
        grand[i - 1] = sum(total[i] for total in totals)
        rows.append(["주별 계", status, *(total[i] for total in totals), *grand])
    week_columns = [
        ColumnSpec(short(w), "int", tones=_tones([row[2 + i] for row in rows])) for i, w in enumerate(t.weeks)
    ]
    columns = [ColumnSpec("부서"), ColumnSpec("사업명"), *week_columns,
               ColumnSpec(ON_TIME, "int"), ColumnSpec(LATE, "int"), ColumnSpec(MISSING, "int")]
    note = (f"매주 {t.weekday}요일 보고. 제출: 그날 안에 도착 / 지연 M/D: 늦게 도착한 날 / 미제출: 기준일까지 없음. "
            f"보고일이 {t.weekday}요일이 아니면 그 날 이후 첫 {t.weekday}요일 보고로 보고, 다시 낸 보고는 처음 도착한 시각으로 "
            f"판단합니다. {t.weekday}요일이 공휴일이면 다음 평일까지입니다.")
    return SheetSpec("주간보고현황", columns, rows, group="status", note=note, freeze_columns=2)


def _department_cell(cells: Sequence[WeekCell]) -> str:
    """A department's week in one word: 미제출 (n/m when only some projects are missing), else its
    latest late arrival, else 제출."""
    missing = sum(c.status == MISSING for c in cells)
    if missing:
        return MISSING if missing == len(cells) else f"{MISSING} {missing}/{len(cells)}"
    late = [c for c in cells if c.status == LATE and c.arrived is not None]
    if late:
        return max(late, key=lambda c: c.arrived).label  # type: ignore[arg-type,return-value]
    return NOT_YET if any(c.status == NOT_YET for c in cells) else ON_TIME


PLAN_COLUMNS = [
    ColumnSpec("부서"), ColumnSpec("사업명"), ColumnSpec("평가계획 접수일", "date"),
    ColumnSpec("계획서 제출일", "date"), ColumnSpec("제출 기한", "date"), ColumnSpec("기한 내 제출", "yn"),
    ColumnSpec("상태", "status", tones={LATE: "warn"}), ColumnSpec("기획예산과 통보일", "date", tones={NOT_NOTIFIED: "bad"}),
    ColumnSpec("방침 결재일", "date", tones={NOT_APPROVED: "warn"}), ColumnSpec("비고"), ColumnSpec("원본파일"),
]


def plans_sheet(tracking: Tracking) -> SheetSpec:
    """제출현황: each project's self plan against the plan rule."""
    rows = [
        [p.project.department, p.project.name, p.received, p.submitted, p.due, p.on_time, p.status,
         p.notified if p.notified or p.status == MISSING else NOT_NOTIFIED,
         p.approved if p.approved or p.status == MISSING else NOT_APPROVED, p.note, p.file]
        for p in tracking.plans
    ]
    note = (f"제출 기한 = {tracking.plan_rule}(기한 마지막 날이 휴일이면 다음 평일). 기획예산과에 평가계획을 "
            "통보하지 않은 사업(미통보)은 포상금을 지급할 수 없습니다(추진계획 VI).")
    return SheetSpec("제출현황", PLAN_COLUMNS, rows, group="status", note=note)


SCHEDULE_COLUMNS = [
    ColumnSpec("시작일", "date"), ColumnSpec("종료일", "date"), ColumnSpec("요일"), ColumnSpec("일정", width=44),
    ColumnSpec("주관·대상"), ColumnSpec("구분"),
    ColumnSpec("상태", "status", tones={"오늘": "good", "진행 중": "warn"}), ColumnSpec("비고"),
]


def schedule_sheet(tracking: Tracking) -> SheetSpec:
    """일정: the rules' schedule for the year, the plan deadlines and the weekly report days."""
    rows = [
        [e.start, e.end, weekday_name(e.start) if e.start == e.end else "", e.name, e.owner, e.source, e.state(tracking.as_of), e.note]
        for e in tracking.events
    ]
    return SheetSpec("일정", SCHEDULE_COLUMNS, rows, group="status",
                     note="연간 일정은 규칙 파일([[schedule]])에서, 계획서 기한과 주간 보고일은 제출 자료에서 만듭니다.")


REMINDER_COLUMNS = [
    ColumnSpec("부서"), ColumnSpec("사업명"), ColumnSpec("항목"), ColumnSpec("기한", "date"),
    ColumnSpec("상태", "status"), ColumnSpec("안내 문구", width=80),
]


def reminders_sheet(tracking: Tracking) -> SheetSpec:
    """미제출목록: one row per department per missing or late item, ready to paste into a reminder."""
    rows = [[r.department, r.project, r.item, r.due, r.status, r.message] for r in tracking.reminders]
    columns = list(REMINDER_COLUMNS)
    columns[4] = ColumnSpec("상태", "status", tones={**_tones([row[4] for row in rows]), NOT_APPROVED: "warn"})
    return SheetSpec("미제출목록", columns, rows, group="status",
                     note="안내 문구는 그대로 복사해 메신저·메일로 보낼 수 있습니다. 지연 항목은 이미 접수된 것입니다.")


def status_sheets(tracking: Tracking) -> list[SheetSpec]:
    return [weekly_sheet(tracking), plans_sheet(tracking), schedule_sheet(tracking), reminders_sheet(tracking)]
