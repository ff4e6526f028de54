"""포상금 per result and its split between departments (seed IV 지급기준, VI 행정사항).

Decision order for one result (the first that applies decides the row):
1. grade not in the year's grade table → `등급 미분류`, nothing paid (problem `unknown-grade`);
2. 사업구분 not in the rules → `사업구분 미분류`, nothing paid;
3. no 자체추진계획, or none with a 기획예산과 통보일 → `지급 불가: 평가계획 미통보` (VI, every 사업구분);
4. prize money (수상금 > 0): if it is 경상보조금 and the category excludes that → `지급 제외: 경상보조금`,
   else 수상금 × rate% rounded DOWN to `rules.reward.round_down_to` 원 (2016: 원 미만 버림);
5. no prize money: the category's fixed amount by tier (단위평가·대외기관), or nothing (공동협력사업).

Money is integer 원 throughout: 10% of 4,100,000원 is 4,100,000 × 10 // 100 = 410,000원.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import Problem
from .normalize import squash
from .policy import (
    PLANS,
    RESULTS,
    SPLIT,
    Project,
    as_won,
    basis,
    category_rule,
    problem,
    source,
    text,
    won,
)
from .rules import Rules

NOT_CLASSIFIED = "등급 미분류"
NOT_NOTIFIED = "지급 불가: 평가계획 미통보"
SUBSIDY_EXCLUDED = "지급 제외: 경상보조금"
NO_PRIZE = "지급 없음: 수상금 없음"
UNKNOWN_CATEGORY = "사업구분 미분류"
LEAD_SHARE = "주관"  # 부서구분 of the lead department when it receives the whole amount


@dataclass(frozen=True)
class Decision:
    amount: int
    criterion: str  # 지급기준
    rule: str  # the rule in words (근거)
    note: str = ""  # 비고
    sources: tuple[str, ...] = ()


@dataclass
class Rewards:
    rows: list[dict[str, Any]] = field(default_factory=list)
    department_rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def compute_rewards(projects: list[Project], rules: Rules) -> Rewards:
    out = Rewards()
    for project in projects:
        decision, problems = decide(project, rules)
        out.problems += problems
        out.rows.append(
            {
                "연번": project.seq,
                "사업명": project.name,
                "사업구분": project.category or project.category_label,
                "평가결과": project.grade,
                "등급구분": project.tier or "미분류",
                "수상금(원)": project.prize_won,
                "지급기준": decision.criterion,
                "포상금(원)": decision.amount,
                "비고": decision.note,
                "근거": basis(decision.rule, *decision.sources),
            }
        )
        rows, problems = split(project, decision, rules)
        out.department_rows += rows
        out.problems += problems
    return out


def decide(project: Project, rules: Rules) -> tuple[Decision, list[Problem]]:
    """The 포상금 of one result, with the rule that gave it."""
    record = project.record
    grade_ref = source(record, RESULTS, "grade")
    prize_ref = source(record, RESULTS, "prize_won")
    if not project.awarded:
        return (
            Decision(
                0,
                NOT_CLASSIFIED,
                f"평가결과 '{project.grade}'이(가) {rules.year}년 등급표에 없음 → {NOT_CLASSIFIED}, 지급 보류",
                "등급표에 없는 평가결과: 기획예산과 확인 필요",
                (grade_ref,),
            ),
            [problem("unknown-grade", record, RESULTS, "grade", value=project.grade, year=rules.year)],
        )
    category = category_rule(project, rules)
    if category is None:
        return (
            Decision(
                0,
                UNKNOWN_CATEGORY,
                f"사업구분 '{project.category_label}'이(가) {rules.year}년 규칙에 없음 → 지급 보류",
                "규칙에 없는 사업구분",
                (source(record, RESULTS, "category"),),
            ),
            [
                problem(
                    "reward-unknown-category", record, RESULTS, "category",
                    value=project.category_label, year=rules.year, choices=", ".join(rules.categories),
                )
            ],
        )
    name = project.category
    if rules.reward.requires_plan_notice:
        refused = _plan_notice(project)
        if refused is not None:
            return refused
    if project.prize > 0:
        if project.subsidy and category.subsidy_excluded:
            return (
                Decision(
                    0, SUBSIDY_EXCLUDED, f"{name}·수상금 {won(project.prize)} 중 경상보조금 → 지급 제외",
                    "경상보조금", (prize_ref, source(record, RESULTS, "subsidy")),
                ),
                [],
            )
        exact, amount = _percent(project.prize, category.reward_rate_percent, rules.reward.round_down_to)
        rule = f"{name}·수상금 {won(project.prize)} × {category.reward_rate_percent}% → {won(amount)}"
        if project.subsidy:  # the category pays even on 경상보조금: say so, the reader may wonder
            rule = f"{name}·경상보조금도 지급·수상금 {won(project.prize)} × {category.reward_rate_percent}% → {won(amount)}"
        note = ""
        if not exact:
            unit = rules.reward.round_down_to
            note = "원 미만 버림" if unit == 1 else f"{won(unit)} 미만 버림"
            rule += f"({note})"
        return Decision(amount, f"수상금의 {category.reward_rate_percent}%", rule, note, (prize_ref,)), []
    if category.fixed_without_prize:
        amount = rules.reward.fixed_without_prize.get(project.tier or "", 0)
        return (
            Decision(
                amount, f"정액({project.tier})", f"{name}·포상금 없음·{project.tier} → 정액 {won(amount)}",
                "", (grade_ref,),
            ),
            [],
        )
    return Decision(0, NO_PRIZE, f"{name}·수상금 없음 → 포상금 없음", "", (prize_ref,)), []


def _percent(prize: int, rate_percent: int, unit: int) -> tuple[bool, int]:
    """(exact, amount): prize × rate% in whole 원, rounded down to a multiple of `unit`."""
    raw, remainder = divmod(prize * rate_percent, 100)
    amount = raw - raw % unit
    return remainder == 0 and amount == raw, amount


def _plan_notice(project: Project) -> tuple[Decision, list[Problem]] | None:
    """Seed VI: without the evaluation plan notified to 기획예산과 no 포상금 is paid (None = notified)."""
    record = project.record
    if not project.plans:
        return (
            Decision(
                0, NOT_NOTIFIED, "자체추진계획 없음 → 평가계획 미통보로 지급 불가(VI 행정사항)",
                "자체추진계획 없음", (source(record, RESULTS, "project"),),
            ),
            [
                problem(
                    "reward-no-plan", record, RESULTS, "project",
                    project=project.name, seq=project.seq, department=project.lead_department,
                )
            ],
        )
    if any(plan.get("notified") for plan in project.plans):
        return None
    first = project.plans[0]
    return (
        Decision(
            0, NOT_NOTIFIED, "자체추진계획에 기획예산과 통보일 없음 → 지급 불가(VI 행정사항)",
            "기획예산과 통보일 없음", (source(first, PLANS, "notified"), source(record, RESULTS, "project")),
        ),
        [problem("reward-not-notified", first, PLANS, "notified", project=project.name)],
    )


# --- 부서별 배분 ---


def split(project: Project, decision: Decision, rules: Rules) -> tuple[list[dict[str, Any]], list[Problem]]:
    """The split actually paid: a valid 포상금배분 plan as given, otherwise all to the lead department.

    A plan is valid when its amounts add up exactly to the project's 포상금 and
    every department in it is one of the project's (평가결과 주관부서 or 담당자지정).
    """
    amount = decision.amount
    plan = project.split
    if amount <= 0:
        if plan:
            return [], [
                problem(
                    "split-not-payable", plan[0], SPLIT, "amount_won",
                    project=project.name, reason=decision.criterion,
                )
            ]
        return [], []
    known = project.all_departments()
    lead = project.lead_department
    if not plan:
        problems = []
        if len(known) > 1:
            note = "포상금배분 계획 없음 → 총괄부서 전액"
            problems.append(
                problem(
                    "split-missing", project.record, RESULTS, "departments",
                    project=project.name, departments=", ".join(known), reward=f"{amount:,}", lead=lead,
                )
            )
        else:
            note = "단독 부서 전액"
        return [_lead_row(project, amount, note, note)], problems
    problems = []
    for row in plan:
        department = squash(text(row.get("department")))
        if department not in known:
            problems.append(
                problem(
                    "split-foreign-department", row, SPLIT, "department",
                    project=project.name, department=department, departments=", ".join(known), lead=lead,
                )
            )
    total = sum(as_won(row.get("amount_won")) or 0 for row in plan)
    if total != amount:
        problems.append(
            problem(
                "split-sum-mismatch", plan[0], SPLIT, "amount_won",
                project=project.name, plan_total=f"{total:,}", reward=f"{amount:,}",
                diff=f"{abs(total - amount):,}", lead=lead,
            )
        )
    if problems:
        why = []
        if total != amount:
            why.append(f"합계 {won(total)} ≠ 포상금 {won(amount)}")
        foreign = [p.params["department"] for p in problems if p.code == "split-foreign-department"]
        if foreign:
            why.append(f"사업 부서 아님: {', '.join(dict.fromkeys(foreign))}")
        note = f"포상금배분 계획 오류({'; '.join(why)}) → 총괄부서 전액"
        return [_lead_row(project, amount, note, note, source(plan[0], SPLIT, "amount_won"))], problems
    rows = [
        {
            "사업명": project.name,
            "부서명": squash(text(row.get("department"))),
            "부서구분": text(row.get("dept_role")),
            "배분액(원)": as_won(row.get("amount_won")) or 0,
            "비고": text(row.get("contribution")),
            "근거": basis(
                f"포상금배분 계획 합계 {won(total)} = 포상금 {won(amount)} → 계획대로 배분",
                source(row, SPLIT, "amount_won"),
            ),
        }
        for row in plan
    ]
    rows.sort(key=lambda r: r["부서명"])
    return rows, []


def _lead_row(project: Project, amount: int, note: str, why: str, *extra: str) -> dict[str, Any]:
    return {
        "사업명": project.name,
        "부서명": project.lead_department,
        "부서구분": LEAD_SHARE,
        "배분액(원)": amount,
        "비고": note,
        "근거": basis(f"{why}: 포상금 {won(amount)}", source(project.record, RESULTS, "departments"), *extra),
    }

