"""The nightly run: inbox → validate → ledger → file → merge → policy → outputs.

Order of operations is what makes a crash harmless: a file's ledger row is
committed before the file is moved (the rows of a chunk of files in one transaction,
then their moves), and a run starts by finishing any move a killed run left undone
(`_recover`).  So every file is always either still in the
inbox or filed and recorded — never lost, never counted twice.
"""

from __future__ import annotations

import logging
from contextlib import closing
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Collection, Iterator, Sequence

from . import inbox as inbox_mod
from .config import SEOUL, Workspace
from .seoul import seoul_time
from .spawn import MANY_FILES as _MANY_FILES  # a second reader pays its start back only over this many files
from .spawn import READER_BOOT, count_files, dismiss_early
from .spawn import auto_workers as _auto_workers
from .errors import has_errors
from .ledger import FileRow, FileStatus, Ledger, LedgerError, RunStatus, accepted_order, lost_ledger
from .lock import WorkspaceLock
from .logs import setup_logging
from .merge import Source, merge
from .records import SheetData, Submission
from .rules import Rules, load_rules, year_gap_note
from .run_filing import _Candidate, _file_chunk, _recover
from .run_report import FileOutcome, RunReport  # callers import these from here

if TYPE_CHECKING:  # pragma: no cover
    from .feedback_job import FeedbackJob, Prewarm
    from .read import Limits
    from .read_workers import Readers
    from .write_ahead import HistoryAhead

log = logging.getLogger("coop_batch")

Progress = Callable[[int, int, str], None]  # (done, total, file) → None


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
    `RulesError` for invalid rules, `LedgerError` for a ledger that is damaged, or lost while files
    were filed; everything wrong with an input file is a Problem."""
    settings = workspace.settings
    rules = load_rules(settings.policy_year, workspace.rules_dir)
    setup_logging(workspace.logs, settings.logging.keep_days)
    now = seoul_time(now)
    as_of = as_of or now.date()
    report = RunReport(workspace.root, as_of)
    if (gap := year_gap_note(rules.year, as_of)) is not None:
        report.notes.append(gap)
    with WorkspaceLock(workspace.lock_path, command) as lock:
        if lock.took_over is not None:
            report.notes.append(lock.took_over.took_over_message())
            log.warning(lock.took_over.took_over_message())
        lost = lost_ledger(workspace.ledger_path, (workspace.archive, workspace.quarantine))
        if lost is not None:
            raise LedgerError(f"{lost[0]} 그래서 실행하지 않았습니다. {lost[1]}")
        for folder in workspace.folders:
            folder.mkdir(parents=True, exist_ok=True)
        with Ledger.open(workspace.ledger_path) as ledger:
            report.run_id = ledger.start_run(as_of, now)
            log.info("실행 %d 시작 (기준일 %s)", report.run_id, as_of)
            if gap is not None:
                log.warning("%s", gap)
            notes, unmoved = _recover(workspace, ledger)
            report.notes += notes
            _remove_stale_temps(workspace.outbox)
            with _early_readers(workspace) as readers:  # stopped once the inbox is read, whatever happens
                _refresh_stale(workspace, ledger, rules)
                cache = ledger.all_records()  # every stored record set in one query, not one per accepted file
                known = _known_projects(ledger, cache)
                settle = settings.settle_seconds if settle_seconds is None else settle_seconds
                prewarm = _prewarm() if write_outputs else None
                _process_inbox(workspace, ledger, rules, report, now, known, cache, progress, settle, prewarm, readers,
                               unmoved)
            history = ledger.history()  # read once: the accepted files, the feedback copies, the master
            redo = ledger.unfinished_runs(report.run_id)
            feedback = _start_feedback(workspace, history, report, prewarm, redo) if prewarm is not None else None
            # Nothing writes the files table from here to the master: the helper reads what `history` holds.
            ahead = _history_ahead(workspace, history, report) if feedback is not None else None
            try:
                dismiss_early()  # a copy writer or 제출이력 helper started early that the night did not need
                _compose(report, history, cache, rules, settings.result_year)
                if feedback is not None:
                    _write_outputs(workspace, report, rules, history, feedback, ahead)
            finally:
                if ahead is not None:
                    ahead.close()  # not taken (a failure before the master): ended, not left running
            if mail:
                _deliver(workspace, ledger, report, now)
            status = RunStatus.REJECTED if report.exit_code else RunStatus.OK
            # the problems recorded on this run's files: those of its outcomes (no need to read them back)
            problems = sum(o.errors + o.warnings for o in report.outcomes)
            ledger.finish_run(report.run_id, status, report.exit_code, _summary(report), problems)
            log.info("실행 %d 끝: %s", report.run_id, " / ".join(report.summary_lines()[1:2]))
            for line in report.summary_lines()[2:]:  # a scheduled run's console is lost: keep it all here
                log.info("요약 %s", line.strip())
    return report


# --- steps ---


def _remove_stale_temps(outbox: Path) -> None:
    """The hidden `.통합현황_….tmp` a killed run left half-written (named by `write.temp_beside`; kept
    here, not there, so that a night does not import the writer while it still reads): under the
    workspace lock no writer is at work, and on Windows a leading dot does not hide it."""
    for path in outbox.glob(".*.tmp"):
        try:
            path.unlink()
        except OSError:  # pragma: no cover - held open: the next run tries again
            pass


def _compose(
    report: RunReport, history: Sequence[FileRow], cache: dict[str, list[dict[str, Any]]], rules: Rules, year: int
) -> None:
    """Merge the accepted files, compute the policy and track who has reported, into `report`."""
    accepted = _accepted(history)
    sources = [_source(row, cache) for row in accepted]
    # The 요약 shows what changed since the last run: rows superseded by THIS run's files,
    # not every supersession in the history (a rerun with nothing new must show none).
    report.merged = merge(sources, {i for i, row in enumerate(accepted) if row.run_id == report.run_id})
    report.replaced = report.merged.newly_replaced
    report.problems += report.merged.problems
    from .policy import compute  # pandas-free, but only a full run needs it

    report.policy = compute(report.merged.data, rules, year=year)
    # a policy problem that is the file's own warning already (a grade the rules do not know): once
    on_files = {(row.original_path, p.get("sheet", ""), p.get("cell", ""), p.get("code", ""))
                for row in accepted for p in row.problems}
    report.problems += [p for p in report.policy.problems if (p.file, p.sheet, p.cell, p.code) not in on_files]
    from .tracking import compute_tracking, submitted_from

    # Every accepted file with its arrival, not only the merged winners: a report corrected on
    # Monday is judged by the on-time original it replaced.
    submitted = submitted_from(accepted, lambda sha: cache.get(sha, []))
    report.tracking = compute_tracking(report.merged.data, submitted, rules, report.as_of)


def _prewarm() -> Prewarm:
    from .feedback_job import Prewarm

    return Prewarm()


def _start_feedback(
    workspace: Workspace, history: Sequence[FileRow], report: RunReport, prewarm: Prewarm, redo: Collection[int]
) -> FeedbackJob:
    """The annotated copies start now: with several, a child process writes them while this one
    merges and builds the master (never raises: failures become notes).  `redo`: runs that died
    after filing, whose copies were never made."""
    from .feedback_job import start_feedback

    return start_feedback(workspace, history, report.run_id, report.as_of, prewarm, redo)


def _history_ahead(workspace: Workspace, history: Sequence[FileRow], report: RunReport) -> HistoryAhead | None:
    """The master's 제출이력 rows rendered by a helper from now on (write_ahead.py), on a small night
    only: after a big one the copy writer has the other core (measured: a helper then slows the run)."""
    if len(report.outcomes) >= _MANY_FILES:
        return None
    from .write_ahead import start_history_ahead

    return start_history_ahead(workspace.ledger_path, history)


def _write_outputs(
    workspace: Workspace,
    report: RunReport,
    rules: Rules,
    history: Sequence[FileRow],
    feedback: FeedbackJob,
    ahead: HistoryAhead | None = None,
) -> None:
    from .feedback_job import same_paths
    from .master import book_written, roster_books, write_master
    from .write_beside import hand_over

    report.feedback = expected = feedback.expected()  # the copies' paths, for the master's links
    # A helper done with its own job writes the rosters meanwhile (write_beside.py).
    books = roster_books(workspace, report, rules)
    beside = hand_over(books, [ahead, feedback.helper])
    master, master_notes = write_master(workspace, report, rules, history, ahead, feedback.plan)
    report.feedback = feedback.finish()
    roster_notes: list[str] = []
    rosters = [book_written(book, result, roster_notes) for book, result in zip(books, beside.finish())]
    if not same_paths(expected, report.feedback):  # a copy went elsewhere: link where it really is
        log.info("검토본 경로가 예상과 달라 통합현황을 다시 씁니다")
        again, master_notes = write_master(workspace, report, rules, history, ahead, feedback.plan)
        if again != master:  # the first went beside an open master (`_HHMMSS`): not kept with wrong links
            master.unlink(missing_ok=True)
        master = again
    report.notes += report.feedback.notes
    report.outputs += [master, *rosters]
    report.notes += master_notes + roster_notes


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


def _refresh_stale(workspace: Workspace, ledger: Ledger, rules: Rules) -> None:
    """Records validated under other rules or template versions are validated again from the archive."""
    stale = ledger.stale_records(rules.version)
    if not stale:
        return
    from .read import read_sheet  # here: python_calamine is the readers' business on a usual night
    from .validate import validate_sheet
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
    """`ledger.accepted_files()` from the history already read: same rows, same order."""
    return sorted((r for r in history if r.status is FileStatus.ACCEPTED), key=accepted_order)


# `cache` below: `ledger.all_records()`, read after `_recover` and `_refresh_stale`, to which filing adds
# each newly accepted file's records: every accepted file's record set is in it.


def _source(row: FileRow, cache: dict[str, list[dict[str, Any]]]) -> Source:
    # The inbox path, not the bare name: departments send same-named files from their own folders
    # (`세무과/주간실적_2016-03-04.xlsx`), and 원본파일 / policy problems must say which one.
    return Source(row.original_path, row.kind, cache.get(row.sha256, []), row.department)


def _known_projects(ledger: Ledger, cache: dict[str, list[dict[str, Any]]]) -> tuple[set[str], set[str]]:
    """The project names of the accepted results and contact lists, and of the results lists alone."""
    names: set[str] = set()
    results: set[str] = set()
    for row in ledger.accepted_files(kinds=_NAME_KINDS):
        found = [r["project"] for r in cache.get(row.sha256, []) if r.get("project")]
        names.update(found)
        if row.kind == "results":
            results.update(found)
    return names, results


def _process_inbox(
    workspace: Workspace,
    ledger: Ledger,
    rules: Rules,
    report: RunReport,
    now: datetime,
    known: tuple[set[str], set[str]],
    cache: dict[str, list[dict[str, Any]]],
    progress: Progress | None,
    settle_seconds: float,
    prewarm: Prewarm | None = None,
    readers: Readers | None = None,
    unmoved: Collection[str] = (),
) -> None:
    """`unmoved`: files recorded by a killed run that `_recover` could not move yet (left alone)."""
    scan = inbox_mod.scan(workspace.inbox, settle_seconds, now=now.timestamp())
    report.ignored = len(scan.ignored)
    for path in scan.unsettled:
        _defer(report, scan.relative(path), "복사 중일 수 있어 다음 실행에서 처리")
    for path in scan.open_elsewhere:
        _defer(report, scan.relative(path), scan.open_problem(path).message)
    for note in scan.stale_owner_notes():
        report.notes.append(note)
        log.warning(note)

    candidates: list[_Candidate] = []
    for path in scan.ready:
        rel = scan.relative(path)
        if rel in unmoved:
            _defer(report, rel, "지난 실행에서 접수했으나 옮기지 못한 파일이라 다음 실행에서 보관")
            continue
        try:
            opened = inbox_mod.stat_and_sha256(path)
        except OSError:
            _defer(report, rel, "파일을 읽는 중 사라지거나 잠겨 다음 실행에서 처리")
            continue
        if opened is None:
            _defer(report, rel, "파일을 열 수 없어 다음 실행에서 처리")
            continue
        st, sha = opened
        arrived = inbox_mod.arrival_time(path, now, st)
        mtime = datetime.fromtimestamp(st.st_mtime, SEOUL)
        candidates.append(_Candidate(path, rel, sha, st.st_size, mtime, arrived))
    # Arrival order (stable: path order on ties), so that of two identical files in one night the
    # later one — `주간실적 - 복사본.xlsx` sorts before `주간실적.xlsx` by name — is the duplicate.
    candidates.sort(key=lambda c: c.arrived)

    fresh: dict[str, _Candidate] = {}
    recorded = ledger.find_by_hashes([c.sha256 for c in candidates])
    for candidate in candidates:
        prior = recorded.get(candidate.sha256)
        # A rejected file sent again unchanged is read and judged again (the rules may have changed
        # since); its repeats after it are its duplicates.
        if prior is None or prior.status is FileStatus.REJECTED:
            if fresh.setdefault(candidate.sha256, candidate) is candidate and prior is not None:
                candidate.resends = prior

    # Each file is validated as the reader workers return it and filed (in arrival order) as soon as
    # its verdict is final: this process files while the workers read on, instead of after them.
    # Files are filed in chunks: their rows in one transaction (one fsync), then the moves.
    checker = _Checker(rules, *known)
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
        if prewarm is not None:  # enough files for copies: the copy writer starts while we read on
            prewarm.note(report.outcomes)

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

    if not fresh and readers is not None:
        # Nothing to read: readers started early must not read ahead the repeats filed next.
        readers.close()
    # While the next file is still being read, file those whose verdict is final (`idle`).
    paths, hashes = [c.path for c in fresh.values()], list(fresh)
    with closing(_read_each(paths, workspace, lambda: flush(_IDLE_CHUNK), readers, hashes)) as sheets:
        for candidate, (_, sheet) in zip(fresh.values(), sheets):
            checker.check(candidate, sheet)
            file_ready()
    checker.settle()
    file_ready(settled=True)


def _defer(report: RunReport, rel: str, reason: str) -> None:
    report.outcomes.append(FileOutcome(rel, "deferred", reason=reason))
    log.info("대기 %s: %s", rel, reason)


def _read_each(
    paths: Sequence[Path],
    workspace: Workspace,
    idle: Callable[[], None] | None = None,
    readers: Readers | None = None,
    hashes: Sequence[str] | None = None,
) -> Iterator[tuple[Path, SheetData]]:
    """The files read by worker processes, in input order, as they come (`hashes`: their SHA-256,
    so that what a reader read ahead is used only for the same content)."""
    if not paths:
        return
    from .read_workers import read_many  # (not .read: this process never parses a workbook itself)

    workers = workspace.settings.limits.workers or _auto_workers(len(paths))
    yield from read_many(list(paths), _limits(workspace), workers=workers, idle=idle, readers=readers, hashes=hashes)


def _limits(workspace: Workspace) -> Limits:
    from .safety_limits import run_limits

    return run_limits(workspace.settings.limits.max_file_mb, workspace.settings.limits.file_timeout_seconds)


def _early_readers(workspace: Workspace) -> Readers:
    """The readers started now, before the inbox is scanned: their start overlaps the ledger reads and
    the hashing.  As many as `_read_each` will want, judged from a quick count of the inbox's files."""
    from .read_workers import Readers

    wanted = workspace.settings.limits.workers  # at most 8 (config): counting to 100 is enough
    files = count_files(workspace.inbox, _MANY_FILES)
    if wanted:
        count = min(wanted, files)
    else:
        count = _auto_workers(files) if files else 0
    readers = Readers(_limits(workspace), count)
    dismiss_early(READER_BOOT)  # started early (spawn.start_early) but more than this night wants
    return readers




_NAME_KINDS = ("results", "contacts")  # the kinds that bring the project names others must match


class _Checker:
    """Validation with results and contact lists first, as files stream in arrival order.

    A results or contact list is checked against the names known before it, as if the lists came
    first — a contact list against the results lists only: another department's contact list names
    its own project, not this one's (in February, before any results, nothing is checked); any other
    file against the names known so far.  That verdict is already the one it would get once every
    list is read (names are only ever added) unless nothing was known yet or it was warned of an
    unknown project: only those wait, and `settle` checks them again."""

    def __init__(self, rules: Rules, known: set[str], results: set[str] | None = None) -> None:
        from .validate import validate_sheet

        self._validate = validate_sheet
        self.rules, self.known = rules, known
        self.results = set(known) if results is None else results  # the names of the results lists alone
        self.submissions: dict[str, Submission] = {}
        self.final: set[str] = set()
        self._waiting: list[tuple[_Candidate, SheetData]] = []

    def check(self, candidate: _Candidate, sheet: SheetData) -> None:
        known = self.results if sheet.kind is not None and sheet.kind.id == "contacts" else self.known
        submission = self._validate(sheet, self.rules, known, display_name=candidate.rel)
        self.submissions[candidate.sha256] = submission
        if sheet.kind is not None and sheet.kind.id in _NAME_KINDS:
            if submission.accepted and submission.kind_id in _NAME_KINDS:
                names = [r["project"] for r in submission.records if r.get("project")]
                self.known.update(names)
                if submission.kind_id == "results":
                    self.results.update(names)
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


_CHUNK = 200  # files whose rows are committed together; a crash leaves at most these for `_recover`
_IDLE_CHUNK = 128  # filed while waiting for the readers only from this many: each chunk costs an fsync


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

