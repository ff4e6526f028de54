"""The nightly run: inbox → validate → ledger → file → merge → policy → outputs.

Order of operations is what makes a crash harmless: a file's ledger row is
committed before the file is moved (the rows of a chunk of files in one transaction,
then their moves), and a run starts by finishing any move a killed run left undone
(`_recover`).  So every file is always either still in the
inbox or filed and recorded — never lost, never counted twice.
"""

from __future__ import annotations

import logging
import os
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from . import inbox as inbox_mod
from .config import SEOUL, Workspace
from .errors import Problem, has_errors
from .ledger import FileEntry, FileRow, FileStatus, Ledger, RunStatus
from .lock import WorkspaceLock
from .logs import setup_logging
from .merge import Merged, Source, merge
from .records import SheetData, Submission
from .rules import Rules, load_rules

log = logging.getLogger("coop_batch")

Progress = Callable[[int, int, str], None]  # (done, total, file) → None


@dataclass(frozen=True)
class FileOutcome:
    path: str  # relative to the inbox
    status: str  # accepted / rejected / duplicate / deferred
    kind: str = ""
    department: str = ""
    errors: int = 0
    warnings: int = 0
    filed: str = ""  # relative to the workspace
    reason: str = ""  # why deferred, or what it duplicates


@dataclass
class RunReport:
    workspace: Path
    as_of: date
    run_id: int = 0
    outcomes: list[FileOutcome] = field(default_factory=list)
    ignored: int = 0
    outputs: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # Korean notes for the summary and the log
    problems: list[Problem] = field(default_factory=list)  # merge and policy problems
    merged: Merged | None = None
    policy: Any = None  # policy.PolicyResult
    tracking: Any = None  # tracking.Tracking: weekly reports, self plans, the calendar, who owes what
    replaced: dict[str, int] = field(default_factory=dict)
    mail: Any = None  # deliver.MailResult (None when run with mail=False)
    feedback: Any = None  # feedback.FeedbackResult: annotated copies in outbox/반려 (None without outputs)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        return 1 if self.count("rejected") else 0

    def summary_lines(self) -> list[str]:
        seen = len(self.outcomes)
        lines = [
            f"coop-batch 실행 결과 (기준일 {self.as_of.isoformat()})",
            f"  받은 파일 {seen}건: 접수 {self.count('accepted')}, 반려 {self.count('rejected')}, "
            f"중복 {self.count('duplicate')}, 대기 {self.count('deferred')}",
        ]
        errors = sum(o.errors for o in self.outcomes)
        warnings = sum(o.warnings for o in self.outcomes)
        if errors or warnings:
            lines.append(f"  문제: 오류 {errors}건, 경고 {warnings}건 (자세한 내용은 통합현황의 '오류' 시트)")
        for outcome in self.outcomes:
            if outcome.status == "rejected":
                lines.append(f"  반려: {outcome.path} (오류 {outcome.errors}건) → {outcome.filed}")
            elif outcome.status == "deferred":
                lines.append(f"  대기: {outcome.path} ({outcome.reason})")
        if self.feedback is not None:
            lines += self.feedback.summary_lines()  # problems per department, where the copies are
        if self.policy is not None:
            lines.append(
                f"  포상금 합계 {self.policy.total_reward_won:,}원, 특별휴가 {len(self.policy.leave)}명, "
                f"표창추천 {len(self.policy.commendations)}명"
            )
        if self.tracking is not None:
            lines.append(self.tracking.headline())
        if self.problems:
            lines.append(f"  취합·포상 검토 사항 {len(self.problems)}건 (통합현황의 '오류' 시트)")
        lines += [f"  참고: {note}" for note in self.notes]
        lines += [f"  결과 파일: {path}" for path in self.outputs]
        return lines


def run_batch(
    workspace: Workspace,
    *,
    as_of: date | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
    command: str = "run",
    write_outputs: bool = True,
    settle_seconds: float | None = None,
    mail: bool = True,
) -> RunReport:
    """Run the nightly job once.  Raises `LockBusy` when another run holds the workspace,
    `RulesError` for invalid rules; everything wrong with an input file is a Problem."""
    settings = workspace.settings
    rules = load_rules(settings.policy_year)
    setup_logging(workspace.logs, settings.logging.keep_days)
    now = (now or datetime.now(SEOUL)).astimezone(SEOUL)
    as_of = as_of or now.date()
    report = RunReport(workspace.root, as_of)
    with WorkspaceLock(workspace.lock_path, command) as lock:
        if lock.took_over is not None:
            report.notes.append(lock.took_over.took_over_message())
            log.warning(lock.took_over.took_over_message())
        for folder in workspace.folders:
            folder.mkdir(parents=True, exist_ok=True)
        with Ledger.open(workspace.ledger_path) as ledger:
            report.run_id = ledger.start_run(as_of, now)
            log.info("실행 %d 시작 (기준일 %s)", report.run_id, as_of)
            report.notes += _recover(workspace, ledger)
            _refresh_stale(workspace, ledger, rules)
            cache: dict[str, list[dict[str, Any]]] = {}
            known = _known_projects(ledger, cache)
            settle = settings.settle_seconds if settle_seconds is None else settle_seconds
            _process_inbox(workspace, ledger, rules, report, now, known, cache, progress, settle)
            history = ledger.history()  # read once: the accepted files, the feedback copies, the master
            accepted = _accepted(history)
            sources = [_source(ledger, row, cache) for row in accepted]
            # The 요약 shows what changed since the last run: rows superseded by THIS run's files,
            # not every supersession in the history (a rerun with nothing new must show none).
            report.merged = merge(sources, {i for i, row in enumerate(accepted) if row.run_id == report.run_id})
            report.replaced = report.merged.newly_replaced
            report.problems += report.merged.problems
            from .policy import compute  # pandas-free, but only a full run needs it

            report.policy = compute(report.merged.data, rules, year=settings.result_year)
            report.problems += report.policy.problems
            from .tracking import compute_tracking, submitted_from

            # Every accepted file with its arrival, not only the merged winners: a report corrected on
            # Monday is judged by the on-time original it replaced.
            submitted = submitted_from(accepted, lambda sha: _records(ledger, sha, cache))
            report.tracking = compute_tracking(report.merged.data, submitted, rules, as_of)
            if write_outputs:
                from .feedback import write_feedback  # never raises: failures become notes
                from .master import write_outputs as write_all

                report.feedback = write_feedback(workspace, history, report.run_id, report.as_of)
                report.notes += report.feedback.notes

                outputs, notes = write_all(workspace, ledger, report, rules, history=history)
                report.outputs += outputs
                report.notes += notes
            if mail:
                _deliver(workspace, ledger, report, now)
            status = RunStatus.REJECTED if report.exit_code else RunStatus.OK
            # the problems recorded on this run's files: those of its outcomes (no need to read them back)
            problems = sum(o.errors + o.warnings for o in report.outcomes)
            ledger.finish_run(report.run_id, status, report.exit_code, _summary(report), problems,
                              finished=datetime.now(SEOUL))
            log.info("실행 %d 끝: %s", report.run_id, " / ".join(report.summary_lines()[1:2]))
            for line in report.summary_lines()[2:]:  # a scheduled run's console is lost: keep it all here
                log.info("요약 %s", line.strip())
    return report


# --- steps ---


def _deliver(workspace: Workspace, ledger: Ledger, report: RunReport, now: datetime) -> None:
    """Mail the results.  Mailing never fails the run: an unsent message waits in outbox/mail/."""
    from .deliver import deliver_run

    try:
        report.mail = deliver_run(workspace, report, ledger, now=now)
    except Exception as exc:  # a bug or a full disk: the run's files and ledger are already committed
        log.exception("메일 처리 중 오류")
        report.notes.append(f"메일을 만들거나 보내지 못했습니다({exc}). 로그를 확인한 뒤 'coop-batch mail'로 다시 보내 주세요.")
        return
    report.notes += report.mail.lines


def _recover(workspace: Workspace, ledger: Ledger) -> list[str]:
    """Finish the moves a killed run left undone (ledger row committed, file not yet filed)."""
    notes = []
    for row in ledger.unfiled():
        src = workspace.inbox / row.original_path
        dest_dir = _destination(workspace, row.status, row.first_seen)
        target: Path | None = None
        if src.is_file() and inbox_mod.sha256_of(src) == row.sha256:
            target = inbox_mod.file_into(src, dest_dir, row.sha256)
        else:
            target = inbox_mod.find_filed(dest_dir, row.name, row.sha256)
        if target is None:
            log.error("대장에 있는 %s 파일을 받은편지함·보관함 어디에서도 찾지 못했습니다", row.original_path)
            continue
        if row.status is FileStatus.REJECTED:
            inbox_mod.write_note(inbox_mod.note_path(target), row.name, row.problem_objects())
        ledger.mark_filed(row.id, target.relative_to(workspace.root))
        notes.append(f"지난 실행이 중단되어 옮기지 못한 {row.original_path}을(를) 마저 보관했습니다.")
        log.warning("복구: %s → %s", row.original_path, target)
    return notes


def _destination(workspace: Workspace, status: FileStatus, when: datetime) -> Path:
    if status is FileStatus.REJECTED:
        return workspace.quarantine
    return inbox_mod.archive_dir(workspace.archive, when)


def _refresh_stale(workspace: Workspace, ledger: Ledger, rules: Rules) -> None:
    """Records validated under other rules or template versions are validated again from the archive."""
    from .read import read_sheet
    from .validate import validate_sheet

    stale = ledger.stale_records(rules.version)
    if not stale:
        return
    filed = {r.sha256: r for r in reversed(ledger.accepted_files()) if r.filed_path}
    for sha in stale:
        row = filed.get(sha)
        if row is None:
            continue
        path = workspace.root / row.filed_path
        submission = validate_sheet(read_sheet(path), rules, display_name=row.name)
        if has_errors(submission.problems):
            log.warning("%s: 새 규칙(%s)으로는 오류가 있어 이전 검증 결과를 씁니다", row.name, rules.version)
            continue
        ledger.store_records(sha, row.kind, submission.records, rules.version)
        log.info("%s: 규칙 %s로 다시 검증했습니다", row.name, rules.version)


def _accepted(history: Sequence[FileRow]) -> list[FileRow]:
    """`ledger.accepted_files()` from the history already read: same rows, same order (the ledger
    sorts by the ISO text of arrived_at / first_seen, all in Seoul time: the order of the instants)."""
    rows = [r for r in history if r.status is FileStatus.ACCEPTED]
    return sorted(rows, key=lambda r: (r.arrived_at, r.first_seen, r.id))


def _records(ledger: Ledger, sha: str, cache: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    if sha not in cache:
        cache[sha] = ledger.records_of(sha)
    return cache[sha]


def _source(ledger: Ledger, row: FileRow, cache: dict[str, list[dict[str, Any]]]) -> Source:
    # The inbox path, not the bare name: departments send same-named files from their own folders
    # (`세무과/주간실적_2016-03-04.xlsx`), and 원본파일 / policy problems must say which one.
    return Source(row.original_path, row.kind, _records(ledger, row.sha256, cache), row.department)


def _known_projects(ledger: Ledger, cache: dict[str, list[dict[str, Any]]]) -> set[str]:
    names: set[str] = set()
    for row in ledger.accepted_files(kinds=_NAME_KINDS):
        names.update(r["project"] for r in _records(ledger, row.sha256, cache) if r.get("project"))
    return names


@dataclass
class _Candidate:
    path: Path
    rel: str
    sha256: str
    size: int
    mtime: datetime
    arrived: datetime


def _process_inbox(
    workspace: Workspace,
    ledger: Ledger,
    rules: Rules,
    report: RunReport,
    now: datetime,
    known: set[str],
    cache: dict[str, list[dict[str, Any]]],
    progress: Progress | None,
    settle_seconds: float,
) -> None:
    scan = inbox_mod.scan(workspace.inbox, settle_seconds, now=now.timestamp())
    report.ignored = len(scan.ignored)
    for path in scan.unsettled:
        _defer(report, scan.relative(path), "복사 중일 수 있어 다음 실행에서 처리")
    for path in scan.open_elsewhere:
        _defer(report, scan.relative(path), "엑셀에서 열려 있어 다음 실행에서 처리")

    candidates: list[_Candidate] = []
    for path in scan.ready:
        rel = scan.relative(path)
        if not inbox_mod.can_open(path):
            _defer(report, rel, "파일을 열 수 없어 다음 실행에서 처리")
            continue
        try:
            st = path.stat()
            sha = inbox_mod.sha256_of(path)
        except OSError:
            _defer(report, rel, "파일을 읽는 중 사라지거나 잠겨 다음 실행에서 처리")
            continue
        arrived = inbox_mod.arrival_time(path, now)
        mtime = datetime.fromtimestamp(st.st_mtime, SEOUL)
        candidates.append(_Candidate(path, rel, sha, st.st_size, mtime, arrived))
    # Arrival order (stable: path order on ties), so that of two identical files in one night the
    # later one — `주간실적 - 복사본.xlsx` sorts before `주간실적.xlsx` by name — is the duplicate.
    candidates.sort(key=lambda c: c.arrived)

    fresh: dict[str, _Candidate] = {}
    for candidate in candidates:
        if ledger.find_by_hash(candidate.sha256) is None:
            fresh.setdefault(candidate.sha256, candidate)

    # Each file is validated as the reader workers return it and filed (in arrival order) as soon as
    # its verdict is final: this process files while the workers read on, instead of after them.
    # Files are filed in chunks: their rows in one transaction (one fsync), then the moves.
    checker = _Checker(rules, known)
    total, ready, done = len(candidates), 0, 0
    chunk: list[_Candidate] = []

    def flush(least: int = 1) -> None:
        nonlocal done
        if len(chunk) < least:
            return
        for candidate in _file_chunk(workspace, ledger, rules, report, chunk, checker.submissions, now, cache):
            done += 1
            if progress is not None:
                progress(done, total, candidate.rel)
        chunk.clear()

    def file_ready(settled: bool = False) -> None:
        nonlocal ready
        while ready < total:
            candidate = candidates[ready]
            own = fresh.get(candidate.sha256) is candidate  # else it repeats a recorded file
            if own and not settled and candidate.sha256 not in checker.final:
                break
            ready += 1
            chunk.append(candidate)
            if len(chunk) >= _CHUNK:
                flush()
        if settled and chunk:
            flush()

    # While the next file is still being read, file those whose verdict is final (`idle`).
    with closing(_read_each([c.path for c in fresh.values()], workspace, lambda: flush(_IDLE_CHUNK))) as sheets:
        for candidate, (_, sheet) in zip(fresh.values(), sheets):
            checker.check(candidate, sheet)
            file_ready()
    checker.settle()
    file_ready(settled=True)


def _defer(report: RunReport, rel: str, reason: str) -> None:
    report.outcomes.append(FileOutcome(rel, "deferred", reason=reason))
    log.info("대기 %s: %s", rel, reason)


def _read_each(
    paths: Sequence[Path], workspace: Workspace, idle: Callable[[], None] | None = None
) -> Iterator[tuple[Path, SheetData]]:
    """The files read by worker processes, in input order, as they come."""
    if not paths:
        return
    from .read import Limits, read_many

    limits = Limits(
        max_file_bytes=workspace.settings.limits.max_file_mb * 1024 * 1024,
        timeout_seconds=workspace.settings.limits.file_timeout_seconds,
    )
    workers = workspace.settings.limits.workers or _auto_workers(len(paths))
    yield from read_many(list(paths), limits, workers=workers, idle=idle)


_MANY_FILES = 100  # a second reader pays its start (~0.1 s) back only over this many files


def _auto_workers(files: int) -> int:
    """`workers = 0` (자동): two readers on two or more cores for a big night, else one."""
    return 2 if files >= _MANY_FILES and (os.cpu_count() or 1) >= 2 else 1


_NAME_KINDS = ("results", "contacts")  # the kinds that bring the project names others must match


class _Checker:
    """Validation with results and contact lists first, as files stream in arrival order.

    A results or contact list is checked against the names known before it, as if the lists came
    first; any other file against the names known so far.  That verdict is already the one it
    would get once every list is read (names are only ever added) unless nothing was known yet or
    it was warned of an unknown project: only those wait, and `settle` checks them again."""

    def __init__(self, rules: Rules, known: set[str]) -> None:
        from .validate import validate_sheet

        self._validate = validate_sheet
        self.rules, self.known = rules, known
        self.submissions: dict[str, Submission] = {}
        self.final: set[str] = set()
        self._waiting: list[tuple[_Candidate, SheetData]] = []

    def check(self, candidate: _Candidate, sheet: SheetData) -> None:
        submission = self._validate(sheet, self.rules, self.known, display_name=candidate.rel)
        self.submissions[candidate.sha256] = submission
        if sheet.kind is not None and sheet.kind.id in _NAME_KINDS:
            if submission.accepted and submission.kind_id in _NAME_KINDS:
                self.known.update(r["project"] for r in submission.records if r.get("project"))
        elif not self.known or any(p.code == "unknown-project" for p in submission.problems):
            self._waiting.append((candidate, sheet))
            return
        self.final.add(candidate.sha256)

    def settle(self) -> None:
        for candidate, sheet in self._waiting:
            self.submissions[candidate.sha256] = self._validate(
                sheet, self.rules, self.known, display_name=candidate.rel
            )
            self.final.add(candidate.sha256)
        self._waiting.clear()


def _entry(report: RunReport, candidate: _Candidate, now: datetime, status: FileStatus, **extra: Any) -> FileEntry:
    return FileEntry(
        run_id=report.run_id,
        sha256=candidate.sha256,
        original_path=candidate.rel,
        size=candidate.size,
        mtime=candidate.mtime,
        first_seen=now,
        arrived_at=min(candidate.arrived, now),
        status=status,
        **extra,
    )


_CHUNK = 200  # files whose rows are committed together; a crash leaves at most these for `_recover`
_IDLE_CHUNK = 32  # filed while waiting for the readers only from this many: each chunk costs an fsync


@dataclass
class _Filing:
    """A recorded file on its way to the archive or the quarantine."""

    candidate: _Candidate
    file_id: int
    dest_dir: Path
    outcome: FileOutcome  # `filed` still empty
    log_format: str  # its last %s: where the file went
    log_args: tuple[Any, ...]
    problems: Sequence[Problem] = ()
    note: tuple[str, list[Problem]] | None = None  # the quarantine note


def _file_chunk(
    workspace: Workspace,
    ledger: Ledger,
    rules: Rules,
    report: RunReport,
    chunk: Sequence[_Candidate],
    submissions: dict[str, Submission],
    now: datetime,
    cache: dict[str, list[dict[str, Any]]],
) -> list[_Candidate]:
    """Record the chunk's files in ONE transaction, then move them, then record where they went.

    A file is moved only after its row is committed; a crash among the moves leaves each file of the
    chunk in the inbox or filed, with its row committed and unfiled, and `_recover` finishes the moves.
    Where they went is committed without an fsync (see `Ledger.mark_filed`)."""
    filings: list[_Filing] = []
    archive, quarantine = inbox_mod.archive_dir(workspace.archive, now), workspace.quarantine  # = _destination
    with ledger.transaction():
        for candidate in chunk:
            prior = ledger.find_by_hash(candidate.sha256)  # also sees the rows recorded just above
            if prior is not None:
                filings.append(_record_duplicate(archive, ledger, report, candidate, prior, now))
            else:
                submission = submissions[candidate.sha256]
                dest = archive if submission.accepted else quarantine
                filings.append(_record_submission(dest, ledger, rules, report, candidate, submission, now))
                if submission.accepted:
                    cache[candidate.sha256] = submission.records
    moved: list[tuple[int, Path]] = []
    for filing in filings:
        target = _move(workspace, report, filing)
        if target is not None:
            moved.append((filing.file_id, target.relative_to(workspace.root)))
        outcome = filing.outcome if target is None else replace(filing.outcome, filed=_rel(workspace, target))
        report.outcomes.append(outcome)
        log.info(filing.log_format, *filing.log_args, outcome.filed)
        for problem in filing.problems:
            log.info("  %s", problem.line())
    ledger.mark_filed_many(moved)
    return [f.candidate for f in filings]


def _record_duplicate(
    dest_dir: Path, ledger: Ledger, report: RunReport, candidate: _Candidate, prior: FileRow, now: datetime
) -> _Filing:
    original = prior.duplicate_of or prior.id
    file_id = ledger.record_file(
        _entry(report, candidate, now, FileStatus.DUPLICATE, kind=prior.kind, department=prior.department,
               duplicate_of=original)
    )
    outcome = FileOutcome(candidate.rel, "duplicate", prior.kind, prior.department,
                          reason=f"{prior.original_path}와 같은 내용")
    return _Filing(candidate, file_id, dest_dir, outcome,
                   "중복 %s: %s와 같은 내용 → %s", (candidate.rel, prior.original_path))


def _record_submission(
    dest_dir: Path,
    ledger: Ledger,
    rules: Rules,
    report: RunReport,
    candidate: _Candidate,
    submission: Submission,
    now: datetime,
) -> _Filing:
    accepted = submission.accepted
    status = FileStatus.ACCEPTED if accepted else FileStatus.REJECTED
    entry = _entry(
        report, candidate, now, status,
        kind=submission.kind_id,
        department=submission.department,
        template_version=submission.meta.get("template_version", ""),
        rules_version=rules.version,
        problems=submission.problems,
    )
    file_id = ledger.record_file(entry, submission.records if accepted else None)
    errors = sum(p.is_error for p in submission.problems)
    outcome = FileOutcome(
        candidate.rel, status.value, submission.kind_id, submission.department, errors,
        len(submission.problems) - errors,
    )
    note = None if accepted else (candidate.rel, submission.problems)
    args = ("접수" if accepted else "반려", candidate.rel, submission.kind_id or "?", submission.department or "?",
            outcome.errors, outcome.warnings)
    return _Filing(candidate, file_id, dest_dir, outcome,
                   "%s %s: 서식 %s, 부서 %s, 오류 %d, 경고 %d → %s", args, submission.problems, note)


def _move(workspace: Workspace, report: RunReport, filing: _Filing) -> Path | None:
    """File a recorded submission.  A file locked between scan and move (Windows) stays in the inbox
    with its ledger row unfiled; the next run's `_recover` finishes the move."""
    candidate = filing.candidate
    try:
        target = inbox_mod.file_into(candidate.path, filing.dest_dir, candidate.sha256)
    except OSError as exc:
        message = f"{candidate.rel}을(를) 옮기지 못했습니다({exc.strerror or exc}). 다음 실행에서 마저 보관합니다."
        report.notes.append(message)
        log.warning(message)
        return None
    if filing.note is not None:
        inbox_mod.write_note(inbox_mod.note_path(target), *filing.note)
    return target


def _rel(workspace: Workspace, path: Path | None) -> str:
    return path.relative_to(workspace.root).as_posix() if path is not None else ""


def _summary(report: RunReport) -> dict[str, Any]:
    return {
        "as_of": report.as_of.isoformat(),
        "seen": len(report.outcomes),
        "accepted": report.count("accepted"),
        "rejected": report.count("rejected"),
        "duplicate": report.count("duplicate"),
        "deferred": report.count("deferred"),
        "ignored": report.ignored,
        "replaced": report.replaced,
        "problems": len(report.problems),
        "reward_total_won": report.policy.total_reward_won if report.policy is not None else 0,
        "outputs": [str(p) for p in report.outputs],
    }

