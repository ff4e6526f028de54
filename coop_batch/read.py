"""Reading a department's workbook: which template it is, where its header row is, and its rows.

`read_sheet` reads one file in-process and never raises for bad input: every reason a
file cannot be read becomes one Korean `Problem`.  `read_many` is what the nightly batch
uses: each file is read in a reused worker process with a time limit, so a file that
hangs or crashes the Rust reader costs that file only.

Files made by hand are normal: no `_meta`, a title row above the header, columns in any
order, extra columns, headers spelled `사 업 명`.  Hidden sheets are never data.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import pickle
import queue
import re
import signal
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from operator import itemgetter
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from python_calamine import CalamineError, CalamineWorkbook, PasswordError, SheetTypeEnum, SheetVisibleEnum

from .errors import Problem
from .normalize import cell_text, column_letter, header_key, is_blank
from .records import SheetData
from .safety import Limits, check_package, os_detail, sniff
from .schema import HELP_SHEET, KIND_BY_ID, KINDS, LISTS_SHEET, META_SHEET, Kind

__all__ = ["Limits", "check_package", "read_many", "read_one", "read_sheet", "sniff"]

log = logging.getLogger(__name__)

# title → field, both as written in the template and normalised (`사 업 명` → `사업명`)
_TITLE_KEYS: dict[str, dict[str, str]] = {
    k.id: {
        **{c.title: c.field for c in k.columns},
        **{header_key(t): c.field for c in k.columns for t in (*c.aliases, c.title)},
    }
    for k in KINDS
}
_key = functools.lru_cache(maxsize=4096)(header_key)  # titles repeat in every file of a night
_KIND_BY_SHEET_KEY: dict[str, Kind] = {header_key(k.sheet): k for k in KINDS}
_COPY_SUFFIX = re.compile(r"\(\d+\)$")  # Excel names a copied sheet `주간실적 (2)`
_NOT_DATA = {header_key(n).lower() for n in (META_SHEET, LISTS_SHEET, HELP_SHEET)}
_MIN_HEADER_MATCHES = 2


class _TooLarge(Exception):
    pass


def read_sheet(path: Path, limits: Limits = Limits(), display_name: str | None = None) -> SheetData:
    """The template's data sheet of one workbook. Never raises for bad input (only for Ctrl+C/exit)."""
    path = Path(path)
    name = display_name or path.name
    try:
        problems = check_package(path, limits)
        if problems:
            return SheetData(path, None, problems=[replace(p, file=name) for p in problems])
        return _read(path, limits, name)
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        return SheetData(path, None, problems=[_failure(exc, name)])


def _failure(exc: BaseException, name: str) -> Problem:
    reason = f"{type(exc).__name__}: {exc}"[:300]  # for support staff (JSON output), not the message
    if isinstance(exc, PasswordError):
        return Problem("file-encrypted", file=name, params={"reason": reason})
    if isinstance(exc, OSError):
        return Problem("file-unreadable", file=name, params={"detail": os_detail(exc), "reason": reason})
    if isinstance(exc, (MemoryError, _TooLarge)):
        detail = str(exc) if isinstance(exc, _TooLarge) else "읽는 데 메모리가 부족함"
        return Problem("file-too-large", file=name, params={"detail": detail, "reason": reason})
    if isinstance(exc, CalamineError):
        detail = "엑셀 파일 구조를 해석할 수 없음"
    elif isinstance(exc, Exception):
        log.warning("unexpected error reading %s", name, exc_info=exc)  # a bug here, not in the file
        detail = "읽는 중 예상하지 못한 오류"
    else:
        detail = "엑셀 해석기 내부 오류"
    return Problem("file-corrupt", file=name, params={"detail": detail, "reason": reason})


@dataclass
class _Header:
    row: int  # 0-based index in the sheet
    columns: dict[str, int]  # field → 0-based column
    duplicates: list[tuple[str, int]]  # (field, column) of repeated titles


def _read(path: Path, limits: Limits, name: str) -> SheetData:
    with CalamineWorkbook.from_path(str(path)) as book:
        sheets = book.sheets_metadata
        data_sheets = [
            s.name for s in sheets
            if s.visible == SheetVisibleEnum.Visible and s.typ == SheetTypeEnum.WorkSheet
            and header_key(s.name).lower() not in _NOT_DATA
        ]
        meta = _read_meta(book, [s.name for s in sheets])
        loaded: dict[str, Any] = {}
        heads: dict[str, list[list[Any]]] = {}

        def head(sheet: str) -> list[list[Any]]:
            if sheet not in heads:
                if sheet not in loaded:
                    loaded[sheet] = _load(book, sheet, limits)
                heads[sheet] = loaded[sheet].to_python(skip_empty_area=False, nrows=limits.header_search_rows)
            return heads[sheet]

        kind, sheet, header = _choose_sheet(_kind_from_meta(meta), data_sheets, head)
        if kind is None:
            kind, sheet, header = _guess_by_headers(data_sheets, head)
        if sheet is None:  # a template sheet someone hid is not data, but say so rather than "not found"
            hidden = [(s, k) for s in (m.name for m in sheets if m.name not in data_sheets)
                      if (k := _kind_of_sheet_name(s)) and (kind is None or k == kind)]
            if hidden:
                return SheetData(path, hidden[0][1], meta=meta, problems=[Problem("hidden-sheet", name, hidden[0][0])])
        if kind is None:
            first = data_sheets[0] if data_sheets else ""
            return SheetData(path, None, sheet=first, meta=meta, problems=[Problem("unknown-kind", name, first)])
        if sheet is None:
            return SheetData(path, kind, meta=meta, problems=[Problem("missing-sheet", name, kind.sheet)])
        result = SheetData(path, kind, sheet=sheet, meta=meta)
        if header is None:
            result.problems.append(
                Problem("missing-header", name, sheet, params={"rows": limits.header_search_rows})
            )
            return result
        result.header_row = header.row + 1
        result.columns = dict(sorted(header.columns.items(), key=lambda item: item[1]))
        for field, col in header.duplicates:
            result.problems.append(
                Problem(
                    "duplicate-column", name, sheet, f"{column_letter(col)}{header.row + 1}", kind.column(field).title
                )
            )
        for col in kind.columns:
            if col.required and col.field not in header.columns:
                result.problems.append(Problem("missing-column", name, sheet, column=col.title))
        rows = loaded[sheet].to_python(skip_empty_area=False)
        result.rows = _data_rows(rows, header)
        return result


def _load(book: CalamineWorkbook, sheet: str, limits: Limits) -> Any:
    """A sheet, after one more size check (the byte scan in safety.py is the real guard)."""
    data = book.get_sheet_by_name(sheet)
    end = data.end
    if end is not None and (end[0] >= limits.max_rows or end[1] >= limits.max_cols):
        raise _TooLarge(f"시트 범위 {end[0] + 1:,}행 × {end[1] + 1:,}열, 한도 {limits.max_rows:,}행 × {limits.max_cols:,}열")
    return data


def _read_meta(book: CalamineWorkbook, names: list[str]) -> dict[str, str]:
    """`_meta` key/value rows (kind, kind_name, template_version, policy_year, ...); hidden is fine here."""
    sheet = next((n for n in names if n.strip().lower() == META_SHEET), None)
    if sheet is None:
        return {}
    meta: dict[str, str] = {}
    for row in book.get_sheet_by_name(sheet).to_python(skip_empty_area=False, nrows=100):
        cells = [text for value in row[:10] if (text := cell_text(value))]
        if len(cells) >= 2:
            key = header_key(cells[0]).lower()[:50]
            meta.setdefault(key, cells[1][:200])
    return meta


def _kind_from_meta(meta: dict[str, str]) -> Kind | None:
    kind = KIND_BY_ID.get(meta.get("kind", "").strip().lower())
    return kind or _KIND_BY_SHEET_KEY.get(header_key(meta.get("kind_name", "")))


def _kind_of_sheet_name(sheet: str) -> Kind | None:
    return _KIND_BY_SHEET_KEY.get(_COPY_SUFFIX.sub("", header_key(sheet)))


def _choose_sheet(
    kind: Kind | None, sheets: list[str], head: Any
) -> tuple[Kind | None, str | None, _Header | None]:
    """The data sheet by name: of the kind `_meta` names, or else of any kind."""
    named = [(s, k) for s in sheets if (k := _kind_of_sheet_name(s)) and (kind is None or k == kind)]
    for sheet, sheet_kind in named:  # several: the first one with a header row
        header = _find_header(head(sheet), sheet_kind)
        if header is not None:
            return sheet_kind, sheet, header
    if named:
        return named[0][1], named[0][0], None
    if kind is not None:  # renamed sheet: the visible sheet whose header row is this kind's
        scored = [(h, s) for s in sheets if (h := _find_header(head(s), kind)) is not None]
        if scored:
            header, sheet = max(scored, key=lambda hs: len(hs[0].columns))
            return kind, sheet, header
    return kind, None, None


def _guess_by_headers(sheets: list[str], head: Any) -> tuple[Kind | None, str | None, _Header | None]:
    """No `_meta`, no template sheet name: the kind whose titles the best header row carries."""
    found: list[tuple[int, float, Kind, str, _Header]] = []
    for sheet in sheets:
        for kind in KINDS:
            header = _find_header(head(sheet), kind)
            if header is None:
                continue
            required = [c.field for c in kind.columns if c.required]
            if sum(f in header.columns for f in required) < max(_MIN_HEADER_MATCHES, math.ceil(len(required) / 2)):
                continue
            found.append((len(header.columns), len(header.columns) / len(kind.columns), kind, sheet, header))
    found.sort(key=lambda f: (f[0], f[1]), reverse=True)
    if not found or (len(found) > 1 and found[1][:2] == found[0][:2] and found[1][2] != found[0][2]):
        return None, None, None  # nothing, or two kinds fit equally well: do not guess
    return found[0][2], found[0][3], found[0][4]


def _find_header(rows: list[list[Any]], kind: Kind | None) -> _Header | None:
    """The row (within the rows given) that carries the most of the kind's column titles."""
    if kind is None:
        return None
    keys = _TITLE_KEYS[kind.id]
    best: _Header | None = None
    for r, row in enumerate(rows):
        columns: dict[str, int] = {}
        duplicates: list[tuple[str, int]] = []
        for c, value in enumerate(row):
            if value.__class__ is not str or not value:  # titles are text; numbers and dates never are
                continue
            field = keys.get(value) or keys.get(_key(value))  # exact title first: no normalising
            if field is None:
                continue
            if field in columns:
                duplicates.append((field, c))
            else:
                columns[field] = c
        if len(columns) >= _MIN_HEADER_MATCHES and (best is None or len(columns) > len(best.columns)):
            best = _Header(r, columns, duplicates)
            if len(columns) == len(kind.columns):  # every title found: no later row does better
                break
    return best


def _data_rows(rows: list[list[Any]], header: _Header) -> list[tuple[int, list[Any]]]:
    """Rows below the header with a value in any template column; blank rows skipped."""
    indexes = sorted(header.columns.values())
    width = indexes[-1] + 1
    pick = itemgetter(*indexes)
    n = len(indexes)
    out: list[tuple[int, list[Any]]] = []
    for number, row in enumerate(rows[header.row + 1 :], start=header.row + 2):
        if len(row) > width:
            row = row[:width]
        elif len(row) < width:
            row = row + [""] * (width - len(row))
        values = pick(row) if n > 1 else (pick(row),)
        if values.count("") == n:  # calamine's empty cell is "": the common blank row, at C speed
            continue
        for value in values:  # the first non-"" value decides, almost always
            if value != "" and (value.__class__ is not str or not is_blank(value)):
                out.append((number, row))
                break
    return out


# --- guarded reading in worker processes ----------------------------------------------------
#
# Workers are plain `python -c` subprocesses speaking length-prefixed pickles over stdin/stdout,
# not multiprocessing: spawn would re-run the caller's main module in every worker (pandas and all,
# and a script without an `if __name__` guard would recurse), while this child imports only this
# module.  A thread per worker blocks on its stdout, so waiting with a timeout works the same on
# Windows (no select() on pipes there) and POSIX.

# Test-only hook, read in the worker: "hang:<file name>" or "crash:<file name>" makes the worker
# hang or die on that file, so that the timeout and crash paths are tested with real processes.
TEST_FAULT_ENV = "COOP_BATCH_TEST_WORKER_FAULT"
_BOOT = "from coop_batch.read import _worker_main; _worker_main()"
_STARTUP_SECONDS = 60.0
_MAX_START_FAILURES = 3
_DEPTH = 4  # tasks queued per worker: it reads on while we validate and file (a timeout is per file)


def _send(stream: Any, message: Any) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(body)) + body)
    stream.flush()


def _recv(stream: Any) -> Any:
    header = stream.read(8)
    if len(header) < 8:
        raise EOFError
    (size,) = struct.unpack("<Q", header)
    body = stream.read(size)
    if len(body) < size:
        raise EOFError
    return pickle.loads(body)


def _worker_main() -> None:
    """Worker process: limits, then (index, path, display name) in; (index, kind id, SheetData) out."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print must not corrupt the protocol: fd 1 now goes to stderr
    inp = sys.stdin.buffer
    fault = os.environ.get(TEST_FAULT_ENV, "")
    try:
        limits: Limits = _recv(inp)
        _cap_memory(limits.worker_memory_bytes)
        _send(out, ("ready",))
        while (task := _recv(inp)) is not None:
            index, path_text, display = task
            if fault and fault.partition(":")[2] == Path(path_text).name:
                if fault.startswith("hang:"):
                    time.sleep(3600)
                os._exit(70)
            data = read_sheet(Path(path_text), limits, display)
            kind_id, data.kind = (data.kind.id if data.kind else ""), None  # the parent's Kind objects
            _send(out, (index, kind_id, data))
    except (EOFError, OSError):  # the parent closed our stdin or went away
        pass


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


class _Worker:
    def __init__(self, limits: Limits, inbox: queue.Queue[tuple[_Worker, Any]]) -> None:
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parent.parent)  # the child imports this very package
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
        )
        self.ready = False
        self.tasks: deque[int] = deque()  # in flight, in the order the worker takes them
        self.deadline = time.monotonic() + _STARTUP_SECONDS
        threading.Thread(target=self._pump, args=(inbox,), daemon=True).start()
        self._write(limits)

    def _write(self, message: Any) -> None:
        try:
            _send(self.proc.stdin, message)
        except OSError:  # the worker died; its pump reports that and read_many retires it
            pass

    def _pump(self, inbox: queue.Queue[tuple[_Worker, Any]]) -> None:
        try:
            while True:
                inbox.put((self, _recv(self.proc.stdout)))
        except Exception:  # EOF, a broken pipe, a truncated message: the worker is gone
            inbox.put((self, None))

    def send(self, index: int, path: Path, timeout: float) -> None:
        if not self.tasks:
            self.deadline = time.monotonic() + timeout
        self.tasks.append(index)
        self._write((index, str(path), path.name))

    def stop(self, kill: bool = False) -> None:
        try:
            if not kill:
                self.proc.stdin.close()  # EOF: the worker finishes its loop and exits
                self.proc.wait(2)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


def read_many(
    paths: Sequence[Path], limits: Limits = Limits(), workers: int = 1, idle: Callable[[], None] | None = None
) -> Iterator[tuple[Path, SheetData]]:
    """Read each file in a worker process with `limits.timeout_seconds` per file; yields in INPUT ORDER.

    Workers start once and are reused.  A file that takes too long gets `file-timeout`, one that
    kills its worker gets `file-corrupt`; that worker is replaced and the other files go on.
    `workers=0` reads in this process instead (no time limit: for tests and benchmarks).
    `idle` is called (inside this generator) when the next file is not read yet and the workers are
    busy with it: the caller's own work done there overlaps their reading instead of waiting for it.
    """
    paths = [Path(p) for p in paths]
    if workers <= 0:
        for path in paths:
            yield path, read_sheet(path, limits)
        return
    done: dict[int, SheetData] = {}
    todo = deque(range(len(paths)))
    # How far dispatch may run ahead of the file to be yielded next: results held at most (memory).
    window = 8 * workers
    inbox: queue.Queue[tuple[_Worker, Any]] = queue.Queue()
    pool: list[_Worker] = []
    failures = next_out = 0

    def in_flight(workers: list[_Worker]) -> int:
        return sum(len(w.tasks) for w in workers)

    def retire(w: _Worker, code: str, **params: str) -> None:
        """Drop a worker; its current file gets `code`, the files queued behind it go back in line."""
        if w.tasks:
            index = w.tasks.popleft()
            done[index] = SheetData(paths[index], None, problems=[Problem(code, paths[index].name, params=params)])
        todo.extendleft(reversed(w.tasks))
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
                log.error("reader workers do not start; reading %s in-process", paths[todo[0]].name)
                index = todo.popleft()
                done[index] = read_sheet(paths[index], limits)
                continue
            while failures < _MAX_START_FAILURES and len(pool) < min(workers, len(todo) + in_flight(pool)):
                try:
                    pool.append(_Worker(limits, inbox))
                except OSError:
                    log.warning("cannot start a reader worker", exc_info=True)
                    failures += 1
            for w in pool:
                while w.ready and len(w.tasks) < _DEPTH and todo and todo[0] < next_out + window:
                    index = todo.popleft()
                    w.send(index, paths[index], limits.timeout_seconds)
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
                    index, kind_id, data = message
                    data.kind = KIND_BY_ID.get(kind_id)
                    done[index] = data
                    w.tasks.popleft()
                    w.deadline = time.monotonic() + limits.timeout_seconds  # for the next one queued
            now = time.monotonic()
            # News still queued first: a result that came while this generator was suspended (or in
            # `idle`) must not be taken for a timeout.
            late = [w for w in pool if (w.tasks or not w.ready) and now > w.deadline] if inbox.empty() else []
            for w in late:
                failures += 0 if w.ready else 1
                retire(w, "file-timeout", seconds=f"{limits.timeout_seconds:g}")
    finally:
        for w in pool:
            w.stop()


def read_one(path: Path, limits: Limits = Limits()) -> SheetData:
    """`read_many([path])`: one file, in a worker process, with the time limit (the CLI's `validate`)."""
    for _, data in read_many([path], limits, workers=1):
        return data
    raise AssertionError("read_many yields one result per path")  # pragma: no cover
