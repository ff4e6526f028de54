"""Reading ahead: the readers started early read the inbox's small files while the run imports, and
the run gets what they read only for the content it hashed (`spawn._Priming`, `read_workers._serve`)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from coop_batch import read_workers, spawn
from coop_batch.read import TEST_FAULT_ENV, read_many, read_sheet
from coop_batch.rules import load_rules
from coop_batch.safety_limits import Limits, run_limits
from coop_batch.schema import KIND_BY_ID
from coop_batch.templates import write_template

LIMITS = run_limits(50, 30.0)  # what a workspace with the default settings reads with


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


def primed_readers(count: int) -> read_workers.Readers:
    readers = read_workers.Readers(LIMITS, count)
    spawn.dismiss_early(spawn.READER_BOOT)
    return readers


def wait_until_read(paths: list[Path], seconds: float = 20.0) -> None:
    """Long enough for the early readers to have read their shares (each file ~1 ms; start ~0.2 s)."""
    time.sleep(min(seconds, 1.0 + 0.01 * len(paths)))


# --- what the early start deals out ---


def test_each_reader_is_primed_with_its_share_in_arrival_order(tmp_path: Path, started):
    names = [f"{i:03d}.xlsx" for i in range(spawn.MANY_FILES)]
    paths = workspace(tmp_path / "ws", names)
    (tmp_path / "ws" / "inbox" / "~$000.xlsx").write_bytes(b"owner")  # ignored: never read ahead
    big = tmp_path / "ws" / "inbox" / "큰파일.xlsx"
    big.write_bytes(b"PK" + b"\0" * spawn.AHEAD_FILE_BYTES)  # read only when asked for
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
    read = spawn._EarlySettings.of
    assert read(root) == spawn._EarlySettings(root.resolve() / "inbox", 0, LIMITS)  # no file: the defaults
    config = root / "coop_batch.toml"
    config.write_text('[paths]\ninbox = "받은편지함"\n[limits]\nmax_file_mb = 5\nfile_timeout_seconds = 7\n'
                      "workers = 1\n", encoding="utf-8")
    assert read(root) == spawn._EarlySettings(root.resolve() / "받은편지함", 1, run_limits(5, 7.0))
    outside = tmp_path / "공유"
    config.write_text(f'[paths]\ninbox = "{outside.as_posix()}"\n', encoding="utf-8")
    assert read(root).inbox == outside
    for bad in ("not toml [", "[limits]\nmax_file_mb = -1\n", "[limits]\nmax_file_mb = 5.5\n",
                '[limits]\nfile_timeout_seconds = "30"\n', "limits = 3\n"):
        config.write_text(bad, encoding="utf-8")
        assert read(root).limits is None, bad  # nothing read ahead under limits the run may not use


def test_the_config_file_name_is_the_runs(tmp_path: Path):
    from coop_batch.config import CONFIG_NAME

    (tmp_path / CONFIG_NAME).write_text("[limits]\nworkers = 3\n", encoding="utf-8")
    assert spawn._EarlySettings.of(tmp_path).workers == 3


def test_the_configured_number_of_readers_starts_early(tmp_path: Path, started):
    workspace(tmp_path / "ws", ["a.xlsx", "b.xlsx", "c.xlsx"], "[limits]\nworkers = 3\n")
    spawn.start_early(tmp_path / "ws")
    assert [p.args[-1] for p in started] == [spawn.READER_BOOT] * 3


# --- what the run gets back ---


def test_what_was_read_ahead_is_what_reading_now_gives(tmp_path: Path, started):
    paths = workspace(tmp_path / "ws", ["가.xlsx", "나.xlsx", "다.xlsx"])
    spawn.start_early(tmp_path / "ws")
    readers = primed_readers(1)
    wait_until_read(paths)
    got = list(read_many(paths, LIMITS, workers=1, readers=readers, hashes=[sha(p) for p in paths]))
    fields = read_workers._fields
    assert [fields(d) for _, d in got] == [fields(read_sheet(p, LIMITS, p.name)) for p in paths]
    assert [d.path for _, d in got] == paths
    assert len(started) == 1  # the early reader did it all


def test_a_file_changed_after_it_was_read_ahead_is_read_again(tmp_path: Path, started):
    paths = workspace(tmp_path / "ws", ["가.xlsx", "나.xlsx"])
    spawn.start_early(tmp_path / "ws")
    readers = primed_readers(1)
    wait_until_read(paths)
    weekly(paths[0], "고친 사업")  # a corrected copy over the same name, after the reader read it
    got = list(read_many(paths, LIMITS, workers=1, readers=readers, hashes=[sha(p) for p in paths]))
    assert [project(d) for _, d in got] == ["고친 사업", "나"]


def test_without_hashes_every_file_is_read_when_asked(tmp_path: Path, started):
    paths = workspace(tmp_path / "ws", ["가.xlsx"])
    spawn.start_early(tmp_path / "ws")
    readers = primed_readers(1)
    wait_until_read(paths)
    weekly(paths[0], "새 내용")
    got = list(read_many(paths, LIMITS, workers=1, readers=readers))
    assert project(got[0][1]) == "새 내용"


def test_a_kept_result_answers_only_its_own_hash(tmp_path: Path, started):
    """The hit itself, seen from outside: the file changes after it was read ahead, and the task
    carries the hash of what the reader read: the reader answers from what it kept."""
    paths = workspace(tmp_path / "ws", ["가.xlsx"])
    before = sha(paths[0])
    spawn.start_early(tmp_path / "ws")
    readers = primed_readers(1)
    wait_until_read(paths)
    weekly(paths[0], "바뀐 내용")
    got = list(read_many(paths, LIMITS, workers=1, readers=readers, hashes=[before]))
    assert project(got[0][1]) == "가"


def test_readers_primed_under_other_limits_are_not_used(tmp_path: Path, started):
    paths = workspace(tmp_path / "ws", ["가.xlsx", "나.xlsx"], "[limits]\nmax_file_mb = 1\n")
    spawn.start_early(tmp_path / "ws")
    wait_until_read(paths)
    weekly(paths[0], "바뀐 내용")
    old_hash = sha(paths[1])
    readers = read_workers.Readers(LIMITS, 1)  # the run's limits differ: the primed one is sent away
    assert readers.pool[0].share == frozenset() and readers.pool[0].proc is not started[0]
    assert started[0].wait(15) is not None  # sent away
    got = list(read_many(paths, LIMITS, workers=1, readers=readers, hashes=[sha(paths[0]), old_hash]))
    assert [project(d) for _, d in got] == ["바뀐 내용", "나"]


@pytest.mark.parametrize("fault", ["crash", "hang"])
def test_a_file_that_kills_a_reader_ahead_costs_only_that_file(tmp_path: Path, started, monkeypatch, fault):
    """The reader meets the bad file while reading ahead, not on the file it was asked for: that
    file is tried again on a reader that reads only what it is asked, and the bad one is named."""
    monkeypatch.setenv(TEST_FAULT_ENV, f"{fault}:나.xlsx")
    names = ["가.xlsx", "나.xlsx", "다.xlsx", "라.xlsx"]
    paths = workspace(tmp_path / "ws", names, "[limits]\nfile_timeout_seconds = 1.5\n")
    limits = run_limits(50, 1.5)
    spawn.start_early(tmp_path / "ws")
    readers = read_workers.Readers(limits, 1)
    spawn.dismiss_early(spawn.READER_BOOT)
    assert readers.pool[0].share  # primed
    wait_until_read(paths)  # it is stuck on (or died at) 나 by now
    order = [paths[0], paths[2], paths[3], paths[1]]  # the bad file asked for last
    started_at = time.monotonic()
    got = list(read_many(order, limits, workers=1, readers=readers, hashes=[sha(p) for p in order]))
    code = "file-corrupt" if fault == "crash" else "file-timeout"
    assert [project(d) for _, d in got] == ["가", "다", "라", code]
    assert time.monotonic() - started_at < 30


def test_dismissed_while_reading_ahead_every_early_process_ends(tmp_path: Path, started):
    workspace(tmp_path / "ws", [f"{i:03d}.xlsx" for i in range(spawn.MANY_FILES)])
    spawn.start_early(tmp_path / "ws")
    spawn.dismiss_early()
    assert all(proc.wait(15) is not None for proc in started)


# --- dispatch: each reader its own, the rest to anyone ---


class _FakeWorker:
    def __init__(self, share: set[str]) -> None:
        self.share = frozenset(share)


def test_todo_gives_each_reader_its_own_then_anyones_and_takes_back_a_retired_ones():
    a, b = _FakeWorker({"0", "2", "4"}), _FakeWorker({"1", "3"})
    todo = read_workers._Todo(["0", "1", "2", "3", "4", "5", "6"], [a, b])  # type: ignore[list-item]
    assert len(todo) == 7
    assert [todo.next_for(a, 100, 100) for _ in range(3)] == [0, 2, 4]
    assert todo.next_for(a, 100, 100) == 5  # its own are gone: anyone's next
    assert todo.next_for(a, 6, 0) is None  # not beyond the window
    assert todo.next_for(a, 100, 100) == 6
    assert todo.next_for(a, 100, 1) is None  # b's own only near the front of the line
    assert todo.next_for(a, 100, 2) == 1  # the front of b's line, rather than waiting
    todo.give_back(b, [9])
    assert b not in todo.own and list(todo.anyone) == [3, 9] and todo.pop_first() == 3


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
