"""The benchmark's workload: a year of realistic submissions, made with the project's own templates.

`plan_year(n)` decides N files in arrival order — weekly reports from every reporting department each
Friday (most of the volume), contact lists and self plans in February–March, the budget office's
results, reward splits and staff lists, and what really comes back: a CSV saved as .xlsx, a cut-off
copy, cells a validator rejects, a workbook typed without the template, a byte-identical copy — plus the
20 files of the night after.  `write_files` writes them (deterministic: a seeded RNG, fixed file times).
Korean texts come from `coop_batch.demo_data` (the seed's projects, invented but realistic progress).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

NEW_FILES = 20
EXTRA_DEPARTMENTS = (
    "문화체육과 교육지원과 가정복지과 여성가족과 보육지원과 도시계획과 건축과 주택과 치수과 재무과 회계과 총무과 홍보과 "
    "의회사무국 체육진흥과 관광진흥과 위생과 의약과 지역보건과 공원녹지과 교통지도과 토목과 가로정비과 청년정책과 "
    "평생교육과 디지털정책과 기후환경과 자원순환과 어르신복지과 장애인복지과 아동청소년과 번1동주민센터 번2동주민센터 "
    "번3동주민센터 수유1동주민센터 수유2동주민센터 수유3동주민센터 삼양동주민센터 미아동주민센터 송중동주민센터 "
    "송천동주민센터 삼각산동주민센터 우이동주민센터 인수동주민센터"
).split()
SURNAMES, GIVEN = "김이박최정강조윤장임한오서신권황안송류홍", "민서지현준영수진하은도윤예승우태경나래"
RANKS = ("지방행정주사", "지방행정주사보", "지방행정서기", "지방시설주사보", "지방사회복지주사보")


# --- generating a year of submissions ---------------------------------------------------------


@dataclass
class Planned:
    relpath: str
    kind: str  # kind id, or "csv" / "copy" / "corrupt" / "handmade"
    rows: list[dict]
    arrival: dt.datetime
    source: str = ""  # copy: the relpath copied


def _fridays() -> list[dt.date]:
    day, out = dt.date(2016, 3, 4), []
    while day <= dt.date(2016, 12, 30):
        out.append(day)
        day += dt.timedelta(days=7)
    return out


def _reporters(data, count: int, rng: random.Random) -> list[tuple[str, tuple[int, ...]]]:
    """Who sends weekly reports: lead departments (all their projects in one file), cooperating
    departments, then other departments and 동 offices, one file per (department, project)."""
    from coop_batch.demo import lead_departments

    out = [(d, tuple(seqs)) for d, seqs in lead_departments().items()]
    out += [(c.department, (c.seq,)) for c in data.CONTACTS if c.role == data.COOP]
    taken = {(d, s) for d, seqs in out for s in seqs}
    while len(out) < count:
        dept, seq = rng.choice(EXTRA_DEPARTMENTS), rng.randint(1, 27)
        if (dept, seq) not in taken:
            taken.add((dept, seq))
            out.append((dept, (seq,)))
    return out[:count]


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)


def _weekly_rows(data, dept: str, seqs: tuple[int, ...], week: int, friday: dt.date, rng) -> list[dict]:
    rows = []
    for seq in seqs:
        lines = data.WEEKLY_PROGRESS[seq]
        text = f"○ 추진실적: {lines[week % 4]}\n○ 향후계획: {lines[(week + 1) % 4]}"
        if rng.random() < 0.4:  # some officers write more
            text += f"\n○ 세부내용: {lines[(week + 2) % 4]}, {lines[(week + 3) % 4]}"
        row = {"report_date": friday, "project": data.PROJECT_NAMES[seq], "department": dept, "progress": text}
        if week % 2 and seq in data.WEEKLY_ISSUES:
            issue, measure, request = data.WEEKLY_ISSUES[seq]
            row.update(issues=issue or None, measures=measure or None, requests=request or None)
        rows.append(row)
    return rows


def plan_year(n: int, seed: int = 2016) -> tuple[list[Planned], list[Planned]]:
    """N submissions of a year in arrival order, and the NEW_FILES that arrive the night after."""
    from coop_batch import demo_data as data
    from coop_batch.demo import lead_departments

    rng = random.Random(seed * 100_003 + n)
    leads = len(lead_departments())  # the first reporters: each lead department, all its projects
    kst = dt.timezone(dt.timedelta(hours=9))
    fridays = _fridays()

    def at(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(9, 30), kst) + dt.timedelta(minutes=rng.randrange(8 * 60))

    def any_day() -> dt.date:
        return rng.choice(fridays) + dt.timedelta(days=rng.randrange(-4, 1))

    bad, handmade, copies = max(3, round(n * 0.015)), max(1, round(n * 0.005)), max(1, round(n * 0.003))
    splits, staff, results = max(1, round(n * 0.004)), max(1, round(n * 0.004)), 1 + n // 2500
    fixed = bad + handmade + copies + splits + staff + results
    reporters = _reporters(data, -(-(n - fixed + NEW_FILES) // (len(fridays) + 2)), rng)
    files: list[Planned] = []
    for i in range(results):  # the budget office's results first; later ones are corrections
        rows = [{"seq": r.seq, "project": r.project, "category": r.category, "grade": r.grade, "prize_won": r.prize,
                 "subsidy": r.subsidy, "departments": r.departments, "note": r.note} for r in data.RESULTS]
        name = "기획예산과/2015년_평가결과" + (f"_수정{i}" if i else "")
        files.append(Planned(name + ".xlsx", "results", rows, at(dt.date(2016, 2, 3) + dt.timedelta(days=30 * i))))
    for index, (dept, seqs) in enumerate(reporters):
        contacts = [{"project": data.PROJECT_NAMES[s], "role": data.LEAD if index < leads else data.COOP,
                     "department": dept, "team": "총괄팀", "leader_rank": "지방행정주사", "leader_name": _person(rng),
                     "leader_phone": f"02-901-{rng.randrange(6000, 7000)}", "officer_rank": rng.choice(RANKS),
                     "officer_name": _person(rng), "officer_phone": f"02-901-{rng.randrange(6000, 7000)}"}
                    for s in seqs]
        files.append(Planned(f"{dept}/담당자지정_{dept}_{seqs[0]:02d}.xlsx", "contacts", contacts,
                             at(dt.date(2016, 2, 20) + dt.timedelta(days=rng.randrange(14)))))
        plans = []
        for s in (s for s in seqs if s in data.PLAN_ITEMS):
            goal, items = data.PLAN_ITEMS[s]
            dates = data.PLAN_DATES[s]
            for j, (area, item, points, target, response) in enumerate(items):
                row = {"field": area, "item": item, "points": points, "target": target, "owner": _person(rng),
                       "response": response}
                if j == 0:
                    row.update(project=data.PROJECT_NAMES[s], department=dept, plan_received=dates.received,
                               notified=dates.notified, plan_submitted=dates.submitted, approved=dates.approved,
                               goal=goal)
                plans.append(row)
        if plans:
            files.append(Planned(f"{dept}/자체추진계획_{dept}_{seqs[0]:02d}.xlsx", "plans", plans,
                                 at(dt.date(2016, 2, 25) + dt.timedelta(days=rng.randrange(14)))))
    weekly: list[Planned] = []
    for week, friday in enumerate(fridays):
        for dept, seqs in reporters:
            rows = _weekly_rows(data, dept, seqs, week, friday, rng)
            suffix = "" if (dept, seqs) in reporters[:leads] else f"_{seqs[0]:02d}"
            weekly.append(Planned(f"{dept}/주간실적_{friday.isoformat()}{suffix}.xlsx", "weekly", rows, at(friday)))
    weekly_total = n - (fixed - results) - len(files)  # the rest of N; the next ones arrive later
    files += weekly[:weekly_total]
    later = weekly[weekly_total : weekly_total + NEW_FILES]
    for i in range(splits):
        stem, dept, seq, _, entries = data.SPLITS[i % len(data.SPLITS)]
        rows = [{"project": data.PROJECT_NAMES[seq], "department": d, "dept_role": role, "amount_won": amount,
                 "contribution": f"{text} ({i // len(data.SPLITS) + 1}차 제출)"} for d, role, amount, text in entries]
        files.append(Planned(f"{dept}/{stem}_{i}.xlsx", "split", rows, at(any_day())))
    for i in range(staff):
        stem, dept, seq, _, entries = data.STAFF[i % len(data.STAFF)]
        rows = [{"project": data.PROJECT_NAMES[seq], "department": d, "rank": rank, "name": name,
                 "contribution_rank": order, "commended": yn, "note": f"{note} ({i // len(data.STAFF) + 1}차)".strip()}
                for d, rank, name, order, yn, note in entries]
        files.append(Planned(f"{dept}/{stem}_{i}.xlsx", "staff", rows, at(any_day())))
    picks = iter(rng.sample([f for f in files if f.kind == "weekly"], handmade + copies + bad))
    for i in range(handmade):  # typed without the template (no _meta, a title row, spaced headers)
        src = next(picks)
        files.append(Planned(src.relpath.replace("주간실적", "주간보고_수기"), "handmade", src.rows, src.arrival))
    for i in range(copies):  # saved twice
        src = next(picks)
        files.append(Planned(src.relpath[:-5] + " - 복사본.xlsx", "copy", [], src.arrival + dt.timedelta(minutes=2),
                             source=src.relpath))
    for i in range(bad):  # what really comes back: CSV saved as .xlsx, a cut-off copy, bad cells
        src = next(picks)
        rows = [dict(r) for r in src.rows]
        how = ("csv", "corrupt", "weekly", "weekly")[i % 4]
        if how == "weekly":
            rows[0]["report_date"] = f"{src.rows[0]['report_date'].month}월 셋째 주"
            rows[-1]["progress"] = None
        files.append(Planned(src.relpath[:-5] + f"_오류{i}.xlsx", how, rows, src.arrival + dt.timedelta(hours=1)))
    files.sort(key=lambda f: (f.arrival, f.relpath))
    assert len(files) == n, (len(files), n)
    return files, later


def write_files(planned: list[Planned], root: Path, rules) -> None:
    from coop_batch.demo_formats import csv_bytes, handmade_weekly, set_arrival
    from coop_batch.schema import KIND_BY_ID
    from coop_batch.templates import build_template

    for item in sorted(planned, key=lambda f: f.kind == "copy"):  # originals before their copies
        path = root / item.relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        if item.kind == "copy":
            body = (root / item.source).read_bytes()
        elif item.kind == "csv":
            body = csv_bytes(item.rows)
        elif item.kind == "handmade":
            body = handmade_weekly(item.rows)
        elif item.kind == "corrupt":
            whole = build_template(KIND_BY_ID["weekly"], rules, item.rows)
            body = whole[: len(whole) // 2]
        else:
            body = build_template(KIND_BY_ID[item.kind], rules, item.rows)
        path.write_bytes(body)
        set_arrival(path, item.arrival)
