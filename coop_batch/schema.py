"""The six standard templates: sheet names, column titles, field names and value types.

This is the single source of truth shared by the template generator, the reader
(header matching), the validator (pydantic row models) and the master writer.
Column titles are exactly those users see; `field` is the English name used in
code and in the ledger (see the glossary in README.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

TEMPLATE_VERSION = "1.0"


class ValueType(StrEnum):
    TEXT = "text"
    INT = "int"  # whole number (연번, 기여도순위)
    NUMBER = "number"  # exact decimal (배점, 목표점수)
    MONEY_MILLION = "money_million"  # 백만원 in the sheet, integer 원 in code
    MONEY_WON = "money_won"  # integer 원
    DATE = "date"
    YN = "yn"  # Y/N, blank = N
    CHOICE = "choice"  # one of `choices` (dropdown)
    GRADE = "grade"  # 평가결과 grade: dropdown from the year's grade table
    PHONE = "phone"
    DEPARTMENTS = "departments"  # one or more departments, one may be marked (총괄)


@dataclass(frozen=True)
class Column:
    title: str  # exact header text in the template
    field: str
    type: ValueType = ValueType.TEXT
    required: bool = False
    choices: tuple[str, ...] = ()
    help: str = ""  # what to enter (작성방법)
    example: str = ""
    fill_down: bool = False  # blank cells repeat the value above (merged-cell style)
    aliases: tuple[str, ...] = ()  # other titles hand-made files use for this column (the seed's own tables)


@dataclass(frozen=True)
class Kind:
    id: str  # English id, stored in _meta and the ledger
    sheet: str  # Korean sheet name == the kind's Korean name
    columns: tuple[Column, ...]
    description: str = ""

    def column(self, field: str) -> Column:
        for col in self.columns:
            if col.field == field:
                return col
        raise KeyError(field)

    @property
    def titles(self) -> tuple[str, ...]:
        return tuple(c.title for c in self.columns)


CATEGORIES = ("시·자치구 공동협력사업", "서울시 단위평가", "대외기관 평가")
LEAD_ROLES = ("총괄부서", "협조부서")
SPLIT_ROLES = ("주관", "협조")
YN_CHOICES = ("Y", "N")

T = ValueType

RESULTS = Kind(
    id="results",
    sheet="평가결과",
    description="평가 결과와 수상금(사업별 1행)",
    columns=(
        Column("연번", "seq", T.INT, True, help="결과 목록의 일련번호", example="1", aliases=("번호", "순번")),
        Column("사업명", "project", T.TEXT, True, help="평가받은 사업의 이름", example="안전도시 만들기"),
        Column("사업구분", "category", T.CHOICE, True, CATEGORIES, help="목록에서 선택", example=CATEGORIES[0]),
        Column("평가결과", "grade", T.GRADE, True, help="평가 등급(목록에서 선택)", example="최우수"),
        Column(
            "수상금(백만원)",
            "prize_won",
            T.MONEY_MILLION,
            help="수상금을 백만원 단위로(소수 가능). 없으면 빈칸 또는 -",
            example="69.2",
            aliases=("인센티브(백만원)", "수상금액(백만원)", "수상금(백만)", "인센티브(백만)"),
        ),
        Column("경상보조금", "subsidy", T.YN, help="수상금이 경상보조금이면 Y, 아니면 N(빈칸=N)", example="N"),
        Column(
            "주관부서",
            "departments",
            T.DEPARTMENTS,
            True,
            help="주관부서. 여러 부서면 띄어 쓰고 총괄부서에 (총괄) 표시",
            example="환경과(총괄) 지역경제과",
            aliases=("추관부서",),  # the seed's section I table spells it so
        ),
        Column("비고", "note", help="참고 사항", example="서울시 인센티브"),
    ),
)

CONTACTS = Kind(
    id="contacts",
    sheet="담당자지정",
    description="사업별 총괄·협조부서 담당자 지정(부서별 1행)",
    columns=(
        Column("사업명", "project", T.TEXT, True, help="사업 이름(평가결과와 같게)", example="안전도시 만들기"),
        Column("구분", "role", T.CHOICE, True, LEAD_ROLES, help="총괄부서 또는 협조부서", example="총괄부서"),
        Column("부서명", "department", T.TEXT, True, help="부서 이름", example="안전치수과"),
        Column("과장 직급", "chief_rank", help="과장의 직급", example="지방시설사무관"),
        Column("과장 성명", "chief_name", help="과장의 성명", example="홍길동"),
        Column("팀명", "team", help="담당 팀 이름", example="치수방재팀"),
        Column("팀장 직급", "leader_rank", help="팀장의 직급", example="지방시설주사"),
        Column("팀장 성명", "leader_name", T.TEXT, True, help="팀장의 성명", example="김철수"),
        Column("팀장 전화", "leader_phone", T.PHONE, help="팀장 전화번호", example="02-901-6123"),
        Column("담당 직급", "officer_rank", help="담당자의 직급", example="지방시설주사보"),
        Column("담당 성명", "officer_name", T.TEXT, True, help="총괄 담당자의 성명", example="이영희"),
        Column("담당 전화", "officer_phone", T.PHONE, help="담당자 전화번호", example="02-901-6124"),
        Column("서울시 주관부서", "city_department", help="서울시 평가 주관부서", example="안전총괄과"),
        Column("서울시 담당자", "city_officer", help="서울시 담당자 성명", example="박민수"),
        Column("서울시 담당자 전화", "city_phone", T.PHONE, help="서울시 담당자 전화번호", example="02-2133-8000"),
        Column("비고", "note", help="참고 사항", example=""),
    ),
)

PLANS = Kind(
    id="plans",
    sheet="자체추진계획",
    description="사업별 자체 추진계획(평가항목별 1행)",
    columns=(
        Column("사업명", "project", T.TEXT, True, help="사업 이름. 첫 행에만 적어도 됨", example="안전도시 만들기", fill_down=True),
        Column("부서명", "department", T.TEXT, True, help="계획을 세운 주관부서", example="안전치수과", fill_down=True),
        Column(
            "평가계획 접수일", "plan_received", T.DATE, True,
            help="서울시 평가계획을 받은 날", example="2016-02-15", fill_down=True,
        ),
        Column(
            "기획예산과 통보일", "notified", T.DATE,
            help="평가계획을 기획예산과에 알린 날. 미통보면 빈칸(포상금 지급 불가)",
            example="2016-02-16", fill_down=True,
        ),
        Column(
            "계획서 제출일", "plan_submitted", T.DATE,
            help="자체 추진계획서를 낸 날(접수 후 5일 이내)", example="2016-02-19", fill_down=True,
        ),
        Column("방침 결재일", "approved", T.DATE, help="구청장 방침 결재일", example="2016-02-22", fill_down=True),
        Column("추진목표", "goal", help="2016년 추진목표", example="절대평가 수상구 달성"),
        Column("평가분야", "field", T.TEXT, True, help="평가분야", example="정량평가"),
        Column("평가항목", "item", T.TEXT, True, help="평가항목", example="재난안전 예산 확보율"),
        Column("배점", "points", T.NUMBER, True, help="항목 배점(숫자)", example="20"),
        Column("목표점수", "target", T.NUMBER, help="목표 점수(배점 이하)", example="18"),
        Column("담당자", "owner", help="항목별 담당자 성명", example="이영희"),
        Column("대응방안", "response", help="항목별 대응방안", example="우수구 사례 벤치마킹"),
    ),
)

WEEKLY = Kind(
    id="weekly",
    sheet="주간실적",
    description="주간 추진실적(매주 금요일, 사업별 1행)",
    columns=(
        Column("보고일", "report_date", T.DATE, True, help="보고 기준일(금요일)", example="2016-03-04"),
        Column("사업명", "project", T.TEXT, True, help="사업 이름", example="안전도시 만들기"),
        Column("부서명", "department", T.TEXT, True, help="보고 부서", example="안전치수과"),
        Column("추진실적", "progress", T.TEXT, True, help="이번 주 추진실적", example="재난안전 교육 2회 실시"),
        Column("문제점", "issues", help="업무 추진상 문제점", example="참여율 저조"),
        Column("대책", "measures", help="문제점에 대한 대책", example="동 주민센터 홍보 강화"),
        Column("협조사항", "requests", help="다른 부서에 바라는 협조", example="홍보물 게시 협조"),
    ),
)

SPLIT = Kind(
    id="split",
    sheet="포상금배분",
    description="포상금 부서별 배분 계획(부서별 1행)",
    columns=(
        Column("사업명", "project", T.TEXT, True, help="사업 이름", example="안전도시 만들기"),
        Column("부서명", "department", T.TEXT, True, help="배분받을 부서", example="안전치수과"),
        Column("부서구분", "dept_role", T.CHOICE, True, SPLIT_ROLES, help="주관 또는 협조", example="주관"),
        Column("배분액(원)", "amount_won", T.MONEY_WON, True, help="배분액(원 단위 정수)", example="6,000,000"),
        Column("기여내용", "contribution", help="업무비중·기여 내용", example="사업 총괄"),
    ),
)

STAFF = Kind(
    id="staff",
    sheet="유공직원",
    description="사업별 유공직원과 기여도 순위",
    columns=(
        Column("사업명", "project", T.TEXT, True, help="사업 이름", example="안전도시 만들기"),
        Column("부서명", "department", T.TEXT, True, help="직원의 부서", example="안전치수과"),
        Column("직급", "rank", help="직급", example="지방행정주사보"),
        Column("성명", "name", T.TEXT, True, help="성명", example="이영희"),
        Column("기여도순위", "contribution_rank", T.INT, True, help="부서 안의 기여도 순위(1이 가장 높음)", example="1"),
        Column("기표창", "commended", T.YN, help="이 사업으로 평가기관 표창을 받았거나 받을 예정이면 Y", example="N"),
        Column("비고", "note", help="참고 사항", example=""),
    ),
)

KINDS: tuple[Kind, ...] = (RESULTS, CONTACTS, PLANS, WEEKLY, SPLIT, STAFF)
KIND_BY_ID: dict[str, Kind] = {k.id: k for k in KINDS}
KIND_BY_SHEET: dict[str, Kind] = {k.sheet: k for k in KINDS}

META_SHEET = "_meta"
HELP_SHEET = "작성방법"
LISTS_SHEET = "_lists"
