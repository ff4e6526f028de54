"""The policy engine on the seed's section V (2015 results), worked out by hand.

Records are built here exactly as validation + merge produce them (squashed grades
and departments, integer 원, `_row`/`_file`/`_sheet`), so each test states its input.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pytest

from coop_batch.normalize import million_to_won, split_departments, squash
from coop_batch.policy import (
    COMMENDATION_COLUMNS,
    DEPARTMENT_REWARD_COLUMNS,
    LEAVE_COLUMNS,
    PERSONNEL_COLUMNS,
    REWARD_COLUMNS,
    PolicyResult,
    compute,
)
from coop_batch.rules import Rules

JOINT, CITY, EXTERNAL = "시·자치구 공동협력사업", "서울시 단위평가", "대외기관 평가"
RESULTS_FILE = "평가결과.xlsx"
NOTIFIED = date(2016, 2, 16)

# Seed V, typed from the document: 연번, 사업명, 평가결과, 인센티브(백만원) = 수상금, 주관부서 — as printed —
# then the 포상금 worked out by hand from seed IV and its 지급기준.
# 1–12 서울시 인센티브 (= 공동협력사업: 10%), 13–18 서울시 단위사업, 19–27 대외기관
# (10% with prize money, otherwise 최우수이상 150만 / 우수 100만 / 장려이하 50만).
SEED_V: list[tuple[int, str, str, str, str, int, str]] = [
    (1, "2014 회계연도 시 세입분야 평가 (시세 종합실적 평가)", "노 력", "50", "세 무 과", 5_000_000, "수상금의 10%"),
    (2, "2014 회계연도 시 세입분야 평가 (세외수입 종합 평가)", "노 력", "30", "세 무 과", 3_000_000, "수상금의 10%"),
    (3, "2015 상반기 체납시세 징수실적 평가", "우 수", "80", "세 무 과", 8_000_000, "수상금의 10%"),
    (4, "'서울, 꽃으로 피다'", "노 력", "15", "푸른도시과", 1_500_000, "수상금의 10%"),
    (5, "서울 희망일자리 만들기", "수상구(절대)", "69.2", "일자리지원과", 6_920_000, "수상금의 10%"),
    (6, "주민주도의 마을공동체 활성화사업", "수상구(절대)", "30.4", "자치행정과", 3_040_000, "수상금의 10%"),
    (7, "찾아가는 복지서울 · 함께 누리는 건강서울 (복지분야)", "수상구(절대)", "50", "주민생활지원과", 5_000_000,
     "수상금의 10%"),
    (8, "「서울형 환경 · 에너지 정책 만들기」 (에너지 살림 도시분야)", "수상구(절대)", "22.5",
     "환경과(총괄) 지역경제과", 2_250_000, "수상금의 10%"),
    (9, "「서울형 환경 · 에너지 정책 만들기」 (재활용 · 청결분야)", "수상구(절대)", "32.1", "청소행정과", 3_210_000,
     "수상금의 10%"),
    (10, "안전도시 만들기", "최 우 수", "90", "안전치수과", 9_000_000, "수상금의 10%"),
    (11, "찾아가는 복지서울 · 함께 누리는 건강서울 (보건분야)", "수상구(절대)", "15", "보건위생과", 1_500_000,
     "수상금의 10%"),
    (12, "자치구 반부패 · 청렴활동 추진", "수상구(절대)", "25", "감사담당관", 2_500_000, "수상금의 10%"),
    (13, "2014년 행정서비스 시민 만족도 조사 (청소분야)", "우 수", "-", "청소행정과", 1_000_000, "정액(우수)"),
    (14, "2014 제설대책 추진 평가", "장 려", "3", "도로관리과", 300_000, "수상금의 10%"),
    (15, "2015년 에코마일리지 활동실적 2차 평가", "모 범", "2", "환 경 과", 200_000, "수상금의 10%"),
    (16, "2015년 에코마일리지 활동실적 3차 평가", "우 수", "8", "환 경 과", 800_000, "수상금의 10%"),
    (17, "2015년 지적·토지업무 역점시책 평가 (토지정책분야)", "최 우 수", "-", "부동산정보과", 1_500_000,
     "정액(최우수 이상)"),
    (18, "2015년 교통수요관리 자치구 평가", "노 력", "100", "교통행정과", 10_000_000, "수상금의 10%"),
    (19, "민선6기 전국기초자치단체장 공약실천계획 평가", "최우수 (SA등급)", "-", "기획예산과", 1_500_000,
     "정액(최우수 이상)"),
    (20, "2015년 공공부문 정보자원관리 (EA 성숙도 우수기관)", "우수기관", "-", "정보화지원과", 1_000_000, "정액(우수)"),
    (21, "2015년 민원서비스 우수기관 인증", "우수기관", "-", "민원여권과", 1_000_000, "정액(우수)"),
    (22, "2015년 지역복지사업 우수사례 공모 (복지재정 효율화 부문)", "우 수", "15 (포상금)", "주민생활지원과",
     1_500_000, "수상금의 10%"),
    (23, "2015년 정부합동평가", "우 수", "80", "기획예산과", 8_000_000, "수상금의 10%"),
    (24, "2015 범시민사회단체연합 좋은 자치단체장", "좋은 자치단체장상", "-", "행정지원과", 0, "등급 미분류"),
    (25, "제24회 대한민국 무궁화 대상 (행정부문)", "대 상", "-", "기획예산과", 1_500_000, "정액(최우수 이상)"),
    (26, '제17회 "아름다운화장실 대상"공모', "동 상", "0.5 (포상금)", "푸른도시과", 50_000, "수상금의 10%"),
    (27, "제2회 지방자치단체 자율적 내부통제 제도 운영 및 우수사례 발표대회", "장 려", "-", "감사담당관", 500_000,
     "정액(장려 이하)"),
]
# 509.2 백만원 × 10% + 단위 (1.0 + 0.3 + 0.2 + 0.8 + 1.5 + 10.0) + 대외 (1.5 + 1 + 1 + 1.5 + 8 + 0 + 1.5 + 0.05 + 0.5)
SEED_TOTAL = 50_920_000 + 13_800_000 + 15_050_000
PROJECT = {seq: name for seq, name, *_ in SEED_V}


def category_of(seq: int) -> str:
    return JOINT if seq <= 12 else CITY if seq <= 18 else EXTERNAL


# --- record builders (the shapes validation + merge produce) ---


def result_record(seq: int, rules: Rules, *, project: str | None = None, grade: str | None = None,
                  prize: str | None = None, departments: str | None = None, category: str | None = None,
                  subsidy: bool = False) -> dict[str, Any]:
    seed = next(r for r in SEED_V if r[0] == seq) if seq <= 27 else (seq, "", "", "-", "", 0, "")
    grade_text = squash(grade if grade is not None else seed[2])
    names, lead = split_departments(departments if departments is not None else seed[4])
    return {
        "seq": seq,
        "project": project if project is not None else seed[1],
        "category": category or category_of(seq),
        "grade": grade_text,
        "tier": rules.tier_of(grade_text),
        "prize_won": million_to_won(prize if prize is not None else seed[3]),
        "subsidy": subsidy,
        "departments": [squash(n) for n in names],
        "lead_department": squash(lead),
        "note": None,
        "_row": seq + 1,
        "_file": RESULTS_FILE,
        "_sheet": "평가결과",
    }


def contact(project: str, role: str, department: str, leader: str, officer: str, *, row: int = 2,
            file: str = "담당자지정.xlsx") -> dict[str, Any]:
    return {
        "project": project, "role": role, "department": department, "chief_rank": "지방행정사무관",
        "chief_name": "과장", "team": "기획팀", "leader_rank": "지방행정주사", "leader_name": leader,
        "leader_phone": "02-901-6000", "officer_rank": "지방행정주사보", "officer_name": officer,
        "officer_phone": "02-901-6001", "city_department": None, "city_officer": None, "city_phone": None,
        "note": None, "_row": row, "_file": file, "_sheet": "담당자지정",
    }


def plan(project: str, department: str, notified: date | None = NOTIFIED, *, row: int = 2) -> dict[str, Any]:
    return {
        "project": project, "department": department, "plan_received": date(2016, 2, 15), "notified": notified,
        "plan_submitted": date(2016, 2, 19), "approved": None, "goal": None, "field": "정량평가", "item": "항목",
        "points": 20, "target": None, "owner": None, "response": None,
        "_row": row, "_file": f"자체추진계획_{department}.xlsx", "_sheet": "자체추진계획",
    }


def split_row(project: str, department: str, role: str, amount: int, *, row: int = 2) -> dict[str, Any]:
    return {
        "project": project, "department": department, "dept_role": role, "amount_won": amount,
        "contribution": "업무 비중", "_row": row, "_file": "포상금배분.xlsx", "_sheet": "포상금배분",
    }


def staff(project: str, department: str, name: str, rank: int, commended: bool = False, *,
          row: int = 2) -> dict[str, Any]:
    return {
        "project": project, "department": department, "rank": "지방행정주사보", "name": name,
        "contribution_rank": rank, "commended": commended, "note": None,
        "_row": row, "_file": "유공직원.xlsx", "_sheet": "유공직원",
    }


def officer(seq: int) -> str:
    return f"담당{seq:02d}"


def leader(seq: int) -> str:
    return f"팀장{seq:02d}"


def seed_data(rules: Rules) -> dict[str, list[dict[str, Any]]]:
    """The 27 results, a notified plan per project, 담당자지정 for every project (#8 with its 협조부서)."""
    results = [result_record(seq, rules) for seq, *_ in SEED_V]
    plans = [plan(r["project"], r["lead_department"], row=i + 2) for i, r in enumerate(results)]
    contacts = [
        contact(r["project"], "총괄부서", r["lead_department"], leader(r["seq"]), officer(r["seq"]), row=i + 2)
        for i, r in enumerate(results)
    ]
    contacts.append(contact(PROJECT[8], "협조부서", "지역경제과", "협조팀장08", "협조담당08", row=40))
    return {"results": results, "contacts": contacts, "plans": plans, "split": [], "staff": [], "weekly": []}


def by_seq(result: PolicyResult) -> dict[int, dict[str, Any]]:
    return {row["연번"]: row for row in result.rewards}


def codes(result: PolicyResult) -> list[str]:
    return [p.code for p in result.problems]


def leave_of(result: PolicyResult, name: str) -> dict[str, Any]:
    (row,) = [r for r in result.leave if r["성명"] == name]
    return row


def drop(data: dict[str, list[dict[str, Any]]], kind: str, seq: int) -> None:
    data[kind] = [r for r in data[kind] if r["project"] != PROJECT[seq]]


def replace(data: dict[str, list[dict[str, Any]]], seq: int, **changes: Any) -> None:
    data["results"] = [{**r, **changes} if r["seq"] == seq else r for r in data["results"]]


def with_rules(rules: Rules, section: str, **changes: Any) -> Rules:
    dump = rules.model_dump()
    dump[section].update(changes)
    return Rules.model_validate(dump)


# --- 포상금 ---


@pytest.mark.parametrize(("seq", "project", "grade", "prize", "departments", "amount", "criterion"), SEED_V)
def test_seed_v_reward(rules, seq, project, grade, prize, departments, amount, criterion):
    row = by_seq(compute(seed_data(rules), rules))[seq]
    assert row["사업명"] == project
    assert row["사업구분"] == category_of(seq)
    assert row["포상금(원)"] == amount
    assert row["지급기준"] == criterion
    assert row["수상금(원)"] == million_to_won(prize)


def test_seed_v_total_and_order(rules):
    result = compute(seed_data(rules), rules)
    assert [row["연번"] for row in result.rewards] == list(range(1, 28))
    assert result.total_reward_won == SEED_TOTAL == 79_770_000
    assert result.total_reward_won == sum(row["포상금(원)"] for row in result.rewards)
    assert all(isinstance(row["포상금(원)"], int) for row in result.rewards)
    # a complete data set: only #8's missing split plan (two departments) and #24's unknown grade
    assert codes(result) == ["split-missing", "unknown-grade"]


def test_columns_are_exactly_the_issue_titles(rules):
    result = compute(seed_data(rules), rules)
    assert REWARD_COLUMNS[:9] == ("연번", "사업명", "사업구분", "평가결과", "등급구분", "수상금(원)", "지급기준",
                                  "포상금(원)", "비고")
    assert LEAVE_COLUMNS[:9] == ("부서명", "직급", "성명", "역할", "사업명", "평가결과", "휴가일수", "사용기한", "비고")
    for rows, columns in (
        (result.rewards, REWARD_COLUMNS),
        (result.department_rewards, DEPARTMENT_REWARD_COLUMNS),
        (result.leave, LEAVE_COLUMNS),
        (result.commendations, COMMENDATION_COLUMNS),
        (result.personnel, PERSONNEL_COLUMNS),
    ):
        assert rows
        assert all(tuple(row) == columns for row in rows)
        assert all(row["근거"] for row in rows)
    assert [name for name, *_ in result.sheets()] == ["포상금지급", "부서별포상금", "특별휴가", "표창추천", "근무평정"]


def test_basis_names_rule_file_and_cell(rules):
    rows = by_seq(compute(seed_data(rules), rules))
    assert rows[20]["근거"] == "대외기관 평가·포상금 없음·우수 → 정액 1,000,000원 (출처: 평가결과.xlsx 평가결과!D21)"
    assert rows[5]["근거"] == (
        "시·자치구 공동협력사업·수상금 69,200,000원 × 10% → 6,920,000원 (출처: 평가결과.xlsx 평가결과!E6)"
    )
    assert rows[19]["평가결과"] == "최우수(SA등급)" and rows[19]["등급구분"] == "최우수 이상"


def test_unknown_grade_is_listed_and_unpaid(rules):
    result = compute(seed_data(rules), rules)
    row = by_seq(result)[24]
    assert (row["등급구분"], row["지급기준"], row["포상금(원)"]) == ("미분류", "등급 미분류", 0)
    (problem,) = [p for p in result.problems if p.code == "unknown-grade"]
    assert (problem.code, problem.file, problem.position) == ("unknown-grade", RESULTS_FILE, "평가결과!D25")
    assert "좋은자치단체장상" in problem.message and "2016.toml" in problem.message
    assert all(row["사업명"] != PROJECT[24] for row in result.leave + result.commendations)


@pytest.mark.parametrize(
    ("seq", "amount", "criterion"),
    [
        (22, 0, "지급 제외: 경상보조금"),  # 대외기관, prize money
        (16, 0, "지급 제외: 경상보조금"),  # 단위평가, prize money
        (5, 6_920_000, "수상금의 10%"),  # 공동협력사업 pays even on 경상보조금
        (13, 1_000_000, "정액(우수)"),  # no prize money: the fixed amount, 경상보조금 is about prize money
    ],
)
def test_subsidy_exclusion(rules, seq, amount, criterion):
    data = seed_data(rules)
    replace(data, seq, subsidy=True)
    row = by_seq(compute(data, rules))[seq]
    assert (row["포상금(원)"], row["지급기준"]) == (amount, criterion)
    if seq == 5:
        assert "경상보조금도 지급" in row["근거"]


def test_no_plan_means_no_payment_but_leave_stays(rules):
    data = seed_data(rules)
    drop(data, "plans", 10)
    result = compute(data, rules)
    row = by_seq(result)[10]
    assert (row["포상금(원)"], row["지급기준"], row["비고"]) == (0, "지급 불가: 평가계획 미통보", "자체추진계획 없음")
    problem = next(p for p in result.problems if p.code == "reward-no-plan")
    assert problem.position == "평가결과!B11" and "안전치수과" in problem.message
    assert leave_of(result, officer(10))["휴가일수"] == 2  # 미통보 does not touch leave
    assert result.total_reward_won == SEED_TOTAL - 9_000_000
    assert all(r["사업명"] != PROJECT[10] for r in result.department_rewards)


def test_plan_without_notice_date_means_no_payment(rules):
    data = seed_data(rules)
    data["plans"] = [{**p, "notified": None} if p["project"] == PROJECT[19] else p for p in data["plans"]]
    result = compute(data, rules)
    row = by_seq(result)[19]
    assert (row["포상금(원)"], row["지급기준"]) == (0, "지급 불가: 평가계획 미통보")
    problem = next(p for p in result.problems if p.code == "reward-not-notified")
    assert problem.file == "자체추진계획_기획예산과.xlsx" and problem.position == "자체추진계획!D20"
    assert problem.column == "기획예산과 통보일"


def test_one_notified_plan_row_is_enough_and_notice_rule_is_data(rules):
    data = seed_data(rules)
    data["plans"].append(plan(PROJECT[3], "세무과", None, row=99))
    assert by_seq(compute(data, rules))[3]["포상금(원)"] == 8_000_000
    drop(data, "plans", 3)
    relaxed = with_rules(rules, "reward", requires_plan_notice=False)
    assert by_seq(compute(data, relaxed))[3]["포상금(원)"] == 8_000_000
    assert by_seq(compute(data, rules))[3]["포상금(원)"] == 0


def test_joint_project_without_prize_gets_nothing(rules):
    data = seed_data(rules)
    replace(data, 4, prize_won=None)
    row = by_seq(compute(data, rules))[4]
    assert (row["포상금(원)"], row["지급기준"]) == (0, "지급 없음: 수상금 없음")


@pytest.mark.parametrize(
    ("prize", "amount"),
    [("4.1", 410_000), ("2.3", 230_000), ("8.2", 820_000), ("16.4", 1_640_000), ("0.5", 50_000), ("509.2", 50_920_000)],
)
def test_exact_integer_won(rules, prize, amount):
    data = seed_data(rules)
    replace(data, 1, prize_won=million_to_won(prize))
    row = by_seq(compute(data, rules))[1]
    assert row["포상금(원)"] == amount and type(row["포상금(원)"]) is int
    assert row["비고"] == ""


def test_fraction_of_a_won_is_rounded_down_and_said(rules):
    data = seed_data(rules)
    replace(data, 1, prize_won=1_234_567)
    row = by_seq(compute(data, rules))[1]
    assert row["포상금(원)"] == 123_456
    assert row["비고"] == "원 미만 버림" and "원 미만 버림" in row["근거"]
    tens = with_rules(rules, "reward", round_down_to=10)
    row = by_seq(compute(data, tens))[1]
    assert row["포상금(원)"] == 123_450 and row["비고"] == "10원 미만 버림"


def test_category_aliases_and_unknown_category(rules):
    data = seed_data(rules)
    replace(data, 13, category="서울시 단위사업")
    replace(data, 14, category="도시재생 평가")
    result = compute(data, rules)
    assert by_seq(result)[13]["포상금(원)"] == 1_000_000 and by_seq(result)[13]["사업구분"] == CITY
    assert by_seq(result)[14]["지급기준"] == "사업구분 미분류" and by_seq(result)[14]["포상금(원)"] == 0
    problem = next(p for p in result.problems if p.code == "reward-unknown-category")
    assert problem.position == "평가결과!C15" and "도시재생 평가" in problem.message


# --- 부서별 배분 ---


def department_rows(result: PolicyResult, seq: int) -> list[tuple[str, str, int]]:
    return [(r["부서명"], r["부서구분"], r["배분액(원)"]) for r in result.department_rewards if r["사업명"] == PROJECT[seq]]


def test_valid_split_is_used_as_given(rules):
    data = seed_data(rules)
    data["split"] = [
        split_row(PROJECT[8], "환경과", "주관", 1_500_000, row=2),
        split_row("서울형 환경·에너지 정책 만들기(에너지 살림 도시분야)", "지역 경제과", "협조", 750_000, row=3),
    ]
    result = compute(data, rules)
    assert department_rows(result, 8) == [("지역경제과", "협조", 750_000), ("환경과", "주관", 1_500_000)]
    assert not [p for p in result.problems if p.code.startswith("split")]
    coop = next(r for r in result.department_rewards if r["부서명"] == "지역경제과")
    assert coop["근거"] == (
        "포상금배분 계획 합계 2,250,000원 = 포상금 2,250,000원 → 계획대로 배분 (출처: 포상금배분.xlsx 포상금배분!D3)"
    )


def test_split_not_adding_up_is_an_error_naming_both_sums(rules):
    data = seed_data(rules)
    data["split"] = [
        split_row(PROJECT[8], "환경과", "주관", 1_500_000),
        split_row(PROJECT[8], "지역경제과", "협조", 700_000, row=3),
    ]
    result = compute(data, rules)
    assert department_rows(result, 8) == [("환경과", "주관", 2_250_000)]
    (problem,) = [p for p in result.problems if p.code.startswith("split")]
    assert problem.code == "split-sum-mismatch" and problem.is_error
    assert "2,200,000원" in problem.message and "2,250,000원" in problem.message and "50,000원" in problem.message
    assert problem.position == "포상금배분!D2"
    row = next(r for r in result.department_rewards if r["사업명"] == PROJECT[8])
    assert "합계 2,200,000원 ≠ 포상금 2,250,000원" in row["비고"]


def test_split_naming_a_foreign_department_is_an_error(rules):
    data = seed_data(rules)
    data["split"] = [split_row(PROJECT[8], "환경과", "주관", 1_500_000), split_row(PROJECT[8], "세무과", "협조", 750_000, row=3)]
    result = compute(data, rules)
    assert department_rows(result, 8) == [("환경과", "주관", 2_250_000)]
    (problem,) = [p for p in result.problems if p.code.startswith("split")]
    assert problem.code == "split-foreign-department" and problem.position == "포상금배분!B3"
    assert "세무과" in problem.message and "환경과, 지역경제과" in problem.message


def test_cooperating_department_from_contacts_counts_as_the_projects(rules):
    data = seed_data(rules)
    data["contacts"].append(contact(PROJECT[10], "협조부서", "도로관리과", "협조팀장10", "협조담당10", row=41))
    data["split"] = [
        split_row(PROJECT[10], "안전치수과", "주관", 8_000_000),
        split_row(PROJECT[10], "도로관리과", "협조", 1_000_000, row=3),
    ]
    result = compute(data, rules)
    assert department_rows(result, 10) == [("도로관리과", "협조", 1_000_000), ("안전치수과", "주관", 8_000_000)]


def test_no_split_plan(rules):
    result = compute(seed_data(rules), rules)
    assert department_rows(result, 8) == [("환경과", "주관", 2_250_000)]  # two departments: warned
    (problem,) = [p for p in result.problems if p.code == "split-missing"]
    assert problem.position == "평가결과!G9" and "지역경제과" in problem.message and not problem.is_error
    assert department_rows(result, 5) == [("일자리지원과", "주관", 6_920_000)]  # one department: no problem
    row = next(r for r in result.department_rewards if r["사업명"] == PROJECT[5])
    assert row["비고"] == "단독 부서 전액"


def test_split_for_an_unpaid_project_is_set_aside(rules):
    data = seed_data(rules)
    replace(data, 22, subsidy=True)
    data["split"] = [split_row(PROJECT[22], "주민생활지원과", "주관", 1_500_000)]
    result = compute(data, rules)
    assert department_rows(result, 22) == []
    problem = next(p for p in result.problems if p.code == "split-not-payable")
    assert "경상보조금" in problem.message


def test_department_split_adds_up_for_every_paid_project(rules):
    result = compute(seed_data(rules), rules)
    for row in result.rewards:
        paid = sum(r["배분액(원)"] for r in result.department_rewards if r["사업명"] == row["사업명"])
        assert paid == row["포상금(원)"]
    assert sum(r["배분액(원)"] for r in result.department_rewards) == result.total_reward_won


# --- 특별휴가 ---

LEAVE_TABLE = [
    # grade, 총괄담당자, 총괄팀장, 협조부서 총괄담당자 (seed IV 격려기준; None = not listed)
    ("최우수", 2, 1, 1),
    ("대상", 2, 1, 1),
    ("우수", 1, 1, 1),
    ("수상구(절대)", 1, 1, 1),
    ("장려", 1, None, 1),
    ("노력", 1, None, 1),
]


@pytest.mark.parametrize(("grade", "officer_days", "leader_days", "coop_days"), LEAVE_TABLE)
@pytest.mark.parametrize("category", [JOINT, CITY, EXTERNAL])
def test_leave_days_by_role_and_tier(rules, grade, officer_days, leader_days, coop_days, category):
    name = "안전도시 만들기"
    data = {
        "results": [result_record(1, rules, project=name, grade=grade, prize="90", departments="안전치수과 도로관리과",
                           category=category)],
        "contacts": [
            contact(name, "총괄부서", "안전치수과", "김팀장", "이담당"),
            contact(name, "협조부서", "도로관리과", "박팀장", "최담당", row=3),
        ],
        "plans": [],  # 미통보: no 포상금, but leave all the same
    }
    result = compute(data, rules)
    days = {(r["역할"], r["성명"]): r["휴가일수"] for r in result.leave}
    expected = {("총괄담당자", "이담당"): officer_days, ("협조부서 총괄담당자", "최담당"): coop_days}
    if leader_days:
        expected[("총괄팀장", "김팀장")] = leader_days
    assert days == expected
    assert all(r["사용기한"] == date(2017, 12, 31) for r in result.leave)
    assert by_seq(result)[1]["포상금(원)"] == 0


def test_leave_deadline_follows_the_evaluation_year(rules):
    result = compute(seed_data(rules), rules, year=2015)
    assert result.leave_deadline == date(2016, 12, 31) and result.year == 2015
    assert {r["사용기한"] for r in result.leave} == {date(2016, 12, 31)}


def test_seed_leave_roster(rules):
    result = compute(seed_data(rules), rules)
    row = leave_of(result, officer(10))
    assert (row["부서명"], row["직급"], row["역할"], row["사업명"], row["평가결과"], row["휴가일수"]) == (
        "안전치수과", "지방행정주사보", "총괄담당자", "안전도시 만들기", "최우수", 2,
    )
    assert row["근거"] == "총괄담당자·최우수 이상 → 특별휴가 2일 (출처: 담당자지정.xlsx 담당자지정!K11; 평가결과.xlsx 평가결과!D11)"
    assert leave_of(result, "협조담당08")["휴가일수"] == 1
    assert not [r for r in result.leave if r["성명"] == "협조팀장08"]  # a 협조부서's 팀장 is not in the table
    assert not [r for r in result.leave if r["성명"] == leader(1)]  # 장려 이하 팀장: no days, not listed
    # 26 awarded projects × 총괄담당자, 팀장 where the tier is 우수 or above, #8's 협조 담당
    leaders = sum(1 for seq, _, grade, *_ in SEED_V if rules.tier_of(grade) in ("최우수 이상", "우수"))
    assert len(result.leave) == 26 + leaders + 1
    seqs = [next(s for s, n in PROJECT.items() if n == r["사업명"]) for r in result.leave]
    assert seqs == sorted(seqs)


def test_one_project_rule_highest_tier(rules):
    data = seed_data(rules)  # 세무과's 총괄담당자 is the same person on #1 노력, #2 노력 and #3 우수
    data["contacts"] = [
        {**c, "officer_name": "정세무"} if c["project"] in (PROJECT[1], PROJECT[2], PROJECT[3]) else c
        for c in data["contacts"]
    ]
    result = compute(data, rules)
    row = leave_of(result, "정세무")
    assert (row["사업명"], row["휴가일수"]) == (PROJECT[3], 1)
    assert PROJECT[1] in row["비고"] and PROJECT[2] in row["비고"] and "합산 안 함" in row["비고"]
    assert "연번 3" in row["근거"]


@pytest.mark.parametrize(
    ("grades", "prizes", "chosen"),
    [
        (("우수", "최우수"), ("90", "-"), 2),  # the higher tier wins over the larger 수상금
        (("노력", "노력"), ("30", "50"), 2),  # same tier: the larger 수상금
        (("우수", "우수"), ("50", "50"), 1),  # same tier, same 수상금: the lower 연번
        (("장려", "모범"), ("-", "-"), 1),
    ],
)
def test_one_project_rule_tie_breaks(rules, grades, prizes, chosen):
    names = {1: "가 사업", 2: "나 사업"}
    data = {
        "results": [
            result_record(seq, rules, project=names[seq], grade=grades[seq - 1], prize=prizes[seq - 1],
                          departments="세무과")
            for seq in (1, 2)
        ],
        "contacts": [contact(names[seq], "총괄부서", "세무과", f"팀장{seq}", "정세무", row=seq + 1) for seq in (1, 2)],
    }
    result = compute(data, rules)
    row = leave_of(result, "정세무")
    assert row["사업명"] == names[chosen]
    assert names[3 - chosen] in row["비고"]
    tier = rules.tier_of(grades[chosen - 1])
    assert row["휴가일수"] == rules.leave.days["총괄담당자"][tier]


def test_same_person_two_roles_and_same_name_in_two_departments(rules):
    data = seed_data(rules)
    data["contacts"] = [
        {**c, "leader_name": "한결", "officer_name": "한결"} if c["project"] == PROJECT[10] else c
        for c in data["contacts"]
    ]
    data["contacts"] = [{**c, "officer_name": "한결"} if c["project"] == PROJECT[5] else c for c in data["contacts"]]
    result = compute(data, rules)
    rows = [r for r in result.leave if r["성명"] == "한결"]
    assert {(r["부서명"], r["역할"], r["휴가일수"]) for r in rows} == {
        ("안전치수과", "총괄담당자", 2),  # not 2 + 1: one entitlement per person
        ("일자리지원과", "총괄담당자", 1),  # the same name in another department is another person
    }
    assert "총괄팀장 지정은 합산 안 함" in next(r for r in rows if r["부서명"] == "안전치수과")["비고"]


def test_missing_contacts_are_reported_with_who_must_send_what(rules):
    data = seed_data(rules)
    drop(data, "contacts", 10)
    data["contacts"] = [c for c in data["contacts"] if not (c["project"] == PROJECT[8] and c["role"] == "총괄부서")]
    result = compute(data, rules)
    assert not [r for r in result.leave + result.commendations if r["사업명"] == PROJECT[10]]
    missing = next(p for p in result.problems if p.code == "contacts-missing")
    assert missing.position == "평가결과!B11"
    assert "안전치수과" in missing.message and "담당자지정" in missing.message
    no_lead = next(p for p in result.problems if p.code == "contacts-no-lead")
    assert "환경과" in no_lead.message
    assert leave_of(result, "협조담당08")["휴가일수"] == 1  # the 협조부서 row still counts
    assert not [r for r in result.commendations if r["사업명"] == PROJECT[8]]


def test_projects_are_matched_by_key_not_spelling(rules):
    data = seed_data(rules)
    data["contacts"] = [
        {**c, "project": "서울형 환경·에너지 정책 만들기(에너지 살림 도시분야)"} if c["project"] == PROJECT[8] else c
        for c in data["contacts"]
    ]
    data["plans"] = [{**p, "project": "안전도시만들기"} if p["project"] == PROJECT[10] else p for p in data["plans"]]
    result = compute(data, rules)
    assert leave_of(result, officer(8))["사업명"] == PROJECT[8]
    assert by_seq(result)[10]["포상금(원)"] == 9_000_000


# --- 표창추천 ---


def commendations_of(result: PolicyResult, seq: int) -> list[tuple[str, str, str]]:
    return [(r["성명"], r["역할"], r["추천구분"]) for r in result.commendations if r["사업명"] == PROJECT[seq]]


def test_commendation_officer_always_leader_only_at_the_top_tier(rules):
    result = compute(seed_data(rules), rules)
    assert commendations_of(result, 10) == [("담당10", "총괄담당자", "담당자"), ("팀장10", "총괄팀장", "팀장")]
    assert commendations_of(result, 3) == [("담당03", "총괄담당자", "담당자")]
    assert commendations_of(result, 1) == [("담당01", "총괄담당자", "담당자")]
    assert commendations_of(result, 24) == []
    assert not [r for r in result.commendations if "협조" in r["성명"]]
    top = [seq for seq, _, grade, *_ in SEED_V if rules.tier_of(grade) == "최우수 이상"]
    assert top == [10, 17, 19, 25]
    assert len(result.commendations) == 26 + len(top)  # every 총괄담당자 + the top tier's 총괄팀장


def tax_staff(*people: tuple[str, int, bool]) -> list[dict]:
    """세무과's 유공직원 for project 3 (its lead department), one row each from row 2: (name, rank, 기표창)."""
    return [staff(PROJECT[3], "세무과", name, place, commended, row=row)
            for row, (name, place, commended) in enumerate(people, start=2)]


def test_commended_officer_falls_back_to_best_ranked_lead_staff(rules):
    data = seed_data(rules)
    data["staff"] = [
        *tax_staff((officer(3), 1, True), ("윤기여", 2, True), ("서기여", 4, False), ("강기여", 3, False)),
        staff(PROJECT[3], "지역경제과", "타부서", 1, False, row=6),  # not the lead department
        staff(PROJECT[5], "세무과", "다른사업", 1, False, row=7),  # another project
    ]
    result = compute(data, rules)
    (row,) = [r for r in result.commendations if r["사업명"] == PROJECT[3]]
    assert (row["성명"], row["역할"], row["부서명"]) == ("강기여", "총괄부서 유공직원(기여도 3위)", "세무과")
    assert "담당03 기표창" in row["비고"]
    assert "유공직원.xlsx 유공직원!E5" in row["근거"] and "유공직원!F2" in row["근거"]


def test_a_tie_in_contribution_rank_is_decided_by_row_order_and_said(rules):
    data = seed_data(rules)
    data["staff"] = tax_staff((officer(3), 1, True), ("정정", 2, False), ("이병", 2, False), ("삼위", 3, False))
    result = compute(data, rules)
    (row,) = [r for r in result.commendations if r["사업명"] == PROJECT[3]]
    assert row["성명"] == "정정"
    [tie] = [p for p in result.problems if p.code == "rank-tie"]
    assert (tie.sheet, tie.cell, tie.is_error) == ("유공직원", "E3", False)
    assert "정정, 이병의 기여도순위가 모두 2위라 먼저 적힌 정정을 추천했습니다" in tie.message
    data["staff"][2] = staff(PROJECT[3], "세무과", "이병", 3, False, row=4)  # ranks made distinct: nothing to say
    assert not [p for p in compute(data, rules).problems if p.code == "rank-tie"]


def test_commended_officer_with_nobody_left(rules):
    data = seed_data(rules)
    data["staff"] = [staff(PROJECT[3], "세무과", officer(3), 1, True), staff(PROJECT[3], "세무과", "윤기여", 2, True, row=3)]
    result = compute(data, rules)
    (row,) = [r for r in result.commendations if r["사업명"] == PROJECT[3]]
    assert row["성명"] == "" and row["비고"].startswith("추천 대상 없음")


def test_top_tier_leader_commended_is_left_out_and_not_reused_as_fallback(rules):
    data = seed_data(rules)
    data["staff"] = [staff(PROJECT[10], "안전치수과", leader(10), 1, True)]
    assert commendations_of(compute(data, rules), 10) == [("담당10", "총괄담당자", "담당자")]
    data["staff"] = [
        staff(PROJECT[10], "안전치수과", officer(10), 1, True),
        staff(PROJECT[10], "안전치수과", leader(10), 2, False, row=3),
        staff(PROJECT[10], "안전치수과", "오기여", 3, False, row=4),
    ]
    assert commendations_of(compute(data, rules), 10) == [
        ("오기여", "총괄부서 유공직원(기여도 3위)", "담당자"),
        ("팀장10", "총괄팀장", "팀장"),
    ]


def test_a_person_recommended_for_two_projects_is_counted_once_and_flagged(rules):
    """The plan limits leave, not recommendations, to one project a person: the roster says so, and
    the count is of people (a project with nobody to recommend is no one)."""
    data = seed_data(rules)
    before = compute(data, rules)
    assert before.recommended == len([r for r in before.commendations if r["성명"]]) == 30
    # 세무과's officer of projects 1-3 is one person: 담당01 for all three
    data["contacts"] = [{**c, "officer_name": officer(1)} if c["project"] in (PROJECT[2], PROJECT[3]) else c
                        for c in data["contacts"]]
    data["staff"] = [staff(PROJECT[5], "일자리지원과", officer(5), 1, True)]  # 5's officer commended: nobody left
    result = compute(data, rules)
    rows = [r for r in result.commendations if r["성명"] == officer(1)]
    assert len(rows) == 3 and all(r["비고"] == "같은 직원을 3개 사업에서 추천: 표창 횟수 확인" for r in rows)
    assert result.recommended == 30 - 2 - 1
    assert result.honours_text() == f"특별휴가 {len(result.leave)}명, 표창추천 27명(추천 29건)"
    assert before.honours_text() == f"특별휴가 {len(before.leave)}명, 표창추천 30명"
    assert not [r for r in result.commendations if r["성명"] == officer(10) and r["비고"]]


# --- 근무평정 ---


def test_personnel_preference_for_joint_projects_only(rules):
    result = compute(seed_data(rules), rules)
    names = {r["성명"] for r in result.personnel}
    seq_of = {name: seq for seq, name in PROJECT.items()}
    joint_leave = {r["성명"] for r in result.leave if category_of(seq_of[r["사업명"]]) == JOINT}
    assert names == joint_leave
    assert "협조담당08" in names and officer(13) not in names and officer(19) not in names
    row = next(r for r in result.personnel if r["성명"] == officer(10))
    assert (row["부서명"], row["사업명"], row["평가결과"]) == ("안전치수과", PROJECT[10], "최우수")
    assert "근무평정 배려" in row["근거"]


def test_personnel_follows_the_joint_project_even_when_leave_went_elsewhere(rules):
    data = seed_data(rules)  # 기획예산과's officer on #23 우수 (대외, 80) and on #19 최우수 (대외) … and #6 (공동)
    data["contacts"] = [
        {**c, "department": "기획예산과", "officer_name": "조기획"} if c["project"] in (PROJECT[6], PROJECT[19]) else c
        for c in data["contacts"]
    ]
    result = compute(data, rules)
    assert leave_of(result, "조기획")["사업명"] == PROJECT[19]
    (row,) = [r for r in result.personnel if r["성명"] == "조기획"]
    assert row["사업명"] == PROJECT[6]


# --- determinism, problems ---


def test_order_does_not_depend_on_input_order(rules):
    data = seed_data(rules)
    data["split"] = [
        split_row(PROJECT[8], "지역경제과", "협조", 750_000, row=3),
        split_row(PROJECT[8], "환경과", "주관", 1_500_000),
    ]
    expected = compute(data, rules)
    shuffled = {kind: random.Random(7).sample(rows, len(rows)) for kind, rows in data.items()}
    again = compute(shuffled, rules)
    assert again.rewards == expected.rewards
    assert again.department_rewards == expected.department_rewards
    assert again.leave == expected.leave
    assert again.commendations == expected.commendations
    assert again.personnel == expected.personnel


def test_every_problem_message_is_filled_in(rules):
    data = seed_data(rules)
    drop(data, "plans", 10)
    drop(data, "contacts", 11)
    data["plans"] = [{**p, "notified": None} if p["project"] == PROJECT[19] else p for p in data["plans"]]
    replace(data, 14, category="모르는 구분")
    data["split"] = [split_row(PROJECT[5], "세무과", "협조", 1), split_row(PROJECT[24], "행정지원과", "주관", 5)]
    data["contacts"] = [c for c in data["contacts"] if not (c["project"] == PROJECT[12] and c["role"] == "총괄부서")]
    data["contacts"].append(contact(PROJECT[12], "협조부서", "감사담당관", "팀", "담", row=50))
    data["staff"] = [staff(PROJECT[3], "세무과", officer(3), 1, True), staff(PROJECT[3], "세무과", "갑", 2, False, row=3),
                     staff(PROJECT[3], "세무과", "을", 2, False, row=4)]
    result = compute(data, rules)
    assert set(codes(result)) == {
        "unknown-grade", "reward-no-plan", "reward-not-notified", "reward-unknown-category",
        "split-foreign-department", "split-sum-mismatch", "split-not-payable", "split-missing",
        "contacts-missing", "contacts-no-lead", "rank-tie",
    }
    for problem in result.problems:
        assert "{" not in problem.message and problem.file and problem.sheet and problem.cell
