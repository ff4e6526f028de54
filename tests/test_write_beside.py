"""The rosters written by a helper that has done its own job (`write_beside`), and the follow-up job
of a helper process (`spawn.Errand`): the same workbooks as written here, and a helper that fails
costs nothing but the time it took."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from coop_batch import feedback_job, spawn, write_beside
from coop_batch.write import Book, ColumnSpec, SheetSpec, write_book

from test_feedback_job import DEPARTMENTS, jobs, workspace_with_bad_files  # noqa: F401 - a fixture
from test_feedback import run

CREATED = datetime(2016, 3, 25)


def books(folder: Path) -> list[Book]:
    """Two small roster-like workbooks: totals, wrapped Korean text, exact money, dates."""
    columns = [ColumnSpec("부서"), ColumnSpec("사업명", width=30), ColumnSpec("포상금(원)", "money"),
               ColumnSpec("기준일", "date")]
    rows = [["안전치수과", "안전도시 만들기 " * 6, Decimal("1234567"), date(2016, 3, 4)],
            ["세무과", "=SUM(A1:A2)", 250_000, None]]
    reward = SheetSpec("포상금", columns, rows, group="roster", title="포상금 지급내역", total={"포상금(원)": "sum"},
                       fit_rows=True)
    leave = SheetSpec("특별휴가", [ColumnSpec("성명"), ColumnSpec("휴가일수", "int")], [["홍길동", 2]], group="roster")
    return [Book(folder / "포상금지급내역_20160325.xlsx", [reward], CREATED),
            Book(folder / "특별휴가_표창대상자_20160325.xlsx", [leave], CREATED)]


def helper(script: str) -> spawn.Errand:
    """A stand-in child speaking the helpers' protocol: `script` runs with `inp` and `out` (its pipes)."""
    code = "import pickle, sys, time\ninp, out = sys.stdin.buffer, sys.stdout.buffer\n" + textwrap.dedent(script)
    return spawn.Errand(subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE))


def copy_writer_without_copies(tmp_path: Path) -> spawn.Errand:
    """The real copy writer, given a job with no copies (so that it goes on to the follow-up at once)."""
    child = feedback_job._Child()
    job = (tmp_path, tmp_path / "inbox", tmp_path / "반려", [], date(2016, 3, 25))
    assert child.send(pickle.dumps(job), more=True)
    return child


def not_here(book: Book) -> Any:
    raise AssertionError(f"{book.path.name} written by the run's process, not by the helper")


def test_rosters_written_by_a_helper_are_the_bytes_written_here(tmp_path: Path, monkeypatch):
    (tmp_path / "here").mkdir()
    (tmp_path / "beside").mkdir()
    here = [write_book(book) for book in books(tmp_path / "here")]
    monkeypatch.setattr(write_beside, "write_book", not_here)
    child = copy_writer_without_copies(tmp_path)
    rosters = write_beside.hand_over(books(tmp_path / "beside"), [None, child])
    assert rosters.helper is child and not child.takes_more  # its last job: its input is closed
    assert child.answer(30) == (True, ([], [], []))  # its own answer first, as it was
    beside = rosters.finish()
    assert [r.path.parent.name for r in beside] == ["beside", "beside"] and not any(r.fallback for r in beside)
    for a, b in zip(here, beside):
        assert a.path.read_bytes() == b.path.read_bytes() and a.sheets == b.sheets and a.warnings == b.warnings
    assert child.proc.wait(30) == 0


def test_the_answers_are_taken_by_job_whatever_the_order(tmp_path: Path):
    child = helper("""
        for n in range(2):
            job = pickle.load(inp)
            out.write(pickle.dumps(("done", job))); out.flush()
    """)
    assert child.send(pickle.dumps("first"), more=True) and child.takes_more
    assert child.send(pickle.dumps("second")) and not child.takes_more and child.jobs == 2
    assert child.answer(30, job=1) == (True, ("done", "second"))
    assert child.proc.poll() is None or child.proc.returncode == 0
    assert child.answer(30, job=0) == (True, ("done", "first"))
    assert child.proc.wait(30) == 0


def test_a_helper_whose_answers_are_all_taken_gets_no_more_jobs(tmp_path: Path):
    """Taking the last answer owed ends its input: it leaves instead of waiting for a job."""
    child = helper("""
        pickle.load(inp)
        out.write(pickle.dumps("done")); out.flush()
        try:
            pickle.load(inp)
        except EOFError:
            sys.exit(7)
    """)
    assert child.send(pickle.dumps("job"), more=True)
    assert child.answer(30) == (True, "done")
    assert not child.takes_more and child.proc.wait(30) == 7
    rosters = write_beside.hand_over(books(tmp_path), [child])
    assert rosters.helper is None and [r.path for r in rosters.finish()] == [b.path for b in books(tmp_path)]


@pytest.mark.parametrize("script, says", [
    ("pickle.load(inp); out.write(pickle.dumps('own')); out.flush(); pickle.load(inp); sys.exit(3)", "결과 없이"),
    ("pickle.load(inp); out.write(pickle.dumps('own')); out.flush(); pickle.load(inp);"
     " out.write(pickle.dumps('OSError: 디스크가 가득 참')); out.flush()", "오류: OSError"),
    ("pickle.load(inp); out.write(pickle.dumps('own')); out.flush(); pickle.load(inp); time.sleep(60)", "끝나지 않아"),
    ("sys.exit(0)", None),  # gone before its follow-up: nothing handed over
])
def test_a_helper_that_dies_fails_or_hangs_leaves_the_rosters_here(tmp_path: Path, monkeypatch, caplog, script, says):
    monkeypatch.setattr(write_beside, "WAIT_SECONDS", 1.0)
    child = helper(script)
    assert child.send(pickle.dumps("job"), more=True)
    if says is None:
        child.proc.wait(30)
    rosters = write_beside.hand_over(books(tmp_path), [child])
    caplog.set_level("INFO", logger="coop_batch")
    results = rosters.finish()
    assert [r.path for r in results] == [b.path for b in books(tmp_path)] and all(r.path.exists() for r in results)
    if says is not None:
        assert rosters.helper is child and says in caplog.text
        assert child.late == (says == "끝나지 않아") and child.proc.poll() is not None
    else:
        assert rosters.helper is None


def test_a_helper_that_garbles_its_answer_and_runs_on_is_ended_not_waited_for():
    child = helper("""
        out.write(b"not a pickle at all"); out.flush()
        time.sleep(60)
    """)
    start = time.monotonic()
    assert child.send(pickle.dumps("job")) and child.answer(30) == (False, None)
    assert time.monotonic() - start < 10 and child.proc.returncode is not None and not child.late


def test_serve_answers_nothing_at_the_end_of_its_input():
    import io

    out = io.BytesIO()
    write_beside.serve(io.BytesIO(b""), out)
    assert out.getvalue() == b""


def test_on_a_night_with_copies_the_copy_writer_writes_the_rosters(tmp_path, rules, jobs, monkeypatch):  # noqa: F811
    handed: list[write_beside.Rosters] = []
    real = write_beside.hand_over

    def spy(*args: Any) -> write_beside.Rosters:
        handed.append(real(*args))
        return handed[-1]

    monkeypatch.setattr(write_beside, "hand_over", spy)
    monkeypatch.setattr(write_beside, "write_book", not_here)
    ws = workspace_with_bad_files(tmp_path / "ws", rules)
    report = run(ws)
    assert jobs[0].parallel and handed[0].helper is jobs[0]._child
    assert len(report.feedback.copies) == len(DEPARTMENTS)
    rosters = [p for p in report.outputs if p.name.startswith(("포상금지급내역_", "특별휴가_"))]
    assert len(rosters) == 2
    # The same bytes as this process writes from the same books.
    (tmp_path / "here").mkdir()
    for book in handed[0].books:
        here = write_book(Book(tmp_path / "here" / book.path.name, book.sheets, book.created))
        assert here.path.read_bytes() == book.path.read_bytes()
