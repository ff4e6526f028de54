"""`coop-batch doctor` on a healthy workspace (all fine, exit 0) and on deliberately broken ones:
each broken setting is reported with a Korean fix, and exit 1 when something needs fixing."""

from __future__ import annotations

import socket
import sqlite3
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from openpyxl import Workbook

from coop_batch import doctor
from coop_batch.cli import cli
from coop_batch.config import SEOUL, init_workspace, open_workspace
from coop_batch.doctor import Level, diagnose
from coop_batch.ledger import Ledger, RunStatus
from coop_batch.run import run_batch
from coop_batch.schema import KIND_BY_ID
from coop_batch.templates import write_template

RUN_AT = datetime(2016, 3, 5, 2, 0, tzinfo=SEOUL)
LATER = RUN_AT + timedelta(hours=7)


def edit(ws, old: str, new: str) -> None:
    text = ws.config_path.read_text(encoding="utf-8")
    assert old in text, old
    ws.config_path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture()
def ws(tmp_path):
    """A workspace as it should be: real recipients, one clean run a few hours ago."""
    ws = init_workspace(tmp_path / "ws")
    edit(ws, 'to = ["부구청장실@example.go.kr"]', 'to = ["vice-mayor@gu.seoul.kr"]')
    ws = open_workspace(ws.root)
    run_batch(ws, now=RUN_AT, mail=False, settle_seconds=0)
    return ws


def levels(diagnosis, topic: str) -> list[Level]:
    return [c.level for c in diagnosis.checks if c.topic == topic]


def only(diagnosis, topic: str, level: Level):
    found = [c for c in diagnosis.checks if c.topic == topic and c.level is level]
    assert found, (topic, level, diagnosis.lines())
    return found[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_healthy_workspace_is_all_fine(ws):
    diagnosis = diagnose(ws.root, now=LATER)
    assert diagnosis.exit_code == 0, diagnosis.lines()
    assert all(c.level is Level.OK for c in diagnosis.checks), diagnosis.lines()
    assert {c.topic for c in diagnosis.checks} >= {"설정", "작업 폴더", "규칙", "서식", "메일 서버", "디스크", "최근 실행"}
    result = CliRunner().invoke(cli, ["doctor", "--workspace", str(ws.root)])
    assert "[정상] 규칙: 2016년" in result.output


def test_cli_exit_code_and_fix_text(ws):
    (ws.archive).rmdir()
    result = CliRunner().invoke(cli, ["doctor", "--workspace", str(ws.root)])
    assert result.exit_code == 1
    assert f"[조치 필요] 작업 폴더: {ws.archive} 폴더가 없습니다." in result.output
    assert "→ 해결: 'coop-batch init" in result.output and "결과: 조치가 필요한 항목 1건" in result.output


def test_missing_workspace(tmp_path):
    diagnosis = diagnose(tmp_path / "없음")
    assert diagnosis.exit_code == 1 and "coop-batch init" in only(diagnosis, "작업 폴더", Level.FAIL).fix


# --- folders ---


def test_a_file_where_a_folder_should_be(ws):
    ws.quarantine.rmdir()
    ws.quarantine.write_text("실수로 만든 파일")
    check = only(diagnose(ws.root, now=LATER), "작업 폴더", Level.FAIL)
    assert "폴더가 아니라 파일" in check.message and str(ws.quarantine) in check.message


def test_a_folder_that_cannot_be_written(ws, monkeypatch):
    real = tempfile.NamedTemporaryFile

    def refuse(*args, dir=None, **kwargs):  # root ignores permission bits, so refuse the way Windows would
        if Path(dir) == ws.outbox:
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(doctor.tempfile, "NamedTemporaryFile", refuse)
    diagnosis = diagnose(ws.root, now=LATER)
    check = only(diagnosis, "작업 폴더", Level.FAIL)
    assert check.message == f"{ws.outbox}에 파일을 쓸 수 없습니다(Permission denied)."
    assert "권한" in check.fix and diagnosis.exit_code == 1
    assert not list(ws.inbox.glob(".doctor-*"))  # the probe cleans up after itself


# --- settings and rules ---


def test_invalid_settings_are_reported_and_the_rest_is_still_checked(ws):
    edit(ws, "settle_seconds = 120", "settle_secnds = 120")
    diagnosis = diagnose(ws.root, now=LATER)
    check = only(diagnosis, "설정", Level.FAIL)
    assert "settle_secnds" in check.message and "알 수 없는 항목" in check.message
    assert levels(diagnosis, "작업 폴더") == [Level.OK] and levels(diagnosis, "규칙") == [Level.OK]


def test_with_invalid_settings_the_mail_server_is_not_judged_by_the_defaults(ws):
    """The defaults have no server: doctor must not say '메일 서버 정상, 설정되지 않음' of a file that names one."""
    edit(ws, 'smtp_host = ""', 'smtp_host = "127.0.0.1"')
    edit(ws, "smtp_port = 587", "smtp_port = 99999")
    diagnosis = diagnose(ws.root, now=LATER)
    assert "smtp_port: 값 99999: 65535 이하여야 합니다" in only(diagnosis, "설정", Level.FAIL).message
    assert "점검하지 못했습니다" in only(diagnosis, "메일 서버", Level.WARN).message


def test_a_folder_that_is_not_a_workspace_is_said_so_as_run_would(tmp_path):
    diagnosis = diagnose(tmp_path, now=LATER)
    check = only(diagnosis, "작업 폴더", Level.FAIL)
    assert "작업 폴더가 아닙니다" in check.message and "coop-batch init" in check.fix
    assert levels(diagnosis, "설정") == [] and diagnosis.exit_code == 1


def test_no_rules_for_the_policy_year(ws):
    edit(ws, "policy_year = 2016", "policy_year = 2031")
    check = only(diagnose(ws.root, now=LATER), "규칙", Level.FAIL)
    assert "2031" in check.message and "policy_year" in check.fix


def test_missing_settings_file_runs_on_defaults(ws):
    ws.config_path.unlink()
    check = only(diagnose(ws.root, now=LATER), "설정", Level.WARN)
    assert "기본값" in check.message


# --- templates in the inbox ---


def test_old_and_foreign_workbooks_in_the_inbox(ws, rules, monkeypatch):
    import coop_batch.templates

    row = [{"report_date": "2016-03-04", "project": "안전도시 만들기", "department": "세무과", "progress": "교육"}]
    write_template(KIND_BY_ID["weekly"], rules, ws.inbox / "세무과" / "주간실적_새서식.xlsx", row)
    monkeypatch.setattr(coop_batch.templates, "TEMPLATE_VERSION", "0.9")
    write_template(KIND_BY_ID["weekly"], rules, ws.inbox / "세무과" / "주간실적_옛서식.xlsx", row)
    monkeypatch.undo()
    book = Workbook()
    book.active.append(["보고일", "사업명"])
    book.save(ws.inbox / "자기양식.xlsx")
    (ws.inbox / "~$자기양식.xlsx").write_bytes(b"owner file")  # ignored, as the run ignores it

    diagnosis = diagnose(ws.root, now=LATER)
    warnings = [c for c in diagnosis.checks if c.topic == "서식"]
    assert [c.level for c in warnings] == [Level.WARN, Level.WARN]
    assert "세무과/주간실적_옛서식.xlsx(서식 0.9)" in warnings[0].message
    assert "새서식" not in warnings[0].message and "coop-batch templates" in warnings[0].fix
    assert "자기양식.xlsx" in warnings[1].message and "~$" not in warnings[1].message
    assert diagnosis.exit_code == 0  # the run still works: those files get their own rejection notes


def test_owner_files_in_the_inbox_are_named_with_what_to_do(ws):
    import os
    import time

    for name in ("주간.xlsx", "~$주간.xlsx", "계획.xlsx", "~$계획.xlsx"):
        (ws.inbox / name).write_bytes(b"x")
    old = time.time() - 3 * 24 * 3600  # Excel crashed three days ago
    os.utime(ws.inbox / "~$계획.xlsx", (old, old))
    diagnosis = diagnose(ws.root, now=LATER)
    open_now, stale = [c for c in diagnosis.checks if c.topic == "열린 파일"]
    assert open_now.level is Level.WARN and "주간.xlsx('~$주간.xlsx')" in open_now.message
    assert "계획" not in open_now.message and "지워" in open_now.fix
    assert stale.level is Level.WARN and "계획.xlsx('~$계획.xlsx')" in stale.message and "주간" not in stale.message
    assert diagnosis.exit_code == 0


# --- mail ---


@pytest.fixture()
def plain_smtp():
    class Sink:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port
    controller.stop()


def smtp_settings(ws, port: int, security: str = "none", user: str = "") -> None:
    edit(ws, 'smtp_host = ""', 'smtp_host = "127.0.0.1"')
    edit(ws, "smtp_port = 587", f"smtp_port = {port}")
    edit(ws, 'security = "starttls"', f'security = "{security}"')
    edit(ws, 'user = ""', f'user = "{user}"')


def test_a_mail_server_that_answers(ws, plain_smtp):
    smtp_settings(ws, plain_smtp)
    check = only(diagnose(ws.root, now=LATER), "메일 서버", Level.OK)
    assert f"127.0.0.1:{plain_smtp}이(가) 응답합니다" in check.message


def test_a_mail_server_that_is_down(ws):
    smtp_settings(ws, free_port())
    diagnosis = diagnose(ws.root, now=LATER)
    check = only(diagnosis, "메일 서버", Level.FAIL)
    assert "연결을 거부" in check.message and diagnosis.exit_code == 1


def test_a_password_missing_from_the_environment(ws, plain_smtp, monkeypatch):
    monkeypatch.delenv("COOP_BATCH_SMTP_PASSWORD", raising=False)
    smtp_settings(ws, plain_smtp, user="budget")
    check = only(diagnose(ws.root, now=LATER), "메일 서버", Level.FAIL)
    assert "환경 변수 COOP_BATCH_SMTP_PASSWORD" in check.message


def test_placeholder_and_broken_addresses(ws, plain_smtp):
    edit(ws, 'to = ["vice-mayor@gu.seoul.kr"]', 'to = ["부구청장실@example.go.kr"]')
    assert only(diagnose(ws.root, now=LATER), "메일 주소", Level.WARN)  # drafts: the user fixes it in Outlook
    smtp_settings(ws, plain_smtp)
    assert only(diagnose(ws.root, now=LATER), "메일 주소", Level.FAIL)  # sending: it would go nowhere
    edit(ws, 'to = ["부구청장실@example.go.kr"]', 'to = ["부구청장실"]')
    check = only(diagnose(ws.root, now=LATER), "메일 주소", Level.FAIL)
    assert "부구청장실" in check.message and "형식" in check.fix


# --- disk ---


@pytest.mark.parametrize("free_mb, level", [(100, Level.FAIL), (500, Level.WARN), (50_000, Level.OK)])
def test_free_disk_space(ws, monkeypatch, free_mb, level):
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: SimpleNamespace(free=free_mb * 1024 * 1024))
    assert levels(diagnose(ws.root, now=LATER), "디스크") == [level]


# --- the ledger and the last run ---


def test_ledger_missing_or_broken(ws):
    ws.ledger_path.rename(ws.root / "ledger.bak")
    assert "coop-batch init" in only(diagnose(ws.root, now=LATER), "접수 대장", Level.FAIL).fix
    ws.ledger_path.write_bytes(b"this is not sqlite" * 100)
    assert "손상" in only(diagnose(ws.root, now=LATER), "접수 대장", Level.FAIL).message


def test_no_run_yet(tmp_path):
    ws = init_workspace(tmp_path / "new")
    Ledger.open(ws.ledger_path).close()
    check = only(diagnose(ws.root), "최근 실행", Level.WARN)
    assert "schedule windows" in check.fix


def test_stale_last_run_points_at_the_scheduled_task(ws):
    check = only(diagnose(ws.root, now=RUN_AT + timedelta(days=5)), "예약 작업", Level.WARN)
    assert "5일 전" in check.message and "schtasks" in check.fix


def test_last_run_failed_or_rejected_or_interrupted(ws):
    with Ledger.open(ws.ledger_path) as ledger:
        run_id = ledger.start_run(RUN_AT.date(), RUN_AT + timedelta(hours=1))
        ledger.finish_run(run_id, RunStatus.REJECTED, 1, {"seen": 4, "rejected": 1}, finished=RUN_AT + timedelta(hours=1))
    check = only(diagnose(ws.root, now=LATER), "최근 실행", Level.WARN)
    assert "받은 파일 4건, 반려 1건" in check.message and "quarantine" in check.fix

    with Ledger.open(ws.ledger_path) as ledger:
        run_id = ledger.start_run(RUN_AT.date(), RUN_AT + timedelta(hours=2))
        ledger.finish_run(run_id, RunStatus.FAILED, 4, {}, finished=RUN_AT + timedelta(hours=2))
        ledger.start_run(RUN_AT.date(), RUN_AT + timedelta(hours=3))  # died: never finished
    diagnosis = diagnose(ws.root, now=LATER)
    assert "오류로 멈췄습니다" in only(diagnosis, "최근 실행", Level.FAIL).message
    assert "끝나지 않았습니다" in only(diagnosis, "최근 실행", Level.WARN).message
    assert diagnosis.exit_code == 1


def test_unsent_mail_is_reported_with_its_last_error(ws):
    with Ledger.open(ws.ledger_path) as ledger:
        mail_id = ledger.add_mail(None, "outbox/mail/unsent/x.eml", "[기획예산과] 통합현황")
        ledger.mark_mail(mail_id, False, "메일 서버가 연결을 거부했습니다.")
    check = only(diagnose(ws.root, now=LATER), "메일", Level.WARN)
    assert "1건" in check.message and "연결을 거부" in check.message and "coop-batch mail" in check.fix
    with sqlite3.connect(ws.ledger_path) as db:
        assert db.execute("SELECT attempts FROM mails").fetchone()[0] == 1  # doctor only reads


def test_a_lost_or_damaged_ledger_with_filed_files_stops_the_run_and_doctor_says_how(tmp_path, rules):
    """A missing or empty ledger beside filed files must not start an empty ledger (a 0원 report mailed
    over the real one); a ledger damaged past its header is a Korean exit 2, not a traceback."""
    from coop_batch.ledger import LedgerError

    ws = init_workspace(tmp_path / "ws")
    row = {"report_date": "2016-03-04", "project": "안전도시 만들기", "department": "안전치수과", "progress": "점검"}
    write_template(KIND_BY_ID["weekly"], rules, ws.inbox / "안전치수과" / "주간실적.xlsx", [row])
    run_batch(ws, now=RUN_AT, mail=False, settle_seconds=0)
    real = ws.ledger_path.read_bytes()
    for lost in ("missing", "empty"):
        ws.ledger_path.unlink(missing_ok=True)
        if lost == "empty":
            ws.ledger_path.write_bytes(b"")
        with pytest.raises(LedgerError, match="포상금 0원인 결과") as caught:
            run_batch(ws, now=LATER, mail=False, settle_seconds=0)
        assert "실행하지 않았습니다" in str(caught.value) and "inbox로 옮긴 뒤" in str(caught.value)
        # no new ledger left behind for the next night to trust
        assert (ws.ledger_path.stat().st_size if ws.ledger_path.exists() else None) == (0 if lost == "empty" else None)
        result = CliRunner().invoke(cli, ["run", "-w", str(ws.root), "--as-of", "2016-03-05", "--no-mail"])
        assert result.exit_code == 2 and "0원" in result.output and "Traceback" not in result.output
        check = only(diagnose(ws.root, now=LATER), "접수 대장", Level.FAIL)
        assert "이미 받은 파일" in check.message and "PC 백업" in check.fix
    ws.ledger_path.write_bytes(real[:4096] + b"\xa5" * 3000 + real[7096:])  # pages after the header
    write_template(KIND_BY_ID["weekly"], rules, ws.inbox / "세무과" / "주간실적.xlsx", [row])
    result = CliRunner().invoke(cli, ["run", "-w", str(ws.root), "--as-of", "2016-03-05", "--no-mail"])
    assert result.exit_code == 2 and "손상되어 읽을 수 없습니다" in result.output, result.output
    assert (ws.inbox / "세무과" / "주간실적.xlsx").is_file()  # the night's file waits for a sound ledger
    check = only(diagnose(ws.root, now=LATER), "접수 대장", Level.FAIL)
    assert "손상되었습니다" in check.message



def test_status_and_mail_say_a_damaged_ledger_in_korean(ws, monkeypatch):
    """A query that meets a damaged page (sqlite3.DatabaseError) is exit 2 in Korean, not a traceback."""
    import coop_batch.deliver
    import coop_batch.status

    def damaged(*args, **kwargs):
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(coop_batch.status, "load_tracking", damaged)
    monkeypatch.setattr(coop_batch.deliver, "mail_pending", damaged)
    for command in (["status", "--as-of", "2016-03-05"], ["mail", "--dry-run"]):
        result = CliRunner().invoke(cli, [*command, "-w", str(ws.root)])
        assert result.exit_code == 2 and "손상되어 읽을 수 없습니다" in result.output, (command, result.output)
        assert "Traceback" not in result.output


def test_a_clock_years_past_the_rules_year_is_warned_of(ws):
    """A new year without its rules: a run without --as-of would count the whole year's reports missing."""
    years_on = datetime(2026, 11, 27, 9, 0, tzinfo=SEOUL)
    check = only(diagnose(ws.root, now=years_on), "규칙", Level.WARN)
    assert "규칙 연도 2016년과 10년 떨어져" in check.message and "2026.toml" in check.fix
    assert levels(diagnose(ws.root, now=datetime(2017, 1, 20, 9, 0, tzinfo=SEOUL)), "규칙") == [Level.OK]
