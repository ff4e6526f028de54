"""Particles settled by the word before them (`korean.josa`)."""

from __future__ import annotations

import pytest

from coop_batch.errors import Problem
from coop_batch.korean import josa


@pytest.mark.parametrize("text, settled", [
    ("'3월 넷째 주'을(를) 날짜로", "'3월 넷째 주'를 날짜로"),  # past the closing quote
    ("목표점수 45이(가) 배점 40보다", "목표점수 45가 배점 40보다"),  # 사십오: no final consonant
    ("연번 3이(가)", "연번 3이"), ("'도시계획과'은(는)", "'도시계획과'는"), ("이영희을(를)", "이영희를"),
    ("'a.xlsx'과(와) 같은", "'a.xlsx'와 같은"),  # …엑스
    ("파일(으)로", "파일로"), ("집(으)로", "집으로"), ("서울(으)로", "서울로"),  # ㄹ takes 로
    ("'안전도시(1)'은(는)", "'안전도시(1)'은"),  # 일
    ("한국😀은(는)", "한국😀은(는)"),  # unknown: both forms, as written
    ("괄호 (참고) 그대로", "괄호 (참고) 그대로"),
])
def test_josa_picks_the_form_the_word_takes(text: str, settled: str) -> None:
    assert josa(text) == settled


def test_a_value_that_brings_its_own_quotes_is_quoted_once() -> None:
    problem = Problem("lead-conflict", params={"project": "'서울, 꽃으로 피다'", "departments": "가과, 나과"})
    assert "사업 '서울, 꽃으로 피다'의" in problem.message and "''" not in problem.message


def test_catalogue_messages_are_settled() -> None:
    problem = Problem("bad-date", cell="A2", column="보고일", params={"value": "3월 넷째 주"})
    assert "'3월 넷째 주'를 날짜로" in problem.message and "(를)" not in problem.message
