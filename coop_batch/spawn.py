"""Helper processes (reader workers, the annotated-copy writer, the 제출이력 renderer), and starting
them early.

A child costs ~0.1 s of start-up (an interpreter and its imports) before it is any use.  A run
spends its first ~0.2 s importing its own modules on one core while the other waits, so
`start_early` starts the children a night will likely need at that moment, and `adopt` hands one
over when the run asks for it.  A child never adopted is sent away (end of input) by
`dismiss_early`, and at the latest at exit.

The readers do not wait idle meanwhile: each is given its share of the inbox's small files to
read ahead (read_ahead.py).

Imports nothing heavy: it runs before the rest of the package is loaded.
"""

from __future__ import annotations

import atexit
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

# Each child first tunes its cycle collector as the console script does (entry.tune_gc: why).
TUNED = "from coop_batch.entry import tune_gc; tune_gc(); "
READER_BOOT = TUNED + "from coop_batch.read_worker import _worker_main; _worker_main()"
COPIER_BOOT = TUNED + "from coop_batch.feedback_job import _child_main; _child_main()"
AHEAD_BOOT = TUNED + "from coop_batch.write_ahead import _child_main; _child_main()"
# Files up to this size are read ahead (read_ahead.py; real submissions are ~10 KB): a big one is
# read when asked for, so that what a reader keeps stays small.
AHEAD_FILE_BYTES = 1024 * 1024
MANY_FILES = 100  # a second reader pays its start back only over this many files (see run._auto_workers)


_early: dict[str, list[subprocess.Popen[bytes]]] = {}
_started: Path | None = None  # the workspace start_early started for, until dismiss_early()
_sent_away: list[subprocess.Popen[bytes]] = []
atexit.register(lambda: _at_exit())


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


def child_output() -> BinaryIO:
    """In a helper process: Ctrl+C left to the parent (it reports what the helper was doing), and the
    stream its answers go to, its stdout kept apart: fd 1 then goes to stderr, so that a stray print
    (an import's, a library's) cannot corrupt them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return out


def answer_parent(out: BinaryIO, answer: Any) -> bool:
    """In an `Errand`'s child: one answer, as the parent's reader takes it; False when the parent is
    gone or gave up waiting."""
    try:
        out.write(pickle.dumps(answer, pickle.HIGHEST_PROTOCOL))
        out.flush()
        return True
    except OSError:
        return False


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
    files in its `inbox/` (the default place; a workspace that moved its inbox only loses the head
    start).  None for an empty inbox; the copy writer only for a big night on two cores, where some
    file almost surely gets an annotated copy; for a small night over a long history, the helper
    that renders the master's 제출이력 (write_ahead.py).  The readers are then given the inbox's small files
    to read ahead (read_ahead.prime).  Called again for the same workspace (the console script
    started them before the command line was parsed: entry.py), it does nothing; for another, it
    ends those and starts anew.  Never raises: the run starts its own."""
    global _started
    try:
        root = Path(workspace_dir).resolve()
    except (OSError, RuntimeError, ValueError):  # (a path the run will refuse anyway)
        return
    if _started == root:
        return
    if _started is not None:
        dismiss_early()  # primed for another workspace (the console script guessed wrong)
    _started = root
    try:
        files = count_files(root / "inbox", MANY_FILES)
        readers = auto_workers(files) if files else 0
        plan = [READER_BOOT] * readers + ([COPIER_BOOT] if readers == 2 else [])
        if readers == 1 and (os.cpu_count() or 1) >= 2 and _long_history(root):
            # A small night leaves the second core idle: the helper that renders the master's
            # 제출이력 (write_ahead.py) imports beside the run instead of after its reading.
            plan.append(AHEAD_BOOT)
        for boot in plan:
            _early.setdefault(boot, []).append(spawn(boot))
        if readers:
            from .read_ahead import prime  # only now: the children start while this imports

            prime(root, _early[READER_BOOT])
    except OSError:
        pass


# The histories `write_ahead` renders in a helper (its MIN_ROWS and MAX_ROWS: why these), and the
# ledgers that hold them, at ~1.4 KB a file with its records (measured: 7.1 MB for 5,000 files).
# The early start judges by the ledger's size at its default place only, as it judges the inbox.
AHEAD_ROWS = (1000, 50_000)
LONG_HISTORY_BYTES = (AHEAD_ROWS[0] * 1400, AHEAD_ROWS[1] * 1400)


def _long_history(root: Path) -> bool:
    try:
        size = (root / "ledger.sqlite").stat().st_size
    except OSError:
        return False
    return LONG_HISTORY_BYTES[0] <= size <= LONG_HISTORY_BYTES[1]


def dismiss_early(boot: str | None = None, wait: float = 0.0) -> None:
    """End the children started early and not adopted (those for `boot`, or all).  `wait`: seconds
    to wait for the readers to be gone, and with them any file they had open (on Windows a file
    open in one cannot be moved)."""
    global _started
    if boot is None:
        _started = None
    for key in [boot] if boot else list(_early):
        procs = _early.pop(key, [])
        if key == READER_BOOT:
            # It may be reading ahead, or a priming write may still block on its pipe (which would
            # block closing its input): it holds nothing of value, so it is ended now.
            kill_all(procs, wait)
        else:
            for proc in procs:
                send_away(proc)


def kill_all(procs: list[subprocess.Popen[bytes]], wait: float = 0.0) -> None:
    """Kill the children (and reap them on a thread); with `wait`, wait up to that many seconds for
    them to be gone: on Windows a process's open files stay open until it is, not once killed."""
    for proc in procs:
        proc.kill()
        send_away(proc)
    for proc in procs if wait > 0 else ():
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:  # pragma: no cover - a kill not done in seconds
            pass


def send_away(proc: subprocess.Popen[bytes], seconds: float = 5.0) -> None:
    """End of input: a child at the end of its work, or waiting for its first message, exits (once its
    imports are done).  Reaped by a thread (killed after `seconds`), not waited for here."""
    _close_input(proc)
    _sent_away.append(proc)
    threading.Thread(target=reap, args=(proc, seconds), daemon=True).start()


def _close_input(proc: subprocess.Popen[bytes]) -> None:
    try:
        if proc.stdin is not None:
            proc.stdin.close()
    except OSError:
        pass


def _at_exit() -> None:
    """At the latest: the children a run never took, and those sent away and still running, are
    killed: a child stuck on a file must not run on after this process.  No thread is started
    (at interpreter shutdown Python 3.12 refuses to), nothing is waited for."""
    global _started
    _started = None
    for proc in [p for procs in _early.values() for p in procs] + _sent_away:
        if proc.poll() is None:
            try:
                proc.kill()
            except OSError:  # pragma: no cover - it ended meanwhile
                pass
        _close_input(proc)
    _early.clear()
    _sent_away.clear()


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


class Errand:
    """A child given a job on its input that answers with a pickle when it is done, and maybe one
    more job after it: the copy writer (feedback_job) and the 제출이력 renderer (write_ahead), then
    the rosters (write_beside).  A job that may have a follow-up is sent with `more=True`; the
    follow-up must be sent before the answers owed are all taken, which ends the child's input.  A
    thread reads the answers from the start, so that a child that dies at once, or answers more than
    a pipe holds, never blocks the run."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.late = False  # still at work when an answer was due (and killed)
        self.jobs = 0  # jobs sent: the next one's answer is `answer(..., job=self.jobs)`
        self._answers: list[Any] = []  # in the order of the jobs
        self._taken = 0
        self._ended = False  # its output is at its end: it exited, was killed, or answered garbage
        self._open = True  # its input: a job may still be sent
        self._news = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        try:
            assert self.proc.stdout is not None
            while True:
                got = pickle.load(self.proc.stdout)
                with self._news:
                    self._answers.append(got)
                    self._news.notify_all()
        except Exception:  # EOFError at its end; an answer cut short (killed, crashed); closed under us
            pass
        finally:
            with self._news:
                self._ended = True
                self._news.notify_all()

    @property
    def takes_more(self) -> bool:
        """Can it still be sent a job (its input open, still running)?"""
        return self._open and not self._ended and self.proc.poll() is None

    def send(self, payload: bytes, more: bool = False) -> bool:
        """A job (b"": none, and it exits), then the end of its input unless `more` may follow;
        False when it is gone."""
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(payload)
            if more:
                self.proc.stdin.flush()
            else:
                self._open = False
                self.proc.stdin.close()
        except (OSError, ValueError):  # it died, or its pipe is closed
            self._open = False
            return False
        self.jobs += bool(payload)
        return True

    def answer(self, seconds: float, job: int = 0) -> tuple[bool, Any]:
        """(True, its answer to its `job`th job, from 0) within `seconds`; else (False, None), the
        child killed if still at work (`late`) and waited for either way (its `proc.returncode` says
        how it ended)."""
        with self._news:
            self._news.wait_for(lambda: len(self._answers) > job or self._ended, seconds)
            answered = len(self._answers) > job
            got = self._answers[job] if answered else None
            if answered:
                self._answers[job] = None  # held no longer than needed
        if not answered:
            if self.proc.poll() is None:  # at work still (late), or running on after output it garbled
                self.late = not self._ended
                self.proc.kill()
            self.reader.join()
            self.proc.wait()
            return False, None
        self._taken += 1
        if self._taken >= self.jobs:
            self._open = False
            send_away(self.proc)  # every answer taken: end of input, its exit not waited for here
        return True, got

    def end(self) -> None:
        """Not needed after all, at work or not: killed (and reaped on a thread)."""
        kill_all([self.proc])


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
