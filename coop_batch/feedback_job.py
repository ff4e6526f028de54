"""The night's annotated copies, written beside the master workbook when there are several.

A copy costs ~5 ms written directly (feedback_patch.py), ~25 ms and openpyxl's 0.2 s import when
openpyxl writes it (a workbook in a shape the direct path does not edit), and a bad night can
bring hundreds.  With copies due (and two cores), a child process writes them while this
process merges, computes the policy and builds the master (and then the rosters, when they are
handed to it: write_beside.py).  The master links to the paths
`feedback.expected_copy` predicts; when the copies ended up elsewhere (a copy open in Excel, a
workbook that could not be saved) the caller writes the master again with the real paths.

Nothing here may stop the run: a child that dies or hangs leaves Korean notes for its copies,
and a child that cannot start means the copies are written here, as before.
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
from datetime import date
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Collection, Sequence

from .feedback import (
    FEEDBACK_DIR, FeedbackResult, Plan, copies_due, expected_copy, gets_copy, plan_copies, remove_cleared, write_copy,
)
from .spawn import COPIER_BOOT as _BOOT
from .spawn import Errand, adopt, child_output, spawn

if TYPE_CHECKING:  # pragma: no cover
    from .config import Workspace
    from .ledger import FileRow
    from .run_report import FileOutcome

log = logging.getLogger("coop_batch")

# One copy is enough: the child's start and the copy then run beside the master instead of before
# it.  With one core there is nothing beside: the copies are written here, in series.
PARALLEL_MIN = 1 if (os.cpu_count() or 1) >= 2 else 10**9
_SECONDS_BASE, _SECONDS_PER_COPY = 60.0, 10.0  # a child still busy after this is taken for hung

Due = list[tuple["FileRow", PurePosixPath]]


class _Child(Errand):
    """A copy-writing child process.  It imports the copy writer as soon as it starts, then waits for
    its job: started early (`Prewarm`), its start-up overlaps the reading and filing."""

    def __init__(self) -> None:
        super().__init__(adopt(_BOOT) or spawn(_BOOT))  # one started early (spawn.start_early), or a new one

    def dismiss(self) -> None:
        """Not needed after all: end of input, and the child exits without a job."""
        self.send(b"")


class Prewarm:
    """Starts the child once this run has filed `PARALLEL_MIN` files that will get a copy."""

    def __init__(self) -> None:
        self.child: _Child | None = None
        self._seen = self._due = 0
        self._failed = False  # a child could not start: not tried again this run

    def note(self, outcomes: Sequence[FileOutcome]) -> None:
        """Look at the outcomes filed since the last call (`outcomes` only grows)."""
        for outcome in outcomes[self._seen:]:
            self._due += gets_copy(outcome.status, outcome.errors + outcome.warnings)
        self._seen = len(outcomes)
        if self.child is None and not self._failed and self._due >= PARALLEL_MIN:
            try:
                self.child = _Child()
            except OSError:
                log.warning("검토본 보조 프로세스를 시작하지 못해 이 프로세스에서 만듭니다", exc_info=True)
                self._failed = True

    def take(self) -> _Child | None:
        child, self.child = self.child, None
        return child


class FeedbackJob:
    """`expected()` is what the master links to now; `finish()` the copies as written."""

    def __init__(
        self, workspace: Workspace, due: Due, as_of: date, result: FeedbackResult, plan: Plan | None = None
    ) -> None:
        self.plan = plan  # where every current copy goes (`feedback.plan_copies`): planned once a night
        self._inbox, self._due, self._as_of = workspace.inbox, due, as_of
        self._result = result  # in-process: filled by the first expected(); child: filled by finish()
        self._expected: FeedbackResult | None = None
        self._child: _Child | None = None
        self._done = not due

    @property
    def parallel(self) -> bool:
        return self._child is not None

    @property
    def helper(self) -> _Child | None:
        """The child writing the copies, which may be handed the rosters next (write_beside.py)."""
        return self._child if not self._done else None

    def _give(self, child: _Child) -> None:
        job = (self._result.root, self._inbox, self._result.folder, self._due, self._as_of)
        child.send(pickle.dumps(job, pickle.HIGHEST_PROTOCOL), more=True)
        self._child = child

    def expected(self) -> FeedbackResult:
        if self._child is None:
            self._write_here()
            return self._result
        if self._expected is None:
            self._expected = FeedbackResult(self._result.root, self._result.folder)
            for row, rel in self._due:
                try:
                    expected_copy(self._expected, self._inbox, row, rel)
                except OSError:  # its source vanished: the child will say what became of it
                    continue
        return self._expected

    def finish(self) -> FeedbackResult:
        if self._child is None:
            self._write_here()
            return self._result
        if not self._done:
            self._done = True
            self._collect(self._child)
        return self._result

    def _write_here(self) -> None:
        if not self._done:
            self._done = True
            for row, rel in self._due:
                write_copy(self._result, self._inbox, row, rel, self._as_of)

    def _collect(self, child: _Child) -> None:
        answered, got = child.answer(_SECONDS_BASE + _SECONDS_PER_COPY * len(self._due))
        if answered:
            copies, notes, records = got
        else:  # killed, crashed, or out of memory: say so for every copy it did not report
            log.error("검토본을 만드는 보조 프로세스가 비정상 종료했습니다 (종료 코드 %s)", child.proc.returncode)
            copies, notes, records = [], [], []
            self._result.notes.append("부서별 검토본 일부를 만들지 못했습니다. 로그를 확인한 뒤 다음 실행에서 다시 만들어집니다.")
        for level, message in records:
            log.log(level, "%s", message)
        self._result.copies += copies
        self._result.notes += notes


def start_feedback(
    workspace: Workspace, history: Sequence[FileRow], run_id: int, as_of: date, prewarm: Prewarm | None = None,
    redo: Collection[int] = (),
) -> FeedbackJob:
    """Plan the run's copies and, when there are several, hand them to a child process (the one
    `prewarm` started, else a new one).  The plan is the job's (`plan`), for the master's links."""
    result = FeedbackResult(workspace.root, workspace.outbox / FEEDBACK_DIR)
    child = prewarm.take() if prewarm is not None else None
    plan: Plan = {}
    try:
        plan = plan_copies(history)
        due = copies_due(history, run_id, plan, redo)  # and those of runs that died after filing
        remove_cleared(result.folder, plan, run_id, redo)  # fixed and accepted: their red copies would mislead
    except Exception:  # a bug here must not cost the night's master workbook
        log.exception("검토본을 만들 파일을 정하지 못했습니다")
        result.notes.append("부서별 검토본(반려 폴더)을 만들지 못했습니다. 로그를 확인해 주세요.")
        due = []
    job = FeedbackJob(workspace, due, as_of, result, plan)
    if len(due) < PARALLEL_MIN:
        if child is not None:
            child.dismiss()
        return job
    try:
        job._give(child or _Child())
    except OSError:
        log.warning("검토본 보조 프로세스를 시작하지 못해 이 프로세스에서 만듭니다", exc_info=True)
    return job


def same_paths(a: FeedbackResult, b: FeedbackResult) -> bool:
    """Do two results link the same copies (what the master shows)?"""
    return {c.file_id: c.path for c in a.copies} == {c.file_id: c.path for c in b.copies}


class _Collect(logging.Handler):
    """The child's log lines, sent back to the parent's log (the child has no log file of its own)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.records.append((record.levelno, text))


def _child_main() -> None:
    out = child_output()
    # openpyxl (for a copy the direct path does not edit) imports numpy when it can (a tenth of a
    # second) only to accept numpy numbers; the copies hold what openpyxl itself read from the files.
    sys.modules.setdefault("numpy", None)  # type: ignore[arg-type]
    from . import feedback_patch  # noqa: F401 - now, while the parent still reads and files

    try:
        root, inbox, folder, due, as_of = pickle.load(sys.stdin.buffer)
    except EOFError:  # dismissed: no copies for this child after all
        return
    collect = _Collect()
    logger = logging.getLogger("coop_batch")
    logger.addHandler(collect)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    result = FeedbackResult(root, folder)
    for row, rel in due:
        write_copy(result, inbox, row, rel, as_of)
    from .write_beside import answer_then_serve

    # (A parent gone or no longer waiting finds the copies on disk all the same.)
    answer_then_serve(out, (result.copies, result.notes, collect.records))
