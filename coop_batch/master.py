"""Compose the output workbooks from a run: the master `통합현황_YYYYMMDD.xlsx` and the two
print-ready circulation workbooks (포상금지급내역, 특별휴가_표창대상자).

Which sheets exist and what goes in them is decided here; how a sheet looks is
`write.py`'s business.  Every figure is a value, not a formula (some viewers do
not recalculate), except the visible totals a user expects to be live.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from .config import SEOUL, Workspace
from .dashboard import summary_sheet
from .errors import CATALOGUE, Problem
from .ledger import FileRow
from .master_history import STATUS_KO, history_sheet
from .policy import BASIS, COLUMN_TYPES, PolicyResult
from .records import FILE_KEY, ROW_KEY
from .rules import Rules
from .schema import KINDS, Kind, ValueType
from .write import Book, ColumnSpec, RowsAhead, SheetSpec, SummarySpec, WriteResult, write_book

if TYPE_CHECKING:
    from .feedback import Plan
    from .run import RunReport

_TYPE = {
    ValueType.INT: "int",
    ValueType.NUMBER: "number",
    ValueType.MONEY_MILLION: "money",
    ValueType.MONEY_WON: "money",
    ValueType.DATE: "date",
    ValueType.YN: "yn",
    ValueType.CHOICE: "status",
}
# The master shows money in exact 원 even where the template asks for 백만원.
_MASTER_TITLE = {"prize_won": "수상금(원)"}


def write_master(
    workspace: Workspace,
    report: RunReport,
    rules: Rules,
    history: Sequence[FileRow],
    ahead: RowsAhead | None = None,
    plan: Plan | None = None,
) -> tuple[Path, list[str]]:
    """`통합현황_YYYYMMDD.xlsx`, linking the annotated copies `report.feedback` holds; `ahead`: its
    제출이력 rows rendered by a helper process (write_ahead.py); `plan`: the night's copy plan."""
    from .feedback import copy_links

    links = copy_links(workspace, history, getattr(report, "feedback", None), plan)
    notes: list[str] = []
    sheets = master_sheets(report, history, rules, links, ahead, plan)
    book = _book(workspace, report, f"통합현황_{_stamp(report)}.xlsx", sheets)
    return book_written(book, write_book(book), notes), notes


def roster_books(workspace: Workspace, report: RunReport, rules: Rules) -> list[Book]:
    """포상금지급내역 and 특별휴가_표창대상자: the policy's rosters, print-ready (no links, no history),
    to be written here or by a helper process (write_beside.py; `book_written` then)."""
    policy: PolicyResult = report.policy
    books = [
        (f"포상금지급내역_{_stamp(report)}.xlsx", reward_sheets(policy, rules, report.as_of)),
        (f"특별휴가_표창대상자_{_stamp(report)}.xlsx", honour_sheets(policy, rules, report.as_of)),
    ]
    return [_book(workspace, report, name, sheets) for name, sheets in books]


def book_written(book: Book, result: WriteResult, notes: list[str]) -> Path:
    """Where `book` went, its notes added to `notes`."""
    if result.fallback:
        notes.append(f"{book.path.name}이(가) 엑셀에서 열려 있어 {result.path.name}(으)로 저장했습니다.")
    notes += list(result.warnings)
    return result.path


def _stamp(report: RunReport) -> str:
    return report.as_of.strftime("%Y%m%d")


def _book(workspace: Workspace, report: RunReport, name: str, sheets: list[SheetSpec | SummarySpec]) -> Book:
    return Book(workspace.outbox / name, sheets, datetime.combine(report.as_of, time(0), SEOUL).replace(tzinfo=None))


# --- the master workbook ---


def master_sheets(
    report: RunReport,
    history: Sequence[FileRow],
    rules: Rules,
    links: Mapping[int, str] | None = None,
    ahead: RowsAhead | None = None,
    plan: Plan | None = None,
) -> list[SheetSpec | SummarySpec]:
    assert report.merged is not None and report.policy is not None
    data = report.merged.data
    sheets: list[SheetSpec | SummarySpec] = [summary_sheet(report, history, rules, plan)]
    sheets += [kind_sheet(kind, data.get(kind.id, [])) for kind in KINDS]
    sheets += policy_sheets(report.policy)
    if report.tracking is not None:
        from .tracking_report import status_sheets

        sheets += status_sheets(report.tracking)  # 주간보고현황, 제출현황, 일정, 미제출목록
    sheets.append(history_sheet(history, ahead))
    sheets.append(problem_sheet(history, report.problems, links))
    return sheets


def kind_columns(kind: Kind) -> list[ColumnSpec]:
    columns = [ColumnSpec(_MASTER_TITLE.get(c.field, c.title), _TYPE.get(c.type, "text")) for c in kind.columns]
    if kind.id == "results":
        columns.insert(4, ColumnSpec("등급구분", "status"))
    return columns + [ColumnSpec("원본파일"), ColumnSpec("원본 행", "int")]


_AS_IS = frozenset({str, int, type(None), Decimal, date, datetime, float})  # what `_cell` returns unchanged


def kind_sheet(kind: Kind, records: Sequence[dict[str, Any]]) -> SheetSpec:
    fields = [c.field for c in kind.columns]

    def rows() -> Iterator[list[Any]]:
        for record in records:
            # `_cell` only for lists and Y/N: a 5,000-row sheet has ~50,000 plain values.
            values = [v if type(v := record.get(f)) in _AS_IS else _cell(kind, f, record) for f in fields]
            if kind.id == "results":
                values.insert(4, record.get("tier") or "등급 미분류")
            yield values + [record.get(FILE_KEY, ""), record.get(ROW_KEY)]

    return SheetSpec(kind.sheet, kind_columns(kind), rows(), group="input")


def _cell(kind: Kind, field: str, record: dict[str, Any]) -> Any:
    value = record.get(field)
    if field == "departments" and isinstance(value, list):
        lead = record.get("lead_department")
        return " ".join(f"{d}(총괄)" if d == lead and len(value) > 1 else d for d in value)
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return value


def policy_sheets(policy: PolicyResult, *, basis: bool = True) -> list[SheetSpec]:
    """The roster sheets; `basis=False` leaves out 근거 (the printed circulation copies: the long rule text
    would shrink an A4 page to unreadable, and the master keeps it beside the same rows)."""
    specs = []
    for name, all_columns, rows in policy.sheets():
        columns = all_columns if basis else tuple(c for c in all_columns if c != BASIS)
        specs.append(
            SheetSpec(
                name,
                [ColumnSpec(title, COLUMN_TYPES.get(title, "text")) for title in columns],
                [[row.get(title) for title in columns] for row in rows],
                group="roster",
                total={"포상금(원)": "sum"} if "포상금(원)" in columns else None,
            )
        )
    return specs


PROBLEM_COLUMNS = [
    ColumnSpec("부서"), ColumnSpec("파일"), ColumnSpec("상태", "status"), ColumnSpec("시트"), ColumnSpec("셀"),
    ColumnSpec("열"), ColumnSpec("구분", "status"), ColumnSpec("코드"), ColumnSpec("문제"),
    ColumnSpec("내용과 고치는 방법", width=80), ColumnSpec("검토본(부서에 돌려줄 파일)"),
]


def problem_sheet(
    history: Sequence[FileRow], extra: Sequence[Problem], links: Mapping[int, str] | None = None
) -> SheetSpec:
    """Every problem, with the department and its annotated copy (`feedback.copy_links`)."""
    from .feedback import department_folder

    links = links or {}
    files = [row for row in history if row.status.value != "duplicate" and row.problems]
    departments = {row.id: department_folder(row) for row in files}
    per_department: dict[str, int] = {}
    for row in files:
        per_department[departments[row.id]] = per_department.get(departments[row.id], 0) + len(row.problems)

    def rows() -> Iterator[list[Any]]:
        for row in files:
            for p in row.problems:
                yield [
                    departments[row.id], row.original_path, STATUS_KO.get(row.status.value, ""), p.get("sheet", ""),
                    p.get("cell", ""), p.get("column", ""), "오류" if p.get("severity") == "error" else "경고",
                    p.get("code", ""), p.get("title", ""), p.get("message", ""), links.get(row.id, ""),
                ]
        for p in extra:
            yield [
                p.params.get("department") or p.params.get("lead") or "", p.file, "취합·포상", p.sheet, p.cell,
                p.column, "오류" if p.is_error else "경고", p.code, CATALOGUE[p.code].title, p.message, "",
            ]

    counts = sorted(per_department.items(), key=lambda item: (-item[1], item[0]))
    by_department = "부서별 제출 파일 문제: " + ", ".join(f"{d} {n}건" for d, n in counts) + ". " if counts else ""
    return SheetSpec(
        "오류", PROBLEM_COLUMNS, rows(), group="status",
        note=by_department + "검토본: 부서가 보낸 파일에 문제 칸을 색칠하고 메모로 고치는 방법을 적은 사본(outbox/반려/부서명).",
    )


# --- circulation workbooks (A4, title, date, totals) ---


def reward_sheets(policy: PolicyResult, rules: Rules, as_of: date) -> list[SheetSpec]:
    specs = policy_sheets(policy, basis=False)[:2]
    specs[0].title = f"{rules.year}년 시·자치구 공동협력사업 등 포상금 지급내역"
    specs[1].title = "부서별 포상금 배분내역"
    specs[1].total = {"배분액(원)": "sum"}
    for spec in specs:
        spec.subtitle = f"기준일 {as_of.isoformat()} · 기획예산과 · 근거: {rules.source} IV 격려방안"
        spec.fit_rows = True
    return specs


def honour_sheets(policy: PolicyResult, rules: Rules, as_of: date) -> list[SheetSpec]:
    specs = policy_sheets(policy, basis=False)[2:]
    titles = ("특별휴가 대상자", "표창 추천 대상자", "인사상 우대(근무평정 배려) 대상자")
    for spec, title in zip(specs, titles):
        spec.title = f"{title} 명단"
        spec.subtitle = f"기준일 {as_of.isoformat()} · 기획예산과"
        spec.fit_rows = True
    specs[0].subtitle += f" · 사용기한 {policy.leave_deadline.isoformat()}"  # the leave's own, not the others'
    specs[0].total = {"휴가일수": "sum"}
    return specs

