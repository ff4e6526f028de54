"""The nightly scheduled task: a Windows Task Scheduler XML file, or a crontab line.

The office PC runs the job at night with nobody logged on, so the task is registered
to run "whether the user is logged on or not" (LogonType Password: the Windows password
is asked once by schtasks and kept by Windows, never by us; S4U when the workspace is
on a local disk and no password should be stored).  Such a task has no desktop, so no
window ever opens; the run is `--quiet` and writes everything to `logs/`.  Its exit
code (0 fine, 1 some files rejected, 2 settings, 3 already running, 4 internal error)
shows as the task's "마지막 실행 결과".

Task Scheduler reads the XML as UTF-16 with a byte-order mark (what it exports itself).
"""

from __future__ import annotations

import getpass
import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

from .config import Workspace
from .seoul import seoul_time

TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"
TASK_FILE = "coop-batch-task.xml"
CRON_LOG = "cron.log"
LOGON_TYPES = {"password": "Password", "s4u": "S4U"}


def current_user() -> str:
    """`DOMAIN\\user` on Windows (what Task Scheduler expects), the login name elsewhere."""
    user = os.environ.get("USERNAME") or getpass.getuser()
    domain = os.environ.get("USERDOMAIN")
    return f"{domain}\\{user}" if domain else user


def duration(minutes: int) -> str:
    """ISO 8601 duration as Task Scheduler writes it: 90 → `PT1H30M`, 120 → `PT2H`."""
    hours, rest = divmod(minutes, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{rest}M" if rest or not hours else "")


def parse_time(text: str) -> tuple[int, int]:
    """`02:00` → (2, 0); ValueError with a Korean message otherwise."""
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text.strip())
    if not match:
        raise ValueError(f"시각 {text!r}이(가) 올바르지 않습니다. 24시간제 HH:MM(예: 02:00)으로 적어 주세요.")
    return int(match.group(1)), int(match.group(2))


def run_arguments(workspace: Path) -> list[str]:
    return ["-m", "coop_batch", "run", "--quiet", "--workspace", str(workspace)]


def task_xml(
    *,
    workspace: Path,
    time: str,
    time_limit_minutes: int,
    name: str,
    user: str | None = None,
    logon: str = "password",
    python: str | None = None,
    now: datetime | None = None,
) -> str:
    """The task definition (schema 1.2: Windows 7 and later).  `time` is HH:MM, local time."""
    if logon not in LOGON_TYPES:
        raise ValueError(f"logon must be one of {sorted(LOGON_TYPES)}")
    hour, minute = parse_time(time)
    now = seoul_time(now).replace(tzinfo=None, microsecond=0)  # Seoul wall time, whatever zone `now` is in
    start = now.replace(hour=hour, minute=minute, second=0)
    ET.register_namespace("", TASK_NS)

    def el(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
        node = ET.SubElement(parent, f"{{{TASK_NS}}}{tag}", attrib)
        if text is not None:
            node.text = text
        return node

    task = ET.Element(f"{{{TASK_NS}}}Task", {"version": "1.2"})
    info = el(task, "RegistrationInfo")
    el(info, "Date", now.isoformat())
    el(info, "Author", user or current_user())
    el(info, "Description", f"시·자치구 공동협력사업 실적 취합 야간 배치 (coop-batch). 작업 폴더: {workspace}")

    trigger = el(el(task, "Triggers"), "CalendarTrigger")
    el(trigger, "StartBoundary", start.isoformat())
    el(trigger, "Enabled", "true")
    el(el(trigger, "ScheduleByDay"), "DaysInterval", "1")

    principal = el(el(task, "Principals"), "Principal", id="Author")
    el(principal, "UserId", user or current_user())
    el(principal, "LogonType", LOGON_TYPES[logon])  # both run whether the user is logged on or not
    el(principal, "RunLevel", "LeastPrivilege")

    settings = el(task, "Settings")
    for tag, value in (
        ("MultipleInstancesPolicy", "IgnoreNew"),  # the workspace lock refuses a second run anyway
        ("DisallowStartIfOnBatteries", "false"),
        ("StopIfGoingOnBatteries", "false"),
        ("AllowHardTerminate", "true"),
        ("StartWhenAvailable", "true"),  # the PC was off at the hour: run as soon as it is on
        ("RunOnlyIfNetworkAvailable", "false"),
    ):
        el(settings, tag, value)
    idle = el(settings, "IdleSettings")
    el(idle, "StopOnIdleEnd", "false")
    el(idle, "RestartOnIdle", "false")
    for tag, value in (
        ("AllowStartOnDemand", "true"),
        ("Enabled", "true"),
        ("Hidden", "false"),
        ("RunOnlyIfIdle", "false"),
        ("WakeToRun", "false"),
        ("ExecutionTimeLimit", duration(time_limit_minutes)),
        ("Priority", "7"),
    ):
        el(settings, tag, value)

    action = el(el(task, "Actions", Context="Author"), "Exec")
    el(action, "Command", python or sys.executable)
    el(action, "Arguments", subprocess.list2cmdline(run_arguments(workspace)))
    el(action, "WorkingDirectory", str(workspace))

    ET.indent(task, space="  ")
    return '<?xml version="1.0" encoding="UTF-16"?>\n' + ET.tostring(task, encoding="unicode") + "\n"


def write_task_file(path: Path, xml: str) -> Path:
    """UTF-16 little-endian with BOM and CRLF, as Task Scheduler exports and schtasks reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(xml.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-16"))
    return path


def schtasks_command(xml_path: Path, name: str, logon: str = "password") -> str:
    """The one command that installs the task; `/RP *` makes schtasks ask for the Windows password."""
    parts = ["schtasks", "/Create", "/XML", f'"{xml_path}"', "/TN", f'"{name}"']
    if logon == "password":
        parts += ["/RP", "*"]
    parts.append("/F")  # again after a Windows password change: replaces the task
    return " ".join(parts)


def write_windows_task(
    workspace: Workspace,
    *,
    time: str | None = None,
    out: Path | None = None,
    user: str | None = None,
    logon: str = "password",
    python: str | None = None,
    now: datetime | None = None,
) -> tuple[Path, str]:
    """Write the XML beside the settings (or to `out`); returns (path, schtasks command)."""
    task = workspace.settings.task
    xml = task_xml(
        workspace=workspace.root,
        time=time or task.time,
        time_limit_minutes=task.time_limit_minutes,
        name=task.name,
        user=user,
        logon=logon,
        python=python,
        now=now,
    )
    path = write_task_file(out or workspace.root / TASK_FILE, xml)
    return path, schtasks_command(path, task.name, logon)


def _cron_quote(text: str) -> str:
    return shlex.quote(text).replace("%", "\\%")  # cron turns a bare % into a newline


def cron_line(workspace: Workspace, *, time: str | None = None, python: str | None = None) -> str:
    """One crontab line: cd to the workspace, run quietly, append any output to logs/cron.log."""
    hour, minute = parse_time(time or workspace.settings.task.time)
    command = " ".join(_cron_quote(part) for part in [python or sys.executable, *run_arguments(workspace.root)])
    log = workspace.logs / CRON_LOG
    return f"{minute} {hour} * * * cd {_cron_quote(str(workspace.root))} && {command} >> {_cron_quote(str(log))} 2>&1"
