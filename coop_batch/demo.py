"""Realistic demo submissions built from the seed, for `coop-batch demo` (issue 3; the mix issue 8 asks for).

`build_demo_inbox` fills an inbox the way the departments would over February–March 2016: the budget
office's 평가결과 (the seed's 27 results of 2015), each lead department's 담당자지정 and 자체추진계획,
weekly 주간실적 every Friday up to the as-of date, 포상금배분 plans and 유공직원 lists — plus the things
that happen in real life: late and missing weekly reports, a corrected resubmission, a report dated on a
Thursday, a byte-identical copy, a CSV saved under .xlsx, files with errors, and a workbook typed by
hand (openpyxl, no `_meta`, a title row, shuffled and spaced-out headers).  Each file's modification
time is set to when it plausibly arrived, so weekly compliance shows 제출 / 지연 / 미제출.

Everything is deterministic: no clock, no unseeded randomness (time-of-day offsets come from CRC-32 of
the file's key), and workbooks are written byte-for-byte the same (the template writer is deterministic;
the hand-made workbook gets fixed zip timestamps and document dates).  The tables live in `demo_data`.
"""

from __future__ import annotations

import shutil
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from . import demo_data as data
from .demo_formats import csv_bytes, handmade_weekly, set_arrival
from .normalize import split_departments, squash
from .rules import WEEKDAYS, Rules

# Korea has kept +09:00 all year since 1988, so a fixed offset is exact and needs no tz database.
KST = timezone(timedelta(hours=9), "KST")
DEFAULT_AS_OF = date(2016, 3, 25)
CUTOFF = time(18, 0)  # files arriving on the as-of day count up to 18:00 (the nightly run starts later)
RESULTS_ARRIVAL = datetime(2016, 2, 3, 9, 40, tzinfo=KST)
CONTACTS_FALLBACK_DAY = date(2016, 3, 2)  # 담당자지정 of a department that sent no plan
ROOT_DEPARTMENTS = frozenset({"행정지원과"})  # saves into the inbox root, department in the file name

# Weekly reports: what happens to (department, week number from 0) in the first four weeks.
LATE_WEEKLY: dict[tuple[str, int], tuple[int, time]] = {  # (days after the Friday, arrival time)
    ("청소행정과", 0): (3, time(9, 40)),
    ("환경과", 1): (5, time(10, 20)),
    ("기획예산과", 2): (4, time(14, 5)),
}
MISSING_WEEKLY = frozenset({("행정지원과", 0), ("부동산정보과", 1), ("부동산정보과", 3), ("민원여권과", 3)})
CSV_WEEKLY = ("일자리지원과", 1)  # a CSV saved as .xlsx on the Friday; the real file follows on Monday
RESUBMITTED_WEEKLY = ("자치행정과", 1)  # on time, then corrected on Monday (latest wins, still on time)
THURSDAY_WEEKLY = ("교통행정과", 2)  # 보고일 written as the Thursday (국별 보고회 day): a warning
HANDMADE_WEEKLY = ("보건위생과", 2)  # typed by hand in Excel, no template
BROKEN_WEEKLY = ("감사담당관", 3)  # a bad 보고일 and an empty 추진실적: rejected
COPIED_WEEKLY = ("세무과", 2)  # saved twice: a byte-identical `- 복사본`
BROKEN_PLAN_DEPARTMENT = "교통행정과"  # 목표점수 > 배점 first, the corrected plan two days later
SCRIPTED_WEEKS = 4


@dataclass(frozen=True, eq=False)
class DemoFile:
    """One file the demo puts in the inbox."""

    relpath: str  # inside the inbox, '/' separators: `세무과/주간실적_2016-03-04.xlsx`
    kind: str  # kind id (`weekly`); the kind the file is meant to be, even when it is broken
    department: str
    arrival: datetime  # aware (KST): becomes the file's modification (and, on Windows, creation) time
    scenario: str  # Korean, one phrase: 정시 제출, 지연 제출, 재제출(수정), ...
    expected_errors: frozenset[str] = frozenset()  # problem codes it must be rejected with; empty = good
    fmt: str = "template"  # template | handmade | csv | copy
    rows: tuple[Mapping[str, Any], ...] = field(default=(), repr=False)
    source: str = ""  # fmt == "copy": the relpath it copies


def build_demo_inbox(inbox: Path, rules: Rules, *, as_of: date = DEFAULT_AS_OF) -> list[Path]:
    """Write the demo submissions that have arrived by `as_of` into `inbox`; return their paths in
    arrival order.  Modification times are set to the arrival times."""
    from .schema import KIND_BY_ID
    from .templates import write_template  # lazily: only the demo needs the writer

    inbox = Path(inbox)
    files = demo_files(rules, as_of=as_of)
    written: dict[str, Path] = {}
    for item in sorted(files, key=lambda f: f.fmt == "copy"):  # originals before their copies
        path = inbox.joinpath(*item.relpath.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        if item.fmt == "template":
            write_template(KIND_BY_ID[item.kind], rules, path, item.rows)
        elif item.fmt == "handmade":
            path.write_bytes(handmade_weekly(item.rows))
        elif item.fmt == "csv":
            path.write_bytes(csv_bytes(item.rows))
        elif item.fmt == "copy":
            shutil.copyfile(written[item.source], path)
        else:  # pragma: no cover - a typo in this module
            raise ValueError(item.fmt)
        set_arrival(path, item.arrival)
        written[item.relpath] = path
    return [written[f.relpath] for f in files]


def demo_files(rules: Rules, *, as_of: date = DEFAULT_AS_OF) -> list[DemoFile]:
    """Every demo file that has arrived by 18:00 on `as_of`, in arrival order (then path)."""
    cutoff = datetime.combine(as_of, CUTOFF, KST)
    plans, plan_arrival = _plans(rules)
    everything = [
        _results(),
        *_contacts(plan_arrival),
        *plans,
        *_weekly(rules, as_of),
        *_splits(),
        *_staff(),
    ]
    chosen = [f for f in everything if f.arrival <= cutoff]
    return sorted(chosen, key=lambda f: (f.arrival, f.relpath))


# --- time ---


def _slot(day: date, key: str, first: time = time(9, 30), span_minutes: int = 8 * 60) -> datetime:
    """A working-hours time on `day`, fixed per key (CRC-32, not `random`): 09:30–17:29 by default."""
    minutes = zlib.crc32(key.encode("utf-8")) % span_minutes
    start = datetime.combine(day, first, KST)
    return start + timedelta(minutes=minutes)


def add_days(start: date, days: int, basis: str) -> date:
    """`days` calendar days, or weekdays when the rules count business days."""
    if basis != "business":
        return start + timedelta(days=days)
    current, left = start, days
    while left > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            left -= 1
    return current


# --- who leads what ---


def lead_department(seq: int) -> str:
    """The lead (총괄) department of a seed result, spaces removed (`세 무 과` → `세무과`)."""
    result = next(r for r in data.RESULTS if r.seq == seq)
    return squash(split_departments(result.departments)[1])


def lead_departments() -> dict[str, list[int]]:
    """Lead department → its results' 연번, in order of each department's first result."""
    by_dept: dict[str, list[int]] = defaultdict(list)
    for result in data.RESULTS:
        by_dept[lead_department(result.seq)].append(result.seq)
    return dict(by_dept)


def _folder(dept: str, stem: str) -> str:
    """Departments keep their own folder; the few that don't put their name in the file name."""
    if dept in ROOT_DEPARTMENTS:
        return f"{stem}.xlsx" if dept in stem else f"{stem}({dept}).xlsx"
    return f"{dept}/{stem}.xlsx"


def _officer(seq: int) -> str:
    return next(c.officer_name for c in data.CONTACTS if c.seq == seq and c.role == data.LEAD)


# --- the kinds ---


def _results() -> DemoFile:
    rows = tuple(
        {
            "seq": r.seq,
            "project": r.project,
            "category": r.category,
            "grade": r.grade,
            "prize_won": r.prize,  # 백만원 as printed; the validator makes 원 of it
            "subsidy": r.subsidy,
            "departments": r.departments,
            "note": r.note,
        }
        for r in data.RESULTS
    )
    return DemoFile("기획예산과/2015년_평가결과.xlsx", "results", "기획예산과", RESULTS_ARRIVAL, "정시 제출", rows=rows)


def _plans(rules: Rules) -> tuple[list[DemoFile], dict[str, datetime]]:
    limit, basis = rules.plans.submit_within_days, rules.plans.day_basis
    by_dept: dict[str, list[int]] = defaultdict(list)
    for seq in data.PLAN_DATES:
        by_dept[lead_department(seq)].append(seq)
    files: list[DemoFile] = []
    arrival: dict[str, datetime] = {}
    for dept, seqs in by_dept.items():
        rows: list[dict[str, Any]] = []
        last_submitted = date.min
        notes: list[str] = []
        for seq in seqs:
            dates = _plan_dates(seq, limit, basis)
            last_submitted = max(last_submitted, dates.submitted)
            rows.extend(_plan_rows(seq, dept, dates, text_dates=dept == "세무과"))
            if dates.notified is None:
                notes.append(f"연번 {seq} 기획예산과 미통보")
            if dates.submitted > add_days(dates.received, limit, basis):
                notes.append(f"연번 {seq} 계획서 제출 기한 초과")
        when = _slot(last_submitted, f"plan|{dept}")
        arrival[dept] = when
        scenario = ", ".join(notes) or "정시 제출"
        if dept == BROKEN_PLAN_DEPARTMENT:
            broken = [dict(row) for row in rows]
            broken[0]["target"] = broken[0]["points"] + 5  # 목표점수 above 배점
            files.append(DemoFile(
                _folder(dept, f"자체추진계획_{dept}"), "plans", dept, when, "오류: 목표점수 > 배점",
                frozenset({"target-over-points"}), rows=tuple(broken),
            ))
            when = _slot(when.date() + timedelta(days=2), f"plan-fix|{dept}")
            files.append(DemoFile(_folder(dept, f"자체추진계획_{dept}_수정"), "plans", dept, when, "재제출(수정)",
                                  rows=tuple(rows)))
        else:
            files.append(DemoFile(_folder(dept, f"자체추진계획_{dept}"), "plans", dept, when, scenario,
                                  rows=tuple(rows)))
    return files, arrival


def _plan_dates(seq: int, limit: int, basis: str) -> data.PlanDates:
    dates = data.PLAN_DATES[seq]
    # #5 lands exactly on the rules' limit and #9 five days past it, whatever the limit is.
    offset = {5: limit, 9: limit + 5}.get(seq)
    if offset is None:
        return dates
    submitted = add_days(dates.received, offset, basis)
    approved = dates.approved if dates.approved and dates.approved > submitted else submitted + timedelta(days=3)
    return dates._replace(submitted=submitted, approved=approved)


def _plan_rows(seq: int, dept: str, dates: data.PlanDates, *, text_dates: bool) -> list[dict[str, Any]]:
    goal, items = data.PLAN_ITEMS[seq]
    owner = _officer(seq)

    def day(value: date | None) -> date | str | None:  # some departments type dates as `2016. 2. 5.`
        if value is None or not text_dates:
            return value
        return f"{value.year}. {value.month}. {value.day}."

    rows: list[dict[str, Any]] = []
    for i, (area, item, points, target, response) in enumerate(items):
        row: dict[str, Any] = {"field": area, "item": item, "points": points, "target": target,
                               "owner": owner, "response": response}
        if i == 0:  # the first six columns only on the project's first row, as merged cells show them
            row.update(project=data.PROJECT_NAMES[seq], department=dept, plan_received=day(dates.received),
                       notified=day(dates.notified), plan_submitted=day(dates.submitted),
                       approved=day(dates.approved), goal=goal)
        rows.append(row)
    return rows


def _contacts(plan_arrival: Mapping[str, datetime]) -> list[DemoFile]:
    # The lead department's officer collects its cooperating departments' rows (seed VI).
    by_dept: dict[str, list[data.Contact]] = defaultdict(list)
    for contact in data.CONTACTS:
        by_dept[lead_department(contact.seq)].append(contact)
    files = []
    for dept, contacts in by_dept.items():
        when = plan_arrival.get(dept) or _slot(CONTACTS_FALLBACK_DAY, f"contacts|{dept}")
        rows = tuple(_contact_row(c, dept == "부동산정보과") for c in contacts)
        files.append(DemoFile(_folder(dept, f"담당자지정_{dept}"), "contacts", dept, when, "정시 제출", rows=rows))
    return files


def _contact_row(c: data.Contact, bracket_phones: bool) -> dict[str, Any]:
    chief_rank, chief_name = data.CHIEFS[c.department]
    area = "02)901-" if bracket_phones else "02-901-"  # `02)901-6131` is how some offices write it
    return {
        "project": data.PROJECT_NAMES[c.seq], "role": c.role, "department": c.department,
        "chief_rank": chief_rank, "chief_name": chief_name, "team": c.team,
        "leader_rank": c.leader_rank, "leader_name": c.leader_name, "leader_phone": f"{area}{c.leader_ext}",
        "officer_rank": c.officer_rank, "officer_name": c.officer_name, "officer_phone": f"{area}{c.officer_ext}",
        "city_department": c.city_department or None, "city_officer": c.city_officer or None,
        "city_phone": c.city_phone or None, "note": c.note or None,
    }


def fridays(rules: Rules, as_of: date) -> list[date]:
    """The weekly report days from the rules' start up to `as_of` (and the rules' end)."""
    weekday = WEEKDAYS.index(rules.weekly.weekday)
    day = rules.weekly.start + timedelta(days=(weekday - rules.weekly.start.weekday()) % 7)
    days = []
    while day <= min(as_of, rules.weekly.end):
        days.append(day)
        day += timedelta(days=7)
    return days


def _weekly(rules: Rules, as_of: date) -> Iterator[DemoFile]:
    for week, friday in enumerate(fridays(rules, as_of)):
        for dept, seqs in lead_departments().items():
            yield from _weekly_files(dept, seqs, week, friday)


def _weekly_files(dept: str, seqs: Sequence[int], week: int, friday: date) -> Iterator[DemoFile]:
    key = (dept, week)
    stem = f"주간실적({dept})_{friday:%m%d}" if dept in ROOT_DEPARTMENTS else f"주간실적_{friday:%Y-%m-%d}"
    name = _folder(dept, stem)
    rows = [_weekly_row(seq, dept, week, friday) for seq in seqs]

    def file(relpath: str, when: datetime, scenario: str, body: Sequence[Mapping[str, Any]] = rows,
             **extra: Any) -> DemoFile:
        return DemoFile(relpath, "weekly", dept, when, scenario, rows=tuple(body), **extra)

    def at(days_after: int, clock: time) -> datetime:
        return datetime.combine(friday + timedelta(days=days_after), clock, KST)

    on_time = _slot(friday, f"weekly|{dept}|{friday}", span_minutes=8 * 60 - 15)  # by 17:14
    if week >= SCRIPTED_WEEKS:  # later weeks: a steady, deterministic mix
        crc = zlib.crc32(f"{dept}|{friday}".encode("utf-8"))
        if crc % 10 == 0:
            return
        late = crc % 7 == 0
        when = _slot(friday + timedelta(days=3), f"late|{dept}|{friday}") if late else on_time
        yield file(name, when, "지연 제출" if late else "정시 제출")
    elif key in MISSING_WEEKLY:
        return
    elif key in LATE_WEEKLY:
        yield file(name, at(*LATE_WEEKLY[key]), "지연 제출")
    elif key == CSV_WEEKLY:
        yield file(name, at(0, time(16, 20)), "오류: CSV를 .xlsx로 저장", fmt="csv",
                   expected_errors=frozenset({"file-not-xlsx"}))
        yield file(_folder(dept, f"{stem}_다시제출"), at(3, time(10, 5)), "지연 제출")
    elif key == RESUBMITTED_WEEKLY:
        yield file(name, on_time, "정시 제출")
        extra = "\n○ (수정) 동별 모집 인원 30명, 모집 기간 3. 21.~4. 8. 추가"
        fixed = [dict(row, progress=row["progress"] + extra) for row in rows]
        yield file(_folder(dept, f"{stem}_수정"), at(3, time(9, 30)), "재제출(수정)", fixed)
    elif key == THURSDAY_WEEKLY:
        thursday = friday - timedelta(days=1)
        yield file(_folder(dept, f"주간실적_{thursday:%Y-%m-%d}"), at(-1, time(17, 30)), "경고: 보고일이 목요일",
                   [dict(row, report_date=thursday) for row in rows])
    elif key == HANDMADE_WEEKLY:
        yield file(_folder(dept, f"{friday.month}월{_week_of_month(friday)}주_주간보고"), at(0, time(11)),
                   "수기 작성(표준 서식 아님)", fmt="handmade")
    elif key == BROKEN_WEEKLY:
        broken = [dict(row) for row in rows]
        broken[0]["report_date"] = f"{friday.month}월 {'첫둘셋넷다'[_week_of_month(friday) - 1]}째 주"
        broken[-1]["progress"] = None
        yield file(name, on_time, "오류: 보고일 형식, 추진실적 빈칸", broken,
                   expected_errors=frozenset({"bad-date", "required"}))
    elif key == COPIED_WEEKLY:
        yield file(name, on_time, "정시 제출")
        yield file(name.removesuffix(".xlsx") + " - 복사본.xlsx", on_time + timedelta(minutes=2),
                   "중복(같은 파일 사본)", (), fmt="copy", source=name)
    else:
        yield file(name, on_time, "정시 제출")


def _week_of_month(day: date) -> int:
    return (day.day - 1) // 7 + 1


def _weekly_row(seq: int, dept: str, week: int, friday: date) -> dict[str, Any]:
    lines = data.WEEKLY_PROGRESS[seq]
    progress = f"○ 추진실적: {lines[week % len(lines)]}\n○ 향후계획: {lines[(week + 1) % len(lines)]}"
    row: dict[str, Any] = {"report_date": friday, "project": data.PROJECT_NAMES[seq], "department": dept,
                           "progress": progress}
    if week % 2 == 1 and seq in data.WEEKLY_ISSUES:
        issue, measure, request = data.WEEKLY_ISSUES[seq]
        row.update(issues=issue or None, measures=measure or None, requests=request or None)
    return row


def _splits() -> list[DemoFile]:
    return _per_project_files(data.SPLITS, "split", lambda d, role, amount, text: {
        "department": d, "dept_role": role, "amount_won": amount, "contribution": text})


def _staff() -> list[DemoFile]:
    return _per_project_files(data.STAFF, "staff", lambda d, rank, name, order, yn, note: {
        "department": d, "rank": rank, "name": name, "contribution_rank": order, "commended": yn,
        "note": note or None})


def _per_project_files(table: Sequence[tuple[Any, ...]], kind: str, row: Callable[..., dict[str, Any]]) -> list[DemoFile]:
    """One on-time file per (stem, department, project) entry of a demo table; `row` maps an entry's tuple."""
    return [
        DemoFile(_folder(dept, stem), kind, dept, _slot(day, stem), "정시 제출",
                 rows=tuple({"project": data.PROJECT_NAMES[seq], **row(*entry)} for entry in entries))
        for stem, dept, seq, day, entries in table
    ]


