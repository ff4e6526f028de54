"""The nightly scheduled task: the Task Scheduler XML (UTF-16 with BOM, the documented fields),
the one schtasks command, the crontab line (which really runs), and how a scheduled run behaves:
quiet on the console, everything in logs/, an exit code that tells the scheduler how it went."""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime
from logging.handlers import TimedRotatingFileHandler
from pathlib import Path

import pytest
from click.testing import CliRunner

from coop_batch import logs
from coop_batch.cli import cli
from coop_batch.config import SEOUL, init_workspace
from coop_batch.lock import WorkspaceLock
from coop_batch.schedule import TASK_NS, cron_line, duration, schtasks_command, write_windows_task

NS = {"t": TASK_NS}
NOW = datetime(2016, 3, 4, 15, 20, tzinfo=SEOUL)
PYTHON = r"C:\coop-batch\.venv\Scripts\python.exe"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def ws(tmp_path):
    return init_workspace(tmp_path / "예산 작업폴더")  # a space and Korean: quoting must hold


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def set_task(ws, **values: str) -> None:
    """Change lines of the settings file's [task] section (values as TOML)."""
    head, task = ws.config_path.read_text(encoding="utf-8").split("[task]")
    for key, value in values.items():
        task, count = re.subn(rf"(?m)^{key} = .*$", lambda _: f"{key} = {value}", task)
        assert count == 1, key
    ws.config_path.write_text(head + "[task]" + task, encoding="utf-8")


# --- Task Scheduler XML ---


def test_duration_is_iso8601_as_task_scheduler_writes_it():
    assert [duration(m) for m in (120, 90, 45, 5, 1440)] == ["PT2H", "PT1H30M", "PT45M", "PT5M", "PT24H"]


def test_task_xml_is_utf16_with_bom_and_has_the_documented_fields(ws):
    path, command = write_windows_task(ws, time="03:30", user="GU\\budget01", python=PYTHON, now=NOW)
    raw = path.read_bytes()
    assert path == ws.root / "coop-batch-task.xml"
    assert raw[:2] == b"\xff\xfe"  # UTF-16 LE byte-order mark, as schtasks expects
    text = raw.decode("utf-16")
    assert text.startswith('<?xml version="1.0" encoding="UTF-16"?>\r\n') and "\n" not in text.replace("\r\n", "")

    task = ET.parse(path).getroot()  # well-formed, and expat honours the BOM and the declaration
    assert task.tag == f"{{{TASK_NS}}}Task" and task.get("version") == "1.2"

    def value(xpath: str) -> str | None:
        node = task.find(xpath, NS)
        assert node is not None, xpath
        return node.text

    assert value("t:Triggers/t:CalendarTrigger/t:StartBoundary") == "2016-03-04T03:30:00"
    assert value("t:Triggers/t:CalendarTrigger/t:ScheduleByDay/t:DaysInterval") == "1"
    assert value("t:Triggers/t:CalendarTrigger/t:Enabled") == "true"
    # whether the user is logged on or not (a stored password), no elevation, no window
    assert value("t:Principals/t:Principal/t:UserId") == "GU\\budget01"
    assert value("t:Principals/t:Principal/t:LogonType") == "Password"
    assert value("t:Principals/t:Principal/t:RunLevel") == "LeastPrivilege"
    assert task.find("t:Principals/t:Principal", NS).get("id") == task.find("t:Actions", NS).get("Context")
    assert value("t:Settings/t:ExecutionTimeLimit") == "PT2H"  # the setting's default, 120 minutes
    assert value("t:Settings/t:MultipleInstancesPolicy") == "IgnoreNew"
    assert value("t:Settings/t:StartWhenAvailable") == "true"
    assert value("t:Settings/t:DisallowStartIfOnBatteries") == "false"
    assert value("t:Settings/t:Enabled") == "true"
    # the workspace is the working directory; the run is quiet
    assert value("t:Actions/t:Exec/t:Command") == PYTHON
    assert value("t:Actions/t:Exec/t:Arguments") == f'-m coop_batch run --quiet --workspace "{ws.root}"'
    assert value("t:Actions/t:Exec/t:WorkingDirectory") == str(ws.root)
    assert str(ws.root) in value("t:RegistrationInfo/t:Description")
    assert command == f'schtasks /Create /XML "{path}" /TN "coop-batch 야간배치" /RP * /F'


def test_time_limit_and_name_come_from_the_settings_and_s4u_needs_no_password(ws, tmp_path):
    set_task(ws, time_limit_minutes="90", name='"예산 야간작업"', time='"01:15"')
    from coop_batch.config import open_workspace

    ws = open_workspace(ws.root)
    out = tmp_path / "작업" / "task.xml"
    path, command = write_windows_task(ws, out=out, logon="s4u", python=PYTHON, now=NOW)
    task = ET.parse(path).getroot()
    assert path == out
    assert task.find("t:Settings/t:ExecutionTimeLimit", NS).text == "PT1H30M"
    assert task.find("t:Triggers/t:CalendarTrigger/t:StartBoundary", NS).text == "2016-03-04T01:15:00"
    assert task.find("t:Principals/t:Principal/t:LogonType", NS).text == "S4U"
    assert command == schtasks_command(out, "예산 야간작업", "s4u") == f'schtasks /Create /XML "{out}" /TN "예산 야간작업" /F'


def test_cli_schedule_windows_prints_the_one_schtasks_command(ws):
    result = invoke("schedule", "windows", "--workspace", str(ws.root), "--time", "02:30")
    assert result.exit_code == 0, result.output
    commands = [line for line in result.output.splitlines() if line.startswith("schtasks ")]
    assert commands == [f'schtasks /Create /XML "{ws.root / "coop-batch-task.xml"}" /TN "coop-batch 야간배치" /RP * /F']
    task = ET.parse(ws.root / "coop-batch-task.xml").getroot()
    assert task.find("t:Triggers/t:CalendarTrigger/t:StartBoundary", NS).text.endswith("T02:30:00")
    assert task.find("t:Actions/t:Exec/t:Command", NS).text == sys.executable
    assert "비밀번호" in result.output and "매일 02:30" in result.output

    bad = invoke("schedule", "windows", "--workspace", str(ws.root), "--time", "25:00")
    assert bad.exit_code == 2 and "HH:MM" in bad.output


def test_a_bad_task_setting_is_a_configuration_error(ws):
    set_task(ws, time='"2시"')
    result = invoke("schedule", "cron", "--workspace", str(ws.root))
    assert result.exit_code == 2 and "task.time" in result.output


# --- cron ---


def test_cron_line_quotes_paths_and_appends_to_the_log(ws, tmp_path):
    line = cron_line(ws, time="02:05", python="/opt/coop batch/python")
    fields = line.split(" ", 5)
    assert fields[:5] == ["5", "2", "*", "*", "*"]
    words = shlex.split(fields[5])
    assert words[:3] == ["cd", str(ws.root), "&&"]
    assert words[3:10] == ["/opt/coop batch/python", "-m", "coop_batch", "run", "--quiet", "--workspace", str(ws.root)]
    assert words[10:] == [">>", str(ws.logs / "cron.log"), "2>&1"]

    odd = init_workspace(tmp_path / "100%")  # cron reads a bare % as a line break
    assert "100\\%" in cron_line(odd) and "100%" not in cron_line(odd).replace("100\\%", "")


@pytest.mark.skipif(os.name == "nt", reason="cron is a POSIX thing")
def test_the_cron_command_really_runs_quietly_into_the_log(ws):
    line = invoke("schedule", "cron", "--workspace", str(ws.root)).output.strip()
    command = line.split(" ", 5)[5]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(["sh", "-c", command], cwd="/", env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done
    assert done.stdout == b"" and done.stderr == b""  # everything went to the files
    assert (ws.logs / "cron.log").read_text(encoding="utf-8") == ""  # quiet: nothing on the console
    log = (ws.logs / "coop-batch.log").read_text(encoding="utf-8")
    assert "실행 1 끝" in log and "요약 결과 파일" in log
    assert len(list(ws.outbox.glob("*.xlsx"))) == 3


# --- how a scheduled run behaves ---


def test_quiet_run_prints_nothing_and_the_log_has_the_whole_summary(ws):
    text = ws.config_path.read_text(encoding="utf-8").replace("settle_seconds = 120", "settle_seconds = 0")
    ws.config_path.write_text(text, encoding="utf-8")
    (ws.inbox / "세무과").mkdir()
    (ws.inbox / "세무과" / "주간실적.xlsx").write_bytes(b"not a workbook")
    result = invoke("run", "--workspace", str(ws.root), "--quiet")
    assert result.exit_code == 1  # a rejected file: the scheduler's "last run result" says so
    assert result.output == ""
    log = (ws.logs / "coop-batch.log").read_text(encoding="utf-8")
    assert "반려 세무과/주간실적.xlsx:" in log
    assert "요약 반려: 세무과/주간실적.xlsx" in log
    assert "요약 참고: 메일 서버가 설정되지 않아" in log
    assert log.count("요약 결과 파일:") == 3


def test_log_rotates_daily_and_keeps_the_configured_days(ws):
    text = ws.config_path.read_text(encoding="utf-8").replace("keep_days = 30", "keep_days = 7")
    ws.config_path.write_text(text, encoding="utf-8")
    assert invoke("run", "--workspace", str(ws.root), "--quiet", "--no-mail").exit_code == 0
    [handler] = [h for h in logging.getLogger(logs.LOGGER_NAME).handlers if isinstance(h, TimedRotatingFileHandler)]
    assert handler.when == "MIDNIGHT" and handler.backupCount == 7
    assert Path(handler.baseFilename) == (ws.logs / "coop-batch.log").resolve()


def test_a_busy_workspace_exits_3_and_says_so_in_the_log(ws):
    holder = WorkspaceLock(ws.lock_path, "coop-batch run")
    holder.acquire()
    try:
        result = invoke("run", "--workspace", str(ws.root), "--quiet")
    finally:
        holder.release()
    assert result.exit_code == 3
    assert "사용 중" in (ws.logs / "coop-batch.log").read_text(encoding="utf-8")


def test_an_internal_error_exits_4_with_the_traceback_in_the_log(ws, monkeypatch):
    import coop_batch.run

    def broken(*args, **kwargs):
        raise RuntimeError("계산 중 버그")

    monkeypatch.setattr(coop_batch.run, "run_batch", broken)
    result = invoke("run", "--workspace", str(ws.root), "--quiet")
    assert result.exit_code == 4  # not 1: "some files rejected" is a different story
    assert "예기치 않은 오류" in result.output and "coop-batch.log" in result.output
    log = (ws.logs / "coop-batch.log").read_text(encoding="utf-8")
    assert "Traceback" in log and "RuntimeError: 계산 중 버그" in log


def test_a_folder_the_run_may_not_write_is_said_in_korean_with_exit_2(ws, monkeypatch):
    """An outbox the scheduled account cannot write (or a full disk) is the machine's matter, told as
    such: not exit 4 with an English PermissionError."""
    import coop_batch.run

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(ws.outbox / "통합현황_20160325.xlsx"))

    monkeypatch.setattr(coop_batch.run, "run_batch", denied)
    result = invoke("run", "--workspace", str(ws.root))
    assert result.exit_code == 2, result.output
    assert f"{ws.outbox / '통합현황_20160325.xlsx'}에 쓰지 못해 실행이 멈췄습니다(Permission denied)" in result.output
    assert "'수정' 권한" in result.output and "coop-batch doctor" in result.output
    assert "Traceback" in (ws.logs / "coop-batch.log").read_text(encoding="utf-8")  # for whoever helps
