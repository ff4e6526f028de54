"""The master's 제출이력 rows rendered ahead, in a helper process, while this one works on.

제출이력 has a row for every file ever processed, so it is the sheet that grows with the archive:
at 5,000 files it is a third of the master's cost, and on a night with few new files the
master is most of the night while the second core idles.  Its rows depend on the ledger alone,
so as soon as the night's files are recorded a helper reads them from the ledger and renders
them (`Rendered`: the same bytes `write_rows.stream_rows` would write) while this process
merges, computes the policy and writes the sheets before it.  The writer takes them only when
they are what it would have written (the same rows, first row and style indices, which
`write_format.Styles` fixes); otherwise, and whenever the helper cannot start or fails, the rows
are rendered here as before.  A helper still busy `WAIT_SECONDS` after the writer asks is ended.
Its rows sent, the helper may be handed the rosters to write (write_beside.py).
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from . import spawn as spawning
from .ledger import FileRow, read_history
from .master_history import history_rows, history_sheet
from .spawn import AHEAD_BOOT, AHEAD_ROWS, Errand, adopt, child_output
from .write import WORKBOOK_OPTIONS, SheetSpec, _discard
from .write_format import Styles
from .write_rows import Rendered, render_rows
from .write_table import start_table

log = logging.getLogger("coop_batch")

# Below MIN_ROWS rows the sheet costs less here (~50 µs a row) than a helper's start (~0.1 s of
# the other core, which a small night has to spare, but which a slow disk can make longer).  Above
# MAX_ROWS the rendered rows (~1 KB each) would be held whole, in the helper and here: they are then
# written here, in xlsxwriter's constant memory (a year of one district is ~5,000 files).
MIN_ROWS, MAX_ROWS = AHEAD_ROWS
# A helper not done this long after the writer asks is given up (and ended): the rows then cost
# here what they would have cost anyway (~0.25 s at 5,000) plus this wait, at worst.
WAIT_SECONDS = 2.0


class HistoryAhead(Errand):
    """제출이력's rows, rendered by a helper process from the ledger (`write.RowsAhead`)."""

    def __init__(self, history: Sequence[FileRow], proc: Any) -> None:
        super().__init__(proc)
        self._history = history
        self._taken = False
        self._result: Rendered | None = None

    def take(self) -> Rendered | None:
        if not self._taken:
            self._taken = True
            answered, got = self.answer(WAIT_SECONDS)
            if self.late:
                log.info("제출이력 보조 프로세스가 %.0f초 안에 끝나지 않아 이 프로세스에서 씁니다", WAIT_SECONDS)
            elif not answered:  # it died: say nothing to the user, the rows are written here
                log.info("제출이력 보조 프로세스가 결과 없이 끝났습니다 (종료 코드 %s)", self.proc.returncode)
            elif isinstance(got, str):  # a bug in the helper: the rows are written here all the same
                log.warning("제출이력 보조 프로세스 오류: %s", got)
            self._result = got if isinstance(got, Rendered) else None
        return self._result

    def rest(self, start: int) -> Iterable[Sequence[Any]]:
        return history_rows(self._history[start:])

    def close(self) -> None:
        """Not taken (the master failed or was not written): the helper is ended."""
        if not self._taken:
            self._taken = True
            self.end()


def start_history_ahead(ledger_path: Path, history: Sequence[FileRow]) -> HistoryAhead | None:
    """A helper rendering 제출이력 from the ledger as it is now (the night's files committed), or
    None where rendering it here is as good: a short history (or a huge one), one core."""
    if not MIN_ROWS <= len(history) <= MAX_ROWS or (os.cpu_count() or 1) < 2:
        return None
    try:
        helper = HistoryAhead(history, adopt(AHEAD_BOOT) or spawning.spawn(AHEAD_BOOT))  # started early, or now
    except OSError:
        log.info("제출이력 보조 프로세스를 시작하지 못해 이 프로세스에서 씁니다", exc_info=True)
        return None
    job = (str(ledger_path), len(history), history[-1].id)
    if not helper.send(pickle.dumps(job, pickle.HIGHEST_PROTOCOL), more=True):  # the rosters may follow
        log.info("제출이력 보조 프로세스가 일을 받기 전에 끝나 이 프로세스에서 씁니다")
        helper.end()  # gone before its job (a closed pipe): ended rather than left running
        return None
    return helper


def render_history(ledger_path: Path, count: int, last_id: int) -> Rendered | None:
    """In the helper: 제출이력's rows but the last, when the ledger holds the history the run read."""
    history = read_history(ledger_path)
    if len(history) != count or not history or history[-1].id != last_id:
        return None
    return render_ahead(history_sheet(history))


def render_ahead(spec: SheetSpec) -> Rendered | None:
    """A table's rows but the last, as `write._write_table` streams them into a workbook of the
    writer's options and styles; None where it would not stream them (or has no rows to spare)."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(os.devnull, WORKBOOK_OPTIONS)  # never closed: only its row file is used
    try:
        ws = workbook.add_worksheet()  # (its name plays no part in the rows)
        t = start_table(ws, spec, Styles(workbook))
        if t.renderers is None or t.totals:
            return None
        rows = [*t.head, *t.rows][:-1]
        if not rows:
            return None
        xml = render_rows(spec.name, rows, t.renderers, t.first).encode("utf-8")
        return Rendered(t.first, len(rows), xml, t.counter.truncated, tuple(f._get_xf_index() for f in t.formats))
    finally:
        _discard(workbook)


def _child_main() -> None:
    out = child_output()
    import xlsxwriter.worksheet  # noqa: F401 - now, while the run still imports and reads

    try:
        ledger_path, count, last_id = pickle.load(sys.stdin.buffer)
    except EOFError:
        return
    try:
        result = render_history(Path(ledger_path), count, last_id)
    except Exception as exc:  # the parent writes the rows itself; its log says why
        result = f"{type(exc).__name__}: {exc}"[:300]
    from .write_beside import answer_then_serve

    answer_then_serve(out, result)
