"""`coop-batch validate FILE... [--format table|json] [--year YYYY]` through click's CliRunner.

Workbooks are the standard templates filled by `templates.write_template` (the way a department
fills them), plus broken files built here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from coop_batch.cli import cli
from coop_batch.korean import josa
from coop_batch.schema import KIND_BY_ID, KINDS

ROWS = {
    "results": [
        {"연번": 1, "사업명": "안전도시 만들기", "사업구분": "시·자치구 공동협력사업", "평가결과": "최우수",
         "수상금(백만원)": 90, "경상보조금": "N", "주관부서": "안전치수과"},
        {"연번": 2, "사업명": "에너지 살림 도시", "사업구분": "서울시 인센티브", "평가결과": "수상구(절대)",
         "수상금(백만원)": 4.1, "주관부서": "환경과(총괄) 지역경제과"},
    ],
    "contacts": [
        {"사업명": "안전도시 만들기", "구분": "총괄부서", "부서명": "안전치수과", "팀장 성명": "김철수",
         "팀장 전화": "02-901-6123", "담당 성명": "이영희", "담당 전화": "010-1234-5678"},
    ],
    "plans": [
        {"사업명": "안전도시 만들기", "부서명": "안전치수과", "평가계획 접수일": date(2016, 2, 15),
         "기획예산과 통보일": date(2016, 2, 16), "평가분야": "정량평가", "평가항목": "예산 확보율", "배점": 20,
         "목표점수": 18},
        {"평가분야": "정성평가", "평가항목": "교육 실적", "배점": 10, "목표점수": 9.5},
    ],
    "weekly": [
        {"보고일": date(2016, 3, 4), "사업명": "안전도시 만들기", "부서명": "안전치수과", "추진실적": "교육 2회"},
    ],
    "split": [
        {"사업명": "안전도시 만들기", "부서명": "안전치수과", "부서구분": "주관", "배분액(원)": 6_000_000},
        {"사업명": "안전도시 만들기", "부서명": "재난안전과", "부서구분": "협조", "배분액(원)": 3_000_000},
    ],
    "staff": [
        {"사업명": "안전도시 만들기", "부서명": "안전치수과", "성명": "이영희", "기여도순위": 1, "기표창": "Y"},
    ],
}


@pytest.fixture
def filled(tmp_path: Path, rules) -> dict[str, Path]:
    from coop_batch.templates import write_template

    return {
        kind.id: write_template(kind, rules, tmp_path / f"{kind.sheet}.xlsx", ROWS[kind.id]) for kind in KINDS
    }


@pytest.fixture
def bad_weekly(tmp_path: Path, rules) -> Path:
    from coop_batch.templates import write_template

    rows = [{"보고일": "지난 금요일", "사업명": "안전도시 만들기", "부서명": "안전치수과", "추진실적": "교육"},
            {"보고일": date(2016, 3, 3), "사업명": "안전도시 만들기", "부서명": "안전치수과", "추진실적": "홍보"}]
    return write_template(KIND_BY_ID["weekly"], rules, tmp_path / "bad" / "주간실적.xlsx", rows)


def run(*args: str):
    return CliRunner().invoke(cli, ["validate", *args])


def test_all_good_files_exit_0_with_a_table(filled):
    result = run(*(str(p) for p in filled.values()))
    assert result.exit_code == 0, result.output
    assert result.output.count("판정: 접수 가능") == 6
    assert "서식: 자체추진계획" in result.output and "부서: 안전치수과" in result.output
    result.output.encode("cp949")  # survives a Korean Windows console


def test_json_output_parses(filled):
    result = run("--format", "json", *(str(p) for p in filled.values()))
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)
    assert [i["kind"] for i in items] == [k.id for k in KINDS]
    assert all(i["accepted"] and i["problems"] == [] for i in items)
    assert items[0]["file"] == str(filled["results"]) and items[0]["department"] == "" and items[1]["department"] == "안전치수과"
    assert "안전치수과" in result.output  # ensure_ascii=False: Korean as Korean


def test_a_file_with_errors_exits_1_and_shows_cells(filled, bad_weekly):
    result = run(str(filled["split"]), str(bad_weekly))
    assert result.exit_code == 1, result.output
    assert "주간실적!A2" in result.output and "bad-date" in result.output
    assert "주간실적!A3" in result.output and "not-friday" in result.output and "목요일" in result.output
    assert "판정: 반려 ― 오류 1건, 경고 1건" in result.output
    assert "판정: 접수 가능" in result.output
    result.output.encode("cp949")


def test_json_problem_records(bad_weekly):
    result = run("--format", "json", str(bad_weekly))
    assert result.exit_code == 1
    [item] = json.loads(result.output)
    assert item["accepted"] is False and item["kind"] == "weekly"
    first = item["problems"][0]
    assert (first["sheet"], first["cell"], first["column"], first["code"], first["severity"]) == (
        "주간실적", "A2", "보고일", "bad-date", "error")
    assert first["file"] == "주간실적.xlsx" and "'지난 금요일'" in first["message"]


def test_warnings_alone_exit_0(tmp_path, rules):
    from coop_batch.templates import write_template

    rows = [{"연번": 1, "사업명": "좋은 자치단체장", "사업구분": "대외기관", "평가결과": "좋은 자치단체장상",
             "수상금(백만원)": "-", "주관부서": "행정지원과"}]
    path = write_template(KIND_BY_ID["results"], rules, tmp_path / "평가결과.xlsx", rows)
    result = run(str(path))
    assert result.exit_code == 0, result.output
    assert "unknown-grade" in result.output and "판정: 접수 가능 (경고 1건)" in result.output


def test_blank_template_has_no_rows(tmp_path, rules):
    from coop_batch.templates import write_template

    path = write_template(KIND_BY_ID["staff"], rules, tmp_path / "유공직원.xlsx")
    result = run("--format", "json", str(path))
    assert result.exit_code == 1
    assert [p["code"] for p in json.loads(result.output)[0]["problems"]] == ["no-rows"]


def test_unreadable_file_is_a_korean_error_not_a_traceback(tmp_path):
    broken = tmp_path / "주간실적.xlsx"
    broken.write_text("사업명,부서명\n안전도시 만들기,안전치수과\n", encoding="utf-8")  # a CSV renamed .xlsx
    result = run(str(broken))
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "오류" in result.output and "판정: 반려" in result.output and "서식: 알 수 없음" in result.output


def test_explicit_year(filled):
    assert run("--year", "2016", str(filled["weekly"])).exit_code == 0


@pytest.mark.parametrize(
    "args",
    [[], ["없는파일.xlsx"], ["--format", "xml", "{file}"], ["--year", "열여섯", "{file}"]],
)
def test_usage_errors_exit_2(args, filled):
    args = [a.replace("{file}", str(filled["weekly"])) for a in args]
    assert run(*args).exit_code == 2


def test_missing_rules_year_exits_2_in_korean(filled):
    result = run("--year", "1999", str(filled["weekly"]))
    assert result.exit_code == 2
    assert "규칙 파일" in result.output and "1999" in result.output


def test_validate_does_not_import_pandas(filled):
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from coop_batch.cli import cli\n"
        f"r = CliRunner().invoke(cli, ['validate', {str(filled['results'])!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'pandas' not in sys.modules, 'pandas imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_missing_file_is_named_in_korean(filled, tmp_path):
    result = run(str(filled["weekly"]), str(tmp_path / "없는파일.xlsx"))
    assert result.exit_code == 2
    assert "파일을 찾을 수 없습니다" in result.output and "없는파일.xlsx" in result.output


# --- usage errors: Korean, with how to fix them, exit 2 (click's own words are English) ---

CLICK_ENGLISH = ("Usage:", "Error", "Try ", "Invalid value", "Missing argument", "No such", "Option ")


def assert_korean_usage_error(result, *says: str) -> None:
    assert result.exit_code == 2, result.output
    for text in says:
        assert josa(text) in result.output, result.output  # the particles settled by the value
    assert not [word for word in CLICK_ENGLISH if word in result.output], result.output
    result.output.encode("cp949")  # a Korean Windows console prints all of it


@pytest.mark.parametrize(
    "args, says",
    [
        ([], "검증할 파일(또는 폴더)을 하나 이상 적어 주세요. 예: coop-batch validate 주간실적.xlsx"),
        (["--format", "xml", "{file}"], "'--format' 값 'xml'은(는) 고를 수 없는 값입니다. table, json 중 하나를 적어 주세요."),
        (["--year", "열여섯", "{file}"], "'--year' 값 '열여섯'은(는) 연도가 아닙니다. 2016처럼 숫자로 적어 주세요."),
        (["--yaer", "2016", "{file}"], "'--yaer'은(는) 'coop-batch validate'에 없는 옵션입니다. 혹시 '--year'을(를)"),
        (["{file}", "--format"], "'--format' 뒤에 값을 적어 주세요. 예: --format json"),
    ],
)
def test_usage_errors_say_in_korean_how_to_fix_them(args, says, filled):
    result = run(*[a.replace("{file}", str(filled["weekly"])) for a in args])
    assert_korean_usage_error(result, says, "적는 법은 'coop-batch validate --help'로 볼 수 있습니다.")


def test_an_unknown_command_is_named_in_korean_with_the_commands_there_are():
    result = CliRunner().invoke(cli, ["valdate", "주간실적.xlsx"])
    assert_korean_usage_error(
        result, "'valdate'은(는) 'coop-batch'에 없는 명령입니다. 혹시 'validate'을(를) 적으려던 것인가요?",
        "쓸 수 있는 명령: ", "run", "적는 법은 'coop-batch --help'로 볼 수 있습니다.",
    )


def test_the_console_script_prints_usage_errors_in_korean_on_a_cp949_console(filled):
    """The real entry point (prog name, `leave_now`), its stderr encoded as a Korean Windows console's."""
    done = subprocess.run(
        [sys.executable, "-m", "coop_batch", "validate", "--year", "열여섯", str(filled["weekly"])],
        capture_output=True, timeout=120, env={**os.environ, "PYTHONIOENCODING": "cp949"},
    )
    err = done.stderr.decode("cp949")
    assert done.returncode == 2, err
    assert err == "'--year' 값 '열여섯'은 연도가 아닙니다. 2016처럼 숫자로 적어 주세요.\n" \
                  "적는 법은 'coop-batch validate --help'로 볼 수 있습니다.\n"


# --- a folder: its .xlsx files, recursively, sorted; Excel's owner files and hidden files left out ---


def test_a_folder_validates_the_xlsx_files_in_it(filled, bad_weekly, tmp_path):
    junk = b"not a workbook"  # an error if it were validated
    (tmp_path / "~$주간실적.xlsx").write_bytes(junk)  # Excel's owner file of an open workbook
    (tmp_path / ".숨김.xlsx").write_bytes(junk)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "숨김폴더.xlsx").write_bytes(junk)
    (tmp_path / "bad" / "메모.hwp").write_bytes(junk)
    (tmp_path / "반려사유.txt").write_text("반려", encoding="utf-8")

    result = run(str(tmp_path))
    assert result.exit_code == 1, result.output  # bad/주간실적.xlsx has errors
    shown = [line.split(" (서식")[0].removeprefix("파일: ") for line in result.output.splitlines()
             if line.startswith("파일: ")]
    expected = sorted([filled[k.id] for k in KINDS] + [bad_weekly], key=lambda p: str(p.relative_to(tmp_path)))
    assert shown == [str(p) for p in expected]
    assert "~$" not in result.output and "숨김" not in result.output and "반려사유" not in result.output
    assert "엑셀(.xlsx)이 아니어서 검증하지 않은 파일 1개: " + str(tmp_path / "bad" / "메모.hwp") in result.output

    as_json = run("--format", "json", str(tmp_path), str(filled["weekly"]))  # a file named twice is shown once
    assert [f["file"] for f in json.loads(as_json.stdout)] == [str(p) for p in expected]


def test_a_folder_without_xlsx_files_is_a_korean_usage_error(tmp_path):
    folder = tmp_path / "제출 폴더(inbox)"
    folder.mkdir()
    (folder / "~$주간실적.xlsx").write_bytes(b"owner")
    (folder / "주간실적.xls").write_bytes(b"old")
    result = run(str(folder))
    assert_korean_usage_error(
        result, f"폴더에 검증할 엑셀(.xlsx) 파일이 없습니다: {folder}. 하위 폴더까지 찾았고 '~$'로 시작하는 임시 파일과 "
        "숨김 파일은 뺐습니다. 폴더가 맞는지 확인하거나 파일 이름을 직접 적어 주세요.",
    )
