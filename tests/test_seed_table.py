"""The seed's own results table (section V), typed by hand as the budget office keeps it, is read as is:
a title row, the seed's headers (`사 업 명`, `인센티브 (백만원)`), a 계 row, spaced grades and departments, no
사업구분 column (the category sits in 비고 on the first row of each group)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import openpyxl

from coop_batch.validate import validate_file

SEED_V = [  # 연번, 사업명, 평가결과, 인센티브 (백만원), 주관부서, 비고 — exactly as printed in the seed
    (1, "2014 회계연도 시 세입분야 평가 (시세 종합실적 평가)", "노 력", 50, "세 무 과", "서울시 인센티브"),
    (2, "2014 회계연도 시 세입분야 평가 (세외수입 종합 평가)", "노 력", 30, "세 무 과", None),
    (3, "2015 상반기 체납시세 징수실적 평가", "우 수", 80, "세 무 과", None),
    (4, "'서울, 꽃으로 피다'", "노 력", 15, "푸른도시과", None),
    (5, "서울 희망일자리 만들기", "수상구(절대)", 69.2, "일자리지원과", None),
    (6, "주민주도의 마을공동체 활성화사업", "수상구(절대)", 30.4, "자치행정과", None),
    (7, "찾아가는 복지서울 · 함께 누리는 건강서울 (복지분야)", "수상구(절대)", 50, "주민생활지원과", None),
    (8, "「서울형 환경 · 에너지 정책 만들기」 (에너지 살림 도시분야)", "수상구(절대)", 22.5, "환경과(총괄) 지역경제과", None),
    (9, "「서울형 환경 · 에너지 정책 만들기」 (재활용 · 청결분야)", "수상구(절대)", 32.1, "청소행정과", None),
    (10, "안전도시 만들기", "최 우 수", 90, "안전치수과", None),
    (11, "찾아가는 복지서울 · 함께 누리는 건강서울 (보건분야)", "수상구(절대)", 15, "보건위생과", None),
    (12, "자치구 반부패 · 청렴활동 추진", "수상구(절대)", 25, "감사담당관", None),
    (13, "2014년 행정서비스 시민 만족도 조사 (청소분야)", "우 수", "-", "청소행정과", "서울시 단위사업"),
    (14, "2014 제설대책 추진 평가", "장 려", 3, "도로관리과", None),
    (15, "2015년 에코마일리지 활동실적 2차 평가", "모 범", 2, "환 경 과", None),
    (16, "2015년 에코마일리지 활동실적 3차 평가", "우 수", 8, "환 경 과", None),
    (17, "2015년 지적·토지업무 역점시책 평가 (토지정책분야)", "최 우 수", "-", "부동산정보과", None),
    (18, "2015년 교통수요관리 자치구 평가", "노 력", 100, "교통행정과", None),
    (19, "민선6기 전국기초자치단체장 공약실천계획 평가", "최우수 (SA등급)", "-", "기획예산과", "대외기관"),
    (20, "2015년 공공부문 정보자원관리 (EA 성숙도 우수기관)", "우수기관", "-", "정보화지원과", None),
    (21, "2015년 민원서비스 우수기관 인증", "우수기관", "-", "민원여권과", None),
    (22, "2015년 지역복지사업 우수사례 공모 (복지재정 효율화 부문)", "우 수", "15 (포상금)", "주민생활지원과", None),
    (23, "2015년 정부합동평가", "우 수", 80, "기획예산과", None),
    (24, "2015 범시민사회단체연합 좋은 자치단체장", "좋은 자치단체장상", "-", "행정지원과", None),
    (25, "제24회 대한민국 무궁화 대상 (행정부문)", "대 상", "-", "기획예산과", None),
    (26, '제17회 "아름다운화장실 대상"공모', "동 상", "0.5 (포상금)", "푸른도시과", None),
    (27, "제2회 지방자치단체 자율적 내부통제 제도 운영 및 우수사례 발표대회", "장 려", "-", "감사담당관", None),
]


def seed_table(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "2015년 추진성과"
    ws.append(["□ 총 27개 부문 717.7백만원 수상"])
    ws.append([])
    ws.append(["연번", "사 업 명", "평가결과", "인센티브 (백만원)", "주관부서", "비고"])
    ws.append(["계", None, None, 717.7, None, None])
    for row in SEED_V:
        ws.append(list(row))
    wb.save(path)
    return path


def test_the_seed_table_as_typed_is_accepted_with_its_numbers(rules, tmp_path: Path) -> None:
    sub = validate_file(seed_table(tmp_path / "2015년_추진성과.xlsx"), rules)
    errors = [p.line() for p in sub.problems if p.is_error]
    assert sub.kind is not None and sub.kind.id == "results" and errors == []
    codes = Counter(p.code for p in sub.problems)
    assert codes["category-from-note"] == 1 and codes["total-row"] == 1 and codes["unknown-grade"] == 1
    assert len(sub.records) == 27
    assert sum(r["prize_won"] or 0 for r in sub.records) == 717_700_000  # the seed's 717.7 백만원, exactly
    by_category = Counter(r["category"] for r in sub.records)
    assert by_category == {"시·자치구 공동협력사업": 12, "서울시 단위평가": 6, "대외기관 평가": 9}
    eight = next(r for r in sub.records if r["seq"] == 8)
    assert eight["departments"] == ["환경과", "지역경제과"] and eight["lead_department"] == "환경과"
    assert next(r for r in sub.records if r["seq"] == 1)["lead_department"] == "세무과"
    assert next(r for r in sub.records if r["seq"] == 22)["prize_won"] == 15_000_000
    # the prize cell a later stage cites is the seed table's column D, not the template's E
    assert next(r for r in sub.records if r["seq"] == 5)["_cols"]["prize_won"] == "D"


def test_without_a_category_anywhere_the_missing_column_is_still_an_error(rules, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["연번", "사업명", "평가결과", "수상금(백만원)", "주관부서", "비고"])
    ws.append([1, "안전도시 만들기", "최우수", 90, "안전치수과", "잘함"])
    wb.save(tmp_path / "결과.xlsx")
    sub = validate_file(tmp_path / "결과.xlsx", rules)
    assert not sub.accepted
    assert [p.code for p in sub.problems if p.is_error] == ["missing-column"]
