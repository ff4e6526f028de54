"""The ledger's tables and row types: the schema, file, run and mail rows as frozen dataclasses,
their statuses, and the conversion from SQLite rows.  `Ledger` (ledger.py) stores and queries them."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from enum import StrEnum
from operator import itemgetter
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from typing import Any, TypeVar

from .errors import Problem
from .ledger_codec import decode_json, to_iso

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class LedgerError(Exception):
    """The ledger file cannot be used; the message is Korean and says how to fix it (CLI exit 2)."""


class FileStatus(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"  # byte-identical to an earlier file: filed, not processed again
    DEFERRED = "deferred"  # left in the inbox for the next run; never stored in `files`


class RunStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"  # exit 0
    REJECTED = "rejected"  # some files rejected, outputs written (exit 1)
    FAILED = "failed"  # stopped by an error
    INTERRUPTED = "interrupted"  # found still 'running' by a later run: the process died


class MailStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # last attempt failed; retried by the next run


# --- the tables (schema version 1; ledger.py's _MIGRATIONS lists the steps) ---

_SCHEMA_1 = (
    """CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started TEXT NOT NULL,
        finished TEXT,
        as_of TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'running'
            CHECK (status IN ('running', 'ok', 'rejected', 'failed', 'interrupted')),
        exit_code INTEGER,
        summary TEXT NOT NULL DEFAULT '{}',
        problems INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
        original_path TEXT NOT NULL,
        name TEXT NOT NULL,
        size INTEGER NOT NULL CHECK (size >= 0),
        mtime TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        arrived_at TEXT NOT NULL CHECK (arrived_at <= first_seen),
        kind TEXT NOT NULL DEFAULT '',
        department TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected', 'duplicate')),
        duplicate_of INTEGER REFERENCES files(id),
        filed_path TEXT,
        template_version TEXT NOT NULL DEFAULT '',
        rules_version TEXT NOT NULL DEFAULT '',
        problems TEXT NOT NULL DEFAULT '[]',
        CHECK ((status = 'duplicate') = (duplicate_of IS NOT NULL))
    )""",
    "CREATE INDEX files_sha256 ON files(sha256)",
    "CREATE INDEX files_run ON files(run_id)",
    "CREATE INDEX files_unfiled ON files(id) WHERE filed_path IS NULL",
    """CREATE TABLE record_sets (
        sha256 TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        template_version TEXT NOT NULL,
        rules_version TEXT NOT NULL,
        rows INTEGER NOT NULL,
        stored_at TEXT NOT NULL
    )""",
    """CREATE TABLE records (
        sha256 TEXT NOT NULL REFERENCES record_sets(sha256) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (sha256, seq)
    ) WITHOUT ROWID""",
    """CREATE TABLE mails (
        id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES runs(id),
        path TEXT NOT NULL UNIQUE,
        subject TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        created TEXT NOT NULL,
        sent_at TEXT
    )""",
)


def _migrate_to_1(db: sqlite3.Connection) -> None:
    for statement in _SCHEMA_1:
        db.execute(statement)


# --- rows ---


def _relative_posix(value: str | PurePath, what: str) -> str:
    text = value.as_posix() if isinstance(value, PurePath) else str(value).replace("\\", "/")
    # Fast path (two PurePaths cost 5 µs a file): without a leading separator there is no POSIX
    # root nor a Windows UNC drive or root, and without ':' second no drive letter — so neither
    # flavour calls it absolute.  Anything else gets the exact check.
    if text and text[0] not in "/\\" and text[1:2] != ":":
        return text
    if not text or PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute():
        raise ValueError(f"{what} must be a relative path, got {value!r}")
    return text


@dataclass(frozen=True)
class FileEntry:
    """What the run knows about one processed inbox file, to be recorded."""

    run_id: int
    sha256: str
    original_path: str  # relative to the inbox, '/' separators (a PurePath is converted)
    size: int
    mtime: datetime
    first_seen: datetime
    arrived_at: datetime  # inbox.arrival_time(): <= first_seen
    status: FileStatus
    kind: str = ""  # schema Kind.id, '' when unknown
    department: str = ""
    duplicate_of: int | None = None  # files.id of the first row with the same content
    template_version: str = ""  # as declared in the file's `_meta`
    rules_version: str = ""  # Rules.version the file was judged under
    problems: Sequence[Problem] = field(default=())

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "original_path", _relative_posix(self.original_path, "original_path"))
        if type(self.status) is not FileStatus:
            set_(self, "status", FileStatus(self.status))
        if type(self.problems) is not tuple:
            set_(self, "problems", tuple(self.problems))
        if not _SHA256_RE.match(self.sha256):
            raise ValueError(f"sha256 must be 64 lowercase hex digits, got {self.sha256!r}")
        if self.status is FileStatus.DEFERRED:
            raise ValueError("deferred files are not recorded in the ledger (they stay in the inbox)")
        if (self.status is FileStatus.DUPLICATE) != (self.duplicate_of is not None):
            raise ValueError("duplicate_of is required for, and only for, a duplicate")
        if self.size < 0:
            raise ValueError(f"negative size {self.size}")
        arrived, first_seen = to_iso(self.arrived_at), to_iso(self.first_seen)
        if arrived > first_seen:
            raise ValueError("arrived_at must not be later than first_seen")
        # Kept for `Ledger.record_files` (not a field: no part of eq/repr): `to_iso` is ~2 µs a call.
        set_(self, "_stamps", (to_iso(self.mtime), first_seen, arrived))

    @property
    def stamps(self) -> tuple[str, str, str]:
        """(mtime, first_seen, arrived_at) as the ledger stores them."""
        return self._stamps  # type: ignore[attr-defined, no-any-return]

    @property
    def name(self) -> str:
        # str.rpartition instead of a PurePosixPath for the usual name; the exact path otherwise
        # ('a/b/' or 'a/.' normalise to another last part)
        tail = self.original_path.rpartition("/")[2]
        if tail and tail != ".":
            return tail
        return PurePosixPath(self.original_path).name


@dataclass(frozen=True)
class FileRow:
    id: int
    run_id: int
    sha256: str
    original_path: str
    name: str
    size: int
    mtime: datetime
    first_seen: datetime
    arrived_at: datetime
    status: FileStatus
    kind: str
    department: str
    duplicate_of: int | None
    filed_path: str | None  # relative to the workspace, '/' separators; None until moved
    template_version: str
    rules_version: str
    problems: tuple[dict[str, Any], ...]  # Problem.as_dict() as recorded (message included)

    def problem_objects(self) -> list[Problem]:
        return [Problem.from_dict(p) for p in self.problems]

    @property
    def inbox_folder(self) -> str:
        """The inbox subfolder the file came in ("" at the top): its department's, by convention."""
        parts = PurePosixPath(self.original_path).parts
        return parts[0] if len(parts) > 1 else ""


@dataclass(frozen=True)
class RunRow:
    id: int
    started: datetime
    finished: datetime | None
    as_of: date
    status: RunStatus
    exit_code: int | None
    summary: dict[str, Any]
    problems: int


@dataclass(frozen=True)
class MailRow:
    id: int
    run_id: int | None
    path: str  # the .eml, relative to the workspace
    subject: str
    status: MailStatus
    attempts: int
    last_error: str
    created: datetime
    sent_at: datetime | None


_R = TypeVar("_R", FileRow, RunRow, MailRow)


def _problems(text: str) -> tuple[dict[str, Any], ...]:
    return () if text == "[]" else tuple(json.loads(text))  # most files have none: skip the parse


def _member(enum: type[StrEnum]) -> Callable[[str], Any]:
    """`enum(value)` by a dict lookup (an Enum call is ~1 µs); unknown values still raise as before."""
    members = {m.value: m for m in enum}

    def convert(value: str) -> Any:
        member = members.get(value)
        return enum(value) if member is None else member

    return convert


_CONVERT: dict[str, Callable[[Any], Any]] = {  # column -> python value (NULL stays None)
    "mtime": datetime.fromisoformat,
    "first_seen": datetime.fromisoformat,
    "arrived_at": datetime.fromisoformat,
    "started": datetime.fromisoformat,
    "finished": datetime.fromisoformat,
    "created": datetime.fromisoformat,
    "sent_at": datetime.fromisoformat,
    "as_of": date.fromisoformat,
}
_ROW_CONVERT: dict[type, dict[str, Callable[[Any], Any]]] = {
    FileRow: {"status": _member(FileStatus), "problems": _problems},
    RunRow: {"status": _member(RunStatus), "summary": decode_json},
    MailRow: {"status": _member(MailStatus)},
}


def row_reader(cls: type[_R], columns: Sequence[str]) -> Callable[[Sequence[Any]], _R]:
    """A builder of `cls` from rows with these columns (a cursor's `description`), made once per
    row type and column list (a dozen in a process)."""
    key = (cls, tuple(columns))
    build = _READERS.get(key)
    if build is None:
        build = _READERS[key] = _make_reader(cls, key[1])
    return build


_READERS: dict[tuple[type, tuple[str, ...]], Callable[[Sequence[Any]], Any]] = {}


def _make_reader(cls: type[_R], columns: Sequence[str]) -> Callable[[Sequence[Any]], _R]:
    """See `row_reader`.

    Why not `cls(**values)` per row: looking each field up by name, a frozen dataclass's
    `__init__` (one `object.__setattr__` per field) and a dict of converters per row cost ~10 µs
    a row, 50 ms for a 5,000-file history.  The rows have no `__post_init__` to skip."""
    convert = {**_CONVERT, **_ROW_CONVERT[cls]}
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    pick = itemgetter(*[list(columns).index(name) for name in names])  # later migrations may add columns
    steps = [(position, convert[name]) for position, name in enumerate(names) if name in convert]
    new = object.__new__

    def build(row: Sequence[Any]) -> _R:
        values = list(pick(row))
        for position, conv in steps:
            value = values[position]
            if value is not None:
                values[position] = conv(value)
        obj = new(cls)
        obj.__dict__.update(zip(names, values))
        return obj

    return build


def _from_row(cls: type[_R], r: sqlite3.Row) -> _R:
    """Build a row dataclass from the columns it names (later migrations may add others)."""
    return row_reader(cls, r.keys())(r)
