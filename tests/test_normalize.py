import pickle
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from coop_batch import normalize as n


@pytest.mark.parametrize(
    "raw, won",
    [(2.3, 2_300_000), (4.1, 4_100_000), (8.2, 8_200_000), (16.4, 16_400_000), ("4.1", 4_100_000),
     (69.2, 69_200_000), ("15 (포상금)", 15_000_000), ("0.5 (포상금)", 500_000), ("１，５００", 1_500_000_000),
     ("-", None), ("", None), (None, None), (717.7, 717_700_000)],
)
def test_million_to_won_is_exact(raw, won):
    assert n.million_to_won(raw) == won


def test_float_arithmetic_would_be_wrong_and_we_are_not():
    assert int(4.1 * 1_000_000 / 10) != 410_000 or int(4.1 * 100_000) == 409_999
    assert n.million_to_won(4.1) // 10 == 410_000


@given(st.decimals(min_value=0, max_value=100_000, places=1, allow_nan=False))
def test_million_to_won_any_one_decimal(value: Decimal):
    assert n.million_to_won(float(value)) == int(value * 1_000_000)
    assert n.million_to_won(str(value)) == int(value * 1_000_000)


@pytest.mark.parametrize("raw", ["abc", "1.2.3", "12원원", True])
def test_bad_money(raw):
    with pytest.raises(ValueError):
        n.million_to_won(raw)


@pytest.mark.parametrize(
    "raw", ["2016. 1. 22.", "2016.1.22", "2016-01-22", "2016/01/22", "20160122", "2016년 1월 22일", 42391, 42391.0,
            "２０１６-０１-２２", date(2016, 1, 22),
            "2016-01-22 00:00:00", "2016-01-22T00:00:00", "2016.1.22 9:30"],  # a date and time as text (CSV, pandas)
)
def test_dates(raw):
    assert n.to_date(raw) == date(2016, 1, 22)


@pytest.mark.parametrize("raw", ["2016-02-30", "내일", "", 0, -3, "12:00", "2016-01-22 25시"])
def test_bad_dates(raw):
    with pytest.raises(ValueError):
        n.to_date(raw)


@pytest.mark.parametrize(
    "raw", ["2016-02-30", "2016.2.30", "2016-13-01", "2016. 4. 31.", "2015-02-29", "2016-01-00", "20160230",
            "2016년 2월 30일"],
)
def test_impossible_dates_are_told_apart_from_unreadable_ones(raw):
    with pytest.raises(n.ImpossibleDate):
        n.to_date(raw)


@pytest.mark.parametrize("raw", ["내일", "2016-02", "2016-1-2-3", 0, 3_000_000, "2016-02-31x"])
def test_unreadable_dates_are_not_called_impossible(raw):
    with pytest.raises(ValueError) as caught:
        n.to_date(raw)
    assert not isinstance(caught.value, n.ImpossibleDate)


@pytest.mark.parametrize(
    "parse, raw, won",
    [(n.to_won, "500000.7", Decimal("500000.7")), (n.to_won, 1500.5, Decimal("1500.5")),
     (n.to_won, "1,000.01원", Decimal("1000.01")), (n.million_to_won, "0.0000001", Decimal("0.1")),
     (n.million_to_won, 69.2000001, Decimal("69200000.1"))],
)
def test_a_fraction_of_a_won_is_its_own_error_with_the_amount_in_won(parse, raw, won):
    with pytest.raises(n.FractionalWon) as caught:
        parse(raw)
    assert caught.value.won == won


def test_cell_error_is_not_blank_and_reads_as_its_error():
    error = n.CellError("#NAME?", "공원녹지과")
    assert not n.is_blank(error) and n.cell_text(error) == "#NAME?"
    assert pickle.loads(pickle.dumps(error)) == error  # it crosses from the reader processes


@pytest.mark.parametrize(
    "raw, names, lead",
    [("환경과(총괄) 지역경제과", ["환경과", "지역경제과"], "환경과"),
     ("지역경제과 환경과(총괄)", ["지역경제과", "환경과"], "환경과"),
     ("세 무 과", ["세무과"], "세무과"),
     ("건강증진과 의 약 과 지역보건과", ["건강증진과", "의약과", "지역보건과"], "건강증진과"),
     ("자치행정과, 기획예산과", ["자치행정과", "기획예산과"], "자치행정과"),
     ("감사담당관", ["감사담당관"], "감사담당관")],
)
def test_split_departments(raw, names, lead):
    assert n.split_departments(raw) == (names, lead)


def test_project_key_ignores_spacing_dots_and_brackets():
    a = n.project_key("「서울형 환경 · 에너지 정책 만들기」 (에너지 살림 도시분야)")
    b = n.project_key("서울형 환경ㆍ에너지 정책 만들기(에너지살림도시분야)")
    assert a == b
    assert n.nearest("서울 희망 일자리만들기 사업", ["서울 희망일자리 만들기", "안전도시 만들기"]) == "서울 희망일자리 만들기"


@pytest.mark.parametrize("raw, out", [("02-901-6123", "02-901-6123"), ("010 1234 5678", "010-1234-5678"),
                                      ("02)901-6123", "02-901-6123"), ("9016123", None), ("전화없음", None)])
def test_phone(raw, out):
    assert n.normalize_phone(raw) == out


@pytest.mark.parametrize("raw, out", [("Y", True), ("n", False), (None, False), ("", False), ("○", True), ("예", True)])
def test_yn(raw, out):
    assert n.to_yn(raw) is out


def test_squash_removes_seed_spacing():
    assert n.squash("최 우 수") == "최우수"
    assert n.header_key("사 업 명") == n.header_key("사업명")
    assert n.header_key("수상금（백만원）") == n.header_key("수상금(백만원)")


_CELL_PIECES = st.sampled_from([" ", "\t", "\n", "\u3000", "\u00a0", "\u200b", "\ufeff", "a", "\uac00", "\u1100\u1161", "."])


@given(st.lists(_CELL_PIECES, max_size=6).map("".join) | st.text(max_size=6))
def test_is_blank_and_cell_text_fast_paths_agree_with_their_definitions(text: str):
    # is_blank: nothing left once every kind of space (incl. zero-width) is taken out
    assert n.is_blank(text) == (n._SPACE_RE.sub("", text) == "")
    # cell_text: NFC, trimmed, None when empty
    expected = n.nfc(text).strip() or None
    assert n.cell_text(text) == expected
