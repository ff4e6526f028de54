"""The master's 제출이력 rows rendered ahead by a helper process (`write_ahead`): taken only when they
are the bytes this process would write, and a helper that fails, hangs or is not needed costs
nothing but its rows being written here."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from coop_batch import spawn, write, write_ahead, write_beside
from coop_batch import write_format as wf
from coop_batch.config import SEOUL, init_workspace, open_workspace
from coop_batch.ledger import Ledger, read_history
from coop_batch.master_history import history_sheet
from coop_batch.run import run_batch
from coop_batch.schema import KIND_BY_ID
from coop_batch.templates import write_template
from coop_batch.write import Book, ColumnSpec, SheetSpec, write_book, write_workbook
from coop_batch.write_ahead import (
    HistoryAhead,
    render_ahead,
    render_history,
    start_history_ahead,
)
from coop_batch.write_rows import Rendered
from tests.test_write import HUGE, ODD_COLUMNS, ROWS, cached, same_books

AS_OF = datetime(2016, 3, 25)


class InProcess:
    """`write.RowsAhead` rendering in this process what the helper would: `render_ahead` of the same
    sheet in a workbook of its own.  `change` alters what it hands over."""

    def __init__(self, make_spec, change=None) -> None:
        self.make_spec, self.change, self.rows = make_spec, change, list(make_spec().rows)

    def take(self) -> Rendered | None:
        got = render_ahead(self.make_spec())
        return self.change(got) if self.change and got else got

    def rest(self, start: int):
        return iter(self.rows[start:])


def used_ahead(monkeypatch) -> list[Rendered | None]:
    seen: list[Rendered | None] = []
    real = write.rendered_ahead

    def spy(*args):
        seen.append(real(*args))
        return seen[-1]

    monkeypatch.setattr(write, "rendered_ahead", spy)
    return seen


def write_both(tmp: Path, monkeypatch, sheets, ahead_for: str, change=None):
    """The workbook with `ahead_for`'s rows rendered ahead, and without; both must be the same bytes."""
    seen = used_ahead(monkeypatch)

    def ahead(spec: SheetSpec) -> SheetSpec:
        rows = list(spec.rows)  # (a generator is read once: each spec gets its own)

        def make() -> SheetSpec:
            return dataclasses.replace(spec, rows=iter(rows))

        return dataclasses.replace(make(), ahead=InProcess(make, change))

    with_ahead = [ahead(s) if s.name == ahead_for else s for s in sheets()]
    a = write_workbook(tmp / "ahead.xlsx", with_ahead, created=AS_OF)
    taken = [got for got in seen]  # (the sheets without `ahead` are asked too, and answer None)
    b = write_workbook(tmp / "here.xlsx", sheets(), created=AS_OF)
    same_books(a.path, b.path)
    assert (a.sheets, a.warnings) == (b.sheets, b.warnings)
    return taken, a


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=ROWS, rows=ROWS)
def test_rows_rendered_ahead_are_the_bytes_written_here(tmp_path_factory, monkeypatch, before, rows):
    tmp = tmp_path_factory.mktemp("ahead")

    def sheets() -> list[SheetSpec]:  # a sheet before it uses formats first, in another order
        return [SheetSpec("앞", ODD_COLUMNS[::-1], [list(r)[::-1] for r in before], title="제목"),
                SheetSpec("뒤", ODD_COLUMNS, [list(r) for r in rows], subtitle="부제", note="비고")]

    seen, _ = write_both(tmp, monkeypatch, sheets, "뒤")
    assert (seen[-1] is not None) == (len(rows) >= 2)  # taken whenever there is a row to spare


def test_odd_text_cut_text_and_many_rows_ahead(tmp_path: Path, monkeypatch):
    many = [[i, f"부서{i % 7}", date(2016, 1, 1) + timedelta(days=i), "<r>a & b</r>" if i % 50 == 0 else "Y"]
            for i in range(600)]
    cols = [ColumnSpec("번호", "int"), ColumnSpec("부서"), ColumnSpec("날짜", "date"), ColumnSpec("여부", "yn")]
    many[10][1], many[11][1] = HUGE, "가" * 40_000

    def sheets() -> list[SheetSpec]:
        return [SheetSpec("표", cols, iter([list(r) for r in many]), title="제목")]

    seen, result = write_both(tmp_path, monkeypatch, sheets, "표")
    assert seen[-1] is not None and seen[-1].rows == 599 and seen[-1].truncated == 2
    assert any("2개는 잘라서" in w for w in result.warnings) and result.sheets["표"] == 600


@pytest.mark.parametrize("change", [
    lambda r: dataclasses.replace(r, formats=(99,) + r.formats[1:]),  # another workbook's style numbers
    lambda r: dataclasses.replace(r, first=r.first + 1),  # laid out under another title block
    lambda r: dataclasses.replace(r, rows=0),
    lambda r: None,
], ids=["styles", "first-row", "no-rows", "nothing"])
def test_rows_that_are_not_what_would_be_written_are_written_here(tmp_path: Path, monkeypatch, change):
    rows = [[i, f"{i}번", date(2016, 1, 1)] for i in range(20)]
    cols = [ColumnSpec("n", "int"), ColumnSpec("t"), ColumnSpec("d", "date")]
    seen, _ = write_both(tmp_path, monkeypatch, lambda: [SheetSpec("s", cols, [list(r) for r in rows])], "s", change)
    assert seen == [None]


def test_a_table_with_totals_is_never_taken_from_ahead(tmp_path: Path, monkeypatch):
    cols = [ColumnSpec("n", "int"), ColumnSpec("t")]

    def sheets() -> list[SheetSpec]:
        return [SheetSpec("s", cols, [[i, "x"] for i in range(5)], total={"n": "sum"})]

    seen, _ = write_both(tmp_path, monkeypatch, sheets, "s")
    assert seen == [None]


def test_the_rows_taken_are_the_helpers_bytes(tmp_path: Path, monkeypatch):
    """A canary: rows changed on their way from the helper show in the workbook (they are spliced
    in, not written here again)."""
    rows = [[i, f"{i}번"] for i in range(1, 6)]
    cols = [ColumnSpec("n", "int"), ColumnSpec("t")]
    spec = SheetSpec("s", cols, rows)
    changed = InProcess(lambda: SheetSpec("s", cols, iter(rows)),
                        lambda r: dataclasses.replace(r, xml=r.xml.replace(b"<v>2</v>", b"<v>9</v>")))
    book = write_workbook(tmp_path / "a.xlsx", [dataclasses.replace(spec, ahead=changed)], created=AS_OF)
    assert [r[0] for r in cached(book.path, "s")[1:]] == [1, 9, 3, 4, 5]


class EveryRowAhead(InProcess):
    """Every row rendered ahead, none left to write here (`rest` is empty)."""

    def take(self) -> Rendered | None:
        spec = self.make_spec()
        return render_ahead(dataclasses.replace(spec, rows=[*spec.rows, []]))


def test_rows_all_rendered_ahead_end_the_table_as_written_here(tmp_path: Path, monkeypatch):
    rows = [[i, f"{i}번"] for i in range(6)]
    cols = [ColumnSpec("n", "int"), ColumnSpec("t")]

    def make() -> SheetSpec:
        return SheetSpec("s", cols, iter(rows), note="비고")

    seen = used_ahead(monkeypatch)
    a = write_workbook(tmp_path / "a.xlsx", [dataclasses.replace(make(), ahead=EveryRowAhead(make))], created=AS_OF)
    assert seen[0] is not None and seen[0].rows == 6
    b = write_workbook(tmp_path / "b.xlsx", [make()], created=AS_OF)
    same_books(a.path, b.path)
    assert a.sheets == b.sheets == {"s": 6}


def test_a_row_longer_than_its_columns_is_a_bug_ahead_too():
    with pytest.raises(ValueError, match="3 values for 2 columns"):
        render_ahead(SheetSpec("s", [ColumnSpec("a"), ColumnSpec("b")], [["x", "y"], [1, 2, 3], ["z", "w"]]))


# --- the helper process and the ledger ------------------------------------------------------------


def weekly_file(folder: Path, rules, i: int) -> Path:
    rows = [{"report_date": date(2016, 3, 4) + timedelta(days=7 * (i % 3)), "project": "안전도시 만들기",
             "department": "안전치수과", "progress": f"교육 {i}회"}]
    return write_template(KIND_BY_ID["weekly"], rules, folder / f"주간실적_{i}.xlsx", rows)


@pytest.fixture
def filed(tmp_path: Path, rules):
    """A workspace with a first night of twelve files (one not a workbook) behind it."""
    ws = init_workspace(tmp_path / "ws", policy_year=2016, evaluation_year=2015)
    for i in range(11):
        weekly_file(ws.inbox, rules, i)
    (ws.inbox / "메모.xlsx").write_bytes(b"not a workbook")
    run_batch(ws, as_of=date(2016, 3, 25), now=datetime(2016, 3, 25, 22, 0, tzinfo=SEOUL), settle_seconds=0)
    return ws


def not_here(book: Book) -> None:
    raise AssertionError(f"{book.path.name} written by the run's process, not by the helper")


def test_the_helper_renders_the_ledgers_history_and_the_master_is_the_same(filed, rules, monkeypatch, started):
    seen = used_ahead(monkeypatch)
    books, taken, rosters = {}, {}, {}
    for name, min_rows in (("ahead", 1), ("here", 10**9)):
        root = filed.root.parent / name
        shutil.copytree(filed.root, root)
        ws = open_workspace(root)
        weekly_file(ws.inbox, rules, 99)
        monkeypatch.setattr(write_ahead, "MIN_ROWS", min_rows)
        # The helper, its rows sent, writes the rosters too (write_beside): none written here then.
        monkeypatch.setattr(write_beside, "write_book", not_here if name == "ahead" else write_book)
        report = run_batch(ws, as_of=date(2016, 3, 25), now=datetime(2016, 3, 26, 22, 0, tzinfo=SEOUL), settle_seconds=0)
        books[name] = next(p for p in report.outputs if p.name.startswith("통합현황"))
        rosters[name] = [p.read_bytes() for p in report.outputs[1:]]
        taken[name] = [r.rows for r in seen if r is not None]
        seen.clear()
    assert taken == {"ahead": [12], "here": []}  # 13 files: 12 rendered by the helper, the last here
    assert [p.args[-1] for p in started] == [spawn.AHEAD_BOOT]
    same_books(books["ahead"], books["here"])
    assert len(rosters["ahead"]) == 2 and rosters["ahead"] == rosters["here"]


def test_a_run_that_fails_before_the_master_ends_its_helper(filed, rules, monkeypatch, started):
    import coop_batch.policy

    weekly_file(filed.inbox, rules, 99)
    monkeypatch.setattr(write_ahead, "MIN_ROWS", 1)
    monkeypatch.setattr(coop_batch.policy, "compute", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        run_batch(filed, as_of=date(2016, 3, 25), now=datetime(2016, 3, 26, 22, 0, tzinfo=SEOUL), settle_seconds=0)
    assert [p.args[-1] for p in started] == [spawn.AHEAD_BOOT]
    assert started[0].wait(5) is not None and started[0] in spawn._sent_away  # ended, reaped, and known at exit


def test_render_history_refuses_a_ledger_that_is_not_the_runs(filed):
    history = read_history(filed.ledger_path)
    assert len(history) == 12
    got = render_history(filed.ledger_path, 12, history[-1].id)
    assert got is not None and got.rows == 11
    assert render_history(filed.ledger_path, 13, history[-1].id) is None  # a row more than the run read
    assert render_history(filed.ledger_path, 12, history[-1].id + 1) is None
    assert render_history(filed.root / "없는대장.sqlite", 12, 1) is None
    assert not (filed.root / "없는대장.sqlite").exists()


def test_reading_the_history_writes_nothing(filed):
    with Ledger.open(filed.ledger_path) as ledger:
        assert [r.id for r in read_history(filed.ledger_path)] == [r.id for r in ledger.history()]
    before = filed.ledger_path.read_bytes()
    read_history(filed.ledger_path)
    assert filed.ledger_path.read_bytes() == before


def test_a_short_or_huge_history_or_one_core_starts_no_helper(filed, monkeypatch, started):
    history = read_history(filed.ledger_path)
    assert start_history_ahead(filed.ledger_path, history) is None  # 12 < MIN_ROWS
    monkeypatch.setattr(write_ahead, "MIN_ROWS", 1)
    monkeypatch.setattr(write_ahead, "MAX_ROWS", 11)
    assert start_history_ahead(filed.ledger_path, history) is None  # 12 > MAX_ROWS: held whole, too big
    monkeypatch.setattr(write_ahead, "MAX_ROWS", 12)
    monkeypatch.setattr(write_ahead.os, "cpu_count", lambda: 1)
    assert start_history_ahead(filed.ledger_path, history) is None
    assert started == []


def fake_helper(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def test_a_helper_that_dies_or_hangs_leaves_the_rows_to_this_process(filed, monkeypatch, caplog):
    history = read_history(filed.ledger_path)
    died = HistoryAhead(history, fake_helper("import sys; sys.exit(3)"))
    assert died.take() is None and died.take() is None
    broken = HistoryAhead(history, fake_helper("import pickle, sys; sys.stdout.buffer.write(pickle.dumps('KeyError: x'))"))
    assert broken.take() is None and "KeyError: x" in caplog.text
    monkeypatch.setattr(write_ahead, "WAIT_SECONDS", 0.3)
    hung = HistoryAhead(history, fake_helper("import time; time.sleep(60)"))
    start = time.monotonic()
    assert hung.take() is None and time.monotonic() - start < 5
    assert hung.proc.wait(5) is not None  # killed, not left running
    assert list(hung.rest(10)) == [list(r) for r in history_sheet(history[10:]).rows]


def test_a_helper_that_cannot_take_its_job_is_ended(filed, monkeypatch, started):
    gone = fake_helper("import time; time.sleep(60)")
    gone.stdin.close()  # its job cannot be sent
    monkeypatch.setattr(spawn, "spawn", lambda boot: gone)
    monkeypatch.setattr(write_ahead, "MIN_ROWS", 1)
    assert start_history_ahead(filed.ledger_path, read_history(filed.ledger_path)) is None
    assert gone.wait(5) is not None


def test_a_helper_not_taken_is_ended(filed):
    history = read_history(filed.ledger_path)
    waiting = HistoryAhead(history, fake_helper("import time; time.sleep(60)"))
    waiting.close()
    assert waiting.proc.wait(5) is not None and waiting.take() is None


def test_a_small_night_over_a_long_history_starts_the_helper_early(tmp_path: Path, rules, started, monkeypatch):
    root = tmp_path / "ws"
    weekly_file(root / "inbox", rules, 1)
    spawn.start_early(root)
    assert [p.args[-1] for p in started] == [spawn.READER_BOOT]  # no ledger yet
    spawn.dismiss_early()
    (root / "ledger.sqlite").write_bytes(b"\0" * spawn.LONG_HISTORY_BYTES[0])
    spawn.start_early(root)
    assert [p.args[-1] for p in started[1:]] == [spawn.READER_BOOT, spawn.AHEAD_BOOT]
    early = started[-1]
    assert spawn.adopt(spawn.AHEAD_BOOT) is early  # what start_history_ahead takes first
    spawn.send_away(early)
    assert early.wait(15) is not None  # waiting for its job, it ends at the end of its input
    spawn.dismiss_early()
    with (root / "ledger.sqlite").open("r+b") as ledger:
        ledger.truncate(spawn.LONG_HISTORY_BYTES[1] + 1)  # more files than a helper holds whole
    spawn.start_early(root)
    assert [p.args[-1] for p in started[3:]] == [spawn.READER_BOOT]


def test_styles_number_the_data_formats_first_whatever_is_written_first(tmp_path: Path):
    import xlsxwriter

    numbers = []
    for first in ("header", "title"):
        book = xlsxwriter.Workbook(str(tmp_path / f"{first}.xlsx"), write.WORKBOOK_OPTIONS)
        styles = wf.Styles(book)
        getattr(styles, first)._get_xf_index()
        numbers.append([f._get_xf_index() for f in (styles.text, styles.wrap, styles.centre, *styles.cells.values())])
        book.close()
    assert numbers[0] == numbers[1]
    assert sorted(set(numbers[0])) == list(range(1, len(set(numbers[0])) + 1))  # the first numbers (0 is Excel's)


def test_a_file_whose_department_was_not_read_shows_its_inbox_folder_in_the_history():
    """A CSV saved as .xlsx in 안전치수과/: its 부서 in 제출이력 is the folder, as on the 오류 sheet."""
    from datetime import datetime

    from coop_batch.ledger import FileRow, FileStatus
    from coop_batch.master_history import history_rows
    from coop_batch.seoul import SEOUL

    when = datetime(2016, 3, 4, 9, 0, tzinfo=SEOUL)

    def row(path: str, department: str) -> FileRow:
        return FileRow(1, 1, "0" * 64, path, path.rsplit("/", 1)[-1], 10, when, when, when, FileStatus.REJECTED,
                       "", department, None, None, "", "", ({"severity": "error", "code": "file-not-xlsx"},))

    departments = [r[6] for r in history_rows([row("안전치수과/표.xlsx", ""), row("표.xlsx", ""),
                                               row("안전치수과/주간.xlsx", "도로관리과")])]
    assert departments == ["안전치수과", "", "도로관리과"]
