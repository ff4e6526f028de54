"""The reader worker process: what runs in it (the parent's side is `read_workers.py`).

It takes its limits, then maybe ("ahead", [path]) — files to read before they are asked for — and
("keep", [path]), then tasks (index, path, display name, SHA-256 or None), and answers each task
with (index, fields) (`_fields`).  It imports only the reading code.
"""

from __future__ import annotations

import hashlib
import os
import queue
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from .records import SheetData
from .safety_limits import Limits
from .spawn import AHEAD_FILE_BYTES, child_output, leave_now
from .spawn import recv as _recv
from .spawn import send as _send

# Test-only hook, read in the worker: "hang:<file name>" or "crash:<file name>" makes the worker
# hang or die on that file, so that the timeout and crash paths are tested with real processes.
TEST_FAULT_ENV = "COOP_BATCH_TEST_WORKER_FAULT"


def _worker_main() -> None:
    """Worker process: limits, then maybe ("ahead", [path]) (files to read before they are asked
    for), then (index, path, display name, sha256 or None) in; (index, fields) out (`_fields`)."""
    # Imported now, while the parent is busy with its own start (not at the top: `read` imports
    # read_workers, which imports this module).
    from .read import read_sheet  # noqa: F401

    out = child_output()
    inp = sys.stdin.buffer
    fault = os.environ.get(TEST_FAULT_ENV, "")
    try:
        limits: Limits = _recv(inp)
        _cap_memory(limits.worker_memory_bytes)
        _send(out, ("ready",))
        _serve(inp, out, limits, fault)
    except (EOFError, OSError):  # the parent closed our stdin or went away
        pass
    leave_now(0)  # every answer is out: the interpreter's teardown only costs the night CPU


def _serve(inp: Any, out: Any, limits: Limits, fault: str) -> None:
    """Answer each task in turn.  Given files to read ahead, read them while no task waits (a thread
    then takes the tasks off the pipe, so that one arriving is seen between two files)."""
    server = _Server(out, limits, fault)
    tasks: queue.Queue[Any] | None = None
    while True:
        if server.ahead and tasks is not None and tasks.empty():
            server.read_next_ahead()
            continue
        message = tasks.get() if tasks is not None else _recv_or_end(inp)
        if message is None:
            return
        if message[0] == "ahead" and tasks is None:
            tasks = queue.Queue()
            threading.Thread(target=_take_tasks, args=(inp, tasks), daemon=True).start()
        server.take(message)


class _Server:
    """What a worker has been given to read ahead and what it kept: a task for a file already read,
    whose content still has the hash the parent found, is answered from what was kept.  ("keep",
    [path]) narrows what is read ahead and kept to the files the parent will ask this worker for
    (not the repeats it files without reading: on Windows a file open here cannot be moved there)."""

    def __init__(self, out: Any, limits: Limits, fault: str) -> None:
        self.out, self.limits, self.fault = out, limits, fault
        self.ahead: deque[str] = deque()
        self.kept: dict[str, tuple[str, tuple[Any, ...]]] = {}  # path → (sha256 of what was read, fields)
        self.asked: set[str] = set()  # asked for before their turn to be read ahead came

    def take(self, message: tuple[Any, ...]) -> None:
        if message[0] == "ahead":
            self.ahead.extend(message[1])
        elif message[0] == "keep":
            keep = set(message[1])
            self.ahead = deque(p for p in self.ahead if p in keep)
            self.kept = {p: r for p, r in self.kept.items() if p in keep}
        else:
            self.answer(*message)

    def answer(self, index: int, path_text: str, display: str, sha: str | None) -> None:
        hit = self.kept.pop(path_text, None)
        if hit is not None and sha is not None and hit[0] == sha and display == Path(path_text).name:
            _send(self.out, (index, hit[1]))
            return
        if self.ahead:
            self.asked.add(path_text)
        _send(self.out, (index, _read_fields(path_text, display, self.limits, self.fault)))

    def read_next_ahead(self) -> None:
        path_text = self.ahead.popleft()
        read = None if path_text in self.asked else _read_ahead(path_text, self.limits, self.fault)
        if read is not None:
            self.kept[path_text] = read
        if not self.ahead:
            _mark("done")


# Test-only hook, read in the worker: a folder where a worker leaves a mark named after its process
# id once it has read all it was given ahead (`done-<pid>`), or when it starts to hang on a file
# (`hang-<pid>`, see TEST_FAULT_ENV): tests wait for those instead of sleeping.
TEST_AHEAD_DONE_ENV = "COOP_BATCH_TEST_AHEAD_DONE"


def _mark(what: str) -> None:
    folder = os.environ.get(TEST_AHEAD_DONE_ENV)
    if folder:
        Path(folder, f"{what}-{os.getpid()}").touch()


def _recv_or_end(inp: Any) -> Any:
    try:
        return _recv(inp)
    except EOFError:
        return None


def _take_tasks(inp: Any, tasks: queue.Queue[Any]) -> None:
    try:
        while (message := _recv(inp)) is not None:
            tasks.put(message)
    except (EOFError, OSError):
        pass
    tasks.put(None)


def _read_fields(path_text: str, display: str, limits: Limits, fault: str, data: bytes | None = None) -> tuple[Any, ...]:
    from .read import read_sheet  # (loaded at the worker's start)

    if fault and fault.partition(":")[2] == Path(path_text).name:
        if fault.startswith("hang:"):
            _mark("hang")
            time.sleep(3600)
        os._exit(70)
    return _fields(read_sheet(Path(path_text), limits, display, data))


def _read_ahead(path_text: str, limits: Limits, fault: str) -> tuple[str, tuple[Any, ...]] | None:
    """(sha256 of the file's bytes, its fields), or None for a file gone or grown past the size
    worth reading ahead (it is read when asked for)."""
    from .read import small_file  # (loaded at the worker's start)

    data = small_file(path_text, AHEAD_FILE_BYTES)
    if data is None:
        return None
    # Checked and parsed from these bytes (not the file again): what the hash answers for is what was read.
    return hashlib.sha256(data).hexdigest(), _read_fields(path_text, Path(path_text).name, limits, fault, data)


def _fields(data: SheetData) -> tuple[Any, ...]:
    """A SheetData as a plain tuple, without its path (the parent has it) and with its kind by id
    (the parent's Kind objects): unpickling the dataclass and its Path cost 3x more (12 µs/file)."""
    kind_id = data.kind.id if data.kind else ""
    return kind_id, data.sheet, data.header_row, data.columns, data.rows, data.meta, data.problems


def _cap_memory(limit: int) -> None:
    """An allocation beyond the cap fails (and the Rust reader aborts) instead of eating the machine."""
    if limit <= 0:
        return
    try:
        import resource
    except ImportError:  # Windows: no rlimits; the byte checks in safety.py still bound the grid
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
