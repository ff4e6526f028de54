"""Data passed between the stages: what reading yields and what validation yields.

read  → `SheetData`  (raw cells of the template's one data sheet, positioned)
validate → `Submission` (validated records as plain dicts + problems)

Records are plain dicts keyed by `schema.Column.field`, plus the positional keys
`ROW_KEY` (the Excel row number) — so that the ledger can store them as JSON and
merge/policy/write can work on them without importing pydantic models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import Problem, has_errors
from .schema import KIND_BY_ID, Kind

ROW_KEY = "_row"  # Excel row number of the record's (first) row
FILE_KEY = "_file"  # original file name, added by the merge stage
SHEET_KEY = "_sheet"  # sheet name, added by the merge stage
COLS_KEY = "_cols"  # field → column letter, only where a hand-made file's layout differs from the template


@dataclass
class SheetData:
    """The data sheet of one workbook, as read, before validation."""

    path: Path
    kind: Kind | None  # None when the kind could not be identified
    sheet: str = ""
    header_row: int = 0  # Excel row number of the header row (1-based); 0 when not found
    columns: dict[str, int] = field(default_factory=dict)  # field → 0-based column index
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)  # (Excel row, cell values)
    meta: dict[str, str] = field(default_factory=dict)  # `_meta`: kind, template_version, policy_year
    problems: list[Problem] = field(default_factory=list)

    @property
    def readable(self) -> bool:
        return self.kind is not None and not has_errors(self.problems)


@dataclass
class Submission:
    """One validated file."""

    path: Path
    kind: Kind | None
    department: str = ""  # the submitting department (most frequent 부서명 / lead 주관부서)
    records: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def accepted(self) -> bool:
        return self.kind is not None and not has_errors(self.problems)

    @property
    def kind_id(self) -> str:
        return self.kind.id if self.kind else ""


def kind_of(kind_id: str) -> Kind:
    return KIND_BY_ID[kind_id]
