"""Command line: a thin layer over the library API (each command calls one function).

Exit codes: 0 all went through, 1 some files rejected / had errors, 2 usage or
configuration error, 3 another run holds the workspace lock, 4 an unexpected internal error
(logged with its traceback in logs/coop-batch.log).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from . import __version__
from . import cli_usage as usage
from .cli_help import VERSION_MESSAGE, VERSION_OPTION_HELP


def _survive_console() -> None:
    """A cp949 Windows console cannot print every character: replace, never crash."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="replace")
            except (ValueError, OSError):  # pragma: no cover - detached or closed stream
                pass


@click.group(cls=usage.Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120})
@click.version_option(__version__, prog_name="coop-batch", message=VERSION_MESSAGE, help=VERSION_OPTION_HELP)
def cli() -> None:
    """시·자치구 공동협력사업 실적 취합·검증·포상 배분 배치 (기획예산과)."""


# --- commands (each a thin call into the library) ---


def _rules(year: int | None):
    """The policy rules for `year`; by default the year of the workspace this is run in (its settings'
    policy_year), elsewhere the newest rules file.  A `rules/` folder here is looked in first.  Exit 2
    with the Korean message."""
    from pathlib import Path

    from .config import CONFIG_NAME, ConfigError, load_settings
    from .rules import RulesError, available_years, load_rules

    here = Path.cwd()
    if year is None and (here / CONFIG_NAME).is_file():
        try:
            year = load_settings(here).policy_year
        except ConfigError:
            pass  # a broken settings file is `run`'s and `doctor`'s to report
    try:
        return load_rules(year if year is not None else max(available_years(here / "rules"), default=2016),
                          here / "rules")
    except RulesError as exc:
        _fail(str(exc), 2)


@cli.command("templates")
@click.option(
    "--out", "out_dir", type=usage.Path(file_okay=False), default="templates/xlsx", show_default=True,
    help="서식 파일을 저장할 폴더",
)
@click.option("--year", type=usage.Year(), default=None, help="정책 연도(기본: 작업 폴더에서 실행하면 그 설정의 연도, 아니면 규칙 파일이 있는 가장 최근 연도)")
def templates_cmd(out_dir: str, year: int | None) -> None:
    """표준 서식 6종(.xlsx)을 만듭니다."""
    from pathlib import Path

    from .templates import write_templates

    rules = _rules(year)
    try:
        paths = write_templates(Path(out_dir), rules)
    except OSError as exc:
        click.echo(
            f"서식 파일을 쓸 수 없습니다: {exc.filename or out_dir} ({exc.strerror or exc}). "
            "엑셀에서 열려 있으면 닫고, 폴더 쓰기 권한을 확인한 뒤 다시 실행해 주세요.",
            err=True,
        )
        sys.exit(1)
    click.echo(f"{rules.year}년 규칙({rules.version})으로 표준 서식 {len(paths)}개를 만들었습니다: {Path(out_dir)}")
    for path in paths:
        click.echo(f"  - {path.name}")


@cli.command("validate")
@click.argument("files", nargs=-1, required=True, type=usage.Path())
@click.option(
    "--format", "fmt", type=usage.Choice(["table", "json"]), default="table", show_default=True,
    help="table: 사람이 읽는 표, json: 프로그램용",
)
@click.option("--year", type=usage.Year(), default=None, help="정책 연도(기본: 작업 폴더에서 실행하면 그 설정의 연도, 아니면 규칙 파일이 있는 가장 최근 연도)")
def validate_cmd(files: tuple[str, ...], fmt: str, year: int | None) -> None:
    """서식 파일을 검증해 문제(오류·경고)를 보여 줍니다. 폴더를 주면 그 안(하위 폴더 포함)의 .xlsx 파일을
    모두 검증합니다. 오류가 있는 파일이 하나라도 있으면 종료 코드 1."""
    import json

    from .validate import render_table, summary, validate_files

    named = _files_to_validate(files)
    rules = _rules(year)
    results = [(name, sub) for name, (_, sub) in zip(named, validate_files(named.values(), rules))]
    if fmt == "json":
        click.echo(json.dumps([summary(sub, name) for name, sub in results], ensure_ascii=False, indent=2))
    else:
        click.echo("\n\n".join(render_table(sub, name) for name, sub in results))
    sys.exit(0 if all(sub.accepted for _, sub in results) else 1)


def _files_to_validate(names: tuple[str, ...]):
    """{name as shown: path} of what `validate_select.select` finds; exit 2 in Korean when a name is
    neither a file nor a folder, or a folder has no .xlsx file.  Other files in a folder go to stderr."""
    from .validate_select import select

    chosen = select(names)
    if chosen.missing or chosen.empty:  # click's own message is English; users read Korean
        lines = []
        if chosen.missing:
            lines.append("파일을 찾을 수 없습니다: " + ", ".join(chosen.missing) + ". 파일 이름과 폴더를 확인해 주세요.")
        if chosen.empty:
            lines.append(
                "폴더에 검증할 엑셀(.xlsx) 파일이 없습니다: " + ", ".join(chosen.empty) + ". 하위 폴더까지 찾았고 "
                "'~$'로 시작하는 임시 파일과 숨김 파일은 뺐습니다. 폴더가 맞는지 확인하거나 파일 이름을 직접 적어 주세요."
            )
        _fail("\n".join(lines), 2)
    if chosen.unreadable:
        click.echo("읽을 수 없어 건너뛴 폴더: " + ", ".join(chosen.unreadable) + ". 폴더 읽기 권한을 확인해 주세요.",
                   err=True)
    skipped = chosen.skipped
    if skipped:
        shown = ", ".join(skipped[:10]) + (f" 외 {len(skipped) - 10}개" if len(skipped) > 10 else "")
        click.echo(
            f"엑셀(.xlsx)이 아니어서 검증하지 않은 파일 {len(skipped)}개: {shown}. 구버전 엑셀(.xls) 등은 엑셀에서 "
            "'Excel 통합 문서(*.xlsx)'로 저장한 뒤 검증하거나, 파일 이름을 직접 적어 검증해 주세요.",
            err=True,
        )
    return chosen.files


def _workspace_option(func):
    return click.option(
        "--workspace", "-w", "workspace_dir", type=usage.Path(file_okay=False), default=".",
        show_default=True, help="작업 폴더(설정 coop_batch.toml이 있는 곳)",
    )(func)


def _fail(message: str, code: int) -> None:
    from .korean import josa

    click.echo(josa(message), err=True)
    sys.exit(code)


def _open(workspace_dir: str):
    """The workspace, or exit 2: a folder that was never made one (no settings file, no ledger) is
    refused, so a scheduled task started in the wrong folder does not mail an empty report nightly."""
    from pathlib import Path

    from .config import CONFIG_NAME, ConfigError, Paths, is_workspace, open_workspace

    root = Path(workspace_dir).resolve()
    if root.is_dir() and not is_workspace(root):
        _fail(f"{root}은(는) 작업 폴더가 아닙니다(설정 파일 {CONFIG_NAME}이 없음). 작업 폴더에서 실행하거나 "
              f"-w로 지정해 주세요(예: coop-batch run -w D:\\coop). 새로 만들려면 'coop-batch init {root}'.", 2)
    try:
        return open_workspace(workspace_dir)
    except ConfigError as exc:
        logs = root / Paths().logs
        if logs.is_dir():  # a scheduled run's console is seen by nobody: the default log folder has it
            from .logs import setup_logging

            try:
                setup_logging(logs).error(str(exc))
            except OSError:  # pragma: no cover - stderr still has it
                pass
        _fail(str(exc), 2)


@cli.command("init", short_help="작업 폴더(설정 파일, 제출·결과 폴더, 접수 대장)를 만듭니다.")
@click.argument("directory", default=".", type=usage.Path(file_okay=False))
@click.option("--year", type=usage.Year(), default=None, help="정책(규칙) 연도(기본: 규칙 파일이 있는 가장 최근 연도)")
def init_cmd(directory: str, year: int | None) -> None:
    """작업 폴더(설정 파일, inbox/ outbox/ archive/ quarantine/ logs/, 접수 대장)를 만듭니다."""
    from pathlib import Path

    from .config import ConfigError, init_workspace
    from .ledger import Ledger
    from .rules import RulesError, available_years, load_rules

    if year is not None:  # a year without rules would make a workspace whose every run stops (exit 2)
        rules_dir = Path(directory) / "rules"
        known = available_years(rules_dir)
        if year not in known:
            years = ", ".join(str(y) for y in known) or "없음"
            _fail(f"{year}년 규칙 파일이 없어 작업 폴더를 만들지 않았습니다(규칙 파일이 있는 연도: {years}). 새 연도라면 "
                  f"{rules_dir / f'{year}.toml'}을(를) 먼저 만들거나(지난해 파일을 복사해 고침) --year에 있는 연도를 "
                  "주세요.", 2)
        try:
            load_rules(year, rules_dir)
        except RulesError as exc:
            _fail(str(exc), 2)
    try:
        workspace = init_workspace(directory, policy_year=year or max(available_years(), default=2016))
    except ConfigError as exc:
        _fail(str(exc), 2)
    Ledger.open(workspace.ledger_path).close()
    click.echo(f"작업 폴더를 준비했습니다: {workspace.root}")
    click.echo(f"  설정: {workspace.config_path.name}, 제출 폴더(inbox): {workspace.inbox}, 결과: {workspace.outbox}")


def _log_failure(workspace, message: str, exc_info: bool = False) -> None:
    """Also into logs/: a scheduled run's console is seen by nobody."""
    from .logs import setup_logging

    try:
        setup_logging(workspace.logs, workspace.settings.logging.keep_days).error(message, exc_info=exc_info)
    except OSError:  # pragma: no cover - the log folder itself is the problem; stderr still has it
        pass


def _damaged(workspace, exc: Exception) -> str:
    from .ledger import DAMAGED_FIX

    return (f"접수 대장 {workspace.ledger_path}이(가) 손상되어 읽을 수 없습니다({exc}). 받은 파일은 archive와 quarantine에 "
            f"그대로 있습니다. {DAMAGED_FIX}")


@contextmanager
def _stored_data_fails(workspace) -> Iterator[None]:
    """Exit 2 in Korean for what `status` and `mail` read: the rules, the ledger (unusable, or damaged
    past its header, which only a query finds)."""
    import sqlite3

    from .ledger import LedgerError
    from .rules import RulesError

    try:
        yield
    except (RulesError, LedgerError) as exc:
        _fail(str(exc), 2)
    except sqlite3.DatabaseError as exc:
        _fail(_damaged(workspace, exc), 2)


def _run(workspace, as_of, settle_seconds=None, now=None, *, quiet: bool = False, mail: bool = True) -> int:
    import sqlite3

    from .ledger import LedgerError
    from .lock import LockBusy
    from .rules import RulesError
    from .run import run_batch

    interactive = sys.stdout.isatty() and not quiet
    bar = None

    def progress(done: int, total: int, name: str) -> None:
        nonlocal bar
        if not interactive:
            return
        if bar is None:
            bar = click.progressbar(length=total, label="파일 처리", show_pos=True)
            bar.__enter__()
        bar.update(1)
        if done == total:
            bar.__exit__(None, None, None)

    try:
        report = run_batch(
            workspace, as_of=as_of, progress=progress, settle_seconds=settle_seconds, now=now, mail=mail
        )
    except LockBusy as exc:
        _log_failure(workspace, str(exc))
        _fail(str(exc), 3)
    except (RulesError, LedgerError) as exc:
        _log_failure(workspace, str(exc))
        _fail(str(exc), 2)
    except sqlite3.DatabaseError as exc:  # the ledger's pages damaged past its header (open went well)
        _log_failure(workspace, "접수 대장 손상", exc_info=True)
        _fail(_damaged(workspace, exc), 2)
    except OSError as exc:  # a folder the scheduled account may not write, a full disk: the machine's, not ours
        _log_failure(workspace, "파일을 쓰지 못해 실행이 멈췄습니다", exc_info=True)
        where = exc.filename or workspace.root
        _fail(
            f"{where}에 쓰지 못해 실행이 멈췄습니다({exc.strerror or exc}). 예약 작업을 실행하는 계정에 작업 폴더의 "
            f"'수정' 권한이 있는지, 디스크 공간이 남았는지 확인해 주세요('coop-batch doctor'로 점검). 이미 처리한 "
            f"파일은 archive·quarantine에 있고, 다음 실행이 결과를 다시 만듭니다.",
            2,
        )
    except Exception as exc:  # a bug: exit 4 tells the scheduler it is not "some files rejected" (1)
        _log_failure(workspace, "예기치 않은 오류로 실행이 멈췄습니다", exc_info=True)
        _fail(
            f"예기치 않은 오류로 실행이 멈췄습니다({type(exc).__name__}: {exc}). "
            f"{workspace.logs / 'coop-batch.log'}의 내용을 담당자에게 알려 주세요.",
            4,
        )
    if not quiet:
        click.echo("\n".join(report.summary_lines()))
    return report.exit_code


@cli.command("run", short_help="야간 배치를 한 번 실행합니다(검증·보관·통합현황·포상·메일).")
@_workspace_option
@click.option("--as-of", "as_of", type=usage.Date(), default=None,
              help="기준일 YYYY-MM-DD (기본: 오늘, 서울 시간)")
@click.option("--no-mail", "no_mail", is_flag=True, help="결과 메일을 만들거나 보내지 않습니다")
@click.option("--quiet", "-q", is_flag=True, help="화면에 아무것도 쓰지 않습니다(예약 작업용; 내용은 logs/에 남음)")
def run_cmd(workspace_dir: str, as_of, no_mail: bool, quiet: bool) -> None:
    """야간 배치를 한 번 실행합니다: 검증 → 접수/반려 보관 → 대장 기록 → 통합현황·명단 작성 → 메일."""
    from .spawn import dismiss_early, start_early

    start_early(workspace_dir)  # the night's helper processes start while this one imports the rest
    try:
        workspace = _open(workspace_dir)
        sys.exit(_run(workspace, as_of.date() if as_of else None, quiet=quiet, mail=not no_mail))
    finally:
        dismiss_early()  # those the run did not take (it stopped early, or needed fewer)


@cli.command("status", short_help="주간보고·계획서 제출 현황과 다가오는 일정을 보여 줍니다.")
@_workspace_option
@click.option("--as-of", "as_of", type=usage.Date(), default=None,
              help="기준일 YYYY-MM-DD (기본: 오늘, 서울 시간)")
def status_cmd(workspace_dir: str, as_of) -> None:
    """주간보고·자체 추진계획서 제출 현황, 아직 낼 것이 있는 부서, 앞으로 14일 일정을 보여 줍니다.

    접수 대장을 읽기만 합니다: 실행 잠금을 잡지 않고 아무 파일도 쓰지 않습니다."""
    from .config import today_seoul
    from .status import load_tracking

    workspace = _open(workspace_dir)
    with _stored_data_fails(workspace):
        tracking = load_tracking(workspace, as_of.date() if as_of else today_seoul())
    if tracking is None:
        click.echo(f"접수 대장({workspace.ledger_path.name})이 아직 없습니다. 'coop-batch run'을 먼저 실행해 주세요.")
        return
    from .korean import josa
    from .rules import year_gap_note

    gap = year_gap_note(workspace.settings.policy_year, tracking.as_of)
    click.echo("\n".join(tracking.summary_lines() + ([f"참고: {josa(gap)}"] if gap else [])))


@cli.command("demo", short_help="예시 작업 폴더를 만들고 배치를 실행합니다(2015년 실적).")
@click.argument("directory", default="demo-workspace", type=usage.Path(file_okay=False))
def demo_cmd(directory: str) -> None:
    """예시 작업 폴더를 만들고(씨앗 문서의 2015년 실적) 야간 배치를 실행합니다."""
    from pathlib import Path

    from .config import init_workspace
    from .demo import DEFAULT_AS_OF, build_demo_inbox
    from .rules import load_rules

    root = Path(directory)
    if (root / "ledger.sqlite").exists():
        _fail(f"{root.resolve()}에는 이미 작업 폴더가 있습니다. 다른 폴더 이름을 주거나 그 폴더를 지운 뒤 다시 실행해 주세요.", 2)
    workspace = init_workspace(root, policy_year=2016, evaluation_year=2015)
    paths = build_demo_inbox(workspace.inbox, load_rules(workspace.settings.policy_year, workspace.rules_dir), as_of=DEFAULT_AS_OF)
    click.echo(f"예시 작업 폴더 {workspace.root}에 부서 제출 파일 {len(paths)}개를 넣었습니다.")
    click.echo("  (씨앗 문서 V장의 2015년 결과에, 규칙마다 한 번씩 보이도록 평가계획 미통보·자체추진계획 없음·경상보조금·"
               "틀린 파일 등을 더한 자료입니다: README '빠른 시작' 참고)")
    # The demo files were just written, so waiting for them to settle would only defer them all.
    code = _run(workspace, DEFAULT_AS_OF, settle_seconds=0)
    click.echo(f"통합현황과 명단은 {workspace.outbox}에, 반려 사유는 {workspace.quarantine}의 .txt에 있습니다.")
    # The demo's rejections are deliberate (exit 1 of `run` would read as a failed demo).
    sys.exit(0 if code in (0, 1) else code)


# --- delivery and operations: mail, the scheduled task, doctor ---


@cli.command("mail")
@_workspace_option
@click.option("--dry-run", "dry_run", is_flag=True, help="보내지 않고 보낼 메일만 보여 줍니다")
def mail_cmd(workspace_dir: str, dry_run: bool) -> None:
    """보내지 못한 결과 메일(outbox/mail/unsent/)을 다시 보냅니다. 이미 보낸 메일은 다시 보내지 않습니다."""
    from .deliver import mail_pending
    from .lock import LockBusy

    workspace = _open(workspace_dir)
    try:
        with _stored_data_fails(workspace):
            result = mail_pending(workspace, dry_run=dry_run)
    except LockBusy as exc:
        _fail(str(exc), 3)
    from .korean import josa

    click.echo("\n".join(josa(line) for line in result.lines) if result.lines else "보낼 메일이 없습니다.")
    sys.exit(0 if result.ok else 1)


@cli.group("schedule", short_help="매일 밤 자동 실행할 예약 작업을 만듭니다(Windows, cron).")
def schedule_group() -> None:
    """매일 밤 자동 실행할 예약 작업을 만듭니다(Windows 작업 스케줄러 또는 cron)."""


_time_option = click.option("--time", "at", default=None, metavar="HH:MM", help="매일 실행할 시각 HH:MM (기본: 설정 [task] time = 02:00)")


@schedule_group.command("windows")
@_workspace_option
@_time_option
@click.option("--out", "out", type=usage.Path(dir_okay=False), default=None,
              help="작업 정의 XML 파일 (기본: 작업 폴더의 coop-batch-task.xml)")
@click.option("--user", default=None, metavar="계정", help="작업을 실행할 Windows 계정 (기본: 지금 로그인한 계정)")
@click.option("--logon", type=usage.Choice(["password", "s4u"]), default="password", show_default=True,
              help="password: 비밀번호를 Windows에 저장(공유 폴더 사용 가능), s4u: 저장 안 함(로컬 폴더만)")
def schedule_windows_cmd(workspace_dir: str, at: str | None, out: str | None, user: str | None, logon: str) -> None:
    """Windows 작업 스케줄러용 XML을 만들고, 등록하는 schtasks 명령을 보여 줍니다."""
    from pathlib import Path

    from .schedule import write_windows_task

    workspace = _open(workspace_dir)
    try:
        path, command = write_windows_task(
            workspace, time=at, out=Path(out).resolve() if out else None, user=user, logon=logon
        )
    except ValueError as exc:
        _fail(str(exc), 2)
    except OSError as exc:
        _fail(f"작업 정의 파일을 쓸 수 없습니다({exc.strerror or exc}). 폴더 쓰기 권한을 확인해 주세요.", 1)
    task = workspace.settings.task
    click.echo(f"예약 작업 정의를 저장했습니다: {path}")
    click.echo("명령 프롬프트(cmd)에서 아래 명령을 한 번 실행하세요"
               + (" (Windows 로그인 비밀번호를 물으면 입력):" if logon == "password" else ":"))
    click.echo(command)
    click.echo(f"매일 {at or task.time}에 로그인 여부와 관계없이 창 없이 실행되고(최대 {task.time_limit_minutes}분), "
               f"기록은 {workspace.logs}에 남습니다.")


@schedule_group.command("cron")
@_workspace_option
@_time_option
def schedule_cron_cmd(workspace_dir: str, at: str | None) -> None:
    """crontab에 넣을 한 줄을 보여 줍니다('crontab -e'로 붙여 넣기)."""
    from .schedule import cron_line

    workspace = _open(workspace_dir)
    try:
        click.echo(cron_line(workspace, time=at))
    except ValueError as exc:
        _fail(str(exc), 2)


@cli.command("doctor", short_help="작업 폴더·설정·메일 서버 등을 점검하고 고칠 방법을 알려 줍니다.")
@_workspace_option
def doctor_cmd(workspace_dir: str) -> None:
    """작업 폴더·설정·규칙·서식·메일 서버·디스크·최근 실행을 점검하고 고치는 방법을 알려 줍니다."""
    from .doctor import diagnose

    diagnosis = diagnose(workspace_dir)
    click.echo("\n".join(diagnosis.lines()))
    sys.exit(diagnosis.exit_code)


def main() -> None:
    """The console script: the command, then an exit without the interpreter's teardown (a night
    leaves ~100,000 objects to free one by one: ~60 ms for nothing; `spawn.leave_now`)."""
    from .spawn import leave_now

    _survive_console()
    try:
        cli(prog_name="coop-batch")
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    leave_now(code)


def _exit_code(code: object) -> int:
    """What the interpreter would exit with for `SystemExit(code)` (a text is printed, exit 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
