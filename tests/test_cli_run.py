"""The nightly run end to end through the command line (`coop-batch init / run / demo`).

Runs go through click's `CliRunner` in this process; what must be another process (a run that
holds the workspace lock, a run killed between its ledger commit and the file move) is a real
subprocess.  Workspaces are set to `settle_seconds = 0` unless a test is about settling.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from python_calamine import CalamineWorkbook

from coop_batch.cli import cli
from coop_batch.config import CONFIG_NAME
from coop_batch.korean import josa
from coop_batch.ledger import FileRow, Ledger, RunStatus
from coop_batch.schema import KIND_BY_ID
from coop_batch.templates import write_template

AS_OF = "2016-03-25"
MASTER = "통합현황_20160325.xlsx"
OUTPUTS = [MASTER, "포상금지급내역_20160325.xlsx", "특별휴가_표창대상자_20160325.xlsx"]
SAFETY = "안전도시 만들기"
RESULTS = [
    {"seq": 1, "project": SAFETY, "category": "시·자치구 공동협력사업", "grade": "최우수", "prize_won": "69.2",
     "subsidy": "N", "departments": "안전치수과(총괄)"},
]
BAD_WEEKLY = [{"report_date": "다음주", "project": SAFETY, "department": "안전치수과", "progress": ""}]
# Subprocesses run with the same interpreter; the package is importable from the repository root.
REPO = Path(__file__).resolve().parents[1]


def weekly(dept: str, day: date, progress: str = "재난안전 교육 2회 실시") -> list[dict[str, Any]]:
    return [{"report_date": day, "project": SAFETY, "department": dept, "progress": progress}]


# --- helpers ---


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def set_setting(root: Path, line_start: str, line: str) -> None:
    config = root / CONFIG_NAME
    text = config.read_text(encoding="utf-8")
    lines = [line if existing.startswith(line_start) else existing for existing in text.splitlines()]
    assert line in lines, f"no setting starting with {line_start!r}"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def root(tmp_path) -> Path:
    """A workspace made by `coop-batch init`, set to process files at once."""
    root = tmp_path / "작업폴더"
    result = invoke("init", str(root))
    assert result.exit_code == 0, result.output
    assert "작업 폴더를 준비했습니다" in result.output
    set_setting(root, "settle_seconds", "settle_seconds = 0")
    return root


def put(root: Path, rel: str, kind: str, rows: list[dict[str, Any]], rules) -> Path:
    return write_template(KIND_BY_ID[kind], rules, root / "inbox" / rel, rows)


def run(root: Path, *extra: str) -> Result:
    return invoke("run", "--workspace", str(root), "--as-of", AS_OF, *extra)


def history(root: Path) -> list[FileRow]:
    with Ledger.open(root / "ledger.sqlite") as ledger:
        return ledger.history()


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def sheet(path: Path, name: str) -> list[dict[str, Any]]:
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(name).to_python()
    return [dict(zip(rows[0], row)) for row in rows[1:]]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def python(code: str, *args: str, **popen: Any) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args], cwd=REPO, text=True, encoding="utf-8", **popen
    )


# --- init / run: accept, reject, duplicate, latest wins, exit codes 0 and 1 ---


def test_init_then_runs_accept_reject_duplicate_and_latest_wins(root, rules):
    for folder in ("inbox", "outbox", "archive", "quarantine", "logs"):
        assert (root / folder).is_dir()
    assert (root / CONFIG_NAME).is_file() and (root / "ledger.sqlite").is_file()

    results = put(root, "기획예산과/평가결과.xlsx", "results", RESULTS, rules)
    put(root, "안전치수과/주간실적_0304.xlsx", "weekly", weekly("안전치수과", date(2016, 3, 4), "처음 보고"), rules)
    put(root, "안전치수과/주간실적_오류.xlsx", "weekly", BAD_WEEKLY, rules)
    night1 = run(root)
    assert night1.exit_code == 1, night1.output  # some rejected...
    assert "받은 파일 3건: 접수 2, 반려 1, 중복 0, 대기 0" in night1.output
    assert "반려: 안전치수과/주간실적_오류.xlsx (오류 2건) → quarantine/주간실적_오류.xlsx" in night1.output
    assert sorted(p.name for p in (root / "outbox").iterdir() if p.is_file()) == sorted(OUTPUTS)  # ...outputs still written
    assert (root / "quarantine" / "주간실적_오류.xlsx_오류.txt").is_file()

    # night 2: the results file sent again unchanged, and a corrected weekly report
    (root / "inbox" / "기획예산과").mkdir(exist_ok=True)
    (root / "inbox" / "기획예산과" / "평가결과(재송부).xlsx").write_bytes(
        next(p for p in files_under(root / "archive") if p.name == results.name).read_bytes()
    )
    put(root, "안전치수과/주간실적_0304_정정.xlsx", "weekly", weekly("안전치수과", date(2016, 3, 4), "정정 보고"), rules)
    night2 = run(root)
    assert night2.exit_code == 0, night2.output
    assert "받은 파일 2건: 접수 1, 반려 0, 중복 1, 대기 0" in night2.output
    for output in OUTPUTS:
        assert f"결과 파일: {root.resolve() / 'outbox' / output}" in night2.output

    weekly_rows = sheet(root / "outbox" / MASTER, "주간실적")
    assert [(r["추진실적"], r["원본파일"]) for r in weekly_rows] == [("정정 보고", "안전치수과/주간실적_0304_정정.xlsx")]
    assert len(sheet(root / "outbox" / MASTER, "평가결과")) == 1  # the duplicate was not merged again
    rows = {r.original_path: r for r in history(root)}
    assert rows["기획예산과/평가결과(재송부).xlsx"].status.value == "duplicate"
    assert rows["기획예산과/평가결과(재송부).xlsx"].duplicate_of == rows["기획예산과/평가결과.xlsx"].id
    assert rows["안전치수과/주간실적_0304.xlsx"].status.value == "accepted"  # the older one stays recorded
    assert (root / rows["안전치수과/주간실적_0304.xlsx"].filed_path).is_file()  # and archived
    assert [p for p in files_under(root / "inbox")] == []
    assert len(files_under(root / "archive")) == 4 and len(files_under(root / "quarantine")) == 2


def test_unsettled_file_waits_with_the_configured_settle_time(root, rules):
    set_setting(root, "settle_seconds", "settle_seconds = 120")
    path = put(root, "안전치수과/주간실적.xlsx", "weekly", weekly("안전치수과", date(2016, 3, 4)), rules)
    result = run(root)
    assert result.exit_code == 0, result.output
    assert "대기 1" in result.output and "대기: 안전치수과/주간실적.xlsx (복사 중일 수 있어 다음 실행에서 처리)" in result.output
    assert path.is_file() and history(root) == []

    set_setting(root, "settle_seconds", "settle_seconds = 0")  # as if the two minutes had passed
    result = run(root)
    assert result.exit_code == 0, result.output
    assert "접수 1" in result.output and not path.exists()
    assert [r.original_path for r in history(root)] == ["안전치수과/주간실적.xlsx"]


# --- exit code 2: usage and configuration errors ---


@pytest.mark.parametrize(
    ("line_start", "line", "says"),
    [
        ("policy_year", "policy_year = 2099", "2099.toml"),  # no rules file for that year
        ("policy_year", "policy_year = ", "5번째 줄 15번째 칸 근처의 문법이 잘못되었습니다"),  # not TOML
        ("settle_seconds", "settle_secnds = 0", "알 수 없는 항목"),  # a typo
        ("settle_seconds", 'settle_seconds = "두 시간"', "settle_seconds: 값 '두 시간': 숫자(따옴표 없이"),  # a wrong value
        ("settle_seconds", "settle_seconds = -1", "settle_seconds: 값 -1: 0 이상이어야 합니다"),  # out of range
    ],
    ids=["no-rules-for-year", "broken-toml", "unknown-key", "bad-value", "out-of-range"],
)
def test_bad_configuration_exits_2_and_touches_nothing(root, rules, line_start, line, says):
    path = put(root, "안전치수과/주간실적.xlsx", "weekly", weekly("안전치수과", date(2016, 3, 4)), rules)
    set_setting(root, line_start, line)
    result = run(root)
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    result.output.encode("cp949")  # a Korean Windows console shows all of it
    assert path.is_file() and history(root) == []
    assert list((root / "outbox").iterdir()) == []
    assert says in (root / "logs" / "coop-batch.log").read_text(encoding="utf-8")  # a scheduled run's only trace


def test_usage_errors_exit_2(root):
    assert run(root, "--bogus").exit_code == 2
    bad_date = invoke("run", "--workspace", str(root), "--as-of", "2016-13-45")
    assert bad_date.exit_code == 2
    missing = invoke("run", "--workspace", str(root / "없는폴더"))
    assert missing.exit_code == 2 and "coop-batch init" in missing.output


# --- exit code 3: another run holds the lock ---

HOLD_LOCK = """
    import json, os, sys
    from pathlib import Path
    from coop_batch.lock import WorkspaceLock

    lock = WorkspaceLock(Path(sys.argv[1]) / "coop_batch.lock", "coop-batch run")
    lock.acquire()
    print(json.dumps({"pid": os.getpid(), "who": lock.holder.describe()}, ensure_ascii=False), flush=True)
    if sys.argv[2] == "crash":
        os._exit(0)  # dies holding it: no release
    sys.stdin.readline()
    lock.release()
"""


def test_second_run_refused_while_another_process_holds_the_lock(root, rules):
    path = put(root, "안전치수과/주간실적.xlsx", "weekly", weekly("안전치수과", date(2016, 3, 4)), rules)
    holder = python(HOLD_LOCK, str(root), "hold", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        info = json.loads(holder.stdout.readline())
        result = run(root)
        assert result.exit_code == 3, result.output
        assert f"pid {holder.pid}" in result.stderr and info["who"] in result.stderr
        assert "시작 20" in result.stderr and "사용 중" in result.stderr
        assert path.is_file() and history(root) == []  # nothing was touched
        assert list((root / "outbox").iterdir()) == []
    finally:
        holder.communicate("\n", timeout=30)
    assert holder.returncode == 0

    result = run(root)  # released: the next run goes ahead, with no take-over to report
    assert result.exit_code == 0, result.output
    assert "넘겨받았습니다" not in result.output and not path.exists()


def test_lock_of_a_crashed_run_is_taken_over(root):
    holder = python(HOLD_LOCK, str(root), "crash", stdout=subprocess.PIPE)
    info = json.loads(holder.communicate(timeout=30)[0])
    result = run(root)
    assert result.exit_code == 0, result.output
    assert f"pid {info['pid']}" in result.output and "비정상 종료되어 잠금을 넘겨받았습니다" in result.output


# --- a run killed between the ledger commit and the file move ---

KILLED_RUN = """
    import os, sys
    from datetime import date
    from pathlib import Path
    from coop_batch import inbox
    from coop_batch.config import open_workspace
    from coop_batch.run import run_batch

    real = inbox.file_into

    def file_into(src, dest_dir, sha256):
        if Path(src).name == sys.argv[2]:
            os._exit(9)  # the machine goes down: the ledger row is committed, the file not moved
        return real(src, dest_dir, sha256)

    inbox.file_into = file_into
    run_batch(open_workspace(sys.argv[1]), as_of=date(2016, 3, 25), settle_seconds=0)
"""


def test_run_killed_after_ledger_commit_is_recovered_exactly_once(root, rules):
    # B arrives first, so it is moved first: the run dies on it, before A is moved.  Rows are committed
    # a chunk at a time before the chunk's moves, so A's row may be committed too; A's file never moved.
    victim = put(root, "도로관리과/주간실적_B.xlsx", "weekly", weekly("도로관리과", date(2016, 3, 4)), rules)
    other = put(root, "안전치수과/주간실적_A.xlsx", "weekly", weekly("안전치수과", date(2016, 3, 4)), rules)
    victim_sha = sha(victim)
    killed = python(KILLED_RUN, str(root), victim.name)
    assert killed.wait(timeout=120) == 9

    rows = history(root)
    assert rows[0].original_path == "도로관리과/주간실적_B.xlsx" and all(r.filed_path is None for r in rows)
    assert {r.original_path for r in rows} <= {"도로관리과/주간실적_B.xlsx", "안전치수과/주간실적_A.xlsx"}
    assert victim.is_file() and other.is_file() and files_under(root / "archive") == []
    committed = len(rows)
    # a file that arrives after the crash is new; the committed ones are filed, not processed again
    put(root, "세무과/주간실적_C.xlsx", "weekly", weekly("세무과", date(2016, 3, 4)), rules)

    result = run(root)
    assert result.exit_code == 0, result.output
    assert "마저 보관했습니다" in result.output and "넘겨받았습니다" in result.output
    assert f"받은 파일 {3 - committed}건: 접수 {3 - committed}" in result.output
    rows = history(root)
    assert len(rows) == 3 and all(r.filed_path for r in rows)
    assert [r.sha256 for r in rows].count(victim_sha) == 1
    assert files_under(root / "inbox") == []
    assert sorted(sha(p) for p in files_under(root / "archive")) == sorted(r.sha256 for r in rows)
    assert sorted(r["원본파일"] for r in sheet(root / "outbox" / MASTER, "주간실적")) == [
        "도로관리과/주간실적_B.xlsx", "세무과/주간실적_C.xlsx", "안전치수과/주간실적_A.xlsx",
    ]
    with Ledger.open(root / "ledger.sqlite") as ledger:
        assert ledger.run(1).status is RunStatus.INTERRUPTED and ledger.run(2).status is RunStatus.OK


# --- the master cannot be replaced (open in Excel) ---


def test_master_open_in_excel_falls_back_to_a_timestamped_copy(root, rules, monkeypatch):
    put(root, "안전치수과/주간실적.xlsx", "weekly", weekly("안전치수과", date(2016, 3, 4)), rules)
    target = (root / "outbox" / MASTER).resolve()
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst).resolve() == target:
            raise PermissionError(13, "Permission denied", str(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    result = run(root)
    monkeypatch.undo()
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (root / "outbox").iterdir() if p.is_file())
    fallback = next(name for name in written if name.startswith("통합현황_20160325_"))
    assert MASTER not in written and len(written) == 3
    assert f"{MASTER}가 엑셀에서 열려 있어 {fallback}로 저장했습니다" in result.output
    assert len(sheet(root / "outbox" / fallback, "주간실적")) == 1


# --- coop-batch demo ---


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, Result]:
    root = tmp_path_factory.mktemp("demo") / "demo-workspace"
    return root, invoke("demo", str(root))


BROKEN = {  # the demo's deliberately broken files (see coop_batch/demo.py)
    "감사담당관/주간실적_2016-03-25.xlsx",
    "일자리지원과/주간실적_2016-03-11.xlsx",
    "교통행정과/자체추진계획_교통행정과.xlsx",
}


def test_demo_exits_0_and_writes_the_three_outputs(demo):
    root, result = demo
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (root / "outbox").iterdir() if p.is_file()) == sorted(OUTPUTS)
    assert str(root.resolve() / "outbox") in result.output
    assert "받은 파일 108건" in result.output
    assert "규칙마다 한 번씩 보이도록" in result.output  # not the seed's V table alone: its total differs
    master = CalamineWorkbook.from_path(str(root / "outbox" / MASTER))
    assert {"요약", "평가결과", "주간실적", "포상금지급", "제출이력", "오류"} <= set(master.sheet_names)
    assert len(sheet(root / "outbox" / MASTER, "평가결과")) == 27  # the seed's 27 results of 2015


def test_demo_quarantines_the_broken_files_with_their_notes(demo):
    root, _ = demo
    quarantine = root / "quarantine"
    files = sorted(p.name for p in quarantine.iterdir() if not p.name.endswith(".txt"))
    assert files == sorted(Path(rel).name for rel in BROKEN)
    for name in files:
        note = quarantine / f"{name}_오류.txt"
        assert note.is_file() and "반려" in note.read_text(encoding="utf-8-sig")
    rows = history(root)
    assert {r.original_path for r in rows if r.status.value == "rejected"} == BROKEN
    # the byte-identical copy, saved two minutes after the original, is the duplicate (not the original)
    status = {r.original_path: r.status.value for r in rows}
    assert status["세무과/주간실적_2016-03-18 - 복사본.xlsx"] == "duplicate"
    assert status["세무과/주간실적_2016-03-18.xlsx"] == "accepted"
    # every demo file accounted for: nothing left waiting, each filed once
    assert files_under(root / "inbox") == []
    assert len(rows) == len(files_under(root / "archive")) + len(files) == 108


def test_demo_refuses_an_existing_workspace(demo):
    root, _ = demo
    again = invoke("demo", str(root))
    assert again.exit_code == 2 and "이미 작업 폴더가 있습니다" in again.output
    assert len(history(root)) == 108


def test_a_corrupt_ledger_is_a_korean_configuration_error(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(tmp_path)]).exit_code == 0
    (tmp_path / "ledger.sqlite").write_bytes(b"this is not a database" * 100)
    result = runner.invoke(cli, ["run", "--workspace", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "대장" in result.output


# --- usage errors of every command: Korean, with how to fix them, exit 2 ---


@pytest.mark.parametrize(
    "args, says, command",
    [
        (["run", "-w", "{root}", "--as-of", "2016-13-01"],
         "'--as-of' 값 '2016-13-01'은(는) 날짜가 아닙니다. 2016-03-25처럼 YYYY-MM-DD로 적어 주세요.", "run"),
        (["run", "--as-of=2016-02-30"], "'--as-of' 값 '2016-02-30'은(는) 날짜가 아닙니다.", "run"),
        (["status", "-w", "{root}", "--as-of", "어제"], "'--as-of' 값 '어제'은(는) 날짜가 아닙니다.", "status"),
        (["run", "--as-of"], "'--as-of' 뒤에 값을 적어 주세요. 예: --as-of 2016-03-25", "run"),
        (["run", "-qw"], "'-w' 뒤에 값을 적어 주세요.", "run"),
        (["run", "--no-mail=yes"], "'--no-mail'은(는) 값을 받지 않는 옵션입니다. '=' 뒤의 값을 지우고 '--no-mail'만", "run"),
        (["run", "--bogus"], "'--bogus'은(는) 'coop-batch run'에 없는 옵션입니다.", "run"),
        (["run", "-w", "{config}"], "'--workspace' 값 '{config}'은(는) 폴더가 아니라 파일입니다. 폴더 이름을 적어 주세요.", "run"),
        (["run", "D:\\공동", "협력"], "'D:\\공동 협력'은(는) 'coop-batch run'이(가) 받지 않는 값입니다. 빈칸이 든", "run"),
        (["init", "--year", "20x6", "{root}"], "'--year' 값 '20x6'은(는) 연도가 아닙니다. 2016처럼 숫자로 적어 주세요.", "init"),
        (["templates", "--year", "열여섯"], "'--year' 값 '열여섯'은(는) 연도가 아닙니다.", "templates"),
        (["demo", "{config}"], "'{config}'은(는) 폴더가 아니라 파일입니다.", "demo"),
        (["schedule", "windows", "--logon", "암호"],
         "'--logon' 값 '암호'은(는) 고를 수 없는 값입니다. password, s4u 중 하나를 적어 주세요.", "schedule windows"),
        (["schedule", "window"], "'window'은(는) 'coop-batch schedule'에 없는 명령입니다. 혹시 'windows'을(를)", "schedule"),
        (["nosuchcmd"], "'nosuchcmd'은(는) 'coop-batch'에 없는 명령입니다. 쓸 수 있는 명령: demo, doctor", ""),
        (["--as-of", "2016-03-25", "run"], "'--as-of'은(는) 'coop-batch'에 없는 옵션입니다. 옵션은 명령 이름 뒤에 적어 "
         "주세요(예: coop-batch run --as-of 2016-03-25).", ""),
    ],
)
def test_usage_errors_say_in_korean_how_to_fix_them(root, args, says, command):
    fill = {"{root}": str(root), "{config}": str(root / CONFIG_NAME)}
    for key, value in fill.items():
        args = [a.replace(key, value) for a in args]
        says = says.replace(key, value)
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert josa(says) in result.output  # the particles settled by the value: '2016-13-01'은, 'xml'은
    assert f"적는 법은 '{' '.join(['coop-batch', command]).strip()} --help'로 볼 수 있습니다." in result.output
    english = ("Usage:", "Error", "Try ", "Invalid value", "No such", "Option ", "Got unexpected", "Missing")
    assert not [word for word in english if word in result.output], result.output
    result.output.encode("cp949")  # a Korean Windows console prints all of it
    assert history(root) == []  # nothing ran


def test_a_command_group_alone_still_shows_its_help(root):
    result = invoke("schedule")
    assert result.exit_code == 2 and "windows" in result.output and "cron" in result.output


# --- a real legacy .xls in the inbox: rejected, told it is an .xls (not ".xlsx, but old inside") ---


def test_a_legacy_xls_file_is_rejected_as_what_its_name_says(root):
    from test_hostile import cfb

    legacy = root / "inbox" / "안전치수과" / "주간실적_구버전.xls"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(cfb("Workbook", "\x05SummaryInformation"))
    (root / "inbox" / "안전치수과" / "주간실적_이름만.xlsx").write_bytes(cfb("Workbook"))
    result = run(root)
    assert result.exit_code == 1, result.output
    assert "반려: 안전치수과/주간실적_구버전.xls (오류 1건) → quarantine/주간실적_구버전.xls" in result.output
    note = (root / "quarantine" / "주간실적_구버전.xls_오류.txt").read_text(encoding="utf-8-sig")
    assert "구버전 엑셀(.xls) 파일입니다. 엑셀 또는 한컴오피스에서 '다른 이름으로 저장' → 'Excel 통합 문서(*.xlsx)'로 " \
           "다시 저장해 보내 주세요." in note
    assert "확장자는" not in note
    renamed = (root / "quarantine" / "주간실적_이름만.xlsx_오류.txt").read_text(encoding="utf-8-sig")
    assert "확장자는 .xlsx이지만 내용은 구버전 엑셀(.xls) 형식입니다." in renamed
    rows = {r.original_path: r for r in history(root)}
    recorded = rows["안전치수과/주간실적_구버전.xls"].problem_objects()  # as the ledger renders it again
    assert [p.message.split(" 엑셀 또는")[0] for p in recorded] == ["구버전 엑셀(.xls) 파일입니다."]


def test_ctrl_c_is_said_in_korean_with_its_own_exit_code(tmp_path, monkeypatch):
    """Click would print "Aborted!" and exit 1, the code of a night with rejected files."""
    import coop_batch.templates

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(coop_batch.templates, "write_templates", interrupted)
    result = CliRunner().invoke(cli, ["templates", "--out", str(tmp_path / "t")])
    assert result.exit_code == 130
    assert "중단했습니다(Ctrl+C)" in result.output and "Aborted" not in result.output


@pytest.mark.parametrize("args", [["run", "--as-of", "2016-03-04"], ["status"], ["mail", "--dry-run"],
                                  ["schedule", "cron"]])
def test_a_folder_that_is_no_workspace_is_refused_and_left_as_it_was(tmp_path: Path, args: list[str]):
    """A scheduled task started in the wrong folder must not make a workspace there and mail an empty
    report every night: exit 2, in Korean, with the way out, and nothing written."""
    folder = tmp_path / "다른 폴더"
    folder.mkdir()
    (folder / "메모.txt").write_text("x", encoding="utf-8")
    result = CliRunner().invoke(cli, [*args, "-w", str(folder)])
    assert result.exit_code == 2, result.output
    assert "작업 폴더가 아닙니다(설정 파일 coop_batch.toml이 없음)" in result.output
    assert f"'coop-batch init {folder.resolve()}'" in result.output
    assert sorted(p.name for p in folder.iterdir()) == ["메모.txt"]


def test_a_workspace_whose_settings_file_is_gone_still_runs_on_its_ledger(tmp_path: Path):
    ws = tmp_path / "ws"
    assert CliRunner().invoke(cli, ["init", str(ws)]).exit_code == 0
    assert CliRunner().invoke(cli, ["run", "-w", str(ws), "--as-of", "2016-03-04", "--no-mail"]).exit_code == 0
    (ws / CONFIG_NAME).unlink()  # the defaults apply; the ledger says it is a workspace
    result = CliRunner().invoke(cli, ["status", "-w", str(ws), "--as-of", "2016-03-04"])
    assert result.exit_code == 0 and "주간보고·계획서 현황" in result.output


def test_a_new_years_rules_in_the_workspace_need_no_change_to_the_package(tmp_path: Path, monkeypatch):
    """`<workspace>/rules/2017.toml` (last year's file copied and changed) is the one `run`, `status`,
    `doctor`, and `templates`/`validate` run in the workspace use: no file inside the installed package."""
    from coop_batch.rules import RULES_DIR, load_rules

    ws = tmp_path / "ws"
    assert CliRunner().invoke(cli, ["init", str(ws), "--year", "2016"]).exit_code == 0
    (ws / "rules").mkdir()
    text = (RULES_DIR / "2016.toml").read_text(encoding="utf-8")
    text = text.replace("year = 2016", "year = 2017").replace('version = "2016.2"', 'version = "2017.1"')
    (ws / "rules" / "2017.toml").write_text(text.replace('"우수" = 1000000', '"우수" = 1200000'), encoding="utf-8")
    config = ws / CONFIG_NAME
    config.write_text(config.read_text(encoding="utf-8").replace("policy_year = 2016", "policy_year = 2017"),
                      encoding="utf-8")
    assert not (RULES_DIR / "2017.toml").exists()
    assert load_rules(2017, ws / "rules").reward.fixed_without_prize["우수"] == 1_200_000
    result = CliRunner().invoke(cli, ["doctor", "-w", str(ws)])
    assert f"2017년 격려방안 규칙(2017.1, {ws / 'rules' / '2017.toml'})" in result.output
    result = CliRunner().invoke(cli, ["run", "-w", str(ws), "--as-of", "2017-03-03", "--no-mail"])
    assert result.exit_code == 0, result.output
    monkeypatch.chdir(ws)  # run in the workspace: its year, its rules folder
    assert CliRunner().invoke(cli, ["templates", "--out", "서식"]).exit_code == 0
    meta = CalamineWorkbook.from_path(str(ws / "서식" / "평가결과.xlsx")).get_sheet_by_name("_meta").to_python()
    assert ["policy_year", "2017"] in [[str(v) for v in row[:2]] for row in meta]


def test_init_for_a_year_without_rules_makes_nothing(tmp_path: Path):
    """A workspace for 2099 with no 2099 rules would stop every night: refused at once, and made once the
    year's rules file is in its rules folder."""
    refused = invoke("init", str(tmp_path / "ws"), "--year", "2099")
    assert refused.exit_code == 2 and "2099년 규칙 파일이 없어" in refused.output and "2016" in refused.output
    assert not (tmp_path / "ws").exists()
    rules_dir = tmp_path / "ws" / "rules"
    rules_dir.mkdir(parents=True)
    from coop_batch.rules import RULES_DIR

    text = (RULES_DIR / "2016.toml").read_text("utf-8")
    (rules_dir / "2099.toml").write_text(text.replace("year = 2016", "year = 2099", 1), "utf-8")
    made = invoke("init", str(tmp_path / "ws"), "--year", "2099")
    assert made.exit_code == 0, made.output
    assert "policy_year = 2099" in (tmp_path / "ws" / CONFIG_NAME).read_text("utf-8")


def test_a_date_pasted_with_spaces_is_read(root):
    assert invoke("run", "--workspace", str(root), "--as-of", " 2016-03-25 ").exit_code == 0


def test_a_folder_name_is_taken_as_written_spaces_and_all(tmp_path: Path, monkeypatch):
    """Only dates, years and choices lose the spaces pasted around them: a name may hold them."""
    monkeypatch.chdir(tmp_path)
    made = invoke("init", " ws")
    assert made.exit_code == 0, made.output
    assert (tmp_path / " ws" / CONFIG_NAME).is_file() and not (tmp_path / "ws").exists()


def test_status_years_from_the_rules_year_says_so(tmp_path: Path):
    ws = tmp_path / "ws"
    assert CliRunner().invoke(cli, ["init", str(ws)]).exit_code == 0
    assert CliRunner().invoke(cli, ["run", "-w", str(ws), "--as-of", "2016-03-04", "--no-mail"]).exit_code == 0
    near = CliRunner().invoke(cli, ["status", "-w", str(ws), "--as-of", "2016-03-04"])
    far = CliRunner().invoke(cli, ["status", "-w", str(ws), "--as-of", "2026-11-27"])
    assert near.exit_code == far.exit_code == 0 and "규칙으로 계산했습니다" not in near.output
    assert "참고: 기준일 2026-11-27을 2016년 규칙으로 계산했습니다" in far.output and "2026.toml" in far.output
