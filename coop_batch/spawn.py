"""Helper processes (reader workers, the annotated-copy writer), and starting them early.

A child costs ~0.1 s of start-up (an interpreter and its imports) before it is any use.  A run
spends its first ~0.2 s importing its own modules on one core while the other waits, so
`start_early` starts the children a night will likely need at that moment, and `adopt` hands one
over when the run asks for it.  A child never adopted is sent away (end of input) by
`dismiss_early`, and at the latest at exit.

The readers do not wait idle meanwhile: each is given its share of the inbox's small files to read
ahead (`_Priming`) and keeps what it read, keyed by path and checked against the run's hash when
the run asks for the file (read_workers).  The settings they need (the inbox, `[limits]`) are read
from the workspace's `coop_batch.toml` with tomllib here, the run's own validated settings only
later; readers primed under other limits than the run's are not adopted.

Imports nothing heavy: it runs before the rest of the package is loaded.
"""

from __future__ import annotations

import atexit
import os
import pickle
import stat
import struct
import subprocess
import sys
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from .safety_limits import Limits, run_limits

READER_BOOT = "from coop_batch.read_workers import _worker_main; _worker_main()"
COPIER_BOOT = "from coop_batch.feedback_job import _child_main; _child_main()"
MANY_FILES = 100  # a second reader pays its start back only over this many files (see run._auto_workers)
# Read ahead: files up to this size (real submissions are ~10 KB; a big one is read when asked, so
# that what a reader keeps stays small), and no more than this many per night.
AHEAD_FILE_BYTES = 1024 * 1024
AHEAD_FILES = 20_000

_early: dict[str, list[subprocess.Popen[bytes]]] = {}
_priming: list[_Priming] = []
atexit.register(lambda: dismiss_early())  # at the latest: those a run never took


# --- the pipe protocol of the helper processes: length-prefixed pickles ---


def frame(message: Any) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return struct.pack("<Q", len(body)) + body


def send(stream: BinaryIO, *messages: Any) -> None:
    """Several messages in one write: each flush is a system call that wakes the reader (~70 µs)."""
    stream.write(b"".join(map(frame, messages)))
    stream.flush()


def recv(stream: BinaryIO) -> Any:
    header = stream.read(8)
    if len(header) < 8:
        raise EOFError
    (size,) = struct.unpack("<Q", header)
    body = stream.read(size)
    if len(body) < size:
        raise EOFError
    return pickle.loads(body)


def spawn(boot: str) -> subprocess.Popen[bytes]:
    """A child Python running `boot`, talking over its stdin/stdout pipes, that imports this very
    package (not another copy on the path), with no console window of its own on Windows."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [sys.executable, "-c", boot], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
    )


def adopt(boot: str) -> subprocess.Popen[bytes] | None:
    """A live child started early for `boot`, now the caller's; None when there is none."""
    waiting = _early.get(boot, [])
    while waiting:
        proc = waiting.pop(0)
        if proc.poll() is None:
            return proc
        send_away(proc)  # it died waiting (killed, out of memory): start a new one instead
    return None


def auto_workers(files: int) -> int:
    """Readers for a night of `files` files with `workers = 0` (자동): two on two or more cores for a
    big night, else one."""
    return 2 if files >= MANY_FILES and (os.cpu_count() or 1) >= 2 else 1


def start_early(workspace_dir: str | os.PathLike[str]) -> None:
    """Start the children a run over this workspace will likely use, judged by a quick count of the
    files in its inbox.  None for an empty inbox; the copy writer only for a big night on two cores,
    where some file almost surely gets an annotated copy.  The readers are given the inbox's small
    files to read ahead.  Never raises: the run starts its own."""
    try:
        early = _EarlySettings.of(Path(workspace_dir))
        files = count_files(early.inbox, MANY_FILES)
        readers = (min(early.workers, files) if early.workers else auto_workers(files)) if files else 0
        plan = [READER_BOOT] * readers + ([COPIER_BOOT] if auto_workers(files) == 2 else [])
        for boot in plan:
            _early.setdefault(boot, []).append(spawn(boot))
        if readers and early.limits is not None:
            _priming.append(_Priming(_early[READER_BOOT][-readers:], early.limits, early.inbox))
    except OSError:
        pass


@dataclass(frozen=True)
class _EarlySettings:
    """What the early start needs of `coop_batch.toml`, read without pydantic (the run validates the
    file later and stops on an invalid one).  `limits` None: values this cannot vouch for, no reading
    ahead (the readers still start)."""

    inbox: Path
    workers: int
    limits: Limits | None

    @classmethod
    def of(cls, root: Path) -> _EarlySettings:
        root = root.resolve()  # as config.open_workspace: the paths the run's inbox scan will see
        try:
            data = tomllib.loads((root / "coop_batch.toml").read_text(encoding="utf-8-sig"))
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError):  # unreadable or not TOML: the run will say so
            return cls(root / "inbox", 0, None)
        paths, limits = data.get("paths", {}), data.get("limits", {})
        inbox = paths.get("inbox", "inbox") if isinstance(paths, dict) else "inbox"
        inbox_path = root / inbox if isinstance(inbox, str) else root / "inbox"
        if not isinstance(limits, dict):
            return cls(inbox_path, 0, None)
        workers, mb = limits.get("workers", 0), limits.get("max_file_mb", 50)
        seconds = limits.get("file_timeout_seconds", 30.0)
        workers = workers if type(workers) is int and 0 <= workers <= 8 else 0
        if type(mb) is not int or type(seconds) not in (int, float) or mb <= 0 or seconds <= 0:
            return cls(inbox_path, workers, None)
        return cls(inbox_path, workers, run_limits(mb, float(seconds)))


class _Priming:
    """Lists the inbox's small files in arrival order, deals them out to the early readers in turn,
    and sends each its limits and its share, on a thread: a share is more than a pipe holds, and a
    reader takes it only once its own imports are done."""

    def __init__(self, readers: list[subprocess.Popen[bytes]], limits: Limits, inbox: Path) -> None:
        self.limits = limits
        self.shares: dict[int, frozenset[str]] = {}  # pid → its share, once sent whole
        self.failed: set[int] = set()  # pid → sent in part: of no use
        self.thread = threading.Thread(target=self._send, args=(readers, inbox), daemon=True)
        self.thread.start()

    def _send(self, readers: list[subprocess.Popen[bytes]], inbox: Path) -> None:
        try:
            files = ahead_files(inbox)
        except OSError:
            files = []
        for i, proc in enumerate(readers):
            share = files[i :: len(readers)]
            try:
                assert proc.stdin is not None
                send(proc.stdin, self.limits, ("ahead", share))
            except (OSError, ValueError):  # it died, or was dismissed (its stdin closed) meanwhile
                self.failed.add(proc.pid)
                continue
            self.shares[proc.pid] = frozenset(share)


def ahead_files(inbox: Path) -> list[str]:
    """The inbox's files worth reading ahead, as the run's scan will name them, oldest first (the
    order the run takes them in): regular, not ignored, at most AHEAD_FILE_BYTES."""
    from .inbox import arrival_key, is_ignored, walk

    if not inbox.is_dir():
        return []
    found: list[tuple[Any, str]] = []
    for folder, prefix, names in walk(inbox):
        for name in names:
            path = folder / name
            try:
                st = path.stat()
            except OSError:
                continue
            if (stat.S_ISREG(st.st_mode) and st.st_size <= AHEAD_FILE_BYTES
                    and not is_ignored(name, getattr(st, "st_file_attributes", 0))):
                found.append((arrival_key(st, prefix + name), str(path)))
    found.sort()
    return [path for _, path in found[:AHEAD_FILES]]


def adopt_reader(limits: Limits) -> tuple[subprocess.Popen[bytes] | None, frozenset[str] | None]:
    """A reader started early: (process, its read-ahead share) when it was primed with `limits`,
    (process, None) when it was never primed (the caller sends its limits), (None, None) when none
    is left.  One primed under other limits, or only in part, is sent away."""
    while (proc := adopt(READER_BOOT)) is not None:
        for priming in _priming:
            priming.thread.join()
        priming = next((p for p in _priming if proc.pid in p.shares or proc.pid in p.failed), None)
        if priming is None:
            return proc, None
        if proc.pid in priming.shares and priming.limits == limits:
            return proc, priming.shares[proc.pid]
        send_away(proc)
    return None, None


def dismiss_early(boot: str | None = None) -> None:
    """End the children started early and not adopted (those for `boot`, or all)."""
    for key in [boot] if boot else list(_early):
        for proc in _early.pop(key, []):
            send_away(proc)
    if boot in (None, READER_BOOT):
        _priming.clear()  # (a priming thread still writing meets the closed pipe and stops)


def send_away(proc: subprocess.Popen[bytes], seconds: float = 5.0) -> None:
    """End of input: a child at the end of its work, or waiting for its first message, exits (once its
    imports are done).  Reaped by a thread (killed after `seconds`), not waited for here."""
    try:
        if proc.stdin is not None:
            proc.stdin.close()
    except OSError:
        pass
    threading.Thread(target=reap, args=(proc, seconds), daemon=True).start()


def reap(proc: subprocess.Popen[bytes], seconds: float = 5.0) -> None:
    """Wait for a child told to end (killing it after `seconds`), then close its pipes: its stdout
    only now, when whoever reads it has met the end."""
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for stream in (proc.stdin, proc.stdout):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass


def leave_now(code: int) -> NoReturn:
    """End this process at once, as mypy does: what exit would run still runs (atexit: logging's
    flush, helper processes sent away), and the streams are flushed, but the interpreter's teardown
    (freeing every object one by one: ~50 ms after a night) is skipped."""
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):  # closed, detached, or None (pythonw)
                pass
        os._exit(code)


def count_files(folder: Path, enough: int) -> int:
    """How many files `folder` holds (any kind, hidden too), counting no further than `enough`."""
    seen = 0
    for _, _, names in os.walk(folder):
        seen += len(names)
        if seen >= enough:
            return enough
    return seen
