"""Validation as data: `SheetData` in, `Submission` (records + problems) out.

Each data row goes through its kind's pydantic model (`models.py`); every
pydantic error already carries one of our catalogue codes, so it becomes a
`Problem` positioned at the cell Excel shows (`주간실적!C7`).  Checks that span
rows (fill-down, duplicates, unknown project names, `_meta`) live here.  Every
problem is collected; validation never stops at the first and never raises on
bad input.  Only rows without errors become records; a file with any error is
rejected as a whole by `Submission.accepted`.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from pydantic import ValidationError

from .errors import CATALOGUE, UNKNOWN_PROJECT_FIX, Problem, has_errors
from .models import ROW_MODELS, shown
from .normalize import (
    CellError,
    cell_text,
    column_letter,
    is_blank,
    nearest,
    project_key,
    squash,
    to_int,
)
from .records import COLS_KEY, ROW_KEY, SheetData, Submission
from .rules import Rules
from .schema import TEMPLATE_VERSION, Kind

# A row whose first filled cell says this is a sum line copied from a report table (the seed's `계`).
_TOTAL_WORDS = frozenset({"계", "합계", "소계", "총계", "총합계"})


@dataclass(frozen=True)
class _Place:
    """Where a problem is: the file, the sheet and the field → column map."""

    file: str
    sheet: str
    kind: Kind
    columns: dict[str, int]

    def problem(self, code: str, field: str = "", excel_row: int = 0, /, **params: Any) -> Problem:
        column = self.kind.column(field) if field else None
        cell = ""
        if field in self.columns and excel_row:
            cell = f"{column_letter(self.columns[field])}{excel_row}"
        if column is not None and "{example}" in CATALOGUE[code].template:
            params.setdefault("example", column.example)
        return Problem(code, self.file, self.sheet, cell, column.title if column else "", params)

    def row_problem(self, code: str, excel_row: int, /, **params: Any) -> Problem:
        """A problem about a whole row, placed on its first column (`A9`)."""
        first = min(self.columns.values(), default=0)
        return Problem(code, self.file, self.sheet, f"{column_letter(first)}{excel_row}", "", params)

    def order(self) -> Callable[[Problem], tuple[int, int]]:
        """Sort key: Excel row, then column position (row-wide problems first)."""
        index = {self.kind.column(f).title: i for f, i in self.columns.items()}

        def key(problem: Problem) -> tuple[int, int]:
            digits = "".join(ch for ch in problem.cell if ch.isdigit())
            return (int(digits) if digits else 0, index.get(problem.column, -1))

        return key


@dataclass
class _Row:
    excel_row: int
    values: dict[str, Any]  # field → raw value (after fill-down); absent columns → None
    sources: dict[str, int]  # field → the Excel row a filled-down value came from


def validate_sheet(
    sheet: SheetData,
    rules: Rules,
    known_projects: Iterable[str] | None = None,
    *,
    display_name: str | None = None,
) -> Submission:
    """Validate one read sheet under the year's rules; never raises on bad input."""
    file = display_name or sheet.path.name
    reading = [replace(p, file=file) if display_name or not p.file else p for p in sheet.problems]
    submission = Submission(path=sheet.path, kind=sheet.kind, problems=reading, meta=dict(sheet.meta))
    if sheet.kind is None:
        if not has_errors(reading):  # a reader that could not tell the kind must say so
            submission.problems.append(Problem("unknown-kind", file, sheet.sheet))
        return submission
    if sheet.kind.id == "results":
        sheet, reading = _category_from_note(sheet, rules, reading, file)
        submission.problems = reading
    if has_errors(reading):
        return submission  # a sheet that could not be read has no trustworthy rows

    kind = sheet.kind
    place = _Place(file, sheet.sheet or kind.sheet, kind, dict(sheet.columns))
    problems = submission.problems
    problems.extend(_meta_problems(sheet, rules, place, reading))
    absent = {c.field for c in kind.columns if c.field not in place.columns}
    reported = {p.column for p in reading if p.code == "missing-column"}
    for column in kind.columns:
        if column.required and column.field in absent and column.title not in reported:
            problems.append(place.problem("missing-column", column.field))

    rows, cell_problems = _data_rows(sheet, place)
    if not rows:
        problems.extend(cell_problems)
        problems.append(place.problem("no-rows"))
        return submission

    seen: dict[tuple[str | None, ...], int] = {}
    seqs: dict[Any, tuple[int, str | None]] = {}  # 평가결과 연번 → (its first Excel row, its project)
    projects: dict[str, tuple[str, int]] = {}  # project_key → (name as written, Excel row of its cell)
    for row in _fill_down(kind, place, rows):
        signature = tuple(cell_text(row.values[f]) for f in place.columns)
        if signature in seen:
            # a verbatim repeat is a copy-paste slip; counting it twice would double money and rosters
            cell_problems.append(place.row_problem("duplicate-row", row.excel_row, other=seen[signature]))
            continue
        seen[signature] = row.excel_row
        record, found = _validate_row(row, rules, place, absent)
        cell_problems.extend(found)
        if record is not None:
            if kind.id == "results" and record.get("seq") is not None:  # 연번 names a project: once a list
                first = seqs.setdefault(record["seq"], (row.excel_row, record.get("project")))
                if first[0] != row.excel_row and project_key(first[1] or "") != project_key(record.get("project") or ""):
                    cell_problems.append(place.problem("duplicate-seq", "seq", row.excel_row, seq=record["seq"],
                                                       other=first[0]))
            submission.records.append(record)
        project = row.values.get("project")
        name = None if is_blank(project) or project.__class__ is CellError else cell_text(project)
        if name:
            projects.setdefault(project_key(name), (name, row.sources.get("project", row.excel_row)))

    cell_problems.extend(_unknown_projects(projects, known_projects, place))
    unique = list(dict.fromkeys(cell_problems))  # a filled-down bad value is reported once, at its source
    unique.sort(key=place.order())
    problems.extend(unique)
    layout = _moved_columns(kind, place.columns)
    if layout:  # later stages cite cells; a hand-made layout must not send them to the template's letters
        for record in submission.records:
            record[COLS_KEY] = layout
    submission.department = _department(kind, submission.records)
    return submission


def _category_from_note(
    sheet: SheetData, rules: Rules, reading: list[Problem], file: str
) -> tuple[SheetData, list[Problem]]:
    """The seed's own results table has no 사업구분 column: it writes the category in 비고 on the first row of
    each group (`서울시 인센티브`, `서울시 단위사업`, `대외기관`).  Read it from there, filled down, and say so."""
    if "category" in sheet.columns or "note" not in sheet.columns or not sheet.rows:
        return sheet, reading
    at = sheet.columns["note"]
    labels: list[str] = []
    current = ""  # rows above the first label (a 계 row) stay blank: skipped, or reported as required
    for _, values in sheet.rows:
        text = cell_text(values[at]) if at < len(values) else None
        current = (rules.category_of(text) if text else None) or current
        labels.append(current)
    if not any(labels):  # 비고 names no category anywhere: the column is simply missing
        return sheet, reading
    width = max(sheet.columns.values()) + 1
    rows = [(r, [*values, *[""] * (width - len(values)), label]) for (r, values), label in zip(sheet.rows, labels)]
    title = sheet.kind.column("category").title
    kept = [p for p in reading if not (p.code == "missing-column" and p.column == title)]
    note = Problem("category-from-note", file, sheet.sheet, "", title,
                   {"note": sheet.kind.column("note").title})
    return replace(sheet, columns={**sheet.columns, "category": width}, rows=rows), [*kept, note]


def _moved_columns(kind: Kind, columns: dict[str, int]) -> dict[str, str]:
    standard = {c.field: i for i, c in enumerate(kind.columns)}
    return {f: column_letter(i) for f, i in columns.items() if standard.get(f) != i}


def validate_file(
    path: Path,
    rules: Rules,
    known_projects: Iterable[str] | None = None,
    display_name: str | None = None,
) -> Submission:
    """Read one workbook safely and validate it."""
    from .read import read_one  # lazy: reading pulls in the workbook libraries

    sheet = read_one(Path(path))
    return validate_sheet(sheet, rules, known_projects, display_name=display_name)


def validate_files(
    paths: Iterable[Path], rules: Rules, known_projects: Iterable[str] | None = None, workers: int = 1
) -> Iterator[tuple[Path, Submission]]:
    """`validate_file` for many files, in input order, reusing the reader's worker processes
    (one process per file would cost ~0.1 s each)."""
    from .read import read_many

    known = list(known_projects) if known_projects is not None else None
    for path, sheet in read_many([Path(p) for p in paths], workers=workers):
        yield path, validate_sheet(sheet, rules, known)


# --- steps ---


def _meta_problems(sheet: SheetData, rules: Rules, place: _Place, reading: list[Problem]) -> list[Problem]:
    already = {p.code for p in reading}
    found: list[Problem] = []
    version = cell_text(sheet.meta.get("template_version"))
    if version and version != TEMPLATE_VERSION and "old-template" not in already:
        found.append(place.problem("old-template", found=version, expected=TEMPLATE_VERSION))
    year_text = cell_text(sheet.meta.get("policy_year"))
    if year_text and "other-year" not in already:
        try:
            year: int | str = to_int(year_text)
        except ValueError:
            year = year_text
        if year != rules.year:
            found.append(place.problem("other-year", found=year, expected=rules.year))
    return found


def _data_rows(sheet: SheetData, place: _Place) -> tuple[list[tuple[int, list[Any]]], list[Problem]]:
    """The rows that hold data: blank rows and `※` notes dropped, sum rows (`계`) dropped with a warning."""
    by_position = sorted(place.columns.items(), key=lambda item: item[1])
    rows: list[tuple[int, list[Any]]] = []
    problems: list[Problem] = []
    for excel_row, values in sheet.rows:
        filled = [(f, values[i]) for f, i in by_position if i < len(values) and not is_blank(values[i])]
        if not filled:
            continue
        if isinstance(filled[0][1], str) and filled[0][1].lstrip().startswith("※"):
            continue  # a note under the table (`※ 작성자: 홍길동 (내선 6123)`), as official forms end
        # `계` under the first column, or under the second after a repeated 사업명 (포상금배분: 가사업 | 소계)
        total = next(((f, w) for f, v in filled[:2]
                      if (w := squash(unicodedata.normalize("NFKC", cell_text(v) or ""))) in _TOTAL_WORDS), None)
        if total is not None:
            problems.append(place.problem("total-row", total[0], excel_row, row=excel_row, value=total[1]))
            continue
        rows.append((excel_row, values))
    return rows, problems


def _fill_down(kind: Kind, place: _Place, rows: list[tuple[int, list[Any]]]) -> Iterable[_Row]:
    """Blank fill-down cells repeat the value above, as merged cells show them — within one project block.

    A block starts at a row whose 사업명 is written and differs from the block above;
    a blank 사업명 continues the block above.
    """
    fill = [c.field for c in kind.columns if c.fill_down and c.field in place.columns]
    above: dict[str, tuple[Any, int]] = {}  # field → (value, Excel row it was written in)
    block: str | None = None
    for excel_row, raw in rows:
        values = {c.field: _raw(raw, place.columns.get(c.field)) for c in kind.columns}
        sources: dict[str, int] = {}
        if fill:
            project = values.get("project")
            if not is_blank(project):
                key = project_key(cell_text(project) or "")
                if key != block:
                    above, block = {}, key
            for field in fill:
                if is_blank(values[field]):
                    if field in above:
                        values[field], sources[field] = above[field]
                else:
                    above[field] = (values[field], excel_row)
        yield _Row(excel_row, values, sources)


def _raw(values: list[Any], index: int | None) -> Any:
    """The raw cell at `index`; None for an absent column or a short row."""
    return values[index] if index is not None and index < len(values) else None


def _validate_row(
    row: _Row, rules: Rules, place: _Place, absent: set[str]
) -> tuple[dict[str, Any] | None, list[Problem]]:
    model = ROW_MODELS[place.kind.id]
    context: dict[str, Any] = {"rules": rules, "warnings": []}
    issues: list[tuple[str, str, dict[str, Any]]] = []
    record: dict[str, Any] | None = None
    values, broken = row.values, _cell_errors(row.values)
    if broken:  # an Excel error is reported as itself, not as whatever its blank would be taken for
        values = {**values, **dict.fromkeys(broken)}
        for field, cell in broken.items():
            if not cell.error:  # a formula written by a program and never calculated: its value is unknown
                issues.append((field, "formula-not-calculated", {"formula": "=" + shown(cell.formula)}))
                continue
            params = {"value": shown(cell.error)}
            if cell.formula:  # for support staff (JSON); the user sees it in the cell
                params["formula"] = "=" + shown(cell.formula)
            issues.append((field, "formula-error", params))
    try:
        instance = model.model_validate(values, context=context)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            field = str(error["loc"][0]) if error["loc"] else ""
            code = error["type"]
            if field in broken:
                continue  # said as formula-error (or formula-not-calculated) above
            if code not in CATALOGUE:  # our parsers return the declared types: anything else is a bug
                raise RuntimeError(f"{place.kind.id}.{field}: unexpected pydantic error {error}") from exc
            issues.append((field, code, dict(error.get("ctx") or {})))
    else:
        record = instance.model_dump()
        record[ROW_KEY] = row.excel_row
    issues.extend(context["warnings"])

    problems: list[Problem] = []
    for field, code, params in issues:
        if code == "required" and field in absent:
            continue  # the whole column is missing: reported once as missing-column
        problems.append(place.problem(code, field, row.sources.get(field, row.excel_row), **params))
    if has_errors(problems):
        record = None
    return record, problems


def _cell_errors(values: dict[str, Any]) -> dict[str, CellError]:
    """The fields whose cell holds an Excel error (`#NAME?`); {} for almost every row, found at C speed."""
    if CellError not in map(type, values.values()):
        return {}
    return {f: v for f, v in values.items() if v.__class__ is CellError}


def _unknown_projects(
    projects: dict[str, tuple[str, int]], known_projects: Iterable[str] | None, place: _Place
) -> list[Problem]:
    """One warning per project name (not per row) that matches no known project.

    The known names are those of the accepted results and contact lists (`run._NAME_KINDS`); a list is
    checked against the others, so its advice (`fix`) is not "match the 평가결과" for the 평가결과 itself."""
    known = known_projects if isinstance(known_projects, (set, frozenset)) else list(known_projects or ())
    if not known:  # nothing known yet (first run, or no results file): nothing to compare with
        return []
    exact = known if isinstance(known, (set, frozenset)) else set(known)
    known_keys: set[str] | None = None  # only for a name not written exactly as known (a run has ~40)
    found: list[Problem] = []
    fix = UNKNOWN_PROJECT_FIX.get(place.kind.id, UNKNOWN_PROJECT_FIX[""])
    for key, (name, excel_row) in projects.items():
        if name in exact:
            continue
        if known_keys is None:
            known_keys = {project_key(k) for k in known}
        if key in known_keys:
            continue
        near = nearest(name, list(known))
        hint = f"(비슷한 사업명: '{near}')" if near else ""
        params: dict[str, Any] = {"value": name, "hint": hint, "fix": fix}
        if near:
            params["nearest"] = near
        found.append(place.problem("unknown-project", "project", excel_row, **params))
    return found


def _department(kind: Kind, records: list[dict[str, Any]]) -> str:
    if kind.id == "results":  # one office compiles every department's results: no single sender
        return ""
    counts = Counter(r.get("department") for r in records if r.get("department"))
    return counts.most_common(1)[0][0] if counts else ""


# --- presentation (used by `coop-batch validate`) ---


def verdict(submission: Submission) -> str:
    errors = sum(p.is_error for p in submission.problems)
    warnings = len(submission.problems) - errors
    if submission.accepted:
        return "접수 가능" + (f" (경고 {warnings}건)" if warnings else "")
    text = f"반려 ― 오류 {errors}건"  # U+2015: the em dash does not exist in cp949
    return text + (f", 경고 {warnings}건" if warnings else "")


def summary(submission: Submission, file: str) -> dict[str, Any]:
    """The `--format json` item for one file."""
    return {
        "file": file,
        "kind": submission.kind_id,
        "accepted": submission.accepted,
        "department": submission.department,
        "problems": [p.as_dict() for p in submission.problems],
    }


def _width(text: str) -> int:
    # Korean and ambiguous-width marks take two cells in a Korean console
    return sum(2 if unicodedata.east_asian_width(ch) in "WFA" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def render_table(submission: Submission, file: str) -> str:
    """A plain-text table of one file's problems and its verdict (ASCII frame, cp949-safe)."""
    kind = submission.kind.sheet if submission.kind else "알 수 없음"
    head = f"파일: {file} (서식: {kind}"
    head += f", 부서: {submission.department})" if submission.department else ")"
    lines = [head]
    if submission.problems:
        titles = ("위치", "열", "구분", "코드", "내용")
        body = [
            (p.position, p.column, "오류" if p.is_error else "경고", p.code, p.message) for p in submission.problems
        ]
        widths = [max(_width(r[i]) for r in (titles, *body)) for i in range(4)]
        lines.append(" | ".join(_pad(t, w) for t, w in zip(titles, widths)) + " | " + titles[4])
        lines.append("-+-".join("-" * w for w in widths) + "-+-" + "-" * 10)
        for row in body:
            lines.append(" | ".join(_pad(t, w) for t, w in zip(row, widths)) + " | " + row[4])
    else:
        lines.append("문제 없음")
    lines.append(f"판정: {verdict(submission)}")
    return "\n".join(lines)
