"""Filing recorded files: the chunked ledger commits, the moves, and the recovery of a killed run's moves.

A file's ledger row is committed before the file is moved (the rows of a chunk in one transaction,
then their moves); `_recover` finishes any move a killed run left undone.  See run.py.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from . import inbox as inbox_mod
from .config import Workspace
from .errors import Problem, os_detail
from .ledger import FileEntry, FileRow, FileStatus, Ledger
from .records import Submission
from .rules import Rules
from .run_report import FileOutcome, RunReport

log = logging.getLogger("coop_batch")


@dataclass
class _Candidate:
    path: Path
    rel: str
    sha256: str
    size: int
    mtime: datetime
    arrived: datetime
    resends: FileRow | None = None  # the rejected file whose content this one repeats: judged afresh


def _recover(workspace: Workspace, ledger: Ledger) -> tuple[list[str], set[str]]:
    """Finish the moves a killed run left undone (ledger row committed, file not yet filed): notes
    for the report, and the inbox paths of the files that still cannot be moved (recorded already:
    this run leaves them where they are, for the next run's recovery)."""
    notes: list[str] = []
    pending: set[str] = set()
    unfiled = ledger.unfiled()
    if any((workspace.inbox / row.original_path).exists() for row in unfiled):
        from .spawn import READER_BOOT, dismiss_early

        # Readers started early may be reading these very files ahead (spawn.start_early), and on
        # Windows a file open in one cannot be moved: they are ended first (the run starts others).
        dismiss_early(READER_BOOT, wait=5.0)
    for row in unfiled:
        src = workspace.inbox / row.original_path
        dest_dir = _destination(workspace, row.status, row.first_seen)
        target: Path | None = None
        try:
            if src.is_file() and inbox_mod.sha256_of(src) == row.sha256:
                target = inbox_mod.file_into(src, dest_dir, row.sha256)
            else:
                target = inbox_mod.find_filed(dest_dir, row.name, row.sha256)
        except OSError as exc:
            message = (f"지난 실행이 중단되어 옮기지 못한 {row.original_path}을(를) 이번에도 옮기지 못했습니다"
                       f"({os_detail(exc)}). 다음 실행에서 다시 보관합니다.")
            notes.append(message)
            log.warning(message)
            pending.add(row.original_path)
            continue
        if target is None:
            log.error("대장에 있는 %s 파일을 제출 폴더·보관함 어디에서도 찾지 못했습니다", row.original_path)
            continue
        if row.status is FileStatus.REJECTED:
            inbox_mod.write_note(inbox_mod.note_path(target), row.name, row.problem_objects())
        ledger.mark_filed(row.id, target.relative_to(workspace.root))
        notes.append(f"지난 실행이 중단되어 옮기지 못한 {row.original_path}을(를) 마저 보관했습니다.")
        log.warning("복구: %s → %s", row.original_path, target)
    return notes, pending


def _destination(workspace: Workspace, status: FileStatus, when: datetime) -> Path:
    if status is FileStatus.REJECTED:
        return workspace.quarantine
    return inbox_mod.archive_dir(workspace.archive, when)


def _entry(report: RunReport, candidate: _Candidate, now: datetime, status: FileStatus, **extra: Any) -> FileEntry:
    return FileEntry(
        run_id=report.run_id,
        sha256=candidate.sha256,
        original_path=candidate.rel,
        size=candidate.size,
        mtime=candidate.mtime,
        first_seen=now,
        arrived_at=candidate.arrived,  # inbox.arrival_time already caps it at `now`
        status=status,
        **extra,
    )


@dataclass
class _Filing:
    """A recorded file on its way to the archive or the quarantine."""

    candidate: _Candidate
    file_id: int  # 0 until its row is written
    dest_dir: Path
    outcome: FileOutcome  # `filed` still empty
    problems: Sequence[Problem] = ()  # the file's own, logged
    note: tuple[str, Sequence[Problem]] | None = None  # the quarantine note beside it: header, problems


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
    archive = _destination(workspace, FileStatus.ACCEPTED, now)  # duplicates are archived too
    quarantine = _destination(workspace, FileStatus.REJECTED, now)
    with ledger.transaction():
        # What the chunk's contents repeat, in one query instead of one per file.  The rows are
        # written by one `record_files` (no savepoint per file); a file repeating one recorded in
        # this very chunk needs that row's id first, so the rows up to it are written then (rare).
        priors = ledger.find_by_hashes([c.sha256 for c in chunk])
        batch: list[tuple[FileEntry, list[dict[str, Any]] | None]] = []
        unwritten: list[_Filing] = []
        in_chunk: set[str] = set()

        def write() -> None:
            for filing, file_id in zip(unwritten, ledger.record_files(batch)):
                filing.file_id = file_id
            batch.clear()
            unwritten.clear()

        for candidate in chunk:
            sha = candidate.sha256
            prior = priors.get(sha)
            if prior is None and sha in in_chunk:
                write()
                prior = priors[sha] = ledger.find_by_hash(sha)
            if prior is not None and candidate.resends is None:
                entry, records, filing = _record_duplicate(archive, quarantine, report, candidate, prior, now)
            else:
                submission = submissions[sha]
                if candidate.resends is not None and not submission.accepted:
                    submission.problems.append(_resent_problem(candidate))
                dest = archive if submission.accepted else quarantine
                entry, records, filing = _record_submission(dest, rules, report, candidate, submission, now)
                in_chunk.add(sha)
                if submission.accepted:
                    cache[sha] = submission.records
            batch.append((entry, records))
            unwritten.append(filing)
            filings.append(filing)
        write()
    moved: list[tuple[int, str]] = []
    folders: dict[Path, tuple[str, str]] = {}
    for filing in filings:
        outcome = filing.outcome
        target = _move(report, filing)
        if target is not None:
            filed = _filed_path(workspace.root, filing.dest_dir, target, folders)
            moved.append((filing.file_id, filed))
            outcome = replace(outcome, filed=filed)
        report.outcomes.append(outcome)
        _log_filed(outcome)
        for problem in filing.problems:
            log.info("  %s", problem.line())
    ledger.mark_filed_many(moved)
    return [f.candidate for f in filings]


_Recorded = tuple[FileEntry, "list[dict[str, Any]] | None", _Filing]  # the row, its records, the filing


def _record_duplicate(
    archive: Path, quarantine: Path, report: RunReport, candidate: _Candidate, prior: FileRow, now: datetime
) -> _Recorded:
    """Filed beside its original: a repeat of a rejected file goes to the quarantine (not archived as
    if accepted), with a note giving the original's reasons."""
    original = prior.duplicate_of or prior.id
    entry = _entry(report, candidate, now, FileStatus.DUPLICATE, kind=prior.kind, department=prior.department,
                   duplicate_of=original)
    if prior.status is not FileStatus.REJECTED:
        outcome = FileOutcome(candidate.rel, "duplicate", prior.kind, prior.department,
                              reason=f"{prior.original_path}와 같은 내용")
        return entry, None, _Filing(candidate, 0, archive, outcome)
    reason = f"{prior.original_path}와 같은 내용(반려된 파일)"
    outcome = FileOutcome(candidate.rel, "duplicate", prior.kind, prior.department, reason=reason)
    header = (f"이 파일은 {reason}이라 접수되지 않았습니다. 아래 반려 사유를 고친 뒤 파일을 다시 제출 폴더(inbox) "
              "폴더에 넣어 주세요.")
    return entry, None, _Filing(candidate, 0, quarantine, outcome, note=(header, prior.problem_objects()))


def _resent_problem(candidate: _Candidate) -> Problem:
    """Said on a rejected file sent again unchanged (it is judged again: the rules may have changed)."""
    prior = candidate.resends
    assert prior is not None
    return Problem("resent-rejected", file=candidate.rel,
                   params={"prior": prior.original_path, "date": prior.first_seen.date().isoformat()})


def _record_submission(
    dest_dir: Path,
    rules: Rules,
    report: RunReport,
    candidate: _Candidate,
    submission: Submission,
    now: datetime,
) -> _Recorded:
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
    errors = sum(p.is_error for p in submission.problems)
    outcome = FileOutcome(
        candidate.rel, status.value, submission.kind_id, submission.department, errors,
        len(submission.problems) - errors,
    )
    note = None if accepted else (inbox_mod.NOTE_HEADER, submission.problems)
    return entry, submission.records if accepted else None, _Filing(
        candidate, 0, dest_dir, outcome, submission.problems, note
    )


def _log_filed(outcome: FileOutcome) -> None:
    """The log line of a filed file (`outcome.filed`: where it went, empty when it could not move)."""
    if outcome.status == "duplicate":
        log.info("중복 %s: %s → %s", outcome.path, outcome.reason, outcome.filed)
    else:
        log.info("%s %s: 서식 %s, 부서 %s, 오류 %d, 경고 %d → %s", "접수" if outcome.status == "accepted" else "반려",
                 outcome.path, outcome.kind or "?", outcome.department or "?", outcome.errors, outcome.warnings,
                 outcome.filed)


def _filed_path(root: Path, dest_dir: Path, target: Path, folders: dict[Path, tuple[str, str]]) -> str:
    """`target.relative_to(root).as_posix()`, by text for a file right in `dest_dir` (as `file_into`
    leaves it): a `relative_to` per file costs 4 µs, one per folder and chunk is enough."""
    known = folders.get(dest_dir)
    if known is None:
        relative = dest_dir.relative_to(root).as_posix()
        known = folders[dest_dir] = (str(dest_dir) + os.sep, relative + "/" if relative != "." else "")
    text = str(target)
    if known[1] and text.startswith(known[0]) and os.sep not in text[len(known[0]):]:
        name = text[len(known[0]):]
        if name and (os.altsep is None or os.altsep not in name):
            return known[1] + name
    return target.relative_to(root).as_posix()


def _move(report: RunReport, filing: _Filing) -> Path | None:
    """File a recorded submission.  A file locked between scan and move (Windows) stays in the inbox
    with its ledger row unfiled; the next run's `_recover` finishes the move."""
    candidate = filing.candidate
    try:
        target = inbox_mod.file_into(candidate.path, filing.dest_dir, candidate.sha256)
    except FileNotFoundError:  # taken out of the inbox after it was read: nothing left to file
        message = (f"{candidate.rel}이(가) 읽은 뒤 제출 폴더에서 없어져 보관함에 넣지 못했습니다(접수 기록은 대장에 "
                   "남음). 원본이 필요하면 제출한 부서에 다시 받아 주세요.")
        report.notes.append(message)
        log.warning(message)
        return None
    except OSError as exc:
        message = f"{candidate.rel}을(를) 옮기지 못했습니다({os_detail(exc)}). 다음 실행에서 마저 보관합니다."
        report.notes.append(message)
        log.warning(message)
        return None
    if filing.note is not None:  # the quarantine note beside it
        header, problems = filing.note
        inbox_mod.write_note(inbox_mod.note_path(target), candidate.rel, list(problems), header)
    return target
