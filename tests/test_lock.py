"""The workspace lock: refused while held (also by a real second process), taken over after a crash."""

from __future__ import annotations

import errno
import json
import os
import queue
import subprocess
import sys
import textwrap
import threading
import types
from datetime import datetime
from pathlib import Path

import pytest

from coop_batch import lock as lock_mod
from coop_batch.lock import LockBusy, LockHolder, WorkspaceLock, read_holder

HOLDER_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from coop_batch.lock import WorkspaceLock

    lock = WorkspaceLock(Path(sys.argv[1]), command="coop-batch run --workspace 작업")
    lock.acquire()
    print("locked", flush=True)
    if sys.stdin.readline().strip() == "crash":
        os._exit(9)  # dies holding the lock: no release, no cleanup
    lock.release()
    print("released", flush=True)
    """
)


class Holder:
    """A real second process holding the lock until told to release it or to crash."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER_SCRIPT, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        assert self.line() == "locked"

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.strip())

    def line(self) -> str:
        return self._lines.get(timeout=60)

    def tell(self, what: str) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.write(what + "\n")
        self.proc.stdin.flush()
        return self.proc.wait(timeout=60)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=60)


@pytest.fixture
def lock_path(tmp_path: Path) -> Path:
    return tmp_path / "ws" / "coop_batch.lock"


def test_acquire_writes_holder_and_release_empties(lock_path: Path) -> None:
    lock = WorkspaceLock(lock_path, command="coop-batch run")
    assert lock.acquire() is None
    assert lock.held and lock.took_over is None
    data = json.loads(lock_path.read_text(encoding="utf-8"))
    assert data["pid"] == os.getpid()
    assert data["command"] == "coop-batch run"
    assert data["host"]
    started = datetime.fromisoformat(data["started"])
    assert started.utcoffset() is not None and started.utcoffset().total_seconds() == 9 * 3600
    lock.release()
    assert not lock.held
    assert lock_path.exists() and lock_path.read_text(encoding="utf-8") == ""  # never deleted
    lock.release()  # harmless when not held


def test_second_acquirer_in_process_is_refused(lock_path: Path) -> None:
    with WorkspaceLock(lock_path, command="first"):
        second = WorkspaceLock(lock_path)
        with pytest.raises(LockBusy) as info:
            second.acquire()
        assert not second.held
        assert info.value.holder is not None
        assert info.value.holder.pid == os.getpid()
        assert info.value.holder.command == "first"
    with WorkspaceLock(lock_path) as again:  # free once the first is released
        assert again.took_over is None


def test_acquiring_twice_on_one_object_is_a_bug(lock_path: Path) -> None:
    with WorkspaceLock(lock_path) as lock:
        with pytest.raises(RuntimeError):
            lock.acquire()


def test_real_second_process_holds_the_lock(lock_path: Path) -> None:
    holder = Holder(lock_path)
    try:
        with pytest.raises(LockBusy) as info:
            WorkspaceLock(lock_path).acquire()
        busy = info.value
        assert busy.holder is not None and busy.holder.pid == holder.proc.pid
        assert busy.holder.command == "coop-batch run --workspace 작업"
        message = str(busy)
        assert f"pid {holder.proc.pid}" in message
        assert busy.holder.started is not None
        assert busy.holder.started.strftime("%Y-%m-%d %H:%M:%S") in message
        assert "다시 실행" in message
        assert holder.tell("release") == 0
    finally:
        holder.kill()
    with WorkspaceLock(lock_path) as lock:
        assert lock.took_over is None  # released cleanly: nothing to report


def test_lock_of_a_crashed_process_is_taken_over(lock_path: Path) -> None:
    holder = Holder(lock_path)
    try:
        assert holder.tell("crash") == 9
    finally:
        holder.kill()
    with WorkspaceLock(lock_path) as lock:
        assert lock.took_over is not None
        assert lock.took_over.pid == holder.proc.pid
        assert "비정상 종료되어 잠금을 넘겨받았습니다" in lock.took_over.took_over_message()
        assert f"pid {holder.proc.pid}" in lock.took_over.took_over_message()
        assert json.loads(lock_path.read_text(encoding="utf-8"))["pid"] == os.getpid()


def test_stale_lock_file_of_a_gone_process_is_taken_over(lock_path: Path) -> None:
    lock_path.parent.mkdir(parents=True)
    stale = LockHolder(pid=999_999, host="PC-01", started=datetime.fromisoformat("2016-03-04T02:00:00+09:00"))
    lock_path.write_text(stale.to_json(), encoding="utf-8")
    lock = WorkspaceLock(lock_path)
    took_over = lock.acquire()
    try:
        assert took_over == stale == lock.took_over
        assert took_over.took_over_message() == (
            "이전 실행(pid 999999, 시작 2016-03-04 02:00:00, 컴퓨터 PC-01)이 비정상 종료되어 잠금을 넘겨받았습니다."
        )
    finally:
        lock.release()


def test_half_written_lock_file_is_taken_over_as_unknown(lock_path: Path) -> None:
    lock_path.parent.mkdir(parents=True)
    lock_path.write_bytes(b'{"pid": 12')
    with WorkspaceLock(lock_path) as lock:
        assert lock.took_over == LockHolder()
        assert "pid 알 수 없음" in lock.took_over.describe()


def test_read_holder_of_missing_or_empty_file(lock_path: Path) -> None:
    assert read_holder(lock_path) is None
    lock_path.parent.mkdir(parents=True)
    lock_path.write_text("", encoding="utf-8")
    assert read_holder(lock_path) is None


def test_windows_branch_is_selected_by_os_name() -> None:
    assert lock_mod._WINDOWS is (os.name == "nt")


class FakeMsvcrt(types.ModuleType):
    """msvcrt.locking semantics: a byte range is locked per handle; a second handle is refused."""

    LK_UNLCK, LK_LOCK, LK_NBLCK, LK_RLCK, LK_NBRLCK = 0, 1, 2, 3, 4

    def __init__(self) -> None:
        super().__init__("msvcrt")
        self.held: dict[tuple[int, int, int], int] = {}  # (dev, inode, offset) -> fd
        self.calls: list[tuple[int, int, int]] = []

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        st = os.fstat(fd)
        offset = os.lseek(fd, 0, os.SEEK_CUR)
        key = (st.st_dev, st.st_ino, offset)
        self.calls.append((mode, offset, nbytes))
        if mode == self.LK_NBLCK:
            if key in self.held:
                raise OSError(errno.EACCES, "Permission denied")
            self.held[key] = fd
        elif mode == self.LK_UNLCK:
            if self.held.get(key) != fd:
                raise OSError(errno.EACCES, "Permission denied")
            del self.held[key]
        else:  # pragma: no cover - the lock never uses the blocking modes
            raise AssertionError(mode)


def test_windows_branch_with_fake_msvcrt(lock_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeMsvcrt()
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    monkeypatch.setattr(lock_mod, "_WINDOWS", True)
    first = WorkspaceLock(lock_path, command="야간 실행")
    first.acquire()
    assert len(fake.held) == 1
    # the locked byte lies far beyond the holder details, which stay readable to a refused run
    assert fake.calls[0] == (FakeMsvcrt.LK_NBLCK, lock_mod._WIN_LOCK_OFFSET, 1)
    assert lock_path.stat().st_size < 1000
    with pytest.raises(LockBusy) as info:
        WorkspaceLock(lock_path).acquire()
    assert info.value.holder is not None and info.value.holder.command == "야간 실행"
    first.release()
    assert fake.held == {}
    assert fake.calls[-1] == (FakeMsvcrt.LK_UNLCK, lock_mod._WIN_LOCK_OFFSET, 1)
    with WorkspaceLock(lock_path) as again:
        assert again.took_over is None
        assert len(fake.held) == 1
    assert fake.held == {}
