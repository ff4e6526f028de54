"""Merge the accepted submissions: a newer file replaces what it corrects, conflicts reported.

Each record makes claims, and a newer file's claim removes every older record with the same claim,
so a file sent again replaces what it corrects as a whole, rows it left out included:

- every kind: the row's department + project (+ 보고일 for weekly reports);
- 포상금배분: the project (a project's split is one list: a corrected split that leaves a department
  out leaves it out, instead of its old row being paid beside the new ones);
- 담당자지정, 유공직원: the sending department + project (the lead department's list of every
  department's contacts, sent again without one department, drops that department's row; a
  department's own file does not touch the rows another department sent);
- 평가결과: its 연번 and its project, and a newer list that shares either with an older one
  replaces that older list whole (a corrected list that renumbers or leaves out a project pays it
  once or not at all; a list that shares neither, the next part of the year's results, is added).

A row removed that the newer file does not hold again is said (`row-withdrawn`, `result-replaced`) on
the night the newer file comes.
Older submissions stay in the archive and the history.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Collection, Hashable, Sequence

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
    department: str = ""  # the sending department (validate: the file's most frequent 부서명)


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
    """A row's own identity: department + project (+ 보고일 for a weekly report)."""
    key: tuple[Any, ...] = (kind, record_department(record), project_key(record.get("project") or ""))
    if kind == "weekly":
        key += (str(record.get("report_date")),)
    return key


_SENDER_SCOPED = frozenset({"contacts", "staff"})


def claims(kind: str, record: dict[str, Any], sender: str) -> tuple[Hashable, ...]:
    """What a record of a newer file replaces in older files (see the module's docstring)."""
    # A wider claim has None where a row's key has its department: the two never coincide.
    project = project_key(record.get("project") or "")
    if kind == "results":
        seq = record.get("seq")
        by_name = ("results", None, "사업", project)
        return (by_name,) if seq is None else (by_name, ("results", None, "연번", seq))
    own = record_key(kind, record)
    if kind == "split":
        return own, ("split", None, project)
    if kind in _SENDER_SCOPED and sender:
        return own, (kind, None, squash(sender), project)
    return (own,)


@dataclass
class _Pass:
    alive: list[bool]
    replaced: dict[str, int]
    withdrawn: list[tuple[int, int]]  # (removed record, the source that removed it)


def _supersede(kinds: list[str], made: list[tuple[Hashable, ...]], by_source: dict[int, list[int]],
               order: Sequence[int]) -> _Pass:
    """Take the sources in `order`, each removing the older records that share one of its claims
    (a 평가결과 list: every record of the older list).  A claim is held by one source at a time, the
    last that made it: the ones before it have lost their records with it."""
    alive = [False] * len(kinds)
    replaced: dict[str, int] = defaultdict(int)
    withdrawn: list[tuple[int, int]] = []
    holder: dict[Hashable, int] = {}
    members: dict[tuple[int, Hashable], list[int]] = defaultdict(list)
    for index in order:
        records = by_source.get(index, [])
        if not records:
            continue
        whole = kinds[records[0]] == "results"
        removed: set[int] = set()
        for record in records:
            for claim in made[record]:
                older = holder.get(claim)
                if older is None or older == index:
                    continue
                removed.update(by_source[older] if whole else members[(older, claim)])
        for record in sorted(removed):
            if alive[record]:
                alive[record] = False
                replaced[kinds[record]] += 1
                withdrawn.append((record, index))
        for record in records:
            alive[record] = True
            for claim in made[record]:
                holder[claim] = index
                members[(index, claim)].append(record)
    return _Pass(alive, replaced, withdrawn)


def merge(sources: Sequence[Source], fresh: Collection[int] = ()) -> Merged:
    """`sources` oldest first; what each newer source claims replaces the older records that claimed it.

    `fresh`: indexes of the sources new in this run; `newly_replaced` then counts, per kind, the
    supersessions beyond those the other sources alone would give (claims computed once for both).
    Department and project names are normalised by `squash` / `project_key`, which remember them: a
    night's 5,000 files repeat a few hundred names."""
    flat: list[dict[str, Any]] = []
    kinds: list[str] = []
    owners: list[int] = []
    made: list[tuple[Hashable, ...]] = []
    by_source: dict[int, list[int]] = {}
    for index, source in enumerate(sources):
        sheet = KIND_BY_ID[source.kind].sheet
        ids = by_source[index] = []
        for record in source.records:
            ids.append(len(flat))
            flat.append({**record, FILE_KEY: source.name, SHEET_KEY: sheet})
            kinds.append(source.kind)
            owners.append(index)
            made.append(claims(source.kind, record, source.department))
    every = _supersede(kinds, made, by_source, range(len(sources)))
    by_kind: dict[str, list[dict[str, Any]]] = {kind.id: [] for kind in KINDS}
    for record, alive in enumerate(every.alive):
        if alive:
            by_kind[kinds[record]].append(flat[record])
    data = {kind_id: sorted(records, key=_display_order(kind_id)) for kind_id, records in by_kind.items()}
    newly: dict[str, int] = {}
    if fresh:
        before = _supersede(kinds, made, by_source, [i for i in range(len(sources)) if i not in fresh])
        newly = {k: n - before.replaced.get(k, 0) for k, n in every.replaced.items() if n > before.replaced.get(k, 0)}
    # A removal is said on the night of the file that made it (all of them when `fresh` is not given).
    removals = [(r, by) for r, by in every.withdrawn if not fresh or by in fresh]
    problems = lead_conflicts(data.get("contacts", [])) + _withdrawn(removals, flat, kinds, owners, by_source, sources)
    return Merged(data=data, replaced=dict(every.replaced), problems=problems, newly_replaced=newly)


def _withdrawn(removed: list[tuple[int, int]], flat: list[dict[str, Any]], kinds: list[str], owners: list[int],
               by_source: dict[int, list[int]], sources: Sequence[Source]) -> list[Problem]:
    """A removed row the newer file does not hold again (by its project for 평가결과, by department +
    project otherwise): said once, on the newer file, since it leaves the master and the policy."""
    problems: list[Problem] = []
    held: dict[int, tuple[set[Any], dict[Any, str]]] = {}
    for record, by in removed:
        kind = kinds[record]
        if by not in held:
            newer = [flat[r] for r in by_source[by]]
            if kind == "results":
                keys = {project_key(r.get("project") or "") for r in newer}
                seqs = {r.get("seq"): str(r.get("project") or "") for r in newer if r.get("seq") is not None}
            else:
                keys, seqs = {record_key(kind, r) for r in newer}, {}
            held[by] = (keys, seqs)
        keys, seqs = held[by]
        row = flat[record]
        old_file, sheet = sources[owners[record]].name, KIND_BY_ID[kind].sheet
        if kind == "results":
            project = str(row.get("project") or "")
            if project_key(project) in keys:
                continue
            seq = row.get("seq")
            if seq in seqs:
                problems.append(Problem("result-replaced", file=sources[by].name, sheet=sheet,
                                        params={"seq": seq, "old": project, "old_file": old_file, "new": seqs[seq]}))
                continue
            what = f"연번 {seq} '{project}'" if seq is not None else f"'{project}'"
        else:
            if record_key(kind, row) in keys:
                continue
            what = f"'{row.get('project') or ''}' {record_department(row)}".rstrip()
        problems.append(Problem("row-withdrawn", file=sources[by].name, sheet=sheet,
                                params={"old_file": old_file, "what": what}))
    return problems


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
