"""Guarded reading: each file is read in a reused worker process with a time limit, so a file that
hangs or crashes the Rust reader costs that file only (split out of `read.py`; the worker process's
own side is `read_worker.py`).

Workers are plain `python -c` subprocesses speaking length-prefixed pickles over stdin/stdout,
not multiprocessing: spawn would re-run the caller's main module in every worker (pandas and all,
and a script without an `if __name__` guard would recurse), while this child imports only the
reading code.  A thread per worker blocks on its stdout, so waiting with a timeout works the same on
Windows (no select() on pipes there) and POSIX.

Workers started early (`spawn.start_early`) read the inbox's small files before they are asked
for, each its share, and answer a task for one of those from what they kept when the content still
has the hash the run found; `read_many` sends each worker the files it read ahead.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import Problem
from .records import SheetData
from .safety_limits import Limits
from .schema import KIND_BY_ID
from .read_worker import TEST_AHEAD_DONE_ENV as TEST_AHEAD_DONE_ENV
from .read_worker import TEST_FAULT_ENV as TEST_FAULT_ENV
from .read_worker import _fields as _fields
from .spawn import READER_BOOT as _BOOT
from .spawn import recv as _recv
from .spawn import send as _send
from .spawn import kill_all, send_away, spawn

log = logging.getLogger("coop_batch.read")  # the reader's logger, as before the split

_STARTUP_SECONDS = 60.0
_MAX_START_FAILURES = 3
_DEPTH = 32  # tasks queued per worker: it reads on while we validate and file a chunk (a timeout is per file)


def _sheet_data(path: Path, fields: tuple[Any, ...]) -> SheetData:
    kind_id, sheet, header_row, columns, rows, meta, problems = fields
    return SheetData(path, KIND_BY_ID.get(kind_id), sheet, header_row, columns, rows, meta, problems)


class _Worker:
    def __init__(self, limits: Limits, inbox: queue.Queue[tuple[_Worker, Any]]) -> None:
        from .read_ahead import PRIMING_SECONDS, adopt_reader  # (the main process's: not the worker's)

        proc, share = adopt_reader(limits)  # one started early (spawn.start_early), or a new one
        self.proc = proc or spawn(_BOOT)
        # The files it was given to read ahead (it has its limits already).  While it may still be
        # reading those, a crash or a hang is not surely its current task's doing (`read_many`).
        self.share: frozenset[str] = share or frozenset()
        self.ready = False
        self.tasks: deque[int] = deque()  # in flight, in the order the worker takes them
        # Its files are for it alone (`_Todo`): one that read ahead (started long ago) and is still
        # not ready after PRIMING_SECONDS is stalled, and retired so that others take them.
        self.deadline = time.monotonic() + (PRIMING_SECONDS if share else _STARTUP_SECONDS)
        threading.Thread(target=self._pump, args=(inbox,), daemon=True).start()
        if share is None:
            self._write(limits)

    def _write(self, *messages: Any) -> None:
        try:
            _send(self.proc.stdin, *messages)
        except OSError:  # the worker died; its pump reports that and read_many retires it
            pass

    def _pump(self, inbox: queue.Queue[tuple[_Worker, Any]]) -> None:
        try:
            while True:
                inbox.put((self, _recv(self.proc.stdout)))
        except Exception:  # EOF, a broken pipe, a truncated message: the worker is gone
            inbox.put((self, None))

    def send(self, tasks: list[tuple[int, str, str | None]], timeout: float) -> None:
        """(index, path, its SHA-256 when known: a file read ahead is answered from what was read
        only while its content still has that hash)."""
        if not self.tasks:
            self.deadline = time.monotonic() + timeout
        self.tasks.extend(index for index, _, _ in tasks)
        self._write(*[(index, path, os.path.basename(path), sha) for index, path, sha in tasks])

    def stop(self, kill: bool = False) -> None:
        """End the worker: EOF on its stdin (it finishes its loop and exits), or kill it.  Not waited
        for here: a thread reaps it, so the run goes on while the interpreter winds down (~30 ms)."""
        if kill:
            self.proc.kill()
        send_away(self.proc, 2.0)


def _stop_all(pool: Sequence[_Worker]) -> None:
    """Stop the workers.  Those that read ahead are killed, and waited for (a few ms): one may hold
    a file the run moves next (see spawn.kill_all)."""
    for w in pool:
        if not w.share:
            w.stop()
    kill_all([w.proc for w in pool if w.share], wait=2.0)


class Readers:
    """Workers started before the files are known, so that their start (~0.1 s: an interpreter and
    the reader's imports) overlaps the caller's own work.  `read_many(readers=...)` uses them and
    adds more if it needs them; `close()` stops those it did not use."""

    def __init__(self, limits: Limits, count: int) -> None:
        self.limits = limits
        self.inbox: queue.Queue[tuple[_Worker, Any]] = queue.Queue()
        self.pool: list[_Worker] = []
        for _ in range(count):
            try:
                self.pool.append(_Worker(limits, self.inbox))
            except OSError:  # read_many starts them again (and reports it) if they are needed
                break

    def close(self) -> None:
        """Stop the workers; those that read ahead are killed (one may be reading a file about to
        be moved, or be stuck on one never asked for)."""
        _stop_all(self.pool)
        self.pool.clear()

    def __enter__(self) -> Readers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Todo:
    """The files not yet sent to a worker: those each worker read ahead are for it (its own), the
    rest for anyone, each worker taking the lowest index it may.  A file is never sent to a worker
    that did not read it ahead while its owner lives (two open at once: on Windows the move that
    follows could fail).  Files to try again (`retry`) go only to a worker that reads nothing ahead."""

    def __init__(self, keys: Sequence[str], pool: Sequence[_Worker]) -> None:
        owner = {key: w for w in pool for key in w.share}
        self.anyone: deque[int] = deque()
        self.retry: deque[int] = deque()
        self.own: dict[_Worker, deque[int]] = {w: deque() for w in pool if w.share}
        for index, key in enumerate(keys):
            w = owner.get(key)
            (self.anyone if w is None else self.own[w]).append(index)

    def __len__(self) -> int:
        return len(self.anyone) + len(self.retry) + sum(map(len, self.own.values()))

    def pop_first(self) -> int:
        line = min((d for d in (self.anyone, self.retry, *self.own.values()) if d), key=lambda d: d[0])
        return line.popleft()

    def next_for(self, w: _Worker, below: int) -> int | None:
        """The next index for `w`, under `below` (a file to try again: whatever its index)."""
        if not w.share and self.retry:
            return self.retry.popleft()
        lines = [d for d in (self.own.get(w), self.anyone) if d and d[0] < below]
        return min(lines, key=lambda d: d[0]).popleft() if lines else None

    def give_back(self, w: _Worker, indices: Sequence[int], retry: int | None = None) -> None:
        """A retired worker's own files, and those it had in hand, are anyone's now; `retry` is the
        one it was reading when it died or hung, tried again on a worker that reads nothing ahead."""
        self.anyone = deque(sorted([*self.anyone, *self.own.pop(w, ()), *indices]))
        if retry is not None:
            self.retry.append(retry)

    def own_keys(self, w: _Worker, keys: Sequence[str]) -> list[str]:
        return [keys[i] for i in self.own.get(w, ())]


def read_many(
    paths: Sequence[Path],
    limits: Limits = Limits(),
    workers: int = 1,
    idle: Callable[[], None] | None = None,
    readers: Readers | None = None,
    hashes: Sequence[str] | None = None,
) -> Iterator[tuple[Path, SheetData]]:
    """Read each file in a worker process with `limits.timeout_seconds` per file; yields in INPUT ORDER.

    Workers start once and are reused.  A file that takes too long gets `file-timeout`, one that
    kills its worker gets `file-corrupt`; that worker is replaced and the other files go on.
    `workers=0` reads in this process instead (no time limit: for tests and benchmarks).
    `idle` is called (inside this generator) when the next file is not read yet and the workers are
    busy with it: the caller's own work done there overlaps their reading instead of waiting for it.
    `readers`: workers started earlier with the same `limits` (see `Readers`); stopped at the end.
    `hashes`: each file's SHA-256 as the caller found it; a reader that read the file ahead gives
    what it read only for the same content (without `hashes`, every file is read when asked for).
    """
    paths = [p if isinstance(p, Path) else Path(p) for p in paths]
    if readers is not None and (workers <= 0 or readers.limits != limits):
        readers.close()  # not what this call reads with
        readers = None
    if workers <= 0:
        from .read import read_sheet  # (not at the top: `read` imports this module to re-export it)

        for path in paths:
            yield path, read_sheet(path, limits)
        return
    # While the workers read, this process runs three threads (this one validating and filing, a pump
    # per worker): fewer forced GIL hand-overs (every 20 ms, not 5) cost less CPU, and the workers
    # have 32 files queued each, so a result waiting a little longer keeps nobody waiting.
    switch = sys.getswitchinterval()
    sys.setswitchinterval(max(switch, 0.02))
    done: dict[int, SheetData] = {}
    keys = [str(p) for p in paths]
    inbox: queue.Queue[tuple[_Worker, Any]] = readers.inbox if readers is not None else queue.Queue()
    pool: list[_Worker] = readers.pool if readers is not None else []
    todo = _Todo(keys, pool)
    for w in pool:
        if w.share:  # only what it will be asked for is worth reading ahead (and keeping)
            w._write(("keep", todo.own_keys(w, keys)))
    # How far dispatch may run ahead of the file to be yielded next: results held at most (memory).
    window = 2 * _DEPTH * workers
    failures = next_out = 0
    retried: set[int] = set()

    def in_flight(workers: list[_Worker]) -> int:
        return sum(len(w.tasks) for w in workers)

    def retire(w: _Worker, code: str, **params: str) -> None:
        """Drop a worker; its current file gets `code`, the files queued behind it go back in line.
        A worker that was reading ahead may have met its end on another file: its current one is
        tried once more, on a worker that reads only what it is asked for."""
        retry = None
        if w.tasks:
            index = w.tasks.popleft()
            if w.share and index not in retried:
                retried.add(index)
                retry = index
            else:
                done[index] = SheetData(paths[index], None, problems=[Problem(code, paths[index].name, params=params)])
        todo.give_back(w, w.tasks, retry)
        w.stop(kill=True)
        pool.remove(w)

    try:
        while next_out < len(paths):
            while next_out in done:
                yield paths[next_out], done.pop(next_out)
                next_out += 1
            if next_out >= len(paths):
                break
            if failures >= _MAX_START_FAILURES and todo:  # workers do not start: read here, unguarded
                index = todo.pop_first()
                log.error("reader workers do not start; reading %s in-process", paths[index].name)
                from .read import read_sheet  # (this process reads only when no worker starts)

                done[index] = read_sheet(paths[index], limits)
                continue
            # (one more than `workers` when all of them read ahead and a file waits to be tried again)
            while failures < _MAX_START_FAILURES and (
                len(pool) < min(workers, len(todo) + in_flight(pool))
                or (todo.retry and all(w.share for w in pool))
            ):
                try:
                    pool.append(_Worker(limits, inbox))
                except OSError:
                    log.warning("cannot start a reader worker", exc_info=True)
                    failures += 1
            for w in pool:
                # Topped up once half its queue is read, in one write, not one write per file.
                if not w.ready or len(w.tasks) > _DEPTH // 2:
                    continue
                batch: list[tuple[int, str, str | None]] = []
                while len(w.tasks) + len(batch) < _DEPTH:
                    index = todo.next_for(w, next_out + window)
                    if index is None:
                        break
                    batch.append((index, keys[index], hashes[index] if hashes is not None else None))
                if batch:
                    w.send(batch, limits.timeout_seconds)
            if idle is not None and in_flight(pool) and inbox.empty():
                idle()
            waiting = [w.deadline for w in pool if w.tasks or not w.ready]
            try:
                w, message = inbox.get(timeout=max(0.0, min(waiting, default=time.monotonic() + 1) - time.monotonic()))
            except queue.Empty:
                pass
            else:
                if w not in pool:
                    pass  # news from a worker already retired
                elif message is None:
                    failures += 0 if w.ready else 1
                    retire(w, "file-corrupt", detail="읽는 중 프로그램이 비정상 종료됨")
                elif message == ("ready",):
                    w.ready, w.deadline = True, time.monotonic() + limits.timeout_seconds
                else:
                    index, fields = message
                    done[index] = _sheet_data(paths[index], fields)
                    w.tasks.popleft()
                    w.deadline = time.monotonic() + limits.timeout_seconds  # for the next one queued
            now = time.monotonic()
            # News still queued first: a result that came while this generator was suspended (or in
            # `idle`) must not be taken for a timeout.
            late = [w for w in pool if (w.tasks or not w.ready) and now > w.deadline] if inbox.empty() else []
            for w in late:
                # (a reader started early and still not ready: its files go to others, and the plain
                # readers that take them start as any other, so it does not count as a failed start)
                failures += 0 if w.ready or w.share else 1
                retire(w, "file-timeout", seconds=f"{limits.timeout_seconds:g}")
    finally:
        sys.setswitchinterval(switch)
        # One that read ahead may still be reading (or stuck on) a file never asked for: it has
        # answered every task, so it is killed rather than left to run on after this process.
        _stop_all(pool)
        pool.clear()


def read_one(path: Path, limits: Limits = Limits()) -> SheetData:
    """`read_many([path])`: one file, in a worker process, with the time limit (the CLI's `validate`)."""
    for _, data in read_many([path], limits, workers=1):
        return data
    raise AssertionError("read_many yields one result per path")  # pragma: no cover
