"""`coop-batch doctor`: is this workspace ready for tonight's run?  Each check says, in Korean,
what it found and how to fix it.

Levels: OK, WARN (worth a look, the run still works) and FAIL (the run or the mail will not
work until fixed).  `exit_code` is 1 when any check FAILs.  Doctor only reads: it creates no
folder and no ledger (an unwritable folder is found by creating and removing one temp file).
"""

from __future__ import annotations

import shutil
import smtplib
import ssl
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path

from .config import CONFIG_NAME, ConfigError, Settings, Workspace, is_workspace, load_settings
from .seoul import SEOUL, seoul_time
from .korean import josa

MIN_FREE_MB = 200  # below: FAIL (a night's outputs and archive copies need room)
LOW_FREE_MB = 1024  # below: WARN
STALE_DAYS = 2  # no finished run for longer than this: the scheduled task is probably not running
SMTP_TIMEOUT = 5.0
MAX_INBOX_FILES = 200  # doctor reads only `_meta`, but stays quick on a crowded inbox


class Level(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


LABEL = {Level.OK: "정상", Level.WARN: "주의", Level.FAIL: "조치 필요"}


@dataclass(frozen=True)
class Check:
    topic: str  # short Korean name: 작업 폴더, 설정, 규칙, 서식, 메일 서버, 디스크, 최근 실행
    level: Level
    message: str  # what was found
    fix: str = ""  # how to fix it (empty when OK)


@dataclass
class Diagnosis:
    root: Path
    checks: list[Check] = field(default_factory=list)

    def add(self, topic: str, level: Level, message: str, fix: str = "") -> None:
        self.checks.append(Check(topic, level, message, fix))

    def failed(self, topic: str | None = None) -> list[Check]:
        return [c for c in self.checks if c.level is Level.FAIL and (topic is None or c.topic == topic)]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed() else 0

    def lines(self) -> list[str]:
        out = [f"coop-batch 점검 (작업 폴더 {self.root})"]
        for check in self.checks:
            out.append(f"  [{LABEL[check.level]}] {check.topic}: {check.message}")
            if check.fix:
                out.append(f"      → 해결: {check.fix}")
        fails = len(self.failed())
        warns = sum(c.level is Level.WARN for c in self.checks)
        out.append(
            f"결과: 조치가 필요한 항목 {fails}건, 주의 {warns}건." if fails or warns else "결과: 모두 정상입니다."
        )
        return [josa(line) for line in out]


def diagnose(
    root: Path | str,
    *,
    now: datetime | None = None,
    smtp_timeout: float = SMTP_TIMEOUT,
    tls_context: ssl.SSLContext | None = None,
) -> Diagnosis:
    root = Path(root).resolve()
    result = Diagnosis(root)
    if not root.is_dir():
        result.add("작업 폴더", Level.FAIL, f"{root}이(가) 없습니다.", f"'coop-batch init {root}'로 작업 폴더를 만들어 주세요.")
        return result
    settings = _check_config(result, root)
    workspace = Workspace(root, settings)
    _check_folders(result, workspace)
    now = seoul_time(now)
    rules = _check_rules(result, settings, workspace.rules_dir, now.date())
    _check_inbox_templates(result, workspace, rules)
    _check_mail(result, settings, smtp_timeout, tls_context)
    _check_disk(result, root)
    _check_ledger(result, workspace, now)
    return result


# --- checks ---


def _check_config(result: Diagnosis, root: Path) -> Settings:
    path = root / CONFIG_NAME
    if not path.is_file():
        if not is_workspace(root):  # as `run` judges it (cli._open): it refuses to run here
            result.add("작업 폴더", Level.FAIL,
                       f"{root}은(는) 작업 폴더가 아닙니다(설정 파일 {path.name}도 접수 대장도 없음). 'coop-batch run'은 "
                       "여기서 실행되지 않습니다.",
                       f"작업 폴더에서 실행하거나 -w로 지정해 주세요. 새로 만들려면 'coop-batch init {root}'.")
            return Settings()
        result.add("설정", Level.WARN, f"설정 파일 {path.name}이(가) 없어 기본값으로 실행됩니다.",
                   f"'coop-batch init {root}'를 실행하면 설명이 달린 설정 파일이 만들어집니다.")
        return Settings()
    try:
        settings = load_settings(root)
    except ConfigError as exc:
        result.add("설정", Level.FAIL, str(exc), "설정 파일을 메모장으로 열어 표시된 항목을 고쳐 주세요. "
                   "아래 점검은 기본값으로 했습니다(메일 서버는 설정을 고친 뒤 점검합니다).")
        return Settings()
    result.add("설정", Level.OK, f"{path.name}이(가) 올바릅니다(정책 연도 {settings.policy_year}).")
    return settings


def _writable(folder: Path) -> str:
    """'' when a file can be created in `folder`, else the reason."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-", suffix=".tmp"):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return ""


def _check_folders(result: Diagnosis, workspace: Workspace) -> None:
    folders = [*workspace.folders, workspace.ledger_path.parent]
    bad = 0
    for folder in dict.fromkeys(folders):
        if not folder.exists():
            result.add("작업 폴더", Level.FAIL, f"{folder} 폴더가 없습니다.",
                       f"'coop-batch init {workspace.root}'로 만들거나, 설정 [paths]의 경로를 고쳐 주세요.")
        elif not folder.is_dir():
            result.add("작업 폴더", Level.FAIL, f"{folder}은(는) 폴더가 아니라 파일입니다.",
                       "그 파일을 다른 곳으로 옮기고 같은 이름의 폴더를 만들어 주세요.")
        elif reason := _writable(folder):
            result.add("작업 폴더", Level.FAIL, f"{folder}에 파일을 쓸 수 없습니다({reason}).",
                       "예약 작업을 실행하는 계정에 이 폴더의 '수정' 권한을 주고, 읽기 전용 설정을 풀어 주세요.")
        else:
            continue
        bad += 1
    if not bad:
        names = ", ".join(f.name for f in workspace.folders)
        result.add("작업 폴더", Level.OK, f"{names} 폴더가 모두 있고 쓸 수 있습니다.")


def _check_rules(result: Diagnosis, settings: Settings, folder: Path, today: date):
    from .rules import RulesError, load_rules, new_year_fix, rules_path, year_gap

    try:
        rules = load_rules(settings.policy_year, folder)
    except RulesError as exc:
        result.add("규칙", Level.FAIL, str(exc), "설정의 policy_year를 규칙 파일이 있는 연도로 고치거나 규칙 파일을 고쳐 주세요.")
        return None
    result.add("규칙", Level.OK, f"{rules.year}년 격려방안 규칙({rules.version}, {rules_path(rules.year, folder)})을 읽었습니다.")
    if years := year_gap(rules.year, today):  # what a run without --as-of would compute tonight
        result.add("규칙", Level.WARN, f"오늘({today})은 규칙 연도 {rules.year}년과 {years}년 "
                                     "떨어져 있습니다. --as-of 없이 실행하면 오늘 기준으로 계산됩니다.",
                   f"올해 자료라면 {new_year_fix(today.year)}")
    return rules


def _check_inbox_templates(result: Diagnosis, workspace: Workspace, rules) -> None:
    from . import inbox as inbox_mod
    from .read import read_sheet
    from .schema import TEMPLATE_VERSION

    scan = inbox_mod.scan(workspace.inbox, 0)
    _check_owner_files(result, scan)
    files = [p for p in scan.candidates if p.suffix.lower() == ".xlsx"][:MAX_INBOX_FILES]
    old: list[str] = []
    other_year: list[str] = []
    unknown: list[str] = []
    year = rules.year if rules is not None else workspace.settings.policy_year
    for path in files:
        meta = read_sheet(path).meta
        name = scan.relative(path)
        version = str(meta.get("template_version", "")).strip()
        if not version:
            unknown.append(name)
        elif version != TEMPLATE_VERSION:
            old.append(f"{name}(서식 {version})")
        if meta.get("policy_year") and str(meta["policy_year"]).strip() != str(year):
            other_year.append(f"{name}({meta['policy_year']}년)")
    if old or other_year:
        listed = ", ".join((old + other_year)[:10]) + (" 외" if len(old) + len(other_year) > 10 else "")
        result.add("서식", Level.WARN, f"제출 폴더(inbox)에 현재 서식(버전 {TEMPLATE_VERSION}, {year}년)이 아닌 파일이 있습니다: {listed}.",
                   "'coop-batch templates'로 만든 새 서식을 해당 부서에 다시 보내 그 서식으로 작성하게 해 주세요.")
    if unknown:
        listed = ", ".join(unknown[:10]) + (" 외" if len(unknown) > 10 else "")
        result.add("서식", Level.WARN, f"서식 정보(_meta 시트)가 없는 파일이 있습니다: {listed}.",
                   "표준 서식을 쓰지 않았거나 시트를 지운 파일입니다. 표준 서식에 옮겨 적어 다시 내도록 안내해 주세요.")
    if not (old or other_year or unknown):
        result.add("서식", Level.OK, f"제출 폴더(inbox)의 엑셀 파일 {len(files)}개가 모두 현재 서식입니다." if files
                   else "제출 폴더(inbox)에 처리할 파일이 없습니다.")


def _check_owner_files(result: Diagnosis, scan) -> None:
    """Excel's `~$` owner files in the inbox: a file open now waits for the next run; one left for a
    day by an Excel that crashed is ignored by the run, but is better deleted."""
    def listed(pairs) -> str:
        names = [f"{scan.relative(path)}('{owner.name}')" for path, owner in pairs]
        return ", ".join(names[:10]) + (" 외" if len(names) > 10 else "")

    if scan.owners:
        result.add("열린 파일", Level.WARN, f"엑셀 등에서 열려 있어 다음 실행에서 처리하지 않을 파일이 있습니다: "
                   f"{listed(scan.owners.items())}.",
                   "파일을 닫아 주세요. 엑셀을 닫았는데도 괄호 안의 잠금 파일이 남아 있으면 그 파일을 지워 주세요"
                   "(하루가 지난 잠금 파일은 실행이 무시합니다).")
    if scan.stale_owners:
        result.add("열린 파일", Level.WARN, f"하루 넘게 남아 있는 엑셀 잠금 파일이 있습니다: {listed(scan.stale_owners.items())}. "
                   "실행은 이 잠금 파일을 무시하고 파일을 처리합니다.",
                   "엑셀이 비정상 종료하며 남긴 파일입니다. 그 엑셀 파일을 열고 있지 않다면 괄호 안의 잠금 파일을 지워 주세요.")


def _check_mail(result: Diagnosis, settings: Settings, timeout: float, tls_context: ssl.SSLContext | None) -> None:
    from .mail_smtp import addr_spec, connect, describe_error

    if result.failed("설정"):  # the file is invalid: its defaults say nothing of the server it names
        result.add("메일 서버", Level.WARN, "설정 파일에 잘못된 값이 있어 메일 설정을 점검하지 못했습니다.",
                   "위 '설정' 항목을 고친 뒤 'coop-batch doctor'로 다시 확인해 주세요.")
        return

    mail = settings.mail
    configured = bool(mail.smtp_host)
    addresses = [*mail.to, *mail.cc]
    broken = [a for a in addresses + [mail.sender] if "@" not in addr_spec(a)]
    placeholders = [a for a in addresses if addr_spec(a).lower().endswith(("example.go.kr", "example.com"))]
    if not mail.to or broken:
        result.add("메일 주소", Level.FAIL, f"받는 사람이 없거나 주소가 올바르지 않습니다: {', '.join(broken) or '(to 비어 있음)'}.",
                   "설정 [mail]의 to, cc, sender에 '이름@기관.go.kr' 형식의 주소를 적어 주세요.")
    elif placeholders:
        result.add("메일 주소", Level.FAIL if configured else Level.WARN,
                   f"받는 사람이 예시 주소 그대로입니다: {', '.join(placeholders)}.",
                   "설정 [mail]의 to, cc에 부구청장실 등 실제 주소를 적어 주세요.")
    if not configured:
        result.add("메일 서버", Level.OK, "메일 서버(smtp_host)가 설정되지 않아 메일은 outbox/mail/에 .eml 초안으로 저장됩니다.")
        return
    try:
        smtp = connect(mail, tls_context=tls_context, timeout=min(timeout, mail.timeout_seconds))
    except Exception as exc:  # every failure here is the finding, not a crash
        result.add("메일 서버", Level.FAIL, describe_error(exc, mail),
                   "고친 뒤 'coop-batch doctor'로 다시 확인해 주세요. 보내지 못한 메일은 'coop-batch mail'로 다시 보냅니다.")
        return
    try:
        smtp.noop()
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
    login = f", {mail.user}로 로그인" if mail.user else ""
    result.add("메일 서버", Level.OK, f"{mail.smtp_host}:{mail.smtp_port}이(가) 응답합니다({mail.security}{login}).")


def _check_disk(result: Diagnosis, root: Path) -> None:
    try:
        free_mb = shutil.disk_usage(root).free // (1024 * 1024)
    except OSError as exc:
        result.add("디스크", Level.WARN, f"남은 공간을 알 수 없습니다({exc.strerror or exc}).")
        return
    if free_mb < MIN_FREE_MB:
        result.add("디스크", Level.FAIL, f"남은 공간이 {free_mb:,}MB뿐입니다(최소 {MIN_FREE_MB}MB).",
                   "필요 없는 파일을 지우거나 archive 폴더의 오래된 연도를 다른 곳에 백업해 옮겨 주세요.")
    elif free_mb < LOW_FREE_MB:
        result.add("디스크", Level.WARN, f"남은 공간이 {free_mb:,}MB로 적습니다.", "곧 공간을 확보해 주세요.")
    else:
        result.add("디스크", Level.OK, f"남은 공간 {free_mb / 1024:,.1f}GB.")


def _check_ledger(result: Diagnosis, workspace: Workspace, now: datetime) -> None:
    import sqlite3

    from .ledger import DAMAGED_FIX, Ledger, LedgerError, RunStatus, lost_ledger

    path = workspace.ledger_path
    lost = lost_ledger(path, (workspace.archive, workspace.quarantine))
    if lost is not None:
        result.add("접수 대장", Level.FAIL, *lost)
        return
    if not path.is_file():
        result.add("접수 대장", Level.FAIL, f"접수 대장 {path}이(가) 없습니다.",
                   f"'coop-batch init {workspace.root}'로 만들어 주세요(다른 곳에 옮겼다면 제자리로 되돌려 주세요).")
        return
    try:
        ledger = Ledger.open(path)
    except LedgerError as exc:
        result.add("접수 대장", Level.FAIL, str(exc), "백업본으로 바꾼 뒤 다시 점검해 주세요.")
        return
    try:
        with ledger:
            damage = ledger.damage()
            if damage is not None:
                raise sqlite3.DatabaseError(damage)
            last = ledger.last_run()
            after = ledger.run(last.id + 1) if last is not None else ledger.run(1)
            unsent = ledger.unsent_mails()
    except sqlite3.DatabaseError as exc:
        result.add("접수 대장", Level.FAIL, f"접수 대장 {path}이(가) 손상되었습니다({exc}).", DAMAGED_FIX)
        return
    if last is None:
        result.add("최근 실행", Level.WARN, "아직 끝난 실행이 없습니다.",
                   "'coop-batch run'으로 한 번 실행해 보고, 'coop-batch schedule windows'로 예약 작업을 등록해 주세요.")
    else:
        when = last.started.astimezone(SEOUL)  # the run's own clock (finished is the wall clock)
        summary = last.summary or {}
        counts = f"받은 파일 {summary.get('seen', 0)}건, 반려 {summary.get('rejected', 0)}건"
        if last.status is RunStatus.FAILED:
            result.add("최근 실행", Level.FAIL, f"{when:%Y-%m-%d %H:%M} 실행이 오류로 멈췄습니다.",
                       "logs/coop-batch.log의 마지막 부분을 확인해 원인을 고친 뒤 'coop-batch run'을 실행해 주세요.")
        elif last.status is RunStatus.REJECTED:
            result.add("최근 실행", Level.WARN, f"{when:%Y-%m-%d %H:%M} 실행: {counts}.",
                       "quarantine 폴더의 _오류.txt를 해당 부서에 보내 고쳐 다시 내도록 해 주세요.")
        else:
            result.add("최근 실행", Level.OK, f"{when:%Y-%m-%d %H:%M} 실행이 정상으로 끝났습니다({counts}).")
        age = (now - when).days
        if age >= STALE_DAYS:
            result.add("예약 작업", Level.WARN, f"마지막 실행이 {age}일 전입니다. 예약 작업이 돌지 않는 것 같습니다.",
                       "작업 스케줄러에서 이 작업의 '마지막 실행 결과'를 확인해 주세요. Windows 비밀번호를 바꾼 뒤라면 "
                       "'coop-batch schedule windows'가 알려 주는 schtasks 명령을 다시 실행해 주세요.")
    if after is not None and after.status in (RunStatus.INTERRUPTED, RunStatus.RUNNING):
        result.add("최근 실행", Level.WARN, f"{after.started:%Y-%m-%d %H:%M}에 시작한 실행이 끝나지 않았습니다(실행 중이거나 중단됨).",
                   "실행 중이 아니라면 다음 실행이 자동으로 이어서 정리합니다. 반복되면 logs/coop-batch.log를 확인해 주세요.")
    if unsent:
        last_error = unsent[-1].last_error or "아직 보내지 않음"
        result.add("메일", Level.WARN, f"보내지 못한 메일이 {len(unsent)}건 있습니다(마지막 오류: {last_error}).",
                   "메일 서버 설정을 확인한 뒤 'coop-batch mail'로 다시 보내 주세요.")
