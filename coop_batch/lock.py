"""The workspace lock: one nightly run at a time, and a crashed run never blocks the next one.

The lock is an OS lock held on an open lock file (`fcntl.flock` on POSIX, `msvcrt.locking` on
Windows), not the mere existence of the file: the OS drops it when the holding process dies,
so a lock left by a crashed run is simply taken over.  The file also carries the holder's
details (JSON: pid, host, start time, command) so that a refused second run can say who holds
it, and so that taking over can be reported: a clean `release()` empties the file, so content
found by a new holder means the previous holder died without releasing.

The lock file is never deleted: deleting it on release would let two processes hold locks on
two different files of the same name (one on the unlinked inode, one on the new file).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

from .seoul import SEOUL, seoul_time

LOCK_NAME = "coop_batch.lock"

_WINDOWS = os.name == "nt"
# Windows locks are mandatory: a locked byte cannot even be read by others.  Lock one byte far
# beyond the holder details (locking past the end of a file is allowed) so they stay readable.
_WIN_LOCK_OFFSET = 0x7FFF_0000
_READ_TRIES = 5  # the holder may be between truncating and writing its details


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or held) the lock.  Unknown values (a half-written file) are 0 / '' / None."""

    pid: int = 0
    host: str = ""
    started: datetime | None = None
    command: str = ""

    @classmethod
    def current(cls, command: str | None = None, started: datetime | None = None) -> LockHolder:
        return cls(
            pid=os.getpid(),
            host=socket.gethostname(),
            started=seoul_time(started).replace(microsecond=0),
            command=command if command is not None else " ".join(sys.argv),
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "pid": self.pid,
                "host": self.host,
                "started": self.started.isoformat() if self.started else "",
                "command": self.command,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_text(cls, text: str) -> LockHolder | None:
        """None for an empty file; a holder with unknown fields for content that is not ours."""
        if not text.strip():
            return None
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError(text)
        except ValueError:
            return cls()
        started: datetime | None
        try:
            started = datetime.fromisoformat(str(data.get("started", "")))
        except ValueError:
            started = None
        pid = data.get("pid")
        return cls(
            pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else 0,
            host=str(data.get("host", "")),
            started=started,
            command=str(data.get("command", "")),
        )

    def describe(self) -> str:
        """`pid 1234, 시작 2016-03-04 02:00:00, 컴퓨터 PC-01` — for Korean messages."""
        pid = str(self.pid) if self.pid else "알 수 없음"
        started = self.started.astimezone(SEOUL).strftime("%Y-%m-%d %H:%M:%S") if self.started else "알 수 없음"
        parts = [f"pid {pid}", f"시작 {started}"]
        if self.host:
            parts.append(f"컴퓨터 {self.host}")
        return ", ".join(parts)

    def took_over_message(self) -> str:
        return f"이전 실행({self.describe()})이 비정상 종료되어 잠금을 넘겨받았습니다."


class LockBusy(Exception):
    """Another process holds the workspace lock.  `str(exc)` is the Korean message for the user."""

    def __init__(self, path: Path, holder: LockHolder | None) -> None:
        self.path = path
        self.holder = holder
        who = holder.describe() if holder else "pid 알 수 없음, 시작 알 수 없음"
        super().__init__(
            f"다른 coop-batch 실행({who})이 이 작업 폴더를 사용 중이라 시작하지 않았습니다. "
            f"그 실행이 끝난 뒤 다시 실행해 주세요. 실행 중인 프로그램이 없는데도 계속 이 메시지가 나오면 "
            f"컴퓨터를 다시 시작해 주세요(잠금 파일: {path})."
        )


# --- OS locks: small, separate functions per platform ---


def _lock_posix(fd: int) -> bool:
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock_posix(fd: int) -> None:
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


def _lock_windows(fd: int) -> bool:
    import msvcrt

    os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
    try:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
    except OSError:  # EACCES / EDEADLOCK: locked by another handle
        return False
    return True


def _unlock_windows(fd: int) -> None:
    import msvcrt

    os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
    msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]


def _os_lock(fd: int) -> bool:
    return _lock_windows(fd) if _WINDOWS else _lock_posix(fd)


def _os_unlock(fd: int) -> None:
    if _WINDOWS:
        _unlock_windows(fd)
    else:
        _unlock_posix(fd)


def _read_all(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")


def read_holder(path: Path) -> LockHolder | None:
    """The details in a lock file (without locking it); None when empty or missing."""
    holder: LockHolder | None = None
    for attempt in range(_READ_TRIES):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        holder = LockHolder.from_text(text)
        if holder is not None and holder.pid:
            return holder
        if attempt + 1 < _READ_TRIES:
            time.sleep(0.05)
    return holder


class WorkspaceLock:
    """`with WorkspaceLock(ws.lock_path) as lock: ...`; raises `LockBusy` at once when held.

    After acquiring, `took_over` is the holder of a run that died without releasing (else None).
    """

    def __init__(self, path: Path, command: str | None = None) -> None:
        self.path = Path(path)
        self.command = command
        self.holder: LockHolder | None = None  # ourselves, while held
        self.took_over: LockHolder | None = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> LockHolder | None:
        """Take the lock or raise `LockBusy`; returns (and keeps in `took_over`) a crashed holder."""
        if self._fd is not None:
            raise RuntimeError(f"lock {self.path} is already held by this object")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0)
        fd = os.open(self.path, flags, 0o644)
        locked = False
        try:
            locked = _os_lock(fd)
            if locked:
                took_over = LockHolder.from_text(_read_all(fd))
                me = LockHolder.current(self.command)
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, me.to_json().encode("utf-8"))
                os.fsync(fd)
        except BaseException:
            try:
                if locked:
                    _os_unlock(fd)
            finally:
                os.close(fd)
            raise
        if not locked:
            os.close(fd)
            raise LockBusy(self.path, read_holder(self.path))
        self.took_over = took_over
        self._fd = fd
        self.holder = me
        return self.took_over

    def release(self) -> None:
        """Empty the file (a clean end) and drop the lock; harmless when not held."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        self.holder = None
        try:
            os.ftruncate(fd, 0)
        finally:  # whatever happens to the details, the lock and the handle are given back
            try:
                _os_unlock(fd)
            finally:
                os.close(fd)

    def __enter__(self) -> WorkspaceLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
