"""Invariants of the policy engine on random results, 담당자지정, plans and 포상금배분 plans."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coop_batch.normalize import squash
from coop_batch.policy import compute
from coop_batch.rules import Rules

DEPARTMENTS = ("세무과", "환경과", "지역경제과", "안전치수과")
NAMES = ("김하나", "이두리", "박세찬", "최네온")  # few names: the same person lands on several projects
CATEGORIES = ("시·자치구 공동협력사업", "서울시 단위평가", "대외기관 평가", "서울시 인센티브")
GRADES = ("최우수", "대상", "최우수(SA등급)", "우수", "수상구(절대)", "우수기관", "장려", "노력", "모범", "동상",
          "좋은자치단체장상")

settings.register_profile("policy", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@st.composite
def partition(draw: st.DrawFn, total: int, parts: int) -> list[int]:
    """`parts` non-negative integers that add up to `total` exactly."""
    cuts = sorted(draw(st.lists(st.integers(0, total), min_size=parts - 1, max_size=parts - 1)))
    bounds = [0, *cuts, total]
    return [b - a for a, b in zip(bounds, bounds[1:])]


@st.composite
def dataset(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    data: dict[str, list[dict[str, Any]]] = {"results": [], "contacts": [], "plans": [], "split": []}
    for seq in range(1, draw(st.integers(1, 7)) + 1):
        name = f"사업 {seq}"
        departments = draw(st.lists(st.sampled_from(DEPARTMENTS), min_size=1, max_size=3, unique=True))
        prize = draw(st.none() | st.integers(0, 200_000_000) | st.integers(0, 2_000).map(lambda m: m * 100_000))
        data["results"].append({
            "seq": seq, "project": name, "category": draw(st.sampled_from(CATEGORIES)),
            "grade": draw(st.sampled_from(GRADES)), "tier": None, "prize_won": prize, "subsidy": draw(st.booleans()),
            "departments": departments, "lead_department": departments[0], "note": None,
            "_row": seq + 1, "_file": "평가결과.xlsx", "_sheet": "평가결과",
        })
        notice = draw(st.sampled_from(("notified", "notified", "notified", "not notified", "no plan")))
        if notice != "no plan":
            notified = date(2016, 2, 16) if notice == "notified" else None
            data["plans"].append({"project": name, "department": departments[0], "notified": notified,
                                  "_row": seq + 1, "_file": "자체추진계획.xlsx", "_sheet": "자체추진계획"})
        if draw(st.integers(0, 9)) > 0:  # now and then no 담당자지정 at all
            for index, department in enumerate(departments):
                data["contacts"].append({
                    "project": name, "role": "총괄부서" if index == 0 else "협조부서", "department": department,
                    "leader_rank": "지방행정주사", "leader_name": draw(st.sampled_from(NAMES)),
                    "officer_rank": "지방행정주사보", "officer_name": draw(st.sampled_from(NAMES)),
                    "_row": 10 * seq + index, "_file": "담당자지정.xlsx", "_sheet": "담당자지정",
                })
        shape = draw(st.sampled_from(("none", "exact 10%", "random")))
        if shape != "none":
            pool = departments if shape == "exact 10%" else DEPARTMENTS
            named = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=len(pool), unique=True))
            if shape == "exact 10%":  # the project's departments; adds up when it is paid 10% of its 수상금
                amounts = draw(partition((prize or 0) * 10 // 100, len(named)))
            else:
                amounts = draw(st.lists(st.integers(0, 20_000_000), min_size=len(named), max_size=len(named)))
            for index, (department, amount) in enumerate(zip(named, amounts)):
                data["split"].append({"project": name, "department": department,
                                      "dept_role": "주관" if index == 0 else "협조", "amount_won": amount,
                                      "contribution": "", "_row": 10 * seq + index, "_file": "포상금배분.xlsx",
                                      "_sheet": "포상금배분"})
    return data


@settings(settings.get_profile("policy"))
@given(data=dataset())
def test_policy_invariants(rules: Rules, data: dict[str, list[dict[str, Any]]]) -> None:
    result = compute(data, rules)

    # 포상금: integer 원, total = the sum of the rows, one row per result
    assert len(result.rewards) == len(data["results"])
    assert all(type(row["포상금(원)"]) is int and row["포상금(원)"] >= 0 for row in result.rewards)
    assert result.total_reward_won == sum(row["포상금(원)"] for row in result.rewards)
    top_fixed = max(rules.reward.fixed_without_prize.values())
    for row in result.rewards:
        assert row["포상금(원)"] <= max(top_fixed, (row["수상금(원)"] or 0) // 10)

    # the split adds up exactly to each project's 포상금; a valid plan is used as given
    paid = Counter[str]()
    for row in result.department_rewards:
        assert type(row["배분액(원)"]) is int and row["배분액(원)"] >= 0
        paid[row["사업명"]] += row["배분액(원)"]
    for row in result.rewards:
        assert paid[row["사업명"]] == row["포상금(원)"]
        plan = [s for s in data["split"] if s["project"] == row["사업명"]]
        known = {c["department"] for c in data["contacts"] if c["project"] == row["사업명"]}
        known |= set(next(r for r in data["results"] if r["project"] == row["사업명"])["departments"])
        if row["포상금(원)"] and plan and sum(s["amount_won"] for s in plan) == row["포상금(원)"] and all(
            s["department"] in known for s in plan
        ):
            given_split = sorted((s["department"], s["amount_won"]) for s in plan)
            got = sorted((r["부서명"], r["배분액(원)"]) for r in result.department_rewards if r["사업명"] == row["사업명"])
            assert got == given_split

    # leave: nobody twice, days always from the rules table and never 0, the highest tier wins
    people = [(row["부서명"], squash(row["성명"])) for row in result.leave]
    assert len(people) == len(set(people))
    for row in result.leave:
        tier = rules.tier_of(row["평가결과"])
        assert tier is not None
        assert row["휴가일수"] == rules.leave.days[row["역할"]][tier] > 0
        assert row["사용기한"] == rules.leave.deadline.for_year(rules.year)
        best = min(
            rules.tier_rank(rules.tier_of(r["grade"]))
            for r in data["results"]
            if rules.tier_of(r["grade"]) is not None and _eligible(rules, data, r, row["부서명"], row["성명"])
        )
        assert rules.tier_rank(tier) == best

    # personnel: people on the leave roster, each once
    staff = [(row["부서명"], squash(row["성명"])) for row in result.personnel]
    assert len(staff) == len(set(staff)) and set(staff) <= set(people)


def _eligible(rules: Rules, data: dict[str, list[dict[str, Any]]], result: dict[str, Any], department: str,
              name: str) -> bool:
    """Does this person get any days from this result (independent of the engine's code)?"""
    tier = rules.tier_of(result["grade"])
    days = rules.leave.days
    contacts = [c for c in data["contacts"] if c["project"] == result["project"] and c["department"] == department]
    for c in contacts:
        if c["role"] == "총괄부서":
            if c["officer_name"] == name and days["총괄담당자"][tier] > 0:
                return True
            if c["leader_name"] == name and days["총괄팀장"][tier] > 0:
                return True
        elif c["officer_name"] == name and days["협조부서 총괄담당자"][tier] > 0:
            return True
    return False
