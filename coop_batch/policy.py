"""The policy engine: 포상금, 부서별 배분, 특별휴가, 표창추천 and 근무평정 rosters (issue 4).

Pure computation: `compute(data, rules)` takes the merged records of every kind
(kind id → record dicts as validation and merge produce them) and returns rows
for the master workbook's policy sheets, keyed by the exact Korean column titles,
plus the problems found on the way.  No I/O; every figure is an `int` of 원.

Every rule comes from the year's rules file (`coop_batch/rules/<year>.toml`), so a
new year needs no code change.  The only things fixed in code are the meanings
of the template columns (who is 총괄팀장, who is 총괄담당자) and the shape of the
decisions; see `policy_reward` (seed IV 지급기준, VI 행정사항) and
`policy_honours` (seed IV 격려기준, 특별휴가 선정기준, 표창추천, 인사상 우대).

Projects are matched across kinds by `normalize.project_key` (spacing, dots and
brackets ignored) and departments and people by `normalize.squash`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Mapping, Sequence

from .errors import Problem
from .normalize import column_letter as index_letter
from .normalize import project_key, squash
from .records import COLS_KEY, FILE_KEY, ROW_KEY, SHEET_KEY
from .rules import CategoryRule, Rules
from .schema import KIND_BY_ID, Kind

# --- output sheets: exact column titles (the writer lays sheets out from these) ---
REWARD_SHEET = "포상금지급"
DEPARTMENT_REWARD_SHEET = "부서별포상금"
LEAVE_SHEET = "특별휴가"
COMMENDATION_SHEET = "표창추천"
PERSONNEL_SHEET = "근무평정"

BASIS = "근거"  # every row: the rule applied in words + the source file and cell
REWARD_COLUMNS = ("연번", "사업명", "사업구분", "평가결과", "등급구분", "수상금(원)", "지급기준", "포상금(원)", "비고", BASIS)
DEPARTMENT_REWARD_COLUMNS = ("사업명", "부서명", "부서구분", "배분액(원)", "비고", BASIS)
LEAVE_COLUMNS = ("부서명", "직급", "성명", "역할", "사업명", "평가결과", "휴가일수", "사용기한", "비고", BASIS)
COMMENDATION_COLUMNS = ("사업명", "부서명", "직급", "성명", "역할", "추천구분", "비고", BASIS)
PERSONNEL_COLUMNS = ("부서명", "직급", "성명", "사업명", "평가결과", BASIS)

# Value type of the non-text columns, in the writer's ColumnSpec vocabulary.
COLUMN_TYPES: dict[str, str] = {
    "연번": "int",
    "수상금(원)": "money",
    "포상금(원)": "money",
    "배분액(원)": "money",
    "휴가일수": "int",
    "사용기한": "date",
}

RESULTS, CONTACTS, PLANS, SPLIT, STAFF = (KIND_BY_ID[k] for k in ("results", "contacts", "plans", "split", "staff"))


@dataclass
class PolicyResult:
    rewards: list[dict[str, Any]]  # 포상금지급: one row per result, by 연번
    department_rewards: list[dict[str, Any]]  # 부서별포상금: the split actually paid
    leave: list[dict[str, Any]]  # 특별휴가: one row per person
    commendations: list[dict[str, Any]]  # 표창추천
    personnel: list[dict[str, Any]]  # 근무평정: one row per person
    total_reward_won: int
    problems: list[Problem]
    year: int  # the evaluation year the leave deadline was computed from
    leave_deadline: date

    @property
    def recommended(self) -> int:
        """People the 표창추천 names: one recommended for two projects counts once, a project with nobody
        to recommend (a row without a name) not at all."""
        return len({(row["부서명"], squash(row["성명"])) for row in self.commendations if row["성명"]})

    def honours_text(self) -> str:
        """`특별휴가 40명, 표창추천 22명(추천 29건)` for the run summary and the mail."""
        rows = sum(1 for row in self.commendations if row["성명"])
        counted = f"(추천 {rows}건)" if rows != self.recommended else ""
        return f"특별휴가 {len(self.leave)}명, 표창추천 {self.recommended}명{counted}"

    def sheets(self) -> list[tuple[str, tuple[str, ...], list[dict[str, Any]]]]:
        """(sheet name, column titles, rows) for each policy sheet, in workbook order."""
        return [
            (REWARD_SHEET, REWARD_COLUMNS, self.rewards),
            (DEPARTMENT_REWARD_SHEET, DEPARTMENT_REWARD_COLUMNS, self.department_rewards),
            (LEAVE_SHEET, LEAVE_COLUMNS, self.leave),
            (COMMENDATION_SHEET, COMMENDATION_COLUMNS, self.commendations),
            (PERSONNEL_SHEET, PERSONNEL_COLUMNS, self.personnel),
        ]


@dataclass(eq=False)  # identity: two results rows are two projects even when they read alike
class Project:
    """One 평가결과 row with the records of the other kinds that name the same project."""

    record: Mapping[str, Any]
    seq: int
    name: str
    key: str  # project_key(name)
    category_label: str  # as submitted
    category: str | None  # canonical name in the rules, None when the rules do not know it
    grade: str  # display form (the rules' spelling when known)
    tier: str | None  # None: the grade is not in the year's grade table
    prize_won: int | None  # None or 0: no prize money
    subsidy: bool
    lead_department: str  # squashed
    departments: list[str]  # squashed, as named in 평가결과
    contacts: list[Mapping[str, Any]] = field(default_factory=list)
    plans: list[Mapping[str, Any]] = field(default_factory=list)
    split: list[Mapping[str, Any]] = field(default_factory=list)
    staff: list[Mapping[str, Any]] = field(default_factory=list)

    @property
    def awarded(self) -> bool:
        return self.tier is not None

    @property
    def prize(self) -> int:
        return self.prize_won or 0

    def label(self) -> str:
        """`안전도시 만들기(최우수·연번 10)`: how a project is named inside a sentence."""
        return f"{self.name}({self.grade}·연번 {self.seq})"

    def all_departments(self) -> list[str]:
        """The project's departments: those in 평가결과 and those in its 담당자지정, lead first."""
        names = [self.lead_department, *self.departments]
        names += [squash(c.get("department") or "") for c in self.contacts]
        return [n for n in dict.fromkeys(names) if n]


def precedence(project: Project, rules: Rules) -> tuple[Any, ...]:
    """Sort key of the one-project rule: highest tier, then the larger 수상금, then the lower 연번."""
    tier_rank = rules.tier_rank(project.tier) if project.tier in rules.tiers else len(rules.tiers)
    return (tier_rank, -project.prize, project.seq, project.key)


def category_rule(project: Project, rules: Rules) -> CategoryRule | None:
    return rules.categories.get(project.category) if project.category else None


# --- positions: the file and the cell a row came from ---


def column_letter(kind: Kind, field_name: str) -> str:
    """The template's column letter of a field (A, B, ...); a hand-made layout is in the record's COLS_KEY."""
    return index_letter(next(i for i, c in enumerate(kind.columns) if c.field == field_name))


def cell(record: Mapping[str, Any], kind: Kind, field_name: str) -> str:
    row = record.get(ROW_KEY)
    letter = (record.get(COLS_KEY) or {}).get(field_name) or column_letter(kind, field_name)
    return f"{letter}{row}" if row else ""


def source(record: Mapping[str, Any], kind: Kind, field_name: str) -> str:
    """`평가결과.xlsx 평가결과!E12`."""
    sheet = record.get(SHEET_KEY) or kind.sheet
    where = f"{sheet}!{cell(record, kind, field_name)}" if record.get(ROW_KEY) else sheet
    file = record.get(FILE_KEY) or ""
    return f"{file} {where}".strip()


def basis(rule: str, *sources: str) -> str:
    """`<rule> (출처: a; b)`: the 근거 column."""
    refs = "; ".join(s for s in sources if s)
    return f"{rule} (출처: {refs})" if refs else rule


def problem(code: str, record: Mapping[str, Any], kind: Kind, field_name: str, **params: Any) -> Problem:
    return Problem(
        code,
        file=record.get(FILE_KEY) or "",
        sheet=record.get(SHEET_KEY) or kind.sheet,
        cell=cell(record, kind, field_name),
        column=kind.column(field_name).title,
        params=params,
    )


def won(amount: int) -> str:
    return f"{amount:,}원"


def text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def as_won(value: Any) -> int | None:
    """Money from a record: int 원 (Decimal accepted when whole); None stays None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise ValueError(f"fraction of a won: {value}")
        return int(value)
    return int(value)


# --- building the projects ---


def _order(record: Mapping[str, Any]) -> tuple[str, int]:
    return (str(record.get(FILE_KEY) or ""), int(record.get(ROW_KEY) or 0))


def build_projects(data: Mapping[str, Sequence[Mapping[str, Any]]], rules: Rules) -> list[Project]:
    """One `Project` per 평가결과 record, by 연번, with the other kinds' records attached by project name."""
    by_key: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for kind in (CONTACTS, PLANS, SPLIT, STAFF):
        groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for record in sorted(data.get(kind.id, ()), key=_order):
            groups[project_key(text(record.get("project")))].append(record)
        by_key[kind.id] = groups
    projects = []
    for record in data.get(RESULTS.id, ()):
        name = text(record.get("project"))
        key = project_key(name)
        grade = squash(text(record.get("grade")))
        departments = [d for d in map(squash, record.get("departments") or []) if d]
        lead = squash(text(record.get("lead_department"))) or (departments[0] if departments else "")
        label = text(record.get("category"))
        projects.append(
            Project(
                record=record,
                seq=int(record.get("seq") or 0),
                name=name,
                key=key,
                category_label=label,
                category=rules.category_of(label) if label else None,
                grade=rules.canonical_grade(grade) or grade,
                tier=rules.tier_of(grade) if grade else None,
                prize_won=as_won(record.get("prize_won")),
                subsidy=bool(record.get("subsidy")),
                lead_department=lead,
                departments=departments,
                contacts=list(by_key["contacts"].get(key, ())),
                plans=list(by_key["plans"].get(key, ())),
                split=list(by_key["split"].get(key, ())),
                staff=list(by_key["staff"].get(key, ())),
            )
        )
    projects.sort(key=lambda p: (p.seq, p.key, *_order(p.record)))
    return projects


def compute(
    data: Mapping[str, Sequence[Mapping[str, Any]]], rules: Rules, year: int | None = None
) -> PolicyResult:
    """Apply the year's rules to the merged records.

    `year` is the evaluation year the results belong to; it only sets the leave
    deadline (`rules.leave.deadline.for_year(year)`: for the 2016 rules, 12-31 of
    the following year).  It defaults to `rules.year`; pass the results' year
    (e.g. 2015 for the seed's 2015 results) when they are last year's.
    """
    # Imported here: both modules import the shared helpers above from this module.
    from .policy_honours import compute_honours
    from .policy_reward import compute_rewards

    year = rules.year if year is None else year
    deadline = rules.leave.deadline.for_year(year)
    projects = build_projects(data, rules)
    rewards = compute_rewards(projects, rules)
    honours = compute_honours(projects, rules, deadline)
    return PolicyResult(
        rewards=rewards.rows,
        department_rewards=rewards.department_rows,
        leave=honours.leave,
        commendations=honours.commendations,
        personnel=honours.personnel,
        total_reward_won=sum(row["포상금(원)"] for row in rewards.rows),
        problems=rewards.problems + honours.problems,
        year=year,
        leave_deadline=deadline,
    )
