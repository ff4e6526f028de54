"""Merge the accepted submissions: latest wins per key, conflicts reported.

The key of a record is kind + department + project (+ 보고일 for weekly reports);
a 평가결과 row's is its 연번, the list's own numbering, by which the policy pays (a
corrected list that renames a project replaces the row, instead of paying both).
All records that share a key come from ONE submission — the newest one that holds
that key — so a department that resends its plan replaces the whole plan, not
single rows.  Older submissions stay in the archive and the history.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Collection, Sequence

from .errors import Problem
from .normalize import project_key, squash
from .records import FILE_KEY, ROW_KEY, SHEET_KEY
from .schema import KIND_BY_ID, KINDS


@dataclass(frozen=True)
class Source:
    """One accepted submission, oldest first in the merge input."""

    name: str  # original file name, shown in 원본파일
    kind: str
    records: Sequence[dict[str, Any]]
    department: str = ""


@dataclass
class Merged:
    data: dict[str, list[dict[str, Any]]]  # kind id → merged records (with 원본파일 keys)
    replaced: dict[str, int] = field(default_factory=dict)  # kind id → records superseded by newer files
    problems: list[Problem] = field(default_factory=list)
    # kind id → of `replaced`, those superseded only because the `fresh` sources came (what changed)
    newly_replaced: dict[str, int] = field(default_factory=dict)


def record_department(record: dict[str, Any]) -> str:
    return squash(record.get("department") or record.get("lead_department") or "")


def record_key(kind: str, record: dict[str, Any]) -> tuple[Any, ...]:
    if kind == "results" and record.get("seq") is not None:
        return (kind, "연번", record["seq"])
    key: tuple[Any, ...] = (kind, record_department(record), project_key(record.get("project") or ""))
    if kind == "weekly":
        key += (str(record.get("report_date")),)
    return key


def merge(sources: Sequence[Source], fresh: Collection[int] = ()) -> Merged:
    """`sources` oldest first; each key keeps the records of the newest source that has it.

    `fresh`: indexes of the sources new in this run; `newly_replaced` then counts, per kind, the
    supersessions beyond those the other sources alone would give (the same pass, keys computed once).
    Department and project names are normalised by `squash` / `project_key`, which remember them: a
    night's 5,000 files repeat a few hundred names."""
    winner: dict[tuple[Any, ...], tuple[int, list[tuple[tuple[Any, ...], dict[str, Any]]]]] = {}
    replaced: dict[str, int] = defaultdict(int)
    earlier: dict[tuple[Any, ...], list[int]] = {}  # among the older sources only: key → [index, records]
    replaced_before: dict[str, int] = defaultdict(int)
    for index, source in enumerate(sources):
        kind = source.kind
        sheet = KIND_BY_ID[kind].sheet
        order_of = _display_order(kind)
        old = bool(fresh) and index not in fresh
        for record in source.records:
            key = record_key(kind, record)
            held = winner.get(key)
            if held is None or held[0] != index:
                if held is not None:
                    replaced[kind] += len(held[1])
                held = (index, [])
                winner[key] = held
            merged = {**record, FILE_KEY: source.name, SHEET_KEY: sheet}
            held[1].append((order_of(merged), merged))
            if old:
                mark = earlier.get(key)
                if mark is None or mark[0] != index:
                    if mark is not None:
                        replaced_before[kind] += mark[1]
                    mark = earlier[key] = [index, 0]
                mark[1] += 1
    by_kind: dict[str, list[tuple[tuple[Any, ...], dict[str, Any]]]] = {kind.id: [] for kind in KINDS}
    ordered = sorted(winner.items(), key=lambda item: (item[1][0], item[1][1][0][1].get(ROW_KEY, 0)))
    for key, (_, records) in ordered:
        by_kind[key[0]].extend(records)
    data: dict[str, list[dict[str, Any]]] = {}
    for kind_id, pairs in by_kind.items():
        pairs.sort(key=_first)  # stable: by display order, then as merged
        data[kind_id] = [record for _, record in pairs]
    newly = {k: n - replaced_before.get(k, 0) for k, n in replaced.items() if fresh and n > replaced_before.get(k, 0)}
    problems = lead_conflicts(data.get("contacts", [])) + renamed_results(sources)
    return Merged(data=data, replaced=dict(replaced), problems=problems, newly_replaced=newly)


def _first(pair: tuple[tuple[Any, ...], dict[str, Any]]) -> tuple[Any, ...]:
    return pair[0]


def _display_order(kind: str):
    """The order of a kind's merged records (with their 원본파일 key)."""

    def key(record: dict[str, Any]) -> tuple[Any, ...]:
        if kind == "results":
            return (record.get("seq") or 0, record.get(FILE_KEY, ""), record.get(ROW_KEY, 0))
        first = str(record.get("report_date") or "") if kind == "weekly" else ""
        return (first, record_department(record), project_key(record.get("project") or ""),
                record.get(FILE_KEY, ""), record.get(ROW_KEY, 0))

    return key


def renamed_results(sources: Sequence[Source]) -> list[Problem]:
    """A 연번 that names another project in a newer 평가결과 file than in the one before: the newer
    row replaced the older.  Said, because two lists each numbered from 1 would do the same."""
    held: dict[Any, tuple[int, str, str]] = {}  # 연번 → (source index, project as written, file)
    problems: list[Problem] = []
    for index, source in enumerate(sources):
        if source.kind != "results":
            continue
        for record in source.records:
            seq = record.get("seq")
            if seq is None:
                continue
            name = str(record.get("project") or "")
            before = held.get(seq)
            if before is not None and before[0] != index and project_key(before[1]) != project_key(name):
                problems.append(Problem("result-replaced", file=source.name, sheet=KIND_BY_ID["results"].sheet,
                                        params={"seq": seq, "old": before[1], "old_file": before[2], "new": name}))
            if before is None or before[0] != index:
                held[seq] = (index, name, source.name)
    return problems


def lead_conflicts(contacts: Sequence[dict[str, Any]]) -> list[Problem]:
    """Two departments each claiming to lead (총괄부서) one project: report, don't resolve."""
    leads: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for record in contacts:
        if squash(record.get("role") or "") == "총괄부서":
            leads[project_key(record.get("project") or "")].setdefault(record_department(record), record)
    problems = []
    for claims in leads.values():
        if len(claims) > 1:
            first = next(iter(claims.values()))
            problems.append(
                Problem(
                    "lead-conflict",
                    file=", ".join(sorted({r[FILE_KEY] for r in claims.values()})),
                    sheet=first.get(SHEET_KEY, ""),
                    params={"project": first.get("project", ""), "departments": ", ".join(sorted(claims))},
                )
            )
    return problems
