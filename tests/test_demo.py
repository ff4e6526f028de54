"""The demo inbox: realistic submissions from the seed, with arrival times, that validate as intended."""

from __future__ import annotations

import hashlib
import zipfile
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from coop_batch import demo_formats
from coop_batch.demo import KST, add_days, build_demo_inbox, demo_files, fridays
from coop_batch.demo_formats import set_arrival, to_filetime
from coop_batch.normalize import million_to_won, project_key
from coop_batch.schema import META_SHEET

AS_OF = date(2016, 3, 25)
KINDS_EXPECTED = {"results": 1, "contacts": 17, "plans": 17, "weekly": 67, "split": 3, "staff": 3}
BROKEN = {
    "감사담당관/주간실적_2016-03-25.xlsx": {"bad-date", "required"},
    "일자리지원과/주간실적_2016-03-11.xlsx": {"file-not-xlsx"},
    "교통행정과/자체추진계획_교통행정과.xlsx": {"target-over-points"},
}
RESULTS_FILE = "기획예산과/2015년_평가결과.xlsx"
HANDMADE = "보건위생과/3월3주_주간보고.xlsx"
THURSDAY = "교통행정과/주간실적_2016-03-17.xlsx"
COPY = "세무과/주간실적_2016-03-18 - 복사본.xlsx"


def rel(path: Path, inbox: Path) -> str:
    return path.relative_to(inbox).as_posix()


def arrived(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, KST)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def built(tmp_path_factory, rules):
    inbox = tmp_path_factory.mktemp("demo") / "inbox"
    paths = build_demo_inbox(inbox, rules, as_of=AS_OF)
    return inbox, paths


@pytest.fixture(scope="module")
def checked(built, rules):
    """Every file read and validated in-process, projects checked against the results file's names."""
    read = pytest.importorskip("coop_batch.read")
    from coop_batch.validate import validate_sheet

    inbox, paths = built
    results = validate_sheet(read.read_sheet(inbox / RESULTS_FILE), rules)
    known = [r["project"] for r in results.records]
    return {rel(p, inbox): validate_sheet(read.read_sheet(p), rules, known) for p in paths}


# --- the inbox itself ---


def test_files_on_disk_are_exactly_the_returned_ones(built):
    inbox, paths = built
    on_disk = {p for p in inbox.rglob("*") if p.is_file()}
    assert set(paths) == on_disk
    assert len(paths) == len(set(paths)) == sum(KINDS_EXPECTED.values())
    assert [arrived(p) for p in paths] == sorted(arrived(p) for p in paths)  # arrival order


def test_kinds_by_the_files_own_meta(built):
    inbox, paths = built
    kinds: Counter[str] = Counter()
    for path in paths:
        if not zipfile.is_zipfile(path):
            kinds["(not a workbook)"] += 1
            continue
        wb = CalamineWorkbook.from_path(str(path))
        if META_SHEET not in wb.sheet_names:
            kinds["(hand-made)"] += 1
            continue
        meta = dict(tuple(row[:2]) for row in wb.get_sheet_by_name(META_SHEET).to_python())
        kinds[meta["kind"]] += 1
    expected = dict(KINDS_EXPECTED, weekly=KINDS_EXPECTED["weekly"] - 2)  # the CSV and the hand-made one
    assert kinds == Counter({**expected, "(not a workbook)": 1, "(hand-made)": 1})


def test_departments_file_into_their_own_folders(built):
    inbox, paths = built
    folders = {p.parent.name for p in paths if p.parent != inbox}
    assert folders == {
        "세무과", "푸른도시과", "일자리지원과", "자치행정과", "주민생활지원과", "환경과", "청소행정과", "안전치수과",
        "보건위생과", "감사담당관", "도로관리과", "부동산정보과", "교통행정과", "기획예산과", "정보화지원과", "민원여권과",
    }
    in_root = sorted(p.name for p in paths if p.parent == inbox)  # 행정지원과 saves into the root
    assert in_root and all("행정지원과" in name for name in in_root)


def test_arrival_times_before_the_as_of_evening(built):
    inbox, paths = built
    cutoff = datetime.combine(AS_OF, time(18), KST)
    assert all(datetime(2016, 2, 1, tzinfo=KST) <= arrived(p) <= cutoff for p in paths)
    at = {rel(p, inbox): arrived(p) for p in paths}
    on_time = at["세무과/주간실적_2016-03-04.xlsx"]
    assert on_time.date() == date(2016, 3, 4) and time(9) <= on_time.time() <= time(18)
    assert at["청소행정과/주간실적_2016-03-04.xlsx"].date() == date(2016, 3, 7)  # the Monday after
    assert at["자치행정과/주간실적_2016-03-11_수정.xlsx"] > at["자치행정과/주간실적_2016-03-11.xlsx"]
    assert at[COPY] > at["세무과/주간실적_2016-03-18.xlsx"]
    assert at[RESULTS_FILE] < min(v for k, v in at.items() if k != RESULTS_FILE)


def test_byte_identical_copy(built):
    inbox, _ = built
    assert sha(inbox / COPY) == sha(inbox / "세무과/주간실적_2016-03-18.xlsx")


def test_csv_saved_under_xlsx(built):
    inbox, _ = built
    raw = (inbox / "일자리지원과/주간실적_2016-03-11.xlsx").read_bytes()
    assert not raw.startswith(b"PK")
    text = raw.decode("cp949")
    assert text.startswith("보고일,사업명,부서명,추진실적") and "\r\n" in text


def test_hand_made_workbook_has_no_meta_and_a_title_row(built):
    from openpyxl import load_workbook

    inbox, _ = built
    wb = load_workbook(inbox / HANDMADE)
    assert wb.sheetnames == ["주간 실적"]
    ws = wb.active
    assert "주간 추진실적" in ws["A1"].value
    header = [c.value for c in ws[4]]
    assert header[0] == "사 업 명" and "보 고 일" in header and header.index("보 고 일") != 0
    assert ws.cell(5, header.index("보 고 일") + 1).value == "2016. 3. 18."


def test_results_as_printed_in_the_seed(built, rules):
    inbox, _ = built
    rows = CalamineWorkbook.from_path(str(inbox / RESULTS_FILE)).get_sheet_by_name("평가결과").to_python()
    header, body = rows[0], rows[1:]
    col = {title: i for i, title in enumerate(header)}
    assert [int(r[col["연번"]]) for r in body] == list(range(1, 28))
    grades = [r[col["평가결과"]] for r in body]
    assert {"노 력", "최 우 수", "최우수 (SA등급)", "수상구(절대)", "좋은 자치단체장상"} <= set(grades)
    prizes = [r[col["수상금(백만원)"]] for r in body]
    assert {"-", "15 (포상금)", "0.5 (포상금)"} <= set(prizes)
    total = sum(million_to_won(p) or 0 for p in prizes)
    assert total == 717_700_000  # seed V: 총 27개 부문 717.7백만원
    depts = [r[col["주관부서"]] for r in body]
    assert depts[7] == "환경과(총괄) 지역경제과" and depts[0] == "세 무 과"
    labels = [r[col["사업구분"]] for r in body]
    assert {"서울시 인센티브", "서울시 단위사업", "대외기관"} <= set(labels)  # the seed's labels ...
    assert {"시·자치구 공동협력사업", "서울시 단위평가", "대외기관 평가"} <= set(labels)  # ... and canonical ones
    canonical = [rules.category_of(label) for label in labels]
    assert canonical == ["시·자치구 공동협력사업"] * 12 + ["서울시 단위평가"] * 6 + ["대외기관 평가"] * 9


def test_plans_fill_down_only_on_each_projects_first_row(built):
    inbox, _ = built
    rows = CalamineWorkbook.from_path(str(inbox / "세무과/자체추진계획_세무과.xlsx")).get_sheet_by_name(
        "자체추진계획").to_python()
    firsts = [r for r in rows[1:] if r[0] != ""]
    assert len(firsts) == 3  # three projects, several 평가항목 rows each
    assert len(rows) - 1 > 3 and all(r[1:6] == ["", "", "", "", ""] for r in rows[1:] if r[0] == "")


def test_plan_deadlines_follow_the_rules(rules):
    limit = rules.plans.submit_within_days
    plans = [f for f in demo_files(rules) if f.kind == "plans" and not f.expected_errors]
    first_rows = {project_key(r["project"]): r for f in plans for r in f.rows if r.get("project")}
    days = {k: (r["plan_submitted"], r["plan_received"]) for k, r in first_rows.items()}
    on_limit = days[project_key("서울 희망일자리 만들기")]
    late = days[project_key("「서울형 환경 · 에너지 정책 만들기」 (재활용 · 청결분야)")]
    assert (on_limit[0] - on_limit[1]).days == limit
    assert (late[0] - late[1]).days > limit
    # with business days the boundary moves with the weekend: 2016-02-12 is a Friday
    business = rules.model_copy(update={"plans": rules.plans.model_copy(update={"day_basis": "business"})})
    rows = [r for f in demo_files(business) if f.kind == "plans" for r in f.rows if r.get("project")]
    row = next(r for r in rows if r["project"] == "서울 희망일자리 만들기")
    assert row["plan_submitted"] == add_days(date(2016, 2, 12), limit, "business") == date(2016, 2, 19)


def test_as_of_limits_the_weeks_and_the_arrivals(rules):
    early = demo_files(rules, as_of=date(2016, 3, 11))
    cutoff = datetime.combine(date(2016, 3, 11), time(18), KST)
    assert early and all(f.arrival <= cutoff for f in early)
    weeks = {r["report_date"] for f in early if f.kind == "weekly" and f.fmt == "template" for r in f.rows}
    assert weeks == {date(2016, 3, 4), date(2016, 3, 11)}
    later = demo_files(rules, as_of=date(2016, 4, 29))
    assert fridays(rules, date(2016, 4, 29))[-1] == date(2016, 4, 29)
    late_weeks = [f for f in later if f.kind == "weekly" and f.arrival.date() > date(2016, 3, 25)]
    assert {f.scenario for f in late_weeks} >= {"정시 제출"} and len(late_weeks) > 50
    assert demo_files(rules, as_of=date(2016, 1, 31)) == []


def test_deterministic(built, rules, tmp_path):
    def manifest(files):
        return [(f.relpath, f.arrival, f.scenario, f.expected_errors, f.fmt, f.rows) for f in files]

    assert manifest(demo_files(rules, as_of=AS_OF)) == manifest(demo_files(rules, as_of=AS_OF))
    inbox, _ = built
    early = build_demo_inbox(tmp_path / "inbox", rules, as_of=date(2016, 2, 29))  # a rebuild, smaller
    assert 10 < len(early) < 40
    for path in early:
        twin = inbox / rel(path, tmp_path / "inbox")
        assert sha(path) == sha(twin), path.name
        assert path.stat().st_mtime == twin.stat().st_mtime
    # the hand-made workbook must not carry the clock: openpyxl would stamp zip entries and `modified`
    with zipfile.ZipFile(inbox / HANDMADE) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2016, 3, 18, 10, 30, 0)}
        core = archive.read("docProps/core.xml").decode()
    assert core.count("2016-03-18T10:30:00Z") == 2


def test_windows_creation_time_branch(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(demo_formats, "_set_creation_time_windows", lambda path, ts: calls.append((path, ts)))
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"x")
    when = datetime(2016, 3, 4, 15, 30, tzinfo=KST)
    set_arrival(path, when, windows=True)
    set_arrival(path, when, windows=False)
    assert calls == [(path, when.timestamp())]
    assert path.stat().st_mtime == when.timestamp()
    assert to_filetime(0) == 116_444_736_000_000_000  # 1970-01-01 in 100 ns ticks since 1601
    assert to_filetime(1.5) - to_filetime(0) == 15_000_000


# --- validation of what was built ---


def test_good_files_validate_and_broken_ones_fail_as_intended(built, checked):
    inbox, _ = built
    for name, sub in checked.items():
        errors = {p.code for p in sub.problems if p.is_error}
        warnings = {p.code for p in sub.problems if not p.is_error}
        assert errors == BROKEN.get(name, set()), (name, [p.line() for p in sub.problems])
        allowed = {"unknown-grade"} if name == RESULTS_FILE else {"not-friday"} if name == THURSDAY else set()
        if name not in BROKEN:
            assert warnings == allowed, (name, [p.line() for p in sub.problems])
    results = checked[RESULTS_FILE]
    grade_warning = next(p for p in results.problems if p.code == "unknown-grade")
    assert grade_warning.cell == "D25"  # 연번 24 on Excel row 25: 좋은 자치단체장상


def test_results_records(checked):
    records = {r["seq"]: r for r in checked[RESULTS_FILE].records}
    assert sum(r["prize_won"] or 0 for r in records.values()) == 717_700_000
    assert records[5]["prize_won"] == 69_200_000 and records[22]["prize_won"] == 15_000_000
    assert [s for s, r in records.items() if r["subsidy"]] == [14]  # a 단위평가 row with prize money
    assert records[14]["category"] == "서울시 단위평가" and records[14]["prize_won"] == 3_000_000
    assert [s for s, r in records.items() if r["tier"] is None] == [24]
    assert records[8]["departments"] == ["환경과", "지역경제과"] and records[8]["lead_department"] == "환경과"
    assert {records[s]["lead_department"] for s in (1, 2, 3)} == {"세무과"}


def test_contacts_cover_every_awarded_project(checked):
    results = checked[RESULTS_FILE].records
    contacts = [r for name, s in checked.items() if s.kind_id == "contacts" for r in s.records]
    leads = Counter(project_key(r["project"]) for r in contacts if r["role"] == "총괄부서")
    assert leads == Counter(project_key(r["project"]) for r in results)  # one 총괄부서 row each
    by_project = defaultdict(set)
    for r in contacts:
        by_project[project_key(r["project"])].add((r["role"], r["department"]))
    assert ("협조부서", "지역경제과") in by_project[project_key("서울형 환경·에너지 정책 만들기(에너지 살림 도시분야)")]
    # the same person is 총괄담당자 of all three 세무과 results (one-project leave rule)
    officers = {(r["department"], r["officer_name"]) for r in contacts
                if r["role"] == "총괄부서" and r["department"] == "세무과"}
    assert len(officers) == 1
    assert len([r for r in contacts if r["department"] == "세무과"]) == 3
    phones = [r[f] for r in contacts for f in ("leader_phone", "officer_phone")]
    assert all(p.startswith("02-901-") for p in phones)
    assert {r["city_department"] for r in contacts} >= {"안전총괄과", "38세금징수과", "마을공동체담당관"}


def test_plans_notified_late_and_missing(checked, rules):
    plans = [r for name, s in checked.items() if s.kind_id == "plans" and s.accepted for r in s.records]
    by_project = defaultdict(list)
    for r in plans:
        by_project[project_key(r["project"])].append(r)
    results = {r["seq"]: project_key(r["project"]) for r in checked[RESULTS_FILE].records}
    assert results[21] not in by_project  # no plan at all
    assert all(r["notified"] is None for r in by_project[results[4]])  # 미통보
    notified = [k for k, rows in by_project.items() if rows[0]["notified"] is not None]
    assert len(notified) == len(by_project) - 1
    assert all(len(rows) >= 2 for rows in by_project.values())  # several 평가항목 per project
    assert all(r["target"] is None or r["target"] <= r["points"] for r in plans)
    limit = rules.plans.submit_within_days
    lateness = {k: (rows[0]["plan_submitted"] - rows[0]["plan_received"]).days for k, rows in by_project.items()}
    assert limit in lateness.values() and max(lateness.values()) > limit
    assert Decimal("28.5") in {r["target"] for r in plans}


def test_weekly_mix(checked, built, rules):
    """Per lead department and Friday: 제출 (by the end of the Friday), 지연 or 미제출 — from the accepted files."""
    inbox, _ = built
    first: dict[tuple[str, date], datetime] = {}
    for name, sub in checked.items():
        if sub.kind_id != "weekly" or not sub.accepted:
            continue
        when = arrived(inbox / name)
        for r in sub.records:
            key = (r["department"], r["report_date"])
            first[key] = min(first.get(key, when), when)
    leads = {r["lead_department"] for r in checked[RESULTS_FILE].records}
    status = {}
    for friday in fridays(rules, AS_OF):
        for dept in leads:
            when = first.get((dept, friday))
            status[dept, friday] = "미제출" if when is None else "제출" if when.date() <= friday else "지연"
    odd = {k: v for k, v in status.items() if v != "제출"}
    d = date
    assert odd == {
        ("청소행정과", d(2016, 3, 4)): "지연",
        ("행정지원과", d(2016, 3, 4)): "미제출",
        ("일자리지원과", d(2016, 3, 11)): "지연",  # its CSV was rejected; the real file came on Monday
        ("환경과", d(2016, 3, 11)): "지연",
        ("부동산정보과", d(2016, 3, 11)): "미제출",
        ("기획예산과", d(2016, 3, 18)): "지연",
        ("교통행정과", d(2016, 3, 18)): "미제출",  # dated on the Thursday instead
        ("부동산정보과", d(2016, 3, 25)): "미제출",
        ("민원여권과", d(2016, 3, 25)): "미제출",
        ("감사담당관", d(2016, 3, 25)): "미제출",  # rejected
    }
    assert len(status) - len(odd) >= 55  # most are on time
    resubmitted = checked["자치행정과/주간실적_2016-03-11_수정.xlsx"].records
    assert "(수정)" in resubmitted[0]["progress"]
    handmade = checked[HANDMADE]
    assert handmade.accepted and handmade.records[0]["report_date"] == d(2016, 3, 18)
    assert all(len(r["progress"]) >= 40 for s in checked.values() if s.kind_id == "weekly" for r in s.records)


def test_split_plans(checked):
    prize = {project_key(r["project"]): r["prize_won"] for r in checked[RESULTS_FILE].records}
    sums: dict[str, int] = defaultdict(int)
    for name, sub in checked.items():
        if sub.kind_id == "split":
            for r in sub.records:
                sums[project_key(r["project"])] += r["amount_won"]
    energy = project_key("서울형 환경·에너지 정책 만들기(에너지 살림 도시분야)")
    assert sums[energy] == prize[energy] // 10 == 2_250_000
    mismatched = [k for k, total in sums.items() if total * 10 != prize[k]]
    assert mismatched == [project_key("안전도시 만들기")]


def test_staff_lists_show_the_commendation_fallback(checked):
    contacts = [r for s in checked.values() if s.kind_id == "contacts" for r in s.records]
    staff = [r for s in checked.values() if s.kind_id == "staff" for r in s.records]
    officer = {project_key(r["project"]): r["officer_name"] for r in contacts if r["role"] == "총괄부서"}
    safety = [r for r in staff if project_key(r["project"]) == project_key("안전도시 만들기")]
    assert any(r["name"] == officer[project_key("안전도시 만들기")] and r["commended"] for r in safety)
    assert any(not r["commended"] and r["department"] == "안전치수과" for r in safety)
    land = [r for r in staff if r["department"] == "부동산정보과"]
    assert land and all(r["commended"] for r in land)  # nobody left to recommend


def test_validate_file_on_a_broken_demo_file(built, rules):
    pytest.importorskip("coop_batch.read")
    from coop_batch.validate import validate_file

    inbox, _ = built
    sub = validate_file(inbox / "교통행정과/자체추진계획_교통행정과.xlsx", rules)
    assert not sub.accepted
    problem = next(p for p in sub.problems if p.code == "target-over-points")
    assert problem.position == "자체추진계획!K2"


def test_late_weeks_follow_a_fixed_pattern(rules):
    later = [f for f in demo_files(rules, as_of=date(2016, 4, 29)) if f.kind == "weekly"]
    again = [f for f in demo_files(rules, as_of=date(2016, 4, 29)) if f.kind == "weekly"]
    assert [(f.relpath, f.arrival, f.scenario) for f in later] == [(f.relpath, f.arrival, f.scenario) for f in again]
    after = [f for f in later if f.arrival.date() > AS_OF]
    assert any(f.scenario == "지연 제출" for f in after)
    assert all(f.arrival - datetime.combine(f.rows[0]["report_date"], time(), KST) < timedelta(days=7)
               for f in after if f.rows)
