"""The night's rosters written by a helper process that has done its own job.

Once the policy is known the run writes the master (~0.2 s) and then the two roster workbooks
(포상금지급내역, 특별휴가_표창대상자: ~0.04 s), all on one core.  A helper already running beside it
— the 제출이력 renderer on a small night (write_ahead), the copy writer on a big one (feedback_job)
— is idle on the other core by then, its own answer sent.  So the rosters are handed to it before
the master is written, as its follow-up job (`spawn.Errand`), and it writes them with the same
function as this process would (`write.write_book`) while this one writes the master.  A helper
that cannot take them, fails, dies or is late leaves them to this process, as before.
"""

from __future__ import annotations

import logging
import pickle
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

from .spawn import Errand, answer_parent, leave_now

if TYPE_CHECKING:  # pragma: no cover
    from .write import Book, WriteResult

log = logging.getLogger("coop_batch")

# Two small workbooks take a helper well under a second; a helper still at them after this is
# taken for hung (and ended), and they are written here.
WAIT_SECONDS = 30.0


class Rosters:
    """The roster workbooks, written beside (`helper`) or here (`finish`)."""

    def __init__(self, books: list[Book], helper: Errand | None = None) -> None:
        self.books = books
        self.helper = helper
        self._job = helper.jobs - 1 if helper is not None else -1  # the answer that is ours

    def finish(self) -> list[WriteResult]:
        """What writing them gave, once written (here, when the helper did not write them)."""
        results = self._from_helper() if self.helper is not None else None
        return results if results is not None else [write_book(book) for book in self.books]

    def _from_helper(self) -> list[WriteResult] | None:
        assert self.helper is not None
        answered, got = self.helper.answer(WAIT_SECONDS, self._job)
        if answered and isinstance(got, list) and len(got) == len(self.books):
            return got
        if self.helper.late:
            log.info("명단 파일을 쓰는 보조 프로세스가 %.0f초 안에 끝나지 않아 이 프로세스에서 씁니다", WAIT_SECONDS)
        elif isinstance(got, str):  # a bug in the helper: written here all the same
            log.warning("명단 파일 보조 프로세스 오류: %s", got)
        else:  # it died (or never got to them): say nothing to the user, they are written here
            log.info("명단 파일 보조 프로세스가 결과 없이 끝났습니다 (종료 코드 %s)", self.helper.proc.returncode)
        return None


def hand_over(books: list[Book], helpers: Sequence[Errand | None]) -> Rosters:
    """`books` sent to the first of `helpers` that still takes a job (its last); else written here."""
    for helper in helpers:
        if helper is not None and helper.takes_more and helper.send(pickle.dumps(books, pickle.HIGHEST_PROTOCOL)):
            return Rosters(books, helper)
    return Rosters(books)


def write_book(book: Book) -> WriteResult:
    """`write.write_book`, the writer loaded only now (a helper handed no rosters never loads it)."""
    from .write import write_book as write

    return write(book)


def answer_then_serve(out: BinaryIO, answer: Any) -> NoReturn:
    """In a helper (the copy writer, the 제출이력 renderer): its answer to its own job, then the rosters
    if the parent hands them over next (`serve`); then it leaves, without the interpreter's teardown."""
    if answer_parent(out, answer):
        serve(sys.stdin.buffer, out)
    leave_now(0)


def serve(inp: BinaryIO, out: BinaryIO) -> None:
    """In a helper, after its own answer: the books sent next, written and answered for; nothing at
    the end of its input (no follow-up)."""
    try:
        books: list[Book] = pickle.load(inp)
    except EOFError:
        return
    answer: Any
    try:
        answer = [write_book(book) for book in books]
    except Exception as exc:  # the parent writes them itself; its log says why
        answer = f"{type(exc).__name__}: {exc}"[:300]
    answer_parent(out, answer)
