"""Reading ahead: the readers started early (spawn.start_early) read the inbox's small files while
the run still imports its own modules, so that most files are read before the run asks for them.

Each early reader is sent (on a thread: a share is more than a pipe holds, and a reader takes it
only once its own imports are done) the run's limits and its share of the files, dealt in turn in
the order the run takes them (arrival).  The reader keeps each result with the SHA-256 of the bytes
it read and answers the run from it only for the same hash (read_worker._serve).

The settings this needs (the inbox, `[limits]`) are read from the workspace's `coop_batch.toml`
with tomllib, before the run has loaded and validated them; a reader primed under other limits than
the run's is not adopted.  Nothing is read ahead while another run holds the workspace: it is moving
these very files, and on Windows a file open in a reader cannot be moved.
"""

from __future__ import annotations

import stat
import subprocess
import threading
import time
import tomllib
from pathlib import Path
from typing import Any, NamedTuple

from .lock import LOCK_NAME
from .safety_limits import Limits, run_limits
from .spawn import AHEAD_FILE_BYTES, READER_BOOT, adopt, send, send_away

CONFIG_NAME = "coop_batch.toml"  # config.CONFIG_NAME, without importing pydantic this early
# No more than this many files, nor bytes, are read ahead in one night (each at most
# spawn.AHEAD_FILE_BYTES).
AHEAD_FILES = 20_000
AHEAD_BYTES = 256 * 1024 * 1024
PRIMING_SECONDS = 10.0  # a reader that has not taken its share this long after priming began is killed (adopt_reader)

_primings: list[_Priming] = []


class EarlySettings(NamedTuple):
    """What reading ahead needs of `coop_batch.toml`.  `limits` None: values this cannot vouch for
    (the run validates the file and stops on an invalid one): nothing is read ahead."""

    inbox: Path
    workers: int
    limits: Limits | None
    locked: bool  # another run holds the workspace (lock.py empties the file on release)

    @classmethod
    def of(cls, root: Path) -> EarlySettings:
        root = root.resolve()  # as config.open_workspace: the paths the run's inbox scan will see
        try:
            locked = (root / LOCK_NAME).stat().st_size > 0
        except OSError:
            locked = False
        try:
            data = tomllib.loads((root / CONFIG_NAME).read_text(encoding="utf-8-sig"))
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError):  # unreadable or not TOML: the run will say so
            return cls(root / "inbox", 0, None, locked)
        paths, limits = data.get("paths", {}), data.get("limits", {})
        inbox = paths.get("inbox", "inbox") if isinstance(paths, dict) else "inbox"
        inbox_path = root / (inbox if isinstance(inbox, str) else "inbox")
        if not isinstance(limits, dict):
            return cls(inbox_path, 0, None, locked)
        workers, mb = limits.get("workers", 0), limits.get("max_file_mb", 50)
        seconds = limits.get("file_timeout_seconds", 30.0)
        workers = workers if type(workers) is int and 0 <= workers <= 8 else 0
        if type(mb) is not int or type(seconds) not in (int, float) or mb <= 0 or seconds <= 0:
            return cls(inbox_path, workers, None, locked)
        return cls(inbox_path, workers, run_limits(mb, float(seconds)), locked)


def prime(root: Path, readers: list[subprocess.Popen[bytes]]) -> None:
    """Give the early `readers` the inbox's small files to read ahead (in the background).  Those
    beyond the workspace's `workers` setting are ended now: the run would not take them."""
    early = EarlySettings.of(root)
    if early.workers and len(readers) > early.workers:
        for proc in readers[early.workers:]:
            proc.kill()
            send_away(proc)
        del readers[early.workers:]
    _primings[:] = [p for p in _primings if p.waiting]  # (of an earlier run in this process)
    if readers and early.limits is not None and not early.locked:
        _primings.append(_Priming(readers, early.limits, early.inbox))


class _Priming:
    def __init__(self, readers: list[subprocess.Popen[bytes]], limits: Limits, inbox: Path) -> None:
        self.limits = limits
        self.waiting = set(readers)  # not adopted yet
        self.shares: dict[int, frozenset[str]] = {}  # pid → its share, once sent whole
        self.sent = {proc.pid: threading.Event() for proc in readers}  # its share sent, or failed
        self.deadline = time.monotonic() + PRIMING_SECONDS  # one for all: stalled readers' waits do not add up
        threading.Thread(target=self._deal, args=(list(readers), inbox), daemon=True).start()

    def _deal(self, readers: list[subprocess.Popen[bytes]], inbox: Path) -> None:
        try:
            files = ahead_files(inbox)
        except OSError:
            files = []
        for i, proc in enumerate(readers):
            share = files[i :: len(readers)]
            if i + 1 < len(readers):  # a thread each: one reader stalled at its start, its pipe full,
                threading.Thread(target=self._give, args=(proc, share), daemon=True).start()
            else:  # must not keep the other from its share
                self._give(proc, share)

    def _give(self, proc: subprocess.Popen[bytes], share: list[str]) -> None:
        try:
            assert proc.stdin is not None
            send(proc.stdin, self.limits, ("ahead", share))
        except (OSError, ValueError):  # it died, or was dismissed (its stdin closed) meanwhile
            pass
        else:
            self.shares[proc.pid] = frozenset(share)
        finally:
            self.sent[proc.pid].set()


def ahead_files(inbox: Path) -> list[str]:
    """The inbox's files worth reading ahead, as the run's scan will name them, oldest first (the
    order the run takes them in): regular, not ignored, at most AHEAD_FILE_BYTES each."""
    from .inbox import arrival_key, is_ignored, walk

    if not inbox.is_dir():
        return []
    found: list[tuple[Any, str, int]] = []
    for folder, prefix, names in walk(inbox):
        for name in names:
            path = folder / name
            try:
                st = path.stat()
            except OSError:
                continue
            if (stat.S_ISREG(st.st_mode) and st.st_size <= AHEAD_FILE_BYTES
                    and not is_ignored(name, getattr(st, "st_file_attributes", 0))):
                found.append((arrival_key(st, prefix + name), str(path), st.st_size))
    found.sort()
    files, total = [], 0
    for _, path, size in found[:AHEAD_FILES]:
        total += size
        if total > AHEAD_BYTES:
            break
        files.append(path)
    return files


def adopt_reader(limits: Limits) -> tuple[subprocess.Popen[bytes] | None, frozenset[str] | None]:
    """A reader started early: (process, its read-ahead share) when it was primed with `limits`,
    (process, None) when it was never primed (the caller sends its limits), (None, None) when none
    is left.  One primed under other limits, or not in time, is ended."""
    while (proc := adopt(READER_BOOT)) is not None:
        priming = next((p for p in _primings if proc in p.waiting), None)
        if priming is None:
            return proc, None
        priming.waiting.discard(proc)
        # Normally sent long ago (the reader's start takes ~0.1 s, the run's own imports more);
        # a reader that has not taken its share by now (stalled at its start) is of no use.  (One
        # whose share fit in its pipe may be stalled all the same: read_many gives it as long to
        # say it is ready, then hands its files to others.)
        priming.sent[proc.pid].wait(max(0.0, priming.deadline - time.monotonic()))
        share = priming.shares.get(proc.pid)
        if share is not None and priming.limits == limits:
            return proc, share
        proc.kill()  # (a write still blocked on its pipe fails now)
        send_away(proc)
    return None, None
