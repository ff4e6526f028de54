"""The year's policy rules, loaded from ``rules/<year>.toml`` and validated at load.

Policy is data: grade tiers, reward rates and fixed amounts, leave days, the
commendation tiers, the plan deadline and the year's calendar all live in the
TOML file.  A new year is a new file.  Loading failures raise `RulesError` with a
Korean message (a configuration error: the CLI exits 2).
"""

from __future__ import annotations

import tomllib
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..config import toml_mistake, value_problems
from ..normalize import squash

RULES_DIR = Path(__file__).resolve().parent
WEEKDAYS = ("월", "화", "수", "목", "금", "토", "일")


class RulesError(Exception):
    """The rules file is missing or invalid; the message is Korean and names the file."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CategoryRule(_Model):
    aliases: list[str] = []
    reward_rate_percent: int = Field(ge=0, le=100)
    subsidy_excluded: bool
    fixed_without_prize: bool
    personnel_preference: bool = False


class RewardRule(_Model):
    fixed_without_prize: dict[str, int]
    requires_plan_notice: bool = True
    # 포상금 = 수상금 × rate% rounded DOWN to a multiple of this many 원 (1 = 원 미만 버림, 10 = 10원 미만 버림)
    round_down_to: int = Field(default=1, ge=1, le=1_000_000)
    # A 수상금(백만원) above this is taken for an amount typed in 원 (69200000 for 69.2) and refused
    max_prize_million: int = Field(default=10_000, ge=1)

    @field_validator("fixed_without_prize")
    @classmethod
    def _non_negative(cls, value: dict[str, int]) -> dict[str, int]:
        for tier, amount in value.items():
            if amount < 0:
                raise ValueError(f"'{tier}'의 정액 {amount}원이 음수입니다")
        return value


class Deadline(_Model):
    years_after: int = Field(ge=0, le=5)
    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)

    def for_year(self, year: int) -> date:
        return date(year + self.years_after, self.month, self.day)


# The roles the policy grants leave to (policy_honours uses these names): `[leave.days]` gives each
# of them its days for every tier, so a typo (`총괄 담당자`) cannot quietly take everyone's leave away.
LEAVE_ROLES = ("총괄담당자", "총괄팀장", "협조부서 총괄담당자")


class LeaveRule(_Model):
    deadline: Deadline
    days: dict[str, dict[str, int]]  # role → tier → days


class CommendationRule(_Model):
    officer_tiers: list[str]
    leader_tiers: list[str]


class PlanRule(_Model):
    submit_within_days: int = Field(ge=0, le=60)
    day_basis: Literal["calendar", "business"] = "calendar"


class CalendarRule(_Model):
    # Public holidays of the year: skipped when counting business days, and a deadline that
    # falls on one (or on a weekend) moves to the next working day when `roll_over` is on.
    holidays: list[date] = []
    roll_over: bool = False


class WeeklyRule(_Model):
    weekday: str = "금"
    start: date
    end: date

    @field_validator("weekday")
    @classmethod
    def _weekday(cls, value: str) -> str:
        if value not in WEEKDAYS:
            raise ValueError(f"요일 '{value}'은(는) 월·화·수·목·금·토·일 중 하나여야 합니다")
        return value

    @model_validator(mode="after")
    def _order(self) -> WeeklyRule:
        if self.end < self.start:
            raise ValueError(f"주간 보고 end({self.end})가 start({self.start})보다 앞섭니다")
        return self


class ScheduleItem(_Model):
    name: str
    owner: str = ""
    months: list[int] = []
    weekday: str | None = None
    start: str | None = None  # "MM-DD"
    end: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> ScheduleItem:
        if not (self.months or self.start):
            raise ValueError(f"일정 '{self.name}'에 months 또는 start/end가 필요합니다")
        if any(not 1 <= m <= 12 for m in self.months):
            raise ValueError(f"일정 '{self.name}'의 months는 1~12여야 합니다")
        if self.weekday is not None and self.weekday not in WEEKDAYS:
            raise ValueError(f"일정 '{self.name}'의 요일 '{self.weekday}'이(가) 올바르지 않습니다")
        for value in (self.start, self.end):
            if value is not None:
                try:
                    month, day = (int(x) for x in value.split("-"))
                    date(2000, month, day)
                except ValueError:
                    raise ValueError(f"일정 '{self.name}'의 날짜 '{value}'은(는) MM-DD 형식이어야 합니다") from None
        if (self.start is None) != (self.end is None):
            raise ValueError(f"일정 '{self.name}'에 start와 end를 함께 적어야 합니다")
        return self


class HistoryEntry(_Model):
    """One past year's awards (seed I: 2012~2015년 인센티브사업 수상 현황), for the dashboard chart."""

    year: int = Field(ge=2000, le=2100)
    rank: int | None = Field(default=None, ge=1)  # 금액 기준 순위 among the districts; None: not known
    amount_won: int = Field(ge=0)
    awards: int = Field(default=0, ge=0)  # number of awarded projects
    category: str | None = None  # the 사업구분 these figures count; None: every category


class Rules(_Model):
    year: int = Field(ge=2000, le=2100)
    version: str
    source: str = ""
    tiers: list[str] = Field(min_length=1)
    grades: dict[str, list[str]]
    categories: dict[str, CategoryRule]
    reward: RewardRule
    leave: LeaveRule
    commendation: CommendationRule
    plans: PlanRule
    weekly: WeeklyRule
    calendar: CalendarRule = CalendarRule()
    schedule: list[ScheduleItem] = []
    history: list[HistoryEntry] = []

    @model_validator(mode="after")
    def _consistent(self) -> Rules:
        tiers = set(self.tiers)
        problems: list[str] = []
        for tier in self.grades:
            if tier not in tiers:
                problems.append(f"[grades]의 '{tier}'이(가) tiers에 없습니다")
        seen: dict[str, str] = {}
        for tier, grades in self.grades.items():
            for grade in grades:
                key = squash(grade)
                if key in seen and seen[key] != tier:
                    problems.append(f"등급 '{grade}'이(가) '{seen[key]}'와 '{tier}'에 함께 있습니다")
                seen[key] = tier
        for tier in self.reward.fixed_without_prize:
            if tier not in tiers:
                problems.append(f"[reward] fixed_without_prize의 '{tier}'이(가) tiers에 없습니다")
        for tier in self.tiers:  # a tier left out would pay 0원 without a word
            if tier not in self.reward.fixed_without_prize:
                problems.append(f"[reward] fixed_without_prize에 '{tier}'이(가) 없습니다(지급하지 않으면 0을 적어 주세요)")
        for role, by_tier in self.leave.days.items():
            if role not in LEAVE_ROLES:
                problems.append(f"[leave.days]의 '{role}'은(는) 알 수 없는 역할입니다({', '.join(LEAVE_ROLES)} 중 하나)")
            for tier, days in by_tier.items():
                if tier not in tiers:
                    problems.append(f"[leave.days] '{role}'의 '{tier}'이(가) tiers에 없습니다")
                if not 0 <= days <= 30:
                    problems.append(f"[leave.days] '{role}' '{tier}'의 일수 {days}이(가) 0~30 밖입니다")
        for role in LEAVE_ROLES:
            by_tier = self.leave.days.get(role)
            if by_tier is None:
                problems.append(f"[leave.days]에 '{role}'이(가) 없습니다(휴가가 없으면 등급마다 0을 적어 주세요)")
                continue
            for tier in self.tiers:
                if tier not in by_tier:
                    problems.append(f"[leave.days] '{role}'에 '{tier}'이(가) 없습니다(휴가가 없으면 0을 적어 주세요)")
        for tier in (*self.commendation.officer_tiers, *self.commendation.leader_tiers):
            if tier not in tiers:
                problems.append(f"[commendation]의 '{tier}'이(가) tiers에 없습니다")
        labels: dict[str, str] = {}
        for name, rule in self.categories.items():
            for label in (name, *rule.aliases):
                key = squash(label)
                if key in labels and labels[key] != name:
                    problems.append(f"사업구분 별칭 '{label}'이(가) 두 구분에 있습니다")
                labels[key] = name
        years = [entry.year for entry in self.history]
        if len(set(years)) != len(years):
            problems.append("[[history]]에 같은 연도가 두 번 있습니다")
        for entry in self.history:
            if entry.category is not None and squash(entry.category) not in labels:
                problems.append(f"[[history]] {entry.year}년의 사업구분 '{entry.category}'이(가) categories에 없습니다")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @cached_property
    def _tier_by_grade(self) -> dict[str, str]:
        return {squash(g): tier for tier, grades in self.grades.items() for g in grades}

    @cached_property
    def _category_by_label(self) -> dict[str, str]:
        table: dict[str, str] = {}
        for name, rule in self.categories.items():
            for label in (name, *rule.aliases):
                table[squash(label)] = name
        return table

    def tier_of(self, grade: str) -> str | None:
        """`최 우 수` → `최우수 이상`; None for a grade the table does not know."""
        return self._tier_by_grade.get(squash(grade))

    def canonical_grade(self, grade: str) -> str | None:
        key = squash(grade)
        for grades in self.grades.values():
            for known in grades:
                if squash(known) == key:
                    return known
        return None

    def category_of(self, label: str) -> str | None:
        """`서울시 인센티브` → `시·자치구 공동협력사업`; None when unknown."""
        return self._category_by_label.get(squash(label))

    @property
    def grade_choices(self) -> list[str]:
        return [g for tier in self.tiers for g in self.grades.get(tier, [])]

    def tier_rank(self, tier: str) -> int:
        """0 for the highest tier."""
        return self.tiers.index(tier)


def rules_path(year: int, folder: Path | None = None) -> Path:
    """`<folder>/<year>.toml` when there is one (a workspace's own `rules/`: a new year without
    touching the installed package), else the package's."""
    if folder is not None and (folder / f"{year}.toml").is_file():
        return folder / f"{year}.toml"
    return RULES_DIR / f"{year}.toml"


def year_gap(rules_year: int, day: date) -> int:
    """How many years `day` lies from the rules' year, when that is more than one (else 0): a new year
    whose rules were never made (the clock says 2018, the settings still 2016) gives a plausible-looking
    night of hundreds of 'missing' weekly reports and last year's rewards.  Within a year either side is
    no gap (the 2016 rules pay out until January 2017)."""
    years = abs(day.year - rules_year)
    return years if years > 1 else 0


def year_gap_note(rules_year: int, as_of: date) -> str | None:
    """A Korean note when the as-of date lies years away from the rules' year (`year_gap`), else None."""
    years = year_gap(rules_year, as_of)
    if not years:
        return None
    return (f"기준일 {as_of.isoformat()}을(를) {rules_year}년 규칙으로 계산했습니다. 규칙 연도와 "
            f"{years}년 떨어져 있어 주간보고 현황·일정·포상이 그해 것이 아닙니다. 올해 자료라면 "
            f"{new_year_fix(as_of.year)} 지난 자료를 다시 보려면 --as-of에 그때 날짜를 주세요.")


def new_year_fix(year: int) -> str:
    """How to move a workspace on to `year`'s rules (a run's note, doctor's fix)."""
    return (f"작업 폴더 rules 폴더에 {year}.toml을 만들고(지난해 파일을 복사해 고침) 설정의 policy_year를 "
            f"{year}(으)로 바꿔 주세요.")


def available_years(folder: Path | None = None) -> list[int]:
    places = [RULES_DIR, *([folder] if folder is not None and folder.is_dir() else [])]
    return sorted({int(p.stem) for place in places for p in place.glob("*.toml") if p.stem.isdigit()})


def load_rules(source: int | Path, folder: Path | None = None) -> Rules:
    """Load and validate a rules file, by year (`folder/2017.toml`, else the package's `rules/2016.toml`)
    or by path."""
    path = rules_path(source, folder) if isinstance(source, int) else Path(source)
    if not path.is_file():
        years = ", ".join(str(y) for y in available_years(folder)) or "없음"
        where = folder if folder is not None else "작업 폴더의 rules"
        raise RulesError(
            f"{path.stem}년 규칙 파일 {path.name}을(를) 찾을 수 없습니다(있는 연도: {years}). {where} 폴더에 "
            f"{path.name}을(를) 만들거나(지난해 파일 {RULES_DIR / '2016.toml'}을 복사해 고침) 설정의 policy_year를 "
            f"고쳐 주세요."
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # Notepad may save with a BOM
    except UnicodeDecodeError:
        raise RulesError(f"규칙 파일 {path}이(가) UTF-8이 아닙니다. 메모장에서 'UTF-8'로 다시 저장해 주세요.") from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"규칙 파일 {path}: {toml_mistake(exc)}. 파일을 고쳐 주세요.") from None
    try:
        rules = Rules.model_validate(data)
    except ValidationError as exc:
        raise RulesError(f"규칙 파일 {path.name}에 잘못된 값이 있습니다: {value_problems(exc)}. 파일을 고쳐 주세요.") from None
    if path.stem.isdigit() and int(path.stem) != rules.year:  # a copied file whose `year` was not changed
        raise RulesError(
            f"규칙 파일 {path.name}의 year가 {rules.year}입니다. 파일 이름의 연도와 같게 year = {path.stem}로 고쳐 "
            f"주세요(지난해 파일을 복사했다면 version도 {path.stem}.1처럼 고쳐 주세요)."
        )
    return rules
