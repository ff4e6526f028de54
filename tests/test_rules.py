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


SOURCE = Path(__file__).parents[1] / "coop_batch/rules/2016.toml"


def rules_text(tmp_path: Path, name: str, *edits: tuple[str, str]) -> Path:
    text = SOURCE.read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("edit, says", [
    # a tier left out of the fixed amounts would pay 0원 without a word
    (('"우수" = 1000000, ', ""), "fixed_without_prize에 '우수'이(가) 없습니다(지급하지 않으면 0을 적어 주세요)"),
    # a role spelt another way would take every lead officer's leave away
    (('"총괄담당자" = {', '"총괄 담당자" = {'), "'총괄 담당자'은(는) 알 수 없는 역할입니다"),
    (('"총괄팀장" = { "최우수 이상" = 1, "우수" = 1, "장려 이하" = 0 }', '"총괄팀장" = { "최우수 이상" = 1, "우수" = 1 }'),
     "'총괄팀장'에 '장려 이하'이(가) 없습니다"),
])
def test_a_rules_mistake_that_would_change_payouts_quietly_is_refused(tmp_path: Path, edit, says):
    path = rules_text(tmp_path, "2016.toml", edit)
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert says in str(caught.value) and "(전체)" not in str(caught.value)


def test_a_copied_rules_file_must_say_its_own_year(tmp_path: Path):
    with pytest.raises(RulesError, match=r"2017.toml의 year가 2016입니다. 파일 이름의 연도와 같게 year = 2017"):
        load_rules(rules_text(tmp_path, "2017.toml"))
    fixed = load_rules(rules_text(tmp_path, "2017.toml", ("year = 2016", "year = 2017")))
    assert fixed.year == 2017


def test_a_toml_syntax_mistake_is_placed_in_korean(tmp_path: Path):
    path = rules_text(tmp_path, "2016.toml", ("round_down_to = 1", "round_down_to = 1 원"))
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    line = 1 + SOURCE.read_text(encoding="utf-8").split("round_down_to = 1")[0].count("\n")
    assert f"{line}번째 줄" in str(caught.value) and "문법이 잘못되었습니다" in str(caught.value)
    bom = tmp_path / "bom" / "2016.toml"
    bom.parent.mkdir()
    bom.write_bytes(b"\xef\xbb\xbf" + SOURCE.read_bytes())  # Notepad's UTF-8 with a BOM
    assert load_rules(bom).year == 2016


@pytest.mark.parametrize(
    ("err", "says"),
    [
        ({"type": "string_pattern_mismatch", "input": "tls", "ctx": {"pattern": "^(starttls|ssl|none)$"}},
         "값 'tls': starttls / ssl / none 중 하나여야 합니다"),
        ({"type": "less_than_equal", "input": 99999, "ctx": {"le": 65535}}, "값 99999: 65535 이하여야 합니다"),
        ({"type": "greater_than", "input": 0, "ctx": {"gt": 0.0}}, "값 0: 0보다 커야 합니다"),
        ({"type": "bool_parsing", "input": "네"}, "값 '네': true 또는 false여야 합니다"),
        ({"type": "missing", "input": {}}, "값이 없습니다"),
        ({"type": "value_error", "msg": "Value error, 등급이 겹칩니다"}, "등급이 겹칩니다"),
        ({"type": "too_short", "input": [], "ctx": {"min_length": 1}}, "값 []: 항목이 1개 이상이어야 합니다"),
        ({"type": "string_too_short", "input": "", "ctx": {"min_length": 1}}, "값 '': 1자 이상이어야 합니다"),
        ({"type": "string_pattern_mismatch", "input": "25:00", "ctx": {"pattern": r"^([01]\d|2[0-3]):[0-5]\d$"}},
         "값 '25:00'이(가) 정해진 형식에 맞지 않습니다(설정 파일의 설명과 예를 참고)"),
    ],
)
def test_a_wrong_value_is_told_with_what_is_allowed(err, says):
    from coop_batch.config import value_problem

    assert value_problem(err) == says
    says.encode("cp949")
