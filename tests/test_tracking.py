"""Who owes what (issue 8): weekly reports, self plans, the calendar, the status sheets and `coop-batch status`.

The computation is tested on hand-built records with fixed arrival times (the clock is
never read); the integration tests drive `run_batch` on a small workspace whose files get
their arrival times with `os.utime`, the CLI with `CliRunner`, and the demo workspace.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from python_calamine import CalamineWorkbook

from coop_batch.calendar import (
    Event,
    add_days,
    due_date,
    end_of_day,
    expand_item,
    expand_schedule,
    report_week,
    short,
    upcoming,
)
from coop_batch.cli import cli
from coop_batch.config import SEOUL, Workspace, init_workspace
from coop_batch.lock import WorkspaceLock
from coop_batch.merge import Source, merge
from coop_batch.rules import CalendarRule, PlanRule, RulesError, ScheduleItem, load_rules
from coop_batch.schema import KIND_BY_ID
from coop_batch.templates import write_template
from coop_batch.tracking import LATE, MISSING, ON_TIME, Submitted, Tracking, compute_tracking, owed_projects
from coop_batch.tracking_report import (
    owed_items,
    plans_sheet,
    reminders_sheet,
    schedule_sheet,
    summary_lines,
    weekly_sheet,
)

SAFETY = "안전도시 만들기"
JOBS = "서울 희망일자리 만들기"
TAX = "시세 징수 평가"
FRI = [date(2016, 3, 4), date(2016, 3, 11), date(2016, 3, 18), date(2016, 3, 25)]


def at(day: date, clock: str = "10:00", tz: Any = SEOUL) -> datetime:
    hour, minute, *second = (int(x) for x in clock.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, *(second or [0]), tzinfo=tz)


def results(*rows: tuple[int, str, list[str]]) -> Submitted:
    records = [{"seq": seq, "project": name, "departments": depts, "lead_department": depts[0], "_row": seq + 1}
               for seq, name, depts in rows]
    return Submitted("기획예산과/평가결과.xlsx", "results", "기획예산과", at(date(2016, 2, 3)), records)


def contacts(dept: str, *rows: tuple[str, str, str]) -> Submitted:
    records = [{"project": p, "role": role, "department": d, "_row": i + 2} for i, (p, role, d) in enumerate(rows)]
    return Submitted(f"{dept}/담당자지정.xlsx", "contacts", dept, at(date(2016, 2, 10)), records)


def weekly(dept: str, day: date, arrived: datetime, *projects: str, name: str = "") -> Submitted:
    records = [{"report_date": day, "project": p, "department": dept, "progress": "추진", "_row": i + 2}
               for i, p in enumerate(projects or (SAFETY,))]
    return Submitted(name or f"{dept}/주간실적_{day}.xlsx", "weekly", dept, arrived, records)


def plan(dept: str, project: str, received: date, submitted: date | None, *, notified: date | None = None,
         approved: date | None = None, arrived: datetime | None = None) -> Submitted:
    record = {"project": project, "department": dept, "plan_received": received, "notified": notified,
              "plan_submitted": submitted, "approved": approved, "field": "정량", "item": "항목", "_row": 2}
    return Submitted(f"{dept}/자체추진계획.xlsx", "plans", dept, arrived or at(submitted or received), [record])


BASE = [results((1, SAFETY, ["안전치수과", "도로관리과"]), (2, JOBS, ["일자리지원과"]))]


def track(subs: list[Submitted], rules, as_of: date = FRI[-1]) -> Tracking:
    merged = merge([Source(s.name, s.kind, s.records, s.department) for s in subs])
    return compute_tracking(merged.data, subs, rules, as_of)


def labels(tracking: Tracking, project: str = SAFETY) -> list[str]:
    row = next(r for r in tracking.weekly if r.project.name == project)
    return [row.cells[w].label for w in tracking.weeks]


# --- weekly reports ---


def test_on_time_late_and_missing_weekly_reports(rules):
    subs = BASE + [
        weekly("안전치수과", FRI[0], at(FRI[0], "23:59:59")),  # the last second of the Friday
        weekly("안전치수과", FRI[1], at(FRI[1] + timedelta(days=1), "00:00")),  # the first of Saturday
        weekly("안전치수과", FRI[3], at(FRI[3], "09:00")),
    ]
    t = track(subs, rules)
    assert t.weeks == FRI
    assert labels(t) == ["제출", "지연 3/12", "미제출", "제출"]
    assert t.current_week == FRI[3]
    assert [(w, s, lt, m) for w, s, lt, m in t.week_totals()][:3] == [(FRI[0], 1, 0, 1), (FRI[1], 0, 1, 1),
                                                                      (FRI[2], 0, 0, 2)]
    assert [r.project.name for r in t.missing_this_week()] == [JOBS]
    mine = [r for r in t.reminders if r.department == "안전치수과"]
    assert [(r.item, r.status) for r in mine] == [
        ("주간 추진실적 보고(3/11(금))", "지연 3/12"), ("주간 추진실적 보고(3/18(금))", "미제출"),
        ("자체 추진계획서 제출", "미제출"),
    ]
    assert "3/12(토)에 접수" in mine[0].message and "아직 접수되지 않았습니다" in mine[1].message and "반려된 파일은" in mine[1].message


def test_arrival_is_judged_in_seoul_time_whatever_zone_it_comes_in(rules):
    utc = timezone.utc
    on_time = BASE + [weekly("안전치수과", FRI[0], at(FRI[0], "14:59:59", utc))]  # 23:59:59 in Seoul
    late = BASE + [weekly("안전치수과", FRI[0], at(FRI[0], "15:00", utc))]  # Saturday 00:00 in Seoul
    assert labels(track(on_time, rules, FRI[0])) == ["제출"]
    assert labels(track(late, rules, FRI[0] + timedelta(days=1))) == ["지연 3/5"]
    assert end_of_day(FRI[0]) == datetime(2016, 3, 5, tzinfo=SEOUL)


def test_a_resubmission_replacing_an_on_time_report_is_still_on_time(rules):
    first = weekly("안전치수과", FRI[1], at(FRI[1], "16:00"), name="안전치수과/주간실적.xlsx")
    fixed = weekly("안전치수과", FRI[1], at(FRI[1] + timedelta(days=3), "09:30"), name="안전치수과/주간실적_수정.xlsx")
    t = track(BASE + [first, fixed], rules)
    assert labels(t)[1] == "제출"
    assert next(r for r in t.weekly if r.project.name == SAFETY).cells[FRI[1]].file == first.name
    # the merged master holds the correction; only the judgement looks at the first arrival
    merged = merge([Source(s.name, s.kind, s.records, s.department) for s in BASE + [first, fixed]])
    assert {r["_file"] for r in merged.data["weekly"]} == {fixed.name}
    assert labels(track(BASE + [fixed], rules))[1] == "지연 3/14"  # the correction alone is late


def test_a_report_dated_on_another_day_counts_for_the_next_friday(rules):
    thursday, saturday = FRI[2] - timedelta(days=1), FRI[2] + timedelta(days=1)
    assert report_week(thursday, 4) == FRI[2] and report_week(FRI[2], 4) == FRI[2]
    assert report_week(saturday, 4) == FRI[3]
    subs = BASE + [
        weekly("안전치수과", thursday, at(thursday, "17:30")),  # the 국별 보고회 day: that week's report
        weekly("일자리지원과", saturday, at(saturday, "11:00"), JOBS),  # already the next week's
    ]
    t = track(subs, rules)
    assert labels(t) == ["미제출", "미제출", "제출", "미제출"]
    assert labels(t, JOBS) == ["미제출", "미제출", "미제출", "제출"]


def test_a_friday_holiday_moves_the_deadline_to_the_next_working_day(rules):
    chuseok = date(2016, 9, 16)  # 추석 연휴 (a Friday) in the 2016 rules
    monday, tuesday = chuseok + timedelta(days=3), chuseok + timedelta(days=4)
    on_monday = BASE + [weekly("안전치수과", chuseok, at(monday, "17:00"))]
    on_tuesday = BASE + [weekly("안전치수과", chuseok, at(tuesday, "09:00"))]
    t = track(on_monday, rules, tuesday)
    assert t.deadlines[chuseok] == monday
    assert labels(t)[-1] == "제출"
    assert labels(track(on_tuesday, rules, tuesday))[-1] == "지연 9/20"
    # as of the holiday itself the report is not due yet, and it is not this week's figure
    early = track(BASE, rules, chuseok)
    assert labels(early)[-1] == "기한 전" and early.current_week == chuseok - timedelta(days=7)
    strict = rules.model_copy(update={"calendar": CalendarRule(holidays=rules.calendar.holidays, roll_over=False)})
    assert labels(track(on_monday, strict, tuesday))[-1] == "지연 9/19"


def test_only_what_had_arrived_by_the_as_of_day_counts(rules):
    late = weekly("안전치수과", FRI[1], at(date(2016, 3, 14), "09:00"))
    assert labels(track(BASE + [late], rules, FRI[1]))[-1] == "미제출"
    assert labels(track(BASE + [late], rules, date(2016, 3, 14)))[-1] == "지연 3/14"
    # a plan sent after the as-of date is not there yet either
    sent = plan("안전치수과", SAFETY, date(2016, 3, 2), date(2016, 3, 7), notified=date(2016, 3, 2))
    assert track(BASE + [sent], rules, date(2016, 3, 6)).plans[0].status == MISSING
    assert track(BASE + [sent], rules, date(2016, 3, 7)).plans[0].status == ON_TIME


# --- projects and leads ---


def test_projects_come_from_contacts_and_results_with_the_contacts_lead_first(rules):
    subs = BASE + [
        contacts("도로관리과", (SAFETY, "총괄부서", "도로관리과"), (SAFETY, "협조부서", "안전치수과")),
        contacts("세무과", (TAX, "총괄부서", "세 무 과")),
    ]
    merged = merge([Source(s.name, s.kind, s.records, s.department) for s in subs]).data
    owed = owed_projects(merged)
    assert [(p.name, p.department, p.seq) for p in owed] == [
        (SAFETY, "도로관리과", 1), (JOBS, "일자리지원과", 2), (TAX, "세무과", None),
    ]
    t = compute_tracking(merged, subs + [weekly("세무과", FRI[0], at(FRI[0]), TAX)], rules, FRI[0])
    assert labels(t, TAX) == ["제출"]
    assert t.departments == ["도로관리과", "일자리지원과", "세무과"]


# --- self plans ---


def test_plan_rule_at_its_boundary_in_calendar_days(rules):
    received = date(2016, 3, 2)  # Wednesday; + 5 calendar days = Monday 3/7
    for submitted, status, on_time in ((date(2016, 3, 7), ON_TIME, True), (date(2016, 3, 8), LATE, False)):
        t = track(BASE + [plan("안전치수과", SAFETY, received, submitted, notified=received)], rules)
        p = t.plans[0]
        assert (p.due, p.status, p.on_time) == (date(2016, 3, 7), status, on_time)
    late = [r for r in t.reminders if r.item == "자체 추진계획서 제출"]
    assert late[0].status == LATE and "3/7(월)" in late[0].message and "3/8(화)" in late[0].message


def test_plan_rule_in_business_days_skips_weekends_and_holidays(rules):
    business = rules.model_copy(update={"plans": PlanRule(submit_within_days=5, day_basis="business")})
    received = date(2016, 2, 5)  # Friday before 설: 2/8-2/10 are holidays
    assert add_days(received, 5, "business", rules.calendar.holidays) == date(2016, 2, 17)
    assert add_days(received, 5, "business") == date(2016, 2, 12)  # without the holiday list
    on_day = track(BASE + [plan("안전치수과", SAFETY, received, date(2016, 2, 17), notified=received)], business)
    next_day = track(BASE + [plan("안전치수과", SAFETY, received, date(2016, 2, 18), notified=received)], business)
    assert (on_day.plans[0].status, next_day.plans[0].status) == (ON_TIME, LATE)
    assert "5일(평일)" in on_day.plan_rule
    # in calendar days 2/10 is the fifth day, a holiday: the rules roll it over to 2/11
    assert due_date(received, 5, "calendar", rules.calendar.holidays, roll_over=True) == date(2016, 2, 11)
    assert due_date(received, 5, "calendar", rules.calendar.holidays, roll_over=False) == date(2016, 2, 10)


def test_not_notified_and_not_approved_plans_are_flagged(rules):
    subs = BASE + [plan("안전치수과", SAFETY, date(2016, 2, 15), date(2016, 2, 19), notified=None, approved=None)]
    t = track(subs, rules)
    p = t.plans[0]
    assert (p.status, p.notified, p.approved) == (ON_TIME, None, None)
    flagged = {r.status: r for r in t.reminders if r.department == "안전치수과"}
    assert "포상금을 지급할 수 없습니다" in flagged["미통보"].message
    assert "방침 결재일" in flagged["미결재"].message
    row = dict(zip([c.title for c in plans_sheet(t).columns], list(plans_sheet(t).rows)[0]))
    assert (row["기획예산과 통보일"], row["방침 결재일"], row["기한 내 제출"]) == ("미통보", "미결재", True)
    assert set(t.owing()) == {"안전치수과", "일자리지원과"}  # 일자리지원과 sent no plan at all
    assert [r.item for r in t.owing()["일자리지원과"]] == ["주간 추진실적 보고(3/4(금))", "주간 추진실적 보고(3/11(금))",
                                                        "주간 추진실적 보고(3/18(금))", "주간 추진실적 보고(3/25(금))",
                                                        "자체 추진계획서 제출"]


def test_summary_says_a_run_of_missing_weekly_reports_in_one_item(rules):
    """`status` and the mail: 13 missing weeks are one item with their count and span, not 13 items."""
    t = track(BASE, rules, date(2016, 6, 30))
    jobs = t.owing()["일자리지원과"]
    assert sum(r.week is not None for r in jobs) == len(t.weeks) == 17  # 3/4 … 6/24, one reminder a week
    [weekly, plan_item] = owed_items(jobs)
    assert (weekly.item, weekly.status) == (f"주간 추진실적 보고 17회({short(t.weeks[0])}~{short(t.weeks[-1])})", "미제출")
    assert weekly.item == "주간 추진실적 보고 17회(3/4(금)~6/24(금))" and plan_item.item == "자체 추진계획서 제출"
    assert "    일자리지원과: 주간 추진실적 보고 17회(3/4(금)~6/24(금)) 미제출; 자체 추진계획서 미제출" in summary_lines(t)
    few = track(BASE, rules, date(2016, 3, 14)).owing()["일자리지원과"]
    assert [r.item for r in owed_items(few)] == ["주간 추진실적 보고(3/4(금), 3/11(금))", "자체 추진계획서 제출"]
    one = track(BASE, rules, date(2016, 3, 7)).owing()["일자리지원과"]
    assert owed_items(one) == one  # a single week keeps its own line (and its due date)


def test_a_blank_submission_date_falls_back_to_the_files_arrival(rules):
    subs = BASE + [plan("안전치수과", SAFETY, date(2016, 3, 2), None, notified=date(2016, 3, 2),
                        arrived=at(date(2016, 3, 9)))]
    p = track(subs, rules).plans[0]
    assert (p.submitted, p.status) == (date(2016, 3, 9), LATE) and "도착일" in p.note


# --- the calendar ---


def test_calendar_months_ranges_and_weekdays_cross_month_and_year_ends():
    feb = list(expand_item(ScheduleItem(name="수립", months=[2]), 2016))
    assert [(e.start, e.end) for e in feb] == [(date(2016, 2, 1), date(2016, 2, 29))]
    assert list(expand_item(ScheduleItem(name="수립", months=[2]), 2017))[0].end == date(2017, 2, 28)
    paid = list(expand_item(ScheduleItem(name="포상금 지급", start="11-01", end="01-31"), 2016))
    assert [(e.start, e.end) for e in paid] == [(date(2016, 11, 1), date(2017, 1, 31))]
    thursdays = [e.start for e in expand_item(ScheduleItem(name="국별", weekday="목", start="03-01", end="09-30"), 2016)]
    assert thursdays[0] == date(2016, 3, 3) and thursdays[-1] == date(2016, 9, 29)
    assert all(d.weekday() == 3 for d in thursdays) and {b - a for a, b in zip(thursdays, thursdays[1:])} == {timedelta(7)}
    assert date(2016, 3, 31) in thursdays and date(2016, 4, 7) in thursdays  # across a month end
    fridays = [e.start for e in expand_item(ScheduleItem(name="x", weekday="금", start="12-20", end="01-10"), 2016)]
    assert fridays == [date(2016, 12, 23), date(2016, 12, 30), date(2017, 1, 6)]
    march = [e.start for e in expand_item(ScheduleItem(name="x", weekday="목", months=[3]), 2016)]
    assert march == [date(2016, 3, d) for d in (3, 10, 17, 24, 31)]
    leap = list(expand_item(ScheduleItem(name="x", start="02-29", end="03-01"), 2017))[0]
    assert (leap.start, leap.end) == (date(2017, 2, 28), date(2017, 3, 1))


def test_the_2016_schedule_and_the_coming_14_days(rules):
    events = expand_schedule(rules.schedule, 2016)
    by_name = {e.name: e for e in events}
    assert {(e.start.month, e.end.month) for e in events if e.name == "종합보고회"} == {(3, 3), (5, 5), (9, 9)}
    assert (by_name["우수부서 포상금 지급"].start, by_name["우수부서 포상금 지급"].end) == (date(2016, 11, 1), date(2017, 1, 31))
    soon = upcoming(events, date(2016, 3, 25))
    assert [e.name for e in soon] == ["종합보고회", "국별 보고회", "사업별 보고회", "국별 보고회"]
    assert soon[0].state(date(2016, 3, 25)) == "진행 중" and soon[1].state(date(2016, 3, 25)) == "예정"
    # across the year end: the payment period still runs in January of the next year
    january = upcoming(events, date(2017, 1, 25))
    assert [e.name for e in january] == ["우수부서 포상금 지급"]
    assert upcoming(events, date(2017, 2, 1)) == []
    assert Event(date(2016, 3, 1), date(2016, 3, 1), "x").state(date(2016, 3, 1)) == "오늘"
    assert Event(date(2016, 3, 1), date(2016, 3, 1), "x").state(date(2016, 3, 2)) == "지남"


def test_tracking_calendar_adds_each_departments_deadlines(rules):
    subs = BASE + [plan("안전치수과", SAFETY, date(2016, 3, 21), date(2016, 3, 23), notified=date(2016, 3, 21))]
    t = track(subs, rules, date(2016, 3, 24))
    soon = t.upcoming()
    assert ("자체 추진계획서 제출: 안전도시 만들기", "안전치수과") in [(e.name, e.owner) for e in soon]
    assert [e.start for e in soon if e.name == "주간 추진실적 보고"] == [date(2016, 3, 25), date(2016, 4, 1)]
    weekly_days = [e for e in t.events if e.name == "주간 추진실적 보고"]
    assert weekly_days[0].start == date(2016, 3, 4) and weekly_days[-1].start == date(2016, 12, 30)
    assert next(e for e in weekly_days if e.start == date(2016, 9, 16)).note.startswith("9/16(금)이(가) 공휴일")


def test_rules_calendar_section_is_optional_and_weekly_order_checked(rules, tmp_path: Path):
    text = (Path(__file__).parents[1] / "coop_batch/rules/2016.toml").read_text(encoding="utf-8")
    start, end = text.index("[calendar]"), text.index("\nroll_over = true") + len("\nroll_over = true")
    plain = tmp_path / "2016.toml"
    plain.write_text(text[:start] + text[end:], encoding="utf-8")
    loaded = load_rules(plain)
    assert loaded.calendar.holidays == [] and loaded.calendar.roll_over is False
    assert date(2016, 9, 16) in rules.calendar.holidays and rules.calendar.roll_over
    backwards = tmp_path / "2017.toml"
    backwards.write_text(text.replace('end = "2016-12-30"', 'end = "2016-01-01"'), encoding="utf-8")
    with pytest.raises(RulesError, match="weekly"):
        load_rules(backwards)


# --- what people read ---


def test_status_sheets_and_summary_lines(rules):
    subs = BASE + [
        contacts("세무과", (TAX, "총괄부서", "세무과"), ("두 번째 세무 사업", "총괄부서", "세무과")),
        weekly("세무과", FRI[0], at(FRI[0]), TAX, "두 번째 세무 사업"),
        weekly("세무과", FRI[1], at(FRI[1] + timedelta(days=2)), TAX),
        weekly("안전치수과", FRI[0], at(FRI[0])),
    ]
    t = track(subs, rules, date(2016, 3, 14))
    sheet = weekly_sheet(t)
    titles = [c.title for c in sheet.columns]
    assert titles == ["부서", "사업명", "3/4(금)", "3/11(금)", "제출", "지연", "미제출"]
    rows = {(r[0], r[1]): r[2:] for r in sheet.rows}
    assert rows[("세무과", TAX)] == ["제출", "지연 3/13", 1, 1, 0]
    assert rows[("세무과", "두 번째 세무 사업")] == ["제출", "미제출", 1, 0, 1]
    assert rows[("세무과", "부서 계(2개 사업)")] == ["제출", "미제출 1/2", 2, 1, 1]
    assert rows[("주별 계", "제출")] == [3, 0, 3, None, None]
    assert rows[("주별 계", "미제출")] == [1, 3, None, None, 4]
    tones = sheet.columns[3].tones
    assert tones == {"지연 3/13": "warn", "미제출": "bad", "미제출 1/2": "bad"}
    reminder_rows = list(reminders_sheet(t).rows)
    assert ["세무과", "두 번째 세무 사업", "주간 추진실적 보고(3/11(금))", FRI[1], "미제출"] in [r[:5] for r in reminder_rows]
    schedule = list(schedule_sheet(t).rows)
    assert [r[:4] for r in schedule if r[3] == "종합보고회"][0] == [date(2016, 3, 1), date(2016, 3, 31), "", "종합보고회"]
    lines = summary_lines(t)
    text = "\n".join(lines)
    text.encode("cp949")  # a Korean Windows console prints it as it is
    assert "이번 주 3/11(금) 보고: 제출 0, 지연 1, 미제출 3" in text
    assert "미제출 부서: 안전치수과, 일자리지원과, 세무과" in text  # 평가결과 연번 first
    assert "앞으로 14일 일정" in text and "3/17(목) 국별 보고회" in text


# --- through the nightly run, the master workbook and the CLI ---

RESULTS_ROWS = [
    {"seq": 1, "project": SAFETY, "category": "시·자치구 공동협력사업", "grade": "최우수", "prize_won": "69.2",
     "subsidy": "N", "departments": "안전치수과(총괄) 도로관리과"},
    {"seq": 2, "project": JOBS, "category": "시·자치구 공동협력사업", "grade": "우수", "prize_won": "10",
     "subsidy": "N", "departments": "일자리지원과"},
]


def put(ws: Workspace, rel: str, kind: str, rows: list[dict[str, Any]], rules, arrived: datetime) -> Path:
    path = write_template(KIND_BY_ID[kind], rules, ws.inbox / rel, rows)
    os.utime(path, (arrived.timestamp(), arrived.timestamp()))
    return path


def weekly_rows(dept: str, day: date, project: str, progress: str = "교육 2회") -> list[dict[str, Any]]:
    return [{"report_date": day, "project": project, "department": dept, "progress": progress}]


def plan_rows(dept: str, project: str, received: date, submitted: date, notified: date | None) -> list[dict[str, Any]]:
    return [{"project": project, "department": dept, "plan_received": received, "notified": notified,
             "plan_submitted": submitted, "approved": submitted + timedelta(days=2), "field": "정량평가",
             "item": "예산 확보율", "points": 20, "target": 18}]


@pytest.fixture
def workspace(tmp_path, rules) -> tuple[Workspace, Any]:
    from coop_batch.run import run_batch

    ws = init_workspace(tmp_path / "ws", policy_year=2016, evaluation_year=2015)
    put(ws, "기획예산과/평가결과.xlsx", "results", RESULTS_ROWS, rules, at(date(2016, 2, 3)))
    put(ws, "안전치수과/계획.xlsx", "plans", plan_rows("안전치수과", SAFETY, date(2016, 2, 15), date(2016, 2, 19), None),
        rules, at(date(2016, 2, 19)))
    put(ws, "안전치수과/주간_0311.xlsx", "weekly", weekly_rows("안전치수과", FRI[1], SAFETY), rules, at(FRI[1], "16:00"))
    put(ws, "안전치수과/주간_0311_수정.xlsx", "weekly", weekly_rows("안전치수과", FRI[1], SAFETY, "교육 3회(수정)"), rules,
        at(FRI[1] + timedelta(days=3), "09:30"))
    put(ws, "일자리지원과/주간_0311.xlsx", "weekly", weekly_rows("일자리지원과", FRI[1], JOBS), rules,
        at(FRI[1] + timedelta(days=4), "11:00"))
    report = run_batch(ws, as_of=FRI[1] + timedelta(days=4), settle_seconds=0, mail=False)
    assert report.count("accepted") == 5, report.summary_lines()
    return ws, report


def test_run_batch_tracks_from_the_ledger_and_writes_the_status_sheets(workspace):
    _, report = workspace
    t = report.tracking
    assert labels(t) == ["미제출", "제출"]  # the Monday correction replaced an on-time report
    assert labels(t, JOBS) == ["미제출", "지연 3/15"]
    assert t.plans[0].notified is None and t.plans[0].status == ON_TIME
    assert any("주간보고 미제출" in line for line in report.summary_lines())
    book = CalamineWorkbook.from_path(str(next(p for p in report.outputs if p.name.startswith("통합현황"))))
    names = book.sheet_names
    assert names[names.index("근무평정") + 1: names.index("제출이력")] == ["주간보고현황", "제출현황", "일정", "미제출목록"]
    matrix = book.get_sheet_by_name("주간보고현황").to_python()
    assert matrix[0][:4] == ["부서", "사업명", "3/4(금)", "3/11(금)"]
    assert [r[:4] for r in matrix[1:3]] == [["안전치수과", SAFETY, "미제출", "제출"], ["일자리지원과", JOBS, "미제출", "지연 3/15"]]
    plans = book.get_sheet_by_name("제출현황").to_python()
    assert plans[1][plans[0].index("기획예산과 통보일")] == "미통보"
    todo = book.get_sheet_by_name("미제출목록").to_python()
    assert ["안전치수과", SAFETY, "평가계획 기획예산과 통보"] in [r[:3] for r in todo]


def test_status_command_reads_the_ledger_without_the_lock_and_writes_nothing(workspace):
    workspace, _ = workspace

    def snapshot() -> dict[str, tuple[int, int]]:
        return {p.relative_to(workspace.root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
                for p in workspace.root.rglob("*") if p.is_file()}

    with WorkspaceLock(workspace.lock_path, "run"):  # a run is going on: status still answers
        before = snapshot()
        result = CliRunner().invoke(cli, ["status", "--workspace", str(workspace.root), "--as-of", "2016-03-15"])
        assert snapshot() == before
    assert result.exit_code == 0, result.output
    out = result.output
    out.encode("cp949")
    assert "기준일 2016-03-15" in out and "이번 주 3/11(금) 보고: 제출 1, 지연 1, 미제출 0" in out
    assert "안전치수과: 기획예산과에 평가계획 미통보; 주간 추진실적 보고(3/4(금)) 미제출" in out  # by deadline
    earlier = CliRunner().invoke(cli, ["status", "-w", str(workspace.root), "--as-of", "2016-03-11"])
    assert "이번 주 3/11(금) 보고: 제출 1, 지연 0, 미제출 1" in earlier.output  # the late one not yet in


def test_status_reads_while_a_run_has_the_ledger_open_and_from_an_odd_folder_name(workspace, tmp_path):
    import shutil

    from coop_batch.ledger import Ledger
    from coop_batch.status import load_tracking

    ws, _ = workspace
    with Ledger.open(ws.ledger_path):  # a writer's connection: the -wal file exists, read through it
        assert (ws.ledger_path.parent / (ws.ledger_path.name + "-wal")).exists()
        live = load_tracking(ws, date(2016, 3, 15))
    assert live is not None and labels(live, JOBS) == ["미제출", "지연 3/15"]
    odd = tmp_path / "공유 폴더 #1?" / "ws"
    shutil.copytree(ws.root, odd)
    result = CliRunner().invoke(cli, ["status", "-w", str(odd), "--as-of", "2016-03-15"])
    assert result.exit_code == 0 and "지연 1" in result.output, result.output


def test_status_command_without_a_ledger_and_with_a_bad_date(tmp_path):
    ws = init_workspace(tmp_path / "empty")
    result = CliRunner().invoke(cli, ["status", "-w", str(ws.root)])
    assert result.exit_code == 0 and "아직 없습니다" in result.output
    assert not ws.ledger_path.exists()
    assert CliRunner().invoke(cli, ["status", "-w", str(ws.root), "--as-of", "3월 4일"]).exit_code == 2


@pytest.fixture(scope="module")
def demo_master(tmp_path_factory, rules) -> dict[str, list[list[Any]]]:
    from coop_batch.demo import DEFAULT_AS_OF, build_demo_inbox
    from coop_batch.run import run_batch

    ws = init_workspace(tmp_path_factory.mktemp("demo") / "ws", policy_year=2016, evaluation_year=2015)
    build_demo_inbox(ws.inbox, rules, as_of=DEFAULT_AS_OF)
    report = run_batch(ws, as_of=DEFAULT_AS_OF, settle_seconds=0, mail=False)
    path = next(p for p in report.outputs if p.name.startswith("통합현황"))
    book = CalamineWorkbook.from_path(str(path))
    sheets = {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names}
    import openpyxl  # the colours: conditional formats on every report-day column

    matrix = openpyxl.load_workbook(path)["주간보고현황"]
    sheets["colours"] = [[str(r.sqref), [rule.formula[0] for rule in r.rules]] for r in matrix.conditional_formatting]
    sheets["status"] = report.tracking.summary_lines()
    return sheets


def test_demo_master_shows_a_realistic_mix(demo_master):
    matrix = demo_master["주간보고현황"]
    header = matrix[0]
    weeks = header[2:header.index("제출")]
    assert weeks == ["3/4(금)", "3/11(금)", "3/18(금)", "3/25(금)"]
    cells = {(r[0], r[1]): dict(zip(weeks, r[2:2 + len(weeks)])) for r in matrix[1:] if r[0]}
    values = [v for row in cells.values() for v in row.values() if isinstance(v, str)]
    assert values.count("제출") > 60 and any(v.startswith("지연 ") for v in values) and values.count("미제출") >= 4
    by_dept = {dept: row for (dept, project), row in cells.items() if not project.startswith("부서 계")}
    assert by_dept["청소행정과"]["3/4(금)"] == "지연 3/7"  # late
    assert by_dept["행정지원과"]["3/4(금)"] == "미제출"  # missing
    assert by_dept["자치행정과"]["3/11(금)"] == "제출"  # corrected on Monday, first sent on time
    assert by_dept["교통행정과"]["3/18(금)"] == "제출"  # dated on the Thursday
    assert by_dept["일자리지원과"]["3/11(금)"] == "지연 3/14"  # a CSV on Friday, the real file on Monday
    assert by_dept["감사담당관"]["3/25(금)"] == "미제출"  # its only file was rejected
    colours = {ref.split(":")[0]: set(words) for ref, words in demo_master["colours"]}
    assert {'"제출"', '"지연 3/7"', '"미제출"'} <= colours["C2"]  # the 3/4(금) column, coloured by state
    plans = demo_master["제출현황"]
    status = plans[0].index("상태")
    assert {r[status] for r in plans[1:] if r[0]} >= {"제출", "지연", "미제출"}
    assert "미통보" in [r[plans[0].index("기획예산과 통보일")] for r in plans[1:]]
    schedule = demo_master["일정"]
    assert any(r[3] == "우수부서 포상금 지급" and r[1] == date(2017, 1, 31) for r in schedule[1:])
    todo = demo_master["미제출목록"]
    assert len([r for r in todo[1:] if r[0]]) > 10 and all(r[5] for r in todo[1:] if r[0] and r[1])
    summary = [r[0] for r in demo_master["요약"]]
    assert "이번 주 3/25(금) 보고: 제출 23, 지연 0, 미제출 4" in "\n".join(demo_master["status"])
    assert "앞으로 14일 일정" in summary and any(str(v).endswith("주간보고 미제출") for v in summary)


# --- the memoised weekly pass against the pass as it was (every record normalised afresh) ---

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from coop_batch import tracking as tracking_mod  # noqa: E402
from coop_batch.calendar import report_days, roll_forward, weekday_index  # noqa: E402
from coop_batch.normalize import project_key, squash  # noqa: E402
from coop_batch.tracking import WeekCell, WeeklyRow, Owed  # noqa: E402


def reference_weekly_rows(projects, arrived, weeks, deadlines, weekday, as_of):
    text = tracking_mod._text
    earliest = {}
    for sub in arrived:
        if sub.kind != "weekly":
            continue
        for record in sub.records:
            day = record.get("report_date")
            if not isinstance(day, date):
                continue
            department = squash(text(record.get("department")) or sub.department)
            key = (department, project_key(text(record.get("project"))), report_week(day, weekday))
            held = earliest.get(key)
            if held is None or sub.arrived_at < held[0]:
                earliest[key] = (sub.arrived_at, sub.name)
    rows = []
    for project in projects:
        cells = {}
        for week in weeks:
            held = earliest.get((project.department, project.key, week))
            if held is not None:
                status = ON_TIME if held[0] < end_of_day(deadlines[week]) else LATE
                cells[week] = WeekCell(status, held[0], held[1])
            else:
                cells[week] = WeekCell(MISSING if deadlines[week] <= as_of else "기한 전")
        rows.append(WeeklyRow(project, cells))
    return rows


raw_departments = st.sampled_from(["안전치수과", " 안전 치수과", "\u200b", "\u3000", "", None, 7, True, 1])
raw_projects = st.sampled_from([SAFETY, f" {SAFETY} ", SAFETY.replace(" ", ""), "", None, 1, True])
report_dates = st.sampled_from([FRI[0], date(2016, 3, 8), FRI[1], datetime(2016, 3, 9, 23, 30, tzinfo=SEOUL),
                                datetime(2016, 3, 9, 23, 30, tzinfo=timezone.utc), "2016-03-04", None])
weekly_subs = st.builds(
    lambda dept, records, day, minutes: Submitted(f"{dept}/w.xlsx", "weekly", dept,
                                                  at(day) + timedelta(minutes=minutes), records),
    st.sampled_from(["안전치수과", "안전 치수과", "1"]),
    st.lists(st.fixed_dictionaries({"department": raw_departments, "project": raw_projects,
                                    "report_date": report_dates}), max_size=4),
    st.sampled_from(FRI + [date(2016, 3, 12)]),
    st.integers(0, 24 * 60),
)


@settings(max_examples=200)
@given(st.lists(weekly_subs, max_size=6))
def test_memoised_weekly_rows_are_the_rows_as_they_were(rules, subs):
    weekday = weekday_index(rules.weekly.weekday)
    year_days = report_days(rules.weekly.start, rules.weekly.end, weekday)
    deadlines = {d: roll_forward(d, frozenset(rules.calendar.holidays)) for d in year_days}
    as_of = FRI[-1]
    weeks = [d for d in year_days if d <= as_of]
    projects = [Owed(project_key(SAFETY), SAFETY, dept) for dept in ("안전치수과", "1", "True", "7")]
    got = tracking_mod._weekly_rows(projects, subs, weeks, deadlines, weekday, as_of)
    assert got == reference_weekly_rows(projects, subs, weeks, deadlines, weekday, as_of)
