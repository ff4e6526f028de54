from pathlib import Path

import pytest

from coop_batch.rules import RulesError, load_rules


def test_2016_tiers(rules):
    assert rules.tier_of("최 우 수") == "최우수 이상"
    assert rules.tier_of("최우수 (SA등급)") == "최우수 이상"
    assert rules.tier_of("수상구(절대)") == "우수"
    assert rules.tier_of("동 상") == "장려 이하"
    assert rules.tier_of("좋은 자치단체장상") is None
    assert rules.category_of("서울시 인센티브") == "시·자치구 공동협력사업"
    assert rules.category_of("서울시 단위사업") == "서울시 단위평가"
    assert rules.category_of("대외기관") == "대외기관 평가"
    assert rules.leave.deadline.for_year(2015).isoformat() == "2016-12-31"


def test_missing_year_is_a_korean_error():
    with pytest.raises(RulesError, match="규칙 파일 1999.toml"):
        load_rules(1999)


def test_invalid_rules_name_the_problem(tmp_path: Path):
    text = (Path(__file__).parents[1] / "coop_batch/rules/2016.toml").read_text(encoding="utf-8")
    bad = tmp_path / "2017.toml"
    bad.write_text(text.replace('"장려 이하" = ["장려"', '"장려이하" = ["장려"'), encoding="utf-8")
    with pytest.raises(RulesError, match="장려이하"):
        load_rules(bad)
    typo = tmp_path / "2018.toml"
    typo.write_text(text.replace("submit_within_days = 5", "submit_within_day = 5"), encoding="utf-8")
    with pytest.raises(RulesError, match="submit_within_day"):
        load_rules(typo)
