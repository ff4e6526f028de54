"""The master's 제출이력 sheet: every file a run has processed, one row each.

Apart from master.py so that the helper process that renders its rows ahead (write_ahead.py)
imports only this, the ledger and the writer, not the policy and everything behind it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from .ledger import FileRow
from .schema import KIND_BY_ID
from .seoul import SEOUL
from .write import ColumnSpec, RowsAhead, SheetSpec

STATUS_KO = {"accepted": "접수", "rejected": "반려", "duplicate": "중복", "deferred": "대기"}

HISTORY_COLUMNS = [
    ColumnSpec("번호", "int"), ColumnSpec("실행", "int"), ColumnSpec("처음 본 시각", "datetime"),
    ColumnSpec("도착 시각", "datetime"), ColumnSpec("파일"), ColumnSpec("서식"), ColumnSpec("부서"),
    ColumnSpec("상태", "status"), ColumnSpec("오류", "int"), ColumnSpec("경고", "int"),
    ColumnSpec("보관 위치"), ColumnSpec("같은 내용의 원본 번호", "int"), ColumnSpec("SHA-256"),
]


def history_rows(history: Sequence[FileRow]) -> Iterator[list[Any]]:
    for row in history:
        errors = sum(p.get("severity") == "error" for p in row.problems)
        kind = KIND_BY_ID.get(row.kind)
        yield [
            row.id, row.run_id, naive(row.first_seen), naive(row.arrived_at), row.original_path,
            kind.sheet if kind else "", row.department or row.inbox_folder,  # as the 오류 sheet and the copies
            STATUS_KO.get(row.status.value, row.status.value),
            errors, len(row.problems) - errors, row.filed_path or "", row.duplicate_of, row.sha256,
        ]


def history_sheet(history: Sequence[FileRow], ahead: RowsAhead | None = None) -> SheetSpec:
    return SheetSpec("제출이력", HISTORY_COLUMNS, history_rows(history), group="log", ahead=ahead)


def naive(value: datetime | None) -> datetime | None:
    """A moment as Seoul's wall clock, as Excel shows it (cells have no time zone)."""
    return value.astimezone(SEOUL).replace(tzinfo=None) if value else None
