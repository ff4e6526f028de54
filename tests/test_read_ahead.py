"""Reading ahead: the readers started early read the inbox's small files while the run imports, and
the run gets what they read only for the content it hashed (read_ahead.py, `read_worker._serve`)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from coop_batch import read_ahead, read_workers, spawn
from coop_batch.read import TEST_FAULT_ENV, read_many, read_sheet
from coop_batch.read_ahead import EarlySettings
from coop_batch.rules import load_rules
from coop_batch.safety_limits import Limits, run_limits
from coop_batch.schema import KIND_BY_ID
from coop_batch.templates import write_template

LIMITS = run_limits(50, 30.0)  # what a workspace with the default settings reads with


@pytest.fixture
def done_dir(tmp_path: Path, monkeypatch) -> Path:
    """Where each reader leaves a mark once it has read all it was given ahead (a test hook)."""
    folder = tmp_path / "ahead-done"
    folder.mkdir()
    monkeypatch.setenv(read_workers.TEST_AHEAD_DONE_ENV, str(folder))
    return folder


def weekly(path: Path, project: str) -> Path:
    rows = [{"report_date": date(2016, 3, 4), "project": project, "department": "안전치수과", "progress": "교육"}]
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_template(KIND_BY_ID["weekly"], load_rules(2016), path, rows)


def workspace(root: Path, names: list[str], config: str = "") -> list[Path]:
    """An inbox of weekly reports (project = the file's stem), oldest first as listed."""
    root.mkdir(parents=True, exist_ok=True)
    if config:
        (root / "coop_batch.toml").write_text(config, encoding="utf-8")
    paths = [weekly(root / "inbox" / name, Path(name).stem) for name in names]
    for i, path in enumerate(paths):  # arrival order = the order given
        os.utime(path, (1_600_000_000 + i, 1_600_000_000 + i))
    return paths


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def project(data) -> str:
    return data.rows[0][1][1] if data.rows else data.problems[0].code


def primed_readers(count: int, limits: Limits = LIMITS) -> read_workers.Readers:
    readers = read_workers.Readers(limits, count)
    spawn.dismiss_early(spawn.READER_BOOT)
    return readers


def wait_until_read(done_dir: Path, readers: int, seconds: float = 60.0) -> None:
    wait_for_marks(done_dir, readers, "done", seconds)


def wait_for_marks(done_dir: Path, count: int, kind: str, seconds: float = 60.0) -> None:
    """Until `count` readers have left their mark: "done" all read ahead, "hang" stuck on a file."""
    deadline = time.monotonic() + seconds
    while sum(kind == m.name.rpartition("-")[0] for m in done_dir.iterdir()) < count:
        assert time.monotonic() < deadline, f"the early readers did not get there ({kind})"
        time.sleep(0.02)


# --- what the early start deals out ---


def test_each_reader_is_primed_with_its_share_in_arrival_order(tmp_path: Path, started):
    names = [f"{i:03d}.xlsx" for i in range(spawn.MANY_FILES)]
    paths = workspace(tmp_path / "ws", names)
    (tmp_path / "ws" / "inbox" / "~$000.xlsx").write_bytes(b"owner")  # ignored: never read ahead
    big = tmp_path / "ws" / "inbox" / "큰파일.xlsx"
    big.write_bytes(b"PK" + b"\0" * read_ahead.AHEAD_FILE_BYTES)  # read only when asked for
    spawn.start_early(tmp_path / "ws")
    readers = primed_readers(2)
    shares = [w.share for w in readers.pool]
    readers.close()
    assert [len(s) for s in shares] == [50, 50]
    assert shares[0] | shares[1] == {str(p.resolve()) for p in paths}
    # dealt in turn, oldest first: the run asks for them in that order, half from each
    assert str(paths[0].resolve()) in shares[0] and str(paths[1].resolve()) in shares[1]


def test_settings_come_from_the_workspace_file(tmp_path: Path):
    root = tmp_path / "ws"
    root.mkdir()
    read = EarlySettings.of
    assert read(root) == EarlySettings(root.resolve() / "inbox", 0, LIMITS, False)  # no file: the defaults
    config = root / "coop_batch.toml"
    config.write_text('[paths]\ninbox = "제출 폴더(inbox)"\n[limits]\nmax_file_mb = 5\nfile_timeout_seconds = 7\n'
                      "workers = 1\n", encoding="utf-8")
    assert read(root) == EarlySettings(root.resolve() / "제출 폴더(inbox)", 1, run_limits(5, 7.0), False)
    outside = tmp_path / "공유"
    config.write_text(f'[paths]\ninbox = "{outside.as_posix()}"\n', encoding="utf-8")
    assert read(root).inbox == outside
    for bad in ("not toml [", "[limits]\nmax_file_mb = -1\n", "[limits]\nmax_file_mb = 5.5\n",
                '[limits]\nfile_timeout_seconds = "30"\n', "limits = 3\n"):
        config.write_text(bad, encoding="utf-8")
        assert read(root).limits is None, bad  # nothing read ahead under limits the run may not use


def test_the_file_names_are_the_runs(tmp_path: Path):
    from coop_batch.config import CONFIG_NAME
    from coop_batch.lock import WorkspaceLock

    assert read_ahead.CONFIG_NAME == CONFIG_NAME
    (tmp_path / CONFIG_NAME).write_text("[limits]\nworkers = 3\n", encoding="utf-8")
    assert EarlySettings.of(tmp_path).workers == 3 and not EarlySettings.of(tmp_path).locked
    with WorkspaceLock(tmp_path / read_ahead.LOCK_NAME, "run"):
        assert EarlySettings.of(tmp_path).locked
    assert not EarlySettings.of(tmp_path).locked  # released: the file is emptied


def test_nothing_is_read_ahead_while_another_run_holds_the_workspace(tmp_path: Path, started):
    from coop_batch.lock import WorkspaceLock

    workspace(tmp_path / "ws", ["가.xlsx"])
    with WorkspaceLock(tmp_path / "ws" / read_ahead.LOCK_NAME, "run"):
        spawn.start_early(tmp_path / "ws")
        readers = primed_readers(1)
    assert readers.pool[0].share == frozenset()  # a plain reader: it got its limits from the run
    readers.close()


def test_readers_beyond_the_workers_setting_are_ended_at_once(tmp_path: Path, started):
    workspace(tmp_path / "ws", [f"{i:03d}.xlsx" for i in range(spawn.MANY_FILES)], "[limits]\nworkers = 1\n")
    spawn.start_early(tmp_path / "ws")
    readers_started = [p for p in started if p.args[-1] == spawn.READER_BOOT]
    assert len(readers_started) == 2 and readers_started[1].wait(15) is not None
    readers = primed_readers(1)
    assert len(readers.pool[0].share) == spawn.MANY_FILES  # the one kept was given every file
    readers.close()


# --- what the run gets back ---


def test_what_was_read_ahead_answers_the_run_even_once_the_files_are_gone(tmp_path: Path, started, done_dir):
    paths = workspace(tmp_path / "ws", ["가.xlsx", "나.xlsx", "다.xlsx"])
    expected = [read_workers._fields(read_sheet(p, LIMITS, p.name)) for p in paths]
    hashes = [sha(p) for p in paths]
    spawn.start_early(tmp_path / "ws")
    readers = primed_readers(1)
    wait_until_read(done_dir, 1)
    for path in paths:
        path.unlink()  # read now, each would be `file-unreadable`
    got = list(read_many(paths, LIMITS, workers=1, readers=readers, hashes=hashes))
    assert [read_workers._fields(d) for _, d in got] == expected
    assert [d.path for _, d in got] == paths


def test_a_file_changed_after_it_was_read_ahead_is_read_again(tmp_path: Path, started, done_dir):
    paths = workspace(tmp_path / "ws", ["가.xlsx", "나.xlsx"])
    spawn.start_early(tmp_path / "ws")
    readers = primed_readers(1)
    wait_until_read(done_dir, 1)
    weekly(paths[0], "고친 사업")  # a corrected copy over the same name, after the reader read it
    got = list(read_many(paths, LIMITS, workers=1, readers=readers, hashes=[sha(p) for p in paths]))
    assert [project(d) for _, d in got] == ["고친 사업", "나"]


def test_without_hashes_every_file_is_read_when_asked(tmp_path: Path, started, done_dir):
    paths = workspace(tmp_path / "ws", ["가.xlsx"])
    spawn.start_early(tmp_path / "ws")
    readers = primed_readers(1)
    wait_until_read(done_dir, 1)
    weekly(paths[0], "새 내용")
    got = list(read_many(paths, LIMITS, workers=1, readers=readers))
    assert project(got[0][1]) == "새 내용"


def test_readers_primed_under_other_limits_are_not_used(tmp_path: Path, started, done_dir):
    paths = workspace(tmp_path / "ws", ["가.xlsx", "나.xlsx"], "[limits]\nmax_file_mb = 1\n")
    spawn.start_early(tmp_path / "ws")
    wait_until_read(done_dir, 1)
    readers = read_workers.Readers(LIMITS, 1)  # the run's limits differ: the primed one is ended
    assert readers.pool[0].share == frozenset() and readers.pool[0].proc is not started[0]
    assert started[0].wait(15) is not None
    paths[0].unlink()  # so nothing kept could answer for it
    got = list(read_many(paths, LIMITS, workers=1, readers=readers, hashes=[sha(paths[1])] * 2))
    assert [project(d) for _, d in got] == ["file-unreadable", "나"]


@pytest.mark.parametrize("fault", ["crash", "hang"])
def test_a_file_that_kills_a_reader_ahead_costs_only_that_file(
    tmp_path: Path, started, monkeypatch, fault, done_dir
):
    """The reader meets the bad file while reading ahead, not on the file it was asked for: that
    file is tried again on a reader that reads only what it is asked, and the bad one is named."""
    monkeypatch.setenv(TEST_FAULT_ENV, f"{fault}:나.xlsx")
    paths = workspace(tmp_path / "ws", ["가.xlsx", "나.xlsx", "다.xlsx", "라.xlsx"],
                      "[limits]\nfile_timeout_seconds = 1.5\n")
    limits = run_limits(50, 1.5)
    spawn.start_early(tmp_path / "ws")
    readers = primed_readers(1, limits)
    assert readers.pool[0].share  # primed
    if fault == "crash":  # it has met 나 (before anything was asked of it), and died there
        assert readers.pool[0].proc.wait(30) is not None
    else:
        wait_for_marks(done_dir, 1, "hang")
    order = [paths[0], paths[2], paths[3], paths[1]]  # the bad file asked for last
    got = list(read_many(order, limits, workers=1, readers=readers, hashes=[sha(p) for p in order]))
    assert [project(d) for _, d in got] == ["가", "다", "라", "file-corrupt" if fault == "crash" else "file-timeout"]


def test_a_file_is_tried_again_on_a_plain_reader_not_on_another_stuck_one(
    tmp_path: Path, started, monkeypatch, done_dir
):
    """Each reader is given one copy of a file that hangs (a department sent it twice) and gets
    stuck on it while reading ahead.  Only the first reader is asked for anything: when it times
    out, the file it was asked for is tried again on a plain reader — not on the second one, also
    stuck, whose timeout would then blame that good file."""
    monkeypatch.setenv(TEST_FAULT_ENV, "hang:나.xlsx")
    root = tmp_path / "ws"
    config = "[limits]\nfile_timeout_seconds = 1.5\n"
    good = workspace(root, [f"{i:03d}.xlsx" for i in range(spawn.MANY_FILES - 2)], config)
    bad = [weekly(root / "inbox" / "가" / "나.xlsx", "나"), weekly(root / "inbox" / "다" / "나.xlsx", "나")]
    for i, path in enumerate(bad):  # the oldest two: read ahead first, one by each reader
        os.utime(path, (1_500_000_000 + i, 1_500_000_000 + i))
    limits = run_limits(50, 1.5)
    spawn.start_early(root)
    readers = primed_readers(2, limits)
    assert all(w.share for w in readers.pool) and len(readers.pool) == 2
    wait_for_marks(done_dir, 2, "hang")  # both are stuck on their copy
    asked = [good[0], good[2]]  # both the first reader's (dealt in turn after the two copies)
    assert all(str(p.resolve()) in readers.pool[0].share for p in asked)
    got = list(read_many(asked, limits, workers=2, readers=readers, hashes=[sha(p) for p in asked]))
    assert [project(d) for _, d in got] == ["000", "002"]


def test_a_reader_that_read_ahead_is_ended_with_the_reading(tmp_path: Path, started, monkeypatch, done_dir):
    """One reader is stuck reading ahead a file never asked for, while the other answers all that
    is: once the reading is done, the stuck one is killed at once, not left to run on (a reader
    only sent away would be killed after seconds, by its reaper)."""
    monkeypatch.setenv(TEST_FAULT_ENV, "hang:가.xlsx")
    names = ["가.xlsx", *(f"{i:03d}.xlsx" for i in range(spawn.MANY_FILES - 1))]
    paths = workspace(tmp_path / "ws", names)  # 가 first: the first reader's, read ahead first
    spawn.start_early(tmp_path / "ws")
    readers = primed_readers(2)
    stuck, other = readers.pool
    assert str(paths[0].resolve()) in stuck.share and str(paths[1].resolve()) in other.share
    wait_for_marks(done_dir, 1, "hang")
    asked = [p for p in paths if str(p.resolve()) in other.share][:5]
    got = list(read_many(asked, LIMITS, workers=2, readers=readers, hashes=[sha(p) for p in asked]))
    assert [project(d) for _, d in got] == [p.stem for p in asked]
    assert stuck.proc.wait(1.0) is not None and other.proc.wait(5) is not None


def test_a_primed_reader_stalled_at_its_start_gives_its_files_up(tmp_path: Path, started, monkeypatch):
    """A reader stalled at its start whose share fit in its pipe looks primed; its files are for it
    alone, so the run waits for it only PRIMING_SECONDS (not a plain start's minute), then reads
    them elsewhere."""
    monkeypatch.setattr(read_ahead, "PRIMING_SECONDS", 1.0)
    paths = workspace(tmp_path / "ws", ["가.xlsx", "나.xlsx"])
    stalled = spawn.spawn("import time; time.sleep(120)")
    spawn._early[spawn.READER_BOOT] = [stalled]
    read_ahead.prime(tmp_path / "ws", spawn._early[spawn.READER_BOOT])
    readers = primed_readers(1)
    assert readers.pool[0].proc is stalled and readers.pool[0].share  # its share is in its pipe
    started_at = time.monotonic()
    got = list(read_many(paths, LIMITS, workers=1, readers=readers, hashes=[sha(p) for p in paths]))
    assert [project(d) for _, d in got] == ["가", "나"]
    assert time.monotonic() - started_at < 20 and stalled.wait(5) is not None


def test_keep_narrows_what_is_read_ahead_and_kept_to_what_will_be_asked(tmp_path: Path, monkeypatch):
    """("keep", [path]): the repeats the run files without reading are neither read ahead (on
    Windows the move would fail while one is open) nor kept (memory)."""
    import io

    from coop_batch import read_worker

    read: list[str] = []
    monkeypatch.setattr(read_worker, "_read_ahead", lambda path, limits, fault: read.append(path) or ("h" + path, (path,)))
    monkeypatch.setattr(read_worker, "_read_fields", lambda path, display, limits, fault: ("read", path))
    out = io.BytesIO()
    server = read_worker._Server(out, LIMITS, "")
    server.take(("ahead", ["/a.xlsx", "/b.xlsx", "/c.xlsx", "/d.xlsx"]))
    server.read_next_ahead()  # /a, before the keep came
    server.take(("keep", ["/c.xlsx", "/d.xlsx"]))
    while server.ahead:
        server.read_next_ahead()
    assert read == ["/a.xlsx", "/c.xlsx", "/d.xlsx"] and set(server.kept) == {"/c.xlsx", "/d.xlsx"}
    server.take((0, "/c.xlsx", "c.xlsx", "h/c.xlsx"))  # the same content: what was kept
    server.take((1, "/d.xlsx", "d.xlsx", "other"))  # changed since: read again
    server.take((2, "/a.xlsx", "a.xlsx", "h/a.xlsx"))  # not kept: read
    out.seek(0)
    answers = [spawn.recv(out) for _ in range(3)]
    assert answers == [(0, ("/c.xlsx",)), (1, ("read", "/d.xlsx")), (2, ("read", "/a.xlsx"))]
    assert server.kept == {}


# --- stalls and exits ---


def test_a_reader_that_never_takes_its_share_is_ended_and_blocks_nothing(tmp_path: Path, monkeypatch):
    """A reader stalled at its start (antivirus, a locked disk) never reads its pipe: the priming
    write blocks.  The run gives up on it PRIMING_SECONDS after priming began (on two such readers
    together, not one after the other), and dismissing it does not block."""
    monkeypatch.setattr(read_ahead, "PRIMING_SECONDS", 2.0)
    inbox = tmp_path / "ws" / "inbox"
    inbox.mkdir(parents=True)
    for i in range(800):  # a share of ~100 KB of paths: more than a pipe holds
        (inbox / f"{i:04d}_{'가' * 60}.xlsx").write_bytes(b"x")
    stalled = [spawn.spawn("import time; time.sleep(120)") for _ in range(2)]
    spawn._early[spawn.READER_BOOT] = list(stalled)
    try:
        read_ahead.prime(tmp_path / "ws", spawn._early[spawn.READER_BOOT])
        started_at = time.monotonic()
        assert read_ahead.adopt_reader(LIMITS) == (None, None)
        assert time.monotonic() - started_at < 3.5  # not 2 × 2 s
        assert all(p.wait(15) is not None for p in stalled)
        spawn._early[spawn.READER_BOOT] = [spawn.spawn("import time; time.sleep(120)")]
        read_ahead.prime(tmp_path / "ws", spawn._early[spawn.READER_BOOT])
        late = spawn._early[spawn.READER_BOOT][0]
        started_at = time.monotonic()
        spawn.dismiss_early()
        assert time.monotonic() - started_at < 5 and late.wait(15) is not None
    finally:
        for proc in [*stalled, *spawn._early.pop(spawn.READER_BOOT, [])]:
            proc.kill()


def test_at_exit_what_is_left_is_killed_without_starting_a_thread(monkeypatch):
    """Children never adopted, and those sent away and still running, are killed at exit; no reaper
    thread is started then (at interpreter shutdown Python 3.12 refuses to)."""
    early = spawn.spawn("import time; time.sleep(120)")
    spawn._early[spawn.READER_BOOT] = [early]
    stuck = spawn.spawn("import time; time.sleep(120)")
    spawn.send_away(stuck, 60)

    def refuse(self) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(spawn.threading.Thread, "start", refuse)
    spawn._at_exit()
    assert early.wait(10) is not None and stuck.wait(10) is not None and spawn._early == {}


def test_dismissed_while_reading_ahead_every_early_process_ends(tmp_path: Path, started):
    workspace(tmp_path / "ws", [f"{i:03d}.xlsx" for i in range(spawn.MANY_FILES)])
    spawn.start_early(tmp_path / "ws")
    spawn.dismiss_early()
    assert all(proc.wait(15) is not None for proc in started)


# --- dispatch: each reader its own, the rest to anyone ---


class _FakeWorker:
    def __init__(self, share: set[str]) -> None:
        self.share = frozenset(share)


def test_todo_gives_each_reader_its_own_then_anyones_and_retries_only_to_a_plain_reader():
    a, b, plain = _FakeWorker({"0", "2", "4"}), _FakeWorker({"1", "3"}), _FakeWorker(set())
    todo = read_workers._Todo(["0", "1", "2", "3", "4", "5", "6"], [a, b])  # type: ignore[list-item]
    assert len(todo) == 7 and todo.own_keys(b, ["0", "1", "2", "3", "4"]) == ["1", "3"]
    assert [todo.next_for(a, 100) for _ in range(3)] == [0, 2, 4]  # type: ignore[arg-type]
    assert todo.next_for(a, 100) == 5  # type: ignore[arg-type]  # its own are gone: anyone's next
    assert todo.next_for(a, 6) is None  # type: ignore[arg-type]  # not beyond the window
    assert todo.next_for(a, 100) == 6  # type: ignore[arg-type]
    assert todo.next_for(a, 100) is None  # type: ignore[arg-type]  # never b's own while b lives
    todo.give_back(b, [9], retry=7)  # type: ignore[arg-type]  # b died on 7 with 9 queued behind it
    assert b not in todo.own and list(todo.anyone) == [1, 3, 9] and list(todo.retry) == [7]
    assert todo.next_for(a, 100) == 1  # type: ignore[arg-type]  # a reader that read ahead: never the retry
    assert todo.next_for(plain, 0) == 7  # type: ignore[arg-type]  # a plain one: the retry first, whatever the window
    assert [todo.pop_first(), todo.pop_first()] == [3, 9] and len(todo) == 0


# --- the hash the run takes of each file, and leaving without the teardown ---


@pytest.mark.parametrize("size", [0, 1, 9_000, 1024 * 1024, 3 * 1024 * 1024 + 7])
def test_stat_and_sha256_of_any_size(tmp_path: Path, size: int):
    from coop_batch.inbox import stat_and_sha256

    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(size))
    got = stat_and_sha256(path)
    assert got is not None and got[0].st_size == size and got[1] == sha(path)
    assert stat_and_sha256(tmp_path / "없음") is None


def test_leave_now_runs_what_exit_would_and_flushes():
    script = ("import atexit, sys; from coop_batch.spawn import leave_now; "
              "atexit.register(lambda: print('atexit', flush=False)); "
              "sys.stdout.write('out '); sys.stderr.write('err'); leave_now(3)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (3, "out atexit\n", "err")


def test_the_console_script_exits_as_the_interpreter_would(tmp_path: Path):
    from coop_batch.cli import _exit_code

    assert [_exit_code(None), _exit_code(0), _exit_code(2)] == [0, 0, 2]
    run = [sys.executable, "-m", "coop_batch"]
    done = subprocess.run([*run, "status", "-w", str(tmp_path / "없음")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "없습니다" in done.stderr
    done = subprocess.run([*run, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "coop-batch" in done.stdout


def test_limits_are_compared_whole():
    assert run_limits(50, 30.0) == Limits(max_file_bytes=50 * 1024 * 1024, timeout_seconds=30.0)
    assert run_limits(50, 30.0) != run_limits(50, 31.0)
