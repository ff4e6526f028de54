"""The ledger's row types: file, run and mail rows as frozen dataclasses, their statuses, and the
conversion from SQLite rows.  `Ledger` (ledger.py) stores and queries them."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from enum import StrEnum
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


# --- rows ---


def _relative_posix(value: str | PurePath, what: str) -> str:
    text = value.as_posix() if isinstance(value, PurePath) else str(value).replace("\\", "/")
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
        set_(self, "status", FileStatus(self.status))
        set_(self, "problems", tuple(self.problems))
        if not _SHA256_RE.match(self.sha256):
            raise ValueError(f"sha256 must be 64 lowercase hex digits, got {self.sha256!r}")
        if self.status is FileStatus.DEFERRED:
            raise ValueError("deferred files are not recorded in the ledger (they stay in the inbox)")
        if (self.status is FileStatus.DUPLICATE) != (self.duplicate_of is not None):
            raise ValueError("duplicate_of is required for, and only for, a duplicate")
        if self.size < 0:
            raise ValueError(f"negative size {self.size}")
        if to_iso(self.arrived_at) > to_iso(self.first_seen):
            raise ValueError("arrived_at must not be later than first_seen")
        to_iso(self.mtime)

    @property
    def name(self) -> str:
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
    return tuple(json.loads(text))


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
    FileRow: {"status": FileStatus, "problems": _problems},
    RunRow: {"status": RunStatus, "summary": decode_json},
    MailRow: {"status": MailStatus},
}


def _from_row(cls: type[_R], r: sqlite3.Row) -> _R:
    """Build a row dataclass from the columns it names (later migrations may add others)."""
    convert = {**_CONVERT, **_ROW_CONVERT[cls]}
    values = {}
    for f in fields(cls):  # type: ignore[arg-type]
        value = r[f.name]
        if value is not None and f.name in convert:
            value = convert[f.name](value)
        values[f.name] = value
    return cls(**values)
