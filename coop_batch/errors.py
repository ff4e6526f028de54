"""Problem records and the catalogue of problem codes.

A problem is data, not an exception: every stage appends `Problem` records to a
report and the run goes on.  Codes are stable (tests, the ledger and users'
scripts rely on them); the Korean message templates live only here, modelled on
frictionless-py's ``errors/`` catalogue.  A template says what is wrong *and*
how to fix it; ``{placeholders}`` are filled from ``Problem.params``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .korean import josa


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Entry:
    severity: Severity
    title: str  # short Korean name of the problem, for tables and counts
    template: str  # full Korean message: what is wrong and how to fix it


E, W = Severity.ERROR, Severity.WARNING

# Keep codes grouped by the stage that raises them.  Add, never rename.
CATALOGUE: dict[str, Entry] = {
    # --- file (reading) ---
    "file-empty": Entry(E, "빈 파일", "파일 크기가 0바이트입니다. 엑셀에서 다시 저장한 뒤 보내 주세요."),
    "file-not-xlsx": Entry(
        E,
        "엑셀 파일 아님",
        "엑셀(.xlsx) 파일이 아닙니다({detail}). 엑셀 또는 한컴오피스에서 '다른 이름으로 저장' → "
        "'Excel 통합 문서(*.xlsx)'로 저장해 보내 주세요.",
    ),
    "file-legacy-xls": Entry(
        E,
        "구버전 xls 형식",
        "{what} 엑셀 또는 한컴오피스에서 "
        "'다른 이름으로 저장' → 'Excel 통합 문서(*.xlsx)'로 다시 저장해 보내 주세요.",
    ),
    "file-encrypted": Entry(
        E,
        "암호 설정 파일",
        "암호가 걸린 파일이라 열 수 없습니다. 엑셀에서 '파일 → 정보 → 통합 문서 보호 → 암호 설정'의 "
        "암호를 지운 뒤 다시 보내 주세요.",
    ),
    "file-macro": Entry(
        E,
        "매크로 포함 파일",
        "매크로가 포함된 파일(.xlsm)은 받지 않습니다. 표준 서식(.xlsx)에 내용을 옮겨 적어 보내 주세요.",
    ),
    "file-corrupt": Entry(
        E,
        "손상된 파일",
        "파일이 손상되어 읽을 수 없습니다({detail}). 원본을 엑셀에서 열어 다시 저장하거나 표준 서식에 "
        "다시 작성해 보내 주세요.",
    ),
    "file-too-large": Entry(
        E,
        "파일 용량 초과",
        "파일 내용이 허용 한도를 넘습니다({detail}). 표준 서식에 필요한 내용만 적어 다시 보내 주세요.",
    ),
    "file-unsafe": Entry(
        E,
        "안전하지 않은 파일",
        "파일 안에 허용되지 않는 구조가 있습니다({detail}). 표준 서식에 내용을 옮겨 적어 다시 보내 주세요.",
    ),
    "file-timeout": Entry(
        E,
        "읽기 시간 초과",
        "파일을 {seconds}초 안에 읽지 못했습니다. 표준 서식에 내용을 옮겨 적어 다시 보내 주세요.",
    ),
    "file-unreadable": Entry(
        E,
        "파일 열기 실패",
        "파일을 열 수 없습니다({detail}). 파일이 다른 프로그램에서 열려 있지 않은지 확인하고 다시 보내 주세요.",
    ),
    # --- structure (kind, sheet, header) ---
    "hidden-sheet": Entry(
        E,
        "숨겨진 시트",
        "'{sheet}' 시트가 숨겨져 있어 읽지 않았습니다. 시트 탭에서 마우스 오른쪽 단추 → '숨기기 취소'로 "
        "시트를 보이게 한 뒤 다시 보내 주세요.",
    ),
    "unknown-kind": Entry(
        E,
        "서식 종류 불명",
        "어떤 표준 서식인지 알 수 없습니다. 'coop-batch templates'로 만든 표준 서식(평가결과·담당자지정·"
        "자체추진계획·주간실적·포상금배분·유공직원)에 작성해 보내 주세요.",
    ),
    "missing-sheet": Entry(
        E,
        "시트 없음",
        "'{sheet}' 시트를 찾을 수 없습니다. 표준 서식의 시트 이름을 바꾸지 말고 작성해 주세요.",
    ),
    "sheet-not-read": Entry(
        W,
        "읽지 않은 서식 시트",
        "한 파일에서는 서식 시트 하나('{read}')만 읽으므로 '{sheet}' 시트는 읽지 않았습니다. '{sheet}' 시트의 "
        "내용도 보내려면 그 서식 파일에 옮겨 따로 보내 주세요.",
    ),
    "missing-header": Entry(
        E,
        "제목 행 없음",
        "'{sheet}' 시트의 처음 {rows}행 안에서 제목 행(열 이름)을 찾지 못했습니다. 표준 서식의 제목 행을 "
        "지우거나 고치지 말고 작성해 주세요.",
    ),
    "missing-column": Entry(
        E,
        "필수 열 없음",
        "'{column}' 열이 없습니다. 표준 서식의 제목 행에 '{column}' 열을 되살려 주세요.",
    ),
    "duplicate-column": Entry(
        W,
        "중복 열",
        "'{column}' 열이 두 번 있습니다. 앞쪽 열만 읽었으니 뒤쪽 열은 지워 주세요.",
    ),
    "untitled-column": Entry(
        W,
        "제목 없는 열의 값",
        "제목 칸이 비어 있는 {letter}열에 값이 있어 읽지 않았습니다. 필요한 값이면 서식의 알맞은 열로 옮겨 주세요"
        "(제목 칸이 옆 칸과 병합되어 있으면 병합을 풀어 주세요).",
    ),
    "old-template": Entry(
        W,
        "구버전 서식",
        "서식 버전 {found}은(는) 현재 버전 {expected}이(가) 아닙니다. 다음부터는 새 표준 서식을 사용해 주세요.",
    ),
    "other-year": Entry(
        W,
        "다른 연도 서식",
        "{found}년 서식입니다(현재 {expected}년). 올해 서식인지 확인해 주세요.",
    ),
    "no-rows": Entry(
        E,
        "내용 없음",
        "'{sheet}' 시트에 작성된 행이 없습니다. 제목 행 아래에 내용을 적어 다시 보내 주세요.",
    ),
    # --- cells (validation) ---
    "category-from-note": Entry(
        W,
        "사업구분을 비고에서 읽음",
        "'사업구분' 열이 없어 '{note}' 열에 적힌 구분(서울시 인센티브·서울시 단위사업·대외기관)을 아래 행까지 "
        "이어서 읽었습니다. 다음부터는 표준 서식처럼 '사업구분' 열에 행마다 적어 주세요.",
    ),
    "required": Entry(E, "필수 값 없음", "'{column}' 값이 비어 있습니다. 값을 입력해 주세요."),
    "bad-number": Entry(
        E,
        "숫자 아님",
        "'{column}' 값 '{value}'은(는) 숫자가 아닙니다. 숫자만 입력해 주세요(예: {example}).",
    ),
    "bad-integer": Entry(
        E,
        "정수 아님",
        "'{column}' 값 '{value}'은(는) 정수가 아닙니다. 소수점 없이 입력해 주세요(예: {example}).",
    ),
    "negative": Entry(
        E, "음수", "'{column}' 값 '{value}'이(가) 0보다 작습니다. 0 이상으로 입력해 주세요."
    ),
    "bad-money": Entry(
        E,
        "금액 형식 오류",
        "'{column}' 값 '{value}'을(를) 금액으로 읽을 수 없습니다. 숫자로 입력해 주세요(예: {example}).{blank}",
    ),
    "fractional-won": Entry(
        E,
        "1원 미만 금액",
        "'{column}' 값 '{value}'에 1원 미만(소수점 아래)이 있습니다. 원 단위 금액은 소수점 없이 정수로 "
        "입력해 주세요(예: {example}).",
    ),
    "fractional-won-million": Entry(
        E,
        "1원 미만 금액(백만원)",
        "'{column}' 값 '{value}'은(는) {won}원이라 1원 미만이 생깁니다. 백만원 단위 금액은 소수점 아래 "
        "여섯째 자리(1원)까지만 적어 주세요(예: {example}).",
    ),
    "name-with-title": Entry(
        W,
        "성명에 직급·호칭",
        "'{column}' 값 '{value}'에서 직급·호칭 '{title}'을(를) 빼고 '{name}'(으)로 읽었습니다(다른 서식의 같은 사람과 "
        "맞춰 보려고). 성명 칸에는 이름만, 직급은 직급 칸에 적어 주세요.",
    ),
    "prize-too-large": Entry(
        E,
        "너무 큰 수상금(백만원)",
        "'{column}' 값 '{value}'은(는) {won}원으로, 규칙 파일의 한도 {limit}백만원보다 큽니다. 이 열은 백만원 "
        "단위입니다: 원 단위로 적었다면 백만원 단위로 고쳐 주세요(예: 69,200,000원 → 69.2).",
    ),
    "bad-date": Entry(
        E,
        "날짜 형식 오류",
        "'{column}' 값 '{value}'을(를) 날짜로 읽을 수 없습니다. 2016-01-22 또는 2016. 1. 22. 형식으로 "
        "입력해 주세요.",
    ),
    "impossible-date": Entry(
        E,
        "달력에 없는 날짜",
        "'{column}' 값 '{value}'은(는) 달력에 없는 날짜입니다(월은 1~12월, 일은 그달의 마지막 날까지: "
        "2월은 28일, 윤년은 29일). 월과 일이 맞는지 확인해 고쳐 주세요.",
    ),
    "formula-error": Entry(
        E,
        "엑셀 오류 값",
        "'{column}' 칸의 값이 엑셀 오류({value})라 읽을 수 없습니다(글자를 =로 시작해 적으면 엑셀이 수식으로 "
        "읽어 #NAME?가 됩니다). 수식을 고치거나 수식 대신 값을 직접 입력해 주세요.",
    ),
    "formula-not-calculated": Entry(
        E,
        "계산되지 않은 수식",
        "'{column}' 칸의 수식({formula})에 계산된 값이 저장되어 있지 않습니다(엑셀이 아닌 프로그램이 만든 파일). "
        "엑셀이나 한컴오피스에서 파일을 열어 다시 저장하거나, 수식 대신 값을 직접 입력해 주세요.",
    ),
    "bad-choice": Entry(
        E,
        "허용되지 않는 값",
        "'{column}' 값 '{value}'은(는) 쓸 수 없습니다. 목록에서 고르세요: {choices}.",
    ),
    "bad-yn": Entry(
        E,
        "Y/N 아님",
        "'{column}' 값 '{value}'은(는) Y 또는 N이어야 합니다. 해당하면 Y, 아니면 N(또는 빈칸)으로 적어 주세요.",
    ),
    "bad-phone": Entry(
        W,
        "전화번호 형식",
        "'{column}' 값 '{value}'은(는) 전화번호 형식이 아닙니다. 02-901-6123 또는 010-1234-5678처럼 "
        "입력해 주세요.",
    ),
    "text-too-long": Entry(
        W,
        "글자 수 초과",
        "'{column}' 값이 {length}자로 깁니다({limit}자 이하 권장). 핵심만 줄여 적어 주세요.",
    ),
    "unknown-grade": Entry(
        W,
        "등급 미분류",
        "평가결과 '{value}'은(는) {year}년 등급표에 없어 포상금·특별휴가를 계산하지 않았습니다. 오타이면 고쳐 다시 "
        "제출해 주세요. 맞는 등급이면 기획예산과가 {year}년 규칙 파일(작업 폴더의 rules\\{year}.toml) 등급표에 "
        "추가해야 합니다.",
    ),
    "not-friday": Entry(
        W,
        "금요일 아님",
        "보고일 {value}은(는) {weekday}요일이라 {week} 주간보고로 처리했습니다. 다음부터는 {due}요일 날짜로 적어 "
        "주세요.",
    ),
    "report-date-year": Entry(
        W,
        "다른 연도 보고일",
        "보고일 {value}은(는) {year}년이 아닙니다. 연도를 잘못 적었으면 {year}년 날짜로 고쳐 주세요(지난해 "
        "서식을 고쳐 쓰면 흔히 생깁니다).",
    ),
    "target-over-points": Entry(
        E,
        "목표점수 초과",
        "목표점수 {target}이(가) 배점 {points}보다 큽니다. 목표점수를 배점 이하로 고쳐 주세요.",
    ),
    "unknown-project": Entry(
        W,
        "사업명 불일치",
        "사업명 '{value}'이(가) 알려진 사업 목록에 없습니다{hint}. {fix} 오타나 띄어쓰기가 다르지 않은지도 "
        "확인해 주세요.",
    ),
    "duplicate-row": Entry(
        W,
        "중복 행",
        "{other}행과 같은 내용이 다시 적혀 있습니다. 중복된 행을 지워 주세요.",
    ),
    "duplicate-seq": Entry(
        W,
        "연번 중복",
        "연번 {seq}이(가) {other}행에도 다른 사업으로 적혀 있습니다. 고쳐 낸 목록은 연번으로 옛 목록과 맞춰 보므로, "
        "사업마다 다른 연번을 적어 주세요.",
    ),
    "total-row": Entry(
        W,
        "합계 행",
        "{row}행은 '{value}' 합계 행으로 보여 읽지 않았습니다. 합계는 자동으로 계산하니 이 행을 지워 주세요.",
    ),
    # --- run (ledger, merge) ---
    "duplicate-file": Entry(
        W,
        "중복 제출",
        "{first_seen}에 받은 '{original}'과(와) 내용이 똑같은 파일이라 다시 처리하지 않았습니다. 같은 파일은 "
        "다시 보낼 필요가 없습니다. 내용을 고쳤다면 고친 뒤 저장한 파일을 보내 주세요.",
    ),
    "resent-rejected": Entry(
        W,
        "반려 파일 재제출",
        "{date}에 반려된 '{prior}'과(와) 내용이 똑같은 파일입니다. 오늘 규칙으로 다시 검증했으니, 이 목록에 "
        "오류가 있으면 고쳐서 저장한 뒤 다시 보내 주세요.",
    ),
    "file-still-copying": Entry(
        W,
        "복사 중(처리 대기)",
        "파일이 방금 바뀌어 아직 복사 중일 수 있으므로 이번에는 처리하지 않았습니다. 그대로 두면 다음 실행 때 "
        "처리됩니다.",
    ),
    "file-open-elsewhere": Entry(
        W,
        "열려 있는 파일(처리 대기)",
        "파일이 엑셀에서 열려 있어(같은 폴더에 '{owner}' 파일이 있음) 이번에는 처리하지 않았습니다. 파일을 "
        "닫으면 다음 실행 때 처리됩니다. 파일을 닫았는데도 계속 대기 중이면 같은 폴더의 '{owner}' 파일을 "
        "지워 주세요.",
    ),
    "file-locked": Entry(
        W,
        "읽을 수 없는 파일(처리 대기)",
        "파일을 열어 읽을 수 없어({detail}) 이번에는 처리하지 않았습니다. 다른 프로그램이 파일을 쓰고 있지 "
        "않은지, 읽기 권한이 있는지 확인해 주세요. 읽을 수 있게 되면 다음 실행 때 처리됩니다.",
    ),
    "lead-conflict": Entry(
        W,
        "총괄부서 충돌",
        "사업 '{project}'의 담당자지정에서 {departments} 부서가 모두 자기 부서를 총괄부서로 적었습니다. 서로 "
        "확인해 한 부서만 총괄부서로 다시 제출해 주세요.",
    ),
    "result-replaced": Entry(
        W,
        "평가결과 연번의 사업 바뀜",
        "평가결과 연번 {seq}의 사업이 '{old_file}'에서는 '{old}', 새 파일에서는 '{new}'입니다. 새 목록이 옛 목록을 "
        "통째로 바꾸므로 '{old}'은(는) 포상금 계산에서 빠집니다. 같은 사업의 이름을 고친 것이면 그대로 두고, "
        "다른 사업이면 '{old}' 행을 넣어 목록 전체를 다시 보내 주세요(목록을 나눠 낼 때는 연번이 겹치지 않게).",
    ),
    "row-withdrawn": Entry(
        W,
        "고친 파일에서 빠진 행",
        "'{old_file}'에 있던 {what} 행이 고쳐 낸 이 파일에 없어 통합현황과 포상 계산에서 빠졌습니다. 빼려던 것이면 "
        "그대로 두고, 빠뜨린 것이면 그 행을 넣어 파일 전체를 다시 보내 주세요.",
    ),
    # --- policy ---
    "reward-no-plan": Entry(
        W,
        "자체추진계획 없음",
        "사업 '{project}'(연번 {seq})의 자체추진계획이 없어 평가계획 미통보로 보고 포상금을 지급하지 않았습니다"
        "(VI 행정사항). 서울시 평가계획을 기획예산과에 통보했다면 총괄부서 {department}에서 자체추진계획 서식에 "
        "'기획예산과 통보일'을 적어 제출해 주세요.",
    ),
    "reward-not-notified": Entry(
        W,
        "평가계획 미통보",
        "사업 '{project}'의 자체추진계획에 '기획예산과 통보일'이 없어 포상금을 지급하지 않았습니다(VI 행정사항: "
        "미통보 시 지급 불가). 통보했다면 통보한 날짜를 적어 자체추진계획을 다시 제출해 주세요.",
    ),
    "reward-unknown-category": Entry(
        W,
        "사업구분 미분류",
        "사업구분 '{value}'은(는) {year}년 규칙 파일에 없어 포상금을 계산하지 않았습니다. {choices} 중 하나로 "
        "고쳐 다시 제출하거나, 새 구분이면 기획예산과에 {year}년 규칙 파일(작업 폴더의 rules\\{year}.toml) 수정을 요청해 주세요.",
    ),
    "split-sum-mismatch": Entry(
        E,
        "배분 합계 불일치",
        "사업 '{project}'의 포상금배분 합계 {plan_total}원이 포상금 {reward}원과 {diff}원 다릅니다. 배분액 합계가 "
        "정확히 {reward}원이 되도록 고쳐 다시 제출해 주세요. 고칠 때까지 포상금 전액을 총괄부서 {lead}에 배분합니다.",
    ),
    "split-foreign-department": Entry(
        E,
        "사업 부서 아님",
        "포상금배분의 '{department}'은(는) 사업 '{project}'의 부서({departments})가 아닙니다. 부서명을 "
        "평가결과·담당자지정과 같게 고치거나, 함께한 부서라면 담당자지정에 협조부서로 올린 뒤 다시 제출해 주세요. "
        "고칠 때까지 포상금 전액을 총괄부서 {lead}에 배분합니다.",
    ),
    "split-missing": Entry(
        W,
        "배분계획 없음",
        "사업 '{project}'은(는) 여러 부서({departments})의 사업인데 포상금배분 계획이 없어 포상금 {reward}원 전액을 "
        "총괄부서 {lead}에 배분했습니다. 협조부서에도 나누려면 총괄부서에서 포상금배분 서식을 제출해 주세요.",
    ),
    "split-not-payable": Entry(
        W,
        "지급 없는 사업의 배분계획",
        "사업 '{project}'은(는) 포상금이 지급되지 않아({reason}) 포상금배분 계획을 쓰지 않았습니다. 사유가 "
        "사실과 다르면 평가결과 또는 자체추진계획을 고쳐 다시 제출해 주세요.",
    ),
    "contacts-missing": Entry(
        W,
        "담당자지정 없음",
        "사업 '{project}'(연번 {seq}, {grade})의 담당자지정이 없어 특별휴가·표창 대상자를 정하지 못했습니다. "
        "총괄부서 {department}에서 담당자지정 서식(총괄부서 행의 팀장·담당 성명, 협조부서가 있으면 그 행도)을 "
        "제출해 주세요.",
    ),
    "rank-tie": Entry(
        W,
        "기여도순위 동률",
        "사업 '{project}'의 표창 대체 추천에서 총괄부서 {department} 유공직원 {names}의 기여도순위가 모두 {place}위라 "
        "먼저 적힌 {chosen}을(를) 추천했습니다. 다른 직원을 추천하려면 유공직원 서식의 기여도순위를 서로 다르게 고쳐 "
        "다시 제출해 주세요.",
    ),
    "contacts-no-lead": Entry(
        W,
        "총괄부서 행 없음",
        "사업 '{project}'의 담당자지정에 구분 '총괄부서' 행이 없어 총괄팀장·총괄담당자의 특별휴가·표창을 정하지 "
        "못했습니다. 총괄부서 {department}에서 '총괄부서' 행(팀장·담당 성명)을 적어 다시 제출해 주세요.",
    ),
}

# `unknown-project`'s {fix}, by the kind of the file warned.  The known names are those of the accepted
# 평가결과 and 담당자지정 (run._NAME_KINDS): a results or contact list is checked against the other lists,
# so it is not told to match itself.  "" is every other kind (and problems recorded before {fix} existed).
UNKNOWN_PROJECT_FIX: dict[str, str] = {
    "": "사업명을 평가결과·담당자지정과 똑같이 적어 주세요.",
    "results": "알려진 사업명은 이미 받은 담당자지정과 다른 평가결과 파일의 사업명입니다. 새로 평가받은 사업이면 "
    "그대로 두어도 되며, 총괄부서가 담당자지정에 이 사업명을 똑같이 적도록 알려 주세요.",
    "contacts": "사업명을 기획예산과 평가결과에 적힌 사업명과 똑같이 적어 주세요(평가결과에 아직 없는 사업이면 "
    "그대로 두어도 됩니다).",
}


def os_detail(exc: OSError) -> str:
    """An OS error's reason, in Korean words a clerk can act on (the `detail` of file-unreadable and the
    run's notes on a file it could not move)."""
    if isinstance(exc, FileNotFoundError):
        return "파일이 없음"
    if isinstance(exc, PermissionError):
        return "읽기 권한이 없거나 다른 프로그램이 사용 중"
    if isinstance(exc, IsADirectoryError):
        return "파일이 아니라 폴더임"
    return f"입출력 오류 {exc.errno or ''}".strip()


def legacy_xls_what(suffix: str) -> str:
    """`file-legacy-xls`'s {what}, by the extension of the file's name (`Path.suffix`): a `.xls` file is
    what its name says; under another name (Hancom Office writes legacy bytes as .xlsx) it is not."""
    if suffix.casefold() == ".xls":
        return "구버전 엑셀(.xls) 파일입니다."
    if suffix:
        return f"확장자는 {suffix}이지만 내용은 구버전 엑셀(.xls) 형식입니다."
    return "파일 이름에 확장자가 없지만 내용은 구버전 엑셀(.xls) 형식입니다."


# Parameters a template gained later, for problems recorded (ledger) without them.
_PARAM_DEFAULTS: dict[str, dict[str, str]] = {
    "unknown-project": {"fix": UNKNOWN_PROJECT_FIX[""]},
    "bad-money": {"blank": ""},  # a column that may be empty says so (수상금: ' 없으면 비워 두거나 …')
    "not-friday": {"week": "그 주"},  # recorded before {week} existed
    "file-legacy-xls": {"what": legacy_xls_what(".xlsx")},
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one submission, positioned as the user sees it in Excel."""

    code: str
    file: str = ""
    sheet: str = ""
    cell: str = ""  # "C7": the column letter and the row number Excel shows
    column: str = ""  # the column title, e.g. "보고일"
    params: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def entry(self) -> Entry:
        return CATALOGUE[self.code]

    @property
    def severity(self) -> Severity:
        return self.entry.severity

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    @property
    def position(self) -> str:
        """`주간실적!C7`, `주간실적`, or '' — the way Excel names a place."""
        if self.sheet and self.cell:
            return f"{self.sheet}!{self.cell}"
        return self.sheet or self.cell

    @property
    def message(self) -> str:
        values = {"column": self.column, "sheet": self.sheet, **_PARAM_DEFAULTS.get(self.code, {}), **self.params}
        template = self.entry.template
        for key, value in values.items():  # `'서울, 꽃으로 피다'` quoted by the template again: once
            if isinstance(value, str) and len(value) > 1 and value[0] == value[-1] == "'" and f"'{{{key}}}'" in template:
                values[key] = value[1:-1]
        try:
            return josa(self.entry.template.format(**values))  # `'3월 넷째 주'을(를)` → `…를`
        except (KeyError, IndexError):  # a missing parameter must not hide the problem itself
            return self.entry.template

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "sheet": self.sheet,
            "cell": self.cell,
            "column": self.column,
            "code": self.code,
            "severity": self.severity.value,
            "title": self.entry.title,
            "message": self.message,
            "params": {k: str(v) for k, v in self.params.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Problem:
        return cls(
            code=data["code"],
            file=data.get("file", ""),
            sheet=data.get("sheet", ""),
            cell=data.get("cell", ""),
            column=data.get("column", ""),
            params=dict(data.get("params", {})),
        )

    def line(self) -> str:
        """One Korean line: `[오류] 파일 주간실적!C7 (보고일): message`."""
        tag = "오류" if self.is_error else "경고"
        where = " ".join(p for p in (self.file, self.position) if p)
        col = f" ({self.column})" if self.column else ""
        return f"[{tag}] {where}{col}: {self.message}"


def has_errors(problems: list[Problem]) -> bool:
    return any(p.is_error for p in problems)
