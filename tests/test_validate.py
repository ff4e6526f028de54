"""Validation as data: SheetData built here (as the reader yields it) → Submission."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from coop_batch.errors import CATALOGUE, Problem
from coop_batch.models import DERIVED_FIELDS, ROW_MODELS
from coop_batch.normalize import CellError
from coop_batch.records import ROW_KEY, SheetData, Submission
from coop_batch.schema import KIND_BY_ID, KINDS, TEMPLATE_VERSION
from coop_batch.validate import column_letter, render_table, summary, validate_sheet, verdict

HEADER_ROW = 1

# One valid row per kind, as a department would type it (raw cell values).
GOOD: dict[str, dict[str, Any]] = {
    "results": {
        "seq": 10, "project": "안전도시 만들기", "category": "시·자치구 공동협력사업", "grade": "최우수",
        "prize_won": 90, "subsidy": "N", "departments": "안전치수과", "note": "서울시 인센티브",
    },
    "contacts": {
        "project": "안전도시 만들기", "role": "총괄부서", "department": "안전치수과", "chief_rank": "지방시설사무관",
        "chief_name": "홍길동", "team": "치수방재팀", "leader_rank": "지방시설주사", "leader_name": "김철수",
        "leader_phone": "02-901-6123", "officer_rank": "지방시설주사보", "officer_name": "이영희",
        "officer_phone": "010-1234-5678", "city_department": "안전총괄과", "city_officer": "박민수",
        "city_phone": "02-2133-8000", "note": None,
    },
    "plans": {
        "project": "안전도시 만들기", "department": "안전치수과", "plan_received": date(2016, 2, 15),
        "notified": date(2016, 2, 16), "plan_submitted": date(2016, 2, 19), "approved": date(2016, 2, 22),
        "goal": "절대평가 수상구 달성", "field": "정량평가", "item": "재난안전 예산 확보율", "points": 20.0,
        "target": 18, "owner": "이영희", "response": "우수구 사례 벤치마킹",
    },
    "weekly": {
        "report_date": date(2016, 3, 4), "project": "안전도시 만들기", "department": "안전치수과",
        "progress": "재난안전 교육 2회 실시", "issues": "참여율 저조", "measures": "홍보 강화", "requests": None,
    },
    "split": {
        "project": "안전도시 만들기", "department": "안전치수과", "dept_role": "주관", "amount_won": "6,000,000",
        "contribution": "사업 총괄",
    },
    "staff": {
        "project": "안전도시 만들기", "department": "안전치수과", "rank": "지방행정주사보", "name": "이영희",
        "contribution_rank": 1.0, "commended": None, "note": None,
    },
}


def make_sheet(
    kind_id: str,
    rows: list[dict[str, Any]],
    *,
    fields: list[str] | None = None,
    first_row: int = HEADER_ROW + 1,
    meta: dict[str, str] | None = None,
    problems: list[Problem] | None = None,
    lead_columns: int = 0,
) -> SheetData:
    """A SheetData as the reader builds it; `fields` picks and orders the columns, `lead_columns` adds extra
    unrelated columns on the left (so positions shift the way they do in a hand-made file)."""
    kind = KIND_BY_ID[kind_id]
    order = fields or [c.field for c in kind.columns]
    columns = {f: lead_columns + i for i, f in enumerate(order)}
    raw_rows = [
        (first_row + n, ["참고"] * lead_columns + [row.get(f) for f in order]) for n, row in enumerate(rows)
    ]
    return SheetData(
        path=Path(f"{kind.sheet}.xlsx"), kind=kind, sheet=kind.sheet, header_row=first_row - 1,
        columns=columns, rows=raw_rows, meta=meta or {}, problems=problems or [],
    )


def row_of(kind_id: str, **changes: Any) -> dict[str, Any]:
    return {**GOOD[kind_id], **changes}


def check(rules, kind_id: str, rows: list[dict[str, Any]], **kwargs: Any) -> Submission:
    known = kwargs.pop("known_projects", None)
    return validate_sheet(make_sheet(kind_id, rows, **kwargs), rules, known)


def codes(sub: Submission) -> list[str]:
    return [p.code for p in sub.problems]


def only(sub: Submission, code: str) -> Problem:
    found = [p for p in sub.problems if p.code == code]
    assert len(found) == 1, sub.problems
    return found[0]


# --- each kind: good rows ---


@pytest.mark.parametrize("kind_id", [k.id for k in KINDS])
def test_good_row_of_each_kind_is_accepted_with_every_field(rules, kind_id):
    sub = check(rules, kind_id, [GOOD[kind_id]])
    assert sub.problems == []
    assert sub.accepted
    [record] = sub.records
    fields = {c.field for c in KIND_BY_ID[kind_id].columns}
    assert set(record) == fields | set(DERIVED_FIELDS.get(kind_id, ())) | {ROW_KEY}
    assert record[ROW_KEY] == HEADER_ROW + 1
    assert sub.department == ("" if kind_id == "results" else "안전치수과")  # results: compiled by one office for all


def test_models_cover_exactly_the_schema_columns():
    for kind in KINDS:
        model_fields = set(ROW_MODELS[kind.id].model_fields) - set(DERIVED_FIELDS.get(kind.id, ()))
        assert model_fields == {c.field for c in kind.columns}, kind.id


@pytest.mark.parametrize("kind_id", [k.id for k in KINDS])
def test_every_required_column_is_enforced_and_only_those(rules, kind_id):
    kind = KIND_BY_ID[kind_id]
    optional = next((c.field for c in kind.columns if not c.required), None)
    # a row with only an optional cell (or a lone extra value) filled: every required cell is reported
    row = {optional: "메모"} if optional else {}
    sub = check(rules, kind_id, [row], lead_columns=0 if optional else 1)
    required = {c.title for c in kind.columns if c.required}
    assert {p.column for p in sub.problems if p.code == "required"} == required
    assert not sub.accepted and sub.records == []


def test_results_record_values(rules):
    sub = check(rules, "results", [GOOD["results"]])
    record = sub.records[0]
    assert record["seq"] == 10 and isinstance(record["seq"], int)
    assert record["category"] == "시·자치구 공동협력사업"
    assert record["grade"] == "최우수" and record["tier"] == "최우수 이상"
    assert record["prize_won"] == 90_000_000 and isinstance(record["prize_won"], int)
    assert record["subsidy"] is False
    assert record["departments"] == ["안전치수과"] and record["lead_department"] == "안전치수과"


def test_plans_record_values(rules):
    record = check(rules, "plans", [GOOD["plans"]]).records[0]
    assert record["plan_received"] == date(2016, 2, 15)
    assert record["points"] == Decimal(20) and isinstance(record["points"], Decimal)
    assert str(record["points"]) == "20"  # 20.0 from a number cell reads as 20
    assert record["target"] == Decimal(18)


def test_split_and_staff_record_values(rules):
    assert check(rules, "split", [GOOD["split"]]).records[0]["amount_won"] == 6_000_000
    staff = check(rules, "staff", [GOOD["staff"]]).records[0]
    assert staff["contribution_rank"] == 1 and isinstance(staff["contribution_rank"], int)
    assert staff["commended"] is False


# --- the seed's forms ---


@pytest.mark.parametrize(
    "field, raw, expect",
    [
        ("prize_won", "15 (포상금)", 15_000_000),
        ("prize_won", "0.5 (포상금)", 500_000),
        ("prize_won", "-", None),
        ("prize_won", None, None),
        ("prize_won", "1,500", 1_500_000_000),
        ("grade", "최 우 수", "최우수"),
        ("grade", "최우수 (SA등급)", "최우수(SA등급)"),
        ("grade", "수상구(절대)", "수상구(절대)"),
        ("departments", "세 무 과", ["세무과"]),
        ("departments", "환경과(총괄) 지역경제과", ["환경과", "지역경제과"]),
        ("category", "서울시 인센티브", "시·자치구 공동협력사업"),
        ("category", "서울시 단위사업", "서울시 단위평가"),
        ("category", "대외기관", "대외기관 평가"),
        ("category", "서울시  단위 평가", "서울시 단위평가"),
        ("subsidy", "Y", True),
        ("subsidy", "", False),
        ("subsidy", None, False),
        ("seq", "７", 7),
    ],
)
def test_results_seed_forms(rules, field, raw, expect):
    sub = check(rules, "results", [row_of("results", **{field: raw})])
    assert sub.problems == [], sub.problems
    assert sub.records[0][field] == expect


@pytest.mark.parametrize(
    "raw, won", [(2.3, 2_300_000), (4.1, 4_100_000), (8.2, 8_200_000), (16.4, 16_400_000), ("4.1", 4_100_000),
                 (69.2, 69_200_000), (717.7, 717_700_000)]
)
def test_prize_money_is_exact(rules, raw, won):
    record = check(rules, "results", [row_of("results", prize_won=raw)]).records[0]
    assert record["prize_won"] == won
    assert type(record["prize_won"]) is int


@settings(max_examples=60, deadline=None)
@given(st.decimals(min_value=0, max_value=10_000, places=1, allow_nan=False))
def test_prize_money_any_one_decimal_float_cell(rules, value):
    record = check(rules, "results", [row_of("results", prize_won=float(value))]).records[0]
    assert record["prize_won"] == int(value * 1_000_000)


def test_lead_department_marked_or_first(rules):
    marked = check(rules, "results", [row_of("results", departments="지역경제과 환경과(총괄)")])
    assert marked.records[0]["lead_department"] == "환경과"
    assert marked.records[0]["departments"] == ["지역경제과", "환경과"]
    first = check(rules, "results", [row_of("results", departments="건강증진과 의 약 과 지역보건과")])
    assert first.records[0]["lead_department"] == "건강증진과"
    assert first.records[0]["departments"] == ["건강증진과", "의약과", "지역보건과"]


def test_department_and_grade_spaces_removed(rules):
    sub = check(rules, "weekly", [row_of("weekly", department="세 무 과")])
    assert sub.records[0]["department"] == "세무과"
    assert sub.department == "세무과"


def test_seed_date_forms(rules):
    rows = [
        row_of("plans", plan_received="2016. 1. 22.", notified="2016.1.22", plan_submitted="2016-01-22",
               approved=42391.0),
        row_of("plans", plan_received=datetime(2016, 1, 22, 0, 0), item="다른 항목"),
    ]
    sub = check(rules, "plans", rows)
    assert sub.problems == []
    first, second = sub.records
    dates = [first[f] for f in ("plan_received", "notified", "plan_submitted", "approved")]
    assert dates == [date(2016, 1, 22)] * 4
    assert second["plan_received"] == date(2016, 1, 22)


# --- bad values: one problem, at the right cell, with our code ---


BAD = [
    # kind, field, raw, code, column letter (all columns in template order)
    ("results", "seq", "일", "bad-integer", "A"),
    ("results", "seq", 1.5, "bad-integer", "A"),
    ("results", "seq", -1, "negative", "A"),
    ("results", "category", "기타사업", "bad-choice", "C"),
    ("results", "grade", None, "required", "D"),
    ("results", "prize_won", "많음", "bad-money", "E"),
    ("results", "prize_won", -2.3, "negative", "E"),
    ("results", "prize_won", "0.0000001", "fractional-won-million", "E"),  # 0.1 원
    ("results", "prize_won", 69.2000001, "fractional-won-million", "E"),
    ("results", "prize_won", 69200000, "prize-too-large", "E"),  # typed in 원
    ("results", "subsidy", "아마도", "bad-yn", "F"),
    ("results", "departments", "  ", "required", "G"),
    ("contacts", "role", "주관부서", "bad-choice", "B"),
    ("contacts", "department", None, "required", "C"),
    ("contacts", "officer_name", "", "required", "K"),
    ("plans", "plan_received", "내일", "bad-date", "C"),
    ("plans", "notified", "2016-02-30", "impossible-date", "D"),  # the format is right, the day is not
    ("plans", "plan_received", "2016-13-01", "impossible-date", "C"),
    ("plans", "points", "스무점", "bad-number", "J"),
    ("plans", "points", -5, "negative", "J"),
    ("plans", "target", 25, "target-over-points", "K"),
    ("plans", "target", "abc", "bad-number", "K"),
    ("weekly", "report_date", None, "required", "A"),
    ("weekly", "report_date", "지난주", "bad-date", "A"),
    ("weekly", "report_date", "2016.2.30", "impossible-date", "A"),
    ("weekly", "report_date", "2015. 2. 29.", "impossible-date", "A"),
    ("weekly", "progress", None, "required", "D"),
    ("split", "dept_role", "총괄", "bad-choice", "C"),
    ("split", "amount_won", "-1,000", "negative", "D"),
    ("split", "amount_won", 1500.5, "fractional-won", "D"),
    ("split", "amount_won", "500000.7", "fractional-won", "D"),
    ("split", "amount_won", "백만원", "bad-money", "D"),
    ("split", "amount_won", None, "required", "D"),
    ("staff", "contribution_rank", "1위", "bad-integer", "E"),
    ("staff", "commended", "표창", "bad-yn", "F"),
]


@pytest.mark.parametrize("kind_id, field, raw, code, letter", BAD)
def test_bad_value_is_one_positioned_error(rules, kind_id, field, raw, code, letter):
    sheet = make_sheet(kind_id, [GOOD[kind_id], row_of(kind_id, **{field: raw})], first_row=7)
    sub = validate_sheet(sheet, rules)
    problem = only(sub, code)
    assert problem.is_error
    assert problem.cell == f"{letter}8"
    assert problem.position == f"{KIND_BY_ID[kind_id].sheet}!{letter}8"
    assert problem.column == KIND_BY_ID[kind_id].column(field).title
    assert problem.file == sheet.path.name
    assert "{" not in problem.message  # every placeholder was filled
    assert not sub.accepted
    assert [r[ROW_KEY] for r in sub.records] == [7]  # the good row is still a record, the bad one is not


def test_messages_quote_the_value_and_the_fix(rules):
    sub = check(rules, "plans", [row_of("plans", points="스무점", target=None)])
    problem = only(sub, "bad-number")
    assert "'스무점'" in problem.message and "예: 20" in problem.message
    choice = only(check(rules, "split", [row_of("split", dept_role="총괄")]), "bad-choice")
    assert "주관, 협조" in choice.message


def test_impossible_date_says_the_day_does_not_exist_not_that_the_format_is_wrong(rules):
    problem = only(check(rules, "weekly", [row_of("weekly", report_date="2016-02-30")]), "impossible-date")
    assert problem.is_error and problem.entry.severity is CATALOGUE["bad-date"].severity
    assert "'2016-02-30'" in problem.message and "달력에 없는 날짜" in problem.message
    assert "월과 일" in problem.message and "형식으로" not in problem.message
    assert only(check(rules, "weekly", [row_of("weekly", report_date="2016-02-29")]), "not-friday")  # a leap day


def test_a_fraction_of_a_won_is_said_as_such_in_both_money_columns(rules):
    won = only(check(rules, "split", [row_of("split", amount_won="500000.7")]), "fractional-won")
    assert "'500000.7'" in won.message and "1원 미만" in won.message and "정수" in won.message
    assert "예: 6,000,000" in won.message and "금액으로 읽을 수 없습니다" not in won.message
    million = only(check(rules, "results", [row_of("results", prize_won="0.0000001")]), "fractional-won-million")
    assert million.params["won"] == "0.1" and "0.1원" in million.message and "여섯째 자리" in million.message
    assert "예: 69.2" in million.message
    assert check(rules, "results", [row_of("results", prize_won="0.000001")]).records[0]["prize_won"] == 1
    assert check(rules, "results", [row_of("results", prize_won="69.2")]).records[0]["prize_won"] == 69_200_000


def test_a_prize_typed_in_won_is_refused_and_the_limit_is_the_rules(rules):
    big = only(check(rules, "results", [row_of("results", prize_won="69,200,000")]), "prize-too-large")
    assert big.is_error and "69,200,000,000,000원" in big.message and "한도 10,000백만원" in big.message
    assert "69,200,000원 → 69.2" in big.message
    assert check(rules, "results", [row_of("results", prize_won=10_000)]).records[0]["prize_won"] == 10_000_000_000
    lower = rules.model_copy(update={"reward": rules.reward.model_copy(update={"max_prize_million": 100})})
    assert only(check(lower, "results", [row_of("results", prize_won=100.5)]), "prize-too-large")


def test_choices_compare_without_spaces(rules):
    contacts = check(rules, "contacts", [row_of("contacts", role="협조 부서")])
    assert contacts.records[0]["role"] == "협조부서"
    split = check(rules, "split", [row_of("split", dept_role="협 조")])
    assert split.records[0]["dept_role"] == "협조"


def test_target_equal_to_points_is_fine_and_error_sits_on_target(rules):
    assert check(rules, "plans", [row_of("plans", points=20, target="20")]).accepted
    sub = check(rules, "plans", [row_of("plans", points="15.5", target=16)], first_row=5)
    problem = only(sub, "target-over-points")
    assert problem.cell == "K5" and problem.column == "목표점수"
    assert "16" in problem.message and "15.5" in problem.message


def test_all_problems_are_collected(rules):
    rows = [row_of("split", amount_won="abc"), row_of("split", dept_role="x", department=None),
            row_of("split", project=None)]
    sub = check(rules, "split", rows)
    assert sorted((p.cell, p.code) for p in sub.problems) == [
        ("A4", "required"), ("B3", "required"), ("C3", "bad-choice"), ("D2", "bad-money")]
    assert sub.records == []


# --- warnings do not reject ---


def test_unknown_grade_is_a_warning_that_names_grade_and_rules_file(rules):
    sub = check(rules, "results", [row_of("results", grade="좋은 자치단체장상")])
    problem = only(sub, "unknown-grade")
    assert not problem.is_error and problem.cell == "D2"
    assert "좋은자치단체장상" in problem.message and "2016.toml" in problem.message
    assert sub.accepted
    assert sub.records[0]["grade"] == "좋은자치단체장상" and sub.records[0]["tier"] is None


@pytest.mark.parametrize(
    "raw, stored", [("02)901-6123", "02-901-6123"), ("010 1234 5678", "010-1234-5678"), (29016123, "02-901-6123"),
                    ("０２-９０１-６１２３", "02-901-6123")]
)
def test_phones_are_normalised(rules, raw, stored):
    sub = check(rules, "contacts", [row_of("contacts", leader_phone=raw)])
    assert sub.problems == []
    assert sub.records[0]["leader_phone"] == stored


def test_bad_phone_is_a_warning_and_the_text_is_kept(rules):
    sub = check(rules, "contacts", [row_of("contacts", officer_phone="내선 6123")])
    problem = only(sub, "bad-phone")
    assert not problem.is_error and problem.cell == "L2" and problem.column == "담당 전화"
    assert sub.accepted and sub.records[0]["officer_phone"] == "내선 6123"


@pytest.mark.parametrize("day", ["2015-03-06", "2026-03-06", "2015. 3. 5."])
def test_report_date_of_another_year_is_warned(rules, day):
    """Last year's template filled in again: the row is kept (a warning), the year is named."""
    sub = check(rules, "weekly", [row_of("weekly", report_date=day)])
    problem = only(sub, "report-date-year")
    assert not problem.is_error and problem.cell == "A2" and sub.accepted
    assert "2016년이 아닙니다" in problem.message and day[:4] in problem.message
    assert [p.code for p in sub.problems] == ["report-date-year"]  # not also "not a Friday"


def test_report_date_not_on_friday(rules):
    thursday = check(rules, "weekly", [row_of("weekly", report_date="2016. 3. 3.")])
    problem = only(thursday, "not-friday")
    assert problem.cell == "A2" and not problem.is_error
    assert "목요일" in problem.message and "2016-03-03" in problem.message
    assert "3/4(금) 주간보고로 처리했습니다" in problem.message  # the report day it counts for, as tracking does
    saturday = only(check(rules, "weekly", [row_of("weekly", report_date="2016-03-05")]), "not-friday")
    assert "3/11(금) 주간보고로" in saturday.message
    assert thursday.accepted and thursday.records[0]["report_date"] == date(2016, 3, 3)
    assert check(rules, "weekly", [row_of("weekly", report_date=42433)]).problems == []  # 2016-03-04, a Friday


def test_long_text_is_a_warning_and_kept(rules):
    text = "가" * 2001
    sub = check(rules, "weekly", [row_of("weekly", progress=text)])
    problem = only(sub, "text-too-long")
    assert problem.params["length"] == 2001 and problem.cell == "D2"
    assert sub.accepted and sub.records[0]["progress"] == text
    assert check(rules, "weekly", [row_of("weekly", progress="가" * 2000)]).problems == []


def test_text_is_nfc_and_trimmed(rules):
    decomposed = unicodedata.normalize("NFD", "  재난안전 교육 실시 \n")
    assert decomposed != "재난안전 교육 실시"
    record = check(rules, "weekly", [row_of("weekly", progress=decomposed)]).records[0]
    assert record["progress"] == "재난안전 교육 실시"


def test_absent_optional_column_is_none(rules):
    fields = [c.field for c in KIND_BY_ID["weekly"].columns if c.field not in ("issues", "requests")]
    sub = check(rules, "weekly", [GOOD["weekly"]], fields=fields)
    assert sub.problems == []
    assert sub.records[0]["issues"] is None and sub.records[0]["requests"] is None


def test_missing_required_column_is_reported_once(rules):
    fields = [c.field for c in KIND_BY_ID["weekly"].columns if c.field != "progress"]
    sub = check(rules, "weekly", [GOOD["weekly"], GOOD["weekly"] | {"project": "다른 사업"}], fields=fields)
    assert codes(sub) == ["missing-column"]
    assert sub.problems[0].column == "추진실적" and sub.problems[0].cell == ""
    assert not sub.accepted


# --- positions ---


def test_column_letters():
    assert [column_letter(i) for i in (0, 1, 25, 26, 27, 51, 52, 701, 702)] == [
        "A", "B", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]


def test_positions_follow_the_sheet_columns_not_the_template(rules):
    # hand-made: a title row above, two extra columns on the left, columns shuffled
    order = ["department", "progress", "project", "report_date", "issues", "measures", "requests"]
    sheet = make_sheet("weekly", [GOOD["weekly"], row_of("weekly", report_date="x", project=None)],
                       fields=order, first_row=4, lead_columns=2)
    sub = validate_sheet(sheet, rules)
    assert sorted(p.position for p in sub.problems) == ["주간실적!E5", "주간실적!F5"]
    assert {p.cell: p.column for p in sub.problems} == {"E5": "사업명", "F5": "보고일"}


def test_problem_positions_beyond_column_z(rules):
    order = [c.field for c in KIND_BY_ID["split"].columns]
    sheet = make_sheet("split", [row_of("split", amount_won="x")], fields=order, lead_columns=26)
    assert only(validate_sheet(sheet, rules), "bad-money").cell == "AD2"


def test_problems_are_sorted_by_row_then_column(rules):
    rows = [row_of("split", amount_won="x", project=None), row_of("split", dept_role="?")]
    sub = check(rules, "split", rows)
    assert [p.cell for p in sub.problems] == ["A2", "D2", "C3"]


# --- fill-down (자체추진계획) ---


def plan_item(item: str, points: Any = 10, **changes: Any) -> dict[str, Any]:
    """A plan row below the project's first: the first six columns left blank as merged cells show them."""
    return {"field": "정성평가", "item": item, "points": points, **changes}


def test_fill_down_repeats_the_first_six_columns_within_a_project(rules):
    second = row_of("plans", project="서울 희망일자리 만들기", department="일자리지원과", notified=None,
                    plan_received="2016-03-02", plan_submitted=None, approved=None)
    rows = [GOOD["plans"], plan_item("교육 실적"), plan_item("홍보 실적"), second, plan_item("채용 실적")]
    sub = check(rules, "plans", rows)
    assert sub.problems == []
    assert [r["project"] for r in sub.records] == ["안전도시 만들기"] * 3 + ["서울 희망일자리 만들기"] * 2
    assert [r["department"] for r in sub.records] == ["안전치수과"] * 3 + ["일자리지원과"] * 2
    assert [r["notified"] for r in sub.records] == [date(2016, 2, 16)] * 3 + [None, None]  # never from another block
    assert [r["plan_received"] for r in sub.records] == [date(2016, 2, 15)] * 3 + [date(2016, 3, 2)] * 2
    assert [r[ROW_KEY] for r in sub.records] == [2, 3, 4, 5, 6]
    assert [r["goal"] for r in sub.records][1:3] == [None, None]  # 추진목표 is not a fill-down column


def test_fill_down_restarts_on_a_new_project_even_when_repeated_name_is_written(rules):
    rows = [GOOD["plans"], plan_item("교육 실적", project="안전도시 만들기"),
            plan_item("채용 실적", project="다른 사업")]
    sub = check(rules, "plans", rows)
    assert [(r[ROW_KEY], r["department"]) for r in sub.records] == [(2, "안전치수과"), (3, "안전치수과")]
    # 다른 사업 has no 부서명 or 접수일 of its own: nothing leaks from the block above
    assert sorted(p.cell for p in sub.problems if p.code == "required") == ["B4", "C4"]


def test_fill_down_bad_value_reported_once_at_its_own_cell(rules):
    rows = [row_of("plans", notified="2월 16일"), plan_item("교육 실적"), plan_item("홍보 실적")]
    sub = check(rules, "plans", rows, first_row=5)
    problem = only(sub, "bad-date")
    assert problem.cell == "D5"
    assert sub.records == []


def test_fill_down_has_nothing_to_repeat_on_the_first_row(rules):
    sub = check(rules, "plans", [plan_item("교육 실적")])
    assert {p.column for p in sub.problems} == {"사업명", "부서명", "평가계획 접수일"}


def test_other_kinds_do_not_fill_down(rules):
    sub = check(rules, "weekly", [GOOD["weekly"], row_of("weekly", project=None, progress="다른 실적")])
    assert only(sub, "required").cell == "B3"


# --- Excel error values (read.py puts a CellError where calamine read the error cell as "") ---


def test_an_error_cell_is_reported_as_itself_not_as_a_blank(rules):
    name_error = CellError("#NAME?", "공원녹지과")
    rows = [GOOD["results"], row_of("results", departments=name_error, note=CellError("#REF!", "Sheet2!A1"))]
    sub = check(rules, "results", rows)
    assert [(p.cell, p.code) for p in sub.problems] == [("G3", "formula-error"), ("H3", "formula-error")]
    problem = sub.problems[0]
    assert problem.is_error and problem.column == "주관부서" and problem.params["value"] == "#NAME?"
    assert problem.params["formula"] == "=공원녹지과" and "#NAME?" in problem.message and "{" not in problem.message
    assert [r[ROW_KEY] for r in sub.records] == [2]


@pytest.mark.parametrize("kind_id, field", [("weekly", "issues"), ("weekly", "report_date"), ("split", "amount_won"),
                                            ("staff", "contribution_rank"), ("staff", "commended")])
def test_an_error_cell_in_any_column_rejects_the_row(rules, kind_id, field):
    sub = check(rules, kind_id, [row_of(kind_id, **{field: CellError("#DIV/0!", "1/0")})])
    assert codes(sub) == ["formula-error"] and sub.records == []


def test_an_error_cell_names_no_project_and_is_reported_once_when_filled_down(rules):
    rows = [row_of("plans", project=CellError("#N/A")), plan_item("교육 실적")]
    sub = check(rules, "plans", rows, known_projects=["안전도시 만들기"])
    assert [(p.cell, p.code) for p in sub.problems] == [("A2", "formula-error")]  # no unknown-project '#N/A'
    assert sub.records == []


def test_text_that_reads_like_an_error_is_text(rules):
    sub = check(rules, "weekly", [row_of("weekly", requests="#N/A")])
    assert sub.problems == [] and sub.records[0]["requests"] == "#N/A"


# --- whole-sheet checks ---


def test_unknown_project_warns_once_with_the_nearest_name(rules):
    known = ["서울 희망일자리 만들기", "「서울형 환경 · 에너지 정책 만들기」 (에너지 살림 도시분야)"]
    rows = [row_of("plans", project="서울 희망 일자리만들기 사업"), plan_item("교육 실적"),
            row_of("plans", project="서울형 환경ㆍ에너지 정책 만들기(에너지살림도시분야)"),
            row_of("plans", project="전혀 다른 이름의 무언가")]
    sub = check(rules, "plans", rows, known_projects=known)
    warnings = [p for p in sub.problems if p.code == "unknown-project"]
    assert [(p.cell, p.params.get("nearest")) for p in warnings] == [
        ("A2", "서울 희망일자리 만들기"), ("A5", None)]
    assert "서울 희망일자리 만들기" in warnings[0].message and not warnings[0].is_error
    assert sub.accepted and len(sub.records) == 4


def test_unknown_project_advice_fits_the_kind_of_file(rules):
    # The known names come from the accepted 평가결과 and 담당자지정 (run._NAME_KINDS): a results or contact
    # list is checked against the other lists, so it must not be told to match "평가결과·담당자지정".
    known = {"안전도시 만들기"}
    messages = {}
    for kind_id in ("results", "contacts", "weekly"):
        sub = check(rules, kind_id, [row_of(kind_id, project="안전 도시 만들기 사업")], known_projects=known)
        messages[kind_id] = only(sub, "unknown-project").message
        assert "{" not in messages[kind_id] and "(비슷한 사업명: '안전도시 만들기')" in messages[kind_id]
    assert "평가결과·담당자지정과 똑같이" in messages["weekly"]
    assert "평가결과·담당자지정과 똑같이" not in messages["results"]
    assert "담당자지정" in messages["results"] and "새로 평가받은 사업" in messages["results"]
    assert "평가결과·담당자지정과 똑같이" not in messages["contacts"]
    assert "평가결과에 적힌 사업명" in messages["contacts"]


def test_unknown_project_recorded_before_its_advice_param_still_reads_whole():
    # the ledger keeps problems as params: one recorded without `fix` renders the old advice, not "{fix}"
    old = Problem.from_dict({"code": "unknown-project", "cell": "B2", "params": {"value": "가 사업", "hint": ""}})
    assert old.message == ("사업명 '가 사업'이 알려진 사업 목록에 없습니다. 사업명을 평가결과·담당자지정과 "
                           "똑같이 적어 주세요. 오타나 띄어쓰기가 다르지 않은지도 확인해 주세요.")


def test_no_known_projects_means_no_project_check(rules):
    assert check(rules, "weekly", [row_of("weekly", project="아무 사업")], known_projects=None).problems == []
    assert check(rules, "weekly", [row_of("weekly", project="아무 사업")], known_projects=[]).problems == []


def test_duplicate_row_is_warned_and_counted_once(rules):
    rows = [GOOD["split"], row_of("split", department="환경과", dept_role="협조"), GOOD["split"]]
    sub = check(rules, "split", rows)
    problem = only(sub, "duplicate-row")
    assert problem.cell == "A4" and problem.params["other"] == 2 and "2행" in problem.message
    assert sub.accepted
    assert [r[ROW_KEY] for r in sub.records] == [2, 3]


def test_same_values_written_differently_are_duplicates(rules):
    rows = [GOOD["staff"], row_of("staff", contribution_rank=1)]  # 1.0 and 1 show the same in Excel
    assert "duplicate-row" in codes(check(rules, "staff", rows))


def test_meta_old_template_and_other_year(rules):
    sub = check(rules, "weekly", [GOOD["weekly"]], meta={"kind": "weekly", "template_version": "0.9",
                                                          "policy_year": "2015"})
    assert codes(sub) == ["old-template", "other-year"]
    assert sub.problems[0].params == {"found": "0.9", "expected": TEMPLATE_VERSION}
    assert "2015년" in sub.problems[1].message and sub.problems[1].position == "주간실적"
    assert sub.accepted
    current = {"kind": "weekly", "template_version": TEMPLATE_VERSION, "policy_year": "2016"}
    assert check(rules, "weekly", [GOOD["weekly"]], meta=current).problems == []
    assert check(rules, "weekly", [GOOD["weekly"]], meta={"policy_year": 2016.0}).problems == []


def test_meta_problems_already_reported_by_reading_are_not_repeated(rules):
    reading = [Problem("old-template", "주간실적.xlsx", "주간실적", params={"found": "0.9", "expected": "1.0"})]
    sub = check(rules, "weekly", [GOOD["weekly"]], meta={"template_version": "0.9"}, problems=reading)
    assert codes(sub) == ["old-template"]


def test_no_rows_is_an_error(rules):
    assert codes(check(rules, "weekly", [])) == ["no-rows"]
    blank = check(rules, "weekly", [{"project": "  "}, {}])
    assert codes(blank) == ["no-rows"] and "주간실적" in blank.problems[0].message
    assert not blank.accepted


def test_total_row_is_skipped_with_a_warning(rules):
    rows = [GOOD["results"], {"seq": "계", "prize_won": 717.7}]
    sub = check(rules, "results", rows)
    problem = only(sub, "total-row")
    assert problem.cell == "A3" and not problem.is_error and "3행" in problem.message
    assert sub.accepted and len(sub.records) == 1
    only_total = check(rules, "split", [{"project": "합 계", "amount_won": 6_000_000}])
    assert codes(only_total) == ["total-row", "no-rows"]
    # a 소계 under 부서명, after the 사업명 repeated: not a department to pay (the whole split went to the lead)
    subtotal = check(rules, "split", [GOOD["split"], row_of("split", department="소계", dept_role=None, amount_won=6_000_000)])
    assert (only(subtotal, "total-row").cell, len(subtotal.records)) == ("B3", 1)


def test_a_note_row_and_hancoms_middle_dot_are_what_a_clerk_means(rules):
    """`※ 작성자: …` under the table is a note, not a row missing its 부서명; `시ㆍ자치구` (Hancom's dot,
    U+318D) is the dropdown's `시·자치구`."""
    note = check(rules, "split", [GOOD["split"], {"project": "※ 작성자: 홍길동 (내선 6123)"}])
    assert note.problems == [] and len(note.records) == 1
    for dot in ("\u318d", "\u30fb", "\u2022"):
        sub = check(rules, "results", [row_of("results", category=f"시{dot}자치구 공동협력사업")])
        assert sub.problems == [] and sub.records[0]["category"] == "시·자치구 공동협력사업"


@pytest.mark.parametrize("typed, name", [("이영희 주무관", "이영희"), ("김철수님", "김철수"), ("홍길동(과장)", "홍길동"),
                                         ("남궁민수 팀장", "남궁민수")])
def test_a_title_after_a_name_is_taken_off_and_said(rules, typed, name):
    """`이영희 주무관` in 담당자지정 and `이영희` (기표창) in 유공직원 are one person to the policy: the title
    goes (with a warning), or she would be recommended again and could get two leave grants."""
    staff = check(rules, "staff", [row_of("staff", name=typed)])
    contacts = check(rules, "contacts", [row_of("contacts", officer_name=typed, leader_name=typed)])
    assert staff.records[0]["name"] == name and contacts.records[0]["officer_name"] == name
    problem = only(staff, "name-with-title")
    assert not problem.is_error and f"'{typed}'에서" in problem.message and "이름만" in problem.message


@pytest.mark.parametrize("typed", ["정과장", "이영희", "박 민 수"])
def test_a_name_that_only_ends_like_a_title_is_kept(rules, typed):
    sub = check(rules, "staff", [row_of("staff", name=typed)])
    assert sub.problems == [] and sub.records[0]["name"] == typed


def test_one_seq_for_two_projects_in_a_results_list_is_said(rules):
    rows = [row_of("results", seq=2, project="가사업"), row_of("results", seq=2, project="나사업"),
            row_of("results", seq=3, project="다사업"), row_of("results", seq=3, project="다 사업")]  # same project
    sub = check(rules, "results", rows)
    [problem] = [p for p in sub.problems if p.code == "duplicate-seq"]
    assert (problem.cell, problem.is_error) == ("A3", False) and "연번 2가 2행에도 다른 사업으로" in problem.message
    assert len(sub.records) == 4


def test_a_bad_amount_says_blank_only_where_blank_is_allowed(rules):
    """배분액(원) must be written: its message must not suggest '-' (which it then refuses)."""
    won = only(check(rules, "split", [row_of("split", amount_won="-")]), "bad-money")
    assert "'-'" in won.message and "비워 두거나" not in won.message
    million = only(check(rules, "results", [row_of("results", prize_won="많음")]), "bad-money")
    assert "수상금이 없으면 비워 두거나 '-'를 적어 주세요." in million.message


# --- what reading hands over ---


def test_unreadable_sheet_carries_reading_problems_and_no_records(rules):
    unreadable = SheetData(path=Path("깨진.xlsx"), kind=None,
                           problems=[Problem("file-corrupt", "깨진.xlsx", params={"detail": "zip 손상"})])
    sub = validate_sheet(unreadable, rules)
    assert codes(sub) == ["file-corrupt"] and sub.records == [] and not sub.accepted
    assert sub.kind_id == ""


def test_reading_error_with_a_known_kind_yields_no_records(rules):
    sheet = make_sheet("weekly", [GOOD["weekly"]], problems=[Problem("missing-column", "x.xlsx", "주간실적",
                                                                      column="추진실적")])
    sub = validate_sheet(sheet, rules)
    assert codes(sub) == ["missing-column"] and sub.records == []


def test_unknown_kind_without_a_reason_still_rejects(rules):
    sub = validate_sheet(SheetData(path=Path("뭔가.xlsx"), kind=None), rules)
    assert codes(sub) == ["unknown-kind"] and not sub.accepted


def test_reading_warnings_are_kept_and_do_not_stop_validation(rules):
    sheet = make_sheet("weekly", [GOOD["weekly"]], problems=[Problem("duplicate-column", "", "주간실적",
                                                                      column="문제점")])
    sub = validate_sheet(sheet, rules)
    assert codes(sub) == ["duplicate-column"] and sub.accepted and len(sub.records) == 1
    assert sub.problems[0].file == "주간실적.xlsx"  # an unnamed reading problem gets the file name


def test_display_name_names_every_problem(rules):
    sheet = make_sheet("weekly", [row_of("weekly", report_date="x")],
                       problems=[Problem("duplicate-column", "tmp123.xlsx", "주간실적", column="문제점")])
    sub = validate_sheet(sheet, rules, display_name="세무과_주간실적.xlsx")
    assert {p.file for p in sub.problems} == {"세무과_주간실적.xlsx"}


# --- submission summary ---


def test_department_is_the_most_frequent(rules):
    rows = [row_of("staff", department="세 무 과", name="가"), row_of("staff", department="환경과", name="나"),
            row_of("staff", department="세무과", name="다")]
    assert check(rules, "staff", rows).department == "세무과"
    results = [row_of("results", departments="환경과(총괄) 지역경제과"), row_of("results", seq=2, project="b",
                                                                                departments="지역경제과 환경과(총괄)")]
    assert check(rules, "results", results).department == ""  # one office compiles results for every department
    assert check(rules, "staff", [row_of("staff", department=None)]).department == ""


def test_summary_and_table(rules):
    sub = check(rules, "weekly", [row_of("weekly", report_date="지난주"), row_of("weekly", project="b",
                                                                             report_date="2016-03-03")])
    item = summary(sub, "in/주간실적.xlsx")
    assert item["file"] == "in/주간실적.xlsx" and item["kind"] == "weekly" and item["accepted"] is False
    assert [p["code"] for p in item["problems"]] == ["bad-date", "not-friday"]
    assert item["problems"][0]["cell"] == "A2" and item["problems"][0]["severity"] == "error"
    table = render_table(sub, "in/주간실적.xlsx")
    assert "주간실적!A2" in table and "bad-date" in table and "오류" in table and "경고" in table
    assert table.splitlines()[-1] == "판정: 반려 ― 오류 1건, 경고 1건"
    table.encode("cp949")  # a Korean Windows console can print it
    assert verdict(check(rules, "weekly", [GOOD["weekly"]])) == "접수 가능"
    assert verdict(check(rules, "weekly", [row_of("weekly", report_date="2016-03-03")])) == "접수 가능 (경고 1건)"


def test_every_problem_code_used_is_catalogued_with_a_fix(rules):
    for code in ("total-row", "duplicate-row", "unknown-project", "target-over-points", "not-friday"):
        entry = CATALOGUE[code]
        assert entry.template.rstrip().endswith(("주세요.", "합니다."))


# --- end to end: real workbooks through the reader (read.py) ---


@pytest.mark.parametrize("kind_id", [k.id for k in KINDS])
def test_filled_template_reads_back_as_built_in_memory(tmp_path, rules, kind_id):
    from coop_batch.templates import write_template
    from coop_batch.validate import validate_file

    kind = KIND_BY_ID[kind_id]
    other = {"seq": 11} if kind_id == "results" else {}  # a list gives each project its own 연번
    rows = [GOOD[kind_id], row_of(kind_id, project="서울 희망일자리 만들기", **other)]
    path = write_template(kind, rules, tmp_path / f"{kind.sheet}.xlsx", rows)
    from_file = validate_file(path, rules, known_projects=["안전도시 만들기", "서울 희망일자리 만들기"])
    in_memory = validate_sheet(make_sheet(kind_id, rows), rules)
    assert from_file.problems == [] and from_file.accepted
    assert from_file.kind is kind and from_file.department == ("" if kind_id == "results" else "안전치수과")
    assert from_file.records == in_memory.records


def test_hand_made_file_positions_match_excel(tmp_path, rules):
    """A copy typed by hand: title rows, an extra column, shuffled and spaced-out headers, the seed's values."""
    from openpyxl import Workbook

    from coop_batch.validate import validate_file

    wb = Workbook()
    ws = wb.active
    ws.title = "평가결과"
    ws["A1"] = "2015년 공동협력사업 평가결과"
    header = ["순위", "연번", "사 업 명", "평가결과", "인센티브", "수상금(백만원)", "주관부서", "사업구분", "비고"]
    ws.append([])
    ws.append(header)
    seed = [
        [None, 1, "2014 회계연도 시 세입분야 평가", "노 력", None, 50, "세 무 과", "서울시 인센티브", None],
        [None, 8, "서울형 환경 · 에너지 정책 만들기", "수상구(절대)", None, 22.5, "환경과(총괄) 지역경제과",
         "서울시 인센티브", None],
        [None, 22, "지역복지사업 우수사례", "우 수", None, "15 (포상금)", "주민생활지원과", "대외기관", None],
        [None, 24, "좋은 자치단체장", "좋은 자치단체장상", None, "-", "행정지원과", "대외기관", None],
        [None, 25, "무궁화 대상", "대 상", None, "많이", "기획예산과", "대외기관", None],
    ]
    for values in seed:
        ws.append(values)
    path = tmp_path / "평가결과_수기.xlsx"
    wb.save(path)

    sub = validate_file(path, rules, display_name="세무과 평가결과.xlsx")
    grade_cell = ws.cell(row=7, column=header.index("평가결과") + 1).coordinate
    money_cell = ws.cell(row=8, column=header.index("수상금(백만원)") + 1).coordinate
    assert [(p.code, p.cell) for p in sub.problems] == [("unknown-grade", grade_cell), ("bad-money", money_cell)]
    assert (grade_cell, money_cell) == ("D7", "F8")
    assert {p.file for p in sub.problems} == {"세무과 평가결과.xlsx"}
    assert [r["prize_won"] for r in sub.records] == [50_000_000, 22_500_000, 15_000_000, None]
    assert [r["lead_department"] for r in sub.records] == ["세무과", "환경과", "주민생활지원과", "행정지원과"]
    assert [r["grade"] for r in sub.records][:3] == ["노력", "수상구(절대)", "우수"]
    assert [r[ROW_KEY] for r in sub.records] == [4, 5, 6, 7]
    assert not sub.accepted


def test_validate_files_keeps_input_order_and_matches_validate_file(tmp_path, rules):
    from coop_batch.templates import write_template
    from coop_batch.validate import validate_file, validate_files

    good = write_template(KIND_BY_ID["split"], rules, tmp_path / "포상금배분.xlsx", [GOOD["split"]])
    bad = write_template(KIND_BY_ID["weekly"], rules, tmp_path / "주간실적.xlsx",
                         [row_of("weekly", report_date="언젠가")])
    broken = tmp_path / "깨진.xlsx"
    broken.write_bytes(b"PK\x03\x04 truncated")
    paths = [bad, broken, good]
    results = list(validate_files(paths, rules))
    assert [p for p, _ in results] == paths
    assert [s.accepted for _, s in results] == [False, False, True]
    for path, sub in results:
        single = validate_file(path, rules)
        assert (sub.records, sub.problems) == (single.records, single.problems)
    assert codes(results[0][1]) == ["bad-date"] and results[1][1].problems[0].code.startswith("file-")


def test_hand_made_layout_travels_with_the_records_so_later_stages_cite_the_real_cell(rules, tmp_path):
    from coop_batch.policy import cell
    from coop_batch.records import COLS_KEY, SheetData
    from coop_batch.schema import RESULTS
    from coop_batch.validate import validate_sheet

    # 평가결과 with 수상금 moved to column B and 연번 to H: what Excel shows is B5, not the template's E5
    order = ["project", "prize_won", "category", "grade", "subsidy", "departments", "note", "seq"]
    sheet = SheetData(
        path=tmp_path / "손수.xlsx", kind=RESULTS, sheet="평가결과", header_row=4,
        columns={f: i for i, f in enumerate(order)},
        rows=[(5, ["안전도시 만들기", 90, "시·자치구 공동협력사업", "최우수", "N", "안전치수과", None, 10])],
    )
    [record] = validate_sheet(sheet, rules).records
    assert record[COLS_KEY]["prize_won"] == "B"
    assert cell(record, RESULTS, "prize_won") == "B5"
    assert cell({"_row": 5}, RESULTS, "prize_won") == "E5"  # a template file keeps the template's letters
