"""The nightly run end to end through the library (`run_batch`) on temporary workspaces.

Every test builds its own workspace with `init_workspace` and fills the inbox with standard
workbooks made by `write_template` (raw cell values, as a department types them).  Files are
few and `settle_seconds=0` unless a test is about settling, to keep the module quick.
"""

from __future__ import annotations

import hashlib
import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from python_calamine import CalamineWorkbook

from coop_batch import inbox as inbox_mod
from coop_batch.config import SEOUL, Workspace, init_workspace
from coop_batch.ledger import FileRow, Ledger, RunRow, RunStatus
from coop_batch.run import RunReport, run_batch
from coop_batch.schema import KIND_BY_ID, KINDS
from coop_batch.templates import write_template

AS_OF = date(2016, 3, 25)
MASTER = "통합현황_20160325.xlsx"
MASTER_SHEETS = [
    "요약", *(k.sheet for k in KINDS), "포상금지급", "부서별포상금", "특별휴가", "표창추천", "근무평정",
    "주간보고현황", "제출현황", "일정", "미제출목록", "제출이력", "오류",
]

SAFETY = "안전도시 만들기"
JOBS = "서울 희망일자리 만들기"
RESULTS = [
    {"seq": 1, "project": SAFETY, "category": "시·자치구 공동협력사업", "grade": "최우수", "prize_won": "69.2",
     "subsidy": "N", "departments": "안전치수과(총괄) 도로관리과"},
    {"seq": 2, "project": JOBS, "category": "시·자치구 공동협력사업", "grade": "우수", "prize_won": "10",
     "subsidy": "N", "departments": "일자리지원과"},
]


# --- building the inbox ---


def weekly(dept: str, day: date, progress: str = "재난안전 교육 2회 실시", project: str = SAFETY) -> list[dict[str, Any]]:
    return [{"report_date": day, "project": project, "department": dept, "progress": progress}]


def plan(dept: str, items: list[tuple[str, str, int, int]], project: str = SAFETY) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i, (area, item, points, target) in enumerate(items):
        row: dict[str, Any] = {"field": area, "item": item, "points": points, "target": target, "owner": "이영희"}
        if i == 0:  # the first columns only on the first row: the rest are filled down
            row.update(project=project, department=dept, plan_received=date(2016, 2, 15),
                       notified=date(2016, 2, 16), plan_submitted=date(2016, 2, 19), approved=date(2016, 2, 22))
        rows.append(row)
    return rows


BAD_WEEKLY = [{"report_date": "다음주", "project": SAFETY, "department": "안전치수과", "progress": ""}]


def put(ws: Workspace, rel: str, kind: str, rows: list[dict[str, Any]], rules, mtime: float | None = None) -> Path:
    path = write_template(KIND_BY_ID[kind], rules, ws.inbox / rel, rows)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def put_bytes(ws: Workspace, rel: str, content: bytes) -> Path:
    path = ws.inbox / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def copy(ws: Workspace, src: Path, rel: str) -> Path:
    return put_bytes(ws, rel, src.read_bytes())


def run(ws: Workspace, **options: Any) -> RunReport:
    options.setdefault("settle_seconds", 0)
    return run_batch(ws, as_of=AS_OF, **options)


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return init_workspace(tmp_path / "ws", policy_year=2016, evaluation_year=2015)


# --- looking at the results ---


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def history(ws: Workspace) -> list[FileRow]:
    with Ledger.open(ws.ledger_path) as ledger:
        return ledger.history()


def runs(ws: Workspace) -> list[RunRow]:
    out: list[RunRow] = []
    with Ledger.open(ws.ledger_path) as ledger:
        while (row := ledger.run(len(out) + 1)) is not None:
            out.append(row)
    return out


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def waiting_in_inbox(ws: Workspace) -> list[Path]:
    return [p for p in files_under(ws.inbox) if not inbox_mod.is_ignored(p.name)]


def quarantined(ws: Workspace) -> list[Path]:
    return [p for p in files_under(ws.quarantine) if not p.name.endswith(".txt")]


def sheets(path: Path) -> dict[str, list[list[Any]]]:
    book = CalamineWorkbook.from_path(str(path))
    return {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names}


def table(rows: list[list[Any]]) -> list[dict[str, Any]]:
    """A table sheet (header in the first row) as dicts; the total row, if any, is kept."""
    header = rows[0]
    return [dict(zip(header, row)) for row in rows[1:] if any(v not in ("", None) for v in row)]


def changes(book: dict[str, list[list[Any]]]) -> dict[str, tuple[int, int, int]]:
    """요약's '지난 실행 이후 변경' table: sheet → (통합 행 수, 새로 접수한 파일, 새 파일로 바뀐 행)."""
    rows = book["요약"]
    start = next(i for i, row in enumerate(rows) if row and row[0] == "지난 실행 이후 변경") + 2
    out = {}
    for row in rows[start:]:
        if not row or row[0] in ("", None):
            break
        out[row[0]] = tuple(int(v) for v in row[1:4])
    return out


def assert_accounted(ws: Workspace, inputs: int, report: RunReport) -> None:
    """Every input file is in the inbox (waiting), the archive or the quarantine, and each file this
    run processed has exactly one ledger row, filed where the row says, with the content it hashed."""
    archived = files_under(ws.archive)
    assert len(waiting_in_inbox(ws)) + len(archived) + len(quarantined(ws)) == inputs
    rows = history(ws)
    assert all(r.filed_path for r in rows)
    assert sorted(r.filed_path for r in rows) == sorted(
        p.relative_to(ws.root).as_posix() for p in archived + quarantined(ws)
    )
    for r in rows:
        assert sha(ws.root / r.filed_path) == r.sha256
    this_run = [r for r in rows if r.run_id == report.run_id]
    processed = [o for o in report.outcomes if o.status != "deferred"]
    assert sorted(r.original_path for r in this_run) == sorted(o.path for o in processed)
    assert sorted((r.original_path, r.status.value) for r in this_run) == sorted((o.path, o.status) for o in processed)
    for outcome in report.outcomes:
        if outcome.status == "deferred":
            assert (ws.inbox / outcome.path).is_file()


# --- accept / reject / duplicate / latest wins ---


def test_accepts_rejects_and_files_with_a_korean_note(ws, rules):
    put(ws, "기획예산과/평가결과.xlsx", "results", RESULTS, rules)
    put(ws, "안전치수과/주간실적_2016-03-04.xlsx", "weekly", weekly("안전치수과", date(2016, 3, 4)), rules)
    put(ws, "안전치수과/주간실적_오류.xlsx", "weekly", BAD_WEEKLY, rules)

    report = run(ws)

    status = {o.path: o.status for o in report.outcomes}
    assert status == {
        "기획예산과/평가결과.xlsx": "accepted",
        "안전치수과/주간실적_2016-03-04.xlsx": "accepted",
        "안전치수과/주간실적_오류.xlsx": "rejected",
    }
    assert report.exit_code == 1
    assert waiting_in_inbox(ws) == []
    archive = inbox_mod.archive_dir(ws.archive, datetime.now(SEOUL))
    assert sorted(p.name for p in archive.iterdir()) == ["주간실적_2016-03-04.xlsx", "평가결과.xlsx"]
    assert [p.name for p in quarantined(ws)] == ["주간실적_오류.xlsx"]
    note = ws.quarantine / "주간실적_오류.xlsx_오류.txt"
    text = note.read_bytes()
    assert text.startswith(b"\xef\xbb\xbf") and b"\r\n" in text  # Notepad: BOM and CRLF
    text_ko = note.read_text(encoding="utf-8-sig")
    assert "주간실적!A2" in text_ko and "주간실적!D2" in text_ko  # the bad 보고일 and the empty 추진실적
    assert "반려" in text_ko

    rows = {r.original_path: r for r in history(ws)}
    assert rows["안전치수과/주간실적_오류.xlsx"].status.value == "rejected"
    assert {p["code"] for p in rows["안전치수과/주간실적_오류.xlsx"].problems} == {"bad-date", "required"}
    assert rows["안전치수과/주간실적_2016-03-04.xlsx"].kind == "weekly"
    assert rows["안전치수과/주간실적_2016-03-04.xlsx"].department == "안전치수과"
    assert_accounted(ws, 3, report)

    # one log line per file
    log = (ws.logs / "coop-batch.log").read_text(encoding="utf-8")
    for outcome in report.outcomes:
        verb = "접수" if outcome.status == "accepted" else "반려"
        assert sum(f"{verb} {outcome.path}:" in line for line in log.splitlines()) == 1


def test_byte_identical_resubmission_is_a_duplicate_filed_not_processed_twice(ws, rules):
    first = put(ws, "안전치수과/주간실적_2016-03-04.xlsx", "weekly", weekly("안전치수과", date(2016, 3, 4)), rules)
    content = first.read_bytes()
    copy(ws, first, "안전치수과/주간실적_2016-03-04 - 복사본.xlsx")  # a copy in the same night
    report1 = run(ws)
    assert sorted((o.path, o.status) for o in report1.outcomes) == [
        ("안전치수과/주간실적_2016-03-04 - 복사본.xlsx", "duplicate"),
        ("안전치수과/주간실적_2016-03-04.xlsx", "accepted"),
    ]
    assert report1.exit_code == 0

    put_bytes(ws, "안전치수과/주간실적_2016-03-04.xlsx", content)  # sent again the next night
    report2 = run(ws)
    assert [(o.path, o.status) for o in report2.outcomes] == [("안전치수과/주간실적_2016-03-04.xlsx", "duplicate")]
    assert report2.exit_code == 0

    rows = history(ws)
    original = next(r for r in rows if r.status.value == "accepted")
    assert [r.status.value for r in rows].count("accepted") == 1
    assert all(r.duplicate_of == original.id for r in rows if r.status.value == "duplicate")
    assert len(rows) == 3
    # all three copies in the archive (never deleted); the same-named resend under a hash-prefixed name
    archived = files_under(ws.archive)
    assert len(archived) == 3 and all(p.read_bytes() == content for p in archived)
    assert sorted(p.name for p in archived) == sorted([
        "주간실적_2016-03-04.xlsx", "주간실적_2016-03-04 - 복사본.xlsx", f"{original.sha256[:8]}_주간실적_2016-03-04.xlsx",
    ])
    assert original.original_path == "안전치수과/주간실적_2016-03-04.xlsx"  # the copy, arriving later, is the duplicate
    # processed once: the master holds the row once
    master = table(sheets(ws.outbox / MASTER)["주간실적"])
    assert len(master) == 1
    assert master[0]["원본파일"] == "안전치수과/주간실적_2016-03-04.xlsx"
    assert report2.count("accepted") == 0 and report2.merged.data["weekly"][0]["progress"] == "재난안전 교육 2회 실시"
    assert_accounted(ws, 3, report2)


def test_a_rejected_file_sent_again_unchanged_is_rejected_again_not_archived(ws, rules, monkeypatch):
    bad = put(ws, "안전치수과/주간실적.xlsx", "weekly", BAD_WEEKLY, rules)
    content = bad.read_bytes()
    first = run(ws)
    assert [o.status for o in first.outcomes] == ["rejected"]

    put_bytes(ws, "안전치수과/주간실적_수정.xlsx", content)  # "fixed", but the same bytes
    put_bytes(ws, "안전치수과/주간실적_수정 - 복사본.xlsx", content)  # and a copy of it, the same night
    second = run(ws)
    status = {o.path: o.status for o in second.outcomes}
    assert status == {"안전치수과/주간실적_수정.xlsx": "rejected", "안전치수과/주간실적_수정 - 복사본.xlsx": "duplicate"}
    assert second.exit_code == 1
    assert waiting_in_inbox(ws) == [] and files_under(ws.archive) == []  # nothing of it archived as if accepted
    assert sorted(p.name for p in quarantined(ws)) == [
        "주간실적.xlsx", "주간실적_수정 - 복사본.xlsx", "주간실적_수정.xlsx"]
    again = (ws.quarantine / "주간실적_수정.xlsx_오류.txt").read_text(encoding="utf-8-sig")
    assert "주간실적!A2" in again  # judged again: the same reasons, at their cells
    assert "반려된 '안전치수과/주간실적.xlsx'와 내용이 똑같은 파일" in again
    repeat = (ws.quarantine / "주간실적_수정 - 복사본.xlsx_오류.txt").read_text(encoding="utf-8-sig")
    assert "안전치수과/주간실적_수정.xlsx와 같은 내용(반려된 파일)이라 접수되지 않았습니다" not in repeat
    assert "안전치수과/주간실적.xlsx와 같은 내용(반려된 파일)이라 접수되지 않았습니다" in repeat
    assert "주간실적!A2" in repeat
    lines = "\n".join(second.summary_lines())
    assert "반려: 안전치수과/주간실적_수정.xlsx" in lines
    assert "중복: 안전치수과/주간실적_수정 - 복사본.xlsx (안전치수과/주간실적.xlsx와 같은 내용(반려된 파일))" in lines

    rows = {r.original_path: r for r in history(ws)}
    assert rows["안전치수과/주간실적_수정.xlsx"].status.value == "rejected"
    codes = [p["code"] for p in rows["안전치수과/주간실적_수정.xlsx"].problems]
    assert "resent-rejected" in codes and "bad-date" in codes
    assert rows["안전치수과/주간실적_수정 - 복사본.xlsx"].duplicate_of == rows["안전치수과/주간실적.xlsx"].id
    assert_accounted(ws, 3, second)


def test_a_rejected_file_sent_again_is_judged_under_the_rules_of_now(ws, rules, monkeypatch):
    """Sent again unchanged after the rules changed, a rejected file may be accepted: it is read again."""
    bad = put(ws, "안전치수과/주간실적.xlsx", "weekly", BAD_WEEKLY, rules)
    content = bad.read_bytes()
    run(ws)
    from coop_batch import validate

    real = validate.validate_sheet

    def lenient(*args: Any, **kwargs: Any) -> Any:
        submission = real(*args, **kwargs)
        submission.problems[:] = [p for p in submission.problems if not p.is_error]
        submission.records.append({"report_date": date(2016, 3, 4), "project": SAFETY, "department": "안전치수과",
                                   "progress": "고친 규칙으로 접수"})
        return submission

    monkeypatch.setattr(validate, "validate_sheet", lenient)
    put_bytes(ws, "안전치수과/주간실적.xlsx", content)
    report = run(ws)
    assert [o.status for o in report.outcomes] == ["accepted"]
    codes = {p["code"] for p in history(ws)[-1].problems}
    assert "resent-rejected" not in codes  # nothing to say: it was accepted this time


def test_a_corrected_results_list_replaces_the_older_list_and_says_so(ws, rules):
    put(ws, "기획예산과/평가결과.xlsx", "results", RESULTS, rules)
    run(ws)
    renamed = [RESULTS[0], dict(RESULTS[1], project="서울 희망일자리 만들기 사업")]  # 연번 2, its name corrected
    put(ws, "기획예산과/평가결과_수정.xlsx", "results", renamed, rules)
    report = run(ws)
    assert [(r["seq"], r["project"]) for r in report.merged.data["results"]] == [
        (1, SAFETY), (2, "서울 희망일자리 만들기 사업")]  # not both 연번 2 rows, paid twice
    assert [p.code for p in report.problems if p.code == "result-replaced"] == ["result-replaced"]
    errors = table(sheets(ws.outbox / MASTER)["오류"])
    assert any("연번 2" in str(row) and JOBS in str(row) for row in errors)
    # a list sent with one row only is taken as the whole corrected list: the row it left out is said
    put(ws, "기획예산과/평가결과_한줄.xlsx", "results", [RESULTS[0]], rules)
    report = run(ws)
    assert [r["seq"] for r in report.merged.data["results"]] == [1]
    [withdrawn] = [p for p in report.problems if p.code == "row-withdrawn"]
    assert "연번 2 '서울 희망일자리 만들기 사업' 행이" in withdrawn.message and withdrawn.file.endswith("평가결과_한줄.xlsx")
    assert any("연번 2" in str(row) and "빠졌습니다" in str(row) for row in table(sheets(ws.outbox / MASTER)["오류"]))


def test_a_grade_the_rules_do_not_know_is_listed_once_on_the_problem_sheet(ws, rules):
    """Validation warns on the file and the policy leaves the project unpaid for the same cell: one row."""
    put(ws, "기획예산과/평가결과.xlsx", "results", [RESULTS[0], dict(RESULTS[1], grade="좋은 자치단체장상")], rules)
    report = run(ws)
    assert "unknown-grade" not in [p.code for p in report.problems]  # the file's warning says it, counted once
    rows = [r for r in table(sheets(ws.outbox / MASTER)["오류"]) if r["코드"] == "unknown-grade"]
    assert [(r["셀"], r["상태"]) for r in rows] == [("D3", "접수")]


def test_a_rejected_file_with_a_very_long_name_does_not_stop_the_night(ws, rules):
    """80 Hangul syllables make a legal name, but not with `_검토결과.txt` after it: the run exited 4
    on every night after (its review note's name was too long for the filesystem)."""
    name = "나" * 79 + ".xlsx"
    put_bytes(ws, f"지역경제과/{name}", b"PK\x03\x04 not a whole workbook")
    put(ws, "안전치수과/주간실적.xlsx", "weekly", [
        {"report_date": date(2016, 3, 25), "project": SAFETY, "department": "안전치수과", "progress": "점검"}], rules)
    for _ in range(2):
        report = run(ws)
        assert report.exit_code in (0, 1) and (ws.outbox / MASTER).is_file()
    [quarantined] = [p for p in files_under(ws.quarantine) if p.suffix == ".xlsx"]
    assert quarantined.name.endswith("~.xlsx") and quarantined.name.startswith("나" * 60)
    assert [p.name for p in files_under(ws.outbox / "반려" / "지역경제과")] == [quarantined.name + "_검토결과.txt"]


CONTACT = {"role": "총괄부서", "chief_rank": "지방행정사무관", "chief_name": "홍길동", "team": "기획팀",
           "leader_rank": "지방행정주사", "leader_name": "김철수", "leader_phone": "02-901-6123",
           "officer_rank": "지방행정주사보", "officer_name": "이영희", "officer_phone": "02-901-6124"}


def test_contact_lists_are_checked_against_the_results_only(ws, rules):
    """February: departments send their contact lists before any 평가결과. Another department's list
    names its own project: it is no reference, so nobody is told to change a correct name."""
    put(ws, "안전치수과/담당자지정.xlsx", "contacts", [dict(CONTACT, project=SAFETY, department="안전치수과")], rules)
    run(ws)
    put(ws, "환경과/담당자지정.xlsx", "contacts", [dict(CONTACT, project="미세먼지 줄이기", department="환경과")], rules)
    report = run(ws)
    with Ledger.open(ws.ledger_path) as ledger:
        assert [(r.original_path, r.problems) for r in ledger.history() if r.problems] == []
    assert report.exit_code == 0 and not list((ws.outbox / "반려").rglob("*.xlsx"))  # no review copy to send back
    put(ws, "기획예산과/평가결과.xlsx", "results", RESULTS, rules)  # the results name 안전도시, 일자리
    run(ws)
    put(ws, "청소행정과/담당자지정.xlsx", "contacts", [dict(CONTACT, project="안전도시 만들기 사업", department="청소행정과")],
        rules)
    report = run(ws)
    [outcome] = [o for o in report.outcomes if o.path.startswith("청소행정과/")]
    with Ledger.open(ws.ledger_path) as ledger:
        [row] = [r for r in ledger.history() if r.original_path == outcome.path]
    assert [p["code"] for p in row.problems] == ["unknown-project"]  # now there is a list to compare with


def test_a_half_written_output_left_by_a_killed_run_is_removed(ws, rules):
    ws.outbox.mkdir(parents=True, exist_ok=True)
    stale = ws.outbox / ".통합현황_20160325.4242.0a1b2c3d.tmp"
    stale.write_bytes(b"")
    kept = ws.outbox / "메모.tmp"  # not the writer's: left alone
    kept.write_bytes(b"x")
    run(ws)
    assert not stale.exists() and kept.exists() and (ws.outbox / MASTER).is_file()


def test_latest_plan_wins_and_the_older_stays_filed(ws, rules):
    put(ws, "기획예산과/평가결과.xlsx", "results", RESULTS, rules)
    old = plan("안전치수과", [("정량평가", "재난안전 예산 확보율", 20, 18), ("정성평가", "안전문화 확산", 10, 8)])
    new = plan("안전치수과", [("정량평가", "재난안전 예산 확보율", 20, 19), ("정량평가", "안전점검 실적", 15, 12),
                            ("정성평가", "안전문화 확산", 10, 9)])
    other = plan("일자리지원과", [("정량평가", "일자리 창출 실적", 30, 25)], project=JOBS)
    put(ws, "안전치수과/자체추진계획.xlsx", "plans", old, rules)
    put(ws, "일자리지원과/자체추진계획.xlsx", "plans", other, rules)
    run(ws)
    put(ws, "안전치수과/자체추진계획_수정.xlsx", "plans", new, rules)
    report = run(ws)

    plans = table(sheets(ws.outbox / MASTER)["자체추진계획"])
    safety = [r for r in plans if r["사업명"] == SAFETY]
    assert [(r["평가항목"], r["목표점수"]) for r in safety] == [
        ("재난안전 예산 확보율", 19), ("안전점검 실적", 12), ("안전문화 확산", 9),
    ]
    assert {r["원본파일"] for r in safety} == {"안전치수과/자체추진계획_수정.xlsx"}
    # the other department's plan is untouched by this department's resend
    assert [(r["사업명"], r["원본파일"]) for r in plans if r["사업명"] != SAFETY] == [
        (JOBS, "일자리지원과/자체추진계획.xlsx")
    ]
    assert report.replaced == {"plans": 2}
    # the older file: still in the archive and in 제출이력
    assert {p.name for p in files_under(ws.archive)} >= {"자체추진계획.xlsx", "자체추진계획_수정.xlsx"}
    history_sheet = table(sheets(ws.outbox / MASTER)["제출이력"])
    assert {r["파일"] for r in history_sheet} >= {"안전치수과/자체추진계획.xlsx", "안전치수과/자체추진계획_수정.xlsx"}
    assert all(r["상태"] == "접수" for r in history_sheet)
    assert changes(sheets(ws.outbox / MASTER))["자체추진계획"] == (4, 1, 2)

    # the next night, nothing new: the master is the same and the 요약 reports no change
    again = run(ws)
    assert again.replaced == {}
    assert changes(sheets(ws.outbox / MASTER))["자체추진계획"] == (4, 0, 0)
    assert [r["원본파일"] for r in table(sheets(ws.outbox / MASTER)["자체추진계획"])] == [r["원본파일"] for r in plans]


def test_weekly_resend_replaces_that_week_only(ws, rules):
    put(ws, "기획예산과/평가결과.xlsx", "results", RESULTS, rules)
    put(ws, "안전치수과/주간_0304.xlsx", "weekly", weekly("안전치수과", date(2016, 3, 4), "처음 보고"), rules)
    put(ws, "도로관리과/주간_0304.xlsx", "weekly", weekly("도로관리과", date(2016, 3, 4), "도로 보고"), rules)
    run(ws)
    # the next night: a corrected 3/4 report and the 3/11 report from one department
    put(ws, "안전치수과/주간_0304_정정.xlsx", "weekly", weekly("안전치수과", date(2016, 3, 4), "정정 보고"), rules)
    put(ws, "안전치수과/주간_0311.xlsx", "weekly", weekly("안전치수과", date(2016, 3, 11), "둘째 주"), rules)
    report = run(ws)

    assert report.count("accepted") == 2
    rows = table(sheets(ws.outbox / MASTER)["주간실적"])
    assert [(r["보고일"], r["부서명"], r["추진실적"], r["원본파일"]) for r in rows] == [
        (date(2016, 3, 4), "도로관리과", "도로 보고", "도로관리과/주간_0304.xlsx"),
        (date(2016, 3, 4), "안전치수과", "정정 보고", "안전치수과/주간_0304_정정.xlsx"),
        (date(2016, 3, 11), "안전치수과", "둘째 주", "안전치수과/주간_0311.xlsx"),
    ]
    assert report.replaced == {"weekly": 1}
    assert {r.original_path for r in history(ws)} >= {"안전치수과/주간_0304.xlsx"}  # the older one stays recorded


# --- what is left alone, what waits ---


def test_temp_and_owner_files_untouched_uncounted_and_open_file_deferred(ws, rules):
    book = put(ws, "환경과/주간실적.xlsx", "weekly", weekly("환경과", date(2016, 3, 4)), rules)
    ignored = {
        "환경과/~$주간실적.xlsx": b"owner",  # Excel has 주간실적.xlsx open
        "환경과/~$다른파일.xlsx": b"owner of a file not here",
        ".~lock.계획.xlsx#": b"libreoffice",
        "Thumbs.db": b"\x00thumbs",
        "desktop.ini": b"[.ShellClassInfo]",
        "세무과/~WRL0001.tmp": b"autosave",
    }
    for rel, content in ignored.items():
        put_bytes(ws, rel, content)
    before = {rel: (ws.inbox / rel).stat().st_mtime_ns for rel in ignored}

    report = run(ws, write_outputs=False)
    assert [(o.path, o.status) for o in report.outcomes] == [("환경과/주간실적.xlsx", "deferred")]
    assert "엑셀에서 열려" in report.outcomes[0].reason and "'~$주간실적.xlsx' 파일을 지워" in report.outcomes[0].reason
    assert report.ignored == len(ignored)
    assert history(ws) == [] and files_under(ws.archive) == []
    assert book.is_file()

    (ws.inbox / "환경과/~$주간실적.xlsx").unlink()  # the user closed Excel
    del ignored["환경과/~$주간실적.xlsx"]
    report = run(ws, write_outputs=False)
    assert [(o.path, o.status) for o in report.outcomes] == [("환경과/주간실적.xlsx", "accepted")]
    for rel, content in ignored.items():  # never moved, never changed, never counted
        path = ws.inbox / rel
        assert path.read_bytes() == content and path.stat().st_mtime_ns == before[rel]
    assert [r.original_path for r in history(ws)] == ["환경과/주간실적.xlsx"]
    assert report.ignored == len(ignored)


def test_an_owner_file_left_for_days_holds_nothing_back(ws, rules):
    """Excel crashed on Monday and left `~$주간실적.xlsx`: the file is processed, and the run says why."""
    book = put(ws, "환경과/주간실적.xlsx", "weekly", weekly("환경과", date(2016, 3, 4)), rules)
    owner = put_bytes(ws, "환경과/~$주간실적.xlsx", b"owner")
    now = datetime.now(SEOUL)
    old = (now - timedelta(hours=25)).timestamp()
    os.utime(owner, (old, old))
    report = run(ws, now=now, write_outputs=False)
    assert [(o.path, o.status) for o in report.outcomes] == [("환경과/주간실적.xlsx", "accepted")]
    assert not book.exists() and owner.read_bytes() == b"owner"  # the owner file itself is never touched
    [note] = [n for n in report.notes if "~$주간실적.xlsx" in n]
    assert "환경과/주간실적.xlsx" in note and "지워 주세요" in note

    later = put(ws, "환경과/주간실적_0311.xlsx", "weekly", weekly("환경과", date(2016, 3, 11)), rules)
    put_bytes(ws, "환경과/~$주간실적_0311.xlsx", b"owner")  # opened an hour ago: really open
    report = run(ws, now=now, write_outputs=False)
    assert [o.status for o in report.outcomes] == ["deferred"] and later.is_file()


def test_file_within_settle_time_waits_for_the_next_run(ws, rules):
    path = put(ws, "안전치수과/주간실적.xlsx", "weekly", weekly("안전치수과", date(2016, 3, 4)), rules)
    report = run(ws, settle_seconds=600, write_outputs=False)
    assert [(o.path, o.status) for o in report.outcomes] == [("안전치수과/주간실적.xlsx", "deferred")]
    assert "복사 중" in report.outcomes[0].reason
    assert report.exit_code == 0
    assert path.is_file() and history(ws) == []
    assert any("대기: 안전치수과/주간실적.xlsx" in line for line in report.summary_lines())

    # the next night: the same settle time, but the file has been still for long enough
    later = datetime.now(SEOUL) + timedelta(seconds=601)
    report = run(ws, settle_seconds=600, now=later, write_outputs=False)
    assert [(o.path, o.status) for o in report.outcomes] == [("안전치수과/주간실적.xlsx", "accepted")]
    assert not path.exists() and len(history(ws)) == 1


# --- crash recovery ---


class Killed(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way may swallow it."""


def crash_when_filing(monkeypatch, ws: Workspace, name: str, *, after_move: bool) -> list[str]:
    """Make `inbox.file_into` die for the file called `name`, after checking that its ledger row is
    already committed (visible from another connection) and not yet marked filed."""
    real = inbox_mod.file_into
    seen: list[str] = []

    def file_into(src: Path, dest_dir: Path, sha256: str) -> Path:
        if Path(src).name != name:
            return real(src, dest_dir, sha256)
        with Ledger.open(ws.ledger_path) as other:
            rows = [r for r in other.history() if r.sha256 == sha256]
        assert len(rows) == 1 and rows[0].filed_path is None
        seen.append(rows[0].status.value)
        if after_move:
            real(src, dest_dir, sha256)
        raise Killed

    monkeypatch.setattr(inbox_mod, "file_into", file_into)
    return seen


@pytest.mark.parametrize("after_move", [False, True], ids=["before-move", "after-move"])
@pytest.mark.parametrize("victim", ["주간실적_B.xlsx", "오류.xlsx"], ids=["accepted", "rejected"])
def test_run_killed_between_ledger_commit_and_filing_is_finished_by_the_next(
    ws, rules, monkeypatch, after_move, victim
):
    put(ws, "안전치수과/주간실적_A.xlsx", "weekly", weekly("안전치수과", date(2016, 3, 4)), rules)
    put(ws, "도로관리과/주간실적_B.xlsx", "weekly", weekly("도로관리과", date(2016, 3, 4)), rules)
    put(ws, "오류.xlsx", "weekly", BAD_WEEKLY, rules)
    seen = crash_when_filing(monkeypatch, ws, victim, after_move=after_move)
    with pytest.raises(Killed):
        run(ws)
    assert seen == ["accepted" if victim.startswith("주간") else "rejected"]
    monkeypatch.undo()
    # The invariant, whatever the chunk the crash came in: every file is either still in the inbox or
    # filed, never both, never lost; a file that left the inbox has a committed row; the victim's row
    # is committed but unfiled (rows are committed a chunk at a time, so others may be unfiled too).
    crashed = history(ws)
    unfiled = [r for r in crashed if r.filed_path is None]
    assert victim in [r.name for r in unfiled]
    assert len(waiting_in_inbox(ws)) + len(files_under(ws.archive)) + len(quarantined(ws)) == 3
    recorded = {r.sha256 for r in crashed}
    left = [p for p in files_under(ws.archive) + quarantined(ws) if p.suffix == ".xlsx"]
    assert {inbox_mod.sha256_of(p) for p in left} <= recorded
    assert all((ws.root / r.filed_path).is_file() for r in crashed if r.filed_path)

    report = run(ws)
    assert any("마저 보관" in note for note in report.notes)
    rows = history(ws)
    assert len(rows) == 3 and all(r.filed_path for r in rows)  # no second row for a recovered file
    assert {r.id: r.sha256 for r in rows if r.sha256 in recorded} == {r.id: r.sha256 for r in crashed}
    assert waiting_in_inbox(ws) == []
    assert len(files_under(ws.archive)) == 2 and len(quarantined(ws)) == 1
    assert (ws.quarantine / "오류.xlsx_오류.txt").is_file()  # the note is written on recovery too
    assert_accounted(ws, 3, report)
    committed = {r.original_path for r in crashed}
    assert not committed & {o.path for o in report.outcomes}  # none processed again
    assert len({r.sha256 for r in rows}) == 3
    # counted once in the master
    weekly_rows = table(sheets(ws.outbox / MASTER)["주간실적"])
    assert sorted(r["원본파일"] for r in weekly_rows) == ["도로관리과/주간실적_B.xlsx", "안전치수과/주간실적_A.xlsx"]
    assert [r.status for r in runs(ws)][0] is RunStatus.INTERRUPTED
    # the rejected file's review copy, which the killed run never reached, is made by this one
    assert [p.name for p in files_under(ws.outbox / "반려")] == ["오류.xlsx"]
    again = run(ws)  # and only once: the run after a finished one does not make it again
    assert again.feedback is None or not again.feedback.copies


def _early_readers_gone_at_each_move(monkeypatch, ws: Workspace, started) -> list[bool]:
    """Start the run's early readers (primed on the inbox: spawn.start_early) and note, at each move,
    whether the run has seen all of them end by then: killed is not enough, on Windows a process
    keeps its files open until it is gone, and then a file one of them has open cannot be moved."""
    from coop_batch import spawn

    real, gone, before = inbox_mod.file_into, [], len(started)

    def file_into(src: Path, dest_dir: Path, sha256: str) -> Path:
        readers = [p for p in started[before:] if p.args[-1] == spawn.READER_BOOT]
        gone.append(bool(readers) and all(p.returncode is not None for p in readers))  # waited for, not polled
        return real(src, dest_dir, sha256)

    monkeypatch.setattr(inbox_mod, "file_into", file_into)
    monkeypatch.setattr(spawn, "reap", lambda proc, seconds=5.0: None)  # only the run's own waits count
    spawn.start_early(ws.root)
    return gone


def test_early_readers_are_ended_before_a_killed_runs_moves_are_finished(ws, rules, monkeypatch, started):
    put(ws, "안전치수과/주간실적_A.xlsx", "weekly", weekly("안전치수과", date(2016, 3, 4)), rules)
    put(ws, "도로관리과/주간실적_B.xlsx", "weekly", weekly("도로관리과", date(2016, 3, 4)), rules)
    real = inbox_mod.file_into
    crash_when_filing(monkeypatch, ws, "주간실적_B.xlsx", after_move=False)
    with pytest.raises(Killed):
        run(ws)
    monkeypatch.setattr(inbox_mod, "file_into", real)
    gone = _early_readers_gone_at_each_move(monkeypatch, ws, started)
    report = run(ws)
    assert any("마저 보관" in note for note in report.notes)
    assert gone and all(gone) and waiting_in_inbox(ws) == []


def test_a_killed_runs_file_that_still_cannot_be_moved_waits_for_the_next_run(ws, rules, monkeypatch):
    put(ws, "안전치수과/주간실적_A.xlsx", "weekly", weekly("안전치수과", date(2016, 3, 4)), rules)
    crash_when_filing(monkeypatch, ws, "주간실적_A.xlsx", after_move=False)
    with pytest.raises(Killed):
        run(ws)
    monkeypatch.undo()

    def locked(src: Path, dest_dir: Path, sha256: str) -> Path:
        raise PermissionError(13, "다른 프로세스가 파일을 사용 중입니다")

    monkeypatch.setattr(inbox_mod, "file_into", locked)
    report = run(ws)
    assert any("이번에도 옮기지 못했습니다(읽기 권한이 없거나 다른 프로그램이 사용 중)" in note
               and "주간실적_A.xlsx" in note for note in report.notes)
    assert [(o.path, o.status) for o in report.outcomes] == [("안전치수과/주간실적_A.xlsx", "deferred")]
    assert len(waiting_in_inbox(ws)) == 1 and [r.filed_path for r in history(ws)] == [None]  # not a repeat of itself
    monkeypatch.undo()
    report = run(ws)
    assert any("마저 보관" in note for note in report.notes)
    assert waiting_in_inbox(ws) == [] and all(r.filed_path for r in history(ws)) and len(history(ws)) == 1


def test_a_night_of_repeats_only_ends_the_early_readers_before_filing(ws, rules, monkeypatch, started):
    """Nothing new to read: the readers primed on the inbox must not go on reading ahead the repeats
    about to be filed."""
    first = put(ws, "안전치수과/주간실적_A.xlsx", "weekly", weekly("안전치수과", date(2016, 3, 4)), rules)
    content = first.read_bytes()
    run(ws)
    for i in range(3):
        put_bytes(ws, f"다시/주간실적_{i}.xlsx", content)
    gone = _early_readers_gone_at_each_move(monkeypatch, ws, started)
    report = run(ws)
    assert [o.status for o in report.outcomes] == ["duplicate"] * 3
    assert gone == [True] * 3


# --- a rerun with nothing new ---

RUN_SPECIFIC_FIGURES = ("이번 실행",)


def comparable(book: dict[str, list[list[Any]]]) -> dict[str, list[list[Any]]]:
    """The master without what belongs to one run: its own figures (this run's counts) and the
    '새로 접수한 파일'/'새 파일로 바뀐 행' columns of the changes table."""
    out = dict(book)
    summary = []
    in_changes = False
    for row in book["요약"]:
        label = str(row[0]) if row else ""
        if label.startswith(RUN_SPECIFIC_FIGURES):
            continue
        if label == "지난 실행 이후 변경":
            in_changes = True
        elif not any(v not in ("", None) for v in row):
            in_changes = False
        summary.append(row[:2] if in_changes else row)
    out["요약"] = summary
    return out


def test_rerun_with_no_new_files_changes_nothing(ws, rules):
    put(ws, "기획예산과/평가결과.xlsx", "results", RESULTS, rules)
    put(ws, "안전치수과/자체추진계획.xlsx", "plans",
        plan("안전치수과", [("정량평가", "재난안전 예산 확보율", 20, 18)]), rules)
    put(ws, "안전치수과/주간실적.xlsx", "weekly", weekly("안전치수과", date(2016, 3, 4)), rules)
    put(ws, "오류.xlsx", "weekly", BAD_WEEKLY, rules)
    first = run(ws)
    book1 = sheets(ws.outbox / MASTER)
    rows1 = history(ws)
    files1 = {p: p.stat().st_mtime_ns for p in files_under(ws.archive) + files_under(ws.quarantine)}

    second = run(ws)
    book2 = sheets(ws.outbox / MASTER)
    assert second.outcomes == [] and second.exit_code == 0
    assert history(ws) == rows1  # no new file rows
    assert {p: p.stat().st_mtime_ns for p in files_under(ws.archive) + files_under(ws.quarantine)} == files1
    assert list(book2) == list(book1) == MASTER_SHEETS
    assert comparable(book2) == comparable(book1)
    # the comparison is not vacuous: the master holds the data, and this run's own figures changed
    assert len(table(book1["주간실적"])) == 1 and len(table(book1["제출이력"])) == 4
    assert book1["요약"] != book2["요약"]
    assert first.policy.total_reward_won == second.policy.total_reward_won > 0
    assert [r.status for r in runs(ws)] == [RunStatus.REJECTED, RunStatus.OK]


# --- every file accounted for, over a mixed inbox and several runs ---


def test_every_input_accounted_for_after_every_run_over_a_mixed_inbox(ws, rules):
    real_now = datetime.now(SEOUL)
    night1 = real_now + timedelta(hours=1)  # runs "later tonight": everything just written has settled...
    settle = 600.0
    inputs: list[Path] = []  # every file put into the inbox that is not a temporary one
    add = inputs.append

    add(put(ws, "기획예산과/평가결과.xlsx", "results", RESULTS, rules))
    good = put(ws, "안전치수과/주간실적_2016-03-04.xlsx", "weekly", weekly("안전치수과", date(2016, 3, 4)), rules)
    add(good)
    add(put(ws, "도로관리과/주간실적_2016-03-04.xlsx", "weekly", weekly("도로관리과", date(2016, 3, 4)), rules))
    add(copy(ws, good, "안전치수과/주간실적_2016-03-04 - 복사본.xlsx"))  # duplicate in the same run
    add(put(ws, "오류.xlsx", "weekly", BAD_WEEKLY, rules))
    add(put_bytes(ws, "감사담당관/회의자료.pdf", b"%PDF-1.4 not a workbook"))
    add(put(ws, "국/과/팀/주간실적_깊은곳.xlsx", "weekly", weekly("건설관리과", date(2016, 3, 4)), rules))
    # ...except this one, still being copied (touched a moment before the run)
    late = put(ws, "청소행정과/주간실적.xlsx", "weekly", weekly("청소행정과", date(2016, 3, 4)), rules)
    stamp = (night1 - timedelta(seconds=30)).timestamp()
    os.utime(late, (stamp, stamp))
    add(late)
    # and this one, open in Excel
    add(put(ws, "환경과/주간실적.xlsx", "weekly", weekly("환경과", date(2016, 3, 4)), rules))
    for rel in ("환경과/~$주간실적.xlsx", "Thumbs.db", "임시.tmp", ".~lock.x.xlsx#"):
        put_bytes(ws, rel, b"temporary")

    report = run(ws, now=night1, settle_seconds=settle)
    status = {o.path: o.status for o in report.outcomes}
    assert status == {
        "기획예산과/평가결과.xlsx": "accepted",
        "안전치수과/주간실적_2016-03-04.xlsx": "accepted",
        "도로관리과/주간실적_2016-03-04.xlsx": "accepted",
        "안전치수과/주간실적_2016-03-04 - 복사본.xlsx": "duplicate",
        "오류.xlsx": "rejected",
        "감사담당관/회의자료.pdf": "rejected",
        "국/과/팀/주간실적_깊은곳.xlsx": "accepted",
        "청소행정과/주간실적.xlsx": "deferred",
        "환경과/주간실적.xlsx": "deferred",
    }
    assert report.ignored == 4
    assert_accounted(ws, len(inputs), report)
    # same-named files from two folders both kept (one under a hash-prefixed name)
    same_name = [p.name for p in files_under(ws.archive) if p.name.endswith("주간실적_2016-03-04.xlsx")]
    assert len(same_name) == 2 and sum(name != "주간실적_2016-03-04.xlsx" for name in same_name) == 1

    # night 2: Excel closed, the copy finished; the bad file sent again unchanged; a new good file
    (ws.inbox / "환경과/~$주간실적.xlsx").unlink()
    add(copy(ws, ws.quarantine / "오류.xlsx", "오류_다시.xlsx"))
    add(put(ws, "안전치수과/주간실적_2016-03-11.xlsx", "weekly", weekly("안전치수과", date(2016, 3, 11)), rules))
    report = run(ws, now=night1 + timedelta(days=1), settle_seconds=settle)
    assert {o.path: o.status for o in report.outcomes} == {
        "청소행정과/주간실적.xlsx": "accepted",
        "환경과/주간실적.xlsx": "accepted",
        "오류_다시.xlsx": "rejected",  # judged again, and rejected again: not archived as a duplicate
        "안전치수과/주간실적_2016-03-11.xlsx": "accepted",
    }
    assert report.exit_code == 1
    assert_accounted(ws, len(inputs), report)
    assert waiting_in_inbox(ws) == []

    # night 3: nothing new
    report = run(ws, now=night1 + timedelta(days=2), settle_seconds=settle)
    assert report.outcomes == []
    assert_accounted(ws, len(inputs), report)
    assert len(history(ws)) == len(inputs)
    assert sorted(p.relative_to(ws.inbox).as_posix() for p in files_under(ws.inbox)) == [
        ".~lock.x.xlsx#", "Thumbs.db", "임시.tmp",
    ]


# --- the master workbook ---


def test_master_workbook_sheets_source_column_and_user_text_never_a_formula(ws, rules):
    import openpyxl

    put(ws, "기획예산과/평가결과.xlsx", "results", RESULTS, rules)
    tricky = ['=HYPERLINK("http://x")', "@SUM(A1)", "+82 2 901 6123", "-재검토 필요", "=1+1", "http://example.com"]
    rows = [{"report_date": date(2016, 3, 4), "project": SAFETY, "department": "안전치수과", "progress": text,
             "issues": text} for text in tricky]
    put(ws, "안전치수과/주간실적.xlsx", "weekly", rows, rules)
    report = run(ws)
    assert report.count("accepted") == 2, report.summary_lines()
    assert [p.name for p in report.outputs] == [MASTER, "포상금지급내역_20160325.xlsx", "특별휴가_표창대상자_20160325.xlsx"]
    assert all(p.is_file() for p in report.outputs)

    book = openpyxl.load_workbook(ws.outbox / MASTER)
    assert book.sheetnames == MASTER_SHEETS
    for kind in KINDS:
        header = [c.value for c in book[kind.sheet][1]]
        assert "원본파일" in header, kind.sheet
    sheet = book["주간실적"]
    header = [c.value for c in sheet[1]]
    progress, source = header.index("추진실적") + 1, header.index("원본파일") + 1
    written = [sheet.cell(row, progress) for row in range(2, 2 + len(tricky))]
    assert sorted(c.value for c in written) == sorted(tricky)
    assert all(c.data_type == "s" for c in written)
    assert all(sheet.cell(row, source).value == "안전치수과/주간실적.xlsx" for row in range(2, 2 + len(tricky)))
    for output in report.outputs:  # no user text became a formula or a link in any workbook
        out = openpyxl.load_workbook(output)
        for name in out.sheetnames:
            for line in out[name].iter_rows():
                for c in line:
                    assert c.hyperlink is None, (output.name, name, c.coordinate)
                    if c.data_type == "f":  # only the totals the writer puts there itself
                        assert str(c.value).startswith(("=SUM(", "=SUBTOTAL(")), (output.name, name, c.value)
    results = table(sheets(ws.outbox / MASTER)["평가결과"])
    assert [(r["사업명"], r["수상금(원)"], r["원본파일"]) for r in results] == [
        (SAFETY, 69_200_000, "기획예산과/평가결과.xlsx"), (JOBS, 10_000_000, "기획예산과/평가결과.xlsx"),
    ]
    honours = sheets(report.outputs[2])  # the 사용기한 is the leave's, under its title only
    subtitles = {name: rows[1][0] for name, rows in honours.items()}
    assert "사용기한" in subtitles["특별휴가"]
    assert all("사용기한" not in text and "기획예산과" in text for name, text in subtitles.items() if name != "특별휴가")


def test_master_open_in_excel_gets_a_timestamped_name_and_the_run_goes_on(ws, rules, monkeypatch):
    put(ws, "안전치수과/주간실적.xlsx", "weekly", weekly("안전치수과", date(2016, 3, 4)), rules)
    run(ws)  # yesterday's master exists, and the user has it open
    target = ws.outbox / MASTER
    before = target.read_bytes()
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst) == target:
            raise PermissionError(13, "다른 프로세스가 파일을 사용 중", str(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    put(ws, "도로관리과/주간실적.xlsx", "weekly", weekly("도로관리과", date(2016, 3, 4)), rules)
    report = run(ws)
    monkeypatch.undo()

    assert report.exit_code == 0 and report.count("accepted") == 1
    fallback = report.outputs[0]
    assert fallback != target and fallback.parent == ws.outbox
    assert fallback.name.startswith("통합현황_20160325_") and fallback.suffix == ".xlsx"
    assert len(fallback.stem.rsplit("_", 1)[1]) == 6 and fallback.stem.rsplit("_", 1)[1].isdigit()
    assert target.read_bytes() == before  # the open file was not touched
    assert any(fallback.name in note and MASTER in note for note in report.notes)
    assert any(fallback.name in line for line in report.summary_lines())
    assert len(table(sheets(fallback)["주간실적"])) == 2
    assert [p.name for p in ws.outbox.iterdir() if p.suffix == ".tmp"] == []  # no temp file left behind
    assert report.outputs[1:] == [ws.outbox / "포상금지급내역_20160325.xlsx", ws.outbox / "특별휴가_표창대상자_20160325.xlsx"]


def test_circulation_copies_print_without_the_basis_column_which_the_master_keeps(tmp_path):
    from datetime import date as _date

    from coop_batch.master import honour_sheets, policy_sheets, reward_sheets
    from coop_batch.policy import BASIS, compute
    from coop_batch.rules import load_rules

    rules = load_rules(2016)
    result = {"seq": 1, "project": "안전도시 만들기", "category": "시·자치구 공동협력사업", "grade": "최우수",
              "tier": "최우수 이상", "prize_won": 90_000_000, "subsidy": False, "departments": ["안전치수과"],
              "lead_department": "안전치수과", "note": None, "_row": 2, "_file": "결과.xlsx", "_sheet": "평가결과"}
    policy = compute({"results": [result]}, rules)
    assert all(BASIS in [c.title for c in spec.columns] for spec in policy_sheets(policy))
    for spec in reward_sheets(policy, rules, _date(2016, 3, 25)) + honour_sheets(policy, rules, _date(2016, 3, 25)):
        assert BASIS not in [c.title for c in spec.columns] and spec.title


@pytest.mark.parametrize(
    ("error", "says"),
    [(FileNotFoundError(2, "No such file or directory"), "읽은 뒤 제출 폴더에서 없어져 보관함에 넣지 못했습니다"),
     (PermissionError(13, "Permission denied"), "옮기지 못했습니다(읽기 권한이 없거나 다른 프로그램이 사용 중). 다음 실행에서")],
    ids=["taken-away", "locked"],
)
def test_a_file_that_cannot_be_filed_after_it_was_read_is_told_in_korean(ws, rules, monkeypatch, error, says):
    """Taken out of the inbox (or locked) between its reading and its move: said in Korean, without
    the promise to file it next night when there is nothing left to file; the other files go on."""
    put(ws, "안전치수과/주간실적_A.xlsx", "weekly", weekly("안전치수과", date(2016, 3, 4)), rules)
    put(ws, "도로관리과/주간실적_B.xlsx", "weekly", weekly("도로관리과", date(2016, 3, 4)), rules)
    real = inbox_mod.file_into

    def file_into(src: Path, dest_dir: Path, sha256: str) -> Path:
        if Path(src).name == "주간실적_A.xlsx":
            raise error
        return real(src, dest_dir, sha256)

    monkeypatch.setattr(inbox_mod, "file_into", file_into)
    report = run(ws)
    notes = [note for note in report.notes if "주간실적_A.xlsx" in note]
    assert len(notes) == 1 and says in notes[0] and "No such file" not in notes[0] and "denied" not in notes[0]
    assert ("다음 실행에서" in notes[0]) == isinstance(error, PermissionError)
    assert len(files_under(ws.archive)) == 1  # 주간실적_B filed all the same


@pytest.mark.parametrize(("as_of", "warned"), [(date(2015, 12, 31), False), (date(2017, 1, 20), False),
                                                (date(2018, 1, 5), True), (date(2014, 6, 1), True)])
def test_an_as_of_years_from_the_rules_year_is_noted(ws, as_of, warned):
    report = run_batch(ws, as_of=as_of, settle_seconds=0)
    notes = [n for n in report.notes if "2016년 규칙으로 계산했습니다" in n]
    assert bool(notes) == warned
    if warned:
        particle = "를" if as_of.isoformat()[-1] in "2459" else "을"  # 2018-01-05를, 2014-06-01을
        assert f"{as_of.year}.toml" in notes[0] and any(f"참고: 기준일 {as_of.isoformat()}{particle} 2016년" in line
                                                          for line in report.summary_lines())
