"""Feedback to the department that sent a file: annotated copies in `outbox/반려/<부서명>/`.

For every rejected file, and every accepted file with warnings, the department gets its
own workbook back: each problem cell filled (errors red, warnings amber) with a Korean
comment saying what is wrong and how to fix it, and a first sheet `검토결과` listing every
problem with a link to its cell.  A file that could not be opened at all gets a short
`.txt` instead.

Decisions (the why):
- The copy is made from the FILED file (archive/quarantine), its package edited directly
  (every part but the ones that change copied as it was), or loaded and saved with openpyxl
  where that path does not go (feedback_annotate.py): values, formulas, formats, other sheets,
  validations and names survive; only the problem cells' fill and comment change.  A
  department's own comment is kept under ours; our comments from an earlier round (the
  annotated copy sent back) are taken out first.
- Where a copy goes is a pure function of the ledger history (`plan_copies`): folder = the
  submission's department, else the inbox subfolder, else `부서미상`; name = the original
  name.  A later file with the same folder and name takes the path over (latest wins, like
  the master); two in one run are told apart by a hash prefix, as the inbox does.  So the
  master's `오류` sheet can point at copies of earlier runs with no extra bookkeeping.
- Nothing here may stop the run: every failure is logged and becomes a Korean note.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .inbox import fit_name, write_note
# The copy's side, re-exported: callers and tests know these names from here.
from .feedback_annotate import AUTHOR as AUTHOR
from .feedback_annotate import FILLS as FILLS
from .feedback_annotate import REVIEW_COLUMNS as REVIEW_COLUMNS
from .feedback_annotate import REVIEW_SHEET as REVIEW_SHEET
from .feedback_annotate import _severity_counts, annotate_workbook

if TYPE_CHECKING:  # pragma: no cover
    from .config import Workspace
    from .ledger import FileRow

log = logging.getLogger("coop_batch")

FEEDBACK_DIR = "반려"
NOTE_SUFFIX = "_검토결과.txt"
UNKNOWN_DEPARTMENT = "부서미상"
MAX_ANNOTATE_BYTES = 20 * 1024 * 1024  # bigger files get the .txt list (openpyxl needs ~50x in memory)
_FOLDER_BAD = re.compile(r'[<>:"/\\|?*\x00-\x1f]')
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


@dataclass(frozen=True)
class FeedbackCopy:
    file_id: int
    original_path: str  # relative to the inbox
    department: str  # the folder under 반려/
    path: Path  # what was written: the annotated .xlsx or the .txt
    status: str  # accepted / rejected
    errors: int
    warnings: int


@dataclass(frozen=True)
class DepartmentCount:
    department: str  # also the folder name under 반려/
    files: int
    rejected: int
    errors: int
    warnings: int


@dataclass
class FeedbackResult:
    root: Path  # the workspace root, for relative paths
    folder: Path  # outbox/반려
    copies: list[FeedbackCopy] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # Korean: what could not be written

    def by_department(self) -> list[DepartmentCount]:
        return count_by_department((c.department, c.status, c.errors, c.warnings) for c in self.copies)

    def summary_lines(self) -> list[str]:
        """Lines for the run summary (and the mail): problems per department and where the copies are."""
        if not self.copies:
            return []
        lines = [f"  부서별 검토본 {len(self.copies)}개 ({relative(self.folder, self.root)}):"]
        for count in self.by_department():
            rejected = f"반려 {count.rejected}개, " if count.rejected else ""
            lines.append(
                f"    {count.department}: 파일 {count.files}개({rejected}오류 {count.errors}건, "
                f"경고 {count.warnings}건) → {relative(self.folder / count.department, self.root)}"
            )
        return lines


# --- where copies go ---


def needs_feedback(row: FileRow) -> bool:
    """Rejected files, and accepted files with warnings; never duplicates (their original has one)."""
    return gets_copy(row.status.value, len(row.problems))


def gets_copy(status: str, problems: int) -> bool:
    """`needs_feedback` from a file's status and its number of problems (also for a run's outcomes)."""
    return status in ("rejected", "accepted") and problems > 0


def unreadable(problems: Iterable[Mapping[str, Any]]) -> bool:
    """A whole-file problem (not xlsx, corrupt, encrypted, too large...): there is no workbook to annotate."""
    return any(str(p.get("code", "")).startswith("file-") for p in problems)


def safe_folder(name: str) -> str:
    """A folder name that is legal on Windows and cannot climb out of 반려/ (`../`, `CON`, `a.`)."""
    text = _FOLDER_BAD.sub("_", unicodedata.normalize("NFC", name or "")).strip(". ")
    if not text or set(text) <= {".", "_", " "}:
        return ""
    if text.split(".")[0].upper() in _RESERVED:
        text = f"_{text}"
    return text[:60].strip(". ")


def department_folder(row: FileRow) -> str:
    """The submission's department, else the inbox subfolder it came from, else 부서미상."""
    for candidate in (row.department, row.inbox_folder):
        folder = safe_folder(candidate)
        if folder:
            return folder
    return UNKNOWN_DEPARTMENT


def _copy_name(row: FileRow) -> str:
    name = fit_name(_FOLDER_BAD.sub("_", PurePosixPath(row.original_path).name).strip() or "제출파일")
    return name + NOTE_SUFFIX if unreadable(row.problems) else name


Plan = Mapping[int, PurePosixPath]  # file id → its current copy's path under 반려/ (`plan_copies`)


class CopyPlan(dict[int, PurePosixPath]):
    """file id → the copy's path under 반려/ (`plan_copies`), and the copies the plan no longer holds
    because a later night took them back (`cleared`: (path, run id))."""

    def __init__(self, current: Mapping[int, PurePosixPath], cleared: list[tuple[PurePosixPath, int]]) -> None:
        super().__init__(current)
        self.cleared = cleared

    def cleared_by(self, *runs: int) -> list[PurePosixPath]:
        """The copies these runs' clean files took back."""
        return [rel for rel, by in self.cleared if by in runs]


def plan_copies(history: Sequence[FileRow]) -> CopyPlan:
    """file id → the copy's path under 반려/, for the rows whose copy is current: not taken over by a
    later file of the same name, and not cleared by the same file sent again and accepted without a
    problem (its red cells would only mislead now: `CopyPlan.cleared`, removed by `remove_cleared`; the
    rejected original stays in quarantine/).  A run plans once (`feedback_job.start_feedback`) and hands
    the plan to the copies, the master's links and its counts (`plan=`); without one, each plans for itself."""
    claims: dict[str, tuple[int, int]] = {}  # casefolded path → (file id, run id) of the latest claim
    planned: dict[int, PurePosixPath] = {}
    cleared: list[tuple[PurePosixPath, int]] = []  # (a copy's path, the run whose clean file cleared it)
    claimed_names: set[str] = set()  # the file names behind the claims: most clean files match none (cheap)
    for row in sorted(history, key=lambda r: r.id):
        if not needs_feedback(row):
            if row.name in claimed_names and row.status.value == "accepted":
                folder, name = department_folder(row), _copy_name(row)  # sent again, fixed: its old copy is done
                for stale in (name, name + NOTE_SUFFIX):
                    key = PurePosixPath(folder, stale).as_posix().casefold()
                    prior = claims.get(key)
                    if prior is not None and prior[1] != row.run_id:
                        del claims[key]
                        cleared.append((planned[prior[0]], row.run_id))
            continue
        claimed_names.add(row.name)
        folder, name = department_folder(row), _copy_name(row)
        rel = PurePosixPath(folder, name)
        prior = claims.get(rel.as_posix().casefold())
        if prior is not None and prior[1] == row.run_id:  # same night: both must survive
            rel = PurePosixPath(folder, f"{row.sha256[:8]}_{name}")
        claims[rel.as_posix().casefold()] = (row.id, row.run_id)
        planned[row.id] = rel
    current = {fid: rel for fid, rel in planned.items() if claims.get(rel.as_posix().casefold(), (0,))[0] == fid}
    return CopyPlan(current, cleared)


def remove_cleared(folder: Path, plan: CopyPlan, run_id: int, redo: Collection[int] = ()) -> list[Path]:
    """Remove from `folder` (반려/) the copies run `run_id` made stale, and those of the runs in `redo`
    (which died after filing: `copies_due`); never raises."""
    removed = []
    for rel in plan.cleared_by(run_id, *redo):
        target = folder / Path(*rel.parts)
        for path in dict.fromkeys((target, _note_for(target))):  # the workbook, or the list written in its place
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:  # open in Excel (Windows): it stays, unlinked from the master
                log.info("지난 검토본 %s을(를) 지우지 못했습니다 (%s)", path, exc)
                continue
            removed.append(path)
            log.info("고친 파일이 접수되어 지난 검토본 %s을(를) 지웠습니다", path)
    return removed


def copy_links(
    workspace: Workspace, history: Sequence[FileRow], result: FeedbackResult | None = None, plan: Plan | None = None
) -> dict[int, str]:
    """file id → the copy's path for people (workspace-relative, '/'), for copies that exist on disk."""
    folder = workspace.outbox / FEEDBACK_DIR
    written = {c.file_id: c.path for c in result.copies} if result is not None else {}
    links: dict[int, str] = {}
    for file_id, rel in (plan_copies(history) if plan is None else plan).items():
        path = written.get(file_id)
        if path is None:
            planned = folder / Path(*rel.parts)
            fallback = planned.with_name(planned.name + NOTE_SUFFIX)
            path = next((p for p in (planned, fallback) if _is_file(p)), None)
        if path is not None:
            links[file_id] = relative(path, workspace.root)
    return links


def current_counts(history: Sequence[FileRow], plan: Plan | None = None) -> list[DepartmentCount]:
    """Per department, over the files whose copy is current in 반려/ (a rerun changes nothing)."""
    rows = {row.id: row for row in history}
    return count_by_department(
        (rel.parts[0], rows[fid].status.value, *_severity_counts(rows[fid].problems))
        for fid, rel in (plan_copies(history) if plan is None else plan).items()
    )


def count_by_department(items: Iterable[tuple[str, str, int, int]]) -> list[DepartmentCount]:
    """(department, status, errors, warnings) per file → one count per department, most errors first."""
    table: dict[str, list[int]] = {}
    for department, status, errors, warnings_ in items:
        entry = table.setdefault(department, [0, 0, 0, 0])
        entry[0] += 1
        entry[1] += status == "rejected"
        entry[2] += errors
        entry[3] += warnings_
    counts = [DepartmentCount(d, n, r, e, w) for d, (n, r, e, w) in table.items()]
    return sorted(counts, key=lambda c: (-c.errors, -c.warnings, c.department))


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name the filesystem refuses (too long): no copy there
        return False


def relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:  # an outbox configured outside the workspace
        return path.as_posix()


# --- writing ---


def copies_due(
    history: Sequence[FileRow], run_id: int, plan: Plan | None = None, redo: Collection[int] = ()
) -> list[tuple[FileRow, PurePosixPath]]:
    """The files of run `run_id` — and of the runs in `redo`, which died after filing them — that
    get a copy, with where it goes under 반려/."""
    plan = plan_copies(history) if plan is None else plan
    return [(r, plan[r.id]) for r in history if (r.run_id == run_id or r.run_id in redo) and r.id in plan]


def write_copy(result: FeedbackResult, inbox: Path, row: FileRow, rel: PurePosixPath, as_of: date) -> None:
    """Write one file's copy into `result.folder`, recorded in `result` (a failure as a note)."""
    target = result.folder / Path(*rel.parts)
    try:
        path = _write_one(result.root, inbox, row, target, as_of)
    except Exception as exc:
        log.exception("검토본 %s을(를) 만들지 못했습니다", target)
        result.notes.append(f"{row.original_path}의 검토본을 만들지 못했습니다({type(exc).__name__}). 로그를 확인해 주세요.")
        return
    result.copies.append(_copy_record(row, target, path))
    log.info("검토본 %s → %s", row.original_path, relative(path, result.root))


def expected_copy(result: FeedbackResult, inbox: Path, row: FileRow, rel: PurePosixPath) -> None:
    """Record in `result` the copy `write_copy` is expected to write, without writing it: what the
    master links to while the copies are still being written elsewhere (see feedback_job)."""
    target = result.folder / Path(*rel.parts)
    path = target if not _plain_reason(_source(result.root, inbox, row), target) else _note_for(target)
    result.copies.append(_copy_record(row, target, path))


def _copy_record(row: FileRow, target: Path, path: Path) -> FeedbackCopy:
    errors, warnings_ = _severity_counts(row.problems)
    return FeedbackCopy(row.id, row.original_path, target.parent.name, path, row.status.value, errors, warnings_)


def _source(root: Path, inbox: Path, row: FileRow) -> Path | None:
    if row.filed_path:
        path = root / row.filed_path
        if path.is_file():
            return path
    path = inbox / row.original_path  # not moved yet (locked): the next run files it
    return path if path.is_file() else None


def _note_for(target: Path) -> Path:
    return target if target.name.endswith(NOTE_SUFFIX) else target.with_name(target.name + NOTE_SUFFIX)


def _plain_reason(source: Path | None, target: Path) -> str:
    """Why this file gets the .txt list instead of an annotated workbook ("" = it gets the workbook)."""
    if source is None:
        return "보관된 원본 파일을 찾지 못해 목록으로만 안내합니다."
    if target.name.endswith(NOTE_SUFFIX):
        return "파일을 열 수 없어 표시본(엑셀) 대신 목록으로 안내합니다."
    if source.stat().st_size > MAX_ANNOTATE_BYTES:
        return "파일이 커서 표시본(엑셀) 대신 목록으로 안내합니다."
    return ""


def _write_one(root: Path, inbox: Path, row: FileRow, target: Path, as_of: date) -> Path:
    source = _source(root, inbox, row)
    name = PurePosixPath(row.original_path).name
    target.parent.mkdir(parents=True, exist_ok=True)
    reason = _plain_reason(source, target)
    if not reason and source is not None:
        try:
            written = annotate_workbook(source, target, row.problems, display_name=row.original_path,
                                        rejected=row.status.value == "rejected", as_of=as_of)
            target.with_name(target.name + NOTE_SUFFIX).unlink(missing_ok=True)  # an older file's note
            return written
        except Exception as exc:  # calamine could read it but neither copy writer can: say so, list the problems
            log.warning("%s: 표시본을 만들 수 없어 목록으로 대신합니다 (%s: %s)", row.original_path, type(exc).__name__, exc)
            reason = "파일 구조 때문에 표시본(엑셀)을 만들 수 없어 목록으로 안내합니다."
    note = _note_for(target)
    write_unreadable_note(note, name, row, as_of, reason)
    if note != target:
        target.unlink(missing_ok=True)  # an older file's copy under this name: it would be taken for this one's
    return note


def write_unreadable_note(path: Path, file_name: str, row: FileRow, as_of: date, reason: str) -> None:
    """The short Korean .txt for a file there is no workbook copy of (UTF-8 with BOM, CRLF)."""
    state = "반려되었습니다" if row.status.value == "rejected" else "접수되었지만 확인할 점이 있습니다"
    header = (
        f"{file_name} 검토결과 ({as_of.isoformat()}, 기획예산과)\n\n이 파일은 {state}. {reason}\n"
        "아래 항목을 고친 뒤 파일을 다시 제출 폴더(inbox)에 넣어 주세요."
    )
    write_note(path, row.original_path, row.problem_objects(), header=header)
