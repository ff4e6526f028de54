"""`--help` is Korean and fits the console: click's frame words translated, lines measured in the
columns a Hangul syllable really takes (two)."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from coop_batch import __version__
from coop_batch.cli import cli
from coop_batch.cli_help import shorten, width, wrap

COMMANDS = [[], ["run"], ["validate"], ["templates"], ["init"], ["demo"], ["doctor"], ["status"], ["mail"],
            ["schedule"], ["schedule", "windows"], ["schedule", "cron"]]
ENGLISH = ("Usage:", "Options:", "Commands:", "Show this message", "Show the version", "[default:", "required]",
           "[OPTIONS]", "COMMAND [ARGS]", "DIRECTORY", "INTEGER", "TEXT", "FILES", "%Y-%m-%d")


def _help(args: list[str], columns: int) -> str:
    result = CliRunner().invoke(cli, [*args, "--help"], env={"COLUMNS": str(columns)},
                                 terminal_width=columns, prog_name="coop-batch")
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "coop-batch")
def test_help_is_korean_and_fits_80_columns(args: list[str]) -> None:
    text = _help(args, 80)
    assert text.startswith(f"사용법: {' '.join(['coop-batch', *args])} [옵션]")
    assert "\n옵션:\n" in text and "이 도움말을 보여 주고 끝냅니다." in text
    assert not [word for word in ENGLISH if word in text]
    too_wide = [line for line in text.splitlines() if width(line) > 80]
    assert not too_wide


def test_option_help_lines_up_and_defaults_are_korean() -> None:
    text = _help(["schedule", "windows"], 80)
    options = text.split("\n옵션:\n")[1].splitlines()
    starts = set()
    for line in options:
        if line.startswith("   "):  # a help text's second line
            continue
        term, gap, rest = re.match(r"^(  \S.*?)(  +)(\S.*)$", line).groups()  # a term, then its help
        starts.add(width(term) + len(gap))
    assert len(starts) == 1  # every help starts in the same console column, Hangul metavars or not
    assert "[기본값: .]" in text and "[기본값: password]" in text
    assert "-w, --workspace 폴더" in text and "--time HH:MM" in text and "--out 파일" in text
    assert "사용법: coop-batch validate [옵션] 파일..." in _help(["validate"], 80)
    assert "사용법: coop-batch init [옵션] [폴더]" in _help(["init"], 80)
    assert "--as-of YYYY-MM-DD" in _help(["status"], 80)
    assert "--year 연도" in _help(["templates"], 80)


def test_group_help_lists_commands_in_korean_cut_to_the_console() -> None:
    narrow, wide, narrower = _help([], 80), _help([], 120), _help([], 60)
    assert "사용법: coop-batch [옵션] 명령 [인자]..." in narrow and "\n명령:\n" in narrow
    commands = narrow.split("\n명령:\n")[1].splitlines()
    assert len(commands) == 9 and not [line for line in commands if line.endswith("...")]  # whole on 80 columns
    run_line = next(line for line in wide.splitlines() if line.startswith("  run "))
    assert run_line.endswith("메일).")
    assert all(width(line) <= 120 for line in wide.splitlines())
    assert "  run        야간 배치를 한 번 실행합니다(검증·보관·통..." in narrower  # cut by console columns
    assert all(width(line) <= 60 for line in narrower.split("\n명령:\n")[1].splitlines())


def test_version_is_korean() -> None:
    result = CliRunner().invoke(cli, ["--version"], prog_name="coop-batch")
    assert result.exit_code == 0
    assert result.output.strip() == f"coop-batch 버전 {__version__}"


def test_width_counts_hangul_as_two_columns() -> None:
    assert width("abc") == 3
    assert width("사용법") == 6
    assert width("[기본값: .]") == 11
    assert shorten("가나다라마바", 8) == "가나..."
    assert shorten("가나다", 6) == "가나다"


@given(st.lists(st.text(alphabet="가나다abc·(", min_size=1, max_size=15), max_size=30), st.integers(4, 60))
def test_wrap_keeps_every_word_within_the_columns(words: list[str], columns: int) -> None:
    text = " ".join(words)
    lines = wrap(text, columns)
    assert all(width(line) <= columns for line in lines)
    assert "".join("".join(lines).split()) == "".join(text.split())  # nothing lost, nothing added
    if all(width(word) <= columns for word in words):
        assert [w for line in lines for w in line.split()] == text.split()  # words broken only when too long
